//! The charts a report draws: per charted metric and axis, a panel per workload and disk
//! and a line per policy; and the topology panel's chart.
//!
//! Each point carries its configuration's standing in the recommendation
//! ([`crate::recommend::Recommendation::status`]): the pick is ringed and the configurations
//! the cost's limits rule out are drawn hollow, so that a chart agrees with `summary.md`'s
//! table. Values are written in a unit chosen per chart from its largest value ([`Unit`]).

use crate::chart::{format_bytes, Chart, Line, Mark, Panel, Point};
use crate::recommend::{Config, ConfigStatus, Decided, Group, Recommendation};
use crate::sweep::Sweep;
use cowlab_sim::topology::TopologyPreset;

/// What a metric measures, which sets the units it can be shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quantity {
    /// A duration in microseconds: shown in µs, ms or s.
    Microseconds,
    /// A duration in seconds: shown in s.
    Seconds,
    /// A byte count: shown in B, KiB, MiB or GiB.
    Bytes,
    /// A ratio: shown as is (×).
    Ratio,
}

/// A unit to show a chart's values in: its name and how many of the metric's own units
/// make one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Unit {
    pub(super) name: &'static str,
    pub(super) size: f64,
}

impl Quantity {
    /// The units, smallest first.
    fn units(self) -> &'static [Unit] {
        const MICROSECONDS: [Unit; 3] = [
            Unit {
                name: "µs",
                size: 1.0,
            },
            Unit {
                name: "ms",
                size: 1e3,
            },
            Unit {
                name: "s",
                size: 1e6,
            },
        ];
        const BYTES: [Unit; 4] = [
            Unit {
                name: "B",
                size: 1.0,
            },
            Unit {
                name: "KiB",
                size: 1024.0,
            },
            Unit {
                name: "MiB",
                size: 1048576.0,
            },
            Unit {
                name: "GiB",
                size: 1073741824.0,
            },
        ];
        match self {
            Quantity::Microseconds => &MICROSECONDS,
            Quantity::Seconds => &[Unit {
                name: "s",
                size: 1.0,
            }],
            Quantity::Bytes => &BYTES,
            Quantity::Ratio => &[Unit {
                name: "×",
                size: 1.0,
            }],
        }
    }

    /// The unit for values up to `largest`: the biggest in which it is at least 1, so that
    /// the axis reads "20 s" rather than "20M µs" (the smallest unit without data).
    pub(super) fn unit_for(self, largest: Option<f64>) -> Unit {
        let units = self.units();
        let fits = |u: &&Unit| largest.is_some_and(|v| v >= u.size);
        *units.iter().rev().find(fits).unwrap_or(&units[0])
    }
}

/// A chart the report draws: the metric, its label, what it measures, its scale.
pub(super) struct Metric {
    pub(super) name: &'static str,
    title: &'static str,
    /// The axis label without its unit, e.g. "hold p99".
    label: &'static str,
    quantity: Quantity,
    log: bool,
}

pub(super) const CHARTED: [Metric; 6] = [
    Metric {
        name: "hold_p99_us",
        title: "Hold latency p99",
        label: "hold p99",
        quantity: Quantity::Microseconds,
        log: true,
    },
    Metric {
        name: "copy_seconds",
        title: "Copy time",
        label: "copy time",
        quantity: Quantity::Seconds,
        log: true,
    },
    Metric {
        name: "preserved_bytes",
        title: "Bytes preserved for writes",
        label: "preserved",
        quantity: Quantity::Bytes,
        log: true,
    },
    // Both amplifications on linear axes, so that the two charts read alike: copy-on-write's
    // own is 0 wherever nothing was preserved (offline always), which a log axis cannot show;
    // the whole write amplification counts the volume's copy too, so it stays far from 0.
    Metric {
        name: "write_amplification",
        title: "Write amplification",
        label: "device bytes written / bytes written",
        quantity: Quantity::Ratio,
        log: false,
    },
    Metric {
        name: "cow_amplification",
        title: "Copy-on-write amplification",
        label: "extra device bytes / bytes written",
        quantity: Quantity::Ratio,
        log: false,
    },
    Metric {
        name: "snapshot_peak_bytes",
        title: "Snapshot store peak",
        label: "snapshot peak",
        quantity: Quantity::Bytes,
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

    /// The other size of a configuration than the one on this axis.
    fn other(self) -> &'static str {
        match self {
            Axis::Chunk => "segment",
            Axis::Segment => "chunk",
        }
    }

    fn x_of(self, c: &Config) -> u64 {
        match self {
            Axis::Chunk => c.chunk,
            Axis::Segment => c.segment,
        }
    }

    fn other_of(self, c: &Config) -> u64 {
        match self {
            Axis::Chunk => c.segment,
            Axis::Segment => c.chunk,
        }
    }
}

