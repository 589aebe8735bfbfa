//! One compiled fail2ban regex: translation, engine choice, and a match API that reports
//! group spans without allocating on a miss.
//!
//! Linear regexes get two programs. Log lines are nearly always ASCII, and on ASCII text a
//! regex compiled with Unicode off (`\d` = `[0-9]`, `\w`, `\s`, `\b` and `(?i)` over ASCII)
//! matches exactly what the Unicode regex matches, with the same groups; its automaton is a
//! fraction of the size (fail2ban's `<HOST>` alone holds a dozen `\d`, each hundreds of UTF-8
//! states in Unicode mode). So ASCII haystacks run the ASCII program, and the Unicode program
//! (Python's semantics for all text) is compiled on the first non-ASCII haystack that needs
//! it. Patterns the ASCII program cannot express (non-ASCII class members, `\p{..}`) get the
//! Unicode program at once.

use std::cell::RefCell;
use std::sync::OnceLock;

use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::{Input, MatchKind, PatternSet};

use crate::literals::LiteralGate;
use ferroban_pyre::{BacktrackFeature, Options, TranslateError, Translated};

/// Compiled program size allowed per regex. fail2ban's prefix-line expansions make large
/// automata; the 10 MiB default refuses a few of them.
const SIZE_LIMIT: usize = 64 << 20;
/// Lazy-DFA cache per regex. At the 2 MiB default the long `<HOST>` alternations thrash the
/// cache and throughput collapses (measured: ~25k lines/s instead of ~2M with a RegexSet).
pub(crate) const DFA_SIZE_LIMIT: usize = 16 << 20;

/// Which engine runs a regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The linear-time `regex` crate.
    Linear,
    /// The backtracking engine (PCRE2's JIT), with the construct that required it.
    Backtracking(BacktrackFeature),
}

/// Why a regex could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileFailure {
    /// The pattern after tag expansion (Python syntax), as fail2ban shows it.
    pub expanded: String,
    pub message: String,
}

#[derive(Debug, Clone)]
enum Program {
    Linear(Box<Linear>),
    Pcre(Box<Pcre>),
}

/// A backtracking regex run by PCRE2's JIT compiler: some ten times faster than the
/// fancy-regex interpreter ferroban used first, on fail2ban's conditional failregexes
/// (sshd's `Failed ...`, 0.9 µs against 8.4 µs a match), and it reads every construct of
/// Python's `re` that the linear engine cannot. PCRE2 stops a search at its match limit (ten million steps),
/// which counts as no match, so a hostile line cannot stall a jail.
#[derive(Debug, Clone)]
struct Pcre {
    regex: pcre2::bytes::Regex,
    locations: pcre2::bytes::CaptureLocations,
}

/// The JIT's stack, enough for the deepest stock pattern; a search that needs more is an
/// error, counted as no match.
const JIT_STACK: usize = 1 << 20;

/// PCRE2 reads the translated (Rust-syntax) pattern: the same constructs mean the same
/// there, with Unicode classes (`ucp`) as in Python and Rust.
fn pcre_regex(pattern: &str) -> Result<pcre2::bytes::Regex, pcre2::Error> {
    pcre2::bytes::RegexBuilder::new()
        .utf(true)
        .ucp(true)
        .jit_if_available(true)
        .max_jit_stack_size(Some(JIT_STACK))
        .build(pattern)
}

/// A linear regex: the ASCII program when it can be built, the Unicode one on demand.
///
/// Both are compiled on first use. A filter's prefilter set decides which of its regexes a
/// line needs, and most regexes of most jails are never needed: sshd's filter has two
/// dozen, a quiet jail's log may match none. Compiled, each takes some 6 KiB, which for
/// ten jails was a third of the daemon's heap at rest.
#[derive(Debug, Clone)]
struct Linear {
    /// The translated pattern, for compiling the programs.
    pattern: String,
    /// The ASCII program; `None` when the pattern needs Unicode mode.
    ascii: OnceLock<Option<regex::bytes::Regex>>,
    ascii_locations: Option<regex::bytes::CaptureLocations>,
    /// The Unicode program; `Err` only if it exceeds the size limit while the ASCII program
    /// did not (then non-ASCII haystacks count as no match).
    unicode: OnceLock<Result<regex::Regex, String>>,
    unicode_locations: Option<regex::CaptureLocations>,
}

