//! fail2ban's log lines: `asctime name[pid]: LEVEL message`, to the configured `logtarget`
//! at the configured `loglevel`.
//!
//! A tiny logger of our own rather than `tracing`: the layout, the level names (`NOTICE`,
//! `HEAVYDEBUG`) and the targets (`SYSLOG`, `SYSTEMD-JOURNAL`) are fail2ban's, and users'
//! tools (the recidive filter, logwatch) parse these lines, so we want full control.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU8, Ordering};
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
    Syslog(Syslog),
    Journal(Option<UnixDatagram>),
}

/// The form a sink's records take.
#[derive(Debug, Clone, Copy)]
enum SinkKind {
    /// fail2ban's text lines (standard output or error, a file).
    Lines,
    /// A syslog datagram with this facility.
    Syslog(u8),
    /// journald's native protocol.
    Journal,
}

impl Sink {
    fn kind(&self) -> SinkKind {
        match self {
            Sink::Stdout | Sink::Stderr | Sink::File(_) | Sink::Journal(None) => SinkKind::Lines,
            Sink::Syslog(syslog) => SinkKind::Syslog(syslog.facility),
            Sink::Journal(Some(_)) => SinkKind::Journal,
        }
    }
}

/// `logtarget = SYSLOG`: datagrams to the `syslogsocket`, as Python's `SysLogHandler`
/// sends them for fail2ban.
#[derive(Debug)]
struct Syslog {
    path: String,
    facility: u8,
    socket: Option<UnixDatagram>,
}

/// fail2ban's default `syslogsocket`: `auto`, which is `/dev/log` on Linux.
const AUTO_SYSLOG_SOCKET: &str = "/dev/log";

/// syslog's facility `daemon`, fail2ban's default.
const FACILITY_DAEMON: u8 = 3;

#[derive(Debug)]
struct Logger {
    level: Level,
    target: String,
    sink: Sink,
    /// `syslogsocket`: `auto` or a path; `auto` becomes the path once SYSLOG is the target.
    syslog_socket: String,
}

static LOGGER: OnceLock<Mutex<Logger>> = OnceLock::new();

/// The logger's level, also outside its lock: every log call asks it first.
static LEVEL: AtomicU8 = AtomicU8::new(Level::INFO.0);

thread_local! {
    /// Records this thread holds back inside [`hold`].
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

fn logger() -> &'static Mutex<Logger> {
    LOGGER.get_or_init(|| {
        Mutex::new(Logger {
            level: Level::INFO,
            target: "STDERR".to_string(),
            sink: Sink::Stderr,
            syslog_socket: "auto".to_string(),
        })
    })
}

/// Sets `logtarget` and `loglevel`. A file target is opened for appending (created if
/// missing); on failure the previous target stays and the error is returned.
pub fn configure(target: &str, level: Level) -> std::io::Result<()> {
    let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    let sink = open_sink(target, &mut guard.syslog_socket)?;
    guard.level = level;
    LEVEL.store(level.0, Ordering::Relaxed);
    guard.target = target.to_string();
    guard.sink = sink;
    Ok(())
}

/// Sets `syslogsocket` (`auto` or a socket's path), used from the next [`configure`] on.
pub fn set_syslog_socket(socket: &str) {
    let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    guard.syslog_socket = socket.trim().to_string();
}

/// The `syslogsocket` in use (`auto` until SYSLOG is the target, as fail2ban answers).
pub fn syslog_socket() -> String {
    let guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    guard.syslog_socket.clone()
}

/// The current `logtarget` and `loglevel`.
pub fn current() -> (String, Level) {
    let guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    (guard.target.clone(), guard.level)
}

fn open_sink(target: &str, syslog_socket: &mut String) -> std::io::Result<Sink> {
    let (name, options) = split_options(target);
    Ok(match name.to_ascii_uppercase().as_str() {
        "STDOUT" | "SYSOUT" => Sink::Stdout,
        "STDERR" => Sink::Stderr,
        "SYSLOG" => {
            if syslog_socket.as_str() == "auto" {
                *syslog_socket = AUTO_SYSLOG_SOCKET.to_string();
            }
            Sink::Syslog(open_syslog(syslog_socket, &options)?)
        }
        "SYSTEMD-JOURNAL" => Sink::Journal(connect_datagram("/run/systemd/journal/socket")),
        _ => {
            if let Some(dir) = std::path::Path::new(target).parent() {
                std::fs::create_dir_all(dir)?;
            }
            Sink::File(OpenOptions::new().create(true).append(true).open(target)?)
        }
    })
}

/// fail2ban's `extractOptions`: `SYSLOG[facility=AUTH]` → (`SYSLOG`, `facility=AUTH`).
/// A target without `[...]` (a file path) is returned whole.
fn split_options(target: &str) -> (&str, Vec<(String, String)>) {
    let trimmed = target.trim();
    let Some((name, rest)) = trimmed.split_once('[') else {
        return (trimmed, Vec::new());
    };
    let Some(inner) = rest.strip_suffix(']') else {
        return (trimmed, Vec::new());
    };
    let options = inner
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            (key.trim().to_ascii_lowercase(), value.to_string())
        })
        .collect();
    (name.trim(), options)
}

