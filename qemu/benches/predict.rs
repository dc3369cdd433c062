//! The simulator measured against real QEMU: the same seeded workload on real QEMU and in
//! `cowlab sim`, across cluster sizes, workloads and seeds, for the backup job and for
//! fleecing, printed as the Markdown tables of `docs/qemu.md`.
//!
//! `cargo bench -p cowlab-qemu --bench predict` (about 12 minutes; needs
//! qemu-storage-daemon). `COWLAB_REPS=N` repeats each real run N times (default 2), for the
//! spread of its latencies; bytes and counts are printed exactly for every run. Each run's
//! raw records (every request, QEMU's trace, its QMP conversation) are kept under
//! `target/qemu-predict/`. The summaries also give the error of the simulator's earlier
//! model of the job (one worker, smooth pacing, every preservation paced), in the same run.

use cowlab_qemu::config::QemuConfig;
use cowlab_qemu::{JobEnd, RealOutcome};
use cowlab_sim::workload::{Arrivals, Pattern, Sizes, Stop};
use cowlab_sim::{simulate, Metrics, Pacing, SimConfig};
use std::path::PathBuf;

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;

/// The measured configuration: 64 MiB, 300 writes of 4 to 128 KiB at 100 per second, the
/// job at 16 MiB/s in 1 MiB chunks.
fn config(preset: &str, cluster: u64, pattern: &Pattern, seed: u64) -> QemuConfig {
    let mut s = SimConfig::default()
        .preset(preset.parse().expect("a preset"))
        .with_volume(64 * MIB);
    s.cow_size = cluster;
    s.seed = seed;
    s.speed = Some(16 * MIB);
    let w = &mut s.workload;
    w.pattern = pattern.clone();
    w.sizes = Sizes(vec![
        (4 * KIB, 40),
        (16 * KIB, 30),
        (64 * KIB, 20),
        (128 * KIB, 10),
    ]);
    w.arrivals = Arrivals::Open { rate: 100.0 };
    w.stop = Stop::Writes(300);
    QemuConfig::new(s)
}

fn workloads() -> Vec<(&'static str, Pattern)> {
    vec![
        ("uniform", Pattern::Uniform),
        ("zipf", Pattern::Zipf { s: 1.0 }),
        (
            "hotspot",
            Pattern::Hotspot {
                fraction: 0.9,
                size: 4 * MIB,
            },
        ),
    ]
}

/// The simulator's model of the job before it had workers and slices: one worker whose
/// paced reads wait holding their claims, and every preservation counted against the speed.
fn earlier_model(s: &SimConfig) -> SimConfig {
    SimConfig {
        workers: 1,
        pacing: Pacing::Smooth,
        preserver_paced: true,
        ..s.clone()
    }
}

fn pct(measured: f64, predicted: f64) -> Option<f64> {
    (measured != 0.0).then(|| 100.0 * (predicted - measured) / measured)
}

