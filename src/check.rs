//! `cowlab check`: every interleaving of copier, preserver, writers and readers (BFS by
//! default, DFS, or stateright's random simulation), with progress, a summary line and the
//! shortest counterexample in domain words.

pub mod merge;
pub mod shard;

use crate::{flag_value, CliError};
use cowlab_model::exhaustive::check::{self, Counterexample, Options, Progress, Strategy};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::spec::Spec;
use cowlab_sim::faults::parse_error_policy;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// The configuration flags `check` and `explore` share. A shard's verdict keeps them (by
/// their flags' names) so that a merge can refuse shards of another configuration and
/// rebuild the model to replay a counterexample.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ModelArgs {
    /// Copy policy (snapshot-overlay, snapshot-redirect, out-of-turn, out-of-turn-cache,
    /// next-range, offline).
    #[arg(long, default_value = "snapshot-overlay")]
    pub policy: String,
    /// Segments in the volume.
    #[arg(long, default_value_t = 3)]
    pub segments: u32,
    /// Blocks per segment (the copier's unit).
    #[arg(long, default_value_t = 2)]
    pub segment_blocks: u32,
    /// Blocks per copy-on-write chunk; must divide --segment-blocks.
    #[arg(long, default_value_t = 1)]
    pub cow_blocks: u32,
    /// Writers; they issue the same writes, overlapping each other.
    #[arg(long, default_value_t = 2)]
    pub writers: u32,
    /// Writes per writer; write k starts in the middle of segment k and spans two segments.
    #[arg(long, default_value_t = 2)]
    pub writes: u32,
    /// Readers of the volume (one read each, over the blocks of write 0).
    #[arg(long, default_value_t = 1)]
    pub readers: u32,
    /// Readers of the point-in-time image (one read each, over the blocks of write 0).
    #[arg(long, default_value_t = 1)]
    pub image_readers: u32,
    /// Switch on a mutant of the catalogue (see `cowlab mutants`).
    #[arg(long)]
    pub mutant: Option<String>,
    /// The volume in blocks, when its last segment is short (default: whole segments).
    #[arg(long)]
    pub blocks: Option<u64>,
    /// Copy order: sequential, reverse, random (seed 0), written-first.
    #[arg(long, default_value = "sequential")]
    pub order: String,
    /// Every request chooses its block range when it arrives, so one check covers every
    /// workload of its size (writes, volume reads and image reads alike).
    #[arg(long)]
    pub any_writes: bool,
    /// With --any-writes: the longest range a write may choose, in blocks (default: any).
    #[arg(long, requires = "any_writes")]
    pub write_blocks: Option<u64>,
    /// With --any-writes: the longest range a read may choose, in blocks (default 1, which
    /// finds every violation a longer read would).
    #[arg(long, requires = "any_writes")]
    pub read_blocks: Option<u64>,
    /// Volumes copied by the one copier, each of --segments segments; writer i writes volume
    /// i mod N (try --order round-robin, smallest-first or most-written-first).
    #[arg(long, default_value_t = 1)]
    pub volumes: u32,
    /// Faults each path may inject: a step whose I/O fails (on any device) or a crash and
    /// restart of the copier, wherever one can strike.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=8))]
    pub faults: u8,
    /// What the copy does about a failed I/O: break-guest-write, break-snapshot, retry:N
    /// (then break-guest-write) or retry:N:break-snapshot.
    #[arg(long, default_value = "break-guest-write")]
    pub on_error: String,
    /// Copy workers: tasks that take segments from one claim structure, as QEMU's
    /// block-copy runs several (interchangeable: --symmetry explores one order of them).
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// Tasks each path may make a worker hand back before copying them (as QEMU's
    /// block-copy ends a task its rate limit cannot pay for), wherever one can be.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=8))]
    pub hand_backs: u8,
    /// Power losses each path may inject, at every step, with every subset of the cached
    /// writes and records surviving (devices get volatile write caches; recovery then runs
    /// from the durable records).
    #[arg(long = "power-loss", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=4))]
    #[serde(rename = "power-loss")]
    pub power_losses: u8,
    /// Devices have volatile write caches: writes are durable only once flushed or FUA, and
    /// the copy commits its metadata by its policy's protocol (implied by --power-loss).
    #[arg(long)]
    pub volatile_caches: bool,
    /// Every write is FUA (durable when acknowledged).
    #[arg(long)]
    pub fua_writes: bool,
    /// Each writer flushes the volume after its writes.
    #[arg(long)]
    pub guest_flush: bool,
    /// Explore one representative of each class of states that differ only by a renaming
    /// of the writers.
    #[arg(long)]
    pub symmetry: bool,
}

