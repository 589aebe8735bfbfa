//! A jail's `logpath`: several paths and glob patterns, each followed by a
//! [`FileTailer`].
//!
//! fail2ban expands globs once, when the jail starts, and refuses a jail
//! without any file. We also re-expand them every `rescan_interval`, so a log
//! created later (a new vhost log, a service installed after startup) is
//! picked up, and a literal path that does not exist yet is simply waited for.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use crate::tailer::{DEFAULT_MAX_LINE_LEN, DEFAULT_ROTATE_GRACE};
use crate::{
    Checkpoint, DescriptorBudget, Encoding, FileTailer, Line, LongLinePolicy, SourceError, Start,
    TailerOptions, TailerStats, WatchTarget,
};

/// One line of a `logpath` value: a path or glob, and whether to start at
/// its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPathSpec {
    pub pattern: String,
    pub tail: bool,
}

impl LogPathSpec {
    /// Parses one `logpath` line as fail2ban's jail reader does: the last
    /// space-separated word, when there is one, is the option `head` or
    /// `tail` (so fail2ban paths cannot contain spaces either).
    pub fn parse(line: &str) -> Result<LogPathSpec, SourceError> {
        let line = line.trim();
        let Some((pattern, option)) = line.rsplit_once(' ') else {
            return Ok(LogPathSpec {
                pattern: line.to_string(),
                tail: false,
            });
        };
        let tail = match option.to_ascii_lowercase().as_str() {
            "tail" => true,
            "head" => false,
            _ => {
                return Err(SourceError::BadLogPathOption {
                    line: line.to_string(),
                });
            }
        };
        Ok(LogPathSpec {
            pattern: pattern.trim_end().to_string(),
            tail,
        })
    }

    /// Parses a whole multi-line `logpath` value, skipping empty lines.
    pub fn parse_value(value: &str) -> Result<Vec<LogPathSpec>, SourceError> {
        value
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(LogPathSpec::parse)
            .collect()
    }

    /// Python's `glob.has_magic`.
    fn is_glob(&self) -> bool {
        self.pattern.contains(['*', '?', '['])
    }
}

/// Options shared by every file of a [`FileSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSourceOptions {
    pub encoding: Encoding,
    pub max_line_len: usize,
    pub long_lines: LongLinePolicy,
    pub rotate_grace: Duration,
    /// How often glob patterns are expanded again and failed opens retried.
    pub rescan_interval: Duration,
    /// What the open files count against (shared by all sources of a daemon).
    pub descriptors: DescriptorBudget,
}

impl Default for FileSourceOptions {
    fn default() -> Self {
        FileSourceOptions {
            encoding: Encoding::Utf8,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            long_lines: LongLinePolicy::Truncate,
            rotate_grace: DEFAULT_ROTATE_GRACE,
            rescan_interval: Duration::from_secs(10),
            descriptors: DescriptorBudget::default(),
        }
    }
}

/// What one [`FileSource::poll_lines`] did. An error concerns one file; the
/// others were still read.
#[derive(Debug, Default)]
pub struct PollOutcome {
    pub lines: usize,
    pub errors: Vec<SourceError>,
    /// A file has more to read now: poll again before waiting.
    pub behind: bool,
}

/// All files of one jail's `logpath`.
///
/// A source thread in the daemon looks like this:
///
/// ```no_run
/// use ferroban_source::{FileSource, FileSourceOptions, LogPathSpec, Watcher};
/// # fn main() -> Result<(), ferroban_source::SourceError> {
/// let specs = LogPathSpec::parse_value("/var/log/auth.log\n/var/log/nginx/*.log tail")?;
/// let saved = Vec::new(); // checkpoints loaded from the database
/// let mut source = FileSource::new(specs, FileSourceOptions::default(), saved)?;
/// let mut watcher = Watcher::new(std::time::Duration::from_secs(5));
/// loop {
///     let outcome = source.poll_lines(&mut |line| println!("{}: {}", line.path.display(), line.text));
///     for error in outcome.errors {
///         eprintln!("{error}");
///     }
///     watcher.watch(source.watch_targets());
///     watcher.wait(); // a Wake::Woken from a WatcherWaker would end the loop
/// #   break;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FileSource {
    specs: Vec<LogPathSpec>,
    options: FileSourceOptions,
    tailers: Vec<FileTailer>,
    /// Paths whose open failed, with the start they are to be opened with.
    failed: HashMap<PathBuf, Start>,
    /// Errors from scans, reported by the next poll.
    pending_errors: Vec<SourceError>,
    last_scan: Instant,
}

