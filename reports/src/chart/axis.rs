//! The two axes of a panel, as plotters coordinate specs of our own.
//!
//! Plotters' built-in axes choose tick positions and labels themselves; a
//! storage designer reads sizes as `64 KiB` and latencies as round numbers,
//! so both axes here pick their own ticks and format their own labels.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// At most this many labelled ticks on an axis: a 600 px panel fits eight
/// `512 KiB` labels side by side without them touching.
const MAX_TICKS: usize = 8;

/// More light grid lines than this would grey the plot out.
const MAX_LIGHT_LINES: usize = 64;

/// Units of [`format_bytes`], each 1024 times the previous one.
const BYTE_UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Writes a byte count the way sizes are spoken of: `4 KiB`, `1 MiB`,
/// `1.5 KiB`. Whole multiples of a unit have no decimals, others one.
pub fn format_bytes(bytes: u64) -> String {
    format_byte_value(bytes as f64)
}

fn format_byte_value(bytes: f64) -> String {
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < BYTE_UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", BYTE_UNITS[unit])
    } else {
        format!("{value:.1} {}", BYTE_UNITS[unit])
    }
}

/// The x axis: bytes on a log2 scale, ticks on powers of two.
///
/// Values are bytes as `f64`; the axis itself works in exponents so that a
/// chunk size that doubles always moves the same distance.
#[derive(Clone, Debug)]
pub struct SizeAxis {
    /// log2 of the smallest byte count shown.
    lo: f64,
    /// log2 of the largest byte count shown.
    hi: f64,
    /// The values are counts (copy workers), labelled as plain numbers, not bytes.
    counts: bool,
}

impl SizeAxis {
    /// The axis for byte counts from `min` to `max` (both > 0), padded so
    /// that markers at the ends do not sit on the frame. Without data
    /// (`None`) it shows 4 KiB to 1 MiB.
    pub fn new(bounds: Option<(u64, u64)>) -> Self {
        let (mut lo, mut hi) = match bounds {
            Some((min, max)) => ((min.max(1) as f64).log2(), (max.max(1) as f64).log2()),
            None => (12.0, 20.0),
        };
        if hi - lo < 1e-9 {
            lo -= 1.0;
            hi += 1.0;
        }
        let pad = ((hi - lo) * 0.05).max(0.2);
        SizeAxis {
            lo: lo - pad,
            hi: hi + pad,
            counts: false,
        }
    }

    /// The same axis for counts (copy workers): the same log2 scale and ticks, each
    /// labelled as a plain number (`1`, `4`, `16`).
    pub fn of_counts(mut self) -> Self {
        self.counts = true;
        self
    }

    /// The exponents of all powers of two inside the axis, from 1 byte on.
    fn exponents(&self) -> Range<i64> {
        (self.lo.ceil().max(0.0) as i64)..(self.hi.floor() as i64 + 1)
    }

    /// Labelled exponents: every power of two while they are few, else
    /// every 2nd or 4th (4 KiB, 64 KiB, 1 MiB, …), then every 10th, 20th, …
    /// (1 KiB, 1 MiB, 1 GiB), aligned on multiples of the step so that the
    /// labels are round sizes, and never so many that they crowd.
    fn bold_exponents(&self, max: usize) -> Vec<i64> {
        let all = self.exponents();
        let count = all.end.saturating_sub(all.start).max(0) as usize;
        let step = [1, 2, 4]
            .into_iter()
            .chain((1..).map(|k| 10 * k))
            .find(|step| count.div_ceil(*step) <= max.max(1))
            .unwrap_or(count.max(1));
        all.filter(|e| e.rem_euclid(step as i64) == 0).collect()
    }
}

