//! Prometheus metrics end to end: the real server with `metrics =` in `fail2ban.local`,
//! scraped over plain TCP, the exposition parsed by the Prometheus project's own Python
//! parser (`prometheus_client`, installed by `scripts/test` into `.cache/prometheus-venv`),
//! its counters moving as a ban is made and lifted; `ferroban client metrics` printing the
//! same text; hostile HTTP clients; no listener without the setting; a port in use or a bad
//! value refused with the place it was written.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::daemon_common::{BIN, ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::record_jail::{base, fail, jail};

/// The Python that has `prometheus_client`: `FERROBAN_PROMETHEUS_PYTHON`, or the venv
/// `scripts/test` makes. Without one the test is skipped, unless the suite requires its
/// tools (`FERROBAN_REQUIRE_CORPUS`).
fn parser_python() -> Option<PathBuf> {
    let python = std::env::var_os("FERROBAN_PROMETHEUS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/prometheus-venv/bin/python3")
        });
    let works = Command::new(&python)
        .args(["-c", "import prometheus_client.parser"])
        .status()
        .is_ok_and(|status| status.success());
    if works {
        return Some(python);
    }
    assert!(
        std::env::var_os("FERROBAN_REQUIRE_CORPUS").is_none(),
        "no prometheus_client at {} (scripts/test installs it)",
        python.display()
    );
    eprintln!("skipped: no prometheus_client at {}", python.display());
    None
}

/// One sample as the Prometheus parser read it.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Families (name → type) and samples of `text`, parsed by `prometheus_client.parser`;
/// panics when the parser refuses the text.
fn parse(python: &Path, text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    const SCRIPT: &str = "import json, sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = {'families': {}, 'samples': []}\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   out['families'][family.name] = family.type\n\
        \x20   if not family.documentation:\n\
        \x20       raise SystemExit('no HELP for ' + family.name)\n\
        \x20   for s in family.samples:\n\
        \x20       out['samples'].append([s.name, s.labels, s.value])\n\
        print(json.dumps(out))\n";
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = json["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, kind)| (name.clone(), kind.as_str().unwrap().to_string()))
        .collect();
    let samples = json["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sample| Sample {
            name: sample[0].as_str().unwrap().to_string(),
            labels: sample[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            value: sample[2].as_f64().unwrap(),
        })
        .collect();
    (families, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|sample| sample.value)
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `fail2ban.local` with `metrics = VALUE` added.
fn with_metrics(dir: &TestDir, value: &str) {
    dir.write_server_local();
    let local = std::fs::read_to_string(dir.conf().join("fail2ban.local")).unwrap();
    dir.write_conf("fail2ban.local", &format!("{local}metrics = {value}\n"));
}

/// What an HTTP exchange came back with: the status line, the headers, the body.
struct HttpReply {
    status: String,
    headers: String,
    body: String,
}

/// Sends `request` as is and reads the reply until the server closes.
fn exchange(address: &str, request: &[u8]) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Ok(HttpReply {
        status: status.to_string(),
        headers: headers.to_string(),
        body: body.to_string(),
    })
}

fn scrape(address: &str) -> HttpReply {
    exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n",
    )
    .unwrap()
}

