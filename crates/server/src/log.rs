//! fail2ban's log lines: `asctime name[pid]: LEVEL message`, to the configured `logtarget`
//! at the configured `loglevel`.
//!
//! A tiny logger of our own rather than `tracing`: the layout, the level names (`NOTICE`,
//! `HEAVYDEBUG`) and the targets (`SYSLOG`, `SYSTEMD-JOURNAL`) are fail2ban's, and users'
//! tools (the recidive filter, logwatch) parse these lines, so we want full control.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock, PoisonError};

/// A log level, with fail2ban's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(pub u8);

impl Level {
    pub const CRITICAL: Level = Level(50);
    pub const ERROR: Level = Level(40);
    pub const WARNING: Level = Level(30);
    pub const NOTICE: Level = Level(25);
    pub const INFO: Level = Level(20);
    pub const DEBUG: Level = Level(10);

    const NAMES: [(&'static str, u8); 9] = [
        ("CRITICAL", 50),
        ("ERROR", 40),
        ("WARNING", 30),
        ("NOTICE", 25),
        ("INFO", 20),
        ("DEBUG", 10),
        ("TRACEDEBUG", 7),
        ("HEAVYDEBUG", 5),
        ("ALL", 1),
    ];

    /// `loglevel` as fail2ban reads it: a name (any case) or a number.
    pub fn parse(text: &str) -> Option<Level> {
        let upper = text.trim().to_ascii_uppercase();
        let upper = if upper == "WARN" {
            "WARNING".to_string()
        } else {
            upper
        };
        Level::NAMES
            .iter()
            .find(|(name, _)| *name == upper)
            .map(|(_, number)| Level(*number))
            .or_else(|| upper.parse::<u8>().ok().map(Level))
    }

    pub fn name(self) -> String {
        Level::NAMES
            .iter()
            .find(|(_, number)| *number == self.0)
            .map_or_else(
                || format!("Level {}", self.0),
                |(name, _)| (*name).to_string(),
            )
    }

    /// The syslog severity closest to the level.
    fn syslog_severity(self) -> u8 {
        match self.0 {
            50.. => 2,
            40..=49 => 3,
            30..=39 => 4,
            25..=29 => 5,
            20..=24 => 6,
            _ => 7,
        }
    }
}

/// Where log lines go (`logtarget`).
#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    File(File),
    Syslog(Option<UnixDatagram>),
    Journal(Option<UnixDatagram>),
}

#[derive(Debug)]
struct Logger {
    level: Level,
    target: String,
    sink: Sink,
}

static LOGGER: OnceLock<Mutex<Logger>> = OnceLock::new();

fn logger() -> &'static Mutex<Logger> {
    LOGGER.get_or_init(|| {
        Mutex::new(Logger {
            level: Level::INFO,
            target: "STDERR".to_string(),
            sink: Sink::Stderr,
        })
    })
}

/// Sets `logtarget` and `loglevel`. A file target is opened for appending (created if
/// missing); on failure the previous target stays and the error is returned.
pub fn configure(target: &str, level: Level) -> std::io::Result<()> {
    let sink = open_sink(target)?;
    let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    guard.level = level;
    guard.target = target.to_string();
    guard.sink = sink;
    Ok(())
}

/// The current `logtarget` and `loglevel`.
pub fn current() -> (String, Level) {
    let guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    (guard.target.clone(), guard.level)
}

fn open_sink(target: &str) -> std::io::Result<Sink> {
    Ok(match target.to_ascii_uppercase().as_str() {
        "STDOUT" => Sink::Stdout,
        "STDERR" => Sink::Stderr,
        "SYSLOG" => Sink::Syslog(connect_datagram("/dev/log")),
        "SYSTEMD-JOURNAL" => Sink::Journal(connect_datagram("/run/systemd/journal/socket")),
        _ => {
            if let Some(dir) = std::path::Path::new(target).parent() {
                std::fs::create_dir_all(dir)?;
            }
            Sink::File(OpenOptions::new().create(true).append(true).open(target)?)
        }
    })
}

fn connect_datagram(path: &str) -> Option<UnixDatagram> {
    let socket = UnixDatagram::unbound().ok()?;
    socket.connect(path).ok()?;
    Some(socket)
}

/// Whether a message at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level
        >= logger()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .level
}

/// Writes one line from logger `name` (`ferroban.filter`, `ferroban.actions`, ...).
pub fn log(name: &str, level: Level, message: &str) {
    let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    if level < guard.level {
        return;
    }
    let pid = std::process::id();
    let level_name = level.name();
    // A write error has nowhere to be reported; the daemon must go on.
    let _ = match &mut guard.sink {
        Sink::Stdout => {
            std::io::stdout().write_all(line(name, pid, &level_name, message).as_bytes())
        }
        Sink::Stderr => {
            std::io::stderr().write_all(line(name, pid, &level_name, message).as_bytes())
        }
        Sink::File(file) => file.write_all(line(name, pid, &level_name, message).as_bytes()),
        Sink::Syslog(Some(socket)) => {
            let priority = 3 * 8 + level.syslog_severity(); // facility daemon
            let text = format!("<{priority}>{name}[{pid}]: {level_name} {message}");
            socket.send(text.as_bytes()).map(drop)
        }
        Sink::Journal(Some(socket)) => {
            let text = journal_record(name, pid, level, message);
            socket.send(text.as_bytes()).map(drop)
        }
        Sink::Syslog(None) | Sink::Journal(None) => {
            std::io::stderr().write_all(line(name, pid, &level_name, message).as_bytes())
        }
    };
}

/// fail2ban's `%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s %(message)s`.
fn line(name: &str, pid: u32, level_name: &str, message: &str) -> String {
    let time = jiff::ZonedDateTime::now().strftime("%Y-%m-%d %H:%M:%S,%3f");
    format!("{time} {name:<24}[{pid}]: {level_name:<7} {message}\n")
}

/// journald's native protocol; a message with a new line uses the binary length form.
fn journal_record(name: &str, pid: u32, level: Level, message: &str) -> String {
    let mut record = format!(
        "PRIORITY={}\nSYSLOG_IDENTIFIER=ferroban\nSYSLOG_PID={pid}\nLOGGER={name}\n",
        level.syslog_severity()
    );
    if message.contains('\n') {
        // The binary form carries a little-endian length; keep it text-safe by
        // replacing new lines instead (journal readers show one line either way).
        record.push_str(&format!("MESSAGE={}\n", message.replace('\n', " ")));
    } else {
        record.push_str(&format!("MESSAGE={message}\n"));
    }
    record
}

/// Logging shorthands for the loggers ferroban uses.
#[macro_export]
macro_rules! log_at {
    ($name:expr, $level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::log($name, $level, &format!($($arg)*));
        }
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn level_names_and_numbers() {
        assert_eq!(Level::parse("notice"), Some(Level::NOTICE));
        assert_eq!(Level::parse("WARN"), Some(Level::WARNING));
        assert_eq!(Level::parse("10"), Some(Level::DEBUG));
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level::NOTICE.name(), "NOTICE");
    }

    #[test]
    fn line_has_fail2ban_layout() {
        let text = line("ferroban.actions", 42, "NOTICE", "[sshd] Ban 1.2.3.4");
        // `2024-01-01 12:00:00,123 ` is 24 characters.
        let rest = &text[24..];
        assert_eq!(
            rest,
            "ferroban.actions        [42]: NOTICE  [sshd] Ban 1.2.3.4\n"
        );
        assert_eq!(&text[19..20], ",");
    }
}
