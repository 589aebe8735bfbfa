//! The tracker against fail2ban itself: random failure streams run through fail2ban
//! 1.0.2's `FailManager` and `BanManager` (cleanup and unban checked before every failure)
//! and through a [`Tracker`] must give the same counters, bans, prolongs and unbans; and
//! `bantime.increment` formulas must give what `Jail.setBanTimeExtra` builds.
//!
//! Needs python3 and the fail2ban tree in `FERROBAN_F2B_DIR` (default: the repository's `.cache/fail2ban`, from `scripts/fetch-fail2ban`);
//! skips with a message when either is missing.

use std::process::Command;

use super::*;
use crate::{BanTimeIncrement, IncrementFormula, NoHistory};

/// Python driver: prints `jail MAXRETRY FINDTIME BANTIME` per stream, then one
/// `NOW WHO LAG ATTEMPTS|UNBANNED|RESULT|CURRENTLY_FAILED` line per failure.
///
/// fail2ban unbans at `now > end` on a float clock; asking it at `now + 0.5` is the
/// instant our whole-second `now >= end` stands for.
const STREAMS: &str = r#"
import random, sys
from fail2ban.server.failmanager import FailManager
from fail2ban.server.banmanager import BanManager
from fail2ban.server.ticket import FailTicket, BanTicket
from fail2ban.server.mytime import MyTime

def end(ticket, bantime):
    return -1 if ticket.getBanTime(bantime) == -1 else int(ticket.getEndOfBanTime(bantime))

def stream(seed):
    rnd = random.Random(seed)
    maxretry, findtime = rnd.randint(1, 5), rnd.randint(1, 300)
    bantime = rnd.choice([rnd.randint(1, 400), -1])
    fm = FailManager(); fm.setMaxRetry(maxretry); fm.setMaxTime(findtime); fm.maxMatches = maxretry
    bm = BanManager(); bm.setBanTime(bantime)
    print("jail", maxretry, findtime, bantime)
    now = 10000
    for _ in range(rnd.randint(1, 300)):
        now += rnd.randint(0, 60)
        who = "192.0.2.%d" % rnd.randint(0, 3)
        lag = rnd.choice([0, 0, 0, rnd.randint(0, 500)])
        attempts = rnd.choice([0, 0, 0, 1, 2, 3])
        fm.cleanup(now)
        MyTime.setTime(now + 0.5)
        unbanned = " ".join(sorted(str(t.getID()) for t in bm.unBanList(now + 0.5)))
        ticket = FailTicket(who, now - lag, data={"failures": attempts} if attempts else {})
        retry = fm.addFailure(ticket)
        if retry < maxretry:
            result = "counted %d" % retry
        else:
            ticket = BanTicket.wrap(fm.toBan(who))
            reason = {}
            if bm.addBanTicket(ticket, reason):
                result = "banned %d %d %d" % (ticket.getTime(), end(ticket, bantime), ticket.getAttempt())
            elif reason.get("expired"):
                result = "expired"
            else:
                result = "already %d %d" % (reason.get("prolong", 0), end(reason["ticket"], bantime))
        print("%d %s %d %d|%s|%s|%d" % (now, who, lag, attempts, unbanned, result, fm.size()))

for seed in range(int(sys.argv[1])):
    stream(seed)
"#;

/// Python driver: prints `FACTOR MULTIPLIERS MAXTIME BASE COUNT|SECONDS` per case.
const FORMULAS: &str = r#"
import logging
logging.disable(logging.CRITICAL)
from fail2ban.server.jail import Jail
from fail2ban.server.observer import ObserverThread
cases = [("1", "", ""), ("0.25", "", ""), ("3", "", ""), ("1", "1 5 30 60", ""),
         ("2", "1 2 10", ""), ("1", "", "1000"), ("1.5", "", "86400"), ("2", "1 3", "500")]
for n, (factor, multipliers, maxtime) in enumerate(cases):
    jail = Jail("formula%d" % n, backend="polling")
    jail.setBanTimeExtra("increment", "true")
    for key, value in (("factor", factor), ("multipliers", multipliers), ("maxtime", maxtime)):
        if value:
            jail.setBanTimeExtra(key, value)
    formula = jail.getBanTimeExtra("evformula")
    for base in (60, 600, 3600):
        for count in range(0, 24):
            seconds = formula(ObserverThread.BanTimeIncr(base, count))
            print("%s|%s|%s|%d|%d|%d" % (factor, multipliers, maxtime, base, count, int(seconds)))
