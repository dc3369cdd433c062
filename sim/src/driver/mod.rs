//! The timed driver: the engine's own step machines on simulated time.
//!
//! It decides only who steps next (the process whose I/O or CPU time ends first) and what
//! an I/O costs (its device's model and queue). A step under the metadata lock runs at once,
//! as one atomic action, through [`Timed`], an `Env` that records the device accesses of the
//! I/O the step performs; the process is then busy for the step's CPU time and those
//! accesses, issued one after another to their devices' FIFO queues, and takes its next step
//! when the last one completes. A step without the lock, in a run that keeps data, takes
//! effect when its I/O is done, so that the data it moves is that moment's: the driver asks
//! the process for the I/O it plans ([`Process::planned_io`]), decides its faults and serves
//! it, then performs it and completes the step with the results ([`Process::complete`]); the
//! step runs once. Blocked processes are parked under what they wait for ([`Wait`]) and woken
//! by the steps that free it ([`Event::frees`]), so no step polls every process.
//!
//! Every request is a client process of its own (the open loop: no write waits for an
//! earlier one); a closed-loop writer issues its next request a think time after the
//! previous one is acknowledged. The same configuration and seed give the same event order.

use crate::config::{CheckLevel, ConfigError, SimConfig};
use crate::device::Io;
use crate::latency::Latencies;
use crate::metrics::{Durability, Metrics};
use crate::pacing::{Pacing, SliceLimit};
use crate::step::{IoPlan, StepInfo};
use crate::topology::{ControlPath, Fabric, LinkStats, Topology};
use crate::trace::{Trace, TraceError};
use crate::verify::{AtEnd, EveryStep, Unchecked, Verify};
use crate::workload::{Arrivals, Generator, Stop};
use cowlab_model::client::Client;
use cowlab_model::durability::Power;
use cowlab_model::env::{self, IoDone, IoResults};
use cowlab_model::fault::{self, FaultPlan, IoError, PlanFaults};
use cowlab_model::invariants::Violation;
use cowlab_model::meta::MAX_WRITES;
use cowlab_model::Policy;
use cowlab_model::{
    BlockStore, Device, Disk, Env, Event, Freed, Ghost, GhostImage, Meta, NoData, NoGhost, Op, Pid,
    Process, Request, Resolved, Spec, Wait, World,
};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;

mod arrivals;
mod checks;
mod process;
mod tally;

use arrivals::{source, Source};
use process::{Aside, IoPlans, Parking, Slot};
use tally::{Run, Tally};

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Trace(#[from] TraceError),
    #[error("--trace {path}: {error}")]
    TraceOpen { path: String, error: std::io::Error },
    #[error("--trace {path}: the trace has no requests")]
    EmptyTrace { path: String },
    #[error("the run has more than {max} writes (write ids are 32-bit)")]
    TooManyWrites { max: u64 },
}

/// Where a run stands, for a progress line.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub now_ns: u64,
    pub events: u64,
    pub segments_done: u32,
    pub segments: u32,
}

