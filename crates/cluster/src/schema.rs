//! The fleet's tables, versioned: `ferroban_schema` holds the version, each migration
//! moves it up by one, all in one transaction under an advisory lock so that nodes
//! starting together do not race. A database newer than this ferroban is refused.

use tokio_postgres::Client;

use crate::ClusterError;

/// The advisory lock of schema changes, and the one publishers take so that event ids
/// commit in the order they were taken (a reader following `id > position` then never
/// steps over a row that commits later with a smaller id).
pub const LOCK_KEY: i64 = 0x6665_7272_6f62_616e; // "ferroban"

/// The channel a trigger notifies on each insert of events.
pub const CHANNEL: &str = "ferroban_events";

/// Migrations, in order: version `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: nodes, the event log, the notify trigger.
    "CREATE TABLE ferroban_nodes (
         name text PRIMARY KEY,
         last_seen timestamptz NOT NULL DEFAULT now(),
         last_applied bigint NOT NULL DEFAULT 0,
         queued bigint NOT NULL DEFAULT 0
     );
     CREATE TABLE ferroban_ban_events (
         id bigserial PRIMARY KEY,
         node text NOT NULL,
         jail text NOT NULL,
         ip text NOT NULL,
         kind text NOT NULL,
         time_of_ban bigint NOT NULL,
         ban_time bigint NOT NULL,
         ban_count integer NOT NULL DEFAULT 1,
         created timestamptz NOT NULL DEFAULT now()
     );
     CREATE INDEX ferroban_ban_events_address ON ferroban_ban_events (jail, ip, id);
     CREATE INDEX ferroban_ban_events_created ON ferroban_ban_events (created);
     CREATE FUNCTION ferroban_notify() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         PERFORM pg_notify('ferroban_events', '');
         RETURN NULL;
     END $$;
     CREATE TRIGGER ferroban_ban_events_notify AFTER INSERT ON ferroban_ban_events
         FOR EACH STATEMENT EXECUTE FUNCTION ferroban_notify();",
];

/// The version this ferroban writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Creates or migrates the tables.
pub async fn migrate(client: &mut Client) -> Result<(), ClusterError> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    // Asked first, not `CREATE TABLE IF NOT EXISTS`: PostgreSQL checks the CREATE grant
    // before it looks, and a node's role needs none once the tables are there.
    let exists: bool = transaction
        .query_one("SELECT to_regclass('ferroban_schema') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !exists {
        transaction
            .batch_execute("CREATE TABLE ferroban_schema (version integer NOT NULL)")
            .await
            .map_err(ClusterError::Schema)?;
    }
    let found: i32 = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM ferroban_schema", &[])
        .await?
        .try_get(0)?;
    if found > VERSION {
        return Err(ClusterError::SchemaTooNew {
            found,
            known: VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        transaction
            .batch_execute(migration)
            .await
            .map_err(ClusterError::Schema)?;
        let version = index as i32 + 1;
        transaction
            .execute("DELETE FROM ferroban_schema", &[])
            .await?;
        transaction
            .execute("INSERT INTO ferroban_schema VALUES ($1)", &[&version])
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}
