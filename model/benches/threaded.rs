//! Benchmark of the threaded implementation:
//!
//! 1. copy throughput on real threads: a memory-backed volume (4096-byte blocks, every byte
//!    held and copied) copied while writers write, per policy, in MiB of volume per second
//!    of the copier's run (the writers have enough writes to outlast the copy);
//! 2. loom: executions explored and seconds per loom test configuration, and the smallest
//!    preemption bound at which each concurrency mutant is found;
//! 3. for comparison, how often the stress configuration on real threads catches each
//!    concurrency mutant, skip-overlay and the two driver flaws, on plain std threads and on
//!    shaken ones (`Shaky`), every run under the watchdog.
//!
//! Run: `cargo bench -p cowlab-model --bench threaded` (every part), or with `-- throughput`,
//! `-- loom` or `-- stress` for one. Prints markdown tables.

use cowlab_model::policy::{self, Policy};
use cowlab_model::threaded::check::{
    explore, image_read, is_concurrency, loom_spec, policy_for, stress, two_writers, LoomFailure,
};
use cowlab_model::threaded::watchdog::{run_watched, Reason};
use cowlab_model::threaded::{run_on, Bytes, Flaw, RealThreads, Shaky, Stamps, Std};
use cowlab_model::{CopyOrder, Geometry, Mutant, Request, Role, Spec, Workload, World};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;

const BLOCK_SIZE: u64 = 4096;
const BLOCKS: u64 = 16 * 1024; // 64 MiB
const SEGMENT_BLOCKS: u64 = 256; // 1 MiB segments
const COW_BLOCKS: u64 = 16; // 64 KiB chunks
const WRITERS: usize = 4;
const WRITES: usize = 2048;
const RUNS: usize = 5;

