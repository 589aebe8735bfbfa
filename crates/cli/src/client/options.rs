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
    ShortVersion,
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
        None,
        None,
        Effect::ShortVersion,
        "print the version (machine-readable short format)",
    ),
    option(
        None,
        Some("version"),
        None,
        Effect::Version,
        "print the version",
    ),
];

/// fail2ban-client's commands that ferroban's server answers: (syntax, what it does). Each
/// parses (a test fills in the placeholders), in fail2ban's words where it has them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("start", "starts the server and the jails"),
    (
        "restart [--unban] [--if-exists] JAIL",
        "restarts the jail JAIL",
    ),
    (
        "reload [--restart] [--unban] [--all]",
        "reloads the configuration",
    ),
    ("reload [--restart] [--unban] JAIL", "reloads the jail JAIL"),
    ("stop", "stops all jails and terminate the server"),
    ("unban --all", "unbans all IP addresses"),
    ("unban IP ... IP", "unbans IP (in all jails and database)"),
    ("banned [IP ... IP]", "which jails ban the IPs"),
    ("status", "gets the current status of the server"),
    ("ping", "tests if the server is alive"),
    ("echo WORD ...", "returns back and outputs the words"),
    ("version", "return the server version"),
    ("server-status", "whether the server is ready"),
    ("sleep SECONDS", "the server waits before answering"),
    ("set loglevel LEVEL", "sets logging level to LEVEL"),
    ("get loglevel", "gets the logging level"),
    ("set logtarget TARGET", "sets logging target to TARGET"),
    ("get logtarget", "gets logging target"),
    ("metrics", "prints the Prometheus metrics"),
    (
        "cluster status",
        "fleet mode: the database link, the nodes, the shared bans",
    ),
    (
        "set syslogsocket auto|SOCKET",
        "sets the syslog socket path",
    ),
    ("get syslogsocket", "gets syslog socket path"),
    (
        "flushlogs",
        "flushes the logtarget if a file and reopens it",
    ),
    (
        "set dbfile FILE",
        "set the location of the persistent datastore (None: disable)",
    ),
    ("get dbfile", "get the location of the persistent datastore"),
    (
        "set dbmaxmatches INT",
        "max number of matches stored per ticket",
    ),
    ("get dbmaxmatches", "gets the max number of matches stored"),
    (
        "set dbpurgeage SECONDS",
        "sets the max age of bans in the database",
    ),
    ("get dbpurgeage", "gets the max age of bans in the database"),
    ("start JAIL", "starts the jail JAIL"),
    ("stop JAIL", "stops the jail JAIL"),
    (
        "status JAIL [FLAVOR]",
        "gets the current status of JAIL (basic, short)",
    ),
    ("set JAIL idle on|off", "sets the idle state of JAIL"),
    (
        "set JAIL ignoreself true|false",
        "whether JAIL ignores this host's addresses",
    ),
    (
        "set JAIL addignoreip IP",
        "adds IP to the ignore list of JAIL",
    ),
    (
        "set JAIL delignoreip IP",
        "removes IP from the ignore list of JAIL",
    ),
    ("set JAIL ignorecommand VALUE", "sets ignorecommand of JAIL"),
    ("set JAIL ignorecache VALUE", "sets ignorecache of JAIL"),
    (
        "set JAIL addlogpath FILE [tail]",
        "adds FILE to the monitoring list of JAIL",
    ),
    (
        "set JAIL dellogpath FILE",
        "removes FILE from the monitoring list of JAIL",
    ),
    (
        "set JAIL logencoding ENCODING",
        "sets the file encoding of JAIL",
    ),
    (
        "set JAIL addfailregex REGEX",
        "adds REGEX to the failure regexes of JAIL",
    ),
    (
        "set JAIL delfailregex INDEX",
        "removes the failure regex at INDEX",
    ),
    (
        "set JAIL addignoreregex REGEX",
        "adds REGEX to the ignore regexes of JAIL",
    ),
    (
        "set JAIL delignoreregex INDEX",
        "removes the ignore regex at INDEX",
    ),
    ("set JAIL findtime TIME", "sets the findtime of JAIL"),
    ("set JAIL bantime TIME", "sets the bantime of JAIL"),
    (
        "set JAIL bantime.OPTION VALUE",
        "sets a bantime.* option (increment, factor...)",
    ),
    (
        "set JAIL datepattern PATTERN",
        "sets the date pattern of JAIL",
    ),
    ("set JAIL usedns VALUE", "sets the usedns mode of JAIL"),
    (
        "set JAIL attempt IP [FAILURE ...]",
        "adds a failure of IP by hand",
    ),
    ("set JAIL banip IP ... IP", "bans IP in JAIL"),
    (
        "set JAIL unbanip [--report-absent] IP ... IP",
        "unbans IP in JAIL",
    ),
    (
        "set JAIL maxretry INT",
        "sets the number of failures before a ban",
    ),
    (
        "set JAIL maxmatches INT",
        "sets the max number of matches kept",
    ),
    (
        "set JAIL maxlines INT",
        "sets the number of lines to buffer for regex search",
    ),
    (
        "get JAIL banned [IP ... IP]",
        "whether the IPs are banned in JAIL",
    ),
    ("get JAIL logpath", "gets the monitored files of JAIL"),
    (
        "get JAIL logencoding",
        "gets the encoding of the monitored files",
    ),
    (
        "get JAIL journalmatch",
        "gets the journal filter match of JAIL",
    ),
    ("get JAIL ignoreself", "gets the ignoreself flag of JAIL"),
    ("get JAIL ignoreip", "gets the ignore list of JAIL"),
    ("get JAIL ignorecommand", "gets ignorecommand of JAIL"),
    ("get JAIL ignorecache", "gets ignorecache of JAIL"),
    ("get JAIL failregex", "gets the failure regexes of JAIL"),
    ("get JAIL ignoreregex", "gets the ignore regexes of JAIL"),
    ("get JAIL prefregex", "gets the prefregex of JAIL"),
    ("get JAIL findtime", "gets the findtime of JAIL"),
    ("get JAIL bantime", "gets the bantime of JAIL"),
    ("get JAIL bantime.OPTION", "gets a bantime.* option of JAIL"),
    ("get JAIL datepattern", "gets the date pattern of JAIL"),
    ("get JAIL logtimezone", "gets the log time zone of JAIL"),
    ("get JAIL usedns", "gets the usedns setting of JAIL"),
    (
        "get JAIL banip [--with-time|SEPARATOR]",
        "the banned IPs of JAIL",
    ),
    (
        "get JAIL maxretry",
        "gets the number of failures before a ban",
    ),
    ("get JAIL maxmatches", "gets the max number of matches kept"),
    ("get JAIL maxlines", "gets the number of lines to buffer"),
    ("get JAIL actions", "gets the actions of JAIL"),
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

    /// Every command the help lists is one the grammar takes, with its placeholders
    /// filled in (the first of each `a|b` choice, optional parts left out).
    #[test]
    fn every_command_listed_parses() {
        // `start` is the client's own (it starts the server).
        for (syntax, _) in COMMANDS.iter().filter(|(syntax, _)| *syntax != "start") {
            let words: Vec<String> = syntax
                .split(' ')
                .filter(|w| !w.starts_with('[') && !w.ends_with(']') && *w != "...")
                .map(|word| match word.split('|').next().unwrap_or(word) {
                    "JAIL" => "sshd".to_string(),
                    "IP" => "192.0.2.1".to_string(),
                    "INT" | "INDEX" | "SECONDS" | "TIME" => "1".to_string(),
                    "bantime.OPTION" => "bantime.factor".to_string(),
                    "LEVEL" => "INFO".to_string(),
                    other => other.to_string(),
                })
                .collect();
            let parsed = ferroban_protocol::Command::parse(&words);
            assert!(parsed.is_ok(), "{syntax}: {words:?} {parsed:?}");
        }
    }
}
