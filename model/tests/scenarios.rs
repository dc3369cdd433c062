//! Scripted interleavings: each test steps named processes in a fixed order and checks one
//! behaviour of the engine, or one invariant catching one mistake.

use cowlab_model::invariants::{
    check_safety, map_soundness, no_lost_write, progress, quiescent, read_your_writes,
};
use cowlab_model::{
    policy, CopyOrder, Device, Event, Geometry, Mutant, Request, Role, Spec, World, BEGIN,
};

mod common;
use common::script;

const COPIER: usize = 0;
const W1: usize = 1;
const W2: usize = 2;

/// 2 segments of 2 blocks, 1-block chunks, 1-byte blocks (offsets are block numbers).
fn spec(policy: &str, mutant: Option<Mutant>, clients: Vec<(Role, Vec<Request>)>) -> Spec {
    let g = Geometry::new(4, 1, 2, 1).unwrap();
    let mut w = cowlab_model::Workload::default();
    for (role, reqs) in clients {
        w = w.client(role, reqs);
    }
    Spec::new(
        g,
        policy::by_name(policy).unwrap(),
        CopyOrder::Sequential,
        mutant,
        w,
    )
    .unwrap()
}

fn run_to_end(spec: &Spec, world: &mut World) {
    loop {
        let Some(pid) = world.runnable(spec).next() else {
            break;
        };
        let _ = world.step(spec, pid);
        check_safety(spec, world).unwrap();
    }
    progress(spec, world).unwrap();
}

#[test]
fn a_write_to_an_uncopied_chunk_is_held_preserved_then_applied() {
    let s = spec(
        "snapshot-overlay",
        None,
        vec![(Role::Writer, vec![Request::write(1, 1)])],
    );
    let mut w = World::new(&s);
    let events = script(&s, &mut w, &[W1]);
    assert!(matches!(
        events[0],
        Event::WriteArrived {
            held: true,
            preserve: 1,
            ..
        }
    ));
    assert_eq!(w.meta.hold.len(), 1);
    script(&s, &mut w, &[W1, W1]); // preserve chunk 1, set its map bit
    assert_eq!(w.disk.get(Device::Snapshot, 1), BEGIN);
    assert!(w.meta.snapshot_map().contains(1));
    assert_eq!(
        w.disk.get(Device::Source, 1),
        BEGIN,
        "the held write is not applied yet"
    );
    script(&s, &mut w, &[W1]);
    assert_eq!(w.disk.get(Device::Source, 1), 1);
    assert!(w.meta.hold.is_empty());
    run_to_end(&s, &mut w);
    assert!(w
        .disk
        .device(Device::Destination)
        .iter()
        .all(|s| *s == BEGIN));
}

#[test]
fn a_write_to_a_copied_segment_goes_straight_to_the_source() {
    let s = spec(
        "snapshot-overlay",
        None,
        vec![(Role::Writer, vec![Request::write(0, 2)])],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[COPIER, COPIER, COPIER]); // claim, copy, mark segment 0
    let events = script(&s, &mut w, &[W1]);
    assert!(matches!(
        events[0],
        Event::WriteArrived {
            held: false,
            preserve: 0,
            ..
        }
    ));
    assert_eq!(w.disk.get(Device::Source, 0), 1);
    assert_eq!(w.meta.snapshot_map().count(), 0);
}

#[test]
fn the_copier_skips_a_chunk_copied_out_of_turn() {
    let s = spec(
        "out-of-turn",
        None,
        vec![(Role::Writer, vec![Request::write(3, 1)])],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[W1, W1, W1, W1]); // arrive, copy chunk 3 out of turn, mark, release
    assert!(w.meta.copied().contains(3));
    assert_eq!(w.disk.get(Device::Destination, 3), BEGIN);
    let events = script(&s, &mut w, &[COPIER, COPIER, COPIER, COPIER]);
    assert!(matches!(
        events[3],
        Event::SegmentClaimed {
            segment: 1,
            skipped: 1,
            from_source: 1,
            ..
        }
    ));
    run_to_end(&s, &mut w);
}

