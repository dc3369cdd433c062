//! Line charts of a sweep: one panel per workload × disk, one line per
//! policy, the copy-on-write chunk (or segment) size on a log2 x axis.
//!
//! A storage designer compares policies within a panel and the shape of the
//! curves across panels, so the panels share the x range, every policy has
//! the same colour and marker everywhere, and the spread over seeds is drawn
//! as a band around the median to show whether a difference is real.
//!
//! [`render`] writes the same picture twice: SVG for documents (text stays
//! text and can be searched) and PNG for quick looks. Text is drawn with an
//! embedded DejaVu Sans, so no system font is needed.

mod axis;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

pub use axis::format_bytes;
use axis::{SizeAxis, ValueAxis};

/// A chart: a title, shared axis labels, and a grid of panels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Written at the top, e.g. "Hold latency p99 vs chunk size".
    pub title: String,
    /// Label of every panel's x axis (byte sizes), e.g. "copy-on-write chunk size".
    pub x_label: String,
    /// Label of every panel's y axis, with its unit, e.g. "hold p99 (µs)".
    pub y_label: String,
    /// Draw the y axes in log10, for values that span decades. Values ≤ 0
    /// cannot be shown on a log axis: they are drawn at a floor one decade
    /// below the decade of the smallest positive value of the chart (1 if
    /// there is none), and the captions of the panels concerned say so.
    pub log_y: bool,
    /// The panels, drawn left to right, top to bottom, e.g. one per
    /// workload × disk.
    pub panels: Vec<Panel>,
}

/// One panel of a chart: a titled plot of some lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Written above the panel, e.g. "zipf, nvme".
    pub title: String,
    /// The lines, e.g. one per policy.
    pub lines: Vec<Line>,
}

/// One line of a panel, e.g. one policy.
///
/// Colours and markers go by label, in the order in which labels first
/// appear in the chart (panel by panel, line by line). To give a policy the
/// same colour in every chart, list the same policies in the same order in
/// every chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    /// Named in the chart's legend, e.g. "out-of-turn".
    pub label: String,
    /// The measurements, in any order (they are drawn sorted by `x`).
    pub points: Vec<Point>,
}

/// One measurement: the spread of a value over seeds at one size.
///
/// A point whose `x` is 0, or whose `lo`, `mid` or `hi` is NaN or infinite,
/// is left out (a failed or missing run should not break the chart).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Size in bytes, usually a power of two; others are placed on the log
    /// scale between them.
    pub x: u64,
    /// Smallest value over the seeds: the bottom of the band.
    pub lo: f64,
    /// Median over the seeds: the line.
    pub mid: f64,
    /// Largest value over the seeds: the top of the band.
    pub hi: f64,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// An output file could not be written (missing folder, no permission, …).
    #[error("cannot write chart file {}: {source}", .path.display())]
    Io {
        /// The output file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Plotters could not draw the chart, or the PNG could not be encoded.
    #[error("cannot draw chart file {}: {message}", .path.display())]
    Draw {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The embedded font could not be loaded or could not measure text.
    #[error("cannot use the embedded DejaVu Sans font: {0}")]
    Font(String),
}

/// Renders `chart` to an SVG file and a PNG file of the same layout.
///
/// Both pictures are drawn in memory first and each file is written under
/// a temporary name in its folder and then renamed, so that a failure never
/// leaves a half-written chart behind. The SVG is byte-identical for the
/// same input.
pub fn render(chart: &Chart, svg: &Path, png: &Path) -> Result<(), ChartError> {
    register_fonts()?;
    let plan = Plan::new(chart).map_err(ChartError::Font)?;
    let svg_text = render_svg(chart, &plan).map_err(|message| ChartError::Draw {
        path: svg.to_path_buf(),
        message,
    })?;
    let png_bytes = render_png(chart, &plan).map_err(|message| ChartError::Draw {
        path: png.to_path_buf(),
        message,
    })?;
    write_atomically(svg, svg_text.as_bytes())?;
    write_atomically(png, &png_bytes)
}

// ---------------------------------------------------------------- fonts

/// The font family name that text is drawn with. It is also what the SVG
/// asks its viewer for: a CSS list, so a viewer without DejaVu Sans falls
/// back to its own sans-serif instead of a serif font.
const FAMILY: &str = "DejaVu Sans, sans-serif";

static REGULAR: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts with plotters, once per process: plotters
/// (without its system-font feature) knows only fonts registered this way,
/// and fails to draw or measure any text otherwise.
fn register_fonts() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, REGULAR).is_ok()
            && register_font(FAMILY, FontStyle::Bold, BOLD).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font("the embedded font file is invalid".into()))
    }
}

