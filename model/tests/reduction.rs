//! The reduction (readers' reads judged where they stand, finished writes renamed) against
//! the full exploration: the same verdicts and `sometimes` properties on every policy and
//! small configuration, every mutant still caught with a counterexample that the full
//! engine replays step by step, a deadlock behind a waiting reader still found, and the
//! full exploration's state counts untouched (`exhaustive.rs` pins them).

use cowlab_model::exhaustive::check::{self, Options, Verdict};
use cowlab_model::exhaustive::{reduction, Config, CowModel};
use cowlab_model::invariants::check_safety;
use cowlab_model::{policy, Mutant, World};

mod common;
use common::catching;

fn model(c: &Config, reduced: bool) -> CowModel {
    CowModel::new(c.spec().expect("valid configuration"), false).with_reduction(reduced)
}

fn bfs(m: &CowModel) -> Verdict {
    check::run(m, &Options::default(), &mut |_| {})
}

/// Small configurations with readers of both kinds, fixed and chosen ranges.
fn small_configs(policy: &str) -> Vec<Config> {
    let base = Config {
        policy: policy.parse().unwrap(),
        ..Config::default()
    };
    vec![
        base.clone(),
        Config {
            readers: 2,
            image_readers: 2,
            writes: 1,
            ..base.clone()
        },
        Config {
            writers: 1,
            writes: 1,
            any_writes: true,
            ..base.clone()
        },
        Config {
            writers: 2,
            writes: 1,
            segments: 2,
            any_writes: true,
            ..base.clone()
        },
        Config {
            cow_blocks: 2,
            segment_blocks: 4,
            segments: 2,
            writers: 1,
            writes: 1,
            any_writes: true,
            read_blocks: Some(3),
            ..base
        },
    ]
}

#[test]
fn reduced_and_full_explorations_agree_on_every_policy_and_small_configuration() {
    for p in policy::builtins() {
        for c in small_configs(p.name()) {
            let full = bfs(&model(&c, false));
            let reduced = bfs(&model(&c, true));
            assert!(full.complete && reduced.complete, "{c}");
            assert!(full.holds(), "{c}: {}", full.summary());
            assert_eq!(full.holds(), reduced.holds(), "{c}: {}", reduced.summary());
            assert_eq!(full.reached, reduced.reached, "{c}");
            assert_eq!(full.unreached, reduced.unreached, "{c}");
            assert!(
                reduced.progress.unique < full.progress.unique,
                "{c}: {} states reduced, {} full",
                reduced.progress.unique,
                full.progress.unique
            );
        }
    }
}

#[test]
fn every_mutant_is_caught_with_a_counterexample_the_full_engine_replays() {
    for m in Mutant::fault_free() {
        let (policies, cow) = catching(m);
        for p in policies {
            let c = Config {
                policy: p.parse().unwrap(),
                mutant: Some(m),
                cow_blocks: cow,
                ..Config::default()
            };
            let full = bfs(&model(&c, false));
            let reduced = bfs(&model(&c, true));
            assert!(!full.holds(), "{m} under {p}: {}", full.summary());
            let cx = reduced
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{m} under {p} escapes: {}", reduced.summary()));
            // Each step of the trace is one step of the engine, taken as the full model
            // would take it: the process can step, and the last state breaks an invariant.
            let spec = c.spec().unwrap();
            let mut world = World::new(&spec);
            for (i, s) in cx.steps.iter().enumerate() {
                assert!(
                    world.enabled(&spec, s.pid),
                    "{m} under {p}: step {} of a process that cannot step",
                    i + 1
                );
                let event = world.step(&spec, s.pid);
                assert_eq!(event, s.event, "{m} under {p}: step {}", i + 1);
            }
            assert_eq!(world, cx.last, "{m} under {p}");
            let broken = check_safety(&spec, &world).err().or(cx.violation.clone());
            assert!(
                broken.is_some(),
                "{m} under {p}: the last state breaks nothing"
            );
        }
    }
}

/// The copier's next segment has a chunk in flight that nobody releases, and a reader whose
/// read is deferred could still step: once the copier cannot, the read is offered, and the
/// state after it is the deadlock.
#[test]
fn a_deadlock_behind_a_deferred_read_is_still_found() {
    let c = Config {
        writers: 0,
        readers: 1,
        image_readers: 1,
        ..Config::default()
    };
    let spec = c.spec().unwrap();
    let mut stuck = World::new(&spec);
    stuck.meta.claim(0);
    let m = CowModel::new(spec, false)
        .with_init(stuck)
        .with_reduction(true);
    let o = bfs(&m);
    let cx = o.counterexample.expect("a deadlock");
    let v = cx.violation.expect("the deadlock, in words");
    assert!(
        v.to_string()
            .starts_with("progress violated: deadlock: copier waits"),
        "{v}"
    );
}

#[test]
fn injected_faults_turn_the_reduction_off() {
    let c = Config {
        faults: 1,
        ..Config::default()
    };
    let m = CowModel::new(c.spec().unwrap(), false)
        .with_faults(1)
        .with_reduction(true);
    assert!(!m.reduced());
    assert!(model(&Config::default(), true).reduced());
}

/// A write its writer has finished gets the first id past the spec's writes; a write still
/// in progress keeps its own; renaming twice changes nothing more.
#[test]
fn only_finished_writes_are_renamed() {
    let c = Config {
        writers: 2,
        writes: 1,
        readers: 0,
        image_readers: 0,
        policy: "offline".parse().unwrap(),
        ..Config::default()
    };
    let spec = c.spec().unwrap();
    let mut w = World::new(&spec);
    // Offline: the copy runs to completion first, then each write goes to the source.
    while !w.copier_finished() {
        w.step(&spec, 0);
    }
    let (first, second) = (1, 2);
    let count = spec.write_count() as u32;
    let written = |w: &World| w.disk.device(cowlab_model::Device::Source).to_vec();
    w.step(&spec, first);
    assert!(w.procs[first].finished());
    // The first writer's write is finished, the second's not yet issued: one renamed.
    let mut one = w.clone();
    reduction::retire_writes(&spec, &mut one);
    let stamps: Vec<u32> = written(&one).into_iter().filter(|s| *s != 0).collect();
    assert!(
        !stamps.is_empty() && stamps.iter().all(|s| *s == count + 1),
        "{stamps:?}"
    );
    w.step(&spec, second);
    let before = w.clone();
    reduction::retire_writes(&spec, &mut w);
    // Both writers are finished, so both writes are renamed, in the order their stamps
    // first appear on the source.
    let renamed: Vec<u32> = written(&w).into_iter().filter(|s| *s != 0).collect();
    assert!(renamed.iter().all(|s| *s > count), "{renamed:?}");
    assert_ne!(written(&before), written(&w));
    let again = {
        let mut x = w.clone();
        reduction::retire_writes(&spec, &mut x);
        x
    };
    assert_eq!(again, w);
}
