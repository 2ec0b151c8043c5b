//! The hashes command family (Redis's `t_hash.c`): field/value maps stored
//! as [`kevy_store::hash::Hash`], a listpack while small, a dict beyond.
//!
//! Every write goes through `write_hash`, which holds the rules Redis
//! spreads over `hashTypeLookupWriteOrCreate` and its callers in one place:
//! WRONGTYPE on another type, an empty hash created only when something is
//! written into it; kevy-store's update path then deletes a hash left
//! empty, accounts its heap and reports the change. Reads encode straight
//! from the stored hash, without copying it.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::families::keys::parse_cursor;
use crate::notify::HASH;
use crate::table::{flag, CommandSpec, Table};
use kevy_resp::Args;
use kevy_store::hash::{Hash, HashError};
use kevy_store::num::{parse_i64, LongDouble};
use kevy_store::sample::{random_reply_len, Rng};
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@hash", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@hash", "@slow"];
    const W_FAST: &[&str] = &["@write", "@hash", "@fast"];
    let spec = CommandSpec::single_key;
    const W_OOM_FAST: u32 = WRITE | DENYOOM | FAST;
    t.add(spec("hset", -4, W_OOM_FAST, W_FAST, cmd_hset));
    t.add(spec("hsetnx", 4, W_OOM_FAST, W_FAST, cmd_hsetnx));
    t.add(spec("hmset", -4, W_OOM_FAST, W_FAST, cmd_hmset));
    t.add(spec("hget", 3, READONLY | FAST, R_FAST, cmd_hget));
    t.add(spec("hmget", -3, READONLY | FAST, R_FAST, cmd_hmget));
    t.add(spec("hdel", -3, WRITE | FAST, W_FAST, cmd_hdel));
    t.add(spec("hexists", 3, READONLY | FAST, R_FAST, cmd_hexists));
    t.add(spec("hlen", 2, READONLY | FAST, R_FAST, cmd_hlen));
    t.add(spec("hstrlen", 3, READONLY | FAST, R_FAST, cmd_hstrlen));
    t.add(spec("hincrby", 4, W_OOM_FAST, W_FAST, cmd_hincrby));
    t.add(spec(
        "hincrbyfloat",
        4,
        W_OOM_FAST,
        W_FAST,
        cmd_hincrbyfloat,
    ));
    // Whole-hash reads are O(n), hence slow and not flagged fast.
    t.add(spec("hgetall", 2, READONLY, R_SLOW, cmd_hgetall));
    t.add(spec("hkeys", 2, READONLY, R_SLOW, cmd_hkeys));
    t.add(spec("hvals", 2, READONLY, R_SLOW, cmd_hvals));
    t.add(spec("hrandfield", -2, READONLY, R_SLOW, cmd_hrandfield));
    t.add(spec("hscan", -3, READONLY, R_SLOW, cmd_hscan));
}

// ---- error texts and shared helpers -----------------------------------------------

const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
/// HINCRBYFLOAT's increment is itself infinite.
const INCR_NAN_OR_INF: &str = "ERR value is NaN or Infinity";
/// HRANDFIELD's count with WITHVALUES beyond ±`i64::MAX / 2` (twice the
/// count must fit).
const COUNT_OUT_OF_RANGE: &str = "ERR value is out of range";
/// HRANDFIELD's count is `i64::MIN` (Redis reads it in `-LONG_MAX..=LONG_MAX`).
const COUNT_NOT_IN_LONG: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

