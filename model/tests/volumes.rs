//! Many volumes under one copier: each volume keeps its own hold queue and maps, the copier
//! visits them in the scheduling rule's order, and no volume's writes can corrupt another's
//! copy (every invariant, exhaustively, for every policy and rule).

use cowlab_model::exhaustive::check::{self, Options};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::workload::{Request, Role, Workload};
use cowlab_model::{policy, CopyOrder, Event, Geometry, Spec, World};

mod common;
use common::step;

const RULES: [&str; 4] = [
    "sequential",
    "round-robin",
    "smallest-first",
    "most-written-first",
];

/// Two volumes of 2 segments of 2 blocks, 2 writers (one per volume) with 2 writes each, a
/// reader and an image reader of volume 0, one copier: every policy under every scheduling
/// rule keeps every invariant.
#[test]
fn two_volumes_sharing_one_copier_keep_every_invariant() {
    for p in policy::names() {
        for order in RULES {
            let c = Config {
                policy: p.parse().unwrap(),
                segments: 2,
                volumes: 2,
                order: order.parse().unwrap(),
                ..Config::default()
            };
            let m = CowModel::new(c.spec().unwrap(), true);
            let o = check::run(&m, &Options::default(), &mut |_| {});
            assert!(o.holds() && o.complete, "{p}, {order}: {}", o.summary());
        }
    }
}

/// Every earlier mutant is still caught with two volumes (three writers, so that two race
/// in volume 0).
#[test]
fn the_mutants_are_caught_with_two_volumes() {
    for m in cowlab_model::Mutant::fault_free() {
        let (policies, cow) = common::catching(m);
        let c = Config {
            policy: policies[0].parse().unwrap(),
            segments: 2,
            cow_blocks: cow,
            writers: 3,
            writes: 1,
            volumes: 2,
            order: cowlab_model::OrderName::RoundRobin,
            mutant: Some(m),
            ..Config::default()
        };
        let o = check::run(
            &CowModel::new(c.spec().unwrap(), true),
            &Options::default(),
            &mut |_| {},
        );
        assert!(o.counterexample.is_some(), "{m}: {}", o.summary());
    }
}

fn two_volumes(order: CopyOrder, sizes: &[u32], workload: Workload) -> Spec {
    let segments: u32 = sizes.iter().sum();
    let g = Geometry::new(segments as u64, 512, 1, 1).unwrap();
    let p = policy::by_name("snapshot-overlay").unwrap();
    Spec::new(g, p, order, None, workload)
        .unwrap()
        .with_volumes(sizes)
        .unwrap()
}

/// The order the copier claims segments in, with nobody writing.
fn claims(spec: &Spec) -> Vec<u32> {
    let mut w = World::new(spec);
    let mut order = Vec::new();
    while !w.copier().finished() {
        if let Event::SegmentClaimed { segment, .. } = step(spec, &mut w, 0) {
            order.push(segment);
        }
    }
    order
}

#[test]
fn the_scheduling_rules_visit_the_volumes_in_their_order() {
    let idle = Workload::default();
    let sizes = [3, 1, 2];
    let spec = |o| two_volumes(o, &sizes, idle.clone());
    assert_eq!(claims(&spec(CopyOrder::Sequential)), [0, 1, 2, 3, 4, 5]);
    assert_eq!(claims(&spec(CopyOrder::RoundRobin)), [0, 3, 4, 1, 5, 2]);
    assert_eq!(claims(&spec(CopyOrder::SmallestFirst)), [3, 4, 5, 0, 1, 2]);
}

/// Most-written-first: a write preserved a chunk in volume 1 (segment 2): the copier goes
/// there first, then back to the lowest segment not yet copied.
#[test]
fn most_written_first_copies_the_written_volume_first() {
    let w = Workload::default().client(Role::Writer, vec![Request::write(2 * 512, 512)]);
    let spec = two_volumes(CopyOrder::MostWrittenFirst, &[2, 2], w);
    let mut world = World::new(&spec);
    step(&spec, &mut world, 1); // the write arrives and claims chunk 2
    step(&spec, &mut world, 1); // preserves it
    step(&spec, &mut world, 1); // publishes it: segment 2 is noted as written
    let mut order = Vec::new();
    while !world.copier().finished() {
        if let Event::SegmentClaimed { segment, .. } = step(&spec, &mut world, 0) {
            order.push(segment);
        }
    }
    assert_eq!(order, [2, 0, 1, 3]);
}

/// Each volume has its own hold queue: a write held in volume 1 leaves as soon as its own
/// chunk is preserved, while an earlier write of volume 0 is still held (one queue for both
/// would keep it behind).
#[test]
fn a_held_write_of_one_volume_does_not_wait_for_another_volumes() {
    let w = |offset| vec![Request::write(offset, 512)];
    let workload = Workload::default()
        .client(Role::Writer, w(0))
        .client(Role::Writer, w(2 * 512));
    let spec = two_volumes(CopyOrder::Sequential, &[2, 2], workload);
    let mut world = World::new(&spec);
    let held = |e: &Event| matches!(e, Event::WriteArrived { held: true, .. });
    assert!(
        held(&step(&spec, &mut world, 1)),
        "volume 0's write is held"
    );
    assert!(
        held(&step(&spec, &mut world, 2)),
        "volume 1's write is held"
    );
    step(&spec, &mut world, 2); // preserve chunk 2
    step(&spec, &mut world, 2); // publish it
    assert!(matches!(
        step(&spec, &mut world, 2),
        Event::WriteApplied { write: 1, .. }
    ));
    assert_eq!(world.meta.hold.iter().collect::<Vec<_>>(), [0]);
}
