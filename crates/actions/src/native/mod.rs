//! Native firewall backends: fail2ban's stock set-based actions applied in-process, many
//! bans per transaction, instead of one `/bin/sh` and one `nft` per ban.
//!
//! `stock.rs` (nftables) and `stock_ipset.rs` (iptables-ipset) decide, per action, whether
//! its commands are the stock ones (then it runs here) or the user's own (then `command.rs`
//! runs them, as ever). The backends, `nftables.rs` and `ipset.rs`, take networks and end
//! times ([`Element`]), never a ban: each operation is one `nft -f -` transaction or one
//! `ipset -exist restore` batch (`process.rs`). [`NativeAction`] is the adapter between a
//! jail's [`BanInfo`]s and a [`SetBackend`], with fail2ban's check-and-repair around each
//! operation (`actioncheck`, then a restart of the family, then one more try).

mod ipset;
mod nftables;
mod process;
mod stock;
mod stock_ipset;

use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

pub use ipset::{Ipset, IpsetFamily, IpsetSpec, PortMatch};
pub use nftables::{Nftables, NftablesSpec, RuleMatch, SetNames};
pub use process::FirewallError;
pub use stock::{Choice, choose};

use crate::dynamic::BanInfo;
use crate::error::ActionError;

/// One element of a set: a network (a single address is a /32 or /128) and the Unix time
/// its ban ends (`None`: permanent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    pub network: IpNet,
    pub end: Option<i64>,
}

/// fail2ban's address families, one set each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Inet4,
    Inet6,
}

impl Family {
    fn index(self) -> usize {
        match self {
            Family::Inet4 => 0,
            Family::Inet6 => 1,
        }
    }

    pub fn of(network: &IpNet) -> Family {
        match network {
            IpNet::V4(_) => Family::Inet4,
            IpNet::V6(_) => Family::Inet6,
        }
    }
}

/// A firewall holding one set per family, its elements added and removed in batches.
pub trait SetBackend: std::fmt::Debug + Send {
    fn is_started(&self, family: Family) -> bool;
    /// Forgets that `family` was started (it is broken and restarts at its next ban).
    fn mark_stopped(&mut self, family: Family);
    /// Makes `family`'s set and rules (the stock `actionstart`), its set empty.
    fn start(&mut self, family: Family) -> Result<(), FirewallError>;
    /// Adds `elements` (all of `family`) in one batch; `now` is the Unix time their end
    /// times are measured from.
    fn add(&mut self, family: Family, elements: &[Element], now: i64) -> Result<(), FirewallError>;
    /// Sets the elements anew (a reban: a fresh timeout for an element already present).
    fn replace(
        &mut self,
        family: Family,
        elements: &[Element],
        now: i64,
    ) -> Result<(), FirewallError>;
    /// Removes `elements`; one already gone (expired by the kernel) is no error.
    fn remove(&mut self, family: Family, elements: &[Element]) -> Result<(), FirewallError>;
    /// Empties the set of every started family (the stock `actionflush`).
    fn flush(&mut self) -> Result<(), FirewallError>;
    /// Removes the rules and sets of every started family (the stock `actionstop`).
    fn stop(&mut self) -> Result<(), FirewallError>;
    /// After an unclean stop: removes whatever an earlier run left of this action.
    fn clean_up(&mut self) -> Result<(), FirewallError>;
    /// The stock `actioncheck`: false when the set or a rule is gone.
    fn check(&self, family: Family) -> bool;
    fn started_families(&self) -> Vec<Family>;
    /// The families the action can hold.
    fn families(&self) -> Vec<Family> {
        vec![Family::Inet4, Family::Inet6]
    }
    /// The elements of `family`'s set as the kernel holds them.
    fn list(&self, family: Family) -> Result<Vec<IpNet>, FirewallError>;
}

/// A stock set-based action of a jail (nftables or ipset), run natively.
#[derive(Debug)]
pub struct NativeAction {
    name: String,
    backend: Box<dyn SetBackend>,
    start_on_demand: bool,
    norestored: bool,
    repairs: u64,
}

impl NativeAction {
    pub fn new(
        name: String,
        backend: Box<dyn SetBackend>,
        start_on_demand: bool,
        norestored: bool,
    ) -> Self {
        NativeAction {
            name,
            backend,
            start_on_demand,
            norestored,
            repairs: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn backend(&self) -> &dyn SetBackend {
        self.backend.as_ref()
    }

    pub fn skips_restored(&self) -> bool {
        self.norestored
    }

    /// Repairs made after a failed check: bans applied before may be gone.
    pub fn repairs(&self) -> u64 {
        self.repairs
    }

    pub fn start(&mut self) -> Result<(), ActionError> {
        if self.start_on_demand {
            return Ok(());
        }
        for family in self.backend.families() {
            self.backend
                .start(family)
                .map_err(|error| self.error("actionstart", error))?;
        }
        Ok(())
    }

    /// Adds every ban, one transaction per family.
    pub fn ban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        let now = unix_now();
        self.per_family(bans, "actionban", |backend, family, elements| {
            backend.add(family, elements, now)
        })
    }

    /// Sets the bans anew, with fresh timeouts (an element may be present already).
    pub fn reban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        let now = unix_now();
        self.per_family(bans, "actionreban", |backend, family, elements| {
            backend.replace(family, elements, now)
        })
    }

