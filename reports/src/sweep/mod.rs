//! A sweep: policies × granularities × workers × workloads × disks × topologies × seeds over one
//! volume and one workload size, and the cost that decides the recommendation. Read from a TOML file
//! (every refusal names the file, the line, the key and the value), or built in.
//!
//! Three parts: this file is the sweep's model (the [`Sweep`] and the runs it expands to),
//! [`writer`] writes it as a sweep file, and [`parser`] reads one.

mod parser;
mod writer;

pub use parser::parse;
pub use writer::size_text;

use cowlab_model::fault::{ErrorPolicy, FaultPlan};
use cowlab_model::names::Named;
use cowlab_model::{policy, Mutant, OrderName, PolicyName};
use cowlab_sim::config::{CheckLevel, Disks, SimConfig};
use cowlab_sim::device::{DiskName, QueueDepth};
use cowlab_sim::metrics::NUMERIC_METRICS;
use cowlab_sim::tomlfile::FileError;
use cowlab_sim::topology::{TopologyChoice, TopologyPreset};
use cowlab_sim::workload::{parse_sizes, Arrivals, PatternName, Stop};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The metrics a cost can name (the figures `cowlab sim --json` prints, but `invariants`).
pub const COST_METRICS: &[&str] = NUMERIC_METRICS;

/// How segment and chunk sizes are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Two one-dimensional sweeps: every chunk size with the segment at
    /// max(chunk, `segment_for_chunks`), and every segment size with the chunk at
    /// min(segment, `chunk_for_segments`).
    Sweeps,
    /// Every segment size with every chunk size that fits in it.
    Grid,
}

impl Named for Mode {
    const WHAT: &'static str = "mode";
    const ALL: &'static [Mode] = &[Mode::Sweeps, Mode::Grid];

    fn name(self) -> &'static str {
        match self {
            Mode::Sweeps => "sweeps",
            Mode::Grid => "grid",
        }
    }
}

cowlab_model::named_by_name!(Mode);

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
    /// Configurations whose mean cost is within this share of the best's are tied with it
    /// whatever the seeds say (a difference too small to act on).
    #[serde(default = "default_tie_within")]
    pub tie_within: f64,
}

fn default_tie_within() -> f64 {
    0.02
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
            tie_within: default_tie_within(),
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
    pub rates: BTreeMap<DiskName, f64>,
    /// Request sizes, as the command line writes them (`4KiB`, `4KiB:70,64KiB:30`).
    pub write_size: String,
    pub read_fraction: f64,
    pub image_fraction: f64,
    pub zipf_s: f64,
    pub hot_fraction: f64,
    /// The hot region of the hotspot workload.
    pub hot_size: u64,
    pub order: OrderName,
    pub check: CheckLevel,
    /// A number, or each disk preset's native depth (a number in the JSON, as before, or
    /// `"native"`).
    pub queue_depth: QueueDepth,
    /// Copier speed limit, bytes per second.
    pub speed: Option<u64>,
    pub mutant: Option<Mutant>,
    /// Seeds per configuration: seed + 0, seed + 1, ... (the same workloads for every policy
    /// and granularity, so they are compared on the same requests).
    pub seeds: u32,
    pub seed: u64,
    /// The most seeds a configuration grows to while its group's pick is unstable (see
    /// `reports/src/recommend/mod.rs`); at most `seeds`, no growth.
    #[serde(default)]
    pub max_seeds: u32,
    /// Whether the report adds the topology panel ([`Sweep::topology_panel`]), as the
    /// built-in report does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_topology_panel: bool,
    /// Whether every run's devices have volatile write caches: each policy then commits its
    /// metadata by its protocol, and the report adds the durability price (each run again
    /// without volatile caches, for the hold latency the commits add). Not written when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub volatile_caches: bool,
    /// With volatile caches: the power fails at this time (ns) in every run, and the
    /// durability price adds what recovery cost. Not written when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_loss_at: Option<u64>,
    pub policies: Vec<PolicyName>,
    pub workloads: Vec<PatternName>,
    pub disks: Vec<DiskName>,
    pub granularity: Granularity,
    pub cost: Cost,
    /// The `[faults]` table's plan, applied to every run (not written when there is none,
    /// so that a sweep without faults reads and writes as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultPlan>,
    /// The error policies swept, with faults (at least one then; none without faults).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "error_policies"
    )]
    pub on_error: Vec<ErrorPolicy>,
    /// The topologies swept: presets of `sim/src/topology/mod.rs` or topology files, a path
    /// relative to the working directory (not to the sweep file). Only `separate` is not
    /// written, so that a sweep without topologies reads and writes as before.
    #[serde(default = "separate_only", skip_serializing_if = "is_separate_only")]
    pub topologies: Vec<String>,
    /// The copy workers swept (`SimConfig::workers`, QEMU's `x-perf.max-workers`): each a
    /// count from 1 to `cowlab_model::spec::MAX_WORKERS`, ascending. Only `[1]` is not
    /// written, so that a sweep without workers reads and writes as before.
    #[serde(
        default = "one_worker_only",
        skip_serializing_if = "is_one_worker_only"
    )]
    pub workers: Vec<u32>,
}

