//! The mutant catalogue: known-bad variants of the engine, each a real mistake a designer
//! could make. Off by default; a checker that catches none of them proves nothing.

use crate::fault::ErrorPolicy;
use crate::names::Named;
use crate::policy::{self, Policy, WriteRule};
use std::sync::Arc;

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
    ClaimWithoutRecheck,
    FailedTaskNotRedirtied,
    HandBackWithoutWake,
    NoRecheckAfterWait,
    ConflictMissesOffsetZero,
    RecordBeforeDataFlush,
    WriteReleasedBeforeCommit,
    FuaTakenAsFlush,
    CursorBeforeDestinationFlush,
    FullStoreResumed,
    GuestFlushSwallowed,
}

impl Mutant {
    pub const ALL: [Mutant; 26] = [
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
        Mutant::ClaimWithoutRecheck,
        Mutant::FailedTaskNotRedirtied,
        Mutant::HandBackWithoutWake,
        Mutant::NoRecheckAfterWait,
        Mutant::ConflictMissesOffsetZero,
        Mutant::RecordBeforeDataFlush,
        Mutant::WriteReleasedBeforeCommit,
        Mutant::FuaTakenAsFlush,
        Mutant::CursorBeforeDestinationFlush,
        Mutant::FullStoreResumed,
        Mutant::GuestFlushSwallowed,
    ];

    /// The mutants a fault-free run of one worker can show (all but those of
    /// [`Mutant::needs_faults`] and of the claim structure).
    pub fn fault_free() -> impl Iterator<Item = Mutant> {
        Mutant::ALL
            .into_iter()
            .filter(|m| !m.needs_faults() && m.facts().claims.is_none() && !m.needs_power_loss())
    }

    /// The mistakes in handling faults (those of the claim structure aside).
    pub fn of_faults() -> impl Iterator<Item = Mutant> {
        Mutant::ALL
            .into_iter()
            .filter(|m| m.needs_faults() && m.facts().claims.is_none() && !m.needs_power_loss())
    }

    /// The mistakes in durability (volatile caches, commit protocols, recovery), each shown
    /// by the run its [`Facts::power`] describes.
    pub fn of_power() -> impl Iterator<Item = Mutant> {
        Mutant::ALL.into_iter().filter(|m| m.needs_power_loss())
    }

    /// Whether only a run with volatile caches and a power loss can show it.
    pub fn needs_power_loss(self) -> bool {
        self.facts().power.is_some()
    }

    /// The mistakes in the claim structure the copier's workers share, each shown by the
    /// run its [`Facts::claims`] describes.
    pub fn of_claims() -> impl Iterator<Item = Mutant> {
        Mutant::ALL
            .into_iter()
            .filter(|m| m.facts().claims.is_some())
    }

    /// Everything cowlab states about the mutant: its row of [`CATALOGUE`].
    pub fn facts(self) -> &'static Facts {
        &CATALOGUE[self as usize]
    }

    /// Whether the mistake is in the handling of faults: only a run with faults can show it.
    pub fn needs_faults(self) -> bool {
        self.facts().needs_faults
    }

    pub fn name(self) -> &'static str {
        self.facts().name
    }

    pub fn description(self) -> &'static str {
        self.facts().mistake
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

/// What cowlab states about one mutant, in one place: the checkers, the tests and the
/// command line read it here. (How it bends the engine is a decision point of the rules,
/// `Rules::new` in `model/src/rules.rs`.)
pub struct Facts {
    pub mutant: Mutant,
    /// As the command line spells it.
    pub name: &'static str,
    /// The mistake, in words (and the real system's fix it comes from, where there is one).
    pub mistake: &'static str,
    /// A mistake in handling faults: only a run with faults can show it.
    pub needs_faults: bool,
    /// A concurrency mistake: harmless when each operation (a write with its preservation
    /// and release, a segment's claim, copy and mark, an image read) runs alone, broken only
    /// when another process's steps fall inside it. The others are sequential mistakes that
    /// one operation alone exposes (`model/tests/loom.rs` checks the split against runs of one
    /// process at a time).
    pub concurrency: bool,
    /// The policies under which the tests' small exhaustive configurations show it; under
    /// the others it changes nothing that can be seen (skip-overlay needs an overlay pass,
    /// copier-ignores-in-flight a copier whose claims a write can wait on, which an overlay
    /// pass masks; most need a policy that preserves).
    pub shows_under: fn(&dyn Policy) -> bool,
    /// The smallest chunk, in blocks, that shows it (a partial chunk copy needs a chunk
    /// larger than the written blocks).
    pub min_cow_blocks: u64,
    /// The built-in policy under which the threaded tests exercise it: one where it matters.
    pub exercised_under: fn() -> Arc<dyn Policy>,
    /// For a fault mutant the threaded driver can show: the error policy whose path it
    /// breaks (cursor-before-data needs a copier crash, which that driver does not inject).
    pub breaks: Option<ErrorPolicy>,
    /// For a mistake in the claim structure: the smallest run that shows it.
    pub claims: Option<ClaimRun>,
    /// For a mistake in durability: the smallest run that shows it.
    pub power: Option<PowerRun>,
}

