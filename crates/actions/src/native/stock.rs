//! Which actions run natively: an action whose commands are, word for word, those of
//! fail2ban's stock `nftables` action (1.0 or 1.1, `multiport` or `allports`) rendered with
//! its own options. Options (`port`, `blocktype`, `table`, …) may be anything; a command
//! changed anywhere (a `.local`, the jail's `action = nftables[actionban=…]`, an edited
//! `.conf`) or added (`actionrepair`, `actionreban`) keeps the action on its commands, as
//! the user wrote them.
//!
//! The comparison is on the commands as the config crate hands them over (static tags
//! filled, tags with a `?family=` variant left for later), with runs of white space made
//! one, so indentation and line breaks do not matter.

use std::collections::BTreeMap;

use crate::command::{CommandActionDef, merge_properties};
use crate::tags::{Properties, substitute_recursive};

use super::ipset::IpsetSpec;
use super::nftables::{NftablesSpec, RuleMatch, SetNames};
use super::stock_ipset;

/// The commands of the stock action, in the order a mismatch is reported.
pub(super) const COMMANDS: [&str; 6] = [
    "actionstart",
    "actionban",
    "actionunban",
    "actioncheck",
    "actionflush",
    "actionstop",
];

/// Commands the stock action leaves empty: defining one is a change.
const UNUSED_COMMANDS: [&str; 4] = [
    "actionreban",
    "actionrepair",
    "actionprolong",
    "actionreload",
];

/// The options the stock commands use.
const OPTIONS: [&str; 13] = [
    "nftables",
    "table_family",
    "table",
    "chain",
    "chain_type",
    "chain_hook",
    "chain_priority",
    "addr_set",
    "addr_type",
    "addr_family",
    "blocktype",
    "port",
    "protocol",
];

/// How an action will be run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// In-process, through nft transactions.
    Nftables(Box<NftablesSpec>),
    /// In-process, through `ipset restore` batches and iptables rules.
    Ipset(Box<IpsetSpec>),
    /// Its commands, through `/bin/sh`; the reason for the log.
    Commands(String),
}

/// Decides how `def` runs in `jail`.
pub fn choose(jail: &str, def: &CommandActionDef) -> Choice {
    let properties = merge_properties(jail, def);
    let Ok(plain) = substitute_recursive(&def.name, &properties, "") else {
        return Choice::Commands("its options refer to themselves".to_owned());
    };
    if stock_ipset::looks_like_ipset(def) {
        if let Some(reason) = added_command(def) {
            return Choice::Commands(reason);
        }
        return stock_ipset::choose(def, &properties, &plain);
    }
    let Some(binary) = plain.get("nftables").and_then(|value| nft_binary(value)) else {
        return Choice::Commands(not_stock_reason(def));
    };
    if let Some(reason) = added_command(def) {
        return Choice::Commands(reason);
    }
    let rendered = |option: &str| render_option(&properties, &plain, option);
    // The variant that agrees longest (in `COMMANDS` order) names the changed command.
    let mut first_mismatch: Option<usize> = None;
    for variant in VARIANTS {
        match mismatch(def, &variant.commands(&rendered)) {
            None => return native(def, &properties, binary, variant),
            Some(index) => first_mismatch = first_mismatch.max(Some(index)),
        }
    }
    let first_mismatch = first_mismatch.and_then(|index| COMMANDS.get(index).copied());
    let looks_stock = def.file.starts_with("nftables");
    match first_mismatch {
        Some(command) if looks_stock => {
            Choice::Commands(format!("{command} changed{}", origin(def, command)))
        }
        _ => Choice::Commands(not_stock_reason(def)),
    }
}

/// `actionrepair added in …` when the action defines a command the stock one leaves empty.
fn added_command(def: &CommandActionDef) -> Option<String> {
    let extra = UNUSED_COMMANDS.iter().find(|command| {
        def.definition
            .get(**command)
            .is_some_and(|v| !v.trim().is_empty())
    })?;
    Some(format!("{extra} added{}", origin(def, extra)))
}

fn not_stock_reason(def: &CommandActionDef) -> String {
    if def.file.starts_with("nftables") {
        "nftables is not the nft binary".to_owned()
    } else {
        "no native backend".to_owned()
    }
}

/// ` in action.d/nftables.local:12` where the command's origin is known.
pub(super) fn origin(def: &CommandActionDef, command: &str) -> String {
    def.origins
        .get(command)
        .map(|at| format!(" in {at}"))
        .unwrap_or_default()
}

/// `nft` or a path to it, with no further arguments.
fn nft_binary(value: &str) -> Option<String> {
    let value = value.trim();
    let is_nft = value == "nft" || value.ends_with("/nft");
    (is_nft && !value.contains(char::is_whitespace)).then(|| value.to_owned())
}

