//! The jail state machine: fail2ban's `FailManager`, `BanManager`, the ban half of
//! `Actions` and the `bantime.increment` half of the observer, without threads or clocks.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::{
    Ban, BanHistory, BanListEntry, BanOutcome, BanTime, FailId, Failure, FailureData,
    FailureOutcome, FailureWindow, IgnoreList, JailPolicy, JailStatus, RestoreOutcome, StoredBan,
    Timestamp, Unban, UnbanCause,
};

/// Errors a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// `unbanip` of an id that is not banned (fail2ban: `<ip> is not banned`).
    #[error("{0} is not banned")]
    NotBanned(FailId),
}

/// A ban and the bookkeeping fail2ban keeps on its ticket.
#[derive(Debug, Clone)]
struct BanEntry {
    /// Shared with the [`BanOutcome`] and [`Unban`] handed out: the actions and the store
    /// read the same ban, its matches and data never copied on the way.
    ban: Arc<Ban>,
    /// fail2ban's ticket `bantime` being set: when not, the ban follows the jail's
    /// `bantime`, even when it is changed while the ban runs.
    explicit_ban_time: bool,
    /// Insertion order, for the "Banned IP list" (a Python dict keeps insertion order).
    sequence: u64,
}

/// A ban about to be decided: fail2ban's `BanTicket` before `addBanTicket`.
struct Candidate {
    id: FailId,
    time: Timestamp,
    ban_time: Option<BanTime>,
    ban_count: u32,
    failures: u32,
    matches: Vec<String>,
    data: FailureData,
    restored: bool,
}

/// The source of `random.random()` for `bantime.rndtime`: a draw from `[0, 1)`.
pub type RandomSource = Box<dyn FnMut() -> f64 + Send>;

/// One jail's failures and bans. See the crate documentation for the flow.
///
/// ```
/// use ferroban_tracker::*;
///
/// let policy = JailPolicy { max_retry: 2, ..JailPolicy::default() };
/// let mut jail = Tracker::new(policy, IgnoreList::new());
/// let ip = FailId::parse("192.0.2.1");
/// jail.add_failure(Failure::new(ip.clone(), 1000), 1000, &NoHistory);
/// let outcome = jail.add_failure(Failure::new(ip.clone(), 1005), 1005, &NoHistory);
/// let FailureOutcome::Ban(BanOutcome::Banned(ban)) = outcome else { panic!("{outcome:?}") };
/// assert_eq!(ban.end(), Some(1605)); // bantime 600 from the last failure
/// assert_eq!(jail.next_deadline(), Some(1605));
/// assert!(jail.expire(1604).is_empty());
/// assert_eq!(jail.expire(1605)[0].ban.id, ip);
/// ```
///
/// Where it knowingly differs from fail2ban 1.0.2, and why:
/// - A ban ends at `now >= end` on whole seconds (fail2ban: `now > end` on a float clock,
///   the same instant); a ban lasts exactly its ban time.
/// - `bantime.increment` is applied before the ban is handed out, so actions get the final
///   `<bantime>` in `ban` (fail2ban bans with the base time, then its observer thread
///   prolongs). Whether a ban is already over is still judged on the base time, as there.
/// - A failure window keeps at most `maxmatches` lines from its first failure on (fail2ban
///   truncates from the second failure), and the increment boost does not re-add the
///   failure's lines (fail2ban does, when the boosted ticket is not the stored one).
/// - Increased ban times are cut to whole seconds (fail2ban keeps the float from
///   `rndtime` or a factor, and shows actions `int(bantime)`).
/// - A recorded ban count of 0 gives no boost (fail2ban would add half a retry).
pub struct Tracker {
    policy: JailPolicy,
    ignore: IgnoreList,
    failures: HashMap<FailId, FailureWindow>,
    bans: HashMap<FailId, BanEntry>,
    /// Ban ends, earliest first.
    ban_ends: BTreeSet<(Timestamp, FailId)>,
    /// No failure window goes stale before this (`None`: no window open).
    ///
    /// Windows have no ordered entries of their own: with a long `findtime` a jail holds
    /// tens of thousands, and an entry each doubled their memory. fail2ban's `cleanup`
    /// scans all of them instead; here a scan runs when this moment comes and finds the
    /// next one, so stale windows still go at their second.
    window_sweep: Option<Timestamp>,
    /// Ids whose window opened, grew or closed since [`Tracker::take_window_changes`]:
    /// what the daemon saves with its next log position.
    changed_windows: HashSet<FailId>,
    /// Windows dropped for `max_windows` since [`Tracker::take_dropped_windows`].
    dropped_windows: u64,
    total_failed: u64,
    total_banned: u64,
    next_sequence: u64,
    random: RandomSource,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("policy", &self.policy)
            .field("failures", &self.failures.len())
            .field("bans", &self.bans.len())
            .field("total_failed", &self.total_failed)
            .field("total_banned", &self.total_banned)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A tracker with no failures and no bans.
    pub fn new(policy: JailPolicy, ignore: IgnoreList) -> Self {
        Tracker {
            policy,
            ignore,
            failures: HashMap::new(),
            bans: HashMap::new(),
            ban_ends: BTreeSet::new(),
            window_sweep: None,
            changed_windows: HashSet::new(),
            dropped_windows: 0,
            total_failed: 0,
            total_banned: 0,
            next_sequence: 0,
            random: default_random(),
        }
    }

