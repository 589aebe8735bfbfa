//! From a resolved [`JailSpec`] to what the daemon's pieces need: the filter definition,
//! the tracker's policy, the actions' definitions and the log source's settings.
//!
//! [`resolve_jail`] is the one place a jail is checked completely: its regexes compiled,
//! its actions built, its backend, log paths, encoding and `bantime.*` values read, every
//! error with the `file:line` of the setting that caused it. `ferroban config-test`,
//! `fail2ban-client -t`, the server's start-up and every reload go through it (see
//! [`crate::check`]), so a jail one of them accepts is a jail the others run.

use std::collections::BTreeMap;
use std::fmt;

use ferroban_actions::{ActionDef, ActionError, CommandActionDef, IgnoreCommand, JailActions};
use ferroban_config::{FilterSpec, JailAction, JailSpec};
use ferroban_filter::{FilterDefinition, FilterError, RegexKind};
use ferroban_ini::{Span, Spanned};
use ferroban_source::{Encoding, JournalError, JournalMatch, LogPathSpec, SourceError};
use ferroban_tracker::{BanTime, BanTimeIncrement, FormulaError, JailPolicy};

use crate::jail::{BanTimeExtra, ExtraError, Refusal};

/// fail2ban server defaults for a jail that sets nothing (`server/jail.py` and friends).
const DEFAULT_MAX_RETRY: u32 = 3;
const DEFAULT_FIND_TIME: i64 = 600;
const DEFAULT_BAN_TIME: i64 = 600;
/// `maxlinelen`'s bounds: below 256 bytes a syslog prefix does not fit; above 16 MiB a
/// hostile writer could make each source hold that much per file.
const MAX_LINE_LEN_RANGE: std::ops::RangeInclusive<usize> = 256..=16 << 20;

/// Where a jail reads its log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Files followed with inotify (`auto`, `pyinotify`, `gamin`) or by polling (`polling`).
    Files { polling: bool },
    /// The systemd journal (`systemd`), with its `journalmatch` lines.
    Journal { matches: Vec<String> },
}

/// `usedns`: what a host name found in a log line counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseDns {
    /// Resolve it; every address it has counts.
    Yes,
    /// As `yes`, with a warning.
    Warn,
    /// Host names count for nothing; `<HOST>` matches addresses only.
    No,
    /// The text itself is the failure id.
    Raw,
}

impl UseDns {
    pub(crate) fn parse(text: &str) -> Option<UseDns> {
        match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => Some(UseDns::Yes),
            "warn" => Some(UseDns::Warn),
            "no" | "false" | "off" | "0" => Some(UseDns::No),
            "raw" => Some(UseDns::Raw),
            _ => None,
        }
    }

    /// fail2ban's word for it (`get JAIL usedns`, the filter definition).
    pub fn as_str(self) -> &'static str {
        match self {
            UseDns::Yes => "yes",
            UseDns::Warn => "warn",
            UseDns::No => "no",
            UseDns::Raw => "raw",
        }
    }
}

/// Everything the daemon needs to run one jail.
#[derive(Debug, Clone)]
pub struct JailConfig {
    pub name: String,
    pub filter: Option<FilterDefinition>,
    pub policy: JailPolicy,
    pub ignore_ip: Vec<String>,
    pub ignore_self: bool,
    pub ignore_command: Option<IgnoreCommand>,
    /// Command actions in their configured order.
    pub actions: Vec<ActionDef>,
    pub backend: Backend,
    /// `logpath` lines as written (globs, ` head`/` tail`).
    pub logpaths: Vec<String>,
    pub logencoding: Option<String>,
    pub logtimezone: Option<String>,
    pub usedns: UseDns,
    /// `maxlinelen`: bytes of a line that are matched; the rest of a longer line is skipped
    /// (ferroban's option, fail2ban reads lines whole).
    pub max_line_len: usize,
    /// Whether failures carry their matched lines to the jail. Only actions read them
    /// (`<matches>`, and `<ipmatches>`/`<ipjailmatches>` from the database), and a jail
    /// keeps an entry for every address that failed within `findtime`: without such an
    /// action, keeping the lines would be memory spent on nothing. See
    /// [`keep_matches_where_read`].
    pub keep_matches: bool,
    /// The `bantime.*` values as given, for `get JAIL bantime.OPTION`.
    pub ban_time_extra: BanTimeExtra,
    /// `ignorecache`: `ignorecommand` answers kept for a while.
    pub ignore_cache: Option<crate::jail::IgnoreCacheSpec>,
    /// `cluster`: whether the jail shares its bans with the fleet (`[Cluster]`); true
    /// unless `cluster = false`.
    pub cluster: bool,
}

