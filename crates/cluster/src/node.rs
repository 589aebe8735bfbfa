//! The fleet task: one connection to the database, serving both directions.
//!
//! It connects (again and again while the database is away, every [`RETRY`]), creates the
//! tables, LISTENs, publishes the outbox, and catches up from its position: on each
//! notification, and on each heartbeat in case one was lost. Events of other nodes are
//! checked row by row and handed to the server as an [`Inbound`] batch; the position moves
//! once the server says the batch was applied, so a kill in between applies it again
//! after the restart (a jail finds the address banned already) and never skips it.
//! A node without a position (one that joins late) applies the fleet's active bans and
//! starts from the head of the log.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, IsolationLevel, NoTls, Row as PgRow};

use crate::ClusterError;
use crate::event::{LocalEvent, RemoteEvent, Row};
use crate::local::{LocalState, columns};
use crate::schema::{self, CHANNEL, LOCK_KEY};
use crate::settings::ClusterSettings;
use crate::status::{self, ACTIVE_BANS, FleetStatus};

/// How long after a failed connection the next attempt is made.
pub const RETRY: Duration = Duration::from_secs(2);

/// How often a node says it is alive and looks for events it was not told about.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often old events are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How long one database operation may take before the connection counts as lost.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Rows read or written per statement.
const BATCH: usize = 10_000;

/// A log line's level; the caller maps it to its own logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Where the task's log lines go.
pub type Logger = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// What the task needs.
pub struct ClusterOptions {
    pub settings: ClusterSettings,
    /// The local state's file; `None`: in memory (a server without a database).
    pub local: Option<PathBuf>,
    /// Now, in Unix seconds, from the server's clock.
    pub now: fn() -> i64,
    pub log: Logger,
    /// Events older than this many seconds are purged once superseded or over.
    pub purge_age: i64,
}

/// A batch of other nodes' events for the server to apply; it replies on `applied`.
#[derive(Debug)]
pub struct Inbound {
    pub events: Vec<RemoteEvent>,
    pub applied: oneshot::Sender<()>,
}

/// The handle jails publish through and the control socket asks.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The outbox, written by the jail that decided, before its actions run: a kill at
    /// any later point finds the events there, and the restart publishes them.
    local: Arc<Mutex<LocalState>>,
    /// Tells the task there is something to publish.
    wake: mpsc::UnboundedSender<()>,
    requests: mpsc::Sender<oneshot::Sender<FleetStatus>>,
    node: String,
}

impl Cluster {
    /// Queues `events` for publishing, in one transaction of the local file; never waits
    /// for the database (a jail calls this from its thread).
    pub fn publish(&self, events: &[LocalEvent]) -> Result<(), ClusterError> {
        if events.is_empty() {
            return Ok(());
        }
        lock(&self.local).queue(events)?;
        let _ = self.wake.send(());
        Ok(())
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The fleet's status; `None` when the task is gone or did not answer in time.
    pub async fn status(&self) -> Option<FleetStatus> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(reply).await.ok()?;
        tokio::time::timeout(OPERATION_TIMEOUT * 2, answer)
            .await
            .ok()?
            .ok()
    }
}

/// Starts the task on the current tokio runtime.
pub fn start(options: ClusterOptions) -> Result<(Cluster, mpsc::Receiver<Inbound>), ClusterError> {
    let local = Arc::new(Mutex::new(LocalState::open(options.local.as_deref())?));
    let (wake_sender, wake) = mpsc::unbounded_channel();
    let (requests_sender, requests) = mpsc::channel(4);
    let (inbound_sender, inbound) = mpsc::channel(1);
    let cluster = Cluster {
        local: local.clone(),
        wake: wake_sender,
        requests: requests_sender,
        node: options.settings.node.clone(),
    };
    let node = Node {
        options,
        local,
        client: None,
        notified: None,
        wake,
        requests,
        inbound: inbound_sender,
        last_error: None,
        next_attempt: Instant::now(),
        next_purge: Instant::now() + Duration::from_secs(60),
        joined_once: false,
    };
    tokio::spawn(node.run());
    Ok((cluster, inbound))
}

