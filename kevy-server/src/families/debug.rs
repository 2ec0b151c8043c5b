//! DEBUG, behind `enable-debug-command` (`no` by default, as Redis 7: the
//! command is refused; `local` allows it from loopback connections only).
//!
//! Where each subcommand runs follows what it reads: OBJECT and
//! DIGEST-VALUE on the keys' shards; DIGEST, POPULATE, SET-ACTIVE-EXPIRE
//! and RELOAD on every shard; the rest on the connection's thread. DIGEST
//! is Redis's dataset digest: per database, a SHA1 mix of the database
//! number, then the XOR of each key's digest. The XOR is computed on each
//! shard and the parts are mixed in database order by the fold
//! (`fold_digest`), so the result equals Redis's for the same data on
//! any shard layout.

use super::common::c_str;
use crate::ctx::Ctx;
use crate::scripting::sha1::sha1;
use crate::settings::current;
use crate::table::{flag, CommandSpec, Handler, RouteKind, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::{Entry, StrValue, Value};

pub fn register(t: &mut Table) {
    t.add(CommandSpec {
        name: "debug",
        arity: -2,
        flags: flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE,
        first: 0,
        last: 0,
        step: 0,
        acl: &["@admin", "@slow", "@dangerous"],
        route: RouteKind::Custom(route_debug),
        run: Handler::Shard(cmd_debug),
    });
}

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is \
     set to \"local\", you can run it from a local connection, otherwise you need to set this \
     option in the configuration file, and then restart the server.";

/// Whether `enable-debug-command` lets this client run DEBUG.
fn allowed(client: &ClientCtx) -> bool {
    match current("enable-debug-command").as_deref() {
        Some("yes") => true,
        Some("local") => client.peer.ip().is_loopback(),
        _ => false,
    }
}

fn unknown(args: Args<'_>) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        c_str(args.get(1), 128)
    )
}

fn route_debug(args: Args<'_>, client: &ClientCtx, _n: usize) -> Result<Route, String> {
    if !allowed(client) {
        return Err(NOT_ALLOWED.into());
    }
    let sub = args.get(1).to_ascii_lowercase();
    let one_key = Route::Keys {
        first: 2,
        last: 2,
        step: 1,
        extra: 0,
        fold: Fold::One,
    };
    Ok(match (sub.as_slice(), args.len()) {
        (b"object", 3) => one_key,
        (b"digest-value", n) if n > 2 => Route::Keys {
            first: 2,
            last: -1,
            step: 1,
            extra: 0,
            fold: Fold::Gather,
        },
        (b"digest", 2) => Route::All(Fold::With(fold_digest)),
        (b"populate", 3..=5) | (b"set-active-expire", 3) | (b"reload", _) => {
            Route::All(Fold::AllOk)
        }
        _ => Route::Conn,
    })
}

fn cmd_debug(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let sub = args.get(1).to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"help", 2) => help(ctx),
        (b"object", 3) => object(ctx),
        (b"digest-value", _) => digest_value(ctx),
        (b"digest", 2) => digest_part(ctx),
        (b"populate", 3..=5) => populate(ctx),
        (b"set-active-expire", 3) => {
            let on = atoi(args.get(2)) != 0;
            ctx.shard.active_expire = on;
            ctx.out.ok();
        }
        (b"reload", _) => reload(ctx),
        (b"sleep", 3) => {
            let secs = atof(args.get(2));
            if secs > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        (b"protocol", 3) => protocol(ctx),
        (b"error", 3) => {
            let msg = String::from_utf8_lossy(args.get(2)).replace(['\r', '\n'], " ");
            ctx.out.error(&msg);
        }
        (b"log", 3) => {
            eprintln!("DEBUG LOG: {}", String::from_utf8_lossy(args.get(2)));
            ctx.out.ok();
        }
        (b"change-repl-id", 2) => ctx.out.ok(),
        _ => ctx.out.error(&unknown(args)),
    }
}

/// C's `atof`: the longest prefix that parses as a number, else 0.
fn atof(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|&i| s.is_char_boundary(i))
        .find_map(|i| s[..i].parse::<f64>().ok())
        .filter(|x| x.is_finite())
        .unwrap_or(0.0)
}

/// C's `atoi`: leading blanks, a sign, digits; anything else ends it.
fn atoi(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |a, d| {
            a.wrapping_mul(10).wrapping_add((d - b'0') as i64)
        });
    if neg {
        -n
    } else {
        n
    }
}

