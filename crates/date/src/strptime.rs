//! fail2ban's strptime dialect (`server/strptime.py`): the `%` directives, the regex each
//! one stands for, the name it gets in template names, and the conversion of matched fields
//! into a Unix time (`reGroupDictStrptime`).

use crate::TimeContext;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A named group fail2ban's conversion understands (the group name is the strptime letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Year,
    Year2,
    Month,
    MonthName,
    MonthAbbr,
    Day,
    Hour24,
    Hour12,
    Minute,
    Second,
    WeekdayName,
    WeekdayAbbr,
    Weekday,
    YearDay,
    WeekSunday,
    WeekMonday,
    Zone,
    AmPm,
}

impl Field {
    /// The field a regex group name stands for; other names are ignored like fail2ban does.
    pub(crate) fn from_group_name(name: &str) -> Option<Field> {
        Some(match name {
            "Y" => Field::Year,
            "y" => Field::Year2,
            "m" => Field::Month,
            "B" => Field::MonthName,
            "b" => Field::MonthAbbr,
            "d" => Field::Day,
            "H" => Field::Hour24,
            "I" => Field::Hour12,
            "M" => Field::Minute,
            "S" => Field::Second,
            "A" => Field::WeekdayName,
            "a" => Field::WeekdayAbbr,
            "w" => Field::Weekday,
            "j" => Field::YearDay,
            "U" => Field::WeekSunday,
            "W" => Field::WeekMonday,
            "z" | "Z" => Field::Zone,
            "p" => Field::AmPm,
            _ => return None,
        })
    }
}

/// Directive key (after `%`), the regex it expands to, and its name in template names.
/// Multi-letter keys come first: fail2ban's directive regex tries them before single letters.
const DIRECTIVES: &[(&str, &str, &str)] = &[
    ("ExZ", r"(?P<Z>[A-Z](?:[A-Z]{2,4})?)", "ExZone name"),
    (
        "Exz",
        r"(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)",
        "ExZone offset",
    ),
    ("Exd", r"(?P<d>[1-2]\d|0[1-9]|3[0-1])", "ExDay"),
    ("Exm", r"(?P<m>0[1-9]|1[0-2])", "ExMonth"),
    ("ExH", r"(?P<H>[0-1]\d|2[0-3])", "Ex24hour"),
    ("Exk", r" ?(?P<H>[0-1]?\d|2[0-3])", "%Exk"),
    ("Exl", r" ?(?P<I>1[0-2]|\d)", "%Exl"),
    ("ExM", r"(?P<M>[0-5]\d)", "ExMinute"),
    ("ExS", r"(?P<S>[0-5]\d|6[0-1])", "ExSecond"),
    ("ExY", "", "ExYear"), // century-dependent, see `year_regex`
    ("Exy", r"(?P<y>\d{2})", "ExYear2"),
    ("d", r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])", "Day"),
    ("f", r"(?P<f>[0-9]{1,6})", "Microseconds"),
    ("H", r"(?P<H>[0-1]?\d|2[0-3])", "24hour"),
    ("I", r"(?P<I>1[0-2]|0[1-9]|[1-9])", "12hour"),
    ("G", r"(?P<G>\d\d\d\d)", "%G"),
    (
        "j",
        r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
        "Yearday",
    ),
    ("m", r"(?P<m>0?[1-9]|1[0-2])", "Month"),
    ("M", r"(?P<M>[0-5]?\d)", "Minute"),
    ("S", r"(?P<S>[0-5]?\d|6[0-1])", "Second"),
    ("U", r"(?P<U>5[0-3]|[0-4]\d|\d)", "Yearweek"),
    ("w", r"(?P<w>[0-6])", "Weekday"),
    ("u", r"(?P<u>[1-7])", "%u"),
    ("V", r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)", "%V"),
    ("y", r"(?P<y>\d\d)", "Year2"),
    ("Y", r"(?P<Y>\d{4})", "Year"),
    (
        "z",
        r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
        "Zone offset",
    ),
    (
        "A",
        r"(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)",
        "DAYNAME",
    ),
    ("a", r"(?P<a>mon|tue|wed|thu|fri|sat|sun)", "DAY"),
    (
        "B",
        r"(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)",
        "MONTH",
    ),
    (
        "b",
        r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
        "MON",
    ),
    ("p", r"(?P<p>am|pm)", "AMPM"),
    ("Z", r"(?P<Z>Z|[A-Z]{3,5})", "Zone name"),
    ("%", "%", "%"),
    ("W", r"(?P<W>5[0-3]|[0-4]\d|\d)", "Yearweek"),
    (
        "c",
        r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)",
        "%c",
    ),
    (
        "x",
        r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)",
        "%x",
    ),
    (
        "X",
        r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)",
        "%X",
    ),
    ("k", r" ?(?P<H>[0-2]?\d)", "%k"),
    ("l", r" ?(?P<I>1?\d)", "%l"),
];

