//! What one timed run measured: the figures `cowlab sim --json` prints and the reports sweep.

use serde::{Deserialize, Serialize};

/// The metrics of one run. Sizes in bytes, latencies in microseconds, times in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// From the start to the copy being complete (the overlay pass included).
    pub copy_seconds: f64,
    pub copier_bytes_read: u64,
    pub copier_bytes_written: u64,
    /// Bytes copied because of writes: preservation, or copies out of turn.
    pub preserved_bytes: u64,
    /// Every byte written to any device over the bytes the application wrote; `None`
    /// without application writes.
    pub write_amplification: Option<f64>,
    /// The bytes copy-on-write added: every byte written to any device, less the copy's own
    /// (the volume, once) and the application's, over the bytes the application wrote.
    /// 0 when preservation only moved copy work earlier (out of turn to the destination);
    /// `None` without application writes or when the copy failed.
    pub cow_amplification: Option<f64>,
    /// Most bytes the snapshot store (or cache) held at once.
    pub snapshot_peak_bytes: u64,
    /// Bytes of the chunk map a real implementation keeps (one bit per chunk).
    pub map_bytes: u64,
    pub writes: u64,
    /// Writes that waited: for a preservation, a copy, another held write, or the copy's end.
    pub held_writes: u64,
    /// Arrival to acknowledgement of held writes.
    pub hold_p50_us: f64,
    pub hold_p99_us: f64,
    pub hold_p999_us: f64,
    pub hold_max_us: f64,
    /// Most writes in the hold queue at once.
    pub queue_depth_max: u64,
    /// Writes acknowledged while the copy ran, over the writes the same workload gets
    /// acknowledged in that time with no copy running; `None` if neither had any.
    pub throughput_ratio: Option<f64>,
    /// 1 if the copy failed (an error it could not survive), else 0.
    pub failed_copies: u64,
    /// Writes failed back to their writers (not applied, not acknowledged).
    pub failed_writes: u64,
    /// I/Os of the copy retried after an error.
    pub retries: u64,
    /// I/O errors the fault plan injected (a full store counts as one).
    pub io_errors: u64,
    /// Copier crashes, each followed by a restart from its persisted cursor.
    pub restarts: u64,
    /// Time the copier was down restarting.
    pub restart_seconds: f64,
    /// With volatile caches: what the commit protocols cost (absent otherwise, so that a run
    /// without them reads and writes as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<Durability>,
    /// `checked`, `not-checked` (no data kept), or the violation in words.
    pub invariants: String,
}

/// What durability cost a run with volatile caches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durability {
    /// FLUSH commands: each commit's data and metadata flushes, and the guests' own.
    pub flushes: u64,
    /// Metadata records written (exceptions, copied chunks, the cursor, the marks).
    pub records: u64,
    /// Flushes over the copy's duration.
    pub flushes_per_second: f64,
    /// Power losses (`SimConfig::power_loss_at`), the requests in progress they dropped
    /// (never acknowledged), the bytes of the segments being copied whose commit was not
    /// durable (copied again after recovery), and the time the copy was down recovering.
    #[serde(default)]
    pub power_losses: u64,
    #[serde(default)]
    pub dropped_requests: u64,
    #[serde(default)]
    pub recopied_bytes: u64,
    #[serde(default)]
    pub recovery_seconds: f64,
}

/// The names of the metrics, in the order of [`Metrics`]' fields.
pub const METRIC_NAMES: [&str; 23] = [
    "copy_seconds",
    "copier_bytes_read",
    "copier_bytes_written",
    "preserved_bytes",
    "write_amplification",
    "cow_amplification",
    "snapshot_peak_bytes",
    "map_bytes",
    "writes",
    "held_writes",
    "hold_p50_us",
    "hold_p99_us",
    "hold_p999_us",
    "hold_max_us",
    "queue_depth_max",
    "throughput_ratio",
    "failed_copies",
    "failed_writes",
    "retries",
    "io_errors",
    "restarts",
    "restart_seconds",
    "invariants",
];

/// The metrics that are numbers (every one but `invariants`): what a cost can weigh.
pub const NUMERIC_METRICS: &[&str] = match METRIC_NAMES.split_last() {
    Some((_, numbers)) => numbers,
    None => &[],
};
