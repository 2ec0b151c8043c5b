//! `cjson`, Lua CJSON 2.1.0 as Redis ships it. Encoding writes numbers with
//! `%.14g`, escapes `/`, writes a table as an array when its keys are
//! positive integers that are not too sparse, else as an object in `next`
//! order (an empty table is `{}`). Decoding is strict JSON plus what
//! `strtod` reads (hex, `inf`, `nan`) unless turned off, and builds tables in
//! the order C does. Each module table has its own settings; `cjson.new()`
//! makes another.

use super::{
    as_number, check_string, each_pair, function, num, set_fields, stack_fits, type_name, Args,
    Fail, LibResult, Ret, MAX_OUTPUT, OUT_OF_MEMORY,
};
use mlua::{Function, LightUserData, Lua, Table, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// The settings the configuration functions read and change.
#[derive(Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 off, 1 on, 2 "null".
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: i32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

/// `cjson.null`: a light userdata holding NULL.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub(crate) fn open(lua: &Lua, wrap: &Function) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let cfg: Shared = Rc::new(RefCell::new(Config::default()));
    let f = |lua: &Lua, body: fn(&Lua, &Args, &mut Config) -> LibResult<Ret>| {
        let cfg = cfg.clone();
        function(lua, wrap, move |lua, args| {
            body(lua, args, &mut cfg.borrow_mut())
        })
    };
    t.raw_set("encode", f(lua, encode)?)?;
    t.raw_set("decode", f(lua, decode)?)?;
    t.raw_set("encode_sparse_array", f(lua, encode_sparse_array)?)?;
    t.raw_set("encode_max_depth", f(lua, encode_max_depth)?)?;
    t.raw_set("decode_max_depth", f(lua, decode_max_depth)?)?;
    t.raw_set("encode_number_precision", f(lua, encode_number_precision)?)?;
    t.raw_set("encode_keep_buffer", f(lua, encode_keep_buffer)?)?;
    t.raw_set("encode_invalid_numbers", f(lua, encode_invalid_numbers)?)?;
    t.raw_set("decode_invalid_numbers", f(lua, decode_invalid_numbers)?)?;
    let wrap_new = wrap.clone();
    t.raw_set(
        "new",
        function(lua, wrap, move |lua, _| {
            Ok(Ret::one(Value::Table(open(lua, &wrap_new)?)))
        })?,
    )?;
    t.raw_set("null", null())?;
    set_fields(lua, &t, &[("_NAME", "cjson"), ("_VERSION", "2.1.0")])?;
    Ok(t)
}

// ---- configuration functions ----

/// Rejects more than `n` arguments; missing ones read as nil.
fn check_arg_count(args: &Args, n: usize) -> LibResult<()> {
    if args.len() > n {
        return Err(Fail::arg(n as i64 + 1, "found too many arguments"));
    }
    Ok(())
}

/// An option taking a boolean or one of `options` by name; returns the
/// setting as a boolean when it is off or on, else as its name.
fn enum_option(
    lua: &Lua,
    args: &Args,
    i: usize,
    setting: &mut u8,
    options: &[&str],
) -> LibResult<Value> {
    match args.get(i) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = b as u8,
        Some(v) => {
            let s = check_string(lua, Some(&v), i)?;
            let s = s.as_bytes();
            // C compares NUL-terminated strings.
            let name = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(idx) => *setting = idx as u8,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(Fail::arg(i as i64, msg));
                }
            }
        }
    }
    Ok(if *setting <= 1 {
        Value::Boolean(*setting == 1)
    } else {
        Value::String(lua.create_string(options[*setting as usize])?)
    })
}

fn bool_option(lua: &Lua, args: &Args, i: usize, setting: &mut bool) -> LibResult<Value> {
    let mut v = *setting as u8;
    let out = enum_option(lua, args, i, &mut v, &["off", "on"])?;
    *setting = v == 1;
    Ok(out)
}

