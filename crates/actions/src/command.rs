//! One command action and its lifecycle, following fail2ban's
//! `CommandAction`: start (possibly on demand, per address family), ban with
//! check-and-repair on failure, unban, reban, flush, stop.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dynamic::{BanInfo, DynamicValues, PreparedCommand, render_dynamic};
use crate::error::ActionError;
use crate::exec::{self, Label};
use crate::tags::{Properties, replace_static, substitute_recursive};

/// fail2ban's default action timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The operations of fail2ban's `CommandAction.clearAllParams`.
const OPERATIONS: [&str; 9] = [
    "actionstart",
    "actionban",
    "actionreban",
    "actionunban",
    "actioncheck",
    "actionrepair",
    "actionflush",
    "actionstop",
    "actionreload",
];

/// Started flag of a family.
const STARTED: u8 = 1;
/// The family holds bans.
const HAS_BANS: u8 = 2;

/// An action as read from its `.conf` file, before any substitution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandActionDef {
    /// The action's name in the jail (fail2ban's `actname`).
    pub name: String,
    /// `[Definition]`: `actionstart`, `actionban`, `timeout`, …
    pub definition: BTreeMap<String, String>,
    /// `[Init]`.
    pub init: BTreeMap<String, String>,
    /// `[Init?family=inet6]` and the like, keyed by family (`inet6`).
    pub family_init: BTreeMap<String, BTreeMap<String, String>>,
    /// Options given in the jail (`action = x[port=ssh, name=SSH]`, and jail
    /// values the config passes down); they override `[Init]`.
    pub options: BTreeMap<String, String>,
    /// The action file's name as written in the jail (`nftables-multiport`).
    pub file: String,
    /// Where each command was defined (`action.d/nftables.local:4`), for messages.
    pub origins: BTreeMap<String, String>,
}

/// The dynamic tags whose values are the matched log lines of a ban.
const MATCHES_TAGS: [&str; 3] = ["<matches>", "<ipmatches>", "<ipjailmatches>"];

impl CommandActionDef {
    /// Whether a command of this action may read matched log lines (`<matches>`,
    /// `<ipmatches>`, `<ipjailmatches>`), directly or through one of its values: the
    /// caller keeps matched lines only for jails whose actions read them.
    pub fn reads_matches(&self) -> bool {
        self.values()
            .any(|text| MATCHES_TAGS.iter().any(|tag| text.contains(tag)))
    }

    /// Whether a command reads the matches of the address's earlier bans
    /// (`<ipmatches>`, `<ipjailmatches>`), which the caller fetches from its database.
    pub fn reads_earlier_matches(&self) -> bool {
        self.values()
            .any(|text| MATCHES_TAGS[1..].iter().any(|tag| text.contains(tag)))
    }

    fn values(&self) -> impl Iterator<Item = &String> {
        self.definition
            .values()
            .chain(self.init.values())
            .chain(self.family_init.values().flat_map(BTreeMap::values))
            .chain(self.options.values())
    }
}

/// A command action of one jail, with its started state per family.
#[derive(Debug)]
pub struct CommandAction {
    jail: String,
    name: String,
    properties: Properties,
    resolved: BTreeMap<String, Properties>,
    timeout: Duration,
    families: Vec<String>,
    start_on_demand: bool,
    norestored: bool,
    repair_on_unban: bool,
    jail_ban_time: i64,
    environment: BTreeMap<String, String>,
    started: BTreeMap<String, u8>,
    executed: BTreeMap<String, BTreeMap<String, String>>,
    /// How many times a failed `actioncheck` led to a repair attempt (fail2ban's
    /// `invalidateBanEpoch`): bans made before may be gone from the firewall.
    repairs: u64,
}

/// Result of fail2ban's `_invariantCheck`.
#[derive(Debug, PartialEq, Eq)]
enum Invariant {
    Sane,
    NotRepaired,
    Broken,
}