    /// Removes the bans. A family whose set is gone holds none of them: nothing to repair.
    pub fn unban(&mut self, bans: &[&BanInfo<'_>]) -> Result<(), ActionError> {
        for (family, elements) in group(bans) {
            if let Err(error) = self.backend.remove(family, &elements)
                && self.backend.check(family)
            {
                return Err(self.error("actionunban", error));
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), ActionError> {
        let result = self.backend.flush();
        result.map_err(|error| self.error("actionflush", error))
    }

    pub fn stop(&mut self) -> Result<(), ActionError> {
        let result = self.backend.stop();
        result.map_err(|error| self.error("actionstop", error))
    }

    /// After an unclean stop: removes what the previous run left.
    pub fn clean_up_after_unclean_stop(&mut self) -> Vec<ActionError> {
        let result = self.backend.clean_up();
        result
            .err()
            .map(|error| self.error("actionstop", error))
            .into_iter()
            .collect()
    }

    /// fail2ban's `consistencyCheck`: each started family still has its set and rule, else
    /// it is made again (and counted as a repair, so the caller re-applies its bans).
    pub fn consistency_check(&mut self) -> bool {
        let mut sane = true;
        for family in self.backend.started_families() {
            if !self.backend.check(family) {
                sane &= self.repair(family);
            }
        }
        sane
    }

    /// Runs `operation` on each family's elements; a failure is checked, repaired and
    /// tried once more, as fail2ban's `_processCmd`.
    fn per_family(
        &mut self,
        bans: &[&BanInfo<'_>],
        operation: &str,
        run: impl Fn(&mut dyn SetBackend, Family, &[Element]) -> Result<(), FirewallError>,
    ) -> Result<(), ActionError> {
        let mut first_error = None;
        for (family, elements) in group(bans) {
            let Err(error) = run(self.backend.as_mut(), family, &elements) else {
                continue;
            };
            if matches!(error, FirewallError::Unsupported { .. }) {
                first_error.get_or_insert(self.error(operation, error));
                continue;
            }
            let was_started = self.backend.is_started(family);
            if was_started && self.backend.check(family) || !self.repair(family) {
                first_error.get_or_insert(self.error(operation, error));
                continue;
            }
            if let Err(error) = run(self.backend.as_mut(), family, &elements) {
                first_error.get_or_insert(self.error(operation, error));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Makes `family`'s table, chain, set and rule again; whether that worked.
    fn repair(&mut self, family: Family) -> bool {
        self.repairs += 1;
        self.backend.mark_stopped(family);
        self.backend.start(family).is_ok()
    }

    fn error(&self, operation: &str, source: FirewallError) -> ActionError {
        ActionError::Native {
            action: self.name.clone(),
            operation: operation.to_owned(),
            source,
        }
    }
}

/// The bans as elements, by family.
fn group(bans: &[&BanInfo<'_>]) -> Vec<(Family, Vec<Element>)> {
    let mut inet4 = Vec::new();
    let mut inet6 = Vec::new();
    for ban in bans {
        let network = IpNet::from(ban.ip);
        let end = (ban.ban_time >= 0).then(|| ban.time.saturating_add(ban.ban_time));
        let element = Element { network, end };
        match Family::of(&network) {
            Family::Inet4 => inet4.push(element),
            Family::Inet6 => inet6.push(element),
        }
    }
    [(Family::Inet4, inet4), (Family::Inet6, inet6)]
        .into_iter()
        .filter(|(_, elements)| !elements.is_empty())
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `template` with each `<name>` of `options` replaced by `option(name)`; other tags stay as
/// they are. Both stock recognisers fill the stock commands this way before comparing them.
fn fill_options(template: &str, options: &[&str], option: &dyn Fn(&str) -> String) -> String {
    crate::tags::TAG_RE
        .replace_all(template, |caps: &regex::Captures<'_>| {
            let name = &caps[1];
            if options.contains(&name) {
                option(name)
            } else {
                caps[0].to_owned()
            }
        })
        .into_owned()
}

/// An element word of a set listing (`nft list set`, `ipset list`): a network or one address.
fn parse_element_word(word: &str) -> Option<IpNet> {
    word.parse::<IpNet>()
        .ok()
        .or_else(|| word.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