/// The directive starting at `rest` (text after a `%`): its key length, regex and name.
pub(crate) fn directive(rest: &str, year_regex: &str) -> Option<(usize, String, &'static str)> {
    DIRECTIVES.iter().find_map(|(key, regex, name)| {
        rest.starts_with(key).then(|| {
            let regex = if *key == "ExY" {
                year_regex.to_string()
            } else {
                regex.to_string()
            };
            (key.len(), regex, *name)
        })
    })
}

/// fail2ban's `%ExY`: years of the century of last year up to three years ahead, plus the
/// years from 2000 on (fail2ban adds those for its test suite's fixed dates), as a regex.
pub(crate) fn year_regex(current_year: i64) -> String {
    let century = |year: i64| year.to_string().chars().take(3).collect::<String>();
    let mut set: Vec<String> = vec![century(current_year - 1), century(current_year + 3)];
    // `range(-1, now.year - 2001 + 1, 3)` added to 2001:
    let mut offset = -1;
    while offset < current_year - 2001 + 1 {
        set.push(century(2001 + offset));
        offset += 3;
    }
    set.sort();
    set.dedup();
    format!(r"(?P<Y>{}\d)", group_prefixes(&set))
}

/// fail2ban's `grp`: factor a common prefix out of same-length strings into a compact regex.
fn group_prefixes(set: &[String]) -> String {
    if set.len() > 1 {
        let common =
            common_prefix(set, |s| s.len().saturating_sub(1)).or_else(|| common_prefix(set, |_| 1));
        if let Some(common) = common {
            let rest: Vec<String> = set.iter().map(|s| s[common.len()..].to_string()).collect();
            return format!("{common}{}", group_prefixes(&rest));
        }
        if set[0].len() > 1 {
            return format!("(?:{})", set.join("|"));
        }
        return format!("[{}]", set.concat());
    }
    set.concat()
}

fn common_prefix(set: &[String], len: impl Fn(&str) -> usize) -> Option<String> {
    let first = set[0].get(..len(&set[0]))?;
    let all_same = set.iter().all(|s| s.get(..len(s)) == Some(first));
    (all_same && !first.is_empty()).then(|| first.to_string())
}

/// How a matched date converts, in fail2ban's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Conversion {
    /// Unix time.
    Time(f64),
    /// fail2ban's `getTime` caught a `ValueError` (e.g. February 30): no date.
    Invalid,
    /// fail2ban raised another exception (unknown zone abbreviation, a day without a month):
    /// the line is dropped with an error.
    Error,
}