impl FileSource {
    /// Expands the patterns and opens every file found. A path that is in
    /// `checkpoints` resumes there unless its spec says `tail` (fail2ban
    /// ignores the database position of a `tail` log too).
    pub fn new(
        specs: Vec<LogPathSpec>,
        options: FileSourceOptions,
        checkpoints: impl IntoIterator<Item = Checkpoint>,
    ) -> Result<FileSource, SourceError> {
        for spec in specs.iter().filter(|spec| spec.is_glob()) {
            glob::Pattern::new(&spec.pattern).map_err(|error| SourceError::BadPattern {
                pattern: spec.pattern.clone(),
                message: error.to_string(),
            })?;
        }
        let mut checkpoints: HashMap<PathBuf, Checkpoint> = checkpoints
            .into_iter()
            .map(|checkpoint| (checkpoint.path.clone(), checkpoint))
            .collect();
        let mut source = FileSource {
            specs,
            options,
            tailers: Vec::new(),
            failed: HashMap::new(),
            pending_errors: Vec::new(),
            last_scan: Instant::now(),
        };
        source.scan(&mut |path, tail| match (tail, checkpoints.remove(path)) {
            (true, _) => Start::Tail,
            (false, Some(checkpoint)) => Start::Checkpoint(checkpoint),
            (false, None) => Start::Beginning,
        });
        Ok(source)
    }

    /// Delivers the new lines of every file (see [`FileTailer::poll_lines`]).
    pub fn poll_lines(&mut self, sink: &mut impl FnMut(Line<'_>)) -> PollOutcome {
        if self.last_scan.elapsed() >= self.options.rescan_interval {
            self.rescan();
        }
        let mut outcome = PollOutcome {
            lines: 0,
            errors: std::mem::take(&mut self.pending_errors),
            behind: false,
        };
        for tailer in &mut self.tailers {
            match tailer.poll_lines(sink) {
                Ok(count) => outcome.lines += count,
                Err(error) => outcome.errors.push(error),
            }
            outcome.behind |= tailer.is_behind();
        }
        outcome
    }

    /// Expands the globs again now and retries files that failed to open.
    /// Files found now are new and are read from their beginning.
    pub fn rescan(&mut self) {
        self.last_scan = Instant::now();
        let retries: Vec<(PathBuf, Start)> = self.failed.drain().collect();
        for (path, start) in retries {
            self.add_tailer(path, start);
        }
        self.scan(&mut |_, _| Start::Beginning);
    }

    /// Positions to save for every open file.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.tailers
            .iter()
            .filter_map(FileTailer::checkpoint)
            .collect()
    }

