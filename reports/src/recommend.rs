//! The recommendation: per workload and disk (and topology, in a sweep of topologies), the
//! segment size, chunk size and policy that
//! the sweep's cost prefers, with the runner-up and by how much it loses.

use crate::results::{Record, Results};
use crate::sweep::{Cost, COST_METRICS};
use cowlab_sim::device::DiskName;
use cowlab_sim::workload::PatternName;
use std::collections::BTreeMap;

/// Min, median and max of one metric over the seeds of a configuration (`None` where the
/// metric is undefined in every run).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

fn spread(mut v: Vec<f64>) -> Option<Spread> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Some(Spread {
        min: v[0],
        median,
        max: v[n - 1],
    })
}

/// One configuration (policy, segment, chunk) of a workload and disk, over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub policy: String,
    pub segment: u64,
    pub chunk: u64,
    pub seeds: usize,
    /// Whether every run of it kept every invariant.
    pub sound: bool,
    metrics: BTreeMap<&'static str, Spread>,
}

impl Config {
    pub fn spread(&self, metric: &str) -> Option<Spread> {
        self.metrics.get(metric).copied()
    }

    pub fn median(&self, metric: &str) -> Option<f64> {
        self.spread(metric).map(|s| s.median)
    }
}

/// Every configuration of one workload and disk (and topology).
#[derive(Clone, Debug)]
pub struct Group {
    pub workload: PatternName,
    pub disk: DiskName,
    /// The topology, in a sweep of topologies.
    pub topology: Option<String>,
    pub configs: Vec<Config>,
}

impl Group {
    /// "workload, disk" or "workload, disk, topology".
    pub fn title(&self) -> String {
        match &self.topology {
            Some(t) => format!("{}, {}, {t}", self.workload, self.disk),
            None => format!("{}, {}", self.workload, self.disk),
        }
    }
}

/// Groups the runs by workload, disk and topology (in the sweep's order), and their seeds
/// by configuration.
pub fn groups(results: &Results) -> Vec<Group> {
    let s = &results.sweep;
    let mut out = Vec::new();
    let cells = s.workloads.iter().flat_map(|w| {
        s.disks
            .iter()
            .flat_map(move |d| s.topology_keys().into_iter().map(move |t| (w, d, t)))
    });
    for (w, d, t) in cells {
        let runs: Vec<&Record> = results
            .runs
            .iter()
            .filter(|r| r.workload == *w && r.disk == *d && r.topology == t)
            .collect();
        // A configuration: a variant (the policy, or policy and error policy), a segment
        // size and a chunk size; its runs are its seeds.
        let variants = s.variants();
        let variant = |r: &Record| s.variant_of(&r.policy, r.on_error);
        let mut keys: Vec<(usize, u64, u64)> = Vec::new();
        for r in &runs {
            let v = variant(r);
            let p = variants.iter().position(|x| *x == v).unwrap_or(usize::MAX);
            let k = (p, r.segment_size_bytes, r.cow_size_bytes);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let configs = keys
            .into_iter()
            .map(|(p, seg, chunk)| {
                let mine: Vec<&&Record> = runs
                    .iter()
                    .filter(|r| {
                        r.segment_size_bytes == seg
                            && r.cow_size_bytes == chunk
                            && variants.get(p) == Some(&variant(r))
                    })
                    .collect();
                let metrics = COST_METRICS
                    .iter()
                    .filter_map(|m| {
                        let v = mine.iter().filter_map(|r| r.metric(m)).collect();
                        spread(v).map(|sp| (*m, sp))
                    })
                    .collect();
                Config {
                    policy: mine.first().map_or(String::new(), |r| variant(r)),
                    segment: seg,
                    chunk,
                    seeds: mine.len(),
                    sound: mine.iter().all(|r| r.sound()),
                    metrics,
                }
            })
            .collect();
        out.push(Group {
            workload: *w,
            disk: *d,
            topology: t,
            configs,
        });
    }
    out
}

/// A configuration and its cost (less is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Pick {
    pub config: Config,
    pub score: f64,
}

