//! Prometheus metrics: one process-wide registry (prometheus-client), encoded in the
//! Prometheus text format 0.0.4 by the HTTP endpoint ([`http`], opt-in with `metrics =`
//! in `fail2ban.local`) and by the control command `metrics`, so both print the same text.
//!
//! Who writes what:
//! - a jail's thread publishes its tracker's numbers after every command it handles
//!   ([`JailMetrics::publish`]): failures, bans and unbans as counters, currently banned
//!   and currently failed as gauges;
//! - a jail's log thread adds its lines, lines without a date, and per file the bytes read
//!   and rotations seen, once per batch of lines ([`SourceMetrics`]);
//! - the jail's actions add their errors and durations ([`action_errors`], [`timed`]);
//! - process metrics are read from `/proc/self` at each scrape ([`process`]).
//!
//! The gauges are kept in step by the jail's own thread rather than collected at scrape
//! time: a scrape then never waits for a jail that is busy running a slow ban action, and
//! the per-line path touches no lock (every handle is taken once, then only atomic adds).

pub(crate) mod http;
mod process;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Instant;

use ferroban_tracker::JailStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of what [`encode`] produces.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The label of a source's series for a journal jail (a file jail's are the file paths).
pub(crate) const JOURNAL_PATH: &str = "journal";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JailLabels {
    jail: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    jail: String,
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    jail: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily = Family<ActionLabels, Histogram, fn() -> Histogram>;

/// Upper bounds (seconds) of the action-duration buckets: a native firewall call takes
/// milliseconds, a shell action tens of them, a mail or a remote API seconds.
const ACTION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

fn action_histogram() -> Histogram {
    Histogram::new(ACTION_BUCKETS)
}

/// Every family, registered once.
struct Metrics {
    registry: Registry,
    failures: Family<JailLabels, Counter>,
    bans: Family<JailLabels, Counter>,
    unbans: Family<JailLabels, Counter>,
    banned: Family<JailLabels, Gauge>,
    failed: Family<JailLabels, Gauge>,
    lines: Family<JailLabels, Counter>,
    lines_without_date: Family<JailLabels, Counter>,
    bytes_read: Family<SourceLabels, Counter>,
    rotations: Family<SourceLabels, Counter>,
    action_errors: Family<ActionLabels, Counter>,
    action_duration: HistogramFamily,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::default(),
            failures: Family::default(),
            bans: Family::default(),
            unbans: Family::default(),
            banned: Family::default(),
            failed: Family::default(),
            lines: Family::default(),
            lines_without_date: Family::default(),
            bytes_read: Family::default(),
            rotations: Family::default(),
            action_errors: Family::default(),
            action_duration: HistogramFamily::new_with_constructor(action_histogram),
        };
        // The process metrics keep the names every Prometheus client library gives them.
        let mut registry = Registry::default();
        registry.register_collector(Box::new(process::ProcessCollector));
        metrics.register_into(registry.sub_registry_with_prefix("ferroban"));
        metrics.registry = registry;
        metrics
    }

    fn register_into(&self, registry: &mut Registry) {
        let build = Info::new(BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        });
        registry.register("build", "The version of ferroban running", build);
        let jail = [
            (
                "failures",
                "Failures a jail counted (fail2ban's Total failed)",
                &self.failures,
            ),
            (
                "bans",
                "Bans a jail made, restored ones included (fail2ban's Total banned)",
                &self.bans,
            ),
            (
                "unbans",
                "Bans a jail lifted: expired, by command, or at its stop",
                &self.unbans,
            ),
            ("lines_read", "Log lines a jail read", &self.lines),
            (
                "lines_without_date",
                "Log lines in which a jail's filter found no date",
                &self.lines_without_date,
            ),
        ];
        for (name, help, family) in jail {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "currently_banned",
            "Addresses a jail bans now (fail2ban's Currently banned)",
            self.banned.clone(),
        );
        registry.register(
            "currently_failed",
            "Addresses with failures inside a jail's findtime (fail2ban's Currently failed)",
            self.failed.clone(),
        );
        registry.register_with_unit(
            "source_read",
            "Bytes a jail read from a log source",
            Unit::Bytes,
            self.bytes_read.clone(),
        );
        registry.register(
            "source_rotations",
            "Times a log file was replaced or removed (rotated) under a jail",
            self.rotations.clone(),
        );
        registry.register(
            "action_errors",
            "Action commands that failed, per jail and operation",
            self.action_errors.clone(),
        );
        registry.register_with_unit(
            "action_duration",
            "Time a jail's actions took for one operation (all its actions together)",
            Unit::Seconds,
            self.action_duration.clone(),
        );
    }
}

/// The exposition: every metric in the Prometheus text format.
pub(crate) fn encode() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an error here could only come from a metric's
    // own encoding, which would leave the text cut short rather than the daemon down.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &METRICS.registry);
    text
}

fn jail_labels(jail: &str) -> JailLabels {
    JailLabels {
        jail: jail.to_string(),
    }
}

/// A jail's tracker numbers, published by the jail's thread.
#[derive(Debug)]
pub(crate) struct JailMetrics {
    jail: String,
    failures: Counter,
    bans: Counter,
    unbans: Counter,
    banned: Gauge,
    failed: Gauge,
    /// What the tracker said at the last publish: counters move by the difference, so they
    /// keep counting across a jail's restart (a new tracker starts at zero).
    last: Totals,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    failures: u64,
    bans: u64,
    unbans: u64,
}