fn hash_error(e: HashError) -> OpError {
    match e {
        HashError::NotInteger => OpError::Family(HASH_NOT_INTEGER),
        HashError::NotFloat => OpError::Family(HASH_NOT_FLOAT),
        HashError::Overflow => OpError::Overflow,
        HashError::NanOrInfinity => OpError::NanOrInfinity,
    }
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

/// A read lookup (counts a hit or miss): the hash, `None` when the key is
/// missing, WRONGTYPE when it holds another type.
pub fn lookup<'d>(db: &'d mut Db<'_>, key: &[u8]) -> OpResult<Option<&'d Hash>> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Runs `f` on `key`'s hash, which returns its result and whether it
/// changed the hash; `f` must not change it when it fails. A missing key
/// gives `Ok(None)`, or with `create` an empty hash that is stored only if
/// `f` leaves fields in it. The update path deletes a hash `f` empties.
fn write_hash<R>(
    db: &mut Db<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> OpResult<(R, bool)>,
) -> OpResult<Option<R>> {
    let mut k = db.update(key);
    match k.value_mut() {
        Some(Value::Hash(h)) => {
            let (r, changed) = f(h)?;
            if changed {
                k.changed();
            }
            Ok(Some(r))
        }
        Some(_) => Err(OpError::WrongType),
        None if !create => Ok(None),
        None => {
            let mut h = Hash::new();
            let (r, _) = f(&mut h)?;
            if !h.is_empty() {
                k.insert(Value::Hash(h), SetTtl::Clear);
            }
            Ok(Some(r))
        }
    }
}

/// The (field, value) pairs in `args[from..]`; the caller checked that
/// they pair up.
fn pairs<'a>(args: &Args<'a>, from: usize) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    let args = *args;
    (from..args.len())
        .step_by(2)
        .map(move |i| (args.get(i), args.get(i + 1)))
}

// ---- HSET, HMSET, HSETNX --------------------------------------------------------

/// Sets every pair; returns how many fields are new.
pub fn op_hset<'p>(
    db: &mut Db<'_>,
    key: &[u8],
    pairs: impl IntoIterator<Item = (&'p [u8], &'p [u8])>,
) -> OpResult<i64> {
    let r = write_hash(db, key, true, |h| {
        let added = pairs.into_iter().filter(|(f, v)| h.set(f, v)).count();
        Ok((added as i64, true))
    });
    Ok(r?.unwrap_or(0))
}

