//! The sets command family (Redis's `t_set.c`): membership, random pops
//! and picks, SMOVE, the algebra (SINTER, SUNION, SDIFF, their STORE forms
//! and SINTERCARD) and SSCAN.
//!
//! A [`Db`] lends out one value at a time, so the multi-key commands work
//! key by key: a first pass looks every key up and checks its type (a
//! WRONGTYPE anywhere fails the command before anything is computed, as in
//! Redis 7.0), then the result is built in a local set or member list while
//! each source is borrowed in turn. Missing keys are empty sets; a set that
//! becomes empty is deleted.

use super::common::modify_as;
use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::families::keys::parse_cursor;
use crate::notify::{GENERIC, SET};
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::num::parse_i64;
use kevy_store::sample::{random_reply_len, Rng};
use kevy_store::set::{Member, Set};
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@set", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@set", "@slow"];
    const W_FAST: &[&str] = &["@write", "@set", "@fast"];
    const W_SLOW: &[&str] = &["@write", "@set", "@slow"];
    let _one = RouteKind::Keys(Fold::One);
    let spec = CommandSpec::single_key;
    // Every key of a multi-key command is served as one unit (Fold::One):
    // when they span shards the runtime runs the command over copies.
    let all = |name, arity, flags, acl, run| CommandSpec {
        last: -1,
        ..spec(name, arity, flags, acl, run)
    };
    t.add(spec("sadd", -3, WRITE | DENYOOM | FAST, W_FAST, cmd_sadd));
    t.add(spec("srem", -3, WRITE | FAST, W_FAST, cmd_srem));
    t.add(spec("smembers", 2, READONLY, R_SLOW, cmd_smembers));
    t.add(spec("sismember", 3, READONLY | FAST, R_FAST, cmd_sismember));
    t.add(spec(
        "smismember",
        -3,
        READONLY | FAST,
        R_FAST,
        cmd_smismember,
    ));
    t.add(spec("scard", 2, READONLY | FAST, R_FAST, cmd_scard));
    t.add(spec("spop", -2, WRITE | FAST, W_FAST, cmd_spop));
    t.add(spec("srandmember", -2, READONLY, R_SLOW, cmd_srandmember));
    t.add(CommandSpec {
        last: 2,
        ..spec("smove", 4, WRITE | FAST, W_FAST, cmd_smove)
    });
    t.add(all("sinter", -2, READONLY, R_SLOW, cmd_sinter));
    t.add(all("sunion", -2, READONLY, R_SLOW, cmd_sunion));
    t.add(all("sdiff", -2, READONLY, R_SLOW, cmd_sdiff));
    t.add(all(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        W_SLOW,
        cmd_sinterstore,
    ));
    t.add(all(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        W_SLOW,
        cmd_sunionstore,
    ));
    t.add(all(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        W_SLOW,
        cmd_sdiffstore,
    ));
    // SINTERCARD's keys follow its numkeys argument: Redis reports no key
    // range (0,0,0, movablekeys) and a custom route finds them.
    t.add(CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route_sintercard),
        ..spec(
            "sintercard",
            -3,
            READONLY | MOVABLEKEYS,
            R_SLOW,
            cmd_sintercard,
        )
    });
    t.add(spec("sscan", -3, READONLY, R_SLOW, cmd_sscan));
}

/// SPOP's count below zero or not an integer (`getPositiveLongFromObjectOrReply`).
const COUNT_NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
/// SRANDMEMBER's count of `i64::MIN`, whose negation does not fit.
const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

// ---- shared helpers -------------------------------------------------------------

/// A generator for one command's random picks, seeded from the thread's.
fn rng() -> Rng {
    Rng::new(kevy_store::rng::next_u64())
}

/// The set at `key` with a read lookup (counting a hit or miss); `None`
/// when the key is missing.
fn read_set<'a>(db: &'a mut Db<'_>, key: &[u8]) -> OpResult<Option<&'a Set>> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// The set at `key` without statistics, for keys a first pass has already
/// looked up and type-checked.
fn peek_set<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Option<&'a Set> {
    match db.peek(key) {
        Some(e) => match &e.value {
            Value::Set(s) => Some(s),
            _ => None,
        },
        None => None,
    }
}

/// Runs `f` on the set at `key` in place. `f` returns its result and
/// whether it changed the set; the update path does the rest (memory, the
/// report, deleting a set left empty). `Ok(None)` when the key is missing.
fn update_set<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Set) -> (R, bool),
) -> OpResult<Option<R>> {
    modify_as(
        db,
        key,
        |v| match v {
            Value::Set(s) => Some(s),
            _ => None,
        },
        f,
    )
}

/// Writes `result` to `dst` whatever `dst` held (no TTL), deleting `dst`
/// when the result is empty, then emits `event` (or `del` when it deleted
/// `dst`). Returns the result's cardinality.
fn store_set(ctx: &mut Ctx<'_>, dst: &[u8], result: Set, event: &'static str) -> usize {
    let n = result.len();
    if n == 0 {
        if db(ctx).remove(dst).is_some() {
            ctx.notify(GENERIC, "del", dst);
        }
    } else {
        db(ctx).set(dst, Value::Set(Box::new(result)), SetTtl::Clear);
        ctx.notify(SET, event, dst);
    }
    n
}

