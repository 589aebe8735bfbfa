//! From a resolved [`JailSpec`] to what the daemon's pieces need: the filter definition,
//! the tracker's policy, the actions' definitions and the log source's settings.
//!
//! This is the adapter between `ferroban-config` (values as fail2ban's client reads them)
//! and the library crates that each take their own plain types.

use std::collections::BTreeMap;

use ferroban_actions::{ActionDef, CommandActionDef};
use ferroban_config::{JailAction, JailSpec};
use ferroban_filter::FilterDefinition;
use ferroban_tracker::{BanTime, BanTimeIncrement, IncrementFormula, JailPolicy};

use crate::formula::{Formula, FormulaInput};

/// fail2ban server defaults for a jail that sets nothing (`server/jail.py` and friends).
const DEFAULT_MAX_RETRY: u32 = 3;
const DEFAULT_FIND_TIME: i64 = 600;
const DEFAULT_BAN_TIME: i64 = 600;

/// A `bantime.formula` as the tracker's closure; one we cannot evaluate is reported and
/// the default formula is used, as the jail must still ban.
fn custom_formula(text: &str, warnings: &mut Vec<String>) -> IncrementFormula {
    match Formula::parse(text) {
        Ok(formula) => IncrementFormula::Custom(std::sync::Arc::new(move |ban| {
            formula.evaluate(FormulaInput {
                time: ban.time,
                count: f64::from(ban.count),
                factor: ban.factor,
            })
        })),
        Err(error) => {
            warnings.push(format!("{error}; using the default formula"));
            IncrementFormula::Default
        }
    }
}

/// Where a jail reads its log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Files followed with inotify (`auto`, `pyinotify`, `gamin`) or by polling (`polling`).
    Files { polling: bool },
    /// The systemd journal (`systemd`), with its `journalmatch` lines.
    Journal { matches: Vec<String> },
}

/// Everything the daemon needs to run one jail.
#[derive(Debug, Clone)]
pub struct JailConfig {
    pub name: String,
    pub filter: Option<FilterDefinition>,
    pub policy: JailPolicy,
    pub ignore_ip: Vec<String>,
    pub ignore_self: bool,
    pub ignore_command: Option<String>,
    /// Command actions in their configured order.
    pub actions: Vec<ActionDef>,
    /// Python actions, which cannot run: `(name, file)`, reported at start.
    pub unsupported_actions: Vec<(String, String)>,
    pub backend: Backend,
    /// `logpath` lines as written (globs, ` head`/` tail`).
    pub logpaths: Vec<String>,
    pub logencoding: Option<String>,
    pub logtimezone: Option<String>,
    /// `usedns`: `yes`, `warn`, `no` or `raw`.
    pub usedns: String,
    /// Whether failures carry their matched lines to the jail. Only actions read them
    /// (`<matches>`, and `<ipmatches>`/`<ipjailmatches>` from the database), and a jail
    /// keeps an entry for every address that failed within `findtime`: without such an
    /// action, keeping the lines would be memory spent on nothing. See
    /// [`keep_matches_where_read`].
    pub keep_matches: bool,
}

impl JailConfig {
    /// Builds a jail's configuration. Problems that do not stop the jail (an unknown
    /// `bantime.formula`) come back as warnings.
    pub fn from_spec(spec: &JailSpec) -> (JailConfig, Vec<String>) {
        let mut warnings = Vec::new();
        let filter = spec.filter.as_ref().map(|filter| FilterDefinition {
            logtimezone: spec.logtimezone.as_ref().map(|v| v.value.clone()),
            ..filter.definition()
        });
        let usedns = spec
            .filter
            .as_ref()
            .and_then(|f| f.usedns.as_ref().map(|v| v.value.clone()))
            .or_else(|| spec.option("usedns").map(str::to_string))
            .unwrap_or_else(|| "warn".to_string())
            .to_ascii_lowercase();
        let journal_matches = spec
            .filter
            .as_ref()
            .map(|f| f.journalmatch.iter().map(|v| v.value.clone()).collect())
            .unwrap_or_default();
        let backend = match spec
            .backend
            .value
            .split('[')
            .next()
            .unwrap_or("auto")
            .trim()
        {
            "systemd" => Backend::Journal {
                matches: journal_matches,
            },
            "polling" => Backend::Files { polling: true },
            _ => Backend::Files { polling: false },
        };
        let (actions, unsupported_actions) = action_defs(&spec.actions);
        let config = JailConfig {
            name: spec.name.clone(),
            filter,
            policy: policy(spec, &mut warnings),
            ignore_ip: spec.ignoreip.iter().map(|v| v.value.clone()).collect(),
            ignore_self: spec.ignoreself.as_ref().is_none_or(|v| v.value),
            ignore_command: spec
                .ignorecommand
                .as_ref()
                .map(|v| v.value.trim().to_string())
                .filter(|v| !v.is_empty()),
            actions,
            unsupported_actions,
            backend,
            logpaths: spec.logpath.iter().map(|v| v.value.clone()).collect(),
            logencoding: spec.logencoding.as_ref().map(|v| v.value.clone()),
            logtimezone: spec.logtimezone.as_ref().map(|v| v.value.clone()),
            usedns,
            keep_matches: true,
        };
        (config, warnings)
    }

