//! fail2ban configuration, resolved: this crate turns the raw INI files read by
//! `ferroban-ini` into typed specs, the way fail2ban's client readers (`filterreader.py`,
//! `actionreader.py`, `jailreader.py`, `fail2banreader.py`) do.
//!
//! It receives a configuration directory (like `/etc/fail2ban`) and emits:
//! - [`FilterSpec`] from [`load_filter`]: failregex/ignoreregex split one per line, prefregex,
//!   datepattern, maxlines, journalmatch, all other options, with `[Init]` and caller options
//!   (`sshd[mode=aggressive]`) layered as fail2ban does and `<tag>`s among options substituted.
//! - [`ActionSpec`] from [`load_action`]: the action commands and `[Init]` values for a jail.
//! - [`JailSpec`]s from [`load_jails`]: every enabled jail with its filter, actions, log paths
//!   and settings (times as written and in seconds).
//! - [`ServerSpec`] from [`load_server`]: the daemon's own settings from `fail2ban.conf`.
//!
//! Every value keeps its span (`path:line` plus include chain) so later stages (regex
//! compilation, command building) can report where a bad value was written. Errors are
//! collected, never short-circuited: one pass reports them all ([`ConfigErrors`]).

mod action;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod check;
mod definition;
mod error;
mod filter;
mod jail;
mod options;
mod origin;
mod server;
mod tags;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod testutil;
mod time;

pub use action::{ActionSpec, load_action};
pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use filter::{FilterSpec, load_filter};
pub use jail::{JailAction, JailSpec, LoadedJails, SkippedJail, TimeSpec, load_jails};
pub use options::{Definition, extract_options, split_with_options};
pub use server::{ClusterSpec, ServerSpec, load_server};
pub use time::str_to_seconds;
