//! Conversions between Lua values and RESP, exactly as Redis's
//! `luaReplyToRedisReply` and `redisProtocolToLuaType` make them: a script's
//! return value becomes the client's reply here; a command's reply becomes
//! what `redis.call` returns in `ffi.rs`, straight onto Lua's stack.

use kevy_resp::Reply;
use mlua::{Table, Value};

/// Nesting at which a reply stops with Redis's stack-limit error (Redis
/// stops where Lua's C stack does; a table that contains itself ends here).
const MAX_DEPTH: usize = 1000;

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

/// The `err` text of an error table for a reply's error text (without
/// its `-`), as `luaPushErrorBuff` builds it: the code before the first
/// space, the message after it (a text without a space is all message,
/// code ERR), CR and LF trimmed from both ends of the message.
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
