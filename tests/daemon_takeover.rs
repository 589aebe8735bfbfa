//! Taking over fail2ban's database: the real fail2ban-server (Debian's package) bans two
//! addresses from a failure burst and one through `fail2ban-client set JAIL banip`, with
//! `bantime.increment` on, and stops; `ferroban server` then starts on the same
//! configuration and `dbfile`. The bans come back with the time they had left, the backup
//! is fail2ban's file byte for byte, the ban count of an address banned again goes on from
//! fail2ban's, and the log resumes at fail2ban's position (lines written while neither
//! server ran are counted once, older ones not again).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::support::fail2ban_dir;

const FIRST: &str = "192.0.2.1";
const SECOND: &str = "192.0.2.2";
const MANUAL: &str = "192.0.2.3";
const LATER: &str = "192.0.2.50";
/// Long enough for fail2ban to stop and ferroban to start while the bans hold, short
/// enough to see one end and the address banned again.
const BAN_TIME: u64 = 20;

fn fail(log: &Path, host: &str, times: usize) {
    for _ in 0..times {
        append_line(
            log,
            &format!("{} host e2e: auth failed from {host}", syslog_now()),
        );
    }
}

/// The configuration both servers read: `e2e` filter, a `record` action appending to a
/// file, one jail with `bantime.increment`.
fn config(dir: &TestDir, log: &Path) {
    crate::daemon_common::e2e_base(dir);
    dir.write_conf("fail2ban.conf", "[Definition]\n");
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionban = echo ban <ip> <bantime> >> {0}\n\
             actionunban = echo unban <ip> >> {0}\n",
            dir.path("record").display()
        ),
    );
    dir.write_conf(
        "jail.conf",
        &format!(
            "[DEFAULT]\nbantime.increment = true\n\n[e2e]\nenabled = true\nfilter = e2e\n\
             logpath = {}\nbackend = polling\nmaxretry = 3\nfindtime = 600\nbantime = {BAN_TIME}\n\
             ignoreself = false\naction = record\n",
            log.display()
        ),
    );
}

/// Debian's fail2ban, run from the unpacked package.
struct Fail2ban {
    python_path: PathBuf,
    bin: PathBuf,
}

impl Fail2ban {
    fn new(f2b: &Path) -> Fail2ban {
        Fail2ban {
            python_path: f2b.join("usr/lib/python3/dist-packages"),
            bin: f2b.join("usr/bin"),
        }
    }

    fn run(&self, tool: &str, dir: &TestDir, args: &[&str]) -> Output {
        Command::new("python3")
            .arg(self.bin.join(tool))
            .arg("-c")
            .arg(dir.conf())
            .arg("-s")
            .arg(dir.socket())
            .args(args)
            .env("PYTHONPATH", &self.python_path)
            .output()
            .expect("run python3")
    }

    fn client(&self, dir: &TestDir, args: &[&str]) -> (bool, String) {
        let out = self.run("fail2ban-client", dir, args);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

/// Stops fail2ban-server if a failed assertion left it running.
struct Fail2banGuard<'a> {
    fail2ban: &'a Fail2ban,
    dir: &'a TestDir,
    running: bool,
}

impl Fail2banGuard<'_> {
    fn stop(&mut self) {
        let (ok, text) = self.fail2ban.client(self.dir, &["stop"]);
        assert!(ok, "fail2ban-client stop: {text}");
        let gone = wait_until(Duration::from_secs(20), || !self.dir.socket().exists());
        assert!(gone, "fail2ban-server did not stop");
        self.running = false;
    }
}

impl Drop for Fail2banGuard<'_> {
    fn drop(&mut self) {
        if self.running {
            let _ = self.fail2ban.client(self.dir, &["stop"]);
        }
    }
}

