//! Topologies and the fabric (`sim/src/topology/`): member I/Os of each RAID level, link
//! queueing and the control path checked to the nanosecond on hand-computed cases, the
//! `separate` and `shared` presets against today's `DeviceQueue`s, the file format.

use cowlab_model::Device;
use cowlab_sim::device::{DeviceModel, DeviceQueue, Io};
use cowlab_sim::topology::{
    parse_role, Control, ControlPath, DeviceSpec, Fabric, Link, MemberCounts, RaidLevel, Role,
    Topology, TopologyChoice, TopologyPreset, PRESETS, ROLE_NAMES,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

const KIB: u64 = 1024;
const MIB: u64 = 1 << 20;

/// 1 µs per I/O, 1 byte per ns, no seeks: a member I/O of `b` bytes takes `1000 + b` ns.
const FLAT: DeviceModel = DeviceModel {
    overhead_ns: 1_000,
    bandwidth: 1_000_000_000,
    seek_ns: 0,
};

fn disk(model: DeviceModel, depth: u32) -> DeviceSpec {
    DeviceSpec::Disk {
        model,
        queue_depth: depth,
    }
}

/// The source a RAID called `r` of `n` FLAT disks `d0 ..`, the other roles on `other`.
fn raid_source(level: RaidLevel, n: usize, unit: u64) -> Topology {
    let mut devices: BTreeMap<String, DeviceSpec> =
        (0..n).map(|i| (format!("d{i}"), disk(FLAT, 1))).collect();
    devices.insert("other".into(), disk(FLAT, 1));
    devices.insert(
        "r".into(),
        DeviceSpec::Raid {
            level,
            stripe_unit: unit,
            members: (0..n).map(|i| format!("d{i}")).collect(),
        },
    );
    Topology {
        devices,
        links: BTreeMap::new(),
        roles: [
            Role::on("r"),
            Role::on("other"),
            Role::on("other"),
            Role::on("other"),
        ],
        control: Control::default(),
    }
}

fn write(offset: u64, bytes: u64, token: u32) -> Io<u32> {
    Io {
        offset,
        bytes,
        write: true,
        token,
    }
}

fn read(offset: u64, bytes: u64, token: u32) -> Io<u32> {
    Io {
        write: false,
        ..write(offset, bytes, token)
    }
}

/// Runs the fabric until idle: (token, completion time), in completion order.
fn drain(f: &mut Fabric<u32>) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    while let Some(t) = f.next_due() {
        out.extend(f.advance(t).into_iter().map(|tok| (tok, t)));
    }
    assert_eq!(f.in_flight(), 0);
    out
}

fn counts(f: &Fabric<u32>, name: &str) -> MemberCounts {
    f.member_counts(name).expect("a disk")
}

fn mc(data_reads: u64, data_writes: u64, parity_reads: u64, parity_writes: u64) -> MemberCounts {
    MemberCounts {
        data_reads,
        data_writes,
        parity_reads,
        parity_writes,
    }
}