/// Zone offsets in minutes, as fail2ban's `TZ_ABBR_OFFS` (fixed, no DST switching).
const ZONE_ABBREVIATIONS: &[(i32, &str)] = &[
    (-720, "Y"),
    (-660, "X NUT SST"),
    (-600, "W CKT HAST HST TAHT TKT"),
    (-540, "V AKST GAMT GIT HADT HNY"),
    (-480, "U AKDT CIST HAY HNP PST PT"),
    (-420, "T HAP HNR MST PDT"),
    (-360, "S CST EAST GALT HAR HNC MDT"),
    (-300, "R CDT COT EASST ECT EST ET HAC HNE PET"),
    (-240, "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT"),
    (
        -180,
        "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT",
    ),
    (-120, "O BRST FNT PMDT UYST WGST"),
    (-60, "N AZOT CVT EGT"),
    (0, "Z EGST GMT UTC WET WT"),
    (60, "A CET DFT WAT WEDT WEST"),
    (120, "B CAT CEDT CEST EET SAST WAST"),
    (180, "C EAT EEDT EEST IDT MSK"),
    (240, "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT"),
    (
        300,
        "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT",
    ),
    (360, "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST"),
    (420, "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB"),
    (
        480,
        "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST",
    ),
    (540, "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT"),
    (600, "K AEST ChST PGT VLAT YAKST YAPT"),
    (660, "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT"),
    (
        720,
        "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT",
    ),
    (780, "FJST NZDT"),
    (690, "NFT"),
    (630, "ACDT LHST"),
    (570, "ACST"),
    (390, "CCT MMT"),
    (345, "NPT"),
    (330, "SLT"),
    (270, "AFT IRDT"),
    (210, "IRST"),
    (-150, "HAT NDT"),
    (-210, "HNT NST NT"),
    (-270, "HLV VET"),
    (-570, "MART MIT"),
];

fn abbreviation_offset(abbreviation: &str) -> Option<i32> {
    ZONE_ABBREVIATIONS
        .iter()
        .find(|(_, names)| names.split(' ').any(|name| name == abbreviation))
        .map(|(minutes, _)| *minutes)
}

/// Why a zone text was refused, mirroring the Python exception raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneError {
    /// `ValueError`: not of the form `[ABBR][+-]hh[[:]mm]`.
    Malformed,
    /// `KeyError`: well-formed but an abbreviation fail2ban does not know.
    UnknownAbbreviation,
}

/// fail2ban's `validateTimeZone`/`zone2offset`: offset in minutes of `ABBR`, `+hh`, `-hhmm`,
/// `+hh:mm` or an abbreviation followed by such an offset (`UTC+0200`).
pub(crate) fn zone_offset(zone: &str) -> Result<i32, ZoneError> {
    let zone = zone.strip_suffix('\n').unwrap_or(zone);
    let letters = zone.bytes().take_while(u8::is_ascii_uppercase).count();
    if !matches!(letters, 0 | 1 | 3 | 4 | 5) {
        return Err(ZoneError::Malformed);
    }
    let (abbreviation, offset) = zone.split_at(letters);
    let minutes = parse_offset(offset).ok_or(ZoneError::Malformed)?;
    let base = if abbreviation.is_empty() {
        0
    } else {
        abbreviation_offset(abbreviation).ok_or(ZoneError::UnknownAbbreviation)?
    };
    Ok(base + minutes)
}

/// `[+-][01]\d(?::?\d{2})?` or nothing, in minutes.
fn parse_offset(offset: &str) -> Option<i32> {
    let bytes = offset.as_bytes();
    if bytes.is_empty() {
        return Some(0);
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digit = |i: usize| {
        bytes
            .get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| i32::from(b - b'0'))
    };
    if !matches!(bytes.get(1), Some(b'0' | b'1')) {
        return None;
    }
    let hours = digit(1)? * 10 + digit(2)?;
    let minutes = match bytes.len() {
        3 => return Some(sign * hours * 60),
        5 => digit(3)? * 10 + digit(4)?,
        6 if bytes[3] == b':' => digit(4)? * 10 + digit(5)?,
        _ => return None,
    };
    Some(sign * (hours * 60 + minutes))
}

