//! One file's text → sections of raw values, as Python's `ConfigParser._read` does it with
//! fail2ban's settings: `=` or `:` delimiters, `#`/`;` comment lines, inline `;` comments only
//! at line start or after whitespace, indented continuation lines (blank lines inside a value
//! kept), lower-cased option names, strict mode (a section or an option twice in one file is an
//! error). Where Python would abort the file on an error, we report it and go on, so the good
//! lines still take effect; a duplicated option keeps its first value.

use std::collections::HashSet;

use indexmap::IndexMap;

use crate::error::{IniError, IniErrorKind};
use crate::span::{Span, Value};
use crate::{DEFAULT_SECTION, Ini};

/// A value being collected: its lines and their line numbers.
struct Pending {
    lines: Vec<String>,
    numbers: Vec<u32>,
    span: Span,
}

type PendingSection = IndexMap<String, Pending>;

/// Where option lines currently go.
#[derive(Clone, PartialEq, Eq)]
enum Cursor {
    Defaults,
    Section(String),
}

struct Parser<'a> {
    file: &'a Span,
    defaults: PendingSection,
    sections: IndexMap<String, PendingSection>,
    added: HashSet<(String, Option<String>)>,
    cursor: Option<Cursor>,
    /// The option continuation lines extend; `None` after a header. `discard` is set when the
    /// option was a rejected duplicate, so its continuation lines go nowhere.
    option: Option<String>,
    discard: bool,
    indent_level: usize,
    errors: Vec<IniError>,
}

/// Parses one file. `file` is a span at line 0 of it (carrying its include chain).
pub(crate) fn parse(text: &str, file: &Span) -> (Ini, Vec<IniError>) {
    let mut parser = Parser {
        file,
        defaults: IndexMap::new(),
        sections: IndexMap::new(),
        added: HashSet::new(),
        cursor: None,
        option: None,
        discard: false,
        indent_level: 0,
        errors: Vec::new(),
    };
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        parser.line(line, number);
    }
    parser.finish()
}

/// Byte index where a comment starts: a whole-line `#`/`;` comment, or an inline `;` at the
/// line start or after whitespace (fail2ban sets `inline_comment_prefixes=";"`).
fn comment_start(line: &str) -> Option<usize> {
    let trimmed = line.trim();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return Some(0);
    }
    let mut previous: Option<char> = None;
    for (index, ch) in line.char_indices() {
        if ch == ';' && previous.is_none_or(char::is_whitespace) {
            return Some(index);
        }
        previous = Some(ch);
    }
    None
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count()
}

/// `[name]` header: Python's `\[(?P<header>.+)\]` matched at the start of the stripped line.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then(|| &rest[..close])
}

/// `name = value` / `name: value`: split at the first delimiter.
fn option_line(value: &str) -> Option<(&str, &str)> {
    let at = value.find(['=', ':'])?;
    Some((value[..at].trim_end(), value[at + 1..].trim()))
}

impl Parser<'_> {
    fn error(&mut self, number: u32, kind: IniErrorKind) {
        self.errors
            .push(IniError::new(self.file.with_line(number), kind));
    }

    fn current_mut(&mut self) -> Option<&mut PendingSection> {
        match self.cursor.as_ref()? {
            Cursor::Defaults => Some(&mut self.defaults),
            Cursor::Section(name) => self.sections.get_mut(name),
        }
    }

    fn pending_mut(&mut self) -> Option<&mut Pending> {
        if self.discard {
            return None;
        }
        let option = self.option.clone()?;
        self.current_mut()?.get_mut(&option)
    }

    fn line(&mut self, line: &str, number: u32) {
        let comment = comment_start(line);
        let value = line[..comment.unwrap_or(line.len())].trim();
        if value.is_empty() {
            // A blank (not comment) line inside a value is kept; trailing ones are cut at the end.
            if comment.is_none()
                && let Some(pending) = self.pending_mut()
            {
                pending.lines.push(String::new());
                pending.numbers.push(number);
            }
            return;
        }
        let indent = indent_of(line);
        if self.cursor.is_some() && self.option.is_some() && indent > self.indent_level {
            if let Some(pending) = self.pending_mut() {
                pending.lines.push(value.to_string());
                pending.numbers.push(number);
            }
            return;
        }
        self.indent_level = indent;
        if let Some(header) = section_header(value) {
            self.header(header, number);
        } else if self.cursor.is_none() {
            self.error(number, IniErrorKind::MissingSectionHeader(line.to_string()));
        } else if let Some((name, text)) = option_line(value) {
            self.option_start(name, text, line, number);
        } else {
            self.error(number, IniErrorKind::BadLine(line.to_string()));
        }
    }

    fn header(&mut self, header: &str, number: u32) {
        self.option = None;
        self.discard = false;
        if header == DEFAULT_SECTION {
            self.cursor = Some(Cursor::Defaults);
            return;
        }
        let key = (header.to_string(), None);
        if self.sections.contains_key(header) && self.added.contains(&key) {
            self.error(number, IniErrorKind::DuplicateSection(header.to_string()));
        }
        self.added.insert(key);
        self.sections.entry(header.to_string()).or_default();
        self.cursor = Some(Cursor::Section(header.to_string()));
    }

    fn option_start(&mut self, name: &str, text: &str, line: &str, number: u32) {
        if name.is_empty() {
            self.error(number, IniErrorKind::EmptyOptionName(line.to_string()));
            self.option = None;
            return;
        }
        let name = name.to_lowercase();
        let section = match &self.cursor {
            Some(Cursor::Section(section)) => section.clone(),
            _ => DEFAULT_SECTION.to_string(),
        };
        let key = (section.clone(), Some(name.clone()));
        self.option = Some(name.clone());
        if !self.added.insert(key) {
            self.discard = true;
            self.error(
                number,
                IniErrorKind::DuplicateOption {
                    section,
                    option: name,
                },
            );
            return;
        }
        self.discard = false;
        let pending = Pending {
            lines: vec![text.to_string()],
            numbers: vec![number],
            span: self.file.with_line(number),
        };
        if let Some(current) = self.current_mut() {
            current.insert(name, pending);
        }
    }

    fn finish(self) -> (Ini, Vec<IniError>) {
        let ini = Ini {
            defaults: join_section(self.defaults),
            sections: self
                .sections
                .into_iter()
                .map(|(name, section)| (name, join_section(section)))
                .collect(),
            files: Vec::new(),
        };
        (ini, self.errors)
    }
}

