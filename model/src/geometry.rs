//! Volume geometry: blocks, segments (the copier's unit) and chunks (the copy-on-write unit).

use fixedbitset::FixedBitSet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

/// Address of a block. 64 bits: a 16 TiB volume of 4 KiB blocks has 2^32 of them.
pub type Block = u64;

/// Number of a copy-on-write chunk. 32 bits keeps the checkers' states small; a geometry
/// with more chunks than that is refused (choose larger chunks).
pub type Chunk = u32;

/// Number of a segment (the copier's unit); 32 bits, as for chunks.
pub type Segment = u32;

/// The shape of the copied volume. Build it with [`Geometry::new`], which validates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    pub blocks: Block,
    pub block_size: u32,
    pub segment_blocks: u32,
    pub cow_blocks: u32,
}

/// Why a geometry or a request is refused: names the field and the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("{field} must be at least 1, got {value}")]
    Zero { field: &'static str, value: u64 },
    #[error("cow_blocks ({cow_blocks}) must divide segment_blocks ({segment_blocks})")]
    ChunkNotDividingSegment {
        cow_blocks: u32,
        segment_blocks: u32,
    },
    #[error("segment_blocks ({segment_blocks}) is larger than the volume ({blocks} blocks)")]
    SegmentLargerThanVolume { segment_blocks: u32, blocks: Block },
    #[error("{field} is {value}; at most {max} is supported")]
    TooLarge {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("the volume ({blocks} blocks of {block_size} B) is larger than 2^64 bytes")]
    VolumeTooLarge { blocks: Block, block_size: u64 },
    #[error("the volume has {count} {what}; at most {max} are supported (choose larger {what})")]
    TooMany {
        what: &'static str,
        count: u64,
        max: u64,
    },
    #[error("empty request at byte offset {offset}: length must be at least 1")]
    EmptyRequest { offset: u64 },
    #[error(
        "request of {len} bytes at byte offset {offset} ends past the end of the volume ({size} bytes)"
    )]
    PastEnd { offset: u64, len: u64, size: u64 },
}

impl Geometry {
    /// Validates the four sizes. A volume that is not a whole number of segments is allowed:
    /// its last segment (and possibly its last chunk) is short. The volume's size in bytes
    /// must fit in 64 bits, and its chunks and segments must be numbered in 32.
    pub fn new(
        blocks: u64,
        block_size: u64,
        segment_blocks: u64,
        cow_blocks: u64,
    ) -> Result<Self, GeometryError> {
        for (field, value) in [
            ("blocks", blocks),
            ("block_size", block_size),
            ("segment_blocks", segment_blocks),
            ("cow_blocks", cow_blocks),
        ] {
            if value == 0 {
                return Err(GeometryError::Zero { field, value });
            }
        }
        let max = u32::MAX as u64;
        for (field, value) in [
            ("block_size", block_size),
            ("segment_blocks", segment_blocks),
            ("cow_blocks", cow_blocks),
        ] {
            if value > max {
                return Err(GeometryError::TooLarge { field, value, max });
            }
        }
        if blocks.checked_mul(block_size).is_none() {
            return Err(GeometryError::VolumeTooLarge { blocks, block_size });
        }
        let (segment_blocks, cow_blocks) = (segment_blocks as u32, cow_blocks as u32);
        if segment_blocks % cow_blocks != 0 {
            return Err(GeometryError::ChunkNotDividingSegment {
                cow_blocks,
                segment_blocks,
            });
        }
        if segment_blocks as u64 > blocks {
            return Err(GeometryError::SegmentLargerThanVolume {
                segment_blocks,
                blocks,
            });
        }
        for (what, count) in [
            ("chunks", blocks.div_ceil(cow_blocks as u64)),
            ("segments", blocks.div_ceil(segment_blocks as u64)),
        ] {
            if count > max {
                return Err(GeometryError::TooMany { what, count, max });
            }
        }
        Ok(Geometry {
            blocks,
            block_size: block_size as u32,
            segment_blocks,
            cow_blocks,
        })
    }

    /// Volume size in bytes (fits: checked by [`Geometry::new`]).
    pub fn bytes(&self) -> u64 {
        self.blocks * self.block_size as u64
    }

    pub fn segments(&self) -> Segment {
        self.blocks.div_ceil(self.segment_blocks as u64) as Segment
    }

    pub fn chunks(&self) -> Chunk {
        self.blocks.div_ceil(self.cow_blocks as u64) as Chunk
    }

    pub fn chunks_per_segment(&self) -> u32 {
        self.segment_blocks / self.cow_blocks
    }

    pub fn chunk_of(&self, block: Block) -> Chunk {
        (block / self.cow_blocks as u64) as Chunk
    }

    pub fn segment_of_chunk(&self, chunk: Chunk) -> Segment {
        chunk / self.chunks_per_segment()
    }

    /// Bytes of a chunk (the last one may be short).
    pub fn chunk_bytes(&self, chunk: Chunk) -> u64 {
        let r = self.chunk_blocks(chunk);
        (r.end - r.start) * self.block_size as u64
    }

