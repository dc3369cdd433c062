//! `summary.md`: what was swept, the recommendations, the charts, a table per workload,
//! the faults and every run's invariant status.

use super::figures::{latency, mib, num, size, sizes};
use super::{picks, PANEL_DIR};
use crate::recommend::{Decided, Recommendation};
use crate::results::Results;
use crate::sweep::{Mode, Sweep};
use cowlab_model::names::joined;
use cowlab_sim::topology::TopologyPreset;
use cowlab_sim::workload::PatternName;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What each preset of the panel is (`sim/src/topology/mod.rs`), or the file it names.
fn topology_words(name: &str) -> String {
    let san = cowlab_sim::topology::SAN_LINK;
    let behind_a_switch = |raid: &str| {
        format!(
            "{raid}the source and destination behind a switch, links of {} µs and {} MB/s",
            san.latency_ns as f64 / 1000.0,
            san.bandwidth / 1_000_000
        )
    };
    match TopologyPreset::parse(name) {
        Ok(TopologyPreset::Separate) => "a plain disk per role".into(),
        Ok(TopologyPreset::Shared) => "one disk for every role".into(),
        Ok(TopologyPreset::Raid5Source) => {
            "the source a RAID-5 of four such disks, 64 KiB units".into()
        }
        Ok(TopologyPreset::San) => behind_a_switch(""),
        Ok(TopologyPreset::Raid5San) => behind_a_switch("a RAID-5 source, "),
        Err(_) => format!("the topology file {name}"),
    }
}

/// The summary with the "Granularity by topology" section inserted before "## Charts".
pub(super) fn with_panel(text: String, panel: &Decided, chart: &Path, out: &Path) -> String {
    let mut md = String::new();
    granularity_by_topology(panel, chart, out, &mut md);
    match text.find("## Charts\n") {
        Some(i) => format!("{}{md}{}", &text[..i], &text[i..]),
        None => text + &md,
    }
}

