//! Application clients: writers and readers of the volume, and readers of the
//! point-in-time image. Each issues its requests one after another.

use crate::disk::{Copied, Device, Stamp, BEGIN};
use crate::env::{perform_all, Env, Io, IoDone, IoList, IoResults};
use crate::event::Event;
use crate::event::Wait;
use crate::fault::IoError;
use crate::geometry::{Block, Chunk};
use crate::ghost::Ghost;
use crate::meta::{map_stamp, stamp_of, Meta, WriteId};
use crate::preserver::{Claims, Preserver, Standing};
use crate::rules::{Apply, Rules};
use crate::spec::{Pid, Resolved, Spec};
use crate::workload::Op;
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// A read that returned what it must not: kept in the state so invariants can report it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BadRead {
    pub image: bool,
    pub block: Block,
    pub device: Device,
    pub expected: Stamp,
    pub found: Stamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientPc {
    /// Issue the current request (a write arrives, a volume read is served, an image read
    /// is routed).
    Start,
    /// Preserving the chunks the held write claimed; `held` is false only when the write
    /// was applied before preserving (`apply-before-preserve`).
    Preserving {
        preserver: Preserver,
        held: bool,
    },
    /// Waiting in the hold queue to be applied.
    Release,
    /// Reading the image from the devices chosen when it was routed, one per chunk.
    ReadImage {
        routes: Vec<(Device, bool)>,
    },
    /// Releasing the image read's tracked chunks.
    Untrack {
        chunks: Vec<Chunk>,
    },
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Client {
    pid: u32,
    next: u32,
    /// The request it works on (none once finished).
    req: Resolved,
    pub pc: ClientPc,
    /// Boxed: rare, and the timed driver keeps millions of clients.
    pub bad_read: Option<Box<BadRead>>,
}

/// Every field counts: the exhaustive checker keeps a state's hash as its identity, so a
/// field left out (a range chosen when a request arrives) would merge distinct states.
impl Hash for Client {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.pid, self.next).hash(h);
        (self.req.blocks.start, self.req.blocks.end).hash(h);
        self.pc.hash(h);
        self.bad_read.hash(h);
    }
}

impl Client {
    /// A client of the spec's fixed workload.
    pub fn new(spec: &Spec, pid: Pid) -> Self {
        let (req, pc) = match spec.request(pid, 0) {
            Some(r) => (unchosen(spec, r), ClientPc::Start),
            None => (Resolved::nothing(), ClientPc::Finished),
        };
        Client {
            pid: pid as u32,
            next: 0,
            req,
            pc,
            bad_read: None,
        }
    }

    /// A client a driver adds with one request of its own (its pid must lie past the
    /// spec's fixed clients).
    pub fn with_request(pid: Pid, req: Resolved) -> Self {
        Client {
            pid: pid as u32,
            next: 0,
            req,
            pc: ClientPc::Start,
            bad_read: None,
        }
    }

    pub fn finished(&self) -> bool {
        self.pc == ClientPc::Finished
    }

    /// Whether the client is between writes: no write of its own is in progress.
    pub fn idle(&self) -> bool {
        match self.pc {
            ClientPc::Finished => true,
            ClientPc::Start => self.req.op != Op::Write,
            ClientPc::ReadImage { .. } | ClientPc::Untrack { .. } => true,
            _ => false,
        }
    }

    /// Renames the client for symmetry reduction: it becomes process `pid`, and every write
    /// id it holds (its request's, its preserver's, and the stamps of a bad read) goes
    /// through `write`.
    pub fn renumber(&mut self, pid: Pid, write: impl Fn(WriteId) -> WriteId) {
        self.pid = pid as u32;
        if self.req.op == Op::Write {
            self.req.write = write(self.req.write);
        }
        if let ClientPc::Preserving { preserver, .. } = &mut self.pc {
            preserver.renumber(&write);
        }
        if let Some(r) = &mut self.bad_read {
            for s in [&mut r.expected, &mut r.found] {
                *s = map_stamp(*s, &write);
            }
        }
    }

