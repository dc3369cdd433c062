//! What a real run is: the simulator's configuration (the same workload, geometry, speed,
//! error policy and fault plan `cowlab sim` takes, so the prediction is of the same run),
//! which real copy carries it out, and QEMU's own knobs. [`QemuConfig::validate`] turns it
//! into a [`Setup`] once, refusing by flag what QEMU cannot do.

use crate::stamp::SECTOR;
use cowlab_model::fault::{Break, PlannedError, When};
use cowlab_model::policy::{OutOfTurn, SnapshotRedirect};
use cowlab_model::{Device, OrderName, PolicyName};
use cowlab_sim::config::ConfigError;
use cowlab_sim::config::QEMU_WORKERS;
use cowlab_sim::size::format_size;
use cowlab_sim::workload::Arrivals;
use cowlab_sim::SimConfig;
use serde::Serialize;
use std::path::PathBuf;

/// The real copy a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Copy {
    /// `blockdev-backup sync=full` from the source: its copy-before-write filter copies a
    /// written cluster to the destination out of turn (cowlab's `out-of-turn`).
    Backup,
    /// A copy-before-write filter preserving to a snapshot image, a `snapshot-access` node
    /// over it, and `blockdev-backup` from that node (cowlab's `snapshot-redirect`).
    Fleecing,
    /// A negative control: `blockdev-mirror`, which converges to the newest data.
    Mirror,
    /// A negative control: a plain copy of the source file while the writes run.
    FileCopy,
}

impl Copy {
    pub fn name(self) -> &'static str {
        match self {
            Copy::Backup => "backup",
            Copy::Fleecing => "fleecing",
            Copy::Mirror => "mirror",
            Copy::FileCopy => "file-copy",
        }
    }

    /// The controls, by the name `--control` takes.
    pub fn control(name: &str) -> Option<Copy> {
        [Copy::Mirror, Copy::FileCopy]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// Whether it is a copy that promises a point-in-time image (the controls do not).
    pub fn is_point_in_time(self) -> bool {
        matches!(self, Copy::Backup | Copy::Fleecing)
    }
}

/// One real run.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Workload, geometry (`cow_size` is QEMU's cluster, `segment_size` its job chunk),
    /// speed, error policy and faults, as `cowlab sim` has them.
    pub sim: SimConfig,
    /// A negative control instead of the copy the policy names.
    pub control: Option<Copy>,
    /// The copy-before-write filter's `cbw-timeout`, in seconds.
    pub cbw_timeout_s: Option<u32>,
    /// NBD connections the guest's requests are spread over.
    pub connections: u32,
    /// Longest a request may wait for its reply before it counts as held for ever.
    pub hold_bound_ns: u64,
    /// Where images and sockets go (default: a new temporary directory).
    pub run_dir: Option<PathBuf>,
    /// Where the run's raw records are kept (none by default).
    pub records: Option<PathBuf>,
}

impl QemuConfig {
    pub fn new(sim: SimConfig) -> QemuConfig {
        QemuConfig {
            sim,
            control: None,
            cbw_timeout_s: None,
            connections: 8,
            hold_bound_ns: 10_000_000_000,
            run_dir: None,
            records: None,
        }
    }
}

/// Where an injected error strikes: the raw image node of a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    Destination,
    Snapshot,
}

/// An injected error in QEMU's terms: its node and which of its writes fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Injection {
    pub target: Target,
    pub rule: Rule,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The n-th write of the node (counting from 1), once.
    Nth(u64),
    /// Every write touching these bytes.
    Bytes { start: u64, end: u64 },
}

/// A validated run: every value typed and checked against what QEMU can do.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub copy: Copy,
    pub volume: u64,
    /// The block-copy cluster (`min-cluster-size`).
    pub cluster: u64,
    /// The job's largest request (`x-perf.max-chunk`).
    pub max_chunk: u64,
    pub speed: Option<u64>,
    pub on_error: Break,
    pub max_workers: Option<u32>,
    pub cbw_timeout_s: Option<u32>,
    pub injections: Vec<Injection>,
    pub connections: u32,
    pub hold_bound_ns: u64,
}

/// QEMU's block-copy never copies less than this on a raw target.
pub const MIN_CLUSTER: u64 = 64 << 10;

fn refuse(
    flag: &str,
    value: impl std::fmt::Display,
    reason: impl std::fmt::Display,
) -> ConfigError {
    ConfigError::new(flag, value, reason)
}

