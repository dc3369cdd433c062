//! `cowlab sim` end to end: one JSON object with the metrics and the configuration, the same
//! bytes for the same seed, and one line with exit code 2 for every kind of bad input.

mod common;

use common::{cowlab, refused, text};

const SMALL: [&str; 6] = ["sim", "--volume", "16MiB", "--writes", "2000", "--json"];

#[test]
fn json_has_exactly_the_metrics_and_the_configuration() {
    let o = cowlab(&SMALL);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    let mut expected: Vec<&str> = cowlab_sim::metrics::METRIC_NAMES.to_vec();
    expected.extend(["config", "fault_plan"]);
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(v["writes"], 2000);
    assert_eq!(v["invariants"], "checked");
    assert_eq!(v["config"]["cow_size"], 65536);
    assert_eq!(v["config"]["policy"], "snapshot-overlay");
    assert_eq!(v["fault_plan"], "", "no faults, no plan");
}

#[test]
fn the_same_seed_prints_the_same_bytes() {
    let a = cowlab(&[&SMALL[..], &["--seed", "11"]].concat());
    let b = cowlab(&[&SMALL[..], &["--seed", "11"]].concat());
    let c = cowlab(&[&SMALL[..], &["--seed", "12"]].concat());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn a_preset_sets_the_policy_and_explicit_flags_override_it() {
    let o = cowlab(
        &[
            &SMALL[..],
            &["--preset", "qemu-backup", "--cow-size", "128KiB"],
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["config"]["policy"], "out-of-turn");
    assert_eq!(v["config"]["cow_size"], 131072);
}

#[test]
fn the_qemu_presets_run_qemus_workers_and_pacing_and_max_chunk_is_the_segment() {
    let json = |extra: &[&str]| -> serde_json::Value {
        let o = cowlab(&[&SMALL[..], extra].concat());
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = json(&["--preset", "qemu-fleecing", "--speed", "64MiB/s"]);
    assert_eq!(v["config"]["workers"], 64);
    assert_eq!(v["config"]["pacing"]["slices"]["slice_ns"], 100_000_000);
    assert_eq!(v["config"]["preserver_paced"], false);
    let v = json(&[
        "--preset",
        "qemu-backup",
        "--workers",
        "4",
        "--pacing",
        "smooth",
    ]);
    assert_eq!(
        (
            v["config"]["workers"].clone(),
            v["config"]["pacing"].clone()
        ),
        (4.into(), serde_json::Value::Null)
    );
    assert_eq!(v["invariants"], "checked");
    let alias = cowlab(&[&SMALL[..], &["--max-chunk", "256KiB"]].concat());
    let named = cowlab(&[&SMALL[..], &["--segment-size", "256KiB"]].concat());
    assert_eq!(alias.stdout, named.stdout);
    assert_eq!(
        json(&["--max-chunk", "256KiB"])["config"]["segment_size"],
        262144
    );
    refused(
        &["sim", "--pacing", "slices:0s"],
        &["--pacing slices:0s", "a slice must last"],
    );
    refused(
        &["sim", "--pacing", "steady"],
        &["--pacing steady", "expected smooth"],
    );
}

#[test]
fn text_output_names_the_figures_and_a_mutant_run_exits_one_with_its_steps() {
    let o = cowlab(&[
        "sim",
        "--volume",
        "256KiB",
        "--segment-size",
        "16KiB",
        "--cow-size",
        "8KiB",
        "--rate",
        "200000",
        "--writes",
        "200",
        "--image-fraction",
        "0.5",
        "--read-fraction",
        "0.3",
        "--mutant",
        "apply-before-preserve",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for needle in [
        "copy time",
        "hold p99",
        "invariants           point-in-time image violated",
        "the last steps:",
        "replay: the same flags with --seed 0",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_code_two() {
    refused(
        &["sim", "--cow-size", "0"],
        &["--cow-size 0", "at least one byte"],
    );
    refused(
        &["sim", "--cow-size", "192KiB"],
        &["--cow-size 192 KiB", "divide the segment"],
    );
    refused(
        &["sim", "--segment-size", "1000"],
        &["--segment-size 1000", "block size"],
    );
    refused(&["sim", "--volume", "16EiB"], &["--volume", "16EiB"]);
    refused(
        &["sim", "--volume", "8EiB"],
        &["--volume 8 EiB", "choose larger chunks"],
    );
    refused(
        &["sim", "--policy", "fast"],
        &["--policy fast", "unknown policy"],
    );
    refused(
        &["sim", "--preset", "vmware"],
        &["--preset vmware", "unknown preset"],
    );
    refused(&["sim", "--disk", "tape"], &["--disk tape", "unknown disk"]);
    refused(&["sim", "--check", "sometimes"], &["--check sometimes"]);
    refused(
        &["sim", "--volume", "16TiB", "--check", "end"],
        &["--check end", "use --check off"],
    );
    refused(&["sim", "--rate", "fast"], &["--rate fast"]);
    refused(
        &["sim", "--trace", "/no/such/trace.csv"],
        &["--trace /no/such/trace.csv"],
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cowlab-sim-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "128166372003061629,hm,1,Write,3206144,4096,1043\n128166372003061630,hm,1,Write,12x,4096,1\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();
    refused(
        &["sim", "--trace", &bad],
        &["bad.csv line 2", "field Offset", "'12x'"],
    );
    let past = dir.join("past.csv");
    std::fs::write(
        &past,
        "128166372003061629,hm,1,Write,3206189056,4096,1043\n",
    )
    .unwrap();
    let past = past.to_string_lossy().into_owned();
    refused(
        &["sim", "--trace", &past, "--volume", "1GiB"],
        &[
            "past.csv line 1",
            "field Offset",
            "past the end of the volume",
        ],
    );
}

/// A small run with faults: 4 MiB, 500 writes.
const FAULTY: [&str; 5] = ["sim", "--volume", "4MiB", "--writes", "500"];

#[test]
fn a_fault_run_prints_its_figures_and_a_plan_that_replays_it() {
    let args = [
        &FAULTY[..],
        &[
            "--fail",
            "snapshot:nth=2",
            "--fail",
            "source:p=0.01",
            "--fault-seed",
            "3",
            "--crash-at",
            "5",
            "--store-capacity",
            "1MiB",
            "--on-error",
            "retry:1",
            "--restart-time",
            "2ms",
        ],
    ]
    .concat();
    let o = cowlab(&args);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for row in [
        "on error             retry:1",
        "failed copies        0",
        "restarts             1",
        "restart time         0.002000 s",
        "invariants           checked",
    ] {
        assert!(out.contains(row), "{row:?} not in {out}");
    }
    let plan = out
        .lines()
        .find_map(|l| l.strip_prefix("faults: "))
        .expect("the plan is printed");
    assert_eq!(
        plan,
        "--fail snapshot:nth=2 --fail source:p=0.01 --store-blocks 256 --crash-at 5 --fault-seed 3 --on-error retry:1 --restart-time 2ms"
    );
    // The printed plan replays the run, byte for byte.
    let replay: Vec<&str> = FAULTY.iter().copied().chain(plan.split(' ')).collect();
    assert_eq!(cowlab(&replay).stdout, o.stdout);
    // Without a plan, no fault rows.
    let plain = text(&cowlab(&FAULTY).stdout);
    assert!(
        !plain.contains("failed copies") && !plain.contains("faults:"),
        "{plain}"
    );
}

#[test]
fn a_fault_plan_file_and_the_flags_add_up() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-faults");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plan.toml");
    std::fs::write(
        &file,
        "seed = 7\non_error = \"retry:2:break-snapshot\"\nstore_capacity = \"64KiB\"\ncrash_at = [2]\n[[fail]]\ndevice = \"snapshot\"\nnth = 3\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let args = [
        &FAULTY[..],
        &[
            "--json",
            "--fault-plan",
            &path,
            "--fail",
            "destination:blocks=1020..1024",
            "--crash-at",
            "5",
        ],
    ]
    .concat();
    let o = cowlab(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["fault_plan"],
        "--fail snapshot:nth=3 --fail destination:blocks=1020..1024 --store-blocks 16 --crash-at 2 --crash-at 5 --on-error retry:2:break-snapshot"
    );
    assert_eq!(v["config"]["faults"]["seed"], 7);
    assert_eq!(v["invariants"], "checked");
    // The one-chunk store fills while the copier is down after its first crash: the copy
    // fails (break-snapshot) before the copier's fifth step.
    assert_eq!(
        (v["failed_copies"].as_u64(), v["restarts"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["failed_writes"], 0);
}

/// Each trace format replays through `cowlab sim`: the blkparse sample's four queued writes
/// (a flush without a sector and the discard are not writes); an unknown format is refused.
#[test]
fn traces_of_each_format_replay_and_an_unknown_format_is_refused() {
    let blk = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim/tests/data/sample.blkparse"
    );
    let o = cowlab(&[
        "sim",
        "--volume",
        "1GiB",
        "--trace",
        blk,
        "--trace-format",
        "blkparse",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["writes"], 4);
    assert_eq!(v["invariants"], "checked");
    let o = cowlab(&["sim", "--trace", blk, "--trace-format", "iostat"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr).trim(),
        "error: --trace-format iostat: unknown trace format (expected one of: msr, scsi, blkparse)"
    );
}

#[test]
fn a_rate_the_disk_cannot_serve_is_said_before_the_run() {
    let o = cowlab(&[
        "sim", "--disk", "hdd", "--volume", "16MiB", "--writes", "50",
    ]);
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: 20000 requests/s is more than one hdd serves (about 122/s)"),
        "{err}"
    );
    // A rate the disk serves says nothing.
    let o = cowlab(&[
        "sim", "--disk", "hdd", "--volume", "16MiB", "--writes", "50", "--rate", "50",
    ]);
    assert!(o.status.success());
    assert_eq!(text(&o.stderr), "");
}
