//! The timing fabric: a [`Fabric`] that times I/Os and commands through a [`Topology`]
//! (links, RAID striping, the disks' queues, the control path).
//!
//! A [`Topology`] names devices and links and says which device plays each role (source,
//! destination, snapshot, cache) and which links that role's I/O crosses. It changes what
//! an I/O costs and which resources it queues on, never what the engine does.
//!
//! The model, resource by resource:
//!
//! - **Disk**: a [`DeviceQueue`] (`sim/src/device.rs`) over a [`DeviceModel`](crate::device::DeviceModel) with its
//!   queue depth: FIFO, up to `depth` I/Os in service sharing the disk's bandwidth. The
//!   queue hands back a wake whenever its earliest completion moves; the fabric schedules
//!   each and the queue ignores the stale ones.
//! - **RAID** (inside the array, behind the links): splits a logical I/O into member I/Os.
//!   Unit `c` of the logical address space is the `stripe_unit` bytes at `c × unit`.
//!   - `raid0` (n >= 2): unit `c` is on member `c mod n` at `(c div n) × unit`.
//!   - `raid1` (n >= 2): a write goes to every member; a read to the member with the
//!     fewest I/Os in service or waiting on its disks when the I/O reaches the array
//!     (ties to the lowest index).
//!   - `raid5` (n >= 3, left-symmetric): stripe `s` holds n-1 data units; its parity is on
//!     member `p = n-1 - (s mod n)` and data unit `k` on member `(p+1+k) mod n`, all at
//!     `s × unit`. A write covering every data unit of a stripe writes them and the
//!     parity (no reads). Otherwise, **per stripe**, a read-modify-write: first read the
//!     old data of every touched unit and the old parity over the smallest in-unit range
//!     covering the touched ranges, then (once all reads are done) write the data and that
//!     parity range. A one-unit write costs four member I/Os on two members.
//!     Reconstruct-writes and degraded mode are not modelled.
//!
//!   Pieces of a read (and of a raid0 write) that are contiguous on one member are merged
//!   into one member I/O. Member I/Os of different stripes run in parallel. A RAID may be
//!   a member of another RAID (raid10 is a raid0 of raid1s); a disk may serve several
//!   roles or RAIDs and then has one queue for all of them.
//! - **Link** (latency, bandwidth): one FIFO shared by every transfer crossing it in
//!   either direction, one transfer at a time; a transfer of `b` bytes holds the link for
//!   `ceil(b × 10^9 / bandwidth)` ns and arrives `latency_ns` after it ends. Messages
//!   without data (a read's request, a write's acknowledgement) take the latency only and
//!   do not queue. A switch is not a resource of its own: it is the links through it.
//! - **Data I/O** of a role with links `l1 .. lk` (host to device): a write sends its
//!   bytes over `l1 .. lk`, runs on the device, and the acknowledgement returns over
//!   `lk .. l1`; a read sends its request over `l1 .. lk`, runs, and its bytes return over
//!   `lk .. l1`.
//! - **Control path**: `in-band` commands are `command_bytes` sent over the source's links
//!   and sent back the same way (two transfers per link, no device); `out-of-band`
//!   commands cross a control link of their own there and back.
//!
//! Approximate: links are half-duplex and store-and-forward (a transfer is fully received
//! before it enters the next link); messages without data never queue; a RAID's
//! controller costs nothing and has no cache; RAID-1 balance is judged once per I/O.

use super::{refused, ControlPath, DeviceSpec, Link, RaidLevel, Topology, TopologyError};
use crate::device::{DeviceQueue, DeviceStats, Io, Wake};
use cowlab_model::Device;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// What a member I/O is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    DataRead,
    DataWrite,
    ParityRead,
    ParityWrite,
}

/// Member I/Os a disk was given, by kind (counted when submitted to its queue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCounts {
    pub data_reads: u64,
    pub data_writes: u64,
    pub parity_reads: u64,
    pub parity_writes: u64,
}

impl MemberCounts {
    pub fn reads(&self) -> u64 {
        self.data_reads + self.parity_reads
    }

    pub fn writes(&self) -> u64 {
        self.data_writes + self.parity_writes
    }

