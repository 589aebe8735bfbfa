//! What users read, kept as snapshots (insta): the `regex` report, `status` and
//! `status JAIL`, and configuration errors with their include chains. A change to any of
//! them shows as a diff to review (`cargo insta review`), not as a silent drift from what
//! fail2ban's users and their scripts expect.

use std::path::Path;
use std::process::Command;

use crate::daemon_common::{BIN, ServerProcess, TestDir};
use crate::record_jail::{base, jail};

/// `text` with the test's temporary directory written as `[DIR]`.
fn normalised(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

#[test]
fn regex_report() {
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    std::fs::write(
        &log,
        "Dec  1 10:00:00 host e2e: auth failed from 192.0.2.1\n\
         Dec  1 10:00:01 host e2e: nothing to see\n\
         Dec  1 10:00:02 host e2e: auth failed from 2001:db8::7\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["regex", "--print-all-matched"])
        .arg(&log)
        .arg("auth failed from <HOST>$")
        .output()
        .unwrap();
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    // The one line that depends on the machine's speed.
    let report: String = report
        .lines()
        .map(|line| match line.starts_with("[processed in ") {
            true => "[processed in X sec]",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(normalised(&report, dir.root.path()));
}

#[test]
fn configuration_errors_with_their_include_chains() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "jail.conf",
        &format!(
            "[INCLUDES]\nafter = paths.conf\n\n{}{}",
            jail("alpha", &dir.path("a.log"), "bantime.factor = two"),
            jail("beta", &dir.path("b.log"), "backend = inotfy")
        ),
    );
    dir.write_conf("paths.conf", "[INCLUDES]\nbefore = jail.conf\n");
    dir.write_conf(
        "filter.d/broken.conf",
        "[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = (<HOST>\n",
    );
    dir.write_conf("filter.d/common.conf", "[DEFAULT]\n_daemon = e2e\n");
    dir.write_conf(
        "jail.local",
        "[gamma]\nenabled = true\nfilter = broken\nlogpath = /x\n",
    );
    let out = Command::new(BIN)
        .args(["config-test", "-c"])
        .arg(dir.conf())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    insta::assert_snapshot!(normalised(&errors, dir.root.path()));
}

#[test]
fn status_and_jail_status() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "jail.conf",
        &format!(
            "{}{}",
            jail("alpha", &dir.path("a.log"), ""),
            jail("beta", &dir.path("b.log"), "")
        ),
    );
    let server = ServerProcess::start_here(&dir);
    let (ok, _) = server.client(&["set", "alpha", "banip", "192.0.2.5", "2001:db8::5"]);
    assert!(ok);
    let (_, status) = server.client(&["status"]);
    let (_, alpha) = server.client(&["status", "alpha"]);
    let text = format!("$ status\n{status}$ status alpha\n{alpha}");
    insta::assert_snapshot!(normalised(&text, dir.root.path()));
}

#[test]
fn help_texts() {
    let mut text = String::new();
    for args in [
        &["--help"][..],
        &["server", "--help"],
        &["client", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        text.push_str(&format!("$ ferroban {}\n", args.join(" ")));
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    insta::assert_snapshot!(text);
}
