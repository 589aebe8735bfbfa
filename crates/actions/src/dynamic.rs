//! Dynamic (per-ban) tags: `<ip>`, `<matches>`, `<F-USER>`, … and how their
//! values reach the shell without ever being parsed by it.
//!
//! # Why values travel in environment variables
//!
//! Matches, `<F-*>` captures and the failure id come from log lines, so they
//! hold whatever an attacker typed. fail2ban 1.0.2 inserts "harmless" values
//! literally and moves values containing shell metacharacters into shell
//! variables (`f2bV_matches=$1` in front of the script), referenced unquoted.
//! We go one step further:
//!
//! * A value that we produced ourselves and checked (the IP, parsed as an
//!   address; its reverse form; numbers; the family) is inserted literally.
//! * Every other value is passed in an environment variable (`F2B_MATCHES`,
//!   `F2B_F_USER`, …) and the tag is replaced by a *parameter expansion*. The
//!   shell never parses the result of an expansion again, so no value can run
//!   a command, whatever it contains.
//! * The expansion is quoted to fit where the tag stands, found by a small
//!   scan of the command's quoting: unquoted → `"${V}"` (no word splitting or
//!   globbing), inside `"…"` → `${V}`, inside `'…'` → `'"${V}"'` (close the
//!   single quotes, expand in double quotes, reopen). Command substitutions
//!   and backticks nested in double quotes are tracked as unquoted. The stock
//!   actions put `<matches>` inside `printf %b "…"` (sendmail-whois-matches)
//!   and `"<matches>"` (abuseipdb, blocklist_de); all keep working, with the
//!   value arriving byte-exact (`printf %b` still interprets backslashes in
//!   it, as with fail2ban).
//! * Here-documents are not recognised specially: in their body `${V}` is
//!   expanded once and never re-parsed, so a misjudged quoting context can
//!   only add visible quote characters, never run anything. No stock action
//!   puts a dynamic tag into a here-document.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

use crate::tags::{TAG_RE, builtin_tag};

/// fail2ban's `FCUSTAG_CRE`: capture groups of the filter, upper case only.
#[allow(clippy::expect_used)] // a constant pattern, checked by every test
static FILTER_TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<F-([A-Z0-9_\-]+)>").expect("valid F-tag regex"));

/// No filter captures, for a [`BanInfo`] built without any.
static NO_DATA: BTreeMap<String, String> = BTreeMap::new();

/// Everything fail2ban's `ActionInfo` offers about one ban: a view borrowing the ban's
/// matches and captures, so that running the actions copies none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct BanInfo<'a> {
    /// The banned address; validated by its type.
    pub ip: IpAddr,
    /// Failure id (`<fid>`, the filter's `<F-ID>`); `None` means the IP.
    pub fid: Option<String>,
    /// Failures counted for this ticket (`<failures>`).
    pub failures: u32,
    /// Time of the ban, Unix seconds (`<time>`).
    pub time: i64,
    /// Ban duration in seconds, -1 for permanent (`<bantime>`).
    pub ban_time: i64,
    /// How often this IP was banned before (`<bancount>`).
    pub ban_count: u32,
    /// Log lines of this ticket (`<matches>`, joined by newlines).
    pub matches: &'a [String],
    /// Matches of this IP over all jails (`<ipmatches>`); `None` → `matches`.
    pub ip_matches: Option<Vec<String>>,
    /// Matches of this IP in this jail (`<ipjailmatches>`); `None` → `matches`.
    pub ip_jail_matches: Option<Vec<String>>,
    /// Failures of this IP over all jails (`<ipfailures>`); `None` → `failures`.
    pub ip_failures: Option<u32>,
    /// Failures of this IP in this jail (`<ipjailfailures>`); `None` → `failures`.
    pub ip_jail_failures: Option<u32>,
    /// The ban was restored from the database at start (`<restored>`).
    pub restored: bool,
    /// Filter captures by fail2ban option name (`user` for `<F-USER>`,
    /// `fport` for `<F-PORT>`), as fail2ban's ticket data.
    pub data: &'a BTreeMap<String, String>,
}

impl BanInfo<'_> {
    /// A ban of `ip` at `time` for `ban_time` seconds, with no other details.
    pub fn new(ip: IpAddr, time: i64, ban_time: i64) -> Self {
        BanInfo {
            ip,
            fid: None,
            failures: 0,
            time,
            ban_time,
            ban_count: 0,
            matches: &[],
            ip_matches: None,
            ip_jail_matches: None,
            ip_failures: None,
            ip_jail_failures: None,
            restored: false,
            data: &NO_DATA,
        }
    }

    /// `inet4` or `inet6`, the value of `<family>` and the key of
    /// `[Init?family=…]` sections.
    pub fn family(&self) -> &'static str {
        family_of(&self.ip)
    }
}

