//! Glue between the tracker's bans and the actions crate, plus what the actions crate does
//! not offer: running `actionflush`/`actionstop` of actions that this process never started
//! (cleaning up after an unclean stop) and `ignorecommand`.

use std::net::IpAddr;
use std::process::{Command, Stdio};

use ferroban_actions::{ActionDef, ActionFailure, BanInfo, JailActions};
use ferroban_tracker::{Ban, FailId};

use crate::log::Level;
use crate::log_at;

pub const ACTIONS_LOG: &str = "fail2ban.actions";

/// What the actions are told about a ban; `None` for an id that is no address (a raw
/// `<F-ID>`), which no firewall action can block.
pub fn ban_info(ban: &Ban) -> Option<BanInfo> {
    let ip = ban.id.ip()?;
    let mut info = BanInfo::new(ip, ban.time, ban.ban_time.as_seconds());
    info.failures = ban.failures;
    info.ban_count = ban.ban_count;
    info.matches = ban.matches.clone();
    info.data = ban.data.to_map();
    info.restored = ban.restored;
    Some(info)
}

/// Logs the failures of one operation on a jail's actions.
pub fn report(jail: &str, operation: &str, failures: Vec<ActionFailure>) {
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

/// After an unclean stop the firewall still holds what the previous run set up: run each
/// action's `actionflush` and `actionstop` as if it had been started, so `actionstart`
/// begins from a clean slate (no duplicate chains, jumps or rules).
///
/// The actions crate only stops what it started itself, so the commands are rendered here
/// with [`ferroban_actions::CommandAction::render_ban`] and run directly; errors are
/// expected (there may be nothing to remove) and only logged at debug level.
pub fn clean_up_after_unclean_stop(jail: &str, defs: &[ActionDef]) {
    let Ok(mut actions) = JailActions::new(jail, defs.to_vec()) else {
        return;
    };
    for (action, def) in actions.actions_mut().iter_mut().zip(defs) {
        for family in families(def) {
            let probe = BanInfo::new(family, 0, 0);
            for operation in ["actionflush", "actionstop"] {
                let Ok(prepared) = action.render_ban(operation, &probe) else {
                    continue;
                };
                if prepared.script.trim().is_empty() {
                    continue;
                }
                let status = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&prepared.script)
                    .envs(&prepared.env)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                log_at!(
                    ACTIONS_LOG,
                    Level::DEBUG,
                    "[{jail}] clean-up {operation} of {}: {status:?}",
                    action.name()
                );
            }
        }
    }
}

/// One address of each family the action handles: the IPv6 one only when the action has
/// `?family=inet6` variants.
fn families(def: &ActionDef) -> Vec<IpAddr> {
    let v4 = IpAddr::from([0, 0, 0, 0]);
    let v6 = IpAddr::from([0u16; 8]);
    match def {
        ActionDef::Command(def) => {
            let conditional = def
                .options
                .keys()
                .chain(def.init.keys())
                .chain(def.definition.keys())
                .any(|key| key.contains("?family=inet6"));
            if conditional { vec![v4, v6] } else { vec![v4] }
        }
        ActionDef::Python { .. } => Vec::new(),
    }
}

/// fail2ban's `ignorecommand`: exit status 0 means "ignore this address". Only addresses
/// are offered to it: their text cannot carry shell syntax.
pub fn ignored_by_command(command: &str, id: &FailId) -> bool {
    let Some(ip) = id.ip() else {
        return false;
    };
    let script = command.replace("<ip>", &ip.to_string());
    match Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) => status.success(),
        Err(error) => {
            log_at!(ACTIONS_LOG, Level::ERROR, "ignorecommand failed: {error}");
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferroban_tracker::BanTime;

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
        let info = ban_info(&ban).unwrap();
        assert_eq!(info.ip.to_string(), "192.0.2.7");
        assert_eq!((info.time, info.ban_time, info.failures), (1000, 60, 3));
        assert!(info.restored);
        let raw = Ban {
            id: FailId::parse("user@example"),
            ..ban
        };
        assert!(ban_info(&raw).is_none());
    }

    #[test]
    fn ignorecommand_exit_status_decides() {
        let id = FailId::parse("192.0.2.7");
        assert!(ignored_by_command("test <ip> = 192.0.2.7", &id));
        assert!(!ignored_by_command("test <ip> = 192.0.2.8", &id));
    }
}
