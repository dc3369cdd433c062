//! Device models and FIFO device queues for the discrete-event simulator.
//!
//! A [`DeviceModel`] turns an I/O into a service time; a [`DeviceQueue`]
//! starts I/Os in arrival order with up to `depth` of them in service at
//! once, sharing the device's bandwidth. The queue never looks at a clock of
//! its own: the driver tells it the time of every submission and completion
//! and schedules the wakes the queue hands back. Time is `u64` nanoseconds.

use cowlab_model::names::Named;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use thiserror::Error;

const NS_PER_S: u128 = 1_000_000_000;

/// How long a device takes to serve one I/O: a fixed overhead, a seek
/// when the I/O does not continue where the previous one ended, and the
/// transfer at `bandwidth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceModel {
    /// Paid by every I/O (command latency; half a rotation on a disk).
    pub overhead_ns: u64,
    /// Transfer rate in bytes per second; must be positive.
    pub bandwidth: u64,
    /// Paid by an I/O that does not start where the previous one ended.
    pub seek_ns: u64,
}

/// A device model or queue that cannot serve I/Os.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DeviceModelError {
    #[error("device bandwidth = 0 bytes/s: must be positive")]
    ZeroBandwidth,
    #[error("device queue depth = 0: must be at least 1")]
    ZeroDepth,
}

/// A device model as a user names it: one of the presets of [`DeviceModel`]. Ordered by
/// name, as a sweep's tables of rates list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskName {
    Nvme,
    Ssd,
    Hdd,
}

impl DiskName {
    /// The preset's figures.
    pub fn model(self) -> DeviceModel {
        match self {
            DiskName::Nvme => DeviceModel::nvme(),
            DiskName::Ssd => DeviceModel::ssd(),
            DiskName::Hdd => DeviceModel::hdd(),
        }
    }
}

impl DiskName {
    /// The depth of the preset's own command queue, for `--queue-depth native`
    /// (`docs/simulator.md`, "Device queues", says where the figures come from):
    /// NVMe 64, a SATA SSD 32 (native command queuing has 32 tags), a disk 1 (one
    /// actuator: this model neither reorders nor overlaps seeks).
    pub const fn native_depth(self) -> u32 {
        match self {
            DiskName::Nvme => 64,
            DiskName::Ssd => 32,
            DiskName::Hdd => 1,
        }
    }
}

impl Named for DiskName {
    const WHAT: &'static str = "disk";
    const ALL: &'static [DiskName] = &[DiskName::Nvme, DiskName::Ssd, DiskName::Hdd];

    fn name(self) -> &'static str {
        match self {
            DiskName::Nvme => "nvme",
            DiskName::Ssd => "ssd",
            DiskName::Hdd => "hdd",
        }
    }
}

cowlab_model::named_by_name!(DiskName);

impl Ord for DiskName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for DiskName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl DeviceModel {
    /// An NVMe flash drive: 20 µs per command, 3 GB/s, no seeks.
    pub const fn nvme() -> Self {
        DeviceModel {
            overhead_ns: 20_000,
            bandwidth: 3_000_000_000,
            seek_ns: 0,
        }
    }

    /// A SATA flash drive: 80 µs per command, 500 MB/s, no seeks.
    pub const fn ssd() -> Self {
        DeviceModel {
            overhead_ns: 80_000,
            bandwidth: 500_000_000,
            seek_ns: 0,
        }
    }

    /// A 7200 rpm disk: every I/O waits half a rotation (4.17 ms), a
    /// non-sequential one also seeks (4 ms), then transfers at 150 MB/s.
    pub const fn hdd() -> Self {
        DeviceModel {
            overhead_ns: 4_170_000,
            bandwidth: 150_000_000,
            seek_ns: 4_000_000,
        }
    }

    /// Refuses a model that could never finish a transfer.
    pub fn validate(&self) -> Result<(), DeviceModelError> {
        if self.bandwidth == 0 {
            return Err(DeviceModelError::ZeroBandwidth);
        }
        Ok(())
    }

    /// Nanoseconds to serve `bytes`: overhead, plus the seek unless
    /// `sequential`, plus the transfer rounded up to a whole nanosecond.
    /// Integer arithmetic, so identical on every platform. Saturates at
    /// `u64::MAX` (also for bandwidth 0, which [`validate`](Self::validate)
    /// refuses) instead of overflowing.
    pub fn service_ns(&self, bytes: u64, sequential: bool) -> u64 {
        let seek = if sequential { 0 } else { self.seek_ns };
        self.overhead_ns
            .saturating_add(seek)
            .saturating_add(self.transfer_ns(bytes))
    }

