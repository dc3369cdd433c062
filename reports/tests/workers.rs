//! Copy workers as a sweep dimension: `reports/examples/workers.toml` run whole (its records
//! carry each worker count, the counts reach the simulator, the recommendation and the charts
//! name them), a sweep whose workers are one runs and writes as one without workers, and the
//! sweep file's refusals of bad counts.

mod common;

use cowlab_model::spec::MAX_WORKERS;
use cowlab_reports::report;
use cowlab_reports::results::Results;
use cowlab_reports::run::Options;
use cowlab_reports::sweep::{self, Sweep};
use cowlab_sim::device::DiskName;
use std::collections::BTreeSet;
use std::path::Path;

const EXAMPLE: &str = include_str!("../examples/workers.toml");

fn names() -> Vec<String> {
    cowlab_model::policy::names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

fn threads(n: usize) -> Options {
    Options {
        threads: n,
        ..Options::default()
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn the_workers_example_records_every_count_and_its_pick_names_one() {
    let s = sweep::parse(EXAMPLE, "workers.toml", &names()).unwrap();
    assert_eq!(s.workers, [1, 4, 16]);
    assert!(s.by_workers());
    // The file the sweep writes reads back as the same sweep, workers included.
    let written = s.to_toml();
    assert!(written.contains("\nworkers = [1, 4, 16]\n"), "{written}");
    assert_eq!(sweep::parse(&written, "back.toml", &names()).unwrap(), s);

    let dir = common::scratch("workers-example");
    let r = report(&[&s], &threads(2), &dir).unwrap();

    // Every configuration ran at every worker count, its seeds each (the example grows no
    // seeds).
    let configs = s.policies.len()
        * s.workloads.len()
        * s.disks.len()
        * s.granularity.points().len()
        * s.seeds as usize;
    for n in [1, 4, 16] {
        let runs = r.results.runs.iter().filter(|x| x.workers == n).count();
        assert_eq!(runs, configs, "runs with {n} workers");
    }
    assert_eq!(r.results.runs.len(), 3 * configs);

    // The JSON carries the count where it is not 1, and reads back to the same records.
    let json = read(&dir, "results.json");
    assert!(!json.contains("\"workers\":1,"));
    assert!(json.contains("\"workers\":16,"));
    let back: Results = serde_json::from_str(&json).unwrap();
    assert_eq!(back.runs, r.results.runs);
    assert_eq!(back.sweep, s);
    // The CSV has a workers column after the chunk, with every count.
    let csv = read(&dir, "results.csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "workers")
        .expect("a workers column");
    assert_eq!(header[at - 1], "cow_size_bytes");
    let counts: BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(at).unwrap())
        .collect();
    assert_eq!(counts, BTreeSet::from(["1", "4", "16"]));

    // The counts reach the simulator: with no writes, several workers keep the NVMe disk's
    // reads and writes in flight together and copy sooner than one.
    for seg in &s.granularity.segment_sizes {
        let copy = |n| {
            r.results
                .no_write_copy(DiskName::Nvme, None, *seg, n)
                .unwrap()
        };
        assert!(
            copy(4) < copy(1),
            "segment {seg}: {} vs {}",
            copy(4),
            copy(1)
        );
    }

    // The recommendation is of a configuration with a worker count, and its words name it.
    let rec = &r.recommendations[0];
    let best = &rec.best.as_ref().expect("a pick").config;
    assert!(s.workers.contains(&best.workers));
    let named = match best.workers {
        1 => ", 1 worker".to_string(),
        n => format!(", {n} workers"),
    };
    let summary = read(&dir, "summary.md");
    let why = summary
        .lines()
        .find(|l| l.starts_with(&format!("- **{}**: {}", rec.title(), best.policy)))
        .expect("the pick's why");
    assert!(why.contains(&named), "{why}");
    assert!(summary.contains("| policy | segment | chunk | workers | hold p99 |"));
    let row = summary
        .lines()
        .find(|l| l.starts_with(&format!("| {} | {} | **", rec.workload, rec.disk)))
        .expect("the pick's row");
    assert!(
        row.contains(&format!("** | **{}** | ", best.workers)),
        "{row}"
    );
    // QEMU's block-copy is told the count.
    if ["out-of-turn", "snapshot-redirect"].contains(&best.policy.as_str()) {
        let knob = format!("x-perf.max-workers={} ", best.workers);
        assert!(summary.contains(&knob), "{knob}");
    }

    // The charts against workers: drawn, listed, and the pick ringed at its count.
    for m in ["hold_p99_us", "copy_seconds"] {
        let png = format!("charts/{m}_by_workers.png");
        assert!(dir.join(&png).exists(), "{png}");
        assert!(summary.contains(&format!("]({png})")), "{png} not listed");
        let svg = read(&dir, &format!("charts/{m}_by_workers.svg"));
        for n in [1, 4, 16] {
            assert!(svg.contains(&format!("data-workers=\"{n}\"")), "{m}: {n}");
        }
        let pick = svg
            .lines()
            .find(|l| l.contains("class=\"marker pick\""))
            .expect("the pick ringed");
        assert!(
            pick.contains(&format!("data-workers=\"{}\"", best.workers)),
            "{pick}"
        );
        assert!(
            pick.contains(&format!("data-segment=\"{}\"", best.segment)),
            "{pick}"
        );
    }
    assert!(read(&dir, "report.html").contains("hold p99 us by workers"));
}

/// One workload, one disk, two policies, two pairs, two seeds over a 16 MiB volume.
fn small() -> Sweep {
    let q = common::quick();
    Sweep {
        workloads: vec![q.workloads[0]],
        disks: vec![DiskName::Nvme],
        policies: q.policies[1..].to_vec(),
        ..q
    }
}

#[test]
fn one_worker_runs_and_writes_as_a_sweep_without_workers() {
    // Neither the built-in sweep's file nor its JSON name workers.
    assert_eq!(Sweep::default().workers, [1]);
    assert!(!Sweep::default().to_toml().contains("workers ="));
    assert!(!serde_json::to_string(&Sweep::default())
        .unwrap()
        .contains("\"workers\""));
    let plain = small();
    let listed = sweep::parse(
        &format!("workers = [1]\n{}", plain.to_toml()),
        "one.toml",
        &names(),
    )
    .unwrap();
    assert_eq!(listed, plain);

    let (a, b) = (
        common::scratch("workers-one"),
        common::scratch("workers-1-4"),
    );
    let before = report(&[&plain], &threads(2), &a).unwrap();
    assert!(!read(&a, "results.json").contains("\"workers\""));
    assert!(!read(&a, "results.csv")
        .lines()
        .next()
        .unwrap()
        .contains("workers"));
    let summary = read(&a, "summary.md");
    assert!(!summary.contains("| workers |") && !summary.contains("**Workers**"));
    assert!(!summary.contains("_by_workers"));
    assert!(!a.join("charts/hold_p99_us_by_workers.png").exists());

    // The runs of one worker in a sweep of 1 and 4 have the very figures of the sweep
    // without workers; those of 4 have others.
    let both = Sweep {
        workers: vec![1, 4],
        ..plain.clone()
    };
    let after = report(&[&both], &threads(2), &b).unwrap();
    let of = |n: u32| -> Vec<cowlab_sim::metrics::Metrics> {
        after
            .results
            .runs
            .iter()
            .filter(|r| r.workers == n)
            .map(|r| r.metrics.clone())
            .collect()
    };
    let plain_metrics: Vec<_> = before
        .results
        .runs
        .iter()
        .map(|r| r.metrics.clone())
        .collect();
    assert_eq!(of(1), plain_metrics);
    assert_ne!(of(4), plain_metrics);
}

#[test]
fn a_sweep_file_refuses_bad_worker_counts_naming_the_line_key_and_value() {
    let cases = [
        (
            "workers = [1, 0]\n".to_string(),
            format!("w.toml line 1: key workers = 0: must be from 1 to {MAX_WORKERS}"),
        ),
        (
            format!("seeds = 1\nworkers = [4, {}]\n", MAX_WORKERS + 1),
            format!(
                "w.toml line 2: key workers = {}: must be from 1 to {MAX_WORKERS}",
                MAX_WORKERS + 1
            ),
        ),
        (
            "workers = [-4]\n".to_string(),
            "w.toml line 1: key workers = -4: must be from 1".to_string(),
        ),
        (
            "workers = []\n".to_string(),
            "w.toml line 1: key workers = []: must list at least one count".to_string(),
        ),
        (
            "workers = [4, 16, 4]\n".to_string(),
            "w.toml line 1: key workers = 4: listed twice".to_string(),
        ),
        (
            "workers = [1, 4]\n\n[faults]\ncrash_at = [100]\n".to_string(),
            "w.toml line 1: key workers = 4: 4 workers with a copier crash".to_string(),
        ),
    ];
    for (text, expected) in cases {
        let e = sweep::parse(&text, "w.toml", &names())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&expected),
            "{text:?}\n got: {e}\nwant: {expected}"
        );
    }
    // The largest count is accepted, and the counts run in ascending order.
    let s = sweep::parse(
        &format!("workers = [16, 1, {MAX_WORKERS}]\n"),
        "w.toml",
        &names(),
    )
    .unwrap();
    assert_eq!(s.workers, [1, 16, MAX_WORKERS]);
}
