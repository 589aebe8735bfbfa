//! The control socket serves every client on its own: idle connections hold up nobody, a
//! long command does not keep `ping` waiting, and a client that stops waiting says the
//! server is still working rather than printing an errno.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, wait_until};
use crate::record_jail::{base, record};

/// A server running one `record` jail, `alpha`.
fn one_jail_server() -> (TestDir, ServerProcess) {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "jail.conf",
        &crate::record_jail::jail("alpha", &dir.path("alpha.log"), ""),
    );
    let server = ServerProcess::start_here(&dir);
    (dir, server)
}

/// `ferroban client ARGS...` on the test's server, left running; its output is piped.
fn client_in_background(dir: &TestDir, args: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::daemon_common::BIN)
        .arg("client")
        .arg("-c")
        .arg(dir.conf())
        .arg("-s")
        .arg(dir.socket())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Before, 16 connections that sent nothing took every read permit for five seconds each,
/// and 64 of them made `ping` wait about 20 s: by then the server had closed the first ones
/// for sending nothing. Now `ping` is answered while every idle connection is still open.
#[test]
fn idle_connections_hold_up_no_one() {
    let (dir, server) = one_jail_server();
    let idle: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(dir.socket()).unwrap())
        .collect();
    let (ok, text) = server.client(&["ping"]);
    assert!(ok && text.contains("pong"), "{text}");
    for (n, stream) in idle.iter().enumerate() {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let read = (&*stream).read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "idle connection {n} was already closed ({read:?}) when ping was answered"
        );
    }
}

/// A `banip` whose action takes a while runs in the jail; meanwhile `ping`, the other
/// jail's `status` and the busy jail's own `status` are answered, before the `banip` is
/// done, and the `banip` still answers with every address it banned. The busy jail's
/// status shows the bans decided, as fail2ban's does while their actions run.
#[test]
fn ping_and_status_are_answered_while_a_long_banip_runs() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "action.d/slow.conf",
        &format!(
            "[Definition]\nactionban = sleep 0.25; echo ban <ip> >> {}\nactionunban = true\n",
            dir.path("record").display()
        ),
    );
    let mut jails = crate::record_jail::jail("slow", &dir.path("slow.log"), "");
    jails = jails.replace("action = record", "action = slow");
    jails.push_str(&crate::record_jail::jail(
        "other",
        &dir.path("other.log"),
        "",
    ));
    dir.write_conf("jail.conf", &jails);
    let server = ServerProcess::start_here(&dir);
    let addresses: Vec<String> = (1..=20).map(|n| format!("198.51.100.{n}")).collect();
    let mut args = vec!["set", "slow", "banip"];
    args.extend(addresses.iter().map(String::as_str));
    let banip = client_in_background(&dir, &args);
    let started = wait_until(Duration::from_secs(20), || {
        record(&dir).contains("ban 198.51.100.1\n")
    });
    assert!(started, "{}", dir.log_text());

    let (ok, pong) = server.client(&["ping"]);
    let (status_ok, status) = server.client(&["status", "other"]);
    let (busy_ok, busy) = server.client(&["status", "slow"]);
    let bans_by_then = record(&dir).matches("ban ").count();
    assert!(ok && pong.contains("pong"), "{pong}");
    assert!(
        status_ok && status.contains("Currently banned:\t0"),
        "{status}"
    );
    assert!(busy_ok && busy.contains("Currently banned:\t20"), "{busy}");
    assert!(
        addresses
            .iter()
            .all(|address| busy.contains(address.as_str())),
        "{busy}"
    );
    assert!(
        bans_by_then < addresses.len(),
        "ping and status were answered only after the banip was done"
    );

    let out = banip.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{answer}");
    assert_eq!(answer.trim(), "20", "{}", dir.log_text());
    assert_eq!(record(&dir).matches("ban ").count(), addresses.len());
}

/// A client that gives up waiting says why, and the command goes on in the server.
#[test]
fn a_client_that_stops_waiting_says_the_server_is_still_working() {
    let (_dir, server) = one_jail_server();
    let (ok, text) = server.client(&["--timeout", "0.3", "sleep", "2"]);
    assert!(!ok, "{text}");
    assert!(text.contains("the server is still working on it"), "{text}");
    assert!(!text.contains("os error"), "{text}");
    let (ok, text) = server.client(&["ping"]);
    assert!(ok && text.contains("pong"), "{text}");
}

/// A `stop` whose actions take a while: `ping` is still answered until the server is gone.
#[test]
fn ping_is_answered_while_a_slow_stop_runs() {
    let dir = TestDir::new();
    base(&dir);
    let record_file = dir.path("record");
    dir.write_conf(
        "action.d/slowstop.conf",
        &format!(
            "[Definition]\nactionstop = echo stopping >> {0}; sleep 2; echo stopped >> {0}\n\
             actionban = true\nactionunban = true\n",
            record_file.display()
        ),
    );
    let jail = crate::record_jail::jail("alpha", &dir.path("alpha.log"), "")
        .replace("action = record", "action = slowstop");
    dir.write_conf("jail.conf", &jail);
    let mut server = ServerProcess::start_here(&dir);
    let stop = client_in_background(&dir, &["stop"]);
    let stopping = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("stopping")
    });
    assert!(stopping, "{}", dir.log_text());
    let (ok, pong) = server.client(&["ping"]);
    let stopped_by_then = record(&dir).contains("stopped");
    assert!(ok && pong.contains("pong"), "{pong}");
    assert!(!stopped_by_then, "ping was answered only after the stop");
    let out = stop.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(record(&dir).contains("stopped"));
    server.stop();
}
