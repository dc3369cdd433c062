//! Line charts of a sweep: one panel per workload × disk, one line per
//! policy, the copy-on-write chunk (or segment) size on a log2 x axis.
//!
//! A storage designer compares policies within a panel and the shape of the
//! curves across panels, so the panels share the x range, every policy has
//! the same colour and marker everywhere, and the spread over seeds is drawn
//! as a band around the mean to show whether a difference is real.
//!
//! What the chart says beyond the lines, each explained in its legend:
//! - the recommended configuration (the table's pick) is ringed in black;
//! - a configuration the cost's limits rule out has a hollow marker, and the
//!   stretches of line that touch it are faded;
//! - a line that runs over the same pixels as one drawn before it is dashed
//!   there, and its marker drawn smaller, so that the line beneath shows;
//! - each panel's y axis has its own range (its label says whether it is a
//!   log or linear scale).
//!
//! [`render`] draws the chart once, as SVG (text stays text and can be
//! searched), and renders the PNG from that SVG with `resvg`, using only the
//! committed DejaVu Sans (`reports/assets/`), so no system font is needed.
//!
//! Every marker in the SVG is a `<g class="marker …">` whose `data-`
//! attributes name its panel, line, sizes and mean, and every panel has a
//! `<g class="panel">` giving two points of its axes in pixels, so that a
//! tool (`reports/tests/charts.rs`) can map a marker back to the values it
//! stands for.

mod axis;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};
use resvg::{tiny_skia, usvg};

pub use axis::format_bytes;
use axis::{SizeAxis, ValueAxis};

/// A chart: a title, shared axis labels, and a grid of panels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Written at the top, e.g. "Hold latency p99 vs chunk size".
    pub title: String,
    /// Label of every panel's x axis (byte sizes), e.g. "copy-on-write chunk size".
    pub x_label: String,
    /// Label of every panel's y axis, with its unit, e.g. "hold p99 (ms)";
    /// the scale (", log scale" or ", linear") is added when drawn.
    pub y_label: String,
    /// The unit of the values, e.g. "ms": written into the SVG beside each
    /// marker's mean for tools.
    pub y_unit: String,
    /// What the x value is, e.g. "chunk", and what [`Point::other`] is, e.g.
    /// "segment": the names of the markers' `data-` attributes in the SVG
    /// (`data-chunk`, `data-segment`). An empty `other_name` writes none.
    pub x_name: String,
    pub other_name: String,
    /// The x values are counts (copy workers), not bytes: the same log2 axis, its ticks and
    /// the pick's description written as plain numbers.
    pub x_counts: bool,
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
    /// Written after the title in brackets when not empty, e.g. "pick not on
    /// this axis".
    pub note: String,
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

/// How a point is marked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mark {
    /// An ordinary configuration: a filled marker.
    #[default]
    Plain,
    /// The recommended configuration: a filled marker in a black ring.
    Pick,
    /// Ruled out by the cost's limits: a hollow marker, the line faded.
    Excluded,
}

impl Mark {
    /// The marker's class in the SVG.
    fn class(self) -> &'static str {
        match self {
            Mark::Plain => "plain",
            Mark::Pick => "pick",
            Mark::Excluded => "excluded",
        }
    }
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
    /// The configuration's other size in bytes (the segment when `x` is the
    /// chunk), for the SVG's `data-` attributes only.
    pub other: u64,
    /// Smallest value over the seeds: the bottom of the band.
    pub lo: f64,
    /// Mean over the seeds: the line.
    pub mid: f64,
    /// Largest value over the seeds: the top of the band.
    pub hi: f64,
    /// How the point's marker is drawn.
    pub mark: Mark,
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

