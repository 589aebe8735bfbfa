//! The daemon's use of the store: one [`Store`] shared by the jails behind a mutex (its
//! writes are short; SQLite serializes them anyway), adapters from the tracker's types to
//! the store's rows, and log positions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use ferroban_source::Checkpoint;
use ferroban_store::{
    BanData, BanDataRef, LogPosition, NewBan, Store, StoreError, Takeover, WindowRow,
};
use ferroban_tracker::{
    Ban, BanHistory, BanTime, FailId, FailureData, FailureWindow, PreviousBan, StoredBan, Timestamp,
};

use crate::log::Level;
use crate::log_at;

const DB_LOG: &str = "fail2ban.database";
/// fail2ban's `bantime` of a ban whose time was never stored.
const UNKNOWN_BAN_TIME: i64 = -2;

/// Tells what the takeover of a fail2ban database did: the backup first, then each row
/// left behind and why.
pub fn log_takeover(takeover: &Takeover) {
    log_at!(DB_LOG, Level::INFO, "{takeover}");
    for skipped in &takeover.skipped {
        log_at!(
            DB_LOG,
            Level::WARNING,
            "Not taken over from {}: {skipped}",
            takeover.path.display()
        );
    }
}

/// The store, shared by every jail.
pub type SharedStore = Arc<Mutex<Store>>;

fn locked(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A ban as the store writes it, with its captures unpacked once by the caller (the
/// actions read the same map).
pub struct BanRecord<'a> {
    pub ban: &'a Ban,
    /// `ban.id` as text.
    pub ip: String,
    pub captures: &'a BTreeMap<String, String>,
}

impl<'a> BanRecord<'a> {
    pub fn new(ban: &'a Ban, captures: &'a BTreeMap<String, String>) -> Self {
        BanRecord {
            ban,
            ip: ban.id.to_string(),
            captures,
        }
    }

    fn row<'b>(&'b self, jail: &'b str) -> NewBan<'b> {
        NewBan {
            jail,
            ip: &self.ip,
            time_of_ban: self.ban.time,
            ban_time: self.ban.ban_time.as_seconds(),
            ban_count: self.ban.ban_count,
            data: BanDataRef {
                matches: &self.ban.matches,
                failures: self.ban.failures,
                captures: self.captures,
            },
        }
    }
}

/// Records new bans (restored ones are already recorded) in one transaction.
pub fn record_bans(
    store: Option<&SharedStore>,
    jail: &str,
    bans: &[BanRecord<'_>],
) -> Result<(), StoreError> {
    let Some(store) = store else { return Ok(()) };
    if bans.is_empty() {
        return Ok(());
    }
    let rows: Vec<NewBan<'_>> = bans.iter().map(|ban| ban.row(jail)).collect();
    locked(store).add_bans(&rows)
}

/// Records one new ban, logging a failure.
#[cfg(test)]
pub fn record_ban(store: Option<&SharedStore>, jail: &str, ban: &Ban) {
    let captures = ban.data.to_map();
    if let Err(error) = record_bans(store, jail, &[BanRecord::new(ban, &captures)]) {
        log_at!(
            DB_LOG,
            Level::ERROR,
            "[{jail}] cannot record ban of {}: {error}",
            ban.id
        );
    }
}

/// What reading a jail's logs up to some positions led to, saved in one transaction.
pub struct ReadState<'a> {
    /// Bans decided from those lines that are not recorded yet (the store could not be
    /// written when they were made).
    pub bans: &'a [BanRecord<'a>],
    /// Windows changed since the last save; `None`: the window closed.
    pub windows: &'a [(FailId, Option<&'a FailureWindow>)],
    pub positions: &'a [(String, LogPosition)],
    /// Windows whose last failure is before this are stale.
    pub stale_before: Timestamp,
}

/// Saves `state`: the positions only with the windows and bans they led to.
pub fn save_read(
    store: Option<&SharedStore>,
    jail: &str,
    state: &ReadState<'_>,
) -> Result<(), StoreError> {
    let Some(store) = store else { return Ok(()) };
    let mut rows = Vec::new();
    let mut closed = Vec::new();
    for (id, window) in state.windows {
        match window {
            Some(window) => rows.push(window_row(id, window)),
            None => closed.push(id.to_string()),
        }
    }
    let bans: Vec<NewBan<'_>> = state.bans.iter().map(|ban| ban.row(jail)).collect();
    let read = ferroban_store::ReadSave {
        bans: &bans,
        windows: &rows,
        closed: &closed,
        positions: state.positions,
        stale_before: state.stale_before,
    };
    locked(store).save_read(jail, &read)
}

fn window_row(id: &FailId, window: &FailureWindow) -> WindowRow {
    WindowRow {
        id: id.to_string(),
        retry: window.retry,
        failures: window.failures,
        first_time: window.first_time,
        last_time: window.last_time,
        data: BanData {
            matches: window.matches.to_vec(),
            failures: window.failures,
            captures: window.packed_data().to_map(),
        },
    }
}

/// The failure windows of `jail` saved before a restart whose last failure is at or after
/// `since`.
pub fn saved_windows(
    store: Option<&SharedStore>,
    jail: &str,
    since: Timestamp,
) -> Vec<(FailId, FailureWindow)> {
    let Some(store) = store else {
        return Vec::new();
    };
    let rows = match locked(store).windows(jail, since) {
        Ok(rows) => rows,
        Err(error) => {
            log_at!(
                DB_LOG,
                Level::ERROR,
                "[{jail}] cannot read saved failure windows: {error}"
            );
            return Vec::new();
        }
    };
    let window = |row: WindowRow| {
        let data = FailureData::from(&row.data.captures);
        let counts = (row.retry, row.failures);
        let window = FailureWindow::saved(
            counts,
            row.first_time,
            row.last_time,
            row.data.matches,
            data,
        );
        (FailId::parse(&row.id), window)
    };
    rows.into_iter().map(window).collect()
}

