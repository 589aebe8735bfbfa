//! From the command line to a compiled filter and a line source, printing the "Running tests"
//! header as fail2ban-regex does, line for line.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Context, bail};
use ferroban_date::{DateDetector, TimeContext};
use ferroban_filter::{Filter, FilterDefinition, FilterOptions};
use ferroban_source::Encoding;

use super::RegexArgs;

/// fail2ban-regex's "is this a filter name?" test (`readRegex`).
static FILTER_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    regex::Regex::new(r"(?s)\A/{0,3}[\w/_\-.]+(?:\[.*\])?\z").expect("constant pattern compiles")
});

/// Prints the header lines unless the run prints only failures (`--out`, `--json`).
pub struct Header {
    quiet: bool,
}

impl Header {
    pub fn new(quiet: bool) -> Self {
        Header { quiet }
    }

    fn line(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", text.as_ref());
        }
    }
}

/// Where the lines come from.
pub enum Input {
    File { path: PathBuf, encoding: Encoding },
    Lines(Vec<String>),
}

/// Everything a run needs.
pub struct Job {
    pub filter: Filter,
    pub input: Input,
    pub context: TimeContext,
    /// `--raw`: host names stay names (no DNS).
    pub raw_hosts: bool,
}

pub fn prepare(args: &RegexArgs, header: &mut Header) -> anyhow::Result<Job> {
    header.line("");
    header.line("Running tests");
    header.line("=============");
    header.line("");
    if args.maxlines > 0 {
        header.line(format!("Use         maxlines : {}", args.maxlines));
    }
    if let Some(pattern) = &args.datepattern {
        header.line(format!(
            "Use      datepattern : {pattern} : {}",
            describe_datepattern(pattern)?
        ));
    }
    let mut definition = failregex_definition(args, header)?;
    if let Some(ignore) = &args.ignoreregex {
        header.line(format!(
            "Use {:>11} line : {}",
            "ignoreregex",
            shorten(ignore)
        ));
        definition.ignoreregex.push(ignore.clone());
    }
    apply_command_line(args, &mut definition);
    let mut filter = Filter::new(&definition).map_err(|e| anyhow::anyhow!("{e}"))?;
    filter.set_options(FilterOptions {
        check_all_regex: !args.no_check_all && args.out.is_none() && !args.json,
        raw_host: args.raw,
        ignore_pending: args.out.is_some() || args.json,
        // The report's counts need no groups or lines; the verbose listing and the
        // per-failure outputs show them.
        failure_details: args.verbose > 0
            || args.verbosity.is_some_and(|v| v > 0)
            || args.out.is_some()
            || args.json,
        ..FilterOptions::regex_tool()
    });
    let input = open_input(args, &filter, header)?;
    header.line("");
    let now = args.now.unwrap_or_else(unix_now);
    Ok(Job {
        filter,
        input,
        context: TimeContext::local(now),
        raw_hosts: args.raw,
    })
}

/// The command line's `-L`, `-d`, `--usedns`, `--timezone` win over the filter's own values.
fn apply_command_line(args: &RegexArgs, definition: &mut FilterDefinition) {
    if args.maxlines > 0 {
        definition.maxlines = args.maxlines;
    }
    if let Some(pattern) = &args.datepattern {
        definition.datepattern = Some(pattern.clone());
    }
    if let Some(usedns) = &args.usedns {
        definition.usedns = Some(usedns.clone());
    }
    if let Some(zone) = &args.timezone {
        definition.logtimezone = Some(zone.clone());
    }
}

fn describe_datepattern(pattern: &str) -> anyhow::Result<String> {
    let detector = DateDetector::from_pattern(pattern).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(detector.description())
}

/// REGEX: a filter (name with options, or file) or a literal failregex.
fn failregex_definition(args: &RegexArgs, header: &mut Header) -> anyhow::Result<FilterDefinition> {
    let value = args.regex.as_str();
    let Some(found) = find_filter(value, &args.config)? else {
        header.line(format!("Use {:>11} line : {}", "failregex", shorten(value)));
        return Ok(FilterDefinition {
            failregex: vec![value.to_string()],
            maxlines: 1,
            ..Default::default()
        });
    };
    header.line(found.describe(&args.config));
    if !found.options.is_empty() {
        header.line(format!(
            "Use   filter options : {}",
            python_dict(&found.options)
        ));
    }
    let spec = ferroban_config::load_filter(&args.config, value, &[])
        .map_err(|errors| anyhow::anyhow!("failed to load filter {value}\n{errors}"))?;
    if let (Some(maxlines), 0) = (&spec.maxlines, args.maxlines) {
        header.line(format!("Use         maxlines : {}", maxlines.value));
    }
    if let (Some(pattern), None) = (&spec.datepattern, &args.datepattern) {
        header.line(format!(
            "Use      datepattern : {} : {}",
            pattern.value,
            describe_datepattern(&pattern.value)?
        ));
    }
    Ok(spec.definition())
}

/// A filter file found for REGEX.
struct FoundFilter {
    name: String,
    file: PathBuf,
    base_dir: PathBuf,
    options: Vec<(String, String)>,
}

