//! What one step did, in domain words: the lines of a counterexample trace.

use crate::disk::{Copied, Device};
use crate::durability::{CommitStep, Record};
use crate::fault::IoError;
use crate::geometry::{show_blocks, Block, Chunk, Geometry, Segment};
use crate::meta::{stamp_of, WriteId};
use crate::spec::{Pid, Spec};
use std::ops::Range;

/// What a blocked process waits for. A driver that does not poll every process parks it
/// under this and wakes it when a step frees it (see [`Event::frees`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wait {
    /// A chunk to leave flight, or to stop being tracked by an image read.
    Chunk(Chunk),
    /// Its write to reach the head of the hold queue.
    Turn,
    /// The copy to complete.
    CopyComplete,
    /// Anything: re-check after every metadata step.
    AnyStep,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    SegmentClaimed {
        segment: Segment,
        from_source: usize,
        from_preserved: usize,
        skipped: usize,
    },
    SegmentCopied {
        segment: Segment,
        copied: Copied,
        from_preserved: Option<Device>,
    },
    SegmentMarked {
        segment: Segment,
    },
    Overlaid {
        chunk: Chunk,
        copied: Copied,
    },
    CopyComplete,
    WriteArrived {
        write: WriteId,
        blocks: Range<Block>,
        preserve: usize,
        held: bool,
    },
    WriteApplied {
        write: WriteId,
        blocks: Range<Block>,
        released: bool,
    },
    Preserved {
        write: WriteId,
        chunk: Chunk,
        blocks: Range<Block>,
        to: Device,
        copied: Copied,
    },
    Marked {
        write: WriteId,
        chunk: Chunk,
        to: Device,
    },
    VolumeRead {
        blocks: Range<Block>,
        found: Copied,
    },
    ImageRouted {
        blocks: Range<Block>,
        tracked: usize,
    },
    ImageRead {
        blocks: Range<Block>,
        found: Copied,
    },
    ImageUntracked {
        blocks: Range<Block>,
    },
    /// An I/O of the copy (a preservation or the copier's) failed; `retry` is the attempt
    /// about to be made and the most the error policy allows.
    IoFailed {
        error: IoError,
        retry: Option<(u8, u8)>,
    },
    /// A write failed back to its writer: not applied, not acknowledged. `error` is its own
    /// I/O's, or `None` when its preservation failed (the step before says how).
    WriteFailed {
        write: WriteId,
        blocks: Range<Block>,
        error: Option<IoError>,
    },
    /// The copy failed: it will not complete and its image reads fail.
    CopyFailed {
        error: IoError,
    },
    /// A preservation failed after the copy had failed: nothing needs preserving any more,
    /// so the write goes on.
    PreservationDropped {
        write: WriteId,
    },
    /// A held write found a chunk unsettled when its turn came (a preservation it waited
    /// for failed) and claimed it to preserve itself.
    Reclaimed {
        write: WriteId,
        preserve: usize,
    },
    /// The copier saw that the copy has failed and stopped.
    CopyStopped,
    /// A read returned an error (`error` is `None` for an image read of a failed copy).
    ReadFailed {
        blocks: Range<Block>,
        image: bool,
        error: Option<IoError>,
    },
    /// The copier crashed and restarted from its persisted cursor; `lost` is the segment it
    /// was copying, `trusted` whether the cursor already counted that segment as done.
    CopierRestarted {
        lost: Option<Segment>,
        trusted: bool,
        done: u32,
    },
    /// A worker picked the next free segment without taking it (claims that do not
    /// re-check: it takes the segment at its next step, whoever took it meanwhile).
    SegmentPicked {
        segment: Segment,
    },
    /// A worker found nothing left to take and no task in flight: it ends.
    WorkerDone,
    /// A worker handed its task back before copying it: the segment is free again, and
    /// its `chunks` claimed chunks left flight (`woken`) or, by mistake, stayed in flight.
    TaskHandedBack {
        segment: Segment,
        chunks: usize,
        woken: bool,
    },
    /// A task's copy failed and, by mistake, the task ended as if it had copied its range.
    TaskDropped {
        segment: Segment,
        error: IoError,
    },
    /// A step of a commit protocol, for `record` (on `device` for a data flush).
    Committed {
        step: CommitStep,
        record: Record,
        device: Device,
    },
    /// A guest's FLUSH completed (`passed_down`: the source was flushed).
    GuestFlushed {
        passed_down: bool,
    },
    /// The power failed: `survived` of the `cached` writes and records reached stable media;
    /// recovery found `done` segments copied and resumed the copy, or declared the snapshot
    /// `invalid`.
    PowerLost {
        cached: usize,
        survived: usize,
        invalid: bool,
        done: u32,
    },
}