    /// True when one of the jail's actions may read matched lines: any of its texts names
    /// `matches` (`<matches>`, `<ipmatches>`, `<ipjailmatches>`, directly or through an
    /// `[Init]` value). A Python action cannot be looked into, so it counts as reading them.
    fn reads_matches(&self) -> bool {
        self.actions.iter().any(|action| match action {
            ActionDef::Command(def) => def
                .definition
                .values()
                .chain(def.init.values())
                .chain(def.family_init.values().flat_map(BTreeMap::values))
                .chain(def.options.values())
                .any(|text| text.contains("matches")),
            ActionDef::Python { .. } => true,
        }) || !self.unsupported_actions.is_empty()
    }

    /// `findtime` in seconds.
    pub fn find_time(&self) -> i64 {
        self.policy.find_time
    }
}

/// Sets [`JailConfig::keep_matches`] for a set of jails: all of them keep matched lines
/// when any action of any jail reads them, since `<ipmatches>` reads the lines other jails
/// stored with their bans.
pub fn keep_matches_where_read(configs: &mut [JailConfig]) {
    let keep = configs.iter().any(JailConfig::reads_matches);
    for config in configs {
        config.keep_matches = keep;
    }
}

/// The tracker's settings from the jail's options.
fn policy(spec: &JailSpec, warnings: &mut Vec<String>) -> JailPolicy {
    let max_retry = spec
        .maxretry
        .as_ref()
        .map_or(DEFAULT_MAX_RETRY, |v| v.value);
    let find_time = spec
        .findtime
        .as_ref()
        .map_or(DEFAULT_FIND_TIME, |v| v.value.seconds);
    let ban_time = spec
        .bantime
        .as_ref()
        .map_or(DEFAULT_BAN_TIME, |v| v.value.seconds);
    let increment = spec
        .bantime_increment
        .as_ref()
        .is_some_and(|v| v.value)
        .then(|| increment(spec, warnings));
    JailPolicy {
        max_retry,
        find_time,
        ban_time: BanTime::from_seconds(ban_time),
        max_matches: spec
            .maxmatches
            .as_ref()
            .map_or(max_retry as usize, |v| v.value as usize),
        increment,
    }
}

fn increment(spec: &JailSpec, warnings: &mut Vec<String>) -> BanTimeIncrement {
    let factor = match spec.bantime_factor.as_ref() {
        Some(v) => v.value.trim().parse::<f64>().unwrap_or_else(|_| {
            warnings.push(format!(
                "bantime.factor {:?} is not a number; using 1",
                v.value
            ));
            1.0
        }),
        None => 1.0,
    };
    let multipliers: Vec<i64> = spec
        .bantime_multipliers
        .as_ref()
        .map(|v| {
            v.value
                .split_whitespace()
                .filter_map(|w| w.parse::<i64>().ok())
                .collect()
        })
        .unwrap_or_default();
    let formula = if !multipliers.is_empty() {
        IncrementFormula::Multipliers(multipliers)
    } else {
        match spec.bantime_formula.as_ref() {
            Some(text) => custom_formula(&text.value, warnings),
            None => IncrementFormula::Default,
        }
    };
    BanTimeIncrement {
        formula,
        factor,
        max_time: spec.bantime_maxtime.as_ref().map(|v| v.value.seconds),
        rnd_time: spec.bantime_rndtime.as_ref().map(|v| v.value.seconds),
        overall_jails: spec.bantime_overalljails.as_ref().is_some_and(|v| v.value),
    }
}

