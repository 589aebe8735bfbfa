//! Cutting a byte stream into bounded lines.
//!
//! A log may be written in pieces, so the bytes after the last newline are
//! held until their newline arrives (fail2ban's `waitForLineEnd`). The held
//! bytes never exceed `max_line_len`: past that the rest of the line is
//! skipped while reading and the line is truncated or dropped when its newline
//! comes, so a runaway writer cannot make us buffer without bound.

/// What happens to a line longer than `max_line_len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LongLinePolicy {
    /// Deliver its first `max_line_len` bytes, flagged as truncated. The
    /// default: the host and the failure text are near the start of a line.
    #[default]
    Truncate,
    /// Do not deliver it at all (counted in the statistics).
    Drop,
}

/// One complete raw line, without its line terminator.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawLine<'a> {
    pub(crate) bytes: &'a [u8],
    /// File offset of the line's first byte.
    pub(crate) offset: u64,
    pub(crate) truncated: bool,
}

/// Assembles lines from consecutive chunks of one file.
#[derive(Debug)]
pub(crate) struct LineAssembler {
    max_line_len: usize,
    policy: LongLinePolicy,
    /// Bytes of the line being assembled, at most `max_line_len`.
    partial: Vec<u8>,
    /// The line being assembled has more bytes than were kept in `partial`.
    overflow: bool,
    /// File offset of the first byte of the line being assembled.
    line_start: u64,
    /// File offset just past the last byte fed.
    consumed: u64,
    /// Lines dropped by [`LongLinePolicy::Drop`].
    pub(crate) dropped_long: u64,
}

impl LineAssembler {
    pub(crate) fn new(max_line_len: usize, policy: LongLinePolicy, offset: u64) -> Self {
        LineAssembler {
            max_line_len: max_line_len.max(1),
            policy,
            partial: Vec::new(),
            overflow: false,
            line_start: offset,
            consumed: offset,
            dropped_long: 0,
        }
    }

    /// The offset after the last delivered line: where a restart resumes.
    pub(crate) fn committed_offset(&self) -> u64 {
        self.line_start
    }

    /// The offset of the next byte to read.
    pub(crate) fn read_offset(&self) -> u64 {
        self.consumed
    }

