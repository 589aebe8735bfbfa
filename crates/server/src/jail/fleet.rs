//! A jail applying the bans and unbans of other nodes of its fleet (`crate::cluster`).
//! Each is applied as a restored ban is, with the other node's time of ban and ban time,
//! so it ends when it ends there; this node's ignore list still wins. Such a ban is
//! recorded in the local database with its origin, so a restart restores it, and is never
//! published again.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferroban_cluster::{Change, RemoteEvent};
use ferroban_tracker::{Ban, BanOutcome, BanTime, FailId, RestoreOutcome, StoredBan};

use super::JailOwner;
use super::ignore::ignore_source;
use crate::actions::ACTIONS_LOG;
use crate::cluster::{CLUSTER_LOG, ORIGIN};
use crate::log::Level;
use crate::log_at;
use crate::store::{BanRecord, record_bans};

impl JailOwner {
    /// Applies `events` in their order.
    pub(super) fn fleet_events(&mut self, events: Vec<RemoteEvent>) {
        let now = crate::now_seconds();
        let mut bans = Vec::new();
        for event in events {
            let id = FailId::parse(&event.ip);
            match event.change {
                Change::Ban {
                    time_of_ban,
                    ban_time,
                    ban_count,
                } => {
                    let stored = StoredBan {
                        id: id.clone(),
                        time_of_ban,
                        ban_time: Some(BanTime::from_seconds(ban_time)),
                        ban_count,
                        failures: 0,
                        matches: Vec::new(),
                        data: BTreeMap::from([(ORIGIN.to_string(), event.node.clone())]),
                    };
                    self.fleet_ban(stored, &event.node, now, &mut bans);
                }
                Change::Unban => {
                    // In order: what was banned before this unban is applied first.
                    self.apply_fleet_bans(std::mem::take(&mut bans));
                    if let Ok(unbans) = self.tracker.unban(&id) {
                        log_at!(
                            CLUSTER_LOG,
                            Level::INFO,
                            "[{}] {id} unbanned on node {}",
                            self.config.name,
                            event.node
                        );
                        self.apply_unbans(&unbans);
                    }
                }
            }
        }
        self.apply_fleet_bans(bans);
    }

    fn fleet_ban(&mut self, stored: StoredBan, node: &str, now: i64, bans: &mut Vec<Arc<Ban>>) {
        let id = stored.id.clone();
        let name = &self.config.name;
        match self.tracker.restore(stored, now) {
            RestoreOutcome::Ban(BanOutcome::Banned(ban)) => {
                log_at!(
                    ACTIONS_LOG,
                    Level::NOTICE,
                    "[{name}] Ban {id} (node {node})"
                );
                bans.push(ban);
            }
            RestoreOutcome::Ignored(reason) => log_at!(
                ACTIONS_LOG,
                Level::INFO,
                "[{name}] Ignore {id} banned on node {node}, by {}",
                ignore_source(&reason)
            ),
            RestoreOutcome::Obsolete | RestoreOutcome::Ban(_) => {}
        }
    }

    /// Records `bans` (one transaction), then applies them in one batch.
    fn apply_fleet_bans(&mut self, bans: Vec<Arc<Ban>>) {
        if bans.is_empty() {
            return;
        }
        let captures = crate::actions::captures_of(bans.iter().map(|ban| &**ban));
        let records: Vec<BanRecord<'_>> = bans
            .iter()
            .zip(&captures)
            .map(|(ban, captures)| BanRecord::new(ban, captures))
            .collect();
        if let Err(error) = record_bans(self.store.as_ref(), &self.config.name, &records) {
            log_at!(
                CLUSTER_LOG,
                Level::ERROR,
                "[{}] cannot record {} fleet bans: {error}",
                self.config.name,
                bans.len()
            );
        }
        drop(records);
        self.apply_bans(&bans);
    }
}
