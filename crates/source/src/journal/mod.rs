//! The systemd journal as a source, read by following `journalctl -o json`.
//!
//! Why journalctl and not libsystemd: the `systemd` crate links libsystemd
//! (needs libsystemd-dev to build and a matching .so at run time) and wraps a
//! C API with `unsafe`; journalctl is present wherever journald is, speaks a
//! stable JSON format, and applies `journalmatch` with the very semantics of
//! sd_journal_add_match/add_disjunction that fail2ban relies on. A child
//! process also keeps the journal files' mmaps and their rotation handling
//! out of the daemon.
//!
//! Where to start: after a saved cursor, or at a time (fail2ban seeks to
//! `now - findtime`, or to the time saved in its database). Never with
//! `-n 0` ("from the tail"): that was seen to drop entries written right
//! after startup when a match filter is given. `--no-tail` makes sure
//! `--follow` does not limit the backlog to the last 10 lines.

mod format;
mod matches;

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

pub use format::{JournalEntry, format_journal_entry};
pub use matches::JournalMatch;

use crate::{DEFAULT_MAX_LINE_LEN, Encoding};

/// An error of the journal source.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A `journalmatch` value that journalctl would not accept.
    #[error("invalid journalmatch {value:?}: {message}")]
    BadMatch { value: String, message: String },
    /// journalctl could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn { program: PathBuf, source: io::Error },
    /// journalctl ended (bad cursor, no journal access, killed, ...).
    #[error("journalctl exited ({status}): {stderr}")]
    Exited { status: String, stderr: String },
}

/// Where reading the journal starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalStart {
    /// Just after the entry with this `__CURSOR`.
    AfterCursor(String),
    /// At the first entry at or after this time.
    Since(SystemTime),
}

/// The journal options of a jail (`journalmatch`, `journalpath`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// The journalctl binary (a path or a name looked up in PATH).
    pub journalctl: PathBuf,
    /// All `journalmatch` lines; OR'ed. Empty: every entry.
    pub matches: Vec<JournalMatch>,
    pub start: JournalStart,
    /// For fields that are not UTF-8 (`logencoding`).
    pub encoding: Encoding,
    pub max_line_len: usize,
    /// Only the system journal, not users' (fail2ban's default
    /// `journalflags`, SD_JOURNAL_SYSTEM, when no path or files are given).
    pub system_only: bool,
    /// `journalpath`: a journal directory.
    pub directory: Option<PathBuf>,
    /// `journalfiles`: journal files (journalctl expands globs).
    pub files: Vec<PathBuf>,
    /// `namespace`: a journald namespace.
    pub namespace: Option<String>,
    /// Longest JSON record read; longer ones are skipped and counted.
    pub max_record_len: usize,
}

impl JournalOptions {
    /// The defaults fail2ban uses, starting at `start`.
    pub fn new(start: JournalStart) -> JournalOptions {
        JournalOptions {
            journalctl: PathBuf::from("journalctl"),
            matches: Vec::new(),
            start,
            encoding: Encoding::Utf8,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            system_only: true,
            directory: None,
            files: Vec::new(),
            namespace: None,
            max_record_len: 4 << 20,
        }
    }

    /// The journalctl command line after the program name.
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments: Vec<String> = [
            "--follow",
            "--no-tail",
            "--no-pager",
            "--quiet",
            "--all",
            "--output=json",
            "--output-fields=MESSAGE,_HOSTNAME,SYSLOG_IDENTIFIER,_COMM,SYSLOG_PID,_PID,\
             _SOURCE_REALTIME_TIMESTAMP,_SOURCE_MONOTONIC_TIMESTAMP",
        ]
        .map(String::from)
        .into();
        arguments.push(match &self.start {
            JournalStart::AfterCursor(cursor) => format!("--after-cursor={cursor}"),
            JournalStart::Since(time) => format!("--since=@{}", unix_seconds(*time)),
        });
        let uses_files = self.directory.is_some() || !self.files.is_empty();
        if self.system_only && !uses_files {
            arguments.push("--system".into());
        }
        if let Some(directory) = &self.directory {
            arguments.push(format!("--directory={}", directory.display()));
        }
        for file in &self.files {
            arguments.push(format!("--file={}", file.display()));
        }
        if let Some(namespace) = &self.namespace {
            arguments.push(format!("--namespace={namespace}"));
        }
        arguments.extend(JournalMatch::arguments(&self.matches));
        arguments
    }
}

/// `@seconds.micros` for journalctl's `--since`.
fn unix_seconds(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:06}",
        since_epoch.as_secs(),
        since_epoch.subsec_micros()
    )
}

/// Counters of a journal source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub entries: u64,
    /// Records that were not JSON objects with a cursor and a timestamp.
    pub malformed: u64,
    /// Records longer than `max_record_len`.
    pub oversized: u64,
}

/// What the reader thread passes on.
enum Record {
    Entry(JournalEntry),
    Malformed,
    Oversized,
    End,
}

