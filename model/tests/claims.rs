//! The claim structure the copier's workers share (`model/src/progress.rs`, the chunks in
//! flight): with two workers every policy keeps every invariant, also when a task is handed
//! back or an I/O fails; every mistake of the claim structure in the catalogue is caught by
//! the exhaustive checker with its shortest counterexample, and by the random driver;
//! symmetry over the workers keeps the verdicts with fewer states. (With one worker nothing
//! changes: the pinned state counts of `model/tests/exhaustive.rs` say so.)

use cowlab_model::exhaustive::check::{self, Options, Verdict};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::fault::{Break, ErrorPolicy};
use cowlab_model::{policy, random, Invariant, Mutant};

mod common;
use common::catching;

fn config(policy: &str, mutant: Option<Mutant>) -> Config {
    Config {
        policy: policy.parse().unwrap(),
        mutant,
        ..Config::default()
    }
}

/// The smallest configuration that shows a mutant of the claim structure: its catalogue row.
fn showing(m: Mutant, policy: &str) -> Config {
    let run = m.facts().claims.expect("a mistake of the claim structure");
    let c = config(policy, Some(m));
    let c = match run.any_writes {
        true => Config {
            any_writes: true,
            writers: 1,
            writes: 1,
            readers: 0,
            image_readers: 0,
            ..c
        },
        false => c,
    };
    Config {
        workers: run.workers,
        hand_backs: run.hand_backs,
        faults: run.faults,
        on_error: ErrorPolicy {
            retries: 1,
            then: Break::GuestWrite,
        },
        ..c
    }
}

fn model(c: &Config, symmetry: bool) -> CowModel {
    CowModel::new(c.spec().expect("valid configuration"), symmetry)
        .with_faults(c.faults)
        .with_hand_backs(c.hand_backs)
}

fn bfs(m: &CowModel) -> Verdict {
    check::run(m, &Options::default(), &mut |_| {})
}

fn to_depth(m: &CowModel, depth: usize) -> Verdict {
    let options = Options {
        max_depth: Some(depth),
        shortest: false,
        ..Options::default()
    };
    check::run(m, &options, &mut |_| {})
}

#[test]
fn two_workers_keep_every_invariant_under_every_policy() {
    for p in policy::names() {
        let c = Config {
            workers: 2,
            ..config(p, None)
        };
        let v = bfs(&model(&c, true));
        assert!(v.holds() && v.complete, "{p}: {}", v.summary());
    }
}

#[test]
fn two_workers_keep_every_invariant_when_a_task_is_handed_back_or_fails() {
    for p in ["snapshot-redirect", "out-of-turn"] {
        let handed = Config {
            workers: 2,
            hand_backs: 1,
            ..config(p, None)
        };
        let failing = Config {
            workers: 2,
            faults: 1,
            on_error: ErrorPolicy {
                retries: 1,
                then: Break::GuestWrite,
            },
            ..config(p, None)
        };
        for c in [handed, failing] {
            let v = bfs(&model(&c, true));
            assert!(v.holds() && v.complete, "{c}: {}", v.summary());
        }
    }
}

#[test]
fn every_mistake_of_the_claim_structure_is_caught_with_the_shortest_counterexample() {
    let mut mutants = 0;
    for m in Mutant::of_claims() {
        mutants += 1;
        let (policies, cow) = catching(m);
        assert!(!policies.is_empty(), "{m}");
        for p in policies {
            let c = Config {
                cow_blocks: cow,
                ..showing(m, p)
            };
            let model = model(&c, c.workers > 1);
            let v = bfs(&model);
            let cx = v
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{m} under {p} not caught: {}", v.summary()));
            assert!(v.shortest_verified, "{m} under {p}");
            let violation = cx.violation.as_ref().expect("the broken invariant");
            match m {
                // A hang: the progress invariant names who waits for what.
                Mutant::HandBackWithoutWake => {
                    assert_eq!(violation.invariant, Invariant::Progress, "{m} under {p}");
                    assert!(violation.detail.contains("deadlock"), "{violation}");
                }
                _ => assert_ne!(violation.invariant, Invariant::Progress, "{m} under {p}"),
            }
            // Shortest, checked independently: nothing within one step less.
            let n = cx.steps.len();
            assert!(to_depth(&model, n - 1).counterexample.is_none(), "{m} {p}");
            assert_eq!(
                to_depth(&model, n).counterexample.map(|c| c.steps.len()),
                Some(n),
                "{m} under {p}"
            );
            // And harmless without the mistake, on the same configuration.
            let right = Config { mutant: None, ..c };
            let v = bfs(&self::model(&right, right.workers > 1));
            assert!(v.holds(), "{right}: {}", v.summary());
        }
    }
    assert_eq!(mutants, 5);
}

