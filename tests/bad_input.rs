//! Bad input, everywhere: every refusal of the command line exits with code 2, names the
//! flag (or the file and line) and the offending value, never panics, and leaves no output
//! behind. One test per kind of bad input.

mod common;

use common::{cowlab, dir, refused, text};

use std::path::Path;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn bad_sizes() {
    refused(
        &["sim", "--volume", "4Kb"],
        &["--volume 4Kb", "unknown unit"],
    );
    refused(&["sim", "--block-size", "1.5"], &["--block-size 1.5"]);
    refused(
        &["sim", "--volume", "-4KiB"],
        &["--volume -4KiB", "negative"],
    );
    refused(
        &["sim", "--segment-size", "99999999999EiB"],
        &["--segment-size 99999999999EiB"],
    );
    refused(
        &["sim", "--volume", "--json"],
        &["--volume --json", "not a number"],
    );
}

#[test]
fn bad_durations() {
    refused(
        &["sim", "--duration", "5"],
        &["--duration 5", "missing unit"],
    );
    refused(&["sim", "--cpu-time", "1e3"], &["--cpu-time 1e3"]);
    refused(
        &["sim", "--disk-seek", "99999999999h"],
        &["--disk-seek 99999999999h"],
    );
    refused(
        &["sim", "--writers", "2", "--think-time", "x"],
        &["--think-time x"],
    );
}

#[test]
fn bad_rates() {
    refused(&["sim", "--rate", "fast"], &["--rate fast"]);
    refused(&["sim", "--rate", "-5"], &["--rate -5", "not positive"]);
    refused(
        &["sim", "--disk-bandwidth", "5Mb/s"],
        &["--disk-bandwidth 5Mb/s"],
    );
    // Below one byte per second used to round to 0 and be refused as "--speed 0".
    refused(
        &["sim", "--speed", "0.5"],
        &["--speed 0.5", "less than one byte"],
    );
    refused(
        &["sim", "--disk-bandwidth", "0.5"],
        &["--disk-bandwidth 0.5"],
    );
}

#[test]
fn bad_counts() {
    refused(&["sim", "--writes", "many"], &["--writes", "'many'"]);
    refused(&["sim", "--writes", "-5"], &["--writes", "'-5'"]);
    refused(
        &["sim", "--queue-depth", "99999999999"],
        &["--queue-depth", "'99999999999'"],
    );
    refused(
        &["sim", "--queue-depth", "deep"],
        &["--queue-depth", "'deep'", "or `native`"],
    );
    refused(&["sim", "--queue-depth", "-4"], &["--queue-depth", "'-4'"]);
    refused(&["report", "--seed", "-1"], &["--seed", "'-1'"]);
    refused(&["run", "--blocks", "-3"], &["--blocks", "'-3'"]);
    refused(&["check", "--threads", "0"], &["--threads", "'0'"]);
    refused(&["survey", "--seeds", "0"], &["--seeds", "'0'"]);
    refused(&["mutants", "--seeds", "x"], &["--seeds", "'x'"]);
    refused(&["explore", "--port", "99999"], &["--port", "'99999'"]);
}

/// The choices of each kind of name, as a refusal lists them.
const POLICIES: &str = "unknown policy (expected one of: snapshot-overlay, snapshot-redirect, out-of-turn, out-of-turn-cache, next-range, offline)";
const ORDERS: &str = "unknown order (expected one of: sequential, reverse, random, written-first, round-robin, smallest-first, most-written-first)";
const ERROR_POLICIES: &str = "unknown error policy (expected one of: break-guest-write, break-snapshot, retry:N, retry:N:break-snapshot)";

