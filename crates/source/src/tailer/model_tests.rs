//! Model-based test of the tailer, after vector's `lib/file-source` model
//! test: random sequences of writes, rotations, truncations, deletions,
//! restarts and polls run against real files and against a model that says
//! which lines a poll must deliver.
//!
//! The model: the writer appends numbered lines (fixed-width numbers, so no
//! line is a prefix of another) to whatever file is at the path, creating it
//! if needed; each such file is a generation. A poll must deliver, oldest
//! generation first, every complete line not yet delivered of
//!   - the generation the tailer had open (even if renamed or deleted since),
//!   - the generation it set aside at the previous poll (with a zero grace
//!     period a rotated file is read at exactly one more poll; the writer may
//!     still append to it, as a daemon does until it reopens its log),
//!   - the generation now at the path (read from its start if new).
//!
//! Lines are legitimately lost, and the model forgets them, when
//!   - they were written before a truncation and not delivered before it,
//!   - their generation came and left the path between two polls,
//!   - their generation had left the path when the tailer restarted.
//!
//! Before a rotation, truncation or deletion the writer finishes a line it
//! had written half of (a logging daemon finishes its line before reopening).

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;

#[derive(Clone, Debug)]
enum Op {
    Write {
        lines: usize,
        payload: usize,
        half: bool,
    },
    /// A line appended to the last renamed-away file.
    WriteRotated {
        payload: usize,
    },
    Poll,
    RotateRename {
        create: bool,
    },
    CopyTruncate,
    Delete,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..4usize, 0..40usize, any::<bool>())
            .prop_map(|(lines, payload, half)| Op::Write { lines, payload, half }),
        1 => (0..40usize).prop_map(|payload| Op::WriteRotated { payload }),
        4 => Just(Op::Poll),
        1 => any::<bool>().prop_map(|create| Op::RotateRename { create }),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::Delete),
        1 => Just(Op::Restart),
    ]
}

/// How the tailer stands to a generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Seen {
    /// Not open: its lines are lost unless it is at the path at a poll.
    #[default]
    No,
    /// The tailer's current file.
    Current,
    /// Rotated away at the last poll; read once more at the next one.
    Draining,
}

#[derive(Debug, Default)]
struct Generation {
    /// Complete lines written and not yet delivered (nor lost).
    pending: VecDeque<String>,
    seen: Seen,
}

