//! `cowlab qemu`: one run of QEMU's real backup job (or fleecing, or a negative control)
//! under a simulator workload and fault plan, judged by cowlab's invariants, beside
//! `cowlab sim`'s prediction of the same run.

use crate::{sim, CliError};
use cowlab_qemu::check::Status;
use cowlab_qemu::compare::{self, show, show_error};
use cowlab_qemu::config::{Copy, QemuConfig};
use cowlab_qemu::daemon::DaemonError;
use cowlab_qemu::{QemuError, RealOutcome};
use cowlab_sim::config::ConfigError;
use cowlab_sim::size::{format_size, parse_duration};
use cowlab_sim::{simulate, Metrics, SimConfig};

/// What `cowlab qemu` uses where `cowlab sim` has another default.
const DEFAULTS: [(&str, &str); 6] = [
    ("--preset", "qemu-backup"),
    ("--volume", "64MiB"),
    ("--writes", "300"),
    ("--rate", "100"),
    ("--write-size", "4KiB:40,16KiB:30,64KiB:20,128KiB:10"),
    ("--speed", "16MiB/s"),
];

#[derive(clap::Args, Debug)]
#[group(id = "QemuArgs")]
#[command(
    mut_arg("preset", |a| a.help("qemu-backup (QEMU's backup job: out-of-turn) or qemu-fleecing (a copy-before-write filter, snapshot-access and a backup job from it: snapshot-redirect) [default: qemu-backup]")),
    mut_arg("volume", |a| a.help("Volume size [default: 64MiB]")),
    mut_arg("writes", |a| a.help("Number of writes [default: 300, unless --duration or --trace]")),
    mut_arg("rate", |a| a.help("Requests per second, Poisson arrivals [default: 100]")),
    mut_arg("write_size", |a| a.help("Write size, or a weighted list [default: 4KiB:40,16KiB:30,64KiB:20,128KiB:10]")),
    mut_arg("speed", |a| a.help("The job's speed limit, e.g. 16MiB/s (copies made for writes count against it) [default: 16MiB/s]")),
    mut_arg("cow_size", |a| a.help("QEMU's block-copy cluster (x-perf.min-cluster-size), a power of two from 64KiB [default: 64KiB]")),
    mut_arg("segment_size", |a| a.help("The job's largest request (x-perf.max-chunk) [default: 1MiB]")),
    mut_arg("fail", |a| a.help("Fail writes of a QEMU node through blkdebug: destination:nth=N (its n-th write), destination:blocks=A..B (every write touching --block-size blocks A to B-1); snapshot:... with fleecing. Repeatable")),
    mut_arg("on_error", |a| a.help("The copy-before-write filter's on-cbw-error: break-guest-write or break-snapshot (fleecing only: blockdev-backup's filter has no such option) [default: break-guest-write]")),
)]
pub struct Args {
    /// The workload, geometry, speed, error policy and faults, as `cowlab sim` takes them
    /// (its disk flags shape the prediction).
    #[command(flatten)]
    pub sim: sim::Args,
    /// A negative control instead of a point-in-time copy: mirror (blockdev-mirror, which
    /// converges to the newest data) or file-copy (a plain copy of the source file while
    /// the writes run). Each must be caught breaking the point-in-time copy.
    #[arg(long)]
    pub control: Option<String>,
    /// The copy-before-write filter's cbw-timeout, whole seconds, e.g. 5s (fleecing; the
    /// backup job's own filter takes it only if the installed QEMU's blockdev-backup does).
    #[arg(long, allow_hyphen_values = true)]
    pub cbw_timeout: Option<String>,
    /// NBD connections the guest's requests are spread over [default: 8].
    #[arg(long, default_value_t = 8)]
    pub connections: u32,
    /// Longest a request may wait for its reply before it counts as held for ever
    /// [default: 10s].
    #[arg(long, allow_hyphen_values = true)]
    pub hold_bound: Option<String>,
    /// Put the images and sockets here instead of a new temporary directory (the files the
    /// run makes are removed afterwards).
    #[arg(long)]
    pub run_dir: Option<String>,
    /// Keep the run's raw records here: every request (history.jsonl), QEMU's trace, its
    /// log, the QMP conversation and the outcome.
    #[arg(long)]
    pub records: Option<String>,
}

