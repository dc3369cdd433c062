//! A copy policy of one's own, as a storage designer would write it in their own crate, and
//! a broken variant of it. `tests/checks.rs` checks both with cowlab's drivers: every
//! interleaving (stateright), generated cases with shrinking (proptest over the random
//! driver), and the threaded implementation under loom. The sound one passes; the broken one
//! is caught by each.

use cowlab_model::policy::{Policy, Target, WriteRule};

/// Out-of-turn copying that also copies the next chunk not yet copied along with each
/// write, betting that a writer that wrote here writes next door next.
#[derive(Debug)]
pub struct OutOfTurnAhead;

impl Policy for OutOfTurnAhead {
    fn name(&self) -> &'static str {
        "out-of-turn-ahead"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Destination)
    }
    fn preserve_next_range(&self) -> bool {
        true
    }
}

/// A design mistake: preserve to a snapshot, but neither read preserved chunks from it nor
/// copy it over the destination at the end. The copier copies the new data of written
/// chunks and marks them copied, and nothing puts the begin-time data back: map soundness
/// (a chunk marked copied holds begin-time data at the destination) breaks first.
#[derive(Debug)]
pub struct SnapshotForgotten;

impl Policy for SnapshotForgotten {
    fn name(&self) -> &'static str {
        "snapshot-forgotten"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Snapshot)
    }
}