    fn count(&mut self, kind: MemberKind) {
        *match kind {
            MemberKind::DataRead => &mut self.data_reads,
            MemberKind::DataWrite => &mut self.data_writes,
            MemberKind::ParityRead => &mut self.parity_reads,
            MemberKind::ParityWrite => &mut self.parity_writes,
        } += 1;
    }
}

/// What a link carried (a transfer counts, with its whole time, when it starts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub transfers: u64,
    pub bytes: u64,
    pub busy_ns: u64,
    /// The most transfers ever waiting at once.
    pub max_waiting: usize,
}

const NONE: u32 = u32::MAX;

/// A device of the topology, resolved to indices.
enum Node {
    Disk(u32),
    Raid {
        level: RaidLevel,
        unit: u64,
        members: Vec<u32>,
    },
}

struct DiskState {
    name: String,
    /// Tokens are (operation, plan node).
    queue: DeviceQueue<(u32, u32)>,
    counts: MemberCounts,
}

struct LinkState {
    name: String,
    link: Link,
    /// The operation transferring now.
    current: Option<u32>,
    waiting: VecDeque<(u32, u64)>,
    stats: LinkStats,
}

struct RoleState {
    node: u32,
    links: Vec<u32>,
    offset: u64,
    /// The disk the role's I/O goes straight to, when it crosses no link and the role's
    /// device is a plain disk only such roles use (the fast path of the `separate` and
    /// `shared` presets).
    direct: Option<u32>,
}

/// The operation of a member I/O that went straight to its disk
/// ([`Fabric::submit_direct`]): it belongs to no operation; the other half of its token is
/// the caller's own (kept in the disk's queue, so that a backlog of millions of I/Os costs
/// no more than the queue's own entries).
const DIRECT: u32 = NONE;

#[derive(Clone, Copy)]
enum Step {
    /// Cross a link: queue and transfer `bytes` (none: the latency only), then the latency.
    Hop { link: u32, bytes: u64 },
    /// Run on the role's device.
    Device,
}

/// One step of a logical I/O on the device: a member I/O, or a group of steps run all at
/// once or one after the other.
struct PlanNode {
    kind: PlanKind,
    parent: u32,
    children: Vec<u32>,
    /// Children finished.
    done: u32,
}

enum PlanKind {
    Leaf {
        disk: u32,
        offset: u64,
        bytes: u64,
        write: bool,
        kind: MemberKind,
    },
    All,
    Then,
}

/// A logical I/O or a command in flight.
struct Op<T> {
    token: T,
    steps: Vec<Step>,
    next: usize,
    role: usize,
    /// Offset on the role's device, bytes, write.
    io: (u64, u64, bool),
    plan: Vec<PlanNode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The operation goes on with its next step.
    Resume(u32),
    LinkDone(u32),
    /// A wake of a disk's queue: a member I/O finishes, unless the wake is stale.
    DiskDone {
        disk: u32,
        gen: u32,
    },
    /// The operation is complete: hand back its token.
    Finish(u32),
}

/// A topology's timing engine. The caller owns the clock: it submits I/Os and commands at
/// its `now`, asks [`next_due`](Fabric::next_due) for the earliest internal event and calls
/// [`advance`](Fabric::advance) at that time, which hands back the tokens completed then.
/// Time must not go back: advance to every due time before acting at a later one.
/// Internal events at equal times run in the order they were scheduled.
///
/// With the `separate` and `shared` presets a data I/O is one member I/O on one
/// [`DeviceQueue`], submitted at once, so its completion time is the queue's.
pub struct Fabric<T> {
    nodes: Vec<Node>,
    /// The disks under each node (for RAID-1's least busy member).
    under: Vec<Vec<u32>>,
    disks: Vec<DiskState>,
    links: Vec<LinkState>,
    /// The out-of-band control link: the last of `links`.
    control_link: Option<u32>,
    command_bytes: u64,
    roles: Vec<RoleState>,
    ops: Vec<Option<Op<T>>>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    now: u64,
}

