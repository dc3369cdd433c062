//! Durability: with volatile caches and the power failing at every step (every subset of the
//! cached writes and records surviving), every policy's commit protocol keeps every
//! invariant through recovery; each durability mistake of the catalogue is caught with a
//! shortest trace by the exhaustive checker and by random runs; the commit protocol and the
//! recovery are decision points a designer's own policy answers.

use cowlab_model::durability::{Commit, CommitStep, Recovery};
use cowlab_model::exhaustive::check::{self, Options, Verdict};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::fault::ErrorPolicy;
use cowlab_model::policy::{self, Policy, Target, WriteRule};
use cowlab_model::random::{self, PowerPlan};
use cowlab_model::strategy::{self, PowerCase};
use cowlab_model::{Event, Mutant, World};
use proptest::test_runner::{TestError, TestRunner};
use std::sync::Arc;

mod common;
use common::catching;

/// The small configuration: 3 segments of 2 blocks, chunks of 1 block, 2 writers with one
/// write each (overlapping, across two segments), a volume reader and an image reader, one
/// power loss per path.
fn config(policy: &str, mutant: Option<Mutant>) -> Config {
    let mut c = Config {
        policy: policy.parse().unwrap(),
        mutant,
        writes: 1,
        power_losses: 1,
        ..Config::default()
    };
    if let Some(run) = mutant.and_then(|m| m.facts().power) {
        c.fua_writes = run.fua_writes;
        c.guest_flush = run.guest_flush;
        c.faults = run.faults;
        c.on_error = run.on_error;
    }
    c
}

fn check(c: &Config) -> Verdict {
    explore(c, false)
}

/// The breadth-first check of `c`, with symmetry over identical writers or not.
fn explore(c: &Config, symmetry: bool) -> Verdict {
    let model = CowModel::new(c.spec().expect("valid configuration"), symmetry)
        .with_faults(c.faults)
        .with_power_losses(c.power_losses);
    check::run(&model, &Options::default(), &mut |_| {})
}

#[test]
fn every_policy_keeps_every_invariant_with_the_power_failing_at_every_step() {
    for p in policy::names() {
        for (fua_writes, guest_flush) in [(false, false), (true, false), (false, true)] {
            let c = Config {
                fua_writes,
                guest_flush,
                ..config(p, None)
            };
            let v = check(&c);
            assert!(v.counterexample.is_none(), "{c}: {}", v.summary());
            assert!(v.complete && v.holds(), "{c}: {}", v.summary());
        }
    }
}

#[test]
fn a_power_loss_after_a_fault_keeps_every_invariant_under_either_error_policy() {
    for p in ["snapshot-overlay", "out-of-turn"] {
        for on_error in [ErrorPolicy::BREAK_GUEST_WRITE, ErrorPolicy::BREAK_SNAPSHOT] {
            let c = Config {
                faults: 1,
                on_error,
                ..config(p, None)
            };
            let v = check(&c);
            assert!(v.counterexample.is_none(), "{c}: {}", v.summary());
        }
    }
}

/// Each durability mistake is caught, under every policy that can show it, with a trace no
/// shorter one exists for, in which the power fails.
#[test]
fn each_durability_mutant_is_caught_with_a_shortest_trace_through_a_power_loss() {
    assert_eq!(Mutant::of_power().count(), 6);
    for m in Mutant::of_power() {
        let (policies, _) = catching(m);
        assert!(!policies.is_empty(), "{m}");
        for p in policies {
            let c = config(p, Some(m));
            let v = check(&c);
            let cx = v
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{m} under {p} not caught: {}", v.summary()));
            assert!(v.shortest_verified, "{m} under {p}");
            let spec = c.spec().unwrap();
            assert!(
                cx.steps
                    .iter()
                    .any(|s| matches!(s.event, Event::PowerLost { .. })),
                "{m} under {p}: no power loss in\n{}",
                cx.render(&spec)
            );
        }
    }
}

