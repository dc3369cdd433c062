//! `cowlab check --shard I/N` and `cowlab check-merge`: shards of one check merge into the
//! verdict and the unique states of the unsharded check; a counterexample found in a shard
//! replays from the initial state; mismatched or missing shards are refused.

mod common;

use common::{cowlab, figures, refused, refused_output, text};
use cowlab_model::exhaustive::check;
use cowlab_model::exhaustive::{Config, CowModel, Fault, Step};
use cowlab_model::mutant::Mutant;
use cowlab_model::policy::PolicyName;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The verdict of a summary line: its words before the figures.
fn verdict(line: &str) -> &str {
    line.split("; ").next().unwrap_or_default()
}

fn last_line(o: &Output) -> String {
    text(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs the N shards of `check FLAGS` into `dir` and returns their verdict files.
fn shards(dir: &Path, n: usize, flags: &[&str]) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let out = dir.join(format!("shard-{i}.json"));
            let shard = format!("{i}/{n}");
            let mut args = vec!["check", "--quiet", "--shard", &shard];
            let out_text = s(&out);
            args.extend(["--shard-out", &out_text]);
            args.extend(flags);
            let o = cowlab(&args);
            let (stdout, err) = (text(&o.stdout), text(&o.stderr));
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{args:?}: {stdout}{err}"
            );
            assert!(out.exists(), "{args:?} wrote no verdict: {stdout}{err}");
            assert!(dir.join(format!("shard-{i}.fingerprints")).exists());
            out
        })
        .collect()
}

fn merge(files: &[PathBuf]) -> Output {
    let names: Vec<String> = files.iter().map(|f| s(f)).collect();
    let mut args = vec!["check-merge"];
    args.extend(names.iter().map(String::as_str));
    cowlab(&args)
}

fn unsharded(flags: &[&str]) -> Output {
    let mut args = vec!["check", "--quiet"];
    args.extend(flags);
    cowlab(&args)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Four shards merge into the unsharded check's verdict, unique states and `sometimes`
/// properties reached; every shard's total and the overlap are accounted for.
/// (`shard_flags`: flags of the shards only.)
fn merges_like_one_check(flags: &[&str], shard_flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let one = unsharded(flags);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one.stdout));
    let one_line = last_line(&one);
    let files = shards(dir.path(), 4, &[flags, shard_flags].concat());
    let merged = merge(&files);
    let out = text(&merged.stdout);
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{out}{}",
        text(&merged.stderr)
    );
    let line = last_line(&merged);
    assert_eq!(verdict(&line), verdict(&one_line), "{line}\n{one_line}");
    assert!(line.starts_with("OK: every property holds"), "{line}");
    let (unique, total) = figures(&line);
    let (one_unique, one_total) = figures(&one_line);
    assert_eq!(unique, one_unique, "{flags:?}:\n{out}");
    // Shards overlap: their transitions count once per shard that took them.
    assert!(total >= one_total, "{total} < {one_total}");
    assert!(
        line.contains(" states/s; a state missed by a fingerprint collision"),
        "{line}"
    );
    let reached = |o: &str| {
        o.lines()
            .find(|l| l.starts_with("reached: "))
            .map(str::to_string)
    };
    assert_eq!(reached(&out), reached(&text(&one.stdout)));
    // The frontier is dealt whole, each state to one shard.
    let shards: Vec<serde_json::Value> = files.iter().map(|f| json(f)).collect();
    let taken: u64 = shards
        .iter()
        .map(|j| j["prefix"]["taken"].as_u64().unwrap())
        .sum();
    assert_eq!(taken, shards[0]["prefix"]["frontier"].as_u64().unwrap());
    if shard_flags.is_empty() {
        assert!(taken >= 4 * 16, "{taken} frontier states for 4 shards");
    }
    let sum: u64 = shards.iter().map(|j| j["unique"].as_u64().unwrap()).sum();
    assert!(sum >= unique - shards[0]["prefix"]["unique"].as_u64().unwrap());
}

#[test]
fn four_shards_merge_into_the_unsharded_check() {
    merges_like_one_check(&[], &[]);
}

#[test]
fn four_shards_with_symmetry_merge_into_the_unsharded_check() {
    merges_like_one_check(&["--symmetry"], &[]);
}

#[test]
fn four_shards_of_the_full_exploration_merge_into_the_unsharded_check() {
    merges_like_one_check(&["--no-reduction"], &[]);
}

/// Chosen ranges, and the reduction's merged read-and-release actions, across shards.
#[test]
fn four_shards_of_any_writes_merge_into_the_unsharded_check() {
    merges_like_one_check(&["--any-writes", "--writers", "1", "--writes", "1"], &[]);
}

#[test]
fn the_search_and_the_frontier_depth_do_not_change_the_merge() {
    merges_like_one_check(
        &["--dfs", "--threads", "2", "--writes", "1"],
        &["--shard-depth", "9"],
    );
}

