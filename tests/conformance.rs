//! fail2ban's own filter test suite, run through ferroban.
//!
//! fail2ban ships a sample log for every stock filter; each sample line is preceded by a
//! `# failJSON: {...}` annotation saying whether it must match and with which host, time, user
//! and attempts, and `# filterOptions:` blocks say which filter options (`mode`, `logtype`)
//! the lines below are checked with. This test walks those files the way fail2ban's
//! `samplestestcase.py` does, with its "now" (2005-08-14 12:00 CEST) and time zone.
//!
//! Annotations that ferroban cannot meet yet are listed, with the reason, in
//! `tests/conformance-known-failures.txt` as `filter:line`; any other failure fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::support;

/// fail2ban's test "now": Sun Aug 14 12:00:00 CEST 2005.
const TEST_NOW: i64 = 1_124_013_600;
/// The time zone fail2ban's test suite runs in.
const TEST_TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";

/// One way a filter was read for a block of the sample file.
struct FilterUnderTest {
    label: String,
    options: BTreeMap<String, String>,
    journal: bool,
    prefix_line: String,
    filter: ferroban_filter::Filter,
}

/// What ferroban found on one line, in the terms of the annotations.
#[derive(Debug)]
struct Observed {
    failregex: usize,
    host: Option<String>,
    time: f64,
    fields: BTreeMap<String, Value>,
}

#[derive(Default)]
struct Outcome {
    checked: usize,
    failures: BTreeMap<String, String>,
}

#[test]
fn stock_filters_pass_fail2ban_sample_annotations() {
    let Some(dir) = support::fail2ban_dir() else {
        return;
    };
    let tests_dir = support::fail2ban_python(&dir).join("tests");
    let mut outcome = Outcome::default();
    let stock = dir.join("etc/fail2ban");
    let test_config = tests_dir.join("config");
    for (config_dir, name) in sample_filters(&stock, &test_config) {
        check_sample_file(
            &config_dir,
            &name,
            &tests_dir.join("files/logs"),
            &mut outcome,
        );
    }
    let known = known_failures();
    let unexpected: Vec<_> = outcome
        .failures
        .iter()
        .filter(|(place, _)| !known.contains_key(*place))
        .collect();
    let fixed: Vec<_> = known
        .keys()
        .filter(|place| !outcome.failures.contains_key(*place))
        .collect();
    eprintln!(
        "conformance: {} annotations checked, {} failed ({} listed as known)",
        outcome.checked,
        outcome.failures.len(),
        known.len()
    );
    assert!(
        outcome.checked > 1000,
        "too few annotations checked: {}",
        outcome.checked
    );
    let allowed = outcome.checked / 100;
    assert!(
        known.len() <= allowed,
        "known failures exceed 1%: {} > {allowed}",
        known.len()
    );
    let report: String = unexpected
        .iter()
        .map(|(place, why)| format!("{place}: {why}\n"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} unexpected failures:\n{report}",
        unexpected.len()
    );
    assert!(
        fixed.is_empty(),
        "listed as known failures but passing now, remove them: {fixed:?}"
    );
}

/// Stock filters (all `filter.d/*.conf` but `*common.conf`) and the test suite's `zzz-*` ones.
fn sample_filters(stock: &Path, test_config: &Path) -> Vec<(PathBuf, String)> {
    let mut filters = Vec::new();
    for (base, wanted) in [(stock, None), (test_config, Some("zzz-"))] {
        let Ok(entries) = fs::read_dir(base.join("filter.d")) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.ends_with(".conf") && !f.ends_with("common.conf"))
            .filter(|f| wanted.is_none_or(|prefix| f.starts_with(prefix)))
            .map(|f| f.trim_end_matches(".conf").to_string())
            .collect();
        names.sort();
        filters.extend(names.into_iter().map(|n| (base.to_path_buf(), n)));
    }
    filters
}

fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-known-failures.txt");
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (place, why) = l.split_once(' ').unwrap_or((l, ""));
            (place.to_string(), why.trim().to_string())
        })
        .collect()
}

