//! fail2ban's regex tags (`<HOST>`, `<F-USER>…</F-USER>`, `<SKIPLINES>`, …), expanded the way
//! `failregex.Regex._resolveHostTag` does, into Python regex syntax.

use std::collections::HashSet;

/// `IPAddr.IP_4_RE`.
const IP4: &str = r"(?:\d{1,3}\.){3}\d{1,3}";

/// `IPAddr.IP_6_RE`, as fail2ban writes it and shows it in reports.
const IP6: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)";

/// [`IP6`] with its final `(?<=:):` written as `:`. The look-behind stands right after
/// `(?:[0-9a-fA-F]{1,4}::?|::){1,7}`, whose every iteration ends in ':', and the repetition
/// runs at least once, so the assertion always holds; dropping it keeps the meaning and lets
/// the linear-time engine run every `<HOST>` regex.
const IP6_LINEAR: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)";

/// An expanded pattern with every `<IP6>` expansion in its linear-engine form (see
/// [`IP6_LINEAR`]); called before translation, so reports still show fail2ban's text.
pub fn linear_ip6(expanded: &str) -> std::borrow::Cow<'_, str> {
    if expanded.contains(IP6) {
        std::borrow::Cow::Owned(expanded.replace(IP6, IP6_LINEAR))
    } else {
        std::borrow::Cow::Borrowed(expanded)
    }
}

fn host_ip4() -> String {
    format!("(?:::f{{4,6}}:)?(?P<ip4>{IP4})")
}

fn host_ip6() -> String {
    format!("(?P<ip6>{IP6})")
}

const HOST_DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
const HOST_CIDR: &str = r"(?P<cidr>\d+)";

fn host_addr() -> String {
    format!(r"\[?(?:{}|{})\]?", host_ip4(), host_ip6())
}

fn host_host() -> String {
    format!("(?:{}|{HOST_DNS})", host_addr())
}

fn host_subnet() -> String {
    format!(r"\[?(?:{}|{})(?:/{HOST_CIDR})?\]?", host_ip4(), host_ip6())
}

/// `RH4TAG`: fixed replacements.
fn fixed_tag(name: &str) -> Option<String> {
    let text = match name {
        "IP4" | "F-IP4/" => host_ip4(),
        "IP6" | "F-IP6/" => host_ip6(),
        "ADDR" | "F-ADDR/" => host_addr(),
        "CIDR" | "F-CIDR/" => HOST_CIDR.to_string(),
        "SUBNET" | "F-SUBNET/" => host_subnet(),
        "DNS" | "F-DNS/" => HOST_DNS.to_string(),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    };
    Some(text)
}

