//! A jail setting changed at run time (`set JAIL KEY VALUE...`): the jail's configuration
//! with that one value changed, checked as fail2ban checks it, for the registry to apply.
//! The change lasts until the next reload, which reads the files again.
//!
//! fail2ban's transmitter takes only the first word after the key (`command[2]`), so a
//! regex or a command with spaces must be sent as one argument; the same here.

use ferroban_actions::IgnoreCommand;
use ferroban_filter::{Filter, FilterDefinition, FilterError};
use ferroban_protocol::SetKey;
use ferroban_source::{Encoding, LogPathSpec};
use ferroban_tracker::BanTime;

use super::{IgnoreCacheError, IgnoreCacheSpec};
use crate::setup::{JailConfig, UseDns};

/// Why a value was refused; each says it as fail2ban's server does where it can.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingError {
    /// Python's `int()` refusing a word.
    #[error("invalid literal for int() with base 10: '{0}'")]
    NotAnInteger(String),
    /// Python's `NameError`, for a time that is a word without a unit.
    #[error("name '{0}' is not defined")]
    UnknownName(String),
    #[error("invalid time {0:?}: {1}")]
    Time(String, String),
    #[error("unknown encoding: {0}")]
    Encoding(String),
    #[error("{0}")]
    DatePattern(String),
    #[error("Unable to compile regular expression '{regex}':\n{error}")]
    Regex { regex: String, error: String },
    #[error("No failure-id group in '{0}'")]
    NoFailureId(String),
    #[error("Cannot add empty regex")]
    EmptyRegex,
    #[error("File option must be 'head' or 'tail'")]
    LogPathOption,
    #[error("Only one file can be added at a time")]
    OneLogPath,
    #[error("[Errno 2] No such file or directory: '{0}'")]
    NoSuchFile(String),
    #[error(transparent)]
    IgnoreCache(#[from] IgnoreCacheError),
}

/// `config` with `key` set from `args` (at least one word, the parser saw to it).
pub(crate) fn apply(
    config: &JailConfig,
    key: SetKey,
    args: &[String],
) -> Result<JailConfig, SettingError> {
    let mut new = config.clone();
    let value = args.first().map_or("", String::as_str);
    match key {
        SetKey::Bantime => new.policy.ban_time = BanTime::from_seconds(seconds(value)?),
        SetKey::Findtime => new.policy.find_time = seconds(value)?,
        SetKey::Maxretry => new.policy.max_retry = integer(value)?,
        SetKey::Maxmatches => new.policy.max_matches = integer(value)?,
        SetKey::Maxlines => filter_of(&mut new).maxlines = integer(value)?,
        SetKey::Usedns => set_usedns(&mut new, value),
        SetKey::Datepattern => set_datepattern(&mut new, value)?,
        SetKey::Logencoding => {
            Encoding::from_label(value).map_err(|_| SettingError::Encoding(value.into()))?;
            new.logencoding = Some(value.to_string());
        }
        SetKey::Ignoreself => new.ignore_self = python_bool(value),
        SetKey::Ignorecommand => {
            new.ignore_command = Some(value.trim())
                .filter(|v| !v.is_empty())
                .map(IgnoreCommand::new);
        }
        SetKey::Ignorecache => new.ignore_cache = IgnoreCacheSpec::parse(value)?,
        SetKey::Addfailregex => {
            add_regex(&mut new, &as_added(config, value), |f| &mut f.failregex)?
        }
        SetKey::Addignoreregex => {
            add_regex(&mut new, &as_added(config, value), |f| &mut f.ignoreregex)?
        }
        SetKey::Delfailregex => del_regex(&mut new, value, |f| &mut f.failregex)?,
        SetKey::Delignoreregex => del_regex(&mut new, value, |f| &mut f.ignoreregex)?,
        SetKey::Addlogpath => add_logpath(&mut new, args)?,
        SetKey::Dellogpath => new.logpaths.retain(|line| logpath_of(line) != value),
    }
    Ok(new)
}

/// Whether `new` needs the log source restarted: what it reads or how it reads it changed.
pub(crate) fn changes_source(old: &JailConfig, new: &JailConfig) -> bool {
    old.filter != new.filter
        || old.logpaths != new.logpaths
        || old.logencoding != new.logencoding
        || old.usedns != new.usedns
        || old.policy.find_time != new.policy.find_time
}

