//! Takeovers of fail2ban files built with fail2ban's own `CREATE` statements.

use std::path::Path;

use rusqlite::Connection;

use crate::{BanData, LogPosition, SCHEMA_VERSION, Store, StoreError};

use super::{SkipReason, SkippedRow};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000;
const MD5: &str = "e1735158246b267bdc0ec11b0b4c1ecc";
/// What fail2ban 1.0 on Python 3 stores as `firstlinemd5` of the same line.
const SHA1: &str = "e32c72173d6151f438f6ff3a85c56a46ed99ca81";

/// fail2ban 1.0.2's `_CREATE_SCRIPTS` (schema version 4), verbatim.
const FAIL2BAN_V4: &str = "
CREATE TABLE IF NOT EXISTS fail2banDb(version INTEGER);
CREATE TABLE IF NOT EXISTS jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS jails_name ON jails(name);
CREATE TABLE IF NOT EXISTS logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0, FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path),UNIQUE(jail, path, firstlinemd5));
CREATE INDEX IF NOT EXISTS logs_path ON logs(path);
CREATE INDEX IF NOT EXISTS logs_jail_path ON logs(jail, path);
CREATE TABLE IF NOT EXISTS bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON, FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX IF NOT EXISTS bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX IF NOT EXISTS bans_jail_ip ON bans(jail, ip);
CREATE INDEX IF NOT EXISTS bans_ip ON bans(ip);
CREATE TABLE IF NOT EXISTS bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON, PRIMARY KEY(ip, jail), FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX IF NOT EXISTS bips_timeofban ON bips(timeofban);
CREATE INDEX IF NOT EXISTS bips_ip ON bips(ip);
INSERT INTO fail2banDb(version) VALUES(4);
";

/// fail2ban's schema version 2 (0.9): `bans` without `bantime`/`bancount`, no `bips`.
const FAIL2BAN_V2: &str = "
CREATE TABLE fail2banDb(version INTEGER);
CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0, FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path), UNIQUE(jail, path, firstlinemd5));
CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, data BLOB, FOREIGN KEY(jail) REFERENCES jails(name));
INSERT INTO fail2banDb(version) VALUES(2);
";

/// A fail2ban file at `dir/fail2ban.sqlite3` with `schema`, filled by `rows`.
fn fail2ban_file(
    dir: &Path,
    schema: &str,
    rows: &str,
) -> Result<std::path::PathBuf, rusqlite::Error> {
    let path = dir.join("fail2ban.sqlite3");
    let raw = Connection::open(&path)?;
    raw.execute_batch(schema)?;
    raw.execute_batch(rows)?;
    Ok(path)
}

/// `data` as fail2ban 1.0.2 under Python 3 writes it: JSON encoded to UTF-8 bytes.
fn blob(json: &str) -> String {
    let hex: String = json.bytes().map(|b| format!("{b:02x}")).collect();
    format!("X'{hex}'")
}

