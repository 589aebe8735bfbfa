//! Per-line cost of one stock filter on a log, without the rest of ferroban: reads the
//! whole log into memory, then times the filter alone over its lines, as a daemon jail runs
//! it (`daemon`) or as `ferroban regex` counts (`tool`).
//!
//! Run: `cargo run --profile ci -p ferroban-filter --example filter_speed -- daemon|tool FILTER LOG [--plain]`
//! (the stock configuration from `$FERROBAN_F2B_DIR/etc/fail2ban`, default the repository's
//! `.cache/fail2ban`). `--plain` turns the shortcuts and the literal gate off, for comparing.

use std::time::Instant;

use ferroban_date::TimeContext;
use ferroban_filter::{Filter, FilterOptions, Outcome};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plain = args.iter().any(|a| a == "--plain");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--plain").collect();
    let [mode, name, log] = args.as_slice() else {
        return Err("usage: filter_speed daemon|tool FILTER LOG [--plain]".into());
    };
    let root = std::env::var("FERROBAN_F2B_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/fail2ban").into());
    let conf = std::path::Path::new(&root).join("etc/fail2ban");
    let (base, extra) = split_name(name);
    let spec =
        ferroban_config::load_filter(&conf, base, &extra).map_err(|errors| format!("{errors}"))?;
    let mut filter = Filter::new(&spec.definition())?;
    filter.set_options(match mode.as_str() {
        "tool" => FilterOptions {
            failure_details: false,
            ..FilterOptions::regex_tool()
        },
        _ => FilterOptions::daemon(365.0 * 86400.0),
    });
    filter.set_shortcuts(!plain);
    let text = std::fs::read_to_string(log)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    let context = TimeContext::local(now);
    let started = Instant::now();
    let (mut lines, mut matched, mut ignored) = (0_u64, 0_u64, 0_u64);
    for line in text.lines() {
        lines += 1;
        match filter.process_line(line, &context).outcome() {
            Outcome::Matched => matched += 1,
            Outcome::Ignored => ignored += 1,
            Outcome::Missed => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{lines} lines, {matched} matched, {ignored} ignored, {seconds:.3} s, {:.0} ns/line",
        seconds * 1e9 / lines.max(1) as f64
    );
    Ok(())
}

/// `postfix[mode=auth]` → ("postfix", [("mode", "auth")]).
fn split_name(name: &str) -> (&str, Vec<(String, String)>) {
    let Some((base, rest)) = name.split_once('[') else {
        return (name, Vec::new());
    };
    let options = rest
        .trim_end_matches(']')
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (base, options)
}