impl Ranged for SizeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let exp = if *value > 0.0 { value.log2() } else { self.lo };
        scale(exp, self.lo, self.hi, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let bold = self.bold_exponents(hint.bold_points().min(MAX_TICKS));
        let exponents: Vec<i64> = if !hint.weight().allow_light_points() {
            bold
        } else if self.exponents().count() <= MAX_LIGHT_LINES.min(hint.max_num_points()) {
            self.exponents().filter(|e| !bold.contains(e)).collect()
        } else {
            Vec::new()
        };
        exponents.into_iter().map(|e| (e as f64).exp2()).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo.exp2()..self.hi.exp2()
    }
}

impl ValueFormatter<f64> for SizeAxis {
    fn format_ext(&self, value: &f64) -> String {
        match self.counts {
            true => format!("{}", value.round()),
            false => format_byte_value(value.round()),
        }
    }
}

/// The y axis of one panel: linear, or log10 when the values span decades.
#[derive(Clone, Debug)]
pub struct ValueAxis {
    /// Smallest value shown (> 0 when `log`).
    lo: f64,
    /// Largest value shown.
    hi: f64,
    /// Whether the axis is log10.
    log: bool,
}

impl ValueAxis {
    /// A linear axis covering `values` with 5 % headroom on either side.
    /// It starts at 0 rather than below when no value is negative and none
    /// is 0; when the smallest is 0 it keeps the headroom below, so that
    /// points at 0 stand clear of the frame (the ticks stay at 0 and up). It
    /// is 0..1 when there is no value, -0.05..1 when all are 0.
    pub fn linear(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = match min_max(values) {
            None => (0.0, 1.0),
            Some((lo, hi)) if hi - lo == 0.0 => widen_flat(lo),
            Some((lo, hi)) => {
                let pad = (hi - lo) * 0.05;
                let floor = if lo > 0.0 { 0.0 } else { f64::NEG_INFINITY };
                ((lo - pad).max(floor), hi + pad)
            }
        };
        Self::checked(lo, hi, false)
    }

    /// A log10 axis covering `values`, which must all be > 0 (the caller
    /// clamps), with 5 % of the span in decades as headroom. It spans at
    /// least one decade, centred on the values, so that it always has two
    /// round tick labels and a small spread is not blown up to fill it.
    pub fn log(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = match min_max(values.filter(|v| *v > 0.0).map(f64::log10)) {
            None => (-1.0, 1.0),
            Some((lo, hi)) if hi - lo < 0.9 => {
                let centre = (lo + hi) / 2.0;
                (centre - 0.5, centre + 0.5)
            }
            Some((lo, hi)) => {
                let pad = (hi - lo) * 0.05;
                (lo - pad, hi + pad)
            }
        };
        Self::checked(10f64.powf(lo), 10f64.powf(hi), true)
    }

    /// Falls back to a plain axis when the data made the bounds overflow
    /// or collapse (values near `f64::MAX` or `f64::MIN_POSITIVE`).
    fn checked(lo: f64, hi: f64, log: bool) -> Self {
        let sane = lo.is_finite() && hi.is_finite() && lo < hi && (!log || lo > 0.0);
        match (sane, log) {
            (true, _) => ValueAxis { lo, hi, log },
            (false, false) => ValueAxis {
                lo: 0.0,
                hi: 1.0,
                log,
            },
            (false, true) => ValueAxis {
                lo: 0.1,
                hi: 10.0,
                log,
            },
        }
    }

    /// Where `value` lies in the axis as a fraction-friendly number: the
    /// value itself, or its log10.
    fn position(&self, value: f64) -> f64 {
        if self.log {
            value.max(self.lo).log10()
        } else {
            value
        }
    }

    /// Ticks at round numbers (1, 2 or 5 times a power of ten).
    fn linear_ticks(&self, max: usize) -> Vec<f64> {
        let step = nice_step((self.hi - self.lo) / max.max(1) as f64);
        let first = (self.lo / step).ceil() as i64;
        let last = (self.hi / step).floor() as i64;
        if last.saturating_sub(first) > 1000 {
            return Vec::new();
        }
        (first..=last).map(|k| k as f64 * step).collect()
    }

