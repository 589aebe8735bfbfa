//! A jail's owner thread: the one place a jail's [`Tracker`] and [`JailActions`] live.
//!
//! Everything that touches them arrives as a [`JailCmd`] on one channel (failures from the
//! log source, commands from the control socket with a oneshot reply), so they are handled
//! in order and never concurrently. The thread sleeps until the next command or the
//! tracker's next deadline (a ban ending), then expires what is due. Actions run here,
//! synchronously: a slow action delays this jail only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use ferroban_actions::JailActions;
use ferroban_tracker::{
    Ban, BanListEntry, BanOutcome, FailId, Failure, FailureOutcome, IgnoreList, JailStatus,
    RestoreOutcome, Tracker, Unban, UnbanCause,
};
use tokio::sync::oneshot;

use crate::actions::{
    ACTIONS_LOG, ban_info, clean_up_after_unclean_stop, ignored_by_command, report,
};
use crate::log::Level;
use crate::log_at;
use crate::setup::JailConfig;
use crate::store::{SharedStore, StoreHistory, forget_ban, record_ban, stored_bans};
use crate::{JAIL_LOG, now_seconds};

const FILTER_LOG: &str = "fail2ban.filter";

/// A message to a jail's owner thread.
#[derive(Debug)]
pub enum JailCmd {
    /// A failure found by the jail's log source.
    Failure(Failure),
    /// Failures found by the jail's log source, in the order of their lines: a burst of
    /// failures costs the jail one wake-up, not one each.
    Failures(Vec<Failure>),
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
        reply: oneshot::Sender<Result<usize, String>>,
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
    /// Reload: new settings for the same jail. Bans stay; actions are restarted only when
    /// their definitions changed.
    Reconfigure {
        config: Box<JailConfig>,
        reply: oneshot::Sender<()>,
    },
    /// Stop: flush the bans from the firewall, run `actionstop`, end the thread.
    Stop { reply: oneshot::Sender<()> },
}

/// How the jail starts.
#[derive(Debug, Clone, Copy)]
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
    /// The actions' ban epoch at which each active ban was last applied: a repair after a
    /// failed `actioncheck` moves the epoch on, and older bans are rebanned.
    ban_epochs: HashMap<FailId, u64>,
    /// The epoch every active ban was re-applied at: nothing to look at below it.
    settled_epoch: u64,
    /// When the last consistency check prompted by an "already banned" address ran.
    last_consistency_check: f64,
}

/// fail2ban checks the actions when an address is found again more than this long after
/// its ban, at most once per this long.
const CONSISTENCY_CHECK_AFTER: f64 = 3.0;

impl JailOwner {
    /// Builds the jail's state; nothing runs yet.
    pub fn new(config: JailConfig, store: Option<SharedStore>) -> Result<JailOwner, String> {
        let actions = build_actions(&config)?;
        let ignore_entries = config.ignore_ip.clone();
        let ignore = ignore_list(&config, &ignore_entries);
        let tracker = Tracker::new(config.policy.clone(), ignore);
        Ok(JailOwner {
            config,
            tracker,
            actions,
            ignore_entries,
            store,
            ban_epochs: HashMap::new(),
            settled_epoch: 0,
            last_consistency_check: 0.0,
        })
    }