fn v4_rows() -> String {
    let good = blob(r#"{"matches": ["line 1", "line 2"], "failures": 3, "user": "root"}"#);
    let older = blob(r#"{"matches": ["line 0"], "failures": 2}"#);
    format!(
        "INSERT INTO jails VALUES('sshd', 1), ('old', 0);
         INSERT INTO logs VALUES('sshd', '/var/log/auth.log', '{MD5}', 1234);
         INSERT INTO logs VALUES('sshd', 'systemd-journal', '2026-11-26 18:00:00', 1700000000.5);
         INSERT INTO logs VALUES('sshd', '/var/log/bad.log', 'not an md5', 5);
         INSERT INTO logs VALUES('sshd', '/var/log/sha1.log', '{SHA1}', 11);
         INSERT INTO bans VALUES('sshd', '192.0.2.1', {older_time}, 600, 1, {older});
         INSERT INTO bans VALUES('sshd', '192.0.2.1', {now}, 1200, 2, {good});
         INSERT INTO bans VALUES('sshd', '2001:db8::/64', {now}, -1, 1, NULL);
         INSERT INTO bans VALUES('sshd', 'not-an-ip', {now}, 600, 1, NULL);
         INSERT INTO bans VALUES('sshd', '192.0.2.7', 'yesterday', 600, 1, NULL);
         INSERT INTO bans VALUES('sshd', '192.0.2.8', {now}, 600, 1, X'7b6e6f');
         INSERT INTO bips VALUES('192.0.2.1', 'sshd', {now}, 1200, 2, {good});
         INSERT INTO bips VALUES('2001:db8::/64', 'sshd', {now}, -1, 1, NULL);
         INSERT INTO bips VALUES('192.0.2.9', 'old', {now}, 600.5, 1, NULL);",
        older_time = NOW - 5000,
        now = NOW - 100,
    )
}

#[test]
fn a_fail2ban_v4_file_is_backed_up_byte_for_byte_then_migrated() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(dir.path(), FAIL2BAN_V4, &v4_rows())?;
    let original = std::fs::read(&path)?;
    let mut store = Store::open(&path)?;
    let report = store.take_takeover().ok_or("no takeover reported")?;
    assert_eq!(store.take_takeover(), None, "reported once");
    assert_eq!(report.fail2ban_version, 4);
    assert_eq!(
        report.backup,
        dir.path().join("fail2ban.sqlite3.fail2ban.bak")
    );
    assert!(
        std::fs::read(&report.backup)? == original,
        "the backup is the original's bytes"
    );
    assert_eq!(store.schema_version()?, SCHEMA_VERSION);
    assert_eq!(
        (report.jails, report.logs, report.history, report.bans),
        (2, 2, 3, 2)
    );
    let text = report.to_string();
    assert!(
        text.contains("(schema v4)") && text.contains(".fail2ban.bak"),
        "{text}"
    );
    drop(store);
    let mut again = Store::open(&path)?;
    assert_eq!(again.take_takeover(), None, "ferroban's now");
    Ok(())
}

#[test]
fn bad_rows_are_skipped_with_their_reason() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(dir.path(), FAIL2BAN_V4, &v4_rows())?;
    let mut store = Store::open(&path)?;
    let report = store.take_takeover().ok_or("no takeover reported")?;
    let reasons: Vec<(&str, &SkipReason)> = report
        .skipped
        .iter()
        .map(|SkippedRow { table, reason, .. }| (*table, reason))
        .collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons.contains(&("logs", &SkipReason::JournalTime)));
    assert!(reasons.contains(&("logs", &SkipReason::NotAnMd5("not an md5".into()))));
    assert!(reasons.contains(&("bans", &SkipReason::NotAnAddress("not-an-ip".into()))));
    assert!(reasons.iter().any(|(table, reason)| *table == "bans"
        && matches!(
            reason,
            SkipReason::NotAnInteger {
                column: "timeofban",
                ..
            }
        )));
    assert!(reasons.iter().any(|(table, reason)| *table == "bans"
        && matches!(reason, SkipReason::InvalidJson(_))));
    assert!(reasons.iter().any(|(table, reason)| *table == "bips"
        && matches!(
            reason,
            SkipReason::NotAnInteger {
                column: "bantime",
                ..
            }
        )));
    let shown = report
        .skipped
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert!(
        shown
            .iter()
            .any(|line| line.starts_with("bans row 4: ip \"not-an-ip\"")),
        "{shown:?}"
    );
    Ok(())
}

#[test]
fn bans_keep_their_time_count_and_details() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(dir.path(), FAIL2BAN_V4, &v4_rows())?;
    let store = Store::open(&path)?;
    let current = store.current_bans("sshd", NOW)?;
    let summary: Vec<(&str, i64, i64, u32)> = current
        .iter()
        .map(|ban| {
            (
                ban.ip.as_str(),
                ban.time_of_ban,
                ban.ban_time,
                ban.ban_count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("192.0.2.1", NOW - 100, 1200, 2),
            ("2001:db8::/64", NOW - 100, -1, 1)
        ]
    );
    let details = current
        .first()
        .map(|ban| ban.data.clone())
        .unwrap_or_default();
    let mut expected = BanData {
        matches: vec!["line 1".into(), "line 2".into()],
        failures: 3,
        ..BanData::default()
    };
    expected.captures.insert("user".into(), "root".into());
    assert_eq!(details, expected);
    let count = store
        .ban_count("192.0.2.1", Some("sshd"), None)?
        .ok_or("no count")?;
    assert_eq!((count.ban_count, count.ban_time), (2, 1200));
    let merged = store
        .bans_merged("192.0.2.1", Some("sshd"))?
        .ok_or("no history")?;
    assert_eq!(merged.matches, ["line 0", "line 1", "line 2"]);
    assert_eq!(merged.failures, 5);
    assert_eq!(store.jail_names(Some(false))?, ["old"]);
    Ok(())
}

