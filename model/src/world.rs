//! The processes of an online copy and the whole state they step: `Process` dispatches to
//! the step machines, `World` holds the devices, the metadata and the processes.

use crate::client::Client;
use crate::copier::{Copier, CopierPc};
use crate::disk::{BlockStore, Device, Disk};
use crate::durability::{survives, Power, Records, Recovery};
use crate::env::{Direct, Env, IoList, IoResults};
use crate::event::Event;
pub use crate::event::Wait;
use crate::fault::{Faults, Faulty, NoFaults};
use crate::geometry::Block;
use crate::ghost::{Ghost, GhostImage};
use crate::meta::Meta;
use crate::spec::{Pid, Spec};
use crate::workload::Op;
use std::ops::Range;

/// A process of the online copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Process {
    Copier(Copier),
    Client(Client),
}

impl Process {
    pub fn finished(&self) -> bool {
        match self {
            Process::Copier(c) => c.finished(),
            Process::Client(c) => c.finished(),
        }
    }

    /// Whether the process is a copy worker that may hand its task back now.
    pub fn can_hand_back(&self, spec: &Spec) -> bool {
        matches!(self, Process::Copier(c) if c.can_hand_back(spec))
    }

    /// The worker hands its task back (see [`Copier::hand_back`]).
    pub fn hand_back<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        match self {
            Process::Copier(c) => c.hand_back(spec, meta),
            Process::Client(_) => unreachable!("only a copy worker hands a task back"),
        }
    }

    /// Whether the process is a copy worker whose next step takes a segment.
    pub fn about_to_take<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> bool {
        matches!(self, Process::Copier(c) if c.about_to_take(spec, meta))
    }

    /// Whether the next step takes the metadata lock.
    pub fn needs_meta(&self) -> bool {
        match self {
            Process::Copier(c) => c.needs_meta(),
            Process::Client(c) => c.needs_meta(),
        }
    }

    /// What the next step must wait for, if anything (evaluated under the metadata lock).
    pub fn wait<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Wait> {
        match self {
            Process::Copier(c) => c.wait(spec, meta),
            Process::Client(c) => c.wait(spec, meta),
        }
    }

    /// Whether the next step must wait (evaluated under the metadata lock).
    pub fn blocked<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> bool {
        self.wait(spec, meta).is_some()
    }

    /// What the process waits for, in words (for deadlock reports).
    pub fn waiting_for<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> String {
        match self {
            Process::Copier(c) => c.waiting_for(spec, meta),
            Process::Client(c) => c.waiting_for(),
        }
    }

    /// The I/O of the next step, when it takes no metadata lock: decided by the process's own
    /// state alone, so a driver can serve it (or fail it) before the step takes effect.
    pub fn planned_io(&self, spec: &Spec) -> IoList {
        debug_assert!(!self.needs_meta() && !self.finished());
        match self {
            Process::Copier(c) => c.planned_io(spec),
            Process::Client(c) => c.planned_io(spec),
        }
    }

    /// Takes the next step, one without the metadata lock, with the results of the I/O it
    /// planned ([`Process::planned_io`]): those up to and including the first that failed.
    pub fn complete(&mut self, spec: &Spec, results: IoResults) -> Event {
        match self {
            Process::Copier(c) => c.complete(spec, results),
            Process::Client(c) => c.complete(spec, results),
        }
    }

    /// Takes the next step: its I/O performed through `env`.
    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        match self {
            Process::Copier(c) => c.step(spec, env),
            Process::Client(c) => c.step(spec, env),
        }
    }
}

/// The whole state of an online copy: what the exhaustive driver stores millions of. The
/// block store and the ghost state are parameters: dense for the checkers (the defaults),
/// data-free for timed runs too large to hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World<S: BlockStore = Disk, G: Ghost = GhostImage> {
    pub disk: S,
    pub meta: Meta<G>,
    pub procs: Vec<Process>,
    /// Faults the exhaustive checker may still inject on this path (0 for other drivers).
    pub faults_left: u8,
    /// Tasks the exhaustive checker may still make a worker hand back on this path.
    pub hand_backs_left: u8,
    /// Stable media, cached writes and the durable metadata, when devices have volatile
    /// caches ([`Spec::volatile`]); `None` otherwise, and then nothing of it is in the state.
    pub power: Option<Box<Power<S>>>,
}

impl World {
    /// The begin-time state with every stamp kept (what the checkers explore).
    pub fn new(spec: &Spec) -> Self {
        World::begin(spec)
    }
}

