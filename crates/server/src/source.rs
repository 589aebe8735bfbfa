//! A jail's log source thread: reads new lines (files with inotify, or the journal), runs
//! the jail's filter over them and sends each failure to the jail's owner thread.
//!
//! The filter lives here, not in the jail thread, so a burst of lines is filtered while
//! the jail thread runs a ban action. After every batch of lines, before the next wait,
//! the read position goes to the jail thread behind the batch's failures
//! ([`JailCmd::Read`]), which saves it with the failure windows those lines changed: after
//! a kill, a restart resumes both from the same line, so no line is lost or counted twice.

use std::collections::HashSet;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferroban_date::TimeContext;
use ferroban_filter::{Failure as FilterFailure, Filter, FilterOptions, IdKind};
use ferroban_source::{
    Encoding, FileSource, FileSourceOptions, JournalMatch, JournalOptions, JournalSource,
    JournalStart, LogPathSpec, Watcher, WatcherWaker,
};
use ferroban_store::LogPosition;
use ferroban_tracker::{FailId, Failure, FailureData};

use crate::JailStartError;
use crate::jail::{FAILURE_BATCH, JailCmd};
use crate::log::Level;
use crate::log_at;
use crate::metrics::{JOURNAL_PATH, SourceMetrics};
use crate::now_float;
use crate::setup::{Backend, JailConfig, UseDns};
use crate::source_faults::{SourceFaults, log_descriptors};
use crate::store::{SharedStore, load_checkpoints};

const FILTER_LOG: &str = "fail2ban.filter";
/// The pseudo path under which a journal jail's cursor is saved.
const JOURNAL_POSITION: &str = "<journal>";
/// How long a journal source waits before looking at its stop flag again.
const JOURNAL_TICK: Duration = Duration::from_millis(250);

/// A running source thread.
pub struct SourceHandle {
    stop: Arc<AtomicBool>,
    waker: Option<WatcherWaker>,
    thread: Option<JoinHandle<()>>,
    /// The files being followed now, for `status JAIL`.
    pub files: Arc<Mutex<Vec<String>>>,
}

impl SourceHandle {
    /// Stops the thread and waits for it (it saves its position first).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(waker) = &self.waker {
            waker.wake();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn files(&self) -> Vec<String> {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What turns lines into failures for one jail.
struct LineFilter {
    jail: String,
    filter: Filter,
    usedns: UseDns,
    /// See [`JailConfig::keep_matches`].
    keep_matches: bool,
    time: TimeContext,
    sender: SyncSender<JailCmd>,
    /// Failures found since the last [`LineFilter::flush`].
    pending: Vec<Failure>,
    /// Lines in which the filter found no date, since the last batch's metrics.
    without_date: u64,
    metrics: SourceMetrics,
}

impl LineFilter {
    fn new(
        config: &JailConfig,
        sender: SyncSender<JailCmd>,
    ) -> Result<Option<LineFilter>, JailStartError> {
        let Some(definition) = &config.filter else {
            return Ok(None);
        };
        let mut filter = Filter::new(definition)?;
        let mut options = FilterOptions::daemon(config.find_time() as f64);
        options.raw_host = config.usedns == UseDns::Raw;
        filter.set_options(options);
        // `logtimezone` is in the filter definition (the date detector's default zone); the
        // context carries the machine's local zone, as fail2ban's `time.mktime` does.
        let time = TimeContext::local(now_float());
        Ok(Some(LineFilter {
            jail: config.name.clone(),
            filter,
            usedns: config.usedns,
            keep_matches: config.keep_matches,
            time,
            sender,
            pending: Vec::new(),
            without_date: 0,
            metrics: SourceMetrics::new(&config.name),
        }))
    }

    fn set_in_operation(&mut self, in_operation: bool) {
        let mut options = self.filter.options();
        if options.in_operation != in_operation {
            options.in_operation = in_operation;
            self.filter.set_options(options);
        }
    }

    fn line(&mut self, text: &str, in_operation: bool) {
        self.set_in_operation(in_operation);
        let result = self.filter.process_line(text, &self.time);
        self.without_date += u64::from(result.date.is_none());
        for failure in result.failures {
            self.send(failure);
        }
    }

    fn journal_line(&mut self, text: &str, time: f64, in_operation: bool) {
        self.set_in_operation(in_operation);
        let result = self.filter.process_line_with_time(text, time);
        for failure in result.failures {
            self.send(failure);
        }
    }

    /// Hands the failures found so far to the jail. Blocks while the jail's queue is full:
    /// the rest of a burst waits in the file. The jail thread being gone means the jail is
    /// stopping.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            let _ = self.sender.send(JailCmd::Failures(batch));
        }
    }

