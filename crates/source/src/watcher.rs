//! Waking a source's thread when its logs change.
//!
//! We use the `notify` crate (its inotify backend) rather than the raw
//! `inotify` crate: notify runs the event loop on its own thread with a mio
//! waker, so dropping the watcher shuts it down cleanly, and events arrive
//! through a callback we turn into a channel message that `recv_timeout` can
//! wait on together with our own wake-ups. With the raw `inotify` crate we
//! would write that thread, its fd polling and its shutdown ourselves.
//!
//! Parent directories are watched, not the files: a directory watch reports
//! writes to the files in it and also their creation, renaming and deletion,
//! which is what rotation and waited-for files need. Whatever inotify misses
//! (a directory that does not exist yet, a watch limit, a deeply nested glob)
//! is still found because [`Watcher::wait`] never sleeps longer than the
//! poll interval: inotify only makes the source react sooner.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::Watcher as _;

/// Something a source wants to be woken for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WatchTarget {
    /// A log file (which may not exist yet): changes to it, its creation,
    /// removal or replacement.
    File(PathBuf),
    /// Any change among a directory's entries (new glob matches).
    Dir(PathBuf),
}

/// How changes are noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    Inotify,
    /// Only by waking every poll interval (fail2ban's `backend = polling`).
    Polling,
}

/// Why [`Watcher::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A watched file or directory changed.
    Changed,
    /// The poll interval passed without an event: poll anyway.
    Timeout,
    /// [`WatcherWaker::wake`] was called (shutdown, reload).
    Woken,
}

#[derive(Debug)]
enum Signal {
    Changed,
    Woken,
}

/// The paths events are reported for; shared with notify's thread.
#[derive(Debug, Default)]
struct Interest {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Interest {
    fn is_relevant(&self, path: &Path) -> bool {
        self.files.contains(path)
            || self.dirs.contains(path)
            || path.parent().is_some_and(|dir| self.dirs.contains(dir))
    }
}

/// Sends a [`Wake::Woken`] to a waiting [`Watcher`] from another thread.
#[derive(Clone, Debug)]
pub struct WatcherWaker {
    sender: Sender<Signal>,
}

impl WatcherWaker {
    pub fn wake(&self) {
        // The watcher being gone means nobody waits any more.
        let _ = self.sender.send(Signal::Woken);
    }
}

/// Blocks a source's thread until its logs change or the poll interval ends.
pub struct Watcher {
    backend: Option<notify::RecommendedWatcher>,
    interest: Arc<Mutex<Interest>>,
    watched_dirs: HashSet<PathBuf>,
    sender: Sender<Signal>,
    receiver: Receiver<Signal>,
    poll_interval: Duration,
    /// Why inotify could not be set up or a directory not watched (other than its
    /// absence), not yet taken by [`Watcher::take_problem`].
    problem: Option<String>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Watcher")
            .field("mode", &self.mode())
            .field("watched_dirs", &self.watched_dirs)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl Watcher {
    /// A watcher using inotify, falling back to polling when inotify cannot
    /// be set up (e.g. `fs.inotify.max_user_instances` reached).
    pub fn new(poll_interval: Duration) -> Watcher {
        let mut watcher = Watcher::polling(poll_interval);
        let interest = Arc::clone(&watcher.interest);
        let sender = watcher.sender.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            let relevant = match event {
                // Opening or reading a file changes nothing in it. Those events are also
                // our own: a log path that became a directory is opened, refused and
                // closed on every look, and waking on that was a busy loop.
                Ok(event) if is_only_a_look(&event.kind) => false,
                Ok(event) => {
                    let interest = interest.lock().unwrap_or_else(PoisonError::into_inner);
                    event.need_rescan() || event.paths.iter().any(|p| interest.is_relevant(p))
                }
                // An error (e.g. queue overflow) may hide a change.
                Err(_) => true,
            };
            if relevant {
                let _ = sender.send(Signal::Changed);
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(backend) => watcher.backend = Some(backend),
            Err(error) => {
                watcher.problem = Some(format!(
                    "inotify cannot be set up ({error}): looking for changes every {} s",
                    poll_interval.as_secs()
                ));
            }
        }
        watcher
    }

    /// A watcher that only wakes every `poll_interval`.
    pub fn polling(poll_interval: Duration) -> Watcher {
        let (sender, receiver) = mpsc::channel();
        Watcher {
            backend: None,
            interest: Arc::default(),
            watched_dirs: HashSet::new(),
            sender,
            receiver,
            poll_interval,
            problem: None,
        }
    }

    pub fn mode(&self) -> WatchMode {
        if self.backend.is_some() {
            WatchMode::Inotify
        } else {
            WatchMode::Polling
        }
    }

    /// A handle to wake [`Watcher::wait`] from another thread.
    pub fn waker(&self) -> WatcherWaker {
        WatcherWaker {
            sender: self.sender.clone(),
        }
    }

    /// Adds targets (already known ones are ignored). Call it again after
    /// each poll with the source's current targets: directories that could
    /// not be watched before (not existing yet) are retried.
    pub fn watch(&mut self, targets: impl IntoIterator<Item = WatchTarget>) {
        let mut dirs = Vec::new();
        {
            let mut interest = self.interest.lock().unwrap_or_else(PoisonError::into_inner);
            for target in targets {
                match target {
                    WatchTarget::File(path) => {
                        dirs.push(parent_dir(&path));
                        interest.files.insert(path);
                    }
                    WatchTarget::Dir(dir) => {
                        dirs.push(dir.clone());
                        interest.dirs.insert(dir);
                    }
                }
            }
        }
        for dir in dirs {
            self.watch_dir(dir);
        }
    }

    fn watch_dir(&mut self, dir: PathBuf) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        if self.watched_dirs.contains(&dir) {
            return;
        }
        // A failure (missing directory, watch limit, out of descriptors) leaves polling
        // to it; all but a missing directory are worth a word.
        match backend.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched_dirs.insert(dir);
            }
            Err(error) if matches!(error.kind, notify::ErrorKind::PathNotFound) => {}
            Err(error) => {
                let missing = matches!(&error.kind, notify::ErrorKind::Io(io)
                    if io.kind() == std::io::ErrorKind::NotFound);
                if !missing {
                    self.problem = Some(format!(
                        "cannot watch {} ({error}): looking for changes there every {} s",
                        dir.display(),
                        self.poll_interval.as_secs()
                    ));
                }
            }
        }
    }

    /// What went wrong with inotify since the last call, for the log.
    pub fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    /// Waits for a change, a wake-up, or at most the poll interval. Events
    /// that queued up meanwhile are all consumed: one poll covers them.
    pub fn wait(&mut self) -> Wake {
        self.wait_at_most(self.poll_interval)
    }

    /// [`Watcher::wait`] with a shorter limit for this call.
    pub fn wait_at_most(&mut self, limit: Duration) -> Wake {
        let first = match self.receiver.recv_timeout(limit.min(self.poll_interval)) {
            Ok(signal) => signal,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                return Wake::Timeout;
            }
        };
        let mut wake = wake_of(&first);
        while let Ok(signal) = self.receiver.try_recv() {
            if matches!(signal, Signal::Woken) {
                wake = Wake::Woken;
            }
        }
        wake
    }
}

