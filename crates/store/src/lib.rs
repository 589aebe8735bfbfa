//! SQLite persistence of ferroban's state across restarts (fail2ban's
//! `dbfile`).
//!
//! Owns: one SQLite database (a file, or `:memory:`) with a versioned schema
//! (`PRAGMA user_version`, migrations applied in order at open; a database
//! written by a newer ferroban is refused, not guessed at).
//!
//! A fail2ban database (its `fail2banDb` table) is taken over at open
//! (`takeover.rs`): backed up byte for byte beside itself, then migrated in place in
//! one transaction; [`Store::take_takeover`] tells the server what to log.
//!
//! Receives, from the server and the tracker: jails as they are started and
//! stopped, log positions ([`LogPosition`]: a file's first-line md5, inode and
//! byte offset, or a journal cursor), bans as they happen (jail, IP, time, ban time, ban count,
//! matches and failures as JSON), and unbans.
//!
//! Emits: the bans still in force at start-up with their remaining time (to
//! restore them), per-IP ban counts within a jail or over all jails (for
//! `bantime.increment`), merged matches of an IP (for `<ipmatches>`), and
//! the last log positions. `purge` drops bans older than `dbpurgeage`.
//!
//! Like fail2ban, two ban tables are kept: `bans`, the history (one row per
//! ban, purged by age), and `bips`, the latest ban of each (IP, jail), which
//! restoring and ban counting read. A third, `windows`, holds the failure windows as they
//! stood at the saved log positions, written in the same transaction as those positions.

mod schema;
mod takeover;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

pub use schema::SCHEMA_VERSION;
pub use takeover::{SkipReason, SkippedRow, Takeover};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be opened or an SQL statement failed.
    #[error("database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer ferroban with a schema we don't know.
    #[error(
        "database {path} has schema version {found}, newer than the supported {supported}; \
         upgrade ferroban or move the file away"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    /// The file is an SQLite database that neither ferroban nor fail2ban created.
    #[error(
        "database {path} is not a ferroban database (found tables but no schema version) \
         nor a fail2ban one (no fail2banDb table)"
    )]
    ForeignDatabase { path: String },
    /// A fail2ban database whose schema version we cannot take over.
    #[error(
        "database {path} is a fail2ban database of schema version {found}; ferroban takes over \
         versions 1 to 4 only: let fail2ban upgrade it, or move the file away"
    )]
    UnsupportedFail2banSchema { path: String, found: String },
    /// The backup of a fail2ban database before its takeover could not be written; the
    /// database was left untouched.
    #[error("cannot back up fail2ban database {path} to {backup}: {source}")]
    Backup {
        path: String,
        backup: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where reading of a log stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPosition {
    /// A log file, fail2ban's `(firstlinemd5, lastfilepos)` and the inode.
    File {
        /// Lowercase hex md5 of the first line with its newline; empty while the file had
        /// no complete first line.
        first_line_md5: String,
        /// Inode of the file read; `None` when unknown (a position taken over from
        /// fail2ban, which does not store it: the md5 alone decides then).
        inode: Option<u64>,
        /// Byte offset of the next line to read.
        offset: u64,
    },
    /// The systemd journal: the cursor of the last entry read.
    Journal { cursor: String },
}

/// What is stored with a ban as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanData {
    #[serde(default)]
    pub matches: Vec<String>,
    #[serde(default)]
    pub failures: u32,
    /// Filter captures (`user`, `fid`, …).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub captures: std::collections::BTreeMap<String, String>,
}

/// What is stored with a ban, borrowed from the ban being recorded (written as
/// [`BanData`] reads it back): recording copies none of its matches or captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BanDataRef<'a> {
    pub matches: &'a [String],
    pub failures: u32,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub captures: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> From<&'a BanData> for BanDataRef<'a> {
    fn from(data: &'a BanData) -> Self {
        BanDataRef {
            matches: &data.matches,
            failures: data.failures,
            captures: &data.captures,
        }
    }
}

/// A failure window as saved with the log position it was counted up to (see
/// [`Store::save_read`]): after a crash the jail resumes its counts from here, and re-reads
/// only the lines after that position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    /// The failure id, as the tracker writes it.
    pub id: String,
    /// The counter compared against `maxretry`.
    pub retry: u32,
    /// Attempts seen.
    pub failures: u32,
    /// Unix seconds: start of the window and its latest failure.
    pub first_time: i64,
    pub last_time: i64,
    /// Matched lines and captures, as a ban's.
    pub data: BanData,
}