impl Linear {
    fn ascii(&self) -> Option<&regex::bytes::Regex> {
        self.ascii
            .get_or_init(|| ascii_regex(&self.pattern))
            .as_ref()
    }

    fn unicode(&self) -> Option<&regex::Regex> {
        self.unicode
            .get_or_init(|| unicode_regex(&self.pattern))
            .as_ref()
            .ok()
    }

    fn is_match(&self, haystack: &str) -> bool {
        match self.ascii() {
            Some(ascii) if haystack.is_ascii() => ascii.is_match(haystack.as_bytes()),
            _ => self.unicode().is_some_and(|r| r.is_match(haystack)),
        }
    }

    /// Searches and writes the groups' spans into `spans` on a match.
    fn search(&mut self, haystack: &str, spans: &mut [Option<(usize, usize)>]) -> bool {
        if let (Some(ascii), true) = (
            self.ascii.get_or_init(|| ascii_regex(&self.pattern)),
            haystack.is_ascii(),
        ) {
            let locations = self
                .ascii_locations
                .get_or_insert_with(|| ascii.capture_locations());
            if ascii
                .captures_read(locations, haystack.as_bytes())
                .is_none()
            {
                return false;
            }
            for (index, span) in spans.iter_mut().enumerate() {
                *span = locations.get(index);
            }
            return true;
        }
        let Some(regex) = self
            .unicode
            .get_or_init(|| unicode_regex(&self.pattern))
            .as_ref()
            .ok()
        else {
            return false;
        };
        let locations = self
            .unicode_locations
            .get_or_insert_with(|| regex.capture_locations());
        if regex.captures_read(locations, haystack).is_none() {
            return false;
        }
        for (index, span) in spans.iter_mut().enumerate() {
            *span = locations.get(index);
        }
        true
    }
}

fn unicode_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// The ASCII program of `pattern`, None when the pattern needs Unicode mode.
pub(crate) fn ascii_regex(pattern: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .ok()
}

/// A compiled regex with its group names resolved to indices.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    program: Program,
    engine: Engine,
    /// Relaxed superset pattern for the linear prefilter (equals the pattern when linear).
    pub(crate) relaxed: String,
    /// Anchor-free superset pattern (see `Translated::anywhere`).
    pub(crate) anywhere: String,
    /// Name of each capture group by index (None for unnamed).
    names: Vec<Option<String>>,
    /// Spans of the last successful search, by group index.
    spans: Vec<Option<(usize, usize)>>,
    /// Named groups that take part, with some text, in every match (linear regexes only;
    /// see [`always_nonempty_groups`]).
    always_nonempty: Vec<String>,
    /// The named group every match starts with, when the pattern is `^(?P<name>...)...`
    /// (linear regexes only): its text is then a prefix of the haystack.
    leading_group: Option<String>,
}

/// Translates a tag-expanded Python pattern in the filter dialect; `<HOST>`'s IPv6
/// alternative is first written in its linear-time form (see `tags::linear_ip6`).
pub(crate) fn translate(expanded: &str, multiline: bool) -> Result<Translated, TranslateError> {
    ferroban_pyre::translate(
        &crate::tags::linear_ip6(expanded),
        Options::filter(multiline),
    )
}

