use super::*;
use crate::IdKind;

fn filter_of(failregex: &[&str]) -> Filter {
    filter(failregex)
}

fn filter(failregex: &[&str]) -> Filter {
    build(FilterDefinition {
        failregex: failregex.iter().map(|s| s.to_string()).collect(),
        ..FilterDefinition::default()
    })
}

fn build(definition: FilterDefinition) -> Filter {
    let mut filter = Filter::new(&definition).unwrap();
    filter.set_options(FilterOptions::regex_tool());
    filter
}

fn ids(result: &LineResult) -> Vec<Option<&str>> {
    result.failures.iter().map(|f| f.id.as_deref()).collect()
}

const NOW: f64 = 1_700_000_000.0;

#[test]
fn seed_dovecot_filter_takes_the_old_host_group() {
    // shared/seed-example/filter.d/dovecot.conf, written for fail2ban 0.8.
    let mut filter = filter(&[
        r"(?: pop3-login|imap-login): .*(?:Authentication failure|Aborted login \(auth failed|Aborted login \(tried to use disabled|Disconnected \(auth failed|Aborted login \(\d+ authentication attempts).*rip=(?P<host>\S*),.*",
    ]);
    let lines = [
        "mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<Lk3QsmAA0sLAqAEK>",
        "mail dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<info>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, session=<Yz1QsmAA0sLAqAEK>",
    ];
    for line in lines {
        let result = filter.process_line_with_time(line, NOW);
        assert_eq!(result.outcome(), Outcome::Matched, "{line}");
        let failure = &result.failures[0];
        assert_eq!(failure.id.as_deref(), Some("203.0.113.9"));
        assert_eq!(failure.id_kind, IdKind::Ip);
        assert_eq!(failure.host.as_deref(), Some("203.0.113.9"));
        assert_eq!(failure.time, Some(NOW));
        assert_eq!(failure.matches, vec![line.to_string()]);
    }
    let postfix = "mail postfix/smtpd[23488]: warning: unknown[198.51.100.7]: SASL PLAIN authentication failed: x";
    assert_eq!(
        filter.process_line_with_time(postfix, NOW).outcome(),
        Outcome::Missed
    );
    assert_eq!(filter.failregex_hits(), &[2]);
}

#[test]
fn host_tag_takes_ipv4_ipv6_and_names() {
    let mut filter = filter(&[r"^fail from <HOST>$"]);
    let ip6 = filter.process_line_with_time("fail from 2001:DB8::1", NOW);
    assert_eq!(ids(&ip6), vec![Some("2001:db8::1")]);
    assert_eq!(
        ip6.failures[0].groups.get("ip6").map(String::as_str),
        Some("2001:DB8::1")
    );
    let mapped = filter.process_line_with_time("fail from ::ffff:192.0.2.4", NOW);
    assert_eq!(ids(&mapped), vec![Some("192.0.2.4")]);
    let name = filter.process_line_with_time("fail from host.example.org", NOW);
    assert_eq!(name.failures[0].id_kind, IdKind::Dns);
    assert_eq!(ids(&name), vec![Some("host.example.org")]);
}

#[test]
fn usedns_no_narrows_host_to_addresses() {
    let mut filter = build(FilterDefinition {
        failregex: vec![r"^fail from <HOST>$".into()],
        usedns: Some("no".into()),
        ..FilterDefinition::default()
    });
    assert_eq!(
        filter
            .process_line_with_time("fail from host.example.org", NOW)
            .outcome(),
        Outcome::Missed
    );
    assert_eq!(
        filter
            .process_line_with_time("fail from [192.0.2.1]", NOW)
            .outcome(),
        Outcome::Matched
    );
}

#[test]
fn usedns_raw_keeps_names_as_ids() {
    let mut filter = build(FilterDefinition {
        failregex: vec![r"^fail from <HOST>$".into()],
        usedns: Some("raw".into()),
        ..FilterDefinition::default()
    });
    let result = filter.process_line_with_time("fail from host.example.org", NOW);
    assert_eq!(result.failures[0].id_kind, IdKind::Raw);
}

#[test]
fn addr_subnet_cidr_tags() {
    let mut filter = filter(&[r"^net <SUBNET>$", r"^addr <ADDR>/<CIDR> x$"]);
    let subnet = filter.process_line_with_time("net 192.0.2.77/24", NOW);
    assert_eq!(ids(&subnet), vec![Some("192.0.2.0/24")]);
    assert_eq!(subnet.failures[0].cidr, Some(24));
    let plain = filter.process_line_with_time("net [2001:db8::5]", NOW);
    assert_eq!(ids(&plain), vec![Some("2001:db8::5")]);
    let addr = filter.process_line_with_time("addr 2001:db8::5/64 x", NOW);
    assert_eq!(ids(&addr), vec![Some("2001:db8::/64")]);
}

