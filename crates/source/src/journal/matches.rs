//! `journalmatch`: which journal entries a jail reads.
//!
//! Each line of the value is split like a shell command line (fail2ban uses
//! `shlex.split`) into `FIELD=value` words and `+`. Words between `+` are
//! combined as sd_journal does (same field: OR, different fields: AND) and
//! `+` is OR. journalctl's own match arguments have exactly this meaning, so
//! they are passed to it unchanged.

use crate::journal::JournalError;

/// The matches of one `journalmatch` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalMatch {
    groups: Vec<Vec<String>>,
}

impl JournalMatch {
    /// Parses one line, e.g. `_SYSTEMD_UNIT=sshd.service + _COMM=sshd`.
    pub fn parse(line: &str) -> Result<JournalMatch, JournalError> {
        let bad = |message: &str| JournalError::BadMatch {
            value: line.to_string(),
            message: message.to_string(),
        };
        let words = shell_words(line).ok_or_else(|| bad("unbalanced quotes"))?;
        let mut groups = vec![Vec::new()];
        for word in words {
            if word == "+" {
                groups.push(Vec::new());
            } else if !is_field_match(&word) {
                return Err(bad(&format!("{word:?} is not FIELD=value")));
            } else if let Some(group) = groups.last_mut() {
                group.push(word);
            }
        }
        groups.retain(|group| !group.is_empty());
        Ok(JournalMatch { groups })
    }

    /// Parses a multi-line value: one match per non-empty line, the lines
    /// OR'ed together (each is a separate `addjournalmatch`).
    pub fn parse_value(value: &str) -> Result<Vec<JournalMatch>, JournalError> {
        value
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(JournalMatch::parse)
            .collect()
    }

    /// The OR'ed groups of AND'ed `FIELD=value` words.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    /// journalctl arguments for several matches, all OR'ed.
    pub(crate) fn arguments(matches: &[JournalMatch]) -> Vec<String> {
        let mut arguments = Vec::new();
        for group in matches.iter().flat_map(|m| &m.groups) {
            if !arguments.is_empty() {
                arguments.push("+".to_string());
            }
            arguments.extend(group.iter().cloned());
        }
        arguments
    }
}

/// sd_journal accepts field names of upper-case letters, digits and `_`,
/// not starting with a digit.
fn is_field_match(word: &str) -> bool {
    let Some((field, _)) = word.split_once('=') else {
        return false;
    };
    !field.is_empty()
        && !field.starts_with(|c: char| c.is_ascii_digit())
        && field
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// POSIX `shlex.split`: whitespace separates words; `'...'` is literal;
/// `"..."` and bare text honour backslash escapes. `None` on an open quote.
fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => text.push(c),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => text.push(c),
                            '\n' => {}
                            c => {
                                text.push('\\');
                                text.push(c);
                            }
                        },
                        c => text.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn plus_separates_alternatives() {
        let parsed = JournalMatch::parse("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap();
        assert_eq!(
            parsed.groups(),
            &[
                vec!["_SYSTEMD_UNIT=sshd.service".to_string()],
                vec!["_COMM=sshd".to_string()]
            ]
        );
        let second = JournalMatch::parse("_COMM=dropbear _PID=1").unwrap();
        assert_eq!(
            JournalMatch::arguments(&[parsed, second]),
            [
                "_SYSTEMD_UNIT=sshd.service",
                "+",
                "_COMM=sshd",
                "+",
                "_COMM=dropbear",
                "_PID=1"
            ]
        );
    }

    #[test]
    fn quotes_follow_shlex() {
        let parsed = JournalMatch::parse(r#"MESSAGE="a b" 'SYSLOG_IDENTIFIER=x y'"#).unwrap();
        assert_eq!(
            parsed.groups(),
            &[vec![
                "MESSAGE=a b".to_string(),
                "SYSLOG_IDENTIFIER=x y".to_string()
            ]]
        );
        assert!(JournalMatch::parse("MESSAGE=\"open").is_err());
    }

    #[test]
    fn rejects_words_that_are_not_field_matches() {
        assert!(JournalMatch::parse("sshd").is_err());
        assert!(JournalMatch::parse("lower=case").is_err());
        assert!(JournalMatch::parse("1X=y").is_err());
        assert_eq!(JournalMatch::parse_value("A=1\n\nB=2").unwrap().len(), 2);
    }
}
