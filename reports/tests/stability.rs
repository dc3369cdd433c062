//! A recommendation's stability is a promise about other seeds: a pick the report marks
//! stable does not change when the sweep reruns from another base seed, and every pick that
//! does change was marked a tie or unstable. Checked on a reduced built-in sweep.

use cowlab_reports::recommend::{self, Recommendation};
use cowlab_reports::sweep::{Granularity, Mode};
use cowlab_reports::{run, Options, Results, Sweep};
use cowlab_sim::config::CheckLevel;
use std::collections::BTreeMap;

/// The built-in sweep, smaller: a 64 MiB volume, 1,000 writes, two workloads and two
/// disks, chunks of 16 KiB to 256 KiB and segments of 256 KiB to 2 MiB.
fn reduced(seed: u64) -> Sweep {
    Sweep {
        volume: 64 << 20,
        writes: 1_000,
        hot_size: 4 << 20,
        check: CheckLevel::Off,
        seeds: 3,
        max_seeds: 9,
        seed,
        workloads: ["uniform", "hotspot"].map(|w| w.parse().unwrap()).to_vec(),
        disks: ["nvme", "ssd"].map(|d| d.parse().unwrap()).to_vec(),
        granularity: Granularity {
            mode: Mode::Sweeps,
            chunk_sizes: vec![16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10],
            segment_sizes: vec![256 << 10, 512 << 10, 1 << 20, 2 << 20],
            segment_for_chunks: 1 << 20,
            chunk_for_segments: 64 << 10,
        },
        add_topology_panel: false,
        ..Sweep::default()
    }
}

fn results(seed: u64) -> Results {
    let options = Options {
        threads: 2,
        ..Options::default()
    };
    let (mut all, _) = run::run(&[&reduced(seed)], &options, &|_, _| {}).unwrap();
    all.remove(0)
}

/// Per group: the pick (policy, segment, chunk) and whether it was marked stable (and not
/// a tie).
fn picks(r: &Results) -> BTreeMap<String, (Option<String>, bool, String)> {
    recommend::recommend(r)
        .iter()
        .map(|rec: &Recommendation| {
            let pick = rec.best.as_ref().map(|b| {
                format!(
                    "{} {} {}",
                    b.config.policy, b.config.segment, b.config.chunk
                )
            });
            let marks = format!(
                "{}, {:.0}% of resamples{}, {:?} seeds",
                if rec.is_stable() {
                    "stable"
                } else {
                    "unstable"
                },
                100.0 * rec.stability.share,
                if rec.is_tie() { ", tie" } else { "" },
                rec.seeds,
            );
            (rec.title(), (pick, rec.is_stable(), marks))
        })
        .collect()
}

#[test]
fn a_pick_marked_stable_survives_another_base_seed() {
    let bases = [0, 1000, 2000];
    let all: Vec<_> = bases.iter().map(|b| picks(&results(*b))).collect();
    let (mut changed, mut compared) = (0, 0);
    for (i, a) in all.iter().enumerate() {
        for (j, b) in all.iter().enumerate().skip(i + 1) {
            for (cell, (pick_a, stable_a, marks_a)) in a {
                let (pick_b, stable_b, marks_b) = &b[cell];
                compared += 1;
                if pick_a == pick_b {
                    continue;
                }
                changed += 1;
                let (x, y) = (bases[i], bases[j]);
                println!("{cell}: {pick_a:?} ({marks_a}) at base seed {x}, {pick_b:?} ({marks_b}) at {y}");
                assert!(
                    !stable_a && !stable_b,
                    "{cell}: the pick changed from {pick_a:?} ({marks_a}) at base seed {x} to \
                     {pick_b:?} ({marks_b}) at base seed {y}, yet one was marked stable"
                );
            }
        }
    }
    println!("{changed} of {compared} picks compared changed between base seeds");
    // Picks do move on this sweep, so the check above is not vacuous.
    assert!(
        changed > 0,
        "no pick changed: the sweep cannot show the property"
    );
}