/// Whether a configuration lies on the sweep's line along `axis`.
fn on_axis(points: &[crate::sweep::Point], axis: Axis, c: &Config) -> bool {
    points.iter().any(|p| {
        p.segment == c.segment
            && p.chunk == c.chunk
            && match axis {
                Axis::Chunk => p.on_chunk_axis,
                Axis::Segment => p.on_segment_axis,
            }
    })
}

/// How a configuration's point is marked, from its standing in the recommendation.
fn mark(rec: &Recommendation, c: &Config) -> Mark {
    match rec.status(c) {
        ConfigStatus::Pick => Mark::Pick,
        ConfigStatus::Eligible => Mark::Plain,
        ConfigStatus::Excluded => Mark::Excluded,
    }
}

/// A configuration's point along `axis`, in the metric's own unit (scaled later).
fn point_of(c: &Config, rec: &Recommendation, metric: &Metric, axis: Axis) -> Option<Point> {
    point_at(c, rec, metric, axis.x_of(c), axis.other_of(c))
}

/// A configuration's point at `x` (and `other`, the coordinate the tooltip also names): the
/// metric's min, mean and max over its seeds.
fn point_at(
    c: &Config,
    rec: &Recommendation,
    metric: &Metric,
    x: u64,
    other: u64,
) -> Option<Point> {
    let sp = c.spread(metric.name)?;
    Some(Point {
        x,
        other,
        lo: sp.min,
        mid: sp.mean.mean,
        hi: sp.max,
        mark: mark(rec, c),
    })
}

/// One line per variant of the sweep, of the group's configurations `keep` takes, each
/// drawn by `point`.
fn variant_lines(
    s: &Sweep,
    group: &Group,
    keep: impl Fn(&Config) -> bool,
    point: impl Fn(&Config) -> Option<Point>,
) -> Vec<Line> {
    s.variants()
        .iter()
        .map(|p| Line {
            label: p.clone(),
            points: group
                .configs
                .iter()
                .filter(|c| &c.policy == p && keep(c))
                .filter_map(&point)
                .collect(),
        })
        .collect()
}

/// The panel's note when its pick is not drawn on this axis, so that a reader looks for it
/// in the summary's table and the other chart rather than missing it.
fn pick_note(rec: &Recommendation, points: &[crate::sweep::Point], axis: Axis) -> String {
    match &rec.best {
        Some(best) if !on_axis(points, axis, &best.config) => "pick not on this axis".into(),
        Some(_) => String::new(),
        None => "nothing meets the cost's limits".into(),
    }
}

/// Rewrites a chart's values from the metric's own unit into the one that reads best for
/// the chart's largest value, and names it in the y label and `y_unit`.
fn in_unit(mut chart: Chart, metric: &Metric) -> Chart {
    let largest = chart
        .panels
        .iter()
        .flat_map(|p| &p.lines)
        .flat_map(|l| &l.points)
        .flat_map(|p| [p.lo, p.mid, p.hi])
        .filter(|v| v.is_finite())
        .map(f64::abs)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        });
    let unit = metric.quantity.unit_for(largest);
    for p in chart
        .panels
        .iter_mut()
        .flat_map(|p| &mut p.lines)
        .flat_map(|l| &mut l.points)
    {
        p.lo /= unit.size;
        p.mid /= unit.size;
        p.hi /= unit.size;
    }
    chart.y_label = format!("{} ({})", metric.label, unit.name);
    chart.y_unit = unit.name.into();
    chart
}

