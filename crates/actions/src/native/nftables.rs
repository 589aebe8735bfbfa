//! The native form of fail2ban's `nftables`, `nftables-multiport` and `nftables-allports`
//! actions: the same table, chain, sets and rules their `actionstart` makes, each set with
//! `flags timeout` so that the kernel expires an element when its ban ends.
//!
//! Every operation is one `nft -f -` transaction (see `nft.rs`); bans and unbans take whole
//! batches of elements. Knows nothing of bans: it receives networks and their end times.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::IpNet;

use super::process::{self as nft, FirewallError};
use super::{Element, Family};

/// How a rule matches the traffic of the jail (fail2ban's `rule_match-<type>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    /// `type = multiport`: one rule per protocol, `<proto> dport { <port> }`.
    Multiport {
        protocols: Vec<String>,
        port: String,
    },
    /// `type = allports`: `meta l4proto { <protocol> }`.
    Allports { protocol: String },
}

/// The names of one address family's set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetNames {
    /// `addr_set`: `addr-set-sshd`, `addr6-set-sshd`.
    pub set: String,
    /// `addr_type`: `ipv4_addr`, `ipv6_addr`.
    pub addr_type: String,
    /// `addr_family`: `ip`, `ip6` (the rule's `<addr_family> saddr`).
    pub addr_family: String,
    /// `blocktype`: the rule's verdict (`reject`, `drop`, …), which may differ by family.
    pub blocktype: String,
}

/// The resolved options of a stock nftables action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftablesSpec {
    /// `nftables`: the nft binary.
    pub binary: String,
    pub table_family: String,
    pub table: String,
    pub chain: String,
    pub chain_type: String,
    pub chain_hook: String,
    pub chain_priority: String,
    pub rule_match: RuleMatch,
    /// The stock set has `flags interval` (fail2ban 1.1); 1.0's sets have no flags.
    pub interval: bool,
    pub inet4: SetNames,
    pub inet6: SetNames,
}

/// One nftables action of a jail, with the families it has started.
#[derive(Debug)]
pub struct Nftables {
    spec: NftablesSpec,
    started: BTreeMap<Family, bool>,
}

impl Nftables {
    pub fn new(spec: NftablesSpec) -> Self {
        Nftables {
            spec,
            started: BTreeMap::new(),
        }
    }

    pub fn spec(&self) -> &NftablesSpec {
        &self.spec
    }

    pub fn is_started(&self, family: Family) -> bool {
        self.started.get(&family).copied().unwrap_or(false)
    }

    /// Makes the table, chain, set and rules of `family`. What an earlier run left of this
    /// set (its rules, the set itself) is removed in the same transaction, so a start after
    /// a crash ends with exactly one rule and an empty set, as after a clean stop.
    pub fn start(&mut self, family: Family) -> Result<(), FirewallError> {
        let existing = self.existing(family);
        let mut script = self.remove_script(family, &existing);
        self.add_script(family, &mut script);
        nft::run_script(&self.spec.binary, &script)?;
        self.started.insert(family, true);
        Ok(())
    }

    /// Adds `elements` (all of `family`) to its set in one transaction; `now` is the Unix
    /// time their end times are measured from.
    pub fn add(
        &mut self,
        family: Family,
        elements: &[Element],
        now: i64,
    ) -> Result<(), FirewallError> {
        if elements.is_empty() {
            return Ok(());
        }
        if !self.is_started(family) {
            self.start(family)?;
        }
        let mut script = String::with_capacity(elements.len() * 32 + 128);
        self.element_line(&mut script, "add", family, elements, Some(now));
        nft::run_script(&self.spec.binary, &script).map(drop)
    }

    /// Sets the elements anew (a reban: a fresh timeout for an element already present).
    pub fn replace(
        &mut self,
        family: Family,
        elements: &[Element],
        now: i64,
    ) -> Result<(), FirewallError> {
        if elements.is_empty() {
            return Ok(());
        }
        if !self.is_started(family) {
            self.start(family)?;
        }
        let mut script = String::new();
        self.element_line(&mut script, "add", family, elements, None);
        self.element_line(&mut script, "delete", family, elements, None);
        self.element_line(&mut script, "add", family, elements, Some(now));
        nft::run_script(&self.spec.binary, &script).map(drop)
    }

