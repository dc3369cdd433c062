//! End-to-end tests of `cowlab check` and `cowlab explore`.

mod common;

use common::{cowlab, figures};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const ISSUE: [&str; 11] = [
    "--segments",
    "3",
    "--segment-blocks",
    "2",
    "--cow-blocks",
    "1",
    "--writers",
    "2",
    "--writes",
    "2",
    "--quiet",
];

fn check(extra: &[&str]) -> Output {
    let mut args = vec!["check"];
    args.extend(ISSUE);
    args.extend(extra);
    cowlab(&args)
}

#[test]
fn the_issues_configuration_passes_and_prints_the_summary() {
    let o = check(&["--policy", "snapshot-overlay"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("OK: every property holds;"), "{last}");
    assert!(
        last.contains(" s, ")
            && last.contains(
                " states/s; a state missed by a fingerprint collision with probability at most "
            ),
        "{last}"
    );
    let (unique, total) = figures(&out);
    assert!(unique > 1000 && total >= unique, "{last}");
    assert!(out.contains("reached: a write is held while its chunk is preserved"));
}

#[test]
fn a_mutant_exits_1_with_a_numbered_trace_in_domain_words() {
    let o = check(&[
        "--policy",
        "snapshot-overlay",
        "--mutant",
        "apply-before-preserve",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("counterexample (1 step; shortest"), "{out}");
    assert!(
        out.contains("   1. writer ") && out.contains("applied to source"),
        "{out}"
    );
    assert!(out.contains("violates: point-in-time image"), "{out}");
    assert!(
        out.lines().any(|l| l
            == "point-in-time image violated: image served from source, block 1: \
                expected stamp 0 (begin image), found 3 (write 2)"),
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("VIOLATED"), "{out}");
}

#[test]
fn a_longer_trace_names_preservation_steps() {
    let o = check(&[
        "--policy",
        "out-of-turn",
        "--mutant",
        "copier-ignores-in-flight",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("preserve chunk"), "{out}");
    assert!(out.contains("copier: claim segment"), "{out}");
    assert!(out.contains("   8. "), "{out}");
    // The README's example, word for word.
    assert!(
        out.lines().any(|l| l
            == "map soundness violated: chunk 1 marked copied, but destination, block 1: \
                expected stamp 0 (begin image), found 3 (write 2)"),
        "{out}"
    );
}

#[test]
fn dfs_threads_and_symmetry_reach_the_same_verdict() {
    let (base, _) = text(&check(&[]));
    let (plain, _) = figures(&base);
    for extra in [
        &["--dfs"][..],
        &["--threads", "2"],
        &["--symmetry"],
        &["--dfs", "--symmetry"],
    ] {
        let o = check(extra);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {out}{err}");
        let (unique, _) = figures(&out);
        if extra.contains(&"--symmetry") {
            assert!(unique < plain, "{extra:?}: {unique} vs {plain}");
        } else {
            assert_eq!(unique, plain, "{extra:?}");
        }
    }
    let o = check(&["--threads", "2", "--mutant", "check-then-act"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).0);
}

/// The full exploration is the one `model/tests/exhaustive.rs` pins; the default judges the
/// readers' reads where they stand, with fewer states and the same verdicts.
#[test]
fn no_reduction_explores_every_interleaving_of_the_reads_too() {
    let o = check(&["--no-reduction"]);
    let (full, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{full}");
    assert_eq!(figures(&full).0, 35_474, "{full}");
    assert!(!full.contains("reads judged where they stand"), "{full}");
    let (reduced, _) = text(&check(&[]));
    assert!(
        reduced.contains("reads judged where they stand"),
        "{reduced}"
    );
    assert!(figures(&reduced).0 < 35_474 / 2, "{reduced}");
    for extra in [&[][..], &["--no-reduction"]] {
        let mut args = vec!["--mutant", "release-out-of-order"];
        args.extend(extra);
        let o = check(&args);
        let (out, _) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {out}");
        assert!(
            out.contains("violates: read-your-writes"),
            "{extra:?}: {out}"
        );
    }
}

#[test]
fn a_depth_bound_limits_the_search() {
    let o = check(&["--max-depth", "3"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("OK within the bound"), "{out}");
    // The only counterexample of this mutant has 1 step: a bound of 1 finds it.
    let o = check(&["--max-depth", "1", "--mutant", "apply-before-preserve"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn simulation_runs_from_a_seed() {
    let sim = [
        "check",
        "--simulate",
        "--seed",
        "3",
        "--runs",
        "50",
        "--writers",
        "3",
    ];
    let o = cowlab(&sim);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("simulation: 50 runs from seed 3"), "{out}");
    let again = cowlab(&sim);
    assert_eq!(figures(&out).1, figures(&text(&again).0).1);
    let o = check(&["--simulate", "--runs", "2000", "--mutant", "check-then-act"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).0);
}

#[test]
fn progress_lines_go_to_stderr_while_it_runs() {
    // A line every millisecond, so that even a fast machine prints some.
    let o = cowlab(&["check", "--writers", "3", "--progress-ms", "1"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let line = err
        .lines()
        .find(|l| l.contains("states ") && l.contains("unique ") && l.contains("depth "))
        .unwrap_or_else(|| panic!("no progress line in: {err}"));
    assert!(line.contains(" states/s"), "{line}");
    let quiet = cowlab(&["check", "--writers", "3", "--progress-ms", "1", "--quiet"]);
    assert!(text(&quiet).1.is_empty(), "{}", text(&quiet).1);
}

/// Where what remains can be told, the progress line tells it: a simulation's runs and the
/// time they take at the pace so far, or the time to the limit.
#[test]
fn progress_lines_say_what_remains_where_it_is_known() {
    let sim = cowlab(&[
        "check",
        "--simulate",
        "--runs",
        "3000",
        "--any-writes",
        "--progress-ms",
        "1",
    ]);
    let (out, err) = text(&sim);
    assert_eq!(sim.status.code(), Some(0), "{out}{err}");
    let runs = err.lines().filter(|l| l.contains(" of 3000")).count();
    assert!(runs > 0, "no runs counted in: {err}");
    let bounded = cowlab(&[
        "check",
        "--writers",
        "3",
        "--timeout",
        "600",
        "--progress-ms",
        "1",
    ]);
    let (_, err) = text(&bounded);
    assert!(
        err.lines()
            .any(|l| l.contains("stops at the time limit in 600 s")
                || l.contains("stops at the time limit in 599 s")),
        "{err}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let cases: [&[&str]; 10] = [
        &["check", "--policy", "nope"],
        &["check", "--mutant", "nope"],
        &["check", "--segments", "0"],
        &["check", "--segment-blocks", "0"],
        &["check", "--cow-blocks", "0"],
        &["check", "--segment-blocks", "2", "--cow-blocks", "3"],
        &["check", "--threads", "0"],
        &["check", "--writers", "-1"],
        &["explore", "--policy", "nope"],
        &["explore", "--threads", "0"],
    ];
    for args in cases {
        let o = cowlab(args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// Kills the explorer when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn explore_serves_the_initial_state_and_its_steps_in_domain_words() {
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_cowlab"))
            .args(["explore", "--port", &port.to_string(), "--threads", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cowlab explore starts"),
    );
    // Wait until it listens (it is up in well under a second; give up after a minute).
    let mut page = None;
    for _ in 0..600 {
        page = get(port, "/");
        if page.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = page.expect("the explorer answers on 127.0.0.1");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.to_lowercase().contains("<html"), "{page}");

    let states = get(port, "/.states").expect("initial states");
    assert!(states.starts_with("HTTP/1.1 200"), "{states}");
    for word in [
        "copier: next: claim a segment",
        "writer 1: next: write 0",
        "source",
    ] {
        assert!(states.contains(word), "{word} missing from {states}");
    }
    let next = get(port, "/.states/0").expect("the initial state's steps");
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
    for word in [
        "\"action\":\"copier\"",
        "\"action\":\"writer 1\"",
        "\"action\":\"image reader 1\"",
        "claim segment 0",
        "held in the queue",
    ] {
        assert!(next.contains(word), "{word} missing from {next}");
    }
    let missing = get(port, "/.states/0/99").expect("an answer");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    drop(server);
}

#[test]
fn explore_refuses_a_busy_port_in_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let o = cowlab(&["explore", "--port", &port]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
}

#[test]
fn a_mutant_that_does_not_act_on_the_policy_is_said_to_have_tested_nothing() {
    // skip-overlay breaks snapshot-overlay's overlay pass; out-of-turn has none.
    let o = cowlab(&[
        "check",
        "--quiet",
        "--mutant",
        "skip-overlay",
        "--policy",
        "out-of-turn",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("OK: every property holds"), "{out}");
    assert!(
        out.contains("note: the mutant skip-overlay changed nothing here"),
        "{out}"
    );
    // Where it acts, it is caught and no such note is printed.
    let o = cowlab(&["check", "--quiet", "--mutant", "skip-overlay"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("note: the mutant"), "{out}");
}

#[test]
fn a_fault_that_is_always_retried_is_not_a_vacuous_check() {
    // One fault under retry:1 can never fail the copy: every property holds, exit 0.
    let o = cowlab(&["check", "--quiet", "--faults", "1", "--on-error", "retry:1"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("OK: every property holds"), "{out}");
    assert!(
        out.contains("a fault strikes and the copy still completes"),
        "{out}"
    );
    // Two faults can exhaust one retry: then the copy failing must be reached.
    let o = cowlab(&["check", "--quiet", "--faults", "2", "--on-error", "retry:1"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("the copy fails"), "{out}");
}

/// `--max-memory`: a check that outgrows it stops with a verdict that says it is no proof
/// and what to try (progress lines show the memory in use against the limit); a bad size is
/// refused with its reason.
#[test]
fn a_check_stops_at_its_memory_limit_with_a_verdict() {
    let o = check(&["--any-writes", "--max-memory", "64MiB"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("STOPPED at the memory limit (") && last.contains("limit 64 MiB"),
        "{out}"
    );
    let o = cowlab(&["check", "--max-memory", "0"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("--max-memory 0: must be more than 0"), "{err}");
    let o = cowlab(&["check", "--max-memory", "64MiB", "--progress-ms", "1"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.lines().any(|l| l.contains(" MiB of 64 MiB")),
        "no memory in the progress lines:\n{err}"
    );
}
