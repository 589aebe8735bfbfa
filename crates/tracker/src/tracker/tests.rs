use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::{BanTimeIncrement, IgnoreReason, IncrementFormula, NoHistory, PreviousBan};

fn id(text: &str) -> FailId {
    FailId::parse(text)
}

fn policy(max_retry: u32, find_time: i64, ban_time: i64) -> JailPolicy {
    JailPolicy {
        max_retry,
        find_time,
        ban_time: BanTime::from_seconds(ban_time),
        max_matches: max_retry as usize,
        increment: None,
        max_windows: crate::DEFAULT_MAX_WINDOWS,
    }
}

fn tracker(max_retry: u32, find_time: i64, ban_time: i64) -> Tracker {
    Tracker::new(policy(max_retry, find_time, ban_time), IgnoreList::new())
}

fn fail(tracker: &mut Tracker, who: &str, time: Timestamp) -> FailureOutcome {
    tracker.add_failure(Failure::new(id(who), time), time, &NoHistory)
}

fn banned(outcome: FailureOutcome) -> Ban {
    match outcome {
        FailureOutcome::Ban(BanOutcome::Banned(ban)) => Ban::clone(&ban),
        other => panic!("expected a new ban, got {other:?}"),
    }
}

fn new_ban(outcome: BanOutcome) -> Ban {
    match outcome {
        BanOutcome::Banned(ban) => Ban::clone(&ban),
        other => panic!("expected a new ban, got {other:?}"),
    }
}

fn history(count: u32, time_of_ban: Timestamp) -> impl Fn(&FailId, bool) -> Option<PreviousBan> {
    move |_: &FailId, _: bool| {
        Some(PreviousBan {
            ban_count: count,
            time_of_ban,
            ban_time: 600,
        })
    }
}

fn increment(formula: IncrementFormula) -> BanTimeIncrement {
    BanTimeIncrement {
        formula,
        ..BanTimeIncrement::default()
    }
}

fn growing(increment: BanTimeIncrement) -> Tracker {
    let policy = JailPolicy {
        increment: Some(increment),
        ..policy(3, 600, 600)
    };
    Tracker::new(policy, IgnoreList::new()).with_random(|| 0.5)
}

fn stored(who: &str, time_of_ban: Timestamp, ban_time: i64) -> StoredBan {
    StoredBan {
        id: id(who),
        time_of_ban,
        ban_time: Some(BanTime::from_seconds(ban_time)),
        ban_count: 1,
        failures: 3,
        matches: vec!["line".into()],
        data: BTreeMap::new(),
    }
}

#[test]
fn failures_within_find_time_ban_at_max_retry() {
    let mut jail = tracker(3, 600, 600);
    assert_eq!(
        fail(&mut jail, "192.0.2.1", 1000),
        FailureOutcome::Counted { retry: 1 }
    );
    assert_eq!(
        fail(&mut jail, "192.0.2.1", 1300),
        FailureOutcome::Counted { retry: 2 }
    );
    let ban = banned(fail(&mut jail, "192.0.2.1", 1599));
    assert_eq!(ban.id, id("192.0.2.1"));
    assert_eq!(
        (ban.time, ban.ban_time, ban.end()),
        (1599, BanTime::Seconds(600), Some(2199))
    );
    assert_eq!((ban.ban_count, ban.failures, ban.restored), (1, 3, false));
    // the window became the ban
    assert_eq!(jail.failure_window(&id("192.0.2.1")), None);
    assert!(jail.is_banned(&id("192.0.2.1")));
}

#[test]
fn a_window_whose_last_failure_is_find_time_old_starts_again() {
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    fail(&mut jail, "192.0.2.1", 1100);
    // 1100 + 600 <= 1700: stale, fail2ban's cleanup would have dropped it
    assert_eq!(
        fail(&mut jail, "192.0.2.1", 1700),
        FailureOutcome::Counted { retry: 1 }
    );
    assert_eq!(
        jail.failure_window(&id("192.0.2.1")).map(|w| w.first_time),
        Some(1700)
    );
    // one second earlier it still counts
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    fail(&mut jail, "192.0.2.1", 1100);
    assert!(matches!(
        fail(&mut jail, "192.0.2.1", 1699),
        FailureOutcome::Ban(_)
    ));
}