impl<T> Fabric<T> {
    /// An idle fabric over a valid topology (see [`Topology::validate`]).
    pub fn new(topology: &Topology) -> Result<Fabric<T>, TopologyError> {
        topology.validate()?;
        let index: BTreeMap<&str, u32> = topology
            .devices
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let mut disks = Vec::new();
        let mut nodes = Vec::new();
        for (name, spec) in &topology.devices {
            nodes.push(match spec {
                DeviceSpec::Disk { model, queue_depth } => {
                    let queue = DeviceQueue::new(*model, *queue_depth).map_err(|e| {
                        refused(format!("devices.{name}"), String::new(), &e.to_string())
                    })?;
                    disks.push(DiskState {
                        name: name.clone(),
                        queue,
                        counts: MemberCounts::default(),
                    });
                    Node::Disk(disks.len() as u32 - 1)
                }
                DeviceSpec::Raid {
                    level,
                    stripe_unit,
                    members,
                } => Node::Raid {
                    level: *level,
                    unit: *stripe_unit,
                    members: members.iter().map(|m| index[m.as_str()]).collect(),
                },
            });
        }
        let under: Vec<Vec<u32>> = (0..nodes.len()).map(|n| disks_under(&nodes, n)).collect();
        let mut links: Vec<LinkState> = topology
            .links
            .iter()
            .map(|(name, link)| LinkState {
                name: name.clone(),
                link: *link,
                current: None,
                waiting: VecDeque::new(),
                stats: LinkStats::default(),
            })
            .collect();
        let link_index: BTreeMap<&str, u32> = topology
            .links
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let roles = topology
            .roles
            .iter()
            .map(|r| {
                let node = index[r.device.as_str()];
                // Only a disk no RAID shares: its queue then serves this role alone (or the
                // roles of one shared disk), never a member I/O.
                let in_raid = |d: u32| {
                    nodes
                        .iter()
                        .enumerate()
                        .any(|(n, x)| matches!(x, Node::Raid { .. }) && under[n].contains(&d))
                };
                // Nor a disk a role reaches over links: its I/O's wakes are the fabric's.
                let over_links = |d: u32| {
                    topology.roles.iter().any(|o| {
                        !o.links.is_empty()
                            && matches!(nodes[index[o.device.as_str()] as usize], Node::Disk(x) if x == d)
                    })
                };
                let direct = match nodes[node as usize] {
                    Node::Disk(d) if r.links.is_empty() && !in_raid(d) && !over_links(d) => {
                        Some(d)
                    }
                    _ => None,
                };
                RoleState {
                    node,
                    links: r.links.iter().map(|l| link_index[l.as_str()]).collect(),
                    offset: r.offset,
                    direct,
                }
            })
            .collect();
        let control_link = match topology.control.path {
            ControlPath::InBand => None,
            ControlPath::OutOfBand(link) => {
                links.push(LinkState {
                    name: "control".into(),
                    link,
                    current: None,
                    waiting: VecDeque::new(),
                    stats: LinkStats::default(),
                });
                Some(links.len() as u32 - 1)
            }
        };
        Ok(Fabric {
            nodes,
            under,
            disks,
            links,
            control_link,
            command_bytes: topology.control.command_bytes,
            roles,
            ops: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
        })
    }

    /// The disk a role's I/O goes straight to, when it crosses no link and its device is a
    /// plain disk that no RAID and no role over links reaches: such an I/O may be served by [`Fabric::submit_direct`] on the caller's
    /// own clock, without the fabric's events (what the `separate` and `shared` presets
    /// need, and the cheapest way to time them). A caller drives a role's I/O one way or
    /// the other, never both.
    pub fn direct_disk(&self, role: Device) -> Option<u32> {
        self.roles[role as usize].direct
    }

    /// A data I/O of `role` at `now` (`io.offset` within the role's region). Its token
    /// comes back from [`advance`](Fabric::advance) when it completes.
    pub fn submit(&mut self, now: u64, role: Device, io: Io<T>) {
        self.set_now(now);
        let r = &self.roles[role as usize];
        let out = r.links.iter().map(|&link| Step::Hop {
            link,
            bytes: if io.write { io.bytes } else { 0 },
        });
        let back = r.links.iter().rev().map(|&link| Step::Hop {
            link,
            bytes: if io.write { 0 } else { io.bytes },
        });
        let steps = out.chain([Step::Device]).chain(back).collect();
        let offset = r.offset.saturating_add(io.offset);
        let id = self.add(Op {
            token: io.token,
            steps,
            next: 0,
            role: role as usize,
            io: (offset, io.bytes, io.write),
            plan: Vec::new(),
        });
        self.proceed(id);
    }

