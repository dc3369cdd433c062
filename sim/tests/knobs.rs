//! A behaviour test for every rule a user can set, through the library (`SimConfig`,
//! `simulate`): each asserts the exact figure its knob gives, and that the same run with the
//! knob changed by one differs by exactly what the knob says. Runs without writes (or with a
//! trace of a few writes) on a device of round figures make every figure computable by hand.
//!
//! What is tested elsewhere is not repeated here: the preset device models' service times
//! and the shared disk (`sim/tests/timed.rs`), a queue's FIFO order (`sim/src/device.rs`),
//! RAID member I/Os and link queueing on the fabric alone (`sim/tests/topology.rs`), and
//! which error breaks what on the copier's and preservers' devices across policies
//! (`sim/tests/timed_faults.rs`).

mod common;

use cowlab_model::fault::ErrorPolicy;
use cowlab_model::{Op, Request};
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::device::DeviceModel;
use cowlab_sim::topology::{Control, DeviceSpec, Link, RaidLevel, Topology, TopologyChoice};
use cowlab_sim::trace::write_msr;
use cowlab_sim::workload::{Arrival, Arrivals, Stop};
use cowlab_sim::{simulate, Latencies, Metrics, Pacing, SimOutcome};
use std::path::PathBuf;

const KIB: u64 = 1 << 10;
/// The copier's unit: 16 segments of 16 KiB.
const SEGMENT: u64 = 16 * KIB;
const VOLUME: u64 = 256 * KIB;
const SEGMENTS: u64 = VOLUME / SEGMENT;

/// 1 µs per I/O, 1 byte per ns, no seeks: an I/O of `b` bytes takes `1000 + b` ns.
const FLAT: DeviceModel = DeviceModel {
    overhead_ns: 1_000,
    bandwidth: 1_000_000_000,
    seek_ns: 0,
};

/// `ceil(bytes × 10^9 / bandwidth)`, worked out here (`sim/src/device.rs` documents it).
fn transfer_ns(bytes: u64, bandwidth: u64) -> u64 {
    (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(bandwidth)) as u64
}

/// A copy of 256 KiB in 16 KiB segments (8 KiB chunks) on `FLAT` disks with no writes and
/// metadata steps free, checked after every step.
fn quiet(policy: &str) -> SimConfig {
    let mut c = SimConfig {
        policy: policy.parse().expect("a built-in policy"),
        segment_size: SEGMENT,
        cow_size: 8 * KIB,
        cpu_ns: 0,
        check: Some(CheckLevel::EveryStep),
        ..SimConfig::default()
    }
    .with_volume(VOLUME);
    c.disks.model = FLAT;
    c.workload.stop = Stop::Writes(0);
    c
}

