//! Many volumes under one copy engine on simulated time: the volumes finish in the order the
//! scheduling rule implies, every volume's copy keeps every invariant (checked after every
//! step), and a request never crosses into another volume.

use cowlab_model::{Op, Request};
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::trace::write_msr;
use cowlab_sim::workload::Arrival;
use cowlab_sim::{simulate, SimOutcome};

const MIB: u64 = 1 << 20;

/// Volumes of 6, 2 and 4 MiB (1 MiB segments), NVMe, checked after every step.
fn three_volumes(policy: &str, order: &str) -> SimConfig {
    SimConfig {
        policy: policy.parse().unwrap(),
        order: order.parse().unwrap(),
        volumes: vec![6 * MIB, 2 * MIB, 4 * MIB],
        check: Some(CheckLevel::EveryStep),
        ..SimConfig::default()
    }
    .with_volume(12 * MIB)
}

fn run(c: &SimConfig) -> SimOutcome {
    let o = simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.metrics.invariants, "checked", "{} {}", c.policy, c.order);
    o
}

/// The volumes by the time they finished, first first.
fn finish_order(o: &SimOutcome) -> Vec<usize> {
    let mut v: Vec<usize> = (0..o.volume_seconds.len()).collect();
    v.sort_by(|a, b| o.volume_seconds[*a].total_cmp(&o.volume_seconds[*b]));
    v
}

#[test]
fn the_volumes_finish_in_the_order_of_the_scheduling_rule() {
    for policy in ["snapshot-redirect", "out-of-turn"] {
        let order = |rule: &str| {
            let mut c = three_volumes(policy, rule);
            c.workload.stop = cowlab_sim::workload::Stop::Writes(500);
            finish_order(&run(&c))
        };
        assert_eq!(order("sequential"), [0, 1, 2], "{policy}");
        // Smallest first: 2 MiB, then 4, then 6.
        assert_eq!(order("smallest-first"), [1, 2, 0], "{policy}");
        // One segment of each in turn: the 2 MiB volume runs out first, the 6 MiB last.
        assert_eq!(order("round-robin"), [1, 2, 0], "{policy}");
    }
    // Round-robin finishes the small volume later than smallest-first does, and the large
    // one no later.
    let rr = run(&three_volumes("snapshot-redirect", "round-robin"));
    let sf = run(&three_volumes("snapshot-redirect", "smallest-first"));
    assert!(sf.volume_seconds[1] < rr.volume_seconds[1]);
}

/// Writes only to volume 2: most-written-first copies it before the others.
#[test]
fn most_written_first_copies_the_written_volume_first() {
    let arrivals: Vec<Arrival> = (0..64u64)
        .map(|i| Arrival {
            at: i * 1_000,
            request: Request {
                op: Op::Write,
                offset: 8 * MIB + (i * 64 * 1024) % (4 * MIB),
                len: 4096,
                fua: false,
            },
        })
        .collect();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cowlab-volumes");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("volume2.csv");
    write_msr(
        &mut std::fs::File::create(&path).unwrap(),
        &arrivals,
        "h",
        0,
    )
    .unwrap();
    let mut c = three_volumes("snapshot-overlay", "most-written-first");
    c.trace = Some(path.to_string_lossy().into_owned());
    let o = run(&c);
    assert_eq!(finish_order(&o)[0], 2, "{:?}", o.volume_seconds);
    let mut c = three_volumes("snapshot-overlay", "sequential");
    c.trace = Some(path.to_string_lossy().into_owned());
    assert_eq!(finish_order(&run(&c)), [0, 1, 2]);
}

/// Every policy keeps every invariant with three volumes under each rule, writes landing in
/// all of them (192 KiB writes at 4 KiB offsets: some run past a volume's end and are cut
/// there).
#[test]
fn every_policy_keeps_every_invariant_with_three_volumes() {
    for p in cowlab_model::policy::names() {
        for rule in ["round-robin", "smallest-first", "most-written-first"] {
            for seed in 0..2 {
                let mut c = three_volumes(p, rule);
                c.seed = seed;
                c.workload.stop = cowlab_sim::workload::Stop::Writes(2_000);
                c.workload.sizes = cowlab_sim::workload::Sizes(vec![(4096, 3), (192 * 1024, 1)]);
                let o = run(&c);
                assert_eq!(o.volume_seconds.len(), 3);
                assert!(o.metrics.writes > 0);
            }
        }
    }
}

#[test]
fn volumes_that_are_not_whole_segments_or_do_not_add_up_are_refused() {
    let mut c = three_volumes("snapshot-overlay", "round-robin");
    c.volumes = vec![6 * MIB, MIB + 4096, 4 * MIB];
    let e = simulate(&c, &mut |_| {}).unwrap_err().to_string();
    assert!(
        e.contains("--volumes") && e.contains("whole number of segments"),
        "{e}"
    );
    c.volumes = vec![6 * MIB, 2 * MIB];
    let e = simulate(&c, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("add up to --volume"), "{e}");
}
