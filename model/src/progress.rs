//! The copy's progress, shared by the copier's workers: the segment level of the claim
//! structure. A segment is *taken* from the moment a worker claims it until it is done or
//! handed back; workers take the first segment of the copy order that is not taken, so no
//! two tasks ever hold one segment (the chunk level, which chunks are in flight, is
//! [`crate::meta::Meta::in_flight`]). With one worker, taken and done differ only while
//! that worker copies a segment.

use crate::geometry::{ChunkSet, Segment};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CopyProgress {
    /// Segments marked copied. Shared until changed, so that copying the metadata (a state
    /// of the checkers) does not copy a bitmap of every segment.
    done: Arc<ChunkSet>,
    done_count: u32,
    /// Segments claimed by a worker or done.
    taken: Arc<ChunkSet>,
    taken_count: u32,
    segments: Segment,
    /// The first segment not taken (a function of `taken`).
    sweep: Segment,
    /// The first position of the copy plan whose segment is not taken (a function of
    /// `taken` and the plan).
    plan_next: u32,
}

impl CopyProgress {
    pub fn new(segments: Segment) -> Self {
        CopyProgress {
            done: Arc::new(ChunkSet::new(segments)),
            done_count: 0,
            taken: Arc::new(ChunkSet::new(segments)),
            taken_count: 0,
            segments,
            sweep: 0,
            plan_next: 0,
        }
    }

    /// Segments marked copied.
    pub fn done_count(&self) -> u32 {
        self.done_count
    }

    pub fn is_done(&self, s: Segment) -> bool {
        self.done.contains(s)
    }

    pub fn is_taken(&self, s: Segment) -> bool {
        self.taken.contains(s)
    }

    /// The first segment not taken, if any.
    pub fn sweep(&self) -> Option<Segment> {
        (self.sweep < self.segments).then_some(self.sweep)
    }

    /// The first position of the plan whose segment is not taken, if any.
    pub fn plan_next(&self) -> Option<u32> {
        (self.plan_next < self.segments).then_some(self.plan_next)
    }

    /// Whether some segment is taken and not done: a worker copies it, and may still hand
    /// it back.
    pub fn in_progress(&self) -> bool {
        self.taken_count > self.done_count
    }

    /// A worker takes segment `s`; `plan(n)` is the plan's `n`-th segment.
    pub fn take(&mut self, s: Segment, plan: impl Fn(u32) -> Segment) {
        // Taking a taken segment (only a mutant's claim does) changes nothing here.
        if !self.taken.contains(s) {
            Arc::make_mut(&mut self.taken).insert(s);
            self.taken_count += 1;
        }
        self.advance(plan);
    }

    /// A taken segment is given back undone (its worker crashed, failed or handed it back):
    /// the next claim takes it again.
    pub fn untake(&mut self, s: Segment, plan: impl Fn(u32) -> Segment) {
        if self.taken.contains(s) && !self.done.contains(s) {
            Arc::make_mut(&mut self.taken).remove(s);
            self.taken_count -= 1;
        }
        self.sweep = self.sweep.min(s);
        self.plan_next = 0;
        self.advance(plan);
    }

    /// Segment `s` is done (it is taken from then on).
    pub fn note_done(&mut self, s: Segment, plan: impl Fn(u32) -> Segment) {
        Arc::make_mut(&mut self.done).insert(s);
        self.done_count += 1;
        if !self.taken.contains(s) {
            Arc::make_mut(&mut self.taken).insert(s);
            self.taken_count += 1;
        }
        self.advance(plan);
    }

    fn advance(&mut self, plan: impl Fn(u32) -> Segment) {
        let segments = self.segments;
        while self.sweep < segments && self.taken.contains(self.sweep) {
            self.sweep += 1;
        }
        while self.plan_next < segments && self.taken.contains(plan(self.plan_next)) {
            self.plan_next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_and_giving_back_keeps_the_first_untaken_segment_and_plan_position() {
        let plan = |n: u32| [2, 0, 3, 1][n as usize];
        let mut p = CopyProgress::new(4);
        assert_eq!((p.sweep(), p.plan_next()), (Some(0), Some(0)));
        p.take(2, plan);
        assert_eq!((p.sweep(), p.plan_next()), (Some(0), Some(1)));
        p.take(0, plan);
        assert_eq!((p.sweep(), p.plan_next()), (Some(1), Some(2)));
        assert!(p.in_progress());
        p.note_done(0, plan);
        p.untake(2, plan);
        assert_eq!((p.sweep(), p.plan_next()), (Some(1), Some(0)));
        assert!(!p.in_progress() && p.done_count() == 1);
        for s in [2, 3, 1] {
            p.take(s, plan);
            p.note_done(s, plan);
        }
        assert_eq!((p.sweep(), p.plan_next(), p.done_count()), (None, None, 4));
    }
}
