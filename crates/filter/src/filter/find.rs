//! `findFailure`: one buffer of lines through ignoreregex, prefregex and failregexes, with
//! multi-line buffering and the `F-MLFID` merge; what fail2ban's `Filter.findFailure` and
//! `_ignoreLine` do.

use std::collections::BTreeMap;

use super::{Filter, LineResult};
use crate::address::{Family, ip_text};
use crate::engine::CompiledRegex;
use crate::failure::{FailData, Failure, IdKind, merge_failure};
use crate::lines::{MatchedLines, TupleLine, TupleView, matched_lines, split_lines, write_buffer};

/// The line buffer during one `findFailure` call: original lines by index, or the
/// prefregex content that replaced them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BufferLine {
    Original(usize),
    Content(String),
}

/// State of one `findFailure` call.
struct Search<'a, 'v> {
    org: &'a [TupleView<'v>],
    /// `self.__lineBuffer` (None: still the original buffer).
    current: Option<Vec<BufferLine>>,
    /// Haystack for the current buffer; None when it must be rebuilt.
    buf_valid: bool,
    date: Option<f64>,
}

impl Filter {
    pub(super) fn find_failure(
        &mut self,
        view: TupleView<'_>,
        date: Option<f64>,
        no_date: bool,
        now: f64,
    ) -> LineResult {
        let mut result = LineResult::default();
        if self.maxlines > 1 {
            let before: Vec<u64> = self.line_buffer.iter().map(|l| l.serial).collect();
            let full = before.len() >= self.maxlines;
            let mut owned = std::mem::take(&mut self.line_buffer);
            owned.push(TupleLine::from_view(&view));
            let excess = owned.len().saturating_sub(self.maxlines);
            owned.drain(..excess);
            let views: Vec<TupleView<'_>> = owned.iter().map(TupleLine::view).collect();
            let current = self.search_lines(&views, date, no_date, now, &mut result);
            self.line_buffer = match current {
                None => owned.clone(),
                Some(lines) => materialize(&lines, &views, view.serial),
            };
            let after: Vec<u64> = self.line_buffer.iter().map(|l| l.serial).collect();
            result.consumed = before
                .into_iter()
                .skip(usize::from(full))
                .filter(|serial| !after.contains(serial))
                .collect();
        } else {
            self.search_lines(&[view], date, no_date, now, &mut result);
        }
        result
    }

