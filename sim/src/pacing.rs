//! How a speed limit paces the copier: as a steady rate, or as QEMU's block-copy does, a byte
//! quota handed out per time slice.
//!
//! The two differ in what a write sees. Under [`Pacing::Smooth`] a worker takes its segment,
//! then waits for its paced read while it holds the segment's claims, so a write to those
//! chunks waits for the copier's budget. Under [`Pacing::Slices`] a worker asks the limit
//! *before* it takes anything: while the slice's quota is spent it sleeps holding nothing,
//! and a segment it takes is copied at the device's speed. What is taken is charged when it
//! is taken, whatever its size, so one slice may overrun its quota; the slice then lasts
//! longer, in proportion, which keeps the long-run rate at the limit.

use crate::size::{format_duration, parse_duration};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The slice QEMU's block-copy uses (`BLOCK_COPY_SLICE_TIME`, 100 ms).
pub const QEMU_SLICE_NS: u64 = 100_000_000;

/// How the speed limit (`--speed`) paces the copier's workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pacing {
    /// Each read of the copier starts no earlier than the bytes charged so far allow at the
    /// limit, counted from time 0; the read's claims are held while it waits.
    #[default]
    Smooth,
    /// A quota of `speed × slice` bytes per slice: a worker about to take a segment sleeps
    /// until the slice ends while the quota is spent, holding nothing.
    Slices { slice_ns: u64 },
}

impl Pacing {
    pub fn is_smooth(&self) -> bool {
        *self == Pacing::Smooth
    }
}

impl fmt::Display for Pacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pacing::Smooth => f.write_str("smooth"),
            Pacing::Slices { slice_ns } => {
                write!(f, "slices:{}", format_duration(*slice_ns).replace(' ', ""))
            }
        }
    }
}

/// `smooth`, `slices` (QEMU's 100 ms) or `slices:DURATION`.
impl std::str::FromStr for Pacing {
    type Err = String;

    fn from_str(text: &str) -> Result<Pacing, String> {
        let slice_ns = match text.split_once(':') {
            None if text == "smooth" => return Ok(Pacing::Smooth),
            None if text == "slices" => QEMU_SLICE_NS,
            Some(("slices", d)) => parse_duration(d).map_err(|e| e.to_string())?,
            _ => {
                return Err("expected smooth, slices or slices:DURATION (e.g. slices:100ms)".into())
            }
        };
        match slice_ns {
            0 => Err("a slice must last".into()),
            _ => Ok(Pacing::Slices { slice_ns }),
        }
    }
}

/// A slice-based rate limit, as QEMU's `RateLimit`: bytes dispatched in the current slice
/// against its quota; a slice whose quota is overrun is stretched to
/// `dispatched / quota` slices.
#[derive(Clone, Debug)]
pub struct SliceLimit {
    quota: u64,
    slice_ns: u64,
    /// The current slice's start and (possibly stretched) end; `None` before the first.
    slice: Option<(u64, u64)>,
    dispatched: u64,
}

impl SliceLimit {
    /// A limit of `speed` bytes per second in slices of `slice_ns`; the quota is at least a
    /// byte, so a very low speed still moves.
    pub fn new(speed: u64, slice_ns: u64) -> SliceLimit {
        let quota = (speed as u128 * slice_ns as u128 / 1_000_000_000) as u64;
        SliceLimit {
            quota: quota.max(1),
            slice_ns,
            slice: None,
            dispatched: 0,
        }
    }

    /// Charges `bytes` at `now` and says how long to wait before more may be dispatched (0:
    /// at once). Asking with 0 bytes is the check a worker makes before it takes anything.
    pub fn charge(&mut self, now: u64, bytes: u64) -> u64 {
        let (start, end) = match self.slice {
            Some((start, end)) if end >= now => (start, end),
            // The last slice is over (or there was none): a new one starts now.
            _ => {
                self.dispatched = 0;
                (now, now.saturating_add(self.slice_ns))
            }
        };
        self.dispatched = self.dispatched.saturating_add(bytes);
        if self.dispatched < self.quota {
            self.slice = Some((start, end));
            return 0;
        }
        let stretched = self.dispatched as u128 * self.slice_ns as u128 / self.quota as u128;
        let end = start.saturating_add(stretched.min(u64::MAX as u128) as u64);
        self.slice = Some((start, end));
        end.saturating_sub(now)
    }

    pub fn quota(&self) -> u64 {
        self.quota
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn pacing_parses_from_its_names() {
        assert_eq!("smooth".parse(), Ok(Pacing::Smooth));
        let slices = |slice_ns| Ok(Pacing::Slices { slice_ns });
        assert_eq!("slices".parse(), slices(QEMU_SLICE_NS));
        assert_eq!("slices:20ms".parse(), slices(20_000_000));
        assert_eq!(
            Pacing::Slices {
                slice_ns: 20_000_000
            }
            .to_string(),
            "slices:20ms"
        );
        assert_eq!(
            "slices:0s".parse::<Pacing>(),
            Err("a slice must last".into())
        );
        assert!("steady"
            .parse::<Pacing>()
            .unwrap_err()
            .starts_with("expected smooth"));
    }

    #[test]
    fn the_quota_is_speed_times_slice() {
        assert_eq!(SliceLimit::new(16 * MIB, QEMU_SLICE_NS).quota(), 1_677_721);
        assert_eq!(SliceLimit::new(1, QEMU_SLICE_NS).quota(), 1);
    }

    #[test]
    fn dispatching_within_the_quota_never_waits() {
        let mut l = SliceLimit::new(16 * MIB, QEMU_SLICE_NS);
        assert_eq!(l.charge(0, 0), 0);
        assert_eq!(l.charge(0, MIB), 0);
        assert_eq!(l.charge(5, 0), 0, "1 MiB of a 1.6 MiB quota: more may go");
    }

    #[test]
    fn an_overrun_slice_is_stretched_in_proportion() {
        let mut l = SliceLimit::new(16 * MIB, QEMU_SLICE_NS);
        l.charge(1_000, MIB);
        // The second MiB overruns the quota: the slice lasts 2 MiB / quota slices.
        let end = 1_000 + (2 * MIB as u128 * QEMU_SLICE_NS as u128 / 1_677_721) as u64;
        assert_eq!(l.charge(1_000, MIB), end - 1_000);
        assert_eq!(l.charge(50_000_000, 0), end - 50_000_000);
        // At its end exactly the slice still holds (QEMU resets only after it), so nothing
        // is owed and a charge stretches it again.
        assert_eq!(l.charge(end, 0), 0);
        // After it a new slice starts with a fresh quota.
        assert_eq!(l.charge(end + 1, MIB), 0);
    }

    #[test]
    fn the_long_run_rate_is_the_limit() {
        // Workers taking 1 MiB whenever allowed, for 10 s of simulated time.
        let speed = 16 * MIB;
        let mut l = SliceLimit::new(speed, QEMU_SLICE_NS);
        let (mut now, mut sent) = (0u64, 0u64);
        while now < 10_000_000_000 {
            match l.charge(now, 0) {
                0 => {
                    l.charge(now, MIB);
                    sent += MIB;
                }
                wait => now += wait,
            }
        }
        let rate = sent as f64 / (now as f64 / 1e9);
        assert!((rate / speed as f64 - 1.0).abs() < 0.02, "{rate} B/s");
    }
}
