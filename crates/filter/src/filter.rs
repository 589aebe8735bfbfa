//! The filter: prefregex, failregexes, ignoreregexes, date cutting and line buffering, as
//! `fail2ban.server.filter.Filter.processLine` / `findFailure` do it.

use ferroban_date::{DateDetector, DateFound, DateMatch, DateOutcome, TimeContext};

use crate::FilterError;
use crate::engine::{CompiledRegex, Engine, Prefilter};
use crate::failure::{Failure, MlfidCache};
use crate::lines::{TupleLine, TupleView};
use crate::tags::resolve_tags;

/// A filter's settings, already interpolated (the config crate reads the files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterDefinition {
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub datepattern: Option<String>,
    /// `maxlines`; 0 and 1 both mean single-line.
    pub maxlines: usize,
    /// `logtimezone` (`UTC`, `UTC+0200`, `CET`, `+0130`): the fixed offset of dates written
    /// without a zone. The filter sets it on its date detector
    /// ([`DateDetector::set_default_tz`]); it does not belong in [`TimeContext::tz`], which is
    /// the local zone (a POSIX `TZ` rule reads `UTC+0200` with the opposite sign).
    pub logtimezone: Option<String>,
    /// `usedns` (`yes`, `warn`, `no`, `raw`); `no` narrows `<HOST>` to addresses.
    pub usedns: Option<String>,
}

/// How the filter runs: as the daemon does, or as `fail2ban-regex` does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterOptions {
    /// Try every failregex and ignoreregex on a line (fail2ban-regex), not just the first hit.
    pub check_all_regex: bool,
    /// Apply time checks (lines without a date get "now"; odd dates are replaced or dropped).
    pub check_find_time: bool,
    /// Processing new lines (true) or catching up on old ones at start (false).
    pub in_operation: bool,
    /// Multi-line failures still waiting for an id are not reported.
    pub ignore_pending: bool,
    /// `findtime`, for dropping obsolete lines while not in operation.
    pub find_time: f64,
    /// Report host names as raw ids (fail2ban-regex `--raw`; also `usedns = raw`).
    pub raw_host: bool,
    /// Whether a reported failure needs its groups and lines. fail2ban-regex's counts need
    /// only which failregex matched, the id and whether the line is a no-failure one: off,
    /// a line that can only end a multi-line id is counted without resolving its groups,
    /// and a failure kept in the multi-line cache is reported without a copy of its data.
    pub failure_details: bool,
}

impl FilterOptions {
    /// The daemon's settings.
    pub fn daemon(find_time: f64) -> Self {
        FilterOptions {
            check_all_regex: false,
            check_find_time: true,
            in_operation: true,
            ignore_pending: true,
            find_time,
            raw_host: false,
            failure_details: true,
        }
    }

    /// `fail2ban-regex`'s settings (without `--out`).
    pub fn regex_tool() -> Self {
        FilterOptions {
            check_all_regex: true,
            check_find_time: false,
            in_operation: true,
            ignore_pending: false,
            find_time: 600.0,
            raw_host: false,
            failure_details: true,
        }
    }
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions::daemon(600.0)
    }
}

/// A regex as configured, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexInfo {
    /// As written in the configuration.
    pub source: String,
    /// After tag expansion (Python syntax, as fail2ban shows it).
    pub expanded: String,
    pub engine: Engine,
}

/// What happened to one line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineResult {
    /// Number of this line among the lines given to the filter (0-based).
    pub serial: u64,
    /// The date found in the line, when it converts to a time.
    pub date: Option<DateMatch>,
    /// The date text found in the line and what it meant, also when it is no time (empty,
    /// invalid, or [`DateOutcome::Error`]: then fail2ban drops the line and so does the
    /// filter, reporting nothing else).
    pub found_date: Option<DateFound>,
    /// Time assigned to the line (its date, the last date seen, or now).
    pub time: Option<f64>,
    /// Failures found (several with `check_all_regex`, or several ids).
    pub failures: Vec<Failure>,
    /// Indices of the ignoreregexes that matched.
    pub ignored: Vec<usize>,
    /// The prefregex matched (always false without one). In daemon mode a line that no
    /// failregex can match may skip the prefregex and report false here.
    pub prefregex_matched: bool,
    /// Dropped as older than `findtime` while not in operation.
    pub too_old: bool,
    /// Multi-line: earlier lines (by serial) that left the buffer as part of a match or an
    /// ignore, so a report can count them as matched rather than missed.
    pub consumed: Vec<u64>,
}

