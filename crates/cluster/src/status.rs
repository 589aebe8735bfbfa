//! `ferroban client cluster status`: the fleet as the database knows it.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::ClusterError;

/// The fleet seen from one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The node asked.
    pub node: String,
    /// The database, without password.
    pub database: String,
    /// Whether this node is connected now.
    pub connected: bool,
    /// The last connection error, while not connected.
    pub error: Option<String>,
    /// The last event id in the fleet's log.
    pub head: i64,
    /// Events this node decided and has not published yet.
    pub queued: i64,
    /// This node's position in the log: the other nodes' events up to it are applied.
    pub position: i64,
    pub nodes: Vec<NodeStatus>,
    /// Active shared bans per jail.
    pub jails: Vec<JailShare>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    /// Unix seconds of its last heartbeat.
    pub last_seen: i64,
    /// Seconds since then, by the database's clock (the nodes' clocks may differ).
    pub seen_ago: i64,
    /// Its position in the log.
    pub last_applied: i64,
    /// How many events it is behind the head.
    pub lag: i64,
    /// Events it had not published at its last heartbeat.
    pub queued: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailShare {
    pub jail: String,
    pub bans: i64,
}

/// The active bans: each (jail, address)'s last event, when it is a ban not over at `now`.
pub const ACTIVE_BANS: &str = "SELECT id, node, jail, ip, kind, time_of_ban, ban_time, ban_count
     FROM (SELECT DISTINCT ON (jail, ip) * FROM ferroban_ban_events
           WHERE id <= $1 ORDER BY jail, ip, id DESC) last
     WHERE kind = 'ban' AND (ban_time < 0 OR time_of_ban + ban_time > $2)";

/// Reads the fleet's status.
pub async fn query(
    client: &Client,
    now: i64,
) -> Result<(i64, Vec<NodeStatus>, Vec<JailShare>), ClusterError> {
    let head: i64 = client
        .query_one("SELECT coalesce(max(id), 0) FROM ferroban_ban_events", &[])
        .await?
        .try_get(0)?;
    let nodes = client
        .query(
            "SELECT name, extract(epoch FROM last_seen)::bigint, last_applied, queued, \
                    extract(epoch FROM now() - last_seen)::bigint \
             FROM ferroban_nodes ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            let last_applied: i64 = row.try_get(2)?;
            Ok(NodeStatus {
                name: row.try_get(0)?,
                last_seen: row.try_get(1)?,
                last_applied,
                lag: (head - last_applied).max(0),
                queued: row.try_get(3)?,
                seen_ago: row.try_get(4)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let jails = client
        .query(
            &format!(
                "SELECT jail, count(*) FROM ({ACTIVE_BANS}) active GROUP BY jail ORDER BY jail"
            ),
            &[&head, &now],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(JailShare {
                jail: row.try_get(0)?,
                bans: row.try_get(1)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok((head, nodes, jails))
}
