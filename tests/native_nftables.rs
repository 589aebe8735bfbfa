//! fail2ban's stock nftables actions run natively: for `nftables`, `nftables-multiport` and
//! `nftables-allports`, an IPv4 and an IPv6 attacker are dropped and the bystander is not;
//! the ruleset is the one the stock commands make (run in a second lab with
//! `FERROBAN_NATIVE_ACTIONS=commands`), but for the set's `timeout` flag and the elements;
//! `get JAIL banip` and the kernel's set agree; the kernel's expiry and ferroban's agree; a
//! table deleted behind ferroban's back is made again with every ban; a user's `actionban`
//! runs as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, wait_until};
use crate::lab_or_skip;
use crate::support::fail2ban_dir;
use crate::support::netns::Lab;

/// One jail per stock action, each on its own port.
const JAILS: [(&str, &str, u16); 3] = [
    ("plain", "nftables", 143),
    ("multi", "nftables-multiport", 110),
    ("all", "nftables-allports", 25),
];

fn write_config(dir: &TestDir, f2b: &Path, ban_time: u32) {
    dir.stock_config(f2b);
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = e2e: auth failed from <HOST>$\nignoreregex =\n",
    );
    let mut local = format!("[DEFAULT]\nmaxretry = 3\nfindtime = 600\nbantime = {ban_time}\n\n");
    for (name, action, port) in JAILS {
        local.push_str(&format!(
            "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {log}\n\
             action = {action}[name={name}, port={port}, protocol=tcp]\n\n",
            log = dir.path(&format!("{name}.log")).display(),
        ));
    }
    dir.write_conf("jail.local", &local);
    for (name, _, _) in JAILS {
        std::fs::write(dir.path(&format!("{name}.log")), "").unwrap();
    }
}

fn nft(lab: &Lab, args: &[&str]) -> String {
    let mut argv = vec!["nft"];
    argv.extend_from_slice(args);
    let out = lab.exec(&lab.server, &argv);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `nft list ruleset` without what may differ: elements, the `timeout` flag.
fn normalized_ruleset(lab: &Lab) -> String {
    let mut kept = Vec::new();
    let mut in_elements = false;
    for line in nft(lab, &["list", "ruleset"]).lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("elements = {") {
            in_elements = !trimmed.ends_with('}');
            continue;
        }
        if in_elements {
            in_elements = !trimmed.ends_with('}');
            continue;
        }
        match trimmed {
            "flags timeout" => {}
            "flags interval,timeout" => kept.push(line.replace("interval,timeout", "interval")),
            _ => kept.push(line.to_owned()),
        }
    }
    kept.join("\n")
}

fn ban(server: &ServerProcess, jail: &str, ip: &str) {
    let (ok, text) = server.client(&["set", jail, "banip", ip]);
    assert!(ok, "banip {ip} in {jail}: {text}");
}

