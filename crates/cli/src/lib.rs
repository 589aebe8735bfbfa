//! Command-line front end of ferroban.

use std::process::ExitCode;

/// Entry point of the `ferroban` binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
