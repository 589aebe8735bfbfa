//! ferroban's command line: one binary, several tools.
//!
//! `ferroban SUBCOMMAND ...` runs a tool by name; invoked through a symlink named like one of
//! fail2ban's programs (`fail2ban-regex`, ...) it behaves as that program, so users can swap it
//! in. This crate owns argument parsing and what the user sees (reports, error messages, exit
//! codes); the work itself is done by the library crates: `ferroban-config` reads a
//! configuration directory, `ferroban-filter` matches lines, `ferroban-date` finds their dates.
//!
//! - `regex`: fail2ban-regex's report on a log file or line, plus `--json` for scripts.
//! - `config-test`: reads a whole configuration directory and prints every error at once.
//! - `server`, `client`: fail2ban-server and fail2ban-client.
//! - `completions`, `manpages` (hidden): shell completions and man pages, generated from
//!   these definitions (`docs`).
//!
//! Every tool reads the same configuration directory when `-c` is not given (`conf_dir`).

mod check;
mod client;
mod conf_dir;
mod docs;
mod regex;
mod server_cmd;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Entry point of the `ferroban` binary.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("ferroban")
        .to_string();
    match invoked_as.as_str() {
        "fail2ban-regex" => regex::run_from_args(args),
        "fail2ban-server" => server_cmd::run_from_args(args),
        "fail2ban-client" => client::run_from_args(args.into_iter().skip(1).collect()),
        _ => run_ferroban(args),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "ferroban",
    version,
    about = "Intrusion prevention that reads fail2ban's configuration",
    long_about = "Intrusion prevention that reads fail2ban's configuration.\n\n\
        ferroban watches log files, recognises repeated authentication failures, bans the \
        source address in the firewall and lifts the ban later. A first word that is no \
        subcommand is a client command (`ferroban status` is `ferroban client status`). \
        Invoked as fail2ban-server, fail2ban-client or fail2ban-regex (through a symlink), \
        it behaves as that program. Without -c, every tool reads /etc/ferroban if it \
        exists, else /etc/fail2ban."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Test failregexes against a log file or line, as fail2ban-regex does.
    Regex(regex::RegexArgs),
    /// Read a configuration directory and report every error in it.
    ConfigTest(check::ConfigTestArgs),
    /// Run the daemon, as fail2ban-server does.
    Server(server_cmd::ServerArgs),
    /// Send a command to the daemon, as fail2ban-client does (`ferroban COMMAND...` too).
    #[command(disable_help_flag = true)]
    Client {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions(docs::CompletionsArgs),
    /// Write the man pages into a directory.
    #[command(hide = true)]
    Manpages(docs::ManpagesArgs),
}

fn run_ferroban(args: Vec<OsString>) -> ExitCode {
    if is_client_shorthand(&args) {
        return client::run_from_args(args.into_iter().skip(1).collect());
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Regex(args) => regex::run(args),
        Command::ConfigTest(args) => check::run(args),
        Command::Server(args) => server_cmd::run(args),
        Command::Client { args } => client::run_from_args(args),
        Command::Completions(args) => docs::completions(args),
        Command::Manpages(args) => docs::manpages(args),
    }
}

/// Parses a command line for a tool invoked by one of fail2ban's program names; on a usage
/// error (or `--help`/`--version`) prints clap's message and returns the exit code: fail2ban's
/// programs exit 255 on bad arguments.
pub(crate) fn parse_or_exit<P: clap::Parser>(args: Vec<OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(255)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Prints an error with its chain of causes, the way every ferroban tool reports failure.
pub(crate) fn print_error(error: &anyhow::Error) {
    eprintln!("ERROR: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// `ferroban COMMAND...`: a first word that is no subcommand (nor a top-level option) is
/// a client command, so `ferroban status sshd` works like `fail2ban-client status sshd`.
fn is_client_shorthand(args: &[OsString]) -> bool {
    const SUBCOMMANDS: [&str; 7] = [
        "regex",
        "config-test",
        "server",
        "client",
        "completions",
        "manpages",
        "help",
    ];
    const OWN_OPTIONS: [&str; 4] = ["-h", "--help", "-V", "--version"];
    match args.get(1).and_then(|a| a.to_str()) {
        Some(first) => !SUBCOMMANDS.contains(&first) && !OWN_OPTIONS.contains(&first),
        None => false,
    }
}

/// The version as fail2ban prints it: `-V` the number alone (`1.0.2`), `--version` the
/// long form (`Fail2Ban v1.0.2`), here with ferroban's name and number.
pub(crate) fn version_text(short: bool) -> String {
    match short {
        true => env!("CARGO_PKG_VERSION").to_string(),
        false => format!("ferroban v{}", env!("CARGO_PKG_VERSION")),
    }
}
