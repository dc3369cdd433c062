//! The timed driver: the engine's own step machines on simulated time.
//!
//! It decides only who steps next (the process whose I/O or CPU time ends first) and what
//! an I/O costs (its device's model and queue). A step runs at once, as one atomic action,
//! through [`Timed`], an `Env` that records the I/Os the step asks for; the process is then
//! busy for the step's CPU time (metadata steps) and its I/Os, issued one after another to
//! their devices' FIFO queues, and takes its next step when the last one completes. Blocked
//! processes are parked under what they wait for ([`Wait`]) and woken by the steps that free
//! it ([`Event::frees`]), so no step polls every process.
//!
//! Every request is a client process of its own (the open loop: no write waits for an
//! earlier one); a closed-loop writer issues its next request a think time after the
//! previous one is acknowledged. The same configuration and seed give the same event order.

use crate::config::{CheckLevel, ConfigError, SimConfig};
use crate::device::Io;
use crate::latency::Latencies;
use crate::metrics::Metrics;
use crate::step::{IoPlan, StepInfo};
use crate::topology::{ControlPath, Fabric, LinkStats, Topology};
use crate::trace::{Trace, TraceError};
use crate::verify::{AtEnd, EveryStep, Unchecked, Verify};
use crate::workload::{Arrivals, Generator, Stop};
use cowlab_model::client::Client;
use cowlab_model::disk::Copied;
use cowlab_model::fault::{ErrorKind, FaultPlan, Faults, IoError, IoKind, PlanFaults};
use cowlab_model::invariants::Violation;
use cowlab_model::meta::MAX_WRITES;
use cowlab_model::Policy;
use cowlab_model::{
    Block, BlockStore, Device, Disk, Env, Event, Freed, Ghost, GhostImage, Meta, NoData, NoGhost,
    Op, Pid, Process, Request, Resolved, Spec, Stamp, Wait, World,
};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::Arc;

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
pub struct Failure {
    pub violation: Violation,
    pub at_ns: u64,
    /// The last steps before it, oldest first: (time, process, what it did).
    pub last_steps: Vec<String>,
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub metrics: Metrics,
    pub failure: Option<Failure>,
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
pub fn simulate(cfg: &SimConfig, progress: &mut dyn FnMut(&Progress)) -> Result<Outcome, SimError> {
    simulate_with(cfg, &[], progress)
}

/// Like [`simulate`], with policies of the caller's own beside the built-in ones: a
/// designer's policy gets the same simulator as the built-in ones.
pub fn simulate_with(
    cfg: &SimConfig,
    own: &[Arc<dyn Policy>],
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome, SimError> {
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
) -> Result<Outcome, SimError> {
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
    /// A disk a role goes straight to finished the I/O of this process.
    Done { disk: u8, pid: u32 },
    /// The next open-loop (or traced) request arrives.
    Arrival,
    /// A closed-loop writer's think time ends.
    Think(u32),
}

impl Due {
    /// Eight bytes, so that the event queue's entries stay small.
    fn pack(self) -> u64 {
        let (kind, dev, n) = match self {
            Due::Ready(p) => (0, 0, p),
            Due::Issue(p) => (1, 0, p),
            Due::Fabric => (2, 0, 0),
            Due::Done { disk, pid } => (5, disk, pid),
            Due::Arrival => (3, 0, 0),
            Due::Think(w) => (4, 0, w),
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
                pid: n,
            },
            3 => Due::Arrival,
            _ => Due::Think(n),
        }
    }
}

/// A step's I/Os: most steps have one or two.
type IoList = SmallVec<[IoPlan; 2]>;

/// Per process: its step's I/Os and its request's bookkeeping, in one cache line. The
/// driver keeps one per live process, millions of them in the 16 TiB run of
/// `sim/benches/targets.rs`, so what only faults need is kept apart ([`Aside`]).
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
struct Slot {
    ios: IoList,
    arrived: u64,
    next_io: u32,
    /// The closed-loop writer that issued the request, if any.
    writer: Option<NonZeroU32>,
    write: bool,
    held: bool,
    /// Its I/Os are those of a step not yet taken (taken when they are done).
    deferred: bool,
    /// The write failed back to its writer (it is not acknowledged).
    failed: bool,
}

// One byte past the line and every live process pays a second one.
const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// What a process needs only when I/O fails, by process: empty in a run without faults.
#[derive(Default)]
struct Aside {
    /// Time to wait after its I/Os before the next step (a retry's backoff).
    backoff: FxHashMap<u32, u64>,
    /// A deferred step that fails one of its I/O calls: the decision taken when it was
    /// planned (its I/O calls, the last of which fails). Any other deferred step fails none.
    failing: FxHashMap<u32, Decided>,
}

impl Aside {
    fn take_backoff(&mut self, pid: Pid) -> u64 {
        match self.backoff.is_empty() {
            true => 0,
            false => self.backoff.remove(&(pid as u32)).unwrap_or(0),
        }
    }

