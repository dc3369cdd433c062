//! Who copied what, read from QEMU's own trace events.
//!
//! The backup job and its copy-before-write filter share one block-copy state, so the
//! trace of a copy task (`block_copy_process`, its offset only) does not say who made it.
//! The coroutine events do: a task made in a coroutine that is serving a guest write
//! (`blk_co_pwritev` on the export's BlockBackend) is that write's copy-before-write; one
//! made anywhere else is the job's. A task's length is that of its write to the target
//! image's node (`bdrv_co_pwritev_part` at the task's offset), and a task whose read or
//! write fails (`block_copy_read_fail`, `block_copy_write_fail`) copied nothing.
//!
//! The events a run enables are [`EVENTS`]; a line of any other event is ignored.

use std::collections::HashMap;

/// The trace events [`attribute`] reads.
pub const EVENTS: [&str; 12] = [
    "bdrv_open_common",
    "blk_co_pwritev",
    "bdrv_co_pwritev_part",
    "bdrv_co_pwrite_zeroes",
    "block_copy_process",
    "block_copy_read_fail",
    "block_copy_write_fail",
    "block_copy_write_zeroes_fail",
    "block_copy_copy_range_fail",
    "qemu_aio_coroutine_enter",
    "qemu_coroutine_yield",
    "qemu_coroutine_terminate",
];

/// Bytes and tasks one party copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Bytes of the tasks that succeeded.
    pub bytes: u64,
    /// Tasks that succeeded.
    pub tasks: u64,
    /// Tasks whose read or write failed.
    pub failed: u64,
}

/// A guest write as the trace shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GuestWrite {
    pub offset: u64,
    pub bytes: u64,
    /// Its copy-before-write made at least one copy task.
    pub copied: bool,
    /// One of its copy-before-write's tasks failed.
    pub failed: bool,
}

/// What the trace says the copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Copies made for guest writes (copy-before-write).
    pub cbw: Tally,
    /// Copies the job made.
    pub job: Tally,
    /// Every guest write, in the order QEMU began them.
    pub writes: Vec<GuestWrite>,
    /// Tasks whose write to a target never appeared (the trace ended first).
    pub unfinished: u64,
}

/// Whose task it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Cbw { write: usize },
    Job,
}

/// A copy task.
#[derive(Clone, Copy, Debug)]
struct Task {
    bcs: u64,
    party: Party,
    /// Its bytes, once its target write is seen.
    bytes: u64,
}

/// Reads `trace` (the daemon's trace log). Copy-before-write writes to the image file
/// `cbw_target` (the destination for backup, the snapshot for fleecing), the job to
/// `job_target`.
pub fn attribute(trace: &str, cbw_target: &str, job_target: &str) -> CopyStats {
    let mut s = State::default();
    for line in trace.lines() {
        s.line(line, cbw_target, job_target);
    }
    s.stats.unfinished = s.made.values().map(|v| v.len() as u64).sum();
    s.stats
}

#[derive(Default)]
struct State {
    stats: CopyStats,
    /// Raw nodes of the target images, by pointer: whether copy-before-write writes
    /// there, and whether the job does.
    targets: HashMap<u64, (bool, bool)>,
    /// The running coroutine.
    current: Option<u64>,
    /// Who entered each coroutine last (control returns there when it ends).
    entered_from: HashMap<u64, u64>,
    /// The guest write a coroutine is serving, by index into `stats.writes`.
    serving: HashMap<u64, usize>,
    /// Tasks made and not yet written, by offset, oldest first.
    made: HashMap<u64, Vec<Task>>,
    /// The last written task of each block-copy state at each offset: a write failure
    /// follows its write before the cluster can be claimed again.
    written: HashMap<(u64, u64), Task>,
}

