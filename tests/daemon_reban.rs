//! Repair and reban through the real `ferroban server` on a real firewall: when another
//! tool flushes the jail's chain, the next ban finds the action broken (`actioncheck`
//! fails), the action is restarted, and every ban the jail holds is applied again with
//! `actionreban`, so the firewall matches the ban list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, iptables_rules, wait_until};
use crate::lab_or_skip;

const CHAIN: &str = "f2b-alpha";
const OTHER: &str = "198.51.100.7";
const LATER: &str = "203.0.113.9";

/// An iptables action that also records each operation in `record`.
fn config(dir: &TestDir) {
    crate::daemon_common::e2e_base(dir);
    dir.write_conf(
        "action.d/chain.conf",
        &format!(
            "[Definition]\n\
             actionstart = iptables -w -N f2b-<name> && iptables -w -A f2b-<name> -j RETURN \
               && iptables -w -I INPUT -j f2b-<name> && echo start >> {0}\n\
             actionstop = iptables -w -D INPUT -j f2b-<name>; iptables -w -F f2b-<name>; \
               iptables -w -X f2b-<name>; echo stop >> {0}\n\
             actioncheck = iptables -w -n -L INPUT | grep -q 'f2b-<name>[ \\t]'\n\
             actionban = iptables -w -I f2b-<name> 1 -s <ip> -j REJECT && echo ban <ip> >> {0}\n\
             actionreban = iptables -w -I f2b-<name> 1 -s <ip> -j REJECT && echo reban <ip> >> {0}\n\
             actionunban = iptables -w -D f2b-<name> -s <ip> -j REJECT && echo unban <ip> >> {0}\n",
            dir.path("record").display()
        ),
    );
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 3\nbantime = 600\n\
             ignoreself = false\naction = chain\n",
            dir.path("a.log").display()
        ),
    );
}

fn record(dir: &TestDir) -> Vec<String> {
    std::fs::read_to_string(dir.path("record"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

#[test]
fn flushed_chain_is_repaired_and_the_jails_bans_rebanned() {
    let mut lab = lab_or_skip!();
    lab.listen_tcp(143);
    let dir = TestDir::new();
    config(&dir);
    let attacker = lab.attacker.ipv4.clone();
    let target = lab.server_addr.toward_attacker_v4.clone();
    let server = ServerProcess::start(&lab.server, &dir, None);
    let hooked = || iptables_rules(&lab, "iptables", "INPUT").contains(CHAIN);
    assert!(wait_until(Duration::from_secs(15), hooked), "chain hooked");

    for ip in [attacker.as_str(), OTHER] {
        let (ok, text) = server.client(&["set", "alpha", "banip", ip]);
        assert!(ok && text.trim() == "1", "banip {ip}: {text}");
    }
    assert!(!lab.connects(&lab.attacker.netns, &target, 143), "banned");

    // Another tool wipes the firewall: the hook, the rules, the chain.
    for argv in [
        ["iptables", "-w", "-D", "INPUT", "-j", CHAIN],
        ["iptables", "-w", "-F", CHAIN, "", ""],
        ["iptables", "-w", "-X", CHAIN, "", ""],
    ] {
        let argv: Vec<&str> = argv.into_iter().filter(|a| !a.is_empty()).collect();
        assert!(lab.exec(&lab.server, &argv).status.success(), "{argv:?}");
    }
    assert!(
        lab.connects(&lab.attacker.netns, &target, 143),
        "the wiped firewall lets the attacker in"
    );

    let (ok, text) = server.client(&["set", "alpha", "banip", LATER]);
    assert!(ok && text.trim() == "1", "banip {LATER}: {text}");

    let lines = record(&dir);
    assert_eq!(
        lines[..6],
        [
            "start",
            &format!("ban {attacker}"),
            &format!("ban {OTHER}"),
            "stop",
            "start",
            &format!("ban {LATER}"),
        ],
        "log:\n{}",
        dir.log_text()
    );
    let mut rebans = lines[6..].to_vec();
    rebans.sort();
    let mut expected = vec![format!("reban {attacker}"), format!("reban {OTHER}")];
    expected.sort();
    assert_eq!(rebans, expected, "log:\n{}", dir.log_text());

    let input = iptables_rules(&lab, "iptables", "INPUT");
    assert_eq!(count(&input, &format!("-j {CHAIN}")), 1, "{input}");
    let rules = iptables_rules(&lab, "iptables", CHAIN);
    for ip in [attacker.as_str(), OTHER, LATER] {
        assert_eq!(count(&rules, ip), 1, "one rule for {ip}:\n{rules}");
    }
    assert!(
        !lab.connects(&lab.attacker.netns, &target, 143),
        "the attacker is blocked again"
    );
    let log = dir.log_text();
    assert!(log.contains(&format!("[alpha] Reban {attacker}")), "{log}");
    let (_, status) = server.client(&["status", "alpha"]);
    assert!(status.contains("Currently banned:\t3"), "{status}");

    // Each ban is lifted from the repaired chain.
    let (ok, text) = server.client(&["set", "alpha", "unbanip", &attacker]);
    assert!(ok && text.trim() == "1", "{text}");
    assert!(
        lab.connects(&lab.attacker.netns, &target, 143),
        "attacker connects after unbanip"
    );
}
