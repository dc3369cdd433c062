//! The recommendations' part of `summary.md`: the limit's verdict in words first, the
//! table of picks with how far to trust each, and per pick the why: its margin, its ties,
//! its stability over resamples of the seeds, what another copy-time limit would pick, and
//! the settings of the real systems the policy corresponds to.

use super::figures::{latency, latency_ci, num, relative, size};
use crate::knobs::real_knobs_with_workers;
use crate::recommend::stability::{RESAMPLES, STABLE_SHARE};
use crate::recommend::{Config, Pick, Recommendation, MIN_SEEDS_STABLE, OFFLINE};
use crate::results::Results;
use crate::sweep::Sweep;
use std::fmt::Write as _;

/// "policy, segment S, chunk C", and ", N workers" in a sweep of workers
/// ([`Sweep::by_workers`]).
pub fn describe(c: &Config, sweep: &Sweep) -> String {
    format!(
        "{}, segment {}, chunk {}{}",
        c.policy,
        size(c.segment),
        size(c.chunk),
        workers_words(c, sweep)
    )
}

/// ", N workers" (", 1 worker") in a sweep of workers, else nothing.
pub fn workers_words(c: &Config, sweep: &Sweep) -> String {
    match (sweep.by_workers(), c.workers) {
        (false, _) => String::new(),
        (true, 1) => ", 1 worker".into(),
        (true, n) => format!(", {n} workers"),
    }
}

/// The cost's figure of a pick, in its units: a latency with its interval, else the mean.
fn cost_figure(p: &Pick, results: &Results) -> String {
    let cost = &results.sweep.cost;
    let latency_metric = cost.weights.is_empty() && cost.minimize.ends_with("_us");
    match latency_metric {
        true => latency_ci(&p.estimate),
        false => format!(
            "{} ± {}",
            num(Some(p.estimate.mean)),
            num(Some(p.estimate.half_width()))
        ),
    }
}

/// A metric's mean and the half width of its interval: `0.827 ± 0.001`.
fn mean_ci(c: &Config, metric: &str) -> String {
    match c.spread(metric) {
        Some(s) if s.mean.half_width().is_finite() => format!(
            "{} ± {}",
            num(Some(s.mean.mean)),
            num(Some(s.mean.half_width()))
        ),
        Some(s) => num(Some(s.mean.mean)),
        None => num(None),
    }
}

/// How far to trust a pick, for the table: stable, or unstable and why; and a tie.
pub fn trust(r: &Recommendation) -> String {
    let words = trust_words(r);
    match r.is_stable() {
        true => words,
        false => words.replacen("unstable", "**unstable**", 1),
    }
}

/// [`trust`] as plain words (for the command line).
pub fn trust_words(r: &Recommendation) -> String {
    let share = format!("{:.0}%", 100.0 * r.stability.share);
    let few = |p: &Option<Pick>| {
        p.as_ref()
            .is_some_and(|p| p.config.seeds < MIN_SEEDS_STABLE)
    };
    let word = match (r.is_stable(), r.stability.stable()) {
        (true, _) => format!("stable ({share})"),
        (false, false) => format!("unstable ({share})"),
        (false, true) if !r.borderline.is_empty() => {
            format!("unstable ({share}, but at a limit's edge)")
        }
        (false, true) if few(&r.best) || few(&r.runner_up) => format!(
            "unstable ({share} on {} seeds; stable needs {MIN_SEEDS_STABLE})",
            r.seeds.0
        ),
        (false, true) => format!("unstable ({share})"),
    };
    match r.is_tie() {
        true => format!("{word}, tie of {}", r.tied.len()),
        false => word,
    }
}

/// The pick's mean copy time over the disk's fastest copy with no writes.
fn copy_ratio(results: &Results, r: &Recommendation, c: &Config) -> Option<f64> {
    let base = results.fastest_copy(r.disk, r.topology.as_deref())?;
    Some(c.mean("copy_seconds")? / base)
}

