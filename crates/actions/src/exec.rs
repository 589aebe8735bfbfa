//! Running one prepared command through `/bin/sh -c` with a timeout.
//!
//! The calling thread reads the command's pipes itself, waking on their data or their end
//! (`poll`), so a short command costs its fork and exec and nothing more: no reader
//! threads, no sleep before the exit is noticed. A ban is a command, so this is on the path
//! from a log line to the firewall rule.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::dynamic::PreparedCommand;
use crate::error::ActionError;

/// How long a command gets after SIGTERM before the group is killed.
const TERM_GRACE: Duration = Duration::from_millis(500);
/// Longest sleep between two looks at a running command whose pipes are quiet or closed.
const MAX_PAUSE: Duration = Duration::from_millis(10);

/// What to call things in error messages.
pub(crate) struct Label<'a> {
    pub action: &'a str,
    pub operation: &'a str,
}

/// Runs `command` in its own process group, with `base_env` added to the
/// inherited environment (the command's own variables win); on timeout the
/// whole group (the shell and everything it started) is terminated, then
/// killed. Returns the standard output.
pub(crate) fn run(
    command: &PreparedCommand,
    base_env: &BTreeMap<String, String>,
    timeout: Duration,
    label: &Label<'_>,
) -> Result<String, ActionError> {
    let finished = run_to_exit(command, base_env, timeout, label)?;
    if finished.status.success() {
        Ok(finished.stdout)
    } else {
        Err(finished.failure(label))
    }
}

/// A command that ran to its end.
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The error of a command whose exit status means failure.
    pub fn failure(&self, label: &Label<'_>) -> ActionError {
        ActionError::CommandFailed {
            action: label.action.to_owned(),
            operation: label.operation.to_owned(),
            status: describe(self.status),
            stderr: self.stderr.clone(),
        }
    }
}

/// As [`run`], but any exit status is an answer: for commands whose status
/// means something else than success (`ignorecommand`: 0 ignore, 1 do not).
pub(crate) fn run_to_exit(
    command: &PreparedCommand,
    base_env: &BTreeMap<String, String>,
    timeout: Duration,
    label: &Label<'_>,
) -> Result<Finished, ActionError> {
    let mut child = spawn(command, base_env).map_err(|source| spawn_error(label, source))?;
    let deadline = Instant::now() + timeout;
    let mut stdout = Pipe::new(child.stdout.take());
    let mut stderr = Pipe::new(child.stderr.take());
    let status = wait_reading(&mut child, &mut stdout, &mut stderr, deadline)
        .map_err(|source| spawn_error(label, source))?;
    let Some(status) = status else {
        terminate_group(&mut child);
        return Err(ActionError::Timeout {
            action: label.action.to_owned(),
            operation: label.operation.to_owned(),
            timeout,
        });
    };
    // Background children of the script (`cmd &`) may keep the pipes open
    // for long; what the script itself wrote is in them by now, so read
    // only briefly for the end of the pipes.
    read_until(&mut stdout, &mut stderr, Instant::now() + TERM_GRACE)
        .map_err(|source| spawn_error(label, source))?;
    Ok(Finished {
        status,
        stdout: stdout.text(),
        stderr: stderr.text(),
    })
}

fn spawn_error(label: &Label<'_>, source: std::io::Error) -> ActionError {
    ActionError::Spawn {
        action: label.action.to_owned(),
        operation: label.operation.to_owned(),
        source,
    }
}

