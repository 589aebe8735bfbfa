//! fail2ban's `ignorecommand`: a command asked, for each failure, whether its address is to
//! be ignored. It runs through the same runner as the actions (timeout, process-group kill)
//! and gets the same dynamic tags as a ban (`<ip>`, `<family>`, `<F-*>` of the failure):
//! values from log lines travel as environment variables, never as shell text.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::dynamic::{BanInfo, DynamicValues, render_dynamic};
use crate::error::ActionError;
use crate::exec::{self, Label};

/// fail2ban runs `ignorecommand` with `executeCmd`'s default timeout.
const IGNORE_TIMEOUT: Duration = Duration::from_secs(60);

/// A jail's `ignorecommand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreCommand {
    command: String,
    timeout: Duration,
}

impl IgnoreCommand {
    pub fn new(command: &str) -> Self {
        IgnoreCommand {
            command: command.to_owned(),
            timeout: IGNORE_TIMEOUT,
        }
    }

    /// With another timeout (tests, and jails that cannot wait a minute).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command as configured.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// fail2ban's `inIgnoreIPList` for the command: exit status 0 ignores the failure, 1
    /// does not; anything else (another status, a timeout, no shell) is an error, and the
    /// caller does not ignore.
    pub fn ignores(&self, failure: &BanInfo<'_>) -> Result<bool, ActionError> {
        let prepared = render_dynamic(&self.command, &DynamicValues::for_ban(failure));
        let label = Label {
            action: "ignorecommand",
            operation: "ignorecommand",
        };
        let finished = exec::run_to_exit(&prepared, &BTreeMap::new(), self.timeout, &label)?;
        match finished.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(finished.failure(&label)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Whether `command` ignores a failure of `ip` by `user`.
    fn ignores(command: &IgnoreCommand, ip: &str, user: &str) -> bool {
        let data = [("user".to_string(), user.to_string())].into();
        let mut info = BanInfo::new(ip.parse().unwrap(), 0, 0);
        info.data = &data;
        command.ignores(&info).unwrap()
    }

    #[test]
    fn exit_status_decides_and_tags_are_data() {
        let command = IgnoreCommand::new(r#"test "<ip>" = 192.0.2.7 && test <F-USER> = 'x;id'"#);
        assert!(ignores(&command, "192.0.2.7", "x;id"));
        assert!(!ignores(&command, "192.0.2.8", "x;id"));
        let family = IgnoreCommand::new("test <family> = inet6");
        assert!(ignores(&family, "2001:db8::1", ""));
        assert!(!ignores(&family, "192.0.2.7", ""));
    }

    #[test]
    fn a_user_name_with_shell_text_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let user = format!("$(touch {})", marker.display());
        let command = IgnoreCommand::new("echo <F-USER>; exit 1");
        assert!(!ignores(&command, "192.0.2.7", &user));
        assert!(!marker.exists());
    }

    #[test]
    fn other_status_and_timeout_are_errors() {
        let failed = IgnoreCommand::new("exit 3");
        assert!(matches!(
            failed.ignores(&BanInfo::new("192.0.2.7".parse().unwrap(), 0, 0)),
            Err(ActionError::CommandFailed { .. })
        ));
        let hangs = IgnoreCommand::new("sleep 30").with_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert!(matches!(
            hangs.ignores(&BanInfo::new("192.0.2.7".parse().unwrap(), 0, 0)),
            Err(ActionError::Timeout { .. })
        ));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "killed at its timeout"
        );
    }
}