/// Forgets the bans lifted by the user, in one transaction.
pub fn forget_bans(store: Option<&SharedStore>, jail: &str, ids: &[&FailId]) {
    let Some(store) = store else { return };
    if ids.is_empty() {
        return;
    }
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let ips: Vec<&str> = texts.iter().map(String::as_str).collect();
    if let Err(error) = locked(store).remove_bans(jail, &ips) {
        log_at!(
            DB_LOG,
            Level::ERROR,
            "[{jail}] cannot forget {} bans: {error}",
            ips.len()
        );
    }
}

/// The bans of `jail` still in force at `now`, to restore.
pub fn stored_bans(store: Option<&SharedStore>, jail: &str, now: Timestamp) -> Vec<StoredBan> {
    let Some(store) = store else {
        return Vec::new();
    };
    let rows = match locked(store).current_bans(jail, now) {
        Ok(rows) => rows,
        Err(error) => {
            log_at!(
                DB_LOG,
                Level::ERROR,
                "[{jail}] cannot read stored bans: {error}"
            );
            return Vec::new();
        }
    };
    rows.into_iter()
        .map(|row| StoredBan {
            id: FailId::parse(&row.ip),
            time_of_ban: row.time_of_ban,
            // fail2ban's -2, "unknown" (taken over from a database before its version 3):
            // restoring takes the jail's ban time then.
            ban_time: (row.ban_time != UNKNOWN_BAN_TIME)
                .then(|| BanTime::from_seconds(row.ban_time)),
            ban_count: row.ban_count,
            failures: row.data.failures,
            matches: row.data.matches,
            data: row.data.captures,
        })
        .collect()
}

/// Marks a jail as enabled in the store.
pub fn add_jail(store: Option<&SharedStore>, jail: &str) {
    if let Some(store) = store
        && let Err(error) = locked(store).add_jail(jail)
    {
        log_at!(DB_LOG, Level::ERROR, "[{jail}] cannot record jail: {error}");
    }
}

/// Earlier bans for `bantime.increment`, read from the store.
pub struct StoreHistory<'a> {
    pub store: Option<&'a SharedStore>,
    pub jail: &'a str,
}

impl BanHistory for StoreHistory<'_> {
    fn previous_ban(&self, id: &FailId, overall_jails: bool) -> Option<PreviousBan> {
        let store = self.store?;
        let jail = (!overall_jails).then_some(self.jail);
        let count = locked(store)
            .ban_count(&id.to_string(), jail, None)
            .ok()??;
        Some(PreviousBan {
            ban_count: count.ban_count,
            time_of_ban: count.last_time_of_ban,
            ban_time: count.ban_time,
        })
    }
}

/// The saved positions of `paths` for `jail`.
pub fn load_checkpoints(
    store: Option<&SharedStore>,
    jail: &str,
    paths: &[PathBuf],
) -> Vec<Checkpoint> {
    let Some(store) = store else {
        return Vec::new();
    };
    let store = locked(store);
    paths
        .iter()
        .filter_map(|path| {
            let position = store
                .get_log_position(jail, &path.display().to_string())
                .ok()??;
            let LogPosition::File {
                first_line_md5,
                inode,
                offset,
            } = position
            else {
                return None;
            };
            // Inode 0 is no file's: a position without one (taken over from fail2ban)
            // resumes on its first line's md5 alone, as fail2ban does.
            Some(Checkpoint {
                path: path.clone(),
                inode: inode.unwrap_or(0),
                offset,
                first_line_md5,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_the_store() {
        let store: SharedStore = Arc::new(Mutex::new(Store::open(":memory:").unwrap()));
        let checkpoint = Checkpoint {
            path: PathBuf::from("/var/log/auth.log"),
            inode: 1234,
            offset: 99,
            first_line_md5: "abc".into(),
        };
        let position = LogPosition::File {
            first_line_md5: checkpoint.first_line_md5.clone(),
            inode: Some(checkpoint.inode),
            offset: checkpoint.offset,
        };
        let state = ReadState {
            bans: &[],
            windows: &[],
            positions: &[("/var/log/auth.log".to_string(), position)],
            stale_before: 0,
        };
        save_read(Some(&store), "sshd", &state).unwrap();
        let back = load_checkpoints(Some(&store), "sshd", std::slice::from_ref(&checkpoint.path));
        assert_eq!(back, vec![checkpoint]);
    }

    #[test]
    fn bans_are_restored_from_the_store() {
        let store: SharedStore = Arc::new(Mutex::new(Store::open(":memory:").unwrap()));
        let ban = Ban {
            id: FailId::parse("192.0.2.1"),
            time: 1000,
            ban_time: BanTime::Seconds(600),
            ban_count: 1,
            failures: 3,
            matches: vec!["a".into()],
            data: Default::default(),
            restored: false,
        };
        record_ban(Some(&store), "sshd", &ban);
        let restored = stored_bans(Some(&store), "sshd", 1100);
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].id, ban.id);
        assert_eq!(restored[0].ban_time, Some(BanTime::Seconds(600)));
        assert!(stored_bans(Some(&store), "sshd", 1600).is_empty());
        let history = StoreHistory {
            store: Some(&store),
            jail: "sshd",
        };
        assert_eq!(history.previous_ban(&ban.id, false).unwrap().ban_count, 1);
        forget_bans(Some(&store), "sshd", &[&ban.id]);
        assert!(stored_bans(Some(&store), "sshd", 1100).is_empty());
    }
}
