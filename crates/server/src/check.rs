//! The one check of a configuration directory: `ferroban config-test`,
//! `fail2ban-client -t`, the server's start-up and every reload call [`check`], so what one
//! of them accepts the others run, and what one refuses the others refuse.
//!
//! Problems come in three weights, as fail2ban weighs them:
//! - a file that cannot be read as a whole (a broken section header, an include cycle, no
//!   `jail.conf`): the server does not start, a reload applies nothing;
//! - a jail whose own settings are broken (a filter that does not exist or does not
//!   compile, an unknown backend, a Python action): that jail is skipped ("Errors in jail
//!   ... Skipping"), the others run; a running jail keeps its old settings on reload;
//! - anything else (a missing included file, which fail2ban's reader skips; a bad server
//!   value that has a default): reported, nothing skipped.
//!
//! `config-test` and `-t` fail on any of them.

use std::fmt;
use std::path::Path;

use ferroban_config::{ConfigError, ServerSpec, load_jails, load_server};

use crate::setup::{JailConfig, JailError, keep_matches_where_read, resolve_jail};

/// One problem of a configuration.
#[derive(Debug)]
pub enum Problem {
    /// Read by the config crate: INI syntax, includes, interpolation, values.
    Config(ConfigError),
    /// Found while resolving a jail: regexes, backend, actions, `bantime.*`.
    Jail(JailError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Config(error) => error.fmt(f),
            Problem::Jail(error) => error.fmt(f),
        }
    }
}

/// A jail left out, with why.
#[derive(Debug)]
pub struct SkippedJail {
    pub name: String,
    pub problems: Vec<Problem>,
}

/// A configuration directory, checked.
#[derive(Debug)]
pub struct CheckedConfig {
    /// The daemon's settings (defaults where the files are broken).
    pub server: ServerSpec,
    /// Every jail that can run, fully resolved.
    pub jails: Vec<JailConfig>,
    /// Errors that are no jail's own, in `fail2ban.*` and `jail.*`.
    pub errors: Vec<ConfigError>,
    /// Jails left out because of their own errors.
    pub skipped: Vec<SkippedJail>,
    /// `(jail, text)`: odd settings that stop nothing.
    pub warnings: Vec<(String, String)>,
}

impl CheckedConfig {
    /// The errors that keep the server from starting and a reload from applying anything.
    pub fn fatal(&self) -> impl Iterator<Item = &ConfigError> {
        self.errors.iter().filter(|error| error.prevents_start())
    }

    /// Which backend each action of each jail gets, and why, one line each.
    pub fn backend_lines(&self) -> Vec<String> {
        let jails = self.jails.iter();
        jails.flat_map(crate::actions::describe_backends).collect()
    }

    /// Every problem, file errors first, in the order found.
    pub fn problems(&self) -> impl Iterator<Item = String> + '_ {
        let files = self.errors.iter().map(ToString::to_string);
        let jails = self
            .skipped
            .iter()
            .flat_map(|jail| jail.problems.iter().map(ToString::to_string));
        files.chain(jails)
    }

    /// No problem of any weight.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.skipped.is_empty()
    }
}

/// Reads `fail2ban.*` and `jail.*` under `conf_dir` and resolves every enabled jail.
pub fn check(conf_dir: &Path) -> CheckedConfig {
    let (server, server_errors) = load_server(conf_dir);
    let loaded = load_jails(conf_dir);
    let mut checked = CheckedConfig {
        server,
        jails: Vec::new(),
        errors: server_errors.0.into_iter().chain(loaded.errors.0).collect(),
        skipped: Vec::new(),
        warnings: Vec::new(),
    };
    for jail in loaded.skipped {
        checked.skipped.push(SkippedJail {
            name: jail.name,
            problems: jail.errors.0.into_iter().map(Problem::Config).collect(),
        });
    }
    for spec in &loaded.jails {
        match resolve_jail(spec) {
            Ok(resolved) => {
                let name = &resolved.config.name;
                checked.warnings.extend(
                    resolved
                        .warnings
                        .into_iter()
                        .map(|warning| (name.clone(), warning)),
                );
                checked.jails.push(resolved.config);
            }
            Err(errors) => checked.skipped.push(SkippedJail {
                name: spec.name.clone(),
                problems: errors.into_iter().map(Problem::Jail).collect(),
            }),
        }
    }
    keep_matches_where_read(&mut checked.jails);
    checked
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn base(dir: &Path) {
        write(
            dir,
            "filter.d/f.conf",
            "[Definition]\nfailregex = ^<HOST>$\n",
        );
        write(
            dir,
            "jail.conf",
            "[good]\nenabled = true\nfilter = f\nlogpath = /x\n\
             [bad]\nenabled = true\nfilter = f\nlogpath = /x\nbackend = polling2\n\
             [missing]\nenabled = true\nfilter = nowhere\nlogpath = /x\n",
        );
    }

    #[test]
    fn broken_jails_are_skipped_and_the_others_run() {
        let dir = tempfile::tempdir().unwrap();
        base(dir.path());
        let checked = check(dir.path());
        let running: Vec<&str> = checked.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(running, ["good"]);
        let skipped: Vec<&str> = checked.skipped.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(skipped, ["missing", "bad"]);
        assert_eq!(checked.fatal().count(), 0);
        assert!(!checked.is_clean());
        let problems: Vec<String> = checked.problems().collect();
        assert!(
            problems[0].contains("unknown filter `nowhere`"),
            "{problems:#?}"
        );
        assert!(
            problems[1].contains("jail.conf:9: [bad] unknown backend"),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        base(dir.path());
        write(dir.path(), "jail.local", "[good\nenabled = false\n");
        let checked = check(dir.path());
        let fatal: Vec<String> = checked.fatal().map(ToString::to_string).collect();
        assert_eq!(fatal.len(), 2, "{fatal:#?}");
        assert!(fatal[0].contains("jail.local:1:"), "{fatal:#?}");
    }

    #[test]
    fn a_missing_include_is_reported_but_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        base(dir.path());
        write(
            dir.path(),
            "jail.local",
            "[INCLUDES]\nbefore = nothere.conf\n",
        );
        let checked = check(dir.path());
        assert_eq!(checked.fatal().count(), 0);
        assert!(checked.problems().any(|p| p.contains("nothere.conf")));
        assert_eq!(checked.jails.len(), 1);
    }
}
