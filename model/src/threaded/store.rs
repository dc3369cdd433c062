//! What a device of the threaded driver holds: version stamps only (for the checkers), or
//! real bytes (for throughput measurements), behind one interface.

use crate::disk::{Copied, Stamp};
use crate::geometry::Block;
use std::ops::Range;

/// The contents of one device. Each device sits behind its own lock in the driver.
pub trait Store: Send + Sized + 'static {
    /// Data in transit between two devices (a copy reads, unlocks, then writes).
    type Buf;
    /// A device of `init.len()` blocks holding the given stamps.
    fn new(block_size: u32, init: &[Stamp]) -> Self;
    fn get(&self, block: Block) -> Stamp;
    /// The stamps of a range (what a read of the device returns).
    fn read(&self, blocks: Range<Block>) -> Vec<Stamp> {
        blocks.map(|b| self.get(b)).collect()
    }
    fn fill(&mut self, blocks: Range<Block>, stamp: Stamp);
    fn load(&self, blocks: Range<Block>) -> Self::Buf;
    fn store(&mut self, blocks: Range<Block>, buf: &Self::Buf);
    /// What a copy moved, for the event trace.
    fn summary(buf: &Self::Buf) -> Copied;
    /// Every block's stamp, to rebuild the engine's `Disk`.
    fn stamps(&self) -> Vec<Stamp>;
}

fn range(blocks: &Range<Block>) -> Range<usize> {
    blocks.start as usize..blocks.end as usize
}

/// One stamp per block: what loom and the stress test use.
#[derive(Debug)]
pub struct Stamps(Vec<Stamp>);

impl Store for Stamps {
    type Buf = Vec<Stamp>;
    fn new(_block_size: u32, init: &[Stamp]) -> Self {
        Stamps(init.to_vec())
    }
    fn get(&self, block: Block) -> Stamp {
        self.0[block as usize]
    }
    fn fill(&mut self, blocks: Range<Block>, stamp: Stamp) {
        self.0[range(&blocks)].fill(stamp)
    }
    fn load(&self, blocks: Range<Block>) -> Vec<Stamp> {
        self.0[range(&blocks)].to_vec()
    }
    fn store(&mut self, blocks: Range<Block>, buf: &Vec<Stamp>) {
        self.0[range(&blocks)].copy_from_slice(buf)
    }
    fn summary(buf: &Vec<Stamp>) -> Copied {
        Copied::of(buf)
    }
    fn stamps(&self) -> Vec<Stamp> {
        self.0.clone()
    }
}

/// `block_size` bytes per block, in memory: a write fills the whole block (its stamp in the
/// first four bytes, little-endian, then a byte pattern), a copy moves every byte.
#[derive(Debug)]
pub struct Bytes {
    block_size: usize,
    data: Vec<u8>,
}

impl Bytes {
    fn fill_block(block: &mut [u8], stamp: Stamp) {
        block[..4].copy_from_slice(&stamp.to_le_bytes());
        block[4..].fill(stamp as u8);
    }
    fn bytes(&self, blocks: &Range<Block>) -> Range<usize> {
        blocks.start as usize * self.block_size..blocks.end as usize * self.block_size
    }
}

impl Store for Bytes {
    type Buf = (usize, Vec<u8>);
    fn new(block_size: u32, init: &[Stamp]) -> Self {
        let block_size = block_size.max(4) as usize;
        let mut data = vec![0; init.len() * block_size];
        for (block, stamp) in data.chunks_mut(block_size).zip(init) {
            Bytes::fill_block(block, *stamp);
        }
        Bytes { block_size, data }
    }
    fn get(&self, block: Block) -> Stamp {
        let at = block as usize * self.block_size;
        let bytes: [u8; 4] = self.data[at..at + 4].try_into().expect("four bytes");
        Stamp::from_le_bytes(bytes)
    }
    fn fill(&mut self, blocks: Range<Block>, stamp: Stamp) {
        let r = self.bytes(&blocks);
        for block in self.data[r].chunks_mut(self.block_size) {
            Bytes::fill_block(block, stamp);
        }
    }
    fn load(&self, blocks: Range<Block>) -> (usize, Vec<u8>) {
        (self.block_size, self.data[self.bytes(&blocks)].to_vec())
    }
    fn store(&mut self, blocks: Range<Block>, buf: &(usize, Vec<u8>)) {
        let r = self.bytes(&blocks);
        self.data[r].copy_from_slice(&buf.1)
    }
    fn summary(buf: &(usize, Vec<u8>)) -> Copied {
        let stamps: Vec<Stamp> = buf
            .1
            .chunks(buf.0)
            .map(|b| Stamp::from_le_bytes(b[..4].try_into().expect("four bytes")))
            .collect();
        Copied::of(&stamps)
    }
    fn stamps(&self) -> Vec<Stamp> {
        (0..(self.data.len() / self.block_size) as Block)
            .map(|b| self.get(b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_stamps_and_copies_whole_blocks() {
        let mut a = Bytes::new(4096, &[0, 0, 0]);
        let mut b = Bytes::new(4096, &[Stamp::MAX; 3]);
        a.fill(1..3, 7);
        assert_eq!(a.stamps(), vec![0, 7, 7]);
        let buf = a.load(0..2);
        assert_eq!(buf.1.len(), 2 * 4096);
        b.store(0..2, &buf);
        assert_eq!(b.stamps(), vec![0, 7, Stamp::MAX]);
        assert_eq!(Bytes::summary(&buf), Copied::of(&[0, 7]));
        assert_eq!(b.data[4096 + 4095], 7);
    }
}
