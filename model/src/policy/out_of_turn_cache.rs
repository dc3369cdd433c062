use super::{Policy, Target, WriteRule};

/// Copy the written chunks to a cache out of turn; the copier later moves them
/// from the cache to the destination.
#[derive(Debug)]
pub struct OutOfTurnCache;

impl Policy for OutOfTurnCache {
    fn name(&self) -> &'static str {
        "out-of-turn-cache"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Cache)
    }
    fn copier_reads_preserved(&self) -> bool {
        true
    }
}
