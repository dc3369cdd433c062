//! Sizes, durations and rates as a user types them on a command line or in a
//! spec file (`4KiB`, `1.5 GiB`, `4.17ms`, `500MB/s`), and back.
//!
//! Parsing is exact decimal arithmetic in integers, so `1.5GiB` is exactly
//! 1610612736 bytes on every platform; floating point appears only in
//! [`parse_rate`], whose result is a float anyway.

use thiserror::Error;

/// Fraction digits beyond this (after dropping trailing zeros) are refused:
/// with at most 18 the exact arithmetic fits in `u128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// Size units: binary ones are powers of 1024, decimal ones powers of 1000.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
    ("EiB", 1 << 60),
    ("kB", 1_000),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("PB", 1_000_000_000_000_000),
];
const SIZE_EXPECTED: &str = "B, KiB, MiB, GiB, TiB, PiB, EiB, kB, MB, GB, TB, PB";

/// Binary units tried by [`format_size`], largest first.
const BINARY_UNITS: &[(&str, u64)] = &[
    ("EiB", 1 << 60),
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

const NS_PER_S: u64 = 1_000_000_000;

/// Duration units in nanoseconds.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NS_PER_S),
    ("m", 60 * NS_PER_S),
    ("h", 3600 * NS_PER_S),
];
const DURATION_EXPECTED: &str = "ns, us, µs, ms, s, m, h";

/// Units tried by [`format_duration`], largest first.
const DURATION_DISPLAY: &[(&str, u64)] = &[
    ("h", 3600 * NS_PER_S),
    ("m", 60 * NS_PER_S),
    ("s", NS_PER_S),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// What kind of quantity was being parsed; names it in the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Size,
    Duration,
    Rate,
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quantity::Size => "size",
            Quantity::Duration => "duration",
            Quantity::Rate => "rate",
        })
    }
}

/// A size, duration or rate that could not be parsed: what, the text as
/// given, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("bad {quantity} '{text}': {problem}")]
pub struct SizeError {
    pub quantity: Quantity,
    pub text: String,
    pub problem: Problem,
}

/// Why a size, duration or rate was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("empty")]
    Empty,
    #[error("negative")]
    Negative,
    #[error("'{0}' is not a number")]
    NotANumber(String),
    #[error("missing unit (expected {0})")]
    MissingUnit(&'static str),
    #[error("unknown unit '{unit}' (expected {expected})")]
    UnknownUnit {
        unit: String,
        expected: &'static str,
    },
    #[error("not a whole number of {0}")]
    NotWhole(&'static str),
    #[error("more than {MAX_FRACTION_DIGITS} decimal places")]
    TooPrecise,
    #[error("more than 2^64 - 1 {0}")]
    Overflow(&'static str),
    #[error("not finite")]
    NotFinite,
    #[error("not positive")]
    NotPositive,
    #[error("a rate is per second: write {0}/s")]
    NoPerSecond(String),
}

/// How a decimal times a unit becomes an integer.
#[derive(Clone, Copy)]
enum Rounding {
    /// Refuse a fraction of the base unit (bytes).
    Exact,
    /// Round half up to the nearest base unit (nanoseconds).
    Nearest,
}

/// A non-negative decimal `int.frac` held exactly.
struct Decimal {
    int: u128,
    /// The fraction digits as an integer, trailing zeros dropped.
    frac: u128,
    frac_digits: u32,
}

/// Parses a byte size: an integer or decimal with an optional unit
/// (`B`, `KiB` … `EiB` are powers of 1024, `kB`/`KB` … `PB` powers of 1000),
/// optionally separated by spaces. No unit means bytes. A decimal is allowed
/// only when the result is a whole number of bytes (`1.5KiB` is 1536,
/// `1.5B` is an error).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    parse_size_problem(text).map_err(|problem| SizeError {
        quantity: Quantity::Size,
        text: text.to_string(),
        problem,
    })
}

fn parse_size_problem(text: &str) -> Result<u64, Problem> {
    let (number, unit) = split_quantity(text)?;
    let multiplier = if unit.is_empty() {
        1
    } else {
        lookup_unit(SIZE_UNITS, SIZE_EXPECTED, unit)?
    };
    scale(
        parse_decimal(number, "bytes")?,
        multiplier,
        Rounding::Exact,
        "bytes",
    )
}

