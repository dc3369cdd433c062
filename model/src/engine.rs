//! The engine: the configuration (`Spec`), the state (`World`), and the interface through
//! which a process performs its one action per step (`Env`).
//!
//! Processes are sans-I/O step machines: a step does exactly one atomic action through an
//! `Env`. The exhaustive and random drivers give them an `Env` over one `World` value; the
//! threaded driver gives them one over separately locked devices and metadata.

use crate::client::Client;
use crate::copier::Copier;
use crate::disk::{Copied, Device, Disk, Stamp};
use crate::event::Event;
use crate::geometry::{Geometry, GeometryError, Index};
use crate::meta::{Meta, WriteId};
use crate::mutant::Mutant;
use crate::order::CopyOrder;
use crate::policy::{Policy, Target, WriteRule};
use crate::workload::{Op, Role, Workload};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Index of a process: 0 is the copier, then the clients in workload order.
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
    TooManyWrites { writes: usize, max: usize },
}

/// A request resolved against the geometry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resolved {
    pub op: Op,
    pub blocks: Range<Index>,
    /// The write's id (meaningful for writes only).
    pub write: WriteId,
}

/// Everything that stays fixed during a run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub geometry: Geometry,
    pub policy: Arc<dyn Policy>,
    pub order: CopyOrder,
    pub mutant: Option<Mutant>,
    pub workload: Workload,
    plan: Vec<Index>,
    requests: Vec<Vec<Resolved>>,
    writes: Vec<(Range<Index>, Pid)>,
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
        for (i, client) in workload.clients.iter().enumerate() {
            let number = per_role.entry(client.role).or_default();
            *number += 1;
            names.push(format!("{} {}", client.role, number));
            let mut resolved = Vec::new();
            for (r, req) in client.requests.iter().enumerate() {
                let blocks = geometry.blocks_of(req.offset, req.len).map_err(|error| {
                    SpecError::Request {
                        role: client.role,
                        number: *number,
                        request: r,
                        error,
                    }
                })?;
                let write = writes.len();
                if req.op == Op::Write {
                    writes.push((blocks.clone(), i + 1));
                }
                resolved.push(Resolved {
                    op: req.op,
                    blocks,
                    write: write as WriteId,
                });
            }
            requests.push(resolved);
        }
        let max = WriteId::MAX as usize - 1;
        if writes.len() > max {
            return Err(SpecError::TooManyWrites {
                writes: writes.len(),
                max,
            });
        }
        Ok(Spec {
            plan: order.plan(geometry.segments()),
            geometry,
            policy,
            order,
            mutant,
            workload,
            requests,
            writes,
            names,
        })
    }

    pub fn has(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// Number of processes (the copier and the clients).
    pub fn processes(&self) -> usize {
        1 + self.requests.len()
    }

    pub fn process_name(&self, pid: Pid) -> &str {
        &self.names[pid]
    }

    pub fn requests(&self, pid: Pid) -> &[Resolved] {
        &self.requests[pid - 1]
    }

    pub fn write_count(&self) -> usize {
        self.writes.len()
    }

    pub fn write_blocks(&self, w: WriteId) -> Range<Index> {
        self.writes[w as usize].0.clone()
    }

    /// The process that issued a write.
    pub fn writer_of(&self, w: WriteId) -> Pid {
        self.writes[w as usize].1
    }

    pub(crate) fn plan(&self) -> &[Index] {
        &self.plan
    }

    /// Where preservation writes, or `None` for policies that never preserve.
    pub fn target(&self) -> Option<Target> {
        match self.policy.write_rule() {
            WriteRule::Preserve(t) => Some(t),
            WriteRule::WaitForCopy => None,
        }
    }

    /// The device that holds begin-time data of a chunk in the snapshot map.
    pub fn map_device(&self) -> Device {
        match self.target() {
            Some(Target::Cache) => Device::Cache,
            _ => Device::Snapshot,
        }
    }

    /// Where a read of the point-in-time image finds a chunk's data, as QEMU's fleecing
    /// export or a dm-snapshot device serves it.
    pub fn image_source(&self, meta: &Meta, chunk: Index) -> Device {
        if meta.snapshot_map.contains(chunk) {
            self.map_device()
        } else if meta.copied.contains(chunk) {
            Device::Destination
        } else {
            Device::Source
        }
    }

    /// The newest held write covering a block, if any: reads must see held writes.
    pub fn newest_held(&self, meta: &Meta, block: Index) -> Option<WriteId> {
        meta.hold
            .iter()
            .rev()
            .find(|w| self.write_blocks(*w).contains(&block))
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
                    };
                    format!("{what} @{}+{}", r.offset, r.len)
                })
                .collect();
            writeln!(f, "{}: {}", self.names[i + 1], reqs.join(", "))?;
        }
        Ok(())
    }
}

