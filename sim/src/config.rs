//! The configuration of one timed run, its presets, and its validation into what the driver
//! runs: the engine's `Spec`, the request source and the devices.

use crate::device::{DeviceModel, DiskName};
use crate::pacing::{Pacing, QEMU_SLICE_NS};
use crate::size::{format_size, parse_size};
use crate::topology::{Topology, TopologyChoice, TopologyPreset};
use crate::trace::TraceFormat;
use crate::workload::{Arrivals, GuestDurability, Pattern, Sizes, Stop, WorkloadSpec};
use cowlab_model::fault::{ErrorPolicy, FaultPlan, When};
use cowlab_model::names::Named;
use cowlab_model::spec::MAX_WORKERS;
use cowlab_model::{
    Geometry, GeometryError, Mutant, OrderName, Policy, PolicyName, Spec, Workload,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// How often the invariants are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckLevel {
    /// After every step, on what the step touched (every stamp kept).
    EveryStep,
    /// Reads as they happen, the whole state once at the end (every stamp kept).
    End,
    /// Not checked: no data kept, for volumes too large to hold.
    Off,
}

impl Named for CheckLevel {
    const WHAT: &'static str = "check level";
    const ALL: &'static [CheckLevel] = &[CheckLevel::EveryStep, CheckLevel::End, CheckLevel::Off];

    fn name(self) -> &'static str {
        match self {
            CheckLevel::EveryStep => "every-step",
            CheckLevel::End => "end",
            CheckLevel::Off => "off",
        }
    }
}

cowlab_model::named_by_name!(CheckLevel);

impl CheckLevel {
    /// The default for a volume: every step up to 64 MiB, at the end up to 1 GiB, off above.
    pub fn for_volume(bytes: u64) -> CheckLevel {
        match bytes {
            b if b <= 64 << 20 => CheckLevel::EveryStep,
            b if b <= 1 << 30 => CheckLevel::End,
            _ => CheckLevel::Off,
        }
    }
}

/// The devices: one model for every device, its queue depth, and whether source,
/// destination and snapshot (or cache) are one device (one queue, one head).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disks {
    /// The preset the model started from.
    pub name: DiskName,
    pub model: DeviceModel,
    pub queue_depth: u32,
    pub shared: bool,
}

impl Disks {
    /// The preset's model, one request at a time, on devices of their own.
    pub fn preset(name: DiskName) -> Disks {
        Disks {
            name,
            model: name.model(),
            queue_depth: 1,
            shared: false,
        }
    }
}

/// Everything one timed run needs. Sizes are bytes, times nanoseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub policy: PolicyName,
    pub volume: u64,
    pub block_size: u64,
    pub segment_size: u64,
    pub cow_size: u64,
    pub order: OrderName,
    /// The generated workload (its `volume` and `align` follow the volume and block size).
    pub workload: WorkloadSpec,
    /// A block trace to replay instead of the generated workload.
    pub trace: Option<String>,
    /// The trace's format.
    #[serde(default)]
    pub trace_format: TraceFormat,
    /// Where the roles' devices are and what an I/O crosses: a preset
    /// ([`crate::topology::PRESETS`]) or a TOML file, resolved (a file read) once when set
    /// ([`TopologyChoice::named`]); `None` is `separate`, or `shared` with [`Disks::shared`].
    #[serde(default)]
    pub topology: Option<TopologyChoice>,
    /// Several volumes copied by one copy engine, by size (whole segments each; `volume` is
    /// then their sum); empty for one volume. The copy order is the scheduling rule.
    #[serde(default)]
    pub volumes: Vec<u64>,
    pub disks: Disks,
    /// Copier speed limit in bytes per second (its own reads are paced).
    pub speed: Option<u64>,
    /// The copier's workers: copy tasks taking segments from one claim structure, each with
    /// its own I/O in flight (QEMU's `x-perf.max-workers`). Not written when 1, so a run of
    /// one worker prints as it always did.
    #[serde(default = "one_worker", skip_serializing_if = "is_one_worker")]
    pub workers: u32,
    /// How the speed limit paces the workers ([`Pacing`]). Not written when smooth.
    #[serde(default, skip_serializing_if = "Pacing::is_smooth")]
    pub pacing: Pacing,
    /// Whether a write's preservation counts against the speed limit: it does where the
    /// preserver shares the copier's claim structure and budget (QEMU's backup job), not
    /// where it is a component of its own (QEMU's fleecing filter). Not written when true.
    #[serde(default = "counted", skip_serializing_if = "is_counted")]
    pub preserver_paced: bool,
    /// CPU time of a metadata step.
    pub cpu_ns: u64,
    /// `None`: the default for the volume ([`CheckLevel::for_volume`]).
    pub check: Option<CheckLevel>,
    pub seed: u64,
    pub mutant: Option<Mutant>,
    /// Faults to inject (none by default).
    pub faults: FaultPlan,
    /// What the copy does about a failed I/O.
    pub on_error: ErrorPolicy,
    /// The first retry's backoff; each further retry waits twice as long.
    pub retry_backoff_ns: u64,
    /// How long the copier is down after a crash, before it resumes.
    pub restart_ns: u64,
    /// Devices have volatile write caches: the copy commits its metadata by its policy's
    /// protocol (FLUSHes and records, each a command to its device; the metadata device is
    /// the snapshot store's). Not written when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub volatile_caches: bool,
    /// The guest's FUA writes and FLUSHes in a generated workload (none by default; a trace
    /// brings its own). Not written when none.
    #[serde(default, skip_serializing_if = "GuestDurability::is_none")]
    pub guest: GuestDurability,
    /// The power fails at these times (ns), with volatile caches: every cached write is
    /// lost, and the copy recovers from its durable records after the restart time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_loss_at: Vec<u64>,
}

