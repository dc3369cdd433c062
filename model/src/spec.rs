//! The configuration of a run (`Spec`): geometry, policy and the rules it implies, copy
//! order, mutant, and the checkers' fixed workload resolved against the geometry.

use crate::disk::Device;
use crate::durability::{Commit, CommitStep};
use crate::fault::ErrorPolicy;
use crate::geometry::{Block, Chunk, Geometry, GeometryError, Segment};
use crate::ghost::Ghost;
use crate::meta::{Meta, WriteId, MAX_WRITES};
use crate::mutant::Mutant;
use crate::order::{CopyOrder, Plan};
use crate::policy::{Policy, Target};
use crate::rules::Rules;
use crate::workload::{Op, Role, Workload};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Index of a process: the copier's workers first (one unless [`Spec::with_workers`] says
/// more), then the clients in workload order.
pub type Pid = usize;

/// Why a configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{role} {number}, request {request}: {error}")]
    Request {
        role: Role,
        number: usize,
        request: usize,
        error: GeometryError,
    },
    #[error("the workload has {writes} writes; at most {max} are supported")]
    TooManyWrites { writes: u64, max: u64 },
    #[error("volumes of {sizes:?} segments: each must have at least one, and together the volume's {segments}")]
    Volumes {
        sizes: Vec<Segment>,
        segments: Segment,
    },
    #[error("{workers} copy workers: there must be at least 1 and at most {max}")]
    Workers { workers: u32, max: u32 },
}

/// The most copy workers a copy may run (QEMU's `x-perf.max-workers` defaults to 64).
pub const MAX_WORKERS: u32 = 1024;

/// A request resolved against the geometry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resolved {
    pub op: Op,
    pub blocks: Range<Block>,
    /// The write's id (meaningful for writes only).
    pub write: WriteId,
    /// A write with forced unit access: durable when acknowledged.
    pub fua: bool,
}

impl Resolved {
    /// Stands in for the request of a client that has none.
    pub fn nothing() -> Self {
        Resolved {
            op: Op::Read,
            blocks: 0..0,
            write: 0,
            fua: false,
        }
    }

    fn key(&self) -> (Op, Block, Block, WriteId, bool) {
        (
            self.op,
            self.blocks.start,
            self.blocks.end,
            self.write,
            self.fua,
        )
    }
}

impl PartialOrd for Resolved {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders requests (symmetry reduction sorts clients, and so their requests).
impl Ord for Resolved {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// How long the ranges of open requests may be (see [`Spec::with_open_ranges`]).
///
/// Reads need no ranges longer than one block to find every violation: a read breaks an
/// invariant exactly when, at the same moment, the read of one of its blocks would (each
/// block is routed and compared on its own), and what a read does to anyone else is only to
/// make writes wait for the chunks it tracks, which removes interleavings and adds none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRanges {
    pub write_blocks: u64,
    pub read_blocks: u64,
}

/// Everything that stays fixed during a run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub geometry: Geometry,
    pub policy: Arc<dyn Policy>,
    pub order: CopyOrder,
    pub mutant: Option<Mutant>,
    /// The decision points' answers: the policy's, bent by the mutant.
    pub rules: Rules,
    pub workload: Workload,
    /// When set, every request's range is chosen when it arrives (the exhaustive checker
    /// explores every choice): one check then covers every workload of its size. The
    /// workload's ranges are ignored.
    pub open_ranges: Option<OpenRanges>,
    /// Whether I/O can fail in this run (a driver injects faults): writes then stay
    /// undoable until acknowledged.
    pub faults: bool,
    /// What the copy does when its I/O fails.
    pub on_error: ErrorPolicy,
    /// Whether a driver may make a copy worker hand its task back before copying it (the
    /// exhaustive checker's `hand_backs`): a chunk a write waited for may then be unsettled
    /// when its wait ends, as after a failed I/O.
    pub hand_backs: bool,
    /// Whether devices have volatile write caches: writes are durable only once flushed (or
    /// written FUA), the copy commits its metadata by its policy's protocol, and a driver may
    /// cut the power ([`crate::durability`]).
    pub volatile: bool,
    /// The copier's workers: processes `0..workers`.
    workers: u32,
    /// The volumes one copy engine copies: consecutive runs of whole segments of the
    /// address space, each with its own hold queue (one volume, the whole space, unless a
    /// driver asks for more). The maps are per chunk, so each volume's are its own.
    volumes: Vec<Range<Segment>>,
    plan: Plan,
    requests: Vec<Vec<Resolved>>,
    writes: Vec<Range<Block>>,
    names: Vec<String>,
}