impl<S: BlockStore, G: Ghost> World<S, G> {
    /// The begin-time state over a block store and ghost state of the caller's choice.
    pub fn begin(spec: &Spec) -> Self {
        let g = &spec.geometry;
        let mut procs: Vec<Process> = (0..spec.workers())
            .map(|_| Process::Copier(Copier::new(g)))
            .collect();
        for pid in spec.clients() {
            procs.push(Process::Client(Client::new(spec, pid)));
        }
        let mut meta: Meta<G> = Meta::new(g, spec.order.follows_writes());
        if spec.volatile {
            meta.ghost.track_durability();
        }
        World {
            disk: S::new(g.blocks),
            meta,
            procs,
            faults_left: 0,
            hand_backs_left: 0,
            power: spec.volatile.then(|| Box::new(Power::new(g))),
        }
    }

    /// The state after a completed copy: the copier finished, every chunk at the
    /// destination. Writes go straight to the source (what a volume costs with no copy).
    pub fn copied(spec: &Spec) -> Self {
        let mut w = World::begin(spec);
        w.meta.set_all_copied();
        w.meta.copy_complete = true;
        for p in &mut w.procs {
            if let Process::Copier(c) = p {
                c.pc = CopierPc::Finished;
            }
        }
        w
    }

    pub fn enabled(&self, spec: &Spec, pid: Pid) -> bool {
        let p = &self.procs[pid];
        !p.finished() && !p.blocked(spec, &self.meta)
    }

    /// Processes that can take a step now.
    pub fn runnable<'a>(&'a self, spec: &'a Spec) -> impl Iterator<Item = Pid> + 'a {
        (0..self.procs.len()).filter(move |pid| self.enabled(spec, *pid))
    }

    /// The ranges process `pid` may choose for the request it issues next, if it chooses
    /// one (an open request of [`Spec::with_open_ranges`]): those it can issue now.
    pub fn choices(&self, spec: &Spec, pid: Pid) -> Option<Vec<Range<Block>>> {
        let Process::Client(c) = &self.procs[pid] else {
            return None;
        };
        if !c.choosing(spec) {
            return None;
        }
        let op = c.current()?.op;
        let enabled = spec.ranges(op).filter(|r| {
            // Only an image read waits to be issued (for chunks in flight).
            op != Op::ReadImage || {
                let mut c = c.clone();
                c.choose(r.clone());
                c.wait_for(spec, &self.meta).is_none()
            }
        });
        Some(enabled.collect())
    }

    /// Takes process `pid`'s step, issuing its open request with the range `choice`.
    pub fn step_choosing(&mut self, spec: &Spec, pid: Pid, choice: Option<Range<Block>>) -> Event {
        if let (Some(r), Process::Client(c)) = (choice, &mut self.procs[pid]) {
            c.choose(r);
        }
        self.step(spec, pid)
    }

    pub fn step(&mut self, spec: &Spec, pid: Pid) -> Event {
        self.step_with(spec, pid, &mut NoFaults)
    }

    /// Takes process `pid`'s step with I/O that fails as `faults` decides.
    pub fn step_with<F: Faults + ?Sized>(
        &mut self,
        spec: &Spec,
        pid: Pid,
        faults: &mut F,
    ) -> Event {
        let env = Direct {
            disk: &mut self.disk,
            meta: &mut self.meta,
            power: self.power.as_deref_mut(),
        };
        self.procs[pid].step(spec, &mut Faulty { env, faults })
    }

    /// The copier crashes and restarts from what it persisted: every worker loses what it
    /// held in memory (one step, taken under the metadata lock). The event is that of the
    /// first worker that lost work, else the first worker's.
    pub fn crash_copier(&mut self, spec: &Spec) -> Event {
        let mut events: Vec<Event> = Vec::new();
        for p in &mut self.procs[..spec.workers() as usize] {
            match p {
                Process::Copier(c) => events.push(c.crash(spec, &mut self.meta)),
                Process::Client(_) => unreachable!("the first processes are the workers"),
            }
        }
        let lost = events
            .iter()
            .position(|e| matches!(e, Event::CopierRestarted { lost: Some(_), .. }));
        events.swap_remove(lost.unwrap_or(0))
    }

