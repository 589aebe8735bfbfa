//! fail2ban's socket protocol on ferroban's control socket: Debian's Python fail2ban-client
//! against `ferroban server` and against the real fail2ban-server on the same configuration,
//! printing the same thing; a protocol-2 client reading `status JAIL` by position, as the
//! Go exporter does; hostile pickles, answered or dropped while ferroban's own client keeps
//! being served.
//!
//! Normalised before comparing, because they legitimately differ: `version` (ferroban's
//! version, not fail2ban's) and the clock times in `get JAIL banip --with-time` (the two
//! servers ban a second apart).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::support;

/// One configuration, written into `dir`, watching `log`: the `e2e` filter, an action
/// appending to `dir/record`, and the jail `alpha`.
pub(crate) fn configure(dir: &TestDir, log: &Path) {
    crate::daemon_common::e2e_base(dir);
    dir.write_conf(
        "action.d/record.conf",
        &format!(
            "[Definition]\nactionban = echo ban <name> <ip> >> {0}\n\
             actionunban = echo unban <name> <ip> >> {0}\n",
            dir.path("record").display()
        ),
    );
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nbackend = polling\nlogpath = {}\n\
             maxretry = 5\nfindtime = 300\nbantime = 600\nignoreself = false\naction = record\n",
            log.display()
        ),
    );
}

/// Where fail2ban's Python package's parent directory is, for `PYTHONPATH`.
fn python_path(f2b: &Path) -> PathBuf {
    f2b.join("usr/lib/python3/dist-packages")
}

/// The real fail2ban-server, in the foreground, killed when the test ends.
pub(crate) struct Fail2banServer {
    child: Child,
}

impl Fail2banServer {
    pub(crate) fn start(f2b: &Path, dir: &TestDir) -> Fail2banServer {
        let child = Command::new("python3")
            .arg(f2b.join("usr/bin/fail2ban-server"))
            .args(["-f", "-x", "-c"])
            .arg(dir.conf())
            .env("PYTHONPATH", python_path(f2b))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fail2ban-server");
        let server = Fail2banServer { child };
        let started = wait_until(Duration::from_secs(30), || {
            python_client(f2b, dir, &["ping"]).1 == 0
        });
        assert!(
            started,
            "fail2ban-server did not answer:\n{}",
            dir.log_text()
        );
        server
    }
}

