//! Tests against real SQLite files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000;

fn data(matches: &[&str], failures: u32) -> BanData {
    BanData {
        matches: matches.iter().map(|m| (*m).to_owned()).collect(),
        failures,
        captures: Default::default(),
    }
}

fn ban<'a>(
    jail: &'a str,
    ip: &'a str,
    time_of_ban: i64,
    ban_time: i64,
    data: &'a BanData,
) -> NewBan<'a> {
    NewBan {
        jail,
        ip,
        time_of_ban,
        ban_time,
        ban_count: 1,
        data: data.into(),
    }
}

fn temp_store() -> Result<(tempfile::TempDir, Store), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("ferroban.sqlite3"))?;
    Ok((dir, store))
}

#[test]
fn new_file_gets_current_schema_and_survives_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.sqlite3");
    let mut store = Store::open(&path)?;
    assert_eq!(store.schema_version()?, SCHEMA_VERSION);
    let details = data(&["line 1", "line 2"], 3);
    store.add_jail("sshd")?;
    store.add_ban(&ban("sshd", "192.0.2.1", NOW, 600, &details))?;
    drop(store);
    let store = Store::open(&path)?;
    assert_eq!(store.schema_version()?, SCHEMA_VERSION);
    let bans = store.current_bans("sshd", NOW + 100)?;
    assert_eq!(bans.len(), 1);
    assert_eq!(bans.first().map(|b| &b.data), Some(&details));
    Ok(())
}

#[test]
fn memory_database_works() -> TestResult {
    let mut store = Store::open(":memory:")?;
    store.add_jail("sshd")?;
    assert_eq!(store.jail_names(None)?, ["sshd"]);
    Ok(())
}

#[test]
fn jails_are_disabled_not_deleted_until_purge() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    store.add_jail("sshd")?;
    store.add_jail("nginx")?;
    store.add_ban(&ban("nginx", "192.0.2.1", NOW, 600, &BanData::default()))?;
    store.del_jail("sshd")?;
    store.del_jail("nginx")?;
    assert_eq!(store.jail_names(Some(false))?, ["nginx", "sshd"]);
    assert!(store.jail_names(Some(true))?.is_empty());
    store.purge(NOW)?;
    // nginx still holds a ban, sshd is gone.
    assert_eq!(store.jail_names(None)?, ["nginx"]);
    store.add_jail("nginx")?;
    assert_eq!(store.jail_names(Some(true))?, ["nginx"]);
    store.del_all_jails()?;
    assert!(store.jail_names(Some(true))?.is_empty());
    Ok(())
}

#[test]
fn log_positions_are_saved_per_jail_and_path() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    assert_eq!(store.get_log_position("sshd", "/var/log/auth.log")?, None);
    let first = LogPosition::File {
        first_line_md5: "abc".into(),
        inode: Some(42),
        offset: 1234,
    };
    store.set_log_position("sshd", "/var/log/auth.log", &first)?;
    assert_eq!(
        store.get_log_position("sshd", "/var/log/auth.log")?,
        Some(first)
    );
    let rotated = LogPosition::File {
        first_line_md5: "def".into(),
        inode: None,
        offset: 10,
    };
    store.set_log_position("sshd", "/var/log/auth.log", &rotated)?;
    assert_eq!(
        store.get_log_position("sshd", "/var/log/auth.log")?,
        Some(rotated)
    );
    assert_eq!(store.get_log_position("other", "/var/log/auth.log")?, None);
    let journal = LogPosition::Journal {
        cursor: "s=1;i=2".into(),
    };
    store.set_log_position("sshd", "<journal>", &journal)?;
    assert_eq!(store.get_log_position("sshd", "<journal>")?, Some(journal));
    Ok(())
}

#[test]
fn current_bans_have_remaining_time_and_skip_expired() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    let none = BanData::default();
    store.add_ban(&ban("sshd", "192.0.2.1", NOW - 100, 600, &none))?;
    store.add_ban(&ban("sshd", "192.0.2.2", NOW - 1000, 600, &none))?;
    store.add_ban(&ban("sshd", "192.0.2.3", NOW - 100_000, -1, &none))?;
    store.add_ban(&ban("nginx", "192.0.2.4", NOW, 60, &none))?;
    let bans = store.current_bans("sshd", NOW)?;
    let summary: Vec<(&str, Option<Duration>)> =
        bans.iter().map(|b| (b.ip.as_str(), b.remaining)).collect();
    assert_eq!(
        summary,
        [
            ("192.0.2.1", Some(Duration::from_secs(500))),
            ("192.0.2.3", None)
        ]
    );
    assert_eq!(store.all_current_bans(NOW)?.len(), 3);
    Ok(())
}

