//! The random driver over generated cases: every policy keeps every invariant, and every
//! mutant of the catalogue is caught.

use cowlab_model::{policy, random, Invariant, Mutant};

const SEEDS: u64 = 5000;

#[test]
fn every_policy_keeps_every_invariant_over_generated_cases() {
    for p in policy::builtins() {
        for seed in 0..SEEDS {
            let (spec, schedule) = random::generate(seed, p.clone(), None);
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
fn every_mutant_is_caught_by_the_random_driver() {
    let policies = policy::builtins();
    for m in Mutant::fault_free() {
        let caught = (0..SEEDS).find_map(|seed| {
            let p = policies[(seed % policies.len() as u64) as usize].clone();
            let (spec, schedule) = random::generate(seed, p, Some(m));
            random::run(&spec, schedule, true)
                .violation
                .map(|v| (seed, v))
        });
        let (seed, v) = caught.unwrap_or_else(|| panic!("{m} was not caught in {SEEDS} seeds"));
        assert_ne!(v.invariant, Invariant::Progress, "{m} (seed {seed}): {v}");
    }
}

#[test]
fn same_seed_gives_the_same_trace() {
    let p = policy::by_name("snapshot-overlay").unwrap();
    for seed in [1, 7, 42] {
        let (spec, schedule) = random::generate(seed, p.clone(), Some(Mutant::CheckThenAct));
        let a = random::run(&spec, schedule, true);
        let b = random::run(&spec, schedule, true);
        assert_eq!(a.report(&spec), b.report(&spec));
        assert_eq!(a.world, b.world);
    }
}

#[test]
fn a_failure_report_names_seed_configuration_trace_and_invariant() {
    let p = policy::by_name("snapshot-redirect").unwrap();
    let (spec, run) = (0..SEEDS)
        .find_map(|seed| {
            let (spec, schedule) =
                random::generate(seed, p.clone(), Some(Mutant::ApplyBeforePreserve));
            let run = random::run(&spec, schedule, true);
            run.violation.is_some().then_some((spec, run))
        })
        .expect("apply-before-preserve is caught");
    let report = run.report(&spec);
    let seed = format!("scheduler seed: {}", run.seed);
    for needle in [
        seed.as_str(),
        "geometry:",
        "policy:   snapshot-redirect",
        "mutant:   apply-before-preserve",
        "   1. ",
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }
    // The last line names the invariant, then where it broke: the write reached the source
    // before its chunk was preserved, and the image, read from the source, shows it.
    let last = report.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("point-in-time image violated: image served from source, block "),
        "{report}"
    );
}