/// What reading a jail's logs up to `positions` led to, for [`Store::save_read`].
#[derive(Debug, Clone, Copy)]
pub struct ReadSave<'a> {
    /// Bans decided from those lines and not recorded yet.
    pub bans: &'a [NewBan<'a>],
    /// Failure windows changed since the last save.
    pub windows: &'a [WindowRow],
    /// Ids whose windows closed (turned into bans).
    pub closed: &'a [String],
    /// `(path, position)` per log.
    pub positions: &'a [(String, LogPosition)],
    /// Windows whose last failure is earlier than this are stale and dropped.
    pub stale_before: i64,
}

/// A ban to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBan<'a> {
    pub jail: &'a str,
    pub ip: &'a str,
    /// Unix seconds.
    pub time_of_ban: i64,
    /// Seconds; -1 is permanent.
    pub ban_time: i64,
    /// 1 for a first ban, more with `bantime.increment`.
    pub ban_count: u32,
    pub data: BanDataRef<'a>,
}

/// A ban still in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentBan {
    pub jail: String,
    pub ip: String,
    pub time_of_ban: i64,
    /// Seconds; -1 is permanent.
    pub ban_time: i64,
    pub ban_count: u32,
    pub data: BanData,
    /// Time left at the `now` asked for; `None` for a permanent ban.
    pub remaining: Option<Duration>,
}

/// An IP's ban history as fail2ban's `getBan` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanCount {
    /// Number of bans (summed over jails when asked for all jails).
    pub ban_count: u32,
    /// The latest ban's time.
    pub last_time_of_ban: i64,
    /// Ban time of the latest ban (summed over jails when asked for all).
    pub ban_time: i64,
}

/// Matches and failures of an IP merged over its recorded bans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedBans {
    pub matches: Vec<String>,
    pub failures: u32,
}

/// fail2ban's default `dbpurgeage`: one day.
pub const DEFAULT_PURGE_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// fail2ban's default `dbmaxmatches`.
pub const DEFAULT_MAX_MATCHES: usize = 10;
/// fail2ban's `outDatedFactor`: an IP's latest-ban row is kept this many
/// ban times past its ban, so ban counts survive short purge ages.
const OUTDATED_FACTOR: i64 = 3;