fn run(c: &SimConfig) -> SimOutcome {
    simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A run that keeps every invariant: its metrics.
fn clean(c: &SimConfig) -> Metrics {
    let o = run(c);
    if let Some(f) = &o.failure {
        panic!("{}\n{}", f.violation, f.last_steps.join("\n"));
    }
    assert_eq!(o.metrics.invariants, "checked");
    o.metrics
}

/// The copy time in simulated nanoseconds (the clock's resolution).
fn copy_ns(m: &Metrics) -> u64 {
    (m.copy_seconds * 1e9).round() as u64
}

/// The copy time of `c` with `change` applied.
fn copy_with(c: &SimConfig, change: impl FnOnce(&mut SimConfig)) -> u64 {
    let mut c = c.clone();
    change(&mut c);
    copy_ns(&clean(&c))
}

fn policy(text: &str) -> ErrorPolicy {
    cowlab_sim::faults::parse_error_policy(text).unwrap()
}

/// A trace file of 4 KiB writes at these (time in ns, offset) points.
fn writes(name: &str, at: &[(u64, u64)]) -> PathBuf {
    let arrivals: Vec<Arrival> = at
        .iter()
        .map(|&(at, offset)| Arrival {
            at,
            request: Request {
                op: Op::Write,
                offset,
                len: 4 * KIB,
                fua: false,
            },
        })
        .collect();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cowlab-knobs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.csv"));
    // Written aside and renamed into place: tests running at once may write the same
    // trace, and a reader must never see it half written.
    let mut aside = tempfile::NamedTempFile::new_in(&dir).unwrap();
    write_msr(&mut aside, &arrivals, "host", 0).unwrap();
    aside.persist(&path).unwrap();
    path
}

/// With no writes, each segment is a read of the source then a write of the destination.
fn io_ns(m: &DeviceModel) -> u64 {
    m.overhead_ns + transfer_ns(SEGMENT, m.bandwidth)
}

#[test]
fn a_copy_with_no_writes_costs_each_devices_overhead_bandwidth_and_seek() {
    let c = quiet("snapshot-overlay");
    let model = DeviceModel {
        overhead_ns: 7_000,
        bandwidth: 1_000_000,
        seek_ns: 300_000,
    };
    let with = |m: DeviceModel| copy_with(&c, |c| c.disks.model = m);
    // Two I/Os a segment; the first I/O of each device seeks, the rest follow on.
    let expected = |m: &DeviceModel| 2 * SEGMENTS * io_ns(m) + 2 * m.seek_ns;
    assert_eq!(with(model), expected(&model));
    let more = |change: fn(&mut DeviceModel)| {
        let mut m = model;
        change(&mut m);
        with(m)
    };
    // One more nanosecond of overhead: once per I/O.
    assert_eq!(
        more(|m| m.overhead_ns += 1),
        expected(&model) + 2 * SEGMENTS
    );
    // One more of seek: once per device.
    assert_eq!(more(|m| m.seek_ns += 1), expected(&model) + 2);
    // One byte per second more: 16,384,000 ns a segment become 16,383,984.
    let faster = DeviceModel {
        bandwidth: model.bandwidth + 1,
        ..model
    };
    assert_eq!(transfer_ns(SEGMENT, faster.bandwidth), 16_383_984);
    assert_eq!(
        more(|m| m.bandwidth += 1),
        expected(&model) - 2 * SEGMENTS * 16
    );
}

#[test]
fn each_metadata_step_costs_cpu_ns() {
    let c = quiet("snapshot-overlay");
    let io = 2 * SEGMENTS * io_ns(&FLAT);
    // A claim and a mark per segment, and the step that declares the copy complete.
    let steps = 2 * SEGMENTS + 1;
    assert_eq!(copy_with(&c, |c| c.cpu_ns = 0), io);
    assert_eq!(copy_with(&c, |c| c.cpu_ns = 5_000), io + steps * 5_000);
    assert_eq!(copy_with(&c, |c| c.cpu_ns = 5_001), io + steps * 5_001);
}

#[test]
fn the_speed_limit_starts_each_copier_read_once_the_bytes_before_it_are_paid_for() {
    let c = quiet("snapshot-overlay");
    // The last segment's read may start once the rest of the volume is paid for, at
    // floor((volume - segment) × 10^9 / speed) ns; then it is read and written.
    let expected = |speed: u64| {
        let paid = (u128::from(VOLUME - SEGMENT) * 1_000_000_000 / u128::from(speed)) as u64;
        paid + 2 * io_ns(&FLAT)
    };
    let at = |speed: u64| copy_with(&c, |c| c.speed = Some(speed));
    // 1 MB/s: 245,760,000 ns of pacing.
    assert_eq!(at(1_000_000), 245_760_000 + 2 * io_ns(&FLAT));
    // One byte per second more: 245,759,754 ns.
    assert_eq!(at(1_000_001), expected(1_000_001));
    assert_eq!(expected(1_000_000) - expected(1_000_001), 246);
    // 3 MB/s: the pacing rounds down to the nanosecond.
    assert_eq!(at(3_000_000), expected(3_000_000));
    assert_eq!(at(3_000_001), expected(3_000_001));
    assert_ne!(expected(3_000_000), expected(3_000_001));
}

/// Slice pacing (QEMU's rate limit) at 1 MB/s in slices of `slice_ns`: a quota of
/// speed × slice bytes per slice, asked before a segment is taken.
fn sliced(c: &SimConfig, slice_ns: u64, workers: u32) -> u64 {
    copy_with(c, |c| {
        c.speed = Some(1_000_000);
        c.pacing = Pacing::Slices { slice_ns };
        c.workers = workers;
    })
}

#[test]
fn slice_pacing_hands_out_speed_times_slice_bytes_per_slice() {
    let c = quiet("snapshot-overlay");
    // 100 ms slices at 1 MB/s: a quota of 100,000 bytes. The 7th segment of 16 KiB overruns
    // it (114,688 bytes), so the slice is stretched to 114.688 ms; the worker wakes 1 ns
    // after its end and a new slice starts: 7 + 7 + 2 segments, the last two from
    // 2 × 114,688,001 ns on, each read then written.
    let last_slice = 2 * 114_688_001;
    assert_eq!(sliced(&c, 100_000_000, 1), last_slice + 4 * io_ns(&FLAT));
    // A slice 1 ns longer: a quota of 100,000 bytes still, each stretched slice 1 ns longer.
    assert_eq!(
        sliced(&c, 100_000_001, 1),
        2 * 114_688_002 + 4 * io_ns(&FLAT)
    );
    // A quota of 16,384 bytes less (slices of 83.616 ms): 6 segments a slice.
    let slice = 83_616_000;
    let stretched = (6 * SEGMENT as u128 * slice / 83_616) as u64;
    assert_eq!(
        sliced(&c, slice as u64, 1),
        2 * (stretched + 1) + 4 * 2 * io_ns(&FLAT)
    );
    // More workers copy a slice's segments at once, but take no more of them.
    let four = sliced(&c, 100_000_000, 4);
    assert!(
        four > last_slice && four < last_slice + 4 * io_ns(&FLAT),
        "{four}"
    );
}

#[test]
fn an_unpaced_preserver_does_not_count_against_the_slices() {
    // One write at time 0 preserves an 8 KiB chunk; the overlay pass copies it at the end.
    let overlay = 2 * (FLAT.overhead_ns + transfer_ns(8 * KIB, FLAT.bandwidth));
    let c = one_preserving_write();
    let unpaced = sliced(
        &SimConfig {
            preserver_paced: false,
            ..c.clone()
        },
        100_000_000,
        1,
    );
    assert_eq!(unpaced, 2 * 114_688_001 + 4 * io_ns(&FLAT) + overlay);
    // Counted, its 8 KiB fill the first slice's quota one segment early (8,192 + 6 × 16,384
    // bytes: 106.496 ms); then 7 segments, then the last 3.
    let paced = sliced(&c, 100_000_000, 1);
    let second = 106_496_001 + 114_688_001;
    assert_eq!(paced, second + 3 * 2 * io_ns(&FLAT) + overlay);
}

#[test]
fn retry_n_retries_n_failed_reads_away_and_not_one_more() {
    for n in 1..=3u64 {
        let mut c = quiet("snapshot-overlay");
        c.on_error = policy(&format!("retry:{n}"));
        let first =
            |k: u64| -> Vec<String> { (1..=k).map(|i| format!("source:nth={i}")).collect() };
        let errors =
            |k: u64| common::errors(&first(k).iter().map(String::as_str).collect::<Vec<_>>());
        c.faults = errors(n);
        let m = clean(&c);
        assert_eq!(
            (m.io_errors, m.retries, m.failed_copies),
            (n, n, 0),
            "retry:{n}, {n} errors: {m:?}"
        );
        c.faults = errors(n + 1);
        let m = clean(&c);
        assert_eq!(
            (m.io_errors, m.retries, m.failed_copies, m.failed_writes),
            (n + 1, n, 1, 0),
            "retry:{n}, {} errors: {m:?}",
            n + 1
        );
    }
}

#[test]
fn the_first_backoff_is_retry_backoff_ns_and_each_retry_doubles_it() {
    let mut c = quiet("snapshot-overlay");
    c.on_error = policy("retry:3");
    let plain = copy_ns(&clean(&c));
    // A failed read costs its own time (the segment's read) and the backoff after it.
    let read = io_ns(&FLAT);
    for backoff in [1_000_003u64, 1_000_004] {
        c.retry_backoff_ns = backoff;
        let mut waited = 0;
        for k in 1..=3u64 {
            waited += backoff << (k - 1);
            let errors: Vec<String> = (1..=k).map(|i| format!("source:nth={i}")).collect();
            c.faults = common::errors(&errors.iter().map(String::as_str).collect::<Vec<_>>());
            let m = clean(&c);
            assert_eq!(m.retries, k);
            assert_eq!(
                copy_ns(&m) - plain,
                waited + k * read,
                "backoff {backoff}, {k} retries"
            );
        }
    }
}

/// One 4 KiB write at t = 0 to block 40 (chunk 20, segment 10, not yet copied): under
/// snapshot-overlay it preserves its chunk to the snapshot, the one snapshot write.
fn one_preserving_write() -> SimConfig {
    let mut c = quiet("snapshot-overlay");
    c.trace = Some(
        writes("one-write", &[(0, 40 * 4 * KIB)])
            .to_string_lossy()
            .into_owned(),
    );
    c.workload.stop = Stop::Writes(1);
    c
}

#[test]
fn each_error_policy_breaks_whom_it_names() {
    let c = one_preserving_write();
    let outcome = |on_error: &str, errors: &[&str]| {
        let mut c = c.clone();
        c.on_error = policy(on_error);
        c.faults = common::errors(errors);
        let m = clean(&c);
        (m.io_errors, m.retries, m.failed_writes, m.failed_copies)
    };
    let once = ["snapshot:nth=1"];
    let twice = ["snapshot:nth=1", "snapshot:nth=2"];
    // (errors, retries, failed writes, failed copies)
    assert_eq!(outcome("break-guest-write", &once), (1, 0, 1, 0));
    assert_eq!(outcome("break-snapshot", &once), (1, 0, 0, 1));
    assert_eq!(outcome("retry:1:break-snapshot", &once), (1, 1, 0, 0));
    assert_eq!(outcome("retry:1:break-snapshot", &twice), (2, 1, 0, 1));
    assert_eq!(outcome("retry:1", &twice), (2, 1, 1, 0));
    assert_eq!(outcome("retry:2:break-snapshot", &twice), (2, 2, 0, 0));
}

#[test]
fn a_crash_costs_exactly_the_restart_time_when_nothing_is_lost() {
    let mut c = quiet("snapshot-overlay");
    let plain = copy_ns(&clean(&c));
    // Before its first step the copier holds nothing it could lose.
    c.faults.crashes = vec![1];
    for restart in [5_000_000u64, 5_000_001] {
        c.restart_ns = restart;
        let m = clean(&c);
        assert_eq!((m.restarts, m.restart_seconds), (1, restart as f64 / 1e9));
        assert_eq!(copy_ns(&m), plain + restart, "restart {restart}");
    }
}

/// `t` as a topology file named `name` would give it: written, read back as `--topology`
/// reads a file (once, when it is named), and removed.
fn topology_file(name: &str, t: &Topology) -> TopologyChoice {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, t.to_toml()).unwrap();
    TopologyChoice::named(&path.to_string_lossy())
}