fn one_worker() -> u32 {
    1
}

fn is_one_worker(n: &u32) -> bool {
    *n == 1
}

fn counted() -> bool {
    true
}

fn is_counted(b: &bool) -> bool {
    *b
}

/// QEMU's block-copy runs up to this many copy tasks at once (`x-perf.max-workers`).
pub const QEMU_WORKERS: u32 = 64;

/// Volumes up to this many bytes of stamps may keep their data (about 20 bytes per block).
pub const MAX_DATA_BYTES: u64 = 8 << 30;

impl Default for SimConfig {
    /// 1 GiB of 4 KiB blocks, 1 MiB segments, 64 KiB chunks, snapshot-overlay, 100,000
    /// uniform 4 KiB writes at 20,000 per second, on NVMe.
    fn default() -> Self {
        let volume = 1 << 30;
        SimConfig {
            policy: PolicyName::of(&cowlab_model::policy::SnapshotOverlay),
            volume,
            block_size: 4096,
            segment_size: 1 << 20,
            cow_size: 64 << 10,
            order: OrderName::Sequential,
            workload: WorkloadSpec {
                volume,
                align: 4096,
                pattern: Pattern::Uniform,
                sizes: Sizes::fixed(4096),
                read_fraction: 0.0,
                image_fraction: 0.0,
                arrivals: Arrivals::Open { rate: 20_000.0 },
                stop: Stop::Writes(100_000),
            },
            trace: None,
            trace_format: TraceFormat::Msr,
            volumes: Vec::new(),
            topology: None,
            disks: Disks::preset(DiskName::Nvme),
            speed: None,
            workers: 1,
            pacing: Pacing::Smooth,
            preserver_paced: true,
            cpu_ns: 1_000,
            check: None,
            seed: 0,
            mutant: None,
            faults: FaultPlan::default(),
            on_error: ErrorPolicy::default(),
            retry_backoff_ns: 1_000_000,
            restart_ns: 100_000_000,
            volatile_caches: false,
            guest: GuestDurability::default(),
            power_loss_at: Vec::new(),
        }
    }
}

/// Named starting points: a policy with the granularities a real system uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    QemuBackup,
    QemuFleecing,
    LvmSnapshot,
    Mercier,
}

impl Named for Preset {
    const WHAT: &'static str = "preset";
    const ALL: &'static [Preset] = &[
        Preset::QemuBackup,
        Preset::QemuFleecing,
        Preset::LvmSnapshot,
        Preset::Mercier,
    ];

    fn name(self) -> &'static str {
        match self {
            Preset::QemuBackup => "qemu-backup",
            Preset::QemuFleecing => "qemu-fleecing",
            Preset::LvmSnapshot => "lvm-snapshot",
            Preset::Mercier => "mercier",
        }
    }
}

cowlab_model::named_by_name!(Preset);

