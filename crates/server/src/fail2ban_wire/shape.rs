//! ferroban's replies in the shapes fail2ban's server sends (`server/server.py`,
//! `transmitter.py`, the `status` methods of `jail.py`, `filter.py`, `filtersystemd.py` and
//! `actions.py`), so that fail2ban-client prints exactly what it prints against fail2ban,
//! and tools that index into a reply (`status[1][1][0][1]`) find what they expect there.

use ferroban_protocol::fail2ban::{ArgsError, exception};
use ferroban_protocol::pickle::Value;
use ferroban_protocol::{
    BanTimeEntry, ClusterStatusReply, Command, GetKey, JailStatusReply, ParseError, Reply,
};

use crate::control::{Answer, ControlError};

/// The command as `control::execute` should run it: `get JAIL banip SEPARATOR` answers a
/// list, which fail2ban-client joins itself.
pub(super) fn as_executed(command: &Command) -> Command {
    match command {
        Command::GetBanIp {
            jail,
            with_time,
            separator: Some(_),
        } => Command::GetBanIp {
            jail: jail.clone(),
            with_time: *with_time,
            separator: None,
        },
        other => other.clone(),
    }
}

/// An answer as the result fail2ban's transmitter sends: `(0, value)` or `(1, exception)`,
/// the exception of fail2ban's class where its client tells them apart.
pub(super) fn result(command: &Command, answer: Answer) -> Result<Value, Value> {
    match answer {
        Ok(reply) => Ok(value(command, reply)),
        Err(ControlError::UnknownJail(name)) => Err(unknown_jail(&name)),
        Err(other) => Err(error(other.to_string())),
    }
}

/// `Exception(message)`: fail2ban-client prints its message.
pub(super) fn error(message: impl Into<String>) -> Value {
    exception("builtins", "Exception", message)
}

/// fail2ban's `UnknownJailException(name)`, which its client recognises by class.
pub(super) fn unknown_jail(name: &str) -> Value {
    exception("fail2ban.exceptions", "UnknownJailException", name)
}

/// A message that is not a command, answered with the exception fail2ban raises for it.
///
/// A pickle that is refused gets an `Exception` naming why, like any other error (fail2ban
/// itself answers an unloadable message with a bare string, which its own client cannot
/// print). Commands ferroban does not know get fail2ban's words for a command it does not
/// know, so that fail2ban-client prints the same thing: `Invalid command`, its `set` and
/// `get` variants, and `IndexError` (printed "Sorry but the command is invalid") where
/// fail2ban runs out of arguments.
pub(super) fn args_error(error: &ArgsError) -> Value {
    match error {
        ArgsError::Decode(error) => self::error(format!("cannot load the message: {error}")),
        ArgsError::NotAList => self::error("Invalid command"),
        ArgsError::Command { words, error } => invalid_command(words, error),
    }
}

fn invalid_command(words: &[String], parse_error: &ParseError) -> Value {
    let index_error = || exception("builtins", "IndexError", "list index out of range");
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match (parse_error, words.as_slice()) {
        (ParseError::Empty, _)
        | (_, ["set"] | ["set", _] | ["get"] | ["get", _])
        | (ParseError::MissingArgument { .. }, ["set", ..]) => index_error(),
        (_, ["set", _, action, ..]) => error(format!(
            "Invalid command {} (no set action or not yet implemented)",
            python_repr(action)
        )),
        (_, ["get", _, ..]) => error("Invalid command (no get action or not yet implemented)"),
        _ => error("Invalid command"),
    }
}

/// Python's `repr` of a string, as `%r` writes it.
fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn str_list(items: Vec<String>) -> Value {
    Value::List(items.into_iter().map(Value::Str).collect())
}

fn int(number: u64) -> Value {
    Value::Int(i64::try_from(number).unwrap_or(i64::MAX))
}

fn pair(key: &str, value: Value) -> Value {
    Value::Tuple(vec![Value::str(key), value])
}

