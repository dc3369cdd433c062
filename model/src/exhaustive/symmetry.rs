//! Symmetry reduction over identical writers, and over the copier's workers.
//!
//! The copier's workers are interchangeable too: they run one step machine, hold no write
//! ids and nothing in the metadata names a worker, so sorting their states renames one
//! execution into another.
//!
//! Two clients whose request lists are the same list of writes are interchangeable: renaming
//! one into the other (its process id, and each of its write ids into the other's write id of
//! the same rank, everywhere a stamp or write id appears: devices, ghost state, hold queue,
//! preservers, recorded bad reads) maps every execution to an execution, and every invariant
//! compares stamps only for equality, so it holds in a state exactly when it holds in the
//! renamed one. Exploring one representative per class of renamings therefore reaches the same
//! verdicts (and the same counterexample lengths) with fewer states.
//!
//! The representative is canonical: each writer gets a key made of its local state (with its
//! own write ids reduced to their rank) and the list of places where its stamps appear, and
//! the writers of a group are sorted by key. Two writers with equal keys have no stamp
//! anywhere and equal local states, so swapping them changes nothing; hence every state of
//! a class gets the same representative, whatever the order it started in.

use crate::client::Client;
use crate::durability::Pending;
use crate::meta::{map_stamp, stamp_of, WriteId};
use crate::spec::{Pid, Spec};
use crate::workload::Op;
use crate::world::{Process, World};

