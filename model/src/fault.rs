//! Faults: I/O that fails, a preservation store that fills, a copier that crashes, and what
//! the copy does about each (its [`ErrorPolicy`]).
//!
//! A driver decides which I/O fails through a [`Faults`] value and wraps its `Env` in
//! [`Faulty`]; the step machines only see an I/O return an [`IoError`] and handle it. The
//! exhaustive driver fails chosen steps ([`FailNext`]); the random and timed drivers follow a
//! [`FaultPlan`], which is data: seeded, printed with a failing case, replayable. Their
//! syntax on the command line and in fault-plan files is the simulator's (`sim/src/faults.rs`).

use crate::disk::Device;
use crate::env::{Access, Env, Io, IoDone};
use crate::geometry::Block;
use crate::meta::Meta;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

pub use crate::env::{ErrorKind, IoError, IoKind};

/// What a copy does when a preservation fails for good (after its retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Break {
    /// Fail the write back to its writer (not applied, not acknowledged); the copy stays valid.
    GuestWrite,
    /// Apply and acknowledge the write; the copy fails and its image reads return errors.
    Snapshot,
}

/// A copy's answer to a failed I/O of the copy (a preservation or the copier's): retry it up
/// to `retries` times, then break what `then` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ErrorPolicy {
    pub retries: u8,
    pub then: Break,
}

impl ErrorPolicy {
    pub const BREAK_GUEST_WRITE: ErrorPolicy = ErrorPolicy {
        retries: 0,
        then: Break::GuestWrite,
    };
    pub const BREAK_SNAPSHOT: ErrorPolicy = ErrorPolicy {
        retries: 0,
        then: Break::Snapshot,
    };
}

impl Default for ErrorPolicy {
    /// QEMU's copy-before-write filter defaults to failing the guest's write.
    fn default() -> Self {
        ErrorPolicy::BREAK_GUEST_WRITE
    }
}

impl fmt::Display for ErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let then = match self.then {
            Break::GuestWrite => "break-guest-write",
            Break::Snapshot => "break-snapshot",
        };
        match self.retries {
            0 => f.write_str(then),
            n if self.then == Break::GuestWrite => write!(f, "retry:{n}"),
            n => write!(f, "retry:{n}:{then}"),
        }
    }
}

/// Decides which I/O fails. Asked once per device an I/O touches (a copy asks for its read,
/// then for its write), before the I/O takes effect: a failed I/O changes nothing.
pub trait Faults {
    fn fails(&mut self, kind: IoKind, device: Device, blocks: &Range<Block>) -> Option<ErrorKind>;
}

/// No I/O fails.
pub struct NoFaults;

impl Faults for NoFaults {
    fn fails(&mut self, _: IoKind, _: Device, _: &Range<Block>) -> Option<ErrorKind> {
        None
    }
}

/// The exhaustive driver's faults: when armed, the step's first I/O fails. It also counts the
/// step's I/Os, so a driver can tell whether failing a step means anything.
#[derive(Default)]
pub struct FailNext {
    pub armed: bool,
    pub ios: u32,
}

impl Faults for FailNext {
    fn fails(&mut self, _: IoKind, _: Device, _: &Range<Block>) -> Option<ErrorKind> {
        self.ios += 1;
        std::mem::take(&mut self.armed).then_some(ErrorKind::Device)
    }
}

/// The one place a fault decision meets an I/O: asks `faults` about one device access
/// before it happens. Every driver admits each access through here.
#[inline]
pub fn check<F: Faults + ?Sized>(faults: &mut F, access: &Access) -> Result<(), IoError> {
    match faults.fails(access.kind, access.device, &access.blocks) {
        None => Ok(()),
        Some(kind) => Err(IoError {
            device: access.device,
            blocks: access.blocks.clone(),
            kind,
        }),
    }
}

/// Asks `faults` about each device access of `io`, in order; `asked` sees every access asked
/// about (the timed driver charges a failed access its time too). The first that fails ends
/// the I/O, which then changes nothing.
#[inline]
pub fn admit<F: Faults + ?Sized>(
    faults: &mut F,
    io: &Io,
    mut asked: impl FnMut(&Access),
) -> Result<(), IoError> {
    for access in io.accesses() {
        asked(&access);
        // A FLUSH or a metadata record never fails here.
        if !access.commit {
            check(faults, &access)?;
        }
    }
    Ok(())
}

/// An `Env` whose I/O may fail: asks `faults` before each I/O ([`admit`]) and returns its
/// error instead of doing it.
pub struct Faulty<'a, E, F: ?Sized> {
    pub env: E,
    pub faults: &'a mut F,
}

impl<E: Env, F: Faults + ?Sized> Env for Faulty<'_, E, F> {
    type Ghost = E::Ghost;
    fn meta(&mut self) -> &mut Meta<Self::Ghost> {
        self.env.meta()
    }
    fn perform(&mut self, io: &Io) -> Result<IoDone, IoError> {
        admit(self.faults, io, |_| {})?;
        self.env.perform(io)
    }
}

/// When a planned device error strikes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// The n-th I/O of the device (counting from 1), once.
    Nth(u64),
    /// Every I/O of the device that touches these blocks.
    Blocks(Range<Block>),
    /// Each I/O of the device, with this probability (drawn from the plan's seed).
    Probability(f64),
}

