//! Reduction of readers: the exhaustive check explores the orders of the writers' and the
//! copier's steps in full, and the readers' reads as checks instead of as interleavings.
//! `docs/exhaustive.md` ("Reduction") gives the argument at length; in short:
//!
//! An *observation* is a read step that changes nothing any other process reads or waits
//! for: a volume read that is its client's last request (it reads the source and the hold
//! queue under the lock, and changes only its own client), or an image read's reads once
//! routed (device reads without the lock). Every other step of the system is enabled and
//! does the same whether an observation was taken before it or not, so taking it early or
//! late changes no state of the other processes; only what the reader sees changes, and
//! that is a function of the state it reads in. So, in every state:
//!
//! - the observation is judged where it stands, by the engine's own rule
//!   ([`crate::client::volume_read_of`], or the image read's completion on a copy of the
//!   client); if it would see what it must not, the step is offered, and the state it leads
//!   to breaks its invariant with a counterexample that replays in the full model;
//! - if it would read correctly, its step is not offered (a state that differs from one
//!   explored only by the reader having read correctly is not explored), except: an image
//!   read that tracks chunks must still release them at every point a full exploration
//!   could, so it is offered as one step that reads and then releases (the reads judged
//!   correct where it stands); and once no other process can step, the deferred reads are
//!   offered, so every path still ends with every process finished and a deadlock of the
//!   others is still a deadlock.
//!
//! This is a persistent-set argument with the observations postponed, not a reduction of
//! the other processes' orders: two steps that both touch the metadata or the same blocks
//! never commute here, and the writers and the copier touch both at nearly every step.
//! It is sound only where no fault, hand-back or power loss is injected (a read's I/O can
//! fail, a power loss drops a reader's request): the model then explores in full.

use crate::client::{volume_read_of, Client, ClientPc};
use crate::disk::{BlockStore, Device};
use crate::env::{Io, IoDone, IoResults};
use crate::geometry::Block;
use crate::meta::{map_stamp, write_of, WriteId};
use crate::spec::{Pid, Spec};
use crate::workload::Op;
use crate::world::{Process, World};
use smallvec::SmallVec;
use std::ops::Range;

/// What a process's next step is, as the reduction sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// An image read, its client's last request, not yet routed: each range it may choose
    /// is judged by [`image_route_preserved`].
    ImageRoute,
    /// A volume read, its client's last request.
    Volume,
    /// An image read's reads, its client's last request, which release no chunk after
    /// (nothing was tracked).
    Image,
    /// An image read's reads, after which it releases the chunks it tracked.
    ImageTracking,
}

/// Whether process `pid`'s next step is an observation, and which.
pub fn observation(spec: &Spec, w: &World, pid: Pid) -> Option<Observation> {
    let Process::Client(c) = &w.procs[pid] else {
        return None;
    };
    match &c.pc {
        ClientPc::Start => {
            let req = c.current()?;
            match (req.op, c.on_last_request(spec)) {
                (Op::Read, true) => Some(Observation::Volume),
                (Op::ReadImage, true) => Some(Observation::ImageRoute),
                _ => None,
            }
        }
        ClientPc::ReadImage { routes } => {
            match (
                routes.iter().any(|(_, tracked)| *tracked),
                c.on_last_request(spec),
            ) {
                (true, _) => Some(Observation::ImageTracking),
                (false, true) => Some(Observation::Image),
                // Its next request must not wait for a deferred read.
                (false, false) => None,
            }
        }
        _ => None,
    }
}

/// The blocks client `pid`'s next request covers: the range it chooses, else its fixed one.
pub fn request_blocks(w: &World, pid: Pid, choice: Option<(Block, Block)>) -> Option<Range<Block>> {
    match (choice, &w.procs[pid]) {
        (Some((a, b)), _) => Some(a..b),
        (None, Process::Client(c)) => c.current().map(|r| r.blocks.clone()),
        (None, Process::Copier(_)) => None,
    }
}

