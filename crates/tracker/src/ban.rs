//! What the tracker emits: bans, unbans, and the lists and counters `fail2ban-client` shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{BanTime, FailId, FailureData, IgnoreReason, Timestamp};

/// A ban, carrying what actions interpolate and what the store records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Who is banned (`<fid>`, `<ip>`).
    pub id: FailId,
    /// The time of ban (`<time>`): the last counted failure, or `now` for `banip`.
    pub time: Timestamp,
    /// How long it lasts (`<bantime>`), increment applied.
    pub ban_time: BanTime,
    /// `<bancount>`: this ban included, how often the id was banned.
    pub ban_count: u32,
    /// `<failures>`: attempts that led to the ban.
    pub failures: u32,
    /// `<matches>`: the last `maxmatches` matched lines.
    pub matches: Vec<String>,
    /// Captured tags of the failure that opened the window (`<F-USER>`...), packed: a
    /// jail holds thousands of bans.
    pub data: FailureData,
    /// fail2ban's `restored` flag: the ban was read back from the store (or its failure
    /// predates the stored ban), so it is not written again and `norestored` actions skip it.
    pub restored: bool,
}

impl Ban {
    /// When the ban ends; `None` for a permanent ban.
    pub fn end(&self) -> Option<Timestamp> {
        self.ban_time.end_after(self.time)
    }
}

/// What came of a ban decision (a failure reaching `maxretry`, `banip`, a restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanOutcome {
    /// A new ban: run the actions' `ban`, record it unless `restored`. Shared with the
    /// tracker's own entry.
    Banned(Arc<Ban>),
    /// The id was banned already: no new ban, no actions. fail2ban's `addBanTicket` still
    /// moves the end of the existing ban out when this decision's end is later.
    AlreadyBanned {
        /// The id.
        id: FailId,
        /// Whether the existing ban was prolonged.
        prolonged: bool,
        /// The end of the existing ban now; `None` for permanent.
        end: Option<Timestamp>,
    },
    /// The ban would already be over at `now`: fail2ban's `Ignore <ip>, expired bantime`.
    Expired {
        /// The id.
        id: FailId,
    },
}

/// What came of one failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Not counted: the id is on the ignore list.
    Ignored(IgnoreReason),
    /// Counted; `retry` is the id's counter now, still below `maxretry`.
    Counted {
        /// The id's counter.
        retry: u32,
    },
    /// The counter reached `maxretry` and the window was turned into a ban decision.
    Ban(BanOutcome),
}

/// Why a ban ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnbanCause {
    /// Its ban time was up.
    Expired,
    /// `unbanip`; fail2ban deletes such bans from the store too.
    Manual,
    /// `unban --all` or the jail stopping: every ban flushed.
    Flush,
}

/// A ban that ended: run the actions' `unban` for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unban {
    /// The ban as it stood.
    pub ban: Arc<Ban>,
    /// Why it ended.
    pub cause: UnbanCause,
}

/// One line of `get <jail> banip --with-time`: `ip \t time + bantime = end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanListEntry {
    /// Who is banned.
    pub id: FailId,
    /// The time of ban.
    pub time: Timestamp,
    /// How long.
    pub ban_time: BanTime,
    /// When it ends; `None` for permanent.
    pub end: Option<Timestamp>,
}

/// A ban as the store keeps it, to be restored at start (fail2ban's `getCurrentBans` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBan {
    /// Who was banned.
    pub id: FailId,
    /// `timeofban`.
    pub time_of_ban: Timestamp,
    /// `bantime`; `None` when unknown (fail2ban's `-2` from an old database: map it here,
    /// [`BanTime::from_seconds`] would read it as permanent), taken as the jail's ban time.
    pub ban_time: Option<BanTime>,
    /// `bancount`.
    pub ban_count: u32,
    /// Attempts recorded with the ban.
    pub failures: u32,
    /// Matched lines recorded with the ban.
    pub matches: Vec<String>,
    /// Other recorded tags.
    pub data: BTreeMap<String, String>,
}

/// What came of restoring one stored ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// Its end is past (after cutting it to the jail's longest ban): not restored.
    Obsolete,
    /// The id is on the ignore list now.
    Ignored(IgnoreReason),
    /// Handed to the ban decision; a new ban comes back `restored`.
    Ban(BanOutcome),
}

/// The counters of `fail2ban-client status <jail>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailStatus {
    /// "Currently failed": ids with an open failure window.
    pub currently_failed: usize,
    /// "Total failed": failures counted since start.
    pub total_failed: u64,
    /// "Currently banned".
    pub currently_banned: usize,
    /// "Total banned": bans since start, restored ones included.
    pub total_banned: u64,
    /// "Banned IP list", in the order the bans were made.
    pub banned: Vec<FailId>,
}
