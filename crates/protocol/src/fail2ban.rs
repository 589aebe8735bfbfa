//! fail2ban's own socket dialect (`client/csocket.py`, `server/asyncserver.py`).
//!
//! A client sends a pickled list of arguments (`['status', 'sshd']`) followed by
//! [`END_COMMAND`], as many times as it likes on one connection, and ends with
//! [`CLOSE_COMMAND`] + [`END_COMMAND`]. Each command is answered by a pickled
//! `(0, result)` or `(1, exception)`, followed by [`END_COMMAND`].
//!
//! Here: the markers, how a connection's first byte tells this dialect from ferroban's JSON
//! ([`starts_pickle`]), the argument list turned into a typed [`Command`] ([`command`]), and a
//! reply framed for the wire ([`reply`]). What a reply contains is the server's business.

use crate::pickle::{self, Value};
use crate::{Command, ParseError};

/// Ends every message, in both directions.
pub const END_COMMAND: &[u8] = b"<F2B_END_COMMAND>";

/// A message that closes the connection.
pub const CLOSE_COMMAND: &[u8] = b"<F2B_CLOSE_COMMAND>";

/// Whether a connection whose first byte is `first` speaks fail2ban's dialect.
///
/// ferroban's own client sends a JSON object, so its first byte is always `{`. A pickle of
/// protocol 2 or later starts with `PROTO` (`0x80`); fail2ban's clients send protocol 2 (Go
/// libraries, Python 2) to 5 (Python 3.8+). An older client's list starts with `MARK` (`(`,
/// protocol 0) or `EMPTY_LIST` (`]`, protocol 1). Neither can begin JSON, so one byte decides,
/// and anything else stays with the JSON reader, which answers garbage as it always did.
pub fn starts_pickle(first: u8) -> bool {
    matches!(first, 0x80 | b'(' | b']')
}

/// A message that is not a command ferroban can run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgsError {
    #[error("{0}")]
    Decode(#[from] pickle::DecodeError),
    #[error("a command is a list of arguments")]
    NotAList,
    /// The words, for the server to answer as fail2ban would.
    #[error("{error}")]
    Command {
        words: Vec<String>,
        error: ParseError,
    },
}

/// Decodes one message (without its [`END_COMMAND`]) into a command.
pub fn command(message: &[u8]) -> Result<Command, ArgsError> {
    let args = match pickle::decode(message)? {
        Value::List(args) | Value::Tuple(args) => args,
        _ => return Err(ArgsError::NotAList),
    };
    let words = words(&args).ok_or(ArgsError::NotAList)?;
    if words.first().map(String::as_str) == Some("ping") {
        // fail2ban-client sends its timeout along (`['ping', 0.1]`); the server ignores it.
        return Ok(Command::Ping);
    }
    Command::parse(&words).map_err(|error| ArgsError::Command { words, error })
}

/// The arguments as words, as fail2ban's transmitter reads them.
///
/// The one nested form is fail2ban-client's `reload`: `['reload', JAIL|'--all', [OPTION...],
/// [COMMAND...]]`, where the commands are the client's reading of the configuration.
/// ferroban reads its configuration itself, so that stream is dropped and the rest becomes
/// `reload [OPTION...] JAIL`.
fn words(args: &[Value]) -> Option<Vec<String>> {
    if let [
        Value::Str(reload),
        Value::Str(jail),
        Value::List(options),
        Value::List(_),
    ] = args
        && reload == "reload"
    {
        let mut words = vec![reload.clone()];
        words.extend(options.iter().map(word).collect::<Option<Vec<_>>>()?);
        words.push(jail.clone());
        return Some(words);
    }
    args.iter().map(word).collect()
}

/// A scalar as Python's `str()` writes it.
fn word(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(text.clone()),
        Value::Int(number) => Some(number.to_string()),
        Value::Float(number) => Some(format!("{number:?}")),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        _ => None,
    }
}