    /// The power fails: of the writes still in volatile caches, those `survivors` picks (a
    /// mask over their order in [`Power::pending`], see [`crate::durability::survives`])
    /// reach stable media, the rest are lost; every
    /// process loses its memory; recovery rebuilds the metadata from the durable records and
    /// resumes the copy, or declares the snapshot invalid. Clients drop the request they
    /// were working on (never acknowledged) and go on with their next.
    pub fn power_loss(&mut self, spec: &Spec, survivors: u32) -> Event {
        let power = self
            .power
            .as_mut()
            .expect("a power loss needs volatile caches");
        let cached = power.pending.len();
        let survived = (0..cached).filter(|i| survives(survivors, *i)).count();
        power.lose(survivors);
        self.disk = power.durable.clone();
        let records = power.records.clone();
        let invalid = match spec.rules.recovery {
            Recovery::Invalidate => true,
            Recovery::Resume => records.invalid && spec.rules.recovery_honours_invalid,
        };
        if invalid {
            power.records.invalid = true;
        }
        let mut preserved = records.mapped.clone();
        for c in records.copied.iter() {
            preserved.insert(c);
        }
        let blocks = spec.geometry.blocks;
        if let Some(source) = self.disk.read(Device::Source, 0..blocks) {
            self.meta.ghost.power_lost(&source, &preserved);
        }
        self.recover_meta(spec, &records, invalid);
        for p in &mut self.procs {
            match p {
                Process::Copier(c) => c.restart(spec, &self.meta),
                Process::Client(c) => c.power_lost(spec),
            }
        }
        Event::PowerLost {
            cached,
            survived,
            invalid,
            done: self.meta.progress.done_count(),
        }
    }

    /// The metadata as recovery rebuilds it from durable records: nothing in flight,
    /// tracked or held.
    fn recover_meta(&mut self, spec: &Spec, records: &Records, invalid: bool) {
        let g = &spec.geometry;
        let fresh = Meta::new(g, spec.order.follows_writes()).with_indexes(self.meta.indexed());
        let mut old = std::mem::replace(&mut self.meta, fresh);
        let m = &mut self.meta;
        std::mem::swap(&mut m.ghost, &mut old.ghost);
        for c in records.mapped.iter() {
            m.set_mapped(c);
            if spec.order.follows_writes() {
                m.preserved_segments.insert(g.segment_of_chunk(c));
            }
        }
        for c in records.copied.iter() {
            m.set_copied(c);
        }
        for s in records.done.iter() {
            m.set_copied_range(g.segment_chunks(s));
            m.preserved_segments.remove(&s);
            m.progress.take(s, |n| spec.planned_segment(n));
            m.progress.note_done(s, |n| spec.planned_segment(n));
        }
        m.copy_failed = invalid;
        m.copy_complete = records.complete && !invalid;
    }

    /// Whether a crash of the copier now would lose work of any worker.
    pub fn crash_loses_work(&self, spec: &Spec) -> bool {
        self.workers(spec).any(|(_, c)| c.crash_loses_work())
    }

    /// Worker `pid` hands its task back (see [`Copier::hand_back`]).
    pub fn hand_back(&mut self, spec: &Spec, pid: Pid) -> Event {
        self.procs[pid].hand_back(spec, &mut self.meta)
    }

    /// The copier's workers.
    pub fn workers<'a>(&'a self, spec: &Spec) -> impl Iterator<Item = (Pid, &'a Copier)> + 'a {
        self.procs[..spec.workers() as usize]
            .iter()
            .enumerate()
            .map(|(pid, p)| match p {
                Process::Copier(c) => (pid, c),
                Process::Client(_) => unreachable!("the first processes are the workers"),
            })
    }

    /// Every process has finished: the copy is complete and every request answered.
    pub fn finished(&self) -> bool {
        self.procs.iter().all(Process::finished)
    }

    /// The copier's first worker (the whole copier when it has one).
    pub fn copier(&self) -> &Copier {
        match &self.procs[0] {
            Process::Copier(c) => c,
            Process::Client(_) => unreachable!("process 0 is the copier"),
        }
    }

    /// Whether every worker of the copier has finished.
    pub fn copier_finished(&self) -> bool {
        self.procs.iter().all(|p| match p {
            Process::Copier(c) => c.finished(),
            Process::Client(_) => true,
        })
    }

    /// Segments the copier has marked copied.
    pub fn segments_done(&self) -> u32 {
        self.meta.progress.done_count()
    }

    pub fn clients(&self) -> impl Iterator<Item = (Pid, &Client)> {
        self.procs
            .iter()
            .enumerate()
            .filter_map(|(pid, p)| match p {
                Process::Client(c) => Some((pid, c)),
                Process::Copier(_) => None,
            })
    }
}
