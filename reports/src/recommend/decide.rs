//! One decision of a group: which configurations meet the cost's limits, their cost, which
//! of them the best cannot be told apart from (a tie), and the pick the tie rule makes.
//! The same function decides on the seeds as run and on every resample of them, so the
//! stability a report states is the stability of this very rule.
//!
//! A group is laid out once as a [`Table`] (a value per configuration, metric and seed),
//! and a decision weighs its seeds: all 1 as run, or as often as a resample drew each.

use super::groups::Group;
use super::stats::{estimate, Estimate};
use crate::sweep::Cost;

/// A metric's value as a cost: every metric costs more as it grows, but the throughput
/// ratio, which counts as 1 - ratio.
fn as_cost(metric: &str, v: f64) -> f64 {
    match metric {
        "throughput_ratio" => 1.0 - v,
        _ => v,
    }
}

/// What a decision is made against: the cost, the disk's fastest copy with no writes, and
/// the copy-time limit (the cost's own, or another to see what it changes).
#[derive(Clone, Copy, Debug)]
pub struct Terms<'a> {
    pub cost: &'a Cost,
    pub fastest_copy: Option<f64>,
    pub copy_within: Option<f64>,
}

impl<'a> Terms<'a> {
    pub fn of(cost: &'a Cost, fastest_copy: Option<f64>) -> Terms<'a> {
        Terms {
            cost,
            fastest_copy,
            copy_within: cost.copy_within,
        }
    }
}

/// The metrics a decision reads, by their place in a [`Table`] row; the cost's own follow.
const COPY: usize = 0;
const PRESERVED: usize = 1;
const SNAPSHOT: usize = 2;
const EXTRA: usize = 3;
const FIXED: [&str; 4] = [
    "copy_seconds",
    "preserved_bytes",
    "snapshot_peak_bytes",
    "cow_amplification",
];

/// A group's figures for many decisions: per configuration and metric, one value per seed
/// of the group (NaN where that configuration did not run that seed or the metric is
/// undefined).
pub struct Table<'a> {
    pub group: &'a Group,
    /// Every seed of the group, in order.
    pub seeds: Vec<u64>,
    /// The metrics read: [`FIXED`], then the cost's (its `minimize`, or its weights').
    metrics: Vec<String>,
    values: Vec<Vec<Vec<f64>>>,
}

impl<'a> Table<'a> {
    pub fn new(group: &'a Group, cost: &Cost) -> Table<'a> {
        let seeds = group.seed_list();
        let mut metrics: Vec<String> = FIXED.iter().map(|m| m.to_string()).collect();
        match cost.weights.is_empty() {
            true => metrics.push(cost.minimize.clone()),
            false => metrics.extend(cost.weights.keys().cloned()),
        }
        let values = group
            .configs
            .iter()
            .map(|c| {
                metrics
                    .iter()
                    .map(|m| {
                        let mut row = vec![f64::NAN; seeds.len()];
                        for (k, v) in c.samples(m) {
                            if let Ok(i) = seeds.binary_search(k) {
                                row[i] = *v;
                            }
                        }
                        row
                    })
                    .collect()
            })
            .collect();
        Table {
            group,
            seeds,
            metrics,
            values,
        }
    }

    /// Every seed counted once.
    pub fn as_run(&self) -> Vec<f64> {
        vec![1.0; self.seeds.len()]
    }

    /// The weights a configuration's values count with: the draw's, or all 1 when none
    /// of its seeds was drawn.
    fn weights<'w>(&self, row: &[f64], draw: &'w [f64], ones: &'w [f64]) -> &'w [f64] {
        match row.iter().zip(draw).any(|(v, w)| !v.is_nan() && *w > 0.0) {
            true => draw,
            false => ones,
        }
    }

    /// The estimate of a row under a draw.
    fn estimate_of(&self, row: &[f64], draw: &[f64], ones: &[f64]) -> Option<Estimate> {
        let w = self.weights(row, draw, ones);
        estimate(
            row.iter()
                .zip(w)
                .filter(|(v, w)| !v.is_nan() && **w > 0.0)
                .map(|(v, w)| (*v, *w)),
        )
    }

    fn figure(&self, config: usize, metric: usize, draw: &[f64], ones: &[f64]) -> Option<Estimate> {
        self.estimate_of(&self.values[config][metric], draw, ones)
    }
}

/// The outcome of one decision over a group's configurations (indices into its
/// `configs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The configurations that meet the limits, by their mean cost (ties by copy time, then
    /// preserved bytes, then the sweep's order).
    pub ranked: Vec<usize>,
    /// The cost of each configuration per seed of the table (NaN where it did not run;
    /// empty where it missed the limits by more than its interval).
    pub costs: Vec<Vec<f64>>,
    /// The mean cost of each configuration that met the limits, or missed them within its
    /// figure's interval.
    pub score: Vec<Option<Estimate>>,
    /// The configurations the best cannot be told apart from, itself included, ranked.
    pub tied: Vec<usize>,
    /// The tie rule's choice among `tied`: the fewest extra device bytes per application
    /// byte (copy-on-write amplification), then the ranking (the lower mean cost).
    pub pick: Option<usize>,
    /// The configurations at a limit's edge that decide the pick: the pick itself when it
    /// meets a limit within the edge (other seeds could rule it out), and those that miss
    /// one within the edge and would cost less (other seeds could let them in to win).
    pub borderline: Vec<usize>,
    /// The draw's weights per seed, for [`Decision::difference`].
    weights: Vec<f64>,
}

