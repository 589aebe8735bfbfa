//! The database through the real `ferroban server` and a real SQLite file: `dbpurgeage`
//! (purged at start and every purge interval, as fail2ban's observer does hourly), and
//! `bantime.increment` with `bantime.maxtime`, `bantime.rndtime` and
//! `bantime.overalljails` over repeated bans of the same address.
//!
//! The file is read and aged with the `sqlite3` tool; tests skip without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, wait_until};

const OLD: &str = "192.0.2.10";
const FRESH: &str = "192.0.2.20";
const NEW: &str = "192.0.2.30";

/// Runs `query` on the test's database with the `sqlite3` tool; `None` when the tool is
/// missing.
fn sql(dir: &TestDir, query: &str) -> Option<String> {
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(dir.path("ferroban.sqlite3"))
        .arg(query)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sqlite3_or_skip() -> bool {
    let found = Command::new("sqlite3").arg("-version").output().is_ok();
    if !found {
        eprintln!("skipped: the sqlite3 tool is missing");
    }
    found
}

/// A configuration with a `record` action and the given jails (`[name]` + options).
fn config(dir: &TestDir, jails: &str) {
    crate::daemon_common::e2e_base(dir);
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionban = echo ban <ip> <bantime> >> {0}\n\
             actionunban = echo unban <ip> >> {0}\n",
            dir.path("record").display()
        ),
    );
    dir.write_conf("jail.conf", jails);
}

fn jail(dir: &TestDir, name: &str, options: &str) -> String {
    format!(
        "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 3\n\
         ignoreself = false\naction = record\n{options}\n",
        dir.path(&format!("{name}.log")).display()
    )
}

fn ban(server: &ServerProcess, jail: &str, ips: &[&str]) {
    let mut args = vec!["set", jail, "banip"];
    args.extend_from_slice(ips);
    let (ok, text) = server.client(&args);
    assert!(
        ok && text.trim() == ips.len().to_string(),
        "banip {ips:?}: {text}"
    );
}

/// The ban times `get JAIL banip --with-time` shows, by address.
fn ban_times(server: &ServerProcess, jail: &str) -> Vec<(String, i64)> {
    let (_, text) = server.client(&["get", jail, "banip", "--with-time"]);
    let mut times: Vec<(String, i64)> = text
        .lines()
        .filter_map(|line| {
            let (ip, rest) = line.split_once(" \t")?;
            let seconds = rest.split(" + ").nth(1)?.split(' ').next()?;
            Some((ip.trim().to_string(), seconds.parse().ok()?))
        })
        .collect();
    times.sort();
    times
}

fn ban_time_of(server: &ServerProcess, jail: &str, ip: &str) -> Option<i64> {
    ban_times(server, jail)
        .into_iter()
        .find(|(id, _)| id == ip)
        .map(|(_, seconds)| seconds)
}

/// The addresses with rows in `bans`, sorted.
fn banned_rows(dir: &TestDir) -> Vec<String> {
    let text = sql(dir, "SELECT DISTINCT ip FROM bans ORDER BY ip").unwrap();
    text.lines().map(str::to_string).collect()
}

#[test]
fn dbpurgeage_purges_old_bans_at_start_and_while_running() {
    if !sqlite3_or_skip() {
        return;
    }
    let dir = TestDir::new();
    config(&dir, &jail(&dir, "alpha", "bantime = 600"));
    dir.write_conf("fail2ban.d/purge.local", "[Definition]\ndbpurgeage = 1h\n");
    let mut server = ServerProcess::start_here(&dir);
    let (_, age) = server.client(&["get", "dbpurgeage"]);
    assert!(age.contains("3600"), "{age}");
    ban(&server, "alpha", &[OLD, FRESH]);
    server.stop();
    assert_eq!(banned_rows(&dir), [OLD, FRESH]);

    // OLD was banned two hours ago, longer ago than dbpurgeage.
    sql(
        &dir,
        &format!(
            "UPDATE bans SET time_of_ban = time_of_ban - 7200 WHERE ip = '{OLD}';\
             UPDATE bips SET time_of_ban = time_of_ban - 7200 WHERE ip = '{OLD}';"
        ),
    );
    let mut server = ServerProcess::start_here(&dir);
    assert_eq!(banned_rows(&dir), [FRESH], "purged at start");
    let bips = sql(&dir, "SELECT ip FROM bips ORDER BY ip").unwrap();
    assert_eq!(bips.trim(), FRESH, "the outdated latest ban too");
    assert_eq!(ban_times(&server, "alpha").len(), 1, "FRESH is restored");
    server.stop();

    // While running, the purge comes round every interval (an hour by default).
    let server = ServerProcess::start_here_with_env(&dir, &[("FERROBAN_DB_PURGE_INTERVAL", "1")]);
    ban(&server, "alpha", &[NEW]);
    sql(
        &dir,
        &format!("UPDATE bans SET time_of_ban = time_of_ban - 7200 WHERE ip = '{FRESH}'"),
    );
    let purged = wait_until(Duration::from_secs(10), || {
        !banned_rows(&dir).contains(&FRESH.to_string())
    });
    assert!(
        purged,
        "rows: {:?}; log:\n{}",
        banned_rows(&dir),
        dir.log_text()
    );
    assert_eq!(banned_rows(&dir), [NEW], "a fresh ban stays");
}