#[test]
fn two_tasks_on_one_region_need_two_workers() {
    // With one worker a claim split in two steps is harmless: nobody takes the segment in
    // between; the configuration is refused with the reason.
    let c = Config {
        workers: 1,
        ..showing(Mutant::ClaimWithoutRecheck, "out-of-turn")
    };
    let e = c.spec().unwrap_err().to_string();
    assert!(e.contains("--workers 2"), "{e}");
    let c = Config {
        hand_backs: 0,
        ..showing(Mutant::HandBackWithoutWake, "out-of-turn")
    };
    let e = c.spec().unwrap_err().to_string();
    assert!(e.contains("--hand-backs 1"), "{e}");
    let c = Config {
        workers: 0,
        ..config("out-of-turn", None)
    };
    let e = c.spec().unwrap_err().to_string();
    assert!(e.contains("--workers must be from 1 to 8, got 0"), "{e}");
}

#[test]
fn symmetry_over_workers_keeps_the_verdicts_with_fewer_states() {
    for p in ["snapshot-overlay", "out-of-turn"] {
        let c = Config {
            workers: 2,
            writers: 1,
            ..config(p, None)
        };
        let plain = bfs(&model(&c, false));
        let reduced = bfs(&model(&c, true));
        assert!(plain.holds() && reduced.holds(), "{p}");
        assert_eq!(plain.reached, reduced.reached, "{p}");
        assert!(
            reduced.progress.unique < plain.progress.unique,
            "{p}: {} vs {}",
            reduced.progress.unique,
            plain.progress.unique
        );
    }
    let c = showing(Mutant::ClaimWithoutRecheck, "out-of-turn");
    let plain = bfs(&model(&c, false)).counterexample.expect("caught");
    let reduced = bfs(&model(&c, true)).counterexample.expect("caught");
    assert_eq!(plain.steps.len(), reduced.steps.len());
    assert_eq!(
        plain.violation.map(|v| v.invariant),
        reduced.violation.map(|v| v.invariant)
    );
}

const SEEDS: u64 = 3000;

#[test]
fn several_workers_keep_every_invariant_over_random_cases_with_tasks_handed_back() {
    for p in policy::builtins() {
        for seed in 0..SEEDS / 3 {
            let (spec, schedule) = random::generate(seed, p.clone(), None);
            let spec = spec.with_workers(2 + (seed % 3) as u32).unwrap();
            let spec = match seed % 2 {
                0 => spec.with_hand_backs(),
                _ => spec,
            };
            let run = random::run(&spec, schedule, false);
            if run.violation.is_some() {
                let replay = random::run(&spec, schedule, true);
                panic!("case seed {seed} failed:\n{}", replay.report(&spec));
            }
            assert!(run.world.finished(), "case seed {seed} did not finish");
        }
    }
}

#[test]
fn every_mistake_of_the_claim_structure_is_caught_by_the_random_driver() {
    let policies = policy::builtins();
    for m in Mutant::of_claims() {
        let shows = |p: &dyn cowlab_model::Policy| (m.facts().shows_under)(p);
        let caught = (0..SEEDS).find_map(|seed| {
            let p = policies[(seed % policies.len() as u64) as usize].clone();
            if !shows(p.as_ref()) {
                return None;
            }
            let (spec, schedule, plan) = random::generate_showing(seed, p, m);
            let needs = m.facts().claims.expect("of the claim structure");
            assert!(spec.workers() >= needs.workers.max(2));
            assert_eq!(spec.hand_backs, needs.hand_backs > 0);
            let world = cowlab_model::World::new(&spec);
            random::run_faulty(&spec, world, schedule, &plan, true)
                .violation
                .map(|v| (seed, v))
        });
        let (seed, v) = caught.unwrap_or_else(|| panic!("{m} was not caught in {SEEDS} seeds"));
        if m != Mutant::HandBackWithoutWake {
            assert_ne!(v.invariant, Invariant::Progress, "{m} (seed {seed}): {v}");
        }
    }
}
