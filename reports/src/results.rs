//! The results of a sweep: one record per run (every parameter and every metric) and the
//! copy times with no writes, written as JSON and CSV.

use crate::sweep::{RunKey, Sweep};
use cowlab_model::fault::ErrorPolicy;
use cowlab_model::names::Named;
use cowlab_model::PolicyName;
use cowlab_sim::device::DiskName;
use cowlab_sim::metrics::{Metrics, METRIC_NAMES};
use cowlab_sim::workload::PatternName;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One run: its parameters and every metric of `cowlab sim --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its place in the sweep's job list.
    pub job: usize,
    pub policy: PolicyName,
    pub workload: PatternName,
    pub disk: DiskName,
    /// The topology, in a sweep of topologies (`Sweep::by_topology`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    pub segment_size_bytes: u64,
    pub cow_size_bytes: u64,
    /// The copy workers (not written when 1, so records of a sweep without workers read
    /// as before).
    #[serde(
        default = "crate::sweep::one_worker",
        skip_serializing_if = "crate::sweep::is_one_worker"
    )]
    pub workers: u32,
    pub seed: u64,
    /// The error policy, in a sweep with faults.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::sweep::error_policy"
    )]
    pub on_error: Option<ErrorPolicy>,
    pub volume_bytes: u64,
    pub block_size_bytes: u64,
    pub write_size: String,
    pub writes_requested: u64,
    pub rate_per_second: f64,
    /// In a sweep with volatile caches: the hold latency's p99 of the same run without them
    /// (what the commits add is the difference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_p99_without_caches_us: Option<f64>,
    /// In a sweep with a power loss: the hold latency's p99 of the same run with the caches
    /// and no power loss (a loss drops the writes in progress, and their latencies with
    /// them: the commits' price is measured without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_p99_without_loss_us: Option<f64>,
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl Record {
    pub fn new(job: usize, sweep: &Sweep, key: &RunKey, metrics: Metrics) -> Record {
        Record {
            job,
            policy: key.policy.clone(),
            workload: key.workload,
            disk: key.disk,
            topology: key.topology.clone(),
            segment_size_bytes: key.segment,
            cow_size_bytes: key.chunk,
            workers: key.workers,
            seed: key.seed,
            on_error: key.on_error,
            volume_bytes: sweep.volume,
            block_size_bytes: sweep.block_size,
            write_size: sweep.write_size.clone(),
            writes_requested: sweep.writes,
            rate_per_second: sweep.rates[&key.disk],
            hold_p99_without_caches_us: None,
            hold_p99_without_loss_us: None,
            metrics,
        }
    }

    /// A metric by name (`invariants` is not a number); `None` where it is undefined.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let m = &self.metrics;
        Some(match name {
            "copy_seconds" => m.copy_seconds,
            "copier_bytes_read" => m.copier_bytes_read as f64,
            "copier_bytes_written" => m.copier_bytes_written as f64,
            "preserved_bytes" => m.preserved_bytes as f64,
            "write_amplification" => return m.write_amplification,
            "cow_amplification" => return m.cow_amplification,
            "snapshot_peak_bytes" => m.snapshot_peak_bytes as f64,
            "map_bytes" => m.map_bytes as f64,
            "writes" => m.writes as f64,
            "held_writes" => m.held_writes as f64,
            "hold_p50_us" => m.hold_p50_us,
            "hold_p99_us" => m.hold_p99_us,
            "hold_p999_us" => m.hold_p999_us,
            "hold_max_us" => m.hold_max_us,
            "queue_depth_max" => m.queue_depth_max as f64,
            "throughput_ratio" => return m.throughput_ratio,
            "failed_copies" => m.failed_copies as f64,
            "failed_writes" => m.failed_writes as f64,
            "retries" => m.retries as f64,
            "io_errors" => m.io_errors as f64,
            "restarts" => m.restarts as f64,
            "restart_seconds" => m.restart_seconds,
            _ => return None,
        })
    }

    /// Whether every invariant held (or was not checked).
    pub fn sound(&self) -> bool {
        matches!(self.metrics.invariants.as_str(), "checked" | "not-checked")
    }
}

/// How long a disk takes to copy the volume in segments of a size, with no writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoWrites {
    pub job: usize,
    pub disk: DiskName,
    /// The topology, in a sweep of topologies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    pub segment_size_bytes: u64,
    /// The copy workers (not written when 1).
    #[serde(
        default = "crate::sweep::one_worker",
        skip_serializing_if = "crate::sweep::is_one_worker"
    )]
    pub workers: u32,
    pub copy_seconds: f64,
}

/// Everything a report is made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub sweep: Sweep,
    pub runs: Vec<Record>,
    pub no_writes: Vec<NoWrites>,
}

impl Results {
    /// The copy time with no writes of a disk, topology, segment size and worker count.
    pub fn no_write_copy(
        &self,
        disk: DiskName,
        topology: Option<&str>,
        segment: u64,
        workers: u32,
    ) -> Option<f64> {
        self.no_writes
            .iter()
            .find(|n| {
                n.disk == disk
                    && n.topology.as_deref() == topology
                    && n.segment_size_bytes == segment
                    && n.workers == workers
            })
            .map(|n| n.copy_seconds)
    }

    /// The fastest copy of the volume a disk makes with no writes in a topology, over the
    /// swept segment sizes (and worker counts): what the cost's `copy_within` is a factor
    /// of.
    pub fn fastest_copy(&self, disk: DiskName, topology: Option<&str>) -> Option<f64> {
        self.no_writes
            .iter()
            .filter(|n| n.disk == disk && n.topology.as_deref() == topology)
            .map(|n| n.copy_seconds)
            .min_by(f64::total_cmp)
    }

    /// JSON with one run per line: small, and a change shows as a changed line.
    pub fn to_json(&self) -> String {
        let runs: Vec<String> = self.runs.iter().map(line).collect();
        let none: Vec<String> = self.no_writes.iter().map(line).collect();
        format!(
            "{{\n\"sweep\": {},\n\"runs\": [\n{}\n],\n\"no_writes\": [\n{}\n]\n}}\n",
            serde_json::to_string(&self.sweep).expect("a sweep serialises"),
            runs.join(",\n"),
            none.join(",\n")
        )
    }

    /// One row per run: every parameter, then every metric, with units in the names. A
    /// sweep with faults has an `on_error` column after `seed`, a sweep of topologies
    /// a `topology` column after `disk`, and a sweep of workers other than `[1]` a
    /// `workers` column after `cow_size_bytes`; a sweep with volatile caches ends each row
    /// with the durability figures.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let faults = self.sweep.faults.is_some();
        let topologies = self.sweep.by_topology();
        let workers = self.sweep.has_workers();
        let mut params = vec![
            "job",
            "policy",
            "workload",
            "disk",
            "segment_size_bytes",
            "cow_size_bytes",
            "seed",
            "volume_bytes",
            "block_size_bytes",
            "write_size",
            "writes_requested",
            "rate_per_second",
        ];
        if faults {
            params.insert(7, "on_error");
        }
        if workers {
            params.insert(6, "workers");
        }
        if topologies {
            params.insert(4, "topology");
        }
        let volatile = self.sweep.volatile_caches;
        let durability: &[&str] = match volatile {
            true => &[
                "flushes",
                "flushes_per_second",
                "metadata_records",
                "hold_p99_without_caches_us",
                "hold_p99_without_loss_us",
            ],
            false => &[],
        };
        let header: Vec<&str> = params
            .iter()
            .chain(METRIC_NAMES.iter())
            .chain(durability)
            .copied()
            .collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for r in &self.runs {
            let m = &r.metrics;
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let mut cells = vec![
                r.job.to_string(),
                csv_text(r.policy.as_str()),
                csv_text(r.workload.name()),
                csv_text(r.disk.name()),
                r.segment_size_bytes.to_string(),
                r.cow_size_bytes.to_string(),
                r.seed.to_string(),
                r.volume_bytes.to_string(),
                r.block_size_bytes.to_string(),
                csv_text(&r.write_size),
                r.writes_requested.to_string(),
                r.rate_per_second.to_string(),
                m.copy_seconds.to_string(),
                m.copier_bytes_read.to_string(),
                m.copier_bytes_written.to_string(),
                m.preserved_bytes.to_string(),
                opt(m.write_amplification),
                opt(m.cow_amplification),
                m.snapshot_peak_bytes.to_string(),
                m.map_bytes.to_string(),
                m.writes.to_string(),
                m.held_writes.to_string(),
                m.hold_p50_us.to_string(),
                m.hold_p99_us.to_string(),
                m.hold_p999_us.to_string(),
                m.hold_max_us.to_string(),
                m.queue_depth_max.to_string(),
                opt(m.throughput_ratio),
                m.failed_copies.to_string(),
                m.failed_writes.to_string(),
                m.retries.to_string(),
                m.io_errors.to_string(),
                m.restarts.to_string(),
                m.restart_seconds.to_string(),
                csv_text(&m.invariants),
            ];
            if volatile {
                let d = m.durability.clone().unwrap_or_default();
                cells.extend([
                    d.flushes.to_string(),
                    d.flushes_per_second.to_string(),
                    d.records.to_string(),
                    opt(r.hold_p99_without_caches_us),
                    opt(r.hold_p99_without_loss_us),
                ]);
            }
            if faults {
                let on_error = r.on_error.map_or(String::new(), |e| e.to_string());
                cells.insert(7, csv_text(&on_error));
            }
            if workers {
                cells.insert(6, r.workers.to_string());
            }
            if topologies {
                cells.insert(4, csv_text(r.topology.as_deref().unwrap_or("")));
            }
            let _ = writeln!(out, "{}", cells.join(","));
        }
        out
    }
}

/// One value as a line of JSON.
fn line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("a result serialises")
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_text(s: &str) -> String {
    match s.contains([',', '"', '\n']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    }
}
