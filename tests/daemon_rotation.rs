//! Log rotation in the middle of a burst of failures: rename-and-create, then
//! copytruncate. Every failure written is counted once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};

fn total_failed(server: &ServerProcess) -> Option<u64> {
    let (_, status) = server.client(&["status", "burst"]);
    let line = status.lines().find(|l| l.contains("Total failed:"))?;
    line.rsplit('\t').next()?.trim().parse().ok()
}

#[test]
fn rotation_mid_burst_loses_no_failure() {
    let dir = TestDir::new();
    fs::create_dir_all(dir.conf()).unwrap();
    dir.write_server_local();
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = e2e: auth failed from <HOST>$\n",
    );
    let log = dir.path("burst.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "[burst]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 1000000\n\
             findtime = 1d\nbantime = 600\nignoreself = false\n",
            log.display()
        ),
    );
    let server = ServerProcess::start_here(&dir);
    let mut written = 0u64;
    let burst = |log: &std::path::Path, count: u32, written: &mut u64| {
        for n in 0..count {
            let ip = format!("198.{}.{}.{}", *written / 300, n / 200, n % 200 + 1);
            append_line(
                log,
                &format!("{} host e2e: auth failed from {ip}", syslog_now()),
            );
            *written += 1;
            if n % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };

    burst(&log, 300, &mut written);
    // logrotate's default: rename, then a new file at the old name; the logging daemon
    // goes on writing to the renamed file until it reopens its log.
    let rotated = dir.path("burst.log.1");
    fs::rename(&log, &rotated).unwrap();
    burst(&rotated, 300, &mut written);
    fs::File::create(&log).unwrap();
    burst(&log, 300, &mut written);
    // copytruncate: copy, then cut the file to zero in place. Lines not yet read when the
    // file is cut are gone for every reader (fail2ban too); logrotate's window is short,
    // so let the daemon catch up first, as it does within milliseconds when not loaded.
    let caught_up = wait_until(Duration::from_secs(10), || {
        total_failed(&server) == Some(written)
    });
    assert!(
        caught_up,
        "counted {:?} of {written} before the truncation",
        total_failed(&server)
    );
    fs::copy(&log, dir.path("burst.log.2")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    burst(&log, 300, &mut written);

    let all = wait_until(Duration::from_secs(10), || {
        total_failed(&server) == Some(written)
    });
    assert!(
        all,
        "counted {:?} of {written} failures; log:\n{}",
        total_failed(&server),
        dir.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(total_failed(&server), Some(written), "nothing read twice");
}
