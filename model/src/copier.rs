//! The copier (the "first process"): copies the volume to the destination segment by segment.
//!
//! Per segment it claims the chunks it will read from the source (so no write can modify
//! them under it), copies, then marks the segment copied and releases its claims.

use crate::disk::{Copied, Device};
use crate::env::{perform_all, Env, Io, IoList, IoResults};
use crate::event::Event;
use crate::event::Wait;
use crate::fault::{ErrorKind, IoError};
use crate::geometry::ChunkSet;
use crate::geometry::{Chunk, Geometry, Segment};
use crate::ghost::Ghost;
use crate::meta::Meta;
use crate::order::CopyOrder;
use crate::rules::{Cursor, Phase};
use crate::spec::Spec;
use std::ops::Range;
use std::sync::Arc;

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

impl Route {
    /// The device the chunk is copied from, if it is copied.
    fn from(self) -> Option<Device> {
        match self {
            Route::Skip => None,
            Route::Claimed | Route::Unclaimed => Some(Device::Source),
            Route::Preserved(d) => Some(d),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CopierPc {
    Claim,
    Copy,
    Mark,
    /// The overlay pass: the next snapshot-map chunk at or after `next`.
    Overlay {
        next: Chunk,
    },
    Complete,
    /// An I/O of the copy failed for good: the next step fails the copy (and gives up the
    /// segment's claims if it failed while copying one).
    Failed {
        error: Box<IoError>,
        in_segment: bool,
    },
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Copier {
    pub pc: CopierPc,
    segment: Segment,
    /// Segments marked copied. Shared until changed, so that copying a copier (a state of
    /// the checkers, a trial step of the timed driver) does not copy a bitmap of every
    /// segment.
    done: Arc<ChunkSet>,
    done_count: u32,
    /// The first segment not yet done (follows `done`; written-first falls back to it).
    sweep: Segment,
    routes: Vec<Route>,
    /// Failed attempts of the current I/O.
    retries: u8,
}

impl Copier {
    pub fn new(g: &Geometry) -> Self {
        Copier {
            pc: CopierPc::Claim,
            segment: 0,
            done: Arc::new(ChunkSet::new(g.segments())),
            done_count: 0,
            sweep: 0,
            routes: Vec::new(),
            retries: 0,
        }
    }

    pub fn finished(&self) -> bool {
        self.pc == CopierPc::Finished
    }

    /// The segment the copier has claimed and not yet finished (between claim and the end of
    /// its copy and mark), if any.
    pub fn segment_in_progress(&self) -> Option<Segment> {
        matches!(self.pc, CopierPc::Copy | CopierPc::Mark).then_some(self.segment)
    }

    /// Segments the copier has marked copied.
    pub fn segments_done(&self) -> u32 {
        self.done_count
    }

    pub fn needs_meta(&self) -> bool {
        !matches!(self.pc, CopierPc::Copy | CopierPc::Finished)
    }

    /// The segment to copy next: the plan's, or for written-first the lowest segment not
    /// yet copied in which a chunk was preserved, else the lowest not yet copied.
    fn next_segment<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Segment {
        let pending = |r: Range<Segment>| {
            meta.preserved_segments
                .range(r)
                .copied()
                .filter(|s| !self.done.contains(*s))
        };
        match spec.order {
            CopyOrder::WrittenFirst => pending(0..Segment::MAX).next().unwrap_or(self.sweep),
            CopyOrder::MostWrittenFirst => {
                // The volume with the most such segments (the first on a tie).
                let (most, first) = spec
                    .volumes()
                    .iter()
                    .map(|v| (pending(v.clone()).count(), pending(v.clone()).next()))
                    .fold((0, None), |best, v| if v.0 > best.0 { v } else { best });
                first.filter(|_| most > 0).unwrap_or(self.sweep)
            }
            _ => spec.planned_segment(self.done_count),
        }
    }

    /// Before a claim, the copier waits for chunks of its next segment being preserved.
    pub fn wait<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Wait> {
        if self.pc != CopierPc::Claim || !spec.rules.copier_waits_for_claims || meta.copy_failed {
            return None;
        }
        let chunks = spec.geometry.segment_chunks(self.next_segment(spec, meta));
        let busy = meta.in_flight().first_in(chunks)?;
        // When the order follows writes, a preservation elsewhere can change the next
        // segment.
        Some(match spec.order.follows_writes() {
            true => Wait::AnyStep,
            false => Wait::Chunk(busy),
        })
    }

    pub fn waiting_for(&self) -> String {
        match self.pc {
            CopierPc::Claim => "chunks of its next segment being preserved".into(),
            _ => "nothing".into(),
        }
    }

    pub fn step<E: Env>(&mut self, spec: &Spec, env: &mut E) -> Event {
        // Every step under the metadata lock first looks whether the copy has failed.
        if self.needs_meta() && env.meta().copy_failed {
            return self.stop(spec, env.meta());
        }
        match &self.pc {
            CopierPc::Claim => self.claim(spec, env.meta()),
            CopierPc::Copy => {
                let results = perform_all(env, self.planned_io(spec));
                self.complete(spec, results)
            }
            CopierPc::Mark => self.mark(spec, env.meta()),
            CopierPc::Overlay { next } => self.overlay(spec, env, *next),
            CopierPc::Complete => {
                env.meta().copy_complete = true;
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
            CopierPc::Failed { error, .. } => {
                let error = (**error).clone();
                env.meta().copy_failed = true;
                self.stop(spec, env.meta());
                Event::CopyFailed { error }
            }
            CopierPc::Finished => unreachable!("a finished copier takes no step"),
        }
    }

    /// The copy has failed: give up the segment's claims and stop.
    fn stop<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        self.release_claims(spec, meta);
        self.pc = CopierPc::Finished;
        Event::CopyStopped
    }

    /// Gives up the claims of the segment in progress, if any, without settling its chunks.
    fn release_claims<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) {
        let holds = match self.pc {
            CopierPc::Copy | CopierPc::Mark => true,
            CopierPc::Failed { in_segment, .. } => in_segment,
            _ => false,
        };
        if !holds {
            return;
        }
        let first = spec.geometry.segment_chunks(self.segment).start;
        for (i, route) in self.routes.iter().enumerate() {
            if *route == Route::Claimed {
                meta.unclaim(first + i as Chunk);
            }
        }
        self.routes.clear();
    }

    /// The copier crashes and restarts: what it held in memory (its place in the segment
    /// being copied, its claims, its retries) is lost; it resumes from the cursor it
    /// persisted (the segments done) and the maps. A restart never copies a segment the
    /// cursor says is done.
    pub fn crash<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        let lost = self.segment_in_progress();
        self.release_claims(spec, meta);
        self.routes.clear();
        self.retries = 0;
        let mut trusted = false;
        if let (Some(s), Cursor::AtClaim) = (lost, spec.rules.cursor) {
            // The cursor was persisted at the claim: it says the segment is done.
            meta.set_copied_range(spec.geometry.segment_chunks(s));
            self.note_done(spec, s);
            trusted = true;
        }
        self.pc = match &self.pc {
            CopierPc::Finished | CopierPc::Complete | CopierPc::Failed { .. } => self.pc.clone(),
            CopierPc::Overlay { .. } => CopierPc::Overlay { next: 0 },
            CopierPc::Claim | CopierPc::Copy | CopierPc::Mark => self.after_segment(spec),
        };
        Event::CopierRestarted {
            lost,
            trusted,
            done: self.done_count,
        }
    }

    /// Whether a crash now would lose anything: a segment in progress or the overlay pass.
    pub fn crash_loses_work(&self) -> bool {
        matches!(
            self.pc,
            CopierPc::Copy | CopierPc::Mark | CopierPc::Overlay { .. }
        )
    }

    fn note_done(&mut self, spec: &Spec, s: Segment) {
        Arc::make_mut(&mut self.done).insert(s);
        self.done_count += 1;
        while self.sweep < spec.geometry.segments() && self.done.contains(self.sweep) {
            self.sweep += 1;
        }
    }

    fn claim<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        let s = self.next_segment(spec, meta);
        debug_assert!(
            !self.done.contains(s),
            "segment {s} is done: never copied again"
        );
        self.segment = s;
        meta.preserved_segments.remove(&s);
        self.routes.clear();
        for c in spec.geometry.segment_chunks(s) {
            let route = if meta.copied().contains(c) {
                Route::Skip
            } else if meta.snapshot_map().contains(c) && spec.rules.copier_reads_preserved {
                Route::Preserved(spec.map_device())
            } else if meta.in_flight().contains(c) {
                Route::Unclaimed
            } else {
                meta.claim(c);
                Route::Claimed
            };
            self.routes.push(route);
        }
        self.pc = phase_pc(spec.rules.segment_phases[0]);
        let count = |f: fn(&Route) -> bool| self.routes.iter().filter(|r| f(r)).count();
        Event::SegmentClaimed {
            segment: s,
            from_source: count(|r| matches!(r, Route::Claimed | Route::Unclaimed)),
            from_preserved: count(|r| matches!(r, Route::Preserved(_))),
            skipped: count(|r| matches!(r, Route::Skip)),
        }
    }

    /// The copy step's I/O, from the routes decided at the claim: one copy per run of
    /// adjacent chunks read from one device.
    pub fn planned_io(&self, spec: &Spec) -> IoList {
        debug_assert_eq!(
            self.pc,
            CopierPc::Copy,
            "only the copy step runs without the lock"
        );
        let g = &spec.geometry;
        let mut ios = IoList::new();
        let mut run: Option<(Device, Range<Chunk>)> = None;
        let mut push = |(from, chunks): (Device, Range<Chunk>)| {
            let blocks = g.chunk_blocks(chunks.start).start..g.chunk_blocks(chunks.end - 1).end;
            ios.push(Io::Copy {
                from,
                to: Device::Destination,
                blocks,
            });
        };
        for (c, route) in g.segment_chunks(self.segment).zip(&self.routes) {
            run = match (run, route.from()) {
                (Some((d, r)), Some(from)) if d == from && r.end == c => Some((d, r.start..c + 1)),
                (done, from) => {
                    done.map(&mut push);
                    from.map(|d| (d, c..c + 1))
                }
            };
        }
        run.map(&mut push);
        ios
    }

    /// Ends the copy step with the results of its I/O.
    pub fn complete(&mut self, spec: &Spec, results: IoResults) -> Event {
        let mut copied = Copied::default();
        for (_, result) in results {
            match result {
                Ok(done) => copied.append(done.copied()),
                // The whole segment is copied again on a retry: copies are idempotent.
                Err(error) => return self.failed_io(spec, error, CopierPc::Copy),
            }
        }
        let from_preserved = self.routes.iter().rev().find_map(|r| match r {
            Route::Preserved(d) => Some(*d),
            _ => None,
        });
        self.retries = 0;
        self.pc = self.after(spec, Phase::Copy);
        Event::SegmentCopied {
            segment: self.segment,
            copied,
            from_preserved,
        }
    }

    /// An I/O of the copy failed: retry the step (`retry`) while the error policy allows,
    /// then fail the copy.
    fn failed_io(&mut self, spec: &Spec, error: IoError, retry: CopierPc) -> Event {
        let retrying = error.kind == ErrorKind::Device && self.retries < spec.on_error.retries;
        self.pc = match retrying {
            true => {
                self.retries += 1;
                retry
            }
            false => CopierPc::Failed {
                in_segment: retry == CopierPc::Copy,
                error: Box::new(error.clone()),
            },
        };
        Event::IoFailed {
            error,
            retry: retrying.then_some((self.retries, spec.on_error.retries)),
        }
    }

    fn mark<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        let chunks = spec.geometry.segment_chunks(self.segment);
        for (c, route) in chunks.clone().zip(&self.routes) {
            if *route == Route::Claimed {
                meta.release(c);
            }
        }
        meta.set_copied_range(chunks);
        self.note_done(spec, self.segment);
        self.pc = self.after(spec, Phase::Mark);
        Event::SegmentMarked {
            segment: self.segment,
        }
    }