#[test]
fn stale_windows_are_pruned_at_their_deadline() {
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    fail(&mut jail, "192.0.2.2", 1010);
    fail(&mut jail, "192.0.2.1", 1020);
    // The first window's first deadline is when the next scan is due; the scan finds it
    // moved on and reports the real next one.
    assert_eq!(jail.next_deadline(), Some(1600));
    assert!(jail.expire(1600).is_empty());
    assert_eq!(jail.status().currently_failed, 2);
    assert_eq!(jail.next_deadline(), Some(1610));
    assert!(jail.expire(1609).is_empty());
    assert_eq!(jail.status().currently_failed, 2);
    assert!(jail.expire(1610).is_empty());
    assert_eq!(jail.status().currently_failed, 1);
    assert_eq!(jail.next_deadline(), Some(1620));
    jail.expire(1620);
    assert_eq!(jail.status().currently_failed, 0);
    assert_eq!(jail.status().total_failed, 3);
    assert_eq!(jail.next_deadline(), None);
}

#[test]
fn a_long_steady_stream_is_counted_by_its_rate() {
    // Values checked against fail2ban 1.0.2's FailManager with cleanup before each failure.
    // One failure every 500s: the counter is scaled to 2 per 600s and stays there.
    let mut jail = tracker(3, 600, 600);
    let retries: Vec<FailureOutcome> = (0..10)
        .map(|step| fail(&mut jail, "192.0.2.1", 1000 + step * 500))
        .collect();
    let mut expected = vec![FailureOutcome::Counted { retry: 2 }; 10];
    expected[0] = FailureOutcome::Counted { retry: 1 };
    assert_eq!(retries, expected);
    // One every 400s: at 1800 the scaled 1.5 rounds to 2, plus one makes 3: a ban.
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    fail(&mut jail, "192.0.2.1", 1400);
    assert_eq!(banned(fail(&mut jail, "192.0.2.1", 1800)).time, 1800);
}

#[test]
fn a_failure_time_after_now_is_taken_as_now() {
    let mut jail = tracker(1, 600, 600);
    let ban = banned(jail.add_failure(Failure::new(id("192.0.2.1"), 5000), 1000, &NoHistory));
    assert_eq!(ban.time, 1000);
}

#[test]
fn attempts_of_the_first_failure_count() {
    let mut jail = tracker(3, 600, 600);
    let failure = Failure {
        attempts: 3,
        ..Failure::new(id("192.0.2.1"), 1000)
    };
    let ban = banned(jail.add_failure(failure, 1000, &NoHistory));
    assert_eq!(ban.failures, 3);
}

#[test]
fn attempts_of_later_failures_add_to_failures_only() {
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    let failure = Failure {
        attempts: 4,
        ..Failure::new(id("192.0.2.1"), 1001)
    };
    assert_eq!(
        jail.add_failure(failure, 1001, &NoHistory),
        FailureOutcome::Counted { retry: 2 }
    );
    let ban = banned(fail(&mut jail, "192.0.2.1", 1002));
    assert_eq!(ban.failures, 6);
}

#[test]
fn max_matches_bounds_the_lines_handed_to_the_ban() {
    let mut jail = Tracker::new(
        JailPolicy {
            max_matches: 2,
            ..policy(4, 600, 600)
        },
        IgnoreList::new(),
    );
    let mut outcome = None;
    for (second, line) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let failure = Failure {
            matches: vec![line.to_string()],
            ..Failure::new(id("192.0.2.1"), 1000 + second as i64)
        };
        outcome = Some(jail.add_failure(failure, 1010, &NoHistory));
        let kept = jail
            .failure_window(&id("192.0.2.1"))
            .map_or(0, |w| w.matches.len());
        assert!(kept <= 2);
    }
    let ban = banned(outcome.unwrap());
    assert_eq!(ban.matches, ["c", "d"]);
}

#[test]
fn raw_failure_ids_are_counted_and_banned() {
    let mut jail = tracker(2, 600, 600);
    fail(&mut jail, "alice", 1000);
    let ban = banned(fail(&mut jail, "alice", 1001));
    assert_eq!(ban.id, FailId::Raw("alice".into()));
}

#[test]
fn ignored_ids_are_not_counted() {
    let mut ignore = IgnoreList::new();
    ignore.add_all("192.0.2.0/24 2001:db8::/64 198.51.100.7");
    let mut jail = Tracker::new(policy(1, 600, 600), ignore);
    for who in ["192.0.2.200", "2001:db8::42", "198.51.100.7"] {
        assert!(
            matches!(fail(&mut jail, who, 1000), FailureOutcome::Ignored(_)),
            "{who}"
        );
    }
    assert_eq!(
        fail(&mut jail, "::ffff:198.51.100.7", 1000),
        FailureOutcome::Ignored(IgnoreReason::Address)
    );
    assert_eq!(jail.status().total_failed, 0);
    assert!(matches!(
        fail(&mut jail, "2001:db8:1::42", 1000),
        FailureOutcome::Ban(_)
    ));
}

