//! fail2ban's `IPAddr` text form: how an address captured in a line is written as an id
//! (masked to its `cidr`, IPv4-mapped IPv6 shown as IPv4, anything else kept raw).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which families `IPAddr` tries (`FAM_IPv4`/`FAM_IPv6` restrict it, `CIDR_UNSPEC` does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
    Any,
}

/// `str(IPAddr(text, cidr))`; `cidr` is the captured prefix length, if any.
pub(crate) fn ip_text(text: &str, cidr: Option<u32>, family: Family) -> String {
    let family = if cidr.is_some() { Family::Any } else { family };
    let parsed = match family {
        Family::V4 => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        Family::V6 => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        Family::Any => text.parse::<IpAddr>().ok(),
    };
    match parsed {
        Some(IpAddr::V4(addr)) => v4_text(u32::from(addr), cidr.unwrap_or(32)),
        Some(IpAddr::V6(addr)) => v6_text(addr, cidr),
        None => text.to_string(),
    }
}

fn v4_text(addr: u32, plen: u32) -> String {
    let mask = !0xFFFF_FFFFu32.checked_shr(plen).unwrap_or(0);
    let addr = Ipv4Addr::from(addr & mask);
    if plen > 0 && plen < 32 {
        format!("{addr}/{plen}")
    } else {
        addr.to_string()
    }
}

fn v6_text(addr: Ipv6Addr, cidr: Option<u32>) -> String {
    let bits = u128::from(addr);
    match cidr {
        Some(plen) => {
            let mask = !u128::MAX.checked_shr(plen).unwrap_or(0);
            let masked = Ipv6Addr::from(bits & mask);
            if plen > 0 && plen < 128 {
                format!("{masked}/{plen}")
            } else {
                masked.to_string()
            }
        }
        // IPv4-mapped (::ffff:0:0/96) becomes the IPv4 address.
        None if bits >> 32 == 0xFFFF => Ipv4Addr::from(bits as u32).to_string(),
        None => addr.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_like_ipaddr() {
        assert_eq!(ip_text("192.0.2.7", None, Family::V4), "192.0.2.7");
        assert_eq!(ip_text("192.0.2.7", Some(24), Family::V4), "192.0.2.0/24");
        assert_eq!(
            ip_text("2001:DB8:0:0:0:0:0:1", None, Family::V6),
            "2001:db8::1"
        );
        assert_eq!(
            ip_text("2001:db8::1", Some(64), Family::V6),
            "2001:db8::/64"
        );
        assert_eq!(ip_text("::ffff:192.0.2.1", None, Family::Any), "192.0.2.1");
        assert_eq!(ip_text("999.1.1.1", None, Family::V4), "999.1.1.1");
        assert_eq!(ip_text("host.example", None, Family::Any), "host.example");
    }
}
