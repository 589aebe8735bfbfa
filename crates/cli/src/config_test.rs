//! `ferroban config-test`: reads a whole configuration directory and prints every error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ConfigTestArgs {
    /// Configuration directory.
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: PathBuf,
}

pub fn run(args: ConfigTestArgs) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}
