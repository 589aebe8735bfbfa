//! `logtarget = SYSLOG` through the real `ferroban server`: the log lines arrive at the
//! `syslogsocket` as fail2ban's Python `SysLogHandler` sends them —
//! `<priority>name[pid]: LEVEL message` and a NUL, with facility `daemon`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now};

/// The records received on `socket` until one contains `needle` (or 10 s pass).
fn receive_until(socket: &UnixDatagram, needle: &str, records: &mut Vec<String>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = vec![0u8; 65536];
    while Instant::now() < deadline {
        let Ok(size) = socket.recv(&mut buffer) else {
            continue;
        };
        let record = String::from_utf8_lossy(&buffer[..size]).into_owned();
        let found = record.contains(needle);
        records.push(record);
        if found {
            return true;
        }
    }
    false
}

#[test]
fn syslog_target_sends_fail2ban_records_to_the_syslogsocket() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.conf()).unwrap();
    let syslog_path = dir.path("syslog.sock");
    let syslog = UnixDatagram::bind(&syslog_path).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    dir.write_conf(
        "fail2ban.local",
        &format!(
            "[Definition]\nsocket = {}\npidfile = {}\ndbfile = :memory:\nlogtarget = SYSLOG\n\
             syslogsocket = {}\nloglevel = INFO\n",
            dir.socket().display(),
            dir.pidfile().display(),
            syslog_path.display()
        ),
    );
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = auth failed from <HOST>$\n",
    );
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionban = echo ban <ip> >> {}\n",
            dir.path("record").display()
        ),
    );
    let log = dir.path("a.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 2\n\
             ignoreself = false\naction = record\n",
            log.display()
        ),
    );
    let server = ServerProcess::start_here(&dir);
    let pid = server.pid().unwrap();
    let (_, target) = server.client(&["get", "logtarget"]);
    assert!(target.contains("SYSLOG"), "{target}");
    let (_, socket) = server.client(&["get", "syslogsocket"]);
    assert!(
        socket.contains(&syslog_path.display().to_string()),
        "{socket}"
    );

    for _ in 0..2 {
        append_line(
            &log,
            &format!("{} host e2e: auth failed from 192.0.2.10", syslog_now()),
        );
    }
    let mut records = Vec::new();
    let banned = receive_until(&syslog, "Ban 192.0.2.10", &mut records);
    assert!(banned, "no Ban record; received:\n{records:#?}");

    // NOTICE is syslog's `notice` (5), INFO `info` (6); facility daemon (3).
    let ban = format!("<29>fail2ban.actions[{pid}]: NOTICE [alpha] Ban 192.0.2.10\0");
    assert!(records.contains(&ban), "{ban:?} in {records:#?}");
    let found_prefix = format!("<30>fail2ban.filter[{pid}]: INFO [alpha] Found 192.0.2.10 - ");
    let found: Vec<&String> = records
        .iter()
        .filter(|r| r.starts_with(&found_prefix))
        .collect();
    assert_eq!(found.len(), 2, "{records:#?}");
    assert!(found.iter().all(|r| r.ends_with('\0')), "{found:?}");
    assert!(
        records
            .iter()
            .all(|r| r.starts_with('<') && !r.contains('\n')),
        "one record per datagram: {records:#?}"
    );
    assert!(
        records.iter().any(|r| r.contains("Jail 'alpha' started")),
        "{records:#?}"
    );
    assert!(!dir.server_log().exists(), "nothing written to a log file");
}