/// A write of 4 KiB on `FLAT`.
const WRITE_NS: u64 = 1_000 + 4 * KIB;

#[test]
fn a_device_of_depth_d_serves_d_ios_at_once_sharing_its_bandwidth_and_the_next_waits() {
    // Offline holds every write until the copy ends, then releases them at once: with the
    // copier gone, d of them are served together (their commands overlap, their transfers
    // share the bandwidth: `sim/src/device.rs`) and the d+1-th after them.
    let copy = 2 * SEGMENTS * io_ns(&FLAT);
    for depth in 1..=3u32 {
        let n = u64::from(depth) + 1;
        let at: Vec<(u64, u64)> = (0..n).map(|i| (0, i * 64 * KIB)).collect();
        let mut c = quiet("offline");
        c.trace = Some(
            writes(&format!("depth-{depth}"), &at)
                .to_string_lossy()
                .into_owned(),
        );
        c.workload.stop = Stop::Writes(n);
        let holds = |depth: u32| {
            let mut c = c.clone();
            c.disks.queue_depth = depth;
            let m = clean(&c);
            assert_eq!((m.held_writes, copy_ns(&m)), (n, copy), "depth {depth}");
            (m.hold_p50_us, m.hold_max_us)
        };
        // Write i (from 0) arrived at 0 and is acknowledged at the end of its round of up
        // to `depth` writes: one overhead and every write's transfer of the round, one
        // after the other; the figures go through the same histogram as the metrics.
        let expected = |depth: u64| {
            let mut l = Latencies::new();
            let (mut end, mut round) = (copy, u64::MAX);
            for i in 0..n {
                if i / depth != round {
                    round = i / depth;
                    let writes = depth.min(n - i);
                    end += 1_000 + writes * (WRITE_NS - 1_000);
                }
                l.record(end);
            }
            (l.quantile_us(0.5), l.max_us())
        };
        assert_eq!(holds(depth), expected(u64::from(depth)), "depth {depth}");
        assert_eq!(holds(depth + 1), expected(n), "depth {}", depth + 1);
        // The last write waits one overhead less with one more slot: only the commands
        // overlap, the bytes take as long.
        let (max_d, max_more) = (expected(u64::from(depth)).1, expected(n).1);
        assert!(max_d > max_more, "{max_d} vs {max_more}");
    }
}