    /// Replaces the draw used for `bantime.rndtime` (tests make it fixed).
    pub fn with_random(mut self, random: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.random = Box::new(random);
        self
    }

    /// The jail's settings.
    pub fn policy(&self) -> &JailPolicy {
        &self.policy
    }

    /// Changes the settings (`set <jail> bantime ...`, reload). As in fail2ban, bans that
    /// carry no ban time of their own follow the new `bantime`, and open failure windows
    /// the new `findtime`.
    pub fn set_policy(&mut self, policy: JailPolicy) {
        self.policy = policy;
        for entry in self.bans.values_mut() {
            if !entry.explicit_ban_time {
                Arc::make_mut(&mut entry.ban).ban_time = self.policy.ban_time;
            }
        }
        self.rebuild_deadlines();
    }

    /// The ignore list.
    pub fn ignore_list(&self) -> &IgnoreList {
        &self.ignore
    }

    /// The ignore list, to add entries or refresh resolved hostnames.
    pub fn ignore_list_mut(&mut self) -> &mut IgnoreList {
        &mut self.ignore
    }

    /// Counts a failure found in a log (fail2ban's `processLineAndAdd` and, with
    /// `bantime.increment`, the observer's `failureFound`).
    ///
    /// `history` tells of earlier bans of the id; it is asked only with `bantime.increment`.
    pub fn add_failure(
        &mut self,
        mut failure: Failure,
        now: Timestamp,
        history: &dyn BanHistory,
    ) -> FailureOutcome {
        if let Some(reason) = self.ignore.reason(&failure.id) {
            return FailureOutcome::Ignored(reason);
        }
        failure.time = failure.time.min(now);
        let id = failure.id.clone();
        let time = failure.time;
        let retry = self.count(failure, 1, now);
        if retry >= self.policy.max_retry {
            return self.ban_window(&id, retry, now, history);
        }
        let retry = self.boost_known_bad(&id, time, history).unwrap_or(retry);
        if retry >= self.policy.max_retry {
            return self.ban_window(&id, retry, now, history);
        }
        FailureOutcome::Counted { retry }
    }

    /// `set <jail> attempt <id> [<match>...]`: a failure at `now` counting one per match
    /// (at least one). Like fail2ban's `addAttempt` it bypasses the ignore list and the
    /// increment boost.
    pub fn add_attempt(
        &mut self,
        id: FailId,
        matches: Vec<String>,
        now: Timestamp,
        history: &dyn BanHistory,
    ) -> FailureOutcome {
        let count = u32::try_from(matches.len()).unwrap_or(u32::MAX).max(1);
        let failure = Failure {
            matches,
            ..Failure::new(id.clone(), now)
        };
        let retry = self.count(failure, count, now);
        if retry >= self.policy.max_retry {
            return self.ban_window(&id, retry, now, history);
        }
        FailureOutcome::Counted { retry }
    }

