//! The order in which the copier visits segments.

use crate::geometry::Segment;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CopyOrder {
    Sequential,
    Reverse,
    /// A permutation drawn from the seed.
    Random {
        seed: u64,
    },
    /// A reordered copy list: a segment that writes have touched is copied next, so its
    /// preserved chunks stop costing snapshot space early.
    WrittenFirst,
}

impl CopyOrder {
    pub const NAMES: [&'static str; 4] = ["sequential", "reverse", "random", "written-first"];

    /// Parses a name; `random` takes its permutation from `seed`.
    pub fn by_name(name: &str, seed: u64) -> Option<CopyOrder> {
        match name {
            "sequential" => Some(CopyOrder::Sequential),
            "reverse" => Some(CopyOrder::Reverse),
            "random" => Some(CopyOrder::Random { seed }),
            "written-first" => Some(CopyOrder::WrittenFirst),
            _ => None,
        }
    }

    /// The static visiting order (written-first starts sequential and is adjusted live).
    /// Only a random order is held as a list; the others are computed.
    pub fn plan(self, segments: Segment) -> Plan {
        match self {
            CopyOrder::Sequential | CopyOrder::WrittenFirst => Plan::Sequential,
            CopyOrder::Reverse => Plan::Reverse,
            CopyOrder::Random { seed } => {
                // Fisher-Yates with our own seeded generator: stable across crate versions.
                let mut order: Vec<Segment> = (0..segments).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                for i in (1..order.len()).rev() {
                    let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                    order.swap(i, j);
                }
                Plan::Listed(order)
            }
        }
    }
}

/// Which segment the copier copies n-th.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Sequential,
    Reverse,
    Listed(Vec<Segment>),
}

impl Plan {
    pub fn segment(&self, n: u32, segments: Segment) -> Segment {
        match self {
            Plan::Sequential => n,
            Plan::Reverse => segments - 1 - n,
            Plan::Listed(order) => order[n as usize],
        }
    }
}

impl fmt::Display for CopyOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyOrder::Sequential => f.write_str("sequential"),
            CopyOrder::Reverse => f.write_str("reverse"),
            CopyOrder::Random { seed } => write!(f, "random (seed {seed})"),
            CopyOrder::WrittenFirst => f.write_str("written-first"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_the_order_that_displays_it() {
        let parsed: Vec<String> = CopyOrder::NAMES
            .iter()
            .map(|n| CopyOrder::by_name(n, 9).expect(n).to_string())
            .collect();
        assert_eq!(
            parsed,
            ["sequential", "reverse", "random (seed 9)", "written-first"]
        );
        assert_eq!(
            CopyOrder::by_name("random", 9),
            Some(CopyOrder::Random { seed: 9 })
        );
        assert_eq!(CopyOrder::by_name("backwards", 9), None);
    }
}