/// HSET and HMSET: Redis's `hsetCommand`, which answers HMSET with `+OK`.
fn hset_generic(ctx: &mut Ctx<'_>, name: &'static str, count_reply: bool) {
    let args = ctx.args;
    // The name and key plus pairs is an even count.
    if !args.len().is_multiple_of(2) {
        return reply_error(&mut ctx.out, OpError::WrongArgs(name));
    }
    let r = op_hset(&mut db(ctx), args.get(1), pairs(&args, 2));
    if r.is_ok() {
        ctx.notify(HASH, "hset", args.get(1));
    }
    match r {
        Ok(n) if count_reply => ctx.out.int(n),
        Ok(_) => ctx.out.ok(),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_hset(ctx: &mut Ctx<'_>) {
    hset_generic(ctx, "hset", true);
}

fn cmd_hmset(ctx: &mut Ctx<'_>) {
    hset_generic(ctx, "hmset", false);
}

pub fn op_hsetnx(db: &mut Db<'_>, key: &[u8], field: &[u8], value: &[u8]) -> OpResult<bool> {
    let r = write_hash(db, key, true, |h| {
        let done = h.set_nx(field, value);
        Ok((done, done))
    });
    Ok(r?.unwrap_or(false))
}

fn cmd_hsetnx(ctx: &mut Ctx<'_>) {
    let (key, field, value) = (ctx.args.get(1), ctx.args.get(2), ctx.args.get(3));
    match op_hsetnx(&mut db(ctx), key, field, value) {
        Ok(done) => {
            if done {
                ctx.notify(HASH, "hset", key);
            }
            ctx.out.int(done as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- single-field reads ---------------------------------------------------------

fn cmd_hget(ctx: &mut Ctx<'_>) {
    let (key, field) = (ctx.args.get(1), ctx.args.get(2));
    match lookup(&mut ctx.shard.store.db(ctx.db), key) {
        Ok(h) => match h.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        },
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// HMGET: one bulk or null per field; a missing key answers all nulls.
fn cmd_hmget(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    match lookup(&mut ctx.shard.store.db(ctx.db), args.get(1)) {
        Ok(h) => {
            ctx.out.array(args.len() - 2);
            for field in args.iter().skip(2) {
                match h.and_then(|h| h.get(field)) {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// HEXISTS, HLEN, HSTRLEN: an integer from the hash, 0 for a missing key.
fn int_read(ctx: &mut Ctx<'_>, f: impl FnOnce(&Hash) -> usize) {
    let key = ctx.args.get(1);
    match lookup(&mut db(ctx), key) {
        Ok(h) => {
            let n = h.map_or(0, f);
            ctx.out.int(n as i64);
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_hexists(ctx: &mut Ctx<'_>) {
    let field = ctx.args.get(2);
    int_read(ctx, |h| h.contains(field) as usize);
}

/// HLEN counts fields whose TTL passed but that are not reclaimed yet, as
/// Redis's does (`hashTypeLength(o, 0)`).
fn cmd_hlen(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match ctx.shard.store.db(ctx.db).get_keep_fields(key) {
        None => ctx.out.int(0),
        Some(Value::Hash(h)) => ctx.out.int(h.len() as i64),
        Some(_) => reply_error(&mut ctx.out, OpError::WrongType),
    }
}

fn cmd_hstrlen(ctx: &mut Ctx<'_>) {
    let field = ctx.args.get(2);
    int_read(ctx, |h| h.strlen(field));
}

// ---- HDEL -----------------------------------------------------------------------

/// Deletes the fields; returns how many were there. Deleting the last
/// field deletes the key.
pub fn op_hdel<'f>(
    db: &mut Db<'_>,
    key: &[u8],
    fields: impl IntoIterator<Item = &'f [u8]>,
) -> OpResult<i64> {
    let r = write_hash(db, key, false, |h| {
        let n = fields.into_iter().filter(|f| h.remove(f)).count();
        Ok((n as i64, n > 0))
    });
    Ok(r?.unwrap_or(0))
}

fn cmd_hdel(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    match op_hdel(&mut db(ctx), args.get(1), args.iter().skip(2)) {
        Ok(n) => {
            if n > 0 {
                ctx.notify_and_del(HASH, "hdel", args.get(1));
            }
            ctx.out.int(n)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- counters -------------------------------------------------------------------

pub fn op_hincrby(db: &mut Db<'_>, key: &[u8], field: &[u8], delta: i64) -> OpResult<i64> {
    let r = write_hash(db, key, true, |h| {
        h.incr_by(field, delta)
            .map(|n| (n, true))
            .map_err(hash_error)
    });
    Ok(r?.unwrap_or(0))
}

/// HINCRBY: the increment is read before the key is looked up, as in Redis.
fn cmd_hincrby(ctx: &mut Ctx<'_>) {
    let (key, field) = (ctx.args.get(1), ctx.args.get(2));
    let r = parse_i64(ctx.args.get(3))
        .ok_or(OpError::NotInteger)
        .and_then(|d| op_hincrby(&mut db(ctx), key, field, d));
    match r {
        Ok(n) => {
            ctx.notify(HASH, "hincrby", key);
            ctx.out.int(n)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// HINCRBYFLOAT in long double arithmetic; returns the stored text.
pub fn op_hincrbyfloat(
    db: &mut Db<'_>,
    key: &[u8],
    field: &[u8],
    incr: LongDouble,
) -> OpResult<Vec<u8>> {
    let r = write_hash(db, key, true, |h| {
        h.incr_by_float(field, incr)
            .map(|s| (s, true))
            .map_err(hash_error)
    });
    Ok(r?.unwrap_or_default())
}

/// An HINCRBYFLOAT increment: a float (`inf` parses), then finite.
fn float_incr_arg(a: &[u8]) -> OpResult<LongDouble> {
    let incr = LongDouble::parse(a).ok_or(OpError::NotFloat)?;
    if !incr.is_finite() {
        return Err(OpError::Family(INCR_NAN_OR_INF));
    }
    Ok(incr)
}

fn cmd_hincrbyfloat(ctx: &mut Ctx<'_>) {
    let (key, field) = (ctx.args.get(1), ctx.args.get(2));
    let r = float_incr_arg(ctx.args.get(3))
        .and_then(|incr| op_hincrbyfloat(&mut db(ctx), key, field, incr));
    match r {
        Ok(s) => {
            // Redis 8's form, which keeps the field's TTL on replay.
            ctx.propagate(&[b"HSETEX", key, b"KEEPTTL", b"FIELDS", b"1", field, &s]);
            ctx.notify(HASH, "hincrbyfloat", key);
            ctx.out.bulk(&s)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- whole-hash reads -----------------------------------------------------------

/// HGETALL, HKEYS, HVALS: Redis's `genericHgetallCommand`. HGETALL is a
/// map (a flat array in RESP2), the others arrays.
fn getall_generic(ctx: &mut Ctx<'_>, fields: bool, values: bool) {
    let key = ctx.args.get(1);
    let mut db = ctx.shard.store.db(ctx.db);
    let h = match lookup(&mut db, key) {
        Ok(h) => h,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let len = h.map_or(0, Hash::len);
    if fields && values {
        ctx.out.map(len);
    } else {
        ctx.out.array(len);
    }
    for (f, v) in h.into_iter().flat_map(Hash::iter) {
        if fields {
            ctx.out.bulk(f);
        }
        if values {
            ctx.out.bulk(v);
        }
    }
}

fn cmd_hgetall(ctx: &mut Ctx<'_>) {
    getall_generic(ctx, true, true);
}

fn cmd_hkeys(ctx: &mut Ctx<'_>) {
    getall_generic(ctx, true, false);
}

fn cmd_hvals(ctx: &mut Ctx<'_>) {
    getall_generic(ctx, false, true);
}

// ---- HRANDFIELD -----------------------------------------------------------------

/// HRANDFIELD's `count [WITHVALUES]`, checked in Redis's order: the count,
/// then the option, then the count's range with WITHVALUES.
fn parse_randfield(args: &Args<'_>) -> OpResult<(i64, bool)> {
    let count = parse_i64(args.get(2)).ok_or(OpError::NotInteger)?;
    if count == i64::MIN {
        return Err(OpError::Family(COUNT_NOT_IN_LONG));
    }
    let withvalues = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(OpError::Syntax),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(OpError::Family(COUNT_OUT_OF_RANGE));
    }
    Ok((count, withvalues))
}

/// A generator for one command's picks, seeded from the thread's.
fn rng() -> Rng {
    Rng::new(kevy_store::rng::next_u64())
}

/// HRANDFIELD: one random field (a bulk, null for a missing key), or with
/// a count an array: `|count|` picks with repeats when negative, else up to
/// `count` distinct fields. With WITHVALUES each pick is a field and its
/// value, flat in RESP2 and a 2-element array in RESP3.
fn cmd_hrandfield(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let opts = if args.len() >= 3 {
        match parse_randfield(&args) {
            Ok(o) => Some(o),
            Err(e) => return reply_error(&mut ctx.out, e),
        }
    } else {
        None
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let h = match lookup(&mut db, key) {
        Ok(h) => h,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let out = &mut ctx.out;
    let Some((count, withvalues)) = opts else {
        match h.and_then(|h| h.random(&mut rng())) {
            Some((f, _)) => out.bulk(f),
            None => out.null(),
        }
        return;
    };
    // A missing key answers an empty array, in RESP3 too.
    let Some(h) = h else {
        return out.array(0);
    };
    let n = random_reply_len(count, h.len());
    let flat = withvalues && !out.resp3;
    out.array(if flat { 2 * n } else { n });
    h.random_with_count(count, &mut rng(), |f, v| {
        if withvalues && out.resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    });
}

// ---- HSCAN ----------------------------------------------------------------------

/// HSCAN's options: COUNT and MATCH (TYPE is for SCAN only).
fn parse_hscan_opts<'a>(args: &Args<'a>) -> OpResult<(usize, Option<&'a [u8]>)> {
    crate::families::keys::parse_key_scan_opts(args, 3)
}

/// A field and its value, copied out of the hash.
pub type Pair = (Vec<u8>, Vec<u8>);

/// One HSCAN step: the next cursor (0 when done) and the pairs whose field
/// matches `pattern`. COUNT counts reply elements, a field and its value
/// each, as in Redis; a listpack-encoded hash is returned whole.
pub fn op_hscan(h: &Hash, cursor: u64, count: usize, pattern: Option<&[u8]>) -> (u64, Vec<Pair>) {
    let mut found = Vec::new();
    let next = h.scan(cursor, count.div_ceil(2), |f, v| {
        if pattern.is_none_or(|p| kevy_store::glob::matches(p, f)) {
            found.push((f.to_vec(), v.to_vec()));
        }
    });
    (next, found)
}

/// HSCAN: the cursor is checked first, then the key, then the options,
/// in Redis's order (a missing key ignores bad options).
fn cmd_hscan(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let cursor = match parse_cursor(args.get(2)) {
        Ok(c) => c,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let h = match lookup(&mut db, args.get(1)) {
        Ok(h) => h,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let (next, found) = match h.map(|h| (h, parse_hscan_opts(&args))) {
        None => (0, Vec::new()),
        Some((_, Err(e))) => return reply_error(&mut ctx.out, e),
        Some((h, Ok((count, pattern)))) => op_hscan(h, cursor, count, pattern),
    };
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(2 * found.len());
    for (f, v) in &found {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::*;

    /// The bulk strings of a reply, in order (headers dropped).
    fn bulks(reply: &str) -> Vec<String> {
        let lines: Vec<&str> = reply.split("\r\n").collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].starts_with('$') && lines[i] != "$-1" {
                out.push(lines[i + 1].to_string());
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn set_get_and_friends() {
        let mut t = T::new();
        assert_eq!(t.run(&["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(t.run(&["HSET", "h", "a", "x", "c", "3"]), int(1));
        assert_eq!(t.run(&["HGET", "h", "a"]), bulk("x"));
        assert_eq!(t.run(&["HGET", "h", "zz"]), NULL);
        assert_eq!(t.run(&["HGET", "nokey", "a"]), NULL);
        assert_eq!(t.run(&["HMSET", "h", "d", "4"]), OK);
        assert_eq!(t.run(&["HSETNX", "h", "d", "5"]), int(0));
        assert_eq!(t.run(&["HSETNX", "h", "e", "5"]), int(1));
        assert_eq!(t.run(&["HSETNX", "new", "f", "v"]), int(1));
        assert_eq!(t.run(&["TYPE", "new"]), "+hash\r\n");
        assert_eq!(t.run(&["HLEN", "h"]), int(5));
        assert_eq!(t.run(&["HLEN", "nokey"]), int(0));
        assert_eq!(t.run(&["HEXISTS", "h", "a"]), int(1));
        assert_eq!(t.run(&["HEXISTS", "h", "zz"]), int(0));
        assert_eq!(t.run(&["HSTRLEN", "h", "a"]), int(1));
        assert_eq!(t.run(&["HSTRLEN", "h", "zz"]), int(0));
        assert_eq!(
            t.run(&["HMGET", "h", "a", "zz", "b"]),
            "*3\r\n$1\r\nx\r\n$-1\r\n$1\r\n2\r\n"
        );
        assert_eq!(t.run(&["HMGET", "nokey", "a"]), "*1\r\n$-1\r\n");
        assert_eq!(
            t.run(&["HGETALL", "h"]),
            arr(&["a", "x", "b", "2", "c", "3", "d", "4", "e", "5"])
        );
        assert_eq!(t.run(&["HKEYS", "h"]), arr(&["a", "b", "c", "d", "e"]));
        assert_eq!(t.run(&["HVALS", "h"]), arr(&["x", "2", "3", "4", "5"]));
        assert_eq!(t.run(&["HGETALL", "nokey"]), EMPTY);
        assert_eq!(t.run(&["HKEYS", "nokey"]), EMPTY);
    }

    #[test]
    fn argument_counts() {
        let mut t = T::new();
        for (cmd, argv) in [
            ("hset", &["HSET", "h", "a", "1", "b"][..]),
            ("hmset", &["HMSET", "h", "a", "1", "b"]),
            ("hset", &["HSET", "h", "a"]),
            ("hmget", &["HMGET", "h"]),
            ("hdel", &["HDEL", "h"]),
            ("hsetnx", &["HSETNX", "h", "a"]),
        ] {
            assert_eq!(
                t.run(argv),
                format!("-ERR wrong number of arguments for '{cmd}' command\r\n")
            );
        }
        assert_eq!(t.run(&["EXISTS", "h"]), int(0));
    }

    #[test]
    fn hdel_deletes_empty_hash() {
        let mut t = T::new();
        assert_eq!(t.run(&["HDEL", "nokey", "a"]), int(0));
        t.run(&["HSET", "h", "a", "1", "b", "2"]);
        t.run(&["EXPIRE", "h", "100"]);
        assert_eq!(t.run(&["HDEL", "h", "a", "a", "zz"]), int(1));
        assert_eq!(t.run(&["TTL", "h"]), int(100), "a write keeps the TTL");
        assert_eq!(t.run(&["HDEL", "h", "b"]), int(1));
        assert_eq!(t.run(&["EXISTS", "h"]), int(0));
        assert_eq!(t.run(&["DBSIZE"]), int(0));
    }

    #[test]
    fn wrongtype_everywhere() {
        let mut t = T::new();
        t.run(&["SET", "s", "v"]);
        for argv in [
            &["HSET", "s", "a", "1"][..],
            &["HMSET", "s", "a", "1"],
            &["HSETNX", "s", "a", "1"],
            &["HGET", "s", "a"],
            &["HMGET", "s", "a"],
            &["HDEL", "s", "a"],
            &["HEXISTS", "s", "a"],
            &["HLEN", "s"],
            &["HSTRLEN", "s", "a"],
            &["HINCRBY", "s", "a", "1"],
            &["HINCRBYFLOAT", "s", "a", "1"],
            &["HGETALL", "s"],
            &["HKEYS", "s"],
            &["HVALS", "s"],
            &["HRANDFIELD", "s"],
            &["HRANDFIELD", "s", "0"],
            &["HRANDFIELD", "s", "2", "WITHVALUES"],
            &["HSCAN", "s", "0"],
            &["HSCAN", "s", "0", "COUNT", "0"],
        ] {
            assert_eq!(t.run(argv), WRONGTYPE, "{argv:?}");
        }
        assert_eq!(t.run(&["GET", "s"]), bulk("v"));
        t.run(&["HSET", "h", "a", "1"]);
        assert_eq!(t.run(&["GET", "h"]), WRONGTYPE);
    }

    #[test]
    fn hincrby_rules() {
        let mut t = T::new();
        assert_eq!(t.run(&["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(t.run(&["HINCRBY", "h", "n", "-7"]), int(-2));
        assert_eq!(t.run(&["HGET", "h", "n"]), bulk("-2"));
        assert_eq!(t.run(&["HINCRBY", "h", "n", "x"]), NOTINT);
        assert_eq!(t.run(&["HINCRBY", "h", "n", "1.5"]), NOTINT);
        // The increment is checked before the key's type.
        t.run(&["SET", "s", "v"]);
        assert_eq!(t.run(&["HINCRBY", "s", "n", "x"]), NOTINT);
        t.run(&["HSET", "h", "s", "abc", "m", "9223372036854775807"]);
        assert_eq!(
            t.run(&["HINCRBY", "h", "s", "1"]),
            "-ERR hash value is not an integer\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBY", "h", "m", "1"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(t.run(&["HGET", "h", "m"]), bulk("9223372036854775807"));
        assert_eq!(t.run(&["HINCRBY", "nokey", "f", "x"]), NOTINT);
        assert_eq!(t.run(&["EXISTS", "nokey"]), int(0));
    }

    #[test]
    fn hincrbyfloat_rules() {
        let mut t = T::new();
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "-5.0e0"]), bulk("5.6"));
        t.run(&["HSET", "h", "i", "3", "s", "abc"]);
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "i", "1.5"]), bulk("4.5"));
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "s", "1"]),
            "-ERR hash value is not a float\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "f", "abc"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "f", "nan"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "nokey", "f", "inf"]),
            "-ERR value is NaN or Infinity\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "nokey"]), int(0));
        t.run(&["HSET", "h", "big", "1e4932"]);
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "big", "1e4932"]),
            "-ERR increment would produce NaN or Infinity\r\n"
        );
        assert_eq!(t.run(&["HGET", "h", "big"]), bulk("1e4932"));
    }

    #[test]
    fn hrandfield_shapes() {
        let mut t = T::new();
        assert_eq!(t.run(&["HRANDFIELD", "nokey"]), NULL);
        assert_eq!(t.run(&["HRANDFIELD", "nokey", "5"]), EMPTY);
        assert_eq!(t.run(&["HRANDFIELD", "nokey", "-5", "WITHVALUES"]), EMPTY);
        t.run(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let one = t.run(&["HRANDFIELD", "h"]);
        assert!(["a", "b", "c"].map(bulk).contains(&one), "{one}");
        assert_eq!(t.run(&["HRANDFIELD", "h", "0"]), EMPTY);
        assert_eq!(t.run(&["HRANDFIELD", "h", "10"]), arr(&["a", "b", "c"]));
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "3", "withvalues"]),
            arr(&["a", "1", "b", "2", "c", "3"])
        );
        let r = t.run(&["HRANDFIELD", "h", "2"]);
        assert!(r.starts_with("*2\r\n"), "{r}");
        let picks = bulks(&r);
        assert_ne!(picks[0], picks[1], "distinct when the count is positive");
        let r = t.run(&["HRANDFIELD", "h", "-7", "WITHVALUES"]);
        assert!(r.starts_with("*14\r\n"), "{r}");
        for pair in bulks(&r).chunks(2) {
            let want = (pair[0].as_bytes()[0] - b'a' + b'1') as char;
            assert_eq!(pair[1], want.to_string());
        }
        t.client.resp3 = true;
        let r = t.run(&["HRANDFIELD", "h", "-2", "WITHVALUES"]);
        assert!(r.starts_with("*2\r\n*2\r\n$1\r\n"), "{r}");
        assert_eq!(t.run(&["HRANDFIELD", "nokey"]), "_\r\n");
        assert_eq!(t.run(&["HRANDFIELD", "nokey", "1"]), EMPTY);
    }

    #[test]
    fn hrandfield_errors() {
        let mut t = T::new();
        t.run(&["HSET", "h", "a", "1"]);
        assert_eq!(t.run(&["HRANDFIELD", "h", "x"]), NOTINT);
        assert_eq!(t.run(&["HRANDFIELD", "h", "x", "foo"]), NOTINT);
        assert_eq!(t.run(&["HRANDFIELD", "h", "1", "foo"]), SYNTAX);
        assert_eq!(t.run(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]), SYNTAX);
        assert_eq!(t.run(&["HRANDFIELD", "nokey", "0", "foo"]), SYNTAX);
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
        );
        for n in ["4611686018427387904", "-4611686018427387904"] {
            assert_eq!(
                t.run(&["HRANDFIELD", "h", n, "WITHVALUES"]),
                "-ERR value is out of range\r\n"
            );
        }
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"]),
            arr(&["a", "1"])
        );
    }

    #[test]
    fn resp3_shapes() {
        let mut t = T::new();
        t.client.resp3 = true;
        assert_eq!(t.run(&["HGETALL", "nokey"]), "%0\r\n");
        assert_eq!(t.run(&["HGET", "nokey", "a"]), "_\r\n");
        t.run(&["HSET", "h", "a", "1"]);
        assert_eq!(t.run(&["HGETALL", "h"]), "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(t.run(&["HMGET", "h", "a", "b"]), "*2\r\n$1\r\n1\r\n_\r\n");
        assert_eq!(
            t.run(&["HSCAN", "h", "0"]),
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
    }

    #[test]
    fn hscan_small_and_errors() {
        let mut t = T::new();
        assert_eq!(t.run(&["HSCAN", "nokey", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        // Options are only read once the key is known to hold a hash.
        assert_eq!(
            t.run(&["HSCAN", "nokey", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        assert_eq!(t.run(&["HSCAN", "nokey", "x"]), "-ERR invalid cursor\r\n");
        t.run(&["HSET", "h", "a1", "1", "b1", "2", "a2", "3"]);
        // A listpack answers whole, cursor 0, whatever the cursor given.
        assert_eq!(
            t.run(&["HSCAN", "h", "77", "MATCH", "a*", "COUNT", "1"]),
            "*2\r\n$1\r\n0\r\n*4\r\n$2\r\na1\r\n$1\r\n1\r\n$2\r\na2\r\n$1\r\n3\r\n"
        );
        assert_eq!(t.run(&["HSCAN", "h", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(t.run(&["HSCAN", "h", "0", "COUNT", "x"]), NOTINT);
        assert_eq!(t.run(&["HSCAN", "h", "0", "MATCH"]), SYNTAX);
        assert_eq!(t.run(&["HSCAN", "h", "0", "TYPE", "string"]), SYNTAX);
        assert!(t
            .run(&["HSCAN", "h", "-1"])
            .starts_with("*2\r\n$1\r\n0\r\n*6\r\n"));
    }

    #[test]
    fn big_hash_scans_every_field_once_in_all() {
        let mut t = T::new();
        let mut argv = vec!["HSET".to_string(), "h".to_string()];
        for i in 0..600 {
            argv.push(format!("f{i}"));
            argv.push(format!("v{i}"));
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        assert_eq!(t.run(&argv), int(600));
        assert_eq!(t.run(&["HLEN", "h"]), int(600));
        let mut seen = std::collections::HashMap::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let r = t.run(&["HSCAN", "h", &cursor, "COUNT", "20", "MATCH", "f1*"]);
            let b = bulks(&r);
            cursor = b[0].clone();
            for pair in b[1..].chunks(2) {
                assert_eq!(pair[0][1..], pair[1][1..]);
                *seen.entry(pair[0].clone()).or_insert(0) += 1;
            }
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert!(calls > 10, "{calls} calls");
        // f1, f10..f19, f100..f199 (600 fields: past the listpack limit).
        assert_eq!(seen.len(), 111);
        assert!(seen.values().all(|&n| n == 1));
        let r = t.run(&["HRANDFIELD", "h", "-3", "WITHVALUES"]);
        assert_eq!(bulks(&r).len(), 6);
        assert_eq!(bulks(&t.run(&["HRANDFIELD", "h", "400"])).len(), 400);
        assert_eq!(bulks(&t.run(&["HRANDFIELD", "h", "20"])).len(), 20);
        assert_eq!(bulks(&t.run(&["HKEYS", "h"])).len(), 600);
        for i in 0..600 {
            t.run(&["HDEL", "h", &format!("f{i}")]);
        }
        assert_eq!(t.run(&["EXISTS", "h"]), int(0));
    }

    #[test]
    fn memory_is_accounted_and_released() {
        let mut t = T::new();
        let empty = t.shard.store.used_memory();
        for i in 0..300 {
            t.run(&["HSET", "h", &format!("field:{i}"), &"x".repeat(100)]);
        }
        let full = t.shard.store.used_memory();
        assert!(full - empty > 300 * 100, "{}", full - empty);
        for i in 0..300 {
            t.run(&["HDEL", "h", &format!("field:{i}")]);
        }
        let left = t.shard.store.used_memory() - empty;
        assert!(left < 1024, "{left}");
    }

    #[test]
    fn writes_count_as_dirty_and_reads_do_not() {
        let mut t = T::new();
        let d0 = t.shard.store.dirty;
        t.run(&["HSET", "h", "a", "1"]);
        t.run(&["HGET", "h", "a"]);
        t.run(&["HSETNX", "h", "a", "2"]);
        t.run(&["HDEL", "h", "zz"]);
        t.run(&["HINCRBY", "h", "a", "x"]);
        assert_eq!(t.shard.store.dirty, d0 + 1);
        t.run(&["HINCRBY", "h", "a", "1"]);
        assert_eq!(t.shard.store.dirty, d0 + 2);
    }
}
