//! Filters: `filter.d/<name>` (or an explicit file) → [`FilterSpec`], as fail2ban's
//! `FilterReader` (and `fail2ban-regex`'s way of finding a filter) does it.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use ferroban_ini::{Ini, Options, Span, Spanned, Value};
use indexmap::IndexMap;

use crate::definition::{DefinitionReader, caller_options};
use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use crate::options::extract_options;
use crate::origin::LineOrigins;
use crate::tags::Tags;

/// The `[Definition]` options fail2ban's filter reader asks for.
pub(crate) const FILTER_OPTIONS: [&str; 7] = [
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// A filter with every value interpolated and its `<tag>`s among its own options substituted
/// (`<HOST>`, `<F-USER>` and the like are left for the filter crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The filter's name as given (`sshd`), or the file path for an explicit file.
    pub name: String,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    pub prefregex: Option<Spanned<String>>,
    /// One regex per non-empty line of `failregex`, each with the line it was written on when
    /// that can be told (else the line of `failregex =`).
    pub failregex: Vec<Spanned<String>>,
    pub ignoreregex: Vec<Spanned<String>>,
    pub datepattern: Option<Spanned<String>>,
    pub maxlines: Option<Spanned<u32>>,
    /// One match expression per non-empty line.
    pub journalmatch: Vec<Spanned<String>>,
    pub usedns: Option<Spanned<String>>,
    /// All combined options: the ones above (whole text), other `[Definition]` values when
    /// read for a jail, `[Init]` values, `known/…` copies and the caller's options.
    pub options: IndexMap<String, Spanned<String>>,
}

impl FilterSpec {
    /// A combined option's value.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(|v| v.value.as_str())
    }

    /// What the filter crate compiles: the values without their places. `logtimezone` is a
    /// jail option, so the caller sets it.
    pub fn definition(&self) -> ferroban_filter::FilterDefinition {
        let text = |value: &Spanned<String>| value.value.clone();
        ferroban_filter::FilterDefinition {
            prefregex: self.prefregex.as_ref().map(text),
            failregex: self.failregex.iter().map(text).collect(),
            ignoreregex: self.ignoreregex.iter().map(text).collect(),
            datepattern: self.datepattern.as_ref().map(text),
            maxlines: self.maxlines.as_ref().map_or(1, |m| m.value as usize),
            logtimezone: None,
            usedns: self.usedns.as_ref().map(text),
        }
    }
}

/// Loads a filter the way `fail2ban-regex -c conf_dir LOG spec` does: `spec` is a filter name
/// with optional options (`sshd[mode=aggressive]`, `postfix[mode=auth]`) or a path to a filter
/// file. `extra_init` are further options (e.g. from a log's `# filterOptions:`), overriding the
/// spec's. Backend `auto` is assumed (`logtype = file` unless the filter sets it).
pub fn load_filter(
    conf_dir: &Path,
    spec: &str,
    extra_init: &[(String, String)],
) -> Result<FilterSpec, ConfigErrors> {
    let mut errors = Vec::new();
    let span = Span::new("<filter options>", 0);
    let found = FilterReader::open(conf_dir, spec, None, &mut errors).map(|mut reader| {
        let extra = extra_init.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        reader
            .definition
            .init_options
            .extend(caller_options(extra, &span));
        reader.apply_auto_options("auto");
        reader.read_options(Options::new(), false, &mut errors);
        reader.spec(&mut errors)
    });
    match found {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(ConfigErrors(errors)),
    }
}

pub(crate) struct FilterReader {
    name: String,
    pub(crate) definition: DefinitionReader,
}

