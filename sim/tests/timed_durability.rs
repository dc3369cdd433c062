//! The timed driver with volatile caches: each policy's commit protocol runs as FLUSH and
//! record commands, every invariant holds at every step, the commits cost time, and the
//! guest's own FLUSHes and FUA writes follow their knobs exactly.

use cowlab_model::{policy, Op};
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::workload::{GuestDurability, Stop, WorkloadSpec};
use cowlab_sim::{simulate, SimOutcome};

const MIB: u64 = 1 << 20;

/// 8 MiB of 4 KiB blocks, 1 MiB segments, 64 KiB chunks, NVMe, checked at every step.
fn base(policy: &str, volatile: bool) -> SimConfig {
    let mut c = SimConfig {
        policy: policy.parse().unwrap(),
        check: Some(CheckLevel::EveryStep),
        volatile_caches: volatile,
        ..SimConfig::default()
    }
    .with_volume(8 * MIB);
    c.workload.stop = Stop::Writes(400);
    c
}

fn run(c: &SimConfig) -> SimOutcome {
    simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_policy_commits_and_holds_every_invariant_with_volatile_caches() {
    for p in policy::names() {
        let o = run(&base(p, true));
        let m = &o.metrics;
        assert_eq!(m.invariants, "checked", "{p}");
        let d = m.durability.as_ref().expect("durability figures");
        let g = 8 * MIB;
        let (segments, chunk) = (g / MIB, 64 * 1024);
        // Each commit is a record and two FLUSHes (the data's, the metadata's): one per
        // segment, one per chunk preserved, and the completion.
        let preserved = m.preserved_bytes / chunk;
        assert_eq!(d.records, segments + preserved + 1, "{p}: {d:?}");
        assert_eq!(d.flushes, 2 * d.records, "{p}: {d:?}");
        assert!(d.flushes_per_second > 0.0, "{p}");
        // Without volatile caches: no durability figures.
        let plain = run(&base(p, false));
        assert!(plain.metrics.durability.is_none(), "{p}");
    }
}

#[test]
fn commits_cost_time_and_hold_writes_longer() {
    let with = run(&base("snapshot-overlay", true)).metrics;
    let without = run(&base("snapshot-overlay", false)).metrics;
    assert!(with.copy_seconds > without.copy_seconds);
    assert!(with.hold_p99_us > without.hold_p99_us);
}

/// A FLUSH after every n generated writes: n writes between two, and one more or one fewer
/// n changes the count.
#[test]
fn the_guest_flushes_after_every_n_writes() {
    let flushes = |n: u64| {
        let mut c = base("out-of-turn", true);
        c.guest = GuestDurability {
            fua_fraction: 0.0,
            flush_every: n,
        };
        let o = run(&c);
        assert_eq!(o.metrics.invariants, "checked");
        let d = o.metrics.durability.unwrap();
        d.flushes - 2 * d.records
    };
    assert_eq!(flushes(0), 0);
    assert_eq!(flushes(8), 400 / 8);
    assert_eq!(flushes(7), 400 / 7);
    assert_eq!(flushes(9), 400 / 9);
    // Without volatile caches a FLUSH has nothing to do: the run is the plain one.
    let mut c = base("out-of-turn", false);
    c.guest.flush_every = 8;
    assert_eq!(run(&c).metrics, run(&base("out-of-turn", false)).metrics);
}

/// The share of FUA writes follows its knob, drawn from a stream of its own: the requests
/// are otherwise the same.
#[test]
fn fua_writes_follow_their_share_and_leave_the_requests_alone() {
    let spec = WorkloadSpec {
        volume: 8 * MIB,
        ..SimConfig::default().with_volume(8 * MIB).workload
    };
    let requests = |fua_fraction: f64| {
        let gen = cowlab_sim::workload::Generator::new(&spec, 3)
            .unwrap()
            .with_guest_durability(
                GuestDurability {
                    fua_fraction,
                    flush_every: 0,
                },
                3,
            );
        let mut gen = gen;
        (0..4000)
            .map_while(|_| gen.next_request())
            .collect::<Vec<_>>()
    };
    let none = requests(0.0);
    let quarter = requests(0.25);
    assert_eq!(none.len(), quarter.len());
    let fua = quarter.iter().filter(|r| r.fua).count();
    let writes = quarter.iter().filter(|r| r.op == Op::Write).count();
    assert!(
        (writes / 5..writes / 3).contains(&fua),
        "{fua} FUA of {writes} writes"
    );
    assert!(none.iter().all(|r| !r.fua));
    for (a, b) in none.iter().zip(&quarter) {
        assert_eq!((a.op, a.offset, a.len), (b.op, b.offset, b.len));
    }
    // A FUA write is a write's alone: reads never are.
    assert!(quarter.iter().all(|r| !r.fua || r.op == Op::Write));
}

/// A power loss in the middle of the copy: every invariant holds at every step through the
/// recovery, what was being copied is copied again, the copy is down for the restart time,
/// and a loss after the copy is complete changes nothing of it.
#[test]
fn a_power_loss_mid_copy_recovers_from_the_durable_records() {
    for p in policy::names() {
        let plain = run(&base(p, true)).metrics;
        let mut c = base(p, true);
        c.power_loss_at = vec![2_000_000];
        let m = run(&c).metrics;
        assert_eq!(m.invariants, "checked", "{p}");
        let d = m.durability.clone().unwrap();
        assert_eq!(d.power_losses, 1, "{p}");
        assert_eq!(d.recovery_seconds, c.restart_ns as f64 / 1e9, "{p}");
        assert!(
            m.copy_seconds >= plain.copy_seconds + d.recovery_seconds * 0.5,
            "{p}: {} with the loss, {} without",
            m.copy_seconds,
            plain.copy_seconds
        );
        // The restart time is what recovery takes: one more nanosecond, one more.
        c.restart_ns += 1;
        let later = run(&c).metrics.durability.unwrap();
        assert_eq!(later.recovery_seconds, (c.restart_ns as f64) / 1e9, "{p}");
        // After the copy is complete the loss finds it durable.
        let mut after = base(p, true);
        after.power_loss_at = vec![(plain.copy_seconds * 1e9) as u64 + 1_000_000];
        let a = run(&after).metrics;
        assert_eq!(a.copy_seconds, plain.copy_seconds, "{p}");
        assert_eq!(a.durability.unwrap().recopied_bytes, 0, "{p}");
    }
}

#[test]
fn a_power_loss_needs_volatile_caches() {
    let mut c = base("snapshot-overlay", false);
    c.power_loss_at = vec![5_000_000];
    let e = simulate(&c, &mut |_| {}).unwrap_err().to_string();
    assert!(
        e.contains("--power-loss-at 5ms") && e.contains("--volatile-caches"),
        "{e}"
    );
}
