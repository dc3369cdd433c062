//! Running a sweep: its jobs spread over threads (rayon), results in the sweep's order
//! whatever the thread count, or one slice of them for a shard.

use crate::results::{NoWrites, Record, Results};
use crate::sweep::{Job, Sweep};
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
    let total = sweeps.iter().map(|s| jobs_of(s, options)).sum();
    let mut before = 0;
    let mut all = Vec::new();
    let mut timing: Option<Timing> = None;
    for sweep in sweeps {
        let (results, t) = run_one(sweep, options, &|done, _| progress(before + done, total))?;
        before += t.jobs;
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

/// Runs one sweep's jobs (a shard's slice of them, if one is set).
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
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ReportError::Other(format!("cannot start {threads} threads: {e}")))?;
    let done = AtomicUsize::new(0);
    let total = jobs.len();
    let outcomes: Vec<Result<Done, ReportError>> = pool.install(|| {
        jobs.par_iter()
            .map(|(i, job)| {
                let out = one(sweep, options, *i, job);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                out
            })
            .collect()
    });
    let mut results = Results {
        sweep: sweep.clone(),
        runs: Vec::new(),
        no_writes: Vec::new(),
    };
    for o in outcomes {
        match o? {
            Done::Run(r) => results.runs.push(*r),
            Done::NoWrites(n) => results.no_writes.push(n),
        }
    }
    let timing = Timing {
        seconds: started.elapsed().as_secs_f64(),
        threads,
        jobs: total,
    };
    Ok((results, timing))
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
        } => (
            sweep.no_writes_config(*disk, topology.as_deref(), *segment),
            format!(
                "the copy with no writes on {disk}{}, segment {segment} B",
                topology
                    .as_ref()
                    .map_or(String::new(), |t| format!(" in topology {t}"))
            ),
        ),
    };
    let outcome = simulate_with(&config, &options.policies, &mut |_| {})
        .map_err(|e| ReportError::Other(format!("job {i} ({what}): {e}")))?;
    Ok(match job {
        Job::Run(key) => Done::Run(Box::new(Record::new(i, sweep, key, outcome.metrics))),
        Job::NoWrites {
            disk,
            topology,
            segment,
        } => Done::NoWrites(NoWrites {
            job: i,
            disk: *disk,
            topology: topology.clone(),
            segment_size_bytes: *segment,
            copy_seconds: outcome.metrics.copy_seconds,
        }),
    })
}
