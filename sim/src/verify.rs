//! The invariants on simulated time, at the run's check level. Every level calls the
//! engine's own invariant functions; `every-step` calls them on just what each step touched
//! (the blocks of its I/O and the chunks whose maps it changed), which after every step
//! equals a check of the whole state (`model/src/invariants.rs`).

use crate::step::StepInfo;
use cowlab_model::invariants::{self, Violation};
use cowlab_model::{
    Block, BlockStore, Device, Disk, Event, Ghost, GhostImage, Pid, Process, Spec, World,
};
use std::ops::Range;

/// Checks at one level over a world of one kind.
pub trait Verify<S: BlockStore, G: Ghost> {
    fn step(&mut self, spec: &Spec, world: &World<S, G>, step: &StepInfo) -> Result<(), Violation>;
    fn end(&mut self, spec: &Spec, world: &World<S, G>) -> Result<(), Violation>;
    /// Whether the invariants are evaluated at all.
    fn checks(&self) -> bool {
        true
    }
    /// Whether the driver also checks its own bookkeeping after every step (that every
    /// parked process is blocked).
    fn thorough(&self) -> bool {
        false
    }
}

/// No checks (no data is kept).
pub struct Unchecked;

impl<S: BlockStore, G: Ghost> Verify<S, G> for Unchecked {
    fn step(&mut self, _: &Spec, _: &World<S, G>, _: &StepInfo) -> Result<(), Violation> {
        Ok(())
    }
    fn end(&mut self, _: &Spec, _: &World<S, G>) -> Result<(), Violation> {
        Ok(())
    }
    fn checks(&self) -> bool {
        false
    }
}

/// Reads as they happen and preservations as they are published; the whole state at the end.
pub struct AtEnd;

impl Verify<Disk, GhostImage> for AtEnd {
    fn step(&mut self, spec: &Spec, world: &World, step: &StepInfo) -> Result<(), Violation> {
        stepped_client(spec, world, step.pid)
    }
    fn end(&mut self, spec: &Spec, world: &World) -> Result<(), Violation> {
        whole_state(spec, world)
    }
}

/// After every step, on what the step touched; the source at every quiescent moment, over
/// the blocks written since the last one.
#[derive(Default)]
pub struct EveryStep {
    /// Blocks the source or the newest writes changed since the last quiescent check.
    dirty: Vec<Range<Block>>,
    copy_checked: bool,
}

impl Verify<Disk, GhostImage> for EveryStep {
    fn step(&mut self, spec: &Spec, world: &World, step: &StepInfo) -> Result<(), Violation> {
        let g = &spec.geometry;
        stepped_client(spec, world, step.pid)?;
        // A FLUSH writes no block.
        let written = step.ios.iter().filter(|io| io.write && io.len > 0);
        let mut touched: Vec<Range<Block>> = written.clone().map(|io| io.blocks()).collect();
        let source = written.filter(|io| io.device == Device::Source);
        self.dirty.extend(source.map(|io| io.blocks()));
        match step.event {
            Event::Marked { chunk, .. } => touched.push(g.chunk_blocks(*chunk)),
            Event::SegmentMarked { segment } => touched.push(g.segment_blocks_range(*segment)),
            Event::WriteArrived { blocks, .. } => self.dirty.push(blocks.clone()),
            Event::WriteFailed { blocks, .. } => self.dirty.push(blocks.clone()),
            _ => {}
        }
        if step.event.frees(g) == Some(cowlab_model::Freed::Everything) {
            // A fault's step (rare) may change maps anywhere: check the whole state.
            self.dirty.push(0..g.blocks);
            return invariants::check_safety(spec, world);
        }
        for r in &touched {
            if !world.meta.copy_failed {
                invariants::image_in(spec, world, r.clone())?;
            }
            invariants::map_in(spec, world, g.chunks_touching(r))?;
        }
        if world.meta.copy_complete {
            if !self.copy_checked {
                self.copy_checked = true;
                invariants::copy_in(spec, world, 0..g.blocks)?;
            }
            for r in &touched {
                invariants::copy_in(spec, world, r.clone())?;
            }
        }
        if step.quiescent {
            for r in self.dirty.drain(..) {
                invariants::source_in(spec, world, r)?;
            }
        }
        Ok(())
    }
    fn end(&mut self, spec: &Spec, world: &World) -> Result<(), Violation> {
        whole_state(spec, world)
    }
    fn thorough(&self) -> bool {
        true
    }
}

/// The whole state after every step: what [`EveryStep`] must agree with (tests compare
/// them; it costs the volume's size per step).
pub struct Whole;

impl Verify<Disk, GhostImage> for Whole {
    fn step(&mut self, spec: &Spec, world: &World, _: &StepInfo) -> Result<(), Violation> {
        invariants::check_safety(spec, world)
    }
    fn end(&mut self, spec: &Spec, world: &World) -> Result<(), Violation> {
        whole_state(spec, world)
    }
    fn thorough(&self) -> bool {
        true
    }
}

/// Every invariant over the whole state, progress included: the end of every checked run.
fn whole_state(spec: &Spec, world: &World) -> Result<(), Violation> {
    invariants::check_safety(spec, world)?;
    invariants::progress(spec, world)
}

/// The stepping client's reads, and whether any chunk was preserved twice.
fn stepped_client(spec: &Spec, world: &World, pid: Pid) -> Result<(), Violation> {
    if let Process::Client(c) = &world.procs[pid] {
        invariants::client_read(spec, pid, c)?;
    }
    match world.meta.ghost.preserved_twice {
        Some(c) => Err(Violation {
            invariant: cowlab_model::Invariant::MapSoundness,
            detail: format!("chunk {c} was preserved twice"),
        }),
        None => Ok(()),
    }
}
