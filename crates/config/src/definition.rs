//! What filters and actions share: a file with `[Definition]` and `[Init]` sections whose
//! values the caller (a jail, a command line) may override. Mirrors fail2ban's
//! `DefinitionInitConfigReader`:
//!
//! 1. `[Definition]` options named by the caller are read with the caller's options as
//!    interpolation variables (`%(x)s` sees them first); options the caller gives are skipped.
//! 2. Each own `[Init]` option is added to the init options unless the caller gave it, and its
//!    value is also kept as `known/<name>`.
//! 3. "Combined" options are the definition values overridden by the init options, with
//!    `<tag>`s referring to other options (or other `[Definition]` options) substituted.

use std::collections::{HashMap, HashSet};

use ferroban_ini::{Ini, Options, Span, Spanned, Value};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::tags::{Tags, substitute_recursive_tags};

const DEFINITION: &str = "Definition";
const INIT: &str = "Init";

pub(crate) struct DefinitionReader {
    pub(crate) ini: Ini,
    /// Options from the caller, then `[Init]` values and `known/` copies.
    pub(crate) init_options: Options,
    /// The interpolation variables of the last `read_options`.
    variables: Options,
    /// Interpolated `[Definition]` values.
    definition: Tags,
}

impl DefinitionReader {
    pub(crate) fn new(ini: Ini, init_options: Options) -> Self {
        DefinitionReader {
            ini,
            init_options,
            variables: Options::new(),
            definition: Tags::new(),
        }
    }

    /// Whether `[Definition]` defines `option` itself (not through `[DEFAULT]`).
    pub(crate) fn defines(&self, option: &str) -> bool {
        self.ini
            .section(DEFINITION)
            .is_some_and(|s| s.contains_key(option))
    }

    /// fail2ban's `getOptions(pOpts, all)`: `wanted` are the `[Definition]` options to read
    /// (all of them too when `all`).
    pub(crate) fn read_options(
        &mut self,
        caller: Options,
        wanted: &[&str],
        all: bool,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut variables = caller;
        variables.extend(
            self.init_options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        self.definition.clear();
        for &option in wanted {
            if variables.contains_key(option) {
                continue;
            }
            if let Some(value) = take(self.ini.get(DEFINITION, option, &variables), errors) {
                self.definition.insert(option.to_string(), value);
            }
        }
        self.variables = variables;
        self.read_init(errors);
        if all && self.ini.has_section(DEFINITION) {
            let empty = Options::new();
            for option in self.ini.option_names(DEFINITION, true) {
                if option == "__name__" || self.definition.contains_key(&option) {
                    continue;
                }
                if let Some(value) = take(self.ini.get(DEFINITION, &option, &empty), errors) {
                    self.definition.insert(option, value);
                }
            }
        }
    }

    fn read_init(&mut self, errors: &mut Vec<ConfigError>) {
        if !self.ini.has_section(INIT) {
            return;
        }
        let empty = Options::new();
        for option in self.ini.option_names(INIT, false) {
            if option == "__name__" {
                continue;
            }
            let needs_known = !option.starts_with("known/");
            let needs_value = !self.init_options.contains_key(&option);
            if !needs_known && !needs_value {
                continue;
            }
            let Some(value) = take(self.ini.get(INIT, &option, &empty), errors) else {
                continue;
            };
            let value = Value::new(value.value, value.span);
            if needs_known {
                self.init_options
                    .insert(format!("known/{option}"), value.clone());
            }
            if needs_value {
                self.init_options.insert(option, value);
            }
        }
    }

    /// fail2ban's `getCombined`: definition values overridden by init options, `<tag>`s
    /// substituted (except those in `ignore` and conditional ones like `x?family=inet6`).
    pub(crate) fn combined(&self, ignore: &[&str], errors: &mut Vec<ConfigError>) -> Tags {
        let mut combined = self.definition.clone();
        for (name, value) in &self.init_options {
            combined.insert(
                name.clone(),
                Spanned::new(value.text.clone(), value.span.clone()),
            );
        }
        let mut ignored: HashSet<String> = ignore.iter().map(|s| s.to_string()).collect();
        ignored.extend(combined.keys().filter_map(|name| conditional_base(name)));
        let mut cache: HashMap<String, Option<String>> = HashMap::new();
        let mut fallback = |name: &str| -> Option<String> {
            if let Some(found) = cache.get(name) {
                return found.clone();
            }
            let found =
                take(self.ini.get_ex(DEFINITION, name, &self.variables), errors).map(|v| v.value);
            cache.insert(name.to_string(), found.clone());
            found
        };
        if let Err(tag) = substitute_recursive_tags(&mut combined, &ignored, &mut fallback) {
            let span = combined.get(&tag).map(|v| v.span.clone());
            let kind = ConfigErrorKind::TagRecursion(tag);
            errors.push(ConfigError { span, kind });
        }
        combined
    }

    /// The raw value behind a combined option, for per-line spans.
    pub(crate) fn raw_definition(&self, option: &str) -> Option<&Value> {
        self.ini.lookup(DEFINITION, option, &self.variables)
    }
}

/// `name?cond` → `name` (fail2ban's `CONDITIONAL_RE = ^(\w+)(\?.+)$`).
pub(crate) fn conditional_base(name: &str) -> Option<String> {
    let (base, condition) = name.split_once('?')?;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    (!base.is_empty() && !condition.is_empty() && base.chars().all(word)).then(|| base.to_string())
}

/// An interpolated value, the error (if any) moved to `errors`.
fn take(
    result: Option<Result<Spanned<String>, ferroban_ini::IniError>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Spanned<String>> {
    match result? {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error.into());
            None
        }
    }
}

/// Options given by a caller (`name[k=v]` in a jail or on a command line), all attributed to
/// `span`, names lower-cased as Python's option lookup does.
pub(crate) fn caller_options<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    span: &Span,
) -> Options {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), Value::new(v, span.clone())))
        .collect()
}