/// Formats a byte count with the largest binary unit that divides it
/// exactly, so the text parses back to the same number: `4 KiB`, `16 TiB`,
/// but `1536 B` (1.5 KiB is not a whole number of KiB).
pub fn format_size(bytes: u64) -> String {
    BINARY_UNITS
        .iter()
        .find(|(_, unit)| bytes != 0 && bytes.is_multiple_of(*unit))
        .map_or_else(
            || format!("{bytes} B"),
            |(name, unit)| format!("{} {name}", bytes / unit),
        )
}

/// Parses a duration into nanoseconds: a number with a unit `ns`, `us`
/// (or `µs`), `ms`, `s`, `m` (minutes) or `h`, optionally separated by
/// spaces. Decimals are allowed (`4.17ms`) and are **rounded to the nearest
/// nanosecond** (halves round up). A unit is required, except for a bare
/// zero, which needs none.
pub fn parse_duration(text: &str) -> Result<u64, SizeError> {
    parse_duration_problem(text).map_err(|problem| SizeError {
        quantity: Quantity::Duration,
        text: text.to_string(),
        problem,
    })
}

fn parse_duration_problem(text: &str) -> Result<u64, Problem> {
    let (number, unit) = split_quantity(text)?;
    let decimal = parse_decimal(number, "nanoseconds")?;
    let multiplier = if unit.is_empty() {
        if decimal.int != 0 || decimal.frac != 0 {
            return Err(Problem::MissingUnit(DURATION_EXPECTED));
        }
        1
    } else {
        lookup_unit(DURATION_UNITS, DURATION_EXPECTED, unit)?
    };
    scale(decimal, multiplier, Rounding::Nearest, "nanoseconds")
}

/// Formats nanoseconds for people: the largest unit in which the value is
/// at least 1, with up to three decimals (`4.17 ms`, `20 us`, `1.5 s`,
/// `2 h`). The text parses back with [`parse_duration`] to within half a
/// thousandth of that unit.
pub fn format_duration(ns: u64) -> String {
    for &(name, unit) in DURATION_DISPLAY {
        let thousandths = rounded_thousandths(ns, unit);
        if thousandths >= 1000 {
            return format!("{} {name}", thousandths_text(thousandths));
        }
    }
    "0 ns".to_string()
}

/// `ns / unit` in thousandths, rounded half up.
fn rounded_thousandths(ns: u64, unit: u64) -> u128 {
    (u128::from(ns) * 1000 + u128::from(unit) / 2) / u128::from(unit)
}

/// `1234` → `1.234`, `1500` → `1.5`, `2000` → `2`.
fn thousandths_text(thousandths: u128) -> String {
    let (whole, frac) = (thousandths / 1000, thousandths % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        let digits = format!("{frac:03}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Parses a rate (bandwidth, requests per second): either a plain number
/// (`3e9`, `500000000`, `0.5`) or an amount per second (`500MB/s`,
/// `3GiB/s`, `200/s`). The result must be finite and positive.
pub fn parse_rate(text: &str) -> Result<f64, SizeError> {
    parse_rate_problem(text).map_err(|problem| SizeError {
        quantity: Quantity::Rate,
        text: text.to_string(),
        problem,
    })
}

fn parse_rate_problem(text: &str) -> Result<f64, Problem> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Problem::Empty);
    }
    let rate = match trimmed.strip_suffix("/s") {
        Some(amount) => parse_rate_amount(amount.trim_end())?,
        None => trimmed.parse::<f64>().map_err(|_| {
            // A size alone is a rate with its "/s" forgotten: say how to write it.
            match parse_size_problem(trimmed) {
                Ok(_) => Problem::NoPerSecond(trimmed.to_string()),
                Err(_) => Problem::NotANumber(trimmed.to_string()),
            }
        })?,
    };
    if !rate.is_finite() {
        return Err(Problem::NotFinite);
    }
    if rate <= 0.0 {
        return Err(Problem::NotPositive);
    }
    Ok(rate)
}

