//! The threaded driver: the engine's own step machines, each process on its own thread,
//! taking its steps under the locks a real implementation would use.
//!
//! - The metadata (snapshot map, copied map, in-flight claims, tracked image reads, hold
//!   queue, and the ghost state the invariants read) sits behind one lock, the metadata
//!   lock, with one condition variable. A step for which [`Process::needs_meta`] is true takes
//!   the lock, sleeps on the condition variable while [`Process::blocked`] is true (a writer
//!   whose chunk is being preserved, a copier whose next segment is in flight, ...), then
//!   performs the step and wakes the sleepers. The lock is held for the whole step, device
//!   I/O included: the engine relies on a metadata decision and the device writes it orders
//!   being one critical section.
//! - Each device (source, destination, snapshot, cache) has a lock of its own. A step
//!   without the metadata lock does its I/O under the device locks only, one device at a
//!   time: a copy locks the source device, reads, unlocks, locks the target and writes.
//! - The copier runs on one thread; each client runs on its own thread, and its preserver
//!   runs in its context (as the engine's step machine nests it).
//!
//! - A run may follow a [`FaultPlan`] ([`run_faulty`]): each device's lock also guards the
//!   plan's decisions for that device (its I/O count, its share of the store), taken with the
//!   I/O in one critical section, so "the device's n-th I/O" is the n-th to take its lock:
//!   deterministic for a given interleaving, and visible to loom without a lock of its own.
//!   Only device errors and a full store: the plan's copier crashes need a driver that
//!   restarts the copier between steps (the random and exhaustive drivers do).
//!
//! Which platform the threads and locks come from is a type parameter ([`Std`] or
//! [`Loom`]), so the same code runs on real threads and under loom from plain `cargo test`.
//!
//! After every thread has joined, the driver rebuilds a [`World`] from the devices, the
//! metadata and the processes' final states and checks the engine's invariants on it. A
//! deadlock (every unfinished thread asleep on a condition that no one can change) is
//! detected by the driver itself, which stops the threads and lets the engine's `progress`
//! invariant report who waits for what.
//!
//! What the driver cannot see from inside (a lost wake-up, a thread that panicked while the
//! others wait for it, threads blocked on each other's locks) the [`watchdog`] sees from
//! outside, through [`spawn`] and [`Running::threads`]. [`Shaky`] is std with a seeded
//! pause before every lock: the windows between a thread's steps open far more often than
//! on plain [`Std`], which the driver itself does not need to know about.

pub mod check;
mod platform;
mod shaky;
mod store;
pub mod watchdog;

pub use platform::{Loom, Platform, RealThreads, Std};
pub use shaky::Shaky;
pub use store::{Bytes, Stamps, Store};

use crate::disk::{BlockStore, Device, Disk, Stamp};
use crate::env::Env;
use crate::env::{Access, Io, IoDone};
use crate::event::Event;
use crate::fault::{self, FaultPlan, IoError, PlanFaults};
use crate::geometry::Block;
use crate::ghost::GhostImage;
use crate::invariants::{check_safety, destination_holds_begin, progress, Violation};
use crate::meta::Meta;
use crate::spec::{Pid, Spec};
use crate::world::{Process, World};
use std::ops::Range;
use std::time::{Duration, Instant};

/// What a threaded run ended with.
#[derive(Clone, Debug)]
pub struct ThreadedRun {
    /// The state after every thread joined (devices, metadata, processes).
    pub world: World,
    /// Steps taken by all processes together.
    pub steps: u64,
    /// The first broken invariant, if any (`progress` reports a deadlock).
    pub violation: Option<Violation>,
    /// Wall time from the first thread's spawn to the last one's join.
    pub elapsed: Duration,
    /// Per process (the copier first), when its thread finished, counted from the first
    /// spawn: the copier's is the copy's duration.
    pub finished_at: Vec<Duration>,
    /// I/O errors injected per device (in `Device::ALL` order), by a fault plan.
    pub injected: [u64; 4],
}

/// Runs the spec's copier and clients on threads of platform `P` over stamp-only devices.
pub fn run<P: Platform>(spec: &Spec) -> ThreadedRun {
    run_on::<P, Stamps>(spec)
}

/// Runs the spec on threads of platform `P` with devices of kind `S`.
pub fn run_on<P: Platform, S: Store>(spec: &Spec) -> ThreadedRun {
    run_from::<P, S>(spec, World::new(spec), None)
}

