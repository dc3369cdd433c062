//! The exhaustive checker's ladder of sizes: unique states, seconds and states per second for
//! BFS and DFS, 1 and 2 threads, with and without symmetry over identical writers.
//!
//! Run: `cargo bench -p cowlab-model --bench exhaustive` (prints markdown tables).
//! `-- --quick` runs only the first rung of each ladder.

use cowlab_model::exhaustive::check::{self, Options, Strategy, Verdict};
use cowlab_model::exhaustive::{Config, CowModel};
use cowlab_model::policy;

fn run(c: &Config, strategy: Strategy, threads: usize, symmetry: bool) -> Verdict {
    let model = CowModel::new(c.spec().expect("valid"), symmetry);
    let o = check::run(
        &model,
        &Options {
            strategy,
            threads,
            ..Options::default()
        },
        &mut |_| {},
    );
    assert!(o.holds(), "{c}: {}", o.summary());
    o
}

fn size(c: &Config) -> String {
    format!(
        "{} seg x {} blk, chunk {}, {} writers x {} writes",
        c.segments, c.segment_blocks, c.cow_blocks, c.writers, c.writes
    )
}

fn ladder(title: &str, rungs: &[Config], quick: bool) {
    println!("\n### {title}\n");
    println!("| configuration | search | threads | symmetry | unique states | total states | seconds | states/s |");
    println!("|---|---|---|---|---:|---:|---:|---:|");
    for c in rungs.iter().take(if quick { 1 } else { rungs.len() }) {
        for (name, strategy) in [("BFS", Strategy::Bfs), ("DFS", Strategy::Dfs)] {
            for threads in [1, 2] {
                for symmetry in [false, true] {
                    let o = run(c, strategy, threads, symmetry);
                    let p = o.progress;
                    println!(
                        "| {} | {name} | {threads} | {} | {} | {} | {:.2} | {:.0} |",
                        size(c),
                        if symmetry { "yes" } else { "no" },
                        p.unique,
                        p.states,
                        p.seconds,
                        p.rate()
                    );
                }
            }
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let base = Config::default();
    let segments: Vec<Config> = (2..=5)
        .map(|segments| Config {
            segments,
            ..base.clone()
        })
        .collect();
    let writers: Vec<Config> = (1..=3)
        .map(|writers| Config {
            writers,
            ..base.clone()
        })
        .collect();
    let writes: Vec<Config> = (1..=3)
        .map(|writes| Config {
            writes,
            ..base.clone()
        })
        .collect();
    println!("policy snapshot-overlay, 1 volume reader, 1 image reader");
    ladder("Growth with segments", &segments, quick);
    ladder("Growth with writers", &writers, quick);
    ladder("Growth with writes per writer", &writes, quick);
    let target = Config {
        segments: 4,
        writers: 3,
        ..base.clone()
    };
    ladder(
        "Performance target: 4 segments x 2 blocks, chunk 1, 3 writers x 2 writes",
        std::slice::from_ref(&target),
        quick,
    );
    println!("\n### Every policy at the performance target (BFS)\n");
    println!("| policy | threads | symmetry | unique states | total states | seconds | states/s |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for p in policy::names() {
        let c = Config {
            policy: p.parse().unwrap(),
            ..target.clone()
        };
        for (threads, symmetry) in [(1, false), (1, true), (2, true)] {
            if quick && threads == 2 {
                continue;
            }
            let o = run(&c, Strategy::Bfs, threads, symmetry);
            let q = o.progress;
            println!(
                "| {p} | {threads} | {} | {} | {} | {:.2} | {:.0} |",
                if symmetry { "yes" } else { "no" },
                q.unique,
                q.states,
                q.seconds,
                q.rate()
            );
        }
    }
}
