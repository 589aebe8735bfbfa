//! A jail's bans: failures counted into bans, bans applied, re-applied after a repair,
//! restored at start and lifted (on time, by the user, at stop).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferroban_actions::{ActionError, JailActions};
use ferroban_tracker::{
    Ban, BanOutcome, FailId, Failure, FailureOutcome, RestoreOutcome, TrackerError, Unban,
    UnbanCause,
};

use super::ignore::ignore_source;
use super::{CONSISTENCY_CHECK_AFTER, FILTER_LOG, JailOwner};
use crate::actions::{ACTIONS_LOG, ban_info, captures_of, report};
use crate::log::Level;
use crate::log_at;
use crate::now_seconds;
use crate::setup::JailConfig;
use crate::store::{SharedStore, StoreHistory, forget_bans, saved_windows, stored_bans};

impl JailOwner {
    /// Restores the saved failure windows, then the stored bans, applied to the actions in
    /// one batch.
    pub(super) fn restore(&mut self) {
        let now = now_seconds();
        let mut restored = Vec::new();
        let since = now.saturating_sub(self.tracker.policy().find_time);
        for (id, window) in saved_windows(self.store.as_ref(), &self.config.name, since) {
            self.tracker.restore_window(id, window, now);
        }
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
                    restored.push(ban);
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
        self.board.publish(&self.tracker);
        self.apply_bans(&restored);
    }

    /// Removes `unbans` from the actions; `stopping`: the jail's `actionstop` follows.
    pub(super) fn flush(&mut self, unbans: &[Unban], stopping: bool) {
        let captures = captures_of(unbans.iter().map(|u| &*u.ban));
        let infos = unban_infos(unbans, &captures);
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
        self.board.publish(&self.tracker);
        let actions = &mut self.actions;
        let failures = crate::metrics::timed(&self.config.name, "flush", || {
            actions.flush(&infos, stopping)
        });
        report(&self.config.name, "flush", failures);
    }

    /// Counts a batch of failures from the log source, then records the bans they led to
    /// (one transaction) and only then runs their actions.
    pub(super) fn failures(&mut self, failures: Vec<Failure>) {
        let decided: Vec<Arc<Ban>> = failures
            .into_iter()
            .filter_map(|failure| self.failure(failure))
            .collect();
        self.report_dropped_windows();
        if self.store.is_none() {
            self.tracker.forget_window_changes();
        }
        self.apply_decided(decided);
    }

    /// Says that failure windows were dropped for `maxfailurewindows`: at the first drop,
    /// then once per million more, so that a flood is one line, not one per failure.
    fn report_dropped_windows(&mut self) {
        let dropped = self.tracker.take_dropped_windows();
        if dropped == 0 {
            return;
        }
        let before = self.dropped_windows;
        self.dropped_windows += dropped;
        if before == 0 || before / 1_000_000 != self.dropped_windows / 1_000_000 {
            log_at!(
                FILTER_LOG,
                Level::WARNING,
                "[{}] more than maxfailurewindows = {} failure windows: dropped the {} oldest \
                 ({} since the jail started); their failures no longer count",
                self.config.name,
                self.config.policy.max_windows,
                dropped,
                self.dropped_windows
            );
        }
    }

    /// Counts one failure; returns the ban it led to, not yet recorded nor applied.
    fn failure(&mut self, failure: Failure) -> Option<Arc<Ban>> {
        let name = self.config.name.clone();
        let id = failure.id.clone();
        if self.ignored(&failure) {
            return None;
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
            FailureOutcome::Counted { .. } | FailureOutcome::Ignored(_) => None,
        }
    }

    /// fail2ban's `addAttempt`: counted without the ignore list, one per failure text.
    pub(super) fn attempt(&mut self, id: FailId, matches: Vec<String>) {
        let now = now_seconds();
        log_at!(
            FILTER_LOG,
            Level::INFO,
            "[{}] Attempt {id} - {}",
            self.config.name,
            format_time(now)
        );
        let history = StoreHistory {
            store: self.store.as_ref(),
            jail: &self.config.name,
        };
        if let FailureOutcome::Ban(outcome) = self.tracker.add_attempt(id, matches, now, &history) {
            let decided = self.ban_outcome(outcome, now);
            self.apply_decided(decided.into_iter().collect());
        }
    }

