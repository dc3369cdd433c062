//! The parser of a sweep file: TOML over the built-in sweep, every value read by its
//! type's one parser, every refusal naming the file, the line, the key and the value.

use super::{Cost, Granularity, Mode, RunKey, Sweep, SweepError, COST_METRICS};
use cowlab_model::names::{Named, UnknownName};
use cowlab_model::spec::MAX_WORKERS;
use cowlab_model::{Mutant, OrderName, PolicyName};
use cowlab_sim::config::{CheckLevel, Field, WorkloadField};
use cowlab_sim::device::{DiskName, QueueDepth};
use cowlab_sim::faults::{parse_error_policy, FaultsTable};
use cowlab_sim::size::{format_size, parse_duration, parse_rate, parse_size};
use cowlab_sim::tomlfile;
use cowlab_sim::workload::{parse_sizes, PatternName};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

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
    /// A whole number or "native" (`sim/src/device.rs`, `QueueDepth`).
    queue_depth: Option<Spanned<toml::Value>>,
    speed: Option<Spanned<String>>,
    mutant: Option<Spanned<String>>,
    seeds: Option<Spanned<u32>>,
    max_seeds: Option<Spanned<u32>>,
    seed: Option<Spanned<u64>>,
    topology_panel: Option<Spanned<bool>>,
    volatile_caches: Option<Spanned<bool>>,
    power_loss_at: Option<Spanned<String>>,
    policies: Option<Spanned<Vec<Spanned<String>>>>,
    workloads: Option<Spanned<Vec<Spanned<String>>>>,
    disks: Option<Spanned<Vec<Spanned<String>>>>,
    granularity: Option<GranularityFile>,
    cost: Option<CostFile>,
    faults: Option<FaultsTable>,
    on_error: Option<Spanned<Vec<Spanned<String>>>>,
    topologies: Option<Spanned<Vec<Spanned<String>>>>,
    workers: Option<Spanned<Vec<Spanned<i64>>>>,
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
    tie_within: Option<Spanned<f64>>,
}