/// A reply on the wire: `(0, value)` or `(1, exception)`, pickled, then [`END_COMMAND`].
pub fn reply(result: Result<Value, Value>) -> Vec<u8> {
    let (code, value) = match result {
        Ok(value) => (0, value),
        Err(exception) => (1, exception),
    };
    let mut bytes = pickle::encode(&Value::Tuple(vec![Value::Int(code), value]));
    bytes.extend_from_slice(END_COMMAND);
    bytes
}

/// `module.class(message)`, an exception as fail2ban's server sends it.
pub fn exception(module: &str, class: &str, message: impl Into<String>) -> Value {
    Value::Exception {
        module: module.into(),
        class: class.into(),
        args: vec![Value::Str(message.into())],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(args: Vec<Value>) -> Vec<u8> {
        pickle::encode(&Value::List(args))
    }

    fn strs(words: &[&str]) -> Vec<Value> {
        words.iter().map(|w| Value::str(*w)).collect()
    }

    #[test]
    fn first_byte_decides_the_dialect() {
        assert!(starts_pickle(0x80) && starts_pickle(b'(') && starts_pickle(b']'));
        assert!(!starts_pickle(b'{') && !starts_pickle(0xff));
    }

    #[test]
    fn argument_lists_become_commands() {
        let status = command(&message(strs(&["status", "sshd"]))).unwrap();
        assert_eq!(
            status,
            Command::StatusJail {
                jail: "sshd".into(),
                short: false
            }
        );
        // fail2ban-client's ping carries its timeout as a float.
        let ping = message(vec![Value::str("ping"), Value::Float(0.1)]);
        assert_eq!(command(&ping).unwrap(), Command::Ping);
        // Python 3.11's `pickle.dumps(['set', 'sshd', 'banip', '192.0.2.1'], 5)`.
        let python = b"\x80\x05\x95\x26\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x03set\x94\x8c\x04sshd\x94\x8c\x05banip\x94\x8c\t192.0.2.1\x94e.";
        assert_eq!(
            command(python).unwrap(),
            Command::BanIp {
                jail: "sshd".into(),
                ids: vec!["192.0.2.1".into()]
            }
        );
    }

    #[test]
    fn reload_drops_the_clients_configuration_stream() {
        let stream = Value::List(vec![Value::List(strs(&["start", "sshd"]))]);
        let all = message(vec![
            Value::str("reload"),
            Value::str("--all"),
            Value::List(strs(&["--unban"])),
            stream.clone(),
        ]);
        assert_eq!(
            command(&all).unwrap(),
            Command::Reload {
                jail: None,
                unban: true,
                restart: false
            }
        );
        let one = message(vec![
            Value::str("reload"),
            Value::str("sshd"),
            Value::List(Vec::new()),
            stream,
        ]);
        assert_eq!(command(&one).unwrap().jail(), Some("sshd"));
    }

    #[test]
    fn what_is_not_a_command_says_why() {
        assert_eq!(
            command(&pickle::encode(&Value::str("ping"))),
            Err(ArgsError::NotAList)
        );
        let nested = message(vec![Value::str("status"), Value::List(Vec::new())]);
        assert_eq!(command(&nested), Err(ArgsError::NotAList));
        assert!(matches!(
            command(&message(strs(&["frobnicate"]))),
            Err(ArgsError::Command { .. })
        ));
        assert!(matches!(command(b"\x80\x04"), Err(ArgsError::Decode(_))));
    }

    #[test]
    fn replies_are_framed_tuples() {
        let bytes = reply(Ok(Value::str("pong")));
        let body = bytes.strip_suffix(END_COMMAND).unwrap();
        assert_eq!(
            pickle::decode(body).unwrap(),
            Value::Tuple(vec![Value::Int(0), Value::str("pong")])
        );
        let error = reply(Err(exception("builtins", "Exception", "Invalid command")));
        assert!(error.ends_with(END_COMMAND));
        assert!(error.starts_with(b"\x80\x02K\x01cbuiltins\nException\n"));
    }
}
