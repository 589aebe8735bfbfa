//! The control socket: one request per connection, answered from the registry and the
//! jails' owner threads.
//!
//! Every request runs in a task of its own (`startup::serve` spawns it), so a long command
//! never holds up another: `ping`, `version` and the like touch no shared state; commands
//! that read the jails or hand them work (`status`, `banip`, `get`...) run side by side
//! under the registry's read lock; only the commands that start, stop or reconfigure jails
//! (`stop`, `reload`, `set`...) take it alone, and wait for the readers before them.

use std::time::Duration;

use ferroban_protocol::{
    BanTimeEntry, Command, GetKey, JailStatusReply, Reply, Request, Response, SetKey,
};

pub(crate) use crate::control_error::ControlError;
use ferroban_tracker::{BanListEntry, FailId, JailStatus};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;

use crate::jail::settings;
use crate::jail::{ExtraValue, JailCmd};
use crate::log::{self, Level};
use crate::log_at;
use crate::registry::{Registry, RunningJail, SharedRegistry};
use crate::setup::{Backend, JailConfig, UseDns};

/// What the server does after a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Exit,
}

/// The longest request read: a `banip` of about 500,000 addresses (a blocklist).
pub(crate) const MAX_REQUEST: u64 = 8 << 20;

/// How long a client may take to send its request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A request read from a client, with the half of the connection its reply goes to.
pub(crate) enum Incoming {
    Json {
        request: Result<Request, ControlError>,
        reply_to: OwnedWriteHalf,
    },
    Fail2ban(crate::fail2ban_wire::Incoming),
}

/// Reads one JSON request (`fail2ban_wire::serve_connection` chose the dialect). `None`
/// when the client sent nothing in time.
pub(crate) async fn read_request(
    reader: BufReader<OwnedReadHalf>,
    reply_to: OwnedWriteHalf,
) -> Option<Incoming> {
    // Only root can connect, but a runaway client still must not grow our memory.
    let mut reader = reader.take(MAX_REQUEST);
    let mut line = String::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let request = match read {
        Ok(Ok(n)) if n > 0 => {
            serde_json::from_str(&line).map_err(|e| ControlError::MalformedRequest(e.to_string()))
        }
        Ok(Ok(_)) | Err(_) => return None,
        Ok(Err(error)) => Err(ControlError::MalformedRequest(error.to_string())),
    };
    Some(Incoming::Json { request, reply_to })
}

/// Executes a request and sends its reply: from a task of its own, bounded in time, so a
/// client that does not read cannot stall the server either; inline when the server is
/// about to exit, so that `stop` is answered.
pub(crate) async fn answer(incoming: Incoming, registry: &SharedRegistry) -> Flow {
    let (request, reply_to) = match incoming {
        Incoming::Json { request, reply_to } => (request, reply_to),
        Incoming::Fail2ban(incoming) => {
            return crate::fail2ban_wire::answer(incoming, registry).await;
        }
    };
    let (result, flow) = match request {
        Ok(request) => execute(request.command, registry).await,
        Err(error) => (Err(error), Flow::Continue),
    };
    let response = match result {
        Ok(reply) => Response::Ok(reply),
        Err(error) => error.response(),
    };
    let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "null".to_string());
    text.push('\n');
    let mut write = reply_to;
    let send = async move {
        let _ = write.write_all(text.as_bytes()).await;
        let _ = write.flush().await;
    };
    if flow == Flow::Exit {
        send.await;
    } else {
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, send).await;
        });
    }
    flow
}

/// What a command answers: a reply, or why it was refused.
pub(crate) type Answer = Result<Reply, ControlError>;

fn no_jail(name: &str) -> ControlError {
    ControlError::UnknownJail(name.to_string())
}

/// Sends a command to a jail and waits for its reply.
async fn ask<T>(jail: &RunningJail, make: impl FnOnce(oneshot::Sender<T>) -> JailCmd) -> Option<T> {
    let (reply, wait) = oneshot::channel();
    if !crate::jail::send_async(&jail.sender, make(reply)).await {
        return None;
    }
    wait.await.ok()
}

