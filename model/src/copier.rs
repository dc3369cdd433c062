//! The copier (the "first process"): copies the volume to the destination segment by segment.
//!
//! Per segment it claims the chunks it will read from the source (so no write can modify
//! them under it), copies, then marks the segment copied and releases its claims.

use crate::disk::{Copied, Device};
use crate::engine::{Env, Spec};
use crate::event::Event;
use crate::geometry::{Geometry, Index};
use crate::meta::{ChunkSet, Meta};
use crate::mutant::Mutant;
use crate::order::CopyOrder;

/// Where the copier reads one chunk of its segment, decided when it claims the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// Already at the destination (copied out of turn).
    Skip,
    /// From the source, claimed: writes to the chunk wait.
    Claimed,
    /// From the source without a claim (only the `copier-ignores-in-flight` mutant does this).
    Unclaimed,
    /// From where the chunk was preserved.
    Preserved(Device),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CopierPc {
    Claim,
    Copy,
    Mark,
    /// The overlay pass: the next snapshot-map chunk at or after `next`.
    Overlay {
        next: Index,
    },
    Complete,
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Copier {
    pub pc: CopierPc,
    segment: Index,
    done: ChunkSet,
    done_count: Index,
    routes: Vec<Route>,
}

impl Copier {
    pub fn new(g: &Geometry) -> Self {
        Copier {
            pc: CopierPc::Claim,
            segment: 0,
            done: ChunkSet::new(g.segments()),
            done_count: 0,
            routes: Vec::new(),
        }
    }

    pub fn finished(&self) -> bool {
        self.pc == CopierPc::Finished
    }

    /// The segment the copier has claimed and not yet finished (between claim and the end of
    /// its copy and mark), if any.
    pub fn segment_in_progress(&self) -> Option<Index> {
        matches!(self.pc, CopierPc::Copy | CopierPc::Mark).then_some(self.segment)
    }

    /// Segments the copier has marked copied.
    pub fn segments_done(&self) -> Index {
        self.done_count
    }

    pub fn needs_meta(&self) -> bool {
        !matches!(self.pc, CopierPc::Copy | CopierPc::Finished)
    }

    /// The segment to copy next: the plan's, or for written-first the first uncopied segment
    /// that writes have touched.
    fn next_segment(&self, spec: &Spec, meta: &Meta) -> Index {
        let g = &spec.geometry;
        if spec.order == CopyOrder::WrittenFirst {
            let pending = || (0..g.segments()).filter(|s| !self.done.contains(*s));
            let written = pending().find(|s| g.segment_chunks(*s).any(|c| meta.settled(c)));
            if let Some(s) = written.or_else(|| pending().next()) {
                return s;
            }
        }
        spec.plan()[self.done_count as usize]
    }

    pub fn blocked(&self, spec: &Spec, meta: &Meta) -> bool {
        match self.pc {
            CopierPc::Claim if !spec.has(Mutant::CopierIgnoresInFlight) => {
                let s = self.next_segment(spec, meta);
                meta.in_flight.any_in(spec.geometry.segment_chunks(s))
            }
            _ => false,
        }
    }

    pub fn waiting_for(&self) -> String {
        match self.pc {
            CopierPc::Claim => "chunks of its next segment being preserved".into(),
            _ => "nothing".into(),
        }
    }

    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        match self.pc {
            CopierPc::Claim => self.claim(spec, env.meta()),
            CopierPc::Copy => self.copy(spec, env),
            CopierPc::Mark => self.mark(spec, env.meta()),
            CopierPc::Overlay { next } => self.overlay(spec, env, next),
            CopierPc::Complete => {
                env.meta().copy_complete = true;
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
            CopierPc::Finished => unreachable!("a finished copier takes no step"),
        }
    }

    fn claim(&mut self, spec: &Spec, meta: &mut Meta) -> Event {
        let g = &spec.geometry;
        let s = self.next_segment(spec, meta);
        self.segment = s;
        self.routes.clear();
        for c in g.segment_chunks(s) {
            let route = if meta.copied.contains(c) {
                Route::Skip
            } else if meta.snapshot_map.contains(c) && spec.policy.copier_reads_preserved() {
                Route::Preserved(spec.map_device())
            } else if meta.in_flight.contains(c) {
                Route::Unclaimed
            } else {
                meta.in_flight.insert(c);
                Route::Claimed
            };
            self.routes.push(route);
        }
        // The mutant publishes the segment as copied before its data is there.
        self.pc = if spec.has(Mutant::MarkBeforeCopy) {
            CopierPc::Mark
        } else {
            CopierPc::Copy
        };
        let count = |f: fn(&Route) -> bool| self.routes.iter().filter(|r| f(r)).count();
        Event::SegmentClaimed {
            segment: s,
            from_source: count(|r| matches!(r, Route::Claimed | Route::Unclaimed)),
            from_preserved: count(|r| matches!(r, Route::Preserved(_))),
            skipped: count(|r| matches!(r, Route::Skip)),
        }
    }

    fn copy<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        let g = &spec.geometry;
        let mut copied = Copied::default();
        let mut from_preserved = None;
        for (c, route) in g.segment_chunks(self.segment).zip(&self.routes) {
            let from = match route {
                Route::Skip => continue,
                Route::Claimed | Route::Unclaimed => Device::Source,
                Route::Preserved(d) => {
                    from_preserved = Some(*d);
                    *d
                }
            };
            copied.append(env.copy(from, Device::Destination, g.chunk_blocks(c)));
        }
        self.pc = if spec.has(Mutant::MarkBeforeCopy) {
            self.after_segment(spec)
        } else {
            CopierPc::Mark
        };
        Event::SegmentCopied {
            segment: self.segment,
            copied,
            from_preserved,
        }
    }

    fn mark(&mut self, spec: &Spec, meta: &mut Meta) -> Event {
        let g = &spec.geometry;
        for (c, route) in g.segment_chunks(self.segment).zip(&self.routes) {
            if *route == Route::Claimed {
                meta.in_flight.remove(c);
            }
            meta.copied.insert(c);
        }
        self.done.insert(self.segment);
        self.done_count += 1;
        self.pc = if spec.has(Mutant::MarkBeforeCopy) {
            CopierPc::Copy
        } else {
            self.after_segment(spec)
        };
        Event::SegmentMarked {
            segment: self.segment,
        }
    }

    fn after_segment(&self, spec: &Spec) -> CopierPc {
        if self.done_count < spec.geometry.segments() {
            CopierPc::Claim
        } else if spec.policy.overlay_pass() && !spec.has(Mutant::SkipOverlay) {
            CopierPc::Overlay { next: 0 }
        } else {
            CopierPc::Complete
        }
    }

    /// One chunk of the overlay pass: snapshot over destination. When no chunk is left the
    /// copy is complete (in the same step: nothing can be observed in between).
    fn overlay<E: Env>(&mut self, spec: &Spec, env: &mut E, next: Index) -> Event {
        let chunks = spec.geometry.chunks();
        let found = (next..chunks).find(|c| env.meta().snapshot_map.contains(*c));
        match found {
            Some(c) => {
                let blocks = spec.geometry.chunk_blocks(c);
                let copied = env.copy(spec.map_device(), Device::Destination, blocks);
                self.pc = CopierPc::Overlay { next: c + 1 };
                Event::Overlaid { chunk: c, copied }
            }
            None => {
                env.meta().copy_complete = true;
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
        }
    }
}
