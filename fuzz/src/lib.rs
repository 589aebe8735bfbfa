//! Fuzz target bodies for ferroban's parsers of untrusted text: the INI reader, the date
//! detector, the filter and the control socket's two dialects.
//!
//! Each body takes the fuzzer's bytes, reads them as text (lossily, as the log source decodes
//! lines) and drives one crate's public API the way the daemon and `fail2ban-regex` do. A body
//! passes when nothing panics, no search runs away and the results keep the invariants checked
//! here (spans inside the line, on character boundaries; finite times; ids from a failregex
//! that exists). `fuzz_targets/*.rs` hand the bodies to libFuzzer (`cargo fuzz`); the tests in
//! `tests/seeds.rs` run them on seed inputs and on proptest-generated ones with stable Rust.
//!
//! Input layout, so the fuzzer can reach configuration and lines together:
//! - [`ini`]: the whole input is one configuration file.
//! - [`date`]: the first line is `logtimezone<TAB>datepattern<TAB>datepattern…` (one part:
//!   only a datepattern); the other lines are log lines.
//! - [`filter`]: the first line is `failregex<TAB>prefregex<TAB>ignoreregex<TAB>datepattern`;
//!   the other lines are log lines, also fed to a fixed sshd-like filter.
//! - [`protocol`]: the whole input is one control-socket message, read as a pickle (fail2ban's
//!   dialect) and as a line of JSON (ferroban's); each of its lines is also a command typed on
//!   the client's command line.

#![deny(unsafe_code)]

use std::borrow::Cow;

use ferroban_date::{DateDetector, DateFound, DateOutcome, TimeContext};
use ferroban_filter::{Filter, FilterDefinition, FilterOptions, LineResult};
use ferroban_ini::{DEFAULT_SECTION, Ini, Options};
use ferroban_protocol::{Command, Request, fail2ban, pickle, read_message};

/// fail2ban's test "now" (2005-08-14 12:00 CEST) and a zone with daylight saving time, so
/// year inference and DST gaps are exercised.
const NOW: f64 = 1_124_013_600.0;
const TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";
/// Lines per input, so one input cannot make an iteration arbitrarily slow.
const MAX_LINES: usize = 256;

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn context() -> TimeContext {
    TimeContext::from_tz_env(NOW, Some(TZ))
}

/// The first line and the log lines after it.
fn header_and_lines(text: &str) -> (&str, impl Iterator<Item = &str> + Clone) {
    let (header, rest) = text.split_once('\n').unwrap_or((text, ""));
    (header, rest.lines().take(MAX_LINES))
}

/// The INI reader: parse, then interpolate every option of every section (own and
/// inherited), plain and with fail2ban's `section/option` forms.
pub fn ini(data: &[u8]) {
    let text = text(data);
    let (ini, _errors) = Ini::parse_str("fuzz.conf", &text);
    let vars = Options::new();
    let sections: Vec<String> = std::iter::once(DEFAULT_SECTION)
        .chain(ini.section_names())
        .map(str::to_string)
        .collect();
    for section in &sections {
        for option in ini.option_names(section, true) {
            let value = ini.get(section, &option, &vars);
            assert!(
                value.is_some(),
                "[{section}] {option} is listed but not found"
            );
            let _ = ini.get_ex(section, &option, &vars);
            let _ = ini.get_ex(section, &format!("known/{option}"), &vars);
            let _ = ini.get_ex(section, &format!("default/{option}"), &vars);
        }
    }
}

/// The date detector: the default templates over every line, then the input's datepattern
/// (and logtimezone) over the log lines.
pub fn date(data: &[u8]) {
    let text = text(data);
    let ctx = context();
    let mut default = DateDetector::new_default();
    for line in text.lines().take(MAX_LINES) {
        check_date(line, default.find_date(line, &ctx));
        let _ = default.match_time(line, &ctx);
    }
    let (header, lines) = header_and_lines(&text);
    let (zone, patterns) = match header.split_once('\t') {
        Some((zone, patterns)) => (Some(zone).filter(|z| !z.is_empty()), patterns),
        None => (None, header),
    };
    let Ok(mut detector) = DateDetector::from_pattern(&patterns.replace('\t', "\n")) else {
        return;
    };
    if detector.set_default_tz(zone).is_err() {
        return;
    }
    for line in lines {
        check_date(line, detector.find_date(line, &ctx));
    }
    let _ = detector.templates();
}

