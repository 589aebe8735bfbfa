//! One id's failure window: fail2ban's `FailTicket` as `FailManager` keeps it.

use std::collections::BTreeMap;

use thin_vec::ThinVec;

use crate::{FailId, FailureData, Timestamp};

/// One failure found in a log line (or reported with `set <jail> attempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Who failed.
    pub id: FailId,
    /// When, in Unix seconds; a time after `now` is taken as `now`.
    pub time: Timestamp,
    /// Attempts this failure stands for (fail2ban's ticket `failures`); 0 means one.
    pub attempts: u32,
    /// The matched log lines.
    pub matches: Vec<String>,
    /// Other captured tags (`user`, `F-*` groups...), handed on to the ban for actions.
    pub data: FailureData,
}

impl Failure {
    /// A one-attempt failure without matches or data.
    pub fn new(id: FailId, time: Timestamp) -> Self {
        Failure {
            id,
            time,
            attempts: 0,
            matches: Vec::new(),
            data: FailureData::default(),
        }
    }
}

/// fail2ban's date policy for a failure's time (`processLine` with `checkFindTime`),
/// for the source to apply before handing a failure on.
///
/// While reading what is already in a log at start (`in_operation` false) a line older
/// than `find_time` is dropped: it was written while the daemon was not running. Once
/// following new lines, a time more than a minute off `now` is taken as `now` (clock or
/// time zone trouble in the log, which fail2ban warns about).
pub fn failure_time(
    line_time: Timestamp,
    now: Timestamp,
    find_time: i64,
    in_operation: bool,
) -> Option<Timestamp> {
    if in_operation {
        let off_by_more_than_a_minute = line_time.abs_diff(now) > 60;
        Some(if off_by_more_than_a_minute {
            now
        } else {
            line_time
        })
    } else if line_time < now.saturating_sub(find_time) {
        None
    } else {
        Some(line_time)
    }
}

/// The state of one id's failure window, as `fail2ban-client` would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureWindow {
    /// The counter compared against `maxretry`.
    pub retry: u32,
    /// Attempts seen (`<failures>` in actions).
    pub failures: u32,
    /// Start of the window the counter stands for.
    pub first_time: Timestamp,
    /// The latest failure; the window is dropped `find_time` after it.
    pub last_time: Timestamp,
    /// The last `maxmatches` matched lines. A jail holds tens of thousands of windows,
    /// most without lines: a thin vector is one word and no allocation when empty.
    pub matches: ThinVec<String>,
    /// Captured tags of the failure that opened the window.
    pub(crate) data: FailureData,
}

impl FailureWindow {
    /// A new window from its first failure; `count` is how much the failure adds to the
    /// counter (1 for a log line). fail2ban: `FailTicket(...)` then `setRetry(count)` when
    /// `count` exceeds the ticket's attempts.
    pub(crate) fn open(failure: Failure, count: u32, max_matches: usize) -> Self {
        let mut window = FailureWindow {
            retry: failure.attempts.max(count),
            failures: failure.attempts.max(1),
            first_time: failure.time,
            last_time: failure.time,
            matches: ThinVec::from(failure.matches),
            data: failure.data,
        };
        window.bound_matches(max_matches);
        window
    }

    /// A window as it was saved (with the log position it was counted up to) and read back
    /// after a restart.
    pub fn saved(
        counts: (u32, u32),
        first_time: Timestamp,
        last_time: Timestamp,
        matches: Vec<String>,
        data: FailureData,
    ) -> Self {
        let (retry, failures) = counts;
        FailureWindow {
            retry,
            failures,
            first_time,
            last_time,
            matches: ThinVec::from(matches),
            data,
        }
    }

    /// Adds a further failure: fail2ban's `adjustTime` then `inc`.
    ///
    /// An id's own attempts only count for the window's first failure; later ones add
    /// `count` to the counter and their attempts to `failures` (fail2ban's `inc`).
    pub(crate) fn add(&mut self, failure: Failure, count: u32, find_time: i64, max_matches: usize) {
        self.adjust_time(failure.time, find_time);
        self.retry = self.retry.saturating_add(count);
        self.failures = self.failures.saturating_add(failure.attempts.max(1));
        self.matches.extend(failure.matches);
        self.bound_matches(max_matches);
    }

    /// Adds to the counter only: the `bantime.increment` boost of a known bad id
    /// (observer.py `failureFound`, which re-adds the same ticket: one more attempt).
    pub(crate) fn boost(&mut self, time: Timestamp, count: u32, find_time: i64) {
        self.adjust_time(time, find_time);
        self.retry = self.retry.saturating_add(count);
        self.failures = self.failures.saturating_add(1);
    }

    /// fail2ban's `adjustTime`: when the window has grown longer than `find_time`, the
    /// counter is scaled to the rate seen over it, as if only the last `find_time`
    /// seconds had been counted.
    fn adjust_time(&mut self, time: Timestamp, find_time: i64) {
        if time <= self.last_time {
            return;
        }
        let window_start = time.saturating_sub(find_time);
        if self.first_time < window_start {
            let span = (time - self.first_time) as f64;
            let scaled = f64::from(self.retry) / span * find_time as f64;
            // Python 3's round() rounds half to even.
            self.retry = scaled.round_ties_even() as u32;
            self.first_time = window_start;
        }
        self.last_time = time;
    }