    /// Every path being followed (existing or waited for).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.tailers.iter().map(FileTailer::path)
    }

    /// The paths whose file is open and being read now.
    pub fn open_paths(&self) -> impl Iterator<Item = &Path> {
        self.tailers
            .iter()
            .filter(|tailer| tailer.is_open())
            .map(FileTailer::path)
    }

    /// The paths that could not be opened and are retried at the next rescan.
    pub fn failed_paths(&self) -> impl Iterator<Item = &Path> {
        self.failed.keys().map(PathBuf::as_path)
    }

    /// What a [`crate::Watcher`] should watch for this source.
    pub fn watch_targets(&self) -> Vec<WatchTarget> {
        let files = self
            .paths()
            .map(|path| WatchTarget::File(path.to_path_buf()));
        let pattern_dirs = self
            .specs
            .iter()
            .filter(|spec| spec.is_glob())
            .map(|spec| WatchTarget::Dir(literal_prefix_dir(&spec.pattern)));
        files.chain(pattern_dirs).collect()
    }

    /// Each file's path with its counters since it was opened.
    pub fn file_stats(&self) -> impl Iterator<Item = (&Path, &TailerStats)> {
        self.tailers
            .iter()
            .map(|tailer| (tailer.path(), tailer.stats()))
    }

    /// Counters of all files added up.
    pub fn stats(&self) -> TailerStats {
        let mut total = TailerStats::default();
        for tailer in &self.tailers {
            total.add(tailer.stats());
        }
        total
    }

    fn scan(&mut self, start_for: &mut dyn FnMut(&Path, bool) -> Start) {
        let specs = self.specs.clone();
        for spec in &specs {
            for path in expand(spec) {
                if !self.is_known(&path) {
                    let start = start_for(&path, spec.tail);
                    self.add_tailer(path, start);
                }
            }
        }
    }

    fn is_known(&self, path: &Path) -> bool {
        self.failed.contains_key(path) || self.tailers.iter().any(|tailer| tailer.path() == path)
    }

    /// The budget the next tailer counts against. A source with no file open yet opens
    /// outside it, from what the budget leaves to the rest of the process: so a jail with
    /// one log runs however many descriptors a large glob in another jail takes. At most a
    /// few per source (its literal paths that are missing when added) are uncounted.
    fn descriptors_for_next(&self) -> DescriptorBudget {
        if self.tailers.iter().any(FileTailer::is_open) {
            self.options.descriptors.clone()
        } else {
            DescriptorBudget::default()
        }
    }

    fn add_tailer(&mut self, path: PathBuf, start: Start) {
        let options = TailerOptions {
            start: start.clone(),
            encoding: self.options.encoding,
            max_line_len: self.options.max_line_len,
            long_lines: self.options.long_lines,
            rotate_grace: self.options.rotate_grace,
            descriptors: self.descriptors_for_next(),
        };
        match FileTailer::open(path.clone(), options) {
            Ok(tailer) => self.tailers.push(tailer),
            Err(error) => {
                self.pending_errors.push(error);
                self.failed.insert(path, start);
            }
        }
    }
}