impl Preset {
    /// What the preset sets, for the help.
    pub fn about(self) -> &'static str {
        match self {
            Preset::QemuBackup => {
                "out-of-turn, 64 KiB chunks (QEMU's default cluster), 1 MiB copier segments (its max-chunk), 64 workers, a speed limit paced in 100 ms slices that preservations count against"
            }
            Preset::QemuFleecing => "snapshot-redirect, 64 KiB chunks, 1 MiB segments, 64 workers, a speed limit paced in 100 ms slices that preservations do not count against (the filter is a node of its own)",
            Preset::LvmSnapshot => {
                "snapshot-redirect, 4 KiB chunks, 1 MiB segments (a dd of an LVM snapshot)"
            }
            Preset::Mercier => {
                "snapshot-overlay with block-sized chunks (4 KiB) and 1 MiB segments, overlay at the end"
            }
        }
    }

    /// The policy and the chunk size in bytes.
    fn policy_and_chunk(self) -> (Box<dyn Policy>, u64) {
        use cowlab_model::policy::{OutOfTurn, SnapshotOverlay, SnapshotRedirect};
        match self {
            Preset::QemuBackup => (Box::new(OutOfTurn), 64 << 10),
            Preset::QemuFleecing => (Box::new(SnapshotRedirect), 64 << 10),
            Preset::LvmSnapshot => (Box::new(SnapshotRedirect), 4 << 10),
            Preset::Mercier => (Box::new(SnapshotOverlay), 4 << 10),
        }
    }
}

impl SimConfig {
    /// Applies a preset: policy, chunk and segment size, sequential order; QEMU's also its
    /// workers and its pacing.
    pub fn preset(mut self, preset: Preset) -> SimConfig {
        let (policy, cow) = preset.policy_and_chunk();
        self.policy = PolicyName::of(policy.as_ref());
        self.cow_size = cow;
        self.segment_size = 1 << 20;
        self.order = OrderName::Sequential;
        if let Preset::QemuBackup | Preset::QemuFleecing = preset {
            self.workers = QEMU_WORKERS;
            self.pacing = Pacing::Slices {
                slice_ns: QEMU_SLICE_NS,
            };
            // The fleecing filter's copies are its own block-copy state's, unpaced.
            self.preserver_paced = preset == Preset::QemuBackup;
        }
        self
    }

    /// When a generated open-loop workload asks more of the source device than it can
    /// serve: the offered requests per second and about how many one device serves (the
    /// mean request's overhead, seek and transfer, `queue_depth` of them at once but never
    /// more bytes a second than the bandwidth, which they share; preservations only make it
    /// worse), so a run whose requests queue for its whole length can say so. `None`
    /// otherwise.
    pub fn saturation(&self) -> Option<(f64, f64)> {
        let Arrivals::Open { rate } = self.workload.arrivals else {
            return None;
        };
        if self.trace.is_some() {
            return None;
        }
        let sizes = &self.workload.sizes.0;
        let weight: u64 = sizes.iter().map(|(_, w)| u64::from(*w)).sum();
        let mean = sizes
            .iter()
            .map(|(b, w)| *b as f64 * f64::from(*w))
            .sum::<f64>()
            / weight.max(1) as f64;
        let m = &self.disks.model;
        let seconds = (m.overhead_ns + m.seek_ns) as f64 / 1e9 + mean / m.bandwidth.max(1) as f64;
        let mut served = f64::from(self.disks.queue_depth) / seconds;
        if self.disks.queue_depth > 1 {
            served = served.min(m.bandwidth as f64 / mean.max(1.0));
        }
        (rate > served).then_some((rate, served))
    }

    /// Sets the volume and keeps the workload's in step.
    pub fn with_volume(mut self, bytes: u64) -> SimConfig {
        self.volume = bytes;
        self.workload.volume = bytes;
        self
    }

    /// Sets the block size and keeps the workload's alignment in step.
    pub fn with_block_size(mut self, bytes: u64) -> SimConfig {
        self.block_size = bytes;
        self.workload.align = bytes;
        self
    }

    /// The check level this run uses.
    pub fn check_level(&self) -> CheckLevel {
        self.check.unwrap_or(CheckLevel::for_volume(self.volume))
    }

    /// Validates every field and builds the engine's spec (with no fixed clients: the timed
    /// driver adds one per request).
    pub fn spec(&self) -> Result<Spec, ConfigError> {
        self.spec_with(&[])
    }

