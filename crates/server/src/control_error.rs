//! Why the control socket refused a request: one variant per kind, each displayed with the
//! text fail2ban's server gives for it (where it has one), which is what both replies carry —
//! ferroban's JSON (`Response::Error`) and fail2ban's pickled exception
//! (`fail2ban_wire::shape`, which also picks the exception class from the variant).

use crate::JailStartError;
use crate::clock::ClockError;
use crate::jail::ExtraError;
use crate::jail::settings::SettingError;
use crate::registry::ReloadError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    /// A JSON request that does not read.
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// fail2ban's `UnknownJailException`.
    #[error("Sorry but the jail '{0}' does not exist")]
    UnknownJail(String),
    /// A jail whose owner thread is gone.
    #[error("jail '{0}' is not running")]
    JailNotRunning(String),
    #[error("Invalid command")]
    InvalidCommand,
    #[error("Invalid idle option, must be 'on' or 'off'")]
    IdleOption,
    #[error("Invalid log level {0:?}")]
    LogLevel(String),
    /// fail2ban's `setLogTarget` returned false.
    #[error("Failed to change log target")]
    LogTarget,
    #[error("cannot reopen {target}: {error}")]
    Reopen {
        target: String,
        error: std::io::Error,
    },
    #[error("Cannot change database when there are jails present")]
    DatabaseInUse,
    #[error("cannot open the database {path}: {error}")]
    Database { path: String, error: String },
    #[error("invalid time {value:?}: {error}")]
    Time { value: String, error: String },
    /// Python's `int()` refusing a word.
    #[error("invalid literal for int() with base 10: '{0}'")]
    NotAnInteger(String),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error(transparent)]
    BanTimeExtra(#[from] ExtraError),
    #[error(transparent)]
    JailStart(#[from] JailStartError),
    #[error(transparent)]
    Reload(#[from] ReloadError),
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error(transparent)]
    Tracker(#[from] ferroban_tracker::TrackerError),
    /// `cluster status` on a server not in a fleet: why not.
    #[error("fleet mode is off: {0}")]
    FleetOff(String),
    #[error("the fleet task did not answer")]
    FleetNoAnswer,
}

impl ControlError {
    /// The reply ferroban's own client reads.
    pub(crate) fn response(&self) -> ferroban_protocol::Response {
        ferroban_protocol::Response::Error(self.to_string())
    }
}