    /// Removes `elements` in one transaction. Each is added first (a no-op when present):
    /// an element the kernel already expired would otherwise make the whole batch fail.
    pub fn remove(&mut self, family: Family, elements: &[Element]) -> Result<(), FirewallError> {
        if elements.is_empty() || !self.is_started(family) {
            return Ok(());
        }
        let mut script = String::with_capacity(elements.len() * 40 + 128);
        self.element_line(&mut script, "add", family, elements, None);
        self.element_line(&mut script, "delete", family, elements, None);
        nft::run_script(&self.spec.binary, &script).map(drop)
    }

    /// Empties the set of every started family (fail2ban's `actionflush`).
    pub fn flush(&mut self) -> Result<(), FirewallError> {
        let mut script = String::new();
        for family in self.started_families() {
            let spec = &self.spec;
            let set = &self.names(family).set;
            let _ = writeln!(
                script,
                "flush set {} {} {set}",
                spec.table_family, spec.table
            );
        }
        if script.is_empty() {
            return Ok(());
        }
        nft::run_script(&self.spec.binary, &script).map(drop)
    }

    /// Removes the rules and set of every started family, and the table when no set is
    /// left in it (fail2ban's `actionstop` with `_nft_shutdown_table`).
    pub fn stop(&mut self) -> Result<(), FirewallError> {
        let families = self.started_families();
        self.started.clear();
        self.stop_families(&families)
    }

    /// After an unclean stop: removes whatever an earlier run left of this action's sets.
    pub fn clean_up(&mut self) -> Result<(), FirewallError> {
        self.stop_families(&[Family::Inet4, Family::Inet6])
    }

    /// fail2ban's `actioncheck`: the chain has a rule on the family's set. False when the
    /// table, chain, set or rule is gone.
    pub fn check(&self, family: Family) -> bool {
        let existing = self.existing(family);
        existing.set && !existing.rule_handles.is_empty()
    }

    /// The started families.
    pub fn started_families(&self) -> Vec<Family> {
        self.started
            .iter()
            .filter(|(_, started)| **started)
            .map(|(family, _)| *family)
            .collect()
    }

    /// Forgets that `family` was started (it is broken and restarts at its next ban).
    pub fn mark_stopped(&mut self, family: Family) {
        self.started.insert(family, false);
    }

    /// The elements of `family`'s set as the kernel holds them.
    pub fn list(&self, family: Family) -> Result<Vec<IpNet>, FirewallError> {
        let spec = &self.spec;
        let set = &self.names(family).set;
        let text = nft::run(
            &spec.binary,
            &["list", "set", &spec.table_family, &spec.table, set],
            None,
        )?;
        Ok(parse_elements(&text))
    }

    fn stop_families(&self, families: &[Family]) -> Result<(), FirewallError> {
        let mut script = String::new();
        for family in families {
            let existing = self.existing(*family);
            script.push_str(&self.remove_script(*family, &existing));
        }
        if !script.is_empty() {
            nft::run_script(&self.spec.binary, &script)?;
        }
        // Looked at after our own sets are gone: of jails stopping side by side, the last
        // one sees no set left and removes the table. Failing here (another jail made a
        // set meanwhile) leaves the table, as it should.
        if self.set_count() == Some(0) {
            let delete = format!(
                "delete table {} {}\n",
                self.spec.table_family, self.spec.table
            );
            let _ = nft::run_script(&self.spec.binary, &delete);
        }
        Ok(())
    }

    /// How many sets the table holds; `None` without the table.
    fn set_count(&self) -> Option<usize> {
        let spec = &self.spec;
        let text = nft::run(
            &spec.binary,
            &["list", "table", &spec.table_family, &spec.table],
            None,
        )
        .ok()?;
        let sets = text.lines().filter(|line| line.trim().starts_with("set "));
        Some(sets.count())
    }

    fn names(&self, family: Family) -> &SetNames {
        match family {
            Family::Inet4 => &self.spec.inet4,
            Family::Inet6 => &self.spec.inet6,
        }
    }

    /// What of `family`'s set and its rules the kernel holds now.
    fn existing(&self, family: Family) -> Existing {
        let spec = &self.spec;
        let set = &self.names(family).set;
        let listing = nft::run(
            &spec.binary,
            &["-a", "list", "table", &spec.table_family, &spec.table],
            None,
        )
        .unwrap_or_default();
        parse_existing(&listing, &spec.chain, set)
    }

