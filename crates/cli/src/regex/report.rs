//! The "Results" part of fail2ban-regex's report, in its exact layout.

use std::time::Duration;

use ferroban_filter::RegexInfo;

use super::RegexArgs;
use super::setup::Job;
use super::stats::{ListedFailure, Stats};

pub fn print(job: &Job, stats: &Stats, elapsed: Duration, args: &RegexArgs) {
    println!();
    println!("Results");
    println!("=======");
    let filter = &job.filter;
    if let Some(prefregex) = filter.prefregex_info() {
        println!("\nPrefregex: {} total", filter.prefregex_hits());
        print_list(std::slice::from_ref(&prefregex.expanded), None);
    }
    let verbose = stats.verbose();
    print_regexes(
        "Failregex",
        filter.failregex_info(),
        &stats.hits,
        &stats.listed,
        verbose,
    );
    print_regexes(
        "Ignoreregex",
        filter.ignoreregex_info(),
        filter.ignoreregex_hits(),
        &[],
        verbose,
    );
    print_date_templates(job, verbose, args.verbose_date);
    println!(
        "\nLines: {} lines, {} ignored, {} matched, {} missed",
        stats.tested, stats.ignored, stats.matched, stats.missed
    );
    println!("[processed in {:.2} sec]", elapsed.as_secs_f64());
    println!();
    if args.print_all_matched {
        print_lines(
            "Matched",
            stats.matched,
            &stats.matched_lines,
            stats.limit,
            true,
        );
    }
    if !args.print_no_ignored {
        print_lines(
            "Ignored",
            stats.ignored,
            &stats.ignored_lines,
            stats.limit,
            args.print_all_ignored,
        );
    }
    if !args.print_no_missed {
        let missed: Vec<String> = stats
            .missed_lines
            .iter()
            .map(|(_, line)| line.clone())
            .collect();
        print_lines(
            "Missed",
            stats.missed,
            &missed,
            stats.limit,
            args.print_all_missed,
        );
    }
}

/// fail2ban-regex's `pprint_list`: nothing at all for an empty list.
fn print_list(items: &[String], header: Option<&str>) {
    if items.is_empty() {
        return;
    }
    let header = header.map_or(String::new(), |h| format!("|- {h}\n"));
    println!("{header}|  {}\n`-", items.join("\n|  "));
}

fn print_regexes(
    title: &str,
    infos: &[RegexInfo],
    hits: &[u64],
    listed: &[Vec<ListedFailure>],
    verbose: bool,
) {
    let mut total = 0;
    let mut out = Vec::new();
    for (index, info) in infos.iter().enumerate() {
        let count = hits.get(index).copied().unwrap_or(0);
        total += count;
        if count > 0 || verbose {
            out.push(format!("{:2}) [{count}] {}", index + 1, info.source));
        }
        if verbose {
            for failure in listed.get(index).map_or(&[][..], Vec::as_slice) {
                let multiple = if failure.multiple {
                    " (multiple regex matched)"
                } else {
                    ""
                };
                out.push(format!(
                    "    {}  {}{multiple}",
                    failure.id,
                    local_time(failure.time)
                ));
            }
        }
    }
    println!("\n{title}: {total} total");
    print_list(&out, Some(" #) [# of hits] regular expression"));
}

fn print_date_templates(job: &Job, verbose: bool, verbose_date: bool) {
    println!("\nDate template hits:");
    let mut out = Vec::new();
    for template in job.filter.date_detector().templates() {
        if verbose || template.hits > 0 {
            out.push(format!("[{}] {}", template.hits, template.name));
            if verbose_date {
                out.push(format!(
                    "    # weight: {:.3} ({:.3}), pattern: {}",
                    template.weight,
                    template.template_weight,
                    template.pattern.as_deref().unwrap_or("")
                ));
                out.push(format!("    # regex:   {}", template.regex));
            }
        }
    }
    print_list(&out, Some("[# of hits] date format"));
}

/// fail2ban-regex's `printLines`.
fn print_lines(kind: &str, count: u64, lines: &[String], limit: u64, print_all: bool) {
    if count == 0 {
        return;
    }
    let header = format!("{kind} line(s):");
    if count < limit || print_all {
        let lines: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
        print_list(&lines, Some(&header));
    } else {
        let option = kind.to_ascii_lowercase();
        println!(
            "{header} too many to print.  Use --print-all-{option} to print all {count} lines"
        );
    }
}

/// `time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))`.
fn local_time(time: Option<f64>) -> String {
    let Some(time) = time else {
        return "None".to_string();
    };
    let Ok(timestamp) = jiff::Timestamp::from_second(time.floor() as i64) else {
        return time.to_string();
    };
    let zone = std::env::var("TZ").ok();
    let context = ferroban_date::TimeContext::from_tz_env(time, zone.as_deref());
    timestamp
        .to_zoned_datetime(context.tz)
        .strftime("%a %b %d %H:%M:%S %Y")
        .to_string()
}