/// Reads a sweep file over the defaults; `file` names it in errors and `policies` are the
/// policy names it may use (the built-in ones, and a caller's own).
pub fn parse(text: &str, file: &str, policies: &[String]) -> Result<Sweep, SweepError> {
    let doc = SweepText { text, file };
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
        s.order = doc.named::<OrderName>(v, "order")?;
    }
    if let Some(v) = &f.check {
        s.check = doc.named::<CheckLevel>(v, "check")?;
    }
    if let Some(v) = &f.queue_depth {
        // Its rule (at least 1) is the run configuration's, refused in this key's name.
        // A number as written, or a string ("native"), read by `QueueDepth`'s one parser.
        let text = match v.get_ref() {
            toml::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        s.queue_depth = text
            .parse::<QueueDepth>()
            .map_err(|e| doc.at(v.span(), "queue_depth", e))?;
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
        s.mutant = Some(doc.named::<Mutant>(v, "mutant")?);
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
    match &f.max_seeds {
        Some(v) if *v.get_ref() < s.seeds => {
            let reason = format!("must be at least seeds ({})", s.seeds);
            return Err(doc.at(v.span(), "max_seeds", reason));
        }
        Some(v) => s.max_seeds = *v.get_ref(),
        // A file that sets its seeds and not how far they grow runs the seeds it set.
        None if f.seeds.is_some() => s.max_seeds = s.seeds,
        None => {}
    }
    // A file asks for the panel; the built-in report has it.
    s.add_topology_panel = f.topology_panel.as_ref().is_some_and(|v| *v.get_ref());
    s.volatile_caches = f.volatile_caches.as_ref().is_some_and(|v| *v.get_ref());
    if let Some(v) = &f.power_loss_at {
        // A duration, written as on the command line: "50ms".
        let at = parse_duration(v.get_ref()).map_err(|e| doc.at(v.span(), "power_loss_at", e))?;
        if !s.volatile_caches {
            let reason =
                "a power loss needs devices with volatile caches: set volatile_caches = true";
            return Err(doc.at(v.span(), "power_loss_at", reason));
        }
        s.power_loss_at = Some(at);
    }
    let known: Vec<&str> = policies.iter().map(|p| p.as_str()).collect();
    if let Some(v) = &f.policies {
        s.policies = doc.names(v, "policies", "policy", |t| PolicyName::among(t, &known))?;
    }
    if let Some(v) = &f.workloads {
        s.workloads = doc.names(v, "workloads", "workload", str::parse::<PatternName>)?;
    }
    if let Some(v) = &f.disks {
        s.disks = doc.names(v, "disks", "disk", str::parse::<DiskName>)?;
    }
    if let Some(v) = &f.rates {
        let mut rates = BTreeMap::new();
        for (disk, rate) in v.get_ref() {
            let key = format!("rates.{disk}");
            // A rate for a disk no sweep can run would be kept and written back as a key
            // the file cannot hold (`to_toml` writes the names bare).
            let disk: DiskName = disk.parse().map_err(|e| doc.at(rate.span(), &key, e))?;
            let r = *rate.get_ref();
            if !(r.is_finite() && r > 0.0) {
                return Err(doc.at(
                    rate.span(),
                    &key,
                    "must be a positive number of requests per second",
                ));
            }
            rates.insert(disk, r);
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
    if let Some(v) = &f.workers {
        s.workers = doc.workers(v)?;
    }
    doc.geometry(&s, &f)?;
    Ok(s)
}

/// A metric a cost can name.
fn metric(text: &str) -> Result<(), UnknownName> {
    match COST_METRICS.contains(&text) {
        true => Ok(()),
        false => Err(UnknownName::new(
            "metric",
            text,
            COST_METRICS.iter().copied(),
        )),
    }
}

/// Reads a size value of the file (refusing zero), naming its key in errors.
type SizeOf<'a> = dyn Fn(&Spanned<String>, &str) -> Result<u64, SweepError> + 'a;

/// The text of a sweep file, to point at its lines.
struct SweepText<'a> {
    text: &'a str,
    file: &'a str,
}

impl SweepText<'_> {
    /// An error at a value's place.
    fn at(&self, span: std::ops::Range<usize>, key: &str, reason: impl ToString) -> SweepError {
        tomlfile::SourceText::new(self.text, self.file).at(span, key, reason)
    }

    fn toml_error(&self, e: &toml::de::Error) -> SweepError {
        tomlfile::SourceText::new(self.text, self.file).toml_error(e)
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
            single = r.on_error;
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
                let p = parse_error_policy(v.get_ref())
                    .map_err(|e| self.at(v.span(), "on_error", e))?;
                // `retry:1:break-guest-write` and `retry:1` are one policy.
                if s.on_error.contains(&p) {
                    return Err(self.at(v.span(), "on_error", "error policy listed twice"));
                }
                s.on_error.push(p);
            }
        }
        if s.faults.is_some() && s.on_error.is_empty() {
            s.on_error = vec![single.unwrap_or_default()];
        }
        Ok(())
    }

    /// The `topologies` list: each a preset, or a topology file (read relative to the
    /// working directory) that `sim/src/topology/` accepts with every disk of the sweep.
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
                    workload: s.workloads[0],
                    disk: *d,
                    segment: s.granularity.segment_for_chunks,
                    chunk: s.granularity.chunk_for_segments,
                    seed: s.seed,
                    on_error: None,
                    topology: Some(name.clone()),
                    workers: 1,
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

    /// The `workers` list: counts of copy workers from 1 to [`MAX_WORKERS`], none twice,
    /// run in ascending order.
    fn workers(&self, list: &Spanned<Vec<Spanned<i64>>>) -> Result<Vec<u32>, SweepError> {
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), "workers", "must list at least one count"));
        }
        let mut out: Vec<u32> = Vec::new();
        for v in list.get_ref() {
            let n = match u32::try_from(*v.get_ref()) {
                Ok(n) if (1..=MAX_WORKERS).contains(&n) => n,
                _ => {
                    let reason = format!("must be from 1 to {MAX_WORKERS} (copy workers)");
                    return Err(self.at(v.span(), "workers", reason));
                }
            };
            if out.contains(&n) {
                return Err(self.at(v.span(), "workers", "listed twice"));
            }
            out.push(n);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// A value of a type with a fixed set of names, read by the type's own parser.
    fn named<T: Named + std::str::FromStr<Err = UnknownName>>(
        &self,
        v: &Spanned<String>,
        key: &str,
    ) -> Result<T, SweepError> {
        v.get_ref().parse().map_err(|e| self.at(v.span(), key, e))
    }

    /// A list of names, each read by `parse`, none twice.
    fn names<T: PartialEq>(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, UnknownName>,
    ) -> Result<Vec<T>, SweepError> {
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), key, format!("must name at least one {what}")));
        }
        let mut out: Vec<T> = Vec::new();
        for v in list.get_ref() {
            let name = parse(v.get_ref()).map_err(|e| self.at(v.span(), key, e))?;
            if out.contains(&name) {
                return Err(self.at(v.span(), key, format!("{what} listed twice")));
            }
            out.push(name);
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
            g.mode = self.named::<Mode>(v, "granularity.mode")?;
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
            metric(v.get_ref()).map_err(|e| self.at(v.span(), "cost.minimize", e))?;
            c.minimize = v.get_ref().clone();
        }
        if let Some(w) = &f.weights {
            for (metric, weight) in w {
                let key = format!("cost.weights.{metric}");
                self::metric(metric).map_err(|e| self.at(weight.span(), &key, e))?;
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
        if let Some(v) = &f.tie_within {
            let x = *v.get_ref();
            if !(0.0..1.0).contains(&x) {
                return Err(self.at(
                    v.span(),
                    "cost.tie_within",
                    "must be at least 0 and less than 1 (a share of the best's cost)",
                ));
            }
            c.tie_within = x;
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
        let most_workers = s.workers.iter().copied().max().unwrap_or(1);
        let tried = s
            .workloads
            .iter()
            .flat_map(|w| points.iter().map(move |p| (w, p)));
        for (w, p) in tried {
            let key = RunKey {
                policy: s.policies[0].clone(),
                workload: *w,
                disk: s.disks[0],
                segment: p.segment,
                chunk: p.chunk,
                seed: s.seed,
                on_error: None,
                topology: None,
                // The most workers: what a fault plan may refuse (a crash needs one).
                workers: most_workers,
            };
            let mut c = s.config(&key);
            // A policy of the caller's own is not known here; the geometry is the same.
            c.policy = PolicyName::of(&cowlab_model::policy::SnapshotOverlay);
            let Err(e) = c.spec() else { continue };
            let workers_span = || {
                f.workers.as_ref().and_then(|l| {
                    l.get_ref()
                        .iter()
                        .find(|x| *x.get_ref() == i64::from(most_workers))
                        .map(|x| x.span())
                })
            };
            let (key, span) = match &e.field {
                Field::Workers => ("workers", workers_span()),
                Field::CrashAt if most_workers > 1 && f.workers.is_some() => {
                    let reason = format!(
                        "{} workers with a copier crash in the fault plan: {}",
                        most_workers, e.reason
                    );
                    let span = workers_span().unwrap_or(0..0);
                    return Err(self.at(span, "workers", reason));
                }
                Field::CowSize => (
                    "granularity.chunk_sizes",
                    item(g.and_then(|g| g.chunk_sizes.as_ref()), p.chunk),
                ),
                Field::SegmentSize => (
                    "granularity.segment_sizes",
                    item(g.and_then(|g| g.segment_sizes.as_ref()), p.segment),
                ),
                Field::Volume if p.segment > s.volume => (
                    "granularity.segment_sizes",
                    item(g.and_then(|g| g.segment_sizes.as_ref()), p.segment),
                ),
                field => key_of(f, field),
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
            let mut err = self.at(span.clone().unwrap_or(0..0), key, reason);
            if span.is_none() {
                err.value = format!("{} (the default)", e.value);
            }
            return Err(err);
        }
        Ok(())
    }
}

/// The key of the file that sets a field of a run's configuration, and where it stands if
/// it was given.
fn key_of<'a>(f: &File, field: &'a Field) -> (&'a str, Option<std::ops::Range<usize>>) {
    let s = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.span());
    let n = |v: &Option<Spanned<f64>>| v.as_ref().map(|v| v.span());
    let list = |v: &Option<Spanned<Vec<Spanned<String>>>>| v.as_ref().map(|v| v.span());
    match field {
        Field::Volume => ("volume", s(&f.volume)),
        Field::BlockSize => ("block_size", s(&f.block_size)),
        Field::Speed => ("speed", s(&f.speed)),
        Field::Mutant => ("mutant", s(&f.mutant)),
        Field::Check => ("check", s(&f.check)),
        Field::QueueDepth => ("queue_depth", f.queue_depth.as_ref().map(|v| v.span())),
        Field::Policy => ("policies", list(&f.policies)),
        Field::Topology => ("topologies", list(&f.topologies)),
        Field::Workers => ("workers", f.workers.as_ref().map(|v| v.span())),
        Field::Fail | Field::CrashAt => ("faults", None),
        Field::Workload(w) => match w {
            WorkloadField::Sizes => ("write_size", s(&f.write_size)),
            WorkloadField::HotSize => ("hot_size", s(&f.hot_size)),
            WorkloadField::HotFraction => ("hot_fraction", n(&f.hot_fraction)),
            WorkloadField::ZipfS => ("zipf_s", n(&f.zipf_s)),
            WorkloadField::ReadFraction => ("read_fraction", n(&f.read_fraction)),
            WorkloadField::ImageFraction => ("image_fraction", n(&f.image_fraction)),
            WorkloadField::Rate => ("rates", f.rates.as_ref().map(|v| v.span())),
            WorkloadField::Writers | WorkloadField::Whole => ("workloads", list(&f.workloads)),
        },
        // Not set by a sweep file: no run of a sweep has them.
        Field::Volumes
        | Field::SegmentSize
        | Field::CowSize
        | Field::DiskBandwidth
        | Field::Pacing => (field.flag(), None),
        Field::Flag(flag) => (flag.as_str(), None),
    }
}
