//! Figures as a report writes them: sizes in binary units, latencies in the unit that reads
//! best, at most four significant digits.

use crate::chart::format_bytes;
use crate::recommend::Estimate;

pub fn size(b: u64) -> String {
    format_bytes(b)
}

/// A list of sizes: "4 KiB to 4 MiB (powers of two)" when they double.
pub fn sizes(v: &[u64]) -> String {
    match v {
        [] => "none".into(),
        [one] => size(*one),
        [first, .., last] if v.windows(2).all(|w| w[1] == 2 * w[0]) => {
            format!("{} to {} (powers of two)", size(*first), size(*last))
        }
        _ => v.iter().map(|b| size(*b)).collect::<Vec<_>>().join(", "),
    }
}

/// A figure for a table: at most four significant digits, no exponent.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(0.0) => "0".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

pub fn mib(v: Option<f64>) -> String {
    num(v.map(|b| b / (1 << 20) as f64))
}

/// The unit a latency of `us` microseconds reads best in: µs below a millisecond, ms below
/// a second, else s; and the divisor to it.
fn latency_unit(us: f64) -> (&'static str, f64) {
    match us.abs() {
        x if x < 1e3 => ("µs", 1.0),
        x if x < 1e6 => ("ms", 1e3),
        _ => ("s", 1e6),
    }
}

/// A latency in microseconds, in the unit that reads best: `850 µs`, `3.42 ms`, `23.7 s`.
pub fn latency(us: Option<f64>) -> String {
    let Some(us) = us else {
        return "n/a".into();
    };
    let (unit, div) = latency_unit(us);
    format!("{} {unit}", three(us / div))
}

/// A latency's mean and the half width of its interval, in the mean's unit: `144 ms ± 9.1`.
pub fn latency_ci(e: &Estimate) -> String {
    let (unit, div) = latency_unit(e.mean);
    format!("{} {unit}{}", three(e.mean / div), plus_minus(e, div))
}

/// ` ± h` in units of `div`, or nothing when the interval is unbounded (one seed).
fn plus_minus(e: &Estimate, div: f64) -> String {
    let h = e.half_width();
    match h.is_finite() {
        true => format!(" ± {}", three(h / div)),
        false => String::new(),
    }
}

/// Three significant digits (whole numbers above 100).
fn three(v: f64) -> String {
    match v.abs() {
        0.0 => "0".into(),
        x if x >= 100.0 => format!("{v:.0}"),
        x if x >= 10.0 => format!("{v:.1}"),
        x if x >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A share as a percentage with the interval of a paired difference over a base:
/// `+77.2% (95% CI +60.1% to +94.3%)`.
pub fn relative(d: &Estimate, base: f64) -> String {
    let pct = |v: f64| format!("{:+.1}%", 100.0 * v / base);
    match d.lo.is_finite() && d.hi.is_finite() {
        true => format!("{} (95% CI {} to {})", pct(d.mean), pct(d.lo), pct(d.hi)),
        false => pct(d.mean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_in_their_unit() {
        assert_eq!(latency(Some(850.0)), "850 µs");
        assert_eq!(latency(Some(999.0)), "999 µs");
        assert_eq!(latency(Some(1000.0)), "1.00 ms");
        assert_eq!(latency(Some(144_310.0)), "144 ms");
        assert_eq!(latency(Some(23_706_206.0)), "23.7 s");
        let e = Estimate {
            mean: 144_310.0,
            lo: 135_210.0,
            hi: 153_410.0,
            n: 3.0,
        };
        assert_eq!(latency_ci(&e), "144 ms ± 9.10");
    }
}
