//! All actions of one jail, run in their configured order.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::command::{CommandAction, CommandActionDef, parse_bool};
use crate::dynamic::BanInfo;
use crate::error::ActionError;
use crate::native::{self, Choice, NativeAction};

/// Set to `commands` to run every action through its commands, the stock nftables ones
/// too (to compare the two, or to fall back should the native backend misbehave).
pub const NATIVE_ACTIONS_ENV: &str = "FERROBAN_NATIVE_ACTIONS";

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
///
/// The jail keeps fail2ban's *ban epoch*: it grows by one each time an action
/// is repaired after a failed `actioncheck`, and that action remembers the
/// epoch of its last repair. It also remembers the epoch each active ban was
/// applied at: a ban applied at an older epoch may be missing from the
/// repaired actions ([`JailActions::unsettled_bans`]), and
/// [`JailActions::reban_since`] re-applies it on exactly those.
#[derive(Debug)]
pub struct JailActions {
    actions: Vec<Action>,
    /// Per action: which backend it got and why.
    backends: Vec<Backend>,
    /// The jail's ban epoch.
    epoch: u64,
    /// Per action: the epoch of its last repair, and its repair count then.
    repaired: Vec<(u64, u64)>,
    /// The epoch each active ban was last applied at.
    applied: HashMap<IpAddr, u64>,
    /// The epoch at which every active ban was last looked at for re-applying.
    settled: u64,
}

impl JailActions {
    /// Builds the jail's actions; fails on the first action that cannot be
    /// built (a Python action, an invalid timeout). A command action whose commands are
    /// those of a stock nftables action runs natively (see `native/stock.rs`).
    pub fn new(jail: &str, defs: Vec<ActionDef>) -> Result<Self, ActionError> {
        let native_allowed = std::env::var(NATIVE_ACTIONS_ENV).map_or(true, |v| v != "commands");
        let mut actions = Vec::new();
        let mut backends = Vec::new();
        for def in defs {
            let (action, backend) = match def {
                ActionDef::Command(def) => build_action(jail, def, native_allowed)?,
                ActionDef::Python { name, file } => {
                    return Err(ActionError::PythonNotSupported { action: name, file });
                }
            };
            actions.push(action);
            backends.push(backend);
        }
        let repaired = vec![(0, 0); actions.len()];
        Ok(JailActions {
            actions,
            backends,
            epoch: 0,
            repaired,
            applied: HashMap::new(),
            settled: 0,
        })
    }

    /// Which backend each action got, and why, in the jail's order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// [`CommandAction::clean_up_after_unclean_stop`] for every action, in order.
    pub fn clean_up_after_unclean_stop(&mut self) -> Vec<ActionFailure> {
        let mut failures = Vec::new();
        for action in &mut self.actions {
            let name = action.name().to_owned();
            failures.extend(
                action
                    .clean_up_after_unclean_stop()
                    .into_iter()
                    .map(|error| ActionFailure {
                        action: name.clone(),
                        error,
                    }),
            );
        }
        failures
    }