    /// `banip`: bans `id` from `now` for the jail's ban time (increased with
    /// `bantime.increment`). Like fail2ban, it does not consult the ignore list.
    pub fn ban(&mut self, id: FailId, now: Timestamp, history: &dyn BanHistory) -> BanOutcome {
        let candidate = Candidate {
            id,
            time: now,
            ban_time: None,
            ban_count: 0,
            failures: 0,
            matches: Vec::new(),
            data: FailureData::default(),
            restored: false,
        };
        self.decide(candidate, now, history)
    }

    /// Restores a ban read from the store at start (fail2ban's `restoreCurrentBans`).
    ///
    /// Its ban time is cut to the jail's longest ban, and it keeps its time of ban, so it
    /// ends when it would have ended without the restart; one whose end is past is dropped.
    pub fn restore(&mut self, stored: StoredBan, now: Timestamp) -> RestoreOutcome {
        let ban_time = match stored.ban_time {
            None => self.policy.ban_time,
            Some(ban_time) => self.cut_to_max_ban_time(ban_time),
        };
        if ban_time
            .end_after(stored.time_of_ban)
            .is_some_and(|end| end <= now)
        {
            return RestoreOutcome::Obsolete;
        }
        if let Some(reason) = self.ignore.reason(&stored.id) {
            return RestoreOutcome::Ignored(reason);
        }
        let candidate = Candidate {
            id: stored.id,
            time: stored.time_of_ban,
            ban_time: Some(ban_time),
            ban_count: stored.ban_count,
            failures: stored.failures,
            matches: stored.matches,
            data: FailureData::from(stored.data),
            restored: true,
        };
        RestoreOutcome::Ban(self.decide(candidate, now, &crate::NoHistory))
    }

    /// `unbanip <id>`: lifts the ban of `id`, or when `id` is a subnet not banned as such,
    /// every ban inside it. Hostnames are the caller's to resolve into addresses first.
    /// fail2ban deletes the id from the store even when it is not banned
    /// ([`TrackerError::NotBanned`]); that is the caller's to do either way.
    pub fn unban(&mut self, id: &FailId) -> Result<Vec<Unban>, TrackerError> {
        if let Some(unban) = self.remove_ban(id, UnbanCause::Manual) {
            return Ok(vec![unban]);
        }
        let covered: Vec<FailId> = match id {
            FailId::Net(_) => self
                .banned()
                .into_iter()
                .filter(|banned| id.contains(banned))
                .collect(),
            FailId::Ip(_) | FailId::Raw(_) => Vec::new(),
        };
        if covered.is_empty() {
            return Err(TrackerError::NotBanned(id.clone()));
        }
        let unbans = covered
            .iter()
            .filter_map(|banned| self.remove_ban(banned, UnbanCause::Manual));
        Ok(unbans.collect())
    }

    /// `unban --all` (or the jail stopping): lifts every ban, in the order they were made.
    pub fn unban_all(&mut self) -> Vec<Unban> {
        let mut entries: Vec<BanEntry> = self.bans.drain().map(|(_, entry)| entry).collect();
        entries.sort_by_key(|entry| entry.sequence);
        self.ban_ends.clear();
        let unban = |entry: BanEntry| Unban {
            ban: entry.ban,
            cause: UnbanCause::Flush,
        };
        entries.into_iter().map(unban).collect()
    }