#[test]
fn ignore_self_uses_the_callers_addresses() {
    let mut jail = tracker(1, 600, 600);
    jail.ignore_list_mut().set_ignore_self(true);
    jail.ignore_list_mut()
        .set_self_addresses(["203.0.113.1".parse().unwrap()]);
    assert_eq!(
        fail(&mut jail, "203.0.113.1", 1000),
        FailureOutcome::Ignored(IgnoreReason::SelfAddress)
    );
}

#[test]
fn a_ban_ends_exactly_ban_time_after_it_began() {
    let mut jail = tracker(1, 600, 600);
    let ban = banned(fail(&mut jail, "192.0.2.1", 1000));
    assert_eq!(jail.next_deadline(), Some(1600));
    assert!(jail.expire(1599).is_empty());
    assert!(jail.is_banned(&ban.id));
    let unbans = jail.expire(1600);
    assert_eq!(
        unbans,
        [Unban {
            ban: ban.into(),
            cause: UnbanCause::Expired
        }]
    );
    assert!(!jail.is_banned(&id("192.0.2.1")));
    assert_eq!(jail.next_deadline(), None);
}

#[test]
fn expire_returns_bans_earliest_first() {
    let mut jail = tracker(1, 600, 600);
    fail(&mut jail, "192.0.2.2", 1005);
    fail(&mut jail, "192.0.2.1", 1000);
    let ended: Vec<FailId> = jail
        .expire(5000)
        .into_iter()
        .map(|unban| unban.ban.id.clone())
        .collect();
    assert_eq!(ended, [id("192.0.2.1"), id("192.0.2.2")]);
}

#[test]
fn permanent_bans_never_expire() {
    let mut jail = tracker(1, 600, -1);
    let ban = banned(fail(&mut jail, "192.0.2.1", 1000));
    assert_eq!((ban.ban_time, ban.end()), (BanTime::Permanent, None));
    // only the failure window... which the ban consumed: nothing is due
    assert_eq!(jail.next_deadline(), None);
    assert!(jail.expire(i64::MAX).is_empty());
    assert!(jail.is_banned(&ban.id));
    assert_eq!(jail.ban_list()[0].end, None);
}

#[test]
fn an_expired_ban_decision_is_ignored() {
    // An old failure (replayed log) whose ban would already be over.
    let mut jail = tracker(1, 600, 60);
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 1000), 1060, &NoHistory);
    assert_eq!(
        outcome,
        FailureOutcome::Ban(BanOutcome::Expired {
            id: id("192.0.2.1")
        })
    );
    assert_eq!(jail.status().total_banned, 0);
}

#[test]
fn a_banned_id_is_not_banned_again_but_prolonged_when_later() {
    let mut jail = tracker(2, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    banned(fail(&mut jail, "192.0.2.1", 1000));
    // failures keep coming (another port, log lag) and reach maxretry again
    fail(&mut jail, "192.0.2.1", 1100);
    let outcome = fail(&mut jail, "192.0.2.1", 1200);
    let expected = BanOutcome::AlreadyBanned {
        id: id("192.0.2.1"),
        prolonged: true,
        end: Some(1800),
    };
    assert_eq!(outcome, FailureOutcome::Ban(expected));
    let ban = jail.get_ban(&id("192.0.2.1")).unwrap();
    // the time of ban stays, the ban time grows by the distance
    assert_eq!((ban.time, ban.ban_time), (1000, BanTime::Seconds(800)));
    assert_eq!(jail.status().total_banned, 1);
    assert!(jail.expire(1799).is_empty());
    assert_eq!(jail.expire(1800).len(), 1);
}

#[test]
fn a_banned_id_is_not_prolonged_to_an_earlier_end() {
    let mut jail = tracker(1, 600, 600);
    banned(fail(&mut jail, "192.0.2.1", 1000));
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 900), 1000, &NoHistory);
    let expected = BanOutcome::AlreadyBanned {
        id: id("192.0.2.1"),
        prolonged: false,
        end: Some(1600),
    };
    assert_eq!(outcome, FailureOutcome::Ban(expected));
}