/// `mapTag2Opt`: group name for a custom tag.
pub fn map_tag_to_option(tag: &str) -> String {
    let lower = tag.to_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// Expands every tag in `regex` (Python syntax in, Python syntax out).
/// `use_dns_no` is fail2ban's `usedns = no`: then `<HOST>` only takes addresses.
pub fn resolve_tags(regex: &str, use_dns_no: bool) -> String {
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open_tags: HashSet<String> = HashSet::new();
    let mut skiplines = 0usize;
    let mut rest = regex;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        match tag_length(candidate) {
            Some(length) => {
                let tag = &candidate[..length];
                let replacement = substitute(tag, use_dns_no, &mut open_tags, &mut skiplines);
                out.push_str(&replacement);
                rest = &candidate[length..];
            }
            None => {
                out.push('<');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    glob_to_local_flags(&out)
}

/// Length of a tag matching `FTAG_CRE` (`</?[\w\-]+/?>`) at the start of `text`.
fn tag_length(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    if let Some((_, '/')) = chars.peek() {
        chars.next();
    }
    let mut word = 0;
    while let Some((_, c)) = chars.peek() {
        if c.is_alphanumeric() || *c == '_' || *c == '-' {
            word += 1;
            chars.next();
        } else {
            break;
        }
    }
    if word == 0 {
        return None;
    }
    if let Some((_, '/')) = chars.peek() {
        chars.next();
    }
    match chars.next() {
        Some((index, '>')) => Some(index + 1),
        _ => None,
    }
}

fn substitute(
    tag: &str,
    use_dns_no: bool,
    open_tags: &mut HashSet<String>,
    skiplines: &mut usize,
) -> String {
    let name = &tag[1..tag.len() - 1];
    if name == "HOST" {
        return if use_dns_no { host_addr() } else { host_host() };
    }
    if name == "SKIPLINES" {
        let index = *skiplines;
        *skiplines += 1;
        return format!(r"\n(?P<skiplines{index}>(?:(?:.*\n)*?))");
    }
    if let Some(fixed) = fixed_tag(name) {
        return fixed;
    }
    // FCUSTNAME_CRE: ^(/?)F-([A-Z0-9_\-]+)$
    let (closing, body) = match name.strip_prefix('/') {
        Some(body) => (true, body),
        None => (false, name),
    };
    let custom = body.strip_prefix("F-").filter(|custom| {
        !custom.is_empty()
            && custom
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
    });
    let Some(custom) = custom else {
        return tag.to_string();
    };
    if closing {
        return if open_tags.contains(custom) {
            ")".to_string()
        } else {
            tag.to_string()
        };
    }
    open_tags.insert(custom.to_string());
    format!("(?P<{}>", map_tag_to_option(custom))
}

/// `R_GLOB2LOCFLAGS`: `((?i)x)` and `(?:(?i)x)` become `(?i:x)`.
fn glob_to_local_flags(regex: &str) -> String {
    let bytes = regex.as_bytes();
    let mut out = String::with_capacity(regex.len());
    let mut index = 0;
    let mut copied = 0;
    while index < bytes.len() {
        if bytes[index] == b'(' && (index == 0 || bytes[index - 1] != b'\\') {
            let after_open = if regex[index + 1..].starts_with("?:") {
                index + 3
            } else {
                index + 1
            };
            if let Some(flags_len) = inline_flags_len(&regex[after_open..]) {
                // Replace "(" [ "?:" ] "(?flags)" with "(?flags:".
                out.push_str(&regex[copied..index]);
                out.push_str(&regex[after_open..after_open + flags_len - 1]);
                out.push(':');
                index = after_open + flags_len;
                copied = index;
                continue;
            }
        }
        index += 1;
    }
    out.push_str(&regex[copied..]);
    out
}

/// Length of `(?[a-z]+)` at the start of `text`.
fn inline_flags_len(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("(?")?;
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    if letters == 0 || rest.as_bytes().get(letters) != Some(&b')') {
        return None;
    }
    Some(2 + letters + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_expands_to_three_groups_or_two_without_dns() {
        let with_dns = resolve_tags("from <HOST>$", false);
        assert!(with_dns.contains("(?P<ip4>") && with_dns.contains("(?P<ip6>"));
        assert!(with_dns.contains("(?P<dns>"));
        let without = resolve_tags("from <HOST>$", true);
        assert!(!without.contains("(?P<dns>"));
    }

    #[test]
    fn fixed_tags() {
        assert_eq!(resolve_tags("<F-ID/>", false), r"(?P<fid>\S+)");
        assert_eq!(resolve_tags("<F-PORT/>", false), r"(?P<fport>\w+)");
        assert_eq!(resolve_tags("<CIDR>", false), r"(?P<cidr>\d+)");
        assert!(resolve_tags("<SUBNET>", false).contains("(?:/(?P<cidr>"));
        assert_eq!(resolve_tags("<DNS>", false), HOST_DNS);
        assert!(resolve_tags("<IP6>", false).starts_with("(?P<ip6>"));
        assert!(resolve_tags("<IP4>", false).contains("(?P<ip4>"));
        assert!(resolve_tags("<ADDR>", false).starts_with(r"\[?"));
    }

    #[test]
    fn custom_tags_open_and_close() {
        assert_eq!(resolve_tags("<F-USER>.+</F-USER>", false), "(?P<user>.+)");
        assert_eq!(resolve_tags("<F-ID>x</F-ID>", false), "(?P<fid>x)");
        assert_eq!(
            resolve_tags("<F-ALT_USER1>x</F-ALT_USER1>", false),
            "(?P<alt_user1>x)"
        );
        assert_eq!(resolve_tags("<F-MLFID>x</F-MLFID>", false), "(?P<mlfid>x)");
        // A close tag that was never opened stays literal text.
        assert_eq!(resolve_tags("a</F-USER>", false), "a</F-USER>");
        // Lower-case and unknown tags stay as they are (e.g. a group name).
        assert_eq!(
            resolve_tags("(?P<name>x)<f-user>", false),
            "(?P<name>x)<f-user>"
        );
    }

    #[test]
    fn skiplines_numbered() {
        let out = resolve_tags("a<SKIPLINES>b<SKIPLINES>c", false);
        assert!(out.contains("(?P<skiplines0>") && out.contains("(?P<skiplines1>"));
    }

    #[test]
    fn global_flags_become_local() {
        assert_eq!(
            glob_to_local_flags("SASL ((?i)LOGIN|PLAIN) x"),
            "SASL (?i:LOGIN|PLAIN) x"
        );
        assert_eq!(glob_to_local_flags("(?:(?i)expn|vrfy)"), "(?i:expn|vrfy)");
        assert_eq!(glob_to_local_flags(r"\((?i)x)"), r"\((?i)x)");
    }
}
