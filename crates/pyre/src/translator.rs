//! The translator proper: one pass over the Python pattern, writing the exact, relaxed and
//! `anywhere` forms side by side.

use std::fmt::Write as _;

use crate::{BOUNDARY, BacktrackFeature, EndAnchor, Options, TranslateError, Translated};

/// fail2ban's two word-boundary look-aheads, which [`BOUNDARY`] replaces exactly where they
/// stand (before and after a date).
const BOUNDARY_LOOKAHEADS: [&str; 2] = [r"(?=^|\b|\W)", r"(?=\b|\W|$)"];

/// What kind of group an open parenthesis started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Plain,
    /// Look-around: suppressed in the relaxed output.
    LookAround,
    /// Conditional: `saw_branch` tells whether the "no" branch exists.
    Conditional {
        saw_branch: bool,
    },
}

pub(crate) struct Translator<'p> {
    chars: Vec<(usize, char)>,
    pattern: &'p str,
    index: usize,
    out: String,
    relaxed: String,
    anywhere: String,
    backtracking: Option<BacktrackFeature>,
    groups: Vec<GroupKind>,
    /// Depth of nested look-arounds; relaxed output is suppressed while > 0.
    suppressed: usize,
    /// Global flags (Python applies `(?i)` anywhere to the whole pattern).
    global_flags: String,
    verbose: bool,
    options: Options,
    /// Python's capturing groups in order, with their names.
    group_names: Vec<Option<String>>,
    /// A group whose back-references are written as this one character (see `crate::expand`).
    fixed: Option<(&'p str, char)>,
    /// The first named group a back-reference names; `several` when another is named too.
    backreference: Option<String>,
    several_backreferences: bool,
}

