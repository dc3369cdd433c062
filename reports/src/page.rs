//! `report.html`: the whole report as one page a designer can open offline or mail on.
//!
//! The page is `summary.md` (written by [`crate::render`]) turned into HTML, with every
//! chart the summary shows as `![caption](charts/STEM.png)` replaced by the SVG drawn
//! beside that PNG (`charts/STEM.svg`), inline, under its caption. It fetches nothing: no
//! script, no web font, no image file, no stylesheet but the small one it carries. Nothing
//! here depends on the summary's words, only on its being Markdown with its charts as
//! `charts/*.png` images, so the summary can change freely.
//!
//! Inlining an SVG file into HTML drops what only a stand-alone XML file may carry (the
//! `<?xml ...?>` prolog, a `<!DOCTYPE>`, processing instructions) and renames every `id`
//! the chart declares, with its references (`url(#id)`, `href="#id"`), after the chart it
//! belongs to, so two charts that use the same ids (or one chart shown twice) do not
//! collide. An SVG file that is not one whole, well-formed `<svg>` element is refused,
//! naming the file, rather than cut into the page.

use crate::render::write_file;
use crate::ReportError;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use quick_xml::escape::escape;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event as Xml};
use quick_xml::name::QName;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The page's file name, in the report's folder.
pub const PAGE_FILE: &str = "report.html";

/// The folder, beside the summary, that its chart images are in.
const CHARTS_DIR: &str = "charts";

/// The title when the summary has no first-level heading.
const DEFAULT_TITLE: &str = "cowlab report";

/// The page's own stylesheet: readable tables (ruled, with a header row and figures that
/// line up), charts that shrink to the window, and nothing fetched.
const STYLE: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; line-height: 1.45; \
color: #1b1b1b; background: #fff; margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.2rem; }
code { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: .92em; \
background: #f3f3f3; padding: 0 .2em; }
pre code { display: block; padding: .6rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0; display: block; overflow-x: auto; \
font-size: .92rem; }
th, td { border: 1px solid #bbb; padding: .25rem .55rem; vertical-align: top; }
th { background: #eef1f5; }
tbody tr:nth-child(even) { background: #f8f8f8; }
figure.chart { margin: 1.2rem 0; }
.chart svg { display: block; max-width: 100%; height: auto; }
figure.chart figcaption, .chart .caption { font-size: .9rem; color: #444; margin-top: .3rem; }
";

/// Writes `report.html` into `out`, from the `summary.md` and the charts already there.
pub fn write(out: &Path) -> Result<(), ReportError> {
    let summary = out.join("summary.md");
    let markdown = std::fs::read_to_string(&summary).map_err(|e| ReportError::io(&summary, e))?;
    let html = page(&markdown, out)?;
    write_file(&out.join(PAGE_FILE), &html)
}

/// The page of `markdown`, a summary whose chart images are relative to `dir`.
pub fn page(markdown: &str, dir: &Path) -> Result<String, ReportError> {
    let events: Vec<Event> = Parser::new_ext(markdown, markdown_options()).collect();
    let title = first_heading(&events).unwrap_or_else(|| DEFAULT_TITLE.to_string());
    let mut ids = ChartIds::default();
    let body = with_charts_inline(events, dir, &mut ids)?;
    let mut main = String::new();
    pulldown_cmark::html::push_html(&mut main, body.into_iter());
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n{main}</main>\n\
         </body>\n</html>\n",
        escape(title.as_str())
    ))
}

/// The Markdown the summary is read as: CommonMark with tables.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
}

/// The stem of a chart image's address: `STEM` of `charts/STEM.png`.
pub fn chart_stem(url: &str) -> Option<&str> {
    let stem = url
        .strip_prefix(CHARTS_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".png")?;
    let plain = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !stem.starts_with('.');
    plain.then_some(stem)
}

/// The text of the first first-level heading.
fn first_heading(events: &[Event]) -> Option<String> {
    let start = events.iter().position(|e| {
        matches!(
            e,
            Event::Start(Tag::Heading {
                level: pulldown_cmark::HeadingLevel::H1,
                ..
            })
        )
    })?;
    let end = events[start..]
        .iter()
        .position(|e| matches!(e, Event::End(TagEnd::Heading(_))))?;
    Some(plain_text(&events[start + 1..start + end]))
}

/// The words of a run of inline events (an image's alt text, a heading), without markup.
fn plain_text(events: &[Event]) -> String {
    let mut text = String::new();
    for e in events {
        match e {
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            _ => {}
        }
    }
    text
}

/// The id prefix of each chart shown on the page: `chart-STEM`, then `chart-STEM-2`, ... for
/// a chart shown again.
#[derive(Default)]
struct ChartIds {
    shown: BTreeMap<String, usize>,
}

impl ChartIds {
    fn next(&mut self, stem: &str) -> String {
        let n = self.shown.entry(stem.to_string()).or_insert(0);
        *n += 1;
        match *n {
            1 => format!("chart-{stem}"),
            n => format!("chart-{stem}-{n}"),
        }
    }
}

/// One image of the summary: its address and its alt text.
struct Image {
    url: String,
    alt: String,
}

/// The image starting at `events[i]` (a `Start(Image)`), and the index past its end.
fn image_at(events: &[Event], i: usize) -> Option<(Image, usize)> {
    let Event::Start(Tag::Image { dest_url, .. }) = &events[i] else {
        return None;
    };
    let len = events[i..]
        .iter()
        .position(|e| matches!(e, Event::End(TagEnd::Image)))?;
    let alt = plain_text(&events[i + 1..i + len]);
    Some((
        Image {
            url: dest_url.to_string(),
            alt,
        },
        i + len + 1,
    ))
}

/// Whether a paragraph's inner events are chart images and nothing but blanks between them.
fn only_charts(events: &[Event]) -> bool {
    let mut i = 0;
    let mut charts = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Image { dest_url, .. }) if chart_stem(dest_url).is_some() => {
                match image_at(events, i) {
                    Some((_, next)) => {
                        charts += 1;
                        i = next;
                    }
                    None => return false,
                }
            }
            Event::SoftBreak | Event::HardBreak => i += 1,
            Event::Text(t) if t.trim().is_empty() => i += 1,
            _ => return false,
        }
    }
    charts > 0
}