    /// The thread's body: start, restore, then serve commands until `Stop`.
    pub fn run(mut self, mode: StartMode, commands: Receiver<JailCmd>) {
        self.start(mode);
        loop {
            let timeout = self.time_to_next_deadline();
            match commands.recv_timeout(timeout) {
                Ok(JailCmd::Stop { reply }) => {
                    self.stop();
                    let _ = reply.send(());
                    return;
                }
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.stop();
                    return;
                }
            }
            self.expire();
        }
    }

    fn time_to_next_deadline(&mut self) -> Duration {
        const IDLE: Duration = Duration::from_secs(3600);
        let Some(deadline) = self.tracker.next_deadline() else {
            return IDLE;
        };
        let now = crate::now_float();
        let wait = deadline as f64 - now;
        if wait <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(wait).min(IDLE)
        }
    }

    fn start(&mut self, mode: StartMode) {
        let name = self.config.name.clone();
        for (action, file) in &self.config.unsupported_actions {
            log_at!(
                ACTIONS_LOG,
                Level::ERROR,
                "[{name}] action {action}: Python actions ({file}) are not supported; \
                 use a command action (.conf) instead"
            );
        }
        if mode.after_unclean_stop {
            log_at!(
                JAIL_LOG,
                Level::NOTICE,
                "[{name}] previous run did not stop cleanly: flushing and stopping its actions first"
            );
            clean_up_after_unclean_stop(&name, &self.config.actions);
        }
        crate::store::add_jail(self.store.as_ref(), &name);
        let failures = self.actions.start();
        report(&name, "start", failures);
        self.restore();
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' started");
    }

    fn restore(&mut self) {
        let now = now_seconds();
        for stored in stored_bans(self.store.as_ref(), &self.config.name, now) {
            let id = stored.id.clone();
            match self.tracker.restore(stored, now) {
                RestoreOutcome::Ban(BanOutcome::Banned(ban)) => {
                    log_at!(
                        ACTIONS_LOG,
                        Level::NOTICE,
                        "[{}] Restore Ban {id}",
                        self.config.name
                    );
                    self.apply_ban(&ban);
                }
                RestoreOutcome::Ignored(reason) => log_at!(
                    ACTIONS_LOG,
                    Level::INFO,
                    "[{}] Ignore restored {id} by {}",
                    self.config.name,
                    ignore_source(&reason)
                ),
                RestoreOutcome::Obsolete | RestoreOutcome::Ban(_) => {}
            }
        }
    }

    fn stop(&mut self) {
        let name = self.config.name.clone();
        let unbans = self.tracker.unban_all();
        self.flush(&unbans, true);
        let failures = self.actions.stop();
        report(&name, "stop", failures);
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' stopped");
    }

    /// Removes `unbans` from the actions; `stopping`: the jail's `actionstop` follows.
    fn flush(&mut self, unbans: &[Unban], stopping: bool) {
        for unban in unbans {
            self.ban_epochs.remove(&unban.ban.id);
        }
        let infos: Vec<_> = unbans.iter().filter_map(|u| ban_info(&u.ban)).collect();
        if infos.is_empty() {
            return;
        }
        for unban in unbans {
            log_at!(
                ACTIONS_LOG,
                Level::NOTICE,
                "[{}] Unban {}",
                self.config.name,
                unban.ban.id
            );
        }
        let failures = self.actions.flush(&infos, stopping);
        report(&self.config.name, "flush", failures);
    }

    fn handle(&mut self, command: JailCmd) {
        match command {
            JailCmd::Failure(failure) => self.failure(failure),
            JailCmd::Failures(failures) => crate::log::hold(|| {
                failures.into_iter().for_each(|f| self.failure(f));
            }),
            JailCmd::BanIp { ids, reply } => {
                let count = ids
                    .into_iter()
                    .filter(|id| self.manual_ban(id.clone()))
                    .count();
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
                for unban in &unbans {
                    forget_ban(self.store.as_ref(), &self.config.name, &unban.ban.id);
                }
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
            JailCmd::Reconfigure { config, reply } => {
                self.reconfigure(*config);
                let _ = reply.send(());
            }
            JailCmd::Stop { reply } => {
                // Handled by `run`; kept exhaustive for the compiler.
                let _ = reply.send(());
            }
        }
    }

    fn failure(&mut self, failure: Failure) {
        let name = self.config.name.clone();
        let id = failure.id.clone();
        if let Some(reason) = self.tracker.ignore_list().reason(&id) {
            log_at!(
                FILTER_LOG,
                Level::INFO,
                "[{name}] Ignore {id} by {}",
                ignore_source(&reason)
            );
            return;
        }
        if let Some(command) = &self.config.ignore_command
            && ignored_by_command(command, &id)
        {
            log_at!(FILTER_LOG, Level::INFO, "[{name}] Ignore {id} by command");
            return;
        }
        log_at!(
            FILTER_LOG,
            Level::INFO,
            "[{name}] Found {id} - {}",
            format_time(failure.time)
        );
        let now = now_seconds();
        let time = failure.time.min(now);
        let history = StoreHistory {
            store: self.store.as_ref(),
            jail: &name,
        };
        match self.tracker.add_failure(failure, now, &history) {
            FailureOutcome::Ban(outcome) => self.ban_outcome(outcome, time),
            FailureOutcome::Counted { .. } | FailureOutcome::Ignored(_) => {}
        }
    }

    /// Returns whether a new ban was made.
    fn manual_ban(&mut self, id: FailId) -> bool {
        let now = now_seconds();
        let history = StoreHistory {
            store: self.store.as_ref(),
            jail: &self.config.name,
        };
        let outcome = self.tracker.ban(id, now, &history);
        let banned = matches!(outcome, BanOutcome::Banned(_));
        self.ban_outcome(outcome, now);
        banned
    }

    /// Acts on a ban decision; `time` is when the failures that led to it happened.
    fn ban_outcome(&mut self, outcome: BanOutcome, time: i64) {
        let name = self.config.name.clone();
        match outcome {
            BanOutcome::Banned(ban) => {
                log_at!(ACTIONS_LOG, Level::NOTICE, "[{name}] Ban {}", ban.id);
                self.apply_ban(&ban);
                record_ban(self.store.as_ref(), &name, &ban);
            }
            BanOutcome::AlreadyBanned { id, .. } => self.already_banned(&id, time),
            BanOutcome::Expired { id } => {
                log_at!(
                    ACTIONS_LOG,
                    Level::INFO,
                    "[{name}] Ignore {id}, expired bantime"
                );
            }
        }
    }

    /// fail2ban's "already banned" branch of `__checkBan`: the later the address shows up
    /// again after its ban, the louder the log line; more than a few seconds later its ban
    /// may be missing from the firewall, so the actions are checked (and repaired).
    fn already_banned(&mut self, id: &FailId, time: i64) {
        let name = self.config.name.clone();
        let Some(banned_at) = self.tracker.get_ban(id).map(|ban| ban.time) else {
            return;
        };
        let late = time - banned_at;
        let level = match late {
            ..3 => Level::DEBUG,
            3..60 => Level::NOTICE,
            _ => Level::WARNING,
        };
        log_at!(ACTIONS_LOG, level, "[{name}] {id} already banned");
        let current = self.ban_epochs.get(id) == Some(&self.actions.ban_epoch());
        let now = crate::now_float();
        if current
            && late as f64 > CONSISTENCY_CHECK_AFTER
            && now > self.last_consistency_check + CONSISTENCY_CHECK_AFTER
        {
            self.last_consistency_check = now;
            self.actions.consistency_check();
            self.reban_after_repairs();
        }
    }

    /// After an action was repaired (its `actioncheck` failed during an operation), the
    /// bans it had applied may be gone: each active ban applied before the repair is
    /// re-applied with `actionreban` on the repaired actions (fail2ban's `__reBan`).
    ///
    /// fail2ban 1.0.2 does this lazily, when a banned address is found again; here it is
    /// done for every ban right after the repair, so the firewall matches the ban list
    /// without waiting for the address to come back.
    fn reban_after_repairs(&mut self) {
        // A reban can itself fail and repair again; a few rounds settle that, an action
        // that stays broken is reported, not retried forever.
        for _ in 0..3 {
            let epoch = self.actions.ban_epoch();
            if epoch == self.settled_epoch {
                return;
            }
            let stale: Vec<(Ban, u64)> = self
                .ban_epochs
                .iter()
                .filter(|(_, applied)| **applied < epoch)
                .filter_map(|(id, applied)| Some((self.tracker.get_ban(id)?.clone(), *applied)))
                .collect();
            for (ban, applied) in stale {
                self.reban(&ban, applied);
            }
            // A ban whose reban failed stays behind; the next repair tries it again.
            self.settled_epoch = epoch;
        }
    }

    fn reban(&mut self, ban: &Ban, applied_epoch: u64) {
        let name = self.config.name.clone();
        let Some(info) = self.action_info(ban) else {
            self.ban_epochs.remove(&ban.id);
            return;
        };
        log_at!(ACTIONS_LOG, Level::NOTICE, "[{name}] Reban {}", ban.id);
        let failures = self.actions.reban_since(&info, Some(applied_epoch));
        if failures.is_empty() {
            self.ban_epochs
                .insert(ban.id.clone(), self.actions.ban_epoch());
        }
        report(&name, "reban", failures);
    }

    fn apply_ban(&mut self, ban: &Ban) {
        let Some(info) = self.action_info(ban) else {
            log_at!(
                ACTIONS_LOG,
                Level::WARNING,
                "[{}] {} is not an address: no action can ban it",
                self.config.name,
                ban.id
            );
            return;
        };
        let failures = self.actions.ban(&info);
        report(&self.config.name, "ban", failures);
        self.ban_epochs
            .insert(ban.id.clone(), self.actions.ban_epoch());
        self.reban_after_repairs();
    }

    /// What the actions are told about `ban`; `None` when its id is no address.
    fn action_info(&self, ban: &Ban) -> Option<ferroban_actions::BanInfo> {
        let mut info = ban_info(ban)?;
        // Reading the store may wait for a checkpoint being written: only when asked for.
        if !ban.restored && uses_ip_matches(&self.config) {
            let jail = self.config.name.as_str();
            info.ip_matches = merged_matches(self.store.as_ref(), ban, None);
            info.ip_jail_matches = merged_matches(self.store.as_ref(), ban, Some(jail));
        }
        Some(info)
    }

    fn manual_unban(&mut self, ids: &[FailId], report_absent: bool) -> Result<usize, String> {
        let mut count = 0;
        for id in ids {
            match self.tracker.unban(id) {
                Ok(unbans) => {
                    count += unbans.len();
                    for unban in unbans {
                        self.apply_unban(&unban);
                    }
                }
                Err(error) if report_absent => return Err(error.to_string()),
                Err(_) => {}
            }
        }
        Ok(count)
    }

    fn expire(&mut self) {
        for unban in self.tracker.expire(now_seconds()) {
            self.apply_unban(&unban);
        }
    }

    fn apply_unban(&mut self, unban: &Unban) {
        let name = self.config.name.clone();
        log_at!(
            ACTIONS_LOG,
            Level::NOTICE,
            "[{name}] Unban {}",
            unban.ban.id
        );
        if unban.cause == UnbanCause::Manual {
            forget_ban(self.store.as_ref(), &name, &unban.ban.id);
        }
        self.ban_epochs.remove(&unban.ban.id);
        if let Some(info) = ban_info(&unban.ban) {
            let failures = self.actions.unban(&info);
            report(&name, "unban", failures);
            self.reban_after_repairs();
        }
    }

    fn change_ignore(&mut self, add: bool, entries: Vec<String>) {
        if add {
            for entry in entries {
                if !self.ignore_entries.contains(&entry) {
                    self.ignore_entries.push(entry);
                }
            }
        } else {
            self.ignore_entries.retain(|e| !entries.contains(e));
        }
        // The tracker's list cannot remove entries: build it anew.
        *self.tracker.ignore_list_mut() = ignore_list(&self.config, &self.ignore_entries);
    }

    fn reconfigure(&mut self, config: JailConfig) {
        let name = config.name.clone();
        if config.actions != self.config.actions {
            match build_actions(&config) {
                Ok(actions) => {
                    let bans: Vec<Ban> = self
                        .tracker
                        .banned()
                        .iter()
                        .filter_map(|id| self.tracker.get_ban(id).cloned())
                        .collect();
                    let infos: Vec<_> = bans.iter().filter_map(ban_info).collect();
                    report(&name, "flush", self.actions.flush(&infos, false));
                    report(&name, "stop", self.actions.stop());
                    self.actions = actions;
                    report(&name, "start", self.actions.start());
                    for info in &infos {
                        report(&name, "ban", self.actions.ban(info));
                    }
                    let epoch = self.actions.ban_epoch();
                    for epoch_of_ban in self.ban_epochs.values_mut() {
                        *epoch_of_ban = epoch;
                    }
                    self.settled_epoch = epoch;
                }
                Err(error) => log_at!(
                    JAIL_LOG,
                    Level::ERROR,
                    "[{name}] keeping the old actions: {error}"
                ),
            }
        }
        self.ignore_entries = config.ignore_ip.clone();
        *self.tracker.ignore_list_mut() = ignore_list(&config, &self.ignore_entries);
        self.tracker.set_policy(config.policy.clone());
        self.config = config;
        log_at!(JAIL_LOG, Level::INFO, "Jail '{name}' reloaded");
    }
}

