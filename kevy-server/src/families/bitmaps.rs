//! The bitmap command family (Redis's `bitops.c`): SETBIT, GETBIT,
//! BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, on the string type.
//!
//! The bit arithmetic is kevy-store's `bitops` (word at a time); this file
//! parses arguments in Redis's order, which decides which error a client
//! sees (BITCOUNT and BITPOS look the key up before they read their range,
//! so a missing key answers even to a malformed range), and encodes the
//! replies. Writes go through `Db::bits_mut`, which creates or zero-pads
//! the string as Redis's `lookupStringForBitCommand` does; a write that
//! changes no bit is no change (no event, nothing logged).

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::notify::{GENERIC, STRING};
use crate::table::{flag, CommandSpec, Table};
use kevy_store::bitops::{self, BitOp, Overflow};
use kevy_store::num::parse_i64;
use kevy_store::value::MAX_STRING_LEN;
use kevy_store::{Db, OpError, OpResult, SetTtl, StrValue, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@bitmap", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@bitmap", "@slow"];
    const W_SLOW: &[&str] = &["@write", "@bitmap", "@slow"];
    let spec = CommandSpec::single_key;
    t.add(spec("setbit", 4, WRITE | DENYOOM, W_SLOW, cmd_setbit));
    t.add(spec("getbit", 3, READONLY | FAST, R_FAST, cmd_getbit));
    t.add(spec("bitcount", -2, READONLY, R_SLOW, cmd_bitcount));
    t.add(spec("bitpos", -3, READONLY, R_SLOW, cmd_bitpos));
    // The destination and the sources are served as one unit (Fold::One):
    // when they span shards the runtime runs BITOP over copies, atomically.
    t.add(CommandSpec {
        first: 2,
        last: -1,
        ..spec("bitop", -4, WRITE | DENYOOM, W_SLOW, cmd_bitop)
    });
    t.add(spec("bitfield", -2, WRITE | DENYOOM, W_SLOW, cmd_bitfield));
    t.add(spec(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        R_FAST,
        cmd_bitfield_ro,
    ));
}

const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
const FIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const OVERFLOW_TYPE: &str = "ERR Invalid OVERFLOW type specified";
const RO_ONLY_GET: &str = "ERR BITFIELD_RO only supports the GET subcommand";

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

fn int_arg(a: &[u8]) -> OpResult<i64> {
    parse_i64(a).ok_or(OpError::NotInteger)
}

/// A bit offset (Redis's `getBitOffsetFromArgument`): a non-negative
/// integer addressing a bit inside 512 MB. With `field_bits` > 0 (BITFIELD)
/// `#n` means field number `n`, offset `n * field_bits`, multiplied as C
/// does (wrapping), so an overflowing product is judged by what it wraps to.
fn bit_offset(a: &[u8], field_bits: u32) -> OpResult<u64> {
    let hash = field_bits > 0 && a.first() == Some(&b'#');
    let n = parse_i64(if hash { &a[1..] } else { a }).ok_or(OpError::Family(BIT_OFFSET))?;
    let n = if hash {
        n.wrapping_mul(field_bits as i64)
    } else {
        n
    };
    if n < 0 || (n >> 3) as u64 >= MAX_STRING_LEN as u64 {
        return Err(OpError::Family(BIT_OFFSET));
    }
    Ok(n as u64)
}

/// Whether `a` is `name`, ignoring ASCII case.
fn is(a: &[u8], name: &str) -> bool {
    a.eq_ignore_ascii_case(name.as_bytes())
}

/// A BYTE|BIT unit argument: whether it says BIT.
fn unit_is_bit(a: &[u8]) -> OpResult<bool> {
    if is(a, "bit") {
        Ok(true)
    } else if is(a, "byte") {
        Ok(false)
    } else {
        Err(OpError::Syntax)
    }
}

// ---- SETBIT / GETBIT ------------------------------------------------------------

/// SETBIT: returns the bit's old value and whether anything changed (the
/// bit, or the string created or grown to hold it).
pub fn op_setbit(db: &mut Db<'_>, key: &[u8], offset: u64, on: bool) -> OpResult<(bool, bool)> {
    let len = (offset >> 3) as usize + 1;
    db.bits_mut(key, len, |b, grown| {
        let byte = &mut b[(offset >> 3) as usize];
        let mask = 0x80u8 >> (offset & 7);
        let old = *byte & mask != 0;
        let changed = grown || old != on;
        if changed {
            *byte = (*byte & !mask) | if on { mask } else { 0 };
        }
        ((old, changed), changed)
    })
}