    fn send(&mut self, found: FilterFailure) {
        if found.nofail {
            return;
        }
        let Some(id) = found.id.as_deref() else {
            return;
        };
        let time = found
            .time
            .map_or(self.time.now as i64, |t| t.round() as i64);
        let ids = self.resolve(id, found.id_kind);
        let mut matches = if self.keep_matches {
            found.matches
        } else {
            Vec::new()
        };
        // Packed here, where the groups were allocated: the jail's thread frees one
        // allocation per failure.
        let mut data = FailureData::from(&found.groups);
        let last = ids.len().saturating_sub(1);
        for (index, id) in ids.into_iter().enumerate() {
            // Usually one id: the last one takes the lines and groups, the others copies.
            let (matches, data) = if index == last {
                (std::mem::take(&mut matches), std::mem::take(&mut data))
            } else {
                (matches.clone(), data.clone())
            };
            let failure = Failure {
                id,
                time,
                attempts: 0,
                matches,
                data,
            };
            self.pending.push(failure);
            if self.pending.len() >= FAILURE_BATCH {
                self.flush();
            }
        }
    }

    /// The ids a failure counts against, after `usedns`.
    fn resolve(&self, id: &str, kind: IdKind) -> Vec<FailId> {
        if kind != IdKind::Dns || self.usedns == UseDns::Raw {
            return vec![FailId::parse(id)];
        }
        if self.usedns == UseDns::No {
            return Vec::new();
        }
        let addresses: Vec<IpAddr> = (id, 0)
            .to_socket_addrs()
            .map(|found| found.map(|a| a.ip()).collect())
            .unwrap_or_default();
        if self.usedns == UseDns::Warn && !addresses.is_empty() {
            log_at!(
                FILTER_LOG,
                Level::WARNING,
                "[{}] Determined IP using DNS Lookup: {id} = {addresses:?}",
                self.jail
            );
        }
        let mut unique: Vec<IpAddr> = Vec::new();
        for address in addresses {
            if !unique.contains(&address) {
                unique.push(address);
            }
        }
        unique.into_iter().map(FailId::from).collect()
    }
}