/// A broken invariant, when it broke, and the steps that led there.
#[derive(Clone, Debug)]
pub struct TimedViolation {
    pub violation: Violation,
    pub at_ns: u64,
    /// The last steps before it, oldest first: (time, process, what it did).
    pub last_steps: Vec<String>,
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct SimOutcome {
    pub metrics: Metrics,
    pub failure: Option<TimedViolation>,
    /// Steps the engine took and events the driver processed (the no-copy baseline excluded).
    pub steps: u64,
    pub events: u64,
    pub check: CheckLevel,
    /// With several volumes: when each volume's last segment was marked copied, in seconds
    /// (an overlay pass, which copies the snapshot of every volume at the end, comes after).
    pub volume_seconds: Vec<f64>,
    /// What each link of the topology carried (none without links), and the out-of-band
    /// control link's as `control`.
    pub links: Vec<(String, LinkStats)>,
}

/// Runs one simulation: the copy under the workload, then the same workload with no copy
/// running (for the throughput ratio).
pub fn simulate(
    cfg: &SimConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SimOutcome, SimError> {
    simulate_with(cfg, &[], progress)
}

/// Like [`simulate`], with policies of the caller's own beside the built-in ones: a
/// designer's policy gets the same simulator as the built-in ones.
pub fn simulate_with(
    cfg: &SimConfig,
    own: &[Arc<dyn Policy>],
    progress: &mut dyn FnMut(&Progress),
) -> Result<SimOutcome, SimError> {
    let spec = cfg.spec_with(own)?;
    let topology = cfg.topology()?;
    let t = &topology;
    let check = cfg.check_level();
    let run = match check {
        CheckLevel::EveryStep => Sim::<Disk, GhostImage, _>::new(
            cfg,
            &spec,
            t,
            World::begin(&spec),
            EveryStep::default(),
        )?
        .run(progress)?,
        CheckLevel::End => {
            Sim::<Disk, GhostImage, _>::new(cfg, &spec, t, World::begin(&spec), AtEnd)?
                .run(progress)?
        }
        CheckLevel::Off => {
            Sim::<NoData, NoGhost, _>::new(cfg, &spec, t, World::begin(&spec), Unchecked)?
                .run(progress)?
        }
    };
    // The window in which both the copy and the workload run.
    let window = run.copy_end.min(run.arrivals_end.unwrap_or(u64::MAX));
    let no_faults = FaultPlan::default();
    let baseline = Sim::<NoData, NoGhost, _>::with_faults(
        cfg,
        &spec,
        t,
        World::copied(&spec),
        Unchecked,
        no_faults,
    )?
    .until(window)
    .run(&mut |_| {})?;
    let ratio = match (run.tally.in_window, baseline.tally.in_window) {
        (_, 0) => None,
        (a, b) => Some(a as f64 / b as f64),
    };
    Ok(run.outcome(check, ratio))
}

/// One run with every stamp kept and a verifier of the caller's choice (no baseline, so no
/// throughput ratio): for tests that hold one way of checking against another.
pub fn simulate_verified<V: Verify<Disk, GhostImage>>(
    cfg: &SimConfig,
    verify: V,
) -> Result<SimOutcome, SimError> {
    let spec = cfg.spec()?;
    let topology = cfg.topology()?;
    let run = Sim::<Disk, GhostImage, _>::new(cfg, &spec, &topology, World::begin(&spec), verify)?
        .run(&mut |_| {})?;
    Ok(run.outcome(CheckLevel::EveryStep, None))
}

/// What is due at a point of simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// The process may take its next step.
    Ready(u32),
    /// The process issues its next I/O.
    Issue(u32),
    /// The fabric has I/Os or commands due (each names its process when it completes).
    Fabric,
    /// A wake of a disk a role goes straight to: an I/O on it finishes, unless the wake
    /// is stale (`sim/src/device.rs`, `Wake`).
    Done { disk: u8, gen: u32 },
    /// The next open-loop (or traced) request arrives.
    Arrival,
    /// A closed-loop writer's think time ends.
    Think(u32),
    /// The power fails.
    PowerLoss,
}

impl Due {
    /// Eight bytes, so that the event queue's entries stay small.
    fn pack(self) -> u64 {
        let (kind, dev, n) = match self {
            Due::Ready(p) => (0, 0, p),
            Due::Issue(p) => (1, 0, p),
            Due::Fabric => (2, 0, 0),
            Due::Done { disk, gen } => (5, disk, gen),
            Due::Arrival => (3, 0, 0),
            Due::Think(w) => (4, 0, w),
            Due::PowerLoss => (6, 0, 0),
        };
        (kind << 40) | ((dev as u64) << 32) | n as u64
    }

    fn unpack(x: u64) -> Due {
        let n = x as u32;
        match x >> 40 {
            0 => Due::Ready(n),
            1 => Due::Issue(n),
            2 => Due::Fabric,
            5 => Due::Done {
                disk: (x >> 32) as u8,
                gen: n,
            },
            3 => Due::Arrival,
            6 => Due::PowerLoss,
            _ => Due::Think(n),
        }
    }
}

/// An `Env` over the driver's world that records each device access a step makes (a failed
/// one costs its time too), asking the fault plan about each ([`fault::admit`]).
struct Timed<'a, S: BlockStore, G: Ghost> {
    disk: &'a mut S,
    meta: &'a mut Meta<G>,
    /// Stable media and cached writes, with volatile caches.
    power: Option<&'a mut Power<S>>,
    ios: &'a mut IoPlans,
    faults: &'a mut PlanFaults,
}