/// The worker count a panel of a size chart shows: its pick's, or the sweep's first when
/// nothing meets the limits (in a sweep without workers, the one count).
fn panel_workers(s: &Sweep, rec: &Recommendation) -> u32 {
    rec.best.as_ref().map_or(s.workers[0], |b| b.config.workers)
}

/// One chart: a panel per workload and disk, a line per policy, the spread over seeds; each
/// group's pick ringed and the configurations its cost rules out hollow. In a sweep of
/// workers, each panel at its pick's worker count (its note says which).
pub(super) fn chart_of(decided: &Decided, metric: &Metric, axis: Axis) -> Chart {
    let s = &decided.results.sweep;
    let g = &s.granularity;
    let points = g.points();
    let panels = decided
        .cells()
        .map(|(group, rec)| {
            let workers = panel_workers(s, rec);
            let note = pick_note(rec, &points, axis);
            let note = match (s.by_workers(), note.is_empty()) {
                (false, _) => note,
                (true, true) => format!("{workers} workers"),
                (true, false) => format!("{workers} workers; {note}"),
            };
            Panel {
                title: group.title(),
                note,
                lines: variant_lines(
                    s,
                    group,
                    |c| on_axis(&points, axis, c) && c.workers == workers,
                    |c| point_of(c, rec, metric, axis),
                ),
            }
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
    let fixed = match s.by_workers() {
        true => format!("{fixed}; workers: the pick's"),
        false => fixed,
    };
    let chart = Chart {
        title: format!(
            "{} by {} size ({fixed}; line: mean over the seeds, band: min to max)",
            metric.title,
            axis.name(),
        ),
        x_label: x_label.into(),
        x_name: axis.name().into(),
        other_name: axis.other().into(),
        log_y: metric.log,
        panels,
        ..Chart::default()
    };
    in_unit(chart, metric)
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
/// along the chunk sweep, each topology's pick ringed.
pub(super) fn topology_chart(panel: &Decided, metric: &Metric) -> Chart {
    let s = &panel.results.sweep;
    let points = s.granularity.points();
    let mut lines = Vec::new();
    let mut titles = Vec::new();
    for (group, rec) in panel.cells() {
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
            points: chunk_line(group, rec, &best.config, &points, metric),
        });
    }
    let chart = Chart {
        title: format!(
            "{} by chunk size per topology (segment = max(chunk, {}); each topology's recommended policy; line: mean over the seeds)",
            metric.title,
            format_bytes(s.granularity.segment_for_chunks)
        ),
        x_label: "copy-on-write chunk size".into(),
        x_name: Axis::Chunk.name().into(),
        other_name: Axis::Chunk.other().into(),
        log_y: metric.log,
        panels: vec![Panel {
            title: titles.join("; "),
            note: String::new(),
            lines,
        }],
        ..Chart::default()
    };
    in_unit(chart, metric)
}

/// The points of a pick's policy (at its worker count) on the chunk sweep of a group,
/// marked by the group's recommendation.
fn chunk_line(
    group: &Group,
    rec: &Recommendation,
    pick: &Config,
    points: &[crate::sweep::Point],
    metric: &Metric,
) -> Vec<Point> {
    group
        .configs
        .iter()
        .filter(|c| c.policy == pick.policy && c.workers == pick.workers)
        .filter(|c| on_axis(points, Axis::Chunk, c))
        .filter_map(|c| point_of(c, rec, metric, Axis::Chunk))
        .collect()
}

/// The metrics charted against workers in a sweep of workers: the cost's (as the topology
/// panel's, [`panel_metric`]) and the copy time.
pub(super) fn workers_metrics(s: &Sweep) -> Vec<&'static Metric> {
    let cost = panel_metric(s);
    let copy = CHARTED
        .iter()
        .find(|m| m.name == "copy_seconds")
        .expect("copy time is charted");
    match cost.name == copy.name {
        true => vec![cost],
        false => vec![cost, copy],
    }
}