/// Font sizes in plotters units (a font of size `s` has an em of about
/// `s / 1.24` pixels). Chosen so that a panel of [`PANEL_W`] pixels reads
/// well at 100 % and tick labels never touch.
const TITLE_SIZE: f64 = 28.0;
const LEGEND_SIZE: f64 = 19.0;
const PANEL_TITLE_SIZE: f64 = 20.0;
const AXIS_LABEL_SIZE: f64 = 18.0;
const TICK_SIZE: f64 = 16.0;

fn font(size: f64, style: FontStyle) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, style)
}

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from(font(size, FontStyle::Normal)).color(&BLACK)
}

/// Width in pixels of `text` drawn at `size`.
fn text_width(text: &str, size: f64, style: FontStyle) -> Result<u32, String> {
    let (width, _) = font(size, style)
        .box_size(text)
        .map_err(|e| e.to_string())?;
    Ok(width)
}

// ------------------------------------------------------------- series look

/// Tableau's ten colours: easy to tell apart, also for the most common
/// colour-vision deficiencies when combined with the markers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `series`-th line label of a chart.
fn palette(series: usize) -> RGBColor {
    PALETTE[series % PALETTE.len()]
}

/// Draws the marker of the `series`-th line label at `at`: shapes cycle
/// with a period of 4, colours of 10, so 20 lines are all different and
/// lines stay apart in grey print too.
fn draw_marker<DB, C>(area: &DrawingArea<DB, C>, at: C::From, series: usize) -> DrawResult<DB>
where
    DB: DrawingBackend,
    C: CoordTranslate,
    C::From: Clone + 'static,
{
    let style = palette(series).filled();
    let at = EmptyElement::at(at);
    match series % 4 {
        0 => area.draw(&(at + Circle::new((0, 0), 4, style))),
        1 => area.draw(&(at + Rectangle::new([(-4, -4), (4, 4)], style))),
        2 => area.draw(&(at + TriangleMarker::new((0, 0), 6, style))),
        _ => area.draw(&(at + Polygon::new(vec![(0, -5), (5, 0), (0, 5), (-5, 0)], style))),
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

// ------------------------------------------------------------------ layout

/// Size of one panel in pixels: room for a 16-point tick label every
/// 60 px and a plot area about 480 × 300 px.
const PANEL_W: u32 = 600;
const PANEL_H: u32 = 420;
/// Space around the title and legend.
const MARGIN: u32 = 16;
const TITLE_ROW: u32 = 44;
const LEGEND_ROW: u32 = 30;
/// Space between the legend and the panels.
const LEGEND_GAP: u32 = 8;
/// Legend entry: a line sample this long, a gap, the label, then a gap to
/// the next entry.
const SAMPLE_W: u32 = 30;
const SAMPLE_GAP: u32 = 8;
const ENTRY_GAP: u32 = 28;

/// Grid columns for `panels` panels: square-ish, at most 4 wide so that
/// the image stays readable on a screen.
fn columns(panels: usize) -> usize {
    match panels {
        0 | 1 => 1,
        2..=4 => 2,
        5..=9 => 3,
        _ => 4,
    }
}

/// One legend entry: the series it shows and its width in pixels.
struct LegendEntry<'a> {
    label: &'a str,
    series: usize,
    width: u32,
}

/// Everything decided before drawing, shared by the SVG and PNG pictures so
/// that both have the same layout.
struct Plan<'a> {
    /// Grid columns and rows (at least 1 × 1, for the "no panels" note).
    cols: usize,
    rows: usize,
    width: u32,
    height: u32,
    /// Height of the title and legend above the grid.
    header: u32,
    /// Legend entries, row by row (wrapped to the image width).
    legend: Vec<Vec<LegendEntry<'a>>>,
    /// Line labels in order of first appearance: index = colour and marker.
    series: Vec<&'a str>,
    /// The x axis that all panels share.
    x: SizeAxis,
    /// With `log_y`: the value drawn for values ≤ 0.
    floor: Option<f64>,
}

