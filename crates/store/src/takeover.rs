//! Taking over a fail2ban database: a fail2ban user points ferroban at the `dbfile`
//! fail2ban has been writing, and its bans, ban counts and log positions carry over.
//!
//! fail2ban's schema (its `server/database.py`, version 4) is `fail2banDb(version)`,
//! `jails(name, enabled)`, `logs(jail, path, firstlinemd5, lastfilepos)` and
//! `bans`/`bips(jail, ip, timeofban, bantime, bancount, data)` with `data` JSON stored as
//! UTF-8 bytes. Versions 1 and 2 lack `bans.bantime`/`bancount` (fail2ban's own upgrade
//! writes `bantime = -2`, "unknown", and `bancount = 1`), version 3 lacks `bips` (fail2ban
//! fills it from `bans`); we read each version the way fail2ban's `updateDb` would upgrade it.
//!
//! The steps, in one `BEGIN IMMEDIATE` transaction (other writers are locked out from the
//! first read to the commit, so the backup is the file as migrated):
//! 1. recognise the file by its `fail2banDb` table (and no ferroban `user_version`);
//! 2. copy it byte for byte to `<dbfile>.fail2ban.bak` (a numbered name if that exists)
//!    and sync the copy, before anything is written;
//! 3. read fail2ban's rows, skipping each bad one with a reason (never failing on data);
//! 4. drop fail2ban's tables, create ferroban's newest schema, write the rows; commit.
//!
//! A crash before the commit leaves fail2ban's file untouched (SQLite's rollback journal),
//! after it the finished ferroban database: there is no half-migrated state.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::{BanData, LogPosition, StoreError, schema, write_log_position};

/// fail2ban's schema versions we take over.
const FAIL2BAN_VERSIONS: std::ops::RangeInclusive<i64> = 1..=4;
/// fail2ban's `bantime` for a ban whose time it never stored (databases before version 3).
const UNKNOWN_BAN_TIME: i64 = -2;
/// The `logs.path` under which fail2ban keeps its journal position, a time, not a cursor.
const FAIL2BAN_JOURNAL: &str = "systemd-journal";
/// Numbered backup names tried before giving up.
const BACKUP_NAMES: u32 = 1000;

/// What a takeover did, for the server to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The database taken over.
    pub path: PathBuf,
    /// fail2ban's file as it was.
    pub backup: PathBuf,
    /// fail2ban's schema version found.
    pub fail2ban_version: i64,
    pub jails: usize,
    /// Latest-ban rows (`bips`): what is restored and what ban counts are read from.
    pub bans: usize,
    /// Ban history rows (`bans`).
    pub history: usize,
    /// Log positions.
    pub logs: usize,
    /// Rows left behind, each with its reason.
    pub skipped: Vec<SkippedRow>,
}

impl std::fmt::Display for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Took over fail2ban database {} (schema v{}): {} bans ({} in history), {} logs, \
             {} jails, {} rows skipped; its original is kept as {}",
            self.path.display(),
            self.fail2ban_version,
            self.bans,
            self.history,
            self.logs,
            self.jails,
            self.skipped.len(),
            self.backup.display()
        )
    }
}

/// A fail2ban row not carried over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} row {rowid}: {reason}")]
pub struct SkippedRow {
    pub table: &'static str,
    pub rowid: i64,
    pub reason: SkipReason,
}

