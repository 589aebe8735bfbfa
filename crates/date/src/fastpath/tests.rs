//! The fast syslog matcher against the template's regex: same match, same group spans, on
//! hand-picked, random and corpus lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;

const YEAR_GROUP: &str = r"(?P<Y>20[012]\d)";

fn python_regex() -> String {
    format!("{BEFORE_YEAR}{YEAR_GROUP}{AFTER_YEAR}")
}

struct Reference {
    regex: regex::Regex,
    fast: SyslogMatcher,
}

impl Reference {
    fn new() -> Self {
        let translated =
            ferroban_pyre::translate(&python_regex(), ferroban_pyre::Options::date()).unwrap();
        assert_eq!(translated.variants, 1);
        assert_eq!(translated.group_names.len(), GROUPS);
        Reference {
            regex: regex::Regex::new(&translated.pattern).unwrap(),
            fast: SyslogMatcher::recognize(&python_regex()).expect("template recognized"),
        }
    }

    /// What the regex says, as the fast matcher's spans.
    fn by_regex(&self, line: &str) -> Option<Spans> {
        let captures = self.regex.captures(line)?;
        let mut spans: Spans = [None; GROUPS + 1];
        for (group, span) in spans.iter_mut().enumerate() {
            *span = captures.get(group).map(|m| (m.start(), m.end()));
        }
        Some(spans)
    }

    /// Asserts agreement; true when the fast matcher answered (did not defer to the regex).
    fn check(&self, line: &str) -> bool {
        match self.fast.search(line, 0) {
            None => false,
            Some(answer) => {
                assert_eq!(answer, self.by_regex(line), "line {line:?}");
                true
            }
        }
    }
}

#[test]
fn agrees_with_regex_on_chosen_lines() {
    let reference = Reference::new();
    let lines = [
        "Nov 13 02:13:20 gw sshd[1]: x",
        "Nov  3 02:13:20 gw",
        "Nov 3 2:3:4 gw",
        "nOV 30 23:59:60 x",
        "Nov 31 23:59:61",
        "Nov 32 23:59:59",
        "Nov 03 23:59:59.123456789 x",
        "Nov 03 23:59:59.1234567",
        "Nov 03 23:59:59. x",
        "Nov 03 23:59:59 2026 host",
        "Nov 03 23:59:59 2031 host",
        "Nov 03 23:59:59 20260 host",
        "Nov 03 23:59:59.5 2024",
        "Nov 03 23:59:59.5 2024x",
        "Nov 03 23:59:59x",
        "Nov 03 23:59:59_",
        "Nov 03 23:59:5",
        "Nov 03 29:59:59",
        "Nov 03 9:59:599",
        "Nov 03  9:59:59",
        "Nov 03   9:59:59",
        "Tue Nov 03 09:59:59 host",
        "Tue Nov 03 09:59:59 2025",
        "Tue  Nov 03 09:59:59",
        "Mon Tue Nov 03 09:59:59",
        "Tue",
        "Tue ",
        "Nov",
        "Nov 1",
        "Sun Nov 1 1:1:1",
        "Nov 10 10:10:10\n",
        "Nov 10 10:10:10:10",
        "1Nov 10 10:10:10",
        "_Nov 10 10:10:10",
        "Dec 0 1:1:1",
        "Dec 00 1:1:1",
        "Dec 01 1:1:1",
        "Dec 19 1:1:1",
    ];
    for line in lines {
        reference.check(line);
    }
    assert!(reference.check("Nov 13 02:13:20 gw sshd[1]: x"));
}

#[test]
fn defers_on_what_it_does_not_model() {
    let reference = Reference::new();
    for line in [
        "[Nov 13 02:13:20]",
        "Ñov 13 02:13:20",
        "Nov 13 02:13:20 ſ",
        " Nov 1 1:1:1",
    ] {
        assert_eq!(reference.fast.search(line, 0), None, "{line:?}");
    }
    assert_eq!(reference.fast.search("Nov 13 02:13:20", 1), None);
}

#[test]
fn unknown_template_is_not_recognized() {
    assert!(SyslogMatcher::recognize(r"(?iu)^(?:\W{0,2})?(%Y)").is_none());
}

/// Lines close to the syslog form: names in random case, digits and spaces where the
/// template's alternatives disagree, random fractions, years and what follows.
fn near_syslog() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "Nov", "nov", "DEC", "Sep", "Tue", "sun", "Mar", "xyz", "No",
    ]);
    let digits = "[0-9 ]{0,3}";
    (
        prop::option::of(prop::sample::select(vec!["Mon ", "tue ", "SAT  ", "Fri"])),
        name,
        "[ ]{0,2}",
        digits,
        "[ ]{0,3}",
        (digits, "[:]{0,1}", digits, "[:]{0,1}", digits),
        "(\\.[0-9]{0,8})?",
        "( (19|20|21)[0-9]{2,3})?",
        "[ a_1:.\\n-]{0,1}[a-z0-9 ]{0,4}",
    )
        .prop_map(|(weekday, month, s1, day, s2, time, frac, year, tail)| {
            let (h, c1, m, c2, s) = time;
            format!(
                "{}{month}{s1}{day}{s2}{h}{c1}{m}{c2}{s}{frac}{year}{tail}",
                weekday.unwrap_or("")
            )
        })
}

static REFERENCE: std::sync::LazyLock<Reference> = std::sync::LazyLock::new(Reference::new);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn agrees_with_regex_on_random_lines(line in near_syslog()) {
        REFERENCE.check(&line);
    }

    #[test]
    fn agrees_with_regex_on_arbitrary_text(line in "[A-Za-z0-9 :._\\n-]{0,40}") {
        REFERENCE.check(&line);
    }
}

/// Every line of fail2ban's sample logs (when they are there).
#[test]
fn agrees_with_regex_on_fail2ban_sample_logs() {
    let Some(dir) = ferroban_testdata::sample_logs() else {
        return;
    };
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("fail2ban sample logs at {}: {error}", dir.display()));
    let reference = Reference::new();
    let (mut lines, mut answered) = (0, 0);
    for entry in entries.flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            lines += 1;
            if reference.check(line) {
                answered += 1;
            }
        }
    }
    println!("{answered} of {lines} sample lines answered by the fast matcher");
    assert!(answered > 0);
}