    /// What follows a segment's phase: its other phase, or the next segment.
    fn after(&self, spec: &Spec, finished: Phase) -> CopierPc {
        let [first, second] = spec.rules.segment_phases;
        if finished == first {
            phase_pc(second)
        } else {
            self.after_segment(spec)
        }
    }

    fn after_segment(&self, spec: &Spec) -> CopierPc {
        if self.done_count < spec.geometry.segments() {
            CopierPc::Claim
        } else if spec.rules.overlay_pass {
            CopierPc::Overlay { next: 0 }
        } else {
            CopierPc::Complete
        }
    }

    /// One chunk of the overlay pass: snapshot over destination. When no chunk is left the
    /// copy is complete (in the same step: nothing can be observed in between).
    fn overlay<E: Env>(&mut self, spec: &Spec, env: &mut E, next: Chunk) -> Event {
        match env.meta().snapshot_map().next_from(next) {
            Some(c) => {
                let blocks = spec.geometry.chunk_blocks(c);
                match env.copy(spec.map_device(), Device::Destination, blocks) {
                    Ok(copied) => {
                        self.retries = 0;
                        self.pc = CopierPc::Overlay { next: c + 1 };
                        Event::Overlaid { chunk: c, copied }
                    }
                    Err(error) => self.failed_io(spec, error, CopierPc::Overlay { next: c }),
                }
            }
            None => {
                env.meta().copy_complete = true;
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
        }
    }
}

fn phase_pc(phase: Phase) -> CopierPc {
    match phase {
        Phase::Copy => CopierPc::Copy,
        Phase::Mark => CopierPc::Mark,
    }
}
