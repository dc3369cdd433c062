//! The timed driver against figures worked out by hand, and against the checkers: it runs
//! the engine's step machines, so every invariant holds on small runs, every mutant that a
//! timed run can meet is caught, and a run is the same every time.

use cowlab_model::{policy, Mutant, Op, Request};
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::device::DeviceModel;
use cowlab_sim::driver::simulate_verified;
use cowlab_sim::trace::{write_msr, MsrReader};
use cowlab_sim::verify::{EveryStep, Whole};
use cowlab_sim::workload::{Arrival, Generator, Pattern, Stop};
use cowlab_sim::{simulate, SimOutcome};
use std::io::BufReader;
use std::path::PathBuf;

mod common;
use common::{small, KIB};

const MIB: u64 = 1 << 20;

/// 8 MiB of 4 KiB blocks, 1 MiB segments, 64 KiB chunks, NVMe, metadata steps free.
fn base(policy: &str) -> SimConfig {
    SimConfig {
        policy: policy.parse().unwrap(),
        cpu_ns: 0,
        ..SimConfig::default()
    }
    .with_volume(8 * MIB)
}

fn run(c: &SimConfig) -> SimOutcome {
    simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A trace file of these (time in ns, op, offset, length) requests.
fn trace(name: &str, requests: &[(u64, Op, u64, u64)]) -> PathBuf {
    let arrivals: Vec<Arrival> = requests
        .iter()
        .map(|(at, op, offset, len)| Arrival {
            at: *at,
            request: Request {
                op: *op,
                offset: *offset,
                len: *len,
                fua: false,
            },
        })
        .collect();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cowlab-timed");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.csv"));
    // Written aside and renamed into place: tests running at once may write the same
    // trace, and a reader must never see it half written.
    let mut aside = tempfile::NamedTempFile::new_in(&dir).unwrap();
    write_msr(&mut aside, &arrivals, "host", 0).unwrap();
    aside.persist(&path).unwrap();
    path
}

fn with_trace(c: SimConfig, path: PathBuf) -> SimConfig {
    SimConfig {
        trace: Some(path.to_string_lossy().into_owned()),
        ..c
    }
}

fn preserving() -> Vec<&'static str> {
    policy::builtins()
        .iter()
        .filter(|p| !matches!(p.write_rule(), cowlab_model::policy::WriteRule::WaitForCopy))
        .map(|p| p.name())
        .collect()
}

#[test]
fn with_no_writes_the_copy_takes_exactly_its_own_io_time() {
    for disk in ["nvme", "hdd"] {
        let mut c = base("snapshot-overlay");
        c.workload.stop = Stop::Writes(0);
        c.disks = cowlab_sim::Disks::preset(disk.parse().unwrap());
        let o = run(&c);
        let m = disk
            .parse::<cowlab_sim::device::DiskName>()
            .unwrap()
            .model();
        // Eight segments, each a 1 MiB read of the source then a 1 MiB write of the
        // destination; each device's first I/O seeks, the rest follow on.
        let io = |first: bool| m.service_ns(MIB, !first);
        let expected: u64 = (0..8).map(|s| 2 * io(s == 0)).sum();
        assert_eq!(o.metrics.copy_seconds, expected as f64 / 1e9, "{disk}");
        assert_eq!(o.metrics.preserved_bytes, 0);
        assert_eq!(o.metrics.copier_bytes_read, 8 * MIB);
        assert_eq!(o.metrics.copier_bytes_written, 8 * MIB);
        // With metadata steps costing 1 us: a claim and a mark per segment, and the step
        // that declares the copy complete.
        c.cpu_ns = 1_000;
        let o = run(&c);
        assert_eq!(
            o.metrics.copy_seconds,
            (expected + (8 * 2 + 1) * 1_000) as f64 / 1e9
        );
    }
}

#[test]
fn a_shared_disk_serves_the_copy_on_one_queue_and_one_head() {
    let mut c = base("snapshot-overlay");
    c.workload.stop = Stop::Writes(0);
    c.disks = cowlab_sim::Disks::preset("hdd".parse().unwrap());
    c.disks.shared = true;
    let o = run(&c);
    // Every I/O moves the head between the source's and the destination's regions.
    let io = DeviceModel::hdd().service_ns(MIB, false);
    assert_eq!(o.metrics.copy_seconds, (16 * io) as f64 / 1e9);
}

