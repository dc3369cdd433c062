//! The simulator's two performance targets, measured on whole processes:
//!
//! - the default 1 GiB run (`cowlab sim --check off --json`) at least 50 times faster than
//!   its SimPy model (`sim/benches/simpy/model.py`), the two run in alternation in one run
//!   of this bench, so that both see the same machine;
//! - `cowlab sim --volume 16TiB --writes 10000000 --seed 1 --json` in under 30 s and 1 GiB
//!   (its peak resident memory, from the child's own rusage).
//!
//! Run: `cargo bench -p cowlab-sim --bench targets` (options after `--`: `--rounds N`,
//! default 7, alternating rounds of the 1 GiB pair; `--huge-runs N`, default 2). It builds
//! the release `cowlab` first (`cargo build --release --bin cowlab`, a no-op when it is up
//! to date). Without SimPy (`pip install simpy`) it says so and measures the 16 TiB run
//! alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const RATIO_TARGET: f64 = 50.0;
const HUGE_SECONDS_TARGET: f64 = 30.0;
const HUGE_KIB_TARGET: u64 = 1 << 20;

/// The figures both programs print, by their JSON names.
const FIGURES: [&str; 9] = [
    "copy_seconds",
    "copier_bytes_read",
    "preserved_bytes",
    "held_writes",
    "hold_p50_us",
    "hold_p99_us",
    "hold_max_us",
    "queue_depth_max",
    "throughput_ratio",
];

/// One finished child: its wall time, CPU time (user and system), peak resident memory
/// and standard output.
struct Measured {
    seconds: f64,
    cpu_seconds: f64,
    peak_kib: u64,
    stdout: String,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ lies in the workspace")
        .to_path_buf()
}

/// The release binary, built (or found up to date) by cargo in the bench's target dir.
fn cowlab_binary(root: &Path) -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--bin", "cowlab"])
        .current_dir(root)
        .status();
    let bin = target.join("release").join("cowlab");
    match built {
        Ok(s) if s.success() && bin.exists() => Ok(bin),
        _ => Err(format!(
            "no release cowlab at {}: build it with `cargo build --release` in {}",
            bin.display(),
            root.display()
        )),
    }
}

/// Runs a command to its end; wall time from spawn to exit, peak memory from `wait4`.
// The child is reaped by `wait4` (`wait_child`), which std's `wait` cannot stand in for: it
// does not give the child's own resource usage.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.expect("piped"), &mut stdout)
        .expect("the child's output is text");
    let (status, usage) = wait_child(pid);
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed (wait status {status})"
    );
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        seconds,
        cpu_seconds: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_kib: usage.ru_maxrss as u64,
        stdout,
    }
}

/// Reaps the child and returns its wait status and resource usage (its own, not a
/// sum over every child this bench has run).
fn wait_child(pid: libc::pid_t) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; pid is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4: {}", std::io::Error::last_os_error());
    (status, usage)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The value of a figure in a JSON object printed on one line, as text.
