//! Typed errors of the actions crate.

use std::time::Duration;

/// What can go wrong while preparing or running an action.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A tag refers to itself, directly or through others (fail2ban's
    /// "self referencing definitions").
    #[error("action {action}: self referencing tag <{found}> in value of <{tag}>: {value}")]
    SelfReference {
        action: String,
        tag: String,
        found: String,
        value: String,
    },
    /// Interpolation of a command did not settle within the replacement limit.
    #[error(
        "action {action}: too long replacement interpolation, possible self referencing definitions in: {query}"
    )]
    TooDeepInterpolation { action: String, query: String },
    /// The action's `timeout` option is not a duration.
    #[error("action {action}: invalid timeout {value:?}")]
    InvalidTimeout { action: String, value: String },
    /// Python actions (`*.py`, e.g. smtp.py) cannot be run by ferroban.
    #[error(
        "action {action}: Python actions ({file}) are not supported; use a command action (.conf) instead"
    )]
    PythonNotSupported { action: String, file: String },
    /// `/bin/sh` could not be started.
    #[error("action {action}: cannot run {operation}: {source}")]
    Spawn {
        action: String,
        operation: String,
        #[source]
        source: std::io::Error,
    },
    /// The command ran and exited unsuccessfully.
    #[error("action {action}: {operation} failed ({status}){}", stderr_suffix(.stderr))]
    CommandFailed {
        action: String,
        operation: String,
        /// Exit code, or a description of the terminating signal.
        status: String,
        stderr: String,
    },
    /// The command ran longer than the action's timeout and was killed.
    #[error("action {action}: {operation} timed out after {timeout:?} and was killed")]
    Timeout {
        action: String,
        operation: String,
        timeout: Duration,
    },
    /// `actioncheck` still failed after trying to repair (restart) the action.
    #[error("action {action}: invariant check failed, unable to restore environment")]
    Unrepairable { action: String },
    /// `actionflush` failed and `actioncheck` fails too, with no repair allowed (the jail
    /// is stopping): the bans may stay in place (fail2ban: "Flush is impossible").
    #[error("action {action}: invariant check failed, flush is impossible")]
    FlushImpossible { action: String },
    /// A native backend's transaction failed (nothing of it was applied).
    #[error("action {action}: {operation} failed: {source}")]
    Native {
        action: String,
        operation: String,
        #[source]
        source: crate::native::FirewallError,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}
