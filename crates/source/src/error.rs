//! Errors a caller of this crate can act on.

use std::io;
use std::path::PathBuf;

/// An error from a file source. The path is always the configured log path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `logencoding` names an encoding this crate does not decode.
    #[error(
        "unsupported logencoding {0:?} (auto, utf-8, latin-1, ascii, or another encoding a log \
         is written in line by line: cp1252, iso-8859-15, koi8-r, shift_jis, gb18030...)"
    )]
    UnknownEncoding(String),
    /// A `logpath` glob pattern is malformed.
    #[error("invalid logpath pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
    /// A `logpath` line has an option other than `head` or `tail`.
    #[error("invalid logpath {line:?}: file option must be 'head' or 'tail'")]
    BadLogPathOption { line: String },
    /// The log exists but could not be opened (permissions, not a file, ...).
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    /// Reading or stat-ing an open log failed.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

impl SourceError {
    /// The log path the error is about, when it is about one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            SourceError::Open { path, .. } | SourceError::Read { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether the process (EMFILE) or the system (ENFILE) ran out of file descriptors:
    /// the file is fine, and is opened once descriptors are free again.
    pub fn is_out_of_descriptors(&self) -> bool {
        match self {
            SourceError::Open { source, .. } | SourceError::Read { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
            }
            _ => false,
        }
    }
}
