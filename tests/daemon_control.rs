//! The control socket and the client, without a firewall: socket mode and "permission
//! denied" for non-root callers, the `ferroban COMMAND` and `fail2ban-client` entry points,
//! `--json`, errors, a stale socket with `-x`, and reload (by command and by SIGHUP):
//! bans of jails that stay are kept, removed jails stop, new jails start.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::daemon_common::{BIN, ServerProcess, TestDir, cpu_seconds, wait_until};
use crate::record_jail::{assert_ban_lasts, base, first_ban_time, record};

/// Jails `names` whose one action records what it does in `record`.
fn write_jails(dir: &TestDir, names: &[&str]) {
    let mut text = String::new();
    for name in names {
        text.push_str(&format!(
            "[{name}]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 3\n\
             bantime = 600\nignoreself = false\naction = record\n\n",
            dir.path(&format!("{name}.log")).display()
        ));
    }
    dir.write_conf("jail.conf", &text);
}

#[test]
fn socket_is_root_only_and_client_entry_points_work() {
    let dir = TestDir::new();
    std::fs::set_permissions(dir.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let server = ServerProcess::start_here(&dir);

    let mode = std::fs::metadata(dir.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode");
    let pid = std::fs::read_to_string(dir.pidfile()).unwrap();
    assert_eq!(pid.trim(), server.pid().unwrap().to_string(), "pidfile");

    let nobody = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "client",
            "-s",
        ])
        .arg(dir.socket())
        .arg("ping")
        .output();
    match nobody {
        Ok(out) if out.status.code() != Some(127) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(stderr.contains("Permission denied to socket"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
        _ => eprintln!("setpriv unavailable: non-root check skipped"),
    }

    // `ferroban COMMAND...` and a `fail2ban-client` symlink.
    let short = Command::new(BIN)
        .arg("-s")
        .arg(dir.socket())
        .arg("ping")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&short.stdout),
        "Server replied: pong\n"
    );
    let link = dir.path("fail2ban-client");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = Command::new(&link)
        .arg("-s")
        .arg(dir.socket())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Status\n|- Number of jail:\t1\n`- Jail list:\talpha\n"
    );

    let (ok, json) = server.client(&["--json", "set", "alpha", "banip", "192.0.2.1"]);
    assert!(ok);
    assert_eq!(json.trim(), r#"{"type":"number","value":1}"#);
    let (_, text) = server.client(&["banned"]);
    assert_eq!(text.trim(), "[{'alpha': ['192.0.2.1']}]");
    let (_, text) = server.client(&["banned", "192.0.2.1", "192.0.2.2"]);
    assert_eq!(text.trim(), "[['alpha'], []]");
    let (ok, text) = server.client(&["status", "nosuch"]);
    assert!(!ok);
    assert!(
        text.contains("Sorry but the jail 'nosuch' does not exist"),
        "{text}"
    );
    let (ok, text) = server.client(&["set", "alpha", "unbanip", "--report-absent", "192.0.2.9"]);
    assert!(!ok && text.contains("192.0.2.9 is not banned"), "{text}");
    let (ok, text) = server.client(&["get", "alpha", "maxretry"]);
    assert!(ok && text.trim() == "3", "{text}");
    let (ok, text) = server.client(&["-t"]);
    assert!(
        ok && text.contains("OK: configuration test is successful"),
        "{text}"
    );
    let (ok, text) = server.client(&["reload", "--unban"]);
    assert!(ok && text.trim() == "OK", "{text}");
    let (_, text) = server.client(&["get", "alpha", "banip"]);
    assert_eq!(text.trim(), "", "reload --unban lifts every ban");
    server.client(&["set", "alpha", "banip", "192.0.2.1"]);
    let (ok, text) = server.client(&["unban", "--all"]);
    assert!(ok && text.trim() == "1", "{text}");

    // logrotate moves the log away, then `flushlogs` makes the server write a new one.
    std::fs::rename(dir.server_log(), dir.path("ferroban.log.1")).unwrap();
    let (ok, text) = server.client(&["flushlogs"]);
    assert!(ok && text.trim() == "logs: rolled over", "{text}");
    server.client(&["set", "alpha", "banip", "192.0.2.3"]);
    assert!(
        dir.log_text().contains("[alpha] Ban 192.0.2.3"),
        "{}",
        dir.log_text()
    );
}

#[test]
fn stale_socket_needs_x_and_reload_keeps_bans() {
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha", "beta"]);
    // A socket nobody listens on, as a killed server leaves it.
    drop(std::os::unix::net::UnixListener::bind(dir.socket()).unwrap());
    let refused = Command::new(BIN)
        .args(["server", "-f", "-c"])
        .arg(dir.conf())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("-x"),
        "hint at -x"
    );

    let mut server = ServerProcess::start_here(&dir);
    server.client(&["set", "alpha", "banip", "192.0.2.1"]);
    server.client(&["set", "beta", "banip", "192.0.2.2"]);

    write_jails(&dir, &["alpha", "gamma"]);
    let (ok, text) = server.client(&["reload"]);
    assert!(ok && text.trim() == "OK", "{text}");
    let (_, status) = server.client(&["status"]);
    assert!(status.ends_with("Jail list:\talpha, gamma\n"), "{status}");
    let (_, alpha) = server.client(&["get", "alpha", "banip"]);
    assert_eq!(alpha.trim(), "192.0.2.1", "alpha keeps its ban");
    let log = record(&dir);
    assert!(log.contains("unban beta 192.0.2.2\nstop beta\n"), "{log}");
    assert!(log.contains("start gamma\n"), "{log}");
    assert!(!log.contains("stop alpha"), "alpha keeps running:\n{log}");

    // A jail whose new settings are broken keeps running on its old ones, with its bans;
    // the client is told which jail and why, and fails.
    dir.write_conf("jail.local", "[alpha]\nfilter = no-such-filter\n");
    let (ok, text) = server.client(&["reload"]);
    assert!(
        !ok && text.contains("Errors in jail 'alpha', it keeps running on its previous settings")
            && text.contains("jail.local:2: unknown filter `no-such-filter`"),
        "{text}"
    );
    let (_, status) = server.client(&["status"]);
    assert!(status.ends_with("Jail list:\talpha, gamma\n"), "{status}");
    let (_, alpha) = server.client(&["get", "alpha", "banip"]);
    assert_eq!(alpha.trim(), "192.0.2.1", "alpha keeps its ban");
    // A file that cannot be read is refused as a whole: nothing stops, nothing is unbanned.
    dir.write_conf("jail.local", "[alpha\nfilter = no-such-filter\n");
    let (ok, text) = server.client(&["reload"]);
    assert!(
        !ok && text.contains("nothing reloaded") && text.contains("jail.local:1"),
        "{text}"
    );
    let (_, status) = server.client(&["status"]);
    assert!(status.ends_with("Jail list:\talpha, gamma\n"), "{status}");
    std::fs::remove_file(dir.conf().join("jail.local")).unwrap();

    // SIGHUP reloads too; beta comes back with its ban from the database.
    write_jails(&dir, &["alpha", "beta", "gamma"]);
    let pid = server.pid().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let back = wait_until(Duration::from_secs(10), || {
        server.client(&["get", "beta", "banip"]).1.trim() == "192.0.2.2"
    });
    assert!(back, "beta restored after SIGHUP; log:\n{}", dir.log_text());
    assert!(
        record(&dir).ends_with("start beta\nban beta 192.0.2.2\n"),
        "{}",
        record(&dir)
    );

    server.stop();
    let log = record(&dir);
    for name in ["alpha", "beta", "gamma"] {
        assert!(
            log.contains(&format!("stop {name}\n")),
            "{name} stopped:\n{log}"
        );
    }
    assert!(
        !dir.socket().exists() && !dir.pidfile().exists(),
        "socket and pidfile removed"
    );
}

#[test]
fn missing_log_is_waited_for() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("later/alpha.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 2\n\
             ignoreself = false\naction = record\n",
            log.display()
        ),
    );
    let server = ServerProcess::start_here(&dir);
    assert!(
        dir.log_text().contains("does not exist yet"),
        "{}",
        dir.log_text()
    );
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    for _ in 0..2 {
        crate::daemon_common::append_line(
            &log,
            "Nov 26 10:00:00 host x: auth failed from 192.0.2.40",
        );
    }
    // A directory that did not exist is found by the periodic rescan, not by inotify.
    let banned = wait_until(Duration::from_secs(30), || {
        server.client(&["get", "alpha", "banip"]).1.trim() == "192.0.2.40"
    });
    assert!(banned, "log:\n{}", dir.log_text());
}

#[test]
fn attacker_text_reaches_actions_as_data_never_as_shell() {
    let dir = TestDir::new();
    base(&dir);
    let canary = dir.path("pwned");
    dir.write_conf(
        "filter.d/user.conf",
        "[Definition]\nfailregex = login failed for <F-USER>.*</F-USER> from <HOST>$\n",
    );
    let users = dir.path("users");
    dir.write_conf(
        "action.d/users.conf",
        &format!(
            "[Definition]\nactionban = echo '<ip>' <F-USER> \"<F-USER>\" >> {0}\n  printf '%%s\\n' <matches> >> {0}\n",
            users.display()
        ),
    );
    let log = dir.path("user.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "[users]\nenabled = true\nfilter = user\nlogpath = {}\nmaxretry = 1\n\
             ignoreself = false\naction = users\n",
            log.display()
        ),
    );
    let server = ServerProcess::start_here(&dir);
    let hostile = [
        format!("$(touch {})", canary.display()),
        format!("`touch {}`", canary.display()),
        format!("x; touch {}", canary.display()),
        format!("x' ; touch {} ; '", canary.display()),
        format!("x\" ; touch {} ; \"", canary.display()),
    ];
    for (n, user) in hostile.iter().enumerate() {
        let line = format!(
            "Nov 26 10:00:00 host x: login failed for {user} from 192.0.2.{}",
            n + 1
        );
        crate::daemon_common::append_line(&log, &line);
    }
    let all = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&users)
            .is_ok_and(|t| t.matches("192.0.2.").count() >= 2 * hostile.len())
    });
    assert!(all, "bans recorded; log:\n{}", dir.log_text());
    drop(server);
    assert!(!canary.exists(), "a user name was run by the shell");
    let text = std::fs::read_to_string(&users).unwrap();
    for user in &hostile {
        assert!(
            text.contains(user.as_str()),
            "{user:?} passed on verbatim:\n{text}"
        );
    }
}

#[test]
fn bantime_increment_grows_with_recorded_bans() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("alpha.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 1\nbantime = 2\n\
             bantime.increment = true\nignoreself = false\naction = record\n",
            log.display()
        ),
    );
    let server = ServerProcess::start_here_with_env(&dir, &[("FERROBAN_TEST_CLOCK", "1")]);
    let ban_time = || first_ban_time(&server, "alpha");
    for expected in ["2", "4", "8"] {
        crate::daemon_common::append_line(
            &log,
            "Nov 26 10:00:00 host x: auth failed from 192.0.2.50",
        );
        // Read once: a 2 s ban may be over by a second look on a loaded machine.
        let mut seen = None;
        wait_until(Duration::from_secs(5), || {
            seen = ban_time();
            seen.is_some()
        });
        assert_eq!(seen.as_deref(), Some(expected), "log:\n{}", dir.log_text());
        assert_ban_lasts(&server, "alpha", expected.parse().unwrap());
    }
}

/// The server's log is what fail2ban's stock `recidive` jail reads: its `Ban` lines carry
/// fail2ban's logger names, so the stock filter, unchanged, finds the banned address.
#[test]
fn server_log_feeds_the_stock_recidive_filter() {
    let Some(f2b) = crate::support::fail2ban_dir() else {
        return;
    };
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let server = ServerProcess::start_here(&dir);
    let (ok, reply) = server.client(&["set", "alpha", "banip", "192.0.2.77"]);
    assert!(ok, "{reply}");
    assert!(
        wait_until(Duration::from_secs(5), || dir
            .log_text()
            .contains("[alpha] Ban 192.0.2.77")),
        "no Ban line:\n{}",
        dir.log_text()
    );
    let output = Command::new(BIN)
        .args(["regex", "-c"])
        .arg(f2b.join("etc/fail2ban"))
        .arg(dir.server_log())
        .args(["recidive", "--print-all-matched"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("1 matched") && report.contains("[alpha] Ban 192.0.2.77"),
        "the stock recidive filter should match the Ban line:\n{report}\nlog:\n{}",
        dir.log_text()
    );
}

/// `set JAIL attempt IP [FAILURE...]` counts one failure per text, as fail2ban's
/// `addAttempt`, and answers 1.
#[test]
fn attempt_counts_one_failure_per_text_and_bans_at_maxretry() {
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let server = ServerProcess::start_here(&dir);
    let (ok, text) = server.client(&["set", "alpha", "attempt", "192.0.2.9", "first"]);
    assert!(ok && text.trim() == "1", "{text}");
    let (_, status) = server.client(&["status", "alpha"]);
    assert!(status.contains("Currently failed:\t1"), "{status}");
    let (ok, _) = server.client(&["set", "alpha", "attempt", "192.0.2.9", "two", "three"]);
    assert!(ok);
    let banned = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban alpha 192.0.2.9")
    });
    assert!(banned, "{}", dir.log_text());
    assert!(dir.log_text().contains("[alpha] Attempt 192.0.2.9 - "));
    // Only a server started for tests lets its clock be moved.
    let (ok, text) = server.client(&["test-clock", "advance", "5"]);
    assert!(!ok && text.contains("FERROBAN_TEST_CLOCK=1"), "{text}");
}

/// Regression: `ferroban client status JAIL | head -1` panicked on the closed pipe
/// (exit 134). The client now ends quietly, as other Unix tools do.
#[test]
fn client_ends_quietly_on_a_closed_pipe() {
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let _server = ServerProcess::start_here(&dir);
    let script = format!(
        "set -o pipefail; '{BIN}' client -c '{}' -s '{}' status alpha | true",
        dir.conf().display(),
        dir.socket().display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Out of file descriptors, `accept` fails while the socket stays readable: the server
/// says so once and retries every 100 ms instead of at once (a busy loop before), and
/// answers again when descriptors are free.
#[test]
fn accept_out_of_descriptors_is_logged_once_and_waited_out() {
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let server = ServerProcess::start_here(&dir);
    let pid = server.pid().unwrap();
    // No descriptor to spare (a new one takes the lowest free number): every `accept`
    // fails with EMFILE until the limit is raised.
    set_open_file_limit(pid, lowest_free_descriptor(pid));
    let waiting = std::os::unix::net::UnixStream::connect(dir.socket()).unwrap();
    let logged = wait_until(Duration::from_secs(10), || {
        dir.log_text().contains("cannot accept control connections")
    });
    assert!(logged, "{}", dir.log_text());
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.2, "{used} CPU seconds in 2 s: a busy loop");
    let log = dir.log_text();
    assert_eq!(
        log.matches("cannot accept control connections").count(),
        1,
        "{log}"
    );
    assert!(log.contains("Too many open files"), "{log}");

    set_open_file_limit(pid, 1024);
    drop(waiting);
    let answers = wait_until(Duration::from_secs(10), || {
        server.client(&["--timeout", "2", "ping"]).0
    });
    assert!(answers, "{}", dir.log_text());
}

fn lowest_free_descriptor(pid: u32) -> usize {
    let open: std::collections::HashSet<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !open.contains(fd)).unwrap()
}

/// Sets the soft limit only: lowering the hard one could not be undone without
/// CAP_SYS_RESOURCE.
fn set_open_file_limit(pid: u32, limit: usize) {
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={limit}:")])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit {limit}");
}

/// A socket that takes connections but never answers (a dead server's forked child still
/// holding it) is stale, not a running server: `-x` replaces it. It was refused as
/// "already running" before.
#[test]
fn a_socket_nobody_answers_on_is_stale() {
    let dir = TestDir::new();
    base(&dir);
    write_jails(&dir, &["alpha"]);
    let held = std::os::unix::net::UnixListener::bind(dir.socket()).unwrap();
    let refused = Command::new(BIN)
        .args(["server", "-f", "-c"])
        .arg(dir.conf())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("-x") && !stderr.contains("already running"),
        "{stderr}"
    );
    let mut server = Command::new(BIN)
        .args(["server", "-f", "-x", "-c"])
        .arg(dir.conf())
        .spawn()
        .unwrap();
    // Short client timeouts: a ping that reaches the held socket first is never answered.
    let client = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["client", "--timeout", "1", "-c"])
            .arg(dir.conf())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let answers = wait_until(Duration::from_secs(20), || client(&["ping"]).0);
    let (ok, status) = client(&["status"]);
    let _ = client(&["stop"]);
    let _ = server.wait();
    assert!(answers, "{}", dir.log_text());
    assert!(ok && status.contains("alpha"), "{status}");
    drop(held);
}