/// What a run needs beyond volatile caches and one power loss to show a durability mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerRun {
    /// Writers' writes are FUA.
    pub fua_writes: bool,
    /// Each writer flushes after its writes.
    pub guest_flush: bool,
    /// I/O faults the checker may inject per path, and the error policy they meet.
    pub faults: u8,
    pub on_error: ErrorPolicy,
}

impl PowerRun {
    const PLAIN: PowerRun = PowerRun {
        fua_writes: false,
        guest_flush: false,
        faults: 0,
        on_error: ErrorPolicy::BREAK_GUEST_WRITE,
    };
}

/// What a run needs beyond the defaults to show a mistake of the claim structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimRun {
    /// Copy workers.
    pub workers: u32,
    /// Tasks the checker may make a worker hand back, per path.
    pub hand_backs: u8,
    /// I/O faults the checker may inject, per path.
    pub faults: u8,
    /// Whether writes must be free to choose their ranges (the checkers' fixed writes never
    /// touch the volume's first chunk).
    pub any_writes: bool,
}

fn everywhere(_: &dyn Policy) -> bool {
    true
}

fn preserving(p: &dyn Policy) -> bool {
    matches!(p.write_rule(), WriteRule::Preserve(_))
}

fn overlaying(p: &dyn Policy) -> bool {
    p.overlay_pass()
}

fn preserving_without_overlay(p: &dyn Policy) -> bool {
    preserving(p) && !p.overlay_pass()
}

fn snapshot_overlay() -> Arc<dyn Policy> {
    Arc::new(policy::SnapshotOverlay)
}

fn snapshot_redirect() -> Arc<dyn Policy> {
    Arc::new(policy::SnapshotRedirect)
}

fn out_of_turn() -> Arc<dyn Policy> {
    Arc::new(policy::OutOfTurn)
}

