//! Measured against predicted: a real run's figures beside `cowlab sim`'s for the same
//! workload and configuration, with the relative error of each.

use crate::check::JobEnd;
use crate::run::RealOutcome;
use cowlab_sim::Metrics;
use serde::Serialize;

/// One figure of a run, measured and predicted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub figure: &'static str,
    pub unit: &'static str,
    pub measured: Option<f64>,
    pub predicted: Option<f64>,
    /// (predicted − measured) / measured.
    pub error: Option<f64>,
}

fn row(
    figure: &'static str,
    unit: &'static str,
    measured: Option<f64>,
    predicted: Option<f64>,
) -> Row {
    let error = match (measured, predicted) {
        (Some(m), Some(p)) if m != 0.0 => Some((p - m) / m),
        (Some(m), Some(p)) if m == p => Some(0.0),
        _ => None,
    };
    Row {
        figure,
        unit,
        measured,
        predicted,
        error,
    }
}

/// The figures of a run, in the order they are printed, with the prediction where the
/// simulator has the figure.
pub fn rows(real: &RealOutcome, sim: &Metrics) -> Vec<Row> {
    let c = &real.copies;
    let n = |v: u64| Some(v as f64);
    let held = &real.copied_write_latency;
    let some_held = |v: f64| (held.count > 0).then_some(v);
    let sim_held = |v: f64| (sim.held_writes > 0).then_some(v);
    vec![
        row(
            "copy-before-write bytes",
            "bytes",
            n(c.cbw.bytes),
            n(sim.preserved_bytes),
        ),
        // The simulator counts no copy operations: a write's chunks are one step of its.
        row(
            "copy-before-write operations",
            "copies",
            n(c.cbw.tasks),
            None,
        ),
        row(
            "copy job's own bytes",
            "bytes",
            n(c.job.bytes),
            n(sim.copier_bytes_written),
        ),
        row(
            "copy duration",
            "s",
            real.job_seconds,
            Some(sim.copy_seconds),
        ),
        row(
            "writes held for a copy",
            "writes",
            n(real.copied_writes),
            n(sim.held_writes),
        ),
        row(
            "held-write latency p50",
            "us",
            some_held(held.p50_us),
            sim_held(sim.hold_p50_us),
        ),
        row(
            "held-write latency p99",
            "us",
            some_held(held.p99_us),
            sim_held(sim.hold_p99_us),
        ),
        row(
            "held-write latency max",
            "us",
            some_held(held.max_us),
            sim_held(sim.hold_max_us),
        ),
        row(
            "failed writes",
            "writes",
            n(real.failed_writes),
            n(sim.failed_writes),
        ),
        row(
            "failed copies",
            "copies",
            n(u64::from(matches!(real.job, JobEnd::Failed(_)))),
            n(sim.failed_copies),
        ),
    ]
}

/// A value in its unit, for a table.
pub fn show(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (None, _) => "-".into(),
        (Some(v), "bytes") => format!("{}", v as u64),
        (Some(v), "s") => format!("{v:.3} s"),
        (Some(v), "us") => format!("{v:.0} us"),
        (Some(v), _) => format!("{}", v as u64),
    }
}

/// A relative error as a signed percentage.
pub fn show_error(e: Option<f64>) -> String {
    e.map_or("-".into(), |e| format!("{:+.1} %", 100.0 * e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_relative_to_the_measured_figure() {
        assert_eq!(
            row("x", "bytes", Some(100.0), Some(111.0)).error,
            Some(0.11)
        );
        assert_eq!(row("x", "bytes", Some(0.0), Some(0.0)).error, Some(0.0));
        assert_eq!(row("x", "bytes", Some(0.0), Some(5.0)).error, None);
        assert_eq!(row("x", "bytes", None, Some(5.0)).error, None);
        assert_eq!(show_error(Some(-0.1234)), "-12.3 %");
    }
}