/// A scraped value, read by the simple means of a test's wait loop (the real parser reads
/// the text once it is reached).
fn scraped(address: &str, series: &str) -> Option<f64> {
    let reply = exchange(address, b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    reply
        .body
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// The exposition without the process metrics, which move between two reads.
fn without_process(text: &str) -> String {
    text.lines()
        .filter(|line| !line.contains("process_"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn counters_follow_a_ban_and_parse_with_the_prometheus_parser() {
    let Some(python) = parser_python() else {
        return;
    };
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("alpha.log");
    std::fs::write(&log, "").unwrap();
    dir.write_conf("jail.conf", &jail("alpha", &log, ""));
    let port = free_port();
    with_metrics(&dir, &port.to_string());
    let server = ServerProcess::start_here(&dir);
    let address = format!("127.0.0.1:{port}");
    let jail = "{jail=\"alpha\"}";

    fail(&log, "192.0.2.7", 3);
    append_line(&log, &format!("{} host e2e: all is well", syslog_now()));
    append_line(&log, "a line with no date at all");
    let written = std::fs::metadata(&log).unwrap().len() as f64;
    assert!(
        wait_until(Duration::from_secs(20), || {
            scraped(&address, &format!("ferroban_lines_read_total{jail}")) == Some(5.0)
                && scraped(&address, &format!("ferroban_bans_total{jail}")) == Some(1.0)
        }),
        "no ban in the metrics:\n{}",
        scrape(&address).body
    );

    let reply = scrape(&address);
    assert_eq!(reply.status, "HTTP/1.1 200 OK");
    assert!(
        reply
            .headers
            .contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        reply.headers
    );
    let (families, samples) = parse(&python, &reply.body);
    let alpha = [("jail", "alpha")];
    let expect = [
        ("ferroban_failures_total", 3.0),
        ("ferroban_bans_total", 1.0),
        ("ferroban_unbans_total", 0.0),
        ("ferroban_currently_banned", 1.0),
        ("ferroban_currently_failed", 0.0),
        ("ferroban_lines_read_total", 5.0),
        ("ferroban_lines_without_date_total", 1.0),
    ];
    for (name, expected) in expect {
        assert_eq!(value(&samples, name, &alpha), Some(expected), "{name}");
    }
    let ban = [("jail", "alpha"), ("operation", "ban")];
    assert_eq!(
        value(&samples, "ferroban_action_errors_total", &ban),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "ferroban_action_duration_seconds_count", &ban),
        Some(1.0)
    );
    let file = [("jail", "alpha"), ("path", log.to_str().unwrap())];
    assert_eq!(
        value(&samples, "ferroban_source_read_bytes_total", &file),
        Some(written)
    );
    assert_eq!(
        value(&samples, "ferroban_source_rotations_total", &file),
        Some(0.0)
    );
    for (family, kind) in [
        ("ferroban_failures", "counter"),
        ("ferroban_currently_banned", "gauge"),
        ("ferroban_action_duration_seconds", "histogram"),
        ("ferroban_build_info", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
    ] {
        assert_eq!(
            families.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert!(value(&samples, "process_resident_memory_bytes", &[]).unwrap() > 0.0);

    // The control command prints the same exposition (with the newline `print` adds).
    let (ok, printed) = server.client(&["metrics"]);
    assert!(ok, "{printed}");
    assert_eq!(
        without_process(&printed),
        without_process(&scrape(&address).body)
    );
    let (printed_families, _) = parse(&python, &printed);
    assert_eq!(printed_families, families);

    let (ok, text) = server.client(&["set", "alpha", "unbanip", "192.0.2.7"]);
    assert!(ok, "{text}");
    assert!(
        wait_until(Duration::from_secs(20), || {
            scraped(&address, &format!("ferroban_unbans_total{jail}")) == Some(1.0)
        }),
        "no unban in the metrics"
    );
    let (_, samples) = parse(&python, &scrape(&address).body);
    assert_eq!(
        value(&samples, "ferroban_currently_banned", &alpha),
        Some(0.0)
    );
    assert_eq!(value(&samples, "ferroban_bans_total", &alpha), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "ferroban_action_duration_seconds_count",
            &[("jail", "alpha"), ("operation", "unban")]
        ),
        Some(1.0)
    );

    // logrotate's move and create: one rotation seen, the new file's line read too.
    std::fs::rename(&log, dir.path("alpha.log.1")).unwrap();
    append_line(
        &log,
        &format!("{} host e2e: after the rotation", syslog_now()),
    );
    let rotations = format!(
        "ferroban_source_rotations_total{{jail=\"alpha\",path=\"{}\"}}",
        log.display()
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            scraped(&address, &rotations) == Some(1.0)
                && scraped(&address, &format!("ferroban_lines_read_total{jail}")) == Some(6.0)
        }),
        "no rotation in the metrics:\n{}",
        scrape(&address).body
    );
    let (_, samples) = parse(&python, &scrape(&address).body);
    let after = std::fs::metadata(&log).unwrap().len() as f64;
    assert_eq!(
        value(&samples, "ferroban_source_read_bytes_total", &file),
        Some(written + after)
    );
}

#[test]
fn hostile_http_clients_get_a_status_or_are_closed() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("alpha.log");
    dir.write_conf("jail.conf", &jail("alpha", &log, ""));
    let port = free_port();
    with_metrics(&dir, &format!("127.0.0.1:{port}"));
    let server = ServerProcess::start_here(&dir);
    let address = format!("127.0.0.1:{port}");

    let post = exchange(
        &address,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, "HTTP/1.1 405 Method Not Allowed");
    assert!(
        post.headers.contains("Allow: GET, HEAD"),
        "{}",
        post.headers
    );
    let other = exchange(&address, b"GET /other HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(other.status, "HTTP/1.1 404 Not Found");
    let garbage = exchange(&address, b"\x00\xff\xfe nonsense\r\n\r\n").unwrap();
    assert_eq!(garbage.status, "HTTP/1.1 400 Bad Request");

    // A 1 MB request line: refused after the first kilobytes, or the connection reset
    // while the rest is still being sent.
    let mut huge = b"GET /".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    if let Ok(reply) = exchange(&address, &huge) {
        assert!(
            reply.status.is_empty()
                || reply.status == "HTTP/1.1 431 Request Header Fields Too Large",
            "{}",
            reply.status
        );
    }

    // A slowloris client and a crowd of idle ones: the control socket still answers, and
    // the slow one is cut off by the server (its read ends, it does not time out).
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .unwrap();
    let crowd: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    let (ok, pong) = server.client(&["ping"]);
    assert!(ok && pong.contains("pong"), "{pong}");
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut rest = Vec::new();
    let ended = slow.read_to_end(&mut rest);
    assert!(
        ended.is_ok()
            || ended
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the slow client was not cut off: {ended:?}"
    );
    for stream in &crowd {
        let _ = stream.shutdown(Shutdown::Both);
    }
    drop(crowd);
    assert!(
        wait_until(Duration::from_secs(20), || exchange(
            &address,
            b"GET /metrics HTTP/1.0\r\n\r\n"
        )
        .is_ok_and(
            |reply| reply.status == "HTTP/1.0 200 OK" || reply.status == "HTTP/1.1 200 OK"
        )),
        "no scrape after the crowd left"
    );
    let (ok, pong) = server.client(&["ping"]);
    assert!(ok && pong.contains("pong"), "{pong}");
    assert!(!dir.log_text().contains("panicked"), "{}", dir.log_text());
}

/// The inodes of the TCP sockets in LISTEN state, from `/proc/net/tcp` and `tcp6`.
fn listening_inodes() -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) == Some(&"0A")
                && let Some(inode) = fields.get(9)
            {
                inodes.push((*inode).to_string());
            }
        }
    }
    inodes
}