    /// Deletes the rules on `family`'s set and the set, where they exist.
    fn remove_script(&self, family: Family, existing: &Existing) -> String {
        let spec = &self.spec;
        let set = &self.names(family).set;
        let mut script = String::new();
        for handle in &existing.rule_handles {
            let _ = writeln!(
                script,
                "delete rule {} {} {} handle {handle}",
                spec.table_family, spec.table, spec.chain
            );
        }
        if existing.set {
            let _ = writeln!(
                script,
                "delete set {} {} {set}",
                spec.table_family, spec.table
            );
        }
        script
    }

    /// fail2ban's `actionstart`, with `flags timeout` on the set.
    fn add_script(&self, family: Family, script: &mut String) {
        let spec = &self.spec;
        let names = self.names(family);
        let (table_family, table, chain) = (&spec.table_family, &spec.table, &spec.chain);
        let _ = writeln!(script, "add table {table_family} {table}");
        let _ = writeln!(
            script,
            "add chain {table_family} {table} {chain} {{ type {} hook {} priority {} ; }}",
            spec.chain_type, spec.chain_hook, spec.chain_priority
        );
        // The one difference from the stock set: `timeout`, so the kernel ends each ban
        // with an end on its own. `interval` as the stock set has it (fail2ban 1.1).
        let flags = if spec.interval {
            "interval, timeout"
        } else {
            "timeout"
        };
        let _ = writeln!(
            script,
            "add set {table_family} {table} {} {{ type {} ; flags {flags} ; }}",
            names.set, names.addr_type
        );
        let statement = format!(
            "{} saddr @{} {}",
            names.addr_family, names.set, names.blocktype
        );
        match &spec.rule_match {
            RuleMatch::Multiport { protocols, port } => {
                for protocol in protocols {
                    let _ = writeln!(
                        script,
                        "add rule {table_family} {table} {chain} {protocol} dport {{ {} }} {statement}",
                        port.replace(':', "-")
                    );
                }
            }
            RuleMatch::Allports { protocol } => {
                let _ = writeln!(
                    script,
                    "add rule {table_family} {table} {chain} meta l4proto {{ {protocol} }} {statement}"
                );
            }
        }
    }

    /// `<verb> element … { a timeout 600s, b, … }`; timeouts only when `now` is given.
    fn element_line(
        &self,
        script: &mut String,
        verb: &str,
        family: Family,
        elements: &[Element],
        now: Option<i64>,
    ) {
        let spec = &self.spec;
        let _ = write!(
            script,
            "{verb} element {} {} {} {{ ",
            spec.table_family,
            spec.table,
            self.names(family).set
        );
        for (index, element) in elements.iter().enumerate() {
            if index > 0 {
                script.push_str(", ");
            }
            write_network(script, &element.network);
            if let (Some(now), Some(end)) = (now, element.end) {
                // The kernel counts from now; an end already passed still gets a second,
                // ferroban's own unban follows at once.
                let _ = write!(script, " timeout {}s", (end - now).max(1));
            }
        }
        script.push_str(" }\n");
    }
}

impl super::SetBackend for Nftables {
    fn is_started(&self, family: Family) -> bool {
        Nftables::is_started(self, family)
    }
    fn mark_stopped(&mut self, family: Family) {
        Nftables::mark_stopped(self, family);
    }
    fn start(&mut self, family: Family) -> Result<(), FirewallError> {
        Nftables::start(self, family)
    }
    fn add(&mut self, family: Family, elements: &[Element], now: i64) -> Result<(), FirewallError> {
        Nftables::add(self, family, elements, now)
    }
    fn replace(
        &mut self,
        family: Family,
        elements: &[Element],
        now: i64,
    ) -> Result<(), FirewallError> {
        Nftables::replace(self, family, elements, now)
    }
    fn remove(&mut self, family: Family, elements: &[Element]) -> Result<(), FirewallError> {
        Nftables::remove(self, family, elements)
    }
    fn flush(&mut self) -> Result<(), FirewallError> {
        Nftables::flush(self)
    }
    fn stop(&mut self) -> Result<(), FirewallError> {
        Nftables::stop(self)
    }
    fn clean_up(&mut self) -> Result<(), FirewallError> {
        Nftables::clean_up(self)
    }
    fn check(&self, family: Family) -> bool {
        Nftables::check(self, family)
    }
    fn started_families(&self) -> Vec<Family> {
        Nftables::started_families(self)
    }
    fn list(&self, family: Family) -> Result<Vec<IpNet>, FirewallError> {
        Nftables::list(self, family)
    }
}

