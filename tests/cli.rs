//! End-to-end tests of the `cowlab` command line: the main job, the mutant catalogue,
//! replay, determinism, and clear errors for bad input.

mod common;

use common::cowlab;

use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_survey_prints_a_table_with_zero_violations_for_every_policy() {
    let o = cowlab(&["survey"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for policy in cowlab_model::policy::names() {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(policy))
            .unwrap_or_else(|| panic!("no row for {policy}:\n{out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], "10000", "runs: {row}");
        assert!(cols[2].parse::<u64>().unwrap() > 0, "steps: {row}");
        assert_eq!(cols[3], "0", "violations: {row}");
    }
}

/// One row of `cowlab mutants`: `NAME VERDICT by INVARIANTS in N of SEEDS seeds DESCRIPTION`.
struct CatalogueRow<'a> {
    verdict: &'a str,
    by: Vec<&'a str>,
    caught: u64,
    rest: &'a str,
}

fn parse_row<'a>(row: &'a str, name: &str) -> Option<CatalogueRow<'a>> {
    let fields = row.strip_prefix(name)?.trim_start();
    let (verdict, rest) = fields.split_once(" by ")?;
    let (by, rest) = rest.split_once(" in ")?;
    let (caught, rest) = rest.trim_start().split_once(" of ")?;
    Some(CatalogueRow {
        verdict: verdict.trim_end(),
        by: by.trim_end().split(", ").collect(),
        caught: caught.parse().ok()?,
        rest,
    })
}

