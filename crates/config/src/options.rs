//! `name[k=v, k2="a,b"]` definitions, as fail2ban's `helpers.extractOptions` and
//! `splitWithOptions` parse them (same regular expressions).

use std::sync::LazyLock;

use indexmap::IndexMap;

/// `name` then an optional `[...]` (greedy up to the last `]`).
static OPTION_CRE: LazyLock<regex::Regex> =
    LazyLock::new(|| compile(r"(?s)^([^\[]+)(?:\[(.*)\])?\s*$"));

/// One `k=v` (quoted or bare) of the list, or the list's end, or garbage (`wrngA`/`wrngB`).
static OPTION_EXTRACT_CRE: LazyLock<regex::Regex> = LazyLock::new(|| {
    compile(
        r#"(?s)\s*([\w\-_\.]+)=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|$|(?P<wrngA>.+))|,?\s*$|(?P<wrngB>.+)"#,
    )
});

/// One definition of a list like `a[x=1] b[y="p q"]`. The look-ahead needs a backtracking
/// engine: PCRE2, in Unicode mode like Python's `re` on text.
#[allow(clippy::expect_used)]
static OPTION_SPLIT_CRE: LazyLock<pcre2::bytes::Regex> = LazyLock::new(|| {
    pcre2::bytes::RegexBuilder::new()
        .utf(true)
        .ucp(true)
        .build(
            r#"(?s)(?:[^\[\s]+(?:\s*\[\s*(?:[\w\-_\.]+=(?:"[^"]*"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?\s*|\S+)(?=\n\s*|\s+|$)"#,
        )
        .expect("constant pattern compiles")
});

/// Compiles one of the constant patterns above; they are covered by the tests below, so a
/// failure here is a programming error, not bad input.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("constant pattern compiles")
}

/// A parsed `name[options]` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// Options in the order written (names as written, values trimmed).
    pub options: IndexMap<String, String>,
}

/// Parses `name[k=v, k2="a,b"][k3='c']` like fail2ban's `extractOptions`. The error text
/// matches fail2ban's.
pub fn extract_options(text: &str) -> Result<Definition, String> {
    let captures = OPTION_CRE
        .captures(text)
        .ok_or_else(|| "unexpected option syntax".to_string())?;
    let name = captures.get(1).map_or("", |m| m.as_str()).to_string();
    let mut options = IndexMap::new();
    let Some(list) = captures
        .get(2)
        .map(|m| m.as_str())
        .filter(|s| !s.is_empty())
    else {
        return Ok(Definition { name, options });
    };
    for found in OPTION_EXTRACT_CRE.captures_iter(list) {
        if let Some(wrong) = found.name("wrngA") {
            let option = found.get(1).map_or("", |m| m.as_str());
            return Err(format!(
                "unexpected syntax at {} after option {option:?}: {}",
                wrong.start(),
                prefix(wrong.as_str())
            ));
        }
        if let Some(wrong) = found.name("wrngB") {
            return Err(format!(
                "expected option, wrong syntax at {}: {}",
                wrong.start(),
                prefix(wrong.as_str())
            ));
        }
        let Some(option) = found.get(1) else { continue };
        let value = [2, 3, 4]
            .iter()
            .find_map(|&i| found.get(i))
            .map_or("", |m| m.as_str());
        options.insert(option.as_str().trim().to_string(), value.trim().to_string());
    }
    Ok(Definition { name, options })
}

fn prefix(text: &str) -> &str {
    match text.char_indices().nth(25) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Splits a list of definitions (`action` value) on whitespace and new lines, keeping
/// `[...]` option lists together; like fail2ban's `splitWithOptions`. Items are not trimmed.
pub fn split_with_options(text: &str) -> Vec<String> {
    // A search that fails (PCRE2's match limit) ends the list.
    OPTION_SPLIT_CRE
        .find_iter(text.as_bytes())
        .map_while(Result::ok)
        .filter_map(|m| text.get(m.start()..m.end()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn options(text: &str) -> Vec<(String, String)> {
        let definition = extract_options(text).unwrap();
        definition.options.into_iter().collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn name_without_options() {
        let definition = extract_options("sshd").unwrap();
        assert_eq!(definition.name, "sshd");
        assert!(definition.options.is_empty());
    }

    #[test]
    fn quoted_and_bare_values() {
        let got = options(r#"iptables[name=x, port="p,q", protocol=tcp, a='b c']"#);
        assert_eq!(
            got,
            vec![
                pair("name", "x"),
                pair("port", "p,q"),
                pair("protocol", "tcp"),
                pair("a", "b c")
            ]
        );
        assert_eq!(
            extract_options("postfix[mode=auth]").unwrap().name,
            "postfix"
        );
    }

    #[test]
    fn several_option_groups() {
        let got = options("a[x=1][y=2]");
        assert_eq!(got, vec![pair("x", "1"), pair("y", "2")]);
    }

    #[test]
    fn wrong_syntax_is_reported() {
        assert!(extract_options(r#"a[x="1" junk]"#).is_err());
        assert!(extract_options("a[=1]").is_err());
        assert!(extract_options("[x=1]").is_err());
    }

    #[test]
    fn splits_actions_on_one_or_several_lines() {
        let text = r#"iptables-multiport-tcp[name=dovecot, port="pop3,pop3s,imap,imaps", protocol=tcp] mail[name=dovecot, dest=root]"#;
        let got: Vec<String> = split_with_options(text)
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                r#"iptables-multiport-tcp[name=dovecot, port="pop3,pop3s,imap,imaps", protocol=tcp]"#.to_string(),
                "mail[name=dovecot, dest=root]".to_string()
            ]
        );
        let got: Vec<String> = split_with_options("a[x=1,\n y=2]\nb\n c[z=\"q r\"]")
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        assert_eq!(got, vec!["a[x=1,\n y=2]", "b", "c[z=\"q r\"]"]);
    }
}
