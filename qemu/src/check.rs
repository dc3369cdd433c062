//! The invariants, judged on what a real run left: the images (read after the daemon has
//! stopped) and the history of every request. They are cowlab's invariants in cowlab's
//! words ([`cowlab_model::Invariant`]); the error policy's contract is checked beside them.
//!
//! The checks are black-box and sound for concurrent requests: each sector is a register,
//! and a value is accepted if some order of the requests consistent with their issue and
//! reply times gives it — a write is superseded only by an acknowledged write issued after
//! it was answered, and a read must see every write acknowledged before it was sent.

use crate::config::Copy;
use crate::load::Record;
use crate::stamp::{Found, SECTOR};
use cowlab_model::disk::{Stamp, BEGIN};
use cowlab_model::fault::Break;
use cowlab_model::meta::write_of;
use cowlab_model::{Invariant, Op};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// What is checked: one of cowlab's invariants, or the error policy's contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Check {
    Invariant(Invariant),
    Contract,
}

impl Check {
    /// Every check, in the order a verdict lists them.
    pub const ALL: [Check; 6] = [
        Check::Invariant(Invariant::PointInTimeCopy),
        Check::Invariant(Invariant::PointInTimeImage),
        Check::Invariant(Invariant::NoLostWrite),
        Check::Invariant(Invariant::ReadYourWrites),
        Check::Invariant(Invariant::Progress),
        Check::Contract,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::Invariant(i) => i.name(),
            Check::Contract => "error policy contract",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken check, in the words `cowlab sim` and `cowlab check` use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub detail: String,
    /// The first bad sector, where there is one.
    pub sector: Option<u64>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.check, self.detail)
    }
}

/// How one check came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "detail")]
pub enum Status {
    /// It holds; what was checked.
    Holds(String),
    Violated(Finding),
    /// Nothing in the run could break it; why.
    NotExercised(String),
}

/// Every check of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub checks: Vec<(Check, Status)>,
}

impl Verdict {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checks.iter().filter_map(|(_, s)| match s {
            Status::Violated(f) => Some(f),
            _ => None,
        })
    }

    pub fn holds(&self) -> bool {
        self.findings().next().is_none()
    }

    pub fn status(&self, check: Check) -> Option<&Status> {
        self.checks
            .iter()
            .find(|(c, _)| *c == check)
            .map(|(_, s)| s)
    }
}

/// How the copy ended, as QEMU reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "end", content = "error")]
pub enum JobEnd {
    Succeeded,
    Failed(String),
    /// It had not ended when the run stopped waiting.
    Unfinished,
}

/// What a run left, for the checks.
pub struct Observed<'a> {
    pub copy: Copy,
    pub on_error: Break,
    pub records: &'a [Record],
    /// The source and destination images after the run (the destination as the copy left
    /// it).
    pub source: &'a [Found],
    pub destination: &'a [Found],
    pub job: &'a JobEnd,
    /// Requests whose copy-before-write failed, by id (from QEMU's trace).
    pub cbw_failed: &'a [u32],
    /// Whether a cbw-timeout was set (a write may then fail without a failed copy).
    pub cbw_timeout: bool,
    pub hold_bound_ns: u64,
}

/// Judges a run.
pub fn judge(o: &Observed) -> Verdict {
    let h = History::new(o.records);
    let checks = Check::ALL
        .iter()
        .map(|&c| {
            let status = match c {
                Check::Invariant(Invariant::PointInTimeCopy) => point_in_time_copy(o, &h),
                Check::Invariant(Invariant::PointInTimeImage) => point_in_time_image(o, &h),
                Check::Invariant(Invariant::NoLostWrite) => no_lost_write(o, &h),
                Check::Invariant(Invariant::ReadYourWrites) => read_your_writes(o, &h),
                Check::Invariant(_) => progress(o),
                Check::Contract => contract(o),
            };
            (c, status)
        })
        .collect();
    Verdict { checks }
}

/// The writes of a run indexed by sector and by write number.
struct History<'a> {
    records: &'a [Record],
    /// Write records touching each sector, in id order.
    by_sector: HashMap<u64, Vec<u32>>,
    /// Record id of each write number.
    by_write: HashMap<u32, u32>,
}

