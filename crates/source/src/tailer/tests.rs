use super::*;
use std::fs::OpenOptions;
use std::io::Write;

/// A log in a temporary directory and the writes a logging daemon does.
struct Log {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Log {
    fn new() -> Log {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.log");
        Log { dir, path }
    }

    fn append(&self, bytes: &[u8]) {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    fn rotated(&self) -> PathBuf {
        self.dir.path().join("test.log.1")
    }

    fn tailer(&self, start: Start) -> FileTailer {
        let options = TailerOptions {
            start,
            rotate_grace: Duration::ZERO,
            ..TailerOptions::default()
        };
        FileTailer::open(&self.path, options).unwrap()
    }
}

fn poll(tailer: &mut FileTailer) -> Vec<String> {
    let mut lines = Vec::new();
    let count = tailer
        .poll_lines(&mut |line| lines.push(line.text.to_string()))
        .unwrap();
    assert_eq!(count, lines.len());
    lines
}

#[test]
fn appended_lines_are_delivered_once() {
    let log = Log::new();
    log.append(b"one\ntwo\n");
    let mut tailer = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut tailer), ["one", "two"]);
    assert!(poll(&mut tailer).is_empty());
    log.append(b"three\r\n");
    assert_eq!(poll(&mut tailer), ["three"]);
}

#[test]
fn tail_starts_at_the_end() {
    let log = Log::new();
    log.append(b"old\n");
    let mut tailer = log.tailer(Start::Tail);
    log.append(b"new\n");
    assert_eq!(poll(&mut tailer), ["new"]);
}

#[test]
fn missing_file_is_waited_for_and_read_from_its_start_even_with_tail() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Tail);
    assert!(poll(&mut tailer).is_empty());
    assert!(!tailer.is_open());
    log.append(b"first\n");
    assert_eq!(poll(&mut tailer), ["first"]);
}

#[test]
fn partial_line_is_held_until_its_newline() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"complete\nhalf");
    assert_eq!(poll(&mut tailer), ["complete"]);
    assert_eq!(tailer.checkpoint().unwrap().offset, 9);
    log.append(b" and half\n");
    assert_eq!(poll(&mut tailer), ["half and half"]);
}

#[test]
fn rename_and_create_rotation_loses_and_repeats_nothing() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"a1\n");
    assert_eq!(poll(&mut tailer), ["a1"]);
    log.append(b"a2\n");
    fs::rename(&log.path, log.rotated()).unwrap();
    log.append(b"b1\n");
    assert_eq!(poll(&mut tailer), ["a2", "b1"]);
    log.append(b"b2\n");
    assert_eq!(poll(&mut tailer), ["b2"]);
    assert_eq!(tailer.stats().rotations, 1);
}

#[test]
fn writes_to_the_old_file_during_the_grace_period_are_read() {
    let log = Log::new();
    let options = TailerOptions {
        rotate_grace: Duration::from_secs(3600),
        ..TailerOptions::default()
    };
    let mut tailer = FileTailer::open(&log.path, options).unwrap();
    log.append(b"a1\n");
    assert_eq!(poll(&mut tailer), ["a1"]);
    fs::rename(&log.path, log.rotated()).unwrap();
    log.append(b"b1\n");
    assert_eq!(poll(&mut tailer), ["b1"]);
    // The daemon has not reopened its log yet and still writes the old one.
    let mut old = OpenOptions::new().append(true).open(log.rotated()).unwrap();
    old.write_all(b"a2\n").unwrap();
    assert_eq!(poll(&mut tailer), ["a2"]);
}

#[test]
fn unterminated_last_line_of_rotated_file_is_flushed() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"a1\na2");
    assert_eq!(poll(&mut tailer), ["a1"]);
    fs::rename(&log.path, log.rotated()).unwrap();
    log.append(b"b1\n");
    assert_eq!(poll(&mut tailer), ["b1"]);
    // Grace is zero: the next poll reads the old file once more, then
    // gives up on the newline.
    assert_eq!(poll(&mut tailer), ["a2"]);
}

#[test]
fn copytruncate_restarts_at_zero() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"a1\na2\n");
    assert_eq!(poll(&mut tailer), ["a1", "a2"]);
    fs::copy(&log.path, log.rotated()).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"b1\n");
    assert_eq!(poll(&mut tailer), ["b1"]);
    assert_eq!(tailer.stats().truncations, 1);
}

#[test]
fn truncation_followed_by_more_writes_than_were_read_is_detected() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"x\n");
    assert_eq!(poll(&mut tailer), ["x"]);
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"longer first line\nsecond\n");
    assert_eq!(poll(&mut tailer), ["longer first line", "second"]);
}

