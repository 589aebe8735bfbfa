//! fail2ban's stock ipset actions run natively: for `iptables-ipset`, `iptables-ipset-proto6`,
//! `iptables-ipset-proto6-allports` (IPv4 and IPv6) and `iptables-ipset-proto4` (IPv4), the
//! attacker is dropped and the bystander is not; the sets (`ipset list -t`) and rules
//! (`iptables -S`, `ip6tables -S`) are those the stock commands make (run in a second lab
//! with `FERROBAN_NATIVE_ACTIONS=commands`), but for the elements' timeouts; the kernel's set
//! and `get JAIL banip` agree; a set destroyed behind ferroban's back is made again with
//! every ban; a clean stop leaves no set and no rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::daemon_common::{ServerProcess, TestDir};
use crate::lab_or_skip;
use crate::support::fail2ban_dir;
use crate::support::netns::Lab;

/// One jail per stock action, each on its own port; whether it takes IPv6.
const JAILS: [(&str, &str, u16, bool); 4] = [
    ("one", "iptables-ipset", 143, true),
    ("multi", "iptables-ipset-proto6", 110, true),
    ("all", "iptables-ipset-proto6-allports", 25, true),
    ("old", "iptables-ipset-proto4", 21, false),
];

fn write_config(dir: &TestDir, f2b: &Path) {
    dir.stock_config(f2b);
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = e2e: auth failed from <HOST>$\nignoreregex =\n",
    );
    let mut local = "[DEFAULT]\nmaxretry = 3\nfindtime = 600\nbantime = 600\n\n".to_owned();
    for (name, action, port, _) in JAILS {
        local.push_str(&format!(
            "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {log}\n\
             action = {action}[name={name}, port={port}, protocol=tcp]\n\n",
            log = dir.path(&format!("{name}.log")).display(),
        ));
    }
    dir.write_conf("jail.local", &local);
    for (name, ..) in JAILS {
        std::fs::write(dir.path(&format!("{name}.log")), "").unwrap();
    }
}

