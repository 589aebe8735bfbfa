//! Tests of the errors of a whole directory, files and jails together. The one check that
//! start-up, reload, `config-test` and `-t` share is the server's `check` module: it adds
//! what compiling regexes and building actions finds.

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::Path;

    use crate::error::ConfigError;
    use crate::jail::load_jails;
    use crate::server::load_server;
    use crate::testutil::write;

    /// Every error the config crate reports for a directory (the server's check adds what
    /// compiling and building finds).
    fn config_test(conf_dir: &Path) -> Vec<ConfigError> {
        let (_, server_errors) = load_server(conf_dir);
        let jails = load_jails(conf_dir);
        server_errors
            .0
            .into_iter()
            .chain(jails.all_errors().0)
            .collect()
    }

    #[test]
    fn include_cycle_and_server_errors_are_reported_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "fail2ban.conf", "[Definition]\nloglevel = %(level)s\n");
        write(
            d,
            "jail.conf",
            "[INCLUDES]\nafter = paths.conf\n[DEFAULT]\nx = 1\n",
        );
        write(
            d,
            "paths.conf",
            "[INCLUDES]\nbefore = jail.conf\n[DEFAULT]\ny = 2\n",
        );
        let messages: Vec<String> = config_test(d).iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(
            messages[0].contains("fail2ban.conf:2: [Definition] loglevel: `%(level)s`"),
            "{}",
            messages[0]
        );
        let cycle = &messages[1];
        assert!(cycle.contains("paths.conf:2: include cycle: "), "{cycle}");
        assert!(
            cycle.contains("jail.conf → ") && cycle.contains("paths.conf → "),
            "{cycle}"
        );
        assert!(
            cycle.contains("(included from ") && cycle.contains("jail.conf:2)"),
            "{cycle}"
        );
    }

    #[test]
    fn good_configuration_has_no_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "fail2ban.conf", "[Definition]\nloglevel = INFO\n");
        write(d, "filter.d/f.conf", "[Definition]\nfailregex = ^<HOST>$\n");
        write(d, "jail.conf", "[j]\nenabled = true\nfilter = f\n");
        assert_eq!(config_test(d), Vec::new());
    }
}
