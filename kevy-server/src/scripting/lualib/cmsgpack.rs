//! `cmsgpack`, lua-cmsgpack 0.4.0 as Redis ships it: MessagePack for Lua
//! values. A table whose keys are exactly 1..n packs as an array, any other
//! as a map; tables nested 16 deep pack as nil. A number packs as the
//! smallest integer that holds it when it is integral, else as a float32 when
//! that is exact, else as a double. Unpacking builds tables in the order C
//! does, so they iterate the same way.

use super::{
    as_number, check_stack, each_pair, function, num, set_fields, stack_fits, Args, Fail,
    LibResult, Ret, MAX_OUTPUT, OUT_OF_MEMORY,
};
use mlua::{Function, Lua, Table, Value};

/// Tables at this depth pack as nil, which stops reference cycles.
const MAX_NESTING: usize = 16;

const TOO_MANY_VALUES: &str =
    "too many return values at once; use unpack_one or unpack_limit instead.";

pub(crate) fn open(lua: &Lua, wrap: &Function) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", function(lua, wrap, pack)?)?;
    t.raw_set("unpack", function(lua, wrap, unpack)?)?;
    t.raw_set("unpack_one", function(lua, wrap, unpack_one)?)?;
    t.raw_set("unpack_limit", function(lua, wrap, unpack_limit)?)?;
    set_fields(
        lua,
        &t,
        &[
            ("_NAME", "cmsgpack"),
            ("_VERSION", "lua-cmsgpack 0.4.0"),
            ("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"),
            ("_DESCRIPTION", "MessagePack C implementation for Lua"),
        ],
    )?;
    Ok(t)
}

/// `cmsgpack.pack(v1, v2, ...)`: the concatenated encodings.
fn pack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let nargs = args.len();
    if nargs == 0 {
        return Err(Fail::arg(0, "MessagePack pack needs input."));
    }
    // C reserves a slot per argument for the encoded strings.
    if !stack_fits(nargs, nargs) {
        return Err(Fail::arg(0, "Too many arguments for MessagePack pack."));
    }
    let mut out = Vec::new();
    for i in 1..=nargs {
        check_stack(nargs + i - 1, 1, "in function mp_check")?;
        let v = args.get(i).unwrap_or(Value::Nil);
        encode(&mut out, &v, 0, nargs + i)?;
    }
    Ok(Ret::one(Value::String(lua.create_string(&out)?)))
}

/// Encodes `v`, which C holds at the top of a stack of `top` slots.
fn encode(out: &mut Vec<u8>, v: &Value, level: usize, top: usize) -> LibResult<()> {
    if out.len() > MAX_OUTPUT {
        return Err(Fail::Plain(OUT_OF_MEMORY));
    }
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => encode_number(out, as_number(v).unwrap_or(0.0)),
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Table(t) if level < MAX_NESTING => encode_table(out, t, level, top)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_table(out: &mut Vec<u8>, t: &Table, level: usize, top: usize) -> LibResult<()> {
    check_stack(top, 2, "in function table_is_an_array")?;
    if is_array(t)? {
        check_stack(top, 1, "in function mp_encode_lua_table_as_array")?;
        let len = t.raw_len();
        encode_header(out, len as u64, 0x90, 0xdc, 0xdd);
        for j in 1..=len {
            let v: Value = t.raw_get(j)?;
            encode(out, &v, level + 1, top + 1)?;
        }
    } else {
        check_stack(top, 3, "in function mp_encode_lua_table_as_map")?;
        let mut len: u64 = 0;
        each_pair(t, |_, _| {
            len += 1;
            Ok(true)
        })?;
        encode_header(out, len, 0x80, 0xde, 0xdf);
        each_pair(t, |k, v| {
            // C encodes a copy of the key above the key and the value.
            encode(out, &k, level + 1, top + 3)?;
            encode(out, &v, level + 1, top + 2)?;
            Ok(true)
        })?;
    }
    Ok(())
}

/// Whether the keys are exactly the integers 1..n.
fn is_array(t: &Table) -> LibResult<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let Some(k) = as_number(&k) else {
            return Ok(false);
        };
        let n = num::to_i64(k);
        if n as f64 != k || n <= 0 {
            return Ok(false);
        }
        max = max.max(n);
        count += 1;
    }
    Ok(max == count)
}

fn encode_header(out: &mut Vec<u8>, len: u64, fix: u8, b16: u8, b32: u8) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    let i = num::to_i64(n);
    if !n.is_infinite() && i as f64 == n {
        encode_int(out, i);
    } else if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_bits().to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_bits().to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        let u = i as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// `cmsgpack.unpack(s)`: every value in `s`.
fn unpack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    unpack_full(lua, args, 0, 0, args.len())
}