/// Known-bad variants of the driver's own locking (not of the engine's algorithm): what
/// loom checks that a checker of atomic engine steps cannot see. Used by the loom tests to
/// prove that loom catches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// A metadata step's device writes land after the metadata lock is released: the
    /// decision and the write it orders are no longer one critical section.
    WriteAfterUnlock,
    /// No wake-up after a metadata step: a thread asleep on the condition variable is never
    /// woken (a lost wake-up).
    NoWakeup,
}

/// Runs the spec like [`run_on`] from a given state (normally `World::new(spec)`), with one
/// of the driver's known-bad variants if `flaw` is set.
pub fn run_from<P: Platform, S: Store>(
    spec: &Spec,
    start: World,
    flaw: Option<Flaw>,
) -> ThreadedRun {
    spawn::<P, S>(spec, start, flaw, &FaultPlan::default()).join()
}

/// Runs the spec like [`run_from`] (without a flaw) with the device errors and store size of
/// `plan`. The spec must be one whose I/O can fail ([`Spec::with_faults`]) unless the plan is
/// empty; the plan must list no crashes (see the module's comment).
pub fn run_faulty<P: Platform, S: Store>(
    spec: &Spec,
    start: World,
    plan: &FaultPlan,
) -> ThreadedRun {
    spawn::<P, S>(spec, start, None, plan).join()
}

/// Starts the threads of a run like [`run_from`] (with the faults of `plan`, as
/// [`run_faulty`]) and returns at once: a watchdog can look at the run while it goes
/// ([`Running::threads`]) before it joins it.
pub fn spawn<P: Platform, S: Store>(
    spec: &Spec,
    start: World,
    flaw: Option<Flaw>,
    plan: &FaultPlan,
) -> Running<P, S> {
    assert!(
        plan.is_empty() || spec.faults,
        "a spec whose I/O cannot fail"
    );
    assert!(
        plan.crashes.is_empty(),
        "the threaded driver injects no copier crashes"
    );
    // The deferred writes of `WriteAfterUnlock` skip the fault decision.
    assert!(
        plan.is_empty() || flaw.is_none(),
        "a flawed run has no faults"
    );
    let devices = Device::ALL.map(|d| {
        P::mutex(Slot {
            store: S::new(spec.geometry.block_size, start.disk.device(d)),
            faults: PlanFaults::new(plan.clone()),
        })
    });
    let board = Board {
        live: start.procs.iter().filter(|p| !p.finished()).count(),
        done: start.procs.iter().map(Process::finished).collect(),
        parked: vec![None; start.procs.len()],
        meta: start.meta,
        deadlock: false,
        at_completion: None,
    };
    let shared = P::arc(Shared::<P, S> {
        spec: spec.clone(),
        board: P::mutex(board),
        changed: P::condvar(),
        devices,
        steps: P::atomic(0),
        flaw,
    });
    let began = Instant::now();
    let handles = start
        .procs
        .into_iter()
        .enumerate()
        .map(|(pid, proc)| {
            let shared = shared.clone();
            P::spawn(move || {
                let proc = drive(&shared, pid, proc);
                (proc, began.elapsed())
            })
        })
        .collect();
    Running {
        shared,
        handles,
        began,
    }
}

/// A threaded run whose threads have been spawned and not yet joined.
pub struct Running<P: Platform, S: Store> {
    shared: P::Arc<Shared<P, S>>,
    /// One per process, the copier first.
    handles: Vec<P::JoinHandle<(Process, Duration)>>,
    began: Instant,
}

/// Where one process's thread is, as the metadata lock sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Its process has finished.
    Finished,
    /// Asleep on the condition variable; `could_step` if what it waits for is over (only a
    /// wake-up is missing). `waits_for` is the process's own account, as in a deadlock report.
    Asleep { waits_for: String, could_step: bool },
    /// Not asleep on the condition variable: taking a step, waiting for a lock, or (after a
    /// detected deadlock, or a panic) its thread has ended with the process unfinished.
    Awake,
}

impl<P: Platform, S: Store> Running<P, S> {
    /// Per process (the copier first), where its thread is.
    pub fn threads(&self) -> Vec<ThreadState> {
        let spec = &self.shared.spec;
        let board = P::lock(&self.shared.board);
        (0..self.handles.len())
            .map(|pid| match (&board.parked[pid], board.done[pid]) {
                (_, true) => ThreadState::Finished,
                (Some(p), false) => ThreadState::Asleep {
                    waits_for: p.waiting_for(spec, &board.meta),
                    could_step: !p.blocked(spec, &board.meta),
                },
                (None, false) => ThreadState::Awake,
            })
            .collect()
    }

    /// Whether the driver found every live thread asleep for good (and is stopping them).
    pub(crate) fn deadlocked(&self) -> bool {
        P::lock(&self.shared.board).deadlock
    }