/// Python's `int()` on a matched field: surrounding whitespace allowed, ASCII digits.
/// `Err(true)` when the number is too large for fail2ban's date code (Python raises
/// `OverflowError`, not `ValueError`).
fn parse_int(text: &str) -> Result<i64, bool> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(false);
    }
    digits.bytes().try_fold(0i64, |acc, b| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(i64::from(b - b'0')))
            .ok_or(true)
    })
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Index of `text.lower()` in `names` (full or 3-letter), like Python's `list.index`.
fn name_index(text: &str, names: &[&'static str], abbreviated: bool) -> Option<usize> {
    let name_of = |name: &'static str| if abbreviated { &name[..3] } else { name };
    if text.is_ascii() {
        return names
            .iter()
            .position(|name| text.eq_ignore_ascii_case(name_of(name)));
    }
    // Python lower-cases all of Unicode (the Kelvin sign becomes `k`, `ſ` stays).
    names.iter().position(|name| {
        text.chars()
            .flat_map(char::to_lowercase)
            .eq(name_of(name).chars())
    })
}

/// The fields fail2ban collects before building the date.
#[derive(Debug, Default)]
struct Collected {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: Option<i64>,
    julian: Option<i64>,
    week: Option<(i64, bool)>,
    zone: Option<i32>,
}

/// Matched text of each field, in the order the groups appear in the pattern.
pub(crate) struct FieldValues<'a> {
    pub(crate) values: &'a [(Field, Option<&'a str>)],
}

impl FieldValues<'_> {
    fn am_pm(&self) -> Option<Option<&str>> {
        self.values
            .iter()
            .find(|(field, _)| *field == Field::AmPm)
            .map(|(_, value)| *value)
    }
}

/// fail2ban's `reGroupDictStrptime` without sub-second precision (fail2ban drops `%f`).
pub(crate) fn convert(
    fields: &FieldValues<'_>,
    default_tz: Option<i32>,
    ctx: &TimeContext,
    cache: &mut TimeCache,
) -> Conversion {
    match collect(fields) {
        Ok(collected) => {
            cache.follow(&ctx.tz);
            build(collected, default_tz, ctx, cache)
        }
        Err(conversion) => conversion,
    }
}

fn collect(fields: &FieldValues<'_>) -> Result<Collected, Conversion> {
    let mut out = Collected::default();
    let number = |text: &str| {
        parse_int(text).map_err(|overflow| {
            if overflow {
                Conversion::Error
            } else {
                Conversion::Invalid
            }
        })
    };
    for (field, value) in fields.values {
        let Some(value) = value else { continue };
        match field {
            Field::Year2 => {
                let year = number(value)?;
                out.year = Some(if year <= 2000 { year + 2000 } else { year });
            }
            Field::Year => out.year = Some(number(value)?),
            Field::Month => out.month = Some(number(value)?),
            Field::MonthName | Field::MonthAbbr => {
                let index = name_index(value, &MONTHS, *field == Field::MonthAbbr);
                out.month = Some(index.ok_or(Conversion::Invalid)? as i64 + 1);
            }
            Field::Day => out.day = Some(number(value)?),
            Field::Hour24 => out.hour = number(value)?,
            Field::Hour12 => out.hour = hour_from_12(number(value)?, fields.am_pm())?,
            Field::Minute => out.minute = number(value)?,
            Field::Second => out.second = number(value)?,
            Field::WeekdayName | Field::WeekdayAbbr => {
                let index = name_index(value, &WEEKDAYS, *field == Field::WeekdayAbbr);
                out.weekday = Some(index.ok_or(Conversion::Invalid)? as i64);
            }
            Field::Weekday => {
                let weekday = number(value)? - 1;
                out.weekday = Some(if weekday < 0 { 6 } else { weekday });
            }
            Field::YearDay => out.julian = Some(number(value)?),
            Field::WeekSunday => out.week = Some((number(value)?, false)),
            Field::WeekMonday => out.week = Some((number(value)?, true)),
            Field::Zone => out.zone = Some(parse_zone_field(value)?),
            Field::AmPm => {}
        }
    }
    Ok(out)
}

