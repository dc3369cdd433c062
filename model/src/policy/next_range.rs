use super::{Policy, Target, WriteRule};

/// Claim 54: as snapshot-overlay, and a write also preserves the next chunk that is not yet
/// preserved (anticipating a sequential writer, at the price of extra copy-on-write bytes).
#[derive(Debug)]
pub struct NextRange;

impl Policy for NextRange {
    fn name(&self) -> &'static str {
        "next-range"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Snapshot)
    }
    fn overlay_pass(&self) -> bool {
        true
    }
    fn preserve_next_range(&self) -> bool {
        true
    }
}
