//! Date templates (`server/datetemplate.py`): how fail2ban turns a `datepattern` into a
//! named, bounded regex, and how a match becomes a Unix time.

use crate::fastpath::{self, SyslogMatcher};
use crate::strptime::{self, Conversion, Field, FieldValues, TimeCache};
use crate::{TemplateError, TimeContext};
use ferroban_pyre::{BOUNDARY, Options};
use regex::{CaptureLocations, Regex};
use std::sync::{LazyLock, OnceLock};

pub(crate) const LINE_BEGIN: u8 = 8;
pub(crate) const LINE_END: u8 = 4;
pub(crate) const WORD_BEGIN: u8 = 2;
pub(crate) const WORD_END: u8 = 1;

/// fail2ban's `wordBegin` argument: `True`, `'start'` or `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    Word,
    Line,
    Free,
}

/// How the matched text becomes a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    Strptime,
    /// Seconds since the epoch in this group; `long` also takes milli/microseconds.
    Epoch {
        group: usize,
        long: bool,
    },
    Tai64n,
}

/// A compiled template: shared, immutable.
#[derive(Debug)]
pub(crate) struct Template {
    pub(crate) name: String,
    pub(crate) pattern: Option<String>,
    /// The regex as fail2ban writes it (for reports).
    pub(crate) python_regex: String,
    pub(crate) flags: u8,
    pub(crate) weight: f64,
    pub(crate) value: Value,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    Regex(Compiled),
    /// fail2ban's unanchored `Epoch`: its look-behinds (`^\[`, `\baudit\(`) are searched by
    /// hand; this regex (compiled on first use) checks the digits at a candidate position.
    EpochSearch(LazyRegex),
}

/// A regex whose syntax is checked when the template is built and whose automata are built
/// on first use: the Unicode one, and for ASCII lines the same with Unicode off (see
/// `ascii_regex`).
#[derive(Debug)]
struct LazyRegex {
    source: String,
    regex: OnceLock<Option<Regex>>,
    ascii: OnceLock<Option<regex::bytes::Regex>>,
}

impl LazyRegex {
    fn new(source: String) -> Result<Self, TemplateError> {
        regex_syntax::Parser::new()
            .parse(&source)
            .map_err(Box::new)?;
        Ok(LazyRegex {
            source,
            regex: OnceLock::new(),
            ascii: OnceLock::new(),
        })
    }

    /// The Unicode regex; None only if it exceeds the engine's limits (then nothing matches).
    fn unicode(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| Regex::new(&self.source).ok())
            .as_ref()
    }

    /// The ASCII regex; None when the pattern needs Unicode mode.
    fn ascii(&self) -> Option<&regex::bytes::Regex> {
        self.ascii
            .get_or_init(|| ascii_regex(&self.source))
            .as_ref()
    }

    /// End of the leftmost match in `haystack`; none also when the regex exceeds the
    /// engine's limits.
    fn find_end(&self, haystack: &str) -> Option<usize> {
        if haystack.is_ascii()
            && let Some(ascii) = self.ascii()
        {
            return ascii.find(haystack.as_bytes()).map(|m| m.end());
        }
        self.unicode()?.find(haystack).map(|m| m.end())
    }
}

/// The regex with Unicode off, for ASCII text: there it matches exactly what the Unicode
/// regex matches, with the same groups (`\d`, `\w`, `\s`, `\b` and `(?i)` differ only on
/// other characters), and its automaton is a fraction of the size. None when the pattern
/// needs Unicode mode.
fn ascii_regex(source: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(source)
        .unicode(false)
        .build()
        .ok()
}

#[derive(Debug)]
struct Compiled {
    /// The translated regex, compiled on first use: a detector holds some forty default
    /// templates and a log needs one or two of them (the syslog one mostly answers with
    /// its fast matcher).
    regex: LazyRegex,
    /// A hand-written matcher with the same result as `regex`, when the template is the
    /// syslog one it models (see `fastpath`).
    fast: Option<SyslogMatcher>,
    /// Python groups per variant (see `ferroban_pyre::Translated::variants`).
    groups: usize,
    variants: usize,
    fields: Vec<Option<Field>>,
}