    /// Whether the client's next step issues a request whose range it has yet to choose.
    pub fn choosing(&self, spec: &Spec) -> bool {
        spec.open_ranges.is_some() && self.pc == ClientPc::Start
    }

    /// Chooses the range of an open request (see [`Spec::with_open_ranges`]), just before
    /// the step that issues it.
    pub fn choose(&mut self, blocks: Range<Block>) {
        debug_assert!(
            self.pc == ClientPc::Start,
            "only a request not yet issued chooses"
        );
        self.req.blocks = blocks;
    }

    /// Whether the request it works on is its last (after it, the client has finished).
    pub fn on_last_request(&self, spec: &Spec) -> bool {
        spec.request(self.pid as Pid, self.next + 1).is_none()
    }

    /// The request the client is working on, or `None` once it has finished.
    pub fn current(&self) -> Option<&Resolved> {
        (!self.finished()).then_some(&self.req)
    }

    pub fn needs_meta(&self) -> bool {
        match &self.pc {
            ClientPc::Start | ClientPc::Release | ClientPc::Untrack { .. } => true,
            ClientPc::Preserving { preserver, .. } => preserver.needs_meta(),
            ClientPc::ReadImage { .. } | ClientPc::Finished => false,
        }
    }

    /// An image read waits for chunks being preserved; a held write waits for its turn,
    /// for its chunks to be free (and, offline, for the copy to complete).
    pub fn wait<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Wait> {
        if self.choosing(spec) {
            // Only image reads wait to be issued: blocked if no range it may choose can be
            // issued now.
            if self.req.op != Op::ReadImage {
                return None;
            }
            let open = spec.ranges(self.req.op).any(|r| {
                let mut c = self.clone();
                c.choose(r);
                c.wait_for(spec, meta).is_none()
            });
            return (!open).then_some(Wait::AnyStep);
        }
        self.wait_for(spec, meta)
    }

    /// What the client waits for with the range it holds (chosen or fixed).
    pub(crate) fn wait_for<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Wait> {
        let chunks = || spec.geometry.chunks_touching(&self.req.blocks);
        match self.pc {
            ClientPc::Start if self.req.op == Op::ReadImage => {
                let waits = spec.rules.image_reads_wait_for_claims;
                let flying = meta.in_flight().first_in(chunks());
                flying.filter(|_| waits).map(Wait::Chunk)
            }
            ClientPc::Release => {
                let failed = meta.copy_failed;
                // Offline writes wait for the copy; so does every held write after a copy
                // error when the mutant never releases them (a copy that never completes).
                let copy_pending = match failed {
                    true => !spec.rules.release_after_copy_error,
                    false => spec.target().is_none() && !meta.copy_complete,
                };
                if !spec.turn(&meta.hold, self.req.write, &self.req.blocks) {
                    Some(Wait::Turn)
                } else if copy_pending {
                    Some(Wait::CopyComplete)
                } else {
                    let chunks = chunks();
                    let flying = spec.rules.in_flight_conflict(meta, chunks.clone());
                    flying
                        .or_else(|| meta.tracked.first_in(chunks))
                        .map(Wait::Chunk)
                }
            }
            _ => None,
        }
    }

    pub fn waiting_for(&self) -> String {
        match self.pc {
            ClientPc::Start => "chunks of its image read being preserved".into(),
            ClientPc::Release => format!("write {} to leave the hold queue", self.req.write),
            _ => "nothing".into(),
        }
    }

    /// The I/O of a step taken without the metadata lock (an image read's reads, or a
    /// preservation's copy), from the client's own state.
    pub fn planned_io(&self, spec: &Spec) -> IoList {
        match &self.pc {
            ClientPc::ReadImage { routes } => self.image_io(spec, routes),
            ClientPc::Preserving { preserver, .. } => {
                [preserver.planned_io(spec, &self.req.blocks)]
                    .into_iter()
                    .collect()
            }
            pc => unreachable!("{pc:?} is a step under the metadata lock"),
        }
    }

