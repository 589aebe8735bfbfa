//! fail2ban-client's command line, parsed as its `getopt` does against the option table
//! (`options::OPTIONS`): options first, then the command words, which are left as they are.

use std::path::PathBuf;

use super::options::{Effect, OPTIONS};

/// Why a command line is refused; printed before the usage text.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum ArgsError {
    #[error("unknown option {0}")]
    Unknown(String),
    #[error("option {0} needs a value")]
    NeedsValue(String),
    #[error("option {0} takes no value")]
    TakesNoValue(String),
    #[error("bad timeout {0:?}")]
    BadTimeout(String),
}

/// The client's settings, as the options and the command words left them.
#[derive(Debug, Default)]
pub(super) struct ClientArgs {
    pub config: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub json: bool,
    pub test: bool,
    pub dump: bool,
    pub timeout: Option<f64>,
    pub words: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug)]
pub(super) enum Parsed {
    Run(ClientArgs),
    Help,
    /// `-V` (true: the number alone) or `--version`.
    Version {
        short: bool,
    },
}

/// Parses fail2ban-client's command line the way its `getopt` does: short flags may be
/// grouped (`-xf`), a short option's value may be attached (`-c/etc/ferroban`), a long
/// option's may follow `=`; the first word that is no option starts the command, and
/// everything after it (dashes included) belongs to the command.
pub(super) fn parse_args(args: &[String]) -> Result<Parsed, ArgsError> {
    let mut parsed = ClientArgs::default();
    let mut at = 0;
    while let Some(arg) = args.get(at) {
        at += 1;
        if arg == "--" {
            parsed.words.extend(args[at..].iter().cloned());
            break;
        }
        let uses = if let Some(long) = arg.strip_prefix("--") {
            parse_long(long, args, &mut at)?
        } else if arg.len() > 1 && arg.starts_with('-') {
            parse_short_group(&arg[1..], args, &mut at)?
        } else {
            parsed.words.extend(args[at - 1..].iter().cloned());
            break;
        };
        for (effect, value) in uses {
            if let Some(done) = apply(&mut parsed, effect, value)? {
                return Ok(done);
            }
        }
    }
    Ok(Parsed::Run(parsed))
}

type Use = (Effect, Option<String>);

fn parse_long(text: &str, args: &[String], at: &mut usize) -> Result<Vec<Use>, ArgsError> {
    let (name, attached) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (text, None),
    };
    let option = OPTIONS
        .iter()
        .find(|o| o.long == Some(name))
        .ok_or_else(|| ArgsError::Unknown(format!("--{name}")))?;
    let value = match (option.value, attached) {
        (None, Some(_)) => return Err(ArgsError::TakesNoValue(format!("--{name}"))),
        (None, None) => None,
        (Some(_), Some(value)) => Some(value),
        (Some(_), None) => Some(next_value(args, at, &format!("--{name}"))?),
    };
    Ok(vec![(option.effect, value)])
}

fn parse_short_group(group: &str, args: &[String], at: &mut usize) -> Result<Vec<Use>, ArgsError> {
    let mut uses = Vec::new();
    for (index, letter) in group.char_indices() {
        let option = OPTIONS
            .iter()
            .find(|o| o.short == Some(letter))
            .ok_or_else(|| ArgsError::Unknown(format!("-{letter}")))?;
        if option.value.is_none() {
            uses.push((option.effect, None));
            continue;
        }
        let rest = &group[index + letter.len_utf8()..];
        let value = if rest.is_empty() {
            next_value(args, at, &format!("-{letter}"))?
        } else {
            rest.to_string()
        };
        uses.push((option.effect, Some(value)));
        break;
    }
    Ok(uses)
}

fn next_value(args: &[String], at: &mut usize, name: &str) -> Result<String, ArgsError> {
    let value = args
        .get(*at)
        .cloned()
        .ok_or_else(|| ArgsError::NeedsValue(name.to_string()))?;
    *at += 1;
    Ok(value)
}

/// Applies one option; `Some` when it ends parsing (`--help`, `--version`).
fn apply(
    parsed: &mut ClientArgs,
    effect: Effect,
    value: Option<String>,
) -> Result<Option<Parsed>, ArgsError> {
    let value = value.unwrap_or_default();
    match effect {
        Effect::Config => parsed.config = Some(PathBuf::from(value)),
        Effect::Socket => parsed.socket = Some(PathBuf::from(value)),
        Effect::Pidfile => parsed.pidfile = Some(PathBuf::from(value)),
        Effect::Timeout => {
            let seconds = value
                .parse()
                .map_err(|_| ArgsError::BadTimeout(value.clone()))?;
            parsed.timeout = Some(seconds);
        }
        Effect::Json => parsed.json = true,
        Effect::Test => parsed.test = true,
        Effect::Dump => parsed.dump = true,
        Effect::Ignored => {}
        Effect::Help => return Ok(Some(Parsed::Help)),
        Effect::Version => return Ok(Some(Parsed::Version { short: false })),
        Effect::ShortVersion => return Ok(Some(Parsed::Version { short: true })),
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn run_args(line: &str) -> ClientArgs {
        match parse_args(&words(line)).unwrap() {
            Parsed::Run(args) => args,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn options_then_command_words() {
        let args = run_args("-s /tmp/x.sock --json status sshd");
        assert_eq!(args.socket, Some(PathBuf::from("/tmp/x.sock")));
        assert!(args.json);
        assert_eq!(args.words, words("status sshd"));
    }

    #[test]
    fn dashes_after_the_command_belong_to_it() {
        let args = run_args("get sshd banip --with-time");
        assert_eq!(args.words, words("get sshd banip --with-time"));
    }

    #[test]
    fn unknown_option_is_an_error() {
        assert!(parse_args(&words("--bogus ping")).is_err());
        assert!(parse_args(&words("-s")).is_err());
        assert!(parse_args(&words("--json=yes ping")).is_err());
    }

    /// `fail2ban-client -xf start` and `-vv` are how fail2ban's own docs call it.
    #[test]
    fn grouped_short_flags_and_attached_values() {
        let args = run_args("-xf -vv -c/etc/ferroban --socket=/tmp/s start");
        assert_eq!(args.config, Some(PathBuf::from("/etc/ferroban")));
        assert_eq!(args.socket, Some(PathBuf::from("/tmp/s")));
        assert_eq!(args.words, words("start"));
        let args = run_args("-tc /tmp/conf");
        assert!(args.test);
        assert_eq!(args.config, Some(PathBuf::from("/tmp/conf")));
    }

    /// The documentation is built from the table: every option in it must parse.
    #[test]
    fn every_documented_option_parses() {
        for option in OPTIONS {
            let value: Vec<String> = option.value.map(|_| "1".to_string()).into_iter().collect();
            let names = option
                .short
                .map(|s| format!("-{s}"))
                .into_iter()
                .chain(option.long.map(|l| format!("--{l}")));
            for name in names {
                let mut line = vec![name.clone()];
                line.extend(value.iter().cloned());
                line.push("ping".to_string());
                assert!(parse_args(&line).is_ok(), "{name} does not parse");
            }
        }
    }
}