impl LineResult {
    /// fail2ban-regex's verdict: ignored (by ignoreregex or a no-failure match), matched, or
    /// missed.
    pub fn outcome(&self) -> Outcome {
        if !self.ignored.is_empty() || self.failures.iter().any(|f| f.nofail) {
            Outcome::Ignored
        } else if !self.failures.is_empty() {
            Outcome::Matched
        } else {
            Outcome::Missed
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Matched,
    Ignored,
    Missed,
}

/// A compiled fail2ban filter.
///
/// Cloning copies the compiled regexes cheaply (they are shared) together with the current
/// state (line buffer, last date, multi-line cache, hit counts): a clone of a fresh filter
/// is a fresh filter, without compiling the regexes again.
#[derive(Debug, Clone)]
pub struct Filter {
    prefregex: Option<CompiledRegex>,
    /// The prefregex with its final `<F-CONTENT>.+</F-CONTENT>$` cut to one character: on a
    /// one-line buffer it matches exactly when the prefregex does, and stops scanning right
    /// after the prefix (fail2ban-regex counts prefregex matches on every line). Both take
    /// the same path through the prefix (the first, in priority order, after which one more
    /// character follows), so the probe's match ends one character into the content: the
    /// content is known without the prefregex's captures. Not built when the prefregex may
    /// turn on `(?s)`, where `.+$` would take the final newline too.
    prefregex_probe: Option<CompiledRegex>,
    failregex: Vec<CompiledRegex>,
    /// By failregex: a match always means a forgotten no-failure line (see
    /// [`forgets_without_failure`]), so in a daemon its groups matter only when the
    /// multi-line id has a cached entry.
    forgets: Vec<bool>,
    /// The prefregex's `F-MLFID` is a prefix of every line it matches.
    mlfid_is_prefix: bool,
    /// The prefregex has named groups besides `content` (whose values a failure takes).
    prefregex_has_groups: bool,
    /// Whether the daemon's shortcuts (`forgets`) are taken; off only to compare results.
    pub(crate) shortcuts: bool,
    ignoreregex: Vec<CompiledRegex>,
    info: RegexInfos,
    /// Prefilter over all failregexes (relaxed forms for the backtracking ones).
    failregex_set: Option<Prefilter>,
    /// Before the prefregex: anchor-free failregexes over the whole buffer (daemon only).
    anywhere_set: Option<Prefilter>,
    ignoreregex_set: Option<Prefilter>,
    dates: DateDetector,
    maxlines: usize,
    options: FilterOptions,
    raw_dns: bool,
    line_buffer: Vec<TupleLine>,
    last_time_text: String,
    last_date: Option<f64>,
    mlfid: MlfidCache,
    serial: u64,
    scratch: String,
    content_scratch: String,
    hits: Hits,
}

#[derive(Debug, Clone, Default)]
struct RegexInfos {
    prefregex: Option<RegexInfo>,
    failregex: Vec<RegexInfo>,
    ignoreregex: Vec<RegexInfo>,
}

#[derive(Debug, Clone, Default)]
struct Hits {
    prefregex: u64,
    failregex: Vec<u64>,
    ignoreregex: Vec<u64>,
}

/// Which regex of a filter, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexKind {
    Prefregex,
    Failregex(usize),
    Ignoreregex(usize),
}

impl std::fmt::Display for RegexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegexKind::Prefregex => write!(f, "prefregex"),
            RegexKind::Failregex(i) => write!(f, "failregex #{i}"),
            RegexKind::Ignoreregex(i) => write!(f, "ignoreregex #{i}"),
        }
    }
}

