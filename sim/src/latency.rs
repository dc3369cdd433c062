//! Latency histograms: a thin wrapper over `hdrhistogram` with the range
//! and precision the simulator needs, and no failure modes on record.

use hdrhistogram::Histogram;

/// The slowest latency tracked exactly: one hour. Anything slower is
/// recorded as one hour and counted in [`Latencies::clamped`].
const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;

/// Three significant digits: quantiles within 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

const NS_PER_US: f64 = 1_000.0;

/// Latencies in nanoseconds, 1 ns .. 1 hour at 3 significant digits.
#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
    clamped: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        Latencies {
            histogram,
            clamped: 0,
        }
    }

    /// Records one latency; values above one hour count as one hour (and
    /// as clamped), so a runaway simulation cannot fail here.
    pub fn record(&mut self, ns: u64) {
        if ns > self.histogram.high() {
            self.clamped += 1;
        }
        self.histogram.saturating_record(ns);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// How many recorded latencies exceeded the range and were clamped.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The latency at quantile `q` (0.5 is the median) in microseconds, to
    /// 3 significant digits; `q` is clamped into [0, 1] (NaN counts as 0).
    /// Zero with no samples.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        self.histogram.value_at_quantile(q) as f64 / NS_PER_US
    }

    /// The largest latency in microseconds, to 3 significant digits; zero
    /// with no samples.
    pub fn max_us(&self) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.max() as f64 / NS_PER_US
    }

    /// Adds `other`'s samples (e.g. per-writer histograms into a total).
    pub fn merge(&mut self, other: &Latencies) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds always add");
        self.clamped += other.clamped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within hdrhistogram's 3-significant-digit resolution.
    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 1e-3
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let latencies = Latencies::new();
        assert_eq!(latencies.count(), 0);
        assert_eq!(latencies.quantile_us(0.5), 0.0);
        assert_eq!(latencies.quantile_us(0.99), 0.0);
        assert_eq!(latencies.max_us(), 0.0);
    }

    #[test]
    fn quantiles_of_one_to_a_thousand_microseconds() {
        let mut latencies = Latencies::new();
        for us in 1..=1000 {
            latencies.record(us * 1000);
        }
        assert_eq!(latencies.count(), 1000);
        assert!(
            close(latencies.quantile_us(0.5), 500.0),
            "{}",
            latencies.quantile_us(0.5)
        );
        assert!(
            close(latencies.quantile_us(0.99), 990.0),
            "{}",
            latencies.quantile_us(0.99)
        );
        assert!(
            close(latencies.quantile_us(0.0), 1.0),
            "{}",
            latencies.quantile_us(0.0)
        );
        assert!(close(latencies.quantile_us(7.0), 1000.0));
        assert!(close(latencies.quantile_us(f64::NAN), 1.0));
        assert!(close(latencies.max_us(), 1000.0), "{}", latencies.max_us());
    }

    #[test]
    fn small_values_are_exact() {
        let mut latencies = Latencies::new();
        latencies.record(0);
        latencies.record(1);
        latencies.record(2);
        assert_eq!(latencies.count(), 3);
        assert_eq!(latencies.max_us(), 0.002);
        assert_eq!(latencies.quantile_us(0.0), 0.0);
    }

    #[test]
    fn values_past_an_hour_are_clamped_and_counted() {
        let mut latencies = Latencies::new();
        latencies.record(5_000);
        latencies.record(HIGHEST_NS);
        latencies.record(u64::MAX);
        latencies.record(HIGHEST_NS + 1);
        assert_eq!(latencies.count(), 4);
        assert_eq!(latencies.clamped(), 2);
        let hour_us = HIGHEST_NS as f64 / NS_PER_US;
        assert!(close(latencies.max_us(), hour_us), "{}", latencies.max_us());
    }

    #[test]
    fn merging_adds_samples_and_clamps() {
        let mut fast = Latencies::new();
        let mut slow = Latencies::new();
        for _ in 0..90 {
            fast.record(10_000);
        }
        for _ in 0..10 {
            slow.record(1_000_000);
        }
        slow.record(u64::MAX);
        fast.merge(&slow);
        assert_eq!(fast.count(), 101);
        assert_eq!(fast.clamped(), 1);
        assert!(
            close(fast.quantile_us(0.5), 10.0),
            "{}",
            fast.quantile_us(0.5)
        );
        assert!(
            close(fast.quantile_us(0.95), 1000.0),
            "{}",
            fast.quantile_us(0.95)
        );
        assert_eq!(slow.count(), 11);
    }
}