    /// The jail's ban epoch: how many repairs its actions went through. A ban
    /// applied now is current until the epoch grows.
    pub fn ban_epoch(&self) -> u64 {
        self.epoch
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

    /// A reload that keeps the jail's actions: each runs its `actionreload`.
    pub fn reload(&mut self) -> Vec<ActionFailure> {
        self.each(|action| action.reload())
    }

    /// Bans on every action; actions with `norestored` skip restored bans. The ban is
    /// current at the epoch this leaves the jail in.
    pub fn ban(&mut self, ban: &BanInfo<'_>) -> Vec<ActionFailure> {
        let failures = self.each(|action| {
            if ban.restored && action.skips_restored() {
                return Ok(());
            }
            action.ban(&[ban])
        });
        self.applied.insert(ban.ip, self.epoch);
        failures
    }

    /// Bans all of `bans` on every action: one transaction per family for a native
    /// action, one command per ban for a command action (whose per-ban semantics stay).
    pub fn ban_many(&mut self, bans: &[BanInfo<'_>]) -> Vec<ActionFailure> {
        let all: Vec<&BanInfo<'_>> = bans.iter().collect();
        let fresh: Vec<&BanInfo<'_>> = bans.iter().filter(|ban| !ban.restored).collect();
        let failures = self.each(|action| {
            let bans = if action.skips_restored() {
                &fresh
            } else {
                &all
            };
            action.ban(bans)
        });
        for ban in bans {
            self.applied.insert(ban.ip, self.epoch);
        }
        failures
    }

    /// Unbans all of `bans` on every action, batched as [`JailActions::ban_many`].
    pub fn unban_many(&mut self, bans: &[BanInfo<'_>]) -> Vec<ActionFailure> {
        for ban in bans {
            self.applied.remove(&ban.ip);
        }
        let all: Vec<&BanInfo<'_>> = bans.iter().collect();
        self.each(|action| action.unban(&all))
    }

    /// Whether `ip`'s ban was applied at the current epoch (no repair since).
    pub fn is_current(&self, ip: &IpAddr) -> bool {
        self.applied.get(ip) == Some(&self.epoch)
    }

    /// The active bans applied before the latest repair, with the epoch each was applied
    /// at, for [`JailActions::reban_since`]; `None` when every ban was looked at since the
    /// latest repair.
    pub fn unsettled_bans(&self) -> Option<Vec<(IpAddr, u64)>> {
        if self.settled == self.epoch {
            return None;
        }
        let epoch = self.epoch;
        let stale = self.applied.iter().filter(|(_, applied)| **applied < epoch);
        Some(stale.map(|(ip, applied)| (*ip, *applied)).collect())
    }

    /// Every ban applied before `epoch` was looked at: a ban whose reban failed stays
    /// behind and is tried again at the next repair.
    pub fn settle_at(&mut self, epoch: u64) {
        self.settled = epoch;
    }

    pub fn reban(&mut self, ban: &BanInfo<'_>) -> Vec<ActionFailure> {
        self.reban_since(ban, None)
    }

    /// fail2ban's `__reBan` after a repair: `actionreban` (or `actionban`) of
    /// `ban`, applied at ban epoch `epoch`, on each action repaired since;
    /// `None` rebans on every action.
    pub fn reban_since(&mut self, ban: &BanInfo<'_>, epoch: Option<u64>) -> Vec<ActionFailure> {
        let repaired = self.repaired.clone();
        let failures = self.each_indexed(|index, action| {
            let stale = match (epoch, repaired.get(index)) {
                (None, _) => true,
                (Some(epoch), Some((repaired_at, _))) => *repaired_at > epoch,
                (Some(_), None) => false,
            };
            if !stale || (ban.restored && action.skips_restored()) {
                return Ok(());
            }
            action.reban(&[ban])
        });
        if failures.is_empty() {
            self.applied.insert(ban.ip, self.epoch);
        }
        failures
    }

    /// fail2ban's `consistencyCheck` on every action: `actioncheck` of each
    /// started family, repairing what fails. Returns whether every action is
    /// sane now (a repaired one counts as sane; repairs show in
    /// [`JailActions::ban_epoch`]).
    pub fn consistency_check(&mut self) -> bool {
        let mut sane = true;
        for index in 0..self.actions.len() {
            if let Some(action) = self.actions.get_mut(index) {
                sane &= action.consistency_check();
            }
            self.note_repairs(index);
        }
        sane
    }

    pub fn unban(&mut self, ban: &BanInfo<'_>) -> Vec<ActionFailure> {
        self.applied.remove(&ban.ip);
        self.each(|action| action.unban(&[ban]))
    }

    /// Removes all `bans` as fail2ban's `__flushBan` does: `actionflush` where
    /// defined, else `actionunban` for each ban. When `actionflush` fails, no
    /// ban is removed one by one: the action's `actioncheck` runs and a broken
    /// action is repaired, except while the jail is `stopping` (its `actionstop`
    /// follows) unless the action sets `actionrepair_on_unban`.
    pub fn flush(&mut self, bans: &[BanInfo<'_>], stopping: bool) -> Vec<ActionFailure> {
        for ban in bans {
            self.applied.remove(&ban.ip);
        }
        let mut failures = Vec::new();
        for index in 0..self.actions.len() {
            let Some(action) = self.actions.get_mut(index) else {
                continue;
            };
            let name = action.name().to_owned();
            let result = if action.has_flush() {
                action.flush().inspect_err(|_| {
                    // fail2ban: "No flush occurred, do consistency check".
                    if let Err(error) = action.check_after_failed_flush(stopping) {
                        failures.push(ActionFailure {
                            action: name.clone(),
                            error,
                        });
                    }
                })
            } else {
                let bans: Vec<&BanInfo<'_>> = bans.iter().collect();
                action.unban(&bans)
            };
            if let Err(error) = result {
                failures.push(ActionFailure {
                    action: name,
                    error,
                });
            }
            self.note_repairs(index);
        }
        failures
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
        mut operation: impl FnMut(&mut Action) -> Result<(), ActionError>,
    ) -> Vec<ActionFailure> {
        self.each_indexed(|_, action| operation(action))
    }

    fn each_indexed(
        &mut self,
        mut operation: impl FnMut(usize, &mut Action) -> Result<(), ActionError>,
    ) -> Vec<ActionFailure> {
        let mut failures = Vec::new();
        for index in 0..self.actions.len() {
            if let Some(action) = self.actions.get_mut(index)
                && let Err(error) = operation(index, action)
            {
                failures.push(ActionFailure {
                    action: action.name().to_owned(),
                    error,
                });
            }
            self.note_repairs(index);
        }
        failures
    }

    /// fail2ban's `invalidateBanEpoch`: an action repaired since last seen
    /// moves the jail's epoch on and is marked with it.
    fn note_repairs(&mut self, index: usize) {
        let (Some(action), Some(seen)) = (self.actions.get(index), self.repaired.get_mut(index))
        else {
            return;
        };
        if action.repairs() > seen.1 {
            self.epoch += 1;
            *seen = (self.epoch, action.repairs());
        }
    }
}

/// Which backend an action got, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The action's name in the jail.
    pub action: String,
    /// Runs in-process (else through its commands).
    pub native: bool,
    /// Why: `stock definition`, `actionban changed in action.d/nftables.local:3`, ….
    pub reason: String,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.native {
            "runs natively"
        } else {
            "runs its commands"
        };
        write!(f, "action {} {how} ({})", self.action, self.reason)
    }
}

fn build_action(
    jail: &str,
    def: CommandActionDef,
    native_allowed: bool,
) -> Result<(Action, Backend), ActionError> {
    let choice = if native_allowed {
        native::choose(jail, &def)
    } else {
        Choice::Commands(format!("{NATIVE_ACTIONS_ENV}=commands"))
    };
    let action = def.name.clone();
    let backend: Box<dyn native::SetBackend> = match choice {
        Choice::Nftables(spec) => Box::new(native::Nftables::new(*spec)),
        Choice::Ipset(spec) => Box::new(native::Ipset::new(*spec)),
        Choice::Commands(reason) => {
            let command = CommandAction::new(jail, def)?;
            let backend = Backend {
                action,
                native: false,
                reason,
            };
            return Ok((Action::Command(Box::new(command)), backend));
        }
    };
    let flag = |key: &str| def.definition.get(key).and_then(|v| parse_bool(v));
    // The stock actions have `[Init?family=inet6]` values, so they start on demand.
    let on_demand = flag("actionstart_on_demand").unwrap_or(true);
    let norestored = flag("norestored").unwrap_or(false);
    let native = NativeAction::new(def.name, backend, on_demand, norestored);
    let backend = Backend {
        action,
        native: true,
        reason: "stock definition".to_owned(),
    };
    Ok((Action::Native(Box::new(native)), backend))
}

/// One action of a jail: its commands, or a native backend.
#[derive(Debug)]
pub enum Action {
    Command(Box<CommandAction>),
    Native(Box<NativeAction>),
}

impl Action {
    pub fn name(&self) -> &str {
        match self {
            Action::Command(action) => action.name(),
            Action::Native(action) => action.name(),
        }
    }

    fn skips_restored(&self) -> bool {
        match self {
            Action::Command(action) => action.skips_restored(),
            Action::Native(action) => action.skips_restored(),
        }
    }

    fn repairs(&self) -> u64 {
        match self {
            Action::Command(action) => action.repairs(),
            Action::Native(action) => action.repairs(),
        }
    }

    fn set_jail_ban_time(&mut self, seconds: i64) {
        if let Action::Command(action) = self {
            action.set_jail_ban_time(seconds);
        }
    }

    fn set_environment(&mut self, environment: BTreeMap<String, String>) {
        if let Action::Command(action) = self {
            action.set_environment(environment);
        }
    }

    fn start(&mut self) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => action.start(),
            Action::Native(action) => action.start(),
        }
    }