impl JailConfig {
    /// True when one of the jail's actions may read matched lines.
    fn reads_matches(&self) -> bool {
        self.actions.iter().any(|action| match action {
            ActionDef::Command(def) => def.reads_matches(),
            ActionDef::Python { .. } => true,
        })
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

/// What is wrong with one setting of a jail.
#[derive(Debug, thiserror::Error)]
pub enum JailErrorKind {
    #[error("{kind} {pattern:?} does not compile: {message}")]
    Regex {
        kind: &'static str,
        pattern: String,
        message: String,
    },
    #[error("filter {filter}: {error}")]
    Filter { filter: String, error: FilterError },
    #[error("unknown backend {0:?} (known: auto, pyinotify, gamin, polling, systemd)")]
    UnknownBackend(String),
    #[error("Have not found any log file for this jail (logpath is empty)")]
    EmptyLogpath,
    #[error(transparent)]
    LogPath(SourceError),
    #[error(transparent)]
    LogEncoding(SourceError),
    #[error(transparent)]
    JournalMatch(JournalError),
    #[error(
        "action `{name}` is a Python action ({file}): ferroban runs command actions only{}",
        python_action_advice(.name)
    )]
    PythonAction { name: String, file: String },
    #[error(transparent)]
    Action(ActionError),
    #[error(transparent)]
    Formula(FormulaError),
    #[error("ignorecache: {0}")]
    IgnoreCache(crate::jail::IgnoreCacheError),
    #[error("cluster = {0:?}: expected true or false")]
    Cluster(String),
    #[error("bantime.factor {0:?} is not a number")]
    Factor(String),
    #[error("bantime.multipliers {0:?} is not a list of whole numbers, one space apart")]
    Multipliers(String),
    #[error(
        "maxlinelen {0:?} is not a size from 256 bytes to 16M (bytes, or with a k or M suffix)"
    )]
    MaxLineLen(String),
    #[error("maxfailurewindows {0:?} is not a positive whole number")]
    MaxWindows(String),
}

/// The command action that does the job of a stock Python action, if there is one.
fn python_action_advice(name: &str) -> &'static str {
    match name {
        "smtp" => "; `sendmail` or `mail` (action.d/sendmail*.conf, mail*.conf) send the same mail",
        _ => "; write it as a command action (action.d/NAME.conf)",
    }
}

/// Why a jail cannot run, at the setting that caused it.
#[derive(Debug)]
pub struct JailError {
    pub jail: String,
    pub span: Option<Span>,
    pub kind: JailErrorKind,
}

impl fmt::Display for JailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(
                f,
                "{span}: [{}] {}{}",
                self.jail,
                self.kind,
                span.chain_suffix()
            ),
            None => write!(f, "[{}] {}", self.jail, self.kind),
        }
    }
}

impl std::error::Error for JailError {}

/// A jail that can run, and what was odd about it without stopping it.
#[derive(Debug)]
pub struct ResolvedJail {
    pub config: JailConfig,
    pub warnings: Vec<String>,
}

/// The errors met while resolving one jail, all of them.
struct Errors<'a> {
    jail: &'a str,
    found: Vec<JailError>,
}

impl Errors<'_> {
    fn push(&mut self, span: Option<&Span>, kind: JailErrorKind) {
        self.found.push(JailError {
            jail: self.jail.to_owned(),
            span: span.cloned(),
            kind,
        });
    }
}

