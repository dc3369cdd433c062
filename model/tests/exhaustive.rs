//! The exhaustive driver: every policy passes on the default configuration, every mutant is
//! caught with the shortest counterexample, symmetry reduction keeps the verdicts with fewer
//! states, `sometimes` properties fail when never reached, simulation replays by seed.

use cowlab_model::exhaustive::check::{self, Options, Strategy, Verdict};
use cowlab_model::exhaustive::{self as ex, symmetry, Config, CowModel};
use cowlab_model::random::below;
use cowlab_model::workload::{Request, Role, Workload};
use cowlab_model::{policy, CopyOrder, Geometry, Invariant, Mutant, Spec, World};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::catching;

fn config(policy: &str, mutant: Option<Mutant>) -> Config {
    Config {
        policy: policy.parse().unwrap(),
        mutant,
        ..Config::default()
    }
}

fn model(c: &Config, symmetry: bool) -> CowModel {
    CowModel::new(c.spec().expect("valid configuration"), symmetry)
}

fn bfs(m: &CowModel) -> Verdict {
    check::run(m, &Options::default(), &mut |_| {})
}

fn with(m: &CowModel, options: Options) -> Verdict {
    check::run(m, &options, &mut |_| {})
}

#[test]
fn the_default_configuration_is_the_issues() {
    let c = Config::default();
    assert_eq!((c.segments, c.segment_blocks, c.cow_blocks), (3, 2, 1));
    assert_eq!(
        (c.writers, c.writes, c.readers, c.image_readers),
        (2, 2, 1, 1)
    );
    let spec = c.spec().unwrap();
    // The writers' writes overlap each other, and each spans two segments.
    let w0 = spec.write_blocks(0);
    let w2 = spec.write_blocks(2);
    assert_eq!(w0, w2);
    let g = &spec.geometry;
    assert_ne!(
        g.segment_of_chunk(g.chunk_of(w0.start)),
        g.segment_of_chunk(g.chunk_of(w0.end - 1))
    );
}

#[test]
fn every_policy_passes_every_property_on_the_issues_configuration() {
    for p in policy::names() {
        let m = model(&config(p, None), false);
        let o = bfs(&m);
        assert!(o.counterexample.is_none(), "{p}: {}", o.summary());
        assert!(o.complete, "{p}: exploration stopped early");
        assert!(o.unreached.is_empty(), "{p}: {}", o.summary());
        let expected = if p == "offline" { 2 } else { 3 };
        assert_eq!(o.reached.len(), expected, "{p}: reached {:?}", o.reached);
        // The verdict a user reads says so.
        let summary = o.summary();
        assert!(
            summary.starts_with("OK: every property holds; "),
            "{p}: {summary}"
        );
        assert!(o.progress.unique > 100, "{p}: {summary}");
    }
}

/// The invariant the shortest counterexample of a mutant breaks under a policy, and where:
/// the violation's detail up to its stamps (the stamp found names a write, and which
/// writer's write BFS meets first is not part of the verdict).
fn expected_violation(m: Mutant, p: &str) -> (Invariant, &'static str) {
    use Invariant::*;
    match m {
        Mutant::ApplyBeforePreserve => (PointInTimeImage, "image served from source, block 1"),
        Mutant::CheckThenAct | Mutant::PreserveTwice => {
            (MapSoundness, "chunk 1 was preserved twice")
        }
        Mutant::MarkBeforeCopy => (
            MapSoundness,
            "chunk 0 marked copied, but destination, block 0",
        ),
        Mutant::ReleaseOutOfOrder => (ReadYourWrites, "reader 1 read source, block 1"),
        Mutant::SkipOverlay => match p {
            "next-range" => (
                PointInTimeCopy,
                "copy complete but destination differs, block 4",
            ),
            _ => (
                PointInTimeCopy,
                "copy complete but destination differs, block 2",
            ),
        },
        Mutant::ImageReadDuringPreserve => match p {
            "offline" => (PointInTimeImage, "image reader 1 read source, block 2"),
            _ => (PointInTimeImage, "image reader 1 read source, block 1"),
        },
        Mutant::CopierIgnoresInFlight => (
            MapSoundness,
            "chunk 1 marked copied, but destination, block 1",
        ),
        Mutant::PartialChunkCopy => match p {
            "out-of-turn" => (
                MapSoundness,
                "chunk 0 marked copied, but destination, block 0",
            ),
            "out-of-turn-cache" => (
                MapSoundness,
                "chunk 0 in the snapshot map, but cache, block 0",
            ),
            _ => (
                MapSoundness,
                "chunk 0 in the snapshot map, but snapshot, block 0",
            ),
        },
        Mutant::FirstSegmentOnly => match p {
            "next-range" => (PointInTimeImage, "image served from source, block 4"),
            "offline" => (PointInTimeImage, "image reader 1 read source, block 2"),
            _ => (PointInTimeImage, "image served from source, block 2"),
        },
        m => unreachable!("{m} needs faults: model/tests/faults.rs checks it"),
    }
}

