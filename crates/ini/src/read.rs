//! Layered reading: which files, in which order, with `[INCLUDES]`, and how they merge
//! (fail2ban's `ConfigReaderUnshared.read` and `SafeConfigParserWithIncludes.read`).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IniError, IniErrorKind};
use crate::span::Span;
use crate::{Ini, KNOWN_PREFIX, Options, parse};

const INCLUDES_SECTION: &str = "INCLUDES";

/// `dir/name.conf`, `dir/name.d/*.conf`, `dir/name.local`, `dir/name.d/*.local`, existing ones.
pub(crate) fn read_config(dir: &Path, name: &str) -> (Ini, Vec<IniError>) {
    let base = dir.join(name);
    let mut files = vec![with_suffix(&base, ".conf")];
    let drop_in = with_suffix(&base, ".d");
    files.extend(sorted_with_extension(&drop_in, "conf"));
    files.push(with_suffix(&base, ".local"));
    files.extend(sorted_with_extension(&drop_in, "local"));
    files.retain(|file| file.exists());
    read_files(&files)
}

pub(crate) fn read_files(files: &[PathBuf]) -> (Ini, Vec<IniError>) {
    let mut reader = Reader { errors: Vec::new() };
    let parsed = reader.includes(files.to_vec(), &[], &[]);
    let mut ini = Ini::default();
    for (path, file) in parsed {
        ini.files.push(path);
        merge_file(&mut ini, file);
    }
    (ini, dedup(reader.errors))
}

/// A file read twice (e.g. `common.local` as the `.local` sibling of `common.conf` and as its
/// `after` include) would report its errors twice; keep the first of each.
fn dedup(errors: Vec<IniError>) -> Vec<IniError> {
    let mut unique: Vec<IniError> = Vec::with_capacity(errors.len());
    for error in errors {
        let seen = unique.iter().any(|e| {
            e.kind == error.kind
                && e.span.path() == error.span.path()
                && e.span.line() == error.span.line()
        });
        if !seen {
            unique.push(error);
        }
    }
    unique
}

/// Appends to the file name (`sshd` + `.conf`), unlike `with_extension` which would replace
/// a dotted name's tail.
fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(base.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// `dir/*.ext` sorted by name, skipping hidden files as Python's `glob` does.
fn sorted_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let suffix = format!(".{extension}");
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| !n.starts_with('.') && n.ends_with(&suffix))
        })
        .collect();
    files.sort();
    files
}

/// Each file followed by its `.local` sibling when that exists and is not listed already.
fn expand_with_local(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut expanded = Vec::with_capacity(files.len());
    for file in &files {
        expanded.push(file.clone());
        let local = file.with_extension("local");
        if !files.contains(&local) && local.is_file() {
            expanded.push(local);
        }
    }
    expanded
}

struct Reader {
    errors: Vec<IniError>,
}

impl Reader {
    /// The files to merge, in order, with their parsed contents. `seen` is the chain of files
    /// including these; `from` the include lines that led here.
    fn includes(
        &mut self,
        files: Vec<PathBuf>,
        seen: &[PathBuf],
        from: &[Span],
    ) -> Vec<(PathBuf, Ini)> {
        let mut out = Vec::new();
        for file in expand_with_local(files) {
            out.extend(self.file_with_includes(file, seen, from));
        }
        out
    }

    fn file_with_includes(
        &mut self,
        path: PathBuf,
        seen: &[PathBuf],
        from: &[Span],
    ) -> Vec<(PathBuf, Ini)> {
        let Some(file) = self.parse_file(&path, from) else {
            return Vec::new();
        };
        let mut chain = seen.to_vec();
        chain.push(path.clone());
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (option, target) in [("before", &mut before), ("after", &mut after)] {
            for (include, line_span) in self.include_list(&file, &path, option) {
                if chain.contains(&include) {
                    let mut cycle = chain.clone();
                    cycle.push(include);
                    self.errors
                        .push(IniError::new(line_span, IniErrorKind::IncludeCycle(cycle)));
                    continue;
                }
                let mut deeper = from.to_vec();
                deeper.push(line_span);
                target.extend(self.includes(vec![include], &chain, &deeper));
            }
        }
        before.push((path, file));
        before.extend(after);
        before
    }

