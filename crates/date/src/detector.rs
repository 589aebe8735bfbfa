//! The detector (`server/datedetector.py`): which templates a `datepattern` stands for, and
//! fail2ban's search over them — last template first, distance checks, hit counting and the
//! "bubble up" reordering — reproduced step by step because they decide which date wins.

use crate::strptime::{self, Conversion, TimeCache, ZoneError, same_zone};
use crate::template::{self, Builder, LINE_BEGIN, LINE_END, MatchState, Template};
use crate::{
    DateError, DateFound, DateMatch, DateOutcome, TemplateError, TemplateStats, TimeContext,
};
use std::sync::{Arc, LazyLock};

/// fail2ban's default templates (`DateDetectorCache.DEFAULT_TEMPLATES`).
const DEFAULT_PATTERNS: [&str; 17] = [
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    r"EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"TAI64N",
];

/// The default templates, built once per process like fail2ban's template cache.
struct Defaults {
    builder: Builder,
    /// `DEFAULT_TEMPLATES` as built (unanchored originals), for `{DATE}`.
    originals: Vec<Arc<Template>>,
    /// The detector's default list: line-begin anchored copies (weight 100) then originals.
    ordered: Vec<Arc<Template>>,
}

static DEFAULTS: LazyLock<Result<Defaults, TemplateError>> = LazyLock::new(build_defaults);

fn current_year() -> i64 {
    i64::from(
        jiff::tz::TimeZone::system()
            .to_datetime(jiff::Timestamp::now())
            .year(),
    )
}

fn build_defaults() -> Result<Defaults, TemplateError> {
    let builder = Builder::new(current_year());
    let mut originals = Vec::new();
    let mut anchored = Vec::new();
    for pattern in DEFAULT_PATTERNS {
        let template = builder.pattern_template(pattern)?;
        if !template.name.starts_with("{^LN-BEG}") && !template.name.starts_with('^') {
            let wrapped = match &template.pattern {
                Some(pattern) => format!("{{^LN-BEG}}{pattern}"),
                None => format!("{{^LN-BEG}}{}", template.name),
            };
            let mut copy = builder.pattern_template(&wrapped)?;
            if copy.name != template.name {
                copy.weight = 100.0;
                anchored.push(Arc::new(copy));
            }
        }
        originals.push(Arc::new(template));
    }
    let ordered = anchored.iter().chain(&originals).cloned().collect();
    Ok(Defaults {
        builder,
        originals,
        ordered,
    })
}

fn defaults() -> Result<&'static Defaults, DateError> {
    DEFAULTS
        .as_ref()
        .map_err(|reason| DateError::InvalidPattern {
            pattern: "(default templates)".into(),
            reason: reason.clone(),
        })
}

/// A template in this detector with its usage (fail2ban's `DateDetectorTemplate`).
#[derive(Debug, Clone)]
struct Slot {
    template: Arc<Template>,
    state: MatchState,
    /// Lines this template won.
    hits: u64,
    /// Wall-clock time of the last win (fail2ban uses `time.time()`, not the log's time).
    last_used: f64,
    /// Character offset of the last win.
    distance: usize,
    /// Successful regex searches (fail2ban counts these on the shared template object).
    regex_hits: u64,
}

impl Slot {
    fn new(template: Arc<Template>) -> Self {
        let state = template.new_state();
        Slot {
            template,
            state,
            hits: 0,
            last_used: 0.0,
            distance: 0x7fff_ffff,
            regex_hits: 0,
        }
    }

    fn weight(&self) -> f64 {
        self.hits as f64 * self.template.weight / self.distance.max(1) as f64
    }
}

/// A position of the last match with the characters around it (`__lastPos`/`__lastEndPos`).
#[derive(Debug, Clone, Copy)]
struct Edge {
    index: usize,
    before: Option<char>,
    at: Option<char>,
}

/// A match found during the search: slot, byte span, character span, search end.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    slot: usize,
    start: usize,
    end: usize,
    distance: usize,
    end_index: usize,
    search_end: usize,
}

/// Finds dates in lines, as fail2ban's `DateDetector` does.
#[derive(Debug, Clone)]
pub struct DateDetector {
    slots: Vec<Slot>,
    last_pos: Edge,
    last_end: Edge,
    last_index: usize,
    first_unused: usize,
    default_tz: Option<i32>,
    none: bool,
    cache: TimeCache,
    /// The last conversion of a fast-matched date (see [`LastConversion`]).
    last_conversion: Option<LastConversion>,
}