impl Spec {
    pub fn new(
        geometry: Geometry,
        policy: Arc<dyn Policy>,
        order: CopyOrder,
        mutant: Option<Mutant>,
        workload: Workload,
    ) -> Result<Spec, SpecError> {
        let mut requests = Vec::new();
        let mut writes = Vec::new();
        let mut names = vec!["copier".to_string()];
        let mut per_role = std::collections::HashMap::<Role, usize>::new();
        for client in &workload.clients {
            let number = per_role.entry(client.role).or_default();
            *number += 1;
            names.push(format!("{} {}", client.role, number));
            let mut resolved = Vec::new();
            for (r, req) in client.requests.iter().enumerate() {
                let blocks = match req.op {
                    Op::Flush => Ok(0..0),
                    _ => geometry.blocks_of(req.offset, req.len),
                };
                let blocks = blocks.map_err(|error| SpecError::Request {
                    role: client.role,
                    number: *number,
                    request: r,
                    error,
                })?;
                let write = writes.len() as u64;
                if write >= MAX_WRITES {
                    return Err(SpecError::TooManyWrites {
                        writes: write + 1,
                        max: MAX_WRITES,
                    });
                }
                if req.op == Op::Write {
                    writes.push(blocks.clone());
                }
                resolved.push(Resolved {
                    op: req.op,
                    blocks,
                    write: write as WriteId,
                    fua: req.fua,
                });
            }
            requests.push(resolved);
        }
        let volumes: Vec<Range<Segment>> = std::iter::once(0..geometry.segments()).collect();
        Ok(Spec {
            plan: order.plan(geometry.segments(), &volumes),
            volumes,
            rules: Rules::new(policy.as_ref(), mutant),
            geometry,
            policy,
            order,
            mutant,
            workload,
            requests,
            writes,
            names,
            open_ranges: None,
            faults: false,
            on_error: ErrorPolicy::default(),
            hand_backs: false,
            volatile: false,
            workers: 1,
        })
    }

    /// The same spec with the copy run by `n` workers over one claim structure.
    pub fn with_workers(mut self, n: u32) -> Result<Spec, SpecError> {
        if !(1..=MAX_WORKERS).contains(&n) {
            return Err(SpecError::Workers {
                workers: n,
                max: MAX_WORKERS,
            });
        }
        let clients = self.names.split_off(self.workers as usize);
        self.names = match n {
            1 => vec!["copier".to_string()],
            _ => (1..=n).map(|i| format!("copier worker {i}")).collect(),
        };
        self.names.extend(clients);
        self.workers = n;
        Ok(self)
    }

    /// The copier's workers.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// Whether process `pid` is one of the copier's workers.
    pub fn is_worker(&self, pid: Pid) -> bool {
        pid < self.workers as Pid
    }

    /// The first client's process id.
    pub fn first_client(&self) -> Pid {
        self.workers as Pid
    }

    /// The same spec with devices whose write caches are volatile (see [`Spec::volatile`]).
    pub fn with_volatile_caches(mut self) -> Spec {
        self.volatile = true;
        self
    }

