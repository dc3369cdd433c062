//! The daemon's life: finding `qemu-storage-daemon`, the directory its images and sockets
//! live in, starting it, and stopping it by its own process id on every way out — a normal
//! end, an error, a panic (both by `Drop`) and Ctrl-C (by [`interrupted`]'s handler).

use crate::qmp::Version;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// The program a real run drives.
pub const PROGRAM: &str = "qemu-storage-daemon";

/// The oldest QEMU with what a run needs (`snapshot-access`, `on-cbw-error`).
pub const OLDEST: Version = Version {
    major: 7,
    minor: 2,
    micro: 0,
};

/// Why the daemon could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "{PROGRAM} not found on PATH: install the qemu-utils package (QEMU {OLDEST} or newer)"
    )]
    Missing,
    #[error("{program} {found} is too old: cowlab qemu needs QEMU {OLDEST} or newer")]
    TooOld { program: String, found: Version },
    #[error("{program} --version printed no version: {text:?}")]
    NoVersion { program: String, text: String },
    #[error("--run-dir {dir}: {reason}")]
    RunDir { dir: String, reason: String },
    #[error(
        "{path} is in use by another process (it accepts connections): choose another --run-dir"
    )]
    SocketBusy { path: String },
    #[error("{path} exists (left by another run?): remove it or choose another --run-dir")]
    SocketExists { path: String },
    #[error("{PROGRAM} (pid {pid}) {how}{stderr}")]
    Died {
        pid: u32,
        how: String,
        stderr: String,
    },
    #[error("{PROGRAM} (pid {pid}) did not open its QMP socket within 10 s")]
    NoSocket { pid: u32 },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("interrupted")]
    Interrupted,
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// `qemu-storage-daemon` on the PATH and its version.
pub struct Installed {
    pub program: PathBuf,
    pub version: Version,
}

/// Finds the daemon on the PATH and reads its version; refuses one older than [`OLDEST`].
pub fn find() -> Result<Installed, DaemonError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let program = std::env::split_paths(&path)
        .map(|d| d.join(PROGRAM))
        .find(|p| p.is_file())
        .ok_or(DaemonError::Missing)?;
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(io_error(format!("running {} --version", program.display())))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let name = program.display().to_string();
    let version = parse_version(&text).ok_or_else(|| DaemonError::NoVersion {
        program: name.clone(),
        text: text.lines().next().unwrap_or("").to_string(),
    })?;
    if version < OLDEST {
        return Err(DaemonError::TooOld {
            program: name,
            found: version,
        });
    }
    Ok(Installed { program, version })
}

/// The version in `qemu-storage-daemon version 10.0.2 (Debian ...)`.
pub fn parse_version(text: &str) -> Option<Version> {
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    Some(Version {
        major: parts.next()??,
        minor: parts.next()??,
        micro: parts.next().unwrap_or(Some(0))?,
    })
}

/// The sockets a run listens on, by file name in its directory.
pub const SOCKETS: [&str; 2] = ["qmp.sock", "nbd.sock"];

/// The directory of one run: a new temporary one (removed with everything in it), or one
/// the user named (then only the files the run made are removed).
pub struct RunDir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
    made: Vec<PathBuf>,
}