impl ModelArgs {
    /// The configuration the flags describe; a name no type knows is refused by its flag.
    pub fn config(&self) -> Result<Config, CliError> {
        Ok(Config {
            policy: flag_value("--policy", &self.policy)?,
            segments: self.segments,
            segment_blocks: self.segment_blocks,
            cow_blocks: self.cow_blocks,
            writers: self.writers,
            writes: self.writes,
            readers: self.readers,
            image_readers: self.image_readers,
            mutant: self
                .mutant
                .as_deref()
                .map(|m| flag_value("--mutant", m))
                .transpose()?,
            blocks: self.blocks,
            order: flag_value("--order", &self.order)?,
            any_writes: self.any_writes,
            write_blocks: self.write_blocks,
            read_blocks: self.read_blocks,
            faults: self.faults,
            on_error: parse_error_policy(&self.on_error)
                .map_err(|e| CliError::refused("--on-error", &self.on_error, e))?,
            volumes: self.volumes,
            workers: self.workers,
            hand_backs: self.hand_backs,
            power_losses: self.power_losses,
            volatile: self.volatile_caches,
            fua_writes: self.fua_writes,
            guest_flush: self.guest_flush,
        })
    }

    /// The same flags with each name in its one spelling (`retry:1`, not
    /// `retry:1:break-guest-write`), so that equal configurations compare equal.
    pub fn canonical(&self) -> Result<ModelArgs, CliError> {
        let c = self.config()?;
        Ok(ModelArgs {
            policy: c.policy.to_string(),
            mutant: c.mutant.map(|m| m.name().to_string()),
            order: c.order.to_string(),
            on_error: c.on_error.to_string(),
            ..self.clone()
        })
    }