/// The actions crate's definitions. The config crate hands over each action's commands
/// (static tags already filled) and the options fail2ban passes to the action object
/// (`[Init]`, the jail's `name[k=v]` options, conditional `key?family=inet6` variants);
/// those options are final, so they go where they win over everything (`options`).
fn action_defs(actions: &[JailAction]) -> (Vec<ActionDef>, Vec<(String, String)>) {
    let mut defs = Vec::new();
    let mut unsupported = Vec::new();
    for action in actions {
        match action {
            JailAction::Command(spec) => {
                let definition: BTreeMap<String, String> = spec
                    .commands
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect();
                let options: BTreeMap<String, String> = spec
                    .init
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect();
                defs.push(ActionDef::Command(CommandActionDef {
                    name: spec.name.clone(),
                    definition,
                    init: BTreeMap::new(),
                    family_init: BTreeMap::new(),
                    options,
                }));
            }
            JailAction::Python { name, path, .. } => {
                unsupported.push((name.clone(), path.display().to_string()));
            }
        }
    }
    (defs, unsupported)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jail(files: &[(&str, &str)]) -> (JailConfig, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (specs, errors) = ferroban_config::load_jails(dir.path());
        assert!(errors.0.is_empty(), "{errors}");
        JailConfig::from_spec(&specs[0])
    }

    const FILTER: (&str, &str) = (
        "filter.d/e2e.conf",
        "[Definition]\nfailregex = failed from <HOST>\njournalmatch = _COMM=e2e\n",
    );
    const ACTION: (&str, &str) = (
        "action.d/note.conf",
        "[Definition]\nactionban = echo <name> <ip>\n[Init]\nname = default\n",
    );

    #[test]
    fn matched_lines_are_kept_only_when_an_action_reads_them() {
        let jail_with = |action: &str| {
            jail(&[
                FILTER,
                ("action.d/a.conf", action),
                (
                    "jail.conf",
                    "[j]\nenabled = true\nfilter = e2e\nlogpath = /x\naction = a\n",
                ),
            ])
            .0
        };
        let mut plain = vec![jail_with("[Definition]\nactionban = echo <ip>\n")];
        keep_matches_where_read(&mut plain);
        assert!(!plain[0].keep_matches);
        // Through an [Init] value, and `<ipmatches>` in another jail: both jails keep them.
        let reader =
            jail_with("[Definition]\nactionban = echo <lines>\n[Init]\nlines = <ipmatches>\n");
        let mut both = vec![plain.remove(0), reader];
        keep_matches_where_read(&mut both);
        assert!(both.iter().all(|config| config.keep_matches));
    }

    #[test]
    fn times_counts_and_increment() {
        let (config, warnings) = jail(&[
            FILTER,
            ACTION,
            (
                "jail.conf",
                "[j]\nenabled = true\nfilter = e2e\nlogpath = /var/log/x.log\nmaxretry = 4\n\
                 findtime = 1h\nbantime = 1d12h\nbantime.increment = true\n\
                 bantime.multipliers = 1 2 4\nbantime.maxtime = 1w\n\
                 ignoreip = 10.0.0.0/8 file:/etc/ferroban-ignore\naction = note[name=n]\n",
            ),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.policy.max_retry, 4);
        assert_eq!(config.policy.max_matches, 4, "maxmatches follows maxretry");
        assert_eq!(config.policy.find_time, 3600);
        assert_eq!(config.policy.ban_time, BanTime::Seconds(129_600));
        let increment = config.policy.increment.as_ref().unwrap();
        assert!(matches!(&increment.formula, IncrementFormula::Multipliers(m) if m == &[1, 2, 4]));
        assert_eq!(increment.max_time, Some(604_800));
        assert_eq!(
            config.ignore_ip,
            ["10.0.0.0/8", "file:/etc/ferroban-ignore"]
        );
        assert_eq!(config.backend, Backend::Files { polling: false });
        assert_eq!(config.logpaths, ["/var/log/x.log"]);
        let ActionDef::Command(action) = &config.actions[0] else {
            panic!("a command action");
        };
        assert_eq!(action.options.get("name").map(String::as_str), Some("n"));
        assert_eq!(
            config.filter.as_ref().unwrap().failregex,
            ["failed from <HOST>"]
        );
    }

    #[test]
    fn journal_backend_python_action_and_custom_formula() {
        let (config, warnings) = jail(&[
            FILTER,
            ACTION,
            ("action.d/smtp.py", "# a Python action\n"),
            (
                "jail.conf",
                "[j]\nenabled = true\nfilter = e2e\nbackend = systemd\n\
                 bantime.increment = true\nbantime.formula = ban.Time * os.getpid()\n\
                 action = note\n         smtp.py[dest=root]\n",
            ),
        ]);
        assert_eq!(
            config.backend,
            Backend::Journal {
                matches: vec!["_COMM=e2e".into()]
            }
        );
        assert_eq!(config.actions.len(), 1);
        assert_eq!(config.unsupported_actions[0].0, "smtp");
        assert_eq!(warnings.len(), 1, "the formula is reported: {warnings:?}");
        assert!(
            warnings[0].contains("column 12") && warnings[0].contains("unknown name"),
            "{warnings:?}"
        );
        assert_eq!(config.policy.ban_time, BanTime::Seconds(DEFAULT_BAN_TIME));
    }
}
