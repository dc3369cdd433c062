//! Topologies in timed runs: the default presets give today's figures, every preset keeps
//! every invariant (a topology changes what an I/O costs, never the step machines), links
//! carry what crosses them, and moving the control path out of band takes the commands off
//! the data link and changes how long held writes wait.

use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::device::DeviceModel;
use cowlab_sim::topology::{Control, ControlPath, Link, Topology, TopologyChoice, PRESETS};
use cowlab_sim::{simulate, SimOutcome};

const MIB: u64 = 1 << 20;

/// 16 MiB of 4 KiB blocks on SSDs, 3,000 writes, checked after every step.
fn small(policy: &str, topology: Option<&str>) -> SimConfig {
    let mut c = SimConfig {
        policy: policy.parse().unwrap(),
        topology: topology.map(TopologyChoice::named),
        check: Some(CheckLevel::EveryStep),
        ..SimConfig::default()
    }
    .with_volume(16 * MIB);
    c.disks = cowlab_sim::Disks::preset("ssd".parse().unwrap());
    c.workload.stop = cowlab_sim::workload::Stop::Writes(3_000);
    c
}

fn run(c: &SimConfig) -> SimOutcome {
    simulate(c, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_separate_and_shared_presets_are_todays_devices() {
    let default = run(&small("snapshot-overlay", None));
    let separate = run(&small("snapshot-overlay", Some("separate")));
    assert_eq!(default.metrics, separate.metrics);
    let mut shared_disk = small("snapshot-overlay", None);
    shared_disk.disks.shared = true;
    let shared = run(&small("snapshot-overlay", Some("shared")));
    assert_eq!(run(&shared_disk).metrics, shared.metrics);
    assert_ne!(shared.metrics, separate.metrics, "one device is not four");
}

#[test]
fn every_preset_keeps_every_invariant_under_every_policy() {
    for t in PRESETS {
        for p in cowlab_model::policy::names() {
            let o = run(&small(p, Some(t)));
            assert_eq!(o.metrics.invariants, "checked", "{t}, {p}");
            assert_eq!(o.metrics.writes, 3_000, "{t}, {p}");
        }
    }
}

/// The SAN preset: the host's link to the switch carries the source's and the destination's
/// I/O (and the in-band commands), so it carries what the two switch links carry.
#[test]
fn the_host_link_of_the_san_carries_both_arrays_traffic() {
    let o = run(&small("snapshot-overlay", Some("san")));
    let bytes = |name: &str| {
        o.links
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no link {name}: {:?}", o.links))
            .1
            .bytes
    };
    assert_eq!(
        bytes("host-switch"),
        bytes("switch-source") + bytes("switch-destination")
    );
    // The copier's reads and writes alone cross it.
    assert!(bytes("host-switch") >= o.metrics.copier_bytes_read + o.metrics.copier_bytes_written);
    let plain = run(&small("snapshot-overlay", Some("separate")));
    assert!(plain.links.is_empty());
    assert!(
        o.metrics.copy_seconds > plain.metrics.copy_seconds,
        "links cost time"
    );
}

/// The same SAN with the copy's commands on a control link of their own: the data links
/// carry no command, the control link carries them all, and held writes, which wait for
/// their commands' round trips, wait for a different time.
#[test]
fn out_of_band_control_takes_the_commands_off_the_data_links() {
    let in_band = run(&small("snapshot-overlay", Some("san")));
    let mut t = Topology::san(DeviceModel::ssd(), 1);
    t.control = Control {
        path: ControlPath::OutOfBand(Link {
            latency_ns: 1_000,
            bandwidth: 100_000_000,
        }),
        command_bytes: 512,
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cowlab-topology");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("oob.toml");
    std::fs::write(&path, t.to_toml()).unwrap();
    let out_of_band = run(&small("snapshot-overlay", Some(path.to_str().unwrap())));
    assert_eq!(out_of_band.metrics.invariants, "checked");
    let link = |o: &SimOutcome, name: &str| o.links.iter().find(|(n, _)| n == name).map(|l| l.1);
    let control = link(&out_of_band, "control").expect("the control link");
    assert!(control.transfers > 0);
    assert!(link(&in_band, "control").is_none());
    // In band, every command crossed the source's links there and back, 512 bytes each way.
    let data = |o: &SimOutcome| link(o, "switch-source").unwrap();
    let (a, b) = (data(&in_band), data(&out_of_band));
    assert!(a.bytes > b.bytes, "in band {a:?}, out of band {b:?}");
    assert!(a.transfers > b.transfers);
    assert_ne!(in_band.metrics.hold_p50_us, out_of_band.metrics.hold_p50_us);
}

#[test]
fn a_bad_topology_is_refused_by_flag_and_value() {
    let e = simulate(&small("snapshot-overlay", Some("raid7")), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--topology raid7: neither a preset"), "{e}");
}
