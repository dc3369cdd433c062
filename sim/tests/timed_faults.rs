//! The timed driver under fault plans: failed I/O, a full store and copier crashes keep
//! every invariant for every policy and error policy, the metrics count what happened, and
//! every fault mutant is caught by some seeded run.

use cowlab_model::fault::FaultPlan;
use cowlab_model::{policy, Invariant, Mutant};
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::device::DeviceModel;
use cowlab_sim::driver::simulate_verified;
use cowlab_sim::verify::{EveryStep, Whole};
use cowlab_sim::workload::Stop;
use cowlab_sim::{simulate, Metrics, SimOutcome};

mod common;
use common::{errors, small, KIB};

/// `small` with a fault plan and an error policy.
fn faulty(policy: &str, seed: u64, plan: FaultPlan, on_error: &str) -> SimConfig {
    SimConfig {
        faults: plan,
        on_error: cowlab_sim::faults::parse_error_policy(on_error).unwrap(),
        ..small(policy, seed)
    }
}

fn run(c: &SimConfig) -> SimOutcome {
    simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A run that must keep every invariant: its metrics.
fn clean(c: &SimConfig, what: &str) -> Metrics {
    let o = run(c);
    if let Some(f) = &o.failure {
        panic!(
            "{what}: {}\nplan: {}\n{}",
            f.violation,
            c.faults,
            f.last_steps.join("\n")
        );
    }
    assert_eq!(o.metrics.invariants, "checked", "{what}");
    o.metrics
}

const ON_ERROR: [&str; 3] = ["break-guest-write", "break-snapshot", "retry:2"];

/// The plans every policy is run under: an error by count on each device, a block range, a
/// probability, a small store, a crash, and all of them together.
fn plans(seed: u64) -> Vec<(&'static str, FaultPlan)> {
    let mut all = vec![
        ("source:nth=5", errors(&["source:nth=5"])),
        ("destination:nth=2", errors(&["destination:nth=2"])),
        ("snapshot:nth=1", errors(&["snapshot:nth=1"])),
        ("cache:nth=1", errors(&["cache:nth=1"])),
        ("source:blocks=20..24", errors(&["source:blocks=20..24"])),
        (
            "snapshot:p=0.2",
            FaultPlan {
                seed,
                ..errors(&["snapshot:p=0.2", "cache:p=0.2", "destination:p=0.02"])
            },
        ),
        (
            "store of 4 blocks",
            FaultPlan {
                store_blocks: Some(4),
                ..FaultPlan::default()
            },
        ),
        (
            "crash at 3 and 8",
            FaultPlan {
                crashes: vec![3, 8],
                ..FaultPlan::default()
            },
        ),
    ];
    let mut together = errors(&["source:nth=7", "snapshot:nth=2", "destination:nth=3"]);
    together.store_blocks = Some(8);
    together.crashes = vec![4];
    all.push(("all together", together));
    all
}

#[test]
fn every_policy_keeps_every_invariant_under_faults() {
    let mut injected = 0;
    let mut runs = 0;
    for p in policy::names() {
        for on_error in ON_ERROR {
            for seed in 0..3 {
                for (name, plan) in plans(seed) {
                    let c = faulty(p, seed, plan, on_error);
                    let what = format!("{p}, {on_error}, seed {seed}, {name}");
                    let m = clean(&c, &what);
                    assert!(m.failed_copies <= 1, "{what}: {m:?}");
                    if m.failed_copies == 1 {
                        assert!(m.io_errors >= 1, "{what}: a copy fails of an error: {m:?}");
                    }
                    assert_eq!(m.restarts, c.faults.crashes.len() as u64, "{what}");
                    injected += m.io_errors;
                    runs += 1;
                }
            }
        }
    }
    assert_eq!(runs, 6 * 3 * 3 * 9);
    assert!(
        injected > runs as u64,
        "the plans inject errors: {injected}"
    );
}

#[test]
fn a_failed_copier_write_fails_the_copy_under_break_guest_write() {
    // The copier's first destination write fails: there is no guest write to break, so the
    // copy fails; the writes go on.
    for p in policy::names() {
        let c = faulty(p, 1, errors(&["destination:nth=1"]), "break-guest-write");
        let mut quiet = c.clone();
        quiet.workload.stop = Stop::Writes(0);
        let m = clean(&quiet, p);
        assert_eq!((m.failed_copies, m.failed_writes), (1, 0), "{p}: {m:?}");
        assert_eq!((m.io_errors, m.retries), (1, 0), "{p}: {m:?}");
        let m = clean(&c, p);
        assert_eq!(m.failed_copies, 1, "{p}: {m:?}");
    }
}

#[test]
fn a_failed_snapshot_write_fails_the_guest_write_not_the_copy() {
    for p in ["snapshot-overlay", "snapshot-redirect"] {
        for seed in 0..3 {
            let c = faulty(p, seed, errors(&["snapshot:nth=1"]), "break-guest-write");
            let m = clean(&c, p);
            assert_eq!(m.io_errors, 1, "{p}, seed {seed}: {m:?}");
            assert!(m.failed_writes >= 1, "{p}, seed {seed}: {m:?}");
            assert_eq!(m.failed_copies, 0, "{p}, seed {seed}: {m:?}");
            // The same error under break-snapshot fails the copy and no write.
            let c = faulty(p, seed, errors(&["snapshot:nth=1"]), "break-snapshot");
            let m = clean(&c, p);
            assert_eq!((m.failed_copies, m.failed_writes), (1, 0), "{p}: {m:?}");
        }
    }
}

#[test]
fn a_single_error_is_retried_away() {
    for p in policy::names() {
        for dev in ["source", "destination", "snapshot"] {
            let plan = errors(&[&format!("{dev}:nth=2")]);
            let mut c = faulty(p, 2, plan, "retry:2");
            // No reads: a failed read is neither retried nor a failed write.
            c.workload.read_fraction = 0.0;
            let m = clean(&c, &format!("{p}, {dev}"));
            if m.io_errors == 0 {
                // The policy never uses this device (snapshot under out-of-turn).
                continue;
            }
            assert_eq!(m.failed_copies, 0, "{p}, {dev}: {m:?}");
            // A guest write's own I/O to the source is not the copy's: not retried.
            if m.retries == 0 {
                assert_eq!((dev, m.failed_writes), ("source", 1), "{p}: {m:?}");
            } else {
                assert_eq!((m.retries, m.failed_writes), (1, 0), "{p}, {dev}: {m:?}");
            }
        }
    }
}

#[test]
fn the_copier_reads_are_retried_with_a_doubling_backoff() {
    // Three errors on the copier's first three source reads; with no writes the copier is
    // alone, and each retry waits 1, 2 then 4 ms before the segment is read again.
    let mut c = faulty(
        "snapshot-overlay",
        0,
        errors(&["source:nth=1", "source:nth=2", "source:nth=3"]),
        "retry:3",
    );
    c.workload.stop = Stop::Writes(0);
    let m = clean(&c, "retry:3");
    assert_eq!(
        (m.retries, m.failed_copies, m.io_errors),
        (3, 0, 3),
        "{m:?}"
    );
    c.faults = FaultPlan::default();
    let plain = clean(&c, "no faults");
    // Each failed read costs its time (a 16 KiB read that seeks back to the segment's
    // start) and its backoff; the write of the failed copy is never issued.
    let read = DeviceModel::nvme().service_ns(16 * KIB, false);
    let extra = (m.copy_seconds * 1e9).round() as u64 - (plain.copy_seconds * 1e9).round() as u64;
    assert_eq!(extra, 7_000_000 + 3 * read);
}

#[test]
fn a_crash_costs_its_restart_time_and_the_copy_completes() {
    for p in policy::names() {
        for seed in 0..3 {
            let mut c = faulty(p, seed, FaultPlan::default(), "break-guest-write");
            c.faults.crashes = vec![6];
            c.restart_ns = 5_000_000;
            let m = clean(&c, p);
            assert_eq!(m.restarts, 1, "{p}: {m:?}");
            assert_eq!(m.restart_seconds, 0.005, "{p}: {m:?}");
            assert_eq!((m.failed_copies, m.io_errors), (0, 0), "{p}: {m:?}");
            c.faults = FaultPlan::default();
            let plain = clean(&c, p);
            assert!(m.copy_seconds >= plain.copy_seconds, "{p}");
        }
    }
}

#[test]
fn a_full_store_breaks_what_the_error_policy_says() {
    for p in ["snapshot-overlay", "snapshot-redirect", "out-of-turn-cache"] {
        for on_error in ON_ERROR {
            let plan = FaultPlan {
                store_blocks: Some(2),
                ..FaultPlan::default()
            };
            let m = clean(&faulty(p, 4, plan, on_error), p);
            assert!(m.io_errors >= 1, "{p}, {on_error}: {m:?}");
            // A full store stays full: it is never retried.
            assert_eq!(m.retries, 0, "{p}, {on_error}: {m:?}");
            match on_error {
                "break-snapshot" => assert_eq!(m.failed_copies, 1, "{p}: {m:?}"),
                _ => assert!(m.failed_writes >= 1, "{p}, {on_error}: {m:?}"),
            }
        }
    }
}

#[test]
fn the_figures_under_faults_do_not_depend_on_the_check_level() {
    for p in policy::names() {
        for on_error in ON_ERROR {
            for (name, plan) in plans(5) {
                let mut c = faulty(p, 5, plan, on_error);
                let checked = clean(&c, name);
                c.check = Some(CheckLevel::Off);
                let unchecked = run(&c).metrics;
                assert_eq!(unchecked.invariants, "not-checked");
                let strip = |m: Metrics| Metrics {
                    invariants: String::new(),
                    ..m
                };
                assert_eq!(strip(checked), strip(unchecked), "{p}, {on_error}, {name}");
            }
        }
    }
}

#[test]
fn a_fault_plan_replays_the_same_run() {
    let json = |seed| {
        let plan = FaultPlan {
            seed,
            crashes: vec![5],
            ..errors(&["snapshot:p=0.3", "source:p=0.05"])
        };
        let c = faulty("snapshot-overlay", 1, plan, "retry:1");
        serde_json::to_string(&run(&c).metrics).unwrap()
    };
    assert_eq!(json(3), json(3));
    assert_ne!(json(3), json(4));
}

#[test]
fn a_run_without_faults_measures_no_faults() {
    for p in policy::names() {
        let m = clean(&small(p, 1), p);
        let counts = (m.failed_copies, m.failed_writes, m.retries, m.io_errors);
        assert_eq!(counts, (0, 0, 0, 0), "{p}");
        assert_eq!((m.restarts, m.restart_seconds), (0, 0.0), "{p}");
    }
}

#[test]
fn every_fault_mutant_is_caught_by_seeded_timed_runs() {
    for m in Mutant::of_faults() {
        let (p, on_error, plan) = match m {
            Mutant::FailedPreserveKeepsMapBit => (
                "snapshot-redirect",
                "break-guest-write",
                errors(&["snapshot:nth=1"]),
            ),
            Mutant::HeldWritesHangOnCopyError => (
                "snapshot-overlay",
                "break-snapshot",
                errors(&["snapshot:nth=1"]),
            ),
            Mutant::CursorBeforeData => (
                "snapshot-redirect",
                "break-guest-write",
                FaultPlan {
                    // After the first claim (step 1), before the segment's copy.
                    crashes: vec![2],
                    ..FaultPlan::default()
                },
            ),
            Mutant::BrokenImageServed => (
                "snapshot-redirect",
                "break-snapshot",
                errors(&["snapshot:nth=1"]),
            ),
            Mutant::FailedWriteApplied => (
                "snapshot-redirect",
                "break-guest-write",
                errors(&["snapshot:nth=1"]),
            ),
            _ => unreachable!("{m} needs no faults"),
        };
        let caught = (0..20).find_map(|seed| {
            let mut c = faulty(p, seed, plan.clone(), on_error);
            c.mutant = Some(m);
            run(&c).failure.map(|f| (seed, f))
        });
        let (seed, f) = caught.unwrap_or_else(|| panic!("{m} not caught in 20 seeds"));
        // A hang is a progress violation; every other mistake breaks a safety invariant.
        match m {
            Mutant::HeldWritesHangOnCopyError => {
                assert_eq!(f.violation.invariant, Invariant::Progress, "{m}")
            }
            _ => assert_ne!(
                f.violation.invariant,
                Invariant::Progress,
                "{m} (seed {seed}): {}",
                f.violation
            ),
        }
        assert!(!f.last_steps.is_empty(), "{m}: the steps before it");
        // The same run without the mutant keeps every invariant.
        clean(&faulty(p, seed, plan, on_error), &format!("{m} off"));
    }
}

#[test]
fn checking_what_a_step_touched_finds_what_checking_everything_finds_under_faults() {
    let mut compared = 0;
    let mut caught = 0;
    let mutants = [None].into_iter().chain(Mutant::of_faults().map(Some));
    for m in mutants {
        for on_error in ["break-guest-write", "break-snapshot"] {
            for (name, plan) in plans(1) {
                for seed in 0..2 {
                    let mut c = faulty("snapshot-redirect", seed, plan.clone(), on_error);
                    c.mutant = m;
                    let touched = simulate_verified(&c, EveryStep::default()).unwrap();
                    let whole = simulate_verified(&c, Whole).unwrap();
                    let at = |o: &SimOutcome| o.failure.as_ref().map(|f| (f.at_ns, o.steps));
                    let what = format!("{m:?}, {on_error}, {name}, seed {seed}");
                    assert_eq!(at(&touched), at(&whole), "{what}");
                    caught += touched.failure.is_some() as u32;
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 6 * 2 * 9 * 2);
    assert!(caught > 10, "the mutants break invariants: {caught}");
}
