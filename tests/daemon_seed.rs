//! End to end with the seed's configuration: the mail server's dovecot and postfix-sasl
//! jails, with the seed's chain action and the stock mail action, on a real firewall in a
//! network namespace. Measures the time from the write of the deciding line to the rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::daemon_common::{
    ServerProcess, TestDir, append_line, dovecot_line, iptables_rules, log_line_time, postfix_line,
    seed_dir, wait_until,
};
use crate::lab_or_skip;
use crate::support::fail2ban_dir;
use crate::support::netns::Lab;

const BAN_TIME: u64 = 4;

/// The seed over the stock configuration, the postfix filter corrected and put where
/// `filter = postfix-sasl` looks for it, the log and the ban time made fit for a test.
pub fn seed_config(dir: &TestDir, f2b: &Path, seed: &Path, log: &Path, ban_time: u64) {
    dir.stock_config(f2b);
    crate::daemon_common::copy_dir(seed, &dir.conf());
    let _ = std::fs::remove_file(dir.conf().join("README.md"));
    dir.write_conf(
        "filter.d/postfix-sasl.conf",
        "[Definition]\n\
         failregex = .*postfix/smtpd.*warning: .*\\[<HOST>\\]: SASL (?:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed\n\
         ignoreregex =\n",
    );
    let local = format!(
        "[dovecot]\nlogpath = {log}\nbantime = {ban_time}\n\n\
         [postfix-sasl]\nlogpath = {log}\nbantime = {ban_time}\n",
        log = log.display()
    );
    dir.write_conf("jail.local", &local);
}

struct Scenario<'a> {
    jail: &'a str,
    chain: &'a str,
    port: u16,
    line: fn(&str) -> String,
}

#[test]
fn seed_mail_server_bans_and_unbans_on_a_real_firewall() {
    let Some(f2b) = fail2ban_dir() else { return };
    let Some(seed) = seed_dir() else { return };
    let mut lab = lab_or_skip!();
    lab.listen_tcp(143);
    lab.listen_tcp(25);
    let dir = TestDir::new();
    let log = dir.path("maillog");
    seed_config(&dir, &f2b, &seed, &log, BAN_TIME);
    let fake_bin = dir.fake_mail();
    let mut server = ServerProcess::start(&lab.server, &dir, Some(&fake_bin));

    for scenario in [
        Scenario {
            jail: "dovecot",
            chain: "fail2ban-dovecot",
            port: 143,
            line: dovecot_line,
        },
        Scenario {
            jail: "postfix-sasl",
            chain: "fail2ban-postfix",
            port: 25,
            line: postfix_line,
        },
    ] {
        run_scenario(&lab, &dir, &server, &log, &scenario);
    }

    // SIGTERM stops cleanly: each jail's actionstop removes its chain and hook.
    server.terminate();
    let input = iptables_rules(&lab, "iptables", "INPUT");
    assert!(
        !input.contains("fail2ban-"),
        "hooks left after SIGTERM:\n{input}"
    );
    let mails = dir.mails_text();
    assert!(mails.contains("[Fail2Ban] dovecot: stopped"), "{mails}");
}

fn run_scenario(lab: &Lab, dir: &TestDir, server: &ServerProcess, log: &Path, s: &Scenario<'_>) {
    let attacker = lab.attacker.ipv4.clone();
    let target = lab.server_addr.toward_attacker_v4.clone();
    // actionstart sleeps twice for a second before it hooks the chain into INPUT.
    let hooked = wait_until(Duration::from_secs(15), || {
        iptables_rules(lab, "iptables", "INPUT").contains(s.chain)
    });
    assert!(
        hooked,
        "{} not hooked into INPUT; log:\n{}",
        s.chain,
        dir.log_text()
    );
    assert!(
        lab.connects(&lab.attacker.netns, &target, s.port),
        "attacker reaches {} before",
        s.port
    );

    append_line(log, &(s.line)(&attacker));
    append_line(log, &(s.line)(&attacker));
    let written = append_line(log, &(s.line)(&attacker));
    let ruled = wait_until(Duration::from_secs(1), || {
        iptables_rules(lab, "iptables", s.chain).contains(&attacker)
    });
    let rule_latency = written.elapsed().unwrap_or_default();
    assert!(
        ruled,
        "no DROP rule for {attacker} within 1 s; log:\n{}",
        dir.log_text()
    );
    let ban_logged = log_line_time(&dir.log_text(), &format!("[{}] Ban {attacker}", s.jail));
    let ban_latency = ban_logged.and_then(|t| t.duration_since(written).ok());
    eprintln!(
        "[{}] write -> DROP rule seen: {:.1} ms (upper bound, includes polling iptables); \
         write -> ban decided (log time, ms resolution): {:?}",
        s.jail,
        rule_latency.as_secs_f64() * 1000.0,
        ban_latency.map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
    );

    assert!(
        !lab.connects(&lab.attacker.netns, &target, s.port),
        "attacker is dropped"
    );
    let bystander_target = lab.server_addr.toward_bystander_v4.clone();
    assert!(
        lab.connects(&lab.bystander.netns, &bystander_target, s.port),
        "bystander connects"
    );
    let (ok, status) = server.client(&["status", s.jail]);
    assert!(
        ok && status.contains(&attacker),
        "status {}:\n{status}",
        s.jail
    );
    assert!(status.contains("Currently banned:\t1"), "{status}");

    let mailed = wait_until(Duration::from_secs(5), || {
        let mails = dir.mails_text();
        mails.lines().any(|l| {
            l.starts_with("== mail")
                && l.contains(&format!("banned {attacker}"))
                && l.contains("root")
        })
    });
    assert!(
        mailed,
        "no ban mail to root for {attacker}:\n{}",
        dir.mails_text()
    );
    let mails = dir.mails_text();
    let name = if s.jail == "dovecot" {
        "dovecot"
    } else {
        "postfix"
    };
    assert!(
        mails.contains(&format!("[Fail2Ban] {name}: banned {attacker}")),
        "{mails}"
    );
    assert!(
        mails.contains(&format!("The IP {attacker} has just been banned")),
        "{mails}"
    );

    let banned_at = SystemTime::now();
    let lifted = wait_until(Duration::from_secs(BAN_TIME + 3), || {
        !iptables_rules(lab, "iptables", s.chain).contains(&attacker)
    });
    assert!(
        lifted,
        "ban not lifted after bantime; log:\n{}",
        dir.log_text()
    );
    eprintln!(
        "[{}] unbanned {:.1} s after the ban was seen (bantime {BAN_TIME} s)",
        s.jail,
        banned_at.elapsed().unwrap_or_default().as_secs_f64()
    );
    assert!(
        lab.connects(&lab.attacker.netns, &target, s.port),
        "attacker connects again"
    );
    assert!(
        dir.log_text()
            .contains(&format!("[{}] Unban {attacker}", s.jail))
    );
}