    /// Ends a step taken without the metadata lock with the results of its I/O.
    pub fn complete(&mut self, spec: &Spec, results: IoResults) -> Event {
        match &mut self.pc {
            ClientPc::ReadImage { routes } => {
                let routes = std::mem::take(routes);
                self.image_read(spec, routes, results)
            }
            ClientPc::Preserving { preserver, .. } => {
                let (io, result) = results
                    .into_iter()
                    .next()
                    .expect("a preservation's one copy");
                preserver.complete(spec, io, result)
            }
            pc => unreachable!("{pc:?} is a step under the metadata lock"),
        }
    }

    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        let req = self.req.clone();
        match &mut self.pc {
            ClientPc::Start => match req.op {
                Op::Write => self.arrive(spec, env, &req),
                Op::Read => self.read(spec, env, &req),
                Op::ReadImage => self.route_image(spec, env.meta(), &req),
                Op::Flush => self.flush(spec, env),
            },
            ClientPc::Preserving { preserver, .. } if !preserver.needs_meta() => {
                let results = perform_all(env, self.planned_io(spec));
                self.complete(spec, results)
            }
            ClientPc::Preserving { preserver, held } => {
                let held = *held;
                let (event, outcome) = preserver.step(spec, env, &req.blocks, held);
                match outcome {
                    Standing::Busy => {}
                    Standing::Done if held => self.pc = ClientPc::Release,
                    Standing::Done => self.advance(spec),
                    Standing::FailWrite => self.fail_write(spec, env, &req),
                }
                event
            }
            ClientPc::Release => {
                if let Some(event) = self.reclaim(spec, env.meta(), &req) {
                    return event;
                }
                env.meta().hold.remove(req.write);
                match apply(env, &req) {
                    Ok(()) => {
                        self.advance(spec);
                        Event::WriteApplied {
                            write: req.write,
                            blocks: req.blocks,
                            released: true,
                        }
                    }
                    Err(error) => self.source_write_failed(spec, env, &req, error),
                }
            }
            ClientPc::ReadImage { .. } => {
                let results = perform_all(env, self.planned_io(spec));
                self.complete(spec, results)
            }
            ClientPc::Untrack { chunks } => {
                let meta = env.meta();
                for c in chunks.iter() {
                    meta.tracked.remove(*c);
                }
                self.advance(spec);
                Event::ImageUntracked { blocks: req.blocks }
            }
            ClientPc::Finished => unreachable!("a finished client takes no step"),
        }
    }

    /// Before a held write is applied, when a claim can end unsettled (I/O can fail, a task
    /// can be handed back): a preservation or copy it waited for may have left its chunk
    /// unsettled, so it claims such chunks to preserve itself. (Otherwise every chunk it
    /// waited for is settled by now: nothing to do.)
    fn reclaim<G: Ghost>(
        &mut self,
        spec: &Spec,
        meta: &mut Meta<G>,
        req: &Resolved,
    ) -> Option<Event> {
        // A failed copy needs nothing preserved; the mistake looks no more.
        if !spec.claims_can_end_unsettled() || meta.copy_failed || !spec.rules.recheck_after_wait {
            return None;
        }
        let g = &spec.geometry;
        let mut claims = Claims::new();
        // Its turn came only once none of its chunks was in flight: none waits here.
        let chunks = spec.rules.checked_chunks(g, g.chunks_touching(&req.blocks));
        claim_unsafe(&spec.rules, meta, chunks, &mut claims);
        if claims.is_empty() {
            return None;
        }
        let preserve = claims.len();
        self.pc = ClientPc::Preserving {
            preserver: Preserver::new(req.write, claims, req.fua),
            held: true,
        };
        Some(Event::Reclaimed {
            write: req.write,
            preserve,
        })
    }

    /// A write whose preservation failed under `break-guest-write` fails back to its writer:
    /// it leaves the queue and readers see again what it hid.
    fn fail_write<E: Env>(&mut self, spec: &Spec, env: &mut E, req: &Resolved) {
        let stamp = stamp_of(req.write);
        let meta = env.meta();
        meta.hold.remove(req.write);
        meta.ghost.failed(stamp);
        if spec.rules.apply_failed_write {
            // The mistake: the data reaches the source though its writer is told it failed.
            let _ = env.write(Device::Source, req.blocks.clone(), stamp);
        }
        self.advance(spec);
    }

    /// The write's own I/O to the source failed: nothing reached the source, so the write
    /// fails back to its writer, whatever the error policy (it governs the copy's I/O).
    fn source_write_failed<E: Env>(
        &mut self,
        spec: &Spec,
        env: &mut E,
        req: &Resolved,
        error: IoError,
    ) -> Event {
        env.meta().ghost.failed(stamp_of(req.write));
        self.advance(spec);
        Event::WriteFailed {
            write: req.write,
            blocks: req.blocks.clone(),
            error: Some(error),
        }
    }

    /// The guest's FLUSH: the source's cache reaches stable media, and with it every write
    /// acknowledged so far.
    fn flush<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        let passed_down = spec.rules.guest_flush_passed_down;
        // Without volatile caches there is nothing to flush.
        if passed_down && spec.volatile {
            let _never_fails = env.perform(&Io::Flush {
                device: Device::Source,
            });
        }
        env.meta().ghost.flushed();
        self.advance(spec);
        Event::GuestFlushed { passed_down }
    }

    /// The power failed: the request in progress is gone with the guest's memory (never
    /// acknowledged); the client goes on with its next.
    pub fn power_lost(&mut self, spec: &Spec) {
        if !self.finished() {
            self.advance(spec);
        }
    }

    fn advance(&mut self, spec: &Spec) {
        self.next += 1;
        match spec.request(self.pid as Pid, self.next) {
            Some(r) => {
                self.req = unchosen(spec, r);
                self.pc = ClientPc::Start;
            }
            None => {
                // A finished client keeps no request: states that differ only by the range
                // a client used last are one state.
                self.req = Resolved::nothing();
                self.pc = ClientPc::Finished;
            }
        }
    }

    /// A write arrives: under the metadata lock, claim the chunks it must preserve, then
    /// either apply it at once or hold it in the queue.
    fn arrive<E: Env>(&mut self, spec: &Spec, env: &mut E, req: &Resolved) -> Event {
        let g = &spec.geometry;
        let w = req.write;
        let checked = spec.rules.checked_chunks(g, g.chunks_touching(&req.blocks));
        let meta = env.meta();
        let (claims, waits) = claim_chunks(spec, meta, checked.clone());
        let overlaps_held = meta.hold.overlaps(&req.blocks);
        meta.ghost
            .arrived(req.blocks.clone(), stamp_of(w), spec.faults);
        let preserve = claims.len();
        let held = match spec.rules.apply {
            Apply::BeforePreserving => false,
            Apply::AfterPreserving => {
                !claims.is_empty() || waits || overlaps_held || meta.tracked.any_in(checked)
            }
        };
        if held {
            meta.hold.push(w, req.blocks.clone());
        } else {
            match apply(env, req) {
                Ok(()) => {}
                Err(error) => {
                    for c in &claims {
                        env.meta().unclaim(*c);
                    }
                    return self.source_write_failed(spec, env, req, error);
                }
            }
        }
        match claims.is_empty() {
            true if held => self.pc = ClientPc::Release,
            true => self.advance(spec),
            false => {
                self.pc = ClientPc::Preserving {
                    preserver: Preserver::new(w, claims, req.fua),
                    held,
                }
            }
        }
        Event::WriteArrived {
            write: w,
            blocks: req.blocks.clone(),
            preserve,
            held,
        }
    }

    /// A volume read: one I/O of the source; where a held write covers a block, the newest
    /// held write's data wins. Checked against the ghost state when data is kept.
    fn read<E: Env>(&mut self, spec: &Spec, env: &mut E, req: &Resolved) -> Event {
        let found = match env.read(Device::Source, req.blocks.clone()) {
            Err(error) => {
                self.advance(spec);
                return Event::ReadFailed {
                    blocks: req.blocks.clone(),
                    image: false,
                    error: Some(error),
                };
            }
            Ok(None) => Copied::unknown(req.blocks.end - req.blocks.start),
            Ok(Some(source)) => {
                let meta = env.meta();
                let mut found = Vec::with_capacity(source.len());
                for (b, s) in req.blocks.clone().zip(source) {
                    let (stamp, bad) = volume_read_of(meta, b, s);
                    found.push(stamp);
                    if self.bad_read.is_none() {
                        self.bad_read = bad.map(Box::new);
                    }
                }
                Copied::of(&found)
            }
        };
        self.advance(spec);
        Event::VolumeRead {
            blocks: req.blocks.clone(),
            found,
        }
    }

    /// Routes an image read per chunk; chunks read from the source are tracked so that no
    /// write modifies them until the read is done.
    fn route_image<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>, req: &Resolved) -> Event {
        if meta.copy_failed && spec.rules.image_fails_after_copy_error {
            self.advance(spec);
            return Event::ReadFailed {
                blocks: req.blocks.clone(),
                image: true,
                error: None,
            };
        }
        let chunks = spec.geometry.chunks_touching(&req.blocks);
        let mut routes = Vec::with_capacity(chunks.len());
        let mut tracked = 0;
        for c in chunks {
            let dev = spec.image_source(meta, c);
            // Only the mutant gets here with the chunk in flight, and it does not track.
            let track = dev == Device::Source && !meta.in_flight().contains(c);
            if track {
                meta.tracked.add(c);
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

    /// The image read's I/O: one read per run of adjacent chunks routed to the same device.
    fn image_io(&self, spec: &Spec, routes: &[(Device, bool)]) -> IoList {
        let g = &spec.geometry;
        let req = &self.req;
        let chunks = g.chunks_touching(&req.blocks);
        let mut ios = IoList::new();
        let mut i = 0;
        while i < routes.len() {
            let device = routes[i].0;
            let j = i + routes[i..].iter().take_while(|r| r.0 == device).count();
            let first = g.chunk_blocks(chunks.start + i as Chunk).start;
            let last = g.chunk_blocks(chunks.start + j as Chunk - 1).end;
            let blocks = first.max(req.blocks.start)..last.min(req.blocks.end);
            ios.push(Io::Read { device, blocks });
            i = j;
        }
        ios
    }

    /// Ends the image read with the results of its reads: every block must hold begin-time
    /// data.
    fn image_read(
        &mut self,
        spec: &Spec,
        routes: Vec<(Device, bool)>,
        results: IoResults,
    ) -> Event {
        let req = self.req.clone();
        let mut found = Copied::default();
        let mut failed = None;
        for (io, result) in results {
            let Io::Read { device, blocks } = io else {
                unreachable!("an image read only reads")
            };
            match result.map(IoDone::stamps) {
                Err(error) => failed = Some(error),
                Ok(None) => found.append(Copied::unknown(blocks.end - blocks.start)),
                Ok(Some(stamps)) => {
                    self.check_image(device, blocks.start, &stamps);
                    found.append(Copied::of(&stamps));
                }
            }
        }
        let tracked: Vec<Chunk> = spec
            .geometry
            .chunks_touching(&req.blocks)
            .zip(&routes)
            .filter(|(_, (_, tracked))| *tracked)
            .map(|(c, _)| c)
            .collect();
        match tracked.is_empty() {
            true => self.advance(spec),
            false => self.pc = ClientPc::Untrack { chunks: tracked },
        }
        match failed {
            Some(error) => Event::ReadFailed {
                blocks: req.blocks,
                image: true,
                error: Some(error),
            },
            None => Event::ImageRead {
                blocks: req.blocks,
                found,
            },
        }
    }

    fn check_image(&mut self, device: Device, start: Block, stamps: &[Stamp]) {
        if self.bad_read.is_some() {
            return;
        }
        if let Some(at) = stamps.iter().position(|s| *s != BEGIN) {
            self.bad_read = Some(Box::new(BadRead {
                image: true,
                block: start + at as Block,
                device,
                expected: BEGIN,
                found: stamps[at],
            }));
        }
    }
}

/// What a volume read of block `b` returns while the source holds `source` there: the
/// newest held write covering the block, else the source's data; and the bad read, where
/// the ghost knows the block's latest write and the read returned another. (The read step
/// and the exhaustive checker's reduction judge a read by this one rule.)
pub fn volume_read_of<G: Ghost>(
    meta: &Meta<G>,
    b: Block,
    source: Stamp,
) -> (Stamp, Option<BadRead>) {
    let (device, stamp) = match meta.hold.newest_covering(b) {
        Some(w) => (None, stamp_of(w)),
        None => (Some(Device::Source), source),
    };
    let expected = meta.ghost.latest(b);
    let bad = expected.filter(|e| *e != stamp).map(|e| BadRead {
        image: false,
        block: b,
        device: device.unwrap_or(Device::Source),
        expected: e,
        found: stamp,
    });
    (stamp, bad)
}

/// Applies a write to the source (FUA if the write is) and acknowledges it. (Inlined where
/// it is called, so that the write's I/O is known where the driver performs it.)
#[inline(always)]
fn apply<E: Env>(env: &mut E, req: &Resolved) -> Result<(), IoError> {
    let stamp = stamp_of(req.write);
    env.perform(&Io::Write {
        device: Device::Source,
        blocks: req.blocks.clone(),
        stamp,
        fua: req.fua,
    })?;
    let ghost = &mut env.meta().ghost;
    ghost.acknowledged(stamp);
    ghost.applied(req.blocks.clone(), stamp, req.fua);
    Ok(())
}

/// A request as a client holds it before issuing it: an open request's range is chosen
/// later, so that states before the choice do not differ by a range.
fn unchosen(spec: &Spec, r: &Resolved) -> Resolved {
    let mut r = r.clone();
    if spec.open_ranges.is_some() {
        r.blocks = 0..0;
    }
    r
}

/// Decides, per chunk a write modifies, whether it is safe, must wait for another claim,
/// or must be preserved by this write (claimed now, under the lock).
fn claim_chunks<G: Ghost>(spec: &Spec, meta: &mut Meta<G>, chunks: Range<Chunk>) -> (Claims, bool) {
    let rules = &spec.rules;
    let mut claims = Claims::new();
    // A failed copy needs nothing preserved; a write still waits for a chunk in flight, so
    // that no preservation under way copies its data.
    if meta.copy_failed {
        return (claims, meta.in_flight().any_in(chunks));
    }
    if rules.target.is_none() {
        return (claims, !meta.copy_complete);
    }
    let waits = claim_unsafe(rules, meta, chunks.clone(), &mut claims);
    if rules.preserve_next_range {
        // The next range of the write's own volume: another volume's chunks are not its to
        // preserve.
        let g = &spec.geometry;
        let volume = |c: Chunk| spec.volume_of(g.chunk_blocks(c).start);
        let mine = volume(chunks.start);
        if let Some(c) = meta
            .first_open_chunk(chunks.end)
            .filter(|c| volume(*c) == mine)
        {
            rules.claim(meta, c, &mut claims);
        }
    }
    (claims, waits)
}

/// Claims each chunk that is not safe to modify and not in flight; returns whether one was
/// in flight (the write must wait for it).
fn claim_unsafe<G: Ghost>(
    rules: &Rules,
    meta: &mut Meta<G>,
    chunks: Range<Chunk>,
    claims: &mut Claims,
) -> bool {
    let mut waits = false;
    for c in chunks {
        if rules.safe(meta, c) {
            continue;
        }
        if meta.in_flight().contains(c) {
            waits = true;
        } else {
            rules.claim(meta, c, claims);
        }
    }
    waits
}