    pub fn spec(&self) -> &Spec {
        &self.shared.spec
    }

    pub(crate) fn handles(&self) -> &[P::JoinHandle<(Process, Duration)>] {
        &self.handles
    }

    /// Gives up on the run: joins the threads that have ended and returns the message of
    /// each that panicked; the others are left running (detached).
    pub(crate) fn abandon(self) -> Vec<(Pid, String)>
    where
        P: RealThreads,
    {
        let mut panics = Vec::new();
        for (pid, h) in self.handles.into_iter().enumerate() {
            if P::is_finished(&h) {
                if let Err(payload) = P::join(h) {
                    panics.push((pid, panic_message(payload.as_ref())));
                }
            }
        }
        panics
    }

    /// Waits for every thread, then checks the invariants on the state they leave.
    pub fn join(self) -> ThreadedRun {
        let Running {
            shared,
            handles,
            began,
        } = self;
        let spec = shared.spec.clone();
        let (procs, finished_at): (Vec<Process>, Vec<Duration>) = handles
            .into_iter()
            .map(|h| P::join(h).unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .unzip();
        let elapsed = began.elapsed();
        let steps = P::load(&shared.steps);
        let Ok(shared) = P::try_unwrap(shared) else {
            unreachable!("every thread has joined and dropped its reference")
        };
        let mut disk = Disk::new(spec.geometry.blocks);
        let mut injected = [0; 4];
        for (d, device) in Device::ALL.into_iter().zip(shared.devices) {
            let slot = P::into_inner(device);
            disk.load(d, &slot.store.stamps());
            injected[d as usize] = slot.faults.injected[d as usize];
        }
        let board = P::into_inner(shared.board);
        let at_completion = board.at_completion;
        let world = World {
            disk,
            meta: board.meta,
            procs,
            faults_left: 0,
            hand_backs_left: 0,
            power: None,
        };
        // The end state's verdict first (what each mutant is known by); the moment of
        // completion catches what a later worker's copy hid by the end.
        let violation = check_safety(&spec, &world)
            .and_then(|()| progress(&spec, &world))
            .err()
            .or(at_completion);
        ThreadedRun {
            world,
            steps,
            violation,
            elapsed,
            finished_at,
            injected,
        }
    }
}

/// The text of a panic's payload (a `String` or a `&str`, as `panic!` makes them).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

struct Shared<P: Platform, S: Store> {
    spec: Spec,
    /// The metadata lock.
    board: P::Mutex<Board>,
    /// Signalled after a metadata step if anyone sleeps.
    changed: P::Condvar,
    /// One lock per device, in `Device::ALL` order.
    devices: [P::Mutex<Slot<S>>; 4],
    steps: P::AtomicU64,
    flaw: Option<Flaw>,
}

/// What the metadata lock protects: the engine's metadata, and the driver's own record of
/// who sleeps (for deadlock detection).
struct Board {
    meta: Meta,
    /// Threads whose process has not finished.
    live: usize,
    /// Per process, whether it has finished (what a watchdog reads, with `parked`).
    done: Vec<bool>,
    /// Per process, its state while its thread sleeps on the condition variable.
    parked: Vec<Option<Process>>,
    /// Set when every live thread sleeps on a condition no one can change.
    deadlock: bool,
    /// The destination was not the begin image when the copy declared itself complete
    /// (another thread's later copy may hide it by the end of the run).
    at_completion: Option<Violation>,
}

impl Board {
    /// Every live thread is asleep and still blocked: no one can change the metadata again.
    fn stalled(&self, spec: &Spec) -> bool {
        let mut parked = self.parked.iter().flatten();
        self.live > 0
            && parked.clone().count() == self.live
            && parked.all(|p| p.blocked(spec, &self.meta))
    }

