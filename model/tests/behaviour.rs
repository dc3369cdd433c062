//! Behaviour tests: each scripted scenario pins what one rule of the engine does, not only
//! what it guarantees — which chunks a write preserves and to which device, where the copier
//! reads, which blocks move and in what order, which segment the copier claims next, when a
//! held write leaves the queue. A change that keeps every invariant but changes a policy's
//! behaviour fails the test named after the rule it changed. Every step is also checked
//! against every invariant, so no test passes through a state the checkers would reject.
//!
//! Volumes use one-byte blocks: a request's offset and length are block numbers.

use cowlab_model::disk::{Copied, UNWRITTEN};
use cowlab_model::meta::WriteId;
use cowlab_model::{
    policy, Block, Chunk, CopyOrder, Device, Event, Geometry, Pid, Request, Role, Segment, Spec,
    Stamp, Wait, Workload, World, BEGIN,
};
use std::ops::Range;

mod common;
use common::{script, step};

const COPIER: Pid = 0;
const W1: Pid = 1;
const W2: Pid = 2;

/// Begin-time data, short so that whole devices read as one line.
const B: Stamp = BEGIN;
/// A block nothing was ever copied or written to.
const N: Stamp = UNWRITTEN;
/// The stamps writes 0 and 1 leave on the blocks they write.
const S0: Stamp = 1;
const S1: Stamp = 2;

/// `(blocks, segment_blocks, cow_blocks)`.
type Shape = (u64, u64, u64);

/// 4 blocks, 2 segments of 2 blocks, 1-block chunks: chunk = block.
const SMALL: Shape = (4, 2, 1);

/// One writer per entry of `writers`, each issuing its requests in turn.
fn spec_in(shape: Shape, policy: &str, order: CopyOrder, writers: Vec<Vec<Request>>) -> Spec {
    let (blocks, segment_blocks, cow_blocks) = shape;
    let g = Geometry::new(blocks, 1, segment_blocks, cow_blocks).unwrap();
    let workload = writers
        .into_iter()
        .fold(Workload::default(), |w, reqs| w.client(Role::Writer, reqs));
    Spec::new(g, policy::by_name(policy).unwrap(), order, None, workload).unwrap()
}

fn spec(shape: Shape, policy: &str, writers: Vec<Vec<Request>>) -> Spec {
    spec_in(shape, policy, CopyOrder::Sequential, writers)
}

/// Steps a client for as long as it can (until it finishes or must wait); returns its
/// events. A change in how many steps a write takes then shows as a difference in events.
fn run_client(spec: &Spec, world: &mut World, pid: Pid) -> Vec<Event> {
    let mut events = Vec::new();
    while world.enabled(spec, pid) {
        assert!(
            events.len() < 64,
            "{} does not stop",
            spec.process_name(pid)
        );
        events.push(step(spec, world, pid));
    }
    events
}

/// Steps the copier until it has finished; returns its events. Bounded, so that an engine
/// change that stops the copier from finishing fails instead of hanging.
fn finish_copy(spec: &Spec, world: &mut World) -> Vec<Event> {
    let mut events = Vec::new();
    while !world.copier().finished() {
        assert!(events.len() < 64, "the copier does not finish: {events:?}");
        events.push(step(spec, world, COPIER));
    }
    events
}

// The events a step returns, spelt out: every field is asserted.

fn arrived(write: WriteId, blocks: Range<Block>, preserve: usize, held: bool) -> Event {
    Event::WriteArrived {
        write,
        blocks,
        preserve,
        held,
    }
}

fn preserved(write: WriteId, chunk: Chunk, blocks: Range<Block>, to: Device) -> Event {
    // Every preservation copies begin-time data: one stamp per block of `blocks`.
    let copied = Copied::of(&vec![BEGIN; (blocks.end - blocks.start) as usize]);
    Event::Preserved {
        write,
        chunk,
        blocks,
        to,
        copied,
    }
}

fn chunk_marked(write: WriteId, chunk: Chunk, to: Device) -> Event {
    Event::Marked { write, chunk, to }
}

