//! `ferroban config-test` (and `fail2ban-client -t`): reads a whole configuration directory,
//! resolves every enabled jail's filter and actions, compiles every regex, and prints every
//! error at once with `file:line` and the include chain that led there.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ferroban_config::{FilterSpec, JailAction, JailSpec};
use ferroban_filter::{Filter, FilterError, RegexKind};
use ferroban_ini::{Span, Spanned};

#[derive(Debug, Args)]
pub struct ConfigTestArgs {
    /// Configuration directory.
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: PathBuf,
}

pub fn run(args: ConfigTestArgs) -> ExitCode {
    let problems = check(&args.config);
    if problems.is_empty() {
        println!("OK: configuration test is successful");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("ERROR: {problem}");
    }
    eprintln!(
        "ERROR: {} error(s) in the configuration at {}",
        problems.len(),
        args.config.display()
    );
    ExitCode::FAILURE
}

/// Every problem of the configuration at `dir`, one message each.
pub fn check(dir: &std::path::Path) -> Vec<String> {
    let (_, server_errors) = ferroban_config::load_server(dir);
    let (jails, jail_errors) = ferroban_config::load_jails(dir);
    let mut problems: Vec<String> = server_errors
        .0
        .iter()
        .chain(&jail_errors.0)
        .map(ToString::to_string)
        .collect();
    for jail in &jails {
        problems.extend(jail_problems(jail));
    }
    problems
}

fn jail_problems(jail: &JailSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(filter) = &jail.filter {
        problems.extend(regex_problems(filter));
    }
    for action in &jail.actions {
        if let JailAction::Python {
            name, path, span, ..
        } = action
        {
            problems.push(at(
                span,
                &format!(
                    "[{}] action `{name}` is a Python action ({}): not supported by ferroban; use a command action (action.d/*.conf)",
                    jail.name,
                    path.display()
                ),
            ));
        }
    }
    problems
}

/// Each regex is checked on its own so that every bad one is reported, not just the first.
fn regex_problems(filter: &FilterSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let each = filter
        .prefregex
        .iter()
        .map(|r| ("prefregex", r))
        .chain(filter.failregex.iter().map(|r| ("failregex", r)))
        .chain(filter.ignoreregex.iter().map(|r| ("ignoreregex", r)));
    for (kind, regex) in each {
        let expanded = ferroban_filter::expand_tags(&regex.value, false);
        if let Err(message) = ferroban_filter::engine_for(&expanded) {
            problems.push(at(
                &regex.span,
                &format!("{kind} {:?} does not compile: {message}", regex.value),
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    if let Err(error) = Filter::new(&filter.definition()) {
        let span = error_span(filter, &error);
        problems.push(match span {
            Some(span) => at(span, &error.to_string()),
            None => format!("filter {}: {error}", filter.name),
        });
    }
    problems
}

fn error_span<'a>(filter: &'a FilterSpec, error: &FilterError) -> Option<&'a Span> {
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

fn at(span: &Span, message: &str) -> String {
    format!("{span}: {message}{}", span.chain_suffix())
}