/// Groups whose pick is offline or none, said in words before the table: whether an
/// online configuration met the limits at all, and the nearest one.
pub fn limits_missed(results: &Results, recs: &[Recommendation], md: &mut String) {
    let limit = results.sweep.cost.copy_within;
    let mut said = false;
    for r in recs {
        let offline = r.best.as_ref().is_some_and(|b| b.config.policy == OFFLINE);
        if r.best.is_some() && !offline {
            continue;
        }
        said = true;
        let online = r.ranked.iter().find(|p| p.config.policy != OFFLINE);
        let text = match (online, &r.closest_online, offline) {
            (Some(p), _, _) => format!(
                "offline is the pick: no online configuration within the limits costs less. \
                 The best online one, {}, holds writes {} at p99 and copies in {}× the fastest \
                 copy with no writes",
                describe(&p.config, &results.sweep),
                latency(p.config.mean("hold_p99_us")),
                num(copy_ratio(results, r, &p.config))
            ),
            (None, Some(c), _) => {
                let over = match limit {
                    Some(l) if c.copy_ratio > l => format!(
                        ", {:.0}% over the {l}× limit",
                        100.0 * (c.copy_ratio / l - 1.0)
                    ),
                    _ => String::new(),
                };
                let what = match (offline, limit) {
                    (true, Some(l)) => format!(
                        "no online policy meets the {l}× copy-time limit, so the pick is offline \
                         (every write waits for the whole copy)"
                    ),
                    (true, None) => {
                        "no online policy meets the cost's limits, so the pick is offline".into()
                    }
                    (false, _) => format!(
                        "none of {} configurations meets the cost's limits",
                        r.configs
                    ),
                };
                format!(
                    "{what}. The closest online configuration, {}, copies in {:.2}× the fastest \
                     copy with no writes{over}, holding writes {} at p99",
                    describe(&c.config, &results.sweep),
                    c.copy_ratio,
                    latency(c.config.mean("hold_p99_us"))
                )
            }
            (None, None, _) => format!(
                "none of {} configurations meets the cost's limits",
                r.configs
            ),
        };
        let _ = writeln!(md, "- **{}**: {text}.", r.title());
    }
    if said {
        md.push('\n');
    }
}

/// The table of picks: one row per group.
pub fn table(results: &Results, recs: &[Recommendation], md: &mut String) {
    let by_topology = results.sweep.by_topology();
    let (head, rule) = head_and_rule(&results.sweep);
    match by_topology {
        true => {
            let _ = writeln!(
                md,
                "| workload | disk | topology {head}\n|---|---|---{rule}"
            );
        }
        false => {
            let _ = writeln!(md, "| workload | disk {head}\n|---|---{rule}");
        }
    }
    for r in recs {
        let disk = match &r.topology {
            Some(t) => format!("{} | {t}", r.disk),
            None => r.disk.to_string(),
        };
        let _ = writeln!(md, "| {} | {disk} | {} |", r.workload, cells(results, r));
    }
    md.push('\n');
    faster_than_alone(results, recs, md);
}

/// A pick whose copy beat the copy with no writes needs a word: the copies made for writes
/// ran beside the copier's.
pub fn faster_than_alone(results: &Results, recs: &[Recommendation], md: &mut String) {
    let faster = recs.iter().any(|r| {
        r.best
            .as_ref()
            .and_then(|b| copy_ratio(results, r, &b.config))
            .is_some_and(|x| x < 1.0)
    });
    if faster {
        md.push_str(
            "A copy / fastest copy below 1: the copies made for writes (out of turn, or to the \
             snapshot) ran beside the copier's own, on devices or disks the copier was not \
             using at that moment, so the volume was copied sooner than with no writes.\n\n",
        );
    }
}

/// The header of [`cells`]' columns (from the policy on) and its rule, each starting with
/// the `|` that ends the column before: a `workers` column after `chunk` in a sweep of
/// workers.
pub fn head_and_rule(sweep: &Sweep) -> (String, String) {
    let workers = match sweep.by_workers() {
        true => ("workers | ", "---:|"),
        false => ("", ""),
    };
    (
        format!(
            "| policy | segment | chunk | {}hold p99 | copy (s) | copy / fastest copy | trust | runner-up | runner-up costs |",
            workers.0
        ),
        format!("|---|---|---|{}---:|---:|---:|---|---|---|", workers.1),
    )
}

/// A pick's cells of a table row (from the policy on).
pub fn cells(results: &Results, r: &Recommendation) -> String {
    let by_workers = results.sweep.by_workers();
    let Some(best) = &r.best else {
        return format!(
            "none of {} configurations meets the cost's limits | | | | | | | | {}",
            r.configs,
            if by_workers { "| " } else { "" }
        );
    };
    let c = &best.config;
    let (runner, by) = match (&r.runner_up, &r.runner_up_by) {
        (Some(u), Some(d)) => (describe(&u.config, &results.sweep), relative(d, best.score)),
        (Some(u), None) => (
            describe(&u.config, &results.sweep),
            format!("{:+.1}%", 100.0 * (u.score / best.score - 1.0)),
        ),
        _ => ("none".into(), String::new()),
    };
    let workers = match by_workers {
        true => format!("**{}** | ", c.workers),
        false => String::new(),
    };
    format!(
        "**{}** | **{}** | **{}** | {workers}{} | {} | {} | {} | {} | {}",
        c.policy,
        size(c.segment),
        size(c.chunk),
        cost_figure(best, results),
        mean_ci(c, "copy_seconds"),
        num(copy_ratio(results, r, c)),
        trust(r),
        runner,
        by
    )
}