fn help(ctx: &mut Ctx<'_>) {
    const LINES: &[&str] = &[
        "CHANGE-REPL-ID",
        "    Change the replication IDs of the instance.",
        "    Dangerous: should be used only for testing the replication subsystem.",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "RELOAD",
        "    Save the RDB on disk and reload it back to memory.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ];
    super::common::help_reply(&mut ctx.out, ctx.args.get(0), LINES);
}

/// DEBUG OBJECT key: Redis's line, with the value's address in kevy's
/// memory and its serialized (RDB) length.
fn object(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(2);
    let mut db = ctx.shard.store.db(ctx.db);
    let Some(e) = db.peek(key) else {
        return ctx.out.error("ERR no such key");
    };
    let v = &e.value;
    let mut ser = Vec::new();
    let _ = kevy_persist::rdb::write_value(&mut ser, v);
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
        v as *const Value,
        v.encoding_name(),
        ser.len().saturating_sub(1)
    );
    ctx.out.simple(line.as_bytes());
}

/// SHA1 of `data` XORed into `d` (Redis's `xorDigest`).
fn xor_digest(d: &mut [u8; 20], data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

/// `xor_digest`, then `d` becomes its own SHA1 (Redis's `mixDigest`):
/// order matters from here on.
fn mix_digest(d: &mut [u8; 20], data: &[u8]) {
    xor_digest(d, data);
    *d = sha1(d);
}

/// Redis's `xorObjectDigest`: the value's type and contents (ordered for
/// lists, unordered for the other collections) and whether it expires.
fn object_digest(d: &mut [u8; 20], e: &Entry) {
    let v = &e.value;
    let type_code: u32 = match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    };
    mix_digest(d, &type_code.to_be_bytes());
    let mut num = [0u8; kevy_store::num::MAX_I64_CHARS];
    match v {
        Value::Str(s) => mix_digest(d, StrValue::as_bytes(s, &mut num)),
        Value::List(l) => {
            for x in l.iter() {
                mix_digest(d, x);
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                match m {
                    kevy_store::set::Member::Bytes(b) => xor_digest(d, b),
                    kevy_store::set::Member::Int(n) => xor_digest(d, n.to_string().as_bytes()),
                }
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, m);
                mix_digest(&mut ele, kevy_resp::format_double(score).as_bytes());
                xor_digest(d, &ele);
            }
        }
        Value::Hash(h) => {
            for (f, val) in h.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, f);
                mix_digest(&mut ele, val);
                xor_digest(d, &ele);
            }
        }
        // Entries in order, each its id (`ms.seq`) and its fields; groups
        // are not part of it, as in Redis.
        Value::Stream(st) => {
            use kevy_store::stream::StreamId;
            let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
            st.for_each(StreamId::MIN, StreamId::MAX, false, |id, fields| {
                mix_digest(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in fields {
                    mix_digest(d, f.bytes(&mut buf));
                    mix_digest(d, v.bytes(&mut buf));
                }
                true
            });
        }
    }
    if e.expire_at().is_some() {
        xor_digest(d, b"!!expire!!");
    }
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// DEBUG DIGEST-VALUE key…: each key's value digest (zeros for a missing
/// key), as status replies.
fn digest_value(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    ctx.out.array(args.len() - 2);
    for key in args.iter().skip(2) {
        let mut d = [0u8; 20];
        if let Some(e) = db.peek(key) {
            object_digest(&mut d, e);
        }
        ctx.out.simple(hex(&d).as_bytes());
    }
}

/// One shard's part of DEBUG DIGEST: for each database it holds keys of,
/// the database number and the XOR of its keys' digests.
fn digest_part(ctx: &mut Ctx<'_>) {
    let store = &ctx.shard.store;
    let mut parts: Vec<(usize, [u8; 20])> = Vec::new();
    for dbi in 0..store.ndbs() {
        let mut acc = [0u8; 20];
        let mut any = false;
        for (key, e) in store.entries(dbi) {
            any = true;
            let mut d = [0u8; 20];
            mix_digest(&mut d, key);
            object_digest(&mut d, e);
            xor_digest(&mut acc, &d);
        }
        if any {
            parts.push((dbi, acc));
        }
    }
    ctx.out.array(parts.len() * 2);
    for (dbi, acc) in parts {
        ctx.out.int(dbi as i64);
        ctx.out.bulk(&acc);
    }
}

