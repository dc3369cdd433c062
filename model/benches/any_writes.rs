//! The `--any-writes` ladder: unique states, seconds and states per second when every
//! request chooses its range on arrival, 1 and 2 threads, with and without symmetry; and
//! the largest configuration that finishes within ten minutes. The target (2 writers x 2
//! writes with a volume reader and an image reader) does not: `docs/exhaustive.md` gives the
//! time-limited `cowlab check` runs that show how far it gets.
//!
//! Run: `cargo bench -p cowlab-model --bench any_writes` (prints a markdown table; about ten
//! minutes). `-- --quick` stops after the first rungs.

use cowlab_model::exhaustive::check::{self, Options};
use cowlab_model::exhaustive::{Config, CowModel};

fn row(name: &str, c: &Config, threads: usize, symmetry: bool) {
    let model = CowModel::new(c.spec().expect("valid"), symmetry);
    let options = Options {
        threads,
        ..Options::default()
    };
    let o = check::run(&model, &options, &mut |_| {});
    assert!(o.counterexample.is_none(), "{c}: {}", o.summary());
    let p = o.progress;
    let verdict = match (o.complete, o.timed_out) {
        (true, _) => "complete",
        (false, true) => "stopped at the limit",
        (false, false) => "cut",
    };
    println!(
        "| {name} | {threads} | {} | {} | {} | {:.1} s | {:.2} M/s | {verdict} |",
        if symmetry { "yes" } else { "no" },
        p.unique,
        p.states,
        p.seconds,
        p.rate() / 1e6
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let any = |writers, writes, readers| Config {
        writers,
        writes,
        readers,
        image_readers: readers,
        any_writes: true,
        ..Config::default()
    };
    println!("3 segments of 2 blocks, chunks of 1 block, snapshot-overlay; writes choose any range, reads any block\n");
    println!("| configuration | threads | symmetry | unique states | total states | seconds | states/s | |");
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    row(
        "1 writer x 1 write, 1 reader, 1 image reader",
        &any(1, 1, 1),
        1,
        false,
    );
    row(
        "1 writer x 2 writes, 1 reader, 1 image reader",
        &any(1, 2, 1),
        1,
        false,
    );
    if quick {
        return;
    }
    let two = any(2, 1, 1);
    for (threads, symmetry) in [(1, false), (2, false), (1, true), (2, true)] {
        row(
            "2 writers x 1 write, 1 reader, 1 image reader",
            &two,
            threads,
            symmetry,
        );
    }
    let writes_only = any(2, 2, 0);
    for threads in [1, 2] {
        row(
            "2 writers x 2 writes, no readers",
            &writes_only,
            threads,
            true,
        );
    }
}