/// The addresses of a jail's sets, as the kernel holds them, sorted.
fn kernel_set(lab: &Lab, jail: &str) -> Vec<String> {
    let mut found = Vec::new();
    for set in [format!("addr-set-{jail}"), format!("addr6-set-{jail}")] {
        let text = nft(lab, &["list", "set", "inet", "f2b-table", &set]);
        let Some((_, body)) = text.split_once("elements = {") else {
            continue;
        };
        let body = body.split_once('}').map_or(body, |(body, _)| body);
        found.extend(
            body.split(',')
                .filter_map(|item| item.split_whitespace().next())
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
fn native_nftables_actions_drop_attackers_as_the_stock_commands_would() {
    let Some(f2b) = fail2ban_dir() else { return };
    let mut lab = lab_or_skip!();
    let stock_lab = lab_or_skip!();
    for (_, _, port) in JAILS {
        lab.listen_tcp(port);
    }
    let dir = TestDir::new();
    write_config(&dir, &f2b, 600);
    let stock_dir = TestDir::new();
    write_config(&stock_dir, &f2b, 600);
    let server = ServerProcess::start(&lab.server, &dir, None);
    let stock = ServerProcess::start_in_with_env(
        &stock_lab.server,
        &stock_dir,
        &[("FERROBAN_NATIVE_ACTIONS", "commands")],
    );
    let log = std::fs::read_to_string(dir.server_log()).unwrap_or_default();
    assert!(
        log.contains("jail 'multi': action nftables-multiport runs natively (stock definition)"),
        "the start-up log names the backend:\n{log}"
    );
    let bystander_target = lab.server_addr.toward_bystander_v4.clone();
    for (jail, action, port) in JAILS {
        for (attacker, target) in [
            (&lab.attacker.ipv4, &lab.server_addr.toward_attacker_v4),
            (&lab.attacker.ipv6, &lab.server_addr.toward_attacker_v6),
        ] {
            assert!(
                lab.connects(&lab.attacker.netns, target, port),
                "[{action}] {attacker} reaches port {port} before its ban"
            );
            ban(&server, jail, attacker);
            assert!(
                !lab.connects(&lab.attacker.netns, target, port),
                "[{action}] {attacker} dropped; ruleset:\n{}",
                nft(&lab, &["list", "ruleset"])
            );
            assert!(
                lab.connects(&lab.bystander.netns, &bystander_target, port),
                "[{action}] the bystander still connects"
            );
        }
        for attacker in [&stock_lab.attacker.ipv4, &stock_lab.attacker.ipv6] {
            ban(&stock, jail, attacker);
        }
        assert_eq!(
            kernel_set(&lab, jail),
            banned(&server, jail),
            "[{action}] the kernel's set holds the jail's bans"
        );
        assert_eq!(
            normalized_ruleset(&lab),
            normalized_ruleset(&stock_lab),
            "[{action}] the native ruleset is the stock commands' one"
        );
        for attacker in [&lab.attacker.ipv4, &lab.attacker.ipv6] {
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
    let set = nft(
        &lab,
        &["list", "set", "inet", "f2b-table", "addr-set-multi"],
    );
    assert!(
        set.contains("flags timeout"),
        "the set has kernel timeouts:\n{set}"
    );
    drop(server);
    let rules = nft(&lab, &["list", "ruleset"]);
    assert!(
        !rules.contains("f2b"),
        "a clean stop removes the table:\n{rules}"
    );
}

#[test]
fn native_nftables_kernel_expiry_and_unban_agree() {
    let Some(f2b) = fail2ban_dir() else { return };
    let lab = lab_or_skip!();
    let dir = TestDir::new();
    write_config(&dir, &f2b, 2);
    let server = ServerProcess::start(&lab.server, &dir, None);
    ban(&server, "multi", &lab.attacker.ipv4);
    let set = nft(
        &lab,
        &["list", "set", "inet", "f2b-table", "addr-set-multi"],
    );
    assert!(
        set.contains(&format!("{} timeout 2s", lab.attacker.ipv4)),
        "the element carries the ban's time:\n{set}"
    );
    let both_gone = wait_until(Duration::from_secs(20), || {
        kernel_set(&lab, "multi").is_empty() && banned(&server, "multi").is_empty()
    });
    assert!(both_gone, "kernel and ferroban both end the ban");
    let log = std::fs::read_to_string(dir.server_log()).unwrap_or_default();
    assert!(
        !log.contains("ERROR"),
        "unbanning an element the kernel expired is no error:\n{log}"
    );
}

#[test]
fn native_nftables_table_deleted_behind_its_back_is_made_again() {
    let Some(f2b) = fail2ban_dir() else { return };
    let mut lab = lab_or_skip!();
    lab.listen_tcp(110);
    let dir = TestDir::new();
    write_config(&dir, &f2b, 600);
    let server = ServerProcess::start(&lab.server, &dir, None);
    let target = lab.server_addr.toward_attacker_v4.clone();
    ban(&server, "multi", &lab.attacker.ipv4);
    nft(&lab, &["delete", "table", "inet", "f2b-table"]);
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
}

#[test]
fn native_nftables_user_actionban_runs_the_users_commands() {
    let Some(f2b) = fail2ban_dir() else { return };
    let lab = lab_or_skip!();
    let dir = TestDir::new();
    write_config(&dir, &f2b, 600);
    let marker = dir.path("banned-by-user-command");
    dir.write_conf(
        "action.d/nftables.local",
        &format!(
            "[Definition]\nactionban = <nftables> add element <table_family> <table> <addr_set> \\{{ <ip> \\}}\n\
             \x20           echo <ip> >> {}\n",
            marker.display()
        ),
    );
    let (_, out, _) =
        crate::support::cli::run(&["config-test", "-c", &dir.conf().to_string_lossy()]);
    assert!(
        out.contains(
            "jail 'multi': action nftables-multiport runs its commands (actionban changed in"
        ) && out.contains("nftables.local"),
        "config-test names the change:\n{out}"
    );
    let server = ServerProcess::start(&lab.server, &dir, None);
    ban(&server, "multi", &lab.attacker.ipv4);
    let written = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(
        written.trim(),
        lab.attacker.ipv4,
        "the user's actionban ran"
    );
    let set = nft(
        &lab,
        &["list", "set", "inet", "f2b-table", "addr-set-multi"],
    );
    assert!(
        set.contains(&lab.attacker.ipv4) && !set.contains("flags"),
        "the user's commands made the stock set:\n{set}"
    );
}

#[test]
fn native_nftables_blocklist_file_bans_good_lines_and_reports_bad_ones() {
    let Some(f2b) = fail2ban_dir() else { return };
    let lab = lab_or_skip!();
    let dir = TestDir::new();
    write_config(&dir, &f2b, 600);
    let _server = ServerProcess::start(&lab.server, &dir, None);
    let list = dir.path("blocklist.txt");
    std::fs::write(
        &list,
        "# from a feed\n192.0.2.10\n198.51.100.20  # noted\nnot-an-address\n\n2001:db8::30\n10.0.0.300\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferroban"))
        .args(["client", "-c"])
        .arg(dir.conf())
        .arg("-s")
        .arg(dir.socket())
        .args(["set", "multi", "banip", "--file"])
        .arg(&list)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 4: not an address or network: not-an-address")
            && stderr.contains("line 7: not an address or network: 10.0.0.300"),
        "bad lines reported with their numbers:\n{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3",
        "three banned"
    );
    assert_eq!(
        kernel_set(&lab, "multi"),
        ["192.0.2.10", "198.51.100.20", "2001:db8::30"],
        "the good lines are in the kernel's sets"
    );
}

/// ferroban's own configuration, as shipped, bans with its nftables set in-process: the
/// sshd jail's attacker (five failed passwords in the log) is dropped on port 22 and the
/// bystander is not, and the ruleset is the one the action's commands make when run.
#[test]
fn shipped_configuration_bans_with_a_native_nftables_set() {
    let mut lab = lab_or_skip!();
    let commands_lab = lab_or_skip!();
    lab.listen_tcp(22);
    let shipped = |dir: &TestDir| {
        crate::daemon_common::copy_dir(&crate::support::cli::default_config(), &dir.conf());
        dir.write_server_local();
        std::fs::write(dir.path("auth.log"), "").unwrap();
        let local = format!("[sshd]\nlogpath = {}\n", dir.path("auth.log").display());
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
        log.contains("jail 'sshd': action nftables-multiport runs natively (stock definition)"),
        "{log}"
    );
    let target = &lab.server_addr.toward_attacker_v4;
    assert!(
        lab.connects(&lab.attacker.netns, target, 22),
        "before the ban"
    );
    for (dir, attacker) in [
        (&dir, &lab.attacker.ipv4),
        (&commands_dir, &commands_lab.attacker.ipv4),
    ] {
        for port in 40_000..40_005 {
            crate::daemon_common::append_line(
                &dir.path("auth.log"),
                &format!(
                    "{} mx1 sshd[4242]: Failed password for root from {attacker} port {port} ssh2",
                    crate::daemon_common::syslog_now()
                ),
            );
        }
    }
    let in_set = |lab: &Lab, ip: &str| {
        nft(lab, &["list", "set", "inet", "ferroban", "addr-set-sshd"]).contains(ip)
    };
    assert!(
        wait_until(Duration::from_secs(20), || in_set(&lab, &lab.attacker.ipv4)),
        "{}",
        dir.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(20), || in_set(
            &commands_lab,
            &commands_lab.attacker.ipv4
        )),
        "{}",
        commands_dir.log_text()
    );
    assert!(!lab.connects(&lab.attacker.netns, target, 22), "dropped");
    let bystander = &lab.server_addr.toward_bystander_v4;
    assert!(
        lab.connects(&lab.bystander.netns, bystander, 22),
        "bystander"
    );
    assert_eq!(normalized_ruleset(&lab), normalized_ruleset(&commands_lab));
    drop(server);
    drop(by_commands);
}