/// As fail2ban, a `syslogsocket` that is not a socket is an error; the previous target
/// stays. An unknown facility falls back to `daemon` (fail2ban logs that too).
fn open_syslog(path: &str, options: &[(String, String)]) -> std::io::Result<Syslog> {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket());
    if !is_socket {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("Syslog socket file: {path} does not exists or is not a socket"),
        ));
    }
    let facility = options
        .iter()
        .find(|(key, _)| key == "facility")
        .map_or(Some(FACILITY_DAEMON), |(_, name)| facility_number(name))
        .unwrap_or(FACILITY_DAEMON);
    Ok(Syslog {
        path: path.to_string(),
        facility,
        socket: connect_datagram(path),
    })
}

/// Python's `SysLogHandler` facility names.
fn facility_number(name: &str) -> Option<u8> {
    const NAMES: [&str; 16] = [
        "KERN",
        "USER",
        "MAIL",
        "DAEMON",
        "AUTH",
        "SYSLOG",
        "LPR",
        "NEWS",
        "UUCP",
        "CRON",
        "AUTHPRIV",
        "FTP",
        "NTP",
        "SECURITY",
        "CONSOLE",
        "SOLARIS-CRON",
    ];
    let upper = name.trim().to_ascii_uppercase();
    if let Some(local) = upper.strip_prefix("LOCAL") {
        return local.parse::<u8>().ok().filter(|n| *n < 8).map(|n| 16 + n);
    }
    NAMES
        .iter()
        .position(|known| *known == upper)
        .and_then(|index| u8::try_from(index).ok())
}

impl Syslog {
    /// Sends one record; a syslog daemon that restarted is connected to again once.
    fn send(&mut self, record: &[u8]) -> std::io::Result<()> {
        if let Some(socket) = &self.socket
            && socket.send(record).is_ok()
        {
            return Ok(());
        }
        self.socket = connect_datagram(&self.path);
        match &self.socket {
            Some(socket) => socket.send(record).map(drop),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
        }
    }
}

/// What Python's `SysLogHandler` sends for fail2ban: `<priority>`, the record formatted as
/// `%(name)s[%(process)d]: %(levelname)s %(message)s` (fail2ban drops the padding for
/// syslog, and the time: syslog adds its own), and a NUL.
fn syslog_record(facility: u8, name: &str, pid: u32, level: Level, message: &str) -> Vec<u8> {
    let priority = u32::from(facility) * 8 + u32::from(level.syslog_severity());
    format!("<{priority}>{name}[{pid}]: {} {message}\0", level.name()).into_bytes()
}

fn connect_datagram(path: &str) -> Option<UnixDatagram> {
    let socket = UnixDatagram::unbound().ok()?;
    socket.connect(path).ok()?;
    Some(socket)
}

/// Whether a message at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level.0 >= LEVEL.load(Ordering::Relaxed)
}

/// Runs `work` with this thread's text log lines held back and written together at its end:
/// a jail handling a batch of failures logs a `Found` line for each, and one write for the
/// batch costs far less than one each. Records for syslog or journald go out at once.
pub fn hold<T>(work: impl FnOnce() -> T) -> T {
    let outer = HELD.with(|held| {
        let mut held = held.borrow_mut();
        let outer = held.is_some();
        if !outer {
            *held = Some(Vec::with_capacity(8192));
        }
        outer
    });
    let result = work();
    if !outer {
        let lines = HELD
            .with(|held| held.borrow_mut().take())
            .unwrap_or_default();
        if !lines.is_empty() {
            let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
            write_lines(&mut guard.sink, &lines);
        }
    }
    result
}

/// Writes text lines to a text sink (to standard error if the target changed meanwhile to
/// one that takes records). A write error has nowhere to be reported; the daemon goes on.
fn write_lines(sink: &mut Sink, lines: &[u8]) {
    let _ = match sink {
        Sink::Stdout => std::io::stdout().write_all(lines),
        Sink::File(file) => file.write_all(lines),
        Sink::Stderr | Sink::Journal(_) | Sink::Syslog(_) => std::io::stderr().write_all(lines),
    };
}

/// Writes one line from logger `name` (`fail2ban.filter`, `fail2ban.actions`, ...: fail2ban's
/// names, which its stock `recidive` filter and log tools look for).
pub fn log(name: &str, level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let kind = logger()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .sink
        .kind();
    // The record is formatted before the lock is taken again: jails log from their own
    // threads, and only the write needs to be one at a time.
    let pid = std::process::id();
    let record = match kind {
        SinkKind::Lines => {
            let kept = HELD.with(|held| match held.borrow_mut().as_mut() {
                Some(buffer) => {
                    let time = asctime();
                    let level_name = level.name();
                    let _ = writeln!(
                        buffer,
                        "{time} {name:<24}[{pid}]: {level_name:<7} {message}"
                    );
                    true
                }
                None => false,
            });
            if kept {
                return;
            }
            line(name, pid, &level.name(), message).into_bytes()
        }
        SinkKind::Syslog(facility) => syslog_record(facility, name, pid, level, message),
        SinkKind::Journal => journal_record(name, pid, level, message).into_bytes(),
    };
    let mut guard = logger().lock().unwrap_or_else(PoisonError::into_inner);
    // A target changed between the two locks gets the record in the form formatted for the
    // old one, at worst.
    let _ = match &mut guard.sink {
        Sink::Stdout => std::io::stdout().write_all(&record),
        Sink::Stderr | Sink::Journal(None) => std::io::stderr().write_all(&record),
        Sink::File(file) => file.write_all(&record),
        Sink::Syslog(syslog) => syslog.send(&record),
        Sink::Journal(Some(socket)) => socket.send(&record).map(drop),
    };
}

