//! `fail2ban.conf` (with `fail2ban.d/*.conf`, `fail2ban.local`, …) → [`ServerSpec`], the
//! daemon's own settings, as fail2ban's `Fail2banReader` reads them from `[Definition]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use ferroban_ini::{Ini, Options, Span, Spanned};

use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use crate::filter::parse_u32;
use crate::jail::{TimeSpec, parse_time};

const DEFINITION: &str = "Definition";

/// The daemon's settings. Options the files do not set have fail2ban's defaults, with a
/// span in the pseudo-file `<built-in>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub socket: Spanned<String>,
    pub pidfile: Spanned<String>,
    pub loglevel: Spanned<String>,
    pub logtarget: Spanned<String>,
    pub syslogsocket: Spanned<String>,
    pub allowipv6: Spanned<String>,
    pub dbfile: Spanned<String>,
    pub dbmaxmatches: Option<Spanned<u32>>,
    pub dbpurgeage: Option<Spanned<TimeSpec>>,
    /// `metrics`: where the Prometheus endpoint listens; `None` (the default) serves none.
    pub metrics: Option<Spanned<SocketAddr>>,
    /// `[Cluster]`: fleet mode, bans shared through PostgreSQL; `None` without the section.
    pub cluster: Option<ClusterSpec>,
}

/// The `[Cluster]` section as written; the `cluster` crate resolves it (reads the passfile,
/// checks the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `url`: a libpq URL (`postgresql://user@host:port/db?sslmode=...`) or key=value string.
    pub url: Spanned<String>,
    /// `passfile`: a libpq password file (mode 0600, owned by the server's user).
    pub passfile: Option<Spanned<String>>,
    /// `node`: this node's name; the host name when not set.
    pub node: Option<Spanned<String>>,
}

const CLUSTER: &str = "Cluster";

/// Reads the daemon's settings from `conf_dir/fail2ban.*`, with every error met.
pub fn load_server(conf_dir: &Path) -> (ServerSpec, ConfigErrors) {
    let (ini, ini_errors) = Ini::read_config(conf_dir, "fail2ban");
    let mut errors: Vec<ConfigError> = ini_errors.into_iter().map(ConfigError::from).collect();
    let mut text = |option: &str, default: &str| {
        read(&ini, option, &mut errors).unwrap_or_else(|| builtin(default))
    };
    let socket = text("socket", "/var/run/fail2ban/fail2ban.sock");
    let pidfile = text("pidfile", "/var/run/fail2ban/fail2ban.pid");
    let loglevel = text("loglevel", "INFO");
    let logtarget = text("logtarget", "STDERR");
    let syslogsocket = text("syslogsocket", "auto");
    let allowipv6 = text("allowipv6", "auto");
    let dbfile = text("dbfile", "/var/lib/fail2ban/fail2ban.sqlite3");
    let dbmaxmatches = read(&ini, "dbmaxmatches", &mut errors)
        .and_then(|v| parse_u32("dbmaxmatches", &v, &mut errors));
    let purge = read(&ini, "dbpurgeage", &mut errors).unwrap_or_else(|| builtin("1d"));
    let dbpurgeage = parse_time("dbpurgeage", &purge, &mut errors);
    let metrics = read(&ini, "metrics", &mut errors).and_then(|v| parse_metrics(&v, &mut errors));
    let cluster = read_cluster(&ini, &mut errors);
    let spec = ServerSpec {
        socket,
        pidfile,
        loglevel,
        logtarget,
        syslogsocket,
        allowipv6,
        dbfile,
        dbmaxmatches,
        dbpurgeage,
        metrics,
        cluster,
    };
    (spec, ConfigErrors(errors))
}

/// `[Cluster]`: absent, nothing changes; present, `url` is required.
fn read_cluster(ini: &Ini, errors: &mut Vec<ConfigError>) -> Option<ClusterSpec> {
    if !ini.has_section(CLUSTER) {
        return None;
    }
    let mut get = |option: &str| match ini.get(CLUSTER, option, &Options::new())? {
        Ok(value) if value.value.trim().is_empty() => None,
        Ok(value) => Some(Spanned::new(value.value.trim().to_string(), value.span)),
        Err(error) => {
            errors.push(error.into());
            None
        }
    };
    let (url, passfile, node) = (get("url"), get("passfile"), get("node"));
    let Some(url) = url else {
        let kind = ConfigErrorKind::BadValue {
            option: "[Cluster] url".to_string(),
            value: String::new(),
            detail: "fleet mode needs the database's url".to_string(),
        };
        errors.push(ConfigError::nowhere(kind));
        return None;
    };
    Some(ClusterSpec {
        url,
        passfile,
        node,
    })
}

