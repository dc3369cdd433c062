//! Running the threaded driver under loom, and the configurations the loom tests, the std
//! stress test and the benchmark share.

use super::{panic_message, spawn, Flaw, Loom, Stamps};
use crate::disk::Device;
use crate::fault::{ErrorPolicy, FaultPlan, PlannedError, When};
use crate::geometry::Geometry;
use crate::invariants::Violation;
use crate::mutant::Mutant;
use crate::order::CopyOrder;
use crate::policy::Policy;
use crate::spec::Spec;
use crate::workload::{Request, Role, Workload};
use crate::world::World;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a loom exploration failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoomFailure {
    /// An execution ended with a broken invariant (checked after every thread joined).
    Violation(Violation),
    /// Something else panicked: loom (e.g. a deadlock it detected, or a thread spinning past
    /// [`MAX_BRANCHES`]) or the engine itself.
    Panic(String),
    /// The exploration ran past [`MAX_EXECUTIONS`] or [`LOOM_TIME_LIMIT`].
    Unbounded(String),
}

/// What one loom exploration did.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Executions (interleavings) loom ran, counted by the model closure itself.
    pub executions: u64,
    /// Executions in which a planned fault struck (an I/O failed).
    pub faulted: u64,
    /// Executions whose copy failed.
    pub copies_failed: u64,
    pub seconds: f64,
    /// The failure of the first failing execution, if any (loom stops there).
    pub failure: Option<LoomFailure>,
}

/// Branches (scheduling decisions) loom allows in one execution: its default, set here so
/// that a thread spinning on a lock (a livelock) fails the exploration whatever
/// `LOOM_MAX_BRANCHES` says.
pub const MAX_BRANCHES: usize = 1_000;
/// Executions one exploration may run: about 4x the largest measured (255,080, offline at
/// bound 3). An exploration that grows past it is a change to look at, not to wait for.
/// (loom's own `max_permutations` and `max_duration` stop an exploration as if it had passed.)
pub const MAX_EXECUTIONS: u64 = 1_000_000;
/// Wall time one exploration may take: the longest measured takes 15 s; this is a watchdog
/// for a hang inside an execution that loom cannot see (a thread looping without touching
/// a loom object), not a performance bound.
pub const LOOM_TIME_LIMIT: Duration = Duration::from_secs(600);

/// Runs the spec's threaded implementation under loom with the given preemption bound
/// (`None`: unbounded); each execution checks every invariant after all threads join.
pub fn explore(spec: &Spec, preemption_bound: Option<usize>) -> Exploration {
    explore_flawed(spec, None, preemption_bound)
}

/// Like [`explore`], with one of the driver's known-bad variants.
pub fn explore_flawed(
    spec: &Spec,
    flaw: Option<Flaw>,
    preemption_bound: Option<usize>,
) -> Exploration {
    explore_from(
        spec,
        World::new(spec),
        flaw,
        &FaultPlan::default(),
        preemption_bound,
    )
}

/// Like [`explore`], with the faults of `plan` (as [`super::run_faulty`]): every execution
/// must keep every invariant and finish every process, whichever I/O the plan fails in it.
pub fn explore_faulty(
    spec: &Spec,
    plan: &FaultPlan,
    preemption_bound: Option<usize>,
) -> Exploration {
    explore_from(spec, World::new(spec), None, plan, preemption_bound)
}

