//! Behaviour against fail2ban 1.0.2's own results.
//!
//! The expectations in `REFERENCE` were produced by running fail2ban's Python
//! `DateDetector` (`matchTime` + `getTime`, group 1 span) with
//! `TZ=CET-01CEST-02,M3.5.0,M10.5.0` and `MyTime.setTime(now)`.

use crate::*;
use proptest::prelude::*;

const TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";
/// 2005-08-14 12:00 local time in `TZ`: the conformance "now".
const NOW: f64 = 1_124_013_600.0;

struct Case {
    pattern: Option<&'static str>,
    log_tz: Option<&'static str>,
    now: f64,
    line: &'static str,
    expected: Option<(usize, usize, DateOutcome, &'static str)>,
}

#[rustfmt::skip]
const REFERENCE: &[Case] = &[
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"2005-08-14 11:51:00 host x"#, expected: Some((0, 19, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"2005-08-14T11:51:00.123+02:00 host x"#, expected: Some((0, 29, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"2005/08/14 11:51:00 host x"#, expected: Some((0, 19, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug 14 11:51:00 host sshd[1]: x"#, expected: Some((0, 15, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Sun Aug 14 11:51:00.011 2005 x"#, expected: Some((0, 28, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug 14 2005 11:51:00 x"#, expected: Some((0, 20, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day ExYear %k:Minute:Second(?:\.Microseconds)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"14/08/2005 11:51:00 x"#, expected: Some((0, 19, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Day(?P<_sep>[-/])Month(?P=_sep)(?:ExYear|ExYear2) %k:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"14-08-05 11:51:00 x"#, expected: Some((0, 17, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Day(?P<_sep>[-/])Month(?P=_sep)(?:ExYear|ExYear2) %k:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"192.0.2.1 - - [14/Aug/2005:11:51:00 +0200] "GET / HTTP/1.1" 404"#, expected: Some((15, 41, DateOutcome::Time(1124013060.0), r#"Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"14-Aug-2005 11:51:00.252 named x"#, expected: Some((0, 24, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"08/14/2005:11:51:00 x"#, expected: Some((0, 19, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Month/Day/ExYear:24hour:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"08-14-2005 11:51:00.252 x"#, expected: Some((0, 23, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Month-Day-ExYear %k:Minute:Second(?:\.Microseconds)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"1124013060 x"#, expected: Some((0, 10, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Epoch"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"[1124013060.123] x"#, expected: Some((1, 15, DateOutcome::Time(1124013060.123), r#"{^LN-BEG}Epoch"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"type=AVC msg=audit(1124013060.123:111): x"#, expected: Some((19, 33, DateOutcome::Time(1124013060.123), r#"Epoch"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"11:51:00 x"#, expected: Some((0, 8, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}24hour:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"12:30:00 x"#, expected: Some((0, 8, DateOutcome::Time(1123929000.0), r#"{^LN-BEG}24hour:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"<08/14/05@11:51:00> x"#, expected: Some((0, 19, DateOutcome::Time(1124013060.0), r#"^<Month/Day/ExYear2@24hour:Minute:Second>"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"050814 11:51:00 x"#, expected: Some((0, 15, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}ExYear2ExMonthExDay  ?24hour:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug 14, 2005 11:51:00 PM x"#, expected: Some((0, 24, DateOutcome::Time(1124056260.0), r#"{^LN-BEG}MON Day, ExYear 12hour:Minute:Second AMPM"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug-14-05 11:51:00 x"#, expected: Some((0, 18, DateOutcome::Time(1124013060.0), r#"^MON-Day-ExYear2 %k:Minute:Second"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"20050814T115100 x"#, expected: Some((0, 15, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}ExYearExMonthExDay(?:T|  ?)Ex24hourExMinuteExSecond(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"20050814 115100Z x"#, expected: Some((0, 16, DateOutcome::Time(1124020260.0), r#"{^LN-BEG}ExYearExMonthExDay(?:T|  ?)Ex24hourExMinuteExSecond(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"PDT Aug 14 11:51:00 x"#, expected: Some((0, 19, DateOutcome::Time(1124045460.0), r#"{^LN-BEG}(?:Zone name )?(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"+0200 Aug 14 11:51:00 x"#, expected: Some((0, 21, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:Zone offset )?(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"@4000000042ff2df40d2c8f14 x"#, expected: Some((0, 25, DateOutcome::Time(1124019700.0), r#"{^LN-BEG}TAI64N"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"host x: at Aug 14 11:51:00 foo"#, expected: Some((11, 26, DateOutcome::Time(1124013060.0), r#"(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug 15 11:51:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1124099460.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Aug 15 12:01:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1092564060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1136071800.0, line: r#"Dec 31 23:59:59 host x"#, expected: Some((0, 15, DateOutcome::Time(1136069999.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1136071800.0, line: r#"Jan  1 00:10:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1136070600.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Feb 29 11:51:00 host x"#, expected: Some((0, 15, DateOutcome::Invalid, r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Oct 30 02:30:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1099096200.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Mar 27 02:30:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1111887000.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: None, now: 1124013600.0, line: r#"Feb 30 11:51:00 host x"#, expected: Some((0, 15, DateOutcome::Invalid, r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: Some(r#"UTC"#), now: 1124013600.0, line: r#"Aug 14 11:51:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1124020260.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: Some(r#"UTC+0200"#), now: 1124013600.0, line: r#"Aug 14 11:51:00 host x"#, expected: Some((0, 15, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: None, log_tz: Some(r#"UTC-06"#), now: 1124013600.0, line: r#"2005-08-14 11:51:00 host x"#, expected: Some((0, 19, DateOutcome::Time(1124041860.0), r#"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: Some(r#"CET"#), now: 1124013600.0, line: r#"2005-08-14 11:51:00+0000 host x"#, expected: Some((0, 24, DateOutcome::Time(1124020260.0), r#"{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: None, log_tz: Some(r#"UTC"#), now: 1124013600.0, line: r#"12:30:00 x"#, expected: Some((0, 8, DateOutcome::Time(1123936200.0), r#"{^LN-BEG}24hour:Minute:Second"#)) },
    Case { pattern: Some(r#"%d/%m/%Y %H:%M:%S"#), log_tz: None, now: 1124013600.0, line: r#"x 14/08/2005 11:51:00 y"#, expected: Some((2, 21, DateOutcome::Time(1124013060.0), r#"Day/Month/Year 24hour:Minute:Second"#)) },
    Case { pattern: Some(r#"^%d/%m/%Y"#), log_tz: None, now: 1124013600.0, line: r#"14/08/2005 y"#, expected: Some((0, 10, DateOutcome::Time(1123970400.0), r#"^Day/Month/Year"#)) },
    Case { pattern: Some(r#"%Y-%m-%d %H:%M:%S %z"#), log_tz: None, now: 1124013600.0, line: r#"2005-08-14 11:51:00 +0530 y"#, expected: Some((0, 25, DateOutcome::Time(1124000460.0), r#"Year-Month-Day 24hour:Minute:Second Zone offset"#)) },
    Case { pattern: Some(r#"%b %d %H:%M:%S %Z"#), log_tz: None, now: 1124013600.0, line: r#"Aug 14 11:51:00 EST y"#, expected: Some((0, 19, DateOutcome::Time(1124038260.0), r#"MON Day 24hour:Minute:Second Zone name"#)) },
    Case { pattern: Some(r#"%b %d %H:%M:%S %Z"#), log_tz: None, now: 1124013600.0, line: r#"Aug 14 11:51:00 ABC y"#, expected: Some((0, 19, DateOutcome::Error, r#"MON Day 24hour:Minute:Second Zone name"#)) },
    Case { pattern: Some(r#"%y%j %H:%M:%S"#), log_tz: None, now: 1124013600.0, line: r#"05226 11:51:00 y"#, expected: Some((0, 14, DateOutcome::Time(1124013060.0), r#"Year2Yearday 24hour:Minute:Second"#)) },
    Case { pattern: Some(r#"%A %B %d %I:%M %p %Y"#), log_tz: None, now: 1124013600.0, line: r#"Sunday August 14 11:51 pm 2005 y"#, expected: Some((0, 30, DateOutcome::Time(1124056260.0), r#"DAYNAME MONTH Day 12hour:Minute AMPM Year"#)) },
    Case { pattern: Some(r#"%d.%m.%Y %Exk:%M"#), log_tz: None, now: 1124013600.0, line: r#"14.08.2005  9:51 y"#, expected: Some((0, 16, DateOutcome::Time(1124005860.0), r#"Day.Month.Year %Exk:Minute"#)) },
    Case { pattern: Some(r#"EPOCH"#), log_tz: None, now: 1124013600.0, line: r#"1124013060.5 y"#, expected: Some((0, 10, DateOutcome::Time(1124013060.0), r#"Epoch"#)) },
    Case { pattern: Some(r#"LEPOCH"#), log_tz: None, now: 1124013600.0, line: r#"1124013060500 y"#, expected: Some((0, 13, DateOutcome::Time(1124013060.5), r#"LongEpoch"#)) },
    Case { pattern: Some(r#"LEPOCH"#), log_tz: None, now: 1124013600.0, line: r#"1124013060500123 y"#, expected: Some((0, 16, DateOutcome::Time(1124013060.500123), r#"LongEpoch"#)) },
    Case { pattern: Some(r#"^\[{LEPOCH}\]"#), log_tz: None, now: 1124013600.0, line: r#"[1124013060500] y"#, expected: Some((0, 15, DateOutcome::Time(1124013060.5), r#"^\[{LEPOCH}\]"#)) },
    Case { pattern: Some(r#"TAI64N"#), log_tz: None, now: 1124013600.0, line: r#"x @4000000042ff2df40d2c8f14 y"#, expected: Some((2, 27, DateOutcome::Time(1124019700.0), r#"TAI64N"#)) },
    Case { pattern: Some(r#"{^LN-BEG}TAI64N"#), log_tz: None, now: 1124013600.0, line: r#"@4000000042ff2df40d2c8f14 y"#, expected: Some((0, 25, DateOutcome::Time(1124019700.0), r#"{^LN-BEG}TAI64N"#)) },
    Case { pattern: Some(r#"ISO8601"#), log_tz: None, now: 1124013600.0, line: r#"x ISO8601 y"#, expected: Some((2, 9, DateOutcome::Time(1123970400.0), r#"ISO8601"#)) },
    Case { pattern: Some(r#"{NONE}"#), log_tz: None, now: 1124013600.0, line: r#"x 2005-08-14 11:51:00 y"#, expected: Some((0, 0, DateOutcome::Empty, r#"^"#)) },
    Case { pattern: Some(r#"^[^\[]*\[({DATE})
{^LN-BEG}"#), log_tz: None, now: 1124013600.0, line: r#"192.0.2.1 - - [14/Aug/2005:11:51:00 +0200] "GET""#, expected: Some((15, 41, DateOutcome::Time(1124013060.0), r#"^[^\[]*\[(Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?)"#)) },
    Case { pattern: Some(r#"^[^\[]*\[({DATE})
{^LN-BEG}"#), log_tz: None, now: 1124013600.0, line: r#"Aug 14 11:51:00 host"#, expected: Some((0, 15, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: Some(r#"^{DATE}"#), log_tz: None, now: 1124013600.0, line: r#"1124013060 host"#, expected: Some((0, 10, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}Epoch"#)) },
    Case { pattern: Some(r#"^{DATE}"#), log_tz: None, now: 1124013600.0, line: r#"2005-08-14 11:51:00,123 fail2ban.actions: x"#, expected: Some((0, 23, DateOutcome::Time(1124013060.0), r#"^ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"#)) },
    Case { pattern: Some(r#"^WARNING:()**
{^LN-BEG}"#), log_tz: None, now: 1124013600.0, line: r#"WARNING: foo"#, expected: Some((8, 8, DateOutcome::Empty, r#"^WARNING:()**"#)) },
    Case { pattern: Some(r#"{^LN-BEG}"#), log_tz: None, now: 1124013600.0, line: r#"host Aug 14 11:51:00 foo"#, expected: Some((0, 20, DateOutcome::Invalid, r#"{^LN-BEG}(?:Zone name )?(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: Some(r#"{^LN-BEG}"#), log_tz: None, now: 1124013600.0, line: r#"  Aug 14 11:51:00 foo"#, expected: Some((2, 17, DateOutcome::Time(1124013060.0), r#"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"#)) },
    Case { pattern: Some(r#"%H:%M:%S"#), log_tz: None, now: 1124013600.0, line: r#"x 99:51:00 y"#, expected: None },
    Case { pattern: Some(r#"%m/%d"#), log_tz: None, now: 1124013600.0, line: r#"x 13/99 y"#, expected: None },
    Case { pattern: Some(r#"%d %H:%M"#), log_tz: None, now: 1124013600.0, line: r#"x 14 11:51 y"#, expected: Some((2, 10, DateOutcome::Error, r#"Day 24hour:Minute"#)) },
];

fn detector_for(pattern: Option<&str>) -> DateDetector {
    match pattern {
        None => DateDetector::new_default(),
        Some(pattern) => DateDetector::from_pattern(pattern).unwrap(),
    }
}

#[test]
fn each_case_matches_fail2ban() {
    let mut failures = Vec::new();
    for case in REFERENCE {
        let mut detector = detector_for(case.pattern);
        detector.set_default_tz(case.log_tz).unwrap();
        let ctx = TimeContext::from_tz_env(case.now, Some(TZ));
        let found = detector.find_date(case.line, &ctx);
        let got = found.map(|f| {
            (
                f.start,
                f.end,
                f.outcome,
                detector.templates()[f.template].name.clone(),
            )
        });
        let expected = case.expected.map(|(s, e, o, n)| (s, e, o, n.to_string()));
        if got != expected {
            failures.push(format!(
                "{:?} {:?}: got {got:?}, want {expected:?}",
                case.pattern, case.line
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One detector across both DST switches: the per-hour offset cache must not leak across
/// the repeated (October) or skipped (March) hour. Expectations from fail2ban.
#[test]
fn dst_switches_in_sequence_match_fail2ban() {
    let expected = [
        ("2005-10-30 01:59:59 h", 1130633999.0),
        ("2005-10-30 02:00:00 h", 1130634000.0),
        ("2005-10-30 02:30:00 h", 1130635800.0),
        ("2005-10-30 02:59:59 h", 1130637599.0),
        ("2005-10-30 03:00:00 h", 1130637600.0),
        ("2005-10-30 01:30:00 h", 1130632200.0),
        ("2005-10-30 02:10:00 h", 1130634600.0),
        ("2005-03-27 01:59:59 h", 1111885199.0),
        ("2005-03-27 02:30:00 h", 1111887000.0),
        ("2005-03-27 03:00:00 h", 1111885200.0),
        ("2005-03-27 02:00:00 h", 1111885200.0),
        ("2005-03-27 02:59:00 h", 1111888740.0),
        ("2005-03-27 01:00:00 h", 1111881600.0),
    ];
    let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
    let mut detector = DateDetector::new_default();
    for (line, want) in expected {
        assert_eq!(
            detector.match_time(line, &ctx).map(|m| m.timestamp),
            Some(want),
            "{line}"
        );
    }
}

#[test]
fn match_time_reports_only_times() {
    let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
    let mut detector = DateDetector::new_default();
    let found = detector
        .match_time("Aug 14 11:51:00 host sshd[1]: x", &ctx)
        .unwrap();
    assert_eq!(
        (found.start, found.end, found.timestamp),
        (0, 15, 1_124_013_060.0)
    );
    assert!(
        detector
            .match_time("Feb 30 11:51:00 host x", &ctx)
            .is_none()
    );
    assert!(detector.match_time("no date here", &ctx).is_none());
}

#[test]
fn last_template_moves_up_and_counts_hits() {
    let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
    let mut detector = DateDetector::new_default();
    let line = "host x: at Aug 14 11:51:00 foo";
    for _ in 0..3 {
        let found = detector.match_time(line, &ctx).unwrap();
        assert_eq!((found.start, found.end), (11, 26));
    }
    let templates = detector.templates();
    let used: Vec<_> = templates
        .iter()
        .filter(|t| t.hits > 0)
        .map(|t| (t.name.as_str(), t.hits))
        .collect();
    assert_eq!(
        used,
        [(
            "(?:DAY )?MON Day %k:Minute:Second(?:\\.Microseconds)?(?: ExYear)?",
            3
        )]
    );
    // fail2ban moves the winner to the first unused place: the front.
    assert_eq!(templates[0].hits, 3);
}

#[test]
fn default_template_names_and_order_match_fail2ban() {
    let names: Vec<String> = DateDetector::new_default()
        .templates()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names.len(), 31);
    assert_eq!(
        names[1],
        "{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\\.Microseconds)?(?: ExYear)?"
    );
    assert_eq!(names[7], "{^LN-BEG}Epoch");
    assert_eq!(names[13], "{^LN-BEG}TAI64N");
    assert_eq!(names[21], "Epoch");
    assert_eq!(names[22], "{^LN-BEG}24hour:Minute:Second");
    assert_eq!(names[23], "^<Month/Day/ExYear2@24hour:Minute:Second>");
    assert_eq!(names[26], "^MON-Day-ExYear2 %k:Minute:Second");
    assert_eq!(names[30], "TAI64N");
}

#[test]
fn line_begin_pattern_keeps_only_anchored_defaults() {
    let detector = DateDetector::from_pattern("{^LN-BEG}").unwrap();
    assert_eq!(detector.templates().len(), 17);
    assert_eq!(detector.description(), "Default Detectors");
    let detector = DateDetector::from_pattern("^%m/%d/%Y %H:%M:%S").unwrap();
    assert_eq!(
        detector.description(),
        "^Month/Day/Year 24hour:Minute:Second"
    );
}

/// fail2ban's shared template cache: `{^LN-BEG}Epoch` is the anchored default object (weight
/// 100) only once `{^LN-BEG}` has built the defaults; this decides template reordering.
#[test]
fn anchored_default_weight_needs_the_default_cache() {
    let weights = |pattern: &str| -> Vec<f64> {
        let detector = DateDetector::from_pattern(pattern).unwrap();
        detector
            .templates()
            .iter()
            .map(|t| t.template_weight)
            .take(2)
            .collect()
    };
    assert_eq!(weights("{^LN-BEG}Epoch\n{^LN-BEG}"), [100.0, 100.0]);
    assert_eq!(weights("{^LN-BEG}Epoch\n%H:%M:%S"), [1.0, 1.0]);
}

#[test]
fn none_pattern_is_flagged() {
    assert!(DateDetector::from_pattern("{NONE}").unwrap().is_none());
    assert!(!DateDetector::new_default().is_none());
}

#[test]
fn invalid_patterns_and_zones_are_errors() {
    assert!(DateDetector::from_pattern("%Q").is_err());
    assert!(DateDetector::from_pattern("(?<=x)%H").is_err());
    assert!(DateDetector::from_pattern("%H:%M\n%H:%M").is_err());
    let mut detector = DateDetector::new_default();
    assert!(detector.set_default_tz(Some("Europe/Berlin")).is_err());
    assert!(detector.set_default_tz(Some("ABC")).is_err());
    assert!(detector.set_default_tz(Some("UTC+0200")).is_ok());
    assert_eq!(parse_log_time_zone("UTC-06").unwrap(), -360);
}

#[test]
fn empty_pattern_means_defaults() {
    assert_eq!(
        DateDetector::from_pattern("\n \n")
            .unwrap()
            .templates()
            .len(),
        31
    );
}

#[test]
fn hostile_lines_do_not_panic() {
    let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
    let mut detector = DateDetector::new_default();
    let big = "Aug 14 11:51:00 ".repeat(70_000);
    assert!(detector.match_time(&big, &ctx).is_some());
    let digits = "9".repeat(1 << 20);
    let _ = detector.find_date(&digits, &ctx);
    for line in [
        "\0\0\0 Aug 14 11:51:00",
        "Aug 99 11:51:00 x",
        "2005-13-14 11:51:00",
        "2005-02-31 25:61:61",
        "é Aug 14 11:51:00 ü",
        "ﬀ Aug 14 11:51:00",
        "",
        "[",
        "audit(",
        "audit(1124013060",
        "@4000000042ff2df40d2c8f1",
        "\u{202e}Aug 14 11:51:00",
    ] {
        let _ = detector.find_date(line, &ctx);
    }
    let mut custom = DateDetector::from_pattern("(?P<Y>\\d+)-%m-%d").unwrap();
    let huge_year = format!("{}-08-14", "9".repeat(5000));
    assert_eq!(
        custom.find_date(&huge_year, &ctx).map(|f| f.outcome),
        Some(DateOutcome::Error)
    );
}

#[test]
fn from_tz_env_understands_tz_values() {
    let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
    assert_eq!(
        ctx.tz
            .to_offset(jiff::Timestamp::from_second(1_124_013_600).unwrap())
            .seconds(),
        7200
    );
    let ctx = TimeContext::from_tz_env(NOW, Some(""));
    assert_eq!(
        ctx.tz
            .to_offset(jiff::Timestamp::from_second(0).unwrap())
            .seconds(),
        0
    );
}

proptest! {
    #[test]
    fn random_lines_never_panic(line in ".{0,200}") {
        let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
        let mut detector = DateDetector::new_default();
        let _ = detector.find_date(&line, &ctx);
        let _ = detector.find_date(&line, &ctx);
    }

    #[test]
    fn date_like_lines_never_panic(line in "[A-Za-z0-9 :/.,+\\-\\[\\]@()]{0,60}") {
        let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
        let mut detector = DateDetector::new_default();
        if let Some(found) = detector.find_date(&line, &ctx) {
            prop_assert!(found.start <= found.end && found.end <= line.len());
        }
    }

    #[test]
    fn random_patterns_never_panic(pattern in ".{0,40}", line in ".{0,60}") {
        let ctx = TimeContext::from_tz_env(NOW, Some(TZ));
        if let Ok(mut detector) = DateDetector::from_pattern(&pattern) {
            let _ = detector.find_date(&line, &ctx);
        }
    }
}

mod corpus;