impl Drop for Fail2banServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's fail2ban-client, `-c CONF -s SOCKET ARGS...`: its stdout and exit status.
pub(crate) fn python_client(f2b: &Path, dir: &TestDir, args: &[&str]) -> (String, i32) {
    let out = Command::new("python3")
        .arg(f2b.join("usr/bin/fail2ban-client"))
        .arg("-c")
        .arg(dir.conf())
        .arg("-s")
        .arg(dir.socket())
        .args(args)
        .env("PYTHONPATH", python_path(f2b))
        .output()
        .expect("run fail2ban-client");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// The commands compared, in order.
const SESSION: &[&str] = &[
    "ping",
    "status",
    "status alpha",
    "set alpha banip 192.0.2.1",
    "status alpha",
    "status alpha basic",
    "get alpha bantime",
    "get alpha findtime",
    "get alpha maxretry",
    "get alpha logpath",
    "get alpha ignoreself",
    "get alpha actions",
    "get alpha banip",
    "get alpha banip ,",
    "get alpha banip --with-time",
    // After the line above: banning again prolongs the ban by the time since, which
    // fail2ban counts in fractions of a second and ferroban in whole seconds.
    "set alpha banip 192.0.2.1",
    "banned",
    "banned 192.0.2.1 198.51.100.9",
    "get loglevel",
    "get logtarget",
    "get dbfile",
    "get dbpurgeage",
    "get syslogsocket",
    "get alpha ignoreregex",
    "get alpha logencoding",
    "get alpha usedns",
    "get alpha maxmatches",
    "get alpha ignorecommand",
    "get alpha journalmatch",
    "get alpha ignoreip",
    // One address at a time: fail2ban lists ignored addresses from a set, in hash order.
    "set alpha addignoreip 10.0.0.1",
    "set alpha delignoreip 10.0.0.1",
    "get alpha ignoreip",
    "flushlogs",
    "version",
    "status nope",
    "set nope banip 192.0.2.7",
    "frobnicate",
    "set alpha",
    "set alpha frobnicate 1",
    "get alpha frobnicate",
    "echo hello world",
    "set alpha unbanip 192.0.2.1",
    "set alpha unbanip 192.0.2.1",
    "set alpha banip 192.0.2.2 192.0.2.3",
    "unban 192.0.2.2",
    "unban --all",
    "reload",
    "status alpha",
    "stop",
];

/// What may differ between the two servers, replaced by a placeholder.
fn normalise(command: &str, output: &str) -> String {
    match command {
        "version" => "<version>\n".to_string(),
        _ if command.ends_with("--with-time") => mask_clock_times(output),
        _ => output.to_string(),
    }
}

/// Replaces each `YYYY-MM-DD HH:MM:SS` with `<time>`.
fn mask_clock_times(text: &str) -> String {
    let is_clock = |window: &[u8]| {
        window.iter().enumerate().all(|(j, b)| match j {
            4 | 7 => *b == b'-',
            10 => *b == b' ',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        })
    };
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i..i + 19).is_some_and(is_clock) {
            out.extend(b"<time>");
            i += 19;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn total_failed(f2b: &Path, dir: &TestDir) -> Option<u64> {
    let (text, _) = python_client(f2b, dir, &["status", "alpha"]);
    let line = text.lines().find(|l| l.contains("Total failed:"))?;
    line.rsplit('\t').next()?.trim().parse().ok()
}

/// Runs the session on one server: each command's normalised output and exit status.
fn session(f2b: &Path, dir: &TestDir, log: &Path) -> Vec<(String, String, i32)> {
    for _ in 0..2 {
        append_line(
            log,
            &format!("{} host e2e: auth failed from 203.0.113.5", syslog_now()),
        );
    }
    // fail2ban polls its logs every second; ferroban follows them through inotify.
    assert!(
        wait_until(Duration::from_secs(20), || total_failed(f2b, dir)
            == Some(2)),
        "two failures counted"
    );
    SESSION
        .iter()
        .map(|command| {
            let args: Vec<&str> = command.split(' ').collect();
            let (output, status) = python_client(f2b, dir, &args);
            // Each server keeps its database and log in its own directory.
            let output = output.replace(&dir.root.path().display().to_string(), "<dir>");
            (command.to_string(), normalise(command, &output), status)
        })
        .collect()
}

#[test]
fn fail2ban_client_prints_the_same_against_ferroban_and_fail2ban() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let logs = TestDir::new();
    let log = logs.path("auth.log");
    std::fs::write(&log, "").unwrap();

    // Each server starts on an empty log, which both then see grow by the same lines.
    let theirs = TestDir::new();
    configure(&theirs, &log);
    let fail2ban = Fail2banServer::start(&f2b, &theirs);
    let expected = session(&f2b, &theirs, &log);
    drop(fail2ban);

    std::fs::write(&log, "").unwrap();
    let ours = TestDir::new();
    configure(&ours, &log);
    let server = ServerProcess::start_here(&ours);
    let actual = session(&f2b, &ours, &log);
    drop(server);

    let differences = crate::support::differences(&expected, &actual);
    assert_eq!(actual.len(), SESSION.len());
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The actions ran on ferroban's side too.
    let record = std::fs::read_to_string(ours.path("record")).unwrap_or_default();
    assert!(record.contains("ban alpha 192.0.2.1"), "{record}");
    assert!(record.contains("unban alpha 192.0.2.1"), "{record}");
}

/// A Python script speaking the socket protocol itself, with `pickle.dumps(..., protocol)`,
/// several commands on one connection, then the close marker. Prints one JSON line per
/// command: `status JAIL` read by position, as fail2ban-prometheus-exporter does.
const RAW_CLIENT: &str = r#"
import json, pickle, socket, sys
END, CLOSE = b"<F2B_END_COMMAND>", b"<F2B_CLOSE_COMMAND>"
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
def ask(args, protocol):
    sock.sendall(pickle.dumps(args, protocol=protocol) + END)
    reply = b""
    while not reply.endswith(END):
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        reply += chunk
    return pickle.loads(reply[:-len(END)])
for protocol in (2, 0, 5):
    code, pong = ask(["ping"], protocol)
    code, status = ask(["status", "alpha"], protocol)
    filt, actions = status[0][1], status[1][1]
    print(json.dumps({
        "protocol": protocol, "code": code, "pong": pong,
        "names": [status[0][0], status[1][0]] + [item[0] for item in filt + actions],
        "currently_failed": filt[0][1], "total_failed": filt[1][1], "files": filt[2][1],
        "currently_banned": actions[0][1], "total_banned": actions[1][1],
        "banned": actions[2][1],
        "types": [type(v[1]).__name__ for v in filt + actions],
    }))
sock.sendall(CLOSE + END)
sock.close()
"#;

fn raw_client(socket: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(RAW_CLIENT)
        .arg(socket)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_protocol_2_client_reads_status_by_position_as_from_fail2ban() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let logs = TestDir::new();
    let log = logs.path("auth.log");
    std::fs::write(&log, "").unwrap();
    let mut results = Vec::new();
    for which in ["fail2ban", "ferroban"] {
        let dir = TestDir::new();
        configure(&dir, &log);
        let (_fail2ban, _ferroban) = if which == "fail2ban" {
            (Some(Fail2banServer::start(&f2b, &dir)), None)
        } else {
            (None, Some(ServerProcess::start_here(&dir)))
        };
        assert_eq!(
            python_client(&f2b, &dir, &["set", "alpha", "banip", "192.0.2.1"]).1,
            0
        );
        results.push(raw_client(&dir.socket()));
    }
    assert_eq!(results[1], results[0], "ferroban (left), fail2ban (right)");
    let first: serde_json::Value =
        serde_json::from_str(results[1].lines().next().unwrap()).unwrap();
    assert_eq!(first["protocol"], 2);
    assert_eq!(first["pong"], "pong");
    assert_eq!(first["currently_banned"], 1);
    assert_eq!(first["banned"][0], "192.0.2.1");
    assert_eq!(first["files"][0], log.display().to_string());
}

/// Sends `bytes` on a new connection and returns what comes back until the server's end
/// marker or the end of the stream.
fn raw_exchange(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // The server may stop reading a huge message early: a broken pipe is an answer too.
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buffer[..n]);
        if reply.ends_with(b"<F2B_END_COMMAND>") {
            break;
        }
    }
    reply
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An error reply: `(1, builtins.Exception(...))` in protocol 2, naming `why`.
fn assert_error_reply(reply: &[u8], why: &str) {
    assert!(
        reply.starts_with(b"\x80\x02K\x01cbuiltins\nException\n")
            && contains(reply, why.as_bytes()),
        "expected an error reply about {why:?}, got {:?}",
        String::from_utf8_lossy(reply)
    );
}

