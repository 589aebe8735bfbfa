//! Runs one stock filter over a log file the way a daemon jail does (daemon options, one
//! line at a time) and prints the failures found and the CPU time spent, for profiling
//! the jail's source thread without the rest of the daemon.
//!
//! `cargo run --release -p ferroban-cli --example daemon_filter -- CONFDIR FILTER LOG [--check]`
//!
//! With `--check`, a second copy of the filter with its shortcuts off reads the same lines
//! and every line's result must be the same.

use std::io::BufRead;
use std::time::Instant;

use ferroban_date::TimeContext;
use ferroban_filter::{Filter, FilterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, args) = match args.split_last() {
        Some((last, rest)) if last == "--check" => (true, rest),
        _ => (false, args.as_slice()),
    };
    let [conf, name, log] = args else {
        return Err("usage: daemon_filter CONFDIR FILTER LOG [--check]".into());
    };
    let spec = ferroban_config::load_filter(std::path::Path::new(conf), name, &[])
        .map_err(|errors| format!("{errors}"))?;
    let mut filter = Filter::new(&spec.definition())?;
    filter.set_options(FilterOptions::daemon(365.0 * 86400.0));
    let mut plain = check.then(|| {
        let mut plain = filter.clone();
        plain.set_shortcuts(false);
        plain
    });
    let context = TimeContext::local(1_800_000_000.0);
    let started = Instant::now();
    let (mut lines, mut failures) = (0_u64, 0_u64);
    for line in std::io::BufReader::new(std::fs::File::open(log)?).lines() {
        let line = line?;
        lines += 1;
        let result = filter.process_line(&line, &context);
        if let Some(plain) = plain.as_mut()
            && plain.process_line(&line, &context) != result
        {
            return Err(format!("line {lines} differs without shortcuts: {line}").into());
        }
        failures += result.failures.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{lines} lines, {failures} failures, {seconds:.3} s, {:.0} lines/s",
        lines as f64 / seconds
    );
    Ok(())
}
