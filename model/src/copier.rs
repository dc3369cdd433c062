//! The copier (the "first process"): copies the volume to the destination segment by segment.
//! It runs as one or more workers (`Spec::workers`), each a process of this step machine,
//! taking segments from one claim structure ([`crate::progress::CopyProgress`] and the
//! chunks in flight), as QEMU's block-copy runs several copy tasks.
//!
//! Per segment a worker takes the segment and claims the chunks it will read from the source
//! (so no write can modify them under it), copies, then marks the segment copied and
//! releases its claims. A worker that finds nothing to take while other tasks are in flight
//! waits and looks again: a task in flight can still be handed back. "Nothing to take and
//! nothing in flight" is decided in one step under the metadata lock.

use crate::disk::{Copied, Device};
use crate::durability::{Commit, CommitStep, Record, DATA_THEN_RECORD};
use crate::env::{perform_all, Env, Io, IoList, IoResults};
use crate::event::Event;
use crate::event::Wait;
use crate::fault::{ErrorKind, IoError};
use crate::geometry::{Chunk, Geometry, Segment};
use crate::ghost::Ghost;
use crate::meta::Meta;
use crate::order::CopyOrder;
use crate::rules::{Cursor, Phase};
use crate::spec::Spec;
use std::ops::Range;

/// Where the copier reads one chunk of its segment, decided when it claims the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CopierPc {
    Claim,
    /// Take the segment picked in an earlier step (only when claims do not re-check,
    /// the `claim-without-recheck` mutant).
    Take,
    Copy,
    /// With volatile caches: the commit step (counting from 0) of the segment copied, before
    /// its mark.
    Commit {
        step: u8,
    },
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

/// One worker of the copier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Copier {
    pub pc: CopierPc,
    segment: Segment,
    /// Segments done when this worker last looked (at its last step under the lock): what
    /// a copy step, taken without the lock, goes on from.
    done_seen: u32,
    routes: Vec<Route>,
    /// Failed attempts of the current I/O.
    retries: u8,
}

