//! fail2ban-client's command grammar (`client/fail2bancmdline.py` and the server's
//! `transmitter.py`), as far as ferroban implements it.

use serde::{Deserialize, Serialize};

/// A command the server understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// `ping`: is the server alive.
    Ping,
    /// `version`.
    Version,
    /// `metrics`: the Prometheus exposition, as the metrics endpoint serves it.
    Metrics,
    /// `echo WORD...`.
    Echo { words: Vec<String> },
    /// `stop`: stop every jail and the server.
    Stop,
    /// `flushlogs`: reopen the log file (after logrotate moved it).
    FlushLogs,
    /// `status`: the jail list.
    Status,
    /// `status JAIL [basic|short|cymru]`; `short` leaves out the banned addresses.
    StatusJail {
        jail: String,
        #[serde(default)]
        short: bool,
    },
    /// `start JAIL`: start a jail (fail2ban's, after `add`; ferroban's jails all run).
    StartJail { jail: String },
    /// `stop JAIL`: stop one jail, which leaves the server's list until a reload.
    StopJail { jail: String },
    /// `set JAIL idle on|off`: an idle jail ignores the failures it finds.
    SetIdle { jail: String, value: String },
    /// `set loglevel|logtarget|syslogsocket|dbfile|dbpurgeage|dbmaxmatches VALUE`.
    SetServer { key: String, value: String },
    /// `reload [--restart] [--unban] [--all] [JAIL]`.
    Reload {
        jail: Option<String>,
        unban: bool,
        restart: bool,
    },
    /// `set JAIL banip IP...`.
    BanIp { jail: String, ids: Vec<String> },
    /// `set JAIL unbanip [--report-absent] IP...`.
    UnbanIp {
        jail: String,
        ids: Vec<String>,
        report_absent: bool,
    },
    /// `unban IP...` in every jail.
    Unban { ids: Vec<String> },
    /// `unban --all`.
    UnbanAll,
    /// `banned [IP...]`.
    Banned { ids: Vec<String> },
    /// `get JAIL banip [--with-time|SEPARATOR]`.
    GetBanIp {
        jail: String,
        with_time: bool,
        separator: Option<String>,
    },
    /// `get JAIL banned [IP...]`: the jail's banned ids, or whether each id asked is banned.
    GetBanned { jail: String, ids: Vec<String> },
    /// `get JAIL KEY`.
    GetJail { jail: String, key: GetKey },
    /// `set JAIL addignoreip IP...`.
    AddIgnoreIp { jail: String, ids: Vec<String> },
    /// `set JAIL delignoreip IP...`.
    DelIgnoreIp { jail: String, ids: Vec<String> },
    /// `get loglevel|logtarget|dbfile|dbpurgeage|syslogsocket`.
    GetServer { key: String },
    /// `test-clock advance SECONDS`: moves the daemon's clock forward. Only a server started
    /// with `FERROBAN_TEST_CLOCK=1` takes it: tests advance time instead of sleeping.
    TestClockAdvance { millis: u64 },
    /// `set JAIL KEY VALUE...`: a jail setting changed at run time, until the next reload.
    SetJail {
        jail: String,
        key: SetKey,
        args: Vec<String>,
    },
    /// `get JAIL bantime.OPTION`: a `bantime.*` setting as fail2ban keeps it (any option
    /// name is kept, as fail2ban keeps it).
    GetBanTimeExtra { jail: String, option: String },
    /// `set JAIL bantime.OPTION VALUE`.
    SetBanTimeExtra {
        jail: String,
        option: String,
        value: String,
    },
    /// `server-status`: whether the server is ready.
    ServerStatus,
    /// `sleep SECONDS`: the server waits before answering (fail2ban's scripts use it).
    Sleep { millis: u64 },
    /// `set JAIL attempt IP [FAILURE...]`: a failure of IP reported by hand, counting
    /// one per failure text (at least one).
    Attempt {
        jail: String,
        id: String,
        matches: Vec<String>,
    },
    /// `cluster status`: fleet mode (`[Cluster]`) seen from this node.
    ClusterStatus,
}

