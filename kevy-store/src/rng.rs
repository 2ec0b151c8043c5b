//! A per-thread pseudo-random generator for sampling (RANDOMKEY, SPOP,
//! SRANDMEMBER, the active expiry cycle): wyrand, seeded once per thread from
//! ahash's process-random state. Not for anything that needs secrecy.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    ahash::RandomState::new().hash_one(0x6b65_7679_u64)
}

/// The next 64 random bits (wyrand).
#[inline]
pub fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
        (t >> 64) as u64 ^ t as u64
    })
}

/// The generator's state, to draw the same numbers again later
/// ([`set_state`]): runs of one script over copies of the keyspace must
/// pick the same random keys and members.
pub fn state() -> u64 {
    STATE.with(Cell::get)
}

/// Puts the generator back to a state [`state`] returned.
pub fn set_state(s: u64) {
    STATE.with(|c| c.set(s));
}

/// A uniform value in `0..n` (Lemire's multiply-shift; the bias is below
/// 2^-32 for any `n` a keyspace can have). `n` must be non-zero.
#[inline]
pub fn below(n: u64) -> u64 {
    debug_assert!(n > 0);
    ((next_u64() as u128 * n as u128) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = below(7) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(below(1), 0);
    }

    #[test]
    fn a_saved_state_draws_the_same_numbers_again() {
        let s = state();
        let a: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        set_state(s);
        let b: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        assert_eq!(a, b);
    }
}
