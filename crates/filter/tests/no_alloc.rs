//! "A line that matches nothing allocates nothing": counts heap allocations around
//! `process_line` with a counting global allocator, after a warm-up (the first lines compile
//! lazily built programs and grow scratch buffers).

// A `GlobalAlloc` implementation is `unsafe` by definition; this test binary's allocator only
// counts calls and forwards them to the system allocator.
#![allow(unsafe_code)]
#![allow(clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ferroban_date::TimeContext;
use ferroban_filter::{Filter, FilterDefinition, FilterOptions, Outcome};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn sshd_like() -> FilterDefinition {
    FilterDefinition {
        prefregex: Some(
            r"^<F-MLFID>(?:\S+\s+)?sshd(?:\[\d+\])?:\s+</F-MLFID><F-CONTENT>.+</F-CONTENT>$"
                .into(),
        ),
        failregex: vec![
            r"^Failed \S+ for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST>(?: port \d+)?(?: ssh\d*)?\s*$".into(),
            r"^[iI](?:llegal|nvalid) user <F-USER>.*?</F-USER> from <HOST>(?: port \d+)?\s*$".into(),
        ],
        ..FilterDefinition::default()
    }
}

const MISSES: [&str; 3] = [
    "Nov 13 02:13:20 gw CRON[28113]: pam_unix(cron:session): session opened for user root",
    "Nov 13 02:13:21 gw sshd[28201]: Accepted password for deploy from 198.51.100.20 port 51022 ssh2",
    "Nov 13 02:13:21 gw systemd-logind[412]: New session 7852 of user test.",
];

fn allocations_per_miss(options: FilterOptions) -> u64 {
    let mut filter = Filter::new(&sshd_like()).expect("filter compiles");
    filter.set_options(options);
    let ctx = TimeContext::from_tz_env(1_763_000_000.0, Some("UTC"));
    for _ in 0..3 {
        for line in MISSES {
            let result = filter.process_line(line, &ctx);
            assert_eq!(result.outcome(), Outcome::Missed, "{line}");
        }
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        for line in MISSES {
            std::hint::black_box(filter.process_line(line, &ctx));
        }
    }
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn missed_lines_allocate_nothing() {
    // The counter sees allocations at all.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    std::hint::black_box(String::with_capacity(16));
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
    assert_eq!(
        allocations_per_miss(FilterOptions::regex_tool()),
        0,
        "regex tool"
    );
    assert_eq!(
        allocations_per_miss(FilterOptions::daemon(600.0)),
        0,
        "daemon"
    );
}
