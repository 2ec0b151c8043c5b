//! Random sampling for the collection types (HRANDFIELD, SPOP, SRANDMEMBER,
//! ZRANDMEMBER): an explicit xorshift64* generator (Vigna, "An experimental
//! exploration of Marsaglia's xorshift generators, scrambled", 2016),
//! Redis's "random with count" selection rules, and the same rules over a
//! [`Dict`] (random entry, random with count, SCAN with Redis's work bound).
//!
//! Callers own the generator and pass it in, so tests seed it and get the
//! same picks every run on compact encodings; a server seeds one per shard
//! (e.g. from `crate::rng::next_u64()`). A dict's own hasher is seeded per
//! process, so picks from big hashes and sets vary between runs regardless.
//! Not cryptographic and not meant to be.

use crate::dict::Dict;

/// xorshift64* state; never zero.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`; seed 0 (a fixed point of xorshift) is
    /// replaced by a constant.
    pub fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform index in `0..n`; `n` must be non-zero.
    ///
    /// Lemire's multiply-shift: the high half of a 64x64 product. The bias is
    /// below n / 2^64, far under anything a test could observe.
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new(0)
    }
}

/// Picks `k` distinct indices out of `0..n` (`k <= n`) and returns them in
/// increasing order. Uses selection sampling (Knuth's Algorithm S, O(n)) when
/// `k` is a large share of `n`, and Floyd's algorithm (O(k log k)) otherwise.
pub(crate) fn distinct_indices(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    debug_assert!(k <= n);
    if k.saturating_mul(3) > n {
        let mut out = Vec::with_capacity(k);
        let mut need = k;
        for i in 0..n {
            if need == 0 {
                break;
            }
            // Take i with probability need / (n - i).
            if rng.below(n - i) < need {
                out.push(i);
                need -= 1;
            }
        }
        out
    } else {
        let mut set = ahash::AHashSet::with_capacity(k);
        for j in n - k..n {
            let t = rng.below(j + 1);
            if !set.insert(t) {
                set.insert(j);
            }
        }
        let mut picked: Vec<usize> = set.into_iter().collect();
        picked.sort_unstable();
        picked
    }
}

/// How many items a Redis "random with count" reply (HRANDFIELD, SRANDMEMBER,
/// ZRANDMEMBER) holds for a collection of `len`: `|count|` for a negative
/// count (repeats allowed), `min(count, len)` otherwise; 0 when empty.
pub fn random_reply_len(count: i64, len: usize) -> usize {
    if len == 0 {
        0
    } else if count < 0 {
        count.unsigned_abs() as usize
    } else {
        (count as u64).min(len as u64) as usize
    }
}

/// Runs Redis's "random with count" selection over a collection of `len`
/// items addressed by index, calling `f(index)` once per reply item:
/// - `count < 0`: `|count|` independent uniform picks (repeats allowed);
/// - `count >= len`: every index once, in collection order;
/// - otherwise `count` distinct indices, in collection order.
pub(crate) fn random_with_count(len: usize, count: i64, rng: &mut Rng, mut f: impl FnMut(usize)) {
    if len == 0 || count == 0 {
        return;
    }
    if count < 0 {
        for _ in 0..count.unsigned_abs() {
            f(rng.below(len));
        }
    } else if count as u64 >= len as u64 {
        (0..len).for_each(f);
    } else {
        for i in distinct_indices(len, count as usize, rng) {
            f(i);
        }
    }
}

/// A uniformly random entry of a dict, drawn with `rng` (see
/// [`Dict::random_pos_by`]).
pub(crate) fn dict_random<'a, V>(d: &'a Dict<V>, rng: &mut Rng) -> Option<(&'a [u8], &'a V)> {
    d.random_pos_by(|n| rng.below(n as usize) as u64)
        .map(|p| d.at(p))
}

/// Redis's "random with count" over a dict (see
/// [`crate::sample::random_with_count`]); distinct picks come in dict
/// iteration order.
pub(crate) fn dict_random_with_count<V>(
    d: &Dict<V>,
    count: i64,
    rng: &mut Rng,
    mut f: impl FnMut(&[u8], &V),
) {
    let len = d.len();
    if len == 0 || count == 0 {
        return;
    }
    if count < 0 {
        let draws = count.unsigned_abs();
        if draws >= len as u64 {
            // At least one draw per entry: listing the entries once makes
            // every draw a single index instead of a sampling loop.
            let all: Vec<(&[u8], &V)> = d.iter().collect();
            for _ in 0..draws {
                let (k, v) = all[rng.below(len)];
                f(k, v);
            }
        } else {
            for _ in 0..draws {
                if let Some((k, v)) = dict_random(d, rng) {
                    f(k, v);
                }
            }
        }
    } else if count as u64 >= len as u64 {
        d.iter().for_each(|(k, v)| f(k, v));
    } else if (count as usize).saturating_mul(3) > len {
        // A large share: one pass of selection sampling.
        let picks = distinct_indices(len, count as usize, rng);
        let mut next = picks.iter().peekable();
        for (i, (k, v)) in d.iter().enumerate() {
            match next.peek() {
                Some(&&p) if p == i => {
                    f(k, v);
                    next.next();
                }
                Some(_) => {}
                None => break,
            }
        }
    } else {
        // A small share: random picks until enough distinct ones.
        let mut seen: ahash::AHashSet<&[u8]> = ahash::AHashSet::with_capacity(count as usize);
        while seen.len() < count as usize {
            if let Some((k, v)) = dict_random(d, rng) {
                if seen.insert(k) {
                    f(k, v);
                }
            }
        }
    }
}

