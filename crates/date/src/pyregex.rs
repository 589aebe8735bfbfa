//! Translation of fail2ban's Python date regexes to the `regex` crate's syntax.
//!
//! The `regex` crate has no look-around and no back-references, and runs in linear time; the
//! constructs fail2ban's date templates use are rewritten instead of reaching for a
//! backtracking engine:
//! - the boundaries `(?=^|\b|\W)` and `(?=\b|\W|$)` fail only between two word characters,
//!   which is exactly `(?:\b{start-half}|\b{end-half})`;
//! - a back-reference to a one-character group (`(?P<_sep>[-/.])…(?P=_sep)`) becomes one
//!   alternative of the whole regex per character;
//! - named groups become plain groups: Python's group numbers are kept and the names are
//!   returned beside the regex.
//!
//! Other look-arounds, conditionals and numeric back-references are refused.

/// A Python date regex this translator does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyRegexError {
    #[error("unsupported regex flags {0:?}")]
    UnsupportedFlags(String),
    #[error("unsupported regex construct {0:?}")]
    UnsupportedConstruct(String),
    #[error("unsupported escape \\{0}")]
    UnsupportedEscape(char),
    #[error("incomplete escape \\{0}")]
    IncompleteEscape(char),
    #[error("trailing backslash")]
    TrailingBackslash,
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("unknown group name {0:?}")]
    UnknownGroup(String),
    #[error("redefinition of group name {0:?}")]
    RedefinedGroup(String),
    #[error("unsupported back-reference to group {0:?}")]
    UnsupportedBackReference(String),
    #[error("back-references to more than one group")]
    SeveralBackReferences,
}

/// What both of fail2ban's word-boundary look-aheads mean.
pub(crate) const BOUNDARY: &str = r"(?:\b{start-half}|\b{end-half})";

/// A translated regex: `variants` copies of the pattern, each with `group_names.len()`
/// capturing groups in Python's numbering.
#[derive(Debug)]
pub(crate) struct Translated {
    pub(crate) regex: String,
    pub(crate) group_names: Vec<Option<String>>,
    pub(crate) variants: usize,
}

/// Translates a Python regex (as fail2ban builds it) to a `regex` crate regex.
pub(crate) fn translate(python: &str) -> Result<Translated, PyRegexError> {
    let (flags, body) = split_global_flags(python)?;
    let first = Translator::new(body, None).run()?;
    let Some((name, class)) = first.backref else {
        return Ok(Translated {
            regex: format!("{flags}{}", first.out),
            group_names: first.groups,
            variants: 1,
        });
    };
    let chars =
        class_chars(&class).ok_or_else(|| PyRegexError::UnsupportedBackReference(name.clone()))?;
    let mut alternatives = Vec::with_capacity(chars.len());
    for c in &chars {
        let variant = Translator::new(body, Some((name.as_str(), *c))).run()?;
        if variant.backref.is_some() {
            return Err(PyRegexError::SeveralBackReferences);
        }
        alternatives.push(variant.out);
    }
    Ok(Translated {
        regex: format!("{flags}(?:{})", alternatives.join("|")),
        group_names: first.groups,
        variants: chars.len(),
    })
}

