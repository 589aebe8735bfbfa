//! How many log files the sources of a process may hold open at once.
//!
//! Every followed log holds a file descriptor. A `logpath` glob matching more files than
//! `RLIMIT_NOFILE` allows would take every descriptor, and then the rest of the daemon
//! fails with `EMFILE` too: the control socket cannot accept, the database cannot open its
//! journal, an action cannot get a pipe. A budget shared by all sources, below the limit,
//! leaves that rest its descriptors: past it a log is refused as if the process were out of
//! descriptors ([`crate::SourceError::is_out_of_descriptors`]) and retried at the next
//! rescan, while the logs already open are read as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
struct Counter {
    limit: usize,
    used: AtomicUsize,
}

/// A count of open log descriptors with a limit, shared by the sources that clone it.
/// The default has no limit.
#[derive(Clone, Debug, Default)]
pub struct DescriptorBudget {
    counter: Option<Arc<Counter>>,
}

impl PartialEq for DescriptorBudget {
    fn eq(&self, other: &Self) -> bool {
        match (&self.counter, &other.counter) {
            (Some(one), Some(other)) => Arc::ptr_eq(one, other),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for DescriptorBudget {}

impl DescriptorBudget {
    /// At most `limit` log files open at once.
    pub fn new(limit: usize) -> Self {
        DescriptorBudget {
            counter: Some(Arc::new(Counter {
                limit,
                used: AtomicUsize::new(0),
            })),
        }
    }

    /// The limit, `None` for none.
    pub fn limit(&self) -> Option<usize> {
        self.counter.as_ref().map(|counter| counter.limit)
    }

    /// Log files open now under this budget.
    pub fn in_use(&self) -> usize {
        self.counter
            .as_ref()
            .map_or(0, |counter| counter.used.load(Ordering::Relaxed))
    }

    /// One descriptor, given back when the token drops; `None` when the budget is spent.
    pub(crate) fn acquire(&self) -> Option<DescriptorToken> {
        let Some(counter) = &self.counter else {
            return Some(DescriptorToken { counter: None });
        };
        counter
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < counter.limit).then_some(used + 1)
            })
            .ok()?;
        Some(DescriptorToken {
            counter: Some(Arc::clone(counter)),
        })
    }
}

/// A descriptor counted against a [`DescriptorBudget`] while it lives.
#[derive(Debug)]
pub(crate) struct DescriptorToken {
    counter: Option<Arc<Counter>>,
}

impl Drop for DescriptorToken {
    fn drop(&mut self) {
        if let Some(counter) = &self.counter {
            counter.used.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_until_a_token_is_given_back() {
        let budget = DescriptorBudget::new(2);
        let first = budget.acquire().unwrap();
        let _second = budget.acquire().unwrap();
        assert!(budget.acquire().is_none());
        assert_eq!(budget.in_use(), 2);
        drop(first);
        assert!(budget.acquire().is_some());
        assert!(DescriptorBudget::default().acquire().is_some());
    }
}