impl CompiledRegex {
    /// Compiles an already tag-expanded Python pattern. `multiline` is Python's re.MULTILINE.
    pub fn new(expanded: &str, multiline: bool) -> Result<Self, CompileFailure> {
        let failure = |message: String| CompileFailure {
            expanded: expanded.to_string(),
            message,
        };
        let translated =
            translate(expanded, multiline).map_err(|e: TranslateError| failure(e.to_string()))?;
        let pattern = if multiline {
            format!("(?m){}", translated.pattern)
        } else {
            translated.pattern
        };
        let relaxed = if multiline {
            format!("(?m){}", translated.relaxed)
        } else {
            translated.relaxed
        };
        // Engine choice: the linear-time engine whenever the translation needs nothing else;
        // only look-around, back-references, conditionals, atomic groups and possessive
        // quantifiers send a regex to the backtracking engine (with a step limit).
        let anywhere = translated.anywhere;
        let engine = translated
            .backtracking
            .map_or(Engine::Linear, Engine::Backtracking);
        let (program, names): (Program, Vec<Option<String>>) = match translated.backtracking {
            None => {
                // Compiled here to report errors and read the group names, then dropped
                // until first use (see `Linear`).
                let ascii = ascii_regex(&pattern);
                let unicode = OnceLock::new();
                let names: Vec<Option<String>> = match &ascii {
                    Some(ascii) => ascii
                        .capture_names()
                        .map(|name| name.map(str::to_string))
                        .collect(),
                    None => {
                        // Needs Unicode mode: compile it now (this also reports errors).
                        let regex = unicode_regex(&pattern).map_err(failure)?;
                        let names = regex
                            .capture_names()
                            .map(|name| name.map(str::to_string))
                            .collect();
                        let _ = unicode.set(Ok(regex));
                        names
                    }
                };
                let ascii = match ascii {
                    Some(_) => OnceLock::new(),
                    None => OnceLock::from(None),
                };
                let linear = Linear {
                    pattern: pattern.clone(),
                    ascii,
                    ascii_locations: None,
                    unicode,
                    unicode_locations: None,
                };
                (Program::Linear(Box::new(linear)), names)
            }
            Some(_) => {
                let regex = pcre_regex(&pattern).map_err(|e| failure(e.to_string()))?;
                let names = regex.capture_names().to_vec();
                let locations = regex.capture_locations();
                (Program::Pcre(Box::new(Pcre { regex, locations })), names)
            }
        };
        let spans = vec![None; names_len(&names)];
        let (always_nonempty, leading_group) = match engine {
            Engine::Linear => syntax_facts(&pattern),
            Engine::Backtracking(_) => (Vec::new(), None),
        };
        Ok(CompiledRegex {
            program,
            engine,
            relaxed,
            anywhere,
            names,
            spans,
            always_nonempty,
            leading_group,
        })
    }

    /// Which engine runs this regex.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    #[cfg(test)]
    /// True when the linear engine runs this regex (then it may join a RegexSet as is).
    pub fn is_linear(&self) -> bool {
        matches!(self.program, Program::Linear(_))
    }

    /// Group names, by group index.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter_map(|name| name.as_deref())
    }

    /// True when the named group takes part with a non-empty text in every match: its value
    /// is known from the fact of a match alone, without resolving groups.
    pub fn always_has_text(&self, name: &str) -> bool {
        self.always_nonempty.iter().any(|n| n == name)
    }

    /// True when every match starts at the start of the haystack with the named group, so
    /// its text is a prefix of the haystack.
    pub fn group_is_prefix(&self, name: &str) -> bool {
        self.leading_group.as_deref() == Some(name)
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.as_deref() == Some(name))
    }

    /// True when the regex matches somewhere in `haystack`, without resolving groups (the
    /// lazy DFA alone for the linear engine, far cheaper than [`Self::search`]). The spans of
    /// the last [`Self::search`] are left as they were.
    pub fn is_match(&self, haystack: &str) -> bool {
        match &self.program {
            Program::Linear(linear) => linear.is_match(haystack),
            // A backtrack-limit error counts as no match, as in `search`.
            Program::Pcre(pcre) => pcre.regex.is_match(haystack.as_bytes()).unwrap_or(false),
        }
    }

    /// End of the leftmost-first match in `haystack` (no groups resolved; the spans of the
    /// last [`Self::search`] are left as they were).
    pub fn find_end(&self, haystack: &str) -> Option<usize> {
        match &self.program {
            Program::Linear(linear) => match linear.ascii() {
                Some(ascii) if haystack.is_ascii() => {
                    ascii.find(haystack.as_bytes()).map(|m| m.end())
                }
                _ => linear.unicode()?.find(haystack).map(|m| m.end()),
            },
            Program::Pcre(pcre) => pcre
                .regex
                .find(haystack.as_bytes())
                .ok()
                .flatten()
                .map(|m| m.end()),
        }
    }

    /// Searches `haystack`; on success the spans of the match are kept for [`Self::group`].
    pub fn search(&mut self, haystack: &str) -> bool {
        match &mut self.program {
            Program::Linear(linear) => linear.search(haystack, &mut self.spans),
            Program::Pcre(pcre) => {
                // A match-limit or JIT-stack error counts as no match: the line is missed.
                let Ok(Some(_)) = pcre
                    .regex
                    .captures_read(&mut pcre.locations, haystack.as_bytes())
                else {
                    return false;
                };
                for (index, span) in self.spans.iter_mut().enumerate() {
                    *span = pcre.locations.get(index);
                }
                true
            }
        }
    }

    /// Span of the whole last match.
    pub fn span(&self) -> Option<(usize, usize)> {
        self.spans.first().copied().flatten()
    }

    /// Span of a named group in the last match (None when it did not participate).
    pub fn group(&self, name: &str) -> Option<(usize, usize)> {
        let index = self.names.iter().position(|n| n.as_deref() == Some(name))?;
        self.spans.get(index).copied().flatten()
    }

    /// Named groups with their spans in the last match (None when not participating).
    pub fn named_spans(&self) -> impl Iterator<Item = (&str, Option<(usize, usize)>)> {
        self.names
            .iter()
            .zip(self.spans.iter())
            .filter_map(|(name, span)| name.as_deref().map(|name| (name, *span)))
    }
}

