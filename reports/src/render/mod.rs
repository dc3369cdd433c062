//! Writing a report: `results.json`, `results.csv`, `summary.md` and the charts. Everything
//! here is a function of the results alone, so the same results give the same bytes.
//!
//! - [`charts`]: which charts a report draws and the data of each.
//! - [`summary`]: `summary.md`, its tables and words.
//! - [`picks`]: the recommendations' part of it: the picks, how far to trust them, and why.
//! - [`figures`]: figures in the units that read best.

pub mod charts;
pub mod figures;
pub mod picks;
pub mod summary;

use crate::chart;
use crate::recommend::Decided;
use crate::ReportError;
use charts::{
    chart_of, panel_metric, topology_chart, workers_chart, workers_metrics, Axis, CHARTED,
};
use std::path::{Path, PathBuf};
use summary::{summary, with_panel};

/// Where the topology panel's results and sweep file go, under the report's folder.
pub const PANEL_DIR: &str = "panel";

/// Writes the report into `out` (created if missing), with the topology panel's section,
/// chart and files (under [`PANEL_DIR`]) when `panel` is given; returns the chart files'
/// paths.
pub fn write(
    decided: &Decided,
    panel: Option<&Decided>,
    out: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let results = decided.results;
    let charts = out.join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| ReportError::io(&charts, e))?;
    write_file(&out.join("results.json"), &results.to_json())?;
    write_file(&out.join("results.csv"), &results.to_csv())?;
    let mut drawn = Vec::new();
    for metric in &CHARTED {
        for axis in [Axis::Chunk, Axis::Segment] {
            let c = chart_of(decided, metric, axis);
            if c.panels
                .iter()
                .all(|p| p.lines.iter().all(|l| l.points.is_empty()))
            {
                continue;
            }
            let stem = format!("{}_by_{}", metric.name, axis.name());
            let (svg, png) = (
                charts.join(format!("{stem}.svg")),
                charts.join(format!("{stem}.png")),
            );
            chart::render(&c, &svg, &png)?;
            drawn.push(png);
        }
    }
    if decided.results.sweep.by_workers() {
        for metric in workers_metrics(&decided.results.sweep) {
            let stem = format!("{}_by_workers", metric.name);
            let (svg, png) = (
                charts.join(format!("{stem}.svg")),
                charts.join(format!("{stem}.png")),
            );
            chart::render(&workers_chart(decided, metric), &svg, &png)?;
            drawn.push(png);
        }
    }
    let mut panel_chart = None;
    if let Some(d) = panel {
        let p = d.results;
        let dir = out.join(PANEL_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| ReportError::io(&dir, e))?;
        write_file(&dir.join("results.json"), &p.to_json())?;
        write_file(&dir.join("results.csv"), &p.to_csv())?;
        write_file(&dir.join("sweep.toml"), &p.sweep.to_toml())?;
        let metric = panel_metric(&p.sweep);
        let stem = format!("topology_{}_by_chunk", metric.name);
        let (svg, png) = (
            charts.join(format!("{stem}.svg")),
            charts.join(format!("{stem}.png")),
        );
        chart::render(&topology_chart(d, metric), &svg, &png)?;
        panel_chart = Some(png);
    }
    let text = summary(decided, &drawn, out);
    let text = match (panel, &panel_chart) {
        (Some(p), Some(png)) => with_panel(text, p, png, out),
        _ => text,
    };
    write_file(&out.join("summary.md"), &text)?;
    drawn.extend(panel_chart);
    Ok(drawn)
}

/// Writes a file whole, or not at all (through a temporary name in the same folder).
pub fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| ReportError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ReportError::io(path, e))
}
