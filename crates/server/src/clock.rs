//! The daemon's clock: the system's, plus an offset that only a server started with
//! `FERROBAN_TEST_CLOCK=1` lets its control socket move (`test-clock advance SECONDS`).
//! Tests that wait for a bantime or a findtime advance the clock instead of sleeping; the
//! tracker already takes "now" from its caller, so moving this one clock moves every
//! decision (ban ends, failure windows, purges). Log lines keep the real time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds added to the system's time.
static OFFSET_MILLIS: AtomicU64 = AtomicU64::new(0);
static ADVANCEABLE: AtomicBool = AtomicBool::new(false);

/// The environment variable that makes the clock advanceable.
const TEST_CLOCK: &str = "FERROBAN_TEST_CLOCK";

/// Reads `FERROBAN_TEST_CLOCK` once, at start.
pub(crate) fn configure() {
    let wanted = std::env::var_os(TEST_CLOCK).is_some_and(|value| value == "1");
    ADVANCEABLE.store(wanted, Ordering::Relaxed);
}

/// Now in Unix seconds.
pub(crate) fn now_float() -> f64 {
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    system + OFFSET_MILLIS.load(Ordering::Relaxed) as f64 / 1000.0
}

/// Why the clock did not move.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClockError {
    #[error("the clock is the system's (start the server with {TEST_CLOCK}=1 to move it)")]
    NotAdvanceable,
}

/// Moves the clock forward; the total offset is returned.
pub(crate) fn advance(millis: u64) -> Result<f64, ClockError> {
    if !ADVANCEABLE.load(Ordering::Relaxed) {
        return Err(ClockError::NotAdvanceable);
    }
    let total = OFFSET_MILLIS.fetch_add(millis, Ordering::Relaxed) + millis;
    Ok(total as f64 / 1000.0)
}
