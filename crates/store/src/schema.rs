//! Schema, its version and the connection settings.

use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

/// The schema version this build writes: `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 3;

/// `MIGRATIONS[i]` brings a database from version `i` to `i + 1`. Append
/// only: a released step is never edited.
const MIGRATIONS: [&str; 3] = [
    // 1: jails, log positions, ban history (`bans`) and latest ban per
    // (ip, jail) (`bips`), as fail2ban's schema version 4.
    "CREATE TABLE jails(
         name TEXT NOT NULL PRIMARY KEY,
         enabled INTEGER NOT NULL DEFAULT 1
     );
     CREATE TABLE logs(
         jail TEXT NOT NULL REFERENCES jails(name) ON DELETE CASCADE,
         path TEXT NOT NULL,
         first_line_hash TEXT NOT NULL,
         position INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY(jail, path)
     );
     CREATE TABLE bans(
         jail TEXT NOT NULL REFERENCES jails(name),
         ip TEXT NOT NULL,
         time_of_ban INTEGER NOT NULL,
         ban_time INTEGER NOT NULL,
         ban_count INTEGER NOT NULL DEFAULT 1,
         data TEXT
     );
     CREATE INDEX bans_jail_time_of_ban ON bans(jail, time_of_ban);
     CREATE INDEX bans_jail_ip ON bans(jail, ip);
     CREATE INDEX bans_ip ON bans(ip);
     CREATE TABLE bips(
         ip TEXT NOT NULL,
         jail TEXT NOT NULL REFERENCES jails(name),
         time_of_ban INTEGER NOT NULL,
         ban_time INTEGER NOT NULL,
         ban_count INTEGER NOT NULL DEFAULT 1,
         data TEXT,
         PRIMARY KEY(ip, jail)
     );
     CREATE INDEX bips_time_of_ban ON bips(time_of_ban);
     CREATE INDEX bips_ip ON bips(ip);",
    // 2: a log position's parts get their own columns. Version 1 kept one text per row:
    // `md5@inode` for a file (a bare md5 before the inode was added), and the journal
    // cursor for the journal, whose row has the path `<journal>`. A row is a file position
    // (md5 set, inode when known) or a journal cursor, never both.
    "CREATE TABLE logs_v2(
         jail TEXT NOT NULL REFERENCES jails(name) ON DELETE CASCADE,
         path TEXT NOT NULL,
         first_line_md5 TEXT,
         inode INTEGER,
         journal_cursor TEXT,
         position INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY(jail, path),
         CHECK((first_line_md5 IS NULL) != (journal_cursor IS NULL))
     );
     INSERT INTO logs_v2(jail, path, first_line_md5, inode, journal_cursor, position)
     SELECT jail, path,
         CASE WHEN path = '<journal>' THEN NULL
              WHEN instr(first_line_hash, '@') > 0
                  THEN substr(first_line_hash, 1, instr(first_line_hash, '@') - 1)
              ELSE first_line_hash END,
         CASE WHEN path != '<journal>' AND instr(first_line_hash, '@') > 0
                  THEN CAST(substr(first_line_hash, instr(first_line_hash, '@') + 1) AS INTEGER)
              END,
         CASE WHEN path = '<journal>' THEN first_line_hash END,
         position
     FROM logs;
     DROP TABLE logs;
     ALTER TABLE logs_v2 RENAME TO logs;",
    // 3: failure windows, saved with the log positions they were counted up to, so that
    // a kill loses no count and a restart counts no line twice.
    "CREATE TABLE windows(
         jail TEXT NOT NULL REFERENCES jails(name) ON DELETE CASCADE,
         id TEXT NOT NULL,
         retry INTEGER NOT NULL,
         failures INTEGER NOT NULL,
         first_time INTEGER NOT NULL,
         last_time INTEGER NOT NULL,
         data TEXT,
         PRIMARY KEY(jail, id)
     );",
];

/// Connection settings.
///
/// Write-ahead log with `synchronous = NORMAL`: the daemon writes often
/// (every log position update) and must survive being killed at any moment.
/// In WAL mode a commit is one append to the log; a process killed mid-write
/// leaves an incomplete frame that the next open ignores, so the file is
/// always a consistent state of committed transactions. NORMAL skips the
/// fsync per commit: a power loss may drop the last commits, never corrupt.
/// (fail2ban runs `synchronous = OFF` with an in-memory journal, which a
/// crash in the middle of a transaction can corrupt.) `:memory:` has no WAL;
/// SQLite keeps its own journal mode there.
pub(crate) fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "foreign_keys", true)?;
    let _mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    // Statement journals (an `INSERT OR REPLACE` inside a transaction keeps one) in memory,
    // not in a temporary file: a bulk `banip` spent a third of its time writing them.
    // They never outlive a transaction, so nothing durable moves off the disk.
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "synchronous", "NORMAL")
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction.
pub(crate) fn migrate(connection: &mut Connection, path: &str) -> Result<(), StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let tx = connection.transaction().map_err(wrap)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(wrap)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == 0 && has_tables(&tx).map_err(wrap)? {
        return Err(StoreError::ForeignDatabase {
            path: path.to_owned(),
        });
    }
    apply_migrations(&tx, found, SCHEMA_VERSION).map_err(wrap)?;
    tx.commit().map_err(wrap)
}

/// Runs the migrations after version `from` up to and including `to` inside `connection`'s
/// open transaction, recording each version reached.
pub(crate) fn apply_migrations(
    connection: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<()> {
    for (version, step) in (1_i64..)
        .zip(MIGRATIONS)
        .skip_while(|(version, _)| *version <= from)
        .take_while(|(version, _)| *version <= to)
    {
        connection.execute_batch(step)?;
        connection.pragma_update(None, "user_version", version)?;
    }
    Ok(())
}

pub(crate) fn has_tables(connection: &Connection) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table')",
        [],
        |row| row.get(0),
    )
}
