//! Where a log was read up to, in a form that survives a restart.
//!
//! fail2ban stores `(path, md5 of the first line, last position)` per jail and
//! resumes only when the first line's md5 is unchanged (`Fail2BanDb.addLog`);
//! we store the same fields, computed the same way, plus the inode. The md5 is
//! taken over the first line *including* its newline, exactly as fail2ban
//! does, so positions can be carried over from a fail2ban database.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// A resumable read position in one log file. `path`, `first_line_md5` and
/// `offset` are the `path`, `firstlinemd5` and `lastfilepos` columns of
/// fail2ban's `logs` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The configured log path (not a rotated name).
    pub path: PathBuf,
    /// Inode of the file that was being read.
    pub inode: u64,
    /// Offset just past the last line delivered.
    pub offset: u64,
    /// Lowercase hex md5 of the first line with its newline, or empty while
    /// the file had no complete first line (fail2ban's `firstlinemd5`).
    pub first_line_md5: String,
}

/// Bytes of the first line kept for comparison. A first line longer than this
/// is compared by its prefix and has no md5 (fail2ban hashes the whole line;
/// such logs fall back to the inode check).
pub(crate) const HEAD_CAP: usize = 8192;

/// The start of a file, up to and including its first newline: the file's
/// identity besides its inode. Copytruncate keeps the inode but the new
/// content starts with another line, which is how a truncation that was
/// followed by enough new writes to pass our old offset is still noticed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Head {
    bytes: Vec<u8>,
}

impl Head {
    /// Reads the head of `file` (at most [`HEAD_CAP`] bytes).
    pub(crate) fn read(file: &File) -> io::Result<Head> {
        let mut bytes = vec![0; HEAD_CAP];
        let mut filled = 0;
        while filled < HEAD_CAP {
            let read = file.read_at(&mut bytes[filled..], filled as u64)?;
            if read == 0 {
                break;
            }
            let newline = memchr::memchr(b'\n', &bytes[filled..filled + read]);
            filled += read;
            if let Some(position) = newline {
                filled = filled - read + position + 1;
                break;
            }
        }
        bytes.truncate(filled);
        // Kept for the file's life: only the line, not the room to read it.
        bytes.shrink_to_fit();
        Ok(Head { bytes })
    }

    /// Whether the first line is complete (or as long as we ever compare).
    fn is_complete(&self) -> bool {
        self.bytes.last() == Some(&b'\n') || self.bytes.len() >= HEAD_CAP
    }

    /// Whether `current` can be the same file as the one `self` was read from:
    /// an incomplete first line may only have grown.
    pub(crate) fn same_file(&self, current: &Head) -> bool {
        if self.is_complete() {
            self.bytes == current.bytes
        } else {
            current.bytes.starts_with(&self.bytes)
        }
    }

    /// fail2ban's `firstlinemd5`: md5 of a complete first line, else empty.
    pub(crate) fn md5_hex(&self) -> String {
        if self.bytes.last() != Some(&b'\n') {
            return String::new();
        }
        Md5::digest(&self.bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl Head {
    /// The head's hash in the family of `stored`: SHA-1 for a 40-digit value, else md5.
    /// fail2ban 1.0 on Python 3 writes SHA-1 into `firstlinemd5`: its probe
    /// `hashlib.md5(' ')` hashes a `str`, raises, and it falls back to `hashlib.sha1`. A
    /// position taken over from its database carries that hash until we save our own.
    fn hash_like(&self, stored: &str) -> String {
        if stored.len() != 40 || self.bytes.last() != Some(&b'\n') {
            return self.md5_hex();
        }
        Sha1::digest(&self.bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl Checkpoint {
    /// Whether this checkpoint applies to the file now at its path, given
    /// that file's inode, size and head. The md5 decides, as in fail2ban;
    /// without a complete first line only the same inode can prove identity.
    pub(crate) fn matches(&self, inode: u64, size: u64, head: &Head) -> bool {
        let same_first_line = self.first_line_md5 == head.hash_like(&self.first_line_md5);
        let identity_known = !self.first_line_md5.is_empty() || self.inode == inode;
        same_first_line && identity_known && size >= self.offset
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn head_of(content: &[u8]) -> Head {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(content).unwrap();
        Head::read(&file).unwrap()
    }

    #[test]
    fn md5_matches_fail2ban() {
        // python3 -c 'import hashlib; print(hashlib.md5(b"first line\n").hexdigest())'
        let head = head_of(b"first line\nsecond\n");
        assert_eq!(head.md5_hex(), "e1735158246b267bdc0ec11b0b4c1ecc");
        assert_eq!(head_of(b"no newline yet").md5_hex(), "");
    }

    #[test]
    fn incomplete_head_may_grow_but_not_change() {
        let old = head_of(b"abc");
        assert!(old.same_file(&head_of(b"abcdef\n")));
        assert!(!old.same_file(&head_of(b"xbc\n")));
        let complete = head_of(b"abc\n");
        assert!(complete.same_file(&head_of(b"abc\nmore\n")));
        assert!(!complete.same_file(&head_of(b"abd\n")));
    }

    #[test]
    fn a_sha1_first_line_hash_of_fail2ban_on_python_3_is_accepted() {
        // python3 -c 'import hashlib; print(hashlib.sha1(b"first line\n").hexdigest())'
        let head = head_of(b"first line\nsecond\n");
        let checkpoint = Checkpoint {
            path: "/x".into(),
            inode: 0,
            offset: 11,
            first_line_md5: "e32c72173d6151f438f6ff3a85c56a46ed99ca81".into(),
        };
        assert!(checkpoint.matches(5, 18, &head));
        let other = head_of(b"other line\n");
        assert!(!checkpoint.matches(5, 18, &other));
    }

    #[test]
    fn checkpoint_needs_same_first_line_and_enough_bytes() {
        let head = head_of(b"line one\nline two\n");
        let checkpoint = Checkpoint {
            path: "/x".into(),
            inode: 7,
            offset: 9,
            first_line_md5: head.md5_hex(),
        };
        assert!(checkpoint.matches(8, 18, &head));
        assert!(!checkpoint.matches(7, 5, &head));
        assert!(!checkpoint.matches(7, 18, &head_of(b"other\n")));
    }
}