    /// Reads and parses one file. A missing include is an error unless it is a `.local` file
    /// (those are optional customisations, e.g. `after = common.local`).
    fn parse_file(&mut self, path: &Path, from: &[Span]) -> Option<Ini> {
        let file_span = Span::included(path, 0, from.to_vec());
        let text = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.missing(path, from, error, file_span);
                return None;
            }
        };
        let text = match String::from_utf8(text) {
            Ok(text) => text,
            Err(error) => {
                let kind = IniErrorKind::Io(format!("not UTF-8: {error}"));
                self.errors.push(IniError::new(file_span, kind));
                return None;
            }
        };
        let (ini, errors) = parse::parse(&text, &file_span);
        self.errors.extend(errors);
        Some(ini)
    }

    fn missing(&mut self, path: &Path, from: &[Span], error: std::io::Error, file_span: Span) {
        let optional = path.extension().is_some_and(|ext| ext == "local");
        match from.last() {
            Some(_) if optional && error.kind() == std::io::ErrorKind::NotFound => {}
            Some(include_line) => {
                let kind = IniErrorKind::MissingInclude(path.to_path_buf());
                self.errors.push(IniError::new(include_line.clone(), kind));
            }
            None => {
                let kind = IniErrorKind::Io(error.to_string());
                self.errors.push(IniError::new(file_span, kind));
            }
        }
    }

    /// The paths listed in `[INCLUDES] option`, relative to the including file's directory,
    /// each with the span of its line.
    fn include_list(&mut self, file: &Ini, path: &Path, option: &str) -> Vec<(PathBuf, Span)> {
        if !file.has_section(INCLUDES_SECTION) {
            return Vec::new();
        }
        let Some(raw) = file.raw(INCLUDES_SECTION, option) else {
            return Vec::new();
        };
        let value = match file.get(INCLUDES_SECTION, option, &Options::new()) {
            Some(Ok(value)) => value.value,
            Some(Err(error)) => {
                self.errors.push(error);
                return Vec::new();
            }
            None => return Vec::new(),
        };
        let dir = path.parent().unwrap_or(Path::new(""));
        value
            .split('\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(index, line)| (dir.join(line), raw.line_span(index)))
            .collect()
    }
}

