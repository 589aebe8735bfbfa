//! All actions of one jail, run in their configured order.

use std::collections::BTreeMap;

use crate::command::{CommandAction, CommandActionDef};
use crate::dynamic::BanInfo;
use crate::error::ActionError;

/// An action as configured for a jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionDef {
    /// A `.conf` command action.
    Command(CommandActionDef),
    /// A Python action (`action.d/*.py`, e.g. `smtp.py`): not supported.
    Python { name: String, file: String },
}

/// An error of one action; the other actions of the jail still ran.
#[derive(Debug)]
pub struct ActionFailure {
    pub action: String,
    pub error: ActionError,
}

/// The actions of one jail. Every operation runs on each action in order;
/// one action failing does not stop the others (as fail2ban), and the
/// failures are returned together.
#[derive(Debug)]
pub struct JailActions {
    actions: Vec<CommandAction>,
}

impl JailActions {
    /// Builds the jail's actions; fails on the first action that cannot be
    /// built (a Python action, an invalid timeout).
    pub fn new(jail: &str, defs: Vec<ActionDef>) -> Result<Self, ActionError> {
        let actions = defs
            .into_iter()
            .map(|def| match def {
                ActionDef::Command(def) => CommandAction::new(jail, def),
                ActionDef::Python { name, file } => {
                    Err(ActionError::PythonNotSupported { action: name, file })
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(JailActions { actions })
    }

    pub fn actions(&self) -> &[CommandAction] {
        &self.actions
    }

    pub fn actions_mut(&mut self) -> &mut [CommandAction] {
        &mut self.actions
    }

    /// `<bantime>` for start/stop commands of every action.
    pub fn set_jail_ban_time(&mut self, seconds: i64) {
        for action in &mut self.actions {
            action.set_jail_ban_time(seconds);
        }
    }

    /// Variables added to the environment of every command (e.g. `PATH`).
    pub fn set_environment(&mut self, environment: &BTreeMap<String, String>) {
        for action in &mut self.actions {
            action.set_environment(environment.clone());
        }
    }

    pub fn start(&mut self) -> Vec<ActionFailure> {
        self.each(|action| action.start())
    }

    /// Bans on every action; actions with `norestored` skip restored bans.
    pub fn ban(&mut self, ban: &BanInfo) -> Vec<ActionFailure> {
        self.each(|action| {
            if ban.restored && action.skips_restored() {
                return Ok(());
            }
            action.ban(ban)
        })
    }

    pub fn reban(&mut self, ban: &BanInfo) -> Vec<ActionFailure> {
        self.each(|action| {
            if ban.restored && action.skips_restored() {
                return Ok(());
            }
            action.reban(ban)
        })
    }

    pub fn unban(&mut self, ban: &BanInfo) -> Vec<ActionFailure> {
        self.each(|action| action.unban(ban))
    }

    /// Removes all `bans`: `actionflush` where defined, else (or if the
    /// flush fails) `actionunban` for each ban, as fail2ban's `__flushBan`.
    pub fn flush(&mut self, bans: &[BanInfo]) -> Vec<ActionFailure> {
        self.each(|action| {
            if action.has_flush() && action.flush().is_ok() {
                return Ok(());
            }
            let mut first_error = None;
            for ban in bans {
                if let Err(error) = action.unban(ban) {
                    first_error.get_or_insert(error);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    /// Stops every action, in reverse order of start (fail2ban stops its
    /// actions in reverse too).
    pub fn stop(&mut self) -> Vec<ActionFailure> {
        let mut failures = Vec::new();
        for action in self.actions.iter_mut().rev() {
            if let Err(error) = action.stop() {
                failures.push(ActionFailure {
                    action: action.name().to_owned(),
                    error,
                });
            }
        }
        failures
    }

    fn each(
        &mut self,
        mut operation: impl FnMut(&mut CommandAction) -> Result<(), ActionError>,
    ) -> Vec<ActionFailure> {
        let mut failures = Vec::new();
        for action in &mut self.actions {
            if let Err(error) = operation(action) {
                failures.push(ActionFailure {
                    action: action.name().to_owned(),
                    error,
                });
            }
        }
        failures
    }
}
