//! How much a pick rests on the seeds that happened to run: the same decision remade on
//! resamples of the seeds (drawn with replacement, the same draw for every configuration,
//! since every configuration ran the same workloads per seed), and on other copy-time
//! limits.

use super::decide::{decide, Decision, Table, Terms};
use super::groups::Config;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Resamples of the seeds per decision.
pub const RESAMPLES: usize = 200;

/// The share of resamples a pick must win to be called stable.
pub const STABLE_SHARE: f64 = 0.95;

/// The resamples' seed: fixed, so the same results state the same stability.
const RESAMPLE_SEED: u64 = 0x636f_776c_6162;

/// How a group's pick fared over resamples of its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Stability {
    /// The share of resamples whose decision picked the same configuration.
    pub share: f64,
    /// How often each configuration was picked, most first: the contenders more seeds
    /// would tell apart.
    pub wins: Vec<(Config, usize)>,
}

impl Stability {
    pub fn stable(&self) -> bool {
        self.share >= STABLE_SHARE
    }
}

/// Remakes the decision on [`RESAMPLES`] resamples of the group's seeds.
pub fn stability(table: &Table, terms: &Terms, as_run: &Decision, salt: u64) -> Stability {
    let n = table.seeds.len();
    let mut rng = ChaCha8Rng::seed_from_u64(RESAMPLE_SEED ^ salt);
    let mut wins: BTreeMap<usize, usize> = BTreeMap::new();
    let mut same = 0;
    for _ in 0..RESAMPLES {
        let mut weights = vec![0.0; n];
        for _ in 0..n {
            weights[(rng.next_u64() % n as u64) as usize] += 1.0;
        }
        let pick = decide(table, terms, &weights).pick;
        if let Some(p) = pick {
            *wins.entry(p).or_default() += 1;
        }
        same += usize::from(pick == as_run.pick);
    }
    let mut wins: Vec<(usize, usize)> = wins.into_iter().collect();
    wins.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Stability {
        share: same as f64 / RESAMPLES as f64,
        wins: wins
            .into_iter()
            .map(|(i, n)| (table.group.configs[i].clone(), n))
            .collect(),
    }
}