/// Per-detector scratch space for a template's matches.
#[derive(Debug, Clone)]
pub(crate) struct MatchState {
    locations: Option<CaptureLocations>,
    ascii_locations: Option<regex::bytes::CaptureLocations>,
    /// The last regex match came from the ASCII program.
    ascii: bool,
    /// Spans by Python group when the fast matcher answered the last search.
    fast: Option<fastpath::Spans>,
    epoch: (usize, usize),
}

const EPOCH_RE: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LONG_EPOCH_RE: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

impl MatchState {
    /// The last search was answered by the fast matcher.
    pub(crate) fn is_fast(&self) -> bool {
        self.fast.is_some()
    }
}

impl Template {
    /// A fresh match state for this template (capture slots come with the first search
    /// that needs the regex).
    pub(crate) fn new_state(&self) -> MatchState {
        MatchState {
            locations: None,
            ascii_locations: None,
            ascii: false,
            fast: None,
            epoch: (0, 0),
        }
    }

    /// Python's `regex.search(line, pos, endpos)` (byte offsets): the whole match's span.
    pub(crate) fn search(
        &self,
        line: &str,
        pos: usize,
        endpos: usize,
        state: &mut MatchState,
    ) -> Option<(usize, usize)> {
        let endpos = floor_char_boundary(line, endpos.min(line.len()));
        if pos > endpos || !line.is_char_boundary(pos) {
            return None;
        }
        let haystack = &line[..endpos];
        state.fast = None;
        match &self.matcher {
            Matcher::Regex(compiled) => {
                if let Some(answer) = compiled.fast.as_ref().and_then(|m| m.search(haystack, pos)) {
                    state.fast = answer;
                    return answer.and_then(|spans| spans[0]);
                }
                state.ascii = haystack.is_ascii();
                if state.ascii
                    && let Some(regex) = compiled.regex.ascii()
                {
                    let locations = state
                        .ascii_locations
                        .get_or_insert_with(|| regex.capture_locations());
                    return regex
                        .captures_read_at(locations, haystack.as_bytes(), pos)
                        .map(|m| (m.start(), m.end()));
                }
                state.ascii = false;
                let regex = compiled.regex.unicode()?;
                let locations = state
                    .locations
                    .get_or_insert_with(|| regex.capture_locations());
                regex
                    .captures_read_at(locations, haystack, pos)
                    .map(|m| (m.start(), m.end()))
            }
            Matcher::EpochSearch(digits) => {
                let span = search_epoch(digits, haystack, pos)?;
                state.epoch = span;
                Some(span)
            }
        }
    }

    /// Span of Python group `group` (1-based) of the last match.
    pub(crate) fn group(&self, group: usize, state: &MatchState) -> Option<(usize, usize)> {
        match &self.matcher {
            Matcher::Regex(compiled) => {
                if group == 0 || group > compiled.groups {
                    return None;
                }
                if let Some(spans) = &state.fast {
                    return spans.get(group).copied().flatten();
                }
                let slot = |variant: usize| 1 + variant * compiled.groups + group - 1;
                if state.ascii {
                    let locations = state.ascii_locations.as_ref()?;
                    return (0..compiled.variants).find_map(|v| locations.get(slot(v)));
                }
                let locations = state.locations.as_ref()?;
                (0..compiled.variants).find_map(|v| locations.get(slot(v)))
            }
            Matcher::EpochSearch(_) => (group == 1).then_some(state.epoch),
        }
    }

    /// fail2ban's `getDate` for the last match.
    pub(crate) fn convert(
        &self,
        line: &str,
        state: &MatchState,
        default_tz: Option<i32>,
        ctx: &TimeContext,
        cache: &mut TimeCache,
    ) -> Conversion {
        match self.value {
            Value::Strptime => self.convert_fields(line, state, default_tz, ctx, cache),
            Value::Epoch { group, long } => match self.group(group, state) {
                Some((start, end)) => epoch_value(&line[start..end], long),
                None => Conversion::Error,
            },
            Value::Tai64n => match self.group(1, state) {
                Some((start, end)) => tai64n_value(&line[start..end]),
                None => Conversion::Error,
            },
        }
    }

