//! The C number behaviour Redis's Lua libraries inherit and scripts can see:
//! glibc's `%.*g` and `strtod`, and the x86-64 conversions behind C casts
//! from `double` (`cvttsd2si` gives the "integer indefinite" value for NaN and
//! out-of-range inputs instead of saturating as Rust's `as` does).

/// `(int64_t)x` on x86-64.
pub fn to_i64(x: f64) -> i64 {
    if x.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// `(int)x` on x86-64.
pub fn to_i32(x: f64) -> i32 {
    if x.is_nan() || x >= 2_147_483_648.0 || x <= -2_147_483_649.0 {
        i32::MIN
    } else {
        x as i32
    }
}

/// `(unsigned long long)x` as gcc compiles it for x86-64: inputs from 2^63
/// up go through a signed conversion of `x - 2^63` with the top bit flipped.
pub fn to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if x >= TWO_63 {
        (to_i64(x - TWO_63) as u64) ^ (1 << 63)
    } else {
        to_i64(x) as u64
    }
}

/// `printf("%.*g", precision, x)` with glibc's output, `inf` and `-nan`
/// included. `precision` is at most 17.
pub fn fmt_g(out: &mut Vec<u8>, x: f64, precision: usize) {
    use std::io::Write;
    if x.is_nan() {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    let p = precision.clamp(1, 17);
    // Integers with at most `p` digits print as themselves.
    if x.fract() == 0.0 && x.abs() < 10f64.powi(p as i32) {
        if x == 0.0 && x.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            let _ = write!(out, "{}", x as i64);
        }
        return;
    }
    // The exponent %e would print decides between the two styles.
    let mut buf = [0u8; 64];
    let len = {
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cur, "{:.*e}", p - 1, x);
        cur.position() as usize
    };
    let sci = std::str::from_utf8(&buf[..len]).expect("{:e} output is ASCII");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} output has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if exp < -4 || exp >= p as i32 {
        out.extend_from_slice(strip_zeros(mantissa).as_bytes());
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        let _ = write!(out, "{e}");
    } else {
        let decimals = (p as i32 - 1 - exp) as usize;
        let mut fixed = [0u8; 64];
        let len = {
            let mut cur = std::io::Cursor::new(&mut fixed[..]);
            let _ = write!(cur, "{x:.decimals$}");
            cur.position() as usize
        };
        let fixed = std::str::from_utf8(&fixed[..len]).expect("{:.N} output is ASCII");
        out.extend_from_slice(strip_zeros(fixed).as_bytes());
    }
}

/// %g drops trailing zeros of the fraction, and the point when nothing is
/// left after it.
fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// glibc's `strtod` on the start of `s`: the value and the number of bytes
/// it consumed, or `None` when no conversion can be made. Decimal and hex
/// (`0x1p-3`) forms, `inf`/`infinity`, and `nan` with an optional
/// `(payload)` are accepted, case-insensitively, after optional white space
/// and a sign.
pub fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (value, end) = if starts_with_ci(&s[i..], b"inf") {
        let n = if starts_with_ci(&s[i..], b"infinity") {
            8
        } else {
            3
        };
        (f64::INFINITY, i + n)
    } else if starts_with_ci(&s[i..], b"nan") {
        nan(s, i + 3)
    } else if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && hex_float(&s[i + 2..]).is_some()
    {
        let (v, n) = hex_float(&s[i + 2..])?;
        (v, i + 2 + n)
    } else {
        let (v, n) = decimal(&s[i..])?;
        (v, i + n)
    };
    Some((if negative { -value } else { value }, end))
}