/// Checks and builds one jail completely; every error comes back, not just the first.
pub fn resolve_jail(spec: &JailSpec) -> Result<ResolvedJail, Vec<JailError>> {
    let mut errors = Errors {
        jail: &spec.name,
        found: Vec::new(),
    };
    let mut warnings = Vec::new();
    let filter = spec.filter.as_ref().and_then(|filter| {
        let definition = FilterDefinition {
            logtimezone: spec.logtimezone.as_ref().map(|v| v.value.clone()),
            ..filter.definition()
        };
        check_filter(filter, &definition, &mut errors).then_some(definition)
    });
    let usedns = use_dns(spec, &mut warnings);
    let backend = backend(spec, &mut errors);
    // A jail without a filter reads no log (fail2ban: "No filter set for jail").
    if filter.is_some() && matches!(backend, Some(Backend::Files { .. })) {
        check_logpaths(spec, &mut errors);
    }
    let actions = actions(spec, &mut errors);
    let policy = policy(spec, &mut errors);
    let max_line_len = max_line_len(spec, &mut errors);
    let ignore_cache = ignore_cache(spec, &mut errors);
    let cluster = cluster_option(spec, &mut errors);
    let (Some(backend), Some(policy), true) = (backend, policy, errors.found.is_empty()) else {
        return Err(errors.found);
    };
    let config = JailConfig {
        name: spec.name.clone(),
        filter,
        policy,
        ignore_ip: spec.ignoreip.iter().map(|v| v.value.clone()).collect(),
        ignore_self: spec.ignoreself.as_ref().is_none_or(|v| v.value),
        ignore_command: spec
            .ignorecommand
            .as_ref()
            .map(|v| v.value.trim())
            .filter(|v| !v.is_empty())
            .map(IgnoreCommand::new),
        actions,
        backend,
        logpaths: spec.logpath.iter().map(|v| v.value.clone()).collect(),
        logencoding: spec.logencoding.as_ref().map(|v| v.value.clone()),
        logtimezone: spec.logtimezone.as_ref().map(|v| v.value.clone()),
        usedns,
        max_line_len,
        keep_matches: true,
        ban_time_extra: BanTimeExtra::from_spec(spec),
        ignore_cache,
        cluster,
    };
    Ok(ResolvedJail { config, warnings })
}

/// `cluster = true|false` (fail2ban's boolean words).
fn cluster_option(spec: &JailSpec, errors: &mut Errors<'_>) -> bool {
    let Some(value) = spec.options.get("cluster") else {
        return true;
    };
    match value.value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => true,
        "false" | "no" | "off" | "0" => false,
        _ => {
            errors.push(
                Some(&value.span),
                JailErrorKind::Cluster(value.value.clone()),
            );
            true
        }
    }
}

/// Compiles each regex on its own, so that every bad one is reported, then the filter as a
/// whole (the failure-id groups, the date pattern). True when it compiles.
fn check_filter(
    filter: &FilterSpec,
    definition: &FilterDefinition,
    errors: &mut Errors<'_>,
) -> bool {
    let before = errors.found.len();
    let each = filter
        .prefregex
        .iter()
        .map(|r| ("prefregex", r))
        .chain(filter.failregex.iter().map(|r| ("failregex", r)))
        .chain(filter.ignoreregex.iter().map(|r| ("ignoreregex", r)));
    for (kind, regex) in each {
        let expanded = ferroban_filter::expand_tags(&regex.value, false);
        if let Err(message) = ferroban_filter::engine_for(&expanded) {
            let pattern = regex.value.clone();
            let kind = JailErrorKind::Regex {
                kind,
                pattern,
                message,
            };
            errors.push(Some(&regex.span), kind);
        }
    }
    if errors.found.len() > before {
        return false;
    }
    match ferroban_filter::Filter::new(definition) {
        Ok(_) => true,
        Err(error) => {
            let span = filter_error_span(filter, &error);
            let name = filter.name.clone();
            errors.push(
                span,
                JailErrorKind::Filter {
                    filter: name,
                    error,
                },
            );
            false
        }
    }
}

