//! Lifecycle and injection tests running real commands through /bin/sh.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::{ActionDef, ActionError, BanInfo, CommandAction, CommandActionDef, JailActions};

type TestResult = Result<(), Box<dyn Error>>;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn def(name: &str, definition: &[(&str, &str)], init: &[(&str, &str)]) -> CommandActionDef {
    CommandActionDef {
        name: name.to_owned(),
        definition: map(definition),
        init: map(init),
        ..CommandActionDef::default()
    }
}

fn ban_of(ip: &str) -> Result<BanInfo<'static>, std::net::AddrParseError> {
    let ip: IpAddr = ip.parse()?;
    Ok(BanInfo::new(ip, 1_700_000_000, 600))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Values an attacker could put into a user name or a log line.
const HOSTILE: [&str; 10] = [
    "$(touch MARKER)",
    "`touch MARKER`",
    "x; touch MARKER",
    "x' ; touch MARKER ; echo '",
    "x\" ; touch MARKER ; echo \"",
    "line1\ntouch MARKER\nline3",
    "back\\slash \\\" \\' \\n",
    "* ?[a] ~ {a,b} | & > MARKER < /dev/null",
    "${IFS}$(touch${IFS}MARKER)$PATH",
    "  leading and trailing spaces  ",
];

fn hostile(dir: &Path) -> Vec<String> {
    let marker = dir.join("pwned").display().to_string();
    HOSTILE
        .iter()
        .map(|value| value.replace("MARKER", &marker))
        .collect()
}

/// Each dynamic tag written with printf in every quoting context; the file
/// contents must equal the value byte for byte and no marker may appear.
#[test]
fn log_values_never_run_and_arrive_byte_exact() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().display().to_string();
    let actionban = format!(
        "printf '%s' <F-USER> > {out}/user_unquoted\n\
         printf '%s' \"<F-USER>\" > {out}/user_double\n\
         printf '%s' '<F-USER>' > {out}/user_single\n\
         printf '%s' \"$(printf '%s' '<matches>')\" > {out}/matches_subst\n\
         printf '%s' <matches> > {out}/matches_unquoted\n\
         printf '%s' \"<fid>\" > {out}/fid"
    );
    let mut action = CommandAction::new("sshd", def("probe", &[("actionban", &actionban)], &[]))?;
    for value in hostile(dir.path()) {
        let mut ban = ban_of("192.0.2.10")?;
        let data = [("user".to_string(), value.clone())].into();
        let lines = [value.clone(), "second line".into()];
        ban.data = &data;
        ban.matches = &lines;
        ban.fid = Some(value.clone());
        action.ban(&ban)?;
        let matches = format!("{value}\nsecond line");
        for (file, expected) in [
            ("user_unquoted", &value),
            ("user_double", &value),
            ("user_single", &value),
            ("matches_subst", &matches),
            ("matches_unquoted", &matches),
            ("fid", &value),
        ] {
            assert_eq!(
                &read(&dir.path().join(file)),
                expected,
                "{file} for {value:?}"
            );
        }
        assert!(
            !dir.path().join("pwned").exists(),
            "injection through {value:?}"
        );
    }
    Ok(())
}

#[test]
fn trusted_values_are_written_literally() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    let actionban = format!(
        "(echo <ip> <family> <ip-rev> <failures> <time> <bantime> <bancount> <restored><br>echo a<sp>b) > {}",
        out.display()
    );
    let mut definition = def("a", &[("actionban", &actionban)], &[]);
    // A jail's bantime option must not replace the ban's own.
    definition.options = map(&[("bantime", "1h")]);
    let mut action = CommandAction::new("sshd", definition)?;
    let mut ban = ban_of("2001:db8::1")?;
    ban.failures = 5;
    ban.ban_count = 2;
    action.ban(&ban)?;
    let reverse = crate::ip_reverse(&ban.ip);
    let expected = format!("2001:db8::1 inet6 {reverse} 5 1700000000 600 2 0\na b\n");
    assert_eq!(read(&out), expected);
    Ok(())
}

