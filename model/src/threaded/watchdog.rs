//! A watchdog for threaded runs on real threads: a run that cannot finish becomes a
//! failure that names the stuck threads and what each waits for, instead of a test that
//! hangs.
//!
//! The driver detects a deadlock of its own making (every live thread asleep on a condition
//! nobody can change) and reports it through `progress`. What it cannot see, the watchdog
//! does, by polling the run from outside:
//!
//! - a thread that panicked: its thread ended with its process unfinished, and the others
//!   may wait for it for ever;
//! - a lost wake-up: every unfinished thread is asleep on the condition variable, at least
//!   one of them could step, and every finished thread has ended, so no thread is left to
//!   wake them (held for a grace period, since a woken thread shows as asleep until it has
//!   the lock again);
//! - anything else (threads blocked on each other's locks, a thread spinning): a time limit.

use super::{spawn, Flaw, RealThreads, Running, Store, ThreadState, ThreadedRun};
use crate::fault::FaultPlan;
use crate::spec::Spec;
use crate::world::World;
use std::fmt;
use std::time::{Duration, Instant};

/// How long a lost wake-up must persist before it is reported.
const GRACE: Duration = Duration::from_secs(1);
/// How often the watchdog looks.
const POLL: Duration = Duration::from_millis(1);

/// Why a watched run was given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A thread panicked; the run could not finish without it.
    Panicked,
    /// Threads sleep though they could step, and no thread is left to wake them.
    LostWakeup,
    /// The run did not finish within the watchdog's limit.
    TimedOut(Duration),
}

/// A run the watchdog gave up on: why, and where each unfinished process's thread was.
#[derive(Clone, Debug)]
pub struct Hang {
    pub reason: Reason,
    /// Per unfinished process: its name and where its thread was.
    pub stuck: Vec<(String, ThreadState)>,
    /// Per thread that panicked: its process's name and the panic's message.
    pub panics: Vec<(String, String)>,
}

impl fmt::Display for Hang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::Panicked => write!(f, "threaded run stopped: a thread panicked")?,
            Reason::LostWakeup => write!(
                f,
                "threaded run hung: lost wake-up (every unfinished thread sleeps, one could \
                 step, and no thread is left to wake it)"
            )?,
            Reason::TimedOut(limit) => write!(
                f,
                "threaded run hung: not finished after {} s",
                limit.as_secs_f64()
            )?,
        }
        for (name, message) in &self.panics {
            write!(f, "\n  {name}: panicked: {message}")?;
        }
        for (name, state) in &self.stuck {
            match state {
                ThreadState::Asleep {
                    could_step: true, ..
                } => write!(f, "\n  {name}: asleep, though it could step")?,
                ThreadState::Asleep { waits_for, .. } => {
                    write!(f, "\n  {name}: asleep, waits for {waits_for}")?
                }
                ThreadState::Awake => write!(
                    f,
                    "\n  {name}: not asleep (taking a step, or waiting for a lock)"
                )?,
                ThreadState::Finished => {}
            }
        }
        Ok(())
    }
}

/// Runs the spec on real threads from `start` (with `flaw`, if set) and waits for it at most
/// `limit`: the run's outcome, or why and where it hung.
pub fn run_watched<P: RealThreads, S: Store>(
    spec: &Spec,
    start: World,
    flaw: Option<Flaw>,
    limit: Duration,
) -> Result<ThreadedRun, Hang> {
    watch(
        spawn::<P, S>(spec, start, flaw, &FaultPlan::default()),
        limit,
    )
}

/// Like [`run_watched`], without a flaw and with the faults of `plan` (as
/// [`super::run_faulty`]).
pub fn run_watched_faulty<P: RealThreads, S: Store>(
    spec: &Spec,
    start: World,
    plan: &FaultPlan,
    limit: Duration,
) -> Result<ThreadedRun, Hang> {
    watch(spawn::<P, S>(spec, start, None, plan), limit)
}

/// Waits for a spawned run at most `limit`.
fn watch<P: RealThreads, S: Store>(
    run: Running<P, S>,
    limit: Duration,
) -> Result<ThreadedRun, Hang> {
    let began = Instant::now();
    let mut sleeping_since: Option<Instant> = None;
    loop {
        // Which threads have ended, read before the board: an ended thread stays ended.
        let ended: Vec<bool> = run.handles().iter().map(P::is_finished).collect();
        if ended.iter().all(|e| *e) {
            return Ok(run.join());
        }
        let threads = run.threads();
        if !run.deadlocked() && panicked(&threads, &ended) {
            return Err(give_up(run, threads, Reason::Panicked));
        }
        sleeping_since = match lost_wakeup(&threads, &ended) {
            true => sleeping_since.or(Some(Instant::now())),
            false => None,
        };
        if sleeping_since.is_some_and(|t| t.elapsed() >= GRACE) {
            return Err(give_up(run, threads, Reason::LostWakeup));
        }
        if began.elapsed() >= limit {
            return Err(give_up(run, threads, Reason::TimedOut(limit)));
        }
        std::thread::sleep(POLL);
    }
}

/// A thread ended with its process unfinished, and not because of a detected deadlock.
fn panicked(threads: &[ThreadState], ended: &[bool]) -> bool {
    threads
        .iter()
        .zip(ended)
        .any(|(t, e)| *e && *t != ThreadState::Finished)
}

/// Every thread has either ended with its process finished or sleeps, and one of the
/// sleepers could step: only a wake-up was missing.
fn lost_wakeup(threads: &[ThreadState], ended: &[bool]) -> bool {
    let quiet = threads.iter().zip(ended).all(|(t, e)| match t {
        ThreadState::Finished => *e,
        ThreadState::Asleep { .. } => true,
        ThreadState::Awake => false,
    });
    let could_step = threads.iter().any(|t| {
        matches!(
            t,
            ThreadState::Asleep {
                could_step: true,
                ..
            }
        )
    });
    quiet && could_step
}

fn give_up<P: RealThreads, S: Store>(
    run: Running<P, S>,
    threads: Vec<ThreadState>,
    reason: Reason,
) -> Hang {
    let names: Vec<String> = (0..run.handles().len())
        .map(|pid| run.spec().process_name(pid).into_owned())
        .collect();
    let panicked = run.abandon();
    // A thread that panicked is listed with its message, not again as stuck.
    let stuck = threads
        .into_iter()
        .enumerate()
        .filter(|(pid, t)| *t != ThreadState::Finished && !panicked.iter().any(|p| p.0 == *pid))
        .map(|(pid, t)| (names[pid].clone(), t))
        .collect();
    let panics = panicked
        .into_iter()
        .map(|(pid, message)| (names[pid].clone(), message))
        .collect();
    Hang {
        reason,
        stuck,
        panics,
    }
}
