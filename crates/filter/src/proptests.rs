//! Property tests: no pattern (however malformed) and no line (however hostile) panics.

use proptest::prelude::*;

use crate::{Filter, FilterDefinition, FilterOptions};

/// Pieces of fail2ban regexes, valid and broken, for building random patterns.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "[^",
    "\\",
    "?",
    "*",
    "+",
    "{",
    "}",
    "{,3}",
    "{2,}",
    "|",
    "^",
    "$",
    ".",
    "\\s",
    "\\S+",
    "\\d",
    "\\w",
    "\\b",
    "\\Z",
    "\\A",
    "\\1",
    "\\0",
    "\\x4",
    "\\u00e9",
    "\\/",
    "\\-",
    "\\<",
    "a",
    "b",
    " ",
    "-",
    "&&",
    "~~",
    "#",
    "\n",
    "<HOST>",
    "<ADDR>",
    "<IP4>",
    "<IP6>",
    "<DNS>",
    "<CIDR>",
    "<SUBNET>",
    "<F-ID/>",
    "<F-PORT/>",
    "<F-USER>",
    "</F-USER>",
    "<F-ID>",
    "</F-ID>",
    "<F-MLFID>",
    "</F-MLFID>",
    "<F-NOFAIL>",
    "</F-NOFAIL>",
    "<F-MLFFORGET>",
    "</F-MLFFORGET>",
    "<F-ALT_USER>",
    "</F-ALT_USER>",
    "<F-TUPLE_ID>",
    "</F-TUPLE_ID>",
    "<SKIPLINES>",
    "(?P<x>",
    "(?P=x)",
    "(?P<host>",
    "(?:",
    "(?=",
    "(?!",
    "(?<=",
    "(?<!",
    "(?>",
    "(?(x)",
    "(?(1)",
    "(?i)",
    "(?i:",
    "((?i)",
    "(?x)",
    "(?#c)",
    "(?P<",
    "é",
    "\u{0}",
];

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..24).prop_map(|parts| parts.concat())
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "from ",
                    "192.0.2.1",
                    "::1",
                    "user ",
                    "a",
                    "\0",
                    "é",
                    "\n",
                    " ",
                    "x.example",
                    "[",
                    "]",
                ][..]
            ),
            0..40,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_patterns_and_lines_never_panic(
        prefregex in prop::option::of(pattern()),
        failregex in prop::collection::vec(pattern(), 1..4),
        ignoreregex in prop::collection::vec(pattern(), 0..2),
        maxlines in 1usize..4,
        check_all in any::<bool>(),
        lines in prop::collection::vec(line(), 1..6),
    ) {
        let definition = FilterDefinition {
            prefregex,
            failregex,
            ignoreregex,
            maxlines,
            ..FilterDefinition::default()
        };
        if let Ok(mut filter) = Filter::new(&definition) {
            let mut options = FilterOptions::regex_tool();
            options.check_all_regex = check_all;
            filter.set_options(options);
            for line in &lines {
                let _ = filter.process_line_with_time(line, 1.0e9);
            }
        }
    }

    #[test]
    fn random_lines_through_a_realistic_filter_never_panic(lines in prop::collection::vec(line(), 1..8)) {
        let definition = FilterDefinition {
            prefregex: Some(r"^<F-MLFID>\S*</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
            failregex: vec![
                r"^user <F-USER>\S+</F-USER> from <HOST>$".into(),
                r"^(?:(?! from ).)* from <HOST>(?: port \d+)?$".into(),
                r"^<F-NOFAIL><F-MLFFORGET>closed</F-MLFFORGET></F-NOFAIL>".into(),
                r"^a<SKIPLINES>b <ADDR>".into(),
            ],
            ignoreregex: vec![r"x\.example".into()],
            maxlines: 3,
            ..FilterDefinition::default()
        };
        let mut filter = Filter::new(&definition).unwrap();
        for line in &lines {
            let _ = filter.process_line_with_time(line, 1.0e9);
        }
    }
}