/// Consecutive log lines mostly carry the same second: a syslog date matched by the fast
/// matcher whose text, template, "now" and zones equal the last one converts to the same
/// outcome (the conversion is a function of those; the fast matcher's groups are a function
/// of the text, see `fastpath`), so it is not converted again.
#[derive(Debug, Clone)]
struct LastConversion {
    /// The template's address, as its identity (templates are shared and never move).
    template: usize,
    text: String,
    now_bits: u64,
    tz: jiff::tz::TimeZone,
    outcome: DateOutcome,
}

impl Default for DateDetector {
    fn default() -> Self {
        Self::new_default()
    }
}

const UNSET: usize = 0x7fff_ffff;

impl DateDetector {
    fn empty() -> Self {
        DateDetector {
            slots: Vec::new(),
            last_pos: Edge {
                index: 1,
                before: None,
                at: None,
            },
            last_end: Edge {
                index: UNSET,
                before: None,
                at: None,
            },
            last_index: UNSET,
            first_unused: 0,
            default_tz: None,
            none: false,
            cache: TimeCache::default(),
            last_conversion: None,
        }
    }

    /// fail2ban's default templates (what a filter without `datepattern` uses).
    pub fn new_default() -> Self {
        let mut detector = Self::empty();
        if let Ok(defaults) = defaults() {
            detector.slots = defaults.ordered.iter().cloned().map(Slot::new).collect();
        }
        detector
    }

    /// From a `datepattern` value: one pattern per non-empty line, each a strptime pattern,
    /// `{^LN-BEG}`, `{DEFAULT}`, `{DATE}` inside a regex, `{NONE}`, `EPOCH`, `LEPOCH`,
    /// `{EPOCH}` inside a regex, or `TAI64N`. (`ISO8601` has no special meaning in fail2ban
    /// 1.0.2: it is a literal pattern.) No pattern at all means the default templates.
    pub fn from_pattern(pattern: &str) -> Result<Self, DateError> {
        let mut detector = Self::empty();
        let lines = || pattern.split('\n').map(str::trim).filter(|l| !l.is_empty());
        // `{^LN-BEG}`/`{DEFAULT}` make fail2ban build its default template cache, which gives
        // a weight of 100 to the anchored defaults, also when a line named one of them.
        let defaults_built =
            lines().any(|l| matches!(l.to_uppercase().as_str(), "{^LN-BEG}" | "{DEFAULT}"));
        for line in lines() {
            detector.append_pattern(line, defaults_built)?;
        }
        if detector.slots.is_empty() {
            return Ok(Self::new_default());
        }
        Ok(detector)
    }

    /// fail2ban's `appendTemplate(str)`.
    fn append_pattern(&mut self, pattern: &str, defaults_built: bool) -> Result<(), DateError> {
        let invalid = |reason: TemplateError| DateError::InvalidPattern {
            pattern: pattern.to_string(),
            reason,
        };
        let defaults = defaults()?;
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        match key.as_str() {
            "{^LN-BEG}" | "{DEFAULT}" => {
                let line_begin_only = key == "{^LN-BEG}";
                let ignore_duplicates = !self.slots.is_empty();
                for template in &defaults.ordered {
                    if !line_begin_only || template.flags & LINE_BEGIN != 0 {
                        self.append(template.clone(), ignore_duplicates)
                            .map_err(invalid)?;
                    }
                }
                return Ok(());
            }
            _ if contains_date_placeholder(&key) => {
                return self.append_date_placeholder(pattern, defaults);
            }
            "{NONE}" => {
                let template = defaults
                    .builder
                    .strptime_template("{UNB}^", template::Begin::Word, true)
                    .map_err(invalid)?;
                self.none = self.slots.is_empty();
                return self.append(Arc::new(template), false).map_err(invalid);
            }
            _ => {}
        }
        let mut template = defaults
            .builder
            .pattern_template(pattern)
            .map_err(invalid)?;
        // fail2ban's template cache hands out the same object as the anchored defaults.
        if defaults_built
            && defaults
                .ordered
                .iter()
                .any(|d| d.weight > 1.0 && d.name == template.name)
        {
            template.weight = 100.0;
        }
        self.append(Arc::new(template), false).map_err(invalid)
    }

