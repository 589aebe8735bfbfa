//! One configuration check for start-up, reload, `config-test` and `fail2ban-client -t`,
//! through the real binary: a file that cannot be read stops the server, a broken jail is
//! skipped, a reload never leaves a jail reading less than before, and `ignorecommand`
//! gets the failure's tags as data.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::daemon_common::{BIN, ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::record_jail::{base, fail, jail, record};

/// Appends `text` to `log` as a syslog line, `times` times.
fn log_lines(log: &Path, text: &str, times: usize) {
    for _ in 0..times {
        append_line(log, &format!("{} host e2e: {text}", syslog_now()));
    }
}

/// `ferroban ARGS...`: exit status, stdout, stderr.
fn run(args: &[&str], conf: &Path) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).arg(conf).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Regression: a reload with a failregex that does not compile stopped the jail's log
/// source, failed to start the new one, and answered "OK": the jail read no log any more.
#[test]
fn reload_with_a_broken_failregex_keeps_the_jail_reading_its_log() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    dir.write_conf("jail.conf", &jail("alpha", &log, ""));
    let server = ServerProcess::start_here(&dir);

    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = auth failed from (<HOST>$\n",
    );
    let (ok, text) = server.client(&["reload"]);
    assert!(!ok, "a reload that applied nothing for alpha fails: {text}");
    assert!(
        text.contains("Errors in jail 'alpha', it keeps running on its previous settings")
            && text.contains("e2e.conf:2: [alpha] failregex"),
        "{text}"
    );
    fail(&log, "192.0.2.61", 3);
    let banned = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban alpha 192.0.2.61")
    });
    assert!(banned, "alpha still reads its log:\n{}", dir.log_text());
}

/// Regression: with `[sshd` (no `]`) in jail.local, every line of that file was dropped and
/// the server started on jail.conf's defaults. Now it refuses, in the foreground and in
/// the background, with the file and line on stderr and in the log target.
#[test]
fn a_file_that_does_not_parse_stops_the_server_with_its_line() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("a.log"), ""));
    dir.write_conf("jail.local", "[alpha\nenabled = false\n");
    let (code, _, stderr) = run(&["server", "-f", "-x", "-c"], &dir.conf());
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("jail.local:1:"), "{stderr}");
    assert!(
        dir.log_text().contains("jail.local:1:"),
        "{}",
        dir.log_text()
    );
    assert!(!dir.socket().exists(), "no socket was bound");

    let (code, _, stderr) = run(&["server", "-b", "-x", "-c"], &dir.conf());
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("jail.local:1:") && stderr.contains("configuration cannot be read"),
        "the background start says why: {stderr}"
    );

    for args in [&["config-test", "-c"][..], &["client", "-t", "-c"][..]] {
        let (code, _, stderr) = run(args, &dir.conf());
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains("jail.local:1:"), "{args:?}: {stderr}");
    }
}

/// A jail whose own settings are broken is skipped, as fail2ban does, and the others run;
/// `config-test` and `-t` report the same errors and fail.
#[test]
fn a_broken_jail_is_skipped_and_both_checks_report_it() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    let text = format!(
        "{}{}{}",
        jail("alpha", &log, ""),
        jail("typo", &log, "backend = inotfy"),
        "[nolog]\nenabled = true\nfilter = e2e\nlogpath =\n"
    );
    dir.write_conf("jail.conf", &text);
    let mut reports = Vec::new();
    for args in [&["config-test", "-c"][..], &["client", "-t", "-c"][..]] {
        let (code, _, stderr) = run(args, &dir.conf());
        assert_ne!(code, 0, "{args:?}: {stderr}");
        assert!(
            stderr.contains("jail.conf:18: [typo] unknown backend \"inotfy\"")
                && stderr.contains("[nolog] Have not found any log file"),
            "{args:?}: {stderr}"
        );
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("[typo]")).collect();
        reports.push(errors.len());
    }
    assert_eq!(reports[0], reports[1], "both checks find the same errors");

    let server = ServerProcess::start_here(&dir);
    let (_, status) = server.client(&["status"]);
    assert!(status.ends_with("Jail list:\talpha\n"), "{status}");
    let log_text = dir.log_text();
    assert!(
        log_text.contains("Errors in jail 'typo'. Skipping...")
            && log_text.contains("Errors in jail 'nolog'. Skipping..."),
        "{log_text}"
    );
}