struct Node {
    options: ClusterOptions,
    local: Arc<Mutex<LocalState>>,
    client: Option<Client>,
    /// A message per notification; closed when the connection ends.
    notified: Option<mpsc::UnboundedReceiver<()>>,
    wake: mpsc::UnboundedReceiver<()>,
    requests: mpsc::Receiver<oneshot::Sender<FleetStatus>>,
    inbound: mpsc::Sender<Inbound>,
    /// The last failure logged: the same one again is not logged again.
    last_error: Option<String>,
    next_attempt: Instant,
    next_purge: Instant,
    joined_once: bool,
}

fn lock(local: &Mutex<LocalState>) -> MutexGuard<'_, LocalState> {
    local
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for a notification; `None` once the connection is gone.
async fn notification(notified: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match notified {
        Some(receiver) => {
            let first = receiver.recv().await;
            // A burst of notifications is one catch-up.
            while receiver.try_recv().is_ok() {}
            first
        }
        None => std::future::pending().await,
    }
}

impl Node {
    async fn run(mut self) {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(RETRY);
        loop {
            tokio::select! {
                woken = self.wake.recv() => {
                    if woken.is_none() {
                        return;
                    }
                    // A burst of publishes is one flush.
                    while self.wake.try_recv().is_ok() {}
                    self.step(Step::Flush).await;
                }
                note = notification(&mut self.notified) => match note {
                    Some(()) => self.step(Step::CatchUp).await,
                    None => self.lost("the connection ended".to_string()),
                },
                Some(reply) = self.requests.recv() => {
                    let status = self.status().await;
                    let _ = reply.send(status);
                }
                _ = heartbeat.tick() => self.step(Step::Heartbeat).await,
                _ = retry.tick(), if self.client.is_none() => {
                    if Instant::now() >= self.next_attempt {
                        self.connect().await;
                    }
                }
            }
        }
    }

    fn log(&self, level: Level, text: &str) {
        (self.options.log)(level, text);
    }

