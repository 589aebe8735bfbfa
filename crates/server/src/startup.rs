//! Start-up and shutdown: the configuration checked, logging, the run files (socket,
//! pidfile, running marker), the database, then the control socket and the signals served
//! until the server is told to stop. `-b` starts all this as a detached child.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroban_config::{ServerSpec, load_server};
use ferroban_store::Store;
use tokio::signal::unix::{SignalKind, signal};

use crate::accept::AcceptBackoff;
use crate::check::check;
use crate::jail::StartMode;
use crate::log::{self, Level};
use crate::registry::{Registry, SharedRegistry, log_problems};
use crate::settings::Settings;
use crate::setup::JailConfig;
use crate::store::SharedStore;
use crate::{SERVER_LOG, ServerError, ServerOptions, log_at, now_seconds};

/// Runs the server until it is told to stop.
pub fn run(options: ServerOptions) -> Result<(), ServerError> {
    if !options.foreground {
        return background(&options);
    }
    crate::clock::configure();
    let checked = check(&options.conf_dir);
    let settings = Settings::new(&options, &checked.server);
    configure_logging(&options, &checked.server)?;
    // Every reason for not starting goes to the log target too, where an admin of a
    // detached server looks.
    let result = start(&options, checked, &settings);
    if let Err(error) = &result {
        log_at!(SERVER_LOG, Level::CRITICAL, "{error}");
    }
    result
}

/// The configuration's problems logged, a refusal on a file that cannot be read, then the
/// run files claimed for as long as the server serves.
fn start(
    options: &ServerOptions,
    checked: crate::check::CheckedConfig,
    settings: &Settings,
) -> Result<(), ServerError> {
    log_problems(&checked);
    let fatal: Vec<String> = checked.fatal().map(ToString::to_string).collect();
    if !fatal.is_empty() {
        return Err(ServerError::Configuration(fatal));
    }
    prepare_socket(&settings.socket, options.remove_stale_socket)?;
    let unclean = claim_run_files(settings)?;
    let result = serve_claimed(options, checked.jails, settings, unclean);
    // A server that could not start leaves the marker of an earlier unclean stop: the
    // firewall may still hold that run's rules.
    if result.is_ok() || !unclean {
        release_run_files(settings);
    }
    result
}

fn serve_claimed(
    options: &ServerOptions,
    jails: Vec<JailConfig>,
    settings: &Settings,
    unclean: bool,
) -> Result<(), ServerError> {
    log_at!(
        SERVER_LOG,
        Level::INFO,
        "Starting ferroban v{} (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    crate::memory::tune_allocator();
    crate::source_faults::raise_descriptor_limit();
    let store = open_store(settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| ServerError::Io {
            what: "cannot start the runtime",
            path: PathBuf::new(),
            source,
        })?;
    let registry: SharedRegistry = Rc::new(tokio::sync::RwLock::new(Registry {
        conf_dir: options.conf_dir.clone(),
        jails: BTreeMap::new(),
        store,
        settings: settings.clone(),
    }));
    // The control socket's requests run as local tasks of this one thread.
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, serve(&registry, jails, unclean));
    local.block_on(&runtime, async { registry.write().await.stop_all().await });
    log_at!(SERVER_LOG, Level::INFO, "Exiting ferroban");
    result
}

/// Writes the pidfile and the running marker; returns whether the previous server died
/// without stopping (its files were left behind).
fn claim_run_files(settings: &Settings) -> Result<bool, ServerError> {
    let marker = settings.running_marker();
    let unclean = [Some(&settings.pidfile), marker.as_ref()]
        .into_iter()
        .flatten()
        .any(|file| previous_run_was_unclean(file));
    write_pidfile(&settings.pidfile)?;
    if let Some(marker) = &marker {
        // Not fatal: the pidfile still tells an unclean stop apart (until a reboot).
        if let Err(error) = write_pidfile(marker) {
            log_at!(SERVER_LOG, Level::WARNING, "{error}");
        }
    }
    Ok(unclean)
}

/// A clean stop removes the socket, the pidfile and the running marker.
fn release_run_files(settings: &Settings) {
    let _ = std::fs::remove_file(&settings.socket);
    let _ = std::fs::remove_file(&settings.pidfile);
    if let Some(marker) = settings.running_marker() {
        let _ = std::fs::remove_file(marker);
    }
}