    /// The model, or one line of bad input (exit code 2).
    pub fn model(&self) -> Result<CowModel, CliError> {
        let spec = self
            .config()?
            .spec()
            .map_err(|e| CliError::usage(e.to_string()))?;
        Ok(CowModel::new(spec, self.symmetry)
            .with_faults(self.faults)
            .with_hand_backs(self.hand_backs)
            .with_power_losses(self.power_losses))
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Depth-first search (uses less memory; the counterexample may not be the shortest).
    #[arg(long, conflicts_with = "simulate")]
    pub dfs: bool,
    /// Interleave the readers' reads with every other step too, instead of judging each
    /// read where it stands (the full exploration; see docs/exhaustive.md, "Reduction").
    #[arg(long)]
    pub no_reduction: bool,
    /// Run shard I of N (0-based) of one exhaustive check, for N machines, and write its
    /// verdict to --shard-out; join the N verdicts with `cowlab check-merge`.
    #[arg(long, value_name = "I/N", allow_hyphen_values = true,
          conflicts_with_all = ["simulate", "max_depth"])]
    pub shard: Option<String>,
    /// With --shard: the depth of the frontier dealt to the shards [default: the first
    /// breadth-first level with at least 16 states per shard].
    #[arg(long, value_name = "D", requires = "shard")]
    pub shard_depth: Option<u32>,
    /// With --shard: where to write the shard's verdict (JSON; its fingerprints go beside
    /// it, in a file ending .fingerprints) [default: cowlab-shard-I-of-N.json].
    #[arg(long, value_name = "PATH", requires = "shard")]
    pub shard_out: Option<PathBuf>,
    /// Checker threads (with more than one, BFS re-checks that its trace is the shortest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Explore paths of at most this many steps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_depth: Option<u32>,
    /// Random runs (stateright's simulation with a ChaCha8 chooser) instead of every
    /// interleaving, for configurations too large to exhaust.
    #[arg(long)]
    pub simulate: bool,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 0, requires = "simulate")]
    pub seed: u64,
    /// Number of simulation runs.
    #[arg(long, default_value_t = 1000, requires = "simulate",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Stop exploring after this many seconds (the verdict then says it is not a proof).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Stop exploring once the check's memory in use passes this, e.g. 8GiB (the verdict then
    /// says it is not a proof, and what to try) [default: three quarters of the machine's].
    #[arg(long)]
    pub max_memory: Option<String>,
    /// No progress lines while it runs.
    #[arg(long)]
    pub quiet: bool,
    /// Milliseconds between progress lines.
    #[arg(long, default_value_t = 1000, hide = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_ms: u64,
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    if let Some(text) = &args.shard {
        return shard::run(args, text);
    }
    let model = args.model.model()?.with_reduction(reduced(args));
    let spec = model.spec();
    let options = options(args)?;
    print_header(&model, &options, "");
    let mut report = reporter(args, &options);
    let outcome = check::run(&model, &options, &mut report);
    if let Some(c) = &outcome.counterexample {
        let how = match options.strategy {
            Strategy::Bfs if outcome.shortest_verified => SHORTEST,
            Strategy::Bfs => "breadth-first",
            Strategy::Dfs => "depth-first: perhaps not the shortest",
            Strategy::Simulate { .. } => "random run: perhaps not the shortest",
        };
        print_counterexample(spec, c, how);
    }
    if !outcome.reached.is_empty() {
        println!("reached: {}", outcome.reached.join("; "));
    }
    println!("{}", outcome.summary());
    if let Some(note) = inert_mutant(args, &options, &outcome) {
        println!("{note}");
    }
    Ok(if outcome.holds() { 0 } else { 1 })
}

/// How a breadth-first check that verified its counterexample's length says so.
pub const SHORTEST: &str = "shortest: no counterexample has fewer steps";

/// The search the flags ask for.
fn options(args: &Args) -> Result<Options, CliError> {
    let strategy = if args.simulate {
        Strategy::Simulate {
            seed: args.seed,
            runs: args.runs,
        }
    } else if args.dfs {
        Strategy::Dfs
    } else {
        Strategy::Bfs
    };
    Ok(Options {
        strategy,
        threads: args.threads as usize,
        max_depth: args.max_depth.map(|d| d as usize),
        shortest: true,
        progress_every: std::time::Duration::from_millis(args.progress_ms),
        timeout: args.timeout.map(std::time::Duration::from_secs),
        max_memory: max_memory(args.max_memory.as_deref())?,
    })
}

/// What is checked, how, and on what configuration (`what` follows the search's words).
fn print_header(model: &CowModel, options: &Options, what: &str) {
    println!("{}{what}", search_words(model, options));
    print!("{}", model.spec());
    let _ = std::io::stdout().flush();
}

/// `exhaustive check, breadth-first, 1 thread(s), ...`: the first line of a check.
fn search_words(model: &CowModel, options: &Options) -> String {
    let what = match options.strategy {
        Strategy::Bfs => "exhaustive check, breadth-first".to_string(),
        Strategy::Dfs => "exhaustive check, depth-first".to_string(),
        Strategy::Simulate { seed, runs } => format!("simulation: {runs} runs from seed {seed}"),
    };
    format!(
        "{what}, {} thread(s){}{}{}",
        options.threads,
        if model.symmetry() {
            ", symmetry over identical writers"
        } else {
            ""
        },
        if model.reduced() {
            ", reads judged where they stand"
        } else {
            ""
        },
        match options.max_depth {
            Some(d) => format!(", at most {d} steps"),
            None => String::new(),
        }
    )
}

