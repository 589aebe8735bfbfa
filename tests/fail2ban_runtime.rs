//! Jail settings changed at run time (`set JAIL KEY VALUE`), through Debian's Python
//! fail2ban-client against `ferroban server` and against the real fail2ban-server on the same
//! configuration: the same text and exit status for every command; and the change taking
//! effect at once in ferroban (a lower `maxretry` bans on the next failure, an added
//! `failregex` finds the next line), until the next reload.

use std::path::Path;
use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::fail2ban_socket::{Fail2banServer, configure, python_client, total_failed};
use crate::support;

/// The commands compared, in order (the server's own settings and the jail's life at the
/// end); each is split at spaces, as a shell would, so a value
/// is one word (fail2ban reads only the first word after the key).
const SETTINGS: &[&str] = &[
    "get alpha bantime",
    "set alpha bantime 1200",
    "set alpha bantime 1h",
    "set alpha bantime abc",
    "get alpha bantime",
    "set alpha findtime 10m",
    "get alpha findtime",
    "set alpha maxretry 3",
    "set alpha maxretry x",
    "get alpha maxretry",
    "set alpha maxmatches 7",
    "get alpha maxmatches",
    "get alpha maxlines",
    "set alpha maxlines 2",
    "get alpha maxlines",
    "get alpha usedns",
    "set alpha usedns no",
    "set alpha usedns bogus",
    "get alpha datepattern",
    "set alpha datepattern %Y-%m-%d",
    "get alpha datepattern",
    "set alpha datepattern Epoch",
    "set alpha datepattern {^LN-BEG}",
    "get alpha logencoding",
    "set alpha logencoding latin-1",
    "get alpha logencoding",
    "set alpha logencoding koi8_r",
    "get alpha logencoding",
    "set alpha logencoding cp1252",
    "set alpha logencoding bogus",
    "set alpha logencoding UTF-8",
    "set alpha ignoreself true",
    "get alpha ignoreself",
    "set alpha ignoreself false",
    "get alpha ignorecommand",
    "set alpha ignorecommand /bin/false",
    "get alpha ignorecommand",
    "set alpha ignorecommand",
    "get alpha failregex",
    "set alpha addfailregex ^bad",
    "set alpha addfailregex [",
    "set alpha addfailregex ^denied:<HOST>$",
    "get alpha failregex",
    "set alpha delfailregex 1",
    "set alpha delfailregex 5",
    "set alpha delfailregex x",
    "get alpha failregex",
    "get alpha ignoreregex",
    "set alpha addignoreregex ^ignore",
    "set alpha addignoreregex ^skip",
    "get alpha ignoreregex",
    "set alpha delignoreregex 0",
    "get alpha ignoreregex",
    "get alpha prefregex",
    "get alpha logtimezone",
    "get alpha logpath",
    "set alpha addlogpath <logs>/other.log",
    "set alpha addlogpath <logs>/other.log tail",
    "set alpha addlogpath <logs>/other.log middle",
    "set alpha addlogpath <logs>/missing.log",
    "get alpha logpath",
    "set alpha dellogpath <logs>/other.log",
    "get alpha logpath",
    // After a refused `bantime.factor` fail2ban keeps the bad text and refuses every later
    // `bantime.*` change until a good factor is set: each bad value is followed by one.
    "get alpha bantime.increment",
    "set alpha bantime.increment true",
    "set alpha bantime.increment",
    "get alpha bantime.increment",
    "set alpha bantime.factor 2",
    "set alpha bantime.factor abc",
    "set alpha bantime.factor 1+",
    "set alpha bantime.factor 3",
    "set alpha bantime.formula ban.Time*2",
    "set alpha bantime.formula ban.Time*",
    "set alpha bantime.formula ban.Time*3",
    "get alpha bantime.formula",
    "set alpha bantime.maxtime 1d",
    "set alpha bantime.maxtime abc",
    "set alpha bantime.maxtime 2d",
    "get alpha bantime.maxtime",
    "set alpha bantime.rndtime 10m",
    "set alpha bantime.overalljails true",
    "get alpha bantime.overalljails",
    "set alpha bantime.foo bar",
    "get alpha bantime.foo",
    "set alpha bantime.multipliers x",
    "set alpha bantime.multipliers 1 2 4",
    "get alpha bantime.multipliers",
    "set alpha bantime.increment off",
    "get alpha ignorecache",
    "set alpha ignorecache key=\"<ip>\",max-count=100,max-time=5m",
    "get alpha ignorecache",
    "set alpha ignorecache max-count=x",
    "set alpha ignorecache bogus",
    "set alpha ignorecache key=<ip>,max-count=x",
    "set nope maxretry 3",
    "server-status",
    "sleep 0.1",
    "status alpha",
    "get dbmaxmatches",
    "set dbmaxmatches 5",
    "get dbmaxmatches",
    "set dbpurgeage 2d",
    "get dbpurgeage",
    "set loglevel DEBUG",
    "get loglevel",
    "set loglevel INFO",
    "set alpha idle on",
    "set alpha idle maybe",
    "set alpha idle off",
    "status alpha short",
    "status alpha basic",
    // `get logtarget` and `get dbfile` name each server's own directory: not compared.
    "set logtarget /nonexistent-ferroban/x.log",
    "get syslogsocket",
    "set syslogsocket /dev/log",
    "get syslogsocket",
    "set syslogsocket auto",
    "set dbfile <logs>/other.sqlite3",
    "get dbpurgeage",
    "stop alpha",
    "status",
    "status alpha",
    "stop alpha",
    // Without jails the database may change (fail2ban's takes over the other's file).
    "set dbfile <logs>/other.sqlite3",
    "get dbfile",
    "set dbfile None",
    "get dbfile",
    "get dbpurgeage",
];