impl<'a> Plan<'a> {
    /// Lays out `chart`; fails only if text cannot be measured.
    fn new(chart: &'a Chart) -> Result<Self, String> {
        let series = series_labels(chart);
        let cols = columns(chart.panels.len());
        let rows = chart.panels.len().div_ceil(cols).max(1);
        let entries = legend_entries(&series)?;
        let title_w = text_width(&chart.title, TITLE_SIZE, FontStyle::Bold)?;
        let widest = entries.iter().map(|e| e.width).max().unwrap_or(0);
        let width = (cols as u32 * PANEL_W).max(title_w.max(widest) + 2 * MARGIN);
        let legend = wrap_legend(entries, width - 2 * MARGIN);
        let legend_h = legend.len() as u32 * LEGEND_ROW;
        let header = MARGIN + TITLE_ROW + legend_h + if legend.is_empty() { 0 } else { LEGEND_GAP };
        Ok(Plan {
            cols,
            rows,
            width,
            height: header + rows as u32 * PANEL_H,
            header,
            legend,
            series,
            x: SizeAxis::new(x_bounds(chart)),
            floor: chart.log_y.then(|| log_floor(chart)),
        })
    }

    /// The colour and marker index of a line label.
    fn series_of(&self, label: &str) -> usize {
        self.series.iter().position(|s| *s == label).unwrap_or(0)
    }

    /// The value drawn for `value`: itself, or the floor on a log axis.
    fn shown(&self, value: f64) -> f64 {
        match self.floor {
            Some(floor) => value.max(floor),
            None => value,
        }
    }
}

/// Line labels in order of first appearance over all panels.
fn series_labels(chart: &Chart) -> Vec<&str> {
    let mut labels: Vec<&str> = Vec::new();
    for line in chart.panels.iter().flat_map(|p| &p.lines) {
        if !labels.contains(&line.label.as_str()) {
            labels.push(&line.label);
        }
    }
    labels
}

fn legend_entries<'a>(series: &[&'a str]) -> Result<Vec<LegendEntry<'a>>, String> {
    series
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let text = text_width(label, LEGEND_SIZE, FontStyle::Normal)?;
            Ok(LegendEntry {
                label,
                series: index,
                width: SAMPLE_W + SAMPLE_GAP + text + ENTRY_GAP,
            })
        })
        .collect()
}

/// Fills legend rows left to right, starting a new row when the next
/// entry would pass `width`.
fn wrap_legend(entries: Vec<LegendEntry<'_>>, width: u32) -> Vec<Vec<LegendEntry<'_>>> {
    let mut rows: Vec<Vec<LegendEntry>> = Vec::new();
    let mut used = 0;
    for entry in entries {
        match rows.last_mut() {
            Some(row) if used + entry.width <= width => {
                used += entry.width;
                row.push(entry);
            }
            _ => {
                used = entry.width;
                rows.push(vec![entry]);
            }
        }
    }
    rows
}

/// The points of a line that can be drawn: a positive size and finite
/// values.
fn drawable(line: &Line) -> impl Iterator<Item = &Point> {
    line.points
        .iter()
        .filter(|p| p.x > 0 && p.lo.is_finite() && p.mid.is_finite() && p.hi.is_finite())
}

fn all_drawable(chart: &Chart) -> impl Iterator<Item = &Point> {
    chart
        .panels
        .iter()
        .flat_map(|p| &p.lines)
        .flat_map(drawable)
}

/// Smallest and largest size over all panels (they share the x axis).
fn x_bounds(chart: &Chart) -> Option<(u64, u64)> {
    all_drawable(chart).fold(None, |acc, p| match acc {
        None => Some((p.x, p.x)),
        Some((lo, hi)) => Some((lo.min(p.x), hi.max(p.x))),
    })
}

/// The log-axis floor: a round number one decade below the smallest
/// positive value, so that "≤ 0" sits visibly below all real values.
fn log_floor(chart: &Chart) -> f64 {
    let smallest = all_drawable(chart)
        .flat_map(|p| [p.lo, p.mid, p.hi])
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if smallest.is_finite() {
        10f64
            .powf(smallest.log10().floor() - 1.0)
            .max(f64::MIN_POSITIVE)
    } else {
        1.0
    }
}

// --------------------------------------------------------------- rendering

fn render_svg(chart: &Chart, plan: &Plan) -> Result<String, String> {
    let mut text = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (plan.width, plan.height)).into_drawing_area();
        draw_chart(&root, chart, plan).map_err(|e| e.to_string())?;
    }
    Ok(text)
}