/// What a step freed, for drivers that park blocked processes instead of polling them
/// (see [`Wait`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freed {
    /// These chunks may have left flight or stopped being tracked.
    Chunks(Range<Chunk>),
    /// A write left the hold queue: the head may have changed.
    HoldHead,
    /// The copy is complete.
    CopyComplete,
    /// Anything may have changed: claims given up, a write gone from the queue, the copy
    /// failed (rare steps, all of them about faults).
    Everything,
}

impl Event {
    /// What this step may have freed for a waiting process. Steps not listed here only add
    /// claims, held writes or tracking, which can make others wait but never ends a wait.
    pub fn frees(&self, g: &Geometry) -> Option<Freed> {
        match self {
            Event::Marked { chunk, .. } => Some(Freed::Chunks(*chunk..chunk + 1)),
            Event::SegmentMarked { segment } => Some(Freed::Chunks(g.segment_chunks(*segment))),
            Event::ImageUntracked { blocks } => Some(Freed::Chunks(g.chunks_touching(blocks))),
            Event::WriteApplied { .. } => Some(Freed::HoldHead),
            Event::CopyComplete => Some(Freed::CopyComplete),
            Event::WriteFailed { .. }
            | Event::CopyFailed { .. }
            | Event::PreservationDropped { .. }
            | Event::CopyStopped
            | Event::CopierRestarted { .. }
            | Event::PowerLost { .. }
            | Event::TaskHandedBack { .. } => Some(Freed::Everything),
            _ => None,
        }
    }

