//! What a jail writes to the store, and in which order, so that a kill at any moment
//! loses nothing and doubles nothing.
//!
//! - Bans are written before their actions run (write-ahead), one transaction per batch
//!   of decided bans. A kill after the write finds the ban in the store: the restart
//!   flushes the firewall and applies every stored ban, this one included. A kill before
//!   it loses the ban, its closed failure window and its log position together: the
//!   restart reads the lines again and decides the ban again.
//! - Log positions are written only by the jail, after it counted the failures of the
//!   lines before them, and in the same transaction as the failure windows those lines
//!   changed (and any ban still unwritten). A restart restores the windows and reads on
//!   from the position, so each line counts once. Persisting the windows was chosen over
//!   re-reading `findtime` of log at start: a re-read cannot tell a line already counted
//!   into a ban from one that was not, and with a long `findtime` it means re-reading
//!   large logs at every start.
//! - A ban the store cannot take (a full disk, a read-only file) is applied all the same
//!   and kept here, written with the next batch or save, or by the retry timer, once the
//!   store takes writes again. What survives a restart while the store still cannot be
//!   written: the bans decided from log lines, because their log position was not saved
//!   either (the same transaction failed), so the restart reads their lines again and
//!   decides them again, as long as those lines are within `findtime`. A `banip` made
//!   meanwhile lives only in memory and is lost by a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferroban_store::{LogPosition, StoreError};
use ferroban_tracker::{Ban, FailId};

use super::JailOwner;
use crate::actions::captures_of;
use crate::log::Level;
use crate::log_at;
use crate::now_seconds;
use crate::store::{BanRecord, ReadState, record_bans, save_read};

const DB_LOG: &str = "fail2ban.database";

/// How often bans the store could not take are tried again while nothing else writes.
pub(super) const RETRY_UNWRITTEN: Duration = Duration::from_secs(5);

impl JailOwner {
    /// Writes `decided` (with `captures`, their data unpacked) and the bans still unwritten
    /// in one transaction; keeps them all for later when the store refuses.
    pub(super) fn record_decided(
        &mut self,
        decided: &[Arc<Ban>],
        captures: &[BTreeMap<String, String>],
    ) {
        let held = captures_of(self.unwritten.iter().map(|ban| &**ban));
        let records: Vec<BanRecord<'_>> = self
            .unwritten
            .iter()
            .zip(&held)
            .chain(decided.iter().zip(captures))
            .map(|(ban, captures)| BanRecord::new(ban, captures))
            .collect();
        let result = record_bans(self.store.as_ref(), &self.config.name, &records);
        drop(records);
        self.after_write(result, decided);
    }

    /// Saves the log `positions` the source read up to, with the failure windows the lines
    /// before them changed and any ban still unwritten, in one transaction.
    pub(super) fn save_read(&mut self, positions: &[(String, LogPosition)]) {
        if self.store.is_none() {
            return;
        }
        let held = captures_of(self.unwritten.iter().map(|ban| &**ban));
        let bans: Vec<BanRecord<'_>> = self
            .unwritten
            .iter()
            .zip(&held)
            .map(|(ban, captures)| BanRecord::new(ban, captures))
            .collect();
        let stale_before = now_seconds().saturating_sub(self.tracker.policy().find_time);
        let windows = self.tracker.take_window_changes();
        let state = ReadState {
            bans: &bans,
            windows: &windows,
            positions,
            stale_before,
        };
        let result = save_read(self.store.as_ref(), &self.config.name, &state);
        let changed: Vec<FailId> = windows.into_iter().map(|(id, _)| id).collect();
        drop(bans);
        if result.is_err() {
            // Saved with the next position, which covers these lines too.
            self.tracker.keep_window_changes(changed);
        }
        self.after_write(result, &[]);
    }

    /// Tries the unwritten bans again (the retry timer).
    pub(super) fn retry_unwritten(&mut self) {
        if !self.unwritten.is_empty() {
            self.record_decided(&[], &[]);
        }
    }

    /// A ban lifted by the user is not to be written any more.
    pub(super) fn forget_unwritten(&mut self, id: &FailId) {
        self.unwritten.retain(|ban| ban.id != *id);
    }

    fn after_write(&mut self, result: Result<(), StoreError>, decided: &[Arc<Ban>]) {
        let name = &self.config.name;
        match result {
            Ok(()) => {
                if self.store_failing {
                    log_at!(
                        DB_LOG,
                        Level::NOTICE,
                        "[{name}] the database takes writes again: recorded {} ban(s) held \
                         meanwhile",
                        self.unwritten.len()
                    );
                    self.store_failing = false;
                }
                self.unwritten.clear();
            }
            Err(error) => {
                // Said once per outage, not once per write.
                if !self.store_failing {
                    log_at!(
                        DB_LOG,
                        Level::ERROR,
                        "[{name}] cannot write to the database: {error}; bans are applied and \
                         kept to be written once it can be"
                    );
                    self.store_failing = true;
                }
                self.unwritten.extend(decided.iter().cloned());
            }
        }
    }
}