    /// Blocks of a chunk, clipped to the volume (the last chunk may be short). The end is
    /// computed from what is left of the volume, so it cannot overflow.
    pub fn chunk_blocks(&self, chunk: Chunk) -> Range<Block> {
        clipped(
            chunk as u64 * self.cow_blocks as u64,
            self.cow_blocks as u64,
            self.blocks,
        )
    }

    /// Chunks of a segment, clipped to the volume.
    pub fn segment_chunks(&self, segment: Segment) -> Range<Chunk> {
        let per = self.chunks_per_segment() as u64;
        let r = clipped(segment as u64 * per, per, self.chunks() as u64);
        r.start as Chunk..r.end as Chunk
    }

    pub fn segment_blocks_range(&self, segment: Segment) -> Range<Block> {
        let n = self.segment_blocks as u64;
        clipped(segment as u64 * n, n, self.blocks)
    }

    /// Chunks that a block range touches.
    pub fn chunks_touching(&self, blocks: &Range<Block>) -> Range<Chunk> {
        self.chunk_of(blocks.start)..self.chunk_of(blocks.end - 1) + 1
    }

    /// The blocks that a byte request `(offset, len)` touches; unaligned requests touch
    /// partial blocks at either end, which the model writes whole (read-modify-write).
    pub fn blocks_of(&self, offset: u64, len: u64) -> Result<Range<Block>, GeometryError> {
        if len == 0 {
            return Err(GeometryError::EmptyRequest { offset });
        }
        let size = self.bytes();
        match offset.checked_add(len) {
            Some(end) if end <= size => {
                let bs = self.block_size as u64;
                Ok(offset / bs..end.div_ceil(bs))
            }
            _ => Err(GeometryError::PastEnd { offset, len, size }),
        }
    }
}

/// `start..start + n`, cut at `limit` (`start <= limit`), without overflowing near 2^64.
fn clipped(start: u64, n: u64, limit: u64) -> Range<u64> {
    start..start + n.min(limit - start)
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} blocks of {} B, segments of {} blocks, chunks of {} blocks",
            self.blocks, self.block_size, self.segment_blocks, self.cow_blocks
        )
    }
}

/// Renders a block range the way traces print it, half-open like `--fail DEVICE:blocks=A..B`:
/// `blocks 6..8` is blocks 6 and 7, and a single block is `block 6`.
pub fn show_blocks(r: &Range<Block>) -> String {
    if r.end - r.start == 1 {
        format!("block {}", r.start)
    } else {
        format!("blocks {}..{}", r.start, r.end)
    }
}

/// A set of chunks (one bit each).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChunkSet(FixedBitSet);

impl ChunkSet {
    pub fn new(chunks: Chunk) -> Self {
        ChunkSet(FixedBitSet::with_capacity(chunks as usize))
    }
    pub fn contains(&self, c: Chunk) -> bool {
        self.0.contains(c as usize)
    }
    pub fn insert(&mut self, c: Chunk) {
        self.0.insert(c as usize)
    }
    pub fn remove(&mut self, c: Chunk) {
        self.0.set(c as usize, false)
    }
    pub fn any_in(&self, r: Range<Chunk>) -> bool {
        self.0
            .contains_any_in_range(r.start as usize..r.end as usize)
    }
    pub fn count(&self) -> usize {
        self.0.count_ones(..)
    }
    pub fn iter(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.0.ones().map(|c| c as Chunk)
    }
    /// The first chunk of the set at or after `from`, a word at a time.
    pub fn next_from(&self, from: Chunk) -> Option<Chunk> {
        self.first_in(from..self.0.len() as Chunk)
    }

