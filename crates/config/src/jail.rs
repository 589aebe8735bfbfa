//! Jails: `jail.conf`, `jail.d/*.conf`, `jail.local`, `jail.d/*.local` → [`JailSpec`]s, as
//! fail2ban's `JailsReader`/`JailReader` do it:
//!
//! 1. For each section (a jail), read `enabled`, `backend`, `filter`; skip disabled jails.
//! 2. Read the filter with the jail's first options, and store all its combined options in the
//!    jail's section as `known/<name>` (so `%(known/failregex)s` works in the jail).
//! 3. Read all jail options; the filter's options are re-read with them (a jail's own
//!    `failregex`, `maxlines`, … replace the filter's).
//! 4. Split `action` into `name[options]` items and read each action with the jail options.
//!
//! A jail whose filter or actions cannot be read is reported and left out, as fail2ban skips it.

use std::path::{Path, PathBuf};

use ferroban_ini::{Ini, Options, Span, Spanned, Value};
use indexmap::IndexMap;

use crate::action::{ActionSpec, as_bool, resolve_action};
use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use crate::filter::{FILTER_OPTIONS, FilterReader, FilterSpec, parse_u32};
use crate::options::{extract_options, split_with_options};
use crate::tags::Tags;
use crate::time::str_to_seconds;

/// The fail2ban version whose behaviour we follow, offered as `%(fail2ban_version)s`.
const FAIL2BAN_VERSION: &str = "1.0.2";

/// The options fail2ban reads first, to decide whether and how to read the filter.
const FIRST_OPTIONS: [&str; 3] = ["enabled", "backend", "filter"];

/// The jail options fail2ban reads (its `JailReader._configOpts`, filter options included).
const JAIL_OPTIONS: [&str; 29] = [
    "enabled",
    "backend",
    "maxretry",
    "maxmatches",
    "findtime",
    "bantime",
    "bantime.increment",
    "bantime.factor",
    "bantime.formula",
    "bantime.multipliers",
    "bantime.maxtime",
    "bantime.rndtime",
    "bantime.overalljails",
    "ignorecommand",
    "ignoreself",
    "ignoreip",
    "ignorecache",
    "filter",
    "logtimezone",
    "logencoding",
    "logpath",
    "action",
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// A duration as written and in seconds (negative: permanent, for `bantime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSpec {
    pub raw: String,
    pub seconds: i64,
}

/// One entry of a jail's `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailAction {
    /// An `action.d/<name>.conf` command action.
    Command(ActionSpec),
    /// An `action.d/<name>.py` Python action (ferroban cannot run these; kept so the caller
    /// can say so): its name, file path and options.
    Python {
        name: String,
        path: PathBuf,
        options: IndexMap<String, String>,
        span: Span,
    },
}

/// An enabled jail, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailSpec {
    pub name: String,
    /// The `filter` value as interpolated (`sshd[mode=normal]`), if not empty.
    pub filter_definition: Option<Spanned<String>>,
    /// The filter with the jail's own filter options (`failregex`, `maxlines`, …) applied.
    pub filter: Option<FilterSpec>,
    pub actions: Vec<JailAction>,
    /// `auto` unless set.
    pub backend: Spanned<String>,
    /// One entry per non-empty line (globs and a trailing ` head`/` tail` kept as written).
    pub logpath: Vec<Spanned<String>>,
    pub logencoding: Option<Spanned<String>>,
    pub logtimezone: Option<Spanned<String>>,
    pub maxretry: Option<Spanned<u32>>,
    pub maxmatches: Option<Spanned<u32>>,
    pub findtime: Option<Spanned<TimeSpec>>,
    pub bantime: Option<Spanned<TimeSpec>>,
    pub bantime_increment: Option<Spanned<bool>>,
    pub bantime_factor: Option<Spanned<String>>,
    pub bantime_formula: Option<Spanned<String>>,
    pub bantime_multipliers: Option<Spanned<String>>,
    pub bantime_maxtime: Option<Spanned<TimeSpec>>,
    pub bantime_rndtime: Option<Spanned<TimeSpec>>,
    pub bantime_overalljails: Option<Spanned<bool>>,
    pub ignorecommand: Option<Spanned<String>>,
    pub ignoreself: Option<Spanned<bool>>,
    /// Addresses, networks or host names, split on spaces, commas and new lines.
    pub ignoreip: Vec<Spanned<String>>,
    pub ignorecache: Option<Spanned<String>>,
    /// Every option of the jail's section (with `[DEFAULT]`) that interpolates, e.g. `port`,
    /// `protocol`, `usedns`, `journalmatch`, `mode`.
    pub options: IndexMap<String, Spanned<String>>,
}