    fn convert_fields(
        &self,
        line: &str,
        state: &MatchState,
        default_tz: Option<i32>,
        ctx: &TimeContext,
        cache: &mut TimeCache,
    ) -> Conversion {
        let Matcher::Regex(compiled) = &self.matcher else {
            return Conversion::Error;
        };
        // At most one group per field letter exists, so this never fills up.
        let mut values: [(Field, Option<&str>); 24] = [(Field::AmPm, None); 24];
        let mut count = 0;
        for (index, field) in compiled.fields.iter().enumerate() {
            if let (Some(field), true) = (field, count < values.len()) {
                let text = self
                    .group(index + 1, state)
                    .map(|(start, end)| &line[start..end]);
                values[count] = (*field, text);
                count += 1;
            }
        }
        strptime::convert(
            &FieldValues {
                values: &values[..count],
            },
            default_tz,
            ctx,
            cache,
        )
    }
}

fn floor_char_boundary(line: &str, mut index: usize) -> usize {
    while !line.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// fail2ban's `((?:^|(?<=^\[)|(?<=\baudit\())EPOCH)`: candidates are the line start, just
/// after a leading `[`, and after each `audit(` that starts a word.
fn search_epoch(digits: &LazyRegex, haystack: &str, pos: usize) -> Option<(usize, usize)> {
    let try_at = |start: usize| {
        // The digit regex is anchored and checks the word end itself.
        digits
            .find_end(&haystack[start..])
            .map(|end| (start, start + end))
    };
    if pos == 0
        && let Some(span) = try_at(0)
    {
        return Some(span);
    }
    if pos <= 1
        && haystack.starts_with('[')
        && let Some(span) = try_at(1)
    {
        return Some(span);
    }
    let finder = memchr::memmem::Finder::new("audit(");
    let mut from = pos.saturating_sub(6);
    while let Some(found) = finder.find(&haystack.as_bytes()[from..]) {
        let at = from + found;
        let start = at + 6;
        let word_start = haystack[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        if start >= pos
            && word_start
            && let Some(span) = try_at(start)
        {
            return Some(span);
        }
        from = at + 1;
    }
    None
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn epoch_value(text: &str, long: bool) -> Conversion {
    let Ok(mut value) = text.parse::<f64>() else {
        return Conversion::Invalid;
    };
    if long && text.len() >= 13 {
        value /= if text.len() >= 16 && !text.contains('.') {
            1_000_000.0
        } else {
            1000.0
        };
    }
    Conversion::Time(value)
}

fn tai64n_value(text: &str) -> Conversion {
    match text.get(2..17).map(|hex| i64::from_str_radix(hex, 16)) {
        Some(Ok(seconds)) => Conversion::Time(seconds as f64),
        _ => Conversion::Invalid,
    }
}

/// Builds templates with the current century's `%ExY`.
pub(crate) struct Builder {
    year_regex: String,
}

/// A template that could not be built, with fail2ban's reason.
pub(crate) type BuildResult = Result<Template, TemplateError>;

impl Builder {
    pub(crate) fn new(current_year: i64) -> Self {
        Builder {
            year_regex: strptime::year_regex(current_year),
        }
    }

    /// fail2ban's `_getPatternTemplate`: `EPOCH`, `LEPOCH`, `{EPOCH}` patterns, `TAI64N`, or
    /// a strptime pattern. `key` is the pattern, upper-cased when it has no `%`.
    pub(crate) fn pattern_template(&self, pattern: &str) -> BuildResult {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        if key.contains("EPOCH") {
            if let Some(template) = epoch_pattern(pattern, key.contains("LEPOCH")) {
                return template;
            }
            match key.as_str() {
                "EPOCH" | "{^LN-BEG}EPOCH" | "^EPOCH" => {
                    return epoch_template(key != "EPOCH", false);
                }
                "LEPOCH" | "{^LN-BEG}LEPOCH" | "^LEPOCH" => {
                    return epoch_template(key != "LEPOCH", true);
                }
                _ => {}
            }
        }
        match key.as_str() {
            "TAI64N" | "{^LN-BEG}TAI64N" | "^TAI64N" => {
                let begin = if key == "TAI64N" {
                    Begin::Free
                } else {
                    Begin::Line
                };
                let mut name = "TAI64N".to_string();
                let (regex, flags) = set_regex(&mut name, "@[0-9a-f]{24}", begin, true);
                build(name, None, regex, flags, Value::Tai64n)
            }
            _ => self.strptime_template(pattern, Begin::Word, true),
        }
    }

    /// fail2ban's `DatePatternRegex(pattern)`.
    pub(crate) fn strptime_template(
        &self,
        pattern: &str,
        mut begin: Begin,
        mut end: bool,
    ) -> BuildResult {
        let original = pattern;
        let mut pattern = pattern;
        if let Some(rest) = pattern.strip_prefix("{UNB}") {
            pattern = rest;
            begin = Begin::Free;
            end = false;
        }
        if begin != Begin::Free
            && let Some(rest) = pattern.strip_prefix("{^LN-BEG}")
        {
            pattern = rest;
            begin = Begin::Line;
        }
        let (mut name, mut regex) = self.expand_directives(pattern)?;
        if has_alpha_directive(pattern) {
            regex.insert_str(0, "(?iu)");
        }
        let (regex, flags) = set_regex(&mut name, &regex, begin, end);
        build(
            name,
            Some(original.to_string()),
            regex,
            flags,
            Value::Strptime,
        )
    }

    /// Replaces `%X` directives by their name and by their regex.
    fn expand_directives(&self, pattern: &str) -> Result<(String, String), TemplateError> {
        let (mut name, mut regex) = (String::new(), String::new());
        let mut rest = pattern;
        while let Some(percent) = rest.find('%') {
            name.push_str(&rest[..percent]);
            regex.push_str(&rest[..percent]);
            let after = &rest[percent + 1..];
            let Some((len, directive_regex, directive_name)) =
                strptime::directive(after, &self.year_regex)
            else {
                return Err(TemplateError::BadDirective(pattern.to_owned()));
            };
            name.push_str(directive_name);
            regex.push_str(&directive_regex);
            rest = &after[len..];
        }
        name.push_str(rest);
        regex.push_str(rest);
        Ok((name, regex))
    }
}

/// `RE_ALPHA_PATTERN`: `%a %A %b %B %p %c` not preceded by `%` make the regex ignore case.
fn has_alpha_directive(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    (0..bytes.len().saturating_sub(1)).any(|i| {
        bytes[i] == b'%' && b"aAbBpc".contains(&bytes[i + 1]) && (i == 0 || bytes[i - 1] != b'%')
    })
}

/// `DateEpoch(pattern=...)` for patterns holding `{EPOCH}` or `{LEPOCH}`.
fn epoch_pattern(pattern: &str, long: bool) -> Option<BuildResult> {
    static PLACEHOLDER: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)\{L?EPOCH\}").ok());
    let placeholder = PLACEHOLDER.as_ref()?;
    let escaped =
        |m: &regex::Match<'_>| m.start() > 0 && pattern.as_bytes()[m.start() - 1] == b'\\';
    placeholder.find_iter(pattern).find(|m| !escaped(m))?;
    let epoch_re = if long { LONG_EPOCH_RE } else { EPOCH_RE };
    let mut regex = String::from("(");
    let mut last = 0;
    for m in placeholder.find_iter(pattern).filter(|m| !escaped(m)) {
        regex.push_str(&pattern[last..m.start()]);
        regex.push_str(&format!("({epoch_re})"));
        last = m.end();
    }
    regex.push_str(&pattern[last..]);
    regex.push(')');
    let mut name = pattern.to_string();
    let (regex, flags) = set_regex(&mut name, &regex, Begin::Word, true);
    Some(build(
        name,
        None,
        regex,
        flags,
        Value::Epoch { group: 2, long },
    ))
}

/// `DateEpoch(lineBeginOnly, longFrm)`; their look-behinds and conditionals are rewritten by
/// hand (the conditionals never reject anything: each has an always-true alternative).
fn epoch_template(line_begin_only: bool, long: bool) -> BuildResult {
    let epoch_re = if long { LONG_EPOCH_RE } else { EPOCH_RE };
    let base = if long { "LongEpoch" } else { "Epoch" };
    let digits = epoch_re.replace(r"\d", "[0-9]");
    let value = Value::Epoch { group: 1, long };
    if line_begin_only {
        let python = format!(
            r"^(?:\W{{0,2}})?((?P<square>(?<=^\[))?{epoch_re})(?(square)(?=\]))(?=\b|\W|$)"
        );
        let rust = format!(r"^(?:\W{{0,2}})?({digits}){BOUNDARY}");
        let compiled = Compiled {
            regex: LazyRegex::new(rust)?,
            fast: None,
            groups: 1,
            variants: 1,
            fields: vec![None],
        };
        return Ok(Template {
            name: format!("{{^LN-BEG}}{base}"),
            pattern: None,
            python_regex: python,
            flags: LINE_BEGIN | WORD_END,
            weight: 1.0,
            value,
            matcher: Matcher::Regex(compiled),
        });
    }
    let python = r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))%s)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))(?=\b|\W|$)"
        .replace("%s", epoch_re);
    let regex = LazyRegex::new(format!("^(?:{digits}){BOUNDARY}"))?;
    Ok(Template {
        name: base.to_string(),
        pattern: None,
        python_regex: python,
        flags: WORD_END,
        weight: 1.0,
        value,
        matcher: Matcher::EpochSearch(regex),
    })
}