    /// The earliest moment something is due: a ban ending or a failure window going stale.
    /// The owner sleeps until then and calls [`Tracker::expire`]. For windows it may be
    /// early (a window that opened then was extended): that call finds nothing to drop.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let ban_end = self.ban_ends.first().map(|(time, _)| *time);
        match (ban_end, self.window_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends every ban whose end is at or before `now` and drops every failure window whose
    /// last failure is `find_time` or more before `now`. Returns the ended bans, earliest first.
    ///
    /// fail2ban unbans when `now > end` on a float clock, that is an instant after `end`;
    /// on whole seconds the same instant is `now >= end`, so a ban lasts exactly its ban time.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Unban> {
        let mut unbans = Vec::new();
        while let Some((time, _)) = self.ban_ends.first() {
            if *time > now {
                break;
            }
            let Some((_, id)) = self.ban_ends.pop_first() else {
                break;
            };
            unbans.extend(self.bans.remove(&id).map(|entry| Unban {
                ban: entry.ban,
                cause: UnbanCause::Expired,
            }));
        }
        if self.window_sweep.is_some_and(|sweep| sweep <= now) {
            let find_time = self.policy.find_time;
            self.failures
                .retain(|_, window| window.deadline(find_time) > now);
            self.window_sweep = self.earliest_window_deadline();
        }
        unbans
    }

    /// Whether `id` is banned (`get <jail> banned <ip>`).
    pub fn is_banned(&self, id: &FailId) -> bool {
        self.bans.contains_key(id)
    }

    /// The ban of `id`, if banned.
    pub fn get_ban(&self, id: &FailId) -> Option<&Arc<Ban>> {
        self.bans.get(id).map(|entry| &entry.ban)
    }

    /// The open failure window of `id`, if any.
    pub fn failure_window(&self, id: &FailId) -> Option<&FailureWindow> {
        self.failures.get(id)
    }

    /// The windows that opened, grew or closed since the last call: each changed id with
    /// its window now, `None` for one that closed (turned into a ban, or gone stale when
    /// counted again). Windows that merely went stale are not listed: the store drops
    /// those by age.
    pub fn take_window_changes(&mut self) -> Vec<(FailId, Option<&FailureWindow>)> {
        let changed = std::mem::take(&mut self.changed_windows);
        let failures = &self.failures;
        changed
            .into_iter()
            .map(|id| {
                let window = failures.get(&id);
                (id, window)
            })
            .collect()
    }

    /// Forgets which windows changed: for a jail without a store, where nobody takes them
    /// and the list would grow with every address seen.
    pub fn forget_window_changes(&mut self) {
        self.changed_windows.clear();
    }

    /// Lists `ids` as changed again: their last save failed.
    pub fn keep_window_changes(&mut self, ids: impl IntoIterator<Item = FailId>) {
        self.changed_windows.extend(ids);
    }

    /// Puts back a window saved before a restart (see [`Tracker::take_window_changes`]);
    /// one already stale at `now` is dropped.
    pub fn restore_window(&mut self, id: FailId, window: FailureWindow, now: Timestamp) {
        let deadline = window.deadline(self.policy.find_time);
        if deadline <= now {
            return;
        }
        self.window_sweep = Some(self.window_sweep.map_or(deadline, |t| t.min(deadline)));
        self.failures.insert(id, window);
    }

    /// Banned ids in the order the bans were made ("Banned IP list", `get <jail> banip`
    /// without options lists them ordered by end instead: see [`Tracker::ban_list`]).
    pub fn banned(&self) -> Vec<FailId> {
        let mut entries: Vec<&BanEntry> = self.bans.values().collect();
        entries.sort_by_key(|entry| entry.sequence);
        entries
            .into_iter()
            .map(|entry| entry.ban.id.clone())
            .collect()
    }

    /// `get <jail> banip --with-time`: every ban with its time, ban time and end, ordered
    /// by end (permanent last), bans ending together in the order they were made.
    pub fn ban_list(&self) -> Vec<BanListEntry> {
        let mut entries: Vec<&BanEntry> = self.bans.values().collect();
        entries.sort_by_key(|entry| (entry.ban.end().unwrap_or(Timestamp::MAX), entry.sequence));
        let line = |entry: &BanEntry| BanListEntry {
            id: entry.ban.id.clone(),
            time: entry.ban.time,
            ban_time: entry.ban.ban_time,
            end: entry.ban.end(),
        };
        entries.into_iter().map(line).collect()
    }