/// A command action that logs every operation to `log`.
fn logging_action(log: &Path, extra: &[(&str, &str)]) -> CommandActionDef {
    let log = log.display().to_string();
    let line = |op: &str, tag: &str| format!("echo {op} {tag} >> {log}");
    let mut definition = map(&[
        ("actionstart", &line("start", "<name>")),
        ("actionstop", &line("stop", "<name>")),
        ("actionban", &line("ban", "<ip>")),
        ("actionunban", &line("unban", "<ip>")),
    ]);
    definition.extend(map(extra));
    CommandActionDef {
        name: "logger".into(),
        definition,
        ..CommandActionDef::default()
    }
}

fn log_lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn lifecycle_start_ban_unban_stop_in_order() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let mut action = CommandAction::new("sshd", logging_action(&log, &[]))?;
    action.start()?;
    action.ban(&ban_of("192.0.2.1")?)?;
    action.unban(&ban_of("192.0.2.1")?)?;
    action.stop()?;
    assert_eq!(
        log_lines(&log),
        [
            "start sshd",
            "ban 192.0.2.1",
            "unban 192.0.2.1",
            "stop sshd"
        ]
    );
    Ok(())
}

#[test]
fn unban_of_a_family_without_bans_does_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let mut action = CommandAction::new("sshd", logging_action(&log, &[]))?;
    action.start()?;
    action.unban(&ban_of("192.0.2.1")?)?;
    assert_eq!(log_lines(&log), ["start sshd"]);
    Ok(())
}

#[test]
fn start_on_demand_per_family_with_conditional_init() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let mut def = logging_action(
        &log,
        &[(
            "actionstart",
            &format!("echo start <tool> >> {}", log.display()),
        )],
    );
    def.init = map(&[("tool", "iptables")]);
    def.family_init = BTreeMap::from([("inet6".to_owned(), map(&[("tool", "ip6tables")]))]);
    let mut action = CommandAction::new("sshd", def)?;
    action.start()?;
    assert!(
        log_lines(&log).is_empty(),
        "a conditional action starts on demand"
    );
    action.ban(&ban_of("2001:db8::7")?)?;
    action.ban(&ban_of("2001:db8::8")?)?;
    action.ban(&ban_of("192.0.2.7")?)?;
    action.stop()?;
    assert_eq!(
        log_lines(&log),
        [
            "start ip6tables",
            "ban 2001:db8::7",
            "ban 2001:db8::8",
            "start iptables",
            "ban 192.0.2.7",
            "stop sshd"
        ]
    );
    Ok(())
}

#[test]
fn explicit_start_on_demand_option() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let mut action = CommandAction::new(
        "sshd",
        logging_action(&log, &[("actionstart_on_demand", "true")]),
    )?;
    action.start()?;
    assert!(log_lines(&log).is_empty());
    action.ban(&ban_of("192.0.2.1")?)?;
    assert_eq!(log_lines(&log), ["start sshd", "ban 192.0.2.1"]);
    Ok(())
}

/// The ban fails once (a flag file is missing); actioncheck fails too, so
/// the action is restarted (actionstart creates the flag) and the ban retried.
#[test]
fn failed_ban_with_failing_check_restarts_and_retries() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let flag = dir.path().join("flag").display().to_string();
    let logged = log.display().to_string();
    let mut action = CommandAction::new(
        "sshd",
        logging_action(
            &log,
            &[
                (
                    "actionstart",
                    &format!("echo start >> {logged}; touch {flag}"),
                ),
                (
                    "actionstop",
                    &format!("echo stop >> {logged}; rm -f {flag}"),
                ),
                (
                    "actioncheck",
                    &format!("echo check >> {logged}; test -e {flag}"),
                ),
                (
                    "actionban",
                    &format!("test -e {flag} && echo ban <ip> >> {logged}"),
                ),
            ],
        ),
    )?;
    action.start()?;
    fs::remove_file(&flag)?;
    action.ban(&ban_of("192.0.2.1")?)?;
    assert_eq!(
        log_lines(&log),
        ["start", "check", "start", "check", "ban 192.0.2.1"]
    );
    Ok(())
}

#[test]
fn repair_command_is_preferred_over_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let flag = dir.path().join("flag").display().to_string();
    let logged = log.display().to_string();
    let mut action = CommandAction::new(
        "sshd",
        logging_action(
            &log,
            &[
                ("actioncheck", &format!("test -e {flag}")),
                (
                    "actionrepair",
                    &format!("echo repair >> {logged}; touch {flag}"),
                ),
                (
                    "actionban",
                    &format!("test -e {flag} && echo ban <ip> >> {logged}"),
                ),
            ],
        ),
    )?;
    action.start()?;
    action.ban(&ban_of("192.0.2.1")?)?;
    assert_eq!(log_lines(&log), ["start sshd", "repair", "ban 192.0.2.1"]);
    Ok(())
}

