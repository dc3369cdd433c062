//! Running a check: BFS or DFS over every interleaving, or stateright's random simulation;
//! progress while it runs; the verdict, the figures and the shortest counterexample after.

use super::{symmetry, ChaChaChooser, CowModel, Step, BUDGET_SPENT};
use crate::event::{render_trace, TraceStep};
use crate::invariants::Violation;
use crate::spec::{Pid, Spec};
use crate::world::World;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Bfs,
    Dfs,
    /// stateright's `spawn_simulation` with [`ChaChaChooser`]: `runs` random runs from `seed`.
    Simulate {
        seed: u64,
        runs: u64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub strategy: Strategy,
    pub threads: usize,
    /// Explore paths of at most this many steps.
    pub max_depth: Option<usize>,
    /// For BFS: after a violation, re-explore with a depth bound until no shorter
    /// counterexample exists (stateright may report a longer path found in the same batch).
    pub shortest: bool,
    /// How often `run` calls its progress callback.
    pub progress_every: Duration,
    /// Stop exploring after this long (the outcome then says it is not complete).
    pub timeout: Option<Duration>,
    /// Stop exploring once the process's resident memory passes this many bytes (the
    /// outcome then says it is not complete, and what to try), before the kernel kills it.
    pub max_memory: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strategy: Strategy::Bfs,
            threads: 1,
            max_depth: None,
            shortest: true,
            progress_every: Duration::from_secs(1),
            timeout: None,
            max_memory: None,
        }
    }
}

/// Figures shown while a check runs and in its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    pub states: usize,
    pub unique: usize,
    pub depth: usize,
    pub seconds: f64,
    /// The time limit ended the exploration.
    pub timed_out: bool,
    /// The process's resident memory at the last look, in bytes (0 where it cannot be read).
    pub memory: u64,
    /// The most it held at any look.
    pub peak_memory: u64,
    /// The memory limit ended the exploration.
    pub memory_full: bool,
    /// A simulation's runs started so far, and how many it makes.
    pub runs: Option<(u64, u64)>,
}

impl Progress {
    /// Seconds until the simulation's last run starts, at the pace so far (none before the
    /// first run or for an exhaustive check, whose remaining states nobody knows).
    pub fn seconds_left(&self) -> Option<f64> {
        let (done, total) = self.runs?;
        (done > 0).then(|| self.seconds * (total.saturating_sub(done)) as f64 / done as f64)
    }

    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.states as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A broken property: the steps that lead to the state that breaks it.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub property: &'static str,
    pub steps: Vec<TraceStep>,
    /// The last state, in the process numbering the steps use.
    pub last: World,
    pub violation: Option<Violation>,
    /// The model's actions, from `start` (replay them with [`replay_from`]).
    pub actions: Vec<Step>,
    /// Where the path starts: the initial state, or a shard's frontier state.
    pub start: World,
}

impl Counterexample {
    /// The counterexample `actions` make from `start` (a state of `model`): replayed into
    /// steps in domain words, with the state they end in and what it breaks.
    pub fn replayed(
        model: &CowModel,
        property: &'static str,
        start: World,
        actions: Vec<Step>,
    ) -> Self {
        let (steps, last) = replay_from(model, start.clone(), &actions);
        let violation = model.violation(
            property,
            &super::State::from_world(model.spec(), last.clone()),
        );
        Counterexample {
            property,
            steps,
            last,
            violation,
            actions,
            start,
        }
    }

    /// Numbered steps in domain words, then the property and what broke it.
    pub fn render(&self, spec: &Spec) -> String {
        let mut out = render_trace(spec, &self.steps);
        out.push_str(&format!("violates: {}\n", self.property));
        if let Some(v) = &self.violation {
            out.push_str(&format!("{v}\n"));
        }
        out
    }
}