/// What a step may do: one metadata update, or disk I/O, or both inside one critical section.
pub trait Env {
    /// The shared metadata. Only steps for which [`Process::needs_meta`] is true may call it.
    fn meta(&mut self) -> &mut Meta;
    fn read(&mut self, dev: Device, block: Index) -> Stamp;
    fn write(&mut self, dev: Device, blocks: Range<Index>, stamp: Stamp);
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Index>) -> Copied;
}

/// An `Env` over one disk and one metadata value: what the exhaustive and random drivers use.
pub struct Direct<'a> {
    pub disk: &'a mut Disk,
    pub meta: &'a mut Meta,
}

impl Env for Direct<'_> {
    fn meta(&mut self) -> &mut Meta {
        self.meta
    }
    fn read(&mut self, dev: Device, block: Index) -> Stamp {
        self.disk.get(dev, block)
    }
    fn write(&mut self, dev: Device, blocks: Range<Index>, stamp: Stamp) {
        self.disk.write(dev, blocks, stamp)
    }
    fn copy(&mut self, from: Device, to: Device, blocks: Range<Index>) -> Copied {
        self.disk.copy(from, to, blocks)
    }
}

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

    /// Whether the next step takes the metadata lock.
    pub fn needs_meta(&self) -> bool {
        match self {
            Process::Copier(c) => c.needs_meta(),
            Process::Client(c) => c.needs_meta(),
        }
    }

    /// Whether the next step must wait (evaluated under the metadata lock).
    pub fn blocked(&self, spec: &Spec, meta: &Meta) -> bool {
        match self {
            Process::Copier(c) => c.blocked(spec, meta),
            Process::Client(c) => c.blocked(spec, meta),
        }
    }

    /// What the process waits for, in words (for deadlock reports).
    pub fn waiting_for(&self, spec: &Spec) -> String {
        match self {
            Process::Copier(c) => c.waiting_for(),
            Process::Client(c) => c.waiting_for(spec),
        }
    }

    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        match self {
            Process::Copier(c) => c.step(spec, env),
            Process::Client(c) => c.step(spec, env),
        }
    }
}

/// The whole state of an online copy: what the exhaustive driver stores millions of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    pub disk: Disk,
    pub meta: Meta,
    pub procs: Vec<Process>,
}

impl World {
    pub fn new(spec: &Spec) -> World {
        let g = &spec.geometry;
        let mut procs = vec![Process::Copier(Copier::new(g))];
        for pid in 1..spec.processes() {
            procs.push(Process::Client(Client::new(spec, pid)));
        }
        World {
            disk: Disk::new(g.blocks),
            meta: Meta::new(g.blocks, g.chunks()),
            procs,
        }
    }

    pub fn enabled(&self, spec: &Spec, pid: Pid) -> bool {
        let p = &self.procs[pid];
        !p.finished() && !p.blocked(spec, &self.meta)
    }

    /// Processes that can take a step now.
    pub fn runnable<'a>(&'a self, spec: &'a Spec) -> impl Iterator<Item = Pid> + 'a {
        (0..self.procs.len()).filter(move |pid| self.enabled(spec, *pid))
    }

    pub fn step(&mut self, spec: &Spec, pid: Pid) -> Event {
        let mut env = Direct {
            disk: &mut self.disk,
            meta: &mut self.meta,
        };
        self.procs[pid].step(spec, &mut env)
    }

    /// Every process has finished: the copy is complete and every request answered.
    pub fn finished(&self) -> bool {
        self.procs.iter().all(Process::finished)
    }

    pub fn copier(&self) -> &Copier {
        match &self.procs[0] {
            Process::Copier(c) => c,
            Process::Client(_) => unreachable!("process 0 is the copier"),
        }
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
