//! The recommendation: per workload and disk (and topology, in a sweep of topologies), the
//! segment size, chunk size and policy the sweep's cost prefers, and how far to trust it.
//!
//! - [`groups`]: the runs grouped by workload and disk, each configuration's figures per seed.
//! - [`stats`]: means and their confidence intervals.
//! - [`decide`]: the limits, the ranking, ties and the tie rule: one decision.
//! - [`stability`]: the decision remade on resamples of the seeds.
//!
//! A pick is *stable* when it wins at least [`stability::STABLE_SHARE`] of the resamples;
//! a *tie* when configurations the best cannot be told apart from exist, and the tie rule
//! then chose among them. More seeds are what settles an unstable pick: [`contenders`]
//! names the configurations that more seeds would tell apart.

pub mod decide;
pub mod groups;
pub mod stability;
pub mod stats;

pub use decide::{Decision, Table, Terms};
pub use groups::{groups, Config, Group, Spread};
pub use stability::Stability;
pub use stats::Estimate;

use crate::results::Results;
use cowlab_sim::device::DiskName;
use cowlab_sim::workload::PatternName;
use rayon::prelude::*;

/// The policy that copies with every write held: the baseline, not an online copy.
pub const OFFLINE: &str = "offline";

/// The copy-time limits a report tries besides the cost's own, to show what the limit
/// decides.
pub const OTHER_LIMITS: [f64; 3] = [1.1, 1.2, 1.5];

/// The fewest seeds a pick and its runner-up must each have run for the pick to be called
/// stable: three seeds give ten distinct resamples, too few to see how often an order flips.
pub const MIN_SEEDS_STABLE: usize = 6;

/// A configuration and its cost (less is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Pick {
    pub config: Config,
    /// The mean cost over the seeds.
    pub score: f64,
    /// The mean cost and its confidence interval.
    pub estimate: Estimate,
}

/// An online configuration that misses the copy-time limit, for a group whose pick is
/// offline or none: the one whose copy comes closest to the limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Closest {
    pub config: Config,
    /// Its mean copy time over the disk's fastest copy with no writes.
    pub copy_ratio: f64,
}

/// The best configuration of a workload and disk (and topology) under the cost, the
/// runner-up, and how stable the pick is.
#[derive(Clone, Debug)]
pub struct Recommendation {
    pub workload: PatternName,
    pub disk: DiskName,
    /// The topology, in a sweep of topologies.
    pub topology: Option<String>,
    /// The pick: the best, or the tie rule's choice among those tied with it.
    pub best: Option<Pick>,
    /// The best ranked configuration other than the pick.
    pub runner_up: Option<Pick>,
    /// How much more the runner-up costs than the pick (paired over their common seeds).
    pub runner_up_by: Option<Estimate>,
    /// Configurations that met the cost's limits, of all.
    pub eligible: usize,
    pub configs: usize,
    /// The configurations that met the cost's limits, best first.
    pub ranked: Vec<Pick>,
    /// The configurations the best cannot be told apart from, the best first (one: no tie).
    pub tied: Vec<Pick>,
    /// The pick over resamples of the seeds.
    pub stability: Stability,
    /// The configurations at a limit's edge that decide the pick: the pick itself when it
    /// meets a limit only just, and those that miss one only just and would cost less.
    pub borderline: Vec<Config>,
    /// The pick under each of [`OTHER_LIMITS`] and the cost's own copy-time limit (none
    /// when the cost has no copy-time limit).
    pub by_limit: Vec<(f64, Option<Config>)>,
    /// When the pick is offline or there is none: the online configuration closest to the
    /// copy-time limit.
    pub closest_online: Option<Closest>,
    /// The fewest and most seeds a configuration of the group ran.
    pub seeds: (usize, usize),
}

/// Where one configuration stands in its group's recommendation: what a chart marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigStatus {
    /// The recommended configuration.
    Pick,
    /// Met the cost's limits, not picked.
    Eligible,
    /// Ruled out by the cost's limits (or a broken invariant).
    Excluded,
}

impl Recommendation {
    /// Where a configuration of this group stands.
    pub fn status(&self, c: &Config) -> ConfigStatus {
        match (&self.best, self.ranked.iter().any(|p| p.config.same(c))) {
            (Some(b), _) if b.config.same(c) => ConfigStatus::Pick,
            (_, true) => ConfigStatus::Eligible,
            (_, false) => ConfigStatus::Excluded,
        }
    }

    /// Whether the best could not be told apart from others, so the tie rule chose.
    pub fn is_tie(&self) -> bool {
        self.tied.len() > 1
    }

    /// Stable: it wins at least [`stability::STABLE_SHARE`] of the resamples, neither it nor
    /// a configuration that would beat it sits at a limit's edge, and it and
    /// its runner-up each ran at least [`MIN_SEEDS_STABLE`] seeds (fewer seeds give too
    /// few distinct resamples to tell).
    pub fn is_stable(&self) -> bool {
        let enough = |p: &Option<Pick>| {
            p.as_ref()
                .is_none_or(|p| p.config.seeds >= MIN_SEEDS_STABLE)
        };
        self.best.is_some()
            && self.stability.stable()
            && self.borderline.is_empty()
            && enough(&self.best)
            && enough(&self.runner_up)
    }

    /// "workload, disk" or "workload, disk, topology".
    pub fn title(&self) -> String {
        groups::title(self.workload, self.disk, self.topology.as_deref())
    }
}