fn render_png(chart: &Chart, plan: &Plan) -> Result<Vec<u8>, String> {
    let (width, height) = (plan.width, plan.height);
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_chart(&root, chart, plan).map_err(|e| e.to_string())?;
    }
    encode_png(&pixels, width, height).map_err(|e| format!("PNG encoding: {e}"))
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so
/// that readers never see a partial file and a failure leaves none.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ChartError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let error = |source| ChartError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| error(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    temp_name.push(format!(".{}-{unique}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(error)
}

// ----------------------------------------------------------------- drawing

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    plan: &Plan,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(plan.header);
    let title = TextStyle::from(font(TITLE_SIZE, FontStyle::Bold))
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    header.draw(&Text::new(
        chart.title.as_str(),
        (plan.width as i32 / 2, MARGIN as i32),
        title,
    ))?;
    draw_legend(&header, plan)?;
    let cells = body.split_evenly((plan.rows, plan.cols));
    if chart.panels.is_empty() {
        draw_note(&cells[0], "no panels to draw")?;
    }
    for (cell, panel) in cells.iter().zip(&chart.panels) {
        draw_panel(cell, panel, chart, plan)?;
    }
    root.present()
}

/// The legend under the title: each row centred, each entry a line sample
/// with its marker, then the label.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, plan: &Plan) -> DrawResult<DB> {
    let label_style = text_style(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (row_index, row) in plan.legend.iter().enumerate() {
        let row_w: u32 = row.iter().map(|e| e.width).sum::<u32>() - ENTRY_GAP;
        let mut x = (plan.width.saturating_sub(row_w) / 2) as i32;
        let y = (MARGIN + TITLE_ROW + row_index as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        for entry in row {
            let sample = vec![(x, y), (x + SAMPLE_W as i32, y)];
            area.draw(&PathElement::new(
                sample,
                palette(entry.series).stroke_width(2),
            ))?;
            draw_marker(area, (x + SAMPLE_W as i32 / 2, y), entry.series)?;
            let text_x = x + (SAMPLE_W + SAMPLE_GAP) as i32;
            area.draw(&Text::new(entry.label, (text_x, y), label_style.clone()))?;
            x += entry.width as i32;
        }
    }
    Ok(())
}

/// A short message in the middle of an area that has nothing to plot.
fn draw_note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, note: &str) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let style = text_style(AXIS_LABEL_SIZE)
        .color(&RGBColor(110, 110, 110))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(note, (w as i32 / 2, h as i32 / 2), style))
}

/// A line ready to draw: its series index and its points as
/// `(x, lo, mid, hi)`, values clamped to the log floor where there is one,
/// sorted by size.
struct Shown {
    series: usize,
    points: Vec<(f64, f64, f64, f64)>,
}

