//! The engine's decision points for one run: what the policy answers, bent by a mutant of
//! the catalogue when one is switched on. The step machines ask these rules and never the
//! mutant itself, so each mistake of the catalogue is written once, here, as the answer a
//! decision point gives.

use crate::disk::Device;
use crate::durability::{Commit, CommitStep, Recovery};
use crate::geometry::{Block, Chunk, Geometry};
use crate::ghost::Ghost;
use crate::meta::Claims;
use crate::meta::{HoldQueue, Meta, WriteId};
use crate::mutant::Mutant;
use crate::policy::{Policy, Target, WriteRule};
use std::ops::Range;

/// The two phases of a segment after the copier claims it, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Copy the segment's data to the destination.
    Copy,
    /// Mark the segment copied and release its claims.
    Mark,
}

/// When a write's data reaches the source relative to the preservation it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Apply {
    /// Hold the write until every chunk it modifies is preserved (the algorithm).
    AfterPreserving,
    /// Apply at once and preserve afterwards (`apply-before-preserve`).
    BeforePreserving,
}

/// How a write claims a chunk it must preserve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claiming {
    /// Marked in flight in the same critical section that found it unsafe.
    UnderLock,
    /// Checked, but not marked in flight: another writer can claim it too (`check-then-act`).
    CheckOnly,
}

/// Which writes may leave the hold queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Release {
    /// Only the head: held writes are applied in arrival order.
    Fifo,
    /// Any held write whose chunks are ready (`release-out-of-order`).
    AnyHeld,
}

/// What makes a chunk safe to modify without preserving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Safety {
    /// Its begin-time data is settled: copied to the destination or in the snapshot map.
    Settled,
    /// Only the map this policy does not write counts (`preserve-twice`).
    ForgetsOwnMark,
}

/// Which blocks of a chunk a preservation copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extent {
    WholeChunk,
    /// Only the blocks the write modifies (`partial-chunk-copy`).
    WrittenBlocks,
}

/// Which chunks of a write are checked for preservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Span {
    EveryChunk,
    /// Only those in the write's first segment (`first-segment-only`).
    FirstSegment,
}

/// What a cursor persisted to stable storage says is done: what a restart resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cursor {
    /// Segments marked copied, persisted in the step that marks them.
    AtMark,
    /// Segments claimed, persisted before their data (`cursor-before-data`).
    AtClaim,
}

/// The answers of every decision point for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Where preservation writes, or `None` when writes wait for the whole copy.
    pub target: Option<Target>,
    pub copier_reads_preserved: bool,
    pub overlay_pass: bool,
    pub preserve_next_range: bool,
    /// The phases after a segment's claim, in order.
    pub segment_phases: [Phase; 2],
    /// Whether the copier waits for chunks of its next segment that are being preserved.
    pub copier_waits_for_claims: bool,
    /// Whether an image read waits for chunks of its range that are being preserved.
    pub image_reads_wait_for_claims: bool,
    pub apply: Apply,
    pub claiming: Claiming,
    pub release: Release,
    pub safety: Safety,
    pub extent: Extent,
    pub span: Span,
    /// Whether a preservation whose I/O failed for good still publishes its chunk.
    pub publish_failed_preservation: bool,
    /// Whether held writes are released once the copy has failed.
    pub release_after_copy_error: bool,
    pub cursor: Cursor,
    /// Whether image reads fail once the copy has failed.
    pub image_fails_after_copy_error: bool,
    /// Whether a write failed back to its writer is applied all the same.
    pub apply_failed_write: bool,
    /// Whether a worker takes a segment in the same critical section that finds it free.
    pub claim_rechecks: bool,
    /// Whether a copy task whose I/O failed gives its range back (dirty again) rather than
    /// ending as if it were copied.
    pub failed_task_redirties: bool,
    /// Whether a task handed back takes its chunks out of flight, waking their waiters.
    pub hand_back_wakes: bool,
    /// Whether a held write whose wait ended looks again for chunks left unsettled.
    pub recheck_after_wait: bool,
    /// Whether the re-check for chunks in flight before a held write is applied sees a
    /// chunk at offset 0.
    pub conflict_sees_offset_zero: bool,
    /// With volatile caches: the steps that commit a preservation before its write is
    /// applied, and a segment before the cursor moves.
    pub preservation_commit: &'static [CommitStep],
    pub segment_commit: &'static [CommitStep],
    /// The steps that commit a preservation for a FUA write.
    pub fua_preservation_commit: &'static [CommitStep],
    /// What recovery does after a power loss.
    pub recovery: Recovery,
    /// Whether recovery declares the snapshot invalid when a durable record says so.
    pub recovery_honours_invalid: bool,
    /// Whether a guest's FLUSH is passed down to the source device.
    pub guest_flush_passed_down: bool,
}

