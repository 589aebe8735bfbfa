//! Fleet mode end to end: real `ferroban server` processes, each with its own
//! configuration, socket and SQLite file, sharing bans through one real PostgreSQL
//! (`support::postgres`) named in their `[Cluster]` section.
//!
//! Each node runs the jail `web` (filter `e2e`, an action that records its calls), so a
//! ban is checked both in `banned` and in what the action was asked to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::daemon_common::{ServerProcess, TestDir, append_line, e2e_base, syslog_now, wait_until};
use crate::support::postgres::{PASSWORD, Postgres};

const JAIL: &str = "web";

/// How long a test waits for a ban to reach a node: generous, the machine is shared.
/// Never a pass/fail threshold on speed: only on whether it arrives.
const ARRIVAL: Duration = Duration::from_secs(30);

/// One fleet node: its directory and, while it runs, its server.
struct Node {
    name: String,
    dir: TestDir,
    server: Option<ServerProcess>,
}

impl Node {
    /// Configures node `name` for the fleet at `postgres`, the password `password` in its
    /// passfile (mode 0600).
    fn new(name: &str, postgres: &Postgres, password: &str) -> Node {
        let dir = TestDir::new();
        e2e_base(&dir);
        let passfile = dir.path("pgpass");
        fs::write(&passfile, postgres.passfile_line(password)).unwrap();
        fs::set_permissions(&passfile, fs::Permissions::from_mode(0o600)).unwrap();
        let node = Node {
            name: name.to_string(),
            dir,
            server: None,
        };
        node.write_cluster(&postgres.url(), &passfile);
        node.dir.write_conf(
            "action.d/record.conf",
            &format!(
                "[Definition]\nactionban = echo ban <ip> >> {0}\n\
                 actionunban = echo unban <ip> >> {0}\n",
                node.record().display()
            ),
        );
        node.dir.write_conf(
            "jail.conf",
            &format!(
                "[{JAIL}]\nenabled = true\nfilter = e2e\nlogpath = {}\nmaxretry = 2\n\
                 findtime = 600\nbantime = 3600\nignoreself = false\naction = record\n",
                node.log().display()
            ),
        );
        fs::write(node.log(), "").unwrap();
        node
    }

    /// `fail2ban.local` with `[Cluster]` after the test directory's own settings.
    fn write_cluster(&self, url: &str, passfile: &std::path::Path) {
        self.dir.write_server_local();
        let path = self.dir.conf().join("fail2ban.local");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "\n[Cluster]\nurl = {url}\npassfile = {}\nnode = {}\n",
            passfile.display(),
            self.name
        ));
        fs::write(path, text).unwrap();
    }

    fn log(&self) -> PathBuf {
        self.dir.path("web.log")
    }

    fn record(&self) -> PathBuf {
        self.dir.path("record")
    }

    fn start(&mut self) -> &mut Node {
        self.server = Some(ServerProcess::start_here(&self.dir));
        self
    }

    fn server(&self) -> &ServerProcess {
        self.server.as_ref().expect("node is running")
    }

    /// Waits until the node logged that it joined (or rejoined) the fleet `times` times.
    fn wait_joined(&self, times: usize) {
        let joined = wait_until(ARRIVAL, || {
            self.dir.log_text().matches("joined the fleet at").count() >= times
        });
        assert!(
            joined,
            "{} did not join the fleet; log:\n{}",
            self.name,
            self.dir.log_text()
        );
    }

    /// The addresses banned in `web`, sorted, from `get web banip`.
    fn banned(&self) -> Vec<String> {
        let (ok, text) = self.server().client(&["get", JAIL, "banip"]);
        assert!(ok, "get banip on {}: {text}", self.name);
        let mut ips: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        ips.sort();
        ips
    }

    fn is_banned(&self, ip: &str) -> bool {
        let (_, text) = self.server().client(&["banned", ip]);
        text.trim() == format!("[['{JAIL}']]")
    }

    fn ban(&self, ips: &[&str]) {
        let mut args = vec!["set", JAIL, "banip"];
        args.extend_from_slice(ips);
        let (ok, text) = self.server().client(&args);
        assert!(ok, "banip on {}: {text}", self.name);
    }

    /// `cluster status --json`'s value.
    fn cluster_status(&self) -> serde_json::Value {
        let (ok, text) = self.server().client(&["--json", "cluster", "status"]);
        assert!(ok, "cluster status on {}: {text}", self.name);
        let reply: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(reply["type"], "cluster_status", "{text}");
        reply["value"].clone()
    }

    /// The lines of the record action, `ban IP` / `unban IP`.
    fn actions(&self) -> Vec<String> {
        fs::read_to_string(self.record())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn count_action(&self, line: &str) -> usize {
        self.actions().iter().filter(|l| *l == line).count()
    }

    fn wait_banned(&self, ip: &str) {
        assert!(
            wait_until(ARRIVAL, || self.is_banned(ip)),
            "{ip} never banned on {}; log:\n{}",
            self.name,
            self.dir.log_text()
        );
    }

    fn wait_unbanned(&self, ip: &str) {
        assert!(
            wait_until(ARRIVAL, || !self.is_banned(ip)),
            "{ip} still banned on {}; log:\n{}",
            self.name,
            self.dir.log_text()
        );
    }
}