fn hour_from_12(hour: i64, am_pm: Option<Option<&str>>) -> Result<i64, Conversion> {
    let marker = match am_pm {
        None => String::new(),
        // `found_dict.get('p', '')` is None for a group that did not take part: `.lower()` raises.
        Some(None) => return Err(Conversion::Error),
        Some(Some(text)) => text.to_lowercase(),
    };
    Ok(match marker.as_str() {
        "" | "am" if hour == 12 => 0,
        "pm" if hour != 12 => hour + 12,
        _ => hour,
    })
}

fn parse_zone_field(value: &str) -> Result<i32, Conversion> {
    if matches!(value, "Z" | "UTC" | "GMT") {
        return Ok(0);
    }
    zone_offset(value).map_err(|error| match error {
        ZoneError::Malformed => Conversion::Invalid,
        ZoneError::UnknownAbbreviation => Conversion::Error,
    })
}

/// Naive (zone-less) date-times as seconds since 1970-01-01T00:00:00, like Python's naive
/// `datetime` arithmetic.
const SECONDS_PER_DAY: i64 = 86_400;

fn build(
    c: Collected,
    default_tz: Option<i32>,
    ctx: &TimeContext,
    cache: &mut TimeCache,
) -> Conversion {
    let mut now = LocalNow { ctx, cache };
    let assume_year = c.year.is_none();
    let mut year = c.year.unwrap_or_else(|| now.year());
    let (mut month, mut day) = (c.month, c.day);
    let mut julian = c.julian;
    if month.is_none() || day.is_none() {
        if let (None, Some((week, starts_monday)), Some(weekday)) = (julian, c.week, c.weekday) {
            if !(1..=9999).contains(&year) {
                return Conversion::Invalid;
            }
            julian = Some(julian_from_week(year, week, weekday, starts_monday));
        }
        if let Some(julian) = julian {
            if !(1..=9999).contains(&year) {
                return Conversion::Invalid;
            }
            let days = days_from_civil(year, 1, 1) + julian - 1;
            if !(days_from_civil(1, 1, 1)..=days_from_civil(9999, 12, 31)).contains(&days) {
                return Conversion::Invalid;
            }
            let (y, m, d) = civil_from_days(days);
            (year, month, day) = (y, Some(m), Some(d));
        }
    }
    let assume_today = month.is_none() && day.is_none();
    if assume_today {
        let (_, m, d) = now.civil_date();
        (month, day) = (Some(m), Some(d));
    }
    let (Some(month), Some(day)) = (month, day) else {
        // `datetime(year, None, day)` raises TypeError.
        return Conversion::Error;
    };
    let Some(mut naive) = naive_datetime(year, month, day, c.hour, c.minute, c.second) else {
        return if [year, month, day, c.hour, c.minute, c.second]
            .iter()
            .all(|v| i32::try_from(*v).is_ok())
        {
            Conversion::Invalid
        } else {
            Conversion::Error
        };
    };
    let zone = c.zone.or(default_tz);
    if let Some(minutes) = zone {
        naive -= i64::from(minutes) * 60;
        if !in_datetime_range(naive) {
            return Conversion::Error;
        }
    }
    if assume_today && naive * 1_000_000 > now.micros() {
        naive -= SECONDS_PER_DAY;
        if !in_datetime_range(naive) {
            return Conversion::Error;
        }
    }
    if assume_year && naive * 1_000_000 > now.micros() + SECONDS_PER_DAY * 1_000_000 {
        // `replace(year=year-1, month=month, day=day)` keeps the (possibly shifted) time of day.
        let time_of_day = naive.rem_euclid(SECONDS_PER_DAY);
        if year - 1 < 1 || day > days_in_month(year - 1, month) {
            return Conversion::Invalid;
        }
        naive = days_from_civil(year - 1, month, day) * SECONDS_PER_DAY + time_of_day;
    }
    match zone {
        Some(_) => Conversion::Time(naive as f64),
        None => local_to_unix(naive, ctx, now.cache),
    }
}

