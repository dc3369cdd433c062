//! The interface through which a process performs its one action per step. Processes are
//! sans-I/O step machines: the exhaustive and random drivers give them an `Env` over one
//! `World` value ([`Direct`]), the threaded driver one over separately locked devices and
//! metadata, the timed driver one that charges each I/O's time on its device.

use crate::disk::{BlockStore, Copied, Device, Stamp};
use crate::geometry::Block;
use crate::ghost::Ghost;
use crate::meta::Meta;
use std::fmt;
use std::ops::Range;

/// What a step may do: one metadata update, or disk I/O, or both inside one critical section.
/// Each call of `read`, `write` or `copy` is one I/O of a run of adjacent blocks; an I/O that
/// fails changes nothing and returns which device and blocks failed.
pub trait Env {
    type Ghost: Ghost;
    /// The shared metadata. Only steps for which `Process::needs_meta` is true may call it.
    fn meta(&mut self) -> &mut Meta<Self::Ghost>;
    /// The stamps of a range, or `None` if the driver keeps no data.
    fn read(&mut self, dev: Device, blocks: Range<Block>) -> Result<Option<Vec<Stamp>>, IoError>;
    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp) -> Result<(), IoError>;
    /// A read of `from` and a write of `to`, of the same blocks.
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Result<Copied, IoError>;
}

/// An `Env` over one block store and one metadata value: what the exhaustive and random
/// drivers use. Its I/O never fails; wrap it in [`crate::fault::Faulty`] to inject faults.
pub struct Direct<'a, S: BlockStore, G: Ghost> {
    pub disk: &'a mut S,
    pub meta: &'a mut Meta<G>,
}

impl<S: BlockStore, G: Ghost> Env for Direct<'_, S, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        self.meta
    }
    fn read(&mut self, dev: Device, blocks: Range<Block>) -> Result<Option<Vec<Stamp>>, IoError> {
        Ok(self.disk.read(dev, blocks))
    }
    fn write(&mut self, dev: Device, blocks: Range<Block>, stamp: Stamp) -> Result<(), IoError> {
        self.disk.write(dev, blocks, stamp);
        Ok(())
    }
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Result<Copied, IoError> {
        Ok(self.disk.copy(from, to, blocks))
    }
}

/// Why an I/O failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The device returned an error.
    Device,
    /// The preservation store (snapshot or cache) has no room left.
    StoreFull,
}

/// A failed I/O: which device, which blocks, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoError {
    pub device: Device,
    pub blocks: Range<Block>,
    pub kind: ErrorKind,
}

impl IoError {
    fn key(&self) -> (Device, Block, Block, ErrorKind) {
        (self.device, self.blocks.start, self.blocks.end, self.kind)
    }
}

impl PartialOrd for IoError {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders errors (symmetry reduction sorts clients, and so the errors they hold).
impl Ord for IoError {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Device => "I/O error",
            ErrorKind::StoreFull => "store full",
        };
        write!(
            f,
            "{what} on {} {}",
            self.device,
            crate::geometry::show_blocks(&self.blocks)
        )
    }
}
