use super::*;

#[test]
fn arguments_never_start_from_the_tail() {
    let mut options = JournalOptions::new(JournalStart::Since(
        UNIX_EPOCH + Duration::from_micros(1_500_000),
    ));
    options.matches = JournalMatch::parse_value("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap();
    let arguments = options.arguments();
    assert!(arguments.contains(&"--since=@1.500000".to_string()));
    assert!(arguments.contains(&"--no-tail".to_string()));
    assert!(arguments.contains(&"--system".to_string()));
    assert!(
        !arguments
            .iter()
            .any(|a| a == "-n" || a.starts_with("--lines"))
    );
    assert_eq!(
        &arguments[arguments.len() - 3..],
        ["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
    );
    options.start = JournalStart::AfterCursor("s=abc;i=1".into());
    options.directory = Some("/var/log/journal".into());
    let arguments = options.arguments();
    assert!(arguments.contains(&"--after-cursor=s=abc;i=1".to_string()));
    assert!(!arguments.contains(&"--system".to_string()));
}

#[test]
fn bounded_line_reader_skips_oversized_records() {
    let input = b"short\nthis one is too long\nok\npartial";
    let mut reader = BufReader::with_capacity(4, &input[..]);
    let mut line = Vec::new();
    let mut results = Vec::new();
    while let Some(fits) = read_bounded_line(&mut reader, &mut line, 8).unwrap() {
        results.push((fits, String::from_utf8_lossy(&line).into_owned()));
    }
    assert_eq!(
        results,
        [
            (true, "short".to_string()),
            (false, String::new()),
            (true, "ok".to_string()),
            (true, "partial".to_string())
        ]
    );
}

#[test]
fn fake_journalctl_output_is_parsed_and_exit_reported() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("journalctl");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo '{\"__CURSOR\":\"c1\",\"__REALTIME_TIMESTAMP\":\"1\",\"_COMM\":\"sshd\",\"_PID\":\"7\",\"MESSAGE\":[104,105]}'\n\
         echo 'not json'\n\
         echo \"args: $*\" >&2\n\
         exit 3\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    let mut options = JournalOptions::new(JournalStart::AfterCursor("c0".into()));
    options.journalctl = script;
    let mut source = spawn_written_script(&options);
    let entry = source
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(entry.line, "sshd[7]: hi");
    assert!(!entry.in_operation, "an entry from 1970 is backlog");
    assert_eq!(source.last_cursor(), Some("c1"));
    match source.recv_timeout(Duration::from_secs(10)) {
        Err(JournalError::Exited { status, stderr }) => {
            assert!(status.contains('3'), "{status}");
            assert!(stderr.contains("--after-cursor=c0"), "{stderr}");
        }
        other => panic!("expected exit, got {other:?}"),
    }
    assert_eq!(source.stats().malformed, 1);
}

/// Tests against a real journald. Opt-in with FERROBAN_JOURNAL_TESTS=1
/// (CI sets it): they need root to start journald when none is running, and
/// they write entries into the machine's journal. Without the variable, or
/// without journalctl/systemd-cat/systemd-journald, they print why and pass.
mod live {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::process::Command;

    const SOCKET: &str = "/run/systemd/journal/socket";
    const JOURNALD: [&str; 2] = [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ];

    /// Stops the journald this test started, even when the test fails.
    struct Journald(Option<Child>);

    impl Drop for Journald {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn journald_listening() -> bool {
        UnixDatagram::unbound()
            .and_then(|socket| socket.connect(SOCKET))
            .is_ok()
    }

    fn has_program(name: &str) -> bool {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }

    /// A running journald, started here if needed; `None` (with a message)
    /// when that is not possible.
    fn journald() -> Option<Journald> {
        if journald_listening() {
            return Some(Journald(None));
        }
        let Some(binary) = JOURNALD
            .iter()
            .find(|path| std::path::Path::new(path).exists())
        else {
            println!("skipping journal test: no systemd-journald binary (apt-get install systemd)");
            return None;
        };
        let child = Command::new(binary)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let guard = Journald(Some(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !journald_listening() {
            if Instant::now() > deadline {
                println!("skipping journal test: {binary} did not start listening on {SOCKET}");
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
        Some(guard)
    }

    fn log(tag: &str, message: &[u8]) {
        let mut child = Command::new("systemd-cat")
            .args(["-t", tag])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), message).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
    }

    fn next(source: &mut JournalSource) -> JournalEntry {
        source
            .recv_timeout(Duration::from_secs(15))
            .unwrap()
            .expect("journal entry within 15 s")
    }

    #[test]
    fn follows_journald_with_matches_and_resumes_after_cursor() {
        if std::env::var_os("FERROBAN_JOURNAL_TESTS").is_none_or(|v| v != "1") {
            println!("skipping journal test: set FERROBAN_JOURNAL_TESTS=1 to run it");
            return;
        }
        if !has_program("journalctl") || !has_program("systemd-cat") {
            println!(
                "skipping journal test: journalctl or systemd-cat missing (apt-get install systemd)"
            );
            return;
        }
        let Some(_journald) = journald() else { return };
        let tag = format!(
            "ferroban-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut options = JournalOptions::new(JournalStart::Since(
            SystemTime::now() - Duration::from_secs(1),
        ));
        options.matches = JournalMatch::parse_value(&format!(
            "SYSLOG_IDENTIFIER={tag} + _COMM=no-such-command-xyz"
        ))
        .unwrap();
        let mut source = JournalSource::spawn(&options).unwrap();
        // Written right after start: with `-n 0` such entries were lost.
        log(&tag, b"Failed password for root from 192.0.2.1\n");
        log(&tag, b"caf\xe9\n");
        let first = next(&mut source);
        assert!(first.line.contains(&format!("{tag}[")), "{}", first.line);
        assert!(
            first
                .line
                .ends_with("]: Failed password for root from 192.0.2.1"),
            "{}",
            first.line
        );
        assert!(first.realtime <= SystemTime::now());
        assert!(first.in_operation, "written after start, so not backlog");
        let second = next(&mut source);
        assert!(second.line.ends_with("]: caf\u{fffd}"), "{}", second.line);
        let cursor = source.last_cursor().unwrap().to_string();
        drop(source);

        log(&tag, b"third\n");
        options.start = JournalStart::AfterCursor(cursor);
        let mut resumed = JournalSource::spawn(&options).unwrap();
        let third = next(&mut resumed);
        assert!(third.line.ends_with("]: third"), "{}", third.line);
        assert_eq!(
            resumed.recv_timeout(Duration::from_millis(500)).unwrap(),
            None
        );
    }
}

/// Spawns a journalctl stand-in this test process has just written. Another test thread that
/// forks while the script's write descriptor is still open lets the child hold it until its
/// exec, and the kernel then refuses to run the script (`ETXTBSY`) for that moment: wait it out.
fn spawn_written_script(options: &JournalOptions) -> JournalSource {
    for _ in 0..100 {
        match JournalSource::spawn(options) {
            Err(JournalError::Spawn { source, .. })
                if source.kind() == std::io::ErrorKind::ExecutableFileBusy =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    panic!("the journalctl stand-in stayed busy for 2 s");
}
