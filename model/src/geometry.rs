//! Volume geometry: blocks, segments (the copier's unit) and chunks (the copy-on-write unit).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

/// Index of a block, a chunk or a segment. Volumes in the checkers are tiny and the
/// simulator's are at most a few billion blocks, so 32 bits is enough and keeps states small.
pub type Index = u32;

/// The shape of the copied volume. Build it with [`Geometry::new`], which validates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    pub blocks: Index,
    pub block_size: u32,
    pub segment_blocks: Index,
    pub cow_blocks: Index,
}

/// Why a geometry or a request is refused: names the field and the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("{field} must be at least 1, got {value}")]
    Zero { field: &'static str, value: u64 },
    #[error("cow_blocks ({cow_blocks}) must divide segment_blocks ({segment_blocks})")]
    ChunkNotDividingSegment {
        cow_blocks: Index,
        segment_blocks: Index,
    },
    #[error("segment_blocks ({segment_blocks}) is larger than the volume ({blocks} blocks)")]
    SegmentLargerThanVolume {
        segment_blocks: Index,
        blocks: Index,
    },
    #[error("{field} is {value}; at most {max} is supported")]
    TooLarge {
        field: &'static str,
        value: u64,
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
    /// its last segment (and possibly its last chunk) is short. Each size must fit in 32 bits,
    /// so the volume's size in bytes always fits in 64.
    pub fn new(
        blocks: u64,
        block_size: u64,
        segment_blocks: u64,
        cow_blocks: u64,
    ) -> Result<Self, GeometryError> {
        let max = u32::MAX as u64;
        for (field, value) in [
            ("blocks", blocks),
            ("block_size", block_size),
            ("segment_blocks", segment_blocks),
            ("cow_blocks", cow_blocks),
        ] {
            if value == 0 {
                return Err(GeometryError::Zero { field, value });
            }
            if value > max {
                return Err(GeometryError::TooLarge { field, value, max });
            }
        }
        let (blocks, block_size) = (blocks as Index, block_size as u32);
        let (segment_blocks, cow_blocks) = (segment_blocks as Index, cow_blocks as Index);
        if segment_blocks % cow_blocks != 0 {
            return Err(GeometryError::ChunkNotDividingSegment {
                cow_blocks,
                segment_blocks,
            });
        }
        if segment_blocks > blocks {
            return Err(GeometryError::SegmentLargerThanVolume {
                segment_blocks,
                blocks,
            });
        }
        Ok(Geometry {
            blocks,
            block_size,
            segment_blocks,
            cow_blocks,
        })
    }

    /// Volume size in bytes (fits: both factors are 32-bit).
    pub fn bytes(&self) -> u64 {
        self.blocks as u64 * self.block_size as u64
    }

    pub fn segments(&self) -> Index {
        self.blocks.div_ceil(self.segment_blocks)
    }

    pub fn chunks(&self) -> Index {
        self.blocks.div_ceil(self.cow_blocks)
    }

    pub fn chunks_per_segment(&self) -> Index {
        self.segment_blocks / self.cow_blocks
    }

    pub fn chunk_of(&self, block: Index) -> Index {
        block / self.cow_blocks
    }

    pub fn segment_of_chunk(&self, chunk: Index) -> Index {
        chunk / self.chunks_per_segment()
    }

    /// Blocks of a chunk, clipped to the volume (the last chunk may be short).
    pub fn chunk_blocks(&self, chunk: Index) -> Range<Index> {
        let start = chunk * self.cow_blocks;
        start..(start + self.cow_blocks).min(self.blocks)
    }

    /// Chunks of a segment, clipped to the volume.
    pub fn segment_chunks(&self, segment: Index) -> Range<Index> {
        let start = segment * self.chunks_per_segment();
        start..(start + self.chunks_per_segment()).min(self.chunks())
    }

    pub fn segment_blocks_range(&self, segment: Index) -> Range<Index> {
        let start = segment * self.segment_blocks;
        start..(start + self.segment_blocks).min(self.blocks)
    }

    /// Chunks that a block range touches.
    pub fn chunks_touching(&self, blocks: &Range<Index>) -> Range<Index> {
        self.chunk_of(blocks.start)..self.chunk_of(blocks.end - 1) + 1
    }

    /// The blocks that a byte request `(offset, len)` touches; unaligned requests touch
    /// partial blocks at either end, which the model writes whole (read-modify-write).
    pub fn blocks_of(&self, offset: u64, len: u64) -> Result<Range<Index>, GeometryError> {
        if len == 0 {
            return Err(GeometryError::EmptyRequest { offset });
        }
        let size = self.bytes();
        match offset.checked_add(len) {
            Some(end) if end <= size => {
                let bs = self.block_size as u64;
                Ok((offset / bs) as Index..end.div_ceil(bs) as Index)
            }
            _ => Err(GeometryError::PastEnd { offset, len, size }),
        }
    }
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

/// Renders a block range the way traces print it: `6..7` is blocks 6 and 7.
pub fn show_blocks(r: &Range<Index>) -> String {
    if r.len() == 1 {
        format!("block {}", r.start)
    } else {
        format!("blocks {}..{}", r.start, r.end - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Geometry::new(1 << 40, 512, 4, 1),
            Err(GeometryError::TooLarge {
                field: "blocks",
                value: 1 << 40,
                max: u32::MAX as u64
            })
        );
        let huge = Geometry::new(u32::MAX as u64, u32::MAX as u64, 4, 1).unwrap();
        assert_eq!(huge.bytes(), u32::MAX as u64 * u32::MAX as u64);
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
}
