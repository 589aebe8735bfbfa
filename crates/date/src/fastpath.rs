//! A hand-written matcher for the hottest default template, fail2ban's line-anchored syslog
//! date `{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?`
//! (`Nov 13 02:13:20 host ...`), which wins on nearly every syslog line.
//!
//! Why: the regex crate needs its capture engine (a bounded backtracker) to report the
//! groups, about a third of a microsecond per line; this walk over the bytes costs a few
//! nanoseconds. The regex stays the reference: the matcher is used only for a template whose
//! Python regex is exactly the known one, it tries the alternatives in the regex's own
//! priority order (leftmost-first, as Python's and the regex crate's backtracking define
//! it), and it answers "cannot tell" for anything it does not model (a line that does not
//! start with an ASCII letter, non-ASCII text near the start, a search not starting at 0),
//! so the caller falls back to the regex. `tests::agrees_with_regex_*` check both agree.

/// The template's Python regex, cut around its year group (which depends on the year).
const BEFORE_YEAR: &str = r"(?iu)^(?:\W{0,2})?((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])  ?(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: ";
const AFTER_YEAR: &str = r")?)(?=\b|\W|$)";
/// Python groups of the template (1: the date, then a, b, d, H, M, S, f, Y).
pub(crate) const GROUPS: usize = 9;
/// The longest match is `Mon Jan 01 00:00:00.000000 2026` (31 bytes); the boundary check
/// reads one more. Lines whose first bytes are ASCII are handled here.
const ASCII_WINDOW: usize = 40;

const WEEKDAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Spans by Python group number (index 0: the whole match).
pub(crate) type Spans = [Option<(usize, usize)>; GROUPS + 1];

/// The matcher, with the years the template's year group accepts.
#[derive(Debug, Clone)]
pub(crate) struct SyslogMatcher {
    /// Bit `y` set when the four digits of year `y` match the year group.
    years: Vec<u64>,
}

impl SyslogMatcher {
    /// The matcher for a template whose Python regex is `python_regex`, if it is the syslog
    /// template this module knows.
    pub(crate) fn recognize(python_regex: &str) -> Option<Self> {
        let year_group = python_regex
            .strip_prefix(BEFORE_YEAR)?
            .strip_suffix(AFTER_YEAR)?;
        let body = year_group.strip_prefix("(?P<Y>")?.strip_suffix(')')?;
        // The group is a small regex over four digits (`20[012]\d`): list what it accepts.
        let exact = regex::Regex::new(&format!(r"^(?:{body})\z")).ok()?;
        let mut years = vec![0u64; 10_000usize.div_ceil(64)];
        for year in 0..10_000usize {
            if exact.is_match(&format!("{year:04}")) {
                years[year / 64] |= 1 << (year % 64);
            }
        }
        Some(SyslogMatcher { years })
    }

    /// Python's `search(haystack, pos)`: `None` when this matcher cannot tell (the caller
    /// runs the regex), else the match's spans or no match.
    pub(crate) fn search(&self, haystack: &str, pos: usize) -> Option<Option<Spans>> {
        let bytes = haystack.as_bytes();
        let window = &bytes[..bytes.len().min(ASCII_WINDOW)];
        if pos != 0 || !window.is_ascii() {
            return None;
        }
        match bytes.first() {
            // A word character cannot be skipped by `\W{0,2}`: the date starts at 0 or not
            // at all (the only place `^` allows).
            Some(b) if b.is_ascii_alphabetic() => {}
            Some(b) if b.is_ascii_digit() || *b == b'_' => return Some(None),
            _ => return None,
        }
        let mut spans: Spans = [None; GROUPS + 1];
        if is_name(bytes, 0, &WEEKDAYS) && bytes.get(3) == Some(&b' ') {
            spans[2] = Some((0, 3));
            if let Some(end) = self.after_weekday(bytes, 4, &mut spans) {
                return Some(Some(finish(spans, end)));
            }
            spans[2] = None;
        }
        Some(
            self.after_weekday(bytes, 0, &mut spans)
                .map(|end| finish(spans, end)),
        )
    }

    /// `(?P<b>MON) (?P<d>…)  ?(?P<H>…):…` from `at`; the end of the match.
    fn after_weekday(&self, b: &[u8], at: usize, spans: &mut Spans) -> Option<usize> {
        if !is_name(b, at, &MONTHS) || b.get(at + 3) != Some(&b' ') {
            return None;
        }
        spans[3] = Some((at, at + 3));
        let day = at + 4;
        for day_end in day_ends(b, day).iter() {
            if b.get(day_end) != Some(&b' ') {
                continue;
            }
            spans[4] = Some((day, day_end));
            for hour in spaces(b, day_end).iter() {
                if let Some(end) = self.time(b, hour, spans) {
                    return Some(end);
                }
            }
        }
        None
    }