/// Whether an action of the jail uses `<ipmatches>` or `<ipjailmatches>`.
fn uses_ip_matches(config: &JailConfig) -> bool {
    config.actions.iter().any(|action| match action {
        ferroban_actions::ActionDef::Command(def) => def
            .definition
            .values()
            .chain(def.options.values())
            .chain(def.init.values())
            .any(|text| text.contains("<ipmatches>") || text.contains("<ipjailmatches>")),
        ferroban_actions::ActionDef::Python { .. } => false,
    })
}

/// `<ipmatches>`/`<ipjailmatches>`: the lines of the address's earlier recorded bans (over
/// all jails, or this one), then this ban's own.
fn merged_matches(
    store: Option<&SharedStore>,
    ban: &Ban,
    jail: Option<&str>,
) -> Option<Vec<String>> {
    let store = store?;
    let earlier = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .bans_merged(&ban.id.to_string(), jail)
        .ok()
        .flatten()?;
    let mut matches = earlier.matches;
    matches.extend(ban.matches.iter().cloned());
    Some(matches)
}

fn build_actions(config: &JailConfig) -> Result<JailActions, String> {
    let mut actions =
        JailActions::new(&config.name, config.actions.clone()).map_err(|e| e.to_string())?;
    if let ferroban_tracker::BanTime::Seconds(seconds) = config.policy.ban_time {
        actions.set_jail_ban_time(seconds);
    } else {
        actions.set_jail_ban_time(-1);
    }
    Ok(actions)
}