/// The part before `/s`: a plain number or a size.
fn parse_rate_amount(amount: &str) -> Result<f64, Problem> {
    match amount.parse::<f64>() {
        Ok(number) => Ok(number),
        // Bandwidths above 2^53 B/s lose precision as f64; they are far
        // beyond any device.
        Err(_) => parse_size_problem(amount).map(|bytes| bytes as f64),
    }
}

/// Splits trimmed text into the number and the (possibly empty) unit.
fn split_quantity(text: &str) -> Result<(&str, &str), Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    // Only a minus before a number is a sign: `--json` (a flag taken as a value) is not a
    // negative size.
    if text.starts_with('-') && text[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(Problem::Negative);
    }
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() {
        return Err(Problem::NotANumber(text.to_string()));
    }
    Ok((number, unit.trim_start()))
}

fn lookup_unit(units: &[(&str, u64)], expected: &'static str, unit: &str) -> Result<u64, Problem> {
    units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, multiplier)| multiplier)
        .ok_or_else(|| Problem::UnknownUnit {
            unit: unit.to_string(),
            expected,
        })
}

/// Parses `digits[.digits]` exactly; `base` names the unit for overflow.
fn parse_decimal(number: &str, base: &'static str) -> Result<Decimal, Problem> {
    let not_a_number = || Problem::NotANumber(number.to_string());
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && !frac.contains('.') => (int, frac),
        Some(_) => return Err(not_a_number()),
        None => (number, ""),
    };
    if int.is_empty() {
        return Err(not_a_number());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > MAX_FRACTION_DIGITS {
        return Err(Problem::TooPrecise);
    }
    Ok(Decimal {
        int: parse_digits(int, base)?,
        frac: parse_digits(frac, base)?,
        frac_digits: frac.len() as u32,
    })
}

/// ASCII digits as an integer; anything beyond `u64` is an overflow, since
/// every unit multiplies by at least one.
fn parse_digits(digits: &str, base: &'static str) -> Result<u128, Problem> {
    digits.bytes().try_fold(0u128, |value, digit| {
        let value = value * 10 + u128::from(digit - b'0');
        if value > u128::from(u64::MAX) {
            Err(Problem::Overflow(base))
        } else {
            Ok(value)
        }
    })
}

