//! The fuzz target bodies on seed inputs, with stable Rust: the files under `seeds/<target>/`,
//! fail2ban's own configuration and sample logs when present (see [`fail2ban_dir`]), and
//! proptest-generated inputs built from fragments of such text.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 4] = [
    ("ini", ferroban_fuzz::ini),
    ("date", ferroban_fuzz::date),
    ("filter", ferroban_fuzz::filter),
    ("protocol", ferroban_fuzz::protocol),
];

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_runs_its_seeds() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for (name, body) in TARGETS {
        let files = files_in(&seeds.join(name));
        assert!(!files.is_empty(), "no seeds for {name}");
        for file in files {
            let data = fs::read(&file).unwrap();
            body(&data);
        }
    }
}

/// Failregex hits of a fixed filter over the log lines of a seed file (its first line is the
/// custom-filter header).
fn fixed_filter_hits(definition: &ferroban_filter::FilterDefinition, seed: &str) -> Vec<u64> {
    let mut filter = ferroban_filter::Filter::new(definition).unwrap();
    filter.set_options(ferroban_filter::FilterOptions::regex_tool());
    let ctx = ferroban_date::TimeContext::from_tz_env(1_124_013_600.0, Some("UTC"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds/filter")
        .join(seed);
    let text = fs::read_to_string(path).unwrap();
    for line in text.lines().skip(1) {
        filter.process_line(line, &ctx);
    }
    filter.failregex_hits().to_vec()
}

#[test]
fn the_fixed_filters_build_and_every_failregex_matches_a_seed_line() {
    // The filter target only reaches deep code if its fixed filters match the seed lines.
    let sshd = fixed_filter_hits(&ferroban_fuzz::sshd_like(), "sshd-lines.log");
    assert!(sshd.iter().all(|hits| *hits > 0), "sshd-like hits {sshd:?}");
    let ftp = fixed_filter_hits(&ferroban_fuzz::multi_line_like(), "ftp-lines.log");
    assert!(ftp.iter().all(|hits| *hits > 0), "multi-line hits {ftp:?}");
}

/// `FERROBAN_F2B_DIR`, else the repository's `.cache/fail2ban` (where the integration tests
/// fetch it).
fn fail2ban_dir() -> Option<PathBuf> {
    let candidates = match std::env::var_os("FERROBAN_F2B_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/fail2ban"),
        ],
    };
    let found = candidates
        .iter()
        .find(|dir| dir.join("etc/fail2ban/filter.d").is_dir());
    if found.is_none() {
        eprintln!("skipped: no fail2ban tree at {candidates:?}");
    }
    found.cloned()
}

#[test]
fn fail2ban_configuration_and_sample_logs_run_through_the_targets() {
    let Some(dir) = fail2ban_dir() else { return };
    let etc = dir.join("etc/fail2ban");
    let mut configs = files_in(&etc.join("filter.d"));
    configs.extend(files_in(&etc.join("action.d")));
    configs.push(etc.join("jail.conf"));
    for file in &configs {
        ferroban_fuzz::ini(&fs::read(file).unwrap());
    }
    let logs = files_in(&dir.join("usr/lib/python3/dist-packages/fail2ban/tests/files/logs"));
    assert!(!logs.is_empty(), "no sample logs under {}", dir.display());
    for file in logs {
        let data = fs::read(&file).unwrap();
        ferroban_fuzz::date(&data);
        ferroban_fuzz::filter(&data);
    }
}

/// Pieces of configuration, dates, regexes and log text that the generated inputs combine.
const FRAGMENTS: &[&str] = &[
    "\n",
    "\t",
    " ",
    "[",
    "]",
    "[DEFAULT]\n",
    "[Definition]\n",
    "[INCLUDES]\nbefore = x\n",
    "a = ",
    "b: ",
    "%(a)s",
    "%(b)s",
    "%(known/a)s",
    "%(default/a)s",
    "%(__name__)s",
    "%%",
    "%(",
    ")s",
    "  continued\n",
    "#",
    ";",
    "=",
    "Aug 14 11:59:50 ",
    "2005-08-14 11:59:50 ",
    "Feb 30 ",
    "0000-12-30 00:00:00 ",
    "+0200 ",
    "CEST ",
    "1124013590 ",
    "@4000000042ff1b2e ",
    "%Y",
    "%m",
    "%d",
    "%H:%M:%S",
    "%b",
    "%z",
    "%Z",
    "%ExY",
    "%f",
    "{^LN-BEG}",
    "{NONE}",
    "EPOCH",
    "UTC+0200",
    "host sshd[1]: ",
    "Failed password for root from ",
    "192.0.2.1",
    "2001:DB8::1",
    "::ffff:192.0.2.1",
    "host.example",
    "<HOST>",
    "<ADDR>",
    "<F-USER>",
    "</F-USER>",
    "<F-ID>",
    "</F-ID>",
    "<F-MLFID>",
    "</F-MLFID>",
    "<F-NOFAIL>",
    "</F-NOFAIL>",
    "<SKIPLINES>",
    "(?P<fid>",
    "(?=",
    "(?!",
    "(?<=",
    ")",
    "(",
    "\\1",
    "(?(1)a|b)",
    ".*",
    "\\S+",
    "+",
    "*?",
    "{2,5}",
    "$",
    "^",
    "é",
    "\u{fffd}",
    "\\",
    "|",
];

fn generated_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..48)
            .prop_map(|parts| parts.concat().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_inputs_run_through_every_target(data in generated_input()) {
        for (_, body) in TARGETS {
            body(&data);
        }
    }
}