impl<'a> History<'a> {
    fn new(records: &'a [Record]) -> History<'a> {
        let mut by_sector: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut by_write = HashMap::new();
        for r in records.iter().filter(|r| r.op == Op::Write) {
            for s in r.sectors() {
                by_sector.entry(s).or_default().push(r.id);
            }
            if let Some(w) = r.write {
                by_write.insert(w, r.id);
            }
        }
        History {
            records,
            by_sector,
            by_write,
        }
    }

    fn writes_at(&self, sector: u64) -> impl Iterator<Item = &'a Record> + '_ {
        self.by_sector
            .get(&sector)
            .into_iter()
            .flatten()
            .map(|&id| &self.records[id as usize])
    }

    /// The record of the write whose data a stamp is.
    fn writer_of(&self, stamp: Stamp) -> Option<&'a Record> {
        let id = self.by_write.get(&write_of(stamp)?)?;
        Some(&self.records[*id as usize])
    }

    /// The writes that touched a sector, for a finding.
    fn describe(&self, sector: u64) -> String {
        let list: Vec<String> = self.writes_at(sector).map(history_line).collect();
        let byte = sector * SECTOR;
        match list.len() {
            0 => format!("sector {sector} (byte {byte}); no write touched it"),
            n => {
                let shown = list.iter().take(6).cloned().collect::<Vec<_>>().join("; ");
                let more = if n > 6 {
                    format!("; and {} more", n - 6)
                } else {
                    String::new()
                };
                format!("sector {sector} (byte {byte}); the writes that touched it: {shown}{more}")
            }
        }
    }
}

fn seconds(ns: Option<u64>) -> String {
    ns.map_or("never".into(), |t| format!("{:.6} s", t as f64 / 1e9))
}

/// `write 3 @4096+8192 sent at 0.1 s, answered at 0.2 s: ok`.
pub fn history_line(r: &Record) -> String {
    let result = match r.error {
        None => "no reply".to_string(),
        Some(0) => "ok".to_string(),
        Some(e) => crate::nbd::error_name(e).to_string(),
    };
    format!(
        "{} sent at {}, answered at {}: {result}",
        r.describe(),
        seconds(r.issued_ns),
        seconds(r.done_ns)
    )
}

fn violated(check: Invariant, sector: Option<u64>, detail: String) -> Status {
    Status::Violated(Finding {
        check: Check::Invariant(check),
        detail,
        sector,
    })
}

fn begin() -> Found {
    Found::Stamp(BEGIN)
}

fn point_in_time_copy(o: &Observed, h: &History) -> Status {
    match o.job {
        JobEnd::Succeeded => {}
        JobEnd::Failed(e) => {
            return Status::NotExercised(format!(
                "the copy reported failure ({e}), so it promises nothing of the destination"
            ))
        }
        JobEnd::Unfinished => return Status::NotExercised("the copy did not finish".into()),
    }
    match o.destination.iter().position(|f| *f != begin()) {
        None => Status::Holds(format!(
            "all {} sectors of the destination hold the begin image",
            o.destination.len()
        )),
        Some(i) => {
            let s = i as u64;
            violated(
                Invariant::PointInTimeCopy,
                Some(s),
                format!(
                    "the copy reported success but the destination differs: expected stamp {}, found {} at {}",
                    begin(),
                    o.destination[i],
                    h.describe(s)
                ),
            )
        }
    }
}

fn point_in_time_image(o: &Observed, h: &History) -> Status {
    let reads: Vec<&Record> = o.records.iter().filter(|r| r.op == Op::ReadImage).collect();
    if reads.is_empty() {
        return Status::NotExercised(match o.copy {
            Copy::Fleecing => "no image reads in the workload".into(),
            c => format!("{} exports no point-in-time image", c.name()),
        });
    }
    let mut returned = 0;
    for r in &reads {
        if !r.succeeded() {
            continue;
        }
        returned += 1;
        if let Some((i, f)) = r.seen.iter().enumerate().find(|(_, f)| **f != begin()) {
            let s = r.offset / SECTOR + i as u64;
            return violated(
                Invariant::PointInTimeImage,
                Some(s),
                format!(
                    "{} returned {f} instead of stamp {} at {}",
                    history_line(r),
                    begin(),
                    h.describe(s)
                ),
            );
        }
    }
    Status::Holds(format!(
        "{returned} of {} image reads returned data, all of it the begin image (the others were refused)",
        reads.len()
    ))
}