/// Runs `script` with Python's sqlite3 on `db` (the same SQLite fail2ban uses) and
/// returns its output.
fn python_sql(db: &Path, query: &str) -> String {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  for row in db.execute(sys.argv[2]):\n    print('|'.join(str(v) for v in row))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(query)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn record(dir: &TestDir) -> String {
    std::fs::read_to_string(dir.path("record")).unwrap_or_default()
}

fn total_failed(server: &ServerProcess) -> Option<u64> {
    let (_, text) = server.client(&["status", "e2e"]);
    let line = text.lines().find(|l| l.contains("Total failed:"))?;
    line.rsplit('\t').next()?.trim().parse().ok()
}

/// `ip \t2026-11-26 18:00:00 + 20 = 2026-11-26 18:00:20` → (start, ban time) by address.
fn bans_with_time(listing: &str) -> Vec<(String, String, u64)> {
    listing
        .lines()
        .filter_map(|line| {
            let (ip, rest) = line.split_once(" \t")?;
            let (start, rest) = rest.split_once(" + ")?;
            let ban_time = rest.split_once(" = ")?.0.trim().parse().ok()?;
            Some((ip.trim().to_string(), start.to_string(), ban_time))
        })
        .collect()
}

/// fail2ban's runs: a burst bans FIRST and SECOND, `banip` bans MANUAL, then a clean stop.
fn fill_with_fail2ban(f2b: &Path, dir: &TestDir, log: &Path) {
    let fail2ban = Fail2ban::new(f2b);
    let f2b_log = dir.path("fail2ban-server.log");
    let started = fail2ban.run(
        "fail2ban-server",
        dir,
        &["-b", "-x", "--logtarget", &f2b_log.display().to_string()],
    );
    assert!(started.status.success(), "fail2ban-server: {started:?}");
    let mut guard = Fail2banGuard {
        fail2ban: &fail2ban,
        dir,
        running: true,
    };
    let up = wait_until(Duration::from_secs(20), || {
        fail2ban.client(dir, &["ping"]).0
    });
    assert!(up, "fail2ban-server did not answer ping");
    fail(log, FIRST, 3);
    fail(log, SECOND, 3);
    let both = wait_until(Duration::from_secs(15), || {
        let text = record(dir);
        text.contains(&format!("ban {FIRST} ")) && text.contains(&format!("ban {SECOND} "))
    });
    let f2b_text = std::fs::read_to_string(&f2b_log).unwrap_or_default();
    assert!(both, "fail2ban banned both: {}\n{f2b_text}", record(dir));
    let (ok, text) = fail2ban.client(dir, &["set", "e2e", "banip", MANUAL]);
    assert!(ok, "banip: {text}");
    guard.stop();
}

#[test]
fn ferroban_takes_over_a_database_filled_by_fail2ban() {
    let Some(f2b) = fail2ban_dir() else { return };
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    append_line(&log, &format!("{} host e2e: started", syslog_now()));
    config(&dir, &log);
    fill_with_fail2ban(&f2b, &dir, &log);

    let db = dir.path("ferroban.sqlite3");
    let original = std::fs::read(&db).expect("fail2ban wrote its dbfile");
    let fail2ban_bans = python_sql(&db, "SELECT ip, timeofban, bancount FROM bips ORDER BY ip");
    assert_eq!(fail2ban_bans.lines().count(), 3, "{fail2ban_bans}");
    // Written while neither server runs: counted once by ferroban, never the burst again.
    fail(&log, LATER, 2);
    std::fs::remove_file(dir.path("record")).unwrap();

    let server = ServerProcess::start_here_with_env(&dir, &[("FERROBAN_TEST_CLOCK", "1")]);
    let backup = dir.path("ferroban.sqlite3.fail2ban.bak");
    assert!(
        std::fs::read(&backup).ok() == Some(original),
        "the backup is fail2ban's file as it was"
    );
    let takeover = dir
        .log_text()
        .lines()
        .find(|line| line.contains("fail2ban.database") && line.contains("Took over"))
        .map(str::to_string);
    let takeover = takeover.unwrap_or_else(|| panic!("no takeover logged:\n{}", dir.log_text()));
    assert!(
        takeover.contains("INFO") && takeover.contains(&backup.display().to_string()),
        "{takeover}"
    );

    let restored = || {
        let text = record(&dir);
        [FIRST, SECOND, MANUAL]
            .iter()
            .all(|ip| text.contains(&format!("ban {ip} ")))
    };
    assert!(
        wait_until(Duration::from_secs(10), restored),
        "restored bans reach the action: {}\n{}",
        record(&dir),
        dir.log_text()
    );
    let (_, status) = server.client(&["status", "e2e"]);
    for ip in [FIRST, SECOND, MANUAL] {
        assert!(status.contains(ip), "{status}");
    }
    check_remaining_time(&server, &fail2ban_bans);

    let counted_new_only = wait_until(Duration::from_secs(5), || total_failed(&server) == Some(2));
    assert!(
        counted_new_only,
        "only the 2 lines written after fail2ban stopped: {:?}\n{}",
        total_failed(&server),
        dir.log_text()
    );
    check_increment_goes_on(&server, &dir, &log, &db);
}

/// Each restored ban keeps fail2ban's time of ban, so it ends when it would have.
fn check_remaining_time(server: &ServerProcess, fail2ban_bans: &str) {
    let (_, listing) = server.client(&["get", "e2e", "banip", "--with-time"]);
    let bans = bans_with_time(&listing);
    assert_eq!(bans.len(), 3, "{listing}");
    for line in fail2ban_bans.lines() {
        let mut fields = line.split('|');
        let (ip, time_of_ban) = (fields.next().unwrap(), fields.next().unwrap());
        let time_of_ban: i64 = time_of_ban.parse().unwrap();
        let start = jiff::Timestamp::from_second(time_of_ban)
            .unwrap()
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        let found = bans.iter().find(|(id, ..)| id == ip);
        assert_eq!(
            found.map(|(_, start, ban_time)| (start.clone(), *ban_time)),
            Some((start, BAN_TIME)),
            "{ip} in {listing}"
        );
        let end = time_of_ban + BAN_TIME as i64;
        assert!(
            end > jiff::Timestamp::now().as_second(),
            "{ip} still banned"
        );
    }
}

/// FIRST's restored ban ends; banned again, it is its second ban (fail2ban's count goes
/// on) with the longer ban time `bantime.increment` gives.
fn check_increment_goes_on(server: &ServerProcess, dir: &TestDir, log: &Path, db: &Path) {
    // fail2ban banned FIRST at most a few seconds ago: the clock moves past its end.
    crate::record_jail::advance_clock(server, BAN_TIME as u32);
    let unbanned = wait_until(Duration::from_secs(10), || {
        record(dir).contains(&format!("unban {FIRST}"))
    });
    assert!(unbanned, "the restored ban ended: {}", record(dir));
    // Dated on the server's moved clock (a dateless line would take the last date seen).
    let moved = jiff::ZonedDateTime::now()
        .checked_add(jiff::SignedDuration::from_secs(BAN_TIME as i64))
        .unwrap();
    let date = moved.strftime("%b %e %H:%M:%S");
    for _ in 0..3 {
        let line = format!("{date} host e2e: auth failed from {FIRST}");
        crate::daemon_common::append_line(log, &line);
    }
    let rebanned = wait_until(Duration::from_secs(10), || {
        record(dir).matches(&format!("ban {FIRST} ")).count() == 2
    });
    assert!(
        rebanned,
        "banned again: {}\n{}",
        record(dir),
        dir.log_text()
    );
    let row = python_sql(
        db,
        &format!("SELECT ban_count, ban_time FROM bips WHERE ip = '{FIRST}'"),
    );
    let (count, ban_time) = row.trim().split_once('|').unwrap();
    assert_eq!(count, "2", "{row}");
    assert!(ban_time.parse::<u64>().unwrap() > BAN_TIME, "{row}");
    let (_, listing) = server.client(&["get", "e2e", "banip", "--with-time"]);
    let again = bans_with_time(&listing)
        .into_iter()
        .find(|(ip, ..)| ip == FIRST);
    assert!(
        again.is_some_and(|(_, _, ban_time)| ban_time > BAN_TIME),
        "{listing}"
    );
}