pub(crate) fn family_of(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "inet4",
        IpAddr::V6(_) => "inet6",
    }
}

/// fail2ban's `getPTR('')`: reversed octets (IPv4) or nibbles (IPv6),
/// dot-joined with a trailing dot, e.g. `4.3.2.1.`.
pub fn ip_reverse(ip: &IpAddr) -> String {
    let parts: Vec<String> = match ip {
        IpAddr::V4(v4) => v4.octets().iter().rev().map(u8::to_string).collect(),
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .flat_map(|byte| [byte >> 4, byte & 0xf])
            .rev()
            .map(|nibble| format!("{nibble:x}"))
            .collect(),
    };
    format!("{}.", parts.join("."))
}

/// A dynamic value and whether it may be written into the script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// Produced and checked by us: digits, an address, a family name.
    Trusted(String),
    /// Possibly attacker-controlled: only ever passed by environment.
    Untrusted(String),
}

/// The dynamic tag values of one operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct DynamicValues {
    tags: BTreeMap<String, Value>,
    filter_data: BTreeMap<String, String>,
}

impl DynamicValues {
    /// Values for a ban/unban/reban of `ban`.
    pub(crate) fn for_ban(ban: &BanInfo<'_>) -> Self {
        let trusted = |s: String| Value::Trusted(s);
        let joined = |lines: &Option<Vec<String>>| {
            Value::Untrusted(lines.as_deref().unwrap_or(ban.matches).join("\n"))
        };
        let ip = ban.ip.to_string();
        let mut tags = BTreeMap::new();
        tags.insert("ip".into(), trusted(ip.clone()));
        tags.insert("family".into(), trusted(ban.family().into()));
        tags.insert("ip-rev".into(), trusted(ip_reverse(&ban.ip)));
        tags.insert(
            "fid".into(),
            Value::Untrusted(ban.fid.clone().unwrap_or(ip)),
        );
        tags.insert("failures".into(), trusted(ban.failures.to_string()));
        tags.insert("time".into(), trusted(ban.time.to_string()));
        tags.insert("bantime".into(), trusted(ban.ban_time.to_string()));
        tags.insert("bancount".into(), trusted(ban.ban_count.to_string()));
        tags.insert("matches".into(), Value::Untrusted(ban.matches.join("\n")));
        tags.insert("ipmatches".into(), joined(&ban.ip_matches));
        tags.insert("ipjailmatches".into(), joined(&ban.ip_jail_matches));
        let ip_failures = ban.ip_failures.unwrap_or(ban.failures);
        tags.insert("ipfailures".into(), trusted(ip_failures.to_string()));
        let jail_failures = ban.ip_jail_failures.unwrap_or(ban.failures);
        tags.insert("ipjailfailures".into(), trusted(jail_failures.to_string()));
        tags.insert(
            "restored".into(),
            trusted(u8::from(ban.restored).to_string()),
        );
        DynamicValues {
            tags,
            filter_data: ban.data.clone(),
        }
    }

    /// Values for start/stop/flush/check: fail2ban's "empty ticket" (no IP,
    /// no matches), the current time and the family being operated on.
    pub(crate) fn for_operation(time: i64, family: &str, ban_time: i64) -> Self {
        let mut tags = BTreeMap::new();
        for empty in [
            "ip",
            "ip-rev",
            "fid",
            "matches",
            "ipmatches",
            "ipjailmatches",
        ] {
            tags.insert(empty.to_owned(), Value::Trusted(String::new()));
        }
        for zero in [
            "failures",
            "bancount",
            "ipfailures",
            "ipjailfailures",
            "restored",
        ] {
            tags.insert(zero.to_owned(), Value::Trusted("0".to_owned()));
        }
        tags.insert("time".into(), Value::Trusted(time.to_string()));
        tags.insert("bantime".into(), Value::Trusted(ban_time.to_string()));
        if !family.is_empty() {
            tags.insert("family".into(), Value::Trusted(family.to_owned()));
        }
        DynamicValues {
            tags,
            filter_data: BTreeMap::new(),
        }
    }

    /// Only `<family>`, as fail2ban's `_getOperation` replaces it.
    pub(crate) fn family_only(family: &str) -> Self {
        let mut tags = BTreeMap::new();
        tags.insert("family".into(), Value::Trusted(family.to_owned()));
        DynamicValues {
            tags,
            filter_data: BTreeMap::new(),
        }
    }
}

/// A shell script plus the environment holding its untrusted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedCommand {
    /// Text for `/bin/sh -c`.
    pub script: String,
    /// Variables to set for the script (`F2B_MATCHES`, …).
    pub env: BTreeMap<String, String>,
}

