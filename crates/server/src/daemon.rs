//! Start-up, the registry of running jails, reload and shutdown.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferroban_config::{ServerSpec, load_jails, load_server};
use ferroban_store::Store;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::jail::{JailCmd, JailOwner, StartMode};
use crate::log::{self, Level};
use crate::setup::{JailConfig, keep_matches_where_read};
use crate::source::SourceHandle;
use crate::store::SharedStore;
use crate::{JAIL_LOG, ServerError, ServerOptions, log_at, now_seconds};

const SERVER_LOG: &str = "fail2ban.server";

/// A jail that runs: its settings, its owner thread and its source thread.
pub(crate) struct RunningJail {
    pub config: Arc<JailConfig>,
    pub sender: SyncSender<JailCmd>,
    thread: Option<JoinHandle<()>>,
    pub source: Option<SourceHandle>,
}

/// Everything the control socket and the signals act on.
pub(crate) struct Registry {
    pub conf_dir: PathBuf,
    pub jails: BTreeMap<String, RunningJail>,
    pub store: Option<SharedStore>,
    pub settings: Settings,
}

/// The server's resolved settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub dbfile: Option<String>,
    pub dbpurgeage: i64,
    /// How often the database is purged while the server runs.
    pub db_purge_interval: Duration,
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