#[test]
fn the_catalogue_shows_every_mutant_caught() {
    let o = cowlab(&["mutants", "--seeds", "300"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let invariants: Vec<&str> = cowlab_model::Invariant::ALL
        .iter()
        .map(|i| i.name())
        .collect();
    for m in cowlab_model::Mutant::ALL {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(m.name()))
            .unwrap_or_else(|| panic!("no row for {m}:\n{out}"));
        let r = parse_row(row, m.name()).unwrap_or_else(|| panic!("unreadable row: {row}"));
        // Exactly "caught": "not caught" is the verdict of a mutant that survived.
        assert_eq!(r.verdict, "caught", "{row}");
        assert!(r.caught > 0 && r.caught <= 300, "{row}");
        // Only the mutants whose mistake is a hang are caught by progress.
        use cowlab_model::Mutant::{HandBackWithoutWake, HeldWritesHangOnCopyError};
        let hang = [HeldWritesHangOnCopyError, HandBackWithoutWake].contains(&m);
        assert!(
            r.by.iter()
                .all(|i| invariants.contains(i) && (*i != "progress") != hang),
            "{row}"
        );
        assert_eq!(r.rest, format!("300 seeds  {}", m.description()), "{row}");
    }
}

#[test]
fn replay_of_a_mutant_case_prints_a_trace_and_exits_1() {
    let args = [
        "replay",
        "--seed",
        "0",
        "--policy",
        "snapshot-overlay",
        "--mutant",
        "apply-before-preserve",
    ];
    let o = cowlab(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("case seed: 0") && out.contains("   1. "),
        "{out}"
    );
    // The last line is the violation, in the words of the README's example.
    assert_eq!(
        out.lines().last(),
        Some(
            "point-in-time image violated: image served from source, block 0: \
             expected stamp 0 (begin image), found 3 (write 2)"
        ),
        "{out}"
    );
    // Same seed, same output: a failure can be replayed exactly.
    assert_eq!(out, stdout(&cowlab(&args)));
}

#[test]
fn replay_without_a_mutant_holds_every_invariant() {
    let o = cowlab(&["replay", "--seed", "3", "--policy", "out-of-turn"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("every invariant held"));
}

/// Bad input: exit code 2, one line naming the problem, no panic.
fn assert_usage_error(args: &[&str], needle: &str) {
    let o = cowlab(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    assert_usage_error(
        &["survey", "--seeds", "0"],
        "invalid value '0' for '--seeds <SEEDS>'",
    );
    assert_usage_error(
        &["survey", "--seeds", "many"],
        "invalid value 'many' for '--seeds <SEEDS>'",
    );
    assert_usage_error(
        &["replay", "--seed", "1", "--policy", "nope"],
        "--policy nope: unknown policy (expected one of: ",
    );
    assert_usage_error(
        &[
            "replay", "--seed", "1", "--policy", "offline", "--mutant", "oops",
        ],
        "--mutant oops: unknown mutant (expected one of: ",
    );
    assert_usage_error(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
}

#[test]
fn bad_geometry_and_requests_past_the_end_exit_2_naming_the_value() {
    assert_usage_error(&["run", "--blocks", "0"], "--blocks 0: must be at least 1");
    assert_usage_error(
        &["run", "--segment-blocks", "4", "--cow-blocks", "3"],
        "--cow-blocks 3: must divide --segment-blocks (4)",
    );
    assert_usage_error(
        &["run", "--block-size", "8589934592"],
        "block_size is 8589934592",
    );
    assert_usage_error(
        &["run", "--writer", "w4000+200"],
        "request of 200 bytes at byte offset 4000 ends past the end of the volume (4096 bytes)",
    );
    assert_usage_error(
        &[
            "run",
            "--writer",
            "w0+1",
            "--image-reader",
            "18446744073709551615+2",
        ],
        "ends past the end",
    );
    assert_usage_error(&["run", "--writer", "w0+0"], "empty request");
    assert_usage_error(&["run", "--writer", "w12"], "bad request 'w12'");
    assert_usage_error(
        &["run", "--order", "zigzag"],
        "--order zigzag: unknown order (expected one of: ",
    );
}

#[test]
fn runs_too_big_for_the_machine_are_refused_with_the_estimate_and_the_limit() {
    assert_usage_error(
        &[
            "run",
            "--blocks",
            "4294967295",
            "--segment-blocks",
            "256",
            "--cow-blocks",
            "16",
            "--writer",
            "w0+10",
        ],
        "--blocks 4294967295: the run keeps every block's data, about 80.0 GiB, more than the 8 GiB limit",
    );
    assert_usage_error(
        &[
            "run",
            "--blocks",
            "100000000",
            "--segment-blocks",
            "256",
            "--cow-blocks",
            "16",
            "--writer",
            "w0+10",
        ],
        "--blocks 100000000: checking every invariant after each of at least 1171875 steps",
    );
}

#[test]
fn run_checks_a_case_of_your_own() {
    let ok = cowlab(&[
        "run",
        "--writer",
        "w0+1024,r0+600",
        "--writer",
        "w700+100",
        "--image-reader",
        "0+4096",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("copy complete"));
    assert_eq!(stdout(&ok).lines().last(), Some("every invariant held"));
    let caught = cowlab(&[
        "run",
        "--writer",
        "w0+512",
        "--mutant",
        "apply-before-preserve",
        "--policy",
        "out-of-turn",
    ]);
    assert_eq!(caught.status.code(), Some(1), "{}", stdout(&caught));
    assert_eq!(
        stdout(&caught).lines().last(),
        Some(
            "point-in-time image violated: image served from source, block 0: \
             expected stamp 0 (begin image), found 1 (write 0)"
        ),
        "{}",
        stdout(&caught)
    );
}

/// Each `e.g.` of a subcommand's help, with the flag it documents: `(flag, value)`. An
/// example runs to the first " (", " [" or ". ", and may list values with ", " or " or ".
fn help_examples(command: &str) -> Vec<(String, String)> {
    let help = stdout(&cowlab(&[command, "--help"]));
    let mut flag = "";
    let mut out = Vec::new();
    for line in help.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.trim_start().starts_with('-') {
            if let Some(f) = words.iter().find(|w| w.starts_with("--")) {
                flag = f.trim_end_matches(',');
            }
        }
        let Some((_, after)) = line.split_once("e.g. ") else {
            continue;
        };
        let end = [" (", " [", ". "]
            .iter()
            .filter_map(|stop| after.find(stop))
            .min()
            .unwrap_or(after.len());
        for value in after[..end].split(", ").flat_map(|v| v.split(" or ")) {
            let value = value.trim().trim_end_matches('.').trim_matches('`');
            out.push((flag.to_string(), value.to_string()));
        }
    }
    out
}

#[test]
fn every_example_in_a_help_text_is_a_value_its_flag_takes() {
    // A flag refused later in the parse (`--check bogus` for sim and qemu) shows that every
    // flag before it was taken; `run` runs its small case whole.
    let mut checked = 0;
    for (command, tail) in [
        ("sim", &["--check", "bogus"][..]),
        ("qemu", &["--check", "bogus"][..]),
        (
            "run",
            &[
                "--blocks",
                "8",
                "--segment-blocks",
                "2",
                "--cow-blocks",
                "1",
            ][..],
        ),
    ] {
        let examples = help_examples(command);
        assert!(!examples.is_empty(), "{command} --help has no examples");
        for (flag, value) in examples {
            let mut args = vec![command, flag.as_str(), value.as_str()];
            args.extend_from_slice(tail);
            let o = cowlab(&args);
            let err = stderr(&o);
            assert!(
                o.status.code() != Some(2) || !err.contains(&flag),
                "{args:?}: the example is refused: {err}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} examples found");
}

#[test]
fn the_fault_plan_a_replay_prints_replays_the_same_case() {
    for (seed, policy) in [
        (17, "next-range"),
        (3, "out-of-turn"),
        (40, "snapshot-overlay"),
    ] {
        let seed = seed.to_string();
        let drawn = cowlab(&["replay", "--faults", "--seed", &seed, "--policy", policy]);
        let out = stdout(&drawn);
        let line = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|rest| rest.trim().to_string())
        };
        let mut args = vec!["replay".to_string(), "--seed".into(), seed.clone()];
        args.extend(["--policy".to_string(), policy.to_string()]);
        if let Some(plan) = line("faults:") {
            args.extend(plan.split_whitespace().map(str::to_string));
        }
        let on_error = line("on error:").expect("a case with faults names its error policy");
        args.extend(["--on-error".to_string(), on_error]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let own = cowlab(&args);
        assert_eq!(
            own.status.code(),
            drawn.status.code(),
            "{args:?}: {}",
            stderr(&own)
        );
        assert_eq!(stdout(&own), out, "{args:?} is not the case it printed");
    }
}