fn in_datetime_range(naive: i64) -> bool {
    let days = naive.div_euclid(SECONDS_PER_DAY);
    (days_from_civil(1, 1, 1)..=days_from_civil(9999, 12, 31)).contains(&days)
}

/// Python's `datetime(year, month, day, hour, minute, second)`, `None` when it raises.
fn naive_datetime(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second);
    valid.then(|| {
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Python's `_calc_julian_from_U_or_W`.
fn julian_from_week(year: i64, week: i64, weekday: i64, starts_monday: bool) -> i64 {
    // Python's weekday(): Monday is 0; 1970-01-01 was a Thursday (3).
    let mut first_weekday = (days_from_civil(year, 1, 1) + 3).rem_euclid(7);
    let mut weekday = weekday;
    if !starts_monday {
        first_weekday = (first_weekday + 1) % 7;
        weekday = (weekday + 1) % 7;
    }
    let week_0_length = (7 - first_weekday) % 7;
    if week == 0 {
        1 + weekday - first_weekday
    } else {
        1 + week_0_length + 7 * (week - 1) + weekday
    }
}

/// Conversions repeated line after line, cached per detector: "now" in local time (the same
/// `now` for a batch of lines) and the local offset of the last hour converted.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeCache {
    tz: Option<TimeZone>,
    /// `now` (as bits) and its naive local value in microseconds.
    now: Option<(u64, i64)>,
    /// A naive local hour (seconds / 3600) and its one, unambiguous UTC offset.
    hour: Option<(i64, i64)>,
}

impl TimeCache {
    /// Forgets everything when the time zone is not the cached one.
    fn follow(&mut self, tz: &TimeZone) {
        if !self.tz.as_ref().is_some_and(|cached| same_zone(cached, tz)) {
            *self = TimeCache {
                tz: Some(tz.clone()),
                now: None,
                hour: None,
            };
        }
    }
}

/// Zone equality, cheap for the usual case of a clone of the cached zone: clones share their
/// name, so equal name pointers mean the same zone. jiff's own equality looks the name up in
/// the zone database on every call (measured: ~5% of a whole `ferroban regex` run).
pub(crate) fn same_zone(a: &TimeZone, b: &TimeZone) -> bool {
    match (a.iana_name(), b.iana_name()) {
        (Some(x), Some(y)) if std::ptr::eq(x, y) => true,
        _ => a == b,
    }
}

/// `MyTime.now()`: "now" as a naive local date-time, computed on first use.
struct LocalNow<'a> {
    ctx: &'a TimeContext,
    cache: &'a mut TimeCache,
}

impl LocalNow<'_> {
    /// Naive local "now" in microseconds since 1970-01-01T00:00:00 (Python's
    /// `datetime.fromtimestamp`, rounding to the microsecond).
    fn micros(&mut self) -> i64 {
        let bits = self.ctx.now.to_bits();
        if let Some((cached_bits, micros)) = self.cache.now
            && cached_bits == bits
        {
            return micros;
        }
        let value = naive_local_micros(self.ctx);
        self.cache.now = Some((bits, value));
        value
    }

    fn civil_date(&mut self) -> (i64, i64, i64) {
        civil_from_days(self.micros().div_euclid(SECONDS_PER_DAY * 1_000_000))
    }

    fn year(&mut self) -> i64 {
        self.civil_date().0
    }
}