#[test]
fn ban_failure_reports_status_and_stderr() -> TestResult {
    let mut action = CommandAction::new(
        "sshd",
        def("a", &[("actionban", "echo no such chain >&2; exit 4")], &[]),
    )?;
    match action.ban(&ban_of("192.0.2.1")?) {
        Err(ActionError::CommandFailed {
            status,
            stderr,
            operation,
            ..
        }) => {
            assert_eq!(status, "exit status 4");
            assert_eq!(stderr, "no such chain\n");
            assert_eq!(operation, "actionban");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    Ok(())
}

#[test]
fn timeout_option_applies() -> TestResult {
    let mut action = CommandAction::new(
        "sshd",
        def("slow", &[("actionban", "sleep 10"), ("timeout", "1")], &[]),
    )?;
    let result = action.ban(&ban_of("192.0.2.1")?);
    assert!(
        matches!(result, Err(ActionError::Timeout { .. })),
        "{result:?}"
    );
    let invalid = CommandAction::new("sshd", def("x", &[("timeout", "soon")], &[]));
    assert!(
        matches!(invalid, Err(ActionError::InvalidTimeout { .. })),
        "{invalid:?}"
    );
    Ok(())
}

#[test]
fn flush_without_actionflush_unbans_each_and_with_it_flushes_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plain_log = dir.path().join("plain");
    let flushing_log = dir.path().join("flushing");
    let flush = format!("echo flush >> {}", flushing_log.display());
    let mut jail = JailActions::new(
        "sshd",
        vec![
            ActionDef::Command(logging_action(&plain_log, &[])),
            ActionDef::Command(logging_action(&flushing_log, &[("actionflush", &flush)])),
        ],
    )?;
    let bans = [ban_of("192.0.2.1")?, ban_of("192.0.2.2")?];
    assert!(jail.start().is_empty());
    for ban in &bans {
        assert!(jail.ban(ban).is_empty());
    }
    assert!(jail.flush(&bans, false).is_empty());
    assert!(jail.stop().is_empty());
    let expected_plain = [
        "start sshd",
        "ban 192.0.2.1",
        "ban 192.0.2.2",
        "unban 192.0.2.1",
        "unban 192.0.2.2",
        "stop sshd",
    ];
    assert_eq!(log_lines(&plain_log), expected_plain);
    let expected_flushing = [
        "start sshd",
        "ban 192.0.2.1",
        "ban 192.0.2.2",
        "flush",
        "stop sshd",
    ];
    assert_eq!(log_lines(&flushing_log), expected_flushing);
    Ok(())
}

/// fail2ban's `__flushBan`: a failed `actionflush` is followed by the action's consistency
/// check, not by unbans one by one; a broken action is repaired unless the jail is stopping.
#[test]
fn failed_flush_checks_the_action_instead_of_unbanning_each() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bans = [ban_of("192.0.2.1")?, ban_of("192.0.2.2")?];
    // `broken`: the action's state (a flag file its start creates) is gone before the flush.
    let run = |stopping: bool, broken: bool| -> Result<_, Box<dyn std::error::Error>> {
        let log = dir.path().join(format!("log-{stopping}-{broken}"));
        let flag = dir.path().join(format!("flag-{stopping}-{broken}"));
        let start = format!(
            "echo start <name> >> {}; touch {}",
            log.display(),
            flag.display()
        );
        let flush = format!("echo flush >> {}; exit 1", log.display());
        let check = format!("test -e {}", flag.display());
        let definition = logging_action(
            &log,
            &[
                ("actionstart", &start),
                ("actionflush", &flush),
                ("actioncheck", &check),
            ],
        );
        let mut jail = JailActions::new("sshd", vec![ActionDef::Command(definition)])?;
        assert!(jail.start().is_empty());
        for ban in &bans {
            assert!(jail.ban(ban).is_empty());
        }
        if broken {
            fs::remove_file(&flag)?;
        }
        let failures = jail.flush(&bans, stopping);
        let errors: Vec<String> = failures.iter().map(|f| f.error.to_string()).collect();
        Ok((log_lines(&log), errors, jail.ban_epoch()))
    };
    let before = ["start sshd", "ban 192.0.2.1", "ban 192.0.2.2", "flush"];

    // The check passes: nothing more happens, and no ban is removed one by one.
    let (lines, errors, epoch) = run(false, false)?;
    assert_eq!(lines, before);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("actionflush failed"), "{errors:?}");
    assert_eq!(epoch, 0);

    // The check fails while the jail runs (`unban --all`): the action is restarted.
    let (lines, errors, epoch) = run(false, true)?;
    let mut repaired = before.to_vec();
    repaired.extend(["stop sshd", "start sshd"]);
    assert_eq!(lines, repaired);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(epoch, 1);

    // The check fails while the jail stops: no repair, the flush is reported impossible.
    let (lines, errors, epoch) = run(true, true)?;
    assert_eq!(lines, before);
    assert!(
        errors.iter().any(|e| e.contains("flush is impossible")),
        "{errors:?}"
    );
    assert_eq!(epoch, 0);
    Ok(())
}