#[test]
fn hostile_pickles_get_error_replies_and_the_server_keeps_serving() {
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    configure(&dir, &log);
    let server = ServerProcess::start_here(&dir);
    let socket = dir.socket();
    let end = b"<F2B_END_COMMAND>";
    let marker = dir.path("pwned");

    // `pickle.dumps([Evil()], 2)` where Evil reduces to `os.system("touch MARKER")`.
    let command = format!("touch {}", marker.display());
    let mut evil = b"\x80\x02]q\x00cposix\nsystem\nq\x01X".to_vec();
    evil.extend((command.len() as u32).to_le_bytes());
    evil.extend(command.as_bytes());
    evil.extend(b"q\x02\x85q\x03Rq\x04a.");
    evil.extend(end);
    assert_error_reply(&raw_exchange(&socket, &evil), "posix.system");

    let mut deep = vec![0x80, 2];
    deep.extend(vec![b'('; 100_000]);
    deep.extend(end);
    assert_error_reply(&raw_exchange(&socket, &deep), "nesting deeper");

    let mut huge = b"\x80\x04X".to_vec();
    huge.extend(100_000_000u32.to_le_bytes());
    huge.extend(b"abc");
    huge.extend(end);
    assert_error_reply(&raw_exchange(&socket, &huge), "truncated");

    let mut cut = b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x04ping".to_vec();
    cut.extend(end);
    assert_error_reply(&raw_exchange(&socket, &cut), "truncated");

    // A message that never ends: past MAX_REQUEST the server answers and hangs up.
    let started = Instant::now();
    let mut endless = vec![0x80, 2];
    endless.extend(vec![b'N'; 2 << 20]);
    let reply = raw_exchange(&socket, &endless);
    assert!(
        reply.is_empty() || contains(&reply, b"longer than"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");

    assert!(!marker.exists(), "the payload ran");
    let (ok, text) = server.client(&["ping"]);
    assert!(ok, "ferroban's own client still served: {text}");
    assert!(text.contains("pong"), "{text}");
    assert!(!dir.log_text().contains("panicked"), "{}", dir.log_text());
}

#[test]
fn an_idle_fail2ban_connection_does_not_hold_up_others() {
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    configure(&dir, &log);
    let server = ServerProcess::start_here(&dir);
    // More idle persistent connections than the server reads at once, each having sent
    // one ping (as exporters that keep their socket open do).
    let ping = b"\x80\x02]q\x00X\x04\x00\x00\x00pingq\x01a.<F2B_END_COMMAND>";
    let idle: Vec<UnixStream> = (0..20)
        .map(|_| {
            let mut stream = UnixStream::connect(dir.socket()).unwrap();
            stream.write_all(ping).unwrap();
            let mut reply = [0u8; 64];
            let n = stream.read(&mut reply).unwrap();
            assert!(contains(&reply[..n], b"pong"));
            stream
        })
        .collect();
    let started = Instant::now();
    assert!(server.client(&["ping"]).0, "still serving");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(idle);
}
