//! Following one log path across appends, rotation and truncation.
//!
//! The tailer keeps the file descriptor of the file it reads, so a rename or
//! an unlink never loses what was written before it: at every poll the open
//! file is read to its end first, and only then is the path checked for a new
//! file. A rotated-away file stays open for `rotate_grace` and is read again
//! at every poll, because a daemon keeps writing to it until it is told to
//! reopen its log (logrotate's `postrotate`). A file that got smaller, or
//! whose first line changed, was truncated in place (copytruncate) and is read
//! again from offset 0.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::checkpoint::{Checkpoint, Head};
use crate::descriptors::{DescriptorBudget, DescriptorToken};
use crate::lines::{LineAssembler, LongLinePolicy, RawLine};
use crate::{Encoding, SourceError};

/// Where a tailer starts reading a file that exists when it is opened. A file
/// that does not exist yet is always read from its beginning once it appears.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// From offset 0 (fail2ban's `logpath = /x head`, the default).
    #[default]
    Beginning,
    /// From the current end (fail2ban's `logpath = /x tail`). As in
    /// fail2ban this is the exact end: a line being written at that moment
    /// is delivered from where it was cut.
    Tail,
    /// From a saved position if it still applies to the file, else from 0.
    Checkpoint(Checkpoint),
}

/// How a tailer reads its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailerOptions {
    pub start: Start,
    pub encoding: Encoding,
    /// Longest line delivered, in bytes; longer ones follow `long_lines`.
    pub max_line_len: usize,
    pub long_lines: LongLinePolicy,
    /// How long a rotated-away or deleted file is still read.
    pub rotate_grace: Duration,
    /// What the open files count against.
    pub descriptors: DescriptorBudget,
}

/// Default `max_line_len`: far above any real log line, small enough that a
/// jail per log cannot exhaust memory.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// Default `rotate_grace`.
pub const DEFAULT_ROTATE_GRACE: Duration = Duration::from_secs(10);

impl Default for TailerOptions {
    fn default() -> Self {
        TailerOptions {
            start: Start::Beginning,
            encoding: Encoding::Utf8,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            long_lines: LongLinePolicy::Truncate,
            rotate_grace: DEFAULT_ROTATE_GRACE,
            descriptors: DescriptorBudget::default(),
        }
    }
}

/// One line of a log, without its line terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The configured log path (also for lines read from a rotated file).
    pub path: &'a Path,
    pub text: &'a str,
    /// Offset of the line's first byte in the file it was read from.
    pub offset: u64,
    /// The line was longer than `max_line_len` and was cut there.
    pub truncated: bool,
    /// fail2ban's `inOperation`: false for the backlog, the lines that were
    /// already in the file when it was opened (from its start or a
    /// checkpoint) and read before its end was first reached. The filter
    /// ignores backlog failures older than `findtime` and treats live lines
    /// with odd timestamps as happening now. True from the start with
    /// [`Start::Tail`] and for a file that did not exist at open.
    pub in_operation: bool,
}

/// Counters since the tailer was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TailerStats {
    pub lines: u64,
    pub bytes_read: u64,
    pub truncated_lines: u64,
    pub dropped_long_lines: u64,
    /// Lines in which an undecodable byte was replaced by U+FFFD.
    pub replaced_encoding_lines: u64,
    /// Times the file at the path was replaced or removed.
    pub rotations: u64,
    /// Times the file was truncated or rewritten in place.
    pub truncations: u64,
    /// Bytes of an incomplete line lost to a truncation.
    pub discarded_partial_bytes: u64,
}

impl TailerStats {
    /// Adds another tailer's counters to these.
    pub fn add(&mut self, other: &TailerStats) {
        self.lines += other.lines;
        self.bytes_read += other.bytes_read;
        self.truncated_lines += other.truncated_lines;
        self.dropped_long_lines += other.dropped_long_lines;
        self.replaced_encoding_lines += other.replaced_encoding_lines;
        self.rotations += other.rotations;
        self.truncations += other.truncations;
        self.discarded_partial_bytes += other.discarded_partial_bytes;
    }
}

