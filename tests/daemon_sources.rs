//! How the daemon reads its logs: `tail`, `logencoding` and multi-line filters
//! (`maxlines`).

use std::process::Command;
use std::time::Duration;

use crate::daemon_common::{
    ServerProcess, TestDir, append_line, cpu_seconds, syslog_now, wait_until,
};
use crate::record_jail::{base, fail, jail, record, total_failed};

#[test]
fn tail_logencoding_and_multiline_filters_in_the_daemon() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "filter.d/twoline.conf",
        "[Definition]\nfailregex = ^.* session for <F-USER>\\S+</F-USER>\\n.* auth failed from <HOST>$\n\
         [Init]\nmaxlines = 2\n",
    );
    let (tailed, latin, multi) = (dir.path("t.log"), dir.path("l.log"), dir.path("m.log"));
    fail(&tailed, "192.0.2.1", 2);
    let mut jails = jail("tailed", &tailed, "").replace(
        &format!("logpath = {}", tailed.display()),
        &format!("logpath = {} tail", tailed.display()),
    );
    jails.push_str(&jail("latin", &latin, "logencoding = latin-1\n"));
    jails.push_str(&jail("multi", &multi, "").replace("filter = e2e", "filter = twoline"));
    dir.write_conf("jail.conf", &jails);
    let server = ServerProcess::start_here(&dir);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        total_failed(&server, "tailed"),
        Some(0),
        "tail skips old lines"
    );
    fail(&tailed, "192.0.2.1", 1);
    let mut latin_line = format!("{} host e2e: J", syslog_now()).into_bytes();
    latin_line.extend_from_slice(b"\xfcrgen auth failed from 192.0.2.2\n");
    std::fs::write(&latin, latin_line).unwrap();
    append_line(
        &multi,
        &format!("{} host e2e: session for eve", syslog_now()),
    );
    fail(&multi, "192.0.2.3", 1);
    let done = wait_until(Duration::from_secs(10), || {
        total_failed(&server, "tailed") == Some(1)
            && total_failed(&server, "latin") == Some(1)
            && total_failed(&server, "multi") == Some(1)
    });
    assert!(
        done,
        "tailed {:?} latin {:?} multi {:?}\n{}",
        total_failed(&server, "tailed"),
        total_failed(&server, "latin"),
        total_failed(&server, "multi"),
        dir.log_text()
    );
}

/// Regression: a log replaced by a directory kept the source busy (1.6 cores) until the
/// file came back: opening and refusing the directory woke its own watcher. Now it is
/// one warning, an idle wait, and reading resumes when the file is back.
#[test]
fn a_log_that_became_a_directory_is_waited_for_without_spinning() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    std::fs::write(&log, "").unwrap();
    dir.write_conf("jail.conf", &jail("alpha", &log, ""));
    let server = ServerProcess::start_here(&dir);
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let warned = wait_until(Duration::from_secs(15), || {
        dir.log_text().contains("not a regular file")
    });
    assert!(warned, "{}", dir.log_text());
    let pid = server.pid().unwrap();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.5, "{used} CPU seconds in 2 s: a busy loop");
    assert_eq!(dir.log_text().matches("not a regular file").count(), 1);

    std::fs::remove_dir(&log).unwrap();
    fail(&log, "192.0.2.33", 3);
    let banned = wait_until(Duration::from_secs(20), || {
        record(&dir).contains("ban alpha 192.0.2.33")
    });
    assert!(banned, "reading resumed:\n{}", dir.log_text());
}