/// A reply as the value fail2ban's server returns for the command.
fn value(command: &Command, reply: Reply) -> Value {
    match reply {
        Reply::None => Value::None,
        Reply::Text(text) => match command.shown_key() {
            // fail2ban answers `get|set JAIL ignoreself` with a bool.
            Some(GetKey::Ignoreself) => Value::Bool(text == "True"),
            // ... and `ignorecommand` with `False` when there is none.
            Some(GetKey::Ignorecommand) if text.is_empty() => Value::Bool(false),
            // `set JAIL idle` answers the jail's idle flag.
            _ if matches!(command, Command::SetIdle { .. }) => Value::Bool(text == "True"),
            _ => Value::Str(text),
        },
        Reply::Number(number) => Value::Int(number),
        Reply::Bool(flag) => Value::Bool(flag),
        Reply::Numbers(numbers) => Value::List(numbers.into_iter().map(Value::Int).collect()),
        Reply::IgnoreCache {
            key,
            max_count,
            max_time,
        } => Value::List(vec![Value::Str(key), int(max_count), Value::Int(max_time)]),
        Reply::List(items) => match command.shown_key() {
            // fail2ban keeps each journal match as its list of words.
            Some(GetKey::Journalmatch) => Value::List(
                items
                    .iter()
                    .map(|line| str_list(line.split_whitespace().map(String::from).collect()))
                    .collect(),
            ),
            _ => str_list(items),
        },
        Reply::Status { jails } => status(jails),
        Reply::JailStatus(status) => {
            let short = matches!(command, Command::StatusJail { short: true, .. });
            jail_status(status, short)
        }
        Reply::BanTimes(entries) => Value::List(entries.iter().map(ban_time).collect()),
        Reply::BannedByJail(by_jail) => Value::List(
            by_jail
                .into_iter()
                .map(|(jail, ids)| Value::Dict(vec![(Value::Str(jail), str_list(ids))]))
                .collect(),
        ),
        Reply::JailsOfIds(per_id) => Value::List(per_id.into_iter().map(str_list).collect()),
        Reply::DatePattern { pattern, name } => Value::Tuple(vec![
            pattern.map_or(Value::None, Value::Str),
            Value::Str(name),
        ]),
        Reply::ClusterStatus(status) => cluster_status(status),
    }
}

/// `cluster status` (ferroban's own; fail2ban has none): `(name, value)` pairs as
/// `status JAIL` has them.
fn cluster_status(status: ClusterStatusReply) -> Value {
    let nodes = status.nodes.into_iter().map(|node| node.name).collect();
    Value::List(vec![
        pair("Node", Value::Str(status.node)),
        pair("Database", Value::Str(status.database)),
        pair("Connected", Value::Bool(status.connected)),
        pair("Last event id", Value::Int(status.last_event)),
        pair("Applied up to", Value::Int(status.applied)),
        pair("Outbox", Value::Int(status.outbox)),
        pair("Nodes", str_list(nodes)),
    ])
}

/// `status`: `[("Number of jail", n), ("Jail list", "a, b")]`, names sorted.
fn status(mut jails: Vec<String>) -> Value {
    jails.sort();
    Value::List(vec![
        pair("Number of jail", int(jails.len() as u64)),
        pair("Jail list", Value::Str(jails.join(", "))),
    ])
}

/// `status JAIL`: the filter's and the actions' lists of `(name, value)` pairs; `short`
/// leaves out the banned addresses, as fail2ban's `short` flavour does.
fn jail_status(status: JailStatusReply, short: bool) -> Value {
    let source = match status.journal_matches {
        // `filtersystemd.py`: one string, the matches joined by " + ".
        Some(matches) => pair(
            "Journal matches",
            Value::List(vec![Value::Str(matches.join(" + "))]),
        ),
        None => pair("File list", str_list(status.files)),
    };
    let filter = Value::List(vec![
        pair("Currently failed", int(status.currently_failed)),
        pair("Total failed", int(status.total_failed)),
        source,
    ]);
    let mut actions = vec![
        pair("Currently banned", int(status.currently_banned)),
        pair("Total banned", int(status.total_banned)),
    ];
    if !short {
        actions.push(pair("Banned IP list", str_list(status.banned)));
    }
    let actions = Value::List(actions);
    Value::List(vec![pair("Filter", filter), pair("Actions", actions)])
}

