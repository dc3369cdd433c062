//! Durability: devices with volatile write caches, FLUSH and FUA, the copy metadata kept on a
//! metadata device under a commit protocol, and power loss with recovery.
//!
//! With volatile caches on ([`crate::Spec::with_volatile_caches`]) a completed write sits in
//! its device's cache until a FLUSH of that device (or it was written FUA). The copy's
//! metadata (the snapshot map or exception store, the cursor, the out-of-turn copied map, the
//! cache's index) is written as [`Record`]s to a metadata device, volatile too. A power loss
//! keeps any subset of what is still cached (in-flight and cached writes may reach the media
//! in any order), loses every process's memory, and recovery rebuilds the metadata from the
//! records on stable media ([`Power::lose`], [`crate::World::power_loss`]).
//!
//! A policy states, for each thing it commits, which steps run and in which order
//! ([`crate::Policy::commit`]): the data flushed, the record written, the metadata flushed.
//! Without volatile caches (the default) no commit step runs and nothing here is kept.

use crate::disk::{BlockStore, Device, Stamp};
use crate::geometry::{Block, Chunk, ChunkSet, Geometry, Segment};
use std::fmt;

/// One record of the copy's metadata, as written to the metadata device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Record {
    /// An exception: the chunk's begin-time data is in the snapshot store (or the cache).
    Mapped(Chunk),
    /// The chunk's begin-time data is at the destination, copied out of turn.
    Copied(Chunk),
    /// The cursor: the segment is copied.
    Done(Segment),
    /// The snapshot is invalid (a preservation or the copy failed for good).
    Invalid,
    /// The copy is complete.
    Complete,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Mapped(c) => write!(f, "exception for chunk {c}"),
            Record::Copied(c) => write!(f, "chunk {c} copied"),
            Record::Done(s) => write!(f, "cursor: segment {s} done"),
            Record::Invalid => f.write_str("snapshot invalid"),
            Record::Complete => f.write_str("copy complete"),
        }
    }
}

/// What a commit makes durable: a policy answers a protocol for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Commit {
    /// A chunk preserved for a write (to the snapshot store, the cache, or the destination
    /// out of turn), before the write may be applied.
    Preservation,
    /// A segment copied by the copier, before its cursor moves.
    Segment,
}

/// One step of a commit protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommitStep {
    /// FLUSH the device the committed data was written to.
    FlushData,
    /// Write the record to the metadata device (volatile until flushed).
    WriteRecord,
    /// FLUSH the metadata device.
    FlushMetadata,
}

impl fmt::Display for CommitStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommitStep::FlushData => "flush data",
            CommitStep::WriteRecord => "write record",
            CommitStep::FlushMetadata => "flush metadata",
        })
    }
}

/// The protocol every built-in policy commits with: the data on stable media first, then
/// the record that points at it, durable before anyone relies on it.
pub const DATA_THEN_RECORD: &[CommitStep] = &[
    CommitStep::FlushData,
    CommitStep::WriteRecord,
    CommitStep::FlushMetadata,
];

/// What recovery does with a copy it finds after a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// Rebuild the maps and the cursor from the records and go on copying (unless a record
    /// says the snapshot is invalid).
    Resume,
    /// Declare the snapshot invalid whatever the records say (as QEMU's backup job, whose
    /// bitmaps and fleecing image do not outlive the process).
    Invalidate,
}

/// The copy metadata on stable media.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Records {
    pub mapped: ChunkSet,
    pub copied: ChunkSet,
    /// Segments done, one bit each.
    pub done: ChunkSet,
    pub invalid: bool,
    pub complete: bool,
}

impl Records {
    fn new(g: &Geometry) -> Self {
        Records {
            mapped: ChunkSet::new(g.chunks()),
            copied: ChunkSet::new(g.chunks()),
            done: ChunkSet::new(g.segments()),
            invalid: false,
            complete: false,
        }
    }

    fn apply(&mut self, r: Record) {
        match r {
            Record::Mapped(c) => self.mapped.insert(c),
            Record::Copied(c) => self.copied.insert(c),
            Record::Done(s) => self.done.insert(s),
            Record::Invalid => self.invalid = true,
            Record::Complete => self.complete = true,
        }
    }
}