/// Why a fail2ban row was not carried over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("{column} is not text: {value}")]
    NotText { column: &'static str, value: String },
    #[error("{column} is not an integer: {value}")]
    NotAnInteger { column: &'static str, value: String },
    #[error("ip {0:?} is not an address or a network")]
    NotAnAddress(String),
    #[error("data is not a JSON object: {0}")]
    InvalidJson(String),
    #[error("firstlinemd5 {0:?} is not an md5 or a sha1")]
    NotAnMd5(String),
    /// fail2ban keeps a journal position as a time; ferroban resumes the journal from a
    /// cursor, and without one starts `findtime` ago.
    #[error("a journal position (a time, not a cursor): the journal starts findtime ago")]
    JournalTime,
}

/// Takes over the fail2ban database open in `connection`, if it is one.
pub(crate) fn take_over(
    connection: &mut Connection,
    path: &Path,
) -> Result<Option<Takeover>, StoreError> {
    let text = path.display().to_string();
    let wrap = |source| StoreError::Sqlite {
        path: text.clone(),
        source,
    };
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(wrap)?;
    let Some(version) = fail2ban_version(&tx, &text)? else {
        return Ok(None);
    };
    let backup = write_backup(path)?;
    let rows = Fail2banRows::read(&tx).map_err(wrap)?;
    replace_schema(&tx).map_err(wrap)?;
    let counts = rows.write(&tx).map_err(wrap)?;
    tx.commit().map_err(wrap)?;
    Ok(Some(Takeover {
        path: path.to_path_buf(),
        backup,
        fail2ban_version: version,
        skipped: rows.skipped,
        ..counts
    }))
}

/// fail2ban's schema version when the file is fail2ban's: a `fail2banDb` table and no
/// ferroban `user_version`. A version we cannot read is an error, not a guess; tables of
/// neither ferroban nor fail2ban are refused.
fn fail2ban_version(tx: &Transaction<'_>, path: &str) -> Result<Option<i64>, StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let user_version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(wrap)?;
    if user_version != 0 {
        return Ok(None);
    }
    if !table_exists(tx, "fail2banDb").map_err(wrap)? {
        // Refused here, before `configure` switches the file to WAL: a file that is not
        // ours is left exactly as it was.
        return match schema::has_tables(tx).map_err(wrap)? {
            true => Err(StoreError::ForeignDatabase {
                path: path.to_owned(),
            }),
            false => Ok(None),
        };
    }
    let found: Option<Value> = tx
        .query_row("SELECT version FROM fail2banDb LIMIT 1", [], |row| {
            row.get(0)
        })
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            error => Err(error),
        })
        .map_err(wrap)?;
    match found {
        Some(Value::Integer(version)) if FAIL2BAN_VERSIONS.contains(&version) => Ok(Some(version)),
        other => Err(StoreError::UnsupportedFail2banSchema {
            path: path.to_owned(),
            found: other.map_or_else(|| "none".to_owned(), |value| describe(&value)),
        }),
    }
}

fn table_exists(connection: &Connection, table: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        params![table],
        |row| row.get(0),
    )
}

fn has_column(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS(SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        params![table, column],
        |row| row.get(0),
    )
}

/// `<path>.fail2ban.bak`, or the first free `<path>.fail2ban.bak.N`: an earlier backup is
/// never overwritten. The name is claimed with `create_new` (no race with another process),
/// the copy gets the original's permissions (it holds the same addresses) and is synced
/// before the original is changed.
fn write_backup(path: &Path) -> Result<PathBuf, StoreError> {
    let base = format!("{}.fail2ban.bak", path.display());
    let error = |backup: &Path, source| StoreError::Backup {
        path: path.display().to_string(),
        backup: backup.display().to_string(),
        source,
    };
    for number in 0..BACKUP_NAMES {
        let backup = match number {
            0 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}.{n}")),
        };
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&backup);
        match created {
            Ok(file) => {
                return copy_into(path, file)
                    .map(|()| backup.clone())
                    .inspect_err(|_| drop(std::fs::remove_file(&backup)))
                    .map_err(|source| error(&backup, source));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(error(&backup, source)),
        }
    }
    let source = io::Error::new(io::ErrorKind::AlreadyExists, "every backup name is taken");
    Err(error(Path::new(&base), source))
}

fn copy_into(original: &Path, mut backup: File) -> io::Result<()> {
    let mut source = File::open(original)?;
    io::copy(&mut source, &mut backup)?;
    backup.set_permissions(source.metadata()?.permissions())?;
    backup.sync_all()
}