#[test]
fn ip4_ip6_dns_tags_separately() {
    let mut filter = filter(&[r"^a <IP4>$", r"^b <IP6>$", r"^c <DNS>$"]);
    assert_eq!(
        ids(&filter.process_line_with_time("a 192.0.2.1", NOW)),
        vec![Some("192.0.2.1")]
    );
    assert_eq!(
        ids(&filter.process_line_with_time("b ::1", NOW)),
        vec![Some("::1")]
    );
    assert_eq!(
        filter.process_line_with_time("c example.com", NOW).failures[0].id_kind,
        IdKind::Dns
    );
    assert_eq!(
        filter
            .process_line_with_time("a example.com", NOW)
            .outcome(),
        Outcome::Missed
    );
}

#[test]
fn user_id_port_and_custom_groups() {
    let mut filter = filter(&[
        r"^login <F-USER>\S+</F-USER> session <F-ID/> port <F-PORT/> from <ADDR> <F-ERROR>.+</F-ERROR>$",
    ]);
    let result = filter.process_line_with_time(
        "login bob session s42 port ssh from 192.0.2.9 bad password",
        NOW,
    );
    let failure = &result.failures[0];
    // An F-ID different from the address is the id; the address goes to `ip`.
    assert_eq!(failure.id.as_deref(), Some("s42"));
    assert_eq!(failure.id_kind, IdKind::Raw);
    assert_eq!(failure.ip.as_deref(), Some("192.0.2.9"));
    let group = |name: &str| failure.groups.get(name).map(String::as_str);
    assert_eq!(group("user"), Some("bob"));
    assert_eq!(group("fid"), Some("s42"));
    assert_eq!(group("fport"), Some("ssh"));
    assert_eq!(group("error"), Some("bad password"));
}

#[test]
fn f_id_alone_is_the_failure_id() {
    let mut filter = filter(&[r"^token <F-ID>\w+</F-ID> rejected$"]);
    let result = filter.process_line_with_time("token abc rejected", NOW);
    assert_eq!(ids(&result), vec![Some("abc")]);
}

#[test]
fn alt_groups_fill_an_empty_main_group() {
    let mut filter = filter(&[
        r"^ruser=<F-ALT_USER>\S*</F-ALT_USER> rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?$",
    ]);
    let alt = filter.process_line_with_time("ruser=alice rhost=192.0.2.1", NOW);
    assert_eq!(
        alt.failures[0].groups.get("user").map(String::as_str),
        Some("alice")
    );
    let main = filter.process_line_with_time("ruser=alice rhost=192.0.2.1 user=bob", NOW);
    assert_eq!(
        main.failures[0].groups.get("user").map(String::as_str),
        Some("bob")
    );
}

#[test]
fn tuple_groups_combine_into_the_id() {
    let mut filter = filter(&[r"^x <F-ID>\w+</F-ID> <F-TUPLE_ID>\w+</F-TUPLE_ID>$"]);
    let result = filter.process_line_with_time("x a b", NOW);
    assert_eq!(ids(&result), vec![Some("('a', 'b')")]);
}

