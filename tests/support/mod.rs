//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod cli;
pub mod netns;

use std::path::PathBuf;

/// The unpacked fail2ban reference package (`scripts/fetch-fail2ban`), or `None` when it is
/// absent and the run does not require it. With `FERROBAN_REQUIRE_CORPUS=1` (set by
/// `scripts/test`) a missing corpus is a failure, not a skip.
pub fn fail2ban_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FERROBAN_F2B_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/fail2ban"));
    if dir.join("etc/fail2ban/jail.conf").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("FERROBAN_REQUIRE_CORPUS").is_none(),
        "the fail2ban reference is missing at {}: run scripts/fetch-fail2ban",
        dir.display()
    );
    eprintln!(
        "skipped: the fail2ban reference is missing at {} (run scripts/fetch-fail2ban)",
        dir.display()
    );
    None
}

/// Where fail2ban's Python package lives inside the reference.
pub fn fail2ban_python(dir: &std::path::Path) -> PathBuf {
    dir.join("usr/lib/python3/dist-packages/fail2ban")
}
