//! The invariants, as functions any driver calls on any state. Each comparison of data has
//! a version over a range of blocks or chunks, so a driver can check just what a step
//! touched; the whole-state version runs it over the whole volume.

use crate::client::Client;
use crate::disk::{show_stamp, BlockStore, Device, Stamp, BEGIN};
use crate::geometry::{Block, Chunk};
use crate::ghost::Ghost;
use crate::spec::{Pid, Spec};
use crate::world::World;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Invariant {
    PointInTimeCopy,
    PointInTimeImage,
    NoLostWrite,
    ReadYourWrites,
    MapSoundness,
    Progress,
}

impl Invariant {
    pub const ALL: [Invariant; 6] = [
        Invariant::PointInTimeCopy,
        Invariant::PointInTimeImage,
        Invariant::NoLostWrite,
        Invariant::ReadYourWrites,
        Invariant::MapSoundness,
        Invariant::Progress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Invariant::PointInTimeCopy => "point-in-time copy",
            Invariant::PointInTimeImage => "point-in-time image",
            Invariant::NoLostWrite => "no lost or reordered write",
            Invariant::ReadYourWrites => "read-your-writes",
            Invariant::MapSoundness => "map soundness",
            Invariant::Progress => "progress",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken invariant, with what was expected where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.invariant, self.detail)
    }
}

fn stamp_mismatch(
    invariant: Invariant,
    what: String,
    block: Block,
    expected: Stamp,
    found: Stamp,
) -> Violation {
    Violation {
        invariant,
        detail: format!(
            "{what}, block {block}: expected stamp {}, found {}",
            show_stamp(expected),
            show_stamp(found)
        ),
    }
}

/// Once the copy reports success, the destination equals the begin image. (A copy that
/// fails reports so, and promises nothing of the destination.)
pub fn point_in_time_copy(spec: &Spec, w: &World) -> Result<(), Violation> {
    if !w.meta.copy_complete {
        return Ok(());
    }
    copy_in(spec, w, 0..spec.geometry.blocks)
}

/// The destination holds the begin image over these blocks (once the copy is complete).
pub fn copy_in(_spec: &Spec, w: &World, blocks: Range<Block>) -> Result<(), Violation> {
    let dest = &w.disk.device(Device::Destination)[blocks.start as usize..blocks.end as usize];
    destination_holds_begin(dest, blocks.start)
}

/// Point-in-time copy on the destination's stamps from block `first` on, as a driver that
/// reads its devices itself checks it when the copy declares itself complete.
pub fn destination_holds_begin(dest: &[Stamp], first: Block) -> Result<(), Violation> {
    match dest.iter().position(|s| *s != BEGIN) {
        None => Ok(()),
        Some(i) => Err(stamp_mismatch(
            Invariant::PointInTimeCopy,
            "copy complete but destination differs".into(),
            first + i as Block,
            BEGIN,
            dest[i],
        )),
    }
}

/// Every block of the point-in-time image (destination where copied, preserved copy where
/// preserved, source elsewhere) holds begin-time data in every state until the copy fails;
/// and no image read returned anything else, ever (once the copy has failed, image reads
/// must fail rather than return data).
pub fn point_in_time_image(spec: &Spec, w: &World) -> Result<(), Violation> {
    if !w.meta.copy_failed {
        image_in(spec, w, 0..spec.geometry.blocks)?;
    }
    bad_read(spec, w, true)
}

/// The point-in-time image holds begin-time data over these blocks.
pub fn image_in(spec: &Spec, w: &World, blocks: Range<Block>) -> Result<(), Violation> {
    let g = &spec.geometry;
    if blocks.is_empty() {
        return Ok(());
    }
    // A chunk at a time: one route, one run of stamps.
    for c in g.chunks_touching(&blocks) {
        let dev = spec.image_source(&w.meta, c);
        let r = g.chunk_blocks(c);
        let r = r.start.max(blocks.start)..r.end.min(blocks.end);
        if let Some((b, s)) = first_not_begin(w, dev, r) {
            let what = format!("image served from {dev}");
            return Err(stamp_mismatch(
                Invariant::PointInTimeImage,
                what,
                b,
                BEGIN,
                s,
            ));
        }
    }
    Ok(())
}

/// The first block of a run on a device that does not hold begin-time data.
fn first_not_begin(w: &World, dev: Device, blocks: Range<Block>) -> Option<(Block, Stamp)> {
    let stamps = &w.disk.device(dev)[blocks.start as usize..blocks.end as usize];
    let i = stamps.iter().position(|s| *s != BEGIN)?;
    Some((blocks.start + i as Block, stamps[i]))
}

/// Whether no write is in progress: nothing held and every client between writes.
pub fn quiescent(w: &World) -> bool {
    w.meta.hold.is_empty() && w.clients().all(|(_, c)| c.idle())
}