#[test]
fn a_permanent_ban_is_not_prolonged() {
    let mut jail = tracker(1, 600, -1);
    banned(fail(&mut jail, "192.0.2.1", 1000));
    let outcome = fail(&mut jail, "192.0.2.1", 2000);
    let expected = BanOutcome::AlreadyBanned {
        id: id("192.0.2.1"),
        prolonged: false,
        end: None,
    };
    assert_eq!(outcome, FailureOutcome::Ban(expected));
}

#[test]
fn manual_ban_and_unban() {
    let mut jail = tracker(3, 600, 600);
    let ban = new_ban(jail.ban(id("192.0.2.9"), 1000, &NoHistory));
    assert_eq!(
        (ban.time, ban.end(), ban.failures, ban.ban_count),
        (1000, Some(1600), 0, 1)
    );
    let again = jail.ban(id("192.0.2.9"), 1000, &NoHistory);
    assert!(matches!(
        again,
        BanOutcome::AlreadyBanned {
            prolonged: false,
            ..
        }
    ));
    let unbans = jail.unban(&id("192.0.2.9")).unwrap();
    assert_eq!(
        unbans,
        [Unban {
            ban: ban.into(),
            cause: UnbanCause::Manual
        }]
    );
    assert_eq!(jail.next_deadline(), None);
    assert_eq!(
        jail.unban(&id("192.0.2.9")),
        Err(TrackerError::NotBanned(id("192.0.2.9")))
    );
    assert_eq!(jail.status().total_banned, 1);
}

#[test]
fn manual_ban_ignores_the_ignore_list() {
    let mut ignore = IgnoreList::new();
    ignore.add("192.0.2.9");
    let mut jail = Tracker::new(policy(3, 600, 600), ignore);
    assert!(matches!(
        jail.ban(id("192.0.2.9"), 1000, &NoHistory),
        BanOutcome::Banned(_)
    ));
}

#[test]
fn unban_of_a_subnet_lifts_the_bans_inside_it() {
    let mut jail = tracker(3, 600, 600);
    for who in ["10.0.0.1", "10.0.0.2", "10.1.0.1", "2001:db8::1"] {
        jail.ban(id(who), 1000, &NoHistory);
    }
    let ended: Vec<FailId> = jail
        .unban(&id("10.0.0.0/16"))
        .unwrap()
        .into_iter()
        .map(|unban| unban.ban.id.clone())
        .collect();
    assert_eq!(ended, [id("10.0.0.1"), id("10.0.0.2")]);
    assert_eq!(jail.banned(), [id("10.1.0.1"), id("2001:db8::1")]);
    assert!(jail.unban(&id("10.9.0.0/16")).is_err());
    // a banned subnet is lifted as such
    jail.ban(id("172.16.0.0/12"), 1000, &NoHistory);
    assert_eq!(jail.unban(&id("172.16.0.0/12")).unwrap().len(), 1);
}

#[test]
fn unban_all_flushes_in_ban_order_and_keeps_failures() {
    let mut jail = tracker(3, 600, -1);
    jail.ban(id("192.0.2.2"), 1000, &NoHistory);
    jail.ban(id("192.0.2.1"), 1001, &NoHistory);
    fail(&mut jail, "192.0.2.3", 1002);
    let unbans = jail.unban_all();
    let ended: Vec<(FailId, UnbanCause)> = unbans
        .into_iter()
        .map(|u| (u.ban.id.clone(), u.cause))
        .collect();
    assert_eq!(
        ended,
        [
            (id("192.0.2.2"), UnbanCause::Flush),
            (id("192.0.2.1"), UnbanCause::Flush)
        ]
    );
    assert_eq!(jail.status().currently_banned, 0);
    assert_eq!(jail.status().currently_failed, 1);
    assert_eq!(jail.next_deadline(), Some(1602));
}

#[test]
fn add_attempt_counts_one_per_match_without_ignore_check() {
    let mut ignore = IgnoreList::new();
    ignore.add("192.0.2.1");
    let mut jail = Tracker::new(policy(3, 600, 600), ignore);
    let outcome = jail.add_attempt(id("192.0.2.1"), vec![], 1000, &NoHistory);
    assert_eq!(outcome, FailureOutcome::Counted { retry: 1 });
    let lines = vec!["one".to_string(), "two".to_string()];
    let ban = banned(jail.add_attempt(id("192.0.2.1"), lines, 1001, &NoHistory));
    assert_eq!(ban.matches, ["one", "two"]);
}

