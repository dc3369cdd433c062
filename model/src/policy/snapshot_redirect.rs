use super::{Policy, Target, WriteRule};

/// Preserve to a snapshot; the copier reads preserved chunks from the snapshot, so no
/// overlay pass is needed.
#[derive(Debug)]
pub struct SnapshotRedirect;

impl Policy for SnapshotRedirect {
    fn name(&self) -> &'static str {
        "snapshot-redirect"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Snapshot)
    }
    fn copier_reads_preserved(&self) -> bool {
        true
    }
}