/// `ignorecommand` gets `<F-USER>` of the failure (as data, not shell text) and runs
/// through the actions' runner.
#[test]
fn ignorecommand_gets_the_failures_tags() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = user <F-USER>\\S+</F-USER> failed from <HOST>$\n",
    );
    let log = dir.path("a.log");
    let marker = dir.path("injected");
    dir.write_conf(
        "jail.conf",
        &jail("alpha", &log, "ignorecommand = test <F-USER> = trusted"),
    );
    let server = ServerProcess::start_here(&dir);
    log_lines(&log, "user trusted failed from 192.0.2.71", 3);
    let hostile = format!("$(touch${{IFS}}{})", marker.display());
    log_lines(&log, &format!("user {hostile} failed from 192.0.2.72"), 3);
    let banned = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban alpha 192.0.2.72")
    });
    assert!(banned, "{}", dir.log_text());
    assert!(!record(&dir).contains("192.0.2.71"), "{}", record(&dir));
    // The jail's log lines of a batch of failures are written once the batch is handled.
    let logged = wait_until(Duration::from_secs(10), || {
        dir.log_text().contains("Ignore 192.0.2.71 by command")
    });
    assert!(logged, "{}", dir.log_text());
    assert!(!marker.exists(), "a user name never runs as shell text");
    drop(server);
}

/// A start that fails after the configuration was read (here: a database that cannot be
/// created) says why on standard error, also from the background, and in the log target;
/// a second background server next to a running one is refused.
#[test]
fn start_up_problems_are_reported_where_the_user_looks() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf("jail.conf", &jail("alpha", &dir.path("a.log"), ""));
    let good = std::fs::read_to_string(dir.conf().join("fail2ban.local")).unwrap();
    let broken = good
        .lines()
        .map(|line| match line.starts_with("dbfile") {
            true => "dbfile = /proc/ferroban-test/db.sqlite3",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    dir.write_conf("fail2ban.local", &broken);
    let (code, _, stderr) = run(&["server", "-b", "-x", "-c"], &dir.conf());
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("/proc/ferroban-test/db.sqlite3"),
        "{stderr}"
    );
    let log = dir.log_text();
    assert!(
        log.contains("CRITICAL") && log.contains("/proc/ferroban-test/db.sqlite3"),
        "{log}"
    );

    dir.write_conf("fail2ban.local", &good);
    let _server = ServerProcess::start_here(&dir);
    let (code, _, stderr) = run(&["server", "-b", "-c"], &dir.conf());
    assert_ne!(code, 0, "a second server is refused");
    assert!(
        stderr.contains("already running") && stderr.contains(&dir.socket().display().to_string()),
        "{stderr}"
    );
}

/// `logencoding`: every encoding a log can be written in line by line passes (Python's
/// names for them); one that cannot be read so (UTF-16) or that nobody knows is an error at
/// its `file:line`.
#[test]
fn log_encodings_are_checked_where_they_are_written() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    std::fs::write(&log, "").unwrap();
    let mut text = String::new();
    for (n, encoding) in [
        "koi8_r",
        "cp1252",
        "iso-8859-15",
        "shift_jis",
        "utf-16",
        "klingon",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&jail(
            &format!("j{n}"),
            &log,
            &format!("logencoding = {encoding}"),
        ));
    }
    dir.write_conf("jail.conf", &text);
    let (code, _, stderr) = run(&["config-test", "-c"], &dir.conf());
    assert_ne!(code, 0, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("logencoding"))
        .collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].contains("jail.conf:")
            && errors[0].contains("[j4] unsupported logencoding \"utf-16\""),
        "{stderr}"
    );
    assert!(
        errors[1].contains("[j5] unsupported logencoding \"klingon\""),
        "{stderr}"
    );
}

/// The `bantime.*` values of a jail's files are read by the same reader as a run-time
/// `set JAIL bantime.OPTION`: a value that one refuses, the other refuses too, at the
/// value's `file:line`, and whether or not the increment is on, as fail2ban evaluates them.
#[test]
fn bantime_values_are_read_as_the_running_server_reads_them() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    std::fs::write(&log, "").unwrap();
    let jails = [
        jail(
            "good",
            &log,
            "bantime.increment = true\nbantime.formula = ban.Time * 2",
        ),
        jail(
            "spaced",
            &log,
            "bantime.increment = true\nbantime.multipliers = 1 x 4",
        ),
        jail(
            "off",
            &log,
            "bantime.increment = false\nbantime.factor = two",
        ),
    ];
    dir.write_conf("jail.conf", &jails.concat());
    let (code, _, stderr) = run(&["config-test", "-c"], &dir.conf());
    assert_ne!(code, 0, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("bantime.")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].contains("jail.conf:20: [spaced] bantime.multipliers \"1 x 4\""),
        "{stderr}"
    );
    assert!(
        errors[1].contains("jail.conf:30: [off] bantime.factor \"two\" is not a number"),
        "{stderr}"
    );

    // The running server refuses the same values in fail2ban's words, and keeps the jail.
    dir.write_conf("jail.conf", &jails[0]);
    let server = ServerProcess::start_here(&dir);
    let (ok, text) = server.client(&["set", "good", "bantime.multipliers", "1 x 4"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("invalid literal for int() with base 10: 'x'"),
        "{text}"
    );
    let (ok, text) = server.client(&["get", "good", "bantime.formula"]);
    assert_eq!((ok, text.trim()), (true, "ban.Time * 2"));
}
