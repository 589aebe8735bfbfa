use super::*;

// The filter dialect: PCRE2 or the regex crate, Python's own `$` and `\d`.

fn translate(pattern: &str) -> Result<Translated, TranslateError> {
    super::translate(pattern, Options::filter(false))
}

fn linear(pattern: &str) -> String {
    let translated = translate(pattern).unwrap();
    assert_eq!(translated.backtracking, None, "{pattern}");
    translated.pattern
}

fn backtracking(pattern: &str) -> Translated {
    let translated = translate(pattern).unwrap();
    assert!(translated.backtracking.is_some(), "{pattern}");
    translated
}

#[test]
fn named_groups_and_backrefs() {
    assert_eq!(linear(r"(?P<user>\S+)"), r"(?P<user>\S+)");
    let t = backtracking(r"(?P<q>a)(?P=q)");
    assert_eq!(t.pattern, r"(?P<q>a)\k<q>");
    assert_eq!(t.relaxed, r"(?P<q>a)(?s:.*?)");
    assert_eq!(backtracking(r"(a)\1").pattern, r"(a)\1");
}

#[test]
fn quantifier_forms() {
    assert_eq!(linear(r"a{,3}"), r"a{0,3}");
    assert_eq!(linear(r"a{2,}?"), r"a{2,}?");
    assert_eq!(linear(r"a{x}"), r"a\{x\}");
    assert_eq!(linear(r"a{}"), r"a\{\}");
    let t = backtracking(r"a*+b");
    assert_eq!(t.pattern, "a*+b");
    assert_eq!(t.relaxed, "a*b");
}

#[test]
fn anywhere_form_drops_anchors_and_boundaries() {
    let t = translate(r"^a\bb\B(?!x)c$").unwrap();
    assert_eq!(t.anywhere, r"ab(?:)c\n?");
    let t = translate(r"\Aa\Z").unwrap();
    assert_eq!(t.anywhere, "a");
}

#[test]
fn dot_and_caret_stay_operators() {
    assert_eq!(linear(r"^a.b"), r"^a.b");
}

#[test]
fn anchors() {
    assert_eq!(linear(r"^a$"), r"^a(?:\n?\z)");
    assert_eq!(
        super::translate(r"^a$", Options::filter(true))
            .unwrap()
            .pattern,
        r"^a(?m:$)"
    );
    // An inline (?m) makes the whole pattern multi-line, as in Python.
    assert_eq!(linear(r"^a$(?m)"), r"(?m)^a(?m:$)");
    assert_eq!(linear(r"a\Z"), r"a\z");
    assert_eq!(linear(r"\Aa"), r"\Aa");
}

#[test]
fn escapes_the_regex_crate_rejects_or_reads_differently() {
    assert_eq!(linear(r"\/\-\<\>\'\ "), r"/\-<>' ");
    assert_eq!(linear(r"\x41\u00e9\0"), r"\x{41}\x{E9}\x{0}");
    assert_eq!(linear(r"\101"), r"\x{41}");
    assert!(translate(r"\q").is_err());
}

#[test]
fn character_classes() {
    assert_eq!(linear(r"[[]"), r"[\[]");
    assert_eq!(linear(r"[^[]*"), r"[^\[]*");
    assert_eq!(linear(r"[]a]"), r"[\]a]");
    assert_eq!(linear(r"[a-z&&~-]"), r"[a-z\&\&\~\-]");
    assert_eq!(linear(r"[\w\-.^_]"), r"[\w\-.\^_]");
    assert_eq!(linear(r"[\b]"), r"[\x{8}]");
    assert_eq!(linear(r"[\[\(]"), r"[\[(]");
    assert!(translate("[abc").is_err());
}

#[test]
fn flags() {
    assert_eq!(linear(r"a(?i)b"), r"(?i)ab");
    assert_eq!(linear(r"(?i:ab)"), r"(?i:ab)");
    assert_eq!(linear(r"(?-i:ab)"), r"(?-i:ab)");
    assert_eq!(linear(r"(?u)a"), r"a");
    assert_eq!(linear("(?x) a b # comment\n c"), "(?x)abc");
}

#[test]
fn look_around_goes_backtracking_with_empty_relaxed_form() {
    let t = backtracking(r"a(?!b(?P<x>c))d");
    assert_eq!(t.backtracking, Some(BacktrackFeature::LookAround));
    assert_eq!(t.pattern, r"a(?!b(?P<x>c))d");
    assert_eq!(t.relaxed, r"a(?:)d");
    let t = backtracking(r"(?<=x)y");
    assert_eq!(t.relaxed, r"(?:)y");
}

