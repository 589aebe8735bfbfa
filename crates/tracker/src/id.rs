//! The key a jail counts failures and bans under: fail2ban's `IPAddr` ticket id.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// What failures and bans are keyed by.
///
/// fail2ban's `IPAddr` is one type with three faces, and so is this: a single address
/// (`<HOST>` resolved, `<ADDR>`), a subnet (`banip 10.0.0.0/24`, `<CIDR>`), or a raw
/// failure id that is not an address at all (`<F-ID>`, a user name, a hostname kept as text
/// when `usedns = no`). Addresses are normalised the way fail2ban does: an IPv4-mapped IPv6
/// address becomes the IPv4 address, and a subnet whose prefix covers the whole address
/// becomes that address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailId {
    /// One IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A subnet, host bits cleared.
    Net(IpNet),
    /// A failure id that is not an address, kept verbatim.
    Raw(Box<str>),
}

impl FailId {
    /// Reads an id the way fail2ban's `IPAddr(text)` does: `[v6]` brackets are dropped, an
    /// address or `address/prefix` (also `address/255.255.255.0` mask style) becomes
    /// [`FailId::Ip`] or [`FailId::Net`], anything else stays [`FailId::Raw`].
    pub fn parse(text: &str) -> FailId {
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .filter(|inner| !inner.is_empty())
            .unwrap_or(text);
        match unbracketed.split_once('/') {
            None => match unbracketed.parse::<IpAddr>() {
                Ok(ip) => FailId::from(ip),
                Err(_) => FailId::Raw(text.into()),
            },
            Some((addr, prefix)) => match parse_net(addr, prefix) {
                Some(net) => FailId::from(net),
                None => FailId::Raw(text.into()),
            },
        }
    }

    /// The address, when this id is a single address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            FailId::Ip(ip) => Some(*ip),
            FailId::Net(_) | FailId::Raw(_) => None,
        }
    }

    /// fail2ban's `isInNet`: an address inside `net`, or a subnet whose network address
    /// lies inside `net`. A raw id is in no network.
    pub fn is_in(&self, net: &IpNet) -> bool {
        match self {
            FailId::Ip(ip) => net.contains(ip),
            FailId::Net(own) => net.contains(&own.network()),
            FailId::Raw(_) => false,
        }
    }

    /// fail2ban's `contains`, with `self` taken as a network: equal ids, or `other` inside
    /// this subnet. Used by `unbanip 10.0.0.0/8` to find the bans it covers.
    pub fn contains(&self, other: &FailId) -> bool {
        match self {
            FailId::Net(net) => self == other || other.is_in(net),
            FailId::Ip(_) | FailId::Raw(_) => self == other,
        }
    }
}

/// Reads `prefix` as a length or a netmask; `None` when it is neither.
fn parse_net(addr: &str, prefix: &str) -> Option<IpNet> {
    let addr: IpAddr = addr.parse().ok()?;
    let length = match prefix.parse::<u8>() {
        Ok(length) => length,
        Err(_) => mask_to_prefix(prefix.parse().ok()?)?,
    };
    IpNet::new(addr, length).ok()
}

fn mask_to_prefix(mask: IpAddr) -> Option<u8> {
    match mask {
        IpAddr::V4(mask) => ipnet::ipv4_mask_to_prefix(mask).ok(),
        IpAddr::V6(mask) => ipnet::ipv6_mask_to_prefix(mask).ok(),
    }
}

impl From<IpAddr> for FailId {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => FailId::Ip(IpAddr::V4(v4)),
                None => FailId::Ip(ip),
            },
            IpAddr::V4(_) => FailId::Ip(ip),
        }
    }
}

impl From<IpNet> for FailId {
    fn from(net: IpNet) -> Self {
        if net.prefix_len() == net.max_prefix_len() {
            FailId::Ip(net.addr())
        } else {
            FailId::Net(net.trunc())
        }
    }
}

impl fmt::Display for FailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailId::Ip(ip) => ip.fmt(f),
            FailId::Net(net) => net.fmt(f),
            FailId::Raw(raw) => f.write_str(raw),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn parse_reads_addresses_subnets_and_raw_ids() {
        assert_eq!(
            FailId::parse("192.0.2.1"),
            FailId::Ip("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            FailId::parse("[2001:db8::1]"),
            FailId::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(FailId::parse("10.1.2.3/8"), FailId::Net(net("10.0.0.0/8")));
        assert_eq!(
            FailId::parse("10.1.2.3/255.255.0.0"),
            FailId::Net(net("10.1.0.0/16"))
        );
        assert_eq!(
            FailId::parse("2001:db8::7/32"),
            FailId::Net(net("2001:db8::/32"))
        );
        assert_eq!(FailId::parse("alice"), FailId::Raw("alice".into()));
        assert_eq!(
            FailId::parse("host.example"),
            FailId::Raw("host.example".into())
        );
        assert_eq!(
            FailId::parse("10.0.0.1/abc"),
            FailId::Raw("10.0.0.1/abc".into())
        );
        assert_eq!(
            FailId::parse("10.0.0.1/33"),
            FailId::Raw("10.0.0.1/33".into())
        );
    }

    #[test]
    fn parse_normalises_like_fail2ban() {
        // An IPv4-mapped IPv6 address is the IPv4 host, a /32 is the single address.
        assert_eq!(
            FailId::parse("::ffff:192.0.2.9"),
            FailId::parse("192.0.2.9")
        );
        assert_eq!(FailId::parse("192.0.2.9/32"), FailId::parse("192.0.2.9"));
        assert_eq!(
            FailId::parse("2001:db8::1/128"),
            FailId::parse("2001:db8::1")
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "192.0.2.1",
            "2001:db8::1",
            "10.0.0.0/8",
            "2001:db8::/32",
            "alice",
        ] {
            assert_eq!(FailId::parse(text).to_string(), text);
        }
    }

    #[test]
    fn is_in_and_contains_follow_is_in_net() {
        let subnet = FailId::parse("10.0.0.0/8");
        assert!(FailId::parse("10.9.8.7").is_in(&net("10.0.0.0/8")));
        assert!(!FailId::parse("11.9.8.7").is_in(&net("10.0.0.0/8")));
        assert!(!FailId::parse("2001:db8::1").is_in(&net("10.0.0.0/8")));
        assert!(FailId::parse("10.1.0.0/16").is_in(&net("10.0.0.0/8")));
        assert!(!FailId::parse("alice").is_in(&net("0.0.0.0/0")));
        assert!(subnet.contains(&FailId::parse("10.2.3.4")));
        assert!(subnet.contains(&subnet));
        assert!(!FailId::parse("10.2.3.4").contains(&FailId::parse("10.2.3.5")));
    }
}
