//! The threaded driver on real threads: a volume of a few thousand blocks, a copier and many
//! clients issuing random writes (and reads of the volume and of the image), repeated for
//! every policy; every invariant is checked after each run's threads join.

use cowlab_model::policy;
use cowlab_model::threaded::check::{stress, STRESS_REQUESTS};
use cowlab_model::threaded::{self, Std};
use cowlab_model::Mutant;

const RUNS_PER_POLICY: u64 = 50;

#[test]
fn every_policy_keeps_every_invariant_on_real_threads() {
    for policy in policy::builtins() {
        for seed in 0..RUNS_PER_POLICY {
            let spec = stress(policy.clone(), None, seed);
            let out = threaded::run::<Std>(&spec);
            assert_eq!(
                out.violation,
                None,
                "{} seed {seed}: invariant broken on real threads",
                policy.name()
            );
            assert!(out.world.finished(), "{} seed {seed}", policy.name());
            // At least the copier's steps and every request's were taken.
            assert!(
                out.steps as usize > STRESS_REQUESTS,
                "only {} steps",
                out.steps
            );
        }
    }
}

/// The end-of-run check is not vacuous on real threads: skipping the overlay pass leaves
/// new data at the destination as soon as one write preserves a chunk before the copier
/// reaches it. Whether a run does depends on the OS scheduler (measured: a quarter to all of
/// the runs, by build and load), so the test stops at the first run that catches it and
/// allows up to 64 runs.
#[test]
fn the_end_of_run_check_catches_a_mutant_on_real_threads() {
    let overlay = policy::by_name("snapshot-overlay").expect("built in");
    let caught = (0..64).any(|seed| {
        let spec = stress(overlay.clone(), Some(Mutant::SkipOverlay), seed);
        threaded::run::<Std>(&spec).violation.is_some()
    });
    assert!(caught, "skip-overlay survived 64 runs on real threads");
}