#[test]
fn reban_uses_actionreban_when_defined() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let reban = format!("echo reban <ip> >> {}", log.display());
    let mut plain = CommandAction::new("sshd", logging_action(&log, &[]))?;
    plain.reban(&ban_of("192.0.2.1")?)?;
    let mut with_reban =
        CommandAction::new("sshd", logging_action(&log, &[("actionreban", &reban)]))?;
    with_reban.reban(&ban_of("192.0.2.2")?)?;
    assert_eq!(log_lines(&log), ["ban 192.0.2.1", "reban 192.0.2.2"]);
    Ok(())
}

#[test]
fn norestored_actions_skip_restored_bans_and_failures_do_not_stop_others() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let mut skipping = logging_action(&log, &[("norestored", "1")]);
    skipping.name = "mail".into();
    let broken = def("broken", &[("actionban", "exit 1")], &[]);
    let mut jail = JailActions::new(
        "sshd",
        vec![
            ActionDef::Command(broken),
            ActionDef::Command(skipping),
            ActionDef::Command(logging_action(&log, &[])),
        ],
    )?;
    let mut ban = ban_of("192.0.2.1")?;
    ban.restored = true;
    let failures = jail.ban(&ban);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures.first().map(|f| f.action.as_str()), Some("broken"));
    assert_eq!(log_lines(&log), ["ban 192.0.2.1"]);
    Ok(())
}

#[test]
fn python_action_is_not_supported() {
    let result = JailActions::new(
        "sshd",
        vec![ActionDef::Python {
            name: "smtp".into(),
            file: "action.d/smtp.py".into(),
        }],
    );
    assert!(
        matches!(result, Err(ActionError::PythonNotSupported { .. })),
        "{result:?}"
    );
}

#[test]
fn recursive_definitions_fail_cleanly() -> TestResult {
    let mut action = CommandAction::new(
        "sshd",
        def(
            "loop",
            &[("actionban", "<a>")],
            &[("a", "<b>"), ("b", "<a>")],
        ),
    )?;
    let result = action.ban(&ban_of("192.0.2.1")?);
    assert!(
        matches!(result, Err(ActionError::SelfReference { .. })),
        "{result:?}"
    );
    Ok(())
}

// ---- stock mail actions, read from the fail2ban tree ----

fn f2b_action_dir() -> Option<PathBuf> {
    Some(ferroban_testdata::stock_config()?.join("action.d"))
}