/// The source behind one link `host-source` of this latency and bandwidth, with the copy's
/// commands in band (over the source's links, 512 bytes each way).
fn behind_link(latency_ns: u64, bandwidth: u64) -> SimConfig {
    let mut t = Topology::separate(FLAT, 1);
    t.links.insert(
        "host-source".into(),
        Link {
            latency_ns,
            bandwidth,
        },
    );
    t.roles[0].links = vec!["host-source".into()];
    assert_eq!(t.control, Control::default());
    let mut c = quiet("snapshot-overlay");
    c.topology = Some(topology_file(&format!("link-{latency_ns}-{bandwidth}"), &t));
    c
}

#[test]
fn a_link_costs_its_latency_per_hop_and_its_bandwidth_per_byte() {
    let plain = copy_ns(&clean(&quiet("snapshot-overlay")));
    let expected = |latency: u64, bandwidth: u64| {
        // A read's request crosses the link (latency only), its bytes come back (their
        // transfer, then the latency).
        let reads = SEGMENTS * (2 * latency + transfer_ns(SEGMENT, bandwidth));
        // A claim and a mark per segment each send a 512-byte command there and back.
        let commands = 2 * SEGMENTS * 2 * (latency + transfer_ns(512, bandwidth));
        plain + reads + commands
    };
    let at = |latency: u64, bandwidth: u64| {
        let o = run(&behind_link(latency, bandwidth));
        assert_eq!(o.metrics.invariants, "checked");
        let (name, link) = &o.links[0];
        assert_eq!(name, "host-source");
        assert_eq!(link.transfers, SEGMENTS + 4 * SEGMENTS);
        copy_ns(&o.metrics)
    };
    assert_eq!(at(10_000, 999_999_999), expected(10_000, 999_999_999));
    // One more nanosecond of latency: two hops per read, two per command.
    assert_eq!(
        at(10_001, 999_999_999),
        expected(10_000, 999_999_999) + 2 * SEGMENTS + 2 * (2 * SEGMENTS)
    );
    // One byte per second more: each 16 KiB and each 512-byte transfer 1 ns shorter.
    assert_eq!(transfer_ns(SEGMENT, 999_999_999), SEGMENT + 1);
    assert_eq!(transfer_ns(512, 999_999_999), 513);
    assert_eq!(
        at(10_000, 1_000_000_000),
        expected(10_000, 999_999_999) - SEGMENTS - 4 * SEGMENTS
    );
}