/// Where a configuration stands against the limits under a draw. A limit's *edge* is the
/// figure's confidence interval, or `tie_within` of the limit if that is wider: a figure
/// that close to a limit could fall on its other side on other seeds.
#[derive(Clone, Copy, PartialEq)]
enum Limits {
    Meets,
    /// Meets them, but one within its edge.
    MeetsAtEdge,
    /// Misses, but every limit it misses within its edge.
    Near,
    Misses,
}

fn limits(t: &Table, i: usize, terms: &Terms, draw: &[f64], ones: &[f64]) -> Limits {
    if !t.group.configs[i].sound {
        return Limits::Misses;
    }
    let cost = terms.cost;
    let checks = [
        (
            terms
                .copy_within
                .zip(terms.fastest_copy)
                .map(|(f, x)| f * x),
            COPY,
        ),
        (cost.max_preserved_bytes.map(|b| b as f64), PRESERVED),
        (cost.max_snapshot_bytes.map(|b| b as f64), SNAPSHOT),
    ];
    let (mut missed, mut edge) = (false, false);
    for (limit, m) in checks {
        let Some(l) = limit else { continue };
        let Some(e) = t.figure(i, m, draw, ones) else {
            return Limits::Misses;
        };
        let margin = e.half_width().max(cost.tie_within * l.abs());
        match e.mean <= l {
            true => edge |= l - e.mean <= margin,
            false if e.mean - margin <= l => missed = true,
            false => return Limits::Misses,
        }
    }
    match (missed, edge) {
        (true, _) => Limits::Near,
        (false, true) => Limits::MeetsAtEdge,
        (false, false) => Limits::Meets,
    }
}

