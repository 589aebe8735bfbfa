//! The configuration directory that server, client, config-test and regex read without `-c`.
//!
//! ferroban's package installs its configuration in `/etc/ferroban`, whose `fail2ban.conf`
//! puts the socket at `/run/ferroban/ferroban.sock`: a bare `ferroban status` must read that
//! directory to find the server the unit started. On a machine without it, a fail2ban user's
//! `/etc/fail2ban` is read, so swapping the binary in keeps working. Every tool decides here,
//! once, so that the server and its client never look in different places.

use std::path::{Path, PathBuf};

/// ferroban's own configuration directory, installed by its package.
pub const FERROBAN_DIR: &str = "/etc/ferroban";
/// fail2ban's configuration directory, read when ferroban's is absent.
pub const FAIL2BAN_DIR: &str = "/etc/fail2ban";

/// The `-c` help line of every tool.
pub const HELP: &str =
    "Configuration directory [default: /etc/ferroban if it exists, else /etc/fail2ban]";

/// `-c DIR` when given, else the default directory.
pub fn or_default(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| choose(Path::new(FERROBAN_DIR).is_dir()))
}

fn choose(ferroban_dir_exists: bool) -> PathBuf {
    PathBuf::from(if ferroban_dir_exists {
        FERROBAN_DIR
    } else {
        FAIL2BAN_DIR
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ferroban_dir_wins_when_installed() {
        assert_eq!(choose(true), Path::new("/etc/ferroban"));
        assert_eq!(choose(false), Path::new("/etc/fail2ban"));
    }

    #[test]
    fn a_given_directory_is_kept() {
        assert_eq!(
            or_default(Some(PathBuf::from("/tmp/conf"))),
            Path::new("/tmp/conf")
        );
    }
}
