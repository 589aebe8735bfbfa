//! Per-line cost of a filter on realistic sshd traffic: lines another daemon wrote (rejected
//! by the prefregex), sshd lines that are not failures (rejected by the failregex set), and
//! failures (captures, id, failure record). Run: `cargo bench -p ferroban-filter`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferroban_filter::{Filter, FilterDefinition, FilterOptions};
use std::hint::black_box;

const PREFIX_LINE: &str = r"(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?|[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?";
const SUFFIX: &str = r"(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*";

fn sshd_definition() -> FilterDefinition {
    let failregex = [
        r"^[aA]uthentication (?:failure|error|failed) for <F-USER>.*</F-USER> from <HOST>( via \S+)?SUFFIX$",
        r"^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\S+) for (?P<cond_inv>invalid user )?<F-USER>(?P<cond_user>\S+)|(?(cond_inv)(?:(?! from ).)*?|[^:]+)</F-USER> from <HOST>(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)",
        r"^[iI](?:llegal|nvalid) user <F-USER>.*?</F-USER> from <HOST>SUFFIX$",
        r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because not listed in AllowUsersSUFFIX$",
        r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because listed in DenyUsersSUFFIX$",
        r"^maximum authentication attempts exceeded for <F-USER>.*</F-USER> from <HOST>(?: port \d+)?(?: ssh\d*)?SUFFIX$",
        r"^Received <F-MLFFORGET>disconnect</F-MLFFORGET> from <HOST>(?: port \d+)?:\s*3: .*: Auth failSUFFIX$",
        r"^<F-NOFAIL><F-MLFFORGET>(Connection (?:closed|reset)|Disconnected)</F-MLFFORGET></F-NOFAIL> (?:by|from)(?: (?:invalid|authenticating) user <F-USER>\S+|.*?</F-USER>)? <HOST>(?:SUFFIX|\s*)$",
    ];
    FilterDefinition {
        prefregex: Some(format!(
            r"^<F-MLFID>{PREFIX_LINE}</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$"
        )),
        failregex: failregex
            .iter()
            .map(|r| r.replace("SUFFIX", SUFFIX))
            .collect(),
        ignoreregex: Vec::new(),
        maxlines: 1,
        ..FilterDefinition::default()
    }
}

const OTHER_DAEMON: &str =
    "web01 CRON[28113]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)";
const SSHD_NOT_A_FAILURE: &str =
    "web01 sshd[28201]: Accepted password for deploy from 198.51.100.20 port 51022 ssh2";
const SSHD_FAILURE: &str = "web01 sshd[28230]: Invalid user admin from 203.0.113.45 port 40122";
const SSHD_FAILURE_BACKTRACKING: &str =
    "web01 sshd[28231]: Failed password for invalid user oracle from 203.0.113.46 port 40123 ssh2";

fn bench_lines(c: &mut Criterion) {
    let mut filter = match Filter::new(&sshd_definition()) {
        Ok(filter) => filter,
        Err(error) => panic!("bench filter does not compile: {error}"),
    };
    filter.set_options(FilterOptions::daemon(600.0));
    let mut group = c.benchmark_group("sshd_line");
    group.throughput(Throughput::Elements(1));
    for (name, line) in [
        ("other_daemon_miss", OTHER_DAEMON),
        ("sshd_no_failure", SSHD_NOT_A_FAILURE),
        ("sshd_failure_linear", SSHD_FAILURE),
        ("sshd_failure_backtracking", SSHD_FAILURE_BACKTRACKING),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(filter.process_line_with_time(black_box(line), 1.7e9)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_lines);
criterion_main!(benches);