impl QemuConfig {
    /// Checks what can be checked without QEMU running; [`crate::run`] then checks the
    /// options against the installed QEMU's schema.
    pub fn validate(&self) -> Result<Setup, ConfigError> {
        let s = &self.sim;
        // The simulator's own checks first: a run cowlab sim would refuse is refused alike.
        s.spec()?;
        let copy = match self.control {
            Some(c) => c,
            None if s.policy == PolicyName::of(&OutOfTurn) => Copy::Backup,
            None if s.policy == PolicyName::of(&SnapshotRedirect) => Copy::Fleecing,
            None => {
                return Err(refuse(
                    "--policy",
                    &s.policy,
                    "QEMU implements out-of-turn (its backup job, --preset qemu-backup) and \
                     snapshot-redirect (fleecing, --preset qemu-fleecing)",
                ))
            }
        };
        if s.order != OrderName::Sequential {
            return Err(refuse(
                "--order",
                s.order,
                "QEMU copies in sequential order",
            ));
        }
        if let Some(m) = &s.mutant {
            return Err(refuse(
                "--mutant",
                m,
                "mutants are the model's; a real run checks QEMU as it is",
            ));
        }
        if !s.volumes.is_empty() {
            return Err(refuse(
                "--volumes",
                format!("{:?}", s.volumes),
                "a real run copies one volume",
            ));
        }
        if let Some(t) = &s.topology {
            return Err(refuse(
                "--topology",
                t,
                "a real run uses this machine's files; topologies are the simulator's",
            ));
        }
        if !s.volume.is_multiple_of(SECTOR) {
            return Err(refuse(
                "--volume",
                s.volume,
                "must be a multiple of 512 bytes",
            ));
        }
        if !s.block_size.is_multiple_of(SECTOR) {
            return Err(refuse(
                "--block-size",
                s.block_size,
                "must be a multiple of 512 bytes",
            ));
        }
        if !s.cow_size.is_power_of_two() || s.cow_size < MIN_CLUSTER {
            return Err(refuse(
                "--cow-size",
                format_size(s.cow_size),
                "QEMU's cluster is a power of two of at least 64 KiB on a raw target",
            ));
        }
        if !s.segment_size.is_power_of_two() || s.segment_size < s.cow_size {
            return Err(refuse(
                "--segment-size",
                format_size(s.segment_size),
                "QEMU's job chunk (x-perf.max-chunk) is a power of two of at least the cluster",
            ));
        }
        if let Arrivals::Closed { .. } = s.workload.arrivals {
            return Err(refuse(
                "--writers",
                "a closed loop",
                "a real run replays requests open loop, at their times (use --rate or --trace)",
            ));
        }
        let has_image_reads = s.workload.read_fraction > 0.0 && s.workload.image_fraction > 0.0;
        if has_image_reads && copy != Copy::Fleecing {
            return Err(refuse(
                "--image-fraction",
                s.workload.image_fraction,
                format!(
                    "{} exports no point-in-time image; fleecing does (--preset qemu-fleecing)",
                    copy.name()
                ),
            ));
        }
        let p = &s.faults;
        if p.store_blocks.is_some() {
            return Err(refuse(
                "--store-capacity",
                p.store_blocks.unwrap_or(0),
                "not injected into QEMU (its snapshot image is as large as the volume)",
            ));
        }
        if let Some(n) = p.crashes.first() {
            return Err(refuse(
                "--crash-at",
                n,
                "QEMU's job has no crash-and-resume to inject",
            ));
        }
        if s.on_error.retries > 0 {
            return Err(refuse(
                "--on-error",
                s.on_error,
                "QEMU does not retry a failed copy-before-write (break-guest-write or break-snapshot)",
            ));
        }
        let injections = p
            .errors
            .iter()
            .map(|e| injection(e, copy, s.block_size))
            .collect::<Result<Vec<_>, _>>()?;
        if self.connections == 0 {
            return Err(refuse("--connections", 0, "must be at least 1"));
        }
        if self.cbw_timeout_s.is_some() && !copy.is_point_in_time() {
            return Err(refuse(
                "--cbw-timeout",
                format!("{}s", self.cbw_timeout_s.unwrap_or(0)),
                format!("{} has no copy-before-write filter", copy.name()),
            ));
        }
        Ok(Setup {
            copy,
            volume: s.volume,
            cluster: s.cow_size,
            max_chunk: s.segment_size,
            speed: s.speed,
            on_error: s.on_error.then,
            // The simulator's workers are the job's: QEMU's default left unsaid.
            max_workers: (s.workers != QEMU_WORKERS).then_some(s.workers),
            cbw_timeout_s: self.cbw_timeout_s,
            injections,
            connections: self.connections,
            hold_bound_ns: self.hold_bound_ns,
        })
    }
}

fn injection(e: &PlannedError, copy: Copy, block_size: u64) -> Result<Injection, ConfigError> {
    let target = match (e.device, copy) {
        (Device::Destination, _) => Target::Destination,
        (Device::Snapshot, Copy::Fleecing) => Target::Snapshot,
        (Device::Snapshot, _) => {
            return Err(refuse(
                "--fail",
                e,
                format!("{} writes no snapshot (only fleecing does)", copy.name()),
            ))
        }
        (dev, _) => {
            return Err(refuse(
                "--fail",
                e,
                format!(
                    "errors on the {dev} are not injected into QEMU (destination and snapshot are)"
                ),
            ))
        }
    };
    let rule = match &e.when {
        When::Nth(n) => Rule::Nth(*n),
        When::Blocks(r) => Rule::Bytes {
            start: r.start * block_size,
            end: r.end * block_size,
        },
        When::Probability(_) => {
            return Err(refuse(
                "--fail",
                e,
                "QEMU's blkdebug injects at the n-th write or on a block range, not by chance",
            ))
        }
    };
    Ok(Injection { target, rule })
}
