//! A QMP client over a Unix socket: the greeting, `qmp_capabilities`, commands and their
//! replies, and the events that arrive in between, kept in order for whoever waits for
//! them. Every line sent and received can be kept for the run's records.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP socket {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("QMP connection: {0}")]
    Io(#[from] io::Error),
    #[error("the QMP connection closed")]
    Closed,
    #[error("QMP: {0}")]
    Protocol(String),
    #[error("QMP {command}: {desc}")]
    Command { command: String, desc: String },
    #[error("QMP {command}: no reply within {seconds} s")]
    Timeout { command: String, seconds: u64 },
}

/// An asynchronous event: its name, its data and the daemon's timestamp in microseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
    pub at_us: u64,
}

/// The QEMU version the greeting announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// A QMP session in command mode.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// A line begun but not finished when a read timed out.
    partial: Vec<u8>,
    events: VecDeque<Event>,
    /// Every line sent (`>`) and received (`<`), in order.
    pub log: Vec<String>,
    pub version: Version,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl Qmp {
    /// Connects, reads the greeting and enters command mode.
    pub fn connect(socket: &Path) -> Result<Qmp, QmpError> {
        let stream = UnixStream::connect(socket).map_err(|source| QmpError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
        Qmp::over(stream)
    }

    /// Reads the greeting on a connection already made and enters command mode.
    pub fn over(writer: UnixStream) -> Result<Qmp, QmpError> {
        let reader = BufReader::new(writer.try_clone()?);
        let mut qmp = Qmp {
            reader,
            writer,
            partial: Vec::new(),
            events: VecDeque::new(),
            log: Vec::new(),
            version: Version {
                major: 0,
                minor: 0,
                micro: 0,
            },
        };
        let greeting = match qmp.read(Instant::now() + COMMAND_TIMEOUT, false)? {
            Got::Reply(v) => v,
            _ => return Err(QmpError::Protocol("no greeting within 30 s".into())),
        };
        let v = &greeting["QMP"]["version"]["qemu"];
        let part = |k: &str| v[k].as_u64().map(|n| n as u32);
        qmp.version = match (part("major"), part("minor"), part("micro")) {
            (Some(major), Some(minor), Some(micro)) => Version {
                major,
                minor,
                micro,
            },
            _ => {
                return Err(QmpError::Protocol(format!(
                    "not a QMP greeting: {greeting}"
                )))
            }
        };
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// Runs a command and returns what it returned; events that arrive first are kept.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        let text = json!({"execute": command, "arguments": arguments}).to_string();
        self.log.push(format!("> {text}"));
        self.writer.write_all(text.as_bytes())?;
        self.writer.write_all(b"\n")?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let Got::Reply(reply) = self.read(deadline, false)? else {
            return Err(QmpError::Timeout {
                command: command.to_string(),
                seconds: COMMAND_TIMEOUT.as_secs(),
            });
        };
        if let Some(r) = reply.get("return") {
            return Ok(r.clone());
        }
        match reply.get("error") {
            Some(e) => Err(QmpError::Command {
                command: command.to_string(),
                desc: e["desc"].as_str().unwrap_or("an error").to_string(),
            }),
            None => Err(QmpError::Protocol(format!(
                "an unexpected reply to {command}: {reply}"
            ))),
        }
    }

    /// The next event, waiting up to `timeout`; `None` if none came.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, QmpError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        match self.read(Instant::now() + timeout, true)? {
            Got::Event => Ok(self.events.pop_front()),
            Got::Nothing => Ok(None),
            Got::Reply(v) => Err(QmpError::Protocol(format!(
                "a reply with no command pending: {v}"
            ))),
        }
    }

    /// Reads lines until a reply (queueing events), or until the first event when
    /// `until_event`, or until the deadline.
    fn read(&mut self, deadline: Instant, until_event: bool) -> Result<Got, QmpError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Got::Nothing);
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => return Err(QmpError::Closed),
                Ok(_) if !self.partial.ends_with(b"\n") => return Err(QmpError::Closed),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Got::Nothing)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            let text = String::from_utf8_lossy(&self.partial).trim().to_string();
            self.partial.clear();
            self.log.push(logged(&text));
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| QmpError::Protocol(format!("{e} in {text}")))?;
            if v.get("QMP").is_some() && self.version.major > 0 {
                // A second greeting (QEMU 10.0.2 greets a connection twice when the one
                // before it closed at once: docs/qemu.md): logged, and no reply.
                continue;
            }
            let Some(name) = v.get("event").and_then(Value::as_str) else {
                return Ok(Got::Reply(v));
            };
            let ts = &v["timestamp"];
            let at_us = ts["seconds"].as_u64().unwrap_or(0) * 1_000_000
                + ts["microseconds"].as_u64().unwrap_or(0);
            self.events.push_back(Event {
                name: name.to_string(),
                data: v.get("data").cloned().unwrap_or(Value::Null),
                at_us,
            });
            if until_event {
                return Ok(Got::Event);
            }
        }
    }
}

/// A received line for the log: whole, unless it is as long as the schema's reply.
fn logged(text: &str) -> String {
    const LONGEST: usize = 4096;
    match text.char_indices().nth(LONGEST) {
        None => format!("< {text}"),
        Some((cut, _)) => format!("< {}... ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// What reading the socket brought.
enum Got {
    Reply(Value),
    Event,
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": ["oob"]}}"#;

    /// The client over one end of a socket pair whose other end says `lines`.
    fn client_hearing(lines: &[&str]) -> Result<Qmp, QmpError> {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut theirs = theirs;
        for l in lines {
            writeln!(theirs, "{l}").unwrap();
        }
        std::mem::forget(theirs); // kept open: the client reads what was said, then waits
        Qmp::over(ours)
    }

    #[test]
    fn a_second_greeting_is_not_taken_for_a_reply() {
        let qmp = client_hearing(&[GREETING, GREETING, r#"{"return": {}}"#]).unwrap();
        assert_eq!(qmp.version.major, 10);
        assert_eq!(qmp.log.iter().filter(|l| l.contains("\"QMP\"")).count(), 2);
    }

    #[test]
    fn a_reply_that_is_neither_return_nor_error_is_refused() {
        let e = client_hearing(&[GREETING, r#"{"something": 1}"#])
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("an unexpected reply to qmp_capabilities"),
            "{e}"
        );
    }

    #[test]
    fn a_connection_closed_before_its_greeting_says_so() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        assert!(matches!(Qmp::over(ours), Err(QmpError::Closed)));
    }
}
