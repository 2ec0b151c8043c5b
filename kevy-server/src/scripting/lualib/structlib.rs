//! `struct`, Roberto Ierusalimschy's library as Redis ships it: `pack`,
//! `unpack` and `size` driven by a format string of options (`>` `<` `!n`
//! `x` `b` `B` `h` `H` `l` `L` `T` `i[n]` `I[n]` `s` `f` `d` `c[n]`), with
//! x86-64's C sizes and conversions. Integers travel through a 64-bit
//! unsigned value, so wider fields are zero-filled when packed and keep only
//! their last eight bytes when unpacked.

use super::{check_number, check_stack, check_string, function, num, Args, Fail, LibResult, Ret};
use mlua::{Function, Lua, Table, Value};

/// Widest integer field (`i32`).
const MAX_INT_SIZE: usize = 32;
/// Default for `!` without a number: the alignment of a double.
const MAX_ALIGN: usize = 8;

pub(crate) fn open(lua: &Lua, wrap: &Function) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", function(lua, wrap, pack)?)?;
    t.raw_set("unpack", function(lua, wrap, unpack)?)?;
    t.raw_set("size", function(lua, wrap, size)?)?;
    Ok(t)
}

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

/// A format string read as C reads it: up to the first NUL.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Format<'a> {
        let end = fmt.iter().position(|&c| c == 0).unwrap_or(fmt.len());
        Format {
            fmt: &fmt[..end],
            pos: 0,
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// The decimal number at the cursor, or `default` when there is none.
    fn number(&mut self, default: usize) -> LibResult<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(d) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(Fail::error("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a as usize)
    }

    /// The size of option `opt`, reading its count when it takes one; 0 for
    /// options without a fixed size.
    fn size(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(Fail::error(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Endianness, alignment and spaces; anything else is an error.
    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.endian = Endian::Big,
            b'<' => h.endian = Endian::Little,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(Fail::error(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.push(opt);
                msg.push(b'\'');
                return Err(Fail::arg(1, msg));
            }
        }
        Ok(())
    }
}

/// Padding that aligns a field of `size` bytes at offset `len`. C computes
/// this with masks, also for sizes that are not powers of two (`i3`).
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

fn pack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt = args.bytes(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut h = Header::new();
    // C pushes a nil after the arguments, so a missing argument right after
    // the last one is "got nil"; reading further always fails on that nil.
    let arg = |i: usize| -> Option<Value> {
        if i <= args.len() {
            args.get(i)
        } else if i == args.len() + 1 {
            Some(Value::Nil)
        } else {
            None
        }
    };
    let mut out: Vec<u8> = Vec::new();
    let mut next_arg = 2;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, arg(next_arg).as_ref(), next_arg)?;
                next_arg += 1;
                let value = if n < 0.0 {
                    num::to_i64(n) as u64
                } else {
                    num::to_u64(n)
                };
                put_integer(&mut out, value, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(lua, arg(next_arg).as_ref(), next_arg)?;
                next_arg += 1;
                put_bytes(&mut out, &(n as f32).to_le_bytes(), h.endian);
            }
            b'd' => {
                let n = check_number(lua, arg(next_arg).as_ref(), next_arg)?;
                next_arg += 1;
                put_bytes(&mut out, &n.to_le_bytes(), h.endian);
            }
            b'c' | b's' => {
                let s = check_string(lua, arg(next_arg).as_ref(), next_arg)?;
                next_arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // C checks after moving to the next argument.
                    return Err(Fail::arg(next_arg as i64, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(Ret::one(Value::String(lua.create_string(&out)?)))
}

/// Writes the low `size` bytes of `value` (zeros past the eighth).
fn put_integer(out: &mut Vec<u8>, value: u64, endian: Endian, size: usize) {
    let byte = |i: usize| if i < 8 { (value >> (8 * i)) as u8 } else { 0 };
    match endian {
        Endian::Little => out.extend((0..size).map(byte)),
        Endian::Big => out.extend((0..size).rev().map(byte)),
    }
}

/// Writes little-endian `bytes` in the requested order.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], endian: Endian) {
    match endian {
        Endian::Little => out.extend_from_slice(bytes),
        Endian::Big => out.extend(bytes.iter().rev()),
    }
}

/// Reads `size` bytes as C does: a 64-bit accumulator that keeps the last
/// eight bytes, sign-extended from the field's top bit. C shifts the sign
/// mask by `size * 8 - 1`, which x86 takes modulo 64.
fn get_integer(data: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = l << 8 | b as u64;
    match endian {
        Endian::Big => data.iter().for_each(|&b| push(b)),
        Endian::Little => data.iter().rev().for_each(|&b| push(b)),
    }
    if !signed {
        return l as f64;
    }
    let shift = ((data.len() as i64 * 8 - 1) & 63) as u32;
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt = args.bytes(lua, 1)?;
    let fmt = fmt.as_bytes();
    let data = args.bytes(lua, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    let start = args.opt_integer(lua, 3, 1)? as u64 as usize;
    if start == 0 {
        return Err(Fail::arg(3, "offset must be 1 or greater"));
    }
    let mut pos = start - 1;
    let mut f = Format::new(&fmt);
    let mut h = Header::new();
    let results = lua.create_table()?;
    let mut n = 0usize;
    // The results sit on the C stack above the arguments.
    let base = args.len();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(Fail::arg(2, "data string too short"));
        }
        check_stack(base + n, 2, "too many results")?;
        let field = || &data[pos..pos + size];
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                n += 1;
                let v = get_integer(field(), h.endian, opt.is_ascii_lowercase());
                results.raw_set(n, v)?;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(field());
                let v = match h.endian {
                    Endian::Little => f32::from_le_bytes(b),
                    Endian::Big => f32::from_be_bytes(b),
                };
                n += 1;
                results.raw_set(n, v as f64)?;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(field());
                let v = match h.endian {
                    Endian::Little => f64::from_le_bytes(b),
                    Endian::Big => f64::from_be_bytes(b),
                };
                n += 1;
                results.raw_set(n, v)?;
            }
            b'c' => {
                if size == 0 {
                    // `c0` takes its length from the previous result, which
                    // may be a numeric string.
                    let prev: Value = if n == 0 {
                        Value::Nil
                    } else {
                        results.raw_get(n)?
                    };
                    let len = match &prev {
                        Value::Nil => None,
                        v => lua.coerce_number(v.clone())?,
                    };
                    let Some(len) = len else {
                        return Err(Fail::error("format 'c0' needs a previous size"));
                    };
                    size = num::to_u64(len) as usize;
                    results.raw_set(n, Value::Nil)?;
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(Fail::arg(2, "data string too short"));
                    }
                }
                n += 1;
                results.raw_set(n, lua.create_string(&data[pos..pos + size])?)?;
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&c| c == 0) else {
                    return Err(Fail::error("unfinished string in data"));
                };
                size = len + 1;
                n += 1;
                results.raw_set(n, lua.create_string(&data[pos..pos + len])?)?;
            }
            _ => f.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    n += 1;
    results.raw_set(n, pos.wrapping_add(1) as i64 as f64)?;
    Ok(Ret::Table(results, n))
}

fn size(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt = args.bytes(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut h = Header::new();
    let mut pos: usize = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(Fail::arg(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(Fail::arg(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(Ret::one(Value::Number(pos as i64 as f64)))
}
