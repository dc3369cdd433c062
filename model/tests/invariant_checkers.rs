//! The invariants are checkers too: each is fed a sound `World`, which it must pass, and then
//! the same world broken in exactly one place (every block position of every chunk, every
//! device the invariant reads, every kind of bad read), which it must report by name, at that
//! block. A checker weakened to look at only part of a chunk, one device or one kind of read
//! fails here.

use cowlab_model::client::BadRead;
use cowlab_model::invariants::{
    check_safety, map_soundness, no_lost_write, point_in_time_copy, point_in_time_image,
    read_your_writes,
};
use cowlab_model::meta::stamp_of;
use cowlab_model::{
    policy, Block, CopyOrder, Device, Geometry, Invariant, Process, Request, Role, Spec, Violation,
    Workload, World, BEGIN,
};
use std::ops::Range;

/// Geometries with chunks of 2 and 4 blocks, and one with a short last segment and chunk.
fn geometries() -> [Geometry; 3] {
    [
        Geometry::new(12, 1, 4, 2).unwrap(),
        Geometry::new(12, 1, 4, 4).unwrap(),
        Geometry::new(11, 1, 4, 2).unwrap(),
    ]
}

/// A spec with a volume reader and an image reader (pids 1 and 2), which never step here.
fn spec(g: Geometry, policy: &str) -> Spec {
    let w = Workload::default()
        .client(Role::Reader, vec![Request::read(0, 1)])
        .client(Role::ImageReader, vec![Request::read_image(0, 1)]);
    Spec::new(
        g,
        policy::by_name(policy).unwrap(),
        CopyOrder::Sequential,
        None,
        w,
    )
    .unwrap()
}

/// A stamp no sound state puts where these tests put it.
const NEWER: u32 = 7;

fn set(w: &mut World, dev: Device, blocks: Range<Block>, stamp: u32) {
    let mut stamps = w.disk.device(dev).to_vec();
    for b in blocks {
        stamps[b as usize] = stamp;
    }
    w.disk.load(dev, &stamps);
}

/// Asserts that `found` is a violation of `inv` at `block`, in the words a user reads.
fn assert_names(found: Result<(), Violation>, inv: Invariant, block: Block, case: &str) {
    let v = found.expect_err(case);
    assert_eq!(v.invariant, inv, "{case}: {v}");
    assert!(
        v.detail.contains(&format!("block {block}: ")),
        "{case}: the violation names another block: {v}"
    );
}

/// Every chunk preserved to the map's device and marked copied: each device an invariant
/// reads holds the begin image over the whole volume.
fn settled_world(s: &Spec) -> World {
    let g = &s.geometry;
    let mut w = World::new(s);
    for dev in [Device::Destination, s.map_device()] {
        set(&mut w, dev, 0..g.blocks, BEGIN);
    }
    for c in 0..g.chunks() {
        w.meta.set_mapped(c);
        w.meta.set_copied(c);
    }
    w
}

#[test]
fn map_soundness_reports_a_bad_block_at_every_position_of_a_mapped_chunk_on_each_map_device() {
    // snapshot-redirect keeps its map on the snapshot, out-of-turn-cache on the cache.
    for policy in ["snapshot-redirect", "out-of-turn-cache"] {
        for g in geometries() {
            let s = spec(g, policy);
            let dev = s.map_device();
            let mut w = World::new(&s);
            for c in 0..g.chunks() {
                w.meta.set_mapped(c);
            }
            set(&mut w, dev, 0..g.blocks, BEGIN);
            assert_eq!(map_soundness(&s, &w), Ok(()), "{policy} {g:?}: sound");
            for b in 0..g.blocks {
                let mut broken = w.clone();
                set(&mut broken, dev, b..b + 1, NEWER);
                let case = format!("{policy}, {dev} block {b}");
                assert_names(
                    map_soundness(&s, &broken),
                    Invariant::MapSoundness,
                    b,
                    &case,
                );
                // An unmapped chunk's blocks on that device are nobody's business.
                let c = g.chunk_of(b);
                let mut unmapped = World::new(&s);
                for other in (0..g.chunks()).filter(|o| *o != c) {
                    unmapped.meta.set_mapped(other);
                }
                set(&mut unmapped, dev, 0..g.blocks, BEGIN);
                set(&mut unmapped, dev, b..b + 1, NEWER);
                assert_eq!(map_soundness(&s, &unmapped), Ok(()), "{case}, unmapped");
            }
        }
    }
}

