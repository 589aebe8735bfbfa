//! The Debian package, end to end: `scripts/build-deb` packages the binary under test (no
//! second build), `dpkg -i` installs it on this machine, its files are where they belong,
//! the installed binary runs as the systemd unit starts it (the unit's own ExecStart line,
//! in a network namespace so its firewall actions touch nothing, with a temporary socket and
//! pidfile) and answers the client, then `dpkg -r` leaves only the conffiles and `dpkg -P`
//! removes those, the state and the log. Needs root and dpkg; it refuses to run where it
//! would disturb an installation (fail2ban's or ferroban's own package, an /etc/ferroban).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_common::BIN;

const UNIT: &str = "/usr/lib/systemd/system/ferroban.service";

/// `dpkg ARGS`: success and stdout + stderr.
fn dpkg(args: &[&str]) -> (bool, String) {
    let out = Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .expect("dpkg runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn query(package: &str, format: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", &format!("-f={format}"), package])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn installed(package: &str) -> bool {
    query(package, "${Status}").is_some_and(|status| status.ends_with(" installed"))
}

/// Why this machine cannot run the test, if it cannot.
fn reason_to_skip() -> Option<String> {
    if !nix_is_root() {
        return Some("not root".into());
    }
    if Command::new("dpkg").arg("--version").output().is_err() {
        return Some("no dpkg".into());
    }
    if installed("fail2ban") {
        return Some(
            "Debian's fail2ban package is installed: installing ferroban's package would remove it"
                .into(),
        );
    }
    if query("ferroban", "${Status}").is_some_and(|s| !s.contains("not-installed")) {
        return Some("a ferroban package is already installed here; it is left alone".into());
    }
    if Path::new("/etc/ferroban").exists() {
        return Some(
            "/etc/ferroban exists (a manual installation); purging would remove it".into(),
        );
    }
    None
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Purges the package when the test ends, whether it passed or not.
struct Installation;

impl Drop for Installation {
    fn drop(&mut self) {
        if query("ferroban", "${Status}").is_some_and(|s| !s.contains("not-installed")) {
            let _ = dpkg(&["-P", "ferroban"]);
        }
    }
}

/// A network namespace of the test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!("fbpkg{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .is_ok_and(|out| out.status.success());
        ok.then(|| {
            let _ = Command::new("ip")
                .args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
                .status();
            Netns(name)
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn build_deb(out_dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb");
    let out = Command::new(script)
        .arg(BIN)
        .arg(out_dir)
        .output()
        .expect("scripts/build-deb runs");
    assert!(
        out.status.success(),
        "build-deb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The paths `dpkg -L ferroban` lists.
fn listed_paths() -> BTreeSet<PathBuf> {
    let (ok, text) = dpkg(&["-L", "ferroban"]);
    assert!(ok, "{text}");
    text.lines()
        .filter(|line| line.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// The conffiles dpkg records for the package (`${Conffiles}`: " PATH MD5" per line).
fn conffiles() -> BTreeSet<PathBuf> {
    query("ferroban", "${Conffiles}")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(PathBuf::from)
        .collect()
}

/// Every file of the repository's `config/`, as installed under /etc/ferroban.
fn expected_config_files() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, base: &Path, into: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, into);
            } else {
                into.insert(Path::new("/etc/ferroban").join(path.strip_prefix(base).unwrap()));
            }
        }
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files = BTreeSet::new();
    walk(&config, &config, &mut files);
    files
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program).args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The words of the installed unit's `KEY=` line.
fn unit_command(key: &str) -> Vec<String> {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let line = unit
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{UNIT} has no {key}="));
    line.split_whitespace().map(str::to_string).collect()
}

fn check_installed_files() {
    let listed = listed_paths();
    let mut expected: Vec<PathBuf> = [
        "/usr/bin/ferroban",
        "/usr/bin/fail2ban-server",
        "/usr/bin/fail2ban-client",
        "/usr/bin/fail2ban-regex",
        "/etc/logrotate.d/ferroban",
        UNIT,
        "/usr/share/bash-completion/completions/ferroban",
        "/usr/share/zsh/vendor-completions/_ferroban",
        "/usr/share/fish/vendor_completions.d/ferroban.fish",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    for page in ["", "-server", "-client", "-regex", "-config-test"] {
        expected.push(PathBuf::from(format!(
            "/usr/share/man/man1/ferroban{page}.1.gz"
        )));
    }
    expected.extend(expected_config_files());
    for path in &expected {
        assert!(listed.contains(path), "dpkg -L lacks {}", path.display());
        assert!(exists(path), "{} is not on disk", path.display());
    }
    for name in ["fail2ban-server", "fail2ban-client", "fail2ban-regex"] {
        let target = std::fs::read_link(Path::new("/usr/bin").join(name)).unwrap();
        assert_eq!(target, Path::new("ferroban"), "{name}");
    }
    let mut wanted_conffiles = expected_config_files();
    wanted_conffiles.insert(PathBuf::from("/etc/logrotate.d/ferroban"));
    assert_eq!(conffiles(), wanted_conffiles);
    let state = std::fs::metadata("/var/lib/ferroban").expect("/var/lib/ferroban");
    assert_eq!(state.permissions().mode() & 0o777, 0o700);
    let logrotate = std::fs::read_to_string("/etc/logrotate.d/ferroban").unwrap();
    assert!(
        logrotate.contains("ferroban client flushlogs"),
        "{logrotate}"
    );
}

fn check_installed_programs() {
    // `ferroban 0.1.0` from ferroban, `ferroban v0.1.0` from fail2ban-client (its form).
    for program in ["/usr/bin/ferroban", "/usr/bin/fail2ban-client"] {
        let (ok, text) = run(program, &["--version"]);
        let named = text.contains("ferroban") && text.contains(env!("CARGO_PKG_VERSION"));
        assert!(ok && named, "{program} --version: {text}");
    }
    // With no server running, a bare client names the socket it looked for: the one the
    // installed /etc/ferroban/fail2ban.conf names, so the default directory is /etc/ferroban.
    let socket = crate::support::cli::default_config().join("fail2ban.conf");
    let socket = std::fs::read_to_string(socket).unwrap();
    let socket = socket
        .lines()
        .find_map(|line| line.strip_prefix("socket = "))
        .unwrap()
        .trim()
        .to_string();
    let (ok, text) = run("/usr/bin/ferroban", &["status"]);
    assert!(!ok && text.contains(&socket), "bare status: {text}");
}

/// The unit's ExecStart, run by hand in the foreground (systemd is not PID 1 here) with the
/// socket and pidfile moved into `dir`; stopped with the unit's ExecStop.
fn check_server_as_the_unit_starts_it(dir: &Path) {
    let Some(netns) = Netns::new() else {
        eprintln!("skipped the server run: cannot create a network namespace");
        return;
    };
    let socket = dir.join("ferroban.sock");
    let pidfile = dir.join("ferroban.pid");
    let overrides = [
        "-s".to_string(),
        socket.display().to_string(),
        "-p".to_string(),
        pidfile.display().to_string(),
    ];
    let start = unit_command("ExecStart");
    assert_eq!(start[0], "/usr/bin/ferroban", "{start:?}");
    let mut server = ServerGuard(
        Command::new("ip")
            .args(["netns", "exec", &netns.0])
            .args(&start)
            .args(&overrides)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let socket_text = socket.display().to_string();
    let client = |words: &[&str]| {
        let mut args = vec!["client", "-s", &socket_text];
        args.extend_from_slice(words);
        run("/usr/bin/ferroban", &args)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client(&["ping"]).0 {
        assert!(
            Instant::now() < deadline,
            "the installed server never answered"
        );
        assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, text) = client(&["ping"]);
    assert!(ok && text.contains("pong"), "{text}");
    let (ok, text) = client(&["status"]);
    assert!(
        ok && text.contains("sshd"),
        "the installed jails run: {text}"
    );

    // ExecStop is `ferroban client OPTIONS stop`: the socket option goes before `stop`.
    let stop = unit_command("ExecStop");
    assert_eq!(stop[..2], ["/usr/bin/ferroban", "client"], "{stop:?}");
    let mut args: Vec<&str> = vec!["client", "-s", &socket_text];
    args.extend(stop[2..].iter().map(String::as_str));
    let (ok, text) = run(&stop[0], &args);
    assert!(ok, "ExecStop: {text}");
    server.wait(Duration::from_secs(30));
    for path in [
        "/var/lib/ferroban/ferroban.sqlite3",
        "/var/log/ferroban.log",
    ] {
        assert!(
            Path::new(path).exists(),
            "the installed configuration's {path}"
        );
    }
}

/// Kills the server if the test fails before stopping it.
struct ServerGuard(Child);

impl ServerGuard {
    fn wait(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not exit after ExecStop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn check_remove_keeps_only_conffiles(installed_paths: &BTreeSet<PathBuf>) {
    let conf = conffiles();
    let (ok, text) = dpkg(&["-r", "ferroban"]);
    assert!(ok, "dpkg -r: {text}");
    assert_eq!(conffiles(), conf, "dpkg still records the conffiles");
    for path in listed_paths() {
        assert!(
            conf.contains(&path) || path.is_dir(),
            "dpkg -L lists {} after remove",
            path.display()
        );
    }
    for path in installed_paths {
        if conf.contains(path) {
            assert!(path.is_file(), "conffile {} removed", path.display());
        } else if !path.is_dir() {
            assert!(!exists(path), "{} left after remove", path.display());
        }
    }
}

fn check_purge_removes_everything() {
    let conf = conffiles();
    let (ok, text) = dpkg(&["-P", "ferroban"]);
    assert!(ok, "dpkg -P: {text}");
    assert!(query("ferroban", "${Conffiles}").is_none_or(|c| c.trim().is_empty()));
    for path in &conf {
        assert!(!exists(path), "{} left after purge", path.display());
    }
    for path in [
        "/etc/ferroban",
        "/var/lib/ferroban",
        "/var/log/ferroban.log",
    ] {
        assert!(!exists(Path::new(path)), "{path} left after purge");
    }
}

#[test]
fn debian_package_installs_runs_and_goes() {
    if let Some(reason) = reason_to_skip() {
        eprintln!("skipped: {reason}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let deb = build_deb(work.path());
    let _installation = Installation;
    let (ok, text) = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(ok, "dpkg -i: {text}");
    assert!(installed("ferroban"));
    let installed_paths = listed_paths();

    check_installed_files();
    check_installed_programs();
    check_server_as_the_unit_starts_it(work.path());
    check_remove_keeps_only_conffiles(&installed_paths);
    check_purge_removes_everything();
}