impl<'p> Translator<'p> {
    pub(crate) fn new(pattern: &'p str, options: Options, fixed: Option<(&'p str, char)>) -> Self {
        Translator {
            chars: pattern.char_indices().collect(),
            pattern,
            index: 0,
            out: String::with_capacity(pattern.len() + 16),
            relaxed: String::with_capacity(pattern.len() + 16),
            anywhere: String::with_capacity(pattern.len() + 16),
            backtracking: None,
            groups: Vec::new(),
            suppressed: 0,
            global_flags: String::new(),
            verbose: leading_verbose_flag(pattern),
            options,
            group_names: Vec::new(),
            fixed,
            backreference: None,
            several_backreferences: false,
        }
    }

    /// Global flags met so far (an inline `(?m)` makes the whole pattern multi-line).
    pub(crate) fn global_flags(&self) -> &str {
        &self.global_flags
    }

    /// The named group back-references point to, and whether more than one is named.
    pub(crate) fn backreference(&self) -> (Option<&str>, bool) {
        (self.backreference.as_deref(), self.several_backreferences)
    }

    pub(crate) fn finish(self) -> Translated {
        let prefix = if self.global_flags.is_empty() {
            String::new()
        } else {
            format!("(?{})", self.global_flags)
        };
        let relaxed = if self.backtracking.is_some() {
            format!("{prefix}{}", self.relaxed)
        } else {
            format!("{prefix}{}", self.out)
        };
        Translated {
            pattern: format!("{prefix}{}", self.out),
            backtracking: self.backtracking,
            relaxed,
            anywhere: format!("{prefix}{}", self.anywhere),
            group_names: self.group_names,
            variants: 1,
        }
    }

    fn error(&self, message: impl Into<String>) -> TranslateError {
        let position = self
            .chars
            .get(self.index)
            .map_or(self.pattern.len(), |(offset, _)| *offset);
        TranslateError {
            message: message.into(),
            position,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.index).map(|(_, c)| *c)
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.index + ahead).map(|(_, c)| *c)
    }

    fn rest_starts_with(&self, text: &str) -> bool {
        self.chars
            .get(self.index)
            .is_some_and(|(offset, _)| self.pattern[*offset..].starts_with(text))
    }

    fn advance(&mut self, count: usize) {
        self.index += count;
    }

    fn need_backtracking(&mut self, feature: BacktrackFeature) {
        if self.backtracking.is_none() {
            self.backtracking = Some(feature);
        }
    }

    /// Writes to both outputs.
    fn emit(&mut self, text: &str) {
        self.out.push_str(text);
        if self.suppressed == 0 {
            self.relaxed.push_str(text);
            self.anywhere.push_str(text);
        }
    }

    fn emit_split(&mut self, exact: &str, relaxed: &str) {
        self.out.push_str(exact);
        if self.suppressed == 0 {
            self.relaxed.push_str(relaxed);
            self.anywhere.push_str(relaxed);
        }
    }

    /// An anchor or boundary: kept except in the `anywhere` form.
    fn emit_assertion(&mut self, exact: &str, anywhere: &str) {
        self.out.push_str(exact);
        if self.suppressed == 0 {
            self.relaxed.push_str(exact);
            self.anywhere.push_str(anywhere);
        }
    }

    pub(crate) fn run(&mut self) -> Result<(), TranslateError> {
        while let Some(c) = self.peek() {
            self.step(c)?;
        }
        if !self.groups.is_empty() {
            return Err(self.error("missing ), unterminated subpattern"));
        }
        Ok(())
    }

    fn step(&mut self, c: char) -> Result<(), TranslateError> {
        match c {
            '\\' => self.escape(),
            '[' => self.class(),
            '(' => self.open_group(),
            ')' => self.close_group(),
            '|' => {
                if let Some(GroupKind::Conditional { saw_branch }) = self.groups.last_mut() {
                    if *saw_branch {
                        return Err(self.error("conditional backref with more than two branches"));
                    }
                    *saw_branch = true;
                }
                self.advance(1);
                self.emit("|");
                Ok(())
            }
            '$' => {
                self.advance(1);
                if self.options.end_anchor == EndAnchor::Text {
                    self.emit_assertion("$", "");
                } else if self.options.multiline {
                    self.emit_assertion("(?m:$)", "");
                } else {
                    // Python's `$` without MULTILINE: at the end or before a final newline.
                    // The regex crate has no look-ahead, so the final newline is consumed
                    // instead; a match then ends one byte later, which changes neither the
                    // lines it covers nor any group that closes before the `$`.
                    self.emit_assertion("(?:\\n?\\z)", "\\n?");
                }
                Ok(())
            }
            '^' => {
                self.advance(1);
                self.emit_assertion("^", "");
                Ok(())
            }
            '.' => {
                self.advance(1);
                self.emit(".");
                Ok(())
            }
            '*' | '+' | '?' => self.quantifier_suffix(c),
            '{' => self.brace(),
            '}' | ']' => {
                self.advance(1);
                self.emit(if c == '}' { "\\}" } else { "\\]" });
                Ok(())
            }
            '#' if self.verbose => {
                while let Some(next) = self.peek() {
                    self.advance(1);
                    if next == '\n' {
                        break;
                    }
                }
                Ok(())
            }
            c if self.verbose && c.is_whitespace() => {
                self.advance(1);
                Ok(())
            }
            _ => {
                self.advance(1);
                self.emit_literal(c);
                Ok(())
            }
        }
    }

    fn emit_literal(&mut self, c: char) {
        let mut buf = String::with_capacity(8);
        push_literal(&mut buf, c, false);
        self.emit(&buf);
    }

    /// `*`, `+`, `?` and what may follow them: lazy `?` or possessive `+`.
    fn quantifier_suffix(&mut self, c: char) -> Result<(), TranslateError> {
        self.advance(1);
        let mut text = String::from(c);
        self.quantifier_modifier(&mut text);
        Ok(())
    }

    fn quantifier_modifier(&mut self, text: &mut String) {
        match self.peek() {
            Some('?') => {
                self.advance(1);
                text.push('?');
                self.emit(text);
            }
            Some('+') => {
                self.advance(1);
                self.need_backtracking(BacktrackFeature::PossessiveQuantifier);
                let exact = format!("{text}+");
                self.emit_split(&exact, text);
            }
            _ => self.emit(text),
        }
    }

    /// `{m,n}` and friends; anything else is a literal `{` as in Python.
    fn brace(&mut self) -> Result<(), TranslateError> {
        let mut look = self.index + 1;
        let mut low = String::new();
        let mut high = String::new();
        let mut comma = false;
        while let Some((_, d)) = self.chars.get(look) {
            match d {
                '0'..='9' if !comma => low.push(*d),
                '0'..='9' => high.push(*d),
                ',' if !comma => comma = true,
                _ => break,
            }
            look += 1;
        }
        let closed = matches!(self.chars.get(look), Some((_, '}')));
        if !closed || (low.is_empty() && !comma) {
            self.advance(1);
            self.emit("\\{");
            return Ok(());
        }
        self.index = look + 1;
        let low = if low.is_empty() { "0".to_string() } else { low };
        let mut text = if !comma {
            format!("{{{low}}}")
        } else {
            format!("{{{low},{high}}}")
        };
        self.quantifier_modifier(&mut text);
        Ok(())
    }

    fn escape(&mut self) -> Result<(), TranslateError> {
        let Some(c) = self.peek_at(1) else {
            return Err(self.error("bad escape (end of pattern)"));
        };
        self.advance(2);
        match c {
            '1'..='9' => self.numbered_backref(c),
            '0' => {
                let value = self.octal_digits(0);
                self.emit_char_code(value);
                Ok(())
            }
            'Z' | 'A' | 'b' | 'B' => {
                let exact = if c == 'Z' {
                    "\\z".to_string()
                } else {
                    format!("\\{c}")
                };
                self.emit_assertion(&exact, "");
                Ok(())
            }
            'd' if self.options.ascii_digits => {
                self.emit("[0-9]");
                Ok(())
            }
            'D' if self.options.ascii_digits => {
                self.emit("[^0-9]");
                Ok(())
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'a' | 'f' | 'n' | 'r' | 't' | 'v' => {
                let text = format!("\\{c}");
                self.emit(&text);
                Ok(())
            }
            'x' | 'u' | 'U' => {
                let value = self.hex_escape(c)?;
                self.emit_char_code(value);
                Ok(())
            }
            c if c.is_ascii_alphanumeric() => Err(self.error(format!("bad escape \\{c}"))),
            c => {
                self.emit_literal(c);
                Ok(())
            }
        }
    }

    fn numbered_backref(&mut self, first: char) -> Result<(), TranslateError> {
        // Python: up to two digits are a group number; three octal digits are an octal escape.
        let mut digits = String::from(first);
        if let Some(d) = self.peek().filter(char::is_ascii_digit) {
            if let (true, Some(d3)) = (
                is_octal(first) && is_octal(d),
                self.peek_at(1).filter(|d3| is_octal(*d3)),
            ) {
                self.advance(2);
                let value = octal_value(&[first, d, d3]);
                self.emit_char_code(value);
                return Ok(());
            }
            digits.push(d);
            self.advance(1);
        }
        self.need_backtracking(BacktrackFeature::BackReference);
        let exact = format!("\\{digits}");
        self.emit_split(&exact, "(?s:.*?)");
        Ok(())
    }

    fn octal_digits(&mut self, start: u32) -> u32 {
        let mut value = start;
        for _ in 0..2 {
            match self.peek() {
                Some(d) if is_octal(d) => {
                    value = value * 8 + d.to_digit(8).unwrap_or(0);
                    self.advance(1);
                }
                _ => break,
            }
        }
        value
    }

    fn hex_escape(&mut self, kind: char) -> Result<u32, TranslateError> {
        let width = match kind {
            'x' => 2,
            'u' => 4,
            _ => 8,
        };
        let mut value = 0u32;
        for _ in 0..width {
            let digit = self
                .peek()
                .and_then(|d| d.to_digit(16))
                .ok_or_else(|| self.error(format!("incomplete escape \\{kind}")))?;
            value = value.saturating_mul(16).saturating_add(digit);
            self.advance(1);
        }
        Ok(value)
    }

    fn emit_char_code(&mut self, value: u32) {
        let text = format!("\\x{{{value:X}}}");
        self.emit(&text);
    }

    /// A character class, re-written member by member so that `[`, `&&`, `--`, `~~` mean
    /// what Python means (literal characters) and not the regex crate's set operations.
    fn class(&mut self) -> Result<(), TranslateError> {
        let start = self.index;
        self.advance(1);
        let mut text = String::from("[");
        if self.peek() == Some('^') {
            self.advance(1);
            text.push('^');
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                self.index = start;
                return Err(self.error("unterminated character set"));
            };
            if c == ']' && !first {
                self.advance(1);
                break;
            }
            first = false;
            let member = self.class_atom()?;
            // A range `a-z`: `-` between two single characters (Python: not before `]`).
            if self.peek() == Some('-')
                && self.peek_at(1).is_some_and(|n| n != ']')
                && let ClassAtom::Char(low) = member
            {
                self.advance(1);
                let high = match self.class_atom()? {
                    ClassAtom::Char(high) => high,
                    ClassAtom::Set(_) => return Err(self.error("bad character range")),
                };
                if high < low {
                    return Err(self.error(format!("bad character range {low}-{high}")));
                }
                push_literal(&mut text, low, true);
                text.push('-');
                push_literal(&mut text, high, true);
                continue;
            }
            match member {
                ClassAtom::Char(c) => push_literal(&mut text, c, true),
                ClassAtom::Set(set) => text.push_str(set),
            }
        }
        text.push(']');
        self.emit(&text);
        Ok(())
    }

    fn class_atom(&mut self) -> Result<ClassAtom, TranslateError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated character set"));
        };
        self.advance(1);
        if c != '\\' {
            return Ok(ClassAtom::Char(c));
        }
        let Some(e) = self.peek() else {
            return Err(self.error("bad escape (end of pattern)"));
        };
        self.advance(1);
        let atom = match e {
            'd' if self.options.ascii_digits => ClassAtom::Set("0-9"),
            // A nested class: the regex crate reads it, and only the date dialect asks.
            'D' if self.options.ascii_digits => ClassAtom::Set("[^0-9]"),
            'd' => ClassAtom::Set("\\d"),
            'D' => ClassAtom::Set("\\D"),
            's' => ClassAtom::Set("\\s"),
            'S' => ClassAtom::Set("\\S"),
            'w' => ClassAtom::Set("\\w"),
            'W' => ClassAtom::Set("\\W"),
            // Inside a class Python reads \b as backspace.
            'b' => ClassAtom::Char('\u{8}'),
            'a' => ClassAtom::Char('\u{7}'),
            'f' => ClassAtom::Char('\u{c}'),
            'n' => ClassAtom::Char('\n'),
            'r' => ClassAtom::Char('\r'),
            't' => ClassAtom::Char('\t'),
            'v' => ClassAtom::Char('\u{b}'),
            'x' | 'u' | 'U' => {
                let value = self.hex_escape(e)?;
                ClassAtom::Char(
                    char::from_u32(value).ok_or_else(|| self.error("bad character code"))?,
                )
            }
            '0'..='7' => {
                let value = self.octal_digits(e.to_digit(8).unwrap_or(0));
                ClassAtom::Char(
                    char::from_u32(value).ok_or_else(|| self.error("bad octal escape"))?,
                )
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.error(format!("bad escape \\{c}")));
            }
            c => ClassAtom::Char(c),
        };
        Ok(atom)
    }

    fn open_group(&mut self) -> Result<(), TranslateError> {
        if self.peek_at(1) != Some('?') {
            self.advance(1);
            self.groups.push(GroupKind::Plain);
            self.group_names.push(None);
            self.emit("(");
            return Ok(());
        }
        if self.options.boundary_lookaheads
            && let Some(lookahead) = BOUNDARY_LOOKAHEADS
                .into_iter()
                .find(|lookahead| self.rest_starts_with(lookahead))
        {
            self.advance(lookahead.chars().count());
            self.emit_assertion(BOUNDARY, "");
            return Ok(());
        }
        if self.rest_starts_with("(?P<") {
            return self.named_group();
        }
        if self.rest_starts_with("(?P=") {
            let name = self.group_name(4, ')')?;
            return self.named_backreference(&name);
        }
        if self.rest_starts_with("(?#") {
            while let Some(c) = self.peek() {
                self.advance(1);
                if c == ')' {
                    return Ok(());
                }
            }
            return Err(self.error("missing ), unterminated comment"));
        }
        for (prefix, kind) in [
            ("(?:", None),
            ("(?=", Some(BacktrackFeature::LookAround)),
            ("(?!", Some(BacktrackFeature::LookAround)),
            ("(?<=", Some(BacktrackFeature::LookAround)),
            ("(?<!", Some(BacktrackFeature::LookAround)),
            ("(?>", Some(BacktrackFeature::AtomicGroup)),
        ] {
            if self.rest_starts_with(prefix) {
                self.advance(prefix.chars().count());
                self.special_group(prefix, kind);
                return Ok(());
            }
        }
        if self.rest_starts_with("(?(") {
            return self.conditional();
        }
        self.flag_group()
    }

    fn named_group(&mut self) -> Result<(), TranslateError> {
        let name = self.group_name(4, '>')?;
        // Numbered groups lose their names, so the engine can no longer refuse a duplicate.
        if self.options.numbered_groups
            && self
                .group_names
                .iter()
                .flatten()
                .any(|known| *known == name)
        {
            return Err(self.error(format!("redefinition of group name {name:?}")));
        }
        self.group_names.push(Some(name.clone()));
        if let Some((_, c)) = self.fixed.filter(|(fixed, _)| *fixed == name) {
            // The group's body is known to be one character here: write just that one.
            let body = crate::expand::group_len(self.rest())
                .ok_or_else(|| self.error("missing ), unterminated subpattern"))?;
            self.advance(self.rest()[..=body].chars().count());
            let mut text = String::from("(");
            push_literal(&mut text, c, false);
            text.push(')');
            self.emit(&text);
            return Ok(());
        }
        self.groups.push(GroupKind::Plain);
        let text = if self.options.numbered_groups {
            "(".to_string()
        } else {
            format!("(?P<{name}>")
        };
        self.emit(&text);
        Ok(())
    }

    fn named_backreference(&mut self, name: &str) -> Result<(), TranslateError> {
        if let Some((_, c)) = self.fixed.filter(|(fixed, _)| *fixed == name) {
            self.emit_literal(c);
            return Ok(());
        }
        match &self.backreference {
            None => self.backreference = Some(name.to_string()),
            Some(known) if known != name => self.several_backreferences = true,
            Some(_) => {}
        }
        self.need_backtracking(BacktrackFeature::BackReference);
        let exact = format!("\\k<{name}>");
        self.emit_split(&exact, "(?s:.*?)");
        Ok(())
    }

    /// The text from the cursor to the end of the pattern.
    pub(crate) fn rest(&self) -> &'p str {
        self.chars
            .get(self.index)
            .map_or("", |(offset, _)| &self.pattern[*offset..])
    }

    fn special_group(&mut self, prefix: &str, kind: Option<BacktrackFeature>) {
        match kind {
            None => {
                self.groups.push(GroupKind::Plain);
                self.emit(prefix);
            }
            Some(BacktrackFeature::LookAround) => {
                self.need_backtracking(BacktrackFeature::LookAround);
                // The relaxed form drops the assertion: always true, so a superset.
                self.emit_split(prefix, "(?:)");
                self.groups.push(GroupKind::LookAround);
                self.suppressed += 1;
            }
            Some(feature) => {
                self.need_backtracking(feature);
                self.emit_split(prefix, "(?:");
                self.groups.push(GroupKind::Plain);
            }
        }
    }

    /// Python `(?(name)yes|no)` → `(?(<name>)yes|no)`, the spelling PCRE2 and other Rust
    /// engines agree on (fancy-regex reads `(?(name)` as a test for the literal text "name").
    fn conditional(&mut self) -> Result<(), TranslateError> {
        let name = self.group_name(3, ')')?;
        self.need_backtracking(BacktrackFeature::Conditional);
        let exact = if name.chars().all(|c| c.is_ascii_digit()) {
            format!("(?({name})")
        } else {
            format!("(?(<{name}>)")
        };
        self.emit_split(&exact, "(?:");
        self.groups
            .push(GroupKind::Conditional { saw_branch: false });
        Ok(())
    }

    /// Reads a group name starting `skip` chars ahead, up to `end`; leaves the cursor after it.
    fn group_name(&mut self, skip: usize, end: char) -> Result<String, TranslateError> {
        self.advance(skip);
        let mut name = String::new();
        loop {
            match self.peek() {
                Some(c) if c == end => {
                    self.advance(1);
                    break;
                }
                Some(c) if c == '_' || c.is_alphanumeric() => {
                    name.push(c);
                    self.advance(1);
                }
                _ => return Err(self.error("bad character in group name")),
            }
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            if end == ')' && !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
                return Ok(name);
            }
            return Err(self.error(format!("bad group name {name:?}")));
        }
        Ok(name)
    }

    /// `(?flags)` (global in Python, wherever it stands) and `(?flags-flags:...)`.
    fn flag_group(&mut self) -> Result<(), TranslateError> {
        self.advance(2);
        let mut on = String::new();
        let mut off = String::new();
        let mut negative = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("missing -, : or )"));
            };
            self.advance(1);
            match c {
                'i' | 'm' | 's' | 'x' => {
                    if negative {
                        off.push(c)
                    } else {
                        on.push(c)
                    }
                }
                // Unicode is the default for str patterns in both engines; ASCII-only
                // classes are not reproduced (they only narrow \w, \d, \s).
                'u' | 'a' => {}
                'L' => {
                    return Err(
                        self.error("bad inline flag: cannot use 'L' flag with a str pattern")
                    );
                }
                '-' if !negative => negative = true,
                ':' => {
                    let text = if off.is_empty() {
                        format!("(?{on}:")
                    } else {
                        format!("(?{on}-{off}:")
                    };
                    let text = if on.is_empty() && off.is_empty() {
                        "(?:".to_string()
                    } else {
                        text
                    };
                    self.groups.push(GroupKind::Plain);
                    self.emit(&text);
                    return Ok(());
                }
                ')' if !negative => {
                    // Python < 3.11 applies a global flag to the whole pattern wherever it
                    // stands (3.11 refuses it mid-pattern); hoist it to the front.
                    for flag in on.chars() {
                        if !self.global_flags.contains(flag) {
                            self.global_flags.push(flag);
                        }
                    }
                    return Ok(());
                }
                _ => return Err(self.error(format!("unknown extension ?{c}"))),
            }
        }
    }

    fn close_group(&mut self) -> Result<(), TranslateError> {
        let Some(kind) = self.groups.pop() else {
            return Err(self.error("unbalanced parenthesis"));
        };
        self.advance(1);
        match kind {
            GroupKind::LookAround => {
                self.out.push(')');
                self.suppressed = self.suppressed.saturating_sub(1);
            }
            // Without a "no" branch the relaxed group must still allow the empty match.
            GroupKind::Conditional { saw_branch: false } => self.emit_split(")", "|)"),
            _ => self.emit(")"),
        }
        Ok(())
    }
}

enum ClassAtom {
    Char(char),
    Set(&'static str),
}

fn is_octal(c: char) -> bool {
    ('0'..='7').contains(&c)
}

fn octal_value(digits: &[char]) -> u32 {
    digits
        .iter()
        .fold(0, |value, d| value * 8 + d.to_digit(8).unwrap_or(0))
}

/// True when the pattern starts with a global flag group containing `x`.
fn leading_verbose_flag(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .is_some_and(|(flags, _)| {
            flags.contains('x') && flags.chars().all(|c| "aiLmsux".contains(c))
        })
}

/// Writes `c` so both engines read it as that literal character.
fn push_literal(out: &mut String, c: char, in_class: bool) {
    let needs_escape = if in_class {
        matches!(c, '[' | ']' | '\\' | '^' | '-' | '&' | '~')
    } else {
        regex_syntax_meta(c)
    };
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        let _ = write!(out, "\\x{{{:X}}}", c as u32);
    } else if needs_escape {
        out.push('\\');
        out.push(c);
    } else {
        out.push(c);
    }
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}