impl CommandAction {
    /// Builds the action for `jail`. `name` defaults to the jail's name, as
    /// fail2ban's ActionReader does.
    pub fn new(jail: &str, def: CommandActionDef) -> Result<Self, ActionError> {
        let properties = merge_properties(jail, &def);
        let timeout = match properties.get("timeout") {
            Some(value) => parse_seconds(value).ok_or_else(|| ActionError::InvalidTimeout {
                action: def.name.clone(),
                value: value.clone(),
            })?,
            None => DEFAULT_TIMEOUT,
        };
        let has_conditional = properties.keys().any(|key| is_conditional(key));
        let families = match properties.get("families") {
            Some(list) if !list.trim().is_empty() => split_words(list),
            _ if has_conditional => vec!["inet4".to_owned(), "inet6".to_owned()],
            _ => vec![String::new()],
        };
        let flag = |key: &str| properties.get(key).and_then(|v| parse_bool(v));
        Ok(CommandAction {
            jail: jail.to_owned(),
            start_on_demand: flag("actionstart_on_demand").unwrap_or(has_conditional),
            norestored: flag("norestored").unwrap_or(false),
            repair_on_unban: flag("actionrepair_on_unban").unwrap_or(false),
            name: def.name,
            properties,
            resolved: BTreeMap::new(),
            timeout,
            families,
            jail_ban_time: 600,
            environment: BTreeMap::new(),
            started: BTreeMap::new(),
            executed: BTreeMap::new(),
            repairs: 0,
        })
    }

    /// The jail's ban time, used for `<bantime>` in start/stop commands
    /// (fail2ban's empty ticket takes it from the jail).
    pub fn set_jail_ban_time(&mut self, seconds: i64) {
        self.jail_ban_time = seconds;
    }

