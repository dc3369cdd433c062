//! A sweep with volatile caches: every run commits by its policy's protocol, is run again
//! without the caches, and the report states the durability price per policy and
//! granularity; a sweep without the key reads, runs and writes as before.

use cowlab_reports::run::Options;
use cowlab_reports::sweep::parse;
use cowlab_reports::{report, Sweep};

mod common;
use common::{quick, scratch};

fn small() -> Sweep {
    let mut s = quick();
    s.policies.truncate(2);
    s.workloads.truncate(1);
    s.disks.truncate(1);
    s.seeds = 1;
    s.max_seeds = 1;
    s.volatile_caches = true;
    s
}

#[test]
fn the_report_states_the_durability_price_of_each_policy_and_granularity() {
    let s = small();
    let dir = scratch("cowlab-durability-report");
    let r = report(
        &[&s],
        &Options {
            threads: 2,
            ..Options::default()
        },
        &dir,
    )
    .unwrap();
    for run in &r.results.runs {
        let d = run.metrics.durability.as_ref().expect("durability figures");
        assert!(d.flushes > 0 && d.records > 0, "{run:?}");
        assert!(run.hold_p99_without_caches_us.is_some(), "{run:?}");
    }
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            ",invariants,flushes,flushes_per_second,metadata_records,hold_p99_without_caches_us,hold_p99_without_loss_us"
        ),
        "{header}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let section = summary
        .split("## Durability price\n")
        .nth(1)
        .expect("a durability section");
    // One row per policy and granularity swept (segments and chunks on their two lines).
    let rows = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| uniform |"))
        .count();
    let points = s.jobs().len();
    let granularities = {
        let g = &s.granularity;
        let mut pairs: Vec<(u64, u64)> = g
            .chunk_sizes
            .iter()
            .map(|c| (g.segment_for_chunks.max(*c), *c))
            .chain(
                g.segment_sizes
                    .iter()
                    .map(|sg| (*sg, g.chunk_for_segments.min(*sg))),
            )
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs.len()
    };
    assert_eq!(rows, s.policies.len() * granularities, "{section}");
    assert!(points >= rows);
    // The commits add hold latency to snapshot-overlay's smallest chunk.
    let first = section
        .lines()
        .find(|l| l.starts_with("| uniform | nvme | snapshot-overlay |"))
        .expect("a snapshot-overlay row");
    let added: f64 = first
        .trim_end_matches(" |")
        .rsplit("| ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(added > 0.0, "{first}");
}

#[test]
fn the_key_reads_and_writes_back_and_is_absent_by_default() {
    let names: Vec<String> = cowlab_model::policy::names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let s = small();
    let text = s.to_toml();
    assert!(text.contains("volatile_caches = true"), "{text}");
    let back = parse(&text, "durability.toml", &names).unwrap();
    assert_eq!(back, s);
    let plain = quick();
    assert!(!plain.to_toml().contains("volatile_caches"));
    assert!(
        !parse(&plain.to_toml(), "plain.toml", &names)
            .unwrap()
            .volatile_caches
    );
}

/// With `power_loss_at`, every run loses power once and recovers; the price adds what
/// recovery cost. The key needs volatile caches, and reads back as written.
#[test]
fn a_power_loss_in_every_run_adds_what_recovery_cost() {
    let mut s = small();
    s.policies.truncate(1);
    s.power_loss_at = Some(2_000_000);
    let dir = scratch("cowlab-durability-power");
    let r = report(&[&s], &Options::default(), &dir).unwrap();
    for run in &r.results.runs {
        let d = run.metrics.durability.as_ref().unwrap();
        assert_eq!(d.power_losses, 1, "{run:?}");
        assert!(run.hold_p99_without_loss_us.is_some(), "{run:?}");
        assert!(d.recovery_seconds > 0.0);
        assert_eq!(run.metrics.invariants, "checked");
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("The power failed at 2 ms in every run"),
        "{summary}"
    );
    assert!(
        summary.contains("| recovery (s) | recopied | dropped |"),
        "{summary}"
    );
    let names: Vec<String> = cowlab_model::policy::names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(parse(&s.to_toml(), "p.toml", &names).unwrap(), s);
    let refused = parse("power_loss_at = \"2ms\"\n", "p.toml", &names).unwrap_err();
    assert!(
        refused.to_string().contains("volatile_caches = true"),
        "{refused}"
    );
}
