//! `ferroban server` / `fail2ban-server`: runs the daemon (see `ferroban-server`).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser};
use ferroban_server::ServerOptions;

/// fail2ban-server's command line.
#[derive(Debug, Args)]
#[command(about = "Run the ferroban daemon on a fail2ban configuration directory")]
pub struct ServerArgs {
    #[arg(
        short = 'c',
        long = "conf",
        value_name = "DIR",
        help = crate::conf_dir::HELP,
        default_value_os_t = crate::conf_dir::or_default(None),
        hide_default_value = true
    )]
    pub config: PathBuf,
    /// Control socket (default: `socket` from fail2ban.conf).
    #[arg(short = 's', long = "socket")]
    pub socket: Option<PathBuf>,
    /// Pidfile (default: `pidfile` from fail2ban.conf).
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Stay in the foreground.
    #[arg(short = 'f', conflicts_with = "background")]
    pub foreground: bool,
    /// Detach into the background (the default).
    #[arg(short = 'b')]
    pub background: bool,
    /// Remove a stale socket left by a server that is gone.
    #[arg(short = 'x')]
    pub remove_stale_socket: bool,
    /// Log target: STDOUT, STDERR, SYSLOG, SYSTEMD-JOURNAL or a file.
    #[arg(long = "logtarget")]
    pub logtarget: Option<String>,
    /// Log level: CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG...
    #[arg(long = "loglevel")]
    pub loglevel: Option<String>,
    /// Convert a time abbreviation (`1h30m`) to seconds, print it and exit.
    #[arg(long = "str2sec", value_name = "STRING", allow_hyphen_values = true)]
    pub str2sec: Option<String>,
    /// Dump the configuration (the commands a client would send) and exit.
    #[arg(short = 'd')]
    pub dump: bool,
    /// Print the version (machine-readable short format) and exit.
    #[arg(short = 'V')]
    pub short_version: bool,
    /// Print the version and exit.
    #[arg(long = "version")]
    pub version: bool,
    /// Accepted for compatibility with `fail2ban-server -xf start`.
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Parser)]
#[command(name = "fail2ban-server")]
struct StandaloneServer {
    #[command(flatten)]
    args: ServerArgs,
}

pub fn run_from_args(args: Vec<OsString>) -> ExitCode {
    match crate::parse_or_exit::<StandaloneServer>(args) {
        Ok(parsed) => run(parsed.args),
        Err(code) => code,
    }
}

pub fn run(args: ServerArgs) -> ExitCode {
    if let Some(code) = run_and_exit(&args) {
        return code;
    }
    if let Some(line) = log_notice(&args, std::io::stderr().is_terminal()) {
        eprintln!("{line}");
    }
    let options = ServerOptions {
        conf_dir: args.config,
        socket: args.socket,
        pidfile: args.pidfile,
        foreground: args.foreground,
        remove_stale_socket: args.remove_stale_socket,
        logtarget: args.logtarget,
        loglevel: args.loglevel,
    };
    match ferroban_server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            crate::print_error(&anyhow::Error::new(error));
            ExitCode::from(255)
        }
    }
}

/// fail2ban-server's options that answer and exit without starting a server.
fn run_and_exit(args: &ServerArgs) -> Option<ExitCode> {
    if args.short_version || args.version {
        println!("{}", crate::version_text(args.short_version));
        return Some(ExitCode::SUCCESS);
    }
    if let Some(text) = &args.str2sec {
        return Some(match str2sec(text) {
            Ok(seconds) => {
                println!("{seconds}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("ERROR: {error}");
                ExitCode::from(255)
            }
        });
    }
    if args.dump {
        return Some(crate::client::dump(&args.config));
    }
    None
}

/// `--str2sec`: fail2ban's `MyTime.str2seconds`, with Python's `NameError` for a word.
fn str2sec(text: &str) -> Result<i64, String> {
    ferroban_config::str_to_seconds(text).map_err(|error| {
        let word = text.trim();
        let is_name = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match is_name {
            true => format!("name '{word}' is not defined"),
            false => error,
        }
    })
}

/// The line a server started from a terminal prints when its log goes to a file: the
/// terminal then stays silent, and a first-time user would not know where to look.
fn log_notice(args: &ServerArgs, stderr_is_terminal: bool) -> Option<String> {
    if !stderr_is_terminal {
        return None;
    }
    let target = match &args.logtarget {
        Some(target) => target.clone(),
        None => ferroban_config::load_server(&args.config).0.logtarget.value,
    };
    log_file(&target).map(|path| format!("ferroban: logging to {}", path.display()))
}

/// The file a `logtarget` names, or `None` for the streams and the system logs. The names
/// are the ones the server's logger knows (`ferroban_server::log`), with fail2ban's
/// `NAME[options]` suffix.
fn log_file(target: &str) -> Option<&Path> {
    const STREAMS: [&str; 5] = ["STDOUT", "SYSOUT", "STDERR", "SYSLOG", "SYSTEMD-JOURNAL"];
    let target = target.trim();
    let name = target
        .split_once('[')
        .map_or(target, |(name, _)| name)
        .trim();
    if target.is_empty() || STREAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
        return None;
    }
    Some(Path::new(target))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &str) -> ServerArgs {
        let words = std::iter::once("fail2ban-server").chain(line.split_whitespace());
        StandaloneServer::try_parse_from(words).unwrap().args
    }

    #[test]
    fn str2sec_reads_as_fail2ban() {
        assert_eq!(str2sec("1h30m"), Ok(5400));
        assert_eq!(str2sec("1d 2h"), Ok(93_600));
        assert_eq!(str2sec("abc"), Err("name 'abc' is not defined".to_string()));
        assert!(args("-V").short_version);
        assert_eq!(args("--str2sec -1").str2sec.as_deref(), Some("-1"));
    }

    #[test]
    fn a_file_target_is_named_on_a_terminal() {
        let args = args("-f --logtarget /var/log/ferroban.log");
        assert_eq!(
            log_notice(&args, true).as_deref(),
            Some("ferroban: logging to /var/log/ferroban.log")
        );
        assert_eq!(log_notice(&args, false), None);
    }

    #[test]
    fn streams_and_system_logs_need_no_notice() {
        for target in [
            "STDERR",
            "stdout",
            "SYSLOG[facility=AUTH]",
            "SYSTEMD-JOURNAL",
            "sysout",
        ] {
            assert_eq!(
                log_notice(&args(&format!("-f --logtarget {target}")), true),
                None
            );
        }
    }

    /// Without `--logtarget`, the configuration's `logtarget` decides.
    #[test]
    fn the_configured_target_is_read() {
        let dir = std::env::temp_dir().join(format!("ferroban-notice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("server.log");
        let conf = format!("[Definition]\nlogtarget = {}\n", log.display());
        std::fs::write(dir.join("fail2ban.conf"), conf).unwrap();
        let notice = log_notice(&args(&format!("-f -c {}", dir.display())), true);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            notice,
            Some(format!("ferroban: logging to {}", log.display()))
        );
    }
}