fn filter_error_span<'a>(filter: &'a FilterSpec, error: &FilterError) -> Option<&'a Span> {
    let kind = match error {
        FilterError::Regex { regex, .. }
        | FilterError::NoFailureId { regex, .. }
        | FilterError::Empty { regex } => regex,
        FilterError::DatePattern(_) => return filter.datepattern.as_ref().map(|d| &d.span),
        FilterError::LogTimeZone(_) => return None,
    };
    let spanned: Option<&Spanned<String>> = match kind {
        RegexKind::Prefregex => filter.prefregex.as_ref(),
        RegexKind::Failregex(index) => filter.failregex.get(*index),
        RegexKind::Ignoreregex(index) => filter.ignoreregex.get(*index),
    };
    spanned.map(|s| &s.span)
}

/// fail2ban's `setUseDns`: an unknown value is reported and read as the safe `no`.
fn use_dns(spec: &JailSpec, warnings: &mut Vec<String>) -> UseDns {
    let value = spec
        .filter
        .as_ref()
        .and_then(|f| f.usedns.as_ref())
        .or_else(|| spec.options.get("usedns"));
    let Some(value) = value else {
        return UseDns::Warn;
    };
    UseDns::parse(&value.value).unwrap_or_else(|| {
        warnings.push(format!(
            "{}: Incorrect value {:?} specified for usedns. Using safe 'no'",
            value.span, value.value
        ));
        UseDns::No
    })
}

/// `maxlinelen`: bytes, or KiB/MiB with a `k`/`M` suffix; 64 KiB unless set.
fn max_line_len(spec: &JailSpec, errors: &mut Errors<'_>) -> usize {
    let Some(value) = spec.options.get("maxlinelen") else {
        return ferroban_source::DEFAULT_MAX_LINE_LEN;
    };
    match parse_size(&value.value).filter(|size| MAX_LINE_LEN_RANGE.contains(size)) {
        Some(size) => size,
        None => {
            let kind = JailErrorKind::MaxLineLen(value.value.clone());
            errors.push(Some(&value.span), kind);
            ferroban_source::DEFAULT_MAX_LINE_LEN
        }
    }
}

/// `65536`, `64k`, `1M` (binary multiples, as `ulimit` and `du` read them).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1 << 10),
        (at, 'm' | 'M') => (&text[..at], 1 << 20),
        _ => (text, 1),
    };
    digits.trim().parse::<usize>().ok()?.checked_mul(unit)
}

/// The backend's name, without its options (`systemd[journalpath=...]`). fail2ban refuses a
/// name it does not know, and so do we: a typo must not silently fall back to files.
fn backend(spec: &JailSpec, errors: &mut Errors<'_>) -> Option<Backend> {
    let value = &spec.backend;
    let name = value.value.split('[').next().unwrap_or("").trim();
    match name.to_ascii_lowercase().as_str() {
        "auto" | "pyinotify" | "gamin" => Some(Backend::Files { polling: false }),
        "polling" => Some(Backend::Files { polling: true }),
        "systemd" => {
            let lines = spec
                .filter
                .as_ref()
                .map_or(&[][..], |f| &f.journalmatch[..]);
            for line in lines {
                if let Err(error) = JournalMatch::parse(&line.value) {
                    errors.push(Some(&line.span), JailErrorKind::JournalMatch(error));
                }
            }
            Some(Backend::Journal {
                matches: lines.iter().map(|v| v.value.clone()).collect(),
            })
        }
        _ => {
            errors.push(
                Some(&value.span),
                JailErrorKind::UnknownBackend(value.value.clone()),
            );
            None
        }
    }
}

/// A file backend needs log paths, each one readable as fail2ban reads it, and an encoding
/// the source can decode.
fn check_logpaths(spec: &JailSpec, errors: &mut Errors<'_>) {
    if spec.logpath.is_empty() {
        errors.push(None, JailErrorKind::EmptyLogpath);
    }
    for line in &spec.logpath {
        if let Err(error) = LogPathSpec::parse(&line.value) {
            errors.push(Some(&line.span), JailErrorKind::LogPath(error));
        }
    }
    if let Some(label) = &spec.logencoding
        && !label.value.eq_ignore_ascii_case("auto")
        && let Err(error) = Encoding::from_label(&label.value)
    {
        errors.push(Some(&label.span), JailErrorKind::LogEncoding(error));
    }
}