    /// `actionreload`: a native action's kernel state needs nothing on a reload.
    fn reload(&mut self) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => action.reload(),
            Action::Native(_) => Ok(()),
        }
    }

    /// Bans all of `bans`: one transaction for a native action, one command each else.
    fn ban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => first_error(bans, |ban| action.ban(ban)),
            Action::Native(action) => action.ban(bans),
        }
    }

    fn reban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => first_error(bans, |ban| action.reban(ban)),
            Action::Native(action) => action.reban(bans),
        }
    }

    fn unban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => first_error(bans, |ban| action.unban(ban)),
            Action::Native(action) => action.unban(bans),
        }
    }

    fn has_flush(&self) -> bool {
        match self {
            Action::Command(action) => action.has_flush(),
            Action::Native(_) => true,
        }
    }

    fn flush(&mut self) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => action.flush(),
            Action::Native(action) => action.flush(),
        }
    }

    fn check_after_failed_flush(&mut self, stopping: bool) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => action.check_after_failed_flush(stopping),
            // A native flush that failed left the set as it was; its stop follows or the
            // next ban repairs it.
            Action::Native(_) => Ok(()),
        }
    }

    fn stop(&mut self) -> Result<(), ActionError> {
        match self {
            Action::Command(action) => action.stop(),
            Action::Native(action) => action.stop(),
        }
    }

    fn consistency_check(&mut self) -> bool {
        match self {
            Action::Command(action) => action.consistency_check(),
            Action::Native(action) => action.consistency_check(),
        }
    }

    fn clean_up_after_unclean_stop(&mut self) -> Vec<ActionError> {
        match self {
            Action::Command(action) => action.clean_up_after_unclean_stop(),
            Action::Native(action) => action.clean_up_after_unclean_stop(),
        }
    }
}

/// Runs `operation` on every ban; the first error, after trying them all.
fn first_error(
    bans: &[&BanInfo<'_>],
    mut operation: impl FnMut(&BanInfo<'_>) -> Result<(), ActionError>,
) -> Result<(), ActionError> {
    let mut first = None;
    for ban in bans {
        if let Err(error) = operation(ban) {
            first.get_or_insert(error);
        }
    }
    first.map_or(Ok(()), Err)
}