/// What the syntax of a (translated, linear) pattern tells about its groups:
/// - the named groups that take part in every match with a non-empty text: reached from the
///   top through concatenations and repetitions that run at least once, never through an
///   alternation branch or an optional part, and unable to match the empty string;
/// - the named group a match starts with, when the pattern is `^(?P<name>...)...` with a
///   start-of-text anchor.
///
/// An unparsable pattern has neither.
fn syntax_facts(pattern: &str) -> (Vec<String>, Option<String>) {
    use regex_syntax::hir::{Hir, HirKind, Look};

    fn walk(hir: &Hir, names: &mut Vec<String>) {
        match hir.kind() {
            HirKind::Capture(capture) => {
                let nonempty = capture
                    .sub
                    .properties()
                    .minimum_len()
                    .is_some_and(|len| len > 0);
                if let (Some(name), true) = (&capture.name, nonempty) {
                    names.push(name.to_string());
                }
                walk(&capture.sub, names);
            }
            HirKind::Concat(parts) => parts.iter().for_each(|part| walk(part, names)),
            HirKind::Repetition(repetition) if repetition.min > 0 => walk(&repetition.sub, names),
            // Alternation branches, optional repetitions, literals, classes, assertions.
            _ => {}
        }
    }

    let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
        return (Vec::new(), None);
    };
    let mut names = Vec::new();
    walk(&hir, &mut names);
    let leading = match hir.kind() {
        HirKind::Concat(parts) => match (parts.first().map(Hir::kind), parts.get(1).map(Hir::kind))
        {
            (Some(HirKind::Look(Look::Start)), Some(HirKind::Capture(capture))) => {
                capture.name.as_deref().map(str::to_string)
            }
            _ => None,
        },
        _ => None,
    };
    (names, leading)
}

fn names_len(names: &[Option<String>]) -> usize {
    names.len().max(1)
}

/// A RegexSet over superset forms of a filter's regexes, asked before the exact regexes.
/// ASCII haystacks use the ASCII set (see the module comment); others the Unicode set.
/// Both are compiled when first asked: a daemon's jails that see no traffic keep only the
/// patterns (a set over sshd's failregexes is ~0.6 MB).
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    patterns: Vec<String>,
    /// Turns away, after a literal scan, lines that no pattern can match (see `literals`).
    gate: LiteralGate,
    /// Off only to compare results with and without the gate.
    gate_on: bool,
    ascii: OnceLock<Option<AsciiSet>>,
    unicode: OnceLock<Option<regex::RegexSet>>,
}

/// The ASCII set: the automaton `regex::bytes::RegexSet` builds, asked through
/// regex-automata so that the set of matching patterns is kept for the next line
/// (`RegexSet::matches` allocates one per search, and every line is searched).
#[derive(Debug, Clone)]
struct AsciiSet {
    regex: regex_automata::meta::Regex,
    found: RefCell<PatternSet>,
}

impl AsciiSet {
    fn new(patterns: &[String]) -> Option<Self> {
        // As `RegexSetBuilder` configures it, with the limits above.
        let config = regex_automata::meta::Config::new()
            .match_kind(MatchKind::All)
            .utf8_empty(false)
            .which_captures(WhichCaptures::None)
            .nfa_size_limit(Some(SET_SIZE_LIMIT))
            .hybrid_cache_capacity(DFA_SIZE_LIMIT);
        let syntax = regex_automata::util::syntax::Config::new()
            .unicode(false)
            .utf8(false);
        let regex = regex_automata::meta::Builder::new()
            .configure(config)
            .syntax(syntax)
            .build_many(patterns)
            .ok()?;
        let found = RefCell::new(PatternSet::new(regex.pattern_len()));
        Some(AsciiSet { regex, found })
    }