/// `--power-loss K` is the number of losses a path may take: none at 0 (a mutant that needs
/// one survives), one more at each step up.
#[test]
fn the_power_loss_bound_counts_losses_per_path() {
    let m = Mutant::RecordBeforeDataFlush;
    let at = |k: u8| {
        check(&Config {
            power_losses: k,
            volatile: true,
            ..config("snapshot-overlay", None)
        })
    };
    let (zero, one, two) = (at(0), at(1), at(2));
    assert!(zero.holds() && one.holds() && two.holds());
    assert!(zero.progress.unique < one.progress.unique);
    assert!(one.progress.unique < two.progress.unique);
    let caught = |k: u8| {
        let c = Config {
            power_losses: k,
            volatile: true,
            ..config("snapshot-overlay", None)
        };
        let c = Config {
            mutant: Some(m),
            ..c
        };
        // The configuration refuses a durability mutant without a power loss to show it.
        match c.spec() {
            Err(e) => {
                assert!(e.to_string().contains("--power-loss 1"), "{e}");
                false
            }
            Ok(_) => check(&c).counterexample.is_some(),
        }
    };
    assert!(!caught(0));
    assert!(caught(1));
}

/// Without volatile caches a spec's world keeps nothing durable and no commit step runs.
#[test]
fn without_volatile_caches_nothing_durable_is_kept_and_no_commit_runs() {
    let c = Config {
        writes: 1,
        ..Config::default()
    };
    let spec = c.spec().unwrap();
    assert!(!spec.volatile);
    assert!(World::new(&spec).power.is_none());
    let run = random::run(&spec, 7, true);
    assert!(run.violation.is_none());
    assert!(!run
        .trace
        .iter()
        .any(|s| matches!(s.event, Event::Committed { .. })));
    let cached = Config {
        volatile: true,
        ..c
    };
    let spec = cached.spec().unwrap();
    let run = random::run(&spec, 7, true);
    assert!(run.violation.is_none());
    assert!(run
        .trace
        .iter()
        .any(|s| matches!(s.event, Event::Committed { .. })));
}

/// Cases with volatile caches, FUA writes and flushes now and then, one or two power losses,
/// and a third of them with a fault plan too: every policy holds in each. Case seed s runs
/// under policy s mod 6.
#[test]
fn ten_thousand_random_runs_with_power_losses_keep_every_invariant() {
    let policies = policy::builtins();
    let mut losses = 0;
    for seed in 0..10_000u64 {
        let p = policies[(seed % policies.len() as u64) as usize].clone();
        let (spec, schedule, plan, power) = random::generate_power(seed, p, None, seed % 3 == 0);
        let run = random::run_powered(&spec, World::new(&spec), schedule, &plan, &power, false);
        if run.violation.is_some() {
            let run = random::run_powered(&spec, World::new(&spec), schedule, &plan, &power, true);
            panic!("case seed {seed}:\n{}", run.report(&spec));
        }
        losses += power.at.iter().filter(|n| **n <= run.steps as u64).count();
    }
    // Most plans strike before their run ends.
    assert!(losses > 8_000, "{losses} power losses in 10,000 runs");
}

#[test]
fn random_runs_catch_each_durability_mutant() {
    let policies = policy::builtins();
    for m in Mutant::of_power() {
        let caught = (0..2_000u64).find(|seed| {
            let p = policies[(seed % policies.len() as u64) as usize].clone();
            let (spec, schedule, plan, power) = random::generate_showing_powered(*seed, p, m);
            let run = random::run_powered(&spec, World::new(&spec), schedule, &plan, &power, false);
            run.violation.is_some()
        });
        assert!(caught.is_some(), "{m} not caught in 2,000 seeds");
    }
}

proptest::proptest! {
    #![proptest_config(strategy::config(300, 0xC0C0_0017))]

    #[test]
    fn every_policy_keeps_every_invariant_through_power_losses(case in strategy::power_case()) {
        if let Some((spec, run)) = case.first_failure(None) {
            proptest::prop_assert!(false, "{}", run.report(&spec));
        }
    }
}

