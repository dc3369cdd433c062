//! The threaded driver on real threads: a volume of a few thousand blocks, a copier and many
//! clients issuing random writes (and reads of the volume and of the image), repeated for
//! every policy; every invariant is checked after each run's threads join.

use cowlab_model::policy::{self, Policy};
use cowlab_model::threaded::{self, Std};
use cowlab_model::{CopyOrder, Geometry, Mutant, Request, Role, Spec, Workload};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const BLOCKS: u64 = 4096;
const BLOCK_SIZE: u64 = 512;
const SEGMENT_BLOCKS: u64 = 16;
const COW_BLOCKS: u64 = 4;
const WRITERS: usize = 8;
const WRITES: usize = 48;
const RUNS_PER_POLICY: u64 = 50;

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// A random workload from `seed`: writers with random unaligned writes of up to two
/// segments, a volume reader and an image reader; the copy order is drawn too.
fn stress_spec(policy: Arc<dyn Policy>, mutant: Option<Mutant>, seed: u64) -> Spec {
    let g = Geometry::new(BLOCKS, BLOCK_SIZE, SEGMENT_BLOCKS, COW_BLOCKS).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r = &mut rng;
    let bytes = g.bytes();
    let request = |r: &mut ChaCha8Rng| {
        let offset = below(r, bytes);
        let len = 1 + below(r, (2 * SEGMENT_BLOCKS * BLOCK_SIZE).min(bytes - offset));
        (offset, len)
    };
    let mut workload = Workload::default();
    for _ in 0..WRITERS {
        let writes = (0..WRITES)
            .map(|_| {
                let (o, l) = request(r);
                Request::write(o, l)
            })
            .collect();
        workload = workload.client(Role::Writer, writes);
    }
    let reads = (0..WRITES).map(|_| request(r)).collect::<Vec<_>>();
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

#[test]
fn every_policy_keeps_every_invariant_on_real_threads() {
    for policy in policy::builtins() {
        for seed in 0..RUNS_PER_POLICY {
            let spec = stress_spec(policy.clone(), None, seed);
            let out = threaded::run::<Std>(&spec);
            assert_eq!(
                out.violation,
                None,
                "{} seed {seed}: invariant broken on real threads",
                policy.name()
            );
            assert!(out.world.finished(), "{} seed {seed}", policy.name());
            // At least the copier's steps and every request's were taken.
            let requests = (WRITERS + 2) * WRITES;
            assert!(out.steps as usize > requests, "only {} steps", out.steps);
        }
    }
}

/// The end-of-run check is not vacuous on real threads: skipping the overlay pass leaves
/// new data at the destination as soon as one write preserves a chunk before the copier
/// reaches it, which some of these runs do.
#[test]
fn the_end_of_run_check_catches_a_mutant_on_real_threads() {
    let overlay = policy::by_name("snapshot-overlay").expect("built in");
    let caught = (0..16)
        .filter(|seed| {
            let spec = stress_spec(overlay.clone(), Some(Mutant::SkipOverlay), *seed);
            threaded::run::<Std>(&spec).violation.is_some()
        })
        .count();
    assert!(caught > 0, "skip-overlay survived every run");
}