#[test]
fn an_overlapping_write_waits_behind_a_held_one_in_fifo_order() {
    // Write 0 covers chunks 1 and 2; write 1 covers chunk 1 only.
    let s = spec(
        "snapshot-redirect",
        None,
        vec![
            (Role::Writer, vec![Request::write(1, 2)]),
            (Role::Writer, vec![Request::write(1, 1)]),
        ],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[W1, W1, W1]); // write 0 held, chunk 1 preserved and marked
    let events = script(&s, &mut w, &[W2]);
    assert!(matches!(
        events[0],
        Event::WriteArrived {
            held: true,
            preserve: 0,
            ..
        }
    ));
    assert!(!w.enabled(&s, W2), "write 1 may not overtake write 0");
    script(&s, &mut w, &[W1, W1, W1, W2]);
    assert_eq!(w.disk.get(Device::Source, 1), 2, "write 1 applied last");
    run_to_end(&s, &mut w);
}

#[test]
fn out_of_order_release_is_caught_by_read_your_writes_and_no_lost_write() {
    let s = spec(
        "snapshot-redirect",
        Some(Mutant::ReleaseOutOfOrder),
        vec![
            (Role::Writer, vec![Request::write(1, 2)]),
            (
                Role::Writer,
                vec![Request::write(1, 1), Request::read(1, 1)],
            ),
        ],
    );
    let mut w = World::new(&s);
    for pid in [W1, W1, W1, W2, W2] {
        w.step(&s, pid); // write 1 is released ahead of write 0
    }
    w.step(&s, W1); // preserve chunk 2
    w.step(&s, W1); // mark it
    w.step(&s, W1); // write 0 released last: overwrites write 1
    w.step(&s, W2); // read block 1
    assert!(quiescent(&w), "no write in progress: the source is checked");
    // The read returned the older write, and the source keeps it: each invariant says so
    // in the words a user reads.
    assert_eq!(
        read_your_writes(&s, &w).unwrap_err().to_string(),
        "read-your-writes violated: writer 2 read source, block 1: \
         expected stamp 2 (write 1), found 1 (write 0)"
    );
    assert_eq!(
        no_lost_write(&s, &w).unwrap_err().to_string(),
        "no lost or reordered write violated: quiescent source, block 1: \
         expected stamp 2 (write 1), found 1 (write 0)"
    );
}

#[test]
fn check_then_act_preserves_newer_data_and_map_soundness_catches_it() {
    let s = spec(
        "snapshot-overlay",
        Some(Mutant::CheckThenAct),
        vec![
            (Role::Writer, vec![Request::write(0, 1)]),
            (Role::Writer, vec![Request::write(0, 1)]),
        ],
    );
    let mut w = World::new(&s);
    // Both writers check chunk 0 before either claims it; writer 1 finishes first.
    for pid in [W1, W2, W1, W1, W1] {
        w.step(&s, pid);
    }
    assert_eq!(w.disk.get(Device::Source, 0), 1);
    w.step(&s, W2); // preserves chunk 0 again, now holding write 0's data
    let v = map_soundness(&s, &w).unwrap_err();
    assert_eq!(
        v.to_string(),
        "map soundness violated: chunk 0 in the snapshot map, but snapshot, block 0: \
         expected stamp 0 (begin image), found 1 (write 0)"
    );
}

#[test]
fn a_tracked_image_read_delays_a_write_to_its_chunk() {
    let s = spec(
        "snapshot-overlay",
        None,
        vec![
            (Role::ImageReader, vec![Request::read_image(2, 1)]),
            (Role::Writer, vec![Request::write(2, 1)]),
        ],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[1]); // route the image read to the source, tracked
    assert_eq!(w.meta.tracked.iter().collect::<Vec<_>>(), vec![(2, 1)]);
    script(&s, &mut w, &[2, 2, 2]); // arrive (held), preserve, mark
    assert!(!w.enabled(&s, 2), "the write waits for the tracked read");
    script(&s, &mut w, &[1, 1, 2]); // read, untrack, then the write is released
    run_to_end(&s, &mut w);
}

