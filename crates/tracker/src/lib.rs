//! The state of a jail's failures and bans: fail2ban's `FailManager`, `BanManager`, the ban
//! decisions of `Actions` and the `bantime.increment` logic of its observer, as one pure,
//! synchronous state machine.
//!
//! Owns: per-id failure windows ([`FailureWindow`]), current bans ([`Ban`]), the status
//! counters, the ignore list ([`IgnoreList`]), one ordered set of ban ends
//! (`BTreeSet<(time, key)>`, as mini-redis keeps expirations), and for stale failure
//! windows the moment of the next scan (fail2ban's `cleanup`).
//!
//! Receives: [`Failure`]s from the filter (addresses already resolved, or raw `<F-ID>`s:
//! see [`FailId`]), control commands (`banip`, `unbanip`, `unban --all`, `attempt`),
//! stored bans to restore at start, and the current time with every call. It never reads
//! a clock, does no I/O and never blocks: the daemon owns one [`Tracker`] per jail in one
//! task, sleeps until [`Tracker::next_deadline`] and then calls [`Tracker::expire`].
//! Earlier bans for `bantime.increment` come from the store through [`BanHistory`].
//!
//! Emits: [`FailureOutcome`]/[`BanOutcome`] (a new ban for the actions to run and the store
//! to record, or why not), [`Unban`]s when bans end, and the lists and counters of
//! `fail2ban-client status` and `get <jail> banip --with-time`. A ban is handed out as an
//! `Arc<Ban>` shared with the tracker's own entry: the actions and the store read that one
//! ban, its matches never copied. The failure windows changed since the last call
//! ([`Tracker::take_window_changes`]) go to the store with the log position they were
//! counted up to, and come back after a restart through [`Tracker::restore_window`].
//!
//! Time is whole Unix seconds ([`Timestamp`], `i64`): ordered keys need a total order,
//! which `f64` lacks, fail2ban's database rounds its times to seconds, and whole seconds let
//! a ban end exactly `bantime` after it began. The source rounds fractional log times.
//!
//! Not here: running `ignorecommand`, resolving hostnames, the date policy of the source
//! (offered as [`failure_time`] for it to call), and persistence.

mod ban;
mod data;
mod failure;
mod formula;
mod id;
mod ignore;
mod policy;
mod tracker;

pub use ban::{
    Ban, BanListEntry, BanOutcome, FailureOutcome, JailStatus, RestoreOutcome, StoredBan, Unban,
    UnbanCause,
};
pub use data::FailureData;
pub use failure::{Failure, FailureWindow, failure_time};
pub use formula::{Formula, FormulaError};
pub use id::FailId;
pub use ignore::{IgnoreList, IgnoreReason};
pub use policy::{
    BanHistory, BanTime, BanTimeIncrement, DEFAULT_MAX_WINDOWS, IncrementFormula, IncrementInput,
    JailPolicy, NoHistory, PreviousBan,
};
pub use tracker::{RandomSource, Tracker, TrackerError};

/// A moment in whole Unix seconds.
pub type Timestamp = i64;