#[test]
fn unknown_names() {
    // Each kind of name is refused the one way, on every command that takes it: the flag
    // and the value, then every choice; no "did you mean" for a name close to none.
    refused(
        &["sim", "--preset", "vmware"],
        &["--preset vmware: unknown preset (expected one of: qemu-backup, qemu-fleecing, lvm-snapshot, mercier)"],
    );
    for cmd in [
        &["sim"][..],
        &["run"],
        &["check"],
        &["replay", "--seed", "1"],
    ] {
        let args = [cmd, &["--policy", "fast"]].concat();
        refused(&args, &[&format!("--policy fast: {POLICIES}")]);
        let err = cowlab(&args);
        assert!(!text(&err.stderr).contains("did you mean"));
    }
    for cmd in [&["sim"][..], &["run"], &["check"]] {
        refused(
            &[cmd, &["--order", "zigzag"]].concat(),
            &[&format!("--order zigzag: {ORDERS}")],
        );
    }
    for cmd in [
        &["sim"][..],
        &["check"],
        &["replay", "--seed", "1", "--policy", "offline"],
    ] {
        refused(
            &[cmd, &["--mutant", "oops"]].concat(),
            &["--mutant oops: unknown mutant (expected one of: apply-before-preserve, "],
        );
    }
    refused(
        &["sim", "--workload", "bursty"],
        &["--workload bursty: unknown workload (expected one of: uniform, zipf, hotspot, sequential)"],
    );
    refused(
        &["sim", "--disk", "tape"],
        &["--disk tape: unknown disk (expected one of: nvme, ssd, hdd)"],
    );
    refused(
        &["sim", "--check", "sometimes"],
        &["--check sometimes: unknown check level (expected one of: every-step, end, off)"],
    );
    refused(
        &["sim", "--trace", "t.csv", "--trace-format", "csv"],
        &["--trace-format csv: unknown trace format (expected one of: msr, scsi, blkparse)"],
    );
    refused(
        &["check", "--faults", "1", "--on-error", "explode"],
        &[&format!("--on-error explode: {ERROR_POLICIES}")],
    );
    refused(
        &["sim", "--fail", "tape:nth=1"],
        &["--fail tape:nth=1: unknown device (expected one of: source, destination, snapshot, cache)"],
    );
}

#[test]
fn a_name_close_to_a_choice_is_suggested() {
    for (args, said) in [
        (
            &["sim", "--preset", "qemu-backpu"][..],
            "--preset qemu-backpu: unknown preset",
        ),
        (&["sim", "--policy", "out-of-trun"], POLICIES),
        (&["run", "--policy", "snapshot-overlya"], POLICIES),
        (&["check", "--order", "reverce"], ORDERS),
        (
            &["sim", "--mutant", "aply-before-preserve"],
            "unknown mutant",
        ),
        (&["sim", "--workload", "zipff"], "unknown workload"),
        (&["sim", "--disk", "nvm"], "unknown disk"),
        (&["sim", "--check", "every_step"], "unknown check level"),
        (
            &["sim", "--trace", "t.csv", "--trace-format", "blkpars"],
            "unknown trace format",
        ),
        (&["sim", "--on-error", "break-snapshto"], ERROR_POLICIES),
        (&["sim", "--fail", "snapshto:nth=1"], "unknown device"),
    ] {
        let meant = match args[args.len() - 1] {
            "qemu-backpu" => "qemu-backup",
            "out-of-trun" => "out-of-turn",
            "snapshot-overlya" => "snapshot-overlay",
            "reverce" => "reverse",
            "aply-before-preserve" => "apply-before-preserve",
            "zipff" => "zipf",
            "nvm" => "nvme",
            "every_step" => "every-step",
            "blkpars" => "blkparse",
            "break-snapshto" => "break-snapshot",
            "snapshto:nth=1" => "snapshot",
            other => panic!("no suggestion known for {other}"),
        };
        refused(args, &[said, &format!("; did you mean {meant}?")]);
    }
}

