//! A sweep: policies × granularities × workloads × disks × topologies × seeds over one
//! volume and one workload size, and the cost that decides the recommendation. Read from a TOML file
//! (every refusal names the file, the line, the key and the value), or built in.

use cowlab_model::fault::{ErrorPolicy, FaultPlan, When};
use cowlab_model::{policy, CopyOrder, Mutant};
use cowlab_sim::config::{CheckLevel, Disks, SimConfig};
use cowlab_sim::faults::FaultsTable;
use cowlab_sim::metrics::NUMERIC_METRICS;
use cowlab_sim::size::{format_size, parse_rate, parse_size};
use cowlab_sim::tomlfile::{self, toml_string, FileError};
use cowlab_sim::topology::{TopologyChoice, PRESETS};
use cowlab_sim::workload::{parse_sizes, Arrivals, Pattern, Stop};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// The workloads a sweep can name.
pub const WORKLOADS: [&str; 4] = ["uniform", "zipf", "hotspot", "sequential"];

/// The disk models a sweep can name.
const DISKS: [&str; 3] = ["nvme", "ssd", "hdd"];

/// The metrics a cost can name (the figures `cowlab sim --json` prints, but `invariants`).
pub const COST_METRICS: &[&str] = NUMERIC_METRICS;

/// How segment and chunk sizes are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Two one-dimensional sweeps: every chunk size with the segment at
    /// max(chunk, `segment_for_chunks`), and every segment size with the chunk at
    /// min(segment, `chunk_for_segments`).
    Sweeps,
    /// Every segment size with every chunk size that fits in it.
    Grid,
}

/// Which sizes are swept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Granularity {
    pub mode: Mode,
    pub chunk_sizes: Vec<u64>,
    pub segment_sizes: Vec<u64>,
    pub segment_for_chunks: u64,
    pub chunk_for_segments: u64,
}

/// One (segment, chunk) pair of a sweep, and the charts it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub segment: u64,
    pub chunk: u64,
    /// On the chunk sweep: the segment is max(chunk, `segment_for_chunks`).
    pub on_chunk_axis: bool,
    /// On the segment sweep: the chunk is min(segment, `chunk_for_segments`).
    pub on_segment_axis: bool,
}

impl Granularity {
    /// The pairs to run, the chunk sweep's first, each once.
    pub fn points(&self) -> Vec<Point> {
        let mut pairs: Vec<(u64, u64)> = Vec::new();
        let mut add = |s: u64, c: u64| {
            if !pairs.contains(&(s, c)) {
                pairs.push((s, c));
            }
        };
        for c in &self.chunk_sizes {
            add((*c).max(self.segment_for_chunks), *c);
        }
        for s in &self.segment_sizes {
            add(*s, (*s).min(self.chunk_for_segments));
        }
        if self.mode == Mode::Grid {
            for s in &self.segment_sizes {
                for c in self.chunk_sizes.iter().filter(|c| *c <= s) {
                    add(*s, *c);
                }
            }
        }
        pairs
            .into_iter()
            .map(|(segment, chunk)| Point {
                segment,
                chunk,
                on_chunk_axis: self.chunk_sizes.contains(&chunk)
                    && segment == chunk.max(self.segment_for_chunks),
                on_segment_axis: self.segment_sizes.contains(&segment)
                    && chunk == segment.min(self.chunk_for_segments),
            })
            .collect()
    }
}

/// What the recommendation optimises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// The metric to make smallest (when no weights are given).
    pub minimize: String,
    /// A weighted sum over metrics instead, each divided by its median over the candidates
    /// (`throughput_ratio` counts as 1 - ratio, so that less is better for every term).
    pub weights: BTreeMap<String, f64>,
    /// Only runs whose copy takes at most this many times the disk's fastest copy with no
    /// writes (over the swept segment sizes).
    pub copy_within: Option<f64>,
    pub max_preserved_bytes: Option<u64>,
    pub max_snapshot_bytes: Option<u64>,
}

impl Default for Cost {
    /// The lowest p99 hold latency among the runs whose copy finishes within 1.2 times the
    /// disk's fastest copy with no writes.
    fn default() -> Self {
        Cost {
            minimize: "hold_p99_us".into(),
            weights: BTreeMap::new(),
            copy_within: Some(1.2),
            max_preserved_bytes: None,
            max_snapshot_bytes: None,
        }
    }
}

/// A whole sweep, resolved and validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub volume: u64,
    pub block_size: u64,
    /// Writes per run.
    pub writes: u64,
    /// Open-loop requests per second, per disk model.
    pub rates: BTreeMap<String, f64>,
    /// Request sizes, as the command line writes them (`4KiB`, `4KiB:70,64KiB:30`).
    pub write_size: String,
    pub read_fraction: f64,
    pub image_fraction: f64,
    pub zipf_s: f64,
    pub hot_fraction: f64,
    /// The hot region of the hotspot workload.
    pub hot_size: u64,
    pub order: String,
    pub check: CheckLevel,
    pub queue_depth: u32,
    /// Copier speed limit, bytes per second.
    pub speed: Option<u64>,
    pub mutant: Option<String>,
    /// Seeds per configuration: seed + 0, seed + 1, ... (the same workloads for every policy
    /// and granularity, so they are compared on the same requests).
    pub seeds: u32,
    pub seed: u64,
    pub policies: Vec<String>,
    pub workloads: Vec<String>,
    pub disks: Vec<String>,
    pub granularity: Granularity,
    pub cost: Cost,
    /// The `[faults]` table's plan, applied to every run (not written when there is none,
    /// so that a sweep without faults reads and writes as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultPlan>,
    /// The error policies swept, with faults (at least one then; none without faults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_error: Vec<String>,
    /// The topologies swept: presets of `sim/src/topology.rs` or topology files, a path
    /// relative to the working directory (not to the sweep file). Only `separate` is not
    /// written, so that a sweep without topologies reads and writes as before.
    #[serde(default = "separate_only", skip_serializing_if = "is_separate_only")]
    pub topologies: Vec<String>,
}

