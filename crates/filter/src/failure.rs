//! Failure data: the groups a match captured plus fail2ban's bookkeeping (matched lines,
//! users, no-failure state), and the multi-line failure-id cache (`F-MLFID`) that merges
//! data across lines the way `Filter._mergeFailure` does.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// What the failure id of a [`Failure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// An address captured by `ip4`/`ip6` (or a 0.8-style `host` group holding an address).
    Ip,
    /// A host name (`dns` group or `host` group): the caller resolves it per `usedns`.
    Dns,
    /// Raw text: an `F-ID`, a raw host name (`usedns = raw`), or an `F-ID` that differs from
    /// the address (the address is then in `ip`).
    Raw,
}

/// One failure found in a line (fail2ban's `[failRegexIndex, fid, date, fail]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Index of the failregex that matched.
    pub failregex: usize,
    /// The id the failure counts against (None: still waiting for an id, multi-line only).
    pub id: Option<String>,
    pub id_kind: IdKind,
    /// The host text captured (`ip4`, `ip6`, `dns` or `host` group), as written in the line.
    pub host: Option<String>,
    /// The address when an `F-ID` different from it is the id (fail2ban's `ip` data key).
    pub ip: Option<String>,
    /// The `cidr` group, when captured.
    pub cidr: Option<u32>,
    /// Time of the failure (None only when no date was found and find-time checks are off).
    pub time: Option<f64>,
    /// All named groups that took part, after `F-ALT_*`/`F-TUPLE_*` merging, prefregex
    /// groups included (e.g. `user`, `fid`, `mlfid`, `ip4`, `dns`, `nofail`).
    pub groups: BTreeMap<String, String>,
    /// Users seen on the same multi-line failure id (`users` in fail2ban's ticket data).
    pub users: Vec<String>,
    /// The log lines of this failure, as read (with their dates).
    pub matches: Vec<String>,
    /// `F-NOFAIL`/`F-MLFGAINED` state: this is not a failure (e.g. a successful login).
    pub nofail: bool,
}

/// fail2ban's mutable `fail` dict.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FailData {
    pub values: BTreeMap<String, String>,
    pub users: Option<Vec<String>>,
    pub matches: Option<Vec<String>>,
    pub nofail_matches: Option<Vec<String>>,
    pub pending: bool,
    pub ip: Option<String>,
}

impl FailData {
    /// `fail.get(name)` as a Python truth value.
    pub fn truthy(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_empty())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `_updateUsers`: adds `user` (when non-empty) to the users set.
    fn update_users(&mut self, user: Option<&str>) -> Option<usize> {
        if let Some(user) = user.filter(|u| !u.is_empty()) {
            let users = self.users.get_or_insert_with(Vec::new);
            if !users.iter().any(|u| u == user) {
                users.push(user.to_string());
            }
            return Some(users.len());
        }
        self.users.as_ref().map(Vec::len)
    }

    /// `dict.update` with the non-None entries of `other`.
    fn update_from(&mut self, other: FailData) {
        self.values.extend(other.values);
        if other.users.is_some() {
            self.users = other.users;
        }
        if other.matches.is_some() {
            self.matches = other.matches;
        }
        if other.nofail_matches.is_some() {
            self.nofail_matches = other.nofail_matches;
        }
        if other.pending {
            self.pending = true;
        }
        if other.ip.is_some() {
            self.ip = other.ip;
        }
    }
}

/// `Utils.Cache(maxCount=100, maxTime=5*60)` holding failure data by multi-line id.
///
/// The Python cache is an OrderedDict evicted from the front. Here a map gives O(1) lookup
/// and a queue keeps insertion order; queue entries whose sequence number no longer matches
/// the map (the key was removed, or removed and set again) are stale and skipped.
#[derive(Debug, Clone, Default)]
pub(crate) struct MlfidCache {
    entries: HashMap<String, MlfidEntry>,
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    /// How many keys there are of each length, for [`Self::may_hold_prefix_of`].
    key_lengths: BTreeMap<usize, usize>,
}

#[derive(Debug, Clone)]
struct MlfidEntry {
    data: FailData,
    expiry: f64,
    seq: u64,
}

const MLFID_MAX_COUNT: usize = 100;
const MLFID_MAX_TIME: f64 = 5.0 * 60.0;

impl MlfidCache {
    #[cfg(test)]
    pub fn get(&mut self, key: &str, now: f64) -> Option<FailData> {
        let data = self.take(key, now)?;
        self.put_back(key, data.clone());
        Some(data)
    }

    /// The data of `key`'s live entry, moved out; the entry stays, empty until the caller
    /// puts the merged state back with [`Self::write_back`] or [`Self::put_back`]
    /// (Python's cache and caller share one dict). An expired entry is dropped.
    pub fn take(&mut self, key: &str, now: f64) -> Option<FailData> {
        let entry = self.entries.get_mut(key)?;
        if entry.expiry > now {
            return Some(std::mem::take(&mut entry.data));
        }
        self.unset(key);
        None
    }

