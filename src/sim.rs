//! `cowlab sim`: one timed simulation, its metrics as text or one JSON object.

use crate::{flag_value, CliError};
use cowlab_sim::config::{size_arg, ConfigError, Disks, SimConfig};
use cowlab_sim::device::{DiskName, QueueDepth};
use cowlab_sim::faults;
use cowlab_sim::size::{format_duration, format_size, parse_duration, parse_rate};
use cowlab_sim::topology::TopologyChoice;
use cowlab_sim::workload::{parse_sizes, Arrivals, PatternName, Stop};
use cowlab_sim::{simulate, Progress, SimOutcome};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct Args {
    /// Start from a preset: qemu-backup, qemu-fleecing, lvm-snapshot, mercier (other flags
    /// override it).
    #[arg(long)]
    pub preset: Option<String>,
    /// Copy policy [default: snapshot-overlay].
    #[arg(long)]
    pub policy: Option<String>,
    /// Volume size, e.g. 1GiB, 16TiB [default: 1GiB].
    #[arg(long, allow_hyphen_values = true)]
    pub volume: Option<String>,
    /// Several volumes under one copy engine, by size, e.g. 4GiB,1GiB,2GiB (whole segments
    /// each; --volume defaults to their sum). --order is then the scheduling rule:
    /// round-robin, smallest-first, most-written-first (or any copy order).
    #[arg(long, allow_hyphen_values = true)]
    pub volumes: Option<String>,
    /// Block size [default: 4KiB].
    #[arg(long, allow_hyphen_values = true)]
    pub block_size: Option<String>,
    /// Segment size: the copier's unit, what a worker takes at once (QEMU's
    /// x-perf.max-chunk) [default: 1MiB].
    #[arg(long, visible_alias = "max-chunk", allow_hyphen_values = true)]
    pub segment_size: Option<String>,
    /// Copy-on-write chunk size; must divide the segment [default: 64KiB].
    #[arg(long, allow_hyphen_values = true)]
    pub cow_size: Option<String>,
    /// Copy order: sequential, reverse, random, written-first [default: sequential].
    #[arg(long)]
    pub order: Option<String>,
    /// Where writes land: uniform, zipf, hotspot, sequential [default: uniform].
    #[arg(long, conflicts_with = "trace")]
    pub workload: Option<String>,
    /// Zipf exponent (with --workload zipf) [default: 1.0].
    #[arg(long, conflicts_with = "trace")]
    pub zipf_s: Option<f64>,
    /// Share of requests that go to the hot region (with --workload hotspot) [default: 0.9].
    #[arg(long, conflicts_with = "trace")]
    pub hot_fraction: Option<f64>,
    /// Size of the hot region (with --workload hotspot) [default: 1/100 of the volume].
    #[arg(long, conflicts_with = "trace", allow_hyphen_values = true)]
    pub hot_size: Option<String>,
    /// Write size, or a weighted list such as 4KiB:70,64KiB:30 [default: 4KiB].
    #[arg(long, conflicts_with = "trace", allow_hyphen_values = true)]
    pub write_size: Option<String>,
    /// Share of requests that read [default: 0].
    #[arg(long, conflicts_with = "trace")]
    pub read_fraction: Option<f64>,
    /// Share of reads that read the point-in-time image [default: 0].
    #[arg(long, conflicts_with = "trace")]
    pub image_fraction: Option<f64>,
    /// Number of writes [default: 100000, unless --duration].
    #[arg(long, conflicts_with = "trace")]
    pub writes: Option<u64>,
    /// Stop issuing requests after this much simulated time, e.g. 10s.
    #[arg(long, conflicts_with_all = ["writes", "trace"], allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// Open loop: requests per second, Poisson arrivals [default: 20000].
    #[arg(long, conflicts_with_all = ["writers", "think_time", "trace"], allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// Closed loop: this many writers, each waiting for its previous request.
    #[arg(long, conflicts_with = "trace")]
    pub writers: Option<u32>,
    /// Closed loop: a writer's pause between requests [default: 0].
    #[arg(long, requires = "writers", allow_hyphen_values = true)]
    pub think_time: Option<String>,
    /// Replay a block trace instead of a generated workload (its format: --trace-format):
    /// every request of it, at its time, so the workload's own flags do not go with it.
    #[arg(long)]
    pub trace: Option<String>,
    /// Format of --trace: msr (MSR Cambridge CSV), scsi (time_ns, READ/WRITE(10|16), LBA and
    /// length in --block-size blocks), blkparse (blkparse's default text output; Q events).
    #[arg(long, requires = "trace")]
    pub trace_format: Option<String>,
    /// Device model: nvme, ssd, hdd [default: nvme].
    #[arg(long)]
    pub disk: Option<String>,
    /// Override the device's per-I/O time, e.g. 20us.
    #[arg(long, allow_hyphen_values = true)]
    pub disk_overhead: Option<String>,
    /// Override the device's bandwidth, e.g. 3GB/s or 3e9.
    #[arg(long, allow_hyphen_values = true)]
    pub disk_bandwidth: Option<String>,
    /// Override the device's seek time, e.g. 4ms.
    #[arg(long, allow_hyphen_values = true)]
    pub disk_seek: Option<String>,
    /// I/Os each device serves at once, sharing its bandwidth, or `native`: the --disk
    /// preset's own (nvme 64, ssd 32, hdd 1) [default: 1].
    #[arg(long)]
    pub queue_depth: Option<QueueDepth>,
    /// Source, destination and snapshot on one device (one queue, one head): the `shared`
    /// topology.
    #[arg(long, conflicts_with = "topology")]
    pub shared_disk: bool,
    /// Where the roles' devices are and what an I/O crosses: separate (the default), shared,
    /// raid5-source, san, raid5-san (built of --disk's model), or a TOML file.
    #[arg(long)]
    pub topology: Option<String>,
    /// Copier speed limit, bytes per second, e.g. 100MiB/s (copies made for writes count too).
    #[arg(long, allow_hyphen_values = true)]
    pub speed: Option<String>,
    /// Copy workers: tasks taking segments from one claim structure, each with its own I/O
    /// in flight (QEMU's x-perf.max-workers) [default: 1; 64 with the qemu presets].
    #[arg(long)]
    pub workers: Option<u32>,
    /// Devices have volatile write caches: each policy commits its metadata by its protocol
    /// (flush the data, write the record, flush the metadata), each FLUSH and record a
    /// command to its device; the run reports flushes, records and flushes per second.
    #[arg(long)]
    pub volatile_caches: bool,
    /// Share of generated writes that are FUA (durable when acknowledged) [default: 0].
    #[arg(long)]
    pub fua_fraction: Option<f64>,
    /// A generated FLUSH after every N writes [default: 0, never].
    #[arg(long)]
    pub flush_every: Option<u64>,
    /// The power fails at this simulated time, e.g. 50ms (again for each time given; needs
    /// --volatile-caches): cached writes, process memory and I/O in flight are lost, and the
    /// copy recovers from its durable records after --restart-time.
    #[arg(long, allow_hyphen_values = true)]
    pub power_loss_at: Vec<String>,
    /// How --speed paces the workers: smooth (each read waits its turn at the rate, holding
    /// its claims) or slices[:DURATION] (QEMU's: a byte quota per 100 ms slice, asked before
    /// a segment is taken) [default: smooth; slices with the qemu presets].
    #[arg(long)]
    pub pacing: Option<String>,
    /// Preservations do not count against --speed (the preserver is a component of its
    /// own, as QEMU's fleecing filter) [default: they count, except with qemu-fleecing].
    #[arg(long)]
    pub unpaced_preserver: bool,
    /// CPU time of a metadata step [default: 1us].
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_time: Option<String>,
    /// Invariant checking: every-step, end, off [default: by volume size].
    #[arg(long)]
    pub check: Option<String>,
    /// Switch on a mutant of the catalogue.
    #[arg(long)]
    pub mutant: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bytes the snapshot store (or cache) can hold, e.g. 64KiB (whole blocks, rounded down).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "store_blocks")]
    pub store_capacity: Option<String>,
    /// The first retry's wait; each further retry waits twice as long [default: 1ms].
    #[arg(long, allow_hyphen_values = true)]
    pub retry_backoff: Option<String>,
    /// How long the copier is down after a crash [default: 100ms].
    #[arg(long, allow_hyphen_values = true)]
    pub restart_time: Option<String>,
    /// The fault flags `replay` takes too (they add to --fault-plan's).
    #[command(flatten)]
    pub faults: crate::fault_flags::FaultFlags,
    /// A TOML fault plan (seed, on_error, store_capacity, crash_at, [[fail]] tables); the
    /// fault flags add to it.
    #[arg(long)]
    pub fault_plan: Option<String>,
    /// Print one JSON object: the metrics and the configuration.
    #[arg(long)]
    pub json: bool,
}