fn spawn(command: &PreparedCommand, base_env: &BTreeMap<String, String>) -> std::io::Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(&command.script)
        .envs(base_env)
        .envs(&command.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// One of the command's output pipes and what has been read from it.
struct Pipe<R> {
    /// None once it reached its end.
    reader: Option<R>,
    bytes: Vec<u8>,
}

impl<R: Read + AsFd> Pipe<R> {
    fn new(reader: Option<R>) -> Self {
        Pipe {
            reader,
            bytes: Vec::new(),
        }
    }

    /// Reads what `poll` said is there (data, or the end).
    fn read_ready(&mut self) -> std::io::Result<()> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        let mut buffer = [0_u8; 8192];
        match reader.read(&mut buffer) {
            Ok(0) => self.reader = None,
            Ok(read) => self.bytes.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        Ok(())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Waits up to `limit` for either pipe to have data or reach its end, and reads it.
/// False when both pipes are closed already (nothing to wait for).
fn poll_pipes<A: Read + AsFd, B: Read + AsFd>(
    a: &mut Pipe<A>,
    b: &mut Pipe<B>,
    limit: Duration,
) -> std::io::Result<bool> {
    let millis = u16::try_from(limit.as_millis().max(1)).unwrap_or(u16::MAX);
    let ready = {
        let mut which = Vec::with_capacity(2);
        let mut polled = Vec::with_capacity(2);
        if let Some(reader) = &a.reader {
            which.push(0);
            polled.push(PollFd::new(reader.as_fd(), PollFlags::POLLIN));
        }
        if let Some(reader) = &b.reader {
            which.push(1);
            polled.push(PollFd::new(reader.as_fd(), PollFlags::POLLIN));
        }
        if polled.is_empty() {
            return Ok(false);
        }
        match poll(&mut polled, PollTimeout::from(millis)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let mut ready = [false; 2];
        for (index, fd) in which.into_iter().zip(&polled) {
            ready[index] = fd.revents().is_some_and(|events| !events.is_empty());
        }
        ready
    };
    if ready[0] {
        a.read_ready()?;
    }
    if ready[1] {
        b.read_ready()?;
    }
    Ok(true)
}

/// Reads the pipes while the child runs; its status once it exits, None at the deadline.
fn wait_reading<A: Read + AsFd, B: Read + AsFd>(
    child: &mut Child,
    stdout: &mut Pipe<A>,
    stderr: &mut Pipe<B>,
    deadline: Instant,
) -> std::io::Result<Option<ExitStatus>> {
    // Once the pipes are closed (usually: the shell exited), the exit is a moment away.
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let left = deadline - now;
        if !poll_pipes(stdout, stderr, left.min(MAX_PAUSE))? {
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// Reads the pipes until both end or `until` passes.
fn read_until<A: Read + AsFd, B: Read + AsFd>(
    stdout: &mut Pipe<A>,
    stderr: &mut Pipe<B>,
    until: Instant,
) -> std::io::Result<()> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_pipes(stdout, stderr, left)? {
            return Ok(());
        }
    }
}

/// Polls the child until it exits (`Some`) or the deadline passes (`None`), its pipes
/// already taken.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let (mut stdout, mut stderr) = (
        Pipe::<ChildStdout>::new(None),
        Pipe::<ChildStderr>::new(None),
    );
    wait_reading(child, &mut stdout, &mut stderr, deadline)
}
/// SIGTERM to the process group, SIGKILL after a grace period, then reap.
fn terminate_group(child: &mut Child) {
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    if let Ok(Some(_)) = wait_until(child, Instant::now() + TERM_GRACE) {
        // The shell is gone; its children may ignore SIGTERM.
        let _ = killpg(group, Signal::SIGKILL);
        return;
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> PreparedCommand {
        PreparedCommand {
            script: text.to_owned(),
            env: Default::default(),
        }
    }

    const LABEL: Label<'static> = Label {
        action: "test",
        operation: "actionban",
    };

    #[test]
    fn success_returns_stdout() -> Result<(), ActionError> {
        let stdout = run(
            &script("echo hello"),
            &BTreeMap::new(),
            Duration::from_secs(5),
            &LABEL,
        )?;
        assert_eq!(stdout, "hello\n");
        Ok(())
    }

    #[test]
    fn failure_reports_status_and_stderr() {
        let result = run(
            &script("echo broken >&2; exit 3"),
            &BTreeMap::new(),
            Duration::from_secs(5),
            &LABEL,
        );
        match result {
            Err(ActionError::CommandFailed { status, stderr, .. }) => {
                assert_eq!(status, "exit status 3");
                assert_eq!(stderr, "broken\n");
            }
            other => panic!("expected CommandFailed, got {other:?}"),
        }
    }

    #[test]
    fn timeout_kills_the_whole_process_group() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let marker = dir.path().join("survived");
        // The grandchild would create the marker after 2 s if it survived.
        let text = format!("(sleep 2; touch '{}') & sleep 30", marker.display());
        let started = Instant::now();
        let result = run(
            &script(&text),
            &BTreeMap::new(),
            Duration::from_millis(300),
            &LABEL,
        );
        assert!(
            matches!(result, Err(ActionError::Timeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(2500));
        assert!(
            !marker.exists(),
            "a process of the timed-out group survived"
        );
        Ok(())
    }

    #[test]
    fn background_children_do_not_hold_up_the_command() -> Result<(), ActionError> {
        let started = Instant::now();
        let command = script("echo done; sleep 5 &");
        let stdout = run(&command, &BTreeMap::new(), Duration::from_secs(30), &LABEL)?;
        assert_eq!(stdout, "done\n");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        Ok(())
    }

    #[test]
    fn output_larger_than_a_pipe_buffer_arrives_whole() -> Result<(), ActionError> {
        // 300 kB on each pipe: more than the kernel buffers, so the command blocks until
        // it is read while it runs.
        let command =
            script("head -c 300000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero >&2; exit 0");
        let stdout = run(&command, &BTreeMap::new(), Duration::from_secs(10), &LABEL)?;
        assert_eq!(stdout.len(), 300_000);
        assert!(stdout.bytes().all(|b| b == b'a'));
        Ok(())
    }

    #[test]
    fn environment_reaches_the_script() -> Result<(), ActionError> {
        let mut command = script("printf %s \"$F2B_X\"");
        command.env.insert("F2B_X".into(), "a b".into());
        assert_eq!(
            run(&command, &BTreeMap::new(), Duration::from_secs(5), &LABEL)?,
            "a b"
        );
        Ok(())
    }
}
