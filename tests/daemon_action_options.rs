//! Action options through the real server: `maxmatches`, per-jail options with
//! `?family=inet6` sections, `actionstart_on_demand`, `timeout`, restoring bans after a
//! kill -9, Python actions refused, and a failing `actionflush` (checked and repaired, as
//! fail2ban does, rather than unbanned address by address).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon_common::{BIN, ServerProcess, TestDir, wait_until};
use crate::record_jail::{base, fail, jail, record};

#[test]
fn maxmatches_bounds_the_matches_handed_to_the_action() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "action.d/matches.conf",
        &format!(
            "[Definition]\nactionban = printf '%%s\\n==\\n' <matches> >> {}\n",
            dir.path("matches").display()
        ),
    );
    let log = dir.path("a.log");
    let text =
        jail("alpha", &log, "maxmatches = 1\n").replace("action = record", "action = matches");
    dir.write_conf("jail.conf", &text);
    let _server = ServerProcess::start_here(&dir);
    fail(&log, "192.0.2.77", 3);
    // The action's output ends with `==` once it is written whole.
    let seen = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.path("matches")).is_ok_and(|text| text.ends_with("==\n"))
    });
    assert!(seen, "{}", dir.log_text());
    let matches = std::fs::read_to_string(dir.path("matches")).unwrap();
    assert_eq!(
        matches.matches("auth failed from 192.0.2.77").count(),
        1,
        "one match kept:\n{matches}"
    );
}

#[test]
fn per_jail_action_options_and_family_sections() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "action.d/tagged.conf",
        &format!(
            "[Definition]\nactionban = echo ban <ip> <fam> <opt> <port> >> {}\n\
             [Init]\nfam = four\nopt = default\n[Init?family=inet6]\nfam = six\n",
            dir.path("record").display()
        ),
    );
    let log = dir.path("a.log");
    // As in fail2ban, a jail option reaches an action through its options (`%(port)s`).
    let text = jail("alpha", &log, "port = 2222\n").replace(
        "action = record",
        "action = tagged[opt=jailvalue, port=\"%(port)s\"]",
    );
    dir.write_conf("jail.conf", &text);
    let server = ServerProcess::start_here(&dir);
    server.client(&["set", "alpha", "banip", "192.0.2.1", "2001:db8::1"]);
    let done = wait_until(Duration::from_secs(5), || record(&dir).lines().count() >= 2);
    assert!(done, "{}", dir.log_text());
    let text = record(&dir);
    assert!(
        text.contains("ban 192.0.2.1 four jailvalue 2222\n"),
        "{text}"
    );
    assert!(
        text.contains("ban 2001:db8::1 six jailvalue 2222\n"),
        "{text}"
    );
}

#[test]
fn on_demand_start_timeout_and_restore_after_kill() {
    let dir = TestDir::new();
    base(&dir);
    let rec = dir.path("record");
    dir.write_conf(
        "action.d/lazy.conf",
        &format!(
            "[Definition]\nactionstart_on_demand = true\nactionstart = echo start >> {0}\n\
             actionstop = echo stop >> {0}\n\
             actionban = case <ip> in 192.0.2.9) sleep 30; echo late >> {0};; \
             *) echo ban <ip> >> {0};; esac\n\
             actionreban = echo reban <ip> >> {0}\nactionunban = echo unban <ip> >> {0}\n\
             [Init]\ntimeout = 1\n",
            rec.display()
        ),
    );
    let log = dir.path("a.log");
    dir.write_conf(
        "jail.conf",
        &jail("alpha", &log, "").replace("action = record", "action = lazy"),
    );
    let mut server = ServerProcess::start_here(&dir);
    let started = wait_until(Duration::from_secs(10), || {
        dir.log_text().contains("Jail 'alpha' started")
    });
    assert!(started, "{}", dir.log_text());
    assert_eq!(record(&dir), "", "actionstart waits for the first ban");

    let started = Instant::now();
    server.client(&["set", "alpha", "banip", "192.0.2.9"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a hanging actionban is cut off by its timeout"
    );
    server.client(&["set", "alpha", "banip", "192.0.2.10"]);
    let done = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban 192.0.2.10")
    });
    assert!(done, "{}\n{}", record(&dir), dir.log_text());
    assert!(record(&dir).starts_with("start\n"), "{}", record(&dir));
    assert!(!record(&dir).contains("late"), "killed at its timeout");
    assert!(
        dir.log_text().to_lowercase().contains("timeout")
            || dir.log_text().to_lowercase().contains("timed out"),
        "the timeout is logged:\n{}",
        dir.log_text()
    );

    server.kill9();
    std::fs::write(&rec, "").unwrap();
    let _server = ServerProcess::start_here(&dir);
    let done = wait_until(Duration::from_secs(10), || {
        record(&dir).contains("ban 192.0.2.10")
    });
    // fail2ban re-applies a restored ban with `actionban` ("Restore Ban"); `actionreban` is
    // for bans repeated after an action was repaired.
    assert!(done, "restored ban applied again:\n{}", record(&dir));
    assert!(!record(&dir).contains("reban"), "{}", record(&dir));
    assert!(
        dir.log_text().contains("Restore Ban 192.0.2.10"),
        "{}",
        dir.log_text()
    );
}