"#;

/// Runs a driver with fail2ban on the path; `None` (after saying why) when it cannot.
fn run_reference(script: &str, argument: &str) -> Option<String> {
    let packages = ferroban_testdata::python_packages()?;
    let output = Command::new("python3")
        .args(["-c", script, argument])
        .env("PYTHONPATH", &packages)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(output) => panic!(
            "reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => {
            println!("skipped: cannot run python3: {error}");
            None
        }
    }
}

fn jail_from(header: &str) -> Tracker {
    let numbers: Vec<i64> = header
        .split(' ')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let max_retry = u32::try_from(numbers[0]).unwrap();
    let policy = JailPolicy {
        max_retry,
        find_time: numbers[1],
        ban_time: BanTime::from_seconds(numbers[2]),
        max_matches: max_retry as usize,
        increment: None,
        max_windows: crate::DEFAULT_MAX_WINDOWS,
    };
    Tracker::new(policy, IgnoreList::new())
}

fn describe(outcome: FailureOutcome) -> String {
    let end = |end: Option<Timestamp>| end.unwrap_or(-1);
    match outcome {
        FailureOutcome::Counted { retry } => format!("counted {retry}"),
        FailureOutcome::Ban(BanOutcome::Banned(ban)) => {
            format!("banned {} {} {}", ban.time, end(ban.end()), ban.failures)
        }
        FailureOutcome::Ban(BanOutcome::Expired { .. }) => "expired".into(),
        FailureOutcome::Ban(BanOutcome::AlreadyBanned {
            prolonged,
            end: ban_end,
            ..
        }) => {
            format!("already {} {}", u8::from(prolonged), end(ban_end))
        }
        FailureOutcome::Ignored(reason) => format!("ignored {reason:?}"),
    }
}

/// Feeds one reference line to `jail` and describes it the way the driver does.
fn replay(jail: &mut Tracker, line: &str) -> String {
    let fields: Vec<&str> = line.split(' ').collect();
    let now: Timestamp = fields[0].parse().unwrap();
    let lag: Timestamp = fields[2].parse().unwrap();
    let mut unbanned: Vec<String> = jail
        .expire(now)
        .into_iter()
        .map(|u| u.ban.id.to_string())
        .collect();
    unbanned.sort();
    let failure = Failure {
        attempts: fields[3].parse().unwrap(),
        ..Failure::new(FailId::parse(fields[1]), now - lag)
    };
    let result = describe(jail.add_failure(failure, now, &NoHistory));
    format!(
        "{}|{}|{}",
        unbanned.join(" "),
        result,
        jail.status().currently_failed
    )
}

#[test]
fn failure_streams_match_fail2ban() {
    let Some(reference) = run_reference(STREAMS, "200") else {
        return;
    };
    let mut jail = None;
    let mut lines = 0;
    for line in reference.lines() {
        if line.starts_with("jail ") {
            jail = Some(jail_from(line));
            continue;
        }
        let (input, expected) = line.split_once('|').unwrap();
        let got = replay(jail.as_mut().unwrap(), input);
        assert_eq!(got, expected, "after `{input}` in the stream of {:?}", jail);
        lines += 1;
    }
    assert!(lines > 1000, "only {lines} failures compared");
}

#[test]
fn increment_formulas_match_fail2ban() {
    let Some(reference) = run_reference(FORMULAS, "") else {
        return;
    };
    let mut compared = 0;
    for line in reference.lines() {
        compared += 1;
        let fields: Vec<&str> = line.split('|').collect();
        let multipliers: Vec<i64> = fields[1]
            .split_whitespace()
            .map(|m| m.parse().unwrap())
            .collect();
        let increment = BanTimeIncrement {
            formula: if multipliers.is_empty() {
                IncrementFormula::Default
            } else {
                IncrementFormula::Multipliers(multipliers)
            },
            factor: fields[0].parse().unwrap(),
            max_time: fields[2].parse().ok(),
            ..BanTimeIncrement::default()
        };
        let (base, count): (i64, u32) = (fields[3].parse().unwrap(), fields[4].parse().unwrap());
        let expected: i64 = fields[5].parse().unwrap();
        assert_eq!(increment.ban_time(base, count, 0.0), expected, "{line}");
    }
    assert_eq!(compared, 8 * 3 * 24);
}