/// The events with each chart image replaced by its inline SVG: a paragraph of charts alone
/// becomes one figure per chart, a chart amid text an inline one; any other image becomes a
/// link to its file (the page fetches nothing).
fn with_charts_inline<'a>(
    events: Vec<Event<'a>>,
    dir: &Path,
    ids: &mut ChartIds,
) -> Result<Vec<Event<'a>>, ReportError> {
    let mut out = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Paragraph) => {
                let len = events[i..]
                    .iter()
                    .position(|e| matches!(e, Event::End(TagEnd::Paragraph)))
                    .unwrap_or(events.len() - i);
                let inner = &events[i + 1..(i + len).min(events.len())];
                if only_charts(inner) {
                    let mut j = 0;
                    while j < inner.len() {
                        match image_at(inner, j) {
                            Some((image, next)) => {
                                out.push(Event::Html(CowStr::from(figure(
                                    &image, dir, ids, true,
                                )?)));
                                j = next;
                            }
                            None => j += 1,
                        }
                    }
                    i += len + 1;
                    continue;
                }
                out.push(events[i].clone());
                i += 1;
            }
            Event::Start(Tag::Image { .. }) => match image_at(&events, i) {
                Some((image, next)) => {
                    let html = match chart_stem(&image.url) {
                        Some(_) => figure(&image, dir, ids, false)?,
                        None => format!(
                            "<a href=\"{}\">{}</a>",
                            escape(image.url.as_str()),
                            escape(image.alt.as_str())
                        ),
                    };
                    out.push(Event::InlineHtml(CowStr::from(html)));
                    i = next;
                }
                None => {
                    out.push(events[i].clone());
                    i += 1;
                }
            },
            e => {
                out.push(e.clone());
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A chart's HTML: its SVG inline and its caption, as a figure (`block`) or inline.
fn figure(
    image: &Image,
    dir: &Path,
    ids: &mut ChartIds,
    block: bool,
) -> Result<String, ReportError> {
    let stem = chart_stem(&image.url).expect("a chart image");
    let file = dir.join(CHARTS_DIR).join(format!("{stem}.svg"));
    let text = std::fs::read_to_string(&file).map_err(|e| ReportError::io(&file, e))?;
    let id = ids.next(stem);
    let svg = inline_svg(&text, &id).map_err(|why| {
        ReportError::Other(format!(
            "{}: cannot be put in the page: {why}",
            file.display()
        ))
    })?;
    let caption = escape(image.alt.as_str());
    Ok(match block {
        true => format!(
            "<figure class=\"chart\" id=\"{id}\">\n{svg}\n<figcaption>{caption}</figcaption>\n\
             </figure>\n"
        ),
        false => format!(
            "<span class=\"chart\" id=\"{id}\">{svg}<span class=\"caption\">{caption}</span></span>"
        ),
    })
}

/// An SVG file's `<svg>` element, ready to sit in an HTML page: without its prolog, doctype
/// and processing instructions, and with each id it declares prefixed by `prefix` (and
/// every `url(#id)` and `#id` link to it changed alike). Refuses a file that is not exactly
/// one whole, well-formed `<svg>` element.
pub fn inline_svg(text: &str, prefix: &str) -> Result<String, String> {
    let declared = declared_ids(text)?;
    let rename = |id: &str| format!("{prefix}-{id}");
    let mut reader = quick_xml::Reader::from_str(text);
    let mut writer = quick_xml::Writer::new(Vec::new());
    loop {
        let event = reader.read_event().map_err(|e| xml_error(&reader, e))?;
        let event = match event {
            Xml::Eof => break,
            Xml::Decl(_) | Xml::DocType(_) | Xml::PI(_) => continue,
            Xml::Start(e) => Xml::Start(renamed(&e, &declared, &rename)?),
            Xml::Empty(e) => Xml::Empty(renamed(&e, &declared, &rename)?),
            other => other,
        };
        writer
            .write_event(event)
            .map_err(|e| format!("cannot be written again: {e}"))?;
    }
    let svg = String::from_utf8(writer.into_inner()).map_err(|e| e.to_string())?;
    Ok(svg.trim().to_string())
}

fn xml_error(reader: &quick_xml::Reader<&[u8]>, e: quick_xml::Error) -> String {
    format!(
        "not well-formed XML at byte {}: {e}",
        reader.error_position()
    )
}

/// The ids an SVG declares; checks on the way that it is one whole `<svg>` element, with
/// nothing but blanks, comments and a prolog around it.
fn declared_ids(text: &str) -> Result<BTreeSet<String>, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut ids = BTreeSet::new();
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| xml_error(&reader, e))?;
        let element = match &event {
            Xml::Start(e) | Xml::Empty(e) => Some(e),
            _ => None,
        };
        if let Some(e) = element {
            if depth == 0 {
                roots += 1;
                if e.local_name().as_ref() != "svg" {
                    return Err(format!(
                        "its root element is <{}>, not <svg>",
                        e.name().as_ref()
                    ));
                }
            }
            for a in e.attributes() {
                let a = a.map_err(|e| format!("a bad attribute: {e}"))?;
                if a.key.as_ref() == "id" {
                    ids.insert(a.value.into_owned());
                }
            }
        }
        match event {
            Xml::Start(_) => depth += 1,
            Xml::End(_) => depth = depth.saturating_sub(1),
            Xml::Text(t) if depth == 0 && !t.trim().is_empty() => {
                return Err("text outside its <svg> element".into())
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    match (roots, depth) {
        (_, d) if d > 0 => Err(format!("cut short: {d} element(s) left open")),
        (1, _) => Ok(ids),
        (0, _) => Err("no <svg> element".into()),
        (n, _) => Err(format!("{n} root elements, not one <svg>")),
    }
}

/// `element` with its id, and every reference to an id the chart declares, renamed.
fn renamed(
    element: &BytesStart,
    declared: &BTreeSet<String>,
    rename: &dyn Fn(&str) -> String,
) -> Result<BytesStart<'static>, String> {
    let name = element.name().as_ref().to_string();
    let mut out = BytesStart::new(name);
    for a in element.attributes() {
        let a = a.map_err(|e| format!("a bad attribute: {e}"))?;
        let key = a.key.as_ref().to_string();
        let value = a.value.into_owned();
        let value = match key.as_str() {
            "id" => rename(&value),
            "href" | "xlink:href" => match value.strip_prefix('#') {
                Some(id) if declared.contains(id) => format!("#{}", rename(id)),
                _ => value,
            },
            _ => renamed_urls(&value, declared, rename),
        };
        out.push_attribute(Attribute {
            key: QName(&key),
            value: value.into(),
        });
    }
    Ok(out)
}

