//! Static `<tag>` substitution: the action's own properties ([Definition],
//! [Init], `[Init?family=…]`, per-jail action options), resolved recursively
//! exactly as fail2ban's `substituteRecursiveTags` and `CommandAction.replaceTag`.
//!
//! Nothing here ever sees a value from a log line; those are dynamic tags,
//! handled by `dynamic.rs` after this step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use regex::Regex;

use crate::error::ActionError;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_TAG_REPLACE_COUNT: u32 = 25;

/// fail2ban's `TAG_CRE`: `<` name without space or angle brackets `>`.
#[allow(clippy::expect_used)] // a constant pattern, checked by every test
pub(crate) static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^ <>]+)>").expect("valid tag regex"));

/// Tags whose values are log content; if an action defines them statically
/// they are backslash-escaped (fail2ban's `_escapedTags`) and never expanded
/// recursively.
pub(crate) const ESCAPED_TAGS: [&str; 3] = ["matches", "ipmatches", "ipjailmatches"];

/// The action's properties after recursive interpolation.
pub(crate) type Properties = BTreeMap<String, String>;

/// Looks `tag` up, preferring its conditional variant `tag?family=…`.
fn lookup<'a>(props: &'a Properties, tag: &str, conditional: &str) -> Option<&'a String> {
    if !conditional.is_empty()
        && let Some(value) = props.get(&format!("{tag}?{conditional}"))
    {
        return Some(value);
    }
    props.get(tag)
}

/// fail2ban's `substituteRecursiveTags`: resolves tags inside property values
/// using other properties. Unknown tags stay as written (they may be dynamic
/// tags like `<ip>` or shell text like `<STDIN>`).
pub(crate) fn substitute_recursive(
    action: &str,
    input: &Properties,
    conditional: &str,
) -> Result<Properties, ActionError> {
    let mut tags = input.clone();
    let keys: Vec<String> = tags.keys().cloned().collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, u32>> = HashMap::new();
    loop {
        let mut repeat = false;
        for tag in &keys {
            if ESCAPED_TAGS.contains(&tag.as_str()) || done.contains(tag) {
                continue;
            }
            let original = tags.get(tag).cloned().unwrap_or_default();
            let mut counts = rep_counts.get(tag).cloned().unwrap_or_default();
            let value = substitute_value(action, tag, &original, &tags, conditional, &mut counts)?;
            if value != original {
                if TAG_RE.is_match(&value) {
                    rep_counts.insert(tag.clone(), counts);
                    repeat = true;
                }
                tags.insert(tag.clone(), value.clone());
            }
            if !value.contains('<') {
                done.insert(tag.clone());
            }
        }
        if !repeat {
            return Ok(tags);
        }
    }
}

/// One pass over one value of `substitute_recursive`.
fn substitute_value(
    action: &str,
    tag: &str,
    original: &str,
    tags: &Properties,
    conditional: &str,
    counts: &mut HashMap<String, u32>,
) -> Result<String, ActionError> {
    let mut value = original.to_owned();
    let mut position = 0;
    while let Some(captures) = TAG_RE.captures_at(&value, position) {
        let (whole, name) = match (captures.get(0), captures.get(1)) {
            (Some(whole), Some(name)) => (whole, name.as_str().to_owned()),
            _ => break,
        };
        if ESCAPED_TAGS.contains(&name.as_str()) {
            position = whole.end();
            continue;
        }
        if name == tag || counts.get(&name).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
            return Err(ActionError::SelfReference {
                action: action.to_owned(),
                tag: tag.to_owned(),
                found: name,
                value,
            });
        }
        let Some(replacement) = lookup(tags, &name, conditional) else {
            position = whole.end();
            continue;
        };
        let start = whole.start();
        value = value.replace(&format!("<{name}>"), replacement);
        *counts.entry(name).or_insert(0) += 1;
        position = start;
    }
    Ok(value)
}

/// fail2ban's `escapeTag`: backslash-escapes shell metacharacters.
pub(crate) fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' | '#' | '&' | ';' | '`' | '|' | '*' | '?' | '~' | '<' | '>' | '^' | '(' | ')'
            | '[' | ']' | '{' | '}' | '$' | '\'' | '"' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Tags every command may use without the action defining them