#[test]
fn delete_and_recreate() {
    let log = Log::new();
    let mut tailer = log.tailer(Start::Beginning);
    log.append(b"a1\n");
    assert_eq!(poll(&mut tailer), ["a1"]);
    log.append(b"a2\n");
    fs::remove_file(&log.path).unwrap();
    assert_eq!(poll(&mut tailer), ["a2"]);
    assert!(!tailer.is_open());
    log.append(b"b1\n");
    assert_eq!(poll(&mut tailer), ["b1"]);
}

#[test]
fn checkpoint_restores_position_after_restart() {
    let log = Log::new();
    log.append(b"one\ntwo\npart");
    let mut tailer = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut tailer), ["one", "two"]);
    let checkpoint = tailer.checkpoint().unwrap();
    assert_eq!(checkpoint.offset, 8);
    drop(tailer);
    log.append(b"ial\nthree\n");
    let mut restored = log.tailer(Start::Checkpoint(checkpoint));
    assert_eq!(poll(&mut restored), ["partial", "three"]);
}

#[test]
fn checkpoint_of_a_rotated_file_starts_the_new_file_from_zero() {
    let log = Log::new();
    log.append(b"old one\nold two\n");
    let mut tailer = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut tailer).len(), 2);
    let checkpoint = tailer.checkpoint().unwrap();
    drop(tailer);
    fs::rename(&log.path, log.rotated()).unwrap();
    log.append(b"new one\nnew two\nnew three\n");
    let mut restored = log.tailer(Start::Checkpoint(checkpoint));
    assert_eq!(poll(&mut restored), ["new one", "new two", "new three"]);
}

#[test]
fn checkpoint_of_a_truncated_file_starts_from_zero() {
    let log = Log::new();
    log.append(b"one\ntwo\nthree\n");
    let mut tailer = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut tailer).len(), 3);
    let checkpoint = tailer.checkpoint().unwrap();
    drop(tailer);
    OpenOptions::new()
        .write(true)
        .open(&log.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.append(b"x\n");
    let mut restored = log.tailer(Start::Checkpoint(checkpoint));
    assert_eq!(poll(&mut restored), ["x"]);
}

#[test]
fn huge_line_is_truncated_without_buffering_it() {
    let log = Log::new();
    let options = TailerOptions {
        max_line_len: 1024,
        ..TailerOptions::default()
    };
    let mut tailer = FileTailer::open(&log.path, options).unwrap();
    let mut huge = vec![b'z'; 3 << 20];
    huge.push(b'\n');
    log.append(&huge);
    log.append(b"after\n");
    let mut lines = Vec::new();
    // 3 MiB is read in pieces of the poll budget.
    loop {
        tailer
            .poll_lines(&mut |line| lines.push((line.text.len(), line.truncated)))
            .unwrap();
        if !tailer.is_behind() {
            break;
        }
    }
    assert_eq!(lines, [(1024, true), (5, false)]);
    assert_eq!(tailer.stats().truncated_lines, 1);
}

#[test]
fn encodings_and_nul_bytes() {
    let log = Log::new();
    log.append(b"caf\xe9\0x\n");
    let mut utf8 = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut utf8), ["caf\u{fffd}\0x"]);
    assert_eq!(utf8.stats().replaced_encoding_lines, 1);
    let options = TailerOptions {
        encoding: Encoding::Latin1,
        ..TailerOptions::default()
    };
    let mut latin1 = FileTailer::open(&log.path, options).unwrap();
    assert_eq!(poll(&mut latin1), ["caf\u{e9}\0x"]);
}

#[test]
fn a_directory_is_an_open_error() {
    let log = Log::new();
    let result = FileTailer::open(log.dir.path(), TailerOptions::default());
    assert!(matches!(result, Err(SourceError::Open { .. })));
}

#[test]
fn lines_carry_their_offsets() {
    let log = Log::new();
    log.append(b"ab\ncd\n");
    let mut tailer = log.tailer(Start::Beginning);
    let mut offsets = Vec::new();
    tailer
        .poll_lines(&mut |line| offsets.push(line.offset))
        .unwrap();
    assert_eq!(offsets, [0, 3]);
}