fn build(
    name: String,
    pattern: Option<String>,
    python_regex: String,
    flags: u8,
    value: Value,
) -> BuildResult {
    let translated = ferroban_pyre::translate(&python_regex, Options::date())?;
    if let Some(feature) = translated.backtracking {
        return Err(TemplateError::Backtracking(feature));
    }
    // The syntax is checked now (a bad `datepattern` is a configuration error); the
    // automaton is built on first use.
    let regex = LazyRegex::new(translated.pattern.clone())?;
    let fields = translated
        .group_names
        .iter()
        .map(|name| name.as_deref().and_then(Field::from_group_name))
        .collect();
    // The fast matcher numbers groups as the syslog template does: check the names agree.
    let syslog_groups = ["a", "b", "d", "H", "M", "S", "f", "Y"];
    let fast = SyslogMatcher::recognize(&python_regex).filter(|_| {
        translated.variants == 1
            && translated.group_names.len() == fastpath::GROUPS
            && translated.group_names[0].is_none()
            && translated.group_names[1..]
                .iter()
                .zip(syslog_groups)
                .all(|(name, expected)| name.as_deref() == Some(expected))
    });
    let compiled = Compiled {
        regex,
        fast,
        groups: translated.group_names.len(),
        variants: translated.variants,
        fields,
    };
    Ok(Template {
        name,
        pattern,
        python_regex,
        flags,
        weight: 1.0,
        value,
        matcher: Matcher::Regex(compiled),
    })
}

