//! What the command-line tests share: running `cowlab`, reading what it printed, a fresh
//! folder per test, and the one contract every refusal of bad input keeps.
#![allow(dead_code)] // each test file uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `cowlab` with `args` and waits for it.
pub fn cowlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cowlab"))
        .args(args)
        .output()
        .expect("cowlab runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty folder of the calling test's own, under Cargo's scratch space.
pub fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a scratch folder");
    d
}

/// A refusal of bad input: exit code 2, nothing on stdout, and one line on stderr that
/// names what was wrong (each of `needles`: the flag or the file and line, the value, the
/// reason) without a panic or a backtrace.
pub fn refused_output(o: &Output, what: &str, needles: &[&str]) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: not one line: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{what}: {err}");
    for n in needles {
        assert!(err.contains(n), "{what}: {n:?} not in {err}");
    }
    assert!(
        o.stdout.is_empty(),
        "{what} printed output: {}",
        text(&o.stdout)
    );
}

/// Runs `cowlab` with `args` and asserts it is refused ([`refused_output`]).
pub fn refused(args: &[&str], needles: &[&str]) {
    refused_output(&cowlab(args), &format!("{args:?}"), needles);
}

/// The figures of a check's summary line (the last line of `out`): unique states, total
/// states.
pub fn figures(out: &str) -> (u64, u64) {
    let line = out.lines().last().expect("a summary line");
    let num = |what: &str| {
        line.split("; ")
            .flat_map(|part| part.split(", "))
            .find(|p| p.ends_with(what))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{what}' in: {line}"))
    };
    (num("unique states"), num("total states"))
}
