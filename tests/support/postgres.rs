//! A real PostgreSQL server for one test: `initdb` into a temporary directory, `pg_ctl
//! start` on a free port of 127.0.0.1 with its socket in that directory, stopped (and the
//! directory removed) when the guard drops, even when the test fails.
//!
//! initdb refuses to run as root, so when the tests run as root the server runs as the
//! `postgres` system user (created when missing), through `su postgres -s /bin/sh -c`.
//! A test skips only when the binaries are absent and the run is not CI (neither `CI` nor
//! `FERROBAN_REQUIRE_POSTGRES` set); `scripts/test` installs Debian's `postgresql` package
//! and sets the latter.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian's packages put the server's binaries, newest first.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The superuser role initdb creates; tests connect as it with a password.
pub const SUPERUSER: &str = "postgres";
pub const PASSWORD: &str = "fleet-secret";
pub const DATABASE: &str = "postgres";

/// A running PostgreSQL; stopped on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The user the server runs as (`postgres` under root, else the current user).
    run_as: Option<&'static str>,
}

impl Postgres {
    /// Starts a fresh server, or `None` (with the reason printed) when PostgreSQL is not
    /// installed and this is not a CI run.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join("initdb").is_file())
        else {
            let reason = format!("PostgreSQL is not installed (no initdb in {BIN_DIRS:?})");
            if std::env::var_os("CI").is_some()
                || std::env::var_os("FERROBAN_REQUIRE_POSTGRES").is_some()
            {
                panic!("{reason}; scripts/test installs the postgresql package");
            }
            eprintln!("skipped: {reason}");
            return None;
        };
        let run_as = is_root().then(|| {
            ensure_postgres_user();
            SUPERUSER
        });
        let dir = tempfile::Builder::new()
            .prefix("ferroban-pg")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let server = Postgres {
            bin,
            dir,
            port: free_port(),
            run_as,
        };
        server.init();
        server.start_server();
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn init(&self) {
        let pwfile = self.dir.path().join("pwfile");
        fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        fs::create_dir(self.data()).unwrap();
        if self.run_as.is_some() {
            chown_postgres(self.dir.path());
            chown_postgres(&self.data());
            chown_postgres(&pwfile);
        }
        let out = self.run(&format!(
            "{} -D {} -U {SUPERUSER} --pwfile={} --auth=scram-sha-256 -E UTF8 --no-sync",
            self.bin.join("initdb").display(),
            self.data().display(),
            pwfile.display()
        ));
        assert!(out.status.success(), "initdb: {}", text(&out));
    }

    fn start_server(&self) {
        let out = self.run(&format!(
            "{} -D {} -l {} -w -t 60 -o '-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off' start",
            self.bin.join("pg_ctl").display(),
            self.data().display(),
            self.dir.path().join("server.log").display(),
            self.port,
            self.dir.path().display()
        ));
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            text(&out),
            self.server_log()
        );
    }

    /// Stops the server (fast shutdown: open connections are ended).
    pub fn stop(&self) {
        let _ = self.run(&format!(
            "{} -D {} -w -t 60 -m fast stop",
            self.bin.join("pg_ctl").display(),
            self.data().display()
        ));
    }

    /// Starts it again after [`Postgres::stop`], on the same port.
    pub fn restart(&self) {
        self.start_server();
    }

    /// The `[Cluster] url` of this server, without password.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={DATABASE} sslmode=disable",
            self.port
        )
    }

    /// A libpq password file line for this server.
    pub fn passfile_line(&self, password: &str) -> String {
        format!(
            "127.0.0.1:{}:{DATABASE}:{SUPERUSER}:{password}\n",
            self.port
        )
    }

    /// Runs `sql` with `psql`; its output, unaligned and without headers.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                DATABASE,
            ])
            .args(["-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn server_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn run(&self, command: &str) -> Output {
        match self.run_as {
            Some(user) => Command::new("su")
                .args([user, "-s", "/bin/sh", "-c", command])
                .output(),
            None => Command::new("/bin/sh").args(["-c", command]).output(),
        }
        .expect("run a PostgreSQL tool")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        // The data directory belongs to `postgres`; root removes it with the rest.
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Creates the `postgres` system user when it is missing (Debian's package creates it).
fn ensure_postgres_user() {
    let known = Command::new("id")
        .arg(SUPERUSER)
        .output()
        .is_ok_and(|out| out.status.success());
    if known {
        return;
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/bin/sh",
            SUPERUSER,
        ])
        .output()
        .expect("run useradd");
    // Another test thread may have created it meanwhile (exit status 9: exists).
    assert!(
        out.status.success() || out.status.code() == Some(9),
        "useradd postgres: {}",
        text(&out)
    );
}

fn chown_postgres(path: &Path) {
    let status = Command::new("chown")
        .arg(format!("{SUPERUSER}:"))
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown {}", path.display());
}

/// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
