//! The ghost state: not part of any real implementation, only what the invariants compare
//! against. It is a type parameter of the metadata, so a driver can keep it exactly (the
//! checkers, small timed runs) or not at all (timed runs of volumes too large to hold).

use crate::disk::{Stamp, BEGIN};
use crate::geometry::{Block, Chunk};
use crate::meta::ChunkSet;
use std::fmt;
use std::hash::Hash;
use std::ops::Range;

/// What the engine tells the ghost state, and what the invariants ask of it.
pub trait Ghost: Clone + fmt::Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    fn new(blocks: Block, chunks: Chunk) -> Self;
    /// A write became visible (it arrived: applied at once or held).
    fn arrived(&mut self, blocks: Range<Block>, stamp: Stamp);
    /// The stamp of the newest visible write of a block, or `None` if not kept.
    fn latest(&self, block: Block) -> Option<Stamp>;
    /// A chunk's begin-time data was preserved (copied out of the way and published).
    fn preserved(&mut self, chunk: Chunk);
}

/// The exact ghost state: the newest visible write of every block, and which chunks were
/// preserved (and whether one was preserved twice).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GhostImage {
    /// Per block, the stamp of the newest write that has become visible (applied, or held).
    pub latest: Vec<Stamp>,
    /// Chunks preserved at least once.
    pub preserved: ChunkSet,
    /// The first chunk preserved a second time, if any.
    pub preserved_twice: Option<Chunk>,
}

impl Ghost for GhostImage {
    fn new(blocks: Block, chunks: Chunk) -> Self {
        GhostImage {
            latest: vec![BEGIN; blocks as usize],
            preserved: ChunkSet::new(chunks),
            preserved_twice: None,
        }
    }
    fn arrived(&mut self, blocks: Range<Block>, stamp: Stamp) {
        self.latest[blocks.start as usize..blocks.end as usize].fill(stamp);
    }
    fn latest(&self, block: Block) -> Option<Stamp> {
        Some(self.latest[block as usize])
    }
    fn preserved(&mut self, chunk: Chunk) {
        if self.preserved.contains(chunk) {
            self.preserved_twice.get_or_insert(chunk);
        }
        self.preserved.insert(chunk);
    }
}

/// No ghost state: for runs whose invariants are not evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NoGhost;

impl Ghost for NoGhost {
    fn new(_blocks: Block, _chunks: Chunk) -> Self {
        NoGhost
    }
    fn arrived(&mut self, _blocks: Range<Block>, _stamp: Stamp) {}
    fn latest(&self, _block: Block) -> Option<Stamp> {
        None
    }
    fn preserved(&mut self, _chunk: Chunk) {}
}