    /// `addDefaultTemplate(preMatch=pattern, allDefaults=False)`: each default template with
    /// its pattern put in place of `{DATE}`.
    fn append_date_placeholder(
        &mut self,
        pattern: &str,
        defaults: &Defaults,
    ) -> Result<(), DateError> {
        let invalid = |reason: TemplateError| DateError::InvalidPattern {
            pattern: pattern.to_string(),
            reason,
        };
        let ignore_duplicates = !self.slots.is_empty();
        for original in &defaults.originals {
            let wrapped = match &original.pattern {
                Some(inner) => replace_date_placeholder(pattern, template::unbound_pattern(inner)),
                None => replace_date_placeholder(pattern, &original.name),
            };
            let template = defaults
                .builder
                .pattern_template(&wrapped)
                .map_err(invalid)?;
            self.append(Arc::new(template), ignore_duplicates)
                .map_err(invalid)?;
        }
        Ok(())
    }

    /// `_appendTemplate`: names are unique.
    fn append(
        &mut self,
        template: Arc<Template>,
        ignore_duplicates: bool,
    ) -> Result<(), TemplateError> {
        if self
            .slots
            .iter()
            .any(|slot| slot.template.name == template.name)
        {
            if ignore_duplicates {
                return Ok(());
            }
            return Err(TemplateError::DuplicateName(template.name.clone()));
        }
        self.slots.push(Slot::new(template));
        Ok(())
    }

    /// `logtimezone`: dates without a zone in the line are read at this fixed offset
    /// (`UTC`, `UTC+0200`, `UTC-06`, `CET`, `+0130`; fail2ban knows no named zones with DST).
    /// `None` reads them in the local time zone of [`TimeContext::tz`].
    pub fn set_default_tz(&mut self, zone: Option<&str>) -> Result<(), DateError> {
        self.default_tz = match zone {
            None => None,
            Some(zone) => Some(parse_log_time_zone(zone)?),
        };
        self.last_conversion = None;
        Ok(())
    }

    /// True for `{NONE}`: lines carry no date and "now" is used.
    pub fn is_none(&self) -> bool {
        self.none
    }

    /// What fail2ban-regex prints after `Use datepattern : <pattern> :`: the template's name
    /// when there are one or two templates, else "Default Detectors".
    pub fn description(&self) -> String {
        match self.slots.as_slice() {
            [first] | [first, _] => first.template.name.clone(),
            _ => "Default Detectors".to_string(),
        }
    }

    /// Templates with their hit counts, in their current order (fail2ban-regex's "Date
    /// template hits" lists those with hits, in this order).
    pub fn templates(&self) -> Vec<TemplateStats> {
        self.slots
            .iter()
            .map(|slot| TemplateStats {
                name: slot.template.name.clone(),
                hits: slot.hits,
                weight: slot.weight(),
                template_weight: slot.template.weight,
                pattern: slot.template.pattern.clone(),
                regex: slot.template.python_regex.clone(),
            })
            .collect()
    }

    /// Looks for a date in `line`; `Some` only when the date converts to a time. See
    /// [`DateDetector::find_date`] for what fail2ban does with the other cases.
    pub fn match_time(&mut self, line: &str, ctx: &TimeContext) -> Option<DateMatch> {
        let found = self.find_date(line, ctx)?;
        match found.outcome {
            DateOutcome::Time(timestamp) => Some(DateMatch {
                start: found.start,
                end: found.end,
                timestamp,
                template: found.template,
            }),
            _ => None,
        }
    }

    /// Looks for a date in `line` (fail2ban's `matchTime` then `getTime`), updating hit counts
    /// and template order. The span is that of the regex's group 1, which fail2ban cuts out.
    pub fn find_date(&mut self, line: &str, ctx: &TimeContext) -> Option<DateFound> {
        let winner = self.match_line(line, ctx.now)?;
        let slot = &self.slots[winner];
        let Some((start, end)) = slot.template.group(1, &slot.state) else {
            return Some(DateFound {
                start: 0,
                end: 0,
                template: winner,
                outcome: DateOutcome::Empty,
            });
        };
        let outcome = if start == end {
            DateOutcome::Empty
        } else {
            self.convert(winner, line, (start, end), ctx)
        };
        Some(DateFound {
            start,
            end,
            template: winner,
            outcome,
        })
    }