/// A file being read, identified by device and inode.
#[derive(Debug)]
struct OpenFile {
    file: File,
    device: u64,
    inode: u64,
    lines: LineAssembler,
    head: Head,
    /// Modification time at the last read, to notice a truncation that was
    /// refilled to exactly the size we had read.
    modified: Option<SystemTime>,
    /// Counts `file` against the budget; dropped with it.
    _descriptor: DescriptorToken,
}

/// A file that left the path and is read until its grace period ends.
#[derive(Debug)]
struct Rotated {
    open: OpenFile,
    until: Instant,
}

/// Turns raw lines into [`Line`]s and counts them.
#[derive(Debug)]
struct Decoder {
    encoding: Encoding,
    scratch: String,
    stats: TailerStats,
    in_operation: bool,
}

impl Decoder {
    fn deliver(&mut self, path: &Path, raw: RawLine<'_>, sink: &mut dyn FnMut(Line<'_>)) {
        let Decoder {
            encoding,
            scratch,
            stats,
            in_operation,
        } = self;
        let (text, replaced) = encoding.decode(raw.bytes, scratch);
        stats.lines += 1;
        stats.truncated_lines += u64::from(raw.truncated);
        stats.replaced_encoding_lines += u64::from(replaced);
        sink(Line {
            path,
            text,
            offset: raw.offset,
            truncated: raw.truncated,
            in_operation: *in_operation,
        });
    }
}

const READ_CHUNK: usize = 16 * 1024;

/// The most one file's poll reads: a backlog is read in pieces of this size, so that the
/// owner can save its position (and whatever hangs on it) between them instead of once
/// for the whole backlog.
const POLL_BUDGET: usize = 1024 * 1024;

/// Follows one log path. Not thread-safe by design: one owner polls it.
#[derive(Debug)]
pub struct FileTailer {
    path: PathBuf,
    max_line_len: usize,
    long_lines: LongLinePolicy,
    rotate_grace: Duration,
    descriptors: DescriptorBudget,
    /// Start position for the next file opened at the path.
    next_start: Start,
    current: Option<OpenFile>,
    rotated: Vec<Rotated>,
    buffer: Vec<u8>,
    decoder: Decoder,
    /// The last poll stopped at [`POLL_BUDGET`] before the end of a file.
    behind: bool,
}

impl FileTailer {
    /// Starts following `path`. The file is opened now if it exists, so
    /// [`Start::Tail`] means the end as of this call; a missing file is not
    /// an error and is waited for.
    pub fn open(path: impl Into<PathBuf>, options: TailerOptions) -> Result<Self, SourceError> {
        let tail = options.start == Start::Tail;
        let mut tailer = FileTailer {
            path: path.into(),
            max_line_len: options.max_line_len,
            long_lines: options.long_lines,
            rotate_grace: options.rotate_grace,
            descriptors: options.descriptors,
            next_start: options.start,
            current: None,
            rotated: Vec::new(),
            buffer: Vec::new(),
            decoder: Decoder {
                encoding: options.encoding,
                scratch: String::new(),
                stats: TailerStats::default(),
                in_operation: tail,
            },
            behind: false,
        };
        tailer.current = tailer.open_path()?;
        if tailer.current.is_none() {
            tailer.decoder.in_operation = true;
        }
        tailer.next_start = Start::Beginning;
        Ok(tailer)
    }

    /// The configured log path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a file is currently open at the path.
    pub fn is_open(&self) -> bool {
        self.current.is_some()
    }

    pub fn stats(&self) -> &TailerStats {
        &self.decoder.stats
    }

