//! The mutant catalogue: known-bad variants of the engine, each a real mistake a designer
//! could make. Off by default; a checker that catches none of them proves nothing.

use crate::names::Named;

/// Written and read by its name ([`Mutant::name`]), as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutant {
    ApplyBeforePreserve,
    CheckThenAct,
    MarkBeforeCopy,
    ReleaseOutOfOrder,
    SkipOverlay,
    PreserveTwice,
    ImageReadDuringPreserve,
    CopierIgnoresInFlight,
    PartialChunkCopy,
    FirstSegmentOnly,
    FailedPreserveKeepsMapBit,
    HeldWritesHangOnCopyError,
    CursorBeforeData,
    BrokenImageServed,
    FailedWriteApplied,
}

impl Mutant {
    pub const ALL: [Mutant; 15] = [
        Mutant::ApplyBeforePreserve,
        Mutant::CheckThenAct,
        Mutant::MarkBeforeCopy,
        Mutant::ReleaseOutOfOrder,
        Mutant::SkipOverlay,
        Mutant::PreserveTwice,
        Mutant::ImageReadDuringPreserve,
        Mutant::CopierIgnoresInFlight,
        Mutant::PartialChunkCopy,
        Mutant::FirstSegmentOnly,
        Mutant::FailedPreserveKeepsMapBit,
        Mutant::HeldWritesHangOnCopyError,
        Mutant::CursorBeforeData,
        Mutant::BrokenImageServed,
        Mutant::FailedWriteApplied,
    ];

    /// The mutants a fault-free run can show (all but those of [`Mutant::needs_faults`]).
    pub fn fault_free() -> impl Iterator<Item = Mutant> {
        Mutant::ALL.into_iter().filter(|m| !m.needs_faults())
    }

    /// The mistakes in handling faults.
    pub fn of_faults() -> impl Iterator<Item = Mutant> {
        Mutant::ALL.into_iter().filter(|m| m.needs_faults())
    }

    /// Whether the mistake is in the handling of faults: only a run with faults can show it.
    pub fn needs_faults(self) -> bool {
        matches!(
            self,
            Mutant::FailedPreserveKeepsMapBit
                | Mutant::HeldWritesHangOnCopyError
                | Mutant::CursorBeforeData
                | Mutant::BrokenImageServed
                | Mutant::FailedWriteApplied
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Mutant::ApplyBeforePreserve => "apply-before-preserve",
            Mutant::CheckThenAct => "check-then-act",
            Mutant::MarkBeforeCopy => "mark-before-copy",
            Mutant::ReleaseOutOfOrder => "release-out-of-order",
            Mutant::SkipOverlay => "skip-overlay",
            Mutant::PreserveTwice => "preserve-twice",
            Mutant::ImageReadDuringPreserve => "image-read-during-preserve",
            Mutant::CopierIgnoresInFlight => "copier-ignores-in-flight",
            Mutant::PartialChunkCopy => "partial-chunk-copy",
            Mutant::FirstSegmentOnly => "first-segment-only",
            Mutant::FailedPreserveKeepsMapBit => "failed-preserve-keeps-map-bit",
            Mutant::HeldWritesHangOnCopyError => "held-writes-hang-on-copy-error",
            Mutant::CursorBeforeData => "cursor-before-data",
            Mutant::BrokenImageServed => "broken-image-served",
            Mutant::FailedWriteApplied => "failed-write-applied",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Mutant::ApplyBeforePreserve => "apply the write, then preserve (preserves new data)",
            Mutant::CheckThenAct => {
                "check the snapshot map, release the lock, then preserve (two writers to one chunk both preserve)"
            }
            Mutant::MarkBeforeCopy => "mark a segment copied before its data reaches the destination",
            Mutant::ReleaseOutOfOrder => "release held writes out of FIFO order",
            Mutant::SkipOverlay => "skip the overlay pass (snapshot-overlay)",
            Mutant::PreserveTwice => {
                "preserve a chunk that is already preserved (overwrites begin-time data with newer data)"
            }
            Mutant::ImageReadDuringPreserve => {
                "route a point-in-time image read to the source while the chunk's preservation is in flight (dm-snapshot a8d41b59)"
            }
            Mutant::CopierIgnoresInFlight => {
                "the copier reads the source for a chunk being preserved without waiting for it (QEMU f8d59dfb)"
            }
            Mutant::PartialChunkCopy => {
                "copy only the written blocks of a chunk out of turn, then mark the whole chunk"
            }
            Mutant::FirstSegmentOnly => "a write spanning two segments checks only the first",
            Mutant::FailedPreserveKeepsMapBit => {
                "a preservation whose I/O failed still sets its chunk's map bit"
            }
            Mutant::HeldWritesHangOnCopyError => {
                "after a copy error, held writes wait for a copy that will never complete (dm-snapshot's hung bios)"
            }
            Mutant::CursorBeforeData => {
                "the copy cursor is persisted when a segment is claimed, before its data: a restart skips it"
            }
            Mutant::BrokenImageServed => "break-snapshot keeps serving the point-in-time image",
            Mutant::FailedWriteApplied => {
                "a write failed back to its writer is applied to the source anyway"
            }
        }
    }
}

impl Named for Mutant {
    const WHAT: &'static str = "mutant";
    const ALL: &'static [Mutant] = &Mutant::ALL;

    fn name(self) -> &'static str {
        Mutant::name(self)
    }
}

crate::named_by_name!(Mutant);
