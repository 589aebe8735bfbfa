//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod cli;
pub mod netns;
pub mod postgres;

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

/// The commands whose output or exit status differ between fail2ban's session and
/// ferroban's (`(command, output, status)` each, in the same order), one text per command.
pub fn differences(
    expected: &[(String, String, i32)],
    actual: &[(String, String, i32)],
) -> Vec<String> {
    expected
        .iter()
        .zip(actual)
        .filter(|(want, got)| want != got)
        .map(|((command, want, want_status), (_, got, got_status))| {
            format!(
                "`fail2ban-client {command}`:\n fail2ban ({want_status}): {want:?}\n ferroban ({got_status}): {got:?}"
            )
        })
        .collect()
}
