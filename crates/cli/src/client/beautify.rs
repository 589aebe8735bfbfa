//! fail2ban-client's output (`client/beautifier.py`): the `|-`/`` `- `` trees and messages.

use ferroban_protocol::{BanTimeEntry, Command, GetKey, JailStatusReply, Reply};

/// Renders `reply` to `command` the way fail2ban-client prints it.
pub fn beautify(command: &Command, reply: &Reply) -> String {
    match (command, reply) {
        (Command::Ping, Reply::Text(text)) => format!("Server replied: {text}"),
        // Printed with a newline after it: the text as the endpoint serves it.
        (Command::Metrics, Reply::Text(text)) => text.trim_end_matches('\n').to_string(),
        (Command::Stop, _) => "Shutdown successful".to_string(),
        (Command::FlushLogs, Reply::Text(text)) => format!("logs: {text}"),
        (Command::Status, Reply::Status { jails }) => status(jails),
        (_, Reply::JailStatus(status)) => jail_status(
            status,
            matches!(command, Command::StatusJail { short: true, .. }),
        ),
        (Command::StopJail { .. }, Reply::None) => "Jail stopped".to_string(),
        (Command::StartJail { .. }, _) => "Jail started".to_string(),
        (Command::GetJail { jail, .. } | Command::SetJail { jail, .. }, Reply::List(list)) => {
            jail_list(jail, command.shown_key().unwrap_or(GetKey::Logpath), list)
        }
        (_, Reply::Text(text)) if command.shown_key() == Some(GetKey::Logencoding) => {
            format!("Current log encoding is set to:\n{text}")
        }
        (_, Reply::DatePattern { pattern, name }) => match pattern {
            Some(pattern) => format!("Current date pattern set to: {pattern} ({name})"),
            None => format!("Current date pattern set to: {name}"),
        },
        (Command::AddIgnoreIp { .. } | Command::DelIgnoreIp { .. }, Reply::List(list)) => {
            jail_list("", GetKey::Ignoreip, list)
        }
        (Command::GetServer { key } | Command::SetServer { key, .. }, reply) => {
            server_value(key, reply)
        }
        // fail2ban-client prints these as Python writes the lists.
        (Command::GetBanned { .. }, Reply::List(ids)) => format!(
            "[{}]",
            ids.iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (_, Reply::BanTimes(entries)) => ban_times(entries),
        (_, Reply::BannedByJail(by_jail)) => banned_by_jail(by_jail),
        (_, Reply::JailsOfIds(per_id)) => jails_of_ids(per_id),
        (_, Reply::List(words)) => words.join(" "),
        (_, Reply::Text(text)) => text.clone(),
        (_, Reply::Number(number)) => number.to_string(),
        (_, Reply::Numbers(numbers)) => format!(
            "[{}]",
            numbers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (_, Reply::Bool(flag)) => if *flag { "True" } else { "False" }.to_string(),
        (
            _,
            Reply::IgnoreCache {
                key,
                max_count,
                max_time,
            },
        ) => format!("['{key}', {max_count}, {max_time}]"),
        (_, Reply::None) => "None".to_string(),
        (_, Reply::Status { jails }) => status(jails),
        (_, Reply::ClusterStatus(status)) => super::cluster_status::render(status),
    }
}

fn branch(last: bool) -> &'static str {
    if last { "`-" } else { "|-" }
}

fn status(jails: &[String]) -> String {
    format!(
        "Status\n|- Number of jail:\t{}\n`- Jail list:\t{}",
        jails.len(),
        jails.join(", ")
    )
}

fn jail_status(status: &JailStatusReply, short: bool) -> String {
    let source = match &status.journal_matches {
        Some(matches) => ("Journal matches", matches.join(" + ")),
        None => ("File list", status.files.join(" ")),
    };
    let sections = [
        (
            "Filter",
            vec![
                ("Currently failed", status.currently_failed.to_string()),
                ("Total failed", status.total_failed.to_string()),
                (source.0, source.1),
            ],
        ),
        (
            "Actions",
            vec![
                ("Currently banned", status.currently_banned.to_string()),
                ("Total banned", status.total_banned.to_string()),
                ("Banned IP list", status.banned.join(" ")),
            ],
        ),
    ];
    let mut sections = sections;
    if short {
        sections[1].1.truncate(2);
    }
    let mut lines = vec![format!("Status for the jail: {}", status.jail)];
    for (n, (title, rows)) in sections.iter().enumerate() {
        let last_section = n == sections.len() - 1;
        lines.push(format!("{} {title}", branch(last_section)));
        let indent = if last_section { "   " } else { "|  " };
        for (m, (name, value)) in rows.iter().enumerate() {
            let last_row = m == rows.len() - 1;
            lines.push(format!("{indent}{} {name}:\t{value}", branch(last_row)));
        }
    }
    lines.join("\n")
}

/// A tree of items: `|- a` lines and a last `` `- z ``.
fn tree(items: &[String]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(n, item)| format!("{} {item}", branch(n == items.len() - 1)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn jail_list(jail: &str, key: GetKey, list: &[String]) -> String {
    match key {
        GetKey::Logpath if list.is_empty() => "No file is currently monitored".to_string(),
        GetKey::Logpath => format!("Current monitored log file(s):\n{}", tree(list)),
        GetKey::Ignoreip if list.is_empty() => "No IP address/network is ignored".to_string(),
        GetKey::Ignoreip => format!("These IP addresses/networks are ignored:\n{}", tree(list)),
        GetKey::Failregex | GetKey::Ignoreregex if list.is_empty() => {
            "No regular expression is defined".to_string()
        }
        GetKey::Failregex | GetKey::Ignoreregex => {
            let numbered: Vec<String> = list
                .iter()
                .enumerate()
                .map(|(n, regex)| format!("[{n}]: {regex}"))
                .collect();
            format!(
                "The following regular expression are defined:\n{}",
                tree(&numbered)
            )
        }
        GetKey::Actions if list.is_empty() => format!("No actions for jail {jail}"),
        GetKey::Actions => format!(
            "The jail {jail} has the following actions:\n{}",
            list.join(", ")
        ),
        GetKey::Journalmatch if list.is_empty() => "No journal match filter set".to_string(),
        GetKey::Journalmatch => format!("Current match filter:\n{}", list.join(" + ")),
        _ => list.join(" "),
    }
}

fn server_value(key: &str, reply: &Reply) -> String {
    match (key, reply) {
        ("loglevel", Reply::Text(level)) => format!("Current logging level is '{level}'"),
        ("logtarget", Reply::Text(target)) => {
            format!("Current logging target is:\n`- {target}")
        }
        ("dbfile" | "dbpurgeage", Reply::None) => "Database currently disabled".to_string(),
        ("dbfile", Reply::Text(file)) => format!("Current database file is:\n`- {file}"),
        ("dbpurgeage", Reply::Number(age)) => {
            format!("Current database purge age is:\n`- {age}seconds")
        }
        ("syslogsocket", Reply::Text(socket)) => {
            format!("Current syslog socket is:\n`- {socket}")
        }
        (_, Reply::Text(text)) => text.clone(),
        (_, Reply::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// `get JAIL banip --with-time`: `ip \t2024-01-01 12:00:00 + 600 = 2024-01-01 12:10:00`.
fn ban_times(entries: &[BanTimeEntry]) -> String {
    entries
        .iter()
        .map(|entry| {
            let end = entry
                .end
                .map_or_else(|| "permanent".to_string(), local_time);
            format!(
                "{} \t{} + {} = {end}",
                entry.id,
                local_time(entry.time),
                entry.ban_time
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn local_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| seconds.to_string())
}

/// Python's `repr` of a list of strings.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `banned`: fail2ban prints the list of `{jail: [ids]}` dicts as Python shows it.
fn banned_by_jail(by_jail: &[(String, Vec<String>)]) -> String {
    let dicts: Vec<String> = by_jail
        .iter()
        .map(|(jail, ids)| format!("{{'{jail}': {}}}", py_list(ids)))
        .collect();
    format!("[{}]", dicts.join(", "))
}

fn jails_of_ids(per_id: &[Vec<String>]) -> String {
    let lists: Vec<String> = per_id.iter().map(|jails| py_list(jails)).collect();
    format!("[{}]", lists.join(", "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Command {
        let words: Vec<&str> = line.split_whitespace().collect();
        Command::parse(&words).unwrap()
    }

    #[test]
    fn ping_and_stop() {
        assert_eq!(
            beautify(&parse("ping"), &Reply::Text("pong".into())),
            "Server replied: pong"
        );
        assert_eq!(
            beautify(&parse("stop"), &Reply::None),
            "Shutdown successful"
        );
        assert_eq!(
            beautify(&parse("flushlogs"), &Reply::Text("rolled over".into())),
            "logs: rolled over"
        );
    }

    #[test]
    fn run_time_settings_render_as_their_get() {
        let regexes = Reply::List(vec!["^a".into(), "^b".into()]);
        assert_eq!(
            beautify(&parse("set sshd addfailregex ^b"), &regexes),
            "The following regular expression are defined:\n|- [0]: ^a\n`- [1]: ^b"
        );
        assert_eq!(
            beautify(
                &parse("set sshd logencoding latin-1"),
                &Reply::Text("latin-1".into())
            ),
            "Current log encoding is set to:\nlatin-1"
        );
        let pattern = Reply::DatePattern {
            pattern: Some("%Y-%m-%d".into()),
            name: "Year-Month-Day".into(),
        };
        assert_eq!(
            beautify(&parse("get sshd datepattern"), &pattern),
            "Current date pattern set to: %Y-%m-%d (Year-Month-Day)"
        );
        assert_eq!(
            beautify(&parse("set loglevel DEBUG"), &Reply::Text("DEBUG".into())),
            "Current logging level is 'DEBUG'"
        );
        assert_eq!(beautify(&parse("stop sshd"), &Reply::None), "Jail stopped");
    }

    #[test]
    fn server_status_tree() {
        let reply = Reply::Status {
            jails: vec!["dovecot".into(), "postfix-sasl".into()],
        };
        assert_eq!(
            beautify(&parse("status"), &reply),
            "Status\n|- Number of jail:\t2\n`- Jail list:\tdovecot, postfix-sasl"
        );
    }

    #[test]
    fn jail_status_tree() {
        let reply = Reply::JailStatus(JailStatusReply {
            jail: "dovecot".into(),
            currently_failed: 1,
            total_failed: 4,
            files: vec!["/var/log/maillog".into()],
            journal_matches: None,
            currently_banned: 1,
            total_banned: 1,
            banned: vec!["203.0.113.9".into()],
        });
        let expected = "Status for the jail: dovecot
|- Filter
|  |- Currently failed:\t1
|  |- Total failed:\t4
|  `- File list:\t/var/log/maillog
`- Actions
   |- Currently banned:\t1
   |- Total banned:\t1
   `- Banned IP list:\t203.0.113.9";
        assert_eq!(beautify(&parse("status dovecot"), &reply), expected);
    }

    #[test]
    fn journal_jail_status_shows_matches() {
        let reply = Reply::JailStatus(JailStatusReply {
            jail: "sshd".into(),
            currently_failed: 0,
            total_failed: 0,
            files: vec![],
            journal_matches: Some(vec!["_SYSTEMD_UNIT=sshd.service + _COMM=sshd".into()]),
            currently_banned: 0,
            total_banned: 0,
            banned: vec![],
        });
        let text = beautify(&parse("status sshd"), &reply);
        assert!(text.contains("|  `- Journal matches:\t_SYSTEMD_UNIT=sshd.service + _COMM=sshd"));
        assert!(text.ends_with("`- Banned IP list:\t"));
    }

    #[test]
    fn get_lists() {
        let list = Reply::List(vec!["/var/log/a".into(), "/var/log/b".into()]);
        assert_eq!(
            beautify(&parse("get sshd logpath"), &list),
            "Current monitored log file(s):\n|- /var/log/a\n`- /var/log/b"
        );
        assert_eq!(
            beautify(&parse("get sshd ignoreip"), &Reply::List(vec![])),
            "No IP address/network is ignored"
        );
        assert_eq!(
            beautify(
                &parse("set sshd addignoreip 10.0.0.0/8"),
                &Reply::List(vec!["127.0.0.1/8".into(), "10.0.0.0/8".into()])
            ),
            "These IP addresses/networks are ignored:\n|- 127.0.0.1/8\n`- 10.0.0.0/8"
        );
        assert_eq!(
            beautify(
                &parse("get sshd failregex"),
                &Reply::List(vec!["a <HOST>".into()])
            ),
            "The following regular expression are defined:\n`- [0]: a <HOST>"
        );
        assert_eq!(
            beautify(
                &parse("get sshd banip"),
                &Reply::List(vec!["1.2.3.4".into(), "5.6.7.8".into()])
            ),
            "1.2.3.4 5.6.7.8"
        );
    }

    #[test]
    fn banned_is_python_repr() {
        let reply = Reply::BannedByJail(vec![
            ("dovecot".into(), vec!["1.2.3.4".into()]),
            ("sshd".into(), vec![]),
        ]);
        assert_eq!(
            beautify(&parse("banned"), &reply),
            "[{'dovecot': ['1.2.3.4']}, {'sshd': []}]"
        );
        let reply = Reply::JailsOfIds(vec![vec!["dovecot".into()], vec![]]);
        assert_eq!(
            beautify(&parse("banned 1.2.3.4 5.6.7.8"), &reply),
            "[['dovecot'], []]"
        );
    }

    #[test]
    fn numbers_and_server_values() {
        assert_eq!(
            beautify(&parse("set sshd banip 1.2.3.4"), &Reply::Number(1)),
            "1"
        );
        assert_eq!(
            beautify(&parse("get loglevel"), &Reply::Text("INFO".into())),
            "Current logging level is 'INFO'"
        );
        assert_eq!(
            beautify(&parse("get dbfile"), &Reply::None),
            "Database currently disabled"
        );
    }

    #[test]
    fn ban_times_lines() {
        let entries = vec![BanTimeEntry {
            id: "1.2.3.4".into(),
            time: 0,
            ban_time: -1,
            end: None,
        }];
        let text = beautify(
            &parse("get sshd banip --with-time"),
            &Reply::BanTimes(entries),
        );
        assert!(text.starts_with("1.2.3.4 \t"), "{text}");
        assert!(text.ends_with(" + -1 = permanent"), "{text}");
    }
}
