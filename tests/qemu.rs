//! QEMU's real backup job and fleecing under cowlab's checks, end to end: every invariant on
//! the real outcome across workloads, cluster sizes, error policies and injected errors;
//! the negative controls caught; the injected errors striking where the plan says; and the
//! bad-input paths (no QEMU, an old QEMU, a busy socket, a daemon that dies, Ctrl-C) each
//! one line, exit 2 (130 for Ctrl-C), and nothing left behind.
//!
//! The tests that need `qemu-storage-daemon` say once that they are skipped when it is not
//! on the PATH; `.ci/run` installs it, so CI always runs them.

mod common;

use common::{cowlab, refused_output, text};
use cowlab_model::fault::{Break, ErrorPolicy, PlannedError, When};
use cowlab_model::Device;
use cowlab_qemu::check::Status;
use cowlab_qemu::config::{Copy, QemuConfig};
use cowlab_qemu::{Check, JobEnd, RealOutcome};
use cowlab_sim::workload::{Pattern, Sizes, Stop};
use cowlab_sim::SimConfig;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// Whether the real system is here; says once, past the test harness's capture, if not.
fn qemu_here() -> bool {
    static SAID: Once = Once::new();
    let here = cowlab_qemu::daemon::find().is_ok();
    if !here {
        SAID.call_once(|| {
            let line = "cowlab qemu tests skipped: qemu-storage-daemon (QEMU 7.2 or newer) is not on the PATH; install the qemu-utils package\n";
            let _ = std::io::stderr().write_all(line.as_bytes());
        });
    }
    here
}

/// The runs share two cores: one at a time keeps their timing (and the figures) steady.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A short run: 8 MiB, 80 requests at 400 per second (a third of them reads, half of
/// those image reads for fleecing), writes of 4 to 128 KiB, the job at 32 MiB/s.
fn small(preset: &str, cluster: u64, seed: u64, pattern: Pattern) -> QemuConfig {
    let mut s = SimConfig::default()
        .preset(preset.parse().expect("a preset"))
        .with_volume(8 * MIB);
    s.cow_size = cluster;
    s.seed = seed;
    s.speed = Some(32 * MIB);
    let w = &mut s.workload;
    w.pattern = pattern;
    w.sizes = Sizes(vec![(4096, 4), (16384, 3), (65536, 2), (131072, 1)]);
    w.arrivals = cowlab_sim::workload::Arrivals::Open { rate: 400.0 };
    w.stop = Stop::Writes(60);
    w.read_fraction = 0.3;
    w.image_fraction = if preset == "qemu-fleecing" { 0.5 } else { 0.0 };
    QemuConfig::new(s)
}

fn run(cfg: &QemuConfig) -> RealOutcome {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    cowlab_qemu::run(cfg, &mut |_| {}).unwrap_or_else(|e| panic!("the run could not be made: {e}"))
}

fn fail(device: Device, when: When) -> PlannedError {
    PlannedError { device, when }
}

/// Three workloads, each with its own seed.
fn workloads() -> [(u64, Pattern); 3] {
    [
        (1, Pattern::Uniform),
        (2, Pattern::Zipf { s: 1.0 }),
        (
            3,
            Pattern::Hotspot {
                fraction: 0.8,
                size: MIB,
            },
        ),
    ]
}

const CLUSTERS: [u64; 3] = [64 << 10, 256 << 10, MIB];

/// Runs one configuration and asserts what every real run must show.
fn holds(cfg: &QemuConfig, what: &str) -> RealOutcome {
    let o = run(cfg);
    assert!(
        o.verdict.holds(),
        "{what}: {:#?}",
        o.verdict.findings().collect::<Vec<_>>()
    );
    assert_eq!(o.accounting, None, "{what}: the trace's bytes must add up");
    let (cbw, job) = (&o.copies.cbw, &o.copies.job);
    assert_eq!(
        cbw.bytes % cfg.sim.cow_size,
        0,
        "{what}: copy-before-write copies whole clusters"
    );
    assert!(
        job.tasks >= job.bytes.div_ceil(cfg.sim.segment_size),
        "{what}: no job task is longer than x-perf.max-chunk"
    );
    o
}

/// Every workload, cluster and fault plan of `preset` under `on_error`, each run held to
/// [`holds`], then handed to `each` with its plan and its description.
fn every_run(
    preset: &str,
    on_error: ErrorPolicy,
    plans: &[Vec<PlannedError>],
    mut each: impl FnMut(&[PlannedError], RealOutcome, &str),
) {
    for (seed, pattern) in workloads() {
        for cluster in CLUSTERS {
            for plan in plans {
                let mut cfg = small(preset, cluster, seed, pattern.clone());
                cfg.sim.faults.errors = plan.clone();
                cfg.sim.on_error = on_error;
                let what = format!("{on_error}, seed {seed}, cluster {cluster}, faults {plan:?}");
                each(plan, holds(&cfg, &what), &what);
            }
        }
    }
}