fn check_date(line: &str, found: Option<DateFound>) {
    let Some(found) = found else { return };
    assert!(
        found.start <= found.end && found.end <= line.len(),
        "{found:?} in {line:?}"
    );
    assert!(line.is_char_boundary(found.start) && line.is_char_boundary(found.end));
    if let DateOutcome::Time(time) = found.outcome {
        assert!(time.is_finite(), "{found:?} in {line:?}");
    }
}

/// The filter: the log lines through a fixed sshd-like filter as the daemon and as
/// `fail2ban-regex` run it, then through a filter built from the input's own regexes.
pub fn filter(data: &[u8]) {
    let text = text(data);
    for mut fixed in FIXED_FILTERS.with(Clone::clone) {
        run_lines(&mut fixed, text.lines().take(MAX_LINES));
    }
    let (header, lines) = header_and_lines(&text);
    let Some(definition) = definition_from(header) else {
        return;
    };
    if let Ok(mut custom) = Filter::new(&definition) {
        run_lines(&mut custom, lines);
    }
}

/// Each line in daemon mode (date from the line, from the journal, or a dated journal line),
/// then again as `fail2ban-regex --raw` runs it.
fn run_lines<'l>(filter: &mut Filter, lines: impl Iterator<Item = &'l str> + Clone) {
    let ctx = context();
    filter.set_options(FilterOptions::daemon(600.0));
    for (index, line) in lines.clone().enumerate() {
        let result = match index % 4 {
            1 => filter.process_line_with_time(line, NOW + index as f64),
            2 => filter.process_dated_line("Aug 14 12:00:00 ", line, NOW),
            _ => filter.process_line(line, &ctx),
        };
        check_result(filter, line, &result);
    }
    filter.set_options(FilterOptions {
        raw_host: true,
        ..FilterOptions::regex_tool()
    });
    for line in lines {
        let result = filter.process_line(line, &ctx);
        check_result(filter, line, &result);
    }
}

fn check_result(filter: &Filter, line: &str, result: &LineResult) {
    check_date(line, result.found_date);
    for failure in &result.failures {
        assert!(failure.failregex < filter.failregex_info().len());
        assert!(failure.time.is_none_or(f64::is_finite));
    }
    for index in &result.ignored {
        assert!(*index < filter.ignoreregex_info().len());
    }
    let _ = result.outcome();
}

thread_local! {
    /// The fixed filters, compiled once: each input runs on fresh clones of them (compiling
    /// them per input would cost most of an iteration).
    static FIXED_FILTERS: Vec<Filter> = [sshd_like(), multi_line_like()]
        .iter()
        .filter_map(|definition| Filter::new(definition).ok())
        .collect();
}

/// `failregex<TAB>prefregex<TAB>ignoreregex<TAB>datepattern` (empty parts: not set); the
/// header's length picks maxlines 1–3 so multi-line buffering is reached too.
fn definition_from(header: &str) -> Option<FilterDefinition> {
    let mut parts = header.split('\t');
    let failregex = parts.next().filter(|p| !p.is_empty())?;
    let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_string);
    Some(FilterDefinition {
        failregex: vec![failregex.to_string()],
        prefregex: next(),
        ignoreregex: next().into_iter().collect(),
        datepattern: next(),
        maxlines: 1 + header.len() % 3,
        ..FilterDefinition::default()
    })
}