/// The jail's status from its thread, or, when the thread is busy beyond
/// [`crate::jail::STATUS_PATIENCE`] (a long batch of actions), the status it last published.
async fn jail_status(jail: &RunningJail) -> Option<ferroban_tracker::JailStatus> {
    let asked = ask(jail, |reply| JailCmd::Status { reply });
    match tokio::time::timeout(crate::jail::STATUS_PATIENCE, asked).await {
        Ok(status) => status,
        Err(_busy) => Some(jail.board.read()),
    }
}

fn ids(words: &[String]) -> Vec<FailId> {
    words.iter().map(|w| FailId::parse(w)).collect()
}

/// A command that takes longer than this says in the log when it is done: its client may
/// have stopped waiting for the answer.
const SLOW_COMMAND: Duration = Duration::from_secs(2);

pub(crate) async fn execute(command: Command, registry: &SharedRegistry) -> (Answer, Flow) {
    log_at!(crate::SERVER_LOG, Level::DEBUG, "command {command:?}");
    let started = std::time::Instant::now();
    let name = command_name(&command);
    let result = match Access::of(&command) {
        Access::None => (execute_alone(command).await, Flow::Continue),
        Access::Shared => {
            let registry = registry.read().await;
            (execute_shared(command, &registry).await, Flow::Continue)
        }
        Access::Exclusive => execute_exclusive(command, &mut *registry.write().await).await,
    };
    let took = started.elapsed();
    if took >= SLOW_COMMAND {
        log_at!(
            crate::SERVER_LOG,
            Level::INFO,
            "command '{name}' finished after {:.1} s",
            took.as_secs_f64()
        );
    }
    result
}

/// What a command needs of the registry.
enum Access {
    None,
    Shared,
    Exclusive,
}

impl Access {
    fn of(command: &Command) -> Access {
        match command {
            Command::Ping
            | Command::Version
            | Command::Metrics
            | Command::Echo { .. }
            | Command::FlushLogs
            | Command::ServerStatus
            | Command::ClusterStatus
            | Command::Sleep { .. } => Access::None,
            Command::Stop
            | Command::Reload { .. }
            | Command::StopJail { .. }
            | Command::SetServer { .. }
            | Command::SetJail { .. }
            | Command::SetBanTimeExtra { .. } => Access::Exclusive,
            _ => Access::Shared,
        }
    }
}

/// The command's first word as a client typed it, for the log.
fn command_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The commands that need nothing of the registry.
async fn execute_alone(command: Command) -> Answer {
    match command {
        Command::Ping => Ok(Reply::Text("pong".into())),
        Command::Version => Ok(Reply::Text(env!("CARGO_PKG_VERSION").into())),
        Command::Metrics => Ok(Reply::Text(crate::metrics::encode())),
        Command::Echo { words } => Ok(Reply::List(words)),
        Command::FlushLogs => {
            let (target, level) = log::current();
            match log::configure(&target, level) {
                Ok(()) => Ok(Reply::Text(flush_result(&target).into())),
                Err(error) => Err(ControlError::Reopen { target, error }),
            }
        }
        Command::ServerStatus => Ok(Reply::Text("Server ready".into())),
        Command::ClusterStatus => crate::cluster::status().await,
        Command::Sleep { millis } => {
            // As in fail2ban, the server itself waits: this is what scripts use it for.
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok(Reply::None)
        }
        _ => Err(ControlError::InvalidCommand),
    }
}

