//! The preserver (the "second process"): copies begin-time data of claimed chunks out of the
//! way before a held write may modify them. It runs in the writer's context, one step per
//! chunk copy and one per map update, so its steps interleave with everyone else's.

use crate::disk::Device;
use crate::durability::{Commit, CommitStep, Record};
use crate::env::{Env, Io, IoDone};
use crate::event::Event;
use crate::fault::{Break, ErrorKind, IoError};
use crate::geometry::{Block, Chunk};
use crate::meta::WriteId;
use crate::policy::Target;
use crate::spec::Spec;
use std::ops::Range;

pub use crate::meta::Claims;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Preserver {
    write: WriteId,
    /// Chunks this preserver claimed, in order (most claim one or two).
    claims: Claims,
    next: u32,
    /// The next step publishes the chunk copied last.
    marking: bool,
    /// Failed attempts of the current chunk's copy.
    retries: u8,
    /// The copy of the current chunk failed for good: the next step (under the metadata
    /// lock) decides what the write does.
    failed: Option<Box<IoError>>,
    /// The write is FUA (its preservation commits by the policy's protocol for FUA writes).
    fua: bool,
    /// With volatile caches: the commit step of the chunk copied last that runs next,
    /// counting from 1 (0: none).
    commit: u8,
}

/// Where a write stands after a step of its preserver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// More steps to take.
    Busy,
    /// Every claimed chunk is preserved, or given up because the copy has failed: the write
    /// may go on.
    Done,
    /// A preservation failed under `break-guest-write`: the write fails back to its writer.
    FailWrite,
}

impl Preserver {
    pub fn new(write: WriteId, claims: Claims, fua: bool) -> Self {
        debug_assert!(!claims.is_empty());
        Preserver {
            write,
            claims,
            next: 0,
            marking: false,
            retries: 0,
            failed: None,
            fua,
            commit: 0,
        }
    }

    pub fn needs_meta(&self) -> bool {
        self.marking || self.failed.is_some()
    }

    /// Renames the write (symmetry reduction).
    pub fn renumber(&mut self, write: impl Fn(WriteId) -> WriteId) {
        self.write = write(self.write);
    }

    /// The chunks it claimed, and how many of them are preserved and published.
    pub fn progress(&self) -> (&[Chunk], usize) {
        (&self.claims, self.next as usize)
    }

    pub fn chunk(&self) -> Chunk {
        self.claims[self.next as usize]
    }

    /// Takes one step under the metadata lock for a write of `written`, held in the queue or
    /// not: publish the chunk copied last, or give up after a failed copy. (The copy itself
    /// takes no lock: [`Preserver::planned_io`] and [`Preserver::complete`].)
    pub fn step<E: Env>(
        &mut self,
        spec: &Spec,
        env: &mut E,
        written: &Range<Block>,
        held: bool,
    ) -> (Event, Standing) {
        let target = spec
            .target()
            .expect("only preserving policies claim chunks");
        let c = self.chunk();
        if let Some(error) = self.failed.take() {
            return self.give_up(spec, env, *error, written, held);
        }
        if self.marking {
            let meta = env.meta();
            match target {
                Target::Destination => meta.set_copied(c),
                Target::Snapshot | Target::Cache => meta.set_mapped(c),
            }
            meta.release(c);
            meta.note_preserved(c);
            self.marking = false;
            self.next += 1;
            let event = Event::Marked {
                write: self.write,
                chunk: c,
                to: target.device(),
            };
            let done = self.next as usize == self.claims.len();
            return (event, if done { Standing::Done } else { Standing::Busy });
        }
        unreachable!("the copy step takes no lock: planned_io and complete")
    }

    /// The copy step's I/O: the claimed chunk's begin-time data out of the way.
    pub fn planned_io(&self, spec: &Spec, written: &Range<Block>) -> Io {
        debug_assert!(
            !self.needs_meta(),
            "only the copy step runs without the lock"
        );
        let target = spec
            .target()
            .expect("only preserving policies claim chunks");
        if self.commit > 0 {
            return self.commit_io(spec, target);
        }
        let chunk = spec.geometry.chunk_blocks(self.chunk());
        Io::Copy {
            from: Device::Source,
            to: target.device(),
            blocks: spec.rules.preserved_blocks(chunk, written),
        }
    }

