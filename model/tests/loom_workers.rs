//! The copier's workers on threads under loom: two worker threads and a writer keep every
//! invariant under every interleaving loom explores (preemption bound 3, as in
//! `model/tests/loom.rs`), and the concurrency mistakes of the claim structure are caught
//! with their own violation: two tasks on one region (claim-without-recheck) needs the two
//! worker threads; the offset-0 slip needs a write to the volume's first chunk racing the
//! copier's claim of it; a write that proceeds after its wait without looking again needs the
//! task it waited for to be handed back (the threaded driver's workers hand back the first
//! task they can when the spec allows it).

use cowlab_model::threaded::check::{explore, LoomFailure};
use cowlab_model::workload::{Request, Role, Workload};
use cowlab_model::{policy, CopyOrder, Geometry, Invariant, Mutant, Spec};

const PREEMPTION_BOUND: Option<usize> = Some(3);

/// 2 segments of 2 blocks, 1-block chunks, out-of-turn; one writer of `blocks` blocks at
/// block `at`, and `workers` copy workers.
fn spec(mutant: Option<Mutant>, workers: u32, at: u64, blocks: u64) -> Spec {
    let g = Geometry::new(4, 512, 2, 1).unwrap();
    let workload =
        Workload::default().client(Role::Writer, vec![Request::write(at * 512, blocks * 512)]);
    let policy = policy::by_name("out-of-turn").unwrap();
    Spec::new(g, policy, CopyOrder::Sequential, mutant, workload)
        .and_then(|s| s.with_workers(workers))
        .unwrap()
}

fn violation(spec: &Spec) -> cowlab_model::Violation {
    let e = explore(spec, PREEMPTION_BOUND);
    match e.failure {
        Some(LoomFailure::Violation(v)) => v,
        other => panic!(
            "loom reported no violation after {} executions: {other:?}\n{spec}",
            e.executions
        ),
    }
}

#[test]
fn two_worker_threads_and_a_writer_keep_every_invariant() {
    let spec = spec(None, 2, 1, 2);
    let e = explore(&spec, PREEMPTION_BOUND);
    assert_eq!(e.failure, None, "{spec}");
    assert!(e.executions > 1000, "only {} executions", e.executions);
}

#[test]
fn two_tasks_on_one_region_are_caught_with_two_worker_threads() {
    let v = violation(&spec(Some(Mutant::ClaimWithoutRecheck), 2, 1, 2));
    // The segment copied twice is marked twice: the copy completes with one never copied.
    assert_eq!(v.invariant, Invariant::PointInTimeCopy, "{v}");
    assert!(v.detail.contains("found none (never written)"), "{v}");
}

#[test]
fn the_offset_0_slip_is_caught_by_a_write_racing_the_copier_on_chunk_0() {
    let slip = spec(Some(Mutant::ConflictMissesOffsetZero), 1, 0, 1);
    let v = violation(&slip);
    assert_ne!(v.invariant, Invariant::Progress, "{v}");
    assert!(v.detail.contains("block 0"), "{v}");
    // The same race one block further on is seen: the slip is at offset 0 only.
    let e = explore(
        &spec(Some(Mutant::ConflictMissesOffsetZero), 1, 1, 1),
        PREEMPTION_BOUND,
    );
    assert_eq!(e.failure, None);
}

/// A write waiting for a chunk in flight, whose task is handed back: woken, it must look
/// again (the chunk is not preserved). Without the look it is applied over begin-time data
/// no one has copied; with it, every interleaving keeps every invariant.
#[test]
fn a_write_woken_by_a_hand_back_is_caught_applying_without_a_second_look() {
    let handing_back = |m| spec(m, 1, 0, 2).with_hand_backs();
    let e = explore(&handing_back(None), PREEMPTION_BOUND);
    assert_eq!(e.failure, None, "{}", handing_back(None));
    let v = violation(&handing_back(Some(Mutant::NoRecheckAfterWait)));
    assert_ne!(v.invariant, Invariant::Progress, "{v}");
}
