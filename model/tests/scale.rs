//! The engine at sizes the checkers never reach: 64-bit block addresses, and the indexes that
//! large volumes keep answering exactly as the scans that small ones use.

use cowlab_model::{
    policy, random, CopyOrder, Event, Geometry, Mutant, NoData, NoGhost, Spec, Workload, World,
};

/// The copier alone over a volume with no data kept: every segment is copied once, and the
/// blocks copied add up to the volume, past the 32-bit boundary too.
fn copy_everything(blocks: u64, segment_blocks: u64, cow_blocks: u64) -> (u64, u32, Event) {
    let g = Geometry::new(blocks, 4096, segment_blocks, cow_blocks).unwrap();
    let p = policy::by_name("snapshot-overlay").unwrap();
    let spec = Spec::new(g, p, CopyOrder::Sequential, None, Workload::default()).unwrap();
    let mut world = World::<NoData, NoGhost>::begin(&spec);
    let (mut copied, mut segments, mut last) = (0, 0, Event::CopyComplete);
    while !world.finished() {
        if let Event::SegmentCopied {
            copied: c, segment, ..
        } = world.step(&spec, 0)
        {
            copied += c.blocks();
            segments += 1;
            last = Event::SegmentMarked { segment };
        }
    }
    assert!(world.meta.copy_complete);
    assert_eq!(world.meta.copied().count() as u64, g.chunks() as u64);
    (copied, segments, last)
}

#[test]
fn a_volume_of_two_to_the_32_blocks_is_copied_whole() {
    let (copied, segments, last) = copy_everything(1 << 32, 1 << 20, 1 << 16);
    assert_eq!((copied, segments), (1 << 32, 4096));
    assert_eq!(last, Event::SegmentMarked { segment: 4095 });
}

#[test]
fn one_block_past_two_to_the_32_is_copied_too() {
    // The last segment is one block, starting at block 2^32: with 32-bit addresses its end
    // wrapped to 0 and it was never copied.
    let (copied, segments, last) = copy_everything((1 << 32) + 1, 1 << 20, 1 << 16);
    assert_eq!((copied, segments), ((1 << 32) + 1, 4097));
    assert_eq!(last, Event::SegmentMarked { segment: 4096 });
}

#[test]
fn indexes_answer_as_scans_do_over_random_runs() {
    let mut compared = 0;
    for p in policy::builtins() {
        for seed in 0..1500u64 {
            let mutant = (seed % 7 == 0).then(|| Mutant::ALL[(seed / 7) as usize % 10]);
            let (spec, schedule) = random::generate(seed, p.clone(), mutant);
            let plain = random::run(&spec, schedule, true);
            let start = World::new(&spec);
            let start = World {
                meta: start.meta.with_indexes(true),
                ..start
            };
            let indexed = random::run_from(&spec, start, schedule, true);
            assert_eq!(plain.trace, indexed.trace, "seed {seed}, {}", p.name());
            assert_eq!(plain.violation, indexed.violation, "seed {seed}");
            assert_eq!(plain.world, indexed.world, "seed {seed}");
            compared += plain.steps;
        }
    }
    assert!(compared > 100_000, "{compared} steps compared");
}

#[test]
fn written_first_copies_written_segments_first_with_indexes() {
    // The written-first order keeps its own index of written segments: a write to the last
    // segment makes it the next one copied.
    let g = Geometry::new(8, 512, 2, 1).unwrap();
    let p = policy::by_name("snapshot-redirect").unwrap();
    let w = Workload::default().client(
        cowlab_model::Role::Writer,
        vec![cowlab_model::Request::write(7 * 512, 512)],
    );
    let spec = Spec::new(g, p, CopyOrder::WrittenFirst, None, w).unwrap();
    let mut world = World::new(&spec);
    for _ in 0..3 {
        world.step(&spec, 1); // arrive, preserve, mark
    }
    assert_eq!(
        world.meta.preserved_segments.iter().collect::<Vec<_>>(),
        vec![&3]
    );
    match world.step(&spec, 0) {
        Event::SegmentClaimed { segment, .. } => assert_eq!(segment, 3),
        e => panic!("{e:?}"),
    }
    assert!(world.meta.preserved_segments.is_empty());
}