/// Groups that identify a failure (`FAILURE_ID_PRESENTS`), plus the 0.8-era `host`.
const FAILURE_ID_GROUPS: [&str; 6] = ["fid", "ip4", "ip6", "dns", "mlfid", "host"];

fn compile(
    kind: RegexKind,
    source: &str,
    use_dns_no: bool,
    multiline: bool,
) -> Result<(CompiledRegex, RegexInfo), FilterError> {
    let expanded = resolve_tags(source, use_dns_no);
    if expanded.trim_start().is_empty() {
        return Err(FilterError::Empty { regex: kind });
    }
    let compiled =
        CompiledRegex::new(&expanded, multiline).map_err(|failure| FilterError::Regex {
            regex: kind,
            pattern: source.to_string(),
            message: failure.message,
        })?;
    let info = RegexInfo {
        source: source.to_string(),
        expanded,
        engine: compiled.engine(),
    };
    Ok((compiled, info))
}

/// True when `pattern` has an inline flag group that could turn on `s` (DOTALL).
fn may_set_dotall(pattern: &str) -> bool {
    pattern.match_indices("(?").any(|(at, _)| {
        pattern[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 's')
    })
}

/// The date detector for `datepattern` (default templates without one), reading dates without
/// a zone at `logtimezone` when it is set.
fn date_detector(definition: &FilterDefinition) -> Result<DateDetector, FilterError> {
    let mut dates = match definition.datepattern.as_deref() {
        Some(pattern) => DateDetector::from_pattern(pattern)
            .map_err(|e| FilterError::DatePattern(e.to_string()))?,
        None => DateDetector::new_default(),
    };
    dates
        .set_default_tz(definition.logtimezone.as_deref())
        .map_err(|e| FilterError::LogTimeZone(e.to_string()))?;
    Ok(dates)
}

/// True when every match of `failregex` is a line that ends a multi-line id without a
/// failure: `F-MLFFORGET` and `F-NOFAIL` (or `F-MLFGAINED`) take part with text in every
/// match, and the id comes from the prefregex alone. When the id has no live entry in the
/// multi-line cache, such a line changes nothing and yields nothing in a daemon (fail2ban's
/// `findFailure`: nothing cached, nothing to forget, no failure), whatever its other groups.
fn forgets_without_failure(prefregex: Option<&CompiledRegex>, failregex: &CompiledRegex) -> bool {
    prefregex.is_some_and(|p| p.has_group("mlfid"))
        && !failregex.has_group("mlfid")
        && failregex.always_has_text("mlfforget")
        && (failregex.always_has_text("nofail") || failregex.always_has_text("mlfgained"))
}

/// A prefilter over the given superset forms (None without any).
fn build_set<'r>(patterns: impl ExactSizeIterator<Item = &'r str>) -> Option<Prefilter> {
    Prefilter::new(patterns.map(str::to_string).collect())
}

