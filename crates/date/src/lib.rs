//! Date detection in log lines, the way fail2ban 1.0.2's `datedetector` does it.
//!
//! Owns: fail2ban's date templates (the default list and `datepattern` values), its
//! strptime dialect (`%ExY`, `%k`, `{^LN-BEG}`, `{DATE}`, `EPOCH`, `TAI64N`, …), its year
//! inference for year-less dates, its zone handling (`%z`/`%Z` in the line, `logtimezone`,
//! local time otherwise) and its template search order, which decides which date wins.
//!
//! Receives: a log line and a [`TimeContext`] (what "now" is and the local time zone).
//!
//! Emits: the byte span fail2ban cuts out of the line (the template regex's group 1) and
//! the Unix time it names ([`DateMatch`], or [`DateFound`] with fail2ban's non-time outcomes).
//!
//! fail2ban's Python regexes are translated to the linear-time `regex` crate by the shared
//! `ferroban-pyre` translator in its date dialect; the search keeps fail2ban's "last template first" fast path, and a line
//! whose date sits where the last one did costs one regex search and no allocation.
//!
//! Known differences: `\d` matches ASCII digits only (Python: any Unicode digit); template
//! hit counters and the weight-100 sharing of fail2ban's process-wide template cache are per
//! detector; `datepattern` regexes with look-around, conditionals or numeric
//! back-references are refused, and so is `%s` (fail2ban builds a broken template from it).
//! `logtimezone` belongs on the detector ([`DateDetector::set_default_tz`]), not in
//! [`TimeContext::tz`], which is the local zone as in fail2ban.

mod detector;
mod fastpath;
mod strptime;
mod template;

use jiff::tz::TimeZone;

pub use detector::{DateDetector, parse_log_time_zone};

/// What a caller knows about "now" and the local time zone; decides the year of year-less
/// dates and the meaning of dates without a zone (when no `logtimezone` is set on the
/// detector, see [`DateDetector::set_default_tz`]).
#[derive(Debug, Clone)]
pub struct TimeContext {
    /// Unix time (seconds) taken as "now".
    pub now: f64,
    /// The local time zone (Python's `time.mktime`/`datetime.fromtimestamp`).
    pub tz: TimeZone,
}

impl TimeContext {
    /// "now" with the time zone a process gets from the `TZ` environment value `tz`: a
    /// zoneinfo name (`Europe/Berlin`, `:Europe/Berlin`), else a POSIX rule
    /// (`CET-01CEST-02,M3.5.0,M10.5.0`), `""` for UTC; the system zone when `None`, and UTC
    /// for values libc would not understand either.
    pub fn from_tz_env(now: f64, tz: Option<&str>) -> Self {
        let tz = match tz {
            None => TimeZone::system(),
            Some(value) => zone_from_tz_value(value),
        };
        TimeContext { now, tz }
    }

    /// "now" in the process's local zone (the `TZ` variable, else the system's).
    pub fn local(now: f64) -> Self {
        Self::from_tz_env(now, std::env::var("TZ").ok().as_deref())
    }
}

fn zone_from_tz_value(value: &str) -> TimeZone {
    let name = value.strip_prefix(':').unwrap_or(value);
    if name.is_empty() {
        return TimeZone::UTC;
    }
    if let Ok(zone) = TimeZone::get(name) {
        return zone;
    }
    TimeZone::posix(value).unwrap_or(TimeZone::UTC)
}

/// Where a date was found in a line and what instant it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateMatch {
    /// Byte offset where the date text starts.
    pub start: usize,
    /// Byte offset just after the date text.
    pub end: usize,
    /// Unix time in seconds (fractional part kept).
    pub timestamp: f64,
    /// Index of the template that matched (see [`DateDetector::templates`]).
    pub template: usize,
}

/// What a found date means, in fail2ban's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateOutcome {
    /// Unix time in seconds.
    Time(f64),
    /// The template matched empty text (`{NONE}`, `^WARNING:()**`): fail2ban uses the last
    /// date if it is under a minute old, else now.
    Empty,
    /// The text does not make a valid date (February 30, hour 25): fail2ban logs "failed to
    /// parse timeText" and falls back like for [`DateOutcome::Empty`].
    Invalid,
    /// fail2ban raises here (unknown zone abbreviation, a day without a month): the line is
    /// dropped.
    Error,
}

/// A date found by [`DateDetector::find_date`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateFound {
    /// Byte offset where the date text starts (group 1 of the template's regex).
    pub start: usize,
    /// Byte offset just after the date text.
    pub end: usize,
    /// Index of the template that matched (see [`DateDetector::templates`]).
    pub template: usize,
    pub outcome: DateOutcome,
}

/// Errors in a `datepattern` or `logtimezone` value.
#[derive(Debug, thiserror::Error)]
pub enum DateError {
    #[error("invalid datepattern {pattern:?}: {reason}")]
    InvalidPattern {
        pattern: String,
        reason: TemplateError,
    },
    #[error("{reason}: {zone:?}")]
    UnknownTimeZone { zone: String, reason: &'static str },
}

/// Why a date template could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unsupported regex: {0}")]
    PythonRegex(#[from] ferroban_pyre::TranslateError),
    /// Date regexes run on the linear-time engine alone.
    #[error("unsupported regex construct: {} (date patterns run on the linear-time engine)", .0.describe())]
    Backtracking(ferroban_pyre::BacktrackFeature),
    #[error(transparent)]
    Syntax(#[from] Box<regex_syntax::Error>),
    #[error("Failed to set datepattern '{0}' (may be an invalid format or unescaped percent char)")]
    BadDirective(String),
    #[error("There is already a template with name {0}")]
    DuplicateName(String),
}

/// A template and how often it matched, for `regex` reports.
#[derive(Debug, Clone)]
pub struct TemplateStats {
    pub name: String,
    pub hits: u64,
    /// fail2ban's sorting weight: hits × template weight / distance.
    pub weight: f64,
    /// The template's own weight (100 for the line-begin copies of the defaults).
    pub template_weight: f64,
    /// The `datepattern` it came from (`None` for Epoch and TAI64N templates).
    pub pattern: Option<String>,
    /// The regex as fail2ban writes it.
    pub regex: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