/// fail2ban's `replaceDynamicTags`: one non-recursive pass over plain tags,
/// then one over `<F-*>` captures (a missing capture becomes empty).
pub(crate) fn render_dynamic(command: &str, values: &DynamicValues) -> PreparedCommand {
    let mut env = Environment::default();
    let script = substitute_with_context(command, &TAG_RE, |name, quoting| {
        match values.tags.get(name) {
            Some(Value::Trusted(text)) => Some(text.clone()),
            Some(Value::Untrusted(text)) => Some(env.reference(name, text, quoting)),
            None => builtin_tag(name),
        }
    });
    let script = if script.contains('<') {
        substitute_with_context(&script, &FILTER_TAG_RE, |name, quoting| {
            let option = map_tag_to_option(name);
            match values.filter_data.get(&option) {
                Some(text) => Some(env.reference(&format!("F_{option}"), text, quoting)),
                None => Some(String::new()),
            }
        })
    } else {
        script
    };
    PreparedCommand {
        script,
        env: env.vars,
    }
}

/// fail2ban's `mapTag2Opt`: `F-ID` → `fid`, `F-PORT` → `fport`, else lower case.
fn map_tag_to_option(tag: &str) -> String {
    let lower = tag.to_lowercase();
    match lower.as_str() {
        "id" => "fid".to_owned(),
        "port" => "fport".to_owned(),
        _ => lower,
    }
}

/// Environment variables collected while rendering one command.
#[derive(Default)]
struct Environment {
    vars: BTreeMap<String, String>,
    names: BTreeMap<String, String>,
}

impl Environment {
    /// Registers `value` for `tag` and returns the quoted expansion for a
    /// tag standing in `quoting`.
    fn reference(&mut self, tag: &str, value: &str, quoting: Quoting) -> String {
        let name = self.variable_for(tag, value);
        match quoting {
            Quoting::Unquoted => format!("\"${{{name}}}\""),
            Quoting::Double => format!("${{{name}}}"),
            Quoting::Single => format!("'\"${{{name}}}\"'"),
        }
    }

    /// `F2B_` + the tag in upper case with non-alphanumerics as `_`; a
    /// numeric suffix if two tags map to the same name.
    fn variable_for(&mut self, tag: &str, value: &str) -> String {
        if let Some(name) = self.names.get(tag) {
            return name.clone();
        }
        let base: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = format!("F2B_{base}");
        let mut suffix = 1;
        while self.vars.contains_key(&name) {
            suffix += 1;
            name = format!("F2B_{base}_{suffix}");
        }
        // A shell variable cannot hold NUL; drop it rather than fail the ban.
        self.vars.insert(name.clone(), value.replace('\0', ""));
        self.names.insert(tag.to_owned(), name.clone());
        name
    }
}

/// Where in the shell's quoting a position lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Unquoted,
    Single,
    Double,
}