fn pick(group: &Group, d: &Decision, i: usize) -> Option<Pick> {
    let estimate = d.score[i]?;
    Some(Pick {
        config: group.configs[i].clone(),
        score: estimate.mean,
        estimate,
    })
}

/// The online configuration whose mean copy time comes closest to the fastest copy.
fn closest_online(group: &Group, fastest: Option<f64>) -> Option<Closest> {
    let fastest = fastest?;
    group
        .configs
        .iter()
        .filter(|c| c.sound && c.policy != OFFLINE)
        .filter_map(|c| Some((c, c.mean("copy_seconds")? / fastest)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, r)| Closest {
            config: c.clone(),
            copy_ratio: r,
        })
}

/// The recommendation of one group.
pub fn recommend_group(group: &Group, results: &Results, salt: u64) -> Recommendation {
    let cost = &results.sweep.cost;
    let fastest = results.fastest_copy(group.disk, group.topology.as_deref());
    let terms = Terms::of(cost, fastest);
    let table = Table::new(group, cost);
    let d = decide::decide(&table, &terms, &table.as_run());
    let ranked: Vec<Pick> = d
        .ranked
        .iter()
        .filter_map(|i| pick(group, &d, *i))
        .collect();
    let best = d.pick.and_then(|i| pick(group, &d, i));
    let runner = d.ranked.iter().copied().find(|i| Some(*i) != d.pick);
    let mut limits: Vec<f64> = OTHER_LIMITS.to_vec();
    limits.extend(cost.copy_within);
    limits.sort_by(f64::total_cmp);
    limits.dedup();
    let by_limit = match cost.copy_within {
        None => Vec::new(),
        Some(own) => limits
            .into_iter()
            .map(|l| {
                let t = Terms {
                    copy_within: Some(l),
                    ..terms
                };
                // The cost's own limit was decided above.
                let p = match l == own {
                    true => d.pick,
                    false => decide::decide(&table, &t, &table.as_run()).pick,
                };
                (l, p.map(|i| group.configs[i].clone()))
            })
            .collect(),
    };
    let offline_or_none = best.as_ref().is_none_or(|b| b.config.policy == OFFLINE);
    let seeds = group.configs.iter().map(|c| c.seeds);
    Recommendation {
        workload: group.workload,
        disk: group.disk,
        topology: group.topology.clone(),
        runner_up: runner.and_then(|i| pick(group, &d, i)),
        runner_up_by: d.pick.zip(runner).and_then(|(p, r)| d.difference(p, r)),
        eligible: ranked.len(),
        configs: group.configs.len(),
        tied: d.tied.iter().filter_map(|i| pick(group, &d, *i)).collect(),
        borderline: d
            .borderline
            .iter()
            .map(|i| group.configs[*i].clone())
            .collect(),
        stability: stability::stability(&table, &terms, &d, salt),
        by_limit,
        closest_online: offline_or_none
            .then(|| closest_online(group, fastest))
            .flatten(),
        seeds: (seeds.clone().min().unwrap_or(0), seeds.max().unwrap_or(0)),
        best,
        ranked,
    }
}

/// The recommendation of every workload and disk (and topology) of the results.
pub fn recommend(results: &Results) -> Vec<Recommendation> {
    Decided::new(results).recs
}

/// A sweep's results with their groups and the recommendation of each, worked out once for
/// every part of a report that shows them (the tables, the charts, the command line).
pub struct Decided<'a> {
    pub results: &'a Results,
    pub groups: Vec<Group>,
    /// One per group, in the same order.
    pub recs: Vec<Recommendation>,
}

impl<'a> Decided<'a> {
    pub fn new(results: &'a Results) -> Decided<'a> {
        let groups = groups(results);
        let recs = groups
            .par_iter()
            .enumerate()
            .map(|(i, g)| recommend_group(g, results, i as u64))
            .collect();
        Decided {
            results,
            groups,
            recs,
        }
    }

    /// Each group with its recommendation.
    pub fn cells(&self) -> impl Iterator<Item = (&Group, &Recommendation)> {
        self.groups.iter().zip(&self.recs)
    }
}

/// Per group (in [`groups`]' order), the configurations whose pick more seeds would settle:
/// none where the pick is stable, else the pick, its runner-up, every configuration tied
/// with the best or whose interval meets the pick's, every one at a limit's edge and every
/// one a resample picked.
pub fn contenders(decided: &Decided) -> Vec<Vec<Config>> {
    decided
        .recs
        .iter()
        .map(|r| {
            if r.is_stable() {
                return Vec::new();
            }
            let mut out: Vec<Config> = Vec::new();
            let named = [&r.best, &r.runner_up].into_iter().flatten();
            // Every configuration whose interval meets the pick's: a rival on other seeds,
            // though no resample of too few seeds made it win.
            let near = r.ranked.iter().filter(|p| {
                r.best
                    .as_ref()
                    .is_some_and(|b| p.estimate.lo <= b.estimate.hi)
            });
            let listed = named.chain(&r.tied).chain(near).map(|p| &p.config);
            let wins = r.stability.wins.iter().map(|(c, _)| c);
            for c in listed.chain(&r.borderline).chain(wins) {
                if !out.iter().any(|o| o.same(c)) {
                    out.push(c.clone());
                }
            }
            out
        })
        .collect()
}