fn wake_of(signal: &Signal) -> Wake {
    match signal {
        Signal::Changed => Wake::Changed,
        Signal::Woken => Wake::Woken,
    }
}

/// An event that only says a file was opened, read or closed without writing.
fn is_only_a_look(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => true,
        _ => false,
    }
}

/// The directory holding `path`; `.` for a bare file name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn polling_watcher_times_out() {
        let mut watcher = Watcher::polling(Duration::from_millis(20));
        let started = Instant::now();
        assert_eq!(watcher.wait(), Wake::Timeout);
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn waker_interrupts_wait() {
        let mut watcher = Watcher::polling(Duration::from_secs(30));
        let waker = watcher.waker();
        let thread = std::thread::spawn(move || waker.wake());
        assert_eq!(watcher.wait(), Wake::Woken);
        thread.join().unwrap();
    }

    #[test]
    fn inotify_wakes_on_append_creation_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        let mut watcher = Watcher::new(Duration::from_secs(20));
        if watcher.mode() != WatchMode::Inotify {
            println!("skipping: inotify is not available here");
            return;
        }
        watcher.watch([WatchTarget::File(path.clone())]);
        std::fs::write(dir.path().join("unrelated.log"), "x\n").unwrap();
        assert_eq!(
            watcher.wait_at_most(Duration::from_millis(300)),
            Wake::Timeout
        );
        std::fs::write(&path, "created\n").unwrap();
        assert_eq!(watcher.wait(), Wake::Changed);
        while watcher.wait_at_most(Duration::from_millis(100)) != Wake::Timeout {}
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, b"appended\n").unwrap();
        assert_eq!(watcher.wait(), Wake::Changed);
        std::fs::rename(&path, dir.path().join("later.log.1")).unwrap();
        assert_eq!(watcher.wait(), Wake::Changed);
    }
}