    /// `getDate` of the winning slot's match, reusing the last conversion when it must give
    /// the same outcome.
    fn convert(
        &mut self,
        winner: usize,
        line: &str,
        (start, end): (usize, usize),
        ctx: &TimeContext,
    ) -> DateOutcome {
        let slot = &self.slots[winner];
        let text = &line[start..end];
        let identity = Arc::as_ptr(&slot.template) as usize;
        let now_bits = ctx.now.to_bits();
        let cacheable = slot.state.is_fast();
        if let Some(last) = &self.last_conversion
            && cacheable
            && last.template == identity
            && last.now_bits == now_bits
            && last.text == text
            && same_zone(&last.tz, &ctx.tz)
        {
            return last.outcome;
        }
        let outcome =
            match slot
                .template
                .convert(line, &slot.state, self.default_tz, ctx, &mut self.cache)
            {
                Conversion::Time(time) => DateOutcome::Time(time),
                Conversion::Invalid => DateOutcome::Invalid,
                Conversion::Error => DateOutcome::Error,
            };
        if cacheable {
            let mut last = self
                .last_conversion
                .take()
                .unwrap_or_else(|| LastConversion {
                    template: identity,
                    text: String::new(),
                    now_bits,
                    tz: ctx.tz.clone(),
                    outcome,
                });
            last.template = identity;
            last.text.clear();
            last.text.push_str(text);
            last.now_bits = now_bits;
            if !same_zone(&last.tz, &ctx.tz) {
                last.tz = ctx.tz.clone();
            }
            last.outcome = outcome;
            self.last_conversion = Some(last);
        }
        outcome
    }

    /// fail2ban's `matchTime`: the index of the winning slot, whose state holds the match.
    fn match_line(&mut self, line: &str, now: f64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let (mut winner, mut reserved, skip) = self.try_last_template(line);
        if winner.is_none() {
            winner = self.search_all(line, skip, &mut reserved);
        }
        let winner = match (winner, reserved) {
            (Some(winner), _) => winner,
            (None, Some(reserved)) => {
                self.restore(line, &reserved);
                reserved
            }
            (None, None) => return None,
        };
        Some(self.record_win(line, winner, now))
    }

    /// First try the template that won last time: anchored ones on the whole line, others
    /// only between the last match's boundaries when the characters there look the same.
    /// Returns a winner, a reserved alternative, and the slot the full search may skip.
    fn try_last_template(&mut self, line: &str) -> (Option<Candidate>, Option<Candidate>, usize) {
        let index = self.last_index;
        if index >= self.slots.len() {
            return (None, None, UNSET);
        }
        let anchored = self.slots[index].template.flags & (LINE_BEGIN | LINE_END) != 0;
        let mut skip = UNSET;
        let (from, to) = if anchored {
            skip = index;
            (0, line.len())
        } else if let Some((from, to)) = self.window(line) {
            (from, to)
        } else {
            skip = index;
            (0, line.len())
        };
        let Some(candidate) = self.search_slot(line, index, from, to) else {
            return (None, None, skip);
        };
        let same_place =
            candidate.distance == self.last_pos.index && candidate.end_index == self.last_end.index;
        if self.slots.len() == 1 || anchored || same_place {
            (Some(candidate), None, skip)
        } else {
            (None, Some(candidate), skip)
        }
    }

    /// The byte range to search again when the last match's surroundings recur in `line`.
    fn window(&self, line: &str) -> Option<(usize, usize)> {
        let start = CharAt::new(line, self.last_pos.index);
        let end = CharAt::new(line, self.last_end.index);
        let not_alnum = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
        let left = start.before == self.last_pos.before
            || (start.at == self.last_pos.at && not_alnum(self.last_pos.at));
        let right = end.at == self.last_end.at
            || (end.before == self.last_end.before && not_alnum(self.last_end.before));
        (left && right).then_some((start.byte, end.byte))
    }

    fn search_slot(
        &mut self,
        line: &str,
        index: usize,
        from: usize,
        to: usize,
    ) -> Option<Candidate> {
        let slot = &mut self.slots[index];
        let (start, end) = slot.template.search(line, from, to, &mut slot.state)?;
        slot.regex_hits += 1;
        Some(Candidate {
            slot: index,
            start,
            end,
            distance: char_index(line, start),
            end_index: char_index(line, end),
            search_end: to,
        })
    }

