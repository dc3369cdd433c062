//! Running the threaded driver under loom, and the configurations the loom tests, the std
//! stress test and the benchmark share.

use super::{run_from, Flaw, Loom, Stamps};
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a loom exploration failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An execution ended with a broken invariant (checked after every thread joined).
    Violation(Violation),
    /// Something else panicked: loom (e.g. a deadlock it detected, or a branch limit) or the
    /// engine itself.
    Panic(String),
}

/// What one loom exploration did.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Executions (interleavings) loom ran, counted by the model closure itself.
    pub executions: u64,
    pub seconds: f64,
    /// The failure of the first failing execution, if any (loom stops there).
    pub failure: Option<Failure>,
}

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
    let executions = Arc::new(AtomicU64::new(0));
    let violation = Arc::new(Mutex::new(None));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemption_bound;
    let model = {
        let spec = spec.clone();
        let executions = executions.clone();
        let violation = violation.clone();
        move || {
            executions.fetch_add(1, Ordering::Relaxed);
            if let Some(v) = run_from::<Loom, Stamps>(&spec, World::new(&spec), flaw).violation {
                let message = v.to_string();
                *violation.lock().expect("not poisoned") = Some(v);
                panic!("{message}");
            }
        }
    };
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| builder.check(model)));
    let seconds = start.elapsed().as_secs_f64();
    let failure =
        result.err().map(
            |payload| match violation.lock().expect("not poisoned").take() {
                Some(v) => Failure::Violation(v),
                None => Failure::Panic(
                    payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic without a message".into()),
                ),
            },
        );
    Exploration {
        executions: executions.load(Ordering::Relaxed),
        seconds,
        failure,
    }
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

const STRESS_BLOCKS: u64 = 4096;
const STRESS_BLOCK_SIZE: u64 = 512;
const STRESS_SEGMENT_BLOCKS: u64 = 16;
const STRESS_COW_BLOCKS: u64 = 4;
const STRESS_WRITERS: usize = 8;
const STRESS_WRITES: usize = 48;

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// The stress configuration: a volume of 4096 blocks (512 B, segments of 16 blocks, chunks
/// of 4) and a random workload from `seed`: writers with random unaligned writes of up to two
/// segments, a volume reader and an image reader; the copy order is drawn too.
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
    let request = |r: &mut ChaCha8Rng| {
        let offset = below(r, bytes);
        let len = 1 + below(
            r,
            (2 * STRESS_SEGMENT_BLOCKS * STRESS_BLOCK_SIZE).min(bytes - offset),
        );
        (offset, len)
    };
    let mut workload = Workload::default();
    for _ in 0..STRESS_WRITERS {
        let writes = (0..STRESS_WRITES)
            .map(|_| {
                let (o, l) = request(r);
                Request::write(o, l)
            })
            .collect();
        workload = workload.client(Role::Writer, writes);
    }
    let reads = (0..STRESS_WRITES).map(|_| request(r)).collect::<Vec<_>>();
    workload = workload
        .client(
            Role::Reader,
            reads.iter().map(|(o, l)| Request::read(*o, *l)).collect(),
        )
        .client(
            Role::ImageReader,
            reads
                .iter()
                .map(|(o, l)| Request::read_image(*o, *l))
                .collect(),
        );
    let order = match below(r, 4) {
        0 => CopyOrder::Sequential,
        1 => CopyOrder::Reverse,
        2 => CopyOrder::Random { seed: r.next_u64() },
        _ => CopyOrder::WrittenFirst,
    };
    Spec::new(g, policy, order, mutant, workload).expect("requests lie inside the volume")
}

/// Requests of a stress configuration, all clients together.
pub const STRESS_REQUESTS: usize = (STRESS_WRITERS + 2) * STRESS_WRITES;