impl Copier {
    pub fn new(_: &Geometry) -> Self {
        Copier {
            pc: CopierPc::Claim,
            segment: 0,
            done_seen: 0,
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
        matches!(
            self.pc,
            CopierPc::Copy | CopierPc::Commit { .. } | CopierPc::Mark
        )
        .then_some(self.segment)
    }

    pub fn needs_meta(&self) -> bool {
        !matches!(
            self.pc,
            CopierPc::Copy | CopierPc::Commit { .. } | CopierPc::Finished
        )
    }

    /// The segment to take next, if one is left: the plan's first not taken, or for
    /// written-first the lowest segment not taken in which a chunk was preserved, else the
    /// lowest not taken.
    fn next_segment<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Segment> {
        let p = &meta.progress;
        let pending = |r: Range<Segment>| {
            meta.preserved_segments
                .range(r)
                .copied()
                .filter(|s| !p.is_taken(*s))
        };
        match spec.order {
            CopyOrder::WrittenFirst => pending(0..Segment::MAX).next().or(p.sweep()),
            CopyOrder::MostWrittenFirst => {
                // The volume with the most such segments (the first on a tie).
                let (most, first) = spec
                    .volumes()
                    .iter()
                    .map(|v| (pending(v.clone()).count(), pending(v.clone()).next()))
                    .fold((0, None), |best, v| if v.0 > best.0 { v } else { best });
                first.filter(|_| most > 0).or(p.sweep())
            }
            _ => p.plan_next().map(|n| spec.planned_segment(n)),
        }
    }

    /// Before a claim, a worker waits for chunks of its next segment being preserved; with
    /// nothing left to take, it waits while other tasks are in flight (one may be handed
    /// back).
    pub fn wait<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> Option<Wait> {
        if meta.copy_failed {
            return None;
        }
        let next = match self.pc {
            CopierPc::Claim => self.next_segment(spec, meta),
            // A segment picked: its chunks are waited for as at any claim.
            CopierPc::Take => Some(self.segment),
            _ => return None,
        };
        let Some(next) = next else {
            return meta.progress.in_progress().then_some(Wait::AnyStep);
        };
        if !spec.rules.copier_waits_for_claims {
            return None;
        }
        let chunks = spec.geometry.segment_chunks(next);
        let busy = meta.in_flight().first_in(chunks)?;
        // When the order follows writes, a preservation elsewhere can change the next
        // segment.
        Some(match spec.order.follows_writes() {
            true => Wait::AnyStep,
            false => Wait::Chunk(busy),
        })
    }

    pub fn waiting_for<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> String {
        match self.pc {
            CopierPc::Claim | CopierPc::Take => match self.wait(spec, meta) {
                Some(Wait::Chunk(_)) | None => "chunks of its next segment being preserved".into(),
                Some(_) => "the other copy tasks in flight (one may be handed back)".into(),
            },
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
            CopierPc::Take => self.take(spec, env.meta(), self.segment),
            CopierPc::Copy | CopierPc::Commit { .. } => {
                let results = perform_all(env, self.planned_io(spec));
                self.complete(spec, results)
            }
            CopierPc::Mark => self.mark(spec, env.meta()),
            CopierPc::Overlay { next } => self.overlay(spec, env, *next),
            CopierPc::Complete => {
                complete_copy(spec, env);
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
            CopierPc::Failed { error, .. } => {
                let error = (**error).clone();
                invalidate(spec, env);
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

    /// Gives up the claims of the segment in progress, if any, without settling its chunks,
    /// and gives the segment back.
    fn release_claims<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) {
        let holds = match self.pc {
            CopierPc::Copy | CopierPc::Commit { .. } | CopierPc::Mark => true,
            CopierPc::Failed { in_segment, .. } => in_segment,
            _ => false,
        };
        if !holds {
            return;
        }
        self.give_back(spec, meta, true);
    }

    /// Gives the segment in progress back to the claim structure: its claimed chunks leave
    /// flight (when `wake`: the chunks' waiters look again) and the segment may be taken
    /// again.
    fn give_back<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>, wake: bool) -> usize {
        let first = spec.geometry.segment_chunks(self.segment).start;
        let mut claimed = 0;
        for (i, route) in self.routes.iter().enumerate() {
            if *route == Route::Claimed {
                claimed += 1;
                if wake {
                    meta.unclaim(first + i as Chunk);
                }
            }
        }
        self.routes.clear();
        meta.progress
            .untake(self.segment, |n| spec.planned_segment(n));
        claimed
    }

    /// Whether the worker holds a task it may hand back now: a segment claimed and not yet
    /// copied, with chunks it claimed.
    pub fn can_hand_back(&self, spec: &Spec) -> bool {
        self.pc == CopierPc::Copy
            && spec.rules.segment_phases[0] == Phase::Copy
            && self.routes.contains(&Route::Claimed)
    }

    /// Hands the task back before copying it (QEMU's block-copy ends a task at once when the
    /// rate limit's slice is spent): the segment and its chunks go back to the claim
    /// structure, and the worker claims again. A step under the metadata lock.
    pub fn hand_back<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        debug_assert!(self.can_hand_back(spec));
        let woken = spec.rules.hand_back_wakes;
        let chunks = self.give_back(spec, meta, woken);
        self.retries = 0;
        self.done_seen = meta.progress.done_count();
        self.pc = CopierPc::Claim;
        Event::TaskHandedBack {
            segment: self.segment,
            chunks,
            woken,
        }
    }

    /// The copier crashes and restarts: what it held in memory (its place in the segment
    /// being copied, its claims, its retries) is lost; it resumes from the cursor it
    /// persisted (the segments done) and the maps. A restart never copies a segment the
    /// cursor says is done.
    pub fn crash<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        let lost = self.segment_in_progress();
        let mut trusted = false;
        match (lost, spec.rules.cursor) {
            (Some(s), Cursor::AtClaim) => {
                // The cursor was persisted at the claim: it says the segment is done.
                self.release_claims(spec, meta);
                meta.set_copied_range(spec.geometry.segment_chunks(s));
                meta.progress.note_done(s, |n| spec.planned_segment(n));
                trusted = true;
            }
            _ => self.release_claims(spec, meta),
        }
        self.routes.clear();
        self.retries = 0;
        self.done_seen = meta.progress.done_count();
        self.pc = match &self.pc {
            CopierPc::Finished | CopierPc::Complete | CopierPc::Failed { .. } => self.pc.clone(),
            CopierPc::Overlay { .. } => CopierPc::Overlay { next: 0 },
            CopierPc::Claim
            | CopierPc::Take
            | CopierPc::Copy
            | CopierPc::Commit { .. }
            | CopierPc::Mark => self.after_segment(spec),
        };
        Event::CopierRestarted {
            lost,
            trusted,
            done: self.done_seen,
        }
    }

    /// Whether a crash now would lose anything: a segment in progress or the overlay pass.
    pub fn crash_loses_work(&self) -> bool {
        matches!(
            self.pc,
            CopierPc::Copy | CopierPc::Commit { .. } | CopierPc::Mark | CopierPc::Overlay { .. }
        )
    }

    /// After a power loss: the worker starts afresh from the recovered metadata (the copy
    /// complete, or the segments the durable cursor counts done).
    pub fn restart<G: Ghost>(&mut self, spec: &Spec, meta: &Meta<G>) {
        self.routes.clear();
        self.retries = 0;
        self.done_seen = meta.progress.done_count();
        self.pc = match meta.copy_complete {
            true => CopierPc::Finished,
            false => self.after_segment(spec),
        };
    }

    /// Whether this worker's next step takes (or picks) a segment: what a rate limit that
    /// hands out work before it is taken, as QEMU's block-copy, is asked about.
    pub fn about_to_take<G: Ghost>(&self, spec: &Spec, meta: &Meta<G>) -> bool {
        self.pc == CopierPc::Claim && self.next_segment(spec, meta).is_some()
    }

    /// Takes the next segment, in the same step that finds it (the claim re-checks inside
    /// the critical section), or only picks it when claims do not re-check; or, with
    /// nothing left to take and nothing in flight (`wait` holds the worker otherwise), ends.
    fn claim<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>) -> Event {
        let Some(s) = self.next_segment(spec, meta) else {
            self.pc = CopierPc::Finished;
            return Event::WorkerDone;
        };
        if !spec.rules.claim_rechecks {
            self.segment = s;
            self.pc = CopierPc::Take;
            return Event::SegmentPicked { segment: s };
        }
        self.take(spec, meta, s)
    }

