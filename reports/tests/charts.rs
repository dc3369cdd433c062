//! The charts agree with `summary.md`'s table: in a quick report's hold-latency-by-chunk chart,
//! each panel's ringed marker is drawn where the group's pick (`Recommendation::best`) lies —
//! its chunk on the x axis, its mean on the y axis, read back through the panel's axes — and
//! every configuration the cost rules out is drawn hollow, every other one filled; and the
//! charts are the same bytes on one thread or two.
//!
//! The checker reads the SVG with an XML parser: the `<g class="panel">` and
//! `<g class="marker …">` elements that `reports/src/chart.rs` writes. The last tests show it
//! fails on a chart whose pick is drawn at another configuration.

mod common;
use common::{quick, scratch};
use cowlab_reports::chart::{self, Chart, Line, Mark, Panel, Point};
use cowlab_reports::recommend::{self, ConfigStatus};
use cowlab_reports::report;
use cowlab_reports::run::Options;
use resvg::usvg::roxmltree;
use std::collections::BTreeMap;

/// Microseconds in one of a chart's time units.
fn microseconds_in(unit: &str) -> f64 {
    match unit {
        "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        other => panic!("not a time unit: {other:?}"),
    }
}

/// Two points of a panel's axes: values and the pixels they are drawn at.
#[derive(Debug)]
struct Axes {
    x_at: (f64, f64),
    x_px: (f64, f64),
    y_log: bool,
    y_at: (f64, f64),
    y_px: (f64, f64),
}

impl Axes {
    /// Where a size (log2 axis) and a value are drawn.
    fn pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let along = |v: f64, (a0, a1): (f64, f64), (p0, p1): (f64, f64)| {
            p0 + (v - a0) / (a1 - a0) * (p1 - p0)
        };
        let px = along(
            x.log2(),
            (self.x_at.0.log2(), self.x_at.1.log2()),
            self.x_px,
        );
        let py = match self.y_log {
            true => along(
                y.log10(),
                (self.y_at.0.log10(), self.y_at.1.log10()),
                self.y_px,
            ),
            false => along(y, self.y_at, self.y_px),
        };
        (px, py)
    }
}

/// A marker as the SVG draws it.
#[derive(Debug)]
struct Marker {
    class: String,
    panel: String,
    series: String,
    chunk: u64,
    segment: u64,
    mean: f64,
    unit: String,
    /// Whether its shape is white inside.
    hollow: bool,
    /// The centre of the ring around it, when it has one.
    ring: Option<(f64, f64)>,
}

/// The panels' axes (by title) and the markers of a chart's SVG.
fn read_chart(svg: &str) -> Result<(BTreeMap<String, Axes>, Vec<Marker>), String> {
    let doc = roxmltree::Document::parse(svg).map_err(|e| format!("not XML: {e}"))?;
    let attr = |n: roxmltree::Node, name: &str| -> Result<String, String> {
        n.attribute(name)
            .map(str::to_string)
            .ok_or_else(|| format!("a <g> lacks {name}"))
    };
    let pair = |text: String| -> Result<(f64, f64), String> {
        let mut parts = text.split(' ').map(str::parse::<f64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
            _ => Err(format!("not two numbers: {text:?}")),
        }
    };
    let number = |text: String| text.parse::<f64>().map_err(|e| format!("{text:?}: {e}"));
    let mut axes = BTreeMap::new();
    let mut markers = Vec::new();
    for g in doc.descendants().filter(|n| n.has_tag_name("g")) {
        let class = g.attribute("class").unwrap_or("");
        if class == "panel" {
            axes.insert(
                attr(g, "data-panel")?,
                Axes {
                    x_at: pair(attr(g, "data-x-at")?)?,
                    x_px: pair(attr(g, "data-x-px")?)?,
                    y_log: attr(g, "data-y-scale")? == "log10",
                    y_at: pair(attr(g, "data-y-at")?)?,
                    y_px: pair(attr(g, "data-y-px")?)?,
                },
            );
        } else if let Some(kind) = class.strip_prefix("marker ") {
            let shapes: Vec<_> = g.children().filter(|c| c.is_element()).collect();
            let shape = shapes
                .iter()
                .find(|c| c.attribute("class") != Some("ring") && !c.has_tag_name("desc"))
                .ok_or("a marker without a shape")?;
            let ring = match shapes.iter().find(|c| c.attribute("class") == Some("ring")) {
                Some(r) => Some((number(attr(*r, "cx")?)?, number(attr(*r, "cy")?)?)),
                None => None,
            };
            markers.push(Marker {
                class: kind.to_string(),
                panel: attr(g, "data-panel")?,
                series: attr(g, "data-series")?,
                chunk: number(attr(g, "data-chunk")?)? as u64,
                segment: number(attr(g, "data-segment")?)? as u64,
                mean: number(attr(g, "data-mean")?)?,
                unit: attr(g, "data-unit")?,
                hollow: shape.attribute("fill") == Some("#FFFFFF"),
                ring,
            });
        }
    }
    Ok((axes, markers))
}

