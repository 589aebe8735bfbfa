//! Actions: `action.d/<name>` → [`ActionSpec`], as fail2ban's `ActionReader` does it.
//!
//! The commands come out as fail2ban's client sends them to its server: `%(x)s` interpolated
//! and `<tag>`s naming the action's own options (`<iptables>`, `<name>`, `<port>`)
//! substituted, while run-time tags (`<ip>`, `<matches>`, `<bantime>`, …) and tags with
//! conditional variants (`[Init?family=inet6]`) are left for the actions crate.

use std::path::{Path, PathBuf};

use ferroban_ini::{Ini, Options, Span, Spanned, Value};
use indexmap::IndexMap;

use crate::definition::{DefinitionReader, caller_options};
use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use crate::options::extract_options;

/// The `[Definition]` options fail2ban's action reader asks for.
const ACTION_OPTIONS: [&str; 13] = [
    "actionstart",
    "actionstart_on_demand",
    "actionstop",
    "actionflush",
    "actionreload",
    "actioncheck",
    "actionrepair",
    "actionrepair_on_unban",
    "actionban",
    "actionprolong",
    "actionreban",
    "actionunban",
    "norestored",
];

/// Tags the client never substitutes: they are filled per ban (fail2ban's
/// `CommandAction._escapedTags` plus `timeout` and `bantime`).
const RUN_TIME_TAGS: [&str; 5] = [
    "matches",
    "ipmatches",
    "ipjailmatches",
    "timeout",
    "bantime",
];

/// A command action with its values resolved for one jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// The action's unique name in its jail (fail2ban's `actname`): the file name, suffixed
    /// when the `name` option differs from the jail's name.
    pub name: String,
    /// The action file's name as written (`iptables-multiport`).
    pub file: String,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// `actionstart`, `actionban`, …, `norestored`: each one the action defines.
    pub commands: IndexMap<String, Spanned<String>>,
    /// The other options as fail2ban hands them to the action (uninterpolated by tags):
    /// `[Init]` values, the jail's `name[k=v]` options, `name`, `actname`, and conditional
    /// variants such as `blocktype?family=inet6`.
    pub init: IndexMap<String, Spanned<String>>,
    /// All combined options (commands, init values, `known/…` copies), tags substituted.
    pub options: IndexMap<String, Spanned<String>>,
}

impl ActionSpec {
    /// A command (`actionban`, …) if defined.
    pub fn command(&self, name: &str) -> Option<&str> {
        self.commands.get(name).map(|v| v.value.as_str())
    }

    /// A boolean command option (`actionstart_on_demand`, `actionrepair_on_unban`,
    /// `norestored`), read as fail2ban does (`1`, `on`, `true`, `yes`).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.commands.get(name).map(|v| as_bool(&v.value))
    }
}