/// A counterexample's actions, read from a shard's verdict file.
fn actions(file: &serde_json::Value) -> Vec<Step> {
    file["counterexample"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let blocks = a["blocks"]
                .as_array()
                .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()));
            let fault = match a.get("fault").and_then(|f| f.as_str()) {
                None | Some("none") => Fault::None,
                Some(f) => panic!("a fault {f} in a fault-free check"),
            };
            Step(a["process"].as_u64().unwrap() as usize, blocks, fault)
        })
        .collect()
}

/// A mutant is caught by the shards whose slice holds a counterexample; the merge is
/// VIOLATED with the unsharded check's shortest counterexample, which replays alone from
/// the initial state with `check::replay`.
fn caught(policy: &str, mutant: &str, property: &str, past_frontier: bool) {
    let flags = ["--policy", policy, "--mutant", mutant];
    let one = unsharded(&flags);
    assert_eq!(one.status.code(), Some(1));
    let one_out = text(&one.stdout);
    let length = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("counterexample ("))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no counterexample in {out}"))
    };
    let dir = tempfile::tempdir().unwrap();
    let files = shards(dir.path(), 4, &flags);
    let merged = merge(&files);
    let out = text(&merged.stdout);
    assert_eq!(
        merged.status.code(),
        Some(1),
        "{out}{}",
        text(&merged.stderr)
    );
    assert!(
        last_line(&merged).starts_with(&format!("VIOLATED ({property})")),
        "{out}"
    );
    assert_eq!(length(&out), length(&one_out), "{out}");
    assert!(
        out.contains("shortest: no counterexample has fewer steps"),
        "{out}"
    );
    assert!(out.contains(&format!("violates: {property}\n")), "{out}");

    let config = Config {
        policy: policy.parse::<PolicyName>().unwrap(),
        mutant: Some(mutant.parse::<Mutant>().unwrap()),
        ..Config::default()
    };
    let model = CowModel::new(config.spec().unwrap(), false);
    let mut found = 0;
    let mut printed = false;
    for f in &files {
        let file = json(f);
        let exit_one = file["counterexample"].is_object();
        if !exit_one {
            continue;
        }
        found += 1;
        assert_eq!(file["counterexample"]["property"], property);
        let depth = file["prefix"]["depth"].as_u64().unwrap() as usize;
        let len = file["counterexample"]["actions"].as_array().unwrap().len();
        assert_eq!(
            len > depth,
            past_frontier,
            "{}: {len} steps, frontier at depth {depth}",
            f.display()
        );
        let (steps, last) = check::replay(&model, &actions(&file));
        assert_eq!(
            steps.len(),
            file["counterexample"]["actions"].as_array().unwrap().len()
        );
        let state = cowlab_model::exhaustive::State::from_world(model.spec(), last);
        let v = model
            .violation(property, &state)
            .unwrap_or_else(|| panic!("{}: the replay breaks no {property}", f.display()));
        // The merge prints the shortest of the shards' counterexamples, in domain words.
        printed |= steps.len() == length(&out) && out.lines().any(|l| l == v.to_string());
    }
    assert!(found >= 1, "no shard caught {mutant}");
    assert!(
        printed,
        "the merge printed none of the shards' counterexamples:\n{out}"
    );
}

#[test]
fn a_mutant_caught_in_the_prefix_is_violated_in_the_merge() {
    // Its only counterexample has 1 step: every shard finds it before dealing the frontier.
    caught(
        "snapshot-overlay",
        "apply-before-preserve",
        "point-in-time image",
        false,
    );
}

#[test]
fn a_mutant_caught_past_the_frontier_replays_from_the_initial_state() {
    // 8 steps, deeper than the frontier: the trace is the prefix's path to a frontier state
    // and then the shard's own.
    caught(
        "out-of-turn",
        "copier-ignores-in-flight",
        "map soundness",
        true,
    );
}

/// Four shards of the default check written into `dir` (small: 2 segments, 1 write each).
fn small_shards(dir: &Path) -> Vec<PathBuf> {
    shards(dir, 4, &["--segments", "2", "--writes", "1"])
}

#[test]
fn check_merge_refuses_a_missing_or_duplicated_shard() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_shards(dir.path());
    let o = merge(&[files[0].clone(), files[1].clone(), files[3].clone()]);
    refused_output(&o, "a missing shard", &["shard 2 of 4 is missing"]);
    let o = merge(&[files[0].clone(), files[1].clone()]);
    refused_output(&o, "two missing shards", &["shards 2, 3 of 4 are missing"]);

    let copy = dir.path().join("copy.json");
    std::fs::copy(&files[1], &copy).unwrap();
    let mut with_copy = files.clone();
    with_copy.push(copy.clone());
    let o = merge(&with_copy);
    refused_output(
        &o,
        "a duplicated shard",
        &["shard 1 of 4 is given twice", &s(&files[1]), &s(&copy)],
    );
    // All four merge.
    assert_eq!(merge(&files).status.code(), Some(0));
}

