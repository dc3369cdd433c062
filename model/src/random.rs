//! The random driver: a seeded scheduler picks which runnable process steps next, and every
//! invariant is checked after every step. A failure carries everything needed to replay it.

use crate::disk::Device;
use crate::event::{render_trace, TraceStep};
use crate::fault::{Break, ErrorPolicy, FaultPlan, PlanFaults, PlannedError, When};
use crate::geometry::Geometry;
use crate::invariants::{check_safety, progress, Invariant, Violation};
use crate::mutant::Mutant;
use crate::order::CopyOrder;
use crate::policy::Policy;
use crate::spec::{Pid, Spec};
use crate::workload::{Request, Role, Workload};
use crate::world::{Process, World};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// The outcome of one scheduled run.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    pub steps: usize,
    pub violation: Option<Violation>,
    pub trace: Vec<TraceStep>,
    pub world: World,
    /// The faults the run followed.
    pub plan: FaultPlan,
    /// When the power failed, and what survived.
    pub power: PowerPlan,
}

/// When the power fails in a random run and what survives each loss: data, printed with a
/// failing case and replayable. The spec must have volatile caches.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PowerPlan {
    /// The power fails before the n-th step of the run (counting every process's, from 1),
    /// for each n listed.
    pub at: Vec<u64>,
    /// Draws which cached writes and records survive each loss (each with probability one
    /// half).
    pub seed: u64,
}

impl PowerPlan {
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Which cached items survive the loss before step `n` (bit i: the i-th).
    pub fn survivors(&self, n: u64) -> u32 {
        crate::durability::survivors_of(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15), 32)
    }
}

impl std::fmt::Display for PowerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at: Vec<String> = self.at.iter().map(|n| n.to_string()).collect();
        write!(
            f,
            "power fails before step(s) {}, survivors drawn from seed {}",
            at.join(", "),
            self.seed
        )
    }
}

impl Run {
    /// The replayable failure report: seed, configuration, faults, trace and the broken
    /// invariant.
    pub fn report(&self, spec: &Spec) -> String {
        let mut out = format!("scheduler seed: {}\n{spec}", self.seed);
        if !self.plan.is_empty() {
            out.push_str(&format!("faults:   {}\n", self.plan));
        }
        if !self.power.is_empty() {
            out.push_str(&format!("power:    {}\n", self.power));
        }
        out.push_str(&format!("trace ({} steps):\n", self.steps));
        out.push_str(&render_trace(spec, &self.trace));
        if let Some(v) = &self.violation {
            out.push_str(&format!("{v}\n"));
        }
        out
    }
}

/// A uniform draw in `0..n` (n > 0); modulo bias is irrelevant at these sizes.
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// Runs the spec to completion under the scheduler of `seed`, checking every invariant at
/// every step. Stops at the first violation. `keep_trace` records the steps for a report.
pub fn run(spec: &Spec, seed: u64, keep_trace: bool) -> Run {
    run_from(spec, World::new(spec), seed, keep_trace)
}

/// Like [`run`], from a given begin state (e.g. one that keeps its indexes).
pub fn run_from(spec: &Spec, world: World, seed: u64, keep_trace: bool) -> Run {
    run_faulty(spec, world, seed, &FaultPlan::default(), keep_trace)
}

/// Like [`run_from`], with the faults of `plan`: its device errors and full store strike the
/// I/O they name, and the copier crashes (and restarts) before each of its steps the plan
/// lists. The spec must be one whose I/O can fail ([`Spec::with_faults`]) unless the plan
/// is empty.
pub fn run_faulty(spec: &Spec, world: World, seed: u64, plan: &FaultPlan, keep_trace: bool) -> Run {
    run_powered(spec, world, seed, plan, &PowerPlan::default(), keep_trace)
}

