//! Glue between the tracker's bans and the actions crate.

use std::collections::BTreeMap;

use ferroban_actions::{ActionFailure, BanInfo, JailActions};
use ferroban_tracker::Ban;

use crate::log::Level;
use crate::log_at;
use crate::setup::JailConfig;

pub const ACTIONS_LOG: &str = "fail2ban.actions";

/// What the actions are told about a ban, borrowing its matches and its `captures`
/// (`ban.data` unpacked once by the caller, who hands the same map to the store); `None`
/// for an id that is no address (a raw `<F-ID>`), which no firewall action can block.
pub fn ban_info<'a>(ban: &'a Ban, captures: &'a BTreeMap<String, String>) -> Option<BanInfo<'a>> {
    let ip = ban.id.ip()?;
    let mut info = BanInfo::new(ip, ban.time, ban.ban_time.as_seconds());
    info.failures = ban.failures;
    info.ban_count = ban.ban_count;
    info.matches = &ban.matches;
    info.data = captures;
    info.restored = ban.restored;
    Some(info)
}

/// The captures of each ban, unpacked once, in the same order.
pub fn captures_of<'a>(bans: impl IntoIterator<Item = &'a Ban>) -> Vec<BTreeMap<String, String>> {
    bans.into_iter().map(|ban| ban.data.to_map()).collect()
}

/// `jail 'sshd': action nftables-multiport runs natively (stock definition)`, one line per
/// action: what `config-test` prints and the server logs at a jail's start.
pub fn backend_lines(jail: &str, actions: &JailActions) -> Vec<String> {
    let backends = actions.backends().iter();
    backends
        .map(|backend| format!("jail '{jail}': {backend}"))
        .collect()
}

/// [`backend_lines`] of a checked jail (its actions are built, nothing runs).
pub fn describe_backends(config: &JailConfig) -> Vec<String> {
    match JailActions::new(&config.name, config.actions.clone()) {
        Ok(actions) => backend_lines(&config.name, &actions),
        Err(_) => Vec::new(),
    }
}

/// Logs the failures of one operation on a jail's actions.
pub fn report(jail: &str, operation: &str, failures: Vec<ActionFailure>) {
    crate::metrics::action_errors(jail, operation, failures.len());
    for failure in failures {
        log_at!(
            ACTIONS_LOG,
            Level::ERROR,
            "Failed to execute {operation} jail '{jail}' action '{}': {}",
            failure.action,
            failure.error
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferroban_tracker::{BanTime, FailId};

    #[test]
    fn ban_info_carries_the_ban() {
        let ban = Ban {
            id: FailId::parse("192.0.2.7"),
            time: 1000,
            ban_time: BanTime::Seconds(60),
            ban_count: 2,
            failures: 3,
            matches: vec!["line".into()],
            data: Default::default(),
            restored: true,
        };
        let captures = BTreeMap::new();
        let info = ban_info(&ban, &captures).unwrap();
        assert_eq!(info.ip.to_string(), "192.0.2.7");
        assert_eq!((info.time, info.ban_time, info.failures), (1000, 60, 3));
        assert!(info.restored);
        let raw = Ban {
            id: FailId::parse("user@example"),
            ..ban
        };
        assert!(ban_info(&raw, &captures).is_none());
    }
}