/// `get JAIL banip --with-time`: `banmanager.py`'s `'%s \t%s + %d = %s'`; a permanent ban
/// ends at fail2ban's `MAX_TIME`, which it prints as the end of year 9999.
fn ban_time(entry: &BanTimeEntry) -> Value {
    let end = entry
        .end
        .map_or_else(|| "9999-12-31 23:59:59".to_string(), local_time);
    Value::Str(format!(
        "{} \t{} + {} = {end}",
        entry.id,
        local_time(entry.time),
        entry.ban_time
    ))
}

/// `MyTime.time2str`: local time, to the second.
fn local_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| seconds.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Command {
        let words: Vec<&str> = line.split_whitespace().collect();
        Command::parse(&words).unwrap()
    }

    #[test]
    fn jail_status_has_fail2ban_positions() {
        let reply = Reply::JailStatus(JailStatusReply {
            jail: "sshd".into(),
            currently_failed: 1,
            total_failed: 5,
            files: vec!["/var/log/auth.log".into()],
            journal_matches: None,
            currently_banned: 1,
            total_banned: 2,
            banned: vec!["192.0.2.1".into()],
        });
        let Value::List(sections) = value(&parse("status sshd"), reply) else {
            panic!("not a list");
        };
        // What the Go exporter reads: status[1][1][0][1] is "Currently banned".
        let Value::Tuple(actions) = &sections[1] else {
            panic!()
        };
        assert_eq!(actions[0], Value::str("Actions"));
        let Value::List(items) = &actions[1] else {
            panic!()
        };
        assert_eq!(items[0], pair("Currently banned", Value::Int(1)));
        assert_eq!(
            items[2],
            pair("Banned IP list", str_list(vec!["192.0.2.1".into()]))
        );
    }

    #[test]
    fn journal_jails_show_their_matches_as_one_string() {
        let status = JailStatusReply {
            jail: "sshd".into(),
            currently_failed: 0,
            total_failed: 0,
            files: Vec::new(),
            journal_matches: Some(vec![
                "_SYSTEMD_UNIT=sshd.service".into(),
                "_COMM=sshd".into(),
            ]),
            currently_banned: 0,
            total_banned: 0,
            banned: Vec::new(),
        };
        let Value::List(sections) = jail_status(status, false) else {
            panic!()
        };
        let Value::Tuple(filter) = &sections[0] else {
            panic!()
        };
        let Value::List(items) = &filter[1] else {
            panic!()
        };
        assert_eq!(
            items[2],
            pair(
                "Journal matches",
                str_list(vec!["_SYSTEMD_UNIT=sshd.service + _COMM=sshd".into()])
            )
        );
    }

    #[test]
    fn status_sorts_and_joins_jail_names() {
        let reply = status(vec!["sshd".into(), "dovecot".into()]);
        assert_eq!(
            reply,
            Value::List(vec![
                pair("Number of jail", Value::Int(2)),
                pair("Jail list", Value::str("dovecot, sshd")),
            ])
        );
    }

    #[test]
    fn typed_values_where_fail2ban_has_them() {
        let ignoreself = value(&parse("get sshd ignoreself"), Reply::Text("False".into()));
        assert_eq!(ignoreself, Value::Bool(false));
        let banned = value(
            &parse("banned"),
            Reply::BannedByJail(vec![("sshd".into(), vec!["192.0.2.1".into()])]),
        );
        assert_eq!(
            banned,
            Value::List(vec![Value::Dict(vec![(
                Value::str("sshd"),
                str_list(vec!["192.0.2.1".into()])
            )])])
        );
        assert_eq!(
            as_executed(&parse("get sshd banip ,")),
            parse("get sshd banip")
        );
    }

    #[test]
    fn unknown_commands_get_fail2ban_exceptions() {
        let error_of = |line: &str| {
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            let error = Command::parse(&words).unwrap_err();
            args_error(&ArgsError::Command { words, error })
        };
        assert_eq!(error_of("frobnicate"), error("Invalid command"));
        assert_eq!(
            error_of("set sshd bogus x"),
            error("Invalid command 'bogus' (no set action or not yet implemented)")
        );
        assert_eq!(
            error_of("set sshd"),
            exception("builtins", "IndexError", "list index out of range")
        );
        assert_eq!(
            error_of("get sshd bogus"),
            error("Invalid command (no get action or not yet implemented)")
        );
        assert_eq!(python_repr("it's"), "\"it's\"");
    }
}
