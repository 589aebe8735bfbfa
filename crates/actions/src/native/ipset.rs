//! The native form of fail2ban's `iptables-ipset` family (`iptables-ipset`,
//! `iptables-ipset-proto6`, `iptables-ipset-proto6-allports`, `iptables-ipset-proto4`): the
//! same sets (`f2b-<name>`, `f2b-<name>6`) and the same iptables/ip6tables rules their
//! `actionstart` makes, each element with its ban's remaining time as its ipset `timeout`,
//! so the kernel expires it when the ban ends.
//!
//! Elements go in and out as one `ipset -exist restore` per batch (see `process.rs` for why
//! not netlink); the rules are a few `iptables -C`/`-I`/`-D` calls at start and stop, with
//! arguments passed as words, never through a shell. Knows nothing of bans.

use std::fmt::Write as _;

use ipnet::IpNet;

use super::process::{self, FirewallError};
use super::{Element, Family};

/// ipset's largest timeout (seconds); a longer ban is an element without one (`0`), which
/// ferroban removes on time itself (fail2ban's `timeout-bantime`).
pub const MAX_TIMEOUT: i64 = 2_147_483;

/// How the rule matches the jail's traffic (iptables.conf's `type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMatch {
    /// `-p $proto --dport <port>`.
    Oneport(String),
    /// `-p $proto -m multiport --dports <port>`.
    Multiport(String),
    /// `-p $proto`.
    Allports,
}

/// One address family's set and rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsetFamily {
    /// `ipmset`: `f2b-sshd`, `f2b-sshd6`.
    pub set: String,
    /// `familyopt` as words: none, or `family inet6`.
    pub family_opt: Vec<String>,
    /// `iptables` as words: `iptables -w`, `ip6tables -w`.
    pub iptables: Vec<String>,
    /// `blocktype` as words: `REJECT --reject-with icmp-port-unreachable`.
    pub blocktype: Vec<String>,
}

/// The resolved options of a stock ipset action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsetSpec {
    /// The ipset binary.
    pub binary: String,
    pub chain: String,
    /// `protocol`, split at commas as the stock `for proto in …` loop does.
    pub protocols: Vec<String>,
    pub port_match: PortMatch,
    /// fail2ban 1.1's `maxelem <maxelem>` on `create`; ipset's own default (65536) else.
    pub maxelem: Option<String>,
    pub inet4: IpsetFamily,
    /// `None` for `iptables-ipset-proto4`, whose `iphash` set holds IPv4 only.
    pub inet6: Option<IpsetFamily>,
}

/// One ipset action of a jail, with the families it has started.
#[derive(Debug)]
pub struct Ipset {
    spec: IpsetSpec,
    started: [bool; 2],
}

impl Ipset {
    pub fn new(spec: IpsetSpec) -> Self {
        Ipset {
            spec,
            started: [false; 2],
        }
    }

    pub fn spec(&self) -> &IpsetSpec {
        &self.spec
    }

    fn family(&self, family: Family) -> Result<&IpsetFamily, FirewallError> {
        match family {
            Family::Inet4 => Ok(&self.spec.inet4),
            Family::Inet6 => self.spec.inet6.as_ref().ok_or(FirewallError::Unsupported {
                what: "IPv6 in an iptables-ipset-proto4 set (IPv4 only)",
            }),
        }
    }

    /// `create` the set (kept when it exists, emptied of what an earlier run left) and
    /// insert each rule not already there, as the stock `actionstart`.
    fn start_family(&self, family: Family) -> Result<(), FirewallError> {
        let names = self.family(family)?;
        let mut script = format!("create {} hash:ip", names.set);
        for word in &names.family_opt {
            let _ = write!(script, " {word}");
        }
        script.push_str(" timeout 0");
        if let Some(maxelem) = &self.spec.maxelem {
            let _ = write!(script, " maxelem {maxelem}");
        }
        let _ = writeln!(script, "\nflush {}", names.set);
        self.restore(&script)?;
        for rule in self.rules(names) {
            if self.iptables(names, "-C", &rule).is_err() {
                self.iptables(names, "-I", &rule)?;
            }
        }
        Ok(())
    }

    /// The rule per protocol, after the chain: `-p tcp -m multiport --dports 22 -m set
    /// --match-set f2b-sshd src -j REJECT …`.
    fn rules(&self, names: &IpsetFamily) -> Vec<Vec<String>> {
        let spec = &self.spec;
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        spec.protocols
            .iter()
            .map(|protocol| {
                let mut rule = words(&["-p", protocol]);
                match &spec.port_match {
                    PortMatch::Oneport(port) => rule.extend(words(&["--dport", port])),
                    PortMatch::Multiport(port) => {
                        rule.extend(words(&["-m", "multiport", "--dports", port]));
                    }
                    PortMatch::Allports => {}
                }
                rule.extend(words(&[
                    "-m",
                    "set",
                    "--match-set",
                    &names.set,
                    "src",
                    "-j",
                ]));
                rule.extend(names.blocktype.iter().cloned());
                rule
            })
            .collect()
    }

