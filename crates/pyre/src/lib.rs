//! Python `re` syntax, as fail2ban writes its regexes, translated to the syntax of the
//! `regex` crate and PCRE2.
//!
//! Owns: the one reading of Python's regex dialect in ferroban — escapes, classes, inline
//! flags (global wherever they stand, as before Python 3.11), `{m,n}` that is a literal when
//! malformed, `$` before a final newline, named groups and their back-references.
//!
//! Receives: a pattern and [`Options`] saying who runs it: the filter (the `regex` crate,
//! or PCRE2 for what only a backtracking engine has) or the date detector (the `regex`
//! crate alone, with fail2ban's date templates' own shapes rewritten: its word-boundary
//! look-aheads, back-references to a one-character separator, ASCII `\d`).
//!
//! Emits: a [`Translated`] pattern, the first construct that needs backtracking if any, a
//! *relaxed* form matching a superset (look-around → empty, back-reference → `(?s:.*?)`, …)
//! that the `regex` crate can always run as a prefilter, its `anywhere` form without anchors,
//! and Python's capturing groups in Python's numbering.

mod expand;
mod translator;

use translator::Translator;

/// A construct that only the backtracking engine (PCRE2) implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BacktrackFeature {
    LookAround,
    BackReference,
    Conditional,
    AtomicGroup,
    PossessiveQuantifier,
}

impl BacktrackFeature {
    pub fn describe(self) -> &'static str {
        match self {
            BacktrackFeature::LookAround => "look-around assertion",
            BacktrackFeature::BackReference => "back-reference",
            BacktrackFeature::Conditional => "conditional group",
            BacktrackFeature::AtomicGroup => "atomic group",
            BacktrackFeature::PossessiveQuantifier => "possessive quantifier",
        }
    }
}

/// What both of fail2ban's date-boundary look-aheads, `(?=^|\b|\W)` and `(?=\b|\W|$)`, mean
/// where a date template has them: no boundary fails except between two word characters.
pub const BOUNDARY: &str = r"(?:\b{start-half}|\b{end-half})";

/// What Python's `$` becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndAnchor {
    /// Python's meaning: the end, or before a final newline (or any line end in
    /// MULTILINE mode).
    Python,
    /// The `regex` crate's `$`: the end of the text. Right for text that never holds a
    /// newline (the date detector's single lines).
    Text,
}

/// Who runs the translated pattern, and so which of Python's constructs are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Python's `re.MULTILINE` (fail2ban sets it on failregexes when `maxlines > 1`).
    pub multiline: bool,
    pub end_anchor: EndAnchor,
    /// `\d` as `[0-9]` (Python: any Unicode digit).
    pub ascii_digits: bool,
    /// Named groups written as plain groups (their names are in [`Translated::group_names`]):
    /// several copies of one group can then live in one regex (see `expand_backreference`).
    pub numbered_groups: bool,
    /// fail2ban's date-boundary look-aheads written as [`BOUNDARY`].
    pub boundary_lookaheads: bool,
    /// A back-reference to a group of one character out of a few (`(?P<_sep>[-/.])…(?P=_sep)`)
    /// written as one alternative of the whole regex per character; any other
    /// back-reference is then an error.
    pub expand_backreference: bool,
}

impl Options {
    /// For a failregex, ignoreregex or prefregex.
    pub fn filter(multiline: bool) -> Self {
        Options {
            multiline,
            end_anchor: EndAnchor::Python,
            ascii_digits: false,
            numbered_groups: false,
            boundary_lookaheads: false,
            expand_backreference: false,
        }
    }

    /// For a date template's regex, run by the `regex` crate alone.
    pub fn date() -> Self {
        Options {
            multiline: false,
            end_anchor: EndAnchor::Text,
            ascii_digits: true,
            numbered_groups: true,
            boundary_lookaheads: true,
            expand_backreference: true,
        }
    }
}

/// Result of translating one Python pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The pattern in Rust syntax (valid for PCRE2; valid for `regex` when `backtracking` is None).
    pub pattern: String,
    /// The first construct found that needs the backtracking engine.
    pub backtracking: Option<BacktrackFeature>,
    /// A `regex`-crate pattern matching a superset of what `pattern` matches.
    pub relaxed: String,
    /// `relaxed` without anchors and word-boundary assertions: it matches, anywhere in a
    /// text, whatever `pattern` matches in any part of that text taken alone.
    pub anywhere: String,
    /// Python's capturing groups, in Python's numbering (group 1 first), with their names.
    pub group_names: Vec<Option<String>>,
    /// How many copies of the pattern `pattern` holds (more than 1 only when a
    /// back-reference was expanded): copy `v`'s group `g` is regex group `1 + v × groups + g`.
    pub variants: usize,
}

/// A Python pattern the translator cannot make sense of (the engines report the rest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct TranslateError {
    pub message: String,
    pub position: usize,
}

/// Translates a Python `re` pattern for whoever `options` names.
pub fn translate(pattern: &str, options: Options) -> Result<Translated, TranslateError> {
    let mut translator = Translator::new(pattern, options, None);
    translator.run()?;
    if !options.multiline && translator.global_flags().contains('m') {
        // An inline (?m) anywhere makes the whole pattern multi-line in Python.
        let multiline = Options {
            multiline: true,
            ..options
        };
        return translate(pattern, multiline);
    }
    if options.expand_backreference
        && let (Some(name), several) = translator.backreference()
    {
        let name = name.to_string();
        return expand::expand_backreference(pattern, options, &name, several);
    }
    Ok(translator.finish())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
