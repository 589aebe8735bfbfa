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