    /// Like [`SimConfig::spec`], with policies of the caller's own beside the built-in ones
    /// (found by name first).
    pub fn spec_with(&self, own: &[Arc<dyn Policy>]) -> Result<Spec, ConfigError> {
        let policy = self
            .policy
            .resolve(own)
            .map_err(|e| ConfigError::of(Field::Policy, &self.policy, e))?;
        let order = self.order.order(self.seed);
        let mutant = self.mutant;
        // Volumes are checked first: their sum is the volume the geometry checks.
        let volumes = self.volume_segments()?;
        let geometry = self.geometry()?;
        self.check_devices()?;
        self.check_data(&geometry)?;
        self.check_workload()?;
        self.check_faults(&geometry)?;
        self.topology()?;
        if let Some(m) = mutant.filter(|m| m.needs_faults() && self.faults.is_empty()) {
            let reason = "a mistake in handling faults: give a fault plan (--fail, --store-capacity, --crash-at or --fault-plan) to see it";
            return Err(ConfigError::of(Field::Mutant, m.name(), reason));
        }
        let spec = Spec::new(geometry, policy, order, mutant, Workload::default())
            .map_err(|e| ConfigError::of(Field::Workload(WorkloadField::Whole), "", e.to_string()))?
            .with_workers(self.workers)
            .map_err(|e| {
                ConfigError::of(Field::Workers, self.workers.to_string(), e.to_string())
            })?;
        let spec = match volumes {
            None => spec,
            Some(sizes) => spec
                .with_volumes(&sizes)
                .map_err(|e| ConfigError::of(Field::Volumes, self.volumes_text(), e.to_string()))?,
        };
        if !self.power_loss_at.is_empty() && !self.volatile_caches {
            let at = crate::size::format_duration(self.power_loss_at[0]).replace(' ', "");
            let reason = "a power loss needs devices with volatile caches: give --volatile-caches";
            return Err(ConfigError::new("--power-loss-at", at, reason));
        }
        let spec = match self.volatile_caches {
            true => spec.with_volatile_caches(),
            false => spec,
        };
        Ok(match self.faults.is_empty() {
            true => spec,
            false => spec.with_faults(self.on_error),
        })
    }

    fn volumes_text(&self) -> String {
        let sizes: Vec<String> = self.volumes.iter().map(|v| format_size(*v)).collect();
        sizes.join(",")
    }

    /// The volumes in segments, if there are several: each a whole number of segments, and
    /// together the volume.
    fn volume_segments(&self) -> Result<Option<Vec<u32>>, ConfigError> {
        if self.volumes.is_empty() {
            return Ok(None);
        }
        let text = self.volumes_text();
        let mut sizes = Vec::new();
        for v in &self.volumes {
            if *v == 0 || !v.is_multiple_of(self.segment_size) {
                let reason = format!(
                    "each volume must be a whole number of segments ({}); {} is not",
                    format_size(self.segment_size),
                    format_size(*v)
                );
                return Err(ConfigError::of(Field::Volumes, text, reason));
            }
            let n = u32::try_from(v / self.segment_size).map_err(|_| {
                ConfigError::of(
                    Field::Volumes,
                    text.clone(),
                    "too many segments in a volume",
                )
            })?;
            sizes.push(n);
        }
        let total = self.volumes.iter().try_fold(0u64, |a, v| a.checked_add(*v));
        if total != Some(self.volume) {
            let reason = format!(
                "they must add up to --volume ({})",
                format_size(self.volume)
            );
            return Err(ConfigError::of(Field::Volumes, text, reason));
        }
        Ok(Some(sizes))
    }

    /// The topology the run's I/O crosses, built from the run's disk model and queue depth
    /// (a preset) or the file read when the topology was set; valid, so that a fabric can
    /// be made of it.
    pub fn topology(&self) -> Result<Topology, ConfigError> {
        let d = &self.disks;
        let default = TopologyChoice::Preset(match d.shared {
            true => TopologyPreset::Shared,
            false => TopologyPreset::Separate,
        });
        let choice = self.topology.as_ref().unwrap_or(&default);
        let refused = |reason: &dyn fmt::Display| ConfigError::of(Field::Topology, choice, reason);
        let t = choice
            .topology(d.model, d.queue_depth, self.volume)
            .map_err(|reason| refused(&reason))?;
        t.validate().map_err(|e| refused(&e))?;
        Ok(t)
    }