/// What a marker should be: a configuration of a panel, its mean hold p99 in µs, and how
/// it stands in the recommendation.
#[derive(Clone, Debug)]
struct Expected {
    panel: String,
    policy: String,
    segment: u64,
    chunk: u64,
    mean_us: f64,
    status: ConfigStatus,
}

/// Checks a hold-latency-by-chunk SVG against the configurations it should show: exactly
/// the expected picks are ringed, each ring where its chunk and mean are drawn in its
/// panel; every expected configuration has its marker, hollow exactly when ruled out.
fn check_chart(svg: &str, expected: &[Expected]) -> Result<(), String> {
    let (axes, markers) = read_chart(svg)?;
    let find = |e: &Expected| {
        let mine: Vec<&Marker> = markers
            .iter()
            .filter(|m| {
                m.panel == e.panel
                    && m.series == e.policy
                    && m.chunk == e.chunk
                    && m.segment == e.segment
            })
            .collect();
        match mine[..] {
            [m] => Ok(m),
            _ => Err(format!("{} markers for {e:?}", mine.len())),
        }
    };
    for e in expected {
        let m = find(e)?;
        let want = match e.status {
            ConfigStatus::Pick => "pick",
            ConfigStatus::Eligible => "plain",
            ConfigStatus::Excluded => "excluded",
        };
        if m.class != want || m.hollow != (e.status == ConfigStatus::Excluded) {
            return Err(format!("{e:?} is drawn as {m:?}"));
        }
        if e.status != ConfigStatus::Pick {
            if m.ring.is_some() {
                return Err(format!("{e:?} is ringed"));
            }
            continue;
        }
        let value = e.mean_us / microseconds_in(&m.unit);
        if (m.mean - value).abs() > 1e-9 * value.abs() {
            return Err(format!("pick {e:?} is labelled {} {}", m.mean, m.unit));
        }
        let panel = axes
            .get(&e.panel)
            .ok_or(format!("no axes for {}", e.panel))?;
        let (x, y) = panel.pixel(e.chunk as f64, value);
        let ring = m.ring.ok_or(format!("pick {e:?} has no ring"))?;
        if (ring.0 - x).abs() > 1.5 || (ring.1 - y).abs() > 1.5 {
            return Err(format!(
                "pick {e:?} is ringed at {ring:?}, its chunk and mean are at ({x:.1}, {y:.1})"
            ));
        }
    }
    let picks = markers.iter().filter(|m| m.class == "pick").count();
    let want = expected
        .iter()
        .filter(|e| e.status == ConfigStatus::Pick)
        .count();
    if picks != want || markers.iter().filter(|m| m.ring.is_some()).count() != want {
        return Err(format!("{picks} picks drawn, {want} expected"));
    }
    Ok(())
}