fn usage(e: ConfigError) -> CliError {
    CliError::usage(e.to_string())
}

fn fraction(flag: &str, v: Option<f64>, default: f64) -> Result<f64, CliError> {
    let v = v.unwrap_or(default);
    match (0.0..=1.0).contains(&v) {
        true => Ok(v),
        false => Err(usage(ConfigError::new(flag, v, "must be between 0 and 1"))),
    }
}

fn duration_arg(flag: &str, text: &str) -> Result<u64, CliError> {
    parse_duration(text).map_err(|e| usage(ConfigError::new(flag, text, e)))
}

/// A bandwidth in whole bytes per second: below one it would round to 0, which `spec`
/// then refuses as "0" rather than as the value given.
fn bytes_per_second(flag: &str, text: &str) -> Result<u64, CliError> {
    let rate = parse_rate(text).map_err(|e| usage(ConfigError::new(flag, text, e)))?;
    match rate >= 1.0 {
        true => Ok(rate as u64),
        false => Err(usage(ConfigError::new(
            flag,
            text,
            "less than one byte per second",
        ))),
    }
}

/// The configuration the flags describe: defaults, then the preset, then every flag given.
pub fn config(a: &Args) -> Result<SimConfig, CliError> {
    let mut c = SimConfig::default();
    if let Some(p) = &a.preset {
        c = c.preset(flag_value("--preset", p)?);
    }
    let size = |flag: &str, v: &Option<String>| -> Result<Option<u64>, CliError> {
        v.as_deref()
            .map(|t| size_arg(flag, t).map_err(usage))
            .transpose()
    };
    if let Some(v) = size("--block-size", &a.block_size)? {
        c = c.with_block_size(v);
    }
    if let Some(list) = &a.volumes {
        c.volumes = list
            .split(',')
            .map(|t| size_arg("--volumes", t.trim()).map_err(usage))
            .collect::<Result<_, _>>()?;
        let total = c.volumes.iter().try_fold(0u64, |a, v| a.checked_add(*v));
        let total = total.ok_or_else(|| {
            usage(ConfigError::new(
                "--volumes",
                list,
                "adds up past 2^64 bytes",
            ))
        })?;
        c = c.with_volume(total);
    }
    if let Some(v) = size("--volume", &a.volume)? {
        c = c.with_volume(v);
    }
    c.segment_size = size("--segment-size", &a.segment_size)?.unwrap_or(c.segment_size);
    c.cow_size = size("--cow-size", &a.cow_size)?.unwrap_or(c.cow_size);
    if let Some(p) = &a.policy {
        c.policy = flag_value("--policy", p)?;
    }
    if let Some(o) = &a.order {
        c.order = flag_value("--order", o)?;
    }
    c.seed = a.seed;
    c.mutant = a
        .mutant
        .as_deref()
        .map(|m| flag_value("--mutant", m))
        .transpose()?;
    c.trace = a.trace.clone();
    if a.topology.is_some() {
        c.topology = a.topology.as_deref().map(TopologyChoice::named);
    }
    if let Some(name) = &a.trace_format {
        c.trace_format = flag_value("--trace-format", name)?;
    }
    let w = &mut c.workload;
    let pattern = match &a.workload {
        Some(name) => flag_value("--workload", name)?,
        None => PatternName::Uniform,
    };
    // Each pattern's parameters are read (and refused) only with it.
    w.pattern = match pattern {
        PatternName::Zipf => pattern.pattern(a.zipf_s.unwrap_or(1.0), 0.0, 0),
        PatternName::Hotspot => pattern.pattern(
            0.0,
            fraction("--hot-fraction", a.hot_fraction, 0.9)?,
            size("--hot-size", &a.hot_size)?
                // checked_div: a block size of 0 is refused by name later, in `spec`.
                .unwrap_or(
                    (c.volume / 100)
                        .checked_div(c.block_size)
                        .unwrap_or(0)
                        .max(1)
                        .saturating_mul(c.block_size),
                ),
        ),
        PatternName::Uniform | PatternName::Sequential => pattern.pattern(0.0, 0.0, 0),
    };
    if let Some(s) = &a.write_size {
        w.sizes =
            parse_sizes(s).map_err(|e| usage(ConfigError::new("--write-size", s, e.reason)))?;
    }
    w.read_fraction = fraction("--read-fraction", a.read_fraction, 0.0)?;
    w.image_fraction = fraction("--image-fraction", a.image_fraction, 0.0)?;
    w.stop = match (&a.duration, a.writes) {
        (Some(d), _) => Stop::Duration(duration_arg("--duration", d)?),
        (None, n) => Stop::Writes(n.unwrap_or(100_000)),
    };
    w.arrivals = match a.writers {
        Some(writers) => Arrivals::Closed {
            writers,
            think_ns: match &a.think_time {
                Some(t) => duration_arg("--think-time", t)?,
                None => 0,
            },
        },
        None => Arrivals::Open {
            rate: match &a.rate {
                Some(r) => parse_rate(r).map_err(|e| usage(ConfigError::new("--rate", r, e)))?,
                None => 20_000.0,
            },
        },
    };
    c.disks = disks(a)?;
    if let Some(s) = &a.speed {
        c.speed = Some(bytes_per_second("--speed", s)?);
    }
    if let Some(n) = a.workers {
        c.workers = n;
    }
    c.volatile_caches |= a.volatile_caches;
    if a.fua_fraction.is_some() {
        c.guest.fua_fraction = fraction("--fua-fraction", a.fua_fraction, 0.0)?;
    }
    if let Some(n) = a.flush_every {
        c.guest.flush_every = n;
    }
    for t in &a.power_loss_at {
        c.power_loss_at.push(duration_arg("--power-loss-at", t)?);
    }
    c.power_loss_at.sort_unstable();
    if let Some(p) = &a.pacing {
        c.pacing = p
            .parse()
            .map_err(|e: String| usage(ConfigError::new("--pacing", p, e)))?;
    }
    if a.unpaced_preserver {
        c.preserver_paced = false;
    }
    if let Some(t) = &a.cpu_time {
        c.cpu_ns = duration_arg("--cpu-time", t)?;
    }
    fault_flags(a, &mut c)?;
    if let Some(level) = &a.check {
        c.check = Some(flag_value("--check", level)?);
    }
    Ok(c)
}