    /// A served step's fault decisions: a step set aside fails, any other fails none (a
    /// decision that fails nothing answers each call alike, whatever its count of calls).
    fn take_decided(&mut self, pid: Pid) -> Decided {
        let none = Decided {
            left: 0,
            failing: None,
        };
        match self.failing.is_empty() {
            true => none,
            false => self.failing.remove(&(pid as u32)).unwrap_or(none),
        }
    }

    /// A process id handed to a new request starts with nothing set aside.
    fn forget(&mut self, pid: Pid) {
        if !self.backoff.is_empty() || !self.failing.is_empty() {
            self.backoff.remove(&(pid as u32));
            self.failing.remove(&(pid as u32));
        }
    }
}

/// Blocked processes, by what they wait for.
#[derive(Default)]
struct Parking {
    chunk: FxHashMap<u32, Vec<u32>>,
    turn: FxHashMap<u32, u32>,
    copy: Vec<u32>,
    any: Vec<u32>,
}

/// Where requests come from.
enum Source {
    Open(Generator),
    Closed {
        gen: Generator,
        think_ns: u64,
        until: Option<u64>,
    },
    Trace(Trace),
}

/// An `Env` over the driver's world that records each I/O a step asks for.
struct Timed<'a, S: BlockStore, G: Ghost> {
    disk: &'a mut S,
    meta: &'a mut Meta<G>,
    ios: &'a mut IoList,
    faults: &'a mut PlanFaults,
    /// For a deferred step, the faults decided when it was planned (see [`Decided`]);
    /// otherwise the plan is asked now.
    decided: Option<Decided>,
}

/// A deferred step's fault decisions: the plan was asked when the step was planned, at the
/// moment and in the order a step run at once asks it (as with `--check off`), so that a
/// run's faults and figures do not depend on its check level, and an I/O after a failed
/// one is never served.
#[derive(Clone, Copy)]
struct Decided {
    /// I/O calls left; the last gets `failing`.
    left: u32,
    failing: Option<ErrorKind>,
}

/// One I/O call of a step: its device, direction and blocks.
type Call = (Device, IoKind, Range<Block>);

impl<S: BlockStore, G: Ghost> Env for Timed<'_, S, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        self.meta
    }
    fn read(
        &mut self,
        device: Device,
        blocks: Range<Block>,
    ) -> Result<Option<Vec<Stamp>>, IoError> {
        self.plan(device, IoKind::Read, &blocks)?;
        Ok(self.disk.read(device, blocks))
    }
    fn write(&mut self, device: Device, blocks: Range<Block>, stamp: Stamp) -> Result<(), IoError> {
        self.plan(device, IoKind::Write, &blocks)?;
        self.disk.write(device, blocks, stamp);
        Ok(())
    }
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Result<Copied, IoError> {
        self.plan(from, IoKind::Read, &blocks)?;
        self.plan(to, IoKind::Write, &blocks)?;
        Ok(self.disk.copy(from, to, blocks))
    }
}

/// An `Env` that only records the I/O calls a trial step makes: no data, no metadata (a
/// step without the metadata lock never asks for it).
struct Planning<'a, G: Ghost> {
    calls: &'a mut SmallVec<[Call; 2]>,
    ghost: std::marker::PhantomData<G>,
}

impl<G: Ghost> Env for Planning<'_, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        unreachable!("an I/O step does not touch the metadata")
    }
    fn read(
        &mut self,
        device: Device,
        blocks: Range<Block>,
    ) -> Result<Option<Vec<Stamp>>, IoError> {
        self.calls.push((device, IoKind::Read, blocks));
        Ok(None)
    }
    fn write(
        &mut self,
        device: Device,
        blocks: Range<Block>,
        _stamp: Stamp,
    ) -> Result<(), IoError> {
        self.calls.push((device, IoKind::Write, blocks));
        Ok(())
    }
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Result<Copied, IoError> {
        self.calls.push((from, IoKind::Read, blocks.clone()));
        self.calls.push((to, IoKind::Write, blocks.clone()));
        Ok(Copied::unknown(blocks.end - blocks.start))
    }
}

