//! `ferroban config-test`: reads a whole configuration directory, resolves every enabled
//! jail (filter compiled, actions built, `bantime.*` read) through the server's one check,
//! and prints every error at once with `file:line` and the include chain that led there.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ConfigTestArgs {
    #[arg(
        short = 'c',
        long = "config",
        value_name = "DIR",
        help = crate::conf_dir::HELP,
        default_value_os_t = crate::conf_dir::or_default(None),
        hide_default_value = true
    )]
    pub config: PathBuf,
}

pub fn run(args: ConfigTestArgs) -> ExitCode {
    let checked = ferroban_server::check::check(&args.config);
    for line in checked.backend_lines() {
        println!("{line}");
    }
    let problems: Vec<String> = checked.problems().collect();
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

/// Every problem of the configuration at `dir`, one message each: the server's own check,
/// the one start-up and reload use.
pub fn check(dir: &std::path::Path) -> Vec<String> {
    ferroban_server::check::check(dir).problems().collect()
}
