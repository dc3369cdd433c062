//! The statistics a recommendation decides with: the mean of a figure over seeds and its
//! confidence interval (Student's t), over seeds weighted by how often a resample drew them.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The confidence of every interval a report states.
pub const CONFIDENCE: f64 = 0.95;

/// A figure over seeds: its mean and the [`CONFIDENCE`] interval of that mean. With one
/// seed, or seeds that all agree, the interval is the mean itself only when they agree;
/// one seed gives an unbounded interval (nothing is known of the spread).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// Seeds counted (with their weights).
    pub n: f64,
}

impl Estimate {
    /// Whether the interval holds `v`.
    pub fn holds(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// Half the interval's width.
    pub fn half_width(&self) -> f64 {
        (self.hi - self.lo) / 2.0
    }
}

/// Degrees of freedom past which the quantile is taken as this one's (it is within 0.2 %
/// of the normal's there).
const MOST_DF: usize = 512;

/// The two-sided [`CONFIDENCE`] quantile of Student's t with `df` degrees of freedom
/// (rounded to a whole number: weights are counts), computed once per `df`.
fn t_quantile(df: f64) -> f64 {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let tail = 1.0 - (1.0 - CONFIDENCE) / 2.0;
        (0..=MOST_DF)
            .map(|df| match df {
                0 => f64::INFINITY,
                _ => StudentsT::new(0.0, 1.0, df as f64)
                    .map_or(f64::INFINITY, |t| t.inverse_cdf(tail)),
            })
            .collect()
    });
    table[(df.round().max(0.0) as usize).min(MOST_DF)]
}

/// The estimate of values each counted `weight` times (a resample's multiplicity; 1 for
/// the seeds as run). `None` when nothing is counted.
pub fn estimate(values: impl IntoIterator<Item = (f64, f64)>) -> Option<Estimate> {
    let (mut n, mut sum, mut sq) = (0.0, 0.0, 0.0);
    for (v, w) in values {
        n += w;
        sum += w * v;
        sq += w * v * v;
    }
    if n <= 0.0 {
        return None;
    }
    let mean = sum / n;
    if n < 2.0 {
        return Some(Estimate {
            mean,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            n,
        });
    }
    let var = ((sq - n * mean * mean) / (n - 1.0)).max(0.0);
    let half = t_quantile(n - 1.0) * (var / n).sqrt();
    Some(Estimate {
        mean,
        lo: mean - half,
        hi: mean + half,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: &[f64]) -> Estimate {
        estimate(v.iter().map(|x| (*x, 1.0))).unwrap()
    }

    #[test]
    fn the_interval_is_students_t_of_the_mean() {
        // 1, 2, 3: mean 2, s = 1, t(2) at 97.5 % = 4.303.
        let e = plain(&[1.0, 2.0, 3.0]);
        assert_eq!(e.mean, 2.0);
        assert!(
            (e.half_width() - 4.3027 / 3f64.sqrt()).abs() < 1e-3,
            "{e:?}"
        );
        // More seeds of the same spread narrow it.
        let more = plain(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        assert!(more.half_width() < e.half_width() / 2.0);
    }

    #[test]
    fn weights_count_as_repeated_seeds() {
        let weighted = estimate([(1.0, 2.0), (4.0, 1.0)]).unwrap();
        assert_eq!(weighted, plain(&[1.0, 1.0, 4.0]));
    }

    #[test]
    fn one_seed_knows_nothing_of_the_spread_and_agreeing_seeds_know_it_is_none() {
        let one = plain(&[5.0]);
        assert!(one.holds(-1e300) && one.holds(1e300));
        let same = plain(&[5.0, 5.0, 5.0]);
        assert_eq!((same.lo, same.hi), (5.0, 5.0));
        assert!(estimate(std::iter::empty()).is_none());
    }
}
