//! The registry is process-wide: each test uses its own jail names.

use super::process::{parse_boot_time, parse_max_fds, parse_rss, parse_stat};
use super::*;

fn status(failed: usize, total_failed: u64, banned: usize, total_banned: u64) -> JailStatus {
    JailStatus {
        currently_failed: failed,
        total_failed,
        currently_banned: banned,
        total_banned,
        banned: Vec::new(),
    }
}

/// The value of the series `name{labels}` in the exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn every_family_has_help_and_type_with_prometheus_names() {
    JailMetrics::new("unit-names");
    SourceMetrics::new("unit-names").file_totals(Path::new("/unit/names.log"), 0, 0);
    let text = encode();
    for (name, kind) in [
        ("ferroban_build_info", "gauge"),
        ("ferroban_failures_total", "counter"),
        ("ferroban_bans_total", "counter"),
        ("ferroban_unbans_total", "counter"),
        ("ferroban_currently_banned", "gauge"),
        ("ferroban_currently_failed", "gauge"),
        ("ferroban_lines_read_total", "counter"),
        ("ferroban_lines_without_date_total", "counter"),
        ("ferroban_source_read_bytes_total", "counter"),
        ("ferroban_source_rotations_total", "counter"),
        ("ferroban_action_errors_total", "counter"),
        ("ferroban_action_duration_seconds", "histogram"),
        ("process_cpu_seconds_total", "counter"),
        ("process_start_time_seconds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
    ] {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")),
            "{name} {kind}:\n{text}"
        );
        let help = format!("# HELP {name} ");
        assert!(
            text.starts_with(&help) || text.contains(&format!("\n{help}")),
            "{name}"
        );
    }
    let version = format!(
        "ferroban_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&version), "{text}");
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(value(&text, "process_open_fds").unwrap() >= 3.0);
}

#[test]
fn jail_counters_move_by_the_tracker_differences() {
    let mut jail = JailMetrics::new("unit-jail");
    jail.publish(&status(1, 2, 0, 0));
    jail.publish(&status(0, 3, 1, 1));
    let text = encode();
    let series = |name: &str| value(&text, &format!("{name}{{jail=\"unit-jail\"}}"));
    assert_eq!(series("ferroban_failures_total"), Some(3.0));
    assert_eq!(series("ferroban_bans_total"), Some(1.0));
    assert_eq!(series("ferroban_unbans_total"), Some(0.0));
    assert_eq!(series("ferroban_currently_banned"), Some(1.0));
    assert_eq!(series("ferroban_currently_failed"), Some(0.0));
    // The ban is lifted; then the jail restarts with a new tracker, counting from zero.
    jail.publish(&status(0, 3, 0, 1));
    let mut restarted = JailMetrics::new("unit-jail");
    restarted.publish(&status(1, 1, 0, 0));
    let text = encode();
    let series = |name: &str| value(&text, &format!("{name}{{jail=\"unit-jail\"}}"));
    assert_eq!(series("ferroban_failures_total"), Some(4.0));
    assert_eq!(series("ferroban_unbans_total"), Some(1.0));
    assert_eq!(series("ferroban_currently_banned"), Some(0.0));
    assert_eq!(series("ferroban_currently_failed"), Some(1.0));
    restarted.stopped(&status(1, 1, 0, 0));
    let text = encode();
    assert!(
        !text.contains("ferroban_currently_failed{jail=\"unit-jail\"}"),
        "{text}"
    );
    assert!(
        text.contains("ferroban_failures_total{jail=\"unit-jail\"} 4"),
        "{text}"
    );
}

#[test]
fn source_counters_per_batch_and_per_file() {
    let mut source = SourceMetrics::new("unit-source");
    source.add_lines(10, 2);
    source.add_lines(5, 0);
    source.file_totals(Path::new("/var/log/a.log"), 100, 0);
    source.file_totals(Path::new("/var/log/a.log"), 250, 1);
    // Reopened: its totals start again.
    source.file_totals(Path::new("/var/log/a.log"), 40, 0);
    let text = encode();
    let jail = "{jail=\"unit-source\"}";
    let file = "{jail=\"unit-source\",path=\"/var/log/a.log\"}";
    assert_eq!(
        value(&text, &format!("ferroban_lines_read_total{jail}")),
        Some(15.0)
    );
    assert_eq!(
        value(&text, &format!("ferroban_lines_without_date_total{jail}")),
        Some(2.0)
    );
    assert_eq!(
        value(&text, &format!("ferroban_source_read_bytes_total{file}")),
        Some(290.0)
    );
    assert_eq!(
        value(&text, &format!("ferroban_source_rotations_total{file}")),
        Some(1.0)
    );
}

#[test]
fn action_errors_and_durations() {
    action_errors("unit-action", "ban", 2);
    action_errors("unit-action", "ban", 0);
    let answer = timed("unit-action", "ban", || 7);
    assert_eq!(answer, 7);
    let text = encode();
    let labels = "{jail=\"unit-action\",operation=\"ban\"}";
    assert_eq!(
        value(&text, &format!("ferroban_action_errors_total{labels}")),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            &format!("ferroban_action_duration_seconds_count{labels}")
        ),
        Some(1.0)
    );
    let inf = "{le=\"+Inf\",jail=\"unit-action\",operation=\"ban\"}";
    let alt = "{jail=\"unit-action\",operation=\"ban\",le=\"+Inf\"}";
    let bucket = value(
        &text,
        &format!("ferroban_action_duration_seconds_bucket{inf}"),
    )
    .or_else(|| {
        value(
            &text,
            &format!("ferroban_action_duration_seconds_bucket{alt}"),
        )
    });
    assert_eq!(bucket, Some(1.0), "{text}");
}

#[test]
fn label_values_are_escaped() {
    let mut source = SourceMetrics::new("unit-\"quoted\"\\jail");
    source.file_totals(Path::new("/tmp/new\nline.log"), 1, 0);
    let text = encode();
    assert!(
        text.contains("jail=\"unit-\\\"quoted\\\"\\\\jail\",path=\"/tmp/new\\nline.log\"}"),
        "{text}"
    );
}

#[test]
fn proc_files_are_parsed() {
    let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                250 50 0 0 20 0 3 0 123456 104857600 2560 18446744073709551615";
    let stat = parse_stat(stat).unwrap();
    assert_eq!(stat.cpu_seconds, 3.0);
    assert_eq!(stat.start_after_boot, 1234.56);
    assert_eq!(stat.virtual_bytes, 104_857_600.0);
    assert_eq!(parse_stat("garbage"), None);
    assert_eq!(
        parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
        Some(1_700_000_000.0)
    );
    assert_eq!(
        parse_rss("Name:\tferroban\nVmRSS:\t   10240 kB\n"),
        Some(10_485_760.0)
    );
    let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                  Max open files            1024                 524288               files\n";
    assert_eq!(parse_max_fds(limits), Some(1024.0));
    assert_eq!(
        parse_max_fds(
            "Max open files            unlimited            unlimited            files\n"
        ),
        None
    );
}
