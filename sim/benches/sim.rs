//! The timed simulator's speed: events and steps per second, the 1 GiB run the reports
//! sweep (with and without checking), and a 16 TiB run with its wall time and peak memory.
//!
//! Run: `cargo bench -p cowlab-sim --bench sim` (prints markdown tables; `-- --quick` skips
//! the 16 TiB run). The 16 TiB run happens in a child process, so that its peak memory is
//! its own. Wall times are the fastest of 11 runs (the least disturbed on a shared machine)
//! and their median.

use cowlab_sim::config::{CheckLevel, SimConfig};
use cowlab_sim::simulate;
use std::process::Command;
use std::time::Instant;

const GIB: u64 = 1 << 30;

/// The large run: 16 TiB of 4 KiB blocks, 1 MiB segments, 64 KiB chunks, 10 M
/// uniform 4 KiB writes at 20,000 per second, NVMe, no data kept.
fn huge() -> SimConfig {
    let mut c = SimConfig::default().with_volume(16 << 40);
    c.workload.stop = cowlab_sim::workload::Stop::Writes(10_000_000);
    c.check = Some(CheckLevel::Off);
    c
}

/// 1 GiB, 1 MiB segments, 64 KiB chunks, 100,000 uniform 4 KiB writes at 20,000 per
/// second, NVMe (the defaults).
fn one_gib(check: CheckLevel) -> SimConfig {
    SimConfig {
        check: Some(check),
        ..SimConfig::default()
    }
}

/// The same run with `n` copy workers.
fn workers(c: SimConfig, n: u32) -> SimConfig {
    SimConfig { workers: n, ..c }
}

fn timed(c: &SimConfig) -> (f64, cowlab_sim::SimOutcome) {
    let start = Instant::now();
    let o = simulate(c, &mut |_| {}).expect("a valid configuration");
    (start.elapsed().as_secs_f64(), o)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process, from /proc (kB), if the system tells.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child-huge") {
        let (secs, o) = timed(&huge());
        println!(
            "{secs:.2} {} {} {} {:.1}",
            peak_kib().unwrap_or(0),
            o.events,
            o.steps,
            o.metrics.copy_seconds
        );
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    println!("### Speed of the timed driver\n");
    println!(
        "| run | workers | check | wall: fastest of 11 | median | events | steps | events/s (fastest) | simulated copy |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut off = 0.0;
    for (name, c) in [
        ("1 GiB, 100,000 writes", one_gib(CheckLevel::Off)),
        ("1 GiB, 100,000 writes", one_gib(CheckLevel::End)),
        ("1 GiB, 100,000 writes", one_gib(CheckLevel::EveryStep)),
        (
            "64 GiB, 100,000 writes",
            one_gib(CheckLevel::Off).with_volume(64 * GIB),
        ),
        (
            "1 GiB, 100,000 writes",
            workers(one_gib(CheckLevel::Off), 64),
        ),
        (
            "1 GiB, 100,000 writes",
            workers(one_gib(CheckLevel::End), 64),
        ),
    ] {
        let runs: Vec<(f64, cowlab_sim::SimOutcome)> = (0..11).map(|_| timed(&c)).collect();
        let o = &runs[0].1;
        let walls: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let fastest = walls.iter().copied().fold(f64::INFINITY, f64::min);
        if off == 0.0 {
            off = fastest;
        }
        println!(
            "| {name} | {} | {} | {:.1} ms ({:.2}x off) | {:.1} ms | {} | {} | {:.2} M | {:.3} s |",
            c.workers,
            c.check_level(),
            fastest * 1e3,
            fastest / off,
            median(walls) * 1e3,
            o.events,
            o.steps,
            o.events as f64 / fastest / 1e6,
            o.metrics.copy_seconds
        );
    }
    if quick {
        return;
    }
    println!("\n### 16 TiB, 10,000,000 writes (no data kept), in a child process\n");
    let out = Command::new(&args[0])
        .arg("--child-huge")
        .output()
        .expect("the bench runs itself");
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 5 {
        println!(
            "the child failed: {line}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    println!("| wall | peak memory | events | steps | simulated copy time |");
    println!("|---:|---:|---:|---:|---:|");
    let peak: f64 = f[1].parse::<f64>().unwrap_or(0.0) / 1024.0;
    println!(
        "| {} s | {peak:.0} MiB | {} | {} | {} s |",
        f[0], f[2], f[3], f[4]
    );
}