#[test]
fn the_hold_latency_chart_rings_the_tables_pick_and_draws_ruled_out_points_hollow() {
    let s = quick();
    let dir = scratch("charts-quick-report");
    let threads = |n| Options {
        threads: n,
        ..Options::default()
    };
    let made = report(&[&s], &threads(2), &dir).unwrap();
    // The same charts, byte for byte, on one thread.
    let again = scratch("charts-quick-report-1-thread");
    let one = report(&[&s], &threads(1), &again).unwrap();
    assert_eq!(made.charts.len(), one.charts.len());
    for png in &made.charts {
        for file in [png.clone(), png.with_extension("svg")] {
            let name = file.file_name().unwrap();
            let other = again.join("charts").join(name);
            let same = std::fs::read(&file).unwrap() == std::fs::read(&other).unwrap();
            assert!(same, "{} differs on one thread", file.display());
        }
    }
    let g = &s.granularity;
    let on_chunk_line = |segment: u64, chunk: u64| {
        g.chunk_sizes.contains(&chunk) && segment == chunk.max(g.segment_for_chunks)
    };
    let recs = recommend::recommend(&made.results);
    let groups = recommend::groups(&made.results);
    assert_eq!(recs.len(), groups.len());
    let mut expected = Vec::new();
    for (group, rec) in groups.iter().zip(&recs) {
        for c in &group.configs {
            if !on_chunk_line(c.segment, c.chunk) {
                continue;
            }
            let Some(spread) = c.spread("hold_p99_us") else {
                continue;
            };
            expected.push(Expected {
                panel: group.title(),
                policy: c.policy.clone(),
                segment: c.segment,
                chunk: c.chunk,
                mean_us: spread.mean.mean,
                status: rec.status(c),
            });
        }
    }
    let count = |status| expected.iter().filter(|e| e.status == status).count();
    // The sweep and its cost are made so that the chart has all three kinds of marks.
    let bests: Vec<_> = recs
        .iter()
        .map(|r| {
            r.best
                .as_ref()
                .map(|b| (&b.config.policy, b.config.segment, b.config.chunk))
        })
        .collect();
    assert!(count(ConfigStatus::Pick) >= 1, "picks {bests:?}");
    assert!(count(ConfigStatus::Excluded) >= 1, "{expected:#?}");
    assert!(count(ConfigStatus::Eligible) >= 1, "{expected:#?}");
    // Each pick on the chunk line is the table's (Recommendation::best).
    for (group, rec) in groups.iter().zip(&recs) {
        let picks: Vec<_> = expected
            .iter()
            .filter(|e| e.panel == group.title() && e.status == ConfigStatus::Pick)
            .collect();
        match &rec.best {
            Some(b) if on_chunk_line(b.config.segment, b.config.chunk) => {
                assert_eq!(picks.len(), 1, "{}", group.title());
                assert_eq!(
                    (&picks[0].policy, picks[0].chunk),
                    (&b.config.policy, b.config.chunk)
                );
            }
            _ => assert!(picks.is_empty(), "{}", group.title()),
        }
    }
    let svg_path = dir.join("charts/hold_p99_us_by_chunk.svg");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    if let Err(e) = check_chart(&svg, &expected) {
        panic!("{}: {e}", svg_path.display());
    }
}

/// A one-panel chart of one line of three chunk sizes, with the given marks.
fn small_chart(marks: [Mark; 3]) -> Chart {
    let points = [16u64 << 10, 64 << 10, 256 << 10]
        .into_iter()
        .zip(marks)
        .enumerate()
        .map(|(i, (chunk, mark))| Point {
            x: chunk,
            other: 1 << 20,
            lo: 900.0 * (i + 1) as f64,
            mid: 1000.0 * (i + 1) as f64,
            hi: 1100.0 * (i + 1) as f64,
            mark,
        })
        .collect();
    Chart {
        title: "hold p99 by chunk".into(),
        x_label: "chunk".into(),
        y_label: "hold p99 (µs)".into(),
        y_unit: "µs".into(),
        x_name: "chunk".into(),
        other_name: "segment".into(),
        x_counts: false,
        log_y: true,
        panels: vec![Panel {
            title: "uniform, nvme".into(),
            note: String::new(),
            lines: vec![Line {
                label: "out-of-turn".into(),
                points,
            }],
        }],
    }
}

