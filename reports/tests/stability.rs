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

/// More seeds go only where a pick is unstable, never past `max_seeds`, and a sharded run
/// grows them after the merge just as a whole run does.
#[test]
fn seeds_grow_where_a_pick_is_unstable_up_to_max_seeds_and_alike_after_a_merge() {
    let grown = results(0);
    let base = {
        let s = Sweep {
            max_seeds: 3,
            ..reduced(0)
        };
        let (mut all, _) = run::run(&[&s], &Options::default(), &|_, _| {}).unwrap();
        all.remove(0)
    };
    let jobs = reduced(0).jobs().len();
    assert_eq!(base.runs.len() + base.no_writes.len(), jobs);
    assert!(grown.runs.len() > base.runs.len());
    // Stable picks on the first seeds get no more; the cap holds, and is reached.
    let most = |g: &recommend::Group| g.configs.iter().map(|c| c.seeds).max();
    for (g, rec) in recommend::groups(&base)
        .iter()
        .zip(recommend::recommend(&base))
    {
        let after = recommend::groups(&grown)
            .into_iter()
            .find(|h| h.title() == g.title())
            .unwrap();
        if rec.is_stable() {
            assert_eq!(most(&after), Some(3), "{}", g.title());
        }
        assert!(most(&after) <= Some(9), "{}", g.title());
    }
    let top = grown.runs.iter().map(|r| r.seed).max();
    assert_eq!(top, Some(8), "the cap of 9 seeds (0 to 8) is reached");
    // Two shards run the first seeds; the merge grows the rest as the whole run did.
    let s = reduced(0);
    let mut shards = Vec::new();
    for index in 1..=2 {
        let options = Options {
            shard: Some(run::Shard { index, count: 2 }),
            ..Options::default()
        };
        let (mut r, _) = run::run(&[&s], &options, &|_, _| {}).unwrap();
        shards.push(r.remove(0));
    }
    let mut merged = Results {
        sweep: s.clone(),
        runs: shards.iter().flat_map(|r| r.runs.clone()).collect(),
        no_writes: shards.iter().flat_map(|r| r.no_writes.clone()).collect(),
    };
    merged.runs.sort_by_key(|r| r.job);
    merged.no_writes.sort_by_key(|n| n.job);
    run::grow(&mut merged, &Options::default(), &|_, _| {}).unwrap();
    assert_eq!(merged.to_json(), grown.to_json());
}
