//! The simulated disk: blocks hold version stamps, not bytes.
//!
//! A stamp says which write last wrote a block (`BEGIN` = the begin-time image), which is all
//! the invariants need and keeps a state small enough for millions of them.

use crate::geometry::Block;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::Hash;
use std::ops::Range;

/// Which write last wrote a block.
pub type Stamp = u32;

/// The begin-time image: the data every point-in-time read must return.
pub const BEGIN: Stamp = 0;

/// A block no one has written yet (the destination and the preservation stores start so).
pub const UNWRITTEN: Stamp = Stamp::MAX;

/// Identifies a write; its stamp is `id + 1` (stamp 0 is the begin image).
pub type WriteId = u32;

pub fn stamp_of(write: WriteId) -> Stamp {
    write + 1
}

/// The write behind a stamp; `None` for the begin image and unwritten blocks.
pub fn write_of(s: Stamp) -> Option<WriteId> {
    (s != BEGIN && s != UNWRITTEN).then(|| s - 1)
}

/// Renames the write behind a stamp (symmetry reduction); the begin image and unwritten
/// blocks stay as they are.
pub fn map_stamp(s: Stamp, write: impl Fn(WriteId) -> WriteId) -> Stamp {
    write_of(s).map_or(s, |w| stamp_of(write(w)))
}

/// Renders a stamp in domain words.
pub fn show_stamp(s: Stamp) -> String {
    match s {
        BEGIN => "0 (begin image)".into(),
        UNWRITTEN => "none (never written)".into(),
        s => format!("{s} (write {})", write_of(s).unwrap_or_default()),
    }
}

/// The four devices of an online copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Device {
    Source,
    Destination,
    Snapshot,
    Cache,
}

impl Device {
    pub const ALL: [Device; 4] = [
        Device::Source,
        Device::Destination,
        Device::Snapshot,
        Device::Cache,
    ];

    fn plane(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Source => "source",
            Device::Destination => "destination",
            Device::Snapshot => "snapshot",
            Device::Cache => "cache",
        })
    }
}

/// What the devices hold: the engine's I/O goes through this, so a driver can keep every
/// stamp (to check the invariants) or none (to simulate volumes too large to hold).
pub trait BlockStore: Clone + fmt::Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// A volume of `blocks` blocks: the source holds the begin image, the rest is unwritten.
    fn new(blocks: Block) -> Self;
    /// The stamps of a range, or `None` if the store keeps no data.
    fn read(&self, dev: Device, blocks: Range<Block>) -> Option<Vec<Stamp>>;
    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp);
    /// Copies blocks between devices and returns what was copied (for traces).
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Copied;
}

/// All four devices in one allocation (one plane each), so a state clones with one copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    blocks: Block,
    stamps: Vec<Stamp>,
}

impl Disk {
    fn range(&self, dev: Device, blocks: &Range<Block>) -> Range<usize> {
        // The devices lie side by side: a range past one would read the next one silently.
        debug_assert!(
            blocks.end <= self.blocks,
            "blocks {blocks:?} past the device"
        );
        let base = dev.plane() * self.blocks as usize;
        base + blocks.start as usize..base + blocks.end as usize
    }

    pub fn get(&self, dev: Device, block: Block) -> Stamp {
        self.stamps[dev.plane() * self.blocks as usize + block as usize]
    }

    pub fn device(&self, dev: Device) -> &[Stamp] {
        let r = self.range(dev, &(0..self.blocks));
        &self.stamps[r]
    }

    /// Every stamp of every device, plane by plane (source, destination, snapshot, cache).
    pub fn stamps(&self) -> &[Stamp] {
        &self.stamps
    }

    /// Rewrites every stamp of every device (symmetry reduction renames writes).
    pub fn map_stamps(&mut self, f: impl Fn(Stamp) -> Stamp) {
        for s in &mut self.stamps {
            *s = f(*s);
        }
    }

