//! `fail2ban.conf` (with `fail2ban.d/*.conf`, `fail2ban.local`, …) → [`ServerSpec`], the
//! daemon's own settings, as fail2ban's `Fail2banReader` reads them from `[Definition]`.

use std::path::Path;

use ferroban_ini::{Ini, Options, Span, Spanned};

use crate::error::{ConfigError, ConfigErrors};
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
}

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
    };
    (spec, ConfigErrors(errors))
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
    fn stock_settings() {
        let Some(stock) = stock_config() else { return };
        let (spec, errors) = load_server(&stock);
        assert!(errors.0.is_empty(), "{errors}");
        assert_eq!(spec.socket.value, "/var/run/fail2ban/fail2ban.sock");
        assert_eq!(spec.dbfile.value, "/var/lib/fail2ban/fail2ban.sqlite3");
        assert_eq!(spec.dbpurgeage.map(|t| t.value.seconds), Some(86_400));
        assert_eq!(spec.logtarget.value, "/var/log/fail2ban.log");
    }
}
