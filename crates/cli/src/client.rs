//! `ferroban client` / `fail2ban-client`: sends one command to the daemon's control socket
//! and prints the answer as fail2ban-client does (or as JSON with `--json`).
//!
//! The options come first, then the command words (`ferroban client -s SOCK status sshd`),
//! as in fail2ban-client, so the command words are not parsed by clap. `-t`/`--test` and
//! `-d` work without a server; `start` starts one in the background.

mod args;
mod beautify;
mod blocklist;
mod cluster_status;
mod options;

use std::ffi::OsString;
use std::io::{BufReader, ErrorKind};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ferroban_protocol::{Command, Request, Response, read_message, write_message};

pub use beautify::beautify;
pub use options::{COMMANDS, command};

use args::{ClientArgs, Parsed, parse_args};
use options::usage;

/// `println!` for output that may go to a closed pipe (`status JAIL | head -1`): the reader
/// has what it wanted, so a broken pipe ends the client quietly, as other Unix tools end.
macro_rules! out {
    ($($arg:tt)*) => {
        write_out(format_args!($($arg)*))
    };
}

fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    if written.is_err_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
}

/// Runs the client with the arguments after the program (and `client`) name.
pub fn run_from_args(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse_args(&args) {
        Ok(Parsed::Run(args)) => run(args),
        Ok(Parsed::Help) => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Version { short }) => {
            out!("{}", crate::version_text(short));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ERROR  {message}");
            eprint!("{}", usage());
            ExitCode::from(255)
        }
    }
}

fn run(args: ClientArgs) -> ExitCode {
    let conf_dir = crate::conf_dir::or_default(args.config.clone());
    if args.test {
        return config_test(&conf_dir);
    }
    if args.dump {
        return dump(&conf_dir);
    }
    let (spec, _) = ferroban_config::load_server(&conf_dir);
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(&spec.socket.value));
    if args.words.first().map(String::as_str) == Some("start") {
        return start_server(&args, conf_dir, socket);
    }
    let words = match blocklist::expand(&args.words) {
        Ok((words, bad)) => {
            for line in bad {
                eprintln!(
                    "ERROR  line {}: not an address or network: {}",
                    line.line, line.text
                );
            }
            words
        }
        Err(message) => {
            eprintln!("ERROR  {message}");
            return ExitCode::from(255);
        }
    };
    let command = match Command::parse(&words) {
        Ok(command) => command,
        Err(ferroban_protocol::ParseError::Empty) => {
            eprint!("{}", usage());
            return ExitCode::from(255);
        }
        Err(error) => {
            eprintln!("ERROR  {error}");
            return ExitCode::from(255);
        }
    };
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(60.0).max(0.1));
    match send(&socket, &command, timeout) {
        Ok(Response::Ok(reply)) => {
            if args.json {
                out!("{}", serde_json::to_string(&reply).unwrap_or_default());
            } else {
                out!("{}", beautify(&command, &reply));
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error(message)) => {
            if args.json {
                out!("{}", serde_json::json!({ "error": message }));
            } else {
                eprintln!("ERROR  {message}");
            }
            ExitCode::from(255)
        }
        Err(message) => {
            eprintln!("ERROR  {message}");
            ExitCode::from(255)
        }
    }
}

/// One request/response exchange; errors are worded for the user.
fn send(socket: &Path, command: &Command, timeout: Duration) -> Result<Response, String> {
    let stream = UnixStream::connect(socket).map_err(|error| match error.kind() {
        ErrorKind::PermissionDenied => format!(
            "Permission denied to socket: {}, (you must be root)",
            socket.display()
        ),
        _ => format!(
            "Failed to access socket path: {}. Is ferroban running?",
            socket.display()
        ),
    })?;
    let _ = stream.set_read_timeout(Some(timeout));
    let mut writer = &stream;
    let request = Request {
        command: command.clone(),
    };
    write_message(&mut writer, &request).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(&stream);
    read_message(&mut reader).map_err(|error| match error {
        ferroban_protocol::WireError::Io(io)
            if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            format!(
                "the server is still working on it: no answer within {} s (the command goes on \
                 in the server; `--timeout SECONDS` waits longer)",
                timeout.as_secs_f64()
            )
        }
        error => format!("no valid answer from the server: {error}"),
    })
}

fn config_test(conf_dir: &Path) -> ExitCode {
    let errors = crate::check::check(conf_dir);
    if errors.is_empty() {
        out!("OK: configuration test is successful");
        return ExitCode::SUCCESS;
    }
    for error in &errors {
        eprintln!("ERROR  {error}");
    }
    eprintln!("ERROR: test configuration failed");
    ExitCode::from(255)
}

/// `-d`: the jails and their main settings, in the spirit of fail2ban's command stream.
pub(crate) fn dump(conf_dir: &Path) -> ExitCode {
    let (jails, errors) = ferroban_config::load_jails(conf_dir).into_parts();
    for error in &errors.0 {
        eprintln!("ERROR  {error}");
    }
    for jail in &jails {
        out!("['add', '{}', '{}']", jail.name, jail.backend.value);
        let time = |t: &Option<ferroban_ini::Spanned<ferroban_config::TimeSpec>>| {
            t.as_ref().map(|v| v.value.seconds)
        };
        if let Some(v) = &jail.maxretry {
            out!("['set', '{}', 'maxretry', {}]", jail.name, v.value);
        }
        if let Some(v) = time(&jail.findtime) {
            out!("['set', '{}', 'findtime', {v}]", jail.name);
        }
        if let Some(v) = time(&jail.bantime) {
            out!("['set', '{}', 'bantime', {v}]", jail.name);
        }
        for path in &jail.logpath {
            out!("['set', '{}', 'addlogpath', '{}']", jail.name, path.value);
        }
        if let Some(filter) = &jail.filter {
            for regex in &filter.failregex {
                out!(
                    "['set', '{}', 'addfailregex', {:?}]",
                    jail.name,
                    regex.value
                );
            }
        }
        for action in &jail.actions {
            let name = match action {
                ferroban_config::JailAction::Command(spec) => &spec.name,
                ferroban_config::JailAction::Python { name, .. } => name,
            };
            out!("['set', '{}', 'addaction', '{name}']", jail.name);
        }
        out!("['start', '{}']", jail.name);
    }
    if errors.0.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(255)
    }
}

/// `start`: the server in the background, as `fail2ban-client start` does.
fn start_server(args: &ClientArgs, conf_dir: PathBuf, socket: PathBuf) -> ExitCode {
    let options = ferroban_server::ServerOptions {
        conf_dir,
        socket: Some(socket),
        pidfile: args.pidfile.clone(),
        foreground: false,
        remove_stale_socket: true,
        logtarget: None,
        loglevel: None,
    };
    match ferroban_server::run(options) {
        Ok(()) => {
            out!("Server ready");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ERROR  {error}");
            ExitCode::from(255)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn missing_socket_is_worded_for_users() {
        let error = send(
            Path::new("/nonexistent/ferroban.sock"),
            &Command::Ping,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "Failed to access socket path: /nonexistent/ferroban.sock. Is ferroban running?"
        );
    }
}