fn configure_logging(options: &ServerOptions, spec: &ServerSpec) -> Result<(), ServerError> {
    let level_text = options.loglevel.as_deref().unwrap_or(&spec.loglevel.value);
    let level = Level::parse(level_text).ok_or_else(|| ServerError::LogLevel(level_text.into()))?;
    let target = options
        .logtarget
        .as_deref()
        .unwrap_or(&spec.logtarget.value);
    log::set_syslog_socket(&spec.syslogsocket.value);
    match log::configure(target, level) {
        // As fail2ban: without its syslog socket the server logs where it did before
        // (standard error) rather than not starting.
        Err(error) if target.trim().to_ascii_uppercase().starts_with("SYSLOG") => {
            log::configure("STDERR", level).map_err(|source| ServerError::Io {
                what: "cannot open log target",
                path: PathBuf::from("STDERR"),
                source,
            })?;
            log_at!(SERVER_LOG, Level::ERROR, "{error}");
            Ok(())
        }
        result => result.map_err(|source| ServerError::Io {
            what: "cannot open log target",
            path: PathBuf::from(target),
            source,
        }),
    }
}

/// How long a server on the socket has to answer `ping` before it counts as gone.
const PING_WAIT: Duration = Duration::from_secs(2);

/// Whether a server answers `ping` on `socket`. A connection alone proves nothing: a dead
/// server's child, killed between its fork and its exec, still holds the listening socket
/// and the kernel accepts connections into its backlog, but nobody reads them.
fn server_answers(socket: &Path) -> bool {
    let Ok(stream) = StdUnixStream::connect(socket) else {
        return false;
    };
    let ask = || -> Result<(), ferroban_protocol::WireError> {
        stream.set_read_timeout(Some(PING_WAIT))?;
        stream.set_write_timeout(Some(PING_WAIT))?;
        let request = ferroban_protocol::Request {
            command: ferroban_protocol::Command::Ping,
        };
        ferroban_protocol::write_message(&mut &stream, &request)?;
        let mut reader = std::io::BufReader::new(&stream);
        ferroban_protocol::read_message::<ferroban_protocol::Response>(&mut reader)?;
        Ok(())
    };
    ask().is_ok()
}

/// Refuses to start next to a live server; removes a dead server's socket with `-x`.
fn prepare_socket(socket: &Path, remove_stale: bool) -> Result<(), ServerError> {
    if socket.exists() {
        if server_answers(socket) {
            return Err(ServerError::AlreadyRunning(socket.to_path_buf()));
        }
        if !remove_stale {
            return Err(ServerError::StaleSocket(socket.to_path_buf()));
        }
        std::fs::remove_file(socket).map_err(|source| ServerError::Io {
            what: "cannot remove stale socket",
            path: socket.to_path_buf(),
            source,
        })?;
    }
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
            what: "cannot create socket directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// A pidfile (or running marker) naming a process that is gone means the previous server
/// was killed (a clean stop removes both): its firewall rules are still in place.
fn previous_run_was_unclean(pidfile: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return true;
    };
    if pid == std::process::id() as i32 {
        return false;
    }
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.contains("ferroban") || cmdline.contains("fail2ban"));
    if alive {
        return false;
    }
    log_at!(
        SERVER_LOG,
        Level::WARNING,
        "pidfile {} names process {pid}, which is gone: the previous run did not stop cleanly",
        pidfile.display()
    );
    true
}

fn write_pidfile(pidfile: &Path) -> Result<(), ServerError> {
    let io = |source| ServerError::Io {
        what: "cannot write pidfile",
        path: pidfile.to_path_buf(),
        source,
    };
    if let Some(dir) = pidfile.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(pidfile, format!("{}\n", std::process::id())).map_err(io)
}

pub(crate) fn open_store(settings: &Settings) -> Result<Option<SharedStore>, ServerError> {
    let Some(path) = &settings.dbfile else {
        return Ok(None);
    };
    if path != ":memory:"
        && let Some(dir) = Path::new(path).parent()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut store = Store::open(path)?;
    if let Some(takeover) = store.take_takeover() {
        crate::store::log_takeover(&takeover);
    }
    store.set_purge_age(Duration::from_secs(settings.dbpurgeage.max(0) as u64));
    store.set_max_matches(settings.dbmaxmatches);
    if let Err(error) = store.purge(now_seconds()) {
        log_at!(
            SERVER_LOG,
            Level::ERROR,
            "cannot purge the database: {error}"
        );
    }
    Ok(Some(Arc::new(Mutex::new(store))))
}

