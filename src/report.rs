//! `cowlab report` (the main job) and `cowlab merge`: a granularity sweep of timed
//! simulations, written as a report a storage designer reads.

use crate::CliError;
use cowlab_model::names::joined;
use cowlab_model::policy;
use cowlab_reports::chart::format_bytes;
use cowlab_reports::recommend::Recommendation;
use cowlab_reports::render::{figures, picks};
use cowlab_reports::run::{self, Options, Shard};
use cowlab_reports::shard::{self, ShardFile};
use cowlab_reports::{sweep, Report, Sweep};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// A sweep file (TOML); without it, the built-in sweep.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the report goes.
    #[arg(long, default_value = "reports/out")]
    pub out: PathBuf,
    /// The first seed (overrides the file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only the I-th of N disjoint slices of the sweep and write a shard folder (join
    /// them with `cowlab merge`).
    #[arg(long)]
    pub shard: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the built-in sweep as a sweep file and exit.
    #[arg(long)]
    pub print_default_config: bool,
}

impl Args {
    /// The main job's arguments: the built-in sweep into `reports/out`.
    pub fn main_job() -> Args {
        Args {
            out: PathBuf::from("reports/out"),
            ..Args::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Where the merged report goes.
    #[arg(long)]
    pub out: PathBuf,
    /// Shard folders written by `cowlab report --shard I/N`.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// The sweep the arguments name.
fn load(args: &Args) -> Result<Sweep, CliError> {
    let mut s = match &args.config {
        None => Sweep::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("--config {}: {e}", path.display())))?;
            let names: Vec<String> = policy::names().iter().map(|n| n.to_string()).collect();
            sweep::parse(&text, &path.display().to_string(), &names)
                .map_err(|e| CliError::usage(e.to_string()))?
        }
    };
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    Ok(s)
}

/// Progress on stderr: a bar on a terminal, otherwise a plain line every five seconds.
pub(crate) struct Feedback {
    bar: Option<indicatif::ProgressBar>,
    last: Mutex<Instant>,
}

impl Feedback {
    pub(crate) fn new(total: usize) -> Feedback {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} runs, {elapsed} elapsed, about {eta} left",
                )
                .expect("a valid template"),
            );
            bar
        });
        Feedback {
            bar,
            last: Mutex::new(Instant::now()),
        }
    }

    pub(crate) fn tell(&self, done: usize, total: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None => {
                let mut last = self.last.lock().expect("not poisoned");
                if last.elapsed() >= Duration::from_secs(5) || done == total {
                    *last = Instant::now();
                    eprintln!("{done}/{total} runs done");
                }
            }
        }
    }

    /// Prints without tearing the bar.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let sweep = load(args)?;
    if args.print_default_config {
        print!("{}", Sweep::default().to_toml());
        return Ok(0);
    }
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(CliError::usage)?;
    // Before any run: a folder the report cannot be written to is found now, not after.
    cowlab_reports::out::check(&args.out).map_err(|e| CliError::usage(e.to_string()))?;
    let options = Options {
        threads: args.threads,
        shard,
        policies: Vec::new(),
    };
    // The built-in report has the topology panel (its own small sweep, sharded like the
    // main one), and a sweep file that asks for it (`topology_panel = true`).
    let panel = sweep.add_topology_panel.then(|| sweep.topology_panel());
    let jobs = sweep.jobs().len() + panel.as_ref().map_or(0, |p| p.jobs().len());
    let mine =
        run::jobs_of(&sweep, &options) + panel.as_ref().map_or(0, |p| run::jobs_of(p, &options));
    eprintln!(
        "sweep: {} runs and copies{}{}, on {} thread(s)",
        mine,
        match &panel {
            Some(p) => format!(
                " ({} of them the topology panel's)",
                run::jobs_of(p, &options)
            ),
            None => String::new(),
        },
        shard.map_or(String::new(), |s| format!(
            " (shard {}/{} of {jobs})",
            s.index, s.count
        )),
        match args.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    );
    let feedback = Feedback::new(mine);
    let sweeps: Vec<&Sweep> = std::iter::once(&sweep).chain(panel.as_ref()).collect();
    let outcome = run::run(&sweeps, &options, &|done, total| feedback.tell(done, total));
    feedback.finish();
    let (results, timing) = outcome.map_err(|e| CliError::usage(e.to_string()))?;
    if let Some(s) = shard {
        let file =
            ShardFile::new(s, results, timing).map_err(|e| CliError::usage(e.to_string()))?;
        let path = cowlab_reports::out::clear(&args.out)
            .and_then(|()| shard::write(&args.out, &file))
            .map_err(|e| CliError::usage(e.to_string()))?;
        println!(
            "shard {}/{} written to {} ({:.1} s); join the shards with: cowlab merge --out DIR SHARD_DIR...",
            s.index,
            s.count,
            path.display(),
            file.timing.seconds
        );
        return Ok(0);
    }
    let report = cowlab_reports::write(results, timing, &args.out)
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(announce(&report, &args.out))
}