    fn steps(&self, spec: &Spec) -> &'static [CommitStep] {
        spec.commit_steps(Commit::Preservation, self.fua)
    }

    /// The record that says the current chunk is preserved.
    fn record(&self, target: Target) -> Record {
        match target {
            Target::Destination => Record::Copied(self.chunk()),
            Target::Snapshot | Target::Cache => Record::Mapped(self.chunk()),
        }
    }

    /// The I/O of the next commit step of the chunk copied last.
    fn commit_io(&self, spec: &Spec, target: Target) -> Io {
        let step = self.steps(spec)[self.commit as usize - 1];
        Io::commit_step(step, target.device(), self.record(target))
    }

    /// A commit step done: the next, or the chunk is published at the next step.
    fn committed(&mut self, spec: &Spec) -> Event {
        let target = spec.target().expect("only preserving policies commit");
        let steps = self.steps(spec);
        let step = steps[self.commit as usize - 1];
        self.commit += 1;
        if self.commit as usize > steps.len() {
            self.commit = 0;
            self.marking = true;
        }
        Event::Committed {
            step,
            record: self.record(target),
            device: target.device(),
        }
    }

    /// Ends the copy step with its I/O (that of [`Preserver::planned_io`]) and the result; the
    /// write stays busy either way (the chunk is published, retried, or given up by the next
    /// step).
    pub fn complete(&mut self, spec: &Spec, io: Io, result: Result<IoDone, IoError>) -> Event {
        match result {
            Ok(_) if io.is_durability() => self.committed(spec),
            Ok(done) => {
                let Io::Copy { to, blocks, .. } = io else {
                    unreachable!("a preservation is a copy")
                };
                match self.steps(spec).is_empty() {
                    true => self.marking = true,
                    false => self.commit = 1,
                }
                self.retries = 0;
                Event::Preserved {
                    write: self.write,
                    chunk: self.chunk(),
                    blocks,
                    to,
                    copied: done.copied(),
                }
            }
            Err(error) => {
                // A full store stays full: retrying it cannot help.
                let retrying =
                    error.kind == ErrorKind::Device && self.retries < spec.on_error.retries;
                match retrying {
                    true => self.retries += 1,
                    false => self.failed = Some(Box::new(error.clone())),
                }
                Event::IoFailed {
                    error,
                    retry: retrying.then_some((self.retries, spec.on_error.retries)),
                }
            }
        }
    }

    /// A preservation failed for good; under the metadata lock, its unpreserved claims are
    /// given up and the error policy decides the write's fate. A write already applied
    /// (`apply-before-preserve`) cannot be failed: its copy breaks instead.
    fn give_up<E: Env>(
        &mut self,
        spec: &Spec,
        env: &mut E,
        error: IoError,
        written: &Range<Block>,
        held: bool,
    ) -> (Event, Standing) {
        let rules = &spec.rules;
        let meta = env.meta();
        let failed = self.chunk();
        if rules.publish_failed_preservation {
            match spec.target() {
                Some(Target::Destination) => meta.set_copied(failed),
                _ => meta.set_mapped(failed),
            }
        }
        for c in &self.claims[self.next as usize..] {
            meta.unclaim(*c);
        }
        self.next = self.claims.len() as u32;
        if meta.copy_failed {
            let event = Event::PreservationDropped { write: self.write };
            return (event, Standing::Done);
        }
        match (spec.on_error.then, held) {
            (Break::GuestWrite, true) => {
                let event = Event::WriteFailed {
                    write: self.write,
                    blocks: written.clone(),
                    error: None,
                };
                (event, Standing::FailWrite)
            }
            _ => {
                crate::copier::invalidate(spec, env);
                (Event::CopyFailed { error }, Standing::Done)
            }
        }
    }
}
