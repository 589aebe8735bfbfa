//! A jail's owner thread: the one place a jail's [`Tracker`] and [`JailActions`] live.
//! This module holds the thread's loop, start, stop and reload; [`bans`] what happens to
//! failures and bans, [`ignore`] what the jail ignores.
//!
//! Everything that touches them arrives as a [`JailCmd`] on one channel (failures from the
//! log source, commands from the control socket with a oneshot reply), so they are handled
//! in order and never concurrently. The thread sleeps until the next command or the
//! tracker's next deadline (a ban ending), then expires what is due. Actions run here,
//! synchronously: a slow action delays this jail only, and its `status` is answered from
//! the [`StatusBoard`] the thread publishes meanwhile.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use std::sync::Arc;

use ferroban_actions::JailActions;
use ferroban_store::LogPosition;
use ferroban_tracker::{Ban, BanListEntry, FailId, Failure, JailStatus, Tracker};
use tokio::sync::oneshot;

use crate::JAIL_LOG;
use crate::actions::{ACTIONS_LOG, ban_info, captures_of, report};
use crate::log::Level;
use crate::log_at;
use crate::setup::JailConfig;
use crate::store::SharedStore;

mod ban_time_extra;
mod bans;
mod board;
mod fleet;
mod ignore;
mod ignore_cache;
mod persist;
pub(crate) mod settings;

pub(crate) use ban_time_extra::Refusal;
pub use ban_time_extra::{BanTimeExtra, ExtraError, ExtraValue};
pub use board::{STATUS_PATIENCE, StatusBoard};
pub use ignore_cache::{IgnoreCacheError, IgnoreCacheSpec};

use bans::build_actions;
use ignore::ignore_list;

const FILTER_LOG: &str = "fail2ban.filter";

/// A message to a jail's owner thread.
#[derive(Debug)]
pub enum JailCmd {
    /// Failures found by the jail's log source, in the order of their lines: a burst of
    /// failures costs the jail one wake-up, not one each.
    Failures(Vec<Failure>),
    /// The log source read up to these `(path, position)`s and sent every failure of the
    /// lines before them: saved with the failure windows they led to (see `persist.rs`).
    Read(Vec<(String, LogPosition)>),
    /// Look at the deadlines again (the clock moved); replies once what was due ended.
    Wake { reply: oneshot::Sender<()> },
    /// `set JAIL attempt`: a failure reported by hand; replies 1, as fail2ban does.
    Attempt {
        id: FailId,
        matches: Vec<String>,
        reply: oneshot::Sender<usize>,
    },
    /// `set JAIL banip`: replies with how many ids were newly banned.
    BanIp {
        ids: Vec<FailId>,
        reply: oneshot::Sender<usize>,
    },
    /// `set JAIL unbanip`: replies with how many were unbanned, or the first id not banned
    /// when `report_absent`.
    UnbanIp {
        ids: Vec<FailId>,
        report_absent: bool,
        reply: oneshot::Sender<Result<usize, ferroban_tracker::TrackerError>>,
    },
    /// `unban --all` for this jail: replies with how many were unbanned.
    UnbanAll { reply: oneshot::Sender<usize> },
    /// `status JAIL`.
    Status { reply: oneshot::Sender<JailStatus> },
    /// `get JAIL banip --with-time`.
    BanList {
        reply: oneshot::Sender<Vec<BanListEntry>>,
    },
    /// `get JAIL ignoreip`.
    IgnoreList { reply: oneshot::Sender<Vec<String>> },
    /// `set JAIL addignoreip` / `delignoreip`: replies with the list after the change.
    ChangeIgnore {
        add: bool,
        entries: Vec<String>,
        reply: oneshot::Sender<Vec<String>>,
    },
    /// Reload (or `set JAIL ...`): new settings for the same jail. Bans stay; actions are
    /// restarted only when their definitions changed, and run `actionreload` when a reload
    /// (`reload` true) keeps them.
    Reconfigure {
        config: Box<JailConfig>,
        reload: bool,
        reply: oneshot::Sender<()>,
    },
    /// `set JAIL idle on|off`: replies with the flag as set.
    SetIdle {
        idle: bool,
        reply: oneshot::Sender<bool>,
    },
    /// Stop: flush the bans from the firewall, run `actionstop`, end the thread.
    Stop { reply: oneshot::Sender<()> },
    /// Bans and unbans of other nodes of the fleet, to apply (see `fleet.rs`).
    Fleet {
        events: Vec<ferroban_cluster::RemoteEvent>,
        reply: oneshot::Sender<()>,
    },
}

