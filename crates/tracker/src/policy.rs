//! A jail's counting and banning settings, and `bantime.increment` as observer.py computes it.

use crate::formula::Formula;
use crate::{FailId, Timestamp};

/// How long a ban lasts.
///
/// fail2ban stores `-1` for "forever"; any negative `bantime` is read as permanent here
/// (fail2ban would treat `-2` as a ban already over, which no configuration means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanTime {
    /// Never ends on its own; only `unbanip` lifts it.
    Permanent,
    /// Ends this many seconds after the time of ban.
    Seconds(i64),
}

impl BanTime {
    /// From fail2ban's number of seconds: negative means permanent.
    pub fn from_seconds(seconds: i64) -> BanTime {
        if seconds < 0 {
            BanTime::Permanent
        } else {
            BanTime::Seconds(seconds)
        }
    }

    /// To fail2ban's number of seconds: `-1` for permanent, as the database and `<bantime>` have it.
    pub fn as_seconds(self) -> i64 {
        match self {
            BanTime::Permanent => -1,
            BanTime::Seconds(seconds) => seconds,
        }
    }

    /// The end of a ban that began at `time`; `None` for a permanent ban.
    pub fn end_after(self, time: Timestamp) -> Option<Timestamp> {
        match self {
            BanTime::Permanent => None,
            BanTime::Seconds(seconds) => Some(time.saturating_add(seconds)),
        }
    }
}

/// The settings of one jail that the tracker obeys.
#[derive(Debug, Clone)]
pub struct JailPolicy {
    /// `maxretry`: failures within `find_time` that make a ban.
    pub max_retry: u32,
    /// `findtime` in seconds: how long a failure counts.
    pub find_time: i64,
    /// `bantime`: the base length of a ban.
    pub ban_time: BanTime,
    /// `maxmatches`: how many matched log lines a failure entry keeps (0 keeps none).
    pub max_matches: usize,
    /// `bantime.increment = true` and its companions; `None` when off.
    pub increment: Option<BanTimeIncrement>,
    /// `maxfailurewindows` (ferroban's own): open failure windows kept at most; past it
    /// the oldest go first. Bounds a jail's memory under a flood of distinct addresses.
    pub max_windows: usize,
}

/// Default `max_windows`: far above what a jail holds in normal use (an address that
/// fails less than `maxretry` times within `findtime`), and about 30 MiB of windows.
pub const DEFAULT_MAX_WINDOWS: usize = 100_000;

impl Default for JailPolicy {
    /// fail2ban's defaults from jail.conf: maxretry 5, findtime 10m, bantime 10m,
    /// maxmatches = maxretry, no increment.
    fn default() -> Self {
        JailPolicy {
            max_retry: 5,
            find_time: 600,
            ban_time: BanTime::Seconds(600),
            max_matches: 5,
            increment: None,
            max_windows: DEFAULT_MAX_WINDOWS,
        }
    }
}

impl JailPolicy {
    /// fail2ban's `getMaxBanTime`: the longest ban this jail hands out, used to cut down
    /// bans restored from the store. `None` means no bound (permanent bans allowed).
    pub fn max_ban_time(&self) -> Option<i64> {
        let max = match &self.increment {
            Some(increment) => increment.max_time,
            None => Some(self.ban_time.as_seconds()),
        };
        max.filter(|seconds| *seconds >= 0)
    }
}

/// `bantime.increment` settings: how a ban grows for an id banned before.
#[derive(Debug, Clone)]
pub struct BanTimeIncrement {
    /// `bantime.formula` or `bantime.multipliers`.
    pub formula: IncrementFormula,
    /// `bantime.factor` (`banFactor` in the formula), 1 by default.
    pub factor: f64,
    /// `bantime.maxtime` in seconds: cap applied before the random part.
    pub max_time: Option<i64>,
    /// `bantime.rndtime` in seconds: up to this much random time is added.
    pub rnd_time: Option<i64>,
    /// `bantime.overalljails`: count earlier bans of the id in every jail, not only this one.
    pub overall_jails: bool,
}

