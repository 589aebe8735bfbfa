//! Fleet mode's hooks in the server (see the `ferroban-cluster` crate): the task started
//! from `[Cluster]`, the jails' bans and unbans published through it, the other nodes'
//! events handed to the same-named jails, `cluster status`.
//!
//! One handle for the process, set once at start: a jail's thread publishes with a call
//! that only queues, and does nothing in a server without `[Cluster]`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use ferroban_cluster::{Change, Cluster, ClusterOptions, Inbound, LocalEvent};
use ferroban_protocol::{ClusterNode, ClusterStatusReply, Reply};
use ferroban_tracker::{Ban, Unban};
use tokio::sync::{mpsc, oneshot};

use crate::control_error::ControlError;
use crate::jail::JailCmd;
use crate::log::Level;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::setup::JailConfig;
use crate::{log_at, now_seconds};

/// The logger name of fleet messages.
pub(crate) const CLUSTER_LOG: &str = "ferroban.cluster";

/// The capture a ban applied for another node carries: that node's name. Kept with the
/// ban in the local database, shown by `status JAIL` and `banned`, and never published
/// again.
pub(crate) const ORIGIN: &str = "origin";

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// Why fleet mode is off although `[Cluster]` is set, for `cluster status`.
static OFF: OnceLock<String> = OnceLock::new();

/// Starts fleet mode when `[Cluster]` is set; a setting that cannot be used is logged and
/// the server runs its jails locally. Returns where the other nodes' events arrive.
pub(crate) fn start(settings: &Settings) -> Option<mpsc::Receiver<Inbound>> {
    let spec = settings.cluster.as_ref()?;
    let pgpassfile = std::env::var_os("PGPASSFILE").map(std::path::PathBuf::from);
    let resolved = match ferroban_cluster::resolve(spec, pgpassfile) {
        Ok(resolved) => resolved,
        Err(error) => return off(&error),
    };
    let local = settings
        .dbfile
        .as_deref()
        .filter(|path| *path != ":memory:")
        .map(|path| std::path::PathBuf::from(format!("{path}.fleet")));
    let options = ClusterOptions {
        settings: resolved,
        local,
        now: now_seconds,
        log: Arc::new(log_line),
        purge_age: settings.dbpurgeage.max(3600),
    };
    match ferroban_cluster::start(options) {
        Ok((cluster, inbound)) => {
            let _ = CLUSTER.set(cluster);
            Some(inbound)
        }
        Err(error) => off(&error),
    }
}

/// Fleet mode cannot start: logged, and kept for `cluster status`.
fn off(error: &dyn std::fmt::Display) -> Option<mpsc::Receiver<Inbound>> {
    log_at!(
        CLUSTER_LOG,
        Level::ERROR,
        "fleet mode is off: {error}; the jails run locally"
    );
    let _ = OFF.set(error.to_string());
    None
}

/// `cluster status`: the fleet task's answer, as the client shows it.
pub(crate) async fn status() -> Result<Reply, ControlError> {
    let Some(cluster) = CLUSTER.get() else {
        let why = OFF.get().cloned().unwrap_or_else(|| {
            "this server has no [Cluster] section in fail2ban.local".to_string()
        });
        return Err(ControlError::FleetOff(why));
    };
    let status = cluster.status().await.ok_or(ControlError::FleetNoAnswer)?;
    Ok(Reply::ClusterStatus(ClusterStatusReply {
        node: status.node,
        database: status.database,
        connected: status.connected,
        error: status.error,
        last_event: status.head,
        applied: status.position,
        outbox: status.queued,
        nodes: status
            .nodes
            .into_iter()
            .map(|node| ClusterNode {
                name: node.name,
                seen_ago: node.seen_ago,
                applied: node.last_applied,
                behind: node.lag,
                outbox: node.queued,
            })
            .collect(),
        jails: status
            .jails
            .into_iter()
            .map(|share| (share.jail, share.bans))
            .collect(),
    }))
}

