//! Shared metadata of an online copy: the snapshot map, the copied map, chunks in flight,
//! tracked image reads, the hold queue, and the ghost state the invariants compare against.
//!
//! In the threaded driver all of this sits behind one lock (the metadata lock); every engine
//! step that touches it is one critical section.
//!
//! Every query a step makes here costs at most a logarithm of the volume or of the number of
//! writes: the checkers' tiny states answer by scanning, large timed runs keep indexes
//! ([`Derived`] values, which take no part in a state's equality).

use crate::disk::Stamp;
pub use crate::disk::{map_stamp, stamp_of, write_of, WriteId};
pub use crate::geometry::ChunkSet;
use crate::geometry::{Block, Chunk, Geometry, Segment};
use crate::ghost::{Ghost, GhostImage};
use crate::progress::CopyProgress;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// Most writes a run may have: stamps are 32-bit, 0 is the begin image and `Stamp::MAX`
/// marks unwritten blocks.
pub const MAX_WRITES: u64 = Stamp::MAX as u64 - 1;

/// A value derived from the rest of its owner, kept only to answer a query fast. It takes no
/// part in equality or hashing: two states equal in everything else answer every query alike.
#[derive(Clone, Debug, Default)]
pub struct Derived<T>(T);

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

impl<T> Hash for Derived<T> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// The chunks a write claims to preserve.
pub type Claims = SmallVec<[Chunk; 2]>;

/// Volumes with more chunks than this keep indexes beside the metadata; smaller ones (every
/// checker's) answer by scanning, which keeps their states small and fast to copy.
pub const INDEX_FROM_CHUNKS: Chunk = 4096;

/// One of the per-chunk maps of the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Map {
    /// Chunks whose begin-time data is at the destination (by the copier or out of turn).
    Copied = 0,
    /// The snapshot map: chunks whose begin-time data is in the snapshot store (or cache).
    Snapshot = 1,
    /// Chunks claimed by a preserver or the copier and not yet released.
    InFlight = 2,
}

const MAPS: usize = 3;

/// The three per-chunk maps, interleaved: for every 64 chunks one word of each map, so a
/// step that asks about one chunk reads one cache line (it matters at 2^28 chunks).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChunkMaps {
    words: Vec<u64>,
    chunks: Chunk,
}

impl ChunkMaps {
    fn new(chunks: Chunk) -> Self {
        ChunkMaps {
            words: vec![0; (chunks as usize).div_ceil(64) * MAPS],
            chunks,
        }
    }

    fn at(map: Map, c: Chunk) -> (usize, u64) {
        ((c as usize / 64) * MAPS + map as usize, 1 << (c % 64))
    }

    fn word(&self, map: Map, group: usize) -> u64 {
        self.words[group * MAPS + map as usize]
    }

    fn insert(&mut self, map: Map, c: Chunk) {
        let (i, bit) = Self::at(map, c);
        self.words[i] |= bit;
    }

    fn remove(&mut self, map: Map, c: Chunk) {
        let (i, bit) = Self::at(map, c);
        self.words[i] &= !bit;
    }

    fn insert_range(&mut self, map: Map, r: Range<Chunk>) {
        let mut c = r.start;
        while c < r.end {
            let (i, _) = Self::at(map, c);
            let lo = c % 64;
            let hi = (lo + (r.end - c)).min(64);
            let mask = match hi - lo {
                64 => !0,
                n => ((1u64 << n) - 1) << lo,
            };
            self.words[i] |= mask;
            c += hi - lo;
        }
    }

    /// The three maps' union, a word per 64 chunks.
    fn union_words(&self) -> impl Iterator<Item = u64> + '_ {
        self.words
            .chunks(MAPS)
            .map(|g| g.iter().fold(0, |a, w| a | w))
    }

    /// A read-only view of one map.
    pub fn view(&self, map: Map) -> MapView<'_> {
        MapView { maps: self, map }
    }
}

/// One of the per-chunk maps, read only.
#[derive(Clone, Copy)]
pub struct MapView<'a> {
    maps: &'a ChunkMaps,
    map: Map,
}

