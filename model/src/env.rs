//! The interface through which a process performs its one action per step. Processes are
//! sans-I/O step machines: a step asks for its I/O as data ([`Io`]) and a driver performs
//! it, times it or fails it. A step that takes no metadata lock plans its I/O from its own
//! state alone ([`crate::Process::planned_io`]) and finishes with the results
//! ([`crate::Process::complete`]), so a driver can serve that I/O in simulated time before
//! the step takes effect; a step under the metadata lock performs its I/O inside that
//! critical section through [`Env::perform`]. The exhaustive and random drivers give the
//! processes an `Env` over one `World` value ([`Direct`]), the threaded driver one over
//! separately locked devices and metadata, the timed driver one that charges each I/O's time
//! on its device.

use crate::disk::{BlockStore, Copied, Device, Stamp};
use crate::durability::{CommitStep, Power, Record};
use crate::geometry::Block;
use crate::ghost::Ghost;
use crate::meta::Meta;
use smallvec::SmallVec;
use std::fmt;
use std::ops::Range;

/// One I/O a step asks for, as data: a run of adjacent blocks read from or written to one
/// device, or copied between two. It fails whole or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Io {
    Read {
        device: Device,
        blocks: Range<Block>,
    },
    Write {
        device: Device,
        blocks: Range<Block>,
        stamp: Stamp,
        /// Forced unit access: on stable media when it completes, even with a volatile cache.
        fua: bool,
    },
    /// A read of `from` and a write of `to`, of the same blocks.
    Copy {
        from: Device,
        to: Device,
        blocks: Range<Block>,
    },
    /// FLUSH: the device's cached writes reach stable media.
    Flush { device: Device },
    /// A record of the copy's metadata written to the metadata device.
    Record(Record),
    /// FLUSH of the metadata device.
    FlushMetadata,
}

/// Which way an access moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    Read,
    Write,
}

/// One device access of an [`Io`]: a copy is two, its read and then its write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: IoKind,
    pub device: Device,
    pub blocks: Range<Block>,
    /// A step of durability (a FLUSH, a metadata record): timed like any access, never
    /// failed by a fault plan.
    pub commit: bool,
}

impl Io {
    /// Its device accesses, in the order they happen.
    #[inline]
    pub fn accesses(&self) -> impl Iterator<Item = Access> {
        let access = |kind, device, blocks: &Range<Block>| Access {
            kind,
            device,
            blocks: blocks.clone(),
            commit: false,
        };
        // A FLUSH is a zero-length write command to its device; the metadata device is the
        // snapshot store's, its records one block at its start.
        let commit = |device, blocks: Range<Block>| Access {
            kind: IoKind::Write,
            device,
            blocks,
            commit: true,
        };
        let (first, then) = match self {
            Io::Read { device, blocks } => (access(IoKind::Read, *device, blocks), None),
            Io::Write { device, blocks, .. } => (access(IoKind::Write, *device, blocks), None),
            Io::Copy { from, to, blocks } => (
                access(IoKind::Read, *from, blocks),
                Some(access(IoKind::Write, *to, blocks)),
            ),
            Io::Flush { device } => (commit(*device, 0..0), None),
            Io::Record(_) => (commit(Device::Snapshot, 0..1), None),
            Io::FlushMetadata => (commit(Device::Snapshot, 0..0), None),
        };
        std::iter::once(first).chain(then)
    }

    /// Whether it only makes earlier writes durable or writes metadata (a commit step or a
    /// guest's FLUSH), which touches no block of a data device.
    pub fn is_durability(&self) -> bool {
        matches!(self, Io::Flush { .. } | Io::Record(_) | Io::FlushMetadata)
    }

    /// Performs it on a block store (which never fails).
    #[inline]
    pub fn perform_on<S: BlockStore>(&self, store: &mut S) -> IoDone {
        match self {
            Io::Read { device, blocks } => IoDone::Read(store.read(*device, blocks.clone())),
            Io::Write {
                device,
                blocks,
                stamp,
                ..
            } => {
                store.write(*device, blocks.clone(), *stamp);
                IoDone::Written
            }
            Io::Copy { from, to, blocks } => IoDone::Copied(store.copy(*from, *to, blocks.clone())),
            Io::Flush { .. } | Io::Record(_) | Io::FlushMetadata => IoDone::Written,
        }
    }

    /// Performs it on a block store, with volatile caches when `power` is given
    /// ([`Io::perform_cached`]), else as [`Io::perform_on`]. (Inlined into each step, where
    /// the I/O is known: out of line, the drivers' I/O path costs a tenth more.)
    #[inline(always)]
    pub fn perform_with<S: BlockStore>(
        &self,
        store: &mut S,
        power: Option<&mut Power<S>>,
    ) -> IoDone {
        match power {
            Some(power) => self.perform_cached(store, power),
            None => self.perform_on(store),
        }
    }

    /// The I/O of one commit step: a FLUSH of `data` (the device the committed data was
    /// written to), `record` written to the metadata device, or a FLUSH of the metadata.
    pub fn commit_step(step: CommitStep, data: Device, record: Record) -> Io {
        match step {
            CommitStep::FlushData => Io::Flush { device: data },
            CommitStep::WriteRecord => Io::Record(record),
            CommitStep::FlushMetadata => Io::FlushMetadata,
        }
    }

