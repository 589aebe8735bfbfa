//! fail2ban's "tuple lines": a log line split into (text before the date, the date, text
//! after it). Regexes run on the lines without their dates, joined by "\n" with a final "\n"
//! (`Regex._tupleLinesBuf`); a match is mapped back to the buffered lines it covers.

/// A log line with the date cut out, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TupleView<'a> {
    pub prefix: &'a str,
    pub date: &'a str,
    pub suffix: &'a str,
    /// Which `process_line` call the line came from.
    pub serial: u64,
}

impl TupleView<'_> {
    /// The line as read (prefix + date + suffix).
    pub fn full(&self) -> String {
        let mut text =
            String::with_capacity(self.prefix.len() + self.date.len() + self.suffix.len());
        text.push_str(self.prefix);
        text.push_str(self.date);
        text.push_str(self.suffix);
        text
    }

    /// True when prefix + suffix equals `text`, without building the joined string.
    fn stripped_equals(&self, text: &str) -> bool {
        text.len() == self.prefix.len() + self.suffix.len()
            && text.starts_with(self.prefix)
            && text.ends_with(self.suffix)
    }
}

/// A buffered line, owned (multi-line buffering keeps lines across calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TupleLine {
    pub text: String,
    pub date_start: usize,
    pub date_end: usize,
    pub serial: u64,
}

impl TupleLine {
    pub fn from_view(view: &TupleView<'_>) -> Self {
        TupleLine {
            text: view.full(),
            date_start: view.prefix.len(),
            date_end: view.prefix.len() + view.date.len(),
            serial: view.serial,
        }
    }

    pub fn view(&self) -> TupleView<'_> {
        let date_start = self.date_start.min(self.text.len());
        let date_end = self.date_end.clamp(date_start, self.text.len());
        TupleView {
            prefix: self.text.get(..date_start).unwrap_or(""),
            date: self.text.get(date_start..date_end).unwrap_or(""),
            suffix: self.text.get(date_end..).unwrap_or(""),
            serial: self.serial,
        }
    }
}

/// `Regex._tupleLinesBuf`: writes the regex haystack for `lines` into `buf`.
pub(crate) fn write_buffer<'a>(buf: &mut String, lines: impl Iterator<Item = TupleView<'a>>) {
    buf.clear();
    for (index, line) in lines.enumerate() {
        if index > 0 {
            buf.push('\n');
        }
        buf.push_str(line.prefix);
        buf.push_str(line.suffix);
    }
    buf.push('\n');
}

/// Which original lines a match covers (`Regex.search` with `orgLines`): indices of matched
/// lines in order, and of the others (skipped lines first, then lines before, then after,
/// in fail2ban's order).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MatchedLines {
    pub matched: Vec<usize>,
    pub unmatched: Vec<usize>,
}

/// Maps the match span in `buf` to original lines; `skipped` are the texts captured by
/// `<SKIPLINES>` groups (already split into lines).
pub(crate) fn matched_lines(
    buf: &str,
    span: (usize, usize),
    org: &[TupleView<'_>],
    skipped: &[&str],
) -> MatchedLines {
    if org.len() <= 1 {
        return MatchedLines {
            matched: (0..org.len()).collect(),
            unmatched: Vec::new(),
        };
    }
    let bytes = buf.as_bytes();
    let (start, end) = span;
    // rindex("\n", 0, start + 1) + 1
    let search_to = (start + 1).min(bytes.len());
    let line_start = memchr::memrchr(b'\n', &bytes[..search_to]).map_or(0, |p| p + 1);
    // index("\n", end - 1) + 1 (Python reads -1 as the last character)
    let from = if end == 0 {
        bytes.len().saturating_sub(1)
    } else {
        end - 1
    };
    let line_end = memchr::memchr(b'\n', bytes.get(from..).unwrap_or(&[]))
        .map_or(bytes.len(), |p| from + p + 1);
    let count1 = memchr::memchr_iter(b'\n', &bytes[..line_start]).count();
    let count2 = memchr::memchr_iter(b'\n', &bytes[..line_end.min(bytes.len())]).count();
    let count1 = count1.min(org.len());
    let count2 = count2.clamp(count1, org.len());
    let mut matched: Vec<usize> = (count1..count2).collect();
    let mut unmatched: Vec<usize> = (0..count1).collect();
    let mut cursor = 0;
    for skipped_line in skipped {
        let found = matched
            .iter()
            .skip(cursor)
            .position(|&i| org[i].stripped_equals(skipped_line));
        if let Some(offset) = found {
            unmatched.push(matched.remove(cursor + offset));
            cursor += offset;
        }
    }
    unmatched.extend(count2..org.len());
    MatchedLines { matched, unmatched }
}

/// Python's `str.splitlines(False)` for the separators that can occur in our buffers.
pub(crate) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .or_else(|| text.strip_suffix('\r'))
        .unwrap_or(text);
    let empty = text.is_empty();
    trimmed
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(move |_| !empty)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn view(text: &str, serial: u64) -> TupleView<'_> {
        TupleView {
            prefix: "",
            date: "",
            suffix: text,
            serial,
        }
    }

    #[test]
    fn buffer_joins_without_dates_and_ends_in_newline() {
        let line = TupleView {
            prefix: "a ",
            date: "DATE",
            suffix: " b",
            serial: 0,
        };
        let mut buf = String::new();
        write_buffer(&mut buf, [line, view("c", 1)].into_iter());
        assert_eq!(buf, "a  b\nc\n");
        assert_eq!(line.full(), "a DATE b");
    }

    #[test]
    fn match_maps_to_covered_lines() {
        let org = [
            view("one", 0),
            view("two", 1),
            view("three", 2),
            view("four", 3),
        ];
        let buf = "one\ntwo\nthree\nfour\n";
        // Match "two\nthree".
        let lines = matched_lines(buf, (4, 13), &org, &[]);
        assert_eq!(lines.matched, vec![1, 2]);
        assert_eq!(lines.unmatched, vec![0, 3]);
        // Skipped line "two" moves out of the matched set.
        let lines = matched_lines(buf, (4, 13), &org, &["two"]);
        assert_eq!(lines.matched, vec![2]);
        assert_eq!(lines.unmatched, vec![0, 1, 3]);
    }

    #[test]
    fn split_lines_like_python() {
        assert_eq!(split_lines("a\nb\n").collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(split_lines("").count(), 0);
        assert_eq!(split_lines("\n").collect::<Vec<_>>(), vec![""]);
    }

    #[test]
    fn owned_line_round_trips() {
        let line = TupleView {
            prefix: "p",
            date: "d",
            suffix: "s",
            serial: 7,
        };
        let owned = TupleLine::from_view(&line);
        assert_eq!(owned.view(), line);
    }
}
