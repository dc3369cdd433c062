//! `cowlab report` and `cowlab merge` end to end: the built-in sweep as a file, a sweep file
//! of one's own, shards joined into the report one run writes, and one line with exit code 2
//! for every kind of bad input.

mod common;

use common::{cowlab, dir, refused, text};

use std::path::{Path, PathBuf};

/// A small sweep: two policies, one workload, one disk, three pairs, two seeds.
const QUICK: &str = r#"
volume = "8MiB"
writes = 200
policies = ["out-of-turn", "offline"]
workloads = ["uniform"]
disks = ["nvme"]
seeds = 2
check = "end"

[granularity]
chunk_sizes = ["16KiB", "64KiB"]
segment_sizes = ["256KiB"]
segment_for_chunks = "256KiB"
chunk_for_segments = "64KiB"
"#;

fn quick_file(d: &Path) -> String {
    let f = d.join("quick.toml");
    std::fs::write(&f, QUICK).unwrap();
    f.to_string_lossy().into_owned()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn the_default_sweep_prints_as_a_sweep_file_that_reads_back() {
    let o = cowlab(&["report", "--print-default-config"]);
    assert!(o.status.success());
    let printed = text(&o.stdout);
    for key in [
        "volume = ",
        "policies = ",
        "[granularity]",
        "chunk_sizes = ",
        "[cost]",
        "minimize = \"hold_p99_us\"",
    ] {
        assert!(printed.contains(key), "{key}");
    }
    let d = dir("default-config");
    let f = d.join("default.toml");
    std::fs::write(&f, &printed).unwrap();
    let again = cowlab(&["report", "--config", &s(&f), "--print-default-config"]);
    assert_eq!(text(&again.stdout), printed);
}

#[test]
fn a_report_is_written_and_its_shards_merge_into_the_same_bytes() {
    let d = dir("report-cli");
    let config = quick_file(&d);
    let whole = d.join("whole");
    let o = cowlab(&[
        "report",
        "--config",
        &config,
        "--out",
        &s(&whole),
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("summary.md"), "{out}");
    assert!(out.contains("workload    disk  policy"), "{out}");
    for f in [
        "results.json",
        "results.csv",
        "summary.md",
        "timing.json",
        "charts/hold_p99_us_by_chunk.png",
        "charts/hold_p99_us_by_chunk.svg",
    ] {
        assert!(whole.join(f).exists(), "{f}");
    }
    let shards: Vec<PathBuf> = (1..=2).map(|i| d.join(format!("shard-{i}"))).collect();
    for (i, sd) in shards.iter().enumerate() {
        let shard = format!("{}/2", i + 1);
        let o = cowlab(&[
            "report",
            "--config",
            &config,
            "--out",
            &s(sd),
            "--shard",
            &shard,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(sd.join("shard.json").exists());
    }
    let merged = d.join("merged");
    let o = cowlab(&[
        "merge",
        "--out",
        &s(&merged),
        &s(&shards[1]),
        &s(&shards[0]),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in ["results.json", "results.csv", "summary.md"] {
        let (a, b) = (
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs after merging");
    }
    let o = cowlab(&["merge", "--out", &s(&d.join("half")), &s(&shards[0])]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("shards missing: 2/2"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn bad_sweep_files_and_flags_are_one_line_and_exit_code_two() {
    let d = dir("report-bad");
    let cases: [(&str, &[&str]); 6] = [
        (
            "volume = \"8MiB\"\nseedz = 2\n",
            &["bad.toml line 2", "key seedz", "unknown field"],
        ),
        (
            "policies = [\"out-of-turn\", \"fast\"]\n",
            &[
                "bad.toml line 1",
                "key policies = \"fast\"",
                "unknown policy",
            ],
        ),
        (
            "[granularity]\nchunk_sizes = [\"4KiB\", \"3KiB\"]\n",
            &[
                "line 2",
                "key granularity.chunk_sizes = \"3KiB\"",
                "power of two",
            ],
        ),
        (
            "writes = \"many\"\n",
            &["line 1", "key writes = \"many\"", "expected a whole number"],
        ),
        (
            "[cost]\nmax_snapshot_bytes = \"1Gb\"\n",
            &[
                "line 2",
                "key cost.max_snapshot_bytes = \"1Gb\"",
                "unknown unit",
            ],
        ),
        ("volume = \n", &["line 1", "'volume ='"]),
    ];
    for (i, (body, needles)) in cases.iter().enumerate() {
        let f = d.join("bad.toml");
        std::fs::write(&f, body).unwrap();
        let out = d.join(format!("out-{i}"));
        refused(&["report", "--config", &s(&f), "--out", &s(&out)], needles);
        assert!(!out.exists(), "a refused sweep wrote {}", out.display());
    }
    refused(
        &["report", "--config", "/no/such/sweep.toml"],
        &["--config /no/such/sweep.toml"],
    );
    refused(&["report", "--shard", "3/2"], &["--shard 3/2"]);
    refused(&["report", "--shard", "x"], &["--shard x"]);
    refused(
        &["merge", "--out", &s(&d.join("m")), "/no/such/shard"],
        &["/no/such/shard/shard.json"],
    );
}

/// Every kind of name a sweep file holds is read by its type's one parser: an unknown one is
/// refused at its line and key with the choices, and a close one with a suggestion.
#[test]
fn unknown_names_in_a_sweep_file_list_the_choices_and_suggest_a_close_one() {
    let d = dir("report-names");
    let faults = "[faults]\ncrash_at = [5]\n";
    let cases: [(String, &str, &str, Option<&str>); 10] = [
        ("policies = [\"out-of-trun\"]\n".into(), "key policies = \"out-of-trun\"", "unknown policy (expected one of: snapshot-overlay, snapshot-redirect, out-of-turn, out-of-turn-cache, next-range, offline)", Some("out-of-turn")),
        ("order = \"zigzag\"\n".into(), "key order = \"zigzag\"", "unknown order (expected one of: sequential, reverse, random, written-first, round-robin, smallest-first, most-written-first)", None),
        ("order = \"reverce\"\n".into(), "key order = \"reverce\"", "unknown order", Some("reverse")),
        ("mutant = \"skip-overlya\"\n".into(), "key mutant = \"skip-overlya\"", "unknown mutant (expected one of: apply-before-preserve", Some("skip-overlay")),
        ("workloads = [\"uniform\", \"zipff\"]\n".into(), "key workloads = \"zipff\"", "unknown workload (expected one of: uniform, zipf, hotspot, sequential)", Some("zipf")),
        ("disks = [\"tape\"]\n".into(), "key disks = \"tape\"", "unknown disk (expected one of: nvme, ssd, hdd)", None),
        ("rates = { nvm = 5.0 }\n".into(), "key rates.nvm = 5.0", "unknown disk (expected one of: nvme, ssd, hdd)", Some("nvme")),
        ("check = \"every_step\"\n".into(), "key check = \"every_step\"", "unknown check level (expected one of: every-step, end, off)", Some("every-step")),
        ("[granularity]\nmode = \"grdi\"\n".into(), "key granularity.mode = \"grdi\"", "unknown mode (expected one of: sweeps, grid)", Some("grid")),
        (format!("on_error = [\"break-snapshto\"]\n{faults}"), "key on_error = \"break-snapshto\"", "unknown error policy (expected one of: break-guest-write, break-snapshot, retry:N, retry:N:break-snapshot)", Some("break-snapshot")),
    ];
    for (i, (body, key, choices, meant)) in cases.iter().enumerate() {
        let f = d.join("names.toml");
        std::fs::write(&f, body).unwrap();
        let out = d.join(format!("out-{i}"));
        let args = ["report", "--config", &s(&f), "--out", &s(&out)];
        match meant {
            Some(m) => refused(
                &args,
                &["line ", key, choices, &format!("; did you mean {m}?")],
            ),
            None => {
                refused(&args, &["line ", key, choices]);
                let o = cowlab(&args);
                assert!(!text(&o.stderr).contains("did you mean"), "{body}");
            }
        }
    }
    let f = d.join("device.toml");
    std::fs::write(
        &f,
        "[faults]\n[[faults.fail]]\ndevice = \"sorce\"\nnth = 1\n",
    )
    .unwrap();
    refused(
        &["report", "--config", &s(&f), "--out", &s(&d.join("out-device"))],
        &["line 3", "key faults.fail.device = \"sorce\"", "unknown device (expected one of: source, destination, snapshot, cache); did you mean source?"],
    );
}

#[test]
fn topologies_are_swept_from_a_sweep_file_and_bad_ones_refused_with_nothing_written() {
    let d = dir("report-topologies");
    let f = d.join("two.toml");
    std::fs::write(
        &f,
        format!(
            "topologies = [\"separate\", \"san\"]\n{}",
            QUICK.replace("seeds = 2", "seeds = 1")
        ),
    )
    .unwrap();
    let out = d.join("out");
    let o = cowlab(&["report", "--config", &s(&f), "--out", &s(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("disk  topology"), "{stdout}");
    assert!(stdout.contains("nvme  san"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.starts_with("job,policy,workload,disk,topology,"));
    // A sweep file has no panel of its own: it lists its topologies.
    assert!(!out.join("panel").exists());
    let broken = d.join("broken-topology.toml");
    std::fs::write(&broken, "[links.fc]\nlatency = \"fast\"\n").unwrap();
    let cases: [(String, Vec<String>); 3] = [
        (
            "topologies = [\"separate\", \"mesh\"]\n".into(),
            vec![
                "bad.toml line 1".into(),
                "key topologies = \"mesh\"".into(),
                "neither a preset".into(),
            ],
        ),
        (
            "topologies = [\"no-such-file.toml\"]\n".into(),
            vec![
                "bad.toml line 1".into(),
                "key topologies = \"no-such-file.toml\"".into(),
                "readable file".into(),
            ],
        ),
        (
            format!("disks = [\"ssd\"]\n\ntopologies = [{:?}]\n", s(&broken)),
            vec![
                "bad.toml line 3".into(),
                format!("key topologies = {:?}", s(&broken)),
                "broken-topology.toml line 2: ".into(),
            ],
        ),
    ];
    for (i, (body, needles)) in cases.iter().enumerate() {
        let f = d.join("bad.toml");
        std::fs::write(&f, body).unwrap();
        let out = d.join(format!("bad-out-{i}"));
        let needles: Vec<&str> = needles.iter().map(|n| n.as_str()).collect();
        refused(&["report", "--config", &s(&f), "--out", &s(&out)], &needles);
        assert!(!out.exists(), "a refused sweep wrote {}", out.display());
    }
}

#[test]
fn an_out_folder_is_checked_before_any_run_and_cleared_of_an_older_reports_files() {
    let d = dir("report-out");
    let sweep = quick_file(&d);
    // A folder holding someone else's files is refused before any run, and left alone.
    let foreign = d.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    refused(
        &["report", "--config", &sweep, "--out", &s(&foreign)],
        &[
            "--out",
            "holds 1 file(s) a report does not write (notes.txt)",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(!foreign.join("summary.md").exists());
    // A folder that cannot be made is refused before any run, not after the sweep.
    refused(
        &[
            "report",
            "--config",
            &sweep,
            "--out",
            "/proc/cowlab-cannot-be-here",
        ],
        &["--out /proc/cowlab-cannot-be-here: cannot be made"],
    );
    // An older report's files do not outlive it.
    let old = d.join("old");
    std::fs::create_dir_all(old.join("charts")).unwrap();
    std::fs::write(old.join("charts/a_metric_no_longer_drawn.svg"), "<svg/>").unwrap();
    std::fs::write(old.join("summary.md"), "an older report").unwrap();
    let o = cowlab(&["report", "--config", &sweep, "--out", &s(&old)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!old.join("charts/a_metric_no_longer_drawn.svg").exists());
    assert_ne!(
        std::fs::read_to_string(old.join("summary.md")).unwrap(),
        "an older report"
    );
}

#[test]
fn an_empty_sweep_file_is_refused_rather_than_run_as_the_built_in_sweep() {
    let d = dir("report-empty");
    let f = d.join("empty.toml");
    std::fs::write(&f, "# only a comment\n").unwrap();
    refused(
        &["report", "--config", &s(&f), "--out", &s(&d.join("out"))],
        &[
            "empty.toml line 1: the file sets nothing",
            "leave out --config",
        ],
    );
}