fn reply_member(out: &mut Reply<'_>, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_i64(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// A whole set as a RESP3 set (`~`, an array in RESP2).
fn reply_set(out: &mut Reply<'_>, s: &Set) {
    out.set(s.len());
    for m in s.iter() {
        reply_member(out, m);
    }
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

// ---- SADD / SREM ----------------------------------------------------------------

/// Adds `members` to the set at `key`, creating it when missing. Returns
/// how many were new.
pub fn op_sadd<'m>(
    db: &mut Db<'_>,
    key: &[u8],
    members: impl ExactSizeIterator<Item = &'m [u8]>,
) -> OpResult<usize> {
    let mut members = members.peekable();
    let mut k = db.update(key);
    match k.value_mut() {
        Some(Value::Set(s)) => {
            let added = members.filter(|m| s.insert(m)).count();
            if added > 0 {
                k.changed();
            }
            Ok(added)
        }
        Some(_) => Err(OpError::WrongType),
        None => {
            let Some(&first) = members.peek() else {
                return Ok(0);
            };
            let mut s = Set::with_hint(first, members.len());
            let added = members.filter(|m| s.insert(m)).count();
            k.insert(Value::Set(Box::new(s)), SetTtl::Clear);
            Ok(added)
        }
    }
}

fn cmd_sadd(ctx: &mut Ctx<'_>) {
    let (key, args) = (ctx.args.get(1), ctx.args);
    match op_sadd(&mut db(ctx), key, args.iter().skip(2)) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(SET, "sadd", key);
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// Removes `members` from the set at `key`; returns how many were there.
pub fn op_srem<'m>(
    db: &mut Db<'_>,
    key: &[u8],
    members: impl Iterator<Item = &'m [u8]>,
) -> OpResult<usize> {
    let r = update_set(db, key, |s| {
        let mut removed = 0;
        for m in members {
            removed += s.remove(m) as usize;
            if s.is_empty() {
                break;
            }
        }
        (removed, removed > 0)
    })?;
    Ok(r.unwrap_or(0))
}

fn cmd_srem(ctx: &mut Ctx<'_>) {
    let (key, args) = (ctx.args.get(1), ctx.args);
    match op_srem(&mut db(ctx), key, args.iter().skip(2)) {
        Ok(n) => {
            if n > 0 {
                ctx.notify_and_del(SET, "srem", key);
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- reads ----------------------------------------------------------------------

fn cmd_smembers(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let mut db = ctx.shard.store.db(ctx.db);
    match read_set(&mut db, key) {
        Ok(Some(s)) => reply_set(&mut ctx.out, s),
        Ok(None) => ctx.out.set(0),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

pub fn op_sismember(db: &mut Db<'_>, key: &[u8], member: &[u8]) -> OpResult<bool> {
    Ok(read_set(db, key)?.is_some_and(|s| s.contains(member)))
}

fn cmd_sismember(ctx: &mut Ctx<'_>) {
    let (key, member) = (ctx.args.get(1), ctx.args.get(2));
    match op_sismember(&mut db(ctx), key, member) {
        Ok(b) => ctx.out.int(b as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_smismember(ctx: &mut Ctx<'_>) {
    let (key, args) = (ctx.args.get(1), ctx.args);
    let mut db = ctx.shard.store.db(ctx.db);
    match read_set(&mut db, key) {
        Ok(s) => {
            ctx.out.array(args.len() - 2);
            for m in args.iter().skip(2) {
                ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
            }
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

pub fn op_scard(db: &mut Db<'_>, key: &[u8]) -> OpResult<usize> {
    Ok(read_set(db, key)?.map_or(0, Set::len))
}

fn cmd_scard(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match op_scard(&mut db(ctx), key) {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- SPOP / SRANDMEMBER ---------------------------------------------------------

/// SPOP without a count: removes and returns a random member.
pub fn op_spop(db: &mut Db<'_>, key: &[u8], rng: &mut Rng) -> OpResult<Option<Vec<u8>>> {
    let r = update_set(db, key, |s| {
        let m = s.pop(rng);
        let changed = m.is_some();
        (m, changed)
    })?;
    Ok(r.flatten())
}

/// SPOP with a count: removes and returns up to `count` distinct random
/// members (all of them, deleting the key, when `count` reaches the
/// cardinality). `None` when the key is missing.
pub fn op_spop_count(
    db: &mut Db<'_>,
    key: &[u8],
    count: usize,
    rng: &mut Rng,
) -> OpResult<Option<Vec<Vec<u8>>>> {
    update_set(db, key, |s| {
        if count == 0 {
            return (Vec::new(), false);
        }
        (s.pop_count(count, rng), true)
    })
}

fn cmd_spop(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match ctx.args.len() {
        2 => match op_spop(&mut db(ctx), key, &mut rng()) {
            Ok(Some(m)) => {
                ctx.propagate(&[b"SREM", key, &m]);
                ctx.notify_and_del(SET, "spop", key);
                ctx.out.bulk(&m)
            }
            Ok(None) => ctx.out.null(),
            Err(e) => reply_error(&mut ctx.out, e),
        },
        3 => {
            let count = parse_i64(ctx.args.get(2))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(OpError::Family(COUNT_NOT_POSITIVE));
            match count.and_then(|n| op_spop_count(&mut db(ctx), key, n, &mut rng())) {
                Ok(popped) => {
                    let popped = popped.unwrap_or_default();
                    if !popped.is_empty() && ctx.propagating() {
                        propagate_spop(ctx, key, &popped);
                    }
                    if !popped.is_empty() {
                        ctx.notify_and_del(SET, "spop", key);
                    }
                    ctx.out.set(popped.len());
                    for m in &popped {
                        ctx.out.bulk(m);
                    }
                }
                Err(e) => reply_error(&mut ctx.out, e),
            }
        }
        _ => reply_error(&mut ctx.out, OpError::Syntax),
    }
}

/// SPOP with a count as Redis propagates it: `DEL` when it took the whole
/// set, else one `SREM` of what it took.
fn propagate_spop(ctx: &mut Ctx<'_>, key: &[u8], popped: &[Vec<u8>]) {
    if db(ctx).peek(key).is_none() {
        ctx.propagate(&[b"DEL", key]);
    } else {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(popped.len() + 2);
        argv.push(b"SREM");
        argv.push(key);
        argv.extend(popped.iter().map(|m| m.as_slice()));
        ctx.propagate(&argv);
    }
}

/// SRANDMEMBER's count: `i64::MIN` is out of range, since Redis negates it.
fn parse_rand_count(a: &[u8]) -> OpResult<i64> {
    match parse_i64(a) {
        None => Err(OpError::NotInteger),
        Some(i64::MIN) => Err(OpError::Family(COUNT_OUT_OF_RANGE)),
        Some(n) => Ok(n),
    }
}

/// SRANDMEMBER. A negative count of `-n` replies with `n` picks that may
/// repeat. Known limit, shared with Redis: the whole reply is buffered
/// before it is sent, so a huge negative count costs that much memory.
fn cmd_srandmember(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let count = match ctx.args.len() {
        2 => None,
        3 => match parse_rand_count(ctx.args.get(2)) {
            Ok(n) => Some(n),
            Err(e) => return reply_error(&mut ctx.out, e),
        },
        _ => return reply_error(&mut ctx.out, OpError::Syntax),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let set = match read_set(&mut db, key) {
        Ok(s) => s,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let mut rng = rng();
    let out = &mut ctx.out;
    match (count, set) {
        (None, Some(s)) => match s.random(&mut rng) {
            Some(m) => reply_member(out, m),
            None => out.null(),
        },
        (None, None) => out.null(),
        (Some(_), None) => out.array(0),
        (Some(n), Some(s)) => {
            out.array(random_reply_len(n, s.len()));
            s.random_with_count(n, &mut rng, |m| out.bulk(m));
        }
    }
}

// ---- SMOVE ----------------------------------------------------------------------

/// Moves `member` from the set at `src` to the one at `dst` (created when
/// missing), with Redis's events in its order: `srem` (and `del`) on the
/// source before the destination is created. `Ok(false)` when `src` is
/// missing or lacks the member; when `src == dst`, whether the member is
/// there.
fn op_smove(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], member: &[u8]) -> OpResult<bool> {
    let d = &mut db(ctx);
    let is_set = |v: &Value| matches!(v, Value::Set(_));
    match d.peek(src) {
        None => return Ok(false),
        Some(e) if !is_set(&e.value) => return Err(OpError::WrongType),
        Some(_) => {}
    }
    if d.peek(dst).is_some_and(|e| !is_set(&e.value)) {
        return Err(OpError::WrongType);
    }
    if src == dst {
        return Ok(peek_set(d, src).is_some_and(|s| s.contains(member)));
    }
    let removed = update_set(d, src, |s| {
        let r = s.remove(member);
        (r, r)
    })?;
    if removed != Some(true) {
        return Ok(false);
    }
    ctx.notify_and_del(SET, "srem", src);
    if op_sadd(&mut db(ctx), dst, std::iter::once(member))? > 0 {
        ctx.notify(SET, "sadd", dst);
    }
    Ok(true)
}

fn cmd_smove(ctx: &mut Ctx<'_>) {
    let (src, dst, member) = (ctx.args.get(1), ctx.args.get(2), ctx.args.get(3));
    match op_smove(ctx, src, dst, member) {
        Ok(moved) => ctx.out.int(moved as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- SINTER, SUNION, SDIFF and their STORE forms --------------------------------

/// Looks every key up as a set (read lookups) and returns the
/// cardinalities, 0 for a missing key; the first key that holds another
/// type fails the lot.
fn cardinalities(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<Vec<usize>> {
    keys.iter()
        .map(|k| Ok(read_set(db, k)?.map_or(0, Set::len)))
        .collect()
}

/// The members in every set at `keys` (Redis's `sinterGenericCommand`):
/// the smallest set's members are the candidates, and each other set, from
/// the smallest up, keeps those it holds. Empty as soon as a key is missing.
pub fn op_inter(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<Vec<Vec<u8>>> {
    let lens = cardinalities(db, keys)?;
    if lens.contains(&0) {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| lens[i]);
    let smallest = keys[order[0]];
    let mut found = peek_set(db, smallest).map_or_else(Vec::new, Set::to_vecs);
    for &i in &order[1..] {
        if found.is_empty() {
            break;
        }
        if keys[i] == smallest {
            continue;
        }
        match peek_set(db, keys[i]) {
            Some(s) => found.retain(|m| s.contains(m)),
            None => found.clear(),
        }
    }
    Ok(found)
}

/// The members in any set at `keys`.
pub fn op_union(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<Set> {
    let lens = cardinalities(db, keys)?;
    // Start from a copy of the largest set: the rest is inserted into it.
    let Some(big) = (0..keys.len())
        .filter(|&i| lens[i] > 0)
        .max_by_key(|&i| lens[i])
    else {
        return Ok(Set::new());
    };
    let mut out = peek_set(db, keys[big]).cloned().unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        if i == big || lens[i] == 0 || *k == keys[big] {
            continue;
        }
        if let Some(s) = peek_set(db, k) {
            s.for_each(|m| {
                out.insert(m);
            });
        }
    }
    Ok(out)
}

/// The members of the first set at `keys` in none of the others.
pub fn op_diff(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<Set> {
    let lens = cardinalities(db, keys)?;
    if lens[0] == 0 {
        return Ok(Set::new());
    }
    let mut out = peek_set(db, keys[0]).cloned().unwrap_or_default();
    for k in &keys[1..] {
        if out.is_empty() {
            break;
        }
        let Some(s) = peek_set(db, k) else {
            continue;
        };
        // Walk whichever side is smaller.
        if s.len() <= out.len() {
            s.for_each(|m| {
                out.remove(m);
            });
        } else {
            let gone: Vec<Vec<u8>> = out
                .iter()
                .map(|m| m.to_vec())
                .filter(|m| s.contains(m))
                .collect();
            for m in &gone {
                out.remove(m);
            }
        }
    }
    Ok(out)
}

/// A member list known to be distinct, as a set.
fn set_from(members: &[Vec<u8>]) -> Set {
    let Some(first) = members.first() else {
        return Set::new();
    };
    let mut s = Set::with_hint(first, members.len());
    for m in members {
        s.insert(m);
    }
    s
}

/// SINTER and SINTERSTORE (`store`: the first argument is the destination).
fn inter_generic(ctx: &mut Ctx<'_>, store: bool) {
    let args = ctx.args;
    let keys: Vec<&[u8]> = args.iter().skip(1 + store as usize).collect();
    let mut db = ctx.shard.store.db(ctx.db);
    let found = match op_inter(&mut db, &keys) {
        Ok(f) => f,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    if store {
        let n = store_set(ctx, args.get(1), set_from(&found), "sinterstore");
        ctx.out.int(n as i64);
    } else {
        ctx.out.set(found.len());
        for m in &found {
            ctx.out.bulk(m);
        }
    }
}

fn cmd_sinter(ctx: &mut Ctx<'_>) {
    inter_generic(ctx, false);
}

fn cmd_sinterstore(ctx: &mut Ctx<'_>) {
    inter_generic(ctx, true);
}

/// SUNION, SDIFF and their STORE forms (Redis's `sunionDiffGenericCommand`).
fn union_diff_generic(ctx: &mut Ctx<'_>, diff: bool, store: bool) {
    let args = ctx.args;
    let keys: Vec<&[u8]> = args.iter().skip(1 + store as usize).collect();
    let mut db = ctx.shard.store.db(ctx.db);
    let r = if diff {
        op_diff(&mut db, &keys)
    } else {
        op_union(&mut db, &keys)
    };
    match r {
        Ok(s) if store => {
            let event = if diff { "sdiffstore" } else { "sunionstore" };
            let n = store_set(ctx, args.get(1), s, event);
            ctx.out.int(n as i64);
        }
        Ok(s) => reply_set(&mut ctx.out, &s),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_sunion(ctx: &mut Ctx<'_>) {
    union_diff_generic(ctx, false, false);
}

fn cmd_sunionstore(ctx: &mut Ctx<'_>) {
    union_diff_generic(ctx, false, true);
}

fn cmd_sdiff(ctx: &mut Ctx<'_>) {
    union_diff_generic(ctx, true, false);
}

fn cmd_sdiffstore(ctx: &mut Ctx<'_>) {
    union_diff_generic(ctx, true, true);
}

// ---- SINTERCARD -----------------------------------------------------------------

/// SINTERCARD's `numkeys` and LIMIT (0: none), checked in Redis's order.
fn parse_sintercard(args: &Args<'_>) -> OpResult<(usize, usize)> {
    let numkeys = parse_i64(args.get(1))
        .filter(|&n| n > 0)
        .ok_or(OpError::Family(NUMKEYS_NOT_POSITIVE))? as u64;
    if numkeys > (args.len() - 2) as u64 {
        return Err(OpError::Family(NUMKEYS_TOO_MANY));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            limit = parse_i64(args.get(j + 1))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(OpError::Family(LIMIT_NEGATIVE))?;
            j += 2;
        } else {
            return Err(OpError::Syntax);
        }
    }
    Ok((numkeys, limit))
}

/// SINTERCARD's keys are arguments `2..2 + numkeys`; bad arguments are
/// refused before any shard is involved.
fn route_sintercard(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let (numkeys, _) =
        parse_sintercard(&args).map_err(|e| crate::errors::message(e).into_owned())?;
    Ok(Route::Keys {
        first: 2,
        last: i32::try_from(1 + numkeys).unwrap_or(i32::MAX),
        step: 1,
        extra: 0,
        fold: Fold::One,
    })
}

/// How many members are in every set at `keys`, counting up to `limit`
/// (0: no limit).
pub fn op_inter_card(db: &mut Db<'_>, keys: &[&[u8]], limit: usize) -> OpResult<usize> {
    let n = if keys.len() == 1 {
        read_set(db, keys[0])?.map_or(0, Set::len)
    } else {
        op_inter(db, keys)?.len()
    };
    Ok(if limit == 0 { n } else { n.min(limit) })
}

fn cmd_sintercard(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = parse_sintercard(&args).and_then(|(numkeys, limit)| {
        let keys: Vec<&[u8]> = args.iter().skip(2).take(numkeys).collect();
        op_inter_card(&mut db(ctx), &keys, limit)
    });
    match r {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- SSCAN ----------------------------------------------------------------------

/// SSCAN's COUNT and MATCH (Redis's `scanGenericCommand`; TYPE is for SCAN
/// only).
fn parse_sscan_opts<'a>(args: &Args<'a>) -> OpResult<(usize, Option<&'a [u8]>)> {
    crate::families::keys::parse_key_scan_opts(args, 3)
}

/// One SSCAN step: the next cursor and the members found. A small set
/// (intset or listpack) comes back whole with cursor 0, as in Redis.
pub fn op_sscan(
    db: &mut Db<'_>,
    key: &[u8],
    cursor: u64,
    args: &Args<'_>,
) -> OpResult<(u64, Vec<Vec<u8>>)> {
    // Redis checks the key before the options.
    let Some(s) = read_set(db, key)? else {
        return Ok((0, Vec::new()));
    };
    let (count, pattern) = parse_sscan_opts(args)?;
    let mut found = Vec::new();
    let next = s.scan(cursor, count, |m| {
        if pattern.is_none_or(|p| kevy_store::glob::matches(p, m)) {
            found.push(m.to_vec());
        }
    });
    Ok((next, found))
}

fn cmd_sscan(ctx: &mut Ctx<'_>) {
    let (key, args) = (ctx.args.get(1), ctx.args);
    let r = parse_cursor(args.get(2)).and_then(|c| op_sscan(&mut db(ctx), key, c, &args));
    match r {
        Ok((next, found)) => {
            ctx.out.array(2);
            ctx.out.bulk(next.to_string().as_bytes());
            ctx.out.array(found.len());
            for m in &found {
                ctx.out.bulk(m);
            }
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;
    use std::collections::BTreeSet;

    fn err(s: &str) -> String {
        format!("-{s}\r\n")
    }

    /// The bulk strings of a flat aggregate reply (or of a SCAN-style reply's
    /// second part), sorted.
    fn members(reply: &str) -> BTreeSet<String> {
        let lines: Vec<&str> = reply.split("\r\n").collect();
        let mut out = BTreeSet::new();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].starts_with('$') && lines[i] != "$-1" {
                out.insert(lines[i + 1].to_string());
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }

    /// A SCAN-style reply's cursor and members.
    fn scan_reply(reply: &str) -> (String, BTreeSet<String>) {
        let mut parts = reply.splitn(4, "\r\n");
        let cursor = parts.nth(2).unwrap().to_string();
        (cursor, members(parts.next().unwrap()))
    }

    fn set_of(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The reply's aggregate length (`*n` / `~n`).
    fn agg_len(reply: &str) -> usize {
        reply[1..reply.find("\r\n").unwrap()].parse().unwrap()
    }

    #[test]
    fn sadd_srem_scard_membership() {
        let mut t = T::new();
        assert_eq!(t.run(&["SADD", "s", "a", "b", "a"]), int(2));
        assert_eq!(t.run(&["SADD", "s", "b", "c"]), int(1));
        assert_eq!(t.run(&["SCARD", "s"]), int(3));
        assert_eq!(t.run(&["SCARD", "none"]), int(0));
        assert_eq!(t.run(&["SISMEMBER", "s", "a"]), int(1));
        assert_eq!(t.run(&["SISMEMBER", "s", "z"]), int(0));
        assert_eq!(t.run(&["SISMEMBER", "none", "a"]), int(0));
        assert_eq!(
            t.run(&["SMISMEMBER", "s", "a", "z", "c"]),
            "*3\r\n:1\r\n:0\r\n:1\r\n"
        );
        assert_eq!(t.run(&["SMISMEMBER", "none", "a"]), "*1\r\n:0\r\n");
        assert_eq!(t.run(&["SREM", "s", "a", "z", "a"]), int(1));
        assert_eq!(t.run(&["SREM", "none", "a"]), int(0));
        assert_eq!(t.run(&["SREM", "s", "b", "c"]), int(2));
        assert_eq!(t.run(&["EXISTS", "s"]), int(0), "an emptied set is deleted");
        assert_eq!(t.run(&["TYPE", "s"]), "+none\r\n");
        t.run(&["SADD", "s", "1"]);
        assert_eq!(t.run(&["TYPE", "s"]), "+set\r\n");
        assert_eq!(
            t.run(&["SADD", "s"]),
            "-ERR wrong number of arguments for 'sadd' command\r\n"
        );
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut t = T::new();
        t.run(&["SET", "str", "x"]);
        t.run(&["SADD", "s", "a"]);
        for cmd in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "2"],
            &["SPOP", "str", "0"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "-2"],
            &["SRANDMEMBER", "str", "0"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "a"],
            &["SMOVE", "str", "str", "a"],
            &["SINTER", "missing", "str"],
            &["SINTER", "s", "str"],
            &["SUNION", "s", "str"],
            &["SDIFF", "missing", "str"],
            &["SINTERSTORE", "d", "missing", "str"],
            &["SUNIONSTORE", "d", "s", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SINTERCARD", "2", "s", "str"],
            &["SSCAN", "str", "0"],
            &["SSCAN", "str", "0", "COUNT", "0"],
        ] {
            assert_eq!(t.run(cmd), WRONGTYPE, "{cmd:?}");
        }
        // A missing source is checked before the destination's type.
        assert_eq!(t.run(&["SMOVE", "missing", "str", "a"]), int(0));
        assert_eq!(t.run(&["GET", "str"]), bulk("x"));
        assert_eq!(t.run(&["SMEMBERS", "s"]), "*1\r\n$1\r\na\r\n");
    }

    #[test]
    fn smembers_and_resp3_sets() {
        let mut t = T::new();
        assert_eq!(t.run(&["SMEMBERS", "none"]), EMPTY);
        t.run(&["SADD", "s", "3", "1", "2"]);
        // An intset comes back sorted.
        assert_eq!(
            t.run(&["SMEMBERS", "s"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        t.client.resp3 = true;
        assert_eq!(
            t.run(&["SMEMBERS", "s"]),
            "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(t.run(&["SMEMBERS", "none"]), "~0\r\n");
        assert_eq!(t.run(&["SINTER", "s", "none"]), "~0\r\n");
        assert!(t.run(&["SUNION", "s", "none"]).starts_with("~3\r\n"));
        assert!(t.run(&["SDIFF", "s", "none"]).starts_with("~3\r\n"));
        assert_eq!(t.run(&["SPOP", "none"]), "_\r\n");
        assert_eq!(t.run(&["SPOP", "none", "2"]), "~0\r\n");
        assert!(t.run(&["SPOP", "s", "1"]).starts_with("~1\r\n"));
        assert_eq!(t.run(&["SRANDMEMBER", "none"]), "_\r\n");
        // SRANDMEMBER with a count is an array even in RESP3.
        assert_eq!(t.run(&["SRANDMEMBER", "none", "2"]), EMPTY);
        assert!(t.run(&["SRANDMEMBER", "s", "5"]).starts_with("*2\r\n"));
        assert!(t.run(&["SRANDMEMBER", "s", "-5"]).starts_with("*5\r\n"));
    }

    #[test]
    fn spop_forms() {
        let mut t = T::new();
        assert_eq!(t.run(&["SPOP", "none"]), NULL);
        assert_eq!(t.run(&["SPOP", "none", "3"]), EMPTY);
        t.run(&["SADD", "s", "a", "b", "c", "d", "e"]);
        let all = set_of(&["a", "b", "c", "d", "e"]);
        let one = t.run(&["SPOP", "s"]);
        let one = members(&one);
        assert_eq!(one.len(), 1);
        assert!(one.is_subset(&all));
        assert_eq!(t.run(&["SCARD", "s"]), int(4));
        assert_eq!(t.run(&["SPOP", "s", "0"]), EMPTY);
        let two = members(&t.run(&["SPOP", "s", "2"]));
        assert_eq!(two.len(), 2);
        assert!(two.is_disjoint(&one) && two.is_subset(&all));
        assert_eq!(t.run(&["SCARD", "s"]), int(2));
        let rest = members(&t.run(&["SPOP", "s", "10"]));
        assert_eq!(rest.len(), 2);
        let mut seen = one;
        seen.extend(two);
        seen.extend(rest);
        assert_eq!(seen, all, "every member popped exactly once");
        assert_eq!(t.run(&["EXISTS", "s"]), int(0));
        t.run(&["SADD", "s", "x"]);
        assert_eq!(t.run(&["SPOP", "s"]), bulk("x"));
        assert_eq!(t.run(&["EXISTS", "s"]), int(0));

        let not_positive = err(COUNT_NOT_POSITIVE);
        assert_eq!(t.run(&["SPOP", "s", "-1"]), not_positive);
        assert_eq!(t.run(&["SPOP", "s", "x"]), not_positive);
        assert_eq!(t.run(&["SPOP", "s", "1", "2"]), SYNTAX);
    }

    #[test]
    fn srandmember_forms() {
        let mut t = T::new();
        assert_eq!(t.run(&["SRANDMEMBER", "none"]), NULL);
        assert_eq!(t.run(&["SRANDMEMBER", "none", "3"]), EMPTY);
        for members_in in [
            (1..=5).map(|i| i.to_string()).collect::<Vec<_>>(),
            (1..=5).map(|i| format!("m{i}")).collect(),
            (1..=300).map(|i| format!("m{i}")).collect(),
        ] {
            t.run(&["DEL", "s"]);
            let mut cmd = vec!["SADD", "s"];
            cmd.extend(members_in.iter().map(String::as_str));
            t.run(&cmd);
            let all: BTreeSet<String> = members_in.iter().cloned().collect();
            let n = all.len();
            assert!(all.is_superset(&members(&t.run(&["SRANDMEMBER", "s"]))));
            assert_eq!(t.run(&["SRANDMEMBER", "s", "0"]), EMPTY);
            for count in [1i64, 3, 5, 6, 100, 1000] {
                let r = t.run(&["SRANDMEMBER", "s", &count.to_string()]);
                let want = (count as usize).min(n);
                assert_eq!(agg_len(&r), want, "{count}");
                let got = members(&r);
                assert_eq!(got.len(), want, "distinct picks");
                assert!(got.is_subset(&all));
            }
            let r = t.run(&["SRANDMEMBER", "s", "-20"]);
            assert_eq!(agg_len(&r), 20, "repeats allowed");
            assert!(members(&r).is_subset(&all));
            assert_eq!(t.run(&["SCARD", "s"]), int(n as i64), "nothing removed");
        }
        assert_eq!(t.run(&["SRANDMEMBER", "s", "x"]), NOTINT);
        assert_eq!(
            t.run(&["SRANDMEMBER", "s", "-9223372036854775808"]),
            err(COUNT_OUT_OF_RANGE)
        );
        assert_eq!(t.run(&["SRANDMEMBER", "s", "1", "2"]), SYNTAX);
    }

    #[test]
    fn smove_cases() {
        let mut t = T::new();
        t.run(&["SADD", "src", "a", "b"]);
        assert_eq!(t.run(&["SMOVE", "src", "dst", "z"]), int(0));
        assert_eq!(t.run(&["EXISTS", "dst"]), int(0));
        assert_eq!(t.run(&["SMOVE", "src", "dst", "a"]), int(1));
        assert_eq!(t.run(&["SMEMBERS", "dst"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(t.run(&["SMOVE", "src", "src", "b"]), int(1));
        assert_eq!(t.run(&["SMOVE", "src", "src", "a"]), int(0));
        assert_eq!(t.run(&["SMOVE", "none", "none", "a"]), int(0));
        t.run(&["SADD", "dst", "b"]);
        // Already in the destination: still moved out of the source.
        assert_eq!(t.run(&["SMOVE", "src", "dst", "b"]), int(1));
        assert_eq!(t.run(&["EXISTS", "src"]), int(0));
        assert_eq!(t.run(&["SCARD", "dst"]), int(2));
        // An integer member creates an intset destination.
        t.run(&["SADD", "ints", "7", "x"]);
        assert_eq!(t.run(&["SMOVE", "ints", "new", "7"]), int(1));
        assert_eq!(t.run(&["SMEMBERS", "new"]), "*1\r\n$1\r\n7\r\n");
    }

    #[test]
    fn algebra_and_store() {
        let mut t = T::new();
        t.run(&["SADD", "a", "1", "2", "3", "x"]);
        t.run(&["SADD", "b", "2", "3", "4"]);
        t.run(&["SADD", "c", "3", "x", "2"]);
        assert_eq!(
            members(&t.run(&["SINTER", "a", "b", "c"])),
            set_of(&["2", "3"])
        );
        assert_eq!(
            members(&t.run(&["SINTER", "a"])),
            set_of(&["1", "2", "3", "x"])
        );
        assert_eq!(members(&t.run(&["SINTER", "a", "a"])).len(), 4);
        assert_eq!(t.run(&["SINTER", "a", "none"]), EMPTY);
        assert_eq!(
            members(&t.run(&["SUNION", "a", "b", "none"])),
            set_of(&["1", "2", "3", "4", "x"])
        );
        assert_eq!(t.run(&["SUNION", "none"]), EMPTY);
        assert_eq!(
            members(&t.run(&["SDIFF", "a", "b", "none"])),
            set_of(&["1", "x"])
        );
        assert_eq!(t.run(&["SDIFF", "a", "a"]), EMPTY);
        assert_eq!(t.run(&["SDIFF", "none", "a"]), EMPTY);
        assert_eq!(t.run(&["SINTERCARD", "3", "a", "b", "c"]), int(2));
        assert_eq!(
            t.run(&["SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"]),
            int(1)
        );
        assert_eq!(t.run(&["SINTERCARD", "1", "a", "limit", "0"]), int(4));
        assert_eq!(t.run(&["SINTERCARD", "2", "a", "none"]), int(0));

        // STORE overwrites any type and drops the TTL; empty deletes.
        t.run(&["SET", "d", "string", "EX", "100"]);
        assert_eq!(t.run(&["SINTERSTORE", "d", "a", "b"]), int(2));
        assert_eq!(t.run(&["TTL", "d"]), int(-1));
        assert_eq!(members(&t.run(&["SMEMBERS", "d"])), set_of(&["2", "3"]));
        assert_eq!(t.run(&["SUNIONSTORE", "d", "b", "c"]), int(4));
        assert_eq!(t.run(&["SDIFFSTORE", "d", "a", "c"]), int(1));
        assert_eq!(t.run(&["SMEMBERS", "d"]), "*1\r\n$1\r\n1\r\n");
        assert_eq!(t.run(&["SINTERSTORE", "d", "a", "none"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        t.run(&["SADD", "d", "z"]);
        assert_eq!(t.run(&["SDIFFSTORE", "d", "a", "a"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        assert_eq!(t.run(&["SUNIONSTORE", "d", "none"]), int(0));
        // The destination may be a source.
        assert_eq!(t.run(&["SUNIONSTORE", "a", "a", "b"]), int(5));
        assert_eq!(t.run(&["SDIFFSTORE", "a", "a", "c"]), int(2));
        assert_eq!(members(&t.run(&["SMEMBERS", "a"])), set_of(&["1", "4"]));
    }

    #[test]
    fn sintercard_arguments() {
        let mut t = T::new();
        t.run(&["SADD", "s", "a"]);
        let numkeys = err(NUMKEYS_NOT_POSITIVE);
        for bad in ["0", "-1", "x", "9223372036854775808"] {
            assert_eq!(t.run(&["SINTERCARD", bad, "s"]), numkeys, "{bad}");
        }
        assert_eq!(t.run(&["SINTERCARD", "2", "s"]), err(NUMKEYS_TOO_MANY));
        assert_eq!(
            t.run(&["SINTERCARD", "1", "s", "LIMIT", "-1"]),
            err(LIMIT_NEGATIVE)
        );
        assert_eq!(
            t.run(&["SINTERCARD", "1", "s", "LIMIT", "x"]),
            err(LIMIT_NEGATIVE)
        );
        assert_eq!(t.run(&["SINTERCARD", "1", "s", "LIMIT"]), SYNTAX);
        assert_eq!(t.run(&["SINTERCARD", "1", "s", "FOO"]), SYNTAX);
        assert_eq!(
            t.run(&["SINTERCARD", "1", "s", "LIMIT", "5", "LIMIT", "0"]),
            int(1)
        );
        let args = kevy_resp::OwnedArgs::from_slices(["SINTERCARD", "2", "a", "b", "LIMIT", "3"]);
        let route = route_sintercard(args.args(), &t.client, 3);
        assert_eq!(
            route,
            Ok(Route::Keys {
                first: 2,
                last: 3,
                step: 1,
                extra: 0,
                fold: Fold::One
            })
        );
    }

    #[test]
    fn intset_to_hashtable_and_sscan() {
        let mut t = T::new();
        assert_eq!(t.run(&["SSCAN", "none", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(t.run(&["SSCAN", "none", "x"]), "-ERR invalid cursor\r\n");
        assert_eq!(
            t.run(&["SSCAN", "none", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n",
            "a missing key is answered before the options are read"
        );
        let ints: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        let mut cmd = vec!["SADD", "s"];
        cmd.extend(ints[..512].iter().map(String::as_str));
        assert_eq!(t.run(&cmd), int(512));
        // An intset comes back whole, with cursor 0, whatever COUNT says.
        let r = t.run(&["SSCAN", "s", "0", "COUNT", "1"]);
        assert!(r.starts_with("*2\r\n$1\r\n0\r\n*512\r\n"), "{}", &r[..40]);
        let r = t.run(&["SSCAN", "s", "0", "MATCH", "1?"]);
        assert_eq!(
            scan_reply(&r),
            ("0".to_string(), (10..20).map(|i| i.to_string()).collect())
        );
        let mut cmd = vec!["SADD", "s"];
        cmd.extend(ints[512..].iter().map(String::as_str));
        assert_eq!(t.run(&cmd), int(88));
        // Past 512 integers it is a hash table: scanned by cursor.
        let r = t.run(&["SSCAN", "s", "0", "COUNT", "5"]);
        assert!(!r.starts_with("*2\r\n$1\r\n0\r\n"), "a partial step");
        let mut seen = BTreeSet::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, found) = scan_reply(&t.run(&["SSCAN", "s", &cursor, "COUNT", "20"]));
            cursor = next;
            seen.extend(found);
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 600);
        assert_eq!(t.run(&["SISMEMBER", "s", "599"]), int(1));
        assert_eq!(t.run(&["SREM", "s", "599"]), int(1));
        assert_eq!(t.run(&["SCARD", "s"]), int(599));
        // A non-integer member leaves the intset too.
        t.run(&["SADD", "m", "1", "2"]);
        t.run(&["SADD", "m", "abc"]);
        assert_eq!(
            members(&t.run(&["SMEMBERS", "m"])),
            set_of(&["1", "2", "abc"])
        );
        assert_eq!(t.run(&["SISMEMBER", "m", "2"]), int(1));

        assert_eq!(t.run(&["SSCAN", "m", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(t.run(&["SSCAN", "m", "0", "COUNT", "x"]), NOTINT);
        assert_eq!(t.run(&["SSCAN", "m", "0", "TYPE", "set"]), SYNTAX);
        assert_eq!(t.run(&["SSCAN", "m", "0", "MATCH"]), SYNTAX);
        let r = t.run(&["SSCAN", "m", "0", "MATCH", "a*"]);
        assert_eq!(r, "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nabc\r\n");
    }

    #[test]
    fn memory_is_accounted() {
        let mut t = T::new();
        let empty = t.shard.store.used_memory();
        let many: Vec<String> = (0..2000).map(|i| format!("member:{i:08}")).collect();
        let mut cmd = vec!["SADD", "s"];
        cmd.extend(many.iter().map(String::as_str));
        t.run(&cmd);
        let full = t.shard.store.used_memory();
        assert!(full - empty > 2000 * 32, "{}", full - empty);
        let mut cmd = vec!["SREM", "s"];
        cmd.extend(many.iter().map(String::as_str));
        assert_eq!(t.run(&cmd), int(2000));
        assert!(t.shard.store.used_memory() - empty < 1024);
    }

    #[test]
    fn writes_are_tracked_for_coordination() {
        let mut t = T::new();
        t.run(&["SADD", "a", "1", "2"]);
        t.run(&["SADD", "b", "2"]);
        t.shard.store.track_dirty(true);
        t.run(&["SADD", "a", "1"]);
        t.run(&["SINTER", "a", "b"]);
        t.run(&["SMOVE", "a", "a", "1"]);
        assert!(t.shard.store.take_dirty().is_empty(), "no-op writes");
        t.run(&["SMOVE", "b", "c", "2"]);
        t.run(&["SUNIONSTORE", "d", "a", "c"]);
        let mut keys = t.shard.store.take_dirty();
        keys.sort();
        assert_eq!(keys, [b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    }
}
