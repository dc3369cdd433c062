//! What a run counts for its metrics, step by step, and what a finished run hands on.

use super::*;

/// Counters the run keeps for its metrics.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) copier_read: u64,
    pub(super) copier_written: u64,
    pub(super) preserved: u64,
    pub(super) device_written: u64,
    pub(super) app_written: u64,
    pub(super) snapshot: u64,
    pub(super) writes: u64,
    pub(super) held: u64,
    pub(super) hold: Latencies,
    pub(super) queue_max: u64,
    /// Writes acknowledged while the copy and the workload both ran (for the baseline: by
    /// the end of that window in the run with the copy).
    pub(super) in_window: u64,
    pub(super) failed_copies: u64,
    pub(super) failed_writes: u64,
    pub(super) retries: u64,
    pub(super) restarts: u64,
    pub(super) restart_ns: u64,
    /// FLUSH commands (the commit protocols' and the guests') and metadata records written.
    pub(super) flushes: u64,
    pub(super) records: u64,
    /// Power losses, the requests they dropped, the bytes of segments done in memory whose
    /// cursor was not durable (copied again), and the time recovery took.
    pub(super) power_losses: u64,
    pub(super) dropped_requests: u64,
    pub(super) recopied_bytes: u64,
    pub(super) recovery_ns: u64,
}

/// What a finished run hands on.
pub(super) struct Run {
    pub(super) tally: Tally,
    pub(super) copy_end: u64,
    /// When the last request arrived.
    pub(super) arrivals_end: Option<u64>,
    pub(super) failure: Option<TimedViolation>,
    pub(super) checks: bool,
    pub(super) steps: u64,
    pub(super) events: u64,
    pub(super) map_bytes: u64,
    /// What a whole copy writes to the destination: the volume's bytes.
    pub(super) volume_bytes: u64,
    /// I/O errors the fault plan injected (a full store counts).
    pub(super) io_errors: u64,
    pub(super) volume_done: Vec<Option<u64>>,
    pub(super) links: Vec<(String, LinkStats)>,
    /// Whether devices had volatile caches (the durability figures are then reported).
    pub(super) volatile: bool,
}

impl Run {
    pub(super) fn outcome(self, check: CheckLevel, ratio: Option<f64>) -> SimOutcome {
        let t = &self.tally;
        let invariants = match (&self.failure, self.checks) {
            (Some(f), _) => f.violation.to_string(),
            (None, true) => "checked".into(),
            (None, false) => "not-checked".into(),
        };
        SimOutcome {
            metrics: Metrics {
                copy_seconds: self.copy_end as f64 / 1e9,
                copier_bytes_read: t.copier_read,
                copier_bytes_written: t.copier_written,
                preserved_bytes: t.preserved,
                write_amplification: (t.app_written > 0)
                    .then(|| t.device_written as f64 / t.app_written as f64),
                cow_amplification: (t.app_written > 0 && t.failed_copies == 0).then(|| {
                    let extra = t
                        .device_written
                        .saturating_sub(self.volume_bytes + t.app_written);
                    extra as f64 / t.app_written as f64
                }),
                snapshot_peak_bytes: t.snapshot,
                map_bytes: self.map_bytes,
                writes: t.writes,
                held_writes: t.held,
                hold_p50_us: t.hold.quantile_us(0.5),
                hold_p99_us: t.hold.quantile_us(0.99),
                hold_p999_us: t.hold.quantile_us(0.999),
                hold_max_us: t.hold.max_us(),
                queue_depth_max: t.queue_max,
                throughput_ratio: ratio,
                failed_copies: t.failed_copies,
                failed_writes: t.failed_writes,
                retries: t.retries,
                io_errors: self.io_errors,
                restarts: t.restarts,
                restart_seconds: t.restart_ns as f64 / 1e9,
                durability: self.volatile.then(|| Durability {
                    flushes: t.flushes,
                    records: t.records,
                    flushes_per_second: match self.copy_end {
                        0 => 0.0,
                        ns => t.flushes as f64 / (ns as f64 / 1e9),
                    },
                    power_losses: t.power_losses,
                    dropped_requests: t.dropped_requests,
                    recopied_bytes: t.recopied_bytes,
                    recovery_seconds: t.recovery_ns as f64 / 1e9,
                }),
                invariants,
            },
            failure: self.failure,
            steps: self.steps,
            events: self.events,
            check,
            volume_seconds: self
                .volume_done
                .iter()
                .map(|t| t.unwrap_or(self.copy_end) as f64 / 1e9)
                .collect(),
            links: self.links,
        }
    }
}

impl<S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'_, S, G, V> {
    /// Counts what a step did.
    pub(super) fn account(&mut self, pid: Pid, event: &Event) {
        let g = &self.spec.geometry;
        let bs = g.block_size as u64;
        match event {
            Event::WriteArrived { blocks, held, .. } => {
                self.tally.writes += 1;
                self.tally.app_written += (blocks.end - blocks.start) * bs;
                if *held {
                    self.tally.held += 1;
                    self.slots[pid].held = true;
                }
            }
            Event::Preserved { blocks, .. } => {
                let bytes = (blocks.end - blocks.start) * bs;
                self.tally.preserved += bytes;
                if self.cfg.speed.is_some() && self.cfg.preserver_paced {
                    match &mut self.limit {
                        Some(limit) => _ = limit.charge(self.now, bytes),
                        None => self.charged += bytes,
                    }
                }
            }
            Event::SegmentClaimed {
                segment,
                from_source,
                from_preserved,
                ..
            } => {
                // Slice pacing charges what a worker takes when it takes it.
                if let Some(limit) = &mut self.limit {
                    let chunk = g.chunk_bytes(g.segment_chunks(*segment).start);
                    let r = g.segment_blocks_range(*segment);
                    let bytes = ((*from_source + *from_preserved) as u64 * chunk)
                        .min((r.end - r.start) * bs);
                    _ = limit.charge(self.now, bytes);
                }
            }
            Event::Marked { chunk, to, .. } if *to != Device::Destination => {
                self.tally.snapshot += g.chunk_bytes(*chunk);
            }
            Event::IoFailed { retry, .. } => self.tally.retries += retry.is_some() as u64,
            Event::WriteFailed { .. } => {
                self.tally.failed_writes += 1;
                self.slots[pid].failed = true;
            }
            Event::CopyFailed { .. } => self.tally.failed_copies = 1,
            Event::SegmentMarked { segment } if !self.volume_marked.is_empty() => {
                let v = self.spec.volume_of(g.segment_blocks_range(*segment).start);
                self.volume_marked[v] += 1;
                if self.volume_marked[v] as usize == self.spec.volumes()[v].len() {
                    self.volume_done[v] = Some(self.now);
                }
            }
            _ => {}
        }
    }
}