/// A minimal reader of the stock files: sections, continuation lines
/// (joined by newlines, as Python's configparser), `%%` and `%(name)s`.
fn read_stock(dir: &Path, files: &[&str]) -> Result<CommandActionDef, Box<dyn Error>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let mut section = String::new();
        let mut key: Option<String> = None;
        for line in fs::read_to_string(dir.join(file))?.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(value) = key
                    .as_ref()
                    .and_then(|k| sections.entry(section.clone()).or_default().get_mut(k))
                {
                    value.push('\n');
                    value.push_str(trimmed);
                }
            } else if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = name.to_owned();
                key = None;
            } else if let Some((k, v)) = trimmed.split_once('=') {
                key = Some(k.trim().to_owned());
                sections
                    .entry(section.clone())
                    .or_default()
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    let defaults = sections.get("DEFAULT").cloned().unwrap_or_default();
    let interpolate = |values: BTreeMap<String, String>| -> BTreeMap<String, String> {
        let mut lookup = defaults.clone();
        lookup.extend(values.clone());
        values
            .into_iter()
            .map(|(k, v)| (k, percent_interpolate(&v, &lookup, 10)))
            .collect()
    };
    Ok(CommandActionDef {
        name: files
            .last()
            .map_or("stock", |f| f.trim_end_matches(".conf"))
            .to_owned(),
        definition: interpolate(sections.get("Definition").cloned().unwrap_or_default()),
        init: interpolate(sections.get("Init").cloned().unwrap_or_default()),
        ..CommandActionDef::default()
    })
}