#[test]
fn every_mutant_is_caught_by_bfs_with_the_shortest_counterexample() {
    for m in Mutant::fault_free() {
        let (policies, cow) = catching(m);
        for p in policies {
            let c = Config {
                cow_blocks: cow,
                ..config(p, Some(m))
            };
            let model = model(&c, false);
            let o = bfs(&model);
            let cx = o
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{m} under {p} not caught: {}", o.summary()));
            assert!(o.shortest_verified, "{m} under {p}");
            let violation = cx.violation.as_ref().expect("the broken invariant");
            let (invariant, place) = expected_violation(m, p);
            assert_eq!(violation.invariant, invariant, "{m} under {p}: {violation}");
            assert_eq!(cx.property, invariant.name(), "{m} under {p}");
            let found_at = violation.detail.split(": expected").next();
            assert_eq!(found_at, Some(place), "{m} under {p}: {violation}");
            let text = cx.render(model.spec());
            assert!(text.contains("   1. "), "{m} under {p}:\n{text}");
            // Shortest, checked independently: no failure within one step less, and one
            // within exactly its length.
            let n = cx.steps.len();
            if n > 0 {
                let below = with(
                    &model,
                    Options {
                        max_depth: Some(n - 1),
                        shortest: false,
                        ..Options::default()
                    },
                );
                assert!(
                    below.counterexample.is_none(),
                    "{m} under {p}: a counterexample shorter than {n} steps exists"
                );
            }
            let at = with(
                &model,
                Options {
                    max_depth: Some(n),
                    shortest: false,
                    ..Options::default()
                },
            );
            assert_eq!(
                at.counterexample.map(|c| c.steps.len()),
                Some(n),
                "{m} under {p}"
            );
        }
    }
}

#[test]
fn a_dfs_counterexample_is_never_shorter_than_the_bfs_one() {
    for m in [Mutant::ApplyBeforePreserve, Mutant::ReleaseOutOfOrder] {
        let model = model(&config("snapshot-overlay", Some(m)), false);
        let b = bfs(&model).counterexample.expect("caught by BFS");
        let d = with(
            &model,
            Options {
                strategy: Strategy::Dfs,
                ..Options::default()
            },
        )
        .counterexample
        .expect("caught by DFS");
        assert!(d.steps.len() >= b.steps.len(), "{m}");
    }
}

#[test]
fn symmetry_explores_fewer_states_and_reaches_the_same_verdicts() {
    for p in policy::names() {
        let c = config(p, None);
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
    for m in Mutant::fault_free() {
        let (policies, cow) = catching(m);
        let c = Config {
            cow_blocks: cow,
            ..config(policies[0], Some(m))
        };
        let plain = bfs(&model(&c, false)).counterexample.expect("caught");
        let reduced = bfs(&model(&c, true))
            .counterexample
            .expect("caught with symmetry");
        assert_eq!(plain.steps.len(), reduced.steps.len(), "{m}");
        assert_eq!(
            plain.violation.map(|v| v.invariant),
            reduced.violation.map(|v| v.invariant),
            "{m}"
        );
    }
}

#[test]
fn with_three_writers_symmetry_reduces_more() {
    let c = Config {
        writers: 3,
        ..Config::default()
    };
    let plain = bfs(&model(&c, false));
    let reduced = bfs(&model(&c, true));
    assert!(plain.holds() && reduced.holds());
    // Six orderings of three writers: at least a threefold reduction.
    assert!(reduced.progress.unique * 3 < plain.progress.unique);
}

fn random_walk(spec: &Spec, seed: u64) -> Vec<World> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = World::new(spec);
    let mut seen = vec![w.clone()];
    loop {
        let r: Vec<usize> = w.runnable(spec).collect();
        if r.is_empty() {
            return seen;
        }
        w.step(spec, r[below(&mut rng, r.len() as u64) as usize]);
        seen.push(w.clone());
    }
}