/// Runs `commands` on one server: each command's output and exit status.
fn session(
    f2b: &Path,
    dir: &TestDir,
    logs: &Path,
    commands: &[&str],
) -> Vec<(String, String, i32)> {
    commands
        .iter()
        .map(|command| {
            let command = command.replace("<logs>", &logs.display().to_string());
            let args: Vec<&str> = command.split(' ').collect();
            let (output, status) = python_client(f2b, dir, &args);
            (command.to_string(), output, status)
        })
        .collect()
}

/// The outputs of `commands` on fail2ban-server and on ferroban, each on the same fresh
/// configuration, and what each one's action recorded.
struct SideBySide {
    differences: Vec<String>,
    records: [String; 2],
}

fn side_by_side(f2b: &Path, commands: &[&str]) -> SideBySide {
    let logs = TestDir::new();
    let log = logs.path("auth.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(logs.path("other.log"), "").unwrap();

    let theirs = TestDir::new();
    configure(&theirs, &log);
    let fail2ban = Fail2banServer::start(f2b, &theirs);
    let expected = session(f2b, &theirs, logs.root.path(), commands);
    drop(fail2ban);

    let ours = TestDir::new();
    configure(&ours, &log);
    let server = ServerProcess::start_here(&ours);
    let actual = session(f2b, &ours, logs.root.path(), commands);
    drop(server);

    assert_eq!(actual.len(), commands.len());
    let differences = crate::support::differences(&expected, &actual);
    let record = |dir: &TestDir| std::fs::read_to_string(dir.path("record")).unwrap_or_default();
    SideBySide {
        differences,
        records: [record(&theirs), record(&ours)],
    }
}

#[test]
fn run_time_settings_print_the_same_against_ferroban_and_fail2ban() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let compared = side_by_side(&f2b, SETTINGS);
    assert!(
        compared.differences.is_empty(),
        "{}",
        compared.differences.join("\n")
    );
}

/// `restart` stops the jail with its actions and starts it again: the bans leave the
/// firewall and come back from the database, or stay gone with `--unban`.
const RESTARTS: &[&str] = &[
    "set alpha banip 192.0.2.1",
    "restart alpha",
    // fail2ban's actions thread re-bans the restored tickets after `restart` has answered:
    // a moment later both servers list them.
    "sleep 1",
    "get alpha banip",
    "get alpha banned",
    "get alpha banned 192.0.2.1",
    "get alpha banned 192.0.2.1 192.0.2.9",
    "get nope banned",
    "restart --unban alpha",
    "get alpha banip",
    "restart --if-exists nope",
    "restart nope",
    "start alpha",
    "start nope",
    "set alpha banip 192.0.2.2",
    "reload --restart --unban alpha",
    "get alpha banip",
    "stop alpha",
    "start alpha",
    "status alpha",
];

