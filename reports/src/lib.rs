//! Granularity reports: a sweep of timed simulations (policies × segment and chunk sizes ×
//! workloads × disks × seeds), its results as JSON and CSV, charts, and a summary that
//! recommends a segment size, a chunk size and a policy per workload and disk.
//!
//! - [`sweep`]: the sweep file, the built-in sweep, and the jobs a sweep expands to.
//! - [`run`]: running the jobs over threads, or one shard's slice of them, and growing
//!   the seeds of unstable picks.
//! - [`results`]: one record per run, written as JSON and CSV.
//! - [`recommend`]: the recommendation: statistics, ties, stability, and more seeds where a
//!   pick is unstable.
//! - [`knobs`]: a recommended configuration in the settings of the real systems.
//! - [`render`]: `summary.md` and the charts ([`chart`]).
//! - [`page`]: `report.html`, the summary and its charts as one self-contained page.
//! - [`shard`]: shard folders and their merge.
//! - [`out`]: the folder a report goes to, checked before any run.
//!
//! It imports the engine (`cowlab-model`) and the simulator (`cowlab-sim`), never the
//! command line nor the real-QEMU driver beside it.
//!
//! A designer's own test calls [`report`] (see `reports/examples/own_policy.rs`).

pub mod chart;
pub mod knobs;
pub mod out;
pub mod page;
pub mod recommend;
pub mod render;
pub mod results;
pub mod run;
pub mod shard;
pub mod sweep;

pub use results::{Record, Results};
pub use run::{Options, Shard, Timing};
pub use sweep::{Sweep, SweepError};

use std::path::{Path, PathBuf};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Sweep(#[from] SweepError),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Chart(#[from] chart::ChartError),
    #[error("{0}")]
    Merge(String),
    #[error("{0}")]
    Other(String),
}

impl ReportError {
    pub fn io(path: &Path, error: std::io::Error) -> ReportError {
        ReportError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// What [`report`] made.
#[derive(Clone, Debug)]
pub struct Report {
    /// The results of the report's sweep (the first).
    pub results: Results,
    pub timing: Timing,
    /// The recommendation per workload and disk (and topology).
    pub recommendations: Vec<recommend::Recommendation>,
    /// The topology panel's results (the second sweep), when the report has one
    /// ([`Sweep::topology_panel`]).
    pub panel: Option<Results>,
    /// The topology panel's recommendation per topology, when the report has one.
    pub panel_recommendations: Option<Vec<recommend::Recommendation>>,
    /// The PNG charts written (each has an SVG beside it).
    pub charts: Vec<PathBuf>,
}

/// The most sweeps a report shows: its own, and the topology panel's.
pub const MAX_SWEEPS: usize = 2;

/// Refuses a list of sweeps a report cannot show: none, or more than [`MAX_SWEEPS`].
fn check_count(n: usize) -> Result<(), ReportError> {
    match n {
        1..=MAX_SWEEPS => Ok(()),
        _ => Err(ReportError::Other(format!(
            "a report shows its sweep and at most one topology panel's, not {n} sweeps"
        ))),
    }
}

/// Runs a report's sweeps and writes its whole report into `out`: `results.json`,
/// `results.csv`, `summary.md`, the charts under `charts/`, the summary and its charts as
/// one page in `report.html`, and the wall-clock figures in `timing.json`. `sweeps` is the report's sweep and, optionally, a topology panel's
/// (as the built-in report has, [`Sweep::topology_panel`]), which adds the "Granularity by
/// topology" section and its files under `panel/`. `options.policies` may hold policies of
/// your own, named in the sweeps' `policies`.
pub fn report(sweeps: &[&Sweep], options: &Options, out: &Path) -> Result<Report, ReportError> {
    check_count(sweeps.len())?;
    out::check(out)?;
    let (results, timing) = run::run(sweeps, options, &|_, _| {})?;
    write(results, timing, out)
}

/// Writes the report of results already run (or merged): one [`Results`] per sweep, in the
/// order of [`report`]'s `sweeps`.
pub fn write(results: Vec<Results>, timing: Timing, out: &Path) -> Result<Report, ReportError> {
    check_count(results.len())?;
    let mut sweeps = results.into_iter();
    let results = sweeps.next().expect("a sweep's results, counted");
    let panel = sweeps.next();
    out::clear(out)?;
    let decided = recommend::Decided::new(&results);
    let decided_panel = panel.as_ref().map(recommend::Decided::new);
    let charts = render::write(&decided, decided_panel.as_ref(), out)?;
    page::write(out)?;
    let text = serde_json::to_string_pretty(&timing).expect("timing serialises");
    render::write_file(&out.join("timing.json"), &text)?;
    let recommendations = decided.recs;
    let panel_recommendations = decided_panel.map(|d| d.recs);
    Ok(Report {
        recommendations,
        panel_recommendations,
        results,
        panel,
        timing,
        charts,
    })
}