#[test]
fn the_representative_is_the_same_for_every_renaming_of_the_writers() {
    let c = Config {
        writers: 3,
        ..Config::default()
    };
    for p in ["snapshot-overlay", "out-of-turn"] {
        let spec = Config {
            policy: p.parse().unwrap(),
            ..c.clone()
        }
        .spec()
        .unwrap();
        assert_eq!(symmetry::writer_groups(&spec), vec![vec![1, 2, 3]]);
        let perms: [[usize; 3]; 6] = [
            [1, 2, 3],
            [1, 3, 2],
            [2, 1, 3],
            [2, 3, 1],
            [3, 1, 2],
            [3, 2, 1],
        ];
        let mut renamed_differently = 0;
        for seed in 0..40 {
            for w in random_walk(&spec, seed) {
                let (rep, perm) = symmetry::representative(&spec, &w);
                assert_eq!(symmetry::rename(&spec, &w, &perm), rep);
                for q in perms {
                    let mut perm = (0..spec.processes()).collect::<Vec<_>>();
                    perm[1..4].copy_from_slice(&q);
                    let other = symmetry::rename(&spec, &w, &perm);
                    renamed_differently += usize::from(other != w);
                    assert_eq!(symmetry::representative(&spec, &other).0, rep);
                }
            }
        }
        assert!(renamed_differently > 0, "renaming never changed a state");
    }
}

#[test]
fn a_counterexample_found_with_symmetry_keeps_each_writers_name() {
    let c = config("snapshot-overlay", Some(Mutant::ReleaseOutOfOrder));
    let model = model(&c, true);
    let cx = bfs(&model).counterexample.expect("caught");
    // Replaying the printed steps in the printed numbering reaches the broken state.
    let spec = model.spec();
    let mut w = World::new(spec);
    for s in &cx.steps {
        assert!(
            w.enabled(spec, s.pid),
            "step of process {} not enabled",
            s.pid
        );
        assert_eq!(w.step(spec, s.pid), s.event);
    }
    assert_eq!(w, cx.last);
    assert!(model
        .violation(cx.property, &ex::State::from_world(spec, w))
        .is_some());
}

fn spec_with(workload: Workload) -> Spec {
    let g = Geometry::new(6, 512, 2, 1).unwrap();
    Spec::new(
        g,
        policy::by_name("snapshot-overlay").unwrap(),
        CopyOrder::Sequential,
        None,
        workload,
    )
    .unwrap()
}

#[test]
fn a_sometimes_property_never_reached_fails_the_check() {
    // The reader reads block 5, which no write touches: no read can be served from the hold
    // queue, so the check must not pass.
    let w = Workload::default()
        .client(Role::Writer, vec![Request::write(512, 1024)])
        .client(Role::Reader, vec![Request::read(5 * 512, 512)]);
    let o = bfs(&CowModel::new(spec_with(w), false));
    assert!(o.counterexample.is_none());
    assert!(o.complete);
    assert_eq!(o.unreached, vec![ex::READ_FROM_HOLD]);
    assert!(!o.holds());
    assert!(o.summary().starts_with("VACUOUS"), "{}", o.summary());
}

#[test]
fn properties_name_each_invariant_in_words() {
    use stateright::Model;
    let m = model(&Config::default(), false);
    let names: Vec<&str> = m.properties().iter().map(|p| p.name).collect();
    for n in [
        "point-in-time copy",
        "point-in-time image",
        "no lost or reordered write",
        "read-your-writes",
        "map soundness",
        "progress: a state where no process can step is finished",
        ex::EVENTUALLY_FINISHED,
        ex::HELD_WHILE_PRESERVED,
        ex::LANDS_IN_SEGMENT,
        ex::READ_FROM_HOLD,
    ] {
        assert!(names.contains(&n), "missing {n}: {names:?}");
    }
}