#[test]
fn backup_keeps_every_invariant_across_workloads_clusters_and_injected_errors() {
    if !qemu_here() {
        return;
    }
    let plans: [Vec<PlannedError>; 3] = [
        vec![],
        // The destination's second write: in practice a write's copy out of turn.
        vec![fail(Device::Destination, When::Nth(2))],
        // Every write touching the last MiB: writes' copies there, then the job, fail.
        vec![fail(Device::Destination, When::Blocks(1792..2048))],
    ];
    let (mut cbw_failed, mut failed_copies, mut copied) = (0, 0, 0);
    let bgw = ErrorPolicy::BREAK_GUEST_WRITE;
    every_run("qemu-backup", bgw, &plans, |plan, o, what| {
        cbw_failed += o.copies.cbw.failed;
        failed_copies += u64::from(matches!(o.job, JobEnd::Failed(_)));
        copied += o.copies.cbw.tasks;
        if plan.is_empty() {
            assert_eq!(o.job, JobEnd::Succeeded, "{what}");
            assert_eq!(o.failed_writes, 0, "{what}");
        }
    });
    // The faults struck the copy-before-write and the job, and the writes did copy.
    assert!(cbw_failed >= 9, "{cbw_failed} failed copies out of turn");
    assert!(failed_copies >= 9, "{failed_copies} failed jobs");
    assert!(copied > 100, "{copied} copies out of turn");
}

#[test]
fn fleecing_keeps_every_invariant_under_each_error_policy() {
    if !qemu_here() {
        return;
    }
    let plans: [Vec<PlannedError>; 3] = [
        vec![],
        vec![fail(Device::Snapshot, When::Nth(1))],
        vec![fail(Device::Destination, When::Nth(1))],
    ];
    let mut exercised = [0; 2];
    for on_error in [ErrorPolicy::BREAK_GUEST_WRITE, ErrorPolicy::BREAK_SNAPSHOT] {
        every_run("qemu-fleecing", on_error, &plans, |plan, o, what| {
            if matches!(o.verdict.status(Check::Contract), Some(Status::Holds(_))) {
                exercised[usize::from(on_error.then == Break::Snapshot)] += 1;
            }
            let image = o
                .verdict
                .status(Check::Invariant(cowlab_model::Invariant::PointInTimeImage));
            assert!(matches!(image, Some(Status::Holds(_))), "{what}: {image:?}");
            if on_error.then == Break::Snapshot
                && plan.first().is_some_and(|e| e.device == Device::Snapshot)
            {
                assert_eq!(o.failed_writes, 0, "{what}");
                assert!(matches!(o.job, JobEnd::Failed(_)), "{what}: {:?}", o.job);
            }
        });
    }
    // A failed preservation happened and was handled under both policies, each time.
    assert_eq!(
        exercised,
        [9, 9],
        "runs whose error policy was put to the test"
    );
}

#[test]
fn the_mirror_and_the_file_copy_are_caught_breaking_the_point_in_time_copy() {
    if !qemu_here() {
        return;
    }
    for control in [Copy::Mirror, Copy::FileCopy] {
        let mut cfg = small("qemu-backup", 64 << 10, 4, Pattern::Uniform);
        cfg.control = Some(control);
        let o = run(&cfg);
        let found: Vec<_> = o.verdict.findings().collect();
        assert_eq!(found.len(), 1, "{control:?}: {found:#?}");
        let f = found[0];
        assert_eq!(
            f.check,
            Check::Invariant(cowlab_model::Invariant::PointInTimeCopy)
        );
        let sector = f.sector.expect("the first bad sector");
        assert!(
            f.detail.contains(&format!("sector {sector} ")),
            "{}",
            f.detail
        );
        assert!(
            f.detail.contains("the writes that touched it: write"),
            "{}",
            f.detail
        );
        assert_eq!(o.job, JobEnd::Succeeded, "the control reports success");
    }
}