/// The fault plan: the `--fault-plan` file's, then each fault flag (errors and crashes add
/// to the file's, the others replace its values).
fn fault_flags(a: &Args, c: &mut SimConfig) -> Result<(), CliError> {
    let bs = c.block_size;
    // A zero or non-dividing geometry is refused by name later, in `spec`.
    let volume_blocks = c.volume.checked_div(bs).unwrap_or(0);
    if let Some(path) = &a.fault_plan {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(ConfigError::new("--fault-plan", path, e)))?;
        let f = faults::parse(&text, path, bs, volume_blocks)
            .map_err(|e| CliError::usage(e.to_string()))?;
        c.faults = f.plan;
        c.on_error = f.on_error.unwrap_or(c.on_error);
    }
    if let Some(text) = &a.store_capacity {
        let bytes = size_arg("--store-capacity", text).map_err(usage)?;
        let blocks = faults::store_blocks(bytes, bs)
            .map_err(|reason| usage(ConfigError::new("--store-capacity", text, reason)))?;
        c.faults.store_blocks = Some(blocks);
    }
    a.faults
        .apply(&mut c.faults, &mut c.on_error, volume_blocks)?;
    if let Some(t) = &a.retry_backoff {
        c.retry_backoff_ns = duration_arg("--retry-backoff", t)?;
    }
    if let Some(t) = &a.restart_time {
        c.restart_ns = duration_arg("--restart-time", t)?;
    }
    Ok(())
}

