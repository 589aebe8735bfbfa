//! The literal gate: a scan for the literals a set of regexes requires, asked before the
//! set's automaton.
//!
//! For each pattern, a literal set that every match contains: the prefixes of the whole
//! match when they are few and long enough, else the prefixes of the best part that takes
//! part in every match (a top-level piece of the pattern, never under an alternation or an
//! optional repetition). `regex-syntax`'s extractor gives them; an inexact (cut) literal is
//! still a prefix of the matched text, so it still occurs. A haystack that contains none of
//! the union's literals matches no pattern, and the gate says so after one Aho-Corasick
//! scan (a few dozen nanoseconds on a log line, against a hundred or more for the lazy
//! DFA's overlapping scan over every pattern). A pattern without such a literal (one made
//! only of classes, like `^\S+ x`) turns the gate off: it then answers "maybe" to all.
//!
//! The gate is only ever a "no": whatever it lets through is asked of the set as before.

use aho_corasick::{AhoCorasick, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

/// Literals shorter than this pass too many lines to be worth a scan.
const MIN_LITERAL: usize = 3;
/// More alternatives than this (e.g. a case-insensitive word) make a slow scan.
const MAX_LITERALS: usize = 64;

/// A scan for the literals that every match of some pattern of a set contains.
#[derive(Debug, Clone)]
pub(crate) struct LiteralGate {
    /// None when some pattern has no required literal: the gate lets everything pass.
    scanner: Option<AhoCorasick>,
}

impl LiteralGate {
    /// The gate for `patterns` (Rust syntax, as compiled into the set).
    pub(crate) fn new<'p>(patterns: impl IntoIterator<Item = &'p str>) -> Self {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        for pattern in patterns {
            match required_literals(pattern) {
                Some(found) => literals.extend(found),
                None => return LiteralGate { scanner: None },
            }
        }
        literals.sort();
        literals.dedup();
        // Leftmost-first: which literal is found does not matter, and only the leftmost
        // kinds get the SIMD (Teddy) searcher; the standard kind walks the automaton.
        let scanner = (!literals.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&literals)
                    .ok()
            })
            .flatten();
        LiteralGate { scanner }
    }

    /// False only when no pattern of the set can match `haystack`.
    pub(crate) fn may_match(&self, haystack: &str) -> bool {
        self.scanner
            .as_ref()
            .is_none_or(|scanner| scanner.is_match(haystack.as_bytes()))
    }

    /// True when the gate can turn lines away at all.
    pub(crate) fn is_active(&self) -> bool {
        self.scanner.is_some()
    }
}

/// Literals one of which every match of `pattern` contains; None when there are none worth
/// a scan (or the pattern does not parse: then nothing is assumed).
pub(crate) fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut best = usable(prefixes(&hir));
    for part in required_parts(&hir) {
        if let Some(seq) = usable(prefixes(part))
            && best.as_ref().is_none_or(|b| better(&seq, b))
        {
            best = Some(seq);
        }
    }
    let literals = best?
        .literals()?
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    Some(literals)
}

fn prefixes(hir: &Hir) -> Seq {
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let mut seq = extractor.extract(hir);
    // Cuts long literals to shared prefixes when there are many: fewer and shorter.
    seq.optimize_for_prefix_by_preference();
    seq
}

/// The sequence when it is finite, small and all its literals are long enough. Literals
/// with a newline are refused: callers may ask the gate about a text of which the regex's
/// haystack is a part followed by a newline (fail2ban's content with its final `\n`).
fn usable(seq: Seq) -> Option<Seq> {
    let count = seq.len()?;
    let shortest = seq.min_literal_len()?;
    let newline = seq
        .literals()?
        .iter()
        .any(|l| l.as_bytes().contains(&b'\n'));
    (count > 0 && count <= MAX_LITERALS && shortest >= MIN_LITERAL && !newline).then_some(seq)
}

/// Longer shortest literal first, then fewer literals.
fn better(candidate: &Seq, best: &Seq) -> bool {
    let key = |seq: &Seq| (seq.min_literal_len(), std::cmp::Reverse(seq.len()));
    key(candidate) > key(best)
}

/// The sub-expressions that take part in every match of `hir`: the pieces of its top-level
/// concatenation, through groups and repetitions that run at least once.
fn required_parts(hir: &Hir) -> Vec<&Hir> {
    let mut parts = Vec::new();
    collect_required(hir, &mut parts);
    parts
}

