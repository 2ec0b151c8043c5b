//! Numbers as Redis reads and writes them: `parse_i64` is `string2ll`,
//! `parse_f64` is the `strtod` check of `getDoubleFromObject`, and
//! [`LongDouble`] reproduces the x87 80-bit `long double` arithmetic behind
//! INCRBYFLOAT and HINCRBYFLOAT (`strtold`, one addition, `%.17Lf`).
//!
//! Redis keeps float counters as strings and computes in `long double`, so
//! `INCRBYFLOAT k 0.1` on "0.2" answers "0.3" where a 53-bit double would
//! give "0.30000000000000004". Rust has no `long double`; [`LongDouble`]
//! is a small software float with the x87 format's 64-bit significand and
//! round-to-nearest-even, and converts to and from decimal exactly (through
//! a tiny big integer), so results match Redis digit for digit.

use std::cmp::Ordering;

/// Decimal digits of the longest `i64` (`-9223372036854775808`).
pub const MAX_I64_CHARS: usize = 20;

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are not a valid float.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Parses a canonical decimal `i64` exactly like Redis's `string2ll`: an
/// optional `-`, no `+`, no spaces, no leading zeros, no `-0`, in range.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > MAX_I64_CHARS {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Formats `n` in decimal into `buf`, returning the digits.
pub fn format_i64(buf: &mut [u8; MAX_I64_CHARS], n: i64) -> &[u8] {
    let mut i = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Number of characters `n` takes in decimal.
pub fn i64_len(n: i64) -> usize {
    let mut buf = [0u8; MAX_I64_CHARS];
    format_i64(&mut buf, n).len()
}

/// Parses a double like Redis's `getDoubleFromObject`: the whole input must
/// be a `strtod` number (decimal, hex `0x1p3`, `inf`/`infinity`, any case),
/// with no leading space; NaN, overflow to infinity and underflow to zero
/// are rejected.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let lit = scan_float(s)?;
    match lit.body {
        Body::Inf => Some(if lit.neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Body::Nan => None,
        Body::Hex { .. } => {
            let ld = LongDouble::from_literal(&lit)?;
            let d = ld.to_f64();
            if d.is_infinite() || (d == 0.0 && !ld.is_zero()) {
                None
            } else {
                Some(d)
            }
        }
        Body::Dec { nonzero, .. } => {
            // The grammar is checked; Rust's parser accepts the same decimal
            // forms and rounds correctly.
            let text = std::str::from_utf8(s).ok()?;
            let d: f64 = text.parse().ok()?;
            if d.is_infinite() || (d == 0.0 && nonzero) {
                None
            } else {
                Some(d)
            }
        }
    }
}

/// What `scan_float` recognised.
struct Literal<'a> {
    neg: bool,
    body: Body<'a>,
}

enum Body<'a> {
    Inf,
    Nan,
    /// Decimal digits (without the point) and the power of ten they are
    /// scaled by; `nonzero` when any digit is not 0.
    Dec {
        digits: Vec<u8>,
        exp10: i64,
        nonzero: bool,
    },
    /// Hex digits and the power of two they are scaled by.
    Hex {
        digits: &'a [u8],
        exp2: i64,
    },
}

/// Checks that all of `s` is one `strtod` number with no leading space.
fn scan_float(s: &[u8]) -> Option<Literal<'_>> {
    if s.is_empty() {
        return None;
    }
    let mut i = 0;
    let neg = match s[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let lower: Vec<u8> = rest
        .iter()
        .take(9)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if lower == b"inf" || lower == b"infinity" && rest.len() == 8 {
        return Some(Literal {
            neg,
            body: Body::Inf,
        });
    }
    if lower.starts_with(b"nan") {
        // "nan" and "nan(n-char-sequence)" parse (to NaN, which Redis rejects).
        let tail = &rest[3..];
        let ok = tail.is_empty()
            || (tail.len() >= 2
                && tail[0] == b'('
                && tail[tail.len() - 1] == b')'
                && tail[1..tail.len() - 1]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_'));
        return ok.then_some(Literal {
            neg,
            body: Body::Nan,
        });
    }
    if lower.len() >= 2 && lower[0] == b'0' && lower[1] == b'x' {
        if let Some(body) = scan_hex(&rest[2..]) {
            return Some(Literal { neg, body });
        }
        // "0x" without hex digits is the number 0 followed by junk.
        return None;
    }
    scan_dec(rest).map(|body| Literal { neg, body })
}

fn scan_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturate: anything this far out over- or underflows anyway.
    let mut e: i64 = 0;
    for &c in digits {
        e = (e * 10 + (c - b'0') as i64).min(1 << 40);
    }
    Some(if neg { -e } else { e })
}

