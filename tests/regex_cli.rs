//! `ferroban regex` through the real binary: the same report as fail2ban-regex on fail2ban's
//! own sample logs, `--json`, the seed example's filters, ferroban's default filters on
//! realistic lines, hostile logs and bad arguments.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::daemon_common::{copy_dir, seed_dir};
use crate::support::{self, cli};

/// "Now" for runs whose lines carry no year: 2025-11-20, so Nov/Feb dates fall in the past.
const NOW: &str = "1763640000";

/// The report without the one line that measures time.
fn comparable(report: &str) -> String {
    report
        .lines()
        .filter(|l| !l.starts_with("[processed in"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fail2ban_regex(dir: &Path, args: &[&str]) -> Option<String> {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        return None;
    }
    let output = Command::new(python)
        .arg(dir.join("usr/bin/fail2ban-regex"))
        .args(args)
        .env("PYTHONPATH", dir.join("usr/lib/python3/dist-packages"))
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn report_is_the_same_as_fail2ban_regex_on_every_stock_sample_log() {
    let Some(dir) = support::fail2ban_dir() else {
        return;
    };
    let config = dir.join("etc/fail2ban");
    let logs = support::fail2ban_python(&dir).join("tests/files/logs");
    let mut compared = 0;
    let mut different = Vec::new();
    let mut names: Vec<String> = fs::read_dir(config.join("filter.d"))
        .expect("stock filter.d")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".conf")
                .map(str::to_string)
        })
        .filter(|name| logs.join(name).is_file())
        .collect();
    names.sort();
    for name in names {
        let log = logs.join(&name);
        let (config, log) = (config.to_string_lossy(), log.to_string_lossy());
        let args = [
            "-c",
            &*config,
            "--print-all-matched",
            "--print-all-missed",
            &*log,
            &*name,
        ];
        let Some(theirs) = fail2ban_regex(&dir, &args) else {
            eprintln!("skipped: /usr/bin/python3 is not available to run fail2ban-regex");
            return;
        };
        let mut ours_args = vec!["regex"];
        ours_args.extend(args);
        let (code, ours, stderr) = cli::run(&ours_args);
        assert_eq!(code, 0, "{name}: {stderr}");
        compared += 1;
        if comparable(&theirs) != comparable(&ours) {
            different.push(name);
        }
    }
    eprintln!(
        "{compared} reports compared with fail2ban-regex, {} differ",
        different.len()
    );
    assert!(compared > 70, "only {compared} sample logs compared");
    assert!(
        different.is_empty(),
        "reports differ from fail2ban-regex for: {different:?}"
    );
}