impl Default for BanTimeIncrement {
    fn default() -> Self {
        BanTimeIncrement {
            formula: IncrementFormula::Default,
            factor: 1.0,
            max_time: None,
            rnd_time: None,
            overall_jails: false,
        }
    }
}

/// The inputs of a ban-time formula, named as fail2ban's `ban.Time`, `ban.Count`, `banFactor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncrementInput {
    /// `ban.Time`: the jail's base ban time in seconds.
    pub time: f64,
    /// `ban.Count`: how often the id was banned before.
    pub count: u32,
    /// `banFactor`.
    pub factor: f64,
}

/// How a ban grows with the count of earlier bans.
#[derive(Debug, Clone, PartialEq)]
pub enum IncrementFormula {
    /// fail2ban's default formula:
    /// `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`.
    Default,
    /// `bantime.multipliers = 1 2 4 ...`: `ban.Time * banFactor * multipliers[ban.Count]`,
    /// the last multiplier standing for every higher count.
    Multipliers(Vec<i64>),
    /// Any other `bantime.formula`; like the default it never shortens the base time.
    Custom(Formula),
}

impl BanTimeIncrement {
    /// fail2ban's `evformula`: the ban time in seconds for an id banned `count` times
    /// before, `random` being a draw from `[0, 1)` used for `rndtime`.
    ///
    /// The result is cut to whole seconds, as fail2ban's actions see it (`int(bantime)`).
    pub fn ban_time(&self, base: i64, count: u32, random: f64) -> i64 {
        let input = IncrementInput {
            time: base as f64,
            count,
            factor: self.factor,
        };
        let mut seconds = self.formula.evaluate(input);
        if let Some(max_time) = self.max_time {
            seconds = seconds.min(max_time as f64);
        }
        if let Some(rnd_time) = self.rnd_time {
            seconds += random * rnd_time as f64;
        }
        // `as` saturates (and maps NaN to 0), which is the bound we want for absurd factors.
        seconds as i64
    }
}

impl IncrementFormula {
    fn evaluate(&self, ban: IncrementInput) -> f64 {
        match self {
            IncrementFormula::Default => {
                let doubling = f64::from(1u32 << ban.count.min(20));
                ban.time.max(ban.time * doubling * ban.factor)
            }
            IncrementFormula::Multipliers(list) => {
                let index = usize::try_from(ban.count).unwrap_or(usize::MAX);
                let multiplier = list.get(index).or(list.last()).copied().unwrap_or(1);
                ban.time * ban.factor * multiplier as f64
            }
            IncrementFormula::Custom(formula) => ban.time.max(formula.evaluate(ban)),
        }
    }
}

/// An earlier ban of an id, as the store's `bips` table gives it (fail2ban's `getBan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousBan {
    /// How many times the id was banned (summed over jails for `overalljails`).
    pub ban_count: u32,
    /// When the last ban began (the latest over jails for `overalljails`).
    pub time_of_ban: Timestamp,
    /// Its ban time in seconds, `-1` for permanent (summed for `overalljails`).
    pub ban_time: i64,
}

/// Where the tracker learns about earlier bans of an id; the store implements it.
///
/// `overall_jails` asks for the record over all jails (sum of counts, latest time),
/// otherwise for this jail's only. Without a store, pass [`NoHistory`]: like fail2ban
/// without a database, ban times then never increase.
pub trait BanHistory {
    /// The earlier ban record of `id`, if any.
    fn previous_ban(&self, id: &FailId, overall_jails: bool) -> Option<PreviousBan>;
}

/// A [`BanHistory`] that knows of no earlier ban.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl BanHistory for NoHistory {
    fn previous_ban(&self, _id: &FailId, _overall_jails: bool) -> Option<PreviousBan> {
        None
    }
}

