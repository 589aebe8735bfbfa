//! fail2ban-client's options, in one table read three ways: by the parser (`args`: options
//! come first, then the command words, so clap cannot parse them), by `--help`, and by the
//! clap command that the man page and the shell completions are generated from. Whatever
//! the parser accepts is therefore what the documentation lists.

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
    ("metrics", "prints the Prometheus metrics"),
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