/// The source a RAID-0 of two `FLAT` disks with this stripe unit.
fn raid0_source(unit: u64) -> SimConfig {
    let mut t = Topology::separate(FLAT, 1);
    let disk = DeviceSpec::Disk {
        model: FLAT,
        queue_depth: 1,
    };
    t.devices.insert("m0".into(), disk.clone());
    t.devices.insert("m1".into(), disk);
    t.devices.insert(
        "source".into(),
        DeviceSpec::Raid {
            level: RaidLevel::Raid0,
            stripe_unit: unit,
            members: vec!["m0".into(), "m1".into()],
        },
    );
    let mut c = quiet("snapshot-overlay");
    c.topology = Some(topology_file(&format!("raid0-{unit}"), &t));
    c
}

/// A RAID-0 read of `len` bytes at `offset` over two idle members: unit `c` is on member
/// `c mod 2`, a member's pieces are contiguous there (one I/O each), and the read ends with
/// the member that has the most bytes.
fn raid0_read_ns(offset: u64, len: u64, unit: u64) -> u64 {
    let mut bytes = [0u64; 2];
    let mut at = offset;
    while at < offset + len {
        let end = ((at / unit + 1) * unit).min(offset + len);
        bytes[((at / unit) % 2) as usize] += end - at;
        at = end;
    }
    bytes
        .iter()
        .filter(|&&b| b > 0)
        .map(|b| FLAT.overhead_ns + b)
        .max()
        .unwrap()
}

