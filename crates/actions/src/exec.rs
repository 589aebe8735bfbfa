//! Running one prepared command through `/bin/sh -c` with a timeout.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::dynamic::PreparedCommand;
use crate::error::ActionError;

/// How long a command gets after SIGTERM before the group is killed.
const TERM_GRACE: Duration = Duration::from_millis(500);

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
    let mut child = spawn(command, base_env).map_err(|source| ActionError::Spawn {
        action: label.action.to_owned(),
        operation: label.operation.to_owned(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = wait_until(&mut child, deadline).map_err(|source| spawn_error(label, source))?;
    let Some(status) = status else {
        terminate_group(&mut child);
        return Err(ActionError::Timeout {
            action: label.action.to_owned(),
            operation: label.operation.to_owned(),
            timeout,
        });
    };
    // Background children of the script may keep the pipes open; do not
    // wait for them past the deadline.
    let remaining = deadline.saturating_duration_since(Instant::now()).max(TERM_GRACE);
    let stdout = stdout.recv_timeout(remaining).unwrap_or_default();
    let stderr = stderr.recv_timeout(TERM_GRACE).unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(ActionError::CommandFailed {
            action: label.action.to_owned(),
            operation: label.operation.to_owned(),
            status: describe(status),
            stderr,
        })
    }
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

/// Reads a pipe to its end on a thread; the text arrives on the receiver.
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receiver
}

/// Polls the child until it exits (`Some`) or the deadline passes (`None`).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
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
        let stdout = run(&script("echo hello"), &BTreeMap::new(), Duration::from_secs(5), &LABEL)?;
        assert_eq!(stdout, "hello\n");
        Ok(())
    }

    #[test]
    fn failure_reports_status_and_stderr() {
        let result = run(&script("echo broken >&2; exit 3"), &BTreeMap::new(), Duration::from_secs(5), &LABEL);
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
        let result = run(&script(&text), &BTreeMap::new(), Duration::from_millis(300), &LABEL);
        assert!(matches!(result, Err(ActionError::Timeout { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a process of the timed-out group survived");
        Ok(())
    }

    #[test]
    fn environment_reaches_the_script() -> Result<(), ActionError> {
        let mut command = script("printf %s \"$F2B_X\"");
        command.env.insert("F2B_X".into(), "a b".into());
        assert_eq!(run(&command, &BTreeMap::new(), Duration::from_secs(5), &LABEL)?, "a b");
        Ok(())
    }
}
