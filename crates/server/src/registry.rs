//! The registry of running jails: what the control socket and the signals act on. It
//! starts jails, stops them and reloads the configuration into them.
//!
//! A reload checks the whole directory first ([`crate::check`]) and changes nothing when a
//! file cannot be read. A jail whose new settings are broken keeps running on its old
//! ones, the others take theirs, and the caller is told which jail and why: a typo never
//! leaves a running jail reading less than before.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::check::{CheckedConfig, check};
use crate::jail::{JailCmd, JailOwner, StartMode};
use crate::log::Level;
use crate::settings::Settings;
use crate::setup::JailConfig;
use crate::source::SourceHandle;
use crate::store::SharedStore;
use crate::{JAIL_LOG, JailStartError, SERVER_LOG, log_at, now_seconds};

/// A jail that runs: its settings, its owner thread and its source thread.
pub(crate) struct RunningJail {
    pub config: Arc<JailConfig>,
    pub sender: SyncSender<JailCmd>,
    thread: Option<JoinHandle<()>>,
    pub source: Option<SourceHandle>,
    /// The jail's last published status, for when its thread is busy.
    pub board: Arc<crate::jail::StatusBoard>,
}

/// Everything the control socket and the signals act on.
pub(crate) struct Registry {
    pub conf_dir: PathBuf,
    pub jails: BTreeMap<String, RunningJail>,
    pub store: Option<SharedStore>,
    pub settings: Settings,
}

/// The registry as the control socket's tasks share it on the server's one thread: see
/// `control::execute` for which commands read it side by side and which take it alone.
pub(crate) type SharedRegistry = std::rc::Rc<tokio::sync::RwLock<Registry>>;

/// Why a reload applied less than it was asked to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReloadError {
    #[error("Sorry but the jail '{0}' does not exist")]
    NoJail(String),
    #[error("configuration cannot be read, nothing reloaded:\n{}", .0.join("\n"))]
    Unreadable(Vec<String>),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    JailsNotReloaded(Vec<NotReloaded>),
}

/// A jail whose new settings could not be applied.
#[derive(Debug)]
pub(crate) struct NotReloaded {
    pub jail: String,
    /// It still runs, on its previous settings.
    pub kept: bool,
    pub problems: Vec<String>,
}

impl std::fmt::Display for NotReloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outcome = match self.kept {
            true => "it keeps running on its previous settings",
            false => "it was not started",
        };
        write!(f, "Errors in jail '{}', {outcome}:", self.jail)?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// Logs what a check found: every error, and each skipped jail as fail2ban says it.
pub(crate) fn log_problems(checked: &CheckedConfig) {
    for error in &checked.errors {
        log_at!(SERVER_LOG, Level::ERROR, "{error}");
    }
    for jail in &checked.skipped {
        for problem in &jail.problems {
            log_at!(SERVER_LOG, Level::ERROR, "{problem}");
        }
        log_at!(
            SERVER_LOG,
            Level::ERROR,
            "Errors in jail '{}'. Skipping...",
            jail.name
        );
    }
    for (jail, warning) in &checked.warnings {
        log_at!(JAIL_LOG, Level::WARNING, "[{jail}] {warning}");
    }
}