/// `ferroban_ban_events` rows as `node kind ip` lines, in log order.
fn events(postgres: &Postgres) -> Vec<String> {
    postgres
        .psql("SELECT node || ' ' || kind || ' ' || ip FROM ferroban_ban_events ORDER BY id")
        .lines()
        .map(str::to_string)
        .collect()
}

fn three_nodes(postgres: &Postgres) -> Vec<Node> {
    let mut nodes: Vec<Node> = ["mx1", "mx2", "mx3"]
        .iter()
        .map(|name| Node::new(name, postgres, PASSWORD))
        .collect();
    for node in &mut nodes {
        node.start().wait_joined(1);
    }
    nodes
}

#[test]
fn fleet_ban_from_logs_reaches_every_node_and_unban_lifts_it_everywhere() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let nodes = three_nodes(&postgres);
    let ip = "192.0.2.10";

    // Two failures in mx1's log: mx1 bans, the fleet follows. The lines carry their time:
    // the first lines of a log empty at start-up are backlog, where fail2ban and ferroban
    // ignore a line without one.
    let line = format!("{} host e2e: auth failed from {ip}", syslog_now());
    append_line(&nodes[0].log(), &line);
    let decided = append_line(&nodes[0].log(), &line);
    nodes[0].wait_banned(ip);
    let banned_here = Instant::now();
    for node in &nodes[1..] {
        node.wait_banned(ip);
        let elapsed = decided.elapsed().unwrap_or_default();
        eprintln!(
            "measured: log line on mx1 -> banned on {}: {:?} ({:?} after mx1 itself)",
            node.name,
            elapsed,
            banned_here.elapsed()
        );
        assert_eq!(node.count_action(&format!("ban {ip}")), 1, "{}", node.name);
    }
    assert_eq!(events(&postgres), vec![format!("mx1 ban {ip}")]);
    let (_, status) = nodes[1].server().client(&["status", JAIL]);
    assert!(status.contains(ip), "{status}");
    // Every node has said it is alive by the time it joined; mx2 applied the one event.
    let status = nodes[1].cluster_status();
    assert_eq!(status["node"], "mx2");
    assert_eq!(status["connected"], true);
    assert_eq!(status["last_event"], 1);
    assert_eq!(status["outbox"], 0);
    assert_eq!(status["jails"], serde_json::json!([["web", 1]]));
    let names: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mx1", "mx2", "mx3"]);
    let (ok, text) = nodes[1].server().client(&["cluster", "status"]);
    assert!(ok, "{text}");
    for line in [
        "Fleet status for the node: mx2\n",
        "|- Connection:\tconnected\n",
        "|- Last event id:\t1\n",
        "|- Outbox backlog:\t0\n",
        "|- Nodes seen:\t3\n",
        "`- Shared bans:\tweb 1",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }

    // An unban by hand on mx3 lifts it on mx1 and mx2, and is published once.
    let (ok, text) = nodes[2].server().client(&["set", JAIL, "unbanip", ip]);
    assert!(ok, "{text}");
    for node in &nodes[..2] {
        node.wait_unbanned(ip);
        assert_eq!(
            node.count_action(&format!("unban {ip}")),
            1,
            "{}",
            node.name
        );
    }
    assert_eq!(
        events(&postgres),
        vec![format!("mx1 ban {ip}"), format!("mx3 unban {ip}")]
    );

    // A node joining late applies the fleet's active bans, and only those.
    nodes[1].ban(&["192.0.2.20", "192.0.2.21"]);
    for node in [&nodes[0], &nodes[2]] {
        node.wait_banned("192.0.2.21");
    }
    let mut late = Node::new("mx4", &postgres, PASSWORD);
    late.start().wait_joined(1);
    assert!(
        wait_until(ARRIVAL, || late.banned() == ["192.0.2.20", "192.0.2.21"]),
        "mx4 has {:?}; log:\n{}",
        late.banned(),
        late.dir.log_text()
    );
    assert!(!late.is_banned(ip), "an unbanned address reached mx4");
    assert!(
        late.dir
            .log_text()
            .contains("first start in the fleet: applying its 2 active bans"),
        "{}",
        late.dir.log_text()
    );
}