/// The dm-clone mistake: the record made durable before the data it points at.
const RECORD_BEFORE_DATA: &[CommitStep] = &[
    CommitStep::WriteRecord,
    CommitStep::FlushMetadata,
    CommitStep::FlushData,
];

/// The dm-era mistake: the record written (the in-core map set) and trusted before the
/// metadata is flushed; a later commit flushes it.
const UNFLUSHED_RECORD: &[CommitStep] = &[CommitStep::FlushData, CommitStep::WriteRecord];

/// The cursor committed without flushing the destination first.
const CURSOR_ONLY: &[CommitStep] = &[CommitStep::WriteRecord, CommitStep::FlushMetadata];

impl Rules {
    /// The policy's rules, then the one a mutant bends.
    pub fn new(policy: &dyn Policy, mutant: Option<Mutant>) -> Rules {
        let mut r = Rules {
            target: match policy.write_rule() {
                WriteRule::Preserve(t) => Some(t),
                WriteRule::WaitForCopy => None,
            },
            copier_reads_preserved: policy.copier_reads_preserved(),
            overlay_pass: policy.overlay_pass(),
            preserve_next_range: policy.preserve_next_range(),
            segment_phases: [Phase::Copy, Phase::Mark],
            copier_waits_for_claims: true,
            image_reads_wait_for_claims: true,
            apply: Apply::AfterPreserving,
            claiming: Claiming::UnderLock,
            release: Release::Fifo,
            safety: Safety::Settled,
            extent: Extent::WholeChunk,
            span: Span::EveryChunk,
            publish_failed_preservation: false,
            release_after_copy_error: true,
            cursor: Cursor::AtMark,
            image_fails_after_copy_error: true,
            apply_failed_write: false,
            claim_rechecks: true,
            failed_task_redirties: true,
            hand_back_wakes: true,
            recheck_after_wait: true,
            conflict_sees_offset_zero: true,
            preservation_commit: policy.commit(Commit::Preservation),
            segment_commit: policy.commit(Commit::Segment),
            fua_preservation_commit: policy.commit(Commit::Preservation),
            recovery: policy.recovery(),
            recovery_honours_invalid: true,
            guest_flush_passed_down: true,
        };
        match mutant {
            None => {}
            Some(Mutant::ApplyBeforePreserve) => r.apply = Apply::BeforePreserving,
            Some(Mutant::CheckThenAct) => r.claiming = Claiming::CheckOnly,
            Some(Mutant::MarkBeforeCopy) => r.segment_phases = [Phase::Mark, Phase::Copy],
            Some(Mutant::ReleaseOutOfOrder) => r.release = Release::AnyHeld,
            Some(Mutant::SkipOverlay) => r.overlay_pass = false,
            Some(Mutant::PreserveTwice) => r.safety = Safety::ForgetsOwnMark,
            Some(Mutant::ImageReadDuringPreserve) => r.image_reads_wait_for_claims = false,
            Some(Mutant::CopierIgnoresInFlight) => r.copier_waits_for_claims = false,
            Some(Mutant::PartialChunkCopy) => r.extent = Extent::WrittenBlocks,
            Some(Mutant::FirstSegmentOnly) => r.span = Span::FirstSegment,
            Some(Mutant::FailedPreserveKeepsMapBit) => r.publish_failed_preservation = true,
            Some(Mutant::HeldWritesHangOnCopyError) => r.release_after_copy_error = false,
            Some(Mutant::CursorBeforeData) => r.cursor = Cursor::AtClaim,
            Some(Mutant::BrokenImageServed) => r.image_fails_after_copy_error = false,
            Some(Mutant::FailedWriteApplied) => r.apply_failed_write = true,
            Some(Mutant::ClaimWithoutRecheck) => r.claim_rechecks = false,
            Some(Mutant::FailedTaskNotRedirtied) => r.failed_task_redirties = false,
            Some(Mutant::HandBackWithoutWake) => r.hand_back_wakes = false,
            Some(Mutant::NoRecheckAfterWait) => r.recheck_after_wait = false,
            Some(Mutant::ConflictMissesOffsetZero) => r.conflict_sees_offset_zero = false,
            Some(Mutant::RecordBeforeDataFlush) => {
                r.preservation_commit = RECORD_BEFORE_DATA;
                r.fua_preservation_commit = RECORD_BEFORE_DATA;
                r.segment_commit = RECORD_BEFORE_DATA;
            }
            Some(Mutant::WriteReleasedBeforeCommit) => {
                r.preservation_commit = UNFLUSHED_RECORD;
                r.fua_preservation_commit = UNFLUSHED_RECORD;
            }
            Some(Mutant::FuaTakenAsFlush) => r.fua_preservation_commit = UNFLUSHED_RECORD,
            Some(Mutant::CursorBeforeDestinationFlush) => r.segment_commit = CURSOR_ONLY,
            Some(Mutant::FullStoreResumed) => r.recovery_honours_invalid = false,
            Some(Mutant::GuestFlushSwallowed) => r.guest_flush_passed_down = false,
        }
        r
    }

