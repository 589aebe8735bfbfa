//! A back-reference to a one-character group, expanded into alternatives (the date
//! templates' `(?P<_sep>[-/.])…(?P=_sep)`): the `regex` crate has no back-references, and
//! one copy of the pattern per separator character matches exactly the same texts.

use crate::{Options, TranslateError, Translated, translator::Translator};

pub(crate) fn expand_backreference(
    pattern: &str,
    options: Options,
    name: &str,
    several: bool,
) -> Result<Translated, TranslateError> {
    let refuse = |message: String| TranslateError {
        message,
        position: 0,
    };
    if several {
        return Err(refuse("back-references to more than one group".to_string()));
    }
    let body =
        group_body(pattern, name).ok_or_else(|| refuse(format!("unknown group name {name:?}")))?;
    let chars = class_chars(body)
        .ok_or_else(|| refuse(format!("unsupported back-reference to group {name:?}")))?;
    let mut variants = Vec::with_capacity(chars.len());
    for c in &chars {
        let mut translator = Translator::new(pattern, options, Some((name, *c)));
        translator.run()?;
        variants.push(translator.finish());
    }
    let pattern = join(variants.iter().map(|v| v.pattern.as_str()));
    let relaxed = join(variants.iter().map(|v| v.relaxed.as_str()));
    let anywhere = join(variants.iter().map(|v| v.anywhere.as_str()));
    let count = variants.len();
    let first = variants.swap_remove(0);
    Ok(Translated {
        pattern,
        relaxed,
        anywhere,
        variants: count,
        ..first
    })
}

/// `(?flags)(?:a|b|…)` from copies that each start with the same global flags.
fn join<'a>(copies: impl Iterator<Item = &'a str>) -> String {
    let mut flags = "";
    let bodies: Vec<&str> = copies
        .map(|copy| {
            let (copy_flags, body) = strip_flags(copy);
            flags = copy_flags;
            body
        })
        .collect();
    format!("{flags}(?:{})", bodies.join("|"))
}

/// Leading global flags `(?i)` and the rest.
fn strip_flags(pattern: &str) -> (&str, &str) {
    let flags_len = pattern
        .strip_prefix("(?")
        .and_then(|rest| {
            rest.find(')')
                .filter(|&n| rest[..n].bytes().all(|b| b.is_ascii_lowercase()))
        })
        .filter(|&n| n > 0)
        .map_or(0, |n| n + 3);
    pattern.split_at(flags_len)
}

/// Python text of the body of group `name`.
fn group_body<'p>(pattern: &'p str, name: &str) -> Option<&'p str> {
    let open = format!("(?P<{name}>");
    let start = pattern.find(&open)? + open.len();
    let len = group_len(&pattern[start..])?;
    Some(&pattern[start..start + len])
}

/// Length of a group body up to (not including) its closing parenthesis.
pub(crate) fn group_len(src: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = src.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class && depth == 0 => return Some(i),
            ')' if !in_class => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Characters a back-referenced group can match: a literal or a simple class like `[-/.]`.
fn class_chars(group_body: &str) -> Option<Vec<char>> {
    let inner = match group_body
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
    {
        Some(inner) if !inner.starts_with('^') => inner,
        _ => group_body,
    };
    let mut chars = Vec::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let escaped = it.next()?;
                if escaped.is_ascii_alphanumeric() {
                    return None;
                }
                chars.push(escaped);
            }
            '-' if !chars.is_empty() && it.clone().next().is_some() => return None,
            c if "()|*+?{}.^$[".contains(c) && inner == group_body => return None,
            c => chars.push(c),
        }
    }
    chars.dedup();
    (!chars.is_empty()).then_some(chars)
}
