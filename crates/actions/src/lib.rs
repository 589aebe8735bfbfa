//! Runs fail2ban command actions (`action.d/*.conf`) safely.
//!
//! Owns: `<tag>` substitution, the lifecycle of each action of a jail
//! (start — possibly on demand per address family —, ban with check and
//! repair, unban, reban, flush, stop) and running the commands through
//! `/bin/sh -c` with a timeout that kills the whole process group.
//!
//! Receives: [`CommandActionDef`] — an action's `[Definition]`, `[Init]`,
//! `[Init?family=…]` values and the jail's options, as read by the config
//! crate — and, per ban, a [`BanInfo`] from the tracker.
//!
//! Emits: `Result`s with typed [`ActionError`]s (exit status and stderr of a
//! failed command, timeouts, self-referencing tags, unsupported Python
//! actions); [`JailActions`] returns one [`ActionFailure`] per failed action
//! and carries on with the others, as fail2ban does. It also keeps fail2ban's
//! *ban epoch*, which grows when an action is repaired after a failed
//! `actioncheck`, so the caller knows which bans to re-apply (`reban_since`).
//!
//! Substitution happens in two steps, as in fail2ban's `action.py`: static
//! tags (the action's own properties) recursively, then dynamic tags (the
//! ban's values) in one non-recursive pass. Values that come from log lines
//! never become shell text: they are passed as environment variables and
//! referenced with quoting that fits the tag's place; see `dynamic.rs`.
//!
//! Native firewall backends (`native/`): an action whose commands are those of fail2ban's
//! stock `nftables*` actions is applied in-process, bans in batches, one nft transaction
//! per batch; [`JailActions`] says which backend each action got and why.

mod command;
mod dynamic;
mod error;
mod exec;
mod ignore;
mod jail;
pub mod native;
mod tags;

pub use command::{CommandAction, CommandActionDef, parse_seconds};
pub use dynamic::{BanInfo, PreparedCommand, ip_reverse};
pub use error::ActionError;
pub use ignore::IgnoreCommand;
pub use jail::{ActionDef, ActionFailure, Backend, JailActions};

#[cfg(test)]
mod tests;