/// Replaces every match of `pattern` (group 1 = name) via `replace`, which
/// gets the quoting at the match; `None` leaves the match as written.
fn substitute_with_context(
    text: &str,
    pattern: &Regex,
    mut replace: impl FnMut(&str, Quoting) -> Option<String>,
) -> String {
    let mut scanner = QuoteScanner::default();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for captures in pattern.captures_iter(text) {
        let (Some(whole), Some(name)) = (captures.get(0), captures.get(1)) else {
            continue;
        };
        scanner.advance(&text[last..whole.start()]);
        out.push_str(&text[last..whole.start()]);
        // Replacements keep quoting balanced, so scanning them keeps the
        // scanner in step with the text we produce.
        let replacement =
            replace(name.as_str(), scanner.quoting()).unwrap_or_else(|| whole.as_str().to_owned());
        scanner.advance(&replacement);
        out.push_str(&replacement);
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

/// One level of shell nesting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Single,
    Double,
    /// `$(`…`)` with its count of open parentheses.
    Substitution(u32),
    Backtick,
}

/// Tracks POSIX shell quoting over text fed piecewise.
#[derive(Debug, Default)]
struct QuoteScanner {
    stack: Vec<Frame>,
    escaped: bool,
    in_comment: bool,
    previous: Option<char>,
}

impl QuoteScanner {
    fn quoting(&self) -> Quoting {
        match self.stack.last() {
            Some(Frame::Single) => Quoting::Single,
            Some(Frame::Double) => Quoting::Double,
            _ => Quoting::Unquoted,
        }
    }

    fn advance(&mut self, text: &str) {
        for c in text.chars() {
            self.step(c);
            self.previous = Some(c);
        }
    }

    fn step(&mut self, c: char) {
        if self.escaped {
            self.escaped = false;
            return;
        }
        if self.in_comment {
            self.in_comment = c != '\n';
            return;
        }
        match self.stack.last().copied() {
            Some(Frame::Single) => {
                if c == '\'' {
                    self.stack.pop();
                }
            }
            Some(Frame::Double) => self.step_double(c),
            other => self.step_unquoted(c, other),
        }
    }

    fn step_double(&mut self, c: char) {
        match c {
            '\\' => self.escaped = true,
            '"' => {
                self.stack.pop();
            }
            '`' => self.stack.push(Frame::Backtick),
            '(' if self.previous == Some('$') => self.stack.push(Frame::Substitution(1)),
            _ => {}
        }
    }

    fn step_unquoted(&mut self, c: char, frame: Option<Frame>) {
        match c {
            '\\' => self.escaped = true,
            '\'' => self.stack.push(Frame::Single),
            '"' => self.stack.push(Frame::Double),
            '`' if frame == Some(Frame::Backtick) => {
                self.stack.pop();
            }
            '`' => self.stack.push(Frame::Backtick),
            '#' if self.previous.is_none_or(|p| " \t\n;&|(".contains(p)) => self.in_comment = true,
            '(' if self.previous == Some('$') => self.stack.push(Frame::Substitution(1)),
            '(' | ')' => self.step_parenthesis(c, frame),
            _ => {}
        }
    }

    fn step_parenthesis(&mut self, c: char, frame: Option<Frame>) {
        if let Some(Frame::Substitution(depth)) = frame {
            self.stack.pop();
            let depth = if c == '(' { depth + 1 } else { depth - 1 };
            if depth > 0 {
                self.stack.push(Frame::Substitution(depth));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoting_at_marker(text: &str) -> Quoting {
        let mut scanner = QuoteScanner::default();
        let before = text.split("@@").next().unwrap_or_default();
        scanner.advance(before);
        scanner.quoting()
    }

    #[test]
    fn scanner_finds_quoting_contexts() {
        assert_eq!(quoting_at_marker("echo @@"), Quoting::Unquoted);
        assert_eq!(quoting_at_marker("echo '@@'"), Quoting::Single);
        assert_eq!(quoting_at_marker("echo \"a @@\""), Quoting::Double);
        assert_eq!(quoting_at_marker("echo \"$(echo @@)\""), Quoting::Unquoted);
        assert_eq!(quoting_at_marker("echo \"`echo '@@'`\""), Quoting::Single);
        assert_eq!(quoting_at_marker("echo \"it's\" @@"), Quoting::Unquoted);
        assert_eq!(quoting_at_marker("echo \\' @@"), Quoting::Unquoted);
        assert_eq!(quoting_at_marker("# don't\necho @@"), Quoting::Unquoted);
        assert_eq!(quoting_at_marker("echo $( (a) '@@')"), Quoting::Single);
        assert_eq!(
            quoting_at_marker("lgm=$(printf '%.1000s' \"@@"),
            Quoting::Double
        );
    }

    #[test]
    fn ip_reverse_matches_fail2ban_get_ptr() -> Result<(), std::net::AddrParseError> {
        assert_eq!(ip_reverse(&"192.0.2.7".parse()?), "7.2.0.192.");
        let v6 = ip_reverse(&"2001:db8::1".parse()?);
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with("8.b.d.0.1.0.0.2."), "{v6}");
        Ok(())
    }

    #[test]
    fn untrusted_values_become_quoted_expansions() -> Result<(), std::net::AddrParseError> {
        let mut ban = BanInfo::new("192.0.2.1".parse()?, 100, 600);
        let matches = ["$(id)".to_string()];
        let data = BTreeMap::from([("user".to_string(), "x".to_string())]);
        ban.matches = &matches;
        ban.data = &data;
        let values = DynamicValues::for_ban(&ban);
        let prepared = render_dynamic(
            "f <ip> <matches> \"<matches>\" '<F-USER>' <F-NONE><unknown>",
            &values,
        );
        assert_eq!(
            prepared.script,
            "f 192.0.2.1 \"${F2B_MATCHES}\" \"${F2B_MATCHES}\" ''\"${F2B_F_USER}\"'' <unknown>"
        );
        assert_eq!(
            prepared.env.get("F2B_MATCHES").map(String::as_str),
            Some("$(id)")
        );
        assert_eq!(
            prepared.env.get("F2B_F_USER").map(String::as_str),
            Some("x")
        );
        Ok(())
    }

    #[test]
    fn filter_tags_map_like_fail2ban() {
        assert_eq!(map_tag_to_option("ID"), "fid");
        assert_eq!(map_tag_to_option("PORT"), "fport");
        assert_eq!(map_tag_to_option("USER"), "user");
    }
}
