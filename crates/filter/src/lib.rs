//! fail2ban filters: from a filter's regex strings to the failures found in log lines.
//!
//! Receives a [`FilterDefinition`] whose values the config crate has already read and
//! interpolated (`prefregex`, `failregex`, `ignoreregex`, `datepattern`, `maxlines`, `usedns`),
//! and then log lines one at a time as `&str` (decoded by the caller per `logencoding`),
//! with a [`TimeContext`](ferroban_date::TimeContext) for "now" and the local time zone
//! (`logtimezone` comes in the definition and is applied by the filter itself).
//! Emits a [`LineResult`] per line: the [`Failure`]s found (id, host, time, all captured
//! groups, matched lines), which ignoreregexes hit, and the date match.
//!
//! Owns: fail2ban's regex tags (`<HOST>`, `<F-USER>…`, `<SKIPLINES>`, …), the translation of
//! Python `re` syntax to the engines (the linear-time `regex` crate whenever possible, PCRE2's
//! JIT with its match limit for look-around, back-references and conditionals),
//! cutting the date out of the line, multi-line buffering and the `F-MLFID` cache, with the
//! semantics of fail2ban 1.0.2 `server/filter.py` and `server/failregex.py`.
//!
//! Hot path: a `RegexSet` over all failregexes (backtracking ones by a relaxed linear
//! superset) rejects most lines before any capture runs; a line that matches nothing
//! allocates nothing once the filter is warm. No I/O, no DNS: a host name found in a line
//! is reported as such ([`IdKind::Dns`]) for the caller to resolve.

mod address;
mod engine;
mod failure;
mod filter;
mod lines;
mod literals;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod proptests;
mod tags;

pub use engine::Engine;
pub use failure::{Failure, IdKind};
pub use ferroban_pyre::BacktrackFeature;
pub use filter::{
    Filter, FilterDefinition, FilterOptions, LineResult, Outcome, RegexInfo, RegexKind,
};

/// Why a filter could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A regex the engines refuse (or the translator cannot read).
    #[error("{regex}: unable to compile regular expression {pattern:?}: {message}")]
    Regex {
        regex: RegexKind,
        pattern: String,
        message: String,
    },
    /// A failregex with no group that identifies the failure (`<HOST>`, `<F-ID>`, …).
    #[error("{regex}: no failure-id group in {pattern:?}")]
    NoFailureId { regex: RegexKind, pattern: String },
    /// A regex that is empty once expanded.
    #[error("{regex}: cannot add empty regex")]
    Empty { regex: RegexKind },
    /// The `datepattern` value.
    #[error("{0}")]
    DatePattern(String),
    /// The `logtimezone` value (fail2ban knows fixed offsets only: `UTC+0200`, `CET`, …).
    #[error("logtimezone: {0}")]
    LogTimeZone(String),
}

/// Expands fail2ban tags in `regex` the way fail2ban does (Python syntax in and out); for
/// reports and tools. `use_dns_no` is `usedns = no`.
pub fn expand_tags(regex: &str, use_dns_no: bool) -> String {
    tags::resolve_tags(regex, use_dns_no)
}

/// Translates a tag-expanded Python pattern and names the engine it would run on.
pub fn engine_for(expanded: &str) -> Result<Engine, String> {
    let translated = engine::translate(expanded, false).map_err(|e| e.to_string())?;
    Ok(translated
        .backtracking
        .map_or(Engine::Linear, Engine::Backtracking))
}
