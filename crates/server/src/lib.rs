//! The ferroban daemon: runs the jails of a fail2ban configuration directory.
//!
//! Read it in the order a start runs:
//! - `startup` checks the configuration ([`check`], which resolves every jail through
//!   `setup::resolve_jail`: the same check `config-test` and `-t` print), sets up logging,
//!   the run files (socket, pidfile, the `<dbfile>.running` marker) and the database, then
//!   serves the control socket and the signals; `settings` holds the server's own values.
//! - `registry` keeps the running jails: it starts them, stops them and reloads new
//!   settings into them (a broken jail keeps its old settings; an unreadable file changes
//!   nothing).
//! - `jail` is a jail's owner thread, the one place its tracker and actions live: its loop,
//!   start, stop and reload; `jail::bans` turns failures into bans and applies, re-applies,
//!   restores and lifts them; `jail::ignore` is what the jail ignores (`ignoreip`,
//!   `ignoreself`, `ignorecommand`).
//! - `source` is a jail's log thread (files with inotify, or the journal): it runs the
//!   filter and sends failures to the jail in batches.
//! - `store` adapts the tracker's bans and the tailer's positions to the SQLite store, so a
//!   restart restores bans with their remaining time and reads no line twice; `actions`
//!   adapts bans to the actions crate.
//! - `metrics` counts what the jails, their sources and actions do, for Prometheus: served
//!   over HTTP when `metrics =` is set, and by the control command `metrics`.
//! - `control` executes the control socket's commands against the registry; requests come
//!   in ferroban's JSON lines or in fail2ban's pickle dialect (`fail2ban_wire`), told apart
//!   by their first byte.
//!
//! The edge is async: one current-thread tokio runtime serves the socket and the signals
//! (SIGTERM/SIGINT stop, SIGHUP reloads). Requests are read concurrently and executed one at
//! a time; the runtime talks to the jails only through their command channels (bounded: a
//! burst of failures waits in the log file, not in memory), with oneshot replies.
//!
//! Receives: [`ServerOptions`] (from `ferroban server` or `fail2ban-server`) and a
//! configuration directory. Emits: firewall changes through the actions, fail2ban's log
//! lines (`log`), the pidfile and the socket. An unclean previous stop (its pidfile or the
//! running marker left behind by a dead process) makes each jail flush and stop its
//! actions before starting, so restored bans never meet stale rules.

mod accept;
mod actions;
pub mod check;
mod clock;
mod cluster;
mod control;
mod control_error;
mod fail2ban_wire;
mod jail;
mod log;
mod memory;
mod metrics;
mod registry;
mod settings;
mod setup;
mod source;
mod source_faults;
mod startup;
mod store;

use std::path::PathBuf;

pub use startup::run;

/// The logger name of jail life-cycle messages.
pub(crate) const JAIL_LOG: &str = "fail2ban.jail";

/// The logger name of the server's own messages.
pub(crate) const SERVER_LOG: &str = "fail2ban.server";

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

/// Why a jail could not start (or take new settings): the configuration was checked,
/// so these are what the system refused or what only the running pieces find out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JailStartError {
    #[error(transparent)]
    Actions(#[from] ferroban_actions::ActionError),
    #[error(transparent)]
    Filter(#[from] ferroban_filter::FilterError),
    #[error(transparent)]
    Source(#[from] ferroban_source::SourceError),
    #[error(transparent)]
    Journal(#[from] ferroban_source::JournalError),
    #[error("Have not found any log file for this jail (logpath is empty)")]
    NoLogPath,
    #[error("cannot start its thread: {0}")]
    Thread(#[from] std::io::Error),
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
    #[error("configuration cannot be read:\n{}", .0.join("\n"))]
    Configuration(Vec<String>),
    #[error("invalid loglevel {0:?}")]
    LogLevel(String),
    #[error("database: {0}")]
    Store(#[from] ferroban_store::StoreError),
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server did not come up in the background: {0}")]
    Background(String),
}

/// Now in whole Unix seconds.
pub(crate) fn now_seconds() -> i64 {
    now_float().floor() as i64
}

/// Now in Unix seconds, from the daemon's clock ([`clock`]).
pub(crate) fn now_float() -> f64 {
    clock::now_float()
}