#[test]
fn the_speed_limit_paces_the_copier_and_preservation_counts_against_it() {
    let mut c = base("snapshot-overlay");
    c.workload.stop = Stop::Writes(0);
    c.speed = Some(100 * MIB);
    let alone = run(&c).metrics.copy_seconds;
    // The last 1 MiB read may start once 7 MiB are charged: at 70 ms.
    let last = 2 * DeviceModel::nvme().service_ns(MIB, true);
    assert_eq!((alone * 1e9).round() as u64, 70_000_000 + last);
    // Writes make preservations, whose bytes the copier's budget pays for.
    c.workload.stop = Stop::Writes(200);
    let busy = run(&c).metrics;
    assert!(busy.preserved_bytes > MIB, "{busy:?}");
    assert!(
        busy.copy_seconds > alone + 0.01,
        "{} vs {alone}",
        busy.copy_seconds
    );
}

#[test]
fn closed_loop_writers_wait_for_their_writes_and_think() {
    let writes = |think_ns| {
        let mut c = base("out-of-turn");
        c.workload.arrivals = cowlab_sim::workload::Arrivals::Closed {
            writers: 2,
            think_ns,
        };
        c.workload.stop = Stop::Duration(10_000_000);
        run(&c).metrics.writes
    };
    // Two writers for 10 ms, from t = 0: each issues its next write once the last is
    // acknowledged and it has thought, so at most one per think time, and fewer the
    // longer it thinks.
    let (fast, slow) = (writes(1_000_000), writes(4_000_000));
    assert!((10..=22).contains(&fast), "{fast} writes");
    assert!((2..=6).contains(&slow) && slow < fast, "{slow} writes");
    let mut c = base("out-of-turn");
    c.workload.arrivals = cowlab_sim::workload::Arrivals::Closed {
        writers: 3,
        think_ns: 0,
    };
    c.workload.stop = Stop::Writes(37);
    assert_eq!(run(&c).metrics.writes, 37);
}

#[test]
fn one_write_to_an_uncopied_chunk_preserves_exactly_one_chunk() {
    let path = trace("one-write", &[(0, Op::Write, 7 * MIB + 8 * KIB, 4 * KIB)]);
    for p in preserving() {
        let o = run(&with_trace(base(p), path.clone()));
        // next-range also preserves the next chunk not yet preserved.
        let chunks = if p == "next-range" { 2 } else { 1 };
        assert_eq!(o.metrics.preserved_bytes, chunks * 64 * KIB, "{p}");
        assert_eq!((o.metrics.writes, o.metrics.held_writes), (1, 1), "{p}");
        assert_eq!(o.metrics.invariants, "checked");
    }
}

#[test]
fn a_write_to_a_copied_range_costs_no_extra_bytes() {
    // Segment 0 is copied in well under a millisecond; the write comes at 3 ms (a trace's
    // first line is t = 0, so a read of the last block comes first).
    let first = (0, Op::Read, 8 * MIB - 4 * KIB, 4 * KIB);
    let path = trace(
        "copied-range",
        &[first, (3_000_000, Op::Write, 4 * KIB, 8 * KIB)],
    );
    for p in preserving() {
        let o = run(&with_trace(base(p), path.clone()));
        // next-range preserves the next chunk not yet preserved whatever the write hits:
        // that one chunk, ahead of the copier, is its rule's price, not the write's.
        let extra = if p == "next-range" { 64 * KIB } else { 0 };
        assert_eq!(o.metrics.preserved_bytes, extra, "{p}");
        assert_eq!(o.metrics.held_writes, (extra > 0) as u64, "{p}");
        // The copier copies the volume once, and the overlay pass what was preserved.
        let copier = o.metrics.copier_bytes_written;
        assert_eq!(copier, 8 * MIB + extra, "{p}");
    }
}

#[test]
fn offline_holds_every_write_until_the_copy_ends() {
    let writes: Vec<(u64, Op, u64, u64)> = (0..20)
        .map(|i| (i * 100_000, Op::Write, i * 300 * KIB, 4 * KIB))
        .collect();
    let o = run(&with_trace(base("offline"), trace("offline", &writes)));
    let m = &o.metrics;
    assert_eq!((m.writes, m.held_writes), (20, 20));
    assert_eq!(m.preserved_bytes, 0);
    assert_eq!(
        m.throughput_ratio,
        Some(0.0),
        "no write acknowledged during the copy"
    );
    // The last write arrived at 1.9 ms and waited for the copy's end.
    assert!(m.hold_p50_us * 1e-6 >= m.copy_seconds - 0.0019, "{m:?}");
}

#[test]
fn a_write_after_the_copy_ends_is_never_held() {
    let first = (0, Op::Read, 8 * MIB - 4 * KIB, 4 * KIB);
    let path = trace("after", &[first, (1_000_000_000, Op::Write, 0, 4 * KIB)]);
    for p in policy::names() {
        let o = run(&with_trace(base(p), path.clone()));
        assert!(o.metrics.copy_seconds < 1.0, "{p}");
        assert_eq!((o.metrics.writes, o.metrics.held_writes), (1, 0), "{p}");
        assert_eq!(o.metrics.preserved_bytes, 0, "{p}");
    }
}