/// Progress lines on stderr, unless `--quiet`.
fn reporter(args: &Args, options: &Options) -> impl FnMut(&Progress) {
    let quiet = args.quiet;
    let limit = options.max_memory;
    let timeout = options.timeout;
    move |p: &Progress| {
        if !quiet {
            eprintln!(
                "  states {}, unique {}, depth {}, {:.0} states/s, {:.0} s, memory {}{}{}",
                p.states,
                p.unique,
                p.depth,
                p.rate(),
                p.seconds,
                check::show_bytes(p.memory),
                limit.map_or(String::new(), |m| format!(" of {}", check::show_bytes(m))),
                remaining(p, timeout)
            );
        }
    }
}

/// A counterexample's numbered steps in domain words, the property and what broke it.
fn print_counterexample(spec: &Spec, c: &Counterexample, how: &str) {
    let n = c.steps.len();
    let steps = if n == 1 { "step" } else { "steps" };
    println!("\ncounterexample ({n} {steps}; {how}):");
    print!("{}", c.render(spec));
    println!();
}

/// What remains, where it can be told: a simulation's runs (and the time they take at the
/// pace so far), or the time to the limit. An exhaustive check cannot know how many states
/// are left to find.
fn remaining(p: &Progress, timeout: Option<std::time::Duration>) -> String {
    let runs = p.runs.map(|(done, total)| match p.seconds_left() {
        Some(left) => format!(", runs {done} of {total}, about {left:.0} s left"),
        None => format!(", runs {done} of {total}"),
    });
    let limit = timeout.map(|t| {
        format!(
            ", stops at the time limit in {:.0} s",
            (t.as_secs_f64() - p.seconds).max(0.0)
        )
    });
    runs.or(limit).unwrap_or_default()
}

/// Whether the check judges reads where they stand. A simulation's random runs are of the
/// full model: the reduction defers reads to the end of a run, which a random run would
/// then rarely interleave.
pub(crate) fn reduced(args: &Args) -> bool {
    !args.no_reduction && !args.simulate
}

/// The share of the machine's memory a check may use unless `--max-memory` says otherwise:
/// the rest is left to the system, so that the check stops with a verdict instead of being
/// killed.
pub const MEMORY_SHARE: f64 = 0.75;

/// The memory limit: `--max-memory`'s size, else [`MEMORY_SHARE`] of the machine's.
fn max_memory(flag: Option<&str>) -> Result<Option<u64>, CliError> {
    match flag {
        Some(text) => {
            let bytes = cowlab_sim::size::parse_size(text)
                .map_err(|e| CliError::refused("--max-memory", text, e))?;
            match bytes {
                0 => Err(CliError::refused(
                    "--max-memory",
                    text,
                    "must be more than 0",
                )),
                b => Ok(Some(b)),
            }
        }
        None => Ok(check::machine_bytes().map(|m| (m as f64 * MEMORY_SHARE) as u64)),
    }
}

/// A note when a mutant that broke nothing also changed nothing: the same configuration
/// without it has exactly as many states, so the mutant never acted on this policy and
/// configuration, and its passing check tested nothing.
fn inert_mutant(args: &Args, options: &Options, outcome: &check::Verdict) -> Option<String> {
    let name = args.model.mutant.as_ref()?;
    let exhaustive = matches!(options.strategy, Strategy::Bfs | Strategy::Dfs);
    if !exhaustive || !outcome.complete || !outcome.holds() {
        return None;
    }
    let plain = ModelArgs {
        mutant: None,
        ..args.model.clone()
    }
    .model()
    .ok()?
    .with_reduction(reduced(args));
    let without = check::run(&plain, options, &mut |_| {});
    (without.complete && without.progress.unique == outcome.progress.unique).then(|| {
        format!(
            "note: the mutant {name} changed nothing here: the check finds the same {} states without it, so it does not act under policy {} on this configuration (the exit code is 0: nothing broke, and nothing was tested)",
            outcome.progress.unique, args.model.policy
        )
    })
}