/// The topologies of a sweep that names none.
pub fn separate_only() -> Vec<String> {
    vec!["separate".to_string()]
}

fn is_separate_only(t: &[String]) -> bool {
    t == ["separate"]
}

/// Powers of two from `from` to `to`.
fn doubling(from: u64, to: u64) -> Vec<u64> {
    std::iter::successors(Some(from), |s| Some(s * 2))
        .take_while(|s| *s <= to)
        .collect()
}

impl Default for Sweep {
    /// The built-in sweep: every policy (offline as the baseline), the four workloads, the
    /// three disk models, three seeds; chunks from 4 KiB to 4 MiB and segments from 4 KiB to
    /// 64 MiB, over a 1 GiB volume with 5,000 writes per run at a rate each disk can serve
    /// (the writes last about a third of an NVMe or SSD copy, and an HDD copy's length).
    fn default() -> Self {
        Sweep {
            volume: 1 << 30,
            block_size: 4 << 10,
            writes: 5_000,
            rates: [("nvme", 20_000.0), ("ssd", 5_000.0), ("hdd", 200.0)]
                .into_iter()
                .map(|(d, r)| (d.to_string(), r))
                .collect(),
            write_size: "4KiB".into(),
            read_fraction: 0.0,
            image_fraction: 0.0,
            zipf_s: 1.0,
            hot_fraction: 0.9,
            hot_size: 16 << 20,
            order: "sequential".into(),
            check: CheckLevel::End,
            queue_depth: 1,
            speed: None,
            mutant: None,
            seeds: 3,
            seed: 0,
            policies: policy::names().iter().map(|p| p.to_string()).collect(),
            workloads: WORKLOADS.iter().map(|w| w.to_string()).collect(),
            disks: ["nvme", "ssd", "hdd"]
                .iter()
                .map(|d| d.to_string())
                .collect(),
            granularity: Granularity {
                mode: Mode::Sweeps,
                chunk_sizes: doubling(4 << 10, 4 << 20),
                segment_sizes: doubling(4 << 10, 64 << 20),
                segment_for_chunks: 1 << 20,
                chunk_for_segments: 64 << 10,
            },
            cost: Cost::default(),
            faults: None,
            on_error: Vec::new(),
            topologies: separate_only(),
        }
    }
}

/// One run of a sweep: which configuration, which seed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    pub policy: String,
    pub workload: String,
    pub disk: String,
    pub segment: u64,
    pub chunk: u64,
    pub seed: u64,
    /// The error policy, in a sweep with faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// The topology, in a sweep of topologies ([`Sweep::by_topology`]); `None` is
    /// `separate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
}

/// A job of a sweep: a run, or the copy of a disk and segment size with no writes (what
/// the cost's `copy_within` compares against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Run(RunKey),
    NoWrites {
        disk: String,
        topology: Option<String>,
        segment: u64,
    },
}

impl Sweep {
    /// Whether topologies are a dimension of the sweep's results: more than one, or one
    /// that is not `separate` (then records carry a `topology`).
    pub fn by_topology(&self) -> bool {
        !is_separate_only(&self.topologies)
    }

    /// What the recommendation, the tables and the charts compare: each policy, or each
    /// policy under each error policy when several are swept (they are not seeds of one
    /// configuration).
    pub fn variants(&self) -> Vec<String> {
        match self.on_error.len() > 1 {
            false => self.policies.clone(),
            true => self
                .policies
                .iter()
                .flat_map(|p| self.on_error.iter().map(move |e| variant(p, Some(e))))
                .collect(),
        }
    }

    /// The variant a run belongs to (see [`Sweep::variants`]).
    pub fn variant_of(&self, policy: &str, on_error: Option<&String>) -> String {
        match self.on_error.len() > 1 {
            false => policy.to_string(),
            true => variant(policy, on_error),
        }
    }

    /// The topology of each group of runs: `None` alone when not [`Sweep::by_topology`].
    pub fn topology_keys(&self) -> Vec<Option<String>> {
        match self.by_topology() {
            true => self.topologies.iter().cloned().map(Some).collect(),
            false => vec![None],
        }
    }