fn scan_dec(s: &[u8]) -> Option<Body<'_>> {
    let mut digits = Vec::new();
    let mut exp10: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            c @ b'0'..=b'9' => {
                seen_digit = true;
                if !(digits.is_empty() && c == b'0') {
                    digits.push(c - b'0');
                }
                if seen_point {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < s.len() {
        if s[i] != b'e' && s[i] != b'E' {
            return None;
        }
        exp10 += scan_exponent(&s[i + 1..])?;
    }
    while digits.last() == Some(&0) {
        digits.pop();
        exp10 += 1;
    }
    let nonzero = !digits.is_empty();
    Some(Body::Dec {
        digits,
        exp10,
        nonzero,
    })
}

fn scan_hex(s: &[u8]) -> Option<Body<'_>> {
    let mut i = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    let mut frac = 0i64;
    let mut end_digits = 0;
    while i < s.len() {
        match s[i] {
            c if c.is_ascii_hexdigit() => {
                seen_digit = true;
                if seen_point {
                    frac += 1;
                }
                end_digits = i + 1;
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    let mut exp2 = -4 * frac;
    if i < s.len() {
        if s[i] != b'p' && s[i] != b'P' {
            return None;
        }
        exp2 += scan_exponent(&s[i + 1..])?;
    }
    Some(Body::Hex {
        digits: &s[..end_digits],
        exp2,
    })
}

// ---- a minimal big unsigned integer -----------------------------------------

/// Little-endian `u32` limbs, no high zero limbs. Only what exact decimal
/// conversion needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(x: u64) -> Big {
        let mut b = Big(vec![x as u32, (x >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() * 32 - top.leading_zeros() as usize,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    /// Whether any of the lowest `n` bits is set.
    fn any_below(&self, n: usize) -> bool {
        let full = n / 32;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let part = n % 32;
        part > 0
            && self
                .0
                .get(full)
                .is_some_and(|&l| l & ((1u32 << part) - 1) != 0)
    }

    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for l in self.0.iter_mut() {
            let v = *l as u64 * m as u64 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_add_small(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.mul_add_small(10u32.pow(n), 0);
        }
    }

    fn shl(&self, bits: usize) -> Big {
        if self.is_zero() {
            return Big(Vec::new());
        }
        let (limbs, sh) = (bits / 32, bits % 32);
        let mut out = vec![0u32; limbs];
        if sh == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &l in &self.0 {
                out.push(l << sh | carry);
                carry = l >> (32 - sh);
            }
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, bits: usize) -> Big {
        let (limbs, sh) = (bits / 32, bits % 32);
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let hi = if sh > 0 {
                src.get(i + 1).map_or(0, |&h| h << (32 - sh))
            } else {
                0
            };
            out.push(src[i] >> sh | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn low_u64(&self) -> u64 {
        self.0.first().copied().unwrap_or(0) as u64
            | (self.0.get(1).copied().unwrap_or(0) as u64) << 32
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// `self -= o`; requires `self >= o`.
    fn sub_assign(&mut self, o: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let v = self.0[i] as i64 - o.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = (v < 0) as i64;
            self.0[i] = (v + (borrow << 32)) as u32;
        }
        debug_assert_eq!(borrow, 0);
        self.trim();
    }

    fn divrem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let v = rem << 32 | *l as u64;
            *l = (v / d as u64) as u32;
            rem = v % d as u64;
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> Vec<u8> {
        if self.is_zero() {
            return b"0".to_vec();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.divrem_small(1_000_000_000));
        }
        let mut out = format!("{}", chunks.pop().unwrap_or(0)).into_bytes();
        for c in chunks.iter().rev() {
            out.extend_from_slice(format!("{c:09}").as_bytes());
        }
        out
    }
}

/// `n` rounded to 64 significant bits (half to even, `sticky` standing for
/// non-zero bits below `n`): `(m, e)` with `m` in `[2^63, 2^64)` and
/// `n ~= m * 2^e`. `n` must be non-zero.
fn round_to_64(n: &Big, sticky: bool) -> (u64, i64) {
    let bl = n.bit_len();
    debug_assert!(bl > 0);
    if bl <= 64 {
        debug_assert!(!sticky);
        let m = n.low_u64() << (64 - bl);
        return (m, bl as i64 - 64);
    }
    let sh = bl - 64;
    let mut m = n.shr(sh).low_u64();
    let mut e = sh as i64;
    let half = n.bit(sh - 1);
    let rest = sticky || n.any_below(sh - 1);
    if half && (rest || m & 1 == 1) {
        m = m.wrapping_add(1);
        if m == 0 {
            m = 1 << 63;
            e += 1;
        }
    }
    (m, e)
}

// ---- long double -------------------------------------------------------------

/// Binary exponent bounds of the x87 80-bit format, for `m * 2^e` with a
/// 64-bit `m` whose top bit is set: below 2^16384, and down to the smallest
/// subnormal 2^-16445 (subnormals keep all 64 bits here; only sums of
/// numbers near 1e-4930 could tell).
const LD_MAX_EXP: i64 = 16384 - 64;
const LD_MIN_EXP: i64 = -16445 - 63;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Zero,
    Inf,
    Nan,
    /// `mant * 2^exp`, `mant` normalised (top bit set).
    Finite {
        mant: u64,
        exp: i64,
    },
}

/// A `long double` as x86-64 Redis computes with (64-bit significand,
/// round to nearest even). See the module doc.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongDouble {
    neg: bool,
    kind: Kind,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        neg: false,
        kind: Kind::Zero,
    };

    /// Parses like Redis's `string2ld` (what INCRBYFLOAT and HINCRBYFLOAT
    /// accept): all of `s` in `strtold` syntax (so no NUL byte), no leading
    /// space, at most 5119 bytes; NaN, overflow and underflow to zero are
    /// not numbers.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let lit = scan_float(s)?;
        let ld = LongDouble::from_literal(&lit)?;
        if ld.is_nan() || ld.is_infinite() && !matches!(lit.body, Body::Inf) {
            return None;
        }
        Some(ld)
    }

    /// The literal's value; `None` when it underflows to zero.
    fn from_literal(lit: &Literal<'_>) -> Option<LongDouble> {
        let kind = match &lit.body {
            Body::Inf => Kind::Inf,
            Body::Nan => Kind::Nan,
            Body::Dec { digits, exp10, .. } => {
                if digits.is_empty() {
                    Kind::Zero
                } else {
                    dec_to_kind(digits, *exp10)?
                }
            }
            Body::Hex { digits, exp2 } => {
                let mut n = Big(Vec::new());
                for &c in digits.iter().filter(|c| **c != b'.') {
                    let d = (c as char).to_digit(16).unwrap_or(0);
                    n.mul_add_small(16, d);
                }
                if n.is_zero() {
                    Kind::Zero
                } else {
                    let (m, e) = round_to_64(&n, false);
                    finite(m, e.saturating_add(*exp2))?
                }
            }
        };
        Some(LongDouble { neg: lit.neg, kind })
    }

    pub fn from_i64(n: i64) -> LongDouble {
        if n == 0 {
            return LongDouble::ZERO;
        }
        let u = n.unsigned_abs();
        let lz = u.leading_zeros() as i64;
        LongDouble {
            neg: n < 0,
            kind: Kind::Finite {
                mant: u << lz,
                exp: -lz,
            },
        }
    }

    pub fn is_nan(&self) -> bool {
        self.kind == Kind::Nan
    }

    pub fn is_infinite(&self) -> bool {
        self.kind == Kind::Inf
    }

    pub fn is_finite(&self) -> bool {
        matches!(self.kind, Kind::Zero | Kind::Finite { .. })
    }

    pub fn is_zero(&self) -> bool {
        self.kind == Kind::Zero
    }

    /// `self + o`, rounded to nearest even like the x87 FPU.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, o: LongDouble) -> LongDouble {
        use Kind::*;
        let nan = LongDouble {
            neg: false,
            kind: Nan,
        };
        match (self.kind, o.kind) {
            (Nan, _) | (_, Nan) => nan,
            (Inf, Inf) if self.neg != o.neg => nan,
            (Inf, _) => self,
            (_, Inf) => o,
            (Zero, Zero) => LongDouble {
                neg: self.neg && o.neg,
                kind: Zero,
            },
            (Zero, _) => o,
            (_, Zero) => self,
            (Finite { mant: ma, exp: ea }, Finite { mant: mb, exp: eb }) => {
                // Order by magnitude: (big, small).
                let a_big = (ea, ma) >= (eb, mb);
                let (big, bm, be, sm, se) = if a_big {
                    (self, ma, ea, mb, eb)
                } else {
                    (o, mb, eb, ma, ea)
                };
                let d = (be - se) as u64;
                // Significands at bits 126..63, bit 127 free for the carry;
                // bits shifted out of the smaller one are jammed into bit 0.
                let x = (bm as u128) << 63;
                let y_full = (sm as u128) << 63;
                let y = if d >= 127 {
                    1
                } else {
                    let lost = y_full & ((1u128 << d) - 1) != 0;
                    (y_full >> d) | lost as u128
                };
                let s = if self.neg == o.neg { x + y } else { x - y };
                if s == 0 {
                    return LongDouble::ZERO;
                }
                let (mant, exp) = round_u128(s, be - 63);
                match finite(mant, exp) {
                    Some(kind) => LongDouble { neg: big.neg, kind },
                    None => LongDouble {
                        neg: big.neg,
                        kind: Zero,
                    },
                }
            }
        }
    }

    /// `self * k` for `k` > 0, rounded to nearest even like the x87 FPU
    /// (zero, infinities and NaN stay what they are).
    pub fn mul_small(self, k: u32) -> LongDouble {
        debug_assert!(k > 0);
        let Kind::Finite { mant, exp } = self.kind else {
            return self;
        };
        let (m, e) = round_u128(mant as u128 * k as u128, exp);
        let kind = finite(m, e).unwrap_or(Kind::Zero);
        LongDouble {
            neg: self.neg,
            kind,
        }
    }

    /// `(long long) ceill(self)` where that is defined: `None` for NaN,
    /// infinities and values past the range of `long long` (which x86-64
    /// converts to its most negative value).
    pub fn ceil_i64(&self) -> Option<i64> {
        let (mant, exp) = match self.kind {
            Kind::Zero => return Some(0),
            Kind::Inf | Kind::Nan => return None,
            Kind::Finite { mant, exp } => (mant, exp),
        };
        // |self| = int + frac, int = mant * 2^exp truncated.
        let (int, frac) = if exp >= 0 {
            if exp >= 64 {
                return None;
            }
            let int = (mant as u128) << exp;
            (int, false)
        } else if exp <= -64 {
            (0, true)
        } else {
            let s = (-exp) as u32;
            ((mant >> s) as u128, mant & ((1u64 << s) - 1) != 0)
        };
        if self.neg {
            // ceil(-x) = -floor(x).
            (int <= 1u128 << 63).then(|| (int as i128).wrapping_neg() as i64)
        } else {
            let v = int + frac as u128;
            i64::try_from(v).ok()
        }
    }

    /// The nearest `f64` (for replies that Redis gives as doubles).
    pub fn to_f64(&self) -> f64 {
        let sign = if self.neg { -1.0 } else { 1.0 };
        match self.kind {
            Kind::Zero => sign * 0.0,
            Kind::Inf => sign * f64::INFINITY,
            Kind::Nan => f64::NAN,
            Kind::Finite { mant, exp } => sign * ldexp(mant as f64, exp),
        }
    }

    /// Formats like Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, then
    /// trailing zeros (and a trailing point) removed, `-0` written `0`.
    /// Infinities are `inf`/`-inf`.
    pub fn to_human(&self) -> Vec<u8> {
        let (mant, exp) = match self.kind {
            Kind::Inf => {
                return if self.neg {
                    b"-inf".to_vec()
                } else {
                    b"inf".to_vec()
                }
            }
            Kind::Nan => return b"nan".to_vec(),
            Kind::Zero => (0, 0),
            Kind::Finite { mant, exp } => (mant, exp),
        };
        const DECIMALS: usize = 17;
        let mut n = Big::from_u64(mant);
        n.mul_pow10(DECIMALS as u32);
        let scaled = if exp >= 0 {
            n.shl(exp as usize)
        } else {
            let sh = (-exp) as usize;
            let mut q = n.shr(sh);
            let half = sh >= 1 && n.bit(sh - 1);
            let rest = sh >= 2 && n.any_below(sh - 1);
            if half && (rest || q.bit(0)) {
                q.mul_add_small(1, 1);
            }
            q
        };
        let mut digits = scaled.to_decimal();
        if digits.len() <= DECIMALS {
            let mut padded = vec![b'0'; DECIMALS + 1 - digits.len()];
            padded.extend_from_slice(&digits);
            digits = padded;
        }
        let (int, frac) = digits.split_at(digits.len() - DECIMALS);
        let mut out = Vec::with_capacity(digits.len() + 2);
        if self.neg {
            out.push(b'-');
        }
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
        if out == b"-0" {
            out.remove(0);
        }
        out
    }
}

/// `s * 2^exp` (`s` not 0) as a normalised 64-bit significand and its
/// exponent, rounded to nearest even like the x87 FPU.
fn round_u128(s: u128, exp: i64) -> (u64, i64) {
    let top = 127 - s.leading_zeros() as i64;
    if top <= 63 {
        return ((s << (63 - top)) as u64, exp - (63 - top));
    }
    let drop = (top - 63) as u32;
    let mut m = (s >> drop) as u64;
    let rem = s & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let mut e = exp + drop as i64;
    if rem > half || (rem == half && m & 1 == 1) {
        m = m.wrapping_add(1);
        if m == 0 {
            m = 1 << 63;
            e += 1;
        }
    }
    (m, e)
}

/// `mant * 2^exp` as a finite value: `Inf` beyond the format's range,
/// `None` below it (underflow to zero).
fn finite(mant: u64, exp: i64) -> Option<Kind> {
    if exp > LD_MAX_EXP {
        Some(Kind::Inf)
    } else if exp < LD_MIN_EXP {
        None
    } else {
        Some(Kind::Finite { mant, exp })
    }
}

/// `digits * 10^exp10` rounded to a long double; `None` on underflow.
fn dec_to_kind(digits: &[u8], exp10: i64) -> Option<Kind> {
    // Beyond these the value is out of range whatever the digits are
    // (the x87 range is about 1e-4951 .. 1.2e4932).
    if exp10 + digits.len() as i64 > 4940 {
        return Some(Kind::Inf);
    }
    if exp10 + (digits.len() as i64) < -4960 {
        return None;
    }
    let mut n = Big(Vec::new());
    for &d in digits {
        n.mul_add_small(10, d as u32);
    }
    if exp10 >= 0 {
        n.mul_pow10(exp10 as u32);
        let (m, e) = round_to_64(&n, false);
        return finite(m, e);
    }
    let mut q10 = Big::from_u64(1);
    q10.mul_pow10((-exp10) as u32);
    // Scale so that the quotient has 65 or 66 bits.
    let s = 65 + q10.bit_len() as i64 - n.bit_len() as i64;
    let (mut a, b) = if s >= 0 {
        (n.shl(s as usize), q10)
    } else {
        (n, q10.shl((-s) as usize))
    };
    let mut q: u128 = 0;
    for i in (0..67).rev() {
        let t = b.shl(i);
        if a.cmp(&t) != Ordering::Less {
            a.sub_assign(&t);
            q |= 1 << i;
        }
    }
    let qb = Big(vec![
        q as u32,
        (q >> 32) as u32,
        (q >> 64) as u32,
        (q >> 96) as u32,
    ]);
    let mut qb = qb;
    qb.trim();
    let (m, e) = round_to_64(&qb, !a.is_zero());
    finite(m, e - s)
}

/// `x * 2^e` by exact power-of-two steps.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
        if x.is_infinite() {
            return x;
        }
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
        if x == 0.0 {
            return x;
        }
    }
    x * 2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_double_times_small_then_ceil_is_x87s() {
        let ms = |s: &str| {
            LongDouble::parse(s.as_bytes())
                .unwrap()
                .mul_small(1000)
                .ceil_i64()
        };
        // 0.001 is a little under a thousandth in 64 bits of significand.
        assert_eq!(ms("0.001"), Some(1));
        assert_eq!(ms("-0.001"), Some(0));
        assert_eq!(ms("-0.002"), Some(-1));
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("1e-400"), Some(1));
        // Exact in a long double, where a double rounds it to 2^63.
        assert_eq!(ms("9223372036854775"), Some(9_223_372_036_854_775_000));
        assert_eq!(ms("9223372036854776"), None);
        assert_eq!(ms("-9223372036854775"), Some(-9_223_372_036_854_775_000));
        assert_eq!(ms("-9223372036854776"), None);
        assert_eq!(ms("inf"), None);
        assert_eq!(LongDouble::ZERO.mul_small(1000).ceil_i64(), Some(0));
    }

    #[test]
    fn parse_i64_is_string2ll() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("123456", 123456),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (s, v) in ok {
            assert_eq!(parse_i64(s.as_bytes()), Some(*v), "{s}");
        }
        for s in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "01",
            "-0",
            "00",
            "1a",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "1.0",
            "0x10",
        ] {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn format_i64_round_trips() {
        let mut b = [0u8; MAX_I64_CHARS];
        for n in [0, 1, -1, 10, -10, i64::MAX, i64::MIN, 1234567890] {
            assert_eq!(format_i64(&mut b, n), n.to_string().as_bytes());
            assert_eq!(i64_len(n), n.to_string().len());
        }
    }

    #[test]
    fn parse_f64_is_strtod_checked() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+INF", f64::INFINITY),
            ("0x10", 16.0),
            ("0x1p-1", 0.5),
            ("0x.8", 0.5),
            ("0", 0.0),
            ("0e-999", 0.0),
            ("1e-310", 1e-310),
        ];
        for (s, v) in ok {
            assert_eq!(parse_f64(s.as_bytes()), Some(*v), "{s}");
        }
        for s in [
            "", " 1", "1 ", "1e", "1e+", "e5", ".", "-", "nan", "NaN", "1e400", "-1e400", "1e-400",
            "0x", "1..2", "1.2.3", "abc", "1,5", "infinit", "1\0",
        ] {
            assert_eq!(parse_f64(s.as_bytes()), None, "{s:?}");
        }
    }

    fn incr(a: &str, b: &str) -> String {
        let x = LongDouble::parse(a.as_bytes()).unwrap();
        let y = LongDouble::parse(b.as_bytes()).unwrap();
        String::from_utf8(x.add(y).to_human()).unwrap()
    }

    /// Expected values are what Redis 7.0.15 (x86-64) answers to
    /// `SET k a` + `INCRBYFLOAT k b`.
    #[test]
    fn long_double_sums_match_redis() {
        let cases: &[(&str, &str, &str)] = &[
            ("10.5", "0.1", "10.6"),
            ("0.1", "0.2", "0.3"),
            ("3.0e3", "0", "3000"),
            ("5.0e3", "2", "5002"),
            ("0", "1e-20", "0"),
            ("0", "-1e-20", "0"),
            ("1", "-1", "0"),
            ("-5", "2.5", "-2.5"),
            ("0", "0.1", "0.1"),
            ("1", "1e20", "100000000000000000000"),
            ("1e20", "1e10", "100000000010000000000"),
            ("1000000", "0.1", "1000000.10000000000002274"),
            // A tie at the 17th decimal rounds to even, as glibc's printf.
            ("0.000003814697265625", "1", "1.00000381469726562"),
            ("0.000003814697265625", "0.1", "0.10000381469726563"),
        ];
        for (a, b, want) in cases {
            assert_eq!(incr(a, b), *want, "{a} + {b}");
        }
    }

    #[test]
    fn long_double_parse_rejects_like_string2ld() {
        for s in ["", " 1", "1 ", "nan", "abc", "1e", "1e99999"] {
            assert_eq!(LongDouble::parse(s.as_bytes()), None, "{s:?}");
        }
        // Beyond a double's range but inside long double's.
        assert!(LongDouble::parse(b"1e400").is_some());
        assert!(LongDouble::parse(b"inf").unwrap().is_infinite());
        // strtold would stop at a NUL byte; Redis checks it read everything.
        assert_eq!(LongDouble::parse(b"1\0"), None);
        assert!(LongDouble::parse(&vec![b'1'; MAX_LONG_DOUBLE_CHARS]).is_none());
    }

    #[test]
    fn long_double_from_i64_is_exact() {
        for n in [1i64, -1, 42, i64::MAX, i64::MIN, 1 << 62] {
            let s = String::from_utf8(LongDouble::from_i64(n).to_human()).unwrap();
            assert_eq!(s, n.to_string());
        }
        assert_eq!(LongDouble::from_i64(3).to_f64(), 3.0);
    }
}