/// The actions crate's definitions, built once to check them (a bad `timeout`, a tag that
/// refers to itself). The config crate hands over each action's commands (static tags
/// already filled) and the options fail2ban passes to the action object (`[Init]`, the
/// jail's `name[k=v]` options, conditional `key?family=inet6` variants); those options are
/// final, so they go where they win over everything (`options`).
fn actions(spec: &JailSpec, errors: &mut Errors<'_>) -> Vec<ActionDef> {
    let mut defs = Vec::new();
    for action in &spec.actions {
        match action {
            JailAction::Command(action) => {
                let definition: BTreeMap<String, String> = action
                    .commands
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect();
                // `known/…` values (the action's own, before the jail's options) too: an
                // option such as `chain = <known/chain>` reads them.
                let known = action
                    .options
                    .iter()
                    .filter(|(k, _)| k.starts_with("known/"));
                let options: BTreeMap<String, String> = known
                    .chain(action.init.iter())
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect();
                let origins = action
                    .commands
                    .iter()
                    .map(|(k, v)| (k.clone(), v.span.to_string()))
                    .collect();
                defs.push(ActionDef::Command(CommandActionDef {
                    name: action.name.clone(),
                    definition,
                    init: BTreeMap::new(),
                    family_init: BTreeMap::new(),
                    options,
                    file: action.file.clone(),
                    origins,
                }));
            }
            JailAction::Python {
                name, path, span, ..
            } => {
                let kind = JailErrorKind::PythonAction {
                    name: name.clone(),
                    file: path.display().to_string(),
                };
                errors.push(Some(span), kind);
            }
        }
    }
    if let Err(error) = JailActions::new(&spec.name, defs.clone()) {
        let span = spec.options.get("action").map(|v| &v.span);
        errors.push(span, JailErrorKind::Action(error));
    }
    defs
}

/// The tracker's settings from the jail's options.
fn policy(spec: &JailSpec, errors: &mut Errors<'_>) -> Option<JailPolicy> {
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
    let increment = increment(spec, errors)?;
    Some(JailPolicy {
        max_retry,
        find_time,
        ban_time: BanTime::from_seconds(ban_time),
        max_matches: spec
            .maxmatches
            .as_ref()
            .map_or(max_retry as usize, |v| v.value as usize),
        increment,
        max_windows: max_windows(spec, errors),
    })
}

/// `maxfailurewindows` (ferroban's own): a positive count, 100,000 unless set.
fn max_windows(spec: &JailSpec, errors: &mut Errors<'_>) -> usize {
    let Some(value) = spec.options.get("maxfailurewindows") else {
        return ferroban_tracker::DEFAULT_MAX_WINDOWS;
    };
    match value.value.trim().parse::<usize>() {
        Ok(count) if count > 0 => count,
        _ => {
            let kind = JailErrorKind::MaxWindows(value.value.clone());
            errors.push(Some(&value.span), kind);
            ferroban_tracker::DEFAULT_MAX_WINDOWS
        }
    }
}

/// `ignorecache`, read as fail2ban's `setIgnoreCache` reads it.
fn ignore_cache(spec: &JailSpec, errors: &mut Errors<'_>) -> Option<crate::jail::IgnoreCacheSpec> {
    let value = spec.ignorecache.as_ref()?;
    match crate::jail::IgnoreCacheSpec::parse(&value.value) {
        Ok(cache) => cache,
        Err(error) => {
            errors.push(Some(&value.span), JailErrorKind::IgnoreCache(error));
            None
        }
    }
}

