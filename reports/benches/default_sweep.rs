//! The built-in sweep's wall time on 1 thread and on every core, in one run.
//!
//! Run: `cargo bench -p cowlab-reports --bench default_sweep` (prints a markdown table).

use cowlab_reports::run::{run, Options};
use cowlab_reports::Sweep;

fn main() {
    let sweep = Sweep::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| threads | jobs | wall | speed-up |");
    println!("|---:|---:|---:|---:|");
    let mut one = 0.0;
    for threads in [1, cores] {
        let options = Options {
            threads,
            ..Options::default()
        };
        let (results, timing) =
            run(&[&sweep], &options, &|_, _| {}).expect("the built-in sweep runs");
        let jobs: usize = results
            .iter()
            .map(|r| r.runs.len() + r.no_writes.len())
            .sum();
        assert_eq!(jobs, timing.jobs);
        if threads == 1 {
            one = timing.seconds;
        }
        println!(
            "| {threads} | {} | {:.1} s | {:.2}x |",
            timing.jobs,
            timing.seconds,
            one / timing.seconds
        );
    }
}
