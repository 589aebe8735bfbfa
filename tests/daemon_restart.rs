//! Restart after `kill -9`: bans come back with their remaining time, the firewall holds
//! exactly one rule per ban (no stale or duplicate rules left by the dead server), `unbanip`
//! lifts each, and no log line is counted twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::daemon_common::{
    ServerProcess, TestDir, append_line, dovecot_line, iptables_rules, seed_dir, wait_until,
};
use crate::daemon_seed::seed_config;
use crate::lab_or_skip;
use crate::support::fail2ban_dir;

const OTHER: &str = "198.51.100.7";

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

/// `ip \t2026-11-26 18:00:00 + 600 = 2026-11-26 18:10:00` lines by id.
fn ban_ends(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let (id, rest) = line.split_once(" \t")?;
            let end = rest.rsplit_once(" = ")?.1;
            Some((id.to_string(), end.to_string()))
        })
        .collect()
}

#[test]
fn kill_9_then_restart_restores_bans_without_duplicate_rules() {
    let Some(f2b) = fail2ban_dir() else { return };
    let Some(seed) = seed_dir() else { return };
    let mut lab = lab_or_skip!();
    lab.listen_tcp(143);
    let dir = TestDir::new();
    let log = dir.path("maillog");
    seed_config(&dir, &f2b, &seed, &log, 600);
    let fake_bin = dir.fake_mail();
    let attacker = lab.attacker.ipv4.clone();
    let target = lab.server_addr.toward_attacker_v4.clone();
    let chain = "fail2ban-dovecot";

    let mut server = ServerProcess::start(&lab.server, &dir, Some(&fake_bin));
    let hooked = || iptables_rules(&lab, "iptables", "INPUT").contains(chain);
    assert!(
        wait_until(Duration::from_secs(15), hooked),
        "chain not hooked"
    );
    for ip in [attacker.as_str(), OTHER] {
        for _ in 0..3 {
            append_line(&log, &dovecot_line(ip));
        }
    }
    let both = || {
        let rules = iptables_rules(&lab, "iptables", chain);
        rules.contains(&attacker) && rules.contains(OTHER)
    };
    assert!(
        wait_until(Duration::from_secs(3), both),
        "both banned; log:\n{}",
        dir.log_text()
    );
    let (_, before) = server.client(&["get", "dovecot", "banip", "--with-time"]);
    let ends_before = ban_ends(&before);
    assert_eq!(ends_before.len(), 2, "{before}");
    let found_before = count(&dir.log_text(), "[dovecot] Found");
    assert_eq!(found_before, 6);

    server.kill9();
    assert!(
        !lab.connects(&lab.attacker.netns, &target, 143),
        "rules stay after kill -9"
    );

    let mut server = ServerProcess::start(&lab.server, &dir, Some(&fake_bin));
    let restored = || count(&dir.log_text(), "[dovecot] Restore Ban") == 2;
    assert!(
        wait_until(Duration::from_secs(15), restored),
        "log:\n{}",
        dir.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(15), hooked),
        "chain hooked again"
    );
    let (_, after) = server.client(&["get", "dovecot", "banip", "--with-time"]);
    let mut ends_after = ban_ends(&after);
    let mut expected = ends_before.clone();
    ends_after.sort();
    expected.sort();
    assert_eq!(
        ends_after, expected,
        "bans keep their end:\n{before}\n{after}"
    );

    let input = iptables_rules(&lab, "iptables", "INPUT");
    assert_eq!(
        count(&input, &format!("-j {chain}")),
        1,
        "one hook:\n{input}"
    );
    let rules = iptables_rules(&lab, "iptables", chain);
    assert_eq!(count(&rules, "-j RETURN"), 1, "one RETURN:\n{rules}");
    assert_eq!(
        count(&rules, &attacker),
        1,
        "one rule for {attacker}:\n{rules}"
    );
    assert_eq!(count(&rules, OTHER), 1, "one rule for {OTHER}:\n{rules}");
    assert_eq!(
        count(&dir.log_text(), "[dovecot] Found"),
        found_before,
        "no line read twice:\n{}",
        dir.log_text()
    );
    let (_, status) = server.client(&["status", "dovecot"]);
    assert!(status.contains("Total failed:\t0"), "{status}");
    assert!(status.contains("Currently banned:\t2"), "{status}");

    for ip in [attacker.as_str(), OTHER] {
        let (ok, text) = server.client(&["set", "dovecot", "unbanip", ip]);
        assert!(ok && text.trim() == "1", "unbanip {ip}: {text}");
        let rules = iptables_rules(&lab, "iptables", chain);
        assert!(!rules.contains(ip), "{ip} lifted:\n{rules}");
    }
    assert!(
        lab.connects(&lab.attacker.netns, &target, 143),
        "attacker connects after unbanip"
    );
    server.terminate();
    let input = iptables_rules(&lab, "iptables", "INPUT");
    assert!(
        !input.contains("fail2ban-"),
        "clean stop removes the hooks:\n{input}"
    );
}
