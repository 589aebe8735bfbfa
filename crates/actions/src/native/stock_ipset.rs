//! Which ipset actions run natively: an action whose commands are, word for word, those of
//! fail2ban's stock `iptables-ipset` (1.0, or 1.1 with `maxelem`), with `type` oneport
//! (`iptables-ipset`), multiport (`-proto6`) or allports (`-proto6-allports`), or of the
//! legacy `iptables-ipset-proto4` (`ipset --create … iphash`), rendered with its own options.
//! As for nftables (`stock.rs`), a command changed or added keeps the action on its commands.
//!
//! The native backend runs `iptables` and `ipset` with the option values as single words,
//! where the stock commands hand them to a shell: a value a shell would read differently
//! (quotes, `$`, `;`, spaces inside `port`) keeps the action on its commands too.

use std::collections::BTreeMap;

use crate::command::CommandActionDef;
use crate::tags::{Properties, substitute_recursive};

use super::ipset::{IpsetFamily, IpsetSpec, PortMatch};
use super::stock::{Choice, mismatch, origin, render_option};

/// The options the stock commands use.
const OPTIONS: [&str; 11] = [
    "ipmset",
    "iptables",
    "blocktype",
    "familyopt",
    "chain",
    "port",
    "protocol",
    "default-ipsettime",
    "ipsettime",
    "maxelem",
    "name",
];

/// `actionban` of an ipset action: worth comparing.
pub(super) fn looks_like_ipset(def: &CommandActionDef) -> bool {
    def.file.starts_with("iptables-ipset")
        || def
            .definition
            .get("actionban")
            .is_some_and(|ban| ban.trim_start().starts_with("ipset "))
}