#[test]
fn status_and_ban_list_shapes() {
    let mut jail = tracker(2, 600, 600);
    jail.ban(id("192.0.2.5"), 1000, &NoHistory);
    fail(&mut jail, "192.0.2.6", 900);
    fail(&mut jail, "192.0.2.6", 950);
    fail(&mut jail, "192.0.2.7", 990);
    jail.set_policy(JailPolicy {
        ban_time: BanTime::Seconds(60),
        ..policy(2, 600, 600)
    });
    jail.ban(id("192.0.2.8"), 1000, &NoHistory);
    let status = jail.status();
    assert_eq!(
        status,
        JailStatus {
            currently_failed: 1,
            total_failed: 3,
            currently_banned: 3,
            total_banned: 3,
            banned: vec![id("192.0.2.5"), id("192.0.2.6"), id("192.0.2.8")],
        }
    );
    let list: Vec<(FailId, Timestamp, i64, Option<Timestamp>)> = jail
        .ban_list()
        .into_iter()
        .map(|entry| (entry.id, entry.time, entry.ban_time.as_seconds(), entry.end))
        .collect();
    assert_eq!(
        list,
        [
            (id("192.0.2.6"), 950, 60, Some(1010)),
            (id("192.0.2.5"), 1000, 60, Some(1060)),
            (id("192.0.2.8"), 1000, 60, Some(1060)),
        ]
    );
}

#[test]
fn a_new_jail_ban_time_moves_the_end_of_plain_bans_only() {
    let mut jail = tracker(3, 600, 600);
    jail.ban(id("192.0.2.1"), 1000, &NoHistory);
    jail.restore(stored("192.0.2.2", 1000, 300), 1000);
    jail.set_policy(policy(3, 600, 3600));
    assert_eq!(
        jail.get_ban(&id("192.0.2.1")).and_then(|ban| ban.end()),
        Some(4600)
    );
    assert_eq!(
        jail.get_ban(&id("192.0.2.2")).and_then(|ban| ban.end()),
        Some(1300)
    );
    assert_eq!(jail.next_deadline(), Some(1300));
    assert!(jail.expire(4599).len() == 1);
    assert!(jail.expire(4600).len() == 1);
}

#[test]
fn a_new_find_time_moves_failure_deadlines() {
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    jail.set_policy(policy(3, 60, 600));
    assert_eq!(jail.next_deadline(), Some(1060));
}

#[test]
fn restore_keeps_the_original_end() {
    let mut jail = tracker(3, 600, 3600);
    let outcome = jail.restore(stored("192.0.2.1", 1000, 3600), 2000);
    let RestoreOutcome::Ban(BanOutcome::Banned(ban)) = outcome else {
        panic!("expected a restored ban, got {outcome:?}");
    };
    assert_eq!(
        (ban.time, ban.end(), ban.restored),
        (1000, Some(4600), true)
    );
    // addBanTicket counts the restored ban on its ticket once more
    assert_eq!(ban.ban_count, 2);
    assert_eq!((ban.failures, ban.matches.len()), (3, 1));
    assert_eq!(jail.next_deadline(), Some(4600));
    assert_eq!(jail.status().total_banned, 1);
}

#[test]
fn restore_drops_bans_whose_end_is_past() {
    let mut jail = tracker(3, 600, 3600);
    assert_eq!(
        jail.restore(stored("192.0.2.1", 1000, 600), 1600),
        RestoreOutcome::Obsolete
    );
    assert_eq!(
        jail.restore(stored("192.0.2.1", 1000, 600), 1700),
        RestoreOutcome::Obsolete
    );
    assert!(matches!(
        jail.restore(stored("192.0.2.1", 1000, 600), 1599),
        RestoreOutcome::Ban(BanOutcome::Banned(_))
    ));
}

#[test]
fn restore_cuts_bans_to_the_jails_longest() {
    // without increment the longest ban is bantime: a stored permanent ban is cut to it
    let mut jail = tracker(3, 600, 600);
    let outcome = jail.restore(stored("192.0.2.1", 1000, -1), 1200);
    let RestoreOutcome::Ban(BanOutcome::Banned(ban)) = outcome else {
        panic!("expected a restored ban, got {outcome:?}");
    };
    assert_eq!(ban.end(), Some(1600));
    assert_eq!(
        jail.restore(stored("192.0.2.2", 1000, 7200), 1600),
        RestoreOutcome::Obsolete
    );
    // with increment and no maxtime, long and permanent bans stay
    let mut jail = growing(increment(IncrementFormula::Default));
    let outcome = jail.restore(stored("192.0.2.1", 1000, -1), 1200);
    assert!(
        matches!(outcome, RestoreOutcome::Ban(BanOutcome::Banned(ref ban)) if ban.end().is_none())
    );
    // unknown ban time (old database): the jail's
    let mut unknown = stored("192.0.2.3", 1000, 0);
    unknown.ban_time = None;
    let outcome = jail.restore(unknown, 1200);
    assert!(
        matches!(outcome, RestoreOutcome::Ban(BanOutcome::Banned(ref ban)) if ban.end() == Some(1600))
    );
}

