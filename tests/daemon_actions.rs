//! The stock firewall actions on a real firewall, for an IPv4 and an IPv6 attacker:
//! `nftables-multiport`, `iptables-ipset-proto6` and `iptables-multiport`, each in its own
//! jail; bans block only the attacker, `unbanip` and a clean stop leave nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::lab_or_skip;
use crate::support::fail2ban_dir;
use crate::support::netns::Lab;

struct Jail {
    name: &'static str,
    action: &'static str,
    port: u16,
}

const JAILS: [Jail; 3] = [
    Jail {
        name: "nft",
        action: "nftables-multiport",
        port: 143,
    },
    Jail {
        name: "ipset",
        action: "iptables-ipset-proto6",
        port: 25,
    },
    Jail {
        name: "ipt",
        action: "iptables-multiport",
        port: 110,
    },
];

fn failure_line(ip: &str) -> String {
    format!("{} mail e2e: auth failed from {ip}", syslog_now())
}

fn write_config(dir: &TestDir, f2b: &Path) {
    dir.stock_config(f2b);
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = e2e: auth failed from <HOST>$\nignoreregex =\n",
    );
    let mut local = String::from("[DEFAULT]\nmaxretry = 3\nfindtime = 600\nbantime = 600\n\n");
    for jail in &JAILS {
        local.push_str(&format!(
            "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {log}\n\
             action = {action}[name={name}, port={port}, protocol=tcp]\n\n",
            name = jail.name,
            log = dir.path(&format!("{}.log", jail.name)).display(),
            action = jail.action,
            port = jail.port,
        ));
    }
    dir.write_conf("jail.local", &local);
}

fn ruleset(lab: &Lab) -> String {
    let mut text = String::new();
    for argv in [
        &["nft", "list", "ruleset"][..],
        &["ipset", "list"][..],
        &["iptables", "-w", "-S"][..],
        &["ip6tables", "-w", "-S"][..],
    ] {
        let out = lab.exec(&lab.server, argv);
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

#[test]
fn stock_actions_ban_ipv4_and_ipv6_attackers() {
    let Some(f2b) = fail2ban_dir() else { return };
    let mut lab = lab_or_skip!();
    for jail in &JAILS {
        lab.listen_tcp(jail.port);
    }
    let dir = TestDir::new();
    write_config(&dir, &f2b);
    let mut server = ServerProcess::start(&lab.server, &dir, None);
    let v4_target = lab.server_addr.toward_attacker_v4.clone();
    let v6_target = lab.server_addr.toward_attacker_v6.clone();
    let bystander_target = lab.server_addr.toward_bystander_v4.clone();

    for jail in &JAILS {
        let log = dir.path(&format!("{}.log", jail.name));
        for (attacker, target) in [
            (lab.attacker.ipv4.clone(), v4_target.clone()),
            (lab.attacker.ipv6.clone(), v6_target.clone()),
        ] {
            assert!(
                lab.connects(&lab.attacker.netns, &target, jail.port),
                "[{}] {attacker} reaches port {} before",
                jail.name,
                jail.port
            );
            append_line(&log, &failure_line(&attacker));
            append_line(&log, &failure_line(&attacker));
            let written = append_line(&log, &failure_line(&attacker));
            let blocked = wait_until(Duration::from_secs(5), || {
                let (_, list) = server.client(&["get", jail.name, "banip"]);
                list.contains(&attacker)
            });
            assert!(
                blocked,
                "[{}] {attacker} not banned; log:\n{}",
                jail.name,
                dir.log_text()
            );
            assert!(
                !lab.connects(&lab.attacker.netns, &target, jail.port),
                "[{}] {attacker} dropped ({:.0} ms after the write); rules:\n{}\nlog:\n{}",
                jail.name,
                written.elapsed().unwrap_or_default().as_secs_f64() * 1000.0,
                ruleset(&lab),
                dir.log_text()
            );
            assert!(
                lab.connects(&lab.bystander.netns, &bystander_target, jail.port),
                "[{}] bystander still connects",
                jail.name
            );
        }
        for attacker in [&lab.attacker.ipv4, &lab.attacker.ipv6] {
            let (ok, text) = server.client(&["set", jail.name, "unbanip", attacker]);
            assert!(
                ok && text.trim() == "1",
                "[{}] unbanip {attacker}: {text}",
                jail.name
            );
        }
        assert!(
            lab.connects(&lab.attacker.netns, &v4_target, jail.port),
            "[{}] v4 lifted",
            jail.name
        );
        assert!(
            lab.connects(&lab.attacker.netns, &v6_target, jail.port),
            "[{}] v6 lifted",
            jail.name
        );
    }

    server.terminate();
    let rules = ruleset(&lab);
    assert!(
        !rules.contains("f2b"),
        "a clean stop removes every table, set and chain:\n{rules}"
    );
}

/// `actionreload` runs, as in fail2ban, for each action a `reload` keeps (it had started),
/// and not for a run-time `set`.
#[test]
fn actionreload_runs_on_reload_for_the_actions_kept() {
    let dir = crate::daemon_common::TestDir::new();
    crate::record_jail::base(&dir);
    let record_file = dir.path("record");
    dir.write_conf(
        "action.d/reloading.conf",
        &format!(
            "[Definition]\nactionstart = echo start <name> >> {0}\n\
             actionreload = echo reload <name> <bantime> >> {0}\n\
             actionban = echo ban <ip> >> {0}\nactionunban = true\n",
            record_file.display()
        ),
    );
    let jail = crate::record_jail::jail("alpha", &dir.path("a.log"), "")
        .replace("action = record", "action = reloading");
    dir.write_conf("jail.conf", &jail);
    let server = crate::daemon_common::ServerProcess::start_here(&dir);
    let record = || crate::record_jail::record(&dir);
    let started = wait_until(Duration::from_secs(10), || record() == "start alpha\n");
    assert!(started, "{}", record());
    let (ok, text) = server.client(&["set", "alpha", "bantime", "700"]);
    assert!(ok, "{text}");
    assert!(!record().contains("reload"), "{}", record());
    let (ok, text) = server.client(&["reload"]);
    assert!(ok, "{text}");
    assert_eq!(record(), "start alpha\nreload alpha 600\n");
    let (ok, text) = server.client(&["reload", "alpha"]);
    assert!(ok, "{text}");
    assert_eq!(
        record(),
        "start alpha\nreload alpha 600\nreload alpha 600\n"
    );
}