fn shown_lines(panel: &Panel, plan: &Plan) -> Vec<Shown> {
    panel
        .lines
        .iter()
        .map(|line| {
            let mut points: Vec<_> = drawable(line)
                .map(|p| {
                    (
                        p.x as f64,
                        plan.shown(p.lo),
                        plan.shown(p.mid),
                        plan.shown(p.hi),
                    )
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Shown {
                series: plan.series_of(&line.label),
                points,
            }
        })
        .collect()
}

/// The panel caption: its title, plus a warning when some value ≤ 0 had to
/// be raised to the log floor.
fn caption(panel: &Panel, plan: &Plan) -> String {
    let clamped = plan.floor.is_some()
        && panel
            .lines
            .iter()
            .flat_map(drawable)
            .any(|p| p.lo <= 0.0 || p.mid <= 0.0 || p.hi <= 0.0);
    match plan.floor {
        Some(floor) if clamped => format!("{} (≤ 0 drawn at {floor})", panel.title),
        _ => panel.title.clone(),
    }
}

fn draw_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    panel: &Panel,
    chart: &Chart,
    plan: &Plan,
) -> DrawResult<DB> {
    let lines = shown_lines(panel, plan);
    let values = lines
        .iter()
        .flat_map(|l| &l.points)
        .flat_map(|p| [p.1, p.2, p.3]);
    let y = if chart.log_y {
        ValueAxis::log(values)
    } else {
        ValueAxis::linear(values)
    };
    let mut ctx = ChartBuilder::on(cell)
        .caption(caption(panel, plan), text_style(PANEL_TITLE_SIZE))
        .margin(8)
        .margin_right(28)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(plan.x.clone(), y)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(10)
        .y_labels(10)
        .label_style(text_style(TICK_SIZE))
        .axis_desc_style(text_style(AXIS_LABEL_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.06))
        .draw()?;
    let area = ctx.plotting_area();
    for line in &lines {
        draw_band(area, line)?;
    }
    for line in &lines {
        draw_median(area, line)?;
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        draw_note(cell, "no data")?;
    }
    Ok(())
}

type PlotArea<DB> = DrawingArea<DB, Cartesian2d<SizeAxis, ValueAxis>>;

/// The spread over seeds: a translucent band from min to max, or a
/// whisker when the line has a single point.
fn draw_band<DB: DrawingBackend>(area: &PlotArea<DB>, line: &Shown) -> DrawResult<DB> {
    let colour = palette(line.series);
    if let [(x, lo, _, hi)] = line.points[..] {
        return area.draw(&PathElement::new(
            vec![(x, lo), (x, hi)],
            colour.stroke_width(2),
        ));
    }
    let lower = line.points.iter().map(|p| (p.0, p.1));
    let upper = line.points.iter().rev().map(|p| (p.0, p.3));
    let outline: Vec<(f64, f64)> = lower.chain(upper).collect();
    if outline.is_empty() {
        return Ok(());
    }
    area.draw(&Polygon::new(outline, colour.mix(0.18).filled()))
}

/// The median: a line through the points, with the series' marker on each.
fn draw_median<DB: DrawingBackend>(area: &PlotArea<DB>, line: &Shown) -> DrawResult<DB> {
    let path: Vec<(f64, f64)> = line.points.iter().map(|p| (p.0, p.2)).collect();
    area.draw(&PathElement::new(
        path.clone(),
        palette(line.series).stroke_width(2),
    ))?;
    for at in path {
        draw_marker(area, at, line.series)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep-like chart: 4 panels × 3 policies × 6 chunk sizes from 4 KiB
    /// to 4 MiB, values spanning decades.
    fn sample_chart() -> Chart {
        let workloads = ["zipf, nvme", "zipf, hdd", "uniform, nvme", "uniform, hdd"];
        let policies = ["out-of-turn", "in-turn", "no-copy"];
        let panels = workloads
            .iter()
            .enumerate()
            .map(|(w, title)| Panel {
                title: title.to_string(),
                lines: policies
                    .iter()
                    .enumerate()
                    .map(|(p, label)| Line {
                        label: label.to_string(),
                        points: (0..6)
                            .map(|i| {
                                let mid = (10.0 + 5.0 * w as f64) * (1.0 + p as f64) * 3f64.powi(i);
                                Point {
                                    x: 4096 << (2 * i),
                                    lo: mid * 0.7,
                                    mid,
                                    hi: mid * 1.4,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Chart {
            title: "Hold latency p99 vs chunk size".into(),
            x_label: "copy-on-write chunk size".into(),
            y_label: "hold p99 (µs)".into(),
            log_y: true,
            panels,
        }
    }

    /// A fresh empty folder for one test's files, removed afterwards.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let name = format!("cowlab-reports-{test}-{}", std::process::id());
            let dir = std::env::temp_dir().join(name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Width and height from a PNG's IHDR chunk, which follows the 8-byte
    /// signature and the chunk's 4-byte length and 4-byte type.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    /// The contents of the SVG's text elements.
    fn svg_texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|element| {
                let (_, rest) = element.split_once('>')?;
                let (text, _) = rest.split_once("</text>")?;
                Some(text.trim())
            })
            .collect()
    }

    fn render_to(chart: &Chart, dir: &Path) -> Result<String, ChartError> {
        let (svg, png) = (dir.join("chart.svg"), dir.join("chart.png"));
        render(chart, &svg, &png)?;
        Ok(std::fs::read_to_string(svg).unwrap())
    }

    #[test]
    fn full_chart_writes_both_files_with_all_text() {
        let chart = sample_chart();
        let scratch = Scratch::new("full");
        let dir = &scratch.0;
        let svg = render_to(&chart, dir).unwrap();
        let png = std::fs::read(dir.join("chart.png")).unwrap();
        let header = MARGIN + TITLE_ROW + LEGEND_ROW + LEGEND_GAP;
        assert_eq!(png_size(&png), (2 * PANEL_W, header + 2 * PANEL_H));
        let mut expected = vec![chart.title.as_str(), "copy-on-write chunk size"];
        expected.extend(["hold p99 (µs)", "4 KiB", "1 MiB"]);
        expected.extend(chart.panels.iter().map(|p| p.title.as_str()));
        expected.extend(["out-of-turn", "in-turn", "no-copy"]);
        let texts = svg_texts(&svg);
        for text in expected {
            assert!(texts.contains(&text), "SVG lacks text {text:?}: {texts:?}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "temporary files left: {leftovers:?}");
        if let Ok(example) = std::env::var("COWLAB_CHART_EXAMPLE") {
            std::fs::copy(dir.join("chart.png"), example).unwrap();
        }
    }

    #[test]
    fn same_input_gives_identical_svg() {
        let chart = sample_chart();
        let first = render_to(&chart, &Scratch::new("same-1").0).unwrap();
        let second = render_to(&chart, &Scratch::new("same-2").0).unwrap();
        assert!(first == second, "SVG differs between two renders");
    }

    #[test]
    fn odd_input_renders() {
        let nan = Point {
            x: 8192,
            lo: f64::NAN,
            mid: 1.0,
            hi: f64::INFINITY,
        };
        let zero = Point {
            x: 4096,
            lo: 0.0,
            mid: 0.0,
            hi: 0.0,
        };
        let odd_x = Point { x: 0, ..zero };
        let panel = |lines: Vec<Line>| Panel {
            title: "odd".into(),
            lines,
        };
        let line = |points: Vec<Point>| Line {
            label: "p".into(),
            points,
        };
        let charts = [
            vec![],
            vec![panel(vec![])],
            vec![panel(vec![line(vec![])])],
            vec![panel(vec![line(vec![nan, odd_x])])],
            vec![panel(vec![line(vec![zero, Point { x: 12345, ..zero }])])],
            vec![panel(vec![line(vec![Point { x: 1, ..zero }])])],
        ];
        for (index, panels) in charts.into_iter().enumerate() {
            for log_y in [false, true] {
                let chart = Chart {
                    log_y,
                    panels: panels.clone(),
                    ..Chart::default()
                };
                let dir = Scratch::new(&format!("odd-{index}-{log_y}"));
                if let Err(e) = render_to(&chart, &dir.0) {
                    panic!("chart {index} (log_y {log_y}) failed: {e}");
                }
            }
        }
    }

    #[test]
    fn missing_folder_is_an_error_naming_the_path() {
        let scratch = Scratch::new("missing");
        let dir = scratch.0.join("not-there");
        let svg = dir.join("chart.svg");
        let error = render(&sample_chart(), &svg, &dir.join("chart.png")).unwrap_err();
        assert!(matches!(error, ChartError::Io { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&svg.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn many_panels_and_lines_widen_the_grid_and_wrap_the_legend() {
        let mut chart = sample_chart();
        let panel = chart.panels[0].clone();
        chart.panels = (0..10).map(|_| panel.clone()).collect();
        chart.panels[9].lines = (0..14)
            .map(|i| Line {
                label: format!("a rather long policy name {i}"),
                points: panel.lines[0].points.clone(),
            })
            .collect();
        register_fonts().unwrap();
        let plan = Plan::new(&chart).unwrap();
        assert_eq!((plan.cols, plan.rows), (4, 3));
        assert!(plan.legend.len() >= 2);
        assert!(plan
            .legend
            .iter()
            .all(|row| row.iter().map(|e| e.width).sum::<u32>() <= plan.width - 2 * MARGIN));
        assert_eq!(plan.series.len(), 17);
        render_to(&chart, &Scratch::new("many").0).unwrap();
    }
}