#[test]
fn restart_and_start_act_and_print_as_in_fail2ban() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let compared = side_by_side(&f2b, RESTARTS);
    assert!(
        compared.differences.is_empty(),
        "{}",
        compared.differences.join("\n")
    );
    let [theirs, ours] = &compared.records;
    assert!(
        theirs.contains("unban alpha 192.0.2.1\nban alpha 192.0.2.1"),
        "{theirs}"
    );
    assert_eq!(ours, theirs, "the actions ran alike");
}

fn failure_line(ip: &str) -> String {
    format!("{} host e2e: auth failed from {ip}", syslog_now())
}

fn banned(f2b: &Path, dir: &TestDir) -> String {
    let (text, _) = python_client(f2b, dir, &["get", "alpha", "banip"]);
    text.trim().to_string()
}

/// Regression: a run-time `maxretry` used to be refused ("Invalid command"); now the next
/// failure bans under the new limit, an added failregex finds the next line at once, and a
/// reload brings back what the files say.
#[test]
fn a_setting_changed_at_run_time_takes_effect_at_once_until_reload() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    std::fs::write(&log, "").unwrap();
    configure(&dir, &log);
    let _server = ServerProcess::start_here(&dir);

    for _ in 0..2 {
        append_line(&log, &failure_line("203.0.113.5"));
    }
    assert!(
        wait_until(Duration::from_secs(10), || total_failed(&f2b, &dir)
            == Some(2)),
        "two failures counted"
    );
    assert_eq!(banned(&f2b, &dir), "", "maxretry 5: no ban yet");
    assert_eq!(
        python_client(&f2b, &dir, &["set", "alpha", "maxretry", "3"]).1,
        0
    );
    append_line(&log, &failure_line("203.0.113.5"));
    assert!(
        wait_until(Duration::from_secs(10), || banned(&f2b, &dir)
            == "203.0.113.5"),
        "the third failure bans under maxretry 3: {}",
        banned(&f2b, &dir)
    );

    let regex = [
        "set",
        "alpha",
        "addfailregex",
        r"denied for <HOST> by policy$",
    ];
    assert_eq!(python_client(&f2b, &dir, &regex).1, 0);
    assert_eq!(
        python_client(&f2b, &dir, &["set", "alpha", "maxretry", "1"]).1,
        0
    );
    append_line(
        &log,
        &format!(
            "{} host e2e: denied for 198.51.100.7 by policy",
            syslog_now()
        ),
    );
    assert!(
        wait_until(Duration::from_secs(10), || banned(&f2b, &dir)
            .contains("198.51.100.7")),
        "the added failregex found the line: {}",
        banned(&f2b, &dir)
    );

    // An idle jail does not act on what it finds.
    assert_eq!(
        python_client(&f2b, &dir, &["set", "alpha", "idle", "on"]).1,
        0
    );
    append_line(
        &log,
        &format!(
            "{} host e2e: denied for 198.51.100.8 by policy",
            syslog_now()
        ),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !banned(&f2b, &dir).contains("198.51.100.8"),
        "idle jail banned"
    );
    assert_eq!(
        python_client(&f2b, &dir, &["set", "alpha", "idle", "off"]).1,
        0
    );

    assert_eq!(python_client(&f2b, &dir, &["reload"]).1, 0);
    let (maxretry, _) = python_client(&f2b, &dir, &["get", "alpha", "maxretry"]);
    assert_eq!(maxretry.trim(), "5", "the reload read the files again");
    let (regexes, _) = python_client(&f2b, &dir, &["get", "alpha", "failregex"]);
    assert!(!regexes.contains("denied for"), "{regexes}");
    let banned_after = banned(&f2b, &dir);
    assert!(
        banned_after.contains("203.0.113.5"),
        "bans stay: {banned_after}"
    );
}