/// The ignore list of a jail: its entries, this machine's addresses for `ignoreself`, and
/// host names resolved now.
fn ignore_list(config: &JailConfig, entries: &[String]) -> IgnoreList {
    let mut list = IgnoreList::new();
    list.set_ignore_self(config.ignore_self);
    if config.ignore_self {
        list.set_self_addresses(self_addresses());
    }
    for entry in entries {
        match entry.strip_prefix("file:") {
            Some(path) => add_ignore_file(&mut list, &config.name, path),
            None => list.add(entry),
        }
    }
    let names: Vec<String> = list.host_names().map(str::to_string).collect();
    for name in names {
        use std::net::ToSocketAddrs;
        let addresses: Vec<IpAddr> = (name.as_str(), 0)
            .to_socket_addrs()
            .map(|found| found.map(|a| a.ip()).collect())
            .unwrap_or_default();
        list.set_host_addresses(&name, addresses);
    }
    list
}

/// `ignoreip = file:/path`: the addresses, networks and names listed in a file, one or
/// more per line, `#` starting a comment (fail2ban's `FileIPAddrSet`).
fn add_ignore_file(list: &mut IgnoreList, jail: &str, path: &str) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            for line in text.lines() {
                let content = line.split('#').next().unwrap_or("");
                list.add_all(content);
            }
        }
        Err(error) => log_at!(
            FILTER_LOG,
            Level::ERROR,
            "[{jail}] cannot read ignoreip file {path}: {error}"
        ),
    }
}