/// The topology panel: per topology, the recommendation and the runner-up.
fn granularity_by_topology(decided: &Decided, chart: &Path, out: &Path, md: &mut String) {
    let (panel, recs) = (decided.results, &decided.recs);
    let s = &panel.sweep;
    md.push_str("## Granularity by topology\n\n");
    let described: Vec<String> = s
        .topologies
        .iter()
        .map(|t| format!("**{t}** ({})", topology_words(t)))
        .collect();
    let _ = writeln!(
        md,
        "A small sweep of its own: the {} workload on the {} ({} writes at {}/s), chunk sizes {} \
         with the segment at max(chunk, {}), every policy, {}, on {}. The same cost \
         decides, with each topology's own fastest copy with no writes as the copy-time \
         reference. Its runs are in `{PANEL_DIR}/results.csv` and `{PANEL_DIR}/results.json`, \
         and its sweep as a file in `{PANEL_DIR}/sweep.toml` (`cowlab report --config` \
         reruns it). Computed in sharded runs too: each shard runs its slice of it, and \
         `cowlab merge` joins them.\n",
        joined(&s.workloads),
        joined(&s.disks),
        s.writes,
        s.disks
            .iter()
            .map(|d| s.rates.get(d).copied().unwrap_or(0.0).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        sizes(&s.granularity.chunk_sizes),
        size(s.granularity.segment_for_chunks),
        seed_words(panel),
        described.join(", ")
    );
    let (head, rule) = picks::head_and_rule(s);
    let _ = writeln!(md, "| topology {head}\n|---{rule}");
    for r in recs {
        let topology = r
            .topology
            .as_deref()
            .unwrap_or(TopologyPreset::Separate.name());
        let _ = writeln!(md, "| {topology} | {} |", picks::cells(panel, r));
    }
    md.push('\n');
    picks::faster_than_alone(panel, recs, md);
    picks::why(panel, recs, md);
    let rel = chart
        .strip_prefix(out)
        .unwrap_or(chart)
        .to_string_lossy()
        .replace('\\', "/");
    let _ = writeln!(
        md,
        "\nEach topology's recommended policy along the whole chunk sweep (an SVG beside the \
         PNG). The cost's limits rule some chunk sizes out (smaller chunks slow the copy), so \
         the recommendation need not be a line's lowest point.\n\n![granularity by topology]({rel})\n"
    );
}

/// The summary: violations first, what was swept, the recommendations, the charts, a
/// table per workload, and every run's invariant status.
pub fn summary(decided: &Decided, charts: &[PathBuf], out: &Path) -> String {
    let results = decided.results;
    let s = &results.sweep;
    let mut md = String::from("# Granularity report\n\n");
    violations(results, &mut md);
    swept(s, results, &mut md);
    recommendations(results, &decided.recs, &mut md);
    md.push_str("## Charts\n\n");
    let _ =
        writeln!(
        md,
        "Each chart has a panel per workload and disk{} and a line per policy: the line is the \
         mean over the seeds, the band their minimum to maximum. The x axis is the chunk size \
         (with the segment at its sweep's rule) or the segment size, doubling at each step. The \
         configuration the table recommends is **ringed in black**; a panel whose pick lies on \
         the other chart's axis says \"pick not on this axis\". Configurations the cost's limits \
         rule out have **hollow markers**, and the stretches of line touching them are faded. \
         Where a line has the same values as one drawn before it, it is dashed and its markers \
         are smaller, so the line beneath shows. Each panel has its own y range; the axis label \
         gives the unit (µs, ms or s for hold latency, chosen per chart; s for copy time; B to \
         GiB for bytes) and the scale: log for hold latency, copy time, preserved bytes and \
         snapshot peak, linear for the two amplifications. On a log axis a 0 (offline preserves \
         nothing) is drawn at a floor the panel title names. *Write amplification* counts every \
         device byte written, the copy's included, per application byte; *copy-on-write \
         amplification* only the extra bytes copy-on-write wrote (0 for offline, and for copies \
         out of turn, which only move the copier's work earlier). Every chart is also an SVG \
         beside its PNG, whose markers carry `data-` attributes (panel, policy, segment, chunk, \
         mean, unit) for tools.\n",
        if s.by_topology() { " (and topology)" } else { "" }
    );
    if s.by_workers() {
        let _ = writeln!(
            md,
            "The charts *by workers* put the worker count on the x axis (doubling steps, log \
             scale): a panel per workload and disk{}, a line per policy, every line at the \
             segment and chunk of that panel's pick (without a pick, the first pair on both \
             the chunk and the segment sweep, else the sweep's first pair; the panel's title \
             names them), so that only the workers vary. Markers as above; their SVG `data-` \
             attributes are panel, policy, workers, segment, mean and unit.\n",
            if s.by_topology() {
                " (and topology)"
            } else {
                ""
            },
        );
    }
    for c in charts {
        let rel = c
            .strip_prefix(out)
            .unwrap_or(c)
            .to_string_lossy()
            .replace('\\', "/");
        let name = c
            .file_stem()
            .map_or(String::new(), |n| n.to_string_lossy().replace('_', " "));
        let _ = writeln!(md, "![{name}]({rel})\n");
    }
    for w in &s.workloads {
        workload_table(decided, *w, &mut md);
    }
    faults(results, &mut md);
    durability(results, &mut md);
    invariants(results, &mut md);
    md
}

/// The durability price, in a sweep with volatile caches: per workload, disk, policy and
/// granularity (means over the seeds and the other swept values), the FLUSHes per second
/// and records the commits cost, and the hold latency's p99 with and without the caches.
fn durability(results: &Results, md: &mut String) {
    use cowlab_model::names::Named;
    if !results.sweep.volatile_caches {
        return;
    }
    md.push_str("## Durability price\n\n");
    md.push_str(
        "Every run's devices had volatile write caches, so each policy committed its metadata \
         by its protocol (flush the data, write the record, flush the metadata, before a held \
         write is applied or the cursor moves; see docs/durability.md). Each run was also made \
         without the caches: *added* is what the commits add to the hold latency's p99. Means \
         over the seeds.\n\n",
    );
    let power = results.sweep.power_loss_at;
    if let Some(at) = power {
        let _ = writeln!(
            md,
            "The power failed at {} in every run: the copy recovered from its durable records \
             (*recovery*: the time it was down; *recopied*: the segments being copied, whose \
             commit was not durable; *dropped*: requests in progress, never acknowledged). The \
             hold latencies are those of each run with the caches and no power loss (a loss \
             drops the writes in progress, and their latencies with them).\n",
            cowlab_sim::size::format_duration(at)
        );
    }
    md.push_str("| workload | disk | policy | segment | chunk | flushes/s | records per run | hold p99 (µs) | without caches (µs) | added (µs) |");
    md.push_str(match power {
        Some(_) => " recovery (s) | recopied | dropped |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        None => "\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    });
    let mut groups: std::collections::BTreeMap<_, Vec<&crate::results::Record>> =
        std::collections::BTreeMap::new();
    for r in &results.runs {
        let key = (
            r.workload.name(),
            r.disk.name(),
            r.policy.as_str().to_string(),
            r.segment_size_bytes,
            r.cow_size_bytes,
        );
        groups.entry(key).or_default().push(r);
    }
    for ((workload, disk, policy, segment, chunk), runs) in groups {
        let mean = |f: &dyn Fn(&crate::results::Record) -> f64| {
            runs.iter().map(|r| f(r)).sum::<f64>() / runs.len() as f64
        };
        let d = |r: &crate::results::Record| r.metrics.durability.clone().unwrap_or_default();
        let flushes = mean(&|r| d(r).flushes_per_second);
        let records = mean(&|r| d(r).records as f64);
        let with = mean(&|r| r.hold_p99_without_loss_us.unwrap_or(r.metrics.hold_p99_us));
        let without = mean(&|r| r.hold_p99_without_caches_us.unwrap_or(f64::NAN));
        let _ = write!(
            md,
            "| {workload} | {disk} | {policy} | {} | {} | {flushes:.1} | {records:.0} | {with:.1} | {without:.1} | {:+.1} |",
            cowlab_sim::size::format_size(segment),
            cowlab_sim::size::format_size(chunk),
            with - without
        );
        if power.is_some() {
            let recovery = mean(&|r| d(r).recovery_seconds);
            let recopied = mean(&|r| d(r).recopied_bytes as f64);
            let dropped = mean(&|r| d(r).dropped_requests as f64);
            let _ = write!(
                md,
                " {recovery:.3} | {} | {dropped:.1} |",
                cowlab_sim::size::format_size(recopied.round() as u64)
            );
        }
        md.push('\n');
    }
    md.push('\n');
}

fn violations(results: &Results, md: &mut String) {
    let bad: Vec<_> = results.runs.iter().filter(|r| !r.sound()).collect();
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "> **Invariant violated in {} of {} runs.** These runs are left out of the \
         recommendations; the first {}:\n>",
        bad.len(),
        results.runs.len(),
        bad.len().min(20)
    );
    for r in bad.iter().take(20) {
        let _ = writeln!(
            md,
            "> - {}, {}, {}{}, segment {}, chunk {}{}, seed {}: {}",
            r.policy,
            r.workload,
            r.disk,
            r.topology
                .as_ref()
                .map_or(String::new(), |t| format!(", {t}")),
            size(r.segment_size_bytes),
            size(r.cow_size_bytes),
            match results.sweep.has_workers() {
                true => format!(", {} workers", r.workers),
                false => String::new(),
            },
            r.seed,
            r.metrics.invariants
        );
    }
    md.push('\n');
}

