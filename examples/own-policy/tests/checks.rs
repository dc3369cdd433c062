//! A policy defined outside cowlab, checked from ordinary `#[test]`s with the same drivers
//! and invariants as the built-in ones; a broken variant of it is caught by each driver.

use cowlab_model::exhaustive::check::{self, Options};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::threaded::check::{explore, two_writers, LoomFailure};
use cowlab_model::{random, strategy, CopyOrder, Invariant, Policy, Spec};
use own_policy::{OutOfTurnAhead, SnapshotForgotten};
use proptest::prelude::*;
use std::sync::Arc;

fn ahead() -> Arc<dyn Policy> {
    Arc::new(OutOfTurnAhead)
}

fn forgotten() -> Arc<dyn Policy> {
    Arc::new(SnapshotForgotten)
}

/// The exhaustive checker's default configuration (3 segments of 2 blocks, 2 writers of 2
/// writes, a volume reader and an image reader) with a policy of one's own.
fn exhaustive_spec(policy: Arc<dyn Policy>) -> Spec {
    let c = Config::default();
    let builtin = c.spec().expect("the default configuration");
    let g = builtin.geometry;
    Spec::new(g, policy, CopyOrder::Sequential, None, c.workload(&g)).expect("a valid spec")
}

#[test]
fn every_interleaving_keeps_every_invariant_with_the_policy() {
    let model = CowModel::new(exhaustive_spec(ahead()), true);
    let o = check::run(&model, &Options::default(), &mut |_| {});
    assert!(o.holds() && o.complete, "{}", o.summary());
    assert!(o.unreached.is_empty(), "never reached: {:?}", o.unreached);
}

#[test]
fn every_interleaving_catches_the_broken_variant() {
    let model = CowModel::new(exhaustive_spec(forgotten()), true);
    let o = check::run(&model, &Options::default(), &mut |_| {});
    let cx = o.counterexample.expect("the broken policy is caught");
    assert_eq!(cx.property, "map soundness", "{}", cx.render(model.spec()));
    assert!(o.shortest_verified);
}

proptest! {
    #![proptest_config(strategy::config(500, 0x0A11_0001))]

    #[test]
    fn generated_cases_keep_every_invariant_with_the_policy(case in strategy::case()) {
        let spec = case.spec(ahead(), None).expect("generated requests lie inside the volume");
        let run = random::run(&spec, case.schedule, false);
        prop_assert!(run.violation.is_none(), "{}", random::run(&spec, case.schedule, true).report(&spec));
    }
}

#[test]
fn generated_cases_catch_the_broken_variant_and_shrink_it() {
    let mut config = strategy::config(500, 0x0A11_0002);
    config.failure_persistence = None;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&strategy::case(), |case| {
        let spec = case.spec(forgotten(), None).expect("valid");
        prop_assert!(random::run(&spec, case.schedule, false).violation.is_none());
        Ok(())
    });
    let Err(proptest::test_runner::TestError::Fail(_, case)) = result else {
        panic!("proptest did not catch the broken policy: {result:?}");
    };
    let spec = case.spec(forgotten(), None).unwrap();
    let run = random::run(&spec, case.schedule, true);
    let v = run.violation.clone().expect("the shrunk case still fails");
    assert_eq!(
        v.invariant,
        Invariant::MapSoundness,
        "{}",
        run.report(&spec)
    );
    // Shrunk to one block and one write (a few reads that did not matter may stay: each
    // shifts the schedule's draws, so removing it can lose the failure).
    let requests = case.workload.clients.iter().flat_map(|c| &c.requests);
    let writes = requests
        .clone()
        .filter(|r| r.op == cowlab_model::Op::Write)
        .count();
    assert_eq!(
        (spec.geometry.blocks, writes),
        (1, 1),
        "{}",
        run.report(&spec)
    );
    assert!(requests.count() <= 4, "{}", run.report(&spec));
}

#[test]
fn loom_explores_the_threaded_implementation_with_the_policy() {
    let e = explore(&two_writers(ahead(), None, 1), Some(3));
    assert_eq!(e.failure, None);
    assert!(e.executions > 1000, "only {} executions", e.executions);
}

#[test]
fn loom_catches_the_broken_variant() {
    let e = explore(&two_writers(forgotten(), None, 1), Some(3));
    match e.failure {
        Some(LoomFailure::Violation(v)) => assert_eq!(v.invariant, Invariant::MapSoundness, "{v}"),
        other => panic!("loom did not catch the broken policy: {other:?}"),
    }
}