    /// `status <jail>`: the filter's and the actions' counters.
    pub fn status(&self) -> JailStatus {
        JailStatus {
            banned: self.banned(),
            ..self.counts()
        }
    }

    /// [`Tracker::status`] without the list of bans (left empty): cheap enough to read
    /// after every command, as the daemon's metrics do.
    pub fn counts(&self) -> JailStatus {
        JailStatus {
            currently_failed: self.failures.len(),
            total_failed: self.total_failed,
            currently_banned: self.bans.len(),
            total_banned: self.total_banned,
            banned: Vec::new(),
        }
    }

    /// fail2ban's `FailManager.addFailure`; returns the id's counter.
    fn count(&mut self, failure: Failure, count: u32, now: Timestamp) -> u32 {
        let id = failure.id.clone();
        let find_time = self.policy.find_time;
        // fail2ban's periodic `cleanup` would have dropped a stale window by now; do it
        // for this id exactly when it matters, so the result does not hang on timing.
        if self
            .failures
            .get(&id)
            .is_some_and(|window| window.deadline(find_time) <= now)
        {
            self.take_window(&id);
        }
        self.total_failed += 1;
        let max_matches = self.policy.max_matches;
        let window = match self.failures.remove(&id) {
            Some(mut window) => {
                // A window's deadline only moves later: `window_sweep` stays a bound.
                window.add(failure, count, find_time, max_matches);
                window
            }
            None => {
                let window = FailureWindow::open(failure, count, max_matches);
                let deadline = window.deadline(find_time);
                self.window_sweep = Some(self.window_sweep.map_or(deadline, |t| t.min(deadline)));
                window
            }
        };
        let retry = window.retry;
        self.changed_windows.insert(id.clone());
        self.failures.insert(id, window);
        if self.failures.len() > self.policy.max_windows {
            self.drop_oldest_windows();
        }
        retry
    }

    /// Drops the windows whose last failure is oldest, a tenth of `max_windows` at once
    /// (one scan per tenth keeps the cost per failure constant).
    fn drop_oldest_windows(&mut self) {
        let max_windows = self.policy.max_windows;
        let target = max_windows - max_windows / 10;
        let excess = self.failures.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut times: Vec<Timestamp> = self.failures.values().map(|w| w.last_time).collect();
        let (_, threshold, _) = times.select_nth_unstable(excess - 1);
        let threshold = *threshold;
        drop(times);
        // Older than the threshold all go; of those at it, as many as still needed.
        let mut at_threshold = excess
            - self
                .failures
                .values()
                .filter(|window| window.last_time < threshold)
                .count();
        let changed = &mut self.changed_windows;
        let mut dropped = 0;
        self.failures.retain(|id, window| {
            let drop = window.last_time < threshold
                || (window.last_time == threshold && at_threshold > 0 && {
                    at_threshold -= 1;
                    true
                });
            if drop {
                changed.insert(id.clone());
                dropped += 1;
            }
            !drop
        });
        self.dropped_windows += dropped;
    }

    /// How many windows were dropped for `max_windows` since the last call.
    pub fn take_dropped_windows(&mut self) -> u64 {
        std::mem::take(&mut self.dropped_windows)
    }

