//! Helpers shared by the timed driver's integration tests (each test file includes this
//! module; not every file uses every helper).
#![allow(dead_code)]

use cowlab_model::fault::FaultPlan;
use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::workload::{Arrivals, Sizes, Stop};

pub const KIB: u64 = 1 << 10;

/// Small volumes, a busy mixed workload: 64 blocks of 4 KiB, 16 KiB segments, 8 KiB
/// chunks, writes that span chunks and segments, volume reads and image reads, arriving
/// faster than the copy goes; checked after every step.
pub fn small(policy: &str, seed: u64) -> SimConfig {
    let mut c = SimConfig {
        policy: policy.parse().unwrap(),
        segment_size: 16 * KIB,
        cow_size: 8 * KIB,
        seed,
        check: Some(CheckLevel::EveryStep),
        ..SimConfig::default()
    }
    .with_volume(256 * KIB);
    c.workload.sizes = Sizes(vec![(4 * KIB, 1), (12 * KIB, 1)]);
    c.workload.read_fraction = 0.3;
    c.workload.image_fraction = 0.5;
    c.workload.arrivals = Arrivals::Open { rate: 200_000.0 };
    c.workload.stop = Stop::Writes(200);
    c
}

/// A fault plan of `--fail` rules (`snapshot:nth=1`, `source:blocks=20..24`, ...).
pub fn errors(specs: &[&str]) -> FaultPlan {
    FaultPlan {
        errors: specs
            .iter()
            .map(|s| cowlab_sim::faults::parse_device_error(s).unwrap())
            .collect(),
        ..FaultPlan::default()
    }
}