#[test]
fn an_injected_error_strikes_exactly_the_write_the_plan_names() {
    if !qemu_here() {
        return;
    }
    // No guest writes and one worker: the job's writes are the destination's, 1 MiB
    // each, in order (with QEMU's 64 workers several are in flight when one fails).
    let quiet = |when: When| {
        let mut cfg = small("qemu-backup", 64 << 10, 0, Pattern::Uniform);
        cfg.sim.workload.stop = Stop::Writes(0);
        cfg.sim.workers = 1;
        cfg.sim.faults.errors = vec![fail(Device::Destination, when)];
        run(&cfg)
    };
    for n in [1, 3, 4] {
        let o = quiet(When::Nth(n));
        assert!(matches!(o.job, JobEnd::Failed(_)), "nth={n}: {:?}", o.job);
        assert_eq!(
            o.copies.job.bytes,
            (n - 1) * MIB,
            "nth={n}: the writes before the n-th landed"
        );
        assert_eq!(o.copies.job.failed, 1);
    }
    // Blocks are --block-size (4 KiB) blocks, the end exclusive: 767..768 is the last block
    // of the third MiB, so the third chunk fails and the two before it land.
    let o = quiet(When::Blocks(767..768));
    assert_eq!(o.copies.job.bytes, 2 * MIB);
    let o = quiet(When::Blocks(768..769));
    assert_eq!(o.copies.job.bytes, 3 * MIB);
}

#[test]
fn every_trace_format_replays_on_qemu_as_the_simulator_reads_it() {
    if !qemu_here() {
        return;
    }
    let dir = tempfile::tempdir().expect("a directory");
    let cfg = small("qemu-backup", 64 << 10, 9, Pattern::Uniform);
    let mut g = cowlab_sim::Generator::new(&cfg.sim.workload, 9).expect("a workload");
    let arrivals: Vec<_> = std::iter::from_fn(|| g.next_arrival()).collect();
    for (name, format) in [
        ("t.msr", cowlab_sim::TraceFormat::Msr),
        ("t.scsi", cowlab_sim::TraceFormat::Scsi),
        ("t.blkparse", cowlab_sim::TraceFormat::Blkparse),
    ] {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).expect("a file");
        match format {
            cowlab_sim::TraceFormat::Msr => cowlab_sim::write_msr(&mut f, &arrivals, "cowlab", 0),
            cowlab_sim::TraceFormat::Scsi => {
                let block = std::num::NonZeroU64::new(4096).expect("not zero");
                cowlab_sim::write_scsi(&mut f, &arrivals, block)
            }
            cowlab_sim::TraceFormat::Blkparse => {
                cowlab_sim::write_blkparse(&mut f, &arrivals, (8, 0), "cowlab")
            }
        }
        .expect("the trace is written");
        let mut c = cfg.clone();
        c.sim.trace = Some(path.display().to_string());
        c.sim.trace_format = format;
        let o = holds(&c, name);
        let replayed: Vec<(u64, u64)> = o.records.iter().map(|r| (r.offset, r.len)).collect();
        let traced: Vec<(u64, u64)> = arrivals
            .iter()
            .map(|a| (a.request.offset, a.request.len))
            .collect();
        assert_eq!(
            replayed, traced,
            "{name}: the requests QEMU got are the trace's"
        );
    }
}

