//! `ignoreip` and `ignoreself`: ids whose failures a jail never counts.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::FailId;

/// Why a failure was not counted; fail2ban logs `Ignore <ip> by <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// `ignoreself`: the address is one of this machine's.
    SelfAddress,
    /// An address listed in `ignoreip`.
    Address,
    /// Inside a subnet listed in `ignoreip`.
    Network(IpNet),
    /// One of the addresses a hostname in `ignoreip` resolves to.
    Host(String),
}

/// A hostname from `ignoreip` with the addresses it resolved to last.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IgnoreHost {
    name: String,
    addresses: Vec<IpAddr>,
}

/// fail2ban's ignore list: single addresses in a set, subnets and hostnames in a list.
///
/// Name resolution is the caller's: hostnames are kept as names, and
/// [`IgnoreList::set_host_addresses`] tells the list what each currently resolves to
/// (fail2ban re-resolves them every five minutes). `ignorecommand` runs a process, so
/// it too is the caller's; run it when [`IgnoreList::reason`] finds nothing.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    ignore_self: bool,
    self_addresses: HashSet<IpAddr>,
    addresses: HashSet<IpAddr>,
    networks: Vec<IpNet>,
    hosts: Vec<IgnoreHost>,
}

impl IgnoreList {
    /// An empty list with `ignoreself` off.
    pub fn new() -> Self {
        IgnoreList::default()
    }

    /// `ignoreself`: whether this machine's own addresses are ignored.
    pub fn set_ignore_self(&mut self, ignore_self: bool) {
        self.ignore_self = ignore_self;
    }

    /// This machine's addresses, as the caller found them (fail2ban's `getSelfIPs`).
    pub fn set_self_addresses(&mut self, addresses: impl IntoIterator<Item = IpAddr>) {
        self.self_addresses = addresses.into_iter().map(normalise).collect();
    }

    /// Adds one `ignoreip` entry: an address, a subnet (`/len` or `/mask`) or a hostname.
    /// Empty entries and exact duplicates are skipped, as fail2ban's `addIgnoreIP` does.
    pub fn add(&mut self, entry: &str) {
        match FailId::parse(entry) {
            FailId::Ip(ip) => {
                self.addresses.insert(ip);
            }
            FailId::Net(net) if !self.networks.contains(&net) => self.networks.push(net),
            FailId::Net(_) => {}
            FailId::Raw(name) if name.is_empty() => {}
            FailId::Raw(name) if self.hosts.iter().any(|host| *host.name == *name) => {}
            FailId::Raw(name) => self.hosts.push(IgnoreHost {
                name: name.into(),
                addresses: Vec::new(),
            }),
        }
    }

    /// Adds every entry of an `ignoreip` value; entries are separated by spaces or commas.
    pub fn add_all(&mut self, value: &str) {
        let entries = value.split(|c: char| c == ',' || c.is_whitespace());
        for entry in entries.filter(|entry| !entry.is_empty()) {
            self.add(entry);
        }
    }

    /// Hostnames in the list, for the caller to resolve.
    pub fn host_names(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|host| host.name.as_str())
    }

    /// Records what hostname `name` resolves to now; unknown names are not added.
    pub fn set_host_addresses(&mut self, name: &str, addresses: impl IntoIterator<Item = IpAddr>) {
        if let Some(host) = self.hosts.iter_mut().find(|host| host.name == name) {
            host.addresses = addresses.into_iter().map(normalise).collect();
        }
    }

    /// Why `id` is ignored, checked in fail2ban's order: own address, listed address,
    /// listed subnet or hostname. Raw ids are never ignored by this list.
    pub fn reason(&self, id: &FailId) -> Option<IgnoreReason> {
        if let FailId::Ip(ip) = id {
            if self.ignore_self && self.self_addresses.contains(ip) {
                return Some(IgnoreReason::SelfAddress);
            }
            if self.addresses.contains(ip) {
                return Some(IgnoreReason::Address);
            }
        }
        if let Some(net) = self.networks.iter().find(|net| id.is_in(net)) {
            return Some(IgnoreReason::Network(*net));
        }
        let ip = id.ip()?;
        self.hosts
            .iter()
            .find(|host| host.addresses.contains(&ip))
            .map(|host| IgnoreReason::Host(host.name.clone()))
    }
}