#[test]
fn states_render_in_domain_words() {
    let m = model(&Config::default(), false);
    let text = format!("{:#?}", m.init());
    for word in [
        "copier:",
        "writer 1:",
        "image reader 1:",
        "source",
        "hold queue",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}

fn simulate(m: &CowModel, seed: u64, runs: u64) -> Verdict {
    with(
        m,
        Options {
            strategy: Strategy::Simulate { seed, runs },
            ..Options::default()
        },
    )
}

#[test]
fn simulation_replays_from_its_seed_and_catches_a_mutant() {
    let c = Config {
        writers: 3,
        ..Config::default()
    };
    let m = model(&c, false);
    let a = simulate(&m, 7, 200);
    let b = simulate(&m, 7, 200);
    let other = simulate(&m, 8, 200);
    // No property broken, and the runs went where the races are: every `sometimes`
    // property was reached.
    assert!(
        a.counterexample.is_none() && a.failed.is_empty(),
        "{}",
        a.summary()
    );
    assert_eq!(a.reached.len(), 3, "reached only {:?}", a.reached);
    assert!(
        a.summary().starts_with("OK within the bound"),
        "{}",
        a.summary()
    );
    // All 200 runs ran to the end: the copier alone steps 10 times per run (claim, copy and
    // mark 3 segments, then complete), so each run visits at least 11 states.
    assert!(a.progress.states >= 200 * 11, "{}", a.summary());
    assert_eq!(a.progress.states, b.progress.states);
    assert_ne!(a.progress.states, other.progress.states);
    let bad = model(
        &config("snapshot-overlay", Some(Mutant::CheckThenAct)),
        false,
    );
    let o = simulate(&bad, 1, 2000);
    let cx = o
        .counterexample
        .expect("check-then-act caught by simulation");
    let v = cx.violation.expect("the broken invariant");
    assert_eq!(v.invariant, Invariant::MapSoundness, "{v}");
}

#[test]
fn the_chachachooser_draws_from_its_own_stream() {
    use rand_chacha::rand_core::Rng;
    let c = ex::ChaChaChooser::new(42);
    assert_eq!(c.rng(3).next_u64(), c.rng(3).next_u64());
    assert_ne!(c.rng(3).next_u64(), c.rng(4).next_u64());
    assert_ne!(
        c.rng(0).next_u64(),
        ex::ChaChaChooser::new(43).rng(0).next_u64()
    );
}

#[test]
fn bad_configurations_are_refused_in_one_line() {
    let bad = [
        Config {
            segments: 0,
            ..Config::default()
        },
        Config {
            segment_blocks: 0,
            ..Config::default()
        },
        Config {
            cow_blocks: 0,
            ..Config::default()
        },
        Config {
            cow_blocks: 3,
            ..Config::default()
        },
        Config {
            segments: u32::MAX,
            segment_blocks: u32::MAX,
            ..Config::default()
        },
    ];
    for c in bad {
        let e = c.spec().expect_err("refused");
        assert!(!e.0.contains('\n') && !e.0.is_empty(), "{e}");
    }
}

#[test]
fn both_progress_properties_catch_a_deadlock() {
    // No mutant deadlocks, so build one: the copier's next segment has a chunk in flight
    // that nobody will ever release.
    let c = Config {
        writers: 0,
        readers: 0,
        image_readers: 0,
        ..Config::default()
    };
    let spec = c.spec().unwrap();
    let mut stuck = World::new(&spec);
    stuck.meta.claim(0);
    let m = CowModel::new(spec, false).with_init(stuck);
    let o = bfs(&m);
    assert_eq!(
        o.failed,
        vec![
            ex::EVENTUALLY_FINISHED,
            "progress: a state where no process can step is finished"
        ]
    );
    let cx = o.counterexample.expect("a deadlock");
    assert!(cx.steps.is_empty());
    let v = cx.violation.expect("the deadlock, in words");
    assert_eq!(
        v.to_string(),
        "progress violated: deadlock: copier waits for chunks of its next segment being preserved"
    );
    // The same start without the stuck claim finishes.
    let free = bfs(&CowModel::new(c.spec().unwrap(), false));
    assert!(free.holds() && free.complete && free.failed.is_empty());
}

#[test]
fn staterights_own_symmetry_option_uses_the_same_representative() {
    use stateright::{Checker, Model};
    let c = Config {
        writers: 3,
        ..Config::default()
    };
    let reduced = bfs(&model(&c, true));
    // DFS with `CheckerBuilder::symmetry` deduplicates by `Representative::representative`.
    let dfs = model(&c, false).checker().symmetry().spawn_dfs().join();
    assert_eq!(dfs.unique_state_count(), reduced.progress.unique);
    let plain = model(&c, false).checker().spawn_dfs().join();
    assert!(plain.unique_state_count() > dfs.unique_state_count());
}

/// The state counts of the measured ladder (README, `cargo bench -p cowlab-model --bench
/// exhaustive`): a change to the engine that changes what a state is moves them, so they are
/// pinned here, measured before the engine was made to scale and unchanged since.
#[test]
fn the_ladders_state_counts_are_pinned() {
    let counts = [
        ("snapshot-overlay", 35_474, 17_802),
        ("snapshot-redirect", 13_210, 6_670),
        ("out-of-turn", 13_210, 6_670),
        ("out-of-turn-cache", 13_210, 6_670),
        ("next-range", 39_546, 19_838),
        ("offline", 758, 444),
    ];
    for (p, plain, reduced) in counts {
        let c = config(p, None);
        assert_eq!(bfs(&model(&c, false)).progress.unique, plain, "{p}");
        assert_eq!(
            bfs(&model(&c, true)).progress.unique,
            reduced,
            "{p}, symmetry"
        );
    }
    let rungs = [
        (
            Config {
                segments: 2,
                ..Config::default()
            },
            13_664,
        ),
        (
            Config {
                segments: 4,
                ..Config::default()
            },
            54_440,
        ),
        (
            Config {
                writers: 1,
                ..Config::default()
            },
            2_552,
        ),
        (
            Config {
                writes: 1,
                ..Config::default()
            },
            3_974,
        ),
        (
            Config {
                writes: 3,
                ..Config::default()
            },
            178_142,
        ),
    ];
    for (c, unique) in rungs {
        assert_eq!(bfs(&model(&c, false)).progress.unique, unique, "{c}");
    }
}

/// The target configuration of the ladder (4 segments, 3 writers x 2 writes) for every
/// policy, with symmetry (the plain counts take too long for `cargo test`), and the first
/// rung of the `--any-writes` ladder (`docs/exhaustive.md`).
#[test]
fn the_target_and_any_writes_state_counts_are_pinned() {
    let target = [
        ("snapshot-overlay", 131_716),
        ("snapshot-redirect", 29_290),
        ("out-of-turn", 29_290),
        ("out-of-turn-cache", 29_290),
        ("next-range", 343_570),
        ("offline", 832),
    ];
    for (p, reduced) in target {
        let c = Config {
            segments: 4,
            writers: 3,
            ..config(p, None)
        };
        assert_eq!(bfs(&model(&c, true)).progress.unique, reduced, "{p}");
    }
    let any = Config {
        writers: 1,
        writes: 1,
        any_writes: true,
        ..Config::default()
    };
    assert_eq!(bfs(&model(&any, false)).progress.unique, 62_896, "{any}");
}

/// The Explorer's view of a state names what each process is doing, in domain words: the
/// segment being copied and how many are done, the chunks a held write is preserving.
#[test]
fn the_explorer_describes_a_state_in_domain_words() {
    let spec = Config::default().spec().expect("the default configuration");
    let mut w = World::new(&spec);
    for pid in [0, 0, 0, 1, 0] {
        w.step(&spec, pid); // segment 0 claimed, copied, marked; write 0; segment 1 claimed
    }
    assert_eq!(
        ex::describe_world(&spec, &w),
        "copier: copying segment 1 (1 of 3 segments done)
writer 1: write 0 (stamp 1) to blocks 1..3 held, preserving chunks [2] (0 done)
writer 2: next: write 2 (stamp 3) to blocks 1..3
reader 1: next: read of blocks 1..3
image reader 1: next: image read of blocks 1..3 [waits for chunks of its image read being preserved]
source 0 0 0 0 0 0
destination 0 0 . . . .
snapshot . . . . . .
snapshot map [], copied [0, 1], in flight [2, 3], hold queue [0]
"
    );
}

/// Every breadth- or depth-first verdict states the chance that a fingerprint collision hid
/// a state (stateright keeps a 64-bit hash of each state visited): n(n-1)/2 pairs, one chance
/// in 2^64 each. A random simulation, which keeps no visited set, states none.
#[test]
fn a_verdict_states_the_chance_a_fingerprint_collision_hid_a_state() {
    let m = model(&Config::default(), false);
    let v = bfs(&m);
    let n = v.progress.unique as f64;
    assert_eq!(v.omission_bound(), n * (n - 1.0) / 2.0 / 2f64.powi(64));
    assert!(
        v.summary().ends_with(&format!(
            "; a state missed by a fingerprint collision with probability at most {:.1e}",
            v.omission_bound()
        )),
        "{}",
        v.summary()
    );
    let mut big = v.clone();
    big.progress.unique = 1 << 32;
    assert!((big.omission_bound() - 0.5).abs() < 1e-9);
    big.progress.unique = 1 << 33;
    assert_eq!(big.omission_bound(), 1.0, "a bound, capped at certainty");
    let sim = with(
        &m,
        Options {
            strategy: Strategy::Simulate { seed: 0, runs: 5 },
            ..Options::default()
        },
    );
    assert!(!sim.summary().contains("fingerprint"), "{}", sim.summary());
}