    /// The position to resume from after a restart, if a file is open.
    /// Lines of a rotated-away file not yet read when this is saved are not
    /// covered (they are read if the process keeps running).
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.current.as_ref().map(|open| Checkpoint {
            path: self.path.clone(),
            inode: open.inode,
            offset: open.lines.committed_offset(),
            first_line_md5: open.head.md5_hex(),
        })
    }

    /// Delivers every complete line written since the last poll, in file
    /// order, older files first; returns how many were delivered. Call it
    /// when a [`crate::Watcher`] wakes up, or periodically.
    pub fn poll_lines(&mut self, sink: &mut impl FnMut(Line<'_>)) -> Result<usize, SourceError> {
        self.poll_dyn(sink)
    }

    /// Whether the last poll stopped before the end of a file, with more to read now.
    pub fn is_behind(&self) -> bool {
        self.behind
    }

    fn poll_dyn(&mut self, sink: &mut dyn FnMut(Line<'_>)) -> Result<usize, SourceError> {
        self.behind = false;
        // An unreadable rotated file must not keep the current one unread.
        let drained = self.drain_rotated(sink);
        let current = self.poll_current(sink);
        Ok(drained? + current?)
    }

    /// Reads the current file to its end; then, if the path now names
    /// another file (or none), sets the current one aside for its grace
    /// period and starts on the new one.
    fn poll_current(&mut self, sink: &mut dyn FnMut(Line<'_>)) -> Result<usize, SourceError> {
        let mut delivered = 0;
        if let Some(mut open) = self.current.take() {
            let result = self.read_available(&mut open, sink);
            // A file not read to its end is finished before a new one at the path.
            let still_here = result.is_err() || self.behind || self.still_at_path(&open);
            if still_here {
                self.current = Some(open);
                return result;
            }
            delivered += result?;
            self.decoder.stats.rotations += 1;
            let until = Instant::now() + self.rotate_grace;
            self.rotated.push(Rotated { open, until });
        }
        if let Some(mut open) = self.open_path()? {
            let result = self.read_available(&mut open, sink);
            self.current = Some(open);
            delivered += result?;
        }
        Ok(delivered)
    }

    /// Reads rotated-away files once more and closes those past their grace,
    /// delivering a last line that never got its newline.
    fn drain_rotated(&mut self, sink: &mut dyn FnMut(Line<'_>)) -> Result<usize, SourceError> {
        let mut rotated = std::mem::take(&mut self.rotated);
        let mut delivered = 0;
        let mut result = Ok(());
        let mut unfinished = Vec::new();
        for entry in &mut rotated {
            self.behind = false;
            match self.read_available(&mut entry.open, sink) {
                Ok(count) => delivered += count,
                Err(error) => result = Err(error),
            }
            unfinished.push(self.behind);
        }
        self.behind = unfinished.contains(&true);
        let now = Instant::now();
        for (mut entry, unfinished) in rotated.into_iter().zip(unfinished) {
            if now < entry.until || unfinished {
                self.rotated.push(entry);
                continue;
            }
            let (path, decoder) = (&self.path, &mut self.decoder);
            entry.open.lines.flush(&mut |raw| {
                delivered += 1;
                decoder.deliver(path, raw, sink);
            });
        }
        result.map(|()| delivered)
    }

    /// Whether the file at the path is still the one `open` reads. The path
    /// naming nothing (not found, a directory on the way that became a file,
    /// a link loop) means it left; another stat error (a directory on the way
    /// made unsearchable) keeps the current file: we cannot tell.
    fn still_at_path(&self, open: &OpenFile) -> bool {
        match fs::metadata(&self.path) {
            Ok(metadata) => metadata.dev() == open.device && metadata.ino() == open.inode,
            Err(error) => {
                let gone = error.kind() == io::ErrorKind::NotFound
                    || matches!(error.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP));
                !gone
            }
        }
    }

    /// Opens the file at the path, positioned per `next_start`; `None` when
    /// there is no file there yet.
    ///
    /// The path is looked at before it is opened, and only a regular file is
    /// opened: opening a FIFO for reading blocks until a writer comes, and
    /// opening a directory over and over shows up as events in its parent.
    /// The open itself is non-blocking too, for a path swapped between the
    /// look and the open; the file is checked again through its descriptor.
    fn open_path(&mut self) -> Result<Option<OpenFile>, SourceError> {
        let open_error = |source| SourceError::Open {
            path: self.path.clone(),
            source,
        };
        match fs::metadata(&self.path) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(metadata) => return Err(open_error(not_a_file(&metadata))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return match fs::symlink_metadata(&self.path) {
                    Ok(_) => Err(open_error(dangling_link(&self.path))),
                    Err(_) => Ok(None),
                };
            }
            Err(error) => return Err(open_error(error)),
        }
        let descriptor = self
            .descriptors
            .acquire()
            .ok_or_else(|| open_error(io::Error::from_raw_os_error(libc::EMFILE)))?;
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(open_error(error)),
        };
        let metadata = file.metadata().map_err(open_error)?;
        if !metadata.is_file() {
            return Err(open_error(not_a_file(&metadata)));
        }
        let head = Head::read(&file).map_err(open_error)?;
        let offset = match std::mem::take(&mut self.next_start) {
            Start::Beginning => 0,
            Start::Tail => metadata.len(),
            Start::Checkpoint(checkpoint) => {
                if checkpoint.matches(metadata.ino(), metadata.len(), &head) {
                    checkpoint.offset
                } else {
                    0
                }
            }
        };
        Ok(Some(OpenFile {
            file,
            device: metadata.dev(),
            inode: metadata.ino(),
            lines: LineAssembler::new(self.max_line_len, self.long_lines, offset),
            head,
            modified: metadata.modified().ok(),
            _descriptor: descriptor,
        }))
    }

    /// Reads `open` to its current end, first restarting at 0 if it was
    /// truncated or rewritten since the last read.
    fn read_available(
        &mut self,
        open: &mut OpenFile,
        sink: &mut dyn FnMut(Line<'_>),
    ) -> Result<usize, SourceError> {
        let (path, decoder, buffer) = (&self.path, &mut self.decoder, &mut self.buffer);
        let read_error = |source| SourceError::Read {
            path: path.clone(),
            source,
        };
        restart_if_truncated(open, &mut decoder.stats).map_err(read_error)?;
        // The read buffer lives while there is something to read: a daemon's quiet logs
        // (most of its jails, most of the time) hold none.
        buffer.resize(READ_CHUNK, 0);
        let (mut delivered, mut budget) = (0, POLL_BUDGET);
        loop {
            if budget == 0 {
                self.behind = true;
                break;
            }
            let read = match open.file.read_at(buffer, open.lines.read_offset()) {
                Ok(0) => {
                    decoder.in_operation = true;
                    break;
                }
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(read_error(error)),
            };
            decoder.stats.bytes_read += read as u64;
            budget = budget.saturating_sub(read);
            open.lines.feed(&buffer[..read], &mut |raw| {
                delivered += 1;
                decoder.deliver(path, raw, sink);
            });
        }
        *buffer = Vec::new();
        decoder.stats.dropped_long_lines += std::mem::take(&mut open.lines.dropped_long);
        Ok(delivered)
    }
}

/// The error for a log path that names something other than a regular file.
fn not_a_file(metadata: &fs::Metadata) -> io::Error {
    let file_type = metadata.file_type();
    let what = if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "something else"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({what})"),
    )
}

/// The error for a log path that is a symbolic link to nothing: not waited for in
/// silence as a missing file is, since a link that points nowhere is usually a mistake.
fn dangling_link(path: &Path) -> io::Error {
    let target = fs::read_link(path)
        .map(|target| target.display().to_string())
        .unwrap_or_default();
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("a symbolic link to {target}, which does not exist"),
    )
}

/// Detects copytruncate: the file is shorter than what we read, or it
/// changed and its first line is not the one we saw (truncated, then written
/// up to or past our offset before this poll).
fn restart_if_truncated(open: &mut OpenFile, stats: &mut TailerStats) -> io::Result<()> {
    let metadata = open.file.metadata()?;
    let modified = metadata.modified().ok();
    let size = metadata.len();
    let offset = open.lines.read_offset();
    let truncated = if size < offset {
        true
    } else if size > offset || modified != open.modified {
        let head = Head::read(&open.file)?;
        let replaced = !open.head.same_file(&head);
        open.head = head;
        replaced
    } else {
        false
    };
    open.modified = modified;
    if truncated {
        stats.truncations += 1;
        stats.discarded_partial_bytes += open.lines.reset(0);
        open.head = Head::read(&open.file)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod model_tests;