    /// Overwrites a whole device (used by drivers that keep devices apart).
    pub fn load(&mut self, dev: Device, stamps: &[Stamp]) {
        let r = self.range(dev, &(0..self.blocks));
        self.stamps[r].copy_from_slice(stamps);
    }
}

impl BlockStore for Disk {
    fn new(blocks: Block) -> Self {
        let n = blocks as usize;
        let mut stamps = vec![UNWRITTEN; n * Device::ALL.len()];
        stamps[..n].fill(BEGIN);
        Disk { blocks, stamps }
    }

    fn read(&self, dev: Device, blocks: Range<Block>) -> Option<Vec<Stamp>> {
        Some(self.stamps[self.range(dev, &blocks)].to_vec())
    }

    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp) {
        let r = self.range(dev, &blocks);
        self.stamps[r].fill(stamp);
    }

    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Copied {
        let src = self.range(from, &blocks);
        let dst = self.range(to, &blocks);
        let copied = Copied::of(&self.stamps[src.clone()]);
        self.stamps.copy_within(src, dst.start);
        copied
    }
}

/// A store that keeps no data: for timed runs of volumes too large to hold. Every I/O is
/// accepted and costs what the driver says; the invariants that compare data cannot be
/// evaluated over it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NoData;

impl BlockStore for NoData {
    fn new(_blocks: Block) -> Self {
        NoData
    }
    fn read(&self, _dev: Device, _blocks: Range<Block>) -> Option<Vec<Stamp>> {
        None
    }
    fn write(&mut self, _dev: Device, _blocks: Range<Block>, _stamp: Stamp) {}
    fn copy(&mut self, _from: Device, _to: Device, blocks: Range<Block>) -> Copied {
        Copied::unknown(blocks.end - blocks.start)
    }
}

/// A short summary of the stamps a copy moved: the first few, and how many blocks in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    first: [Stamp; 4],
    /// How many of `first` are known (a store without data knows none).
    known: u8,
    count: u64,
}

impl Copied {
    pub fn of(stamps: &[Stamp]) -> Self {
        let mut first = [BEGIN; 4];
        for (d, s) in first.iter_mut().zip(stamps) {
            *d = *s;
        }
        Copied {
            first,
            known: stamps.len().min(4) as u8,
            count: stamps.len() as u64,
        }
    }

    /// A copy of `count` blocks whose data is not kept.
    pub fn unknown(count: u64) -> Self {
        Copied {
            first: [BEGIN; 4],
            known: 0,
            count,
        }
    }

    /// The first few stamps moved, if the store keeps data.
    pub fn stamps(&self) -> &[Stamp] {
        &self.first[..self.known as usize]
    }

    /// Blocks moved.
    pub fn blocks(&self) -> u64 {
        self.count
    }

    /// Adds the stamps of a further copy (keeping the first four).
    pub fn append(&mut self, other: Copied) {
        for s in other.stamps() {
            if (self.known as u64) == self.count && self.known < 4 {
                self.first[self.known as usize] = *s;
                self.known += 1;
            }
            self.count += 1;
        }
        self.count += other.count - other.stamps().len() as u64;
    }
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.stamps();
        if self.count == 0 {
            return write!(f, "nothing");
        }
        if shown.is_empty() {
            return write!(f, "{} block(s), data not kept", self.count);
        }
        if shown.iter().all(|s| *s == shown[0]) && self.count <= 4 {
            match shown[0] {
                UNWRITTEN => write!(f, "stamp none"),
                s => write!(f, "stamp {s}"),
            }
        } else {
            let list: Vec<String> = shown
                .iter()
                .map(|s| match *s {
                    UNWRITTEN => "none".to_string(),
                    s => s.to_string(),
                })
                .collect();
            let more = if self.count > shown.len() as u64 {
                ", ..."
            } else {
                ""
            };
            write!(f, "stamps [{}{more}]", list.join(", "))
        }
    }
}