fn volume_spec(policy: Arc<dyn Policy>, writers: usize, seed: u64) -> Spec {
    let g = Geometry::new(BLOCKS, BLOCK_SIZE, SEGMENT_BLOCKS, COW_BLOCKS).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut workload = Workload::default();
    for _ in 0..writers {
        let writes = (0..WRITES)
            .map(|_| {
                // 4 KiB to 64 KiB, block aligned, anywhere in the volume.
                let len = 1 + rng.next_u64() % 16;
                let block = rng.next_u64() % (BLOCKS - len);
                Request::write(block * BLOCK_SIZE, len * BLOCK_SIZE)
            })
            .collect();
        workload = workload.client(Role::Writer, writes);
    }
    Spec::new(g, policy, CopyOrder::Sequential, None, workload).expect("valid requests")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn throughput() {
    let mib = (BLOCKS * BLOCK_SIZE) as f64 / (1024.0 * 1024.0);
    println!(
        "### Threaded copy throughput ({mib} MiB volume, {BLOCK_SIZE}-byte blocks, \
         {} KiB segments, {} KiB chunks, median of {RUNS} runs)\n",
        SEGMENT_BLOCKS * BLOCK_SIZE / 1024,
        COW_BLOCKS * BLOCK_SIZE / 1024
    );
    println!(
        "| policy | MiB/s, no writers | MiB/s, {WRITERS} writers x {WRITES} writes of 4-64 KiB | chunks preserved (median) | steps (median) | runs whose writers outlast the copy |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for policy in policy::builtins() {
        let mut rates = [Vec::new(), Vec::new()];
        let (mut steps, mut preserved, mut outlasted) = (Vec::new(), Vec::new(), 0);
        for run in 0..RUNS {
            for (i, writers) in [0, WRITERS].into_iter().enumerate() {
                let spec = volume_spec(policy.clone(), writers, run as u64);
                let out = run_on::<Std, Bytes>(&spec);
                assert_eq!(out.violation, None, "{}: invariant broken", policy.name());
                rates[i].push(mib / out.finished_at[0].as_secs_f64());
                if writers > 0 {
                    steps.push(out.steps as f64);
                    preserved.push(out.world.meta.ghost.preserved.count() as f64);
                    // The copy ran under load only if a writer was still writing when it ended.
                    let last_writer = out.finished_at[1..]
                        .iter()
                        .max()
                        .copied()
                        .unwrap_or_default();
                    outlasted += usize::from(last_writer > out.finished_at[0]);
                }
            }
        }
        let [idle, busy] = rates.map(median);
        println!(
            "| {} | {idle:.0} | {busy:.0} | {:.0} | {:.0} | {outlasted} of {RUNS} |",
            policy.name(),
            median(preserved),
            median(steps)
        );
    }
    println!();
}

fn loom_figures() {
    let bound = Some(3);
    let p = |name: &str| policy::by_name(name).expect("built in");
    println!("### loom explorations (preemption bound 3, 2 segments of 2 blocks)\n");
    println!("| loom test configuration | result | executions | seconds |");
    println!("|---|---|---:|---:|");
    let mut cases: Vec<(String, Spec)> = policy::names()
        .into_iter()
        .map(|name| {
            (
                format!("{name}, copier + 2 writers"),
                two_writers(p(name), None, 1),
            )
        })
        .collect();
    cases.push((
        "snapshot-overlay, copier + writer + image reader".into(),
        image_read(p("snapshot-overlay"), None),
    ));
    let mutants: Vec<Mutant> = Mutant::ALL
        .into_iter()
        .filter(|m| is_concurrency(*m))
        .collect();
    for &m in &mutants {
        cases.push((format!("{m} ({})", policy_for(m).name()), loom_spec(m)));
    }
    for (label, spec) in &cases {
        let e = explore(spec, bound);
        let result = match &e.failure {
            None => "pass".to_string(),
            Some(LoomFailure::Violation(v)) => format!("caught: {}", v.invariant),
            Some(LoomFailure::Panic(msg)) => format!("panic: {msg}"),
            Some(LoomFailure::Unbounded(msg)) => format!("unbounded: {msg}"),
        };
        println!(
            "| {label} | {result} | {} | {:.2} |",
            e.executions, e.seconds
        );
    }
    println!("\n### Smallest preemption bound that finds each concurrency mutant\n");
    println!("| mutant | bound 1 | bound 2 | bound 3 |");
    println!("|---|---|---|---|");
    for m in mutants {
        let cells: Vec<String> = [1, 2, 3]
            .into_iter()
            .map(|b| {
                let e = explore(&loom_spec(m), Some(b));
                match e.failure {
                    Some(_) => format!("found after {} executions", e.executions),
                    None => format!("missed ({} executions)", e.executions),
                }
            })
            .collect();
        println!("| {m} ({}) | {} |", policy_for(m).name(), cells.join(" | "));
    }
    println!();
}

/// What a watched stress run ended with: the broken invariant, or why it hung.
fn verdict<P: RealThreads>(
    policy: &str,
    mutant: Option<Mutant>,
    flaw: Option<Flaw>,
    seed: u64,
) -> Option<String> {
    let spec = stress(policy::by_name(policy).expect("built in"), mutant, seed);
    Shaky::seed(seed);
    match run_watched::<P, Stamps>(&spec, World::new(&spec), flaw, Duration::from_secs(60)) {
        Ok(out) => out.violation.map(|v| v.invariant.to_string()),
        Err(hang) => Some(match hang.reason {
            Reason::LostWakeup => "hang: lost wake-up".to_string(),
            Reason::Panicked => "hang: a thread panicked".to_string(),
            Reason::TimedOut(_) => "hang: time limit".to_string(),
        }),
    }
}

/// Seeds of the std stress configuration (out of `runs`) whose run catches the mistake on
/// platform `P`, and what they were caught by.
fn catch_rate<P: RealThreads>(
    policy: &str,
    mutant: Option<Mutant>,
    flaw: Option<Flaw>,
    runs: u64,
) -> (u64, String) {
    let mut by = std::collections::BTreeMap::<String, u64>::new();
    for seed in 0..runs {
        if let Some(what) = verdict::<P>(policy, mutant, flaw, seed) {
            *by.entry(what).or_default() += 1;
        }
    }
    let caught = by.values().sum();
    let by: Vec<String> = by
        .into_iter()
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    (caught, by.join(", "))
}

fn stress_catch_rates() {
    const RUNS: u64 = 50;
    println!("### Real threads: stress runs that catch each mistake (of {RUNS} seeds)\n");
    println!("| mistake (policy) | std | shaky | caught by (shaky) |");
    println!("|---|---:|---:|---|");
    let mutants = Mutant::ALL
        .into_iter()
        .filter(|m| is_concurrency(*m))
        .chain([Mutant::SkipOverlay])
        .map(|m| (m.to_string(), policy_for(m).name(), Some(m), None));
    let flaws = [Flaw::WriteAfterUnlock, Flaw::NoWakeup]
        .map(|f| (format!("Flaw::{f:?}"), "snapshot-overlay", None, Some(f)));
    for (label, policy, mutant, flaw) in mutants.chain(flaws) {
        let (std, _) = catch_rate::<Std>(policy, mutant, flaw, RUNS);
        let (shaky, by) = catch_rate::<Shaky>(policy, mutant, flaw, RUNS);
        println!("| {label} ({policy}) | {std} | {shaky} | {by} |");
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let picked = |what: &str| {
        let named: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
        named.is_empty() || named.iter().any(|a| *a == what)
    };
    if picked("throughput") {
        throughput();
    }
    if picked("loom") {
        // loom prints each failing execution's panic; the tables say what was found.
        std::panic::set_hook(Box::new(|_| {}));
        loom_figures();
        let _ = std::panic::take_hook();
    }
    if picked("stress") {
        stress_catch_rates();
    }
}