/// `value` with each `url(#id)` of a declared id renamed.
fn renamed_urls(
    value: &str,
    declared: &BTreeSet<String>,
    rename: &dyn Fn(&str) -> String,
) -> String {
    const OPEN: &str = "url(#";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at + OPEN.len()]);
        rest = &rest[at + OPEN.len()..];
        let end = rest.find(')').unwrap_or(rest.len());
        let id = &rest[..end];
        match declared.contains(id) {
            true => out.push_str(&rename(id)),
            false => out.push_str(id),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n\
        <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">\
        <defs><clipPath id=\"clip\"><rect width=\"5\" height=\"5\"/></clipPath></defs>\
        <g clip-path=\"url(#clip)\"><use href=\"#clip\"/><text x=\"1\">a &amp; b</text></g>\
        <a href=\"#elsewhere\"/></svg>\n";

    /// A temporary folder (removed when dropped) with these charts' SVGs under `charts/`.
    fn dir_with(charts: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("cowlab-page-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join(CHARTS_DIR)).unwrap();
        for (stem, svg) in charts {
            let file = dir.path().join(CHARTS_DIR).join(format!("{stem}.svg"));
            std::fs::write(file, svg).unwrap();
        }
        dir
    }

    #[test]
    fn an_svg_loses_its_prolog_and_its_ids_take_the_charts_name() {
        let svg = inline_svg(CHART, "chart-a").unwrap();
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(!svg.contains("<?xml") && !svg.contains("DOCTYPE"), "{svg}");
        assert!(svg.contains("id=\"chart-a-clip\""), "{svg}");
        assert!(svg.contains("url(#chart-a-clip)"), "{svg}");
        assert!(svg.contains("href=\"#chart-a-clip\""), "{svg}");
        // A link to an id the chart does not declare is left alone, and text stays escaped.
        assert!(svg.contains("href=\"#elsewhere\""), "{svg}");
        assert!(svg.contains("a &amp; b"), "{svg}");
    }

    #[test]
    fn two_charts_with_the_same_ids_get_ids_of_their_own() {
        let dir = dir_with(&[("a", CHART), ("b", CHART)]);
        let md = "# R\n\n![first](charts/a.png)\n![second](charts/b.png)\n\nText ![again](charts/a.png) inline.\n";
        let html = page(md, dir.path()).unwrap();
        let ids: Vec<&str> = html
            .split(" id=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "repeated ids: {ids:?}");
        for id in [
            "chart-a",
            "chart-b",
            "chart-a-2",
            "chart-a-clip",
            "chart-b-clip",
            "chart-a-2-clip",
        ] {
            assert!(unique.contains(id), "no id {id}: {ids:?}");
        }
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 2);
        assert!(html.contains("<figcaption>second</figcaption>"));
        assert!(html.contains("<span class=\"caption\">again</span>"));
    }

    #[test]
    fn a_page_has_the_summarys_tables_and_fetches_nothing() {
        let dir = dir_with(&[("c", CHART)]);
        let md = "# Copy & `x<y`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![c](charts/c.png)\n\n![photo](https://example.org/p.png)\n";
        let html = page(md, dir.path()).unwrap();
        assert_eq!(html.matches("<table>").count(), 1);
        assert!(html.contains("<title>Copy &amp; x&lt;y</title>"), "{html}");
        assert!(!html.contains("<img") && !html.contains("src="), "{html}");
        assert!(html.contains("<a href=\"https://example.org/p.png\">photo</a>"));
    }

    #[test]
    fn a_broken_or_missing_chart_is_refused_with_its_path() {
        let unclosed = CHART.replace("</svg>", "");
        let cut = &CHART[..CHART.len() - 20];
        for (svg, why) in [
            (unclosed.as_str(), "cut short"),
            (cut, "not well-formed"),
            ("<svg><g></svg>", "not well-formed"),
            ("<html/>", "not <svg>"),
            ("<svg/><svg/>", "2 root elements"),
            ("", "no <svg>"),
        ] {
            let dir = dir_with(&[("broken", svg)]);
            let error = page("![x](charts/broken.png)\n", dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("broken.svg") && error.contains(why),
                "{why}: {error}"
            );
        }
        let dir = dir_with(&[]);
        let error = page("![x](charts/none.png)\n", dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("none.svg"), "{error}");
    }

    #[test]
    fn only_plain_chart_addresses_are_charts() {
        assert_eq!(
            chart_stem("charts/hold_p99_us_by_chunk.png"),
            Some("hold_p99_us_by_chunk")
        );
        for url in [
            "charts/../x.png",
            "charts/a/b.png",
            "other/x.png",
            "charts/x.svg",
            "charts/.png",
        ] {
            assert_eq!(chart_stem(url), None, "{url}");
        }
    }
}
