//! The guest: the simulator's requests (a seeded workload or a trace) sent to QEMU over NBD
//! at their times, open loop, over several connections, each request's issue and reply
//! recorded with what it returned.

use crate::nbd::{Connection, Cookie, NbdError, Receiver, Sender};
use crate::stamp::{Found, Stamper, SECTOR};
use cowlab_model::meta::stamp_of;
use cowlab_model::Op;
use cowlab_sim::workload::Generator;
use cowlab_sim::SimConfig;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most requests one run keeps records of.
pub const MAX_REQUESTS: usize = 1_000_000;

/// One request of the guest: as planned, and as it went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    pub id: u32,
    pub op: Op,
    pub offset: u64,
    pub len: u64,
    /// A write's number: its data carries stamp `write + 1`, as the model's writes do.
    pub write: Option<u32>,
    /// When it was due, from the copy's start.
    pub due_ns: u64,
    /// When its request was sent.
    pub issued_ns: Option<u64>,
    /// When its reply arrived.
    pub done_ns: Option<u64>,
    /// The NBD error number of the reply (0 for success); `None` without a reply.
    pub error: Option<u32>,
    /// What each sector a successful read returned held.
    #[serde(skip)]
    pub seen: Vec<Found>,
}

impl Record {
    pub fn sectors(&self) -> std::ops::Range<u64> {
        self.offset / SECTOR..(self.offset + self.len) / SECTOR
    }

    pub fn succeeded(&self) -> bool {
        self.error == Some(0)
    }

    pub fn failed(&self) -> bool {
        matches!(self.error, Some(e) if e != 0)
    }

    /// Nanoseconds from issue to reply.
    pub fn latency_ns(&self) -> Option<u64> {
        Some(self.done_ns?.saturating_sub(self.issued_ns?))
    }

    /// `write 3 @4096+8192` or `read @0+4096` (offsets and lengths in bytes).
    pub fn describe(&self) -> String {
        let what = match (self.op, self.write) {
            (Op::Write, Some(w)) => format!("write {w}"),
            (Op::Read, _) => "read".into(),
            _ => "image read".into(),
        };
        format!("{what} @{}+{}", self.offset, self.len)
    }
}

/// Why the workload could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Config(String),
    #[error("request {n} ({what}) is not in whole 512-byte sectors: a real run stamps sectors")]
    Unaligned { n: usize, what: String },
    #[error(
        "the workload has more than {MAX_REQUESTS} requests: a real run keeps a record of each"
    )]
    TooMany,
}

/// The run's requests in arrival order, as the simulator would replay them.
pub fn plan(cfg: &SimConfig) -> Result<Vec<Record>, PlanError> {
    let mut out = Vec::new();
    let mut writes = 0u32;
    let mut push = |at: u64, op: Op, offset: u64, len: u64| -> Result<(), PlanError> {
        if out.len() >= MAX_REQUESTS {
            return Err(PlanError::TooMany);
        }
        let write = (op == Op::Write).then(|| {
            writes += 1;
            writes - 1
        });
        let r = Record {
            id: out.len() as u32,
            op,
            offset,
            len,
            write,
            due_ns: at,
            issued_ns: None,
            done_ns: None,
            error: None,
            seen: Vec::new(),
        };
        if !offset.is_multiple_of(SECTOR) || !len.is_multiple_of(SECTOR) || len == 0 {
            return Err(PlanError::Unaligned {
                n: out.len() + 1,
                what: r.describe(),
            });
        }
        out.push(r);
        Ok(())
    };
    match cfg
        .open_trace()
        .map_err(|e| PlanError::Config(e.to_string()))?
    {
        Some(trace) => {
            for a in trace {
                let a = a.map_err(|e| PlanError::Config(e.to_string()))?;
                push(a.at, a.request.op, a.request.offset, a.request.len)?;
            }
        }
        None => {
            let mut g = Generator::new(&cfg.workload, cfg.seed)
                .map_err(|e| PlanError::Config(e.to_string()))?;
            while let Some(a) = g.next_arrival() {
                push(a.at, a.request.op, a.request.offset, a.request.len)?;
            }
        }
    }
    Ok(out)
}

/// The connections of one export, and how busy each is.
struct Lane {
    senders: Vec<Mutex<Sender>>,
    in_flight: Vec<Arc<AtomicU32>>,
}