    /// One trace line without the process name, e.g.
    /// `preserve chunk 3 (blocks 6..8) from source, stamp 0 -> snapshot`.
    pub fn describe(&self, spec: &Spec) -> String {
        let g = &spec.geometry;
        let seg = |s: Segment| format!("segment {s} ({})", show_blocks(&g.segment_blocks_range(s)));
        let chunk = |c: Chunk| format!("chunk {c} ({})", show_blocks(&g.chunk_blocks(c)));
        match self {
            Event::SegmentClaimed {
                segment,
                from_source,
                from_preserved,
                skipped,
            } => format!(
                "claim {}: {from_source} chunk(s) from source, {from_preserved} from {}, {skipped} already copied",
                seg(*segment),
                spec.map_device()
            ),
            Event::SegmentCopied {
                segment,
                copied,
                from_preserved,
            } => {
                let from = match from_preserved {
                    Some(d) => format!("source and {d}"),
                    None => "source".into(),
                };
                format!("copy {} from {from}, {copied} -> destination", seg(*segment))
            }
            Event::SegmentMarked { segment } => format!("mark {} copied", seg(*segment)),
            Event::Overlaid { chunk: c, copied } => format!(
                "overlay {} from {}, {copied} -> destination",
                chunk(*c),
                spec.map_device()
            ),
            Event::CopyComplete => "copy complete".into(),
            Event::WriteArrived {
                write,
                blocks,
                preserve,
                held,
            } => {
                let what = format!(
                    "write {write} to {} (stamp {})",
                    show_blocks(blocks),
                    stamp_of(*write)
                );
                match (held, preserve) {
                    (false, 0) => format!("{what} applied to source"),
                    (false, n) => format!("{what} applied to source, {n} chunk(s) still to preserve"),
                    (true, 0) => format!("{what} held in the queue"),
                    (true, n) => format!("{what} held in the queue; claims {n} chunk(s) to preserve"),
                }
            }
            Event::WriteApplied { write, blocks, .. } => format!(
                "release write {write} from the queue: stamp {} -> source {}",
                stamp_of(*write),
                show_blocks(blocks)
            ),
            Event::Preserved {
                write,
                chunk: c,
                blocks,
                to,
                copied,
            } => format!(
                "preserve {} from source, {copied} -> {to} (for write {write}, copied {})",
                chunk(*c),
                show_blocks(blocks)
            ),
            Event::Marked { chunk: c, to, .. } => match to {
                Device::Destination => format!("mark {} copied (out of turn)", chunk(*c)),
                d => format!("set the snapshot map bit of {} ({d})", chunk(*c)),
            },
            Event::VolumeRead { blocks, found } => {
                format!("read volume {} -> {found}", show_blocks(blocks))
            }
            Event::ImageRouted { blocks, tracked } => format!(
                "route image read of {}: {tracked} chunk(s) tracked on source",
                show_blocks(blocks)
            ),
            Event::ImageRead { blocks, found } => {
                format!("read image {} -> {found}", show_blocks(blocks))
            }
            Event::ImageUntracked { blocks } => {
                format!("end image read of {}: untrack", show_blocks(blocks))
            }
            Event::IoFailed { error, retry } => match retry {
                Some((n, max)) => format!("{error}; retry {n} of {max}"),
                None => format!("{error}; no retry left ({})", spec.on_error),
            },
            Event::WriteFailed {
                write,
                blocks,
                error,
            } => {
                let why = match error {
                    Some(e) => e.to_string(),
                    None => "its preservation failed".into(),
                };
                format!(
                    "write {write} to {} failed back to its writer ({why})",
                    show_blocks(blocks)
                )
            }
            Event::CopyFailed { error } => {
                format!("copy failed ({error}): image reads now fail")
            }
            Event::PreservationDropped { write } => {
                format!("write {write}: the copy has failed, nothing left to preserve")
            }
            Event::CopyStopped => "copier stops: the copy has failed".into(),
            Event::Reclaimed { write, preserve } => format!(
                "write {write}: a preservation it waited for failed; claims {preserve} chunk(s) to preserve itself"
            ),
            Event::ReadFailed {
                blocks,
                image,
                error,
            } => {
                let what = if *image { "image" } else { "volume" };
                let why = match error {
                    Some(e) => e.to_string(),
                    None => "the copy has failed".into(),
                };
                format!("read {what} {} -> error ({why})", show_blocks(blocks))
            }
            Event::CopierRestarted {
                lost,
                trusted,
                done,
            } => {
                let lost = match (lost, trusted) {
                    (None, _) => String::new(),
                    (Some(s), false) => format!(", lost its progress in {}", seg(*s)),
                    (Some(s), true) => {
                        format!(", the cursor counts {} done", seg(*s))
                    }
                };
                format!("crash and restart from the persisted cursor ({done} segment(s) done){lost}")
            }
            Event::SegmentPicked { segment } => {
                format!("pick {} to take next (not taken yet)", seg(*segment))
            }
            Event::WorkerDone => "nothing left to take and no task in flight: done".into(),
            Event::TaskHandedBack {
                segment,
                chunks,
                woken,
            } => format!(
                "hand back the task of {} before copying it: {chunks} claimed chunk(s) {}",
                seg(*segment),
                match woken {
                    true => "leave flight, waiters woken",
                    false => "stay in flight, waiters never woken",
                }
            ),
            Event::TaskDropped { segment, error } => format!(
                "copy of {} failed ({error}); the task ends as if it were copied",
                seg(*segment)
            ),
            Event::Committed {
                step,
                record,
                device,
            } => match step {
                CommitStep::FlushData => format!("flush {device} (commit of {record})"),
                CommitStep::WriteRecord => format!("write record: {record} (cached)"),
                CommitStep::FlushMetadata => format!("flush metadata (commit of {record})"),
            },
            Event::GuestFlushed { passed_down } => match passed_down {
                true => "flush: source flushed".into(),
                false => "flush answered without flushing the source".into(),
            },
            Event::PowerLost {
                cached,
                survived,
                invalid,
                done,
            } => {
                let then = match invalid {
                    true => "the snapshot is declared invalid".to_string(),
                    false => format!("recovery resumes with {done} segment(s) done"),
                };
                format!("POWER LOSS: {survived} of {cached} cached write(s) and record(s) reach stable media; every process restarts; {then}")
            }
        }
    }
}

/// A recorded step: who took it and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    pub pid: Pid,
    pub event: Event,
}

/// Renders a trace as numbered lines: `4. writer 1: preserve chunk 3 ...`.
pub fn render_trace(spec: &Spec, steps: &[TraceStep]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let who = match s.event {
            Event::PowerLost { .. } => "power".into(),
            _ => spec.process_name(s.pid),
        };
        out.push_str(&format!(
            "{:>4}. {who}: {}\n",
            i + 1,
            s.event.describe(spec)
        ));
    }
    out
}
