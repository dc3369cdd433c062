//! One real run: images made, the daemon started and checked for what the run needs, the
//! graph built, the copy started, the guest's requests sent at their times, the end waited
//! for, the daemon stopped, and what it left judged.

use crate::check::{judge, JobEnd, Observed, Verdict};
use crate::config::{Copy, QemuConfig, Setup};
use crate::daemon::{self, Daemon, DaemonError, RunDir};
use crate::graph::{self, image_file, Need};
use crate::load::{self, Load, PlanError, Record};
use crate::nbd::{Connection, NbdError};
use crate::qmp::{Qmp, QmpError, Version};
use crate::qtrace::{self, CopyStats};
use crate::schema::Schema;
use crate::stamp::{Found, Stamper, SECTOR};
use cowlab_model::disk::BEGIN;
use cowlab_model::Op;
use cowlab_sim::config::ConfigError;
use cowlab_sim::Latencies;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a run could not be made (as opposed to a run whose outcome broke a check).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Daemon(#[from] DaemonError),
    #[error("{0}")]
    Qmp(#[from] QmpError),
    #[error("{0}")]
    Nbd(#[from] NbdError),
    #[error("{flag}: QEMU {version} lacks {need}{hint}")]
    Lacks {
        flag: &'static str,
        need: Need,
        version: Version,
        hint: &'static str,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("interrupted: the daemon was stopped and its files removed")]
    Interrupted,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> QemuError {
    let what = what.into();
    move |source| QemuError::Io { what, source }
}

/// Latencies of one class of requests, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl LatencySummary {
    fn of<'a>(records: impl Iterator<Item = &'a Record>) -> LatencySummary {
        let mut l = Latencies::new();
        for r in records {
            if let Some(ns) = r.latency_ns() {
                l.record(ns.max(1));
            }
        }
        LatencySummary {
            count: l.count(),
            p50_us: l.quantile_us(0.5),
            p99_us: l.quantile_us(0.99),
            max_us: l.max_us(),
        }
    }
}

/// What a real run measured and how it was judged.
#[derive(Clone, Debug, Serialize)]
pub struct RealOutcome {
    pub qemu: String,
    /// The run as validated: the copy and QEMU's knobs.
    pub setup: Setup,
    pub verdict: Verdict,
    pub job: JobEnd,
    /// From the job's start to its end, by QEMU's own event timestamps.
    pub job_seconds: Option<f64>,
    /// Who copied what, from QEMU's trace.
    pub copies: CopyStats,
    /// Write requests whose copy-before-write copied something.
    pub copied_writes: u64,
    pub failed_writes: u64,
    /// Every write, and the writes whose copy-before-write copied.
    pub write_latency: LatencySummary,
    pub copied_write_latency: LatencySummary,
    pub read_latency: LatencySummary,
    /// Latest a request was sent after it was due (the client's own lag).
    pub lag_max_us: f64,
    /// A note when the trace's bytes do not add up to the volume.
    pub accounting: Option<String>,
    #[serde(skip)]
    pub records: Vec<Record>,
}

/// Runs the configuration against the installed QEMU; `progress` gets a line now and then.
pub fn run(cfg: &QemuConfig, progress: &mut dyn FnMut(&str)) -> Result<RealOutcome, QemuError> {
    let setup = cfg.validate()?;
    let plan = load::plan(&cfg.sim)?;
    let mut dir = RunDir::new(cfg.run_dir.as_deref())?;
    let installed = daemon::find()?;
    let stamper = Stamper {
        nonce: nonce(cfg.sim.seed),
    };
    make_images(&setup, &mut dir, stamper)?;
    let (mut daemon, qmp_stream) = Daemon::start(&installed.program, &mut dir, &qtrace::EVENTS)?;
    progress(&format!(
        "started {} {} (pid {}) in {}",
        daemon::PROGRAM,
        installed.version,
        daemon.pid,
        dir.path().display()
    ));
    // QEMU 10.0.2 at times closes a connection made as soon as its socket appears, before
    // it greets it (docs/qemu.md): one more connection then gets the greeting.
    let connected = Qmp::over(qmp_stream).or_else(|e| match e {
        QmpError::Closed => {
            std::thread::sleep(Duration::from_millis(50));
            Qmp::connect(&dir.path().join("qmp.sock"))
        }
        e => Err(e),
    });
    let mut qmp = match connected {
        Ok(qmp) => qmp,
        Err(e) => {
            // The daemon's trace and log say why it never answered.
            keep_records(cfg, &dir, &[], &[], None);
            return Err(died_or(&mut daemon, e.into()));
        }
    };
    let result = drive(
        &setup,
        &mut dir,
        &mut daemon,
        &mut qmp,
        plan,
        stamper,
        progress,
    );
    let ended = match result {
        Ok(done) => done,
        Err(e) => {
            keep_records(cfg, &dir, &qmp.log, &[], None);
            return Err(e);
        }
    };
    let _ = qmp.execute("quit", json!({}));
    daemon
        .wait_exit(Duration::from_secs(5))
        .map_err(QemuError::from)?;
    let outcome = judge_run(&setup, &dir, stamper, ended, qmp.version)?;
    keep_records(cfg, &dir, &qmp.log, &outcome.records, Some(&outcome));
    Ok(outcome)
}

/// Differs from run to run and from seed to seed.
fn nonce(seed: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ seed.rotate_left(32) ^ u64::from(std::process::id())
}

/// The begin image on the source; empty (sparse) destination and snapshot images.
fn make_images(setup: &Setup, dir: &mut RunDir, stamper: Stamper) -> Result<(), QemuError> {
    let src = dir.file(&image_file(graph::SOURCE));
    let mut f = File::create(&src).map_err(io(format!("creating {}", src.display())))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < setup.volume {
        let n = (setup.volume - at).min(buf.len() as u64) as usize;
        stamper.fill(&mut buf[..n], at / SECTOR, BEGIN);
        f.write_all(&buf[..n])
            .map_err(io(format!("writing {}", src.display())))?;
        at += n as u64;
    }
    f.sync_all()
        .map_err(io(format!("writing {}", src.display())))?;
    for role in [graph::DESTINATION, graph::SNAPSHOT] {
        if role == graph::SNAPSHOT && setup.copy != Copy::Fleecing {
            continue;
        }
        let p = dir.file(&image_file(role));
        File::create(&p)
            .and_then(|f| f.set_len(setup.volume))
            .map_err(io(format!("creating {}", p.display())))?;
    }
    Ok(())
}

/// A QMP or NBD failure is reported as the daemon's death when that is what it was.
fn died_or(daemon: &mut Daemon, e: QemuError) -> QemuError {
    std::thread::sleep(Duration::from_millis(20));
    match daemon.check() {
        Err(died) => died.into(),
        Ok(()) => e,
    }
}

/// From a running daemon to the end of the guest's requests and of the copy.
fn drive(
    setup: &Setup,
    dir: &mut RunDir,
    daemon: &mut Daemon,
    qmp: &mut Qmp,
    plan: Vec<Record>,
    stamper: Stamper,
    progress: &mut dyn FnMut(&str),
) -> Result<Ended, QemuError> {
    let schema = Schema::new(
        &qmp.execute("query-qmp-schema", json!({}))
            .map_err(|e| died_or(daemon, e.into()))?,
    );
    for (need, flag, hint) in graph::needs(setup) {
        let has = match need {
            Need::Command(c, path) => schema.command_takes(c, path),
            Need::Driver(d, path) => schema.driver_takes(d, path),
        };
        if !has {
            return Err(QemuError::Lacks {
                flag,
                need,
                version: qmp.version,
                hint,
            });
        }
    }
    for c in graph::build(setup, dir.path()) {
        qmp.execute(c.execute, c.arguments)
            .map_err(|e| died_or(daemon, e.into()))?;
    }
    let nbd = dir.path().join("nbd.sock");
    let open = |name: &str, n: u32| -> Result<Vec<Connection>, NbdError> {
        (0..n).map(|_| Connection::open(&nbd, name)).collect()
    };
    let volume = open(graph::VOLUME_EXPORT, setup.connections)?;
    // The export must be the volume: a size that differs means another node is served.
    if let Some(c) = volume
        .iter()
        .find(|c| c.info.size != setup.volume || c.info.read_only)
    {
        return Err(NbdError::Protocol(format!(
            "export '{}' is {} bytes{}, the volume {}",
            graph::VOLUME_EXPORT,
            c.info.size,
            if c.info.read_only {
                " and read-only"
            } else {
                ""
            },
            setup.volume
        ))
        .into());
    }
    let reads_image = plan.iter().any(|r| r.op == Op::ReadImage);
    let image = match reads_image {
        true => open(graph::IMAGE_EXPORT, setup.connections.min(4))?,
        false => Vec::new(),
    };
    let copy_thread = match graph::start(setup) {
        Some(c) => {
            qmp.execute(c.execute, c.arguments)
                .map_err(|e| died_or(daemon, e.into()))?;
            None
        }
        None => Some(file_copy(setup, dir)),
    };
    let t0 = Instant::now();
    let mut load = Load::start(plan, volume, image, stamper, t0)?;
    let mut job = Job::default();
    let deadline = job_deadline(setup);
    let mut copy_thread = copy_thread;
    let mut last_report = Instant::now();
    loop {
        if daemon::interrupted() {
            return Err(QemuError::Interrupted);
        }
        daemon.check()?;
        if let Some(e) = load.dispatch_error() {
            return Err(died_or(daemon, e.into()));
        }
        if let Some(e) = qmp
            .next_event(Duration::from_millis(50))
            .map_err(|e| died_or(daemon, e.into()))?
        {
            job.event(&e);
        }
        if let Some(t) = copy_thread.take_if(|t| t.is_finished()) {
            job.end = Some(match t.join() {
                Ok(Ok(())) => JobEnd::Succeeded,
                Ok(Err(e)) => JobEnd::Failed(e.to_string()),
                Err(_) => JobEnd::Failed("the file copy panicked".into()),
            });
            job.seconds = Some(t0.elapsed().as_secs_f64());
        }
        // The mirror converges only when told to, after the guest is done.
        if setup.copy == Copy::Mirror && job.ready && load.done() && !job.completing {
            qmp.execute("job-complete", json!({"id": graph::JOB}))
                .map_err(|e| died_or(daemon, e.into()))?;
            job.completing = true;
        }
        let now = t0.elapsed().as_nanos() as u64;
        let stuck = load
            .oldest_waiting()
            .is_some_and(|(_, sent)| now.saturating_sub(sent) > setup.hold_bound_ns);
        if (job.end.is_some() && load.done()) || stuck || (job.end.is_none() && now > deadline) {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            last_report = Instant::now();
            progress(&format!(
                "{} of {} requests answered, copy {}",
                load.answered.load(std::sync::atomic::Ordering::SeqCst),
                load.total(),
                match &job.end {
                    Some(_) => "ended",
                    None => "running",
                }
            ));
        }
    }
    Ok(Ended {
        records: load.finish(),
        job: job.end.unwrap_or(JobEnd::Unfinished),
        job_seconds: job.seconds,
    })
}

/// How the guest and the copy ended.
struct Ended {
    records: Vec<Record>,
    job: JobEnd,
    job_seconds: Option<f64>,
}

/// How long the copy may take before it counts as hung.
fn job_deadline(setup: &Setup) -> u64 {
    let expected = match setup.speed {
        Some(s) if s > 0 => setup.volume.saturating_mul(1_000_000_000) / s,
        _ => 0,
    };
    expected
        .saturating_mul(3)
        .saturating_add(setup.hold_bound_ns)
        .saturating_add(30_000_000_000)
}

/// The job, as its QMP events tell it.
#[derive(Default)]
struct Job {
    running_us: Option<u64>,
    end: Option<JobEnd>,
    seconds: Option<f64>,
    ready: bool,
    completing: bool,
}

impl Job {
    fn event(&mut self, e: &crate::qmp::Event) {
        let ours = e.data["id"] == graph::JOB || e.data["device"] == graph::JOB;
        if !ours {
            return;
        }
        match e.name.as_str() {
            "JOB_STATUS_CHANGE" if e.data["status"] == "running" => {
                self.running_us.get_or_insert(e.at_us);
            }
            "BLOCK_JOB_READY" => self.ready = true,
            "BLOCK_JOB_COMPLETED" | "BLOCK_JOB_CANCELLED" => {
                self.end = Some(match (e.name.as_str(), e.data["error"].as_str()) {
                    ("BLOCK_JOB_CANCELLED", _) => JobEnd::Failed("cancelled".into()),
                    (_, Some(err)) => JobEnd::Failed(err.to_string()),
                    (_, None) => JobEnd::Succeeded,
                });
                self.seconds = self
                    .running_us
                    .map(|r| e.at_us.saturating_sub(r) as f64 / 1e6);
            }
            _ => {}
        }
    }
}

/// The negative control that copies the source file while the guest writes to it.
fn file_copy(setup: &Setup, dir: &mut RunDir) -> std::thread::JoinHandle<std::io::Result<()>> {
    let src = dir.file(&image_file(graph::SOURCE));
    let dst = dir.file(&image_file(graph::DESTINATION));
    let (chunk, speed) = (setup.max_chunk as usize, setup.speed);
    std::thread::spawn(move || {
        let began = Instant::now();
        let mut from = File::open(src)?;
        let mut to = std::fs::OpenOptions::new().write(true).open(dst)?;
        let mut buf = vec![0u8; chunk];
        let mut copied = 0u64;
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                return to.sync_all();
            }
            to.write_all(&buf[..n])?;
            copied += n as u64;
            if let Some(s) = speed {
                let due = Duration::from_secs_f64(copied as f64 / s as f64);
                if let Some(wait) = due.checked_sub(began.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    })
}

/// Reads an image file's stamps.
fn read_image(path: &Path, stamper: Stamper) -> Result<Vec<Found>, QemuError> {
    let mut f = File::open(path).map_err(io(format!("reading {}", path.display())))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
            }
        }
        let whole = n - n % SECTOR as usize;
        let first = out.len() as u64;
        out.extend(stamper.read(&buf[..whole], first));
        if n < buf.len() {
            return Ok(out);
        }
    }
}