fn run(lab: &Lab, argv: &[&str]) -> String {
    let out = lab.exec(&lab.server, argv);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ipset list -t` and the rules of both families, without what may differ: the hash's
/// random `initval`, its memory and entry counts, the elements' timeouts (the one
/// difference: the native set always takes timeouts).
fn normalized_firewall(lab: &Lab) -> String {
    let mut kept = Vec::new();
    for line in run(lab, &["ipset", "list", "-t"]).lines() {
        if line.starts_with("Size in memory:") || line.starts_with("Number of entries:") {
            continue;
        }
        let header = line
            .split(" initval ")
            .next()
            .unwrap_or(line)
            .replace(" timeout 0", "");
        kept.push(header);
    }
    kept.push(run(lab, &["iptables", "-S"]));
    kept.push(run(lab, &["ip6tables", "-S"]));
    kept.join("\n")
}

fn ban(server: &ServerProcess, jail: &str, ip: &str) {
    let (ok, text) = server.client(&["set", jail, "banip", ip]);
    assert!(ok, "banip {ip} in {jail}: {text}");
}

/// The members of a jail's sets, as the kernel holds them, sorted.
fn kernel_set(lab: &Lab, jail: &str) -> Vec<String> {
    let mut found = Vec::new();
    for set in [format!("f2b-{jail}"), format!("f2b-{jail}6")] {
        let text = run(lab, &["ipset", "list", &set]);
        let Some((_, members)) = text.split_once("Members:") else {
            continue;
        };
        found.extend(
            members
                .lines()
                .filter_map(|line| line.split_whitespace().next())
                .map(str::to_owned),
        );
    }
    found.sort();
    found
}

fn banned(server: &ServerProcess, jail: &str) -> Vec<String> {
    let (_, text) = server.client(&["get", jail, "banip"]);
    let mut list: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    list.sort();
    list
}

#[test]
fn native_ipset_actions_drop_attackers_as_the_stock_commands_would() {
    let Some(f2b) = fail2ban_dir() else { return };
    let mut lab = lab_or_skip!();
    let stock_lab = lab_or_skip!();
    for (_, _, port, _) in JAILS {
        lab.listen_tcp(port);
    }
    let dir = TestDir::new();
    write_config(&dir, &f2b);
    let stock_dir = TestDir::new();
    write_config(&stock_dir, &f2b);
    let server = ServerProcess::start(&lab.server, &dir, None);
    let stock = ServerProcess::start_in_with_env(
        &stock_lab.server,
        &stock_dir,
        &[("FERROBAN_NATIVE_ACTIONS", "commands")],
    );
    let (_, out, _) =
        crate::support::cli::run(&["config-test", "-c", &dir.conf().to_string_lossy()]);
    for (jail, action, ..) in JAILS {
        assert!(
            out.contains(&format!(
                "jail '{jail}': action {action} runs natively (stock definition)"
            )),
            "config-test names the backend of {action}:\n{out}"
        );
    }
    let log = std::fs::read_to_string(dir.server_log()).unwrap_or_default();
    assert!(
        log.contains("jail 'multi': action iptables-ipset-proto6 runs natively (stock definition)"),
        "the start-up log names the backend:\n{log}"
    );
    let bystander_target = lab.server_addr.toward_bystander_v4.clone();
    for (jail, action, port, ipv6) in JAILS {
        let mut attackers = vec![(&lab.attacker.ipv4, &lab.server_addr.toward_attacker_v4)];
        let mut stock_attackers = vec![&stock_lab.attacker.ipv4];
        if ipv6 {
            attackers.push((&lab.attacker.ipv6, &lab.server_addr.toward_attacker_v6));
            stock_attackers.push(&stock_lab.attacker.ipv6);
        }
        for (attacker, target) in &attackers {
            assert!(
                lab.connects(&lab.attacker.netns, target, port),
                "[{action}] {attacker} reaches port {port} before its ban"
            );
            ban(&server, jail, attacker);
            assert!(
                !lab.connects(&lab.attacker.netns, target, port),
                "[{action}] {attacker} dropped; firewall:\n{}",
                normalized_firewall(&lab)
            );
            assert!(
                lab.connects(&lab.bystander.netns, &bystander_target, port),
                "[{action}] the bystander still connects"
            );
        }
        for attacker in stock_attackers {
            ban(&stock, jail, attacker);
        }
        assert_eq!(
            kernel_set(&lab, jail),
            banned(&server, jail),
            "[{action}] the kernel's set holds the jail's bans"
        );
        assert_eq!(
            normalized_firewall(&lab),
            normalized_firewall(&stock_lab),
            "[{action}] the native sets and rules are the stock commands' ones"
        );
        for (attacker, _) in &attackers {
            let (ok, text) = server.client(&["set", jail, "unbanip", attacker]);
            assert!(
                ok && text.trim() == "1",
                "[{action}] unbanip {attacker}: {text}"
            );
        }
        assert!(kernel_set(&lab, jail).is_empty(), "[{action}] unbanned");
        assert!(
            lab.connects(
                &lab.attacker.netns,
                &lab.server_addr.toward_attacker_v4,
                port
            ),
            "[{action}] the attacker connects again"
        );
    }
    ban(&server, "multi", "192.0.2.9");
    let set = run(&lab, &["ipset", "list", "f2b-multi"]);
    assert!(
        set.lines()
            .any(|line| line.starts_with("192.0.2.9 timeout ")
                && !line.starts_with("192.0.2.9 timeout 0")),
        "the element carries the ban's time:\n{set}"
    );
    let (ok, text) = server.client(&["set", "old", "banip", "2001:db8::1"]);
    let log = std::fs::read_to_string(dir.server_log()).unwrap_or_default();
    assert!(
        log.contains("not supported: IPv6 in an iptables-ipset-proto4 set"),
        "an IPv6 ban on the IPv4-only set is a clear error ({ok}, {text}):\n{log}"
    );
    drop(server);
    let left = normalized_firewall(&lab);
    assert!(
        !left.contains("f2b-") && !run(&lab, &["ipset", "list", "-n"]).contains("f2b-"),
        "a clean stop removes the sets and rules:\n{left}"
    );
}

#[test]
fn native_ipset_set_destroyed_behind_its_back_is_made_again() {
    let Some(f2b) = fail2ban_dir() else { return };
    let mut lab = lab_or_skip!();
    lab.listen_tcp(110);
    let dir = TestDir::new();
    write_config(&dir, &f2b);
    let server = ServerProcess::start(&lab.server, &dir, None);
    let target = lab.server_addr.toward_attacker_v4.clone();
    ban(&server, "multi", &lab.attacker.ipv4);
    let rule = "-p tcp -m multiport --dports 110 -m set --match-set f2b-multi src -j REJECT --reject-with icmp-port-unreachable";
    let mut delete = vec!["iptables", "-w", "-D", "INPUT"];
    delete.extend(rule.split(' '));
    run(&lab, &delete);
    run(&lab, &["ipset", "destroy", "f2b-multi"]);
    assert!(
        lab.connects(&lab.attacker.netns, &target, 110),
        "the ban is gone"
    );
    ban(&server, "multi", "192.0.2.5");
    let mut expected = vec!["192.0.2.5".to_owned(), lab.attacker.ipv4.clone()];
    expected.sort();
    assert_eq!(
        kernel_set(&lab, "multi"),
        expected,
        "the repaired set holds the new ban and the earlier one; log:\n{}",
        dir.log_text()
    );
    assert!(
        !lab.connects(&lab.attacker.netns, &target, 110),
        "dropped again"
    );
    let rules = run(&lab, &["iptables", "-S", "INPUT"]);
    assert_eq!(
        rules.matches("f2b-multi").count(),
        1,
        "one rule after the repair:\n{rules}"
    );
}

/// ferroban's own ipset actions, as shipped, run in-process: with each as the sshd jail's
/// `banaction`, the attacker (IPv4 and IPv6) is dropped on port 22 and the bystander is not,
/// and sets and rules equal those the action's commands make when run.
#[test]
fn shipped_ipset_actions_run_natively_as_their_commands_would() {
    for (action, sets) in [
        ("iptables-ipset", ["ferroban-sshd", "ferroban-sshd6"]),
        ("iptables-ipset-proto6", ["ferroban-sshd", "ferroban-sshd6"]),
        (
            "iptables-ipset-proto6-allports",
            ["ferroban-sshd", "ferroban-sshd6"],
        ),
        ("iptables-ipset-proto4", ["f2b-sshd", ""]),
    ] {
        let mut lab = lab_or_skip!();
        let commands_lab = lab_or_skip!();
        lab.listen_tcp(22);
        let shipped = |dir: &TestDir| {
            crate::daemon_common::copy_dir(&crate::support::cli::default_config(), &dir.conf());
            dir.write_server_local();
            std::fs::write(dir.path("auth.log"), "").unwrap();
            let local = format!(
                "[sshd]\nlogpath = {}\nbanaction = {action}\n",
                dir.path("auth.log").display()
            );
            dir.write_conf("jail.local", &local);
        };
        let (dir, commands_dir) = (TestDir::new(), TestDir::new());
        shipped(&dir);
        shipped(&commands_dir);
        let server = ServerProcess::start(&lab.server, &dir, None);
        let by_commands = ServerProcess::start_in_with_env(
            &commands_lab.server,
            &commands_dir,
            &[("FERROBAN_NATIVE_ACTIONS", "commands")],
        );
        let log = std::fs::read_to_string(dir.server_log()).unwrap_or_default();
        assert!(
            log.contains(&format!("jail 'sshd': action {action} runs natively")),
            "{log}"
        );
        let mut attackers = vec![(&lab.attacker.ipv4, &lab.server_addr.toward_attacker_v4)];
        if !sets[1].is_empty() {
            attackers.push((&lab.attacker.ipv6, &lab.server_addr.toward_attacker_v6));
        }
        for (attacker, target) in &attackers {
            assert!(
                lab.connects(&lab.attacker.netns, target, 22),
                "[{action}] before"
            );
            ban(&server, "sshd", attacker);
            assert!(
                !lab.connects(&lab.attacker.netns, target, 22),
                "[{action}] dropped"
            );
        }
        for attacker in [&commands_lab.attacker.ipv4, &commands_lab.attacker.ipv6]
            .into_iter()
            .take(attackers.len())
        {
            ban(&by_commands, "sshd", attacker);
        }
        let bystander = &lab.server_addr.toward_bystander_v4;
        assert!(
            lab.connects(&lab.bystander.netns, bystander, 22),
            "[{action}] bystander"
        );
        let listed = run(&lab, &["ipset", "list", sets[0]]);
        assert!(
            listed.contains(lab.attacker.ipv4.as_str()),
            "[{action}] {listed}"
        );
        assert_eq!(
            normalized_firewall(&lab),
            normalized_firewall(&commands_lab),
            "[{action}] as its commands make them"
        );
        drop(server);
        drop(by_commands);
    }
}