#[test]
fn failregex_without_failure_id_is_refused() {
    let error = Filter::new(&FilterDefinition {
        failregex: vec![r"^<HOST> ok".into(), r"^no id here$".into()],
        ..FilterDefinition::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            error,
            FilterError::NoFailureId {
                regex: RegexKind::Failregex(1),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn compile_error_names_the_regex_and_pattern() {
    let error = Filter::new(&FilterDefinition {
        failregex: vec![r"^<HOST>".into()],
        ignoreregex: vec![r"(unclosed".into()],
        ..FilterDefinition::default()
    })
    .unwrap_err();
    let FilterError::Regex {
        regex,
        pattern,
        message,
    } = &error
    else {
        panic!("unexpected {error:?}");
    };
    assert_eq!(*regex, RegexKind::Ignoreregex(0));
    assert_eq!(pattern, "(unclosed");
    assert!(!message.is_empty());
    assert!(error.to_string().starts_with("ignoreregex #0:"));
    let empty = Filter::new(&FilterDefinition {
        failregex: vec!["  ".into()],
        ..FilterDefinition::default()
    })
    .unwrap_err();
    assert!(matches!(empty, FilterError::Empty { .. }));
}

#[test]
fn prefregex_content_is_what_failregexes_see() {
    let mut filter = build(FilterDefinition {
        prefregex: Some(r"^sshd\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![r"^Failed password for <F-USER>\S+</F-USER> from <HOST>$".into()],
        ..FilterDefinition::default()
    });
    let result =
        filter.process_line_with_time("sshd[12]: Failed password for root from 192.0.2.3", NOW);
    assert!(result.prefregex_matched);
    assert_eq!(ids(&result), vec![Some("192.0.2.3")]);
    assert_eq!(
        result.failures[0].groups.get("mlfid").map(String::as_str),
        Some("12")
    );
    assert_eq!(
        result.failures[0].groups.get("user").map(String::as_str),
        Some("root")
    );
    let other =
        filter.process_line_with_time("cron[1]: Failed password for root from 192.0.2.3", NOW);
    assert!(!other.prefregex_matched);
    assert_eq!(other.outcome(), Outcome::Missed);
    assert_eq!(filter.prefregex_hits(), 1);
}

#[test]
fn prefregex_hits_count_as_the_full_prefregex_does() {
    // The regex tool counts prefregex matches with a probe that stops after the prefix: it
    // must agree with `.+$` on empty content, a carriage return, and a multi-line buffer.
    let mut filter = build(FilterDefinition {
        prefregex: Some(r"^sshd\[\d+\]: ?<F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![r"^Failed for <HOST>$".into()],
        ..FilterDefinition::default()
    });
    let cases = [
        ("sshd[1]: x", true),
        ("sshd[1]: ", true),
        ("sshd[1]:", false),
        ("sshd[1]: \r", true),
        ("sshd[1]: Failed for 192.0.2.1", true),
        ("cron[1]: x", false),
    ];
    let mut expected = 0;
    assert!(filter.prefregex_probe.is_some());
    for (line, matches) in cases {
        let full = filter
            .prefregex
            .as_ref()
            .unwrap()
            .is_match(&format!("{line}\n"));
        assert_eq!(full, matches, "{line:?}");
        let result = filter.process_line_with_time(line, NOW);
        assert_eq!(result.prefregex_matched, matches, "{line:?}");
        expected += u64::from(matches);
    }
    assert_eq!(filter.prefregex_hits(), expected);
    let inner_newline = filter.process_line_with_time("sshd[1]: x\ny", NOW);
    assert!(!inner_newline.prefregex_matched);
}

#[test]
fn content_found_by_the_probe_gives_the_same_results() {
    // The regex tool finds the content start from the probe's match; a filter without the
    // probe takes the prefregex's captures and the anchor-free set: both must agree.
    let definition = FilterDefinition {
        prefregex: Some(
            r"^(?:\S+ )?(?:sshd|sshd-session)(?:\[\d+\])?: (?:error: )?<F-CONTENT>.+</F-CONTENT>$"
                .into(),
        ),
        failregex: vec![
            r"^Failed \S+ for <F-USER>\S+</F-USER> from <HOST>$".into(),
            r"^error: bad from <HOST>".into(),
            r"from <HOST> again$".into(),
        ],
        ..FilterDefinition::default()
    };
    let mut probed = build(definition.clone());
    let mut plain = build(definition);
    assert!(probed.prefregex_probe.is_some());
    plain.prefregex_probe = None;
    let lines = [
        "host sshd[1]: Failed password for root from 192.0.2.1",
        "host sshd[1]: error: bad from 192.0.2.2",
        "host sshd-session: error: Failed x for y from 192.0.2.3",
        "sshd: x from 192.0.2.4 again",
        "sshd: \u{e9} from 192.0.2.5 again",
        "host sshd[1]: Accepted password for root from 192.0.2.1",
        "host cron[1]: Failed password for root from 192.0.2.1",
        "sshd: ",
        "sshd:  ",
    ];
    for line in lines {
        let a = probed.process_line_with_time(line, NOW);
        let b = plain.process_line_with_time(line, NOW);
        assert_eq!(a.prefregex_matched, b.prefregex_matched, "{line:?}");
        assert_eq!(ids(&a), ids(&b), "{line:?}");
        assert_eq!(a.outcome(), b.outcome(), "{line:?}");
    }
    assert_eq!(probed.prefregex_hits(), plain.prefregex_hits());
    assert_eq!(probed.failregex_hits(), plain.failregex_hits());
    // `error: ` belongs to the prefix, so the second failregex never sees it.
    assert_eq!(probed.failregex_hits(), &[2, 0, 2]);
}

#[test]
fn dotall_prefregex_gets_no_probe() {
    assert!(may_set_dotall(r"(?s)^x<F-CONTENT>.+</F-CONTENT>$"));
    assert!(may_set_dotall(r"^x(?is:y)<F-CONTENT>.+</F-CONTENT>$"));
    assert!(!may_set_dotall(
        r"^(?:x)(?P<a>y)(?i)<F-CONTENT>.+</F-CONTENT>$"
    ));
    let filter = build(FilterDefinition {
        prefregex: Some(r"(?s)^x <F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![r"^from <HOST>$".into()],
        ..FilterDefinition::default()
    });
    assert!(filter.prefregex_probe.is_none());
}

#[test]
fn ignoreregex_wins_over_failregex() {
    let mut filter = build(FilterDefinition {
        failregex: vec![r"^fail from <HOST>".into()],
        ignoreregex: vec![r"trusted".into()],
        ..FilterDefinition::default()
    });
    let ignored = filter.process_line_with_time("fail from 192.0.2.1 trusted", NOW);
    assert_eq!(ignored.outcome(), Outcome::Ignored);
    assert_eq!(ignored.ignored, vec![0]);
    assert!(ignored.failures.is_empty());
    assert_eq!(filter.ignoreregex_hits(), &[1]);
    assert_eq!(
        filter
            .process_line_with_time("fail from 192.0.2.1", NOW)
            .outcome(),
        Outcome::Matched
    );
}

#[test]
fn check_all_regex_reports_every_matching_failregex() {
    let regexes = [r"from <HOST>", r"^fail from <HOST>"];
    let mut all = filter(&regexes);
    assert_eq!(
        all.process_line_with_time("fail from 192.0.2.1", NOW)
            .failures
            .len(),
        2
    );
    let mut daemon = filter(&regexes);
    daemon.set_options(FilterOptions::daemon(600.0));
    let result = daemon.process_line_with_time("fail from 192.0.2.1", NOW);
    assert_eq!(result.failures.len(), 1);
    assert_eq!(result.failures[0].failregex, 0);
}

#[test]
fn skiplines_multi_line_match_reports_consumed_lines() {
    let mut filter = build(FilterDefinition {
        failregex: vec![
            r"^\s+\[conn(?P<__connid>\d+)\] Failed to authenticate [^\n]+<SKIPLINES>\s+\[conn(?P=__connid)\] end connection <HOST>".into(),
        ],
        maxlines: 10,
        ..FilterDefinition::default()
    });
    let lines = [
        " [conn7] Failed to authenticate admin",
        " [conn8] something else",
        " [conn7] end connection 192.0.2.8:1234",
    ];
    let results: Vec<LineResult> = lines
        .iter()
        .map(|l| filter.process_line_with_time(l, NOW))
        .collect();
    assert_eq!(results[0].outcome(), Outcome::Missed);
    assert_eq!(results[1].outcome(), Outcome::Missed);
    let last = &results[2];
    assert_eq!(ids(last), vec![Some("192.0.2.8")]);
    // The skipped line stays in the buffer; the first line was part of the match.
    assert_eq!(
        last.failures[0].matches,
        vec![lines[0].to_string(), lines[2].to_string()]
    );
    assert_eq!(last.consumed, vec![0]);
    assert_eq!(filter.line_buffer.len(), 1);
}

#[test]
fn maxlines_bounds_the_buffer() {
    let mut filter = build(FilterDefinition {
        failregex: vec![r"^a\nb <HOST>$".into()],
        maxlines: 2,
        ..FilterDefinition::default()
    });
    filter.process_line_with_time("a", NOW);
    filter.process_line_with_time("x", NOW);
    assert_eq!(
        filter.process_line_with_time("b 192.0.2.1", NOW).outcome(),
        Outcome::Missed
    );
    filter.process_line_with_time("a", NOW);
    assert_eq!(
        filter.process_line_with_time("b 192.0.2.1", NOW).outcome(),
        Outcome::Matched
    );
}

fn sshd_like() -> Filter {
    let mut filter = build(FilterDefinition {
        prefregex: Some(r"^\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![
            r"^Connection from <HOST>$".into(),
            r"^Invalid user <F-USER>\S+</F-USER>$".into(),
            r"^Accepted <F-NOFAIL>publickey</F-NOFAIL> for <F-USER>\S+</F-USER>$".into(),
            r"^Failed password for <F-USER>\S+</F-USER>$".into(),
            r"^<F-MLFFORGET>Disconnected</F-MLFFORGET>$".into(),
        ],
        maxlines: 1,
        ..FilterDefinition::default()
    });
    filter.set_options(FilterOptions::daemon(600.0));
    filter
}

#[test]
fn mlfid_carries_the_host_to_later_lines() {
    let mut filter = sshd_like();
    // The connection line has a host but is a pending failure of its own (no failure yet).
    let connect = filter.process_line_with_time("[5]: Connection from 192.0.2.5", NOW);
    assert_eq!(ids(&connect), vec![Some("192.0.2.5")]);
    let failed = filter.process_line_with_time("[5]: Failed password for bob", NOW);
    assert_eq!(ids(&failed), vec![Some("192.0.2.5")]);
    assert_eq!(failed.failures[0].users, vec!["bob".to_string()]);
    assert_eq!(
        failed.failures[0].matches,
        vec!["[5]: Failed password for bob".to_string()]
    );
    assert_eq!(
        failed.failures[0].groups.get("user").map(String::as_str),
        Some("bob")
    );
    let other = filter.process_line_with_time("[6]: Failed password for bob", NOW);
    // Connection 6 has no host yet: pending, not reported by the daemon.
    assert!(other.failures.is_empty());
}

#[test]
fn mlfid_nofail_and_forget() {
    let mut filter = sshd_like();
    filter.process_line_with_time("[9]: Connection from 192.0.2.9", NOW);
    let accepted = filter.process_line_with_time("[9]: Accepted publickey for bob", NOW);
    assert!(accepted.failures.is_empty(), "{accepted:?}");
    assert_eq!(filter.mlfid.len(), 1);
    // As fail2ban 1.0.2 does: forgetting clears the cached no-failure state, so the
    // disconnect reports the connection with the held-back lines.
    let gone = filter.process_line_with_time("[9]: Disconnected", NOW);
    assert_eq!(ids(&gone), vec![Some("192.0.2.9")]);
    assert!(!gone.failures[0].nofail);
    assert_eq!(
        gone.failures[0].matches,
        vec![
            "[9]: Accepted publickey for bob".to_string(),
            "[9]: Disconnected".to_string()
        ]
    );
    assert_eq!(gone.failures[0].users, vec!["bob".to_string()]);
    assert_eq!(filter.mlfid.len(), 0);
    // After forgetting, the id is unknown again.
    let late = filter.process_line_with_time("[9]: Failed password for bob", NOW);
    assert!(late.failures.is_empty());
}

#[test]
fn mlfid_entries_expire() {
    let mut filter = sshd_like();
    filter.process_line_with_time("[3]: Connection from 192.0.2.3", NOW);
    let late = filter.process_line_with_time("[3]: Failed password for bob", NOW + 301.0);
    assert!(late.failures.is_empty());
}

#[test]
fn lines_without_date_get_now_in_daemon_mode() {
    let mut filter = filter(&[r"^fail <HOST>$"]);
    filter.set_options(FilterOptions::daemon(600.0));
    let ctx = TimeContext {
        now: NOW,
        tz: jiff::tz::TimeZone::UTC,
    };
    let result = filter.process_line("fail 192.0.2.1", &ctx);
    assert_eq!(result.time, Some(NOW));
    assert_eq!(result.failures[0].time, Some(NOW));
    // fail2ban-regex mode: no date means no time.
    filter.set_options(FilterOptions::regex_tool());
    let result = filter.process_line("fail 192.0.2.1", &ctx);
    assert_eq!(result.failures[0].time, None);
}

#[test]
fn odd_dates_become_now_in_operation() {
    let mut filter = filter(&[r"^fail <HOST>$"]);
    filter.set_options(FilterOptions::daemon(600.0));
    filter.last_date = None;
    let view = TupleView {
        prefix: "",
        date: "",
        suffix: "fail 192.0.2.1",
        serial: 0,
    };
    let result = filter.process_view(view, Some(NOW - 7200.0), false, NOW);
    assert_eq!(result.time, Some(NOW));
    let mut catching_up = FilterOptions::daemon(600.0);
    catching_up.in_operation = false;
    filter.set_options(catching_up);
    let result = filter.process_view(view, Some(NOW - 7200.0), false, NOW);
    assert!(result.too_old);
    assert!(result.failures.is_empty());
}

#[test]
fn backtracking_regexes_run_and_are_prefiltered() {
    let mut filter = filter(&[r"^user (?!root)<F-USER>\w+</F-USER> from <HOST>$"]);
    assert!(matches!(
        filter.failregex_info()[0].engine,
        Engine::Backtracking(_)
    ));
    assert_eq!(
        filter
            .process_line_with_time("user bob from 192.0.2.1", NOW)
            .outcome(),
        Outcome::Matched
    );
    assert_eq!(
        filter
            .process_line_with_time("user root from 192.0.2.1", NOW)
            .outcome(),
        Outcome::Missed
    );
}

#[test]
fn hostile_lines_do_not_panic() {
    let mut filter = build(FilterDefinition {
        prefregex: Some(r"^<F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![
            r"^(?:(?!x).)*? from <HOST>(?: port \d+)?$".into(),
            r"^(a+)+b <HOST>$".into(),
            r"^user (?P<u>\S+) again (?P=u) <HOST>$".into(),
        ],
        ignoreregex: vec![r"^(?:y+)+z".into()],
        maxlines: 3,
        ..FilterDefinition::default()
    });
    let huge = "a".repeat(1 << 20);
    let nul = "fail\x00from\x00192.0.2.1\x00";
    let invalid = String::from_utf8_lossy(b"user \xff\xfe from 192.0.2.1").into_owned();
    let many_y = "y".repeat(100_000);
    for line in [
        huge.as_str(),
        nul,
        invalid.as_str(),
        many_y.as_str(),
        "",
        "\n",
        "\r\n",
    ] {
        let _ = filter.process_line_with_time(line, NOW);
    }
    // A 1 MiB line still matches a linear-engine regex; on the backtracking one it runs
    // into the step limit and counts as missed instead of stalling.
    let mut linear = filter_of(&[r"^a+ from <HOST>$"]);
    let with_host = format!("{huge} from 192.0.2.1");
    assert_eq!(
        linear.process_line_with_time(&with_host, NOW).outcome(),
        Outcome::Matched
    );
    let started = std::time::Instant::now();
    let _ = filter.process_line_with_time(&with_host, NOW);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn date_is_cut_out_before_matching() {
    // The date detector is another crate; here the split it would make is given directly.
    let mut filter = filter(&[r"^host sshd: fail <HOST>$"]);
    let view = TupleView {
        prefix: "",
        date: "Feb  5 14:26:24 ",
        suffix: "host sshd: fail 192.0.2.1",
        serial: 0,
    };
    let result = filter.process_view(view, Some(NOW), false, NOW);
    assert_eq!(ids(&result), vec![Some("192.0.2.1")]);
    assert_eq!(
        result.failures[0].matches,
        vec!["Feb  5 14:26:24 host sshd: fail 192.0.2.1".to_string()]
    );
}

fn utc_context(now: f64) -> TimeContext {
    TimeContext {
        now,
        tz: jiff::tz::TimeZone::UTC,
    }
}

#[test]
fn date_found_by_the_detector_is_cut_and_carried_to_dateless_lines() {
    let mut filter = filter(&[r"fail <HOST>$"]);
    let ctx = utc_context(1_124_020_800.0); // 2005-08-14T12:00:00Z
    let dated = filter.process_line("2005-08-14 11:59:50 fail 192.0.2.1", &ctx);
    let date = dated.date.unwrap();
    assert_eq!((date.start, date.end), (0, 19));
    assert_eq!(dated.failures[0].time, Some(1_124_020_790.0));
    // A line without a date within a minute of the last one takes its date (and fail2ban
    // shows that date text in front of it).
    let dateless = filter.process_line("fail 192.0.2.2", &ctx);
    assert_eq!(dateless.date, None);
    assert_eq!(dateless.failures[0].time, Some(1_124_020_790.0));
    assert_eq!(
        dateless.failures[0].matches,
        vec!["2005-08-14 11:59:50fail 192.0.2.2".to_string()]
    );
    assert_eq!(filter.last_time_text, "2005-08-14 11:59:50");
}

#[test]
fn journal_entries_carry_their_date_text_outside_the_regex_text() {
    let mut filter = filter(&[r"^host sshd: fail <HOST>$"]);
    let result =
        filter.process_dated_line("2005-08-14T12:00:00 ", "host sshd: fail 192.0.2.1", NOW);
    assert_eq!(result.failures[0].time, Some(NOW));
    assert_eq!(
        result.failures[0].matches,
        vec!["2005-08-14T12:00:00 host sshd: fail 192.0.2.1".to_string()]
    );
}

#[test]
fn ignoreregex_checked_first_when_failregexes_far_outnumber_them() {
    // fail2ban runs ignoreregexes before the failregexes when there are fewer than
    // len(failregex) - 2 of them; the verdict is the same, the order of work differs.
    let mut filter = build(FilterDefinition {
        failregex: (0..5).map(|i| format!(r"^f{i} <HOST>$")).collect(),
        ignoreregex: vec![r"192\.0\.2\.9".into()],
        ..FilterDefinition::default()
    });
    let ignored = filter.process_line_with_time("f3 192.0.2.9", NOW);
    assert_eq!(ignored.outcome(), Outcome::Ignored);
    let matched = filter.process_line_with_time("f3 192.0.2.8", NOW);
    assert_eq!(matched.failures[0].failregex, 3);
}

#[test]
fn filter_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Filter>();
    assert_send::<LineResult>();
}

fn raw_host_filter(failregex: &str) -> Filter {
    let mut filter = filter(&[failregex]);
    filter.set_options(FilterOptions {
        raw_host: true,
        ..FilterOptions::regex_tool()
    });
    filter
}

#[test]
fn raw_host_mode_still_normalizes_ipv6_ids_like_ipaddr() {
    // sendmail-reject sample: fail2ban's fid is IPAddr("2001:DB8::1", FAM_IPv6) in raw-host
    // mode too, whose text is "2001:db8::1" (fail2ban-regex --raw --out id prints that).
    for raw in [true, false] {
        let mut filter = raw_host_filter(r"^fail from <HOST>$");
        filter.set_options(FilterOptions {
            raw_host: raw,
            ..FilterOptions::regex_tool()
        });
        let result = filter.process_line_with_time("fail from 2001:DB8::1", NOW);
        let failure = &result.failures[0];
        assert_eq!(failure.id.as_deref(), Some("2001:db8::1"), "raw {raw}");
        assert_eq!(failure.id_kind, IdKind::Ip);
        assert_eq!(failure.host.as_deref(), Some("2001:DB8::1"));
    }
}

#[test]
fn dns_group_is_raw_text_in_raw_mode_and_an_address_otherwise() {
    // fail2ban-regex '^fail from (?P<dns>\S+)$': with --raw the id is the text as written
    // (IPAddr(dns, CIDR_RAW)); without, textToIp normalizes an address and ignores F-ID.
    let mut raw = raw_host_filter(r"^fail from (?P<dns>\S+)$");
    let mut resolved = filter(&[r"^fail from (?P<dns>\S+)$"]);
    for (line, raw_id, id, kind) in [
        (
            "fail from 2001:DB8::1",
            "2001:DB8::1",
            "2001:db8::1",
            IdKind::Ip,
        ),
        (
            "fail from ::ffff:192.0.2.1",
            "::ffff:192.0.2.1",
            "192.0.2.1",
            IdKind::Ip,
        ),
        (
            "fail from Host.Example",
            "Host.Example",
            "Host.Example",
            IdKind::Dns,
        ),
    ] {
        let raw_failure = &raw.process_line_with_time(line, NOW).failures[0];
        assert_eq!(raw_failure.id.as_deref(), Some(raw_id));
        assert_eq!(raw_failure.id_kind, IdKind::Raw);
        let failure = &resolved.process_line_with_time(line, NOW).failures[0];
        assert_eq!((failure.id.as_deref(), failure.id_kind), (Some(id), kind));
    }
}

/// 2005-08-14T12:00:00Z, the detector's context for the date tests below.
const AUG_14_NOON_UTC: f64 = 1_124_020_800.0;

#[test]
fn invalid_date_is_cut_out_and_the_line_has_no_time() {
    // zzz-generic-example "0000-12-30 00:00:00 ...": fail2ban logs "failed to parse
    // timeText", keeps the text cut out of the line, and finds the failure without a time.
    let mut filter = filter(&[r"^ fail from <HOST>$"]);
    let line = "Feb 30 11:51:00 fail from 192.0.2.1";
    let result = filter.process_line(line, &utc_context(AUG_14_NOON_UTC));
    let found = result.found_date.unwrap();
    assert_eq!((found.start, found.end), (0, 15));
    assert_eq!(found.outcome, DateOutcome::Invalid);
    assert_eq!(result.date, None);
    assert_eq!(ids(&result), vec![Some("192.0.2.1")]);
    assert_eq!(result.failures[0].time, None);
    assert_eq!(result.failures[0].matches, vec![line.to_string()]);
}

#[test]
fn invalid_date_takes_now_in_operation_and_a_recent_date_with_the_whole_line() {
    let ctx = utc_context(AUG_14_NOON_UTC);
    let mut daemon = filter(&[r"fail from <HOST>$"]);
    daemon.set_options(FilterOptions::daemon(600.0));
    let now = daemon.process_line("Feb 30 11:51:00 fail from 192.0.2.1", &ctx);
    assert_eq!(now.failures[0].time, Some(AUG_14_NOON_UTC));
    // With a date under a minute old, fail2ban uses ("", lastTimeText, line): the whole line,
    // invalid date included, behind the last date text.
    let mut tool = filter(&[r"fail from <HOST>$"]);
    tool.process_line("2005-08-14 11:59:50 fail from 192.0.2.1", &ctx);
    let carried = tool.process_line("Feb 30 11:51:00 fail from 192.0.2.2", &ctx);
    assert_eq!(carried.failures[0].time, Some(AUG_14_NOON_UTC - 10.0));
    assert_eq!(
        carried.failures[0].matches,
        vec!["2005-08-14 11:59:50Feb 30 11:51:00 fail from 192.0.2.2".to_string()]
    );
    // The invalid text does not become the last date text.
    assert_eq!(tool.last_time_text, "2005-08-14 11:59:50");
}

#[test]
fn date_that_raises_in_fail2ban_drops_the_line() {
    // An unknown zone abbreviation: fail2ban's getTime raises, processLineAndAdd drops the line.
    let mut filter = build(FilterDefinition {
        failregex: vec![r"fail from <HOST>$".into()],
        datepattern: Some("%b %d %H:%M:%S %Z".into()),
        ..FilterDefinition::default()
    });
    let result = filter.process_line(
        "Aug 14 11:51:00 ABC fail from 192.0.2.1",
        &utc_context(AUG_14_NOON_UTC),
    );
    assert_eq!(result.found_date.unwrap().outcome, DateOutcome::Error);
    assert!(result.failures.is_empty());
    assert_eq!(result.outcome(), Outcome::Missed);
}

#[test]
fn empty_date_takes_a_recent_last_date_else_now() {
    let mut filter = build(FilterDefinition {
        failregex: vec![r"^fail from <HOST>$".into()],
        datepattern: Some("{NONE}".into()),
        ..FilterDefinition::default()
    });
    let ctx = utc_context(AUG_14_NOON_UTC);
    let fresh = filter.process_line("fail from 192.0.2.1", &ctx);
    assert_eq!(fresh.found_date.unwrap().outcome, DateOutcome::Empty);
    assert_eq!(fresh.failures[0].time, Some(AUG_14_NOON_UTC));
    filter.process_dated_line("12:00:00 ", "nothing", AUG_14_NOON_UTC - 5.0);
    let carried = filter.process_line("fail from 192.0.2.2", &ctx);
    assert_eq!(carried.failures[0].time, Some(AUG_14_NOON_UTC - 5.0));
    assert_eq!(
        carried.failures[0].matches,
        vec!["12:00:00 fail from 192.0.2.2".to_string()]
    );
}

#[test]
fn logtimezone_is_applied_by_the_filter() {
    // `UTC+0200` is two hours east of UTC (a POSIX TZ rule would read it the other way).
    let mut filter = build(FilterDefinition {
        failregex: vec![r"fail from <HOST>$".into()],
        logtimezone: Some("UTC+0200".into()),
        ..FilterDefinition::default()
    });
    let result = filter.process_line(
        "2005-08-14 12:00:00 fail from 192.0.2.1",
        &utc_context(AUG_14_NOON_UTC),
    );
    assert_eq!(result.failures[0].time, Some(AUG_14_NOON_UTC - 7200.0));
    let error = Filter::new(&FilterDefinition {
        failregex: vec![r"fail from <HOST>$".into()],
        logtimezone: Some("Mars/Olympus".into()),
        ..FilterDefinition::default()
    })
    .unwrap_err();
    assert!(matches!(error, FilterError::LogTimeZone(_)), "{error}");
}

#[test]
fn a_clone_of_a_fresh_filter_starts_fresh_and_runs_on_its_own() {
    let template = sshd_like();
    let mut first = template.clone();
    first.process_line_with_time("[5]: Connection from 192.0.2.5", NOW);
    assert_eq!(first.failregex_hits()[0], 1);
    // The multi-line cache of `first` is its own: connection 5 has no host in a new clone.
    let mut second = template.clone();
    let failed = second.process_line_with_time("[5]: Failed password for bob", NOW);
    assert!(failed.failures.is_empty());
    assert_eq!(failed.serial, 0);
    assert_eq!(template.failregex_hits(), &[0, 0, 0, 0, 0]);
}

#[test]
fn forgetting_lines_give_the_same_results_with_and_without_shortcuts() {
    let mut filter = build(FilterDefinition {
        prefregex: Some(r"^<F-MLFID>\[\d+\]: </F-MLFID><F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![
            r"^Connection from <HOST>$".into(),
            r"^Failed password for <F-USER>\S+</F-USER>$".into(),
            r"^<F-NOFAIL><F-MLFFORGET>Closed</F-MLFFORGET></F-NOFAIL> by <HOST>$".into(),
            r"^(?:<F-NOFAIL>Gone</F-NOFAIL>)? <F-MLFFORGET>x</F-MLFFORGET> <HOST>$".into(),
        ],
        maxlines: 1,
        ..FilterDefinition::default()
    });
    filter.set_options(FilterOptions::daemon(600.0));
    assert!(filter.mlfid_is_prefix);
    // The optional F-NOFAIL of the last regex rules it out.
    assert_eq!(filter.forgets, vec![false, false, true, false]);
    let mut plain = filter.clone();
    plain.set_shortcuts(false);
    let lines = [
        "[7]: Connection from 192.0.2.7",
        "[70]: Closed by 192.0.2.70", // no entry for [70]; [7] is no prefix of it
        "[7]: Failed password for bob",
        "[8]: Closed by 192.0.2.8",
        "[7]: Closed by 192.0.2.7", // a live entry: resolved as usual
        "[7]: Failed password for bob",
        "[9]: Gone x 192.0.2.9",
    ];
    for line in lines {
        let fast = filter.process_line_with_time(line, NOW);
        assert_eq!(fast, plain.process_line_with_time(line, NOW), "{line}");
    }
    assert_eq!(filter.mlfid.len(), plain.mlfid.len());
}
