//! `report.html` opened in headless Chromium: a quick sweep's page must render with no
//! console message, with every table of `summary.md` and every chart it shows there whole
//! after rendering, fetching nothing. The checker is proved on pages it must refuse: one
//! that logs a console error, one whose chart is cut short.
//!
//! Chromium is required, not optional: without it these tests fail and say how to install it
//! (`.ci/run` installs it). It runs as root here, so without its sandbox, with a throwaway
//! profile folder, home and temporary folder, all under one temporary folder removed after,
//! no way to resolve a host name, and is killed (its whole process group) on every way out.

mod common;
use cowlab_reports::page::{chart_stem, markdown_options, PAGE_FILE};
use cowlab_reports::report;
use cowlab_reports::run::Options;
use cowlab_reports::sweep::{Granularity, Mode, Sweep};
use cowlab_sim::config::CheckLevel;
use pulldown_cmark::{Event, Parser, Tag};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one page may take to load and dump before Chromium is killed.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// The names Chromium's binary goes by.
const CHROMIUM_NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
];

/// Chromium's binary, or a failure that says how to install it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| CHROMIUM_NAMES.map(|name| dir.join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "report.html is checked in headless Chromium, and none is on PATH (looked for \
                 {}): install it with `apt-get update && apt-get install -y chromium` \
                 (.ci/run does so on a fresh machine)",
                CHROMIUM_NAMES.join(", ")
            )
        })
}

/// Chromium while it runs: killed, with every process it started (its process group), when
/// dropped, whichever way the test leaves.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let group = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group Chromium leads (made
        // for it by `process_group(0)`); it touches no memory of ours.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What Chromium made of a page: the DOM after loading, and the console's messages.
struct Rendered {
    dom: String,
    console: Vec<String>,
}

/// Loads `page` in headless Chromium and dumps its DOM, with its console messages.
fn render(page: &Path) -> Rendered {
    let page = page.canonicalize().unwrap();
    let scratch = tempfile::Builder::new()
        .prefix("cowlab-chromium-")
        .tempdir()
        .unwrap();
    let (dom_file, log_file) = (scratch.path().join("dom.html"), scratch.path().join("log"));
    let home = scratch.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-breakpad",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .arg(format!("file://{}", page.display()))
        // Its home and temporary folder too are in the scratch folder: nothing is left outside.
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("TMPDIR", &home)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_file).unwrap())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("Chromium could not be started: {e}"));
    let mut running = Running(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RENDER_TIMEOUT {
            panic!(
                "Chromium did not render {} within {RENDER_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(running);
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(status.success(), "Chromium failed ({status}):\n{log}");
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    scratch.close().unwrap();
    Rendered { dom, console }
}

/// What a page must show: its summary's tables and, in order, its charts (each by the id
/// the page gives it and the number of elements its SVG file holds).
struct Expected {
    tables: usize,
    charts: Vec<(String, usize)>,
}

/// The number of elements in an SVG file.
fn svg_elements(svg: &str) -> usize {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut n = 0;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_) => n += 1,
            quick_xml::events::Event::Eof => return n,
            _ => {}
        }
    }
}

/// What the page in `dir` must show, read from its `summary.md` and its chart files.
fn expected(dir: &Path) -> Expected {
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let mut tables = 0;
    let mut charts = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for event in Parser::new_ext(&summary, markdown_options()) {
        match event {
            Event::Start(Tag::Table(_)) => tables += 1,
            Event::Start(Tag::Image { dest_url, .. }) => {
                if let Some(stem) = chart_stem(&dest_url) {
                    let n = seen.entry(stem.to_string()).or_insert(0);
                    *n += 1;
                    let id = match *n {
                        1 => format!("chart-{stem}"),
                        n => format!("chart-{stem}-{n}"),
                    };
                    let file = dir.join("charts").join(format!("{stem}.svg"));
                    let svg = std::fs::read_to_string(&file)
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    charts.push((id, svg_elements(&svg)));
                }
            }
            _ => {}
        }
    }
    Expected { tables, charts }
}