/// Something done but still in a device's volatile cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    /// A block written on a data device.
    Block {
        device: Device,
        block: Block,
        stamp: Stamp,
    },
    /// A record written on the metadata device.
    Record(Record),
}

/// Most cached items the exhaustive checker splits into every surviving subset; past it a
/// power loss keeps all or nothing ([`Power::outcomes`]).
pub const MAX_SUBSET_ITEMS: usize = 10;

/// The durable side of a run with volatile caches: what stable media hold, what is still
/// cached, and how many power losses the exhaustive checker may still inject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Power<S: BlockStore> {
    /// The data devices' stable media.
    pub durable: S,
    /// Done but cached, oldest first.
    pub pending: Vec<Pending>,
    /// The metadata device's stable media.
    pub records: Records,
    /// Power losses the exhaustive checker may still inject on this path.
    pub losses_left: u8,
}

impl<S: BlockStore> Power<S> {
    pub fn new(g: &Geometry) -> Self {
        Power {
            durable: S::new(g.blocks),
            pending: Vec::new(),
            records: Records::new(g),
            losses_left: 0,
        }
    }

    /// Blocks written to `device` (already in the cache, that is the current store). A store
    /// that keeps no data keeps nothing cached either.
    pub fn written(
        &mut self,
        device: Device,
        first: Block,
        stamps: impl IntoIterator<Item = Stamp>,
    ) {
        if self.durable.read(device, 0..0).is_none() {
            return;
        }
        for (block, stamp) in (first..).zip(stamps) {
            self.pending.push(Pending::Block {
                device,
                block,
                stamp,
            });
        }
    }

    /// A FUA write: on stable media at once, and no older cached copy of its blocks can land
    /// over it later.
    pub fn written_fua(&mut self, device: Device, blocks: std::ops::Range<Block>, stamp: Stamp) {
        self.pending.retain(
            |p| !matches!(p, Pending::Block { device: d, block, .. } if *d == device && blocks.contains(block)),
        );
        self.durable.write(device, blocks, stamp);
    }

    pub fn record(&mut self, r: Record) {
        self.pending.push(Pending::Record(r));
    }

    /// FLUSH of a data device: its cached blocks reach stable media.
    pub fn flush(&mut self, device: Device) {
        let durable = &mut self.durable;
        self.pending.retain(|p| match *p {
            Pending::Block {
                device: d,
                block,
                stamp,
            } if d == device => {
                durable.write(d, block..block + 1, stamp);
                false
            }
            _ => true,
        });
    }

    /// FLUSH of the metadata device.
    pub fn flush_metadata(&mut self) {
        let records = &mut self.records;
        self.pending.retain(|p| match *p {
            Pending::Record(r) => {
                records.apply(r);
                false
            }
            _ => true,
        });
    }

    /// The ways a power loss now can end, as masks of the cached items that survive: every
    /// subset (in-flight and cached writes may reach stable media in any order), or all and
    /// nothing when more than [`MAX_SUBSET_ITEMS`] are cached.
    pub fn outcomes(&self) -> Vec<u32> {
        let n = self.pending.len();
        match n <= MAX_SUBSET_ITEMS {
            true => (0..1u32 << n).collect(),
            false => vec![0, u32::MAX],
        }
    }

    /// The power fails: of the cached items, those `survivors` picks ([`survives`]) reach
    /// stable media (in the order they were written), the rest are gone. Afterwards stable
    /// media are all there is.
    pub fn lose(&mut self, survivors: u32) {
        for (i, p) in std::mem::take(&mut self.pending).into_iter().enumerate() {
            if !survives(survivors, i) {
                continue;
            }
            match p {
                Pending::Block {
                    device,
                    block,
                    stamp,
                } => self.durable.write(device, block..block + 1, stamp),
                Pending::Record(r) => self.records.apply(r),
            }
        }
    }
}

/// Whether cached item `i` survives a power loss whose survivors are `mask`: bit i, or every
/// item when every bit is set ([`Power::outcomes`]' "all").
pub fn survives(mask: u32, i: usize) -> bool {
    mask == u32::MAX || (i < 32 && mask >> i & 1 == 1)
}

/// The survivors of a power loss drawn from a seed: each cached item survives with
/// probability one half (the random driver's crash plans).
pub fn survivors_of(seed: u64, items: usize) -> u32 {
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..items.min(32)).fold(0, |m, i| m | ((rng.next_u32() & 1) << i))
}