/// Makes an address compare as a failure id does (IPv4-mapped IPv6 is IPv4).
fn normalise(ip: IpAddr) -> IpAddr {
    FailId::from(ip).ip().unwrap_or(ip)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn id(text: &str) -> FailId {
        FailId::parse(text)
    }

    fn list(value: &str) -> IgnoreList {
        let mut list = IgnoreList::new();
        list.add_all(value);
        list
    }

    #[test]
    fn single_addresses_v4_and_v6() {
        let list = list("192.0.2.1, 2001:db8::1");
        assert_eq!(list.reason(&id("192.0.2.1")), Some(IgnoreReason::Address));
        assert_eq!(list.reason(&id("2001:db8::1")), Some(IgnoreReason::Address));
        assert_eq!(list.reason(&id("192.0.2.2")), None);
        assert_eq!(list.reason(&id("2001:db8::2")), None);
    }

    #[test]
    fn cidr_v4_and_v6_and_netmask() {
        let list = list("127.0.0.1/8 2001:db8::/32 10.1.0.0/255.255.0.0");
        let loopback: IpNet = "127.0.0.0/8".parse().unwrap();
        assert_eq!(
            list.reason(&id("127.3.2.1")),
            Some(IgnoreReason::Network(loopback))
        );
        assert!(list.reason(&id("2001:db8:ffff::9")).is_some());
        assert!(list.reason(&id("10.1.200.3")).is_some());
        assert_eq!(list.reason(&id("10.2.0.1")), None);
        assert_eq!(list.reason(&id("2001:db9::1")), None);
        // an IPv4 subnet never covers an IPv6 address
        assert_eq!(list.reason(&id("::1")), None);
    }

    #[test]
    fn v4_mapped_v6_failure_matches_v4_entry() {
        let list = list("192.0.2.0/24");
        assert!(list.reason(&id("::ffff:192.0.2.7")).is_some());
    }

    #[test]
    fn hostnames_match_their_resolved_addresses() {
        let mut list = list("gateway.example");
        assert_eq!(list.host_names().collect::<Vec<_>>(), ["gateway.example"]);
        assert_eq!(list.reason(&id("198.51.100.4")), None);
        list.set_host_addresses("gateway.example", ["198.51.100.4".parse().unwrap()]);
        assert_eq!(
            list.reason(&id("198.51.100.4")),
            Some(IgnoreReason::Host("gateway.example".into()))
        );
        list.set_host_addresses("gateway.example", []);
        assert_eq!(list.reason(&id("198.51.100.4")), None);
    }

    #[test]
    fn ignore_self_needs_the_flag_and_the_addresses() {
        let mut list = IgnoreList::new();
        list.set_self_addresses(["203.0.113.5".parse().unwrap()]);
        assert_eq!(list.reason(&id("203.0.113.5")), None);
        list.set_ignore_self(true);
        assert_eq!(
            list.reason(&id("203.0.113.5")),
            Some(IgnoreReason::SelfAddress)
        );
    }

    #[test]
    fn raw_ids_are_not_ignored_by_addresses() {
        let list = list("alice 0.0.0.0/0");
        assert_eq!(list.reason(&id("alice")), None);
    }

    #[test]
    fn empty_entries_and_duplicates_are_skipped() {
        let list = list(" , 10.0.0.0/8 10.0.0.0/8 host host");
        assert_eq!(list.networks.len(), 1);
        assert_eq!(list.hosts.len(), 1);
    }
}
