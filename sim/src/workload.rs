//! Seeded request generators: where requests land (a [`Pattern`]), how
//! large they are ([`Sizes`]), how many read, and when they arrive.
//!
//! All randomness comes from one `ChaCha8Rng` seeded with the run's seed,
//! drawn in a fixed order, so a spec and a seed give the same requests bit
//! for bit on every platform. Integers are drawn without floating point;
//! only Zipf ranks and exponential gaps go through `rand_distr`'s f64.

use crate::permutation::Permutation;
use crate::size::{format_size, parse_size};
use cowlab_model::names::Named;
use cowlab_model::{Op, Request};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Zipf};
use serde::{Deserialize, Serialize};
use thiserror::Error;

const NS_PER_S: f64 = 1e9;

/// Where requests land in the volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Pattern {
    /// Every slot equally likely.
    Uniform,
    /// The slot of popularity rank `k` (of `N`) is chosen with probability
    /// ∝ 1/k^s; ranks are scattered over the volume by a seeded
    /// permutation, so the hot slots are not all at offset 0.
    Zipf { s: f64 },
    /// `fraction` of requests land uniformly in a hot region of `size`
    /// bytes at a seeded, `align`-aligned place; the rest land uniformly
    /// anywhere. Hot requests are size-aligned relative to the region.
    Hotspot { fraction: f64, size: u64 },
    /// Append-like: each request starts where the previous one ended,
    /// from a seeded aligned start, wrapping to 0 when the next request
    /// would pass the end of the volume.
    Sequential,
}

/// A pattern as a user names it, without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatternName {
    Uniform,
    Zipf,
    Hotspot,
    Sequential,
}

impl PatternName {
    /// The pattern, with the parameters of the one that takes them.
    pub fn pattern(self, zipf_s: f64, hot_fraction: f64, hot_size: u64) -> Pattern {
        match self {
            PatternName::Uniform => Pattern::Uniform,
            PatternName::Zipf => Pattern::Zipf { s: zipf_s },
            PatternName::Hotspot => Pattern::Hotspot {
                fraction: hot_fraction,
                size: hot_size,
            },
            PatternName::Sequential => Pattern::Sequential,
        }
    }
}

impl Named for PatternName {
    const WHAT: &'static str = "workload";
    const ALL: &'static [PatternName] = &[
        PatternName::Uniform,
        PatternName::Zipf,
        PatternName::Hotspot,
        PatternName::Sequential,
    ];

    fn name(self) -> &'static str {
        match self {
            PatternName::Uniform => "uniform",
            PatternName::Zipf => "zipf",
            PatternName::Hotspot => "hotspot",
            PatternName::Sequential => "sequential",
        }
    }
}

cowlab_model::named_by_name!(PatternName);

impl Ord for PatternName {
    /// By name, as a sweep's results sort their runs.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for PatternName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Pattern {
    /// The pattern's name.
    pub fn name(&self) -> PatternName {
        match self {
            Pattern::Uniform => PatternName::Uniform,
            Pattern::Zipf { .. } => PatternName::Zipf,
            Pattern::Hotspot { .. } => PatternName::Hotspot,
            Pattern::Sequential => PatternName::Sequential,
        }
    }
}

/// Request sizes in bytes with integer weights; one entry is a fixed size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes(pub Vec<(u64, u32)>);

impl Sizes {
    /// Every request is `bytes` long.
    pub fn fixed(bytes: u64) -> Self {
        Sizes(vec![(bytes, 1)])
    }
}

/// When requests arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Arrivals {
    /// Poisson arrivals at `rate` requests per second, independent of how
    /// fast they are served: exponential gaps rounded to whole ns.
    Open { rate: f64 },
    /// `writers` clients each issue their next request `think_ns` after
    /// the previous one completed; the driver keeps that time, so the
    /// generator only supplies requests.
    Closed { writers: u32, think_ns: u64 },
}

/// When the workload ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// After this many write requests (reads in between do not count).
    Writes(u64),
    /// Open loop: no arrival at or after this time (ns). Closed loop: the
    /// driver issues nothing after it.
    Duration(u64),
}