/// The segment and chunk a panel of a workers chart is drawn at: its pick's, or without a
/// pick the first pair on both the chunk and the segment sweep, else the sweep's first.
fn workers_point(rec: &Recommendation, points: &[crate::sweep::Point]) -> (u64, u64) {
    match &rec.best {
        Some(b) => (b.config.segment, b.config.chunk),
        None => points
            .iter()
            .find(|p| p.on_chunk_axis && p.on_segment_axis)
            .or(points.first())
            .map_or((0, 0), |p| (p.segment, p.chunk)),
    }
}

/// A metric against the worker count: a panel per workload and disk (and topology), a line
/// per policy, every line of a panel at that panel's pick's segment and chunk
/// ([`workers_point`]), so that only the workers vary; marked as the other charts.
pub(super) fn workers_chart(decided: &Decided, metric: &Metric) -> Chart {
    let s = &decided.results.sweep;
    let points = s.granularity.points();
    let panels = decided
        .cells()
        .map(|(group, rec)| {
            let (segment, chunk) = workers_point(rec, &points);
            let whose = match rec.best {
                Some(_) => "the pick's",
                None => "no pick",
            };
            Panel {
                title: format!(
                    "{}: segment {}, chunk {}",
                    group.title(),
                    format_bytes(segment),
                    format_bytes(chunk)
                ),
                note: whose.into(),
                lines: variant_lines(
                    s,
                    group,
                    |c| c.segment == segment && c.chunk == chunk,
                    |c| point_at(c, rec, metric, u64::from(c.workers), c.segment),
                ),
            }
        })
        .collect();
    let chart = Chart {
        title: format!(
            "{} by copy workers (each panel at its pick's segment and chunk; line: mean over the seeds, band: min to max)",
            metric.title
        ),
        x_label: "copy workers".into(),
        x_name: "workers".into(),
        other_name: "segment".into(),
        x_counts: true,
        log_y: metric.log,
        panels,
        ..Chart::default()
    };
    in_unit(chart, metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_the_biggest_the_largest_value_fills() {
        let us = Quantity::Microseconds;
        assert_eq!(us.unit_for(Some(950.0)).name, "µs");
        assert_eq!(us.unit_for(Some(3_000.0)).name, "ms");
        assert_eq!(us.unit_for(Some(1_000_000.0)).name, "s");
        assert_eq!(us.unit_for(Some(120e6)).name, "s");
        assert_eq!(us.unit_for(None).name, "µs");
        assert_eq!(us.unit_for(Some(0.0)).name, "µs");
        let bytes = Quantity::Bytes;
        assert_eq!(bytes.unit_for(Some(1000.0)).name, "B");
        assert_eq!(bytes.unit_for(Some(64.0 * 1024.0)).name, "KiB");
        assert_eq!(bytes.unit_for(Some(3.0 * 1048576.0)).name, "MiB");
        assert_eq!(bytes.unit_for(Some(2e12)).name, "GiB");
        assert_eq!(Quantity::Seconds.unit_for(Some(1e-3)).name, "s");
    }

    #[test]
    fn a_chart_is_rewritten_in_its_unit() {
        let metric = &CHARTED[0];
        let point = |mid: f64| Point {
            x: 4096,
            lo: mid / 2.0,
            mid,
            hi: mid * 2.0,
            ..Point::default()
        };
        let chart = Chart {
            panels: vec![Panel {
                lines: vec![Line {
                    label: "a".into(),
                    points: vec![point(2_500.0), point(40_000_000.0)],
                }],
                ..Panel::default()
            }],
            ..Chart::default()
        };
        let shown = in_unit(chart, metric);
        assert_eq!(shown.y_label, "hold p99 (s)");
        assert_eq!(shown.y_unit, "s");
        let mids: Vec<f64> = shown.panels[0].lines[0]
            .points
            .iter()
            .map(|p| p.mid)
            .collect();
        assert_eq!(mids, [0.0025, 40.0]);
    }
}