impl<S: BlockStore, G: Ghost> Env for Timed<'_, S, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        self.meta
    }
    // Inlined into each step: the I/O a step asks for is then known where it is performed
    // (out of line, the general path costs the driver a tenth of its speed).
    #[inline(always)]
    fn perform(&mut self, io: &env::Io) -> Result<IoDone, IoError> {
        let ios = &mut *self.ios;
        fault::admit(self.faults, io, |a| ios.extend(IoPlan::of(a)))?;
        Ok(io.perform_with(self.disk, self.power.as_deref_mut()))
    }
}

/// A deferred step's fault decision, taken when it was planned, at the moment and in the
/// order a step run at once asks the plan (as with `--check off`), so that a run's faults and
/// figures do not depend on its check level: its I/O `at` fails with `error`, and the I/Os
/// after it are never served.
struct Failing {
    at: usize,
    error: IoError,
}

const RING: usize = 16;

/// Marks a fabric token as a command's (the rest is the process that sent it).
const COMMAND: u32 = 1 << 31;

/// The metadata steps a real controller sends a command for: a segment claimed or done, a
/// write held, a map bit set. (Steps that also do I/O, or end their process, send theirs
/// with it: not modelled.)
fn sends_command(event: &Event) -> bool {
    matches!(
        event,
        Event::SegmentClaimed { .. }
            | Event::SegmentMarked { .. }
            | Event::WriteArrived { held: true, .. }
            | Event::Marked { .. }
    )
}

struct Sim<'a, S: BlockStore, G: Ghost, V: Verify<S, G>> {
    cfg: &'a SimConfig,
    spec: &'a Spec,
    world: World<S, G>,
    slots: Vec<Slot>,
    aside: Aside,
    free: Vec<u32>,
    /// (time, order of scheduling, what): earliest first, and in scheduling order at equal
    /// times, so a run is the same every time.
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    seq: u64,
    now: u64,
    /// The devices and links every I/O crosses (`sim/src/topology/fabric.rs`).
    fabric: Fabric<u32>,
    /// The time of the `Due::Fabric` event in the queue, if any.
    fabric_wake: Option<u64>,
    /// The tokens the fabric completed, a buffer kept across events.
    fabric_done: Vec<u32>,
    /// Whether metadata steps send the copy's commands over the control path (and wait
    /// for them instead of the CPU time): only when that path costs anything.
    commands: bool,
    parked: Parking,
    source: Source,
    writes_issued: u64,
    /// Write processes not yet finished.
    live_writes: u64,
    verify: V,
    tally: Tally,
    steps: u64,
    events: u64,
    /// Bytes charged against the copier's speed limit (smooth pacing).
    charged: u64,
    /// The speed limit's slices (slice pacing).
    limit: Option<SliceLimit>,
    copy_end: Option<u64>,
    /// The baseline stops once simulated time passes this.
    stop_after: Option<u64>,
    failure: Option<TimedViolation>,
    /// The last steps (time, process, what it did), for a violation's report.
    recent: VecDeque<(u64, Pid, Event)>,
    /// The request of the arrival due next.
    pending: Option<Request>,
    /// When the last request arrived (once the source has run dry).
    arrivals_end: Option<u64>,
    /// The run's fault plan as it is followed.
    faults: PlanFaults,
    /// Steps the copier has taken (a crash counts as one).
    copier_steps: u64,
    /// With several volumes: segments marked per volume, and when each was done.
    volume_marked: Vec<u32>,
    volume_done: Vec<Option<u64>>,
    /// The topology the fabric was built from (a power loss builds it again: what was in
    /// flight is gone).
    topology: Topology,
    /// When the power fails (`SimConfig::power_loss_at`; none in the baseline).
    power_at: Vec<u64>,
}

impl<'a, S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'a, S, G, V> {
    fn new(
        cfg: &'a SimConfig,
        spec: &'a Spec,
        topology: &Topology,
        world: World<S, G>,
        verify: V,
    ) -> Result<Self, SimError> {
        let mut sim = Self::with_faults(cfg, spec, topology, world, verify, cfg.faults.clone())?;
        sim.power_at = cfg.power_loss_at.clone();
        Ok(sim)
    }