    /// The steps that commit `what` (a preservation for a FUA write when `fua`).
    pub fn commit(&self, what: Commit, fua: bool) -> &'static [CommitStep] {
        match (what, fua) {
            (Commit::Segment, _) => self.segment_commit,
            (Commit::Preservation, false) => self.preservation_commit,
            (Commit::Preservation, true) => self.fua_preservation_commit,
        }
    }

    /// The device that holds begin-time data of a chunk in the snapshot map.
    pub fn map_device(&self) -> Device {
        match self.target {
            Some(Target::Cache) => Device::Cache,
            _ => Device::Snapshot,
        }
    }

    /// The chunks of a write that are checked for preservation.
    pub fn checked_chunks(&self, g: &Geometry, touched: Range<Chunk>) -> Range<Chunk> {
        match self.span {
            Span::EveryChunk => touched,
            Span::FirstSegment => {
                let first = g.segment_chunks(g.segment_of_chunk(touched.start));
                touched.start..touched.end.min(first.end)
            }
        }
    }

    /// Whether a chunk may be modified without preserving it.
    #[inline]
    pub fn safe<G: Ghost>(&self, meta: &Meta<G>, c: Chunk) -> bool {
        match (self.safety, self.target) {
            (Safety::Settled, _) => meta.settled(c),
            (Safety::ForgetsOwnMark, Some(Target::Destination)) => meta.snapshot_map().contains(c),
            (Safety::ForgetsOwnMark, _) => meta.copied().contains(c),
        }
    }

    /// A write claims a chunk to preserve.
    pub fn claim<G: Ghost>(&self, meta: &mut Meta<G>, c: Chunk, claims: &mut Claims) {
        if self.claiming == Claiming::UnderLock {
            meta.claim(c);
        }
        claims.push(c);
    }

    /// The blocks of a chunk a preservation copies, for a write of `written`.
    pub fn preserved_blocks(&self, chunk: Range<Block>, written: &Range<Block>) -> Range<Block> {
        let overlap = chunk.start < written.end && written.start < chunk.end;
        match self.extent {
            Extent::WrittenBlocks if overlap => {
                chunk.start.max(written.start)..chunk.end.min(written.end)
            }
            _ => chunk,
        }
    }

    /// The first chunk of `chunks` in flight, as the re-check before a held write is
    /// applied sees it.
    pub fn in_flight_conflict<G: Ghost>(
        &self,
        meta: &Meta<G>,
        chunks: Range<Chunk>,
    ) -> Option<Chunk> {
        let from = match self.conflict_sees_offset_zero {
            true => chunks.start,
            // The slip: a conflict is looked for strictly after offset 0.
            false => chunks.start.max(1),
        };
        meta.in_flight().first_in(from..chunks.end.max(from))
    }

    /// Whether a held write's turn has come to leave the queue, given the head of its
    /// volume's queue.
    pub fn turn(&self, hold: &HoldQueue, w: WriteId, head: Option<WriteId>) -> bool {
        match self.release {
            Release::Fifo => head == Some(w),
            Release::AnyHeld => hold.contains(w),
        }
    }
}