fn collect_required<'h>(hir: &'h Hir, parts: &mut Vec<&'h Hir>) {
    match hir.kind() {
        HirKind::Capture(capture) => collect_required(&capture.sub, parts),
        HirKind::Repetition(repetition) if repetition.min > 0 => {
            collect_required(&repetition.sub, parts);
        }
        HirKind::Concat(pieces) => {
            for piece in pieces {
                parts.push(piece);
                collect_required(piece, parts);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn literals(pattern: &str) -> Option<Vec<String>> {
        required_literals(pattern).map(|found| {
            found
                .into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn anchored_prefix_is_required() {
        let found = literals(r"^Failed \S+ for (?P<user>\S+) from (?P<ip>\S+)").unwrap();
        assert!(found.iter().all(|l| l.starts_with("Failed ")), "{found:?}");
    }

    #[test]
    fn a_required_piece_stands_in_for_a_class_prefix() {
        let found = literals(r"^[a-z\-]{3,15}\(\S*,(?P<h>\S+)\): (?:[Uu]nknown user|bad)").unwrap();
        assert!(!found.is_empty());
        for line in ["imap(bob,1.2.3.4): Unknown user", "pop3(x,h): bad"] {
            assert!(
                found.iter().any(|l| line.contains(l.as_str())),
                "{line} {found:?}"
            );
        }
    }

    #[test]
    fn optional_and_alternated_parts_are_not_required() {
        // "abc" is optional, "xyz" one branch: neither may be required.
        for pattern in [r"^\S+(?:abc)?\s", r"^\S+(?:xyz|\d+)$"] {
            assert_eq!(literals(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn gate_turns_away_lines_without_any_literal() {
        let gate = LiteralGate::new([r"^Failed \S+ for", r"Invalid user \S+ from"]);
        assert!(gate.is_active());
        assert!(gate.may_match("x Failed password for root"));
        assert!(gate.may_match("Invalid user bob from 1.2.3.4"));
        assert!(!gate.may_match("session opened for user root"));
    }

    #[test]
    fn one_pattern_without_literal_opens_the_gate() {
        let gate = LiteralGate::new([r"^Failed \S+ for", r"^\S+ \d+$"]);
        assert!(!gate.is_active());
        assert!(gate.may_match("anything"));
    }

    /// Failregex-like patterns (stock shapes: anchored words, class prefixes, case-insensitive
    /// parts, optional tails) and lines pieced together from their words and noise.
    const PATTERNS: [&str; 6] = [
        r"^Failed \S+ for (?:invalid user )?(?P<user>\S+) from (?P<ip>[\d.]+)",
        r"^[a-z\-]{3,15}\(\S*,(?P<ip>[\d.]+)\): (?:[Uu]nknown user|[Pp]assword mismatch)",
        r"(?i)sasl (?:login|plain) authentication failed:",
        r"^(?:Aborted login|Disconnected)(?:: [^(]+)? \(auth failed, \d+ attempts\): rip=(?P<ip>[\d.]+)",
        r"^User (?P<user>\S+) from (?P<ip>\S+) not allowed because (?:listed|not listed) in \w+$",
        r"rhost=(?P<ip>\S+)(?:\s+user=\S*)?\s*$",
    ];
    const PIECES: [&str; 24] = [
        "Failed ",
        "password",
        " for ",
        "invalid user ",
        "root",
        " from ",
        "1.2.3.4",
        "imap",
        "(bob,",
        "): ",
        "Unknown user",
        "Password mismatch",
        "SASL ",
        "LOGIN ",
        "plain ",
        "authentication failed:",
        "Aborted login",
        "Disconnected",
        " (auth failed, 3 attempts)",
        ": rip=",
        "User ",
        " not allowed because listed in DenyUsers",
        "rhost=",
        " user=x\n",
    ];

    proptest::proptest! {
        /// The gate's whole promise: a line it turns away matches no pattern of the set.
        #[test]
        fn rejected_lines_match_no_pattern(
            picks in proptest::collection::vec(0..PIECES.len() + 4, 0..12),
            noise in "[ -~]{0,12}",
        ) {
            let line: String = picks
                .iter()
                .map(|&i| PIECES.get(i).copied().unwrap_or(noise.as_str()))
                .collect();
            let gate = LiteralGate::new(PATTERNS);
            proptest::prop_assert!(gate.is_active());
            if !gate.may_match(&line) {
                for pattern in PATTERNS {
                    let regex = regex::Regex::new(pattern).unwrap();
                    proptest::prop_assert!(!regex.is_match(&line), "{pattern} matches {line:?}");
                }
            }
        }
    }

    #[test]
    fn case_insensitive_literals_keep_their_variants() {
        let gate = LiteralGate::new([r"(?i)sasl login failed"]);
        assert!(gate.may_match("SASL LOGIN FAILED"));
        assert!(gate.may_match("sasl Login failed"));
        assert!(!gate.may_match("ssh logout"));
    }
}