/// The fault flags that replay a run's plan (empty without one).
pub fn fault_flags_text(c: &SimConfig) -> String {
    if c.faults.is_empty() {
        return String::new();
    }
    let mut flags = format!("{} --on-error {}", c.faults, c.on_error);
    let d = SimConfig::default();
    if c.retry_backoff_ns != d.retry_backoff_ns {
        flags.push_str(&format!(
            " --retry-backoff {}",
            duration_text(c.retry_backoff_ns)
        ));
    }
    if c.restart_ns != d.restart_ns {
        flags.push_str(&format!(" --restart-time {}", duration_text(c.restart_ns)));
    }
    flags
}

/// A duration as a flag's value: `5ms` when that reads back exactly, else nanoseconds.
fn duration_text(ns: u64) -> String {
    let short = format_duration(ns).replace(' ', "");
    match parse_duration(&short) {
        Ok(back) if back == ns => short,
        _ => format!("{ns}ns"),
    }
}

fn disks(a: &Args) -> Result<Disks, CliError> {
    let name = match &a.disk {
        Some(name) => flag_value("--disk", name)?,
        None => DiskName::Nvme,
    };
    let mut d = Disks::preset(name);
    if let Some(t) = &a.disk_overhead {
        d.model.overhead_ns = duration_arg("--disk-overhead", t)?;
    }
    if let Some(t) = &a.disk_seek {
        d.model.seek_ns = duration_arg("--disk-seek", t)?;
    }
    if let Some(b) = &a.disk_bandwidth {
        d.model.bandwidth = bytes_per_second("--disk-bandwidth", b)?;
    }
    d.queue_depth = a.queue_depth.map_or(1, |q| q.resolve(name));
    d.shared = a.shared_disk;
    Ok(d)
}

