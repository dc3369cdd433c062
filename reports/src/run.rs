//! Running a sweep: its jobs spread over threads (rayon), results in the sweep's order
//! whatever the thread count, or one slice of them for a shard.

use crate::recommend;
use crate::results::{NoWrites, Record, Results};
use crate::sweep::{Job, RunKey, Sweep};
use crate::ReportError;
use cowlab_model::Policy;
use cowlab_sim::simulate_with;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The `i`-th of `n` disjoint slices of a sweep's jobs (1-based): every n-th job from the
/// i-th, so that each slice gets its share of the cheap and the dear ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {text}: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        match (1..=count).contains(&index) {
            true => Ok(Shard { index, count }),
            false => Err(bad()),
        }
    }

    pub fn holds(&self, job: usize) -> bool {
        job % self.count == self.index - 1
    }
}

/// How to run a sweep.
#[derive(Clone, Default)]
pub struct Options {
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    pub shard: Option<Shard>,
    /// Policies of the caller's own, beside the built-in ones.
    pub policies: Vec<Arc<dyn Policy>>,
}

/// Wall-clock figures of a run (kept out of the report, which must not vary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub seconds: f64,
    pub threads: usize,
    pub jobs: usize,
}

/// What one job produced.
enum Done {
    Run(Box<Record>),
    NoWrites(NoWrites),
}

/// Runs a report's sweeps one after the other (the same shard's slice of each, if one is
/// set): the results of each, in the order given, and the timing of all (their seconds
/// and jobs summed). `progress` is told (jobs done, jobs in all) over every sweep as jobs
/// finish, from any thread.
pub fn run(
    sweeps: &[&Sweep],
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<Results>, Timing), ReportError> {
    let mut total: usize = sweeps.iter().map(|s| jobs_of(s, options)).sum();
    let mut before = 0;
    let mut all = Vec::new();
    let mut timing: Option<Timing> = None;
    for sweep in sweeps {
        // The sweep's own jobs, and the seeds it grows (they add to the total).
        let base = jobs_of(sweep, options);
        let grand = total;
        let (results, t) = run_one(sweep, options, &|done, all| {
            progress(before + done, grand + all - base)
        })?;
        before += t.jobs;
        total += t.jobs - base;
        all.push(results);
        timing = Some(match timing {
            None => t,
            Some(sum) => Timing {
                seconds: sum.seconds + t.seconds,
                threads: sum.threads,
                jobs: sum.jobs + t.jobs,
            },
        });
    }
    let timing = timing.ok_or_else(|| ReportError::Other("a report needs a sweep".into()))?;
    Ok((all, timing))
}

/// Runs one sweep's jobs (a shard's slice of them, if one is set), then, unsharded, the
/// seeds its unstable picks need ([`grow`]).
fn run_one(
    sweep: &Sweep,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Results, Timing), ReportError> {
    let started = Instant::now();
    let jobs: Vec<(usize, Job)> = sweep
        .jobs()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| options.shard.is_none_or(|s| s.holds(*i)))
        .collect();
    let pool = pool(options)?;
    let mut results = Results {
        sweep: sweep.clone(),
        runs: Vec::new(),
        no_writes: Vec::new(),
    };
    let total = jobs.len();
    for o in run_jobs(sweep, options, &pool, &jobs, &|done| progress(done, total)) {
        match o? {
            Done::Run(r) => results.runs.push(*r),
            Done::NoWrites(n) => results.no_writes.push(n),
        }
    }
    let grown = match options.shard {
        Some(_) => 0,
        None => grow(&mut results, options, &|done, more| {
            progress(total + done, total + more)
        })?,
    };
    let timing = Timing {
        seconds: started.elapsed().as_secs_f64(),
        threads: pool.current_num_threads(),
        jobs: total + grown,
    };
    Ok((results, timing))
}

fn pool(options: &Options) -> Result<rayon::ThreadPool, ReportError> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ReportError::Other(format!("cannot start {threads} threads: {e}")))
}

