//! Running the real `ferroban` binary from tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn ferroban() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferroban"))
}

/// Runs `ferroban ARGS` and returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let output = ferroban().args(args).output().expect("ferroban runs");
    split(output)
}

pub fn split(output: Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// ferroban's shipped default configuration directory.
pub fn default_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}