fn percent_interpolate(value: &str, lookup: &BTreeMap<String, String>, depth: u32) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix("%(").and_then(|s| s.split_once(")s"))
        {
            let inner = lookup.get(name).cloned().unwrap_or_default();
            out.push_str(&if depth > 0 {
                percent_interpolate(&inner, lookup, depth - 1)
            } else {
                inner
            });
            rest = after;
        } else {
            out.push('%');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A directory with fake `sendmail`, `mail` and `whois` that record their
/// arguments and standard input.
fn fake_tools(dir: &Path) -> Result<BTreeMap<String, String>, Box<dyn Error>> {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    fs::create_dir(&bin)?;
    for tool in ["sendmail", "mail"] {
        let capture = dir.join(format!("{tool}.captured"));
        let script = format!(
            "#!/bin/sh\nprintf 'ARGS:' >> '{0}'\nfor a in \"$@\"; do printf ' [%s]' \"$a\" >> '{0}'; done\necho >> '{0}'\ncat >> '{0}'\n",
            capture.display()
        );
        fs::write(bin.join(tool), script)?;
    }
    fs::write(
        bin.join("whois"),
        "#!/bin/sh\necho \"whois record of $1\"\n",
    )?;
    for tool in ["sendmail", "mail", "whois"] {
        fs::set_permissions(bin.join(tool), fs::Permissions::from_mode(0o755))?;
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Ok(BTreeMap::from([("PATH".to_owned(), path)]))
}

#[test]
fn stock_sendmail_action_mails_jail_and_ip() -> TestResult {
    let Some(stock) = f2b_action_dir() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut def = read_stock(&stock, &["sendmail-common.conf", "sendmail.conf"])?;
    // As a jail would: `action = sendmail[mailcmd=…]` to use the sendmail on PATH.
    def.options = map(&[
        ("mailcmd", "sendmail -f \"<sender>\" \"<dest>\""),
        ("dest", "admin@example.org"),
    ]);
    let mut jail = JailActions::new("sshd", vec![ActionDef::Command(def)])?;
    jail.set_environment(&fake_tools(dir.path())?);
    let mut ban = ban_of("203.0.113.9")?;
    ban.failures = 3;
    assert!(jail.start().is_empty());
    let failures = jail.ban(&ban);
    assert!(failures.is_empty(), "{failures:?}");
    let mail = read(&dir.path().join("sendmail.captured"));
    assert!(
        mail.contains("ARGS: [-f] [fail2ban] [admin@example.org]"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [Fail2Ban] sshd: started on"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [Fail2Ban] sshd: banned 203.0.113.9 from"),
        "{mail}"
    );
    assert!(mail.contains("From: Fail2Ban <fail2ban>"), "{mail}");
    assert!(
        mail.contains(
            "The IP 203.0.113.9 has just been banned by Fail2Ban after\n3 attempts against sshd."
        ),
        "{mail}"
    );
    Ok(())
}

#[test]
fn stock_sendmail_whois_matches_carries_hostile_matches_verbatim() -> TestResult {
    let Some(stock) = f2b_action_dir() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut def = read_stock(
        &stock,
        &[
            "sendmail-common.conf",
            "mail-whois-common.conf",
            "sendmail-whois-matches.conf",
        ],
    )?;
    def.options = map(&[("mailcmd", "sendmail -f \"<sender>\" \"<dest>\"")]);
    let mut jail = JailActions::new("sshd", vec![ActionDef::Command(def)])?;
    jail.set_environment(&fake_tools(dir.path())?);
    let mut ban = ban_of("203.0.113.9")?;
    let marker = dir.path().join("pwned").display().to_string();
    let evil =
        format!("Failed password for $(touch {marker}) `touch {marker}` '\"; from 203.0.113.9");
    let lines = [evil.clone()];
    ban.matches = &lines;
    let failures = jail.ban(&ban);
    assert!(failures.is_empty(), "{failures:?}");
    let mail = read(&dir.path().join("sendmail.captured"));
    assert!(mail.contains("whois record of 203.0.113.9"), "{mail}");
    assert!(mail.contains(&format!("Matches:\n\n{evil}\n\n")), "{mail}");
    assert!(
        !dir.path().join("pwned").exists(),
        "injection through stock sendmail-whois-matches"
    );
    Ok(())
}

#[test]
fn stock_mail_action_uses_mail_on_path() -> TestResult {
    let Some(stock) = f2b_action_dir() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let def = read_stock(&stock, &["mail.conf"])?;
    let mut jail = JailActions::new("sshd", vec![ActionDef::Command(def)])?;
    jail.set_environment(&fake_tools(dir.path())?);
    assert!(jail.ban(&ban_of("198.51.100.4")?).is_empty());
    let mail = read(&dir.path().join("mail.captured"));
    assert!(
        mail.contains("[-s] [[Fail2Ban] sshd: banned 198.51.100.4 from"),
        "{mail}"
    );
    assert!(
        mail.contains("The IP 198.51.100.4 has just been banned"),
        "{mail}"
    );
    Ok(())
}

/// An action whose `actionban` and `actioncheck` need `flag`, which
/// `actionstart` creates and `actionstop` removes; it logs to `log`.
fn repairable_action(name: &str, log: &Path, flag: &Path) -> CommandActionDef {
    let (log, flag) = (log.display(), flag.display());
    def(
        name,
        &[
            (
                "actionstart",
                &format!("echo start {name} >> {log}; touch {flag}"),
            ),
            (
                "actionstop",
                &format!("echo stop {name} >> {log}; rm -f {flag}"),
            ),
            ("actioncheck", &format!("test -e {flag}")),
            (
                "actionban",
                &format!("test -e {flag} && echo ban {name} <ip> >> {log}"),
            ),
            ("actionreban", &format!("echo reban {name} <ip> >> {log}")),
        ],
        &[],
    )
}

/// A repair moves the jail's ban epoch on, and a ban applied before it is
/// rebanned on the repaired action only.
#[test]
fn repair_moves_the_ban_epoch_and_rebans_on_the_repaired_action_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("log");
    let (flag_a, flag_b) = (dir.path().join("a"), dir.path().join("b"));
    let mut jail = JailActions::new(
        "sshd",
        vec![
            ActionDef::Command(repairable_action("a", &log, &flag_a)),
            ActionDef::Command(repairable_action("b", &log, &flag_b)),
        ],
    )?;
    assert!(jail.start().is_empty());
    assert!(jail.ban(&ban_of("192.0.2.1")?).is_empty());
    assert_eq!(jail.ban_epoch(), 0);

    fs::remove_file(&flag_b)?;
    assert!(jail.ban(&ban_of("192.0.2.2")?).is_empty());
    assert_eq!(jail.ban_epoch(), 1, "action b was repaired");
    assert!(jail.reban_since(&ban_of("192.0.2.1")?, Some(0)).is_empty());
    assert!(jail.reban_since(&ban_of("192.0.2.2")?, Some(1)).is_empty());

    fs::remove_file(&flag_a)?;
    assert!(
        jail.consistency_check(),
        "action a was broken, and repaired"
    );
    assert_eq!(jail.ban_epoch(), 2);
    assert!(flag_a.exists(), "and restarted");
    assert!(jail.reban_since(&ban_of("192.0.2.2")?, Some(1)).is_empty());
    assert_eq!(
        log_lines(&log),
        [
            "start a",
            "start b",
            "ban a 192.0.2.1",
            "ban b 192.0.2.1",
            "ban a 192.0.2.2",
            "stop b",
            "start b",
            "ban b 192.0.2.2",
            "reban b 192.0.2.1",
            "stop a",
            "start a",
            "reban a 192.0.2.2",
        ]
    );
    Ok(())
}