fn json_failures(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn write_log(dir: &Path, lines: &[&str]) -> String {
    let path = dir.join("test.log");
    fs::write(
        &path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write log");
    path.to_string_lossy().into_owned()
}

#[test]
fn json_gives_line_time_address_groups_and_regex() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write_log(
        dir.path(),
        &[
            "Nov 20 10:00:01 gw sshd[1]: Accepted publickey for alice from 192.0.2.5 port 2222 ssh2",
            "Nov 20 10:00:02 gw sshd[2]: Failed password for invalid user admin from 198.51.100.7 port 4242 ssh2",
        ],
    );
    let config = cli::default_config();
    let (code, stdout, stderr) = cli::run(&[
        "regex",
        "--json",
        "--now",
        NOW,
        "-c",
        &config.to_string_lossy(),
        &log,
        "sshd",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let failures = json_failures(&stdout);
    assert_eq!(failures.len(), 1, "{stdout}");
    let failure = &failures[0];
    assert_eq!(failure["line"], 2);
    assert_eq!(failure["ip"], "198.51.100.7");
    assert_eq!(failure["groups"]["user"], "admin");
    assert_eq!(failure["failregex"], 1);
    let time = failure["time"].as_f64().expect("a time");
    let expected = jiff::civil::date(2025, 11, 20).at(10, 0, 2, 0);
    let local = jiff::tz::TimeZone::system()
        .to_ambiguous_timestamp(expected)
        .compatible()
        .expect("local time");
    assert_eq!(time, local.as_second() as f64);
}

/// A log line and what must be found in it: nothing, or a host with (maybe) a user.
type Expected<'a> = (&'a str, Option<(&'a str, Option<&'a str>)>);

/// ferroban's own filters on realistic lines: which match, with which host and user.
#[test]
fn default_filters_catch_realistic_failures_and_nothing_else() {
    let cases: &[(&str, &[Expected<'_>])] = &[
        (
            "sshd",
            &[
                (
                    "Nov 20 10:00:01 gw sshd[11]: Failed password for root from 192.0.2.1 port 50000 ssh2",
                    Some(("192.0.2.1", Some("root"))),
                ),
                (
                    "Nov 20 10:00:02 gw sshd[12]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.2 port 22 ssh2",
                    Some(("192.0.2.2", Some("x from 6.6.6.6 port 1 ssh2"))),
                ),
                (
                    "Nov 20 10:00:03 gw sshd[13]: Invalid user oracle from 2001:db8::7 port 4000",
                    Some(("2001:db8::7", Some("oracle"))),
                ),
                (
                    "Nov 20 10:00:04 gw sshd[14]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.4  user=bob",
                    Some(("192.0.2.4", Some("bob"))),
                ),
                (
                    "Nov 20 10:00:05 gw sshd-session[15]: error: maximum authentication attempts exceeded for root from 192.0.2.5 port 3 ssh2 [preauth]",
                    Some(("192.0.2.5", Some("root"))),
                ),
                (
                    "Nov 20 10:00:06 gw sshd[16]: User admin from 192.0.2.6 not allowed because not listed in AllowUsers",
                    Some(("192.0.2.6", Some("admin"))),
                ),
                (
                    "Nov 20 10:00:07 gw sshd[17]: Accepted password for alice from 192.0.2.7 port 22 ssh2",
                    None,
                ),
                (
                    "Nov 20 10:00:08 gw sshd[18]: Did not receive identification string from 192.0.2.8 port 22",
                    None,
                ),
                (
                    "Nov 20 10:00:09 gw CRON[19]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                    None,
                ),
            ],
        ),
        (
            "sshd[mode=aggressive]",
            &[(
                "Nov 20 10:00:08 gw sshd[18]: Did not receive identification string from 192.0.2.8 port 22",
                Some(("192.0.2.8", None)),
            )],
        ),
        (
            "dovecot",
            &[
                (SEED_DOVECOT[0], Some(("203.0.113.9", Some("admin")))),
                (SEED_DOVECOT[1], Some(("203.0.113.9", Some("info")))),
                (
                    "Feb  5 14:27:10 mail dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 9 secs): user=<x>, rip=203.0.113.10, lip=192.0.2.1, session=<Q>",
                    Some(("203.0.113.10", Some("x"))),
                ),
                (
                    "Feb  5 14:27:11 mail dovecot: auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=y rhost=203.0.113.11  user=y",
                    Some(("203.0.113.11", Some("y"))),
                ),
                (
                    "Feb  5 14:27:12 mail dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=203.0.113.12, lip=192.0.2.1, mpid=1, TLS",
                    None,
                ),
                // A user name crafted to look like the address fields: the real ones come last.
                (
                    "Feb  5 14:27:13 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a>, rip=6.6.6.6, lip=x>, method=PLAIN, rip=203.0.113.13, lip=192.0.2.1",
                    Some(("203.0.113.13", Some("a>, rip=6.6.6.6, lip=x"))),
                ),
            ],
        ),
        (
            "postfix-sasl",
            &[
                (SEED_POSTFIX[0], Some(("213.180.183.101", None))),
                (SEED_POSTFIX[1], Some(("198.51.100.7", None))),
                (
                    "Feb  5 14:26:31 mail postfix/submission/smtpd[23491]: warning: unknown[2001:db8::9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                    Some(("2001:db8::9", None)),
                ),
                (
                    "Feb  5 14:26:32 mail postfix/smtpd[23492]: connect from unknown[198.51.100.8]",
                    None,
                ),
                (
                    "Feb  5 14:26:33 mail postfix/smtpd[23493]: warning: hostname x does not resolve to address 198.51.100.9",
                    None,
                ),
            ],
        ),
        (
            "recidive",
            &[
                (
                    "2025-11-20 10:00:00,123 fail2ban.actions        [412]: NOTICE  [sshd] Ban 192.0.2.20",
                    Some(("192.0.2.20", None)),
                ),
                (
                    "2025-11-20 10:00:01,123 fail2ban.actions        [412]: NOTICE  [dovecot] Ban 192.0.2.21",
                    Some(("192.0.2.21", None)),
                ),
                (
                    "2025-11-20 10:00:02,123 fail2ban.actions        [412]: NOTICE  [recidive] Ban 192.0.2.22",
                    None,
                ),
                (
                    "2025-11-20 10:00:03,123 fail2ban.actions        [412]: NOTICE  [sshd] Unban 192.0.2.20",
                    None,
                ),
            ],
        ),
    ];
    let config = cli::default_config();
    let dir = tempfile::tempdir().expect("tempdir");
    for (filter, lines) in cases {
        let texts: Vec<&str> = lines.iter().map(|(l, _)| *l).collect();
        let log = write_log(dir.path(), &texts);
        let (code, stdout, stderr) = cli::run(&[
            "regex",
            "--json",
            "--now",
            NOW,
            "-c",
            &config.to_string_lossy(),
            &log,
            filter,
        ]);
        assert_eq!(code, 0, "{filter}: {stderr}");
        let found = json_failures(&stdout);
        for (number, (line, expected)) in lines.iter().enumerate() {
            let hits: Vec<&Value> = found
                .iter()
                .filter(|f| f["line"] == (number + 1) as u64)
                .collect();
            match expected {
                None => assert!(
                    hits.is_empty(),
                    "{filter}: must not match: {line}\n{hits:?}"
                ),
                Some((ip, user)) => {
                    assert_eq!(hits.len(), 1, "{filter}: must match once: {line}");
                    assert_eq!(hits[0]["ip"], *ip, "{filter}: {line}");
                    if let Some(user) = user {
                        assert_eq!(hits[0]["groups"]["user"], *user, "{filter}: {line}");
                    }
                }
            }
        }
    }
}

const SEED_DOVECOT: [&str; 2] = [
    "Feb  5 14:27:02 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<Lk3QsmAA0sLAqAEK>",
    "Feb  5 14:27:09 mail dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<info>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, session=<Yz1QsmAA0sLAqAEK>",
];
const SEED_POSTFIX: [&str; 2] = [
    "Feb  5 14:26:24 mail postfix/smtpd[23488]: warning: cust.static.213-180-183-101.cybernet.ch[213.180.183.101]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Feb  5 14:26:30 mail postfix/smtpd[23490]: warning: unknown[198.51.100.7]: SASL PLAIN authentication failed: authentication failure",
];

#[test]
fn seed_dovecot_filter_takes_the_old_host_group_as_the_host() {
    let Some(seed) = seed_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write_log(dir.path(), &SEED_DOVECOT);
    let filter = seed.join("filter.d/dovecot.conf");
    let (code, stdout, stderr) = cli::run(&[
        "regex",
        "--json",
        "--now",
        NOW,
        &log,
        &filter.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let found = json_failures(&stdout);
    assert_eq!(found.len(), 2, "{stdout}");
    assert!(found.iter().all(|f| f["ip"] == "203.0.113.9"), "{stdout}");
}

#[test]
fn seed_postfix_typo_shows_zero_matches_as_fail2ban_does() {
    let Some(seed) = seed_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write_log(dir.path(), &SEED_POSTFIX);
    let filter = seed.join("action.d/postfix-sasl.conf");
    let (code, stdout, stderr) =
        cli::run(&["regex", "--now", NOW, &log, &filter.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Failregex: 0 total"), "{stdout}");
    assert!(
        stdout.contains("Lines: 2 lines, 0 ignored, 0 matched, 2 missed"),
        "{stdout}"
    );
    // ferroban's own postfix-sasl filter catches both.
    let config = cli::default_config();
    let (_, stdout, _) = cli::run(&[
        "regex",
        "--now",
        NOW,
        "-c",
        &config.to_string_lossy(),
        &log,
        "postfix-sasl",
    ]);
    assert!(
        stdout.contains("Lines: 2 lines, 0 ignored, 2 matched, 0 missed"),
        "{stdout}"
    );
}

#[test]
fn seed_configuration_reports_the_misplaced_filter_and_loads_the_rest() {
    let (Some(seed), Some(f2b)) = (seed_dir(), support::fail2ban_dir()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&f2b.join("etc/fail2ban"), dir.path());
    copy_dir(&seed, dir.path());
    let (code, stdout, stderr) = cli::run(&["config-test", "-c", &dir.path().to_string_lossy()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ERROR: ") && l.contains(".conf:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let error = errors[0];
    assert!(error.contains("jail.conf:13:"), "{error}");
    assert!(error.contains("action.d/postfix-sasl.conf"), "{error}");
    assert!(error.contains("a filter belongs in filter.d/"), "{error}");
    // With the filter moved where it belongs, the configuration is good.
    fs::rename(
        dir.path().join("action.d/postfix-sasl.conf"),
        dir.path().join("filter.d/postfix-sasl.conf"),
    )
    .expect("move filter");
    let (code, stdout, stderr) = cli::run(&["config-test", "-c", &dir.path().to_string_lossy()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("OK: configuration test is successful"));
}

#[test]
fn default_configuration_passes_config_test() {
    let config = cli::default_config();
    let (code, stdout, stderr) = cli::run(&["config-test", "-c", &config.to_string_lossy()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// A mistake, the files (name, text) that make it, and what the error must say.
type ConfigCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// Each kind of configuration mistake is named with its file and line.
#[test]
fn config_errors_name_file_and_line() {
    let cases: &[ConfigCase<'_>] = &[
        (
            "syntax error",
            &[(
                "jail.conf",
                "[sshd]\nenabled = true\nthis line has no equals sign\n",
            )],
            "jail.conf:3:",
        ),
        (
            "missing include",
            &[(
                "jail.conf",
                "[INCLUDES]\nbefore = nowhere.conf\n[x]\nenabled = false\n",
            )],
            "jail.conf:2:",
        ),
        (
            "include cycle",
            &[
                (
                    "jail.conf",
                    "[INCLUDES]\nafter = b.conf\n[DEFAULT]\nx = 1\n",
                ),
                ("b.conf", "[INCLUDES]\nbefore = jail.conf\n"),
            ],
            "include cycle",
        ),
        (
            "undefined interpolation",
            &[
                (
                    "jail.conf",
                    "[j]\nenabled = true\nfilter = f\nlogpath = %(nowhere)s\n",
                ),
                ("filter.d/f.conf", "[Definition]\nfailregex = ^<HOST>$\n"),
            ],
            "jail.conf:4:",
        ),
        (
            "bad regex",
            &[
                (
                    "jail.conf",
                    "[j]\nenabled = true\nfilter = f\nlogpath = /dev/null\n",
                ),
                (
                    "filter.d/f.conf",
                    "[Definition]\nfailregex = ^ok <HOST>\n            ^bad( <HOST>\n",
                ),
            ],
            "f.conf:3:",
        ),
        (
            "unknown filter",
            &[(
                "jail.conf",
                "[j]\nenabled = true\nfilter = nosuch\nlogpath = /dev/null\n",
            )],
            "jail.conf:3: unknown filter `nosuch`",
        ),
        (
            "unknown action",
            &[
                (
                    "jail.conf",
                    "[j]\nenabled = true\nfilter = f\naction = nosuch[name=x]\nlogpath = /dev/null\n",
                ),
                ("filter.d/f.conf", "[Definition]\nfailregex = ^<HOST>$\n"),
            ],
            "unknown action `nosuch`",
        ),
    ];
    for (what, files, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in *files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, text).expect("write");
        }
        let (code, stdout, stderr) =
            cli::run(&["config-test", "-c", &dir.path().to_string_lossy()]);
        assert_eq!(code, 1, "{what}: {stdout}{stderr}");
        assert!(
            stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn hostile_log_lines_do_not_break_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hostile.log");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        b"Nov 20 10:00:01 gw sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2\n",
    );
    bytes.extend(std::iter::repeat_n(b'A', 1 << 20));
    bytes.push(b'\n');
    bytes.extend_from_slice(b"Nov 20 10:00:02 gw sshd[2]: Failed password for r\x00ot\xff\xfe from 192.0.2.2 port 1 ssh2\n");
    bytes.extend_from_slice(b"\xc3\x28\xa0\xa1 garbage \x00\x00\n");
    fs::write(&path, &bytes).expect("write");
    let config = cli::default_config();
    let (code, stdout, stderr) = cli::run(&[
        "regex",
        "--now",
        NOW,
        "-c",
        &config.to_string_lossy(),
        &path.to_string_lossy(),
        "sshd",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Lines: 4 lines, 0 ignored, 2 matched, 2 missed"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_get_an_error_and_exit_255() {
    let (code, _, stderr) = cli::run(&["regex", "Nov 20 10:00:01 x", "bad(regex <HOST>"]);
    assert_eq!(code, 255);
    assert!(stderr.contains("unable to compile"), "{stderr}");
    let (code, _, stderr) = cli::run(&["regex", "line", "^no host group$"]);
    assert_eq!(code, 255);
    assert!(stderr.contains("no failure-id group"), "{stderr}");
    let (code, _, stderr) = cli::run(&["regex", "only-one-argument"]);
    assert_ne!(code, 0);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `-e`/`logencoding` of encodings beyond UTF-8 and Latin-1 (through `encoding_rs`): the
/// same report as fail2ban-regex on logs written in KOI8-R, cp1252, ISO-8859-15 and
/// Shift_JIS, whose user names the regex must read as text; UTF-16 is refused.
#[test]
fn other_log_encodings_give_the_same_report_as_fail2ban_regex() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[u8]); 4] = [
        ("koi8-r", "Привет", b"\xf0\xd2\xc9\xd7\xc5\xd4"),
        ("cp1252", "José€", b"Jos\xe9\x80"),
        ("iso-8859-15", "Œuvre€", b"\xbcuvre\xa4"),
        ("shift_jis", "太郎", b"\x91\xbe\x98\x59"),
    ];
    for (encoding, user, bytes) in cases {
        let log = dir.path().join(format!("{encoding}.log"));
        let mut text = Vec::new();
        for (n, ip) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
            text.extend_from_slice(format!("2025-11-19 10:00:0{n} host sshd: user ").as_bytes());
            text.extend_from_slice(bytes);
            text.extend_from_slice(format!(" failed from {ip}\n").as_bytes());
        }
        text.extend_from_slice(
            b"2025-11-19 10:00:09 host sshd: user other failed from 192.0.2.3\n",
        );
        fs::write(&log, text).unwrap();
        let regex = format!("user {user} failed from <HOST>$");
        let log = log.to_string_lossy();
        let args = ["-e", encoding, "--print-all-matched", &*log, &*regex];
        let mut ours_args = vec!["regex"];
        ours_args.extend(args);
        let (code, ours, stderr) = cli::run(&ours_args);
        assert_eq!(code, 0, "{encoding}: {stderr}");
        assert!(
            ours.contains("Lines: 3 lines, 0 ignored, 2 matched, 1 missed"),
            "{encoding}:\n{ours}"
        );
        assert!(
            ours.contains(&format!("user {user} failed from 192.0.2.2")),
            "{encoding}:\n{ours}"
        );
        if let Some(dir) = support::fail2ban_dir()
            && let Some(theirs) = fail2ban_regex(&dir, &args)
        {
            assert_eq!(comparable(&ours), comparable(&theirs), "{encoding}");
        }
    }
    let log = dir.path().join("koi8-r.log");
    let log = log.to_string_lossy();
    let (code, _, stderr) = cli::run(&["regex", "-e", "utf-16", &*log, "x <HOST>"]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("unsupported logencoding \"utf-16\""),
        "{stderr}"
    );
}

/// Regression: `ferroban regex ... | head -1` panicked on the closed pipe.
#[test]
fn regex_report_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(
        dir.path(),
        &["2025-11-19 10:00:00 auth failed from 192.0.2.1"; 2000],
    );
    let script = format!(
        "'{}' regex --print-all-matched '{log}' 'failed from <HOST>$' | head -1",
        crate::daemon_common::BIN
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