/// Runs the server until it is told to stop.
pub fn run(options: ServerOptions) -> Result<(), ServerError> {
    if !options.foreground {
        return background(&options);
    }
    let (spec, errors) = load_server(&options.conf_dir);
    let settings = settings(&options, &spec);
    configure_logging(&options, &spec)?;
    for error in &errors.0 {
        log_at!(SERVER_LOG, Level::ERROR, "{error}");
    }
    prepare_socket(&settings.socket, options.remove_stale_socket)?;
    let unclean = claim_run_files(&settings)?;
    log_at!(
        SERVER_LOG,
        Level::INFO,
        "Starting ferroban v{} (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    crate::memory::tune_allocator();
    let store = open_store(&settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| ServerError::Io {
            what: "cannot start the runtime",
            path: PathBuf::new(),
            source,
        })?;
    let mut registry = Registry {
        conf_dir: options.conf_dir.clone(),
        jails: BTreeMap::new(),
        store,
        settings: settings.clone(),
    };
    let result = runtime.block_on(serve(&mut registry, unclean));
    runtime.block_on(registry.stop_all());
    release_run_files(&settings);
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

impl Settings {
    /// A file beside the database that exists while a server runs. Unlike the pidfile
    /// (often on a tmpfs that systemd empties when the service fails), it survives the
    /// server's death, so a restart knows the firewall still holds the old rules. After a
    /// reboot it causes one needless clean-up, which is harmless.
    fn running_marker(&self) -> Option<PathBuf> {
        let dbfile = self.dbfile.as_ref().filter(|path| *path != ":memory:")?;
        Some(PathBuf::from(format!("{dbfile}.running")))
    }
}

fn settings(options: &ServerOptions, spec: &ServerSpec) -> Settings {
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
        db_purge_interval: db_purge_interval(),
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

/// Refuses to start next to a live server; removes a dead server's socket with `-x`.
fn prepare_socket(socket: &Path, remove_stale: bool) -> Result<(), ServerError> {
    if socket.exists() {
        if StdUnixStream::connect(socket).is_ok() {
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

fn open_store(settings: &Settings) -> Result<Option<SharedStore>, ServerError> {
    let Some(path) = &settings.dbfile else {
        return Ok(None);
    };
    if path != ":memory:"
        && let Some(dir) = Path::new(path).parent()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut store = Store::open(path)?;
    store.set_purge_age(Duration::from_secs(settings.dbpurgeage.max(0) as u64));
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

async fn serve(registry: &mut Registry, unclean: bool) -> Result<(), ServerError> {
    let listener = bind_socket(&registry.settings.socket)?;
    let signal_error = |source| ServerError::Io {
        what: "cannot install signal handler",
        path: PathBuf::new(),
        source,
    };
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
    registry.start_configured(StartMode {
        after_unclean_stop: unclean,
    });
    crate::memory::release_free_memory();
    log_at!(SERVER_LOG, Level::INFO, "Server ready");
    // Requests are read concurrently (at most READERS at a time), executed one by one.
    let (incoming_sender, mut incoming) = tokio::sync::mpsc::channel(READERS);
    let readers = Arc::new(tokio::sync::Semaphore::new(READERS));
    let purge_every = registry.settings.db_purge_interval;
    let mut purge_timer =
        tokio::time::interval_at(tokio::time::Instant::now() + purge_every, purge_every);
    purge_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = purge_timer.tick() => registry.purge_store(),
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (sender, readers) = (incoming_sender.clone(), readers.clone());
                tokio::spawn(crate::fail2ban_wire::serve_connection(stream, sender, readers));
            }
            Some(request) = incoming.recv() => {
                if crate::control::answer(request, registry).await == crate::control::Flow::Exit {
                    return Ok(());
                }
            }
            _ = terminate.recv() => {
                log_at!(SERVER_LOG, Level::NOTICE, "Received SIGTERM: stopping");
                return Ok(());
            }
            _ = interrupt.recv() => {
                log_at!(SERVER_LOG, Level::NOTICE, "Received SIGINT: stopping");
                return Ok(());
            }
            _ = hangup.recv() => {
                log_at!(SERVER_LOG, Level::NOTICE, "Received SIGHUP: reloading");
                if let Err(error) = registry.reload(None, false).await {
                    log_at!(SERVER_LOG, Level::ERROR, "{error}");
                }
            }
        }
    }
}

impl Registry {
    /// Loads the configuration directory's jails (with every error logged).
    /// The configured jails, and every configuration error (logged too).
    fn load_configs(&self) -> (Vec<JailConfig>, Vec<String>) {
        let (specs, errors) = load_jails(&self.conf_dir);
        for error in &errors.0 {
            log_at!(SERVER_LOG, Level::ERROR, "{error}");
        }
        let errors = errors.0.iter().map(ToString::to_string).collect();
        let mut configs: Vec<JailConfig> = specs
            .iter()
            .map(|spec| {
                let (config, warnings) = JailConfig::from_spec(spec);
                for warning in warnings {
                    log_at!(JAIL_LOG, Level::WARNING, "[{}] {warning}", spec.name);
                }
                config
            })
            .collect();
        keep_matches_where_read(&mut configs);
        (configs, errors)
    }

    /// At start, jails whose configuration is fine run even when others have errors
    /// (as fail2ban starts the jails it could read).
    fn start_configured(&mut self, mode: StartMode) {
        for config in self.load_configs().0 {
            self.start_jail(config, mode);
        }
    }

    fn start_jail(&mut self, config: JailConfig, mode: StartMode) {
        let name = config.name.clone();
        log_at!(JAIL_LOG, Level::INFO, "Creating new jail '{name}'");
        match start_jail(config, self.store.clone(), mode) {
            Ok(jail) => {
                self.jails.insert(name, jail);
            }
            Err(error) => {
                log_at!(
                    JAIL_LOG,
                    Level::ERROR,
                    "Unable to start jail '{name}': {error}"
                );
            }
        }
    }

    pub async fn stop_jail(&mut self, name: &str) {
        if let Some(jail) = self.jails.remove(name) {
            jail.stop().await;
        }
    }

    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.jails.keys().cloned().collect();
        // Stop the sources first so no new failure arrives, then the jails in parallel
        // (each runs its own actionstop, which may take a while).
        let mut stopping = Vec::new();
        for name in names {
            if let Some(mut jail) = self.jails.remove(&name) {
                if let Some(source) = jail.source.take() {
                    source.stop();
                }
                stopping.push(jail);
            }
        }
        let mut waits = Vec::new();
        for jail in &stopping {
            let (reply, wait) = oneshot::channel();
            if crate::jail::send_async(&jail.sender, JailCmd::Stop { reply }).await {
                waits.push(wait);
            }
        }
        for wait in waits {
            let _ = wait.await;
        }
        for mut jail in stopping {
            if let Some(thread) = jail.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// `reload [JAIL] [--unban]` and SIGHUP: jails that stay keep their bans, removed
    /// jails stop, new jails start.
    ///
    /// A configuration with errors is not applied at all: a typo must not stop (and so
    /// unban) a running jail. The errors are returned for the client to show.
    pub async fn reload(&mut self, only: Option<&str>, unban: bool) -> Result<(), String> {
        let (configs, errors) = self.load_configs();
        if !errors.is_empty() {
            return Err(format!(
                "configuration has errors, nothing reloaded:\n{}",
                errors.join("\n")
            ));
        }
        let wanted: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        if only.is_none() {
            let removed: Vec<String> = self
                .jails
                .keys()
                .filter(|name| !wanted.contains(name))
                .cloned()
                .collect();
            for name in removed {
                self.stop_jail(&name).await;
            }
        }
        for config in configs {
            if only.is_some_and(|name| name != config.name) {
                continue;
            }
            if unban && let Some(jail) = self.jails.get(&config.name) {
                let (reply, wait) = oneshot::channel();
                if crate::jail::send_async(&jail.sender, JailCmd::UnbanAll { reply }).await {
                    let _ = wait.await;
                }
            }
            match self.jails.get_mut(&config.name) {
                Some(jail) => jail.reconfigure(config, self.store.clone()).await,
                None => self.start_jail(
                    config,
                    StartMode {
                        after_unclean_stop: false,
                    },
                ),
            }
        }
        self.purge_store();
        Ok(())
    }

    /// Drops bans older than `dbpurgeage` from the database (fail2ban's `db_purge`), then
    /// gives free memory back (this runs hourly and after each reload).
    fn purge_store(&self) {
        crate::memory::release_free_memory();
        let Some(store) = &self.store else { return };
        log_at!(SERVER_LOG, Level::DEBUG, "Purge database event occurred");
        let mut store = store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = store.purge(now_seconds()) {
            log_at!(
                SERVER_LOG,
                Level::ERROR,
                "cannot purge the database: {error}"
            );
        }
    }
}

fn start_jail(
    config: JailConfig,
    store: Option<SharedStore>,
    mode: StartMode,
) -> Result<RunningJail, String> {
    let owner = JailOwner::new(config.clone(), store.clone())?;
    let (sender, thread) = crate::jail::spawn(owner, mode).map_err(|e| e.to_string())?;
    let source = match crate::source::spawn(&config, sender.clone(), store) {
        Ok(source) => source,
        Err(error) => {
            let (reply, _wait) = oneshot::channel();
            let _ = sender.send(JailCmd::Stop { reply });
            let _ = thread.join();
            return Err(error);
        }
    };
    Ok(RunningJail {
        config: Arc::new(config),
        sender,
        thread: Some(thread),
        source,
    })
}

impl RunningJail {
    async fn stop(mut self) {
        if let Some(source) = self.source.take() {
            source.stop();
        }
        let (reply, wait) = oneshot::channel();
        if crate::jail::send_async(&self.sender, JailCmd::Stop { reply }).await {
            let _ = wait.await;
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// New settings: the source restarts with the new filter and log paths (from its
    /// saved position), the owner keeps its bans.
    async fn reconfigure(&mut self, config: JailConfig, store: Option<SharedStore>) {
        if let Some(source) = self.source.take() {
            source.stop();
        }
        let (reply, wait) = oneshot::channel();
        let message = JailCmd::Reconfigure {
            config: Box::new(config.clone()),
            reply,
        };
        if crate::jail::send_async(&self.sender, message).await {
            let _ = wait.await;
        }
        match crate::source::spawn(&config, self.sender.clone(), store) {
            Ok(source) => self.source = source,
            Err(error) => log_at!(
                JAIL_LOG,
                Level::ERROR,
                "[{}] cannot follow its logs: {error}",
                config.name
            ),
        }
        self.config = Arc::new(config);
    }
}

/// `-b`: start a foreground server as a detached child and wait until its socket answers.
fn background(options: &ServerOptions) -> Result<(), ServerError> {
    let (spec, _) = load_server(&options.conf_dir);
    let socket = settings(options, &spec).socket;
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
    // All three to /dev/null, as fail2ban's daemonize does: a detached server holding the
    // caller's stderr would keep `$(fail2ban-server -b 2>&1)` or a supervisor reading it
    // waiting forever. Startup errors still reach the logtarget, and the exit status below.
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| ServerError::Background(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if StdUnixStream::connect(&socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ServerError::Background(format!(
                "server exited: {status} (see its logtarget)"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ServerError::Background(format!(
        "no answer on {} after 30 s",
        socket.display()
    )))
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
    fn running_marker_sits_beside_a_database_file() {
        let mut settings = Settings {
            socket: PathBuf::from("/run/x.sock"),
            pidfile: PathBuf::from("/run/x.pid"),
            dbfile: Some("/var/lib/ferroban/db.sqlite3".into()),
            dbpurgeage: 86_400,
            db_purge_interval: DB_PURGE_INTERVAL,
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
        let live = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert!(matches!(
            prepare_socket(&socket, true),
            Err(ServerError::AlreadyRunning(_))
        ));
        drop(live);
    }
}
