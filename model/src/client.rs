//! Application clients: writers and readers of the volume, and readers of the
//! point-in-time image. Each issues its requests one after another.

use crate::disk::{Copied, Device, Stamp, BEGIN};
use crate::engine::{Env, Pid, Resolved, Spec};
use crate::event::Event;
use crate::geometry::Index;
use crate::meta::{map_stamp, stamp_of, Meta, WriteId};
use crate::mutant::Mutant;
use crate::policy::{Target, WriteRule};
use crate::preserver::Preserver;
use crate::workload::Op;
use std::ops::Range;

/// A read that returned what it must not: kept in the state so invariants can report it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BadRead {
    pub image: bool,
    pub block: Index,
    pub device: Device,
    pub expected: Stamp,
    pub found: Stamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientPc {
    /// Issue the current request (a write arrives, a volume read is served, an image read
    /// is routed).
    Start,
    /// Preserving the chunks the held write claimed; `held` is false only for the
    /// `apply-before-preserve` mutant, whose write is already applied.
    Preserving {
        preserver: Preserver,
        held: bool,
    },
    /// Waiting in the hold queue to be applied.
    Release,
    /// Reading the image from the devices chosen when it was routed.
    ReadImage {
        routes: Vec<(Device, bool)>,
    },
    /// Releasing the image read's tracked chunks.
    Untrack {
        chunks: Vec<Index>,
    },
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Client {
    pid: u16,
    next: u16,
    pub pc: ClientPc,
    pub bad_read: Option<BadRead>,
}

impl Client {
    pub fn new(spec: &Spec, pid: Pid) -> Self {
        let pc = if spec.requests(pid).is_empty() {
            ClientPc::Finished
        } else {
            ClientPc::Start
        };
        Client {
            pid: pid as u16,
            next: 0,
            pc,
            bad_read: None,
        }
    }

    pub fn finished(&self) -> bool {
        self.pc == ClientPc::Finished
    }

    /// Whether the client is between writes: no write of its own is in progress.
    pub fn idle(&self, spec: &Spec) -> bool {
        match self.pc {
            ClientPc::Finished => true,
            ClientPc::Start => self.request(spec).op != Op::Write,
            ClientPc::ReadImage { .. } | ClientPc::Untrack { .. } => true,
            _ => false,
        }
    }

    /// Renames the client for symmetry reduction: it becomes process `pid`, and every write
    /// id it holds (its preserver's, and the stamps of a bad read) goes through `write`.
    pub fn renumber(&mut self, pid: Pid, write: impl Fn(WriteId) -> WriteId) {
        self.pid = pid as u16;
        if let ClientPc::Preserving { preserver, .. } = &mut self.pc {
            preserver.renumber(&write);
        }
        if let Some(r) = &mut self.bad_read {
            for s in [&mut r.expected, &mut r.found] {
                *s = map_stamp(*s, &write);
            }
        }
    }

    /// The request the client is working on, or `None` once it has finished.
    pub fn current<'a>(&self, spec: &'a Spec) -> Option<&'a Resolved> {
        (!self.finished()).then(|| self.request(spec))
    }

    fn request<'a>(&self, spec: &'a Spec) -> &'a Resolved {
        &spec.requests(self.pid as Pid)[self.next as usize]
    }

    pub fn needs_meta(&self) -> bool {
        match &self.pc {
            ClientPc::Start | ClientPc::Release | ClientPc::Untrack { .. } => true,
            ClientPc::Preserving { preserver, .. } => preserver.needs_meta(),
            ClientPc::ReadImage { .. } | ClientPc::Finished => false,
        }
    }

    pub fn blocked(&self, spec: &Spec, meta: &Meta) -> bool {
        match self.pc {
            ClientPc::Start => {
                let req = self.request(spec);
                req.op == Op::ReadImage
                    && !spec.has(Mutant::ImageReadDuringPreserve)
                    && meta
                        .in_flight
                        .any_in(spec.geometry.chunks_touching(&req.blocks))
            }
            ClientPc::Release => !self.may_release(spec, meta),
            _ => false,
        }
    }

    pub fn waiting_for(&self, spec: &Spec) -> String {
        match self.pc {
            ClientPc::Start => "chunks of its image read being preserved".into(),
            ClientPc::Release => {
                format!("write {} to leave the hold queue", self.request(spec).write)
            }
            _ => "nothing".into(),
        }
    }

    /// A held write leaves the queue from the head, once no chunk it modifies is in flight
    /// or tracked by an image read (and, offline, once the copy is complete).
    fn may_release(&self, spec: &Spec, meta: &Meta) -> bool {
        let req = self.request(spec);
        let chunks = spec.geometry.chunks_touching(&req.blocks);
        let turn = if spec.has(Mutant::ReleaseOutOfOrder) {
            meta.hold.contains(req.write)
        } else {
            meta.hold.head() == Some(req.write)
        };
        let copy_ok = spec.policy.write_rule() != WriteRule::WaitForCopy || meta.copy_complete;
        turn && copy_ok && !meta.in_flight.any_in(chunks.clone()) && !meta.any_tracked(chunks)
    }

    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        let req = self.request(spec).clone();
        match &mut self.pc {
            ClientPc::Start => match req.op {
                Op::Write => self.arrive(spec, env, &req),
                Op::Read => self.read(spec, env, &req),
                Op::ReadImage => self.route_image(spec, env.meta(), &req),
            },
            ClientPc::Preserving { preserver, held } => {
                let held = *held;
                let (event, done) = preserver.step(spec, env);
                if done {
                    if held {
                        self.pc = ClientPc::Release;
                    } else {
                        self.advance(spec);
                    }
                }
                event
            }
            ClientPc::Release => {
                env.meta().hold.remove(req.write);
                env.write(Device::Source, req.blocks.clone(), stamp_of(req.write));
                self.advance(spec);
                Event::WriteApplied {
                    write: req.write,
                    blocks: req.blocks,
                    released: true,
                }
            }
            ClientPc::ReadImage { routes } => {
                let routes = std::mem::take(routes);
                self.read_image(spec, env, &req, routes)
            }
            ClientPc::Untrack { chunks } => {
                let meta = env.meta();
                for c in chunks.iter() {
                    meta.tracked[*c as usize] -= 1;
                }
                self.advance(spec);
                Event::ImageUntracked { blocks: req.blocks }
            }
            ClientPc::Finished => unreachable!("a finished client takes no step"),
        }
    }

    fn advance(&mut self, spec: &Spec) {
        self.next += 1;
        self.pc = if (self.next as usize) < spec.requests(self.pid as Pid).len() {
            ClientPc::Start
        } else {
            ClientPc::Finished
        };
    }

    /// A write arrives: under the metadata lock, claim the chunks it must preserve, then
    /// either apply it at once or hold it in the queue.
    fn arrive<E: Env>(&mut self, spec: &Spec, env: &mut E, req: &Resolved) -> Event {
        let g = &spec.geometry;
        let w = req.write;
        let mut checked = g.chunks_touching(&req.blocks);
        if spec.has(Mutant::FirstSegmentOnly) {
            let first = g.segment_chunks(g.segment_of_chunk(checked.start));
            checked.end = checked.end.min(first.end);
        }
        let meta = env.meta();
        let (claims, waits) = claim_chunks(spec, meta, checked.clone());
        let overlaps_held = meta
            .hold
            .iter()
            .any(|h| overlaps(&spec.write_blocks(h), &req.blocks));
        for b in req.blocks.clone() {
            meta.ghost.latest[b as usize] = stamp_of(w);
        }
        if spec.has(Mutant::ApplyBeforePreserve) {
            env.write(Device::Source, req.blocks.clone(), stamp_of(w));
            let preserve = claims.len();
            match claims.is_empty() {
                true => self.advance(spec),
                false => {
                    self.pc = ClientPc::Preserving {
                        preserver: Preserver::new(w, claims),
                        held: false,
                    }
                }
            }
            return Event::WriteArrived {
                write: w,
                blocks: req.blocks.clone(),
                preserve,
                held: false,
            };
        }
        let held = !claims.is_empty() || waits || overlaps_held || meta.any_tracked(checked);
        let preserve = claims.len();
        if held {
            meta.hold.push(w);
            self.pc = match claims.is_empty() {
                true => ClientPc::Release,
                false => ClientPc::Preserving {
                    preserver: Preserver::new(w, claims),
                    held: true,
                },
            };
        } else {
            env.write(Device::Source, req.blocks.clone(), stamp_of(w));
            self.advance(spec);
        }
        Event::WriteArrived {
            write: w,
            blocks: req.blocks.clone(),
            preserve,
            held,
        }
    }

    /// A volume read: held writes first (newest wins), then the source.
    fn read<E: Env>(&mut self, spec: &Spec, env: &mut E, req: &Resolved) -> Event {
        let mut found = Vec::with_capacity(req.blocks.len());
        for b in req.blocks.clone() {
            let (held, expected) = {
                let meta = env.meta();
                (spec.newest_held(meta, b), meta.ghost.latest[b as usize])
            };
            let (device, stamp) = match held {
                Some(w) => (None, stamp_of(w)),
                None => (Some(Device::Source), env.read(Device::Source, b)),
            };
            found.push(stamp);
            if stamp != expected && self.bad_read.is_none() {
                self.bad_read = Some(BadRead {
                    image: false,
                    block: b,
                    device: device.unwrap_or(Device::Source),
                    expected,
                    found: stamp,
                });
            }
        }
        self.advance(spec);
        Event::VolumeRead {
            blocks: req.blocks.clone(),
            found: Copied::of(&found),
        }
    }

    /// Routes an image read per chunk; chunks read from the source are tracked so that no
    /// write modifies them until the read is done.
    fn route_image(&mut self, spec: &Spec, meta: &mut Meta, req: &Resolved) -> Event {
        let chunks = spec.geometry.chunks_touching(&req.blocks);
        let mut routes = Vec::with_capacity(chunks.len());
        let mut tracked = 0;
        for c in chunks {
            let dev = spec.image_source(meta, c);
            // Only the mutant gets here with the chunk in flight, and it does not track.
            let track = dev == Device::Source && !meta.in_flight.contains(c);
            if track {
                meta.tracked[c as usize] += 1;
                tracked += 1;
            }
            routes.push((dev, track));
        }
        self.pc = ClientPc::ReadImage { routes };
        Event::ImageRouted {
            blocks: req.blocks.clone(),
            tracked,
        }
    }

    fn read_image<E: Env>(
        &mut self,
        spec: &Spec,
        env: &mut E,
        req: &Resolved,
        routes: Vec<(Device, bool)>,
    ) -> Event {
        let g = &spec.geometry;
        let chunks = g.chunks_touching(&req.blocks);
        let mut found = Vec::with_capacity(req.blocks.len());
        for b in req.blocks.clone() {
            let (device, _) = routes[(g.chunk_of(b) - chunks.start) as usize];
            let stamp = env.read(device, b);
            found.push(stamp);
            if stamp != BEGIN && self.bad_read.is_none() {
                self.bad_read = Some(BadRead {
                    image: true,
                    block: b,
                    device,
                    expected: BEGIN,
                    found: stamp,
                });
            }
        }
        let tracked: Vec<Index> = chunks
            .zip(&routes)
            .filter(|(_, (_, tracked))| *tracked)
            .map(|(c, _)| c)
            .collect();
        match tracked.is_empty() {
            true => self.advance(spec),
            false => self.pc = ClientPc::Untrack { chunks: tracked },
        }
        Event::ImageRead {
            blocks: req.blocks.clone(),
            found: Copied::of(&found),
        }
    }
}