    /// The full search over all templates, in order, with fail2ban's stopping rules.
    fn search_all(
        &mut self,
        line: &str,
        skip: usize,
        reserved: &mut Option<Candidate>,
    ) -> Option<Candidate> {
        let count = self.slots.len();
        for index in 0..count {
            if index == skip {
                continue;
            }
            let Some(candidate) = self.search_slot(line, index, 0, line.len()) else {
                continue;
            };
            let slot = &self.slots[index];
            let stop = index + 1 >= count
                || slot.template.flags & (LINE_BEGIN | LINE_END) != 0
                || (candidate.distance == 0
                    && slot.hits > 0
                    && self.slots[index + 1].regex_hits == 0);
            if stop {
                return Some(candidate);
            }
            // A later position than before may be a date inside the message: keep looking.
            if candidate.distance > slot.distance || candidate.distance > self.last_pos.index {
                if reserved.is_none_or(|r| candidate.distance < r.distance) {
                    *reserved = Some(candidate);
                }
                continue;
            }
            return Some(candidate);
        }
        None
    }

    /// Re-runs a reserved match so its slot's state holds it again.
    fn restore(&mut self, line: &str, candidate: &Candidate) {
        let slot = &mut self.slots[candidate.slot];
        slot.template
            .search(line, candidate.start, candidate.search_end, &mut slot.state);
    }

    /// Hit counting, remembered boundaries and reordering after a win; the winner's new index.
    /// `now` stands for fail2ban's `time.time()` in `lastUsed`: the caller's "now" (the
    /// daemon's clock, read per batch of lines; fail2ban-regex's start or `--now`), which
    /// spares a clock read per line. Only a template unused for five minutes is treated
    /// differently, and a fixed "now" in a run shorter than that changes nothing.
    fn record_win(&mut self, line: &str, winner: Candidate, now: f64) -> usize {
        let index = winner.slot;
        let slot = &mut self.slots[index];
        slot.hits += 1;
        slot.last_used = now;
        slot.distance = winner.distance;
        if self.first_unused == index {
            self.first_unused += 1;
        }
        let start = CharAt::at_byte(line, winner.start);
        let end = CharAt::at_byte(line, winner.end);
        self.last_pos = Edge {
            index: winner.distance,
            before: start.before,
            at: start.at,
        };
        // Python's `line[endpos-1]` wraps around to the last character when endpos is 0.
        let end_before = if winner.end == 0 {
            line.chars().next_back()
        } else {
            end.before
        };
        self.last_end = Edge {
            index: winner.end_index,
            before: end_before,
            at: end.at,
        };
        let mut index = index;
        if index != 0 && index != self.last_index {
            index = self.reorder(index);
        }
        self.last_index = index;
        index
    }

    /// fail2ban's `_reorderTemplate`: move a winning template up, to the first unused place
    /// or half-way, if it weighs more or the template there was not used for 5 minutes.
    fn reorder(&mut self, index: usize) -> usize {
        let slot = &self.slots[index];
        let unused_since = slot.last_used - 300.0;
        let weight = slot.weight();
        let movable = |slots: &[Slot], to: usize| {
            weight > slots[to].weight() || unused_since > slots[to].last_used
        };
        let mut to = if self.first_unused < index {
            self.first_unused
        } else {
            index / 2
        };
        if !movable(&self.slots, to) {
            if to == index - 1 {
                return index;
            }
            to = index - 1;
            if !movable(&self.slots, to) {
                return index;
            }
        }
        let slot = self.slots.remove(index);
        self.slots.insert(to, slot);
        while self.first_unused < self.slots.len() && self.slots[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        to
    }
}

/// `logtimezone` as minutes east of UTC, refused like fail2ban's `validateTimeZone`.
pub fn parse_log_time_zone(zone: &str) -> Result<i32, DateError> {
    strptime::zone_offset(zone).map_err(|error| DateError::UnknownTimeZone {
        zone: zone.to_string(),
        reason: match error {
            ZoneError::Malformed => "Unknown or unsupported time zone",
            ZoneError::UnknownAbbreviation => "unknown time zone abbreviation",
        },
    })
}

/// `RE_DATE_PREMATCH`: `{DATE}` (any case) not preceded by a backslash.
fn contains_date_placeholder(key: &str) -> bool {
    date_placeholders(key).next().is_some()
}

fn date_placeholders(text: &str) -> impl Iterator<Item = usize> + '_ {
    let upper = text.to_ascii_uppercase();
    let positions: Vec<usize> = upper
        .match_indices("{DATE}")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || text.as_bytes()[i - 1] != b'\\')
        .collect();
    positions.into_iter()
}

fn replace_date_placeholder(pattern: &str, replacement: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for position in date_placeholders(pattern) {
        out.push_str(&pattern[last..position]);
        out.push_str(replacement);
        last = position + "{DATE}".len();
    }
    out.push_str(&pattern[last..]);
    out
}

