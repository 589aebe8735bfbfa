//! Feeding lines through the filter and keeping fail2ban-regex's counts: lines tested,
//! matched, ignored, missed, the lines it lists, and (verbose) each regex's failures.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{IpAddr, ToSocketAddrs};

use anyhow::Context;
use ferroban_filter::{IdKind, LineResult, Outcome};

use super::RegexArgs;
use super::out::Printer;
use super::setup::{Input, Job};

/// Files at least this large get a progress bar when stderr is a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;
/// Lines between progress-bar updates.
const PROGRESS_EVERY: u64 = 1 << 16;

/// One failure as the verbose report lists it under its regex.
pub struct ListedFailure {
    pub id: String,
    pub time: Option<f64>,
    pub multiple: bool,
}

pub struct Stats {
    pub tested: u64,
    pub matched: u64,
    pub ignored: u64,
    pub missed: u64,
    pub matched_lines: Vec<String>,
    /// With the filter's serial number, so multi-line matches can take them back.
    pub missed_lines: Vec<(u64, String)>,
    pub ignored_lines: Vec<String>,
    /// Lists are printed only below this many lines (`-L`, else 20), unless `--print-all-*`.
    pub limit: u64,
    /// Verbose: failures per failregex.
    pub listed: Vec<Vec<ListedFailure>>,
    /// Failures per failregex (no-failure matches included), after host names were resolved.
    pub hits: Vec<u64>,
    verbose: bool,
    print_all_matched: bool,
    print_all_missed: bool,
    print_all_ignored: bool,
    print_no_missed: bool,
    print_no_ignored: bool,
    /// Multi-line: the last lines by serial, to name the lines a match took from the buffer.
    recent: VecDeque<(u64, String)>,
}

