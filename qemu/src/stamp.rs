//! What the real images hold: every 512-byte sector carries a stamp saying which write last
//! wrote it, as the model's blocks do, so that the real outcome can be judged by the same
//! invariants without keeping a copy of any data.
//!
//! A sector is a header, a filler and the header again at its end: the run's nonce, the
//! stamp ([`cowlab_model::disk::Stamp`]: 0 is the begin image, write *k* writes *k* + 1),
//! the sector's own number and a check word. A sector whose header and trailer disagree, or
//! whose check word or sector number is wrong, is not a stamp (torn, misplaced or foreign
//! data); an all-zero sector was never written.

use cowlab_model::disk::{show_stamp, Stamp, UNWRITTEN};
use std::fmt;

/// The unit QEMU's requests and cowlab's stamps share.
pub const SECTOR: u64 = 512;

const HEADER: usize = 32;
const CHECK: u64 = 0x636f_776c_6162_5145; // "cowlabQE"

/// What one sector of an image (or of a read) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Found {
    /// A stamp of this run ([`UNWRITTEN`] for an all-zero sector).
    Stamp(Stamp),
    /// Bytes that are no stamp of this run for this sector.
    Garbage,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Stamp(s) => f.write_str(&show_stamp(*s)),
            Found::Garbage => f.write_str("data that is no stamp of this run (torn or foreign)"),
        }
    }
}

/// Writes and reads the stamps of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamper {
    /// Differs from run to run, so an image left by another run never passes as this one's.
    pub nonce: u64,
}

impl Stamper {
    fn header(&self, stamp: Stamp, sector: u64) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[0..8].copy_from_slice(&self.nonce.to_le_bytes());
        h[8..12].copy_from_slice(&stamp.to_le_bytes());
        h[16..24].copy_from_slice(&sector.to_le_bytes());
        let check = self.nonce ^ u64::from(stamp).rotate_left(17) ^ sector.rotate_left(33) ^ CHECK;
        h[24..32].copy_from_slice(&check.to_le_bytes());
        h
    }

    /// Fills `buf` (whole sectors) with `stamp`, the first sector being `first`.
    pub fn fill(&self, buf: &mut [u8], first: u64, stamp: Stamp) {
        debug_assert_eq!(buf.len() as u64 % SECTOR, 0);
        for (i, sector) in buf.chunks_exact_mut(SECTOR as usize).enumerate() {
            let h = self.header(stamp, first + i as u64);
            sector[..HEADER].copy_from_slice(&h);
            // A filler that is never zero, so no layer can mistake the data for a hole.
            let fill = (stamp as u8) ^ 0xa5;
            sector[HEADER..SECTOR as usize - HEADER].fill(fill);
            sector[SECTOR as usize - HEADER..].copy_from_slice(&h);
        }
    }

    /// The stamps of whole sectors in `buf`, the first being sector `first`.
    pub fn read(&self, buf: &[u8], first: u64) -> Vec<Found> {
        buf.chunks_exact(SECTOR as usize)
            .enumerate()
            .map(|(i, s)| self.decode(s, first + i as u64))
            .collect()
    }

    fn decode(&self, sector: &[u8], number: u64) -> Found {
        if sector.iter().all(|b| *b == 0) {
            return Found::Stamp(UNWRITTEN);
        }
        let head = &sector[..HEADER];
        let stamp = Stamp::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let whole =
            head == self.header(stamp, number) && head == &sector[SECTOR as usize - HEADER..];
        match whole {
            true => Found::Stamp(stamp),
            false => Found::Garbage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_where_it_was_written_and_nowhere_else() {
        let s = Stamper { nonce: 7 };
        let mut buf = vec![0u8; 3 * SECTOR as usize];
        s.fill(&mut buf, 10, 5);
        assert_eq!(s.read(&buf, 10), vec![Found::Stamp(5); 3]);
        // Moved by one sector, or read by another run, it is no stamp.
        assert_eq!(s.read(&buf, 11), vec![Found::Garbage; 3]);
        assert_eq!(Stamper { nonce: 8 }.read(&buf, 10), vec![Found::Garbage; 3]);
    }

    #[test]
    fn a_torn_sector_and_a_hole_are_told_apart_from_stamps() {
        let s = Stamper { nonce: 1 };
        let mut old = vec![0u8; SECTOR as usize];
        let mut new = old.clone();
        s.fill(&mut old, 0, 0);
        s.fill(&mut new, 0, 9);
        let mut torn = old.clone();
        torn[256..].copy_from_slice(&new[256..]);
        assert_eq!(s.read(&torn, 0), vec![Found::Garbage]);
        assert_eq!(s.read(&[0u8; 512], 0), vec![Found::Stamp(UNWRITTEN)]);
        // One flipped byte in the header is caught by the check word.
        let mut flipped = new.clone();
        flipped[9] ^= 1;
        assert_eq!(s.read(&flipped, 0), vec![Found::Garbage]);
    }
}