/// Decides, per chunk a write modifies, whether it is safe, must wait for another claim,
/// or must be preserved by this write (claimed now, under the lock).
fn claim_chunks(spec: &Spec, meta: &mut Meta, chunks: Range<Index>) -> (Vec<Index>, bool) {
    let mut claims = Vec::new();
    let mut waits = false;
    let Some(target) = spec.target() else {
        return (claims, !meta.copy_complete);
    };
    let safe = |meta: &Meta, c: Index| {
        if spec.has(Mutant::PreserveTwice) {
            // The mutant forgets the bit its own preservations set.
            match target {
                Target::Destination => meta.snapshot_map.contains(c),
                _ => meta.copied.contains(c),
            }
        } else {
            meta.settled(c)
        }
    };
    let claim = |meta: &mut Meta, c: Index, claims: &mut Vec<Index>| {
        if !spec.has(Mutant::CheckThenAct) {
            meta.in_flight.insert(c);
        }
        claims.push(c);
    };
    for c in chunks.clone() {
        if safe(meta, c) {
            continue;
        }
        if meta.in_flight.contains(c) {
            waits = true;
        } else {
            claim(meta, c, &mut claims);
        }
    }
    if spec.policy.preserve_next_range() {
        let ahead = (chunks.end..spec.geometry.chunks())
            .find(|c| !meta.settled(*c) && !meta.in_flight.contains(*c));
        if let Some(c) = ahead {
            claim(meta, c, &mut claims);
        }
    }
    (claims, waits)
}

fn overlaps(a: &Range<Index>, b: &Range<Index>) -> bool {
    a.start < b.end && b.start < a.end
}