/// Like [`run_faulty`], with the power failing as `power` says (the spec must have volatile
/// caches unless the plan is empty): before the steps it lists, the power fails, the cached
/// writes and records it draws survive, and recovery runs.
pub fn run_powered(
    spec: &Spec,
    mut world: World,
    seed: u64,
    plan: &FaultPlan,
    power: &PowerPlan,
    keep_trace: bool,
) -> Run {
    assert!(
        plan.is_empty() || spec.faults,
        "a spec whose I/O cannot fail"
    );
    assert!(
        power.is_empty() || spec.volatile,
        "a spec without volatile caches"
    );
    let mut faults = PlanFaults::new(plan.clone());
    let mut copier_steps = 0;
    let mut hand_backs = HAND_BACKS;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut trace = Vec::new();
    let mut steps = 0;
    let mut runnable = Vec::new();
    let violation = loop {
        if let Err(v) = check_safety(spec, &world) {
            break Some(v);
        }
        runnable.clear();
        runnable.extend(world.runnable(spec));
        if runnable.is_empty() {
            break progress(spec, &world).err();
        }
        if power.at.contains(&(steps as u64 + 1)) {
            let mask = power.survivors(steps as u64 + 1);
            let event = world.power_loss(spec, mask);
            if keep_trace {
                trace.push(TraceStep { pid: 0, event });
            }
            steps += 1;
            continue;
        }
        if steps >= step_bound(spec) {
            break Some(Violation {
                invariant: Invariant::Progress,
                detail: format!("not finished after {steps} steps"),
            });
        }
        let draw = rng.next_u64();
        let pid = pick(draw, &runnable);
        let worker = spec.is_worker(pid);
        if worker {
            copier_steps += 1;
        }
        let event = if worker && faults.crashes_at(copier_steps) {
            world.crash_copier(spec)
        } else if worker && hands_back(spec, &world, pid, draw, &mut hand_backs) {
            world.hand_back(spec, pid)
        } else {
            world.step_with(spec, pid, &mut faults)
        };
        if keep_trace {
            trace.push(TraceStep { pid, event });
        }
        steps += 1;
    };
    Run {
        seed,
        steps,
        violation,
        trace,
        world,
        plan: plan.clone(),
        power: power.clone(),
    }
}