#[test]
fn a_reban_replaces_the_latest_ban_but_keeps_history() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    store.add_ban(&ban(
        "sshd",
        "192.0.2.1",
        NOW - 5000,
        600,
        &data(&["old"], 2),
    ))?;
    let second_data = data(&["new"], 3);
    let mut second = ban("sshd", "192.0.2.1", NOW, 1200, &second_data);
    second.ban_count = 2;
    store.add_ban(&second)?;
    let bans = store.current_bans("sshd", NOW)?;
    assert_eq!(bans.len(), 1);
    assert_eq!(
        bans.first().map(|b| (b.ban_count, b.ban_time)),
        Some((2, 1200))
    );
    let merged = store.bans_merged("192.0.2.1", Some("sshd"))?;
    let expected = MergedBans {
        matches: vec!["old".into(), "new".into()],
        failures: 5,
    };
    assert_eq!(merged, Some(expected));
    assert_eq!(store.bans_merged("192.0.2.9", None)?, None);
    Ok(())
}

#[test]
fn only_the_last_max_matches_are_kept() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    store.set_max_matches(2);
    store.add_ban(&ban(
        "sshd",
        "192.0.2.1",
        NOW,
        600,
        &data(&["a", "b", "c"], 3),
    ))?;
    let bans = store.current_bans("sshd", NOW)?;
    assert_eq!(
        bans.first().map(|b| b.data.matches.clone()),
        Some(vec!["b".to_owned(), "c".to_owned()])
    );
    Ok(())
}

#[test]
fn remove_ban_forgets_ip_in_that_jail_only() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    let none = BanData::default();
    store.add_ban(&ban("sshd", "192.0.2.1", NOW, 600, &none))?;
    store.add_ban(&ban("nginx", "192.0.2.1", NOW, 600, &none))?;
    store.remove_ban("sshd", "192.0.2.1")?;
    assert!(store.current_bans("sshd", NOW)?.is_empty());
    assert_eq!(store.current_bans("nginx", NOW)?.len(), 1);
    assert_eq!(store.ban_count("192.0.2.1", Some("sshd"), None)?, None);
    store.remove_all_bans("nginx")?;
    assert!(store.all_current_bans(NOW)?.is_empty());
    Ok(())
}

#[test]
fn ban_count_per_jail_and_over_all_jails() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    let none = BanData::default();
    let mut first = ban("sshd", "192.0.2.1", NOW - 100, 600, &none);
    first.ban_count = 3;
    store.add_ban(&first)?;
    store.add_ban(&ban("nginx", "192.0.2.1", NOW, 300, &none))?;
    let in_sshd = store.ban_count("192.0.2.1", Some("sshd"), None)?;
    assert_eq!(
        in_sshd,
        Some(BanCount {
            ban_count: 3,
            last_time_of_ban: NOW - 100,
            ban_time: 600
        })
    );
    let overall = store.ban_count("192.0.2.1", None, None)?;
    assert_eq!(
        overall,
        Some(BanCount {
            ban_count: 4,
            last_time_of_ban: NOW,
            ban_time: 900
        })
    );
    let recent = store.ban_count("192.0.2.1", None, Some(NOW - 50))?;
    assert_eq!(recent.map(|c| c.ban_count), Some(1));
    assert_eq!(store.ban_count("198.51.100.1", None, None)?, None);
    Ok(())
}