    /// Takes segment `s` and claims the chunks it will read from the source.
    fn take<G: Ghost>(&mut self, spec: &Spec, meta: &mut Meta<G>, s: Segment) -> Event {
        debug_assert!(
            !spec.rules.claim_rechecks || !meta.progress.is_taken(s),
            "segment {s} is taken: never copied twice"
        );
        self.segment = s;
        meta.progress.take(s, |n| spec.planned_segment(n));
        self.done_seen = meta.progress.done_count();
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
    /// adjacent chunks read from one device. (A commit step's: its one I/O.)
    pub fn planned_io(&self, spec: &Spec) -> IoList {
        if let CopierPc::Commit { step } = self.pc {
            let step = spec.commit_steps(Commit::Segment, false)[step as usize];
            let io = Io::commit_step(step, Device::Destination, Record::Done(self.segment));
            return [io].into_iter().collect();
        }
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

    /// Ends the copy step (or a commit step) with the results of its I/O.
    pub fn complete(&mut self, spec: &Spec, results: IoResults) -> Event {
        if let CopierPc::Commit { step } = self.pc {
            let steps = spec.commit_steps(Commit::Segment, false);
            self.pc = match step as usize + 1 == steps.len() {
                // The segment's commit done: what follows its copy.
                true => self.after(spec, Phase::Copy),
                false => CopierPc::Commit { step: step + 1 },
            };
            return Event::Committed {
                step: steps[step as usize],
                record: Record::Done(self.segment),
                device: Device::Destination,
            };
        }
        let mut copied = Copied::default();
        for (_, result) in results {
            match result {
                Ok(done) => copied.append(done.copied()),
                // The whole segment is copied again on a retry: copies are idempotent.
                Err(error) if spec.rules.failed_task_redirties => {
                    return self.failed_io(spec, error, CopierPc::Copy)
                }
                // The mistake: the task ends as if its range were copied.
                Err(error) => {
                    self.pc = self.after(spec, Phase::Copy);
                    return Event::TaskDropped {
                        segment: self.segment,
                        error,
                    };
                }
            }
        }
        let from_preserved = self.routes.iter().rev().find_map(|r| match r {
            Route::Preserved(d) => Some(*d),
            _ => None,
        });
        self.retries = 0;
        self.pc = match spec.commit_steps(Commit::Segment, false).is_empty() {
            true => self.after(spec, Phase::Copy),
            false => CopierPc::Commit { step: 0 },
        };
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
        meta.progress
            .note_done(self.segment, |n| spec.planned_segment(n));
        self.done_seen = meta.progress.done_count();
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
        if self.done_seen < spec.geometry.segments() {
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
                complete_copy(spec, env);
                self.pc = CopierPc::Finished;
                Event::CopyComplete
            }
        }
    }
}

/// The copy is complete; with volatile caches, once the destination is flushed and the
/// completion committed (one step: until the record is durable nothing relies on it).
fn complete_copy<E: Env>(spec: &Spec, env: &mut E) {
    if spec.volatile {
        commit_now(env, DATA_THEN_RECORD, Record::Complete);
    }
    env.meta().copy_complete = true;
}

/// Runs the steps of a commit at once (in one step of its process), the data flushed being
/// the destination's.
fn commit_now<E: Env>(env: &mut E, steps: &[CommitStep], record: Record) {
    for step in steps {
        let _never_fails = env.perform(&Io::commit_step(*step, Device::Destination, record));
    }
}

/// The copy has failed (the snapshot is invalid); with volatile caches, once the invalid
/// record is durable (in the same step: until then writes stay protected, and recovery
/// sees a valid snapshot or an invalid one, never one that lost its protection).
pub fn invalidate<E: Env>(spec: &Spec, env: &mut E) {
    if spec.volatile {
        let steps = [CommitStep::WriteRecord, CommitStep::FlushMetadata];
        commit_now(env, &steps, Record::Invalid);
    }
    env.meta().copy_failed = true;
}

fn phase_pc(phase: Phase) -> CopierPc {
    match phase {
        Phase::Copy => CopierPc::Copy,
        Phase::Mark => CopierPc::Mark,
    }
}