/// One SCAN call over a dict: buckets from `cursor` on until about `count`
/// entries were emitted or `10 * count` buckets visited (Redis's bound).
pub(crate) fn dict_scan<V>(
    d: &Dict<V>,
    mut cursor: u64,
    count: usize,
    mut f: impl FnMut(&[u8], &V),
) -> u64 {
    let count = count.max(1);
    let mut emitted = 0;
    let mut budget = count.saturating_mul(10);
    loop {
        cursor = d.scan(cursor, |k, v| {
            emitted += 1;
            f(k, v);
        });
        budget -= 1;
        if cursor == 0 || emitted >= count || budget == 0 {
            return cursor;
        }
    }
}

/// A chi-square check of sampled counts against the uniform distribution,
/// for the samplers' tests.
#[cfg(test)]
pub(crate) mod uniformity {
    use std::collections::HashMap;

    /// Pearson's statistic of `counts` (one per item, every item listed)
    /// against equal expected counts.
    pub(crate) fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| {
                let d = c as f64 - expected;
                d * d / expected
            })
            .sum()
    }

    /// The value a chi-square variable with `df` degrees of freedom exceeds
    /// with probability about 1e-15 (Wilson-Hilferty: the cube root of
    /// chi2/df is close to normal with mean 1 - 2/(9 df) and variance
    /// 2/(9 df); this is its mean plus 8 standard deviations).
    pub(crate) fn threshold(df: usize) -> f64 {
        let v = 2.0 / (9.0 * df as f64);
        df as f64 * (1.0 - v + 8.0 * v.sqrt()).powi(3)
    }

    /// Asserts that the draws counted in `seen` are uniform over `items`
    /// (every draw must be one of them) and returns the statistic.
    pub(crate) fn assert_uniform(
        what: &str,
        items: &[Vec<u8>],
        seen: &HashMap<Vec<u8>, u64>,
    ) -> f64 {
        assert!(
            seen.keys().all(|k| items.contains(k)),
            "{what}: drew something not in the collection"
        );
        let counts: Vec<u64> = items
            .iter()
            .map(|i| seen.get(i).copied().unwrap_or(0))
            .collect();
        let chi2 = chi_square(&counts);
        let limit = threshold(items.len() - 1);
        eprintln!(
            "{what}: chi-square {chi2:.1} over {} items (limit {limit:.1})",
            items.len()
        );
        assert!(
            chi2 < limit,
            "{what}: chi-square {chi2:.1} >= {limit:.1}, not uniform"
        );
        chi2
    }

    /// Runs `draw`, which reports every item it draws to the callback it
    /// is given, and asserts the draws are uniform over `items`.
    pub(crate) fn check(
        what: &str,
        items: &[Vec<u8>],
        draw: impl FnOnce(&mut dyn FnMut(&[u8])),
    ) -> f64 {
        let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
        draw(&mut |m| *seen.entry(m.to_vec()).or_insert(0) += 1);
        assert_uniform(what, items, &seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn zero_seed_is_not_stuck() {
        let mut r = Rng::new(0);
        assert_ne!(r.next_u64(), 0);
        assert_ne!(r.next_u64(), r.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it_evenly() {
        let mut r = Rng::new(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[r.below(10)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
    }

    #[test]
    fn distinct_indices_are_distinct_sorted_and_in_range() {
        let mut r = Rng::new(3);
        for n in [1usize, 2, 5, 10, 100, 1000] {
            for k in [0usize, 1, n / 3, n / 2, n] {
                let v = distinct_indices(n, k, &mut r);
                assert_eq!(v.len(), k);
                assert!(v.windows(2).all(|w| w[0] < w[1]));
                assert!(v.iter().all(|&i| i < n));
            }
        }
    }

    #[test]
    fn random_with_count_shapes() {
        let mut r = Rng::new(9);
        let mut got = Vec::new();
        random_with_count(5, -8, &mut r, |i| got.push(i));
        assert_eq!(got.len(), 8);
        got.clear();
        random_with_count(5, 9, &mut r, |i| got.push(i));
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        got.clear();
        random_with_count(5, 3, &mut r, |i| got.push(i));
        assert_eq!(got.len(), 3);
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        got.clear();
        random_with_count(0, -3, &mut r, |i| got.push(i));
        assert!(got.is_empty());
        assert_eq!(random_reply_len(-4, 2), 4);
        assert_eq!(random_reply_len(4, 2), 2);
        assert_eq!(random_reply_len(1, 2), 1);
        assert_eq!(random_reply_len(-1, 0), 0);
    }
}