/// Character index of a byte offset (fail2ban's positions are in characters).
fn char_index(line: &str, byte: usize) -> usize {
    let prefix = &line.as_bytes()[..byte.min(line.len())];
    if prefix.is_ascii() {
        prefix.len()
    } else {
        line[..byte].chars().count()
    }
}

/// The characters around a character index, and its byte offset (clamped to the line).
#[derive(Debug, Clone, Copy)]
struct CharAt {
    byte: usize,
    before: Option<char>,
    at: Option<char>,
}

impl CharAt {
    /// Python's `line[i-1:i]` and `line[i:i+1]` for character index `i`.
    fn new(line: &str, index: usize) -> Self {
        let bytes = line.as_bytes();
        let probe = index.saturating_add(1).min(bytes.len());
        if bytes[..probe].is_ascii() {
            let byte = index.min(bytes.len());
            let before = (index >= 1 && index <= bytes.len()).then(|| char::from(bytes[index - 1]));
            let at = bytes.get(index).map(|b| char::from(*b));
            return CharAt { byte, before, at };
        }
        let mut chars = line.char_indices().skip(index.saturating_sub(1));
        let before = if index >= 1 {
            chars.next().map(|(_, c)| c)
        } else {
            None
        };
        let at_entry = chars.next();
        match at_entry {
            Some((byte, c)) => CharAt {
                byte,
                before,
                at: Some(c),
            },
            None if before.is_some() => CharAt {
                byte: line.len(),
                before,
                at: None,
            },
            None => CharAt {
                byte: line.len(),
                before: None,
                at: None,
            },
        }
    }

    fn at_byte(line: &str, byte: usize) -> Self {
        CharAt {
            byte,
            before: line[..byte].chars().next_back(),
            at: line[byte..].chars().next(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn repeated_date_is_converted_again_for_a_new_now_or_zone() {
        // The last conversion is reused only with the same "now" and zones: the year of a
        // year-less date depends on "now", its instant on `logtimezone`.
        let mut detector = DateDetector::new_default();
        let line = "Dec 31 23:59:59 host sshd[1]: x";
        let early = TimeContext::from_tz_env(1_767_268_800.0, Some("UTC")); // 2026-01-01 12:00
        let late = TimeContext::from_tz_env(1_798_804_800.0, Some("UTC")); // 2027-01-01 12:00
        let time = |detector: &mut DateDetector, ctx: &TimeContext| {
            detector.match_time(line, ctx).map(|m| m.timestamp)
        };
        for _ in 0..2 {
            assert_eq!(time(&mut detector, &early), Some(1_767_225_599.0));
            assert_eq!(time(&mut detector, &early), Some(1_767_225_599.0));
            assert_eq!(time(&mut detector, &late), Some(1_798_761_599.0));
        }
        detector.set_default_tz(Some("UTC+0100")).unwrap();
        assert_eq!(time(&mut detector, &late), Some(1_798_761_599.0 - 3600.0));
        let berlin =
            TimeContext::from_tz_env(1_798_804_800.0, Some("CET-01CEST-02,M3.5.0,M10.5.0"));
        detector.set_default_tz(None).unwrap();
        assert_eq!(time(&mut detector, &berlin), Some(1_798_761_599.0 - 3600.0));
        assert_eq!(time(&mut detector, &late), Some(1_798_761_599.0));
    }

    #[test]
    fn char_at_handles_multibyte_and_bounds() {
        let c = CharAt::new("aé b", 2);
        assert_eq!((c.byte, c.before, c.at), (3, Some('é'), Some(' ')));
        let c = CharAt::new("ab", 5);
        assert_eq!((c.byte, c.before, c.at), (2, None, None));
        let c = CharAt::new("ab", 2);
        assert_eq!((c.byte, c.before, c.at), (2, Some('b'), None));
        let c = CharAt::new("ab", 0);
        assert_eq!((c.byte, c.before, c.at), (0, None, Some('a')));
        let c = CharAt::new("éb", 2);
        assert_eq!((c.byte, c.before, c.at), (3, Some('b'), None));
    }

    #[test]
    fn date_placeholder_replacement() {
        assert_eq!(replace_date_placeholder(r"^\[{date}\]", "X"), r"^\[X\]");
        assert_eq!(replace_date_placeholder(r"\{DATE}", "X"), r"\{DATE}");
    }
}
