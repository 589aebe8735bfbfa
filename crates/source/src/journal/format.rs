//! One `journalctl -o json` record to the line a filter sees, as fail2ban's
//! `FilterSystemd.formatJournalEntry` builds it:
//! `HOSTNAME IDENTIFIER[PID]: MESSAGE`, where IDENTIFIER is SYSLOG_IDENTIFIER
//! or else _COMM, PID is SYSLOG_PID or else _PID, kernel messages get the
//! monotonic time as `[%12.6f]`, and newlines in the message become `\n`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::Encoding;

/// One journal entry, formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub line: String,
    /// `_SOURCE_REALTIME_TIMESTAMP`, else `__REALTIME_TIMESTAMP`.
    pub realtime: SystemTime,
    /// `__CURSOR`: resume after this entry with [`crate::JournalStart::AfterCursor`].
    pub cursor: String,
    /// The line was cut at `max_line_len` bytes.
    pub truncated: bool,
    /// fail2ban's `inOperation`: false while reading the backlog, until an
    /// entry less than a second old arrives or the journal has been idle
    /// for a second (see [`crate::Line::in_operation`]). Always false from
    /// [`format_journal_entry`]; set by [`crate::JournalSource`].
    pub in_operation: bool,
}

/// Formats one JSON record; `None` when it lacks a cursor or timestamp
/// (never the case for journalctl's output).
pub fn format_journal_entry(
    record: &Map<String, Value>,
    encoding: Encoding,
    max_line_len: usize,
) -> Option<JournalEntry> {
    let cursor = record.get("__CURSOR")?.as_str()?.to_string();
    let realtime = micros_field(record, "_SOURCE_REALTIME_TIMESTAMP")
        .or_else(|| micros_field(record, "__REALTIME_TIMESTAMP"))?;
    let mut elements = Vec::new();
    if let Some(host) = text_field(record, "_HOSTNAME", encoding).filter(|v| !v.is_empty()) {
        elements.push(host);
    }
    if let Some(identifier) = identifier(record, encoding) {
        let is_kernel = identifier == "kernel:";
        elements.push(identifier);
        if is_kernel {
            elements.extend(kernel_time(record));
        }
    }
    elements.push(message(record, encoding));
    let line = elements.join(" ").replace('\n', "\\n");
    let (line, truncated) = bounded(line, max_line_len);
    Some(JournalEntry {
        line,
        realtime: UNIX_EPOCH + Duration::from_micros(realtime),
        cursor,
        truncated,
        in_operation: false,
    })
}

/// `IDENT[PID]:` or `IDENT:`, or nothing without an identifier.
fn identifier(record: &Map<String, Value>, encoding: Encoding) -> Option<String> {
    let mut identifier = ["SYSLOG_IDENTIFIER", "_COMM"]
        .iter()
        .find_map(|name| text_field(record, name, encoding).filter(|v| !v.is_empty()))?;
    let pid = ["SYSLOG_PID", "_PID"]
        .iter()
        .find_map(|name| text_field(record, name, encoding).filter(|v| !v.is_empty()));
    if let Some(pid) = pid {
        match python_int(&pid) {
            Some(number) => identifier.push_str(&format!("[{number}]")),
            None => identifier.push_str(&format!("[{pid}]")),
        }
    }
    identifier.push(':');
    Some(identifier)
}

/// `[%12.6f]` of the monotonic time in seconds, as the kernel prints it.
fn kernel_time(record: &Map<String, Value>) -> Option<String> {
    let micros = micros_field(record, "_SOURCE_MONOTONIC_TIMESTAMP")
        .or_else(|| micros_field(record, "__MONOTONIC_TIMESTAMP"))?;
    let seconds = micros as f64 / 1e6;
    Some(format!("[{seconds:12.6}]"))
}

/// MESSAGE; several values (a field set more than once) joined by spaces.
fn message(record: &Map<String, Value>, encoding: Encoding) -> String {
    match record.get("MESSAGE") {
        Some(Value::Array(values)) if !is_byte_array(values) => values
            .iter()
            .filter_map(|value| value_text(value, encoding))
            .collect::<Vec<_>>()
            .join(" "),
        Some(value) => value_text(value, encoding).unwrap_or_default(),
        None => String::new(),
    }
}

/// A field's text; the first value when it has several.
fn text_field(record: &Map<String, Value>, name: &str, encoding: Encoding) -> Option<String> {
    match record.get(name)? {
        Value::Array(values) if !is_byte_array(values) => value_text(values.first()?, encoding),
        value => value_text(value, encoding),
    }
}