impl MapView<'_> {
    pub fn contains(&self, c: Chunk) -> bool {
        let (i, bit) = ChunkMaps::at(self.map, c);
        self.maps.words[i] & bit != 0
    }

    /// The first chunk of the map in a range, a word at a time.
    pub fn first_in(&self, range: Range<Chunk>) -> Option<Chunk> {
        let end = range.end.min(self.maps.chunks);
        let mut c = range.start;
        while c < end {
            let word = self.maps.word(self.map, c as usize / 64) & (!0u64 << (c % 64));
            if word != 0 {
                let found = (c / 64) * 64 + word.trailing_zeros();
                return (found < end).then_some(found);
            }
            c = (c / 64 + 1) * 64;
        }
        None
    }

    /// The first chunk of the map at or after `from`.
    pub fn next_from(&self, from: Chunk) -> Option<Chunk> {
        self.first_in(from..self.maps.chunks)
    }

    pub fn any_in(&self, r: Range<Chunk>) -> bool {
        self.first_in(r).is_some()
    }

    pub fn count(&self) -> usize {
        let groups = self.maps.words.len() / MAPS;
        (0..groups)
            .map(|g| self.maps.word(self.map, g).count_ones() as usize)
            .sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = Chunk> + '_ {
        let mut next = self.next_from(0);
        std::iter::from_fn(move || {
            let c = next?;
            next = self.next_from(c + 1);
            Some(c)
        })
    }

    /// Bytes a real implementation would spend on this map as a bitmap.
    pub fn metadata_bytes(&self) -> usize {
        (self.maps.chunks as usize).div_ceil(8)
    }
}

/// Chunks whose begin-time data has been saved to the snapshot store (or the cache).
pub type SnapshotMap = ChunkSet;

/// A write waiting in the hold queue, with the blocks it will modify.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Held {
    pub write: WriteId,
    pub blocks: Range<Block>,
    /// Its arrival number in the queue's index (none without one).
    arrival: Derived<u32>,
}

/// Held writes in arrival order (Smith's FIFO write buffer): a write waits here while the
/// chunks it modifies are being preserved, and leaves from the head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoldQueue {
    queue: VecDeque<Held>,
    index: Derived<Option<Box<HeldIndex>>>,
}

/// Held writes by the buckets of blocks they cover, to find the ones covering a block
/// without a scan. A write is listed in every bucket it touches, so a query reads only the
/// buckets of its own range.
#[derive(Clone, Debug, Default)]
struct HeldIndex {
    buckets: FxHashMap<Block, SmallVec<[Listed; 1]>>,
    arrivals: u32,
}

/// A held write as a bucket lists it (compact: the index holds one per held write).
#[derive(Clone, Debug)]
struct Listed {
    start: Block,
    end: Block,
    /// Its arrival number among held writes (unique while held: the queue holds fewer
    /// than 2^32 writes).
    arrival: u32,
    write: WriteId,
}

impl Listed {
    fn blocks(&self) -> Range<Block> {
        self.start..self.end
    }
}

/// Blocks per bucket of the held-write index.
const BUCKET_BLOCKS: Block = 64;

fn buckets(blocks: &Range<Block>) -> Range<Block> {
    blocks.start / BUCKET_BLOCKS..(blocks.end - 1) / BUCKET_BLOCKS + 1
}

impl HeldIndex {
    fn insert(&mut self, write: WriteId, blocks: &Range<Block>) -> u32 {
        let arrival = self.arrivals;
        self.arrivals = self.arrivals.wrapping_add(1);
        for b in buckets(blocks) {
            let listed = Listed {
                start: blocks.start,
                end: blocks.end,
                arrival,
                write,
            };
            self.buckets.entry(b).or_default().push(listed);
        }
        arrival
    }

    fn remove(&mut self, blocks: &Range<Block>, arrival: u32) {
        for b in buckets(blocks) {
            if let Some(list) = self.buckets.get_mut(&b) {
                list.retain(|l| l.arrival != arrival);
                if list.is_empty() {
                    self.buckets.remove(&b);
                }
            }
        }
    }

    /// Held writes listed in the buckets of a range (a write may be listed more than once).
    fn near<'a>(&'a self, blocks: &Range<Block>) -> impl Iterator<Item = &'a Listed> + 'a {
        buckets(blocks)
            .filter_map(|b| self.buckets.get(&b))
            .flat_map(|list| list.iter())
    }
}

/// Hashes the held writes and their blocks, but not the index (the exhaustive checker keeps
/// a state's hash as its identity, so every field of the state must count).
impl Hash for HoldQueue {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_usize(self.queue.len());
        for held in &self.queue {
            h.write_u32(held.write);
            h.write_u64(held.blocks.start);
            h.write_u64(held.blocks.end);
        }
    }
}

impl HoldQueue {
    /// A queue that indexes its writes (for queues that may grow long).
    pub fn indexed() -> Self {
        HoldQueue {
            queue: VecDeque::new(),
            index: Derived(Some(Box::default())),
        }
    }