    /// Ticks at decades (every n-th one if there are many); on an axis
    /// of less than two decades, at 1, 2 and 5 times the decades (a
    /// decade-wide axis always holds two of them).
    fn log_ticks(&self, max: usize) -> Vec<f64> {
        let decades = self.decades();
        let count = decades.end.saturating_sub(decades.start).max(0) as usize;
        if count >= 2 {
            let step = count.div_ceil(max.max(1)) as i64;
            return decades
                .filter(|d| d.rem_euclid(step) == 0)
                .map(|d| 10f64.powi(d as i32))
                .collect();
        }
        self.multiples(&[1.0, 2.0, 5.0])
    }

    /// Exponents of the powers of ten inside the axis.
    fn decades(&self) -> Range<i64> {
        (self.lo.log10().ceil() as i64)..(self.hi.log10().floor() as i64 + 1)
    }

    /// `factors` times every power of ten, kept where inside the axis.
    fn multiples(&self, factors: &[f64]) -> Vec<f64> {
        let from = self.lo.log10().floor() as i32;
        let to = self.hi.log10().ceil() as i32;
        (from..=to)
            .flat_map(|d| factors.iter().map(move |f| f * 10f64.powi(d)))
            .filter(|v| *v >= self.lo && *v <= self.hi)
            .collect()
    }