fn judge_run(
    setup: &Setup,
    dir: &RunDir,
    stamper: Stamper,
    ended: Ended,
    version: Version,
) -> Result<RealOutcome, QemuError> {
    let Ended {
        records,
        job,
        job_seconds,
    } = ended;
    let path = |role: &str| dir.path().join(image_file(role));
    let source = read_image(&path(graph::SOURCE), stamper)?;
    let destination = read_image(&path(graph::DESTINATION), stamper)?;
    let trace = std::fs::read_to_string(dir.path().join("trace.log")).unwrap_or_default();
    let cbw_target = match setup.copy {
        Copy::Fleecing => image_file(graph::SNAPSHOT),
        _ => image_file(graph::DESTINATION),
    };
    let copies = qtrace::attribute(&trace, &cbw_target, &image_file(graph::DESTINATION));
    let ids = match_writes(&records, &copies);
    let requests = |pick: fn(&qtrace::GuestWrite) -> bool| -> Vec<u32> {
        ids.iter()
            .zip(&copies.writes)
            .filter(|(_, w)| pick(w))
            .filter_map(|(id, _)| *id)
            .collect()
    };
    let cbw_failed = requests(|w| w.failed);
    let copied = requests(|w| w.copied);
    let verdict = judge(&Observed {
        copy: setup.copy,
        on_error: setup.on_error,
        records: &records,
        source: &source,
        destination: &destination,
        job: &job,
        cbw_failed: &cbw_failed,
        cbw_timeout: setup.cbw_timeout_s.is_some(),
        hold_bound_ns: setup.hold_bound_ns,
    });
    let accounting = accounting(setup, &job, &copies);
    let writes = || records.iter().filter(|r| r.op == Op::Write);
    let lag = records
        .iter()
        .filter_map(|r| Some(r.issued_ns?.saturating_sub(r.due_ns)))
        .max()
        .unwrap_or(0);
    Ok(RealOutcome {
        qemu: version.to_string(),
        setup: setup.clone(),
        verdict,
        job,
        job_seconds,
        copied_writes: copied.len() as u64,
        failed_writes: writes().filter(|r| r.failed()).count() as u64,
        write_latency: LatencySummary::of(writes()),
        copied_write_latency: LatencySummary::of(copied.iter().map(|id| &records[*id as usize])),
        read_latency: LatencySummary::of(records.iter().filter(|r| r.op != Op::Write)),
        lag_max_us: lag as f64 / 1e3,
        accounting,
        copies,
        records,
    })
}