fn no_lost_write(o: &Observed, h: &History) -> Status {
    for (i, found) in o.source.iter().enumerate() {
        let s = i as u64;
        let Err(wrong) = may_see(h, s, *found, u64::MAX, u64::MAX) else {
            continue;
        };
        let detail = match wrong {
            Wrong::Missed(k) => format!("holds the begin image: write {k} was acknowledged but is lost"),
            Wrong::Overtaken { found, by } => format!(
                "holds write {found}, but write {by}, sent after that one was answered, was acknowledged: reordered"
            ),
            Wrong::FailedWrite(k) => {
                format!("holds write {k}'s data, but that write was failed back to its writer")
            }
            other => format!("holds {found}: {}", other.words()),
        };
        return violated(
            Invariant::NoLostWrite,
            Some(s),
            format!("the source {detail} at {}", h.describe(s)),
        );
    }
    let acked = o
        .records
        .iter()
        .filter(|r| r.op == Op::Write && r.succeeded())
        .count();
    Status::Holds(format!(
        "every sector of the source holds the begin image or the last of the {acked} acknowledged writes that wrote it"
    ))
}

fn read_your_writes(o: &Observed, h: &History) -> Status {
    let reads: Vec<&Record> = o.records.iter().filter(|r| r.op == Op::Read).collect();
    if reads.is_empty() {
        return Status::NotExercised("no volume reads in the workload".into());
    }
    for r in reads.iter().filter(|r| r.succeeded()) {
        let (sent, answered) = (r.issued_ns.unwrap_or(0), r.done_ns.unwrap_or(u64::MAX));
        for (i, found) in r.seen.iter().enumerate() {
            let s = r.offset / SECTOR + i as u64;
            if let Err(wrong) = may_see(h, s, *found, sent, answered) {
                return violated(
                    Invariant::ReadYourWrites,
                    Some(s),
                    format!(
                        "{} returned {found}: {}, at {}",
                        history_line(r),
                        wrong.words(),
                        h.describe(s)
                    ),
                );
            }
        }
    }
    Status::Holds(format!(
        "each of {} volume reads returned, sector by sector, a write it could see",
        reads.len()
    ))
}

/// Why a value cannot be what an observer of a sector sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrong {
    /// The begin image, though this write was acknowledged before the observer looked.
    Missed(u32),
    /// Data no write put there.
    NotWritten,
    /// The data of a write that was failed back to its writer.
    FailedWrite(u32),
    /// A write sent after the observer was answered.
    Later(u32),
    /// A write overtaken by another: sent after it was answered, and acknowledged before
    /// the observer looked.
    Overtaken {
        found: u32,
        by: u32,
    },
    Garbage,
}

impl Wrong {
    fn words(self) -> String {
        match self {
            Wrong::Missed(k) => format!("write {k} had been acknowledged before the read was sent"),
            Wrong::NotWritten => "no write put that there".into(),
            Wrong::FailedWrite(_) => "that write was failed back to its writer".into(),
            Wrong::Later(_) => "that write was sent after the read was answered".into(),
            Wrong::Overtaken { by, .. } => format!(
                "write {by}, sent after that one was answered, had been acknowledged before the read was sent"
            ),
            Wrong::Garbage => "not a stamp".into(),
        }
    }
}

/// Whether an observer of sector `s` that looked at `sent` and was answered at `answered`
/// (ns; the final image looks after everything) may see `found`: it must see every write
/// acknowledged before it looked, or one that overtook it, and nothing sent after it was
/// answered. This one rule serves the source's final image and every volume read.
fn may_see(h: &History, s: u64, found: Found, sent: u64, answered: u64) -> Result<(), Wrong> {
    let number = |w: &Record| w.write.unwrap_or(0);
    let before = || {
        h.writes_at(s)
            .filter(move |w| w.succeeded() && w.done_ns.is_some_and(|d| d < sent))
    };
    let st = match found {
        Found::Garbage => return Err(Wrong::Garbage),
        Found::Stamp(BEGIN) => {
            return match before().max_by_key(|w| w.done_ns) {
                None => Ok(()),
                Some(w) => Err(Wrong::Missed(number(w))),
            }
        }
        Found::Stamp(st) => st,
    };
    let Some(w) = h.writer_of(st).filter(|w| w.sectors().contains(&s)) else {
        return Err(Wrong::NotWritten);
    };
    if w.failed() {
        return Err(Wrong::FailedWrite(number(w)));
    }
    if w.issued_ns.unwrap_or(u64::MAX) > answered {
        return Err(Wrong::Later(number(w)));
    }
    let overtaking = w
        .done_ns
        .and_then(|done| before().find(|x| x.issued_ns.is_some_and(|i| i > done)));
    match overtaking {
        None => Ok(()),
        Some(x) => Err(Wrong::Overtaken {
            found: number(w),
            by: number(x),
        }),
    }
}