/// fail2ban's `%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s %(message)s`.
fn line(name: &str, pid: u32, level_name: &str, message: &str) -> String {
    let time = asctime();
    format!("{time} {name:<24}[{pid}]: {level_name:<7} {message}\n")
}

/// The local time as `%Y-%m-%d %H:%M:%S,%3f`. The date and time to the second are kept
/// per thread and formatted again only when the second changes: a burst of log lines
/// (a `Found` per failure) costs a clock read each, not a time-zone conversion.
fn asctime() -> String {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = jiff::Timestamp::now();
    let (second, millis) = (now.as_second(), now.subsec_millisecond());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != second {
            let text = now
                .to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string();
            *last = (second, text);
        }
        format!("{},{millis:03}", last.1)
    })
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
    fn held_lines_are_written_together_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        configure(path.to_str().unwrap(), Level::INFO).unwrap();
        let read = || std::fs::read_to_string(&path).unwrap();
        let during = hold(|| {
            log("ferroban.filter", Level::INFO, "[j] Found 192.0.2.1");
            hold(|| log("ferroban.actions", Level::NOTICE, "[j] Ban 192.0.2.1"));
            log("ferroban.filter", Level::DEBUG, "below the level");
            read()
        });
        // Other tests of this process may log meanwhile: look at this test's lines only.
        assert!(
            !during.contains("[j] "),
            "nothing of it is written while held: {during}"
        );
        let after = read();
        let lines: Vec<&str> = after.lines().filter(|l| l.contains("[j] ")).collect();
        assert_eq!(lines.len(), 2, "{after}");
        assert!(lines[0].ends_with("INFO    [j] Found 192.0.2.1"), "{after}");
        assert!(lines[1].ends_with("NOTICE  [j] Ban 192.0.2.1"), "{after}");
        configure("STDERR", Level::INFO).unwrap();
    }

    #[test]
    fn lines_have_fail2ban_layout() {
        let first = line("ferroban.jail", 7, "INFO", "[sshd] Found 192.0.2.1");
        let second = line("ferroban.jail", 7, "NOTICE", "[sshd] Ban 192.0.2.1");
        let time_layout = |text: &str| {
            text.char_indices().all(|(at, c)| match at {
                4 | 7 => c == '-',
                10 => c == ' ',
                13 | 16 => c == ':',
                19 => c == ',',
                _ => c.is_ascii_digit(),
            })
        };
        assert!(time_layout(&first[..23]), "{first:?}");
        assert_eq!(
            &first[23..],
            " ferroban.jail           [7]: INFO    [sshd] Found 192.0.2.1\n"
        );
        assert!(time_layout(&second[..23]), "{second:?}");
        assert_eq!(
            &second[23..],
            " ferroban.jail           [7]: NOTICE  [sshd] Ban 192.0.2.1\n"
        );
    }

    #[test]
    fn syslog_record_is_what_python_syslog_handler_sends() {
        let record = syslog_record(
            3,
            "ferroban.actions",
            42,
            Level::NOTICE,
            "[sshd] Ban 1.2.3.4",
        );
        assert_eq!(
            record,
            b"<29>ferroban.actions[42]: NOTICE [sshd] Ban 1.2.3.4\0"
        );
        let record = syslog_record(4, "ferroban.filter", 7, Level::INFO, "x");
        assert_eq!(record, b"<38>ferroban.filter[7]: INFO x\0");
    }

    #[test]
    fn target_options_and_facilities() {
        let (name, options) = split_options("SYSLOG[facility=local3, padding=0]");
        assert_eq!(name, "SYSLOG");
        assert_eq!(
            options,
            [
                ("facility".to_string(), "local3".to_string()),
                ("padding".to_string(), "0".to_string())
            ]
        );
        assert_eq!(split_options("/var/log/x.log").0, "/var/log/x.log");
        assert_eq!(facility_number("local3"), Some(19));
        assert_eq!(facility_number("AUTH"), Some(4));
        assert_eq!(facility_number("daemon"), Some(3));
        assert_eq!(facility_number("nowhere"), None);
    }

    #[test]
    fn syslog_socket_must_be_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-socket");
        std::fs::write(&path, "").unwrap();
        let error = open_syslog(path.to_str().unwrap(), &[]).unwrap_err();
        assert!(error.to_string().contains("is not a socket"), "{error}");
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
