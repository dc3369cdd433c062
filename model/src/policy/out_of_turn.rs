use super::{Policy, Target, WriteRule};

/// Copy the written chunks to the destination out of turn; the copier skips them. QEMU's
/// copy-before-write and Linux dm-clone are this with a chunk smaller than the copier's
/// segment.
#[derive(Debug)]
pub struct OutOfTurn;

impl Policy for OutOfTurn {
    fn name(&self) -> &'static str {
        "out-of-turn"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Destination)
    }
}