impl Stats {
    pub fn new(args: &RegexArgs) -> Self {
        Stats {
            tested: 0,
            matched: 0,
            ignored: 0,
            missed: 0,
            matched_lines: Vec::new(),
            missed_lines: Vec::new(),
            ignored_lines: Vec::new(),
            limit: if args.maxlines > 0 {
                args.maxlines as u64
            } else {
                20
            },
            listed: Vec::new(),
            hits: Vec::new(),
            verbose: args.verbose > 0 || args.verbosity.is_some_and(|v| v > 0),
            print_all_matched: args.print_all_matched,
            print_all_missed: args.print_all_missed,
            print_all_ignored: args.print_all_ignored,
            print_no_missed: args.print_no_missed,
            print_no_ignored: args.print_no_ignored,
            recent: VecDeque::new(),
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Counts one line as fail2ban-regex's `process`/`testRegex` do.
    fn record(&mut self, line: &str, result: &LineResult, maxlines: usize) {
        if maxlines > 1 {
            self.take_back_consumed(result);
            self.recent.push_back((result.serial, line.to_string()));
            while self.recent.len() > maxlines {
                self.recent.pop_front();
            }
        }
        for failure in &result.failures {
            if self.hits.len() <= failure.failregex {
                self.hits.resize(failure.failregex + 1, 0);
            }
            self.hits[failure.failregex] += 1;
        }
        if self.verbose {
            self.list_failures(result);
        }
        match result.outcome() {
            Outcome::Ignored => {
                self.ignored += 1;
                if !self.print_no_ignored
                    && (self.print_all_ignored || self.ignored <= self.limit + 1)
                {
                    self.ignored_lines.push(line.to_string());
                }
            }
            Outcome::Matched => {
                self.matched += 1;
                if self.print_all_matched {
                    self.matched_lines.push(line.to_string());
                }
            }
            Outcome::Missed => {
                self.missed += 1;
                if !self.print_no_missed && (self.print_all_missed || self.missed <= self.limit + 1)
                {
                    self.missed_lines.push((result.serial, line.to_string()));
                }
            }
        }
        self.tested += 1;
    }

    /// Earlier lines that became part of a multi-line match were counted missed: they count
    /// as matched now. As fail2ban-regex, the first missed line with the same text is the one
    /// taken back.
    fn take_back_consumed(&mut self, result: &LineResult) {
        for serial in &result.consumed {
            let text = self
                .recent
                .iter()
                .find(|(s, _)| s == serial)
                .map(|(_, t)| t.clone());
            if let Some(text) = &text {
                if let Some(position) = self.missed_lines.iter().position(|(_, t)| t == text) {
                    self.missed_lines.remove(position);
                }
                if self.print_all_matched {
                    self.matched_lines.push(text.clone());
                }
            }
            self.matched += 1;
            self.missed = self.missed.saturating_sub(1);
        }
    }

    fn list_failures(&mut self, result: &LineResult) {
        let mut counted = 0;
        for failure in &result.failures {
            if self.listed.len() <= failure.failregex {
                self.listed.resize_with(failure.failregex + 1, Vec::new);
            }
            self.listed[failure.failregex].push(ListedFailure {
                id: failure.id.clone().unwrap_or_else(|| "None".to_string()),
                time: failure.time,
                // fail2ban-regex flags a match when more than one failure preceded it.
                multiple: counted > 1,
            });
            if !failure.nofail {
                counted += 1;
            }
        }
    }
}

/// Runs every line of the job's input through its filter.
pub fn process(job: &mut Job, stats: &mut Stats, printer: &mut Printer) -> anyhow::Result<()> {
    let maxlines = job.filter.maxlines();
    let mut resolver = Resolver::default();
    let mut handle = |line_number: u64, line: &str, job: &mut Job| {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        let mut result = job.filter.process_line(line, &job.context);
        if !job.raw_hosts {
            resolver.resolve_hosts(&mut result);
        }
        if printer.prints_failures() {
            printer.failures(line_number, &result);
        } else {
            stats.record(line, &result, maxlines);
        }
    };
    let input = std::mem::replace(&mut job.input, Input::Lines(Vec::new()));
    match &input {
        Input::Lines(lines) => {
            for (index, line) in lines.iter().enumerate() {
                handle(index as u64 + 1, line, job);
            }
        }
        Input::File { path, encoding } => {
            let file =
                File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let mut progress = Progress::new(size);
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let read_error = || format!("cannot read {}", path.display());
            // Lines are handed on where they lie in the reader's buffer; only a line split
            // across two reads is put together in `split`.
            let (mut split, mut scratch) = (Vec::new(), String::new());
            let mut line_number = 0u64;
            loop {
                let chunk = reader.fill_buf().with_context(read_error)?;
                if chunk.is_empty() {
                    // As fail2ban-regex, a last line without its newline is still being
                    // written: it is not read.
                    break;
                }
                let mut start = 0;
                while let Some(at) = memchr::memchr(b'\n', &chunk[start..]) {
                    let end = start + at + 1;
                    let line = if split.is_empty() {
                        &chunk[start..end]
                    } else {
                        split.extend_from_slice(&chunk[start..end]);
                        &split[..]
                    };
                    line_number += 1;
                    progress.advance(line_number, line.len() as u64);
                    let (text, _) = encoding.decode(line, &mut scratch);
                    handle(line_number, text, job);
                    split.clear();
                    start = end;
                }
                split.extend_from_slice(&chunk[start..]);
                let consumed = chunk.len();
                reader.consume(consumed);
            }
            progress.finish();
        }
    }
    job.input = input;
    printer.flush();
    Ok(())
}

/// Host names captured by `<HOST>` become addresses, as fail2ban does unless `--raw`: one
/// failure per address, none (and so perhaps a missed line) when the name does not resolve.
#[derive(Default)]
struct Resolver {
    cache: HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    fn resolve_hosts(&mut self, result: &mut LineResult) {
        if !result.failures.iter().any(|f| f.id_kind == IdKind::Dns) {
            return;
        }
        let failures = std::mem::take(&mut result.failures);
        for failure in failures {
            let (IdKind::Dns, Some(name)) = (failure.id_kind, failure.id.clone()) else {
                result.failures.push(failure);
                continue;
            };
            for address in self.lookup(&name) {
                let mut resolved = failure.clone();
                resolved.id = Some(address.to_string());
                resolved.id_kind = IdKind::Ip;
                result.failures.push(resolved);
            }
        }
    }

    fn lookup(&mut self, name: &str) -> Vec<IpAddr> {
        self.cache
            .entry(name.to_string())
            .or_insert_with(|| {
                let mut addresses: Vec<IpAddr> = (name, 0)
                    .to_socket_addrs()
                    .map(|found| found.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                addresses.dedup();
                addresses
            })
            .clone()
    }
}

/// A progress bar on stderr for long files, only when stderr is a terminal.
struct Progress {
    total: u64,
    done: u64,
    active: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        Progress {
            total,
            done: 0,
            active: total >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal(),
        }
    }

    fn advance(&mut self, lines: u64, bytes: u64) {
        self.done += bytes;
        if self.active && lines.is_multiple_of(PROGRESS_EVERY) {
            let percent = self.done * 100 / self.total.max(1);
            let filled = (percent / 4) as usize;
            eprint!(
                "\r[{}{}] {percent:3}% {lines} lines",
                "#".repeat(filled),
                " ".repeat(25 - filled.min(25))
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn finish(&self) {
        if self.active {
            eprint!("\r{}\r", " ".repeat(60));
        }
    }
}