fn released(write: WriteId, blocks: Range<Block>) -> Event {
    Event::WriteApplied {
        write,
        blocks,
        released: true,
    }
}

fn seg_claimed(segment: Segment, source: usize, preserved: usize, skipped: usize) -> Event {
    Event::SegmentClaimed {
        segment,
        from_source: source,
        from_preserved: preserved,
        skipped,
    }
}

fn seg_copied(segment: Segment, stamps: &[Stamp], from_preserved: Option<Device>) -> Event {
    Event::SegmentCopied {
        segment,
        copied: Copied::of(stamps),
        from_preserved,
    }
}

fn seg_marked(segment: Segment) -> Event {
    Event::SegmentMarked { segment }
}

fn overlaid(chunk: Chunk, stamps: &[Stamp]) -> Event {
    Event::Overlaid {
        chunk,
        copied: Copied::of(stamps),
    }
}

// What the state holds.

fn device(world: &World, dev: Device) -> Vec<Stamp> {
    world.disk.device(dev).to_vec()
}

fn mapped(world: &World) -> Vec<Chunk> {
    world.meta.snapshot_map().iter().collect()
}

fn copied(world: &World) -> Vec<Chunk> {
    world.meta.copied().iter().collect()
}

fn in_flight(world: &World) -> Vec<Chunk> {
    world.meta.in_flight().iter().collect()
}

fn held(world: &World) -> Vec<WriteId> {
    world.meta.hold.iter().collect()
}

/// The chunks preserved, in the order the events preserved them.
fn preserved_chunks(events: &[Event]) -> Vec<Chunk> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Preserved { chunk, .. } => Some(*chunk),
            _ => None,
        })
        .collect()
}

// Policies.

#[test]
fn snapshot_overlay_preserves_exactly_the_written_chunk_to_the_snapshot_and_sets_its_map_bit() {
    let s = spec(SMALL, "snapshot-overlay", vec![vec![Request::write(2, 1)]]);
    let mut w = World::new(&s);

    assert_eq!(step(&s, &mut w, W1), arrived(0, 2..3, 1, true));
    assert_eq!(held(&w), [0]);
    assert_eq!(in_flight(&w), [2]);

    assert_eq!(
        step(&s, &mut w, W1),
        preserved(0, 2, 2..3, Device::Snapshot)
    );
    assert_eq!(
        mapped(&w),
        [] as [Chunk; 0],
        "the bit is set by the next step"
    );

    assert_eq!(step(&s, &mut w, W1), chunk_marked(0, 2, Device::Snapshot));
    assert_eq!(mapped(&w), [2]);
    assert_eq!(in_flight(&w), [] as [Chunk; 0]);
    assert_eq!(copied(&w), [] as [Chunk; 0]);

    assert_eq!(step(&s, &mut w, W1), released(0, 2..3));
    assert_eq!(device(&w, Device::Source), [B, B, S0, B]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, B, N]);
    assert_eq!(device(&w, Device::Destination), [N, N, N, N]);
    assert_eq!(device(&w, Device::Cache), [N, N, N, N]);
}

#[test]
fn snapshot_overlay_copies_the_source_as_it_is_then_overlays_the_mapped_chunks_in_chunk_order() {
    // Chunk 3 is preserved before chunk 1: the overlay still goes in chunk order.
    let s = spec(
        SMALL,
        "snapshot-overlay",
        vec![vec![Request::write(3, 1), Request::write(1, 1)]],
    );
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(preserved_chunks(&events), [3, 1]);
    assert_eq!(mapped(&w), [1, 3]);
    assert_eq!(device(&w, Device::Source), [B, S1, B, S0]);

    // The segments are copied from the source with the writes' data in them.
    let segments = script(&s, &mut w, &[COPIER; 6]);
    assert_eq!(
        segments,
        [
            seg_claimed(0, 2, 0, 0),
            seg_copied(0, &[B, S1], None),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, S0], None),
            seg_marked(1),
        ]
    );
    assert_eq!(device(&w, Device::Destination), [B, S1, B, S0]);
    assert!(!w.meta.copy_complete);

    // Then one step per mapped chunk, snapshot over destination, and the copy is complete.
    assert_eq!(step(&s, &mut w, COPIER), overlaid(1, &[B]));
    assert_eq!(device(&w, Device::Destination), [B, B, B, S0]);
    assert_eq!(step(&s, &mut w, COPIER), overlaid(3, &[B]));
    assert_eq!(step(&s, &mut w, COPIER), Event::CopyComplete);
    assert!(w.meta.copy_complete && w.copier().finished());
    assert_eq!(device(&w, Device::Destination), [B, B, B, B]);
    assert_eq!(device(&w, Device::Cache), [N, N, N, N]);
}

