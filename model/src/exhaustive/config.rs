//! The configuration of an exhaustive check: sizes, policy, mutant and the workload they
//! imply, validated into an engine [`Spec`] with one readable line per refusal.

use crate::fault::ErrorPolicy;
use crate::geometry::Geometry;
use crate::mutant::Mutant;
use crate::order::OrderName;
use crate::policy::PolicyName;
use crate::spec::{OpenRanges, Spec};
use crate::workload::{Request, Role, Workload};
use std::fmt;

/// Block size of checked volumes: the model keeps stamps, not bytes, so any size will do;
/// requests are aligned to it.
pub const BLOCK_SIZE: u32 = 512;

/// What `cowlab check` and `cowlab explore` are given on the command line (its names parsed
/// there, each by its type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub policy: PolicyName,
    pub segments: u32,
    pub segment_blocks: u32,
    pub cow_blocks: u32,
    pub writers: u32,
    pub writes: u32,
    pub readers: u32,
    pub image_readers: u32,
    pub mutant: Option<Mutant>,
    /// The volume in blocks, when it is not `segments` whole segments (the last is short).
    pub blocks: Option<u64>,
    /// The copy order (`random` draws its permutation from seed 0).
    pub order: OrderName,
    /// Every request chooses its range when it arrives (every workload of this size).
    pub any_writes: bool,
    /// With `any_writes`: the longest range a write may choose (default: the volume).
    pub write_blocks: Option<u64>,
    /// With `any_writes`: the longest range a read may choose (default 1 block, which finds
    /// every violation a longer one would: see [`crate::spec::OpenRanges`]).
    pub read_blocks: Option<u64>,
    /// Faults each path may inject (a failed I/O or a copier crash); 0 checks fault-free runs.
    pub faults: u8,
    /// What the copy does about a failed I/O.
    pub on_error: ErrorPolicy,
    /// Volumes copied by the one copier, each of `segments` segments; writer i writes
    /// volume i mod `volumes` (the readers read volume 0).
    pub volumes: u32,
    /// The copier's workers (copy tasks over one claim structure).
    pub workers: u32,
    /// Tasks each path may make a worker hand back before copying them.
    pub hand_backs: u8,
    /// Power losses each path may inject (devices then have volatile caches).
    pub power_losses: u8,
    /// Devices have volatile write caches (implied by `power_losses`).
    pub volatile: bool,
    /// Every write is FUA.
    pub fua_writes: bool,
    /// Each writer flushes after its writes.
    pub guest_flush: bool,
}

impl Default for Config {
    /// The configuration every policy's test checks: 3 segments of 2 blocks, chunk 1 block,
    /// 2 writers with 2 overlapping writes each, 1 volume reader, 1 image reader.
    fn default() -> Self {
        Config {
            policy: PolicyName::of(&crate::policy::SnapshotOverlay),
            segments: 3,
            segment_blocks: 2,
            cow_blocks: 1,
            writers: 2,
            writes: 2,
            readers: 1,
            image_readers: 1,
            mutant: None,
            blocks: None,
            order: OrderName::Sequential,
            any_writes: false,
            write_blocks: None,
            read_blocks: None,
            faults: 0,
            on_error: ErrorPolicy::BREAK_GUEST_WRITE,
            volumes: 1,
            workers: 1,
            hand_backs: 0,
            power_losses: 0,
            volatile: false,
            fua_writes: false,
            guest_flush: false,
        }
    }
}

/// A refused configuration, as one line for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Largest volume, writer and write counts accepted: far beyond what an exhaustive check
/// can finish, but small enough that no size computation overflows.
const MAX_BLOCKS: u64 = 1 << 16;
const MAX_CLIENTS: u32 = 64;
/// Workers a check accepts (each one multiplies the interleavings).
pub const MAX_CHECKED_WORKERS: u32 = 8;

