use super::{Policy, WriteRule};

/// The baseline: every write waits until the copy is complete.
#[derive(Debug)]
pub struct Offline;

impl Policy for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::WaitForCopy
    }
}