/// Picks the runnable process with the lowest key for this step's draw. Each process's key
/// depends only on the draw and its own id, so removing a process that was not picked leaves
/// the choice unchanged: proptest can shrink bystanders away without changing the schedule.
fn pick(draw: u64, runnable: &[usize]) -> usize {
    let key = |pid: usize| {
        // splitmix64's finaliser: a cheap, well-mixed hash of (draw, pid).
        let mut z = draw ^ (pid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    *runnable
        .iter()
        .min_by_key(|pid| key(**pid))
        .expect("a runnable process")
}

/// No process loops, so every run ends; this bound only guards against an engine bug.
fn step_bound(spec: &Spec) -> usize {
    let g = &spec.geometry;
    let per_request = 8 + 2 * (2 * g.chunks_per_segment() as usize + 2);
    let requests: usize = spec.clients().map(|p| spec.requests(p).len()).sum();
    // Faults, hand-backs and power losses add retries, commits and re-copies: a generous
    // margin.
    let slack = if spec.claims_can_end_unsettled() || spec.volatile {
        4
    } else {
        1
    };
    let copier = 4 * g.segments() as usize + g.chunks() as usize + 8 * spec.workers() as usize;
    slack * (copier + requests * per_request)
}

/// Tasks a random run may make its workers hand back.
const HAND_BACKS: u8 = 2;

/// Whether worker `pid` hands its task back instead of stepping: in a spec with hand-backs,
/// one time in eight that it could, at most [`HAND_BACKS`] times a run.
fn hands_back(spec: &Spec, world: &World, pid: Pid, draw: u64, left: &mut u8) -> bool {
    let Process::Copier(c) = &world.procs[pid] else {
        return false;
    };
    let yes = spec.hand_backs && *left > 0 && c.can_hand_back(spec) && (draw >> 61) == 0;
    *left -= yes as u8;
    yes
}

/// Runs a spec under a run of scheduler seeds and returns the first failure, replayed with
/// its trace.
pub fn first_failure(spec: &Spec, seeds: impl IntoIterator<Item = u64>) -> Option<Run> {
    seeds
        .into_iter()
        .find(|s| run(spec, *s, false).violation.is_some())
        .map(|s| run(spec, s, true))
}

/// A small random case: geometry, copy order, workload and scheduler seed, all from `seed`.
/// Sized so that the races the mutants exploit show up often.
pub fn generate(seed: u64, policy: Arc<dyn Policy>, mutant: Option<Mutant>) -> (Spec, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r = &mut rng;
    let segments = 2 + below(r, 3) as u32;
    let segment_blocks = [1, 2, 4][below(r, 3) as usize];
    let cow_choices: Vec<u32> = (1..=segment_blocks)
        .filter(|c| segment_blocks % c == 0)
        .collect();
    let cow_blocks = cow_choices[below(r, cow_choices.len() as u64) as usize];
    let short = if below(r, 4) == 0 {
        below(r, segment_blocks as u64) as u32
    } else {
        0
    };
    let block_size = [1u64, 512][below(r, 2) as usize];
    let geometry = Geometry::new(
        (segments * segment_blocks - short) as u64,
        block_size,
        segment_blocks as u64,
        cow_blocks as u64,
    )
    .expect("generated geometry is valid");
    let order = match below(r, 4) {
        0 => CopyOrder::Sequential,
        1 => CopyOrder::Reverse,
        2 => CopyOrder::Random { seed: r.next_u64() },
        _ => CopyOrder::WrittenFirst,
    };
    let bytes = geometry.bytes();
    let max_len = 2 * segment_blocks as u64 * block_size;
    let request = |r: &mut ChaCha8Rng| {
        let offset = below(r, bytes);
        let len = 1 + below(r, max_len.min(bytes - offset));
        (offset, len)
    };
    let mut workload = Workload::default();
    for _ in 0..1 + below(r, 3) {
        let reqs = (0..1 + below(r, 4))
            .map(|_| {
                let (o, l) = request(r);
                match below(r, 5) {
                    0 => Request::read(o, l),
                    _ => Request::write(o, l),
                }
            })
            .collect();
        workload = workload.client(Role::Writer, reqs);
    }
    if below(r, 2) == 0 {
        let reqs = (0..1 + below(r, 2))
            .map(|_| {
                let (o, l) = request(r);
                Request::read_image(o, l)
            })
            .collect();
        workload = workload.client(Role::ImageReader, reqs);
    }
    let schedule = r.next_u64();
    let spec = Spec::new(geometry, policy, order, mutant, workload)
        .expect("generated requests lie inside the volume");
    (spec, schedule)
}

/// The case of `seed`, with its fault plan when `faults` ([`generate_faulty`]), else with
/// none ([`generate`]).
pub fn generate_with(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
    faults: bool,
) -> (Spec, u64, FaultPlan) {
    match faults {
        true => generate_faulty(seed, policy, mutant),
        false => {
            let (spec, schedule) = generate(seed, policy, mutant);
            (spec, schedule, FaultPlan::default())
        }
    }
}

/// A random case with volatile caches and a power loss: the case [`generate_with`] makes of
/// `seed` (with its fault plan when `faults`), with at times FUA writes and at times a
/// writer's FLUSH after a write, and one or two power losses within its first steps.
pub fn generate_power(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
    faults: bool,
) -> (Spec, u64, FaultPlan, PowerPlan) {
    let (spec, schedule, plan) = generate_with(seed, policy, mutant, faults);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x90E7_90E7_90E7_90E7);
    let r = &mut rng;
    let mut workload = spec.workload.clone();
    for client in &mut workload.clients {
        let mut reqs = Vec::new();
        for req in &client.requests {
            let write = req.op == crate::workload::Op::Write;
            reqs.push(Request {
                fua: write && below(r, 4) == 0,
                ..*req
            });
            if write && below(r, 3) == 0 {
                reqs.push(Request::flush());
            }
        }
        client.requests = reqs;
    }
    let mut powered = Spec::new(
        spec.geometry,
        spec.policy.clone(),
        spec.order,
        mutant,
        workload,
    )
    .expect("the same requests lie inside the volume")
    .with_volatile_caches();
    if spec.faults {
        powered = powered.with_faults(spec.on_error);
    }
    // Within the run: the bound is several times the length of a run.
    let reach = (step_bound(&powered) as u64 / 16).max(2);
    let power = PowerPlan {
        at: (0..1 + below(r, 2)).map(|_| 1 + below(r, reach)).collect(),
        seed: r.next_u64(),
    };
    (powered, schedule, plan, power)
}

/// A case that can show `mutant`, with its power plan: a durability mistake's case has
/// volatile caches and power losses ([`generate_power`]), any other's is
/// [`generate_showing`]'s with no power loss.
pub fn generate_showing_powered(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Mutant,
) -> (Spec, u64, FaultPlan, PowerPlan) {
    match mutant.needs_power_loss() {
        true => generate_power(seed, policy, Some(mutant), mutant.needs_faults()),
        false => {
            let (spec, schedule, plan) = generate_showing(seed, policy, mutant);
            (spec, schedule, plan, PowerPlan::default())
        }
    }
}

/// A case that can show `mutant`: with a fault plan when it is a mistake in handling faults,
/// and with the workers (at least two) and hand-backs its catalogue row names when it is a
/// mistake of the claim structure.
pub fn generate_showing(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Mutant,
) -> (Spec, u64, FaultPlan) {
    let (spec, schedule, plan) = generate_with(seed, policy, Some(mutant), mutant.needs_faults());
    let Some(run) = mutant.facts().claims else {
        return (spec, schedule, plan);
    };
    let spec = spec
        .with_workers(run.workers.max(2))
        .expect("a few workers are within the limit");
    match run.hand_backs {
        0 => (spec, schedule, plan),
        _ => (spec.with_hand_backs(), schedule, plan),
    }
}

/// A random case with faults: the case [`generate`] makes of `seed` (the same geometry,
/// workload and schedule), an error policy, and a fault plan drawn for it: one or two
/// device errors (the n-th I/O of a device, a block range, or a probability), at times a
/// preservation store too small for every chunk, and at times a copier crash.
pub fn generate_faulty(
    seed: u64,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
) -> (Spec, u64, FaultPlan) {
    let (spec, schedule) = generate(seed, policy, mutant);
    // A stream of its own, so that the case is the one `generate` makes.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_FA17_FA17_FA17);
    let r = &mut rng;
    let on_error = ErrorPolicy {
        retries: below(r, 2) as u8,
        then: match below(r, 2) {
            0 => Break::GuestWrite,
            _ => Break::Snapshot,
        },
    };
    let blocks = spec.geometry.blocks;
    let devices = [
        Device::Source,
        Device::Destination,
        spec.map_device(),
        spec.map_device(),
    ];
    let mut errors = Vec::new();
    for _ in 0..1 + below(r, 2) {
        let device = devices[below(r, devices.len() as u64) as usize];
        let when = match below(r, 4) {
            0 => {
                let start = below(r, blocks);
                When::Blocks(start..start + 1 + below(r, blocks - start))
            }
            1 => When::Probability([0.05, 0.2, 0.5][below(r, 3) as usize]),
            _ => When::Nth(1 + below(r, 8)),
        };
        errors.push(PlannedError { device, when });
    }
    let plan = FaultPlan {
        seed: r.next_u64(),
        errors,
        store_blocks: (below(r, 4) == 0).then(|| below(r, blocks)),
        crashes: match below(r, 3) {
            0 => vec![1 + below(r, 4 * spec.geometry.segments() as u64)],
            _ => vec![],
        },
    };
    (spec.with_faults(on_error), schedule, plan)
}