#[test]
fn fleet_database_down_then_back_publishes_the_queued_bans() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let mut nodes: Vec<Node> = ["mx1", "mx2"]
        .iter()
        .map(|name| Node::new(name, &postgres, PASSWORD))
        .collect();
    for node in &mut nodes {
        node.start().wait_joined(1);
    }
    postgres.stop();
    let ips = [
        "192.0.2.31",
        "192.0.2.32",
        "192.0.2.33",
        "192.0.2.34",
        "192.0.2.35",
    ];
    // mx1 bans on its own while the database is down: each ban is there at once.
    for ip in ips {
        nodes[0].ban(&[ip]);
        assert!(nodes[0].is_banned(ip), "{ip} not banned locally");
        assert_eq!(nodes[0].count_action(&format!("ban {ip}")), 1);
    }
    assert!(
        wait_until(ARRIVAL, || nodes[0]
            .dir
            .log_text()
            .contains("bans are queued and published once it is back")),
        "{}",
        nodes[0].dir.log_text()
    );
    let status = nodes[0].cluster_status();
    assert_eq!(status["connected"], false);
    assert_eq!(status["outbox"], 5);
    let error = status["error"].as_str().unwrap_or_default().to_string();
    assert!(!error.is_empty(), "no connection error in {status}");
    postgres.restart();
    for node in &nodes {
        node.wait_joined(2);
    }
    for ip in ips {
        nodes[1].wait_banned(ip);
    }
    let published: Vec<String> = ips.iter().map(|ip| format!("mx1 ban {ip}")).collect();
    assert_eq!(events(&postgres), published);
    let status = nodes[0].cluster_status();
    assert_eq!(
        (&status["connected"], &status["outbox"]),
        (&true.into(), &0.into())
    );
}

#[test]
fn fleet_node_killed_and_restarted_has_every_ban_once() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let mut nodes = three_nodes(&postgres);
    nodes[0].ban(&["192.0.2.41"]);
    for node in &nodes {
        node.wait_banned("192.0.2.41");
    }

    // mx2 killed; bans and an unban happen while it is away.
    nodes[1].server.as_mut().unwrap().kill9();
    nodes[0].ban(&["192.0.2.42", "192.0.2.43"]);
    nodes[2].ban(&["192.0.2.44"]);
    nodes[2].wait_banned("192.0.2.42");
    nodes[2].wait_banned("192.0.2.43");
    let (ok, text) = nodes[2]
        .server()
        .client(&["set", JAIL, "unbanip", "192.0.2.43"]);
    assert!(ok, "{text}");
    nodes[0].wait_unbanned("192.0.2.43");
    nodes[0].wait_banned("192.0.2.44");

    nodes[1].start().wait_joined(1);
    let expected = ["192.0.2.41", "192.0.2.42", "192.0.2.44"];
    assert!(
        wait_until(ARRIVAL, || nodes[1].banned() == expected),
        "mx2 has {:?}; log:\n{}",
        nodes[1].banned(),
        nodes[1].dir.log_text()
    );
    // mx1 killed the moment it answered a ban, and restarted: the ban, queued before
    // `banip` answered, reaches the fleet; its other bans are restored, none published again.
    nodes[0].ban(&["192.0.2.45"]);
    nodes[0].server.as_mut().unwrap().kill9();
    nodes[0].start().wait_joined(1);
    let expected = ["192.0.2.41", "192.0.2.42", "192.0.2.44", "192.0.2.45"];
    assert_eq!(nodes[0].banned(), expected);
    for node in &nodes[1..] {
        node.wait_banned("192.0.2.45");
        assert_eq!(node.banned(), expected, "{}", node.name);
    }
    // A heartbeat later (every 5 s), nothing new was published by either restart.
    std::thread::sleep(Duration::from_secs(6));
    // Each node's events in its own order; the two nodes' interleave as they came.
    let mut published = events(&postgres);
    published.sort();
    assert_eq!(
        published,
        vec![
            "mx1 ban 192.0.2.41",
            "mx1 ban 192.0.2.42",
            "mx1 ban 192.0.2.43",
            "mx1 ban 192.0.2.45",
            "mx3 ban 192.0.2.44",
            "mx3 unban 192.0.2.43",
        ]
    );
    for node in &nodes {
        let banned = node.banned();
        let mut unique = banned.clone();
        unique.dedup();
        assert_eq!(banned, unique, "{} has a ban twice", node.name);
    }
}