/// A running `journalctl --follow`. Dropping it kills journalctl.
#[derive(Debug)]
pub struct JournalSource {
    child: Child,
    records: Receiver<Record>,
    stderr: Option<JoinHandle<String>>,
    ended: Option<(String, String)>,
    last_cursor: Option<String>,
    stats: JournalStats,
    in_operation: bool,
    /// When the last entry arrived (or journalctl started).
    last_activity: Instant,
}

/// How long the journal must stay quiet before the backlog counts as read.
const CAUGHT_UP_IDLE: Duration = Duration::from_secs(1);

impl JournalSource {
    /// Starts journalctl. Entries are read ahead by a thread into a bounded
    /// queue (journalctl blocks when the daemon falls behind).
    pub fn spawn(options: &JournalOptions) -> Result<JournalSource, JournalError> {
        let mut child = Command::new(&options.journalctl)
            .args(options.arguments())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| JournalError::Spawn {
                program: options.journalctl.clone(),
                source,
            })?;
        let (sender, records) = mpsc::sync_channel(1024);
        if let Some(stdout) = child.stdout.take() {
            let settings = (
                options.encoding,
                options.max_line_len,
                options.max_record_len,
            );
            thread::spawn(move || read_records(stdout, settings, &sender));
        }
        let stderr = child
            .stderr
            .take()
            .map(|stderr| thread::spawn(move || read_tail(stderr)));
        Ok(JournalSource {
            child,
            records,
            stderr,
            ended: None,
            last_cursor: None,
            stats: JournalStats::default(),
            in_operation: false,
            last_activity: Instant::now(),
        })
    }

    /// The next entry, waiting at most `timeout`; `Ok(None)` on timeout.
    /// Once journalctl has ended every call returns [`JournalError::Exited`].
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<JournalEntry>, JournalError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((status, stderr)) = &self.ended {
                return Err(JournalError::Exited {
                    status: status.clone(),
                    stderr: stderr.clone(),
                });
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let record = match self.records.recv_timeout(remaining) {
                Ok(record) => record,
                Err(RecvTimeoutError::Timeout) => {
                    if self.last_activity.elapsed() >= CAUGHT_UP_IDLE {
                        self.in_operation = true;
                    }
                    return Ok(None);
                }
                Err(RecvTimeoutError::Disconnected) => Record::End,
            };
            match record {
                Record::Entry(mut entry) => {
                    self.note_operation(&mut entry);
                    self.stats.entries += 1;
                    self.last_cursor = Some(entry.cursor.clone());
                    return Ok(Some(entry));
                }
                Record::Malformed => self.stats.malformed += 1,
                Record::Oversized => self.stats.oversized += 1,
                Record::End => self.finish(),
            }
        }
    }

    /// The cursor of the last entry returned: what to save for a restart.
    pub fn last_cursor(&self) -> Option<&str> {
        self.last_cursor.as_deref()
    }

    pub fn stats(&self) -> &JournalStats {
        &self.stats
    }

    /// fail2ban's switch to operation mode: an entry from the last second
    /// means the backlog is behind us (`FilterSystemd.run`).
    fn note_operation(&mut self, entry: &mut JournalEntry) {
        self.last_activity = Instant::now();
        let recent = SystemTime::now()
            .checked_sub(Duration::from_secs(1))
            .is_none_or(|limit| entry.realtime >= limit);
        self.in_operation |= recent;
        entry.in_operation = self.in_operation;
    }

    /// Collects journalctl's exit status and error output.
    fn finish(&mut self) {
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        self.ended = Some((status, stderr));
    }
}

impl Drop for JournalSource {
    fn drop(&mut self) {
        // Errors mean it already exited; the reader threads end on EOF.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reader thread: one JSON object per line of journalctl's output.
fn read_records(
    stdout: ChildStdout,
    (encoding, max_line_len, max_record_len): (Encoding, usize, usize),
    sender: &SyncSender<Record>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        let record = match read_bounded_line(&mut reader, &mut line, max_record_len) {
            Ok(None) | Err(_) => break,
            Ok(Some(false)) => Record::Oversized,
            Ok(Some(true)) => serde_json::from_slice::<Map<String, Value>>(&line)
                .ok()
                .and_then(|record| format_journal_entry(&record, encoding, max_line_len))
                .map_or(Record::Malformed, Record::Entry),
        };
        if sender.send(record).is_err() {
            return;
        }
    }
    let _ = sender.send(Record::End);
}

/// Reads one line into `line` (without the newline). `Some(false)` when it
/// was longer than `max` (its bytes are skipped, not kept); `None` at EOF.
fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    line.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(end) => (&available[..end], Some(end + 1)),
            None => (available, None),
        };
        if fits && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            fits = false;
            line.clear();
        }
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        if done.is_some() {
            return Ok(Some(fits));
        }
    }
}

/// The last few KiB of journalctl's error output, for the exit error.
fn read_tail(mut stderr: impl Read) -> String {
    const KEEP: usize = 4096;
    let mut kept = Vec::new();
    let mut buffer = [0; 1024];
    while let Ok(read) = stderr.read(&mut buffer) {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > KEEP {
            kept.drain(..kept.len() - KEEP);
        }
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