    /// A control command at `now`: there and back over the source's links (in-band) or the
    /// control link (out-of-band). With no link to cross it completes at `now`.
    pub fn command(&mut self, now: u64, token: T) {
        self.set_now(now);
        let bytes = self.command_bytes;
        let links = match self.control_link {
            Some(link) => vec![link],
            None => self.roles[Device::Source as usize].links.clone(),
        };
        let out = links.iter().map(|&link| Step::Hop { link, bytes });
        let back = links.iter().rev().map(|&link| Step::Hop { link, bytes });
        let id = self.add(Op {
            token,
            steps: out.chain(back).collect(),
            next: 0,
            role: Device::Source as usize,
            io: (0, 0, false),
            plan: Vec::new(),
        });
        self.proceed(id);
    }

    /// The time of the earliest internal event, if any: call [`advance`](Fabric::advance)
    /// then.
    pub fn next_due(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Runs the internal events due by `now` (each at its own time) and returns the tokens
    /// of the I/Os and commands that completed, in the order they completed.
    pub fn advance(&mut self, now: u64) -> Vec<T> {
        let mut done = Vec::new();
        self.advance_into(now, &mut done);
        done
    }

    /// Like [`advance`](Fabric::advance), appending the tokens to `done` (a buffer the
    /// caller keeps, so that a run allocates none per I/O).
    pub fn advance_into(&mut self, now: u64, done: &mut Vec<T>) {
        while let Some(&Reverse((t, _, event))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            self.set_now(t);
            match event {
                Event::Resume(id) => self.proceed(id),
                Event::LinkDone(link) => self.link_done(link),
                Event::DiskDone { disk, gen } => {
                    // A stale wake: the queue's earliest completion moved since.
                    let Some(done) = self.disks[disk as usize].queue.complete(t, gen) else {
                        continue;
                    };
                    if let Some(w) = done.wake {
                        self.at(w.at, Event::DiskDone { disk, gen: w.gen });
                    }
                    let (op, node) = done.token;
                    self.plan_done(op, node);
                }
                Event::Finish(id) => done.push(self.finish(id)),
            }
        }
        self.set_now(now);
    }

    /// Hands back a completed operation's token.
    fn finish(&mut self, id: u32) -> T {
        let op = self.ops[id as usize].take().expect("a finishing operation");
        self.free.push(id);
        op.token
    }

    /// I/Os and commands submitted and not yet handed back.
    pub fn in_flight(&self) -> usize {
        self.ops.len() - self.free.len()
    }

    /// The disks' names, in the order of the topology's devices.
    pub fn disk_names(&self) -> impl Iterator<Item = &str> {
        self.disks.iter().map(|d| d.name.as_str())
    }

    /// The links' names (an out-of-band control link last, as `control`).
    pub fn link_names(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|l| l.name.as_str())
    }

    /// Member I/Os of the disk called `name`, by kind.
    pub fn member_counts(&self, name: &str) -> Option<MemberCounts> {
        self.disks.iter().find(|d| d.name == name).map(|d| d.counts)
    }

    /// The queue statistics of the disk called `name`, up to `now`.
    pub fn disk_stats(&self, name: &str, now: u64) -> Option<DeviceStats> {
        let disk = self.disks.iter().find(|d| d.name == name)?;
        Some(disk.queue.stats(now))
    }

    /// What the link called `name` carried.
    pub fn link_stats(&self, name: &str) -> Option<LinkStats> {
        let data = &self.links[..self.links.len() - self.control_link.is_some() as usize];
        data.iter().find(|l| l.name == name).map(|l| l.stats)
    }

    /// What the out-of-band control link carried (`None` for an in-band control path).
    pub fn control_stats(&self) -> Option<LinkStats> {
        self.control_link.map(|l| self.links[l as usize].stats)
    }

    fn set_now(&mut self, now: u64) {
        debug_assert!(
            now >= self.now,
            "fabric time went back from {} to {now} ns",
            self.now
        );
        self.now = self.now.max(now);
    }