/// Everything that defines a workload except the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// Volume size in bytes; every request lies inside it.
    pub volume: u64,
    /// Block size: every offset and size is a multiple of it.
    pub align: u64,
    pub pattern: Pattern,
    pub sizes: Sizes,
    /// Share of requests that read.
    pub read_fraction: f64,
    /// Share of reads that read the point-in-time image (`Op::ReadImage`).
    pub image_fraction: f64,
    pub arrivals: Arrivals,
    pub stop: Stop,
}

/// A request and when it arrives, in ns from t = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub at: u64,
    pub request: Request,
}

/// A workload field with an unusable value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("workload {field} = {value}: {reason}")]
pub struct WorkloadError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

fn invalid(field: &'static str, value: impl ToString, reason: impl ToString) -> WorkloadError {
    WorkloadError {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses request sizes: `4KiB` (fixed) or `4KiB:70,64KiB:30` (size:weight
/// pairs; a missing weight is 1). Weights are positive integers.
pub fn parse_sizes(text: &str) -> Result<Sizes, WorkloadError> {
    if text.trim().is_empty() {
        return Err(invalid("sizes", "''", "empty"));
    }
    text.split(',')
        .map(parse_size_weight)
        .collect::<Result<_, _>>()
        .map(Sizes)
}

fn parse_size_weight(entry: &str) -> Result<(u64, u32), WorkloadError> {
    let (size, weight) = match entry.split_once(':') {
        Some((size, weight)) => (size, Some(weight.trim())),
        None => (entry, None),
    };
    let bytes = parse_size(size).map_err(|err| invalid("sizes", format!("'{entry}'"), err))?;
    let weight = match weight {
        None => 1,
        Some(weight) => match weight.parse::<u32>() {
            Ok(weight) if weight > 0 => weight,
            _ => {
                let reason = format!("weight '{weight}' is not a positive integer");
                return Err(invalid("sizes", format!("'{entry}'"), reason));
            }
        },
    };
    Ok((bytes, weight))
}

impl WorkloadSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.volume == 0 {
            return Err(invalid("volume", "0 B", "must be positive"));
        }
        if self.align == 0 {
            return Err(invalid("align", "0 B", "must be positive"));
        }
        self.validate_sizes()?;
        self.validate_pattern()?;
        check_fraction("read_fraction", self.read_fraction)?;
        check_fraction("image_fraction", self.image_fraction)?;
        self.validate_arrivals()?;
        self.validate_stop()
    }

    /// A length that fits the volume and is made of whole blocks.
    fn check_extent(&self, field: &'static str, bytes: u64) -> Result<(), WorkloadError> {
        let value = format_size(bytes);
        if bytes == 0 {
            return Err(invalid(field, value, "must be positive"));
        }
        if bytes > self.volume {
            let reason = format!("larger than the volume ({})", format_size(self.volume));
            return Err(invalid(field, value, reason));
        }
        if !bytes.is_multiple_of(self.align) {
            let reason = format!(
                "not a multiple of the block size ({})",
                format_size(self.align)
            );
            return Err(invalid(field, value, reason));
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<(), WorkloadError> {
        if self.sizes.0.is_empty() {
            return Err(invalid("sizes", "[]", "needs at least one size"));
        }
        for &(bytes, weight) in &self.sizes.0 {
            self.check_extent("sizes", bytes)?;
            if weight == 0 {
                let value = format!("{}:0", format_size(bytes));
                return Err(invalid("sizes", value, "weight must be positive"));
            }
        }
        Ok(())
    }

    fn validate_pattern(&self) -> Result<(), WorkloadError> {
        match self.pattern {
            Pattern::Uniform | Pattern::Sequential => Ok(()),
            Pattern::Zipf { s } if !(s.is_finite() && s > 0.0) => {
                Err(invalid("pattern.s", s, "must be finite and positive"))
            }
            Pattern::Zipf { .. } => Ok(()),
            Pattern::Hotspot { fraction, size } => {
                check_fraction("pattern.fraction", fraction)?;
                self.check_extent("pattern.size", size)?;
                let largest = self.sizes.0.iter().map(|&(bytes, _)| bytes).max();
                match largest {
                    Some(largest) if largest > size => {
                        let reason = format!(
                            "smaller than the largest request ({})",
                            format_size(largest)
                        );
                        Err(invalid("pattern.size", format_size(size), reason))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    fn validate_arrivals(&self) -> Result<(), WorkloadError> {
        match self.arrivals {
            Arrivals::Open { rate } if !(rate.is_finite() && rate > 0.0) => Err(invalid(
                "arrivals.rate",
                rate,
                "must be finite and positive",
            )),
            Arrivals::Closed { writers: 0, .. } => {
                Err(invalid("arrivals.writers", 0, "must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    /// A write budget is only reached if some requests write.
    fn validate_stop(&self) -> Result<(), WorkloadError> {
        match self.stop {
            Stop::Writes(writes) if writes > 0 && self.read_fraction >= 1.0 => Err(invalid(
                "read_fraction",
                self.read_fraction,
                format!("no request would write, so stopping after {writes} writes never happens"),
            )),
            _ => Ok(()),
        }
    }
}

fn check_fraction(field: &'static str, fraction: f64) -> Result<(), WorkloadError> {
    if (0.0..=1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(invalid(field, fraction, "must be between 0 and 1"))
    }
}

/// Produces a workload's requests (and, open loop, their arrival times).
#[derive(Clone, Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    volume: u64,
    read_fraction: f64,
    image_fraction: f64,
    classes: Vec<SizeClass>,
    total_weight: u64,
    placement: Placement,
    /// Exponential gaps in ns; `None` for a closed loop.
    gaps: Option<Exp<f64>>,
    stop: Stop,
    writes: u64,
    /// The latest arrival time drawn (open loop).
    clock_ns: u64,
    /// The guest's own durability requests ([`Generator::with_guest_durability`]); none by
    /// default.
    guest: Option<Box<GuestState>>,
}

/// The guest's FLUSHes and FUA writes in a generated workload: none by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestDurability {
    /// Share of writes that are FUA (drawn from a stream of their own, so the requests are
    /// the same whatever the share).
    pub fua_fraction: f64,
    /// A FLUSH after every n writes (0: never).
    pub flush_every: u64,
}

impl GuestDurability {
    pub fn is_none(&self) -> bool {
        self.fua_fraction == 0.0 && self.flush_every == 0
    }
}

#[derive(Clone, Debug)]
struct GuestState {
    knobs: GuestDurability,
    rng: ChaCha8Rng,
    /// Writes since the last FLUSH.
    since_flush: u64,
}

/// One request size and the slots it can occupy.
#[derive(Clone, Debug)]
struct SizeClass {
    bytes: u64,
    weight: u64,
    /// Size-aligned slots in the volume: `volume / bytes`.
    slots: u64,
    /// Popularity ranks and their scattering, for [`Pattern::Zipf`].
    zipf: Option<(Zipf<f64>, Permutation)>,
}

/// The pattern's state once its seeded choices are made.
#[derive(Clone, Debug)]
enum Placement {
    Uniform,
    /// Per-size ranks live in the [`SizeClass`]es.
    Zipf,
    Hotspot {
        fraction: f64,
        start: u64,
        size: u64,
    },
    Sequential {
        cursor: u64,
    },
}

impl Generator {
    /// Validates `spec` and makes the seeded choices (permutation keys,
    /// hot region, sequential start) up front.
    pub fn new(spec: &WorkloadSpec, seed: u64) -> Result<Generator, WorkloadError> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keys = [(); 4].map(|()| rng.next_u64());
        let classes = spec
            .sizes
            .0
            .iter()
            .map(|&(bytes, weight)| SizeClass::new(spec, bytes, weight, keys))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Generator {
            placement: Placement::new(spec, &mut rng),
            volume: spec.volume,
            read_fraction: spec.read_fraction,
            image_fraction: spec.image_fraction,
            total_weight: classes.iter().map(|class| class.weight).sum(),
            classes,
            gaps: gaps(&spec.arrivals)?,
            stop: spec.stop,
            writes: 0,
            clock_ns: 0,
            rng,
            guest: None,
        })
    }

    /// The same requests, with FUA writes and FLUSHes as `knobs` says: a FLUSH comes after
    /// every `flush_every` writes (it is a request of its own), and each write is FUA with
    /// probability `fua_fraction`, drawn from a stream seeded by `seed`.
    pub fn with_guest_durability(mut self, knobs: GuestDurability, seed: u64) -> Self {
        if !knobs.is_none() {
            self.guest = Some(Box::new(GuestState {
                knobs,
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0xF1A5_F1A5_F1A5_F1A5),
                since_flush: 0,
            }));
        }
        self
    }

    /// The next request, or `None` once the write budget
    /// ([`Stop::Writes`]) is spent. A [`Stop::Duration`] never ends the
    /// request stream here: the driver (or [`next_arrival`]) keeps time.
    ///
    /// [`next_arrival`]: Generator::next_arrival
    pub fn next_request(&mut self) -> Option<Request> {
        if let Some(flush) = self.flush_due() {
            return Some(flush);
        }
        if matches!(self.stop, Stop::Writes(budget) if self.writes >= budget) {
            return None;
        }
        let op = self.draw_op();
        let class = self.draw_class();
        let len = self.classes[class].bytes;
        let offset = self.draw_offset(class);
        let mut fua = false;
        if op == Op::Write {
            self.writes += 1;
            if let Some(g) = &mut self.guest {
                g.since_flush += 1;
                fua = unit(&mut g.rng) < g.knobs.fua_fraction;
            }
        }
        Some(Request {
            op,
            offset,
            len,
            fua,
        })
    }

    /// Open loop: the next request and its arrival time, one exponential
    /// gap after the previous arrival (the first one gap after t = 0).
    /// `None` from the first arrival at or after a [`Stop::Duration`], or
    /// once the write budget is spent, and from then on. Always `None` for
    /// a closed loop, which has no arrival times.
    pub fn next_arrival(&mut self) -> Option<Arrival> {
        self.gaps.as_ref()?;
        // A FLUSH follows its n-th write at once: the data requests' times are the same
        // with flushes or without.
        if let Some(flush) = self.flush_due() {
            return Some(Arrival {
                at: self.clock_ns,
                request: flush,
            });
        }
        let gaps = self.gaps.as_ref()?;
        // `as` saturates: an enormous gap lands at u64::MAX, past any stop.
        let gap = gaps.sample(&mut self.rng).round() as u64;
        self.clock_ns = self.clock_ns.saturating_add(gap);
        if matches!(self.stop, Stop::Duration(end) if self.clock_ns >= end) {
            return None;
        }
        let request = self.next_request()?;
        Some(Arrival {
            at: self.clock_ns,
            request,
        })
    }

    /// The FLUSH due after the n-th write since the last, if it is due.
    fn flush_due(&mut self) -> Option<Request> {
        let g = self.guest.as_mut()?;
        let due = g.knobs.flush_every > 0 && g.since_flush >= g.knobs.flush_every;
        if due {
            g.since_flush = 0;
        }
        due.then(Request::flush)
    }

    /// Write, read or image read. Two draws every time, so the rest of the
    /// stream does not depend on which op came out.
    fn draw_op(&mut self) -> Op {
        let read = unit(&mut self.rng) < self.read_fraction;
        let image = unit(&mut self.rng) < self.image_fraction;
        match (read, image) {
            (false, _) => Op::Write,
            (true, false) => Op::Read,
            (true, true) => Op::ReadImage,
        }
    }

    /// Index of a size class, by weight.
    fn draw_class(&mut self) -> usize {
        if self.classes.len() == 1 {
            return 0;
        }
        let mut ticket = below(&mut self.rng, self.total_weight);
        for (index, class) in self.classes.iter().enumerate() {
            if ticket < class.weight {
                return index;
            }
            ticket -= class.weight;
        }
        unreachable!("ticket below the total weight")
    }

    fn draw_offset(&mut self, class: usize) -> u64 {
        let class = &self.classes[class];
        let rng = &mut self.rng;
        match &mut self.placement {
            Placement::Uniform => class.uniform(rng),
            Placement::Zipf => class.ranked(rng),
            Placement::Hotspot {
                fraction,
                start,
                size,
            } => {
                if unit(rng) < *fraction {
                    *start + below(rng, *size / class.bytes) * class.bytes
                } else {
                    class.uniform(rng)
                }
            }
            Placement::Sequential { cursor } => {
                if *cursor > self.volume - class.bytes {
                    *cursor = 0;
                }
                let offset = *cursor;
                *cursor += class.bytes;
                offset
            }
        }
    }
}

impl SizeClass {
    fn new(
        spec: &WorkloadSpec,
        bytes: u64,
        weight: u32,
        keys: [u64; 4],
    ) -> Result<Self, WorkloadError> {
        let slots = spec.volume / bytes;
        let zipf = match spec.pattern {
            Pattern::Zipf { s } => {
                let ranks = Zipf::new(slots as f64, s)
                    .map_err(|err| invalid("pattern.s", s, format!("{err:?}")))?;
                Some((ranks, Permutation::new(slots, keys)))
            }
            _ => None,
        };
        Ok(SizeClass {
            bytes,
            weight: u64::from(weight),
            slots,
            zipf,
        })
    }

    fn uniform(&self, rng: &mut ChaCha8Rng) -> u64 {
        below(rng, self.slots) * self.bytes
    }

    /// A Zipf-ranked slot; the rank's slot comes from the permutation.
    fn ranked(&self, rng: &mut ChaCha8Rng) -> u64 {
        let Some((ranks, permutation)) = &self.zipf else {
            unreachable!("Zipf placement without ranks")
        };
        // Ranks are 1..=slots; clamp against f64 rounding for huge volumes.
        let rank = (ranks.sample(rng) as u64).clamp(1, self.slots);
        permutation.apply(rank - 1) * self.bytes
    }
}

impl Placement {
    fn new(spec: &WorkloadSpec, rng: &mut ChaCha8Rng) -> Self {
        match spec.pattern {
            Pattern::Uniform => Placement::Uniform,
            Pattern::Zipf { .. } => Placement::Zipf,
            Pattern::Hotspot { fraction, size } => Placement::Hotspot {
                fraction,
                start: below(rng, (spec.volume - size) / spec.align + 1) * spec.align,
                size,
            },
            Pattern::Sequential => Placement::Sequential {
                cursor: below(rng, spec.volume / spec.align) * spec.align,
            },
        }
    }
}

/// Exponential gaps in ns for an open loop.
fn gaps(arrivals: &Arrivals) -> Result<Option<Exp<f64>>, WorkloadError> {
    match *arrivals {
        Arrivals::Open { rate } => Exp::new(rate / NS_PER_S)
            .map(Some)
            .map_err(|err| invalid("arrivals.rate", rate, format!("{err:?}"))),
        Arrivals::Closed { .. } => Ok(None),
    }
}

/// A uniform integer in `0..n` (`n >= 1`), without modulo bias: Lemire's
/// multiply-and-reject, in integers only.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    debug_assert!(n > 0, "below(0)");
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// A uniform f64 in `[0, 1)` from the top 53 bits of one draw.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    fn spec(pattern: Pattern) -> WorkloadSpec {
        WorkloadSpec {
            volume: MIB,
            align: 4 * KIB,
            pattern,
            sizes: Sizes::fixed(4 * KIB),
            read_fraction: 0.0,
            image_fraction: 0.0,
            arrivals: Arrivals::Closed {
                writers: 1,
                think_ns: 0,
            },
            stop: Stop::Duration(1),
        }
    }

    fn requests(spec: &WorkloadSpec, seed: u64, count: usize) -> Vec<Request> {
        let mut generator = Generator::new(spec, seed).unwrap();
        (0..count)
            .map(|_| generator.next_request().unwrap())
            .collect()
    }

    fn error_field(spec: &WorkloadSpec) -> &'static str {
        spec.validate().unwrap_err().field
    }

    fn all_patterns() -> [Pattern; 4] {
        [
            Pattern::Uniform,
            Pattern::Zipf { s: 0.9 },
            Pattern::Hotspot {
                fraction: 0.5,
                size: 128 * KIB,
            },
            Pattern::Sequential,
        ]
    }

    #[test]
    fn parses_fixed_and_weighted_sizes() {
        assert_eq!(parse_sizes("4KiB").unwrap(), Sizes(vec![(4 * KIB, 1)]));
        assert_eq!(
            parse_sizes("4KiB:70, 64KiB : 30").unwrap(),
            Sizes(vec![(4 * KIB, 70), (64 * KIB, 30)])
        );
        assert_eq!(
            parse_sizes("8KiB,16KiB:3").unwrap(),
            Sizes(vec![(8 * KIB, 1), (16 * KIB, 3)])
        );
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for text in [
            "", "4KiB:", "4KiB:0", "4KiB:-1", "4KiB:x", "4KiB:70,", "4Kb",
        ] {
            let err = parse_sizes(text).unwrap_err();
            assert_eq!(err.field, "sizes", "{text}");
        }
        assert_eq!(
            parse_sizes("4KiB:0").unwrap_err().to_string(),
            "workload sizes = '4KiB:0': weight '0' is not a positive integer"
        );
        assert!(parse_sizes("4Kb:3")
            .unwrap_err()
            .to_string()
            .contains("unknown unit 'Kb'"));
    }

    /// The uniform test spec with one field changed.
    fn with(change: impl FnOnce(&mut WorkloadSpec)) -> WorkloadSpec {
        let mut changed = spec(Pattern::Uniform);
        change(&mut changed);
        changed
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(spec(Pattern::Uniform).validate(), Ok(()));
        let hotspot = |fraction, size| spec(Pattern::Hotspot { fraction, size });
        let cases = [
            (with(|s| s.volume = 0), "volume"),
            (with(|s| s.align = 0), "align"),
            (with(|s| s.sizes = Sizes(vec![])), "sizes"),
            (with(|s| s.sizes = Sizes::fixed(0)), "sizes"),
            (with(|s| s.sizes = Sizes::fixed(2 * MIB)), "sizes"),
            (with(|s| s.sizes = Sizes::fixed(6 * KIB)), "sizes"),
            (with(|s| s.sizes = Sizes(vec![(4 * KIB, 0)])), "sizes"),
            (with(|s| s.read_fraction = 1.5), "read_fraction"),
            (with(|s| s.read_fraction = f64::NAN), "read_fraction"),
            (with(|s| s.image_fraction = -0.1), "image_fraction"),
            (spec(Pattern::Zipf { s: 0.0 }), "pattern.s"),
            (spec(Pattern::Zipf { s: f64::INFINITY }), "pattern.s"),
            (hotspot(2.0, 64 * KIB), "pattern.fraction"),
            (hotspot(0.5, 0), "pattern.size"),
            (hotspot(0.5, 2 * MIB), "pattern.size"),
            (hotspot(0.5, 6 * KIB), "pattern.size"),
            (
                with(|s| s.arrivals = Arrivals::Open { rate: 0.0 }),
                "arrivals.rate",
            ),
            (
                with(|s| s.arrivals = Arrivals::Open { rate: f64::NAN }),
                "arrivals.rate",
            ),
            (
                with(|s| {
                    s.arrivals = Arrivals::Closed {
                        writers: 0,
                        think_ns: 0,
                    }
                }),
                "arrivals.writers",
            ),
            (
                with(|s| {
                    s.read_fraction = 1.0;
                    s.stop = Stop::Writes(5);
                }),
                "read_fraction",
            ),
        ];
        for (bad, field) in &cases {
            assert_eq!(error_field(bad), *field, "{bad:?}");
            assert!(Generator::new(bad, 1).is_err());
        }
    }

    #[test]
    fn errors_show_field_value_and_reason() {
        let too_big = WorkloadSpec {
            sizes: Sizes::fixed(2 * MIB),
            ..spec(Pattern::Uniform)
        };
        assert_eq!(
            too_big.validate().unwrap_err().to_string(),
            "workload sizes = 2 MiB: larger than the volume (1 MiB)"
        );
        let small_hotspot = WorkloadSpec {
            sizes: Sizes::fixed(64 * KIB),
            ..spec(Pattern::Hotspot {
                fraction: 0.5,
                size: 16 * KIB,
            })
        };
        assert_eq!(
            small_hotspot.validate().unwrap_err().to_string(),
            "workload pattern.size = 16 KiB: smaller than the largest request (64 KiB)"
        );
        assert_eq!(
            spec(Pattern::Zipf { s: -1.0 })
                .validate()
                .unwrap_err()
                .to_string(),
            "workload pattern.s = -1: must be finite and positive"
        );
    }

    #[test]
    fn same_seed_same_requests_other_seed_other_requests() {
        for pattern in all_patterns() {
            let spec = WorkloadSpec {
                read_fraction: 0.3,
                image_fraction: 0.5,
                sizes: Sizes(vec![(4 * KIB, 3), (16 * KIB, 1)]),
                ..spec(pattern)
            };
            let first = requests(&spec, 7, 500);
            assert_eq!(first, requests(&spec, 7, 500), "{spec:?}");
            assert_ne!(first, requests(&spec, 8, 500), "{spec:?}");
        }
    }

    #[test]
    fn uniform_sequence_is_pinned() {
        // Guards the bit-for-bit stream: a change here changes every run.
        let offsets: Vec<u64> = requests(&spec(Pattern::Uniform), 42, 6)
            .iter()
            .map(|request| request.offset / (4 * KIB))
            .collect();
        assert_eq!(offsets, PINNED_UNIFORM_SLOTS);
    }

    const PINNED_UNIFORM_SLOTS: [u64; 6] = [78, 61, 244, 45, 113, 82];

    #[test]
    fn requests_are_aligned_and_inside_the_volume() {
        for pattern in all_patterns() {
            let spec = WorkloadSpec {
                volume: MIB + 8 * KIB,
                sizes: Sizes(vec![(4 * KIB, 1), (64 * KIB, 1), (12 * KIB, 1)]),
                ..spec(pattern)
            };
            for request in requests(&spec, 3, 5000) {
                assert_eq!(request.offset % spec.align, 0, "{request:?}");
                assert!(request.offset + request.len <= spec.volume, "{request:?}");
            }
        }
    }

    #[test]
    fn uniform_fills_quarters_evenly() {
        let mut quarters = [0u32; 4];
        for request in requests(&spec(Pattern::Uniform), 11, 100_000) {
            quarters[(request.offset / (MIB / 4)) as usize] += 1;
        }
        for count in quarters {
            assert!((24_000..26_000).contains(&count), "{quarters:?}");
        }
    }

    #[test]
    fn hotspot_sends_its_fraction_to_the_hot_region() {
        let hot = 64 * KIB;
        let spec = WorkloadSpec {
            volume: 64 * MIB,
            ..spec(Pattern::Hotspot {
                fraction: 0.8,
                size: hot,
            })
        };
        let generator = Generator::new(&spec, 5).unwrap();
        let Placement::Hotspot { start, .. } = generator.placement else {
            panic!("hotspot placement expected");
        };
        assert_eq!(start % spec.align, 0);
        assert!(start + hot <= spec.volume);
        let inside = requests(&spec, 5, 100_000)
            .iter()
            .filter(|request| request.offset >= start && request.offset < start + hot)
            .count();
        // 80% hot plus the cold requests that happen to land there (0.02%).
        assert!((79_000..81_000).contains(&inside), "{inside}");
    }

    #[test]
    fn hot_region_moves_with_the_seed() {
        let spec = WorkloadSpec {
            volume: 64 * MIB,
            ..spec(Pattern::Hotspot {
                fraction: 1.0,
                size: 64 * KIB,
            })
        };
        let starts: std::collections::BTreeSet<u64> = (0..5)
            .map(|seed| requests(&spec, seed, 1)[0].offset / (64 * KIB))
            .collect();
        assert!(starts.len() > 1, "{starts:?}");
    }

    #[test]
    fn zipf_rank_one_is_far_hotter_than_rank_hundred() {
        let spec = WorkloadSpec {
            volume: 1000 * 4 * KIB,
            ..spec(Pattern::Zipf { s: 1.0 })
        };
        let generator = Generator::new(&spec, 9).unwrap();
        let (_, permutation) = generator.classes[0].zipf.clone().unwrap();
        let mut counts = vec![0u32; 1000];
        for request in requests(&spec, 9, 200_000) {
            counts[(request.offset / (4 * KIB)) as usize] += 1;
        }
        let rank = |k: u64| counts[permutation.apply(k - 1) as usize];
        // Expected: rank 1 gets 1/H(1000) ≈ 13.4%, rank 100 a hundredth of that.
        assert!((25_000..28_500).contains(&rank(1)), "{}", rank(1));
        assert!(rank(1) > 50 * rank(100), "{} vs {}", rank(1), rank(100));
        // The ten hottest slots are scattered, not the first ten.
        let hottest: Vec<u64> = (0..10).map(|k| permutation.apply(k)).collect();
        assert!(hottest.iter().any(|&slot| slot > 100), "{hottest:?}");
    }

    #[test]
    fn sequential_appends_and_wraps() {
        let spec = WorkloadSpec {
            volume: 64 * KIB,
            sizes: Sizes::fixed(16 * KIB),
            ..spec(Pattern::Sequential)
        };
        let offsets: Vec<u64> = requests(&spec, 2, 9).iter().map(|r| r.offset).collect();
        assert_eq!(offsets[0] % (4 * KIB), 0);
        for pair in offsets.windows(2) {
            let expected = if pair[0] + 16 * KIB > 48 * KIB {
                0
            } else {
                pair[0] + 16 * KIB
            };
            assert_eq!(pair[1], expected, "{offsets:?}");
        }
        assert!(offsets.contains(&0), "{offsets:?}");
    }

    #[test]
    fn weighted_sizes_follow_their_weights() {
        let spec = WorkloadSpec {
            sizes: Sizes(vec![(4 * KIB, 70), (64 * KIB, 30)]),
            ..spec(Pattern::Uniform)
        };
        let small = requests(&spec, 4, 100_000)
            .iter()
            .filter(|request| request.len == 4 * KIB)
            .count();
        assert!((69_000..71_000).contains(&small), "{small}");
    }

    #[test]
    fn op_mix_follows_read_and_image_fractions() {
        let spec = WorkloadSpec {
            read_fraction: 0.25,
            image_fraction: 0.5,
            ..spec(Pattern::Uniform)
        };
        let ops = requests(&spec, 6, 100_000);
        let count = |op: Op| ops.iter().filter(|request| request.op == op).count();
        assert!((74_000..76_000).contains(&count(Op::Write)));
        assert!((12_000..13_000).contains(&count(Op::Read)));
        assert!((12_000..13_000).contains(&count(Op::ReadImage)));
    }

    #[test]
    fn write_budget_counts_only_writes() {
        let spec = WorkloadSpec {
            read_fraction: 0.5,
            stop: Stop::Writes(10),
            ..spec(Pattern::Uniform)
        };
        let mut generator = Generator::new(&spec, 1).unwrap();
        let stream: Vec<Request> = std::iter::from_fn(|| generator.next_request()).collect();
        let writes = stream.iter().filter(|r| r.op == Op::Write).count();
        assert_eq!(writes, 10);
        assert!(stream.len() > 10, "reads should be interleaved: {stream:?}");
        assert_eq!(stream.last().unwrap().op, Op::Write);
        assert_eq!(generator.next_request(), None);
    }

    #[test]
    fn open_loop_gaps_average_one_over_the_rate() {
        let spec = WorkloadSpec {
            arrivals: Arrivals::Open { rate: 1e6 },
            stop: Stop::Writes(100_000),
            ..spec(Pattern::Uniform)
        };
        let mut generator = Generator::new(&spec, 8).unwrap();
        let arrivals: Vec<Arrival> = std::iter::from_fn(|| generator.next_arrival()).collect();
        assert_eq!(arrivals.len(), 100_000);
        assert!(arrivals.windows(2).all(|pair| pair[0].at <= pair[1].at));
        // Mean gap 1000 ns; 100k samples put the mean within ~1%.
        let mean = arrivals.last().unwrap().at as f64 / arrivals.len() as f64;
        assert!((980.0..1020.0).contains(&mean), "{mean}");
    }

    #[test]
    fn open_loop_stops_before_the_duration_and_stays_stopped() {
        let spec = WorkloadSpec {
            arrivals: Arrivals::Open { rate: 1e6 },
            stop: Stop::Duration(1_000_000),
            ..spec(Pattern::Uniform)
        };
        let mut generator = Generator::new(&spec, 12).unwrap();
        let arrivals: Vec<Arrival> = std::iter::from_fn(|| generator.next_arrival()).collect();
        assert!((900..1100).contains(&arrivals.len()), "{}", arrivals.len());
        assert!(arrivals.iter().all(|arrival| arrival.at < 1_000_000));
        assert!(arrivals[0].at > 0);
        assert!((0..100).all(|_| generator.next_arrival().is_none()));
    }

    #[test]
    fn closed_loop_has_requests_but_no_arrivals() {
        let mut generator = Generator::new(&spec(Pattern::Uniform), 1).unwrap();
        assert_eq!(generator.next_arrival(), None);
        assert!(generator.next_request().is_some());
    }

    #[test]
    fn below_is_unbiased_on_small_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[below(&mut rng, 3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(below(&mut rng, 1), 0);
    }
}