impl Filter {
    /// Compiles a filter; fails on the first regex that does not compile or lacks an id group.
    pub fn new(definition: &FilterDefinition) -> Result<Self, FilterError> {
        let use_dns = definition.usedns.as_deref().unwrap_or("warn");
        let use_dns_no = use_dns == "no";
        let multiline = definition.maxlines > 1;
        let mut info = RegexInfos::default();
        let prefregex = match definition.prefregex.as_deref().filter(|p| !p.is_empty()) {
            Some(source) => {
                let (compiled, regex_info) =
                    compile(RegexKind::Prefregex, source, use_dns_no, false)?;
                info.prefregex = Some(regex_info);
                Some(compiled)
            }
            None => None,
        };
        let pref_has_id = prefregex
            .as_ref()
            .is_some_and(|p| FAILURE_ID_GROUPS.iter().any(|g| p.has_group(g)));
        let mut failregex = Vec::new();
        for (index, source) in definition.failregex.iter().enumerate() {
            let kind = RegexKind::Failregex(index);
            let (compiled, regex_info) = compile(kind, source, use_dns_no, multiline)?;
            if !pref_has_id && !FAILURE_ID_GROUPS.iter().any(|g| compiled.has_group(g)) {
                return Err(FilterError::NoFailureId {
                    regex: kind,
                    pattern: source.clone(),
                });
            }
            failregex.push(compiled);
            info.failregex.push(regex_info);
        }
        let mut ignoreregex = Vec::new();
        for (index, source) in definition.ignoreregex.iter().enumerate() {
            let (compiled, regex_info) =
                compile(RegexKind::Ignoreregex(index), source, use_dns_no, false)?;
            ignoreregex.push(compiled);
            info.ignoreregex.push(regex_info);
        }
        let dates = date_detector(definition)?;
        let hits = Hits {
            prefregex: 0,
            failregex: vec![0; failregex.len()],
            ignoreregex: vec![0; ignoreregex.len()],
        };
        // Most prefregexes end in `<F-CONTENT>.+</F-CONTENT>$`: the content is then the rest of
        // the buffer, so a failregex can only match it if its anchor-free form matches the
        // whole buffer somewhere. Checking that first spares the prefregex's captures on
        // lines no failregex wants.
        // Multi-line buffers are left out: there the content also replaces the line buffer.
        let content_at_end = !multiline
            && definition
                .prefregex
                .as_deref()
                .is_some_and(|p| p.trim_end().ends_with("</F-CONTENT>$"));
        let prefregex_probe = match definition.prefregex.as_deref().map(str::trim_end) {
            Some(source) if content_at_end && !may_set_dotall(source) => source
                .strip_suffix("<F-CONTENT>.+</F-CONTENT>$")
                .map(|head| format!("{head}<F-CONTENT>.</F-CONTENT>"))
                .and_then(|probe| {
                    compile(RegexKind::Prefregex, &probe, use_dns_no, false)
                        .ok()
                        .map(|(compiled, _)| compiled)
                }),
            _ => None,
        };
        let anywhere_set = if content_at_end {
            build_set(failregex.iter().map(|r| r.anywhere.as_str()))
        } else {
            None
        };
        let forgets = failregex
            .iter()
            .map(|regex| forgets_without_failure(prefregex.as_ref(), regex))
            .collect();
        Ok(Filter {
            failregex_set: build_set(failregex.iter().map(|r| r.relaxed.as_str())),
            forgets,
            mlfid_is_prefix: prefregex
                .as_ref()
                .is_some_and(|p| p.group_is_prefix("mlfid")),
            prefregex_has_groups: prefregex
                .as_ref()
                .is_some_and(|p| p.group_names().any(|name| name != "content")),
            shortcuts: true,
            ignoreregex_set: build_set(ignoreregex.iter().map(|r| r.relaxed.as_str())),
            anywhere_set,
            prefregex,
            prefregex_probe,
            failregex,
            ignoreregex,
            info,
            dates,
            maxlines: definition.maxlines.max(1),
            options: FilterOptions::default(),
            raw_dns: use_dns == "raw",
            line_buffer: Vec::new(),
            last_time_text: String::new(),
            last_date: None,
            mlfid: MlfidCache::default(),
            serial: 0,
            scratch: String::new(),
            content_scratch: String::new(),
            hits,
        })
    }

    /// How many failregexes a daemon may skip the groups of (see `forgets_without_failure`).
    pub fn shortcut_regexes(&self) -> usize {
        self.forgets.iter().filter(|f| **f).count()
    }

    /// Turns the daemon's shortcuts off or on (on by default). They skip work whose result
    /// is known, so results are the same either way: off is for checking exactly that.
    /// The literal gates in front of the prefilter sets are shortcuts too.
    pub fn set_shortcuts(&mut self, on: bool) {
        self.shortcuts = on;
        let sets = [
            &mut self.failregex_set,
            &mut self.anywhere_set,
            &mut self.ignoreregex_set,
        ];
        for set in sets.into_iter().flatten() {
            set.set_gate(on);
        }
    }

    /// Whether a literal scan can turn lines away before the failregexes' set is asked
    /// (false when some failregex requires no literal; see the `literals` module).
    pub fn has_literal_gate(&self) -> bool {
        self.failregex_set
            .as_ref()
            .is_some_and(Prefilter::has_active_gate)
    }

