//! A small network made of Linux network namespaces, for tests that need a real firewall.
//!
//! `Lab::new()` makes three namespaces — a server, an attacker and a bystander — and joins the
//! server to each of the others with a veth pair on 10.x (and fd00::/8) addresses that exist only
//! inside those namespaces. Commands run inside a namespace through `ip netns exec`, so the
//! firewall rules a test (or the daemon under test) creates never touch the host. Everything is
//! removed when the `Lab` is dropped, also when the test panics.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// One side of the lab: a namespace and the addresses the server sees it at.
#[derive(Debug, Clone)]
pub struct Host {
    pub netns: String,
    pub ipv4: String,
    pub ipv6: String,
}

/// The server's addresses as seen from the attacker and from the bystander.
#[derive(Debug, Clone)]
pub struct ServerAddresses {
    pub toward_attacker_v4: String,
    pub toward_attacker_v6: String,
    pub toward_bystander_v4: String,
}

pub struct Lab {
    pub server: String,
    pub attacker: Host,
    pub bystander: Host,
    pub server_addr: ServerAddresses,
    children: Vec<Child>,
}

/// Why a lab could not be built: tests skip on `Unsupported` and fail on anything else.
#[derive(Debug)]
pub enum LabError {
    Unsupported(String),
}

impl Lab {
    /// Builds the lab, or says why this machine cannot (not root, no `ip netns`).
    pub fn new() -> Result<Lab, LabError> {
        let id = std::process::id() % 10_000 * 100 + NEXT_LAB.fetch_add(1, Ordering::SeqCst) % 100;
        let server = format!("fbs{id}");
        let probe = Command::new("ip").args(["netns", "add", &server]).output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(LabError::Unsupported(format!(
                    "ip netns add failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Err(e) => return Err(LabError::Unsupported(format!("cannot run ip: {e}"))),
        }
        // Subnets are derived from the id so labs of tests running in parallel never overlap.
        let (a, b) = ((id / 250) % 250, id % 250);
        // An IPv6 group holds at most four hex digits.
        let v6 = id % 0x1_0000;
        let mut lab = Lab {
            server: server.clone(),
            attacker: Host {
                netns: format!("fba{id}"),
                ipv4: format!("10.{}.{}.2", 100 + a % 100, b),
                ipv6: format!("fd00:{v6:x}:1::2"),
            },
            bystander: Host {
                netns: format!("fbb{id}"),
                ipv4: format!("10.{}.{}.2", 200 + a % 50, b),
                ipv6: format!("fd00:{v6:x}:2::2"),
            },
            server_addr: ServerAddresses {
                toward_attacker_v4: format!("10.{}.{}.1", 100 + a % 100, b),
                toward_attacker_v6: format!("fd00:{v6:x}:1::1"),
                toward_bystander_v4: format!("10.{}.{}.1", 200 + a % 50, b),
            },
            children: Vec::new(),
        };
        let attacker = lab.attacker.clone();
        let bystander = lab.bystander.clone();
        let addrs = lab.server_addr.clone();
        lab.join(
            &attacker,
            &addrs.toward_attacker_v4,
            &addrs.toward_attacker_v6,
            "a",
        );
        lab.join(
            &bystander,
            &addrs.toward_bystander_v4,
            &format!("fd00:{v6:x}:2::1"),
            "b",
        );
        Ok(lab)
    }

    /// Makes `host`'s namespace and a veth pair from the server to it.
    fn join(&mut self, host: &Host, server_v4: &str, server_v6: &str, tag: &str) {
        let server_if = format!("{}{tag}", self.server);
        let host_if = format!("{}s", host.netns);
        run(&["ip", "netns", "add", &host.netns]);
        run(&[
            "ip", "link", "add", &server_if, "type", "veth", "peer", "name", &host_if,
        ]);
        run(&["ip", "link", "set", &server_if, "netns", &self.server]);
        run(&["ip", "link", "set", &host_if, "netns", &host.netns]);
        for (ns, ifname, v4, v6) in [
            (
                self.server.as_str(),
                server_if.as_str(),
                server_v4,
                server_v6,
            ),
            (
                host.netns.as_str(),
                host_if.as_str(),
                host.ipv4.as_str(),
                host.ipv6.as_str(),
            ),
        ] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                ifname,
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ]);
            run(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
    }

    /// Runs a command inside a namespace and returns its output.
    pub fn exec(&self, netns: &str, argv: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", netns];
        full.extend_from_slice(argv);
        Command::new("ip")
            .args(&full)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {netns} {argv:?}: {e}"))
    }

    /// Starts a long-running command inside a namespace; it is killed when the lab drops.
    pub fn spawn(&mut self, netns: &str, argv: &[&str]) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .args(argv)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn in {netns} {argv:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Listens on TCP `port` in the server namespace on all addresses (v4 and v6), answering
    /// every connection with one line and closing it.
    pub fn listen_tcp(&mut self, port: u16) {
        let script = format!(
            "import socket\n\
             s = socket.socket(socket.AF_INET6)\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
             s.bind(('::', {port}))\n\
             s.listen(64)\n\
             while True:\n    c, _ = s.accept()\n    c.sendall(b'ok\\n')\n    c.close()\n"
        );
        let server = self.server.clone();
        self.spawn(&server, &["python3", "-c", &script]);
        let probe = self.server_addr.toward_attacker_v4.clone();
        for _ in 0..50 {
            if self.connects(&server, &probe, port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("listener on port {port} did not come up");
    }

    /// True when a TCP connection from `netns` to `address:port` is accepted within a second.
    pub fn connects(&self, netns: &str, address: &str, port: u16) -> bool {
        let script = format!(
            "import socket,sys\n\
             try:\n    socket.create_connection(('{address}', {port}), timeout=1).recv(3)\n\
             except OSError:\n    sys.exit(1)\n"
        );
        self.exec(netns, &["python3", "-c", &script])
            .status
            .success()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.attacker.netns, &self.bystander.netns, &self.server] {
            // Deleting a namespace kills its veth ends too; processes started with
            // `ip netns exec` were killed above.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn run(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Builds a lab or returns from the test with a printed reason when the machine cannot.
#[macro_export]
macro_rules! lab_or_skip {
    () => {
        match $crate::support::netns::Lab::new() {
            Ok(lab) => lab,
            Err($crate::support::netns::LabError::Unsupported(why)) => {
                eprintln!("skipped: network namespaces unavailable here: {why}");
                return;
            }
        }
    };
}