#[derive(Clone, Debug)]
pub struct Verdict {
    pub progress: Progress,
    /// Every reachable state was explored (no failure stopped it, no depth bound or time
    /// limit cut it).
    pub complete: bool,
    /// The time limit stopped the exploration.
    pub timed_out: bool,
    /// The memory limit stopped the exploration.
    pub memory_full: bool,
    /// The memory limit the check ran under, if any.
    pub max_memory: Option<u64>,
    /// What a check stopped at its memory limit could try instead, in flags.
    pub to_try: Vec<&'static str>,
    /// Whether states were told apart by their fingerprints (breadth- and depth-first:
    /// stateright's visited set keeps a 64-bit hash of each state, not the state).
    pub fingerprinted: bool,
    /// The shortest counterexample found (BFS: the shortest there is).
    pub counterexample: Option<Counterexample>,
    /// Every property the first exploration found broken.
    pub failed: Vec<&'static str>,
    /// For BFS with `shortest`: no counterexample with fewer steps exists (verified by a
    /// re-exploration bounded below its length).
    pub shortest_verified: bool,
    /// `sometimes` properties reached, and those never reached.
    pub reached: Vec<&'static str>,
    pub unreached: Vec<&'static str>,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        self.counterexample.is_none() && (!self.complete || self.unreached.is_empty())
    }

    /// The summary line: verdict, unique states, total states, seconds, states per second.
    pub fn summary(&self) -> String {
        let verdict = match (&self.counterexample, self.complete) {
            (Some(c), _) => format!("VIOLATED ({})", c.property),
            (None, true) if !self.unreached.is_empty() => {
                format!("VACUOUS (never reached: {})", self.unreached.join("; "))
            }
            (None, true) => "OK: every property holds".into(),
            (None, false) if self.timed_out => {
                "STOPPED at the time limit: no property broken in the states explored".into()
            }
            (None, false) if self.memory_full => format!(
                "STOPPED at the memory limit ({} in use at most, limit {}): no property broken in the states explored, which is not a proof; try {}",
                show_bytes(self.progress.peak_memory),
                show_bytes(self.max_memory.unwrap_or(0)),
                self.to_try.join(", ")
            ),
            (None, false) => "OK within the bound: no property broken".into(),
        };
        let p = &self.progress;
        let missed = match self.fingerprinted {
            true => format!(
                "; a state missed by a fingerprint collision with probability at most {:.1e}",
                self.omission_bound()
            ),
            false => String::new(),
        };
        format!(
            "{verdict}; {} unique states, {} total states, {:.2} s, {:.0} states/s{missed}",
            p.unique,
            p.states,
            p.seconds,
            p.rate()
        )
    }

    /// The probability that two of the states explored had the same 64-bit fingerprint, so
    /// that one of them was taken for the other and never explored (hash compaction, as
    /// SPIN and TLC print it): at most one chance in 2^64 for each of the n(n-1)/2 pairs.
    pub fn omission_bound(&self) -> f64 {
        let n = self.progress.unique as f64;
        (n * (n - 1.0) / 2.0 / FINGERPRINTS).clamp(0.0, 1.0)
    }
}