impl Totals {
    /// Every ban the tracker made is either current or was lifted: the unbans are the
    /// difference, whatever lifted them (expiry, a command, the jail's stop).
    fn of(status: &JailStatus) -> Totals {
        Totals {
            failures: status.total_failed,
            bans: status.total_banned,
            unbans: status
                .total_banned
                .saturating_sub(status.currently_banned as u64),
        }
    }
}

impl JailMetrics {
    pub(crate) fn new(jail: &str) -> JailMetrics {
        let labels = jail_labels(jail);
        let metrics = &*METRICS;
        // The action series exist from the start (at zero), as a family without a series
        // is not exposed at all.
        for operation in TIMED_OPERATIONS {
            let labels = action_labels(jail, operation);
            drop(metrics.action_errors.get_or_create(&labels));
            drop(metrics.action_duration.get_or_create(&labels));
        }
        JailMetrics {
            jail: jail.to_string(),
            failures: metrics.failures.get_or_create_owned(&labels),
            bans: metrics.bans.get_or_create_owned(&labels),
            unbans: metrics.unbans.get_or_create_owned(&labels),
            banned: metrics.banned.get_or_create_owned(&labels),
            failed: metrics.failed.get_or_create_owned(&labels),
            last: Totals::default(),
        }
    }

    /// Publishes `status` (the tracker's numbers; its list of bans is not read).
    pub(crate) fn publish(&mut self, status: &JailStatus) {
        let now = Totals::of(status);
        self.failures
            .inc_by(now.failures.saturating_sub(self.last.failures));
        self.bans.inc_by(now.bans.saturating_sub(self.last.bans));
        self.unbans
            .inc_by(now.unbans.saturating_sub(self.last.unbans));
        self.last = now;
        self.banned.set(gauge_value(status.currently_banned));
        self.failed.set(gauge_value(status.currently_failed));
    }

    /// The jail stopped: its last numbers counted, its gauges leave the exposition (a
    /// stopped jail bans nothing now); its counters stay, totals of the process's life.
    pub(crate) fn stopped(&mut self, status: &JailStatus) {
        self.publish(status);
        let labels = jail_labels(&self.jail);
        METRICS.banned.remove(&labels);
        METRICS.failed.remove(&labels);
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A log thread's counters; file series are made when a file is first seen.
#[derive(Debug)]
pub(crate) struct SourceMetrics {
    jail: String,
    lines: Counter,
    lines_without_date: Counter,
    /// Per path: its counters and the tailer's totals at the last publish.
    files: Vec<FileMetrics>,
}

#[derive(Debug)]
struct FileMetrics {
    path: PathBuf,
    bytes_read: Counter,
    rotations: Counter,
    last: (u64, u64),
}

impl SourceMetrics {
    pub(crate) fn new(jail: &str) -> SourceMetrics {
        let labels = jail_labels(jail);
        SourceMetrics {
            jail: jail.to_string(),
            lines: METRICS.lines.get_or_create_owned(&labels),
            lines_without_date: METRICS.lines_without_date.get_or_create_owned(&labels),
            files: Vec::new(),
        }
    }

    /// One batch: `lines` read, `without_date` of them with no date found.
    pub(crate) fn add_lines(&self, lines: u64, without_date: u64) {
        if lines > 0 {
            self.lines.inc_by(lines);
        }
        if without_date > 0 {
            self.lines_without_date.inc_by(without_date);
        }
    }

    /// A file's totals since it was opened (bytes read, rotations seen); the counters move
    /// by the difference. Totals that went down belong to a file opened anew.
    pub(crate) fn file_totals(&mut self, path: &Path, bytes_read: u64, rotations: u64) {
        let index = match self.files.iter().position(|file| file.path == path) {
            Some(index) => index,
            None => {
                self.files.push(self.new_file(path));
                self.files.len() - 1
            }
        };
        let file = &mut self.files[index];
        let (last_bytes, last_rotations) = file.last;
        file.bytes_read.inc_by(since(last_bytes, bytes_read));
        file.rotations.inc_by(since(last_rotations, rotations));
        file.last = (bytes_read, rotations);
    }

    fn new_file(&self, path: &Path) -> FileMetrics {
        let labels = SourceLabels {
            jail: self.jail.clone(),
            path: path.display().to_string(),
        };
        FileMetrics {
            path: path.to_path_buf(),
            bytes_read: METRICS.bytes_read.get_or_create_owned(&labels),
            rotations: METRICS.rotations.get_or_create_owned(&labels),
            last: (0, 0),
        }
    }
}

/// How far a total moved since `last`; all of it when it went down (counted anew).
fn since(last: u64, now: u64) -> u64 {
    if now >= last { now - last } else { now }
}

/// The operations [`timed`] measures.
const TIMED_OPERATIONS: [&str; 3] = ["ban", "unban", "flush"];

fn action_labels(jail: &str, operation: &str) -> ActionLabels {
    ActionLabels {
        jail: jail.to_string(),
        operation: operation.to_string(),
    }
}

/// Counts the failed commands of one operation on a jail's actions.
pub(crate) fn action_errors(jail: &str, operation: &str, count: usize) {
    if count == 0 {
        return;
    }
    let labels = action_labels(jail, operation);
    METRICS
        .action_errors
        .get_or_create(&labels)
        .inc_by(count as u64);
}

/// Runs one operation on a jail's actions and records how long it took.
pub(crate) fn timed<T>(jail: &str, operation: &str, run: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = run();
    let labels = action_labels(jail, operation);
    METRICS
        .action_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
