//! Conversions between Lua values and RESP, exactly as Redis's
//! `luaReplyToRedisReply` and `redisProtocolToLuaType` make them: a script's
//! return value becomes the client's reply; `redis.call`'s arguments become
//! a command's, and the command's reply becomes what `redis.call` returns,
//! read from and pushed onto Lua's stack (`hooks.rs`).

use kevy_resp::Reply;
use kevy_sys::lua::{Arg, Stack};
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

/// Appends `redis.call`'s arguments to `argv` as Redis reads them:
/// strings as they are, numbers as `%.17g`. False (and `argv` partly
/// filled) when one is of another type.
pub fn read_args(stack: &Stack, argv: &mut kevy_resp::OwnedArgs) -> bool {
    for i in 1..=stack.len() {
        match stack.arg(i) {
            Arg::Str(bytes) => argv.push(bytes),
            Arg::Number(n) => argv.push(kevy_resp::format_double(n).as_bytes()),
            Arg::Other => return false,
        }
    }
    true
}

/// Pushes the one complete reply at the start of `buf` as Redis's
/// `redisProtocolToLuaType` makes it; false (nothing pushed) when it is
/// malformed or nested too deep.
pub fn push_reply(stack: &mut Stack, buf: &[u8]) -> bool {
    let mark = stack.mark();
    if push_value(stack, buf, 0).is_some() {
        return true;
    }
    stack.pop_to(mark);
    false
}

/// The reply at the start of `buf`, pushed: the bytes it took, or `None`
/// (malformed, or deeper than [`MAX_DEPTH`]; the stack is then left for
/// the caller to reset).
fn push_value(stack: &mut Stack, buf: &[u8], depth: usize) -> Option<usize> {
    // A level holds at most four slots at once: a table, a nested table,
    // a key and a value.
    if depth >= MAX_DEPTH || !stack.reserve(4) {
        return None;
    }
    let kind = *buf.first()?;
    let end = line_end(buf, 1)?;
    let line = &buf[1..end];
    let next = end + 2;
    let int = |l: &[u8]| -> i64 { kevy_store::num::parse_i64(l).unwrap_or(0) };
    Some(match kind {
        b'+' => {
            stack.new_table(0, 1);
            stack.push_bytes(line);
            stack.set_field(b"ok");
            next
        }
        b'-' => {
            super::hooks::push_error(stack, &error_text(line));
            next
        }
        b':' => {
            stack.push_number(int(line) as f64);
            next
        }
        b'$' => {
            let n = int(line);
            if n < 0 {
                stack.push_bool(false);
                next
            } else {
                let n = n as usize;
                let s = buf.get(next..next.checked_add(n)?)?;
                stack.push_bytes(s);
                next + n + 2
            }
        }
        b'*' | b'>' | b'~' | b'%' => {
            let n = int(line);
            if n < 0 {
                stack.push_bool(false);
                return Some(next);
            }
            let n = n as usize;
            let mut at = next;
            stack.new_table(if kind == b'%' { 0 } else { n }, 0);
            match kind {
                b'%' | b'~' => {
                    stack.new_table(0, 0);
                    for _ in 0..n {
                        at += push_value(stack, buf.get(at..)?, depth + 1)?;
                        if kind == b'%' {
                            at += push_value(stack, buf.get(at..)?, depth + 1)?;
                        } else {
                            stack.push_bool(true);
                        }
                        // A nil key (a null in a map or set) is dropped.
                        stack.raw_set();
                    }
                    stack.set_field(if kind == b'%' { b"map" } else { b"set" });
                }
                _ => {
                    for i in 1..=n {
                        at += push_value(stack, buf.get(at..)?, depth + 1)?;
                        stack.raw_seti(i);
                    }
                }
            }
            at
        }
        b'_' => {
            stack.push_nil();
            next
        }
        b'#' => {
            stack.push_bool(line == b"t");
            next
        }
        b',' => {
            let d = std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            stack.new_table(0, 1);
            stack.push_number(d);
            stack.set_field(b"double");
            next
        }
        b'(' => {
            stack.new_table(0, 1);
            stack.push_bytes(line);
            stack.set_field(b"big_number");
            next
        }
        b'=' => {
            let n = int(line).max(0) as usize;
            let s = buf.get(next..next.checked_add(n)?)?;
            let (format, text) = if s.len() >= 4 {
                (&s[..3], &s[4..])
            } else {
                (s, &b""[..])
            };
            stack.new_table(0, 1);
            stack.new_table(0, 2);
            stack.push_bytes(format);
            stack.set_field(b"format");
            stack.push_bytes(text);
            stack.set_field(b"string");
            stack.set_field(b"verbatim_string");
            next + n + 2
        }
        _ => return None,
    })
}

/// Where the line starting at `from` ends (its CR).
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(p) = buf.get(at..)?.iter().position(|&b| b == b'\r') {
        if buf.get(at + p + 1) == Some(&b'\n') {
            return Some(at + p);
        }
        at += p + 1;
    }
    None
}