    fn with_faults(
        cfg: &'a SimConfig,
        spec: &'a Spec,
        topology: &Topology,
        world: World<S, G>,
        verify: V,
        faults: FaultPlan,
    ) -> Result<Self, SimError> {
        let fabric = Fabric::new(topology).map_err(|e| {
            ConfigError::new(
                "--topology",
                cfg.topology.as_deref().unwrap_or(""),
                e.to_string(),
            )
        })?;
        let commands = match topology.control.path {
            ControlPath::InBand => !topology.role(Device::Source).links.is_empty(),
            ControlPath::OutOfBand(_) => true,
        };
        let mut sim = Sim {
            cfg,
            spec,
            slots: vec![Slot::default(); world.procs.len()],
            aside: Aside::default(),
            world,
            free: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
            fabric,
            fabric_wake: None,
            fabric_done: Vec::new(),
            commands,
            parked: Parking::default(),
            source: source(cfg)?,
            writes_issued: 0,
            live_writes: 0,
            verify,
            tally: Tally::default(),
            steps: 0,
            events: 0,
            charged: 0,
            limit: match (cfg.speed, cfg.pacing) {
                (Some(speed), Pacing::Slices { slice_ns }) => {
                    Some(SliceLimit::new(speed, slice_ns))
                }
                _ => None,
            },
            copy_end: None,
            stop_after: None,
            failure: None,
            recent: VecDeque::new(),
            pending: None,
            arrivals_end: None,
            faults: PlanFaults::new(faults),
            copier_steps: 0,
            volume_marked: vec![0; spec.volumes().len() * (spec.volumes().len() > 1) as usize],
            volume_done: vec![None; spec.volumes().len() * (spec.volumes().len() > 1) as usize],
            topology: topology.clone(),
            power_at: Vec::new(),
        };
        if sim.world.copier_finished() {
            sim.copy_end = Some(0);
        }
        Ok(sim)
    }

    /// Stops the run once simulated time passes `t` (the baseline needs no more).
    fn until(mut self, t: u64) -> Self {
        self.stop_after = Some(t);
        self
    }