impl Registry {
    /// Starts the jails of a checked configuration.
    pub fn start_all(&mut self, configs: Vec<JailConfig>, mode: StartMode) {
        for config in configs {
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
    pub async fn reload(&mut self, only: Option<&str>, unban: bool) -> Result<(), ReloadError> {
        let checked = check(&self.conf_dir);
        log_problems(&checked);
        let fatal: Vec<String> = checked.fatal().map(ToString::to_string).collect();
        if !fatal.is_empty() {
            return Err(ReloadError::Unreadable(fatal));
        }
        let wanted = |name: &str| only.is_none_or(|only| only == name);
        if let Some(name) = only {
            let configured = checked.jails.iter().any(|c| c.name == name)
                || checked.skipped.iter().any(|s| s.name == name);
            if !configured && !self.jails.contains_key(name) {
                return Err(ReloadError::NoJail(name.to_owned()));
            }
        }
        if only.is_none() {
            self.stop_removed(&checked).await;
        }
        let mut not_reloaded = Vec::new();
        for config in checked.jails {
            if !wanted(&config.name) {
                continue;
            }
            if unban && let Some(jail) = self.jails.get(&config.name) {
                let (reply, wait) = oneshot::channel();
                if crate::jail::send_async(&jail.sender, JailCmd::UnbanAll { reply }).await {
                    let _ = wait.await;
                }
            }
            let name = config.name.clone();
            let result = match self.jails.get_mut(&name) {
                Some(jail) => jail.reconfigure(config, self.store.clone(), true).await,
                None => {
                    self.start_jail(config, StartMode::default());
                    Ok(())
                }
            };
            if let Err(problem) = result {
                not_reloaded.push(NotReloaded {
                    jail: name,
                    kept: true,
                    problems: vec![problem.to_string()],
                });
            }
        }
        for skipped in checked.skipped.into_iter().filter(|s| wanted(&s.name)) {
            not_reloaded.push(NotReloaded {
                kept: self.jails.contains_key(&skipped.name),
                jail: skipped.name,
                problems: skipped.problems.iter().map(ToString::to_string).collect(),
            });
        }
        self.purge_store();
        match not_reloaded.is_empty() {
            true => Ok(()),
            false => Err(ReloadError::JailsNotReloaded(not_reloaded)),
        }
    }

    /// Stops the running jails the configuration no longer has. A jail that is still
    /// configured but broken is not removed: it keeps running on its old settings.
    async fn stop_removed(&mut self, checked: &CheckedConfig) {
        let removed: Vec<String> = self
            .jails
            .keys()
            .filter(|name| {
                !checked.jails.iter().any(|c| &c.name == *name)
                    && !checked.skipped.iter().any(|s| &s.name == *name)
            })
            .cloned()
            .collect();
        for name in removed {
            self.stop_jail(&name).await;
        }
    }

    /// Has every jail look at its deadlines again (the clock moved).
    pub async fn wake_jails(&self) {
        for jail in self.jails.values() {
            let (reply, wait) = oneshot::channel();
            if crate::jail::send_async(&jail.sender, JailCmd::Wake { reply }).await {
                let _ = wait.await;
            }
        }
    }

    /// Drops bans older than `dbpurgeage` from the database (fail2ban's `db_purge`), then
    /// gives free memory back (this runs hourly and after each reload).
    pub fn purge_store(&self) {
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
) -> Result<RunningJail, JailStartError> {
    let owner = JailOwner::new(config.clone(), store.clone())?;
    let board = owner.board();
    let (sender, thread) = crate::jail::spawn(owner, mode)?;
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
        board,
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
    /// saved position), the owner keeps its bans. The settings were checked, so the new
    /// source starts unless the system refuses (no thread, no journal): then the old
    /// settings come back, source included, and the error is returned.
    async fn reconfigure(
        &mut self,
        config: JailConfig,
        store: Option<SharedStore>,
        reload: bool,
    ) -> Result<(), JailStartError> {
        if let Some(source) = self.source.take() {
            source.stop();
        }
        self.send_config(config.clone(), reload).await;
        match crate::source::spawn(&config, self.sender.clone(), store.clone()) {
            Ok(source) => {
                self.source = source;
                self.config = Arc::new(config);
                Ok(())
            }
            Err(error) => {
                let name = config.name.clone();
                log_at!(
                    JAIL_LOG,
                    Level::ERROR,
                    "[{name}] cannot follow its logs with the new settings, keeping the old ones: {error}"
                );
                let old = JailConfig::clone(&self.config);
                self.send_config(old.clone(), false).await;
                match crate::source::spawn(&old, self.sender.clone(), store) {
                    Ok(source) => self.source = source,
                    Err(again) => log_at!(
                        JAIL_LOG,
                        Level::ERROR,
                        "[{name}] cannot follow its logs: {again}"
                    ),
                }
                Err(error)
            }
        }
    }

    /// A setting changed at run time (`set JAIL KEY VALUE`): the owner takes the new
    /// settings at once; the source restarts only when what it reads changed.
    pub(crate) async fn apply_setting(
        &mut self,
        config: JailConfig,
        store: Option<SharedStore>,
    ) -> Result<(), JailStartError> {
        if crate::jail::settings::changes_source(&self.config, &config) {
            return self.reconfigure(config, store, false).await;
        }
        self.send_config(config.clone(), false).await;
        self.config = Arc::new(config);
        Ok(())
    }

    async fn send_config(&self, config: JailConfig, reload: bool) {
        let (reply, wait) = oneshot::channel();
        let message = JailCmd::Reconfigure {
            config: Box::new(config),
            reload,
            reply,
        };
        if crate::jail::send_async(&self.sender, message).await {
            let _ = wait.await;
        }
    }
}