    fn matches(&self, haystack: &[u8]) -> Vec<usize> {
        let mut found = self.found.borrow_mut();
        found.clear();
        self.regex
            .which_overlapping_matches(&Input::new(haystack), &mut found);
        // Empty for most lines: no allocation then.
        found.iter().map(|pattern| pattern.as_usize()).collect()
    }
}

/// A set's automaton over all of a filter's regexes is large; its own limits.
const SET_SIZE_LIMIT: usize = 256 << 20;

impl Prefilter {
    /// None without patterns.
    pub(crate) fn new(patterns: Vec<String>) -> Option<Self> {
        if patterns.is_empty() {
            return None;
        }
        Some(Prefilter {
            gate: LiteralGate::new(patterns.iter().map(String::as_str)),
            gate_on: true,
            patterns,
            ascii: OnceLock::new(),
            unicode: OnceLock::new(),
        })
    }

    /// The ASCII set for an ASCII haystack; None for other text or when the patterns need
    /// Unicode mode.
    fn ascii(&self, haystack: &str) -> Option<&AsciiSet> {
        if !haystack.is_ascii() {
            return None;
        }
        self.ascii
            .get_or_init(|| AsciiSet::new(&self.patterns))
            .as_ref()
    }

    fn unicode(&self) -> Option<&regex::RegexSet> {
        self.unicode
            .get_or_init(|| {
                regex::RegexSetBuilder::new(&self.patterns)
                    .size_limit(SET_SIZE_LIMIT)
                    .dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// False when the literal scan alone shows that no pattern matches `haystack`.
    pub(crate) fn gate_rejects(&self, haystack: &str) -> bool {
        self.gate_on && !self.gate.may_match(haystack)
    }

    /// Turns the literal gate on (the default) or off.
    pub(crate) fn set_gate(&mut self, on: bool) {
        self.gate_on = on;
    }

    /// True when the literal gate can turn lines away (see `literals`).
    pub(crate) fn has_active_gate(&self) -> bool {
        self.gate.is_active()
    }

    /// False only when no pattern matches `haystack`.
    pub(crate) fn may_match(&self, haystack: &str) -> bool {
        if self.gate_rejects(haystack) {
            return false;
        }
        match self.ascii(haystack) {
            Some(set) => set.regex.is_match(haystack.as_bytes()),
            None => self.unicode().is_none_or(|set| set.is_match(haystack)),
        }
    }

    /// True when [`Self::matches`] on `haystack` answers from a built set (rather than
    /// naming every pattern): then a linear regex named there does match.
    pub(crate) fn answers_exactly(&self, haystack: &str) -> bool {
        match self.ascii(haystack) {
            Some(_) => true,
            None => self.unicode().is_some(),
        }
    }

    /// Indices of the patterns that match (all of them when the set could not be built).
    pub(crate) fn matches(&self, haystack: &str) -> Vec<usize> {
        if self.gate_rejects(haystack) {
            return Vec::new();
        }
        match self.ascii(haystack) {
            Some(set) => set.matches(haystack.as_bytes()),
            None => match self.unicode() {
                Some(set) => set.matches(haystack).into_iter().collect(),
                None => (0..self.patterns.len()).collect(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn linear_regex_reports_groups() {
        let mut regex = CompiledRegex::new(r"^user (?P<user>\S+) from x$", false).unwrap();
        assert!(regex.is_linear());
        assert!(regex.search("user bob from x\n"));
        assert_eq!(regex.group("user"), Some((5, 8)));
        assert!(!regex.search("user bob from y\n"));
    }

    #[test]
    fn non_ascii_text_keeps_unicode_classes() {
        // Python's `\d` and `\w` take any Unicode digit or letter: the ASCII program would
        // not, so non-ASCII haystacks go to the Unicode program.
        let mut regex = CompiledRegex::new(r"^n=(?P<n>\d+) w=(?P<w>\w+)$", false).unwrap();
        assert!(regex.search("n=42 w=abc\n"));
        assert_eq!(regex.group("w"), Some((7, 10)));
        assert!(regex.search("n=\u{663}\u{664} w=\u{e9}t\u{e9}\n"));
        assert_eq!(regex.group("n"), Some((2, 6)));
        assert!(regex.is_match("n=\u{663} w=x"));
        assert!(!regex.is_match("n=x w=x"));
        let mut folded = CompiledRegex::new(r"(?i)^kelvin$", false).unwrap();
        assert!(folded.search("KELVIN"));
        assert!(folded.search("\u{212a}elvin"));
    }

    #[test]
    fn pattern_needing_unicode_mode_still_compiles() {
        let mut regex = CompiledRegex::new(r"^[\u00e0-\u00ff]+ (?P<x>\S+)$", false).unwrap();
        assert!(regex.search("\u{e9}\u{e8} abc"));
        assert_eq!(regex.group("x"), Some((5, 8)));
        assert!(!regex.search("ab abc"));
    }

    #[test]
    fn prefilter_answers_for_ascii_and_unicode_text() {
        let set = Prefilter::new(vec![r"\d+x".to_string(), r"\w+y".to_string()]).unwrap();
        assert!(set.may_match("12x"));
        assert!(!set.may_match("12 z"));
        assert_eq!(set.matches("1x ay"), vec![0, 1]);
        assert_eq!(set.matches("\u{663}x"), vec![0]);
        assert!(set.may_match("\u{e9}y"));
    }

    #[test]
    fn dollar_matches_before_final_newline_only() {
        let mut regex = CompiledRegex::new(r"^a$", false).unwrap();
        assert!(regex.search("a\n"));
        assert!(regex.search("a"));
        // Without MULTILINE, `$` does not match before an inner newline.
        assert!(!regex.search("a\nb\n"));
        let mut multi = CompiledRegex::new(r"^a$", true).unwrap();
        assert!(multi.search("a\nb\n"));
        let mut z = CompiledRegex::new(r"^a\Z", false).unwrap();
        assert!(!z.search("a\n"));
    }

    #[test]
    fn look_around_goes_to_backtracking_engine() {
        let mut regex = CompiledRegex::new(r"^(?!evil)(?P<w>\w+)$", false).unwrap();
        assert!(matches!(
            regex.engine(),
            Engine::Backtracking(BacktrackFeature::LookAround)
        ));
        assert!(regex.search("good\n"));
        assert_eq!(regex.group("w"), Some((0, 4)));
        assert!(!regex.search("evil\n"));
    }

    #[test]
    fn python_conditional_works_in_the_backtracking_engine() {
        let mut regex = CompiledRegex::new(r"^(?P<q>')?(?P<v>\w+)(?(q)'|)$", false).unwrap();
        assert!(regex.search("'abc'\n"));
        assert!(regex.search("abc\n"));
        assert!(!regex.search("'abc\n"));
    }

    #[test]
    fn named_backreference_works() {
        let mut regex = CompiledRegex::new(r"^(?P<u>\w+) (?P=u)$", false).unwrap();
        assert!(regex.search("bob bob\n"));
        assert!(!regex.search("bob alice\n"));
    }

    #[test]
    fn catastrophic_backtracking_is_bounded() {
        let mut regex = CompiledRegex::new(r"^(?:(?!x)a+)+b$", false).unwrap();
        let line = "a".repeat(5000);
        assert!(!regex.search(&line));
    }

    #[test]
    fn groups_in_every_match_are_found() {
        let regex = CompiledRegex::new(
            r"^(?P<a>x)(?:(?P<b>y)|z)(?P<c>w)?(?P<d>v*)(?:(?P<e>u))+(?P<f>(?P<g>t)?s)$",
            false,
        )
        .unwrap();
        for (name, always) in [
            ("a", true),
            ("b", false), // one branch of an alternation
            ("c", false), // optional
            ("d", false), // may be empty
            ("e", true),  // repeated at least once
            ("f", true),
            ("g", false),
        ] {
            assert_eq!(regex.always_has_text(name), always, "{name}");
        }
        assert!(regex.group_is_prefix("a"));
        assert!(!regex.group_is_prefix("e"));
        let unanchored = CompiledRegex::new(r"(?P<a>x)y", false).unwrap();
        assert!(!unanchored.group_is_prefix("a"));
        // A backtracking regex is not analysed.
        let backtracking = CompiledRegex::new(r"^(?P<a>x)(?=y)", false).unwrap();
        assert!(!backtracking.always_has_text("a"));
    }

    #[test]
    fn compile_error_names_the_message() {
        let error = CompiledRegex::new(r"(?P<a>x)(?P<a>y)", false).unwrap_err();
        assert!(!error.message.is_empty());
    }
}
