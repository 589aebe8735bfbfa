//! What a first-time user meets: the shipped configuration (`config/`, installed as
//! /etc/ferroban) in a temporary directory standing for /etc/ferroban, a server started on
//! it, and a client that finds that server through the directory alone (no `-s`), under every
//! name it goes by. A server started on a terminal says where its log file is.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_common::{BIN, ServerProcess, TestDir, copy_dir};
use crate::support::cli::default_config;

/// The shipped configuration, with the server's files inside the test directory and the
/// sshd jail on a test log with the `dummy` action (no firewall is touched).
fn installed_like_config(dir: &TestDir) {
    copy_dir(&default_config(), &dir.conf());
    dir.write_server_local();
    let auth_log = dir.path("auth.log");
    std::fs::write(&auth_log, "").unwrap();
    dir.write_conf(
        "jail.local",
        &format!(
            "[sshd]\nlogpath = {}\nbanaction = dummy\n",
            auth_log.display()
        ),
    );
}

/// `program ARGS` with no `-s`: (exit code, stdout + stderr).
fn run_without_socket(program: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(program).args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn client_finds_the_server_through_the_configuration_directory() {
    let dir = TestDir::new();
    installed_like_config(&dir);
    let _server = ServerProcess::start_here(&dir);
    let conf = dir.conf();
    let conf = conf.to_str().unwrap();
    let fail2ban_client = dir.path("fail2ban-client");
    std::os::unix::fs::symlink(BIN, &fail2ban_client).unwrap();

    let bin = PathBuf::from(BIN);
    for (program, args) in [
        (&bin, vec!["client", "-c", conf, "status"]),
        (&bin, vec!["-c", conf, "status"]),
        (&fail2ban_client, vec!["-c", conf, "status"]),
    ] {
        let (code, text) = run_without_socket(program, &args);
        assert_eq!(code, 0, "{} {args:?}:\n{text}", program.display());
        assert!(
            text.contains("Jail list:") && text.contains("sshd"),
            "{text}"
        );
    }
    let (code, text) = run_without_socket(&bin, &["-c", conf, "stop"]);
    assert_eq!(code, 0, "{text}");
}

/// Starts `ferroban server -f -c CONF` with stderr on a pseudo-terminal (`script`), or
/// piped when `terminal` is false; returns the process and what it wrote.
fn spawn_server(conf: &Path, terminal: bool) -> Child {
    let mut command = if terminal {
        let line = format!("'{BIN}' server -f -c '{}'", conf.display());
        let mut command = Command::new("script");
        command.args(["-qfec", &line, "/dev/null"]);
        command
    } else {
        let mut command = Command::new(BIN);
        command.args(["server", "-f", "-c"]).arg(conf);
        command
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the server to answer, stops it, and returns everything it printed.
fn stop_and_collect(mut child: Child, conf: &Path) -> String {
    let conf = conf.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while run_without_socket(Path::new(BIN), &["-c", conf, "ping"]).0 != 0 {
        assert!(Instant::now() < deadline, "the server did not answer ping");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, text) = run_without_socket(Path::new(BIN), &["-c", conf, "stop"]);
    assert_eq!(code, 0, "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit after stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    output
}

#[test]
fn server_on_a_terminal_names_its_log_file() {
    let has_script = Command::new("script").arg("--version").output().is_ok();
    if !has_script {
        eprintln!("skipped: `script` (util-linux) is not installed, no pseudo-terminal");
        return;
    }
    let dir = TestDir::new();
    installed_like_config(&dir);
    let notice = format!("ferroban: logging to {}", dir.server_log().display());

    let on_terminal = stop_and_collect(spawn_server(&dir.conf(), true), &dir.conf());
    let lines: Vec<&str> = on_terminal.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        vec![notice.as_str()],
        "on a terminal:\n{on_terminal}"
    );
    assert!(
        dir.log_text().contains("fail2ban.server"),
        "{}",
        dir.log_text()
    );

    let piped = stop_and_collect(spawn_server(&dir.conf(), false), &dir.conf());
    assert_eq!(piped, "", "without a terminal nothing is printed");
}