    /// The local state; a jail thread that panicked holding it left it usable (each
    /// change is one SQLite transaction).
    fn local(&self) -> MutexGuard<'_, LocalState> {
        lock(&self.local)
    }

    async fn connect(&mut self) {
        match tokio::time::timeout(OPERATION_TIMEOUT, self.open()).await {
            Ok(Ok(())) => {
                let how = if self.joined_once {
                    "rejoined"
                } else {
                    "joined"
                };
                self.joined_once = true;
                self.last_error = None;
                let text = format!(
                    "{how} the fleet at {} as node {}",
                    self.options.settings.display, self.options.settings.node
                );
                self.log(Level::Notice, &text);
                self.step(Step::Flush).await;
                self.step(Step::CatchUp).await;
                self.step(Step::Heartbeat).await;
            }
            Ok(Err(error)) => self.lost(error.to_string()),
            Err(_) => self.lost(ClusterError::Timeout(OPERATION_TIMEOUT.as_secs()).to_string()),
        }
    }

    async fn open(&mut self) -> Result<(), ClusterError> {
        let (mut client, connection) = self.options.settings.config.connect(NoTls).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(drive(connection, sender));
        schema::migrate(&mut client).await?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        self.client = Some(client);
        self.notified = Some(receiver);
        Ok(())
    }

    /// The connection is gone or unusable: log why (once for the same reason), drop it,
    /// try again later. The jails go on banning locally meanwhile.
    fn lost(&mut self, why: String) {
        self.client = None;
        self.notified = None;
        self.next_attempt = Instant::now() + RETRY;
        if self.last_error.as_ref() != Some(&why) {
            let text = format!(
                "fleet database {}: {why}; jails ban locally, bans are queued and published \
                 once it is back (retrying every {} s)",
                self.options.settings.display,
                RETRY.as_secs()
            );
            self.log(Level::Error, &text);
            self.last_error = Some(why);
        }
    }

    async fn step(&mut self, step: Step) {
        if self.client.is_none() {
            return;
        }
        let result = match step {
            Step::Flush => tokio::time::timeout(OPERATION_TIMEOUT, self.flush()).await,
            // Applying may wait for the jails: only the database reads are bounded.
            Step::CatchUp => Ok(self.catch_up().await),
            Step::Heartbeat => tokio::time::timeout(OPERATION_TIMEOUT, self.heartbeat()).await,
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.lost(error.to_string()),
            Err(_) => self.lost(ClusterError::Timeout(OPERATION_TIMEOUT.as_secs()).to_string()),
        }
    }

    /// Publishes the outbox, oldest first, [`BATCH`] events a transaction.
    async fn flush(&mut self) -> Result<(), ClusterError> {
        loop {
            let (events, last) = self.local().pending(BATCH)?;
            if events.is_empty() {
                return Ok(());
            }
            let client = self.client.as_mut().ok_or(ClusterError::NotConnected)?;
            insert(client, &self.options.settings.node, &events).await?;
            self.local().published(last)?;
        }
    }

    /// Applies the other nodes' events after this node's position.
    async fn catch_up(&mut self) -> Result<(), ClusterError> {
        // Its own statement: the guard must be gone before `join_late` takes it again.
        let position = self.local().position()?;
        let Some(mut position) = position else {
            return self.join_late().await;
        };
        loop {
            let client = self.client.as_ref().ok_or(ClusterError::NotConnected)?;
            let rows = tokio::time::timeout(
                OPERATION_TIMEOUT,
                client.query(
                    "SELECT id, node, jail, ip, kind, time_of_ban, ban_time, ban_count \
                     FROM ferroban_ban_events WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&position, &(BATCH as i64)],
                ),
            )
            .await
            .map_err(|_| ClusterError::Timeout(OPERATION_TIMEOUT.as_secs()))??;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let last_id: i64 = last.try_get(0)?;
            let full = rows.len() == BATCH;
            let events = self.checked(&rows, true);
            self.deliver(events).await;
            self.local().set_position(last_id)?;
            position = last_id;
            if !full {
                return Ok(());
            }
        }
    }

    /// A node without a position: the fleet's active bans, then the head as position.
    async fn join_late(&mut self) -> Result<(), ClusterError> {
        let now = (self.options.now)();
        let client = self.client.as_mut().ok_or(ClusterError::NotConnected)?;
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let head: i64 = transaction
            .query_one("SELECT coalesce(max(id), 0) FROM ferroban_ban_events", &[])
            .await?
            .try_get(0)?;
        let rows = transaction.query(ACTIVE_BANS, &[&head, &now]).await?;
        transaction.commit().await?;
        let events = self.checked(&rows, false);
        let text = format!(
            "first start in the fleet: applying its {} active bans (log position {head})",
            events.len()
        );
        self.log(Level::Notice, &text);
        self.deliver(events).await;
        self.local().set_position(head)
    }

    /// The rows of other nodes, checked; a bad row is logged and skipped. `skip_ended`:
    /// bans already over are not handed on.
    fn checked(&self, rows: &[PgRow], skip_ended: bool) -> Vec<RemoteEvent> {
        let now = (self.options.now)();
        let me = &self.options.settings.node;
        let mut events = Vec::with_capacity(rows.len());
        for pg_row in rows {
            let row = match read_row(pg_row) {
                Ok(row) => row,
                Err(error) => {
                    self.log(
                        Level::Warning,
                        &format!("skipped a fleet event: {}", crate::describe(&error)),
                    );
                    continue;
                }
            };
            if &row.node == me {
                continue;
            }
            let (id, node) = (row.id, row.node.clone());
            match row.check(now) {
                Ok(event) if skip_ended && event.change.ended(now) => {}
                Ok(event) => events.push(event),
                Err(error) => self.log(
                    Level::Warning,
                    &format!(
                        "skipped fleet event {id} from node {:?}: {error}",
                        crate::event::shown(&node)
                    ),
                ),
            }
        }
        events
    }

    /// Hands `events` to the server and waits until they are applied.
    async fn deliver(&mut self, events: Vec<RemoteEvent>) {
        if events.is_empty() {
            return;
        }
        let (applied, done) = oneshot::channel();
        if self.inbound.send(Inbound { events, applied }).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn heartbeat(&mut self) -> Result<(), ClusterError> {
        let position = self.local().position()?.unwrap_or(0);
        let queued = self.local().queued();
        let client = self.client.as_ref().ok_or(ClusterError::NotConnected)?;
        client
            .execute(
                "INSERT INTO ferroban_nodes (name, last_seen, last_applied, queued) \
                 VALUES ($1, now(), $2, $3) ON CONFLICT (name) DO UPDATE \
                 SET last_seen = now(), last_applied = $2, queued = $3",
                &[&self.options.settings.node, &position, &queued],
            )
            .await?;
        if Instant::now() >= self.next_purge {
            self.next_purge = Instant::now() + PURGE_EVERY;
            self.purge().await?;
        }
        self.catch_up().await
    }

    /// The purge rule: an event older than the purge age goes once it no longer decides
    /// anything: an unban, a ban that is over, or any event a later one for the same jail
    /// and address supersedes. A permanent ban stays until it is lifted.
    async fn purge(&mut self) -> Result<(), ClusterError> {
        let client = self.client.as_ref().ok_or(ClusterError::NotConnected)?;
        let now = (self.options.now)();
        let purged = client
            .execute(
                "DELETE FROM ferroban_ban_events e \
                 WHERE e.created < now() - make_interval(secs => $1::bigint) \
                 AND (e.kind = 'unban' \
                      OR (e.ban_time >= 0 AND e.time_of_ban + e.ban_time < $2) \
                      OR EXISTS (SELECT 1 FROM ferroban_ban_events later \
                                 WHERE later.jail = e.jail AND later.ip = e.ip \
                                 AND later.id > e.id))",
                &[&self.options.purge_age, &now],
            )
            .await?;
        if purged > 0 {
            self.log(Level::Info, &format!("purged {purged} old fleet events"));
        }
        Ok(())
    }

    async fn status(&mut self) -> FleetStatus {
        // One guard: a second `self.local()` in the same statement would wait for the first.
        let (queued, position) = {
            let local = self.local();
            (local.queued(), local.position().ok().flatten().unwrap_or(0))
        };
        let mut status = FleetStatus {
            node: self.options.settings.node.clone(),
            database: self.options.settings.display.clone(),
            connected: false,
            error: self.last_error.clone(),
            head: 0,
            queued,
            position,
            nodes: Vec::new(),
            jails: Vec::new(),
        };
        let Some(client) = self.client.as_ref() else {
            return status;
        };
        let now = (self.options.now)();
        match tokio::time::timeout(OPERATION_TIMEOUT, status::query(client, now)).await {
            Ok(Ok((head, nodes, jails))) => {
                status.connected = true;
                status.error = None;
                (status.head, status.nodes, status.jails) = (head, nodes, jails);
            }
            Ok(Err(error)) => self.lost(error.to_string()),
            Err(_) => self.lost(ClusterError::Timeout(OPERATION_TIMEOUT.as_secs()).to_string()),
        }
        status
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Flush,
    CatchUp,
    Heartbeat,
}

/// Drives the connection, passing notifications on; ends (closing `sender`) with it.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: mpsc::UnboundedSender<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(_)) => {
                if sender.send(()).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Inserts `events` as this node's, in one transaction holding [`LOCK_KEY`].
async fn insert(
    client: &mut Client,
    node: &str,
    events: &[LocalEvent],
) -> Result<(), ClusterError> {
    let mut jails = Vec::with_capacity(events.len());
    let mut ips = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut ban_times = Vec::with_capacity(events.len());
    let mut counts = Vec::with_capacity(events.len());
    for event in events {
        let (time_of_ban, ban_time, ban_count) = columns(&event.change);
        jails.push(event.jail.as_str());
        ips.push(event.ip.as_str());
        kinds.push(event.change.kind());
        times.push(time_of_ban);
        ban_times.push(ban_time);
        counts.push(i32::try_from(ban_count).unwrap_or(i32::MAX));
    }
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    transaction
        .execute(
            "INSERT INTO ferroban_ban_events (node, jail, ip, kind, time_of_ban, ban_time, ban_count) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], \
                                      $6::bigint[], $7::integer[])",
            &[&node, &jails, &ips, &kinds, &times, &ban_times, &counts],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

fn read_row(row: &PgRow) -> Result<Row, tokio_postgres::Error> {
    Ok(Row {
        id: row.try_get(0)?,
        node: row.try_get(1)?,
        jail: row.try_get(2)?,
        ip: row.try_get(3)?,
        kind: row.try_get(4)?,
        time_of_ban: row.try_get(5)?,
        ban_time: row.try_get(6)?,
        ban_count: row.try_get(7)?,
    })
}