/// Walks one sample file (and the files it adds with `addFILE`), as samplestestcase.py does.
fn check_sample_file(config_dir: &Path, name: &str, logs: &Path, outcome: &mut Outcome) {
    let mut files = vec![name.to_string()];
    let mut index = 0;
    let mut filters: Vec<FilterUnderTest> = Vec::new();
    let mut common: Map<String, Value> = Map::new();
    let mut ignore_block = false;
    while index < files.len() {
        let file = files[index].clone();
        index += 1;
        let bytes = fs::read(logs.join(&file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines().enumerate();
        while let Some((number, line)) = lines.next() {
            let Some((kind, json)) = annotation(line) else {
                continue;
            };
            let place = format!("{file}:{}", number + 1);
            let data: Value = match serde_json::from_str(json) {
                Ok(v) => v,
                Err(e) => panic!("{place}: bad annotation JSON: {e}"),
            };
            match kind {
                "fileOptions" => common = data.as_object().cloned().unwrap_or_default(),
                "addFILE" => files.extend(data.as_str().map(str::to_string)),
                "filterOptions" => {
                    filters.clear();
                    ignore_block = false;
                    let blocks = match data {
                        Value::Array(list) => list,
                        other => vec![other],
                    };
                    for block in blocks {
                        let mut opts = common.clone();
                        opts.extend(block.as_object().cloned().unwrap_or_default());
                        if let Some(condition) = opts.get("test.condition").and_then(Value::as_str)
                        {
                            ignore_block = !condition_holds(condition, name, &opts);
                        }
                        if !ignore_block {
                            filters.push(read_filter(config_dir, name, &opts, &place));
                        }
                    }
                }
                _ => {
                    // failJSON: the annotation describes the next line.
                    let Some((_, sample)) = lines.next() else {
                        break;
                    };
                    if ignore_block {
                        continue;
                    }
                    if filters.is_empty() {
                        filters.push(read_filter(config_dir, name, &Map::new(), &place));
                    }
                    let expected = data.as_object().cloned().unwrap_or_default();
                    let sample_place = format!("{file}:{}", number + 2);
                    for flt in &mut filters {
                        if let Some(c) = expected.get("constraint").and_then(Value::as_str) {
                            let opts: Map<String, Value> = flt
                                .options
                                .iter()
                                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                                .collect();
                            if !condition_holds(c, name, &opts) {
                                continue;
                            }
                        }
                        outcome.checked += 1;
                        let observed = run_line(flt, sample);
                        if let Err(why) = compare(&expected, &observed) {
                            let key = format!("{}:{sample_place}", flt.label);
                            outcome
                                .failures
                                .insert(key, format!("{why} | line: {sample}"));
                        }
                    }
                }
            }
        }
    }
}

/// `# failJSON: {...}`, `# filterOptions: ...`, `# fileOptions: ...`, `# addFILE: "..."`.
fn annotation(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start_matches('#');
    if rest.len() == line.len() {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (kind, json) = rest.split_once(':')?;
    matches!(
        kind,
        "failJSON" | "fileOptions" | "filterOptions" | "addFILE"
    )
    .then_some((kind, json))
}

/// The few Python expressions the sample files use as `constraint`/`test.condition`.
fn condition_holds(expr: &str, name: &str, opts: &Map<String, Value>) -> bool {
    let expr = expr.trim();
    let (left, right, equal) = if let Some((l, r)) = expr.split_once("!=") {
        (l.trim(), r.trim(), false)
    } else if let Some((l, r)) = expr.split_once("==") {
        (l.trim(), r.trim(), true)
    } else {
        panic!("unsupported sample condition: {expr}");
    };
    let literal = right.trim_matches('\'').trim_matches('"');
    let value = if left == "name" {
        Some(name.to_string())
    } else if let Some(key) = left
        .strip_prefix("opts.get(")
        .and_then(|k| k.strip_suffix(')'))
    {
        let key = key.trim_matches('\'').trim_matches('"');
        opts.get(key).and_then(Value::as_str).map(str::to_string)
    } else {
        panic!("unsupported sample condition: {expr}");
    };
    (value.as_deref() == Some(literal)) == equal
}

fn read_filter(
    config_dir: &Path,
    name: &str,
    opts: &Map<String, Value>,
    place: &str,
) -> FilterUnderTest {
    let options: BTreeMap<String, String> = opts
        .iter()
        .filter(|(k, _)| !k.starts_with("test."))
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    let label = if options.is_empty() {
        name.to_string()
    } else {
        let parts: Vec<String> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{name}[{}]", parts.join(","))
    };
    let journal = options.get("logtype").is_some_and(|t| t == "journal");
    let prefix_line = opts
        .get("test.prefix-line")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let filter = adapter::build(config_dir, name, &options)
        .unwrap_or_else(|e| panic!("{place}: filter {label} does not load: {e}"));
    FilterUnderTest {
        label,
        options,
        journal,
        prefix_line,
        filter,
    }
}

fn run_line(flt: &mut FilterUnderTest, line: &str) -> Vec<Observed> {
    if flt.journal {
        let line = format!("{}{line}", flt.prefix_line);
        adapter::process(&mut flt.filter, &line, Some(TEST_NOW as f64))
    } else {
        adapter::process(&mut flt.filter, line, None)
    }
}

/// Compares as samplestestcase.py does: failures without an id or flagged `nofail` do not count,
/// exactly one may remain when a match is expected, and each annotated key must agree.
fn compare(expected: &Map<String, Value>, observed: &[Observed]) -> Result<(), String> {
    let must_match = expected
        .get("match")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match (must_match, observed) {
        (false, []) => return Ok(()),
        (false, found) => return Err(format!("matched when it should not: {found:?}")),
        (true, []) => return Err("not matched".into()),
        (true, [_]) => {}
        (true, found) => {
            return Err(format!(
                "several regexes matched: {:?}",
                found.iter().map(|f| f.failregex).collect::<Vec<_>>()
            ));
        }
    }
    let found = &observed[0];
    for (key, want) in expected {
        match key.as_str() {
            "match" | "desc" | "constraint" => {}
            "time" if want.is_null() => {}
            "time" => {
                let want_time = json_local_time(want).ok_or("bad time in annotation")?;
                if (found.time - want_time).abs() > 1e-6 {
                    return Err(format!("time {} != {want_time} ({want})", found.time));
                }
            }
            "host" => {
                let got = found.host.clone().map(Value::String).unwrap_or(Value::Null);
                if !same_host(&got, want) {
                    return Err(format!("host {got} != {want}"));
                }
            }
            other => {
                let got = found.fields.get(other).cloned().unwrap_or(Value::Null);
                if !same_value(&got, want) {
                    return Err(format!("{other} {got} != {want}"));
                }
            }
        }
    }
    Ok(())
}

/// samplestestcase.py compares fail2ban's failure id, an `IPAddr`, whose `==` reads the
/// expected text as an address too (`2001:DB8::1` equals `2001:db8::1`).
fn same_host(got: &Value, want: &Value) -> bool {
    let address = |v: &Value| v.as_str().and_then(|t| t.parse::<std::net::IpAddr>().ok());
    got == want || matches!((address(got), address(want)), (Some(a), Some(b)) if a == b)
}

/// Lists compare as sets, as `assertSortedEqual` does.
fn same_value(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Array(a), Value::Array(b)) => {
            let a: BTreeSet<String> = a.iter().map(Value::to_string).collect();
            let b: BTreeSet<String> = b.iter().map(Value::to_string).collect();
            a == b
        }
        _ => got == want,
    }
}

/// The annotation's time is local time in the test time zone, `%Y-%m-%dT%H:%M:%S` with optional
/// `.%f`, read as leniently as Python's `strptime` (one-digit fields are accepted).
fn json_local_time(value: &Value) -> Option<f64> {
    let text = value.as_str()?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i32>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (time, micros) = match time.split_once('.') {
        Some((t, fraction)) => (t, format!("{fraction:0<6}").get(..6)?.parse::<i64>().ok()?),
        None => (time, 0),
    };
    let mut time_parts = time.splitn(3, ':').map(|p| p.parse::<i8>().ok());
    let (hour, minute, second) = (
        time_parts.next()??,
        time_parts.next()??,
        time_parts.next()??,
    );
    let civil = jiff::civil::date(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .at(hour, minute, second, 0);
    let tz = jiff::tz::TimeZone::posix(TEST_TZ).ok()?;
    let timestamp = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
    Some(timestamp.as_second() as f64 + micros as f64 / 1e6)
}

/// The bridge between this test and the config/filter crates' APIs.
mod adapter {
    use super::*;
    use ferroban_date::TimeContext;
    use ferroban_filter::{Filter, FilterOptions};

    pub fn build(
        config_dir: &Path,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Filter, String> {
        let extra: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let spec =
            ferroban_config::load_filter(config_dir, name, &extra).map_err(|e| e.to_string())?;
        let mut filter = Filter::new(&spec.definition()).map_err(|e| e.to_string())?;
        // samplestestcase.py: returnRawHost, checkAllRegex, no find-time checks.
        filter.set_options(FilterOptions {
            check_all_regex: true,
            check_find_time: false,
            raw_host: true,
            ..FilterOptions::daemon(600.0)
        });
        Ok(filter)
    }

    pub fn process(filter: &mut Filter, line: &str, time: Option<f64>) -> Vec<Observed> {
        let result = match time {
            Some(t) => filter.process_line_with_time(line, t),
            None => filter.process_line(
                line,
                &TimeContext::from_tz_env(TEST_NOW as f64, Some(TEST_TZ)),
            ),
        };
        result
            .failures
            .into_iter()
            .filter(|f| f.id.is_some() && !f.nofail)
            .map(|f| {
                let mut fields = BTreeMap::new();
                for (key, value) in &f.groups {
                    fields.insert(key.clone(), Value::String(value.clone()));
                }
                let attempts = f.groups.get("attempts").and_then(|a| a.parse::<u64>().ok());
                fields.insert(
                    "attempts".into(),
                    Value::from(attempts.unwrap_or(f.matches.len() as u64)),
                );
                if !f.users.is_empty() {
                    fields.insert("users".into(), Value::from(f.users.clone()));
                }
                Observed {
                    failregex: f.failregex,
                    host: f.groups.get("host").cloned().or(f.id.clone()),
                    time: f.time.unwrap_or(f64::NAN),
                    fields,
                }
            })
            .collect()
    }
}

/// The shortcuts (a line that can only end a multi-line id without a failure is not
/// resolved into groups; a line without any literal the failregexes require is turned away
/// by a literal scan) change no result: every stock filter's sample log, read as a
/// daemon reads it, gives the same results line by line with the shortcuts on and off, and
/// read as fail2ban-regex counts it, the same outcomes and counts. (A daemon may skip the
/// prefregex of a line no failregex can match, so its `prefregex_matched` is not compared.)
#[test]
fn daemon_shortcuts_change_no_result() {
    use ferroban_date::TimeContext;
    use ferroban_filter::{Filter, FilterOptions};

    let Some(dir) = support::fail2ban_dir() else {
        return;
    };
    let logs = support::fail2ban_python(&dir).join("tests/files/logs");
    let stock = dir.join("etc/fail2ban");
    let (mut compared, mut with_shortcuts, mut gated) = (0_usize, Vec::new(), Vec::new());
    for (config_dir, name) in sample_filters(&stock, &stock) {
        let Ok(bytes) = fs::read(logs.join(&name)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let modes: &[&[(String, String)]] = &[&[], &[("mode".into(), "aggressive".into())]];
        for extra in modes {
            let Ok(spec) = ferroban_config::load_filter(&config_dir, &name, extra) else {
                continue;
            };
            // A mode some filter does not define does not compile: nothing to compare.
            let Ok(mut fast) = Filter::new(&spec.definition()) else {
                continue;
            };
            fast.set_options(FilterOptions {
                check_find_time: false,
                ..FilterOptions::daemon(600.0)
            });
            let mut plain = fast.clone();
            plain.set_shortcuts(false);
            if fast.shortcut_regexes() > 0 && extra.is_empty() {
                with_shortcuts.push(name.clone());
            }
            if fast.has_literal_gate() && extra.is_empty() {
                gated.push(name.clone());
            }
            // fail2ban-regex's counting: the same outcome, regexes and counts per line.
            let mut tool = fast.clone();
            tool.set_options(FilterOptions {
                failure_details: false,
                ..FilterOptions::regex_tool()
            });
            let mut tool_plain = tool.clone();
            tool_plain.set_shortcuts(false);
            let counted = |result: &ferroban_filter::LineResult| {
                let regexes: Vec<(usize, bool)> = result
                    .failures
                    .iter()
                    .map(|f| (f.failregex, f.nofail))
                    .collect();
                (result.outcome(), regexes)
            };
            let context = TimeContext::from_tz_env(TEST_NOW as f64, Some(TEST_TZ));
            for (number, line) in text.lines().enumerate() {
                if line.starts_with('#') {
                    continue;
                }
                let place = format!("{name} {extra:?} line {}: {line}", number + 1);
                let got = fast.process_line(line, &context);
                let want = plain.process_line(line, &context);
                let unprefixed =
                    |result: ferroban_filter::LineResult| ferroban_filter::LineResult {
                        prefregex_matched: false,
                        ..result
                    };
                assert_eq!(unprefixed(got), unprefixed(want), "daemon, {place}");
                let got = tool.process_line(line, &context);
                let want = tool_plain.process_line(line, &context);
                assert_eq!(counted(&got), counted(&want), "regex tool, {place}");
                compared += 1;
            }
            assert_eq!(tool.failregex_hits(), tool_plain.failregex_hits(), "{name}");
        }
    }
    eprintln!(
        "daemon shortcuts: {compared} sample lines compared; filters with shortcut regexes: {with_shortcuts:?}; with a literal gate: {gated:?}"
    );
    for expected in ["sshd", "dovecot", "postfix"] {
        assert!(
            gated.iter().any(|name| name == expected),
            "{expected} should have a literal gate: {gated:?}"
        );
    }
    assert!(
        with_shortcuts.iter().any(|name| name == "sshd"),
        "sshd's no-failure regexes should take the shortcut: {with_shortcuts:?}"
    );
    assert!(compared > 1000, "too few lines compared: {compared}");
}
