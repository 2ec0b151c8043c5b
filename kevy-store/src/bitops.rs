//! Bit arithmetic on byte strings for the bitmap commands (Redis's
//! `bitops.c`): population counts, searches for the first set or clear
//! bit, BITOP's folds and BITFIELD's integer fields.
//!
//! Bit 0 is the most significant bit of the first byte, as in Redis. Counts,
//! searches and folds go eight bytes at a time (`u64` words); only the
//! partial bytes at the edges of a range are handled alone. A field of up
//! to 64 bits spans at most nine bytes, so it is read and written through
//! one big-endian `u128` window rather than bit by bit.

/// Set bits in `b`.
pub fn popcount(b: &[u8]) -> u64 {
    // Four independent words per step keep the adds from forming one chain.
    let mut blocks = b.chunks_exact(32);
    let (mut n0, mut n1, mut n2, mut n3) = (0u64, 0u64, 0u64, 0u64);
    for c in &mut blocks {
        n0 += word(&c[0..8]).count_ones() as u64;
        n1 += word(&c[8..16]).count_ones() as u64;
        n2 += word(&c[16..24]).count_ones() as u64;
        n3 += word(&c[24..32]).count_ones() as u64;
    }
    let mut n = n0 + n1 + n2 + n3;
    let mut words = blocks.remainder().chunks_exact(8);
    for c in &mut words {
        n += word(c).count_ones() as u64;
    }
    for &x in words.remainder() {
        n += x.count_ones() as u64;
    }
    n
}

/// Eight bytes as one word (byte order is irrelevant for counts and folds).
#[inline(always)]
fn word(c: &[u8]) -> u64 {
    u64::from_le_bytes(c.try_into().expect("eight bytes"))
}

/// The inclusive bit range BITCOUNT and BITPOS address, with Redis's index
/// rules: `start` and `end` count from the end when negative and are then
/// clamped to the string; in bits when `in_bits`, else in bytes (whole
/// bytes then). `None` when the range is empty.
pub fn bit_range(start: i64, end: i64, len: usize, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let from_end = |i: i64| if i < 0 { total + i } else { i };
    let s = from_end(start).max(0);
    let e = from_end(end).max(0).min(total - 1);
    if s > e {
        return None;
    }
    let (s, e) = (s as u64, e as u64);
    Some(if in_bits { (s, e) } else { (s * 8, e * 8 + 7) })
}

/// Set bits among bits `first..=last` of `b` (`last` inside `b`).
pub fn count(b: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut n = popcount(&b[fb..=lb]);
    // Take off the bits of the edge bytes outside the range.
    n -= (b[fb] & !(0xffu8 >> (first & 7))).count_ones() as u64;
    n -= (b[lb] & (0x7fu8 >> (last & 7))).count_ones() as u64;
    n
}

/// The first bit equal to `bit` among bits `first..=last` of `b` (`last`
/// inside `b`).
pub fn position(b: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    // Searching for a clear bit is searching for a set bit in the inverse.
    let flip = if bit { 0u8 } else { 0xff };
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let head_mask = 0xffu8 >> (first & 7);
    let tail_mask = 0xffu8 << (7 - (last & 7));
    if fb == lb {
        let x = (b[fb] ^ flip) & head_mask & tail_mask;
        return (x != 0).then(|| fb as u64 * 8 + x.leading_zeros() as u64);
    }
    let x = (b[fb] ^ flip) & head_mask;
    if x != 0 {
        return Some(fb as u64 * 8 + x.leading_zeros() as u64);
    }
    let mid = &b[fb + 1..lb];
    let wflip = if bit { 0u64 } else { u64::MAX };
    let mut words = mid.chunks_exact(8);
    let mut at = fb + 1;
    for c in &mut words {
        let w = u64::from_be_bytes(c.try_into().expect("eight bytes")) ^ wflip;
        if w != 0 {
            return Some(at as u64 * 8 + w.leading_zeros() as u64);
        }
        at += 8;
    }
    for &x in words.remainder() {
        let x = x ^ flip;
        if x != 0 {
            return Some(at as u64 * 8 + x.leading_zeros() as u64);
        }
        at += 1;
    }
    let x = (b[lb] ^ flip) & tail_mask;
    (x != 0).then(|| lb as u64 * 8 + x.leading_zeros() as u64)
}