#[test]
fn small_timed_runs_of_every_policy_keep_every_invariant() {
    for p in policy::names() {
        for order in <cowlab_model::OrderName as cowlab_model::names::Named>::names() {
            for (pattern, seed) in [(Pattern::Uniform, 1), (Pattern::Sequential, 2)] {
                let mut c = small(p, seed);
                c.order = order.parse().unwrap();
                c.workload.pattern = pattern.clone();
                let o = run(&c);
                assert_eq!(o.metrics.invariants, "checked", "{p}, {order}, {pattern:?}");
                assert!(o.metrics.held_writes > 0, "{p}, {order}: a race was run");
            }
        }
    }
}

#[test]
fn every_mutant_is_caught_by_seeded_timed_runs() {
    for m in Mutant::fault_free() {
        // skip-overlay only bends the overlay policies; copier-ignores-in-flight is masked
        // by the overlay pass, which rewrites what the copier got wrong.
        let p = match m {
            Mutant::SkipOverlay => "snapshot-overlay",
            Mutant::CopierIgnoresInFlight => "out-of-turn",
            _ => "snapshot-redirect",
        };
        let caught = (0..20).find_map(|seed| {
            let mut c = small(p, seed);
            c.mutant = Some(m);
            let o = run(&c);
            o.failure.map(|f| (seed, f))
        });
        let (seed, f) = caught.unwrap_or_else(|| panic!("{m} not caught in 20 seeds"));
        assert_ne!(
            f.violation.invariant,
            cowlab_model::Invariant::Progress,
            "{m} (seed {seed}): {}",
            f.violation
        );
        assert!(
            !f.last_steps.is_empty(),
            "{m}: the report shows the steps before it"
        );
    }
}

#[test]
fn checking_what_a_step_touched_finds_what_checking_everything_finds() {
    let mut compared = 0;
    for m in [None].into_iter().chain(Mutant::fault_free().map(Some)) {
        for seed in 0..4 {
            let mut c = small("snapshot-overlay", seed);
            c.mutant = m;
            let touched = simulate_verified(&c, EveryStep::default()).unwrap();
            let whole = simulate_verified(&c, Whole).unwrap();
            let at = |o: &SimOutcome| o.failure.as_ref().map(|f| (f.at_ns, o.steps));
            assert_eq!(at(&touched), at(&whole), "{m:?}, seed {seed}");
            compared += 1;
        }
    }
    assert_eq!(compared, 44);
}

#[test]
fn the_figures_do_not_depend_on_the_check_level() {
    for p in policy::names() {
        let mut c = small(p, 3);
        c.mutant = None;
        let checked = run(&c).metrics;
        c.check = Some(CheckLevel::Off);
        let unchecked = run(&c).metrics;
        assert_eq!(checked.invariants, "checked");
        assert_eq!(unchecked.invariants, "not-checked");
        let strip = |m: cowlab_sim::Metrics| cowlab_sim::Metrics {
            invariants: String::new(),
            ..m
        };
        assert_eq!(strip(checked), strip(unchecked), "{p}");
    }
}

#[test]
fn the_same_seed_gives_the_same_json_and_another_seed_does_not() {
    let json = |seed| {
        let c = SimConfig {
            seed,
            ..small("out-of-turn", seed)
        };
        serde_json::to_string(&run(&c).metrics).unwrap()
    };
    assert_eq!(json(5), json(5));
    assert_ne!(json(5), json(6));
}

#[test]
fn a_generated_workload_round_trips_through_a_trace_file() {
    let mut c = small("snapshot-redirect", 9);
    c.workload.read_fraction = 0.3;
    c.workload.image_fraction = 0.0;
    let mut gen = Generator::new(&c.workload, c.seed).unwrap();
    // Times rounded to the format's 100 ns, from t = 0.
    let arrivals: Vec<Arrival> = std::iter::from_fn(|| gen.next_arrival())
        .enumerate()
        .map(|(i, a)| Arrival {
            at: if i == 0 { 0 } else { a.at / 100 * 100 },
            ..a
        })
        .collect();
    let mut bytes = Vec::new();
    write_msr(&mut bytes, &arrivals, "host", 3).unwrap();
    let back: Vec<Arrival> = MsrReader::new("trace".into(), BufReader::new(&bytes[..]))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, arrivals);
    // Replayed, it is the same run whether it has a header line or not.
    let plain = trace("round-trip", &[]);
    std::fs::write(&plain, &bytes).unwrap();
    let header = plain.with_extension("header.csv");
    let mut text = b"Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime\n".to_vec();
    text.extend(&bytes);
    std::fs::write(&header, text).unwrap();
    let a = run(&with_trace(c.clone(), plain)).metrics;
    let b = run(&with_trace(c, header)).metrics;
    assert_eq!(a, b);
    assert_eq!(a.writes, 200);
}
