//! Writing a report: `results.json`, `results.csv`, `summary.md` and the charts. Everything
//! here is a function of the results alone, so the same results give the same bytes.

use crate::chart::{self, format_bytes, Chart, Line, Panel, Point};
use crate::recommend::{groups, ranked, recommend, Config, Group, Pick, Recommendation};
use crate::results::Results;
use crate::sweep::{Mode, Sweep};
use crate::ReportError;
use cowlab_model::names::joined;
use cowlab_sim::topology::TopologyPreset;
use cowlab_sim::workload::PatternName;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A chart the report draws: the metric, its label with units, its scale.
struct Metric {
    name: &'static str,
    title: &'static str,
    label: &'static str,
    /// Multiply the metric by this for the axis (bytes to MiB).
    scale: f64,
    log: bool,
}

const CHARTED: [Metric; 5] = [
    Metric {
        name: "hold_p99_us",
        title: "Hold latency p99",
        label: "hold p99 (µs)",
        scale: 1.0,
        log: true,
    },
    Metric {
        name: "copy_seconds",
        title: "Copy time",
        label: "copy time (s)",
        scale: 1.0,
        log: true,
    },
    Metric {
        name: "preserved_bytes",
        title: "Bytes preserved for writes",
        label: "preserved (MiB)",
        scale: 1.0 / (1 << 20) as f64,
        log: true,
    },
    Metric {
        name: "write_amplification",
        title: "Write amplification",
        label: "device bytes written / bytes written (×)",
        scale: 1.0,
        log: true,
    },
    Metric {
        name: "snapshot_peak_bytes",
        title: "Snapshot store peak",
        label: "snapshot peak (MiB)",
        scale: 1.0 / (1 << 20) as f64,
        log: true,
    },
];

/// The two axes a chart can have.
#[derive(Clone, Copy)]
enum Axis {
    Chunk,
    Segment,
}

impl Axis {
    fn name(self) -> &'static str {
        match self {
            Axis::Chunk => "chunk",
            Axis::Segment => "segment",
        }
    }
}

/// Where the topology panel's results and sweep file go, under the report's folder.
pub const PANEL_DIR: &str = "panel";