/// Merges one file into the layered result: `[DEFAULT]` and sections option by option, the
/// overridden values saved in `KNOWN/<section>`, conditional sections renamed.
fn merge_file(ini: &mut Ini, file: Ini) {
    ini.defaults.extend(file.defaults);
    for (name, options) in file.sections {
        let (name, options) = split_conditional(name, options);
        if let Some(existing) = ini.sections.get_mut(&name) {
            let known: Vec<_> = existing
                .iter()
                .filter(|(key, _)| options.contains_key(*key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            existing.extend(options);
            ini.merge_section(&format!("{KNOWN_PREFIX}{name}"), known, "");
        } else {
            ini.sections.insert(name, options);
        }
    }
}

/// `[Init?family=inet6]` → section `Init` with options `name?family=inet6` (fail2ban's
/// `CONDITIONAL_RE = ^(\w+)(\?.+)$`).
fn split_conditional(name: String, options: Options) -> (String, Options) {
    let Some(at) = name.find('?') else {
        return (name, options);
    };
    let (base, condition) = name.split_at(at);
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    if base.is_empty() || condition.len() < 2 || !base.chars().all(is_word) {
        return (name, options);
    }
    let renamed = options
        .into_iter()
        .map(|(key, value)| (format!("{key}{condition}"), value))
        .collect();
    (base.to_string(), renamed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, text).unwrap();
    }

    fn text(ini: &Ini, section: &str, option: &str) -> Option<String> {
        ini.raw(section, option).map(|v| v.text.clone())
    }

    #[test]
    fn layering_order_conf_d_local() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "x.conf", "[S]\na = conf\nb = conf\nc = conf\nd = conf\n");
        write(d, "x.d/2.conf", "[S]\nb = d2conf\n");
        write(d, "x.d/1.conf", "[S]\nb = d1conf\nc = d1conf\n");
        write(d, "x.local", "[S]\nc = local\n");
        write(d, "x.d/1.local", "[S]\nd = dlocal\n");
        let (ini, errors) = read_config(d, "x");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(text(&ini, "S", "a").as_deref(), Some("conf"));
        assert_eq!(text(&ini, "S", "b").as_deref(), Some("d2conf"));
        assert_eq!(text(&ini, "S", "c").as_deref(), Some("local"));
        assert_eq!(text(&ini, "S", "d").as_deref(), Some("dlocal"));
        assert_eq!(text(&ini, "KNOWN/S", "c").as_deref(), Some("d1conf"));
        let names: Vec<String> = ini
            .files()
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "x.conf",
                "x.d/1.conf",
                "x.d/2.conf",
                "x.local",
                "x.d/1.local"
            ]
        );
    }

    #[test]
    fn includes_before_and_after_with_local_siblings() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "main.conf",
            "[INCLUDES]\nbefore = common.conf\nafter = last.conf\n[S]\na = main\n",
        );
        write(d, "common.conf", "[S]\na = common\nb = common\n");
        write(d, "common.local", "[S]\nb = common-local\n");
        write(d, "last.conf", "[S]\nc = last\n");
        let (ini, errors) = read_config(d, "main");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(text(&ini, "S", "a").as_deref(), Some("main"));
        assert_eq!(text(&ini, "S", "b").as_deref(), Some("common-local"));
        assert_eq!(text(&ini, "S", "c").as_deref(), Some("last"));
        let included = ini.raw("S", "b").unwrap();
        assert_eq!(included.span.include_chain().len(), 1);
        assert_eq!(included.span.include_chain()[0].line(), 2);
    }

    #[test]
    fn missing_include_is_an_error_but_missing_local_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "main.conf",
            "[INCLUDES]\nbefore = gone.conf\nafter = opt.local\n[S]\na = 1\n",
        );
        let (ini, errors) = read_config(d, "main");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(matches!(errors[0].kind, IniErrorKind::MissingInclude(_)));
        assert_eq!(errors[0].span.line(), 2);
        assert_eq!(text(&ini, "S", "a").as_deref(), Some("1"));
    }

    #[test]
    fn include_cycle_is_reported_with_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "a.conf", "[INCLUDES]\nbefore = b.conf\n[S]\na = 1\n");
        write(d, "b.conf", "[INCLUDES]\nbefore = a.conf\n[S]\nb = 1\n");
        let (ini, errors) = read_config(d, "a");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let message = errors[0].to_string();
        assert!(message.contains("b.conf:2: include cycle:"), "{message}");
        assert!(
            message.contains("a.conf → ") && message.contains("(included from "),
            "{message}"
        );
        assert_eq!(text(&ini, "S", "b").as_deref(), Some("1"));
    }

    #[test]
    fn errors_of_a_file_read_twice_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "main.conf", "[INCLUDES]\nbefore = common.conf\n");
        write(d, "common.conf", "[INCLUDES]\nafter = common.local\n");
        write(d, "common.local", "[S]\njunk\n");
        let (ini, errors) = read_config(d, "main");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(ini.files().len(), 4);
    }

    #[test]
    fn conditional_sections_merge_into_base_with_suffixed_names() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.conf",
            "[Init]\nx = 4\n[Init?family=inet6]\nx = 6\n",
        );
        let (ini, errors) = read_config(dir.path(), "a");
        assert!(errors.is_empty());
        assert_eq!(text(&ini, "Init", "x").as_deref(), Some("4"));
        assert_eq!(text(&ini, "Init", "x?family=inet6").as_deref(), Some("6"));
    }
}