#[test]
fn log_positions_carry_over_without_an_inode() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(dir.path(), FAIL2BAN_V4, &v4_rows())?;
    let store = Store::open(&path)?;
    assert_eq!(
        store.get_log_position("sshd", "/var/log/auth.log")?,
        Some(LogPosition::File {
            first_line_md5: MD5.into(),
            inode: None,
            offset: 1234
        })
    );
    assert_eq!(
        store.get_log_position("sshd", "/var/log/sha1.log")?,
        Some(LogPosition::File {
            first_line_md5: SHA1.into(),
            inode: None,
            offset: 11
        })
    );
    assert_eq!(store.get_log_position("sshd", "systemd-journal")?, None);
    Ok(())
}

#[test]
fn a_taken_backup_name_gets_a_number_and_stays_as_it_was() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(dir.path(), FAIL2BAN_V4, "")?;
    let original = std::fs::read(&path)?;
    let taken = dir.path().join("fail2ban.sqlite3.fail2ban.bak");
    std::fs::write(&taken, "an earlier backup")?;
    let mut store = Store::open(&path)?;
    let report = store.take_takeover().ok_or("no takeover reported")?;
    assert_eq!(
        report.backup,
        dir.path().join("fail2ban.sqlite3.fail2ban.bak.1")
    );
    assert!(
        std::fs::read(&report.backup)? == original,
        "the backup is the original's bytes"
    );
    assert_eq!(std::fs::read_to_string(&taken)?, "an earlier backup");
    Ok(())
}

#[test]
fn a_version_2_file_gets_unknown_ban_times_and_latest_bans_from_history() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rows = format!(
        "INSERT INTO jails VALUES('sshd', 1);
         INSERT INTO bans VALUES('sshd', '192.0.2.1', {}, {});
         INSERT INTO bans VALUES('sshd', '192.0.2.1', {}, NULL);",
        NOW - 500,
        blob(r#"{"matches": ["old"], "failures": 1}"#),
        NOW - 100,
    );
    let path = fail2ban_file(dir.path(), FAIL2BAN_V2, &rows)?;
    let mut store = Store::open(&path)?;
    let report = store.take_takeover().ok_or("no takeover reported")?;
    assert_eq!(
        (report.fail2ban_version, report.history, report.bans),
        (2, 2, 1)
    );
    let current = store.current_bans("sshd", NOW)?;
    let latest = current.first().ok_or("no latest ban")?;
    // -2: fail2ban's "unknown", which restoring replaces by the jail's ban time.
    assert_eq!(
        (latest.time_of_ban, latest.ban_time, latest.ban_count),
        (NOW - 100, -2, 1)
    );
    Ok(())
}

#[test]
fn an_unknown_fail2ban_version_is_refused_and_left_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = fail2ban_file(
        dir.path(),
        FAIL2BAN_V4,
        "UPDATE fail2banDb SET version = 5;",
    )?;
    let original = std::fs::read(&path)?;
    match Store::open(&path) {
        Err(StoreError::UnsupportedFail2banSchema { found, .. }) => assert_eq!(found, "5"),
        other => panic!("expected UnsupportedFail2banSchema, got {other:?}"),
    }
    assert!(
        std::fs::read(&path)? == original,
        "a refused file is not changed"
    );
    assert!(!dir.path().join("fail2ban.sqlite3.fail2ban.bak").exists());
    Ok(())
}

#[test]
fn a_ferroban_file_is_not_taken_over() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ferroban.sqlite3");
    drop(Store::open(&path)?);
    let mut store = Store::open(&path)?;
    assert_eq!(store.take_takeover(), None);
    assert!(!dir.path().join("ferroban.sqlite3.fail2ban.bak").exists());
    Ok(())
}