#[test]
fn a_raid0_stripe_unit_splits_each_read_over_its_members() {
    let expected = |unit: u64| -> u64 {
        (0..SEGMENTS)
            .map(|s| raid0_read_ns(s * SEGMENT, SEGMENT, unit) + io_ns(&FLAT))
            .sum()
    };
    let at = |unit: u64| copy_ns(&clean(&raid0_source(unit)));
    // Half a segment per member, and a whole segment on one member.
    assert_eq!(at(8 * KIB), SEGMENTS * (1_000 + 8 * KIB + io_ns(&FLAT)));
    assert_eq!(at(16 * KIB), 2 * SEGMENTS * io_ns(&FLAT));
    // One byte more: every read but the first is longer on one member.
    assert_eq!(at(8 * KIB + 1), expected(8 * KIB + 1));
    assert_ne!(expected(8 * KIB + 1), expected(8 * KIB));
    assert_eq!(at(12 * KIB), expected(12 * KIB));
}

#[test]
fn a_closed_loop_writer_thinks_think_ns_between_an_acknowledgement_and_its_next_write() {
    // One writer under offline: its first write (at 0) is held until the copy ends, then
    // each write takes a 4 KiB write's time and the next arrives think_ns later. The run
    // stops admitting writes at `until`: write j arrives at copy + (j-1) × (write + think).
    let copy = 2 * SEGMENTS * io_ns(&FLAT);
    let writes = |think_ns: u64, until: u64| {
        let mut c = quiet("offline");
        c.workload.arrivals = Arrivals::Closed {
            writers: 1,
            think_ns,
        };
        c.workload.stop = Stop::Duration(until);
        let m = clean(&c);
        assert_eq!((m.held_writes, copy_ns(&m)), (1, copy));
        m.writes
    };
    let think = 10_000;
    // Write 11 arrives exactly at `until`, too late; one nanosecond later it is in.
    let eleventh = copy + 10 * (WRITE_NS + think);
    assert_eq!(writes(think, eleventh), 10);
    assert_eq!(writes(think, eleventh + 1), 11);
    // Thinking a nanosecond longer delays it by 10 ns; shorter, by -10 ns.
    assert_eq!(writes(think + 1, eleventh + 1), 10);
    assert_eq!(writes(think + 1, eleventh + 10), 10);
    assert_eq!(writes(think + 1, eleventh + 11), 11);
    assert_eq!(writes(think - 1, eleventh), 11);
}