    /// `findFailure` on the buffer `org`; returns the new line buffer (None: unchanged).
    fn search_lines(
        &mut self,
        org: &[TupleView<'_>],
        date: Option<f64>,
        no_date: bool,
        now: f64,
        result: &mut LineResult,
    ) -> Option<Vec<BufferLine>> {
        let mut buf = std::mem::take(&mut self.scratch);
        write_buffer(&mut buf, org.iter().copied());
        let mut search = Search {
            org,
            current: None,
            buf_valid: true,
            date,
        };
        self.search_buffer(&mut search, &mut buf, no_date, now, result);
        self.scratch = buf;
        search.current
    }

    fn search_buffer(
        &mut self,
        search: &mut Search<'_, '_>,
        buf: &mut String,
        no_date: bool,
        now: f64,
        result: &mut LineResult,
    ) {
        // fail2ban checks ignoreregex first only when there are far fewer of them.
        if !self.ignoreregex.is_empty()
            && self.ignoreregex.len() + 2 < self.failregex.len()
            && self.ignore_line(search, buf, None, result)
        {
            return;
        }
        let check_all = self.options.check_all_regex;
        // A daemon needs nothing of a line that no failregex can match: the literal scan
        // over the whole buffer (of which the content is a part) spares the prefregex too.
        // fail2ban-regex counts prefregex matches, so it scans the content later instead.
        if !check_all
            && self
                .failregex_set
                .as_ref()
                .is_some_and(|set| set.gate_rejects(buf))
        {
            return;
        }
        // One-line buffers that need no line bookkeeping (every line in fail2ban-regex, a
        // daemon jail with maxlines = 1) find the content with the probe, a DFA scan; the
        // prefregex's captures are wanted only when a failregex matches the content.
        let probe_fits =
            self.prefregex_probe.is_some() && (check_all || self.maxlines == 1) && is_one_line(buf);
        // Otherwise a daemon asks the anchor-free set first (fail2ban-regex counts prefregex
        // matches, so there the shortcut comes after counting). With the probe, the set over
        // the content answers the same question after a scan of the prefix only.
        if !check_all && !probe_fits && !self.anywhere_may_match(buf) {
            return;
        }
        let Some(prefregex) = self.prefregex.as_ref() else {
            self.run_failregexes(search, buf, PreGroups::Absent, None, no_date, now, result);
            return;
        };
        if check_all || probe_fits {
            // Counting needs only whether the prefregex matches (a DFA scan); its captures
            // are wanted only when some failregex can match the content at all.
            let content_start = match &self.prefregex_probe {
                Some(probe) if is_one_line(buf) => match probe.find_end(buf) {
                    // The probe ends one character into the content (see `prefregex_probe`).
                    Some(end) => Some(
                        buf[..end]
                            .chars()
                            .next_back()
                            .map_or(end, |c| end - c.len_utf8()),
                    ),
                    None => return,
                },
                _ if prefregex.is_match(buf) => None,
                _ => return,
            };
            result.prefregex_matched = true;
            self.hits.prefregex += 1;
            if let Some(start) = content_start {
                // The content is known: run the failregexes on it, and the prefregex's
                // captures only for a line that a failregex matched.
                // One scan of the content tells which failregexes match (most lines: none).
                let first = self
                    .failregex_set
                    .as_ref()
                    .map(|set| set.matches(&buf[start..]));
                if first.as_ref().is_some_and(Vec::is_empty) {
                    return;
                }
                let mut content = std::mem::take(&mut self.content_scratch);
                content.clear();
                content.push_str(&buf[start..]);
                let pre = PreGroups::Unsearched(buf.as_str());
                self.run_failregexes(search, &mut content, pre, first, no_date, now, result);
                self.content_scratch = content;
                return;
            }
            let may_match = match content_start {
                // The content with its newline, as the failregexes will see it: ask their
                // set (anchored patterns die within a few bytes) rather than scanning the
                // whole buffer with the anchor-free set.
                Some(start) => self
                    .failregex_set
                    .as_ref()
                    .is_none_or(|set| set.may_match(&buf[start..])),
                None => self.anywhere_may_match(buf),
            };
            if !may_match {
                return;
            }
        }
        let Some(prefregex) = self.prefregex.as_mut() else {
            return;
        };
        if !prefregex.search(buf) {
            return;
        }
        if !check_all {
            result.prefregex_matched = true;
            self.hits.prefregex += 1;
        }
        match prefregex
            .group("content")
            .filter(|(start, end)| start < end)
        {
            Some((start, end)) => {
                // `<F-CONTENT>` replaces the buffer. The prefregex's own groups are read from
                // the original buffer only if a failregex matches (most lines miss).
                let mut content = std::mem::take(&mut self.content_scratch);
                content.clear();
                content.push_str(&buf[start..end]);
                content.push('\n');
                if self.maxlines > 1 {
                    let text = buf[start..end].to_string();
                    search.current = Some(vec![BufferLine::Content(text)]);
                }
                let pre = PreGroups::Lazy(buf.as_str());
                self.run_failregexes(search, &mut content, pre, None, no_date, now, result);
                self.content_scratch = content;
            }
            None => {
                let pre = PreGroups::Ready(prefregex_groups(prefregex, buf));
                self.run_failregexes(search, buf, pre, None, no_date, now, result);
            }
        }
    }

    /// False when no failregex can match the prefregex content of `buf` (see `anywhere_set`).
    fn anywhere_may_match(&self, buf: &str) -> bool {
        self.anywhere_set
            .as_ref()
            .is_none_or(|set| set.may_match(buf))
    }

    /// Indices of failregexes worth running on `buf`, in order (allocates only on a hit).
    fn candidates(&self, buf: &str, from: usize) -> Vec<usize> {
        match &self.failregex_set {
            Some(set) if !set.may_match(buf) => Vec::new(),
            Some(set) => set
                .matches(buf)
                .into_iter()
                .filter(|i| *i >= from)
                .collect(),
            None => (from..self.failregex.len()).collect(),
        }
    }

    fn rebuild_buffer(&self, search: &mut Search<'_, '_>, buf: &mut String) {
        if search.buf_valid {
            return;
        }
        let org = search.org;
        match &search.current {
            None => write_buffer(buf, org.iter().copied()),
            Some(lines) => write_buffer(
                buf,
                lines.iter().map(|line| match line {
                    BufferLine::Original(i) => org[*i],
                    BufferLine::Content(text) => TupleView {
                        prefix: "",
                        date: "",
                        suffix: text,
                        serial: 0,
                    },
                }),
            ),
        }
        search.buf_valid = true;
    }

    /// Tries the failregexes on `buf` in order; `first`: the set's answer for `buf` when
    /// the caller already asked it.
    #[allow(clippy::too_many_arguments)]
    fn run_failregexes(
        &mut self,
        search: &mut Search<'_, '_>,
        buf: &mut String,
        mut pre_groups: PreGroups<'_>,
        first: Option<Vec<usize>>,
        no_date: bool,
        now: f64,
        result: &mut LineResult,
    ) {
        let mut candidates = match first {
            Some(candidates) => candidates,
            None => self.candidates(buf, 0),
        };
        let mut position = 0;
        let mut next_from = 0;
        loop {
            if !search.buf_valid {
                // The buffer changed: ask the prefilter again for the regexes still to try.
                self.rebuild_buffer(search, buf);
                candidates = self.candidates(buf, next_from);
                position = 0;
            }
            let Some(&index) = candidates.get(position) else {
                return;
            };
            position += 1;
            next_from = index + 1;
            if self.shortcuts
                && self.forgotten_without_failure(index, search, buf, &mut pre_groups, now)
            {
                if !self.options.check_all_regex {
                    return;
                }
                // fail2ban-regex goes on to the other failregexes and counts this one's
                // no-failure match (all its counts need).
                self.hits.failregex[index] += 1;
                result.failures.push(counted_no_failure(index, search.date));
                continue;
            }
            let step =
                self.try_failregex(index, search, buf, &mut pre_groups, no_date, now, result);
            if let Step::Stop = step {
                return;
            }
        }
    }

    /// One failregex on the current buffer (the body of findFailure's loop).
    #[allow(clippy::too_many_arguments)]
    fn try_failregex(
        &mut self,
        index: usize,
        search: &mut Search<'_, '_>,
        buf: &str,
        pre_groups: &mut PreGroups<'_>,
        no_date: bool,
        now: f64,
        result: &mut LineResult,
    ) -> Step {
        let check_all = self.options.check_all_regex;
        let regex = &mut self.failregex[index];
        if !regex.search(buf) {
            return Step::Continue;
        }
        let lines = regex_lines(regex, buf, search.org);
        let fail = groups_of(regex, buf);
        if !self.ignoreregex.is_empty() && self.ignore_line(search, buf, Some(&lines), result) {
            search.buf_valid = false;
            return if check_all {
                Step::Continue
            } else {
                Step::Stop
            };
        }
        if no_date && search.date.is_none() && self.options.check_find_time {
            return Step::Continue;
        }
        if !check_all || self.maxlines > 1 {
            search.current = Some(
                lines
                    .unmatched
                    .iter()
                    .map(|i| BufferLine::Original(*i))
                    .collect(),
            );
            search.buf_valid = false;
        }
        let matched: Vec<String> = lines
            .matched
            .iter()
            .map(|i| search.org[*i].full())
            .collect();
        self.resolve_pre_groups(pre_groups);
        let pre = match pre_groups {
            PreGroups::Ready(groups) => Some(&*groups),
            _ => None,
        };
        self.record_failure(index, fail, pre, matched, search.date, now, result)
    }

    /// Reads the prefregex's groups if that was put off.
    fn resolve_pre_groups(&mut self, pre_groups: &mut PreGroups<'_>) {
        if matches!(pre_groups, PreGroups::Unsearched(_)) && !self.prefregex_has_groups {
            // Nothing but the content, which fail2ban drops: no captures to run.
            *pre_groups = PreGroups::Ready(FailData::default());
            return;
        }
        if let (PreGroups::Unsearched(original), Some(prefregex)) = (
            &*pre_groups,
            self.prefregex_probe.as_mut().or(self.prefregex.as_mut()),
        ) {
            // The probe matched, so the prefregex does. The probe's leftmost-first match takes
            // the same path through the head as the prefregex's on a one-line buffer (both
            // need just one more character), so its groups are the prefregex's groups, found
            // over a span that stops one character into the content (the capture engine's
            // cost grows with the span).
            let groups = if prefregex.search(original) {
                prefregex_groups(prefregex, original)
            } else {
                FailData::default()
            };
            *pre_groups = PreGroups::Ready(groups);
        }
        if let (PreGroups::Lazy(original), Some(prefregex)) = (&*pre_groups, &self.prefregex) {
            *pre_groups = PreGroups::Ready(prefregex_groups(prefregex, original));
        }
    }

    /// A daemon's shortcut for a line that ends a multi-line id without a failure (see
    /// `forgets_without_failure`): true when failregex `index` matches `buf` and the id has
    /// no live entry in the multi-line cache. Such a line yields nothing and changes
    /// nothing, so the failregex's groups are never resolved (on an sshd log, most matched
    /// lines are these: `Accepted`, `Received disconnect`, `Connection closed`).
    fn forgotten_without_failure(
        &mut self,
        index: usize,
        search: &Search<'_, '_>,
        buf: &str,
        pre_groups: &mut PreGroups<'_>,
        now: f64,
    ) -> bool {
        let applies = self.forgets.get(index).copied().unwrap_or(false)
            && (!self.options.check_all_regex || !self.options.failure_details)
            && self.maxlines == 1
            && self.ignoreregex.is_empty()
            && search.date.is_some();
        if !applies {
            return false;
        }
        // A forgetting regex is linear, so its set (its exact pattern) already answered.
        let proven = self
            .failregex_set
            .as_ref()
            .is_some_and(|set| set.answers_exactly(buf));
        if !proven && !self.failregex[index].is_match(buf) {
            return false;
        }
        if let (true, PreGroups::Unsearched(original) | PreGroups::Lazy(original)) =
            (self.mlfid_is_prefix, &*pre_groups)
            && !self.mlfid.may_hold_prefix_of(original)
        {
            // The id is a prefix of the line and no cached id is: nothing to look up.
            return true;
        }
        self.resolve_pre_groups(pre_groups);
        let PreGroups::Ready(pre) = pre_groups else {
            return false;
        };
        match pre.get("mlfid") {
            Some(mlfid) => !self.mlfid.is_live(mlfid, now),
            None => false,
        }
    }

    /// Merges groups, handles the multi-line id, works out the failure id and records it.
    #[allow(clippy::too_many_arguments)]
    fn record_failure(
        &mut self,
        index: usize,
        fail: FailData,
        pre_groups: Option<&FailData>,
        matched: Vec<String>,
        date: Option<f64>,
        now: f64,
        result: &mut LineResult,
    ) -> Step {
        let check_all = self.options.check_all_regex;
        let mut fail = match pre_groups {
            Some(pre) => merge_pre_groups(pre, fail, &self.failregex[index]),
            None => fail,
        };
        let mlfid = fail.get("mlfid").map(str::to_string);
        let mut cached = false;
        if let Some(mlfid) = mlfid.as_deref() {
            let merged = merge_failure(&mut self.mlfid, mlfid, fail, matched, now);
            fail = merged.fail;
            cached = merged.cached;
            if fail.truthy("nofail") && !check_all {
                if cached {
                    self.mlfid.put_back(mlfid, fail);
                }
                return Step::Stop;
            }
        } else {
            fail.matches.get_or_insert_with(Vec::new).extend(matched);
        }
        let identity = self.identify(&fail, mlfid.is_some());
        let Some(identity) = identity else {
            // No id group took part and no multi-line id: fail2ban logs an error and goes on.
            if let (true, Some(mlfid)) = (cached, mlfid.as_deref()) {
                self.mlfid.put_back(mlfid, fail);
            }
            return Step::Continue;
        };
        if identity.id.is_none() {
            fail.pending = true;
        }
        if let Some(ip) = &identity.ip {
            fail.ip = Some(ip.clone());
        }
        if identity.id.is_none() && !check_all && self.options.ignore_pending {
            if let (true, Some(mlfid)) = (cached, mlfid.as_deref()) {
                self.mlfid.put_back(mlfid, fail);
            }
            return Step::Stop;
        }
        self.hits.failregex[index] += 1;
        let failure = match (cached, mlfid.as_deref()) {
            (true, Some(mlfid)) if !self.options.failure_details => {
                // Only the counts are wanted: the cache keeps the data itself.
                let counted = counted_failure(index, identity, fail.truthy("nofail"), date);
                self.mlfid.put_back(mlfid, fail);
                counted
            }
            (true, Some(mlfid)) => {
                self.mlfid.write_back(mlfid, &fail);
                build_failure(index, identity, fail, date)
            }
            _ => build_failure(index, identity, fail, date),
        };
        result.failures.push(failure);
        if check_all {
            Step::Continue
        } else {
            Step::Stop
        }
    }

    /// fail2ban's choice of failure id: ip4, ip6, dns (or 0.8 `host`), else the F-ID.
    fn identify(&self, fail: &FailData, has_mlfid: bool) -> Option<Identity> {
        let raw = self.raw_dns || self.options.raw_host;
        let fid = fail.get("fid");
        let cidr = fail.get("cidr").and_then(|c| c.parse::<u32>().ok());
        let fid_text = |fid: &str| {
            if raw {
                fid.to_string()
            } else {
                ip_text(fid, None, Family::Any)
            }
        };
        let (host, family) = if let Some(ip) = fail.get("ip4") {
            (ip, Some(Family::V4))
        } else if let Some(ip) = fail.get("ip6") {
            (ip, Some(Family::V6))
        } else if let Some(dns) = fail.get("dns").or_else(|| fail.get("host")) {
            // `host` is the 0.8-era group: an address or a name, like `dns`.
            if !raw {
                return Some(dns_identity(dns, cidr));
            }
            // Raw: the text as written is the id (`IPAddr(dns, CIDR_RAW)`), even an address.
            (dns, None)
        } else {
            if fid.is_none() && !has_mlfid {
                return None;
            }
            return Some(Identity {
                id: fid.map(fid_text),
                kind: IdKind::Raw,
                host: None,
                ip: None,
                cidr,
            });
        };
        let address = match family {
            Some(family) => ip_text(host, cidr, family),
            None => host.to_string(),
        };
        let kind = if family.is_some() {
            IdKind::Ip
        } else {
            IdKind::Raw
        };
        Some(match fid {
            Some(fid) if fid != host => Identity {
                id: Some(fid_text(fid)),
                kind: IdKind::Raw,
                host: Some(host.to_string()),
                ip: Some(address),
                cidr,
            },
            _ => Identity {
                id: Some(address),
                kind,
                host: Some(host.to_string()),
                ip: None,
                cidr,
            },
        })
    }

    /// `_ignoreLine`: true when an ignoreregex matched (all are tried with check_all_regex).
    fn ignore_line(
        &mut self,
        search: &mut Search<'_, '_>,
        buf: &str,
        failregex_lines: Option<&MatchedLines>,
        result: &mut LineResult,
    ) -> bool {
        let check_all = self.options.check_all_regex;
        // Multi-line: only the lines the failregex matched are checked.
        let narrowed;
        let haystack = match failregex_lines {
            Some(lines) if self.maxlines > 1 => {
                let mut text = String::new();
                write_buffer(&mut text, lines.matched.iter().map(|i| search.org[*i]));
                narrowed = text;
                narrowed.as_str()
            }
            _ => buf,
        };
        if let Some(set) = &self.ignoreregex_set
            && !set.may_match(haystack)
        {
            return false;
        }
        let mut found = false;
        for index in 0..self.ignoreregex.len() {
            if !self.ignoreregex[index].search(haystack) {
                continue;
            }
            found = true;
            self.hits.ignoreregex[index] += 1;
            result.ignored.push(index);
            if let (true, Some(lines)) = (!check_all || self.maxlines > 1, failregex_lines) {
                search.current = Some(
                    lines
                        .unmatched
                        .iter()
                        .map(|i| BufferLine::Original(*i))
                        .collect(),
                );
                search.buf_valid = false;
            }
            if !check_all {
                break;
            }
        }
        found
    }
}

/// `DNSUtils.textToIp` on a `dns` group outside raw mode: an address is the id (normalized,
/// its `cidr` group and F-ID unused); a host name is left for the caller to resolve.
fn dns_identity(dns: &str, cidr: Option<u32>) -> Identity {
    let address = dns.parse::<std::net::IpAddr>().is_ok();
    Identity {
        id: Some(if address {
            ip_text(dns, None, Family::Any)
        } else {
            dns.to_string()
        }),
        kind: if address { IdKind::Ip } else { IdKind::Dns },
        host: Some(dns.to_string()),
        ip: None,
        cidr,
    }
}

/// A buffer of one line: no newline but the last character.
fn is_one_line(buf: &str) -> bool {
    let bytes = buf.as_bytes();
    !bytes[..bytes.len().saturating_sub(1)].contains(&b'\n')
}

/// The prefregex's groups for this line.
enum PreGroups<'a> {
    /// No prefregex.
    Absent,
    Ready(FailData),
    /// Still to be read from the original buffer (the prefregex keeps its match spans).
    Lazy(&'a str),
    /// Still to be read from the original buffer, which the prefregex was not yet run on
    /// (the regex tool found the content with the prefregex probe).
    Unsearched(&'a str),
}

/// `getGroups` of the prefregex, without `content` (fail2ban pops it).
fn prefregex_groups(prefregex: &CompiledRegex, buf: &str) -> FailData {
    let mut groups = groups_of(prefregex, buf);
    groups.values.remove("content");
    groups
}

enum Step {
    Continue,
    Stop,
}

struct Identity {
    id: Option<String>,
    kind: IdKind,
    host: Option<String>,
    ip: Option<String>,
    cidr: Option<u32>,
}

/// A no-failure match counted by fail2ban-regex without its details (see
/// `FilterOptions::failure_details`).
fn counted_no_failure(index: usize, date: Option<f64>) -> Failure {
    Failure {
        failregex: index,
        id: None,
        host: None,
        id_kind: IdKind::Raw,
        ip: None,
        cidr: None,
        time: date,
        groups: BTreeMap::new(),
        users: Vec::new(),
        matches: Vec::new(),
        nofail: true,
    }
}

/// A failure with its id but without groups and lines (`FilterOptions::failure_details` off).
fn counted_failure(index: usize, identity: Identity, nofail: bool, date: Option<f64>) -> Failure {
    Failure {
        failregex: index,
        id: identity.id,
        host: identity.host,
        id_kind: identity.kind,
        ip: identity.ip,
        cidr: identity.cidr,
        time: date,
        groups: BTreeMap::new(),
        users: Vec::new(),
        matches: Vec::new(),
        nofail,
    }
}

fn build_failure(index: usize, identity: Identity, fail: FailData, date: Option<f64>) -> Failure {
    let counted = counted_failure(index, identity, fail.truthy("nofail"), date);
    Failure {
        groups: fail.values,
        users: fail.users.unwrap_or_default(),
        matches: fail.matches.unwrap_or_default(),
        ..counted
    }
}

/// `preGroups.copy().update(fail)`: the failregex's groups win, including those that did not
/// take part (Python copies their None).
///
/// Built from the failregex's groups, adding the prefregex's others: the prefregex's groups
/// are kept for the next failregex, so whatever is taken from them is copied.
fn merge_pre_groups(pre: &FailData, fail: FailData, regex: &CompiledRegex) -> FailData {
    let mut merged = FailData {
        values: fail.values,
        users: pre.users.clone(),
        matches: pre.matches.clone(),
        nofail_matches: pre.nofail_matches.clone(),
        pending: pre.pending,
        ip: pre.ip.clone(),
    };
    for (name, value) in &pre.values {
        if !merged.values.contains_key(name) && !regex.has_group(name) {
            merged.values.insert(name.clone(), value.clone());
        }
    }
    merged
}

/// `getGroups`: participating named groups, then `alt_*` and `tuple_*` merging.
fn groups_of(regex: &CompiledRegex, buf: &str) -> FailData {
    let mut values = BTreeMap::new();
    let mut alternates = Vec::new();
    let mut tuples = Vec::new();
    for (name, span) in regex.named_spans() {
        // Most groups are plain (`user`, `ip4`): skip the prefix tests for them.
        let maybe_complex = matches!(name.as_bytes().first(), Some(b'a' | b't'));
        if maybe_complex && let Some(target) = complex_target(name, "alt_") {
            alternates.push((name.to_string(), target));
        } else if maybe_complex && let Some(target) = complex_target(name, "tuple_") {
            tuples.push((name.to_string(), target));
        }
        if let Some((start, end)) = span
            && let Some(text) = buf.get(start..end)
        {
            values.insert(name.to_string(), text.to_string());
        }
    }
    alternates.sort();
    tuples.sort();
    for (name, target) in alternates {
        if let Some(value) = values.get(&name).filter(|v| !v.is_empty()).cloned()
            && values.get(&target).is_none_or(|v| v.is_empty())
        {
            values.insert(target, value);
        }
    }
    merge_tuples(&mut values, tuples);
    FailData {
        values,
        ..FailData::default()
    }
}

/// `COMPLNAME_CRE`: `alt_user_1` → `user` (with `mapTag2Opt`: `alt_id` → `fid`).
fn complex_target(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() {
        return None;
    }
    // Strip one trailing `_<digits>` (the regex's non-greedy `(.*?)(?:_\d+)?$`).
    let base = match rest.rfind('_') {
        Some(at) if at + 1 < rest.len() && rest[at + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &rest[..at]
        }
        _ => rest,
    };
    Some(crate::tags::map_tag_to_option(base))
}

/// `F-TUPLE_*`: the target becomes a Python tuple of its value and the parts, rendered as
/// Python prints it (that text is what fail2ban then uses as the id).
fn merge_tuples(values: &mut BTreeMap<String, String>, tuples: Vec<(String, String)>) {
    let mut combined: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for (name, target) in tuples {
        let part = values.get(&name).cloned();
        let entry = combined
            .entry(target.clone())
            .or_insert_with(|| vec![values.get(&target).cloned()]);
        entry.push(part);
    }
    for (target, parts) in combined {
        let rendered: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Some(text) => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
                None => "None".to_string(),
            })
            .collect();
        values.insert(target, format!("({})", rendered.join(", ")));
    }
}

/// Lines covered by the last match of `regex` (with `<SKIPLINES>` lines moved out).
fn regex_lines(regex: &CompiledRegex, buf: &str, org: &[TupleView<'_>]) -> MatchedLines {
    let span = regex.span().unwrap_or((0, 0));
    if org.len() <= 1 {
        return matched_lines(buf, span, org, &[]);
    }
    let mut skipped_text = String::new();
    for (name, group_span) in regex.named_spans() {
        if name.starts_with("skiplines")
            && let Some((start, end)) = group_span
        {
            skipped_text.push_str(buf.get(start..end).unwrap_or(""));
        }
    }
    let skipped: Vec<&str> = split_lines(&skipped_text).collect();
    matched_lines(buf, span, org, &skipped)
}

/// The new line buffer as owned lines.
fn materialize(lines: &[BufferLine], views: &[TupleView<'_>], serial: u64) -> Vec<TupleLine> {
    lines
        .iter()
        .map(|line| match line {
            BufferLine::Original(i) => TupleLine::from_view(&views[*i]),
            BufferLine::Content(text) => TupleLine {
                text: text.clone(),
                date_start: 0,
                date_end: 0,
                serial,
            },
        })
        .collect()
}
