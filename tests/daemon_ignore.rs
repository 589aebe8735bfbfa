//! What a jail ignores, through the real server: `ignoreip` (`file:`, DNS names, CIDR),
//! `ignorecommand`, `usedns`, and changes to the ignore list at run time.

use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, wait_until};
use crate::record_jail::{base, fail, jail, record};

#[test]
fn ignoreip_file_dns_cidr_and_ignorecommand_keep_addresses_unbanned() {
    let dir = TestDir::new();
    base(&dir);
    let list = dir.path("ignore.list");
    std::fs::write(&list, "# trusted\n198.51.100.7\n").unwrap();
    let log = dir.path("a.log");
    let extra = format!(
        "ignoreip = file:{} localhost 192.0.2.0/30\nignorecommand = test <ip> = 203.0.113.9\n",
        list.display()
    );
    dir.write_conf("jail.conf", &jail("alpha", &log, &extra));
    let server = ServerProcess::start_here(&dir);
    for host in [
        "198.51.100.7",
        "127.0.0.1",
        "192.0.2.1",
        "203.0.113.9",
        "203.0.113.10",
    ] {
        fail(&log, host, 3);
    }
    let banned = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban alpha 203.0.113.10")
    });
    assert!(
        banned,
        "the one address not ignored is banned:\n{}",
        dir.log_text()
    );
    // The jail handles its failures in the order of their lines: the ignored ones, before
    // the banned one, are done with.
    let (_, list_text) = server.client(&["get", "alpha", "banip"]);
    assert_eq!(list_text.trim(), "203.0.113.10", "{}", dir.log_text());
    let log_text = dir.log_text();
    for (ip, why) in [
        ("198.51.100.7", "ip"),
        ("127.0.0.1", "dns"),
        ("192.0.2.1", "ip"),
        ("203.0.113.9", "command"),
    ] {
        assert!(
            log_text.contains(&format!("Ignore {ip} by {why}")),
            "{ip} ignored by {why}:\n{log_text}"
        );
    }
}

#[test]
fn usedns_decides_what_a_host_name_counts_against() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    let mut jails = String::new();
    for mode in ["yes", "warn", "no", "raw"] {
        jails.push_str(&jail(
            &format!("dns-{mode}"),
            &log,
            &format!("usedns = {mode}\n"),
        ));
    }
    dir.write_conf("jail.conf", &jails);
    let server = ServerProcess::start_here(&dir);
    fail(&log, "localhost", 3);
    // Each jail reads its lines in order: once it banned the address that comes last, it
    // has done all it will with the names before.
    fail(&log, "192.0.2.250", 3);
    let done = wait_until(Duration::from_secs(10), || {
        let text = record(&dir);
        ["yes", "warn", "no", "raw"]
            .iter()
            .all(|m| text.contains(&format!("ban dns-{m} 192.0.2.250")))
    });
    assert!(done, "{}\n{}", record(&dir), dir.log_text());
    let banned = |jail: &str| {
        let list = server.client(&["get", jail, "banip"]).1;
        list.replace("192.0.2.250", "").trim().to_string()
    };
    assert!(
        banned("dns-yes").contains("127.0.0.1"),
        "{}",
        banned("dns-yes")
    );
    assert!(banned("dns-warn").contains("127.0.0.1"));
    // raw: the name itself is banned; being attacker-chosen text and no address, it is
    // listed but never handed to a command.
    assert_eq!(banned("dns-raw").trim(), "localhost");
    assert!(
        !record(&dir).contains("ban dns-raw localhost"),
        "{}",
        record(&dir)
    );
    assert_eq!(
        banned("dns-no").trim(),
        "",
        "usedns = no ignores host names"
    );
    assert!(
        dir.log_text()
            .contains("Determined IP using DNS Lookup: localhost"),
        "warn logs the lookup:\n{}",
        dir.log_text()
    );
}

#[test]
fn getters_ignore_list_changes_and_unban_by_address() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    let extra = "findtime = 1h\nignoreip = 10.0.0.0/8\n";
    dir.write_conf("jail.conf", &jail("alpha", &log, extra));
    let server = ServerProcess::start_here(&dir);
    let get = |key: &str| server.client(&["get", "alpha", key]).1;
    assert_eq!(get("bantime").trim(), "600");
    assert_eq!(get("findtime").trim(), "3600");
    assert!(
        get("logpath").contains(&log.display().to_string()),
        "{}",
        get("logpath")
    );
    assert!(
        get("ignoreip").contains("10.0.0.0/8"),
        "{}",
        get("ignoreip")
    );

    let (ok, text) = server.client(&["set", "alpha", "addignoreip", "192.0.2.77"]);
    assert!(ok && text.contains("192.0.2.77"), "{text}");
    fail(&log, "192.0.2.77", 3);
    let ignored = wait_until(Duration::from_secs(5), || {
        dir.log_text().contains("Ignore 192.0.2.77")
    });
    assert!(ignored, "{}", dir.log_text());
    let (ok, text) = server.client(&["set", "alpha", "delignoreip", "192.0.2.77"]);
    assert!(ok && !text.contains("192.0.2.77"), "{text}");
    fail(&log, "192.0.2.77", 3);
    let banned = wait_until(Duration::from_secs(5), || {
        record(&dir).contains("ban alpha 192.0.2.77")
    });
    assert!(banned, "{}", dir.log_text());

    let (ok, text) = server.client(&["unban", "192.0.2.77"]);
    assert!(ok && text.trim() == "1", "{text}");
    assert!(
        record(&dir).contains("unban alpha 192.0.2.77"),
        "{}",
        record(&dir)
    );
    let (_, status) = server.client(&["status", "alpha"]);
    assert!(
        status.starts_with("Status for the jail: alpha\n|- Filter\n"),
        "{status}"
    );
    assert!(status.contains("`- Actions\n"), "{status}");
    assert!(status.contains("Total banned:\t1"), "{status}");
}