    /// Every planned error lies inside the volume.
    fn check_faults(&self, g: &Geometry) -> Result<(), ConfigError> {
        for e in &self.faults.errors {
            if let When::Blocks(r) = &e.when {
                if r.end > g.blocks {
                    let reason = format!("the volume has {} blocks", g.blocks);
                    return Err(ConfigError::of(Field::Fail, e.to_string(), reason));
                }
            }
        }
        if let Some(&n) = self.faults.crashes.iter().find(|n| **n == 0) {
            return Err(ConfigError::of(
                Field::CrashAt,
                n.to_string(),
                "steps are counted from 1",
            ));
        }
        if let (Some(n), true) = (self.faults.crashes.first(), self.workers > 1) {
            // A crash resets every worker, but the timed driver has their I/O in flight.
            let reason = "a copier crash is simulated with one worker only (give --workers 1)";
            return Err(ConfigError::of(Field::CrashAt, n.to_string(), reason));
        }
        Ok(())
    }

    /// The geometry in blocks, from sizes in bytes; each size is named by its flag.
    pub fn geometry(&self) -> Result<Geometry, ConfigError> {
        let bs = self.block_size;
        for (field, value) in [
            (Field::Volume, self.volume),
            (Field::BlockSize, bs),
            (Field::SegmentSize, self.segment_size),
            (Field::CowSize, self.cow_size),
        ] {
            if value == 0 {
                return Err(ConfigError::of(field, "0", "must be at least one byte"));
            }
        }
        for (field, value) in [
            (Field::Volume, self.volume),
            (Field::SegmentSize, self.segment_size),
            (Field::CowSize, self.cow_size),
        ] {
            if value % bs != 0 {
                let reason = format!(
                    "not a multiple of the block size ({}){}",
                    format_size(bs),
                    binary_hint(value, bs)
                );
                return Err(ConfigError::of(field, format_size(value), reason));
            }
        }
        if !self.segment_size.is_multiple_of(self.cow_size) {
            let reason = format!(
                "the chunk must divide the segment ({})",
                format_size(self.segment_size)
            );
            return Err(ConfigError::of(
                Field::CowSize,
                format_size(self.cow_size),
                reason,
            ));
        }
        Geometry::new(
            self.volume / bs,
            bs,
            self.segment_size / bs,
            self.cow_size / bs,
        )
        .map_err(|e| match e {
            GeometryError::SegmentLargerThanVolume { .. } => ConfigError::of(
                Field::SegmentSize,
                format_size(self.segment_size),
                format!("larger than the volume ({})", format_size(self.volume)),
            ),
            e => ConfigError::of(Field::Volume, format_size(self.volume), e.to_string()),
        })
    }

    fn check_devices(&self) -> Result<(), ConfigError> {
        if self.disks.model.bandwidth == 0 {
            return Err(ConfigError::of(
                Field::DiskBandwidth,
                "0",
                "must be positive",
            ));
        }
        if self.disks.queue_depth == 0 {
            return Err(ConfigError::of(
                Field::QueueDepth,
                "0",
                "must be at least 1",
            ));
        }
        if self.speed == Some(0) {
            return Err(ConfigError::of(Field::Speed, "0", "must be positive"));
        }
        if self.pacing == (Pacing::Slices { slice_ns: 0 }) {
            return Err(ConfigError::of(
                Field::Pacing,
                "slices:0s",
                "a slice must last",
            ));
        }
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            let reason = format!("must be from 1 to {MAX_WORKERS}");
            return Err(ConfigError::of(
                Field::Workers,
                self.workers.to_string(),
                reason,
            ));
        }
        Ok(())
    }

    /// A run that keeps data must fit in memory: refuse it with the estimate and the limit.
    fn check_data(&self, g: &Geometry) -> Result<(), ConfigError> {
        let level = self.check_level();
        let need = g.blocks.saturating_mul(20);
        if level != CheckLevel::Off && need > MAX_DATA_BYTES {
            return Err(ConfigError::of(
                Field::Check,
                level.name(),
                format!(
                    "keeping the data of {} blocks needs about {}, more than the {} limit; use --check off",
                    g.blocks,
                    format_size(need),
                    format_size(MAX_DATA_BYTES)
                ),
            ));
        }
        Ok(())
    }

    fn check_workload(&self) -> Result<(), ConfigError> {
        let w = &self.workload;
        if w.volume != self.volume || w.align != self.block_size {
            return Err(ConfigError::of(
                Field::Workload(WorkloadField::Whole),
                format!("volume {} align {}", w.volume, w.align),
                "must follow the volume and block size (use with_volume and with_block_size)",
            ));
        }
        if self.trace.is_none() {
            w.validate().map_err(|e| workload_error(&e))?;
        }
        Ok(())
    }
}