/// fail2ban's default formula `bantime * 2**count`, cut to `bantime.maxtime`; with
/// `bantime.overalljails` the count is the address's bans in every jail.
#[test]
fn bantime_maxtime_caps_and_overalljails_counts_other_jails() {
    if !sqlite3_or_skip() {
        return;
    }
    let dir = TestDir::new();
    let alpha = jail(
        &dir,
        "alpha",
        "bantime = 2\nbantime.increment = true\nbantime.maxtime = 5",
    );
    let beta = jail(
        &dir,
        "beta",
        "bantime = 2\nbantime.increment = true\nbantime.overalljails = true",
    );
    let gamma = jail(&dir, "gamma", "bantime = 2\nbantime.increment = true");
    config(&dir, &format!("{alpha}\n{beta}\n{gamma}"));
    let server = ServerProcess::start_here(&dir);

    // 2, then 2*2, then 2*4 = 8 cut to 5.
    for expected in [2, 4, 5] {
        ban(&server, "alpha", &[OLD]);
        assert_eq!(
            ban_time_of(&server, "alpha", OLD),
            Some(expected),
            "log:\n{}",
            dir.log_text()
        );
        if expected < 5 {
            let over = wait_until(Duration::from_secs(10), || {
                ban_time_of(&server, "alpha", OLD).is_none()
            });
            assert!(over, "ban of {expected} s ended");
        }
    }
    let counts = sql(
        &dir,
        &format!("SELECT jail, ban_count, ban_time FROM bips WHERE ip = '{OLD}'"),
    )
    .unwrap();
    assert_eq!(counts.trim(), "alpha|3|5", "{counts}");

    // Three bans in alpha: 2 * 2**3 in beta, which counts every jail ...
    ban(&server, "beta", &[OLD]);
    assert_eq!(ban_time_of(&server, "beta", OLD), Some(16));
    let beta_count = sql(&dir, "SELECT ban_count FROM bips WHERE jail = 'beta'").unwrap();
    assert_eq!(beta_count.trim(), "4", "counted on from every jail's bans");
    // ... and the base time in gamma, which counts its own (none).
    ban(&server, "gamma", &[OLD]);
    assert_eq!(ban_time_of(&server, "gamma", OLD), Some(2));
}

/// `bantime.rndtime` adds up to that many random seconds to an increased ban (not to a
/// first ban, which the formula does not touch), after the `maxtime` cut.
#[test]
fn bantime_rndtime_adds_a_bounded_random_part() {
    if !sqlite3_or_skip() {
        return;
    }
    let dir = TestDir::new();
    config(
        &dir,
        &jail(
            &dir,
            "alpha",
            "bantime = 2\nbantime.increment = true\nbantime.maxtime = 3\nbantime.rndtime = 60",
        ),
    );
    let server = ServerProcess::start_here(&dir);
    let ips: Vec<String> = (1..=12).map(|n| format!("198.51.100.{n}")).collect();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    ban(&server, "alpha", &ips);
    let first = ban_times(&server, "alpha");
    assert_eq!(first.len(), 12);
    assert!(first.iter().all(|(_, t)| *t == 2), "{first:?}");
    let over = wait_until(Duration::from_secs(10), || {
        ban_times(&server, "alpha").is_empty()
    });
    assert!(over, "first bans ended");

    ban(&server, "alpha", &ips);
    let second = ban_times(&server, "alpha");
    assert_eq!(second.len(), 12);
    // 2 * 2 = 4 cut to 3, plus [0, 60) random seconds.
    assert!(
        second.iter().all(|(_, t)| (3..63).contains(t)),
        "{second:?}"
    );
    let mut distinct: Vec<i64> = second.iter().map(|(_, t)| *t).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 1,
        "twelve draws of 60 values are not all alike: {second:?}"
    );
    let stored = sql(&dir, "SELECT DISTINCT ban_time FROM bips").unwrap();
    let mut stored: Vec<i64> = stored.lines().map(|l| l.parse().unwrap()).collect();
    stored.sort_unstable();
    assert_eq!(stored, distinct, "the database keeps the drawn times");
}