#[test]
fn backlog_lines_are_not_in_operation() {
    let log = Log::new();
    log.append(b"old\n");
    let mut tailer = log.tailer(Start::Beginning);
    let mut seen = Vec::new();
    let mut record = |line: Line<'_>| seen.push((line.text.to_string(), line.in_operation));
    tailer.poll_lines(&mut record).unwrap();
    log.append(b"new\n");
    tailer.poll_lines(&mut record).unwrap();
    assert_eq!(seen, [("old".into(), false), ("new".into(), true)]);

    let mut tail = log.tailer(Start::Tail);
    log.append(b"live\n");
    let mut lines = Vec::new();
    tail.poll_lines(&mut |line| lines.push(line.in_operation))
        .unwrap();
    assert_eq!(lines, [true]);
}

fn poll_error(tailer: &mut FileTailer) -> String {
    let error = tailer.poll_lines(&mut |_| {}).unwrap_err();
    error.to_string()
}

/// Regression: a log path swapped for a FIFO was opened for a blocking read, and the
/// source's thread hung until something wrote to the FIFO.
#[test]
fn a_fifo_at_the_path_is_refused_without_blocking_and_a_file_after_it_is_read() {
    let log = Log::new();
    log.append(b"one\n");
    let mut tailer = log.tailer(Start::Beginning);
    assert_eq!(poll(&mut tailer), ["one"]);
    fs::remove_file(&log.path).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&log.path)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(poll_error(&mut tailer).contains("not a regular file (a FIFO)"));
    assert!(!tailer.is_open());
    fs::remove_file(&log.path).unwrap();
    log.append(b"two\n");
    assert_eq!(poll(&mut tailer), ["two"]);
}

#[test]
fn a_directory_or_a_dangling_link_at_the_path_is_an_error_not_a_wait() {
    let log = Log::new();
    fs::create_dir(&log.path).unwrap();
    let error = FileTailer::open(&log.path, TailerOptions::default()).unwrap_err();
    assert!(error.to_string().contains("(a directory)"), "{error}");
    fs::remove_dir(&log.path).unwrap();
    std::os::unix::fs::symlink(log.dir.path().join("nowhere"), &log.path).unwrap();
    let error = FileTailer::open(&log.path, TailerOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("which does not exist"),
        "{error}"
    );
}

/// Regression: a log whose directory was replaced by a file between two polls kept being
/// read from its deleted file, silently, because the stat error was not "not found".
#[test]
fn a_log_whose_directory_became_a_file_has_left_its_path() {
    let log = Log::new();
    let sub = log.dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("n.log");
    fs::write(&path, "one\n").unwrap();
    let options = TailerOptions {
        rotate_grace: Duration::ZERO,
        ..TailerOptions::default()
    };
    let mut tailer = FileTailer::open(&path, options).unwrap();
    assert_eq!(poll(&mut tailer), ["one"]);
    fs::remove_file(&path).unwrap();
    fs::remove_dir(&sub).unwrap();
    fs::write(&sub, "").unwrap();
    assert!(poll_error(&mut tailer).contains("Not a directory"));
    assert!(!tailer.is_open());
}

#[test]
fn a_backlog_is_read_a_piece_at_a_time_each_line_once() {
    let log = Log::new();
    let total = 3 * POLL_BUDGET / 20;
    let text: String = (0..total).map(|n| format!("line {n:013}\n")).collect();
    log.append(text.as_bytes());
    let mut tailer = log.tailer(Start::Beginning);
    let (mut lines, mut offsets, mut polls) = (Vec::new(), Vec::new(), 0);
    loop {
        lines.extend(poll(&mut tailer));
        offsets.push(tailer.checkpoint().unwrap().offset);
        polls += 1;
        if !tailer.is_behind() {
            break;
        }
    }
    assert!(polls >= 3, "{polls} polls for {} bytes", text.len());
    assert_eq!(lines.len(), total);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(n, line)| *line == format!("line {n:013}"))
    );
    // Each piece's position covers exactly the lines delivered so far.
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "{offsets:?}"
    );
    assert_eq!(offsets.last(), Some(&(text.len() as u64)));
}

#[test]
fn a_rotated_file_is_finished_before_the_new_one() {
    let log = Log::new();
    let total = 2 * POLL_BUDGET / 20;
    let text: String = (0..total).map(|n| format!("old  {n:013}\n")).collect();
    log.append(text.as_bytes());
    let mut tailer = log.tailer(Start::Beginning);
    let mut lines = poll(&mut tailer);
    assert!(tailer.is_behind());
    std::fs::rename(&log.path, log.rotated()).unwrap();
    log.append(b"new\n");
    while lines.last().map(String::as_str) != Some("new") {
        let more = poll(&mut tailer);
        assert!(!more.is_empty(), "stuck after {} lines", lines.len());
        lines.extend(more);
    }
    assert_eq!(lines.len(), total + 1);
    assert!(lines[..total].iter().all(|line| line.starts_with("old ")));
}
