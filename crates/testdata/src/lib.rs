//! Where ferroban's tests find the fail2ban reference: Debian's fail2ban package unpacked
//! by `scripts/fetch-fail2ban` (its configuration, Python source and sample logs), in
//! `$FERROBAN_F2B_DIR` or the repository's `.cache/fail2ban`.
//!
//! A test that needs it asks [`fail2ban_dir`] (or one of the paths below) and returns early
//! on `None`, so `cargo test` works on a machine without the corpus. With
//! `FERROBAN_REQUIRE_CORPUS` set (as `scripts/test`, and so CI, sets it) a missing corpus
//! fails the test instead: a run can never pass by skipping.

use std::path::PathBuf;

/// The unpacked package, or `None` (after saying so) when it is missing and not required.
///
/// # Panics
/// When the corpus is missing and `FERROBAN_REQUIRE_CORPUS` is set.
pub fn fail2ban_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FERROBAN_F2B_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.cache/fail2ban"
            ))
        },
        PathBuf::from,
    );
    if dir.join("etc/fail2ban/jail.conf").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("FERROBAN_REQUIRE_CORPUS").is_none(),
        "the fail2ban reference is missing at {}: run scripts/fetch-fail2ban",
        dir.display()
    );
    println!(
        "skipped: the fail2ban reference is missing at {} (run scripts/fetch-fail2ban)",
        dir.display()
    );
    None
}

/// The stock configuration directory (`etc/fail2ban`).
pub fn stock_config() -> Option<PathBuf> {
    Some(fail2ban_dir()?.join("etc/fail2ban"))
}

/// fail2ban's Python package directory (for `PYTHONPATH`).
pub fn python_packages() -> Option<PathBuf> {
    Some(fail2ban_dir()?.join("usr/lib/python3/dist-packages"))
}

/// fail2ban's sample logs with their `# failJSON:` annotations.
pub fn sample_logs() -> Option<PathBuf> {
    Some(python_packages()?.join("fail2ban/tests/files/logs"))
}
