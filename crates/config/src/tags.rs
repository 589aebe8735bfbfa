//! `<tag>` substitution among a definition's own options, as fail2ban's
//! `helpers.substituteRecursiveTags` does it when it combines a filter's or an action's options
//! (e.g. `<mdre-<mode>>` in sshd.conf, `<lt_<logtype>/__prefix_line>` in common.conf).
//! Unknown tags (`<HOST>`, `<ip>`) are left as they are: they are filled in later.

use std::collections::{HashMap, HashSet};

use ferroban_ini::Spanned;
use indexmap::IndexMap;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_TAG_REPLACE_COUNT: usize = 25;

pub(crate) type Tags = IndexMap<String, Spanned<String>>;

/// The first `<name>` (name without space, `<`, `>`) at or after byte `from`:
/// (start, end, name).
fn find_tag(value: &str, from: usize) -> Option<(usize, usize, String)> {
    let bytes = value.as_bytes();
    let mut start = from;
    while let Some(offset) = value.get(start..)?.find('<') {
        let open = start + offset;
        let name_len = bytes[open + 1..]
            .iter()
            .position(|&b| b == b' ' || b == b'<' || b == b'>')?;
        let close = open + 1 + name_len;
        if name_len > 0 && bytes[close] == b'>' {
            return Some((open, close + 1, value[open + 1..close].to_string()));
        }
        start = open + 1;
    }
    None
}

/// Replaces, in each option not in `ignore`, every `<name>` naming another option (or found by
/// `fallback`) with that option's value, repeatedly until nothing changes. Fails with the
/// option's name when tags refer to each other in a loop.
pub(crate) fn substitute_recursive_tags(
    tags: &mut Tags,
    ignore: &HashSet<String>,
    fallback: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<(), String> {
    let mut done: HashSet<String> = HashSet::new();
    let mut repeat_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    loop {
        let mut repeat = false;
        let names: Vec<String> = tags.keys().cloned().collect();
        for tag in names {
            if ignore.contains(&tag) || done.contains(&tag) {
                continue;
            }
            let Some(original) = tags.get(&tag).map(|v| v.value.clone()) else {
                continue;
            };
            let mut counts = repeat_counts.get(&tag).cloned().unwrap_or_default();
            let value = substitute_one(&tag, &original, tags, ignore, fallback, &mut counts)?;
            if value != original {
                if find_tag(&value, 0).is_some() {
                    repeat_counts.insert(tag.clone(), counts);
                    repeat = true;
                }
                if let Some(entry) = tags.get_mut(&tag) {
                    entry.value = value.clone();
                }
            }
            if !value.contains('<') {
                done.insert(tag);
            }
        }
        if !repeat {
            return Ok(());
        }
    }
}

fn substitute_one(
    tag: &str,
    original: &str,
    tags: &Tags,
    ignore: &HashSet<String>,
    fallback: &mut dyn FnMut(&str) -> Option<String>,
    counts: &mut HashMap<String, usize>,
) -> Result<String, String> {
    let mut value = original.to_string();
    let mut next = find_tag(&value, 0);
    while let Some((start, end, name)) = next {
        if ignore.contains(&name) {
            next = find_tag(&value, end);
            continue;
        }
        if name == tag || counts.get(&name).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
            return Err(tag.to_string());
        }
        let replacement = match tags.get(&name) {
            Some(found) => Some(found.value.clone()),
            None => fallback(&name),
        };
        let Some(replacement) = replacement else {
            next = find_tag(&value, end);
            continue;
        };
        value = value.replace(&format!("<{name}>"), &replacement);
        *counts.entry(name).or_insert(0) += 1;
        next = find_tag(&value, start);
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ferroban_ini::Span;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Spanned::new(v.to_string(), Span::new("t", 1)),
                )
            })
            .collect()
    }

    fn value(tags: &Tags, name: &str) -> String {
        tags.get(name).map(|v| v.value.clone()).unwrap_or_default()
    }

    #[test]
    fn nested_tags_and_fallback() {
        let mut t = tags(&[
            ("a", "x<b>y <HOST>"),
            ("b", "<mdre-<mode>>"),
            ("mode", "normal"),
        ]);
        let mut fallback = |name: &str| (name == "mdre-normal").then(|| "N".to_string());
        substitute_recursive_tags(&mut t, &HashSet::new(), &mut fallback).unwrap();
        assert_eq!(value(&t, "a"), "xNy <HOST>");
        assert_eq!(value(&t, "b"), "N");
    }

    #[test]
    fn ignored_tags_stay() {
        let mut t = tags(&[("a", "<matches> <b>"), ("b", "B"), ("matches", "M")]);
        let ignore: HashSet<String> = ["matches".to_string()].into();
        substitute_recursive_tags(&mut t, &ignore, &mut |_| None).unwrap();
        assert_eq!(value(&t, "a"), "<matches> B");
    }

    #[test]
    fn self_reference_is_an_error() {
        let mut t = tags(&[("a", "<b>"), ("b", "<a>")]);
        assert!(substitute_recursive_tags(&mut t, &HashSet::new(), &mut |_| None).is_err());
    }

    #[test]
    fn find_tag_skips_broken_brackets() {
        assert_eq!(find_tag("a < b <c>", 0).map(|t| t.2), Some("c".to_string()));
        assert_eq!(find_tag("<a<b>>", 0).map(|t| t.2), Some("b".to_string()));
        assert_eq!(find_tag("<>", 0), None);
    }
}