    /// The panel of the built-in report: the recommended granularity on a plain disk, a
    /// RAID-5 source and a SAN-attached source. This sweep's volume, writes, rates and
    /// cost, every policy, one seed, the uniform workload on the ssd, and only the chunk
    /// sweep (the segment at max(chunk, `segment_for_chunks`)).
    pub fn topology_panel(&self) -> Sweep {
        let g = &self.granularity;
        let segment = g.segment_for_chunks;
        // A segment sweep of one point that lies on the chunk sweep (no extra runs), with
        // this sweep's chunk where it can (the chunk of the copies with no writes).
        let fits = |c: &u64| *c <= segment && g.chunk_sizes.contains(c);
        let chunk = Some(g.chunk_for_segments)
            .filter(fits)
            .or(g.chunk_sizes.iter().copied().filter(fits).max())
            .unwrap_or(segment);
        Sweep {
            seeds: 1,
            workloads: vec!["uniform".into()],
            disks: vec!["ssd".into()],
            rates: BTreeMap::from([(
                "ssd".to_string(),
                self.rates.get("ssd").copied().unwrap_or(5_000.0),
            )]),
            granularity: Granularity {
                mode: Mode::Sweeps,
                chunk_sizes: g.chunk_sizes.clone(),
                segment_sizes: vec![segment],
                segment_for_chunks: segment,
                chunk_for_segments: chunk,
            },
            topologies: ["separate", "raid5-source", "san"]
                .map(String::from)
                .to_vec(),
            ..self.clone()
        }
    }

    /// Every job, in a fixed order: the order of results, and what shards split.
    pub fn jobs(&self) -> Vec<Job> {
        let points = self.granularity.points();
        let topologies = self.topology_keys();
        let mut jobs = Vec::new();
        let policies: Vec<Option<String>> = match self.on_error.is_empty() {
            true => vec![None],
            false => self.on_error.iter().cloned().map(Some).collect(),
        };
        for (p, on_error) in self
            .policies
            .iter()
            .flat_map(|p| policies.iter().map(move |e| (p, e)))
        {
            for w in &self.workloads {
                for d in &self.disks {
                    for t in &topologies {
                        for pt in &points {
                            for k in 0..self.seeds as u64 {
                                jobs.push(Job::Run(RunKey {
                                    policy: p.clone(),
                                    workload: w.clone(),
                                    disk: d.clone(),
                                    segment: pt.segment,
                                    chunk: pt.chunk,
                                    seed: self.seed.wrapping_add(k),
                                    on_error: on_error.clone(),
                                    topology: t.clone(),
                                }));
                            }
                        }
                    }
                }
            }
        }
        let mut segments: Vec<u64> = points.iter().map(|p| p.segment).collect();
        segments.sort();
        segments.dedup();
        for d in &self.disks {
            for t in &topologies {
                for s in &segments {
                    jobs.push(Job::NoWrites {
                        disk: d.clone(),
                        topology: t.clone(),
                        segment: *s,
                    });
                }
            }
        }
        jobs
    }

    /// The simulator's configuration of a run.
    pub fn config(&self, key: &RunKey) -> SimConfig {
        let mut c = SimConfig::default()
            .with_volume(self.volume)
            .with_block_size(self.block_size);
        c.policy = key.policy.clone();
        c.segment_size = key.segment;
        c.cow_size = key.chunk;
        c.order = self.order.clone();
        c.seed = key.seed;
        c.mutant = self.mutant.clone();
        c.check = Some(self.check);
        if let Some(plan) = &self.faults {
            c.faults = plan.clone();
        }
        if let Some(e) = &key.on_error {
            c.on_error = ErrorPolicy::parse(e).expect("validated error policy");
        }
        c.speed = self.speed;
        c.topology = key.topology.as_deref().map(TopologyChoice::named);
        let mut disks = Disks::preset(&key.disk).expect("validated disk");
        disks.queue_depth = self.queue_depth;
        c.disks = disks;
        let w = &mut c.workload;
        w.pattern = match key.workload.as_str() {
            "zipf" => Pattern::Zipf { s: self.zipf_s },
            "hotspot" => Pattern::Hotspot {
                fraction: self.hot_fraction,
                size: self.hot_size,
            },
            "sequential" => Pattern::Sequential,
            _ => Pattern::Uniform,
        };
        w.sizes = parse_sizes(&self.write_size).expect("validated sizes");
        w.read_fraction = self.read_fraction;
        w.image_fraction = self.image_fraction;
        w.arrivals = Arrivals::Open {
            rate: self.rates[&key.disk],
        };
        w.stop = Stop::Writes(self.writes);
        c
    }

    /// The configuration of a copy with no writes.
    pub fn no_writes_config(&self, disk: &str, topology: Option<&str>, segment: u64) -> SimConfig {
        let key = RunKey {
            policy: self.policies[0].clone(),
            workload: "uniform".into(),
            disk: disk.into(),
            segment,
            chunk: segment.min(self.granularity.chunk_for_segments),
            seed: self.seed,
            on_error: None,
            topology: topology.map(String::from),
        };
        let mut c = self.config(&key);
        // The copy as the disk makes it: no writes and no faults.
        c.faults = FaultPlan::default();
        c.workload.stop = Stop::Writes(0);
        c.workload.read_fraction = 0.0;
        c.mutant = None;
        c.check = Some(CheckLevel::Off);
        c
    }