/// What the table's trust column and figures mean.
pub fn legend(results: &Results, md: &mut String) {
    let s = &results.sweep;
    let _ = writeln!(
        md,
        "Figures are means over the seeds a configuration ran, ± the half width of their 95% \
         confidence interval. **Trust**: the share of {RESAMPLES} resamples of the seeds (drawn \
         with replacement, the same draw for every configuration) in which the same decision \
         picks the same configuration; at least {:.0}% is *stable*. Seeds start at {} per \
         configuration; while a pick is unstable, the configurations a resample picked run {} \
         more seeds each round, up to {}. A *tie*: configurations the best cannot be told apart \
         from (their cost within {:.0}% of the best's, or the 95% interval of the difference, \
         paired over common seeds, holds zero); the tie rule then picks the fewest extra device \
         bytes per byte written, then the lower mean cost. **Runner-up costs**: how much more the \
         best other configuration costs, with the interval of the paired difference.\n",
        100.0 * STABLE_SHARE,
        s.seeds,
        s.seeds,
        s.seed_cap(),
        100.0 * s.cost.tie_within
    );
}

/// Per pick, the why: margin, tie, stability and what other limits would pick.
pub fn why(results: &Results, recs: &[Recommendation], md: &mut String) {
    md.push_str("### Why each pick\n\n");
    for r in recs {
        let Some(best) = &r.best else { continue };
        let _ = write!(
            md,
            "- **{}**: {}",
            r.title(),
            describe(&best.config, &results.sweep)
        );
        let (lo, hi) = r.seeds;
        let seeds = match lo == hi {
            true => format!("{lo} seeds each"),
            false => format!("{lo} to {hi} seeds per configuration"),
        };
        let _ = write!(
            md,
            ", of {} configurations within the limits ({seeds}); picked in {:.0}% of resamples",
            r.eligible,
            100.0 * r.stability.share
        );
        let others: Vec<String> = r
            .stability
            .wins
            .iter()
            .filter(|(c, _)| !c.same(&best.config))
            .take(2)
            .map(|(c, n)| {
                format!(
                    "{} in {:.0}%",
                    describe(c, &results.sweep),
                    100.0 * *n as f64 / RESAMPLES as f64
                )
            })
            .collect();
        if !others.is_empty() {
            let _ = write!(md, " (else {})", others.join(", "));
        }
        md.push('.');
        if r.is_tie() {
            let tied: Vec<String> = r
                .tied
                .iter()
                .filter(|p| !p.config.same(&best.config))
                .map(|p| describe(&p.config, &results.sweep))
                .collect();
            let _ = write!(
                md,
                " Tied with {}: the tie rule chose the fewest extra device bytes per byte written ({}).",
                tied.join("; "),
                num(best.config.mean("cow_amplification"))
            );
        }
        if !r.by_limit.is_empty() {
            let limits: Vec<String> = r
                .by_limit
                .iter()
                .map(|(l, c)| {
                    let what = match c {
                        Some(c) if c.same(&best.config) => "the same".to_string(),
                        Some(c) => describe(c, &results.sweep),
                        None => "none".into(),
                    };
                    format!("{l}×: {what}")
                })
                .collect();
            let _ = write!(md, " Copy-time limit {}.", limits.join("; "));
        }
        md.push('\n');
        real_systems(results, &best.config, md);
    }
    md.push('\n');
}

/// The pick as the settings of the real systems its policy corresponds to, each with its
/// caveat where the system cannot say it exactly.
fn real_systems(results: &Results, c: &Config, md: &mut String) {
    let s = &results.sweep;
    // A variant names its error policy after the policy: "out-of-turn (retry:1)".
    let policy = c.policy.split(" (").next().unwrap_or(&c.policy);
    for k in real_knobs_with_workers(policy, c.segment, c.chunk, s.block_size, s.speed, c.workers) {
        let caveat = k.caveat.map_or(String::new(), |w| {
            let stop = if w.ends_with('.') { "" } else { "." };
            format!(" *Caveat*: {w}{stop}")
        });
        let _ = writeln!(md, "  - *{}*: {}.{caveat}", k.system, k.settings);
    }
}