/// Writes the report into `out` (created if missing), with the topology panel's section,
/// chart and files (under [`PANEL_DIR`]) when `panel` is given; returns the chart files'
/// paths.
pub fn write(
    results: &Results,
    panel: Option<&Results>,
    out: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let charts = out.join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| ReportError::io(&charts, e))?;
    write_file(&out.join("results.json"), &results.to_json())?;
    write_file(&out.join("results.csv"), &results.to_csv())?;
    let mut drawn = Vec::new();
    for metric in &CHARTED {
        for axis in [Axis::Chunk, Axis::Segment] {
            let c = chart_of(results, metric, axis);
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
    let mut panel_chart = None;
    if let Some(p) = panel {
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
        chart::render(&topology_chart(p, metric), &svg, &png)?;
        panel_chart = Some(png);
    }
    let text = summary(results, &drawn, out);
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

/// One chart: a panel per workload and disk, a line per policy, the spread over seeds.
fn chart_of(results: &Results, metric: &Metric, axis: Axis) -> Chart {
    let s = &results.sweep;
    let g = &s.granularity;
    let points = g.points();
    let on_axis = |c: &Config| {
        points.iter().any(|p| {
            p.segment == c.segment
                && p.chunk == c.chunk
                && match axis {
                    Axis::Chunk => p.on_chunk_axis,
                    Axis::Segment => p.on_segment_axis,
                }
        })
    };
    let panels = groups(results)
        .into_iter()
        .map(|group| Panel {
            title: group.title(),
            lines: s
                .variants()
                .iter()
                .map(|p| Line {
                    label: p.clone(),
                    points: group
                        .configs
                        .iter()
                        .filter(|c| &c.policy == p && on_axis(c))
                        .filter_map(|c| {
                            let sp = c.spread(metric.name)?;
                            Some(Point {
                                x: match axis {
                                    Axis::Chunk => c.chunk,
                                    Axis::Segment => c.segment,
                                },
                                lo: sp.min * metric.scale,
                                mid: sp.median * metric.scale,
                                hi: sp.max * metric.scale,
                            })
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let (x_label, fixed) = match axis {
        Axis::Chunk => (
            "copy-on-write chunk size",
            format!(
                "segment = max(chunk, {})",
                format_bytes(g.segment_for_chunks)
            ),
        ),
        Axis::Segment => (
            "segment size",
            format!(
                "chunk = min(segment, {})",
                format_bytes(g.chunk_for_segments)
            ),
        ),
    };
    Chart {
        title: format!(
            "{} by {} size ({fixed}; line: median of {} seeds, band: min to max)",
            metric.title,
            axis.name(),
            s.seeds
        ),
        x_label: x_label.into(),
        y_label: metric.label.into(),
        log_y: metric.log,
        panels,
    }
}

/// The metric the topology panel charts: the cost's, when it is one of the charted ones.
fn panel_metric(s: &Sweep) -> &'static Metric {
    let name = match s.cost.weights.is_empty() {
        true => s.cost.minimize.as_str(),
        false => "copy_seconds",
    };
    CHARTED
        .iter()
        .find(|m| m.name == name)
        .unwrap_or(&CHARTED[0])
}

/// The topology panel's chart: one line per topology, each for its recommended policy,
/// along the chunk sweep.
fn topology_chart(panel: &Results, metric: &Metric) -> Chart {
    let s = &panel.sweep;
    let points = s.granularity.points();
    let recs = recommend(panel);
    let mut lines = Vec::new();
    let mut titles = Vec::new();
    for (group, rec) in groups(panel).into_iter().zip(&recs) {
        let topology = group
            .topology
            .clone()
            .unwrap_or_else(|| TopologyPreset::Separate.name().into());
        let Some(best) = &rec.best else {
            lines.push(Line {
                label: format!("{topology}: none meets the limits"),
                points: Vec::new(),
            });
            continue;
        };
        let title = format!("{}, {}", group.workload, group.disk);
        if !titles.contains(&title) {
            titles.push(title);
        }
        lines.push(Line {
            label: format!("{topology}: {}", best.config.policy),
            points: chunk_line(&group, &best.config.policy, &points, metric),
        });
    }
    Chart {
        title: format!(
            "{} by chunk size per topology (segment = max(chunk, {}); each topology's recommended policy; seed {})",
            metric.title,
            format_bytes(s.granularity.segment_for_chunks),
            s.seed
        ),
        x_label: "copy-on-write chunk size".into(),
        y_label: metric.label.into(),
        log_y: metric.log,
        panels: vec![Panel {
            title: titles.join("; "),
            lines,
        }],
    }
}

/// A policy's points on the chunk sweep of a group.
fn chunk_line(
    group: &Group,
    policy: &str,
    points: &[crate::sweep::Point],
    metric: &Metric,
) -> Vec<Point> {
    group
        .configs
        .iter()
        .filter(|c| c.policy == policy)
        .filter(|c| {
            points
                .iter()
                .any(|p| p.on_chunk_axis && p.segment == c.segment && p.chunk == c.chunk)
        })
        .filter_map(|c| {
            let sp = c.spread(metric.name)?;
            Some(Point {
                x: c.chunk,
                lo: sp.min * metric.scale,
                mid: sp.median * metric.scale,
                hi: sp.max * metric.scale,
            })
        })
        .collect()
}

/// What each preset of the panel is (`sim/src/topology/mod.rs`), or the file it names.
fn topology_words(name: &str) -> String {
    let san = cowlab_sim::topology::SAN_LINK;
    let behind_a_switch = |raid: &str| {
        format!(
            "{raid}the source and destination behind a switch, links of {} µs and {} MB/s",
            san.latency_ns as f64 / 1000.0,
            san.bandwidth / 1_000_000
        )
    };
    match TopologyPreset::parse(name) {
        Ok(TopologyPreset::Separate) => "a plain disk per role".into(),
        Ok(TopologyPreset::Shared) => "one disk for every role".into(),
        Ok(TopologyPreset::Raid5Source) => {
            "the source a RAID-5 of four such disks, 64 KiB units".into()
        }
        Ok(TopologyPreset::San) => behind_a_switch(""),
        Ok(TopologyPreset::Raid5San) => behind_a_switch("a RAID-5 source, "),
        Err(_) => format!("the topology file {name}"),
    }
}

/// The summary with the "Granularity by topology" section inserted before "## Charts".
fn with_panel(text: String, panel: &Results, chart: &Path, out: &Path) -> String {
    let mut md = String::new();
    granularity_by_topology(panel, chart, out, &mut md);
    match text.find("## Charts\n") {
        Some(i) => format!("{}{md}{}", &text[..i], &text[i..]),
        None => text + &md,
    }
}

/// The topology panel: per topology, the recommendation and the runner-up.
fn granularity_by_topology(panel: &Results, chart: &Path, out: &Path, md: &mut String) {
    let s = &panel.sweep;
    md.push_str("## Granularity by topology\n\n");
    let described: Vec<String> = s
        .topologies
        .iter()
        .map(|t| format!("**{t}** ({})", topology_words(t)))
        .collect();
    let seeds: Vec<String> = (0..s.seeds as u64)
        .map(|k| s.seed.wrapping_add(k).to_string())
        .collect();
    let _ = writeln!(
        md,
        "A small sweep of its own: the {} workload on the {} ({} writes at {}/s), chunk sizes {} \
         with the segment at max(chunk, {}), every policy, seed {}, on {}. The same cost \
         decides, with each topology's own fastest copy with no writes as the copy-time \
         reference. Its runs are in `{PANEL_DIR}/results.csv` and `{PANEL_DIR}/results.json`, \
         and its sweep as a file in `{PANEL_DIR}/sweep.toml` (`cowlab report --config` \
         reruns it). Computed in sharded runs too: each shard runs its slice of it, and \
         `cowlab merge` joins them.\n",
        joined(&s.workloads),
        joined(&s.disks),
        s.writes,
        s.disks
            .iter()
            .map(|d| s.rates.get(d).copied().unwrap_or(0.0).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        sizes(&s.granularity.chunk_sizes),
        size(s.granularity.segment_for_chunks),
        seeds.join(", "),
        described.join(", ")
    );
    md.push_str("| topology | policy | segment | chunk | hold p99 (µs) | copy (s) | copy / fastest copy | runner-up | runner-up loses by |\n");
    md.push_str("|---|---|---|---|---:|---:|---:|---|---|\n");
    for r in recommend(panel) {
        let topology = r
            .topology
            .as_deref()
            .unwrap_or(TopologyPreset::Separate.name());
        let Some(best) = &r.best else {
            let _ = writeln!(
                md,
                "| {topology} | none of {} configurations meets the cost's limits | | | | | | | |",
                r.configs
            );
            continue;
        };
        let cells = pick_cells(panel, &r, best);
        let _ = writeln!(md, "| {topology} | {cells} |");
    }
    let rel = chart
        .strip_prefix(out)
        .unwrap_or(chart)
        .to_string_lossy()
        .replace('\\', "/");
    let _ = writeln!(
        md,
        "\nEach topology's recommended policy along the whole chunk sweep (an SVG beside the \
         PNG). The cost's limits rule some chunk sizes out (smaller chunks slow the copy), so \
         the recommendation need not be a line's lowest point.\n\n![granularity by topology]({rel})\n"
    );
}

fn size(b: u64) -> String {
    format_bytes(b)
}

fn sizes(v: &[u64]) -> String {
    match v {
        [] => "none".into(),
        [one] => size(*one),
        [first, .., last] if v.windows(2).all(|w| w[1] == 2 * w[0]) => {
            format!("{} to {} (powers of two)", size(*first), size(*last))
        }
        _ => v.iter().map(|b| size(*b)).collect::<Vec<_>>().join(", "),
    }
}

/// A figure for a table: at most four significant digits, no exponent.
fn num(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(0.0) => "0".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn mib(v: Option<f64>) -> String {
    num(v.map(|b| b / (1 << 20) as f64))
}

/// The summary: violations first, what was swept, the recommendations, the charts, a
/// table per workload, and every run's invariant status.
pub fn summary(results: &Results, charts: &[PathBuf], out: &Path) -> String {
    let s = &results.sweep;
    let mut md = String::from("# Granularity report\n\n");
    violations(results, &mut md);
    swept(s, results, &mut md);
    let recs = recommend(results);
    recommendations(results, &recs, &mut md);
    md.push_str("## Charts\n\n");
    md.push_str(if s.by_topology() {
        "Each chart has a panel per workload, disk and topology and a line per policy: the line is the \
         median over the seeds, the band their minimum to maximum. The x axis is the chunk \
         size (with the segment at its sweep's rule) or the segment size, doubling at each \
         step; y axes are logarithmic. Every chart is also an SVG beside its PNG.\n\n"
    } else {
        "Each chart has a panel per workload and disk and a line per policy: the line is the \
         median over the seeds, the band their minimum to maximum. The x axis is the chunk \
         size (with the segment at its sweep's rule) or the segment size, doubling at each \
         step; y axes are logarithmic. Every chart is also an SVG beside its PNG.\n\n"
    });
    for c in charts {
        let rel = c
            .strip_prefix(out)
            .unwrap_or(c)
            .to_string_lossy()
            .replace('\\', "/");
        let name = c
            .file_stem()
            .map_or(String::new(), |n| n.to_string_lossy().replace('_', " "));
        let _ = writeln!(md, "![{name}]({rel})\n");
    }
    for w in &s.workloads {
        workload_table(results, *w, &mut md);
    }
    faults(results, &mut md);
    invariants(results, &mut md);
    md
}

fn violations(results: &Results, md: &mut String) {
    let bad: Vec<_> = results.runs.iter().filter(|r| !r.sound()).collect();
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "> **Invariant violated in {} of {} runs.** These runs are left out of the \
         recommendations; the first {}:\n>",
        bad.len(),
        results.runs.len(),
        bad.len().min(20)
    );
    for r in bad.iter().take(20) {
        let _ = writeln!(
            md,
            "> - {}, {}, {}{}, segment {}, chunk {}, seed {}: {}",
            r.policy,
            r.workload,
            r.disk,
            r.topology
                .as_ref()
                .map_or(String::new(), |t| format!(", {t}")),
            size(r.segment_size_bytes),
            size(r.cow_size_bytes),
            r.seed,
            r.metrics.invariants
        );
    }
    md.push('\n');
}

fn swept(s: &Sweep, results: &Results, md: &mut String) {
    let g = &s.granularity;
    md.push_str("## What was swept\n\n");
    let _ = writeln!(
        md,
        "- **Policies**: {} (offline is the baseline: every write waits for the whole copy).",
        joined(&s.policies)
    );
    let _ = writeln!(
        md,
        "- **Granularity** ({} pairs): chunk sizes {} with the segment at max(chunk, {}); segment sizes {} with the chunk at min(segment, {}){}.",
        g.points().len(),
        sizes(&g.chunk_sizes),
        size(g.segment_for_chunks),
        sizes(&g.segment_sizes),
        size(g.chunk_for_segments),
        if g.mode == Mode::Grid { "; and every pair of them (grid)" } else { "" }
    );
    let workloads: Vec<String> = s
        .workloads
        .iter()
        .map(|w| match w {
            PatternName::Zipf => format!("{w} (s = {})", s.zipf_s),
            PatternName::Hotspot => format!(
                "{w} ({}% of requests to {})",
                s.hot_fraction * 100.0,
                size(s.hot_size)
            ),
            PatternName::Uniform | PatternName::Sequential => w.to_string(),
        })
        .collect();
    let rates: Vec<String> = s
        .disks
        .iter()
        .map(|d| format!("{d} {}/s", s.rates[d]))
        .collect();
    let _ = writeln!(
        md,
        "- **Workloads**: {}; {} writes of {} per run, open loop at {}{}.",
        workloads.join(", "),
        s.writes,
        s.write_size,
        rates.join(", "),
        if s.read_fraction > 0.0 {
            format!(
                ", {}% of requests reads ({}% of them of the point-in-time image)",
                s.read_fraction * 100.0,
                s.image_fraction * 100.0
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        md,
        "- **Disks**: {} (queue depth {}; {}){}.",
        joined(&s.disks),
        s.queue_depth,
        match s.by_topology() {
            true => "devices and links as each topology places them",
            false => "source, destination and snapshot on separate devices",
        },
        s.speed.map_or(String::new(), |b| format!(
            "; copier speed limit {}/s",
            size(b)
        ))
    );
    if s.by_topology() {
        let described: Vec<String> = s
            .topologies
            .iter()
            .map(|t| format!("{t} ({})", topology_words(t)))
            .collect();
        let _ = writeln!(
            md,
            "- **Topologies**: {}; each disk model in each (recommendations per workload, disk and topology).",
            described.join(", ")
        );
    }
    let seeds: Vec<String> = (0..s.seeds as u64)
        .map(|k| s.seed.wrapping_add(k).to_string())
        .collect();
    let _ = writeln!(
        md,
        "- **Volume** {} of {} blocks, {} copy order, seeds {}, invariants checked: {}{}.",
        size(s.volume),
        size(s.block_size),
        s.order,
        seeds.join(", "),
        s.check,
        s.mutant
            .as_ref()
            .map_or(String::new(), |m| format!(", mutant **{m}** switched on"))
    );
    let _ = writeln!(
        md,
        "- **Runs**: {}, and {} copies with no writes (the reference of the copy-time limit).",
        results.runs.len(),
        results.no_writes.len()
    );
    let _ = writeln!(md, "- **Cost**: {}.\n", cost_words(s));
}

fn cost_words(s: &Sweep) -> String {
    let c = &s.cost;
    let what = match c.weights.is_empty() {
        true => format!("the lowest median {}", c.minimize),
        false => {
            let terms: Vec<String> = c
                .weights
                .iter()
                .map(|(m, w)| format!("{w} × {m}"))
                .collect();
            format!(
                "the lowest weighted sum {} (each metric over its median among the candidates)",
                terms.join(" + ")
            )
        }
    };
    let mut limits = vec!["every invariant held".to_string()];
    if let Some(f) = c.copy_within {
        limits.push(format!(
            "the median copy time is within {f}× the fastest copy with no writes on that disk (over the swept segment sizes)"
        ));
    }
    if let Some(b) = c.max_preserved_bytes {
        limits.push(format!("at most {} preserved", size(b)));
    }
    if let Some(b) = c.max_snapshot_bytes {
        limits.push(format!("a snapshot peak of at most {}", size(b)));
    }
    format!("{what}, among configurations where {}", limits.join(", "))
}

fn describe(p: &Pick) -> String {
    format!(
        "{}, segment {}, chunk {}",
        p.config.policy,
        size(p.config.segment),
        size(p.config.chunk)
    )
}

/// How much the runner-up loses: in percent of the best's cost, or in the metric's units
/// when the best costs nothing.
fn loss(best: &Pick, other: &Pick, s: &Sweep) -> String {
    let d = other.score - best.score;
    let unit = if s.cost.weights.is_empty() {
        format!(" ({})", s.cost.minimize)
    } else {
        String::new()
    };
    if d == 0.0 {
        return format!("ties{unit}; ranked by copy time");
    }
    match best.score > 0.0 {
        true => format!("+{:.1}%{unit}", 100.0 * d / best.score),
        false => format!("+{}{unit}", num(Some(d))),
    }
}

fn recommendations(results: &Results, recs: &[Recommendation], md: &mut String) {
    let s = &results.sweep;
    let by_topology = s.by_topology();
    md.push_str("## Recommendations\n\n");
    md.push_str(match by_topology {
        true => "| workload | disk | topology | policy | segment | chunk | hold p99 (µs) | copy (s) | copy / fastest copy | runner-up | runner-up loses by |\n|---|---|---|---|---|---|---:|---:|---:|---|---|\n",
        false => "| workload | disk | policy | segment | chunk | hold p99 (µs) | copy (s) | copy / fastest copy | runner-up | runner-up loses by |\n|---|---|---|---|---|---:|---:|---:|---|---|\n",
    });
    for r in recs {
        // The disk cell, with the topology's column in a sweep of topologies.
        let disk = match &r.topology {
            Some(t) => format!("{} | {t}", r.disk),
            None => r.disk.to_string(),
        };
        let Some(best) = &r.best else {
            let _ = writeln!(
                md,
                "| {} | {disk} | none of {} configurations meets the cost's limits | | | | | | | |",
                r.workload, r.configs
            );
            continue;
        };
        let cells = pick_cells(results, r, best);
        let _ = writeln!(md, "| {} | {disk} | {cells} |", r.workload);
    }
    md.push('\n');
}

/// A recommendation's cells of a table row: the policy, segment and chunk picked, their hold
/// p99, copy time and copy time over the fastest copy, and the runner-up and its loss.
fn pick_cells(results: &Results, r: &Recommendation, best: &Pick) -> String {
    let c = &best.config;
    let base = results.fastest_copy(r.disk, r.topology.as_deref());
    let ratio = c.median("copy_seconds").zip(base).map(|(a, b)| a / b);
    let (runner, by) = match &r.runner_up {
        Some(u) => (describe(u), loss(best, u, &results.sweep)),
        None => ("none".into(), String::new()),
    };
    format!(
        "**{}** | **{}** | **{}** | {} | {} | {} | {} | {}",
        c.policy,
        size(c.segment),
        size(c.chunk),
        num(c.median("hold_p99_us")),
        num(c.median("copy_seconds")),
        num(ratio),
        runner,
        by
    )
}

/// Per disk and policy of a workload: that policy's best configuration under the cost.
fn workload_table(results: &Results, workload: PatternName, md: &mut String) {
    let s = &results.sweep;
    let _ = writeln!(md, "## Workload: {workload}\n");
    md.push_str(
        "Each policy's best segment and chunk under the cost (medians over the seeds).\n\n",
    );
    md.push_str(match s.by_topology() {
        true => "| disk | topology | policy | segment | chunk | hold p99 (µs) | copy (s) | preserved (MiB) | write amp. | snapshot peak (MiB) | throughput ratio |\n|---|---|---|---|---|---:|---:|---:|---:|---:|---:|\n",
        false => "| disk | policy | segment | chunk | hold p99 (µs) | copy (s) | preserved (MiB) | write amp. | snapshot peak (MiB) | throughput ratio |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|\n",
    });
    for g in groups(results)
        .into_iter()
        .filter(|g| g.workload == workload)
    {
        let picks = ranked(&g, results, &s.cost);
        let disk = match &g.topology {
            Some(t) => format!("{} | {t}", g.disk),
            None => g.disk.to_string(),
        };
        for p in &s.variants() {
            let Some(pick) = picks.iter().find(|k| &k.config.policy == p) else {
                let _ = writeln!(md, "| {disk} | {p} | none meets the limits | | | | | | | |");
                continue;
            };
            let c = &pick.config;
            let _ = writeln!(
                md,
                "| {disk} | {p} | {} | {} | {} | {} | {} | {} | {} | {} |",
                size(c.segment),
                size(c.chunk),
                num(c.median("hold_p99_us")),
                num(c.median("copy_seconds")),
                mib(c.median("preserved_bytes")),
                num(c.median("write_amplification")),
                mib(c.median("snapshot_peak_bytes")),
                num(c.median("throughput_ratio"))
            );
        }
    }
    md.push('\n');
}

/// What the faults did, per policy and error policy (only in a sweep with faults): sums
/// over every run of that pair.
fn faults(results: &Results, md: &mut String) {
    let s = &results.sweep;
    let Some(plan) = &s.faults else { return };
    md.push_str("## Faults\n\n");
    let _ = writeln!(
        md,
        "Every run followed the plan `{plan}`. Sums over the runs of each policy and error \
         policy (a copy fails at most once per run).\n"
    );
    md.push_str("| policy | on error | runs | failed copies | failed writes | retries | restarts | restart time (s) |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for p in &s.policies {
        for e in &s.on_error {
            let runs: Vec<_> = results
                .runs
                .iter()
                .filter(|r| &r.policy == p && r.on_error == Some(*e))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let sum = |f: fn(&cowlab_sim::Metrics) -> u64| -> u64 {
                runs.iter().map(|r| f(&r.metrics)).sum()
            };
            let restart: f64 = runs.iter().map(|r| r.metrics.restart_seconds).sum();
            let _ = writeln!(
                md,
                "| {p} | {e} | {} | {} | {} | {} | {} | {restart:.3} |",
                runs.len(),
                sum(|m| m.failed_copies),
                sum(|m| m.failed_writes),
                sum(|m| m.retries),
                sum(|m| m.restarts),
            );
        }
    }
    md.push('\n');
}

fn invariants(results: &Results, md: &mut String) {
    md.push_str("## Invariants\n\n");
    let count = |status: &str| {
        results
            .runs
            .iter()
            .filter(|r| r.metrics.invariants == status)
            .count()
    };
    let (checked, unchecked) = (count("checked"), count("not-checked"));
    let broken = results.runs.len() - checked - unchecked;
    let _ =
        writeln!(
        md,
        "Of {} runs: {checked} checked and held, {unchecked} not checked (no data kept at this \
         check level), {broken} broke an invariant{}. Each run's status is in the \
         `invariants` column of `results.csv`.",
        results.runs.len(),
        if broken > 0 { " (listed at the top)" } else { "" }
    );
}
