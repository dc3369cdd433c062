//! The writer of a sweep: the sweep as a sweep file, every key with a comment (what
//! `cowlab report --print-default-config` prints, and what [`super::parse`] reads back).

use super::Sweep;
use cowlab_model::fault::{FaultPlan, When};
use cowlab_model::spec::MAX_WORKERS;
use cowlab_sim::device::QueueDepth;
use cowlab_sim::size::format_size;
use cowlab_sim::tomlfile::toml_string;
use cowlab_sim::topology::PRESETS;

impl Sweep {
    /// The sweep as a sweep file (what `--print-default-config` writes): every key, with a
    /// comment on each.
    pub fn to_toml(&self) -> String {
        fn list<T: std::fmt::Display>(v: &[T]) -> String {
            let quoted: Vec<String> = v.iter().map(|s| toml_string(&s.to_string())).collect();
            format!("[{}]", quoted.join(", "))
        }
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
        out.push_str(&format!("order = {:?}\n", self.order.to_string()));
        out.push_str("# Invariant checking per run: every-step, end, off.\n");
        out.push_str(&format!("check = {:?}\n", self.check.to_string()));
        out.push_str(&format!(
            "queue_depth = {}\n",
            match self.queue_depth {
                QueueDepth::Fixed(n) => n.to_string(),
                QueueDepth::Native => "\"native\"".into(),
            }
        ));
        out.push_str("# Copier speed limit, e.g. \"100MiB/s\".\n");
        out.push_str(&optional(
            "speed",
            self.speed
                .map(|s| format!("{:?}", format!("{}/s", size_text(s)))),
        ));
        out.push_str("# A mutant of the catalogue, to see a violation reported.\n");
        out.push_str(&optional(
            "mutant",
            self.mutant.map(|m| format!("{:?}", m.to_string())),
        ));
        out.push_str("# Seeds per configuration: seed, seed + 1, ... (`--seed` sets the first).\n");
        out.push_str(&format!("seeds = {}\nseed = {}\n", self.seeds, self.seed));
        out.push_str(
            "# While a pick is unstable over resamples of its seeds, its contenders run `seeds`\n",
        );
        out.push_str("# more seeds each round, up to this many.\n");
        out.push_str(&format!("max_seeds = {}\n", self.seed_cap()));
        out.push_str(&format!("policies = {}\n", list(&self.policies)));
        out.push_str(&format!("workloads = {}\n", list(&self.workloads)));
        out.push_str(&format!("disks = {}\n", list(&self.disks)));
        if self.by_topology() {
            out.push_str("# Topologies swept: presets (");
            out.push_str(&PRESETS.join(", "));
            out.push_str(") or topology files,\n# a path relative to the working directory.\n");
            out.push_str(&format!("topologies = {}\n", list(&self.topologies)));
        }
        out.push_str("# Add the topology panel: every policy's chunk sweep on a plain disk, a RAID-5 source\n");
        out.push_str("# and a SAN (the uniform workload on the ssd).\n");
        out.push_str(&format!("topology_panel = {}\n", self.add_topology_panel));
        if self.volatile_caches {
            out.push_str(
                "# Devices with volatile write caches: every policy commits its metadata by its\n",
            );
            out.push_str("# protocol; the report adds the durability price.\n");
            out.push_str("volatile_caches = true\n");
            if let Some(at) = self.power_loss_at {
                out.push_str("# The power fails at this time in every run.\n");
                let text = cowlab_sim::size::format_duration(at).replace(' ', "");
                out.push_str(&format!("power_loss_at = {text:?}\n"));
            }
        }
        if self.has_workers() {
            out.push_str(
                "# Copy workers swept: tasks taking segments from one claim structure (QEMU's\n",
            );
            out.push_str("# x-perf.max-workers), each count from 1 to ");
            out.push_str(&format!("{MAX_WORKERS}.\n"));
            let counts: Vec<String> = self.workers.iter().map(|n| n.to_string()).collect();
            out.push_str(&format!("workers = [{}]\n", counts.join(", ")));
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
        out.push_str(&format!("mode = {:?}\n", g.mode.to_string()));
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
        out.push_str(
            "# Configurations within this share of the best's cost are tied with it whatever the\n",
        );
        out.push_str(
            "# seeds say; a tie goes to the fewest extra device bytes per byte written.\n",
        );
        out.push_str(&format!("tie_within = {:?}\n", c.tie_within));
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

/// A size as a sweep file writes it: `4KiB`, `1536B`.
pub fn size_text(bytes: u64) -> String {
    format_size(bytes).replace(' ', "")
}