impl Lane {
    /// The least busy connection (the first of the least busy).
    fn pick(&self) -> usize {
        (0..self.senders.len())
            .min_by_key(|&i| self.in_flight[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }
}

/// The guest's requests in flight: the records fill in as replies arrive.
pub struct Load {
    pub records: Arc<Mutex<Vec<Record>>>,
    pub answered: Arc<AtomicUsize>,
    total: usize,
    dispatcher: Option<JoinHandle<Result<(), NbdError>>>,
    receivers: Vec<JoinHandle<()>>,
    lanes: Arc<[Lane; 2]>,
    stop: Arc<AtomicBool>,
}

impl Load {
    /// Starts sending `records` at their due times from `t0`, writes and reads of the
    /// volume over `volume`, image reads over `image`.
    pub fn start(
        records: Vec<Record>,
        volume: Vec<Connection>,
        image: Vec<Connection>,
        stamper: Stamper,
        t0: Instant,
    ) -> Result<Load, NbdError> {
        let total = records.len();
        let records = Arc::new(Mutex::new(records));
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::new();
        let mut lane = |conns: Vec<Connection>| -> Result<Lane, NbdError> {
            let mut senders = Vec::new();
            let mut in_flight = Vec::new();
            for c in conns {
                let (s, r) = c.split()?;
                let busy = Arc::new(AtomicU32::new(0));
                senders.push(Mutex::new(s));
                in_flight.push(busy.clone());
                let (records, answered) = (records.clone(), answered.clone());
                receivers.push(std::thread::spawn(move || {
                    receive(r, &records, &answered, &busy, stamper, t0)
                }));
            }
            Ok(Lane { senders, in_flight })
        };
        let lanes = Arc::new([lane(volume)?, lane(image)?]);
        let plan: Vec<Record> = records.lock().expect("records").clone();
        let (recs, stop2, lanes2) = (records.clone(), stop.clone(), lanes.clone());
        let dispatcher =
            std::thread::spawn(move || dispatch(&plan, &lanes2, &recs, &stop2, stamper, t0));
        Ok(Load {
            records,
            answered,
            total,
            dispatcher: Some(dispatcher),
            receivers,
            lanes,
            stop,
        })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Every request sent and answered.
    pub fn done(&self) -> bool {
        self.answered.load(Ordering::SeqCst) == self.total
    }

    /// The request that has waited longest for its reply, and since when (ns from t0).
    pub fn oldest_waiting(&self) -> Option<(u32, u64)> {
        let recs = self.records.lock().ok()?;
        recs.iter()
            .filter(|r| r.done_ns.is_none())
            .filter_map(|r| Some((r.id, r.issued_ns?)))
            .min_by_key(|(_, t)| *t)
    }

    /// Whether the dispatcher stopped on an error (the connection broke).
    pub fn dispatch_error(&mut self) -> Option<NbdError> {
        if self.dispatcher.as_ref().is_some_and(|d| d.is_finished()) {
            match self.dispatcher.take()?.join() {
                Ok(Err(e)) => return Some(e),
                Ok(Ok(())) => return None,
                Err(_) => return Some(NbdError::Protocol("the dispatcher panicked".into())),
            }
        }
        None
    }

    /// Stops sending, says goodbye on every connection and closes it, and returns the
    /// records (a request with no reply by now has none).
    pub fn finish(mut self) -> Vec<Record> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(d) = self.dispatcher.take() {
            let _ = d.join();
        }
        for lane in self.lanes.iter() {
            for s in &lane.senders {
                if let Ok(mut s) = s.lock() {
                    s.close();
                }
            }
        }
        for r in self.receivers.drain(..) {
            let _ = r.join();
        }
        let recs = self.records.lock().map(|r| r.clone()).unwrap_or_default();
        recs
    }
}

fn now_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

fn dispatch(
    plan: &[Record],
    lanes: &[Lane; 2],
    records: &Mutex<Vec<Record>>,
    stop: &AtomicBool,
    stamper: Stamper,
    t0: Instant,
) -> Result<(), NbdError> {
    let mut buf = Vec::new();
    for r in plan {
        let (id, offset, len, due) = (r.id, r.offset, r.len, r.due_ns);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let now = now_ns(t0);
            if now >= due {
                break;
            }
            std::thread::sleep(Duration::from_nanos((due - now).min(50_000_000)));
        }
        let lane = &lanes[usize::from(r.op == Op::ReadImage)];
        let i = lane.pick();
        lane.in_flight[i].fetch_add(1, Ordering::SeqCst);
        if let Ok(mut r) = records.lock() {
            r[id as usize].issued_ns = Some(now_ns(t0));
        }
        let mut sender = lane.senders[i].lock().expect("a sender");
        match r.write {
            Some(w) => {
                buf.resize(len as usize, 0);
                stamper.fill(&mut buf, offset / SECTOR, stamp_of(w));
                sender.write(Cookie::write(id), offset, &buf)?;
            }
            None => sender.read(Cookie::read(id, len), offset)?,
        }
    }
    // Every request is out: tell the server this client is done once its replies are in.
    Ok(())
}

fn receive(
    mut r: Receiver,
    records: &Mutex<Vec<Record>>,
    answered: &AtomicUsize,
    busy: &AtomicU32,
    stamper: Stamper,
    t0: Instant,
) {
    while let Ok(Some(reply)) = r.next_reply() {
        let done = now_ns(t0);
        let Ok(mut recs) = records.lock() else { return };
        let Some(rec) = recs.get_mut(reply.cookie.id() as usize) else {
            return;
        };
        rec.done_ns = Some(done);
        rec.error = Some(reply.error);
        if !reply.data.is_empty() {
            rec.seen = stamper.read(&reply.data, rec.offset / SECTOR);
        }
        busy.fetch_sub(1, Ordering::SeqCst);
        answered.fetch_add(1, Ordering::SeqCst);
    }
}
