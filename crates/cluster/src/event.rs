//! The events nodes publish, and the check every row read back from the database passes
//! before it reaches a jail: the database is shared, so a row is untrusted input, like a
//! log line.

use std::net::IpAddr;

/// The longest ban a row may carry (ten years); a longer one is refused, not cut.
pub const MAX_BAN_TIME: i64 = 10 * 366 * 24 * 3600;

/// How far a row's time of ban may lie ahead of this node's clock (clock skew).
pub const MAX_CLOCK_AHEAD: i64 = 24 * 3600;

/// What happened to an address in a jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Banned at `time_of_ban` for `ban_time` seconds (`-1`: for ever).
    Ban {
        time_of_ban: i64,
        ban_time: i64,
        ban_count: u32,
    },
    /// Unbanned by hand (`unbanip`, `unban --all`).
    Unban,
}

/// A ban or unban decided on this node, to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEvent {
    pub jail: String,
    pub ip: String,
    pub change: Change,
}

/// An event of another node, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    /// Its position in the fleet's log.
    pub id: i64,
    /// The node that published it.
    pub node: String,
    pub jail: String,
    pub ip: String,
    pub change: Change,
}

/// A row of `ferroban_ban_events` as read.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub node: String,
    pub jail: String,
    pub ip: String,
    pub kind: String,
    pub time_of_ban: i64,
    pub ban_time: i64,
    pub ban_count: i32,
}

/// Why a row was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{0:?} is not an address or network")]
    Address(String),
    #[error("bantime {0} is out of range (-1 for ever, or 1 to {MAX_BAN_TIME} seconds)")]
    BanTime(i64),
    #[error("time of ban {0} lies more than a day ahead")]
    Future(i64),
    #[error("unknown kind {0:?}")]
    Kind(String),
    #[error("jail name {0:?} is not one a jail can have")]
    Jail(String),
    #[error("bancount {0} is out of range")]
    BanCount(i32),
}

/// How much of a refused text a log line shows: a hostile row may hold megabytes.
const SHOWN: usize = 80;

/// `text` as a log line shows it: at most [`SHOWN`] characters, and how long it was.
pub fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}... ({} bytes)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

impl Row {
    /// The row as an event, or why it cannot be one.
    pub fn check(self, now: i64) -> Result<RemoteEvent, RowError> {
        let ip = checked_address(&self.ip)?;
        if !valid_jail_name(&self.jail) {
            return Err(RowError::Jail(shown(&self.jail)));
        }
        let change = match self.kind.as_str() {
            "ban" => {
                if self.ban_time != -1 && !(1..=MAX_BAN_TIME).contains(&self.ban_time) {
                    return Err(RowError::BanTime(self.ban_time));
                }
                if self.time_of_ban > now.saturating_add(MAX_CLOCK_AHEAD) || self.time_of_ban < 0 {
                    return Err(RowError::Future(self.time_of_ban));
                }
                let ban_count = u32::try_from(self.ban_count)
                    .map_err(|_| RowError::BanCount(self.ban_count))?;
                Change::Ban {
                    time_of_ban: self.time_of_ban,
                    ban_time: self.ban_time,
                    ban_count: ban_count.max(1),
                }
            }
            "unban" => Change::Unban,
            _ => return Err(RowError::Kind(shown(&self.kind))),
        };
        Ok(RemoteEvent {
            id: self.id,
            node: self.node,
            jail: self.jail,
            ip,
            change,
        })
    }
}

impl Change {
    /// Whether a ban is over at `now`; an unban never is.
    pub fn ended(&self, now: i64) -> bool {
        match *self {
            Change::Ban {
                time_of_ban,
                ban_time,
                ..
            } => ban_time >= 0 && time_of_ban.saturating_add(ban_time) <= now,
            Change::Unban => false,
        }
    }

    /// The column `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Ban { .. } => "ban",
            Change::Unban => "unban",
        }
    }
}

/// An address, or a network `ADDRESS/PREFIX`, in its canonical text.
fn checked_address(text: &str) -> Result<String, RowError> {
    let bad = || RowError::Address(shown(text));
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let Some(prefix) = prefix else {
        return Ok(address.to_string());
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(length) if length <= longest && prefix.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(format!("{address}/{length}"))
        }
        _ => Err(bad()),
    }
}

/// fail2ban's jail names are section names; these are the characters its stock jails
/// and sane local ones use, and none a shell or a firewall treats specially.
pub fn valid_jail_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(ip: &str, kind: &str, time_of_ban: i64, ban_time: i64) -> Row {
        Row {
            id: 1,
            node: "mx1".into(),
            jail: "sshd".into(),
            ip: ip.into(),
            kind: kind.into(),
            time_of_ban,
            ban_time,
            ban_count: 1,
        }
    }

    #[test]
    fn hostile_rows_are_refused() {
        let now = 1_700_000_000;
        let refused = [
            row("192.0.2.1; rm -rf /", "ban", now, 600),
            row("$(reboot)", "ban", now, 600),
            row("192.0.2.1/33", "ban", now, 600),
            row("192.0.2.1/+8", "ban", now, 600),
            row("192.0.2.1", "ban", now, -5),
            row("192.0.2.1", "ban", now, 0),
            row("192.0.2.1", "ban", now, MAX_BAN_TIME + 1),
            row("192.0.2.1", "ban", now + 2 * MAX_CLOCK_AHEAD, 600),
            row("192.0.2.1", "drop table", now, 600),
        ];
        for row in refused {
            let text = format!("{row:?}");
            assert!(row.check(now).is_err(), "{text}");
        }
        let mut bad_jail = row("192.0.2.1", "ban", now, 600);
        bad_jail.jail = "sshd`id`".into();
        assert_eq!(
            bad_jail.clone().check(now),
            Err(RowError::Jail("sshd`id`".into()))
        );
        bad_jail.jail = "j".repeat(10_000);
        let error = bad_jail.check(now).unwrap_err().to_string();
        assert!(
            error.len() < 200 && error.contains("(10000 bytes)"),
            "{error}"
        );
    }

    #[test]
    fn good_rows_are_canonical() {
        let now = 1_700_000_000;
        let event = row("2001:DB8::1", "ban", now, -1).check(now).unwrap();
        assert_eq!(event.ip, "2001:db8::1");
        assert!(!event.change.ended(now + MAX_BAN_TIME));
        let net = row("198.51.100.0/24", "unban", 0, 0).check(now).unwrap();
        assert_eq!(
            (net.ip.as_str(), net.change),
            ("198.51.100.0/24", Change::Unban)
        );
        let short = row("192.0.2.7", "ban", now - 700, 600).check(now).unwrap();
        assert!(short.change.ended(now));
    }
}
