//! `match_time` on typical lines, once the detector has settled on a template.

use criterion::{Criterion, criterion_group, criterion_main};
use ferroban_date::{DateDetector, TimeContext};
use std::hint::black_box;

const LINES: [(&str, &str); 4] = [
    (
        "syslog",
        "Aug 14 11:51:00 host sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2",
    ),
    (
        "iso",
        "2005-08-14 11:51:00,123 fail2ban.actions: WARNING [sshd] Ban 192.0.2.1",
    ),
    (
        "apache",
        "192.0.2.1 - - [14/Aug/2005:11:51:00 +0200] \"GET / HTTP/1.1\" 404 209",
    ),
    (
        "no-date",
        "this line has no date at all, just some words and numbers 12345",
    ),
];

fn bench(c: &mut Criterion) {
    let ctx = TimeContext::from_tz_env(1_124_013_600.0, Some("CET-01CEST-02,M3.5.0,M10.5.0"));
    for (name, line) in LINES {
        let mut detector = DateDetector::new_default();
        for _ in 0..10 {
            detector.match_time(line, &ctx);
        }
        c.bench_function(&format!("match_time/{name}"), |b| {
            b.iter(|| detector.match_time(black_box(line), &ctx))
        });
    }
}

/// Syslog lines whose second changes every line: the conversion cache (same date text as the
/// line before) never hits, so this is the cost of the fast matcher plus the conversion.
fn bench_changing_seconds(c: &mut Criterion) {
    let ctx = TimeContext::from_tz_env(1_124_013_600.0, Some("CET-01CEST-02,M3.5.0,M10.5.0"));
    let lines: Vec<String> = (0..60)
        .map(|s| format!("Aug 14 11:51:{s:02} host sshd[1234]: Failed password for root"))
        .collect();
    let mut detector = DateDetector::new_default();
    for line in &lines {
        detector.match_time(line, &ctx);
    }
    let mut next = 0;
    c.bench_function("match_time/syslog-new-second", |b| {
        b.iter(|| {
            next = (next + 1) % lines.len();
            detector.match_time(black_box(&lines[next]), &ctx)
        })
    });
}

criterion_group!(benches, bench, bench_changing_seconds);
criterion_main!(benches);
