//! What the server answers. The client renders these as fail2ban-client does, or as JSON.

use serde::{Deserialize, Serialize};

/// A response on the wire: a reply, or an error message for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(Reply),
    Error(String),
}

/// The value a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Reply {
    /// No value (`stop`: "Shutdown successful").
    None,
    /// A word or sentence (`ping`: "pong", `reload`: "OK").
    Text(String),
    /// A number (`set JAIL banip`: how many were banned; `get JAIL bantime`).
    Number(i64),
    /// Numbers (`get JAIL banned IP IP`: 1 for each banned one, 0 for the others).
    Numbers(Vec<i64>),
    /// Python's `True`/`False` (`get JAIL bantime.increment`).
    Bool(bool),
    /// `get JAIL ignorecache`: fail2ban's `[key, max-count, max-time]`.
    IgnoreCache {
        key: String,
        max_count: u64,
        max_time: i64,
    },
    /// A list of words (`get JAIL logpath`, `ignoreip`, `banip`, `echo`).
    List(Vec<String>),
    /// `status`: the jails.
    Status { jails: Vec<String> },
    /// `status JAIL`.
    JailStatus(JailStatusReply),
    /// `get JAIL banip --with-time`.
    BanTimes(Vec<BanTimeEntry>),
    /// `banned`: per jail, the banned ids.
    BannedByJail(Vec<(String, Vec<String>)>),
    /// `banned IP...`: per id asked, the jails it is banned in.
    JailsOfIds(Vec<Vec<String>>),
    /// `get JAIL datepattern`: the pattern as set (none for the default detectors and
    /// named templates such as `Epoch`) and the name of the template it stands for.
    DatePattern {
        pattern: Option<String>,
        name: String,
    },
    /// `cluster status`: fleet mode seen from this node.
    ClusterStatus(ClusterStatusReply),
}

/// `cluster status`: this node's link to the fleet's database, and the fleet as the
/// database knows it (empty lists while disconnected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatusReply {
    /// This node's name in the fleet.
    pub node: String,
    /// The database, `user@host:port/database`, no password.
    pub database: String,
    /// Whether the node is connected now.
    pub connected: bool,
    /// Why it is not, when it is not: the last connection error.
    pub error: Option<String>,
    /// The last event id in the fleet's log.
    pub last_event: i64,
    /// The position up to which this node applied the other nodes' events.
    pub applied: i64,
    /// Events decided here and not published yet (the outbox).
    pub outbox: i64,
    pub nodes: Vec<ClusterNode>,
    /// Active shared bans per jail.
    pub jails: Vec<(String, i64)>,
}

/// A node of the fleet, from its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    /// Seconds since its last heartbeat, by the database's clock.
    pub seen_ago: i64,
    /// Its position in the log.
    pub applied: i64,
    /// How many events it is behind the last one.
    pub behind: i64,
    /// Its outbox at its last heartbeat.
    pub outbox: i64,
}

/// `status JAIL`: the filter's and the actions' counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStatusReply {
    pub jail: String,
    pub currently_failed: u64,
    pub total_failed: u64,
    /// Files followed (`File list`), empty for a journal jail.
    pub files: Vec<String>,
    /// `journalmatch` lines, for a journal jail (`Journal matches`).
    pub journal_matches: Option<Vec<String>>,
    pub currently_banned: u64,
    pub total_banned: u64,
    pub banned: Vec<String>,
}

/// One line of `get JAIL banip --with-time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanTimeEntry {
    pub id: String,
    /// Unix seconds.
    pub time: i64,
    /// Seconds, -1 permanent.
    pub ban_time: i64,
    /// Unix seconds; `None` permanent.
    pub end: Option<i64>,
}