/// The catalogue, one row per mutant in the order of [`Mutant::ALL`].
pub const CATALOGUE: [Facts; 26] = [
    Facts {
        mutant: Mutant::ApplyBeforePreserve,
        name: "apply-before-preserve",
        mistake: "apply the write, then preserve (preserves new data)",
        needs_faults: false,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::CheckThenAct,
        name: "check-then-act",
        mistake: "check the snapshot map, release the lock, then preserve (two writers to one chunk both preserve)",
        needs_faults: false,
        concurrency: true,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::MarkBeforeCopy,
        name: "mark-before-copy",
        mistake: "mark a segment copied before its data reaches the destination",
        needs_faults: false,
        concurrency: true,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::ReleaseOutOfOrder,
        name: "release-out-of-order",
        mistake: "release held writes out of FIFO order",
        needs_faults: false,
        concurrency: true,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::SkipOverlay,
        name: "skip-overlay",
        mistake: "skip the overlay pass (snapshot-overlay)",
        needs_faults: false,
        concurrency: false,
        shows_under: overlaying,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::PreserveTwice,
        name: "preserve-twice",
        mistake: "preserve a chunk that is already preserved (overwrites begin-time data with newer data)",
        needs_faults: false,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_redirect,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::ImageReadDuringPreserve,
        name: "image-read-during-preserve",
        mistake: "route a point-in-time image read to the source while the chunk's preservation is in flight (dm-snapshot a8d41b59)",
        needs_faults: false,
        concurrency: true,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::CopierIgnoresInFlight,
        name: "copier-ignores-in-flight",
        mistake: "the copier reads the source for a chunk being preserved without waiting for it (QEMU f8d59dfb)",
        needs_faults: false,
        concurrency: true,
        shows_under: preserving_without_overlay,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::PartialChunkCopy,
        name: "partial-chunk-copy",
        mistake: "copy only the written blocks of a chunk out of turn, then mark the whole chunk",
        needs_faults: false,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 2,
        exercised_under: out_of_turn,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::FirstSegmentOnly,
        name: "first-segment-only",
        mistake: "a write spanning two segments checks only the first",
        needs_faults: false,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::FailedPreserveKeepsMapBit,
        name: "failed-preserve-keeps-map-bit",
        mistake: "a preservation whose I/O failed still sets its chunk's map bit",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: Some(ErrorPolicy::BREAK_GUEST_WRITE),
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::HeldWritesHangOnCopyError,
        name: "held-writes-hang-on-copy-error",
        mistake: "after a copy error, held writes wait for a copy that will never complete (dm-snapshot's hung bios)",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: Some(ErrorPolicy::BREAK_SNAPSHOT),
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::CursorBeforeData,
        name: "cursor-before-data",
        mistake: "the copy cursor is persisted when a segment is claimed, before its data: a restart skips it",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::BrokenImageServed,
        name: "broken-image-served",
        mistake: "break-snapshot keeps serving the point-in-time image",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: Some(ErrorPolicy::BREAK_SNAPSHOT),
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::FailedWriteApplied,
        name: "failed-write-applied",
        mistake: "a write failed back to its writer is applied to the source anyway",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: Some(ErrorPolicy::BREAK_GUEST_WRITE),
        claims: None,
        power: None,
    },
    Facts {
        mutant: Mutant::ClaimWithoutRecheck,
        name: "claim-without-recheck",
        mistake: "a copy worker finds a free segment in one critical section and takes it in another, without looking again (two tasks on one region: why QEMU's block-copy took a lock)",
        needs_faults: false,
        concurrency: true,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: Some(ClaimRun {
            workers: 2,
            hand_backs: 0,
            faults: 0,
            any_writes: false,
        }),
        power: None,
    },
    Facts {
        mutant: Mutant::FailedTaskNotRedirtied,
        name: "failed-task-not-redirtied",
        mistake: "a copy task whose I/O failed ends as if its range were copied, instead of making it dirty again (a chunk never copied)",
        needs_faults: true,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: Some(ClaimRun {
            workers: 1,
            hand_backs: 0,
            faults: 1,
            any_writes: false,
        }),
        power: None,
    },
    Facts {
        mutant: Mutant::HandBackWithoutWake,
        name: "hand-back-without-wake",
        mistake: "a copy task handed back leaves its chunks in flight: whoever waits on them is never woken (a hang)",
        needs_faults: false,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: Some(ClaimRun {
            workers: 1,
            hand_backs: 1,
            faults: 0,
            any_writes: false,
        }),
        power: None,
    },
    Facts {
        mutant: Mutant::NoRecheckAfterWait,
        name: "no-recheck-after-wait",
        mistake: "a held write whose wait for a chunk in flight ends is applied without looking again (the task it waited for was handed back, the chunk is not preserved)",
        needs_faults: false,
        concurrency: true,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: Some(ClaimRun {
            workers: 1,
            hand_backs: 1,
            faults: 0,
            any_writes: false,
        }),
        power: None,
    },
    Facts {
        mutant: Mutant::ConflictMissesOffsetZero,
        name: "conflict-misses-offset-0",
        mistake: "the re-check for chunks in flight before a held write is applied misses a chunk at offset 0 (the `> 0` for `>= 0` a review caught in QEMU's block-copy)",
        needs_faults: false,
        concurrency: true,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: out_of_turn,
        breaks: None,
        claims: Some(ClaimRun {
            workers: 1,
            hand_backs: 0,
            faults: 0,
            any_writes: true,
        }),
        power: None,
    },
    Facts {
        mutant: Mutant::RecordBeforeDataFlush,
        name: "record-before-data-flush",
        mistake: "the record is made durable before the data it points at is flushed (dm-clone before it flushed the destination ahead of its region bitmap)",
        needs_faults: false,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun::PLAIN),
    },
    Facts {
        mutant: Mutant::WriteReleasedBeforeCommit,
        name: "write-released-before-commit",
        mistake: "the write is applied once the in-core map is set and its record written, before the metadata is flushed (dm-era's in-core bitset trusted ahead of its commit)",
        needs_faults: false,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun::PLAIN),
    },
    Facts {
        mutant: Mutant::FuaTakenAsFlush,
        name: "fua-taken-as-flush",
        mistake: "a FUA write is applied before its preservation's record is durable, the metadata flush left out as if the FUA write flushed it (FUA makes only its own data durable)",
        needs_faults: false,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun {
            fua_writes: true,
            ..PowerRun::PLAIN
        }),
    },
    Facts {
        mutant: Mutant::CursorBeforeDestinationFlush,
        name: "cursor-before-destination-flush",
        mistake: "the cursor is committed before the segment's destination writes are flushed: recovery trusts a segment whose data never reached stable media",
        needs_faults: false,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun::PLAIN),
    },
    Facts {
        mutant: Mutant::FullStoreResumed,
        name: "full-store-resumed",
        mistake: "recovery resumes a snapshot its durable invalid record declares broken (a full store, a failed copy) instead of declaring it invalid (dm-snapshot invalidates a full store)",
        needs_faults: true,
        concurrency: false,
        shows_under: preserving,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun {
            faults: 1,
            on_error: ErrorPolicy::BREAK_SNAPSHOT,
            ..PowerRun::PLAIN
        }),
    },
    Facts {
        mutant: Mutant::GuestFlushSwallowed,
        name: "guest-flush-swallowed",
        mistake: "the guest's FLUSH is answered without flushing the source: an acknowledged and flushed write is lost",
        needs_faults: false,
        concurrency: false,
        shows_under: everywhere,
        min_cow_blocks: 1,
        exercised_under: snapshot_overlay,
        breaks: None,
        claims: None,
        power: Some(PowerRun {
            guest_flush: true,
            ..PowerRun::PLAIN
        }),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_one_row_per_mutant_in_order_and_distinct_names() {
        for (i, m) in Mutant::ALL.into_iter().enumerate() {
            assert_eq!(CATALOGUE[i].mutant, m, "row {i}");
            assert_eq!(m as usize, i, "{m:?} is not at its place in ALL");
        }
        let mut names: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    #[test]
    fn a_fault_mutant_names_the_error_policy_it_breaks_and_no_other_does() {
        for f in &CATALOGUE {
            if f.breaks.is_some() {
                assert!(f.needs_faults, "{}", f.name);
            }
        }
    }
}