/// A filter written in the style of fail2ban's sshd filter (not a copy of it): a prefregex
/// with a multi-line id and content, user and alt-user groups, look-around and a conditional
/// (backtracking engine), no-failure and forget markers, a plain F-ID with a tuple group, and
/// an ignoreregex.
pub fn sshd_like() -> FilterDefinition {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    FilterDefinition {
        prefregex: Some(
            r"^\s*<F-MLFID>(?:\[\w+\] )?(?:\S+ )?sshd(?:\[\d+\])?: </F-MLFID>(?:error: )?<F-CONTENT>.+</F-CONTENT>$"
                .into(),
        ),
        failregex: strings(&[
            r"^[aA]uthentication (?:failure|error|failed) for <F-USER>.*?</F-USER> from <HOST>(?: port \d+)?\s*$",
            r"^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\S+) for (?P<cond_inv>invalid user )?<F-USER>\S+</F-USER> from <HOST>(?(cond_inv)| port \d+)",
            r"^User <F-USER>\S+</F-USER> from <HOST> not allowed because (?!listed in AllowUsers)",
            r"^pam_unix\(sshd:auth\):\s+authentication failure;(?:\s+(?:logname|e?uid|tty)=\S*){0,4}\s+ruser=<F-ALT_USER>\S*</F-ALT_USER>\s+rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?\s*$",
            r"^<F-NOFAIL>Accepted</F-NOFAIL> \S+ for <F-USER>\S+</F-USER> from <HOST>",
            r"^<F-MLFFORGET>Disconnected</F-MLFFORGET> from <ADDR> port \d+",
            r"^Connection reset by <SUBNET>(?: port \d+)?\s*$",
            r"^session <F-ID>\S+</F-ID> refused for <F-TUPLE_USER>\S+</F-TUPLE_USER>$",
        ]),
        ignoreregex: strings(&[r" for ignored-user from "]),
        datepattern: None,
        maxlines: 1,
        logtimezone: None,
        usedns: Some("warn".into()),
    }
}

/// A multi-line filter in the style of fail2ban's proftpd/pure-ftpd ones: a three-line
/// buffer, `<SKIPLINES>` and a back-reference tying the lines of one process together, with
/// line-begin date templates and a fixed log time zone.
pub fn multi_line_like() -> FilterDefinition {
    FilterDefinition {
        failregex: vec![
            r"^.*? ftpd\[(?P<pid>\d+)\]: USER <F-USER>\S+</F-USER><SKIPLINES>.*? ftpd\[(?P=pid)\]: FAIL LOGIN from <HOST>$".into(),
            r"^.*? ftpd\[\d+\]: refused connect from <HOST> \(<F-ID>[^)]*</F-ID>\)$".into(),
        ],
        ignoreregex: vec![r"from 192\.0\.2\.99".into()],
        datepattern: Some("{^LN-BEG}".into()),
        maxlines: 3,
        logtimezone: Some("UTC+0200".into()),
        usedns: Some("no".into()),
        ..FilterDefinition::default()
    }
}

/// The control socket: a pickle decodes to plain data that encodes and decodes to itself, or
/// is refused; the same bytes as ferroban's JSON request; each line as typed words.
pub fn protocol(data: &[u8]) {
    if let Ok(value) = pickle::decode(data) {
        let again = pickle::decode(&pickle::encode(&value));
        assert!(
            again.as_ref().is_ok_and(|again| equal_values(again, &value)),
            "{value:?} re-read as {again:?}"
        );
    }
    let _ = fail2ban::command(data);
    let _ = read_message::<Request>(&mut &data[..]);
    for line in text(data).lines().take(MAX_LINES) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Ok(command) = Command::parse(&words) {
            let _ = command.jail();
            let _ = command.shown_key();
        }
    }
}

/// Equality where a float NaN equals itself (a pickle may carry one).
fn equal_values(a: &pickle::Value, b: &pickle::Value) -> bool {
    use pickle::Value;
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal_values(x, y))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| equal_values(k, l) && equal_values(v, w))
        }
        _ => a == b,
    }
}