/// The workers of a sweep that names none: one, as the simulator's default.
pub fn one_worker_only() -> Vec<u32> {
    vec![1]
}

fn is_one_worker_only(w: &[u32]) -> bool {
    w == [1]
}

/// Whether a run's worker count is the default one (not written then).
pub(crate) fn is_one_worker(n: &u32) -> bool {
    *n == 1
}

pub(crate) fn one_worker() -> u32 {
    1
}

/// The topologies of a sweep that names none.
pub fn separate_only() -> Vec<String> {
    vec![TopologyPreset::Separate.name().to_string()]
}

fn is_separate_only(t: &[String]) -> bool {
    t == separate_only()
}

/// Powers of two from `from` to `to`.
fn doubling(from: u64, to: u64) -> Vec<u64> {
    std::iter::successors(Some(from), |s| Some(s * 2))
        .take_while(|s| *s <= to)
        .collect()
}

impl Default for Sweep {
    /// The built-in sweep: every policy (offline as the baseline), the four workloads, the
    /// three disk models, three seeds (up to 12 for the contenders of unstable picks); chunks
    /// from 4 KiB to 4 MiB and segments from 32 KiB to 64 MiB, over a 1 GiB volume with
    /// 5,000 writes per run at a rate each disk can serve (the writes last about a third of
    /// an NVMe or SSD copy, and an HDD copy's length); and the topology panel.
    fn default() -> Self {
        Sweep {
            volume: 1 << 30,
            block_size: 4 << 10,
            writes: 5_000,
            rates: BTreeMap::from([
                (DiskName::Nvme, 20_000.0),
                (DiskName::Ssd, 5_000.0),
                (DiskName::Hdd, 200.0),
            ]),
            write_size: "4KiB".into(),
            read_fraction: 0.0,
            image_fraction: 0.0,
            zipf_s: 1.0,
            hot_fraction: 0.9,
            hot_size: 16 << 20,
            order: OrderName::Sequential,
            check: CheckLevel::End,
            queue_depth: QueueDepth::Fixed(1),
            speed: None,
            mutant: None,
            seeds: 3,
            seed: 0,
            max_seeds: 12,
            add_topology_panel: true,
            volatile_caches: false,
            power_loss_at: None,
            policies: policy::builtins()
                .iter()
                .map(|p| PolicyName::of(p.as_ref()))
                .collect(),
            workloads: PatternName::ALL.to_vec(),
            disks: DiskName::ALL.to_vec(),
            granularity: Granularity {
                mode: Mode::Sweeps,
                chunk_sizes: doubling(4 << 10, 4 << 20),
                segment_sizes: doubling(32 << 10, 64 << 20),
                segment_for_chunks: 1 << 20,
                chunk_for_segments: 64 << 10,
            },
            cost: Cost::default(),
            faults: None,
            on_error: Vec::new(),
            topologies: separate_only(),
            workers: one_worker_only(),
        }
    }
}

/// One run of a sweep: which configuration, which seed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    pub policy: PolicyName,
    pub workload: PatternName,
    pub disk: DiskName,
    pub segment: u64,
    pub chunk: u64,
    pub seed: u64,
    /// The error policy, in a sweep with faults.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "error_policy"
    )]
    pub on_error: Option<ErrorPolicy>,
    /// The topology, in a sweep of topologies ([`Sweep::by_topology`]); `None` is
    /// `separate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    /// The copy workers (not written when 1).
    #[serde(default = "one_worker", skip_serializing_if = "is_one_worker")]
    pub workers: u32,
}

/// A job of a sweep: a run, or the copy of a disk, segment size and worker count with no
/// writes (what the cost's `copy_within` compares against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Run(RunKey),
    NoWrites {
        disk: DiskName,
        topology: Option<String>,
        segment: u64,
        workers: u32,
    },
}

impl Sweep {
    /// The most seeds a configuration runs: [`Sweep::max_seeds`], and never fewer than
    /// [`Sweep::seeds`].
    pub fn seed_cap(&self) -> u32 {
        self.max_seeds.max(self.seeds)
    }

