//! Log sources for ferroban: turns log files and the systemd journal into a
//! stream of text lines for the filter, as fail2ban's `FileFilter`,
//! `FileContainer`, `filterpoll`/`filterpyinotify` and `filtersystemd` do.
//!
//! Owns: open file descriptors of the logs, read positions, partial lines,
//! and a `journalctl` child process. Receives: `logpath` patterns with
//! `head`/`tail`, `logencoding`, saved [`Checkpoint`]s, and `journalmatch`.
//! Emits: [`Line`]s through a caller's callback, [`JournalEntry`]s through a
//! channel-backed receiver, and [`Checkpoint`]s / journal cursors to persist.
//!
//! Everything here is synchronous: the daemon gives each source a thread,
//! blocks in [`Watcher::wait`] (inotify, with a polling fallback) and then
//! calls [`FileSource::poll_lines`] or [`FileTailer::poll_lines`]; a journal
//! thread blocks in [`JournalSource::recv_timeout`].
//!
//! Guarantees of the file tailer: every line appended to a followed file is
//! delivered once, across rename+create and copytruncate rotation and
//! delete+recreate, except lines written to a file that came and went between
//! two polls, and lines written before a truncation that were not read before
//! it (nobody can read those). Lines are bounded by `max_line_len`; a line
//! without its newline is held until the newline arrives.

mod checkpoint;
mod descriptors;
mod encoding;
mod error;
mod files;
mod journal;
mod lines;
mod tailer;
mod watcher;

pub use checkpoint::Checkpoint;
pub use descriptors::DescriptorBudget;
pub use encoding::Encoding;
pub use error::SourceError;
pub use files::{FileSource, FileSourceOptions, LogPathSpec, PollOutcome};
pub use journal::{
    JournalEntry, JournalError, JournalMatch, JournalOptions, JournalSource, JournalStart,
    JournalStats, format_journal_entry,
};
pub use lines::LongLinePolicy;
pub use tailer::{
    DEFAULT_MAX_LINE_LEN, DEFAULT_ROTATE_GRACE, FileTailer, Line, Start, TailerOptions, TailerStats,
};
pub use watcher::{Wake, WatchMode, WatchTarget, Watcher, WatcherWaker};

#[cfg(test)]
mod tests {
    /// The daemon moves each source into its own thread.
    #[test]
    fn sources_can_move_to_their_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<crate::FileTailer>();
        assert_send::<crate::FileSource>();
        assert_send::<crate::Watcher>();
        assert_send::<crate::WatcherWaker>();
        assert_send::<crate::JournalSource>();
    }
}