    /// `ceil(bytes × 10^9 / bandwidth)`; fits u128 for any u64 `bytes`.
    fn transfer_ns(&self, bytes: u64) -> u64 {
        if self.bandwidth == 0 {
            return u64::MAX;
        }
        let ns = (u128::from(bytes) * NS_PER_S).div_ceil(u128::from(self.bandwidth));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// A queue depth as a user writes it: a number of I/Os in service at once, or `native`,
/// the depth of the disk preset's own command queue ([`DiskName::native_depth`]). Parsed
/// once at the edge (the command line, a sweep file, a topology file) and resolved against
/// the disk preset there; the run configuration holds the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueDepth {
    /// This many I/Os (0 parses, and is refused where the run's configuration is checked,
    /// in the key's or flag's name).
    Fixed(u32),
    /// The disk preset's native depth.
    Native,
}

/// A queue depth that is neither a whole number that fits 32 bits nor `native`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("queue depth `{text}`: expected a whole number of I/Os (at most 4294967295) or `native`")]
pub struct QueueDepthError {
    pub text: String,
}

impl QueueDepth {
    /// The depth for a device built of `disk`'s preset.
    pub fn resolve(self, disk: DiskName) -> u32 {
        match self {
            QueueDepth::Fixed(n) => n,
            QueueDepth::Native => disk.native_depth(),
        }
    }
}

impl std::str::FromStr for QueueDepth {
    type Err = QueueDepthError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "native" {
            return Ok(QueueDepth::Native);
        }
        // Digits only: `u32::from_str` would also take a leading `+`.
        match text.bytes().all(|b| b.is_ascii_digit()) {
            true => text.parse().map(QueueDepth::Fixed).ok(),
            false => None,
        }
        .ok_or_else(|| QueueDepthError { text: text.into() })
    }
}

impl std::fmt::Display for QueueDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueDepth::Fixed(n) => write!(f, "{n}"),
            QueueDepth::Native => f.write_str("native"),
        }
    }
}

/// A number as a number (so a sweep that sets `queue_depth = 4` reads and writes as it
/// always did), `native` as a string.
impl Serialize for QueueDepth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            QueueDepth::Fixed(n) => s.serialize_u32(*n),
            QueueDepth::Native => s.serialize_str("native"),
        }
    }
}

impl<'de> Deserialize<'de> for QueueDepth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = QueueDepth;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of I/Os or \"native\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<QueueDepth, E> {
                u32::try_from(n).map(QueueDepth::Fixed).map_err(|_| {
                    E::custom(QueueDepthError {
                        text: n.to_string(),
                    })
                })
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<QueueDepth, E> {
                u64::try_from(n)
                    .map_err(|_| {
                        E::custom(QueueDepthError {
                            text: n.to_string(),
                        })
                    })
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<QueueDepth, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One I/O for a device: where, how much, which direction, and the
/// driver's `token` that identifies it when it completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Io<T> {
    pub offset: u64,
    pub bytes: u64,
    pub write: bool,
    pub token: T,
}

/// A wake-up the driver schedules for a queue: at `at`, call
/// [`DeviceQueue::complete`] with `gen`. A queue hands out a new wake whenever its
/// earliest completion moves; the earlier ones are then stale and `complete` ignores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub at: u64,
    pub gen: u32,
}

/// An I/O that finished, and the queue's next wake if it has one (all earlier wakes are
/// stale once an I/O finished).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed<T> {
    pub token: T,
    pub wake: Option<Wake>,
}

/// What a device did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStats {
    /// I/Os started (a waiting I/O counts once it starts).
    pub ios: u64,
    /// I/Os started that paid the seek.
    pub seeks: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Time with at least one I/O in service.
    pub busy_ns: u64,
    /// The most I/Os ever waiting (not in service) at once.
    pub max_waiting: usize,
}

/// One device with a FIFO queue: up to `depth` I/Os are in service at once and **share
/// the device's bandwidth**; the rest wait in arrival order.
///
/// An I/O in service first pays its command time (overhead, plus the seek unless it is
/// sequential) on its own: command times of I/Os in service overlap. Then it transfers:
/// while `n` I/Os transfer, each proceeds at `bandwidth / n` (processor sharing), so
/// the device as a whole transfers at `bandwidth` whenever any I/O does. A lone I/O
/// therefore takes exactly [`DeviceModel::service_ns`]: depth 1 is the plain FIFO server,
/// and at any depth an I/O's completion moves when another starts or ends its transfer.
///
/// Sans-I/O: the driver tells the queue the time of each submission and completion, and
/// the queue answers with a [`Wake`], the time of its earliest completion, whenever that
/// moves; the driver schedules it and calls [`complete`](DeviceQueue::complete) then,
/// which ignores stale wakes.
///
/// Exact integer arithmetic: a byte is 10^9 units of work and the device delivers
/// `bandwidth` units a nanosecond, split equally among the I/Os transferring. Each I/O's
/// share of a stretch of time is rounded *down* and each completion time *up*, so an I/O
/// never finishes before all its bytes were delivered, a completion is never before the
/// time it was computed at, and each rescheduling costs an I/O at most one nanosecond.
///
/// The device's head is where the last *started* I/O ended; an I/O that
/// starts there is sequential and pays no seek. Before the first I/O the
/// head is unknown, so the first I/O seeks.
#[derive(Clone, Debug)]
pub struct DeviceQueue<T> {
    model: DeviceModel,
    depth: u32,
    /// The I/Os in service, at most `depth`, in no particular order.
    serving: Vec<Serving<T>>,
    share: Share,
    waiting: VecDeque<Io<T>>,
    head: Option<u64>,
    /// Start of the current busy period, while anything is in service.
    busy_since: Option<u64>,
    stats: DeviceStats,
    /// The wake handed out last, while the queue has I/Os in service.
    wake: Option<Wake>,
    gen: u32,
    /// I/Os started so far: the order of start, which breaks ties.
    started: u64,
    /// Command ends (time, start order, bytes), sorted when looking ahead; kept to
    /// allocate once.
    scratch: Vec<(u64, u64, u64)>,
}