    /// True when `key` has an entry that has not expired; an expired one is dropped, as
    /// [`Self::get`] drops it.
    pub fn is_live(&mut self, key: &str, now: f64) -> bool {
        match self.entries.get(key) {
            None => false,
            Some(entry) if entry.expiry > now => true,
            Some(_) => {
                self.unset(key);
                false
            }
        }
    }

    pub fn set(&mut self, key: &str, value: FailData, now: f64) {
        if self.entries.len() >= MLFID_MAX_COUNT {
            // Evict from the front until a still-valid entry is dropped with room left.
            while let Some((_, expiry)) = self.pop_front() {
                if expiry > now && self.entries.len() < MLFID_MAX_COUNT {
                    break;
                }
            }
        }
        let expiry = now + MLFID_MAX_TIME;
        if let Some(entry) = self.entries.get_mut(key) {
            // Python's `cache[k] = v` keeps the key's place in the order.
            entry.data = value;
            entry.expiry = expiry;
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, key.to_string()));
        let entry = MlfidEntry {
            data: value,
            expiry,
            seq,
        };
        self.entries.insert(key.to_string(), entry);
        *self.key_lengths.entry(key.len()).or_default() += 1;
    }

    /// `popitem(last=False)`: removes the oldest live entry, returning its key and expiry.
    fn pop_front(&mut self) -> Option<(String, f64)> {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.seq == seq) {
                let entry = self.entries.remove(&key)?;
                self.forget_length(key.len());
                return Some((key, entry.expiry));
            }
        }
        None
    }

    fn forget_length(&mut self, length: usize) {
        if let Some(count) = self.key_lengths.get_mut(&length) {
            *count -= 1;
            if *count == 0 {
                self.key_lengths.remove(&length);
            }
        }
    }

    /// False when no key (live or expired) is a prefix of `text`: then the multi-line id
    /// of a line, when it is a prefix of the line, has no entry. A few hash lookups, one per
    /// distinct key length, instead of finding the id with the capture engine.
    pub fn may_hold_prefix_of(&self, text: &str) -> bool {
        self.key_lengths.keys().any(|&length| {
            text.get(..length)
                .is_some_and(|prefix| self.entries.contains_key(prefix))
        })
    }

    pub fn unset(&mut self, key: &str) {
        let removed = self.entries.remove(key).is_some();
        if removed {
            self.forget_length(key.len());
        }
        if removed && self.order.len() > 2 * self.entries.len() + 64 {
            // Drop stale queue entries so the queue stays proportional to the map.
            let entries = &self.entries;
            self.order
                .retain(|(seq, key)| entries.get(key).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Writes back the final state of an entry that is still cached (Python shares the dict).
    pub fn write_back(&mut self, key: &str, value: &FailData) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.data = value.clone();
        }
    }

    /// [`Self::write_back`] for a caller that needs the data no more.
    pub fn put_back(&mut self, key: &str, value: FailData) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.data = value;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

const NOFAIL: u8 = 1;
const FORGET: u8 = 2;
const CACHED_NOFAIL: u8 = 4;
const GAINED: u8 = 8;

/// Outcome of [`merge_failure`]: the merged data and whether it is (still) the cache entry.
/// When it is, the caller puts the data back into the entry ([`MlfidCache::put_back`] or
/// [`MlfidCache::write_back`]) once done with it: the entry is empty until then.
pub(crate) struct Merged {
    pub fail: FailData,
    pub cached: bool,
}

/// `Filter._mergeFailure`, flag for flag.
pub(crate) fn merge_failure(
    cache: &mut MlfidCache,
    mlfid: &str,
    mut fail: FailData,
    matched: Vec<String>,
    now: f64,
) -> Merged {
    // Moved out: when the entry stays cached (`Merged::cached`), the caller puts the final
    // state back.
    let cached_fail = cache.take(mlfid, now);
    let mut users = None;
    let mut flags = 0u8;
    if fail.truthy("mlfgained") {
        flags |= GAINED | NOFAIL;
        if !fail.truthy("nofail") {
            let gained = fail.get("mlfgained").unwrap_or_default().to_string();
            fail.values.insert("nofail".into(), gained);
        }
    } else if fail.truthy("nofail") {
        flags |= NOFAIL;
    }
    if fail
        .values
        .remove("mlfforget")
        .is_some_and(|v| !v.is_empty())
    {
        flags |= FORGET;
    }
    let mut still_cached = false;
    if let Some(mut groups) = cached_fail {
        users = groups.update_users(fail.get("user"));
        if groups
            .values
            .remove("nofail")
            .is_some_and(|v| !v.is_empty())
        {
            flags |= CACHED_NOFAIL;
        }
        if groups
            .values
            .remove("mlfgained")
            .is_some_and(|v| !v.is_empty())
        {
            flags |= CACHED_NOFAIL;
        }
        if flags & GAINED != 0 {
            groups.pending = false;
        }
        if flags & CACHED_NOFAIL == 0 && !groups.pending {
            groups.matches = None;
        }
        groups.update_from(fail);
        fail = groups;
        if flags & FORGET != 0 {
            cache.unset(mlfid);
        } else {
            still_cached = true;
        }
    } else if flags & FORGET == 0 {
        let user = fail.get("user").map(str::to_string);
        users = fail.update_users(user.as_deref());
        // The entry's data is the caller's to put back, merged (see `Merged::cached`).
        cache.set(mlfid, FailData::default(), now);
        still_cached = true;
    }
    let was_pending = std::mem::take(&mut fail.pending);
    if was_pending || users.is_some_and(|n| n > 1) {
        fail.values.remove("nofail");
        fail.values.remove("mlfgained");
        flags &= !(GAINED | NOFAIL);
    }
    if flags & NOFAIL == 0 {
        let mut lines = fail.nofail_matches.take().unwrap_or_default();
        lines.extend(fail.matches.take().unwrap_or_default());
        if flags & GAINED == 0 {
            lines.extend(matched);
        }
        fail.matches = Some(lines);
    } else if flags & (NOFAIL | FORGET) == NOFAIL {
        let mut lines = fail.nofail_matches.take().unwrap_or_default();
        lines.extend(matched);
        fail.nofail_matches = Some(lines);
    }
    Merged {
        fail,
        cached: still_cached,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> FailData {
        FailData {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..FailData::default()
        }
    }

    #[test]
    fn first_line_is_cached_and_later_lines_merge_into_it() {
        let mut cache = MlfidCache::default();
        let first = merge_failure(
            &mut cache,
            "c1",
            data(&[("mlfid", "c1"), ("user", "bob")]),
            vec!["l1".into()],
            0.0,
        );
        assert!(first.cached);
        assert_eq!(cache.len(), 1);
        // As the filter does with a merge that stays cached.
        cache.put_back("c1", first.fail);
        let second = merge_failure(
            &mut cache,
            "c1",
            data(&[("mlfid", "c1"), ("ip4", "1.2.3.4")]),
            vec!["l2".into()],
            1.0,
        );
        assert_eq!(second.fail.get("user"), Some("bob"));
        assert_eq!(second.fail.get("ip4"), Some("1.2.3.4"));
    }

    #[test]
    fn forget_removes_the_entry() {
        let mut cache = MlfidCache::default();
        merge_failure(&mut cache, "c1", data(&[("mlfid", "c1")]), vec![], 0.0);
        let merged = merge_failure(
            &mut cache,
            "c1",
            data(&[("mlfid", "c1"), ("mlfforget", "x")]),
            vec![],
            1.0,
        );
        assert!(!merged.cached);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn nofail_lines_are_held_back_until_a_failure() {
        let mut cache = MlfidCache::default();
        let merged = merge_failure(
            &mut cache,
            "c",
            data(&[("nofail", "pk")]),
            vec!["a".into()],
            0.0,
        );
        assert_eq!(merged.fail.nofail_matches, Some(vec!["a".to_string()]));
        assert!(merged.fail.truthy("nofail"));
    }

    #[test]
    fn entries_expire_after_five_minutes() {
        let mut cache = MlfidCache::default();
        cache.set("k", FailData::default(), 0.0);
        assert!(cache.get("k", 299.0).is_some());
        assert!(cache.get("k", 301.0).is_none());
    }

    #[test]
    fn eviction_drops_oldest_first_and_skips_removed_keys() {
        let mut cache = MlfidCache::default();
        for i in 0..MLFID_MAX_COUNT {
            cache.set(&i.to_string(), FailData::default(), 0.0);
        }
        cache.unset("0");
        cache.set("0", FailData::default(), 0.0);
        // Full: the oldest live entry is "1" (the re-set "0" is now the newest).
        cache.set("new", FailData::default(), 0.0);
        assert!(cache.get("1", 1.0).is_none());
        assert!(cache.get("0", 1.0).is_some());
        assert!(cache.get("2", 1.0).is_some());
        assert!(cache.get("new", 1.0).is_some());
        assert_eq!(cache.len(), MLFID_MAX_COUNT);
    }

    #[test]
    fn updating_a_key_keeps_its_place() {
        let mut cache = MlfidCache::default();
        cache.set("a", FailData::default(), 0.0);
        cache.set("b", FailData::default(), 0.0);
        cache.set("a", FailData::default(), 10.0);
        for i in 2..MLFID_MAX_COUNT {
            cache.set(&i.to_string(), FailData::default(), 10.0);
        }
        cache.set("c", FailData::default(), 10.0);
        assert!(cache.get("a", 11.0).is_none());
        assert!(cache.get("b", 11.0).is_some());
    }

    #[test]
    fn cache_keeps_at_most_one_hundred_entries() {
        let mut cache = MlfidCache::default();
        for i in 0..150 {
            cache.set(&i.to_string(), FailData::default(), 0.0);
        }
        assert!(cache.len() <= MLFID_MAX_COUNT);
        assert!(cache.get("149", 1.0).is_some());
    }
}