    /// `set JAIL banip IP...`: every new ban recorded (one transaction), then applied in
    /// one batch (one transaction for a native action). Returns how many were newly banned.
    pub(super) fn manual_bans(&mut self, ids: Vec<FailId>) -> usize {
        let now = now_seconds();
        let mut decided = Vec::new();
        for id in ids {
            let history = StoreHistory {
                store: self.store.as_ref(),
                jail: &self.config.name,
            };
            let outcome = self.tracker.ban(id, now, &history);
            decided.extend(self.ban_outcome(outcome, now));
        }
        let banned = decided.len();
        self.apply_decided(decided);
        banned
    }

    /// Acts on a ban decision; `time` is when the failures that led to it happened.
    /// Returns a new ban, for the caller to record and apply.
    fn ban_outcome(&mut self, outcome: BanOutcome, time: i64) -> Option<Arc<Ban>> {
        let name = self.config.name.clone();
        match outcome {
            BanOutcome::Banned(ban) => return Some(ban),
            BanOutcome::AlreadyBanned { id, .. } => self.already_banned(&id, time),
            BanOutcome::Expired { id } => {
                log_at!(
                    ACTIONS_LOG,
                    Level::INFO,
                    "[{name}] Ignore {id}, expired bantime"
                );
            }
        }
        None
    }

