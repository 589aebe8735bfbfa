//! Memory of compiled stock filters, as a daemon holding N jails pays it: compiles `N` copies
//! of each filter given (each jail compiles its own) and prints the process's resident
//! memory before and after.
//!
//! Run: `cargo run --release -p ferroban-filter --example filter_memory -- 10 sshd dovecot`
//! (the stock configuration is read from `$FERROBAN_F2B_DIR/etc/fail2ban`, default
//! the repository's `.cache/fail2ban`).

use ferroban_filter::Filter;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let copies: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let names: Vec<String> = args.collect();
    let root = std::env::var("FERROBAN_F2B_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/fail2ban").into());
    let conf = std::path::Path::new(&root).join("etc/fail2ban");
    // The date templates are compiled once per process: load them before measuring.
    drop(ferroban_date::DateDetector::new_default());
    let before = rss_kib();
    let mut filters = Vec::new();
    for name in &names {
        let spec = match ferroban_config::load_filter(&conf, name, &[]) {
            Ok(spec) => spec,
            Err(error) => {
                eprintln!("{name}: {error}");
                std::process::exit(1);
            }
        };
        for _ in 0..copies {
            match Filter::new(&spec.definition()) {
                Ok(filter) => filters.push(filter),
                Err(error) => {
                    eprintln!("{name}: {error}");
                    std::process::exit(1);
                }
            }
        }
    }
    let after = rss_kib();
    println!(
        "{} filters ({copies} x {names:?}): RSS {before} KiB -> {after} KiB, {:.0} KiB per filter",
        filters.len(),
        (after.saturating_sub(before)) as f64 / filters.len().max(1) as f64
    );
}