#[test]
fn map_soundness_reports_a_bad_block_at_every_position_of_a_chunk_marked_copied() {
    for g in geometries() {
        let s = spec(g, "out-of-turn");
        let mut w = World::new(&s);
        for c in 0..g.chunks() {
            w.meta.set_copied(c);
        }
        set(&mut w, Device::Destination, 0..g.blocks, BEGIN);
        assert_eq!(map_soundness(&s, &w), Ok(()), "{g:?}: sound");
        for b in 0..g.blocks {
            let mut broken = w.clone();
            set(&mut broken, Device::Destination, b..b + 1, NEWER);
            let case = format!("destination block {b}");
            assert_names(
                map_soundness(&s, &broken),
                Invariant::MapSoundness,
                b,
                &case,
            );
        }
    }
}

#[test]
fn map_soundness_reports_a_chunk_preserved_twice() {
    let s = spec(geometries()[0], "snapshot-overlay");
    let mut w = World::new(&s);
    w.meta.ghost.preserved_twice = Some(3);
    let v = map_soundness(&s, &w).unwrap_err();
    assert_eq!(
        v.to_string(),
        "map soundness violated: chunk 3 was preserved twice"
    );
}

#[test]
fn point_in_time_copy_reports_a_bad_destination_block_anywhere_once_the_copy_is_complete() {
    for g in geometries() {
        let s = spec(g, "snapshot-overlay");
        let mut w: World = World::copied(&s);
        set(&mut w, Device::Destination, 0..g.blocks, BEGIN);
        assert_eq!(point_in_time_copy(&s, &w), Ok(()), "{g:?}: sound");
        for b in 0..g.blocks {
            let mut broken = w.clone();
            set(&mut broken, Device::Destination, b..b + 1, NEWER);
            assert_names(
                point_in_time_copy(&s, &broken),
                Invariant::PointInTimeCopy,
                b,
                &format!("destination block {b}"),
            );
        }
        // Before the copy is complete the destination is unfinished, not wrong.
        let mut unfinished = World::new(&s);
        set(&mut unfinished, Device::Destination, 0..1, NEWER);
        assert_eq!(
            point_in_time_copy(&s, &unfinished),
            Ok(()),
            "{g:?}: copying"
        );
    }
}

#[test]
fn point_in_time_image_reports_a_bad_block_on_whichever_device_serves_it() {
    for g in geometries() {
        for policy in ["snapshot-redirect", "out-of-turn-cache"] {
            let s = spec(g, policy);
            // Three worlds, one per route: nothing settled (the source serves the image),
            // every chunk copied (the destination), every chunk mapped (the map's device).
            let source = World::new(&s);
            let mut copied = World::new(&s);
            set(&mut copied, Device::Destination, 0..g.blocks, BEGIN);
            for c in 0..g.chunks() {
                copied.meta.set_copied(c);
            }
            let mapped = settled_world(&s);
            for (w, dev) in [
                (source, Device::Source),
                (copied, Device::Destination),
                (mapped, s.map_device()),
            ] {
                assert_eq!(point_in_time_image(&s, &w), Ok(()), "{policy}: {dev} sound");
                for b in 0..g.blocks {
                    let mut broken = w.clone();
                    set(&mut broken, dev, b..b + 1, NEWER);
                    let case = format!("{policy}, image from {dev}, block {b}");
                    let v = point_in_time_image(&s, &broken);
                    assert!(
                        v.as_ref().is_err_and(|v| v
                            .detail
                            .starts_with(&format!("image served from {dev}"))),
                        "{case}: {v:?}"
                    );
                    assert_names(v, Invariant::PointInTimeImage, b, &case);
                }
            }
        }
    }
}