    /// Performs it on a block store whose devices have volatile caches: what is written
    /// goes to the cache (the store) and is noted as pending in `power`. (Kept out of line:
    /// the drivers' I/O path without volatile caches stays as small as it was.)
    #[inline(never)]
    pub fn perform_cached<S: BlockStore>(&self, store: &mut S, power: &mut Power<S>) -> IoDone {
        match self {
            Io::Write {
                device,
                blocks,
                stamp,
                fua,
            } => match fua {
                true => power.written_fua(*device, blocks.clone(), *stamp),
                false => {
                    let n = (blocks.end - blocks.start) as usize;
                    power.written(*device, blocks.start, std::iter::repeat_n(*stamp, n))
                }
            },
            Io::Copy { to, blocks, .. } => {
                let done = self.perform_on(store);
                if let Some(stamps) = store.read(*to, blocks.clone()) {
                    power.written(*to, blocks.start, stamps);
                }
                return done;
            }
            Io::Flush { device } => power.flush(*device),
            Io::Record(r) => power.record(*r),
            Io::FlushMetadata => power.flush_metadata(),
            Io::Read { .. } => {}
        }
        self.perform_on(store)
    }
}

/// What a performed [`Io`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoDone {
    /// The stamps read, or `None` if the driver keeps no data.
    Read(Option<Vec<Stamp>>),
    Written,
    Copied(Copied),
}

impl IoDone {
    /// What a read returned (a driver answers each I/O with the result of its kind).
    #[inline]
    pub fn stamps(self) -> Option<Vec<Stamp>> {
        match self {
            IoDone::Read(stamps) => stamps,
            other => unreachable!("a read answered with {other:?}"),
        }
    }

    /// What a copy moved.
    #[inline]
    pub fn copied(self) -> Copied {
        match self {
            IoDone::Copied(c) => c,
            other => unreachable!("a copy answered with {other:?}"),
        }
    }
}

/// The I/Os of one step, in order (most steps have one).
pub type IoList = SmallVec<[Io; 2]>;

/// The results of a step's I/Os, in order, each beside the I/O it answers: every planned
/// I/O's up to and including the first that failed (an I/O after a failed one is never
/// performed).
pub type IoResults = SmallVec<[(Io, Result<IoDone, IoError>); 2]>;

/// What a step may do: one metadata update, or disk I/O, or both inside one critical section.
pub trait Env {
    type Ghost: Ghost;
    /// The shared metadata. Only steps for which `Process::needs_meta` is true may call it.
    fn meta(&mut self) -> &mut Meta<Self::Ghost>;
    /// Performs one I/O; one that fails changes nothing and says which device and blocks.
    fn perform(&mut self, io: &Io) -> Result<IoDone, IoError>;

    /// The stamps of a range, or `None` if the driver keeps no data.
    fn read(
        &mut self,
        device: Device,
        blocks: Range<Block>,
    ) -> Result<Option<Vec<Stamp>>, IoError> {
        self.perform(&Io::Read { device, blocks })
            .map(IoDone::stamps)
    }
    fn write(&mut self, device: Device, blocks: Range<Block>, stamp: Stamp) -> Result<(), IoError> {
        self.perform(&Io::Write {
            device,
            blocks,
            stamp,
            fua: false,
        })
        .map(|_| ())
    }
    /// A read of `from` and a write of `to`, of the same blocks.
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Block>) -> Result<Copied, IoError> {
        self.perform(&Io::Copy { from, to, blocks })
            .map(IoDone::copied)
    }
}

/// Performs a step's planned I/Os in order, stopping after the first that fails.
#[inline]
pub fn perform_all<E: Env + ?Sized>(env: &mut E, ios: IoList) -> IoResults {
    let mut results = IoResults::new();
    for io in ios {
        let result = env.perform(&io);
        let failed = result.is_err();
        results.push((io, result));
        if failed {
            break;
        }
    }
    results
}

/// An `Env` over one block store and one metadata value: what the exhaustive and random
/// drivers use. Its I/O never fails; wrap it in [`crate::fault::Faulty`] to inject faults.
pub struct Direct<'a, S: BlockStore, G: Ghost> {
    pub disk: &'a mut S,
    pub meta: &'a mut Meta<G>,
    /// The stable media and cached writes, when devices have volatile caches.
    pub power: Option<&'a mut Power<S>>,
}

impl<S: BlockStore, G: Ghost> Env for Direct<'_, S, G> {
    type Ghost = G;
    fn meta(&mut self) -> &mut Meta<G> {
        self.meta
    }
    // Inlined into each step, where the I/O it performs is known.
    #[inline(always)]
    fn perform(&mut self, io: &Io) -> Result<IoDone, IoError> {
        Ok(io.perform_with(self.disk, self.power.as_deref_mut()))
    }
}

/// Why an I/O failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The device returned an error.
    Device,
    /// The preservation store (snapshot or cache) has no room left.
    StoreFull,
}

/// A failed I/O: which device, which blocks, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoError {
    pub device: Device,
    pub blocks: Range<Block>,
    pub kind: ErrorKind,
}

impl IoError {
    fn key(&self) -> (Device, Block, Block, ErrorKind) {
        (self.device, self.blocks.start, self.blocks.end, self.kind)
    }
}

impl PartialOrd for IoError {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders errors (symmetry reduction sorts clients, and so the errors they hold).
impl Ord for IoError {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Device => "I/O error",
            ErrorKind::StoreFull => "store full",
        };
        write!(
            f,
            "{what} on {} {}",
            self.device,
            crate::geometry::show_blocks(&self.blocks)
        )
    }
}