    fn at(&mut self, t: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, event)));
    }

    fn add(&mut self, op: Op<T>) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.ops[id as usize] = Some(op);
                id
            }
            None => {
                self.ops.push(Some(op));
                self.ops.len() as u32 - 1
            }
        }
    }

    fn op(&mut self, id: u32) -> &mut Op<T> {
        self.ops[id as usize]
            .as_mut()
            .expect("an operation in flight")
    }

    /// Takes the operation's next steps until one has to wait.
    fn proceed(&mut self, id: u32) {
        let now = self.now;
        loop {
            let op = self.op(id);
            let Some(&step) = op.steps.get(op.next) else {
                self.at(now, Event::Finish(id));
                return;
            };
            op.next += 1;
            match step {
                Step::Hop { link, bytes: 0 } => match self.links[link as usize].link.latency_ns {
                    0 => continue,
                    latency => return self.at(now.saturating_add(latency), Event::Resume(id)),
                },
                Step::Hop { link, bytes } => return self.enqueue(link, id, bytes),
                Step::Device => {
                    let ((offset, bytes, write), role) = (op.io, op.role);
                    let kind = match write {
                        true => MemberKind::DataWrite,
                        false => MemberKind::DataRead,
                    };
                    let mut plan = Vec::new();
                    let node = self.roles[role].node;
                    let root = self.expand(&mut plan, node, offset, bytes, write, kind);
                    self.op(id).plan = plan;
                    return self.start(id, root);
                }
            }
        }
    }

    fn enqueue(&mut self, link: u32, id: u32, bytes: u64) {
        let l = &mut self.links[link as usize];
        match l.current {
            None => self.transfer(link, id, bytes),
            Some(_) => {
                l.waiting.push_back((id, bytes));
                l.stats.max_waiting = l.stats.max_waiting.max(l.waiting.len());
            }
        }
    }

    fn transfer(&mut self, link: u32, id: u32, bytes: u64) {
        let l = &mut self.links[link as usize];
        let ns = l.link.transfer_ns(bytes);
        l.current = Some(id);
        l.stats.transfers += 1;
        l.stats.bytes = l.stats.bytes.saturating_add(bytes);
        l.stats.busy_ns = l.stats.busy_ns.saturating_add(ns);
        self.at(self.now.saturating_add(ns), Event::LinkDone(link));
    }

    fn link_done(&mut self, link: u32) {
        let l = &mut self.links[link as usize];
        let id = l.current.take().expect("a transfer on the link");
        let (latency, next) = (l.link.latency_ns, l.waiting.pop_front());
        self.at(self.now.saturating_add(latency), Event::Resume(id));
        if let Some((next, bytes)) = next {
            self.transfer(link, next, bytes);
        }
    }

    /// Starts plan node `n` of operation `id`.
    fn start(&mut self, id: u32, n: u32) {
        let now = self.now;
        let node = &self.op(id).plan[n as usize];
        let first = node.children.first().copied();
        match node.kind {
            PlanKind::Leaf {
                disk,
                offset,
                bytes,
                write,
                kind,
            } => {
                let d = &mut self.disks[disk as usize];
                d.counts.count(kind);
                let io = Io {
                    offset,
                    bytes,
                    write,
                    token: (id, n),
                };
                if let Some(w) = d.queue.submit(now, io) {
                    self.at(w.at, Event::DiskDone { disk, gen: w.gen });
                }
            }
            PlanKind::All => {
                let count = node.children.len();
                for i in 0..count {
                    let child = self.op(id).plan[n as usize].children[i];
                    self.start(id, child);
                }
                if count == 0 {
                    self.plan_done(id, n);
                }
            }
            PlanKind::Then => match first {
                Some(child) => self.start(id, child),
                None => self.plan_done(id, n),
            },
        }
    }

    /// Plan node `n` of operation `id` finished.
    fn plan_done(&mut self, id: u32, n: u32) {
        let parent = self.op(id).plan[n as usize].parent;
        if parent == NONE {
            return self.proceed(id);
        }
        let p = &mut self.op(id).plan[parent as usize];
        p.done += 1;
        let (done, count) = (p.done as usize, p.children.len());
        match p.kind {
            PlanKind::Then if done < count => {
                let next = p.children[done];
                self.start(id, next);
            }
            _ if done < count => {}
            _ => self.plan_done(id, parent),
        }
    }

    /// I/Os in service or waiting on the disks under `node`.
    fn load(&self, node: u32) -> usize {
        self.under[node as usize]
            .iter()
            .map(|&d| {
                let q = &self.disks[d as usize].queue;
                q.in_service() as usize + q.waiting()
            })
            .sum()
    }

    /// Appends the plan of an I/O on `node` and returns its root.
    fn expand(
        &self,
        plan: &mut Vec<PlanNode>,
        node: u32,
        offset: u64,
        bytes: u64,
        write: bool,
        kind: MemberKind,
    ) -> u32 {
        let (level, unit, members) = match &self.nodes[node as usize] {
            Node::Disk(disk) => {
                let leaf = PlanKind::Leaf {
                    disk: *disk,
                    offset,
                    bytes,
                    write,
                    kind,
                };
                return push(plan, leaf, Vec::new());
            }
            Node::Raid {
                level,
                unit,
                members,
            } => (*level, *unit, members),
        };
        let n = members.len() as u64;
        match level {
            RaidLevel::Raid1 if write => {
                let all = members
                    .iter()
                    .map(|&m| self.expand(plan, m, offset, bytes, write, kind))
                    .collect();
                push(plan, PlanKind::All, all)
            }
            RaidLevel::Raid1 => {
                // The least busy member; `min_by_key` keeps the first of equals.
                let m = *members
                    .iter()
                    .min_by_key(|&&m| self.load(m))
                    .expect("members");
                self.expand(plan, m, offset, bytes, write, kind)
            }
            RaidLevel::Raid0 => {
                let pieces = pieces(offset, bytes, unit).map(|(c, within, len)| {
                    let at = (c / n) * unit + within;
                    ((c % n) as usize, at, len)
                });
                let all = merged(pieces, members.len())
                    .into_iter()
                    .map(|(m, at, len)| self.expand(plan, members[m], at, len, write, kind))
                    .collect();
                push(plan, PlanKind::All, all)
            }
            RaidLevel::Raid5 => {
                let data = n - 1;
                let place = |(c, within, len): (u64, u64, u64)| {
                    let (stripe, k) = (c / data, c % data);
                    let parity = data - stripe % n;
                    let member = (parity + 1 + k) % n;
                    (stripe, member as usize, stripe * unit + within, len, within)
                };
                if !write {
                    let ps = pieces(offset, bytes, unit).map(place);
                    let all = merged(ps.map(|p| (p.1, p.2, p.3)), members.len())
                        .into_iter()
                        .map(|(m, at, len)| self.expand(plan, members[m], at, len, false, kind))
                        .collect();
                    return push(plan, PlanKind::All, all);
                }
                let mut stripes: Vec<Vec<Raid5Piece>> = Vec::new();
                for p in pieces(offset, bytes, unit).map(place) {
                    match stripes.last_mut() {
                        Some(s) if s[0].0 == p.0 => s.push(p),
                        _ => stripes.push(vec![p]),
                    }
                }
                let mut all = Vec::new();
                for s in stripes {
                    let stripe = s[0].0;
                    let parity = members[(data - stripe % n) as usize];
                    let full = s.len() as u64 == data && s.iter().all(|p| p.3 == unit);
                    let write_data = |plan: &mut Vec<PlanNode>| -> Vec<u32> {
                        s.iter()
                            .map(|p| self.expand(plan, members[p.1], p.2, p.3, true, kind))
                            .collect()
                    };
                    if full {
                        let mut writes = write_data(plan);
                        let pw = MemberKind::ParityWrite;
                        writes.push(self.expand(plan, parity, stripe * unit, unit, true, pw));
                        all.push(push(plan, PlanKind::All, writes));
                        continue;
                    }
                    // Old parity over the hull of the touched in-unit ranges.
                    let lo = s.iter().map(|p| p.4).min().expect("a piece");
                    let hi = s.iter().map(|p| p.4 + p.3).max().expect("a piece");
                    let (at, len) = (stripe * unit + lo, hi - lo);
                    let dr = MemberKind::DataRead;
                    let mut reads: Vec<u32> = s
                        .iter()
                        .map(|p| self.expand(plan, members[p.1], p.2, p.3, false, dr))
                        .collect();
                    let pr = MemberKind::ParityRead;
                    reads.push(self.expand(plan, parity, at, len, false, pr));
                    let mut writes = write_data(plan);
                    let pw = MemberKind::ParityWrite;
                    writes.push(self.expand(plan, parity, at, len, true, pw));
                    let reads = push(plan, PlanKind::All, reads);
                    let writes = push(plan, PlanKind::All, writes);
                    all.push(push(plan, PlanKind::Then, vec![reads, writes]));
                }
                match all.len() {
                    1 => all[0],
                    _ => push(plan, PlanKind::All, all),
                }
            }
        }
    }
}

