//! fail2ban's sample logs: the time each `# failJSON:` annotation gives for the next line
//! must be the time we detect, with the filter's `datepattern` (read crudely from its
//! `.conf`; filters whose pattern needs INI interpolation are skipped).

use crate::{DateDetector, DateOutcome, TimeContext};
use std::path::{Path, PathBuf};

/// The `datepattern` a filter file sets itself, and its `before`/`after` includes.
fn own_datepattern(conf: &str) -> (Option<String>, Vec<String>, Vec<String>) {
    let (mut value, mut before, mut after) = (None::<String>, Vec::new(), Vec::new());
    let mut in_value = false;
    for line in conf.lines() {
        if in_value && line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            if let Some(value) = value.as_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        in_value = false;
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let words = || {
            rest.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match key.trim_end() {
            // The first one: later ones sit in other sections (common.conf's `lt_*`).
            "datepattern" if value.is_none() => {
                value = Some(rest.trim().to_string());
                in_value = true;
            }
            "before" => before = words(),
            "after" => after = words(),
            _ => {}
        }
    }
    (value, before, after)
}

/// The `datepattern` a filter ends up with (includes resolved crudely; common.conf's
/// `<lt_<logtype>/datepattern>` is `{^LN-BEG}` for file logs). `Err` when it needs
/// interpolation this test does not do.
fn filter_datepattern(filters: &Path, file: &str, depth: usize) -> Result<Option<String>, String> {
    let conf = std::fs::read_to_string(filters.join(file)).unwrap_or_default();
    let (own, before, after) = own_datepattern(&conf);
    let mut value = None;
    for include in before.iter().filter(|_| depth < 4) {
        value = filter_datepattern(filters, include, depth + 1)?.or(value);
    }
    value = own.or(value);
    for include in after.iter().filter(|_| depth < 4) {
        value = filter_datepattern(filters, include, depth + 1)?.or(value);
    }
    match value {
        Some(value) if value == "<lt_<logtype>/datepattern>" => Ok(Some("{^LN-BEG}".to_string())),
        Some(value) if ["<lt_", "<L_", "%("].iter().any(|s| value.contains(s)) => Err(value),
        Some(value) => Ok(Some(value.replace("%%", "%"))),
        None => Ok(None),
    }
}

/// `time.mktime(strptime(t, "%Y-%m-%dT%H:%M:%S[.%f]"))` plus the fraction.
fn annotation_time(text: &str, ctx: &TimeContext) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let datetime: jiff::civil::DateTime = whole.parse().ok()?;
    let seconds = ctx
        .tz
        .to_ambiguous_timestamp(datetime)
        .later()
        .ok()?
        .as_second() as f64;
    let micros = if fraction.is_empty() {
        0.0
    } else {
        format!("0.{fraction}").parse().ok()?
    };
    Some(seconds + micros)
}

#[derive(Debug, Default)]
struct Tally {
    agree: usize,
    disagree: Vec<String>,
    no_time: Vec<String>,
    skipped_files: Vec<String>,
}

fn check_file(path: &Path, pattern: Option<&str>, ctx: &TimeContext, tally: &mut Tally) {
    let Ok(content) = std::fs::read(path) else {
        return;
    };
    let content = String::from_utf8_lossy(&content);
    let mut detector = match pattern {
        Some(pattern) => DateDetector::from_pattern(pattern).expect("stock datepattern"),
        None => DateDetector::new_default(),
    };
    // common.conf's `lt_rfc5424/datepattern`, for blocks with that logtype.
    let mut rfc5424 = DateDetector::from_pattern(r"^<\d+>\d+\s+{DATE}").expect("stock datepattern");
    let mut expected: Option<String> = None;
    let (mut journal, mut use_rfc5424) = (false, false);
    for line in content.lines() {
        if let Some(options) = line.strip_prefix("# filterOptions:") {
            let logtype = |name: &str| options.contains(&format!(r#""logtype": "{name}""#));
            (journal, use_rfc5424) = (logtype("journal"), logtype("rfc5424"));
            continue;
        }
        if let Some(annotation) = line.strip_prefix("# failJSON:") {
            expected = annotation_field(annotation, "time")
                .filter(|_| annotation.contains(r#""match": true"#));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() || journal {
            continue;
        }
        let active = if use_rfc5424 {
            &mut rfc5424
        } else {
            &mut detector
        };
        let found = active.find_date(line.trim_end_matches('\r'), ctx);
        let Some(want) = expected.take() else {
            continue;
        };
        let Some(want_time) = annotation_time(&want, ctx) else {
            continue;
        };
        match found.map(|f| f.outcome) {
            Some(DateOutcome::Time(got)) if (got - want_time).abs() < 1e-6 => tally.agree += 1,
            Some(DateOutcome::Time(got)) => tally.disagree.push(format!(
                "{}: {line:?}: got {got}, want {want_time} ({want})",
                path.display()
            )),
            other => tally
                .no_time
                .push(format!("{}: {line:?}: {other:?}", path.display())),
        }
    }
}

fn annotation_field(annotation: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":");
    let rest = annotation[annotation.find(&key)? + key.len()..].trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

#[test]
fn sample_logs_agree_with_fail2ban_annotations() {
    let Some(corpus) = ferroban_testdata::fail2ban_dir() else {
        return;
    };
    let logs = corpus.join("usr/lib/python3/dist-packages/fail2ban/tests/files/logs");
    let entries = std::fs::read_dir(&logs)
        .unwrap_or_else(|error| panic!("fail2ban sample logs at {}: {error}", logs.display()));
    let filters = corpus.join("etc/fail2ban/filter.d");
    let ctx = TimeContext::from_tz_env(super::NOW, Some(super::TZ));
    let mut tally = Tally::default();
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        match filter_datepattern(&filters, &format!("{name}.conf"), 0) {
            Ok(pattern) => check_file(&path, pattern.as_deref(), &ctx, &mut tally),
            Err(pattern) => tally.skipped_files.push(format!("{name} ({pattern})")),
        }
    }
    println!(
        "sample logs: {} agree, {} disagree, {} without a time, skipped {:?}",
        tally.agree,
        tally.disagree.len(),
        tally.no_time.len(),
        tally.skipped_files
    );
    for line in tally.disagree.iter().chain(&tally.no_time) {
        println!("  {line}");
    }
    assert!(
        tally.agree > 500,
        "too few annotated lines checked: {}",
        tally.agree
    );
    assert!(
        tally.disagree.is_empty(),
        "{} lines disagree",
        tally.disagree.len()
    );
}
