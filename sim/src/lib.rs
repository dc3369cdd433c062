//! The timed discrete-event simulator of copy-on-write online copy.
//!
//! These are its leaf modules, independent of the engine's internals:
//! [`size`] parses and prints sizes, durations and rates; [`device`] models
//! devices and their FIFO queues on simulated time; [`workload`] generates
//! seeded request streams; [`trace`] reads and writes block traces;
//! [`latency`] collects latency histograms; and [`topology`] describes devices, RAIDs and
//! links as data and times I/Os through them. Time is `u64` nanoseconds everywhere.
//!
//! It imports only the engine (`cowlab-model`), whose step machines its driver steps.

pub mod config;
pub mod device;
pub mod driver;
pub mod faults;
pub mod latency;
pub mod metrics;
pub mod pacing;
mod permutation;
pub mod size;
pub mod step;
pub mod tomlfile;
pub mod topology;
pub mod trace;
pub mod verify;
pub mod workload;

pub use config::{CheckLevel, ConfigError, Disks, Preset, SimConfig};
pub use device::{
    Completed, DeviceModel, DeviceModelError, DeviceQueue, DeviceStats, DiskName, Io, QueueDepth,
    QueueDepthError, Wake,
};
pub use driver::{simulate, simulate_with, Progress, SimError, SimOutcome, TimedViolation};
pub use latency::Latencies;
pub use metrics::Metrics;
pub use pacing::{Pacing, SliceLimit};
pub use size::SizeError;
pub use trace::blkparse::{write_blkparse, BlkparseReader};
pub use trace::scsi::{write_scsi, ScsiReader};
pub use trace::{write_msr, FieldProblem, MsrReader, Trace, TraceError, TraceFormat};
pub use workload::{
    Arrival, Arrivals, Generator, Pattern, PatternName, Sizes, Stop, WorkloadError, WorkloadSpec,
};