/// Decides a group under `terms`, its seeds weighted by `draw` (one weight per seed of the
/// table).
pub fn decide(t: &Table, terms: &Terms, draw: &[f64]) -> Decision {
    let cost = terms.cost;
    let n = t.group.configs.len();
    let ones = t.as_run();
    let standing: Vec<Limits> = (0..n).map(|i| limits(t, i, terms, draw, &ones)).collect();
    let eligible: Vec<usize> = (0..n)
        .filter(|i| matches!(standing[*i], Limits::Meets | Limits::MeetsAtEdge))
        .collect();
    let near: Vec<usize> = (0..n).filter(|i| standing[*i] == Limits::Near).collect();
    let cost_metrics = FIXED.len()..t.metrics.len();
    // Each weighted metric over its median among the eligible configurations.
    let norms: Vec<f64> = cost_metrics
        .clone()
        .map(|m| {
            let name = &t.metrics[m];
            let mut all: Vec<f64> = eligible
                .iter()
                .filter_map(|i| t.figure(*i, m, draw, &ones).map(|e| as_cost(name, e.mean)))
                .collect();
            all.sort_by(f64::total_cmp);
            all.get(all.len() / 2)
                .copied()
                .filter(|x| *x > 0.0)
                .unwrap_or(1.0)
        })
        .collect();
    let per_seed = |i: usize| -> Vec<f64> {
        (0..t.seeds.len())
            .map(|k| {
                let term = |(j, m): (usize, usize)| {
                    let name = &t.metrics[m];
                    let v = as_cost(name, t.values[i][m][k]);
                    match cost.weights.is_empty() {
                        true => v,
                        false => cost.weights[name] * v / norms[j],
                    }
                };
                cost_metrics.clone().enumerate().map(term).sum()
            })
            .collect()
    };
    let costs: Vec<Vec<f64>> = (0..n)
        .map(|i| match standing[i] {
            Limits::Misses => Vec::new(),
            _ => per_seed(i),
        })
        .collect();
    let score: Vec<Option<Estimate>> = costs
        .iter()
        .map(|c| match c.is_empty() {
            true => None,
            false => t.estimate_of(c, draw, &ones),
        })
        .collect();
    let mean = |i: usize, m: usize| {
        t.figure(i, m, draw, &ones)
            .map_or(f64::INFINITY, |e| e.mean)
    };
    let key = |i: usize| score[i].map_or(f64::INFINITY, |e| e.mean);
    let mut ranked: Vec<usize> = eligible
        .into_iter()
        .filter(|i| score[*i].is_some())
        .collect();
    ranked.sort_by(|a, b| {
        key(*a)
            .total_cmp(&key(*b))
            .then(mean(*a, COPY).total_cmp(&mean(*b, COPY)))
            .then(mean(*a, PRESERVED).total_cmp(&mean(*b, PRESERVED)))
            .then(a.cmp(b))
    });
    let tied: Vec<usize> = match ranked.first() {
        None => Vec::new(),
        Some(&best) => ranked
            .iter()
            .copied()
            .filter(|i| {
                *i == best
                    || match (score[best], score[*i]) {
                        (Some(b), Some(o)) => indistinguishable(
                            t,
                            &costs,
                            (best, b),
                            (*i, o),
                            cost.tie_within,
                            (draw, &ones),
                        ),
                        _ => false,
                    }
            })
            .collect(),
    };
    let pick = tied.iter().copied().min_by(|a, b| {
        mean(*a, EXTRA)
            .total_cmp(&mean(*b, EXTRA))
            .then(ranked_at(&ranked, *a).cmp(&ranked_at(&ranked, *b)))
    });
    let beats = |i: usize, p: usize| match (score[i], score[p]) {
        (Some(a), Some(b)) => a.mean < b.mean || a.lo <= b.hi,
        _ => false,
    };
    let borderline = match pick {
        Some(p) => {
            let edge = (standing[p] == Limits::MeetsAtEdge).then_some(p);
            edge.into_iter()
                .chain(near.into_iter().filter(|i| beats(*i, p)))
                .collect()
        }
        None => near,
    };
    Decision {
        ranked,
        costs,
        score,
        tied,
        pick,
        borderline,
        weights: draw.to_vec(),
    }
}

/// The paired differences `other - best` per seed both ran (NaN elsewhere).
fn paired(costs: &[Vec<f64>], best: usize, other: usize) -> Vec<f64> {
    costs[other]
        .iter()
        .zip(&costs[best])
        .map(|(o, b)| o - b)
        .collect()
}

/// Whether `other` cannot be told apart from `best` (their mean costs `o` and `b`): they
/// differ by at most `tie_within` of the best's, or the confidence interval of the
/// difference, paired over the seeds both ran, holds zero (unpaired, without common seeds:
/// their intervals meet).
fn indistinguishable(
    t: &Table,
    costs: &[Vec<f64>],
    (best, b): (usize, Estimate),
    (other, o): (usize, Estimate),
    tie_within: f64,
    (draw, ones): (&[f64], &[f64]),
) -> bool {
    if (o.mean - b.mean).abs() <= tie_within * b.mean.abs() {
        return true;
    }
    match t.estimate_of(&paired(costs, best, other), draw, ones) {
        Some(d) => d.holds(0.0),
        None => o.lo <= b.hi && b.lo <= o.hi,
    }
}

fn ranked_at(ranked: &[usize], i: usize) -> usize {
    ranked.iter().position(|x| *x == i).unwrap_or(usize::MAX)
}

impl Decision {
    /// The paired difference of two configurations' costs (`other` minus `best`) over the
    /// seeds both ran, under the decision's draw; `None` without common seeds.
    pub fn difference(&self, best: usize, other: usize) -> Option<Estimate> {
        let diffs = paired(&self.costs, best, other);
        estimate(
            diffs
                .iter()
                .zip(&self.weights)
                .filter(|(d, w)| !d.is_nan() && **w > 0.0)
                .map(|(d, w)| (*d, *w)),
        )
    }
}
