//! A designer's own policy (`OutOfTurnAhead`, defined in the `own-policy` crate of
//! `examples/own-policy/`, which also checks it), swept beside a built-in one, from ordinary
//! Rust: the same simulator, the same report. Run it with
//!
//! ```sh
//! cargo run --release -p cowlab-reports --example own_policy
//! ```
//!
//! and read `target/own-policy-report/summary.md`. The same calls work inside a `#[test]`.

use cowlab_model::policy::OutOfTurn;
use cowlab_model::PolicyName;
use cowlab_reports::sweep::{Granularity, Mode, Sweep};
use cowlab_reports::{report, Options};
use cowlab_sim::device::DiskName;
use cowlab_sim::workload::PatternName;
use own_policy::OutOfTurnAhead;
use std::sync::Arc;

fn main() {
    let sweep = Sweep {
        volume: 64 << 20,
        writes: 1_000,
        seeds: 3,
        policies: vec![PolicyName::of(&OutOfTurn), PolicyName::of(&OutOfTurnAhead)],
        workloads: vec![PatternName::Uniform, PatternName::Sequential],
        disks: vec![DiskName::Nvme],
        granularity: Granularity {
            mode: Mode::Sweeps,
            chunk_sizes: vec![16 << 10, 64 << 10, 256 << 10],
            segment_sizes: vec![1 << 20],
            segment_for_chunks: 1 << 20,
            chunk_for_segments: 64 << 10,
        },
        ..Sweep::default()
    };
    let options = Options {
        policies: vec![Arc::new(OutOfTurnAhead)],
        ..Options::default()
    };
    let out = std::path::Path::new("target/own-policy-report");
    match report(&[&sweep], &options, out) {
        Ok(r) => {
            for rec in &r.recommendations {
                if let Some(best) = &rec.best {
                    println!(
                        "{} on {}: {} with {} KiB chunks",
                        rec.workload,
                        rec.disk,
                        best.config.policy,
                        best.config.chunk >> 10
                    );
                }
            }
            println!("report: {}", out.join("summary.md").display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