/// How often the counting `ignorecommand` of [`ignorecache_keeps_the_commands_answer`] ran.
fn command_runs(dir: &TestDir) -> usize {
    std::fs::read_to_string(dir.path("runs"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

fn failures_counted(server: &ServerProcess) -> Option<u64> {
    let (_, text) = server.client(&["status", "alpha"]);
    let line = text.lines().find(|l| l.contains("Total failed:"))?;
    line.rsplit('\t').next()?.trim().parse().ok()
}

/// Regression: `ignorecommand` ran again for every failure, `ignorecache` was not read.
/// With it, a second failure of the same address within `max-time` takes the kept answer;
/// another address, or the same one after `max-time`, runs the command again.
#[test]
fn ignorecache_keeps_the_commands_answer() {
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    std::fs::write(&log, "").unwrap();
    configure(&dir, &log);
    let script = dir.path("count.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> {}\nexit 1\n",
            dir.path("runs").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir.write_conf(
        "jail.local",
        &format!(
            "[alpha]\nmaxretry = 10\nfindtime = 1h\nignorecommand = {} <ip>\n\
             ignorecache = key=\"<ip>\", max-count=100, max-time=5m\n",
            script.display()
        ),
    );
    let server = ServerProcess::start_here_with_env(&dir, &[("FERROBAN_TEST_CLOCK", "1")]);
    let counted = |n| {
        wait_until(Duration::from_secs(10), || {
            failures_counted(&server) == Some(n)
        })
    };

    for _ in 0..3 {
        append_line(&log, &failure_line("192.0.2.5"));
    }
    assert!(counted(3), "three failures counted");
    assert_eq!(command_runs(&dir), 1, "the answer for 192.0.2.5 was kept");
    append_line(&log, &failure_line("192.0.2.6"));
    assert!(counted(4));
    assert_eq!(command_runs(&dir), 2, "another address is another key");

    let (ok, text) = server.client(&["test-clock", "advance", "301"]);
    assert!(ok, "{text}");
    append_line(&log, &failure_line("192.0.2.5"));
    assert!(counted(5));
    assert_eq!(
        command_runs(&dir),
        3,
        "after max-time the command runs again"
    );

    let (ok, text) = server.client(&["get", "alpha", "ignorecache"]);
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "['<ip>', 100, 300]");
}

/// `set logtarget FILE` at run time moves the log: what the server logs next is in the new
/// file, not in the old one.
#[test]
fn set_logtarget_moves_the_log_at_once() {
    let dir = TestDir::new();
    let log = dir.path("auth.log");
    std::fs::write(&log, "").unwrap();
    configure(&dir, &log);
    let server = ServerProcess::start_here(&dir);
    let moved = dir.path("moved/ferroban.log");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    let target = moved.display().to_string();
    let (ok, text) = server.client(&["set", "logtarget", &target]);
    assert!(ok, "{text}");
    assert!(text.contains(&target), "{text}");
    let (ok, text) = server.client(&["set", "alpha", "banip", "192.0.2.44"]);
    assert!(ok, "{text}");
    let logged = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&moved).is_ok_and(|t| t.contains("Ban 192.0.2.44"))
    });
    assert!(logged, "{:?}", std::fs::read_to_string(&moved));
    assert!(!dir.log_text().contains("192.0.2.44"), "{}", dir.log_text());
}

/// `--str2sec` prints what Debian's fail2ban-server prints, with its exit status; `-V` and
/// `--version` print ferroban's number in fail2ban's two forms.
#[test]
fn server_flags_answer_as_fail2ban_server() {
    let Some(f2b) = support::fail2ban_dir() else {
        return;
    };
    let run = |program: &mut std::process::Command| {
        let out = program.output().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (text, out.status.code())
    };
    for value in ["1h30m", "600", "1d 2h", "2w", "-1", "abc"] {
        let theirs = run(std::process::Command::new("python3")
            .arg(f2b.join("usr/bin/fail2ban-server"))
            .args(["--str2sec", value])
            .env("PYTHONPATH", f2b.join("usr/lib/python3/dist-packages")));
        let ours = run(std::process::Command::new(crate::daemon_common::BIN).args([
            "server",
            "--str2sec",
            value,
        ]));
        assert_eq!(ours, theirs, "--str2sec {value}");
    }
    let version = env!("CARGO_PKG_VERSION");
    let short = run(std::process::Command::new(crate::daemon_common::BIN).args(["server", "-V"]));
    assert_eq!(short, (format!("{version}\n"), Some(0)));
    let long =
        run(std::process::Command::new(crate::daemon_common::BIN).args(["server", "--version"]));
    assert_eq!(long, (format!("ferroban v{version}\n"), Some(0)));
}