    /// observer.py `failureFound`: a failure of an id banned before counts more, 2, 3, 5,
    /// 9... for 1, 2, 3, 4 earlier bans, at most `maxretry`. Returns the new counter when
    /// it was raised.
    fn boost_known_bad(
        &mut self,
        id: &FailId,
        time: Timestamp,
        history: &dyn BanHistory,
    ) -> Option<u32> {
        self.policy.increment.as_ref()?;
        // failureFound asks for this jail's record, whatever `overalljails` says.
        let previous = history.previous_ban(id, false)?;
        // A failure from before the last ban was read before (the log replayed at start).
        if time <= previous.time_of_ban || previous.ban_count == 0 {
            return None;
        }
        let weight = (1u32 << (previous.ban_count.min(20) - 1)) + 1;
        let weight = weight.min(self.policy.max_retry);
        if weight <= 1 {
            return None;
        }
        let find_time = self.policy.find_time;
        let window = self.failures.get_mut(id)?;
        // Moves the window's deadline later at most: `window_sweep` stays a bound.
        window.boost(time, weight - 1, find_time);
        self.changed_windows.insert(id.clone());
        self.total_failed += 1;
        Some(window.retry)
    }

    /// fail2ban's `toBan` then `__checkBan`: the window becomes a ban decision.
    /// `retry` is the counter just reached, reported back should the window be gone.
    fn ban_window(
        &mut self,
        id: &FailId,
        retry: u32,
        now: Timestamp,
        history: &dyn BanHistory,
    ) -> FailureOutcome {
        let Some(window) = self.take_window(id) else {
            // The window was just counted, so this does not happen; fail2ban's `toBan`
            // finding nothing bans nothing.
            return FailureOutcome::Counted { retry };
        };
        let candidate = Candidate {
            id: id.clone(),
            time: window.last_time,
            ban_time: None,
            ban_count: 0,
            failures: window.failures,
            data: window.data,
            matches: window.matches.into(),
            restored: false,
        };
        FailureOutcome::Ban(self.decide(candidate, now, history))
    }