impl<F> BanHistory for F
where
    F: Fn(&FailId, bool) -> Option<PreviousBan>,
{
    fn previous_ban(&self, id: &FailId, overall_jails: bool) -> Option<PreviousBan> {
        self(id, overall_jails)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn increment(formula: IncrementFormula) -> BanTimeIncrement {
        BanTimeIncrement {
            formula,
            ..BanTimeIncrement::default()
        }
    }

    #[test]
    fn ban_time_reads_negative_as_permanent() {
        assert_eq!(BanTime::from_seconds(-1), BanTime::Permanent);
        assert_eq!(BanTime::from_seconds(-5), BanTime::Permanent);
        assert_eq!(BanTime::from_seconds(0), BanTime::Seconds(0));
        assert_eq!(BanTime::Permanent.as_seconds(), -1);
        assert_eq!(BanTime::Seconds(600).end_after(1000), Some(1600));
        assert_eq!(BanTime::Permanent.end_after(1000), None);
    }

    #[test]
    fn default_formula_doubles_per_earlier_ban() {
        let default = increment(IncrementFormula::Default);
        // 600 * (1 << count) * 1
        assert_eq!(default.ban_time(600, 1, 0.0), 1200);
        assert_eq!(default.ban_time(600, 2, 0.0), 2400);
        assert_eq!(default.ban_time(600, 3, 0.0), 4800);
        // the shift stops at 20
        assert_eq!(default.ban_time(1, 25, 0.0), 1 << 20);
    }

    #[test]
    fn default_formula_applies_factor_but_never_shortens() {
        let mut halved = increment(IncrementFormula::Default);
        halved.factor = 0.25;
        // 600 * 2 * 0.25 = 300 < 600: max(ban.Time, ...) keeps 600
        assert_eq!(halved.ban_time(600, 1, 0.0), 600);
        assert_eq!(halved.ban_time(600, 3, 0.0), 1200);
        let mut tripled = increment(IncrementFormula::Default);
        tripled.factor = 3.0;
        assert_eq!(tripled.ban_time(600, 1, 0.0), 3600);
    }

    #[test]
    fn multipliers_index_by_count_and_repeat_the_last() {
        let list = increment(IncrementFormula::Multipliers(vec![1, 5, 30, 60]));
        assert_eq!(list.ban_time(60, 0, 0.0), 60);
        assert_eq!(list.ban_time(60, 1, 0.0), 300);
        assert_eq!(list.ban_time(60, 3, 0.0), 3600);
        assert_eq!(list.ban_time(60, 9, 0.0), 3600);
        // unlike the formula, multipliers may shorten the ban
        let shrinking = increment(IncrementFormula::Multipliers(vec![1, 0]));
        assert_eq!(shrinking.ban_time(60, 1, 0.0), 0);
    }

    #[test]
    fn max_time_caps_before_random_time_is_added() {
        let mut capped = increment(IncrementFormula::Default);
        capped.max_time = Some(1000);
        assert_eq!(capped.ban_time(600, 3, 0.0), 1000);
        capped.rnd_time = Some(100);
        assert_eq!(capped.ban_time(600, 3, 0.5), 1050);
        assert_eq!(capped.ban_time(600, 3, 0.999), 1099);
    }

    #[test]
    fn custom_formula_is_floored_at_the_base_time() {
        let formula = |text| IncrementFormula::Custom(crate::Formula::parse(text).unwrap());
        let custom = increment(formula("ban.Time * (ban.Count + 1)"));
        assert_eq!(custom.ban_time(100, 2, 0.0), 300);
        let shrinking = increment(formula("1"));
        assert_eq!(shrinking.ban_time(100, 2, 0.0), 100);
    }

    #[test]
    fn max_ban_time_follows_get_max_ban_time() {
        let plain = JailPolicy::default();
        assert_eq!(plain.max_ban_time(), Some(600));
        let permanent = JailPolicy {
            ban_time: BanTime::Permanent,
            ..JailPolicy::default()
        };
        assert_eq!(permanent.max_ban_time(), None);
        let mut growing = JailPolicy {
            increment: Some(BanTimeIncrement::default()),
            ..JailPolicy::default()
        };
        assert_eq!(growing.max_ban_time(), None);
        if let Some(increment) = growing.increment.as_mut() {
            increment.max_time = Some(86400);
        }
        assert_eq!(growing.max_ban_time(), Some(86400));
    }
}
