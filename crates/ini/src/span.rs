//! Where a value was written: file path, line, and the include chain that led to the file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file as it was reached: its path and the `[INCLUDES]` lines that led to it
/// (outermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    path: PathBuf,
    included_from: Vec<Span>,
}

/// A position in a configuration file. Line 0 means "the file as a whole".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    origin: Arc<Origin>,
    line: u32,
}

impl Span {
    /// A span in a top-level file (not reached through an include).
    pub fn new(path: impl Into<PathBuf>, line: u32) -> Self {
        Self::included(path, line, Vec::new())
    }

    /// A span in a file reached through the given include lines (outermost first).
    pub fn included(path: impl Into<PathBuf>, line: u32, included_from: Vec<Span>) -> Self {
        let origin = Origin {
            path: path.into(),
            included_from,
        };
        Span {
            origin: Arc::new(origin),
            line,
        }
    }

    /// The same file, another line.
    pub fn with_line(&self, line: u32) -> Self {
        Span {
            origin: Arc::clone(&self.origin),
            line,
        }
    }

    pub fn path(&self) -> &Path {
        &self.origin.path
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    /// The `[INCLUDES]` lines that led to this file, outermost first; empty for a top-level file.
    pub fn include_chain(&self) -> &[Span] {
        &self.origin.included_from
    }

    /// The chain of includes as text, e.g. ` (included from a.conf:3 → b.conf:5)`; empty if none.
    pub fn chain_suffix(&self) -> String {
        let chain = self.include_chain();
        if chain.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = chain.iter().map(|span| span.to_string()).collect();
        format!(" (included from {})", parts.join(" → "))
    }
}

/// `path:line`, or just `path` for line 0.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path().display())
        } else {
            write!(f, "{}:{}", self.path().display(), self.line)
        }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A raw (uninterpolated) option value as written, possibly several lines joined with `\n`,
/// with the file line of each of its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    /// The line of the option name (`key = ...`).
    pub span: Span,
    line_numbers: Vec<u32>,
}

impl Value {
    /// A value whose lines are all attributed to `span` (e.g. an option given on a command line).
    pub fn new(text: impl Into<String>, span: Span) -> Self {
        Value {
            text: text.into(),
            span,
            line_numbers: Vec::new(),
        }
    }

    pub(crate) fn with_lines(text: String, span: Span, line_numbers: Vec<u32>) -> Self {
        Value {
            text,
            span,
            line_numbers,
        }
    }

    /// The span of the `index`-th line of the value (split on `\n`), falling back to the
    /// option's own line.
    pub fn line_span(&self, index: usize) -> Span {
        match self.line_numbers.get(index) {
            Some(&line) => self.span.with_line(line),
            None => self.span.clone(),
        }
    }
}