struct Harness {
    dir: tempfile::TempDir,
    path: PathBuf,
    tailer: Option<FileTailer>,
    generations: Vec<Generation>,
    at_path: Option<usize>,
    /// The generation at `model.log.1`, if it was renamed there.
    at_rotated: Option<usize>,
    next_id: usize,
    /// Second half of a line whose first half is in the file at the path.
    unfinished: Option<(String, String)>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.log");
        let mut harness = Harness {
            dir,
            path,
            tailer: None,
            generations: Vec::new(),
            at_path: None,
            at_rotated: None,
            next_id: 0,
            unfinished: None,
        };
        harness.start_tailer(Start::Beginning);
        harness
    }

    fn start_tailer(&mut self, start: Start) {
        let options = TailerOptions {
            start,
            rotate_grace: Duration::ZERO,
            ..TailerOptions::default()
        };
        self.tailer = Some(FileTailer::open(&self.path, options).unwrap());
        if let Some(index) = self.at_path {
            self.generations[index].seen = Seen::Current;
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.at_path.is_none() {
            self.generations.push(Generation::default());
            self.at_path = Some(self.generations.len() - 1);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    fn complete_line(&mut self, line: String) {
        if let Some(index) = self.at_path {
            self.generations[index].pending.push_back(line);
        }
    }

    fn finish_unfinished(&mut self) {
        if let Some((line, rest)) = self.unfinished.take() {
            self.append(rest.as_bytes());
            self.complete_line(line);
        }
    }

    fn new_line(&mut self, payload: usize) -> String {
        self.next_id += 1;
        format!("{:06}-{}", self.next_id, "p".repeat(payload))
    }

    fn write(&mut self, lines: usize, payload: usize, half: bool) {
        self.finish_unfinished();
        for _ in 0..lines {
            let line = self.new_line(payload);
            self.append(format!("{line}\n").as_bytes());
            self.complete_line(line);
        }
        if half {
            let line = self.new_line(payload);
            // Split after the number so a half line is never ambiguous.
            let split = 7 + payload / 2;
            let rest = format!("{}\n", &line[split..]);
            self.append(&line.as_bytes()[..split]);
            self.unfinished = Some((line, rest));
        }
    }

    fn write_rotated(&mut self, payload: usize) {
        if let Some(index) = self.at_rotated {
            let line = self.new_line(payload);
            let mut file = OpenOptions::new()
                .append(true)
                .open(self.dir.path().join("model.log.1"))
                .unwrap();
            file.write_all(format!("{line}\n").as_bytes()).unwrap();
            self.generations[index].pending.push_back(line);
        }
    }

    fn rotate_rename(&mut self, create: bool) {
        self.finish_unfinished();
        if let Some(index) = self.at_path.take() {
            fs::rename(&self.path, self.dir.path().join("model.log.1")).unwrap();
            self.at_rotated = Some(index);
        }
        if create && self.at_path.is_none() {
            self.append(b"");
        }
    }

    fn copy_truncate(&mut self) {
        self.finish_unfinished();
        if let Some(index) = self.at_path {
            // logrotate copies into a new file: copying over a rotated file
            // in place would rewrite a file the tailer may still be reading.
            let copy = self.dir.path().join("model.log.1");
            let _ = fs::remove_file(&copy);
            fs::copy(&self.path, copy).unwrap();
            self.at_rotated = None;
            OpenOptions::new()
                .write(true)
                .open(&self.path)
                .unwrap()
                .set_len(0)
                .unwrap();
            self.generations[index].pending.clear();
        }
    }

    fn delete(&mut self) {
        self.finish_unfinished();
        if self.at_path.take().is_some() {
            fs::remove_file(&self.path).unwrap();
        }
    }

    fn restart(&mut self) {
        let checkpoint = self.tailer.take().and_then(|tailer| tailer.checkpoint());
        for (index, generation) in self.generations.iter_mut().enumerate() {
            if Some(index) != self.at_path {
                generation.seen = Seen::No;
                generation.pending.clear();
            }
        }
        self.start_tailer(checkpoint.map_or(Start::Beginning, Start::Checkpoint));
    }

    fn expected_poll(&mut self) -> Vec<String> {
        if let Some(index) = self.at_path {
            self.generations[index].seen = Seen::Current;
        }
        let mut expected = Vec::new();
        for (index, generation) in self.generations.iter_mut().enumerate() {
            if generation.seen == Seen::No {
                generation.pending.clear();
            } else {
                expected.extend(generation.pending.drain(..));
            }
            generation.seen = match generation.seen {
                _ if Some(index) == self.at_path => Seen::Current,
                Seen::Current => Seen::Draining,
                Seen::Draining | Seen::No => Seen::No,
            };
        }
        expected
    }

    fn poll(&mut self) -> Result<(), TestCaseError> {
        let mut delivered = Vec::new();
        let tailer = self.tailer.as_mut().unwrap();
        tailer
            .poll_lines(&mut |line| delivered.push(line.text.to_string()))
            .unwrap();
        let expected = self.expected_poll();
        prop_assert_eq!(delivered, expected);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Write {
                lines,
                payload,
                half,
            } => self.write(lines, payload, half),
            Op::WriteRotated { payload } => self.write_rotated(payload),
            Op::Poll => self.poll()?,
            Op::RotateRename { create } => self.rotate_rename(create),
            Op::CopyTruncate => self.copy_truncate(),
            Op::Delete => self.delete(),
            Op::Restart => self.restart(),
        }
        Ok(())
    }
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=10000 for a longer search.
    #[test]
    fn every_line_is_delivered_exactly_once(ops in proptest::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op)?;
        }
        harness.finish_unfinished();
        harness.poll()?;
    }
}
