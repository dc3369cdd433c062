//! The charts a report draws: per charted metric and axis, a panel per workload and disk
//! and a line per policy; and the topology panel's chart.

use crate::chart::{format_bytes, Chart, Line, Panel, Point};
use crate::recommend::{groups, recommend, Config, Group};
use crate::results::Results;
use crate::sweep::Sweep;
use cowlab_sim::topology::TopologyPreset;

/// A chart the report draws: the metric, its label with units, its scale.
pub(super) struct Metric {
    pub(super) name: &'static str,
    title: &'static str,
    label: &'static str,
    /// Multiply the metric by this for the axis (bytes to MiB).
    scale: f64,
    log: bool,
}

pub(super) const CHARTED: [Metric; 5] = [
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
pub(super) enum Axis {
    Chunk,
    Segment,
}

impl Axis {
    pub(super) fn name(self) -> &'static str {
        match self {
            Axis::Chunk => "chunk",
            Axis::Segment => "segment",
        }
    }
}

/// One chart: a panel per workload and disk, a line per policy, the spread over seeds.
pub(super) fn chart_of(results: &Results, metric: &Metric, axis: Axis) -> Chart {
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
pub(super) fn panel_metric(s: &Sweep) -> &'static Metric {
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
pub(super) fn topology_chart(panel: &Results, metric: &Metric) -> Chart {
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
