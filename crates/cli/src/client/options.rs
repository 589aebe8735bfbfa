//! fail2ban-client's options, in one table read three ways: by the parser (options come
//! first, then the command words, so clap cannot parse them), by `--help`, and by the clap
//! command that the man page and the shell completions are generated from. Whatever the
//! parser accepts is therefore what the documentation lists.

use std::path::PathBuf;

use clap::{Arg, ArgAction};

/// What an option does to the client's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Config,
    Socket,
    Pidfile,
    Timeout,
    Json,
    Test,
    Dump,
    Help,
    Version,
    /// fail2ban-client's options for the server it starts, or for its verbosity: accepted
    /// so that scripts written for fail2ban-client run unchanged.
    Ignored,
}

/// One option: `-short`, `--long`, or both; `value` names its argument when it takes one.
#[derive(Debug)]
pub(super) struct ClientOption {
    pub short: Option<char>,
    pub long: Option<&'static str>,
    pub value: Option<&'static str>,
    pub effect: Effect,
    pub help: &'static str,
}

const fn option(
    short: Option<char>,
    long: Option<&'static str>,
    value: Option<&'static str>,
    effect: Effect,
    help: &'static str,
) -> ClientOption {
    ClientOption {
        short,
        long,
        value,
        effect,
        help,
    }
}