/// At quiescence the source is the begin image with every write applied in arrival order.
pub fn no_lost_write(spec: &Spec, w: &World) -> Result<(), Violation> {
    if let Some((block, expected, found)) = w.meta.ghost.lost_durable_write() {
        let what = "after a power loss, an acknowledged write covered by a FLUSH or FUA is gone from the source".into();
        return Err(stamp_mismatch(
            Invariant::NoLostWrite,
            what,
            block,
            expected,
            found,
        ));
    }
    if !quiescent(w) {
        return Ok(());
    }
    source_in(spec, w, 0..spec.geometry.blocks)
}

/// The source holds the newest visible write of each of these blocks (at quiescence).
pub fn source_in(_spec: &Spec, w: &World, blocks: Range<Block>) -> Result<(), Violation> {
    let r = blocks.start as usize..blocks.end as usize;
    let src = &w.disk.device(Device::Source)[r.clone()];
    for (i, (found, expected)) in src.iter().zip(&w.meta.ghost.latest[r]).enumerate() {
        if found != expected {
            return Err(stamp_mismatch(
                Invariant::NoLostWrite,
                "quiescent source".into(),
                blocks.start + i as Block,
                *expected,
                *found,
            ));
        }
    }
    Ok(())
}

/// A volume read returned the newest write that had arrived (applied or held).
pub fn read_your_writes(spec: &Spec, w: &World) -> Result<(), Violation> {
    bad_read(spec, w, false)
}

fn bad_read(spec: &Spec, w: &World, image: bool) -> Result<(), Violation> {
    for (pid, c) in w.clients() {
        if c.bad_read.as_ref().is_some_and(|r| r.image == image) {
            return client_read(spec, pid, c);
        }
    }
    Ok(())
}

/// The read a client recorded as wrong, if any, as the violation of its invariant.
pub fn client_read(spec: &Spec, pid: Pid, c: &Client) -> Result<(), Violation> {
    match &c.bad_read {
        None => Ok(()),
        Some(r) => {
            let inv = match r.image {
                true => Invariant::PointInTimeImage,
                false => Invariant::ReadYourWrites,
            };
            let what = format!("{} read {}", spec.process_name(pid), r.device);
            Err(stamp_mismatch(inv, what, r.block, r.expected, r.found))
        }
    }
}

/// A snapshot-map bit is set only when the snapshot (or cache) holds begin-time data for
/// the chunk; a chunk marked copied (and not preserved) has begin-time data at the
/// destination; no chunk is preserved twice.
pub fn map_soundness(spec: &Spec, w: &World) -> Result<(), Violation> {
    if let Some(c) = w.meta.ghost.preserved_twice {
        return Err(Violation {
            invariant: Invariant::MapSoundness,
            detail: format!("chunk {c} was preserved twice"),
        });
    }
    map_in(spec, w, 0..spec.geometry.chunks())
}

/// Map soundness over these chunks (without the preserved-twice check).
pub fn map_in(spec: &Spec, w: &World, chunks: Range<Chunk>) -> Result<(), Violation> {
    let g = &spec.geometry;
    let m = &w.meta;
    let checks = [
        (m.snapshot_map(), spec.map_device(), "in the snapshot map"),
        (m.copied(), Device::Destination, "marked copied"),
    ];
    for (set, dev, what) in checks {
        let mut next = set.first_in(chunks.clone());
        while let Some(c) = next {
            let overlaid = dev == Device::Destination
                && m.snapshot_map().contains(c)
                && spec.policy.overlay_pass();
            // An overlaid chunk: the copier copied the source as it was; the overlay pass
            // restores it.
            if let Some((b, s)) = first_not_begin(w, dev, g.chunk_blocks(c)).filter(|_| !overlaid) {
                let what = format!("chunk {c} {what}, but {dev}");
                return Err(stamp_mismatch(Invariant::MapSoundness, what, b, BEGIN, s));
            }
            next = set.first_in(c + 1..chunks.end);
        }
    }
    Ok(())
}

/// Every safety invariant, in a fixed order; the first violation found.
pub fn check_safety(spec: &Spec, w: &World) -> Result<(), Violation> {
    map_soundness(spec, w)?;
    point_in_time_image(spec, w)?;
    point_in_time_copy(spec, w)?;
    read_your_writes(spec, w)?;
    no_lost_write(spec, w)
}

/// Progress: a state in which no process can step must be a finished state.
pub fn progress<S: BlockStore, G: Ghost>(spec: &Spec, w: &World<S, G>) -> Result<(), Violation> {
    if w.finished() || w.runnable(spec).next().is_some() {
        return Ok(());
    }
    let waiting: Vec<String> = w
        .procs
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.finished())
        .map(|(pid, p)| {
            format!(
                "{} waits for {}",
                spec.process_name(pid),
                p.waiting_for(spec, &w.meta)
            )
        })
        .collect();
    Err(Violation {
        invariant: Invariant::Progress,
        detail: format!("deadlock: {}", waiting.join("; ")),
    })
}