    fn at(&mut self, t: u64, due: Due) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, due.pack())));
    }

    fn run(mut self, progress: &mut dyn FnMut(&Progress)) -> Result<Run, SimError> {
        if !self.world.copier_finished() {
            for pid in 0..self.spec.workers() {
                self.at(0, Due::Ready(pid));
            }
        }
        self.start_source()?;
        for t in std::mem::take(&mut self.power_at) {
            self.at(t, Due::PowerLoss);
        }
        while let Some(Reverse((t, _, due))) = self.heap.pop() {
            let due = Due::unpack(due);
            if self.stop_after.is_some_and(|end| t > end) || self.failure.is_some() {
                break;
            }
            self.now = t;
            self.events += 1;
            match due {
                Due::Ready(pid) => self.attempt(pid as Pid),
                Due::Issue(pid) => self.issue(pid as Pid),
                Due::Fabric => self.fabric_due(),
                Due::Done { disk, gen } => {
                    if let Some((pid, wake)) =
                        self.fabric.complete_direct(self.now, disk as u32, gen)
                    {
                        if let Some(w) = wake {
                            self.at(w.at, Due::Done { disk, gen: w.gen });
                        }
                        self.io_done(pid as Pid);
                    }
                }
                Due::Arrival => self.arrival()?,
                Due::Think(writer) => self.think_done(writer)?,
                Due::PowerLoss => self.power_loss(),
            }
            if self.events.is_multiple_of(1 << 16) {
                progress(&Progress {
                    now_ns: self.now,
                    events: self.events,
                    segments_done: self.world.segments_done(),
                    segments: self.spec.geometry.segments(),
                });
            }
        }
        if self.failure.is_none() && self.stop_after.is_none() {
            self.finish_checks();
        }
        let checks = self.verify.checks();
        let map_bytes = match self.spec.target() {
            Some(_) => self.world.meta.snapshot_map().metadata_bytes() as u64,
            None => 0,
        };
        Ok(Run {
            copy_end: self.copy_end.unwrap_or(self.now),
            arrivals_end: self.arrivals_end,
            tally: self.tally,
            failure: self.failure,
            checks,
            steps: self.steps,
            events: self.events,
            map_bytes,
            volume_bytes: self.spec.geometry.bytes(),
            io_errors: self.faults.injected.iter().sum(),
            volume_done: self.volume_done,
            volatile: self.spec.volatile,
            links: {
                let f = &self.fabric;
                let mut links: Vec<(String, LinkStats)> = f
                    .link_names()
                    .filter_map(|n| f.link_stats(n).map(|s| (n.to_string(), s)))
                    .collect();
                links.extend(f.control_stats().map(|s| ("control".to_string(), s)));
                links
            },
        })
    }

    /// A process's turn: park it if it must wait, else take its step, and its next ones
    /// while they cost no time.
    fn attempt(&mut self, pid: Pid) {
        while let Some(done) = self.take_step(pid) {
            if done != self.now {
                self.at(done, Due::Ready(pid as u32));
                return;
            }
        }
    }

    /// Takes one step unless the process must wait. Returns when its next step is due, if
    /// that is known now (a step without I/O); `None` if it waits, finished, or does I/O.
    ///
    /// A metadata step runs at once (its critical section is the moment it decides). An I/O
    /// step of a run that keeps data runs when its I/O is done, so that the data it moves is
    /// the data of that moment: its I/O is planned first (its I/O depends only on the
    /// process's own state), served, and then the step is taken. Without data the two are
    /// the same in every figure, and the step runs at once.
    fn take_step(&mut self, pid: Pid) -> Option<u64> {
        let proc = &self.world.procs[pid];
        if proc.finished() {
            return None;
        }
        if self.spec.is_worker(pid) && self.faults.crashes_at(self.copier_steps + 1) {
            return Some(self.crash());
        }
        let meta_step = proc.needs_meta();
        if meta_step {
            if let Some(wait) = proc.wait(self.spec, &self.world.meta) {
                self.park(pid, wait);
                return None;
            }
            if let Some(limit) = &mut self.limit {
                // Slice pacing: a worker asks before it takes anything, and sleeps holding
                // nothing while the slice's quota is spent.
                if proc.about_to_take(self.spec, &self.world.meta) {
                    let wait = limit.charge(self.now, 0);
                    if wait > 0 {
                        // A timer fires after its deadline, never at it: the worker wakes
                        // when the slice is over, and a new one starts.
                        return Some(self.now.saturating_add(wait + 1));
                    }
                }
            }
        }
        if !meta_step && self.verify.checks() {
            let (plan, failing) = self.plan(pid);
            if !plan.is_empty() {
                let slot = &mut self.slots[pid];
                slot.ios = plan;
                slot.next_io = 0;
                slot.deferred = true;
                if let Some(failing) = failing {
                    self.aside.failing.insert(pid as u32, failing);
                }
                self.issue(pid);
                return None;
            }
        }
        self.execute(pid, meta_step, false)
    }

    /// The power fails: every write still cached is lost, every process's memory and every
    /// I/O in flight with it (the devices' queues start empty); requests in progress are
    /// dropped (never acknowledged; a closed-loop writer goes on with its next), and the
    /// copy recovers from its durable records, the copier's workers back after the restart
    /// time. The workload's arrivals go on.
    fn power_loss(&mut self) {
        let spec = self.spec;
        let g = &spec.geometry;
        let done_before = self.world.meta.progress.done_count();
        // Segments being copied (their reads and writes in flight or done, their commit not
        // durable) are copied again.
        let copied_uncommitted = self
            .world
            .workers(spec)
            .filter(|(_, c)| c.segment_in_progress().is_some())
            .count() as u64;
        let mut writers = Vec::new();
        let live: Vec<Pid> = (spec.workers() as usize..self.world.procs.len())
            .filter(|pid| !self.world.procs[*pid].finished())
            .collect();
        let dropped = live.len() as u64;
        // Every cached item is lost: no survivors.
        let event = self.world.power_loss(spec, 0);
        for pid in live {
            let slot = std::mem::take(&mut self.slots[pid]);
            if slot.write {
                self.live_writes -= 1;
            }
            writers.extend(slot.writer.map(|w| w.get() - 1));
            self.free.push(pid as u32);
        }
        for pid in 0..spec.workers() as usize {
            self.slots[pid] = Slot::default();
        }
        self.parked = Parking::default();
        self.aside = Aside::default();
        self.fabric = Fabric::new(&self.topology).expect("the topology built once");
        self.fabric_wake = None;
        self.fabric_done.clear();
        // Only the workload's own events outlive the power.
        let kept: Vec<_> = std::mem::take(&mut self.heap)
            .into_iter()
            .filter(|Reverse((_, _, due))| {
                matches!(
                    Due::unpack(*due),
                    Due::Arrival | Due::Think(_) | Due::PowerLoss
                )
            })
            .collect();
        self.heap = kept.into_iter().collect();
        if let Source::Closed { think_ns, .. } = self.source {
            for w in writers {
                self.at(self.now.saturating_add(think_ns), Due::Think(w));
            }
        }
        let lost = done_before.saturating_sub(self.world.meta.progress.done_count()) as u64
            + copied_uncommitted;
        let t = &mut self.tally;
        t.power_losses += 1;
        t.dropped_requests += dropped;
        t.recopied_bytes += lost * g.segment_blocks as u64 * g.block_size as u64;
        t.recovery_ns += self.cfg.restart_ns;
        self.steps += 1;
        self.after_step(0, &event, &[]);
        match self.world.copier_finished() {
            true => {}
            false => {
                self.copy_end = None;
                let back = self.now.saturating_add(self.cfg.restart_ns);
                for pid in 0..spec.workers() {
                    self.at(back, Due::Ready(pid));
                }
            }
        }
    }

    /// The copier crashes and restarts from what it persisted; it is down for the restart
    /// time. Returns when it takes its next step.
    fn crash(&mut self) -> u64 {
        self.copier_steps += 1;
        let event = self.world.crash_copier(self.spec);
        self.steps += 1;
        self.tally.restarts += 1;
        self.tally.restart_ns += self.cfg.restart_ns;
        self.after_step(0, &event, &[]);
        let back = self.now.saturating_add(self.cfg.restart_ns);
        self.wake(&event, self.now);
        back
    }

    /// The device accesses of the process's next step, from the I/O it plans, and the fault
    /// plan's answer for them, asked now: the accesses end at the first that fails, as the
    /// step's I/O does.
    fn plan(&mut self, pid: Pid) -> (IoPlans, Option<Failing>) {
        let mut plans = IoPlans::new();
        for (at, io) in self.world.procs[pid]
            .planned_io(self.spec)
            .iter()
            .enumerate()
        {
            if let Err(error) = fault::admit(&mut self.faults, io, |a| plans.extend(IoPlan::of(a)))
            {
                return (plans, Some(Failing { at, error }));
            }
        }
        (plans, None)
    }

    /// Takes a deferred step whose I/O has been served: performs its planned I/O on the
    /// store as the plan decided (up to the access that fails), then completes the step. The
    /// process has not changed since it planned (it was busy on that I/O), nor has its plan.
    fn complete_served(&mut self, pid: Pid) -> Event {
        let failing = self.aside.take_failing(pid);
        let ios = self.world.procs[pid].planned_io(self.spec);
        let mut results = IoResults::new();
        for (at, io) in ios.into_iter().enumerate() {
            match &failing {
                Some(f) if f.at == at => {
                    results.push((io, Err(f.error.clone())));
                    break;
                }
                _ => {
                    let done =
                        io.perform_with(&mut self.world.disk, self.world.power.as_deref_mut());
                    results.push((io, Ok(done)));
                }
            }
        }
        self.world.procs[pid].complete(self.spec, results)
    }

    /// Runs the process's step now; `served`: its I/Os were planned and are already done.
    fn execute(&mut self, pid: Pid, meta_step: bool, served: bool) -> Option<u64> {
        let spec = self.spec;
        let mut ios = std::mem::take(&mut self.slots[pid].ios);
        let event = match served {
            true => self.complete_served(pid),
            false => {
                ios.clear();
                let mut env = Timed {
                    disk: &mut self.world.disk,
                    meta: &mut self.world.meta,
                    power: self.world.power.as_deref_mut(),
                    ios: &mut ios,
                    faults: &mut self.faults,
                };
                self.world.procs[pid].step(spec, &mut env)
            }
        };
        self.steps += 1;
        if self.spec.is_worker(pid) {
            self.copier_steps += 1;
        }
        let finished = self.world.procs[pid].finished();
        if finished && self.slots[pid].write {
            self.live_writes -= 1;
        }
        self.after_step(pid, &event, &ios);
        let mut done = self
            .now
            .saturating_add(if meta_step { self.cfg.cpu_ns } else { 0 });
        if let Event::IoFailed {
            retry: Some((n, _)),
            ..
        } = event
        {
            // Back off before the retry, twice as long each time.
            let backoff = self.cfg.retry_backoff_ns << (n - 1).min(20);
            match ios.is_empty() || served {
                true => done = done.saturating_add(backoff),
                false => {
                    self.aside.backoff.insert(pid as u32, backoff);
                }
            }
        }
        if meta_step {
            self.tally.queue_max = self.tally.queue_max.max(self.world.meta.hold.len() as u64);
            self.wake(&event, done);
        }
        if self.verify.thorough() {
            self.assert_parked_are_blocked();
        }
        let has_io = !ios.is_empty() && !served;
        self.slots[pid].ios = ios;
        self.slots[pid].next_io = 0;
        if meta_step && self.commands && !has_io && !finished && sends_command(&event) {
            // The controller is told; the process goes on when the command's round trip is
            // done (which stands for the step's CPU time).
            self.fabric.command(self.now, pid as u32 | COMMAND);
            self.wake_fabric();
            return None;
        }
        match (has_io, finished) {
            (true, _) if done == self.now => self.issue(pid),
            (true, _) => self.at(done, Due::Issue(pid as u32)),
            (false, true) => self.finished(pid, done),
            (false, false) => return Some(done),
        }
        None
    }

    /// Issues the process's next I/O to its device (the copier's own reads paced by the
    /// speed limit).
    fn issue(&mut self, pid: Pid) {
        let slot = &self.slots[pid];
        let io = slot.ios[slot.next_io as usize];
        let bs = self.spec.geometry.block_size as u64;
        let bytes = io.len as u64 * bs;
        let worker = self.spec.is_worker(pid);
        if worker && !io.write && self.cfg.pacing.is_smooth() {
            if let Some(speed) = self.cfg.speed {
                let earliest = (self.charged as u128 * 1_000_000_000 / speed as u128) as u64;
                if earliest > self.now {
                    self.at(earliest, Due::Issue(pid as u32));
                    return;
                }
                self.charged += bytes;
            }
        }
        match (io.commit, worker, io.write) {
            (true, _, _) if io.len == 0 => self.tally.flushes += 1,
            (true, _, _) => self.tally.records += 1,
            (false, true, true) => self.tally.copier_written += bytes,
            (false, true, false) => self.tally.copier_read += bytes,
            _ => {}
        }
        if io.write && !io.commit {
            self.tally.device_written += bytes;
        }
        let request = Io {
            offset: io.start * bs,
            bytes,
            write: io.write,
            token: pid as u32,
        };
        // An I/O that crosses no link to a plain disk is timed on the driver's own clock,
        // one event per I/O (the `separate` and `shared` presets' every I/O).
        match self
            .fabric
            .direct_disk(io.device)
            .filter(|d| *d <= u8::MAX as u32)
        {
            Some(disk) => {
                if let Some(w) = self.fabric.submit_direct(self.now, io.device, request) {
                    let disk = disk as u8;
                    self.at(w.at, Due::Done { disk, gen: w.gen });
                }
            }
            None => {
                self.fabric.submit(self.now, io.device, request);
                self.wake_fabric();
            }
        }
    }

    /// Makes sure a `Due::Fabric` event is queued for the fabric's next due time.
    fn wake_fabric(&mut self) {
        if let Some(t) = self.fabric.next_due() {
            if self.fabric_wake.is_none_or(|w| t < w) {
                self.fabric_wake = Some(t);
                self.at(t, Due::Fabric);
            }
        }
    }

    /// The fabric's events due now: each I/O or command it completes moves its process on.
    fn fabric_due(&mut self) {
        if self.fabric_wake == Some(self.now) {
            self.fabric_wake = None;
        }
        let mut done = std::mem::take(&mut self.fabric_done);
        self.fabric.advance_into(self.now, &mut done);
        for token in done.drain(..) {
            match token & COMMAND {
                0 => self.io_done(token as Pid),
                _ => self.attempt((token & !COMMAND) as Pid),
            }
        }
        self.fabric_done = done;
        self.wake_fabric();
    }

    fn io_done(&mut self, pid: Pid) {
        let slot = &mut self.slots[pid];
        slot.next_io += 1;
        if (slot.next_io as usize) < slot.ios.len() {
            return self.issue(pid);
        }
        if std::mem::take(&mut slot.deferred) {
            // The planned step, now that its I/O is served.
            match self.execute(pid, false, true) {
                Some(t) if t == self.now => self.attempt(pid),
                Some(t) => self.at(t, Due::Ready(pid as u32)),
                None => {}
            }
            return;
        }
        self.step_done(pid);
    }
}