    /// Sets daemon or fail2ban-regex behaviour (default: daemon, findtime 600).
    pub fn set_options(&mut self, options: FilterOptions) {
        self.options = options;
    }

    pub fn options(&self) -> FilterOptions {
        self.options
    }

    pub fn prefregex_info(&self) -> Option<&RegexInfo> {
        self.info.prefregex.as_ref()
    }

    pub fn failregex_info(&self) -> &[RegexInfo] {
        &self.info.failregex
    }

    pub fn ignoreregex_info(&self) -> &[RegexInfo] {
        &self.info.ignoreregex
    }

    /// How many lines the prefregex matched.
    pub fn prefregex_hits(&self) -> u64 {
        self.hits.prefregex
    }

    /// Failures reported per failregex (no-failure matches included, as fail2ban-regex counts).
    pub fn failregex_hits(&self) -> &[u64] {
        &self.hits.failregex
    }

    /// Matches per ignoreregex.
    pub fn ignoreregex_hits(&self) -> &[u64] {
        &self.hits.ignoreregex
    }

    pub fn date_detector(&self) -> &DateDetector {
        &self.dates
    }

    pub fn maxlines(&self) -> usize {
        self.maxlines
    }

    /// Processes a line whose date is found by the date detector.
    pub fn process_line(&mut self, line: &str, ctx: &TimeContext) -> LineResult {
        let serial = self.next_serial();
        let found = self.find_date(line, ctx);
        if found.is_some_and(|f| f.outcome == DateOutcome::Error) {
            // fail2ban's getTime raises here; processLineAndAdd logs it and drops the line
            // before findFailure, so the line buffer is left as it was.
            return LineResult {
                serial,
                found_date: found,
                ..LineResult::default()
            };
        }
        // Lines without a usable date borrow the last one seen in the last minute; fail2ban
        // then shows that date text in front of the line. The text is borrowed out of `self`
        // for the call (and put back) so such lines allocate nothing either.
        let carried = std::mem::take(&mut self.last_time_text);
        let dated = self.date_line(line, found, &carried, ctx.now);
        let view = TupleView {
            prefix: dated.prefix,
            date: dated.date_text,
            suffix: dated.suffix,
            serial,
        };
        let mut result = self.process_view(view, dated.time, dated.no_date, ctx.now);
        let new_date = dated.new_date;
        let mut carried = carried;
        if let (true, Some(f)) = (new_date, found) {
            carried.clear();
            carried.push_str(&line[f.start..f.end]);
        }
        self.last_time_text = carried;
        result.found_date = found;
        result.date = found.and_then(|f| match f.outcome {
            DateOutcome::Time(timestamp) => Some(DateMatch {
                start: f.start,
                end: f.end,
                timestamp,
                template: f.template,
            }),
            _ => None,
        });
        result
    }

    /// The date detector's answer, with `{NONE}` (which has no template to match) as an
    /// empty date at the start of every line, and spans that are not on character
    /// boundaries (impossible for the detector's regexes) taken as no date.
    fn find_date(&mut self, line: &str, ctx: &TimeContext) -> Option<DateFound> {
        let found = self.dates.find_date(line, ctx).or_else(|| {
            self.dates.is_none().then_some(DateFound {
                start: 0,
                end: 0,
                template: 0,
                outcome: DateOutcome::Empty,
            })
        });
        found.filter(|f| {
            f.start <= f.end && line.is_char_boundary(f.start) && line.is_char_boundary(f.end)
        })
    }