/// Binds the control socket (mode 0600: only root may talk to the server).
fn bind_socket(path: &Path) -> Result<tokio::net::UnixListener, ServerError> {
    let io = |source| ServerError::Io {
        what: "cannot bind socket",
        path: path.to_path_buf(),
        source,
    };
    // The umask closes the window between bind and chmod.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    tokio::net::UnixListener::from_std(listener).map_err(io)
}

/// How many control connections are read at the same time.
const READERS: usize = 16;

async fn serve(
    registry: &SharedRegistry,
    jails: Vec<JailConfig>,
    unclean: bool,
) -> Result<(), ServerError> {
    let settings = registry.read().await.settings.clone();
    let listener = bind_socket(&settings.socket)?;
    if let Some(address) = settings.metrics {
        serve_metrics(address).await?;
    }
    let mut signals = Signals::install()?;
    let mode = StartMode {
        after_unclean_stop: unclean,
    };
    let mut fleet = crate::cluster::start(&settings);
    registry.write().await.start_all(jails, mode);
    crate::memory::release_free_memory();
    log_at!(SERVER_LOG, Level::INFO, "Server ready");
    release_detached_stderr();
    // Requests are read concurrently (at most READERS at a time) and each runs in a task of
    // its own: this loop only hands them out, so it never waits on one.
    let (incoming_sender, mut incoming) = tokio::sync::mpsc::channel(READERS);
    let readers = Arc::new(tokio::sync::Semaphore::new(READERS));
    let (exit_sender, mut exit) = tokio::sync::mpsc::channel::<()>(1);
    let mut purge_timer = purge_timer(settings.db_purge_interval);
    let mut accept_backoff = AcceptBackoff::new(
        "control",
        " (raise the open-file limit, LimitNOFILE in the unit)",
    );
    loop {
        tokio::select! {
            _ = purge_timer.tick() => spawn_with(registry, |registry| async move {
                registry.read().await.purge_store();
            }),
            Some(inbound) = crate::cluster::next(&mut fleet) => {
                spawn_with(registry, |registry| async move {
                    crate::cluster::apply(&*registry.read().await, inbound).await;
                });
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    accept_backoff.accepted();
                    let (sender, readers) = (incoming_sender.clone(), readers.clone());
                    tokio::spawn(crate::fail2ban_wire::serve_connection(stream, sender, readers));
                }
                Err(error) => accept_backoff.failed(error).await,
            },
            Some(request) = incoming.recv() => {
                let exit_sender = exit_sender.clone();
                spawn_with(registry, |registry| async move {
                    if crate::control::answer(request, &registry).await == crate::control::Flow::Exit {
                        let _ = exit_sender.send(()).await;
                    }
                });
            }
            Some(()) = exit.recv() => return Ok(()),
            _ = signals.terminate.recv() => return Signals::stopping("SIGTERM"),
            _ = signals.interrupt.recv() => return Signals::stopping("SIGINT"),
            _ = signals.hangup.recv() => spawn_with(registry, |registry| async move {
                log_at!(SERVER_LOG, Level::NOTICE, "Received SIGHUP: reloading");
                if let Err(error) = registry.write().await.reload(None, false).await {
                    log_at!(SERVER_LOG, Level::ERROR, "{error}");
                }
            }),
        }
    }
}

/// Runs `task` with its own handle on the registry, as a local task of the server's thread.
fn spawn_with<F: std::future::Future<Output = ()> + 'static>(
    registry: &SharedRegistry,
    task: impl FnOnce(SharedRegistry) -> F,
) {
    tokio::task::spawn_local(task(registry.clone()));
}

/// Ticks every `every` (`dbpurgeage`'s purge), the first tick one period from now.
fn purge_timer(every: Duration) -> tokio::time::Interval {
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// The signals the server acts on: SIGTERM and SIGINT stop it, SIGHUP reloads it.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, ServerError> {
        let install = |kind| {
            signal(kind).map_err(|source| ServerError::Io {
                what: "cannot install signal handler",
                path: PathBuf::new(),
                source,
            })
        };
        Ok(Signals {
            terminate: install(SignalKind::terminate())?,
            interrupt: install(SignalKind::interrupt())?,
            hangup: install(SignalKind::hangup())?,
        })
    }

    /// Says which signal stops the server; the serve loop ends with this.
    fn stopping(name: &str) -> Result<(), ServerError> {
        log_at!(SERVER_LOG, Level::NOTICE, "Received {name}: stopping");
        Ok(())
    }
}