impl Config {
    /// Validates the configuration and builds the engine's spec.
    pub fn spec(&self) -> Result<Spec, ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        let policy = self
            .policy
            .builtin()
            .map_err(|e| ConfigError(format!("--policy {}: {e}", self.policy)))?;
        let mutant = self.mutant;
        for (flag, value) in [
            ("--segments", self.segments),
            ("--segment-blocks", self.segment_blocks),
            ("--cow-blocks", self.cow_blocks),
        ] {
            if value == 0 {
                return err(format!("{flag} must be at least 1, got 0"));
            }
        }
        if !self.segment_blocks.is_multiple_of(self.cow_blocks) {
            return err(format!(
                "--cow-blocks ({}) must divide --segment-blocks ({})",
                self.cow_blocks, self.segment_blocks
            ));
        }
        if self.volumes == 0 || self.volumes > 8 {
            return err(format!(
                "--volumes must be from 1 to 8, got {}",
                self.volumes
            ));
        }
        if self.volumes > 1 && self.blocks.is_some() {
            return err("--blocks (a short last segment) takes one volume, not --volumes".into());
        }
        let segments = self.segments * self.volumes;
        let whole = segments as u64 * self.segment_blocks as u64;
        let blocks = match self.blocks {
            None => whole,
            Some(0) => return err("--blocks must be at least 1, got 0".into()),
            Some(b) if b > whole || b + self.segment_blocks as u64 <= whole => {
                return err(format!(
                    "--blocks {b}: must be within the last of the --segments ({}) segments of --segment-blocks ({}), i.e. {} to {whole}",
                    segments,
                    self.segment_blocks,
                    whole + 1 - self.segment_blocks as u64
                ))
            }
            Some(b) => b,
        };
        if blocks > MAX_BLOCKS {
            return err(format!(
                "the volume has {blocks} blocks (--segments x --segment-blocks); at most {MAX_BLOCKS} are supported"
            ));
        }
        let order = self.order.order(0);
        for (flag, v) in [
            ("--write-blocks", self.write_blocks),
            ("--read-blocks", self.read_blocks),
        ] {
            if v == Some(0) {
                return err(format!("{flag} must be at least 1, got 0"));
            }
        }
        for (flag, value) in [
            ("--writers", self.writers),
            ("--writes", self.writes),
            ("--readers", self.readers),
            ("--image-readers", self.image_readers),
        ] {
            if value > MAX_CLIENTS {
                return err(format!(
                    "{flag} is {value}; at most {MAX_CLIENTS} supported"
                ));
            }
        }
        let geometry = Geometry::new(
            blocks,
            BLOCK_SIZE as u64,
            self.segment_blocks as u64,
            self.cow_blocks as u64,
        )
        .map_err(|e| ConfigError(e.to_string()))?;
        if let Some(m) = mutant.filter(|m| m.needs_faults() && self.faults == 0) {
            return err(format!(
                "mutant '{m}' is a mistake in handling faults: give --faults 1 or more to check it"
            ));
        }
        if !(1..=MAX_CHECKED_WORKERS).contains(&self.workers) {
            return err(format!(
                "--workers must be from 1 to {MAX_CHECKED_WORKERS}, got {}",
                self.workers
            ));
        }
        if let Some((m, run)) = mutant.and_then(|m| Some((m, m.facts().claims?))) {
            if self.workers < run.workers {
                return err(format!(
                    "mutant '{m}' needs several copy workers to show: give --workers {} or more",
                    run.workers
                ));
            }
            if self.hand_backs < run.hand_backs {
                return err(format!(
                    "mutant '{m}' shows when a task is handed back: give --hand-backs {} or more",
                    run.hand_backs
                ));
            }
        }
        if let Some((m, run)) = mutant.and_then(|m| Some((m, m.facts().power?))) {
            let needs = [
                (self.power_losses == 0, "--power-loss 1".to_string()),
                (run.fua_writes && !self.fua_writes, "--fua-writes".into()),
                (run.guest_flush && !self.guest_flush, "--guest-flush".into()),
                (
                    self.faults < run.faults,
                    format!("--faults {} --on-error {}", run.faults, run.on_error),
                ),
            ];
            if let Some((_, flag)) = needs.iter().find(|(missing, _)| *missing) {
                return err(format!(
                    "mutant '{m}' is a mistake in durability: give {flag} to check it"
                ));
            }
        }
        let spec = Spec::new(geometry, policy, order, mutant, self.workload(&geometry))
            .and_then(|s| s.with_volumes(&vec![self.segments; self.volumes as usize]))
            .and_then(|s| s.with_workers(self.workers))
            .map_err(|e| ConfigError(e.to_string()))?;
        let spec = match self.faults {
            0 => spec,
            _ => spec.with_faults(self.on_error),
        };
        let spec = match self.hand_backs {
            0 => spec,
            _ => spec.with_hand_backs(),
        };
        let spec = match self.volatile || self.power_losses > 0 {
            false => spec,
            true => spec.with_volatile_caches(),
        };
        Ok(match self.any_writes {
            true => spec.with_open_ranges(OpenRanges {
                write_blocks: self.write_blocks.unwrap_or(blocks),
                read_blocks: self.read_blocks.unwrap_or(1),
            }),
            false => spec,
        })
    }

    /// The workload: every writer issues the same list of writes (so writers are
    /// interchangeable and symmetry reduction applies). Write k covers one segment's worth of
    /// blocks (at least 2) starting in the middle of segment k, so it spans two segments and
    /// overlaps its neighbours and every other writer's write k. The volume reader and the
    /// image reader read the blocks of write 0, where held writes and preservation race.
    pub fn workload(&self, g: &Geometry) -> Workload {
        let bs = g.block_size as u64;
        let volumes = self.volumes.max(1) as u64;
        let blocks = g.blocks / volumes;
        let len = (g.segment_blocks as u64).max(2).min(blocks);
        let write = |k: u64| {
            let start = (k * g.segment_blocks as u64 + g.segment_blocks as u64 / 2) % blocks;
            let start = start.min(blocks - len);
            (start * bs, len * bs)
        };
        let writes: Vec<Request> = (0..self.writes as u64)
            .map(|k| {
                let (o, l) = write(k);
                match self.fua_writes {
                    true => Request::write_fua(o, l),
                    false => Request::write(o, l),
                }
            })
            .collect();
        let (o, l) = write(0);
        let mut w = Workload::default();
        for i in 0..self.writers as u64 {
            // Writer i writes volume i mod volumes: the same writes, shifted into it.
            let shift = (i % volumes) * blocks * bs;
            let mut mine: Vec<Request> = writes
                .iter()
                .map(|r| Request {
                    offset: r.offset + shift,
                    ..*r
                })
                .collect();
            if self.guest_flush {
                mine.push(Request::flush());
            }
            w = w.client(Role::Writer, mine);
        }
        for _ in 0..self.readers {
            w = w.client(Role::Reader, vec![Request::read(o, l)]);
        }
        for _ in 0..self.image_readers {
            w = w.client(Role::ImageReader, vec![Request::read_image(o, l)]);
        }
        w
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy {}, {} segments x {} blocks{}, chunk {} block(s), {} writer(s) x {} write(s){}, {} reader(s), {} image reader(s), order {}, mutant {}",
            self.policy,
            self.segments,
            self.segment_blocks,
            self.blocks.map_or(String::new(), |b| format!(" ({b} blocks)")),
            self.cow_blocks,
            self.writers,
            self.writes,
            match (self.any_writes, self.write_blocks) {
                (false, _) => String::new(),
                (true, None) => " of any range".into(),
                (true, Some(n)) => format!(" of any range of at most {n} blocks"),
            } + &match (self.any_writes, self.read_blocks) {
                (true, Some(n)) if n > 1 => format!(", reads of at most {n} blocks"),
                (true, _) => ", reads of any block".to_string(),
                (false, _) => String::new(),
            },
            self.readers,
            self.image_readers,
            self.order,
            self.mutant.map_or("none", |m| m.name())
        )?;
        if self.faults > 0 {
            write!(
                f,
                ", up to {} fault(s), on error {}",
                self.faults, self.on_error
            )?;
        }
        if self.workers > 1 {
            write!(f, ", {} copy workers", self.workers)?;
        }
        if self.hand_backs > 0 {
            write!(f, ", up to {} task(s) handed back", self.hand_backs)?;
        }
        if self.volatile || self.power_losses > 0 {
            write!(f, ", volatile caches")?;
        }
        if self.power_losses > 0 {
            write!(f, ", up to {} power loss(es)", self.power_losses)?;
        }
        if self.fua_writes {
            write!(f, ", FUA writes")?;
        }
        if self.guest_flush {
            write!(f, ", each writer flushes after its writes")?;
        }
        Ok(())
    }
}