#[test]
fn restore_skips_ignored_ids() {
    let mut jail = tracker(3, 600, 600);
    jail.ignore_list_mut().add("192.0.2.0/24");
    let outcome = jail.restore(stored("192.0.2.1", 1000, 600), 1200);
    assert!(matches!(
        outcome,
        RestoreOutcome::Ignored(IgnoreReason::Network(_))
    ));
}

#[test]
fn increment_applies_the_default_formula_to_known_ids() {
    let mut jail = growing(increment(IncrementFormula::Default));
    let ban = new_ban(jail.ban(id("192.0.2.1"), 10_000, &history(2, 5000)));
    // 600 * (1 << 2) * 1
    assert_eq!(
        (ban.ban_time, ban.ban_count, ban.restored),
        (BanTime::Seconds(2400), 3, false)
    );
    assert_eq!(jail.next_deadline(), Some(12_400));
    // an id without a record keeps the base time
    let ban = new_ban(jail.ban(id("192.0.2.2"), 10_000, &NoHistory));
    assert_eq!((ban.ban_time, ban.ban_count), (BanTime::Seconds(600), 1));
}

#[test]
fn increment_with_factor_multipliers_and_max_time() {
    let mut factor = increment(IncrementFormula::Default);
    factor.factor = 2.0;
    let ban = new_ban(growing(factor).ban(id("192.0.2.1"), 10_000, &history(1, 5000)));
    assert_eq!(ban.ban_time, BanTime::Seconds(2400));

    let multipliers = increment(IncrementFormula::Multipliers(vec![1, 2, 10]));
    let mut jail = growing(multipliers);
    let ban = new_ban(jail.ban(id("192.0.2.1"), 10_000, &history(1, 5000)));
    assert_eq!(ban.ban_time, BanTime::Seconds(1200));
    let ban = new_ban(jail.ban(id("192.0.2.2"), 10_000, &history(7, 5000)));
    assert_eq!(ban.ban_time, BanTime::Seconds(6000));

    let mut capped = increment(IncrementFormula::Default);
    capped.max_time = Some(1000);
    let ban = new_ban(growing(capped).ban(id("192.0.2.1"), 10_000, &history(5, 5000)));
    assert_eq!(ban.ban_time, BanTime::Seconds(1000));
}

#[test]
fn increment_random_time_comes_from_the_injected_source() {
    let mut random = increment(IncrementFormula::Default);
    random.rnd_time = Some(100);
    let draws = [0.0, 0.25, 0.99];
    let mut next = draws.into_iter();
    let mut jail = growing(random).with_random(move || next.next().unwrap_or(0.0));
    let times: Vec<BanTime> = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .map(|who| new_ban(jail.ban(id(who), 10_000, &history(1, 5000))).ban_time)
        .collect();
    assert_eq!(
        times,
        [
            BanTime::Seconds(1200),
            BanTime::Seconds(1225),
            BanTime::Seconds(1299)
        ]
    );
}

#[test]
fn increment_asks_for_all_jails_when_overall_jails_is_set() {
    let asked = Cell::new(None);
    let lookup = |_: &FailId, overall: bool| {
        asked.set(Some(overall));
        Some(PreviousBan {
            ban_count: 1,
            time_of_ban: 5000,
            ban_time: 600,
        })
    };
    let mut overall = increment(IncrementFormula::Default);
    overall.overall_jails = true;
    new_ban(growing(overall).ban(id("192.0.2.1"), 10_000, &lookup));
    assert_eq!(asked.get(), Some(true));
    new_ban(growing(increment(IncrementFormula::Default)).ban(id("192.0.2.1"), 10_000, &lookup));
    assert_eq!(asked.get(), Some(false));
}

#[test]
fn increment_leaves_permanent_bans_alone() {
    let policy = JailPolicy {
        increment: Some(increment(IncrementFormula::Default)),
        ..policy(3, 600, -1)
    };
    let mut jail = Tracker::new(policy, IgnoreList::new());
    let ban = new_ban(jail.ban(id("192.0.2.1"), 10_000, &history(3, 5000)));
    assert_eq!((ban.ban_time, ban.ban_count), (BanTime::Permanent, 1));
}