impl JailSpec {
    /// A jail option's interpolated value.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(|v| v.value.as_str())
    }
}

/// A jail left out because its own settings are broken (fail2ban's "Errors in jail ...
/// Skipping"): the other jails still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedJail {
    pub name: String,
    pub errors: ConfigErrors,
}

/// What [`load_jails`] found: the jails that resolved, the errors of the files themselves
/// (not tied to one jail), and the jails left out with their own errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedJails {
    pub jails: Vec<JailSpec>,
    pub errors: ConfigErrors,
    pub skipped: Vec<SkippedJail>,
}

impl LoadedJails {
    /// Every error, the files' first, then each skipped jail's.
    pub fn all_errors(&self) -> ConfigErrors {
        let skipped = self.skipped.iter().flat_map(|jail| jail.errors.0.iter());
        ConfigErrors(self.errors.0.iter().chain(skipped).cloned().collect())
    }

    /// The jails and every error, for callers that need no distinction.
    pub fn into_parts(self) -> (Vec<JailSpec>, ConfigErrors) {
        let errors = self.all_errors();
        (self.jails, errors)
    }
}

/// Reads the jail configuration of `conf_dir` and resolves every enabled jail.
pub fn load_jails(conf_dir: &Path) -> LoadedJails {
    let mut loaded = LoadedJails::default();
    let (mut ini, ini_errors) = Ini::read_config(conf_dir, "jail");
    loaded
        .errors
        .0
        .extend(ini_errors.into_iter().map(ConfigError::from));
    if ini.files().is_empty() {
        let missing = conf_dir.join("jail.conf");
        let error = ConfigError::nowhere(ConfigErrorKind::NoJailConfig(missing));
        loaded.errors.0.push(error);
        return loaded;
    }
    let builtin = Span::new("<built-in>", 0);
    let confpath = conf_dir.display().to_string();
    ini.merge_defaults([
        (
            "fail2ban_version".to_string(),
            Value::new(FAIL2BAN_VERSION, builtin.clone()),
        ),
        (
            "fail2ban_confpath".to_string(),
            Value::new(confpath, builtin),
        ),
    ]);
    let names: Vec<String> = ini
        .section_names()
        .filter(|name| *name != "INCLUDES")
        .map(str::to_string)
        .collect();
    for name in names {
        let mut jail_errors = Vec::new();
        let jail = resolve_jail(&mut ini, conf_dir, &name, &mut jail_errors);
        if jail_errors.is_empty() {
            loaded.jails.extend(jail);
        } else {
            loaded.skipped.push(SkippedJail {
                name,
                errors: ConfigErrors(jail_errors),
            });
        }
    }
    loaded
}