fn usage(e: ConfigError) -> CliError {
    CliError::usage(e.to_string())
}

/// The simulator's configuration with `cowlab qemu`'s defaults where no flag was given.
fn sim_config(a: &Args) -> Result<SimConfig, CliError> {
    let mut s = a.sim.clone();
    if s.preset.is_none() && s.policy.is_none() {
        s.preset = Some(DEFAULTS[0].1.into());
    }
    s.volume = s.volume.or(Some(DEFAULTS[1].1.into()));
    if s.writes.is_none() && s.duration.is_none() && s.trace.is_none() {
        s.writes = Some(300);
    }
    if s.writers.is_none() {
        s.rate = s.rate.or(Some(DEFAULTS[3].1.into()));
    }
    s.write_size = s.write_size.or(Some(DEFAULTS[4].1.into()));
    s.speed = s.speed.or(Some(DEFAULTS[5].1.into()));
    sim::config(&s)
}

/// The run the flags describe.
pub fn config(a: &Args) -> Result<QemuConfig, CliError> {
    let mut c = QemuConfig::new(sim_config(a)?);
    if let Some(name) = &a.control {
        c.control = Some(Copy::control(name).ok_or_else(|| {
            usage(ConfigError::new(
                "--control",
                name,
                "unknown control (expected mirror or file-copy)",
            ))
        })?);
    }
    if let Some(t) = &a.cbw_timeout {
        let ns = parse_duration(t).map_err(|e| usage(ConfigError::new("--cbw-timeout", t, e)))?;
        if ns == 0 || ns % 1_000_000_000 != 0 || ns / 1_000_000_000 > u64::from(u32::MAX) {
            return Err(usage(ConfigError::new(
                "--cbw-timeout",
                t,
                "QEMU takes whole seconds, at least 1",
            )));
        }
        c.cbw_timeout_s = Some((ns / 1_000_000_000) as u32);
    }
    c.connections = a.connections;
    if let Some(t) = &a.hold_bound {
        c.hold_bound_ns =
            parse_duration(t).map_err(|e| usage(ConfigError::new("--hold-bound", t, e)))?;
    }
    c.run_dir = a.run_dir.as_ref().map(Into::into);
    c.records = a.records.as_ref().map(Into::into);
    // Validated once, by the run itself, before it looks for QEMU.
    Ok(c)
}

