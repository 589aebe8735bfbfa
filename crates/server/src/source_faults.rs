//! What a jail's file source reports about logs it cannot read: each trouble once, when it
//! starts, and once more when it is over; never once per poll.
//!
//! A log path that became a directory, a FIFO or a dangling link gets one warning naming
//! it, and an info line when its file is read again. Logs refused for want of file
//! descriptors (a glob larger than `RLIMIT_NOFILE` allows) are one trouble for the jail:
//! one error line with the limit and the files affected, one line when all are open.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use ferroban_source::{DescriptorBudget, FileSource, SourceError};

use crate::log::Level;
use crate::log_at;

const FILTER_LOG: &str = "fail2ban.filter";
/// Files named in the out-of-descriptors line; the rest are counted.
const NAMED_FILES: usize = 5;

#[derive(Default)]
pub(crate) struct SourceFaults {
    /// Paths warned about, until their file is read again.
    troubled: HashSet<PathBuf>,
    /// Paths refused for want of descriptors, until they open.
    out_of_descriptors: BTreeSet<PathBuf>,
    /// Errors about no path in particular, each said once.
    other: HashSet<String>,
}

impl SourceFaults {
    /// Reports a poll's errors, then what healed since the last poll.
    pub(crate) fn report(
        &mut self,
        jail: &str,
        errors: Vec<SourceError>,
        source: &FileSource,
        budget: &DescriptorBudget,
    ) {
        let mut failing_now = HashSet::new();
        let mut newly_refused = Vec::new();
        for error in errors {
            match error.path().map(Path::to_path_buf) {
                Some(path) if error.is_out_of_descriptors() => {
                    if self.out_of_descriptors.insert(path.clone()) {
                        newly_refused.push(path);
                    }
                }
                Some(path) => {
                    if self.troubled.insert(path.clone()) {
                        log_at!(
                            FILTER_LOG,
                            Level::WARNING,
                            "[{jail}] {error} (waiting for it)"
                        );
                    }
                    failing_now.insert(path);
                }
                None => {
                    let text = error.to_string();
                    if self.other.insert(text.clone()) {
                        log_at!(FILTER_LOG, Level::WARNING, "[{jail}] {text}");
                    }
                }
            }
        }
        if !newly_refused.is_empty() && self.out_of_descriptors.len() == newly_refused.len() {
            self.report_refused(jail, budget);
        }
        if !self.troubled.is_empty() || !self.out_of_descriptors.is_empty() {
            self.forget_healed(jail, source, &failing_now);
        }
    }

    /// A problem of the jail's inotify watcher, said once.
    pub(crate) fn watch_problem(&mut self, jail: &str, problem: String) {
        if self.other.insert(problem.clone()) {
            log_at!(FILTER_LOG, Level::WARNING, "[{jail}] {problem}");
        }
    }

    fn report_refused(&self, jail: &str, budget: &DescriptorBudget) {
        let count = self.out_of_descriptors.len();
        let mut named: Vec<String> = self
            .out_of_descriptors
            .iter()
            .take(NAMED_FILES)
            .map(|path| path.display().to_string())
            .collect();
        if count > NAMED_FILES {
            named.push(format!("and {} more", count - NAMED_FILES));
        }
        let limit = match (descriptor_limit(), budget.limit()) {
            (Some(limit), Some(logs)) => {
                format!("RLIMIT_NOFILE is {limit}, of which {logs} for logs")
            }
            (Some(limit), None) => format!("RLIMIT_NOFILE is {limit}"),
            (None, _) => "RLIMIT_NOFILE".to_string(),
        };
        log_at!(
            FILTER_LOG,
            Level::ERROR,
            "[{jail}] out of file descriptors ({limit}): {count} logs cannot be opened \
             and are retried every 10 s, the others are read: {}; raise LimitNOFILE \
             (systemd) or ulimit -n",
            named.join(", ")
        );
    }

    /// Drops the troubles of paths whose file is open again and says so.
    fn forget_healed(&mut self, jail: &str, source: &FileSource, failing_now: &HashSet<PathBuf>) {
        let open: HashSet<&Path> = source.open_paths().collect();
        let healed: Vec<PathBuf> = self
            .troubled
            .iter()
            .filter(|path| open.contains(path.as_path()) && !failing_now.contains(*path))
            .cloned()
            .collect();
        for path in healed {
            self.troubled.remove(&path);
            log_at!(
                FILTER_LOG,
                Level::INFO,
                "[{jail}] {} is a readable file again: reading it",
                path.display()
            );
        }
        if self.out_of_descriptors.is_empty() {
            return;
        }
        let waiting: HashSet<&Path> = source.failed_paths().collect();
        self.out_of_descriptors
            .retain(|path| waiting.contains(path.as_path()) && !open.contains(path.as_path()));
        if self.out_of_descriptors.is_empty() {
            log_at!(
                FILTER_LOG,
                Level::INFO,
                "[{jail}] file descriptors are free again: all its logs are open"
            );
        }
    }
}

/// The process's soft `RLIMIT_NOFILE`.
#[allow(unsafe_code)]
pub(crate) fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and keeps no pointer to it.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (result == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one. The soft limit is kept low (1024) for
/// programs that use `select`; the daemon does not, and a large `logpath` glob needs a
/// descriptor per file.
#[allow(unsafe_code)]
pub(crate) fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass and keep no pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The budget all file sources of the daemon share: the soft `RLIMIT_NOFILE` less what the
/// rest of the daemon needs (database, control connections, action pipes, inotify,
/// journalctl): an eighth of the limit, at least 64, and at least half the limit.
pub(crate) fn log_descriptors() -> &'static DescriptorBudget {
    static BUDGET: std::sync::OnceLock<DescriptorBudget> = std::sync::OnceLock::new();
    BUDGET.get_or_init(|| match descriptor_limit() {
        Some(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let reserve = (limit / 8).max(64).min(limit / 2);
            DescriptorBudget::new(limit - reserve)
        }
        None => DescriptorBudget::default(),
    })
}