/// Whether a volume read of `blocks` now would see what it must not.
pub fn volume_read_wrong(w: &World, blocks: Range<Block>) -> bool {
    let Some(source) = w.disk.read(Device::Source, blocks.clone()) else {
        return false;
    };
    blocks
        .zip(source)
        .any(|(b, s)| volume_read_of(&w.meta, b, s).1.is_some())
}

/// Whether client `pid`'s image read, routed already, would see what it must not if it read
/// now: its completion run on a copy of the client with what its reads return now.
pub fn image_read_wrong(spec: &Spec, w: &World, pid: Pid) -> bool {
    let Process::Client(c) = &w.procs[pid] else {
        return false;
    };
    let results: IoResults = c
        .planned_io(spec)
        .into_iter()
        .map(|io| {
            let done = match &io {
                Io::Read { device, blocks } => IoDone::Read(w.disk.read(*device, blocks.clone())),
                other => unreachable!("an image read only reads, not {other:?}"),
            };
            (io, Ok(done))
        })
        .collect();
    let mut trial: Client = c.clone();
    trial.complete(spec, results);
    trial.bad_read.is_some()
}

/// Renames the writes no process works on any more (their writers have moved past them, and
/// they left the hold queue) to the first ids past the spec's writes, in the order their
/// stamps first appear on the devices and then in the ghost state. Nothing the engine or an
/// invariant does depends on which write a stamp names, only on whether two stamps are
/// equal: renaming finished writes one-to-one, where no process will ever name them again,
/// leaves every step and every verdict as it was, and merges the states that differ only by
/// which finished write left which data.
///
/// Not for a world that keeps stamps elsewhere: the undo of writes that may fail (faults),
/// cached writes and durable copies (volatile caches) and a bad read's stamps (a state that
/// is not expanded) are not renamed, so the caller keeps to worlds without them.
pub fn retire_writes(spec: &Spec, w: &mut World) {
    let first = spec.write_count() as WriteId;
    let mut live: SmallVec<[WriteId; 8]> = w.meta.hold.iter().collect();
    live.extend(
        w.clients()
            .filter_map(|(_, c)| c.current())
            .filter(|r| r.op == Op::Write)
            .map(|r| r.write),
    );
    let mut order: SmallVec<[WriteId; 16]> = SmallVec::new();
    for s in w.disk.stamps().iter().chain(&w.meta.ghost.latest) {
        if let Some(x) = write_of(*s) {
            if !live.contains(&x) && !order.contains(&x) {
                order.push(x);
            }
        }
    }
    let renamed = |x: WriteId| match order.iter().position(|o| *o == x) {
        Some(k) => first + k as WriteId,
        None => x,
    };
    if order
        .iter()
        .enumerate()
        .all(|(k, x)| *x == first + k as WriteId)
    {
        return;
    }
    w.disk.map_stamps(|s| map_stamp(s, renamed));
    for s in &mut w.meta.ghost.latest {
        *s = map_stamp(*s, renamed);
    }
}

/// Whether [`retire_writes`] may rename the writes of this spec's worlds.
pub fn retires_writes(spec: &Spec) -> bool {
    !spec.faults && !spec.volatile
}

/// Whether an image read of `blocks` routed now goes to the preserved copy of every chunk it
/// touches. Such a route tracks nothing (it changes nothing another process sees), and a
/// chunk once in the snapshot map stays there (the map only grows where no fault or power
/// loss strikes), so wherever the read is taken later it reads the copy the image invariant
/// checks in every state: `point-in-time image` breaks in the state where the read would
/// go wrong, and the route and its read are deferred with the other observations.
pub fn image_route_preserved(spec: &Spec, w: &World, blocks: &Range<Block>) -> bool {
    let map = w.meta.snapshot_map();
    spec.geometry
        .chunks_touching(blocks)
        .all(|c| map.contains(c))
}