pub fn run(a: &Args) -> Result<u8, CliError> {
    let cfg = config(a)?;
    // Progress only for a run that takes a while: a short one (or a refusal) prints just
    // its result.
    let (quiet, began) = (a.sim.json, std::time::Instant::now());
    let mut held = Vec::new();
    let outcome = cowlab_qemu::run(&cfg, &mut |line| match began.elapsed().as_secs() {
        _ if quiet => {}
        0 => held.push(line.to_string()),
        _ => {
            for l in held.drain(..) {
                eprintln!("{l}");
            }
            eprintln!("{line}");
        }
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(QemuError::Interrupted | QemuError::Daemon(DaemonError::Interrupted)) => {
            return Err(CliError {
                code: 130,
                message: QemuError::Interrupted.to_string(),
            })
        }
        Err(e) => return Err(CliError::usage(e.to_string())),
    };
    // The controls make no promise to predict.
    let predicted = match cfg.control {
        None => Some(
            simulate(&cfg.sim, &mut |_| {})
                .map_err(|e| CliError::usage(e.to_string()))?
                .metrics,
        ),
        Some(_) => None,
    };
    match a.sim.json {
        true => println!("{}", json(&cfg, &outcome, predicted.as_ref())),
        false => print!("{}", text(&cfg, &outcome, predicted.as_ref())),
    }
    Ok(if outcome.verdict.holds() { 0 } else { 1 })
}

fn json(cfg: &QemuConfig, o: &RealOutcome, predicted: Option<&Metrics>) -> String {
    let mut v = serde_json::to_value(o).expect("the outcome serialises");
    v["config"] = serde_json::to_value(&cfg.sim).expect("the configuration serialises");
    if let Some(m) = predicted {
        v["predicted"] = serde_json::to_value(m).expect("metrics serialise");
        v["comparison"] = serde_json::to_value(compare::rows(o, m)).expect("rows serialise");
    }
    v.to_string()
}

fn text(cfg: &QemuConfig, o: &RealOutcome, predicted: Option<&Metrics>) -> String {
    let s = &cfg.sim;
    let setup = &o.setup;
    let policy = match setup.copy {
        Copy::Backup | Copy::Fleecing => format!(" ({})", s.policy),
        _ => " (a negative control)".into(),
    };
    let mut out = format!(
        "QEMU {}, {}{policy}: volume {}, cluster {}, job chunk {}, speed {}, on error {}, {} requests, seed {}\n",
        o.qemu,
        setup.copy.name(),
        format_size(s.volume),
        format_size(setup.cluster),
        format_size(setup.max_chunk),
        s.speed.map_or("unlimited".into(), |b| format!("{}/s", format_size(b))),
        s.on_error,
        o.records.len(),
        s.seed
    );
    out.push_str(&format!(
        "copy: {}\n",
        match (&o.job, o.job_seconds) {
            (cowlab_qemu::JobEnd::Succeeded, Some(t)) => format!("succeeded in {t:.3} s"),
            (cowlab_qemu::JobEnd::Succeeded, None) => "succeeded".into(),
            (cowlab_qemu::JobEnd::Failed(e), _) => format!("failed: {e}"),
            (cowlab_qemu::JobEnd::Unfinished, _) => "did not finish".into(),
        }
    ));
    for (check, status) in &o.verdict.checks {
        let line = match status {
            Status::Holds(what) => format!("holds: {what}"),
            Status::NotExercised(why) => format!("not exercised: {why}"),
            Status::Violated(f) => format!("VIOLATED: {}", f.detail),
        };
        out.push_str(&format!("{:<28} {line}\n", check.name()));
    }
    if let Some(note) = &o.accounting {
        out.push_str(&format!("warning: {note}\n"));
    }
    let w = &o.write_latency;
    out.push_str(&format!(
        "writes: {} ({} failed), latency p50 {:.0} us, p99 {:.0} us, max {:.0} us; client lag at most {:.0} us\n",
        w.count, o.failed_writes, w.p50_us, w.p99_us, w.max_us, o.lag_max_us
    ));
    if let Some(m) = predicted {
        out.push_str(&format!(
            "\n{:<28} {:>14} {:>14} {:>9}\n",
            "measured against predicted", "QEMU", "cowlab sim", "error"
        ));
        for r in compare::rows(o, m) {
            out.push_str(&format!(
                "{:<28} {:>14} {:>14} {:>9}\n",
                r.figure,
                show(r.measured, r.unit),
                show(r.predicted, r.unit),
                show_error(r.error)
            ));
        }
    }
    if !o.verdict.holds() {
        let args: Vec<String> = std::env::args().skip(1).map(|a| shell_word(&a)).collect();
        out.push_str(&format!("\nreplay: cowlab {}\n", args.join(" ")));
    }
    out
}

/// An argument as a shell reads it back.
fn shell_word(a: &str) -> String {
    let plain = a
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@".contains(c));
    match plain && !a.is_empty() {
        true => a.to_string(),
        false => format!("'{}'", a.replace('\'', "'\\''")),
    }
}
