//! A seeded pseudo-random permutation of `0..n` without a table.
//!
//! Zipf ranks say *how hot* a slot is, not *where* it is; mapping rank
//! `k` to slot `k` would pile every hot slot at the start of the volume.
//! A balanced Feistel network over the smallest even bit width covering
//! `n` is a bijection on `0..2^bits`; cycle walking (re-encrypting until
//! the value falls below `n`) restricts it to a bijection on `0..n`.
//! Since `2^bits < 4n`, a walk takes fewer than four rounds on average.

const ROUNDS: usize = 4;

#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; ROUNDS],
}

impl Permutation {
    /// A permutation of `0..n` (`n >= 1`) chosen by `keys`.
    pub(crate) fn new(n: u64, keys: [u64; ROUNDS]) -> Self {
        debug_assert!(n >= 1, "permutation of an empty domain");
        let bits = (u64::BITS - n.saturating_sub(1).leading_zeros()).max(2);
        Permutation {
            n,
            half_bits: bits.div_ceil(2),
            keys,
        }
    }

    /// The image of `x` (`x < n`).
    pub(crate) fn apply(&self, x: u64) -> u64 {
        debug_assert!(x < self.n, "{x} outside the permuted domain 0..{}", self.n);
        let mut y = self.encrypt(x);
        while y >= self.n {
            y = self.encrypt(y);
        }
        y
    }

    /// One pass of the Feistel network on `0..2^(2 × half_bits)`.
    fn encrypt(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            let mixed = left ^ (mix(right ^ key) & mask);
            left = right;
            right = mixed;
        }
        (left << self.half_bits) | right
    }
}

/// The splitmix64 finaliser: a cheap bijective scrambling of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [u64; ROUNDS] = [1, 22, 333, 4444];

    fn is_bijection(n: u64, keys: [u64; ROUNDS]) -> bool {
        let permutation = Permutation::new(n, keys);
        let mut seen = vec![false; n as usize];
        for x in 0..n {
            let y = permutation.apply(x) as usize;
            if seen[y] {
                return false;
            }
            seen[y] = true;
        }
        true
    }

    #[test]
    fn permutes_every_small_domain() {
        for n in 1..=300 {
            assert!(is_bijection(n, KEYS), "n = {n}");
        }
        assert!(is_bijection(100_003, [9, 8, 7, 6]));
    }

    #[test]
    fn scatters_consecutive_values() {
        let permutation = Permutation::new(1 << 20, KEYS);
        let images: Vec<u64> = (0..8).map(|x| permutation.apply(x)).collect();
        let spread = images.iter().max().unwrap() - images.iter().min().unwrap();
        assert!(spread > 1 << 16, "{images:?}");
    }

    #[test]
    fn keys_choose_the_permutation() {
        let a = Permutation::new(1000, KEYS);
        let b = Permutation::new(1000, [5, 6, 7, 8]);
        let differ = (0..1000).filter(|&x| a.apply(x) != b.apply(x)).count();
        assert!(differ > 900, "{differ}");
    }

    #[test]
    fn works_at_the_full_u64_width() {
        let permutation = Permutation::new(u64::MAX, KEYS);
        let y = permutation.apply(u64::MAX - 1);
        assert!(y < u64::MAX);
        assert_ne!(permutation.apply(0), permutation.apply(1));
    }
}