#[test]
fn fleet_hostile_rows_are_skipped_with_a_log_line() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let mut node = Node::new("mx1", &postgres, PASSWORD);
    node.start().wait_joined(1);
    let huge_jail = "w".repeat(100_000);
    postgres.psql(&format!(
        "INSERT INTO ferroban_ban_events (node, jail, ip, kind, time_of_ban, ban_time) VALUES \
         ('evil', 'web', '192.0.2.1; rm -rf /', 'ban', extract(epoch FROM now())::bigint, 600), \
         ('evil', 'web', '$(reboot)', 'ban', extract(epoch FROM now())::bigint, 600), \
         ('evil', '{huge_jail}', '192.0.2.2', 'ban', extract(epoch FROM now())::bigint, 600), \
         ('evil', 'web', '192.0.2.3', 'ban', extract(epoch FROM now())::bigint, -7), \
         ('evil', 'web', '192.0.2.4', 'ban', extract(epoch FROM now())::bigint, 9000000000000), \
         ('evil', 'web', '192.0.2.5', 'drop', extract(epoch FROM now())::bigint, 600)"
    ));
    // A good row after the hostile ones: its arrival says they were all read.
    postgres.psql(
        "INSERT INTO ferroban_ban_events (node, jail, ip, kind, time_of_ban, ban_time) VALUES \
         ('mx9', 'web', '192.0.2.99', 'ban', extract(epoch FROM now())::bigint, 600)",
    );
    node.wait_banned("192.0.2.99");
    assert_eq!(node.banned(), ["192.0.2.99"]);
    let log = node.dir.log_text();
    for needle in [
        "\"192.0.2.1; rm -rf /\" is not an address",
        "\"$(reboot)\" is not an address",
        "is not one a jail can have",
        "bantime -7 is out of range",
        "bantime 9000000000000 is out of range",
        "unknown kind \"drop\"",
    ] {
        assert!(log.contains(needle), "no log line with {needle:?}:\n{log}");
    }
    assert!(
        !log.contains(&huge_jail),
        "a 100,000-character name was logged whole"
    );
    assert!(node.server().client(&["ping"]).0);
}

#[test]
fn fleet_wrong_password_or_open_passfile_is_a_clear_error_and_jails_run_locally() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let mut wrong = Node::new("mx1", &postgres, "not-the-password");
    wrong.start();
    let log_has =
        |node: &Node, needle: &str| wait_until(ARRIVAL, || node.dir.log_text().contains(needle));
    assert!(
        log_has(
            &wrong,
            "password authentication failed for user \"postgres\""
        ),
        "{}",
        wrong.dir.log_text()
    );
    wrong.ban(&["192.0.2.50"]);
    assert!(wrong.is_banned("192.0.2.50"));

    let mut open = Node::new("mx2", &postgres, PASSWORD);
    let passfile = open.dir.path("pgpass");
    fs::set_permissions(&passfile, fs::Permissions::from_mode(0o644)).unwrap();
    open.start();
    let expected = format!(
        "fleet mode is off: passfile {} has mode 0644: it must be readable by its owner only",
        passfile.display()
    );
    assert!(log_has(&open, &expected), "{}", open.dir.log_text());
    let (ok, text) = open.server().client(&["cluster", "status"]);
    assert!(!ok && text.contains(&expected), "{text}");
    open.ban(&["192.0.2.51"]);
    assert!(open.is_banned("192.0.2.51"));
    // Neither node got in: the fleet's tables were never even created.
    let absent = postgres.psql("SELECT to_regclass('ferroban_ban_events') IS NULL");
    assert_eq!(absent.trim(), "t");
}

#[test]
fn fleet_node_with_only_the_documented_grants_shares_bans() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    // The first node creates the tables as the superuser.
    let mut first = Node::new("mx1", &postgres, PASSWORD);
    first.start().wait_joined(1);
    postgres.psql(
        "CREATE ROLE fleet_node LOGIN PASSWORD 'node-secret'; \
         GRANT SELECT, INSERT, DELETE ON ferroban_ban_events TO fleet_node; \
         GRANT USAGE ON SEQUENCE ferroban_ban_events_id_seq TO fleet_node; \
         GRANT SELECT, INSERT, UPDATE ON ferroban_nodes TO fleet_node; \
         GRANT SELECT ON ferroban_schema TO fleet_node; \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    );
    let mut second = Node::new("mx2", &postgres, PASSWORD);
    let passfile = second.dir.path("pgpass");
    fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:postgres:fleet_node:node-secret\n",
            postgres.port
        ),
    )
    .unwrap();
    second.write_cluster(
        &format!(
            "host=127.0.0.1 port={} user=fleet_node dbname=postgres sslmode=disable",
            postgres.port
        ),
        &passfile,
    );
    second.start().wait_joined(1);
    second.ban(&["192.0.2.60"]);
    first.wait_banned("192.0.2.60");
    first.ban(&["192.0.2.61"]);
    second.wait_banned("192.0.2.61");
    let status = second.cluster_status();
    assert_eq!(status["connected"], true, "{status}");
    assert!(
        !second.dir.log_text().contains("ERROR"),
        "{}",
        second.dir.log_text()
    );
}