    /// `processLine` up to the time checks: how the line is split around its date and which
    /// time it gets. `carried` is the last date text seen.
    fn date_line<'l>(
        &mut self,
        line: &'l str,
        found: Option<DateFound>,
        carried: &'l str,
        now: f64,
    ) -> DatedLine<'l> {
        let mut dated = match found {
            None => DatedLine::whole(line),
            Some(f) => DatedLine {
                prefix: &line[..f.start],
                date_text: &line[f.start..f.end],
                suffix: &line[f.end..],
                time: None,
                no_date: false,
                new_date: false,
            },
        };
        let recent = self.recent_last_date(now);
        match found.map(|f| f.outcome) {
            Some(DateOutcome::Time(timestamp)) => {
                dated.time = Some(timestamp);
                dated.new_date = true;
                // Before the time checks, which may replace it with now (as fail2ban does).
                self.last_date = Some(timestamp);
            }
            // An optional date that matched empty text: the last date if recent, else now.
            Some(DateOutcome::Empty) => match recent {
                Some(last) => dated = DatedLine::carried(line, carried, last),
                None => dated.time = Some(now),
            },
            // An invalid date ("failed to parse timeText") stays cut out of the line.
            Some(DateOutcome::Invalid | DateOutcome::Error) | None => {}
        }
        if dated.time.is_none() {
            dated.no_date = true;
            if let Some(last) = recent {
                dated = DatedLine::carried(line, carried, last);
                dated.no_date = true;
            } else if self.options.check_find_time && self.options.in_operation {
                dated.time = Some(now);
            }
        }
        dated
    }

    /// Processes a line whose time is known (a journal entry); the line carries no date text.
    /// The timestamp also serves as "now" for time checks and the multi-line id cache.
    pub fn process_line_with_time(&mut self, line: &str, timestamp: f64) -> LineResult {
        self.process_dated_line("", line, timestamp)
    }

    /// Like [`Self::process_line_with_time`], with the date text the source shows in front of
    /// the line (fail2ban's journal backend passes `("", date + " ", message)`): it is part of
    /// the failure's matched lines but not of the text the regexes see.
    pub fn process_dated_line(
        &mut self,
        date_text: &str,
        line: &str,
        timestamp: f64,
    ) -> LineResult {
        let serial = self.next_serial();
        self.remember_date(date_text, timestamp);
        let view = TupleView {
            prefix: "",
            date: date_text,
            suffix: line,
            serial,
        };
        self.process_view(view, Some(timestamp), false, timestamp)
    }

    fn next_serial(&mut self) -> u64 {
        let serial = self.serial;
        self.serial += 1;
        serial
    }

    fn remember_date(&mut self, text: &str, timestamp: f64) {
        self.last_time_text.clear();
        self.last_time_text.push_str(text);
        self.last_date = Some(timestamp);
    }

    fn recent_last_date(&self, now: f64) -> Option<f64> {
        self.last_date.filter(|d| *d > now - 60.0)
    }

    /// The time checks of `processLine`, then `findFailure`.
    fn process_view(
        &mut self,
        view: TupleView<'_>,
        mut date: Option<f64>,
        no_date: bool,
        now: f64,
    ) -> LineResult {
        if self.options.check_find_time
            && let Some(when) = date
        {
            if self.options.in_operation {
                // A date far from now is a time zone or latency problem: take it as now.
                if (when - now).trunc().abs() > 60.0 {
                    date = Some(now);
                    self.last_date = Some(now);
                }
            } else if when < now - self.options.find_time {
                return LineResult {
                    serial: view.serial,
                    time: date,
                    too_old: true,
                    ..LineResult::default()
                };
            }
        }
        let mut result = self.find_failure(view, date, no_date, now);
        result.serial = view.serial;
        result.time = date;
        result
    }
}

/// A line split around its date text, with the time `processLine` gives it.
struct DatedLine<'l> {
    prefix: &'l str,
    date_text: &'l str,
    suffix: &'l str,
    time: Option<f64>,
    /// No usable date of its own (fail2ban's `noDate`).
    no_date: bool,
    /// The line's own date converted: its text becomes the last date text.
    new_date: bool,
}

impl<'l> DatedLine<'l> {
    fn whole(line: &'l str) -> Self {
        DatedLine {
            prefix: "",
            date_text: "",
            suffix: line,
            time: None,
            no_date: false,
            new_date: false,
        }
    }

    /// `("", lastTimeText, line)`: the whole line, behind the last date text seen.
    fn carried(line: &'l str, carried: &'l str, last: f64) -> Self {
        DatedLine {
            date_text: carried,
            time: Some(last),
            ..DatedLine::whole(line)
        }
    }
}

mod find;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