fn naive_local_micros(ctx: &TimeContext) -> i64 {
    let now = if ctx.now.is_finite() { ctx.now } else { 0.0 };
    let seconds = now.floor();
    let mut micros = ((now - seconds) * 1e6).round() as i64;
    let mut seconds = seconds.clamp(-1e15, 1e15) as i64;
    if micros >= 1_000_000 {
        seconds += 1;
        micros -= 1_000_000;
    }
    let offset = Timestamp::from_second(seconds)
        .map(|ts| i64::from(ctx.tz.to_offset(ts).seconds()))
        .unwrap_or(0);
    (seconds + offset)
        .saturating_mul(1_000_000)
        .saturating_add(micros)
}

/// `time.mktime` of a naive local date-time. glibc resolves a repeated hour (DST end) to the
/// later, standard-time instant and a skipped hour to the later side too, which is jiff's
/// `later()`.
fn local_to_unix(naive: i64, ctx: &TimeContext, cache: &mut TimeCache) -> Conversion {
    let hour = naive.div_euclid(3600);
    if let Some((cached_hour, offset)) = cache.hour
        && cached_hour == hour
    {
        return Conversion::Time((naive - offset) as f64);
    }
    let Some(seconds) = mktime(naive, &ctx.tz) else {
        return Conversion::Error;
    };
    // Cache the hour only when its first and last second have this same, plain offset.
    let offset = naive - seconds;
    let plain = |naive: i64| {
        naive_datetime_of(naive)
            .map(|dt| ctx.tz.to_ambiguous_timestamp(dt))
            .is_ok_and(|ambiguous| match ambiguous.offset() {
                jiff::tz::AmbiguousOffset::Unambiguous { offset: found } => {
                    i64::from(found.seconds()) == offset
                }
                _ => false,
            })
    };
    if plain(hour * 3600) && plain(hour * 3600 + 3599) {
        cache.hour = Some((hour, offset));
    }
    Conversion::Time(seconds as f64)
}

fn mktime(naive: i64, tz: &TimeZone) -> Option<i64> {
    let datetime = naive_datetime_of(naive).ok()?;
    tz.to_ambiguous_timestamp(datetime)
        .later()
        .ok()
        .map(Timestamp::as_second)
}

fn naive_datetime_of(naive: i64) -> Result<jiff::civil::DateTime, jiff::Error> {
    let seconds = naive.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(naive.div_euclid(SECONDS_PER_DAY));
    jiff::civil::DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        (seconds / 3600) as i8,
        (seconds % 3600 / 60) as i8,
        (seconds % 60) as i8,
        0,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn year_regex_matches_fail2ban_for_2026() {
        assert_eq!(year_regex(2026), r"(?P<Y>20[012]\d)");
    }

    #[test]
    fn zone_offsets_follow_fail2ban() {
        assert_eq!(zone_offset("UTC+0200"), Ok(120));
        assert_eq!(zone_offset("UTC-06"), Ok(-360));
        assert_eq!(zone_offset("CEST"), Ok(120));
        assert_eq!(zone_offset("+02:30"), Ok(150));
        assert_eq!(zone_offset("-0030"), Ok(-30));
        assert_eq!(zone_offset("NPT"), Ok(345));
        assert_eq!(zone_offset("UTC"), Ok(0));
        assert_eq!(zone_offset("ABCD"), Err(ZoneError::UnknownAbbreviation));
        assert_eq!(zone_offset("Europe/Berlin"), Err(ZoneError::Malformed));
        assert_eq!(zone_offset("UTC+2"), Err(ZoneError::Malformed));
        assert_eq!(zone_offset("+25"), Err(ZoneError::Malformed));
    }

    #[test]
    fn civil_day_round_trip() {
        for days in [-719_162, -1, 0, 1, 12_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2005, 8, 14), 13_009);
    }

    #[test]
    fn week_numbers_give_python_julian_days() {
        // Python: _calc_julian_from_U_or_W(2005, 33, 6, False) == 226 (Sunday Aug 14 2005)
        assert_eq!(julian_from_week(2005, 33, 6, false), 226);
        assert_eq!(julian_from_week(2005, 32, 6, true), 226);
    }
}