#[test]
fn snapshot_redirect_copier_reads_a_preserved_chunk_from_the_snapshot_and_runs_no_overlay() {
    let s = spec(SMALL, "snapshot-redirect", vec![vec![Request::write(1, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 1..2, 1, true),
            preserved(0, 1, 1..2, Device::Snapshot),
            chunk_marked(0, 1, Device::Snapshot),
            released(0, 1..2),
        ]
    );
    assert_eq!(device(&w, Device::Snapshot), [N, B, N, N]);

    assert_eq!(step(&s, &mut w, COPIER), seg_claimed(0, 1, 1, 0));
    // Only the chunk read from the source is claimed; the snapshot's needs no claim.
    assert_eq!(in_flight(&w), [0]);
    let rest = finish_copy(&s, &mut w);
    assert_eq!(
        rest,
        [
            // Block 1 comes from the snapshot: begin-time data, not write 0's.
            seg_copied(0, &[B, B], Some(Device::Snapshot)),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, B], None),
            seg_marked(1),
            Event::CopyComplete,
        ]
    );
    assert_eq!(device(&w, Device::Source), [B, S0, B, B]);
    assert_eq!(device(&w, Device::Destination), [B, B, B, B]);
    assert_eq!(device(&w, Device::Cache), [N, N, N, N]);
}

#[test]
fn out_of_turn_copies_the_written_chunk_to_the_destination_and_the_copier_skips_it() {
    let s = spec(SMALL, "out-of-turn", vec![vec![Request::write(1, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 1..2, 1, true),
            preserved(0, 1, 1..2, Device::Destination),
            chunk_marked(0, 1, Device::Destination),
            released(0, 1..2),
        ]
    );
    assert_eq!(copied(&w), [1]);
    assert_eq!(mapped(&w), [] as [Chunk; 0]);
    assert_eq!(device(&w, Device::Destination), [N, B, N, N]);

    let copier = finish_copy(&s, &mut w);
    assert_eq!(
        copier,
        [
            // Chunk 1 is skipped: only block 0 moves, and write 0's data stays off the
            // destination.
            seg_claimed(0, 1, 0, 1),
            seg_copied(0, &[B], None),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, B], None),
            seg_marked(1),
            Event::CopyComplete,
        ]
    );
    assert_eq!(device(&w, Device::Source), [B, S0, B, B]);
    assert_eq!(device(&w, Device::Destination), [B, B, B, B]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N]);
    assert_eq!(device(&w, Device::Cache), [N, N, N, N]);
}

#[test]
fn out_of_turn_cache_preserves_to_the_cache_and_the_copier_moves_the_chunk_from_the_cache() {
    let s = spec(SMALL, "out-of-turn-cache", vec![vec![Request::write(1, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 1..2, 1, true),
            preserved(0, 1, 1..2, Device::Cache),
            chunk_marked(0, 1, Device::Cache),
            released(0, 1..2),
        ]
    );
    // The snapshot map tracks the cache; the chunk is not at the destination yet.
    assert_eq!(mapped(&w), [1]);
    assert_eq!(copied(&w), [] as [Chunk; 0]);
    assert_eq!(device(&w, Device::Cache), [N, B, N, N]);
    assert_eq!(device(&w, Device::Destination), [N, N, N, N]);

    let copier = finish_copy(&s, &mut w);
    assert_eq!(
        copier,
        [
            seg_claimed(0, 1, 1, 0),
            // Block 1 is read from the cache (begin-time data), not the source (write 0's).
            seg_copied(0, &[B, B], Some(Device::Cache)),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, B], None),
            seg_marked(1),
            Event::CopyComplete,
        ]
    );
    assert_eq!(device(&w, Device::Source), [B, S0, B, B]);
    assert_eq!(device(&w, Device::Destination), [B, B, B, B]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N]);
}