#[test]
fn raid5_small_write_is_two_reads_then_two_writes_on_two_members() {
    let t = raid_source(RaidLevel::Raid5, 4, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    // Unit 0 is stripe 0's first data unit: parity on member 3 - 0 = 3, data on (3+1) % 4 = 0.
    f.submit(0, Device::Source, write(0, 4 * KIB, 1));
    // Reads of 4 KiB on d0 and d3 (1000 + 4096 ns), then the writes: 2 × 5096.
    assert_eq!(drain(&mut f), [(1, 10_192)]);
    assert_eq!(counts(&f, "d0"), mc(1, 1, 0, 0));
    assert_eq!(counts(&f, "d3"), mc(0, 0, 1, 1));
    assert_eq!(counts(&f, "d1"), MemberCounts::default());
    assert_eq!(counts(&f, "d2"), MemberCounts::default());
    let d0 = f.disk_stats("d0", 10_192).unwrap();
    assert_eq!((d0.bytes_read, d0.bytes_written), (4 * KIB, 4 * KIB));

    // Parity rotates: unit 3 is stripe 1's first data unit, parity on member 3 - 1 = 2,
    // data on (2+1) % 4 = 3.
    let mut f = Fabric::new(&t).unwrap();
    f.submit(0, Device::Source, write(3 * 64 * KIB + 512, 512, 2));
    assert_eq!(drain(&mut f), [(2, 2 * 1_512)]);
    assert_eq!(counts(&f, "d3"), mc(1, 1, 0, 0));
    assert_eq!(counts(&f, "d2"), mc(0, 0, 1, 1));
    // The parity range is the data's in-unit range.
    let d2 = f.disk_stats("d2", 3_024).unwrap();
    assert_eq!((d2.bytes_read, d2.bytes_written), (512, 512));
}

#[test]
fn raid5_full_stripe_write_reads_nothing() {
    let t = raid_source(RaidLevel::Raid5, 4, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    f.submit(0, Device::Source, write(0, 3 * 64 * KIB, 1));
    // Three data writes and a parity write of 64 KiB at once: 1000 + 65536 ns.
    assert_eq!(drain(&mut f), [(1, 66_536)]);
    for d in ["d0", "d1", "d2"] {
        assert_eq!(counts(&f, d), mc(0, 1, 0, 0), "{d}");
    }
    assert_eq!(counts(&f, "d3"), mc(0, 0, 0, 1));
}

#[test]
fn raid5_partial_stripe_write_reads_each_touched_unit_and_the_parity_hull_once() {
    let t = raid_source(RaidLevel::Raid5, 4, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    // 128 KiB from 32 KiB: the second half of unit 0 (d0), unit 1 (d1), the first half of
    // unit 2 (d2). Old parity over in-unit [0, 64 KiB) on d3. Reads: d0 and d2 33,768 ns,
    // d1 and d3 66,536 ns; then the same writes: 2 × 66,536.
    f.submit(0, Device::Source, write(32 * KIB, 128 * KIB, 1));
    assert_eq!(drain(&mut f), [(1, 133_072)]);
    for d in ["d0", "d1", "d2"] {
        assert_eq!(counts(&f, d), mc(1, 1, 0, 0), "{d}");
    }
    assert_eq!(counts(&f, "d3"), mc(0, 0, 1, 1));
    let d3 = f.disk_stats("d3", 133_072).unwrap();
    assert_eq!((d3.bytes_read, d3.bytes_written), (64 * KIB, 64 * KIB));
}

#[test]
fn raid5_write_over_two_stripes_runs_them_in_parallel() {
    let t = raid_source(RaidLevel::Raid5, 4, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    // Units 2 .. 5: unit 2 ends stripe 0 (partial: d2 and parity d3), units 3..5 fill
    // stripe 1 (full: d3, d0, d1 and parity d2). Stripe 1's writes go first on d2 and
    // d3 (66,536); stripe 0's reads queue behind them (133,072), then its writes (199,608).
    f.submit(0, Device::Source, write(2 * 64 * KIB, 4 * 64 * KIB, 1));
    assert_eq!(drain(&mut f), [(1, 199_608)]);
    assert_eq!(counts(&f, "d2"), mc(1, 1, 0, 1));
    assert_eq!(counts(&f, "d3"), mc(0, 1, 1, 1));
    assert_eq!(counts(&f, "d0"), mc(0, 1, 0, 0));
}

#[test]
fn raid5_read_touches_only_data_and_merges_contiguous_pieces() {
    let t = raid_source(RaidLevel::Raid5, 3, 4 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    // Three members, two data units per stripe; parity of stripe s on 2 - s % 3.
    // Units 0, 1 (stripe 0: d0, d1), 2, 3 (stripe 1, parity d1: d2, d0).
    f.submit(0, Device::Source, read(0, 16 * KIB, 1));
    let done = drain(&mut f);
    // d0 holds units 0 (at 0) and 3 (at 4 KiB): merged, 8 KiB = 1000 + 8192 ns.
    assert_eq!(done, [(1, 9_192)]);
    assert_eq!(counts(&f, "d0"), mc(1, 0, 0, 0));
    assert_eq!(counts(&f, "d1"), mc(1, 0, 0, 0));
    assert_eq!(counts(&f, "d2"), mc(1, 0, 0, 0));
    assert_eq!(f.disk_stats("d0", 9_192).unwrap().bytes_read, 8 * KIB);
}

#[test]
fn raid1_writes_reach_every_mirror_and_reads_go_to_the_least_busy() {
    let t = raid_source(RaidLevel::Raid1, 3, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    f.submit(0, Device::Source, write(0, 4 * KIB, 1));
    assert_eq!(drain(&mut f), [(1, 5_096)]);
    for d in ["d0", "d1", "d2"] {
        assert_eq!(counts(&f, d), mc(0, 1, 0, 0), "{d}");
    }
    // Four reads at once: idle mirrors first (ties to the lowest), then d0 again.
    for token in 2..=5 {
        f.submit(5_096, Device::Source, read(0, 4 * KIB, token));
    }
    let done = drain(&mut f);
    assert_eq!(done, [(2, 10_192), (3, 10_192), (4, 10_192), (5, 15_288)]);
    assert_eq!(counts(&f, "d0"), mc(2, 1, 0, 0));
    assert_eq!(counts(&f, "d1"), mc(1, 1, 0, 0));
    assert_eq!(counts(&f, "d2"), mc(1, 1, 0, 0));
}

#[test]
fn raid0_splits_by_stripe_unit_and_completes_with_the_last_member() {
    let t = raid_source(RaidLevel::Raid0, 4, 64 * KIB);
    let mut f = Fabric::new(&t).unwrap();
    // Five units: d0 gets units 0 and 4, contiguous on it (0 and 64 KiB): one 128 KiB I/O
    // (132,072 ns); d1 .. d3 one unit each (66,536 ns).
    f.submit(0, Device::Source, write(0, 5 * 64 * KIB, 1));
    assert_eq!(drain(&mut f), [(1, 132_072)]);
    for d in ["d0", "d1", "d2", "d3"] {
        assert_eq!(counts(&f, d), mc(0, 1, 0, 0), "{d}");
    }
    assert_eq!(
        f.disk_stats("d0", 132_072).unwrap().bytes_written,
        128 * KIB
    );
    assert_eq!(f.disk_stats("d3", 132_072).unwrap().bytes_written, 64 * KIB);
    // A read inside one unit reaches one member: unit 5 is d1's second.
    f.submit(200_000, Device::Source, read(5 * 64 * KIB + 100, 1_000, 2));
    assert_eq!(drain(&mut f), [(2, 202_000)]);
    assert_eq!(counts(&f, "d1"), mc(1, 1, 0, 0));
}

#[test]
fn raid10_nests() {
    // A raid0 of two raid1 pairs: a write of two units reaches all four disks.
    let mut t = raid_source(RaidLevel::Raid0, 4, 4 * KIB);
    let pair = |a: &str, b: &str| DeviceSpec::Raid {
        level: RaidLevel::Raid1,
        stripe_unit: 4 * KIB,
        members: vec![a.into(), b.into()],
    };
    t.devices.insert("m0".into(), pair("d0", "d1"));
    t.devices.insert("m1".into(), pair("d2", "d3"));
    t.devices.insert(
        "r".into(),
        DeviceSpec::Raid {
            level: RaidLevel::Raid0,
            stripe_unit: 4 * KIB,
            members: vec!["m0".into(), "m1".into()],
        },
    );
    let mut f = Fabric::new(&t).unwrap();
    f.submit(0, Device::Source, write(0, 8 * KIB, 1));
    assert_eq!(drain(&mut f), [(1, 5_096)]);
    for d in ["d0", "d1", "d2", "d3"] {
        assert_eq!(counts(&f, d), mc(0, 1, 0, 0), "{d}");
    }
    assert_eq!(Topology::parse(&t.to_toml(), "raid10.toml"), Ok(t));
}

/// The source a FLAT disk of depth 2 behind one link of 10 µs and 1 GB/s.
fn one_link(control: Control) -> Topology {
    let mut t = raid_source(RaidLevel::Raid0, 2, 4 * KIB);
    t.devices.insert("src".into(), disk(FLAT, 2));
    t.links.insert(
        "l".into(),
        Link {
            latency_ns: 10_000,
            bandwidth: 1_000_000_000,
        },
    );
    t.roles[0] = Role {
        device: "src".into(),
        links: vec!["l".into()],
        offset: 0,
    };
    t.control = control;
    t
}

#[test]
fn a_link_serves_transfers_fifo_at_its_bandwidth() {
    let mut f = Fabric::new(&one_link(Control::default())).unwrap();
    for token in 1..=3 {
        f.submit(0, Device::Source, write(token as u64 * MIB, MIB, token));
    }
    // Write k holds the link until k × 1,048,576 ns and reaches the disk 10 µs later.
    // Write 1 is served in 1000 + 1,048,576 ns (done 2,108,152) and acknowledged 10 µs
    // later. Write 2 reaches the disk at 2,107,152 (a free slot of two): done 3,156,728.
    // Write 3 reaches it at 3,155,728 (write 1's slot is free): done 4,205,304.
    assert_eq!(
        drain(&mut f),
        [(1, 2_118_152), (2, 3_166_728), (3, 4_215_304)]
    );
    let l = f.link_stats("l").unwrap();
    assert_eq!(
        (l.transfers, l.bytes, l.busy_ns, l.max_waiting),
        (3, 3 * MIB, 3 * MIB, 2)
    );
    // A read: the request takes 10 µs, the data returns over the link.
    f.submit(5_000_000, Device::Source, read(0, MIB, 4));
    assert_eq!(
        drain(&mut f),
        [(4, 5_000_000 + 10_000 + 1_049_576 + 1_048_576 + 10_000)]
    );
    // Roles without links cross none.
    f.submit(8_000_000, Device::Destination, write(0, MIB, 5));
    assert_eq!(drain(&mut f), [(5, 8_000_000 + 1_049_576)]);
    assert_eq!(f.link_stats("l").unwrap().transfers, 4);
}

#[test]
fn a_link_is_half_duplex_for_commands_both_ways() {
    let big = Control {
        path: ControlPath::InBand,
        command_bytes: MIB,
    };
    let mut f = Fabric::new(&one_link(big)).unwrap();
    f.command(0, 1);
    f.command(0, 2);
    // Out: 1 on [0, 1,048,576], 2 on [1,048,576, 2,097,152]. 1's way back queues at
    // 1,058,576 behind 2's way out: [2,097,152, 3,145,728], back at 3,155,728. 2's way
    // back: [3,145,728, 4,194,304], back at 4,204,304.
    assert_eq!(drain(&mut f), [(1, 3_155_728), (2, 4_204_304)]);
    assert_eq!(f.link_stats("l").unwrap().bytes, 4 * MIB);
    assert_eq!(f.member_counts("src"), Some(MemberCounts::default()));
}

#[test]
fn in_band_commands_cross_the_data_links_out_of_band_ones_the_control_link() {
    let t = Topology::san(FLAT, 1);
    let mut f = Fabric::new(&t).unwrap();
    f.command(0, 1);
    // 512 B at 1.25 GB/s: 409.6 → 410 ns per transfer, 10 µs per hop; four hops.
    assert_eq!(drain(&mut f), [(1, 4 * 410 + 4 * 10_000)]);
    for l in ["host-switch", "switch-source"] {
        let s = f.link_stats(l).unwrap();
        assert_eq!((s.transfers, s.bytes, s.busy_ns), (2, 1_024, 820), "{l}");
    }
    assert_eq!(f.link_stats("switch-destination").unwrap().transfers, 0);
    assert_eq!(f.control_stats(), None);

    let mut t = Topology::san(FLAT, 1);
    t.control.path = ControlPath::OutOfBand(Link {
        latency_ns: 5_000,
        bandwidth: 100_000_000,
    });
    let mut f = Fabric::new(&t).unwrap();
    f.command(0, 1);
    // 512 B at 100 MB/s: 5,120 ns, there and back with 5 µs each way.
    assert_eq!(drain(&mut f), [(1, 2 * 5_120 + 2 * 5_000)]);
    for l in ["host-switch", "switch-source", "switch-destination"] {
        assert_eq!(f.link_stats(l).unwrap().transfers, 0, "{l}");
    }
    let c = f.control_stats().unwrap();
    assert_eq!((c.transfers, c.bytes, c.busy_ns), (2, 1_024, 10_240));
    // No link at all (the separate preset, in-band): a command completes at once.
    let mut f = Fabric::new(&Topology::separate(FLAT, 1)).unwrap();
    f.command(7, 9);
    assert_eq!(f.next_due(), Some(7));
    assert_eq!(f.advance(7), [9]);
}

#[test]
fn san_shares_the_host_link_between_source_and_destination() {
    let mut f = Fabric::new(&Topology::san(FLAT, 1)).unwrap();
    // 1.25 MB at 1.25 GB/s: 1 ms per link. Two writes at once, one per array.
    let bytes = 1_250_000;
    f.submit(0, Device::Source, write(0, bytes, 1));
    f.submit(0, Device::Destination, write(0, bytes, 2));
    // The source's write holds host-switch [0, 1 ms] and switch-source [1.01, 2.01 ms],
    // reaches its disk at 2.02 ms, is served for 1.251 ms and acknowledged 20 µs later.
    // The destination's waits for host-switch, [1, 2 ms]: everything 1 ms later.
    assert_eq!(drain(&mut f), [(1, 3_291_000), (2, 4_291_000)]);
    assert_eq!(f.link_stats("host-switch").unwrap().transfers, 2);
}

// ---------------------------------------------------------------------------------------
// The `separate` and `shared` presets against today's queues.

struct Arrival {
    at: u64,
    role: Device,
    io: Io<u32>,
}

/// A seeded mix of reads and writes, sequential runs and jumps, on every role.
fn arrivals(n: u32, seed: u64, volume: u64) -> Vec<Arrival> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut at = 0;
    let mut ends = [0u64; 4];
    (0..n)
        .map(|token| {
            at += next() % 30_000;
            let role = Device::ALL[(next() % 4) as usize];
            let bytes = (1 + next() % 16) * 4 * KIB;
            let end = &mut ends[role as usize];
            let offset = match next() % 3 {
                0 if *end + bytes <= volume => *end,
                _ => (next() % (volume / (4 * KIB) - 16)) * 4 * KIB,
            };
            *end = offset + bytes;
            let io = Io {
                offset,
                bytes,
                write: next() % 2 == 0,
                token,
            };
            Arrival { at, role, io }
        })
        .collect()
}

/// Today's driver (`sim/src/driver/`): one queue per role, or one shared queue with each
/// role's region at `role × volume`; completions before arrivals at equal times.
fn today(ios: &[Arrival], model: DeviceModel, depth: u32, shared: Option<u64>) -> Vec<(u32, u64)> {
    let count = if shared.is_some() { 1 } else { 4 };
    let mut queues: Vec<DeviceQueue<u32>> = (0..count)
        .map(|_| DeviceQueue::new(model, depth).unwrap())
        .collect();
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize, u32)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let due = heap.peek().map(|Reverse((t, _, _, _))| *t);
        let arrival = ios.get(i).map(|a| a.at);
        let Some(first) = completion_first(due, arrival) else {
            return out;
        };
        if first {
            // A stale wake completes nothing.
            let Reverse((t, _, dev, gen)) = heap.pop().unwrap();
            if let Some(done) = queues[dev].complete(t, gen) {
                out.push((done.token, t));
                if let Some(w) = done.wake {
                    seq += 1;
                    heap.push(Reverse((w.at, seq, dev, w.gen)));
                }
            }
        } else {
            let a = &ios[i];
            i += 1;
            let (dev, region) = match shared {
                Some(volume) => (0, a.role as u64 * volume),
                None => (a.role as usize, 0),
            };
            let io = Io {
                offset: region + a.io.offset,
                ..a.io.clone()
            };
            if let Some(w) = queues[dev].submit(a.at, io) {
                seq += 1;
                heap.push(Reverse((w.at, seq, dev, w.gen)));
            }
        }
    }
}

/// The same arrivals through a fabric.
fn through(ios: &[Arrival], topology: &Topology) -> Vec<(u32, u64)> {
    let mut f = Fabric::new(topology).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let arrival = ios.get(i).map(|a| a.at);
        let due = f.next_due();
        let Some(first) = completion_first(due, arrival) else {
            return out;
        };
        if first {
            let t = due.unwrap();
            out.extend(f.advance(t).into_iter().map(|tok| (tok, t)));
        } else {
            f.submit(ios[i].at, ios[i].role, ios[i].io.clone());
            i += 1;
        }
    }
}

/// Whether the next event is a completion (they go first at equal times); `None` when
/// nothing is left.
fn completion_first(due: Option<u64>, arrival: Option<u64>) -> Option<bool> {
    match (due, arrival) {
        (None, None) => None,
        (Some(t), Some(a)) => Some(t <= a),
        (due, _) => Some(due.is_some()),
    }
}

/// The same arrivals through a fabric's direct path, on the caller's clock (as the driver
/// times the `separate` and `shared` presets).
fn direct(ios: &[Arrival], topology: &Topology) -> Vec<(u32, u64)> {
    let mut f: Fabric<u32> = Fabric::new(topology).unwrap();
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32, u32)>> = BinaryHeap::new();
    let (mut seq, mut out, mut i) = (0u64, Vec::new(), 0);
    loop {
        let due = heap.peek().map(|Reverse((t, _, _, _))| *t);
        let Some(first) = completion_first(due, ios.get(i).map(|a| a.at)) else {
            return out;
        };
        if first {
            let Reverse((t, _, disk, gen)) = heap.pop().unwrap();
            if let Some((token, wake)) = f.complete_direct(t, disk, gen) {
                out.push((token, t));
                if let Some(w) = wake {
                    seq += 1;
                    heap.push(Reverse((w.at, seq, disk, w.gen)));
                }
            }
        } else {
            let a = &ios[i];
            i += 1;
            let disk = f.direct_disk(a.role).expect("a direct role");
            if let Some(w) = f.submit_direct(a.at, a.role, a.io.clone()) {
                seq += 1;
                heap.push(Reverse((w.at, seq, disk, w.gen)));
            }
        }
    }
}

#[test]
fn the_direct_path_times_exactly_as_todays_queues() {
    let volume = 64 * MIB;
    for model in [DeviceModel::hdd(), DeviceModel::nvme()] {
        for depth in [1, 4] {
            for seed in 0..3 {
                let ios = arrivals(400, seed, volume);
                let mut want = today(&ios, model, depth, None);
                let mut got = direct(&ios, &Topology::separate(model, depth));
                want.sort();
                got.sort();
                assert_eq!(got, want, "separate depth {depth} seed {seed}");
                let mut want = today(&ios, model, depth, Some(volume));
                let mut got = direct(&ios, &Topology::shared(model, depth, volume));
                want.sort();
                got.sort();
                assert_eq!(got, want, "shared depth {depth} seed {seed}");
            }
        }
    }
    // A RAID's roles have no direct path; nor has a role behind a link.
    let t = Topology::raid5_san(DeviceModel::nvme(), 1);
    assert_eq!(
        Fabric::<u32>::new(&t).unwrap().direct_disk(Device::Source),
        None
    );
    assert_eq!(
        Fabric::<u32>::new(&t)
            .unwrap()
            .direct_disk(Device::Destination),
        None
    );
    // Nor a role on a disk another role reaches over a link: the disk's wakes are then the
    // fabric's alone (a driver timing one role directly and one through the fabric used to
    // panic when their I/Os queued behind each other).
    let mut t = Topology::separate(DeviceModel::nvme(), 1);
    t.links.insert("l".into(), super_link());
    t.roles[Device::Source as usize].links = vec!["l".into()];
    t.roles[Device::Destination as usize].device = t.roles[0].device.clone();
    let f = Fabric::<u32>::new(&t).unwrap();
    assert_eq!(f.direct_disk(Device::Destination), None);
    assert!(f.direct_disk(Device::Snapshot).is_some());
}

#[test]
fn separate_and_shared_presets_time_exactly_as_todays_queues() {
    let volume = 64 * MIB;
    for (name, model) in [("hdd", DeviceModel::hdd()), ("nvme", DeviceModel::nvme())] {
        for depth in [1, 4] {
            for seed in 0..3 {
                let ios = arrivals(400, seed, volume);
                let mut want = today(&ios, model, depth, None);
                let mut got = through(&ios, &Topology::separate(model, depth));
                assert_eq!(got.len(), 400);
                // Same completion times; at equal times possibly in another order.
                want.sort();
                got.sort();
                assert_eq!(got, want, "separate {name} depth {depth} seed {seed}");
                let mut want = today(&ios, model, depth, Some(volume));
                let mut got = through(&ios, &Topology::shared(model, depth, volume));
                want.sort();
                got.sort();
                assert_eq!(got, want, "shared {name} depth {depth} seed {seed}");
            }
        }
    }
}

#[test]
fn the_shared_preset_places_each_role_in_its_region_as_today() {
    // On one disk, the destination's region starts where the source's ends: a destination
    // I/O at 0 after a source I/O ending at the volume's end is sequential, one at 4 KiB
    // after a source I/O ending at 4 KiB is not.
    let volume = 64 * MIB;
    let at = |role, offset, token| Arrival {
        at: 0,
        role,
        io: write(offset, 4 * KIB, token),
    };
    let ios = [
        at(Device::Source, 0, 1),
        at(Device::Destination, 4 * KIB, 2),
        at(Device::Source, volume - 4 * KIB, 3),
        at(Device::Destination, 0, 4),
    ];
    let hdd = DeviceModel::hdd();
    let want = today(&ios, hdd, 1, Some(volume));
    assert_eq!(through(&ios, &Topology::shared(hdd, 1, volume)), want);
    let (seek, io) = (4_000_000, 4_170_000 + 27_307);
    let ends: Vec<u64> = want.iter().map(|w| w.1).collect();
    assert_eq!(
        ends,
        [
            seek + io,
            2 * (seek + io),
            3 * (seek + io),
            3 * (seek + io) + io
        ]
    );
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let ios = arrivals(300, 7, 64 * MIB);
    let t = Topology::raid5_san(DeviceModel::ssd(), 2);
    let first = through(&ios, &t);
    assert_eq!(first.len(), 300);
    assert_eq!(through(&ios, &t), first);
}

// ---------------------------------------------------------------------------------------
// The file format.

const BASE: &str = r#"[devices.d0]
model = "ssd"

[devices.d1]
model = "ssd"
queue_depth = 4

[devices.d2]
bandwidth = "500MB/s"
overhead_ns = "80us"

[devices.r]
raid = "raid5"
stripe_unit = "64KiB"
members = ["d0", "d1", "d2"]

[links.l]
latency_ns = "10us"
bandwidth = "1.25GB/s"

[roles.source]
device = "r"
links = ["l"]

[roles.destination]
device = "d0"

[roles.snapshot]
device = "d1"
offset = "1GiB"

[roles.cache]
device = "d2"
"#;

#[test]
fn a_file_reads_as_written() {
    let t = Topology::parse(BASE, "base.toml").unwrap();
    let ssd = DeviceModel::ssd();
    assert_eq!(t.devices["d0"], disk(ssd, 1));
    assert_eq!(t.devices["d1"], disk(ssd, 4));
    assert_eq!(t.devices["d2"], disk(ssd, 1));
    assert_eq!(
        t.devices["r"],
        DeviceSpec::Raid {
            level: RaidLevel::Raid5,
            stripe_unit: 65_536,
            members: vec!["d0".into(), "d1".into(), "d2".into()],
        }
    );
    assert_eq!(t.links["l"], super_link());
    assert_eq!(t.role(Device::Source).links, ["l"]);
    assert_eq!(t.role(Device::Snapshot).offset, 1 << 30);
    assert_eq!(t.control, Control::default());
    assert_eq!(Topology::parse(&t.to_toml(), "again.toml"), Ok(t));
    // "native": the model preset's own depth, written back as the number.
    let native = BASE.replacen("queue_depth = 4", "queue_depth = \"native\"", 1);
    let t = Topology::parse(&native, "native.toml").unwrap();
    assert_eq!(t.devices["d1"], disk(ssd, 32));
    assert!(t.to_toml().contains("queue_depth = 32\n"));
}

fn super_link() -> Link {
    Link {
        latency_ns: 10_000,
        bandwidth: 1_250_000_000,
    }
}

#[test]
fn every_preset_and_odd_values_round_trip() {
    for name in PRESETS {
        for model in [DeviceModel::hdd(), DeviceModel::nvme()] {
            let t = Topology::preset(name, model, 3, 1 << 30).unwrap();
            let text = t.to_toml();
            assert_eq!(Topology::parse(&text, name), Ok(t.clone()), "{text}");
            assert!(Fabric::<u32>::new(&t).is_ok(), "{name}");
        }
    }
    assert_eq!(Topology::preset("nas", FLAT, 1, 1), None);
    let mut t = Topology::raid5_san(FLAT, 1);
    let odd = DeviceSpec::Disk {
        model: DeviceModel {
            overhead_ns: u64::MAX,
            bandwidth: u64::MAX,
            seek_ns: i64::MAX as u64 + 1,
        },
        queue_depth: u32::MAX,
    };
    t.devices.insert("a b.\"c\"\n ü".into(), odd);
    t.devices.insert("".into(), disk(FLAT, 1));
    t.roles[3] = Role {
        device: "a b.\"c\"\n ü".into(),
        links: vec!["host-switch".into(), "host-switch".into()],
        offset: u64::MAX,
    };
    t.control = Control {
        path: ControlPath::OutOfBand(Link {
            latency_ns: 0,
            bandwidth: 1,
        }),
        command_bytes: 0,
    };
    assert_eq!(Topology::parse(&t.to_toml(), "odd.toml"), Ok(t));
}

fn err(text: &str) -> String {
    Topology::parse(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn bad_files_name_the_file_line_key_and_value() {
    let with = |from: &str, to: &str| {
        assert!(BASE.contains(from), "{from}");
        err(&BASE.replacen(from, to, 1))
    };
    assert_eq!(
        with("queue_depth = 4", "queue_depth = 4\ncolour = \"red\""),
        "t.toml line 7: key devices.d1.colour = \"red\": unknown field `colour`, expected one of \
         `model`, `overhead_ns`, `bandwidth`, `seek_ns`, `queue_depth`, `raid`, \
         `stripe_unit`, `members`"
    );
    assert_eq!(
        with("\"d1\", \"d2\"]", "\"d1\", \"d9\"]"),
        "t.toml line 15: key devices.r.members = d9: unknown device"
    );
    assert_eq!(
        with("links = [\"l\"]", "links = [\"l\", \"m\"]"),
        "t.toml line 23: key roles.source.links = m: unknown link"
    );
    assert_eq!(
        with("device = \"d0\"", "device = \"d7\""),
        "t.toml line 26: key roles.destination.device = d7: unknown device"
    );
    assert_eq!(
        with(
            "members = [\"d0\", \"d1\", \"d2\"]",
            "members = [\"d0\", \"d1\"]"
        ),
        "t.toml line 15: key devices.r.members = 2: a raid5 needs at least 3 members"
    );
    assert_eq!(
        with(
            "members = [\"d0\", \"d1\", \"d2\"]",
            "members = [\"d0\", \"d1\", \"d0\"]"
        ),
        "t.toml line 15: key devices.r.members = d0: member listed twice"
    );
    assert_eq!(
        with("bandwidth = \"1.25GB/s\"", "bandwidth = 0"),
        "t.toml line 19: key links.l.bandwidth = 0: must be positive"
    );
    assert_eq!(
        with("bandwidth = \"500MB/s\"", "bandwidth = \"0\""),
        "t.toml line 9: key devices.d2.bandwidth = 0: must be positive"
    );
    assert_eq!(
        with("bandwidth = \"1.25GB/s\"", "bandwidth = \"fast\""),
        "t.toml line 19: key links.l.bandwidth = \"fast\": bad rate 'fast': 'fast' is not a number"
    );
    assert_eq!(
        with("stripe_unit = \"64KiB\"", "stripe_unit = 0"),
        "t.toml line 14: key devices.r.stripe_unit = 0: must be at least one byte"
    );
    assert_eq!(
        with("queue_depth = 4", "queue_depth = 0"),
        "t.toml line 6: key devices.d1.queue_depth = 0: must be at least 1"
    );
    assert_eq!(
        with("queue_depth = 4", "queue_depth = \"deep\""),
        "t.toml line 6: key devices.d1.queue_depth = \"deep\": must be a whole number or \"native\""
    );
    assert_eq!(
        with(
            "overhead_ns = \"80us\"",
            "overhead_ns = \"80us\"\nqueue_depth = \"native\""
        ),
        "t.toml line 11: key devices.d2.queue_depth = \"native\": `native` needs a model preset \
         (nvme, ssd or hdd)"
    );
    assert_eq!(
        with("raid = \"raid5\"", "raid = \"raid6\""),
        "t.toml line 13: key devices.r.raid = \"raid6\": unknown RAID level (expected one of: raid0, raid1, raid5)"
    );
    assert_eq!(
        with("model = \"ssd\"", "model = \"floppy\""),
        "t.toml line 2: key devices.d0.model = \"floppy\": unknown disk (expected one of: nvme, ssd, hdd)"
    );
    assert_eq!(
        with("[roles.cache]\ndevice = \"d2\"\n", ""),
        "t.toml line 21: key roles.cache = (none): no device plays this role"
    );
    assert_eq!(
        with("[roles.cache]", "[roles.cahce]"),
        "t.toml line 32: key roles = cahce: unknown role (expected one of: source, destination, snapshot, cache); did you mean cache?"
    );
    // A cycle: r is a member of itself through q.
    let cycle = BASE.replace("\"d1\", \"d2\"]", "\"d1\", \"q\"]")
        + "\n[devices.q]\nraid = \"raid1\"\nmembers = [\"r\", \"d2\"]\n";
    assert_eq!(
        err(&cycle),
        "t.toml line 37: key devices.q.members = q: a RAID that contains itself"
    );
    assert_eq!(
        with("[links.l]", "[links.l"),
        "t.toml line 17: '[links.l': unclosed table, expected `]`"
    );
}

#[test]
fn every_refusal_of_validate_is_an_error_not_a_panic() {
    let mut t = Topology::separate(FLAT, 1);
    t.roles[2].device = "nowhere".into();
    let e = Fabric::<u32>::new(&t).err().unwrap();
    assert_eq!(
        e.to_string(),
        "topology: key roles.snapshot.device = nowhere: unknown device"
    );
}

/// Deterministic: a fixed ChaCha seed, nothing persisted.
fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Lines that look like a topology file, so that parsing gets past TOML's syntax.
fn topology_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[devices.d0]".to_string()),
        Just("[devices.r]".to_string()),
        Just("[links.l]".to_string()),
        Just("[roles.source]".to_string()),
        Just("[roles.cache]".to_string()),
        Just("[control]".to_string()),
        Just("raid = \"raid5\"".to_string()),
        Just("raid = \"raid1\"".to_string()),
        Just("members = [\"d0\", \"r\"]".to_string()),
        Just("model = \"hdd\"".to_string()),
        Just("path = \"out-of-band\"".to_string()),
        Just("device = \"r\"".to_string()),
        Just("links = [\"l\"]".to_string()),
        "(bandwidth|latency_ns|stripe_unit|queue_depth|offset|command_bytes) = -?[0-9]{1,20}",
        "(bandwidth|latency_ns|stripe_unit) = \"[0-9.]{0,6}[a-zA-Z/ ]{0,5}\"",
        "[ -~]{0,20}",
    ];
    (proptest::collection::vec(line, 0..24), any::<bool>()).prop_map(|(lines, base)| {
        let mut text = if base {
            BASE.to_string()
        } else {
            String::new()
        };
        text.push_str(&lines.join("\n"));
        text
    })
}

proptest! {
    #![proptest_config(config(1000, 0x7090))]

    #[test]
    fn parse_never_panics(text in prop_oneof![any::<String>(), topology_like()]) {
        if let Ok(t) = Topology::parse(&text, "p.toml") {
            prop_assert!(Fabric::<u32>::new(&t).is_ok());
            prop_assert_eq!(Topology::parse(&t.to_toml(), "again.toml"), Ok(t));
        }
    }
}

#[test]
fn unknown_names_list_the_choices_and_a_close_one() {
    // Presets: every name parses to its preset and back; a typo gets the preset it misses.
    for (p, name) in TopologyPreset::ALL.iter().zip(PRESETS) {
        assert_eq!(TopologyPreset::parse(name), Ok(*p));
        assert_eq!(p.name(), name);
    }
    let presets = "separate, shared, raid5-source, san, raid5-san";
    assert_eq!(
        TopologyPreset::parse("sna").unwrap_err().to_string(),
        format!("unknown topology preset (expected one of: {presets}); did you mean san?")
    );
    assert_eq!(
        TopologyPreset::parse("raid5-sorce")
            .unwrap_err()
            .suggestion(),
        Some("raid5-source")
    );
    // Nothing close: the choices alone.
    assert_eq!(
        TopologyPreset::parse("mesh").unwrap_err().to_string(),
        format!("unknown topology preset (expected one of: {presets})")
    );
    // RAID levels: a swap of two letters is close; raid6 is as close to every level, so
    // none is offered.
    for level in RaidLevel::ALL {
        assert_eq!(RaidLevel::parse(level.name()), Ok(level));
    }
    assert_eq!(
        RaidLevel::parse("riad1").unwrap_err().to_string(),
        "unknown RAID level (expected one of: raid0, raid1, raid5); did you mean raid1?"
    );
    assert_eq!(RaidLevel::parse("raid6").unwrap_err().suggestion(), None);
    assert_eq!(
        err(&BASE.replacen("raid = \"raid5\"", "raid = \"riad5\"", 1)),
        "t.toml line 13: key devices.r.raid = \"riad5\": unknown RAID level (expected one of: raid0, raid1, raid5); did you mean raid5?"
    );
    // Roles.
    for (i, name) in ROLE_NAMES.iter().enumerate() {
        assert_eq!(parse_role(name).map(|d| d as usize), Ok(i));
    }
    assert_eq!(
        parse_role("snapshop").unwrap_err().to_string(),
        "unknown role (expected one of: source, destination, snapshot, cache); did you mean snapshot?"
    );
    assert_eq!(parse_role("sink").unwrap_err().suggestion(), None);
}

#[test]
fn a_topology_choice_is_resolved_once_and_reads_as_its_name() {
    assert_eq!(
        TopologyChoice::named("san"),
        TopologyChoice::Preset(TopologyPreset::San)
    );
    let path = std::env::temp_dir().join(format!("cowlab-choice-{}.toml", std::process::id()));
    std::fs::write(&path, BASE).unwrap();
    let name = path.to_str().unwrap();
    let choice = TopologyChoice::named(name);
    // The file is read now: removing it does not change the choice.
    std::fs::remove_file(&path).unwrap();
    let want = Topology::parse(BASE, name).unwrap();
    assert_eq!(choice.topology(FLAT, 1, 1 << 30), Ok(want));
    assert_eq!(&*choice, name);
    assert_eq!(
        serde_json::to_string(&choice).unwrap(),
        serde_json::to_string(name).unwrap()
    );
    // Neither a preset nor a file: refused when its topology is asked for.
    let sna = TopologyChoice::named("sna");
    let reason = sna.topology(FLAT, 1, 1 << 30).unwrap_err();
    assert!(
        reason.starts_with(
            "neither a preset (expected one of: separate, shared, raid5-source, san, raid5-san; did you mean san?) nor a readable file: "
        ),
        "{reason}"
    );
    assert_eq!(sna.to_string(), "sna");
}
