//! `--any-writes`: every request chooses its range when it arrives, so one exhaustive check
//! covers every workload of its size. Every policy passes; every mutant of the catalogue is
//! caught with the shortest counterexample; the choice does not multiply states before it is
//! made. Also the geometries and copy orders only these flags reach: a short last segment,
//! and every copy order.

use cowlab_model::exhaustive::check::{self, Options, Verdict};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::names::Named;
use cowlab_model::{policy, Mutant, OrderName};

mod common;
use common::catching;

/// 2 segments of 2 blocks, chunks of 1, 2 writers of 1 write each, a volume reader and an
/// image reader, every range chosen on arrival.
fn any(policy: &str, mutant: Option<Mutant>) -> Config {
    Config {
        policy: policy.parse().unwrap(),
        segments: 2,
        writers: 2,
        writes: 1,
        any_writes: true,
        mutant,
        ..Config::default()
    }
}

fn bfs(c: &Config, symmetry: bool) -> Verdict {
    let model = CowModel::new(c.spec().expect("a valid configuration"), symmetry);
    check::run(&model, &Options::default(), &mut |_| {})
}

#[test]
fn every_policy_passes_with_any_writes() {
    for p in policy::names() {
        let o = bfs(&any(p, None), true);
        assert!(o.holds() && o.complete, "{p}: {}", o.summary());
        assert!(
            o.unreached.is_empty(),
            "{p}: never reached {:?}",
            o.unreached
        );
        // Far more states than the fixed workload: the ranges were explored.
        let fixed = bfs(
            &Config {
                any_writes: false,
                ..any(p, None)
            },
            true,
        );
        assert!(
            o.progress.unique > 20 * fixed.progress.unique,
            "{p}: {} states against {} with fixed writes",
            o.progress.unique,
            fixed.progress.unique
        );
    }
}

#[test]
fn every_mutant_is_caught_with_any_writes_by_the_shortest_counterexample() {
    for m in Mutant::fault_free() {
        let (policies, cow) = catching(m);
        for p in policies {
            let c = Config {
                cow_blocks: cow,
                ..any(p, Some(m))
            };
            let o = bfs(&c, true);
            let cx = o
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{m} under {p} not caught: {}", o.summary()));
            assert!(
                o.shortest_verified,
                "{m} under {p}: not shown to be the shortest"
            );
            assert!(cx.violation.is_some(), "{m} under {p}");
            // The trace says which range each request chose.
            let text = cx.render(CowModel::new(c.spec().unwrap(), true).spec());
            assert!(text.contains("blocks") || text.contains("block "), "{text}");
        }
    }
}

#[test]
fn a_range_is_chosen_when_the_request_arrives_not_before() {
    // One writer, nothing else: before it writes, the initial state is one state whatever it
    // will choose; its 10 ranges (of 4 blocks) each lead to a different next state.
    let c = Config {
        segments: 2,
        writers: 1,
        writes: 1,
        readers: 0,
        image_readers: 0,
        any_writes: true,
        ..Config::default()
    };
    let model = CowModel::new(c.spec().unwrap(), false);
    let init = model.init();
    let mut actions = Vec::new();
    stateright::Model::actions(&model, &init, &mut actions);
    let writer: Vec<_> = actions.iter().filter(|a| a.0 == 1).collect();
    assert_eq!(writer.len(), 10, "{actions:?}");
    let limited = Config {
        write_blocks: Some(1),
        ..c
    };
    let model = CowModel::new(limited.spec().unwrap(), false);
    let mut actions = Vec::new();
    stateright::Model::actions(&model, &model.init(), &mut actions);
    assert_eq!(
        actions.iter().filter(|a| a.0 == 1).count(),
        4,
        "--write-blocks 1"
    );
}