fn figure(json: &str, name: &str) -> String {
    let key = format!("\"{name}\":");
    let Some(at) = json.find(&key) else {
        return "-".into();
    };
    let rest = json[at + key.len()..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

fn simpy_version() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import simpy; print(simpy.__version__)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn option(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = option(&args, "--rounds", 7).max(1);
    let huge_runs = option(&args, "--huge-runs", 2).max(1);
    let root = workspace();
    let bin = match cowlab_binary(&root) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let model = root.join("sim/benches/simpy/model.py");
    println!("### Performance targets\n");
    println!("cowlab: `{}`", bin.display());
    match simpy_version() {
        Some(v) => {
            println!("SimPy model: `python3 {}` (SimPy {v})\n", model.display());
            against_simpy(&bin, &model, rounds);
        }
        None => println!(
            "\nSimPy is not installed for python3, so the ratio is not measured: \
             `pip install simpy`, then run this bench again.\n"
        ),
    }
    huge(&bin, huge_runs);
}

/// The 1 GiB run and its SimPy model, alternating, then their figures side by side.
fn against_simpy(bin: &Path, model: &Path, rounds: usize) {
    println!("#### 1 GiB, 100,000 writes: cowlab against SimPy, alternating rounds\n");
    println!("Wall time, and CPU time (user + system) in brackets.\n");
    println!("| round | `cowlab sim --check off --json` | `python3 sim/benches/simpy/model.py` | ratio (CPU) |");
    println!("|---|---:|---:|---:|");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
    let mut outputs = None;
    for r in 1..=rounds {
        let c = measure(Command::new(bin).args(["sim", "--check", "off", "--json"]));
        let p = measure(Command::new("python3").arg(model));
        println!(
            "| {r} | {:.1} ms ({:.1} ms) | {:.2} s ({:.2} s) | {:.1}x ({:.1}x) |",
            c.seconds * 1e3,
            c.cpu_seconds * 1e3,
            p.seconds,
            p.cpu_seconds,
            p.seconds / c.seconds,
            p.cpu_seconds / c.cpu_seconds
        );
        ours.push(c.seconds);
        theirs.push(p.seconds);
        ours_cpu.push(c.cpu_seconds);
        theirs_cpu.push(p.cpu_seconds);
        outputs.get_or_insert((c.stdout, p.stdout));
    }
    let ratio = median(&theirs) / median(&ours);
    let cpu_ratio = median(&theirs_cpu) / median(&ours_cpu);
    println!(
        "| median | {:.1} ms ({:.1} ms) | {:.2} s ({:.2} s) | **{ratio:.1}x** ({cpu_ratio:.1}x) |\n",
        median(&ours) * 1e3,
        median(&ours_cpu) * 1e3,
        median(&theirs),
        median(&theirs_cpu)
    );
    println!(
        "SimPy / cowlab, median wall times: **{ratio:.1}x** against the target of at least {RATIO_TARGET:.0}x: {} (CPU times: {cpu_ratio:.1}x)\n",
        met(ratio >= RATIO_TARGET)
    );
    let (c, p) = outputs.expect("at least one round");
    compare(
        "Figures, seed 0 (the model draws its own requests, with Python's generator)",
        ("cowlab", &c),
        ("SimPy model", &p),
    );
    same_requests(bin, model);
}

/// The model's own requests replayed by cowlab as a trace: the figures must agree.
fn same_requests(bin: &Path, model: &Path) {
    let trace = std::env::temp_dir().join(format!("cowlab-targets-{}.scsi", std::process::id()));
    let p = measure(
        Command::new("python3")
            .arg(model)
            .arg("--trace-out")
            .arg(&trace),
    );
    let c = measure(
        Command::new(bin)
            .args([
                "sim",
                "--check",
                "off",
                "--json",
                "--trace-format",
                "scsi",
                "--trace",
            ])
            .arg(&trace),
    );
    let _ = std::fs::remove_file(&trace);
    compare(
        "Figures on the same requests (the model's, replayed by `cowlab sim --trace`)",
        ("cowlab", &c.stdout),
        ("SimPy model", &p.stdout),
    );
}

fn compare(title: &str, a: (&str, &str), b: (&str, &str)) {
    println!("#### {title}\n");
    println!("| figure | {} | {} |", a.0, b.0);
    println!("|---|---:|---:|");
    for f in FIGURES {
        println!("| {f} | {} | {} |", figure(a.1, f), figure(b.1, f));
    }
    println!();
}

/// The 16 TiB run: wall time and peak memory of each run against the targets.
fn huge(bin: &Path, runs: usize) {
    let flags = [
        "sim", "--volume", "16TiB", "--writes", "10000000", "--seed", "1", "--json",
    ];
    println!("#### `cowlab {}`\n", flags.join(" "));
    println!("| run | wall (target: under {HUGE_SECONDS_TARGET:.0} s) | CPU | peak memory (target: under 1 GiB) |");
    println!("|---|---:|---:|---:|");
    for r in 1..=runs {
        let m = measure(Command::new(bin).args(flags));
        println!(
            "| {r} | {:.1} s: {} | {:.1} s | {:.0} MiB ({:.3} GiB): {} |",
            m.seconds,
            met(m.seconds < HUGE_SECONDS_TARGET),
            m.cpu_seconds,
            m.peak_kib as f64 / 1024.0,
            m.peak_kib as f64 / (1024.0 * 1024.0),
            met(m.peak_kib < HUGE_KIB_TARGET)
        );
    }
    println!();
}
