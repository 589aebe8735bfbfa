//! `[Cluster]` resolved: the connection configuration with its password, and the node's
//! name. Every refusal names the file and line of the option at fault.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ferroban_config::ClusterSpec;
use tokio_postgres::config::{Host, SslMode};

use crate::passfile::{self, PassfileError, Target};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Fleet mode's resolved settings.
#[derive(Clone)]
pub struct ClusterSettings {
    pub config: tokio_postgres::Config,
    /// This node's name in the fleet.
    pub node: String,
    /// The database as logs name it: `user@host:port/database`, no password.
    pub display: String,
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("node", &self.node)
            .field("database", &self.display)
            .finish()
    }
}

/// Why `[Cluster]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{at}: [Cluster] url: {detail}")]
    Url { at: String, detail: String },
    #[error(
        "{at}: [Cluster] url carries a password: put it in a passfile (mode 0600) or \
         PGPASSFILE, where no process listing or configuration dump shows it"
    )]
    PasswordInUrl { at: String },
    #[error(
        "{at}: [Cluster] url asks for sslmode={mode}: this build connects without TLS; \
         use sslmode=disable or prefer over a trusted network or a tunnel"
    )]
    Tls { at: String, mode: &'static str },
    #[error("{at}: [Cluster] node {name:?}: use 1 to 64 letters, digits, '.', '-' or '_'")]
    Node { at: String, name: String },
    #[error("no [Cluster] node set and the host name cannot be read")]
    NoHostName,
    #[error(transparent)]
    Passfile(#[from] PassfileError),
}

/// Resolves `spec`; `pgpassfile` is the `PGPASSFILE` environment variable.
pub fn resolve(
    spec: &ClusterSpec,
    pgpassfile: Option<PathBuf>,
) -> Result<ClusterSettings, SettingsError> {
    let at = spec.url.span.to_string();
    let mut config =
        tokio_postgres::Config::from_str(&spec.url.value).map_err(|error| SettingsError::Url {
            at: at.clone(),
            detail: error.to_string(),
        })?;
    if config.get_password().is_some() {
        return Err(SettingsError::PasswordInUrl { at });
    }
    match config.get_ssl_mode() {
        SslMode::Disable | SslMode::Prefer => {}
        _ => {
            return Err(SettingsError::Tls {
                at,
                mode: "require",
            });
        }
    }
    let node = node_name(spec)?;
    if config.get_hosts().is_empty() {
        config.host("localhost");
    }
    if config.get_application_name().is_none() {
        config.application_name(format!("ferroban {node}"));
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives_idle(Duration::from_secs(30));
    let passfile = spec
        .passfile
        .as_ref()
        .map(|file| PathBuf::from(&file.value))
        .or(pgpassfile);
    let target = target_of(&config);
    if let Some(path) = passfile
        && let Some(password) = passfile::lookup(&path, target.as_target())?
    {
        config.password(password);
    }
    Ok(ClusterSettings {
        display: target.display(),
        config,
        node,
    })
}

/// The first host, port, database and user, as libpq matches them in a password file.
struct OwnedTarget {
    host: String,
    port: u16,
    database: String,
    user: String,
}

impl OwnedTarget {
    fn as_target(&self) -> Target<'_> {
        Target {
            host: &self.host,
            port: self.port,
            database: &self.database,
            user: &self.user,
        }
    }

    fn display(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

fn target_of(config: &tokio_postgres::Config) -> OwnedTarget {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        // libpq matches a socket directory as "localhost".
        _ => "localhost".to_string(),
    };
    let user = config
        .get_user()
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_string());
    OwnedTarget {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        database: config.get_dbname().unwrap_or(&user).to_string(),
        user,
    }
}

fn node_name(spec: &ClusterSpec) -> Result<String, SettingsError> {
    let (name, at) = match &spec.node {
        Some(node) => (node.value.clone(), node.span.to_string()),
        None => (host_name().ok_or(SettingsError::NoHostName)?, String::new()),
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(name)
    } else {
        Err(SettingsError::Node { at, name })
    }
}

fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            let name = std::fs::read_to_string(path).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ferroban_config::ClusterSpec;
    use ferroban_ini::{Span, Spanned};

    use super::*;

    fn spec(url: &str) -> ClusterSpec {
        ClusterSpec {
            url: Spanned::new(url.into(), Span::new("/etc/fail2ban/fail2ban.local", 3)),
            passfile: None,
            node: Some(Spanned::new(
                "mx1".into(),
                Span::new("/etc/fail2ban/fail2ban.local", 4),
            )),
        }
    }

    #[test]
    fn refusals_name_the_line() {
        let error = resolve(&spec("postgresql://u:secret@db/fleet"), None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("/etc/fail2ban/fail2ban.local:3: [Cluster] url carries a password"),
            "{error}"
        );
        let error = resolve(&spec("postgresql://u@db/fleet?sslmode=require"), None).unwrap_err();
        assert!(error.to_string().contains("sslmode=require"), "{error}");
        let mut bad_node = spec("host=db user=u");
        bad_node.node = Some(Spanned::new("mx 1;".into(), Span::new("f.local", 9)));
        let error = resolve(&bad_node, None).unwrap_err();
        assert!(error.to_string().starts_with("f.local:9:"), "{error}");
    }

    #[test]
    fn key_value_and_url_forms() {
        let settings =
            resolve(&spec("host=127.0.0.1 port=5433 user=f dbname=fleet"), None).unwrap();
        assert_eq!(settings.display, "f@127.0.0.1:5433/fleet");
        let settings = resolve(&spec("postgresql://f@127.0.0.1:5433/fleet"), None).unwrap();
        assert_eq!(settings.display, "f@127.0.0.1:5433/fleet");
        assert_eq!(settings.node, "mx1");
    }
}