/// Shows progress on stderr once a run has taken a second: a bar on a terminal, otherwise a
/// plain line then and every five seconds after.
struct Reporter {
    began: Instant,
    /// When the last plain line was printed.
    last: Option<Instant>,
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
}

impl Reporter {
    fn new() -> Self {
        Reporter {
            began: Instant::now(),
            last: None,
            bar: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn report(&mut self, p: &Progress) {
        if self.began.elapsed() < Duration::from_secs(1) {
            return;
        }
        let line = format!(
            "simulated {}, {} events, copy {:.1}% done",
            format_duration(p.now_ns),
            p.events,
            100.0 * p.segments_done as f64 / p.segments.max(1) as f64
        );
        if self.terminal {
            let bar = self.bar.get_or_insert_with(|| {
                let bar = indicatif::ProgressBar::new(p.segments as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {msg}")
                        .expect("a valid template"),
                );
                bar
            });
            bar.set_position(p.segments_done as u64);
            bar.set_message(line);
        } else if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            self.last = Some(Instant::now());
            eprintln!("{line}");
        }
    }

    fn done(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn run(a: &Args) -> Result<u8, CliError> {
    let config = config(a)?;
    // Bad input first, then the warning about good input.
    config.spec().map_err(usage)?;
    if let Some((offered, served)) = config.saturation() {
        eprintln!(
            "warning: {offered:.0} requests/s is more than one {} serves (about {served:.0}/s): requests will queue for the whole run, and the copy with them; see --rate",
            config.disks.name
        );
    }
    let mut reporter = Reporter::new();
    let outcome = simulate(&config, &mut |p| reporter.report(p));
    reporter.done();
    let outcome = outcome.map_err(|e| CliError::usage(e.to_string()))?;
    match a.json {
        true => println!("{}", json(&config, &outcome)),
        false => print!("{}", text(&config, &outcome)),
    }
    Ok(if outcome.failure.is_some() { 1 } else { 0 })
}

/// One JSON object: every metric at the top level, the configuration under `config`.
pub fn json(config: &SimConfig, outcome: &SimOutcome) -> String {
    let mut object = serde_json::to_value(&outcome.metrics).expect("metrics serialise");
    object["config"] = serde_json::to_value(config).expect("the configuration serialises");
    object["fault_plan"] = serde_json::Value::String(fault_flags_text(config));
    if !outcome.volume_seconds.is_empty() {
        object["volume_seconds"] = serde_json::to_value(&outcome.volume_seconds).expect("numbers");
    }
    object.to_string()
}

fn text(c: &SimConfig, o: &SimOutcome) -> String {
    let m = &o.metrics;
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    let mut out = format!(
        "policy {}, volume {}, blocks {}, segments {}, chunks {}, order {}, disk {}{}, seed {}, check {}\n",
        c.policy,
        format_size(c.volume),
        format_size(c.block_size),
        format_size(c.segment_size),
        format_size(c.cow_size),
        c.order,
        c.disks.name,
        if c.disks.shared { " (shared)" } else { "" },
        c.seed,
        o.check
    );
    let rows: [(&str, String); 17] = [
        ("copy time", format!("{:.6} s", m.copy_seconds)),
        ("copier read", format_size(m.copier_bytes_read)),
        ("copier wrote", format_size(m.copier_bytes_written)),
        ("preserved", format_size(m.preserved_bytes)),
        ("write amplification", opt(m.write_amplification)),
        ("cow amplification", opt(m.cow_amplification)),
        ("snapshot peak", format_size(m.snapshot_peak_bytes)),
        ("map", format_size(m.map_bytes)),
        ("writes", m.writes.to_string()),
        ("held writes", m.held_writes.to_string()),
        ("hold p50", format!("{:.1} us", m.hold_p50_us)),
        ("hold p99", format!("{:.1} us", m.hold_p99_us)),
        ("hold p99.9", format!("{:.1} us", m.hold_p999_us)),
        ("hold max", format!("{:.1} us", m.hold_max_us)),
        ("hold queue max", m.queue_depth_max.to_string()),
        ("throughput ratio", opt(m.throughput_ratio)),
        ("invariants", m.invariants.clone()),
    ];
    for (name, value) in rows {
        out.push_str(&format!("{name:<20} {value}\n"));
    }
    if let Some(d) = &m.durability {
        let rows = [
            ("flushes", d.flushes.to_string()),
            ("flushes per second", format!("{:.1}", d.flushes_per_second)),
            ("metadata records", d.records.to_string()),
        ];
        let power = [
            ("power losses", d.power_losses.to_string()),
            ("dropped requests", d.dropped_requests.to_string()),
            ("recopied", format_size(d.recopied_bytes)),
            ("recovery time", format!("{:.6} s", d.recovery_seconds)),
        ];
        let rows = rows
            .into_iter()
            .chain(power.into_iter().filter(|_| d.power_losses > 0));
        for (name, value) in rows {
            out.push_str(&format!("{name:<20} {value}\n"));
        }
    }
    if !c.faults.is_empty() {
        let rows: [(&str, String); 7] = [
            ("on error", c.on_error.to_string()),
            ("failed copies", m.failed_copies.to_string()),
            ("failed writes", m.failed_writes.to_string()),
            ("retries", m.retries.to_string()),
            ("I/O errors", m.io_errors.to_string()),
            ("restarts", m.restarts.to_string()),
            ("restart time", format!("{:.6} s", m.restart_seconds)),
        ];
        for (name, value) in rows {
            out.push_str(&format!("{name:<20} {value}\n"));
        }
        out.push_str(&format!("faults: {}\n", fault_flags_text(c)));
    }
    for (name, l) in &o.links {
        let busy = l.busy_ns as f64 / 1e9;
        out.push_str(&format!(
            "{:<20} {} in {} transfers, busy {busy:.6} s\n",
            format!("link {name}"),
            format_size(l.bytes),
            l.transfers
        ));
    }
    for (v, t) in o.volume_seconds.iter().enumerate() {
        let size = format_size(c.volumes[v]);
        out.push_str(&format!(
            "{:<20} {t:.6} s ({size})\n",
            format!("volume {v} copied")
        ));
    }
    out.push_str(&format!("{} steps, {} events\n", o.steps, o.events));
    if let Some(f) = &o.failure {
        out.push_str(&format!(
            "\nviolated at {:.6} s of simulated time; the last steps:\n",
            f.at_ns as f64 / 1e9
        ));
        for l in &f.last_steps {
            out.push_str(&format!("  {l}\n"));
        }
        let faults = match c.faults.is_empty() {
            true => String::new(),
            false => format!(" {}", fault_flags_text(c)),
        };
        out.push_str(&format!(
            "{}\nreplay: the same flags with --seed {}{faults}\n",
            f.violation, c.seed
        ));
    }
    out
}