/// Runs jobs over the pool, their outcomes in the order given; `progress` is told how
/// many are done.
fn run_jobs(
    sweep: &Sweep,
    options: &Options,
    pool: &rayon::ThreadPool,
    jobs: &[(usize, Job)],
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Result<Done, ReportError>> {
    let done = AtomicUsize::new(0);
    pool.install(|| {
        jobs.par_iter()
            .map(|(i, job)| {
                let out = one(sweep, options, *i, job);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                out
            })
            .collect()
    })
}

/// Runs more seeds where a group's pick is unstable over resamples of its seeds: each
/// round gives every contender (`recommend::contenders`) `seeds` more seeds, the same ones
/// for all, up to the sweep's `max_seeds`, until every pick is stable or no contender can
/// grow. Their jobs are numbered after the sweep's own, in the order they are made, so the
/// same results grow the same way whatever the thread count (and `cowlab merge` grows a
/// sharded sweep's results as an unsharded run does). `progress` is told (runs done, runs
/// made) over the rounds. Returns how many runs it added.
pub fn grow(
    results: &mut Results,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<usize, ReportError> {
    let sweep = results.sweep.clone();
    let cap = u64::from(sweep.seed_cap());
    let step = u64::from(sweep.seeds);
    let pool = pool(options)?;
    let mut next = sweep.jobs().len();
    let (mut made, mut done) = (0, 0);
    loop {
        let mut jobs: Vec<(usize, Job)> = Vec::new();
        let decided = recommend::Decided::new(results);
        for (group, contenders) in decided.groups.iter().zip(recommend::contenders(&decided)) {
            for c in &contenders {
                let Some(first) = results.runs.iter().find(|r| {
                    r.workload == group.workload
                        && r.disk == group.disk
                        && r.topology == group.topology
                        && r.segment_size_bytes == c.segment
                        && r.cow_size_bytes == c.chunk
                        && r.workers == c.workers
                        && sweep.variant_of(&r.policy, r.on_error) == c.policy
                }) else {
                    continue;
                };
                let have = c.seeds as u64;
                for k in have..cap.min(have + step) {
                    let key = RunKey {
                        policy: first.policy.clone(),
                        workload: first.workload,
                        disk: first.disk,
                        segment: c.segment,
                        chunk: c.chunk,
                        seed: sweep.nth_seed(k),
                        on_error: first.on_error,
                        topology: first.topology.clone(),
                        workers: c.workers,
                    };
                    jobs.push((next, Job::Run(key)));
                    next += 1;
                }
            }
        }
        if jobs.is_empty() {
            return Ok(made);
        }
        made += jobs.len();
        let outcomes = run_jobs(&sweep, options, &pool, &jobs, &|n| progress(done + n, made));
        done = made;
        for o in outcomes {
            if let Done::Run(r) = o? {
                results.runs.push(*r);
            }
        }
    }
}

/// How many of a sweep's jobs a run with these options makes (a shard's share).
pub fn jobs_of(sweep: &Sweep, options: &Options) -> usize {
    let n = sweep.jobs().len();
    options
        .shard
        .map_or(n, |s| (0..n).filter(|j| s.holds(*j)).count())
}

fn one(sweep: &Sweep, options: &Options, i: usize, job: &Job) -> Result<Done, ReportError> {
    let (config, what) = match job {
        Job::Run(key) => (sweep.config(key), format!("{key:?}")),
        Job::NoWrites {
            disk,
            topology,
            segment,
            workers,
        } => (
            sweep.no_writes_config(*disk, topology.as_deref(), *segment, *workers),
            format!(
                "the copy with no writes on {disk}{}, segment {segment} B, {workers} workers",
                topology
                    .as_ref()
                    .map_or(String::new(), |t| format!(" in topology {t}"))
            ),
        ),
    };
    let simulate = |config: &cowlab_sim::SimConfig| {
        simulate_with(config, &options.policies, &mut |_| {})
            .map_err(|e| ReportError::Other(format!("job {i} ({what}): {e}")))
    };
    let outcome = simulate(&config)?;
    Ok(match job {
        Job::Run(key) => {
            let mut record = Record::new(i, sweep, key, outcome.metrics);
            if config.volatile_caches {
                // The same run without volatile caches: what the commits cost in latency.
                let mut twin = config.clone();
                twin.power_loss_at.clear();
                if !config.power_loss_at.is_empty() {
                    record.hold_p99_without_loss_us = Some(simulate(&twin)?.metrics.hold_p99_us);
                }
                twin.volatile_caches = false;
                record.hold_p99_without_caches_us = Some(simulate(&twin)?.metrics.hold_p99_us);
            }
            Done::Run(Box::new(record))
        }
        Job::NoWrites {
            disk,
            topology,
            segment,
            workers,
        } => Done::NoWrites(NoWrites {
            job: i,
            disk: *disk,
            topology: topology.clone(),
            segment_size_bytes: *segment,
            workers: *workers,
            copy_seconds: outcome.metrics.copy_seconds,
        }),
    })
}