/// The trace's guest writes matched to the requests, in the order QEMU began them: each
/// to the earliest-sent request of the same place not yet matched.
fn match_writes(records: &[Record], copies: &CopyStats) -> Vec<Option<u32>> {
    let mut by_place: HashMap<(u64, u64), VecDeque<&Record>> = HashMap::new();
    let mut writes: Vec<&Record> = records.iter().filter(|r| r.op == Op::Write).collect();
    writes.sort_by_key(|r| r.issued_ns);
    for r in writes {
        by_place.entry((r.offset, r.len)).or_default().push_back(r);
    }
    copies
        .writes
        .iter()
        .map(|w| {
            by_place
                .get_mut(&(w.offset, w.bytes))
                .and_then(|q| q.pop_front())
                .map(|r| r.id)
        })
        .collect()
}

/// The bytes copied must add up to the volume when the copy succeeded: otherwise the
/// trace was not read right, and the figures from it are not to be trusted.
fn accounting(setup: &Setup, job: &JobEnd, c: &CopyStats) -> Option<String> {
    if *job != JobEnd::Succeeded || !setup.copy.is_point_in_time() {
        return None;
    }
    let to_destination = match setup.copy {
        Copy::Backup => c.job.bytes + c.cbw.bytes,
        _ => c.job.bytes,
    };
    (to_destination != setup.volume).then(|| {
        format!(
            "QEMU's trace accounts for {to_destination} bytes copied to the destination, the volume has {}",
            setup.volume
        )
    })
}