/// BITOP's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds `src` into `acc` with `op` (`acc` at least as long as `src`); the
/// bytes of `acc` past `src`'s end meet zeros, as a shorter string is
/// zero-padded. NOT takes one source: `acc` becomes its inverse.
pub fn fold(op: BitOp, acc: &mut [u8], src: &[u8]) {
    let (head, tail) = acc.split_at_mut(src.len());
    let f = |a: u64, s: u64| match op {
        BitOp::And => a & s,
        BitOp::Or => a | s,
        BitOp::Xor => a ^ s,
        BitOp::Not => !s,
    };
    let mut acc_words = head.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (a, s) in (&mut acc_words).zip(&mut src_words) {
        let r = f(word(a), word(s));
        a.copy_from_slice(&r.to_le_bytes());
    }
    for (a, &s) in acc_words
        .into_remainder()
        .iter_mut()
        .zip(src_words.remainder())
    {
        *a = f(*a as u64, s as u64) as u8;
    }
    match op {
        BitOp::And => tail.fill(0),
        BitOp::Not => {
            for a in tail {
                *a = 0xff;
            }
        }
        BitOp::Or | BitOp::Xor => {}
    }
}

/// The nine-byte window holding a field of up to 64 bits at `offset`, in
/// the top of a `u128`, zero past the end of `b`.
#[inline]
fn window(b: &[u8], byte: usize) -> u128 {
    let mut w = [0u8; 16];
    if byte < b.len() {
        let n = (b.len() - byte).min(9);
        w[..n].copy_from_slice(&b[byte..byte + n]);
    }
    u128::from_be_bytes(w)
}

/// The unsigned field of `bits` bits (1..=64) at bit `offset`; bits past
/// the end of `b` read as zero.
pub fn get_unsigned(b: &[u8], offset: u64, bits: u32) -> u64 {
    debug_assert!((1..=64).contains(&bits));
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return 0;
    };
    let w = window(b, byte) << (offset & 7);
    (w >> (128 - bits)) as u64
}

