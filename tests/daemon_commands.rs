//! Control commands through the real server: a hostile client on the socket,
//! `get JAIL banip --with-time`, `reload JAIL`, a custom `bantime.formula`, and the
//! `fail2ban-server` name starting in the background.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon_common::{BIN, ServerProcess, TestDir, append_line, wait_until};
use crate::record_jail::{assert_ban_lasts, base, first_ban_time, jail};

/// Sends raw bytes on the socket and returns whatever the server answers.
fn raw_request(dir: &TestDir, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(dir.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // The server may stop reading a huge request early: a broken pipe is an answer too.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

#[test]
fn hostile_client_gets_a_clear_error_and_the_server_keeps_running() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("a.log"), ""));
    let server = ServerProcess::start_here(&dir);

    let garbage = raw_request(&dir, b"\xff\xfe\x00garbage\x01{{{\n");
    assert!(garbage.contains("malformed request"), "{garbage:?}");
    let not_json = raw_request(&dir, b"{\"command\": {\"Frobnicate\": 1}}\n");
    assert!(not_json.contains("malformed request"), "{not_json:?}");
    let huge = vec![b'a'; 8 << 20];
    let started = Instant::now();
    let reply = raw_request(&dir, &huge);
    assert!(
        reply.is_empty() || reply.contains("malformed request"),
        "{reply:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "huge input bounded"
    );

    let (ok, text) = server.client(&["frobnicate", "the", "jail"]);
    assert!(!ok, "{text}");
    assert!(text.to_lowercase().contains("invalid command"), "{text}");
    let (ok, text) = server.client(&["set", "alpha", "banip"]);
    assert!(!ok, "{text}");

    // Clients that connect and send nothing do not hold up the others.
    let silent: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(dir.socket()).unwrap())
        .collect();
    let started = Instant::now();
    assert!(server.client(&["ping"]).0, "still serving");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a silent client stalled the socket for {:?}",
        started.elapsed()
    );
    drop(silent);
    assert!(
        !dir.log_text().contains("panicked"),
        "no panic:\n{}",
        dir.log_text()
    );
}

#[test]
fn banip_with_time_and_reload_of_one_jail() {
    let dir = TestDir::new();
    base(&dir);
    let (a, b) = (dir.path("a.log"), dir.path("b.log"));
    dir.write_conf(
        "jail.conf",
        &format!("{}{}", jail("alpha", &a, ""), jail("beta", &b, "")),
    );
    let server = ServerProcess::start_here(&dir);
    server.client(&["set", "alpha", "banip", "192.0.2.5"]);
    let (ok, text) = server.client(&["get", "alpha", "banip", "--with-time"]);
    assert!(ok, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("192.0.2.5"))
        .unwrap_or("");
    assert!(line.contains(" + 600 = "), "fail2ban's layout: {text:?}");

    dir.write_conf(
        "jail.conf",
        &format!(
            "{}{}",
            jail("alpha", &a, "").replace("maxretry = 3", "maxretry = 7"),
            jail("beta", &b, "").replace("maxretry = 3", "maxretry = 9")
        ),
    );
    let (ok, text) = server.client(&["reload", "alpha"]);
    assert!(ok, "{text}");
    assert_eq!(server.client(&["get", "alpha", "maxretry"]).1.trim(), "7");
    assert_eq!(
        server.client(&["get", "beta", "maxretry"]).1.trim(),
        "3",
        "only the named jail is reloaded"
    );
    assert_eq!(
        server.client(&["get", "alpha", "banip"]).1.trim(),
        "192.0.2.5",
        "bans kept"
    );
    let (ok, text) = server.client(&["reload", "nosuchjail"]);
    assert!(!ok, "{text}");
}

#[test]
fn custom_bantime_formula_is_evaluated() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    let extra = "bantime.increment = true\nbantime.formula = ban.Time * (ban.Count * 2 + 1)\n";
    let text = jail("alpha", &log, extra)
        .replace("maxretry = 3", "maxretry = 1")
        .replace("bantime = 600", "bantime = 2");
    dir.write_conf("jail.conf", &text);
    let server = ServerProcess::start_here_with_env(&dir, &[("FERROBAN_TEST_CLOCK", "1")]);
    let ban_time = || first_ban_time(&server, "alpha");
    for expected in ["2", "6"] {
        // No date: the line's time is the server's (advanced) now.
        append_line(&log, "host e2e: auth failed from 192.0.2.50");
        let mut seen = None;
        wait_until(Duration::from_secs(5), || {
            seen = ban_time();
            seen.is_some()
        });
        assert_eq!(seen.as_deref(), Some(expected), "log:\n{}", dir.log_text());
        assert_ban_lasts(&server, "alpha", expected.parse().unwrap());
    }
    assert!(
        !dir.log_text().contains("default formula"),
        "{}",
        dir.log_text()
    );
}

#[test]
fn fail2ban_server_name_runs_in_the_background() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("a.log"), ""));
    let link = dir.path("fail2ban-server");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let other_log = dir.path("other.log");
    // Stops the detached server whatever happens below.
    struct Reaper(std::path::PathBuf);
    impl Drop for Reaper {
        fn drop(&mut self) {
            if let Ok(pid) = std::fs::read_to_string(&self.0) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
    let _reaper = Reaper(dir.pidfile());
    let mut starter = Command::new(&link)
        .args(["-b", "-x", "--loglevel", "DEBUG", "--logtarget"])
        .arg(&other_log)
        .arg("-c")
        .arg(dir.conf())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_until(Duration::from_secs(30), || {
        status = starter.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    // The detached server must not hold the caller's output open.
    let mut stderr = starter.stderr.take().unwrap();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = done.send(text);
    });
    assert!(
        wait.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the background server keeps the caller's stderr open"
    );
    assert!(
        Command::new(BIN)
            .arg("client")
            .arg("-s")
            .arg(dir.socket())
            .arg("ping")
            .output()
            .unwrap()
            .status
            .success(),
        "the detached server answers"
    );
    let pid = std::fs::read_to_string(dir.pidfile()).unwrap();
    let stopped = Command::new(BIN)
        .arg("client")
        .arg("-s")
        .arg(dir.socket())
        .arg("stop")
        .output()
        .unwrap();
    assert!(stopped.status.success());
    let gone = wait_until(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert!(gone, "stopped");
    let log = std::fs::read_to_string(&other_log).unwrap_or_default();
    assert!(
        log.contains("DEBUG"),
        "--logtarget and --loglevel apply:\n{log}"
    );
}
