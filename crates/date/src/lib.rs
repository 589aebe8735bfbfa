//! Date detection in log lines, the way fail2ban's `datedetector` does it.
//!
//! (Skeleton: the public API below is the contract the filter crate codes against.)

use jiff::tz::TimeZone;

/// What a caller knows about "now" and the log's time zone; decides the year of year-less dates.
#[derive(Debug, Clone)]
pub struct TimeContext {
    /// Unix time (seconds) taken as "now".
    pub now: f64,
    /// Time zone that dates without a zone are read in (`logtimezone`, else local).
    pub tz: TimeZone,
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

/// Errors in a `datepattern` value.
#[derive(Debug, thiserror::Error)]
pub enum DateError {
    #[error("invalid datepattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// A template and how often it matched, for `regex` reports.
#[derive(Debug, Clone)]
pub struct TemplateStats {
    pub name: String,
    pub hits: u64,
}

/// Finds dates in lines.
#[derive(Debug, Default)]
pub struct DateDetector {}

impl DateDetector {
    /// fail2ban's default detectors.
    pub fn new_default() -> Self {
        DateDetector {}
    }

    /// From a `datepattern` value (`{^LN-BEG}`, `EPOCH`, `TAI64N`, `ISO8601`, `{DATE}`,
    /// `{NONE}`, strptime patterns, several lines).
    pub fn from_pattern(pattern: &str) -> Result<Self, DateError> {
        let _ = pattern;
        Ok(DateDetector {})
    }

    /// Looks for a date in `line`.
    pub fn match_time(&mut self, line: &str, ctx: &TimeContext) -> Option<DateMatch> {
        let _ = (line, ctx);
        None
    }

    /// True for `{NONE}`: lines carry no date and "now" is used.
    pub fn is_none(&self) -> bool {
        false
    }

    /// Templates with their hit counts, in fail2ban-regex's report order.
    pub fn templates(&self) -> Vec<TemplateStats> {
        Vec::new()
    }
}