/// Resolves one jail; `None` when disabled or when its filter or an action is unusable.
fn resolve_jail(
    ini: &mut Ini,
    conf_dir: &Path,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<JailSpec> {
    let first = read_jail_options(ini, name, &FIRST_OPTIONS, errors);
    if !first.get("enabled").is_some_and(|v| as_bool(&v.value)) {
        return None;
    }
    let backend = first
        .get("backend")
        .map_or("auto", |v| v.value.as_str())
        .to_string();
    let filter_definition = first.get("filter").filter(|v| !v.value.is_empty()).cloned();
    let mut filter = match &filter_definition {
        Some(definition) => Some(open_filter(
            ini, conf_dir, name, definition, &backend, &first, errors,
        )?),
        None => None,
    };
    let second = read_jail_options(ini, name, &JAIL_OPTIONS, errors);
    let filter_spec = filter.as_mut().map(|reader| {
        reader.read_options(to_options(&second), false, errors);
        let mut spec = reader.spec(errors);
        apply_jail_filter_options(&mut spec, &second, errors);
        spec
    });
    let actions = read_actions(conf_dir, name, &second, errors)?;
    Some(build_jail(
        ini,
        name,
        filter_definition,
        filter_spec,
        actions,
        second,
        errors,
    ))
}

/// Reads the jail's filter and stores its combined options as `known/…` in the jail section.
fn open_filter(
    ini: &mut Ini,
    conf_dir: &Path,
    jail: &str,
    definition: &Spanned<String>,
    backend: &str,
    first: &Tags,
    errors: &mut Vec<ConfigError>,
) -> Option<FilterReader> {
    let mut reader =
        FilterReader::open(conf_dir, &definition.value, Some(&definition.span), errors)?;
    reader.apply_auto_options(backend);
    reader.read_options(to_options(first), true, errors);
    let combined = reader.combined(errors);
    let known = combined
        .into_iter()
        .map(|(k, v)| (k, Value::new(v.value, v.span)));
    ini.merge_section(jail, known, "known/");
    Some(reader)
}

/// The given jail options that exist, interpolated.
fn read_jail_options(
    ini: &Ini,
    jail: &str,
    wanted: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Tags {
    let empty = Options::new();
    let mut found = Tags::new();
    for &option in wanted {
        match ini.get(jail, option, &empty) {
            Some(Ok(value)) => {
                found.insert(option.to_string(), value);
            }
            Some(Err(error)) => errors.push(error.into()),
            None => {}
        }
    }
    found
}

fn to_options(tags: &Tags) -> Options {
    tags.iter()
        .map(|(k, v)| (k.clone(), Value::new(v.value.clone(), v.span.clone())))
        .collect()
}

/// A jail's own `failregex`, `maxlines`, … replace the filter's (fail2ban sends them after).
fn apply_jail_filter_options(spec: &mut FilterSpec, jail: &Tags, errors: &mut Vec<ConfigError>) {
    for option in FILTER_OPTIONS {
        let Some(value) = jail.get(option) else {
            continue;
        };
        spec.options.insert(option.to_string(), value.clone());
        match option {
            "failregex" => spec.failregex = lines(value),
            "ignoreregex" => spec.ignoreregex = lines(value),
            "journalmatch" => spec.journalmatch = lines(value),
            "prefregex" => spec.prefregex = Some(value.clone()),
            "datepattern" => spec.datepattern = Some(value.clone()),
            "usedns" => spec.usedns = Some(value.clone()),
            "maxlines" => spec.maxlines = parse_u32(option, value, errors),
            _ => {}
        }
    }
}

fn lines(value: &Spanned<String>) -> Vec<Spanned<String>> {
    value
        .value
        .split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| Spanned::new(line.to_string(), value.span.clone()))
        .collect()
}

/// The jail's actions; `None` when one cannot be read (the jail is then left out).
fn read_actions(
    conf_dir: &Path,
    jail: &str,
    options: &Tags,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<JailAction>> {
    let Some(value) = options.get("action") else {
        return Some(Vec::new());
    };
    let jail_options = to_options(options);
    let mut actions = Vec::new();
    let mut failed = false;
    for item in split_with_options(&value.value) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let action = if item
            .split('[')
            .next()
            .is_some_and(|n| n.trim().ends_with(".py"))
        {
            python_action(conf_dir, item, &value.span, errors)
        } else {
            resolve_action(
                conf_dir,
                item,
                jail,
                &jail_options,
                Some(&value.span),
                errors,
            )
            .map(JailAction::Command)
        };
        match action {
            Some(action) => actions.push(action),
            None => failed = true,
        }
    }
    (!failed).then_some(actions)
}

fn python_action(
    conf_dir: &Path,
    item: &str,
    span: &Span,
    errors: &mut Vec<ConfigError>,
) -> Option<JailAction> {
    let mut definition = match extract_options(item) {
        Ok(definition) => definition,
        Err(detail) => {
            let kind = ConfigErrorKind::BadDefinition {
                what: "action",
                text: item.to_string(),
                detail,
            };
            errors.push(ConfigError::at(span, kind));
            return None;
        }
    };
    let file = definition.name.trim().to_string();
    let stem = file.strip_suffix(".py").unwrap_or(&file).to_string();
    let name = definition.options.shift_remove("actname").unwrap_or(stem);
    Some(JailAction::Python {
        name,
        path: conf_dir.join("action.d").join(&file),
        options: definition.options,
        span: span.clone(),
    })
}

fn build_jail(
    ini: &Ini,
    name: &str,
    filter_definition: Option<Spanned<String>>,
    filter: Option<FilterSpec>,
    actions: Vec<JailAction>,
    options: Tags,
    errors: &mut Vec<ConfigError>,
) -> JailSpec {
    let text = |option: &str| options.get(option).cloned();
    let time = |option: &str, errors: &mut Vec<ConfigError>| {
        options
            .get(option)
            .and_then(|v| parse_time(option, v, errors))
    };
    let number = |option: &str, errors: &mut Vec<ConfigError>| {
        options
            .get(option)
            .and_then(|v| parse_u32(option, v, errors))
    };
    let flag = |option: &str| {
        options
            .get(option)
            .map(|v| Spanned::new(as_bool(&v.value), v.span.clone()))
    };
    let default_backend = Spanned::new("auto".to_string(), Span::new("<built-in>", 0));
    JailSpec {
        name: name.to_string(),
        filter_definition,
        filter,
        actions,
        backend: text("backend").unwrap_or(default_backend),
        logpath: options.get("logpath").map(lines).unwrap_or_default(),
        logencoding: text("logencoding"),
        logtimezone: text("logtimezone"),
        maxretry: number("maxretry", errors),
        maxmatches: number("maxmatches", errors),
        findtime: time("findtime", errors),
        bantime: time("bantime", errors),
        bantime_increment: flag("bantime.increment"),
        bantime_factor: text("bantime.factor"),
        bantime_formula: text("bantime.formula"),
        bantime_multipliers: text("bantime.multipliers"),
        bantime_maxtime: time("bantime.maxtime", errors),
        bantime_rndtime: time("bantime.rndtime", errors),
        bantime_overalljails: flag("bantime.overalljails"),
        ignorecommand: text("ignorecommand"),
        ignoreself: flag("ignoreself"),
        ignoreip: options.get("ignoreip").map(split_words).unwrap_or_default(),
        ignorecache: text("ignorecache"),
        options: all_options(ini, name, options),
    }
}

/// fail2ban's `splitwords`: split on spaces, commas and new lines, drop empty words.
fn split_words(value: &Spanned<String>) -> Vec<Spanned<String>> {
    value
        .value
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(|word| Spanned::new(word.to_string(), value.span.clone()))
        .collect()
}

pub(crate) fn parse_time(
    option: &str,
    value: &Spanned<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Spanned<TimeSpec>> {
    match str_to_seconds(&value.value) {
        Ok(seconds) => {
            let time = TimeSpec {
                raw: value.value.clone(),
                seconds,
            };
            Some(Spanned::new(time, value.span.clone()))
        }
        Err(detail) => {
            let kind = ConfigErrorKind::BadValue {
                option: option.to_string(),
                value: value.value.clone(),
                detail,
            };
            errors.push(ConfigError::at(&value.span, kind));
            None
        }
    }
}

/// The options read, plus every other option of the section that interpolates (fail2ban
/// does not read those itself, so a failure there is not an error).
fn all_options(ini: &Ini, jail: &str, read: Tags) -> IndexMap<String, Spanned<String>> {
    let mut all = read;
    let empty = Options::new();
    for option in ini.option_names(jail, true) {
        if all.contains_key(&option) || option.starts_with("known/") {
            continue;
        }
        if let Some(Ok(value)) = ini.get(jail, &option, &empty) {
            all.insert(option, value);
        }
    }
    all
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testutil::{overlay, stock_config, write};

    const FILTER: &str =
        "[Definition]\nfailregex = ^fail <HOST>$\n             ^again <HOST>$\nmaxlines = 1\n";
    const ACTION: &str = "[Definition]\nactionban = ban <ip> on <port>/<protocol> for <name>\n[Init]\nport = any\nprotocol = tcp\n";

    fn base() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "filter.d/demo.conf", FILTER);
        write(dir.path(), "action.d/block.conf", ACTION);
        write(
            dir.path(),
            "action.d/notify.conf",
            "[Definition]\nactionban = notify <dest>\n",
        );
        dir
    }

    fn jail<'a>(jails: &'a [JailSpec], name: &str) -> &'a JailSpec {
        jails
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no jail {name}"))
    }

    fn commands(jail: &JailSpec) -> Vec<&ActionSpec> {
        jail.actions
            .iter()
            .filter_map(|a| match a {
                JailAction::Command(action) => Some(action),
                JailAction::Python { .. } => None,
            })
            .collect()
    }

    #[test]
    fn layering_defaults_times_and_actions() {
        let dir = base();
        let jail_conf = "\
[DEFAULT]
bantime = 10m
findtime = 1d12h
maxretry = 5
port = 0:65535
action_ = block[port=\"%(port)s\", protocol=tcp]
action = %(action_)s
ignoreip = 127.0.0.1/8 ::1,10.0.0.1

[demo]
enabled = true
filter = demo
port = ssh,2222
logpath = /var/log/a.log
          /var/log/b*.log tail

[off]
filter = missing
";
        write(dir.path(), "jail.conf", jail_conf);
        write(
            dir.path(),
            "jail.d/extra.local",
            "[demo]\nbantime = -1\naction = %(action_)s\n  notify[dest=root]\n",
        );
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        assert_eq!(jails.len(), 1);
        let demo = jail(&jails, "demo");
        assert_eq!(demo.bantime.as_ref().map(|t| t.value.seconds), Some(-1));
        assert_eq!(
            demo.findtime
                .as_ref()
                .map(|t| (t.value.raw.as_str(), t.value.seconds)),
            Some(("1d12h", 129_600))
        );
        assert_eq!(demo.maxretry.as_ref().map(|m| m.value), Some(5));
        assert_eq!(demo.backend.value, "auto");
        let logpath: Vec<&str> = demo.logpath.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(logpath, ["/var/log/a.log", "/var/log/b*.log tail"]);
        let ignoreip: Vec<&str> = demo.ignoreip.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(ignoreip, ["127.0.0.1/8", "::1", "10.0.0.1"]);
        let actions = commands(demo);
        assert_eq!(actions.len(), 2);
        assert_eq!(
            actions[0].command("actionban"),
            Some("ban <ip> on ssh,2222/tcp for demo")
        );
        assert_eq!(actions[1].command("actionban"), Some("notify root"));
        let filter = demo.filter.as_ref().unwrap();
        assert_eq!(filter.failregex.len(), 2);
        assert_eq!(demo.option("port"), Some("ssh,2222"));
        assert!(
            demo.bantime
                .as_ref()
                .unwrap()
                .span
                .path()
                .ends_with("jail.d/extra.local")
        );
    }

    #[test]
    fn jail_filter_options_override_and_known_values() {
        let dir = base();
        let jail_conf = "[demo]\nenabled = yes\nfilter = demo\nfailregex = %(known/failregex)s\n            ^third <HOST>$\nmaxlines = 3\n";
        write(dir.path(), "jail.conf", jail_conf);
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        let filter = jail(&jails, "demo").filter.as_ref().unwrap();
        let regexes: Vec<&str> = filter.failregex.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(
            regexes,
            ["^fail <HOST>$", "^again <HOST>$", "^third <HOST>$"]
        );
        assert_eq!(filter.maxlines.as_ref().map(|m| m.value), Some(3));
    }

    #[test]
    fn every_kind_of_error_in_one_pass() {
        let dir = base();
        write(
            dir.path(),
            "action.d/lost.conf",
            "[Definition]\nfailregex = x\n",
        );
        let jail_conf = "\
[INCLUDES]
before = gone.conf

[a]
enabled = true
filter = nope

[b]
enabled = true
filter = demo
action = nothing

[c]
enabled = true
filter = lost

[d]
enabled = true
filter = demo
bantime = %(undefined)s
junk line

[ok]
enabled = true
filter = demo
";
        write(dir.path(), "jail.conf", jail_conf);
        let (jails, errors) = load_jails(dir.path()).into_parts();
        let names: Vec<&str> = jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        let expect = [
            "jail.conf:21: cannot parse line",
            "jail.conf:2: included file",
            "jail.conf:6: unknown filter `nope`",
            "jail.conf:11: unknown action `nothing`",
            "jail.conf:15: unknown filter `lost`: it exists as",
            "jail.conf:20: [d] bantime: `%(undefined)s` refers to an undefined option",
        ];
        assert_eq!(messages.len(), expect.len(), "{messages:#?}");
        for (message, expected) in messages.iter().zip(expect) {
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn python_actions_are_kept_by_name() {
        let dir = base();
        write(
            dir.path(),
            "jail.conf",
            "[demo]\nenabled = 1\nfilter = demo\naction = smtp.py[host=mail, actname=mailer]\n",
        );
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        match &jail(&jails, "demo").actions[..] {
            [JailAction::Python { name, options, .. }] => {
                assert_eq!(name, "mailer");
                assert_eq!(options.get("host").map(String::as_str), Some("mail"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stock_jails_with_sshd_enabled() {
        let Some(stock) = stock_config() else { return };
        let dir = overlay(&stock, &stock);
        write(
            dir.path(),
            "jail.d/test.local",
            "[sshd]\nenabled = true\naction = %(action_mwl)s\n",
        );
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        let sshd = jail(&jails, "sshd");
        assert_eq!(
            sshd.filter_definition.as_ref().map(|f| f.value.as_str()),
            Some("sshd[mode=normal]")
        );
        assert_eq!(sshd.bantime.as_ref().map(|t| t.value.seconds), Some(600));
        assert_eq!(sshd.maxretry.as_ref().map(|m| m.value), Some(5));
        assert_eq!(sshd.logpath.len(), 1, "{:?}", sshd.logpath);
        let actions = commands(sshd);
        let names: Vec<&str> = actions.iter().map(|a| a.file.as_str()).collect();
        assert_eq!(names, ["iptables-multiport", "sendmail-whois-lines"]);
        let port = actions[0].init.get("port").map(|p| p.value.as_str());
        assert_eq!(port, Some("ssh"));
    }

    #[test]
    fn every_stock_jail_resolves_when_enabled() {
        let Some(stock) = stock_config() else { return };
        let dir = overlay(&stock, &stock);
        write(
            dir.path(),
            "jail.d/all.local",
            "[DEFAULT]\nenabled = true\n",
        );
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert!(errors.0.is_empty(), "{errors}");
        assert!(jails.len() > 80, "{}", jails.len());
        for jail in &jails {
            assert!(jail.filter.is_some(), "{}", jail.name);
        }
    }

    #[test]
    fn seed_example_overlay() {
        let Some(stock) = stock_config() else { return };
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed-example");
        if !seed.join("jail.conf").is_file() {
            println!("skipped: no seed example at {}", seed.display());
            return;
        }
        let dir = overlay(&stock, &seed);
        let (jails, errors) = load_jails(dir.path()).into_parts();
        assert_eq!(errors.0.len(), 1, "{errors}");
        let message = errors.0[0].to_string();
        assert!(
            message.contains("jail.conf:13: unknown filter `postfix-sasl`"),
            "{message}"
        );
        assert!(message.contains("action.d/postfix-sasl.conf"), "{message}");
        assert!(
            message.contains("a filter belongs in filter.d/"),
            "{message}"
        );
        // Debian's jail.d/defaults-debian.conf still enables an (empty) [sshd].
        let names: Vec<&str> = jails.iter().map(|j| j.name.as_str()).collect();
        assert!(
            names.contains(&"dovecot") && !names.contains(&"postfix-sasl"),
            "{names:?}"
        );
        let dovecot = jail(&jails, "dovecot");
        assert_eq!(dovecot.maxretry.as_ref().map(|m| m.value), Some(3));
        assert_eq!(
            dovecot.findtime.as_ref().map(|t| t.value.seconds),
            Some(300)
        );
        assert_eq!(
            dovecot.bantime.as_ref().map(|t| t.value.seconds),
            Some(1800)
        );
        let logpath: Vec<&str> = dovecot.logpath.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(logpath, ["/var/log/maillog"]);
        let filter = dovecot.filter.as_ref().unwrap();
        assert_eq!(filter.failregex.len(), 1);
        assert!(filter.failregex[0].value.contains("rip=(?P<host>\\S*)"));
        assert_eq!(filter.failregex[0].span.line(), 2);
        let actions = commands(dovecot);
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].file, "iptables-multiport-tcp");
        let init = |a: &ActionSpec, k: &str| a.init.get(k).map(|v| v.value.clone());
        assert_eq!(
            init(actions[0], "port").as_deref(),
            Some("pop3,pop3s,imap,imaps")
        );
        assert_eq!(init(actions[0], "protocol").as_deref(), Some("tcp"));
        assert_eq!(init(actions[0], "name").as_deref(), Some("dovecot"));
        assert_eq!(
            actions[0].command("actionban"),
            Some("/sbin/iptables -I fail2ban-dovecot 1 -s <ip> -j DROP")
        );
        assert_eq!(actions[1].file, "mail");
        assert_eq!(init(actions[1], "dest").as_deref(), Some("root"));
        let (_, server_errors) = crate::load_server(dir.path());
        assert_eq!(
            server_errors.0,
            Vec::new(),
            "the seed sets no server option"
        );
    }
}