fn log_line(level: ferroban_cluster::Level, text: &str) {
    let level = match level {
        ferroban_cluster::Level::Error => Level::ERROR,
        ferroban_cluster::Level::Warning => Level::WARNING,
        ferroban_cluster::Level::Notice => Level::NOTICE,
        ferroban_cluster::Level::Info => Level::INFO,
        ferroban_cluster::Level::Debug => Level::DEBUG,
    };
    log_at!(CLUSTER_LOG, level, "{text}");
}

/// Publishes the bans this node decided (not those it applied for another node).
pub(crate) fn publish_bans(config: &JailConfig, bans: &[Arc<Ban>]) {
    let events: Vec<LocalEvent> = bans
        .iter()
        .filter(|ban| origin(ban).is_none())
        .map(|ban| LocalEvent {
            jail: config.name.clone(),
            ip: ban.id.to_string(),
            change: Change::Ban {
                time_of_ban: ban.time,
                ban_time: ban.ban_time.as_seconds(),
                ban_count: ban.ban_count,
            },
        })
        .collect();
    publish(config, &events);
}

/// Publishes unbans made by hand on this node.
pub(crate) fn publish_unbans(config: &JailConfig, unbans: &[Unban]) {
    let events: Vec<LocalEvent> = unbans
        .iter()
        .map(|unban| LocalEvent {
            jail: config.name.clone(),
            ip: unban.ban.id.to_string(),
            change: Change::Unban,
        })
        .collect();
    publish(config, &events);
}

/// Queues `events` in the outbox; one that cannot be queued stays a local ban, logged.
fn publish(config: &JailConfig, events: &[LocalEvent]) {
    let Some(cluster) = CLUSTER.get().filter(|_| config.cluster) else {
        return;
    };
    if let Err(error) = cluster.publish(events) {
        log_at!(
            CLUSTER_LOG,
            Level::ERROR,
            "[{}] cannot queue {} events for the fleet: {error}; they stay local",
            config.name,
            events.len()
        );
    }
}

/// The node a ban was applied for, when it came from the fleet.
pub(crate) fn origin(ban: &Ban) -> Option<String> {
    ban.data.to_map().remove(ORIGIN)
}

/// Waits for the next batch of events; never, outside fleet mode.
pub(crate) async fn next(inbound: &mut Option<mpsc::Receiver<Inbound>>) -> Option<Inbound> {
    match inbound {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands each event to its jail; one for a jail this node does not run, or keeps local
/// (`cluster = false`), is logged and skipped. The batch counts as applied once every
/// jail replied; that wait runs on its own task, so the control socket is not held up.
pub(crate) async fn apply(registry: &Registry, inbound: Inbound) {
    let mut by_jail: BTreeMap<String, Vec<ferroban_cluster::RemoteEvent>> = BTreeMap::new();
    for event in inbound.events {
        by_jail.entry(event.jail.clone()).or_default().push(event);
    }
    let mut replies = Vec::new();
    for (name, events) in by_jail {
        match registry.jails.get(&name) {
            Some(jail) if jail.config.cluster => {
                let (reply, done) = oneshot::channel();
                let command = JailCmd::Fleet { events, reply };
                if crate::jail::send_async(&jail.sender, command).await {
                    replies.push(done);
                }
            }
            Some(_) => log_at!(
                CLUSTER_LOG,
                Level::DEBUG,
                "[{name}] keeps its bans local (cluster = false): {} fleet events skipped",
                events.len()
            ),
            None => log_at!(
                CLUSTER_LOG,
                Level::WARNING,
                "skipped {} fleet events for jail {name:?}, which this node does not run \
                 (first: {} from node {})",
                events.len(),
                events[0].ip,
                events[0].node
            ),
        }
    }
    tokio::spawn(async move {
        for done in replies {
            let _ = done.await;
        }
        let _ = inbound.applied.send(());
    });
}
