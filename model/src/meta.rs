//! Shared metadata of an online copy: the snapshot map, the copied map, chunks in flight,
//! tracked image reads, the hold queue, and the ghost state the invariants compare against.
//!
//! In the threaded driver all of this sits behind one lock (the metadata lock); every engine
//! step that touches it is one critical section.

use crate::disk::{Stamp, BEGIN};
use crate::geometry::Index;
use fixedbitset::FixedBitSet;
use std::ops::Range;

/// Identifies a write of the workload; its stamp is `id + 1` (stamp 0 is the begin image).
pub type WriteId = u16;

pub fn stamp_of(write: WriteId) -> Stamp {
    write as Stamp + 1
}

/// The write behind a stamp; `None` for the begin image and unwritten blocks.
pub fn write_of(s: Stamp) -> Option<WriteId> {
    (s != BEGIN && s != crate::disk::UNWRITTEN).then(|| (s - 1) as WriteId)
}

/// Renames the write behind a stamp (symmetry reduction); the begin image and unwritten
/// blocks stay as they are.
pub fn map_stamp(s: Stamp, write: impl Fn(WriteId) -> WriteId) -> Stamp {
    write_of(s).map_or(s, |w| stamp_of(write(w)))
}

/// A set of chunks (one bit each).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChunkSet(FixedBitSet);

impl ChunkSet {
    pub fn new(chunks: Index) -> Self {
        ChunkSet(FixedBitSet::with_capacity(chunks as usize))
    }
    pub fn contains(&self, c: Index) -> bool {
        self.0.contains(c as usize)
    }
    pub fn insert(&mut self, c: Index) {
        self.0.insert(c as usize)
    }
    pub fn remove(&mut self, c: Index) {
        self.0.set(c as usize, false)
    }
    pub fn any_in(&self, r: Range<Index>) -> bool {
        r.into_iter().any(|c| self.contains(c))
    }
    pub fn count(&self) -> usize {
        self.0.count_ones(..)
    }
    pub fn iter(&self) -> impl Iterator<Item = Index> + '_ {
        self.0.ones().map(|c| c as Index)
    }
    /// Bytes a real implementation would spend on this bitmap.
    pub fn metadata_bytes(&self) -> usize {
        self.0.len().div_ceil(8)
    }
}

/// Chunks whose begin-time data has been saved to the snapshot store (or the cache).
pub type SnapshotMap = ChunkSet;

/// Held writes in arrival order (Smith's FIFO write buffer): a write waits here while the
/// chunks it modifies are being preserved, and leaves from the head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct HoldQueue(Vec<WriteId>);

impl HoldQueue {
    pub fn push(&mut self, w: WriteId) {
        self.0.push(w)
    }
    pub fn head(&self) -> Option<WriteId> {
        self.0.first().copied()
    }
    pub fn contains(&self, w: WriteId) -> bool {
        self.0.contains(&w)
    }
    pub fn remove(&mut self, w: WriteId) {
        self.0.retain(|x| *x != w)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Renames every held write, keeping the order (symmetry reduction).
    pub fn renumber(&mut self, write: impl Fn(WriteId) -> WriteId) {
        for w in &mut self.0 {
            *w = write(*w);
        }
    }

    /// Held writes, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = WriteId> + '_ {
        self.0.iter().copied()
    }
}

/// Not part of any real implementation: what the invariants compare against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Per block, the stamp of the newest write that has become visible (applied, or held).
    pub latest: Vec<Stamp>,
    /// Chunks preserved at least once.
    pub preserved: ChunkSet,
    /// The first chunk preserved a second time, if any.
    pub preserved_twice: Option<Index>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    pub snapshot_map: SnapshotMap,
    /// Chunks whose begin-time data is at the destination (by the copier or out of turn).
    pub copied: ChunkSet,
    /// Chunks claimed by a preserver or the copier and not yet released.
    pub in_flight: ChunkSet,
    /// Per chunk, image reads routed to the source and not yet finished (dm-snapshot's
    /// tracked chunks): a write may not modify the chunk until they finish.
    pub tracked: Vec<u8>,
    pub hold: HoldQueue,
    pub copy_complete: bool,
    pub ghost: Ghost,
}

impl Meta {
    pub fn new(blocks: Index, chunks: Index) -> Self {
        Meta {
            snapshot_map: ChunkSet::new(chunks),
            copied: ChunkSet::new(chunks),
            in_flight: ChunkSet::new(chunks),
            tracked: vec![0; chunks as usize],
            hold: HoldQueue::default(),
            copy_complete: false,
            ghost: Ghost {
                latest: vec![BEGIN; blocks as usize],
                preserved: ChunkSet::new(chunks),
                preserved_twice: None,
            },
        }
    }

    /// Begin-time data of the chunk is safe somewhere other than the source.
    pub fn settled(&self, c: Index) -> bool {
        self.copied.contains(c) || self.snapshot_map.contains(c)
    }

    pub fn any_tracked(&self, chunks: Range<Index>) -> bool {
        chunks.into_iter().any(|c| self.tracked[c as usize] > 0)
    }

    /// Records a preservation in the ghost state.
    pub fn note_preserved(&mut self, c: Index) {
        if self.ghost.preserved.contains(c) {
            self.ghost.preserved_twice.get_or_insert(c);
        }
        self.ghost.preserved.insert(c);
    }
}