/// `cmsgpack.unpack_one(s [, offset])`: the offset after one value, and it.
fn unpack_one(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let offset = args.opt_integer(lua, 2, 0)?;
    // C drops every argument but the string before decoding.
    unpack_full(lua, args, 1, offset, 1)
}

/// `cmsgpack.unpack_limit(s, limit [, offset])`.
fn unpack_limit(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let limit = args.integer(lua, 2)?;
    let offset = args.opt_integer(lua, 3, 0)?;
    unpack_full(lua, args, limit, offset, 1)
}

/// Decodes up to `limit` values from `offset` (all of them when both are
/// 0, without the leading offset result). `base` is the number of argument
/// slots left on C's stack under the results.
fn unpack_full(lua: &Lua, args: &Args, limit: i64, offset: i64, base: usize) -> LibResult<Ret> {
    let s = args.bytes(lua, 1)?;
    let s = s.as_bytes();
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // C prints the length where it means the limit.
        return Err(Fail::error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(Fail::error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let results = lua.create_table()?;
    let first = if decode_all { 1 } else { 2 };
    let mut cur = Cursor {
        data: &s,
        pos: offset as usize,
    };
    let mut decoder = Decoder::new(lua)?;
    let mut count: usize = 0;
    while cur.left() > 0 && (count as i64) < limit {
        let v = decoder.value(lua, &mut cur, base + count)?;
        results.raw_set(first + count, v)?;
        count += 1;
    }
    if decode_all {
        return Ok(Ret::Table(results, count));
    }
    check_stack(base + count, 1, "in function mp_unpack_full")?;
    let next = if cur.left() == 0 {
        -1
    } else {
        (len - cur.left()) as i32
    };
    results.raw_set(1, next as f64)?;
    Ok(Ret::Table(results, count + 1))
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed, or the "missing bytes" error.
    fn take(&mut self, n: usize) -> LibResult<&[u8]> {
        if self.left() < n {
            return Err(missing());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> LibResult<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | b as u64))
    }
}

fn missing() -> Fail {
    Fail::error("Missing bytes in input.")
}

fn bad_format() -> Fail {
    Fail::error("Bad data format in input.")
}

/// A container being filled: its table is at `open[depth]` in Lua.
struct Frame {
    /// C stack slots under the container's table.
    top: usize,
    remaining: u64,
    kind: Kind,
}

enum Kind {
    Array {
        next: u64,
    },
    /// A map whose key for the next value waits at `keys[depth]`.
    Map {
        have_key: bool,
    },
}

/// Decodes one value at a time without recursion. The innermost open
/// container and its pending key are held here; outer ones wait in the Lua
/// tables `open` and `keys`, so deep input holds a fixed number of Rust
/// handles.
struct Decoder {
    open: Table,
    keys: Table,
    frames: Vec<Frame>,
    current: Option<Table>,
    /// The innermost map's key whose value is being read.
    key: Value,
}

impl Decoder {
    fn new(lua: &Lua) -> mlua::Result<Decoder> {
        Ok(Decoder {
            open: lua.create_table()?,
            keys: lua.create_table()?,
            frames: Vec::new(),
            current: None,
            key: Value::Nil,
        })
    }

    /// Decodes the value at the cursor, C's stack holding `top` slots.
    fn value(&mut self, lua: &Lua, cur: &mut Cursor, mut top: usize) -> LibResult<Value> {
        loop {
            if cur.left() < 1 {
                return Err(missing());
            }
            check_stack(top, 1, TOO_MANY_VALUES)?;
            let mut v = match scalar_or_header(lua, cur)? {
                Item::Value(v) => v,
                Item::Array(len) => {
                    let t = lua.create_table()?;
                    check_stack(top + 1, 1, "in function mp_decode_to_lua_array")?;
                    if len == 0 {
                        Value::Table(t)
                    } else {
                        let kind = Kind::Array { next: 1 };
                        self.push(
                            t,
                            Frame {
                                top,
                                remaining: len,
                                kind,
                            },
                        )?;
                        // The table and the element's index.
                        top += 2;
                        continue;
                    }
                }
                Item::Map(len) => {
                    let t = lua.create_table()?;
                    if len == 0 {
                        Value::Table(t)
                    } else {
                        let kind = Kind::Map { have_key: false };
                        self.push(
                            t,
                            Frame {
                                top,
                                remaining: len,
                                kind,
                            },
                        )?;
                        top += 1;
                        continue;
                    }
                }
            };
            // Attach the finished value to the containers it completes.
            loop {
                let Some(frame) = self.frames.last_mut() else {
                    return Ok(v);
                };
                let t = self
                    .current
                    .as_ref()
                    .expect("an open container has its table");
                match &mut frame.kind {
                    Kind::Array { next } => {
                        t.raw_set(*next as f64, v)?;
                        *next += 1;
                        frame.remaining -= 1;
                        if frame.remaining > 0 {
                            top = frame.top + 2;
                            break;
                        }
                    }
                    Kind::Map { have_key } if !*have_key => {
                        self.key = v;
                        *have_key = true;
                        top = frame.top + 2;
                        break;
                    }
                    Kind::Map { have_key } => {
                        let key = std::mem::replace(&mut self.key, Value::Nil);
                        match &key {
                            Value::Nil => return Err(Fail::Plain("table index is nil")),
                            Value::Number(n) if n.is_nan() => {
                                return Err(Fail::Plain("table index is NaN"))
                            }
                            _ => {}
                        }
                        t.raw_set(key, v)?;
                        *have_key = false;
                        frame.remaining -= 1;
                        if frame.remaining > 0 {
                            top = frame.top + 1;
                            break;
                        }
                    }
                }
                v = Value::Table(self.pop()?);
            }
        }
    }

    /// Opens a container inside the current one, whose table and pending key
    /// move to the Lua side.
    fn push(&mut self, t: Table, frame: Frame) -> mlua::Result<()> {
        let depth = self.frames.len();
        if matches!(
            self.frames.last(),
            Some(Frame {
                kind: Kind::Map { have_key: true },
                ..
            })
        ) {
            self.keys
                .raw_set(depth, std::mem::replace(&mut self.key, Value::Nil))?;
        }
        self.frames.push(frame);
        self.open.raw_set(depth + 1, &t)?;
        self.current = Some(t);
        Ok(())
    }

    /// Closes the current container and returns its table; its parent's
    /// table and pending key come back from the Lua side.
    fn pop(&mut self) -> mlua::Result<Table> {
        let depth = self.frames.len();
        self.frames.pop();
        self.open.raw_set(depth, Value::Nil)?;
        let done = self
            .current
            .take()
            .expect("an open container has its table");
        if depth > 1 {
            self.current = Some(self.open.raw_get(depth - 1)?);
            if let Some(Frame {
                kind: Kind::Map { have_key: true },
                ..
            }) = self.frames.last()
            {
                self.key = self.keys.raw_get(depth - 1)?;
                self.keys.raw_set(depth - 1, Value::Nil)?;
            }
        }
        Ok(done)
    }
}

enum Item {
    Value(Value),
    Array(u64),
    Map(u64),
}

/// Reads a scalar, or the length of an array or map.
fn scalar_or_header(lua: &Lua, cur: &mut Cursor) -> LibResult<Item> {
    let b = cur.take(1)?[0];
    let num = |n: f64| Ok(Item::Value(Value::Number(n)));
    let string = |cur: &mut Cursor, len: usize| -> LibResult<Item> {
        let s = cur.take(len)?;
        Ok(Item::Value(Value::String(lua.create_string(s)?)))
    };
    // A header consumed only once all of it is there.
    let need = |cur: &Cursor, n: usize| {
        if cur.left() < n {
            Err(missing())
        } else {
            Ok(())
        }
    };
    match b {
        0x00..=0x7f => num(b as f64),
        0x80..=0x8f => Ok(Item::Map((b & 0x0f) as u64)),
        0x90..=0x9f => Ok(Item::Array((b & 0x0f) as u64)),
        0xa0..=0xbf => string(cur, (b & 0x1f) as usize),
        0xc0 => Ok(Item::Value(Value::Nil)),
        0xc2 => Ok(Item::Value(Value::Boolean(false))),
        0xc3 => Ok(Item::Value(Value::Boolean(true))),
        0xca => num(f32::from_bits(cur.uint(4)? as u32) as f64),
        0xcb => num(f64::from_bits(cur.uint(8)?)),
        0xcc => num(cur.uint(1)? as f64),
        0xcd => num(cur.uint(2)? as f64),
        0xce => num(cur.uint(4)? as f64),
        // C pushes every integer through a signed 64-bit value.
        0xcf => num(cur.uint(8)? as i64 as f64),
        0xd0 => num(cur.uint(1)? as u8 as i8 as f64),
        0xd1 => num(cur.uint(2)? as u16 as i16 as f64),
        0xd2 => num(cur.uint(4)? as u32 as i32 as f64),
        0xd3 => num(cur.uint(8)? as i64 as f64),
        0xd9 => {
            need(cur, 1)?;
            let len = cur.uint(1)? as usize;
            string(cur, len)
        }
        0xda => {
            need(cur, 2)?;
            let len = cur.uint(2)? as usize;
            string(cur, len)
        }
        0xdb => {
            need(cur, 4)?;
            let len = cur.uint(4)? as usize;
            string(cur, len)
        }
        0xdc => Ok(Item::Array(cur.uint(2)?)),
        0xdd => Ok(Item::Array(cur.uint(4)?)),
        0xde => Ok(Item::Map(cur.uint(2)?)),
        0xdf => Ok(Item::Map(cur.uint(4)?)),
        0xe0..=0xff => num(b as i8 as f64),
        _ => Err(bad_format()),
    }
}