#[test]
fn each_kind_of_bad_read_is_reported_by_its_own_invariant_naming_the_device_and_block() {
    let g = geometries()[0];
    let s = spec(g, "snapshot-overlay");
    for (pid, image) in [(1, false), (2, true)] {
        for device in Device::ALL {
            for block in 0..g.blocks {
                let mut w = World::new(&s);
                let Process::Client(c) = &mut w.procs[pid] else {
                    unreachable!("pids 1 and 2 are the readers")
                };
                c.bad_read = Some(Box::new(BadRead {
                    image,
                    block,
                    device,
                    expected: BEGIN,
                    found: NEWER,
                }));
                let name = s.process_name(pid);
                let (reported, silent, inv) = match image {
                    true => (
                        point_in_time_image(&s, &w),
                        read_your_writes(&s, &w),
                        Invariant::PointInTimeImage,
                    ),
                    false => (
                        read_your_writes(&s, &w),
                        point_in_time_image(&s, &w),
                        Invariant::ReadYourWrites,
                    ),
                };
                let case = format!("{name} read {device} block {block}");
                assert_eq!(silent, Ok(()), "{case}: reported by the other invariant");
                let v = reported.expect_err(&case);
                assert_eq!(
                    v.to_string(),
                    format!(
                        "{inv} violated: {name} read {device}, block {block}: \
                         expected stamp 0 (begin image), found 7 (write 6)"
                    )
                );
            }
        }
    }
}

#[test]
fn no_lost_write_reports_a_lost_an_unexpected_and_a_reordered_write_at_every_block() {
    for g in geometries() {
        let s = spec(g, "snapshot-overlay");
        let w = World::new(&s);
        assert_eq!(no_lost_write(&s, &w), Ok(()), "{g:?}: sound");
        for b in 0..g.blocks {
            // (the newest write the ghost saw, what the source holds)
            for (latest, source, kind) in [
                (stamp_of(1), BEGIN, "lost"),
                (BEGIN, stamp_of(1), "unexpected"),
                (stamp_of(2), stamp_of(1), "reordered"),
            ] {
                let mut broken = w.clone();
                broken.meta.ghost.latest[b as usize] = latest;
                set(&mut broken, Device::Source, b..b + 1, source);
                let case = format!("{kind} write at block {b}");
                assert_names(no_lost_write(&s, &broken), Invariant::NoLostWrite, b, &case);
            }
        }
    }
}

#[test]
fn check_safety_passes_a_sound_world_and_reports_each_single_fault() {
    for g in geometries() {
        let s = spec(g, "snapshot-redirect");
        let w = settled_world(&s);
        assert_eq!(check_safety(&s, &w), Ok(()), "{g:?}: sound");
        for (dev, inv) in [
            (Device::Snapshot, Invariant::MapSoundness),
            (Device::Destination, Invariant::MapSoundness),
            (Device::Source, Invariant::NoLostWrite),
        ] {
            let b = g.blocks - 1;
            let mut broken = w.clone();
            set(&mut broken, dev, b..b + 1, NEWER);
            assert_names(
                check_safety(&s, &broken),
                inv,
                b,
                &format!("{dev}, last block"),
            );
        }
    }
}

#[test]
fn no_lost_write_is_checked_whenever_no_write_is_in_progress_and_only_then() {
    let g = geometries()[0];
    // Readers only: before, during and after each read no write is in progress, so a source
    // that differs from the writes that arrived is reported at every one of those states.
    let s = spec(g, "snapshot-overlay");
    let mut w = World::new(&s);
    set(&mut w, Device::Source, 5..6, NEWER);
    let mut pcs = Vec::new();
    for pid in [1, 2, 2, 2, 0] {
        if let Process::Client(c) = &w.procs[pid] {
            pcs.push(format!("{}: {:?}", s.process_name(pid), c.pc));
        }
        let case = format!("before step {} ({pcs:?})", pcs.len());
        assert_names(no_lost_write(&s, &w), Invariant::NoLostWrite, 5, &case);
        w.step(&s, pid);
    }
    // The image reader was seen routing, reading and untracking its chunks.
    for pc in ["ReadImage", "Untrack"] {
        assert!(
            pcs.iter().any(|p| p.contains(pc)),
            "{pc} not visited: {pcs:?}"
        );
    }
    // A write that has arrived and is held is in progress: the source lags the newest write
    // on purpose, and that is not a lost write.
    let writer = Workload::default().client(Role::Writer, vec![Request::write(4, 2)]);
    let s = Spec::new(
        g,
        policy::by_name("snapshot-overlay").unwrap(),
        CopyOrder::Sequential,
        None,
        writer,
    )
    .unwrap();
    let mut w = World::new(&s);
    w.step(&s, 1);
    assert_ne!(
        w.meta.ghost.latest[4],
        w.disk.get(Device::Source, 4),
        "held"
    );
    assert_eq!(no_lost_write(&s, &w), Ok(()), "a held write is not lost");
}