    /// Records `decided` (write-ahead: a kill after this finds them in the store, and the
    /// restart applies them), then runs their actions. A ban the store cannot take now is
    /// applied all the same and kept to be written later (see `persist.rs`).
    fn apply_decided(&mut self, decided: Vec<Arc<Ban>>) {
        if decided.is_empty() {
            return;
        }
        let captures = captures_of(decided.iter().map(|ban| &**ban));
        self.record_decided(&decided, &captures);
        for ban in &decided {
            log_at!(
                ACTIONS_LOG,
                Level::NOTICE,
                "[{}] Ban {}",
                self.config.name,
                ban.id
            );
        }
        // Queued for the fleet before the actions run: a kill while they run finds the
        // bans both in the store and in the outbox.
        crate::cluster::publish_bans(&self.config, &decided);
        self.board.publish(&self.tracker);
        self.apply_bans_with(&decided, &captures);
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
        let current = id.ip().is_some_and(|ip| self.actions.is_current(&ip));
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
            let Some(stale) = self.actions.unsettled_bans() else {
                return;
            };
            for (ip, applied) in stale {
                if let Some(ban) = self.tracker.get_ban(&FailId::from(ip)).cloned() {
                    let captures = ban.data.to_map();
                    self.reban(&ban, &captures, applied);
                }
            }
            self.actions.settle_at(epoch);
        }
    }

    fn reban(&mut self, ban: &Ban, captures: &BTreeMap<String, String>, applied_epoch: u64) {
        let name = self.config.name.clone();
        let Some(info) = self.action_info(ban, captures) else {
            return;
        };
        log_at!(ACTIONS_LOG, Level::NOTICE, "[{name}] Reban {}", ban.id);
        let failures = self.actions.reban_since(&info, Some(applied_epoch));
        report(&name, "reban", failures);
    }

    /// Applies `bans` to the actions in one batch.
    pub(super) fn apply_bans(&mut self, bans: &[Arc<Ban>]) {
        let captures = captures_of(bans.iter().map(|ban| &**ban));
        self.apply_bans_with(bans, &captures);
    }

    /// [`JailOwner::apply_bans`] with each ban's captures already unpacked.
    fn apply_bans_with(&mut self, bans: &[Arc<Ban>], captures: &[BTreeMap<String, String>]) {
        let mut infos = Vec::with_capacity(bans.len());
        for (ban, captures) in bans.iter().zip(captures) {
            match self.action_info(ban, captures) {
                Some(info) => infos.push(info),
                None => self.not_an_address(ban),
            }
        }
        if infos.is_empty() {
            return;
        }
        let actions = &mut self.actions;
        let failures = crate::metrics::timed(&self.config.name, "ban", || actions.ban_many(&infos));
        report(&self.config.name, "ban", failures);
        self.reban_after_repairs();
    }

    fn not_an_address(&self, ban: &Ban) {
        log_at!(
            ACTIONS_LOG,
            Level::WARNING,
            "[{}] {} is not an address: no action can ban it",
            self.config.name,
            ban.id
        );
    }

    /// What the actions are told about `ban`; `None` when its id is no address.
    fn action_info<'a>(
        &self,
        ban: &'a Ban,
        captures: &'a BTreeMap<String, String>,
    ) -> Option<ferroban_actions::BanInfo<'a>> {
        let mut info = ban_info(ban, captures)?;
        // Reading the store may wait for a checkpoint being written: only when asked for.
        if !ban.restored && uses_ip_matches(&self.config) {
            let jail = self.config.name.as_str();
            info.ip_matches = merged_matches(self.store.as_ref(), ban, None);
            info.ip_jail_matches = merged_matches(self.store.as_ref(), ban, Some(jail));
        }
        Some(info)
    }

    pub(super) fn manual_unban(
        &mut self,
        ids: &[FailId],
        report_absent: bool,
    ) -> Result<usize, TrackerError> {
        let mut all = Vec::new();
        for id in ids {
            match self.tracker.unban(id) {
                Ok(unbans) => all.extend(unbans),
                Err(error) if report_absent => {
                    crate::cluster::publish_unbans(&self.config, &all);
                    self.apply_unbans(&all);
                    return Err(error);
                }
                Err(_) => {}
            }
        }
        crate::cluster::publish_unbans(&self.config, &all);
        self.apply_unbans(&all);
        Ok(all.len())
    }

    pub(super) fn expire(&mut self) {
        let unbans = self.tracker.expire(now_seconds());
        self.apply_unbans(&unbans);
    }

    /// Lifts `unbans`: the user's are forgotten by the store (one transaction), then all
    /// are lifted from the actions in one batch.
    pub(super) fn apply_unbans(&mut self, unbans: &[Unban]) {
        if unbans.is_empty() {
            return;
        }
        let name = self.config.name.clone();
        let mut forgotten = Vec::new();
        for unban in unbans {
            log_at!(
                ACTIONS_LOG,
                Level::NOTICE,
                "[{name}] Unban {}",
                unban.ban.id
            );
            if unban.cause == UnbanCause::Manual {
                self.forget_unwritten(&unban.ban.id);
                forgotten.push(&unban.ban.id);
            }
        }
        forget_bans(self.store.as_ref(), &name, &forgotten);
        let captures = captures_of(unbans.iter().map(|u| &*u.ban));
        let infos = unban_infos(unbans, &captures);
        if infos.is_empty() {
            return;
        }
        self.board.publish(&self.tracker);
        let actions = &mut self.actions;
        let failures = crate::metrics::timed(&name, "unban", || actions.unban_many(&infos));
        report(&name, "unban", failures);
        self.reban_after_repairs();
    }
}

/// What the actions are told about each of `unbans` that is an address, with the captures
/// [`captures_of`] unpacked for them.
fn unban_infos<'a>(
    unbans: &'a [Unban],
    captures: &'a [BTreeMap<String, String>],
) -> Vec<ferroban_actions::BanInfo<'a>> {
    unbans
        .iter()
        .zip(captures)
        .filter_map(|(u, captures)| ban_info(&u.ban, captures))
        .collect()
}

/// Whether an action of the jail uses `<ipmatches>` or `<ipjailmatches>`.
fn uses_ip_matches(config: &JailConfig) -> bool {
    config.actions.iter().any(|action| match action {
        ferroban_actions::ActionDef::Command(def) => def.reads_earlier_matches(),
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

pub(super) fn build_actions(config: &JailConfig) -> Result<JailActions, ActionError> {
    let mut actions = JailActions::new(&config.name, config.actions.clone())?;
    if let ferroban_tracker::BanTime::Seconds(seconds) = config.policy.ban_time {
        actions.set_jail_ban_time(seconds);
    } else {
        actions.set_jail_ban_time(-1);
    }
    Ok(actions)
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