/// An I/O in service.
#[derive(Clone, Debug)]
struct Serving<T> {
    token: T,
    /// Its place in the order of start.
    order: u64,
    bytes: u64,
    phase: Phase,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Paying overhead and seek until `until`, not transferring.
    Command { until: u64 },
    /// Transferring: done when [`Share::served`] reaches `finish`.
    Transfer { finish: u128 },
}

/// The shared transfer: the work each transferring I/O has been given, as of a time.
#[derive(Clone, Copy, Debug, Default)]
struct Share {
    at: u64,
    /// Work units each I/O transferring received since the device last had none
    /// transferring (when it restarts at 0).
    served: u128,
    transferring: u32,
}

/// Units of work of `bytes`: a byte is 10^9 units, the device delivers `bandwidth` a ns.
fn work(bytes: u64) -> u128 {
    u128::from(bytes) * NS_PER_S
}

impl Share {
    /// Moves on to `t`: each transferring I/O gets its share of `(t - at) × bandwidth`,
    /// rounded down.
    fn run_to(&mut self, t: u64, bandwidth: u64) {
        self.served = match self.transferring {
            0 => 0,
            n => {
                let given =
                    u128::from(t.saturating_sub(self.at)) * u128::from(bandwidth) / u128::from(n);
                self.served.saturating_add(given)
            }
        };
        self.at = t;
    }

