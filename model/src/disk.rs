//! The simulated disk: blocks hold version stamps, not bytes.
//!
//! A stamp says which write last wrote a block (`BEGIN` = the begin-time image), which is all
//! the invariants need and keeps a state small enough for millions of them.

use crate::geometry::Index;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

/// Which write last wrote a block.
pub type Stamp = u32;

/// The begin-time image: the data every point-in-time read must return.
pub const BEGIN: Stamp = 0;

/// A block no one has written yet (the destination and the preservation stores start so).
pub const UNWRITTEN: Stamp = Stamp::MAX;

/// Renders a stamp in domain words.
pub fn show_stamp(s: Stamp) -> String {
    match s {
        BEGIN => "0 (begin image)".into(),
        UNWRITTEN => "none (never written)".into(),
        s => format!(
            "{s} (write {})",
            crate::meta::write_of(s).unwrap_or_default()
        ),
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

/// All four devices in one allocation (one plane each), so a state clones with one copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    blocks: Index,
    stamps: Vec<Stamp>,
}

impl Disk {
    /// The source holds the begin image; every other device is unwritten.
    pub fn new(blocks: Index) -> Self {
        let n = blocks as usize;
        let mut stamps = vec![UNWRITTEN; n * Device::ALL.len()];
        stamps[..n].fill(BEGIN);
        Disk { blocks, stamps }
    }

    fn range(&self, dev: Device, blocks: &Range<Index>) -> Range<usize> {
        let base = dev.plane() * self.blocks as usize;
        base + blocks.start as usize..base + blocks.end as usize
    }

    pub fn get(&self, dev: Device, block: Index) -> Stamp {
        self.stamps[dev.plane() * self.blocks as usize + block as usize]
    }

    pub fn device(&self, dev: Device) -> &[Stamp] {
        let r = self.range(dev, &(0..self.blocks));
        &self.stamps[r]
    }

    pub fn write(&mut self, dev: Device, blocks: Range<Index>, stamp: Stamp) {
        let r = self.range(dev, &blocks);
        self.stamps[r].fill(stamp);
    }

    /// Copies blocks between devices and returns what was copied (for traces).
    pub fn copy(&mut self, from: Device, to: Device, blocks: Range<Index>) -> Copied {
        let src = self.range(from, &blocks);
        let dst = self.range(to, &blocks);
        let copied = Copied::of(&self.stamps[src.clone()]);
        self.stamps.copy_within(src, dst.start);
        copied
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

/// A short summary of the stamps a copy moved: the first few, and how many in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    first: [Stamp; 4],
    count: usize,
}

impl Copied {
    pub fn of(stamps: &[Stamp]) -> Self {
        let mut first = [BEGIN; 4];
        for (d, s) in first.iter_mut().zip(stamps) {
            *d = *s;
        }
        Copied {
            first,
            count: stamps.len(),
        }
    }

    pub fn stamps(&self) -> &[Stamp] {
        &self.first[..self.count.min(4)]
    }
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.stamps();
        if shown.is_empty() {
            return write!(f, "nothing");
        }
        if shown.iter().all(|s| *s == shown[0]) && self.count <= 4 {
            let s = shown.first().copied().unwrap_or(BEGIN);
            match s {
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
            let more = if self.count > 4 { ", ..." } else { "" };
            write!(f, "stamps [{}{more}]", list.join(", "))
        }
    }
}

impl Copied {
    /// Adds the stamps of a further copy (keeping the first four).
    pub fn append(&mut self, other: Copied) {
        for s in other.stamps() {
            if self.count < 4 {
                self.first[self.count] = *s;
            }
            self.count += 1;
        }
        self.count += other.count - other.stamps().len();
    }
}