    /// `iptables -w <verb> <chain> <rule…>`.
    fn iptables(
        &self,
        names: &IpsetFamily,
        verb: &str,
        rule: &[String],
    ) -> Result<String, FirewallError> {
        let Some((binary, options)) = names.iptables.split_first() else {
            return Err(FirewallError::Unsupported {
                what: "an empty iptables command",
            });
        };
        let mut args: Vec<&str> = options.iter().map(String::as_str).collect();
        args.extend([verb, self.spec.chain.as_str()]);
        args.extend(rule.iter().map(String::as_str));
        process::run(binary, &args, None)
    }

    fn restore(&self, script: &str) -> Result<String, FirewallError> {
        process::run(&self.spec.binary, &["-exist", "restore"], Some(script))
    }

    /// Deletes the rules (each as often as it is there) and the set, where they exist.
    fn remove_family(&self, family: Family) -> Result<(), FirewallError> {
        let names = self.family(family)?;
        for rule in self.rules(names) {
            // A rule inserted twice (two starts of the stock commands) is deleted twice.
            for _ in 0..16 {
                if self.iptables(names, "-D", &rule).is_err() {
                    break;
                }
            }
        }
        if self.has_set(names) {
            self.restore(&format!("flush {0}\ndestroy {0}\n", names.set))?;
        }
        Ok(())
    }

    fn has_set(&self, names: &IpsetFamily) -> bool {
        let args = ["list", names.set.as_str(), "-n"];
        process::run(&self.spec.binary, &args, None).is_ok()
    }

    /// `add`/`del` lines of `elements` to `family`'s set.
    fn element_lines(
        &self,
        family: Family,
        verb: &str,
        elements: &[Element],
        now: Option<i64>,
    ) -> Result<String, FirewallError> {
        let set = &self.family(family)?.set;
        let mut script = String::with_capacity(elements.len() * (set.len() + 32));
        for element in elements {
            let _ = write!(script, "{verb} {set} ");
            write_network(&mut script, &element.network);
            if let Some(now) = now {
                let _ = write!(script, " timeout {}", timeout(element.end, now));
            }
            script.push('\n');
        }
        Ok(script)
    }
}

impl super::SetBackend for Ipset {
    fn is_started(&self, family: Family) -> bool {
        self.started[family.index()]
    }

    fn mark_stopped(&mut self, family: Family) {
        self.started[family.index()] = false;
    }

    fn start(&mut self, family: Family) -> Result<(), FirewallError> {
        self.start_family(family)?;
        self.started[family.index()] = true;
        Ok(())
    }

    /// Adds (or, with `-exist`, renews the timeout of) every element.
    fn add(&mut self, family: Family, elements: &[Element], now: i64) -> Result<(), FirewallError> {
        if elements.is_empty() {
            return Ok(());
        }
        if !self.is_started(family) {
            self.start(family)?;
        }
        let script = self.element_lines(family, "add", elements, Some(now))?;
        self.restore(&script).map(drop)
    }

    fn replace(
        &mut self,
        family: Family,
        elements: &[Element],
        now: i64,
    ) -> Result<(), FirewallError> {
        self.add(family, elements, now)
    }

    /// Deletes the elements; one the kernel already expired is no error (`-exist`).
    fn remove(&mut self, family: Family, elements: &[Element]) -> Result<(), FirewallError> {
        if elements.is_empty() || !self.is_started(family) {
            return Ok(());
        }
        let script = self.element_lines(family, "del", elements, None)?;
        self.restore(&script).map(drop)
    }

    fn flush(&mut self) -> Result<(), FirewallError> {
        let mut script = String::new();
        for family in self.started_families() {
            let _ = writeln!(script, "flush {}", self.family(family)?.set);
        }
        if script.is_empty() {
            return Ok(());
        }
        self.restore(&script).map(drop)
    }