/// The jail settings `get JAIL KEY` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GetKey {
    Bantime,
    Findtime,
    Maxretry,
    Maxmatches,
    Logpath,
    Ignoreip,
    Ignoreself,
    Ignorecommand,
    Usedns,
    Failregex,
    Ignoreregex,
    Actions,
    Journalmatch,
    Logencoding,
    Maxlines,
    Datepattern,
    Prefregex,
    Logtimezone,
    Ignorecache,
}

impl GetKey {
    const ALL: [(&'static str, GetKey); 19] = [
        ("bantime", GetKey::Bantime),
        ("findtime", GetKey::Findtime),
        ("maxretry", GetKey::Maxretry),
        ("maxmatches", GetKey::Maxmatches),
        ("logpath", GetKey::Logpath),
        ("ignoreip", GetKey::Ignoreip),
        ("ignoreself", GetKey::Ignoreself),
        ("ignorecommand", GetKey::Ignorecommand),
        ("usedns", GetKey::Usedns),
        ("failregex", GetKey::Failregex),
        ("ignoreregex", GetKey::Ignoreregex),
        ("actions", GetKey::Actions),
        ("journalmatch", GetKey::Journalmatch),
        ("logencoding", GetKey::Logencoding),
        ("maxlines", GetKey::Maxlines),
        ("datepattern", GetKey::Datepattern),
        ("prefregex", GetKey::Prefregex),
        ("logtimezone", GetKey::Logtimezone),
        ("ignorecache", GetKey::Ignorecache),
    ];

    fn parse(word: &str) -> Option<GetKey> {
        GetKey::ALL
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, key)| *key)
    }

    /// The word as the user writes it.
    pub fn as_str(self) -> &'static str {
        GetKey::ALL
            .iter()
            .find(|(_, key)| *key == self)
            .map_or("", |(name, _)| name)
    }
}

/// The jail settings `set JAIL KEY VALUE...` changes at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetKey {
    Bantime,
    Findtime,
    Maxretry,
    Maxmatches,
    Maxlines,
    Usedns,
    Datepattern,
    Logencoding,
    Ignoreself,
    Ignorecommand,
    Ignorecache,
    Addfailregex,
    Delfailregex,
    Addignoreregex,
    Delignoreregex,
    Addlogpath,
    Dellogpath,
}