    fn anyone_parked(&self) -> bool {
        self.parked.iter().any(Option::is_some)
    }
}

/// One process's thread: steps until the process finishes (or a deadlock is detected).
fn drive<P: Platform, S: Store>(shared: &Shared<P, S>, pid: Pid, mut proc: Process) -> Process {
    let spec = &shared.spec;
    let mut steps = 0;
    // With hand-backs, each worker hands back the first task it can (QEMU's block-copy ends
    // a task it has just made when the rate limit's slice is spent).
    let mut hand_backs = u32::from(spec.hand_backs);
    while !proc.finished() {
        steps += 1;
        if hand_backs > 0 && proc.can_hand_back(spec) {
            hand_backs -= 1;
            let mut board = P::lock(&shared.board);
            proc.hand_back(spec, &mut board.meta);
            let wake = board.anyone_parked() && shared.flaw != Some(Flaw::NoWakeup);
            drop(board);
            if wake {
                P::notify_all(&shared.changed);
            }
            continue;
        }
        if proc.needs_meta() {
            let mut board = P::lock(&shared.board);
            loop {
                if board.deadlock {
                    P::fetch_add(&shared.steps, steps - 1);
                    return proc;
                }
                if !proc.blocked(spec, &board.meta) {
                    break;
                }
                board.parked[pid] = Some(proc.clone());
                if board.stalled(spec) {
                    board.deadlock = true;
                    board.parked[pid] = None;
                    drop(board);
                    P::notify_all(&shared.changed);
                    P::fetch_add(&shared.steps, steps - 1);
                    return proc;
                }
                board = P::wait(&shared.changed, board);
                board.parked[pid] = None;
            }
            let b = &mut *board;
            let mut env = Locked::<P, S> {
                meta: Some(&mut b.meta),
                devices: &shared.devices,
                deferred: (shared.flaw == Some(Flaw::WriteAfterUnlock)).then(Vec::new),
            };
            let event = proc.step(spec, &mut env);
            let deferred = env.deferred.take();
            if event == Event::CopyComplete && b.at_completion.is_none() {
                // Point-in-time copy when the copy says it is complete, not only at the end.
                let dest = P::lock(&shared.devices[Device::Destination as usize])
                    .store
                    .stamps();
                b.at_completion = destination_holds_begin(&dest, 0).err();
            }
            if proc.finished() {
                finish(b, spec, pid);
            }
            let wake = b.anyone_parked() && shared.flaw != Some(Flaw::NoWakeup);
            drop(board);
            for (dev, blocks, stamp) in deferred.into_iter().flatten() {
                P::lock(&shared.devices[dev as usize])
                    .store
                    .fill(blocks, stamp);
            }
            if wake {
                P::notify_all(&shared.changed);
            }
        } else {
            let mut env = Locked::<P, S> {
                meta: None,
                devices: &shared.devices,
                deferred: None,
            };
            proc.step(spec, &mut env);
            if proc.finished() {
                let mut board = P::lock(&shared.board);
                finish(&mut board, spec, pid);
                let wake = board.deadlock;
                drop(board);
                if wake {
                    P::notify_all(&shared.changed);
                }
            }
        }
    }
    P::fetch_add(&shared.steps, steps);
    proc
}

/// A thread's process finished: if everyone left is asleep for good, that is a deadlock.
fn finish(board: &mut Board, spec: &Spec, pid: Pid) {
    board.live -= 1;
    board.done[pid] = true;
    if board.stalled(spec) {
        board.deadlock = true;
    }
}

/// What one device's lock guards: its blocks, and the fault plan's decisions for its I/O.
/// Each slot follows the whole plan but is only asked about its own device, so its counts
/// are that device's (the store's fill is the map device's alone: a spec preserves to one
/// of snapshot and cache). Probabilistic errors draw from a stream per device.
struct Slot<S> {
    store: S,
    faults: PlanFaults,
}

/// The `Env` of one step: the metadata if the step holds the metadata lock, and the
/// separately locked devices.
struct Locked<'a, P: Platform, S: Store> {
    meta: Option<&'a mut Meta>,
    devices: &'a [P::Mutex<Slot<S>>; 4],
    /// Writes held back until the metadata lock is released ([`Flaw::WriteAfterUnlock`]).
    deferred: Option<Vec<(Device, Range<Block>, Stamp)>>,
}

impl<P: Platform, S: Store> Locked<'_, P, S> {
    /// Locks the device of `access` and asks its slot's plan about it, before the access.
    fn admit(&self, access: &Access) -> Result<P::Guard<'_, Slot<S>>, IoError> {
        let mut d = P::lock(&self.devices[access.device as usize]);
        fault::check(&mut d.faults, access)?;
        Ok(d)
    }
}

