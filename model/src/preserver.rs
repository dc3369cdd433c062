//! The preserver (the "second process"): copies begin-time data of claimed chunks out of the
//! way before a held write may modify them. It runs in the writer's context, one step per
//! chunk copy and one per map update, so its steps interleave with everyone else's.

use crate::disk::Device;
use crate::env::Env;
use crate::event::Event;
use crate::geometry::{Block, Chunk};
use crate::meta::WriteId;
use crate::policy::Target;
use crate::spec::Spec;
use smallvec::SmallVec;
use std::ops::Range;

/// The chunks a write claims to preserve.
pub type Claims = SmallVec<[Chunk; 2]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Preserver {
    write: WriteId,
    /// Chunks this preserver claimed, in order (most claim one or two).
    claims: Claims,
    next: u32,
    /// The next step publishes the chunk copied last.
    marking: bool,
}

impl Preserver {
    pub fn new(write: WriteId, claims: Claims) -> Self {
        debug_assert!(!claims.is_empty());
        Preserver {
            write,
            claims,
            next: 0,
            marking: false,
        }
    }

    pub fn needs_meta(&self) -> bool {
        self.marking
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

    /// Takes one step for a write of `written`; returns the event and whether every claimed
    /// chunk is now preserved.
    pub fn step<E: Env>(
        &mut self,
        spec: &Spec,
        env: &mut E,
        written: &Range<Block>,
    ) -> (Event, bool) {
        let target = spec
            .target()
            .expect("only preserving policies claim chunks");
        let c = self.chunk();
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
            (event, self.next as usize == self.claims.len())
        } else {
            let chunk = spec.geometry.chunk_blocks(c);
            let blocks = spec.rules.preserved_blocks(chunk, written);
            let copied = env.copy(Device::Source, target.device(), blocks.clone());
            self.marking = true;
            let event = Event::Preserved {
                write: self.write,
                chunk: c,
                blocks,
                to: target.device(),
                copied,
            };
            (event, false)
        }
    }
}