/// 6 blocks, 3 segments of 2 blocks, 1-block chunks: room for a next chunk to be taken.
const SIX: Shape = (6, 2, 1);

#[test]
fn next_range_also_preserves_the_chunk_right_after_the_write() {
    let s = spec(SIX, "next-range", vec![vec![Request::write(1, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 1..2, 2, true),
            preserved(0, 1, 1..2, Device::Snapshot),
            chunk_marked(0, 1, Device::Snapshot),
            // Chunk 2 is the next segment's: the search does not stop at the segment.
            preserved(0, 2, 2..3, Device::Snapshot),
            chunk_marked(0, 2, Device::Snapshot),
            released(0, 1..2),
        ]
    );
    assert_eq!(mapped(&w), [1, 2]);
    assert_eq!(device(&w, Device::Snapshot), [N, B, B, N, N, N]);

    // Like snapshot-overlay, it overlays exactly the mapped chunks at the end.
    let overlays: Vec<Event> = finish_copy(&s, &mut w)
        .into_iter()
        .filter(|e| matches!(e, Event::Overlaid { .. }))
        .collect();
    assert_eq!(overlays, [overlaid(1, &[B]), overlaid(2, &[B])]);
}

#[test]
fn next_range_skips_already_preserved_chunks_and_takes_the_next_open_one() {
    // Write 0 preserves chunks 2 and 3; write 1 at chunk 1 then finds 2 and 3 preserved.
    let s = spec(
        SIX,
        "next-range",
        vec![vec![Request::write(2, 1), Request::write(1, 1)]],
    );
    let mut w = World::new(&s);
    let first = script(&s, &mut w, &[W1; 6]);
    assert_eq!(preserved_chunks(&first), [2, 3]);

    assert_eq!(step(&s, &mut w, W1), arrived(1, 1..2, 2, true));
    assert_eq!(in_flight(&w), [1, 4]);
    let second = run_client(&s, &mut w, W1);
    assert_eq!(
        second,
        [
            preserved(1, 1, 1..2, Device::Snapshot),
            chunk_marked(1, 1, Device::Snapshot),
            preserved(1, 4, 4..5, Device::Snapshot),
            chunk_marked(1, 4, Device::Snapshot),
            released(1, 1..2),
        ]
    );
    assert_eq!(mapped(&w), [1, 2, 3, 4]);
    assert_eq!(device(&w, Device::Snapshot), [N, B, B, B, B, N]);
}

#[test]
fn next_range_skips_chunks_in_flight_and_takes_the_next_open_one() {
    // Writer 1's write claims chunks 2 and 3 and is still preserving them when writer 2's
    // write to chunk 1 arrives.
    let s = spec(
        SIX,
        "next-range",
        vec![vec![Request::write(2, 1)], vec![Request::write(1, 1)]],
    );
    let mut w = World::new(&s);
    assert_eq!(step(&s, &mut w, W1), arrived(0, 2..3, 2, true));
    assert_eq!(in_flight(&w), [2, 3]);
    assert_eq!(step(&s, &mut w, W2), arrived(1, 1..2, 2, true));
    assert_eq!(in_flight(&w), [1, 2, 3, 4]);

    // Writer 2 preserves its chunks, then waits for write 0 to leave the queue first.
    let second = run_client(&s, &mut w, W2);
    assert_eq!(preserved_chunks(&second), [1, 4]);
    assert_eq!(w.procs[W2].wait(&s, &w.meta), Some(Wait::Turn));
    let first = run_client(&s, &mut w, W1);
    assert_eq!(preserved_chunks(&first), [2, 3]);
    assert_eq!(step(&s, &mut w, W2), released(1, 1..2));
    assert_eq!(mapped(&w), [1, 2, 3, 4]);
}

#[test]
fn next_range_preserves_no_further_chunk_for_a_write_in_the_last_chunk() {
    let s = spec(SIX, "next-range", vec![vec![Request::write(5, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 5..6, 1, true),
            preserved(0, 5, 5..6, Device::Snapshot),
            chunk_marked(0, 5, Device::Snapshot),
            released(0, 5..6),
        ]
    );
    assert_eq!(mapped(&w), [5]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N, N, B]);
}

#[test]
fn next_range_preserves_no_further_chunk_when_every_later_chunk_is_copied() {
    // In reverse order the copier has copied chunks 2 to 5 before the write to chunk 1.
    let s = spec_in(
        SIX,
        "next-range",
        CopyOrder::Reverse,
        vec![vec![Request::write(1, 1)]],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[COPIER; 6]);
    assert_eq!(copied(&w), [2, 3, 4, 5]);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(preserved_chunks(&events), [1]);
    assert_eq!(events[0], arrived(0, 1..2, 1, true));
    assert_eq!(mapped(&w), [1]);
}

#[test]
fn offline_holds_a_write_during_the_copy_and_applies_it_once_the_copy_is_complete() {
    let s = spec(SMALL, "offline", vec![vec![Request::write(1, 2)]]);
    let mut w = World::new(&s);
    assert_eq!(step(&s, &mut w, COPIER), seg_claimed(0, 2, 0, 0));
    // Nothing to preserve, yet held: the write waits for the whole copy.
    assert_eq!(step(&s, &mut w, W1), arrived(0, 1..3, 0, true));
    assert_eq!(held(&w), [0]);

    let mut copier = Vec::new();
    while !w.copier().finished() {
        assert_eq!(w.procs[W1].wait(&s, &w.meta), Some(Wait::CopyComplete));
        copier.push(step(&s, &mut w, COPIER));
    }
    assert_eq!(
        copier,
        [
            seg_copied(0, &[B, B], None),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, B], None),
            seg_marked(1),
            Event::CopyComplete,
        ]
    );
    assert_eq!(device(&w, Device::Source), [B, B, B, B]);

    assert_eq!(step(&s, &mut w, W1), released(0, 1..3));
    assert_eq!(held(&w), [] as [WriteId; 0]);
    assert_eq!(device(&w, Device::Source), [B, S0, S0, B]);
    assert_eq!(device(&w, Device::Destination), [B, B, B, B]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N]);
    assert_eq!(device(&w, Device::Cache), [N, N, N, N]);
    assert_eq!(mapped(&w), [] as [Chunk; 0]);
}

