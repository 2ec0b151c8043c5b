//! The keys command family (Redis's `db.c` and `expire.c` commands):
//! deleting, inspecting and renaming keys, TTLs, and whole-keyspace
//! commands (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB).
//!
//! Whole-keyspace commands run on every shard and fold (sum, concatenate,
//! pick one, join SCAN's per-shard pages: see [`op_scan`]).

use crate::ctx::Ctx;
use crate::errors::{reply_error, reply_error_args};
use crate::notify::{GENERIC, NEW};
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::expire::{expire_command_at, ms_to_s_rounded, remaining_ms, Unit};
use kevy_store::num::parse_i64;
use kevy_store::{Db, KeyTtl, OpError, OpResult};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@keyspace", "@read", "@fast"];
    const R_SLOW: &[&str] = &["@keyspace", "@read", "@slow"];
    const W_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
    const W_SLOW: &[&str] = &["@keyspace", "@write", "@slow"];
    const W_SLOW_DANGER: &[&str] = &["@keyspace", "@write", "@slow", "@dangerous"];
    let key1 = CommandSpec::single_key;
    let all_keys = |name, arity, flags, acl, run| CommandSpec {
        last: -1,
        route: RouteKind::Keys(Fold::Sum),
        ..key1(name, arity, flags, acl, run)
    };
    let keyless = |name, arity, flags, acl, route, run| CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route,
        ..key1(name, arity, flags, acl, run)
    };
    let two = |name, arity, flags, acl, run| CommandSpec {
        last: 2,
        ..key1(name, arity, flags, acl, run)
    };

    t.add(all_keys("del", -2, WRITE, W_SLOW, cmd_del));
    t.add(all_keys("unlink", -2, WRITE | FAST, W_FAST, cmd_del));
    t.add(all_keys("exists", -2, READONLY | FAST, R_FAST, cmd_exists));
    t.add(all_keys("touch", -2, READONLY | FAST, R_FAST, cmd_touch));
    t.add(key1("type", 2, READONLY | FAST, R_FAST, cmd_type));
    t.add(two("rename", 3, WRITE, W_SLOW, cmd_rename));
    t.add(two("renamenx", 3, WRITE | FAST, W_FAST, cmd_renamenx));
    t.add(two(
        "copy",
        -3,
        WRITE | DENYOOM | OTHER_DBS,
        W_SLOW,
        cmd_copy,
    ));
    t.add(key1("move", 3, WRITE | FAST | OTHER_DBS, W_FAST, cmd_move));

    t.add(key1("expire", -3, WRITE | FAST, W_FAST, cmd_expire));
    t.add(key1("pexpire", -3, WRITE | FAST, W_FAST, cmd_pexpire));
    t.add(key1("expireat", -3, WRITE | FAST, W_FAST, cmd_expireat));
    t.add(key1("pexpireat", -3, WRITE | FAST, W_FAST, cmd_pexpireat));
    t.add(key1("ttl", 2, READONLY | FAST, R_FAST, cmd_ttl));
    t.add(key1("pttl", 2, READONLY | FAST, R_FAST, cmd_pttl));
    t.add(key1(
        "expiretime",
        2,
        READONLY | FAST,
        R_FAST,
        cmd_expiretime,
    ));
    t.add(key1(
        "pexpiretime",
        2,
        READONLY | FAST,
        R_FAST,
        cmd_pexpiretime,
    ));
    t.add(key1("persist", 2, WRITE | FAST, W_FAST, cmd_persist));

    const KEYS_ACL: &[&str] = &["@keyspace", "@read", "@slow", "@dangerous"];
    let concat = RouteKind::All(Fold::Concat);
    t.add(keyless("keys", 2, READONLY, KEYS_ACL, concat, cmd_keys));
    t.add(keyless(
        "scan",
        -2,
        READONLY,
        R_SLOW,
        RouteKind::Custom(route_scan),
        cmd_scan,
    ));
    let random = RouteKind::All(Fold::Random);
    t.add(keyless(
        "randomkey",
        1,
        READONLY,
        R_SLOW,
        random,
        cmd_randomkey,
    ));
    let sum = RouteKind::All(Fold::Sum);
    t.add(keyless(
        "dbsize",
        1,
        READONLY | FAST,
        R_FAST,
        sum,
        cmd_dbsize,
    ));
    let all_ok = RouteKind::All(Fold::AllOk);
    // OTHER_DBS: a flush deletes keys it does not name, so a group reader
    // blocked on a flushed stream is told at once.
    t.add(keyless(
        "flushdb",
        -1,
        WRITE | OTHER_DBS,
        W_SLOW_DANGER,
        all_ok,
        cmd_flushdb,
    ));
    t.add(keyless(
        "flushall",
        -1,
        WRITE | OTHER_DBS,
        W_SLOW_DANGER,
        all_ok,
        cmd_flushall,
    ));
    const SWAPDB_ACL: &[&str] = &["@keyspace", "@write", "@fast", "@dangerous"];
    t.add(keyless(
        "swapdb",
        3,
        WRITE | FAST | OTHER_DBS,
        SWAPDB_ACL,
        all_ok,
        cmd_swapdb,
    ));
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

