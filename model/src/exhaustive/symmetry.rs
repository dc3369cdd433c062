//! Symmetry reduction over identical writers.
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
use crate::engine::{Pid, Process, Spec, World};
use crate::meta::{map_stamp, WriteId};
use crate::workload::Op;

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
    for pid in 1..spec.processes() {
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

/// The rank of a write within its writer's requests.
fn rank(spec: &Spec, w: WriteId) -> usize {
    let pid = spec.writer_of(w);
    spec.requests(pid)
        .iter()
        .position(|r| r.write == w && r.op == Op::Write)
        .expect("a write belongs to its writer's requests")
}

/// The representative of a state's class, and the renaming that produced it:
/// `perm[old pid] = new pid`.
pub fn representative(spec: &Spec, w: &World) -> (World, Vec<Pid>) {
    let n = spec.processes();
    let identity: Vec<Pid> = (0..n).collect();
    let groups = writer_groups(spec);
    if groups.is_empty() {
        return (w.clone(), identity);
    }
    let mut member = vec![false; n];
    for g in &groups {
        for p in g {
            member[*p] = true;
        }
    }
    // Where each writer's stamps appear: (place, rank of the write).
    let mut places: Vec<Vec<(u32, u16)>> = vec![Vec::new(); n];
    let mut note = |place: usize, s: u32| {
        if let Some(wid) = s.checked_sub(1) {
            if (wid as usize) < spec.write_count() {
                let pid = spec.writer_of(wid as WriteId);
                if member[pid] {
                    places[pid].push((place as u32, rank(spec, wid as WriteId) as u16));
                }
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
        note(place, h as u32 + 1);
        place += 1;
    }
    for (_, c) in w.clients() {
        if let Some(r) = &c.bad_read {
            note(place, r.expected);
            note(place + 1, r.found);
        }
        place += 2;
    }
    let mut perm = identity.clone();
    for g in &groups {
        type Key<'a> = (Client, &'a Vec<(u32, u16)>, Pid);
        let mut keyed: Vec<Key> = g
            .iter()
            .map(|p| {
                let Process::Client(c) = &w.procs[*p] else {
                    unreachable!("writers are clients")
                };
                let mut c = c.clone();
                c.renumber(0, |x| rank(spec, x) as WriteId);
                (c, &places[*p], *p)
            })
            .collect();
        keyed.sort();
        for (i, (_, _, old)) in keyed.iter().enumerate() {
            perm[*old] = g[i];
        }
    }
    if perm == identity {
        return (w.clone(), perm);
    }
    (rename(spec, w, &perm), perm)
}

/// Renames the processes of a state: process `p` becomes `perm[p]`, and each write of a
/// renamed writer becomes the write of the same rank of its new name. `perm` must map each
/// process to one with the same list of requests (as [`writer_groups`] finds them).
pub fn rename(spec: &Spec, w: &World, perm: &[Pid]) -> World {
    let write_map = |x: WriteId| -> WriteId {
        let old = spec.writer_of(x);
        spec.requests(perm[old])[rank(spec, x)].write
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
    out.meta.hold.renumber(write_map);
    out
}