pub(super) const OPTIONS: &[ClientOption] = &[
    option(
        Some('c'),
        Some("conf"),
        Some("DIR"),
        Effect::Config,
        crate::conf_dir::HELP,
    ),
    option(
        Some('s'),
        Some("socket"),
        Some("FILE"),
        Effect::Socket,
        "socket path (default: `socket` from fail2ban.conf)",
    ),
    option(
        Some('p'),
        Some("pidfile"),
        Some("FILE"),
        Effect::Pidfile,
        "pidfile path (default: `pidfile` from fail2ban.conf)",
    ),
    option(
        None,
        Some("json"),
        None,
        Effect::Json,
        "print replies as JSON",
    ),
    option(
        Some('t'),
        Some("test"),
        None,
        Effect::Test,
        "test configuration (can be also specified with start parameters)",
    ),
    option(
        Some('d'),
        None,
        None,
        Effect::Dump,
        "dump configuration. For debugging",
    ),
    option(
        None,
        Some("dp"),
        None,
        Effect::Dump,
        "dump configuration (same as -d)",
    ),
    option(
        None,
        Some("dump-pretty"),
        None,
        Effect::Dump,
        "dump configuration (same as -d)",
    ),
    option(
        None,
        Some("timeout"),
        Some("SECONDS"),
        Effect::Timeout,
        "how long to wait for the server (default 60)",
    ),
    option(
        None,
        Some("loglevel"),
        Some("LEVEL"),
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        None,
        Some("logtarget"),
        Some("TARGET"),
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        None,
        Some("syslogsocket"),
        Some("FILE"),
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        None,
        Some("pname"),
        Some("NAME"),
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        Some('q'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        Some('v'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        Some('x'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility (`start` always removes a stale socket)",
    ),
    option(
        Some('f'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        Some('b'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility (`start` runs the server in the background)",
    ),
    option(
        Some('i'),
        None,
        None,
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        None,
        Some("async"),
        None,
        Effect::Ignored,
        "accepted for compatibility",
    ),
    option(
        Some('h'),
        Some("help"),
        None,
        Effect::Help,
        "display this help message",
    ),
    option(
        Some('V'),
        Some("version"),
        None,
        Effect::Version,
        "print the version",
    ),
];

/// fail2ban-client's commands that ferroban's server answers: (syntax, what it does).
pub const COMMANDS: &[(&str, &str)] = &[
    ("start", "starts the server and the jails"),
    ("reload [--unban] [JAIL]", "reloads the configuration"),
    ("stop", "stops all jails and terminate the server"),
    ("flushlogs", "reopens the log file (after logrotate)"),
    (
        "status [JAIL]",
        "gets the current status of the server or a jail",
    ),
    ("ping", "tests if the server is alive"),
    ("unban --all | IP ...", "unbans IPs in all jails"),
    ("banned [IP ...]", "which jails ban the IPs"),
    ("set JAIL banip IP ...", "bans IPs in JAIL"),
    (
        "set JAIL unbanip [--report-absent] IP ..",
        "unbans IPs in JAIL",
    ),
    (
        "set JAIL addignoreip|delignoreip IP",
        "changes the ignore list of JAIL",
    ),
    ("get JAIL banip [--with-time]", "the banned IPs of JAIL"),
    (
        "get JAIL bantime|findtime|maxretry|logpath|ignoreip|...",
        "a setting of JAIL",
    ),
];

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
    Version,
}

/// Parses fail2ban-client's command line the way its `getopt` does: short flags may be
/// grouped (`-xf`), a short option's value may be attached (`-c/etc/ferroban`), a long
/// option's may follow `=`; the first word that is no option starts the command, and
/// everything after it (dashes included) belongs to the command.
pub(super) fn parse_args(args: &[String]) -> Result<Parsed, String> {
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

fn parse_long(text: &str, args: &[String], at: &mut usize) -> Result<Vec<Use>, String> {
    let (name, attached) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (text, None),
    };
    let option = OPTIONS
        .iter()
        .find(|o| o.long == Some(name))
        .ok_or_else(|| format!("unknown option --{name}"))?;
    let value = match (option.value, attached) {
        (None, Some(_)) => return Err(format!("option --{name} takes no value")),
        (None, None) => None,
        (Some(_), Some(value)) => Some(value),
        (Some(_), None) => Some(next_value(args, at, &format!("--{name}"))?),
    };
    Ok(vec![(option.effect, value)])
}

fn parse_short_group(group: &str, args: &[String], at: &mut usize) -> Result<Vec<Use>, String> {
    let mut uses = Vec::new();
    for (index, letter) in group.char_indices() {
        let option = OPTIONS
            .iter()
            .find(|o| o.short == Some(letter))
            .ok_or_else(|| format!("unknown option -{letter}"))?;
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

fn next_value(args: &[String], at: &mut usize, name: &str) -> Result<String, String> {
    let value = args
        .get(*at)
        .cloned()
        .ok_or_else(|| format!("option {name} needs a value"))?;
    *at += 1;
    Ok(value)
}

/// Applies one option; `Some` when it ends parsing (`--help`, `--version`).
fn apply(
    parsed: &mut ClientArgs,
    effect: Effect,
    value: Option<String>,
) -> Result<Option<Parsed>, String> {
    let value = value.unwrap_or_default();
    match effect {
        Effect::Config => parsed.config = Some(PathBuf::from(value)),
        Effect::Socket => parsed.socket = Some(PathBuf::from(value)),
        Effect::Pidfile => parsed.pidfile = Some(PathBuf::from(value)),
        Effect::Timeout => {
            let seconds = value
                .parse()
                .map_err(|_| format!("bad timeout {value:?}"))?;
            parsed.timeout = Some(seconds);
        }
        Effect::Json => parsed.json = true,
        Effect::Test => parsed.test = true,
        Effect::Dump => parsed.dump = true,
        Effect::Ignored => {}
        Effect::Help => return Ok(Some(Parsed::Help)),
        Effect::Version => return Ok(Some(Parsed::Version)),
    }
    Ok(None)
}

/// `--help`: the options from the table, then the commands.
pub(super) fn usage() -> String {
    let mut text = String::from("Usage: ferroban client [OPTIONS] <COMMAND>\n\nOptions:\n");
    for option in OPTIONS {
        let names = option_names(option);
        text.push_str(&format!("    {names:<27} {}\n", option.help));
    }
    text.push_str("\nCommands:\n");
    for (syntax, what) in COMMANDS {
        text.push_str(&format!("    {syntax:<40} {what}\n"));
    }
    text
}

fn option_names(option: &ClientOption) -> String {
    let mut names: Vec<String> = Vec::new();
    names.extend(option.short.map(|s| format!("-{s}")));
    names.extend(option.long.map(|l| format!("--{l}")));
    let value = option.value.map(|v| format!(" <{v}>")).unwrap_or_default();
    format!("{}{value}", names.join(", "))
}

/// The client as a clap command, for the man page and the shell completions only.
pub fn command() -> clap::Command {
    let mut command = clap::Command::new("client")
        .about("Send a command to the daemon, as fail2ban-client does (`ferroban COMMAND...` too)")
        .long_about(
            "Send a command to the daemon's control socket and print the answer as \
             fail2ban-client does. The options come first, then the command words. \
             Without -s, the socket is `socket` from fail2ban.conf in the configuration \
             directory.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true);
    for option in OPTIONS {
        command = command.arg(clap_arg(option));
    }
    command.arg(
        Arg::new("command")
            .value_name("COMMAND")
            .num_args(0..)
            .trailing_var_arg(true)
            .allow_hyphen_values(true)
            .help("the command and its arguments (see Commands)"),
    )
}

fn clap_arg(option: &ClientOption) -> Arg {
    let id = option
        .long
        .map(str::to_string)
        .or_else(|| option.short.map(String::from))
        .unwrap_or_default();
    let mut arg = Arg::new(id).help(option.help);
    if let Some(short) = option.short {
        arg = arg.short(short);
    }
    if let Some(long) = option.long {
        arg = arg.long(long);
    }
    match option.value {
        Some(name) => arg.value_name(name).action(ArgAction::Set),
        None => arg.action(ArgAction::SetTrue),
    }
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

    #[test]
    fn help_and_man_page_command_list_every_option() {
        let text = usage();
        let command = command();
        for option in OPTIONS {
            assert!(text.contains(&option_names(option)), "{option:?}");
            assert!(
                command
                    .get_arguments()
                    .any(|arg| arg.get_short() == option.short && arg.get_long() == option.long),
                "{option:?}"
            );
        }
        command.debug_assert();
    }
}