/// Runs the check and calls `report` every `options.progress_every` while it runs.
pub fn run(model: &CowModel, options: &Options, report: &mut dyn FnMut(&Progress)) -> Verdict {
    let start = Instant::now();
    let mut model = model.clone();
    let names: Vec<(&'static str, Expectation)> = model
        .properties()
        .iter()
        .map(|p| (p.name, p.expectation.clone()))
        .collect();
    let threads = options.threads.max(1);
    let depth_cut = options.max_depth.is_some();
    // stateright's own timeout is seen only between batches, which one thread never takes:
    // the model stops offering actions instead (at the time limit, or the memory limit,
    // which `watch` looks at).
    let stop = (options.timeout.is_some() || options.max_memory.is_some())
        .then(|| Arc::new(AtomicU8::new(RUNNING)));
    if let (Some(t), Some(flag)) = (options.timeout, &stop) {
        let set = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(t);
            let _ = set.compare_exchange(RUNNING, TIME_UP, Ordering::SeqCst, Ordering::SeqCst);
        });
    }
    if let Some(flag) = &stop {
        model = model.with_stop(flag.clone());
    }
    let (discoveries, mut progress) = match options.strategy {
        Strategy::Bfs | Strategy::Dfs => {
            let mut b = model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(HasDiscoveries::AnyFailures);
            if let Some(d) = options.max_depth {
                b = b.target_max_depth(depth_bound(d));
            }
            if options.strategy == Strategy::Bfs {
                watch(b.spawn_bfs(), start, options, report, &stop, None)
            } else {
                watch(b.spawn_dfs(), start, options, report, &stop, None)
            }
        }
        Strategy::Simulate { seed, runs } => {
            let chooser = ChaChaChooser::new(seed);
            model = model.with_budget(chooser.counter(), runs);
            let failures: BTreeSet<&'static str> = model
                .properties()
                .iter()
                .filter(|p| p.expectation.discovery_is_failure())
                .map(|p| p.name)
                .chain([BUDGET_SPENT])
                .collect();
            let mut b = model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(HasDiscoveries::AnyOf(failures));
            if let Some(d) = options.max_depth {
                b = b.target_max_depth(d + 1);
            }
            watch(
                b.spawn_simulation(seed, chooser),
                start,
                options,
                report,
                &stop,
                model.budget.clone(),
            )
        }
    };
    // Once the time limit stops the model, a state it stops expanding ends its path. A
    // path cut so is no violation of progress, and the property may have been read just
    // before the stop while the state's actions were asked just after: an
    // eventually-property found by a check that ran out of time is dropped, not reported.
    let discoveries: Found = match progress.timed_out || progress.memory_full {
        false => discoveries,
        true => discoveries
            .into_iter()
            .filter(|(name, _)| {
                !names
                    .iter()
                    .any(|(n, e)| n == name && *e == Expectation::Eventually)
            })
            .collect(),
    };
    let failures: Vec<(&'static str, Path<_, Step>)> = discoveries
        .iter()
        .filter(|(name, _)| {
            names
                .iter()
                .any(|(n, e)| n == name && e.discovery_is_failure())
        })
        .map(|(n, p)| (*n, p.clone()))
        .collect();
    let mut failed: Vec<&'static str> = failures.iter().map(|(n, _)| *n).collect();
    failed.sort();
    let mut found = failures
        .into_iter()
        .min_by_key(|(name, p)| (p.clone().into_actions().len(), *name));
    let mut shortest_verified = false;
    if options.strategy == Strategy::Bfs && options.shortest {
        // Re-explore below the length found until nothing shorter turns up.
        while let Some((_, path)) = &found {
            let len = path.clone().into_actions().len();
            if len == 0 {
                shortest_verified = true;
                break;
            }
            let again = model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(HasDiscoveries::AnyFailures)
                .target_max_depth(depth_bound(len - 1))
                .spawn_bfs()
                .join();
            let shorter = again
                .discoveries()
                .into_iter()
                .filter(|(name, _)| {
                    names
                        .iter()
                        .any(|(n, e)| n == name && e.discovery_is_failure())
                })
                .min_by_key(|(name, p)| (p.clone().into_actions().len(), *name));
            match shorter {
                Some(s) => found = Some(s),
                None => {
                    shortest_verified = true;
                    break;
                }
            }
        }
    }
    progress.seconds = start.elapsed().as_secs_f64();
    let counterexample = found.map(|(property, path)| {
        let path = path.into_vec();
        let start = path[0].0.world.clone();
        let actions: Vec<Step> = path.into_iter().filter_map(|(_, a)| a).collect();
        Counterexample::replayed(&model, property, start, actions)
    });
    let sometimes: Vec<&'static str> = names
        .iter()
        .filter(|(n, e)| *e == Expectation::Sometimes && *n != BUDGET_SPENT)
        .map(|(n, _)| *n)
        .collect();
    let (reached, unreached): (Vec<_>, Vec<_>) = sometimes
        .into_iter()
        .partition(|n| discoveries.iter().any(|(d, _)| d == n));
    let simulated = matches!(options.strategy, Strategy::Simulate { .. });
    let timed_out = counterexample.is_none() && progress.timed_out;
    let memory_full = counterexample.is_none() && progress.memory_full;
    Verdict {
        progress,
        timed_out,
        memory_full,
        max_memory: options.max_memory,
        to_try: [
            (!model.symmetry()).then_some("--symmetry"),
            (options.strategy == Strategy::Bfs).then_some("--dfs (less memory, no shortest trace)"),
            Some("a smaller size"),
            Some("--max-memory with more"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        fingerprinted: !simulated,
        complete: counterexample.is_none()
            && !depth_cut
            && !simulated
            && !timed_out
            && !memory_full,
        counterexample,
        failed,
        shortest_verified,
        reached,
        unreached,
    }
}

/// How many fingerprints there are: stateright's are 64-bit hashes.
const FINGERPRINTS: f64 = 18_446_744_073_709_551_616.0;

/// Bytes in the unit that reads best (MiB or GiB).
pub fn show_bytes(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    match bytes as f64 / MIB {
        m if m >= 1024.0 => format!("{:.1} GiB", m / 1024.0),
        m => format!("{m:.0} MiB"),
    }
}

/// stateright skips (without checking) a state whose depth, counting the initial state as
/// 1, reaches the bound: paths of at most `steps` steps need a bound of `steps + 2`.
fn depth_bound(steps: usize) -> usize {
    steps + 2
}

type Found = Vec<(&'static str, Path<super::State, Step>)>;

/// What a check's stop flag says: still running, stopped at the time limit, or finished
/// (after which the model offers actions again, to rebuild the paths it found).
pub const RUNNING: u8 = 0;
pub const TIME_UP: u8 = 1;
pub const FINISHED: u8 = 2;
pub const MEMORY_FULL: u8 = 3;

/// How often the memory in use is read while a check runs.
const MEMORY_EVERY: Duration = Duration::from_millis(50);

/// The process's resident memory in bytes, from `/proc/self/statm` (0 where there is none).
pub fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
    pages.map_or(0, |p| p * PAGE_BYTES)
}

/// The page size `/proc/self/statm` counts in (4 KiB on the machines cowlab runs on).
const PAGE_BYTES: u64 = 4096;

/// The machine's memory in bytes, from `/proc/meminfo` (`None` where there is none).
pub fn machine_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Waits for the checker's threads, reporting progress every `every`; then lets the model
/// offer actions again (stateright rebuilds a discovery's path from them).
fn watch<C: Checker<CowModel>>(
    mut checker: C,
    start: Instant,
    options: &Options,
    report: &mut dyn FnMut(&Progress),
    stop: &Option<Arc<AtomicU8>>,
    runs: Option<(Arc<AtomicU64>, u64)>,
) -> (Found, Progress) {
    let handles: Vec<JoinHandle<()>> = checker.handles();
    let mut memory = resident_bytes();
    let mut peak = memory;
    let figures = |c: &C, memory: u64, peak: u64| Progress {
        states: c.state_count(),
        unique: c.unique_state_count(),
        depth: c.max_depth(),
        seconds: start.elapsed().as_secs_f64(),
        timed_out: false,
        memory,
        peak_memory: peak,
        memory_full: false,
        runs: runs
            .as_ref()
            .map(|(started, total)| (started.load(Ordering::Relaxed).min(*total), *total)),
    };
    let (mut last, mut looked) = (Instant::now(), Instant::now());
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(2));
        if looked.elapsed() >= MEMORY_EVERY {
            memory = resident_bytes();
            peak = peak.max(memory);
            looked = Instant::now();
            if let (Some(limit), Some(flag)) = (options.max_memory, stop) {
                if memory > limit {
                    let _ = flag.compare_exchange(
                        RUNNING,
                        MEMORY_FULL,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
            }
        }
        if last.elapsed() >= options.progress_every {
            report(&figures(&checker, memory, peak));
            last = Instant::now();
        }
    }
    for h in handles {
        h.join().expect("a checker thread panicked");
    }
    let now = resident_bytes();
    let mut progress = figures(&checker, now, peak.max(now));
    if let Some(flag) = stop {
        match flag.swap(FINISHED, Ordering::SeqCst) {
            TIME_UP => progress.timed_out = true,
            MEMORY_FULL => progress.memory_full = true,
            _ => {}
        }
    }
    let found: Found = checker.discoveries().into_iter().collect();
    (found, progress)
}

/// Replays a path of the model from the initial state in one fixed process numbering, and
/// returns the steps in domain words and the last state. With symmetry on, the model's
/// states are representatives whose writers may be renumbered at every step; the replay
/// maps each action back, so a writer keeps its name for the whole trace.
pub fn replay(model: &CowModel, actions: &[Step]) -> (Vec<TraceStep>, World) {
    replay_from(model, model.init().world, actions)
}

/// [`replay`] from `world`, a state of the model (a representative when symmetry is on).
pub fn replay_from(model: &CowModel, world: World, actions: &[Step]) -> (Vec<TraceStep>, World) {
    let spec = model.spec();
    let mut world = world;
    let mut perm: Vec<Pid> = (0..spec.processes()).collect();
    let renamer = symmetry::Renamer::new(spec);
    let mut steps = Vec::with_capacity(actions.len());
    for a in actions {
        let pid = perm
            .iter()
            .position(|p| *p == a.0)
            .expect("a renumbering is a permutation");
        for event in super::Step(pid, a.1, a.2).take_all(spec, &mut world) {
            steps.push(TraceStep { pid, event });
        }
        if model.symmetry() {
            // The renaming the model made: of the world with its finished writes renamed too.
            perm = match model.retiring() {
                true => {
                    let mut retired = world.clone();
                    super::reduction::retire_writes(spec, &mut retired);
                    renamer.renaming(spec, &retired)
                }
                false => renamer.renaming(spec, &world),
            };
        }
    }
    (steps, world)
}

/// Serves stateright's Explorer for the model on `addr` (its checker, run to completion
/// from the page, uses `threads` and explores paths of at most `max_depth` steps); returns
/// only if the server stops.
pub fn serve(
    model: CowModel,
    addr: std::net::SocketAddr,
    threads: usize,
    max_depth: Option<usize>,
) {
    let mut b = model.checker().threads(threads.max(1));
    if let Some(d) = max_depth {
        b = b.target_max_depth(depth_bound(d));
    }
    let _ = b.serve(addr);
}
