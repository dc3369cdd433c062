//! What one engine step did on simulated time: the I/Os it asked for, in order.

use cowlab_model::env::{Access, IoKind};
use cowlab_model::{Block, Device, Event, Pid};
use std::ops::Range;

/// One I/O a step asked for: a run of adjacent blocks on one device. 16 bytes: the driver
/// keeps one or two per live process, and there can be millions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoPlan {
    pub start: Block,
    pub len: u32,
    pub device: Device,
    pub write: bool,
    /// A step of durability: a FLUSH (no blocks) or a metadata record.
    pub commit: bool,
}

impl IoPlan {
    /// The I/Os for a run of blocks: one, unless it is longer than 2^32 - 1 blocks.
    pub fn runs(device: Device, write: bool, blocks: Range<Block>) -> impl Iterator<Item = IoPlan> {
        IoPlan::split(device, write, false, blocks)
    }

    /// The runs of one device access of a step's I/O (a FLUSH, a commit of no blocks: one
    /// command of no data).
    pub fn of(access: &Access) -> impl Iterator<Item = IoPlan> {
        IoPlan::split(
            access.device,
            access.kind == IoKind::Write,
            access.commit,
            access.blocks.clone(),
        )
    }

    fn split(
        device: Device,
        write: bool,
        commit: bool,
        blocks: Range<Block>,
    ) -> impl Iterator<Item = IoPlan> {
        let max = u32::MAX as Block;
        let end = match commit && blocks.is_empty() {
            true => blocks.start + 1,
            false => blocks.end,
        };
        (blocks.start..end)
            .step_by(max as usize)
            .map(move |start| IoPlan {
                start,
                len: blocks.end.saturating_sub(start).min(max) as u32,
                device,
                write,
                commit,
            })
    }

    pub fn blocks(&self) -> Range<Block> {
        self.start..self.start + self.len as Block
    }
}

/// What one step did, for the checks.
pub struct StepInfo<'a> {
    pub pid: Pid,
    pub event: &'a Event,
    pub ios: &'a [IoPlan],
    /// No write in progress and none held, after the step.
    pub quiescent: bool,
}
