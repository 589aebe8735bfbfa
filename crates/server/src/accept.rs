//! Waiting out a failing `accept` on the server's listening sockets.
//!
//! Out of descriptors (EMFILE, ENFILE) a listening socket stays readable: retrying at once
//! would spin. The failure is logged once, then retried at a slow pace until it heals.

use std::time::Duration;

use crate::log::Level;
use crate::{SERVER_LOG, log_at};

/// How long a listener waits before accepting again after a failed `accept`.
const RETRY: Duration = Duration::from_millis(100);

/// One listener's accept failures: `what` names its connections in the log line, `advice`
/// ends it.
pub(crate) struct AcceptBackoff {
    what: &'static str,
    advice: &'static str,
    failing: bool,
}

impl AcceptBackoff {
    pub(crate) fn new(what: &'static str, advice: &'static str) -> Self {
        AcceptBackoff {
            what,
            advice,
            failing: false,
        }
    }

    /// An `accept` succeeded: the next failure is news again.
    pub(crate) fn accepted(&mut self) {
        self.failing = false;
    }

    /// An `accept` failed: said once per run of failures, then a pause before the next.
    pub(crate) async fn failed(&mut self, error: std::io::Error) {
        if !self.failing {
            log_at!(
                SERVER_LOG,
                Level::ERROR,
                "cannot accept {} connections: {error}; retrying every {} ms{}",
                self.what,
                RETRY.as_millis(),
                self.advice
            );
        }
        self.failing = true;
        tokio::time::sleep(RETRY).await;
    }
}