/// fail2ban's `str2seconds`: `600`, `10m`, `1h 30m`.
fn seconds(value: &str) -> Result<i64, SettingError> {
    ferroban_config::str_to_seconds(value).map_err(|error| {
        // fail2ban evaluates what is left after reading the units: a lone word is a name
        // Python does not know, and that is what it says.
        let word = value.trim();
        let is_name = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match is_name {
            true => SettingError::UnknownName(word.into()),
            false => SettingError::Time(value.into(), error),
        }
    })
}

fn integer<T: std::str::FromStr>(value: &str) -> Result<T, SettingError> {
    value
        .trim()
        .parse()
        .map_err(|_| SettingError::NotAnInteger(value.into()))
}

/// fail2ban's `_as_bool`.
fn python_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "on" | "1"
    )
}

/// The jail's filter definition, made if the jail had none.
fn filter_of(config: &mut JailConfig) -> &mut FilterDefinition {
    config.filter.get_or_insert_with(FilterDefinition::default)
}

/// fail2ban's `setUseDns`: an unknown word is read as `no` (it logs an error). What a host
/// name counts for changes; the regexes stay as they were expanded when the jail started,
/// as in fail2ban.
fn set_usedns(config: &mut JailConfig, value: &str) {
    config.usedns = UseDns::parse(value).unwrap_or(UseDns::No);
}

fn set_datepattern(config: &mut JailConfig, value: &str) -> Result<(), SettingError> {
    let pattern = Some(value.to_string()).filter(|v| !v.trim().is_empty());
    if let Some(pattern) = &pattern {
        ferroban_date::DateDetector::from_pattern(pattern)
            .map_err(|e| SettingError::DatePattern(e.to_string()))?;
    }
    filter_of(config).datepattern = pattern;
    Ok(())
}

/// A regex as fail2ban adds it: its tags are expanded with the jail's `usedns` of the
/// moment, so under `usedns = no` its `<HOST>` takes addresses only (`<ADDR>`), and it
/// stays so if `usedns` changes later.
fn as_added(config: &JailConfig, regex: &str) -> String {
    match config.usedns {
        UseDns::No => regex.replace("<HOST>", "<ADDR>"),
        _ => regex.to_string(),
    }
}

/// Adds a regex, kept only when the filter still builds with it.
fn add_regex(
    config: &mut JailConfig,
    regex: &str,
    list: fn(&mut FilterDefinition) -> &mut Vec<String>,
) -> Result<(), SettingError> {
    let filter = filter_of(config);
    list(filter).push(regex.to_string());
    Filter::new(filter).map_err(|error| regex_error(regex, error))?;
    Ok(())
}

/// fail2ban's `RegexException` texts for a regex its filter refuses.
fn regex_error(regex: &str, error: FilterError) -> SettingError {
    match error {
        FilterError::NoFailureId { .. } => SettingError::NoFailureId(regex.into()),
        FilterError::Empty { .. } => SettingError::EmptyRegex,
        FilterError::Regex { message, .. } => SettingError::Regex {
            regex: regex.into(),
            error: message,
        },
        other => SettingError::Regex {
            regex: regex.into(),
            error: other.to_string(),
        },
    }
}

/// Removes the regex at `index`; an index out of range changes nothing (fail2ban logs it).
fn del_regex(
    config: &mut JailConfig,
    index: &str,
    list: fn(&mut FilterDefinition) -> &mut Vec<String>,
) -> Result<(), SettingError> {
    let index: i64 = integer(index)?;
    let regexes = list(filter_of(config));
    if let Ok(index) = usize::try_from(index)
        && index < regexes.len()
    {
        regexes.remove(index);
    }
    Ok(())
}