/// Joins collected lines with `\n` and strips trailing whitespace (Python's
/// `_join_multiline_values`).
fn join_section(section: PendingSection) -> crate::Options {
    section
        .into_iter()
        .map(|(name, pending)| {
            let text = pending.lines.join("\n").trim_end().to_string();
            let mut numbers = pending.numbers;
            numbers.truncate(text.split('\n').count());
            (name, Value::with_lines(text, pending.span, numbers))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Ini, Vec<IniError>) {
        parse(text, &Span::new("t.conf", 0))
    }

    fn raw<'a>(ini: &'a Ini, section: &str, option: &str) -> &'a str {
        ini.raw(section, option)
            .map(|v| v.text.as_str())
            .unwrap_or("<missing>")
    }

    #[test]
    fn keys_are_lowercased_and_both_delimiters_work() {
        let (ini, errors) = parse_text("[S]\nFoo = 1\nbar: 2\nbaz=a=b:c\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw(&ini, "S", "foo"), "1");
        assert_eq!(raw(&ini, "S", "bar"), "2");
        assert_eq!(raw(&ini, "S", "baz"), "a=b:c");
    }

    #[test]
    fn continuation_lines_and_blank_lines_inside_values() {
        let text = "[S]\nre = a\n   b\n\n   c\n\n# comment\nnext = 1\n";
        let (ini, errors) = parse_text(text);
        assert!(errors.is_empty(), "{errors:?}");
        let value = ini.raw("S", "re").map(|v| v.text.clone());
        assert_eq!(value.as_deref(), Some("a\nb\n\nc"));
        let value = ini.raw("S", "re").cloned();
        let lines: Vec<u32> = (0..4)
            .filter_map(|i| value.as_ref().map(|v| v.line_span(i).line()))
            .collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
        assert_eq!(raw(&ini, "S", "next"), "1");
    }

    #[test]
    fn inline_semicolon_comment_only_after_whitespace() {
        let text = "[S]\na = x ; comment\nb = x;y\nc = x # not a comment\n";
        let (ini, errors) = parse_text(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw(&ini, "S", "a"), "x");
        assert_eq!(raw(&ini, "S", "b"), "x;y");
        assert_eq!(raw(&ini, "S", "c"), "x # not a comment");
    }

    #[test]
    fn indented_comment_line_inside_value_is_skipped() {
        let (ini, errors) = parse_text("[S]\na = 1\n  # c\n  ; d\n  2\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw(&ini, "S", "a"), "1\n2");
    }

    #[test]
    fn duplicate_option_is_an_error_and_first_value_kept() {
        let (ini, errors) = parse_text("[S]\na = 1\nA = 2\n  cont\nb = 3\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "t.conf:3: option `a` appears twice in section [S] of this file"
        );
        assert_eq!(raw(&ini, "S", "a"), "1");
        assert_eq!(raw(&ini, "S", "b"), "3");
    }

    #[test]
    fn duplicate_section_is_an_error_but_default_twice_is_not() {
        let (ini, errors) = parse_text("[DEFAULT]\nx=1\n[S]\na=1\n[DEFAULT]\ny=2\n[S]\nb=2\n");
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].kind, IniErrorKind::DuplicateSection(_)));
        assert_eq!(errors[0].span.line(), 7);
        assert_eq!(raw(&ini, "S", "b"), "2");
        assert_eq!(raw(&ini, "DEFAULT", "y"), "2");
    }

    #[test]
    fn bad_lines_are_reported_and_good_lines_kept() {
        let (ini, errors) = parse_text("a = 1\n[S]\njunk\n= x\nok = 1\n");
        let lines: Vec<u32> = errors.iter().map(|e| e.span.line()).collect();
        assert_eq!(lines, vec![1, 3, 4]);
        assert!(matches!(
            errors[0].kind,
            IniErrorKind::MissingSectionHeader(_)
        ));
        assert!(matches!(errors[1].kind, IniErrorKind::BadLine(_)));
        assert!(matches!(errors[2].kind, IniErrorKind::EmptyOptionName(_)));
        assert_eq!(raw(&ini, "S", "ok"), "1");
    }

    #[test]
    fn section_names_keep_case_and_conditions() {
        let (ini, errors) = parse_text("[Init?family=inet6]\nx = 1\n");
        assert!(errors.is_empty());
        assert_eq!(raw(&ini, "Init?family=inet6", "x"), "1");
    }
}
