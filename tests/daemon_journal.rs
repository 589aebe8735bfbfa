//! `backend = systemd`: failures written to journald with `systemd-cat` are banned.
//!
//! Opt-in with FERROBAN_JOURNAL_TESTS=1 (scripts/test sets it), as the source crate's
//! journal tests: it writes into the machine's journal and, when no journald listens,
//! starts `/lib/systemd/systemd-journald` as a background process (root only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::daemon_common::{ServerProcess, TestDir, wait_until};

const SOCKET: &str = "/run/systemd/journal/socket";
const JOURNALD: [&str; 2] = [
    "/lib/systemd/systemd-journald",
    "/usr/lib/systemd/systemd-journald",
];

/// Stops the journald this test started, even when the test fails.
struct Journald(Option<Child>);

impl Drop for Journald {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn journald_listening() -> bool {
    UnixDatagram::unbound()
        .and_then(|socket| socket.connect(SOCKET))
        .is_ok()
}

fn journald() -> Option<Journald> {
    if journald_listening() {
        return Some(Journald(None));
    }
    let Some(binary) = JOURNALD.iter().find(|p| std::path::Path::new(p).exists()) else {
        eprintln!("skipped: no systemd-journald binary (apt-get install systemd)");
        return None;
    };
    let child = Command::new(binary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = Journald(Some(child));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !journald_listening() {
        if Instant::now() > deadline {
            eprintln!("skipped: {binary} did not start listening on {SOCKET}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(guard)
}

fn systemd_cat(tag: &str, message: &str) {
    let mut child = Command::new("systemd-cat")
        .args(["-t", tag])
        .stdin(Stdio::piped())
        .spawn()
        .expect("systemd-cat");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), message.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn journal_failures_are_banned() {
    if std::env::var_os("FERROBAN_JOURNAL_TESTS").is_none_or(|v| v != "1") {
        eprintln!("skipped: set FERROBAN_JOURNAL_TESTS=1 to run the journald test");
        return;
    }
    let have = |name: &str| Command::new(name).arg("--version").output().is_ok();
    if !have("journalctl") || !have("systemd-cat") {
        eprintln!("skipped: journalctl or systemd-cat missing (apt-get install systemd)");
        return;
    }
    let Some(_journald) = journald() else { return };
    let tag = format!(
        "ferroban-e2e-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.conf()).unwrap();
    dir.write_server_local();
    // The daemon's own log goes to the journal too (fail2ban.local is read after .conf).
    let jail = format!("jr{}", std::process::id());
    dir.write_conf(
        "fail2ban.d/journal.local",
        "[Definition]\nlogtarget = SYSTEMD-JOURNAL\n",
    );
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = auth failed from <HOST>$\n",
    );
    let record = dir.path("bans");
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionban = echo ban <ip> >> {0}\nactionunban = echo unban <ip> >> {0}\n",
            record.display()
        ),
    );
    dir.write_conf(
        "jail.conf",
        &format!(
            "[{jail}]\nenabled = true\nbackend = systemd\nfilter = e2e\n\
             journalmatch = SYSLOG_IDENTIFIER={tag}\nmaxretry = 3\nfindtime = 600\n\
             bantime = 600\nignoreself = false\naction = record\n"
        ),
    );
    let server = ServerProcess::start_here(&dir);
    // Written right away: a journal followed from its tail would lose these.
    for _ in 0..3 {
        systemd_cat(&tag, "auth failed from 192.0.2.77\n");
    }
    systemd_cat("ferroban-e2e-other", "auth failed from 192.0.2.78\n");
    let banned = wait_until(Duration::from_secs(15), || {
        std::fs::read_to_string(&record).is_ok_and(|t| t.contains("ban 192.0.2.77"))
    });
    assert!(banned, "no ban from the journal");
    let (ok, status) = server.client(&["status", &jail]);
    assert!(
        ok && status.contains("Banned IP list:\t192.0.2.77"),
        "{status}"
    );
    assert!(
        status.contains(&format!("Journal matches:\tSYSLOG_IDENTIFIER={tag}")),
        "{status}"
    );
    assert!(
        !status.contains("192.0.2.78"),
        "other identifiers are not matched:\n{status}"
    );
    let logged = wait_until(Duration::from_secs(10), || {
        let out = Command::new("journalctl")
            .args(["--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=ferroban"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("[{jail}] Ban 192.0.2.77"))
    });
    assert!(
        logged,
        "logtarget SYSTEMD-JOURNAL: the Ban line is in the journal"
    );
}