/// "; did you mean 64KiB? (KB is 1000 bytes)" for a size in decimal units that is no
/// multiple of the block size when its binary twin is (empty otherwise).
pub fn binary_hint(bytes: u64, block: u64) -> String {
    let units = [
        (1_000_000_000_000u64, "TB", "TiB"),
        (1_000_000_000, "GB", "GiB"),
        (1_000_000, "MB", "MiB"),
        (1_000, "KB", "KiB"),
    ];
    let binary = |d: u64, bin: &str| match bin {
        "TiB" => (bytes / d) << 40,
        "GiB" => (bytes / d) << 30,
        "MiB" => (bytes / d) << 20,
        _ => (bytes / d) << 10,
    };
    let fits =
        |d: u64, bin: &str| bytes.is_multiple_of(d) && binary(d, bin).is_multiple_of(block.max(1));
    match units.iter().find(|(d, _, bin)| fits(*d, bin)) {
        Some((d, dec, bin)) => format!("; did you mean {}{bin}? ({dec} is {d} bytes)", bytes / d),
        None => String::new(),
    }
}

/// A field of a [`SimConfig`] that a refusal names. Each front end words it its own way:
/// the command line by its flag ([`Field::flag`]), a sweep file by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Volume,
    Volumes,
    BlockSize,
    SegmentSize,
    CowSize,
    Policy,
    Mutant,
    Check,
    Speed,
    Workers,
    Pacing,
    QueueDepth,
    DiskBandwidth,
    Topology,
    Fail,
    CrashAt,
    /// A field of the workload ([`WorkloadField`]).
    Workload(WorkloadField),
    /// A front end's own flag, with no field of the configuration behind it.
    Flag(String),
}

/// The fields of a generated workload that a refusal names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadField {
    Sizes,
    ZipfS,
    HotSize,
    HotFraction,
    Rate,
    Writers,
    ReadFraction,
    ImageFraction,
    /// The workload as a whole.
    Whole,
}

impl Field {
    /// The command-line flag that sets the field.
    pub fn flag(&self) -> &str {
        match self {
            Field::Volume => "--volume",
            Field::Volumes => "--volumes",
            Field::BlockSize => "--block-size",
            Field::SegmentSize => "--segment-size",
            Field::CowSize => "--cow-size",
            Field::Policy => "--policy",
            Field::Mutant => "--mutant",
            Field::Check => "--check",
            Field::Speed => "--speed",
            Field::Workers => "--workers",
            Field::Pacing => "--pacing",
            Field::QueueDepth => "--queue-depth",
            Field::DiskBandwidth => "--disk-bandwidth",
            Field::Topology => "--topology",
            Field::Fail => "--fail",
            Field::CrashAt => "--crash-at",
            Field::Workload(w) => match w {
                WorkloadField::Sizes => "--write-size",
                WorkloadField::ZipfS => "--zipf-s",
                WorkloadField::HotSize => "--hot-size",
                WorkloadField::HotFraction => "--hot-fraction",
                WorkloadField::Rate => "--rate",
                WorkloadField::Writers => "--writers",
                WorkloadField::ReadFraction => "--read-fraction",
                WorkloadField::ImageFraction => "--image-fraction",
                WorkloadField::Whole => "--workload",
            },
            Field::Flag(flag) => flag,
        }
    }
}

/// A workload's refusal, naming the field of the configuration it concerns
/// ([`crate::workload::WorkloadError::field`] is the workload's own path to it).
pub fn workload_error(e: &crate::workload::WorkloadError) -> ConfigError {
    let field = match e.field {
        "sizes" => Field::Workload(WorkloadField::Sizes),
        "pattern.s" => Field::Workload(WorkloadField::ZipfS),
        "pattern.size" => Field::Workload(WorkloadField::HotSize),
        "pattern.fraction" => Field::Workload(WorkloadField::HotFraction),
        "arrivals.rate" => Field::Workload(WorkloadField::Rate),
        "arrivals.writers" => Field::Workload(WorkloadField::Writers),
        "read_fraction" => Field::Workload(WorkloadField::ReadFraction),
        "image_fraction" => Field::Workload(WorkloadField::ImageFraction),
        "align" => Field::BlockSize,
        "volume" => Field::Volume,
        _ => Field::Workload(WorkloadField::Whole),
    };
    ConfigError::of(field, &e.value, &e.reason)
}