/// An open ferroban database.
#[derive(Debug)]
pub struct Store {
    connection: Connection,
    path: String,
    purge_age: Duration,
    max_matches: usize,
    takeover: Option<Takeover>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or an in-memory
    /// one for `:memory:`, and brings its schema up to date.
    ///
    /// A fail2ban database is taken over: backed up beside itself, then migrated in place
    /// (see [`Store::take_takeover`] for what to tell the user).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path_text = path.as_ref().display().to_string();
        let wrap = |source| StoreError::Sqlite {
            path: path_text.clone(),
            source,
        };
        let mut connection = if path_text == ":memory:" {
            Connection::open_in_memory().map_err(wrap)?
        } else {
            Connection::open(path.as_ref()).map_err(wrap)?
        };
        // Before `configure`: switching to WAL rewrites the header, and the backup of a
        // fail2ban file must be its bytes as fail2ban left them.
        let takeover = if path_text == ":memory:" {
            None
        } else {
            takeover::take_over(&mut connection, path.as_ref())?
        };
        schema::configure(&connection).map_err(wrap)?;
        schema::migrate(&mut connection, &path_text)?;
        Ok(Store {
            connection,
            path: path_text,
            purge_age: DEFAULT_PURGE_AGE,
            max_matches: DEFAULT_MAX_MATCHES,
            takeover,
        })
    }

    /// What the takeover of a fail2ban database did at open, once: `None` when the file
    /// was ferroban's already (or after the first call).
    pub fn take_takeover(&mut self) -> Option<Takeover> {
        self.takeover.take()
    }

    /// `dbpurgeage`.
    pub fn set_purge_age(&mut self, age: Duration) {
        self.purge_age = age;
    }

    /// `dbmaxmatches`: matches kept per ban (the latest); 0 keeps none.
    pub fn set_max_matches(&mut self, max: usize) {
        self.max_matches = max;
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    /// Records `jail` as enabled (creating or re-enabling it).
    pub fn add_jail(&mut self, jail: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO jails(name, enabled) VALUES(?1, 1)
                 ON CONFLICT(name) DO UPDATE SET enabled = 1",
                params![jail],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Marks `jail` disabled. Its bans and log positions stay (a jail that
    /// comes back restores them); `purge` removes disabled jails without bans.
    pub fn del_jail(&mut self, jail: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE jails SET enabled = 0 WHERE name = ?1",
                params![jail],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Marks every jail disabled (at start-up, before the configured jails
    /// are added again).
    pub fn del_all_jails(&mut self) -> Result<(), StoreError> {
        self.connection
            .execute("UPDATE jails SET enabled = 0", [])
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Jail names, all or only those with the given `enabled` state.
    pub fn jail_names(&self, enabled: Option<bool>) -> Result<Vec<String>, StoreError> {
        let query = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Vec<String>> {
            let mut statement = self.connection.prepare_cached(sql)?;
            let rows = statement.query_map(args, |row| row.get(0))?;
            rows.collect()
        };
        match enabled {
            None => query("SELECT name FROM jails ORDER BY name", &[]),
            Some(state) => query(
                "SELECT name FROM jails WHERE enabled = ?1 ORDER BY name",
                &[&state],
            ),
        }
        .map_err(|e| self.error(e))
    }

    /// Saves where reading stopped in `path` (a log file, or the journal's name) for `jail`.
    pub fn set_log_position(
        &mut self,
        jail: &str,
        path: &str,
        position: &LogPosition,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_jail(tx, jail)?;
            write_log_position(tx, jail, path, position)
        })
    }

    /// Where reading stopped in `path` for `jail`, if recorded.
    pub fn get_log_position(
        &self,
        jail: &str,
        path: &str,
    ) -> Result<Option<LogPosition>, StoreError> {
        self.connection
            .query_row(
                "SELECT first_line_md5, inode, journal_cursor, position FROM logs
                 WHERE jail = ?1 AND path = ?2",
                params![jail, path],
                log_position,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Records a ban in the history and as the IP's latest ban in its jail.
    /// Only the last `dbmaxmatches` matches are kept.
    pub fn add_ban(&mut self, ban: &NewBan<'_>) -> Result<(), StoreError> {
        self.add_bans(std::slice::from_ref(ban))
    }

    /// Records `bans` in one transaction: all of them are on disk, or none.
    ///
    /// The daemon records a batch of decided bans before their actions run (write-ahead):
    /// a kill between the two leaves the ban in the store, and the restart applies it.
    pub fn add_bans(&mut self, bans: &[NewBan<'_>]) -> Result<(), StoreError> {
        let max_matches = self.max_matches;
        self.write(|tx| {
            for ban in bans {
                insert_ban(tx, ban, max_matches)?;
            }
            Ok(())
        })
    }

    /// Saves, in one transaction, what reading a jail's logs up to some positions led to
    /// (see [`ReadSave`]).
    ///
    /// Saved together, a restart resumes counting exactly where reading resumes: no line
    /// counted twice (its failure is in a saved window and its position is past it) and
    /// none lost (a line after the position is read again and its failure counted then).
    pub fn save_read(&mut self, jail: &str, read: &ReadSave<'_>) -> Result<(), StoreError> {
        let max_matches = self.max_matches;
        self.write(|tx| {
            ensure_jail(tx, jail)?;
            for ban in read.bans {
                insert_ban(tx, ban, max_matches)?;
            }
            for window in read.windows {
                write_window(tx, jail, window, max_matches)?;
            }
            for id in read.closed {
                tx.prepare_cached("DELETE FROM windows WHERE jail = ?1 AND id = ?2")?
                    .execute(params![jail, id])?;
            }
            tx.execute(
                "DELETE FROM windows WHERE jail = ?1 AND last_time < ?2",
                params![jail, read.stale_before],
            )?;
            for (path, position) in read.positions {
                write_log_position(tx, jail, path, position)?;
            }
            Ok(())
        })
    }

    /// The saved failure windows of `jail` whose last failure is at or after `since`.
    pub fn windows(&self, jail: &str, since: i64) -> Result<Vec<WindowRow>, StoreError> {
        let run = || -> rusqlite::Result<Vec<WindowRow>> {
            let mut statement = self.connection.prepare(
                "SELECT id, retry, failures, first_time, last_time, data FROM windows
                 WHERE jail = ?1 AND last_time >= ?2 ORDER BY rowid",
            )?;
            let rows = statement.query_map(params![jail, since], window_row)?;
            rows.collect()
        };
        run().map_err(|e| self.error(e))
    }

    /// Forgets the bans of `ip` in `jail` (an unban by the user).
    pub fn remove_ban(&mut self, jail: &str, ip: &str) -> Result<(), StoreError> {
        self.remove_bans(jail, &[ip])
    }

    /// [`Store::remove_ban`] for many addresses in one transaction.
    pub fn remove_bans(&mut self, jail: &str, ips: &[&str]) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut latest = tx.prepare_cached("DELETE FROM bips WHERE jail = ?1 AND ip = ?2")?;
            let mut history = tx.prepare_cached("DELETE FROM bans WHERE jail = ?1 AND ip = ?2")?;
            for ip in ips {
                latest.execute(params![jail, ip])?;
                history.execute(params![jail, ip])?;
            }
            Ok(())
        })
    }

    /// Forgets every ban of `jail`.
    pub fn remove_all_bans(&mut self, jail: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM bips WHERE jail = ?1", params![jail])?;
            tx.execute("DELETE FROM bans WHERE jail = ?1", params![jail])
                .map(drop)
        })
    }

    /// Bans of `jail` in force at `now` (Unix seconds): permanent, or
    /// `time_of_ban + ban_time > now`; newest first per IP.
    pub fn current_bans(&self, jail: &str, now: i64) -> Result<Vec<CurrentBan>, StoreError> {
        self.query_current(
            "SELECT jail, ip, time_of_ban, ban_time, ban_count, data FROM bips
             WHERE jail = ?1 AND (time_of_ban + ban_time > ?2 OR ban_time <= -1)
             ORDER BY ip",
            params![jail, now],
            now,
        )
    }

    /// Bans in force at `now` over all jails.
    pub fn all_current_bans(&self, now: i64) -> Result<Vec<CurrentBan>, StoreError> {
        self.query_current(
            "SELECT jail, ip, time_of_ban, ban_time, ban_count, data FROM bips
             WHERE time_of_ban + ban_time > ?1 OR ban_time <= -1
             ORDER BY jail, ip",
            params![now],
            now,
        )
    }

    /// How often `ip` was banned: in `jail`, or summed over all jails when
    /// `jail` is `None` (fail2ban's `getBan`, used by `bantime.increment`).
    /// `since` limits it to bans after that time.
    pub fn ban_count(
        &self,
        ip: &str,
        jail: Option<&str>,
        since: Option<i64>,
    ) -> Result<Option<BanCount>, StoreError> {
        let since = since.unwrap_or(i64::MIN);
        let row = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Option<BanCount>> {
            let count: Option<i64> = row.get(0)?;
            Ok(count.map(|count| BanCount {
                ban_count: u32::try_from(count).unwrap_or(u32::MAX),
                last_time_of_ban: row.get::<_, Option<i64>>(1).ok().flatten().unwrap_or(0),
                ban_time: row.get::<_, Option<i64>>(2).ok().flatten().unwrap_or(0),
            }))
        };
        let result = match jail {
            Some(jail) => self
                .connection
                .prepare_cached(
                    "SELECT ban_count, time_of_ban, ban_time FROM bips
                     WHERE ip = ?1 AND jail = ?2 AND time_of_ban > ?3",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row(params![ip, jail, since], row)
                        .optional()
                })
                .map(Option::flatten),
            None => self
                .connection
                .prepare_cached(
                    "SELECT sum(ban_count), max(time_of_ban), sum(ban_time) FROM bips
                     WHERE ip = ?1 AND time_of_ban > ?2",
                )
                .and_then(|mut statement| statement.query_row(params![ip, since], row)),
        };
        result.map_err(|e| self.error(e))
    }

    /// Matches and failures of `ip` merged over its recorded bans (in
    /// `jail`, or all jails), oldest matches first, at most `dbmaxmatches`
    /// (fail2ban's `getBansMerged`, for `<ipmatches>`/`<ipjailmatches>`).
    pub fn bans_merged(
        &self,
        ip: &str,
        jail: Option<&str>,
    ) -> Result<Option<MergedBans>, StoreError> {
        let rows: Vec<String> = self.select_ban_data(ip, jail).map_err(|e| self.error(e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut merged = MergedBans::default();
        // Newest first: prepend older matches while room is left.
        for json in rows {
            let data = parse_data(&json);
            let room = self.max_matches.saturating_sub(merged.matches.len());
            let skip = data.matches.len().saturating_sub(room);
            let mut older: Vec<String> = data.matches.into_iter().skip(skip).collect();
            older.append(&mut merged.matches);
            merged.matches = older;
            merged.failures = merged.failures.saturating_add(data.failures.max(1));
        }
        Ok(Some(merged))
    }

    /// Drops history older than `dbpurgeage` (relative to `now`), latest-ban
    /// rows long outdated (never permanent ones), and disabled jails left
    /// without bans.
    pub fn purge(&mut self, now: i64) -> Result<(), StoreError> {
        let age = i64::try_from(self.purge_age.as_secs()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(age);
        self.write(|tx| {
            tx.execute("DELETE FROM bans WHERE time_of_ban < ?1", params![cutoff])?;
            tx.execute(
                "DELETE FROM bips WHERE time_of_ban < ?1 AND ban_time != -1
                 AND time_of_ban + ban_time * ?2 < ?1",
                params![cutoff, OUTDATED_FACTOR],
            )?;
            tx.execute(
                "DELETE FROM jails WHERE enabled = 0
                 AND NOT EXISTS(SELECT 1 FROM bans WHERE jail = jails.name)
                 AND NOT EXISTS(SELECT 1 FROM bips WHERE jail = jails.name)",
                [],
            )
            .map(drop)
        })
    }

    fn select_ban_data(&self, ip: &str, jail: Option<&str>) -> rusqlite::Result<Vec<String>> {
        let collect = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Vec<String>> {
            let mut statement = self.connection.prepare_cached(sql)?;
            let rows = statement.query_map(args, |row| row.get::<_, Option<String>>(0))?;
            rows.map(|data| data.map(Option::unwrap_or_default))
                .collect()
        };
        match jail {
            Some(jail) => collect(
                "SELECT data FROM bans WHERE ip = ?1 AND jail = ?2 ORDER BY time_of_ban DESC, rowid DESC",
                &[&ip, &jail],
            ),
            None => collect(
                "SELECT data FROM bans WHERE ip = ?1 ORDER BY time_of_ban DESC, rowid DESC",
                &[&ip],
            ),
        }
    }

    fn query_current(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        now: i64,
    ) -> Result<Vec<CurrentBan>, StoreError> {
        let run = || -> rusqlite::Result<Vec<CurrentBan>> {
            let mut statement = self.connection.prepare_cached(sql)?;
            let rows = statement.query_map(args, |row| current_ban(row, now))?;
            rows.collect()
        };
        run().map_err(|e| self.error(e))
    }

    /// Runs `body` in one transaction: all of it is on disk, or none.
    fn write(
        &mut self,
        body: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let tx = self.connection.transaction().map_err(&wrap)?;
        body(&tx).map_err(&wrap)?;
        tx.commit().map_err(wrap)
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Inserts one ban into the history and as the latest of its (ip, jail), keeping its last
/// `max_matches` matches.
fn insert_ban(tx: &Transaction<'_>, ban: &NewBan<'_>, max_matches: usize) -> rusqlite::Result<()> {
    ensure_jail(tx, ban.jail)?;
    let json = data_json(ban.data, max_matches);
    let values = params![
        ban.jail,
        ban.ip,
        ban.time_of_ban,
        ban.ban_time,
        ban.ban_count,
        json
    ];
    // Cached: a bulk `banip` inserts many rows in one transaction.
    tx.prepare_cached(
        "INSERT INTO bans(jail, ip, time_of_ban, ban_time, ban_count, data)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(values)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO bips(jail, ip, time_of_ban, ban_time, ban_count, data)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(values)
    .map(drop)
}

/// The JSON of a ban's data with only its last `max_matches` matches.
fn data_json(data: BanDataRef<'_>, max_matches: usize) -> String {
    let excess = data.matches.len().saturating_sub(max_matches);
    let kept = BanDataRef {
        matches: &data.matches[excess..],
        ..data
    };
    serde_json::to_string(&kept).unwrap_or_else(|_| "{}".to_owned())
}

fn write_window(
    tx: &Transaction<'_>,
    jail: &str,
    window: &WindowRow,
    max_matches: usize,
) -> rusqlite::Result<()> {
    // Cached, as every statement run once per ban or window: a flood runs them by the
    // thousand in one transaction, and parsing them again was an eighth of the jail's time.
    tx.prepare_cached(
        "INSERT OR REPLACE INTO windows(jail, id, retry, failures, first_time, last_time, data)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        jail,
        window.id,
        window.retry,
        window.failures,
        window.first_time,
        window.last_time,
        data_json(BanDataRef::from(&window.data), max_matches)
    ])
    .map(drop)
}

fn window_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<WindowRow> {
    let data: Option<String> = row.get(5)?;
    Ok(WindowRow {
        id: row.get(0)?,
        retry: row.get(1)?,
        failures: row.get(2)?,
        first_time: row.get(3)?,
        last_time: row.get(4)?,
        data: parse_data(data.as_deref().unwrap_or("{}")),
    })
}

/// Writes one `logs` row: a file's md5, inode and offset, or a journal cursor.
fn write_log_position(
    tx: &Transaction<'_>,
    jail: &str,
    path: &str,
    position: &LogPosition,
) -> rusqlite::Result<()> {
    let sql = "INSERT INTO logs(jail, path, first_line_md5, inode, journal_cursor, position)
               VALUES(?1, ?2, ?3, ?4, ?5, ?6)
               ON CONFLICT(jail, path) DO UPDATE
               SET first_line_md5 = excluded.first_line_md5, inode = excluded.inode,
                   journal_cursor = excluded.journal_cursor, position = excluded.position";
    let saturate = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    match position {
        LogPosition::File {
            first_line_md5,
            inode,
            offset,
        } => {
            let inode = inode.map(saturate);
            let values = params![
                jail,
                path,
                first_line_md5,
                inode,
                None::<String>,
                saturate(*offset)
            ];
            tx.execute(sql, values)
        }
        LogPosition::Journal { cursor } => tx.execute(
            sql,
            params![jail, path, None::<String>, None::<i64>, cursor, 0],
        ),
    }
    .map(drop)
}

fn log_position(row: &rusqlite::Row<'_>) -> rusqlite::Result<LogPosition> {
    let md5: Option<String> = row.get(0)?;
    let inode: Option<i64> = row.get(1)?;
    let cursor: Option<String> = row.get(2)?;
    let offset: i64 = row.get(3)?;
    Ok(match (cursor, md5) {
        (Some(cursor), _) => LogPosition::Journal { cursor },
        (None, md5) => LogPosition::File {
            first_line_md5: md5.unwrap_or_default(),
            inode: inode.and_then(|inode| u64::try_from(inode).ok()),
            offset: u64::try_from(offset).unwrap_or(0),
        },
    })
}

/// Adds `jail` (enabled) unless known; bans and positions need their jail.
fn ensure_jail(tx: &Transaction<'_>, jail: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)")?
        .execute(params![jail])
        .map(drop)
}

fn current_ban(row: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<CurrentBan> {
    let time_of_ban: i64 = row.get(2)?;
    let ban_time: i64 = row.get(3)?;
    let ban_count: i64 = row.get(4)?;
    let data: Option<String> = row.get(5)?;
    let remaining = (ban_time >= 0).then(|| {
        let end = time_of_ban.saturating_add(ban_time);
        Duration::from_secs(u64::try_from(end.saturating_sub(now)).unwrap_or(0))
    });
    Ok(CurrentBan {
        jail: row.get(0)?,
        ip: row.get(1)?,
        time_of_ban,
        ban_time,
        ban_count: u32::try_from(ban_count).unwrap_or(0),
        data: parse_data(data.as_deref().unwrap_or("{}")),
        remaining,
    })
}

/// A row's JSON; a damaged value loses its details, not the ban.
fn parse_data(json: &str) -> BanData {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests;
