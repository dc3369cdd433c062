//! The invariants of DESIGN §2, as functions any driver calls on any state.

use crate::disk::{show_stamp, Device, Stamp, BEGIN};
use crate::engine::{Pid, Spec, World};
use crate::geometry::Index;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    block: Index,
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

/// Once the copy is complete, the destination equals the begin image.
pub fn point_in_time_copy(_spec: &Spec, w: &World) -> Result<(), Violation> {
    if !w.copier().finished() {
        return Ok(());
    }
    let dest = w.disk.device(Device::Destination);
    match dest.iter().position(|s| *s != BEGIN) {
        None => Ok(()),
        Some(b) => Err(stamp_mismatch(
            Invariant::PointInTimeCopy,
            "copy complete but destination differs".into(),
            b as Index,
            BEGIN,
            dest[b],
        )),
    }
}

/// Every block of the point-in-time image (destination where copied, preserved copy where
/// preserved, source elsewhere) holds begin-time data, in every state; and no image read
/// returned anything else.
pub fn point_in_time_image(spec: &Spec, w: &World) -> Result<(), Violation> {
    let g = &spec.geometry;
    for b in 0..g.blocks {
        let dev = spec.image_source(&w.meta, g.chunk_of(b));
        let s = w.disk.get(dev, b);
        if s != BEGIN {
            return Err(stamp_mismatch(
                Invariant::PointInTimeImage,
                format!("image served from {dev}"),
                b,
                BEGIN,
                s,
            ));
        }
    }
    bad_read(spec, w, true, Invariant::PointInTimeImage)
}

/// At quiescence the source is the begin image with every write applied in arrival order.
pub fn no_lost_write(spec: &Spec, w: &World) -> Result<(), Violation> {
    let quiescent = w.meta.hold.is_empty() && w.clients().all(|(_, c)| c.idle(spec));
    if !quiescent {
        return Ok(());
    }
    let src = w.disk.device(Device::Source);
    for (b, (found, expected)) in src.iter().zip(&w.meta.ghost.latest).enumerate() {
        if found != expected {
            return Err(stamp_mismatch(
                Invariant::NoLostWrite,
                "quiescent source".into(),
                b as Index,
                *expected,
                *found,
            ));
        }
    }
    Ok(())
}

/// A volume read returned the newest write that had arrived (applied or held).
pub fn read_your_writes(spec: &Spec, w: &World) -> Result<(), Violation> {
    bad_read(spec, w, false, Invariant::ReadYourWrites)
}

fn bad_read(spec: &Spec, w: &World, image: bool, inv: Invariant) -> Result<(), Violation> {
    for (pid, c) in w.clients() {
        if let Some(r) = c.bad_read.as_ref().filter(|r| r.image == image) {
            let what = format!("{} read {}", name(spec, pid), r.device);
            return Err(stamp_mismatch(inv, what, r.block, r.expected, r.found));
        }
    }
    Ok(())
}

fn name(spec: &Spec, pid: Pid) -> &str {
    spec.process_name(pid)
}

/// A snapshot-map bit is set only when the snapshot (or cache) holds begin-time data for
/// the chunk; a chunk marked copied (and not preserved) has begin-time data at the
/// destination; no chunk is preserved twice.
pub fn map_soundness(spec: &Spec, w: &World) -> Result<(), Violation> {
    let g = &spec.geometry;
    let m = &w.meta;
    if let Some(c) = m.ghost.preserved_twice {
        return Err(Violation {
            invariant: Invariant::MapSoundness,
            detail: format!("chunk {c} was preserved twice"),
        });
    }
    let checks = [
        (&m.snapshot_map, spec.map_device(), "in the snapshot map"),
        (&m.copied, Device::Destination, "marked copied"),
    ];
    for (set, dev, what) in checks {
        for c in set.iter() {
            if dev == Device::Destination
                && m.snapshot_map.contains(c)
                && spec.policy.overlay_pass()
            {
                continue; // the copier copied the source as it was; the overlay pass restores it
            }
            for b in g.chunk_blocks(c) {
                let s = w.disk.get(dev, b);
                if s != BEGIN {
                    let what = format!("chunk {c} {what}, but {dev}");
                    return Err(stamp_mismatch(Invariant::MapSoundness, what, b, BEGIN, s));
                }
            }
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
pub fn progress(spec: &Spec, w: &World) -> Result<(), Violation> {
    if w.finished() || w.runnable(spec).next().is_some() {
        return Ok(());
    }
    let waiting: Vec<String> = w
        .procs
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.finished())
        .map(|(pid, p)| format!("{} waits for {}", name(spec, pid), p.waiting_for(spec)))
        .collect();
    Err(Violation {
        invariant: Invariant::Progress,
        detail: format!("deadlock: {}", waiting.join("; ")),
    })
}