    pub fn push(&mut self, write: WriteId, blocks: Range<Block>) {
        let arrival = match &mut self.index.0 {
            Some(ix) => ix.insert(write, &blocks),
            None => 0,
        };
        self.queue.push_back(Held {
            write,
            blocks,
            arrival: Derived(arrival),
        });
    }

    pub fn head(&self) -> Option<WriteId> {
        self.queue.front().map(|h| h.write)
    }

    /// The oldest held write of a volume (a scan: only runs of several volumes ask).
    pub fn head_within(&self, volume: &Range<Block>) -> Option<WriteId> {
        self.queue
            .iter()
            .find(|h| volume.contains(&h.blocks.start))
            .map(|h| h.write)
    }

    /// Whether a write is held (a scan: only the release-out-of-order mutant asks).
    pub fn contains(&self, w: WriteId) -> bool {
        self.queue.iter().any(|h| h.write == w)
    }

    /// Removes a write: the head in FIFO order (constant time), or one further back (a
    /// scan, only under the release-out-of-order mutant).
    pub fn remove(&mut self, w: WriteId) {
        let at = match self.head() == Some(w) {
            true => Some(0),
            false => self.queue.iter().position(|h| h.write == w),
        };
        let Some(held) = at.and_then(|i| self.queue.remove(i)) else {
            return;
        };
        if let Some(ix) = &mut self.index.0 {
            ix.remove(&held.blocks, held.arrival.0);
        }
    }

    /// Whether a held write modifies any of these blocks.
    pub fn overlaps(&self, blocks: &Range<Block>) -> bool {
        match &self.index.0 {
            Some(ix) => ix.near(blocks).any(|l| overlaps(&l.blocks(), blocks)),
            None => self.queue.iter().any(|h| overlaps(&h.blocks, blocks)),
        }
    }

    /// The newest held write covering a block, if any: reads must see held writes.
    pub fn newest_covering(&self, block: Block) -> Option<WriteId> {
        match &self.index.0 {
            Some(ix) => ix
                .near(&(block..block + 1))
                .filter(|l| l.blocks().contains(&block))
                .max_by_key(|l| l.arrival.wrapping_sub(ix.arrivals))
                .map(|l| l.write),
            None => self
                .queue
                .iter()
                .rev()
                .find(|h| h.blocks.contains(&block))
                .map(|h| h.write),
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Renames every held write, keeping the order (symmetry reduction).
    pub fn renumber(&mut self, write: impl Fn(WriteId) -> WriteId) {
        for h in &mut self.queue {
            h.write = write(h.write);
        }
        if self.index.0.is_some() {
            let mut fresh = HoldQueue::indexed();
            for h in self.queue.drain(..) {
                fresh.push(h.write, h.blocks);
            }
            *self = fresh;
        }
    }

    /// Held writes, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = WriteId> + '_ {
        self.queue.iter().map(|h| h.write)
    }

    /// Held writes with their blocks, oldest first.
    pub fn held(&self) -> impl DoubleEndedIterator<Item = &Held> + '_ {
        self.queue.iter()
    }
}

