//! Running the firewall tools: one nftables transaction as a script written to `nft -f -`
//! through a pipe, one ipset batch as `ipset -exist restore`, and their listings.
//!
//! # Why `nft -f -` and not netlink from Rust
//!
//! `nft -f` parses the whole script and sends it to the kernel as one netlink batch, so a
//! script is one transaction: it applies completely or not at all. Measured in a network
//! namespace on the (busy, 2-core) development machine with nft 1.0.6 and kernel 6.18: a
//! script adding 100,000 IPv4 elements with timeouts to a set took 0.73–0.82 s, adding and
//! then deleting them (the unban form) 1.19 s (real time; nft used 0.2–0.3 s of CPU). Netlink
//! messages written ourselves (the `rustables` or `nftnl` crates) would save nft's parse but was not
//! measured; it would tie ferroban to a binding of the kernel's message layout for set
//! flags, interval elements and element timeouts, while the text form is the one users read in
//! `nft list ruleset`. Addresses reach the script only as [`ipnet::IpNet`] values we
//! format ourselves, so nft never sees a name it would try to resolve.
//!
//! # Why `ipset restore` and not netlink from Rust
//!
//! Measured the same way with ipset 7.17: `ipset -exist restore` of 100,000 `add … timeout`
//! lines took 0.56 s, of 100,000 `del` lines 1.2 s (0.15–0.25 s of CPU in ipset). That meets
//! the budget for a batch without a binding of ipset's netlink protocol (no maintained crate
//! speaks it). Unlike `nft -f`, a restore is not one transaction: it applies line by line and
//! stops at the first failing one (a full set), so `ipset.rs` makes every line idempotent
//! (`-exist`) and a batch that failed half way can simply be applied again.

use std::io::Write;
use std::process::{Command, Stdio};

/// What went wrong talking to nft or ipset.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The binary could not be started (missing, not executable).
    #[error("cannot run {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// The backend cannot do this at all (no retry or repair will help).
    #[error("not supported: {what}")]
    Unsupported { what: &'static str },
    /// The tool refused the batch (for nft: nothing of it was applied).
    #[error("{binary} refused the batch ({status}): {stderr}")]
    Refused {
        binary: String,
        status: String,
        stderr: String,
    },
}

/// Runs `script` as one nft transaction; returns nft's standard output.
pub fn run_script(binary: &str, script: &str) -> Result<String, FirewallError> {
    run(binary, &["-f", "-"], Some(script))
}

/// Runs `binary args…` (a listing), returns its standard output.
pub fn run(binary: &str, args: &[&str], stdin: Option<&str>) -> Result<String, FirewallError> {
    let spawn_error = |source| FirewallError::Spawn {
        binary: binary.to_owned(),
        source,
    };
    let mut child = Command::new(binary)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // nft and ipset read their whole input before they answer, but a writer thread keeps a large
    // script from ever deadlocking against a full stderr pipe.
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_owned();
            Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
        }
        _ => None,
    };
    let output = child.wait_with_output().map_err(spawn_error)?;
    if let Some(writer) = writer {
        // A write error means the tool stopped reading: its exit status tells why.
        let _ = writer.join();
    }
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(FirewallError::Refused {
        binary: binary.to_owned(),
        status: output
            .status
            .code()
            .map_or_else(|| "killed".to_owned(), |code| format!("exit {code}")),
        stderr: first_lines(&String::from_utf8_lossy(&output.stderr)),
    })
}

/// nft repeats the whole offending line of a 100k-element script: a log line keeps the start.
fn first_lines(text: &str) -> String {
    const LIMIT: usize = 600;
    let text = text.trim_end();
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