/// Like [`explore_flawed`] and [`explore_faulty`], from a given state.
pub fn explore_from(
    spec: &Spec,
    start: World,
    flaw: Option<Flaw>,
    plan: &FaultPlan,
    preemption_bound: Option<usize>,
) -> Exploration {
    let executions = Arc::new(AtomicU64::new(0));
    let faulted = Arc::new(AtomicU64::new(0));
    let copies_failed = Arc::new(AtomicU64::new(0));
    let failure = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemption_bound;
    builder.max_branches = MAX_BRANCHES;
    let model = {
        let (spec, plan) = (spec.clone(), plan.clone());
        let (executions, failure, stop) = (executions.clone(), failure.clone(), stop.clone());
        let (faulted, copies_failed) = (faulted.clone(), copies_failed.clone());
        move || {
            let n = executions.fetch_add(1, Ordering::Relaxed) + 1;
            let over = match n > MAX_EXECUTIONS {
                true => Some(format!("more than {MAX_EXECUTIONS} executions")),
                false => stop
                    .load(Ordering::Relaxed)
                    .then(|| format!("not finished after {} s", LOOM_TIME_LIMIT.as_secs())),
            };
            let found = match over {
                Some(why) => LoomFailure::Unbounded(format!("loom exploration {why}")),
                None => {
                    let out = spawn::<Loom, Stamps>(&spec, start.clone(), flaw, &plan).join();
                    if out.injected.iter().any(|n| *n > 0) {
                        faulted.fetch_add(1, Ordering::Relaxed);
                    }
                    if out.world.meta.copy_failed {
                        copies_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    match out.violation {
                        Some(v) => LoomFailure::Violation(v),
                        // `progress` reports a deadlock; this is the rest of "every thread
                        // finishes", said outright.
                        None if !out.world.finished() => LoomFailure::Panic(
                            "a process stopped unfinished without a deadlock".into(),
                        ),
                        None => return,
                    }
                }
            };
            let message = format!("{found:?}");
            *failure.lock().expect("not poisoned") = Some(found);
            panic!("{message}");
        }
    };
    let started = Instant::now();
    let result = within(LOOM_TIME_LIMIT, &stop, move || {
        catch_unwind(AssertUnwindSafe(|| builder.check(model))).map_err(|p| panic_message(&*p))
    });
    let seconds = started.elapsed().as_secs_f64();
    let failure = match result {
        None => Some(LoomFailure::Unbounded(format!(
            "loom exploration not finished after {seconds:.0} s: an execution does not end"
        ))),
        Some(Ok(())) => None,
        Some(Err(message)) => Some(
            failure
                .lock()
                .expect("not poisoned")
                .take()
                .unwrap_or(LoomFailure::Panic(message)),
        ),
    };
    Exploration {
        executions: executions.load(Ordering::Relaxed),
        faulted: faulted.load(Ordering::Relaxed),
        copies_failed: copies_failed.load(Ordering::Relaxed),
        seconds,
        failure,
    }
}

/// Runs `f` on a thread of its own. Once `limit` has passed, sets `stop` (which the loom
/// model checks as each execution starts) and waits a minute more for `f` to stop; `None` if
/// it does not (an execution that never ends: its thread is left behind).
fn within<T: Send + 'static>(
    limit: Duration,
    stop: &AtomicBool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(limit).ok().or_else(|| {
        stop.store(true, Ordering::Relaxed);
        rx.recv_timeout(Duration::from_secs(60)).ok()
    })
}

/// Whether a mutant is a concurrency mistake ([`crate::mutant::Facts::concurrency`]).
pub fn is_concurrency(m: Mutant) -> bool {
    m.facts().concurrency
}

/// The built-in policy under which the threaded tests exercise a mutant
/// ([`crate::mutant::Facts::exercised_under`]).
pub fn policy_for(m: Mutant) -> Arc<dyn Policy> {
    (m.facts().exercised_under)()
}

/// The loom configuration for a mutant under [`policy_for`]: the image reader's for
/// image-read-during-preserve and broken-image-served, else the two writers' (with chunks of
/// [`crate::mutant::Facts::min_cow_blocks`] blocks). A fault mutant's spec is this one with
/// the error policy of [`loom_faults`].
pub fn loom_spec(m: Mutant) -> Spec {
    match m {
        Mutant::ImageReadDuringPreserve | Mutant::BrokenImageServed => {
            image_read(policy_for(m), Some(m))
        }
        _ => two_writers(policy_for(m), Some(m), m.facts().min_cow_blocks),
    }
}

/// The failing device under which the threaded tests show a fault mutant: the error policy
/// whose path it breaks ([`crate::mutant::Facts::breaks`]), and a plan failing the
/// snapshot's first I/O (the first preservation under snapshot-overlay). `None` for the
/// fault-free mutants, and for those the threaded driver cannot show.
pub fn loom_faults(m: Mutant) -> Option<(ErrorPolicy, FaultPlan)> {
    let on_error = m.facts().breaks?;
    let plan = FaultPlan {
        errors: vec![PlannedError {
            device: Device::Snapshot,
            when: When::Nth(1),
        }],
        ..FaultPlan::default()
    };
    Some((on_error, plan))
}