/// fail2ban's `DateTemplate.setRegex`: adds word or line boundaries unless the regex already
/// has them (or opts out with `**`), makes sure there is a group 1, and computes the flags.
pub(crate) fn set_regex(
    name: &mut String,
    regex: &str,
    begin: Begin,
    word_end: bool,
) -> (String, u8) {
    let mut regex = regex.trim().to_string();
    let global_flags = take_global_flags(&mut regex);
    let bound_begin = begin != Begin::Free && !no_word_bound_begin(&regex);
    let bound_end = word_end && !no_word_bound_end(&regex);
    if !is_grouped(&regex) {
        regex = wrap_group(&regex);
    }
    let mut flags = 0;
    if bound_begin {
        if begin == Begin::Word {
            flags |= WORD_BEGIN;
            regex.insert_str(0, r"(?=^|\b|\W)");
        } else {
            flags |= LINE_BEGIN;
            regex.insert_str(0, r"^(?:\W{0,2})?");
            if !name.starts_with("{^LN-BEG}") {
                name.insert_str(0, "{^LN-BEG}");
            }
        }
    }
    if bound_end {
        flags |= WORD_END;
        regex.push_str(r"(?=\b|\W|$)");
    }
    if flags & LINE_BEGIN == 0 && line_bound_begin(&regex) {
        flags |= LINE_BEGIN;
    }
    if line_bound_end(&regex) {
        flags |= LINE_END;
    }
    let mut regex = delete_word_bound_markers(&regex);
    if let Some(global_flags) = global_flags {
        regex.insert_str(0, &global_flags);
    }
    (regex, flags)
}

/// `RE_GLOBALFLAGS`: the first `(?letters)` anywhere, removed and returned.
fn take_global_flags(regex: &mut String) -> Option<String> {
    let bytes = regex.as_bytes();
    let found = (0..bytes.len()).find_map(|i| {
        let letters = bytes[i..]
            .strip_prefix(b"(?")?
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        (letters > 0 && bytes.get(i + 2 + letters) == Some(&b')')).then_some((i, letters + 3))
    })?;
    let flags = regex[found.0..found.0 + found.1].to_string();
    regex.replace_range(found.0..found.0 + found.1, "");
    Some(flags)
}

