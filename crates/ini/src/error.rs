//! Errors of the INI layer. Each carries the span where it happened (with its include chain).

use std::fmt;
use std::path::PathBuf;

use crate::span::Span;

/// What went wrong, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniErrorKind {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("option line before any [section] header: {0:?}")]
    MissingSectionHeader(String),
    #[error("cannot parse line (expected `[section]`, `name = value` or a comment): {0:?}")]
    BadLine(String),
    #[error("option with an empty name: {0:?}")]
    EmptyOptionName(String),
    #[error("section [{0}] appears twice in this file")]
    DuplicateSection(String),
    #[error("option `{option}` appears twice in section [{section}] of this file")]
    DuplicateOption { section: String, option: String },
    #[error("included file {} does not exist", .0.display())]
    MissingInclude(PathBuf),
    #[error("include cycle: {}", chain_text(.0))]
    IncludeCycle(Vec<PathBuf>),
    #[error("no section [{0}]")]
    NoSection(String),
    #[error("no option `{option}` in section [{section}]")]
    NoOption { section: String, option: String },
    #[error("[{section}] {option}: `%({reference})s` refers to an undefined option `{reference}`")]
    UndefinedReference {
        section: String,
        option: String,
        reference: String,
    },
    #[error("[{section}] {option}: bad interpolation: {detail}")]
    BadInterpolation {
        section: String,
        option: String,
        detail: String,
    },
    #[error(
        "[{section}] {option}: interpolation nested deeper than {limit} levels (a reference loop?)"
    )]
    InterpolationDepth {
        section: String,
        option: String,
        limit: u32,
    },
}

fn chain_text(chain: &[PathBuf]) -> String {
    let parts: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
    parts.join(" → ")
}

/// An error at a place in a configuration file. Displays as
/// `path:line: message (included from a.conf:3 → b.conf:5)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub span: Span,
    pub kind: IniErrorKind,
}

impl IniError {
    pub fn new(span: Span, kind: IniErrorKind) -> Self {
        IniError { span, kind }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}{}",
            self.span,
            self.kind,
            self.span.chain_suffix()
        )
    }
}

impl std::error::Error for IniError {}
