//! The ghost state: not part of any real implementation, only what the invariants compare
//! against. It is a type parameter of the metadata, so a driver can keep it exactly (the
//! checkers, small timed runs) or not at all (timed runs of volumes too large to hold).

use crate::disk::{Stamp, BEGIN};
use crate::geometry::ChunkSet;
use crate::geometry::{Block, Chunk};
use smallvec::SmallVec;
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
    /// Devices have volatile caches: from now on, keep which writes must outlive a power
    /// loss (called at begin time).
    fn track_durability(&mut self) {}
    /// An acknowledged write reached the source (its cache, or stable media when `fua`).
    fn applied(&mut self, _blocks: Range<Block>, _stamp: Stamp, _fua: bool) {}
    /// The guest's FLUSH completed: every write applied so far must outlive a power loss.
    fn flushed(&mut self) {}
    /// The power failed and the source now holds `source`: a block that lost a write the
    /// guest was told is durable is noted (the first only), and what the source holds is
    /// the newest data from now on. Chunks in `preserved` are those whose preservation is
    /// on stable media.
    fn power_lost(&mut self, _source: &[Stamp], _preserved: &ChunkSet) {}
    /// The first block that lost a write the guest was told is durable: the block, the
    /// stamp that had to survive (the newest of those allowed) and the stamp found.
    fn lost_durable_write(&self) -> Option<(Block, Stamp, Stamp)> {
        None
    }
}

/// What must outlive a power loss, per block of the source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DurableGhost {
    /// The newest acknowledged write applied to each block.
    pub applied: Vec<Stamp>,
    /// The stamps a block may hold after a power loss: the write covered by the last
    /// FLUSH (or FUA), then every write applied since.
    pub allowed: Vec<SmallVec<[Stamp; 2]>>,
    /// The first block found to have lost a durable write.
    pub lost: Option<(Block, Stamp, Stamp)>,
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
    /// Kept only when devices have volatile caches.
    pub durable: Option<Box<DurableGhost>>,
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
            durable: None,
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
    fn track_durability(&mut self) {
        let n = self.latest.len();
        self.durable = Some(Box::new(DurableGhost {
            applied: vec![BEGIN; n],
            allowed: vec![smallvec::smallvec![BEGIN]; n],
            lost: None,
        }));
    }
    fn applied(&mut self, blocks: Range<Block>, stamp: Stamp, fua: bool) {
        let Some(d) = &mut self.durable else { return };
        for b in blocks {
            let b = b as usize;
            d.applied[b] = stamp;
            match fua {
                true => d.allowed[b] = smallvec::smallvec![stamp],
                false => d.allowed[b].push(stamp),
            }
        }
    }
    fn flushed(&mut self) {
        let Some(d) = &mut self.durable else { return };
        for (allowed, applied) in d.allowed.iter_mut().zip(&d.applied) {
            *allowed = smallvec::smallvec![*applied];
        }
    }
    fn power_lost(&mut self, source: &[Stamp], preserved: &ChunkSet) {
        let Some(d) = &mut self.durable else { return };
        for (b, found) in source.iter().enumerate() {
            if d.lost.is_none() && !d.allowed[b].contains(found) {
                d.lost = Some((b as Block, d.allowed[b][0], *found));
            }
            d.allowed[b] = smallvec::smallvec![*found];
            d.applied[b] = *found;
        }
        self.latest.copy_from_slice(source);
        self.undo.clear();
        self.preserved = preserved.clone();
    }
    fn lost_durable_write(&self) -> Option<(Block, Stamp, Stamp)> {
        self.durable.as_ref().and_then(|d| d.lost)
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