/// fail2ban's `getSelfIPs`: loopback and every address of this machine's interfaces.
fn self_addresses() -> Vec<IpAddr> {
    let mut addresses = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
    ];
    if let Ok(interfaces) = nix::ifaddrs::getifaddrs() {
        for interface in interfaces {
            let Some(address) = interface.address else {
                continue;
            };
            if let Some(v4) = address.as_sockaddr_in() {
                addresses.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = address.as_sockaddr_in6() {
                addresses.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    addresses
}

/// fail2ban's words for why an address is ignored.
fn ignore_source(reason: &ferroban_tracker::IgnoreReason) -> &'static str {
    match reason {
        ferroban_tracker::IgnoreReason::SelfAddress => "ignoreself rule",
        ferroban_tracker::IgnoreReason::Address | ferroban_tracker::IgnoreReason::Network(_) => {
            "ip"
        }
        ferroban_tracker::IgnoreReason::Host(_) => "dns",
    }
}

/// A failure's time as fail2ban's "Found" line shows it. Failures come in bursts with the
/// same second, so the last text is kept per thread.
fn format_time(time: i64) -> String {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != time {
            let text = jiff::Timestamp::from_second(time)
                .map(|t| {
                    t.to_zoned_datetime(jiff::tz::TimeZone::system())
                        .strftime("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|_| time.to_string());
            *last = (time, text);
        }
        last.1.clone()
    })
}

/// How many messages wait for a jail's thread at most. Bounded, so that a burst of
/// failures found faster than the jail handles them (a slow ban action) waits in the log
/// file, where the source stops reading, rather than in memory: unbounded, reading a 1M-line
/// log queued all its failures here, some 40 MB. The queue's slots are allocated with the
/// jail, so it is kept short: a source sends up to [`FAILURE_BATCH`] failures a message, so
/// at most 1,024 failures wait, a few milliseconds of a jail's work.
const QUEUE: usize = 32;

/// Most failures a log source sends in one [`JailCmd::Failures`].
pub(crate) const FAILURE_BATCH: usize = 32;

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
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use ferroban_actions::{ActionDef, CommandActionDef};
    use ferroban_store::Store;
    use ferroban_tracker::{BanTime, JailPolicy};

    use super::*;
    use crate::setup::Backend;

    /// A jail whose one action appends what it is asked to do to `record`.
    fn config(record: &Path) -> JailConfig {
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
            },
            ignore_ip: vec!["192.0.2.99".into()],
            ignore_self: false,
            ignore_command: None,
            actions: vec![ActionDef::Command(CommandActionDef {
                name: "record".into(),
                definition,
                ..CommandActionDef::default()
            })],
            unsupported_actions: Vec::new(),
            backend: Backend::Files { polling: false },
            logpaths: Vec::new(),
            logencoding: None,
            logtimezone: None,
            usedns: "no".into(),
            keep_matches: true,
        }
    }

    fn failure(ip: &str) -> JailCmd {
        JailCmd::Failure(Failure::new(FailId::parse(ip), now_seconds()))
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
        assert_eq!(absent, Err("192.0.2.3 is not banned".to_string()));
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
