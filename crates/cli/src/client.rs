//! `ferroban client` / `fail2ban-client`: sends one command to the daemon's control socket
//! and prints the answer as fail2ban-client does (or as JSON with `--json`).
//!
//! The options come first, then the command words (`ferroban client -s SOCK status sshd`),
//! as in fail2ban-client, so the command words are not parsed by clap. `-t`/`--test` and
//! `-d` work without a server; `start` starts one in the background.

mod beautify;

use std::ffi::OsString;
use std::io::{BufReader, ErrorKind};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ferroban_protocol::{Command, Request, Response, read_message, write_message};

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
    if written.is_err_and(|error| error.kind() == ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
}

pub use beautify::beautify;

const USAGE: &str = "Usage: ferroban client [OPTIONS] <COMMAND>

Options:
    -c <DIR>            configuration directory
    -s <FILE>           socket path
    -p <FILE>           pidfile path
    --json              print replies as JSON
    -t, --test          test configuration (can be also specified with start parameters)
    -d                  dump configuration. For debugging
    --timeout <SECONDS> how long to wait for the server (default 60)
    -q, -v              accepted for compatibility
    -h, --help          display this help message
    -V, --version       print the version

Commands:
    start                                    starts the server and the jails
    reload [--unban] [JAIL]                  reloads the configuration
    stop                                     stops all jails and terminate the server
    flushlogs                                reopens the log file (after logrotate)
    status [JAIL]                            gets the current status of the server or a jail
    ping                                     tests if the server is alive
    unban --all | IP ...                     unbans IPs in all jails
    banned [IP ...]                          which jails ban the IPs
    set JAIL banip IP ...                    bans IPs in JAIL
    set JAIL unbanip [--report-absent] IP .. unbans IPs in JAIL
    set JAIL addignoreip|delignoreip IP      changes the ignore list of JAIL
    get JAIL banip [--with-time]             the banned IPs of JAIL
    get JAIL bantime|findtime|maxretry|logpath|ignoreip|...
";

/// The client's options.
#[derive(Debug, Default)]
struct ClientArgs {
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    json: bool,
    test: bool,
    dump: bool,
    timeout: Option<f64>,
    words: Vec<String>,
}

enum Parsed {
    Run(ClientArgs),
    Exit(ExitCode),
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut parsed = ClientArgs::default();
    let mut at = 0;
    while at < args.len() {
        let arg = args[at].as_str();
        let mut value = || {
            at += 1;
            args.get(at)
                .cloned()
                .ok_or_else(|| format!("option {arg} needs a value"))
        };
        match arg {
            "-c" | "--conf" => parsed.config = Some(PathBuf::from(value()?)),
            "-s" | "--socket" => parsed.socket = Some(PathBuf::from(value()?)),
            "-p" | "--pidfile" => parsed.pidfile = Some(PathBuf::from(value()?)),
            "--timeout" => {
                let text = value()?;
                parsed.timeout = Some(text.parse().map_err(|_| format!("bad timeout {text:?}"))?);
            }
            "--loglevel" | "--logtarget" | "--syslogsocket" => {
                value()?;
            }
            "--json" => parsed.json = true,
            "-t" | "--test" => parsed.test = true,
            "-d" => parsed.dump = true,
            "-q" | "-v" | "-vv" | "-x" | "-f" | "-b" | "-i" | "--async" => {}
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "-V" | "--version" => {
                out!("ferroban {}", env!("CARGO_PKG_VERSION"));
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "--" => {
                parsed.words.extend(args[at + 1..].iter().cloned());
                break;
            }
            _ if arg.starts_with('-') && parsed.words.is_empty() => {
                return Err(format!("unknown option {arg}"));
            }
            _ => {
                parsed.words.extend(args[at..].iter().cloned());
                break;
            }
        }
        at += 1;
    }
    Ok(Parsed::Run(parsed))
}

/// Runs the client with the arguments after the program (and `client`) name.
pub fn run_from_args(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse_args(&args) {
        Ok(Parsed::Run(args)) => run(args),
        Ok(Parsed::Exit(code)) => code,
        Err(message) => {
            eprintln!("ERROR  {message}");
            eprint!("{USAGE}");
            ExitCode::from(255)
        }
    }
}

fn run(args: ClientArgs) -> ExitCode {
    let conf_dir = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/fail2ban"));
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
    let command = match Command::parse(&args.words) {
        Ok(command) => command,
        Err(ferroban_protocol::ParseError::Empty) => {
            eprint!("{USAGE}");
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
    read_message(&mut reader).map_err(|e| format!("no valid answer from the server: {e}"))
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
fn dump(conf_dir: &Path) -> ExitCode {
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

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_then_command_words() {
        let Parsed::Run(args) = parse_args(&words("-s /tmp/x.sock --json status sshd")).unwrap()
        else {
            panic!("expected a run");
        };
        assert_eq!(args.socket, Some(PathBuf::from("/tmp/x.sock")));
        assert!(args.json);
        assert_eq!(args.words, words("status sshd"));
    }

    #[test]
    fn dashes_after_the_command_belong_to_it() {
        let Parsed::Run(args) = parse_args(&words("get sshd banip --with-time")).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(args.words, words("get sshd banip --with-time"));
    }

    #[test]
    fn unknown_option_is_an_error() {
        assert!(parse_args(&words("--bogus ping")).is_err());
        assert!(parse_args(&words("-s")).is_err());
    }

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