/// A single address as the address, a network as `address/prefix`.
fn write_network(script: &mut String, network: &IpNet) {
    if network.prefix_len() == network.max_prefix_len() {
        let _ = write!(script, "{}", network.addr());
    } else {
        let _ = write!(script, "{}", network.trunc());
    }
}

/// What `nft -a list table` shows of one set and the rules using it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Existing {
    set: bool,
    rule_handles: Vec<u64>,
}

fn parse_existing(listing: &str, chain: &str, set: &str) -> Existing {
    let mut existing = Existing::default();
    let mut in_chain = false;
    let reference = format!("@{set} ");
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("set ") {
            existing.set |= rest.split_whitespace().next() == Some(set);
        } else if let Some(rest) = line.strip_prefix("chain ") {
            in_chain = rest.split_whitespace().next() == Some(chain);
        } else if in_chain && line.contains(&reference) {
            let handle = line.rsplit_once("# handle ").map(|(_, h)| h.trim());
            existing
                .rule_handles
                .extend(handle.and_then(|h| h.parse::<u64>().ok()));
        }
    }
    existing
}

/// The elements of `nft list set` output: `elements = { 10.0.0.1 timeout 10m expires 9m,
/// 10.0.1.0/24, … }`, spread over lines.
fn parse_elements(text: &str) -> Vec<IpNet> {
    let Some((_, rest)) = text.split_once("elements = {") else {
        return Vec::new();
    };
    let body = rest.split_once('}').map_or(rest, |(body, _)| body);
    body.split(',')
        .filter_map(|item| item.split_whitespace().next())
        .filter_map(super::parse_element_word)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn existing_rules_and_set_are_found_by_name() {
        let listing = "table inet f2b-table {\n\tset addr-set-sshd {\n\t\ttype ipv4_addr\n\t}\n\
            \tset addr-set-other {\n\t}\n\tchain f2b-chain { # handle 1\n\
            \t\ttcp dport { 22 } ip saddr @addr-set-sshd reject # handle 4\n\
            \t\ttcp dport { 25 } ip saddr @addr-set-other reject # handle 5\n\t}\n}\n";
        let found = parse_existing(listing, "f2b-chain", "addr-set-sshd");
        assert_eq!(
            found,
            Existing {
                set: true,
                rule_handles: vec![4]
            }
        );
        assert_eq!(
            parse_existing(listing, "f2b-chain", "addr6-set-sshd"),
            Existing::default()
        );
    }

    #[test]
    fn elements_of_a_listing() {
        let text = "table inet t {\n\tset s {\n\t\ttype ipv4_addr\n\t\tflags interval,timeout\n\
            \t\telements = { 10.0.0.1 timeout 10m expires 9m59s,\n\t\t\t     10.0.1.0/24 }\n\t}\n}\n";
        let parsed: Vec<String> = parse_elements(text).iter().map(|n| n.to_string()).collect();
        assert_eq!(parsed, ["10.0.0.1/32", "10.0.1.0/24"]);
    }

    #[test]
    fn element_lines_carry_remaining_time() {
        let action = Nftables::new(NftablesSpec {
            binary: "nft".into(),
            table_family: "inet".into(),
            table: "f2b-table".into(),
            chain: "f2b-chain".into(),
            chain_type: "filter".into(),
            chain_hook: "input".into(),
            chain_priority: "-1".into(),
            rule_match: RuleMatch::Allports {
                protocol: "tcp".into(),
            },
            interval: false,
            inet4: SetNames {
                set: "addr-set-sshd".into(),
                addr_type: "ipv4_addr".into(),
                addr_family: "ip".into(),
                blocktype: "reject".into(),
            },
            inet6: SetNames {
                set: "addr6-set-sshd".into(),
                addr_type: "ipv6_addr".into(),
                addr_family: "ip6".into(),
                blocktype: "reject".into(),
            },
        });
        let elements = [
            Element {
                network: "192.0.2.1/32".parse().unwrap(),
                end: Some(1600),
            },
            Element {
                network: "198.51.100.7/24".parse().unwrap(),
                end: None,
            },
        ];
        let mut script = String::new();
        action.element_line(&mut script, "add", Family::Inet4, &elements, Some(1000));
        assert_eq!(
            script,
            "add element inet f2b-table addr-set-sshd { 192.0.2.1 timeout 600s, 198.51.100.0/24 }\n"
        );
    }
}