    /// The `k`-th seed of a configuration (from 0).
    pub fn nth_seed(&self, k: u64) -> u64 {
        self.seed.wrapping_add(k)
    }

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
            false => self.policies.iter().map(|p| p.to_string()).collect(),
            true => self
                .policies
                .iter()
                .flat_map(|p| {
                    self.on_error
                        .iter()
                        .map(move |e| variant(p.as_str(), Some(&e.to_string())))
                })
                .collect(),
        }
    }

    /// The variant a run belongs to (see [`Sweep::variants`]).
    pub fn variant_of(&self, policy: &PolicyName, on_error: Option<ErrorPolicy>) -> String {
        match self.on_error.len() > 1 {
            false => policy.to_string(),
            true => variant(policy.as_str(), on_error.map(|e| e.to_string()).as_ref()),
        }
    }

    /// Whether the worker count is a dimension of the sweep: more than one is swept. Then
    /// the recommendation names a configuration's workers beside its segment and chunk, and
    /// the report draws its charts against workers; otherwise every output is as without
    /// workers (records of one count other than 1 still carry it).
    pub fn by_workers(&self) -> bool {
        self.workers.len() > 1
    }

    /// Whether any run has a worker count other than 1 (then records carry `workers`).
    pub fn has_workers(&self) -> bool {
        !is_one_worker_only(&self.workers)
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
    /// cost and seeds, every policy, the uniform workload on the ssd, and only the chunk
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
            add_topology_panel: false,
            volatile_caches: false,
            power_loss_at: None,
            workloads: vec![PatternName::Uniform],
            disks: vec![DiskName::Ssd],
            rates: BTreeMap::from([(
                DiskName::Ssd,
                self.rates.get(&DiskName::Ssd).copied().unwrap_or(5_000.0),
            )]),
            granularity: Granularity {
                mode: Mode::Sweeps,
                chunk_sizes: g.chunk_sizes.clone(),
                segment_sizes: vec![segment],
                segment_for_chunks: segment,
                chunk_for_segments: chunk,
            },
            topologies: [
                TopologyPreset::Separate,
                TopologyPreset::Raid5Source,
                TopologyPreset::San,
            ]
            .map(|t| t.name().to_string())
            .to_vec(),
            ..self.clone()
        }
    }

    /// Every job, in a fixed order: the order of results, and what shards split.
    pub fn jobs(&self) -> Vec<Job> {
        let points = self.granularity.points();
        let topologies = self.topology_keys();
        let mut jobs = Vec::new();
        let policies: Vec<Option<ErrorPolicy>> = match self.on_error.is_empty() {
            true => vec![None],
            false => self.on_error.iter().copied().map(Some).collect(),
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
                            for n in &self.workers {
                                for k in 0..self.seeds as u64 {
                                    jobs.push(Job::Run(RunKey {
                                        policy: p.clone(),
                                        workload: *w,
                                        disk: *d,
                                        segment: pt.segment,
                                        chunk: pt.chunk,
                                        seed: self.seed.wrapping_add(k),
                                        on_error: *on_error,
                                        topology: t.clone(),
                                        workers: *n,
                                    }));
                                }
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
                    for n in &self.workers {
                        jobs.push(Job::NoWrites {
                            disk: *d,
                            topology: t.clone(),
                            segment: *s,
                            workers: *n,
                        });
                    }
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
        c.order = self.order;
        c.seed = key.seed;
        c.mutant = self.mutant;
        c.check = Some(self.check);
        if let Some(plan) = &self.faults {
            c.faults = plan.clone();
        }
        if let Some(e) = key.on_error {
            c.on_error = e;
        }
        c.speed = self.speed;
        c.workers = key.workers;
        c.volatile_caches = self.volatile_caches;
        c.power_loss_at = self.power_loss_at.into_iter().collect();
        c.topology = key.topology.as_deref().map(TopologyChoice::named);
        let mut disks = Disks::preset(key.disk);
        disks.queue_depth = self.queue_depth.resolve(key.disk);
        c.disks = disks;
        let w = &mut c.workload;
        w.pattern = key
            .workload
            .pattern(self.zipf_s, self.hot_fraction, self.hot_size);
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
    pub fn no_writes_config(
        &self,
        disk: DiskName,
        topology: Option<&str>,
        segment: u64,
        workers: u32,
    ) -> SimConfig {
        let key = RunKey {
            policy: self.policies[0].clone(),
            workload: PatternName::Uniform,
            disk,
            segment,
            chunk: segment.min(self.granularity.chunk_for_segments),
            seed: self.seed,
            on_error: None,
            topology: topology.map(String::from),
            workers,
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
}

fn variant(policy: &str, on_error: Option<&String>) -> String {
    match on_error {
        Some(e) => format!("{policy} ({e})"),
        None => policy.to_string(),
    }
}

/// A refused sweep file: where, which key, which value, why.
pub type SweepError = FileError;

/// Error policies as sweeps and their results write them: by name (`retry:1`).
pub(crate) mod error_policy {
    use cowlab_model::fault::ErrorPolicy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<ErrorPolicy>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(&p.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ErrorPolicy>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| cowlab_sim::faults::parse_error_policy(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A list of error policies, by name.
mod error_policies {
    use cowlab_model::fault::ErrorPolicy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[ErrorPolicy], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|p| p.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ErrorPolicy>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| cowlab_sim::faults::parse_error_policy(t).map_err(serde::de::Error::custom))
            .collect()
    }
}