/// The commands that read the jails or hand them work, side by side.
async fn execute_shared(command: Command, registry: &Registry) -> Answer {
    match command {
        Command::TestClockAdvance { millis } => {
            let offset = crate::clock::advance(millis)?;
            registry.wake_jails().await;
            Ok(Reply::Text(format!("clock advanced, {offset} s ahead")))
        }
        Command::Status => Ok(Reply::Status {
            jails: registry.jails.keys().cloned().collect(),
        }),
        // fail2ban starts a jail that `add` created; every jail ferroban knows runs already
        // and a stopped one is gone until a reload, as in fail2ban.
        Command::StartJail { jail } if registry.jails.contains_key(&jail) => Ok(Reply::None),
        Command::StartJail { jail } => Err(no_jail(&jail)),
        Command::Unban { ids: words } => Ok(Reply::Number(
            unban_everywhere(registry, Some(ids(&words))).await,
        )),
        Command::UnbanAll => Ok(Reply::Number(unban_everywhere(registry, None).await)),
        Command::Banned { ids: words } => Ok(banned(registry, &words).await),
        Command::GetServer { key } => Ok(server_value(registry, &key)),
        command => match command.jail().map(str::to_string) {
            Some(name) => match registry.jails.get(&name) {
                Some(jail) => jail_command(jail, command).await,
                None => Err(no_jail(&name)),
            },
            None => Err(ControlError::InvalidCommand),
        },
    }
}

/// The commands that start, stop or reconfigure jails, one at a time.
async fn execute_exclusive(command: Command, registry: &mut Registry) -> (Answer, Flow) {
    let answer = match command {
        Command::Stop => {
            registry.stop_all().await;
            return (Ok(Reply::None), Flow::Exit);
        }
        Command::Reload {
            jail,
            unban,
            restart,
        } => {
            if restart {
                restart_jails(registry, jail.as_deref(), unban).await;
            }
            match registry.reload(jail.as_deref(), unban).await {
                Ok(()) => Ok(Reply::Text("OK".into())),
                Err(error) => Err(error.into()),
            }
        }
        Command::SetServer { key, value } => set_server(registry, &key, &value),
        Command::StopJail { jail } => match registry.jails.contains_key(&jail) {
            true => {
                registry.stop_jail(&jail).await;
                Ok(Reply::None)
            }
            false => Err(no_jail(&jail)),
        },
        Command::SetJail { jail, key, args } => set_jail(registry, &jail, key, &args).await,
        Command::SetBanTimeExtra {
            jail,
            option,
            value,
        } => set_ban_time_extra(registry, &jail, &option, &value).await,
        _ => Err(ControlError::InvalidCommand),
    };
    (answer, Flow::Continue)
}

/// `set JAIL KEY VALUE...`: the jail takes the changed setting at once, and the reply
/// shows it as `get JAIL KEY` would (fail2ban answers a `set` with its `get`).
async fn set_jail(registry: &mut Registry, name: &str, key: SetKey, args: &[String]) -> Answer {
    let store = registry.store.clone();
    let Some(jail) = registry.jails.get_mut(name) else {
        return Err(no_jail(name));
    };
    let mut current = JailConfig::clone(&jail.config);
    // `addignoreip` changes live in the owner: carry them into the new settings.
    if let Some(list) = ask(jail, |reply| JailCmd::IgnoreList { reply }).await {
        current.ignore_ip = list;
    }
    let changed = settings::apply(&current, key, args)?;
    jail.apply_setting(changed, store).await?;
    get_jail_value(jail, key.shown()).await
}

/// `set JAIL bantime.OPTION VALUE`: kept as fail2ban keeps it, and the ban-time increment
/// made again from it at once; answered as `get JAIL bantime.OPTION`.
async fn set_ban_time_extra(
    registry: &mut Registry,
    name: &str,
    option: &str,
    value: &str,
) -> Answer {
    let store = registry.store.clone();
    let Some(jail) = registry.jails.get_mut(name) else {
        return Err(no_jail(name));
    };
    let mut changed = JailConfig::clone(&jail.config);
    changed.policy.increment = changed.ban_time_extra.set(option, value)?;
    jail.apply_setting(changed, store).await?;
    Ok(ban_time_extra(&jail.config, option))
}

fn ban_time_extra(config: &JailConfig, option: &str) -> Reply {
    match config.ban_time_extra.get(option) {
        None => Reply::None,
        Some(ExtraValue::Bool(flag)) => Reply::Bool(*flag),
        Some(ExtraValue::Seconds(seconds)) => Reply::Number(*seconds),
        Some(ExtraValue::Text(text)) => Reply::Text(text.clone()),
    }
}