impl<S: BlockStore, G: Ghost> Timed<'_, S, G> {
    /// Records an I/O (a failed one costs its time too), then asks the fault plan whether
    /// it fails (or takes the decision made when the step was planned).
    fn plan(&mut self, device: Device, kind: IoKind, blocks: &Range<Block>) -> Result<(), IoError> {
        let write = kind == IoKind::Write;
        self.ios.extend(IoPlan::runs(device, write, blocks.clone()));
        let fails = match &mut self.decided {
            None => self.faults.fails(kind, device, blocks),
            // More calls than planned: the plan differs, which `execute` reports.
            Some(d) if d.left == 0 => None,
            Some(d) => {
                d.left -= 1;
                d.failing.filter(|_| d.left == 0)
            }
        };
        match fails {
            None => Ok(()),
            Some(kind) => Err(IoError {
                device,
                blocks: blocks.clone(),
                kind,
            }),
        }
    }
}

/// Counters the run keeps for its metrics.
#[derive(Default)]
struct Tally {
    copier_read: u64,
    copier_written: u64,
    preserved: u64,
    device_written: u64,
    app_written: u64,
    snapshot: u64,
    writes: u64,
    held: u64,
    hold: Latencies,
    queue_max: u64,
    /// Writes acknowledged while the copy and the workload both ran (for the baseline: by
    /// the end of that window in the run with the copy).
    in_window: u64,
    failed_copies: u64,
    failed_writes: u64,
    retries: u64,
    restarts: u64,
    restart_ns: u64,
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
    /// The devices and links every I/O crosses (`sim/src/topology.rs`).
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
    /// Bytes charged against the copier's speed limit.
    charged: u64,
    copy_end: Option<u64>,
    /// The baseline stops once simulated time passes this.
    stop_after: Option<u64>,
    failure: Option<Failure>,
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
}

/// What a finished run hands on.
struct Run {
    tally: Tally,
    copy_end: u64,
    /// When the last request arrived.
    arrivals_end: Option<u64>,
    failure: Option<Failure>,
    checks: bool,
    steps: u64,
    events: u64,
    map_bytes: u64,
    /// I/O errors the fault plan injected (a full store counts).
    io_errors: u64,
    volume_done: Vec<Option<u64>>,
    links: Vec<(String, LinkStats)>,
}

impl Run {
    fn outcome(self, check: CheckLevel, ratio: Option<f64>) -> Outcome {
        let t = &self.tally;
        let invariants = match (&self.failure, self.checks) {
            (Some(f), _) => f.violation.to_string(),
            (None, true) => "checked".into(),
            (None, false) => "not-checked".into(),
        };
        Outcome {
            metrics: Metrics {
                copy_seconds: self.copy_end as f64 / 1e9,
                copier_bytes_read: t.copier_read,
                copier_bytes_written: t.copier_written,
                preserved_bytes: t.preserved,
                write_amplification: (t.app_written > 0)
                    .then(|| t.device_written as f64 / t.app_written as f64),
                snapshot_peak_bytes: t.snapshot,
                map_bytes: self.map_bytes,
                writes: t.writes,
                held_writes: t.held,
                hold_p50_us: t.hold.quantile_us(0.5),
                hold_p99_us: t.hold.quantile_us(0.99),
                hold_p999_us: t.hold.quantile_us(0.999),
                hold_max_us: t.hold.max_us(),
                queue_depth_max: t.queue_max,
                throughput_ratio: ratio,
                failed_copies: t.failed_copies,
                failed_writes: t.failed_writes,
                retries: t.retries,
                io_errors: self.io_errors,
                restarts: t.restarts,
                restart_seconds: t.restart_ns as f64 / 1e9,
                invariants,
            },
            failure: self.failure,
            steps: self.steps,
            events: self.events,
            check,
            volume_seconds: self
                .volume_done
                .iter()
                .map(|t| t.unwrap_or(self.copy_end) as f64 / 1e9)
                .collect(),
            links: self.links,
        }
    }
}