/// One planned device error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedError {
    pub device: Device,
    pub when: When,
}

impl fmt::Display for PlannedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dev = self.device;
        match &self.when {
            When::Nth(n) => write!(f, "{dev}:nth={n}"),
            When::Blocks(r) => write!(f, "{dev}:blocks={}..{}", r.start, r.end),
            When::Probability(p) => write!(f, "{dev}:p={p}"),
        }
    }
}

/// The faults of one run, as data: device errors, a preservation store of bounded size, and
/// copier crashes. A plan and its seed replay the same run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Seeds the draws of probabilistic errors.
    pub seed: u64,
    pub errors: Vec<PlannedError>,
    /// Blocks the snapshot store (or cache) can hold; `None` is unbounded.
    pub store_blocks: Option<u64>,
    /// The copier crashes before its n-th step (counting from 1), for each n listed, and
    /// restarts from what it persisted.
    pub crashes: Vec<u64>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.store_blocks.is_none() && self.crashes.is_empty()
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no faults");
        }
        let mut parts: Vec<String> = self.errors.iter().map(|e| format!("--fail {e}")).collect();
        if let Some(b) = self.store_blocks {
            parts.push(format!("--store-blocks {b}"));
        }
        parts.extend(self.crashes.iter().map(|n| format!("--crash-at {n}")));
        if self
            .errors
            .iter()
            .any(|e| matches!(e.when, When::Probability(_)))
        {
            parts.push(format!("--fault-seed {}", self.seed));
        }
        f.write_str(&parts.join(" "))
    }
}

/// A plan being followed: its counters and draws.
#[derive(Clone, Debug)]
pub struct PlanFaults {
    plan: FaultPlan,
    ios: [u64; 4],
    rng: ChaCha8Rng,
    store_used: u64,
    /// Errors injected so far, by device.
    pub injected: [u64; 4],
}

impl PlanFaults {
    pub fn new(plan: FaultPlan) -> Self {
        PlanFaults {
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            plan,
            ios: [0; 4],
            store_used: 0,
            injected: [0; 4],
        }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Whether the copier crashes before its `step`-th step (counting from 1).
    pub fn crashes_at(&self, step: u64) -> bool {
        self.plan.crashes.contains(&step)
    }
}

impl Faults for PlanFaults {
    fn fails(&mut self, kind: IoKind, device: Device, blocks: &Range<Block>) -> Option<ErrorKind> {
        let d = device as usize;
        self.ios[d] += 1;
        let n = self.ios[d];
        let mut failed = None;
        for e in self.plan.errors.iter().filter(|e| e.device == device) {
            let hit = match &e.when {
                When::Nth(k) => *k == n,
                When::Blocks(r) => r.start < blocks.end && blocks.start < r.end,
                // Drawn for every I/O so that the draws do not depend on other errors.
                When::Probability(p) => self.rng.next_u64() < (p * u64::MAX as f64) as u64,
            };
            if hit {
                failed = Some(ErrorKind::Device);
            }
        }
        let store = matches!(device, Device::Snapshot | Device::Cache);
        if failed.is_none() && store && kind == IoKind::Write {
            let len = blocks.end - blocks.start;
            match self.plan.store_blocks {
                Some(cap) if self.store_used + len > cap => failed = Some(ErrorKind::StoreFull),
                _ => self.store_used += len,
            }
        }
        if failed.is_some() {
            self.injected[d] += 1;
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_fails_the_nth_io_the_blocks_and_a_full_store() {
        let plan = FaultPlan {
            seed: 0,
            errors: vec![
                PlannedError {
                    device: Device::Source,
                    when: When::Nth(2),
                },
                PlannedError {
                    device: Device::Destination,
                    when: When::Blocks(4..6),
                },
            ],
            store_blocks: Some(3),
            crashes: vec![],
        };
        let mut f = PlanFaults::new(plan);
        let src = |f: &mut PlanFaults| f.fails(IoKind::Read, Device::Source, &(0..1));
        assert_eq!(src(&mut f), None);
        assert_eq!(src(&mut f), Some(ErrorKind::Device));
        assert_eq!(src(&mut f), None);
        let dst =
            |f: &mut PlanFaults, r: Range<Block>| f.fails(IoKind::Write, Device::Destination, &r);
        assert_eq!(dst(&mut f, 0..4), None);
        assert_eq!(dst(&mut f, 5..8), Some(ErrorKind::Device));
        let snap =
            |f: &mut PlanFaults, r: Range<Block>| f.fails(IoKind::Write, Device::Snapshot, &r);
        assert_eq!(snap(&mut f, 0..2), None);
        assert_eq!(snap(&mut f, 2..4), Some(ErrorKind::StoreFull));
        assert_eq!(snap(&mut f, 2..3), None);
        assert_eq!(f.injected, [1, 1, 1, 0]);
    }

    #[test]
    fn probabilistic_errors_replay_from_the_seed() {
        let plan = |seed| FaultPlan {
            seed,
            errors: vec![PlannedError {
                device: Device::Source,
                when: When::Probability(0.5),
            }],
            ..FaultPlan::default()
        };
        let draws = |seed| {
            let mut f = PlanFaults::new(plan(seed));
            (0..64)
                .map(|_| f.fails(IoKind::Read, Device::Source, &(0..1)).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "{hits} of 64");
    }
}