impl FilterReader {
    /// Finds and reads the filter named by `spec` (options included). `at` is where the spec
    /// was written (a jail's `filter =` line), for errors.
    pub(crate) fn open(
        conf_dir: &Path,
        spec: &str,
        at: Option<&Span>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Self> {
        let located = |kind| ConfigError {
            span: at.cloned(),
            kind,
        };
        let definition = match extract_options(spec) {
            Ok(definition) => definition,
            Err(detail) => {
                let kind = ConfigErrorKind::BadDefinition {
                    what: "filter",
                    text: spec.to_string(),
                    detail,
                };
                errors.push(located(kind));
                return None;
            }
        };
        let name = definition.name.trim().to_string();
        let (ini, ini_errors) = read_filter_files(conf_dir, &name);
        errors.extend(ini_errors.into_iter().map(ConfigError::from));
        if ini.files().is_empty() {
            errors.push(located(missing_filter(conf_dir, &name)));
            return None;
        }
        let options_span = at.cloned().unwrap_or_else(|| Span::new("<filter spec>", 0));
        let pairs = definition
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let init = caller_options(pairs, &options_span);
        Some(FilterReader {
            name,
            definition: DefinitionReader::new(ini, init),
        })
    }

    /// `logtype` follows the backend (`file`, or `journal` for systemd) unless set by the
    /// caller or by the filter's own `[Definition]`.
    pub(crate) fn apply_auto_options(&mut self, backend: &str) {
        let init = &self.definition.init_options;
        let given = init.get("logtype").is_some_and(|v| !v.text.is_empty());
        if given || self.definition.defines("logtype") {
            return;
        }
        let logtype = if backend.starts_with("systemd") {
            "journal"
        } else {
            "file"
        };
        let value = Value::new(logtype, Span::new("<backend>", 0));
        self.definition
            .init_options
            .insert("logtype".to_string(), value);
    }

    pub(crate) fn read_options(
        &mut self,
        caller: Options,
        all: bool,
        errors: &mut Vec<ConfigError>,
    ) {
        self.definition
            .read_options(caller, &FILTER_OPTIONS, all, errors);
    }

    pub(crate) fn combined(&self, errors: &mut Vec<ConfigError>) -> Tags {
        self.definition.combined(&[], errors)
    }

    pub(crate) fn files(&self) -> &[PathBuf] {
        self.definition.ini.files()
    }

    pub(crate) fn spec(&self, errors: &mut Vec<ConfigError>) -> FilterSpec {
        let options = self.combined(errors);
        let origins = OnceCell::new();
        let single = |name: &str| options.get(name).cloned();
        FilterSpec {
            name: self.name.clone(),
            files: self.files().to_vec(),
            prefregex: single("prefregex"),
            failregex: self.lines(&options, "failregex", &origins),
            ignoreregex: self.lines(&options, "ignoreregex", &origins),
            datepattern: single("datepattern"),
            maxlines: options
                .get("maxlines")
                .and_then(|v| parse_u32("maxlines", v, errors)),
            journalmatch: self.lines(&options, "journalmatch", &origins),
            usedns: single("usedns"),
            options,
        }
    }

    /// A multi-line option split into its non-empty lines. Each line keeps its own file line
    /// when the value was written with as many lines as it has now (no multi-line
    /// interpolation in between); otherwise the line is looked up among all raw lines
    /// ([`LineOrigins`]), falling back to the line of the option name.
    fn lines(
        &self,
        options: &Tags,
        name: &str,
        origins: &OnceCell<LineOrigins>,
    ) -> Vec<Spanned<String>> {
        let Some(value) = options.get(name) else {
            return Vec::new();
        };
        let raw = self
            .definition
            .raw_definition(name)
            .filter(|raw| raw.span == value.span);
        let count = value.value.split('\n').count();
        let same_shape = raw.is_some_and(|raw| raw.text.split('\n').count() == count);
        value
            .value
            .split('\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(index, line)| {
                let span = match raw {
                    Some(raw) if same_shape => raw.line_span(index),
                    _ => origins
                        .get_or_init(|| LineOrigins::new(&self.definition.ini))
                        .find(line)
                        .unwrap_or_else(|| value.span.clone()),
                };
                Spanned::new(line.to_string(), span)
            })
            .collect()
    }
}