/// Writes the raw records of a run into `--records DIR`: every request, the daemon's
/// trace, log and QMP conversation, and the verdict.
fn keep_records(
    cfg: &QemuConfig,
    dir: &RunDir,
    qmp_log: &[String],
    records: &[Record],
    outcome: Option<&RealOutcome>,
) {
    let Some(to) = &cfg.records else { return };
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        let mut h = File::create(to.join("history.jsonl"))?;
        for r in records {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["seen"] = json!(runs(&r.seen));
            writeln!(h, "{v}")?;
        }
        for name in ["trace.log", "daemon.log"] {
            let from = dir.path().join(name);
            if from.exists() {
                std::fs::copy(from, to.join(name))?;
            }
        }
        std::fs::write(to.join("qmp.log"), qmp_log.join("\n") + "\n")?;
        if let Some(o) = outcome {
            let v = serde_json::to_string_pretty(o).unwrap_or_default();
            std::fs::write(to.join("outcome.json"), v + "\n")?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("warning: --records {}: {e}", to.display());
    }
}

/// What a read saw as runs: `[stamp, sectors]`, a stamp of -1 for data that is no stamp.
fn runs(seen: &[Found]) -> Vec<[i64; 2]> {
    let mut out: Vec<[i64; 2]> = Vec::new();
    for f in seen {
        let v = match f {
            Found::Stamp(s) => i64::from(*s),
            Found::Garbage => -1,
        };
        match out.last_mut() {
            Some(last) if last[0] == v => last[1] += 1,
            _ => out.push([v, 1]),
        }
    }
    out
}