    fn stop(&mut self) -> Result<(), FirewallError> {
        let families = self.started_families();
        self.started = [false; 2];
        let mut first = Ok(());
        for family in families {
            let result = self.remove_family(family);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    fn clean_up(&mut self) -> Result<(), FirewallError> {
        let mut first = Ok(());
        for family in self.families() {
            let result = self.remove_family(family);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    /// The stock `actioncheck` (every rule is there) and the set exists.
    fn check(&self, family: Family) -> bool {
        let Ok(names) = self.family(family) else {
            return false;
        };
        self.has_set(names)
            && self
                .rules(names)
                .iter()
                .all(|rule| self.iptables(names, "-C", rule).is_ok())
    }

    fn started_families(&self) -> Vec<Family> {
        self.families()
            .into_iter()
            .filter(|family| self.is_started(*family))
            .collect()
    }

    fn families(&self) -> Vec<Family> {
        let mut families = vec![Family::Inet4];
        if self.spec.inet6.is_some() {
            families.push(Family::Inet6);
        }
        families
    }

    fn list(&self, family: Family) -> Result<Vec<IpNet>, FirewallError> {
        let set = &self.family(family)?.set;
        let text = process::run(&self.spec.binary, &["list", set], None)?;
        Ok(parse_members(&text))
    }
}

/// The ipset `timeout` of an element: the seconds left of its ban (at least one: an end
/// already passed is unbanned by ferroban at once), `0` (none) for a permanent ban or one
/// beyond ipset's limit.
fn timeout(end: Option<i64>, now: i64) -> i64 {
    match end {
        Some(end) if end - now <= MAX_TIMEOUT => (end - now).max(1),
        _ => 0,
    }
}

fn write_network(script: &mut String, network: &IpNet) {
    if network.prefix_len() == network.max_prefix_len() {
        let _ = write!(script, "{}", network.addr());
    } else {
        let _ = write!(script, "{}", network.trunc());
    }
}

/// The members of `ipset list SET`: the lines after `Members:`, first word each.
fn parse_members(text: &str) -> Vec<IpNet> {
    let Some((_, members)) = text.split_once("Members:") else {
        return Vec::new();
    };
    members
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(super::parse_element_word)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(port_match: PortMatch) -> IpsetSpec {
        IpsetSpec {
            binary: "ipset".into(),
            chain: "INPUT".into(),
            protocols: vec!["tcp".into(), "udp".into()],
            port_match,
            maxelem: None,
            inet4: IpsetFamily {
                set: "f2b-sshd".into(),
                family_opt: vec![],
                iptables: vec!["iptables".into(), "-w".into()],
                blocktype: vec!["REJECT".into(), "--reject-with".into(), "x".into()],
            },
            inet6: None,
        }
    }

    #[test]
    fn rules_follow_the_port_match_type() {
        let action = Ipset::new(spec(PortMatch::Multiport("22,80".into())));
        let rules = action.rules(&action.spec.inet4);
        assert_eq!(
            rules[1].join(" "),
            "-p udp -m multiport --dports 22,80 -m set --match-set f2b-sshd src -j REJECT --reject-with x"
        );
        let action = Ipset::new(spec(PortMatch::Allports));
        assert_eq!(
            action.rules(&action.spec.inet4)[0].join(" "),
            "-p tcp -m set --match-set f2b-sshd src -j REJECT --reject-with x"
        );
    }

    #[test]
    fn element_lines_carry_remaining_time_within_ipsets_limit() {
        let action = Ipset::new(spec(PortMatch::Allports));
        let elements = [
            Element {
                network: "192.0.2.1/32".parse().unwrap(),
                end: Some(1600),
            },
            Element {
                network: "198.51.100.7/24".parse().unwrap(),
                end: None,
            },
            Element {
                network: "192.0.2.2/32".parse().unwrap(),
                end: Some(1000 + MAX_TIMEOUT + 1),
            },
        ];
        let script = action
            .element_lines(Family::Inet4, "add", &elements, Some(1000))
            .unwrap();
        assert_eq!(
            script,
            "add f2b-sshd 192.0.2.1 timeout 600\nadd f2b-sshd 198.51.100.0/24 timeout 0\n\
             add f2b-sshd 192.0.2.2 timeout 0\n"
        );
        assert!(
            action
                .element_lines(Family::Inet6, "add", &elements, None)
                .is_err(),
            "a proto4 set takes no IPv6"
        );
    }

    #[test]
    fn members_of_a_listing() {
        let text = "Name: f2b-sshd\nType: hash:ip\nHeader: family inet hashsize 1024 maxelem 65536 timeout 0\n\
            Number of entries: 2\nMembers:\n192.0.2.1 timeout 598\n2001:db8::1 timeout 0\n";
        let parsed: Vec<String> = parse_members(text).iter().map(|n| n.to_string()).collect();
        assert_eq!(parsed, ["192.0.2.1/32", "2001:db8::1/128"]);
    }
}