fn progress(o: &Observed) -> Status {
    if *o.job == JobEnd::Unfinished {
        return violated(
            Invariant::Progress,
            None,
            "the copy job did not finish: it waits for ever".into(),
        );
    }
    let waiting = o
        .records
        .iter()
        .filter(|r| r.issued_ns.is_some() && r.done_ns.is_none());
    if let Some(r) = waiting.min_by_key(|r| r.issued_ns) {
        return violated(
            Invariant::Progress,
            Some(r.offset / SECTOR),
            format!("{} was never answered: held for ever", history_line(r)),
        );
    }
    let slowest = o
        .records
        .iter()
        .filter_map(|r| Some((r.latency_ns()?, r)))
        .max_by_key(|(l, _)| *l);
    match slowest {
        Some((l, r)) if l > o.hold_bound_ns => violated(
            Invariant::Progress,
            Some(r.offset / SECTOR),
            format!(
                "{} waited {} for its reply, past the bound of {}",
                history_line(r),
                seconds(Some(l)),
                seconds(Some(o.hold_bound_ns))
            ),
        ),
        Some((l, _)) => Status::Holds(format!(
            "every request was answered; the slowest in {}",
            seconds(Some(l))
        )),
        None => Status::NotExercised("no requests".into()),
    }
}

fn contract(o: &Observed) -> Status {
    let record = |id: &u32| &o.records[*id as usize];
    let failed_writes: Vec<&Record> = o
        .records
        .iter()
        .filter(|r| r.op == Op::Write && r.failed())
        .collect();
    let contract = |detail: String, sector: Option<u64>| {
        Status::Violated(Finding {
            check: Check::Contract,
            detail,
            sector,
        })
    };
    if !o.copy.is_point_in_time() {
        return Status::NotExercised(format!("{} has no error policy", o.copy.name()));
    }
    match o.on_error {
        Break::GuestWrite => {
            if let Some(r) = o.cbw_failed.iter().map(record).find(|r| !r.failed()) {
                return contract(
                    format!(
                        "break-guest-write: the copy-before-write of {} failed, yet the write was acknowledged",
                        history_line(r)
                    ),
                    Some(r.offset / SECTOR),
                );
            }
            let unexplained = failed_writes
                .iter()
                .find(|r| !o.cbw_timeout && !o.cbw_failed.contains(&r.id));
            if let Some(r) = unexplained {
                return contract(
                    format!(
                        "break-guest-write: {} failed, but no copy-before-write of it failed",
                        history_line(r)
                    ),
                    Some(r.offset / SECTOR),
                );
            }
            match o.cbw_failed.len() {
                0 => Status::NotExercised("no copy-before-write failed".into()),
                n => Status::Holds(format!(
                    "the {n} writes whose copy-before-write failed were failed back to their writers"
                )),
            }
        }
        Break::Snapshot => {
            if let Some(r) = failed_writes.first() {
                return contract(
                    format!(
                        "break-snapshot: {} failed; no guest write may",
                        history_line(r)
                    ),
                    Some(r.offset / SECTOR),
                );
            }
            let Some(broke) = o
                .cbw_failed
                .iter()
                .map(record)
                .filter_map(|r| r.done_ns)
                .min()
            else {
                return Status::NotExercised("no copy-before-write failed".into());
            };
            if *o.job == JobEnd::Succeeded {
                return contract(
                    format!(
                        "break-snapshot: the snapshot broke at {} but the copy reported success",
                        seconds(Some(broke))
                    ),
                    None,
                );
            }
            let after = o
                .records
                .iter()
                .filter(|r| r.op == Op::ReadImage && r.issued_ns.is_some_and(|i| i > broke));
            let mut n = 0;
            for r in after {
                n += 1;
                if r.succeeded() {
                    return contract(
                        format!(
                            "break-snapshot: {} returned data after the snapshot broke at {}",
                            history_line(r),
                            seconds(Some(broke))
                        ),
                        Some(r.offset / SECTOR),
                    );
                }
            }
            Status::Holds(format!(
                "the snapshot broke at {}: every write was acknowledged, the copy failed, and the {n} image reads sent after the break were refused",
                seconds(Some(broke))
            ))
        }
    }
}
