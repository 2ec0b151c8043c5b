//! `bit`, LuaBitOp 1.0.2: bitwise operations on 32-bit integers. Every
//! argument is normalised the way LuaBitOp does it on doubles: add 2^52+2^51
//! and keep the low 32 bits of the sum's representation, which rounds to
//! nearest even and wraps modulo 2^32 (and gives 0 for NaN and infinities).

use super::{function, Args, LibResult, Ret};
use mlua::{Function, Lua, Table, Value};

type Unary = fn(u32) -> u32;
type Binary = fn(u32, u32) -> u32;

pub(crate) fn open(lua: &Lua, wrap: &Function) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |b| b),
        ("bnot", |b| !b),
        ("bswap", u32::swap_bytes),
    ];
    for (name, op) in unary {
        t.raw_set(
            name,
            function(lua, wrap, move |lua, args| {
                let b = arg(lua, args, 1)?;
                Ok(result(op(b)))
            })?,
        )?;
    }
    let folds: [(&str, Binary); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.raw_set(
            name,
            function(lua, wrap, move |lua, args| {
                let mut acc = arg(lua, args, 1)?;
                for i in 2..=args.len() {
                    acc = op(acc, arg(lua, args, i)?);
                }
                Ok(result(acc))
            })?,
        )?;
    }
    let shifts: [(&str, Binary); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", u32::rotate_left),
        ("ror", u32::rotate_right),
    ];
    for (name, op) in shifts {
        t.raw_set(
            name,
            function(lua, wrap, move |lua, args| {
                let b = arg(lua, args, 1)?;
                let n = arg(lua, args, 2)? & 31;
                Ok(result(op(b, n)))
            })?,
        )?;
    }
    t.raw_set("tohex", function(lua, wrap, tohex)?)?;
    Ok(t)
}

/// `bit.tohex(x [, n])`: `n` hex digits (8 by default, at most 8),
/// upper-case when `n` is negative.
fn tohex(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let mut b = arg(lua, args, 1)?;
    let mut n = if args.get(2).is_none() {
        8
    } else {
        arg(lua, args, 2)? as i32
    };
    let mut digits = b"0123456789abcdef";
    // -INT_MIN overflows in C; the compiled LuaBitOp prints eight
    // lower-case digits for it.
    if n == i32::MIN {
        n = 8;
    } else if n < 0 {
        n = -n;
        digits = b"0123456789ABCDEF";
    }
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(Ret::one(Value::String(lua.create_string(&buf[..n])?)))
}

/// LuaBitOp's `barg`: argument `i` as 32 bits.
fn arg(lua: &Lua, args: &Args, i: usize) -> LibResult<u32> {
    Ok(normalise(args.number(lua, i)?))
}

fn normalise(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

fn result(b: u32) -> Ret {
    Ret::one(Value::Number(b as i32 as f64))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn normalisation_rounds_and_wraps() {
        assert_eq!(normalise(1.5), 2);
        assert_eq!(normalise(2.5), 2);
        assert_eq!(normalise(-1.0), u32::MAX);
        assert_eq!(normalise(4294967301.0), 5);
        assert_eq!(normalise(f64::INFINITY), 0);
        assert_eq!(normalise(f64::NAN), 0);
        assert_eq!(normalise(1e300) as i32, -2013235812);
    }
}