pub fn merge(args: &MergeArgs) -> Result<u8, CliError> {
    if args.shards.iter().any(|s| same_folder(s, &args.out)) {
        return Err(CliError::usage(format!(
            "--out {}: is one of the shard folders; merge into another",
            args.out.display()
        )));
    }
    cowlab_reports::out::check(&args.out).map_err(|e| CliError::usage(e.to_string()))?;
    let (mut results, timings) =
        shard::merge(&args.shards).map_err(|e| CliError::usage(e.to_string()))?;
    // The seeds unstable picks need are run here, on the whole sweep's results, as an
    // unsharded run would.
    let started = std::time::Instant::now();
    let mut grown = 0;
    for r in &mut results {
        let feedback = Feedback::new(0);
        grown += run::grow(r, &Options::default(), &|done, total| {
            feedback.tell(done, total)
        })
        .map_err(|e| CliError::usage(e.to_string()))?;
        feedback.finish();
    }
    let timing = run::Timing {
        seconds: timings.iter().map(|t| t.seconds).fold(0.0, f64::max)
            + started.elapsed().as_secs_f64(),
        threads: timings.iter().map(|t| t.threads).sum(),
        jobs: timings.iter().map(|t| t.jobs).sum::<usize>() + grown,
    };
    let report = cowlab_reports::write(results, timing, &args.out)
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(announce(&report, &args.out))
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Says where the report is and prints the recommendations; exit 1 if a run broke an
/// invariant.
fn announce(report: &Report, out: &Path) -> u8 {
    let broken = report.results.runs.iter().filter(|r| !r.sound()).count();
    println!(
        "report: {} and {} ({} runs in {:.1} s; charts in {})",
        out.join("report.html").display(),
        out.join("summary.md").display(),
        report.results.runs.len(),
        report.timing.seconds,
        out.join("charts").display()
    );
    if broken > 0 {
        println!("INVARIANT VIOLATED in {broken} runs: see the top of summary.md");
    }
    let workers = report.results.sweep.by_workers();
    println!("\n{}", table(&report.recommendations, workers));
    if let (Some(p), Some(recs)) = (&report.panel, &report.panel_recommendations) {
        println!(
            "granularity by topology ({} on {}):\n{}",
            joined(&p.sweep.workloads),
            joined(&p.sweep.disks),
            table(recs, p.sweep.by_workers())
        );
    }
    u8::from(broken > 0)
}

/// The recommendations as a plain-text table (the disk column names the topology too, in a
/// sweep of topologies; a `workers` column follows the chunk in a sweep of workers).
fn table(recs: &[Recommendation], workers: bool) -> String {
    let count = |n: String| match workers {
        true => format!(" {n:>7}"),
        false => String::new(),
    };
    let wide = recs.iter().any(|r| r.topology.is_some());
    let disk = |r: &Recommendation| match &r.topology {
        Some(t) => format!("{:<5} {t:<12}", r.disk),
        None => r.disk.to_string(),
    };
    let mut out = format!(
        "{:<11} {:<5} {:<18} {:>8} {:>8}{} {:>13} {:>10}  {}\n",
        "workload",
        if wide { "disk  topology    " } else { "disk" },
        "policy",
        "segment",
        "chunk",
        count("workers".into()),
        "hold p99",
        "copy (s)",
        "trust"
    );
    for r in recs {
        match &r.best {
            Some(b) => {
                let c = &b.config;
                out.push_str(&format!(
                    "{:<11} {:<5} {:<18} {:>8} {:>8}{} {:>13} {:>10.3}  {}\n",
                    r.workload,
                    disk(r),
                    c.policy,
                    format_bytes(c.segment),
                    format_bytes(c.chunk),
                    count(c.workers.to_string()),
                    figures::latency(c.mean("hold_p99_us")),
                    c.mean("copy_seconds").unwrap_or(f64::NAN),
                    picks::trust_words(r)
                ));
            }
            None => out.push_str(&format!(
                "{:<11} {:<5} no configuration meets the cost's limits\n",
                r.workload,
                disk(r)
            )),
        }
    }
    out
}