/// Starts the source thread of a jail; `None` when the jail has no filter.
pub fn spawn(
    config: &JailConfig,
    sender: SyncSender<JailCmd>,
    store: Option<SharedStore>,
) -> Result<Option<SourceHandle>, JailStartError> {
    let Some(filter) = LineFilter::new(config, sender)? else {
        return Ok(None);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let files = Arc::new(Mutex::new(Vec::new()));
    let thread_name = format!("source {}", config.name);
    let (thread, waker) = match &config.backend {
        Backend::Files { polling } => {
            let source = open_files(config, store.as_ref())?;
            // Published before the thread runs, so that the reply to the command that
            // started it (`set JAIL addlogpath`) lists the files.
            *files.lock().unwrap_or_else(PoisonError::into_inner) =
                source.paths().map(|p| p.display().to_string()).collect();
            let watcher = if *polling {
                Watcher::polling(Duration::from_secs(1))
            } else {
                Watcher::new(Duration::from_secs(5))
            };
            let waker = watcher.waker();
            let run = FileLoop {
                source,
                watcher,
                filter,
                long_lines: LongLines::new(config.max_line_len),
                stop: stop.clone(),
                files: files.clone(),
                store,
            };
            (spawn_named(thread_name, move || run.run())?, Some(waker))
        }
        Backend::Journal { matches } => {
            let journal = open_journal(config, matches, store.as_ref())?;
            *files.lock().unwrap_or_else(PoisonError::into_inner) = Vec::new();
            let run = JournalLoop {
                journal,
                filter,
                long_lines: LongLines::new(config.max_line_len),
                bytes_read: 0,
                stop: stop.clone(),
                store,
            };
            (spawn_named(thread_name, move || run.run())?, None)
        }
    };
    Ok(Some(SourceHandle {
        stop,
        waker,
        thread: Some(thread),
        files,
    }))
}

fn spawn_named(
    name: String,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, JailStartError> {
    Ok(std::thread::Builder::new().name(name).spawn(body)?)
}

fn open_files(
    config: &JailConfig,
    store: Option<&SharedStore>,
) -> Result<FileSource, JailStartError> {
    let specs = config
        .logpaths
        .iter()
        .map(|line| LogPathSpec::parse(line))
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() {
        return Err(JailStartError::NoLogPath);
    }
    let paths: Vec<PathBuf> = specs.iter().flat_map(expand_for_checkpoints).collect();
    // A dangling link is reported by the source itself.
    for path in paths.iter().filter(|path| path.symlink_metadata().is_err()) {
        log_at!(
            FILTER_LOG,
            Level::WARNING,
            "[{}] {} does not exist yet: waiting for it",
            config.name,
            path.display()
        );
    }
    let checkpoints = load_checkpoints(store, &config.name, &paths);
    let mut options = FileSourceOptions {
        max_line_len: config.max_line_len,
        descriptors: log_descriptors().clone(),
        ..FileSourceOptions::default()
    };
    if let Some(label) = &config.logencoding
        && !label.eq_ignore_ascii_case("auto")
    {
        options.encoding = Encoding::from_label(label)?;
    }
    Ok(FileSource::new(specs, options, checkpoints)?)
}

/// The paths a spec names now, to look up their saved positions.
fn expand_for_checkpoints(spec: &LogPathSpec) -> Vec<PathBuf> {
    if !spec.pattern.contains(['*', '?', '[']) {
        return vec![PathBuf::from(&spec.pattern)];
    }
    glob::glob(&spec.pattern)
        .map(|paths| paths.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

struct FileLoop {
    source: FileSource,
    watcher: Watcher,
    filter: LineFilter,
    /// The files a line too long was found in, each reported once.
    long_lines: LongLines,
    stop: Arc<AtomicBool>,
    files: Arc<Mutex<Vec<String>>>,
    store: Option<SharedStore>,
}

impl FileLoop {
    fn run(mut self) {
        let mut faults = SourceFaults::default();
        // Watch first, then look again: a missing log created between the source's first
        // look and its watches would otherwise wait for the next rescan.
        self.watcher.watch(self.source.watch_targets());
        self.source.rescan();
        self.publish_files();
        while !self.stop.load(Ordering::SeqCst) {
            self.filter.time.now = now_float();
            let (filter, long_lines) = (&mut self.filter, &mut self.long_lines);
            let outcome = self.source.poll_lines(&mut |line| {
                if line.truncated {
                    let at = format!("the line at byte {}", line.offset);
                    long_lines.found(&filter.jail, line.path, &at);
                }
                filter.line(line.text, line.in_operation)
            });
            // Before the positions are saved: a failure is with the jail before its line
            // counts as read.
            self.filter.flush();
            faults.report(
                &self.filter.jail,
                outcome.errors,
                &self.source,
                log_descriptors(),
            );
            self.count(outcome.lines);
            if outcome.lines > 0 {
                self.save();
            }
            // A backlog is read a piece at a time, each saved with its position, so that
            // the windows changed since the last save stay few.
            if outcome.behind {
                continue;
            }
            self.publish_files();
            self.watcher.watch(self.source.watch_targets());
            if let Some(problem) = self.watcher.take_problem() {
                faults.watch_problem(&self.filter.jail, problem);
            }
            self.watcher.wait();
        }
        self.save();
    }

    /// One batch's metrics: counted per batch, so a line costs one increment.
    fn count(&mut self, lines: usize) {
        let filter = &mut self.filter;
        let without_date = std::mem::take(&mut filter.without_date);
        filter.metrics.add_lines(lines as u64, without_date);
        for (path, stats) in self.source.file_stats() {
            filter
                .metrics
                .file_totals(path, stats.bytes_read, stats.rotations);
        }
    }

    /// Hands the positions to the jail, behind the failures found before them.
    fn save(&self) {
        if self.store.is_none() {
            return;
        }
        let positions = self
            .source
            .checkpoints()
            .into_iter()
            .map(|checkpoint| {
                let path = checkpoint.path.display().to_string();
                let position = LogPosition::File {
                    first_line_md5: checkpoint.first_line_md5,
                    inode: Some(checkpoint.inode),
                    offset: checkpoint.offset,
                };
                (path, position)
            })
            .collect();
        // The jail being gone means it is stopping: its windows are not saved either.
        let _ = self.filter.sender.send(JailCmd::Read(positions));
    }

    fn publish_files(&self) {
        let paths: Vec<String> = self
            .source
            .paths()
            .map(|p| p.display().to_string())
            .collect();
        *self.files.lock().unwrap_or_else(PoisonError::into_inner) = paths;
    }
}

/// Reports lines longer than `maxlinelen`: once per file, since a writer of long lines
/// usually writes many.
struct LongLines {
    limit: usize,
    reported: HashSet<PathBuf>,
}

impl LongLines {
    fn new(limit: usize) -> Self {
        LongLines {
            limit,
            reported: HashSet::new(),
        }
    }

    /// `line` says which line, e.g. "the line at byte 1234".
    fn found(&mut self, jail: &str, path: &Path, line: &str) {
        if self.reported.insert(path.to_path_buf()) {
            log_at!(
                FILTER_LOG,
                Level::WARNING,
                "[{jail}] {}: {line} is longer than maxlinelen = {} bytes: \
                 only its first {} bytes are matched (not reported again for this log)",
                path.display(),
                self.limit,
                self.limit
            );
        }
    }
}

fn open_journal(
    config: &JailConfig,
    matches: &[String],
    store: Option<&SharedStore>,
) -> Result<JournalSource, JailStartError> {
    let saved_cursor = store.and_then(|store| {
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        store
            .get_log_position(&config.name, JOURNAL_POSITION)
            .ok()
            .flatten()
            .and_then(|p| match p {
                LogPosition::Journal { cursor } => Some(cursor),
                LogPosition::File { .. } => None,
            })
            .filter(|c| !c.is_empty())
    });
    // Never from the tail: with a match filter `journalctl -f -n 0` was seen to drop
    // entries. Without a saved cursor, start `findtime` ago, as fail2ban does.
    let start = match saved_cursor {
        Some(cursor) => JournalStart::AfterCursor(cursor),
        None => {
            let back = Duration::from_secs(config.find_time().max(0) as u64);
            JournalStart::Since(SystemTime::now() - back)
        }
    };
    let mut options = JournalOptions::new(start);
    options.max_line_len = config.max_line_len;
    options.matches = matches
        .iter()
        .map(|line| JournalMatch::parse(line))
        .collect::<Result<_, _>>()?;
    if let Ok(journalctl) = std::env::var("FERROBAN_JOURNALCTL") {
        options.journalctl = PathBuf::from(journalctl);
    }
    Ok(JournalSource::spawn(&options)?)
}

struct JournalLoop {
    journal: JournalSource,
    filter: LineFilter,
    long_lines: LongLines,
    /// Bytes of the entries' messages read so far.
    bytes_read: u64,
    stop: Arc<AtomicBool>,
    store: Option<SharedStore>,
}

impl JournalLoop {
    fn run(mut self) {
        let mut unsaved = false;
        let mut last_save = std::time::Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            match self.journal.recv_timeout(JOURNAL_TICK) {
                Ok(Some(entry)) => {
                    let time = entry
                        .realtime
                        .duration_since(UNIX_EPOCH)
                        .map_or(now_float(), |d| d.as_secs_f64());
                    self.filter.time.now = now_float();
                    if entry.truncated {
                        let journal = Path::new(JOURNAL_POSITION);
                        self.long_lines
                            .found(&self.filter.jail, journal, "an entry");
                    }
                    self.filter
                        .journal_line(&entry.line, time, entry.in_operation);
                    self.filter.flush();
                    self.count(entry.line.len());
                    unsaved = true;
                    // A steady stream never goes idle: save its cursor once a second.
                    if last_save.elapsed() >= Duration::from_secs(1) {
                        self.save();
                        unsaved = false;
                        last_save = std::time::Instant::now();
                    }
                }
                Ok(None) => {
                    if unsaved {
                        self.save();
                        unsaved = false;
                        last_save = std::time::Instant::now();
                    }
                }
                Err(error) => {
                    log_at!(
                        FILTER_LOG,
                        Level::ERROR,
                        "[{}] journal: {error}",
                        self.filter.jail
                    );
                    return;
                }
            }
        }
        self.save();
    }

    /// A journal entry is a line that carries its time: it always has a date.
    fn count(&mut self, bytes: usize) {
        let metrics = &mut self.filter.metrics;
        metrics.add_lines(1, 0);
        self.bytes_read += bytes as u64;
        metrics.file_totals(Path::new(JOURNAL_PATH), self.bytes_read, 0);
    }

    /// Hands the cursor to the jail, behind the failures found before it.
    fn save(&self) {
        let (Some(_), Some(cursor)) = (&self.store, self.journal.last_cursor()) else {
            return;
        };
        let position = LogPosition::Journal {
            cursor: cursor.to_string(),
        };
        let positions = vec![(JOURNAL_POSITION.to_string(), position)];
        let _ = self.filter.sender.send(JailCmd::Read(positions));
    }
}