#[test]
fn offline_applies_a_write_after_the_copy_at_once() {
    let s = spec(SMALL, "offline", vec![vec![Request::write(1, 2)]]);
    let mut w = World::new(&s);
    finish_copy(&s, &mut w);
    assert_eq!(step(&s, &mut w, W1), arrived(0, 1..3, 0, false));
    assert_eq!(held(&w), [] as [WriteId; 0]);
    assert_eq!(device(&w, Device::Source), [B, S0, S0, B]);
    assert!(w.finished());
}

// Copy orders.

/// The segments the copier claims, in order, on 5 one-block segments with no writes.
fn claim_order(order: CopyOrder) -> Vec<Segment> {
    let s = spec_in((5, 1, 1), "snapshot-overlay", order, vec![]);
    let mut w = World::new(&s);
    claimed_segments(&finish_copy(&s, &mut w))
}

fn claimed_segments(events: &[Event]) -> Vec<Segment> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SegmentClaimed { segment, .. } => Some(*segment),
            _ => None,
        })
        .collect()
}

#[test]
fn sequential_order_claims_segments_lowest_first() {
    assert_eq!(claim_order(CopyOrder::Sequential), [0, 1, 2, 3, 4]);
}

#[test]
fn reverse_order_claims_segments_highest_first() {
    assert_eq!(claim_order(CopyOrder::Reverse), [4, 3, 2, 1, 0]);
}