/// The mean and the range of a set of errors, as two table cells.
fn summary(errors: &[f64]) -> String {
    if errors.is_empty() {
        return "- | -".into();
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    format!(
        "{} | {} to {}",
        show_pct(Some(mean)),
        show_pct(errors.iter().cloned().reduce(f64::min)),
        show_pct(errors.iter().cloned().reduce(f64::max))
    )
}

fn show_pct(e: Option<f64>) -> String {
    e.map_or("-".into(), |e| format!("{e:+.1} %"))
}

fn spread(v: &[f64], digits: usize) -> String {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    match v.len() {
        0 => "-".into(),
        _ if (hi - lo).abs() < 1e-9 => format!("{lo:.digits$}"),
        _ => format!("{lo:.digits$}–{hi:.digits$}"),
    }
}

fn main() {
    if cowlab_qemu::daemon::find().is_err() {
        eprintln!(
            "skipped: qemu-storage-daemon is not on the PATH (install the qemu-utils package)"
        );
        return;
    }
    let reps: usize = std::env::var("COWLAB_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let records = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-predict");
    let clusters = [64 * KIB, 128 * KIB, 256 * KIB, 512 * KIB, MIB];
    let version = cowlab_qemu::daemon::find()
        .map(|i| i.version.to_string())
        .unwrap_or_default();
    println!("QEMU {version}; QEMU's figures from {reps} run(s) of each configuration (bytes of each run; latencies min–max over the runs).\n");
    let mut failed: Vec<String> = Vec::new();
    for (preset, title) in [
        ("qemu-backup", "backup (out-of-turn)"),
        ("qemu-fleecing", "fleecing (snapshot-redirect)"),
    ] {
        let mut by_cluster: Vec<(u64, Vec<f64>, Vec<f64>)> = clusters
            .iter()
            .map(|c| (*c, Vec::new(), Vec::new()))
            .collect();
        println!("### {title}\n");
        println!("| cluster | workload | seed | copy-before-write bytes, QEMU | sim | error | job s, QEMU | sim | held writes, QEMU | sim | held p50 us, QEMU | sim | held p99 us, QEMU | sim |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (ci, &cluster) in clusters.iter().enumerate() {
            for (name, pattern) in workloads() {
                for seed in 1..=3u64 {
                    let mut cfg = config(preset, cluster, &pattern, seed);
                    let mut real: Vec<RealOutcome> = Vec::new();
                    for rep in 0..reps {
                        cfg.records = Some(
                            records
                                .join(format!("{preset}-{}k-{name}-{seed}-{rep}", cluster / KIB)),
                        );
                        eprintln!(
                            "{preset} cluster {} KiB {name} seed {seed} run {}",
                            cluster / KIB,
                            rep + 1
                        );
                        let o = match cowlab_qemu::run(&cfg, &mut |_| {}) {
                            Ok(o) => o,
                            Err(e) => {
                                // A finding about QEMU, not a reason to lose the other runs.
                                let what = format!(
                                    "{preset} cluster {} KiB {name} seed {seed} run {}: {e}",
                                    cluster / KIB,
                                    rep + 1
                                );
                                eprintln!("{what}");
                                failed.push(what);
                                continue;
                            }
                        };
                        assert!(o.verdict.holds(), "{:#?}", o.verdict);
                        assert_eq!(o.job, JobEnd::Succeeded);
                        assert_eq!(o.accounting, None);
                        real.push(o);
                    }
                    cfg.records = None;
                    let sim: Metrics = simulate(&cfg.sim, &mut |_| {})
                        .expect("a prediction")
                        .metrics;
                    let bytes: Vec<String> = real
                        .iter()
                        .map(|o| o.copies.cbw.bytes.to_string())
                        .collect();
                    let errors: Vec<f64> = real
                        .iter()
                        .filter_map(|o| pct(o.copies.cbw.bytes as f64, sim.preserved_bytes as f64))
                        .collect();
                    by_cluster[ci].1.extend(&errors);
                    let before = simulate(&earlier_model(&cfg.sim), &mut |_| {})
                        .expect("a prediction")
                        .metrics
                        .preserved_bytes;
                    by_cluster[ci].2.extend(
                        real.iter()
                            .filter_map(|o| pct(o.copies.cbw.bytes as f64, before as f64)),
                    );
                    let f = |g: &dyn Fn(&RealOutcome) -> f64, d| {
                        spread(&real.iter().map(g).collect::<Vec<_>>(), d)
                    };
                    println!(
                        "| {} KiB | {name} | {seed} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {:.0} | {} | {:.0} |",
                        cluster / KIB,
                        bytes.join(", "),
                        sim.preserved_bytes,
                        errors.iter().map(|e| show_pct(Some(*e))).collect::<Vec<_>>().join(", "),
                        f(&|o| o.job_seconds.unwrap_or(f64::NAN), 3),
                        sim.copy_seconds,
                        f(&|o| o.copied_writes as f64, 0),
                        sim.held_writes,
                        f(&|o| o.copied_write_latency.p50_us, 0),
                        sim.hold_p50_us,
                        f(&|o| o.copied_write_latency.p99_us, 0),
                        sim.hold_p99_us,
                    );
                }
            }
        }
        println!("\nThe simulator's copy-before-write bytes against QEMU's, per cluster (every workload, seed and run), and the earlier model's (one worker, smooth pacing, every preservation paced):\n");
        println!("| cluster | mean error | range | earlier model: mean error | range |");
        println!("|---|---|---|---|---|");
        for (cluster, errors, before) in &by_cluster {
            println!(
                "| {} KiB | {} | {} |",
                cluster / KIB,
                summary(errors),
                summary(before)
            );
        }
        println!();
    }
    println!("Runs that did not complete: {}", failed.len());
    for f in &failed {
        println!("- {f}");
    }
}