/// `metrics = [HOST:]PORT`: an IP address (IPv6 in brackets) and a port; without a host,
/// or with `localhost`, the loopback address, so that turning metrics on exposes nothing
/// beyond the machine unless an address says so. Empty, `off` or `none`: no endpoint.
fn parse_metrics(
    value: &Spanned<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Spanned<SocketAddr>> {
    match metrics_address(&value.value) {
        Ok(address) => address.map(|address| Spanned::new(address, value.span.clone())),
        Err(detail) => {
            let kind = ConfigErrorKind::BadValue {
                option: "metrics".to_string(),
                value: value.value.clone(),
                detail: detail.to_string(),
            };
            errors.push(ConfigError::at(&value.span, kind));
            None
        }
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn metrics_address(text: &str) -> Result<Option<SocketAddr>, &'static str> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (host, port) = match text.rsplit_once(':') {
        // `::1` alone: an IPv6 address without a port.
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => {
            return Err("an IPv6 address goes in brackets, with a port: [::1]:9191");
        }
        Some((host, port)) => (host, port),
        None => ("", text),
    };
    let port = match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err("expected [HOST:]PORT with a port from 1 to 65535"),
        Ok(port) => port,
    };
    let ip = match host {
        "" => LOOPBACK,
        _ if host.eq_ignore_ascii_case("localhost") => LOOPBACK,
        _ => host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host)
            .parse::<IpAddr>()
            .map_err(|_| "the host must be an IP address (or localhost)")?,
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

fn builtin(value: &str) -> Spanned<String> {
    Spanned::new(value.to_string(), Span::new("<built-in>", 0))
}

fn read(ini: &Ini, option: &str, errors: &mut Vec<ConfigError>) -> Option<Spanned<String>> {
    match ini.get(DEFINITION, option, &Options::new())? {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error.into());
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testutil::{stock_config, write};

    #[test]
    fn defaults_and_local_override() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "fail2ban.conf",
            "[Definition]\nloglevel = INFO\ndbpurgeage = 1d\n",
        );
        write(
            dir.path(),
            "fail2ban.local",
            "[Definition]\nloglevel = DEBUG\ndbpurgeage = 2h\n",
        );
        let (spec, errors) = load_server(dir.path());
        assert!(errors.0.is_empty(), "{errors}");
        assert_eq!(spec.loglevel.value, "DEBUG");
        assert!(spec.loglevel.span.path().ends_with("fail2ban.local"));
        assert_eq!(spec.dbpurgeage.map(|t| t.value.seconds), Some(7200));
        assert_eq!(spec.socket.value, "/var/run/fail2ban/fail2ban.sock");
        assert_eq!(spec.socket.span.path(), Path::new("<built-in>"));
    }

    #[test]
    fn bad_purge_age_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "fail2ban.conf",
            "[Definition]\ndbpurgeage = soon\n",
        );
        let (spec, errors) = load_server(dir.path());
        assert_eq!(errors.0.len(), 1);
        assert!(
            errors
                .to_string()
                .contains("fail2ban.conf:2: dbpurgeage = \"soon\""),
            "{errors}"
        );
        assert!(spec.dbpurgeage.is_none());
    }

    #[test]
    fn metrics_addresses() {
        let parsed = |text: &str| metrics_address(text).map(|a| a.map(|a| a.to_string()));
        assert_eq!(parsed("9191"), Ok(Some("127.0.0.1:9191".into())));
        assert_eq!(parsed(" :9191 "), Ok(Some("127.0.0.1:9191".into())));
        assert_eq!(parsed("localhost:9191"), Ok(Some("127.0.0.1:9191".into())));
        assert_eq!(parsed("0.0.0.0:9191"), Ok(Some("0.0.0.0:9191".into())));
        assert_eq!(parsed("[::1]:9191"), Ok(Some("[::1]:9191".into())));
        assert_eq!(parsed("[::]:80"), Ok(Some("[::]:80".into())));
        for off in ["", "off", "None"] {
            assert_eq!(parsed(off), Ok(None), "{off:?}");
        }
        for bad in [
            "::1",
            "::1:9191",
            "127.0.0.1",
            "9191x",
            "0",
            "70000",
            "example.org:9191",
            "[::1:9191",
            "127.0.0.1:",
        ] {
            assert!(parsed(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn bad_metrics_value_is_reported_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "fail2ban.local",
            "[Definition]\nloglevel = INFO\nmetrics = everywhere:9191\n",
        );
        let (spec, errors) = load_server(dir.path());
        assert_eq!(errors.0.len(), 1, "{errors}");
        let text = errors.to_string();
        assert!(
            text.contains("fail2ban.local:3: metrics = \"everywhere:9191\": the host must be"),
            "{text}"
        );
        assert_eq!(spec.metrics, None);
        write(
            dir.path(),
            "fail2ban.local",
            "[Definition]\nmetrics = 9191\n",
        );
        let (spec, errors) = load_server(dir.path());
        assert!(errors.0.is_empty(), "{errors}");
        let metrics = spec.metrics.unwrap();
        assert_eq!(metrics.value.to_string(), "127.0.0.1:9191");
        assert!(metrics.span.path().ends_with("fail2ban.local"));
    }

    #[test]
    fn stock_settings() {
        let Some(stock) = stock_config() else { return };
        let (spec, errors) = load_server(&stock);
        assert!(errors.0.is_empty(), "{errors}");
        assert_eq!(spec.socket.value, "/var/run/fail2ban/fail2ban.sock");
        assert_eq!(spec.dbfile.value, "/var/lib/fail2ban/fail2ban.sqlite3");
        assert_eq!(spec.dbpurgeage.map(|t| t.value.seconds), Some(86_400));
        assert_eq!(spec.logtarget.value, "/var/log/fail2ban.log");
        assert_eq!(spec.metrics, None, "metrics are off by default");
    }
}