#[test]
fn purge_drops_old_history_and_outdated_latest_bans_but_never_permanent() -> TestResult {
    let (_dir, mut store) = temp_store()?;
    store.set_purge_age(Duration::from_secs(3600));
    let none = BanData::default();
    store.add_ban(&ban("sshd", "192.0.2.1", NOW - 7200, 600, &none))?; // old, outdated
    store.add_ban(&ban("sshd", "192.0.2.2", NOW - 7200, 86_400, &none))?; // old, still banned
    store.add_ban(&ban("sshd", "192.0.2.3", NOW - 100_000, -1, &none))?; // permanent
    store.add_ban(&ban("sshd", "192.0.2.4", NOW - 60, 600, &none))?; // recent
    store.purge(NOW)?;
    assert_eq!(
        store.bans_merged("192.0.2.2", None)?,
        None,
        "history older than purge age"
    );
    assert!(store.bans_merged("192.0.2.4", None)?.is_some());
    assert_eq!(store.ban_count("192.0.2.1", None, None)?, None);
    assert!(store.ban_count("192.0.2.2", None, None)?.is_some());
    assert!(store.ban_count("192.0.2.3", None, None)?.is_some());
    let current: Vec<String> = store
        .current_bans("sshd", NOW)?
        .into_iter()
        .map(|b| b.ip)
        .collect();
    assert_eq!(current, ["192.0.2.2", "192.0.2.3", "192.0.2.4"]);
    Ok(())
}

#[test]
fn newer_schema_version_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.sqlite3");
    drop(Store::open(&path)?);
    let raw = rusqlite::Connection::open(&path)?;
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
    drop(raw);
    match Store::open(&path) {
        Err(StoreError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    Ok(())
}

#[test]
fn foreign_database_is_refused_and_left_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.sqlite3");
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch("CREATE TABLE notes(text TEXT); INSERT INTO notes VALUES('mine');")?;
    drop(raw);
    let before = std::fs::read(&path)?;
    let result = Store::open(&path);
    assert!(
        matches!(result, Err(StoreError::ForeignDatabase { .. })),
        "{result:?}"
    );
    assert!(
        std::fs::read(&path)? == before,
        "a refused file is not changed"
    );
    let backups = std::fs::read_dir(dir.path())?.count();
    assert_eq!(backups, 1, "no backup of a file that is not fail2ban's");
    Ok(())
}

/// The version 1 schema exactly as migration 1 wrote it, with a file row (`md5@inode`),
/// a file row of a bare md5 and a journal row, then opened by this build.
#[test]
fn version_1_log_positions_are_split_into_their_columns() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.sqlite3");
    let mut raw = rusqlite::Connection::open(&path)?;
    let tx = raw.transaction()?;
    schema::apply_migrations(&tx, 0, 1)?;
    tx.execute_batch(
        "INSERT INTO jails(name) VALUES('sshd'), ('journal');
         INSERT INTO logs VALUES('sshd', '/var/log/auth.log', 'e1735158246b267bdc0ec11b0b4c1ecc@1234', 99);
         INSERT INTO logs VALUES('sshd', '/var/log/old.log', 'e1735158246b267bdc0ec11b0b4c1ecc', 7);
         INSERT INTO logs VALUES('sshd', '/var/log/empty.log', '@55', 0);
         INSERT INTO logs VALUES('journal', '<journal>', 's=ab;i=1f;b=cd;m=2;t=5;x=9', 0);",
    )?;
    tx.commit()?;
    assert_eq!(
        raw.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?,
        1
    );
    drop(raw);
    let store = Store::open(&path)?;
    assert_eq!(store.schema_version()?, SCHEMA_VERSION);
    let md5 = "e1735158246b267bdc0ec11b0b4c1ecc".to_owned();
    let file = |first_line_md5: &str, inode, offset| LogPosition::File {
        first_line_md5: first_line_md5.to_owned(),
        inode,
        offset,
    };
    assert_eq!(
        store.get_log_position("sshd", "/var/log/auth.log")?,
        Some(file(&md5, Some(1234), 99))
    );
    assert_eq!(
        store.get_log_position("sshd", "/var/log/old.log")?,
        Some(file(&md5, None, 7))
    );
    assert_eq!(
        store.get_log_position("sshd", "/var/log/empty.log")?,
        Some(file("", Some(55), 0))
    );
    assert_eq!(
        store.get_log_position("journal", "<journal>")?,
        Some(LogPosition::Journal {
            cursor: "s=ab;i=1f;b=cd;m=2;t=5;x=9".into()
        })
    );
    Ok(())
}

