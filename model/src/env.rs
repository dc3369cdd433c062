//! The interface through which a process performs its one action per step. Processes are
//! sans-I/O step machines: the exhaustive and random drivers give them an `Env` over one
//! `World` value ([`Direct`]), the threaded driver one over separately locked devices and
//! metadata, the timed driver one that charges each I/O's time on its device.

use crate::disk::{BlockStore, Copied, Device, Stamp};
use crate::geometry::Block;
use crate::ghost::Ghost;
use crate::meta::Meta;
use std::ops::Range;

/// What a step may do: one metadata update, or disk I/O, or both inside one critical section.
/// Each call of `read`, `write` or `copy` is one I/O of a run of adjacent blocks.
pub trait Env {
    type Ghost: Ghost;
    /// The shared metadata. Only steps for which `Process::needs_meta` is true may call it.
    fn meta(&mut self) -> &mut Meta<Self::Ghost>;
    /// The stamps of a range, or `None` if the driver keeps no data.
    fn read(&mut self, dev: Device, blocks: Range<Block>) -> Option<Vec<Stamp>>;
    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp);
    /// A read of `from` and a write of `to`, of the same blocks.
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Copied;
}

/// An `Env` over one block store and one metadata value: what the exhaustive and random
/// drivers use.
pub struct Direct<'a, S: BlockStore, G: Ghost> {
    pub disk: &'a mut S,
    pub meta: &'a mut Meta<G>,
}

impl<S: BlockStore, G: Ghost> Env for Direct<'_, S, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        self.meta
    }
    fn read(&mut self, dev: Device, blocks: Range<Block>) -> Option<Vec<Stamp>> {
        self.disk.read(dev, blocks)
    }
    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp) {
        self.disk.write(dev, blocks, stamp)
    }
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Copied {
        self.disk.copy(from, to, blocks)
    }
}