fn starts_with_ci(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// `nan` ends at `i`; glibc also takes `(chars)` after it and, when the
/// chars read whole as an unsigned integer (`strtoull`, base 0), puts that
/// number in the mantissa.
fn nan(s: &[u8], i: usize) -> (f64, usize) {
    const QUIET: u64 = 0x7ff8_0000_0000_0000;
    let default = (f64::from_bits(QUIET), i);
    if s.get(i) != Some(&b'(') {
        return default;
    }
    let seq_len = s[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if s.get(i + 1 + seq_len) != Some(&b')') {
        return default;
    }
    let end = i + 1 + seq_len + 1;
    match strtoull_whole(&s[i + 1..i + 1 + seq_len]) {
        Some(m) => (f64::from_bits(QUIET | (m & ((1 << 52) - 1))), end),
        None => (f64::from_bits(QUIET), end),
    }
}

/// `strtoull(s, &end, 0)` when it consumes all of `s` (saturating on
/// overflow as it does), else `None`. `s` holds only letters, digits and `_`.
fn strtoull_whole(s: &[u8]) -> Option<u64> {
    let (digits, radix) = if s.len() > 2 && s[0] == b'0' && matches!(s[1], b'x' | b'X') {
        (&s[2..], 16)
    } else if s.first() == Some(&b'0') {
        (s, 8)
    } else {
        (s, 10)
    };
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        v = v.saturating_mul(radix as u64).saturating_add(d as u64);
    }
    Some(v)
}

/// The decimal form: digits, an optional point and digits (one digit at
/// least), and an exponent when digits follow the `e`.
fn decimal(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if s.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        frac_digits = &s[start..j];
        if !int_digits.is_empty() || !frac_digits.is_empty() {
            i = j;
        }
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            while j < s.len() && s[j].is_ascii_digit() {
                exp = (exp * 10 + (s[j] - b'0') as i64).min(1 << 40);
                j += 1;
            }
            if neg {
                exp = -exp;
            }
            i = j;
        }
    }
    // Rust's parser rounds correctly, as glibc does; it gets a canonical
    // spelling of the same number.
    let mut text = String::with_capacity(int_digits.len() + frac_digits.len() + 24);
    text.push_str(std::str::from_utf8(int_digits).ok()?);
    if text.is_empty() {
        text.push('0');
    }
    text.push('.');
    text.push_str(std::str::from_utf8(frac_digits).ok()?);
    text.push('0');
    text.push('e');
    text.push_str(&exp.to_string());
    Some((text.parse().ok()?, i))
}

/// The hex form after `0x`: hex digits with an optional point (one digit at
/// least) and an optional binary exponent `p[+-]digits`, rounded to nearest
/// even like glibc.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let mut mant: u64 = 0;
    // Value = mant * 2^exp, plus something below mant's last bit if sticky.
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut any_digit = false;
    let mut add_digit = |d: u64, fractional: bool, mant: &mut u64, exp: &mut i64| {
        if *mant >> 60 == 0 {
            *mant = *mant << 4 | d;
            if fractional {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !fractional {
                *exp += 4;
            }
        }
    };
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
        add_digit(d as u64, false, &mut mant, &mut exp);
        any_digit = true;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        let mut frac_digit = false;
        while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
            add_digit(d as u64, true, &mut mant, &mut exp);
            frac_digit = true;
            j += 1;
        }
        if any_digit || frac_digit {
            i = j;
            any_digit = true;
        }
    }
    if !any_digit {
        return None;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while j < s.len() && s[j].is_ascii_digit() {
                e = (e * 10 + (s[j] - b'0') as i64).min(1 << 40);
                j += 1;
            }
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    Some((round_binary(mant, exp, sticky), i))
}