impl State {
    fn line(&mut self, line: &str, cbw_target: &str, job_target: &str) {
        let Some(event) = line.split_whitespace().next() else {
            return;
        };
        let args = Args(line);
        match event {
            "bdrv_open_common" if line.ends_with("format_name \"raw\"") => {
                // The file's name ends a quoted path, alone or inside blkdebug's JSON.
                let names = |f: &str| line.contains(&format!("/{f}\""));
                let (cbw, job) = (names(cbw_target), names(job_target));
                if let (Some(bs), true) = (args.hex("bs"), cbw || job) {
                    self.targets.insert(bs, (cbw, job));
                }
            }
            "qemu_aio_coroutine_enter" => {
                if let (Some(from), Some(to)) = (args.hex("from"), args.hex("to")) {
                    self.entered_from.insert(to, from);
                    self.current = Some(to);
                }
            }
            "qemu_coroutine_yield" => self.current = args.hex("to"),
            "qemu_coroutine_terminate" => {
                if let Some(co) = args.hex("self") {
                    self.serving.remove(&co);
                    self.current = self.entered_from.remove(&co);
                }
            }
            "blk_co_pwritev" => {
                if let (Some(offset), Some(bytes), Some(co)) =
                    (args.num("offset"), args.num("bytes"), self.current)
                {
                    self.stats.writes.push(GuestWrite {
                        offset,
                        bytes,
                        copied: false,
                        failed: false,
                    });
                    self.serving.insert(co, self.stats.writes.len() - 1);
                }
            }
            "block_copy_process" => {
                if let (Some(bcs), Some(start)) = (args.hex("bcs"), args.num("start")) {
                    let party = match self.current.and_then(|c| self.serving.get(&c)) {
                        Some(&write) => {
                            self.stats.writes[write].copied = true;
                            Party::Cbw { write }
                        }
                        None => Party::Job,
                    };
                    self.made.entry(start).or_default().push(Task {
                        bcs,
                        party,
                        bytes: 0,
                    });
                }
            }
            "bdrv_co_pwritev_part" | "bdrv_co_pwrite_zeroes" => {
                let node = args.hex("bs").and_then(|b| self.targets.get(&b).copied());
                if let (Some((cbw, job)), Some(offset), Some(bytes)) =
                    (node, args.num("offset"), args.num("bytes"))
                {
                    self.written_at(offset, bytes, cbw, job);
                }
            }
            "block_copy_read_fail" | "block_copy_copy_range_fail" => {
                if let (Some(bcs), Some(start)) = (args.hex("bcs"), args.num("start")) {
                    let list = self.made.entry(start).or_default();
                    if let Some(i) = list.iter().position(|t| t.bcs == bcs) {
                        let t = list.remove(i);
                        self.failed(t);
                    }
                }
            }
            "block_copy_write_fail" | "block_copy_write_zeroes_fail" => {
                if let (Some(bcs), Some(start)) = (args.hex("bcs"), args.num("start")) {
                    if let Some(t) = self.written.remove(&(bcs, start)) {
                        let tally = self.tally(t.party);
                        tally.bytes -= t.bytes;
                        tally.tasks -= 1;
                        self.failed(t);
                    }
                }
            }
            _ => {}
        }
    }

    /// A write to a target image at `offset`: the oldest task made there by a party that
    /// writes to this image.
    fn written_at(&mut self, offset: u64, bytes: u64, cbw: bool, job: bool) {
        let Some(list) = self.made.get_mut(&offset) else {
            return;
        };
        let fits = |t: &Task| match t.party {
            Party::Cbw { .. } => cbw,
            Party::Job => job,
        };
        let Some(i) = list.iter().position(fits) else {
            return;
        };
        let mut t = list.remove(i);
        t.bytes = bytes;
        let tally = self.tally(t.party);
        tally.bytes += bytes;
        tally.tasks += 1;
        self.written.insert((t.bcs, offset), t);
    }

    fn tally(&mut self, party: Party) -> &mut Tally {
        match party {
            Party::Cbw { .. } => &mut self.stats.cbw,
            Party::Job => &mut self.stats.job,
        }
    }

    fn failed(&mut self, t: Task) {
        self.tally(t.party).failed += 1;
        if let Party::Cbw { write } = t.party {
            self.stats.writes[write].failed = true;
        }
    }
}

/// The `name value` pairs of a trace line.
struct Args<'a>(&'a str);

impl Args<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        let mut words = self.0.split_whitespace();
        while let Some(w) = words.next() {
            if w == name {
                return words.next();
            }
        }
        None
    }

    fn num(&self, name: &str) -> Option<u64> {
        self.value(name)?.parse().ok()
    }

    fn hex(&self, name: &str) -> Option<u64> {
        let v = self.value(name)?;
        match v {
            "(nil)" => Some(0),
            _ => u64::from_str_radix(v.trim_start_matches("0x"), 16).ok(),
        }
    }
}