#[test]
fn out_of_range_and_zero_values() {
    refused(&["sim", "--read-fraction", "1.5"], &["--read-fraction 1.5"]);
    refused(
        &["sim", "--workload", "zipf", "--zipf-s", "-1"],
        &["--zipf-s -1"],
    );
    refused(
        &["sim", "--workload", "zipf", "--zipf-s", "NaN"],
        &["--zipf-s NaN"],
    );
    refused(&["sim", "--writers", "0"], &["--writers 0"]);
    refused(&["sim", "--queue-depth", "0"], &["--queue-depth 0"]);
    refused(&["sim", "--cow-size", "0"], &["--cow-size 0"]);
    refused(&["sim", "--write-size", "4KiB:0"], &["--write-size 4KiB:0"]);
    // Used to divide by the block size to size the hot region before refusing it.
    refused(
        &["sim", "--workload", "hotspot", "--block-size", "0"],
        &["--block-size 0"],
    );
    refused(&["run", "--blocks", "0"], &["--blocks 0"]);
    refused(&["run", "--block-size", "0"], &["--block-size 0"]);
    refused(&["run", "--cow-blocks", "3"], &["--cow-blocks 3"]);
    refused(
        &["run", "--writer", "w0+99999999999999999999"],
        &["--writer", "w0+99999999999999999999"],
    );
    refused(&["check", "--segments", "0"], &["--segments", "0"]);
    refused(&["report", "--shard", "0/2"], &["--shard 0/2"]);
}