#[test]
fn check_merge_refuses_a_shard_of_another_check() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_shards(dir.path());
    let other = tempfile::tempdir().unwrap();
    // Shard 2 of a check with one writer more.
    let o = cowlab(&[
        "check",
        "--quiet",
        "--segments",
        "2",
        "--writes",
        "1",
        "--writers",
        "3",
        "--shard",
        "2/4",
        "--shard-out",
        &s(&other.path().join("w3.json")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mixed = [
        files[0].clone(),
        files[1].clone(),
        other.path().join("w3.json"),
        files[3].clone(),
    ];
    refused_output(
        &merge(&mixed),
        "another configuration",
        &["w3.json: --writers 3, but", "--writers 2"],
    );

    // A shard of 3 shards.
    let o = cowlab(&[
        "check",
        "--quiet",
        "--segments",
        "2",
        "--writes",
        "1",
        "--shard",
        "2/3",
        "--shard-out",
        &s(&other.path().join("of3.json")),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let mixed = [files[0].clone(), other.path().join("of3.json")];
    refused_output(
        &merge(&mixed),
        "another shard count",
        &["of3.json: shard 2 of 3", "one of 4 shards"],
    );

    // Another frontier depth is another deal of the frontier.
    let o = cowlab(&[
        "check",
        "--quiet",
        "--segments",
        "2",
        "--writes",
        "1",
        "--shard",
        "3/4",
        "--shard-depth",
        "2",
        "--shard-out",
        &s(&other.path().join("d2.json")),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let mixed = [
        files[0].clone(),
        files[1].clone(),
        files[2].clone(),
        other.path().join("d2.json"),
    ];
    refused_output(
        &merge(&mixed),
        "another frontier depth",
        &["d2.json: --shard-depth 2"],
    );

    // Another build.
    let edited = other.path().join("shard-1.json");
    let mut j = json(&files[1]);
    j["version"] = "0.0.9".into();
    std::fs::write(&edited, serde_json::to_string(&j).unwrap()).unwrap();
    std::fs::copy(
        dir.path().join("shard-1.fingerprints"),
        other.path().join("shard-1.fingerprints"),
    )
    .unwrap();
    let mixed = [files[0].clone(), edited, files[2].clone(), files[3].clone()];
    refused_output(
        &merge(&mixed),
        "another version",
        &["shard-1.json: written by cowlab 0.0.9"],
    );
}

#[test]
fn check_merge_refuses_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_shards(dir.path());
    let missing = dir.path().join("nope.json");
    refused(
        &["check-merge", &s(&files[0]), &s(&missing)],
        &["nope.json: cannot read"],
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 3}").unwrap();
    refused(
        &["check-merge", &s(&garbage)],
        &["garbage.json: not a shard verdict of cowlab check"],
    );
    // A fingerprint file cut short.
    let fp = dir.path().join("shard-2.fingerprints");
    let bytes = std::fs::read(&fp).unwrap();
    std::fs::write(&fp, &bytes[..bytes.len() - 8]).unwrap();
    refused_output(
        &merge(&files),
        "a cut fingerprint file",
        &["shard-2.fingerprints: holds"],
    );
    std::fs::write(&fp, &bytes).unwrap();
    // A counterexample edited so that it no longer replays.
    let mut j = json(&files[0]);
    j["counterexample"] = serde_json::json!({
        "property": "map soundness",
        "shortest_verified": true,
        "actions": [{"process": 99}]
    });
    std::fs::write(&files[0], serde_json::to_string(&j).unwrap()).unwrap();
    refused_output(
        &merge(&files),
        "a counterexample that does not replay",
        &["shard-0.json: its counterexample of 'map soundness' does not replay: step 1"],
    );
}

#[test]
fn a_bad_shard_flag_is_one_line_and_exit_code_2() {
    refused(
        &["check", "--shard", "4/4"],
        &["--shard 4/4: shard index 4 is not below the shard count 4"],
    );
    refused(&["check", "--shard", "0/0"], &["--shard 0/0", "from 1 to"]);
    refused(&["check", "--shard", "3"], &["--shard 3: expected I/N"]);
    refused(
        &["check", "--shard", "a/4"],
        &["--shard a/4", "'a' is not a whole number"],
    );
    refused(&["check", "--shard", "-1/4"], &["--shard -1/4"]);
    refused(
        &["check", "--shard", "0/4", "--simulate"],
        &["--shard", "--simulate"],
    );
    refused(
        &["check", "--shard", "0/4", "--max-depth", "3"],
        &["--shard", "--max-depth"],
    );
    refused(&["check", "--shard-depth", "3"], &["--shard"]);
    refused(
        &[
            "check",
            "--shard",
            "0/4",
            "--shard-out",
            "/nonexistent/folder/x.json",
        ],
        &["--shard-out /nonexistent/folder/x.json"],
    );
}