/// Renders `chart` to an SVG file and a PNG file of the same picture.
///
/// The SVG is drawn in memory, the PNG rendered from it, and each file is
/// written under a temporary name in its folder and then renamed, so that a
/// failure never leaves a half-written chart behind. Both files are
/// byte-identical for the same input.
pub fn render(chart: &Chart, svg: &Path, png: &Path) -> Result<(), ChartError> {
    register_fonts()?;
    let plan = Plan::new(chart).map_err(ChartError::Font)?;
    let svg_text = render_svg(chart, &plan).map_err(|message| ChartError::Draw {
        path: svg.to_path_buf(),
        message,
    })?;
    let png_bytes = render_png(&svg_text).map_err(|message| ChartError::Draw {
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
/// The family name inside the committed font files.
const FONT_NAME: &str = "DejaVu Sans";

static REGULAR: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts with plotters, once per process: plotters
/// (without its system-font feature) knows only fonts registered this way,
/// and fails to measure any text otherwise.
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

/// The fonts the PNG renderer may use: the embedded two, and no system font
/// (the `system-fonts` feature of resvg is off), so that the PNG is the same
/// on every machine. Generic `sans-serif` resolves to DejaVu Sans too.
fn font_database() -> Arc<usvg::fontdb::Database> {
    static DATABASE: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DATABASE
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_font_data(REGULAR.to_vec());
            db.load_font_data(BOLD.to_vec());
            db.set_sans_serif_family(FONT_NAME);
            Arc::new(db)
        })
        .clone()
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

/// The grey of the legend's samples that stand for every line.
const GREY: RGBColor = RGBColor(100, 100, 100);

/// The colour of the `series`-th line label of a chart.
fn palette(series: usize) -> RGBColor {
    PALETTE[series % PALETTE.len()]
}

/// `#RRGGBB` of a colour, for the SVG drawn by hand.
fn hex(colour: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
}

/// Marker shapes: circle, square, triangle up, diamond, triangle down, plus.
/// With the ten colours, 30 lines have different looks, and the 6 policies
/// of the built-in sweep all have different shapes, also in grey print.
const SHAPES: usize = 6;

/// Radius of a marker in pixels; of the pick's ring around it.
const MARKER_R: f64 = 5.0;
const RING_R: f64 = 10.5;

/// How a marker is painted.
#[derive(Clone, Copy)]
enum Paint {
    /// Filled with the colour, with a thin white edge that keeps
    /// overlapping markers apart.
    Filled(RGBColor),
    /// White inside, the colour as its outline: ruled out.
    Hollow(RGBColor),
}

/// The SVG of the `series`-th marker shape centred at `(cx, cy)`.
fn shape_svg(series: usize, (cx, cy): (f64, f64), r: f64, paint: Paint) -> String {
    let style = match paint {
        Paint::Filled(c) => format!(r##"fill="{}" stroke="#FFFFFF" stroke-width="1""##, hex(c)),
        Paint::Hollow(c) => format!(r##"fill="#FFFFFF" stroke="{}" stroke-width="1.8""##, hex(c)),
    };
    let polygon = |corners: &[(f64, f64)]| {
        let mut points = String::new();
        for (i, (dx, dy)) in corners.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(points, "{sep}{:.1},{:.1}", cx + dx * r, cy + dy * r);
        }
        format!(r#"<polygon points="{points}" {style}/>"#)
    };
    match series % SHAPES {
        0 => format!(r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" {style}/>"#),
        1 => polygon(&[(-0.9, -0.9), (0.9, -0.9), (0.9, 0.9), (-0.9, 0.9)]),
        2 => polygon(&[(0.0, -1.3), (1.15, 0.75), (-1.15, 0.75)]),
        3 => polygon(&[(0.0, -1.3), (1.3, 0.0), (0.0, 1.3), (-1.3, 0.0)]),
        4 => polygon(&[(0.0, 1.3), (1.15, -0.75), (-1.15, -0.75)]),
        _ => polygon(&[
            (-0.4, -1.25),
            (0.4, -1.25),
            (0.4, -0.4),
            (1.25, -0.4),
            (1.25, 0.4),
            (0.4, 0.4),
            (0.4, 1.25),
            (-0.4, 1.25),
            (-0.4, 0.4),
            (-1.25, 0.4),
            (-1.25, -0.4),
            (-0.4, -0.4),
        ]),
    }
}

/// The black ring around the pick.
fn ring_svg((cx, cy): (f64, f64)) -> String {
    format!(
        r##"<circle class="ring" cx="{cx:.1}" cy="{cy:.1}" r="{RING_R}" fill="none" stroke="#000000" stroke-width="2.5"/>"##
    )
}

/// How a stretch of line is drawn.
#[derive(Clone, Copy, PartialEq)]
struct Stroke {
    /// It touches a ruled-out configuration: drawn faded.
    faded: bool,
    /// How many lines drawn before it run over the same pixels: dashed
    /// when any, with shorter dashes the more there are.
    beneath: usize,
}

/// An SVG polyline through `points` in the `colour`, styled by `stroke`.
fn polyline_svg(points: &[(i32, i32)], colour: RGBColor, stroke: Stroke) -> String {
    let mut at = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(at, "{sep}{x},{y}");
    }
    let opacity = if stroke.faded { "0.35" } else { "1" };
    let dash = match stroke.beneath {
        0 => String::new(),
        n => format!(r#" stroke-dasharray="{} 6""#, (9 / n).max(2)),
    };
    format!(
        r#"<polyline points="{at}" fill="none" stroke="{}" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" opacity="{opacity}"{dash}/>"#,
        hex(colour)
    )
}

/// Escapes text for an SVG attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
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

/// What a legend entry shows before its words.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sample {
    /// A line's colour and marker.
    Series(usize),
    /// The pick's ring.
    Pick,
    /// A hollow marker on a faded line.
    Excluded,
    /// A dashed line.
    Beneath,
    /// Nothing: a note.
    Note,
}

/// One legend entry: what it shows, its words, and its width in pixels.
struct LegendEntry {
    label: String,
    sample: Sample,
    width: u32,
}

/// Everything decided before drawing.
struct Plan<'a> {
    /// Grid columns and rows (at least 1 × 1, for the "no panels" note).
    cols: usize,
    rows: usize,
    width: u32,
    height: u32,
    /// Height of the title and legend above the grid.
    header: u32,
    /// Legend entries, row by row (wrapped to the image width).
    legend: Vec<Vec<LegendEntry>>,
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
        let entries = legend_entries(chart, &series)?;
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
            x: match chart.x_counts {
                true => SizeAxis::new(x_bounds(chart)).of_counts(),
                false => SizeAxis::new(x_bounds(chart)),
            },
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

/// The words of the legend's entries that explain the marks.
const PICK_WORDS: &str = "recommended (the summary's pick)";
const EXCLUDED_WORDS: &str = "ruled out by the cost's limits";
const BENEATH_WORDS: &str = "dashed: same values as a line beneath";
const RANGES_WORDS: &str = "y ranges differ by panel";

/// One entry per line label, then the entries that explain the marks the
/// chart has, then a note when the panels' y ranges differ.
fn legend_entries(chart: &Chart, series: &[&str]) -> Result<Vec<LegendEntry>, String> {
    let points = || {
        chart
            .panels
            .iter()
            .flat_map(|p| &p.lines)
            .flat_map(drawable)
    };
    let mut wanted: Vec<(String, Sample)> = series
        .iter()
        .enumerate()
        .map(|(index, label)| (label.to_string(), Sample::Series(index)))
        .collect();
    if points().any(|p| p.mark == Mark::Pick) {
        wanted.push((PICK_WORDS.into(), Sample::Pick));
    }
    if points().any(|p| p.mark == Mark::Excluded) {
        wanted.push((EXCLUDED_WORDS.into(), Sample::Excluded));
    }
    if chart.panels.iter().any(|p| p.lines.len() > 1) {
        wanted.push((BENEATH_WORDS.into(), Sample::Beneath));
    }
    if chart.panels.len() > 1 {
        wanted.push((RANGES_WORDS.into(), Sample::Note));
    }
    wanted
        .into_iter()
        .map(|(label, sample)| {
            let text = text_width(&label, LEGEND_SIZE, FontStyle::Normal)?;
            let before = match sample {
                Sample::Note => 0,
                _ => SAMPLE_W + SAMPLE_GAP,
            };
            Ok(LegendEntry {
                label,
                sample,
                width: before + text + ENTRY_GAP,
            })
        })
        .collect()
}

/// Fills legend rows left to right, starting a new row when the next
/// entry would pass `width`.
fn wrap_legend(entries: Vec<LegendEntry>, width: u32) -> Vec<Vec<LegendEntry>> {
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

/// The SVG: plotters draws the frame, text, axes and bands; the lines,
/// markers, legend samples and the panels' axis records are written by hand
/// after it (on top), as `overlay`.
fn render_svg(chart: &Chart, plan: &Plan) -> Result<String, String> {
    let mut text = String::new();
    let mut overlay = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (plan.width, plan.height)).into_drawing_area();
        draw_chart(&root, chart, plan, &mut overlay).map_err(|e| e.to_string())?;
    }
    let end = text
        .rfind("</svg>")
        .ok_or("plotters wrote no closing </svg>")?;
    text.insert_str(end, &overlay);
    Ok(text)
}

/// The PNG: the SVG rendered by resvg at its own size, with the embedded
/// fonts only.
fn render_png(svg: &str) -> Result<Vec<u8>, String> {
    let options = usvg::Options {
        fontdb: font_database(),
        font_family: FONT_NAME.into(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("SVG reading: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("no picture of {} × {} pixels", size.width(), size.height()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| format!("PNG encoding: {e}"))
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
    overlay: &mut String,
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
    draw_legend(&header, plan, overlay)?;
    let cells = body.split_evenly((plan.rows, plan.cols));
    if chart.panels.is_empty() {
        draw_note(&cells[0], "no panels to draw")?;
    }
    for (cell, panel) in cells.iter().zip(&chart.panels) {
        draw_panel(cell, panel, chart, plan, overlay)?;
    }
    root.present()
}

/// The legend under the title: each row centred, each entry a sample (a
/// line with its marker, or a mark) then its words.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    plan: &Plan,
    overlay: &mut String,
) -> DrawResult<DB> {
    let label_style = text_style(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (row_index, row) in plan.legend.iter().enumerate() {
        let row_w: u32 = row.iter().map(|e| e.width).sum::<u32>() - ENTRY_GAP;
        let mut x = (plan.width.saturating_sub(row_w) / 2) as i32;
        let y = (MARGIN + TITLE_ROW + row_index as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        for entry in row {
            let sample = [(x, y), (x + SAMPLE_W as i32, y)];
            let centre = (f64::from(x) + f64::from(SAMPLE_W) / 2.0, f64::from(y));
            let solid = Stroke {
                faded: false,
                beneath: 0,
            };
            match entry.sample {
                Sample::Series(series) => {
                    overlay.push_str(&polyline_svg(&sample, palette(series), solid));
                    overlay.push_str(&shape_svg(
                        series,
                        centre,
                        MARKER_R,
                        Paint::Filled(palette(series)),
                    ));
                }
                Sample::Pick => {
                    overlay.push_str(&shape_svg(0, centre, MARKER_R, Paint::Filled(GREY)));
                    overlay.push_str(&ring_svg(centre));
                }
                Sample::Excluded => {
                    let faded = Stroke {
                        faded: true,
                        ..solid
                    };
                    overlay.push_str(&polyline_svg(&sample, GREY, faded));
                    overlay.push_str(&shape_svg(0, centre, MARKER_R, Paint::Hollow(GREY)));
                }
                Sample::Beneath => {
                    let dashed = Stroke {
                        beneath: 1,
                        ..solid
                    };
                    overlay.push_str(&polyline_svg(&sample, GREY, dashed));
                }
                Sample::Note => {}
            }
            overlay.push('\n');
            let text_x = match entry.sample {
                Sample::Note => x,
                _ => x + (SAMPLE_W + SAMPLE_GAP) as i32,
            };
            let style = match entry.sample {
                Sample::Note => label_style.clone().color(&GREY),
                _ => label_style.clone(),
            };
            area.draw(&Text::new(entry.label.as_str(), (text_x, y), style))?;
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

/// A point ready to draw: its size, its values clamped to the log floor
/// where there is one, and what the SVG says of it.
struct ShownPoint<'a> {
    x: f64,
    lo: f64,
    mid: f64,
    hi: f64,
    point: &'a Point,
}

/// A line ready to draw: its series index and label, and its points sorted
/// by size.
struct Shown<'a> {
    series: usize,
    label: &'a str,
    points: Vec<ShownPoint<'a>>,
}

fn shown_lines<'a>(panel: &'a Panel, plan: &Plan) -> Vec<Shown<'a>> {
    panel
        .lines
        .iter()
        .map(|line| {
            let mut points: Vec<_> = drawable(line)
                .map(|p| ShownPoint {
                    x: p.x as f64,
                    lo: plan.shown(p.lo),
                    mid: plan.shown(p.mid),
                    hi: plan.shown(p.hi),
                    point: p,
                })
                .collect();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            Shown {
                series: plan.series_of(&line.label),
                label: &line.label,
                points,
            }
        })
        .collect()
}

/// The panel caption: its title, its note, and a warning when some value
/// ≤ 0 had to be raised to the log floor.
fn caption(panel: &Panel, plan: &Plan) -> String {
    let clamped = plan.floor.is_some()
        && panel
            .lines
            .iter()
            .flat_map(drawable)
            .any(|p| p.lo <= 0.0 || p.mid <= 0.0 || p.hi <= 0.0);
    let mut notes = Vec::new();
    if !panel.note.is_empty() {
        notes.push(panel.note.clone());
    }
    match plan.floor {
        Some(floor) if clamped => notes.push(format!("≤ 0 drawn at {floor}")),
        _ => {}
    }
    match notes.is_empty() {
        true => panel.title.clone(),
        false => format!("{} ({})", panel.title, notes.join("; ")),
    }
}

fn draw_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    panel: &Panel,
    chart: &Chart,
    plan: &Plan,
    overlay: &mut String,
) -> DrawResult<DB> {
    let lines = shown_lines(panel, plan);
    let values = lines
        .iter()
        .flat_map(|l| &l.points)
        .flat_map(|p| [p.lo, p.mid, p.hi]);
    let y = if chart.log_y {
        ValueAxis::log(values)
    } else {
        ValueAxis::linear(values)
    };
    let y_range = y.range();
    let scale = if chart.log_y { "log scale" } else { "linear" };
    let y_desc = match chart.y_label.is_empty() {
        true => scale.to_string(),
        false => format!("{}, {scale}", chart.y_label),
    };
    let caption = caption(panel, plan);
    let caption_size = fitting_size(&caption, PANEL_TITLE_SIZE, cell.dim_in_pixel().0 - 16);
    let mut ctx = ChartBuilder::on(cell)
        .caption(caption, text_style(caption_size))
        .margin(8)
        .margin_right(28)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(plan.x.clone(), y)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(y_desc)
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
    let x_range = plan.x.range();
    let corner0 = area.map_coordinate(&(x_range.start, y_range.start));
    let corner1 = area.map_coordinate(&(x_range.end, y_range.end));
    let _ = writeln!(
        overlay,
        r#"<g class="panel" data-panel="{}" data-x-scale="log2" data-x-at="{} {}" data-x-px="{} {}" data-y-scale="{}" data-y-at="{} {}" data-y-px="{} {}"/>"#,
        escape(&panel.title),
        x_range.start,
        x_range.end,
        corner0.0,
        corner1.0,
        if chart.log_y { "log10" } else { "linear" },
        y_range.start,
        y_range.end,
        corner0.1,
        corner1.1,
    );
    let pixels: Vec<Vec<(i32, i32)>> = lines
        .iter()
        .map(|l| {
            l.points
                .iter()
                .map(|p| area.map_coordinate(&(p.x, p.mid)))
                .collect()
        })
        .collect();
    draw_means(&lines, &pixels, overlay);
    draw_markers(&panel.title, chart, &lines, &pixels, overlay);
    if lines.iter().all(|l| l.points.is_empty()) {
        draw_note(cell, "no data")?;
    }
    Ok(())
}

/// The font size, at most `size`, at which `text` fits in `width` pixels
/// (never below 12, where it would no longer read).
fn fitting_size(text: &str, size: f64, width: u32) -> f64 {
    match text_width(text, size, FontStyle::Normal) {
        Ok(w) if w > width && w > 0 => (size * f64::from(width) / f64::from(w)).max(12.0),
        _ => size,
    }
}

type PlotArea<DB> = DrawingArea<DB, Cartesian2d<SizeAxis, ValueAxis>>;

/// The spread over seeds: a translucent band from min to max, or a
/// whisker when the line has a single point.
fn draw_band<DB: DrawingBackend>(area: &PlotArea<DB>, line: &Shown) -> DrawResult<DB> {
    let colour = palette(line.series);
    if let [p] = &line.points[..] {
        return area.draw(&PathElement::new(
            vec![(p.x, p.lo), (p.x, p.hi)],
            colour.stroke_width(2),
        ));
    }
    let lower = line.points.iter().map(|p| (p.x, p.lo));
    let upper = line.points.iter().rev().map(|p| (p.x, p.hi));
    let outline: Vec<(f64, f64)> = lower.chain(upper).collect();
    if outline.is_empty() {
        return Ok(());
    }
    area.draw(&Polygon::new(outline, colour.mix(0.18).filled()))
}

/// Two pixels this close or closer are the same place.
const SAME_PIXEL: i32 = 2;

fn near(a: (i32, i32), b: (i32, i32), by: i32) -> bool {
    (a.0 - b.0).abs() <= by && (a.1 - b.1).abs() <= by
}

/// The means, a polyline per line in the panel's order: faded where a
/// stretch touches a ruled-out point, dashed where it runs over a stretch
/// of a line drawn before it, so that one beneath stays visible.
fn draw_means(lines: &[Shown], pixels: &[Vec<(i32, i32)>], overlay: &mut String) {
    let mut drawn: Vec<((i32, i32), (i32, i32))> = Vec::new();
    for (line, at) in lines.iter().zip(pixels) {
        let strokes: Vec<Stroke> = at
            .windows(2)
            .zip(line.points.windows(2))
            .map(|(ends, points)| Stroke {
                faded: points.iter().any(|p| p.point.mark == Mark::Excluded),
                beneath: drawn
                    .iter()
                    .filter(|(a, b)| {
                        (near(*a, ends[0], SAME_PIXEL) && near(*b, ends[1], SAME_PIXEL))
                            || (near(*b, ends[0], SAME_PIXEL) && near(*a, ends[1], SAME_PIXEL))
                    })
                    .count(),
            })
            .collect();
        // Runs of stretches drawn alike, one polyline each.
        let mut from = 0;
        for i in 1..=strokes.len() {
            if i == strokes.len() || strokes[i] != strokes[from] {
                overlay.push_str(&polyline_svg(
                    &at[from..=i],
                    palette(line.series),
                    strokes[from],
                ));
                overlay.push('\n');
                from = i;
            }
        }
        drawn.extend(at.windows(2).map(|w| (w[0], w[1])));
    }
}

/// The markers, each in a `<g class="marker …">` that names its panel,
/// line, sizes and mean: filled, hollow when ruled out, ringed when the
/// pick. A marker on the place of one drawn before it is drawn smaller, so
/// that the one beneath shows around it; the pick is drawn last and whole,
/// so that its ring holds its own line's marker on top.
fn draw_markers(
    panel: &str,
    chart: &Chart,
    lines: &[Shown],
    pixels: &[Vec<(i32, i32)>],
    overlay: &mut String,
) {
    let mut drawn: Vec<(i32, i32)> = Vec::new();
    let all = lines
        .iter()
        .zip(pixels)
        .flat_map(|(line, at)| line.points.iter().zip(at).map(move |(p, px)| (line, p, px)));
    let (picks, others): (Vec<_>, Vec<_>) = all.partition(|(_, p, _)| p.point.mark == Mark::Pick);
    for (line, shown, &(px, py)) in others.into_iter().chain(picks) {
        let p = shown.point;
        let beneath = drawn.iter().filter(|d| near(**d, (px, py), 3)).count();
        let r = match p.mark {
            Mark::Pick => MARKER_R,
            _ => (MARKER_R * 0.65f64.powi(beneath as i32)).max(1.5),
        };
        let colour = palette(line.series);
        let paint = match p.mark {
            Mark::Excluded => Paint::Hollow(colour),
            Mark::Plain | Mark::Pick => Paint::Filled(colour),
        };
        let _ = write!(
            overlay,
            r#"<g class="marker {}" data-panel="{}" data-series="{}" data-{}="{}""#,
            p.mark.class(),
            escape(panel),
            escape(line.label),
            escape(if chart.x_name.is_empty() {
                "x"
            } else {
                &chart.x_name
            }),
            p.x,
        );
        if !chart.other_name.is_empty() {
            let _ = write!(
                overlay,
                r#" data-{}="{}""#,
                escape(&chart.other_name),
                p.other
            );
        }
        let _ = write!(
            overlay,
            r#" data-mean="{}" data-unit="{}" data-px="{px} {py}">"#,
            p.mid,
            escape(&chart.y_unit)
        );
        let centre = (f64::from(px), f64::from(py));
        if p.mark == Mark::Pick {
            let mut what = format!("{PICK_WORDS}: {}", line.label);
            let x = match chart.x_counts {
                true => p.x.to_string(),
                false => format_bytes(p.x),
            };
            let _ = write!(what, ", {} {x}", chart.x_name);
            if !chart.other_name.is_empty() {
                let _ = write!(what, ", {} {}", chart.other_name, format_bytes(p.other));
            }
            let _ = write!(overlay, "<desc>{}</desc>", escape(&what));
            overlay.push_str(&shape_svg(line.series, centre, r, paint));
            overlay.push_str(&ring_svg(centre));
        } else {
            overlay.push_str(&shape_svg(line.series, centre, r, paint));
        }
        overlay.push_str("</g>\n");
        drawn.push((px, py));
    }
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
                note: String::new(),
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
                                    ..Point::default()
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
            ..Chart::default()
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
        expected.extend(["hold p99 (µs), log scale", "4 KiB", "1 MiB"]);
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
    fn same_input_gives_identical_png() {
        let chart = sample_chart();
        let (a, b) = (Scratch::new("png-1"), Scratch::new("png-2"));
        render_to(&chart, &a.0).unwrap();
        render_to(&chart, &b.0).unwrap();
        let png = |dir: &Path| std::fs::read(dir.join("chart.png")).unwrap();
        assert!(png(&a.0) == png(&b.0), "PNG differs between two renders");
    }

    /// The `<polyline>`s of the SVG drawn in `colour`.
    fn polylines_in(svg: &str, colour: RGBColor) -> Vec<&str> {
        let stroke = format!(r#"stroke="{}""#, hex(colour));
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .collect()
    }

    /// Widths of the shapes of the markers of a line.
    fn marker_widths(svg: &str, label: &str) -> Vec<f64> {
        let series = format!(r#"data-series="{label}""#);
        svg.lines()
            .filter(|l| l.starts_with(r#"<g class="marker"#) && l.contains(&series))
            .map(|l| {
                let (_, points) = l.split_once(r#"points=""#).expect("a polygon marker");
                let (points, _) = points.split_once('"').unwrap();
                let xs: Vec<f64> = points
                    .split(' ')
                    .map(|p| p.split(',').next().unwrap().parse().unwrap())
                    .collect();
                xs.iter().cloned().fold(f64::MIN, f64::max)
                    - xs.iter().cloned().fold(f64::MAX, f64::min)
            })
            .collect()
    }

    #[test]
    fn a_line_over_another_is_dashed_and_its_markers_smaller() {
        let apart = render_to(&sample_chart(), &Scratch::new("apart").0).unwrap();
        let mut chart = sample_chart();
        for panel in &mut chart.panels {
            panel.lines[1].points = panel.lines[0].points.clone();
        }
        let over = render_to(&chart, &Scratch::new("over").0).unwrap();
        // The legend's sample of each line is solid; in the panels, the second line is
        // dashed where it runs over the first, and only then.
        fn in_panels(svg: &str, series: usize) -> Vec<&str> {
            polylines_in(svg, palette(series)).split_off(1)
        }
        for line in in_panels(&apart, 1).iter().chain(&in_panels(&over, 0)) {
            assert!(!line.contains("stroke-dasharray"), "{line}");
        }
        let dashed = in_panels(&over, 1);
        assert_eq!(dashed.len(), chart.panels.len());
        assert!(
            dashed.iter().all(|l| l.contains("stroke-dasharray")),
            "{dashed:?}"
        );
        let full = 2.0 * 0.9 * MARKER_R;
        let widths = |svg| marker_widths(svg, "in-turn");
        assert!(
            widths(&apart).iter().all(|w| (w - full).abs() < 0.2),
            "{:?}",
            widths(&apart)
        );
        assert!(
            widths(&over).iter().all(|w| *w < full * 0.7),
            "{:?}",
            widths(&over)
        );
    }

    #[test]
    fn excluded_points_are_hollow_and_their_stretches_faded() {
        let mut chart = sample_chart();
        chart.panels[0].lines[0].points[5].mark = Mark::Excluded;
        let svg = render_to(&chart, &Scratch::new("excluded").0).unwrap();
        let excluded: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with(r#"<g class="marker excluded""#))
            .collect();
        assert_eq!(excluded.len(), 1, "{excluded:?}");
        assert!(
            excluded[0].contains(r##"fill="#FFFFFF""##),
            "{}",
            excluded[0]
        );
        let faded: Vec<&str> = polylines_in(&svg, palette(0))
            .into_iter()
            .filter(|l| l.contains(r#"opacity="0.35""#))
            .collect();
        assert_eq!(faded.len(), 1, "{faded:?}");
        assert_eq!(
            faded[0].matches(',').count(),
            2,
            "one stretch: {}",
            faded[0]
        );
        // The legend explains the hollow marker only when a chart has one.
        let words = "ruled out by the cost";
        assert!(EXCLUDED_WORDS.starts_with(words));
        assert!(svg_texts(&svg).iter().any(|t| t.starts_with(words)));
        let plain = render_to(&sample_chart(), &Scratch::new("none-excluded").0).unwrap();
        assert!(!svg_texts(&plain).iter().any(|t| t.starts_with(words)));
    }

    #[test]
    fn a_long_panel_caption_is_set_smaller_to_fit() {
        register_fonts().unwrap();
        let short = "uniform, nvme";
        assert_eq!(fitting_size(short, PANEL_TITLE_SIZE, 584), PANEL_TITLE_SIZE);
        let long = "hotspot, nvme, raid5-source (pick not on this axis; ≤ 0 drawn at 0.001)";
        let size = fitting_size(long, PANEL_TITLE_SIZE, 584);
        assert!(size < PANEL_TITLE_SIZE, "{size}");
        assert!(text_width(long, size, FontStyle::Normal).unwrap() <= 590);
    }

    #[test]
    fn odd_input_renders() {
        let nan = Point {
            x: 8192,
            lo: f64::NAN,
            mid: 1.0,
            hi: f64::INFINITY,
            ..Point::default()
        };
        let zero = Point {
            x: 4096,
            lo: 0.0,
            mid: 0.0,
            hi: 0.0,
            ..Point::default()
        };
        let odd_x = Point { x: 0, ..zero };
        let panel = |lines: Vec<Line>| Panel {
            title: "odd".into(),
            note: String::new(),
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