#[test]
fn random_order_claims_the_permutation_its_seed_draws() {
    // Pinned: the permutation must not change across versions for a given seed.
    assert_eq!(claim_order(CopyOrder::Random { seed: 1 }), [2, 0, 4, 3, 1]);
    assert_eq!(claim_order(CopyOrder::Random { seed: 2 }), [2, 3, 1, 4, 0]);
}

#[test]
fn written_first_order_without_writes_claims_segments_lowest_first() {
    assert_eq!(claim_order(CopyOrder::WrittenFirst), [0, 1, 2, 3, 4]);
}

#[test]
fn written_first_order_copies_segments_with_preserved_chunks_next_lowest_first_then_the_rest() {
    // 5 one-block segments. After segment 0 is copied, chunks 4 and then 2 are preserved.
    let s = spec_in(
        (5, 1, 1),
        "snapshot-overlay",
        CopyOrder::WrittenFirst,
        vec![vec![Request::write(4, 1), Request::write(2, 1)]],
    );
    let mut w = World::new(&s);
    let first = script(&s, &mut w, &[COPIER; 3]);
    let writes = run_client(&s, &mut w, W1);
    assert_eq!(preserved_chunks(&writes), [4, 2]);
    let rest = finish_copy(&s, &mut w);
    assert_eq!(claimed_segments(&first), [0]);
    // 2 and 4 before the lower untouched 1, then 1 and 3 in order.
    assert_eq!(claimed_segments(&rest), [2, 4, 1, 3]);
}

// Geometry.

/// 7 blocks, segments of 4, chunks of 2: segment 1 is blocks 4..=6 (3 blocks) and chunk 3
/// is block 6 alone.
const SHORT: Shape = (7, 4, 2);

