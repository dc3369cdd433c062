use super::{Policy, Target, WriteRule};

/// Claims 23, 31, 46-52: preserve to a snapshot, copy the source as it is, then copy the
/// snapshot over the destination.
#[derive(Debug)]
pub struct SnapshotOverlay;

impl Policy for SnapshotOverlay {
    fn name(&self) -> &'static str {
        "snapshot-overlay"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Snapshot)
    }
    fn overlay_pass(&self) -> bool {
        true
    }
}