/// The signed (two's complement) field of `bits` bits at bit `offset`.
pub fn get_signed(b: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(b, offset, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value` as the field at bit `offset`;
/// the field lies inside `b`.
pub fn set_field(b: &mut [u8], offset: u64, bits: u32, value: u64) {
    debug_assert!((1..=64).contains(&bits));
    let byte = (offset >> 3) as usize;
    let end = ((offset + bits as u64 - 1) >> 3) as usize;
    let n = end - byte + 1;
    let shift = 128 - (offset & 7) as u32 - bits;
    let low = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mask = (low as u128) << shift;
    let w = (window(b, byte) & !mask) | (((value & low) as u128) << shift);
    b[byte..=end].copy_from_slice(&w.to_be_bytes()[..n]);
}

/// BITFIELD's OVERFLOW behaviours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Modular arithmetic (the default).
    #[default]
    Wrap,
    /// Clamp to the type's minimum or maximum.
    Sat,
    /// Write nothing and answer nil.
    Fail,
}

/// `value + incr` for an unsigned field of `bits` bits (1..=63): the value
/// to store, or `None` when it overflows under FAIL. This is Redis's
/// `checkUnsignedBitfieldOverflow`, SET passing its value with `incr` 0 (a
/// negative SET value is its two's complement, so it overflows).
pub fn add_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let limit = if value > max || (incr > 0 && incr > max_incr) {
        max
    } else if incr < 0 && incr < min_incr {
        0
    } else {
        return Some(value.wrapping_add(incr as u64));
    };
    match ow {
        Overflow::Fail => None,
        Overflow::Sat => Some(limit),
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & !(u64::MAX << bits)),
    }
}

/// `value + incr` for a signed field of `bits` bits (1..=64), as
/// [`add_unsigned`] (Redis's `checkSignedBitfieldOverflow`, whose range
/// tests are kept as they are: they decide which limit SAT picks for a SET
/// value far outside the type).
pub fn add_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let limit = if value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        max
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        min
    } else {
        return Some(value.wrapping_add(incr));
    };
    match ow {
        Overflow::Fail => None,
        Overflow::Sat => Some(limit),
        Overflow::Wrap => {
            let mut c = (value as u64).wrapping_add(incr as u64);
            if bits < 64 {
                let high = u64::MAX << bits;
                if c & (1 << (bits - 1)) != 0 {
                    c |= high;
                } else {
                    c &= !high;
                }
            }
            Some(c as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bit_at(b: &[u8], i: u64) -> bool {
        b[(i >> 3) as usize] & (0x80 >> (i & 7)) != 0
    }

    fn naive_field(b: &[u8], offset: u64, bits: u32) -> u64 {
        let mut v = 0u64;
        for i in offset..offset + bits as u64 {
            let set = (i >> 3) < b.len() as u64 && bit_at(b, i);
            v = (v << 1) | set as u64;
        }
        v
    }

    #[test]
    fn popcount_and_count_edges() {
        assert_eq!(popcount(b""), 0);
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(popcount(&[0xff; 100]), 800);
        assert_eq!(count(b"foobar", 8, 15), 6);
        assert_eq!(count(b"foobar", 5, 30), 17);
        assert_eq!(count(&[0xff], 3, 3), 1);
    }

    #[test]
    fn ranges_follow_redis_index_rules() {
        assert_eq!(bit_range(0, -1, 6, false), Some((0, 47)));
        assert_eq!(bit_range(1, 1, 6, false), Some((8, 15)));
        assert_eq!(bit_range(-100, 100, 6, false), Some((0, 47)));
        assert_eq!(bit_range(5, 30, 6, true), Some((5, 30)));
        assert_eq!(bit_range(-1, -1, 6, true), Some((47, 47)));
        assert_eq!(bit_range(3, 2, 6, false), None);
        assert_eq!(bit_range(0, -1, 0, false), None);
        assert_eq!(bit_range(i64::MIN, i64::MAX, 4, true), Some((0, 31)));
    }

    #[test]
    fn fields_at_string_edges() {
        let b = [0b1010_0000u8, 0xff];
        assert_eq!(get_unsigned(&b, 0, 3), 0b101);
        assert_eq!(get_signed(&b, 0, 3), -3);
        assert_eq!(get_unsigned(&b, 12, 8), 0xf0);
        assert_eq!(get_unsigned(&b, u64::MAX - 8, 8), 0);
        assert_eq!(get_signed(&[0xff; 8], 0, 64), -1);
        let mut m = [0u8; 9];
        set_field(&mut m, 7, 64, u64::MAX);
        assert_eq!(m, [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        set_field(&mut m, 0, 1, 1);
        assert_eq!(m[0], 0x81);
    }

    #[test]
    fn overflow_as_redis() {
        use Overflow::*;
        assert_eq!(add_unsigned(250, 10, 8, Wrap), Some(4));
        assert_eq!(add_unsigned(250, 10, 8, Sat), Some(255));
        assert_eq!(add_unsigned(250, 10, 8, Fail), None);
        assert_eq!(add_unsigned(5, -10, 8, Sat), Some(0));
        assert_eq!(add_unsigned(5, -10, 8, Wrap), Some(251));
        assert_eq!(add_unsigned(-1i64 as u64, 0, 8, Sat), Some(255));
        assert_eq!(add_unsigned(-1i64 as u64, 0, 8, Wrap), Some(255));
        assert_eq!(add_signed(120, 10, 8, Wrap), Some(-126));
        assert_eq!(add_signed(120, 10, 8, Sat), Some(127));
        assert_eq!(add_signed(-120, -10, 8, Sat), Some(-128));
        assert_eq!(add_signed(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(add_signed(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(add_signed(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(add_signed(i64::MIN, -1, 64, Fail), None);
        // Redis's range test calls a SET value this far below the type an
        // overflow upwards: SAT stores the maximum.
        assert_eq!(add_signed(i64::MIN, 0, 8, Sat), Some(127));
        assert_eq!(add_signed(-1000, 0, 8, Sat), Some(-128));
    }

    proptest! {
        #[test]
        fn count_matches_bit_by_bit(b in prop::collection::vec(any::<u8>(), 1..80),
                                    x in any::<u64>(), y in any::<u64>()) {
            let nbits = b.len() as u64 * 8;
            let (mut first, mut last) = (x % nbits, y % nbits);
            if first > last { std::mem::swap(&mut first, &mut last); }
            let naive = (first..=last).filter(|&i| bit_at(&b, i)).count() as u64;
            prop_assert_eq!(count(&b, first, last), naive);
            prop_assert_eq!(popcount(&b), (0..nbits).filter(|&i| bit_at(&b, i)).count() as u64);
        }

        #[test]
        fn position_matches_bit_by_bit(b in prop::collection::vec(
                                           prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 1..80),
                                       x in any::<u64>(), y in any::<u64>(), bit in any::<bool>()) {
            let nbits = b.len() as u64 * 8;
            let (mut first, mut last) = (x % nbits, y % nbits);
            if first > last { std::mem::swap(&mut first, &mut last); }
            let naive = (first..=last).find(|&i| bit_at(&b, i) == bit);
            prop_assert_eq!(position(&b, bit, first, last), naive);
        }

        #[test]
        fn fold_matches_bytewise(a in prop::collection::vec(any::<u8>(), 0..40),
                                 s in prop::collection::vec(any::<u8>(), 0..40), op in 0..4u8) {
            let op = [BitOp::And, BitOp::Or, BitOp::Xor, BitOp::Not][op as usize];
            let len = a.len().max(s.len());
            let mut acc = a.clone();
            acc.resize(len, 0);
            let mut want = acc.clone();
            for (i, w) in want.iter_mut().enumerate() {
                let sv = s.get(i).copied().unwrap_or(0);
                *w = match op {
                    BitOp::And => *w & sv,
                    BitOp::Or => *w | sv,
                    BitOp::Xor => *w ^ sv,
                    BitOp::Not => !sv,
                };
            }
            fold(op, &mut acc, &s);
            prop_assert_eq!(acc, want);
        }

        #[test]
        fn fields_match_bit_by_bit(b in prop::collection::vec(any::<u8>(), 0..20),
                                   offset in 0u64..200, bits in 1u32..=64, v in any::<u64>()) {
            let want = naive_field(&b, offset, bits);
            prop_assert_eq!(get_unsigned(&b, offset, bits), want);
            let signed = if bits < 64 && want >> (bits - 1) & 1 == 1 {
                (want | u64::MAX << bits) as i64
            } else {
                want as i64
            };
            prop_assert_eq!(get_signed(&b, offset, bits), signed);
            // A write changes exactly the field's bits.
            let mut m = b.clone();
            m.resize(m.len().max((offset + bits as u64).div_ceil(8) as usize), 0);
            let before = m.clone();
            set_field(&mut m, offset, bits, v);
            let low = if bits == 64 { v } else { v & ((1u64 << bits) - 1) };
            prop_assert_eq!(get_unsigned(&m, offset, bits), low);
            for i in 0..m.len() as u64 * 8 {
                if i < offset || i >= offset + bits as u64 {
                    prop_assert_eq!(bit_at(&m, i), bit_at(&before, i));
                }
            }
        }

        #[test]
        fn overflow_matches_wide_arithmetic(v in any::<i64>(), incr in any::<i64>(), bits in 1u32..=64) {
            // For values inside the type (what INCRBY reads), Redis's tests
            // are exact: compare with 128-bit arithmetic.
            let max = if bits == 64 { i64::MAX as i128 } else { (1i128 << (bits - 1)) - 1 };
            let min = -max - 1;
            let value = (v as i128).clamp(min, max) as i64;
            let sum = value as i128 + incr as i128;
            let sat = sum.clamp(min, max) as i64;
            let modulus = 1i128 << bits;
            let mut wrapped = sum.rem_euclid(modulus);
            if wrapped > max { wrapped -= modulus; }
            prop_assert_eq!(add_signed(value, incr, bits, Overflow::Sat), Some(sat));
            prop_assert_eq!(add_signed(value, incr, bits, Overflow::Wrap), Some(wrapped as i64));
            prop_assert_eq!(add_signed(value, incr, bits, Overflow::Fail).is_none(), sum != sat as i128);
            if bits < 64 {
                let umax = (1i128 << bits) - 1;
                let uv = (v as i128).rem_euclid(umax + 1) as u64;
                let usum = uv as i128 + incr as i128;
                let usat = usum.clamp(0, umax) as u64;
                prop_assert_eq!(add_unsigned(uv, incr, bits, Overflow::Sat), Some(usat));
                prop_assert_eq!(add_unsigned(uv, incr, bits, Overflow::Wrap),
                                Some(usum.rem_euclid(umax + 1) as u64));
                prop_assert_eq!(add_unsigned(uv, incr, bits, Overflow::Fail).is_none(), usum != usat as i128);
            }
        }
    }
}