fn cmd_setbit(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let on = || match parse_i64(ctx.args.get(3)) {
        Some(v @ (0 | 1)) => Ok(v == 1),
        _ => Err(OpError::Family(BIT_VALUE)),
    };
    let r = bit_offset(ctx.args.get(2), 0)
        .and_then(|off| Ok((off, on()?)))
        .and_then(|(off, on)| op_setbit(&mut db(ctx), key, off, on));
    match r {
        Ok((old, changed)) => {
            if changed {
                ctx.notify(STRING, "setbit", key);
            }
            ctx.out.int(old as i64);
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_getbit(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let offset = match bit_offset(ctx.args.get(2), 0) {
        Ok(o) => o,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    match ctx.shard.store.db(ctx.db).get_str(key) {
        Ok(s) => {
            let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
            let b = s.map_or(&[][..], |s| s.as_bytes(&mut buf));
            let byte = (offset >> 3) as usize;
            let bit = byte < b.len() && b[byte] & (0x80 >> (offset & 7)) != 0;
            ctx.out.int(bit as i64);
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- BITCOUNT / BITPOS ----------------------------------------------------------

/// BITCOUNT key [start end [BYTE|BIT]], in Redis 7.0's order: the key is
/// looked up first (a missing key counts 0 whatever the range says), then
/// the range is read.
pub fn op_bitcount(db: &mut Db<'_>, key: &[u8], range: &[&[u8]]) -> OpResult<i64> {
    let Some(s) = db.get_str(key)? else {
        return Ok(0);
    };
    let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
    let b = s.as_bytes(&mut buf);
    let bits = match range {
        [] => bitops::bit_range(0, -1, b.len(), false),
        [start, end, unit @ ..] if unit.len() <= 1 => {
            let (start, end) = (int_arg(start)?, int_arg(end)?);
            // Both from the end and crossing: empty before the unit is read.
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let in_bits = match unit {
                [u] => unit_is_bit(u)?,
                _ => false,
            };
            bitops::bit_range(start, end, b.len(), in_bits)
        }
        _ => return Err(OpError::Syntax),
    };
    Ok(bits.map_or(0, |(first, last)| bitops::count(b, first, last) as i64))
}

fn cmd_bitcount(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    // Four or more range arguments are all a syntax error (after the
    // lookup): four stand for them.
    let n = (args.len() - 2).min(4);
    let mut range = [&[][..]; 4];
    for (i, r) in range.iter_mut().enumerate().take(n) {
        *r = args.get(2 + i);
    }
    match op_bitcount(&mut db(ctx), args.get(1), &range[..n]) {
        Ok(c) => ctx.out.int(c),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the first bit set to `bit` in
/// the range. A missing key is all zeros. With no end given, a search for
/// a clear bit that finds none answers the first bit past the string (the
/// string is seen as zero-padded to the right); with an end, -1.
pub fn op_bitpos(db: &mut Db<'_>, key: &[u8], bit: bool, range: &[&[u8]]) -> OpResult<i64> {
    let Some(s) = db.get_str(key)? else {
        return Ok(if bit { -1 } else { 0 });
    };
    let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
    let b = s.as_bytes(&mut buf);
    let (bits, end_given) = match range {
        [] => (bitops::bit_range(0, -1, b.len(), false), false),
        [start, rest @ ..] if rest.len() <= 2 => {
            let start = int_arg(start)?;
            let in_bits = match rest {
                [_, u] => unit_is_bit(u)?,
                _ => false,
            };
            let end = match rest {
                [end, ..] => int_arg(end)?,
                [] => -1,
            };
            (
                bitops::bit_range(start, end, b.len(), in_bits),
                !rest.is_empty(),
            )
        }
        _ => return Err(OpError::Syntax),
    };
    let Some((first, last)) = bits else {
        return Ok(-1);
    };
    Ok(match bitops::position(b, bit, first, last) {
        Some(p) => p as i64,
        None if !bit && !end_given => b.len() as i64 * 8,
        None => -1,
    })
}

fn cmd_bitpos(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let bit = match parse_i64(args.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return ctx.out.error(BIT_ARG),
        None => return reply_error(&mut ctx.out, OpError::NotInteger),
    };
    let n = (args.len() - 3).min(4);
    let mut range = [&[][..]; 4];
    for (i, r) in range.iter_mut().enumerate().take(n) {
        *r = args.get(3 + i);
    }
    match op_bitpos(&mut db(ctx), args.get(1), bit, &range[..n]) {
        Ok(p) => ctx.out.int(p),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- BITOP ----------------------------------------------------------------------

/// BITOP: the result of `op` over the strings at `srcs` (missing keys are
/// empty strings; a shorter string is zero-padded), or `None` when every
/// source is empty. A source of another type fails the lot.
pub fn op_bitop(db: &mut Db<'_>, op: BitOp, srcs: &[&[u8]]) -> OpResult<Option<Vec<u8>>> {
    // First pass: read lookups, types and the longest length.
    let mut max = 0;
    for k in srcs {
        if let Some(s) = db.get_str(k)? {
            max = max.max(s.len());
        }
    }
    if max == 0 {
        return Ok(None);
    }
    let mut acc = vec![0u8; max];
    let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
    for (i, k) in srcs.iter().enumerate() {
        let b = match db.peek(k).map(|e| &e.value) {
            Some(Value::Str(s)) => s.as_bytes(&mut buf),
            _ => &[][..],
        };
        if i == 0 && op != BitOp::Not {
            acc[..b.len()].copy_from_slice(b);
        } else {
            bitops::fold(op, &mut acc, b);
        }
    }
    Ok(Some(acc))
}

fn cmd_bitop(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let name = args.get(1);
    let op = if is(name, "and") {
        BitOp::And
    } else if is(name, "or") {
        BitOp::Or
    } else if is(name, "xor") {
        BitOp::Xor
    } else if is(name, "not") {
        BitOp::Not
    } else {
        return reply_error(&mut ctx.out, OpError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return ctx.out.error(BITOP_NOT_ONE_KEY);
    }
    let srcs: Vec<&[u8]> = args.iter().skip(3).collect();
    let dst = args.get(2);
    match op_bitop(&mut db(ctx), op, &srcs) {
        Ok(Some(res)) => {
            let n = res.len();
            let v = Value::Str(StrValue::Raw(Box::new(res)));
            db(ctx).set(dst, v, SetTtl::Clear);
            ctx.notify(STRING, "set", dst);
            ctx.out.int(n as i64);
        }
        Ok(None) => {
            if db(ctx).remove(dst).is_some() {
                ctx.notify(GENERIC, "del", dst);
            }
            ctx.out.int(0);
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- BITFIELD -------------------------------------------------------------------

/// One parsed BITFIELD operation.
#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One operation with its field: type, offset and the OVERFLOW in force.
#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// A field type, `i1`..`i64` or `u1`..`u63` (lowercase, as Redis reads
/// it; the width stops at a NUL byte, as C's `strlen` does).
fn field_type(a: &[u8]) -> OpResult<(bool, u32)> {
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(OpError::Family(FIELD_TYPE)),
    };
    let w = &a[1..];
    let w = &w[..w.iter().position(|&c| c == 0).unwrap_or(w.len())];
    match parse_i64(w) {
        Some(n @ 1..=64) if signed || n < 64 => Ok((signed, n as u32)),
        _ => Err(OpError::Family(FIELD_TYPE)),
    }
}

/// Walks BITFIELD's operations (from argument 2), calling `f` on each
/// with the OVERFLOW in force; the first malformed one is the error.
fn parse_fields(args: &kevy_resp::Args<'_>, mut f: impl FnMut(Field)) -> OpResult<()> {
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let sub = args.get(j);
        let rem = args.len() - j - 1;
        let op_args = if is(sub, "get") && rem >= 2 {
            2
        } else if (is(sub, "set") || is(sub, "incrby")) && rem >= 3 {
            3
        } else if is(sub, "overflow") && rem >= 1 {
            let t = args.get(j + 1);
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(OpError::Family(OVERFLOW_TYPE));
            };
            j += 2;
            continue;
        } else {
            return Err(OpError::Syntax);
        };
        let (signed, bits) = field_type(args.get(j + 1))?;
        let offset = bit_offset(args.get(j + 2), bits)?;
        let op = if op_args == 2 {
            FieldOp::Get
        } else {
            let v = int_arg(args.get(j + 3))?;
            if is(sub, "set") {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        };
        f(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += 1 + op_args;
    }
    Ok(())
}

/// Runs a write operation on `b` (long enough for the field): its reply
/// value (`None`: FAIL stopped it) and whether it changed the field.
fn write_field(b: &mut [u8], f: &Field) -> (Option<i64>, bool) {
    let (new, reply, old_raw) = if f.signed {
        let old = bitops::get_signed(b, f.offset, f.bits);
        let r = match f.op {
            FieldOp::IncrBy(d) => bitops::add_signed(old, d, f.bits, f.overflow).map(|n| (n, n)),
            FieldOp::Set(v) => bitops::add_signed(v, 0, f.bits, f.overflow).map(|n| (n, old)),
            FieldOp::Get => Some((old, old)),
        };
        match r {
            Some((n, reply)) => (n as u64, reply, old as u64),
            None => return (None, false),
        }
    } else {
        let old = bitops::get_unsigned(b, f.offset, f.bits);
        let r = match f.op {
            FieldOp::IncrBy(d) => bitops::add_unsigned(old, d, f.bits, f.overflow).map(|n| (n, n)),
            FieldOp::Set(v) => {
                bitops::add_unsigned(v as u64, 0, f.bits, f.overflow).map(|n| (n, old))
            }
            FieldOp::Get => Some((old, old)),
        };
        match r {
            Some((n, reply)) => (n, reply as i64, old),
            None => return (None, false),
        }
    };
    bitops::set_field(b, f.offset, f.bits, new);
    // Compare the stored bits: a signed value and its field differ above.
    let width = if f.bits == 64 {
        u64::MAX
    } else {
        (1u64 << f.bits) - 1
    };
    (Some(reply), (new ^ old_raw) & width != 0)
}

/// The value of a GET operation on `b` (zero past its end).
fn read_field(b: &[u8], f: &Field) -> i64 {
    if f.signed {
        bitops::get_signed(b, f.offset, f.bits)
    } else {
        bitops::get_unsigned(b, f.offset, f.bits) as i64
    }
}

/// BITFIELD and BITFIELD_RO (`ro`). Arguments are parsed twice, to check
/// them all before anything runs and then to run them, so no list of
/// operations is built.
fn bitfield_generic(ctx: &mut Ctx<'_>, ro: bool) {
    let args = ctx.args;
    let key = args.get(1);
    let (mut nops, mut write, mut highest) = (0usize, false, 0u64);
    let parsed = parse_fields(&args, |f| {
        nops += 1;
        if !matches!(f.op, FieldOp::Get) {
            write = true;
            highest = highest.max(f.offset + f.bits as u64 - 1);
        }
    });
    if let Err(e) = parsed {
        return reply_error(&mut ctx.out, e);
    }
    if !write {
        let mut db = ctx.shard.store.db(ctx.db);
        match db.get_str(key) {
            Ok(s) => {
                let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
                let b = s.map_or(&[][..], |s| s.as_bytes(&mut buf));
                let out = &mut ctx.out;
                out.array(nops);
                let _ = parse_fields(&args, |f| out.int(read_field(b, &f)));
            }
            Err(e) => reply_error(&mut ctx.out, e),
        }
        return;
    }
    if ro {
        return ctx.out.error(RO_ONLY_GET);
    }
    let len = (highest >> 3) as usize + 1;
    let out = &mut ctx.out;
    let r = ctx.shard.store.db(ctx.db).bits_mut(key, len, |b, grown| {
        out.array(nops);
        let mut changes = 0;
        let _ = parse_fields(&args, |f| {
            if let FieldOp::Get = f.op {
                return out.int(read_field(b, &f));
            }
            match write_field(b, &f) {
                (Some(v), changed) => {
                    out.int(v);
                    changes += (grown || changed) as usize;
                }
                (None, _) => out.null(),
            }
        });
        (changes, changes > 0)
    });
    match r {
        Ok(changes) => {
            if changes > 0 {
                ctx.notify(STRING, "setbit", key);
            }
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_bitfield(ctx: &mut Ctx<'_>) {
    bitfield_generic(ctx, false);
}

fn cmd_bitfield_ro(ctx: &mut Ctx<'_>) {
    bitfield_generic(ctx, true);
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::*;

    fn int(n: i64) -> String {
        format!(":{n}\r\n")
    }

    #[test]
    fn setbit_getbit() {
        let mut t = T::new();
        assert_eq!(t.run(&["SETBIT", "k", "7", "1"]), int(0));
        assert_eq!(t.run(&["SETBIT", "k", "7", "1"]), int(1));
        assert_eq!(t.run(&["GET", "k"]), bulk("\u{1}"));
        assert_eq!(t.run(&["GETBIT", "k", "7"]), int(1));
        assert_eq!(t.run(&["GETBIT", "k", "100"]), int(0));
        assert_eq!(t.run(&["GETBIT", "none", "0"]), int(0));
        assert_eq!(t.run(&["SETBIT", "k", "20", "0"]), int(0));
        assert_eq!(t.run(&["STRLEN", "k"]), int(3));
        assert_eq!(
            t.run(&["SETBIT", "k", "-1", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            t.run(&["SETBIT", "k", "4294967296", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            t.run(&["SETBIT", "k", "1", "2"]),
            "-ERR bit is not an integer or out of range\r\n"
        );
        // An integer-encoded string is read through its digits.
        assert_eq!(t.run(&["SET", "n", "1"]), OK);
        assert_eq!(t.run(&["GETBIT", "n", "2"]), int(1));
        assert_eq!(t.run(&["SETBIT", "n", "7", "0"]), int(1));
        assert_eq!(t.run(&["GET", "n"]), bulk("0"));
        assert_eq!(t.run(&["SADD", "s", "a"]), int(1));
        assert!(t.run(&["SETBIT", "s", "1", "1"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn bitcount_bitpos() {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "k", "foobar"]), OK);
        assert_eq!(t.run(&["BITCOUNT", "k"]), int(26));
        assert_eq!(t.run(&["BITCOUNT", "k", "1", "1"]), int(6));
        assert_eq!(t.run(&["BITCOUNT", "k", "5", "30", "BIT"]), int(17));
        assert_eq!(t.run(&["BITCOUNT", "k", "1"]), SYNTAX);
        assert_eq!(t.run(&["BITCOUNT", "none", "1"]), int(0));
        assert_eq!(t.run(&["BITCOUNT", "k", "1", "2", "3", "4"]), SYNTAX);
        assert_eq!(t.run(&["BITCOUNT", "none", "1", "2", "3", "4"]), int(0));
        assert_eq!(
            t.run(&["BITFIELD", "z", "SET", "u16", "0", "65520"]),
            "*1\r\n:0\r\n"
        );
        assert_eq!(t.run(&["BITPOS", "z", "0"]), int(12));
        assert_eq!(t.run(&["BITPOS", "z", "1", "1", "-1", "BIT"]), int(1));
        assert_eq!(t.run(&["SETBIT", "z", "12", "1"]), int(0));
        assert_eq!(t.run(&["BITPOS", "z", "0", "8", "-1", "BIT"]), int(13));
        assert_eq!(
            t.run(&["BITFIELD", "z", "SET", "u16", "0", "65535"]),
            "*1\r\n:65528\r\n"
        );
        assert_eq!(t.run(&["BITPOS", "z", "0"]), int(16));
        assert_eq!(t.run(&["BITPOS", "z", "0", "0", "-1"]), int(-1));
        assert_eq!(t.run(&["SET", "o", "\u{7f}"]), OK);
        assert_eq!(t.run(&["BITPOS", "o", "1"]), int(1));
        assert_eq!(t.run(&["BITPOS", "none", "0"]), int(0));
        assert_eq!(t.run(&["BITPOS", "none", "1"]), int(-1));
        assert_eq!(
            t.run(&["BITPOS", "k", "2"]),
            "-ERR The bit argument must be 1 or 0.\r\n"
        );
    }

    #[test]
    fn bitop_and_bitfield() {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "a", "abc"]), OK);
        assert_eq!(t.run(&["SET", "b", "a"]), OK);
        assert_eq!(t.run(&["BITOP", "AND", "d", "a", "b"]), int(3));
        assert_eq!(t.run(&["GET", "d"]), bulk("a\0\0"));
        assert_eq!(t.run(&["BITOP", "OR", "d", "none", "none2"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        assert_eq!(
            t.run(&["BITOP", "NOT", "d", "a", "b"]),
            "-ERR BITOP NOT must be called with a single source key.\r\n"
        );
        assert_eq!(
            t.run(&["BITFIELD", "f", "INCRBY", "u2", "100", "1", "GET", "u4", "0"]),
            "*2\r\n:1\r\n:0\r\n"
        );
        assert_eq!(
            t.run(&["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "5"]),
            "*1\r\n$-1\r\n"
        );
        assert_eq!(
            t.run(&["BITFIELD_RO", "f", "SET", "u2", "100", "5"]),
            "-ERR BITFIELD_RO only supports the GET subcommand\r\n"
        );
        assert_eq!(t.run(&["BITFIELD", "f"]), "*0\r\n");
    }
}
