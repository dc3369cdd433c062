//! The architecture as the README's Layout states it, held by a test: each crate imports
//! only the crates below it (model, then sim, then reports and qemu, then the command
//! line), and no crate's modules import each other in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each crate of the workspace, its source folder, and the cowlab crates it may use.
const CRATES: [(&str, &str, &[&str]); 5] = [
    ("cowlab-model", "model", &[]),
    ("cowlab-sim", "sim", &["cowlab-model"]),
    ("cowlab-reports", "reports", &["cowlab-model", "cowlab-sim"]),
    ("cowlab-qemu", "qemu", &["cowlab-model", "cowlab-sim"]),
    (
        "cowlab",
        ".",
        &[
            "cowlab-model",
            "cowlab-sim",
            "cowlab-reports",
            "cowlab-qemu",
        ],
    ),
];

/// The cowlab crates a manifest lists as dependencies (not dev-dependencies).
fn uses(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).expect("a manifest");
    let table: toml::Table = text.parse().expect("a TOML manifest");
    table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .into_iter()
        .flat_map(|d| d.keys())
        .filter(|k| k.starts_with("cowlab"))
        .cloned()
        .collect()
}

#[test]
fn each_crate_uses_only_the_crates_below_it() {
    for (name, dir, allowed) in CRATES {
        let used = uses(&Path::new(ROOT).join(dir).join("Cargo.toml"));
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        let above: Vec<&String> = used.difference(&allowed).collect();
        assert!(
            above.is_empty(),
            "{name} uses {above:?}, which are not below it"
        );
    }
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let p = entry.path();
        match p.is_dir() {
            true => out.extend(sources(&p)),
            false if p.extension().is_some_and(|e| e == "rs") => out.push(p),
            false => {}
        }
    }
    out
}

/// A crate's top-level modules and the modules each names through `crate::` in its code
/// (comments left out: a doc link is not an import).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(src) {
        let rel = file.strip_prefix(src).expect("inside the crate");
        let first = rel.iter().next().and_then(|s| s.to_str()).unwrap_or("");
        let module = first.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&file).expect("a source file");
        let edges = graph.entry(module.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    edges.insert(name);
                }
            }
        }
    }
    graph
}

/// A circle of modules, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            return Some(path[i..].to_vec());
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(c) = visit(next, graph, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_circle_among_its_modules() {
    for (name, dir, _) in CRATES {
        let graph = module_graph(&Path::new(ROOT).join(dir).join("src"));
        assert!(graph.len() > 3, "{name}: no modules found");
        assert_eq!(circle(&graph), None, "{name} has an import circle");
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
            .iter()
            .map(|(m, n)| (m.to_string(), BTreeSet::from([n.to_string()])))
            .collect();
    let c = circle(&graph).expect("a circle");
    assert_eq!(c.len(), 3, "{c:?}");
}

/// The features a manifest asks of the engine.
fn engine_features(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("a manifest");
    let table: toml::Table = text.parse().expect("a TOML manifest");
    table
        .get("dependencies")
        .and_then(|d| d.get("cowlab-model"))
        .and_then(|m| m.get("features"))
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_engines_checkers_are_built_only_by_the_crates_that_run_them() {
    // The simulator, the reports and the QEMU driver step the engine; stateright, loom and
    // proptest come with the checkers, which the command line and the example policy run.
    for (dir, checkers) in [
        ("sim", false),
        ("reports", false),
        ("qemu", false),
        (".", true),
        ("examples/own-policy", true),
    ] {
        let features = engine_features(&Path::new(ROOT).join(dir).join("Cargo.toml"));
        assert_eq!(
            features.iter().any(|f| f == "checkers"),
            checkers,
            "{dir} asks the engine for {features:?}"
        );
    }
}