    /// The sweep as a sweep file (what `--print-default-config` writes): every key, with a
    /// comment on each.
    pub fn to_toml(&self) -> String {
        let list = |v: &[String]| {
            let quoted: Vec<String> = v.iter().map(|s| toml_string(s)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let sizes = |v: &[u64]| {
            let quoted: Vec<String> = v.iter().map(|s| format!("{:?}", size_text(*s))).collect();
            format!("[{}]", quoted.join(", "))
        };
        let rates: Vec<String> = self
            .rates
            .iter()
            .map(|(d, r)| format!("{d} = {r:?}"))
            .collect();
        let optional = |name: &str, v: Option<String>| match v {
            Some(v) => format!("{name} = {v}\n"),
            None => format!("# {name} = ...\n"),
        };
        let mut out = String::new();
        out.push_str("# A cowlab granularity sweep (`cowlab report --config FILE`).\n");
        out.push_str("# Sizes are strings like \"4KiB\", \"1MiB\", \"16TiB\".\n\n");
        out.push_str(&format!("volume = {:?}\n", size_text(self.volume)));
        out.push_str(&format!("block_size = {:?}\n", size_text(self.block_size)));
        out.push_str(
            "# Writes per run, arriving open loop (Poisson) at each disk's rate per second.\n",
        );
        out.push_str(&format!("writes = {}\n", self.writes));
        out.push_str(&format!("rates = {{ {} }}\n", rates.join(", ")));
        out.push_str("# A fixed size, or a weighted list like \"4KiB:70,64KiB:30\".\n");
        out.push_str(&format!("write_size = {}\n", toml_string(&self.write_size)));
        out.push_str("# Share of requests that read, and share of reads that read the point-in-time image.\n");
        out.push_str(&format!("read_fraction = {:?}\n", self.read_fraction));
        out.push_str(&format!("image_fraction = {:?}\n", self.image_fraction));
        out.push_str(&format!("zipf_s = {:?}\n", self.zipf_s));
        out.push_str(
            "# The hotspot workload: this share of requests goes to a hot region of this size.\n",
        );
        out.push_str(&format!("hot_fraction = {:?}\n", self.hot_fraction));
        out.push_str(&format!("hot_size = {:?}\n", size_text(self.hot_size)));
        out.push_str("# Copy order: sequential, reverse, random, written-first.\n");
        out.push_str(&format!("order = {:?}\n", self.order));
        out.push_str("# Invariant checking per run: every-step, end, off.\n");
        out.push_str(&format!("check = {:?}\n", self.check.name()));
        out.push_str(&format!("queue_depth = {}\n", self.queue_depth));
        out.push_str("# Copier speed limit, e.g. \"100MiB/s\".\n");
        out.push_str(&optional(
            "speed",
            self.speed
                .map(|s| format!("{:?}", format!("{}/s", size_text(s)))),
        ));
        out.push_str("# A mutant of the catalogue, to see a violation reported.\n");
        out.push_str(&optional(
            "mutant",
            self.mutant.as_ref().map(|m| format!("{m:?}")),
        ));
        out.push_str("# Seeds per configuration: seed, seed + 1, ... (`--seed` sets the first).\n");
        out.push_str(&format!("seeds = {}\nseed = {}\n", self.seeds, self.seed));
        out.push_str(&format!("policies = {}\n", list(&self.policies)));
        out.push_str(&format!("workloads = {}\n", list(&self.workloads)));
        out.push_str(&format!("disks = {}\n", list(&self.disks)));
        if self.by_topology() {
            out.push_str("# Topologies swept: presets (");
            out.push_str(&PRESETS.join(", "));
            out.push_str(") or topology files,\n# a path relative to the working directory.\n");
            out.push_str(&format!("topologies = {}\n", list(&self.topologies)));
        }
        if !self.on_error.is_empty() {
            out.push_str("# Error policies swept (with the [faults] table).\n");
            out.push_str(&format!("on_error = {}\n", list(&self.on_error)));
        }
        out.push('\n');
        let g = &self.granularity;
        out.push_str("[granularity]\n");
        out.push_str("# \"sweeps\": every chunk size with segment = max(chunk, segment_for_chunks), and every\n");
        out.push_str("# segment size with chunk = min(segment, chunk_for_segments); \"grid\": every pair too.\n");
        let mode = match g.mode {
            Mode::Sweeps => "sweeps",
            Mode::Grid => "grid",
        };
        out.push_str(&format!("mode = {mode:?}\n"));
        out.push_str(&format!("chunk_sizes = {}\n", sizes(&g.chunk_sizes)));
        out.push_str(&format!("segment_sizes = {}\n", sizes(&g.segment_sizes)));
        out.push_str(&format!(
            "segment_for_chunks = {:?}\n",
            size_text(g.segment_for_chunks)
        ));
        out.push_str(&format!(
            "chunk_for_segments = {:?}\n\n",
            size_text(g.chunk_for_segments)
        ));
        let c = &self.cost;
        out.push_str("[cost]\n");
        out.push_str(
            "# The recommendation: the smallest `minimize` (a metric of `cowlab sim --json`), or\n",
        );
        out.push_str(
            "# with [cost.weights] the smallest weighted sum of metrics (each over its median),\n",
        );
        out.push_str("# among runs within the limits below.\n");
        out.push_str(&format!("minimize = {:?}\n", c.minimize));
        out.push_str("# Only runs whose copy takes at most this many times the disk's fastest copy with\n# no writes (over the swept segment sizes).\n");
        out.push_str(&optional(
            "copy_within",
            c.copy_within.map(|f| format!("{f:?}")),
        ));
        out.push_str(&optional(
            "max_preserved_bytes",
            c.max_preserved_bytes.map(|b| format!("{:?}", size_text(b))),
        ));
        out.push_str(&optional(
            "max_snapshot_bytes",
            c.max_snapshot_bytes.map(|b| format!("{:?}", size_text(b))),
        ));
        if !c.weights.is_empty() {
            out.push_str("\n[cost.weights]\n");
            for (m, w) in &c.weights {
                out.push_str(&format!("{m} = {w:?}\n"));
            }
        }
        if let Some(plan) = &self.faults {
            out.push_str(&self.faults_toml(plan));
        }
        out
    }

    /// The `[faults]` table of a sweep with faults (its `on_error` list is a top-level key,
    /// written with the others).
    fn faults_toml(&self, plan: &FaultPlan) -> String {
        let mut out = String::from("\n[faults]\n");
        out.push_str(&format!("seed = {}\n", plan.seed));
        if let Some(b) = plan.store_blocks {
            let bytes = b.saturating_mul(self.block_size);
            out.push_str(&format!("store_capacity = {:?}\n", size_text(bytes)));
        }
        let crashes: Vec<String> = plan.crashes.iter().map(|n| n.to_string()).collect();
        out.push_str(&format!("crash_at = [{}]\n", crashes.join(", ")));
        for e in &plan.errors {
            out.push_str("\n[[faults.fail]]\n");
            out.push_str(&format!("device = \"{}\"\n", e.device));
            out.push_str(&match &e.when {
                When::Nth(n) => format!("nth = {n}\n"),
                When::Blocks(r) => format!("blocks = \"{}..{}\"\n", r.start, r.end),
                When::Probability(p) => format!("probability = {p:?}\n"),
            });
        }
        out
    }
}

fn variant(policy: &str, on_error: Option<&String>) -> String {
    match on_error {
        Some(e) => format!("{policy} ({e})"),
        None => policy.to_string(),
    }
}

/// A size as a sweep file writes it: `4KiB`, `1536B`.
pub fn size_text(bytes: u64) -> String {
    format_size(bytes).replace(' ', "")
}

/// A refused sweep file: where, which key, which value, why.
pub type SweepError = FileError;

/// The file as written: every value keeps where it stood, for the errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    volume: Option<Spanned<String>>,
    block_size: Option<Spanned<String>>,
    writes: Option<Spanned<u64>>,
    rates: Option<Spanned<BTreeMap<String, Spanned<f64>>>>,
    write_size: Option<Spanned<String>>,
    read_fraction: Option<Spanned<f64>>,
    image_fraction: Option<Spanned<f64>>,
    zipf_s: Option<Spanned<f64>>,
    hot_fraction: Option<Spanned<f64>>,
    hot_size: Option<Spanned<String>>,
    order: Option<Spanned<String>>,
    check: Option<Spanned<String>>,
    queue_depth: Option<Spanned<u32>>,
    speed: Option<Spanned<String>>,
    mutant: Option<Spanned<String>>,
    seeds: Option<Spanned<u32>>,
    seed: Option<Spanned<u64>>,
    policies: Option<Spanned<Vec<Spanned<String>>>>,
    workloads: Option<Spanned<Vec<Spanned<String>>>>,
    disks: Option<Spanned<Vec<Spanned<String>>>>,
    granularity: Option<GranularityFile>,
    cost: Option<CostFile>,
    faults: Option<FaultsTable>,
    on_error: Option<Spanned<Vec<Spanned<String>>>>,
    topologies: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GranularityFile {
    mode: Option<Spanned<String>>,
    chunk_sizes: Option<Spanned<Vec<Spanned<String>>>>,
    segment_sizes: Option<Spanned<Vec<Spanned<String>>>>,
    segment_for_chunks: Option<Spanned<String>>,
    chunk_for_segments: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostFile {
    minimize: Option<Spanned<String>>,
    weights: Option<BTreeMap<String, Spanned<f64>>>,
    copy_within: Option<Spanned<f64>>,
    max_preserved_bytes: Option<Spanned<String>>,
    max_snapshot_bytes: Option<Spanned<String>>,
}

/// Reads a sweep file over the defaults; `file` names it in errors and `policies` are the
/// policy names it may use (the built-in ones, and a caller's own).
pub fn parse(text: &str, file: &str, policies: &[String]) -> Result<Sweep, SweepError> {
    let doc = Doc { text, file };
    let f: File = toml::from_str(text).map_err(|e| doc.toml_error(&e))?;
    // A file that sets nothing would run the built-in sweep under the file's name.
    if toml::from_str::<toml::Table>(text).is_ok_and(|t| t.is_empty()) {
        let mut e = doc.at(
            0..0,
            "",
            "the file sets nothing: to run the built-in sweep, leave out --config",
        );
        e.value.clear();
        return Err(e);
    }
    let mut s = Sweep::default();
    let size = |v: &Spanned<String>, key: &str| -> Result<u64, SweepError> {
        match parse_size(v.get_ref()) {
            Ok(0) => Err(doc.at(v.span(), key, "must be at least one byte")),
            Ok(b) => Ok(b),
            Err(e) => Err(doc.at(v.span(), key, e.to_string())),
        }
    };
    if let Some(v) = &f.volume {
        s.volume = size(v, "volume")?;
    }
    if let Some(v) = &f.block_size {
        s.block_size = size(v, "block_size")?;
    }
    if let Some(v) = &f.writes {
        s.writes = *v.get_ref();
    }
    if let Some(v) = &f.write_size {
        parse_sizes(v.get_ref()).map_err(|e| doc.at(v.span(), "write_size", e.reason))?;
        s.write_size = v.get_ref().clone();
    }
    let fraction = |v: &Spanned<f64>, key: &str| -> Result<f64, SweepError> {
        let x = *v.get_ref();
        match (0.0..=1.0).contains(&x) {
            true => Ok(x),
            false => Err(doc.at(v.span(), key, "must be between 0 and 1")),
        }
    };
    if let Some(v) = &f.read_fraction {
        s.read_fraction = fraction(v, "read_fraction")?;
    }
    if let Some(v) = &f.image_fraction {
        s.image_fraction = fraction(v, "image_fraction")?;
    }
    if let Some(v) = &f.hot_fraction {
        s.hot_fraction = fraction(v, "hot_fraction")?;
    }
    if let Some(v) = &f.zipf_s {
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(doc.at(v.span(), "zipf_s", "must be a positive number"));
        }
        s.zipf_s = x;
    }
    if let Some(v) = &f.hot_size {
        s.hot_size = size(v, "hot_size")?;
    }
    if let Some(v) = &f.order {
        if CopyOrder::by_name(v.get_ref(), 0).is_none() {
            let reason = one_of("order", &CopyOrder::NAMES);
            return Err(doc.at(v.span(), "order", reason));
        }
        s.order = v.get_ref().clone();
    }
    if let Some(v) = &f.check {
        s.check = CheckLevel::by_name(v.get_ref())
            .ok_or_else(|| doc.at(v.span(), "check", one_of("check level", &CheckLevel::NAMES)))?;
    }
    if let Some(v) = &f.queue_depth {
        if *v.get_ref() == 0 {
            return Err(doc.at(v.span(), "queue_depth", "must be at least 1"));
        }
        s.queue_depth = *v.get_ref();
    }
    if let Some(v) = &f.speed {
        // A rate, written as on the command line: "100MiB/s".
        s.speed = Some(match parse_rate(v.get_ref()) {
            Ok(r) if r >= 1.0 => r as u64,
            Ok(_) => return Err(doc.at(v.span(), "speed", "less than one byte per second")),
            Err(e) => return Err(doc.at(v.span(), "speed", e.to_string())),
        });
    }
    if let Some(v) = &f.mutant {
        if Mutant::by_name(v.get_ref()).is_none() {
            let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
            return Err(doc.at(v.span(), "mutant", one_of("mutant", &names)));
        }
        s.mutant = Some(v.get_ref().clone());
    }
    if let Some(v) = &f.seeds {
        if *v.get_ref() == 0 {
            return Err(doc.at(v.span(), "seeds", "must be at least 1"));
        }
        s.seeds = *v.get_ref();
    }
    if let Some(v) = &f.seed {
        s.seed = *v.get_ref();
    }
    let known: Vec<&str> = policies.iter().map(|p| p.as_str()).collect();
    if let Some(v) = &f.policies {
        s.policies = doc.names(v, "policies", "policy", &known)?;
    }
    if let Some(v) = &f.workloads {
        s.workloads = doc.names(v, "workloads", "workload", &WORKLOADS)?;
    }
    if let Some(v) = &f.disks {
        s.disks = doc.names(v, "disks", "disk", &DISKS)?;
    }
    if let Some(v) = &f.rates {
        let mut rates = BTreeMap::new();
        for (disk, rate) in v.get_ref() {
            let key = format!("rates.{disk}");
            // A rate for a disk no sweep can run would be kept and written back as a key
            // the file cannot hold (`to_toml` writes the names bare).
            if !DISKS.contains(&disk.as_str()) {
                return Err(doc.at(rate.span(), &key, one_of("disk", &DISKS)));
            }
            let r = *rate.get_ref();
            if !(r.is_finite() && r > 0.0) {
                return Err(doc.at(
                    rate.span(),
                    &key,
                    "must be a positive number of requests per second",
                ));
            }
            rates.insert(disk.clone(), r);
        }
        s.rates = rates;
    }
    if let Some(missing) = s.disks.iter().find(|d| !s.rates.contains_key(*d)) {
        let span = f
            .rates
            .as_ref()
            .map(|r| r.span())
            .or(f.disks.as_ref().map(|d| d.span()));
        let reason = format!("no rate for disk {missing:?} (give one in rates)");
        return Err(doc.at(span.unwrap_or(0..0), "rates", reason));
    }
    if let Some(g) = &f.granularity {
        doc.granularity(g, &mut s.granularity)?;
    }
    if let Some(c) = &f.cost {
        doc.cost(c, &mut s.cost, &size)?;
    }
    doc.faults(&f, &mut s)?;
    if let Some(v) = &f.topologies {
        doc.topologies(v, &mut s)?;
    }
    doc.geometry(&s, &f)?;
    Ok(s)
}

fn one_of(what: &str, names: &[&str]) -> String {
    format!("unknown {what} (expected one of: {})", names.join(", "))
}

/// Reads a size value of the file (refusing zero), naming its key in errors.
type SizeOf<'a> = dyn Fn(&Spanned<String>, &str) -> Result<u64, SweepError> + 'a;

/// The text of a sweep file, to point at its lines.
struct Doc<'a> {
    text: &'a str,
    file: &'a str,
}

impl Doc<'_> {
    /// An error at a value's place.
    fn at(&self, span: std::ops::Range<usize>, key: &str, reason: impl ToString) -> SweepError {
        tomlfile::Doc::new(self.text, self.file).at(span, key, reason)
    }