/// The files a spec names now: a literal path always (it is waited for), a
/// glob's existing matches, without dot files unless the pattern has the
/// dot (Python's `glob.glob`).
fn expand(spec: &LogPathSpec) -> Vec<PathBuf> {
    if !spec.is_glob() {
        return vec![PathBuf::from(&spec.pattern)];
    }
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    match glob::glob_with(&spec.pattern, options) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|path| path.is_file())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The deepest directory of a glob pattern without glob characters: where new
/// matches appear (for a pattern like `/var/log/*.log`).
fn literal_prefix_dir(pattern: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    for component in Path::new(pattern).components() {
        let text = component.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[']) {
            break;
        }
        if let Component::Normal(_) | Component::RootDir | Component::Prefix(_) = component {
            dir.push(component);
        }
    }
    dir
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::fs;

    fn collect(source: &mut FileSource) -> Vec<(PathBuf, String)> {
        let mut lines = Vec::new();
        let outcome = source
            .poll_lines(&mut |line| lines.push((line.path.to_path_buf(), line.text.to_string())));
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert_eq!(outcome.lines, lines.len());
        lines
    }

    #[test]
    fn logpath_lines_parse_like_fail2ban() {
        let specs = LogPathSpec::parse_value("/var/log/auth.log\n\n/var/log/x*.log  tail\n/a HEAD")
            .unwrap();
        assert_eq!(
            specs,
            vec![
                LogPathSpec {
                    pattern: "/var/log/auth.log".into(),
                    tail: false
                },
                LogPathSpec {
                    pattern: "/var/log/x*.log".into(),
                    tail: true
                },
                LogPathSpec {
                    pattern: "/a".into(),
                    tail: false
                },
            ]
        );
        assert!(LogPathSpec::parse("/var/log/my log").is_err());
    }

    #[test]
    fn globs_expand_and_new_matches_are_read_from_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.log"), "old a\n").unwrap();
        fs::write(dir.path().join(".hidden.log"), "hidden\n").unwrap();
        let pattern = format!("{}/*.log", dir.path().display());
        let options = FileSourceOptions {
            rescan_interval: Duration::ZERO,
            ..FileSourceOptions::default()
        };
        let mut source = FileSource::new(
            vec![LogPathSpec {
                pattern,
                tail: true,
            }],
            options,
            [],
        )
        .unwrap();
        assert!(collect(&mut source).is_empty(), "tail skips existing lines");
        fs::write(dir.path().join("b.log"), "new b\n").unwrap();
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("a.log"))
            .unwrap();
        std::io::Write::write_all(&mut file, b"more a\n").unwrap();
        let mut texts: Vec<String> = collect(&mut source).into_iter().map(|(_, t)| t).collect();
        texts.sort();
        assert_eq!(texts, vec!["more a".to_string(), "new b".to_string()]);
        assert_eq!(
            source.watch_targets().last(),
            Some(&WatchTarget::Dir(dir.path().to_path_buf()))
        );
    }

    #[test]
    fn missing_literal_path_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        let spec = LogPathSpec {
            pattern: path.display().to_string(),
            tail: true,
        };
        let mut source = FileSource::new(vec![spec], FileSourceOptions::default(), []).unwrap();
        assert!(collect(&mut source).is_empty());
        fs::write(&path, "first\n").unwrap();
        assert_eq!(collect(&mut source), vec![(path, "first".to_string())]);
    }

    #[test]
    fn checkpoints_resume_unless_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        fs::write(&path, "one\ntwo\n").unwrap();
        let spec = LogPathSpec {
            pattern: path.display().to_string(),
            tail: false,
        };
        let mut source =
            FileSource::new(vec![spec.clone()], FileSourceOptions::default(), []).unwrap();
        assert_eq!(collect(&mut source).len(), 2);
        let saved = source.checkpoints();
        fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let mut resumed =
            FileSource::new(vec![spec], FileSourceOptions::default(), saved.clone()).unwrap();
        assert_eq!(
            collect(&mut resumed),
            vec![(path.clone(), "three".to_string())]
        );
        let tail = LogPathSpec {
            pattern: path.display().to_string(),
            tail: true,
        };
        let mut tailing = FileSource::new(vec![tail], FileSourceOptions::default(), saved).unwrap();
        assert!(collect(&mut tailing).is_empty());
    }

    #[test]
    fn bad_glob_is_reported() {
        let spec = LogPathSpec {
            pattern: "/var/log/[.log".into(),
            tail: false,
        };
        assert!(matches!(
            FileSource::new(vec![spec], FileSourceOptions::default(), []),
            Err(SourceError::BadPattern { .. })
        ));
    }

    #[test]
    fn past_the_descriptor_budget_logs_wait_and_open_once_a_descriptor_is_free() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "c.log", "d.log"] {
            fs::write(dir.path().join(name), format!("{name}\n")).unwrap();
        }
        let budget = DescriptorBudget::new(2);
        let options = FileSourceOptions {
            rescan_interval: Duration::ZERO,
            descriptors: budget.clone(),
            ..FileSourceOptions::default()
        };
        let pattern = format!("{}/*.log", dir.path().display());
        let spec = LogPathSpec {
            pattern,
            tail: false,
        };
        let mut source = FileSource::new(vec![spec], options, []).unwrap();
        let outcome = source.poll_lines(&mut |_| {});
        assert_eq!(
            outcome.lines, 3,
            "the first log is opened outside the budget"
        );
        assert!(!outcome.errors.is_empty());
        assert!(
            outcome
                .errors
                .iter()
                .all(SourceError::is_out_of_descriptors)
        );
        assert_eq!(budget.in_use(), 2);
        let waiting: Vec<PathBuf> = source.failed_paths().map(Path::to_path_buf).collect();
        assert_eq!(waiting.len(), 1);
        let other = DescriptorBudget::new(2);
        drop(std::mem::replace(
            &mut source.options.descriptors,
            other.clone(),
        ));
        let outcome = source.poll_lines(&mut |_| {});
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert_eq!(outcome.lines, 1, "the waiting log is read once it opens");
        assert_eq!(other.in_use(), 1);
    }
}