#[test]
fn huge_times_run_instead_of_overflowing() {
    // Simulated time saturates at 2^64 ns instead of overflowing (sim/src/driver/).
    for args in [
        ["--cpu-time", "5124095h"],
        ["--disk-overhead", "5124095h"],
        ["--rate", "1e-300"],
    ] {
        let o = cowlab(&[&["sim", "--volume", "16MiB", "--writes", "10"][..], &args].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
    }
    let o = cowlab(&[
        "sim",
        "--volume",
        "16MiB",
        "--writes",
        "10",
        "--writers",
        "2",
        "--think-time",
        "5124095h",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn missing_or_unreadable_files() {
    let d = dir("bad-input/files");
    refused(
        &["sim", "--trace", "/no/such/trace.csv"],
        &["--trace /no/such/trace.csv"],
    );
    refused(&["sim", "--trace", &s(&d)], &[&s(&d)]);
    refused(
        &[
            "report",
            "--config",
            "/no/such/sweep.toml",
            "--out",
            &s(&d.join("out")),
        ],
        &["--config /no/such/sweep.toml"],
    );
    assert!(!d.join("out").exists());
    refused(
        &["merge", "--out", &s(&d.join("m")), "/no/such/shard"],
        &["/no/such/shard/shard.json"],
    );
    assert!(!d.join("m").exists());
}

#[test]
fn malformed_trace_lines() {
    let d = dir("bad-input/traces");
    let cases: [(&[u8], &[&str]); 5] = [
        (
            b"100,h,0,Read,0,4096,1\n100,h,0,Trim,0,4096,1\n",
            &["line 2", "field Type", "'Trim'"],
        ),
        (
            b"100,h,0,Read,-5,4096,1\n",
            &["line 1", "field Offset", "'-5'"],
        ),
        (
            b"100,h,0,Read,0,99999999999999999999,1\n",
            &["line 1", "field Size", "'99999999999999999999'"],
        ),
        (
            b"100,h,0,Read,0\n",
            &["line 1", "expected 7 fields", "found 5"],
        ),
        (b"100,h,0,Read,0,4096,1\n\xff\xfe\n", &["line 2"]),
    ];
    for (i, (body, needles)) in cases.iter().enumerate() {
        let f = d.join(format!("t{i}.csv"));
        std::fs::write(&f, body).unwrap();
        let name = format!("t{i}.csv");
        refused(
            &["sim", "--volume", "16MiB", "--trace", &s(&f)],
            &[&[name.as_str()][..], needles].concat(),
        );
    }
}

#[test]
fn malformed_sweep_files_write_nothing() {
    let d = dir("bad-input/sweeps");
    let cases: [(&str, &[&str]); 8] = [
        (
            "volume = \"0\"\n",
            &["line 1", "key volume = \"0\"", "at least one byte"],
        ),
        ("seeds = 0\n", &["line 1", "key seeds = 0"]),
        ("writes = -1\n", &["line 1", "key writes = -1"]),
        (
            "writes = 99999999999999999999\n",
            &["line 1", "99999999999999999999"],
        ),
        ("disks = []\n", &["line 1", "key disks = []"]),
        (
            "rates = { nvme = 1.0, ssd = 1.0, hdd = 1.0, tape = 2.0 }\n",
            &["line 1", "key rates.tape = 2.0", "unknown disk"],
        ),
        (
            "[granularity]\nchunk_sizes = [\"0\"]\n",
            &["line 2", "key granularity.chunk_sizes = \"0\""],
        ),
        ("[cost]\nbudget = 5\n", &["line 2", "budget"]),
    ];
    for (i, (body, needles)) in cases.iter().enumerate() {
        let f = d.join("bad.toml");
        std::fs::write(&f, body).unwrap();
        let out = d.join(format!("out-{i}"));
        refused(
            &["report", "--config", &s(&f), "--out", &s(&out)],
            &[&["bad.toml"][..], needles].concat(),
        );
        assert!(!out.exists(), "a refused sweep wrote {}", out.display());
    }
}

#[test]
fn malformed_shard_files_merge_nothing() {
    let d = dir("bad-input/shards");
    // A real shard's file, its place edited: index 0 and past the count used to index out of
    // bounds in reports/src/shard.rs.
    let sweep = d.join("q.toml");
    std::fs::write(
        &sweep,
        "volume = \"8MiB\"\nwrites = 20\npolicies = [\"offline\"]\nworkloads = [\"uniform\"]\n\
         disks = [\"nvme\"]\nseeds = 1\ncheck = \"end\"\n[granularity]\nchunk_sizes = [\"64KiB\"]\n\
         segment_sizes = [\"256KiB\"]\nsegment_for_chunks = \"256KiB\"\nchunk_for_segments = \"64KiB\"\n",
    )
    .unwrap();
    let one = d.join("one");
    let o = cowlab(&[
        "report",
        "--config",
        &s(&sweep),
        "--out",
        &s(&one),
        "--shard",
        "1/1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(one.join("shard.json")).unwrap();
    let good = "\"shard\":{\"index\":1,\"count\":1}";
    assert!(text.contains(good), "{text}");
    for (name, place) in [("zero", "0/1"), ("past", "3/1"), ("none", "1/0")] {
        let (i, n) = place.split_once('/').unwrap();
        let edited = text.replace(good, &format!("\"shard\":{{\"index\":{i},\"count\":{n}}}"));
        let sd = d.join(name);
        std::fs::create_dir_all(&sd).unwrap();
        std::fs::write(sd.join("shard.json"), edited).unwrap();
        let out = d.join(format!("merged-{name}"));
        refused(
            &["merge", "--out", &s(&out), &s(&sd)],
            &["shard.json", &format!("shard {place}")],
        );
        assert!(!out.exists(), "a refused merge wrote {}", out.display());
    }
    let sd = d.join("garbage");
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::write(sd.join("shard.json"), "{\"shard\": 5}").unwrap();
    refused(
        &["merge", "--out", &s(&d.join("m")), &s(&sd)],
        &["shard.json", "not a shard"],
    );
    assert!(!d.join("m").exists());
}

#[test]
fn bad_fault_flags() {
    refused(
        &["sim", "--fail", "disk:nth=1"],
        &["--fail disk:nth=1", "unknown device"],
    );
    refused(
        &["sim", "--fail", "source"],
        &["--fail source", "expected DEVICE"],
    );
    refused(
        &["sim", "--fail", "source:nth=0"],
        &["--fail source:nth=0", "counted from 1"],
    );
    refused(
        &["sim", "--fail", "source:p=1.5"],
        &["--fail source:p=1.5", "probability"],
    );
    refused(
        &["sim", "--fail", "source:blocks=9..3"],
        &["--fail source:blocks=9..3", "empty"],
    );
    refused(
        &["sim", "--fail", "snapshot:blocks=3..=5"],
        &["--fail snapshot:blocks=3..=5: write the range half-open: blocks=3..6"],
    );
    refused(
        &["sim", "--volume", "64KiB", "--fail", "source:blocks=10..20"],
        &["--fail source:blocks=10..20", "the volume has 16 blocks"],
    );
    refused(
        &["sim", "--store-capacity", "1KiB"],
        &["--store-capacity 1KiB", "smaller than one block (4 KiB)"],
    );
    refused(
        &["sim", "--store-capacity", "-1MiB"],
        &["--store-capacity -1MiB", "negative"],
    );
    refused(
        &["sim", "--store-capacity", "lots"],
        &["--store-capacity lots"],
    );
    refused(&["sim", "--store-blocks", "0"], &["--store-blocks 0"]);
    refused(
        &["sim", "--crash-at", "0"],
        &["--crash-at 0", "counted from 1"],
    );
    refused(&["sim", "--crash-at", "-3"], &["--crash-at", "'-3'"]);
    refused(&["sim", "--fault-seed", "x"], &["--fault-seed", "'x'"]);
    refused(
        &["sim", "--on-error", "explode"],
        &["--on-error explode", "unknown error policy"],
    );
    refused(
        &["sim", "--on-error", "retry:300"],
        &["--on-error retry:300"],
    );
    refused(
        &["sim", "--retry-backoff", "5"],
        &["--retry-backoff 5", "missing unit"],
    );
    refused(&["sim", "--restart-time", "-1s"], &["--restart-time -1s"]);
    // A fault mutant needs a plan to be seen.
    refused(
        &["sim", "--mutant", "broken-image-served"],
        &["--mutant broken-image-served", "fault plan"],
    );
}

#[test]
fn malformed_fault_plan_files_run_nothing() {
    let d = dir("bad-input/fault-plans");
    refused(
        &["sim", "--fault-plan", "/no/such/plan.toml"],
        &["--fault-plan /no/such/plan.toml"],
    );
    let cases: [(&str, &[&str]); 9] = [
        (
            "seed = 1\ncrash = [3]\n",
            &["line 2", "crash = [3]", "unknown field"],
        ),
        (
            "store_capacity = \"1KiB\"\n",
            &[
                "line 1",
                "key store_capacity = \"1KiB\"",
                "smaller than one block",
            ],
        ),
        ("crash_at = [0]\n", &["line 1", "key crash_at = 0"]),
        (
            "on_error = \"later\"\n",
            &["line 1", "key on_error = \"later\""],
        ),
        ("seed = -1\n", &["line 1", "seed = -1"]),
        (
            "[[fail]]\ndevice = \"tape\"\nnth = 1\n",
            &["line 2", "key fail.device = \"tape\"", "unknown device"],
        ),
        (
            "[[fail]]\ndevice = \"source\"\n",
            &[
                "line 2",
                "key fail",
                "exactly one of nth, blocks or probability",
            ],
        ),
        (
            "[[fail]]\ndevice = \"source\"\nblocks = \"1..x\"\n",
            &["line 3", "key fail.blocks = \"1..x\""],
        ),
        ("seed = [\n", &["line 1"]),
    ];
    for (body, needles) in cases {
        let f = d.join("plan.toml");
        std::fs::write(&f, body).unwrap();
        refused(
            &["sim", "--volume", "4MiB", "--fault-plan", &s(&f)],
            &[&["plan.toml"][..], needles].concat(),
        );
    }
}

#[test]
fn bad_fault_checks_volumes_and_topologies() {
    refused(
        &["check", "--faults", "1", "--on-error", "explode"],
        &["--on-error explode: unknown error policy (expected one of: "],
    );
    refused(&["check", "--faults", "9"], &["--faults", "9"]);
    refused(
        &["check", "--mutant", "cursor-before-data"],
        &["cursor-before-data", "--faults"],
    );
    refused(&["check", "--volumes", "0"], &["--volumes", "0"]);
    refused(
        &["replay", "--faults", "--seed", "1", "--policy", "nope"],
        &["--policy", "nope"],
    );
    refused(
        &["sim", "--topology", "raid7"],
        &["--topology raid7", "neither a preset"],
    );
    refused(&["sim", "--volumes", "1MiB,3KiB"], &["--volumes", "3 KiB"]);
    let d = dir("bad-input/topology");
    let file = d.join("t.toml");
    std::fs::write(&file, "[devices.a]\nmodel = \"floppy\"\n").unwrap();
    refused(
        &["sim", "--topology", &s(&file)],
        &["--topology", "t.toml line 2", "floppy"],
    );
    // RAID members are device names: a count is refused in the file's words.
    std::fs::write(
        &file,
        "[devices.r]\nraid = \"raid5\"\nstripe_unit = \"64KiB\"\nmembers = 4\n",
    )
    .unwrap();
    refused(
        &["sim", "--topology", &s(&file)],
        &[
            "t.toml line 4",
            "key devices.r.members = 4",
            "expected a list in brackets",
        ],
    );
}

#[test]
fn a_rate_is_written_one_way_on_the_command_line_and_in_a_sweep_file() {
    // The command line: a size alone is refused with the rate it should have been.
    refused(
        &["sim", "--speed", "100MiB"],
        &["--speed 100MiB", "a rate is per second: write 100MiB/s"],
    );
    refused(
        &["sim", "--disk-bandwidth", "3GB"],
        &["--disk-bandwidth 3GB", "write 3GB/s"],
    );
    let o = cowlab(&[
        "sim", "--speed", "100MiB/s", "--volume", "16MiB", "--writes", "10",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A sweep file: the same form, the same refusal, at its line and key.
    let d = dir("bad-input/rates");
    let f = d.join("speed.toml");
    std::fs::write(&f, "speed = \"100MiB\"\n").unwrap();
    let out = d.join("out");
    refused(
        &["report", "--config", &s(&f), "--out", &s(&out)],
        &[
            "speed.toml line 1",
            "key speed = \"100MiB\"",
            "write 100MiB/s",
        ],
    );
    assert!(!out.exists());
    // What --print-default-config writes of a rate reads back as the same rate.
    let sweep = cowlab_reports::Sweep {
        speed: Some(100 << 20),
        ..cowlab_reports::Sweep::default()
    };
    let text = sweep.to_toml();
    assert!(text.contains("speed = \"100MiB/s\""), "{text}");
    let names: Vec<String> = cowlab_model::policy::names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let back = cowlab_reports::sweep::parse(&text, "back.toml", &names).expect("reads back");
    assert_eq!(back.speed, Some(100 << 20));
}

#[test]
fn a_size_in_decimal_units_is_named_with_the_binary_one_it_likely_meant() {
    refused(
        &["sim", "--cow-size", "64KB"],
        &[
            "--cow-size 64000 B",
            "did you mean 64KiB? (KB is 1000 bytes)",
        ],
    );
    // A segment larger than the volume is refused in the segment's name, in bytes.
    refused(
        &["sim", "--segment-size", "2GiB"],
        &["--segment-size 2 GiB", "larger than the volume (1 GiB)"],
    );
}

#[test]
fn a_trace_replays_whole_so_an_empty_one_and_the_generators_flags_are_refused() {
    let d = dir("bad-input/empty-trace");
    let f = d.join("empty.csv");
    std::fs::write(&f, "").unwrap();
    refused(
        &["sim", "--trace", &s(&f)],
        &["--trace", "empty.csv: the trace has no requests"],
    );
    let header = d.join("header.csv");
    std::fs::write(
        &header,
        "Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime\n",
    )
    .unwrap();
    refused(
        &["sim", "--trace", &s(&header)],
        &["the trace has no requests"],
    );
    for flag in [
        ["--writes", "5"],
        ["--rate", "100"],
        ["--workload", "zipf"],
        ["--duration", "1s"],
    ] {
        refused(
            &[&["sim", "--trace", &s(&f)][..], &flag[..]].concat(),
            &[flag[0], "cannot be used with"],
        );
    }
}