/// `decimal × multiplier` as a whole number of base units (bytes, ns).
fn scale(
    decimal: Decimal,
    multiplier: u64,
    rounding: Rounding,
    base: &'static str,
) -> Result<u64, Problem> {
    let denominator = 10u128.pow(decimal.frac_digits);
    // int ≤ 2^64 and denominator ≤ 10^18, so this fits in u128.
    let numerator = decimal.int * denominator + decimal.frac;
    // If the product overflows u128, the quotient (divided by at most
    // 10^18) would exceed u64 anyway.
    let product = numerator
        .checked_mul(u128::from(multiplier))
        .ok_or(Problem::Overflow(base))?;
    let whole = match rounding {
        Rounding::Exact if product % denominator != 0 => return Err(Problem::NotWhole(base)),
        Rounding::Exact => product / denominator,
        Rounding::Nearest => {
            product
                .checked_add(denominator / 2)
                .ok_or(Problem::Overflow(base))?
                / denominator
        }
    };
    u64::try_from(whole).map_err(|_| Problem::Overflow(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;

    fn size_problem(text: &str) -> Problem {
        parse_size(text).unwrap_err().problem
    }

    fn duration_problem(text: &str) -> Problem {
        parse_duration(text).unwrap_err().problem
    }

    fn rate_problem(text: &str) -> Problem {
        parse_rate(text).unwrap_err().problem
    }

    #[test]
    fn sizes_with_every_unit() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("512B").unwrap(), 512);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4 KiB").unwrap(), 4096);
        assert_eq!(parse_size("  3 MiB ").unwrap(), 3 * MIB);
        assert_eq!(parse_size("2GiB").unwrap(), 2 * GIB);
        assert_eq!(parse_size("1TiB").unwrap(), 1 << 40);
        assert_eq!(parse_size("1PiB").unwrap(), 1 << 50);
        assert_eq!(parse_size("15EiB").unwrap(), 15 << 60);
        assert_eq!(parse_size("4kB").unwrap(), 4000);
        assert_eq!(parse_size("4KB").unwrap(), 4000);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("3GB").unwrap(), 3_000_000_000);
        assert_eq!(parse_size("2TB").unwrap(), 2_000_000_000_000);
        assert_eq!(parse_size("7PB").unwrap(), 7_000_000_000_000_000);
    }

    #[test]
    fn whole_decimals_are_sizes() {
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_size("2.0").unwrap(), 2);
        assert_eq!(parse_size("0.5kB").unwrap(), 500);
        assert_eq!(parse_size("0.0009765625KiB").unwrap(), 1);
    }

    #[test]
    fn fractional_bytes_are_refused() {
        assert_eq!(size_problem("1.5"), Problem::NotWhole("bytes"));
        assert_eq!(size_problem("1.0001KiB"), Problem::NotWhole("bytes"));
    }

    #[test]
    fn u64_max_fits_and_one_more_overflows() {
        assert_eq!(parse_size("18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(
            size_problem("18446744073709551616"),
            Problem::Overflow("bytes")
        );
        assert_eq!(size_problem("16EiB"), Problem::Overflow("bytes"));
        assert_eq!(parse_size("15.5EiB").unwrap(), 31 << 59);
        assert_eq!(
            size_problem("99999999999999999999999999999999999999999TB"),
            Problem::Overflow("bytes")
        );
    }

    #[test]
    fn malformed_sizes() {
        assert_eq!(size_problem(""), Problem::Empty);
        assert_eq!(size_problem("   "), Problem::Empty);
        assert_eq!(size_problem("-4KiB"), Problem::Negative);
        assert_eq!(size_problem("--json"), Problem::NotANumber("--json".into()));
        assert_eq!(size_problem("KiB"), Problem::NotANumber("KiB".into()));
        assert_eq!(size_problem("1.2.3"), Problem::NotANumber("1.2.3".into()));
        assert_eq!(size_problem("1."), Problem::NotANumber("1.".into()));
        assert_eq!(size_problem(".5KiB"), Problem::NotANumber(".5".into()));
        assert_eq!(
            size_problem("1.0000000000000000001KiB"),
            Problem::TooPrecise
        );
        assert_eq!(
            size_problem("4kib"),
            Problem::UnknownUnit {
                unit: "kib".into(),
                expected: SIZE_EXPECTED
            }
        );
    }

    #[test]
    fn size_error_names_text_unit_and_expected_units() {
        let err = parse_size("4Kb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad size '4Kb': unknown unit 'Kb' (expected B, KiB, MiB, GiB, TiB, PiB, EiB, kB, MB, GB, TB, PB)"
        );
        assert_eq!(
            parse_size("1.5").unwrap_err().to_string(),
            "bad size '1.5': not a whole number of bytes"
        );
    }

    #[test]
    fn format_size_uses_largest_exact_binary_unit() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1), "1 B");
        assert_eq!(format_size(1536), "1536 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(1536 * KIB), "1536 KiB");
        assert_eq!(format_size(MIB), "1 MiB");
        assert_eq!(format_size(16 << 40), "16 TiB");
        assert_eq!(format_size(1 << 63), "8 EiB");
        assert_eq!(format_size(u64::MAX), "18446744073709551615 B");
    }

    #[test]
    fn formatted_sizes_parse_back() {
        for bytes in [0, 1, 512, 1536, 4096, 3 * MIB, 5 * GIB, 1 << 62, u64::MAX] {
            assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn durations_with_every_unit() {
        assert_eq!(parse_duration("250ns").unwrap(), 250);
        assert_eq!(parse_duration("20us").unwrap(), 20_000);
        assert_eq!(parse_duration("20µs").unwrap(), 20_000);
        assert_eq!(parse_duration("4 ms").unwrap(), 4_000_000);
        assert_eq!(parse_duration("2s").unwrap(), 2_000_000_000);
        assert_eq!(parse_duration("3m").unwrap(), 180_000_000_000);
        assert_eq!(parse_duration("1h").unwrap(), 3_600_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("0.0").unwrap(), 0);
    }

    #[test]
    fn decimal_durations_round_to_nearest_ns() {
        assert_eq!(parse_duration("4.17ms").unwrap(), 4_170_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("0.0015us").unwrap(), 2);
        assert_eq!(parse_duration("0.0014us").unwrap(), 1);
        assert_eq!(parse_duration("0.4ns").unwrap(), 0);
        assert_eq!(parse_duration("0.5ns").unwrap(), 1);
    }

    #[test]
    fn malformed_durations() {
        assert_eq!(
            duration_problem("5"),
            Problem::MissingUnit(DURATION_EXPECTED)
        );
        assert_eq!(duration_problem(""), Problem::Empty);
        assert_eq!(duration_problem("-1s"), Problem::Negative);
        assert_eq!(
            duration_problem("5 sec"),
            Problem::UnknownUnit {
                unit: "sec".into(),
                expected: DURATION_EXPECTED
            }
        );
        assert_eq!(
            duration_problem("5124096h"),
            Problem::Overflow("nanoseconds")
        );
        assert_eq!(
            parse_duration("5124095h").unwrap(),
            5_124_095 * 3_600 * NS_PER_S
        );
        assert_eq!(
            parse_duration("5 sec").unwrap_err().to_string(),
            "bad duration '5 sec': unknown unit 'sec' (expected ns, us, µs, ms, s, m, h)"
        );
    }

    #[test]
    fn format_duration_picks_a_readable_unit() {
        assert_eq!(format_duration(0), "0 ns");
        assert_eq!(format_duration(999), "999 ns");
        assert_eq!(format_duration(20_000), "20 us");
        assert_eq!(format_duration(4_170_000), "4.17 ms");
        assert_eq!(format_duration(1_234_567), "1.235 ms");
        assert_eq!(format_duration(1_500_000_000), "1.5 s");
        assert_eq!(format_duration(999_999_999), "1 s");
        assert_eq!(format_duration(90 * NS_PER_S), "1.5 m");
        assert_eq!(format_duration(7_200 * NS_PER_S), "2 h");
        assert_eq!(format_duration(u64::MAX), "5124095.576 h");
    }

    #[test]
    fn formatted_durations_parse_back() {
        for ns in [0, 7, 20_000, 4_170_000, 1_500_000_000, 90 * NS_PER_S] {
            assert_eq!(parse_duration(&format_duration(ns)).unwrap(), ns);
        }
    }

    #[test]
    fn rates_plain_and_per_second() {
        assert_eq!(parse_rate("3e9").unwrap(), 3e9);
        assert_eq!(parse_rate("500000000").unwrap(), 5e8);
        assert_eq!(parse_rate("0.5").unwrap(), 0.5);
        assert_eq!(parse_rate("500MB/s").unwrap(), 5e8);
        assert_eq!(parse_rate("3GiB/s").unwrap(), 3.0 * GIB as f64);
        assert_eq!(parse_rate("3 GiB/s").unwrap(), 3.0 * GIB as f64);
        assert_eq!(parse_rate("200/s").unwrap(), 200.0);
        assert_eq!(parse_rate("2.5/s").unwrap(), 2.5);
    }

    #[test]
    fn rates_must_be_finite_and_positive() {
        assert_eq!(rate_problem("0"), Problem::NotPositive);
        assert_eq!(rate_problem("-3"), Problem::NotPositive);
        assert_eq!(rate_problem("0MB/s"), Problem::NotPositive);
        assert_eq!(rate_problem("inf"), Problem::NotFinite);
        assert_eq!(rate_problem("1e400"), Problem::NotFinite);
        assert_eq!(rate_problem("NaN"), Problem::NotFinite);
        assert_eq!(rate_problem(""), Problem::Empty);
        assert_eq!(rate_problem("fast"), Problem::NotANumber("fast".into()));
        assert!(matches!(rate_problem("5Mb/s"), Problem::UnknownUnit { .. }));
        assert_eq!(
            parse_rate("0MB/s").unwrap_err().to_string(),
            "bad rate '0MB/s': not positive"
        );
    }
}
