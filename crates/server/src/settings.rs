//! The server's own settings: `fail2ban.conf`'s `[Definition]` with the command line's
//! overrides, resolved once at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferroban_config::ServerSpec;

use crate::ServerOptions;

/// The server's resolved settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub dbfile: Option<String>,
    pub dbpurgeage: i64,
    /// `dbmaxmatches`: matched lines the database keeps per ban.
    pub dbmaxmatches: usize,
    /// How often the database is purged while the server runs.
    pub db_purge_interval: Duration,
    /// Where the Prometheus endpoint listens (`metrics =`); read at start only.
    pub metrics: Option<SocketAddr>,
    /// `[Cluster]`: fleet mode; read at start only.
    pub cluster: Option<ferroban_config::ClusterSpec>,
}

/// fail2ban's observer purges the database every hour.
const DB_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// The purge interval: fail2ban's hour, or `FERROBAN_DB_PURGE_INTERVAL` seconds (for
/// tests, which cannot wait an hour).
fn db_purge_interval() -> Duration {
    std::env::var("FERROBAN_DB_PURGE_INTERVAL")
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .unwrap_or(DB_PURGE_INTERVAL)
}

impl Settings {
    pub fn new(options: &ServerOptions, spec: &ServerSpec) -> Settings {
        let dbfile = spec.dbfile.value.trim().to_string();
        Settings {
            socket: options
                .socket
                .clone()
                .unwrap_or_else(|| PathBuf::from(&spec.socket.value)),
            pidfile: options
                .pidfile
                .clone()
                .unwrap_or_else(|| PathBuf::from(&spec.pidfile.value)),
            dbfile: (!dbfile.eq_ignore_ascii_case("none") && !dbfile.is_empty()).then_some(dbfile),
            dbpurgeage: spec.dbpurgeage.as_ref().map_or(86_400, |v| v.value.seconds),
            dbmaxmatches: spec.dbmaxmatches.as_ref().map_or(10, |v| v.value as usize),
            db_purge_interval: db_purge_interval(),
            metrics: spec.metrics.as_ref().map(|address| address.value),
            cluster: spec.cluster.clone(),
        }
    }

    /// A file beside the database that exists while a server runs. Unlike the pidfile
    /// (often on a tmpfs that systemd empties when the service fails), it survives the
    /// server's death, so a restart knows the firewall still holds the old rules. After a
    /// reboot it causes one needless clean-up, which is harmless.
    pub fn running_marker(&self) -> Option<PathBuf> {
        let dbfile = self.dbfile.as_ref().filter(|path| *path != ":memory:")?;
        Some(PathBuf::from(format!("{dbfile}.running")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_marker_sits_beside_a_database_file() {
        let mut settings = Settings {
            socket: PathBuf::from("/run/x.sock"),
            pidfile: PathBuf::from("/run/x.pid"),
            dbfile: Some("/var/lib/ferroban/db.sqlite3".into()),
            dbpurgeage: 86_400,
            dbmaxmatches: 10,
            db_purge_interval: DB_PURGE_INTERVAL,
            metrics: None,
            cluster: None,
        };
        assert_eq!(
            settings.running_marker(),
            Some(PathBuf::from("/var/lib/ferroban/db.sqlite3.running"))
        );
        settings.dbfile = Some(":memory:".into());
        assert_eq!(settings.running_marker(), None);
        settings.dbfile = None;
        assert_eq!(settings.running_marker(), None);
    }
}