/// A piece of a RAID-5 I/O: stripe, member, offset on the member, bytes, start within
/// the unit.
type Raid5Piece = (u64, usize, u64, u64, u64);

/// Appends a plan node over `children` (already in the plan) and returns it.
fn push(plan: &mut Vec<PlanNode>, kind: PlanKind, children: Vec<u32>) -> u32 {
    let n = plan.len() as u32;
    for &c in &children {
        plan[c as usize].parent = n;
    }
    plan.push(PlanNode {
        kind,
        parent: NONE,
        children,
        done: 0,
    });
    n
}

/// The stripe units `[offset, offset + bytes)` touches: (unit index, start within the
/// unit, bytes). A zero-byte I/O is one empty piece at its offset.
fn pieces(offset: u64, bytes: u64, unit: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    let end = offset.saturating_add(bytes);
    let mut pos = offset;
    let mut first = true;
    std::iter::from_fn(move || {
        if pos >= end && !(first && bytes == 0) {
            return None;
        }
        first = false;
        let (c, within) = (pos / unit, pos % unit);
        let len = (unit - within).min(end - pos);
        pos += len;
        Some((c, within, len))
    })
}

/// Pieces (member, offset, bytes) with each piece that continues its member's previous
/// one merged into it; in the order of first appearance.
fn merged(
    pieces: impl Iterator<Item = (usize, u64, u64)>,
    members: usize,
) -> Vec<(usize, u64, u64)> {
    let mut out: Vec<(usize, u64, u64)> = Vec::new();
    let mut last = vec![usize::MAX; members];
    for (m, at, len) in pieces {
        match out.get_mut(last[m]) {
            Some(p) if p.1 + p.2 == at => p.2 += len,
            _ => {
                last[m] = out.len();
                out.push((m, at, len));
            }
        }
    }
    out
}