    fn toml_error(&self, e: &toml::de::Error) -> SweepError {
        tomlfile::Doc::new(self.text, self.file).toml_error(e)
    }

    /// The `[faults]` table (its keys are `sim/src/faults.rs`'s) and the `on_error` list:
    /// error policies matter only with faults, and are given in one place.
    fn faults(&self, f: &File, s: &mut Sweep) -> Result<(), SweepError> {
        let mut single = None;
        if let Some(t) = &f.faults {
            let r = t
                .resolve(s.block_size, s.volume / s.block_size)
                .map_err(|e| self.at(e.span, &format!("faults.{}", e.key), e.reason))?;
            if !r.plan.is_empty() {
                s.faults = Some(r.plan);
            }
            single = r.on_error.map(|p| p.to_string());
            if let (Some(_), Some(v)) = (&single, &f.on_error) {
                return Err(self.at(
                    v.span(),
                    "on_error",
                    "give the error policies here or in [faults], not both",
                ));
            }
        }
        if let Some(list) = &f.on_error {
            if s.faults.is_none() {
                return Err(self.at(
                    list.span(),
                    "on_error",
                    "error policies matter only with faults: give a [faults] table",
                ));
            }
            if list.get_ref().is_empty() {
                return Err(self.at(list.span(), "on_error", "must name at least one policy"));
            }
            for v in list.get_ref() {
                let p = ErrorPolicy::parse(v.get_ref())
                    .map_err(|e| self.at(v.span(), "on_error", e))?;
                // Kept as printed, so that `retry:1:break-guest-write` and `retry:1` are
                // one policy.
                if s.on_error.contains(&p.to_string()) {
                    return Err(self.at(v.span(), "on_error", "error policy listed twice"));
                }
                s.on_error.push(p.to_string());
            }
        }
        if s.faults.is_some() && s.on_error.is_empty() {
            s.on_error = vec![single.unwrap_or(ErrorPolicy::default().to_string())];
        }
        Ok(())
    }