/// A line longer than `maxlinelen` (64 KiB unless set) is matched on its first part, with
/// one warning per file; an address beyond the limit is seen once the limit is raised.
#[test]
fn long_lines_are_matched_on_their_first_part_and_reported_once() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "filter.d/prefix.conf",
        "[Definition]\nfailregex = auth failed from <HOST>\n",
    );
    let (first, wide, narrow) = (dir.path("f.log"), dir.path("w.log"), dir.path("n.log"));
    let mut jails = jail("first", &first, "").replace("filter = e2e", "filter = prefix");
    jails.push_str(&jail("wide", &wide, "maxlinelen = 128k"));
    jails.push_str(&jail("narrow", &narrow, ""));
    dir.write_conf("jail.conf", &jails.replace("maxretry = 3", "maxretry = 1"));
    let server = ServerProcess::start_here(&dir);
    let padding = "x".repeat(70_000);
    for ip in ["192.0.2.40", "192.0.2.44"] {
        let line = format!("{} host e2e: auth failed from {ip} {padding}", syslog_now());
        append_line(&first, &line);
    }
    let hidden = |ip: &str| format!("{} host e2e: {padding} auth failed from {ip}", syslog_now());
    append_line(&wide, &hidden("192.0.2.41"));
    append_line(&narrow, &hidden("192.0.2.42"));
    fail(&narrow, "192.0.2.43", 1);
    let done = wait_until(Duration::from_secs(10), || {
        let record = record(&dir);
        [
            "ban first 192.0.2.40",
            "ban first 192.0.2.44",
            "ban wide 192.0.2.41",
            "ban narrow 192.0.2.43",
        ]
        .iter()
        .all(|ban| record.contains(ban))
    });
    assert!(done, "{}\n{}", record(&dir), dir.log_text());
    assert!(
        !record(&dir).contains("192.0.2.42"),
        "past the default limit the address is not seen"
    );
    assert_eq!(total_failed(&server, "narrow"), Some(1));
    let log = dir.log_text();
    let warning = format!(
        "[first] {}: the line at byte 0 is longer than maxlinelen = 65536",
        first.display()
    );
    assert_eq!(log.matches(&warning).count(), 1, "{log}");
    assert_eq!(
        log.matches("longer than maxlinelen").count(),
        2,
        "one warning for f.log, one for n.log, none for w.log: {log}"
    );
}

/// CPU seconds the server uses in `seconds` of wall time: a waiting source uses next to
/// none; a source spinning on a bad log path uses a core.
fn cpu_over(server: &ServerProcess, seconds: u64) -> f64 {
    let pid = server.pid().unwrap();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(seconds));
    cpu_seconds(pid) - before
}

/// Regression: a log path swapped for a FIFO was opened for a blocking read, hanging its
/// source until something wrote to the FIFO. A FIFO, a dangling link, and a path whose
/// directory became a file each get one warning naming the path, an idle wait, and reading
/// resumes (with one line saying so) once a regular file is back.
#[test]
fn a_log_path_that_became_a_fifo_a_dangling_link_or_unreachable_is_waited_for_quietly() {
    let dir = TestDir::new();
    base(&dir);
    std::fs::create_dir(dir.path("sub")).unwrap();
    let (fifo, link, nested) = (dir.path("f.log"), dir.path("l.log"), dir.path("sub/n.log"));
    for log in [&fifo, &link, &nested] {
        std::fs::write(log, "").unwrap();
    }
    let mut jails = jail("fifo", &fifo, "");
    jails.push_str(&jail("link", &link, ""));
    jails.push_str(&jail("nested", &nested, ""));
    dir.write_conf("jail.conf", &jails);
    let server = ServerProcess::start_here(&dir);

    std::fs::remove_file(&fifo).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(dir.path("nowhere.log"), &link).unwrap();
    std::fs::remove_file(&nested).unwrap();
    std::fs::remove_dir(dir.path("sub")).unwrap();
    std::fs::write(dir.path("sub"), "a file where the log's directory was\n").unwrap();
    let warnings = [
        format!(
            "[fifo] cannot open {}: not a regular file (a FIFO)",
            fifo.display()
        ),
        format!("[link] cannot open {}: a symbolic link to", link.display()),
        format!("[nested] cannot open {}: Not a directory", nested.display()),
    ];
    let warned = wait_until(Duration::from_secs(20), || {
        let log = dir.log_text();
        warnings.iter().all(|warning| log.contains(warning))
    });
    assert!(warned, "{}", dir.log_text());
    let used = cpu_over(&server, 3);
    assert!(used < 0.5, "{used} CPU seconds in 3 s: a busy loop");
    let (answered, _) = server.client(&["ping"]);
    assert!(answered, "the server answers while its logs are bad");
    let log = dir.log_text();
    for warning in &warnings {
        assert_eq!(log.matches(warning.as_str()).count(), 1, "{log}");
    }

    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(dir.path("sub")).unwrap();
    std::fs::create_dir(dir.path("sub")).unwrap();
    for (log, ip) in [
        (&fifo, "192.0.2.51"),
        (&link, "192.0.2.52"),
        (&nested, "192.0.2.53"),
    ] {
        fail(log, ip, 3);
    }
    let banned = wait_until(Duration::from_secs(30), || {
        let record = record(&dir);
        [
            "ban fifo 192.0.2.51",
            "ban link 192.0.2.52",
            "ban nested 192.0.2.53",
        ]
        .iter()
        .all(|ban| record.contains(ban))
    });
    assert!(
        banned,
        "reading resumed:\n{}\n{}",
        record(&dir),
        dir.log_text()
    );
    let log = dir.log_text();
    assert_eq!(log.matches("is a readable file again").count(), 3, "{log}");
}