/// (fail2ban's `ADD_REPL_TAGS`).
pub(crate) fn builtin_tag(name: &str) -> Option<String> {
    match name {
        "br" => Some("\n".to_owned()),
        "sp" => Some(" ".to_owned()),
        "fq-hostname" => Some(hostname()),
        "sh-hostname" => {
            let full = hostname();
            Some(full.split('.').next().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// The host name as the kernel knows it. fail2ban asks DNS for the fully
/// qualified name; we do not resolve names, so `<fq-hostname>` is the
/// configured host name (fully qualified if the system is set up that way).
fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// fail2ban's `CommandAction.replaceTag` for properties: renders `query` with
/// the already recursively substituted `resolved` properties, repeating until
/// nothing changes.
pub(crate) fn replace_static(
    action: &str,
    query: &str,
    resolved: &Properties,
    conditional: &str,
) -> Result<String, ActionError> {
    if !query.contains('<') {
        return Ok(query.to_owned());
    }
    let mut query = query.to_owned();
    let mut remaining = MAX_TAG_REPLACE_COUNT + 1;
    loop {
        let value = TAG_RE
            .replace_all(&query, |captures: &regex::Captures<'_>| {
                let name = &captures[1];
                match lookup(resolved, name, conditional) {
                    Some(value) if ESCAPED_TAGS.contains(&name) => escape_tag(value),
                    Some(value) => value.clone(),
                    None => builtin_tag(name).unwrap_or_else(|| captures[0].to_owned()),
                }
            })
            .into_owned();
        if value == query || !value.contains('<') {
            return Ok(value);
        }
        query = value;
        remaining -= 1;
        if remaining == 0 {
            return Err(ActionError::TooDeepInterpolation {
                action: action.to_owned(),
                query,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn render(
        query: &str,
        pairs: &[(&str, &str)],
        conditional: &str,
    ) -> Result<String, ActionError> {
        let resolved = substitute_recursive("test", &props(pairs), conditional)?;
        replace_static("test", query, &resolved, conditional)
    }

    #[test]
    fn recursive_and_embedded_tags_resolve() -> Result<(), ActionError> {
        // The examples of fail2ban's testReplaceTag / testSubstRec.
        let pairs = [
            ("a", "3"),
            ("b", "<a>_3"),
            ("c", "<b>_<a>"),
            ("x", "a"),
            ("ya", "YES"),
        ];
        assert_eq!(render("<c> <y<x>>", &pairs, "")?, "3_3_3 YES");
        Ok(())
    }

    #[test]
    fn unknown_tags_stay_as_written() -> Result<(), ActionError> {
        let out = render("<a> <ip> <STDIN> a < b > c", &[("a", "1")], "")?;
        assert_eq!(out, "1 <ip> <STDIN> a < b > c");
        Ok(())
    }

    #[test]
    fn self_reference_is_an_error_not_a_stack_overflow() {
        let direct = render("<a>", &[("a", "x<a>")], "");
        assert!(
            matches!(direct, Err(ActionError::SelfReference { .. })),
            "{direct:?}"
        );
        let indirect = render("<a>", &[("a", "<b>"), ("b", "<c>"), ("c", "<a>")], "");
        assert!(
            matches!(indirect, Err(ActionError::SelfReference { .. })),
            "{indirect:?}"
        );
    }

    #[test]
    fn conditional_family_value_wins() -> Result<(), ActionError> {
        let pairs = [
            ("chain", "INPUT"),
            ("iptables", "iptables"),
            ("iptables?family=inet6", "ip6tables"),
            ("cmd", "<iptables> -I <chain>"),
        ];
        assert_eq!(
            render("<cmd>", &pairs, "family=inet6")?,
            "ip6tables -I INPUT"
        );
        assert_eq!(
            render("<cmd>", &pairs, "family=inet4")?,
            "iptables -I INPUT"
        );
        Ok(())
    }

    #[test]
    fn builtin_tags_br_and_sp() -> Result<(), ActionError> {
        assert_eq!(render("a<br>b<sp>c", &[], "")?, "a\nb c");
        Ok(())
    }

    #[test]
    fn static_matches_are_escaped() -> Result<(), ActionError> {
        let out = render("echo <matches>", &[("matches", "$(id) `x`")], "")?;
        assert_eq!(out, "echo \\$\\(id\\) \\`x\\`");
        Ok(())
    }

    #[test]
    fn double_angle_brackets_as_in_sendmail() -> Result<(), ActionError> {
        let out = render(
            "From: <sendername> <<sender>>",
            &[("sender", "f2b"), ("sendername", "Fail2Ban")],
            "",
        )?;
        assert_eq!(out, "From: Fail2Ban <f2b>");
        Ok(())
    }
}