/// `mant * 2^exp` (plus a sticky remainder) rounded to a double, nearest
/// even, with subnormals and overflow to infinity.
fn round_binary(mant: u64, exp: i64, sticky: bool) -> f64 {
    if mant == 0 {
        return 0.0;
    }
    let nbits = 64 - mant.leading_zeros() as i64;
    let top = exp + nbits - 1;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Exponent of the result's last mantissa bit.
    let lsb = (top - 52).max(-1074);
    let drop = lsb - exp;
    let mut m: u64;
    let mut lsb = lsb;
    if drop <= 0 {
        m = mant << (-drop);
    } else {
        let (kept, half, rest) = if drop >= 65 {
            (0, false, true)
        } else if drop == 64 {
            (0, mant >> 63 == 1, mant << 1 != 0)
        } else {
            let kept = mant >> drop;
            let half = (mant >> (drop - 1)) & 1 == 1;
            let rest = mant & ((1u64 << (drop - 1)) - 1) != 0;
            (kept, half, rest)
        };
        m = kept;
        if half && (rest || sticky || m & 1 == 1) {
            m += 1;
        }
        if m == 1 << 53 {
            m >>= 1;
            lsb += 1;
        }
    }
    if lsb + 52 > 1023 {
        return f64::INFINITY;
    }
    if m >= 1 << 52 {
        f64::from_bits((((lsb + 52 + 1023) as u64) << 52) | (m & ((1 << 52) - 1)))
    } else {
        // Subnormal: the last bit weighs 2^-1074.
        f64::from_bits(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: f64, p: usize) -> String {
        let mut v = Vec::new();
        fmt_g(&mut v, x, p);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn fmt_g_matches_printf() {
        assert_eq!(g(0.1, 14), "0.1");
        assert_eq!(g(1e-5, 14), "1e-05");
        assert_eq!(g(0.0001, 14), "0.0001");
        assert_eq!(g(1e14, 14), "1e+14");
        assert_eq!(g(12345678901234.0, 14), "12345678901234");
        assert_eq!(g(12345678901234.5, 14), "12345678901234");
        assert_eq!(g(2f64.powi(53), 14), "9.007199254741e+15");
        assert_eq!(g(1e300, 14), "1e+300");
        assert_eq!(g(-0.0, 14), "-0");
        assert_eq!(g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(g(5e-324, 14), "4.9406564584125e-324");
        assert_eq!(g(f64::INFINITY, 14), "inf");
        assert_eq!(g(-f64::NAN, 14), "-nan");
        assert_eq!(g(0.125, 2), "0.12");
        assert_eq!(g(100.0, 1), "1e+02");
    }

    #[test]
    fn strtod_forms() {
        assert_eq!(strtod(b"1.5x"), Some((1.5, 3)));
        assert_eq!(strtod(b"1."), Some((1.0, 2)));
        assert_eq!(strtod(b".5"), Some((0.5, 2)));
        assert_eq!(strtod(b"."), None);
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod(b"1e+"), Some((1.0, 1)));
        assert_eq!(strtod(b"1E+2"), Some((100.0, 4)));
        assert_eq!(strtod(b"0x"), Some((0.0, 1)));
        assert_eq!(strtod(b"0x10"), Some((16.0, 4)));
        assert_eq!(strtod(b"-0x1p3"), Some((-8.0, 6)));
        assert_eq!(strtod(b"0X1P-2"), Some((0.25, 6)));
        assert_eq!(strtod(b"0x.8"), Some((0.5, 4)));
        assert_eq!(strtod(b"1e400"), Some((f64::INFINITY, 5)));
        assert_eq!(strtod(b"1e-400"), Some((0.0, 6)));
        assert_eq!(strtod(b"infx"), Some((f64::INFINITY, 3)));
        assert_eq!(strtod(b"-Infinity"), Some((f64::NEG_INFINITY, 9)));
        let (n, len) = strtod(b"nan(123)").unwrap();
        assert_eq!((n.to_bits(), len), (0x7ff8_0000_0000_007b, 8));
        let (n, len) = strtod(b"-nan(").unwrap();
        assert_eq!((n.to_bits(), len), (0xfff8_0000_0000_0000, 4));
        let (n, _) = strtod(b"nan(99999999999999999999)").unwrap();
        assert_eq!(n.to_bits(), 0x7fff_ffff_ffff_ffff);
        let (n, _) = strtod(b"nan(abc_1)").unwrap();
        assert_eq!(n.to_bits(), 0x7ff8_0000_0000_0000);
    }

    #[test]
    fn hex_rounding() {
        // 2^53 + 1 rounds to even, 2^53 + 3 up.
        assert_eq!(strtod(b"0x20000000000001").unwrap().0, 9007199254740992.0);
        assert_eq!(strtod(b"0x20000000000003").unwrap().0, 9007199254740996.0);
        assert_eq!(strtod(b"0x1p-1074").unwrap().0, 5e-324);
        assert_eq!(strtod(b"0x1p-1075").unwrap().0, 0.0);
        assert_eq!(strtod(b"0x1.8p-1075").unwrap().0, 5e-324);
        assert_eq!(strtod(b"0x1p1024").unwrap().0, f64::INFINITY);
        assert_eq!(strtod(b"0x1.fffffffffffff8p1023").unwrap().0, f64::INFINITY);
        assert_eq!(
            strtod(b"0x123456789abcdef0123p0").unwrap().0,
            0x123456789abcdef0123u128 as f64
        );
    }

    #[test]
    fn casts_follow_x86() {
        assert_eq!(to_i64(f64::NAN), i64::MIN);
        assert_eq!(to_i64(1e30), i64::MIN);
        assert_eq!(to_i64(-1.9), -1);
        assert_eq!(to_i32(2147483648.0), i32::MIN);
        assert_eq!(to_i32(-2147483648.9), i32::MIN);
        assert_eq!(to_u64(2f64.powi(64)), 0);
        assert_eq!(to_u64(2f64.powi(63)), 1 << 63);
        assert_eq!(to_u64(f64::NAN), 1 << 63);
        assert_eq!(to_u64(-1.0), u64::MAX);
    }
}