/// Drops fail2ban's tables (children first, for their foreign keys) and creates ferroban's
/// newest schema in their place.
fn replace_schema(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP TABLE IF EXISTS logs;
         DROP TABLE IF EXISTS bans;
         DROP TABLE IF EXISTS bips;
         DROP TABLE IF EXISTS jails;
         DROP TABLE IF EXISTS fail2banDb;",
    )?;
    schema::apply_migrations(tx, 0, crate::SCHEMA_VERSION)
}

/// A jail row of fail2ban's.
#[derive(Debug)]
struct JailRow {
    name: String,
    enabled: bool,
}

/// A log position row of fail2ban's.
#[derive(Debug)]
struct LogRow {
    jail: String,
    path: String,
    position: LogPosition,
}

/// A `bans` or `bips` row of fail2ban's.
#[derive(Debug, Clone)]
struct BanRow {
    rowid: i64,
    jail: String,
    ip: String,
    time_of_ban: i64,
    ban_time: i64,
    ban_count: i64,
    data: BanData,
}

/// Everything read from fail2ban's tables, good rows and the reasons for bad ones.
#[derive(Debug, Default)]
struct Fail2banRows {
    jails: Vec<JailRow>,
    logs: Vec<LogRow>,
    history: Vec<BanRow>,
    latest: Vec<BanRow>,
    skipped: Vec<SkippedRow>,
}

impl Fail2banRows {
    fn read(tx: &Transaction<'_>) -> rusqlite::Result<Fail2banRows> {
        let mut rows = Fail2banRows::default();
        if table_exists(tx, "jails")? {
            let read = select(tx, "SELECT rowid, name, enabled FROM jails", jail_row)?;
            rows.jails = rows.keep("jails", read);
        }
        if table_exists(tx, "logs")? {
            let sql = "SELECT rowid, jail, path, firstlinemd5, lastfilepos FROM logs";
            let read = select(tx, sql, log_row)?;
            rows.logs = rows.keep("logs", read);
        }
        if table_exists(tx, "bans")? {
            let read = select(tx, &ban_query(tx, "bans")?, ban_row)?;
            rows.history = rows.keep("bans", read);
        }
        rows.latest = if table_exists(tx, "bips")? {
            let read = select(tx, &ban_query(tx, "bips")?, ban_row)?;
            rows.keep("bips", read)
        } else {
            latest_of(&rows.history)
        };
        Ok(rows)
    }

    /// The good rows of `table`; the bad ones are remembered with their reason.
    fn keep<T>(&mut self, table: &'static str, read: Vec<(i64, Result<T, SkipReason>)>) -> Vec<T> {
        let mut kept = Vec::with_capacity(read.len());
        for (rowid, row) in read {
            match row {
                Ok(row) => kept.push(row),
                Err(reason) => self.skipped.push(SkippedRow {
                    table,
                    rowid,
                    reason,
                }),
            }
        }
        kept
    }

    /// Writes the rows into ferroban's fresh tables; the counts of what was written.
    fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<Takeover> {
        for jail in &self.jails {
            tx.execute(
                "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, ?2)",
                params![jail.name, jail.enabled],
            )?;
        }
        for log in &self.logs {
            known_jail(tx, &log.jail)?;
            write_log_position(tx, &log.jail, &log.path, &log.position)?;
        }
        for (table, rows) in [("bans", &self.history), ("bips", &self.latest)] {
            for ban in rows {
                write_ban(tx, table, ban)?;
            }
        }
        Ok(Takeover {
            path: PathBuf::new(),
            backup: PathBuf::new(),
            fail2ban_version: 0,
            jails: self.jails.len(),
            bans: self.latest.len(),
            history: self.history.len(),
            logs: self.logs.len(),
            skipped: Vec::new(),
        })
    }
}

/// A jail named by a row but missing from fail2ban's `jails` is added disabled: the
/// configuration decides at start whether it runs.
fn known_jail(tx: &Transaction<'_>, jail: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 0)",
        params![jail],
    )
    .map(drop)
}

