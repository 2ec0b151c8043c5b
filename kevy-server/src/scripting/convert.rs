//! Conversions between Lua values and RESP, exactly as Redis's
//! `luaReplyToRedisReply` and `redisProtocolToLuaType` make them: a script's
//! return value becomes the client's reply, and a command's reply becomes
//! what `redis.call` returns.

use kevy_resp::Reply;
use mlua::{Either, Lua, LuaString, Table, Value};

/// Nesting at which a reply stops with Redis's stack-limit error (Redis
/// stops where Lua's C stack does; a table that contains itself ends here).
const MAX_DEPTH: usize = 1000;

/// A Lua array of `items` (KEYS, ARGV, a function's arguments), or `None`
/// for none (the prelude makes an empty table, cheaper from Lua's side).
/// Each item goes straight onto Lua's stack and into the table: mlua
/// pushes a `&str` without taking a reference to it, so only bytes that
/// are not UTF-8 take the slower way through a `LuaString`.
pub fn lua_array<'a>(
    lua: &Lua,
    items: impl ExactSizeIterator<Item = &'a [u8]>,
) -> mlua::Result<Option<Table>> {
    if items.len() == 0 {
        return Ok(None);
    }
    lua.create_sequence_from(items.map(|b| match std::str::from_utf8(b) {
        Ok(s) => Either::Left(s),
        Err(_) => Either::Right(LuaString::wrap(b)),
    }))
    .map(Some)
}

/// Writes `v` as the script's reply. `script_resp3`: the script called
/// `redis.setresp(3)` (booleans are then RESP3 booleans).
pub fn lua_to_reply(v: &Value, out: &mut Reply<'_>, script_resp3: bool) {
    to_reply(v, out, script_resp3, 0);
}

fn to_reply(v: &Value, out: &mut Reply<'_>, script_resp3: bool, depth: usize) {
    if depth >= MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp3 {
                out.boolean(*b);
            } else if *b {
                out.int(1);
            } else {
                out.null();
            }
        }
        Value::Integer(i) => out.int(c_long_long(*i as f64)),
        Value::Number(n) => out.int(c_long_long(*n)),
        Value::Table(t) => table_to_reply(t, out, script_resp3, depth),
        _ => out.null(),
    }
}

