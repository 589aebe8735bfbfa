//! `ferroban regex` / `fail2ban-regex`: runs a filter over a log and prints fail2ban-regex's
//! report, so the two can be compared by eye or by `diff`.
//!
//! `setup` turns the command line into a compiled filter and a line source while writing the
//! report's "Running tests" header; `run` feeds the lines through the filter, keeping
//! fail2ban-regex's counts (`stats`); `report` prints the results, and `out` prints the
//! per-failure forms (`--out`, `--json`) instead.

mod out;
mod report;
mod setup;
mod stats;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser};

/// fail2ban-regex's command line, option for option.
#[derive(Debug, Args)]
#[command(about = "Test failregexes against a log file or a log line")]
pub struct RegexArgs {
    /// A log line, or a path to a log file.
    pub log: String,
    /// A failregex, a filter name with options (`sshd[mode=aggressive]`), or a filter file.
    pub regex: String,
    /// An ignoreregex, or a filter file.
    pub ignoreregex: Option<String>,
    #[arg(
        short = 'c',
        long = "config",
        value_name = "DIR",
        help = crate::conf_dir::HELP,
        default_value_os_t = crate::conf_dir::or_default(None),
        hide_default_value = true
    )]
    pub config: PathBuf,
    /// Custom pattern used to match dates.
    #[arg(short = 'd', long = "datepattern")]
    pub datepattern: Option<String>,
    /// Time zone used for dates without one (`UTC`, `UTC+0200`, ...).
    #[arg(long = "timezone", alias = "TZ")]
    pub timezone: Option<String>,
    /// Encoding of the log file.
    #[arg(short = 'e', long = "encoding", default_value = "UTF-8")]
    pub encoding: String,
    /// Raw hosts: do not resolve DNS names.
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// How `<HOST>` matches: `yes` (any host), `no` (addresses only), `raw`, `warn`.
    #[arg(long = "usedns")]
    pub usedns: Option<String>,
    /// maxlines for multi-line regexes.
    #[arg(short = 'L', long = "maxlines", default_value_t = 0)]
    pub maxlines: usize,
    /// journalctl-style matches (systemd-journal only).
    #[arg(short = 'm', long = "journalmatch")]
    pub journalmatch: Option<String>,
    /// Log level of the internal logger (accepted for compatibility).
    #[arg(short = 'l', long = "log-level", default_value = "critical")]
    pub log_level: String,
    /// Increase verbosity.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Set the verbosity level (0..4).
    #[arg(long = "verbosity")]
    pub verbosity: Option<u8>,
    /// Show date patterns and their regexes in the report.
    #[arg(long = "verbose-date", alias = "VD")]
    pub verbose_date: bool,
    /// Produce debuggex URLs (accepted; ferroban prints none).
    #[arg(short = 'D', long = "debuggex")]
    pub debuggex: bool,
    /// Stop at the first failregex that matches a line.
    #[arg(long = "no-check-all")]
    pub no_check_all: bool,
    /// Print only this piece of each failure (row, id, fid, ip, msg, host, dns, matches, a
    /// group name, or a template with `<tags>`).
    #[arg(short = 'o', long = "out")]
    pub out: Option<String>,
    /// Print one JSON object per failure instead of the report.
    #[arg(long = "json")]
    pub json: bool,
    /// Unix time taken as "now" (decides the year of dates without one).
    #[arg(long = "now")]
    pub now: Option<f64>,
    #[arg(long = "print-no-missed", conflicts_with = "print_all_missed")]
    pub print_no_missed: bool,
    #[arg(long = "print-no-ignored", conflicts_with = "print_all_ignored")]
    pub print_no_ignored: bool,
    #[arg(long = "print-all-matched")]
    pub print_all_matched: bool,
    #[arg(long = "print-all-missed")]
    pub print_all_missed: bool,
    #[arg(long = "print-all-ignored")]
    pub print_all_ignored: bool,
    /// Accepted for compatibility (tracebacks are a Python matter).
    #[arg(short = 't', long = "log-traceback")]
    pub log_traceback: bool,
    #[arg(long = "full-traceback")]
    pub full_traceback: bool,
}

/// `fail2ban-regex ARGS`: the same options without a subcommand.
#[derive(Debug, Parser)]
#[command(name = "fail2ban-regex", version)]
struct StandaloneRegex {
    #[command(flatten)]
    args: RegexArgs,
}

pub fn run_from_args(args: Vec<OsString>) -> ExitCode {
    match crate::parse_or_exit::<StandaloneRegex>(args) {
        Ok(parsed) => run(parsed.args),
        Err(code) => code,
    }
}

/// A report piped into `head` ends the tool as it ends other Unix tools, by SIGPIPE, not by
/// a panic on the closed pipe (Rust's runtime ignores SIGPIPE).
#[allow(unsafe_code)]
fn end_on_closed_pipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: the default action installs no handler, and the tool starts no thread that
    // could be racing to change the disposition.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Runs the tool; fail2ban-regex's exit codes: 0 on a completed run, 255 on any error.
pub fn run(args: RegexArgs) -> ExitCode {
    end_on_closed_pipe();
    match run_checked(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            crate::print_error(&error);
            ExitCode::from(255)
        }
    }
}

fn run_checked(args: &RegexArgs) -> anyhow::Result<()> {
    let quiet = args.out.is_some() || args.json;
    let mut header = setup::Header::new(quiet);
    let mut job = setup::prepare(args, &mut header)?;
    let started = std::time::Instant::now();
    let mut stats = stats::Stats::new(args);
    let mut printer = out::Printer::new(args);
    stats::process(&mut job, &mut stats, &mut printer)?;
    if !quiet {
        report::print(&job, &stats, started.elapsed(), args);
    }
    Ok(())
}