/// Decides how an ipset action runs; `properties` are merged, `plain` substituted.
pub(super) fn choose(
    def: &CommandActionDef,
    properties: &Properties,
    plain: &Properties,
) -> Choice {
    let rendered = |option: &str| render_option(properties, plain, option);
    let mut first_mismatch: Option<usize> = None;
    for variant in variants() {
        match mismatch(def, &variant.commands(&rendered)) {
            None => return native(def, properties, plain, variant),
            Some(index) => first_mismatch = first_mismatch.max(Some(index)),
        }
    }
    let command = first_mismatch.and_then(|index| super::stock::COMMANDS.get(index).copied());
    match command {
        Some(command) => Choice::Commands(format!("{command} changed{}", origin(def, command))),
        None => Choice::Commands("no native backend".to_owned()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortType {
    Oneport,
    Multiport,
    Allports,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    /// 1.0's `create <ipmset> hash:ip timeout <default-ipsettime> <familyopt>`.
    Modern,
    /// 1.1's, with `maxelem <maxelem>`.
    Maxelem,
    /// `iptables-ipset-proto4`: `ipset --create f2b-<name> iphash`.
    Legacy,
}

#[derive(Debug, Clone, Copy)]
struct Variant {
    port: PortType,
    generation: Generation,
}

fn variants() -> impl Iterator<Item = Variant> {
    let generations = [Generation::Modern, Generation::Maxelem, Generation::Legacy];
    generations.into_iter().flat_map(|generation| {
        [PortType::Oneport, PortType::Multiport, PortType::Allports]
            .into_iter()
            .map(move |port| Variant { port, generation })
    })
}

impl Variant {
    /// The stock commands of this shape with `option`'s values filled in.
    fn commands(self, option: &dyn Fn(&str) -> String) -> BTreeMap<&'static str, String> {
        let fill = |template: &str| super::fill_options(template, &OPTIONS, option);
        let set = match self.generation {
            Generation::Legacy => "f2b-<name>",
            _ => "<ipmset>",
        };
        let ports = match self.port {
            PortType::Oneport => "--dport <port> ",
            PortType::Multiport => "-m multiport --dports <port> ",
            PortType::Allports => "",
        };
        let rule = format!("-p $proto {ports}-m set --match-set {set} src -j <blocktype>");
        let iterate = "for proto in $(echo '<protocol>' | sed 's/,/ /g'); do";
        let add_rules = format!(
            "{iterate}\n{{ <iptables> -C <chain> {rule} >/dev/null 2>&1; }} || {{ <iptables> -I <chain> {rule}; }}\ndone"
        );
        let del_rules = format!("{iterate}\n<iptables> -D <chain> {rule}\ndone");
        let check = format!("{iterate}\n<iptables> -C <chain> {rule}\ndone");
        let (create, flush, destroy, ban, unban) = match self.generation {
            Generation::Legacy => (
                "ipset --create f2b-<name> iphash".to_owned(),
                "ipset --flush f2b-<name>",
                "ipset --destroy f2b-<name>",
                "ipset --test f2b-<name> <ip> || ipset --add f2b-<name> <ip>",
                "ipset --test f2b-<name> <ip> && ipset --del f2b-<name> <ip>",
            ),
            generation => (
                format!(
                    "ipset -exist create <ipmset> hash:ip timeout <default-ipsettime> {}<familyopt>",
                    if generation == Generation::Maxelem {
                        "maxelem <maxelem> "
                    } else {
                        ""
                    }
                ),
                "ipset flush <ipmset>",
                "ipset destroy <ipmset>",
                "ipset -exist add <ipmset> <ip> timeout <ipsettime>",
                "ipset -exist del <ipmset> <ip>",
            ),
        };
        let templates = [
            ("actionstart", format!("{create}\n{add_rules}")),
            ("actionflush", flush.to_owned()),
            ("actionstop", format!("{del_rules}\n{flush}\n{destroy}")),
            ("actioncheck", check),
            ("actionban", ban.to_owned()),
            ("actionunban", unban.to_owned()),
        ];
        templates
            .into_iter()
            .map(|(command, template)| (command, fill(&template)))
            .collect()
    }
}

/// A value the stock commands pass through a shell as plain words.
fn plain_words(value: &str) -> Option<Vec<String>> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:,/+=@".contains(c);
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    words
        .iter()
        .all(|word| word.chars().all(safe))
        .then_some(words)
}

fn one_word(value: &str) -> Option<String> {
    plain_words(value).filter(|words| words.len() == 1)?.pop()
}

/// The native spec of an action found stock, or why its values keep it on its commands.
fn native(
    def: &CommandActionDef,
    properties: &Properties,
    plain: &Properties,
    variant: Variant,
) -> Choice {
    let Ok(inet6) = substitute_recursive(&def.name, properties, "family=inet6") else {
        return Choice::Commands("its options refer to themselves".to_owned());
    };
    match build_spec(plain, &inet6, variant) {
        Ok(spec) => Choice::Ipset(Box::new(spec)),
        Err(option) => Choice::Commands(format!(
            "{option} is not plain words that the native backend passes as the shell would"
        )),
    }
}

fn build_spec(
    plain: &Properties,
    inet6: &Properties,
    variant: Variant,
) -> Result<IpsetSpec, String> {
    let get = |values: &Properties, key: &str| values.get(key).cloned().unwrap_or_default();
    let word = |key: &str| one_word(&get(plain, key)).ok_or_else(|| key.to_owned());
    for key in ["default-ipsettime", "ipsettime"] {
        if variant.generation != Generation::Legacy
            && !get(plain, key).trim().chars().all(|c| c.is_ascii_digit())
        {
            return Err(key.to_owned());
        }
    }
    let family = |values: &Properties, name: &str| -> Result<IpsetFamily, String> {
        let pick = |key: &str| {
            let variant = values.get(&format!("{key}?family={name}"));
            variant.cloned().unwrap_or_else(|| get(values, key))
        };
        let words = |key: &str| plain_words(&pick(key)).ok_or_else(|| key.to_owned());
        let set = match variant.generation {
            Generation::Legacy => format!("f2b-{}", get(values, "name")),
            _ => pick("ipmset"),
        };
        Ok(IpsetFamily {
            set: one_word(&set).ok_or_else(|| "ipmset".to_owned())?,
            family_opt: words("familyopt")?,
            iptables: words("iptables").and_then(|words| {
                let binary = words.first().map(String::as_str).unwrap_or_default();
                let named = binary.ends_with("iptables") || binary.ends_with("ip6tables");
                named.then_some(words).ok_or_else(|| "iptables".to_owned())
            })?,
            blocktype: words("blocktype")?,
        })
    };
    let protocols = get(plain, "protocol");
    let protocols = plain_words(&protocols.replace(',', " ")).ok_or("protocol")?;
    let port_match = match variant.port {
        PortType::Oneport => PortMatch::Oneport(word("port")?),
        PortType::Multiport => PortMatch::Multiport(word("port")?),
        PortType::Allports => PortMatch::Allports,
    };
    let maxelem = match variant.generation {
        Generation::Maxelem => Some(word("maxelem")?),
        _ => None,
    };
    Ok(IpsetSpec {
        binary: "ipset".to_owned(),
        chain: word("chain")?,
        protocols,
        port_match,
        maxelem,
        inet4: family(plain, "inet4")?,
        inet6: match variant.generation {
            Generation::Legacy => None,
            _ => Some(family(inet6, "inet6")?),
        },
    })
}