/// Whether process `pid` holds a listening TCP socket.
fn listens_on_tcp(pid: u32) -> bool {
    let listening = listening_inodes();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .any(|inode| listening.contains(&inode))
}

#[test]
fn no_listener_without_the_setting_and_the_command_still_answers() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("alpha.log"), ""));
    let server = ServerProcess::start_here(&dir);
    assert!(
        !listens_on_tcp(server.pid().unwrap()),
        "a TCP listener without `metrics =`"
    );
    assert!(
        TcpStream::connect("127.0.0.1:9191").is_err(),
        "something answers on the usual metrics port"
    );
    let (ok, text) = server.client(&["metrics"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("ferroban_failures_total{jail=\"alpha\"} 0"),
        "{text}"
    );
    assert!(text.ends_with("\n") && !text.ends_with("\n\n"), "{text:?}");
    let (ok, json) = server.client(&["--json", "metrics"]);
    assert!(ok, "{json}");
    let reply: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(
        reply["value"]
            .as_str()
            .unwrap()
            .contains("# TYPE ferroban_bans_total counter")
    );
}

fn run_server(dir: &TestDir) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["server", "-f", "-x", "-c"])
        .arg(dir.conf())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_port_in_use_stops_the_start_and_a_bad_value_is_shown_at_its_line() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("alpha.log"), ""));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    with_metrics(&dir, &format!("127.0.0.1:{port}"));
    let (ok, _) = run_server(&dir);
    assert!(!ok, "started on a port in use");
    let log = dir.log_text();
    let critical = log
        .lines()
        .find(|line| line.contains("CRITICAL"))
        .unwrap_or_default();
    assert!(
        critical.contains(&format!("cannot serve metrics on 127.0.0.1:{port}"))
            && critical.contains("in use"),
        "{log}"
    );
    assert!(
        !dir.socket().exists(),
        "the socket is removed after the failed start"
    );
    drop(taken);

    with_metrics(&dir, "somewhere:9191");
    let out = Command::new(BIN)
        .args(["config-test", "-c"])
        .arg(dir.conf())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "fail2ban.local:7: metrics = \"somewhere:9191\": the host must be an IP address"
        ),
        "{stderr}"
    );

    // IPv6 loopback, where the machine has it.
    if TcpListener::bind("[::1]:0").is_ok() {
        let port = free_port();
        with_metrics(&dir, &format!("[::1]:{port}"));
        let _server = ServerProcess::start_here(&dir);
        let reply = scrape(&format!("[::1]:{port}"));
        assert_eq!(reply.status, "HTTP/1.1 200 OK");
        assert!(reply.body.contains("ferroban_build_info"), "{}", reply.body);
    }
}