    /// Variables added to the environment of every command of this action
    /// (e.g. the `PATH` the daemon wants its actions to use).
    pub fn set_environment(&mut self, environment: BTreeMap<String, String>) {
        self.environment = environment;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `norestored = 1`: skip bans restored from the database at start.
    pub fn skips_restored(&self) -> bool {
        self.norestored
    }

    /// Whether `actionflush` is defined (else a flush unbans each IP).
    pub fn has_flush(&self) -> bool {
        self.has_property("actionflush")
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many repairs (`actionrepair`, or stop and start) were attempted after a failed
    /// `actioncheck`. Each one may have removed the bans this action had applied, so the
    /// caller re-applies them with [`CommandAction::reban`].
    pub fn repairs(&self) -> u64 {
        self.repairs
    }

    /// Runs `actionstart` for every family, unless the action starts on
    /// demand (at its first ban of a family).
    pub fn start(&mut self) -> Result<(), ActionError> {
        if self.start_on_demand {
            return Ok(());
        }
        let families = self.families.clone();
        self.start_families(&families)
    }

    /// Runs `actionban` for `ban` (starting its family first if on demand).
    pub fn ban(&mut self, ban: &BanInfo<'_>) -> Result<(), ActionError> {
        self.ban_with("actionban", ban)
    }

    /// Runs `actionreban` if defined, else `actionban`.
    pub fn reban(&mut self, ban: &BanInfo<'_>) -> Result<(), ActionError> {
        let operation = if self.has_property("actionreban") {
            "actionreban"
        } else {
            "actionban"
        };
        self.ban_with(operation, ban)
    }

    /// Runs `actionunban` if this family holds bans.
    pub fn unban(&mut self, ban: &BanInfo<'_>) -> Result<(), ActionError> {
        let family = ban.family();
        if self.started.get(family).copied().unwrap_or(0) & HAS_BANS == 0 {
            return Ok(());
        }
        self.process("actionunban", ban)
    }

    /// Runs `actionflush` for every family holding bans.
    pub fn flush(&mut self) -> Result<(), ActionError> {
        let families: Vec<String> = self
            .started
            .iter()
            .filter(|(_, flags)| **flags & (STARTED | HAS_BANS) == STARTED | HAS_BANS)
            .map(|(family, _)| family.clone())
            .collect();
        self.execute_operation("actionflush", &families, |action, family, ok| {
            if let (true, Some(flags)) = (ok, action.started.get_mut(family)) {
                *flags &= !HAS_BANS;
            }
        })
    }

    /// fail2ban's `reload`: runs `actionreload` for every started family (an action that
    /// stays through a reload; fail2ban's own actions leave it empty).
    pub fn reload(&mut self) -> Result<(), ActionError> {
        if !self.has_property("actionreload") {
            return Ok(());
        }
        let families: Vec<String> = self
            .started
            .iter()
            .filter(|(_, flags)| **flags & STARTED != 0)
            .map(|(family, _)| family.clone())
            .collect();
        self.execute_operation("actionreload", &families, |_, _, _| {})
    }

    /// Runs `actionstop` for every started family.
    pub fn stop(&mut self) -> Result<(), ActionError> {
        let families: Vec<String> = self
            .started
            .iter()
            .filter(|(_, flags)| **flags != 0)
            .map(|(family, _)| family.clone())
            .collect();
        self.started.clear();
        self.stop_families(&families)
    }

    /// fail2ban's `consistencyCheck`: runs `actioncheck` for each started
    /// family and repairs what it can; returns whether all were sane.
    pub fn consistency_check(&mut self) -> bool {
        if !self.has_property("actioncheck") {
            return true;
        }
        let mut sane = true;
        let started: Vec<(String, u8)> =
            self.started.iter().map(|(f, s)| (f.clone(), *s)).collect();
        for (family, flags) in started {
            if flags != 0 && self.invariant_check(&family, true, true) == Invariant::Broken {
                self.started.insert(family.clone(), 0);
                self.forget_executed("actionstart", &family);
                sane = false;
            }
        }
        sane
    }

    /// fail2ban's `consistencyCheck` after a failed `actionflush`: as
    /// [`Self::consistency_check`], but while the jail is `stopping` nothing is
    /// repaired unless the action sets `actionrepair_on_unban`. An error when a
    /// check failed and the action was not made sane.
    pub fn check_after_failed_flush(&mut self, stopping: bool) -> Result<(), ActionError> {
        if !self.has_property("actioncheck") {
            return Ok(());
        }
        let may_repair = !stopping || self.repair_on_unban;
        let mut outcome = Ok(());
        let started: Vec<(String, u8)> =
            self.started.iter().map(|(f, s)| (f.clone(), *s)).collect();
        for (family, flags) in started {
            if flags == 0 {
                continue;
            }
            let action = self.name().to_owned();
            match self.invariant_check(&family, may_repair, true) {
                Invariant::Sane => {}
                // Not repaired on purpose: the action stays marked as started, as there.
                Invariant::NotRepaired => outcome = Err(ActionError::FlushImpossible { action }),
                Invariant::Broken => {
                    self.started.insert(family.clone(), 0);
                    self.forget_executed("actionstart", &family);
                    outcome = Err(ActionError::Unrepairable { action });
                }
            }
        }
        outcome
    }

    /// After an unclean stop the firewall still holds what the previous run set up: runs
    /// `actionflush` and `actionstop` for every family this action handles, as if it had
    /// been started, so that `actionstart` begins from a clean slate (no duplicate chains,
    /// jumps or rules). Errors are expected (there may be nothing to remove): they are
    /// returned for the caller to log, and every command still runs.
    pub fn clean_up_after_unclean_stop(&mut self) -> Vec<ActionError> {
        let mut errors = Vec::new();
        for family in self.families.clone() {
            for operation in ["actionflush", "actionstop"] {
                let result = self
                    .operation_command(operation, &family)
                    .and_then(|command| self.run(&command, operation));
                errors.extend(result.err());
            }
        }
        errors
    }

    /// Renders `operation` for `ban` without running it (for tests, dry runs
    /// and diagnostics).
    pub fn render_ban(
        &mut self,
        operation: &str,
        ban: &BanInfo<'_>,
    ) -> Result<PreparedCommand, ActionError> {
        let conditional = format!("family={}", ban.family());
        let command = self.render_static(operation, &conditional)?;
        Ok(render_dynamic(&command, &DynamicValues::for_ban(ban)))
    }

    fn ban_with(&mut self, operation: &str, ban: &BanInfo<'_>) -> Result<(), ActionError> {
        let family = ban.family();
        if self.start_on_demand && self.started.get(family).copied().unwrap_or(0) == 0 {
            self.start_families(&[family.to_owned()])?;
        }
        self.process(operation, ban)?;
        *self.started.entry(family.to_owned()).or_insert(0) |= STARTED | HAS_BANS;
        Ok(())
    }

    fn has_property(&self, key: &str) -> bool {
        self.properties
            .get(key)
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// fail2ban's `_processCmd`: run; on failure, check (and repair) once,
    /// then run again.
    fn process(&mut self, operation: &str, ban: &BanInfo<'_>) -> Result<(), ActionError> {
        let family = ban.family();
        let first = self.render_ban(operation, ban)?;
        let Err(error) = self.run(&first, operation) else {
            return Ok(());
        };
        if !self.has_property("actioncheck") {
            // fail2ban retries once even without a check command.
            drop(error);
            let again = self.render_ban(operation, ban)?;
            return self.run(&again, operation);
        }
        let is_unban = operation == "actionunban";
        let may_repair = !is_unban || self.repair_on_unban;
        if self.invariant_check(family, may_repair, !is_unban) != Invariant::Sane {
            return Err(error);
        }
        let again = self.render_ban(operation, ban)?;
        self.run(&again, operation)
    }

    /// fail2ban's `_invariantCheck`: `actioncheck`; if it fails, `actionrepair`
    /// or stop+start, then check again.
    fn invariant_check(&mut self, family: &str, may_repair: bool, force_start: bool) -> Invariant {
        if !force_start && !self.started.contains_key(family) {
            return Invariant::Sane;
        }
        let Ok(check) = self.operation_command("actioncheck", family) else {
            return Invariant::Broken;
        };
        if check.script.is_empty() || self.run(&check, "actioncheck").is_ok() {
            return Invariant::Sane;
        }
        if !may_repair {
            return Invariant::NotRepaired;
        }
        // Counted before repairing, as fail2ban increments its ban epoch: even a failed
        // repair may have removed bans (a stop that ran before the start failed).
        self.repairs += 1;
        if !self.repair(family, force_start) {
            return Invariant::Broken;
        }
        let started = self.started.get(family).copied().unwrap_or(0) != 0;
        if started && self.run(&check, "actioncheck").is_err() {
            return Invariant::Broken;
        }
        Invariant::Sane
    }

    /// `actionrepair` if defined, else restart the family.
    fn repair(&mut self, family: &str, force_start: bool) -> bool {
        let repair = match self.operation_command("actionrepair", family) {
            Ok(repair) => repair,
            Err(_) => return false,
        };
        if !repair.script.is_empty() {
            let ok = self.run(&repair, "actionrepair").is_ok();
            self.started.insert(family.to_owned(), u8::from(ok));
            return ok;
        }
        if self.started.contains_key(family) {
            self.started.insert(family.to_owned(), 0);
            // As fail2ban: an error stopping does not matter if start and
            // check succeed afterwards.
            let _ = self.stop_families(&[family.to_owned()]);
        }
        if force_start || !self.start_on_demand {
            // fail2ban 1.0.2 skips this start when the same command was
            // recorded for another family (e.g. the family-less start of a
            // non-conditional action), so its "restart" never runs
            // actionstart. We forget those records: a repair must restart.
            if let Ok(command) = self.operation_command("actionstart", family)
                && let Some(done) = self.executed.get_mut("actionstart")
            {
                done.retain(|_, other| *other != command.script);
            }
            return self.start_families(&[family.to_owned()]).is_ok();
        }
        true
    }

    fn start_families(&mut self, families: &[String]) -> Result<(), ActionError> {
        self.execute_operation("actionstart", families, |action, family, ok| {
            if ok {
                action.forget_executed("actionstop", family);
                action.started.insert(family.to_owned(), STARTED);
            }
        })
    }

    fn stop_families(&mut self, families: &[String]) -> Result<(), ActionError> {
        self.execute_operation("actionstop", families, |action, family, ok| {
            if ok {
                action.forget_executed("actionstart", family);
            }
        })
    }

    /// fail2ban's `_executeOperation`: runs `operation` for each family,
    /// skipping a command already run for another family.
    fn execute_operation(
        &mut self,
        operation: &str,
        families: &[String],
        after: impl Fn(&mut Self, &str, bool),
    ) -> Result<(), ActionError> {
        let mut first_error = None;
        for family in families {
            let result = self.execute_for_family(operation, family);
            let ok = result.is_ok();
            after(self, family, ok);
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn execute_for_family(&mut self, operation: &str, family: &str) -> Result<(), ActionError> {
        let command = self.operation_command(operation, family)?.script;
        let done_elsewhere = self
            .executed
            .get(operation)
            .is_some_and(|done| done.iter().any(|(f, c)| f != family && *c == command));
        if !command.is_empty() && !done_elsewhere {
            let values = DynamicValues::for_operation(unix_now(), family, self.jail_ban_time);
            let prepared = render_dynamic(&command, &values);
            if let Err(error) = self.run(&prepared, operation) {
                self.forget_executed(operation, family);
                return Err(error);
            }
        }
        self.executed
            .entry(operation.to_owned())
            .or_default()
            .insert(family.to_owned(), command);
        Ok(())
    }

    /// fail2ban's `_getOperation`: static tags, then `<family>`.
    fn operation_command(
        &mut self,
        operation: &str,
        family: &str,
    ) -> Result<PreparedCommand, ActionError> {
        let command = self.render_static(operation, &conditional_for(family))?;
        if family.is_empty() || !command.contains('<') {
            return Ok(PreparedCommand {
                script: command,
                env: BTreeMap::new(),
            });
        }
        Ok(render_dynamic(
            &command,
            &DynamicValues::family_only(family),
        ))
    }

    /// Removes the record of `operation` for `family` and for every other
    /// family that ran the same command (fail2ban's `_operationExecuted`
    /// delete).
    fn forget_executed(&mut self, operation: &str, family: &str) {
        if let Some(done) = self.executed.get_mut(operation)
            && let Some(command) = done.remove(family)
        {
            done.retain(|_, other| *other != command);
        }
    }

    fn render_static(&mut self, operation: &str, conditional: &str) -> Result<String, ActionError> {
        if !self.resolved.contains_key(conditional) {
            let resolved = substitute_recursive(&self.name, &self.properties, conditional)?;
            self.resolved.insert(conditional.to_owned(), resolved);
        }
        let resolved = self.resolved.get(conditional).cloned().unwrap_or_default();
        replace_static(
            &self.name,
            &format!("<{operation}>"),
            &resolved,
            conditional,
        )
    }

    fn run(&self, command: &PreparedCommand, operation: &str) -> Result<(), ActionError> {
        if command.script.trim().is_empty() {
            return Ok(());
        }
        let label = Label {
            action: &self.name,
            operation,
        };
        exec::run(command, &self.environment, self.timeout, &label).map(|_stdout| ())
    }

    /// The jail this action belongs to.
    pub fn jail(&self) -> &str {
        &self.jail
    }
}

fn conditional_for(family: &str) -> String {
    if family.is_empty() {
        String::new()
    } else {
        format!("family={family}")
    }
}

/// [Definition], then [Init], then conditional [Init?family=…] as
/// `key?family=…`, then the jail's options; `name` defaults to the jail.
pub(crate) fn merge_properties(jail: &str, def: &CommandActionDef) -> Properties {
    let mut properties: Properties = def.definition.clone();
    properties.extend(def.init.clone());
    for (family, values) in &def.family_init {
        for (key, value) in values {
            properties.insert(format!("{key}?family={family}"), value.clone());
        }
    }
    // ActionReader puts the jail's name into the jail options unless given,
    // so it overrides `[Init] name = default`.
    properties.insert("name".to_owned(), jail.to_owned());
    properties.extend(def.options.clone());
    // fail2ban ignores a `bantime` option on actions (WRAP_CMD_PARAMS):
    // `<bantime>` is always the ban's own, a dynamic tag.
    properties.remove("bantime");
    // fail2ban's CommandAction defines every operation, empty by default, so
    // a reference to an undefined one renders empty.
    for operation in OPERATIONS {
        properties.entry(operation.to_owned()).or_default();
    }
    properties
}

/// fail2ban's `CONDITIONAL_FAM_RE`: `word?family=…`.
fn is_conditional(key: &str) -> bool {
    key.split_once('?').is_some_and(|(word, condition)| {
        !word.is_empty()
            && word.chars().all(|c| c.is_alphanumeric() || c == '_')
            && condition.starts_with("family=")
    })
}

fn split_words(list: &str) -> Vec<String> {
    list.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// fail2ban's boolean option values.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The common forms of fail2ban's `str2seconds`: `60`, `1.5`, `2m`,
/// `1h 30m`, `1d12h`. (Arithmetic like `1year-6mo` is not supported.)
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = rest[number_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        total += number * unit_seconds(&rest[..unit_end].to_ascii_lowercase())?;
        rest = rest[unit_end..].trim_start();
    }
    Duration::try_from_secs_f64(total).ok()
}

fn unit_seconds(unit: &str) -> Option<f64> {
    const YEAR: f64 = 365.25 * 86400.0;
    Some(match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "mm" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hh" | "hour" | "hours" => 3600.0,
        "d" | "dd" | "day" | "days" => 86400.0,
        "w" | "ww" | "week" | "weeks" => 7.0 * 86400.0,
        "mo" | "mon" | "month" | "months" => YEAR / 12.0,
        "y" | "yy" | "year" | "years" => YEAR,
        _ => return None,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
