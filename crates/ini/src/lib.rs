//! fail2ban's INI dialect, mirrored faithfully: this crate owns reading configuration files the
//! way fail2ban's `SafeConfigParserWithIncludes` (on top of Python's `ConfigParser`) reads them.
//!
//! It receives a configuration directory and a name (`jail`, `filter.d/sshd`, …) or explicit
//! file paths, and emits an [`Ini`]: sections of raw option values, each [`Value`] carrying its
//! [`Span`] (file path, line, and the `[INCLUDES]` chain that led to the file), plus every
//! [`IniError`] met on the way (syntax errors, duplicate sections/options in one file, missing
//! includes, include cycles). Errors never stop the read: good lines still take effect.
//!
//! Reading order for a name: `name.conf` → `name.d/*.conf` → `name.local` → `name.d/*.local`,
//! each file preceded by its `[INCLUDES] before` files and followed by its `after` files
//! (recursively, each with its `.local` sibling). Later files override earlier ones option by
//! option; the overridden value stays reachable as `%(known/option)s` (section `KNOWN/<name>`).
//! Sections such as `[Init?family=inet6]` merge into `Init` with their options renamed
//! `option?family=inet6`, as fail2ban does.
//!
//! [`Ini::get`] interpolates `%(x)s`, `%(section/x)s`, `%(default/x)s`, `%(known/x)s`,
//! `%(__name__)s` and `%%` like Python's `BasicInterpolation` with fail2ban's extensions,
//! with a depth limit that yields an error instead of a stack overflow.
//!
//! It knows nothing about filters, actions or jails: that is `ferroban-config`'s job.

mod error;
mod interpolate;
mod parse;
mod read;
mod span;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

pub use error::{IniError, IniErrorKind};
pub use interpolate::MAX_INTERPOLATION_DEPTH;
pub use span::{Span, Spanned, Value};

/// The name of the section whose options every other section inherits.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// Prefix of the sections holding values from before an override (`%(known/x)s`).
pub const KNOWN_PREFIX: &str = "KNOWN/";

/// Options of one section, in the order they were first defined (names lower-cased).
pub type Options = IndexMap<String, Value>;

/// A configuration as read: `[DEFAULT]` options, named sections, the files read.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    defaults: Options,
    sections: IndexMap<String, Options>,
    files: Vec<PathBuf>,
}

impl Ini {
    /// Parses one file's text, ignoring `[INCLUDES]` (for tests and tools).
    pub fn parse_str(path: impl Into<PathBuf>, text: &str) -> (Ini, Vec<IniError>) {
        let path = path.into();
        let (mut ini, errors) = parse::parse(text, &Span::new(path.clone(), 0));
        ini.files.push(path);
        (ini, errors)
    }

    /// The files that were read, in reading order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Whether a named section exists (`DEFAULT` does not count, as in Python).
    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    /// Section names in order of first appearance, without the internal `KNOWN/` ones.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections
            .keys()
            .map(String::as_str)
            .filter(|name| !name.starts_with(KNOWN_PREFIX))
    }

    /// The `[DEFAULT]` options.
    pub fn defaults(&self) -> &Options {
        &self.defaults
    }

    /// A section's own options (without `[DEFAULT]`).
    pub fn section(&self, section: &str) -> Option<&Options> {
        self.sections.get(section)
    }

    /// Option names of a section, optionally with those inherited from `[DEFAULT]`.
    pub fn option_names(&self, section: &str, with_defaults: bool) -> Vec<String> {
        let own = self
            .sections
            .get(section)
            .into_iter()
            .flat_map(|s| s.keys());
        let mut names: Vec<String> = own.cloned().collect();
        if with_defaults {
            for name in self.defaults.keys() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The raw value of an option: the section's own, else `[DEFAULT]`'s.
    pub fn raw(&self, section: &str, option: &str) -> Option<&Value> {
        let own = if section == DEFAULT_SECTION {
            None
        } else {
            self.sections.get(section).and_then(|s| s.get(option))
        };
        own.or_else(|| self.defaults.get(option))
    }

    /// Sets options in a section (created if absent); with a `prefix`, each name not already
    /// starting with it is stored as `prefix + name` (fail2ban's `merge_section`).
    pub fn merge_section(
        &mut self,
        section: &str,
        options: impl IntoIterator<Item = (String, Value)>,
        prefix: &str,
    ) {
        let target = self.sections.entry(section.to_string()).or_default();
        for (name, value) in options {
            if prefix.is_empty() {
                target.insert(name, value);
            } else if !name.starts_with(prefix) && name != "__name__" {
                target.insert(format!("{prefix}{name}"), value);
            }
        }
    }

    /// Adds or replaces `[DEFAULT]` options.
    pub fn merge_defaults(&mut self, options: impl IntoIterator<Item = (String, Value)>) {
        self.defaults.extend(options);
    }

    /// Reads `dir/name` the way fail2ban's `ConfigReader.read` does; see the crate docs.
    /// Returns an empty [`Ini`] (no [`files`](Ini::files)) when none of the files exists.
    pub fn read_config(dir: &Path, name: &str) -> (Ini, Vec<IniError>) {
        read::read_config(dir, name)
    }

    /// Reads the given files in order, each with its includes and `.local` sibling.
    pub fn read_files(files: &[PathBuf]) -> (Ini, Vec<IniError>) {
        read::read_files(files)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text parses without panicking, and interpolating every option of the result
        /// terminates (errors allowed) without panicking or overflowing the stack.
        #[test]
        fn any_text_parses_and_interpolates(text in "([\\[\\]=:;#% ()sa-c\n\t]|%\\(|\\)s|DEFAULT|known/|default/){0,200}") {
            let (ini, _errors) = Ini::parse_str("fuzz.conf", &text);
            let vars = Options::new();
            let sections: Vec<String> = ini.section_names().map(str::to_string).collect();
            for section in sections.iter().map(String::as_str).chain([DEFAULT_SECTION]) {
                for option in ini.option_names(section, true) {
                    let _ = ini.get(section, &option, &vars);
                    let _ = ini.get_ex(section, &format!("known/{option}"), &vars);
                }
            }
        }
    }
}