#[test]
fn increment_marks_a_ban_from_before_the_recorded_one_restored() {
    let mut jail = growing(increment(IncrementFormula::Default));
    let ban = new_ban(jail.ban(id("192.0.2.1"), 10_000, &history(1, 10_000)));
    assert!(ban.restored);
}

#[test]
fn increment_makes_failures_of_known_bad_ids_count_more() {
    let policy = JailPolicy {
        increment: Some(increment(IncrementFormula::Default)),
        ..policy(5, 600, 600)
    };
    let mut jail = Tracker::new(policy, IgnoreList::new());
    let bad = history(2, 500);
    // two earlier bans: each failure weighs 1 << (2 - 1) + 1 = 3
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 1000), 1000, &bad);
    assert_eq!(outcome, FailureOutcome::Counted { retry: 3 });
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 1001), 1001, &bad);
    let ban = banned(outcome);
    assert_eq!((ban.ban_time, ban.ban_count), (BanTime::Seconds(2400), 3));
    // the boosts count as failures in the status, as fail2ban's re-added tickets do
    assert_eq!(jail.status().total_failed, 4);
}

#[test]
fn increment_does_not_boost_failures_from_before_the_last_ban() {
    let policy = JailPolicy {
        increment: Some(increment(IncrementFormula::Default)),
        ..policy(5, 600, 600)
    };
    let mut jail = Tracker::new(policy, IgnoreList::new());
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 1000), 2000, &history(4, 1000));
    assert_eq!(outcome, FailureOutcome::Counted { retry: 1 });
}

#[test]
fn without_increment_history_is_not_consulted() {
    let mut jail = tracker(5, 600, 600);
    let outcome = jail.add_failure(Failure::new(id("192.0.2.1"), 1000), 1000, &history(4, 10));
    assert_eq!(outcome, FailureOutcome::Counted { retry: 1 });
    let ban = new_ban(jail.ban(id("192.0.2.2"), 1000, &history(4, 10)));
    assert_eq!((ban.ban_time, ban.ban_count), (BanTime::Seconds(600), 1));
}

/// One step of a random failure stream.
#[derive(Debug, Clone)]
struct Step {
    advance: i64,
    who: u8,
    lag: i64,
    attempts: u32,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step =
        (0..40i64, 0..4u8, 0..8i64, 0..3u32).prop_map(|(advance, who, lag, attempts)| Step {
            advance,
            who,
            lag,
            attempts,
        });
    prop::collection::vec(step, 1..200)
}