/// The configurations of `small_chart`, with these standings.
fn small_expected(statuses: [ConfigStatus; 3]) -> Vec<Expected> {
    [16u64 << 10, 64 << 10, 256 << 10]
        .into_iter()
        .zip(statuses)
        .enumerate()
        .map(|(i, (chunk, status))| Expected {
            panel: "uniform, nvme".into(),
            policy: "out-of-turn".into(),
            segment: 1 << 20,
            chunk,
            mean_us: 1000.0 * (i + 1) as f64,
            status,
        })
        .collect()
}

fn svg_of(chart: &Chart, name: &str) -> String {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("chart.svg");
    chart::render(chart, &svg, &dir.join("chart.png")).unwrap();
    std::fs::read_to_string(svg).unwrap()
}

#[test]
fn the_checker_fails_on_a_pick_drawn_at_another_configuration() {
    use ConfigStatus::{Eligible, Excluded, Pick};
    let svg = svg_of(
        &small_chart([Mark::Excluded, Mark::Pick, Mark::Plain]),
        "charts-small",
    );
    let right = small_expected([Excluded, Pick, Eligible]);
    check_chart(&svg, &right).unwrap();
    // The table picks the 256 KiB chunk, the chart rings the 64 KiB one.
    let moved = small_expected([Excluded, Eligible, Pick]);
    assert!(check_chart(&svg, &moved).is_err());
    // The ringed marker names the 256 KiB chunk and its mean but is drawn at the 64 KiB
    // one (and the plain marker the other way round): only the position check catches it.
    let names = |chunk: u64, mean: u32| {
        format!(r#"data-chunk="{chunk}" data-segment="1048576" data-mean="{mean}""#)
    };
    let swapped = svg
        .replacen(&names(64 << 10, 2000), "SWAP", 1)
        .replacen(&names(256 << 10, 3000), &names(64 << 10, 2000), 1)
        .replacen("SWAP", &names(256 << 10, 3000), 1);
    assert!(swapped.contains(&format!(
        r#"class="marker pick" data-panel="uniform, nvme" data-series="out-of-turn" {}"#,
        names(256 << 10, 3000)
    )));
    let other = swapped;
    let error = check_chart(&other, &moved).unwrap_err();
    assert!(error.contains("is ringed at"), "{error}");
}

#[test]
fn the_checker_fails_on_a_ruled_out_point_drawn_filled() {
    use ConfigStatus::{Eligible, Excluded, Pick};
    let svg = svg_of(
        &small_chart([Mark::Plain, Mark::Pick, Mark::Plain]),
        "charts-small-filled",
    );
    check_chart(&svg, &small_expected([Eligible, Pick, Eligible])).unwrap();
    assert!(check_chart(&svg, &small_expected([Excluded, Pick, Eligible])).is_err());
}

/// A chart of counts (copy workers) labels its x ticks and its pick as plain numbers, where
/// the same chart of sizes labels them in bytes.
#[test]
fn an_x_axis_of_counts_is_labelled_in_numbers_not_bytes() {
    let mut chart = small_chart([Mark::Plain, Mark::Pick, Mark::Plain]);
    for (p, n) in chart.panels[0].lines[0]
        .points
        .iter_mut()
        .zip([1u64, 4, 16])
    {
        p.x = n;
    }
    chart.x_name = "workers".into();
    // Each text of the SVG stands on a line of its own.
    let texts = |svg: &str| -> Vec<String> { svg.lines().map(|l| l.trim().to_string()).collect() };
    let bytes = texts(&svg_of(&chart, "workers-as-bytes"));
    assert!(
        bytes.iter().any(|t| t == "16 B"),
        "sizes are written in bytes"
    );
    chart.x_counts = true;
    let svg = svg_of(&chart, "workers-as-counts");
    let counts = texts(&svg);
    assert!(
        !counts.iter().any(|t| t.ends_with(" B")),
        "a count written as bytes"
    );
    assert!(counts.iter().any(|t| t == "16") && counts.iter().any(|t| t == "4"));
    assert!(
        svg.contains("workers 4, segment 1 MiB</desc>"),
        "the pick's description"
    );
}
