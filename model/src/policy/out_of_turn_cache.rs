use super::{Policy, Target, WriteRule};

/// Copy the written chunks to a cache out of turn; the copier later moves them
/// from the cache to the destination.
#[derive(Debug)]
pub struct OutOfTurnCache;

impl Policy for OutOfTurnCache {
    fn name(&self) -> &'static str {
        "out-of-turn-cache"
    }
    fn summary(&self) -> &'static str {
        "copy written chunks to a cache out of turn; the copier moves them to the destination"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Cache)
    }
    fn copier_reads_preserved(&self) -> bool {
        true
    }
}
