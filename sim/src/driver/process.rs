//! The driver's bookkeeping per process: the slot of its step's device accesses and its
//! request's figures, what only faults need kept aside, and the parking of blocked processes
//! under what they wait for (woken by the steps that free it).

use super::*;

/// A step's device accesses: most steps have one or two.
pub(super) type IoPlans = SmallVec<[IoPlan; 2]>;

/// Per process: its step's I/Os and its request's bookkeeping, in one cache line. The
/// driver keeps one per live process, millions of them in the 16 TiB run of
/// `sim/benches/targets.rs`, so what only faults need is kept apart ([`Aside`]).
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
pub(super) struct Slot {
    pub(super) ios: IoPlans,
    pub(super) arrived: u64,
    pub(super) next_io: u32,
    /// The closed-loop writer that issued the request, if any.
    pub(super) writer: Option<NonZeroU32>,
    pub(super) write: bool,
    pub(super) held: bool,
    /// Its I/Os are those of a step not yet taken (taken when they are done).
    pub(super) deferred: bool,
    /// The write failed back to its writer (it is not acknowledged).
    pub(super) failed: bool,
}

// One byte past the line and every live process pays a second one.
const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// What a process needs only when I/O fails, by process: empty in a run without faults.
#[derive(Default)]
pub(super) struct Aside {
    /// Time to wait after its I/Os before the next step (a retry's backoff).
    pub(super) backoff: FxHashMap<u32, u64>,
    /// A deferred step one of whose I/Os fails: the decision taken when it was planned.
    /// Any other deferred step fails none.
    pub(super) failing: FxHashMap<u32, Failing>,
}

impl Aside {
    pub(super) fn take_backoff(&mut self, pid: Pid) -> u64 {
        match self.backoff.is_empty() {
            true => 0,
            false => self.backoff.remove(&(pid as u32)).unwrap_or(0),
        }
    }

    /// A served step's fault decision, if one of its I/Os fails.
    pub(super) fn take_failing(&mut self, pid: Pid) -> Option<Failing> {
        match self.failing.is_empty() {
            true => None,
            false => self.failing.remove(&(pid as u32)),
        }
    }

    /// A process id handed to a new request starts with nothing set aside.
    pub(super) fn forget(&mut self, pid: Pid) {
        if !self.backoff.is_empty() || !self.failing.is_empty() {
            self.backoff.remove(&(pid as u32));
            self.failing.remove(&(pid as u32));
        }
    }
}

/// Blocked processes, by what they wait for.
#[derive(Default)]
pub(super) struct Parking {
    pub(super) chunk: FxHashMap<u32, Vec<u32>>,
    pub(super) turn: FxHashMap<u32, u32>,
    pub(super) copy: Vec<u32>,
    pub(super) any: Vec<u32>,
}

impl<S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'_, S, G, V> {
    pub(super) fn park(&mut self, pid: Pid, wait: Wait) {
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
    pub(super) fn wake(&mut self, event: &Event, t: u64) {
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

    /// The process finished at `t`: the copy is complete, or a request is acknowledged.
    pub(super) fn finished(&mut self, pid: Pid, t: u64) {
        if self.spec.is_worker(pid) {
            if self.world.copier_finished() {
                self.copy_end = Some(t);
            }
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

    /// The process's I/Os are done (now): its next step (after a retry's backoff), or its
    /// end.
    pub(super) fn step_done(&mut self, pid: Pid) {
        let backoff = self.aside.take_backoff(pid);
        match self.world.procs[pid].finished() {
            true => self.finished(pid, self.now),
            false if backoff > 0 => {
                self.at(self.now.saturating_add(backoff), Due::Ready(pid as u32))
            }
            false => self.attempt(pid),
        }
    }
}