/// Groups of interchangeable clients (clients that only write, with the same list of write
/// ranges), each of at least two process ids in increasing order.
pub fn writer_groups(spec: &Spec) -> Vec<Vec<Pid>> {
    let mut groups: Vec<Vec<Pid>> = Vec::new();
    let same = |a: Pid, b: Pid| {
        let (ra, rb) = (spec.requests(a), spec.requests(b));
        ra.len() == rb.len()
            && ra
                .iter()
                .zip(rb)
                .all(|(x, y)| x.op == y.op && x.blocks == y.blocks)
    };
    for pid in spec.clients() {
        let reqs = spec.requests(pid);
        if reqs.is_empty() || reqs.iter().any(|r| r.op != Op::Write) {
            continue;
        }
        match groups.iter_mut().find(|g| same(g[0], pid)) {
            Some(g) => g.push(pid),
            None => groups.push(vec![pid]),
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// What symmetry reduction needs to know of a spec, computed once per model: the groups of
/// interchangeable writers, and for each write its writer and rank.
#[derive(Clone, Debug)]
pub struct Renamer {
    groups: Vec<Vec<Pid>>,
    member: Vec<bool>,
    /// Per write id: the process that issues it and its rank among that process's writes.
    owner: Vec<(Pid, usize)>,
    /// Per process, its write ids by rank.
    writes: Vec<Vec<WriteId>>,
}

impl Renamer {
    pub fn new(spec: &Spec) -> Self {
        let groups = writer_groups(spec);
        let n = spec.processes();
        let mut member = vec![false; n];
        for p in groups.iter().flatten() {
            member[*p] = true;
        }
        let mut owner = vec![(0, 0); spec.write_count()];
        let mut writes = vec![Vec::new(); n];
        for (pid, ws) in writes.iter_mut().enumerate().skip(spec.first_client()) {
            for r in spec.requests(pid).iter().filter(|r| r.op == Op::Write) {
                owner[r.write as usize] = (pid, ws.len());
                ws.push(r.write);
            }
        }
        Renamer {
            groups,
            member,
            owner,
            writes,
        }
    }

    /// The representative of a state's class, and the renaming that produced it:
    /// `perm[old pid] = new pid`.
    pub fn representative(&self, spec: &Spec, w: &World) -> (World, Vec<Pid>) {
        let perm = self.renaming(spec, w);
        match perm.iter().enumerate().all(|(i, p)| i == *p) {
            true => (w.clone(), perm),
            false => (self.rename(w, &perm), perm),
        }
    }

    /// The representative of a state's class, reusing the state when it is one already.
    pub fn canonical(&self, spec: &Spec, w: World) -> World {
        let perm = self.renaming(spec, &w);
        match perm.iter().enumerate().all(|(i, p)| i == *p) {
            true => w,
            false => self.rename(&w, &perm),
        }
    }

    /// The renaming that takes a state to its representative: `perm[old pid] = new pid`.
    pub fn renaming(&self, spec: &Spec, w: &World) -> Vec<Pid> {
        let n = spec.processes();
        let identity: Vec<Pid> = (0..n).collect();
        let mut perm = identity.clone();
        let workers = spec.workers() as usize;
        if workers > 1 {
            let mut keyed: Vec<(&Process, Pid)> = (0..workers).map(|p| (&w.procs[p], p)).collect();
            keyed.sort_by(|a, b| match (a.0, b.0) {
                (Process::Copier(x), Process::Copier(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
                _ => unreachable!("the first processes are the workers"),
            });
            for (i, (_, old)) in keyed.iter().enumerate() {
                perm[*old] = i;
            }
        }
        if self.groups.is_empty() {
            return perm;
        }
        // Where each writer's stamps appear: (place, rank of the write).
        let mut places: Vec<Vec<(u32, u16)>> = vec![Vec::new(); n];
        let mut note = |place: usize, s: u32| {
            if let Some((pid, rank)) = s.checked_sub(1).and_then(|x| self.owner.get(x as usize)) {
                if self.member[*pid] {
                    places[*pid].push((place as u32, *rank as u16));
                }
            }
        };
        let mut place = 0;
        for s in w.disk.stamps() {
            note(place, *s);
            place += 1;
        }
        for s in &w.meta.ghost.latest {
            note(place, *s);
            place += 1;
        }
        for h in w.meta.hold.iter() {
            note(place, stamp_of(h));
            place += 1;
        }
        for u in &w.meta.ghost.undo {
            for s in std::iter::once(&u.stamp).chain(&u.before) {
                note(place, *s);
                place += 1;
            }
        }
        for (_, c) in w.clients() {
            if let Some(r) = &c.bad_read {
                note(place, r.expected);
                note(place + 1, r.found);
            }
            place += 2;
        }
        // With volatile caches: stable media, cached writes, and what must survive.
        if let Some(p) = &w.power {
            for s in p
                .durable
                .stamps()
                .iter()
                .chain(p.pending.iter().filter_map(pending_stamp))
            {
                note(place, *s);
                place += 1;
            }
        }
        if let Some(d) = &w.meta.ghost.durable {
            let lost = d.lost.iter().flat_map(|(_, a, b)| [a, b]);
            for s in d
                .applied
                .iter()
                .chain(d.allowed.iter().flatten())
                .chain(lost)
            {
                note(place, *s);
                place += 1;
            }
        }
        for g in &self.groups {
            type Key<'a> = (Client, &'a Vec<(u32, u16)>, Pid);
            let mut keyed: Vec<Key> = g
                .iter()
                .map(|p| {
                    let Process::Client(c) = &w.procs[*p] else {
                        unreachable!("writers are clients")
                    };
                    let mut c = c.clone();
                    c.renumber(0, |x| self.owner[x as usize].1 as WriteId);
                    (c, &places[*p], *p)
                })
                .collect();
            keyed.sort();
            for (i, (_, _, old)) in keyed.iter().enumerate() {
                perm[*old] = g[i];
            }
        }
        perm
    }

    /// Renames the processes of a state: process `p` becomes `perm[p]`, and each write of a
    /// renamed writer becomes the write of the same rank of its new name. `perm` must map
    /// each process to one with the same list of requests (as [`writer_groups`] finds them).
    pub fn rename(&self, w: &World, perm: &[Pid]) -> World {
        // A write past the spec's is a finished one the reduction renamed: no writer's.
        let write_map = |x: WriteId| -> WriteId {
            match self.owner.get(x as usize) {
                Some((old, rank)) => self.writes[perm[*old]][*rank],
                None => x,
            }
        };
        let mut out = w.clone();
        for (old, p) in w.procs.iter().enumerate() {
            let mut p = p.clone();
            if let Process::Client(c) = &mut p {
                c.renumber(perm[old], write_map);
            }
            out.procs[perm[old]] = p;
        }
        out.disk.map_stamps(|s| map_stamp(s, write_map));
        for s in &mut out.meta.ghost.latest {
            *s = map_stamp(*s, write_map);
        }
        for u in &mut out.meta.ghost.undo {
            for s in std::iter::once(&mut u.stamp).chain(&mut u.before) {
                *s = map_stamp(*s, write_map);
            }
        }
        out.meta.hold.renumber(write_map);
        if let Some(p) = &mut out.power {
            p.durable.map_stamps(|s| map_stamp(s, write_map));
            for item in &mut p.pending {
                if let Pending::Block { stamp, .. } = item {
                    *stamp = map_stamp(*stamp, write_map);
                }
            }
        }
        if let Some(d) = &mut out.meta.ghost.durable {
            let lost = d.lost.iter_mut().flat_map(|(_, a, b)| [a, b]);
            for s in d
                .applied
                .iter_mut()
                .chain(d.allowed.iter_mut().flatten())
                .chain(lost)
            {
                *s = map_stamp(*s, write_map);
            }
        }
        out
    }
}

/// The stamp a cached item carries, if it is a block's.
fn pending_stamp(p: &Pending) -> Option<&u32> {
    match p {
        Pending::Block { stamp, .. } => Some(stamp),
        Pending::Record(_) => None,
    }
}

/// The representative of a state's class and the renaming that produced it (computing the
/// [`Renamer`] on the way: keep one to do many).
pub fn representative(spec: &Spec, w: &World) -> (World, Vec<Pid>) {
    Renamer::new(spec).representative(spec, w)
}

/// Renames the processes of a state (see [`Renamer::rename`]).
pub fn rename(spec: &Spec, w: &World, perm: &[Pid]) -> World {
    Renamer::new(spec).rename(w, perm)
}