/// A refused configuration: the field, its value and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: Field,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    /// A refusal of a front end's own flag.
    pub fn new(flag: &str, value: impl fmt::Display, reason: impl fmt::Display) -> Self {
        ConfigError::of(Field::Flag(flag.to_string()), value, reason)
    }

    /// A refusal of a field of the configuration.
    pub fn of(field: Field, value: impl fmt::Display, reason: impl fmt::Display) -> Self {
        ConfigError {
            field,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The flag that sets the field, as the command line names it.
    pub fn flag(&self) -> &str {
        self.field.flag()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.is_empty() {
            true => write!(f, "{}: {}", self.flag(), self.reason),
            false => write!(f, "{} {}: {}", self.flag(), self.value, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses a size flag's value.
pub fn size_arg(flag: &str, text: &str) -> Result<u64, ConfigError> {
    parse_size(text).map_err(|e| ConfigError::new(flag, text, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_name_their_flag_and_value() {
        let c = SimConfig::default();
        let e = |c: SimConfig| c.spec().unwrap_err().to_string();
        assert_eq!(
            e(SimConfig {
                segment_size: 1000,
                ..c.clone()
            }),
            "--segment-size 1000 B: not a multiple of the block size (4 KiB)"
        );
        assert_eq!(
            e(SimConfig {
                cow_size: 3 << 12,
                ..c.clone()
            }),
            "--cow-size 12 KiB: the chunk must divide the segment (1 MiB)"
        );
        assert_eq!(
            "fast".parse::<PolicyName>().unwrap_err().to_string(),
            "unknown policy (expected one of: snapshot-overlay, snapshot-redirect, out-of-turn, out-of-turn-cache, next-range, offline)"
        );
        assert_eq!(
            "out-of-trun".parse::<PolicyName>().unwrap_err().to_string(),
            "unknown policy (expected one of: snapshot-overlay, snapshot-redirect, out-of-turn, out-of-turn-cache, next-range, offline); did you mean out-of-turn?"
        );
        assert!(e(SimConfig {
            cow_size: 0,
            ..c.clone()
        })
        .starts_with("--cow-size 0:"));
        let huge = c.clone().with_volume(16 << 40);
        assert_eq!(huge.check_level(), CheckLevel::Off);
        assert!(huge.spec().is_ok());
        let kept = SimConfig {
            check: Some(CheckLevel::End),
            ..huge
        };
        assert!(e(kept).starts_with("--check end: keeping the data of 4294967296 blocks"));
        assert_eq!(
            "vmware".parse::<Preset>().unwrap_err().to_string(),
            "unknown preset (expected one of: qemu-backup, qemu-fleecing, lvm-snapshot, mercier)"
        );
        assert!("qemu-backpu"
            .parse::<Preset>()
            .unwrap_err()
            .to_string()
            .ends_with("; did you mean qemu-backup?"));
    }

    #[test]
    fn presets_set_policy_and_granularity() {
        let c = SimConfig::default().preset(Preset::LvmSnapshot);
        assert_eq!(
            (c.policy.as_str(), c.cow_size, c.segment_size),
            ("snapshot-redirect", 4096, 1 << 20)
        );
        let c = SimConfig::default().preset(Preset::QemuBackup);
        assert_eq!((c.policy.as_str(), c.cow_size), ("out-of-turn", 65536));
        let slices = Pacing::Slices {
            slice_ns: 100_000_000,
        };
        assert_eq!((c.workers, c.pacing, c.preserver_paced), (64, slices, true));
        let c = SimConfig::default().preset(Preset::QemuFleecing);
        assert_eq!(
            (c.workers, c.pacing, c.preserver_paced),
            (64, slices, false)
        );
        let c = SimConfig::default().preset(Preset::Mercier);
        assert_eq!(
            (c.workers, c.pacing, c.preserver_paced),
            (1, Pacing::Smooth, true)
        );
    }

    #[test]
    fn a_slice_must_last() {
        let c = SimConfig {
            pacing: Pacing::Slices { slice_ns: 0 },
            ..SimConfig::default().with_volume(64 << 20)
        };
        let e = c.spec().err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "--pacing slices:0s: a slice must last");
    }
}
