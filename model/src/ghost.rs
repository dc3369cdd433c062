//! The ghost state: not part of any real implementation, only what the invariants compare
//! against. It is a type parameter of the metadata, so a driver can keep it exactly (the
//! checkers, small timed runs) or not at all (timed runs of volumes too large to hold).

use crate::disk::{Stamp, BEGIN};
use crate::geometry::ChunkSet;
use crate::geometry::{Block, Chunk};
use std::fmt;
use std::hash::Hash;
use std::ops::Range;

/// What the engine tells the ghost state, and what the invariants ask of it.
pub trait Ghost: Clone + fmt::Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    fn new(blocks: Block, chunks: Chunk) -> Self;
    /// A write became visible (it arrived: applied at once or held). When it `may_fail`, the
    /// ghost keeps what the write hid, until it is acknowledged or failed.
    fn arrived(&mut self, blocks: Range<Block>, stamp: Stamp, may_fail: bool);
    /// The write reached the source: it can no longer fail.
    fn acknowledged(&mut self, _stamp: Stamp) {}
    /// The write failed back to its writer: readers must see what they saw before it.
    fn failed(&mut self, _stamp: Stamp) {}
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
    /// Writes that may still fail, each with the stamps it hid (kept only when I/O can fail).
    pub undo: Vec<Undo>,
}

/// What a write that may still fail hid when it arrived.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Undo {
    pub stamp: Stamp,
    pub start: Block,
    /// The newest visible stamp of each of its blocks before it arrived.
    pub before: Vec<Stamp>,
}

impl Ghost for GhostImage {
    fn new(blocks: Block, chunks: Chunk) -> Self {
        GhostImage {
            latest: vec![BEGIN; blocks as usize],
            preserved: ChunkSet::new(chunks),
            preserved_twice: None,
            undo: Vec::new(),
        }
    }
    fn arrived(&mut self, blocks: Range<Block>, stamp: Stamp, may_fail: bool) {
        let r = blocks.start as usize..blocks.end as usize;
        if may_fail {
            self.undo.push(Undo {
                stamp,
                start: blocks.start,
                before: self.latest[r.clone()].to_vec(),
            });
        }
        self.latest[r].fill(stamp);
    }
    fn acknowledged(&mut self, stamp: Stamp) {
        self.undo.retain(|u| u.stamp != stamp);
    }
    /// Unlinks the write from each block's history: where it is the newest, the block shows
    /// what it hid; where a later write hid it, that write now hides what it hid.
    fn failed(&mut self, stamp: Stamp) {
        let Some(i) = self.undo.iter().position(|u| u.stamp == stamp) else {
            return;
        };
        let gone = self.undo.remove(i);
        for (k, before) in gone.before.iter().enumerate() {
            let b = gone.start as usize + k;
            if self.latest[b] == stamp {
                self.latest[b] = *before;
            }
            for u in &mut self.undo {
                let at = b.wrapping_sub(u.start as usize);
                if u.before.get(at) == Some(&stamp) {
                    u.before[at] = *before;
                }
            }
        }
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
    fn arrived(&mut self, _blocks: Range<Block>, _stamp: Stamp, _may_fail: bool) {}
    fn latest(&self, _block: Block) -> Option<Stamp> {
        None
    }
    fn preserved(&mut self, _chunk: Chunk) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_shows_what_it_hid_even_under_a_later_write() {
        let mut g = GhostImage::new(4, 4);
        g.arrived(0..2, 1, true);
        g.arrived(1..3, 2, true);
        g.arrived(2..4, 3, true);
        assert_eq!(g.latest, [1, 2, 3, 3]);
        g.failed(2);
        assert_eq!(g.latest, [1, 1, 3, 3]);
        g.failed(3);
        assert_eq!(
            g.latest,
            [1, 1, 0, 0],
            "write 3 hid write 2, which hid the begin image"
        );
        g.acknowledged(1);
        g.failed(1);
        assert_eq!(g.latest, [1, 1, 0, 0], "an acknowledged write cannot fail");
        assert!(g.undo.is_empty());
    }

    #[test]
    fn writes_that_cannot_fail_keep_nothing() {
        let mut g = GhostImage::new(2, 2);
        g.arrived(0..2, 1, false);
        assert!(g.undo.is_empty());
        g.failed(1);
        assert_eq!(g.latest, [1, 1]);
    }
}
