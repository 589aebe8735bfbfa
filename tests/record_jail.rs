//! The jail most daemon tests run: the `e2e` filter (`auth failed from <HOST>`) and a
//! `record` action that appends what it is asked to do to the file `record`.
#![allow(dead_code)]

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now};

/// A configuration whose `e2e` filter finds `auth failed from <HOST>` and whose `record`
/// action appends what it does to `record`.
pub fn base(dir: &TestDir) {
    crate::daemon_common::e2e_base(dir);
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionstart = echo start <name> >> {0}\n\
             actionstop = echo stop <name> >> {0}\n\
             actionban = echo ban <name> <ip> >> {0}\n\
             actionunban = echo unban <name> <ip> >> {0}\n",
            dir.path("record").display()
        ),
    );
}

pub fn record(dir: &TestDir) -> String {
    std::fs::read_to_string(dir.path("record")).unwrap_or_default()
}

pub fn jail(name: &str, log: &std::path::Path, extra: &str) -> String {
    format!(
        "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 3\nbantime = 600\n\
         ignoreself = false\naction = record\n{extra}\n",
        log.display()
    )
}

pub fn fail(log: &std::path::Path, host: &str, times: usize) {
    for _ in 0..times {
        append_line(
            log,
            &format!("{} host e2e: auth failed from {host}", syslog_now()),
        );
    }
}

pub fn total_failed(server: &ServerProcess, jail: &str) -> Option<u64> {
    let (_, text) = server.client(&["status", jail]);
    let line = text.lines().find(|l| l.contains("Total failed:"))?;
    line.rsplit('\t').next()?.trim().parse().ok()
}

/// The ban time (seconds) of the first ban `get JAIL banip --with-time` lists.
pub fn first_ban_time(server: &ServerProcess, jail: &str) -> Option<String> {
    let (_, text) = server.client(&["get", jail, "banip", "--with-time"]);
    text.split(" + ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_string)
}

/// Moves the clock of a server started with `FERROBAN_TEST_CLOCK=1` forward.
pub fn advance_clock(server: &ServerProcess, seconds: u32) {
    let (ok, text) = server.client(&["test-clock", "advance", &seconds.to_string()]);
    assert!(ok, "{text}");
}

/// A ban of `seconds` ends then on the server's clock: still there two seconds before,
/// gone a second after. (Bans start on a whole second and real time moves on meanwhile,
/// so the end is only known to within a second.)
pub fn assert_ban_lasts(server: &ServerProcess, jail: &str, seconds: u32) {
    advance_clock(server, seconds.saturating_sub(2));
    assert!(
        first_ban_time(server, jail).is_some(),
        "banned until its end"
    );
    advance_clock(server, 3);
    assert_eq!(first_ban_time(server, jail), None, "unbanned at its end");
}