/// How the jail starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartMode {
    /// The previous run ended without stopping its actions: clean up first.
    pub after_unclean_stop: bool,
}

/// The state owned by a jail's thread.
pub struct JailOwner {
    config: JailConfig,
    tracker: Tracker,
    actions: JailActions,
    ignore_entries: Vec<String>,
    store: Option<SharedStore>,
    /// When the last consistency check prompted by an "already banned" address ran.
    last_consistency_check: f64,
    /// `set JAIL idle on`: failures found meanwhile are dropped. fail2ban's idle jail stops
    /// reading its logs instead and reads what was written once it is back.
    idle: bool,
    metrics: crate::metrics::JailMetrics,
    /// `ignorecache`: the `ignorecommand` answers kept.
    ignore_cache: Option<ignore_cache::IgnoreCache>,
    /// Bans applied but not yet in the store (it could not be written): written with the
    /// next write that succeeds.
    unwritten: Vec<Arc<Ban>>,
    /// The last write to the store failed (logged once until one succeeds).
    store_failing: bool,
    /// Failure windows dropped for `maxfailurewindows` since the jail started; the first
    /// drop is logged, and then each further million.
    dropped_windows: u64,
    /// The status published for `status JAIL` while this thread is busy.
    board: Arc<StatusBoard>,
    /// A command taken from the queue while gathering failures, handled next.
    stashed: Option<JailCmd>,
}

/// fail2ban checks the actions when an address is found again more than this long after
/// its ban, at most once per this long.
const CONSISTENCY_CHECK_AFTER: f64 = 3.0;

impl JailOwner {
    /// Builds the jail's state; nothing runs yet.
    pub fn new(
        config: JailConfig,
        store: Option<SharedStore>,
    ) -> Result<JailOwner, ferroban_actions::ActionError> {
        let actions = build_actions(&config)?;
        let config_name = config.name.clone();
        let ignore_entries = config.ignore_ip.clone();
        let ignore = ignore_list(&config, &ignore_entries);
        let tracker = Tracker::new(config.policy.clone(), ignore);
        Ok(JailOwner {
            tracker,
            actions,
            ignore_entries,
            store,
            last_consistency_check: 0.0,
            idle: false,
            metrics: crate::metrics::JailMetrics::new(&config_name),
            ignore_cache: config
                .ignore_cache
                .clone()
                .map(ignore_cache::IgnoreCache::new),
            config,
            unwritten: Vec::new(),
            store_failing: false,
            dropped_windows: 0,
            board: Arc::default(),
            stashed: None,
        })
    }

    /// The board this jail publishes its status on.
    pub fn board(&self) -> Arc<StatusBoard> {
        Arc::clone(&self.board)
    }