fn spec(
    geometry: Geometry,
    policy: Arc<dyn Policy>,
    mutant: Option<Mutant>,
    workload: Workload,
) -> Spec {
    Spec::new(geometry, policy, CopyOrder::Sequential, mutant, workload)
        .expect("the loom configurations are valid")
}

/// The copier and two writers on 2 segments of 2 blocks (512-byte blocks) with chunks of
/// `cow_blocks` blocks: writer 1 writes blocks 1..=2, writer 2 blocks 2..=3. Both writes span
/// the two segments and overlap at block 2.
pub fn two_writers(policy: Arc<dyn Policy>, mutant: Option<Mutant>, cow_blocks: u64) -> Spec {
    let geometry = Geometry::new(4, 512, 2, cow_blocks).expect("valid geometry");
    let workload = Workload::default()
        .client(Role::Writer, vec![Request::write(512, 1024)])
        .client(Role::Writer, vec![Request::write(1024, 1024)]);
    spec(geometry, policy, mutant, workload)
}

/// The copier, one writer of block 2 and one reader of the point-in-time image of blocks
/// 2..=3, on 2 segments of 2 blocks with 1-block chunks.
pub fn image_read(policy: Arc<dyn Policy>, mutant: Option<Mutant>) -> Spec {
    let geometry = Geometry::new(4, 512, 2, 1).expect("valid geometry");
    let workload = Workload::default()
        .client(Role::Writer, vec![Request::write(1024, 512)])
        .client(Role::ImageReader, vec![Request::read_image(1024, 1024)]);
    spec(geometry, policy, mutant, workload)
}

const STRESS_BLOCKS: u64 = 1024;
const STRESS_BLOCK_SIZE: u64 = 512;
const STRESS_SEGMENT_BLOCKS: u64 = 16;
const STRESS_COW_BLOCKS: u64 = 4;
const STRESS_WRITERS: usize = 8;
const STRESS_IMAGE_READERS: usize = 4;
/// Requests per client.
const STRESS_REQUESTS_EACH: usize = 48;

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// The stress configuration: a volume of 1024 blocks (512 B, segments of 16 blocks, chunks
/// of 4) and a random workload from `seed`: 8 writers with 48 random unaligned writes of up
/// to two segments each, a volume reader and 4 image readers with 48 reads each; the copy
/// order is drawn too. Small enough that writes and image reads often meet a chunk being
/// preserved (with 4096 blocks and one image reader, image-read-during-preserve was caught
/// in 1 to 4 seeds of 50 on [`Shaky`](super::Shaky) threads; here in about a quarter).
pub fn stress(policy: Arc<dyn Policy>, mutant: Option<Mutant>, seed: u64) -> Spec {
    let g = Geometry::new(
        STRESS_BLOCKS,
        STRESS_BLOCK_SIZE,
        STRESS_SEGMENT_BLOCKS,
        STRESS_COW_BLOCKS,
    )
    .expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r = &mut rng;
    let bytes = g.bytes();
    let requests = |r: &mut ChaCha8Rng, make: fn(u64, u64) -> Request| -> Vec<Request> {
        (0..STRESS_REQUESTS_EACH)
            .map(|_| {
                let offset = below(r, bytes);
                let most = (2 * STRESS_SEGMENT_BLOCKS * STRESS_BLOCK_SIZE).min(bytes - offset);
                make(offset, 1 + below(r, most))
            })
            .collect()
    };
    let mut workload = Workload::default();
    for _ in 0..STRESS_WRITERS {
        workload = workload.client(Role::Writer, requests(r, Request::write));
    }
    workload = workload.client(Role::Reader, requests(r, Request::read));
    for _ in 0..STRESS_IMAGE_READERS {
        workload = workload.client(Role::ImageReader, requests(r, Request::read_image));
    }
    let order = match below(r, 4) {
        0 => CopyOrder::Sequential,
        1 => CopyOrder::Reverse,
        2 => CopyOrder::Random { seed: r.next_u64() },
        _ => CopyOrder::WrittenFirst,
    };
    Spec::new(g, policy, order, mutant, workload).expect("requests lie inside the volume")
}

/// Requests of a stress configuration, all clients together.
pub const STRESS_REQUESTS: usize =
    (STRESS_WRITERS + 1 + STRESS_IMAGE_READERS) * STRESS_REQUESTS_EACH;