    /// `BanManager.addBanTicket` and, for a new ban, the observer's `banFound`.
    fn decide(
        &mut self,
        candidate: Candidate,
        now: Timestamp,
        history: &dyn BanHistory,
    ) -> BanOutcome {
        let ban_time = candidate.ban_time.unwrap_or(self.policy.ban_time);
        if ban_time
            .end_after(candidate.time)
            .is_some_and(|end| end <= now)
        {
            return BanOutcome::Expired { id: candidate.id };
        }
        if self.bans.contains_key(&candidate.id) {
            return self.prolong(&candidate, ban_time);
        }
        let explicit_ban_time = candidate.ban_time.is_some();
        let mut ban = Ban {
            id: candidate.id,
            time: candidate.time,
            ban_time,
            // `addBanTicket` counts the ban on the ticket, restored ones too.
            ban_count: candidate.ban_count.saturating_add(1),
            failures: candidate.failures,
            matches: candidate.matches,
            data: candidate.data,
            restored: candidate.restored,
        };
        let explicit_ban_time = if !candidate.restored && !explicit_ban_time {
            self.increment(&mut ban, history)
        } else {
            explicit_ban_time
        };
        let entry = BanEntry {
            ban: Arc::new(ban),
            explicit_ban_time,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.total_banned += 1;
        let ban = Arc::clone(&entry.ban);
        self.insert_ban(entry);
        BanOutcome::Banned(ban)
    }

    /// `addBanTicket` for an id banned already: the ban is moved out to the decision's end
    /// when that is later; the new ban time counts from the old time of ban.
    fn prolong(&mut self, candidate: &Candidate, ban_time: BanTime) -> BanOutcome {
        let id = candidate.id.clone();
        let Some(entry) = self.bans.get_mut(&id) else {
            return BanOutcome::AlreadyBanned {
                id,
                prolonged: false,
                end: None,
            };
        };
        let old_end = entry.ban.end();
        let later = match (ban_time.end_after(candidate.time), old_end) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(new_end), Some(old_end)) => new_end > old_end,
        };
        if !later {
            return BanOutcome::AlreadyBanned {
                id,
                prolonged: false,
                end: old_end,
            };
        }
        let ban = Arc::make_mut(&mut entry.ban);
        ban.ban_time = match ban_time {
            BanTime::Seconds(seconds) if candidate.time > ban.time => {
                BanTime::Seconds(seconds.saturating_add(candidate.time - ban.time))
            }
            other => other,
        };
        entry.explicit_ban_time = true;
        let end = entry.ban.end();
        if let Some(old_end) = old_end {
            self.ban_ends.remove(&(old_end, id.clone()));
        }
        if let Some(end) = end {
            self.ban_ends.insert((end, id.clone()));
        }
        BanOutcome::AlreadyBanned {
            id,
            prolonged: true,
            end,
        }
    }

    /// observer.py `incrBanTime` as `banFound` applies it: an id banned before gets its
    /// count raised and its ban time from the formula. Returns whether the ban now has a
    /// ban time of its own (incrBanTime sets the ticket's whenever the id has a record).
    fn increment(&mut self, ban: &mut Ban, history: &dyn BanHistory) -> bool {
        let Some(increment) = &self.policy.increment else {
            return false;
        };
        let BanTime::Seconds(base) = ban.ban_time else {
            return false;
        };
        if base <= 0 {
            return false;
        }
        let Some(previous) = history.previous_ban(&ban.id, increment.overall_jails) else {
            return false;
        };
        if previous.ban_count >= ban.ban_count {
            ban.ban_count = previous.ban_count.saturating_add(1);
        }
        if previous.ban_count > 0 {
            let seconds = increment.ban_time(base, previous.ban_count, (self.random)());
            ban.ban_time = BanTime::Seconds(seconds);
        }
        // The failure is from before the recorded ban: this ban is that one, read again.
        if ban.time <= previous.time_of_ban {
            ban.restored = true;
        }
        true
    }

    /// getCurrentBans' `correctBanTime`: a stored ban longer than the jail's longest ban
    /// (or permanent where the jail bans no longer than that) is cut to it.
    fn cut_to_max_ban_time(&self, ban_time: BanTime) -> BanTime {
        match (self.policy.max_ban_time(), ban_time) {
            (Some(max), BanTime::Permanent) => BanTime::Seconds(max),
            (Some(max), BanTime::Seconds(seconds)) if seconds > max => BanTime::Seconds(max),
            _ => ban_time,
        }
    }

    fn insert_ban(&mut self, entry: BanEntry) {
        if let Some(end) = entry.ban.end() {
            self.ban_ends.insert((end, entry.ban.id.clone()));
        }
        self.bans.insert(entry.ban.id.clone(), entry);
    }

    fn remove_entry(&mut self, id: &FailId) -> Option<BanEntry> {
        let entry = self.bans.remove(id)?;
        if let Some(end) = entry.ban.end() {
            self.ban_ends.remove(&(end, id.clone()));
        }
        Some(entry)
    }

    fn remove_ban(&mut self, id: &FailId, cause: UnbanCause) -> Option<Unban> {
        let entry = self.remove_entry(id)?;
        Some(Unban {
            ban: entry.ban,
            cause,
        })
    }

    fn take_window(&mut self, id: &FailId) -> Option<FailureWindow> {
        let window = self.failures.remove(id);
        if window.is_some() {
            self.changed_windows.insert(id.clone());
        }
        if self.failures.is_empty() {
            self.window_sweep = None;
        }
        window
    }

    fn earliest_window_deadline(&self) -> Option<Timestamp> {
        let find_time = self.policy.find_time;
        self.failures
            .values()
            .map(|window| window.deadline(find_time))
            .min()
    }

    fn rebuild_deadlines(&mut self) {
        self.window_sweep = self.earliest_window_deadline();
        let bans = self.bans.iter().filter_map(|(id, entry)| {
            let end = entry.ban.end()?;
            Some((end, id.clone()))
        });
        self.ban_ends = bans.collect();
    }
}

/// `random.random()` without a crate: splitmix64 seeded from std's per-process random
/// hash keys. `rndtime` only blurs unban times against bots timing them; it needs no
/// cryptographic strength.
fn default_random() -> RandomSource {
    let mut state = RandomState::new().hash_one(0x5eed_u64);
    Box::new(move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 53 high bits make a uniform double in [0, 1).
        (z >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod conformance;
