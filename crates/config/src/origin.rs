//! Which file line a final (interpolated, tag-substituted) regex line came from.
//!
//! `failregex = %(cmnfailre)s` followed by `<mdre-<mode>>` expands into lines written in other
//! options, sometimes in other files. Rather than tracing every substitution, each raw line of
//! the filter's files becomes a template whose `%(x)s` and `<x>` parts match anything; a final
//! line is attributed to the matching template with the most literal text. Lines that no
//! template matches keep the span of the option itself.

use std::sync::LazyLock;

use ferroban_ini::{Ini, Span};

/// `%(name)s` references (already replaced in final text).
#[allow(clippy::expect_used)]
static REFERENCE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"%\([^)]*\)s").expect("constant pattern compiles"));

/// `<tag>` without nested brackets; applied repeatedly so `<a-<b>>` collapses too.
#[allow(clippy::expect_used)]
static TAG: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"<[^ <>]+>").expect("constant pattern compiles"));

/// Stands for "anything" in a template while it is being built.
const HOLE: char = '\u{0}';

struct Template {
    regex: regex::Regex,
    literal_len: usize,
    span: Span,
}

pub(crate) struct LineOrigins {
    templates: Vec<Template>,
}

impl LineOrigins {
    /// Templates from every raw value line of `ini` (all sections and `[DEFAULT]`).
    pub(crate) fn new(ini: &Ini) -> Self {
        let sections = ini.section_names().filter_map(|name| ini.section(name));
        let mut templates = Vec::new();
        for options in std::iter::once(ini.defaults()).chain(sections) {
            for value in options.values() {
                for (index, line) in value.text.split('\n').enumerate() {
                    templates.extend(template(line, value.line_span(index)));
                }
            }
        }
        LineOrigins { templates }
    }

    /// The span of the most specific raw line that could have produced `line`.
    pub(crate) fn find(&self, line: &str) -> Option<Span> {
        self.templates
            .iter()
            .filter(|t| t.regex.is_match(line))
            .max_by_key(|t| t.literal_len)
            .map(|t| t.span.clone())
    }
}

fn template(line: &str, span: Span) -> Option<Template> {
    let hole = HOLE.to_string();
    let mut text = REFERENCE
        .replace_all(line, hole.as_str())
        .replace("%%", "%");
    loop {
        let next = TAG.replace_all(&text, hole.as_str()).into_owned();
        if next == text {
            break;
        }
        text = next;
    }
    let parts: Vec<&str> = text.split(HOLE).collect();
    let literal_len: usize = parts.iter().map(|p| p.len()).sum();
    // A line that is only references says nothing about where the text was written.
    if literal_len < 3 {
        return None;
    }
    let escaped: Vec<String> = parts.iter().map(|p| regex::escape(p)).collect();
    let pattern = format!("(?s)^{}$", escaped.join(".*"));
    let regex = regex::Regex::new(&pattern).ok()?;
    Some(Template {
        regex,
        literal_len,
        span,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_template_wins() {
        let text = "[Definition]\nfailregex = %(a)s\n  <b-<mode>>\na = ^%(p)sfailed for <HOST>$\n    ^%(p)sinvalid user <F-USER>\\S+</F-USER>$\nb-normal = ^%(p)sfailed for <HOST> badly$\n";
        let (ini, errors) = Ini::parse_str("f.conf", text);
        assert!(errors.is_empty());
        let origins = LineOrigins::new(&ini);
        let line = |l: &str| origins.find(l).map(|s| s.line());
        assert_eq!(line(r"^\S+: failed for <HOST>$"), Some(4));
        assert_eq!(line(r"^\S+: invalid user <F-USER>\S+</F-USER>$"), Some(5));
        assert_eq!(line(r"^\S+: failed for <HOST> badly$"), Some(6));
        assert_eq!(line("something else"), None);
    }
}