impl<P: Platform, S: Store> Env for Locked<'_, P, S> {
    type Ghost = GhostImage;
    fn meta(&mut self) -> &mut Meta {
        self.meta
            .as_deref_mut()
            .expect("a step without the metadata lock touched the metadata")
    }
    /// Each access under its own device's lock, in order: a copy's read, then its write; a
    /// failed write leaves the target as it was (the read changed nothing).
    fn perform(&mut self, io: &Io) -> Result<IoDone, IoError> {
        let mut accesses = io.accesses();
        let mut next = || accesses.next().expect("an access of the I/O");
        match io {
            Io::Read { blocks, .. } => {
                let d = self.admit(&next())?;
                Ok(IoDone::Read(Some(d.store.read(blocks.clone()))))
            }
            Io::Write {
                device,
                blocks,
                stamp,
                ..
            } => {
                if let Some(deferred) = &mut self.deferred {
                    deferred.push((*device, blocks.clone(), *stamp));
                    return Ok(IoDone::Written);
                }
                let mut d = self.admit(&next())?;
                d.store.fill(blocks.clone(), *stamp);
                Ok(IoDone::Written)
            }
            Io::Copy { blocks, .. } => {
                let buf = self.admit(&next())?.store.load(blocks.clone());
                let mut d = self.admit(&next())?;
                d.store.store(blocks.clone(), &buf);
                Ok(IoDone::Copied(S::summary(&buf)))
            }
            // Devices here have no volatile caches: a FLUSH or a record changes nothing.
            Io::Flush { .. } | Io::Record(_) | Io::FlushMetadata => Ok(IoDone::Written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::CopyOrder;
    use crate::workload::{Request, Role, Workload};
    use crate::Geometry;

    fn one_writer() -> Spec {
        let g = Geometry::new(4, 512, 2, 1).unwrap();
        let workload = Workload::default().client(Role::Writer, vec![Request::write(0, 512)]);
        let policy = std::sync::Arc::new(crate::policy::SnapshotOverlay);
        Spec::new(g, policy, CopyOrder::Sequential, None, workload).unwrap()
    }

    /// A run that takes longer than this hangs (these take a millisecond).
    const LIMIT: Duration = Duration::from_secs(60);

    /// The deadlock report, in full: what a user reads.
    const DEADLOCK: &str = "progress violated: deadlock: \
        copier waits for chunks of its next segment being preserved; \
        writer 1 waits for write 0 to leave the hold queue";

    /// A chunk in flight that nobody will release: the copier sleeps for ever on its first
    /// segment. The driver detects it, stops the threads and `progress` says who waits.
    #[test]
    fn a_deadlock_is_reported_not_hung() {
        let spec = one_writer();
        let mut stuck = World::new(&spec);
        stuck.meta.claim(0);
        let out = watchdog::run_watched::<Std, Stamps>(&spec, stuck, None, LIMIT)
            .unwrap_or_else(|hang| panic!("{hang}"));
        let v = out.violation.expect("the deadlock");
        assert_eq!(v.to_string(), DEADLOCK);
        assert!(!out.world.copier().finished());
        // The same start without the stuck claim finishes.
        let free = watchdog::run_watched::<Std, Stamps>(&spec, World::new(&spec), None, LIMIT)
            .unwrap_or_else(|hang| panic!("{hang}"));
        assert_eq!(free.violation, None);
        assert!(free.world.finished());
    }

    /// A store with room for no block: every preservation fails as store full (no retry
    /// helps), so under break-guest-write writer 1's write (held for its preservation)
    /// fails back to its writer and never reaches the source; the copy completes. (Writer
    /// 2's may land, on chunks the copier has copied: they need no preservation.)
    #[test]
    fn a_full_store_fails_the_held_write_back() {
        let spec = crate::threaded::check::two_writers(
            std::sync::Arc::new(crate::policy::SnapshotOverlay),
            None,
            1,
        )
        .with_faults(crate::fault::ErrorPolicy::BREAK_GUEST_WRITE);
        let plan = FaultPlan {
            store_blocks: Some(0),
            ..FaultPlan::default()
        };
        // Writer 1's write is held for its preservation: a preservation happens in every run.
        let mut start = World::new(&spec);
        start.step(&spec, 1);
        let out = watchdog::run_watched_faulty::<Std, Stamps>(&spec, start, &plan, LIMIT)
            .unwrap_or_else(|hang| panic!("{hang}"));
        assert_eq!(out.violation, None);
        assert!(out.world.finished() && out.world.meta.copy_complete);
        assert!(out.injected[Device::Snapshot as usize] >= 1);
        let source = out.world.disk.device(Device::Source);
        assert_eq!(source[1], crate::disk::BEGIN, "{source:?}");
    }

    /// The same under loom: in every interleaving the driver, not loom, reports it. (Bounded
    /// as `check::explore` bounds its explorations; this one has a few dozen executions.)
    #[test]
    fn a_deadlock_is_reported_under_loom() {
        let spec = one_writer();
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.max_branches = check::MAX_BRANCHES;
        builder.check(move || {
            let mut stuck = World::new(&spec);
            stuck.meta.claim(0);
            let out = run_from::<Loom, Stamps>(&spec, stuck, None);
            let v = out.violation.expect("the deadlock");
            assert_eq!(v.to_string(), DEADLOCK);
        });
    }
}