/// The start tags in a run of serialised HTML (quoted attribute values skipped).
fn start_tags(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'<' && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            n += 1;
            let mut quote = None;
            while i < bytes.len() {
                match (quote, bytes[i]) {
                    (None, b'>') => break,
                    (None, q @ (b'"' | b'\'')) => quote = Some(q),
                    (Some(q), c) if c == q => quote = None,
                    _ => {}
                }
                i += 1;
            }
        }
        i += 1;
    }
    n
}

/// The `<svg>` element (serialised) that follows the element with id `id` in the DOM.
fn chart_in<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = at + dom[at..].find("<svg")?;
    let end = start + dom[start..].find("</svg>")? + "</svg>".len();
    Some(&dom[start..end])
}

/// What Chromium showed of a page.
#[derive(Debug)]
struct Seen {
    tables: usize,
    charts: usize,
}

/// Renders the page in `dir` and lists what is wrong with it: a console message, something
/// it would fetch or run, a table or a chart missing, or a chart not rendered whole.
fn check(dir: &Path) -> Result<Seen, Vec<String>> {
    let page = dir.join(PAGE_FILE);
    let html = std::fs::read_to_string(&page).unwrap();
    let mut problems = Vec::new();
    for needle in [
        "<script", "<link", "<img", "<iframe", "<object", "@import", " src=",
    ] {
        if html.contains(needle) {
            problems.push(format!(
                "the page holds {needle:?}: it must fetch and run nothing"
            ));
        }
    }
    let want = expected(dir);
    let rendered = render(&page);
    problems.extend(rendered.console.iter().map(|l| format!("console: {l}")));
    let tables = rendered.dom.matches("<table").count();
    if tables != want.tables {
        problems.push(format!(
            "{tables} table(s) rendered, summary.md has {}",
            want.tables
        ));
    }
    let charts = rendered.dom.matches("<svg").count();
    if charts != want.charts.len() {
        problems.push(format!(
            "{charts} chart(s) rendered, summary.md shows {}",
            want.charts.len()
        ));
    }
    for (id, elements) in &want.charts {
        match chart_in(&rendered.dom, id) {
            None => problems.push(format!("chart {id}: not rendered")),
            Some(svg) => {
                let shown = start_tags(svg);
                if shown != *elements {
                    problems.push(format!(
                        "chart {id}: {shown} of its {elements} elements rendered"
                    ));
                }
            }
        }
    }
    match problems.is_empty() {
        true => Ok(Seen {
            tables,
            charts: want.charts.len(),
        }),
        false => Err(problems),
    }
}

/// Two policies, one workload, one disk, three chunk sizes, one seed: a few seconds.
fn small() -> Sweep {
    Sweep {
        volume: 16 << 20,
        writes: 150,
        hot_size: 1 << 20,
        check: CheckLevel::End,
        seeds: 1,
        policies: ["out-of-turn", "offline"]
            .map(|p| p.parse().unwrap())
            .to_vec(),
        workloads: ["uniform"].map(|w| w.parse().unwrap()).to_vec(),
        disks: ["nvme"].map(|d| d.parse().unwrap()).to_vec(),
        granularity: Granularity {
            mode: Mode::Sweeps,
            chunk_sizes: vec![16 << 10, 64 << 10, 256 << 10],
            segment_sizes: vec![64 << 10, 256 << 10],
            segment_for_chunks: 256 << 10,
            chunk_for_segments: 64 << 10,
        },
        ..Sweep::default()
    }
}

fn out(name: &str) -> PathBuf {
    common::scratch(name)
}