/// fail2ban's `_as_bool`.
pub(crate) fn as_bool(value: &str) -> bool {
    matches!(value.to_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

/// Loads an action for a jail: `spec` is `name[k=v, …]` as written in a jail's `action`,
/// `jail_values` the jail's options (they fill `%(x)s` in the action, after its own `[Init]`
/// and the spec's options). The jail is named by `jail_values`' `__name__`, else `jail`.
pub fn load_action(
    conf_dir: &Path,
    spec: &str,
    jail_values: &[(String, String)],
) -> Result<ActionSpec, ConfigErrors> {
    let mut errors = Vec::new();
    let jail_name = jail_values
        .iter()
        .find(|(k, _)| k == "__name__")
        .map_or("jail", |(_, v)| v.as_str());
    let span = Span::new("<jail options>", 0);
    let pairs = jail_values.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let jail = caller_options(pairs, &span);
    let action = resolve_action(conf_dir, spec, jail_name, &jail, None, &mut errors);
    match action {
        Some(action) if errors.is_empty() => Ok(action),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Reads and resolves one action of a jail; `at` is where the spec was written.
pub(crate) fn resolve_action(
    conf_dir: &Path,
    spec: &str,
    jail_name: &str,
    jail: &Options,
    at: Option<&Span>,
    errors: &mut Vec<ConfigError>,
) -> Option<ActionSpec> {
    let located = |kind| ConfigError {
        span: at.cloned(),
        kind,
    };
    let definition = match extract_options(spec) {
        Ok(definition) => definition,
        Err(detail) => {
            let text = spec.to_string();
            errors.push(located(ConfigErrorKind::BadDefinition {
                what: "action",
                text,
                detail,
            }));
            return None;
        }
    };
    let file = definition.name.trim().to_string();
    let (ini, ini_errors) = Ini::read_config(conf_dir, &format!("action.d/{file}"));
    errors.extend(ini_errors.into_iter().map(ConfigError::from));
    if ini.files().is_empty() {
        let searched = conf_dir.join("action.d").join(format!("{file}.conf"));
        errors.push(located(ConfigErrorKind::UnknownAction {
            name: file,
            searched,
        }));
        return None;
    }
    let options_span = at.cloned().unwrap_or_else(|| Span::new("<action spec>", 0));
    let pairs = definition
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let mut init = caller_options(pairs, &options_span);
    let name = action_name(&file, jail_name, &mut init, &options_span);
    let mut reader = DefinitionReader::new(ini, init);
    reader.read_options(jail.clone(), &ACTION_OPTIONS, false, errors);
    let options = reader.combined(&RUN_TIME_TAGS, errors);
    let commands = ACTION_OPTIONS
        .iter()
        .filter_map(|&option| options.get(option).map(|v| (option.to_string(), v.clone())))
        .collect();
    let init = reader
        .init_options
        .iter()
        .filter(|(k, _)| !ACTION_OPTIONS.contains(&k.as_str()) && !k.starts_with("known/"))
        .map(|(k, v)| (k.clone(), Spanned::new(v.text.clone(), v.span.clone())))
        .collect();
    Some(ActionSpec {
        name,
        file,
        files: reader.ini.files().to_vec(),
        commands,
        init,
        options,
    })
}

/// Sets `name` (default: the jail's name) and `actname` in the action's options, as
/// fail2ban's `ActionReader.__init__` does, and returns `actname`.
fn action_name(file: &str, jail_name: &str, init: &mut Options, span: &Span) -> String {
    let name = match init.get("name") {
        Some(value) => value.text.clone(),
        None => {
            init.insert("name".to_string(), Value::new(jail_name, span.clone()));
            jail_name.to_string()
        }
    };
    if let Some(actname) = init.get("actname") {
        return actname.text.clone();
    }
    let mut actname = file.to_string();
    if name != jail_name {
        match name.strip_prefix(jail_name) {
            Some(rest) => actname.push_str(rest),
            None => {
                actname.push('-');
                actname.push_str(&name);
            }
        }
    }
    init.insert(
        "actname".to_string(),
        Value::new(actname.clone(), span.clone()),
    );
    actname
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testutil::{stock_config, write};

    const DEMO: &str = "\
[Definition]
actionstart = fw -N f2b-<name>
actionban = <fw> -I f2b-<name> -s <ip> -j <blocktype> # <matches>
actionunban = <fw> -D f2b-<name> -s <ip> -j <blocktype>
actionstart_on_demand = true

[Init]
fw = fw4
name = default
port = ssh
blocktype = REJECT

[Init?family=inet6]
fw = fw6
";

    fn jail(name: &str) -> Vec<(String, String)> {
        vec![("__name__".to_string(), name.to_string())]
    }

    #[test]
    fn commands_init_and_conditional_options() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "action.d/demo.conf", DEMO);
        let action = load_action(
            dir.path(),
            "demo[port=\"a,b\", blocktype=DROP]",
            &jail("sshd"),
        )
        .unwrap();
        assert_eq!(action.name, "demo");
        assert_eq!(action.command("actionstart"), Some("fw -N f2b-sshd"));
        // <fw> has an inet6 variant, so it is left for run time; <matches> always is.
        assert_eq!(
            action.command("actionban"),
            Some("<fw> -I f2b-sshd -s <ip> -j DROP # <matches>")
        );
        assert_eq!(action.flag("actionstart_on_demand"), Some(true));
        let init = |k: &str| action.init.get(k).map(|v| v.value.as_str());
        assert_eq!(init("port"), Some("a,b"));
        assert_eq!(init("fw"), Some("fw4"));
        assert_eq!(init("fw?family=inet6"), Some("fw6"));
        assert_eq!(init("name"), Some("sshd"));
        assert_eq!(
            action
                .command("actionban")
                .map(|_| action.commands["actionban"].span.line()),
            Some(3)
        );
    }

    #[test]
    fn actname_follows_the_name_option() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "action.d/demo.conf", DEMO);
        let same = load_action(dir.path(), "demo[name=sshd-ddos]", &jail("sshd")).unwrap();
        assert_eq!(same.name, "demo-ddos");
        let other = load_action(dir.path(), "demo[name=mail]", &jail("sshd")).unwrap();
        assert_eq!(other.name, "demo-mail");
    }

    #[test]
    fn unknown_action() {
        let dir = tempfile::tempdir().unwrap();
        let errors = load_action(dir.path(), "nope", &jail("j")).unwrap_err();
        assert!(matches!(
            errors.0[0].kind,
            ConfigErrorKind::UnknownAction { .. }
        ));
    }

    #[test]
    fn every_stock_action_loads() {
        let Some(stock) = stock_config() else { return };
        let mut names: Vec<String> = std::fs::read_dir(stock.join("action.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
            .collect();
        names.sort();
        assert!(names.len() > 40);
        for name in names {
            let action =
                load_action(&stock, &name, &jail("sshd")).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!action.files.is_empty(), "{name}");
        }
        let iptables = load_action(&stock, "iptables-multiport[port=ssh]", &jail("sshd")).unwrap();
        let ban = iptables.command("actionban").unwrap();
        assert!(ban.contains("f2b-sshd") && ban.contains("<ip>"), "{ban}");
    }
}