fn swept(s: &Sweep, results: &Results, md: &mut String) {
    let g = &s.granularity;
    md.push_str("## What was swept\n\n");
    let _ = writeln!(
        md,
        "- **Policies**: {} (offline is the baseline: every write waits for the whole copy).",
        joined(&s.policies)
    );
    let _ = writeln!(
        md,
        "- **Granularity** ({} pairs): chunk sizes {} with the segment at max(chunk, {}); segment sizes {} with the chunk at min(segment, {}){}.",
        g.points().len(),
        sizes(&g.chunk_sizes),
        size(g.segment_for_chunks),
        sizes(&g.segment_sizes),
        size(g.chunk_for_segments),
        if g.mode == Mode::Grid { "; and every pair of them (grid)" } else { "" }
    );
    if s.has_workers() {
        let counts: Vec<String> = s.workers.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            md,
            "- **Workers**: {} (copy tasks taking segments from one claim structure, QEMU's \
             x-perf.max-workers){}.",
            counts.join(", "),
            match s.by_workers() {
                true => "; a configuration is a policy, a segment, a chunk and a worker count",
                false => "",
            }
        );
    }
    let workloads: Vec<String> = s
        .workloads
        .iter()
        .map(|w| match w {
            PatternName::Zipf => format!("{w} (s = {})", s.zipf_s),
            PatternName::Hotspot => format!(
                "{w} ({}% of requests to {})",
                s.hot_fraction * 100.0,
                size(s.hot_size)
            ),
            PatternName::Uniform | PatternName::Sequential => w.to_string(),
        })
        .collect();
    let rates: Vec<String> = s
        .disks
        .iter()
        .map(|d| format!("{d} {}/s", s.rates[d]))
        .collect();
    let _ = writeln!(
        md,
        "- **Workloads**: {}; {} writes of {} per run, open loop at {}{}.",
        workloads.join(", "),
        s.writes,
        s.write_size,
        rates.join(", "),
        if s.read_fraction > 0.0 {
            format!(
                ", {}% of requests reads ({}% of them of the point-in-time image)",
                s.read_fraction * 100.0,
                s.image_fraction * 100.0
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        md,
        "- **Disks**: {} (queue depth {}; {}){}.",
        joined(&s.disks),
        s.queue_depth,
        match s.by_topology() {
            true => "devices and links as each topology places them",
            false => "source, destination and snapshot on separate devices",
        },
        s.speed.map_or(String::new(), |b| format!(
            "; copier speed limit {}/s",
            size(b)
        ))
    );
    if s.by_topology() {
        let described: Vec<String> = s
            .topologies
            .iter()
            .map(|t| format!("{t} ({})", topology_words(t)))
            .collect();
        let _ = writeln!(
            md,
            "- **Topologies**: {}; each disk model in each (recommendations per workload, disk and topology).",
            described.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "- **Volume** {} of {} blocks, {} copy order, {}, invariants checked: {}{}.",
        size(s.volume),
        size(s.block_size),
        s.order,
        seed_words(results),
        s.check,
        s.mutant
            .as_ref()
            .map_or(String::new(), |m| format!(", mutant **{m}** switched on"))
    );
    let _ = writeln!(
        md,
        "- **Runs**: {}, and {} copies with no writes (the reference of the copy-time limit).",
        results.runs.len(),
        results.no_writes.len()
    );
    let _ = writeln!(md, "- **Cost**: {}.\n", cost_words(s));
}

/// The seeds run: the first ones for every configuration, and how many more the unstable
/// picks' contenders ran.
fn seed_words(results: &Results) -> String {
    let s = &results.sweep;
    let first: Vec<String> = (0..u64::from(s.seeds))
        .map(|k| s.nth_seed(k).to_string())
        .collect();
    let most = results.runs.iter().map(|r| r.seed).max();
    let grown = results
        .runs
        .iter()
        .filter(|r| r.seed.wrapping_sub(s.seed) >= u64::from(s.seeds))
        .count();
    let mut words = format!("seeds {} for every configuration", first.join(", "));
    match (grown, most) {
        (0, _) | (_, None) => {}
        (n, Some(m)) => {
            let _ = write!(
                words,
                ", and up to seed {m} for the contenders of unstable picks ({n} runs more)"
            );
        }
    }
    words
}

fn cost_words(s: &Sweep) -> String {
    let c = &s.cost;
    let what = match c.weights.is_empty() {
        true => format!("the lowest mean {}", c.minimize),
        false => {
            let terms: Vec<String> = c
                .weights
                .iter()
                .map(|(m, w)| format!("{w} × {m}"))
                .collect();
            format!(
                "the lowest weighted sum {} (each metric over its median among the candidates)",
                terms.join(" + ")
            )
        }
    };
    let mut limits = vec!["every invariant held".to_string()];
    if let Some(f) = c.copy_within {
        let over = match s.has_workers() {
            true => "the swept segment sizes and worker counts",
            false => "the swept segment sizes",
        };
        limits.push(format!(
            "the mean copy time is within {f}× the fastest copy with no writes on that disk (over {over})"
        ));
    }
    if let Some(b) = c.max_preserved_bytes {
        limits.push(format!("at most {} preserved", size(b)));
    }
    if let Some(b) = c.max_snapshot_bytes {
        limits.push(format!("a snapshot peak of at most {}", size(b)));
    }
    format!("{what}, among configurations where {}", limits.join(", "))
}

fn recommendations(results: &Results, recs: &[Recommendation], md: &mut String) {
    md.push_str("## Recommendations\n\n");
    picks::limits_missed(results, recs, md);
    picks::table(results, recs, md);
    picks::legend(results, md);
    picks::why(results, recs, md);
}

/// Per disk and policy of a workload: that policy's best configuration under the cost.
fn workload_table(decided: &Decided, workload: PatternName, md: &mut String) {
    let s = &decided.results.sweep;
    let _ = writeln!(md, "## Workload: {workload}\n");
    md.push_str(match s.by_workers() {
        true => {
            "Each policy's best segment, chunk and worker count under the cost (means \
                 over the seeds). "
        }
        false => "Each policy's best segment and chunk under the cost (means over the seeds). ",
    });
    md.push_str(
        "*Extra \
         bytes per byte written* is what copy-on-write added: device bytes written beyond the \
         copy's own and the application's, per application byte (0 when copies out of turn only \
         moved the copier's work earlier). *Write amp.* counts every device byte, the copy's \
         included, so it is about the same for every policy.\n\n",
    );
    let (workers_head, workers_rule) = match s.by_workers() {
        true => (" workers |", "---:|"),
        false => ("", ""),
    };
    let (topology_head, topology_rule) = match s.by_topology() {
        true => (" topology |", "---|"),
        false => ("", ""),
    };
    let _ = writeln!(
        md,
        "| disk |{topology_head} policy | segment | chunk |{workers_head} hold p99 | copy (s) | preserved (MiB) | extra bytes per byte written | write amp. | snapshot peak (MiB) | throughput ratio |\n|---|{topology_rule}---|---|---|{workers_rule}---:|---:|---:|---:|---:|---:|---:|"
    );
    for (g, rec) in decided.cells().filter(|(g, _)| g.workload == workload) {
        let picks = &rec.ranked;
        let disk = match &g.topology {
            Some(t) => format!("{} | {t}", g.disk),
            None => g.disk.to_string(),
        };
        for p in &s.variants() {
            let Some(pick) = picks.iter().find(|k| &k.config.policy == p) else {
                let _ = writeln!(
                    md,
                    "| {disk} | {p} | none meets the limits | | | | | | | | |{}",
                    if s.by_workers() { " |" } else { "" }
                );
                continue;
            };
            let c = &pick.config;
            let workers = match s.by_workers() {
                true => format!(" {} |", c.workers),
                false => String::new(),
            };
            let _ = writeln!(
                md,
                "| {disk} | {p} | {} | {} |{workers} {} | {} | {} | {} | {} | {} | {} |",
                size(c.segment),
                size(c.chunk),
                latency(c.mean("hold_p99_us")),
                num(c.mean("copy_seconds")),
                mib(c.mean("preserved_bytes")),
                num(c.mean("cow_amplification")),
                num(c.mean("write_amplification")),
                mib(c.mean("snapshot_peak_bytes")),
                num(c.mean("throughput_ratio"))
            );
        }
    }
    md.push('\n');
}

/// What the faults did, per policy and error policy (only in a sweep with faults): sums
/// over every run of that pair.
fn faults(results: &Results, md: &mut String) {
    let s = &results.sweep;
    let Some(plan) = &s.faults else { return };
    md.push_str("## Faults\n\n");
    let _ = writeln!(
        md,
        "Every run followed the plan `{plan}`. Sums over the runs of each policy and error \
         policy (a copy fails at most once per run).\n"
    );
    md.push_str("| policy | on error | runs | failed copies | failed writes | retries | restarts | restart time (s) |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for p in &s.policies {
        for e in &s.on_error {
            let runs: Vec<_> = results
                .runs
                .iter()
                .filter(|r| &r.policy == p && r.on_error == Some(*e))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let sum = |f: fn(&cowlab_sim::Metrics) -> u64| -> u64 {
                runs.iter().map(|r| f(&r.metrics)).sum()
            };
            let restart: f64 = runs.iter().map(|r| r.metrics.restart_seconds).sum();
            let _ = writeln!(
                md,
                "| {p} | {e} | {} | {} | {} | {} | {} | {restart:.3} |",
                runs.len(),
                sum(|m| m.failed_copies),
                sum(|m| m.failed_writes),
                sum(|m| m.retries),
                sum(|m| m.restarts),
            );
        }
    }
    md.push('\n');
}

fn invariants(results: &Results, md: &mut String) {
    md.push_str("## Invariants\n\n");
    let count = |status: &str| {
        results
            .runs
            .iter()
            .filter(|r| r.metrics.invariants == status)
            .count()
    };
    let (checked, unchecked) = (count("checked"), count("not-checked"));
    let broken = results.runs.len() - checked - unchecked;
    let _ =
        writeln!(
        md,
        "Of {} runs: {checked} checked and held, {unchecked} not checked (no data kept at this \
         check level), {broken} broke an invariant{}. Each run's status is in the \
         `invariants` column of `results.csv`.",
        results.runs.len(),
        if broken > 0 { " (listed at the top)" } else { "" }
    );
}
