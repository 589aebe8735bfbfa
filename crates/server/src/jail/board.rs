//! The status a jail's thread last published, for `status JAIL` while the thread is busy
//! (a flood of bans through slow actions): the control socket asks the thread first, and
//! answers from here when the thread does not answer within [`STATUS_PATIENCE`].
//!
//! The thread publishes after every command, and again when it has decided a batch of bans
//! and before their actions run, so that the board shows them banned as fail2ban's status
//! does (its ban list takes a ban before the actions run).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ferroban_tracker::{JailStatus, Tracker};

/// How long `status JAIL` waits for a busy jail before it answers from the board.
pub const STATUS_PATIENCE: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct StatusBoard {
    status: Mutex<JailStatus>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            status: Mutex::new(JailStatus {
                currently_failed: 0,
                total_failed: 0,
                currently_banned: 0,
                total_banned: 0,
                banned: Vec::new(),
            }),
        }
    }
}

impl StatusBoard {
    /// Publishes the tracker's status. The list of bans is copied only when the bans
    /// changed: a ban adds to the total, an unban takes from the current count, so the
    /// pair of counts moves whenever the list does.
    pub(super) fn publish(&self, tracker: &Tracker) {
        let counts = tracker.counts();
        let same_bans = {
            let status = self.lock();
            (status.currently_banned, status.total_banned)
                == (counts.currently_banned, counts.total_banned)
        };
        // Only the jail's thread writes: the list cannot change between the two locks.
        let banned = (!same_bans).then(|| tracker.banned());
        let mut status = self.lock();
        let banned = banned.unwrap_or_else(|| std::mem::take(&mut status.banned));
        *status = JailStatus { banned, ..counts };
    }

    /// The last status published.
    pub fn read(&self) -> JailStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JailStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
