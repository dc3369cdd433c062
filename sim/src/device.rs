//! Device models and FIFO device queues for the discrete-event simulator.
//!
//! A [`DeviceModel`] turns an I/O into a service time; a [`DeviceQueue`]
//! serves I/Os in arrival order with up to `depth` of them in service at
//! once. The queue never looks at a clock of its own: the driver tells it
//! the time of every submission and completion and schedules the completion
//! events the queue hands back. Time is `u64` nanoseconds.

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

/// One I/O for a device: where, how much, which direction, and the
/// driver's `token` that identifies it when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Io<T> {
    pub offset: u64,
    pub bytes: u64,
    pub write: bool,
    pub token: T,
}

/// An I/O that entered service: the driver schedules its completion at
/// `done_at` and then calls [`DeviceQueue::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started<T> {
    pub token: T,
    pub done_at: u64,
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

/// One device with a FIFO queue: up to `depth` I/Os are in service at
/// once, each taking its full [`DeviceModel::service_ns`] (so depth `d`
/// serves up to `d` transfers in parallel); the rest wait in order.
///
/// The device's head is where the last *started* I/O ended; an I/O that
/// starts there is sequential and pays no seek. Before the first I/O the
/// head is unknown, so the first I/O seeks.
#[derive(Clone, Debug)]
pub struct DeviceQueue<T> {
    model: DeviceModel,
    depth: u32,
    in_service: u32,
    waiting: VecDeque<Io<T>>,
    head: Option<u64>,
    /// Start of the current busy period, while anything is in service.
    busy_since: Option<u64>,
    /// The latest time the driver reported; time must not go back.
    last_now: u64,
    stats: DeviceStats,
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
            in_service: 0,
            waiting: VecDeque::new(),
            head: None,
            busy_since: None,
            last_now: 0,
            stats: DeviceStats::default(),
        })
    }

    /// Offers `io` at time `now`. If a service slot is free it starts at
    /// once and is returned; otherwise it waits behind earlier I/Os and
    /// `None` is returned (it will come out of a later [`complete`]).
    ///
    /// [`complete`]: DeviceQueue::complete
    pub fn submit(&mut self, now: u64, io: Io<T>) -> Option<Started<T>> {
        self.advance_to(now);
        if self.in_service < self.depth {
            return Some(self.start(now, io));
        }
        self.waiting.push_back(io);
        self.stats.max_waiting = self.stats.max_waiting.max(self.waiting.len());
        None
    }

    /// Reports that one in-service I/O finished at `now`. The oldest
    /// waiting I/O, if any, starts at `now` and is returned.
    ///
    /// # Panics
    /// If nothing is in service: the driver completed an I/O it never got
    /// back as [`Started`], a bug in the driver.
    pub fn complete(&mut self, now: u64) -> Option<Started<T>> {
        assert!(
            self.in_service > 0,
            "DeviceQueue::complete at {now} ns with no I/O in service"
        );
        self.advance_to(now);
        self.in_service -= 1;
        match self.waiting.pop_front() {
            Some(io) => Some(self.start(now, io)),
            None => {
                self.end_busy_period(now);
                None
            }
        }
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
        self.in_service
    }

    /// I/Os waiting for a service slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Puts `io` in service at `now`, moving the head past it.
    fn start(&mut self, now: u64, io: Io<T>) -> Started<T> {
        let sequential = self.head == Some(io.offset);
        self.head = Some(io.offset.saturating_add(io.bytes));
        // A waiting I/O started by `complete` continues the busy period.
        self.busy_since.get_or_insert(now);
        self.in_service += 1;
        self.count(&io, sequential);
        Started {
            done_at: now.saturating_add(self.model.service_ns(io.bytes, sequential)),
            token: io.token,
        }
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
        if self.in_service == 0 {
            if let Some(since) = self.busy_since.take() {
                self.stats.busy_ns = self.stats.busy_ns.saturating_add(now.saturating_sub(since));
            }
        }
    }

    /// Simulated time only moves forward; the driver must report events
    /// in time order.
    fn advance_to(&mut self, now: u64) {
        debug_assert!(
            now >= self.last_now,
            "DeviceQueue time went back from {} to {now} ns",
            self.last_now
        );
        self.last_now = self.last_now.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn started(token: u32, done_at: u64) -> Option<Started<u32>> {
        Some(Started { token, done_at })
    }

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
        assert_eq!(ssd.submit(0, io(0, 4 * KIB, 1)), started(1, 88_192));
        assert_eq!(ssd.submit(0, io(1 << 20, 4 * KIB, 2)), None);
        assert_eq!((ssd.in_service(), ssd.waiting()), (1, 1));
        assert_eq!(ssd.complete(88_192), started(2, 176_384));
        assert_eq!(ssd.complete(176_384), None);
        assert_eq!((ssd.in_service(), ssd.waiting()), (0, 0));
        let stats = ssd.stats(176_384);
        assert_eq!(stats.ios, 2);
        assert_eq!(stats.bytes_written, 8 * KIB);
        assert_eq!(stats.busy_ns, 176_384);
        assert_eq!(stats.max_waiting, 1);
    }

    #[test]
    fn depth_two_serves_two_ios_at_once() {
        let mut ssd = DeviceQueue::new(DeviceModel::ssd(), 2).unwrap();
        assert_eq!(ssd.submit(0, io(0, 4 * KIB, 1)), started(1, 88_192));
        assert_eq!(ssd.submit(0, read(1 << 20, 4 * KIB, 2)), started(2, 88_192));
        assert_eq!(ssd.submit(10, io(0, 4 * KIB, 3)), None);
        assert_eq!(ssd.complete(88_192), started(3, 176_384));
        assert_eq!(ssd.complete(88_192), None);
        assert_eq!(ssd.complete(176_384), None);
        let stats = ssd.stats(176_384);
        assert_eq!(stats.ios, 3);
        assert_eq!(stats.bytes_read, 4 * KIB);
        assert_eq!(stats.bytes_written, 8 * KIB);
        assert_eq!(stats.busy_ns, 176_384);
        assert_eq!(stats.max_waiting, 1);
    }

    #[test]
    fn waiting_ios_start_in_fifo_order() {
        let mut nvme = DeviceQueue::new(DeviceModel::nvme(), 1).unwrap();
        assert!(nvme.submit(0, io(0, 0, 1)).is_some());
        for token in 2..=4 {
            assert_eq!(nvme.submit(1, io(0, 0, token)), None);
        }
        assert_eq!(nvme.stats(1).max_waiting, 3);
        let order: Vec<u32> = (0..3)
            .map(|i| nvme.complete(20_000 * (i + 1)).unwrap().token)
            .collect();
        assert_eq!(order, [2, 3, 4]);
    }

    #[test]
    fn disk_seeks_unless_io_continues_at_the_head() {
        let mut hdd = DeviceQueue::new(DeviceModel::hdd(), 1).unwrap();
        // Unknown head: the first I/O seeks.
        let first = hdd.submit(0, read(0, 4 * KIB, 1)).unwrap();
        assert_eq!(first.done_at, 8_197_307);
        // Queued behind it, continuing at 4 KiB: sequential once started.
        assert_eq!(hdd.submit(0, read(4 * KIB, 4 * KIB, 2)), None);
        let second = hdd.complete(first.done_at).unwrap();
        assert_eq!(second.done_at, 8_197_307 + 4_197_307);
        // Back at 0: the head is at 8 KiB, so this seeks.
        assert_eq!(hdd.complete(second.done_at), None);
        let third = hdd.submit(second.done_at, read(0, 4 * KIB, 3)).unwrap();
        assert_eq!(third.done_at, second.done_at + 8_197_307);
        assert_eq!(hdd.stats(third.done_at).seeks, 2);
    }

    #[test]
    fn idle_gaps_are_not_busy_time() {
        let mut ssd = DeviceQueue::new(DeviceModel::ssd(), 1).unwrap();
        let done = ssd.submit(0, io(0, 4 * KIB, 1)).unwrap().done_at;
        assert_eq!(ssd.complete(done), None);
        let done = ssd.submit(100_000, io(0, 4 * KIB, 2)).unwrap().done_at;
        assert_eq!(done, 188_192);
        // Mid-way through the second I/O: 88_192 + 50_000.
        assert_eq!(ssd.stats(150_000).busy_ns, 138_192);
        assert_eq!(ssd.complete(done), None);
        assert_eq!(ssd.stats(1_000_000).busy_ns, 176_384);
    }

    #[test]
    #[should_panic(expected = "no I/O in service")]
    fn completing_with_nothing_in_service_panics() {
        let mut ssd = DeviceQueue::<u32>::new(DeviceModel::ssd(), 1).unwrap();
        ssd.complete(5);
    }
}