/// The pids of daemons whose command line names `dir`.
fn daemons_in(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("qemu-storage-daemon") && cmd.contains(&needle)).then_some(pid)
        })
        .collect()
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Starts a long `cowlab qemu` in `dir` and waits for its daemon's pid. The caller waits
/// for the child it returns.
#[allow(clippy::zombie_processes)]
fn long_run(dir: &Path) -> (std::process::Child, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_cowlab"))
        .args(["qemu", "--run-dir"])
        .arg(dir)
        .args(["--volume", "32MiB", "--speed", "4MiB/s", "--writes", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cowlab runs");
    let began = Instant::now();
    loop {
        if let Some(&pid) = daemons_in(dir).first() {
            if dir.join("nbd.sock").exists() {
                return (child, pid);
            }
        }
        if began.elapsed() > Duration::from_secs(20) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            panic!("no daemon started within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_daemon_that_dies_mid_run_is_named_and_nothing_is_left_behind() {
    if !qemu_here() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let (child, pid) = long_run(dir.path());
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    let o = child.wait_with_output().expect("cowlab ends");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.contains(&format!("(pid {pid}) was killed by signal 9")),
        "{err}"
    );
    assert!(empty(dir.path()), "files left in the run directory");
}

#[test]
fn ctrl_c_stops_the_daemon_by_its_pid_and_removes_its_files() {
    if !qemu_here() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let (child, pid) = long_run(dir.path());
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let o = child.wait_with_output().expect("cowlab ends");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("interrupted"));
    assert!(daemons_in(dir.path()).is_empty(), "daemon {pid} still runs");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "daemon {pid} still runs"
    );
    assert!(empty(dir.path()), "files left in the run directory");
}

#[test]
fn an_option_the_installed_qemu_lacks_is_refused_by_name_and_version() {
    if !qemu_here() {
        return;
    }
    let dir = tempfile::tempdir().expect("a directory");
    let d = dir.path().to_str().expect("a path");
    let o = cowlab(&["qemu", "--on-error", "break-snapshot", "--run-dir", d]);
    refused_output(&o, "cowlab qemu", &["lacks blockdev-backup's on-cbw-error"]);
    assert!(text(&o.stderr).starts_with("error: --on-error: QEMU "));
    let o = cowlab(&["qemu", "--cbw-timeout", "5s", "--run-dir", d]);
    refused_output(&o, "cowlab qemu", &["lacks blockdev-backup's cbw-timeout"]);
    assert!(daemons_in(dir.path()).is_empty() && empty(dir.path()));
}

#[test]
fn a_violation_prints_the_first_bad_block_and_the_command_that_replays_it() {
    if !qemu_here() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let args = [
        "qemu",
        "--control",
        "mirror",
        "--volume",
        "8MiB",
        "--writes",
        "40",
        "--rate",
        "400",
        "--speed",
        "32MiB/s",
    ];
    let o = cowlab(&args);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", text(&o.stderr));
    assert!(out.contains("point-in-time copy           VIOLATED: the copy reported success but the destination differs"), "{out}");
    assert!(
        out.contains(&format!("replay: cowlab {}", args.join(" "))),
        "{out}"
    );
}

/// `cowlab qemu` with nothing but `path` on the PATH.
fn qemu_with_path(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cowlab"))
        .arg("qemu")
        .env("PATH", path)
        .output()
        .expect("cowlab runs")
}

#[test]
fn without_qemu_on_the_path_the_package_to_install_is_named() {
    let o = qemu_with_path(Path::new("/nonexistent"));
    let needle = "qemu-storage-daemon not found on PATH: install the qemu-utils package";
    refused_output(&o, "cowlab qemu", &[needle]);
}

#[test]
fn a_qemu_older_than_7_2_is_refused_with_its_version() {
    let bin = tempfile::tempdir().expect("a directory");
    let fake = bin.path().join("qemu-storage-daemon");
    let script = "#!/bin/sh\necho 'qemu-storage-daemon version 7.1.0 (an old build)'\n";
    std::fs::write(&fake, script).expect("a script");
    let chmod = Command::new("chmod").arg("+x").arg(&fake).status();
    assert!(chmod.is_ok_and(|s| s.success()));
    let o = qemu_with_path(bin.path());
    let needle = "7.1.0 is too old: cowlab qemu needs QEMU 7.2.0 or newer";
    refused_output(&o, "cowlab qemu", &[needle]);
}

#[test]
fn a_busy_socket_path_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a directory");
    let sock = dir.path().join("qmp.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("a socket");
    let o = cowlab(&["qemu", "--run-dir", dir.path().to_str().expect("a path")]);
    refused_output(
        &o,
        "cowlab qemu",
        &["qmp.sock is in use by another process"],
    );
    assert!(sock.exists(), "the other process's socket is not touched");
}

#[test]
fn what_qemu_cannot_do_is_refused_by_flag_before_any_daemon_starts() {
    for (args, needle) in [
        (
            &["--policy", "next-range"][..],
            "--policy next-range: QEMU implements out-of-turn",
        ),
        (
            &["--cow-size", "32KiB"][..],
            "--cow-size 32 KiB: QEMU's cluster is a power of two of at least 64 KiB",
        ),
        (
            &["--fail", "source:nth=1"][..],
            "--fail source:nth=1: errors on the source are not injected",
        ),
        (
            &["--fail", "snapshot:nth=1"][..],
            "--fail snapshot:nth=1: backup writes no snapshot",
        ),
        (&["--fail", "destination:p=0.5"][..], "not by chance"),
        (&["--on-error", "retry:2"][..], "QEMU does not retry"),
        (&["--crash-at", "3"][..], "--crash-at 3"),
        (&["--order", "reverse"][..], "sequential order"),
        (&["--writers", "2"][..], "open loop"),
        (
            &["--read-fraction", "0.5", "--image-fraction", "0.5"][..],
            "backup exports no point-in-time image",
        ),
        (
            &["--control", "mirror", "--cbw-timeout", "5s"][..],
            "--cbw-timeout 5s: mirror has no copy-before-write filter",
        ),
        (
            &["--preset", "qemu-fleecing", "--cbw-timeout", "1500ms"][..],
            "whole seconds",
        ),
        (
            &["--control", "rsync"][..],
            "--control rsync: unknown control",
        ),
    ] {
        refused_output(
            &cowlab(&[&["qemu"][..], args].concat()),
            "cowlab qemu",
            &[needle],
        );
    }
}