/// Leading `(?iu)`-style flags, translated (`u` is the `regex` crate's default).
fn split_global_flags(python: &str) -> Result<(String, &str), PyRegexError> {
    let Some(rest) = python.strip_prefix("(?") else {
        return Ok((String::new(), python));
    };
    let letters: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
    let Some(body) = rest[letters.len()..].strip_prefix(')') else {
        return Ok((String::new(), python));
    };
    if letters.is_empty() {
        return Ok((String::new(), python));
    }
    let mut out = String::new();
    for letter in letters.chars() {
        match letter {
            'i' | 'm' | 's' | 'x' => out.push(letter),
            'u' => {}
            other => return Err(PyRegexError::UnsupportedFlags(other.to_string())),
        }
    }
    Ok((
        if out.is_empty() {
            out
        } else {
            format!("(?{out})")
        },
        body,
    ))
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

struct Output {
    out: String,
    groups: Vec<Option<String>>,
    /// A back-referenced group: its name and the Python text of its body.
    backref: Option<(String, String)>,
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    groups: Vec<Option<String>>,
    /// Group name whose back-references take this character in this variant.
    fixed: Option<(&'a str, char)>,
    backref: Option<String>,
}

impl<'a> Translator<'a> {
    fn new(src: &'a str, fixed: Option<(&'a str, char)>) -> Self {
        Translator {
            src,
            pos: 0,
            out: String::with_capacity(src.len() + 32),
            groups: Vec::new(),
            fixed,
            backref: None,
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn run(mut self) -> Result<Output, PyRegexError> {
        while let Some(c) = self.rest().chars().next() {
            match c {
                '\\' => self.escape()?,
                '[' => self.class()?,
                '(' => self.group()?,
                '{' => self.brace(),
                '}' => {
                    self.out.push_str(r"\}");
                    self.pos += 1;
                }
                _ => {
                    self.out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        let backref = match self.backref.clone() {
            Some(name) => {
                let body = self.group_body(&name)?;
                Some((name, body))
            }
            None => None,
        };
        Ok(Output {
            out: self.out,
            groups: self.groups,
            backref,
        })
    }

    /// Python text of the body of group `name` (for a back-reference).
    fn group_body(&self, name: &str) -> Result<String, PyRegexError> {
        let open = format!("(?P<{name}>");
        let start = self
            .src
            .find(&open)
            .ok_or_else(|| PyRegexError::UnknownGroup(name.to_owned()))?
            + open.len();
        let len = group_len(&self.src[start..]).ok_or(PyRegexError::Unterminated("group"))?;
        Ok(self.src[start..start + len].to_string())
    }

    fn escape(&mut self) -> Result<(), PyRegexError> {
        let mut chars = self.rest().chars();
        chars.next();
        let Some(c) = chars.next() else {
            return Err(PyRegexError::TrailingBackslash);
        };
        self.pos += 1 + c.len_utf8();
        let translated = escape_outside_class(c, self.rest())?;
        self.pos += translated.1;
        self.out.push_str(&translated.0);
        Ok(())
    }

    fn class(&mut self) -> Result<(), PyRegexError> {
        self.pos += 1;
        self.out.push('[');
        if self.rest().starts_with('^') {
            self.out.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(PyRegexError::Unterminated("character set"));
            };
            self.pos += c.len_utf8();
            match c {
                ']' if !first => break,
                '\\' => {
                    let Some(e) = self.rest().chars().next() else {
                        return Err(PyRegexError::TrailingBackslash);
                    };
                    self.pos += e.len_utf8();
                    let (text, consumed) = escape_inside_class(e, self.rest())?;
                    self.pos += consumed;
                    self.out.push_str(&text);
                }
                '-' if self.out.ends_with('-') && !self.out.ends_with("\\-") => {
                    self.out.push_str(r"\-")
                }
                '[' | ']' | '&' | '~' => {
                    self.out.push('\\');
                    self.out.push(c);
                }
                _ => self.out.push(c),
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn group(&mut self) -> Result<(), PyRegexError> {
        let rest = self.rest();
        if !rest.starts_with("(?") {
            self.groups.push(None);
            self.out.push('(');
            self.pos += 1;
            return Ok(());
        }
        for lookahead in [r"(?=^|\b|\W)", r"(?=\b|\W|$)"] {
            if rest.starts_with(lookahead) {
                self.out.push_str(BOUNDARY);
                self.pos += lookahead.len();
                return Ok(());
            }
        }
        if let Some(named) = rest.strip_prefix("(?P<") {
            return self.named_group(named);
        }
        if let Some(reference) = rest.strip_prefix("(?P=") {
            return self.backreference(reference);
        }
        if rest.starts_with("(?:") {
            self.out.push_str("(?:");
            self.pos += 3;
            return Ok(());
        }
        if rest.starts_with("(?#") {
            let end = rest
                .find(')')
                .ok_or(PyRegexError::Unterminated("comment"))?;
            self.pos += end + 1;
            return Ok(());
        }
        self.scoped_flags(rest)
    }

    fn named_group(&mut self, named: &str) -> Result<(), PyRegexError> {
        let end = named
            .find('>')
            .ok_or(PyRegexError::Unterminated("group name"))?;
        let name = &named[..end];
        self.pos += 4 + end + 1;
        if self.groups.iter().flatten().any(|known| known == name) {
            return Err(PyRegexError::RedefinedGroup(name.to_owned()));
        }
        self.groups.push(Some(name.to_string()));
        if let Some((_, c)) = self.fixed.filter(|(fixed, _)| *fixed == name) {
            let len = group_len(self.rest()).ok_or(PyRegexError::Unterminated("group"))?;
            self.pos += len + 1;
            self.out.push('(');
            self.out
                .push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            self.out.push(')');
            return Ok(());
        }
        self.out.push('(');
        Ok(())
    }

    fn backreference(&mut self, reference: &str) -> Result<(), PyRegexError> {
        let end = reference
            .find(')')
            .ok_or(PyRegexError::Unterminated("back-reference"))?;
        let name = &reference[..end];
        self.pos += 4 + end + 1;
        match self.fixed {
            Some((fixed, c)) if fixed == name => {
                self.out
                    .push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
                Ok(())
            }
            _ if self.backref.as_deref().is_some_and(|known| known != name) => {
                Err(PyRegexError::SeveralBackReferences)
            }
            _ => {
                self.backref = Some(name.to_string());
                Ok(())
            }
        }
    }

    /// `(?i:...)`-style scoped flags; everything else (look-around, conditionals) is refused.
    fn scoped_flags(&mut self, rest: &str) -> Result<(), PyRegexError> {
        let after = &rest[2..];
        let len = after.find(':').filter(|&n| {
            after[..n]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
        });
        let Some(len) = len else {
            let construct: String = rest.chars().take(4).collect();
            return Err(PyRegexError::UnsupportedConstruct(construct));
        };
        let flags: String = after[..len].chars().filter(|&c| c != 'u').collect();
        if flags.chars().any(|c| !"imsx-".contains(c)) {
            return Err(PyRegexError::UnsupportedFlags(flags));
        }
        self.out.push_str(&format!("(?{flags}:"));
        self.pos += 2 + len + 1;
        Ok(())
    }

    /// `{m,n}` is a repetition in Python only when well-formed; otherwise a literal brace.
    fn brace(&mut self) {
        let rest = self.rest();
        let quantifier = rest.find('}').map(|end| &rest[1..end]).filter(|inner| {
            let (low, high) = inner.split_once(',').unwrap_or((inner, inner));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            digits(low) && digits(high) && !(low.is_empty() && high.is_empty())
        });
        match quantifier {
            Some(inner) => {
                self.pos += inner.len() + 2;
                let zero = if inner.starts_with(',') { "0" } else { "" };
                self.out.push_str(&format!("{{{zero}{inner}}}"));
            }
            None => {
                self.out.push_str(r"\{");
                self.pos += 1;
            }
        }
    }
}

/// Length of a group body up to (not including) its closing parenthesis.
fn group_len(src: &str) -> Option<usize> {
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

/// A Python escape outside a class: the `regex` text and how many more bytes it consumed.
fn escape_outside_class(c: char, rest: &str) -> Result<(String, usize), PyRegexError> {
    Ok(match c {
        'd' => ("[0-9]".to_string(), 0),
        'D' => ("[^0-9]".to_string(), 0),
        'Z' => (r"\z".to_string(), 0),
        'w' | 'W' | 's' | 'S' | 'b' | 'B' | 'A' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' => {
            (format!("\\{c}"), 0)
        }
        'x' | 'u' | 'U' => hex_escape(c, rest)?,
        c if c.is_ascii_alphanumeric() => return Err(PyRegexError::UnsupportedEscape(c)),
        c => (regex::escape(c.encode_utf8(&mut [0; 4])), 0),
    })
}

/// A Python escape inside a class (`\b` is a backspace there).
fn escape_inside_class(c: char, rest: &str) -> Result<(String, usize), PyRegexError> {
    Ok(match c {
        'd' => ("0-9".to_string(), 0),
        'b' => (r"\x08".to_string(), 0),
        'w' | 'W' | 's' | 'S' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' => (format!("\\{c}"), 0),
        'x' | 'u' | 'U' => hex_escape(c, rest)?,
        c if c.is_ascii_alphanumeric() => return Err(PyRegexError::UnsupportedEscape(c)),
        // Non-ASCII characters cannot be escaped in the `regex` crate; they need no escape.
        c if !c.is_ascii() => (c.to_string(), 0),
        c => (format!("\\{c}"), 0),
    })
}

fn hex_escape(c: char, rest: &str) -> Result<(String, usize), PyRegexError> {
    let len = match c {
        'x' => 2,
        'u' => 4,
        _ => 8,
    };
    let digits = rest
        .get(..len)
        .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
    let digits = digits.ok_or(PyRegexError::IncompleteEscape(c))?;
    Ok((format!("\\x{{{digits}}}"), len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_digits_are_rewritten() {
        let t = translate(r"(?iu)(?=^|\b|\W)((?P<d>\d{2}) x)(?=\b|\W|$)").unwrap();
        assert_eq!(t.regex, format!("(?i){BOUNDARY}(([0-9]{{2}}) x){BOUNDARY}"));
        assert_eq!(t.group_names, vec![None, Some("d".to_string())]);
        assert_eq!(t.variants, 1);
    }

    #[test]
    fn backreference_becomes_alternatives() {
        let t = translate(r"((?P<Y>\d{4})(?P<_sep>[-/.])(?P<m>\d\d)(?P=_sep))").unwrap();
        assert_eq!(t.variants, 3);
        assert_eq!(t.group_names.len(), 4);
        let re = regex::Regex::new(&t.regex).unwrap();
        assert!(re.is_match("2005/08/"));
        assert!(!re.is_match("2005/08-"));
        assert_eq!(re.captures_len(), 1 + 3 * 4);
    }

    #[test]
    fn literal_braces_and_sets_are_escaped() {
        let t = translate(r"^[^\[]*\[{x}[[&]a{2,}b{,3}").unwrap();
        assert_eq!(t.regex, r"^[^\[]*\[\{x\}[\[\&]a{2,}b{0,3}");
        regex::Regex::new(&t.regex).unwrap();
    }

    #[test]
    fn lookbehind_is_refused() {
        assert!(translate(r"(?<=x)a").is_err());
        assert!(translate(r"(a)\1").is_err());
    }
}