impl FoundFilter {
    /// fail2ban-regex says "filter file" for filters read the standard way (name in the
    /// configuration's filter.d, `.local` files and all) and "file" for a foreign file.
    fn describe(&self, config: &Path) -> String {
        let in_filter_d = self.base_dir.file_name().is_some_and(|n| n == "filter.d");
        let plain_name = !self.name.contains('/') && !has_extension(&self.name);
        if self.base_dir == config || in_filter_d || plain_name {
            let base = if in_filter_d {
                self.base_dir.parent().unwrap_or(&self.base_dir)
            } else {
                &self.base_dir
            };
            let stem = Path::new(&self.name)
                .file_stem()
                .map_or(self.name.clone(), |s| s.to_string_lossy().into_owned());
            format!(
                "Use {:>11} filter file : {stem}, basedir: {}",
                "failregex",
                base.display()
            )
        } else {
            let absolute = std::path::absolute(&self.file).unwrap_or_else(|_| self.file.clone());
            format!("Use {:>11} file : {}", "failregex", absolute.display())
        }
    }
}

/// `"." in name[-6:]`: the name already carries an extension.
fn has_extension(name: &str) -> bool {
    let tail: String = name.chars().rev().take(6).collect();
    tail.contains('.')
}

/// Looks REGEX up as fail2ban-regex does: `name`, `name.conf`, `name.local` in
/// `CONFIG/filter.d` (or as a path).
fn find_filter(value: &str, config: &Path) -> anyhow::Result<Option<FoundFilter>> {
    if !FILTER_NAME.is_match(value) {
        return Ok(None);
    }
    let definition = ferroban_config::extract_options(value).map_err(|e| {
        anyhow::anyhow!("Wrong filter name or options: {e}\n       while parsing: {value}")
    })?;
    let name = definition.name;
    let candidates = if has_extension(&name) {
        vec![name.clone()]
    } else {
        vec![
            name.clone(),
            format!("{name}.conf"),
            format!("{name}.local"),
        ]
    };
    for candidate in candidates {
        let (file, base_dir) = if candidate.contains('/') {
            let file = PathBuf::from(&candidate);
            let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
            (file, base)
        } else if config.file_name().is_some_and(|n| n == "filter.d") {
            (config.join(&candidate), config.to_path_buf())
        } else {
            (
                config.join("filter.d").join(&candidate),
                config.to_path_buf(),
            )
        };
        if file.is_file() {
            let options = definition.options.into_iter().collect();
            return Ok(Some(FoundFilter {
                name,
                file,
                base_dir,
                options,
            }));
        }
    }
    Ok(None)
}

fn open_input(args: &RegexArgs, filter: &Filter, header: &mut Header) -> anyhow::Result<Input> {
    let log = args.log.as_str();
    if Path::new(log).is_file() {
        let encoding = Encoding::from_label(&args.encoding).map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::File::open(log).with_context(|| format!("cannot read {log}"))?;
        header.line(format!("Use         log file : {log}"));
        header.line(format!("Use         encoding : {}", args.encoding));
        return Ok(Input::File {
            path: PathBuf::from(log),
            encoding,
        });
    }
    if log.starts_with("systemd-journal") {
        bail!(
            "systemd-journal: reading the journal is not supported by `ferroban regex` yet; export it with `journalctl -o short` and give the file"
        );
    }
    if filter.maxlines() <= 1 && !log.contains('\n') {
        header.line(format!(
            "Use      single line : {}",
            shorten(&log.replace('\n', "\\n"))
        ));
        return Ok(Input::Lines(vec![log.to_string()]));
    }
    let lines: Vec<String> = log.split('\n').map(str::to_string).collect();
    header.line(format!("Use      multi line : {} line(s)", lines.len()));
    for (index, line) in lines.iter().enumerate() {
        if index >= 5 {
            header.line("| ...");
            break;
        }
        let number: String = (index + 1).to_string().chars().take(2).collect();
        header.line(format!("| {number:>2}: {}", shorten(line)));
    }
    header.line("`-");
    Ok(Input::Lines(lines))
}

/// fail2ban-regex's `shortstr`: at most 53 characters.
pub fn shorten(text: &str) -> String {
    if text.chars().count() > 53 {
        let head: String = text.chars().take(50).collect();
        format!("{head}...")
    } else {
        text.to_string()
    }
}

/// A Python `repr` of a dict of strings, as fail2ban-regex prints filter options.
pub fn python_dict(items: &[(String, String)]) -> String {
    let body: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{}: {}", python_str(k), python_str(v)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// A Python `repr` of a string.
pub fn python_str(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_53_characters_at_most() {
        assert_eq!(shorten("short"), "short");
        let long = "x".repeat(60);
        assert_eq!(shorten(&long), format!("{}...", "x".repeat(50)));
    }

    #[test]
    fn python_repr_of_options() {
        let items = vec![
            ("mode".to_string(), "aggressive".to_string()),
            ("q".to_string(), "it's".to_string()),
        ];
        assert_eq!(python_dict(&items), "{'mode': 'aggressive', 'q': \"it's\"}");
    }

    #[test]
    fn filter_names_and_literal_regexes_are_told_apart() {
        assert!(FILTER_NAME.is_match("sshd"));
        assert!(FILTER_NAME.is_match("sshd[mode=aggressive]"));
        assert!(FILTER_NAME.is_match("/etc/fail2ban/filter.d/sshd.conf"));
        assert!(!FILTER_NAME.is_match("^Failed password for .* from <HOST>"));
    }
}