impl SetKey {
    /// Each key with the setting its reply shows (fail2ban answers a `set` with the `get`).
    const ALL: [(&'static str, SetKey, GetKey); 17] = [
        ("bantime", SetKey::Bantime, GetKey::Bantime),
        ("findtime", SetKey::Findtime, GetKey::Findtime),
        ("maxretry", SetKey::Maxretry, GetKey::Maxretry),
        ("maxmatches", SetKey::Maxmatches, GetKey::Maxmatches),
        ("maxlines", SetKey::Maxlines, GetKey::Maxlines),
        ("usedns", SetKey::Usedns, GetKey::Usedns),
        ("datepattern", SetKey::Datepattern, GetKey::Datepattern),
        ("logencoding", SetKey::Logencoding, GetKey::Logencoding),
        ("ignoreself", SetKey::Ignoreself, GetKey::Ignoreself),
        (
            "ignorecommand",
            SetKey::Ignorecommand,
            GetKey::Ignorecommand,
        ),
        ("ignorecache", SetKey::Ignorecache, GetKey::Ignorecache),
        ("addfailregex", SetKey::Addfailregex, GetKey::Failregex),
        ("delfailregex", SetKey::Delfailregex, GetKey::Failregex),
        (
            "addignoreregex",
            SetKey::Addignoreregex,
            GetKey::Ignoreregex,
        ),
        (
            "delignoreregex",
            SetKey::Delignoreregex,
            GetKey::Ignoreregex,
        ),
        ("addlogpath", SetKey::Addlogpath, GetKey::Logpath),
        ("dellogpath", SetKey::Dellogpath, GetKey::Logpath),
    ];

    fn parse(word: &str) -> Option<SetKey> {
        SetKey::ALL
            .iter()
            .find(|(name, _, _)| *name == word)
            .map(|(_, key, _)| *key)
    }

    /// The setting the reply to this `set` shows.
    pub fn shown(self) -> GetKey {
        SetKey::ALL
            .iter()
            .find(|(_, key, _)| *key == self)
            .map_or(GetKey::Bantime, |(_, _, shown)| *shown)
    }
}

/// A command line the grammar does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No command words at all.
    #[error("no command given")]
    Empty,
    /// Words that form no known command (fail2ban-client: "Invalid command").
    #[error("Invalid command ({0})")]
    Invalid(String),
    /// A known command missing its arguments.
    #[error("Invalid command: {command} needs {what}")]
    MissingArgument { command: String, what: &'static str },
}

/// Server settings `get KEY` answers.
const SERVER_KEYS: [&str; 6] = [
    "loglevel",
    "logtarget",
    "dbfile",
    "dbpurgeage",
    "dbmaxmatches",
    "syslogsocket",
];

/// Server settings `set KEY VALUE` changes.
const SET_SERVER_KEYS: [&str; 6] = [
    "loglevel",
    "logtarget",
    "syslogsocket",
    "dbfile",
    "dbpurgeage",
    "dbmaxmatches",
];

/// The words after `set`: a server setting, or a jail's. `Invalid` stands for the
/// whole command, which the caller names.
fn parse_set_words(words: &[&str]) -> Result<Command, ParseError> {
    match words {
        [key, value] if SET_SERVER_KEYS.contains(key) => Ok(Command::SetServer {
            key: (*key).to_string(),
            value: (*value).to_string(),
        }),
        [jail, "idle", value] => Ok(Command::SetIdle {
            jail: (*jail).to_string(),
            value: (*value).to_string(),
        }),
        [_, option] if option.starts_with("bantime.") => Err(missing(option, "a value")),
        [jail, option, value, ..] if option.starts_with("bantime.") => {
            Ok(Command::SetBanTimeExtra {
                jail: (*jail).to_string(),
                option: option["bantime.".len()..].to_string(),
                value: (*value).to_string(),
            })
        }
        [jail, action, rest @ ..] => parse_set_command(jail, action, rest),
        _ => Err(ParseError::Invalid(String::new())),
    }
}

/// The words after `get`: a server setting, or a jail's.
fn parse_get(words: &[&str]) -> Option<Command> {
    match words {
        [key] if SERVER_KEYS.contains(key) => Some(Command::GetServer {
            key: (*key).to_string(),
        }),
        [jail, option] if option.starts_with("bantime.") => Some(Command::GetBanTimeExtra {
            jail: (*jail).to_string(),
            option: option["bantime.".len()..].to_string(),
        }),
        [jail, "banned", ids @ ..] => Some(Command::GetBanned {
            jail: (*jail).to_string(),
            ids: owned(ids),
        }),
        [jail, "banip", rest @ ..] => parse_get_banip(jail, rest),
        [jail, key] => GetKey::parse(key).map(|key| Command::GetJail {
            jail: (*jail).to_string(),
            key,
        }),
        _ => None,
    }
}

/// fail2ban-client's `restart [--unban] [--if-exists] JAIL`: `reload --restart`.
fn parse_restart(words: &[&str]) -> Option<Command> {
    match parse_reload(words)? {
        Command::Reload { jail, unban, .. } => Some(Command::Reload {
            jail,
            unban,
            restart: true,
        }),
        _ => None,
    }
}

/// `test-clock advance SECONDS`: a finite, non-negative number.
fn parse_clock_advance(seconds: &str) -> Option<Command> {
    let seconds = seconds.parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(Command::TestClockAdvance {
        millis: (seconds * 1000.0) as u64,
    })
}

impl Command {
    /// Parses the words after the client's options, as fail2ban-client takes them.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Command, ParseError> {
        let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
        let invalid = || ParseError::Invalid(words.join(" "));
        match words.as_slice() {
            [] => Err(ParseError::Empty),
            ["ping"] => Ok(Command::Ping),
            ["version"] => Ok(Command::Version),
            ["metrics"] => Ok(Command::Metrics),
            ["echo", rest @ ..] => Ok(Command::Echo { words: owned(rest) }),
            ["stop"] => Ok(Command::Stop),
            ["flushlogs"] => Ok(Command::FlushLogs),
            ["status"] => Ok(Command::Status),
            ["server-status"] => Ok(Command::ServerStatus),
            ["sleep", seconds] => parse_sleep(seconds).ok_or_else(invalid),
            ["status", jail] => Ok(Command::StatusJail {
                jail: (*jail).to_string(),
                short: false,
            }),
            ["status", jail, flavor] => Ok(Command::StatusJail {
                jail: (*jail).to_string(),
                short: *flavor == "short",
            }),
            ["start", jail] => Ok(Command::StartJail {
                jail: (*jail).to_string(),
            }),
            ["stop", jail] => Ok(Command::StopJail {
                jail: (*jail).to_string(),
            }),
            ["set", rest @ ..] => parse_set_words(rest).map_err(|error| match error {
                ParseError::Invalid(_) => invalid(),
                error => error,
            }),
            ["get", rest @ ..] => parse_get(rest).ok_or_else(invalid),
            ["reload", rest @ ..] => parse_reload(rest).ok_or_else(invalid),
            // fail2ban-client's alias for `reload --restart ... JAIL`; a bare `restart`
            // restarts the server, which the client does itself.
            ["restart", rest @ ..] if rest.last().is_some_and(|w| !w.starts_with("--")) => {
                parse_restart(rest).ok_or_else(invalid)
            }
            ["unban", "--all"] => Ok(Command::UnbanAll),
            ["unban"] => Err(missing("unban", "IP... or --all")),
            ["unban", ids @ ..] => Ok(Command::Unban { ids: owned(ids) }),
            ["banned", ids @ ..] => Ok(Command::Banned { ids: owned(ids) }),
            ["cluster", "status"] => Ok(Command::ClusterStatus),
            ["test-clock", "advance", seconds] => parse_clock_advance(seconds).ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }

    /// The jail setting a reply shows, for `get JAIL KEY` and `set JAIL KEY VALUE`.
    pub fn shown_key(&self) -> Option<GetKey> {
        match self {
            Command::GetJail { key, .. } => Some(*key),
            Command::SetJail { key, .. } => Some(key.shown()),
            _ => None,
        }
    }

    /// The jail a command is about, if any.
    pub fn jail(&self) -> Option<&str> {
        match self {
            Command::StatusJail { jail, .. }
            | Command::StopJail { jail }
            | Command::StartJail { jail }
            | Command::SetIdle { jail, .. }
            | Command::BanIp { jail, .. }
            | Command::UnbanIp { jail, .. }
            | Command::GetBanIp { jail, .. }
            | Command::GetJail { jail, .. }
            | Command::AddIgnoreIp { jail, .. }
            | Command::DelIgnoreIp { jail, .. }
            | Command::SetJail { jail, .. }
            | Command::GetBanTimeExtra { jail, .. }
            | Command::GetBanned { jail, .. }
            | Command::SetBanTimeExtra { jail, .. }
            | Command::Attempt { jail, .. } => Some(jail),
            Command::Reload { jail, .. } => jail.as_deref(),
            _ => None,
        }
    }
}

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

fn missing(command: &str, what: &'static str) -> ParseError {
    ParseError::MissingArgument {
        command: command.to_string(),
        what,
    }
}

fn parse_reload(words: &[&str]) -> Option<Command> {
    let (mut unban, mut restart, mut jail) = (false, false, None);
    for word in words {
        match *word {
            "--unban" => unban = true,
            "--restart" => restart = true,
            "--all" | "--if-exists" => {}
            name if !name.starts_with("--") && jail.is_none() => jail = Some(name.to_string()),
            _ => return None,
        }
    }
    Some(Command::Reload {
        jail,
        unban,
        restart,
    })
}

/// `sleep SECONDS`: fail2ban's `float(value)`.
fn parse_sleep(seconds: &str) -> Option<Command> {
    let seconds: f64 = seconds.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Command::Sleep {
        millis: (seconds * 1000.0).round() as u64,
    })
}

