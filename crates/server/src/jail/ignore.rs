//! What a jail ignores: its `ignoreip` list (addresses, networks, host names resolved at
//! start, `file:` lists), this machine's own addresses (`ignoreself`) and `ignorecommand`.

use std::net::IpAddr;

use ferroban_actions::BanInfo;
use ferroban_tracker::{Failure, IgnoreList};

use super::{FILTER_LOG, JailOwner};
use crate::log::Level;
use crate::log_at;
use crate::setup::JailConfig;

impl JailOwner {
    /// fail2ban's `inIgnoreIPList`: whether `failure` is to be ignored, logged as fail2ban
    /// logs it.
    pub(super) fn ignored(&mut self, failure: &Failure) -> bool {
        let name = &self.config.name;
        let id = &failure.id;
        if let Some(reason) = self.tracker.ignore_list().reason(id) {
            log_at!(
                FILTER_LOG,
                Level::INFO,
                "[{name}] Ignore {id} by {}",
                ignore_source(&reason)
            );
            return true;
        }
        let (Some(command), Some(ip)) = (&self.config.ignore_command, id.ip()) else {
            return false;
        };
        let now = crate::now_seconds();
        if let Some(answer) = self.ignore_cache.as_mut().and_then(|c| c.get(failure, now)) {
            return answer;
        }
        let data = failure.data.to_map();
        let mut info = BanInfo::new(ip, failure.time, 0);
        info.data = &data;
        info.matches = &failure.matches;
        let answer = match command.ignores(&info) {
            Ok(true) => {
                log_at!(FILTER_LOG, Level::INFO, "[{name}] Ignore {id} by command");
                true
            }
            Ok(false) => false,
            Err(error) => {
                log_at!(FILTER_LOG, Level::ERROR, "[{name}] ignorecommand: {error}");
                false
            }
        };
        if let Some(cache) = self.ignore_cache.as_mut() {
            cache.set(failure, answer, now);
        }
        answer
    }

    pub(super) fn change_ignore(&mut self, add: bool, entries: Vec<String>) {
        if add {
            for entry in entries {
                if !self.ignore_entries.contains(&entry) {
                    self.ignore_entries.push(entry);
                }
            }
        } else {
            self.ignore_entries.retain(|e| !entries.contains(e));
        }
        // The tracker's list cannot remove entries: build it anew.
        *self.tracker.ignore_list_mut() = ignore_list(&self.config, &self.ignore_entries);
    }
}

/// The ignore list of a jail: its entries, this machine's addresses for `ignoreself`, and
/// host names resolved now.
pub(super) fn ignore_list(config: &JailConfig, entries: &[String]) -> IgnoreList {
    let mut list = IgnoreList::new();
    list.set_ignore_self(config.ignore_self);
    if config.ignore_self {
        list.set_self_addresses(self_addresses());
    }
    for entry in entries {
        match entry.strip_prefix("file:") {
            Some(path) => add_ignore_file(&mut list, &config.name, path),
            None => list.add(entry),
        }
    }
    let names: Vec<String> = list.host_names().map(str::to_string).collect();
    for name in names {
        use std::net::ToSocketAddrs;
        let addresses: Vec<IpAddr> = (name.as_str(), 0)
            .to_socket_addrs()
            .map(|found| found.map(|a| a.ip()).collect())
            .unwrap_or_default();
        list.set_host_addresses(&name, addresses);
    }
    list
}

/// `ignoreip = file:/path`: the addresses, networks and names listed in a file, one or
/// more per line, `#` starting a comment (fail2ban's `FileIPAddrSet`).
fn add_ignore_file(list: &mut IgnoreList, jail: &str, path: &str) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            for line in text.lines() {
                let content = line.split('#').next().unwrap_or("");
                list.add_all(content);
            }
        }
        Err(error) => log_at!(
            FILTER_LOG,
            Level::ERROR,
            "[{jail}] cannot read ignoreip file {path}: {error}"
        ),
    }
}

/// fail2ban's `getSelfIPs`: loopback and every address of this machine's interfaces.
fn self_addresses() -> Vec<IpAddr> {
    let mut addresses = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
    ];
    if let Ok(interfaces) = nix::ifaddrs::getifaddrs() {
        for interface in interfaces {
            let Some(address) = interface.address else {
                continue;
            };
            if let Some(v4) = address.as_sockaddr_in() {
                addresses.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = address.as_sockaddr_in6() {
                addresses.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    addresses
}

/// fail2ban's words for why an address is ignored.
pub(super) fn ignore_source(reason: &ferroban_tracker::IgnoreReason) -> &'static str {
    match reason {
        ferroban_tracker::IgnoreReason::SelfAddress => "ignoreself rule",
        ferroban_tracker::IgnoreReason::Address | ferroban_tracker::IgnoreReason::Network(_) => {
            "ip"
        }
        ferroban_tracker::IgnoreReason::Host(_) => "dns",
    }
}