/// Calls `expire` at every deadline up to `now`, checking each ban ends exactly at its end.
fn expire_until(
    jail: &mut Tracker,
    now: Timestamp,
    ends: &mut HashMap<FailId, Timestamp>,
) -> Result<(), TestCaseError> {
    while let Some(deadline) = jail.next_deadline().filter(|deadline| *deadline <= now) {
        for unban in jail.expire(deadline) {
            prop_assert_eq!(unban.cause, UnbanCause::Expired);
            prop_assert_eq!(unban.ban.end(), Some(deadline));
            prop_assert_eq!(ends.remove(&unban.ban.id), Some(deadline));
        }
    }
    for entry in jail.ban_list() {
        prop_assert!(
            entry.end.is_some_and(|end| end > now),
            "ban outlived its end: {:?}",
            entry
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn bans_are_bounded_by_failures_and_end_exactly_on_time(
        max_retry in 1..5u32,
        find_time in 1..200i64,
        ban_time in 1..300i64,
        steps in steps(),
    ) {
        let mut jail = tracker(max_retry, find_time, ban_time);
        let mut now = 10_000;
        let mut attempts_seen: HashMap<FailId, u64> = HashMap::new();
        let mut bans_made: HashMap<FailId, u64> = HashMap::new();
        let mut ends: HashMap<FailId, Timestamp> = HashMap::new();
        for step in steps {
            now += step.advance;
            expire_until(&mut jail, now, &mut ends)?;
            let who = FailId::parse(&format!("192.0.2.{}", step.who));
            let failure = Failure { attempts: step.attempts, ..Failure::new(who.clone(), now - step.lag) };
            // what the failure can add to the counter: its attempts when it opens a window
            *attempts_seen.entry(who.clone()).or_default() += u64::from(step.attempts.max(1));
            match jail.add_failure(failure, now, &NoHistory) {
                FailureOutcome::Ban(BanOutcome::Banned(ban)) => {
                    prop_assert!(!ends.contains_key(&who), "banned twice at once");
                    prop_assert!(ban.time <= now);
                    prop_assert_eq!(ban.end(), Some(ban.time + ban_time));
                    ends.insert(who.clone(), ban.time + ban_time);
                    *bans_made.entry(who.clone()).or_default() += 1;
                }
                FailureOutcome::Ban(BanOutcome::AlreadyBanned { prolonged, end, .. }) => {
                    let before = ends.get(&who).copied();
                    prop_assert!(before.is_some(), "already banned but not in the model");
                    if prolonged {
                        prop_assert!(end > before);
                    } else {
                        prop_assert_eq!(end, before);
                    }
                    ends.insert(who.clone(), end.unwrap_or(Timestamp::MAX));
                }
                FailureOutcome::Ban(BanOutcome::Expired { .. }) => {
                    prop_assert!(now - step.lag + ban_time <= now);
                }
                FailureOutcome::Counted { retry } => prop_assert!(retry < max_retry),
                FailureOutcome::Ignored(reason) => prop_assert!(false, "nothing is ignored: {:?}", reason),
            }
            for (who, bans) in &bans_made {
                let allowed = attempts_seen.get(who).copied().unwrap_or(0) / u64::from(max_retry);
                prop_assert!(*bans <= allowed, "{} bans from {} attempts", bans, allowed);
            }
            prop_assert_eq!(jail.status().currently_banned, ends.len());
        }
        expire_until(&mut jail, i64::MAX - 1, &mut ends)?;
        prop_assert!(ends.is_empty());
        prop_assert_eq!(jail.next_deadline(), None);
    }
}

#[test]
fn a_tracker_can_move_into_the_owning_task() {
    fn assert_send<T: Send>() {}
    assert_send::<Tracker>();
}

/// The windows a restart needs: those changed since the last save, closed ones as `None`;
/// put back, they count on where they stood.
#[test]
fn changed_windows_are_listed_once_and_restore_their_counts() {
    let mut jail = tracker(3, 600, 600);
    fail(&mut jail, "192.0.2.1", 1000);
    fail(&mut jail, "192.0.2.2", 1000);
    fail(&mut jail, "192.0.2.2", 1001);
    let mut changes: Vec<(FailId, Option<u32>)> = jail
        .take_window_changes()
        .into_iter()
        .map(|(id, window)| (id, window.map(|w| w.retry)))
        .collect();
    changes.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(
        changes,
        [(id("192.0.2.1"), Some(1)), (id("192.0.2.2"), Some(2))]
    );
    assert!(jail.take_window_changes().is_empty(), "listed once");
    banned(fail(&mut jail, "192.0.2.2", 1002));
    let closed: Vec<_> = jail
        .take_window_changes()
        .into_iter()
        .map(|(id, window)| (id, window.is_none()))
        .collect();
    assert_eq!(closed, [(id("192.0.2.2"), true)], "a ban closes its window");

    let saved = jail.failure_window(&id("192.0.2.1")).unwrap().clone();
    let mut restarted = tracker(3, 600, 600);
    restarted.restore_window(id("192.0.2.1"), saved.clone(), 1100);
    restarted.restore_window(id("192.0.2.9"), saved, 1600);
    assert!(
        restarted.failure_window(&id("192.0.2.9")).is_none(),
        "stale"
    );
    fail(&mut restarted, "192.0.2.1", 1101);
    banned(fail(&mut restarted, "192.0.2.1", 1102));
}

#[test]
fn past_max_windows_the_oldest_windows_are_dropped_and_counted() {
    let mut jail = Tracker::new(
        JailPolicy {
            max_windows: 10,
            ..policy(3, 600, 600)
        },
        IgnoreList::new(),
    );
    for second in 0..11 {
        let who = id(&format!("192.0.2.{second}"));
        jail.add_failure(Failure::new(who, 1000 + second), 1000 + second, &NoHistory);
    }
    assert_eq!(
        jail.take_dropped_windows(),
        2,
        "down to nine tenths of the cap"
    );
    assert_eq!(jail.take_dropped_windows(), 0);
    assert!(jail.failure_window(&id("192.0.2.0")).is_none());
    assert!(jail.failure_window(&id("192.0.2.1")).is_none());
    assert!(jail.failure_window(&id("192.0.2.2")).is_some());
    assert!(jail.failure_window(&id("192.0.2.10")).is_some());
    let closed: Vec<FailId> = jail
        .take_window_changes()
        .into_iter()
        .filter(|(_, window)| window.is_none())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(closed.len(), 2, "the store forgets them too");
}
