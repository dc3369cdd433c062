//! What the reports' tests share: the quick sweep and a scratch folder per test.

#![allow(dead_code)]

use cowlab_reports::sweep::{Granularity, Mode};
use cowlab_reports::Sweep;
use cowlab_sim::config::CheckLevel;
use std::path::{Path, PathBuf};

/// Three policies, two workloads, two disks, the chunk and segment lines, two seeds and no
/// more (the run counts stay exact; seed growth has tests of its own), a 16 MiB volume.
pub fn quick() -> Sweep {
    Sweep {
        volume: 16 << 20,
        writes: 300,
        hot_size: 1 << 20,
        check: CheckLevel::End,
        seeds: 2,
        max_seeds: 2,
        policies: ["snapshot-overlay", "out-of-turn", "offline"]
            .map(|p| p.parse().unwrap())
            .to_vec(),
        workloads: ["uniform", "hotspot"].map(|w| w.parse().unwrap()).to_vec(),
        disks: ["nvme", "hdd"].map(|d| d.parse().unwrap()).to_vec(),
        granularity: Granularity {
            mode: Mode::Sweeps,
            chunk_sizes: vec![16 << 10, 64 << 10, 256 << 10],
            segment_sizes: vec![64 << 10, 256 << 10, 1 << 20],
            segment_for_chunks: 256 << 10,
            chunk_for_segments: 64 << 10,
        },
        ..Sweep::default()
    }
}

/// A folder of its own under the target's scratch space, emptied.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