    /// The first chunk of the set in a range, reading only the range's words.
    pub fn first_in(&self, range: Range<Chunk>) -> Option<Chunk> {
        let words = self.0.as_slice();
        let (mut w, bit) = (range.start as usize / 64, range.start as usize % 64);
        let mut word = *words.get(w)? as u64 & (!0u64 << bit);
        loop {
            if word != 0 {
                let c = (w * 64 + word.trailing_zeros() as usize) as Chunk;
                return (c < range.end).then_some(c);
            }
            w += 1;
            if w * 64 >= range.end as usize {
                return None;
            }
            word = *words.get(w)? as u64;
        }
    }
    /// Bytes a real implementation would spend on this bitmap.
    pub fn metadata_bytes(&self) -> usize {
        self.0.len().div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_print_half_open_like_the_fault_syntax() {
        assert_eq!(show_blocks(&(3..4)), "block 3");
        assert_eq!(show_blocks(&(3..6)), "blocks 3..6");
        assert_eq!(show_blocks(&(0..2)), "blocks 0..2");
    }

    #[test]
    fn rejects_each_bad_field_by_name() {
        assert_eq!(
            Geometry::new(0, 512, 2, 1),
            Err(GeometryError::Zero {
                field: "blocks",
                value: 0
            })
        );
        assert!(matches!(
            Geometry::new(8, 0, 2, 1),
            Err(GeometryError::Zero {
                field: "block_size",
                ..
            })
        ));
        assert!(matches!(
            Geometry::new(8, 512, 4, 3),
            Err(GeometryError::ChunkNotDividingSegment { .. })
        ));
        assert_eq!(
            Geometry::new(8, 512, 1 << 33, 1),
            Err(GeometryError::TooLarge {
                field: "segment_blocks",
                value: 1 << 33,
                max: u32::MAX as u64
            })
        );
        assert_eq!(
            Geometry::new(1 << 55, 1 << 10, 1 << 20, 1 << 20),
            Err(GeometryError::VolumeTooLarge {
                blocks: 1 << 55,
                block_size: 1 << 10
            })
        );
        assert_eq!(
            Geometry::new(1 << 33, 512, 2, 1),
            Err(GeometryError::TooMany {
                what: "chunks",
                count: 1 << 33,
                max: u32::MAX as u64
            })
        );
        let m = u32::MAX as u64;
        let largest = Geometry::new(m * m, 1, m, m).unwrap();
        assert_eq!(largest.bytes(), m * m);
        assert_eq!(largest.segments(), u32::MAX);
        assert!(matches!(
            Geometry::new(u64::MAX, 1, m, m),
            Err(GeometryError::TooMany { what: "chunks", .. })
        ));
        assert!(matches!(
            Geometry::new(3, 512, 4, 1),
            Err(GeometryError::SegmentLargerThanVolume { .. })
        ));
    }

    #[test]
    fn short_last_segment_and_chunk_are_clipped() {
        let g = Geometry::new(7, 512, 4, 2).unwrap();
        assert_eq!(g.segments(), 2);
        assert_eq!(g.chunks(), 4);
        assert_eq!(g.segment_chunks(1), 2..4);
        assert_eq!(g.chunk_blocks(3), 6..7);
        assert_eq!(g.segment_blocks_range(1), 4..7);
    }

    #[test]
    fn unaligned_requests_cover_partial_blocks_and_past_end_is_an_error() {
        let g = Geometry::new(8, 512, 2, 1).unwrap();
        assert_eq!(g.blocks_of(511, 2), Ok(0..2));
        assert_eq!(g.blocks_of(512, 512), Ok(1..2));
        assert_eq!(g.blocks_of(4095, 1), Ok(7..8));
        assert!(matches!(
            g.blocks_of(4095, 2),
            Err(GeometryError::PastEnd { .. })
        ));
        assert!(matches!(
            g.blocks_of(u64::MAX, 2),
            Err(GeometryError::PastEnd { .. })
        ));
        assert!(matches!(
            g.blocks_of(0, 0),
            Err(GeometryError::EmptyRequest { .. })
        ));
    }

    /// Every segment of the volume, the last one included, is a non-empty range, and
    /// together they cover the volume exactly once.
    fn assert_segments_cover(g: &Geometry) {
        let last = g.segments() - 1;
        for s in [0, 1, last - 1, last] {
            let r = g.segment_blocks_range(s);
            assert!(r.start < r.end, "segment {s} of {g} is empty: {r:?}");
            assert_eq!(r.start, s as u64 * g.segment_blocks as u64);
        }
        assert_eq!(g.segment_blocks_range(last).end, g.blocks);
        let chunks = g.segment_chunks(last);
        assert!(chunks.start < chunks.end);
        assert_eq!(chunks.end, g.chunks());
        assert_eq!(g.chunk_blocks(g.chunks() - 1).end, g.blocks);
    }

    #[test]
    fn volumes_of_two_to_the_32_blocks_and_one_more() {
        // 16 TiB of 4 KiB blocks: exactly 2^32 blocks, the first size a 32-bit address refuses.
        let g = Geometry::new(1 << 32, 4096, 256, 16).unwrap();
        assert_eq!(g.bytes(), 16 << 40);
        assert_eq!(g.segments(), 1 << 24);
        assert_eq!(g.chunks(), 1 << 28);
        assert_eq!(
            g.segment_blocks_range((1 << 24) - 1),
            (1 << 32) - 256..1 << 32
        );
        assert_segments_cover(&g);
        // One block more: a last segment and a last chunk of one block, past 2^32.
        let g = Geometry::new((1 << 32) + 1, 4096, 256, 16).unwrap();
        assert_eq!(g.segments(), (1 << 24) + 1);
        assert_eq!(g.segment_blocks_range(1 << 24), 1 << 32..(1 << 32) + 1);
        assert_eq!(g.chunk_blocks(1 << 28), 1 << 32..(1 << 32) + 1);
        assert_eq!(g.chunk_of(1 << 32), 1 << 28);
        assert_eq!(g.blocks_of(16 << 40, 4096), Ok(1 << 32..(1 << 32) + 1));
        assert_segments_cover(&g);
        // At the top of the address space the ends of ranges do not wrap.
        let m = u32::MAX as u64;
        let g = Geometry::new(m * m - 1, 1, m, m).unwrap();
        assert_eq!(g.segment_blocks_range(u32::MAX - 1), m * (m - 1)..m * m - 1);
        assert_segments_cover(&g);
    }
}