#[test]
fn offline_holds_every_write_until_the_copy_is_complete() {
    let s = spec(
        "offline",
        None,
        vec![(Role::Writer, vec![Request::write(0, 4)])],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[W1]);
    assert!(!w.enabled(&s, W1));
    let untouched = |w: &World| w.disk.device(Device::Source).iter().all(|s| *s == BEGIN);
    while !w.copier().finished() {
        // Held, not applied: the source keeps the begin image for the whole copy.
        assert!(untouched(&w) && w.meta.hold.len() == 1);
        script(&s, &mut w, &[COPIER]);
    }
    script(&s, &mut w, &[W1]);
    assert!(w.finished());
    assert!(
        w.disk.device(Device::Source).iter().all(|s| *s == 1),
        "write 0 applied"
    );
}

#[test]
fn skipping_the_overlay_breaks_the_point_in_time_copy() {
    let s = spec(
        "snapshot-overlay",
        Some(Mutant::SkipOverlay),
        vec![(Role::Writer, vec![Request::write(0, 1)])],
    );
    let mut w = World::new(&s);
    for pid in [W1, W1, W1, W1] {
        w.step(&s, pid); // write 0 preserved and applied before the copier starts
    }
    while !w.copier().finished() {
        w.step(&s, COPIER);
    }
    let v = check_safety(&s, &w).unwrap_err();
    assert_eq!(
        v.to_string(),
        "point-in-time copy violated: copy complete but destination differs, block 0: \
         expected stamp 0 (begin image), found 1 (write 0)"
    );
}

#[test]
fn applying_before_preserving_breaks_the_point_in_time_image_at_once() {
    let s = spec(
        "snapshot-overlay",
        Some(Mutant::ApplyBeforePreserve),
        vec![(Role::Writer, vec![Request::write(1, 1)])],
    );
    let mut w = World::new(&s);
    w.step(&s, W1); // write 0 reaches the source before chunk 1 is preserved
    let v = check_safety(&s, &w).unwrap_err();
    assert_eq!(
        v.to_string(),
        "point-in-time image violated: image served from source, block 1: \
         expected stamp 0 (begin image), found 1 (write 0)"
    );
}

#[test]
fn an_image_read_routed_during_a_preservation_reads_the_new_write() {
    let s = spec(
        "snapshot-overlay",
        Some(Mutant::ImageReadDuringPreserve),
        vec![
            (Role::ImageReader, vec![Request::read_image(2, 1)]),
            (Role::Writer, vec![Request::write(2, 1)]),
        ],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[2, 1]); // write 0 held, chunk 2 in flight; the read routed to source
    script(&s, &mut w, &[2, 2, 2]); // preserve, mark, release write 0 onto the source
    w.step(&s, 1); // the image read returns write 0
    let v = check_safety(&s, &w).unwrap_err();
    assert_eq!(
        v.to_string(),
        "point-in-time image violated: image reader 1 read source, block 2: \
         expected stamp 0 (begin image), found 1 (write 0)"
    );
}

/// A chunk in flight that nobody will release: the copier, the writer and the image reader
/// all wait for it, and `progress` says who waits for what.
#[test]
fn a_deadlock_report_says_who_waits_for_what() {
    let s = spec(
        "snapshot-overlay",
        None,
        vec![
            (Role::Writer, vec![Request::write(0, 1)]),
            (Role::ImageReader, vec![Request::read_image(0, 1)]),
        ],
    );
    let mut w = World::new(&s);
    w.meta.claim(0);
    script(&s, &mut w, &[W1]); // write 0 held behind the stuck chunk
    assert_eq!(w.runnable(&s).next(), None);
    assert_eq!(
        progress(&s, &w).unwrap_err().to_string(),
        "progress violated: deadlock: \
         copier waits for chunks of its next segment being preserved; \
         writer 1 waits for write 0 to leave the hold queue; \
         image reader 1 waits for chunks of its image read being preserved"
    );
}