/// `addlogpath PATH [head|tail]`: one existing file; a file followed already stays as is.
fn add_logpath(config: &mut JailConfig, args: &[String]) -> Result<(), SettingError> {
    let (path, option) = match args {
        [path] => (path, None),
        [path, option] => (path, Some(option.to_ascii_lowercase())),
        _ => return Err(SettingError::OneLogPath),
    };
    let line = match option.as_deref() {
        None | Some("head") => path.clone(),
        Some("tail") => format!("{path} tail"),
        Some(_) => return Err(SettingError::LogPathOption),
    };
    if !std::path::Path::new(path).exists() {
        return Err(SettingError::NoSuchFile(path.clone()));
    }
    if !config.logpaths.iter().any(|l| logpath_of(l) == *path) {
        config.logpaths.push(line);
    }
    Ok(())
}

/// The path of a `logpath` line, without its ` head`/` tail`.
fn logpath_of(line: &str) -> String {
    LogPathSpec::parse(line).map_or_else(|_| line.trim().to_string(), |spec| spec.pattern)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jail() -> JailConfig {
        crate::jail::tests::config(std::path::Path::new("/dev/null"))
    }

    fn set(config: &JailConfig, key: SetKey, args: &[&str]) -> Result<JailConfig, SettingError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        apply(config, key, &args)
    }

    #[test]
    fn numbers_and_times_as_fail2ban_reads_them() {
        let config = set(&jail(), SetKey::Bantime, &["1h"]).unwrap();
        assert_eq!(config.policy.ban_time, BanTime::Seconds(3600));
        let config = set(&config, SetKey::Bantime, &["-1"]).unwrap();
        assert_eq!(config.policy.ban_time, BanTime::Permanent);
        assert_eq!(
            set(&config, SetKey::Maxretry, &["3"])
                .unwrap()
                .policy
                .max_retry,
            3
        );
        assert_eq!(
            set(&config, SetKey::Maxretry, &["x"])
                .unwrap_err()
                .to_string(),
            "invalid literal for int() with base 10: 'x'"
        );
        assert!(!changes_source(
            &jail(),
            &set(&jail(), SetKey::Maxretry, &["9"]).unwrap()
        ));
    }

    #[test]
    fn regexes_are_added_checked_and_removed_by_index() {
        let config = set(&jail(), SetKey::Addfailregex, &["^a <HOST>$"]).unwrap();
        let config = set(&config, SetKey::Addfailregex, &["^b <HOST>$"]).unwrap();
        assert!(changes_source(&jail(), &config));
        let config = set(&config, SetKey::Delfailregex, &["0"]).unwrap();
        let config = set(&config, SetKey::Delfailregex, &["7"]).unwrap();
        // The test jail has `usedns = no`: `<HOST>` is added as the addresses only.
        assert_eq!(config.filter.as_ref().unwrap().failregex, ["^b <ADDR>$"]);
        assert!(set(&config, SetKey::Addfailregex, &["["]).is_err());
        assert!(set(&config, SetKey::Delignoreregex, &["x"]).is_err());
    }

    #[test]
    fn log_paths_must_exist_and_take_head_or_tail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.log");
        std::fs::write(&file, "").unwrap();
        let file = file.display().to_string();
        let config = set(&jail(), SetKey::Addlogpath, &[&file, "tail"]).unwrap();
        let again = set(&config, SetKey::Addlogpath, &[&file]).unwrap();
        assert_eq!(again.logpaths, [format!("{file} tail")]);
        assert!(matches!(
            set(&config, SetKey::Addlogpath, &[&file, "middle"]),
            Err(SettingError::LogPathOption)
        ));
        assert!(matches!(
            set(&config, SetKey::Addlogpath, &["/nonexistent/x.log"]),
            Err(SettingError::NoSuchFile(_))
        ));
        assert!(
            set(&again, SetKey::Dellogpath, &[&file])
                .unwrap()
                .logpaths
                .is_empty()
        );
    }

    #[test]
    fn words_fail2ban_accepts() {
        let config = set(&jail(), SetKey::Usedns, &["bogus"]).unwrap();
        assert_eq!(config.usedns, UseDns::No);
        assert!(
            set(&jail(), SetKey::Ignoreself, &["yes"])
                .unwrap()
                .ignore_self
        );
        assert!(set(&jail(), SetKey::Logencoding, &["bogus"]).is_err());
        let config = set(&jail(), SetKey::Ignorecommand, &["/bin/true"]).unwrap();
        assert_eq!(config.ignore_command.unwrap().command(), "/bin/true");
    }
}