/// journalctl writes a field that is not valid UTF-8 (or is not printable)
/// as an array of byte values; bytes that are not UTF-8 are decoded with
/// `logencoding`, replacing invalid ones, as fail2ban's `uni_decode` does.
fn value_text(value: &Value, encoding: Encoding) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(values) if is_byte_array(values) => {
            let bytes: Vec<u8> = values
                .iter()
                .filter_map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            // python-systemd hands over valid UTF-8 as text and only other
            // bytes raw, so the log encoding applies to those alone.
            match String::from_utf8(bytes) {
                Ok(text) => Some(text),
                Err(error) => {
                    let mut scratch = String::new();
                    let (text, _) = encoding.decode(error.as_bytes(), &mut scratch);
                    Some(text.to_string())
                }
            }
        }
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn is_byte_array(values: &[Value]) -> bool {
    values.iter().all(Value::is_u64)
}

fn micros_field(record: &Map<String, Value>, name: &str) -> Option<u64> {
    match record.get(name)? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
}

/// Python's `int(text, 0)`: optional sign, `0x`/`0o`/`0b` prefixes, and no
/// leading zeros on a decimal number other than zero itself.
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = match lower.get(..2) {
        Some("0x") => (16, &lower[2..]),
        Some("0o") => (8, &lower[2..]),
        Some("0b") => (2, &lower[2..]),
        _ if lower.starts_with('0') && lower.trim_start_matches('0').is_empty() => (10, "0"),
        _ if lower.starts_with('0') => return None,
        _ => (10, lower.as_str()),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let value = i128::from_str_radix(body, radix).ok()?;
    Some(if negative { -value } else { value })
}

/// Cuts `line` to at most `max` bytes on a character boundary.
fn bounded(mut line: String, max: usize) -> (String, bool) {
    if line.len() <= max {
        return (line, false);
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    (line, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn format(json: &str) -> JournalEntry {
        let record: Map<String, Value> = serde_json::from_str(json).unwrap();
        format_journal_entry(&record, Encoding::Utf8, 1000).unwrap()
    }

    #[test]
    fn formats_like_fail2ban() {
        let entry = format(
            r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"host",
                "SYSLOG_IDENTIFIER":"sshd","_PID":"42","MESSAGE":"Failed password\nfor root"}"#,
        );
        assert_eq!(entry.line, "host sshd[42]: Failed password\\nfor root");
        assert_eq!(entry.cursor, "s=1");
        assert_eq!(
            entry.realtime,
            UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)
        );
    }

    #[test]
    fn falls_back_to_comm_and_source_timestamp() {
        let entry = format(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"2","_SOURCE_REALTIME_TIMESTAMP":"1",
                "_COMM":"sshd","SYSLOG_PID":"0x1f","MESSAGE":"m"}"#,
        );
        assert_eq!(entry.line, "sshd[31]: m");
        assert_eq!(entry.realtime, UNIX_EPOCH + Duration::from_micros(1));
        let odd_pid = format(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"2","_COMM":"x","_PID":"012","MESSAGE":"m"}"#,
        );
        assert_eq!(odd_pid.line, "x[012]: m");
    }

    #[test]
    fn kernel_lines_carry_monotonic_time() {
        let entry = format(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","__MONOTONIC_TIMESTAMP":"12345678",
                "_HOSTNAME":"h","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"oops"}"#,
        );
        assert_eq!(entry.line, "h kernel: [   12.345678] oops");
    }

    #[test]
    fn byte_array_message_is_decoded_with_replacement() {
        // "caf\xe9" is not UTF-8, so journalctl prints it as numbers.
        let entry =
            format(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[99,97,102,233]}"#);
        assert_eq!(entry.line, "caf\u{fffd}");
        let record: Map<String, Value> = serde_json::from_str(
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[99,97,102,233]}"#,
        )
        .unwrap();
        let latin = format_journal_entry(&record, Encoding::Latin1, 100).unwrap();
        assert_eq!(latin.line, "caf\u{e9}");
    }

    #[test]
    fn repeated_message_values_are_joined() {
        let entry = format(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":["a",[98]]}"#);
        assert_eq!(entry.line, "a b");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let record: Map<String, Value> =
            serde_json::from_str(r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":"ééé"}"#)
                .unwrap();
        let entry = format_journal_entry(&record, Encoding::Utf8, 3).unwrap();
        assert_eq!((entry.line.as_str(), entry.truncated), ("é", true));
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int("42"), Some(42));
        assert_eq!(python_int(" 0 "), Some(0));
        assert_eq!(python_int("00"), Some(0));
        assert_eq!(python_int("0b11"), Some(3));
        assert_eq!(python_int("-7"), Some(-7));
        assert_eq!(python_int("012"), None);
        assert_eq!(python_int("abc"), None);
    }
}
