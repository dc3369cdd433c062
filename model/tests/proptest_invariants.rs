//! proptest over geometries, copy orders, workloads and scheduler seeds: with no mutant every
//! invariant holds under every policy; with each mutant proptest finds a failing case and
//! shrinks it.

use cowlab_model::strategy::{self, Case};
use cowlab_model::{render_trace, Invariant, Mutant};
use proptest::prelude::*;
use proptest::test_runner::{TestError, TestRunner};

proptest! {
    #![proptest_config(strategy::config(2000, 0xC0C0_0001))]

    #[test]
    fn every_policy_keeps_every_invariant(case in strategy::case()) {
        if let Some((spec, run)) = case.first_failure(None) {
            prop_assert!(false, "{}", run.report(&spec));
        }
    }
}

/// Runs proptest against one mutant; returns the shrunk failing case, if it found one.
fn hunt(m: Mutant, cases: u32) -> Option<Case> {
    let mut config = strategy::config(cases, 0xC0C0_0002);
    config.failure_persistence = None; // failures are expected here, not regressions
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy::case(), |case| {
        prop_assert!(case.first_failure(Some(m)).is_none());
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, case)) => Some(case),
        Err(TestError::Abort(why)) => panic!("{m}: proptest aborted: {why}"),
        Ok(()) => None,
    }
}

#[test]
fn every_mutant_is_caught_and_shrunk_by_proptest() {
    let mut missed = Vec::new();
    for m in Mutant::ALL {
        match hunt(m, 512) {
            None => missed.push(m.name()),
            Some(case) => {
                let (spec, run) = case
                    .first_failure(Some(m))
                    .expect("the shrunk case still fails");
                let v = run.violation.as_ref().unwrap();
                assert_ne!(v.invariant, Invariant::Progress, "{m}: {v}");
                if m == Mutant::CheckThenAct {
                    // Shown with `cargo test -- --nocapture`: what a shrunk counterexample reads like.
                    println!("shrunk counterexample for {m}:\n{}", run.report(&spec));
                }
            }
        }
    }
    assert!(missed.is_empty(), "proptest missed {missed:?}");
}

#[test]
fn shrinking_gives_a_short_counterexample() {
    let case = hunt(Mutant::ApplyBeforePreserve, 256).expect("caught");
    let (spec, run) = case
        .first_failure(Some(Mutant::ApplyBeforePreserve))
        .unwrap();
    let requests: usize = case.workload.clients.iter().map(|c| c.requests.len()).sum();
    assert!(
        requests <= 2,
        "bystanders not shrunk away:\n{}",
        run.report(&spec)
    );
    assert_eq!(
        case.geometry.segments(),
        1,
        "geometry not shrunk:\n{}",
        run.report(&spec)
    );
    assert!(
        run.steps <= 12,
        "trace too long:\n{}",
        render_trace(&spec, &run.trace)
    );
}