    /// The `topologies` list: each a preset, or a topology file (read relative to the
    /// working directory) that `sim/src/topology.rs` accepts with every disk of the sweep.
    fn topologies(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        s: &mut Sweep,
    ) -> Result<(), SweepError> {
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), "topologies", "must name at least one topology"));
        }
        let mut out: Vec<String> = Vec::new();
        for v in list.get_ref() {
            let name = v.get_ref();
            if out.contains(name) {
                return Err(self.at(v.span(), "topologies", "topology listed twice"));
            }
            for d in &s.disks {
                let key = RunKey {
                    policy: s.policies[0].clone(),
                    workload: s.workloads[0].clone(),
                    disk: d.clone(),
                    segment: s.granularity.segment_for_chunks,
                    chunk: s.granularity.chunk_for_segments,
                    seed: s.seed,
                    on_error: None,
                    topology: Some(name.clone()),
                };
                if let Err(reason) = s.config(&key).topology().map_err(|e| e.reason) {
                    return Err(self.at(v.span(), "topologies", reason));
                }
            }
            out.push(name.clone());
        }
        s.topologies = out;
        Ok(())
    }

    fn names(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        what: &str,
        known: &[&str],
    ) -> Result<Vec<String>, SweepError> {
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), key, format!("must name at least one {what}")));
        }
        let mut out: Vec<String> = Vec::new();
        for v in list.get_ref() {
            if !known.contains(&v.get_ref().as_str()) {
                return Err(self.at(v.span(), key, one_of(what, known)));
            }
            if out.contains(v.get_ref()) {
                return Err(self.at(v.span(), key, format!("{what} listed twice")));
            }
            out.push(v.get_ref().clone());
        }
        Ok(out)
    }

    fn sizes(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<u64>, SweepError> {
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), key, "must list at least one size"));
        }
        let mut out = Vec::new();
        for v in list.get_ref() {
            match parse_size(v.get_ref()) {
                Ok(b) if b > 0 && b.is_power_of_two() && !out.contains(&b) => out.push(b),
                Ok(b) if out.contains(&b) => return Err(self.at(v.span(), key, "listed twice")),
                Ok(_) => return Err(self.at(v.span(), key, "must be a power of two bytes")),
                Err(e) => return Err(self.at(v.span(), key, e.to_string())),
            }
        }
        out.sort();
        Ok(out)
    }

    fn granularity(&self, f: &GranularityFile, g: &mut Granularity) -> Result<(), SweepError> {
        if let Some(v) = &f.mode {
            g.mode = match v.get_ref().as_str() {
                "sweeps" => Mode::Sweeps,
                "grid" => Mode::Grid,
                _ => {
                    return Err(self.at(
                        v.span(),
                        "granularity.mode",
                        one_of("mode", &["sweeps", "grid"]),
                    ))
                }
            };
        }
        if let Some(v) = &f.chunk_sizes {
            g.chunk_sizes = self.sizes(v, "granularity.chunk_sizes")?;
        }
        if let Some(v) = &f.segment_sizes {
            g.segment_sizes = self.sizes(v, "granularity.segment_sizes")?;
        }
        for (v, key, slot) in [
            (
                &f.segment_for_chunks,
                "granularity.segment_for_chunks",
                &mut g.segment_for_chunks,
            ),
            (
                &f.chunk_for_segments,
                "granularity.chunk_for_segments",
                &mut g.chunk_for_segments,
            ),
        ] {
            if let Some(v) = v {
                match parse_size(v.get_ref()) {
                    Ok(b) if b > 0 && b.is_power_of_two() => *slot = b,
                    Ok(_) => return Err(self.at(v.span(), key, "must be a power of two bytes")),
                    Err(e) => return Err(self.at(v.span(), key, e.to_string())),
                }
            }
        }
        Ok(())
    }

    fn cost(&self, f: &CostFile, c: &mut Cost, size: &SizeOf) -> Result<(), SweepError> {
        if let Some(v) = &f.minimize {
            if !COST_METRICS.contains(&v.get_ref().as_str()) {
                return Err(self.at(v.span(), "cost.minimize", one_of("metric", COST_METRICS)));
            }
            c.minimize = v.get_ref().clone();
        }
        if let Some(w) = &f.weights {
            for (metric, weight) in w {
                let key = format!("cost.weights.{metric}");
                if !COST_METRICS.contains(&metric.as_str()) {
                    return Err(self.at(weight.span(), &key, one_of("metric", COST_METRICS)));
                }
                let x = *weight.get_ref();
                if !(x.is_finite() && x >= 0.0) {
                    return Err(self.at(weight.span(), &key, "must be a number of at least 0"));
                }
                c.weights.insert(metric.clone(), x);
            }
        }
        if let Some(v) = &f.copy_within {
            let x = *v.get_ref();
            if !(x.is_finite() && x >= 1.0) {
                return Err(self.at(
                    v.span(),
                    "cost.copy_within",
                    "must be at least 1 (a factor of the copy time with no writes)",
                ));
            }
            c.copy_within = Some(x);
        }
        if let Some(v) = &f.max_preserved_bytes {
            c.max_preserved_bytes = Some(size(v, "cost.max_preserved_bytes")?);
        }
        if let Some(v) = &f.max_snapshot_bytes {
            c.max_snapshot_bytes = Some(size(v, "cost.max_snapshot_bytes")?);
        }
        Ok(())
    }

    /// Every run's configuration must be one the simulator accepts: checked on the first
    /// run of each point, and blamed on the key that set the offending value.
    fn geometry(&self, s: &Sweep, f: &File) -> Result<(), SweepError> {
        let g = f.granularity.as_ref();
        let item = |list: Option<&Spanned<Vec<Spanned<String>>>>, bytes: u64| {
            list.and_then(|l| {
                l.get_ref()
                    .iter()
                    .find(|x| parse_size(x.get_ref()).ok() == Some(bytes))
                    .map(|x| x.span())
            })
        };
        let points = s.granularity.points();
        let tried = s
            .workloads
            .iter()
            .flat_map(|w| points.iter().map(move |p| (w, p)));
        for (w, p) in tried {
            let key = RunKey {
                policy: s.policies[0].clone(),
                workload: w.clone(),
                disk: s.disks[0].clone(),
                segment: p.segment,
                chunk: p.chunk,
                seed: s.seed,
                on_error: None,
                topology: None,
            };
            let mut c = s.config(&key);
            c.policy = "snapshot-overlay".into();
            let Err(e) = c.spec() else { continue };
            let flag = e.flag.trim_start_matches("--").replace('-', "_");
            let (key, span) = match flag.as_str() {
                "cow_size" => (
                    "granularity.chunk_sizes".to_string(),
                    item(g.and_then(|g| g.chunk_sizes.as_ref()), p.chunk),
                ),
                "segment_size" => (
                    "granularity.segment_sizes".to_string(),
                    item(g.and_then(|g| g.segment_sizes.as_ref()), p.segment),
                ),
                "volume" if p.segment > s.volume => (
                    "granularity.segment_sizes".to_string(),
                    item(g.and_then(|g| g.segment_sizes.as_ref()), p.segment),
                ),
                "check" => ("check".to_string(), f.check.as_ref().map(|v| v.span())),
                other => (other.to_string(), top_span(f, other)),
            };
            let reason = match key.starts_with("granularity") {
                true => format!(
                    "with segment {} and chunk {}: {}",
                    format_size(p.segment),
                    format_size(p.chunk),
                    e.reason
                ),
                false => e.reason.clone(),
            };
            let mut err = self.at(span.clone().unwrap_or(0..0), &key, reason);
            if span.is_none() {
                err.value = format!("{} (the default)", e.value);
            }
            return Err(err);
        }
        Ok(())
    }
}

/// Where a top-level key of the file stands, if it was given.
fn top_span(f: &File, key: &str) -> Option<std::ops::Range<usize>> {
    let s = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.span());
    let n = |v: &Option<Spanned<f64>>| v.as_ref().map(|v| v.span());
    match key {
        "volume" => s(&f.volume),
        "block_size" => s(&f.block_size),
        "write_size" => s(&f.write_size),
        "hot_size" => s(&f.hot_size),
        "speed" => s(&f.speed),
        "order" => s(&f.order),
        "hot_fraction" => n(&f.hot_fraction),
        "zipf_s" => n(&f.zipf_s),
        "read_fraction" => n(&f.read_fraction),
        "image_fraction" => n(&f.image_fraction),
        "writes" => f.writes.as_ref().map(|v| v.span()),
        "mutant" => s(&f.mutant),
        _ => None,
    }
}