#[test]
fn smtp_py_is_refused_and_dump_prints_the_configuration() {
    let dir = TestDir::new();
    base(&dir);
    let log = dir.path("a.log");
    dir.write_conf(
        "jail.conf",
        &format!(
            "{}{}",
            jail("alpha", &log, ""),
            jail("mailer", &log, "").replace("action = record", "action = smtp.py[dest=root]")
        ),
    );
    let dump = Command::new(BIN)
        .arg("client")
        .arg("-c")
        .arg(dir.conf())
        .arg("-d")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("'alpha'"), "{text}");
    assert!(text.contains("maxretry"), "{text}");

    // A jail naming a Python action is refused, never run without that action; the
    // error names the command actions that send the same mail.
    let server = ServerProcess::start_here(&dir);
    let log_text = dir.log_text();
    assert!(
        log_text.contains("[mailer] action `smtp` is a Python action")
            && log_text.contains("`sendmail` or `mail`")
            && log_text.contains("Errors in jail 'mailer'. Skipping..."),
        "{log_text}"
    );
    let (_, status) = server.client(&["status"]);
    assert!(
        status.contains("alpha") && !status.contains("mailer"),
        "{status}"
    );
}

/// fail2ban's `__flushBan`: when `actionflush` fails, the action's `actioncheck` runs and a
/// broken action is repaired (restarted) instead of each address being unbanned; while the
/// jail stops, nothing is repaired and the log says the flush is impossible.
#[test]
fn failed_actionflush_checks_and_repairs_the_action() {
    let dir = TestDir::new();
    crate::daemon_common::e2e_base(&dir);
    let (record_file, flag) = (dir.path("record"), dir.path("flag"));
    dir.write_conf(
        "action.d/flaky.conf",
        &format!(
            "[Definition]\nactionstart = echo start >> {r}; touch {f}\n\
             actionstop = echo stop >> {r}\nactioncheck = test -e {f}\n\
             actionflush = echo flush >> {r}; exit 1\n\
             actionban = echo ban <ip> >> {r}\nactionunban = echo unban <ip> >> {r}\n",
            r = record_file.display(),
            f = flag.display()
        ),
    );
    dir.write_conf(
        "jail.conf",
        &format!(
            "[alpha]\nenabled = true\nfilter = e2e\nlogpath = {}\nbantime = 600\n\
             ignoreself = false\naction = flaky\n",
            dir.path("a.log").display()
        ),
    );
    let record = || std::fs::read_to_string(&record_file).unwrap_or_default();
    let mut server = ServerProcess::start_here(&dir);
    let (ok, text) = server.client(&["set", "alpha", "banip", "192.0.2.5", "192.0.2.6"]);
    assert!(ok, "{text}");
    assert!(wait_until(Duration::from_secs(10), || record()
        .contains("ban 192.0.2.6")));

    // The action's state is gone when `unban --all` flushes: checked, then restarted.
    std::fs::remove_file(&flag).unwrap();
    let (ok, text) = server.client(&["unban", "--all"]);
    assert!(ok, "{text}");
    let repaired = "ban 192.0.2.6\nflush\nstop\nstart\n";
    assert!(
        wait_until(Duration::from_secs(10), || record().ends_with(repaired)),
        "{}",
        record()
    );
    assert!(!record().contains("unban"), "{}", record());
    assert!(flag.exists(), "the restart set the action up again");

    // Gone again while the jail stops: no repair, the flush is reported impossible.
    let (ok, text) = server.client(&["set", "alpha", "banip", "192.0.2.7"]);
    assert!(ok, "{text}");
    assert!(wait_until(Duration::from_secs(10), || record()
        .contains("ban 192.0.2.7")));
    std::fs::remove_file(&flag).unwrap();
    server.stop();
    assert!(
        record().ends_with("ban 192.0.2.7\nflush\nstop\n"),
        "{}",
        record()
    );
    assert!(!record().contains("unban"), "{}", record());
    assert!(
        dir.log_text().contains("flush is impossible"),
        "{}",
        dir.log_text()
    );
}