impl<'a, S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'a, S, G, V> {
    fn new(
        cfg: &'a SimConfig,
        spec: &'a Spec,
        topology: &Topology,
        world: World<S, G>,
        verify: V,
    ) -> Result<Self, SimError> {
        Self::with_faults(cfg, spec, topology, world, verify, cfg.faults.clone())
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
        };
        if sim.world.copier().finished() {
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
        if !self.world.copier().finished() {
            self.at(0, Due::Ready(0));
        }
        self.start_source()?;
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
                Due::Done { disk, pid } => {
                    if let Some((next, done)) = self.fabric.complete_direct(self.now, disk as u32) {
                        self.at(done, Due::Done { disk, pid: next });
                    }
                    self.io_done(pid as Pid);
                }
                Due::Arrival => self.arrival()?,
                Due::Think(writer) => self.think_done(writer)?,
            }
            if self.events.is_multiple_of(1 << 16) {
                progress(&Progress {
                    now_ns: self.now,
                    events: self.events,
                    segments_done: self.world.copier().segments_done(),
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
            io_errors: self.faults.injected.iter().sum(),
            volume_done: self.volume_done,
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

    /// At the end: a process that never finished is a deadlock (or a missed wake-up, which
    /// is the driver's bug); then the level's whole-state check.
    fn finish_checks(&mut self) {
        let spec = self.spec;
        let stuck: Vec<Pid> = (0..self.world.procs.len())
            .filter(|p| !self.world.procs[*p].finished())
            .collect();
        for pid in &stuck {
            let p = &self.world.procs[*pid];
            assert!(
                p.needs_meta() && p.blocked(spec, &self.world.meta),
                "the timed driver lost a wake-up: {} could step",
                spec.process_name(*pid)
            );
        }
        let result = match stuck.is_empty() {
            true => self.verify.end(spec, &self.world),
            false => cowlab_model::invariants::progress(spec, &self.world),
        };
        if let Err(violation) = result {
            self.fail(violation);
        }
    }

    fn fail(&mut self, violation: Violation) {
        let spec = self.spec;
        let last_steps = self
            .recent
            .iter()
            .map(|(t, pid, event)| {
                format!(
                    "{:.6} s  {}: {}",
                    *t as f64 / 1e9,
                    spec.process_name(*pid),
                    event.describe(spec)
                )
            })
            .collect();
        self.failure = Some(Failure {
            violation,
            at_ns: self.now,
            last_steps,
        });
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
        if pid == 0 && self.faults.crashes_at(self.copier_steps + 1) {
            return Some(self.crash());
        }
        let meta_step = proc.needs_meta();
        if meta_step {
            if let Some(wait) = proc.wait(self.spec, &self.world.meta) {
                self.park(pid, wait);
                return None;
            }
        }
        if !meta_step && self.verify.checks() {
            let (plan, decided) = self.plan(pid);
            if !plan.is_empty() {
                let slot = &mut self.slots[pid];
                slot.ios = plan;
                slot.next_io = 0;
                slot.deferred = true;
                if decided.failing.is_some() {
                    self.aside.failing.insert(pid as u32, decided);
                }
                self.issue(pid);
                return None;
            }
        }
        self.execute(pid, meta_step, false)
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

    /// The checks after a step, at the run's level.
    fn after_step(&mut self, pid: Pid, event: &Event, ios: &[IoPlan]) {
        self.account(pid, event);
        if self.verify.checks() {
            self.remember(pid, event);
            let info = StepInfo {
                pid,
                event,
                ios,
                quiescent: self.live_writes == 0 && self.world.meta.hold.is_empty(),
            };
            if let Err(v) = self.verify.step(self.spec, &self.world, &info) {
                self.fail(v);
            }
        }
    }

    /// The I/Os the process's next step will ask for, from a trial step on a copy of it,
    /// and the fault plan's answers for them, asked now: the I/Os end at the first that
    /// fails, as the step does.
    fn plan(&mut self, pid: Pid) -> (IoList, Decided) {
        let mut trial = self.world.procs[pid].clone();
        let mut calls = SmallVec::new();
        let mut env = Planning::<G> {
            calls: &mut calls,
            ghost: std::marker::PhantomData,
        };
        trial.step(self.spec, &mut env);
        let mut ios = IoList::new();
        let mut decided = Decided {
            left: 0,
            failing: None,
        };
        for (device, kind, blocks) in calls {
            ios.extend(IoPlan::runs(device, kind == IoKind::Write, blocks.clone()));
            decided.left += 1;
            decided.failing = self.faults.fails(kind, device, &blocks);
            if decided.failing.is_some() {
                break;
            }
        }
        (ios, decided)
    }

    /// Runs the process's step now; `served`: its I/Os were planned and are already done.
    fn execute(&mut self, pid: Pid, meta_step: bool, served: bool) -> Option<u64> {
        let spec = self.spec;
        let mut ios = std::mem::take(&mut self.slots[pid].ios);
        let planned = served.then(|| ios.clone());
        ios.clear();
        let decided = served.then(|| self.aside.take_decided(pid));
        let event = {
            let mut env = Timed {
                disk: &mut self.world.disk,
                meta: &mut self.world.meta,
                ios: &mut ios,
                faults: &mut self.faults,
                decided,
            };
            self.world.procs[pid].step(spec, &mut env)
        };
        if let Some(planned) = planned.filter(|_| self.verify.thorough()) {
            assert_eq!(planned, ios, "a step's I/O differs from its plan");
        }
        self.steps += 1;
        if pid == 0 {
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

    /// Every parked process is still blocked: a wake-up the engine's `Event::frees` did not
    /// announce would leave one asleep for nothing (a bug of the driver or of `frees`).
    fn assert_parked_are_blocked(&self) {
        let p = &self.parked;
        let parked = p
            .chunk
            .values()
            .flatten()
            .chain(p.turn.values())
            .chain(&p.copy);
        for pid in parked.chain(&p.any) {
            let proc = &self.world.procs[*pid as usize];
            assert!(
                proc.blocked(self.spec, &self.world.meta),
                "the timed driver missed a wake-up: {} is parked but could step ({:?}); last step {:?}",
                self.spec.process_name(*pid as usize),
                proc,
                self.recent.back()
            );
        }
    }

    /// Keeps the last steps in words, for a violation's report.
    fn remember(&mut self, pid: Pid, event: &Event) {
        if self.recent.len() == RING {
            self.recent.pop_front();
        }
        self.recent.push_back((self.now, pid, event.clone()));
    }

    fn park(&mut self, pid: Pid, wait: Wait) {
        let p = pid as u32;
        match wait {
            Wait::Chunk(c) => self.parked.chunk.entry(c).or_default().push(p),
            Wait::Turn => {
                let w = match &self.world.procs[pid] {
                    Process::Client(c) => c.current().map_or(0, |r| r.write),
                    Process::Copier(_) => unreachable!("the copier never waits for a turn"),
                };
                self.parked.turn.insert(w, p);
            }
            Wait::CopyComplete => self.parked.copy.push(p),
            Wait::AnyStep => self.parked.any.push(p),
        }
    }

    /// Wakes (at `t`) the processes a metadata step may have freed.
    fn wake(&mut self, event: &Event, t: u64) {
        let mut woken = std::mem::take(&mut self.parked.any);
        match event.frees(&self.spec.geometry) {
            Some(Freed::Chunks(_)) if self.parked.chunk.is_empty() => {}
            Some(Freed::Chunks(chunks)) => {
                for c in chunks {
                    if let Some(pids) = self.parked.chunk.remove(&c) {
                        woken.extend(pids);
                    }
                }
            }
            Some(Freed::HoldHead) => {
                // Each volume's queue has its own head: wake the head of the volume the
                // released write belongs to.
                let hold = &self.world.meta.hold;
                let head = match (self.spec.volumes().len(), event) {
                    (1, _) => hold.head(),
                    (_, Event::WriteApplied { blocks, .. }) => {
                        let v = self.spec.volume_of(blocks.start);
                        hold.head_within(&self.spec.volume_blocks(v))
                    }
                    _ => hold.head(),
                };
                if let Some(p) = head.and_then(|w| self.parked.turn.remove(&w)) {
                    woken.push(p);
                }
            }
            Some(Freed::CopyComplete) => woken.append(&mut self.parked.copy),
            Some(Freed::Everything) => {
                let p = &mut self.parked;
                woken.extend(p.chunk.drain().flat_map(|(_, pids)| pids));
                woken.extend(p.turn.drain().map(|(_, pid)| pid));
                woken.append(&mut p.copy);
            }
            None => {}
        }
        for p in woken {
            self.at(t, Due::Ready(p));
        }
    }

    /// The process's I/Os are done (now): its next step (after a retry's backoff), or its
    /// end.
    fn step_done(&mut self, pid: Pid) {
        let backoff = self.aside.take_backoff(pid);
        match self.world.procs[pid].finished() {
            true => self.finished(pid, self.now),
            false if backoff > 0 => {
                self.at(self.now.saturating_add(backoff), Due::Ready(pid as u32))
            }
            false => self.attempt(pid),
        }
    }

    /// The process finished at `t`: the copy is complete, or a request is acknowledged.
    fn finished(&mut self, pid: Pid, t: u64) {
        if pid == 0 {
            self.copy_end = Some(t);
            return;
        }
        let slot = &self.slots[pid];
        if slot.write && !slot.failed {
            let open = match self.stop_after {
                Some(end) => t <= end,
                None => self.copy_end.is_none() && self.arrivals_end.is_none(),
            };
            self.tally.in_window += open as u64;
            if slot.held {
                self.tally.hold.record(t - slot.arrived);
            }
        }
        if let Some(writer) = slot.writer {
            if let Source::Closed { think_ns, .. } = self.source {
                self.at(t.saturating_add(think_ns), Due::Think(writer.get() - 1));
            }
        }
        self.free.push(pid as u32);
    }

    /// Issues the process's next I/O to its device (the copier's own reads paced by the
    /// speed limit).
    fn issue(&mut self, pid: Pid) {
        let slot = &self.slots[pid];
        let io = slot.ios[slot.next_io as usize];
        let bs = self.spec.geometry.block_size as u64;
        let bytes = io.len as u64 * bs;
        if pid == 0 && !io.write {
            if let Some(speed) = self.cfg.speed {
                let earliest = (self.charged as u128 * 1_000_000_000 / speed as u128) as u64;
                if earliest > self.now {
                    self.at(earliest, Due::Issue(pid as u32));
                    return;
                }
                self.charged += bytes;
            }
        }
        match (pid == 0, io.write) {
            (true, true) => self.tally.copier_written += bytes,
            (true, false) => self.tally.copier_read += bytes,
            _ => {}
        }
        if io.write {
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
                if let Some(done) = self.fabric.submit_direct(self.now, io.device, request) {
                    let disk = disk as u8;
                    self.at(
                        done,
                        Due::Done {
                            disk,
                            pid: pid as u32,
                        },
                    );
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

    /// Counts what a step did.
    fn account(&mut self, pid: Pid, event: &Event) {
        let g = &self.spec.geometry;
        let bs = g.block_size as u64;
        match event {
            Event::WriteArrived { blocks, held, .. } => {
                self.tally.writes += 1;
                self.tally.app_written += (blocks.end - blocks.start) * bs;
                if *held {
                    self.tally.held += 1;
                    self.slots[pid].held = true;
                }
            }
            Event::Preserved { blocks, .. } => {
                let bytes = (blocks.end - blocks.start) * bs;
                self.tally.preserved += bytes;
                if self.cfg.speed.is_some() {
                    self.charged += bytes;
                }
            }
            Event::Marked { chunk, to, .. } if *to != Device::Destination => {
                self.tally.snapshot += g.chunk_bytes(*chunk);
            }
            Event::IoFailed { retry, .. } => self.tally.retries += retry.is_some() as u64,
            Event::WriteFailed { .. } => {
                self.tally.failed_writes += 1;
                self.slots[pid].failed = true;
            }
            Event::CopyFailed { .. } => self.tally.failed_copies = 1,
            Event::SegmentMarked { segment } if !self.volume_marked.is_empty() => {
                let v = self.spec.volume_of(g.segment_blocks_range(*segment).start);
                self.volume_marked[v] += 1;
                if self.volume_marked[v] as usize == self.spec.volumes()[v].len() {
                    self.volume_done[v] = Some(self.now);
                }
            }
            _ => {}
        }
    }

    fn start_source(&mut self) -> Result<(), SimError> {
        match &mut self.source {
            Source::Closed { .. } => {
                let writers = match self.cfg.workload.arrivals {
                    Arrivals::Closed { writers, .. } => writers,
                    Arrivals::Open { .. } => 0,
                };
                for w in 0..writers {
                    self.at(0, Due::Think(w));
                }
            }
            _ => self.arrival_next()?,
        }
        Ok(())
    }

    /// Schedules the next open-loop or traced arrival.
    fn arrival_next(&mut self) -> Result<(), SimError> {
        let next = match &mut self.source {
            Source::Open(gen) => gen.next_arrival(),
            Source::Trace(reader) => reader.next().transpose()?,
            Source::Closed { .. } => None,
        };
        match next {
            Some(a) => {
                self.pending = Some(a.request);
                self.at(a.at, Due::Arrival);
            }
            None => self.arrivals_end = Some(self.now),
        }
        Ok(())
    }

    fn arrival(&mut self) -> Result<(), SimError> {
        let request = self.pending.take().expect("an arrival carries a request");
        self.admit(request, None)?;
        self.arrival_next()
    }

    fn think_done(&mut self, writer: u32) -> Result<(), SimError> {
        let Source::Closed { gen, until, .. } = &mut self.source else {
            return Ok(());
        };
        let request = match until.is_some_and(|end| self.now >= end) {
            true => None,
            false => gen.next_request(),
        };
        match request {
            Some(r) => self.admit(r, Some(writer))?,
            None => {
                self.arrivals_end.get_or_insert(self.now);
            }
        }
        Ok(())
    }

    /// A request arrives: a client process of its own, stepping now.
    fn admit(&mut self, request: Request, writer: Option<u32>) -> Result<(), SimError> {
        let g = &self.spec.geometry;
        let mut blocks = g
            .blocks_of(request.offset, request.len)
            .map_err(|e| ConfigError::new("--workload", "", e))?;
        if self.spec.volumes().len() > 1 {
            // A request belongs to one volume: one that runs past its end is cut there.
            let v = self.spec.volume_of(blocks.start);
            blocks.end = blocks.end.min(self.spec.volume_blocks(v).end);
        }
        let write = request.op == Op::Write;
        let id = match write {
            true => {
                if self.writes_issued >= MAX_WRITES {
                    return Err(SimError::TooManyWrites { max: MAX_WRITES });
                }
                self.writes_issued += 1;
                self.live_writes += 1;
                (self.writes_issued - 1) as u32
            }
            false => 0,
        };
        let resolved = Resolved {
            op: request.op,
            blocks,
            write: id,
        };
        let pid = match self.free.pop() {
            Some(p) => p as Pid,
            None => {
                self.slots.push(Slot::default());
                self.world.procs.len()
            }
        };
        let client = Process::Client(Client::with_request(pid, resolved));
        match pid == self.world.procs.len() {
            true => self.world.procs.push(client),
            false => self.world.procs[pid] = client,
        }
        let slot = &mut self.slots[pid];
        slot.arrived = self.now;
        slot.write = write;
        slot.held = false;
        slot.failed = false;
        self.aside.forget(pid);
        slot.writer = writer.map(|w| NonZeroU32::new(w + 1).expect("w + 1 > 0"));
        self.attempt(pid);
        Ok(())
    }
}

impl SimConfig {
    /// The run's trace, opened for reading (`None` when it replays a generated workload).
    pub fn open_trace(&self) -> Result<Option<Trace>, SimError> {
        let Some(path) = &self.trace else {
            return Ok(None);
        };
        let block = std::num::NonZeroU64::new(self.block_size)
            .ok_or_else(|| ConfigError::new("--block-size", "0", "must be at least one byte"))?;
        let reader = self
            .trace_format
            .open(path, block, Some(self.volume))
            .map_err(|error| SimError::TraceOpen {
                path: path.clone(),
                error,
            })?;
        // An empty trace would run a copy with no writes at all: say so instead.
        let mut reader = reader.peekable();
        if reader.peek().is_none() {
            return Err(SimError::EmptyTrace { path: path.clone() });
        }
        Ok(Some(Box::new(reader)))
    }
}

fn source(cfg: &SimConfig) -> Result<Source, SimError> {
    if let Some(reader) = cfg.open_trace()? {
        return Ok(Source::Trace(reader));
    }
    let gen = Generator::new(&cfg.workload, cfg.seed).map_err(|e| {
        ConfigError::new(
            &format!("--{}", e.field.replace('_', "-")),
            &e.value,
            &e.reason,
        )
    })?;
    Ok(match cfg.workload.arrivals {
        Arrivals::Open { .. } => Source::Open(gen),
        Arrivals::Closed { think_ns, .. } => Source::Closed {
            gen,
            think_ns,
            until: match cfg.workload.stop {
                Stop::Duration(t) => Some(t),
                Stop::Writes(_) => None,
            },
        },
    })
}
