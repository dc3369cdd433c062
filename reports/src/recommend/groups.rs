//! The runs of a sweep grouped as a recommendation compares them: per workload and disk
//! (and topology), each configuration (policy, segment, chunk, and workers) with its
//! figures per seed.

use super::stats::{estimate, Estimate};
use crate::results::{Record, Results};
use crate::sweep::COST_METRICS;
use cowlab_sim::device::DiskName;
use cowlab_sim::workload::PatternName;
use std::collections::BTreeMap;

/// One metric of a configuration over its seeds: their min, median and max (what a chart's
/// band shows), and their mean with its confidence interval (what the recommendation
/// decides with).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub mean: Estimate,
}

fn spread(samples: &[(u64, f64)]) -> Option<Spread> {
    let mut v: Vec<f64> = samples.iter().map(|(_, x)| *x).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Some(Spread {
        min: v[0],
        median,
        max: v[n - 1],
        mean: estimate(v.iter().map(|x| (*x, 1.0)))?,
    })
}

/// One configuration (policy, segment, chunk, workers) of a workload and disk, over its
/// seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub policy: String,
    pub segment: u64,
    pub chunk: u64,
    /// The copy workers (1 in a sweep without workers).
    pub workers: u32,
    pub seeds: usize,
    /// Whether every run of it kept every invariant.
    pub sound: bool,
    metrics: BTreeMap<&'static str, Spread>,
    /// Each metric per seed, in seed order.
    samples: BTreeMap<&'static str, Vec<(u64, f64)>>,
}

impl Config {
    pub fn spread(&self, metric: &str) -> Option<Spread> {
        self.metrics.get(metric).copied()
    }

    pub fn median(&self, metric: &str) -> Option<f64> {
        self.spread(metric).map(|s| s.median)
    }

    /// The mean over the seeds as run.
    pub fn mean(&self, metric: &str) -> Option<f64> {
        self.spread(metric).map(|s| s.mean.mean)
    }

    /// A metric per seed, in seed order.
    pub fn samples(&self, metric: &str) -> &[(u64, f64)] {
        self.samples.get(metric).map_or(&[], Vec::as_slice)
    }

    /// The seeds it ran.
    pub fn seed_list(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.samples.values().flatten().map(|(k, _)| *k).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Whether two are the same configuration (policy, segment, chunk and workers).
    pub fn same(&self, other: &Config) -> bool {
        self.policy == other.policy
            && self.segment == other.segment
            && self.chunk == other.chunk
            && self.workers == other.workers
    }
}

/// A group's name: "workload, disk" or "workload, disk, topology".
pub fn title(workload: PatternName, disk: DiskName, topology: Option<&str>) -> String {
    match topology {
        Some(t) => format!("{workload}, {disk}, {t}"),
        None => format!("{workload}, {disk}"),
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
        title(self.workload, self.disk, self.topology.as_deref())
    }

    /// Every seed any of its configurations ran.
    pub fn seed_list(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.configs.iter().flat_map(Config::seed_list).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

/// A configuration as the runs name it: the variant's place in the sweep, segment, chunk,
/// workers.
type ConfigKey = (usize, u64, u64, u32);

/// Groups the runs by workload, disk and topology (in the sweep's order), and their seeds
/// by configuration (in the order configurations first appear in the runs).
pub fn groups(results: &Results) -> Vec<Group> {
    let s = &results.sweep;
    let variants = s.variants();
    let variant = |r: &Record| s.variant_of(&r.policy, r.on_error);
    let cells = s.workloads.iter().flat_map(|w| {
        s.disks
            .iter()
            .flat_map(move |d| s.topology_keys().into_iter().map(move |t| (w, d, t)))
    });
    let mut out = Vec::new();
    for (w, d, t) in cells {
        // A configuration: a variant (the policy, or policy and error policy), a segment
        // size, a chunk size and a worker count; its runs are its seeds.
        let mut by_config: Vec<(ConfigKey, Vec<&Record>)> = Vec::new();
        for r in results
            .runs
            .iter()
            .filter(|r| r.workload == *w && r.disk == *d && r.topology == t)
        {
            let v = variant(r);
            let p = variants.iter().position(|x| *x == v).unwrap_or(usize::MAX);
            let key = (p, r.segment_size_bytes, r.cow_size_bytes, r.workers);
            match by_config.iter_mut().find(|(k, _)| *k == key) {
                Some((_, runs)) => runs.push(r),
                None => by_config.push((key, vec![r])),
            }
        }
        let configs = by_config
            .into_iter()
            .map(|((_, segment, chunk, workers), mut runs)| {
                runs.sort_by_key(|r| r.seed);
                let samples: BTreeMap<&'static str, Vec<(u64, f64)>> = COST_METRICS
                    .iter()
                    .map(|m| {
                        let v = runs
                            .iter()
                            .filter_map(|r| r.metric(m).map(|x| (r.seed, x)))
                            .collect();
                        (*m, v)
                    })
                    .collect();
                Config {
                    policy: variant(runs[0]),
                    segment,
                    chunk,
                    workers,
                    seeds: runs.len(),
                    sound: runs.iter().all(|r| r.sound()),
                    metrics: samples
                        .iter()
                        .filter_map(|(m, v)| spread(v).map(|sp| (*m, sp)))
                        .collect(),
                    samples,
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
