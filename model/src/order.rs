//! The order in which the copier visits segments.

use crate::geometry::Segment;
use crate::names::Named;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

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
    /// Many volumes under one copy engine: one segment of each volume in turn.
    RoundRobin,
    /// Many volumes: the smallest volume first, each copied in order.
    SmallestFirst,
    /// Many volumes: next, the volume with the most segments in which chunks were preserved
    /// (its lowest such segment); when none has any, the lowest segment not yet copied.
    MostWrittenFirst,
}

/// A copy order as a user names it: the order without its seed (`random` takes the run's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderName {
    Sequential,
    Reverse,
    Random,
    WrittenFirst,
    RoundRobin,
    SmallestFirst,
    MostWrittenFirst,
}

impl OrderName {
    /// The order; `random` takes its permutation from `seed`.
    pub fn order(self, seed: u64) -> CopyOrder {
        match self {
            OrderName::Sequential => CopyOrder::Sequential,
            OrderName::Reverse => CopyOrder::Reverse,
            OrderName::Random => CopyOrder::Random { seed },
            OrderName::WrittenFirst => CopyOrder::WrittenFirst,
            OrderName::RoundRobin => CopyOrder::RoundRobin,
            OrderName::SmallestFirst => CopyOrder::SmallestFirst,
            OrderName::MostWrittenFirst => CopyOrder::MostWrittenFirst,
        }
    }
}

impl Named for OrderName {
    const WHAT: &'static str = "order";
    const ALL: &'static [OrderName] = &[
        OrderName::Sequential,
        OrderName::Reverse,
        OrderName::Random,
        OrderName::WrittenFirst,
        OrderName::RoundRobin,
        OrderName::SmallestFirst,
        OrderName::MostWrittenFirst,
    ];

    fn name(self) -> &'static str {
        match self {
            OrderName::Sequential => "sequential",
            OrderName::Reverse => "reverse",
            OrderName::Random => "random",
            OrderName::WrittenFirst => "written-first",
            OrderName::RoundRobin => "round-robin",
            OrderName::SmallestFirst => "smallest-first",
            OrderName::MostWrittenFirst => "most-written-first",
        }
    }
}

crate::named_by_name!(OrderName);

impl CopyOrder {
    /// The name it is given by ([`OrderName`]).
    pub fn name(self) -> OrderName {
        match self {
            CopyOrder::Sequential => OrderName::Sequential,
            CopyOrder::Reverse => OrderName::Reverse,
            CopyOrder::Random { .. } => OrderName::Random,
            CopyOrder::WrittenFirst => OrderName::WrittenFirst,
            CopyOrder::RoundRobin => OrderName::RoundRobin,
            CopyOrder::SmallestFirst => OrderName::SmallestFirst,
            CopyOrder::MostWrittenFirst => OrderName::MostWrittenFirst,
        }
    }

    /// Whether the copier follows where chunks were preserved (the metadata then notes the
    /// segments concerned).
    pub fn follows_writes(self) -> bool {
        matches!(self, CopyOrder::WrittenFirst | CopyOrder::MostWrittenFirst)
    }

    /// The static visiting order of `segments` segments in `volumes` (consecutive runs of
    /// segments; written-first and most-written-first start sequential and are adjusted
    /// live). Random, round-robin and smallest-first orders are held as a list; the others
    /// are computed.
    pub fn plan(self, segments: Segment, volumes: &[Range<Segment>]) -> Plan {
        match self {
            CopyOrder::Sequential | CopyOrder::WrittenFirst | CopyOrder::MostWrittenFirst => {
                Plan::Sequential
            }
            CopyOrder::RoundRobin => {
                let longest = volumes.iter().map(|v| v.len()).max().unwrap_or(0);
                let order = (0..longest)
                    .flat_map(|k| {
                        volumes
                            .iter()
                            .filter(move |v| k < v.len())
                            .map(move |v| v.start + k as Segment)
                    })
                    .collect();
                Plan::Listed(order)
            }
            CopyOrder::SmallestFirst => {
                let mut by_size: Vec<&Range<Segment>> = volumes.iter().collect();
                by_size.sort_by_key(|v| (v.len(), v.start));
                Plan::Listed(by_size.into_iter().flat_map(|v| v.clone()).collect())
            }
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
            CopyOrder::Random { seed } => write!(f, "random (seed {seed})"),
            o => write!(f, "{}", o.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_the_order_that_displays_it() {
        let parsed: Vec<String> = OrderName::names()
            .iter()
            .map(|n| n.parse::<OrderName>().expect(n).order(9).to_string())
            .collect();
        assert_eq!(
            parsed,
            [
                "sequential",
                "reverse",
                "random (seed 9)",
                "written-first",
                "round-robin",
                "smallest-first",
                "most-written-first"
            ]
        );
        assert_eq!(
            "random".parse::<OrderName>().map(|o| o.order(9)),
            Ok(CopyOrder::Random { seed: 9 })
        );
        let e = "backwards".parse::<OrderName>().unwrap_err().to_string();
        assert!(
            e.starts_with("unknown order (expected one of: sequential, reverse"),
            "{e}"
        );
        let e = "written-frist"
            .parse::<OrderName>()
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("; did you mean written-first?"), "{e}");
    }

    #[test]
    fn volume_orders_interleave_or_sort_the_volumes() {
        let volumes = [0..3, 3..4, 4..6];
        let listed = |o: CopyOrder| match o.plan(6, &volumes) {
            Plan::Listed(l) => l,
            p => panic!("{p:?}"),
        };
        assert_eq!(listed(CopyOrder::RoundRobin), [0, 3, 4, 1, 5, 2]);
        assert_eq!(listed(CopyOrder::SmallestFirst), [3, 4, 5, 0, 1, 2]);
        // One volume: both are the sequential order.
        for o in [CopyOrder::RoundRobin, CopyOrder::SmallestFirst] {
            assert_eq!(
                match o.plan(3, std::slice::from_ref(&(0..3))) {
                    Plan::Listed(l) => l,
                    p => panic!("{p:?}"),
                },
                [0, 1, 2]
            );
        }
    }
}