pub fn overlaps(a: &Range<Block>, b: &Range<Block>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Chunks that are settled or in flight (a set that only grows), in levels of 64-bit words
/// so that the first chunk outside it at or after any point is found in a few word reads.
/// Bit `i` of level `k + 1` is set when word `i` of level `k` is full; bits past the end are
/// set from the start.
#[derive(Clone, Debug)]
struct Taken {
    chunks: u64,
    levels: Vec<Vec<u64>>,
}

impl Taken {
    fn new(chunks: Chunk, words: impl Iterator<Item = u64>) -> Self {
        let chunks = chunks as u64;
        let mut level: Vec<u64> = words.collect();
        level.resize(chunks.div_ceil(64).max(1) as usize, 0);
        let mut bits = chunks;
        let mut levels = Vec::new();
        loop {
            if !bits.is_multiple_of(64) {
                *level.last_mut().expect("at least one word") |= !0u64 << (bits % 64);
            }
            let next_bits = level.len() as u64;
            let next: Vec<u64> = level
                .chunks(64)
                .map(|ws| {
                    ws.iter()
                        .enumerate()
                        .fold(0u64, |acc, (i, w)| acc | (((*w == !0) as u64) << i))
                })
                .collect();
            levels.push(level);
            if next_bits == 1 {
                break;
            }
            level = next;
            bits = next_bits;
        }
        Taken { chunks, levels }
    }

    fn insert(&mut self, c: Chunk) {
        let mut i = c as u64;
        for level in &mut self.levels {
            let w = (i / 64) as usize;
            level[w] |= 1 << (i % 64);
            if level[w] != !0 {
                return;
            }
            i = w as u64;
        }
    }

    /// The first chunk at or after `from` not in the set.
    fn first_free(&self, from: Chunk) -> Option<Chunk> {
        let (mut k, mut p) = (0, from as u64);
        let found = loop {
            let level = self.levels.get(k)?;
            let w = (p / 64) as usize;
            let word = *level.get(w)? | ((1u64 << (p % 64)) - 1);
            if word != !0 {
                break w as u64 * 64 + (!word).trailing_zeros() as u64;
            }
            (k, p) = (k + 1, w as u64 + 1);
        };
        let mut p = found;
        while k > 0 {
            k -= 1;
            p = p * 64 + (!self.levels[k][p as usize]).trailing_zeros() as u64;
        }
        (p < self.chunks).then_some(p as Chunk)
    }
}

/// Image reads routed to the source and not yet finished, per chunk (dm-snapshot's tracked
/// chunks): a write may not modify the chunk until they finish.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tracked(BTreeMap<Chunk, u32>);

impl Tracked {
    #[inline]
    pub fn any_in(&self, chunks: Range<Chunk>) -> bool {
        self.0.range(chunks).next().is_some()
    }
    /// The first tracked chunk of a range.
    #[inline]
    pub fn first_in(&self, chunks: Range<Chunk>) -> Option<Chunk> {
        self.0.range(chunks).next().map(|(c, _)| *c)
    }
    pub fn add(&mut self, c: Chunk) {
        *self.0.entry(c).or_default() += 1;
    }
    pub fn remove(&mut self, c: Chunk) {
        match self.0.get_mut(&c) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.0.remove(&c);
            }
            None => panic!("chunk {c} was not tracked"),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// (chunk, reads) pairs, by chunk.
    pub fn iter(&self) -> impl Iterator<Item = (Chunk, u32)> + '_ {
        self.0.iter().map(|(c, n)| (*c, *n))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta<G: Ghost = GhostImage> {
    /// The copied map, the snapshot map and the chunks in flight; read them through
    /// [`Meta::copied`], [`Meta::snapshot_map`] and [`Meta::in_flight`], change them through
    /// the methods that claim, release and settle chunks.
    pub maps: ChunkMaps,
    pub tracked: Tracked,
    pub hold: HoldQueue,
    pub copy_complete: bool,
    /// The copy has failed (an error it could not survive): it will never complete, and its
    /// image reads fail.
    pub copy_failed: bool,
    /// Segments in which a chunk was preserved and that the copier has not claimed yet, for
    /// the written-first copy order (empty under any other order).
    pub preserved_segments: BTreeSet<Segment>,
    /// Which segments the copier's workers have taken and done.
    pub progress: CopyProgress,
    pub ghost: G,
    chunks_per_segment: u32,
    notes_preserved_segments: bool,
    /// Whether large-volume indexes are kept ([`INDEX_FROM_CHUNKS`]): how queries are
    /// answered, not what the state is.
    indexed: Derived<bool>,
    taken: Derived<Option<Box<Taken>>>,
}

impl<G: Ghost> Meta<G> {
    /// Fresh metadata for a volume; `notes_preserved_segments` keeps [`Meta::preserved_segments`] up to date.
    pub fn new(g: &Geometry, notes_preserved_segments: bool) -> Self {
        let chunks = g.chunks();
        let indexed = chunks > INDEX_FROM_CHUNKS;
        Meta {
            maps: ChunkMaps::new(chunks),
            tracked: Tracked::default(),
            hold: match indexed {
                true => HoldQueue::indexed(),
                false => HoldQueue::default(),
            },
            copy_complete: false,
            copy_failed: false,
            preserved_segments: BTreeSet::new(),
            progress: CopyProgress::new(g.segments()),
            ghost: G::new(g.blocks, chunks),
            chunks_per_segment: g.chunks_per_segment(),
            notes_preserved_segments,
            indexed: Derived(indexed),
            taken: Derived(None),
        }
    }

    /// Whether the large-volume indexes are kept.
    pub fn indexed(&self) -> bool {
        self.indexed.0
    }

    /// Keeps the large-volume indexes, or not, whatever the volume's size (at begin time,
    /// before any step). Both ways answer every query alike; tests compare them.
    pub fn with_indexes(mut self, on: bool) -> Self {
        assert!(self.hold.is_empty(), "indexes are chosen at begin time");
        self.indexed = Derived(on);
        self.hold = match on {
            true => HoldQueue::indexed(),
            false => HoldQueue::default(),
        };
        self
    }

    /// Chunks whose begin-time data is at the destination (by the copier or out of turn).
    pub fn copied(&self) -> MapView<'_> {
        self.maps.view(Map::Copied)
    }

    /// Chunks whose begin-time data is in the snapshot store (or the cache).
    pub fn snapshot_map(&self) -> MapView<'_> {
        self.maps.view(Map::Snapshot)
    }

    /// Chunks claimed by a preserver or the copier and not yet released.
    pub fn in_flight(&self) -> MapView<'_> {
        self.maps.view(Map::InFlight)
    }

    /// Begin-time data of the chunk is safe somewhere other than the source.
    pub fn settled(&self, c: Chunk) -> bool {
        let (i, bit) = ChunkMaps::at(Map::Copied, c);
        let group = &self.maps.words[i..i + 2];
        (group[0] | group[1]) & bit != 0
    }

    /// A preserver or the copier claims a chunk: writes to it wait until it is released.
    pub fn claim(&mut self, c: Chunk) {
        self.maps.insert(Map::InFlight, c);
        self.take(c);
    }

    pub fn release(&mut self, c: Chunk) {
        self.maps.remove(Map::InFlight, c);
    }

    /// A claim given up without settling the chunk (its preservation or copy failed): the
    /// chunk is open again, so the free-chunk index, which only grows, is rebuilt.
    pub fn unclaim(&mut self, c: Chunk) {
        self.release(c);
        if self.taken.0.is_some() {
            self.taken = Derived(None);
        }
    }

    /// The chunk's begin-time data is at the destination.
    pub fn set_copied(&mut self, c: Chunk) {
        self.maps.insert(Map::Copied, c);
        self.take(c);
    }

    /// A range of chunks is at the destination (the copier's segment).
    pub fn set_copied_range(&mut self, chunks: Range<Chunk>) {
        self.maps.insert_range(Map::Copied, chunks.clone());
        if self.taken.0.is_some() {
            chunks.for_each(|c| self.take(c));
        }
    }

    /// Every chunk's begin-time data is at the destination (a volume already copied).
    pub fn set_all_copied(&mut self) {
        self.maps.insert_range(Map::Copied, 0..self.maps.chunks);
        self.taken = Derived(None);
    }

    /// The chunk's begin-time data is in the snapshot store (or cache).
    pub fn set_mapped(&mut self, c: Chunk) {
        self.maps.insert(Map::Snapshot, c);
        self.take(c);
    }

    /// Records a preservation in the ghost state, and its segment for written-first.
    pub fn note_preserved(&mut self, c: Chunk) {
        self.ghost.preserved(c);
        if self.notes_preserved_segments {
            self.preserved_segments.insert(c / self.chunks_per_segment);
        }
    }

    /// The first chunk at or after `from` that is neither settled nor in flight.
    pub fn first_open_chunk(&mut self, from: Chunk) -> Option<Chunk> {
        let chunks = self.maps.chunks;
        if !self.indexed.0 {
            return (from..chunks).find(|c| !self.settled(*c) && !self.in_flight().contains(*c));
        }
        let maps = &self.maps;
        let taken = self
            .taken
            .0
            .get_or_insert_with(|| Box::new(Taken::new(chunks, maps.union_words())));
        taken.first_free(from)
    }

    fn take(&mut self, c: Chunk) {
        if let Some(t) = &mut self.taken.0 {
            t.insert(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn taken_levels_find_the_first_free_chunk_as_a_scan_does() {
        for chunks in [1u32, 63, 64, 65, 4095, 4096, 4097, 300_000] {
            let mut rng = ChaCha8Rng::seed_from_u64(chunks as u64);
            let mut taken = Taken::new(chunks, std::iter::empty());
            let mut set = vec![false; chunks as usize];
            // Fill mostly-contiguous runs and scattered chunks, querying as it grows.
            for round in 0..2000 {
                let c = match round % 3 {
                    0 => (rng.next_u64() % chunks as u64) as Chunk,
                    _ => set.iter().position(|t| !t).unwrap_or(0) as Chunk,
                };
                set[c as usize] = true;
                taken.insert(c);
                let from = (rng.next_u64() % chunks as u64) as Chunk;
                let scan = (from..chunks).find(|c| !set[*c as usize]);
                assert_eq!(taken.first_free(from), scan, "{chunks} chunks, from {from}");
            }
        }
        let full = Taken::new(128, [!0u64, !0].into_iter());
        assert_eq!(full.first_free(0), None);
    }

    #[test]
    fn an_indexed_hold_queue_answers_as_the_scanning_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut plain, mut indexed) = (HoldQueue::default(), HoldQueue::indexed());
        let mut next = 0;
        for _ in 0..3000 {
            if rng.next_u64() % 3 != 0 || plain.is_empty() {
                let start = rng.next_u64() % 500;
                let blocks = start..start + 1 + rng.next_u64() % 20;
                plain.push(next, blocks.clone());
                indexed.push(next, blocks);
                next += 1;
            } else {
                let w = match rng.next_u64() % 2 {
                    0 => plain.head().unwrap(),
                    _ => plain
                        .iter()
                        .nth((rng.next_u64() % plain.len() as u64) as usize)
                        .unwrap(),
                };
                plain.remove(w);
                indexed.remove(w);
            }
            assert_eq!(plain, indexed);
            for _ in 0..5 {
                let b = rng.next_u64() % 530;
                let r = b..b + 1 + rng.next_u64() % 8;
                assert_eq!(plain.newest_covering(b), indexed.newest_covering(b));
                assert_eq!(plain.overlaps(&r), indexed.overlaps(&r), "{r:?}");
                let w = rng.next_u64() as u32 % (next + 1);
                assert_eq!(plain.contains(w), indexed.contains(w));
            }
        }
    }

    #[test]
    fn interleaved_maps_answer_as_three_bitsets_do() {
        for chunks in [1u32, 64, 100, 1000] {
            let mut rng = ChaCha8Rng::seed_from_u64(chunks as u64);
            let mut maps = ChunkMaps::new(chunks);
            let mut sets = [0, 1, 2].map(|_| ChunkSet::new(chunks));
            let all = [Map::Copied, Map::Snapshot, Map::InFlight];
            for _ in 0..3000 {
                let m = (rng.next_u64() % 3) as usize;
                let c = (rng.next_u64() % chunks as u64) as Chunk;
                match rng.next_u64() % 4 {
                    0 => {
                        maps.remove(all[m], c);
                        sets[m].remove(c);
                    }
                    1 => {
                        let end = (c + (rng.next_u64() % 130) as Chunk).min(chunks);
                        maps.insert_range(all[m], c..end);
                        (c..end).for_each(|x| sets[m].insert(x));
                    }
                    _ => {
                        maps.insert(all[m], c);
                        sets[m].insert(c);
                    }
                }
                let from = (rng.next_u64() % chunks as u64) as Chunk;
                let to = (from + (rng.next_u64() % 200) as Chunk).min(chunks);
                for (map, set) in all.iter().zip(&sets) {
                    let v = maps.view(*map);
                    assert_eq!(v.contains(from), set.contains(from));
                    assert_eq!(v.first_in(from..to), set.first_in(from..to), "{from}..{to}");
                    assert_eq!(v.count(), set.count());
                }
            }
            let m = Meta::<crate::ghost::NoGhost>::new(
                &Geometry::new(chunks as u64, 1, 1, 1).unwrap(),
                false,
            );
            assert_eq!(m.copied().iter().count(), 0);
            let iterated: Vec<Chunk> = maps.view(Map::Snapshot).iter().collect();
            assert_eq!(iterated, sets[1].iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn next_from_finds_set_chunks_across_words() {
        let mut s = ChunkSet::new(300);
        for c in [5, 64, 200, 299] {
            s.insert(c);
        }
        assert_eq!(s.next_from(0), Some(5));
        assert_eq!(s.next_from(6), Some(64));
        assert_eq!(s.next_from(65), Some(200));
        assert_eq!(s.next_from(201), Some(299));
        assert_eq!(s.next_from(300), None);
        assert_eq!(s.first_in(6..64), None);
        assert_eq!(s.first_in(6..65), Some(64));
        assert_eq!(s.first_in(65..200), None);
        assert_eq!(s.first_in(0..0), None);
        assert!(s.any_in(60..65) && !s.any_in(65..200));
    }

    #[test]
    fn tracked_chunks_count_reads_and_forget_at_zero() {
        let mut t = Tracked::default();
        t.add(3);
        t.add(3);
        t.remove(3);
        assert!(t.any_in(3..4));
        t.remove(3);
        assert!(t.is_empty() && t == Tracked::default());
    }
}
