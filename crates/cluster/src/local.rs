//! The node's own fleet state, in an SQLite file beside its ban database: the outbox of
//! events decided here and not yet in the fleet's log, and the position in that log up to
//! which the other nodes' events were applied. Both survive a restart: a ban decided while
//! the database was down is published when it is back, and a restart resumes where it was.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::ClusterError;
use crate::event::{Change, LocalEvent};

#[derive(Debug)]
pub struct LocalState {
    connection: Connection,
    path: String,
}

impl LocalState {
    /// Opens (creating) the file at `path`, or an in-memory state for `None`.
    pub fn open(path: Option<&Path>) -> Result<LocalState, ClusterError> {
        let name = path.map_or(":memory:".to_string(), |p| p.display().to_string());
        let error = |source| ClusterError::Local {
            path: name.clone(),
            source,
        };
        let connection = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(error)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS outbox (
                     seq INTEGER PRIMARY KEY,
                     jail TEXT NOT NULL,
                     ip TEXT NOT NULL,
                     kind TEXT NOT NULL,
                     time_of_ban INTEGER NOT NULL,
                     ban_time INTEGER NOT NULL,
                     ban_count INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS position (id INTEGER NOT NULL);",
            )
            .map_err(error)?;
        Ok(LocalState {
            connection,
            path: name,
        })
    }

    fn error(&self, source: rusqlite::Error) -> ClusterError {
        ClusterError::Local {
            path: self.path.clone(),
            source,
        }
    }

    /// Queues `events` for publishing, in one transaction.
    pub fn queue(&mut self, events: &[LocalEvent]) -> Result<(), ClusterError> {
        let run = |connection: &mut Connection| -> rusqlite::Result<()> {
            let transaction = connection.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO outbox (jail, ip, kind, time_of_ban, ban_time, ban_count) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for event in events {
                    let (time_of_ban, ban_time, ban_count) = columns(&event.change);
                    insert.execute(params![
                        event.jail,
                        event.ip,
                        event.change.kind(),
                        time_of_ban,
                        ban_time,
                        ban_count
                    ])?;
                }
            }
            transaction.commit()
        };
        run(&mut self.connection).map_err(|e| self.error(e))
    }

    /// Up to `limit` queued events, oldest first, with the last one's sequence number.
    pub fn pending(&self, limit: usize) -> Result<(Vec<LocalEvent>, i64), ClusterError> {
        let run = || -> rusqlite::Result<(Vec<LocalEvent>, i64)> {
            let mut select = self.connection.prepare_cached(
                "SELECT seq, jail, ip, kind, time_of_ban, ban_time, ban_count FROM outbox \
                 ORDER BY seq LIMIT ?1",
            )?;
            let mut last = 0;
            let mut events = Vec::new();
            let mut rows = select.query([limit as i64])?;
            while let Some(row) = rows.next()? {
                last = row.get(0)?;
                let kind: String = row.get(3)?;
                let change = if kind == "ban" {
                    Change::Ban {
                        time_of_ban: row.get(4)?,
                        ban_time: row.get(5)?,
                        ban_count: row.get(6)?,
                    }
                } else {
                    Change::Unban
                };
                events.push(LocalEvent {
                    jail: row.get(1)?,
                    ip: row.get(2)?,
                    change,
                });
            }
            Ok((events, last))
        };
        run().map_err(|e| self.error(e))
    }

    /// Forgets the queued events up to sequence number `last`: they are published.
    pub fn published(&self, last: i64) -> Result<(), ClusterError> {
        self.connection
            .execute("DELETE FROM outbox WHERE seq <= ?1", [last])
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// How many events wait in the outbox.
    pub fn queued(&self) -> i64 {
        self.connection
            .query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))
            .unwrap_or(0)
    }

    /// The position in the fleet's log; `None` for a node that never joined.
    pub fn position(&self) -> Result<Option<i64>, ClusterError> {
        self.connection
            .query_row("SELECT max(id) FROM position", [], |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    pub fn set_position(&self, id: i64) -> Result<(), ClusterError> {
        let run = || -> rusqlite::Result<()> {
            self.connection.execute("DELETE FROM position", [])?;
            self.connection
                .execute("INSERT INTO position (id) VALUES (?1)", [id])?;
            Ok(())
        };
        run().map_err(|e| self.error(e))
    }
}

/// `(time_of_ban, ban_time, ban_count)` of a change; an unban has zeros.
pub fn columns(change: &Change) -> (i64, i64, u32) {
    match *change {
        Change::Ban {
            time_of_ban,
            ban_time,
            ban_count,
        } => (time_of_ban, ban_time, ban_count),
        Change::Unban => (0, 0, 0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn outbox_and_position_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.sqlite3");
        let ban = LocalEvent {
            jail: "sshd".into(),
            ip: "192.0.2.1".into(),
            change: Change::Ban {
                time_of_ban: 100,
                ban_time: 600,
                ban_count: 1,
            },
        };
        let unban = LocalEvent {
            change: Change::Unban,
            ..ban.clone()
        };
        {
            let mut state = LocalState::open(Some(&path)).unwrap();
            assert_eq!(state.position().unwrap(), None);
            state.queue(&[ban.clone(), unban.clone()]).unwrap();
            state.set_position(41).unwrap();
            state.set_position(42).unwrap();
        }
        let state = LocalState::open(Some(&path)).unwrap();
        assert_eq!(state.position().unwrap(), Some(42));
        let (events, last) = state.pending(10).unwrap();
        assert_eq!(events, vec![ban, unban]);
        state.published(last).unwrap();
        assert_eq!(state.queued(), 0);
    }
}