/// The disks under node `n`, each once, in order.
fn disks_under(nodes: &[Node], n: usize) -> Vec<u32> {
    match &nodes[n] {
        Node::Disk(d) => vec![*d],
        Node::Raid { members, .. } => {
            let mut out: Vec<u32> = Vec::new();
            for &m in members {
                for d in disks_under(nodes, m as usize) {
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
            out
        }
    }
}

impl Fabric<u32> {
    /// Queues an I/O of a role with a [`direct_disk`](Fabric::direct_disk) on that disk.
    /// Returns a wake of the disk when its earliest completion moved (the caller schedules
    /// it and drops none: the disk ignores the stale ones), and the caller calls
    /// [`complete_direct`](Fabric::complete_direct) at each wake's time. At queue depth 1
    /// the wake comes back exactly when the I/O starts at once, at its completion.
    pub fn submit_direct(&mut self, now: u64, role: Device, io: Io<u32>) -> Option<Wake> {
        self.set_now(now);
        let r = &self.roles[role as usize];
        let disk = r.direct.expect("a role that goes straight to a disk");
        let offset = r.offset.saturating_add(io.offset);
        let d = &mut self.disks[disk as usize];
        d.counts.count(match io.write {
            true => MemberKind::DataWrite,
            false => MemberKind::DataRead,
        });
        let member = Io {
            offset,
            bytes: io.bytes,
            write: io.write,
            token: (DIRECT, io.token),
        };
        d.queue.submit(now, member)
    }

    /// The wake `gen` of `disk`, a direct disk, is due at `now`: `None` if it is stale,
    /// else the token of the direct I/O that completed and the disk's next wake, if any.
    pub fn complete_direct(
        &mut self,
        now: u64,
        disk: u32,
        gen: u32,
    ) -> Option<(u32, Option<Wake>)> {
        self.set_now(now);
        let done = self.disks[disk as usize].queue.complete(now, gen)?;
        let (op, token) = done.token;
        debug_assert_eq!(op, DIRECT, "a direct disk serves direct I/O only");
        Some((token, done.wake))
    }
}
