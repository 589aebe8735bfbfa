//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod cli;
pub mod netns;

use std::path::PathBuf;

/// The unpacked fail2ban reference package (`scripts/fetch-fail2ban`), or `None` when it is
/// absent and the run does not require it. With `FERROBAN_REQUIRE_CORPUS=1` (set by
/// `scripts/test`) a missing corpus is a failure, not a skip.
pub fn fail2ban_dir() -> Option<PathBuf> {
    ferroban_testdata::fail2ban_dir()
}

/// Where fail2ban's Python package lives inside the reference.
pub fn fail2ban_python(dir: &std::path::Path) -> PathBuf {
    dir.join("usr/lib/python3/dist-packages/fail2ban")
}