/// The first stock command the action has otherwise (or lacks).
pub(super) fn mismatch(
    def: &CommandActionDef,
    expected: &BTreeMap<&'static str, String>,
) -> Option<usize> {
    COMMANDS.iter().position(|command| {
        let actual = def.definition.get(*command).map_or("", String::as_str);
        let wanted = expected.get(command).map_or("", String::as_str);
        squeeze(actual) != squeeze(wanted)
    })
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An option as the config crate leaves it in commands: its value with tags filled, or the
/// tag itself when it has a `?family=` variant (filled per family at run time).
pub(super) fn render_option(properties: &Properties, plain: &Properties, option: &str) -> String {
    let prefix = format!("{option}?family=");
    if properties.keys().any(|key| key.starts_with(&prefix)) {
        return format!("<{option}>");
    }
    plain.get(option).cloned().unwrap_or_default()
}

/// One shape of the stock action.
#[derive(Debug, Clone, Copy)]
struct Variant {
    allports: bool,
    /// fail2ban 1.1's `flags interval` on the set.
    interval: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        allports: false,
        interval: false,
    },
    Variant {
        allports: true,
        interval: false,
    },
    Variant {
        allports: false,
        interval: true,
    },
    Variant {
        allports: true,
        interval: true,
    },
];

impl Variant {
    /// The stock commands of this shape with `option`'s values filled in.
    fn commands(self, option: &dyn Fn(&str) -> String) -> BTreeMap<&'static str, String> {
        let fill = |template: &str| super::fill_options(template, &OPTIONS, option);
        let (rule_match, iterate, done) = if self.allports {
            (r"meta l4proto \{ <protocol> \}", "", "")
        } else {
            (
                r"$proto dport \{ $(echo '<port>' | sed s/:/-/g) \}",
                r"for proto in $(echo '<protocol>' | sed 's/,/ /g'); do",
                "done",
            )
        };
        let set_type = if self.interval {
            r"\{ type <addr_type>\; flags interval\; \}"
        } else {
            r"\{ type <addr_type>\; \}"
        };
        let add_set = format!(
            "<nftables> add set <table_family> <table> <addr_set> {set_type}\n{iterate}\n\
             <nftables> add rule <table_family> <table> <chain> {rule_match} <addr_family> saddr @<addr_set> <blocktype>\n{done}"
        );
        let del_set = r"{ <nftables> -a list chain <table_family> <table> <chain> | grep -oP '@<addr_set>\s+.*\s+\Khandle\s+(\d+)$'; } | while read -r hdl; do
            <nftables> delete rule <table_family> <table> <chain> $hdl; done
            <nftables> delete set <table_family> <table> <addr_set>";
        let shutdown = r"{ <nftables> list table <table_family> <table> | grep -qP '^\s+set\s+'; } || {
            <nftables> delete table <table_family> <table>
            }";
        let start = format!(
            "<nftables> add table <table_family> <table>\n\
             <nftables> -- add chain <table_family> <table> <chain> \\{{ type <chain_type> hook <chain_hook> priority <chain_priority> \\; \\}}\n{add_set}"
        );
        let flush = format!(
            "{{ <nftables> flush set <table_family> <table> <addr_set> 2> /dev/null; }} || {{\n{del_set}\n{add_set}\n}}"
        );
        let templates = [
            ("actionstart", start),
            ("actionflush", flush),
            ("actionstop", format!("{del_set}\n{shutdown}")),
            (
                "actioncheck",
                r"<nftables> list chain <table_family> <table> <chain> | grep -q '@<addr_set>[ \t]'"
                    .to_owned(),
            ),
            (
                "actionban",
                r"<nftables> add element <table_family> <table> <addr_set> \{ <ip> \}".to_owned(),
            ),
            (
                "actionunban",
                r"<nftables> delete element <table_family> <table> <addr_set> \{ <ip> \}"
                    .to_owned(),
            ),
        ];
        templates
            .into_iter()
            .map(|(command, template)| (command, fill(&template)))
            .collect()
    }
}

/// The native spec of an action found stock, its options resolved per family.
fn native(
    def: &CommandActionDef,
    properties: &Properties,
    binary: String,
    variant: Variant,
) -> Choice {
    let (Ok(inet4), Ok(inet6)) = (
        substitute_recursive(&def.name, properties, "family=inet4"),
        substitute_recursive(&def.name, properties, "family=inet6"),
    ) else {
        return Choice::Commands("its options refer to themselves".to_owned());
    };
    let get = |values: &Properties, key: &str| values.get(key).cloned().unwrap_or_default();
    // A family's value is its `key?family=…` variant where there is one.
    let names = |values: &Properties, family: &str| {
        let pick = |key: &str| {
            let variant = values.get(&format!("{key}?family={family}"));
            variant.cloned().unwrap_or_else(|| get(values, key))
        };
        SetNames {
            set: pick("addr_set"),
            addr_type: pick("addr_type"),
            addr_family: pick("addr_family"),
            blocktype: pick("blocktype"),
        }
    };
    let rule_match = if variant.allports {
        RuleMatch::Allports {
            protocol: get(&inet4, "protocol"),
        }
    } else {
        RuleMatch::Multiport {
            protocols: get(&inet4, "protocol")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect(),
            port: get(&inet4, "port"),
        }
    };
    Choice::Nftables(Box::new(NftablesSpec {
        binary,
        table_family: get(&inet4, "table_family"),
        table: get(&inet4, "table"),
        chain: get(&inet4, "chain"),
        chain_type: get(&inet4, "chain_type"),
        chain_hook: get(&inet4, "chain_hook"),
        chain_priority: get(&inet4, "chain_priority"),
        rule_match,
        interval: variant.interval,
        inet4: names(&inet4, "inet4"),
        inet6: names(&inet6, "inet6"),
    }))
}
