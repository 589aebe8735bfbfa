//! Configuration errors: each with the place it was found (`path:line`, include chain).

use std::fmt;
use std::path::PathBuf;

use ferroban_ini::{IniError, IniErrorKind, Span};

/// What is wrong, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    #[error(transparent)]
    Ini(#[from] IniErrorKind),
    #[error("unknown filter `{name}`: no {} (nor .local)", .searched.display())]
    UnknownFilter { name: String, searched: PathBuf },
    #[error(
        "unknown filter `{name}`: it exists as {}, but that is the actions directory; a filter belongs in filter.d/ (move it to {})",
        .found.display(), .expected.display()
    )]
    MisplacedFilter {
        name: String,
        found: PathBuf,
        expected: PathBuf,
    },
    #[error("unknown action `{name}`: no {} (nor .local)", .searched.display())]
    UnknownAction { name: String, searched: PathBuf },
    #[error("invalid {what} definition {text:?}: {detail}")]
    BadDefinition {
        what: &'static str,
        text: String,
        detail: String,
    },
    #[error("{option} = {value:?}: {detail}")]
    BadValue {
        option: String,
        value: String,
        detail: String,
    },
    #[error("{0}: tags refer to each other and cannot be resolved")]
    TagRecursion(String),
    #[error("no jail configuration: {} does not exist", .0.display())]
    NoJailConfig(PathBuf),
    #[error("jail [{0}] was not found")]
    UnknownJail(String),
}

/// An error at a place (or, rarely, nowhere in particular). Displays as
/// `path:line: message (included from a.conf:3 → b.conf:5)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub span: Option<Span>,
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    pub fn at(span: &Span, kind: ConfigErrorKind) -> Self {
        ConfigError {
            span: Some(span.clone()),
            kind,
        }
    }

    pub fn nowhere(kind: ConfigErrorKind) -> Self {
        ConfigError { span: None, kind }
    }

    /// Whether the configuration as a whole could not be read: a file that does not parse
    /// (every line of it would be lost), an include cycle, no `jail.conf`. fail2ban refuses
    /// to start on these ("Failed during configuration"), and so does the server. A missing
    /// included file is not one: fail2ban's reader skips files that do not exist.
    pub fn prevents_start(&self) -> bool {
        match &self.kind {
            ConfigErrorKind::Ini(kind) => matches!(
                kind,
                IniErrorKind::Io(_)
                    | IniErrorKind::MissingSectionHeader(_)
                    | IniErrorKind::BadLine(_)
                    | IniErrorKind::EmptyOptionName(_)
                    | IniErrorKind::DuplicateSection(_)
                    | IniErrorKind::DuplicateOption { .. }
                    | IniErrorKind::IncludeCycle(_)
            ),
            ConfigErrorKind::NoJailConfig(_) => true,
            _ => false,
        }
    }
}

impl From<IniError> for ConfigError {
    fn from(error: IniError) -> Self {
        ConfigError {
            span: Some(error.span),
            kind: ConfigErrorKind::Ini(error.kind),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(f, "{span}: {}{}", self.kind, span.chain_suffix()),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one pass, one per line when displayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
