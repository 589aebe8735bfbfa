//! One compiled fail2ban regex: translation, engine choice, and a match API that reports
//! group spans without allocating on a miss.

use crate::translate::{FancyFeature, TranslateError, translate};

/// Compiled program size allowed per regex. fail2ban's prefix-line expansions make large
/// automata; the 10 MiB default refuses a few of them.
const SIZE_LIMIT: usize = 64 << 20;
/// Lazy-DFA cache per regex. At the 2 MiB default the long `<HOST>` alternations thrash the
/// cache and throughput collapses (measured: ~25k lines/s instead of ~2M with a RegexSet).
pub(crate) const DFA_SIZE_LIMIT: usize = 16 << 20;
/// Backtracking steps allowed per search in fancy-regex, so one hostile line cannot stall a
/// jail; a search that hits it counts as no match.
const BACKTRACK_LIMIT: usize = 1_000_000;

/// Which engine runs a regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The linear-time `regex` crate.
    Linear,
    /// fancy-regex (backtracking), with the construct that required it.
    Backtracking(FancyFeature),
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
    Linear {
        regex: regex::Regex,
        locations: regex::CaptureLocations,
    },
    Fancy(Box<fancy_regex::Regex>),
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
            .fancy
            .map_or(Engine::Linear, Engine::Backtracking);
        let (program, names): (Program, Vec<Option<String>>) = match translated.fancy {
            None => {
                let regex = regex::RegexBuilder::new(&pattern)
                    .size_limit(SIZE_LIMIT)
                    .dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .map_err(|e| failure(e.to_string()))?;
                let names = regex
                    .capture_names()
                    .map(|name| name.map(str::to_string))
                    .collect();
                let locations = regex.capture_locations();
                (Program::Linear { regex, locations }, names)
            }
            Some(_) => {
                let regex = fancy_regex::RegexBuilder::new(&pattern)
                    .backtrack_limit(BACKTRACK_LIMIT)
                    .delegate_size_limit(SIZE_LIMIT)
                    .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .map_err(|e| failure(e.to_string()))?;
                let names = regex
                    .capture_names()
                    .map(|name| name.map(str::to_string))
                    .collect();
                (Program::Fancy(Box::new(regex)), names)
            }
        };
        let spans = vec![None; names_len(&names)];
        Ok(CompiledRegex {
            program,
            engine,
            relaxed,
            anywhere,
            names,
            spans,
        })
    }

    /// Which engine runs this regex.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    #[cfg(test)]
    /// True when the linear engine runs this regex (then it may join a RegexSet as is).
    pub fn is_linear(&self) -> bool {
        matches!(self.program, Program::Linear { .. })
    }

    /// Group names, by group index.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter_map(|name| name.as_deref())
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.as_deref() == Some(name))
    }

    /// Searches `haystack`; on success the spans of the match are kept for [`Self::group`].
    pub fn search(&mut self, haystack: &str) -> bool {
        match &mut self.program {
            Program::Linear { regex, locations } => {
                if regex.captures_read(locations, haystack).is_none() {
                    return false;
                }
                for (index, span) in self.spans.iter_mut().enumerate() {
                    *span = locations.get(index);
                }
                true
            }
            Program::Fancy(regex) => {
                // A backtrack-limit error counts as no match: the line is treated as missed.
                let Ok(Some(captures)) = regex.captures(haystack) else {
                    return false;
                };
                for (index, span) in self.spans.iter_mut().enumerate() {
                    *span = captures.get(index).map(|m| (m.start(), m.end()));
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

fn names_len(names: &[Option<String>]) -> usize {
    names.len().max(1)
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
            Engine::Backtracking(FancyFeature::LookAround)
        ));
        assert!(regex.search("good\n"));
        assert_eq!(regex.group("w"), Some((0, 4)));
        assert!(!regex.search("evil\n"));
    }

    #[test]
    fn python_conditional_works_in_fancy_regex() {
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
    fn compile_error_names_the_message() {
        let error = CompiledRegex::new(r"(?P<a>x)(?P<a>y)", false).unwrap_err();
        assert!(!error.message.is_empty());
    }
}