    /// Light lines of a log axis: 2..9 times each labelled decade.
    fn log_light_lines(&self, bold: &[f64]) -> Vec<f64> {
        if self.decades().count() < 2 || self.decades().count() > 8 {
            return Vec::new();
        }
        let lines = self.multiples(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        lines.into_iter().filter(|v| !bold.contains(v)).collect()
    }
}

impl Ranged for ValueAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (lo, hi) = (self.position(self.lo), self.position(self.hi));
        scale(self.position(*value), lo, hi, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.bold_points().min(MAX_TICKS);
        let bold = if self.log {
            self.log_ticks(max)
        } else {
            self.linear_ticks(max)
        };
        match (hint.weight().allow_light_points(), self.log) {
            (false, _) => bold,
            (true, true) => self.log_light_lines(&bold),
            (true, false) => Vec::new(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for ValueAxis {
    fn format_ext(&self, value: &f64) -> String {
        if self.log {
            format_number(*value, *value, *value)
        } else {
            let step = nice_step((self.hi - self.lo) / MAX_TICKS as f64);
            format_number(*value, step, self.hi.abs().max(self.lo.abs()))
        }
    }
}

/// Maps `value` from `lo..hi` onto the pixel range `limit`.
fn scale(value: f64, lo: f64, hi: f64, limit: (i32, i32)) -> i32 {
    let frac = (value - lo) / (hi - lo);
    let pixel = f64::from(limit.0) + frac * f64::from(limit.1 - limit.0);
    pixel.round() as i32
}

/// The smallest and largest of `values`.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A range around a single value: 0..1 for 0 (with the headroom below
/// that keeps points at 0 off the frame), else ±10 % of it.
fn widen_flat(value: f64) -> (f64, f64) {
    if value == 0.0 {
        (-0.05, 1.0)
    } else {
        let pad = value.abs() * 0.1;
        (value - pad, value + pad)
    }
}

/// The smallest of 1, 2, 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// A tick label: `value` with as many decimals as `step` (the distance to
/// the next tick) needs; when the axis reaches `magnitude` ≥ 10 000, all its
/// labels are shortened with k, M or G so that they stay narrow and alike.
fn format_number(value: f64, step: f64, magnitude: f64) -> String {
    let (divisor, suffix) = match magnitude.abs() {
        m if m >= 1e9 => (1e9, "G"),
        m if m >= 1e6 => (1e6, "M"),
        m if m >= 1e4 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let decimals = decimals_for(step.abs() / divisor);
    let shown = value / divisor;
    // A tick that rounds to zero is written "0", never "-0".
    let shown = if (shown * 10f64.powi(decimals as i32)).round() == 0.0 {
        0.0
    } else {
        shown
    };
    format!("{shown:.decimals$}{suffix}")
}

/// Decimals needed to tell apart values that differ by `step` (1, 2 or 5
/// times a power of ten).
fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) || step >= 1.0 {
        return 0;
    }
    (-(step.log10() + 1e-9).floor()).min(12.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_written_as_sizes() {
        assert_eq!(format_bytes(1), "1 B");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(64 << 10), "64 KiB");
        assert_eq!(format_bytes(1 << 20), "1 MiB");
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(1 << 62), "4 EiB");
        assert_eq!(format_bytes(u64::MAX), "16 EiB");
    }

    #[test]
    fn size_ticks_thin_out_but_keep_round_sizes() {
        let few = SizeAxis::new(Some((4 << 10, 4 << 20)));
        let labels: Vec<String> = few
            .key_points(BoldPoints(10))
            .iter()
            .map(|v| few.format_ext(v))
            .collect();
        assert_eq!(
            labels,
            ["4 KiB", "16 KiB", "64 KiB", "256 KiB", "1 MiB", "4 MiB"]
        );
        let many = SizeAxis::new(Some((1, 1 << 40)));
        let ticks = many.key_points(BoldPoints(10));
        assert!(ticks.len() <= MAX_TICKS, "{ticks:?}");
        assert!(ticks.contains(&((1u64 << 20) as f64)));
        let one = SizeAxis::new(Some((8192, 8192)));
        assert_eq!(one.key_points(BoldPoints(10)), [4096.0, 8192.0, 16384.0]);
    }

    #[test]
    fn linear_axis_has_headroom_and_round_ticks() {
        let axis = ValueAxis::linear([3.0, 97.0].into_iter());
        assert_eq!(axis.lo, 0.0);
        assert!(axis.hi > 97.0);
        let ticks = axis.key_points(BoldPoints(10));
        assert_eq!(ticks, [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let from_zero = ValueAxis::linear([0.0, 20.0].into_iter());
        assert_eq!((from_zero.lo, from_zero.hi), (-1.0, 21.0));
        assert_eq!(from_zero.key_points(BoldPoints(10))[0], 0.0);
        let zeros = ValueAxis::linear([0.0, 0.0].into_iter());
        assert_eq!((zeros.lo, zeros.hi), (-0.05, 1.0));
        let labels: Vec<String> = zeros
            .key_points(BoldPoints(10))
            .iter()
            .map(|v| zeros.format_ext(v))
            .collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn log_axis_ticks_decades_or_multiples() {
        let wide = ValueAxis::log([2.0, 30_000.0].into_iter());
        let labels: Vec<String> = wide
            .key_points(BoldPoints(10))
            .iter()
            .map(|v| wide.format_ext(v))
            .collect();
        assert_eq!(labels, ["10", "100", "1000", "10k"]);
        let narrow = ValueAxis::log([120.0, 180.0].into_iter());
        assert_eq!(narrow.key_points(BoldPoints(10)), [50.0, 100.0, 200.0]);
        let tiny = ValueAxis::log([0.002, 0.5].into_iter());
        let labels: Vec<String> = tiny
            .key_points(BoldPoints(10))
            .iter()
            .map(|v| tiny.format_ext(v))
            .collect();
        assert_eq!(labels, ["0.01", "0.1"]);
    }

    #[test]
    fn large_numbers_are_shortened() {
        assert_eq!(format_number(20_000.0, 5_000.0, 20_000.0), "20k");
        assert_eq!(format_number(5_000.0, 5_000.0, 20_000.0), "5k");
        assert_eq!(format_number(5_000.0, 5_000.0, 5_000.0), "5000");
        assert_eq!(format_number(2_500_000.0, 500_000.0, 3e6), "2.5M");
        assert_eq!(format_number(0.25, 0.05, 1.0), "0.25");
        assert_eq!(format_number(-1e-17, 0.1, 1.0), "0.0");
    }

    use plotters::coord::ranged1d::BoldPoints;
}