/// An integer option in `min..=max`. C reports a bad value as argument 1
/// whatever its position, and truncates the number to an `int` first.
fn int_option(
    lua: &Lua,
    args: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Value> {
    if !args.is_none_or_nil(i) {
        let v = args.integer(lua, i)? as i32;
        if !(min..=max).contains(&v) {
            return Err(Fail::arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    Ok(Value::Number(*setting as f64))
}

fn encode_sparse_array(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 3)?;
    let convert = bool_option(lua, args, 1, &mut cfg.sparse_convert)?;
    let ratio = int_option(lua, args, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
    let safe = int_option(lua, args, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
    Ok(Ret::Many(vec![convert, ratio, safe]))
}

fn encode_max_depth(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    Ok(Ret::one(int_option(
        lua,
        args,
        1,
        &mut cfg.encode_max_depth,
        1,
        i32::MAX,
    )?))
}

fn decode_max_depth(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    Ok(Ret::one(int_option(
        lua,
        args,
        1,
        &mut cfg.decode_max_depth,
        1,
        i32::MAX,
    )?))
}

fn encode_number_precision(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    Ok(Ret::one(int_option(
        lua,
        args,
        1,
        &mut cfg.precision,
        1,
        14,
    )?))
}

fn encode_keep_buffer(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    Ok(Ret::one(bool_option(lua, args, 1, &mut cfg.keep_buffer)?))
}

fn encode_invalid_numbers(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    let opts = ["off", "on", "null"];
    Ok(Ret::one(enum_option(
        lua,
        args,
        1,
        &mut cfg.encode_invalid_numbers,
        &opts,
    )?))
}

fn decode_invalid_numbers(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    check_arg_count(args, 1)?;
    Ok(Ret::one(bool_option(
        lua,
        args,
        1,
        &mut cfg.decode_invalid_numbers,
    )?))
}

// ---- encoding ----

fn encode(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    if args.len() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let v = args.get(1).unwrap_or(Value::Nil);
    let out = Encoder {
        lua,
        cfg,
        out: Vec::new(),
    }
    .run(v)?;
    Ok(Ret::one(Value::String(lua.create_string(&out)?)))
}

fn encode_error(type_name: &str, reason: &str) -> Fail {
    Fail::error(format!("Cannot serialise {type_name}: {reason}"))
}

/// A table key as the object encoder meets it.
enum Key {
    Str(Vec<u8>),
    Num(f64),
    /// Neither a string nor a number: an error when its turn comes.
    Bad(&'static str),
}

/// A value as the object encoder lists it. Strings are copied and tables
/// fetched again by key when their turn comes, so that a wide object holds
/// no Lua references.
enum Member {
    /// nil, a boolean, a number or `cjson.null`.
    Plain(Value),
    Str(Vec<u8>),
    Table,
    /// Not serialisable: an error when its turn comes.
    Unsupported(&'static str),
}

/// A table being written; its handle is at `open[depth]` in Lua.
struct Frame {
    /// C stack slots up to and including the table.
    top: usize,
    kind: FrameKind,
}

enum FrameKind {
    Array {
        next: usize,
        len: usize,
    },
    Object {
        members: Vec<(Key, Member)>,
        next: usize,
    },
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    out: Vec<u8>,
}

impl Encoder<'_> {
    /// Writes `v` without recursion; the stack slots C would use are
    /// counted to fail where C's `lua_checkstack` fails.
    fn run(mut self, v: Value) -> LibResult<Vec<u8>> {
        let open = self.lua.create_table()?;
        let mut frames: Vec<Frame> = Vec::new();
        // The table of the innermost frame.
        let mut current: Option<Table> = None;
        let mut value = v;
        // The argument is the only slot below the value.
        let mut top = 1;
        loop {
            if self.out.len() > MAX_OUTPUT {
                return Err(Fail::Plain(OUT_OF_MEMORY));
            }
            match value {
                Value::Table(t) => {
                    let depth = frames.len() + 1;
                    // The table, a key and a value, and room for the error.
                    if depth > self.cfg.encode_max_depth as usize || !stack_fits(top, 3) {
                        return Err(Fail::error(format!(
                            "Cannot serialise, excessive nesting ({depth})"
                        )));
                    }
                    let kind = match self.array_length(&t)? {
                        Some(len) if len > 0 => {
                            self.out.push(b'[');
                            FrameKind::Array { next: 1, len }
                        }
                        _ => {
                            self.out.push(b'{');
                            FrameKind::Object {
                                members: object_members(&t)?,
                                next: 0,
                            }
                        }
                    };
                    open.raw_set(depth, &t)?;
                    current = Some(t);
                    frames.push(Frame { top, kind });
                }
                scalar => self.scalar(&scalar)?,
            }
            // Find the next table to enter, writing scalars and closing
            // finished tables on the way.
            loop {
                if self.out.len() > MAX_OUTPUT {
                    return Err(Fail::Plain(OUT_OF_MEMORY));
                }
                let depth = frames.len();
                let Some(frame) = frames.last_mut() else {
                    return Ok(self.out);
                };
                let t = current.as_ref().expect("a frame has its table");
                match &mut frame.kind {
                    FrameKind::Array { next, len } if *next <= *len => {
                        if *next > 1 {
                            self.out.push(b',');
                        }
                        let v: Value = t.raw_get(*next)?;
                        *next += 1;
                        if let Value::Table(_) = v {
                            value = v;
                            top = frame.top + 1;
                            break;
                        }
                        self.scalar(&v)?;
                        continue;
                    }
                    FrameKind::Array { .. } => self.out.push(b']'),
                    FrameKind::Object { members, next } if *next < members.len() => {
                        if *next > 0 {
                            self.out.push(b',');
                        }
                        let (key, member) = &members[*next];
                        *next += 1;
                        match key {
                            Key::Str(s) => self.string(s),
                            Key::Num(n) => {
                                self.out.push(b'"');
                                self.number(*n)?;
                                self.out.push(b'"');
                            }
                            Key::Bad(type_name) => {
                                return Err(encode_error(
                                    type_name,
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        self.out.push(b':');
                        match member {
                            Member::Plain(v) => self.scalar(v)?,
                            Member::Str(s) => self.string(s),
                            Member::Unsupported(type_name) => {
                                return Err(encode_error(type_name, "type not supported"))
                            }
                            Member::Table => {
                                value = match key {
                                    Key::Str(s) => t.raw_get(self.lua.create_string(s)?)?,
                                    Key::Num(n) => t.raw_get(*n)?,
                                    Key::Bad(_) => unreachable!("raised above"),
                                };
                                // The table, the key and the value.
                                top = frame.top + 2;
                                break;
                            }
                        }
                        continue;
                    }
                    FrameKind::Object { .. } => self.out.push(b'}'),
                }
                frames.pop();
                open.raw_set(depth, Value::Nil)?;
                current = if depth > 1 {
                    Some(open.raw_get(depth - 1)?)
                } else {
                    None
                };
            }
        }
    }

    /// cjson's array test: `Some(max key)` when every key is an integer from
    /// 1 (C keeps the maximum in an `int`, so a huge key wraps it negative),
    /// `None` for an object. Too sparse an array is an error, or an object
    /// when conversion is on.
    fn array_length(&self, t: &Table) -> LibResult<Option<usize>> {
        let mut max: i32 = 0;
        let mut items: i32 = 0;
        let mut array = true;
        each_pair(t, |k, _| match as_number(&k) {
            Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                if k > max as f64 {
                    max = num::to_i32(k);
                }
                items = items.wrapping_add(1);
                Ok(true)
            }
            _ => {
                array = false;
                Ok(false)
            }
        })?;
        if !array {
            return Ok(None);
        }
        let cfg = self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if !cfg.sparse_convert {
                return Err(encode_error("table", "excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(usize::try_from(max).ok())
    }

    fn scalar(&mut self, v: &Value) -> LibResult<()> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Integer(_) | Value::Number(_) => self.number(as_number(v).unwrap_or(0.0))?,
            Value::String(s) => self.string(&s.as_bytes()),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            other => return Err(encode_error(type_name(other), "type not supported")),
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> LibResult<()> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => return Err(encode_error("number", "must not be NaN or Inf")),
                1 if n.is_nan() => {
                    // Whatever its sign.
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                1 => {}
                _ => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
        }
        num::fmt_g(&mut self.out, n, self.cfg.precision as usize);
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        for &c in s {
            match c {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                b'\x08' => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\x0c' => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => self.out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 15) as usize],
                ]),
                _ => self.out.push(c),
            }
        }
        self.out.push(b'"');
    }
}

/// The keys and values of `t` in `next` order.
fn object_members(t: &Table) -> LibResult<Vec<(Key, Member)>> {
    let mut members = Vec::new();
    each_pair(t, |k, v| {
        let key = match &k {
            Value::String(s) => Key::Str(s.as_bytes().to_vec()),
            Value::Integer(_) | Value::Number(_) => Key::Num(as_number(&k).unwrap_or(0.0)),
            other => Key::Bad(type_name(other)),
        };
        let member = match v {
            Value::String(s) => Member::Str(s.as_bytes().to_vec()),
            Value::Table(_) => Member::Table,
            Value::LightUserData(p) if p.0.is_null() => Member::Plain(Value::LightUserData(p)),
            v @ (Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Number(_)) => {
                Member::Plain(v)
            }
            other => Member::Unsupported(type_name(&other)),
        };
        members.push((key, member));
        Ok(true)
    })?;
    Ok(members)
}

// ---- decoding ----

fn decode(lua: &Lua, args: &Args, cfg: &mut Config) -> LibResult<Ret> {
    if args.len() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let s = args.bytes(lua, 1)?;
    let s = s.as_bytes();
    // JSON text starts with an ASCII character; a NUL among the first two
    // bytes means UTF-16 or UTF-32.
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err(Fail::error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        lua,
        cfg,
        s: &s,
        pos: 0,
        depth: 0,
    };
    let v = p.document()?;
    Ok(Ret::one(v))
}

#[derive(Clone, Copy, PartialEq)]
enum TokenKind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    True,
    False,
    Null,
    Colon,
    Comma,
    End,
    /// Carries the reason instead of a name.
    Error(&'static str),
}

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            TokenKind::ObjBegin => "T_OBJ_BEGIN",
            TokenKind::ObjEnd => "T_OBJ_END",
            TokenKind::ArrBegin => "T_ARR_BEGIN",
            TokenKind::ArrEnd => "T_ARR_END",
            TokenKind::Str => "T_STRING",
            TokenKind::Number => "T_NUMBER",
            TokenKind::True | TokenKind::False => "T_BOOLEAN",
            TokenKind::Null => "T_NULL",
            TokenKind::Colon => "T_COLON",
            TokenKind::Comma => "T_COMMA",
            TokenKind::End => "T_END",
            TokenKind::Error(reason) => reason,
        }
    }
}

struct Token {
    kind: TokenKind,
    /// Byte offset where the token starts, or where its error is.
    index: usize,
    string: Vec<u8>,
    number: f64,
}

/// An open container: its table is at `open[depth]` in Lua.
enum Open {
    Array {
        next: usize,
    },
    /// The key whose value is being read.
    Object {
        key: Vec<u8>,
    },
}

struct Parser<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// The byte at `i`; a Lua string is NUL-terminated for C, and C stops
    /// at any NUL.
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn throw(expected: &str, t: &Token) -> Fail {
        Fail::error(format!(
            "Expected {expected} but found {} at character {}",
            t.kind.name(),
            t.index + 1
        ))
    }

    /// One value and the end of the text.
    fn document(&mut self) -> LibResult<Value> {
        let open = self.lua.create_table()?;
        let mut stack: Vec<Open> = Vec::new();
        // The innermost container's table; outer ones wait in `open`.
        let mut current: Option<Table> = None;
        // C stack slots: the argument, then a table per array and a table
        // and a key per object.
        let mut slots = 1;
        let mut tok = self.next_token();
        loop {
            let mut value = match tok.kind {
                TokenKind::Str => Value::String(self.lua.create_string(&tok.string)?),
                TokenKind::Number => Value::Number(tok.number),
                TokenKind::True => Value::Boolean(true),
                TokenKind::False => Value::Boolean(false),
                TokenKind::Null => null(),
                TokenKind::ObjBegin | TokenKind::ArrBegin => {
                    self.descend(slots)?;
                    let t = self.lua.create_table()?;
                    let is_object = tok.kind == TokenKind::ObjBegin;
                    tok = self.next_token();
                    let close = if is_object {
                        TokenKind::ObjEnd
                    } else {
                        TokenKind::ArrEnd
                    };
                    if tok.kind == close {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        if is_object {
                            let key = self.key(tok)?;
                            stack.push(Open::Object { key });
                            slots += 2;
                            tok = self.next_token();
                        } else {
                            stack.push(Open::Array { next: 1 });
                            slots += 1;
                        }
                        open.raw_set(stack.len(), &t)?;
                        current = Some(t);
                        continue;
                    }
                }
                _ => return Err(Self::throw("value", &tok)),
            };
            // Store the value and read on to the next one.
            loop {
                let depth = stack.len();
                let Some(top) = stack.last_mut() else {
                    let end = self.next_token();
                    if end.kind != TokenKind::End {
                        return Err(Self::throw("the end", &end));
                    }
                    return Ok(value);
                };
                let t = current.as_ref().expect("an open container has its table");
                let close = match top {
                    Open::Array { next } => {
                        t.raw_set(*next, value)?;
                        *next += 1;
                        tok = self.next_token();
                        match tok.kind {
                            TokenKind::ArrEnd => {}
                            TokenKind::Comma => {
                                tok = self.next_token();
                                break;
                            }
                            _ => return Err(Self::throw("comma or array end", &tok)),
                        }
                        1
                    }
                    Open::Object { key } => {
                        t.raw_set(self.lua.create_string(&*key)?, value)?;
                        tok = self.next_token();
                        match tok.kind {
                            TokenKind::ObjEnd => {}
                            TokenKind::Comma => {
                                tok = self.next_token();
                                *key = self.key(tok)?;
                                tok = self.next_token();
                                break;
                            }
                            _ => return Err(Self::throw("comma or object end", &tok)),
                        }
                        2
                    }
                };
                stack.pop();
                open.raw_set(depth, Value::Nil)?;
                slots -= close;
                self.depth -= 1;
                let done = current.take().expect("an open container has its table");
                if depth > 1 {
                    current = Some(open.raw_get(depth - 1)?);
                }
                value = Value::Table(done);
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self, tok: Token) -> LibResult<Vec<u8>> {
        if tok.kind != TokenKind::Str {
            return Err(Self::throw("object key string", &tok));
        }
        let colon = self.next_token();
        if colon.kind != TokenKind::Colon {
            return Err(Self::throw("colon", &colon));
        }
        Ok(tok.string)
    }

    /// Enters an array or object: too deep, or past what C's stack holds
    /// with `slots` in use, is an error.
    fn descend(&mut self, slots: usize) -> LibResult<()> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth as usize && stack_fits(slots, 2) {
            return Ok(());
        }
        Err(Fail::error(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        )))
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let mut tok = Token {
            kind: TokenKind::End,
            index,
            string: Vec::new(),
            number: 0.0,
        };
        let single = |kind| Some(kind);
        let c = self.at(index);
        let kind = match c {
            0 => return tok,
            b'{' => single(TokenKind::ObjBegin),
            b'}' => single(TokenKind::ObjEnd),
            b'[' => single(TokenKind::ArrBegin),
            b']' => single(TokenKind::ArrEnd),
            b':' => single(TokenKind::Colon),
            b',' => single(TokenKind::Comma),
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9' => None,
            _ => single(TokenKind::Error("invalid token")),
        };
        if let Some(kind) = kind {
            tok.kind = kind;
            if !matches!(kind, TokenKind::Error(_)) {
                self.pos += 1;
            }
            return tok;
        }
        let rest = &self.s[index..];
        if c == b'"' {
            self.string_token(&mut tok);
        } else if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                tok.kind = TokenKind::Error("invalid number");
            } else {
                self.number_token(&mut tok);
            }
        } else if rest.starts_with(b"true") {
            tok.kind = TokenKind::True;
            self.pos += 4;
        } else if rest.starts_with(b"false") {
            tok.kind = TokenKind::False;
            self.pos += 5;
        } else if rest.starts_with(b"null") {
            tok.kind = TokenKind::Null;
            self.pos += 4;
        } else if self.cfg.decode_invalid_numbers && self.is_invalid_number() {
            // Only forms JSON forbids (inf, nan, hex, +1) get here, so that
            // other junk is reported as an invalid token.
            self.number_token(&mut tok);
        } else {
            tok.kind = TokenKind::Error("invalid token");
        }
        tok
    }

    /// Whether the number at the cursor is one JSON forbids: a leading `+`,
    /// hex, leading zeros, `inf` or `nan`. Other junk passes and fails in
    /// `strtod`.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let rest = &self.s[p.min(self.s.len())..];
        let starts = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
        starts(b"inf") || starts(b"nan")
    }

    fn number_token(&mut self, tok: &mut Token) {
        // No number syntax includes a NUL, so strtod stops where C's would.
        match num::strtod(&self.s[self.pos..]) {
            Some((n, len)) if len > 0 => {
                tok.kind = TokenKind::Number;
                tok.number = n;
                self.pos += len;
            }
            _ => tok.kind = TokenKind::Error("invalid number"),
        }
    }

    fn string_token(&mut self, tok: &mut Token) {
        tok.kind = TokenKind::Str;
        self.pos += 1;
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return self.token_error(tok, "unexpected end of string"),
                b'\\' => {
                    let unescaped = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b'f' => b'\x0c',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if !self.unicode_escape(&mut tok.string) {
                                return self.token_error(tok, "invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return self.token_error(tok, "invalid escape code"),
                    };
                    tok.string.push(unescaped);
                    self.pos += 2;
                }
                _ => {
                    tok.string.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
    }

    /// An error found inside a token is reported where the cursor is.
    fn token_error(&self, tok: &mut Token, reason: &'static str) {
        tok.kind = TokenKind::Error(reason);
        tok.index = self.pos;
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| {
            Some(acc << 4 | (self.at(at + i) as char).to_digit(16)?)
        })
    }

    /// `\uXXXX` at the cursor, or a surrogate pair of them, appended as
    /// UTF-8.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if (0xdc00..=0xdfff).contains(&cp) {
            return false;
        }
        if (0xd800..=0xdbff).contains(&cp) {
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if !(0xdc00..=0xdfff).contains(&low) {
                return false;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            len = 12;
        }
        let ch = char::from_u32(cp).expect("not a surrogate");
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        true
    }
}
