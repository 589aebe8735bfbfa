//! The ferroban daemon: runs the jails of a fail2ban configuration directory.
//!
//! It wires the pipeline `config → filter → source → tracker → actions → store`:
//! - [`setup`] turns each resolved `JailSpec` into the settings of the pieces;
//! - a source thread per jail ([`source`]) follows its logs (inotify, or the journal),
//!   runs the filter and sends failures to the jail;
//! - an owner thread per jail ([`jail`]) holds the jail's tracker and actions, decides and
//!   applies bans, and ends them on time (one deadline set per jail); after an action is
//!   repaired (its `actioncheck` failed) it re-applies the jail's bans with `actionreban`;
//! - the store records bans and log positions, so a restart restores bans with their
//!   remaining time and reads no line twice.
//!
//! The edge is async: one current-thread tokio runtime serves the control socket
//! (`control`; fail2ban's pickle dialect on the same socket in `fail2ban_wire`) and the signals (SIGTERM/SIGINT stop, SIGHUP reloads). Requests are read
//! concurrently and executed one at a time. It talks to the jails only through their
//! command channels (bounded: a burst of failures waits in the log file, not in memory),
//! with oneshot replies.
//!
//! Receives: [`ServerOptions`] (from `ferroban server` or `fail2ban-server`) and a
//! configuration directory. Emits: firewall changes through the actions, fail2ban's log
//! lines ([`log`]), the pidfile and the socket. An unclean previous stop (its pidfile or
//! the `<dbfile>.running` marker left behind by a dead process) makes each jail flush and
//! stop its actions before starting, so restored bans never meet stale rules. A reload
//! keeps the bans of jails that stay, stops removed jails and starts new ones; a
//! configuration with errors is refused as a whole.

pub mod actions;
mod control;
mod daemon;
mod fail2ban_wire;
pub mod formula;
pub mod jail;
pub mod log;
mod memory;
pub mod setup;
pub mod source;
pub mod store;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use daemon::run;

/// The logger name of jail life-cycle messages.
pub(crate) const JAIL_LOG: &str = "fail2ban.jail";

/// How to run the server; `None` fields come from `fail2ban.conf`/`.local`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerOptions {
    pub conf_dir: PathBuf,
    pub socket: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    /// Stay in the foreground (`-f`); else detach into the background (`-b`).
    pub foreground: bool,
    /// `-x`: remove a socket left behind by a server that is gone.
    pub remove_stale_socket: bool,
    pub logtarget: Option<String>,
    pub loglevel: Option<String>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("server already running (socket {0} answers)")]
    AlreadyRunning(PathBuf),
    #[error(
        "socket {0} exists but no server answers: a previous server did not stop cleanly; \
         start with -x to remove it"
    )]
    StaleSocket(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid loglevel {0:?}")]
    LogLevel(String),
    #[error("database: {0}")]
    Store(#[from] ferroban_store::StoreError),
    #[error("the server did not come up in the background: {0}")]
    Background(String),
}

/// Now in whole Unix seconds.
pub(crate) fn now_seconds() -> i64 {
    now_float().floor() as i64
}

/// Now in Unix seconds.
pub(crate) fn now_float() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