fn write_ban(tx: &Transaction<'_>, table: &str, ban: &BanRow) -> rusqlite::Result<()> {
    known_jail(tx, &ban.jail)?;
    let json = serde_json::to_string(&ban.data).unwrap_or_else(|_| "{}".to_owned());
    let verb = if table == "bips" {
        "INSERT OR REPLACE"
    } else {
        "INSERT"
    };
    tx.execute(
        &format!(
            "{verb} INTO {table}(jail, ip, time_of_ban, ban_time, ban_count, data)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
        ),
        params![
            ban.jail,
            ban.ip,
            ban.time_of_ban,
            ban.ban_time,
            ban.ban_count,
            json
        ],
    )
    .map(drop)
}

/// The `SELECT` of a ban table; columns an old version lacks are filled in as fail2ban's
/// own upgrade fills them.
fn ban_query(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<String> {
    let ban_time = if has_column(tx, table, "bantime")? {
        "bantime".to_owned()
    } else {
        UNKNOWN_BAN_TIME.to_string()
    };
    let ban_count = if has_column(tx, table, "bancount")? {
        "bancount"
    } else {
        "1"
    };
    Ok(format!(
        "SELECT rowid, jail, ip, timeofban, {ban_time}, {ban_count}, data FROM {table}"
    ))
}

/// The latest ban per (ip, jail), as fail2ban fills `bips` from `bans` when upgrading to
/// version 4 (`INSERT OR REPLACE ... ORDER BY timeofban`: the latest wins).
fn latest_of(history: &[BanRow]) -> Vec<BanRow> {
    let mut latest: std::collections::BTreeMap<(&str, &str), &BanRow> = Default::default();
    for ban in history {
        let key = (ban.ip.as_str(), ban.jail.as_str());
        let newer = latest
            .get(&key)
            .is_none_or(|kept| (ban.time_of_ban, ban.rowid) >= (kept.time_of_ban, kept.rowid));
        if newer {
            latest.insert(key, ban);
        }
    }
    latest.into_values().cloned().collect()
}

/// Runs `sql` and converts each row with `convert`, keeping its rowid for the report.
fn select<T>(
    tx: &Transaction<'_>,
    sql: &str,
    convert: fn(i64, &[Value]) -> Result<T, SkipReason>,
) -> rusqlite::Result<Vec<(i64, Result<T, SkipReason>)>> {
    let mut statement = tx.prepare(sql)?;
    let width = statement.column_count();
    let rows = statement.query_map([], |row| {
        let values = (0..width)
            .map(|index| row.get::<_, Value>(index))
            .collect::<rusqlite::Result<Vec<Value>>>()?;
        let rowid = match values.first() {
            Some(Value::Integer(rowid)) => *rowid,
            _ => 0,
        };
        Ok((rowid, convert(rowid, values.get(1..).unwrap_or_default())))
    })?;
    rows.collect()
}

fn jail_row(_rowid: i64, values: &[Value]) -> Result<JailRow, SkipReason> {
    Ok(JailRow {
        name: text(values.first(), "name")?,
        enabled: integer(values.get(1), "enabled")? != 0,
    })
}

fn log_row(_rowid: i64, values: &[Value]) -> Result<LogRow, SkipReason> {
    let jail = text(values.first(), "jail")?;
    let path = text(values.get(1), "path")?;
    if path == FAIL2BAN_JOURNAL {
        return Err(SkipReason::JournalTime);
    }
    let md5 = text(values.get(2), "firstlinemd5")?;
    if !is_md5(&md5) {
        return Err(SkipReason::NotAnMd5(md5));
    }
    let offset = integer(values.get(3), "lastfilepos")?;
    let offset = u64::try_from(offset).map_err(|_| SkipReason::NotAnInteger {
        column: "lastfilepos",
        value: offset.to_string(),
    })?;
    Ok(LogRow {
        jail,
        path,
        position: LogPosition::File {
            first_line_md5: md5,
            inode: None,
            offset,
        },
    })
}

fn ban_row(rowid: i64, values: &[Value]) -> Result<BanRow, SkipReason> {
    let ip = text(values.get(1), "ip")?;
    if !is_address(&ip) {
        return Err(SkipReason::NotAnAddress(ip));
    }
    let ban_count = integer(values.get(4), "bancount")?;
    if ban_count < 0 || ban_count > i64::from(u32::MAX) {
        return Err(SkipReason::NotAnInteger {
            column: "bancount",
            value: ban_count.to_string(),
        });
    }
    Ok(BanRow {
        rowid,
        jail: text(values.first(), "jail")?,
        ip,
        time_of_ban: integer(values.get(2), "timeofban")?,
        ban_time: integer(values.get(3), "bantime")?,
        ban_count,
        data: ban_data(values.get(5))?,
    })
}

/// Text, or UTF-8 bytes (how Python's sqlite3 hands fail2ban's strings over).
fn text(value: Option<&Value>, column: &'static str) -> Result<String, SkipReason> {
    match value {
        Some(Value::Text(text)) => Ok(text.clone()),
        Some(Value::Blob(bytes)) => {
            String::from_utf8(bytes.clone()).map_err(|_| SkipReason::NotText {
                column,
                value: "bytes that are not UTF-8".to_owned(),
            })
        }
        other => Err(SkipReason::NotText {
            column,
            value: other.map_or_else(|| "missing".to_owned(), describe),
        }),
    }
}

/// An integer; a real without a fraction counts (SQLite's dynamic types allow it).
fn integer(value: Option<&Value>, column: &'static str) -> Result<i64, SkipReason> {
    match value {
        Some(Value::Integer(number)) => Ok(*number),
        #[allow(clippy::cast_possible_truncation)]
        Some(Value::Real(number)) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
            Ok(*number as i64)
        }
        other => Err(SkipReason::NotAnInteger {
            column,
            value: other.map_or_else(|| "missing".to_owned(), describe),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(number) => number.to_string(),
        Value::Real(number) => number.to_string(),
        Value::Text(text) => format!("{text:?}"),
        Value::Blob(bytes) => format!("{} bytes", bytes.len()),
    }
}

/// An md5, or the SHA-1 fail2ban 1.0 on Python 3 writes in its place (its md5 probe fails
/// there), or empty (no complete first line yet).
fn is_md5(text: &str) -> bool {
    text.is_empty()
        || ([32, 40].contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An address, or a network `address/prefix` (fail2ban bans those too).
fn is_address(text: &str) -> bool {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| prefix.parse::<u8>().is_ok_and(|length| length <= longest))
}

/// fail2ban's `data`: JSON text or UTF-8 bytes, `NULL` for none. `matches` and `failures`
/// have their places in [`BanData`]; other text or number values become captures (the
/// tags actions see); lists and objects other than `matches` have no place and are dropped.
fn ban_data(value: Option<&Value>) -> Result<BanData, SkipReason> {
    let json = match value {
        None | Some(Value::Null) => return Ok(BanData::default()),
        // fail2ban decodes with 'replace' too: a damaged byte costs a character, not the ban.
        Some(Value::Blob(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Value::Text(text)) => text.clone(),
        Some(other) => return Err(SkipReason::InvalidJson(describe(other))),
    };
    let parsed: serde_json::Value =
        serde_json::from_str(&json).map_err(|error| SkipReason::InvalidJson(error.to_string()))?;
    let serde_json::Value::Object(fields) = parsed else {
        return Err(SkipReason::InvalidJson(format!("{json:.60}")));
    };
    let mut data = BanData::default();
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("matches", serde_json::Value::Array(lines)) => {
                data.matches = lines.into_iter().map(match_line).collect();
            }
            ("failures", value) => {
                data.failures = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
            }
            (_, serde_json::Value::String(text)) => {
                data.captures.insert(key, text);
            }
            (_, serde_json::Value::Number(number)) => {
                data.captures.insert(key, number.to_string());
            }
            _ => {}
        }
    }
    Ok(data)
}

/// A match is a line; fail2ban may keep a multi-line match as a list of its parts.
fn match_line(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(line) => line,
        serde_json::Value::Array(parts) => parts
            .into_iter()
            .map(|part| match part {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            })
            .collect(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