/// Regression: a `logpath` glob with more files than `ulimit -n` allows took every file
/// descriptor, and the control socket and the other jails stalled. Now the logs past a
/// budget below the limit are named in one line and retried, the other jail still bans
/// and the server answers.
#[test]
fn a_glob_larger_than_the_descriptor_limit_leaves_the_daemon_its_descriptors() {
    let dir = TestDir::new();
    base(&dir);
    std::fs::create_dir(dir.path("many")).unwrap();
    for index in 0..2000 {
        std::fs::write(dir.path(&format!("many/{index:04}.log")), "").unwrap();
    }
    let small = dir.path("small.log");
    std::fs::write(&small, "").unwrap();
    let mut jails = jail("many", &dir.path("many/*.log"), "");
    jails.push_str(&jail("small", &small, ""));
    dir.write_conf("jail.conf", &jails);
    let mut command = Command::new("prlimit");
    command.args(["--nofile=256:256", crate::daemon_common::BIN]);
    let server = ServerProcess::start_with(command, &dir, None);

    let refused = "[many] out of file descriptors (RLIMIT_NOFILE is 256, of which 192 for logs)";
    let logged = wait_until(Duration::from_secs(20), || dir.log_text().contains(refused));
    assert!(logged, "{}", dir.log_text());
    fail(&small, "192.0.2.61", 3);
    fail(&dir.path("many/0000.log"), "192.0.2.62", 3);
    let banned = wait_until(Duration::from_secs(20), || {
        let record = record(&dir);
        record.contains("ban small 192.0.2.61") && record.contains("ban many 192.0.2.62")
    });
    assert!(banned, "{}\n{}", record(&dir), dir.log_text());
    let used = cpu_over(&server, 3);
    assert!(used < 0.5, "{used} CPU seconds in 3 s: a busy loop");
    for command in [&["ping"][..], &["status"], &["status", "many"]] {
        let (answered, text) = server.client(command);
        assert!(answered, "{command:?}: {text}");
    }
    let pid = server.pid().unwrap();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert!(open < 256, "{open} descriptors open: none left to spare");
    let log = dir.log_text();
    assert_eq!(log.matches("out of file descriptors").count(), 1, "{log}");
    // 192 in the budget and the first outside it (see FileSource).
    assert!(log.contains("1807 logs cannot be opened"), "{log}");
    assert!(log.contains("and 1802 more"), "{log}");
}

/// A failure line of `host` dated `seconds_ago` (within the minute fail2ban takes as now).
fn fail_at(log: &std::path::Path, host: &str, seconds_ago: u32) {
    let date = Command::new("date")
        .args(["-d", &format!("-{seconds_ago} seconds"), "+%b %e %H:%M:%S"])
        .output()
        .unwrap();
    let date = String::from_utf8(date.stdout).unwrap();
    append_line(
        log,
        &format!("{} host e2e: auth failed from {host}", date.trim()),
    );
}

/// Under a flood of distinct addresses a jail keeps at most `maxfailurewindows` failure
/// windows: past it the oldest go, with one line saying so, and the newest still count.
#[test]
fn past_maxfailurewindows_the_oldest_failure_windows_are_dropped_with_one_line() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("flood.log");
    std::fs::write(&log, "").unwrap();
    dir.write_conf("jail.conf", &jail("flood", &log, "maxfailurewindows = 3"));
    let server = ServerProcess::start_here(&dir);
    for (index, seconds_ago) in [(0, 40), (1, 30), (2, 20), (3, 10)] {
        fail_at(&log, &format!("192.0.2.{index}"), seconds_ago);
    }
    fail(&log, "192.0.2.2", 2);
    let banned = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban flood 192.0.2.2")
    });
    assert!(banned, "a kept window still counts:\n{}", dir.log_text());
    fail(&log, "192.0.2.0", 2);
    let done = wait_until(Duration::from_secs(10), || {
        total_failed(&server, "flood") == Some(8)
    });
    assert!(done, "{}", dir.log_text());
    assert!(
        !record(&dir).contains("ban flood 192.0.2.0"),
        "the oldest window was dropped: two more failures are not three\n{}",
        record(&dir)
    );
    let (_, status) = server.client(&["status", "flood"]);
    assert!(status.contains("Currently failed:\t3"), "{status}");
    let log = dir.log_text();
    let line = "[flood] more than maxfailurewindows = 3 failure windows: dropped the 1 oldest";
    assert_eq!(log.matches(line).count(), 1, "{log}");
    assert_eq!(log.matches("maxfailurewindows").count(), 1, "{log}");
}