/// The best configuration of a workload and disk (and topology) under the cost, and the
/// runner-up.
#[derive(Clone, Debug)]
pub struct Recommendation {
    pub workload: PatternName,
    pub disk: DiskName,
    /// The topology, in a sweep of topologies.
    pub topology: Option<String>,
    pub best: Option<Pick>,
    pub runner_up: Option<Pick>,
    /// Configurations that met the cost's limits, of all.
    pub eligible: usize,
    pub configs: usize,
    /// The configurations that met the cost's limits, best first.
    pub ranked: Vec<Pick>,
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

impl Config {
    /// Whether two are the same configuration (policy, segment and chunk).
    pub fn same(&self, other: &Config) -> bool {
        self.policy == other.policy && self.segment == other.segment && self.chunk == other.chunk
    }
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
}

/// A metric's value as a cost: every metric costs more as it grows, but the throughput
/// ratio, which counts as 1 - ratio.
fn as_cost(metric: &str, v: f64) -> f64 {
    match metric {
        "throughput_ratio" => 1.0 - v,
        _ => v,
    }
}

/// Whether a configuration meets the cost's limits; `fastest_copy` is the disk's fastest
/// copy with no writes.
pub fn eligible(c: &Config, cost: &Cost, fastest_copy: Option<f64>) -> bool {
    let within = |limit: Option<f64>, v: Option<f64>| match (limit, v) {
        (Some(l), Some(v)) => v <= l,
        (Some(_), None) => false,
        (None, _) => true,
    };
    c.sound
        && within(
            cost.copy_within.zip(fastest_copy).map(|(f, t)| f * t),
            c.median("copy_seconds"),
        )
        && within(
            cost.max_preserved_bytes.map(|b| b as f64),
            c.median("preserved_bytes"),
        )
        && within(
            cost.max_snapshot_bytes.map(|b| b as f64),
            c.median("snapshot_peak_bytes"),
        )
}

/// The cost of every eligible configuration of a group, best first (ties broken by copy
/// time, then preserved bytes, then the sweep's order).
pub fn ranked(group: &Group, results: &Results, cost: &Cost) -> Vec<Pick> {
    let eligible: Vec<&Config> = group
        .configs
        .iter()
        .filter(|c| {
            let fastest = results.fastest_copy(group.disk, group.topology.as_deref());
            eligible(c, cost, fastest)
        })
        .collect();
    let score = |c: &Config| -> Option<f64> {
        if cost.weights.is_empty() {
            return c.median(&cost.minimize).map(|v| as_cost(&cost.minimize, v));
        }
        let mut total = 0.0;
        for (m, w) in &cost.weights {
            let v = as_cost(m, c.median(m)?);
            let mut all: Vec<f64> = eligible
                .iter()
                .filter_map(|e| e.median(m).map(|x| as_cost(m, x)))
                .collect();
            all.sort_by(f64::total_cmp);
            let norm = all
                .get(all.len() / 2)
                .copied()
                .filter(|n| *n > 0.0)
                .unwrap_or(1.0);
            total += w * v / norm;
        }
        Some(total)
    };
    let mut picks: Vec<(Pick, usize)> = eligible
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            score(c).map(|s| {
                let pick = Pick {
                    config: (*c).clone(),
                    score: s,
                };
                (pick, i)
            })
        })
        .collect();
    let key = |p: &Pick| {
        (
            p.config.median("copy_seconds").unwrap_or(f64::INFINITY),
            p.config.median("preserved_bytes").unwrap_or(f64::INFINITY),
        )
    };
    picks.sort_by(|(a, i), (b, j)| {
        a.score
            .total_cmp(&b.score)
            .then(key(a).0.total_cmp(&key(b).0))
            .then(key(a).1.total_cmp(&key(b).1))
            .then(i.cmp(j))
    });
    picks.into_iter().map(|(p, _)| p).collect()
}

/// The recommendation of every workload and disk (and topology) of the results.
pub fn recommend(results: &Results) -> Vec<Recommendation> {
    let cost = &results.sweep.cost;
    groups(results)
        .into_iter()
        .map(|g| {
            let ranked = ranked(&g, results, cost);
            Recommendation {
                eligible: ranked.len(),
                configs: g.configs.len(),
                best: ranked.first().cloned(),
                runner_up: ranked.get(1).cloned(),
                ranked,
                workload: g.workload,
                disk: g.disk,
                topology: g.topology,
            }
        })
        .collect()
}