/// C's `(long long)` of a double on x86-64: truncation, and the most
/// negative value for NaN and anything out of range.
fn c_long_long(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

fn table_to_reply(t: &Table, out: &mut Reply<'_>, script_resp3: bool, depth: usize) {
    if let Value::String(e) = field(t, "err") {
        // Redis replies the text as is: it carries its own code.
        let mut msg = Vec::with_capacity(e.as_bytes().len() + 1);
        msg.extend_from_slice(&e.as_bytes());
        out.error_bytes(&msg);
        return;
    }
    if let Value::String(s) = field(t, "ok") {
        let text: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        out.simple(&text);
        return;
    }
    match field(t, "double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        let digits: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        out.big_number(&digits);
        return;
    }
    if let Value::Table(v) = field(t, "verbatim_string") {
        if let (Value::String(fmt), Value::String(s)) = (field(&v, "format"), field(&v, "string")) {
            let f = fmt.as_bytes();
            // Redis copies three bytes of the format whatever its length.
            let mut code = [0u8; 3];
            for (c, b) in code.iter_mut().zip(f.iter()) {
                *c = *b;
            }
            out.verbatim(&code, &s.as_bytes());
            return;
        }
    }
    if let Value::Table(m) = field(t, "map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            to_reply(k, out, script_resp3, depth + 1);
            to_reply(v, out, script_resp3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field(t, "set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            to_reply(k, out, script_resp3, depth + 1);
        }
        return;
    }
    // An array up to the first nil.
    let mut n = 0usize;
    while !matches!(t.raw_get::<Value>(n + 1), Ok(Value::Nil) | Err(_)) {
        n += 1;
    }
    out.array(n);
    for i in 1..=n {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        to_reply(&v, out, script_resp3, depth + 1);
    }
}

/// Converts one complete reply at the start of `buf` into a Lua value, as
/// `redis.call` returns it; the bytes it took. An error reply is an error
/// table (`{err=…}`), as `luaPushErrorBuff` builds it.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<(Value, usize)> {
    let line_end = |from: usize| -> mlua::Result<usize> {
        let mut at = from;
        while let Some(p) = buf[at..].iter().position(|&b| b == b'\r') {
            if buf.get(at + p + 1) == Some(&b'\n') {
                return Ok(at + p);
            }
            at += p + 1;
        }
        Err(mlua::Error::runtime("malformed reply"))
    };
    let kind = *buf
        .first()
        .ok_or_else(|| mlua::Error::runtime("empty reply"))?;
    let end = line_end(1)?;
    let line = &buf[1..end];
    let next = end + 2;
    let int = |l: &[u8]| -> i64 { kevy_store::num::parse_i64(l).unwrap_or(0) };
    Ok(match kind {
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(line)?)?;
            (Value::Table(t), next)
        }
        b'-' => (Value::Table(error_table(lua, line)?), next),
        b':' => (Value::Number(int(line) as f64), next),
        b'$' => {
            let n = int(line);
            if n < 0 {
                (Value::Boolean(false), next)
            } else {
                let n = n as usize;
                let s = buf
                    .get(next..next + n)
                    .ok_or_else(|| mlua::Error::runtime("malformed reply"))?;
                (Value::String(lua.create_string(s)?), next + n + 2)
            }
        }
        b'*' | b'>' | b'~' | b'%' => {
            let n = int(line);
            if n < 0 {
                return Ok((Value::Boolean(false), next));
            }
            let n = n as usize;
            let mut at = next;
            let t = lua.create_table_with_capacity(if kind == b'%' { 0 } else { n }, 0)?;
            match kind {
                b'%' => {
                    let m = lua.create_table()?;
                    for _ in 0..n {
                        let (k, used) = reply_to_lua(lua, &buf[at..])?;
                        at += used;
                        let (v, used) = reply_to_lua(lua, &buf[at..])?;
                        at += used;
                        if !k.is_nil() {
                            m.raw_set(k, v)?;
                        }
                    }
                    t.raw_set("map", m)?;
                }
                b'~' => {
                    let s = lua.create_table()?;
                    for _ in 0..n {
                        let (k, used) = reply_to_lua(lua, &buf[at..])?;
                        at += used;
                        if !k.is_nil() {
                            s.raw_set(k, true)?;
                        }
                    }
                    t.raw_set("set", s)?;
                }
                _ => {
                    for i in 1..=n {
                        let (v, used) = reply_to_lua(lua, &buf[at..])?;
                        at += used;
                        t.raw_set(i, v)?;
                    }
                }
            }
            (Value::Table(t), at)
        }
        b'_' => (Value::Nil, next),
        b'#' => (Value::Boolean(line == b"t"), next),
        b',' => {
            let d = std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            (Value::Table(t), next)
        }
        b'(' => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(line)?)?;
            (Value::Table(t), next)
        }
        b'=' => {
            let n = int(line).max(0) as usize;
            let s = buf
                .get(next..next + n)
                .ok_or_else(|| mlua::Error::runtime("malformed reply"))?;
            let (format, text) = if s.len() >= 4 {
                (&s[..3], &s[4..])
            } else {
                (s, &b""[..])
            };
            let v = lua.create_table()?;
            v.raw_set("format", lua.create_string(format)?)?;
            v.raw_set("string", lua.create_string(text)?)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", v)?;
            (Value::Table(t), next + n + 2)
        }
        _ => return Err(mlua::Error::runtime("unknown reply type")),
    })
}

/// `luaPushErrorBuff` of a reply's error text (without its `-`): the code
/// before the first space, the message after it (a text without a space is
/// all message, code ERR), CR and LF trimmed from both ends of the message.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(error_text(text))?)?;
    Ok(t)
}

/// The `err` text of [`error_table`].
pub fn error_text(text: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match text.iter().position(|&b| b == b' ') {
        Some(sp) => (&text[..sp], &text[sp + 1..]),
        None => (b"ERR", text),
    };
    let trim = |b: &u8| *b != b'\r' && *b != b'\n';
    let start = msg.iter().position(trim).unwrap_or(msg.len());
    let end = msg.iter().rposition(trim).map_or(start, |e| e + 1);
    let mut full = Vec::with_capacity(code.len() + 1 + end - start);
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(&msg[start..end]);
    full
}