fn parse_set_command(jail: &str, action: &str, rest: &[&str]) -> Result<Command, ParseError> {
    match SetKey::parse(action) {
        Some(_) if rest.is_empty() => Err(missing(action, "a value")),
        Some(key) => Ok(Command::SetJail {
            jail: jail.to_string(),
            key,
            args: owned(rest),
        }),
        // The caller names the whole command line.
        None => parse_set(jail, action, rest).ok_or_else(|| ParseError::Invalid(String::new())),
    }
}

fn parse_set(jail: &str, action: &str, rest: &[&str]) -> Option<Command> {
    let jail = jail.to_string();
    match (action, rest) {
        (_, []) => None,
        ("banip", ids) => Some(Command::BanIp {
            jail,
            ids: owned(ids),
        }),
        ("unbanip", ["--report-absent", ids @ ..]) if !ids.is_empty() => Some(Command::UnbanIp {
            jail,
            ids: owned(ids),
            report_absent: true,
        }),
        ("unbanip", ids) => Some(Command::UnbanIp {
            jail,
            ids: owned(ids),
            report_absent: false,
        }),
        ("addignoreip", ids) => Some(Command::AddIgnoreIp {
            jail,
            ids: owned(ids),
        }),
        ("delignoreip", ids) => Some(Command::DelIgnoreIp {
            jail,
            ids: owned(ids),
        }),
        ("attempt", [id, matches @ ..]) => Some(Command::Attempt {
            jail,
            id: (*id).to_string(),
            matches: owned(matches),
        }),
        _ => None,
    }
}