pub(crate) fn parse_u32(
    option: &str,
    value: &Spanned<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Spanned<u32>> {
    match value.value.trim().parse::<u32>() {
        Ok(number) => Some(Spanned::new(number, value.span.clone())),
        Err(error) => {
            let kind = ConfigErrorKind::BadValue {
                option: option.to_string(),
                value: value.value.clone(),
                detail: error.to_string(),
            };
            errors.push(ConfigError::at(&value.span, kind));
            None
        }
    }
}

/// Reads a filter by name (`filter.d/<name>.conf` etc.) or by path. A path inside a
/// `filter.d` directory is read by name from that directory's parent, as `fail2ban-regex`
/// does; another path is read as that one file (with its includes).
fn read_filter_files(conf_dir: &Path, name: &str) -> (Ini, Vec<ferroban_ini::IniError>) {
    let is_path = name.contains('/');
    let stem = name
        .strip_suffix(".conf")
        .or_else(|| name.strip_suffix(".local"))
        .unwrap_or(name);
    if !is_path {
        return Ini::read_config(conf_dir, &format!("filter.d/{stem}"));
    }
    let path = Path::new(name);
    let parent = path.parent();
    if parent
        .and_then(Path::file_name)
        .is_some_and(|dir| dir == "filter.d")
        && let (Some(base), Some(file_stem)) =
            (parent.and_then(Path::parent), Path::new(stem).file_name())
    {
        return Ini::read_config(base, &format!("filter.d/{}", file_stem.to_string_lossy()));
    }
    if !path.exists() {
        return (Ini::default(), Vec::new());
    }
    Ini::read_files(&[path.to_path_buf()])
}

/// The error for a filter that does not exist: pointing at `action.d/` when the file is
/// there, since that is a common mistake.
fn missing_filter(conf_dir: &Path, name: &str) -> ConfigErrorKind {
    if !name.contains('/') {
        for extension in ["conf", "local"] {
            let misplaced = conf_dir
                .join("action.d")
                .join(format!("{name}.{extension}"));
            if misplaced.is_file() {
                let expected = conf_dir
                    .join("filter.d")
                    .join(format!("{name}.{extension}"));
                return ConfigErrorKind::MisplacedFilter {
                    name: name.to_string(),
                    found: misplaced,
                    expected,
                };
            }
        }
    }
    let searched = if name.contains('/') {
        PathBuf::from(name)
    } else {
        conf_dir.join("filter.d").join(format!("{name}.conf"))
    };
    ConfigErrorKind::UnknownFilter {
        name: name.to_string(),
        searched,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testutil::{stock_config, write};

    const COMMON: &str =
        "[DEFAULT]\n_daemon = \\S*\n__prefix_line = <_daemon>:\\s+\nlogtype = file\n";

    const DEMO: &str = "\
[INCLUDES]
before = common.conf

[DEFAULT]
_daemon = demo

[Init]
mode = normal

[Definition]
normal = ^%(__prefix_line)sbad login from <HOST>$
extra = ^%(__prefix_line)sbad key from <HOST>$
failregex = ^one <HOST>$
            ^two <HOST> %(__prefix_line)s

ignoreregex =
maxlines = 2
pick = <<mode>>
";

    fn demo_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "filter.d/common.conf", COMMON);
        write(dir.path(), "filter.d/demo.conf", DEMO);
        dir
    }

    fn values(spec: &[Spanned<String>]) -> Vec<&str> {
        spec.iter().map(|s| s.value.as_str()).collect()
    }

    #[test]
    fn failregex_lines_keep_their_own_lines() {
        let dir = demo_dir();
        let spec = load_filter(dir.path(), "demo", &[]).unwrap();
        assert_eq!(
            values(&spec.failregex),
            ["^one <HOST>$", "^two <HOST> demo:\\s+"]
        );
        let lines: Vec<u32> = spec.failregex.iter().map(|s| s.span.line()).collect();
        assert_eq!(lines, [13, 14]);
        assert!(
            spec.failregex[0]
                .span
                .path()
                .ends_with("filter.d/demo.conf")
        );
        assert!(spec.ignoreregex.is_empty());
        assert_eq!(spec.maxlines.map(|m| m.value), Some(2));
        assert_eq!(spec.files.len(), 2);
    }

    #[test]
    fn init_and_spec_options_layer_like_fail2ban() {
        let dir = demo_dir();
        // Not asked for by a filter reader without `all`, but reachable through tags.
        let spec = load_filter(dir.path(), "demo", &[]).unwrap();
        assert_eq!(spec.option("mode"), Some("normal"));
        assert_eq!(spec.option("known/mode"), Some("normal"));
        assert_eq!(spec.option("logtype"), Some("file"));
        let spec = load_filter(dir.path(), "demo[mode=extra]", &[]).unwrap();
        assert_eq!(spec.option("mode"), Some("extra"));
        assert_eq!(spec.option("known/mode"), Some("normal"));
        let extra = [("mode".to_string(), "normal".to_string())];
        let spec = load_filter(dir.path(), "demo[mode=extra]", &extra).unwrap();
        assert_eq!(spec.option("mode"), Some("normal"));
    }

    #[test]
    fn spec_option_overrides_a_definition_option() {
        let dir = demo_dir();
        let spec = load_filter(dir.path(), r#"demo[failregex="^x <HOST>$"]"#, &[]).unwrap();
        assert_eq!(values(&spec.failregex), ["^x <HOST>$"]);
        assert_eq!(spec.failregex[0].span.path(), Path::new("<filter spec>"));
    }

    #[test]
    fn filter_given_as_a_file_path() {
        let dir = demo_dir();
        let path = dir.path().join("filter.d/demo.conf");
        let spec = load_filter(dir.path(), &path.display().to_string(), &[]).unwrap();
        assert_eq!(spec.failregex.len(), 2);
        write(
            dir.path(),
            "elsewhere/own.conf",
            "[Definition]\nfailregex = ^own <HOST>$\n",
        );
        let path = dir.path().join("elsewhere/own.conf");
        let spec = load_filter(dir.path(), &path.display().to_string(), &[]).unwrap();
        assert_eq!(values(&spec.failregex), ["^own <HOST>$"]);
    }

    #[test]
    fn unknown_and_misplaced_filters() {
        let dir = demo_dir();
        let errors = load_filter(dir.path(), "nope", &[]).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert!(matches!(
            errors.0[0].kind,
            ConfigErrorKind::UnknownFilter { .. }
        ));
        write(
            dir.path(),
            "action.d/lost.conf",
            "[Definition]\nfailregex = x\n",
        );
        let errors = load_filter(dir.path(), "lost", &[]).unwrap_err();
        let message = errors.to_string();
        assert!(message.contains("action.d/lost.conf"), "{message}");
        assert!(
            message.contains("a filter belongs in filter.d/"),
            "{message}"
        );
    }

    #[test]
    fn undefined_reference_and_bad_maxlines_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "filter.d/bad.conf",
            "[Definition]\nfailregex = %(nope)s\nmaxlines = many\n",
        );
        let errors = load_filter(dir.path(), "bad", &[]).unwrap_err();
        let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].ends_with(
            "bad.conf:2: [Definition] failregex: `%(nope)s` refers to an undefined option `nope`"
        ));
        assert!(
            messages[1].contains("bad.conf:3: maxlines = \"many\""),
            "{messages:?}"
        );
    }

    #[test]
    fn bad_spec_syntax() {
        let dir = demo_dir();
        let errors = load_filter(dir.path(), "demo[mode=\"x\" y]", &[]).unwrap_err();
        assert!(matches!(
            errors.0[0].kind,
            ConfigErrorKind::BadDefinition { .. }
        ));
    }

    #[test]
    fn every_stock_filter_loads() {
        let Some(stock) = stock_config() else { return };
        let mut names: Vec<String> = std::fs::read_dir(stock.join("filter.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
            .collect();
        names.sort();
        assert!(names.len() > 50);
        for name in names {
            // Only included by selinux-ssh.conf; fail2ban cannot load it on its own either.
            if name == "selinux-common" {
                continue;
            }
            let spec = load_filter(&stock, &name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Files meant to be included define no failregex of their own.
            assert!(
                !spec.failregex.is_empty() || name.ends_with("common"),
                "{name}"
            );
        }
    }

    #[test]
    fn stock_sshd_modes_and_common_prefix() {
        let Some(stock) = stock_config() else { return };
        let normal = load_filter(&stock, "sshd", &[]).unwrap();
        let aggressive = load_filter(&stock, "sshd[mode=aggressive]", &[]).unwrap();
        assert!(aggressive.failregex.len() > normal.failregex.len());
        assert_eq!(
            normal.datepattern.as_ref().map(|d| d.value.as_str()),
            Some("{^LN-BEG}")
        );
        let prefregex = normal
            .prefregex
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        assert!(
            prefregex.starts_with("^<F-MLFID>") && !prefregex.contains("%("),
            "{prefregex}"
        );
        assert!(!prefregex.contains("<__"), "{prefregex}");
        let journal = [("logtype".to_string(), "journal".to_string())];
        let sshd = load_filter(&stock, "sshd", &journal).unwrap();
        assert_eq!(sshd.journalmatch.len(), 1);
        assert_ne!(sshd.prefregex, normal.prefregex);
    }

    #[test]
    fn stock_postfix_auth_mode() {
        let Some(stock) = stock_config() else { return };
        let auth = load_filter(&stock, "postfix[mode=auth]", &[]).unwrap();
        assert!(
            auth.failregex
                .iter()
                .all(|r| r.value.contains("SASL") || r.value.contains("auth")),
            "{:?}",
            auth.failregex
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod span_tests {
    use super::*;
    use crate::testutil::stock_config;

    /// Regression: sshd's failregex is `%(cmnfailre)s` + `<mdre-<mode>>`, so its lines come
    /// from other options; each must still point at the line it was written on.
    #[test]
    fn stock_sshd_regex_lines_point_at_their_source_lines() {
        let Some(stock) = stock_config() else { return };
        let spec = load_filter(&stock, "sshd[mode=aggressive]", &[]).unwrap();
        let text = std::fs::read_to_string(stock.join("filter.d/sshd.conf")).unwrap();
        let file_lines: Vec<&str> = text.lines().collect();
        let mut distinct = std::collections::HashSet::new();
        for regex in &spec.failregex {
            assert!(
                regex.span.path().ends_with("filter.d/sshd.conf"),
                "{}",
                regex.span
            );
            let source = file_lines[regex.span.line() as usize - 1];
            let literal = source
                .trim()
                .trim_start_matches(|c: char| c.is_alphanumeric() || "-_= ".contains(c));
            let head: String = literal
                .chars()
                .take_while(|&c| c != '%' && c != '<')
                .collect();
            assert!(
                regex.value.contains(head.as_str()),
                "{} <- {source:?}",
                regex.value
            );
            distinct.insert(regex.span.line());
        }
        assert!(distinct.len() > spec.failregex.len() / 2, "{distinct:?}");
    }
}