#[test]
fn conditional_uses_the_named_test_syntax() {
    let t = backtracking(r"(?P<c>a)?(?(c)b|d)");
    assert_eq!(t.backtracking, Some(BacktrackFeature::Conditional));
    assert_eq!(t.pattern, r"(?P<c>a)?(?(<c>)b|d)");
    assert_eq!(t.relaxed, r"(?P<c>a)?(?:b|d)");
    let t = backtracking(r"(a)?(?(1)b)");
    assert_eq!(t.pattern, r"(a)?(?(1)b)");
    assert_eq!(t.relaxed, r"(a)?(?:b|)");
}

#[test]
fn comments_and_atomic() {
    assert_eq!(linear(r"a(?#note)b"), "ab");
    let t = backtracking(r"(?>a+)b");
    assert_eq!(t.relaxed, "(?:a+)b");
}

#[test]
fn unbalanced_is_an_error() {
    assert!(translate("(a").is_err());
    assert!(translate("a)").is_err());
}

// The date dialect: the regex crate alone, fail2ban's date templates' own shapes rewritten.

fn date(pattern: &str) -> Result<Translated, TranslateError> {
    super::translate(pattern, Options::date())
}

#[test]
fn date_boundaries_and_digits_are_rewritten() {
    let t = date(r"(?iu)(?=^|\b|\W)((?P<d>\d{2}) x)(?=\b|\W|$)").unwrap();
    assert_eq!(
        t.pattern,
        format!("(?i){BOUNDARY}(([0-9]{{2}}) x){BOUNDARY}")
    );
    assert_eq!(t.group_names, vec![None, Some("d".to_string())]);
    assert_eq!(t.variants, 1);
    assert_eq!(t.backtracking, None);
    assert_eq!(date(r"[\d:]\D$").unwrap().pattern, "[0-9:][^0-9]$");
}

#[test]
fn date_backreference_becomes_alternatives() {
    let t = date(r"((?P<Y>\d{4})(?P<_sep>[-/.])(?P<m>\d\d)(?P=_sep))").unwrap();
    assert_eq!(t.variants, 3);
    assert_eq!(t.group_names.len(), 4);
    assert_eq!(t.backtracking, None);
    let re = regex::Regex::new(&t.pattern).unwrap();
    assert!(re.is_match("2005/08/"));
    assert!(re.is_match("2005.08."));
    assert!(!re.is_match("2005/08-"));
    assert_eq!(re.captures_len(), 1 + 3 * 4);
    // Copies follow the class order (`-` first): `/` is the second copy.
    let caps = re.captures("2005/08/").unwrap();
    assert_eq!(caps.get(1 + 4 + 1).map(|m| m.as_str()), Some("2005"));
}

#[test]
fn date_backreference_keeps_global_flags_in_front() {
    let t = date(r"(?i)(?P<s>[/-])a(?P=s)").unwrap();
    assert_eq!(t.pattern, r"(?i)(?:(/)a/|(\-)a\-)");
}

#[test]
fn date_refuses_what_it_cannot_expand() {
    assert!(date(r"(?P<s>[a-z])(?P=s)").is_err());
    assert!(date(r"(?P<s>x)(?P<t>y)(?P=s)(?P=t)").is_err());
    assert!(date(r"(?P<s>x)(?P<s>y)").is_err());
    // Numbered back-references and look-behind need backtracking, which dates refuse.
    assert!(date(r"(a)\1").unwrap().backtracking.is_some());
    assert!(date(r"(?<=x)a").unwrap().backtracking.is_some());
}

#[test]
fn date_literal_braces_and_sets_are_escaped() {
    let t = date(r"^[^\[]*\[{x}[[&]a{2,}b{,3}").unwrap();
    assert_eq!(t.pattern, r"^[^\[]*\[\{x\}[\[\&]a{2,}b{0,3}");
    regex::Regex::new(&t.pattern).unwrap();
}

#[test]
fn group_names_follow_python_numbering_in_the_filter_dialect() {
    let t = translate(r"(a)(?P<user>b)(?:c)(?P<host>d)").unwrap();
    assert_eq!(
        t.group_names,
        vec![None, Some("user".to_string()), Some("host".to_string())]
    );
    // The filter dialect leaves fail2ban's look-aheads to the backtracking engine.
    let t = translate(r"(?=^|\b|\W)a").unwrap();
    assert_eq!(t.backtracking, Some(BacktrackFeature::LookAround));
}