fn parse_get_banip(jail: &str, rest: &[&str]) -> Option<Command> {
    let jail = jail.to_string();
    match rest {
        [] => Some(Command::GetBanIp {
            jail,
            with_time: false,
            separator: None,
        }),
        ["--with-time"] => Some(Command::GetBanIp {
            jail,
            with_time: true,
            separator: None,
        }),
        [separator] => Some(Command::GetBanIp {
            jail,
            with_time: false,
            separator: Some((*separator).to_string()),
        }),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ParseError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Command::parse(&words)
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse("ping").unwrap(), Command::Ping);
        assert_eq!(parse("cluster status").unwrap(), Command::ClusterStatus);
        assert_eq!(parse("stop").unwrap(), Command::Stop);
        assert_eq!(parse("flushlogs").unwrap(), Command::FlushLogs);
        assert_eq!(parse("status").unwrap(), Command::Status);
        assert_eq!(
            parse("status sshd").unwrap(),
            Command::StatusJail {
                jail: "sshd".into(),
                short: false
            }
        );
        assert_eq!(
            parse("status sshd short").unwrap(),
            Command::StatusJail {
                jail: "sshd".into(),
                short: true
            }
        );
        assert_eq!(
            parse("stop sshd").unwrap(),
            Command::StopJail {
                jail: "sshd".into()
            }
        );
        assert_eq!(
            parse("set dbpurgeage 2d").unwrap(),
            Command::SetServer {
                key: "dbpurgeage".into(),
                value: "2d".into()
            }
        );
    }

    #[test]
    fn run_time_settings_and_server_commands() {
        assert_eq!(
            parse("set sshd maxretry 3").unwrap(),
            Command::SetJail {
                jail: "sshd".into(),
                key: SetKey::Maxretry,
                args: vec!["3".into()],
            }
        );
        let regex = parse("set sshd addfailregex ^x <HOST>$").unwrap();
        assert_eq!(regex.shown_key(), Some(GetKey::Failregex));
        assert_eq!(regex.jail(), Some("sshd"));
        assert!(matches!(
            parse("set sshd ignorecommand"),
            Err(ParseError::MissingArgument { .. })
        ));
        assert_eq!(parse("server-status").unwrap(), Command::ServerStatus);
        assert_eq!(parse("sleep 0.25").unwrap(), Command::Sleep { millis: 250 });
        assert!(parse("sleep soon").is_err());
        assert_eq!(
            parse("get sshd datepattern").unwrap().shown_key(),
            Some(GetKey::Datepattern)
        );
    }

    #[test]
    fn attempt_takes_an_address_and_failure_texts() {
        assert_eq!(
            parse("set sshd attempt 192.0.2.1 bad password").unwrap(),
            Command::Attempt {
                jail: "sshd".into(),
                id: "192.0.2.1".into(),
                matches: vec!["bad".into(), "password".into()],
            }
        );
        assert!(parse("set sshd attempt").is_err());
    }

    #[test]
    fn ban_and_unban() {
        assert_eq!(
            parse("set sshd banip 1.2.3.4 5.6.7.8").unwrap(),
            Command::BanIp {
                jail: "sshd".into(),
                ids: vec!["1.2.3.4".into(), "5.6.7.8".into()]
            }
        );
        assert_eq!(
            parse("set sshd unbanip --report-absent 1.2.3.4").unwrap(),
            Command::UnbanIp {
                jail: "sshd".into(),
                ids: vec!["1.2.3.4".into()],
                report_absent: true
            }
        );
        assert_eq!(parse("unban --all").unwrap(), Command::UnbanAll);
        assert_eq!(
            parse("unban 1.2.3.4").unwrap(),
            Command::Unban {
                ids: vec!["1.2.3.4".into()]
            }
        );
        assert!(matches!(
            parse("unban"),
            Err(ParseError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse("set sshd banip"),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn get_commands() {
        assert_eq!(
            parse("get sshd banip --with-time").unwrap(),
            Command::GetBanIp {
                jail: "sshd".into(),
                with_time: true,
                separator: None
            }
        );
        assert_eq!(
            parse("get sshd banip ,").unwrap(),
            Command::GetBanIp {
                jail: "sshd".into(),
                with_time: false,
                separator: Some(",".into())
            }
        );
        assert_eq!(
            parse("get sshd bantime").unwrap(),
            Command::GetJail {
                jail: "sshd".into(),
                key: GetKey::Bantime
            }
        );
        assert_eq!(
            parse("get loglevel").unwrap(),
            Command::GetServer {
                key: "loglevel".into()
            }
        );
        assert!(matches!(
            parse("get sshd nonsense"),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn reload_options() {
        assert_eq!(
            parse("reload").unwrap(),
            Command::Reload {
                jail: None,
                unban: false,
                restart: false
            }
        );
        assert_eq!(
            parse("reload --unban sshd").unwrap(),
            Command::Reload {
                jail: Some("sshd".into()),
                unban: true,
                restart: false
            }
        );
        assert!(parse("reload --bogus").is_err());
    }

    #[test]
    fn unknown_words_are_invalid() {
        assert_eq!(
            parse("frobnicate now").unwrap_err().to_string(),
            "Invalid command (frobnicate now)"
        );
        assert_eq!(parse("").unwrap_err(), ParseError::Empty);
    }
}