    /// The thread's body: start, restore, then serve commands until `Stop`.
    pub fn run(mut self, mode: StartMode, commands: Receiver<JailCmd>) {
        self.start(mode);
        // Published after each command and its expiry, before waiting again: a reply can
        // reach its caller a moment before the metrics move.
        self.metrics.publish(&self.tracker.counts());
        self.board.publish(&self.tracker);
        loop {
            let timeout = self.time_to_next_deadline();
            let command = match self.stashed.take() {
                Some(command) => Ok(command),
                None => commands.recv_timeout(timeout),
            };
            match command {
                Ok(JailCmd::Stop { reply }) => {
                    self.stop();
                    self.metrics.stopped(&self.tracker.counts());
                    let _ = reply.send(());
                    return;
                }
                Ok(JailCmd::Failures(mut failures)) => {
                    self.gather(&mut failures, &commands);
                    self.handle(JailCmd::Failures(failures));
                }
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.stop();
                    self.metrics.stopped(&self.tracker.counts());
                    return;
                }
            }
            self.expire();
            self.metrics.publish(&self.tracker.counts());
            self.board.publish(&self.tracker);
            self.retry_unwritten();
        }
    }

    /// Adds the failures already waiting behind `failures` to them, up to [`GATHERED`]: the
    /// bans they lead to are then recorded in one transaction and applied in one batch
    /// (one `nft` call), where a flood would otherwise make one per message. The first
    /// other command met is kept for the next turn.
    fn gather(&mut self, failures: &mut Vec<Failure>, commands: &Receiver<JailCmd>) {
        while failures.len() < GATHERED {
            match commands.try_recv() {
                Ok(JailCmd::Failures(more)) => failures.extend(more),
                Ok(other) => {
                    self.stashed = Some(other);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    fn time_to_next_deadline(&mut self) -> Duration {
        let idle = if self.unwritten.is_empty() {
            Duration::from_secs(3600)
        } else {
            persist::RETRY_UNWRITTEN
        };
        let Some(deadline) = self.tracker.next_deadline() else {
            return idle;
        };
        let now = crate::now_float();
        let wait = deadline as f64 - now;
        if wait <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(wait).min(idle)
        }
    }

    fn start(&mut self, mode: StartMode) {
        let name = self.config.name.clone();
        if mode.after_unclean_stop {
            log_at!(
                JAIL_LOG,
                Level::NOTICE,
                "[{name}] previous run did not stop cleanly: flushing and stopping its actions first"
            );
            let failures = self.actions.clean_up_after_unclean_stop();
            for failure in failures {
                // Expected: there may be nothing left to remove.
                log_at!(
                    ACTIONS_LOG,
                    Level::DEBUG,
                    "[{name}] clean-up of {}: {}",
                    failure.action,
                    failure.error
                );
            }
        }
        crate::store::add_jail(self.store.as_ref(), &name);
        for line in crate::actions::backend_lines(&name, &self.actions) {
            log_at!(ACTIONS_LOG, Level::INFO, "{line}");
        }
        let failures = self.actions.start();
        report(&name, "start", failures);
        self.restore();
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' started");
    }

    fn stop(&mut self) {
        let name = self.config.name.clone();
        let unbans = self.tracker.unban_all();
        self.flush(&unbans, true);
        let failures = self.actions.stop();
        report(&name, "stop", failures);
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' stopped");
    }

    fn handle(&mut self, command: JailCmd) {
        match command {
            JailCmd::Failures(_) if self.idle => {}
            JailCmd::SetIdle { idle, reply } => {
                self.idle = idle;
                let _ = reply.send(idle);
            }
            JailCmd::Failures(failures) => crate::log::hold(|| self.failures(failures)),
            JailCmd::Read(positions) => self.save_read(&positions),
            JailCmd::Wake { reply } => {
                self.expire();
                let _ = reply.send(());
            }
            JailCmd::Attempt { id, matches, reply } => {
                self.attempt(id, matches);
                let _ = reply.send(1);
            }
            JailCmd::BanIp { ids, reply } => {
                let count = crate::log::hold(|| self.manual_bans(ids));
                let _ = reply.send(count);
            }
            JailCmd::UnbanIp {
                ids,
                report_absent,
                reply,
            } => {
                let _ = reply.send(self.manual_unban(&ids, report_absent));
            }
            JailCmd::UnbanAll { reply } => {
                let unbans = self.tracker.unban_all();
                crate::cluster::publish_unbans(&self.config, &unbans);
                let ids: Vec<&FailId> = unbans.iter().map(|unban| &unban.ban.id).collect();
                crate::store::forget_bans(self.store.as_ref(), &self.config.name, &ids);
                self.flush(&unbans, false);
                let _ = reply.send(unbans.len());
            }
            JailCmd::Status { reply } => {
                let _ = reply.send(self.tracker.status());
            }
            JailCmd::BanList { reply } => {
                let _ = reply.send(self.tracker.ban_list());
            }
            JailCmd::IgnoreList { reply } => {
                let _ = reply.send(self.ignore_entries.clone());
            }
            JailCmd::ChangeIgnore {
                add,
                entries,
                reply,
            } => {
                self.change_ignore(add, entries);
                let _ = reply.send(self.ignore_entries.clone());
            }
            JailCmd::Reconfigure {
                config,
                reload,
                reply,
            } => {
                self.reconfigure(*config, reload);
                let _ = reply.send(());
            }
            JailCmd::Fleet { events, reply } => {
                crate::log::hold(|| self.fleet_events(events));
                let _ = reply.send(());
            }
            JailCmd::Stop { reply } => {
                // Handled by `run`; kept exhaustive for the compiler.
                let _ = reply.send(());
            }
        }
    }

    fn reconfigure(&mut self, config: JailConfig, reload: bool) {
        let name = config.name.clone();
        if config.actions != self.config.actions {
            match build_actions(&config) {
                Ok(actions) => {
                    let bans: Vec<Arc<Ban>> = self
                        .tracker
                        .banned()
                        .iter()
                        .filter_map(|id| self.tracker.get_ban(id).cloned())
                        .collect();
                    let captures = captures_of(bans.iter().map(|ban| &**ban));
                    let infos: Vec<_> = bans
                        .iter()
                        .zip(&captures)
                        .filter_map(|(ban, captures)| ban_info(ban, captures))
                        .collect();
                    report(&name, "flush", self.actions.flush(&infos, false));
                    report(&name, "stop", self.actions.stop());
                    self.actions = actions;
                    report(&name, "start", self.actions.start());
                    for info in &infos {
                        report(&name, "ban", self.actions.ban(info));
                    }
                }
                Err(error) => log_at!(
                    JAIL_LOG,
                    Level::ERROR,
                    "[{name}] keeping the old actions: {error}"
                ),
            }
        } else if reload {
            report(&name, "reload", self.actions.reload());
        }
        self.ignore_entries = config.ignore_ip.clone();
        *self.tracker.ignore_list_mut() = ignore_list(&config, &self.ignore_entries);
        self.tracker.set_policy(config.policy.clone());
        // fail2ban makes a new cache for a new setting; the same setting keeps its answers.
        if self.ignore_cache.as_ref().map(|c| c.spec()) != config.ignore_cache.as_ref() {
            self.ignore_cache = config
                .ignore_cache
                .clone()
                .map(ignore_cache::IgnoreCache::new);
        }
        self.config = config;
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' reloaded");
    }
}

/// How many messages wait for a jail's thread at most. Bounded, so that a burst of
/// failures found faster than the jail handles them (a slow ban action) waits in the log
/// file, where the source stops reading, rather than in memory: unbounded, reading a 1M-line
/// log queued all its failures here, some 40 MB. The queue's slots are allocated with the
/// jail, so it is kept short: a source sends up to [`FAILURE_BATCH`] failures a message, so
/// at most 8,192 failures wait (well under a megabyte).
const QUEUE: usize = 32;

/// Most failures a log source sends in one [`JailCmd::Failures`].
pub(crate) const FAILURE_BATCH: usize = 256;

/// Most failures the jail's thread takes together from its queue (see `gather`).
const GATHERED: usize = 8192;

/// Sends `command` to a jail's thread from async code, without blocking the runtime while
/// the jail's queue is full. False when the thread is gone.
pub(crate) async fn send_async(sender: &SyncSender<JailCmd>, mut command: JailCmd) -> bool {
    loop {
        match sender.try_send(command) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                command = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Starts a jail's owner thread.
pub fn spawn(
    owner: JailOwner,
    mode: StartMode,
) -> std::io::Result<(SyncSender<JailCmd>, std::thread::JoinHandle<()>)> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
    let name = format!("jail {}", owner.config.name);
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || owner.run(mode, receiver))?;
    Ok((sender, handle))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use ferroban_actions::{ActionDef, CommandActionDef};
    use ferroban_store::Store;
    use ferroban_tracker::{BanTime, JailPolicy};

    use super::*;
    use crate::now_seconds;
    use crate::setup::{Backend, UseDns};
    use crate::store::{record_ban, stored_bans};

    /// A jail whose one action appends what it is asked to do to `record`.
    pub(crate) fn config(record: &Path) -> JailConfig {
        let file = record.display();
        let definition: BTreeMap<String, String> = [
            ("actionstart", format!("echo start >> {file}")),
            ("actionstop", format!("echo stop >> {file}")),
            ("actionban", format!("echo ban <ip> >> {file}")),
            ("actionunban", format!("echo unban <ip> >> {file}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        JailConfig {
            name: "test".into(),
            filter: None,
            policy: JailPolicy {
                max_retry: 2,
                find_time: 600,
                ban_time: BanTime::Seconds(600),
                max_matches: 2,
                increment: None,
                max_windows: ferroban_tracker::DEFAULT_MAX_WINDOWS,
            },
            ignore_ip: vec!["192.0.2.99".into()],
            ignore_self: false,
            ignore_command: None,
            actions: vec![ActionDef::Command(CommandActionDef {
                name: "record".into(),
                definition,
                ..CommandActionDef::default()
            })],
            backend: Backend::Files { polling: false },
            logpaths: Vec::new(),
            logencoding: None,
            logtimezone: None,
            ban_time_extra: BanTimeExtra::default(),
            ignore_cache: None,
            usedns: UseDns::No,
            max_line_len: ferroban_source::DEFAULT_MAX_LINE_LEN,
            keep_matches: true,
            cluster: true,
        }
    }

    fn failure(ip: &str) -> JailCmd {
        JailCmd::Failures(vec![Failure::new(FailId::parse(ip), now_seconds())])
    }

    fn ask<T>(sender: &SyncSender<JailCmd>, make: impl FnOnce(oneshot::Sender<T>) -> JailCmd) -> T {
        let (reply, wait) = oneshot::channel();
        sender.send(make(reply)).unwrap();
        wait.blocking_recv().unwrap()
    }

    fn start(
        config: JailConfig,
        store: Option<SharedStore>,
    ) -> (SyncSender<JailCmd>, std::thread::JoinHandle<()>) {
        let owner = JailOwner::new(config, store).unwrap();
        spawn(
            owner,
            StartMode {
                after_unclean_stop: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn failures_bans_and_commands_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record");
        let store: SharedStore = Arc::new(Mutex::new(Store::open(":memory:").unwrap()));
        let (sender, thread) = start(config(&record), Some(store.clone()));

        sender.send(failure("192.0.2.1")).unwrap();
        sender.send(failure("192.0.2.99")).unwrap();
        sender.send(failure("192.0.2.99")).unwrap();
        sender.send(failure("192.0.2.1")).unwrap();
        let status = ask(&sender, |reply| JailCmd::Status { reply });
        assert_eq!(status.banned, vec![FailId::parse("192.0.2.1")]);
        assert_eq!(status.total_failed, 2, "ignored failures are not counted");

        let banned = ask(&sender, |reply| JailCmd::BanIp {
            ids: vec![FailId::parse("192.0.2.2"), FailId::parse("192.0.2.1")],
            reply,
        });
        assert_eq!(banned, 1, "192.0.2.1 was banned already");
        let absent = ask(&sender, |reply| JailCmd::UnbanIp {
            ids: vec![FailId::parse("192.0.2.3")],
            report_absent: true,
            reply,
        });
        assert_eq!(
            absent.map_err(|error| error.to_string()),
            Err("192.0.2.3 is not banned".to_string())
        );
        let unbanned = ask(&sender, |reply| JailCmd::UnbanIp {
            ids: vec![FailId::parse("192.0.2.2")],
            report_absent: false,
            reply,
        });
        assert_eq!(unbanned, Ok(1));
        let stored = stored_bans(Some(&store), "test", now_seconds());
        assert_eq!(
            stored.len(),
            1,
            "the manual unban is forgotten by the store"
        );

        let list = ask(&sender, |reply| JailCmd::ChangeIgnore {
            add: false,
            entries: vec!["192.0.2.99".into()],
            reply,
        });
        assert!(list.is_empty());

        ask(&sender, |reply| JailCmd::Stop { reply });
        thread.join().unwrap();
        let record = std::fs::read_to_string(record).unwrap();
        assert_eq!(
            record,
            "start\nban 192.0.2.1\nban 192.0.2.2\nunban 192.0.2.2\nunban 192.0.2.1\nstop\n"
        );
        assert_eq!(
            stored_bans(Some(&store), "test", now_seconds()).len(),
            1,
            "stop keeps bans"
        );
    }

    #[test]
    fn restart_restores_stored_bans_and_reload_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record");
        let store: SharedStore = Arc::new(Mutex::new(Store::open(":memory:").unwrap()));
        let (sender, thread) = start(config(&record), Some(store.clone()));
        ask(&sender, |reply| JailCmd::BanIp {
            ids: vec![FailId::parse("192.0.2.5")],
            reply,
        });
        ask(&sender, |reply| JailCmd::Stop { reply });
        thread.join().unwrap();

        let (sender, thread) = start(config(&record), Some(store));
        let list = ask(&sender, |reply| JailCmd::BanList { reply });
        assert_eq!(list.len(), 1);
        let mut changed = config(&record);
        changed.policy.max_retry = 7;
        ask(&sender, |reply| JailCmd::Reconfigure {
            config: Box::new(changed),
            reload: true,
            reply,
        });
        let status = ask(&sender, |reply| JailCmd::Status { reply });
        assert_eq!(
            status.banned,
            vec![FailId::parse("192.0.2.5")],
            "reload keeps bans"
        );
        ask(&sender, |reply| JailCmd::Stop { reply });
        thread.join().unwrap();
        let record = std::fs::read_to_string(record).unwrap();
        assert_eq!(
            record,
            "start\nban 192.0.2.5\nunban 192.0.2.5\nstop\nstart\nban 192.0.2.5\nunban 192.0.2.5\nstop\n"
        );
    }

    /// A jail whose action needs a flag file that `actionstart` creates and `actionstop`
    /// removes (as a firewall chain), checked by `actioncheck`; it records what it does.
    fn repairable(dir: &Path) -> (JailConfig, std::path::PathBuf, std::path::PathBuf) {
        let record = dir.join("record");
        let flag = dir.join("flag");
        let mut config = config(&record);
        let (log, marker) = (record.display(), flag.display());
        let ActionDef::Command(action) = &mut config.actions[0] else {
            unreachable!()
        };
        for (key, value) in [
            (
                "actionstart",
                format!("echo start >> {log}; touch {marker}"),
            ),
            ("actionstop", format!("echo stop >> {log}; rm -f {marker}")),
            ("actioncheck", format!("test -e {marker}")),
            (
                "actionban",
                format!("test -e {marker} && echo ban <ip> >> {log}"),
            ),
            ("actionreban", format!("echo reban <ip> >> {log}")),
        ] {
            action.definition.insert(key.into(), value);
        }
        (config, record, flag)
    }

    /// A ban whose action fails its check is repaired by stop and start; the bans made
    /// before the repair are applied again with `actionreban`, the new one is not.
    #[test]
    fn repair_rebans_the_active_bans() {
        let dir = tempfile::tempdir().unwrap();
        let (config, record, flag) = repairable(dir.path());
        let (sender, thread) = start(config, None);
        for ip in ["192.0.2.1", "192.0.2.2"] {
            ask(&sender, |reply| JailCmd::BanIp {
                ids: vec![FailId::parse(ip)],
                reply,
            });
        }
        std::fs::remove_file(&flag).unwrap();
        ask(&sender, |reply| JailCmd::BanIp {
            ids: vec![FailId::parse("192.0.2.3")],
            reply,
        });
        let status = ask(&sender, |reply| JailCmd::Status { reply });
        assert_eq!(status.banned.len(), 3);
        let lines = std::fs::read_to_string(&record).unwrap();
        let mut lines: Vec<&str> = lines.lines().collect();
        assert_eq!(
            lines[..6],
            [
                "start",
                "ban 192.0.2.1",
                "ban 192.0.2.2",
                "stop",
                "start",
                "ban 192.0.2.3"
            ]
        );
        lines[6..].sort_unstable();
        assert_eq!(lines[6..], ["reban 192.0.2.1", "reban 192.0.2.2"]);

        // The next operation finds nothing to reban again.
        ask(&sender, |reply| JailCmd::BanIp {
            ids: vec![FailId::parse("192.0.2.4")],
            reply,
        });
        let after = std::fs::read_to_string(&record).unwrap();
        assert_eq!(after.lines().count(), 9);
        assert!(after.ends_with("ban 192.0.2.4\n"));
        ask(&sender, |reply| JailCmd::Stop { reply });
        thread.join().unwrap();
    }

    /// An address found again long after its ban makes the jail check its actions, as
    /// fail2ban's "already banned" branch does; the broken action is repaired and the ban
    /// re-applied.
    #[test]
    fn address_found_again_late_checks_actions_and_rebans() {
        let dir = tempfile::tempdir().unwrap();
        let (config, record, flag) = repairable(dir.path());
        let store: SharedStore = Arc::new(Mutex::new(Store::open(":memory:").unwrap()));
        let earlier = Ban {
            id: FailId::parse("192.0.2.5"),
            time: now_seconds() - 30,
            ban_time: BanTime::Seconds(600),
            ban_count: 1,
            failures: 2,
            matches: Vec::new(),
            data: Default::default(),
            restored: false,
        };
        record_ban(Some(&store), "test", &earlier);
        let (sender, thread) = start(config, Some(store));
        // Found again: the action is checked, found sane, nothing is rebanned.
        sender.send(failure("192.0.2.5")).unwrap();
        sender.send(failure("192.0.2.5")).unwrap();
        ask(&sender, |reply| JailCmd::Status { reply });
        std::fs::remove_file(&flag).unwrap();
        // Within 3 s of the last check no new check runs; wait that out.
        std::thread::sleep(Duration::from_millis(3100));
        sender.send(failure("192.0.2.5")).unwrap();
        sender.send(failure("192.0.2.5")).unwrap();
        ask(&sender, |reply| JailCmd::Status { reply });
        assert!(flag.exists(), "the action was restarted");
        assert_eq!(
            std::fs::read_to_string(&record).unwrap(),
            "start\nban 192.0.2.5\nstop\nstart\nreban 192.0.2.5\n"
        );
        ask(&sender, |reply| JailCmd::Stop { reply });
        thread.join().unwrap();
    }
}