    /// When an I/O that is done at `finish` is done if nothing starts or ends before:
    /// rounded up, so that [`run_to`](Share::run_to) then gives it all its work.
    /// Saturates at `u64::MAX`.
    fn done_at(&self, finish: u128, bandwidth: u64) -> u64 {
        let left = finish.saturating_sub(self.served);
        let ns = left
            .saturating_mul(u128::from(self.transferring))
            .div_ceil(u128::from(bandwidth.max(1)));
        self.at
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

impl<T> DeviceQueue<T> {
    /// An idle device; `depth` I/Os may be in service at once.
    pub fn new(model: DeviceModel, depth: u32) -> Result<Self, DeviceModelError> {
        model.validate()?;
        if depth == 0 {
            return Err(DeviceModelError::ZeroDepth);
        }
        Ok(DeviceQueue {
            model,
            depth,
            serving: Vec::new(),
            share: Share::default(),
            waiting: VecDeque::new(),
            head: None,
            busy_since: None,
            stats: DeviceStats::default(),
            wake: None,
            gen: 0,
            started: 0,
            scratch: Vec::new(),
        })
    }

    /// Offers `io` at time `now`. If a service slot is free it starts at once, otherwise
    /// it waits behind earlier I/Os. Returns a new wake when the queue's earliest
    /// completion moved (the earlier wake is then stale), `None` when it did not.
    ///
    /// At depth 1 the wake is `now + service_ns` exactly when the device was idle, and
    /// there is none otherwise.
    pub fn submit(&mut self, now: u64, io: Io<T>) -> Option<Wake> {
        if self.depth == 1 {
            return match self.serving.is_empty() {
                true => Some(self.start_alone(now, io)),
                false => {
                    self.wait(io);
                    None
                }
            };
        }
        self.advance(now);
        if self.serving.len() < self.depth as usize {
            self.start(now, io);
        } else {
            self.wait(io);
        }
        self.reschedule()
    }

    fn wait(&mut self, io: Io<T>) {
        self.waiting.push_back(io);
        self.stats.max_waiting = self.stats.max_waiting.max(self.waiting.len());
    }

    /// Depth 1: the I/O has the device to itself, so its completion is known when it
    /// starts (`now + service_ns`), with no shares to keep.
    fn start_alone(&mut self, now: u64, io: Io<T>) -> Wake {
        let sequential = self.head == Some(io.offset);
        let at = now.saturating_add(self.model.service_ns(io.bytes, sequential));
        self.start(now, io);
        self.gen = self.gen.wrapping_add(1);
        let wake = Wake { at, gen: self.gen };
        self.wake = Some(wake);
        wake
    }

    /// [`complete`](Self::complete) at depth 1.
    fn complete_alone(&mut self, now: u64) -> Completed<T> {
        let done = self
            .serving
            .pop()
            .expect("an I/O in service at the queue's wake");
        self.wake = None;
        let wake = match self.waiting.pop_front() {
            Some(io) => Some(self.start_alone(now, io)),
            None => {
                self.end_busy_period(now);
                None
            }
        };
        Completed {
            token: done.token,
            wake,
        }
    }

    /// The driver's wake `gen` is due at `now`. A stale wake (one the queue replaced
    /// since) gives `None`. Otherwise the I/O done at `now` leaves service (of several, the
    /// one with the least work, then the first started); the oldest waiting I/O, if any,
    /// starts in its place at `now`; and the next wake, if any I/O is still in service,
    /// comes back with the finished I/O's token.
    pub fn complete(&mut self, now: u64, gen: u32) -> Option<Completed<T>> {
        let wake = self.wake.filter(|w| w.gen == gen)?;
        debug_assert_eq!(
            wake.at, now,
            "DeviceQueue woken at {now} ns, not at its wake"
        );
        if self.depth == 1 {
            return Some(self.complete_alone(now));
        }
        self.advance(now);
        let bandwidth = self.model.bandwidth;
        let (finish, _, i) = self
            .serving
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.phase {
                Phase::Transfer { finish } => Some((finish, s.order, i)),
                Phase::Command { .. } => None,
            })
            .min()
            .expect("a transferring I/O at the queue's wake");
        // Only a time saturated at u64::MAX can leave work undone.
        debug_assert!(finish <= self.share.served || now == u64::MAX || bandwidth == 0);
        let done = self.serving.swap_remove(i);
        self.share.transferring -= 1;
        match self.waiting.pop_front() {
            Some(io) => self.start(now, io),
            None => self.end_busy_period(now),
        }
        self.wake = None;
        Some(Completed {
            token: done.token,
            wake: self.reschedule(),
        })
    }

    /// The wake handed out last, if any I/O is in service.
    pub fn wake(&self) -> Option<Wake> {
        self.wake
    }

    /// The statistics, counting the busy period in progress up to `now`.
    pub fn stats(&self, now: u64) -> DeviceStats {
        let mut stats = self.stats;
        if let Some(since) = self.busy_since {
            stats.busy_ns = stats.busy_ns.saturating_add(now.saturating_sub(since));
        }
        stats
    }

    pub fn model(&self) -> &DeviceModel {
        &self.model
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// I/Os in service now.
    pub fn in_service(&self) -> u32 {
        self.serving.len() as u32
    }

    /// I/Os waiting for a service slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Puts `io` in service at `now`, moving the head past it.
    fn start(&mut self, now: u64, io: Io<T>) {
        let sequential = self.head == Some(io.offset);
        self.head = Some(io.offset.saturating_add(io.bytes));
        // A waiting I/O started by `complete` continues the busy period.
        self.busy_since.get_or_insert(now);
        self.count(&io, sequential);
        let seek = if sequential { 0 } else { self.model.seek_ns };
        let until = now
            .saturating_add(self.model.overhead_ns)
            .saturating_add(seek);
        self.serving.push(Serving {
            token: io.token,
            order: self.started,
            bytes: io.bytes,
            phase: Phase::Command { until },
        });
        self.started += 1;
    }

    /// A new wake if the earliest completion is no longer the current wake's time.
    fn reschedule(&mut self) -> Option<Wake> {
        let at = self.next_completion();
        if at == self.wake.map(|w| w.at) {
            return None;
        }
        self.wake = at.map(|at| {
            self.gen = self.gen.wrapping_add(1);
            Wake { at, gen: self.gen }
        });
        self.wake
    }

    /// When the first I/O in service is done if nothing is submitted before: steps from
    /// command end to command end exactly as [`advance`](Self::advance) will.
    fn next_completion(&mut self) -> Option<u64> {
        let bandwidth = self.model.bandwidth;
        let mut share = self.share;
        let mut first: Option<u128> = None;
        let mut commands = std::mem::take(&mut self.scratch);
        commands.clear();
        for s in &self.serving {
            match s.phase {
                Phase::Transfer { finish } => first = Some(first.map_or(finish, |f| f.min(finish))),
                Phase::Command { until } => commands.push((until, s.order, s.bytes)),
            }
        }
        commands.sort_unstable();
        let mut found = None;
        for &(until, _, bytes) in &commands {
            if let Some(at) = first.map(|f| share.done_at(f, bandwidth)) {
                if at <= until {
                    found = Some(at);
                    break;
                }
            }
            share.run_to(until, bandwidth);
            share.transferring += 1;
            let finish = share.served.saturating_add(work(bytes));
            first = Some(first.map_or(finish, |f| f.min(finish)));
        }
        self.scratch = commands;
        found.or_else(|| first.map(|f| share.done_at(f, bandwidth)))
    }

    /// Brings the shared transfer to `now`: I/Os whose command ended by then start their
    /// transfer at the end of their command, in the order of those ends.
    fn advance(&mut self, now: u64) {
        debug_assert!(
            now >= self.share.at,
            "DeviceQueue time went back from {} to {now} ns",
            self.share.at
        );
        let now = now.max(self.share.at);
        let bandwidth = self.model.bandwidth;
        loop {
            let next = self
                .serving
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s.phase {
                    Phase::Command { until } if until <= now => Some((until, s.order, i)),
                    _ => None,
                })
                .min();
            let Some((until, _, i)) = next else { break };
            self.share.run_to(until, bandwidth);
            self.share.transferring += 1;
            let s = &mut self.serving[i];
            s.phase = Phase::Transfer {
                finish: self.share.served.saturating_add(work(s.bytes)),
            };
        }
        self.share.run_to(now, bandwidth);
    }

    fn count(&mut self, io: &Io<T>, sequential: bool) {
        let stats = &mut self.stats;
        stats.ios += 1;
        stats.seeks += u64::from(!sequential);
        let bytes = if io.write {
            &mut stats.bytes_written
        } else {
            &mut stats.bytes_read
        };
        *bytes = bytes.saturating_add(io.bytes);
    }

    fn end_busy_period(&mut self, now: u64) {
        if self.serving.is_empty() {
            if let Some(since) = self.busy_since.take() {
                self.stats.busy_ns = self.stats.busy_ns.saturating_add(now.saturating_sub(since));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KIB: u64 = 1024;

    fn io(offset: u64, bytes: u64, token: u32) -> Io<u32> {
        Io {
            offset,
            bytes,
            write: true,
            token,
        }
    }

    fn read(offset: u64, bytes: u64, token: u32) -> Io<u32> {
        Io {
            write: false,
            ..io(offset, bytes, token)
        }
    }

    fn wake(at: u64, gen: u32) -> Option<Wake> {
        Some(Wake { at, gen })
    }

    /// Completes the queue's current wake: the token done and the time.
    fn next(q: &mut DeviceQueue<u32>) -> (u32, u64) {
        let w = q.wake().expect("an I/O in service");
        let done = q.complete(w.at, w.gen).expect("a current wake");
        (done.token, w.at)
    }

    /// 1000 ns per command, one byte a nanosecond, no seeks: times by hand.
    const ROUND: DeviceModel = DeviceModel {
        overhead_ns: 1_000,
        bandwidth: 1_000_000_000,
        seek_ns: 0,
    };

    #[test]
    fn preset_service_times_by_hand() {
        // 4096e9 / 3e9 = 1365.33 → 1366 ns
        assert_eq!(
            DeviceModel::nvme().service_ns(4 * KIB, true),
            20_000 + 1_366
        );
        assert_eq!(DeviceModel::nvme().service_ns(4 * KIB, false), 21_366);
        // 4096e9 / 5e8 = 8192 ns exactly
        assert_eq!(DeviceModel::ssd().service_ns(4 * KIB, false), 88_192);
        // 4096e9 / 1.5e8 = 27306.67 → 27307 ns
        let hdd = DeviceModel::hdd();
        assert_eq!(hdd.service_ns(4 * KIB, true), 4_170_000 + 27_307);
        assert_eq!(
            hdd.service_ns(4 * KIB, false),
            4_170_000 + 4_000_000 + 27_307
        );
        // 1 MiB: 1048576e9 / 1.5e8 = 6990506.67 → 6990507 ns
        assert_eq!(hdd.service_ns(1024 * KIB, true), 4_170_000 + 6_990_507);
        assert_eq!(hdd.service_ns(0, true), 4_170_000);
    }

    #[test]
    fn huge_transfers_saturate_instead_of_overflowing() {
        let slow = DeviceModel {
            overhead_ns: 5,
            bandwidth: 1,
            seek_ns: 0,
        };
        assert_eq!(slow.service_ns(u64::MAX, true), u64::MAX);
        assert_eq!(slow.service_ns(3, true), 3_000_000_005);
        // The queue saturates the same way.
        let mut q = DeviceQueue::new(slow, 2).unwrap();
        assert_eq!(q.submit(0, io(0, u64::MAX, 1)), wake(u64::MAX, 1));
        assert_eq!(q.submit(0, io(0, 3, 2)), wake(6_000_000_005, 2));
        assert_eq!(next(&mut q), (2, 6_000_000_005));
        assert_eq!(next(&mut q), (1, u64::MAX));
    }

    #[test]
    fn names_match_presets() {
        let model = |name: &str| name.parse::<DiskName>().map(DiskName::model);
        assert_eq!(model("nvme"), Ok(DeviceModel::nvme()));
        assert_eq!(model("ssd"), Ok(DeviceModel::ssd()));
        assert_eq!(model("hdd"), Ok(DeviceModel::hdd()));
        assert!(model("tape").is_err());
        assert_eq!(DiskName::names(), ["nvme", "ssd", "hdd"]);
    }

    /// The documented native depths (`docs/simulator.md`, README): a change by one fails.
    #[test]
    fn native_depths_are_the_documented_ones() {
        let depths: Vec<(&str, u32)> = DiskName::ALL
            .iter()
            .map(|d| (d.name(), d.native_depth()))
            .collect();
        assert_eq!(depths, [("nvme", 64), ("ssd", 32), ("hdd", 1)]);
        for d in DiskName::ALL {
            assert_eq!(QueueDepth::Native.resolve(*d), d.native_depth());
            assert_eq!(QueueDepth::Fixed(3).resolve(*d), 3);
        }
    }

    #[test]
    fn queue_depths_parse_and_refuse_by_name() {
        assert_eq!("native".parse(), Ok(QueueDepth::Native));
        assert_eq!("1".parse(), Ok(QueueDepth::Fixed(1)));
        assert_eq!("0".parse(), Ok(QueueDepth::Fixed(0)));
        assert_eq!("4294967295".parse(), Ok(QueueDepth::Fixed(u32::MAX)));
        for bad in ["", "4294967296", "-1", "+4", "Native", "4.0", " 4", "deep"] {
            let e = bad.parse::<QueueDepth>().unwrap_err();
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        assert_eq!(QueueDepth::Native.to_string(), "native");
        assert_eq!(QueueDepth::Fixed(32).to_string(), "32");
    }

    #[test]
    fn zero_bandwidth_and_zero_depth_are_refused() {
        let broken = DeviceModel {
            bandwidth: 0,
            ..DeviceModel::ssd()
        };
        assert_eq!(broken.validate(), Err(DeviceModelError::ZeroBandwidth));
        assert_eq!(broken.service_ns(1, true), u64::MAX);
        assert_eq!(
            DeviceQueue::<u32>::new(broken, 1).unwrap_err(),
            DeviceModelError::ZeroBandwidth
        );
        assert_eq!(
            DeviceQueue::<u32>::new(DeviceModel::ssd(), 0).unwrap_err(),
            DeviceModelError::ZeroDepth
        );
        assert_eq!(
            DeviceModelError::ZeroDepth.to_string(),
            "device queue depth = 0: must be at least 1"
        );
    }

    #[test]
    fn depth_one_serves_two_ios_one_after_the_other() {
        let mut ssd = DeviceQueue::new(DeviceModel::ssd(), 1).unwrap();
        assert_eq!(ssd.submit(0, io(0, 4 * KIB, 1)), wake(88_192, 1));
        assert_eq!(ssd.submit(0, io(1 << 20, 4 * KIB, 2)), None);
        assert_eq!((ssd.in_service(), ssd.waiting()), (1, 1));
        let done = ssd.complete(88_192, 1).unwrap();
        assert_eq!((done.token, done.wake), (1, wake(176_384, 2)));
        let done = ssd.complete(176_384, 2).unwrap();
        assert_eq!((done.token, done.wake), (2, None));
        assert_eq!((ssd.in_service(), ssd.waiting()), (0, 0));
        let stats = ssd.stats(176_384);
        assert_eq!(stats.ios, 2);
        assert_eq!(stats.bytes_written, 8 * KIB);
        assert_eq!(stats.busy_ns, 176_384);
        assert_eq!(stats.max_waiting, 1);
    }

    /// Two equal I/Os at depth 2 pay their commands side by side, then share the
    /// bandwidth: both finish at overhead + 2 × bytes / bandwidth.
    #[test]
    fn two_equal_ios_at_depth_two_finish_together() {
        let mut ssd = DeviceQueue::new(DeviceModel::ssd(), 2).unwrap();
        assert_eq!(ssd.submit(0, io(0, 4 * KIB, 1)), wake(88_192, 1));
        // 80_000 + 2 × 8192: the first I/O's wake moves.
        assert_eq!(ssd.submit(0, read(1 << 20, 4 * KIB, 2)), wake(96_384, 2));
        assert_eq!(ssd.submit(10, io(0, 4 * KIB, 3)), None);
        assert_eq!(ssd.complete(88_192, 1), None, "a stale wake");
        let done = ssd.complete(96_384, 2).unwrap();
        assert_eq!((done.token, done.wake), (1, wake(96_384, 3)));
        // The waiting I/O starts at 96_384 and has the device to itself once the
        // second finishes, at the same instant.
        let done = ssd.complete(96_384, 3).unwrap();
        assert_eq!((done.token, done.wake), (2, wake(96_384 + 88_192, 4)));
        let done = ssd.complete(96_384 + 88_192, 4).unwrap();
        assert_eq!((done.token, done.wake), (3, None));
        let stats = ssd.stats(184_576);
        assert_eq!(stats.ios, 3);
        assert_eq!(stats.bytes_read, 4 * KIB);
        assert_eq!(stats.bytes_written, 8 * KIB);
        assert_eq!(stats.busy_ns, 184_576);
        assert_eq!(stats.max_waiting, 1);
    }

    /// An I/O arriving mid-transfer slows the first by exactly the part they share:
    /// the second's bytes at full bandwidth.
    #[test]
    fn an_io_arriving_mid_transfer_slows_the_first_by_the_shared_part() {
        let mut q = DeviceQueue::new(ROUND, 4).unwrap();
        // Alone: command to 1_000, 10_000 bytes to 11_000.
        assert_eq!(q.submit(0, io(0, 10_000, 1)), wake(11_000, 1));
        // At 3_000 a 2_000-byte I/O: its command to 4_000, then both at half speed (the
        // wake looks ahead to that). The first has 7_000 bytes left at 4_000; the
        // second's 2_000 take 4_000 ns.
        assert_eq!(q.submit(3_000, io(0, 2_000, 2)), wake(8_000, 2));
        assert_eq!(next(&mut q), (2, 8_000));
        // 11_000 + 2_000: slowed by the second's bytes at full bandwidth.
        assert_eq!(next(&mut q), (1, 13_000));
        assert_eq!(q.wake(), None);
        assert_eq!(q.stats(13_000).busy_ns, 13_000);
    }

    /// An empty I/O shares nothing: it is done when its command ends, and the others'
    /// times do not move.
    #[test]
    fn an_empty_io_costs_the_others_nothing() {
        let mut q = DeviceQueue::new(ROUND, 4).unwrap();
        assert_eq!(q.submit(0, io(0, 10_000, 1)), wake(11_000, 1));
        assert_eq!(q.submit(3_000, io(0, 2_000, 2)), wake(8_000, 2));
        assert_eq!(q.submit(5_000, io(0, 0, 3)), wake(6_000, 3));
        assert_eq!(next(&mut q), (3, 6_000));
        assert_eq!(q.wake(), wake(8_000, 4));
        assert_eq!(next(&mut q), (2, 8_000));
        assert_eq!(next(&mut q), (1, 13_000));
    }

    #[test]
    fn a_short_io_overtakes_a_long_one() {
        let mut q = DeviceQueue::new(ROUND, 2).unwrap();
        assert_eq!(q.submit(0, io(0, 1_000_000, 1)), wake(1_001_000, 1));
        // 100 bytes at half speed: 200 ns after its command.
        assert_eq!(q.submit(0, io(0, 100, 2)), wake(1_200, 2));
        assert_eq!(next(&mut q), (2, 1_200));
        assert_eq!(next(&mut q), (1, 1_001_100));
    }

    #[test]
    fn uneven_shares_round_completions_up_and_lose_no_work() {
        // 1 byte/ns shared by 3: 1_000 bytes each take 3_000 ns together.
        let mut q = DeviceQueue::new(ROUND, 3).unwrap();
        q.submit(0, io(0, 1_000, 1));
        q.submit(0, io(0, 1_000, 2));
        q.submit(0, io(0, 1_001, 3));
        assert_eq!(next(&mut q), (1, 4_000));
        assert_eq!(next(&mut q), (2, 4_000));
        assert_eq!(next(&mut q), (3, 4_001));
        // 7 bytes at 3 GB/s by two: 14e9 / 3e9 = 4.67 → 5 ns after the command.
        let mut q = DeviceQueue::new(DeviceModel::nvme(), 2).unwrap();
        q.submit(0, io(0, 7, 1));
        q.submit(0, io(7, 7, 2));
        assert_eq!(next(&mut q), (1, 20_005));
        assert_eq!(next(&mut q), (2, 20_005));
    }

    #[test]
    fn waiting_ios_start_in_fifo_order() {
        let mut nvme = DeviceQueue::new(DeviceModel::nvme(), 1).unwrap();
        assert!(nvme.submit(0, io(0, 0, 1)).is_some());
        for token in 2..=4 {
            assert_eq!(nvme.submit(1, io(0, 0, token)), None);
        }
        assert_eq!(nvme.stats(1).max_waiting, 3);
        let order: Vec<(u32, u64)> = (0..4).map(|_| next(&mut nvme)).collect();
        assert_eq!(order, [(1, 20_000), (2, 40_000), (3, 60_000), (4, 80_000)]);
    }

    #[test]
    fn disk_seeks_unless_io_continues_at_the_head() {
        let mut hdd = DeviceQueue::new(DeviceModel::hdd(), 1).unwrap();
        // Unknown head: the first I/O seeks.
        assert_eq!(hdd.submit(0, read(0, 4 * KIB, 1)), wake(8_197_307, 1));
        // Queued behind it, continuing at 4 KiB: sequential once started.
        assert_eq!(hdd.submit(0, read(4 * KIB, 4 * KIB, 2)), None);
        assert_eq!(next(&mut hdd), (1, 8_197_307));
        let second = 8_197_307 + 4_197_307;
        assert_eq!(next(&mut hdd), (2, second));
        // Back at 0: the head is at 8 KiB, so this seeks.
        let third = hdd.submit(second, read(0, 4 * KIB, 3)).unwrap();
        assert_eq!(third.at, second + 8_197_307);
        assert_eq!(hdd.stats(third.at).seeks, 2);
    }

    #[test]
    fn idle_gaps_are_not_busy_time() {
        let mut ssd = DeviceQueue::new(DeviceModel::ssd(), 1).unwrap();
        let w = ssd.submit(0, io(0, 4 * KIB, 1)).unwrap();
        assert_eq!(ssd.complete(w.at, w.gen).unwrap().wake, None);
        let w = ssd.submit(100_000, io(0, 4 * KIB, 2)).unwrap();
        assert_eq!(w.at, 188_192);
        // Mid-way through the second I/O: 88_192 + 50_000.
        assert_eq!(ssd.stats(150_000).busy_ns, 138_192);
        assert_eq!(ssd.complete(w.at, w.gen).unwrap().wake, None);
        assert_eq!(ssd.stats(1_000_000).busy_ns, 176_384);
    }

    #[test]
    fn stale_and_idle_wakes_are_ignored() {
        let mut ssd = DeviceQueue::<u32>::new(DeviceModel::ssd(), 2).unwrap();
        assert_eq!(ssd.complete(5, 0), None);
        let w = ssd.submit(0, io(0, 4 * KIB, 1)).unwrap();
        ssd.submit(0, io(0, 4 * KIB, 2)).unwrap();
        assert_eq!(ssd.complete(w.at, w.gen), None);
        assert_eq!(ssd.in_service(), 2);
    }

    /// Drives a queue through `ios` (arrival, offset, bytes), each submitted at its time,
    /// completing at each wake: (token, completion time) in completion order, and the
    /// statistics at the end.
    fn drive(q: &mut DeviceQueue<u32>, ios: &[(u64, u64, u64)]) -> (Vec<(u32, u64)>, DeviceStats) {
        let mut arrivals: Vec<(u64, u32)> = ios.iter().zip(0..).map(|(a, i)| (a.0, i)).collect();
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        let mut out = Vec::new();
        let mut now = 0;
        loop {
            let wake = q.wake();
            // Arrivals first at equal times, as the fabric's submissions are.
            let arrival = arrivals
                .peek()
                .copied()
                .filter(|&(at, _)| wake.is_none_or(|w| at <= w.at));
            if let Some((at, i)) = arrival {
                arrivals.next();
                let (_, offset, bytes) = ios[i as usize];
                if let Some(w) = q.submit(at, io(offset, bytes, i)) {
                    assert!(w.at >= at, "a wake in the past");
                }
                now = at;
            } else if let Some(w) = wake {
                assert!(w.at >= now, "time went back");
                now = w.at;
                let done = q.complete(w.at, w.gen).expect("a current wake");
                out.push((done.token, w.at));
            } else {
                break;
            }
        }
        (out, q.stats(now))
    }

    fn small_model() -> impl Strategy<Value = DeviceModel> {
        (0u64..5_000, 1_000_000u64..5_000_000_000, 0u64..3_000).prop_map(|(o, b, s)| DeviceModel {
            overhead_ns: o,
            bandwidth: b,
            seek_ns: s,
        })
    }

    fn io_set() -> impl Strategy<Value = Vec<(u64, u64, u64)>> {
        prop::collection::vec((0u64..50_000, 0u64..4, 0u64..200_000), 1..24)
            .prop_map(|v| v.into_iter().map(|(a, o, b)| (a, o * 65_536, b)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Depth 1 is the FIFO server of `service_ns`, computed by hand here.
        #[test]
        fn depth_one_is_the_plain_fifo(model in small_model(), ios in io_set()) {
            let mut q = DeviceQueue::new(model, 1).unwrap();
            let (done, _) = drive(&mut q, &ios);
            let mut order: Vec<usize> = (0..ios.len()).collect();
            order.sort_by_key(|&i| (ios[i].0, i));
            let (mut free, mut head) = (0u64, None);
            let want: Vec<(u32, u64)> = order.iter().map(|&i| {
                let (at, offset, bytes) = ios[i];
                let sequential = head == Some(offset);
                head = Some(offset + bytes);
                free = free.max(at) + model.service_ns(bytes, sequential);
                (i as u32, free)
            }).collect();
            prop_assert_eq!(done, want);
        }

        /// Every I/O completes once, none faster than alone, the device never transfers
        /// faster than its bandwidth, and I/Os that all start at once end as one transfer
        /// of all their bytes (give or take a rounding nanosecond per completion).
        #[test]
        fn bandwidth_is_shared_and_conserved(
            model in small_model(),
            ios in io_set(),
            depth in 1u32..10,
            together in any::<bool>(),
        ) {
            let model = DeviceModel { seek_ns: if together { 0 } else { model.seek_ns }, ..model };
            let ios: Vec<(u64, u64, u64)> = match together {
                true => ios.iter().map(|&(_, o, b)| (0, o, b)).collect(),
                false => ios,
            };
            let mut q = DeviceQueue::new(model, depth).unwrap();
            let (done, stats) = drive(&mut q, &ios);
            let mut tokens: Vec<u32> = done.iter().map(|d| d.0).collect();
            tokens.sort();
            prop_assert_eq!(tokens, (0..ios.len() as u32).collect::<Vec<_>>());
            for &(token, at) in &done {
                let (arrival, _, bytes) = ios[token as usize];
                prop_assert!(at >= arrival + model.service_ns(bytes, true));
            }
            let total: u64 = ios.iter().map(|i| i.2).sum();
            let alone = model.service_ns(total, true) - model.overhead_ns;
            prop_assert!(stats.busy_ns >= alone, "{} < {}", stats.busy_ns, alone);
            prop_assert_eq!(stats.bytes_written, total);
            let last = done.iter().map(|d| d.1).max().unwrap();
            if together && depth as usize >= ios.len() {
                // All commands end at `overhead`; from then the device transfers every
                // byte at full bandwidth.
                let exact = model.overhead_ns + alone;
                prop_assert!(last >= exact && last <= exact + ios.len() as u64,
                    "last {} by hand {}", last, exact);
            }
        }
    }
}