#[test]
fn a_short_last_segment_and_chunk_are_copied_and_preserved_with_exactly_their_blocks() {
    let s = spec(SHORT, "snapshot-overlay", vec![vec![Request::write(6, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(
        events,
        [
            arrived(0, 6..7, 1, true),
            preserved(0, 3, 6..7, Device::Snapshot),
            chunk_marked(0, 3, Device::Snapshot),
            released(0, 6..7),
        ]
    );
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N, N, N, B]);

    let copier = finish_copy(&s, &mut w);
    assert_eq!(
        copier,
        [
            seg_claimed(0, 2, 0, 0),
            seg_copied(0, &[B, B, B, B], None),
            seg_marked(0),
            seg_claimed(1, 2, 0, 0),
            seg_copied(1, &[B, B, S0], None),
            seg_marked(1),
            overlaid(3, &[B]),
            Event::CopyComplete,
        ]
    );
    assert_eq!(device(&w, Device::Destination), [B; 7]);
}

#[test]
fn a_write_covering_a_whole_chunk_preserves_that_chunk_only() {
    let s = spec(SHORT, "snapshot-overlay", vec![vec![Request::write(2, 2)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(events[0], arrived(0, 2..4, 1, true));
    assert_eq!(events[1], preserved(0, 1, 2..4, Device::Snapshot));
    assert_eq!(mapped(&w), [1]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, B, B, N, N, N]);
    assert_eq!(device(&w, Device::Source), [B, B, S0, S0, B, B, B]);
}

#[test]
fn a_write_inside_one_chunk_preserves_the_whole_chunk_and_no_other() {
    // Block 5 is the second block of chunk 2 (blocks 4 and 5): both are preserved.
    let s = spec(SHORT, "snapshot-overlay", vec![vec![Request::write(5, 1)]]);
    let mut w = World::new(&s);
    let events = run_client(&s, &mut w, W1);
    assert_eq!(events[0], arrived(0, 5..6, 1, true));
    assert_eq!(events[1], preserved(0, 2, 4..6, Device::Snapshot));
    assert_eq!(mapped(&w), [2]);
    assert_eq!(device(&w, Device::Snapshot), [N, N, N, N, B, B, N]);
    assert_eq!(device(&w, Device::Source), [B, B, B, B, B, S0, B]);
}

#[test]
fn a_write_spanning_three_segments_claims_every_chunk_it_touches_in_order() {
    // 12 blocks, segments of 4, chunks of 2; blocks 3..=8 touch chunks 1 to 4, in
    // segments 0, 1 and 2.
    let s = spec(
        (12, 4, 2),
        "snapshot-overlay",
        vec![vec![Request::write(3, 6)]],
    );
    let mut w = World::new(&s);
    assert_eq!(step(&s, &mut w, W1), arrived(0, 3..9, 4, true));
    assert_eq!(in_flight(&w), [1, 2, 3, 4]);
    let events = run_client(&s, &mut w, W1);
    let snap = Device::Snapshot;
    assert_eq!(
        events,
        [
            preserved(0, 1, 2..4, snap),
            chunk_marked(0, 1, snap),
            preserved(0, 2, 4..6, snap),
            chunk_marked(0, 2, snap),
            preserved(0, 3, 6..8, snap),
            chunk_marked(0, 3, snap),
            preserved(0, 4, 8..10, snap),
            chunk_marked(0, 4, snap),
            released(0, 3..9),
        ]
    );
    assert_eq!(mapped(&w), [1, 2, 3, 4]);
    assert_eq!(device(&w, snap), [N, N, B, B, B, B, B, B, B, B, N, N]);
}

// The hold queue.

#[test]
fn a_held_write_that_overlaps_no_earlier_one_still_leaves_the_queue_in_arrival_order() {
    let s = spec(
        SMALL,
        "snapshot-overlay",
        vec![vec![Request::write(1, 1)], vec![Request::write(3, 1)]],
    );
    let mut w = World::new(&s);
    assert_eq!(step(&s, &mut w, W1), arrived(0, 1..2, 1, true));
    assert_eq!(step(&s, &mut w, W2), arrived(1, 3..4, 1, true));
    assert_eq!(held(&w), [0, 1]);

    // Write 1's chunk is preserved first, but write 0 is at the head of the queue.
    assert_eq!(
        run_client(&s, &mut w, W2),
        [
            preserved(1, 3, 3..4, Device::Snapshot),
            chunk_marked(1, 3, Device::Snapshot),
        ]
    );
    assert_eq!(mapped(&w), [3]);
    assert_eq!(w.procs[W2].wait(&s, &w.meta), Some(Wait::Turn));

    assert_eq!(
        run_client(&s, &mut w, W1),
        [
            preserved(0, 1, 1..2, Device::Snapshot),
            chunk_marked(0, 1, Device::Snapshot),
            released(0, 1..2),
        ]
    );
    assert_eq!(held(&w), [1]);
    assert_eq!(step(&s, &mut w, W2), released(1, 3..4));
    assert_eq!(device(&w, Device::Source), [B, S0, B, S1]);
}

#[test]
fn a_write_needing_no_preservation_is_applied_at_once_past_a_held_write_it_does_not_overlap() {
    // Only held writes queue: a write to a copied chunk that overlaps no held write is
    // applied on arrival, ahead of an earlier write still held.
    let s = spec(
        SMALL,
        "snapshot-overlay",
        vec![vec![Request::write(3, 1)], vec![Request::write(0, 1)]],
    );
    let mut w = World::new(&s);
    script(&s, &mut w, &[COPIER; 3]);
    assert_eq!(step(&s, &mut w, W1), arrived(0, 3..4, 1, true));
    assert_eq!(step(&s, &mut w, W2), arrived(1, 0..1, 0, false));
    assert_eq!(held(&w), [0]);
    assert_eq!(device(&w, Device::Source), [S1, B, B, B]);
}