// These read the text of a date regex. Inline flags are ASCII letters, so `\w` is ASCII
// here: Unicode's word class would make each of them a 60 KiB program, kept for good.
static NO_WORD_BOUND_BEGIN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\(*(?:\(\?(?-u:\w)+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)").ok());
static LEADING_MARKER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\(*(?:\(\?(?-u:\w)+\))?\(*\*\*").ok());
static GROUP_WRAP: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^((?:\(\?(?-u:\w)+\))?\^?(?:\(\?(?-u:\w)+\))?)(.*?)(\$?)$").ok());

fn no_word_bound_begin(regex: &str) -> bool {
    NO_WORD_BOUND_BEGIN
        .as_ref()
        .is_some_and(|re| re.is_match(regex))
}

fn preceded_by(regex: &str, suffix_len: usize, chars: &[u8]) -> bool {
    let bytes = regex.as_bytes();
    bytes.len() > suffix_len && chars.contains(&bytes[bytes.len() - suffix_len - 1])
}

/// `RE_NO_WRD_BOUND_END`: ends with `$`, `$)`, `\b`, `\s` or `**` (+ `)`s), not escaped.
fn no_word_bound_end(regex: &str) -> bool {
    let trimmed = regex.trim_end_matches(')');
    let marker = trimmed.ends_with("**") && !preceded_by(trimmed, 2, b"\\");
    let suffix = ["$)", "$", r"\b", r"\s"]
        .iter()
        .any(|s| regex.ends_with(s) && !preceded_by(regex, s.len(), b"\\"));
    marker || suffix
}

/// `RE_GROUPED`: a `(` that is not escaped, not `(?` and not right after `(?`.
fn is_grouped(regex: &str) -> bool {
    let bytes = regex.as_bytes();
    (0..bytes.len()).any(|i| {
        bytes[i] == b'('
            && bytes.get(i + 1) != Some(&b'?')
            && (i == 0 || bytes[i - 1] != b'\\')
            && !(i >= 2 && &bytes[i - 2..i] == b"(?")
    })
}

/// `RE_GROUP`: wraps everything but leading flags/`^` and a trailing `$` in a group.
fn wrap_group(regex: &str) -> String {
    let Some(caps) = GROUP_WRAP.as_ref().and_then(|re| re.captures(regex)) else {
        return regex.to_string();
    };
    let part = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    format!("{}({}){}", part(1), part(2), part(3))
}

/// `RE_LINE_BOUND_BEG`: starts (after optional flags) with `^`, `(^` or `(?:^` (not `(^|`).
fn line_bound_begin(regex: &str) -> bool {
    let starts = |s: &str| {
        s.starts_with('^')
            || ["(^", "(?:^"]
                .iter()
                .any(|p| s.starts_with(p) && s.as_bytes().get(p.len()) != Some(&b'|'))
    };
    if starts(regex) {
        return true;
    }
    let flags_len = regex
        .strip_prefix("(?")
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .map(char::len_utf8)
                .sum::<usize>()
        })
        .filter(|&n| n > 0 && regex.as_bytes().get(2 + n) == Some(&b')'));
    flags_len.is_some_and(|n| starts(&regex[3 + n..]))
}

/// `RE_LINE_BOUND_END`: ends with `$` or `$)`, the `$` not after `\` or `|`.
fn line_bound_end(regex: &str) -> bool {
    ["$)", "$"]
        .iter()
        .any(|s| regex.ends_with(s) && !preceded_by(regex, s.len(), b"\\|"))
}

/// `RE_DEL_WRD_BOUNDS`: drops the `**` markers at the start and end.
fn delete_word_bound_markers(regex: &str) -> String {
    let mut out = regex.to_string();
    if let Some(m) = LEADING_MARKER.as_ref().and_then(|re| re.find(&out)) {
        let replaced = m.as_str().replace("**", "");
        out.replace_range(m.range(), &replaced);
    }
    let trimmed_len = out.trim_end_matches(')').len();
    let tail_is_marker =
        out[..trimmed_len].ends_with("**") && !preceded_by(&out[..trimmed_len], 2, b"\\");
    if tail_is_marker && trimmed_len >= 2 {
        out.replace_range(trimmed_len - 2..trimmed_len, "");
    }
    out
}

/// fail2ban's `DateTemplate.unboundPattern`.
pub(crate) fn unbound_pattern(pattern: &str) -> &str {
    let pattern = pattern.strip_prefix("{UNB}").unwrap_or(pattern);
    let pattern = pattern.strip_prefix("{^LN-BEG}").unwrap_or(pattern);
    let pattern = [r"(^|\b|\W)", r"(?:^|\b|\W)"]
        .iter()
        .find_map(|p| pattern.strip_prefix(p))
        .unwrap_or(pattern);
    pattern.strip_suffix(r"(?=\b|\W|$)").unwrap_or(pattern)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn builder() -> Builder {
        Builder::new(2026)
    }

    #[test]
    fn default_syslog_template_matches_fail2ban() {
        let t = builder()
            .pattern_template(r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?")
            .unwrap();
        assert_eq!(
            t.name,
            r"(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"
        );
        assert_eq!(
            t.python_regex,
            r"(?iu)(?=^|\b|\W)((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])  ?(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<Y>20[012]\d))?)(?=\b|\W|$)"
        );
        assert_eq!(t.flags, WORD_BEGIN | WORD_END);
    }

    #[test]
    fn anchored_syslog_template_gets_the_fast_matcher() {
        let t = builder()
            .pattern_template(r"{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?")
            .unwrap();
        let Matcher::Regex(compiled) = &t.matcher else {
            panic!("regex template expected");
        };
        assert!(compiled.fast.is_some(), "{}", t.python_regex);
        let mut state = t.new_state();
        let line = "Nov  3 02:13:20 gw sshd[1]: x";
        assert_eq!(t.search(line, 0, line.len(), &mut state), Some((0, 15)));
        assert_eq!(t.group(4, &state), Some((4, 6)));
        // Unanchored templates keep the regex.
        let t = builder()
            .pattern_template(r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?")
            .unwrap();
        let Matcher::Regex(compiled) = &t.matcher else {
            panic!("regex template expected");
        };
        assert!(compiled.fast.is_none());
    }

    #[test]
    fn line_begin_and_markers_follow_fail2ban() {
        let t = builder().pattern_template(r"{^LN-BEG}%H:%M:%S").unwrap();
        assert_eq!(t.name, "{^LN-BEG}24hour:Minute:Second");
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        let t = builder().pattern_template(r"^I\(()**").unwrap();
        assert_eq!(t.python_regex, r"^I\(()");
        assert_eq!(t.flags, LINE_BEGIN);
        let t = builder().pattern_template("{NONE}").unwrap();
        assert_eq!(t.python_regex, "(?=^|\\b|\\W)({NONE})(?=\\b|\\W|$)");
        let t = builder()
            .strptime_template("{UNB}^", Begin::Word, true)
            .unwrap();
        assert_eq!(
            (t.name.as_str(), t.python_regex.as_str(), t.flags),
            ("^", "^()", LINE_BEGIN)
        );
    }

    #[test]
    fn epoch_and_tai64n_templates() {
        let t = builder().pattern_template("EPOCH").unwrap();
        assert_eq!((t.name.as_str(), t.flags), ("Epoch", WORD_END));
        let t = builder().pattern_template("{^LN-BEG}TAI64N").unwrap();
        assert_eq!(t.name, "{^LN-BEG}TAI64N");
        assert_eq!(t.python_regex, r"^(?:\W{0,2})?(@[0-9a-f]{24})(?=\b|\W|$)");
        let t = builder().pattern_template(r"^\[{LEPOCH}\]").unwrap();
        assert_eq!(
            t.value,
            Value::Epoch {
                group: 2,
                long: true
            }
        );
    }

    #[test]
    fn bad_directive_is_an_error() {
        assert!(builder().pattern_template("%Q").is_err());
        assert!(builder().pattern_template("%").is_err());
        assert!(builder().pattern_template("%s").is_err());
    }

    #[test]
    fn unbound_pattern_strips_fail2ban_bounds() {
        assert_eq!(unbound_pattern("{^LN-BEG}%H"), "%H");
        assert_eq!(unbound_pattern(r"(?:^|\b|\W)x(?=\b|\W|$)"), "x");
    }
}