/// DEBUG DIGEST's fold: databases in order, each mixed into the digest by
/// number, then every shard's XOR for it XORed in (Redis's
/// `computeDatasetDigest`); 40 zeros for an empty dataset.
fn fold_digest(parts: &[&[u8]], out: &mut Vec<u8>) {
    let mut by_db: std::collections::BTreeMap<u32, [u8; 20]> = Default::default();
    for p in parts {
        let Some((_, ranges)) = kevy_resp::split_array(p) else {
            continue;
        };
        for pair in ranges.chunks(2) {
            let [n, d] = pair else { continue };
            let n = &p[n.clone()];
            let d = &p[d.clone()];
            let dbi: u32 = std::str::from_utf8(&n[1..n.len() - 2])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            // `$20\r\n` + 20 bytes + `\r\n`.
            if d.len() != 27 {
                continue;
            }
            let acc = by_db.entry(dbi).or_insert([0; 20]);
            for (a, b) in acc.iter_mut().zip(&d[5..25]) {
                *a ^= b;
            }
        }
    }
    let mut fin = [0u8; 20];
    for (dbi, acc) in by_db {
        mix_digest(&mut fin, &dbi.to_be_bytes());
        for (a, b) in fin.iter_mut().zip(acc) {
            *a ^= b;
        }
    }
    out.push(b'+');
    out.extend_from_slice(hex(&fin).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// DEBUG POPULATE count [prefix] [size]: on each shard, the keys
/// `prefix:N` it owns and that do not exist yet, valued `value:N` (cut or
/// zero-padded to `size` bytes when given). Not logged, as in Redis.
fn populate(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let positive = |b: &[u8]| kevy_store::num::parse_i64(b).filter(|&n| n >= 0);
    let Some(count) = positive(args.get(2)) else {
        return ctx.out.error("ERR value is out of range, must be positive");
    };
    let prefix = if args.len() > 3 { args.get(3) } else { b"key" };
    let size = if args.len() > 4 {
        match positive(args.get(4)) {
            Some(n) => Some(n as usize),
            None => return ctx.out.error("ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let (me, slots) = (ctx.shard.id, &ctx.shard.slots);
    let scratch = ctx.shard.scratch;
    let mut db = ctx.shard.store.db(ctx.db);
    let mut key = Vec::new();
    for i in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(i.to_string().as_bytes());
        if !scratch && slots.shard_of(&key) != me {
            continue;
        }
        if db.contains(&key) {
            continue;
        }
        let mut val = format!("value:{i}").into_bytes();
        if let Some(s) = size.filter(|&s| s > 0) {
            val.resize(s, 0);
        }
        db.set(&key, Value::string(&val), kevy_store::SetTtl::Clear);
    }
    ctx.out.ok();
}

/// DEBUG RELOAD: every shard writes its section of `dump.rdb` as SAVE
/// does, then replaces its keys with their RDB encoding read back, so
/// what is in memory afterwards is what the file holds.
fn reload(ctx: &mut Ctx<'_>) {
    for opt in ctx.args.iter().skip(2) {
        let o = opt.to_ascii_lowercase();
        if !matches!(o.as_slice(), b"merge" | b"noflush" | b"nosave") {
            return ctx
                .out
                .error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
        if o != b"merge" && o != b"noflush" {
            return ctx.out.error(
                "ERR DEBUG RELOAD NOSAVE is not supported by kevy: it reloads what it saves",
            );
        }
    }
    if let Err(e) = crate::persist::save_part(ctx.shard) {
        return ctx
            .out
            .error(&format!("ERR Error trying to save the DB: {e}"));
    }
    let store = &mut ctx.shard.store;
    for dbi in 0..store.ndbs() {
        let keys: Vec<Vec<u8>> = store.entries(dbi).map(|(k, _)| k.to_vec()).collect();
        let mut db = store.db(dbi);
        for k in keys {
            let Some(e) = db.remove_entry(&k) else {
                continue;
            };
            let mut ser = Vec::new();
            if kevy_persist::rdb::write_value(&mut ser, &e.value).is_err() {
                db.put_entry(&k, e);
                continue;
            }
            match kevy_persist::rdb::read_value(&ser) {
                Ok(v) => db.put_entry(&k, Entry::new(v, e.expire_at())),
                Err(_) => db.put_entry(&k, e),
            }
        }
    }
    ctx.out.ok();
}

/// DEBUG PROTOCOL type: a sample reply of each RESP type, as Redis's.
fn protocol(ctx: &mut Ctx<'_>) {
    let resp3 = ctx.client.resp3;
    let out = &mut ctx.out;
    match ctx.args.get(2).to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|i| out.int(i));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|i| out.int(i));
        }
        b"map" => {
            out.map(3);
            for i in 0..3 {
                out.int(i);
                out.boolean(i == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return out.error("ERR RESP2 is not supported by this command");
            }
            out.raw(b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n");
            out.bulk(b"Some real reply following the push reply");
        }
        b"verbatim" => out.verbatim(b"txt", b"This is a verbatim\nstring"),
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        _ => out.error(
            "ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}
