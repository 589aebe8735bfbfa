//! The control-socket protocol between `ferroban server` and `ferroban client`.
//!
//! Owns: the grammar of fail2ban-client commands ([`Command::parse`] turns the words a user
//! typed, `set sshd banip 1.2.3.4`, into a typed [`Command`]), the replies the server sends
//! back ([`Reply`]) and the framing on the wire: one JSON document per line, a [`Request`]
//! from the client and a [`Response`] from the server, one exchange per connection.
//!
//! Receives words from the client's command line; emits typed messages that both sides
//! (de)serialize with serde. The server decides what a command does; the client decides how
//! a reply looks (fail2ban-client's `|-` trees, or `--json`). Nothing here does I/O beyond
//! reading and writing one line on a stream the caller opened.
//!
//! The same socket also speaks fail2ban's own dialect, for fail2ban-client and the tools
//! written against fail2ban ([`fail2ban`]): pickled argument lists in, pickled
//! `(code, value)` tuples out. [`pickle`] reads and writes that format, plain data only.

mod command;
pub mod fail2ban;
pub mod pickle;
mod reply;
mod wire;

pub use command::{Command, GetKey, ParseError, SetKey};
pub use reply::{BanTimeEntry, ClusterNode, ClusterStatusReply, JailStatusReply, Reply, Response};
pub use wire::{Request, WireError, read_message, write_message};