impl RunDir {
    pub fn new(given: Option<&Path>) -> Result<RunDir, DaemonError> {
        let (path, temp) = match given {
            None => {
                let t = tempfile::Builder::new()
                    .prefix("cowlab-qemu-")
                    .tempdir()
                    .map_err(io_error("creating a temporary directory"))?;
                (t.path().to_path_buf(), Some(t))
            }
            Some(d) if d.is_dir() => (d.to_path_buf(), None),
            Some(d) => {
                return Err(DaemonError::RunDir {
                    dir: d.display().to_string(),
                    reason: match d.exists() {
                        true => "not a directory".into(),
                        false => "no such directory".into(),
                    },
                })
            }
        };
        for name in SOCKETS {
            let p = path.join(name);
            if UnixStream::connect(&p).is_ok() {
                return Err(DaemonError::SocketBusy {
                    path: p.display().to_string(),
                });
            }
            if p.symlink_metadata().is_ok() {
                return Err(DaemonError::SocketExists {
                    path: p.display().to_string(),
                });
            }
        }
        Ok(RunDir {
            path,
            temp,
            made: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the run, removed with it.
    pub fn file(&mut self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        if !self.made.contains(&p) {
            self.made.push(p.clone());
        }
        p
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        for p in &self.made {
            let _ = std::fs::remove_file(p);
        }
        if let Some(t) = self.temp.take() {
            let _ = t.close();
        }
    }
}

/// Daemons running now, by pid, for the Ctrl-C handler.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// Whether Ctrl-C (or SIGTERM) has been received; the first call installs the handler,
/// which stops every running daemon by its pid at once.
pub fn interrupted() -> bool {
    HANDLER.call_once(|| {
        // If a handler is already installed (a test harness), the flag is never set.
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            for pid in RUNNING.lock().map(|r| r.clone()).unwrap_or_default() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
        });
    });
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A running `qemu-storage-daemon`, stopped by its pid when dropped.
pub struct Daemon {
    child: Child,
    pub pid: u32,
    stderr: PathBuf,
    exited: Option<ExitStatus>,
}

impl Daemon {
    /// Starts the daemon with its QMP monitor on `dir/qmp.sock`, tracing `events` to
    /// `dir/trace.log`, and waits until the socket accepts a connection: the QMP connection.
    pub fn start(
        program: &Path,
        dir: &mut RunDir,
        events: &[&str],
    ) -> Result<(Daemon, UnixStream), DaemonError> {
        interrupted();
        let qmp = dir.file("qmp.sock");
        dir.file("nbd.sock");
        let events_file = dir.file("trace-events");
        std::fs::write(&events_file, events.join("\n") + "\n")
            .map_err(io_error("writing the trace event list"))?;
        let trace = dir.file("trace.log");
        let stderr = dir.file("daemon.log");
        let log = std::fs::File::create(&stderr).map_err(io_error("creating daemon.log"))?;
        let child = Command::new(program)
            .arg("--chardev")
            .arg(format!(
                "socket,id=qmp,path={},server=on,wait=off",
                qmp.display()
            ))
            .args(["--monitor", "chardev=qmp"])
            .arg("--trace")
            .arg(format!(
                "events={},file={}",
                events_file.display(),
                trace.display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_error("daemon.log"))?)
            .stderr(log)
            // Its own process group: Ctrl-C reaches cowlab, which stops it by its pid.
            .process_group(0)
            .spawn()
            .map_err(io_error(format!("starting {}", program.display())))?;
        let pid = child.id();
        if let Ok(mut r) = RUNNING.lock() {
            r.push(pid);
        }
        let mut d = Daemon {
            child,
            pid,
            stderr,
            exited: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // The first connection that succeeds is the QMP connection: probing the socket and
        // closing the probe made QEMU 10.0.2, under load, greet the next connection twice or
        // reset its parser in the middle of a command (docs/qemu.md).
        let stream = loop {
            if let Ok(stream) = UnixStream::connect(&qmp) {
                break stream;
            }
            d.check()?;
            if interrupted() {
                return Err(DaemonError::Interrupted);
            }
            if Instant::now() > deadline {
                return Err(DaemonError::NoSocket { pid });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok((d, stream))
    }

    /// An error if the daemon has exited.
    pub fn check(&mut self) -> Result<(), DaemonError> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(io_error("waiting for the daemon"))?;
        }
        match self.exited {
            None => Ok(()),
            Some(status) => Err(self.died(status)),
        }
    }

    fn died(&self, status: ExitStatus) -> DaemonError {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (_, Some(sig)) => format!(
                "was killed by signal {sig}{} during the run",
                Signal::try_from(sig).map_or(String::new(), |s| format!(" ({s})"))
            ),
            (Some(code), _) => format!("exited with status {code} during the run"),
            _ => "exited".to_string(),
        };
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let last = text
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.contains("warning"))
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        DaemonError::Died {
            pid: self.pid,
            how,
            stderr: last,
        }
    }

    /// Waits up to `timeout` for the daemon to exit (after `quit`), then kills it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<(), DaemonError> {
        let deadline = Instant::now() + timeout;
        while self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(io_error("waiting for the daemon"))?;
            if self.exited.is_none() && Instant::now() > deadline {
                self.kill();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Stops the daemon now, by its pid, and reaps it.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// What the daemon printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if let Ok(mut r) = RUNNING.lock() {
            r.retain(|p| *p != self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_from_the_first_line() {
        let v = parse_version("qemu-storage-daemon version 10.0.2 (Debian 1:10.0.2+ds-2)\n");
        assert_eq!(
            v,
            Some(Version {
                major: 10,
                minor: 0,
                micro: 2
            })
        );
        assert_eq!(
            parse_version("qemu-storage-daemon version 7.1\n").map(|v| v.minor),
            Some(1)
        );
        assert_eq!(parse_version("no version here"), None);
        assert!(
            Version {
                major: 7,
                minor: 1,
                micro: 9
            } < OLDEST
        );
    }
}