/// A C-`int` argument such as a database index (Redis's
/// `getIntFromObjectOrReply`), failing with `err`.
fn int32_arg(a: &[u8], err: OpError) -> OpResult<i64> {
    parse_i64(a)
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or(err)
}

/// A database index argument: an integer, then a valid index.
fn db_index(a: &[u8], ndbs: usize, not_int: OpError) -> OpResult<usize> {
    let n = int32_arg(a, not_int)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ndbs)
        .ok_or(OpError::DbIndexOutOfRange)
}

// ---- DEL, EXISTS, TYPE ----------------------------------------------------------

/// DEL and UNLINK (kevy frees in place either way): each key deleted,
/// then its event.
fn cmd_del(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut n = 0;
    for k in args.iter().skip(1) {
        if db(ctx).remove(k).is_some() {
            ctx.notify(GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.out.int(n);
}

/// EXISTS: live keys among the arguments, repeats counted; read lookups
/// that leave the access clock alone.
pub fn op_exists(db: &mut Db<'_>, keys: impl Iterator<Item = impl AsRef<[u8]>>) -> i64 {
    keys.filter(|k| db.get_notouch(k.as_ref()).is_some())
        .count() as i64
}

/// TOUCH: as EXISTS, stamping each key's access clock.
pub fn op_touch(db: &mut Db<'_>, keys: impl Iterator<Item = impl AsRef<[u8]>>) -> i64 {
    keys.filter(|k| db.get(k.as_ref()).is_some()).count() as i64
}

fn cmd_exists(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let n = op_exists(&mut db(ctx), args.iter().skip(1));
    ctx.out.int(n);
}

fn cmd_touch(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let n = op_touch(&mut db(ctx), args.iter().skip(1));
    ctx.out.int(n);
}

pub fn op_type(db: &mut Db<'_>, key: &[u8]) -> &'static str {
    db.get_notouch(key).map_or("none", |e| e.value.type_name())
}

fn cmd_type(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let t = op_type(&mut db(ctx), key);
    ctx.out.simple(t.as_bytes());
}

// ---- RENAME, COPY, MOVE ---------------------------------------------------------

fn rename_generic(ctx: &mut Ctx<'_>, nx: bool) {
    let (from, to) = (ctx.args.get(1), ctx.args.get(2));
    // Redis deletes an existing destination and creates it anew: `new`
    // either way (the store reports a creation only for a missing one).
    let replaces = ctx.notifying(NEW) && from != to && db(ctx).contains(to);
    let r = db(ctx).rename(from, to, nx);
    if r == Ok(true) && from != to {
        if replaces {
            ctx.notify(NEW, "new", to);
        }
        ctx.notify(GENERIC, "rename_from", from);
        ctx.notify(GENERIC, "rename_to", to);
    }
    match r {
        Ok(_) if !nx => ctx.out.ok(),
        Ok(done) => ctx.out.int(done as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_rename(ctx: &mut Ctx<'_>) {
    rename_generic(ctx, false);
}

fn cmd_renamenx(ctx: &mut Ctx<'_>) {
    rename_generic(ctx, true);
}

/// COPY's options: destination database and REPLACE.
fn parse_copy(args: &Args<'_>, ndbs: usize, src_db: usize) -> OpResult<(usize, bool)> {
    let (mut dst, mut replace) = (src_db, false);
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            // Redis reads the index as a `long` here, not an `int`.
            let n = parse_i64(args.get(j + 1)).ok_or(OpError::NotInteger)?;
            dst = usize::try_from(n)
                .ok()
                .filter(|&n| n < ndbs)
                .ok_or(OpError::DbIndexOutOfRange)?;
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    Ok((dst, replace))
}

fn cmd_copy(ctx: &mut Ctx<'_>) {
    let (src, dst_key) = (ctx.args.get(1), ctx.args.get(2));
    let (src_db, notify_new) = (ctx.db, ctx.notifying(NEW));
    let store = &mut ctx.shard.store;
    let r = parse_copy(&ctx.args, store.ndbs(), src_db).and_then(|(dst, replace)| {
        // Redis deletes a destination it replaces and creates it anew.
        let replaces = notify_new && replace && store.db(dst).peek(dst_key).is_some();
        let done = store.copy_key(src_db, src, dst, dst_key, replace)?;
        Ok((done, dst, replaces))
    });
    match r {
        Ok((done, dst, replaces)) => {
            if done {
                if replaces {
                    ctx.notify_db(dst, NEW, "new", dst_key);
                }
                ctx.notify_db(dst, GENERIC, "copy_to", dst_key);
            }
            ctx.out.int(done as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_move(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let store = &mut ctx.shard.store;
    let r = db_index(ctx.args.get(2), store.ndbs(), OpError::NotInteger)
        .and_then(|dst| Ok((store.move_key(ctx.db, dst, key)?, dst)));
    match r {
        Ok((done, dst)) => {
            if done {
                ctx.notify(GENERIC, "move_from", key);
                ctx.notify_db(dst, GENERIC, "move_to", key);
            }
            ctx.out.int(done as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- EXPIRE family --------------------------------------------------------------

/// EXPIRE's NX / XX / GT / LT.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ExpireFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// Parses EXPIRE options from `args[3..]` (Redis's
/// `parseExtendedExpireArgumentsOrReply`).
fn parse_expire_flags(args: &Args<'_>) -> OpResult<ExpireFlags> {
    let mut f = ExpireFlags::default();
    for j in 3..args.len() {
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            return Err(OpError::UnsupportedOption(j as u32));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(OpError::ExpireNxConflict);
    }
    if f.gt && f.lt {
        return Err(OpError::ExpireGtLtConflict);
    }
    Ok(f)
}

/// Sets `key` to expire at `when` (absolute ms, maybe past) if the flags
/// allow; a time not in the future deletes the key. Returns whether it
/// applied (Redis's `expireGenericCommand` after argument parsing).
pub fn op_expire(db: &mut Db<'_>, key: &[u8], when: i64, f: ExpireFlags) -> bool {
    let Some(e) = db.peek(key) else {
        return false;
    };
    let current = e.expire_at().map(|t| t as i64);
    // No TTL counts as an infinite one for GT and LT.
    let not_greater = match current {
        Some(c) => when <= c,
        None => true,
    };
    if (f.nx && current.is_some())
        || (f.xx && current.is_none())
        || (f.gt && not_greater)
        || (f.lt && current.is_some_and(|c| when >= c))
    {
        return false;
    }
    if when <= db.now() as i64 {
        db.remove(key);
    } else {
        db.set_expire(key, when as u64);
    }
    true
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT.
fn expire_generic(ctx: &mut Ctx<'_>, unit: Unit, absolute: bool, cmd: &'static str) {
    let key = ctx.args.get(1);
    let now = ctx.shard.store.now();
    let base = if absolute { 0 } else { now };
    let args = ctx.args;
    let r = parse_expire_flags(&args)
        .and_then(|f| Ok((f, parse_i64(args.get(2)).ok_or(OpError::NotInteger)?)))
        .and_then(|(f, n)| Ok((f, expire_command_at(n, unit, base, cmd)?)))
        .map(|(f, when)| (op_expire(&mut db(ctx), key, when, f), when));
    match r {
        Ok((done, when)) => {
            if done && ctx.propagating() {
                ctx.propagate_expire_at(key, when);
            }
            if done {
                let gone = when <= ctx.shard.store.now() as i64;
                ctx.notify(GENERIC, if gone { "del" } else { "expire" }, key);
            }
            ctx.out.int(done as i64)
        }
        Err(e) => reply_error_args(&mut ctx.out, e, &args),
    }
}

fn cmd_expire(ctx: &mut Ctx<'_>) {
    expire_generic(ctx, Unit::Seconds, false, "expire");
}

fn cmd_pexpire(ctx: &mut Ctx<'_>) {
    expire_generic(ctx, Unit::Millis, false, "pexpire");
}

fn cmd_expireat(ctx: &mut Ctx<'_>) {
    expire_generic(ctx, Unit::Seconds, true, "expireat");
}

fn cmd_pexpireat(ctx: &mut Ctx<'_>) {
    expire_generic(ctx, Unit::Millis, true, "pexpireat");
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 missing, -1 no TTL, else the
/// remaining (or absolute) time in seconds (rounded) or milliseconds.
pub fn op_ttl(db: &mut Db<'_>, key: &[u8], ms: bool, absolute: bool) -> i64 {
    let now = db.now();
    match db.ttl(key) {
        KeyTtl::Missing => -2,
        KeyTtl::Persistent => -1,
        KeyTtl::At(at) => {
            let t = if absolute {
                at as i64
            } else {
                remaining_ms(at, now)
            };
            if ms {
                t
            } else {
                ms_to_s_rounded(t)
            }
        }
    }
}

fn ttl_generic(ctx: &mut Ctx<'_>, ms: bool, absolute: bool) {
    let key = ctx.args.get(1);
    let t = op_ttl(&mut db(ctx), key, ms, absolute);
    ctx.out.int(t);
}

fn cmd_ttl(ctx: &mut Ctx<'_>) {
    ttl_generic(ctx, false, false);
}

fn cmd_pttl(ctx: &mut Ctx<'_>) {
    ttl_generic(ctx, true, false);
}

fn cmd_expiretime(ctx: &mut Ctx<'_>) {
    ttl_generic(ctx, false, true);
}

fn cmd_pexpiretime(ctx: &mut Ctx<'_>) {
    ttl_generic(ctx, true, true);
}

fn cmd_persist(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let done = db(ctx).persist(key);
    if done {
        ctx.notify(GENERIC, "persist", key);
    }
    ctx.out.int(done as i64);
}

// ---- whole keyspace -------------------------------------------------------------

fn cmd_keys(ctx: &mut Ctx<'_>) {
    let pattern = ctx.args.get(1);
    let keys = db(ctx).keys(pattern);
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
}

/// A SCAN cursor as Redis reads it (`strtoul`, base 10): no leading space,
/// an optional sign (`-n` wraps around), digits up to a NUL byte or the
/// end, in range; the empty string is 0.
pub fn parse_cursor(s: &[u8]) -> OpResult<u64> {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Ok(0);
    }
    if s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return Err(OpError::InvalidCursor);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(OpError::InvalidCursor);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or(OpError::InvalidCursor)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's route: every shard, its page folded by [`Fold::Pages`]. A bad
/// cursor is refused here, before any shard is involved, so it wins over
/// a bad option as in Redis (which parses the cursor first).
pub fn route_scan(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    match parse_cursor(args.get(1)) {
        Ok(_) => Ok(Route::All(Fold::Pages)),
        Err(e) => Err(crate::errors::message(e).into_owned()),
    }
}

/// SCAN's options (Redis's `scanGenericCommand`).
pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// Parses COUNT, MATCH and (for SCAN only, `allow_type`) TYPE from
/// argument `from` on; the one parser behind SCAN, HSCAN, SSCAN and ZSCAN.
/// COUNT and MATCH of a key's scan (HSCAN, SSCAN, ZSCAN: no TYPE), with
/// MATCH `*` dropped since it matches everything.
pub fn parse_key_scan_opts<'a>(
    args: &Args<'a>,
    from: usize,
) -> OpResult<(usize, Option<&'a [u8]>)> {
    let o = parse_scan_opts(args, from, false)?;
    Ok((o.count, o.pattern.filter(|p| *p != b"*")))
}

pub fn parse_scan_opts<'a>(
    args: &Args<'a>,
    from: usize,
    allow_type: bool,
) -> OpResult<ScanOpts<'a>> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = from;
    while i < args.len() {
        let opt = args.get(i);
        let has_value = i + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"count") && has_value {
            let n = parse_i64(args.get(i + 1)).ok_or(OpError::NotInteger)?;
            if n < 1 {
                return Err(OpError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") && has_value {
            o.pattern = Some(args.get(i + 1));
        } else if allow_type && opt.eq_ignore_ascii_case(b"type") && has_value {
            o.type_name = Some(args.get(i + 1));
        } else {
            return Err(OpError::Syntax);
        }
        i += 2;
    }
    Ok(o)
}

/// This shard's page of one SCAN call. A cursor is `local * nshards +
/// shard`: the iteration is at `shard`, whose own dict scan is at `local`
/// (so cursor 0 is the start, and with one shard a cursor is Redis's).
/// Shards are visited in order: a shard below the cursor's is done (an
/// empty page, cursor 0), the cursor's shard goes on from `local`, and a
/// shard above starts from 0, in case every shard before it finishes in
/// this call. Each returns about COUNT keys (its dict scan's) and its own
/// next cursor, 0 once it is done; [`Fold::Pages`] keeps the pages up to
/// the first shard that is not done, whose cursor is where the next call
/// resumes. So a full iteration runs every shard's dict scan from 0 to its
/// end, one shard after the other, and returns every key that Redis's
/// one-dict scan would.
pub fn op_scan(
    db: &mut Db<'_>,
    cursor: u64,
    shard: usize,
    nshards: usize,
    o: &ScanOpts<'_>,
) -> (u64, Vec<Vec<u8>>) {
    let n = nshards.max(1) as u64;
    let at = (cursor % n) as usize;
    let from = match shard.cmp(&at) {
        std::cmp::Ordering::Less => return (0, Vec::new()),
        std::cmp::Ordering::Equal => cursor / n,
        std::cmp::Ordering::Greater => 0,
    };
    let (next, keys) = db.scan(from, o.count, o.pattern, o.type_name);
    // A dict cursor is below the dict's table size, so this cannot wrap.
    let next = if next == 0 {
        0
    } else {
        next * n + shard as u64
    };
    (next, keys)
}

fn cmd_scan(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let (shard, nshards) = (ctx.shard.id, ctx.shard.nshards);
    let r = parse_cursor(args.get(1)).and_then(|c| Ok((c, parse_scan_opts(&args, 2, true)?)));
    let (cursor, opts) = match r {
        Ok(x) => x,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let (next, keys) = op_scan(&mut db(ctx), cursor, shard, nshards, &opts);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
}

fn cmd_randomkey(ctx: &mut Ctx<'_>) {
    match db(ctx).random_key() {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
}

fn cmd_dbsize(ctx: &mut Ctx<'_>) {
    let n = db(ctx).len();
    ctx.out.int(n as i64);
}

/// FLUSHDB/FLUSHALL's optional SYNC or ASYNC.
fn parse_flush(args: &Args<'_>) -> OpResult<()> {
    if super::common::flush_mode_ok(args, 1) {
        Ok(())
    } else {
        Err(OpError::Syntax)
    }
}

fn cmd_flushdb(ctx: &mut Ctx<'_>) {
    match parse_flush(&ctx.args) {
        Ok(()) => {
            if db(ctx).flush() > 0 {
                kevy_sys::alloc::purge();
            }
            ctx.out.ok();
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_flushall(ctx: &mut Ctx<'_>) {
    match parse_flush(&ctx.args) {
        Ok(()) => {
            ctx.shard.store.flush_all();
            // Give the freed pages back now, as Redis's FLUSHALL does.
            kevy_sys::alloc::purge();
            ctx.out.ok();
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_swapdb(ctx: &mut Ctx<'_>) {
    let ndbs = ctx.shard.store.ndbs();
    let a = int32_arg(ctx.args.get(1), OpError::InvalidFirstDbIndex);
    let r = a.and_then(|a| {
        Ok((
            a,
            int32_arg(ctx.args.get(2), OpError::InvalidSecondDbIndex)?,
        ))
    });
    let r = r.and_then(|(a, b)| {
        let ok = |n: i64| usize::try_from(n).ok().filter(|&n| n < ndbs);
        match (ok(a), ok(b)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(OpError::DbIndexOutOfRange),
        }
    });
    match r {
        Ok((a, b)) => {
            ctx.shard.store.swap_db(a, b);
            ctx.out.ok();
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;

    #[test]
    fn del_exists_type() {
        let mut t = T::new();
        t.run(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(t.run(&["EXISTS", "a", "a", "nokey", "b"]), int(3));
        assert_eq!(t.run(&["TOUCH", "a", "nokey"]), int(1));
        assert_eq!(t.run(&["TYPE", "a"]), "+string\r\n");
        assert_eq!(t.run(&["TYPE", "nokey"]), "+none\r\n");
        assert_eq!(t.run(&["DEL", "a", "a", "nokey"]), int(1));
        assert_eq!(t.run(&["UNLINK", "b"]), int(1));
        assert_eq!(t.run(&["DBSIZE"]), int(0));
        assert_eq!(
            t.run(&["DEL"]),
            "-ERR wrong number of arguments for 'del' command\r\n"
        );
    }

    #[test]
    fn rename_family() {
        let mut t = T::new();
        assert_eq!(t.run(&["RENAME", "a", "b"]), "-ERR no such key\r\n");
        assert_eq!(t.run(&["RENAMENX", "a", "b"]), "-ERR no such key\r\n");
        t.run(&["SET", "a", "1", "EX", "100"]);
        assert_eq!(t.run(&["RENAME", "a", "a"]), OK);
        assert_eq!(t.run(&["RENAMENX", "a", "a"]), int(0));
        assert_eq!(t.run(&["RENAME", "a", "b"]), OK);
        assert_eq!(t.run(&["TTL", "b"]), int(100));
        t.run(&["SET", "c", "3"]);
        assert_eq!(t.run(&["RENAMENX", "b", "c"]), int(0));
        assert_eq!(t.run(&["RENAMENX", "b", "d"]), int(1));
        assert_eq!(t.run(&["GET", "d"]), bulk("1"));
    }

    #[test]
    fn copy_and_move() {
        let mut t = T::new();
        t.run(&["SET", "k", "v"]);
        assert_eq!(
            t.run(&["COPY", "k", "k"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(t.run(&["COPY", "k", "k", "DB", "1"]), int(1));
        assert_eq!(t.run(&["COPY", "k", "k", "DB", "1"]), int(0));
        assert_eq!(
            t.run(&["COPY", "k", "k", "DB", "1", "REPLACE", "REPLACE"]),
            int(1)
        );
        assert_eq!(
            t.run(&["COPY", "k", "k2", "DB", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            t.run(&["COPY", "k", "k2", "DB", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(t.run(&["COPY", "k", "k2", "DB"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["COPY", "nokey", "k2"]), int(0));
        assert_eq!(
            t.run(&["MOVE", "k", "0"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            t.run(&["MOVE", "k", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            t.run(&["MOVE", "k", "-1"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            t.run(&["MOVE", "k", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(t.run(&["MOVE", "k", "1"]), int(0), "exists in db 1");
        assert_eq!(t.run(&["MOVE", "k", "2"]), int(1));
        assert_eq!(t.run(&["EXISTS", "k"]), int(0));
        t.client.db = 2;
        assert_eq!(t.run(&["GET", "k"]), bulk("v"));
    }

    #[test]
    fn expire_family() {
        let mut t = T::new();
        let now = 1_000_000; // T's clock, in ms
        assert_eq!(t.run(&["EXPIRE", "k", "10"]), int(0));
        t.run(&["SET", "k", "v"]);
        assert_eq!(t.run(&["TTL", "k"]), int(-1));
        assert_eq!(t.run(&["TTL", "nokey"]), int(-2));
        assert_eq!(t.run(&["EXPIRE", "k", "10", "XX"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "k", "10", "GT"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "k", "10", "LT"]), int(1));
        assert_eq!(t.run(&["EXPIRE", "k", "20", "NX"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "k", "20", "GT"]), int(1));
        assert_eq!(t.run(&["EXPIRE", "k", "15", "gt"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "k", "15", "lt", "xx"]), int(1));
        assert_eq!(t.run(&["TTL", "k"]), int(15));
        assert_eq!(t.run(&["PTTL", "k"]), int(15_000));
        assert_eq!(t.run(&["EXPIRETIME", "k"]), int(now / 1000 + 15));
        assert_eq!(t.run(&["PEXPIRETIME", "k"]), int(now + 15_000));
        assert_eq!(t.run(&["PEXPIRE", "k", "1499"]), int(1));
        assert_eq!(t.run(&["TTL", "k"]), int(1));
        assert_eq!(
            t.run(&["PEXPIREAT", "k", &(now + 5000).to_string()]),
            int(1)
        );
        assert_eq!(
            t.run(&["EXPIREAT", "k", &(now / 1000 + 6).to_string()]),
            int(1)
        );
        assert_eq!(t.run(&["PTTL", "k"]), int(6000));
        assert_eq!(t.run(&["PERSIST", "k"]), int(1));
        assert_eq!(t.run(&["PERSIST", "k"]), int(0));
        assert_eq!(
            t.run(&["EXPIRE", "k", "10", "foo"]),
            "-ERR Unsupported option foo\r\n"
        );
        assert_eq!(
            t.run(&["EXPIRE", "k", "10", "NX", "XX"]),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
        );
        assert_eq!(
            t.run(&["EXPIRE", "k", "10", "GT", "LT"]),
            "-ERR GT and LT options at the same time are not compatible\r\n"
        );
        assert_eq!(
            t.run(&["EXPIRE", "k", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            t.run(&["EXPIRE", "k", "x", "foo"]),
            "-ERR Unsupported option foo\r\n"
        );
        assert_eq!(
            t.run(&["EXPIRE", "k", "99999999999999999"]),
            "-ERR invalid expire time in 'expire' command\r\n"
        );
        assert_eq!(
            t.run(&["PEXPIRE", "k", "9223372036854775807"]),
            "-ERR invalid expire time in 'pexpire' command\r\n"
        );
        assert_eq!(t.run(&["PEXPIREAT", "k", "9223372036854775807"]), int(1));
        // A time not in the future deletes the key.
        assert_eq!(t.run(&["EXPIRE", "k", "0"]), int(1));
        assert_eq!(t.run(&["EXISTS", "k"]), int(0));
        t.run(&["SET", "k", "v"]);
        assert_eq!(t.run(&["EXPIREAT", "k", "-1"]), int(1));
        assert_eq!(t.run(&["EXISTS", "k"]), int(0));
        t.run(&["SET", "k", "v", "PX", "100"]);
        t.advance(100);
        assert_eq!(t.run(&["PTTL", "k"]), int(0));
        t.advance(1);
        assert_eq!(t.run(&["PTTL", "k"]), int(-2));
    }

    #[test]
    fn cursor_parsing_is_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"5\0junk"), Ok(5));
        for bad in [
            &b"18446744073709551616"[..],
            b"abc",
            b" 1",
            b"1 ",
            b"-",
            b"+",
            b"1.5",
            b"\t1",
        ] {
            assert_eq!(parse_cursor(bad), Err(OpError::InvalidCursor), "{bad:?}");
        }
    }

    /// Shards 0..n with the keys `s{i}:k{j}`, `j < per`, on shard `i`.
    fn shards(n: usize, per: usize) -> Vec<T> {
        (0..n)
            .map(|i| {
                let mut t = T::new();
                t.shard.id = i;
                t.shard.nshards = n;
                for j in 0..per {
                    t.run(&["SET", &format!("s{i}:k{j}"), "v"]);
                }
                t
            })
            .collect()
    }

    /// One SCAN call as the runtime makes it: routed to every shard, the
    /// pages joined in shard order up to the first shard not done (what
    /// `Fold::Pages` does). Returns the cursor and the keys.
    fn scan_call(shards: &mut [T], argv: &[&str]) -> (String, Vec<String>) {
        let client = shards[0].client;
        let args = kevy_resp::OwnedArgs::from_slices(argv);
        let route = route_scan(args.args(), &client, shards.len());
        assert_eq!(route, Ok(Route::All(Fold::Pages)));
        let mut keys = Vec::new();
        for t in shards.iter_mut() {
            let reply = t.run(argv);
            let lines: Vec<&str> = reply.split("\r\n").collect();
            assert_eq!(lines[0], "*2", "{reply}");
            keys.extend(lines.iter().skip(5).step_by(2).map(|l| l.to_string()));
            keys.retain(|k| !k.is_empty());
            if lines[2] != "0" {
                return (lines[2].to_string(), keys);
            }
        }
        ("0".to_string(), keys)
    }

    #[test]
    fn scan_walks_every_shard() {
        let mut shards = shards(3, 50);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let (next, keys) = scan_call(&mut shards, &["SCAN", &cursor, "COUNT", "7"]);
            seen.extend(keys);
            cursor = next;
            calls += 1;
            if cursor == "0" {
                break;
            }
            assert!(calls < 1000);
        }
        assert_eq!(seen.len(), 150);
    }

    #[test]
    fn scan_fills_a_page_across_shards() {
        // Few keys per shard: one call returns them all, with cursor 0.
        let mut shards = shards(3, 3);
        let (cursor, mut keys) = scan_call(&mut shards, &["SCAN", "0"]);
        keys.sort();
        assert_eq!(cursor, "0");
        assert_eq!(keys.len(), 9, "{keys:?}");
        // TYPE filters on every shard.
        shards[2].run(&["RPUSH", "s2:list", "x"]);
        shards[0].run(&["RPUSH", "s0:list", "x"]);
        let (cursor, mut keys) = scan_call(&mut shards, &["SCAN", "0", "TYPE", "list"]);
        keys.sort();
        assert_eq!(
            (cursor.as_str(), keys),
            ("0", vec!["s0:list".into(), "s2:list".into()])
        );
        // A shard below the cursor's (cursor 1 is at shard 1) answers an
        // empty page, done.
        assert_eq!(shards[0].run(&["SCAN", "1"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        // An error is every shard's (the fold reports the first).
        assert_eq!(shards[1].run(&["SCAN", "1", "COUNT", "0"]), SYNTAX);
    }

    #[test]
    fn scan_options() {
        let mut t = T::new();
        t.run(&["MSET", "user:1", "a", "user:2", "b", "item:1", "c"]);
        let r = t.run(&["SCAN", "0", "MATCH", "user:*", "COUNT", "100"]);
        assert!(r.starts_with("*2\r\n$1\r\n0\r\n*2\r\n"), "{r}");
        let r = t.run(&["SCAN", "0", "TYPE", "hash"]);
        assert_eq!(r, "*2\r\n$1\r\n0\r\n*0\r\n");
        let r = t.run(&["SCAN", "0", "TYPE", "STRING", "COUNT", "100"]);
        assert!(r.contains("*3\r\n"), "{r}");
        assert_eq!(t.run(&["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
        assert_eq!(
            t.run(&["SCAN", "0", "COUNT", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(t.run(&["SCAN", "0", "MATCH"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["SCAN", "x"]), "-ERR invalid cursor\r\n");
    }

    #[test]
    fn keys_randomkey_dbsize_flush_swap() {
        let mut t = T::new();
        assert_eq!(t.run(&["RANDOMKEY"]), NULL);
        t.run(&["MSET", "user:1", "a", "user:2", "b", "item:1", "c"]);
        let r = t.run(&["KEYS", "user:*"]);
        assert!(r.starts_with("*2\r\n"), "{r}");
        assert!(t.run(&["RANDOMKEY"]).starts_with('$'));
        assert_eq!(t.run(&["DBSIZE"]), int(3));
        assert_eq!(t.run(&["SWAPDB", "0", "1"]), OK);
        assert_eq!(t.run(&["DBSIZE"]), int(0));
        assert_eq!(
            t.run(&["SWAPDB", "0", "x"]),
            "-ERR invalid second DB index\r\n"
        );
        assert_eq!(
            t.run(&["SWAPDB", "x", "0"]),
            "-ERR invalid first DB index\r\n"
        );
        assert_eq!(
            t.run(&["SWAPDB", "0", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            t.run(&["SWAPDB", "0", "4294967296"]),
            "-ERR invalid second DB index\r\n"
        );
        t.client.db = 1;
        assert_eq!(t.run(&["DBSIZE"]), int(3));
        assert_eq!(t.run(&["FLUSHDB", "foo"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["FLUSHDB", "ASYNC"]), OK);
        assert_eq!(t.run(&["DBSIZE"]), int(0));
        t.run(&["SET", "x", "1"]);
        t.client.db = 0;
        t.run(&["SET", "y", "1"]);
        assert_eq!(
            t.run(&["FLUSHALL", "sync", "async"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(t.run(&["FLUSHALL", "SYNC"]), OK);
        t.client.db = 1;
        assert_eq!(t.run(&["DBSIZE"]), int(0));
    }
}