/// `unban IP...` (or `--all` for `None`) in every jail: how many bans were lifted.
async fn unban_everywhere(registry: &Registry, ids: Option<Vec<FailId>>) -> i64 {
    let mut total = 0;
    for jail in registry.jails.values() {
        let count = match &ids {
            Some(ids) => {
                let ids = ids.clone();
                ask(jail, |reply| JailCmd::UnbanIp {
                    ids,
                    report_absent: false,
                    reply,
                })
                .await
                .and_then(Result::ok)
            }
            None => ask(jail, |reply| JailCmd::UnbanAll { reply }).await,
        };
        total += count.unwrap_or(0);
    }
    total as i64
}

/// fail2ban's answers to `flushlogs`: a file is reopened, other targets are only flushed.
fn flush_result(target: &str) -> &'static str {
    match target.to_ascii_uppercase().as_str() {
        "STDOUT" | "STDERR" | "SYSLOG" | "SYSTEMD-JOURNAL" => "flushed",
        _ => "rolled over",
    }
}

async fn banned(registry: &Registry, words: &[String]) -> Reply {
    let mut by_jail = Vec::new();
    for (name, jail) in &registry.jails {
        let list = ask(jail, |reply| JailCmd::BanList { reply })
            .await
            .unwrap_or_default();
        by_jail.push((
            name.clone(),
            list.into_iter()
                .map(|e| e.id.to_string())
                .collect::<Vec<_>>(),
        ));
    }
    if words.is_empty() {
        return Reply::BannedByJail(by_jail);
    }
    let wanted = ids(words);
    let per_id = wanted
        .iter()
        .map(|id| {
            let text = id.to_string();
            by_jail
                .iter()
                .filter(|(_, ids)| ids.contains(&text))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .collect();
    Reply::JailsOfIds(per_id)
}

fn server_value(registry: &Registry, key: &str) -> Reply {
    let (target, level) = log::current();
    match key {
        "loglevel" => Reply::Text(level.name()),
        "logtarget" => Reply::Text(target),
        "dbfile" => registry
            .settings
            .dbfile
            .clone()
            .map_or(Reply::None, Reply::Text),
        "dbpurgeage" => match registry.settings.dbfile {
            Some(_) => Reply::Number(registry.settings.dbpurgeage),
            None => Reply::None,
        },
        "dbmaxmatches" => match registry.settings.dbfile {
            Some(_) => Reply::Number(registry.settings.dbmaxmatches as i64),
            None => Reply::None,
        },
        "syslogsocket" => Reply::Text(log::syslog_socket()),
        _ => Reply::Text("auto".into()),
    }
}

/// `restart [--unban] [JAIL]` (`reload --restart`): the jails stop, their actions too
/// (the firewall forgets the bans), and the reload that follows starts them again from
/// the files, restoring the bans kept in the database unless `--unban` lifted them.
async fn restart_jails(registry: &mut Registry, only: Option<&str>, unban: bool) {
    let names: Vec<String> = registry
        .jails
        .keys()
        .filter(|name| only.is_none_or(|only| only == name.as_str()))
        .cloned()
        .collect();
    for name in names {
        if unban && let Some(jail) = registry.jails.get(&name) {
            ask(jail, |reply| JailCmd::UnbanAll { reply }).await;
        }
        registry.stop_jail(&name).await;
    }
}

/// `set loglevel|logtarget|syslogsocket|dbfile|dbpurgeage|dbmaxmatches VALUE`: the new
/// value in effect at once, answered as `get KEY`; the database settings answer `None`
/// without a database, as in fail2ban.
fn set_server(registry: &mut Registry, key: &str, value: &str) -> Answer {
    match key {
        "loglevel" => {
            let level =
                log::Level::parse(value).ok_or_else(|| ControlError::LogLevel(value.into()))?;
            let (target, _) = log::current();
            log::configure(&target, level)
                .map_err(|error| ControlError::Reopen { target, error })?;
            // fail2ban answers the level as it was given.
            Ok(Reply::Text(value.to_string()))
        }
        "logtarget" => {
            let (_, level) = log::current();
            // fail2ban keeps logging where it did when the new target cannot be opened; a
            // file in a directory that does not exist cannot (start-up creates it).
            let missing_directory = std::path::Path::new(value)
                .parent()
                .is_some_and(|dir| value.starts_with('/') && !dir.exists());
            if missing_directory {
                return Err(ControlError::LogTarget);
            }
            log::configure(value, level).map_err(|_| ControlError::LogTarget)?;
            Ok(server_value(registry, "logtarget"))
        }
        "syslogsocket" => {
            log::set_syslog_socket(value);
            Ok(server_value(registry, "syslogsocket"))
        }
        "dbfile" => set_dbfile(registry, value),
        _ if registry.settings.dbfile.is_none() => Ok(Reply::None),
        "dbpurgeage" => {
            let age =
                ferroban_config::str_to_seconds(value).map_err(|error| ControlError::Time {
                    value: value.into(),
                    error,
                })?;
            registry.settings.dbpurgeage = age;
            with_store(registry, |store| {
                store.set_purge_age(Duration::from_secs(age.max(0) as u64));
            });
            Ok(Reply::Number(age))
        }
        _ => {
            let max = value
                .trim()
                .parse::<usize>()
                .map_err(|_| ControlError::NotAnInteger(value.into()))?;
            registry.settings.dbmaxmatches = max;
            with_store(registry, |store| store.set_max_matches(max));
            Ok(Reply::Number(max as i64))
        }
    }
}

/// `set dbfile FILE|None`: as fail2ban, only while no jail runs (the jails write to it).
fn set_dbfile(registry: &mut Registry, value: &str) -> Answer {
    if !registry.jails.is_empty() {
        return Err(ControlError::DatabaseInUse);
    }
    let mut settings = registry.settings.clone();
    settings.dbfile = Some(value.to_string()).filter(|v| !v.eq_ignore_ascii_case("none"));
    registry.store =
        crate::startup::open_store(&settings).map_err(|error| ControlError::Database {
            path: value.into(),
            error: error.to_string(),
        })?;
    registry.settings = settings;
    Ok(server_value(registry, "dbfile"))
}

fn with_store(registry: &Registry, change: impl FnOnce(&mut ferroban_store::Store)) {
    if let Some(store) = &registry.store {
        change(
            &mut store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
}

async fn jail_command(jail: &RunningJail, command: Command) -> Answer {
    let answer = match command {
        Command::StatusJail { .. } => jail_status(jail)
            .await
            .map(|status| Ok(Reply::JailStatus(status_reply(jail, status)))),
        Command::BanIp { ids: words, .. } => {
            let ids = ids(&words);
            ask(jail, |reply| JailCmd::BanIp { ids, reply })
                .await
                .map(|count| Ok(Reply::Number(count as i64)))
        }
        Command::Attempt { id, matches, .. } => {
            let id = FailId::parse(&id);
            ask(jail, |reply| JailCmd::Attempt { id, matches, reply })
                .await
                .map(|count| Ok(Reply::Number(count as i64)))
        }
        Command::UnbanIp {
            ids: words,
            report_absent,
            ..
        } => {
            let ids = ids(&words);
            ask(jail, |reply| JailCmd::UnbanIp {
                ids,
                report_absent,
                reply,
            })
            .await
            .map(|answer| {
                answer
                    .map(|count| Reply::Number(count as i64))
                    .map_err(ControlError::from)
            })
        }
        Command::GetBanned { ids: words, .. } => ask(jail, |reply| JailCmd::BanList { reply })
            .await
            .map(|list| Ok(banned_in_jail(list, &words))),
        Command::GetBanIp {
            with_time,
            separator,
            ..
        } => ask(jail, |reply| JailCmd::BanList { reply })
            .await
            .map(|list| Ok(ban_list_reply(list, with_time, separator))),
        Command::AddIgnoreIp { ids: entries, .. } => change_ignore(jail, true, entries).await,
        Command::DelIgnoreIp { ids: entries, .. } => change_ignore(jail, false, entries).await,
        Command::GetJail { key, .. } => return get_jail_value(jail, key).await,
        Command::GetBanTimeExtra { option, .. } => Some(Ok(ban_time_extra(&jail.config, &option))),
        Command::SetIdle { value, .. } => {
            let idle = match value.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ControlError::IdleOption),
            };
            ask(jail, |reply| JailCmd::SetIdle { idle, reply })
                .await
                .map(|idle| Ok(Reply::Text(if idle { "True" } else { "False" }.into())))
        }
        _ => return Err(ControlError::InvalidCommand),
    };
    answer.unwrap_or_else(|| Err(ControlError::JailNotRunning(jail.config.name.clone())))
}

async fn change_ignore(jail: &RunningJail, add: bool, entries: Vec<String>) -> Option<Answer> {
    ask(jail, |reply| JailCmd::ChangeIgnore {
        add,
        entries,
        reply,
    })
    .await
    .map(|list| Ok(Reply::List(list)))
}

/// fail2ban's `Actions.getBanned`: the list without ids, 1 or 0 for one id, a list of
/// them for several.
fn banned_in_jail(list: Vec<BanListEntry>, words: &[String]) -> Reply {
    let banned: Vec<String> = list.into_iter().map(|e| e.id.to_string()).collect();
    let flag = |id: &FailId| i64::from(banned.contains(&id.to_string()));
    match ids(words).as_slice() {
        [] => Reply::List(banned),
        [one] => Reply::Number(flag(one)),
        many => Reply::Numbers(many.iter().map(flag).collect()),
    }
}

/// `get JAIL banip [--with-time|SEPARATOR]`.
fn ban_list_reply(list: Vec<BanListEntry>, with_time: bool, separator: Option<String>) -> Reply {
    if with_time {
        let entries = list
            .into_iter()
            .map(|entry| BanTimeEntry {
                id: entry.id.to_string(),
                time: entry.time,
                ban_time: entry.ban_time.as_seconds(),
                end: entry.end,
            })
            .collect();
        return Reply::BanTimes(entries);
    }
    let ids: Vec<String> = list.into_iter().map(|e| e.id.to_string()).collect();
    match separator {
        Some(separator) => Reply::Text(ids.join(&separator)),
        None => Reply::List(ids),
    }
}

fn status_reply(jail: &RunningJail, status: JailStatus) -> JailStatusReply {
    let (files, journal_matches) = match &jail.config.backend {
        Backend::Journal { matches } => (Vec::new(), Some(matches.clone())),
        Backend::Files { .. } => (
            jail.source.as_ref().map(|s| s.files()).unwrap_or_default(),
            None,
        ),
    };
    JailStatusReply {
        jail: jail.config.name.clone(),
        currently_failed: status.currently_failed as u64,
        total_failed: status.total_failed,
        files,
        journal_matches,
        currently_banned: status.currently_banned as u64,
        total_banned: status.total_banned,
        banned: status.banned.iter().map(ToString::to_string).collect(),
    }
}

async fn get_jail_value(jail: &RunningJail, key: GetKey) -> Answer {
    let config = &jail.config;
    let python_bool = |b: bool| Reply::Text(if b { "True" } else { "False" }.into());
    let reply = match key {
        GetKey::Bantime => Reply::Number(config.policy.ban_time.as_seconds()),
        GetKey::Findtime => Reply::Number(config.policy.find_time),
        GetKey::Maxretry => Reply::Number(i64::from(config.policy.max_retry)),
        GetKey::Maxmatches => Reply::Number(config.policy.max_matches as i64),
        GetKey::Logpath => Reply::List(match &jail.source {
            Some(source) => source.files(),
            None => Vec::new(),
        }),
        GetKey::Ignoreip => match ask(jail, |reply| JailCmd::IgnoreList { reply }).await {
            Some(list) => Reply::List(list),
            None => Reply::List(Vec::new()),
        },
        GetKey::Ignoreself => python_bool(config.ignore_self),
        GetKey::Ignorecommand => Reply::Text(
            config
                .ignore_command
                .as_ref()
                .map(|c| c.command().to_owned())
                .unwrap_or_default(),
        ),
        GetKey::Usedns => Reply::Text(config.usedns.as_str().into()),
        GetKey::Failregex => Reply::List(expanded(config, |f| &f.failregex)),
        GetKey::Ignoreregex => Reply::List(expanded(config, |f| &f.ignoreregex)),
        GetKey::Actions => Reply::List(
            config
                .actions
                .iter()
                .map(|a| match a {
                    ferroban_actions::ActionDef::Command(def) => def.name.clone(),
                    ferroban_actions::ActionDef::Python { name, .. } => name.clone(),
                })
                .collect(),
        ),
        GetKey::Journalmatch => match &config.backend {
            Backend::Journal { matches } => Reply::List(matches.clone()),
            Backend::Files { .. } => Reply::List(Vec::new()),
        },
        GetKey::Logencoding => Reply::Text(log_encoding(config)),
        GetKey::Maxlines => {
            Reply::Number(config.filter.as_ref().map_or(1, |f| f.maxlines.max(1)) as i64)
        }
        GetKey::Datepattern => date_pattern(
            config
                .filter
                .as_ref()
                .and_then(|f| f.datepattern.as_deref()),
        ),
        GetKey::Prefregex => Reply::Text(
            config
                .filter
                .as_ref()
                .and_then(|f| f.prefregex.as_deref())
                .map(|regex| resolve(config, regex))
                .unwrap_or_default(),
        ),
        GetKey::Ignorecache => {
            config
                .ignore_cache
                .as_ref()
                .map_or(Reply::None, |cache| Reply::IgnoreCache {
                    key: cache.key.clone(),
                    max_count: cache.max_count,
                    max_time: cache.max_time,
                })
        }
        GetKey::Logtimezone => config
            .filter
            .as_ref()
            .and_then(|f| f.logtimezone.clone())
            .map_or(Reply::None, Reply::Text),
    };
    Ok(reply)
}

/// A regex with its tags expanded, as fail2ban prints it (`<HOST>` as its groups), as
/// the filter expanded it: a run-time `usedns` does not expand the regexes again.
fn resolve(config: &JailConfig, regex: &str) -> String {
    let use_dns_no = config
        .filter
        .as_ref()
        .and_then(|f| f.usedns.as_deref())
        .and_then(UseDns::parse)
        == Some(UseDns::No);
    ferroban_filter::expand_tags(regex, use_dns_no)
}

fn expanded(
    config: &JailConfig,
    pick: fn(&ferroban_filter::FilterDefinition) -> &Vec<String>,
) -> Vec<String> {
    config
        .filter
        .as_ref()
        .map(|f| pick(f).iter().map(|regex| resolve(config, regex)).collect())
        .unwrap_or_default()
}

/// fail2ban reads `auto` as the locale's encoding, which it then reports.
fn log_encoding(config: &JailConfig) -> String {
    match config.logencoding.as_deref() {
        None => "UTF-8".into(),
        Some(label) if label.eq_ignore_ascii_case("auto") => "UTF-8".into(),
        Some(label) => label.into(),
    }
}

/// fail2ban's `getDatePattern`: `(pattern, name)` for one template of a pattern,
/// `(None, name)` for a named template (`Epoch`, `TAI64N`, `ISO8601`) or the defaults.
fn date_pattern(pattern: Option<&str>) -> Reply {
    const NAMED: [&str; 4] = ["EPOCH", "LEPOCH", "TAI64N", "ISO8601"];
    let detector = pattern.and_then(|p| ferroban_date::DateDetector::from_pattern(p).ok());
    let name = detector.map_or_else(|| "Default Detectors".to_string(), |d| d.description());
    let pattern = pattern
        .filter(|p| !NAMED.contains(&p.trim().to_ascii_uppercase().as_str()))
        .filter(|_| name != "Default Detectors")
        .map(str::to_string);
    Reply::DatePattern { pattern, name }
}
