//! Fleet mode: the bans of many ferroban servers shared through a PostgreSQL database.
//!
//! A node decides and applies its bans locally, as without a fleet; this crate then
//! publishes them, and applies the bans the other nodes published. The database is never
//! in a jail's ban path: [`Cluster::publish`] only queues.
//!
//! - [`settings`] resolves the `[Cluster]` section (`url`, `passfile`, `node`) into a
//!   connection configuration, the password read from a libpq password file.
//! - [`schema`] creates and migrates the fleet's tables (`ferroban_schema`,
//!   `ferroban_nodes`, `ferroban_ban_events`) on first use.
//! - [`local`] is the node's own SQLite file beside its database: the outbox of events not
//!   yet published (kept while the database is down, across restarts) and the position in
//!   the fleet's event log up to which events were applied.
//! - [`node`] is the task: it connects (and reconnects), publishes the outbox, listens
//!   (LISTEN/NOTIFY) and catches up by its position, heartbeats into `ferroban_nodes`, and
//!   hands the events of other nodes, each row validated ([`event`]), to the server as
//!   [`Inbound`] batches; the position moves once the server says they were applied.
//!
//! Receives: [`LocalEvent`]s from the jails. Emits: [`Inbound`] batches of
//! [`RemoteEvent`]s, [`FleetStatus`] on request, log lines through the caller's [`Logger`].

pub mod event;
pub mod local;
pub mod node;
pub mod passfile;
pub mod schema;
pub mod settings;
pub mod status;

pub use event::{Change, LocalEvent, RemoteEvent};
pub use node::{Cluster, ClusterOptions, Inbound, Level, Logger, start};
pub use settings::{ClusterSettings, SettingsError, resolve};
pub use status::{FleetStatus, JailShare, NodeStatus};

/// Why the fleet could not be reached or used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{}", describe(.0))]
    Database(#[from] tokio_postgres::Error),
    #[error("cannot create the fleet's tables: {}", describe(.0))]
    Schema(tokio_postgres::Error),
    #[error(
        "the database's fleet schema is version {found}, newer than this ferroban's ({known}): \
         upgrade this node"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error("local fleet state {path}: {source}")]
    Local {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no answer from the database within {0} s")]
    Timeout(u64),
    #[error("fleet mode is not connected")]
    NotConnected,
}

/// A database error as a user can act on it. tokio-postgres's own text is only "db error"
/// for what the server said (a wrong password, a missing grant): the server's message is
/// what tells, and an I/O error's cause ("Connection refused") likewise.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!(
            "{} ({}, SQLSTATE {})",
            db.message(),
            db.severity(),
            db.code().code()
        );
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
