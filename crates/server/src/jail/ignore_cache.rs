//! `ignorecache`: fail2ban's cache of `ignorecommand` answers, so that a command is not run
//! again for every failure of the same address (`Filter._inIgnoreIPList` with
//! `Utils.Cache`).
//!
//! The setting is `key="<ip>", max-count=100, max-time=5m`: answers are kept under the
//! key with the failure's tags filled in, at most `max-count` of them (the oldest leave
//! first), each for `max-time` seconds. Only the command's answers are kept here: the
//! `ignoreip` list is as fast to ask as the cache.

use std::collections::{HashMap, VecDeque};

use ferroban_tracker::Failure;

/// The parsed setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreCacheSpec {
    /// The key with its tags (`<ip>`, `<F-USER>`...).
    pub key: String,
    pub max_count: u64,
    /// Seconds an answer is kept.
    pub max_time: i64,
}

/// Why a setting was refused, in the words of fail2ban's server.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreCacheError {
    /// `extractOptions`' syntax errors.
    #[error("{0}")]
    Syntax(String),
    /// A dict without `key` (Python's `KeyError`).
    #[error("'key'")]
    NoKey,
    #[error("invalid literal for int() with base 10: '{0}'")]
    NotAnInteger(String),
    #[error("invalid time {0:?}: {1}")]
    Time(String, String),
}

impl IgnoreCacheSpec {
    /// fail2ban's `setIgnoreCache`: `extractOptions("cache[" + value + "]")`; no options at
    /// all turn the cache off (`None`).
    pub fn parse(value: &str) -> Result<Option<IgnoreCacheSpec>, IgnoreCacheError> {
        let definition = ferroban_config::extract_options(&format!("cache[{value}]"))
            .map_err(IgnoreCacheError::Syntax)?;
        let options = definition.options;
        if options.is_empty() {
            return Ok(None);
        }
        let key = options.get("key").ok_or(IgnoreCacheError::NoKey)?.clone();
        let max_count = match options.get("max-count") {
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| IgnoreCacheError::NotAnInteger(text.clone()))?,
            None => 100,
        };
        let max_time = match options.get("max-time") {
            Some(text) => ferroban_config::str_to_seconds(text)
                .map_err(|error| IgnoreCacheError::Time(text.clone(), error))?,
            None => 300,
        };
        Ok(Some(IgnoreCacheSpec {
            key,
            max_count,
            max_time,
        }))
    }

    /// The key for one failure: `<ip>`, `<family>` and its `<F-*>` values filled in.
    fn key_of(&self, failure: &Failure) -> String {
        let mut key = self.key.replace("<ip>", &failure.id.to_string());
        if let Some(ip) = failure.id.ip() {
            key = key.replace("<family>", if ip.is_ipv4() { "inet4" } else { "inet6" });
        }
        for (name, value) in failure.data.to_map() {
            key = key.replace(&format!("<{name}>"), &value);
            key = key.replace(&format!("<F-{}>", name.to_ascii_uppercase()), &value);
        }
        key
    }
}

/// The answers kept, with the time each one expires.
#[derive(Debug)]
pub(crate) struct IgnoreCache {
    spec: IgnoreCacheSpec,
    answers: HashMap<String, (bool, i64)>,
    order: VecDeque<String>,
}

impl IgnoreCache {
    pub(crate) fn new(spec: IgnoreCacheSpec) -> IgnoreCache {
        IgnoreCache {
            spec,
            answers: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn spec(&self) -> &IgnoreCacheSpec {
        &self.spec
    }

    /// The kept answer for `failure` at `now`, if it has not expired.
    pub(crate) fn get(&mut self, failure: &Failure, now: i64) -> Option<bool> {
        let key = self.spec.key_of(failure);
        match self.answers.get(&key) {
            Some((answer, until)) if *until > now => Some(*answer),
            Some(_) => {
                self.answers.remove(&key);
                self.order.retain(|k| *k != key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` for `failure` until `now + max-time`; when full, the oldest go
    /// first, as `Utils.Cache.set` does (stopping at the first one still valid).
    pub(crate) fn set(&mut self, failure: &Failure, answer: bool, now: i64) {
        let key = self.spec.key_of(failure);
        if self.answers.len() as u64 >= self.spec.max_count {
            while let Some(oldest) = self.order.pop_front() {
                let expired = self.answers.remove(&oldest).is_none_or(|(_, t)| t <= now);
                if !expired && (self.answers.len() as u64) < self.spec.max_count {
                    break;
                }
            }
        }
        if self
            .answers
            .insert(key.clone(), (answer, now + self.spec.max_time))
            .is_none()
        {
            self.order.push_back(key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_as_fail2ban_reads_it() {
        let spec = IgnoreCacheSpec::parse(r#"key="<ip>", max-count=100, max-time=5m"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (spec.key.as_str(), spec.max_count, spec.max_time),
            ("<ip>", 100, 300)
        );
        assert_eq!(IgnoreCacheSpec::parse("").unwrap(), None);
        let error = |value| IgnoreCacheSpec::parse(value).unwrap_err().to_string();
        assert_eq!(error("max-count=5"), "'key'");
        assert_eq!(error("bogus"), "expected option, wrong syntax at 0: bogus");
        assert_eq!(
            error("key=<ip>, max-count=x"),
            "invalid literal for int() with base 10: 'x'"
        );
    }

    #[test]
    fn answers_expire_and_the_oldest_leave_first() {
        let spec = IgnoreCacheSpec::parse("key=<ip>, max-count=2, max-time=10")
            .unwrap()
            .unwrap();
        let mut cache = IgnoreCache::new(spec);
        let failure = |ip: &str| Failure::new(ferroban_tracker::FailId::parse(ip), 0);
        cache.set(&failure("192.0.2.1"), true, 100);
        assert_eq!(cache.get(&failure("192.0.2.1"), 105), Some(true));
        assert_eq!(cache.get(&failure("192.0.2.1"), 110), None);
        cache.set(&failure("192.0.2.1"), true, 200);
        cache.set(&failure("192.0.2.2"), false, 201);
        cache.set(&failure("192.0.2.3"), false, 202);
        assert_eq!(cache.get(&failure("192.0.2.1"), 203), None);
        assert_eq!(cache.get(&failure("192.0.2.3"), 203), Some(false));
    }
}