    /// Whether an incomplete line is held.
    pub(crate) fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.overflow
    }

    /// Forgets any held bytes and restarts at `offset` (after truncation).
    /// Returns how many held bytes were discarded.
    pub(crate) fn reset(&mut self, offset: u64) -> u64 {
        let discarded = self.consumed - self.line_start;
        self.partial.clear();
        self.overflow = false;
        self.line_start = offset;
        self.consumed = offset;
        discarded
    }

    /// Feeds the next chunk of the file and emits every line it completes.
    pub(crate) fn feed(&mut self, chunk: &[u8], emit: &mut dyn FnMut(RawLine<'_>)) {
        let mut rest = chunk;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            let (segment, after) = (&rest[..newline], &rest[newline + 1..]);
            self.finish_line(segment, 1, emit);
            rest = after;
        }
        self.hold(rest);
    }

    /// Delivers the held bytes as a line although no newline came: the file
    /// is being abandoned (rotated away and no longer written).
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(RawLine<'_>)) {
        if self.has_partial() {
            self.finish_line(&[], 0, emit);
        }
    }

    fn finish_line(
        &mut self,
        segment: &[u8],
        terminator_len: u64,
        emit: &mut dyn FnMut(RawLine<'_>),
    ) {
        let offset = self.line_start;
        let consumed = self.consumed + segment.len() as u64 + terminator_len;
        if self.partial.is_empty() && !self.overflow {
            self.emit_bounded(segment, offset, false, emit);
        } else {
            self.hold(segment);
            let partial = std::mem::take(&mut self.partial);
            self.emit_bounded(&partial, offset, self.overflow, emit);
            self.partial = partial;
            self.partial.clear();
            self.overflow = false;
        }
        self.consumed = consumed;
        self.line_start = consumed;
    }

    fn emit_bounded(
        &mut self,
        bytes: &[u8],
        offset: u64,
        overflow: bool,
        emit: &mut dyn FnMut(RawLine<'_>),
    ) {
        let too_long = overflow || bytes.len() > self.max_line_len;
        if too_long && self.policy == LongLinePolicy::Drop {
            self.dropped_long += 1;
            return;
        }
        let kept = &bytes[..bytes.len().min(self.max_line_len)];
        emit(RawLine {
            bytes: trim_carriage_returns(kept),
            offset,
            truncated: too_long,
        });
    }

    /// Keeps bytes of an unfinished line, up to the bound.
    fn hold(&mut self, bytes: &[u8]) {
        self.consumed += bytes.len() as u64;
        let room = self.max_line_len - self.partial.len();
        if bytes.len() > room {
            self.overflow = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// fail2ban strips line ends with `rstrip('\r\n')`; the `\n` is already gone.
fn trim_carriage_returns(mut bytes: &[u8]) -> &[u8] {
    while let [head @ .., b'\r'] = bytes {
        bytes = head;
    }
    bytes
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn collect(assembler: &mut LineAssembler, chunks: &[&[u8]]) -> Vec<(String, u64, bool)> {
        let mut lines = Vec::new();
        for chunk in chunks {
            assembler.feed(chunk, &mut |line| {
                lines.push((
                    String::from_utf8_lossy(line.bytes).into_owned(),
                    line.offset,
                    line.truncated,
                ))
            });
        }
        lines
    }

    #[test]
    fn partial_line_waits_for_its_newline() {
        let mut assembler = LineAssembler::new(100, LongLinePolicy::Truncate, 0);
        let lines = collect(&mut assembler, &[b"one\ntw", b"o\r\n", b"thr"]);
        assert_eq!(
            lines,
            vec![("one".into(), 0, false), ("two".into(), 4, false)]
        );
        assert_eq!(assembler.committed_offset(), 9);
        assert_eq!(assembler.read_offset(), 12);
        assert!(assembler.has_partial());
    }

    #[test]
    fn long_line_is_truncated_and_memory_stays_bounded() {
        let mut assembler = LineAssembler::new(8, LongLinePolicy::Truncate, 0);
        let big = vec![b'x'; 1 << 20];
        let lines = collect(&mut assembler, &[b"ab", &big, &big, b"\nok\n"]);
        assert!(assembler.partial.capacity() < 1024);
        assert_eq!(lines[0], ("abxxxxxx".into(), 0, true));
        assert_eq!(lines[1], ("ok".into(), 2 + 2 * (1 << 20) + 1, false));
    }

    #[test]
    fn long_line_can_be_dropped() {
        let mut assembler = LineAssembler::new(4, LongLinePolicy::Drop, 0);
        let lines = collect(&mut assembler, &[b"123456789\nabc\n0123456\n"]);
        assert_eq!(lines, vec![("abc".into(), 10, false)]);
        assert_eq!(assembler.dropped_long, 2);
    }

    #[test]
    fn nul_bytes_and_empty_lines_are_kept() {
        let mut assembler = LineAssembler::new(100, LongLinePolicy::Truncate, 0);
        let lines = collect(&mut assembler, &[b"a\0b\n\n"]);
        assert_eq!(
            lines,
            vec![("a\0b".into(), 0, false), (String::new(), 4, false)]
        );
    }

    #[test]
    fn flush_delivers_unterminated_last_line() {
        let mut assembler = LineAssembler::new(100, LongLinePolicy::Truncate, 10);
        let mut lines = collect(&mut assembler, &[b"end"]);
        assembler.flush(&mut |line| {
            lines.push((
                String::from_utf8_lossy(line.bytes).into_owned(),
                line.offset,
                false,
            ))
        });
        assert_eq!(lines, vec![("end".into(), 10, false)]);
        assert_eq!(assembler.committed_offset(), 13);
    }
}