/// Listens for Prometheus on `address` and serves it on this runtime from now on.
async fn serve_metrics(address: std::net::SocketAddr) -> Result<(), ServerError> {
    let listener = crate::metrics::http::bind(address)
        .await
        .map_err(|source| ServerError::Metrics { address, source })?;
    log_at!(
        SERVER_LOG,
        Level::INFO,
        "Serving metrics on http://{address}/metrics"
    );
    tokio::spawn(crate::metrics::http::serve(listener));
    Ok(())
}

/// `-b`: start a foreground server as a detached child and wait until its socket answers.
fn background(options: &ServerOptions) -> Result<(), ServerError> {
    let (spec, _) = load_server(&options.conf_dir);
    let socket = Settings::new(options, &spec).socket;
    if server_answers(&socket) {
        return Err(ServerError::AlreadyRunning(socket));
    }
    let exe = std::env::current_exe().map_err(|e| ServerError::Background(e.to_string()))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("server")
        .arg("-f")
        .arg("-c")
        .arg(&options.conf_dir);
    command.arg("-s").arg(&socket);
    if let Some(pidfile) = &options.pidfile {
        command.arg("-p").arg(pidfile);
    }
    if options.remove_stale_socket {
        command.arg("-x");
    }
    if let Some(target) = &options.logtarget {
        command.arg("--logtarget").arg(target);
    }
    if let Some(level) = &options.loglevel {
        command.arg("--loglevel").arg(level);
    }
    use std::os::unix::process::CommandExt;
    // Standard input and output to /dev/null, as fail2ban's daemonize does. Standard error
    // comes to us through a pipe until the server is ready, so that a start that fails says
    // why where the user looks; the ready server then lets go of it (DETACHED_STDERR), so a
    // `$(fail2ban-server -b 2>&1)` or a supervisor reading it does not wait forever.
    command
        .env(DETACHED_STDERR, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| ServerError::Background(e.to_string()))?;
    let told = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if StdUnixStream::connect(&socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let said = told
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default();
            return Err(ServerError::Background(format!(
                "server exited ({status}):\n{}",
                said.trim_end()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ServerError::Background(format!(
        "no answer on {} after 30 s",
        socket.display()
    )))
}

/// Set for a server started by `-b`: its standard error is the starting process's pipe,
/// to be let go of once the server is ready.
const DETACHED_STDERR: &str = "FERROBAN_DETACHED_STDERR";

/// A server started by `-b` points its standard error at /dev/null once it is ready: the
/// process that started it has stopped reading.
fn release_detached_stderr() {
    if std::env::var_os(DETACHED_STDERR).is_none() {
        return;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_of_a_dead_process_means_unclean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("ferroban.pid");
        assert!(!previous_run_was_unclean(&pidfile), "no pidfile: clean");
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert!(!previous_run_was_unclean(&pidfile), "our own pid");
        // A child that has exited and been reaped: its pid names nobody.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        std::fs::write(&pidfile, format!("{pid}\n")).unwrap();
        assert!(previous_run_was_unclean(&pidfile), "dead process");
        std::fs::write(&pidfile, "garbage").unwrap();
        assert!(previous_run_was_unclean(&pidfile), "unreadable pid");
    }

    #[test]
    fn stale_socket_is_refused_without_x_and_removed_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        assert!(matches!(
            prepare_socket(&socket, false),
            Err(ServerError::StaleSocket(_))
        ));
        prepare_socket(&socket, true).unwrap();
        assert!(!socket.exists());
        // Held, taking connections, never answering: a dead server's child. Stale.
        let silent = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        prepare_socket(&socket, true).unwrap();
        assert!(!socket.exists());
        drop(silent);

        let live = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = live.accept().unwrap();
            let mut reader = std::io::BufReader::new(&stream);
            let _: ferroban_protocol::Request =
                ferroban_protocol::read_message(&mut reader).unwrap();
            let pong =
                ferroban_protocol::Response::Ok(ferroban_protocol::Reply::Text("pong".into()));
            ferroban_protocol::write_message(&mut &stream, &pong).unwrap();
        });
        assert!(matches!(
            prepare_socket(&socket, true),
            Err(ServerError::AlreadyRunning(_))
        ));
        server.join().unwrap();
    }
}