#[test]
fn a_reports_page_renders_its_tables_and_charts_with_no_console_message() {
    let dir = out("page-report");
    let made = report(&[&small()], &Options::default(), &dir).unwrap();
    let seen = check(&dir).unwrap_or_else(|p| panic!("report.html:\n{}", p.join("\n")));
    assert!(seen.tables >= 1, "no table rendered: {seen:?}");
    assert!(seen.charts >= 1, "no chart rendered: {seen:?}");
    // Every chart drawn is on the page (the summary may show one more than once).
    for png in &made.charts {
        let stem = png.file_stem().unwrap().to_str().unwrap();
        assert!(
            std::fs::read_to_string(dir.join(PAGE_FILE))
                .unwrap()
                .contains(&format!("id=\"chart-{stem}\"")),
            "{stem} is not on the page"
        );
    }
    // The same results give the same page.
    let again = out("page-report-again");
    cowlab_reports::write(vec![made.results], made.timing, &again).unwrap();
    assert!(
        std::fs::read(dir.join(PAGE_FILE)).unwrap()
            == std::fs::read(again.join(PAGE_FILE)).unwrap(),
        "report.html differs between two writes of the same results"
    );
}

/// A one-chart summary and its page, written by the library into a fresh folder.
fn tiny_page() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cowlab-page-")
        .tempdir()
        .unwrap();
    let charts = dir.path().join("charts");
    std::fs::create_dir_all(&charts).unwrap();
    let mut svg = String::from(
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" \
         height=\"100\" viewBox=\"0 0 200 100\">\n",
    );
    for i in 0..20 {
        svg += &format!(
            "<rect x=\"{}\" y=\"10\" width=\"8\" height=\"{}\" fill=\"#1F77B4\"/>\n",
            i * 10,
            10 + i * 4
        );
    }
    svg += "<text x=\"100\" y=\"95\">bars</text>\n</svg>\n";
    std::fs::write(charts.join("bars.svg"), svg).unwrap();
    std::fs::write(
        dir.path().join("summary.md"),
        "# Tiny\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![bars](charts/bars.png)\n\nThe end.\n",
    )
    .unwrap();
    cowlab_reports::page::write(dir.path()).unwrap();
    dir
}

/// The tiny page with `edit` applied to its HTML.
fn edited(dir: &Path, edit: impl Fn(String) -> String) {
    let page = dir.join(PAGE_FILE);
    let html = std::fs::read_to_string(&page).unwrap();
    let changed = edit(html.clone());
    assert_ne!(changed, html, "the edit changed nothing");
    std::fs::write(page, changed).unwrap();
}

#[test]
fn a_console_error_fails_the_check() {
    let dir = tiny_page();
    check(dir.path()).unwrap_or_else(|p| panic!("the tiny page itself: {p:?}"));
    edited(dir.path(), |html| {
        html.replace("</main>", "<script>console.error('x')</script>\n</main>")
    });
    let problems = check(dir.path()).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("console:") && p.contains("\"x\"")),
        "{problems:?}"
    );
}

#[test]
fn a_chart_cut_short_fails_the_check() {
    let dir = tiny_page();
    check(dir.path()).unwrap_or_else(|p| panic!("the tiny page itself: {p:?}"));
    // The chart loses its second half and its end tag, as a truncated file would.
    edited(dir.path(), |html| {
        let start = html.find("<svg").unwrap();
        let end = html.find("</svg>").unwrap() + "</svg>".len();
        let middle = start + (end - start) / 2;
        let cut = middle + html[middle..].find('<').unwrap();
        format!("{}{}", &html[..cut], &html[end..])
    });
    let problems = check(dir.path()).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("chart chart-bars:") && p.contains("of its 22 elements")),
        "{problems:?}"
    );
}

#[test]
fn a_missing_table_fails_the_check() {
    let dir = tiny_page();
    edited(dir.path(), |html| {
        let start = html.find("<table>").unwrap();
        let end = html.find("</table>").unwrap() + "</table>".len();
        format!("{}{}", &html[..start], &html[end..])
    });
    let problems = check(dir.path()).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("0 table(s) rendered")),
        "{problems:?}"
    );
}