    /// The steps that commit `what`, in order: none without volatile caches.
    pub fn commit_steps(&self, what: Commit, fua: bool) -> &'static [CommitStep] {
        match self.volatile {
            false => &[],
            true => self.rules.commit(what, fua),
        }
    }

    /// The same spec in a run whose driver may make workers hand their tasks back.
    pub fn with_hand_backs(mut self) -> Spec {
        self.hand_backs = true;
        self
    }

    /// Whether a chunk in flight can leave flight unsettled (a failed I/O, a task handed
    /// back): a write that waited for it must then look again before it is applied.
    pub fn claims_can_end_unsettled(&self) -> bool {
        self.faults || self.hand_backs
    }

    /// The same spec with every request's range chosen when it arrives.
    pub fn with_open_ranges(mut self, ranges: OpenRanges) -> Spec {
        let blocks = self.geometry.blocks;
        self.open_ranges = Some(OpenRanges {
            write_blocks: ranges.write_blocks.clamp(1, blocks),
            read_blocks: ranges.read_blocks.clamp(1, blocks),
        });
        self
    }

    /// The same spec with the address space cut into volumes of these many segments each
    /// (they must add up to the geometry's segments).
    pub fn with_volumes(mut self, segments: &[Segment]) -> Result<Spec, SpecError> {
        let total: u64 = segments.iter().map(|s| *s as u64).sum();
        if total != self.geometry.segments() as u64 || segments.contains(&0) {
            return Err(SpecError::Volumes {
                sizes: segments.to_vec(),
                segments: self.geometry.segments(),
            });
        }
        let mut start = 0;
        self.volumes = segments
            .iter()
            .map(|n| {
                start += n;
                start - n..start
            })
            .collect();
        self.plan = self.order.plan(self.geometry.segments(), &self.volumes);
        Ok(self)
    }

    /// The volumes, as runs of segments.
    pub fn volumes(&self) -> &[Range<Segment>] {
        &self.volumes
    }

    /// The volume a block belongs to.
    pub fn volume_of(&self, block: Block) -> usize {
        let s = self
            .geometry
            .segment_of_chunk(self.geometry.chunk_of(block));
        self.volumes.partition_point(|v| v.end <= s)
    }

    /// The blocks of a volume.
    pub fn volume_blocks(&self, v: usize) -> Range<Block> {
        let r = &self.volumes[v];
        let g = &self.geometry;
        g.segment_blocks_range(r.start).start..g.segment_blocks_range(r.end - 1).end
    }

    /// Whether a held write's turn has come to leave the queue of its volume.
    pub fn turn(&self, hold: &crate::meta::HoldQueue, w: WriteId, blocks: &Range<Block>) -> bool {
        let head = match self.volumes.len() {
            1 => hold.head(),
            _ => hold.head_within(&self.volume_blocks(self.volume_of(blocks.start))),
        };
        self.rules.turn(hold, w, head)
    }

    /// The same spec in a run whose I/O can fail, handled by `on_error`.
    pub fn with_faults(mut self, on_error: ErrorPolicy) -> Spec {
        self.faults = true;
        self.on_error = on_error;
        self
    }

    /// The ranges an open request of this kind may choose, shortest first from each start.
    pub fn ranges(&self, op: Op) -> impl Iterator<Item = Range<Block>> + '_ {
        let max = match (self.open_ranges, op) {
            (None, _) => 0,
            (Some(o), Op::Write) => o.write_blocks,
            (Some(o), _) => o.read_blocks,
        };
        let blocks = self.geometry.blocks;
        (0..blocks).flat_map(move |s| (1..=max.min(blocks - s)).map(move |n| s..s + n))
    }

    /// Processes of the fixed workload (the copier's workers and the clients). A driver may
    /// add clients of its own after these (see [`crate::client::Client::with_request`]).
    pub fn processes(&self) -> usize {
        self.workers as usize + self.requests.len()
    }

    /// The fixed workload's clients.
    pub fn clients(&self) -> std::ops::Range<Pid> {
        self.first_client()..self.processes()
    }

    pub fn process_name(&self, pid: Pid) -> Cow<'_, str> {
        match self.names.get(pid) {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(format!("client {pid}")),
        }
    }

    /// The fixed requests of a client (none for a client a driver added).
    pub fn requests(&self, pid: Pid) -> &[Resolved] {
        pid.checked_sub(self.workers as Pid)
            .and_then(|i| self.requests.get(i))
            .map_or(&[], |r| r.as_slice())
    }

    /// A client's request number `index`, if it has one.
    pub fn request(&self, pid: Pid, index: u32) -> Option<&Resolved> {
        self.requests(pid).get(index as usize)
    }

    /// Writes of the fixed workload.
    pub fn write_count(&self) -> usize {
        self.writes.len()
    }

    /// The blocks of a write of the fixed workload.
    pub fn write_blocks(&self, w: WriteId) -> Range<Block> {
        self.writes[w as usize].clone()
    }

    /// The segment the copier copies `n`-th (orders other than written-first).
    pub fn planned_segment(&self, n: u32) -> Segment {
        self.plan.segment(n, self.geometry.segments())
    }

    /// Where preservation writes, or `None` for policies that never preserve.
    pub fn target(&self) -> Option<Target> {
        self.rules.target
    }

    /// The device that holds begin-time data of a chunk in the snapshot map.
    pub fn map_device(&self) -> Device {
        self.rules.map_device()
    }

    /// Where a read of the point-in-time image finds a chunk's data, as QEMU's fleecing
    /// export or a dm-snapshot device serves it.
    pub fn image_source<G: Ghost>(&self, meta: &Meta<G>, chunk: Chunk) -> Device {
        if meta.snapshot_map().contains(chunk) {
            self.map_device()
        } else if meta.copied().contains(chunk) {
            Device::Destination
        } else {
            Device::Source
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "geometry: {}", self.geometry)?;
        writeln!(f, "policy:   {}", self.policy.name())?;
        writeln!(f, "order:    {}", self.order)?;
        match self.mutant {
            Some(m) => writeln!(f, "mutant:   {m}")?,
            None => writeln!(f, "mutant:   none")?,
        }
        if self.faults {
            writeln!(f, "on error: {}", self.on_error)?;
        }
        if self.workers > 1 {
            writeln!(f, "workers:  {}", self.workers)?;
        }
        if self.volumes.len() > 1 {
            let sizes: Vec<String> = self.volumes.iter().map(|v| v.len().to_string()).collect();
            writeln!(
                f,
                "volumes:  {} (segments each: {})",
                self.volumes.len(),
                sizes.join(", ")
            )?;
        }
        for (i, client) in self.workload.clients.iter().enumerate() {
            let reqs: Vec<String> = client
                .requests
                .iter()
                .zip(&self.requests[i])
                .map(|(r, res)| {
                    let what = match r.op {
                        Op::Write => format!("write {}", res.write),
                        Op::Read => "read".into(),
                        Op::ReadImage => "image read".into(),
                        Op::Flush => "flush".into(),
                    };
                    match self.open_ranges {
                        None => format!("{what} @{}+{}", r.offset, r.len),
                        Some(o) => {
                            let n = match r.op {
                                Op::Write => o.write_blocks,
                                _ => o.read_blocks,
                            };
                            format!("{what} of any range of at most {n} block(s)")
                        }
                    }
                })
                .collect();
            writeln!(
                f,
                "{}: {}",
                self.names[self.workers as usize + i],
                reqs.join(", ")
            )?;
        }
        Ok(())
    }
}