/// proptest finds the dm-clone mistake and shrinks its case: the power loss it keeps is no
/// later than the one it started from, and the shrunk case still fails.
#[test]
fn proptest_shrinks_a_durability_failure_to_a_case_that_still_fails() {
    let m = Mutant::RecordBeforeDataFlush;
    let mut config = strategy::config(500, 0xC0C0_0018);
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy::power_case(), |case| {
        proptest::prop_assert!(case.first_failure(Some(m)).is_none());
        Ok(())
    });
    let shrunk: PowerCase = match result {
        Err(TestError::Fail(_, shrunk)) => shrunk,
        other => panic!("{m} not found by proptest: {other:?}"),
    };
    assert!(shrunk.first_failure(Some(m)).is_some());
    assert_eq!(shrunk.power.at.len(), 1, "{:?}", shrunk.power);
    let (spec, run) = shrunk.first_failure(Some(m)).unwrap();
    let report = run.report(&spec);
    assert!(report.contains("power:"), "{report}");
}

/// A designer's own policy: out of turn, with its own commit protocol and recovery.
#[derive(Debug)]
struct Own {
    commit: &'static [CommitStep],
    recovery: Recovery,
}

impl Policy for Own {
    fn name(&self) -> &'static str {
        "own"
    }
    fn write_rule(&self) -> WriteRule {
        WriteRule::Preserve(Target::Destination)
    }
    fn commit(&self, _what: Commit) -> &'static [CommitStep] {
        self.commit
    }
    fn recovery(&self) -> Recovery {
        self.recovery
    }
}

fn own_check(own: Own) -> Verdict {
    let c = config("out-of-turn", None);
    let spec = c.spec().unwrap();
    let spec = cowlab_model::Spec::new(
        spec.geometry,
        Arc::new(own),
        spec.order,
        None,
        spec.workload.clone(),
    )
    .unwrap()
    .with_volatile_caches();
    let model = CowModel::new(spec, false).with_power_losses(1);
    check::run(&model, &Options::default(), &mut |_| {})
}

/// The commit protocol is the policy's answer: the data-then-record protocol holds, one
/// without the data flush is caught, and so is one without any commit.
#[test]
fn a_policys_own_commit_protocol_is_what_the_engine_runs() {
    use CommitStep::*;
    let own = |commit| Own {
        commit,
        recovery: Recovery::Resume,
    };
    assert!(own_check(own(&[FlushData, WriteRecord, FlushMetadata])).holds());
    assert!(own_check(own(&[WriteRecord, FlushMetadata]))
        .counterexample
        .is_some());
    assert!(own_check(own(&[])).counterexample.is_some());
}

/// Recovery is the policy's answer too: declaring the snapshot invalid after every power
/// loss keeps every invariant even with a protocol that commits nothing (an invalid
/// snapshot serves no image), and a run that loses power ends with the copy failed.
#[test]
fn a_policy_that_invalidates_on_recovery_needs_no_commit() {
    let own = || Own {
        commit: &[],
        recovery: Recovery::Invalidate,
    };
    assert!(own_check(own()).holds());
    let spec = cowlab_model::Spec::new(
        config("out-of-turn", None).spec().unwrap().geometry,
        Arc::new(own()),
        cowlab_model::CopyOrder::Sequential,
        None,
        config("out-of-turn", None).workload(&config("out-of-turn", None).spec().unwrap().geometry),
    )
    .unwrap()
    .with_volatile_caches();
    let power = PowerPlan {
        at: vec![3],
        seed: 1,
    };
    let none = Default::default();
    let run = random::run_powered(&spec, World::new(&spec), 5, &none, &power, true);
    assert!(run.violation.is_none());
    assert!(run.world.meta.copy_failed);
}

/// Symmetry over identical writers renames the writes held in volatile caches, on stable
/// media and in what must survive: the same verdicts with fewer states, and each durability
/// mistake still caught.
#[test]
fn symmetry_keeps_the_verdicts_with_power_losses() {
    let sym = |c: &Config| explore(c, true);
    for p in policy::names() {
        let c = config(p, None);
        let (full, reduced) = (check(&c), sym(&c));
        assert!(
            full.holds() && reduced.holds(),
            "{p}: {}",
            reduced.summary()
        );
        assert!(
            reduced.progress.unique < full.progress.unique,
            "{p}: {} with symmetry, {} without",
            reduced.progress.unique,
            full.progress.unique
        );
    }
    for m in Mutant::of_power() {
        let c = config("snapshot-overlay", Some(m));
        assert!(sym(&c).counterexample.is_some(), "{m}");
    }
}
