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
    // Background children of the script (`cmd &`) may keep the pipes open
    // for long; the readers have drained everything the script itself wrote
    // by now, so wait only briefly for the end of the pipes.
    let until = Instant::now() + TERM_GRACE;
    let stdout = drain(&stdout, until);
    let stderr = drain(&stderr, until);
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

/// Reads a pipe on a thread; its chunks arrive on the receiver as read.
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buffer = [0_u8; 8192];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                if sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

/// What arrived from a pipe until it closed or `until` passed.
fn drain(receiver: &mpsc::Receiver<Vec<u8>>, until: Instant) -> String {
    let mut bytes = Vec::new();
    while let Ok(chunk) = receiver.recv_timeout(until.saturating_duration_since(Instant::now())) {
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&bytes).into_owned()
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