    /// Keeps the last `max_matches` lines; none when `max_matches` is 0.
    fn bound_matches(&mut self, max_matches: usize) {
        let excess = self.matches.len().saturating_sub(max_matches);
        if excess > 0 {
            self.matches.drain(..excess);
        }
    }

    /// Captured tags of the failure that opened the window.
    pub fn data(&self) -> BTreeMap<String, String> {
        self.data.to_map()
    }

    /// The same, packed, to save it as it is.
    pub fn packed_data(&self) -> &FailureData {
        &self.data
    }

    /// When the window is stale: fail2ban's `cleanup` drops an entry once
    /// `last_time <= now - find_time`.
    pub(crate) fn deadline(&self, find_time: i64) -> Timestamp {
        self.last_time.saturating_add(find_time)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn failure(time: Timestamp) -> Failure {
        Failure::new(FailId::parse("192.0.2.1"), time)
    }

    fn with_matches(time: Timestamp, lines: &[&str]) -> Failure {
        Failure {
            matches: lines.iter().map(|line| line.to_string()).collect(),
            ..failure(time)
        }
    }

    #[test]
    fn failure_time_drops_old_lines_at_start_and_fixes_odd_times_later() {
        assert_eq!(failure_time(1000 - 600, 1000, 600, false), Some(400));
        assert_eq!(failure_time(1000 - 601, 1000, 600, false), None);
        assert_eq!(failure_time(5000, 1000, 600, false), Some(5000));
        assert_eq!(failure_time(940, 1000, 600, true), Some(940));
        assert_eq!(failure_time(939, 1000, 600, true), Some(1000));
        assert_eq!(failure_time(1061, 1000, 600, true), Some(1000));
    }

    #[test]
    fn first_failure_counts_its_attempts() {
        let window = FailureWindow::open(failure(10), 1, 5);
        assert_eq!((window.retry, window.failures), (1, 1));
        let several = FailureWindow::open(
            Failure {
                attempts: 3,
                ..failure(10)
            },
            1,
            5,
        );
        assert_eq!((several.retry, several.failures), (3, 3));
        // `set <jail> attempt ip m1 m2`: count 2 on a failure of no attempts
        let attempt = FailureWindow::open(failure(10), 2, 5);
        assert_eq!((attempt.retry, attempt.failures), (2, 1));
    }

    #[test]
    fn later_failures_add_count_to_retry_and_attempts_to_failures() {
        let mut window = FailureWindow::open(failure(10), 1, 5);
        window.add(
            Failure {
                attempts: 3,
                ..failure(11)
            },
            1,
            600,
            5,
        );
        assert_eq!((window.retry, window.failures), (2, 4));
        assert_eq!(window.last_time, 11);
    }

    #[test]
    fn an_older_failure_does_not_move_the_window() {
        let mut window = FailureWindow::open(failure(100), 1, 5);
        window.add(failure(50), 1, 600, 5);
        assert_eq!(
            (window.retry, window.first_time, window.last_time),
            (2, 100, 100)
        );
    }

    #[test]
    fn a_window_longer_than_find_time_is_scaled_to_its_rate() {
        let mut window = FailureWindow::open(failure(0), 1, 5);
        window.add(failure(300), 1, 600, 5);
        window.add(failure(600), 1, 600, 5);
        assert_eq!(window.retry, 3);
        // at 900 the window spans 900s > 600s: 3 / 900 * 600 = 2, then +1
        window.add(failure(900), 1, 600, 5);
        assert_eq!((window.retry, window.first_time), (3, 300));
        // 3 / 1000 * 600 = 1.8 -> 2, then +1
        window.add(failure(1300), 1, 600, 5);
        assert_eq!((window.retry, window.first_time), (3, 700));
    }

    #[test]
    fn rate_scaling_rounds_half_to_even() {
        // 1 / 1200 * 600 = 0.5 -> 0 (Python 3 round), then +1
        let mut window = FailureWindow::open(failure(0), 1, 5);
        window.add(failure(1200), 1, 600, 5);
        assert_eq!(window.retry, 1);
        // 5 / 1200 * 600 = 2.5 -> 2, then +1
        let mut window = FailureWindow::open(
            Failure {
                attempts: 5,
                ..failure(0)
            },
            1,
            5,
        );
        window.add(failure(1200), 1, 600, 5);
        assert_eq!(window.retry, 3);
    }

    #[test]
    fn max_matches_keeps_the_last_lines() {
        let mut window = FailureWindow::open(with_matches(1, &["a", "b", "c"]), 1, 2);
        assert_eq!(window.matches, ["b", "c"]);
        window.add(with_matches(2, &["d"]), 1, 600, 2);
        assert_eq!(window.matches, ["c", "d"]);
        window.add(with_matches(3, &["e"]), 1, 600, 0);
        assert!(window.matches.is_empty());
    }

    #[test]
    fn a_window_and_its_key_stay_small() {
        // A jail with a long findtime holds a window for every address seen failing.
        assert!(size_of::<FailId>() <= 24);
        assert!(size_of::<FailureWindow>() <= 40);
    }

    #[test]
    fn data_of_the_first_failure_is_kept() {
        let mut first = failure(1);
        first.data = [("user".to_string(), "alice".to_string())]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into();
        let mut second = failure(2);
        second.data = [("user".to_string(), "bob".to_string())]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into();
        let mut window = FailureWindow::open(first, 1, 5);
        window.add(second, 1, 600, 5);
        assert_eq!(window.data().get("user").map(String::as_str), Some("alice"));
    }
}
