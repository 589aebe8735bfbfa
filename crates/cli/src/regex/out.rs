//! Per-failure output instead of the report: fail2ban-regex's `-o/--out TOKEN` and ferroban's
//! `--json` (one object per failure, for scripts).

use std::io::{BufWriter, StdoutLock, Write};

use ferroban_filter::{Failure, IdKind, LineResult, Outcome};
use serde_json::{Map, Value, json};

use super::RegexArgs;
use super::setup::python_str;

enum Mode {
    Report,
    Json,
    Token(String),
}

pub struct Printer {
    mode: Mode,
    stdout: BufWriter<StdoutLock<'static>>,
}

impl Printer {
    pub fn new(args: &RegexArgs) -> Self {
        let mode = match (&args.out, args.json) {
            (_, true) => Mode::Json,
            (Some(token), false) => Mode::Token(token.clone()),
            (None, false) => Mode::Report,
        };
        Printer {
            mode,
            stdout: BufWriter::new(std::io::stdout().lock()),
        }
    }

    /// True when failures are printed one by one and no report follows.
    pub fn prints_failures(&self) -> bool {
        !matches!(self.mode, Mode::Report)
    }

    /// Prints the failures of a line that was not ignored, as fail2ban-regex's `--out` does.
    pub fn failures(&mut self, line_number: u64, result: &LineResult) {
        if result.outcome() == Outcome::Ignored {
            return;
        }
        let failures: Vec<&Failure> = result
            .failures
            .iter()
            .filter(|f| !f.nofail && f.id.is_some())
            .collect();
        for failure in failures {
            let text = match &self.mode {
                Mode::Report => return,
                Mode::Json => json_failure(line_number, failure).to_string(),
                Mode::Token(token) => token_output(token, failure),
            };
            // A closed stdout (`| head`) ends the output; nothing else to do about it.
            let _ = writeln!(self.stdout, "{text}");
        }
    }

    pub fn flush(&mut self) {
        let _ = self.stdout.flush();
    }
}

/// `--json`: line number (1-based, in the file), Unix time, id and address, the failregex
/// (1-based, as the report numbers them), every named group, and the matched lines.
fn json_failure(line_number: u64, failure: &Failure) -> Value {
    let groups: Map<String, Value> = failure
        .groups
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "line": line_number,
        "time": failure.time,
        "id": failure.id,
        "ip": address(failure),
        "host": failure.host,
        "failregex": failure.failregex + 1,
        "groups": groups,
        "users": failure.users,
        "matches": failure.matches,
    })
}

/// The failure's address: fail2ban's `ip` data, else an id that is an address.
fn address(failure: &Failure) -> Option<String> {
    failure.ip.clone().or_else(|| match failure.id_kind {
        IdKind::Ip => failure.id.clone(),
        IdKind::Dns | IdKind::Raw => None,
    })
}

/// One `--out` token: `id`/`fid`, `ip`, `msg`, `row`, a data key, or a template with `<tags>`.
fn token_output(token: &str, failure: &Failure) -> String {
    let id = failure.id.clone().unwrap_or_default();
    match token {
        "id" | "fid" => id,
        "ip" => address(failure).unwrap_or(id),
        "msg" => failure.matches.join("\n"),
        "row" => {
            let data: Vec<String> = failure
                .groups
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str(k), python_str(v)))
                .collect();
            let time = failure
                .time
                .map_or("None".to_string(), |t| format!("{t:?}"));
            format!("[{},\t{time},\t{{{}}}],", python_str(&id), data.join(", "))
        }
        token if !token.contains('<') => {
            data_value(failure, token).unwrap_or_else(|| "None".to_string())
        }
        template => substitute_tags(template, failure),
    }
}

fn data_value(failure: &Failure, key: &str) -> Option<String> {
    match key {
        "matches" => Some(failure.matches.join("\n")),
        "ip" => address(failure),
        "fid" | "id" => failure.id.clone(),
        "time" => failure.time.map(|t| t.to_string()),
        "users" => Some(failure.users.join(",")),
        key => failure.groups.get(key).cloned(),
    }
}

/// `<tag>` substitution for `--out` templates; `<F-NAME>` reads the group `name`. Unknown tags
/// are left as written, as fail2ban does.
fn substitute_tags(template: &str, failure: &Failure) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after
            .find('>')
            .filter(|&c| !after[..c].contains(['<', ' ']))
        else {
            out.push('<');
            rest = after;
            continue;
        };
        let tag = &after[..close];
        let key = tag
            .strip_prefix("F-")
            .map_or(tag.to_string(), str::to_ascii_lowercase);
        let key = if tag == "msg" {
            "matches".to_string()
        } else {
            key
        };
        match data_value(failure, &key) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn failure() -> Failure {
        Failure {
            failregex: 0,
            id: Some("192.0.2.1".into()),
            id_kind: IdKind::Ip,
            host: Some("192.0.2.1".into()),
            ip: None,
            cidr: None,
            time: Some(1_124_013_600.0),
            groups: BTreeMap::from([("user".to_string(), "root".to_string())]),
            users: vec![],
            matches: vec!["line one".into()],
            nofail: false,
        }
    }

    #[test]
    fn out_tokens_print_fail2ban_regex_fields() {
        let f = failure();
        assert_eq!(token_output("id", &f), "192.0.2.1");
        assert_eq!(token_output("ip", &f), "192.0.2.1");
        assert_eq!(token_output("user", &f), "root");
        assert_eq!(token_output("msg", &f), "line one");
        assert_eq!(token_output("nothing", &f), "None");
        assert_eq!(
            token_output("row", &f),
            "['192.0.2.1',\t1124013600.0,\t{'user': 'root'}],"
        );
    }

    #[test]
    fn out_templates_substitute_known_tags_and_keep_unknown_ones() {
        let f = failure();
        assert_eq!(
            token_output("<ip> <F-USER> <unknown> a<b", &f),
            "192.0.2.1 root <unknown> a<b"
        );
    }

    #[test]
    fn json_names_line_time_id_groups_and_regex() {
        let value = json_failure(7, &failure());
        assert_eq!(value["line"], 7);
        assert_eq!(value["ip"], "192.0.2.1");
        assert_eq!(value["failregex"], 1);
        assert_eq!(value["groups"]["user"], "root");
        assert_eq!(value["time"], 1_124_013_600.0);
    }
}