#[test]
fn reopen_after_connection_is_leaked_keeps_committed_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.sqlite3");
    let mut store = Store::open(&path)?;
    store.add_ban(&ban("sshd", "192.0.2.1", NOW, 600, &BanData::default()))?;
    // No close, no checkpoint: what a crash leaves behind.
    std::mem::forget(store);
    let store = Store::open(&path)?;
    assert_eq!(store.current_bans("sshd", NOW)?.len(), 1);
    Ok(())
}

/// Writes bans and positions until killed; run by `kill_9_leaves_a_consistent_file`.
#[test]
#[ignore = "helper process of kill_9_leaves_a_consistent_file"]
fn crash_writer_helper() -> TestResult {
    let Some(path) = std::env::var_os("FERROBAN_STORE_CRASH_DB") else {
        return Ok(());
    };
    let mut store = Store::open(path)?;
    let details = data(&["some log line that is long enough to span pages"; 10], 5);
    for i in 0_u64.. {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        store.add_ban(&ban("sshd", &ip, NOW, 600, &details))?;
        let position = LogPosition::File {
            first_line_md5: "hash".into(),
            inode: Some(1),
            offset: i,
        };
        store.set_log_position("sshd", "/var/log/auth.log", &position)?;
    }
    Ok(())
}

fn count(path: &Path, table: &str) -> rusqlite::Result<i64> {
    let raw = rusqlite::Connection::open(path)?;
    raw.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
}

/// A writer process is SIGKILLed mid-work; the file must pass SQLite's
/// integrity check, and the two tables written in one transaction must agree.
#[test]
fn kill_9_leaves_a_consistent_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.sqlite3");
    drop(Store::open(&path)?);
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "tests::crash_writer_helper",
            "--ignored",
            "--test-threads=1",
        ])
        .env("FERROBAN_STORE_CRASH_DB", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    while count(&path, "bips").unwrap_or(0) < 200 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let raw = rusqlite::Connection::open(&path)?;
    let integrity: String = raw.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    assert_eq!(integrity, "ok");
    drop(raw);
    let store = Store::open(&path)?;
    let bans = count(&path, "bans")?;
    assert!(bans >= 200, "the writer wrote {bans} bans");
    assert_eq!(
        bans,
        count(&path, "bips")?,
        "a ban's two rows are one transaction"
    );
    let position = store
        .get_log_position("sshd", "/var/log/auth.log")?
        .map(|p| match p {
            LogPosition::File { offset, .. } => i64::try_from(offset).unwrap_or(i64::MAX),
            LogPosition::Journal { .. } => -1,
        });
    // The position of ban i is written after ban i.
    assert!(
        matches!(position, Some(p) if p == bans - 1 || p == bans - 2),
        "{position:?} vs {bans}"
    );
    Ok(())
}

/// Windows and positions are saved together, bans of the same save with them; a window
/// closed or gone stale is not read back.
#[test]
fn a_read_saves_windows_positions_and_bans_together() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, mut store) = temp_store()?;
    let window = |id: &str, last_time: i64| WindowRow {
        id: id.into(),
        retry: 2,
        failures: 2,
        first_time: last_time - 1,
        last_time,
        data: data(&["line"], 2),
    };
    let position = LogPosition::File {
        first_line_md5: "abc".into(),
        inode: Some(7),
        offset: 99,
    };
    let none = BanData::default();
    let bans = [ban("sshd", "192.0.2.9", NOW, 600, &none)];
    let windows = [window("192.0.2.1", NOW), window("192.0.2.2", NOW - 1000)];
    let positions = [("/var/log/auth.log".to_string(), position.clone())];
    let read = ReadSave {
        bans: &bans,
        windows: &windows,
        closed: &[],
        positions: &positions,
        stale_before: NOW - 600,
    };
    store.save_read("sshd", &read)?;
    let back = store.windows("sshd", NOW - 600)?;
    assert_eq!(back, [window("192.0.2.1", NOW)]);
    assert_eq!(
        store.get_log_position("sshd", "/var/log/auth.log")?,
        Some(position)
    );
    assert_eq!(store.current_bans("sshd", NOW)?.len(), 1);
    let closed = ["192.0.2.1".to_string()];
    let read = ReadSave {
        bans: &[],
        windows: &[],
        closed: &closed,
        positions: &[],
        stale_before: NOW - 600,
    };
    store.save_read("sshd", &read)?;
    assert!(store.windows("sshd", 0)?.is_empty());
    Ok(())
}