    /// `(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])` and what follows.
    fn time(&self, b: &[u8], hour: usize, spans: &mut Spans) -> Option<usize> {
        for hour_end in two_digits(b, hour, b'2').iter() {
            if b.get(hour_end) != Some(&b':') {
                continue;
            }
            let minute = hour_end + 1;
            for minute_end in two_digits(b, minute, b'5').iter() {
                if b.get(minute_end) != Some(&b':') {
                    continue;
                }
                let second = minute_end + 1;
                for second_end in seconds(b, second).iter() {
                    if let Some(end) = self.tail(b, second_end, spans) {
                        spans[5] = Some((hour, hour_end));
                        spans[6] = Some((minute, minute_end));
                        spans[7] = Some((second, second_end));
                        return Some(end);
                    }
                }
            }
        }
        None
    }

    /// `(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<Y>year))?(?=\b|\W|$)` from `at`.
    fn tail(&self, b: &[u8], at: usize, spans: &mut Spans) -> Option<usize> {
        let digits = if b.get(at) == Some(&b'.') {
            b[at + 1..]
                .iter()
                .take(6)
                .take_while(|c| c.is_ascii_digit())
                .count()
        } else {
            0
        };
        // Greedy: the most fraction digits first, then fewer, then no fraction at all.
        let fractions = (1..=digits)
            .rev()
            .map(|n| (Some((at + 1, at + 1 + n)), at + 1 + n))
            .chain(std::iter::once((None, at)));
        for (fraction, after) in fractions {
            if let Some(year) = self.year_at(b, after)
                && boundary(b, year.1)
            {
                spans[8] = fraction;
                spans[9] = Some(year);
                return Some(year.1);
            }
            if boundary(b, after) {
                spans[8] = fraction;
                spans[9] = None;
                return Some(after);
            }
        }
        None
    }

    /// The span of ` YYYY`'s digits at `at` when the year group accepts them.
    fn year_at(&self, b: &[u8], at: usize) -> Option<(usize, usize)> {
        if b.get(at) != Some(&b' ') {
            return None;
        }
        let digits = b.get(at + 1..at + 5)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let year = digits
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        let accepted = self.years[year / 64] & (1 << (year % 64)) != 0;
        accepted.then_some((at + 1, at + 5))
    }
}

/// Whole match and group 1 (both start at 0: nothing was skipped before the date).
fn finish(mut spans: Spans, end: usize) -> Spans {
    spans[0] = Some((0, end));
    spans[1] = Some((0, end));
    spans
}

/// `(?=\b|\W|$)` after a digit: the end, or a character that is not a word character.
fn boundary(b: &[u8], at: usize) -> bool {
    b.get(at)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
}

/// A three-letter name from `names` at `at`, ignoring ASCII case.
fn is_name(b: &[u8], at: usize, names: &[&[u8; 3]]) -> bool {
    b.get(at..at + 3)
        .is_some_and(|text| names.iter().any(|name| text.eq_ignore_ascii_case(*name)))
}

/// Candidate end positions in priority order (at most 3).
#[derive(Default)]
struct Ends {
    ends: [usize; 3],
    len: usize,
}

impl Ends {
    fn push(&mut self, end: usize) {
        if self.len < self.ends.len() {
            self.ends[self.len] = end;
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.ends[..self.len].iter().copied()
    }
}

fn byte_in(b: &[u8], at: usize, low: u8, high: u8) -> bool {
    b.get(at).is_some_and(|c| (low..=high).contains(c))
}

/// `(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`.
fn day_ends(b: &[u8], at: usize) -> Ends {
    let mut ends = Ends::default();
    if byte_in(b, at, b'1', b'2') && byte_in(b, at + 1, b'0', b'9') {
        ends.push(at + 2);
    }
    if matches!(b.get(at), Some(b'0' | b' ')) && byte_in(b, at + 1, b'1', b'9') {
        ends.push(at + 2);
    }
    if byte_in(b, at, b'1', b'9') {
        ends.push(at + 1);
    }
    if b.get(at) == Some(&b'3') && byte_in(b, at + 1, b'0', b'1') {
        ends.push(at + 2);
    }
    ends
}

/// `  ?` after the day: where the hour starts.
fn spaces(b: &[u8], at: usize) -> Ends {
    let mut ends = Ends::default();
    if b.get(at + 1) == Some(&b' ') {
        ends.push(at + 2);
    }
    ends.push(at + 1);
    ends
}

/// `[0-<high>]?\d`.
fn two_digits(b: &[u8], at: usize, high: u8) -> Ends {
    let mut ends = Ends::default();
    if byte_in(b, at, b'0', high) && byte_in(b, at + 1, b'0', b'9') {
        ends.push(at + 2);
    }
    if byte_in(b, at, b'0', b'9') {
        ends.push(at + 1);
    }
    ends
}

/// `[0-5]?\d|6[0-1]`.
fn seconds(b: &[u8], at: usize) -> Ends {
    let mut ends = two_digits(b, at, b'5');
    if b.get(at) == Some(&b'6') && byte_in(b, at + 1, b'0', b'1') {
        ends.push(at + 2);
    }
    ends
}

#[cfg(test)]
mod tests;