#[test]
fn a_short_last_segment_and_every_copy_order_pass_for_every_policy() {
    for p in policy::names() {
        for order in OrderName::names() {
            let c = Config {
                policy: p.parse().unwrap(),
                blocks: Some(5),
                order: order.parse().unwrap(),
                ..Config::default()
            };
            let spec = c.spec().unwrap();
            assert_eq!(spec.geometry.blocks, 5);
            assert_eq!(
                spec.geometry.segment_blocks_range(2),
                4..5,
                "a short last segment"
            );
            let o = bfs(&c, false);
            assert!(o.holds() && o.complete, "{p}, {order}: {}", o.summary());
        }
    }
}

#[test]
fn mutants_are_caught_under_a_short_last_segment_and_every_copy_order() {
    for order in OrderName::names() {
        for m in [
            Mutant::MarkBeforeCopy,
            Mutant::FirstSegmentOnly,
            Mutant::ApplyBeforePreserve,
        ] {
            let c = Config {
                blocks: Some(5),
                order: order.parse().unwrap(),
                mutant: Some(m),
                ..Config::default()
            };
            let o = bfs(&c, false);
            assert!(o.counterexample.is_some(), "{m}, {order}: {}", o.summary());
        }
    }
}

#[test]
fn bad_check_flags_are_refused_by_name() {
    let e = |c: Config| c.spec().unwrap_err().to_string();
    assert!(e(Config {
        blocks: Some(9),
        ..Config::default()
    })
    .starts_with("--blocks 9: must be within the last"));
    assert!(e(Config {
        blocks: Some(4),
        ..Config::default()
    })
    .starts_with("--blocks 4:"));
    assert_eq!(
        "zigzag".parse::<OrderName>().unwrap_err().to_string(),
        format!(
            "unknown order (expected one of: {})",
            OrderName::names().join(", ")
        )
    );
    assert!(e(Config {
        any_writes: true,
        write_blocks: Some(0),
        ..Config::default()
    })
    .starts_with("--write-blocks must be at least 1"));
}

#[test]
fn a_check_stopped_at_its_time_limit_says_it_is_no_proof() {
    // The full target configuration runs far longer than a second.
    let c = Config {
        any_writes: true,
        ..Config::default()
    };
    let model = CowModel::new(c.spec().unwrap(), true);
    let options = Options {
        timeout: Some(std::time::Duration::from_secs(1)),
        ..Options::default()
    };
    let o = check::run(&model, &options, &mut |_| {});
    assert!(o.timed_out && !o.complete, "{}", o.summary());
    assert!(
        o.counterexample.is_none(),
        "stopping is not a violation: {}",
        o.summary()
    );
    assert!(
        o.summary().starts_with("STOPPED at the time limit"),
        "{}",
        o.summary()
    );
}

/// The memory limit stops a check that outgrows it with a verdict, before the kernel would:
/// one byte under the memory the process already holds stops it at the first look; the same
/// check with room to spare goes on.
#[test]
fn a_check_stopped_at_its_memory_limit_says_it_is_no_proof_and_what_to_try() {
    let c = Config {
        any_writes: true,
        ..Config::default()
    };
    let model = CowModel::new(c.spec().unwrap(), true);
    let held = check::resident_bytes();
    assert!(held > 0, "no /proc/self/statm here");
    let options = Options {
        max_memory: Some(held - 1),
        ..Options::default()
    };
    let o = check::run(&model, &options, &mut |_| {});
    assert!(o.memory_full && !o.complete, "{}", o.summary());
    assert!(o.counterexample.is_none(), "{}", o.summary());
    let summary = o.summary();
    assert!(
        summary.starts_with("STOPPED at the memory limit (")
            && summary.contains("--dfs")
            && !summary.contains("--symmetry"),
        "{summary}"
    );
    assert!(o.progress.peak_memory >= held - 1, "{summary}");
    // Room to spare: the default configuration finishes under a limit far above it.
    let small = CowModel::new(Config::default().spec().unwrap(), false);
    let roomy = Options {
        max_memory: Some(held + (4 << 30)),
        ..Options::default()
    };
    let o = check::run(&small, &roomy, &mut |_| {});
    assert!(o.complete && !o.memory_full && o.holds(), "{}", o.summary());
}