/// `bantime.increment`'s settings, read as a run-time `set JAIL bantime.OPTION` reads them
/// ([`BanTimeExtra`]); each refused value is reported at its `file:line`.
fn increment(spec: &JailSpec, errors: &mut Errors<'_>) -> Option<Option<BanTimeIncrement>> {
    let refused = match BanTimeExtra::from_spec(spec).resolve() {
        Ok(increment) => return Some(increment),
        Err(refused) => refused,
    };
    for Refusal { option, error } in refused {
        let value = match option {
            "factor" => spec.bantime_factor.as_ref(),
            "formula" => spec.bantime_formula.as_ref(),
            _ => spec.bantime_multipliers.as_ref(),
        };
        let text = value.map(|v| v.value.clone()).unwrap_or_default();
        let kind = match error {
            ExtraError::Formula(error) => JailErrorKind::Formula(error),
            _ if option == "factor" => JailErrorKind::Factor(text),
            _ => JailErrorKind::Multipliers(text),
        };
        errors.push(value.map(|v| &v.span), kind);
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferroban_tracker::IncrementFormula;

    fn resolve(files: &[(&str, &str)]) -> Result<ResolvedJail, Vec<JailError>> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (specs, errors) = ferroban_config::load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        resolve_jail(&specs[0])
    }

    fn jail(files: &[(&str, &str)]) -> (JailConfig, Vec<String>) {
        let resolved = resolve(files).unwrap();
        (resolved.config, resolved.warnings)
    }

    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        resolve(files)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
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
    fn journal_backend_and_custom_formula() {
        let (config, warnings) = jail(&[
            FILTER,
            ACTION,
            (
                "jail.conf",
                "[j]\nenabled = true\nfilter = e2e\nbackend = systemd\n\
                 bantime.increment = true\nbantime.formula = ban.Time * (ban.Count + 1)\n\
                 action = note\n",
            ),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            config.backend,
            Backend::Journal {
                matches: vec!["_COMM=e2e".into()]
            }
        );
        let increment = config.policy.increment.as_ref().unwrap();
        assert!(matches!(increment.formula, IncrementFormula::Custom(_)));
        assert_eq!(increment.ban_time(100, 2, 0.0), 300);
    }

    #[test]
    fn every_broken_setting_is_an_error_at_its_line() {
        let found = errors(&[
            (
                "filter.d/bad.conf",
                "[Definition]\nfailregex = ^(unclosed <HOST>\n",
            ),
            ACTION,
            ("action.d/smtp.py", "# a Python action\n"),
            (
                "jail.conf",
                "[j]\nenabled = true\nfilter = bad\nbackend = inotfy\n\
                 bantime.increment = true\nbantime.formula = ban.Time * os.getpid()\n\
                 bantime.factor = two\naction = note\n         smtp.py[dest=root]\n\
                 maxlinelen = 12\n",
            ),
        ]);
        let expect = [
            "jail.conf:10: [j] maxlinelen \"12\" is not a size from 256 bytes to 16M",
            "bad.conf:2: [j] failregex \"^(unclosed <HOST>\" does not compile",
            "jail.conf:4: [j] unknown backend \"inotfy\"",
            "jail.conf:8: [j] action `smtp` is a Python action",
            "jail.conf:6: [j] bantime.formula",
            "jail.conf:7: [j] bantime.factor \"two\" is not a number",
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for wanted in expect {
            assert!(
                found.iter().any(|error| error.contains(wanted)),
                "{wanted:?} not in {found:#?}"
            );
        }
        assert!(
            found.iter().any(|e| e.contains("`sendmail` or `mail`")),
            "{found:#?}"
        );
    }

    #[test]
    fn maxlinelen_reads_bytes_and_binary_suffixes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size(" 64k "), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999M"), None);
    }

    #[test]
    fn a_file_jail_needs_a_logpath() {
        let found = errors(&[FILTER, ("jail.conf", "[j]\nenabled = true\nfilter = e2e\n")]);
        assert_eq!(
            found,
            ["[j] Have not found any log file for this jail (logpath is empty)"]
        );
    }

    #[test]
    fn unknown_usedns_is_read_as_no_with_a_warning() {
        let (config, warnings) = jail(&[
            FILTER,
            (
                "jail.conf",
                "[j]\nenabled = true\nfilter = e2e\nlogpath = /x\nusedns = maybe\n",
            ),
        ]);
        assert_eq!(config.usedns, UseDns::No);
        assert!(
            warnings[0].contains("jail.conf:5: Incorrect value \"maybe\""),
            "{warnings:?}"
        );
    }
}
