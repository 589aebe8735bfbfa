//! Helpers for the daemon's end-to-end tests: configuration directories built from the
//! stock fail2ban configuration, a fake `mail`/`sendmail`, and the real `ferroban server`
//! running inside a lab namespace, stopped (or killed) when the test ends.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferroban");

/// The seed example (`shared/seed-example`, beside the repository).
pub fn seed_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seed-example");
    if dir.join("jail.conf").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: the seed example is missing at {}", dir.display());
        None
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A state directory for one test: configuration, logs, socket, database, fake tools.
pub struct TestDir {
    pub root: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            root: tempfile::Builder::new()
                .prefix("ferroban-e2e")
                .tempdir()
                .unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    pub fn conf(&self) -> PathBuf {
        self.path("conf")
    }
    pub fn socket(&self) -> PathBuf {
        self.path("ferroban.sock")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.path("ferroban.pid")
    }
    pub fn server_log(&self) -> PathBuf {
        self.path("ferroban.log")
    }
    pub fn mails(&self) -> PathBuf {
        self.path("mails.txt")
    }

    /// The stock configuration, with `jail.d` emptied (Debian's enables sshd there).
    pub fn stock_config(&self, f2b: &Path) {
        copy_dir(&f2b.join("etc/fail2ban"), &self.conf());
        let jail_d = self.conf().join("jail.d");
        if jail_d.is_dir() {
            for entry in fs::read_dir(&jail_d).unwrap() {
                fs::remove_file(entry.unwrap().path()).unwrap();
            }
        }
        self.write_server_local();
    }

    /// `fail2ban.local`: socket, pidfile, database and log inside the test directory.
    pub fn write_server_local(&self) {
        self.write_conf(
            "fail2ban.local",
            &format!(
                "[Definition]\nsocket = {}\npidfile = {}\ndbfile = {}\nlogtarget = {}\nloglevel = INFO\n",
                self.socket().display(),
                self.pidfile().display(),
                self.path("ferroban.sqlite3").display(),
                self.server_log().display()
            ),
        );
    }

    pub fn write_conf(&self, name: &str, text: &str) {
        let path = self.conf().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// `bin/mail` and `bin/sendmail` that append their arguments and input to `mails.txt`.
    pub fn fake_mail(&self) -> PathBuf {
        let bin = self.path("bin");
        fs::create_dir_all(&bin).unwrap();
        for tool in ["mail", "sendmail"] {
            let script = format!(
                "#!/bin/sh\n{{ echo \"== {tool} $*\"; cat; echo; }} >> '{}'\n",
                self.mails().display()
            );
            let path = bin.join(tool);
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        bin
    }

    pub fn mails_text(&self) -> String {
        fs::read_to_string(self.mails()).unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.server_log()).unwrap_or_default()
    }
}

/// Appends one line to a log with one `write()`, returning when it was written.
/// What most daemon tests start from: the server's settings (`write_server_local`) and the
/// `e2e` filter, which finds `auth failed from <HOST>`.
pub fn e2e_base(dir: &TestDir) {
    std::fs::create_dir_all(dir.conf()).unwrap();
    dir.write_server_local();
    dir.write_conf(
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = auth failed from <HOST>$\n",
    );
}

pub fn append_line(path: &Path, line: &str) -> SystemTime {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = line.to_string();
    text.push('\n');
    let now = SystemTime::now();
    file.write_all(text.as_bytes()).unwrap();
    now
}

/// Now as a syslog date (`Nov 26 17:58:43`), local time, as daemons write it.
pub fn syslog_now() -> String {
    jiff::ZonedDateTime::now()
        .strftime("%b %e %H:%M:%S")
        .to_string()
}

pub fn dovecot_line(ip: &str) -> String {
    format!(
        "{} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip={ip}, lip=192.0.2.1, TLS, session=<Lk3QsmAA0sLAqAEK>",
        syslog_now()
    )
}

pub fn postfix_line(ip: &str) -> String {
    format!(
        "{} mail postfix/smtpd[23488]: warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        syslog_now()
    )
}

/// The real `ferroban server -f` in a namespace; SIGTERM'd on drop if still running.
pub struct ServerProcess {
    child: Option<Child>,
    pub socket: PathBuf,
    pub conf: PathBuf,
}

impl ServerProcess {
    /// Starts the server in `netns` with `path_prefix` first on its PATH, and waits until
    /// it answers `ping`.
    pub fn start(netns: &str, dir: &TestDir, path_prefix: Option<&Path>) -> ServerProcess {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns, BIN]);
        ServerProcess::start_with(command, dir, path_prefix)
    }

    /// As [`ServerProcess::start`], with extra environment variables.
    pub fn start_in_with_env(netns: &str, dir: &TestDir, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns, "env"]);
        command.args(env.iter().map(|(key, value)| format!("{key}={value}")));
        command.arg(BIN);
        ServerProcess::start_with(command, dir, None)
    }

    /// Starts the server in the test's own namespace (for tests that need no firewall).
    pub fn start_here(dir: &TestDir) -> ServerProcess {
        ServerProcess::start_with(Command::new(BIN), dir, None)
    }

    /// As [`ServerProcess::start_here`], with extra environment variables.
    pub fn start_here_with_env(dir: &TestDir, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(BIN);
        command.envs(env.iter().copied());
        ServerProcess::start_with(command, dir, None)
    }

    pub fn start_with(
        mut command: Command,
        dir: &TestDir,
        path_prefix: Option<&Path>,
    ) -> ServerProcess {
        let path = match path_prefix {
            Some(prefix) => format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", prefix.display()),
            None => "/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        };
        let child = command
            .args(["server", "-f", "-x", "-c"])
            .arg(dir.conf())
            .env("PATH", path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start ferroban server");
        let server = ServerProcess {
            child: Some(child),
            socket: dir.socket(),
            conf: dir.conf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if server.client(&["ping"]).0 {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not answer ping; log:\n{}", dir.log_text());
    }

    /// `ferroban client -s SOCKET ARGS...`: success and stdout+stderr.
    pub fn client(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BIN)
            .arg("client")
            .arg("-c")
            .arg(&self.conf)
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run ferroban client");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the server gets no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `stop` through the socket, then wait for the process.
    pub fn stop(&mut self) {
        let _ = self.client(&["stop"]);
        self.wait_exit(Duration::from_secs(30));
    }

    /// SIGTERM, then wait for the process: a clean stop.
    pub fn terminate(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        self.wait_exit(Duration::from_secs(30));
    }

    fn wait_exit(&mut self, limit: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        self.wait_exit(Duration::from_secs(30));
    }
}

/// Polls `check` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The time of the first log line containing `needle`, from its `asctime`.
pub fn log_line_time(log: &str, needle: &str) -> Option<SystemTime> {
    let line = log.lines().find(|line| line.contains(needle))?;
    let stamp = line.get(..23)?;
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S,%f", stamp).ok()?;
    let zoned = civil.to_zoned_datetime(jiff::tz::TimeZone::system()).ok()?;
    let nanos = zoned.timestamp().as_nanosecond();
    Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// The rules of an iptables chain in a namespace.
pub fn iptables_rules(lab: &crate::support::netns::Lab, binary: &str, chain: &str) -> String {
    let out = lab.exec(&lab.server, &[binary, "-w", "-S", chain]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CPU seconds (user + system) a process used so far, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
