//! `ferroban server` / `fail2ban-server`: runs the daemon (see `ferroban-server`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser};
use ferroban_server::ServerOptions;

/// fail2ban-server's command line.
#[derive(Debug, Args)]
#[command(about = "Run the ferroban daemon on a fail2ban configuration directory")]
pub struct ServerArgs {
    /// Configuration directory.
    #[arg(short = 'c', long = "conf", default_value = "/etc/fail2ban")]
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
    /// Accepted for compatibility with `fail2ban-server -xf start`.
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Parser)]
#[command(name = "fail2ban-server", version)]
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
