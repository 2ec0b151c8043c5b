//! The lists command family (Redis's `t_list.c`): pushes and pops at both
//! ends, index and range access, LREM, LTRIM, LINSERT, LPOS, and the moves
//! between lists (LMOVE, RPOPLPUSH, LMPOP).
//!
//! Elements leave the store through a [`Sink`], which the reply encoder
//! implements, so LRANGE and the pops encode each element straight from the
//! list's nodes without copying it. Every in-place change goes through
//! `update`, on kevy-store's update path, which does the bookkeeping
//! once: memory accounting, the report to WATCH and the other observers,
//! and deleting a list that became empty (Redis never keeps an empty
//! list).

use super::common::{block_or_nil, modify_as, parse_timeout};
use crate::ctx::Ctx;
use crate::errors::{message, reply_error};
use crate::notify::LIST;
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::list::{List, Where};
use kevy_store::num::parse_i64;
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@list", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@list", "@slow"];
    const W_FAST: &[&str] = &["@write", "@list", "@fast"];
    const W_SLOW: &[&str] = &["@write", "@list", "@slow"];
    let spec = CommandSpec::single_key;
    // Source and destination are served as one unit (Fold::One): when they
    // sit on different shards the runtime runs the command over copies.
    let two = |name, arity, flags, acl, run| CommandSpec {
        last: 2,
        ..spec(name, arity, flags, acl, run)
    };
    let push = WRITE | DENYOOM | FAST;
    t.add(spec("lpush", -3, push, W_FAST, cmd_lpush));
    t.add(spec("rpush", -3, push, W_FAST, cmd_rpush));
    t.add(spec("lpushx", -3, push, W_FAST, cmd_lpushx));
    t.add(spec("rpushx", -3, push, W_FAST, cmd_rpushx));
    t.add(spec("lpop", -2, WRITE | FAST, W_FAST, cmd_lpop));
    t.add(spec("rpop", -2, WRITE | FAST, W_FAST, cmd_rpop));
    t.add(spec("llen", 2, READONLY | FAST, R_FAST, cmd_llen));
    t.add(spec("lrange", 4, READONLY, R_SLOW, cmd_lrange));
    // Redis flags LINDEX slow: it walks the list to the index.
    t.add(spec("lindex", 3, READONLY, R_SLOW, cmd_lindex));
    t.add(spec("lset", 4, WRITE | DENYOOM, W_SLOW, cmd_lset));
    t.add(spec("lrem", 4, WRITE, W_SLOW, cmd_lrem));
    t.add(spec("ltrim", 4, WRITE, W_SLOW, cmd_ltrim));
    t.add(spec("linsert", 5, WRITE | DENYOOM, W_SLOW, cmd_linsert));
    t.add(spec("lpos", -3, READONLY, R_SLOW, cmd_lpos));
    t.add(two("lmove", 5, WRITE | DENYOOM, W_SLOW, cmd_lmove));
    t.add(two("rpoplpush", 3, WRITE | DENYOOM, W_SLOW, cmd_rpoplpush));
    // LMPOP's keys follow its numkeys argument: Redis reports no key range
    // (0,0,0, movablekeys) and a custom route finds them.
    t.add(CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route_lmpop),
        ..spec("lmpop", -4, WRITE | MOVABLEKEYS, W_SLOW, cmd_lmpop)
    });
    // The blocking forms (kevy-rt's crate doc, "Blocking").
    let blocking = WRITE | NOSCRIPT | BLOCKING;
    const W_BLOCK: &[&str] = &["@write", "@list", "@slow", "@blocking"];
    t.add(CommandSpec {
        last: -2,
        ..spec("blpop", -3, blocking, W_BLOCK, cmd_blpop)
    });
    t.add(CommandSpec {
        last: -2,
        ..spec("brpop", -3, blocking, W_BLOCK, cmd_brpop)
    });
    t.add(two(
        "brpoplpush",
        4,
        blocking | DENYOOM,
        W_BLOCK,
        cmd_brpoplpush,
    ));
    t.add(two("blmove", 6, blocking | DENYOOM, W_BLOCK, cmd_blmove));
    t.add(CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route_blmpop),
        ..spec(
            "blmpop",
            -5,
            WRITE | BLOCKING | MOVABLEKEYS,
            W_BLOCK,
            cmd_blmpop,
        )
    });
}

/// BLPOP/BRPOP key… timeout: pops from the first non-empty list, as
/// `[key, element]`; recorded as LPOP/RPOP of that key.
fn bpop_generic(ctx: &mut Ctx<'_>, end: End) {
    let args = ctx.args;
    let n = args.len();
    let timeout = match parse_timeout(args.get(n - 1)) {
        Ok(t) => t,
        Err(e) => return ctx.out.error(e),
    };
    for i in 1..n - 1 {
        let key = args.get(i);
        let mut db = ctx.shard.store.db(ctx.db);
        match peek_list(&mut db, key) {
            Err(e) => return reply_error(&mut ctx.out, e),
            Ok(Some(l)) if !l.is_empty() => {
                ctx.out.array(2);
                ctx.out.bulk(key);
                if let Err(e) = op_pop(&mut db, key, end, None, &mut ctx.out) {
                    return reply_error(&mut ctx.out, e);
                }
                let name: &[u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
                ctx.propagate(&[name, key]);
                ctx.notify_and_del(LIST, pop_event(end), key);
                return;
            }
            Ok(_) => {}
        }
    }
    block_or_nil(ctx, timeout, false);
}

fn cmd_blpop(ctx: &mut Ctx<'_>) {
    bpop_generic(ctx, End::Left);
}

fn cmd_brpop(ctx: &mut Ctx<'_>) {
    bpop_generic(ctx, End::Right);
}

fn end_name(e: End) -> &'static [u8] {
    if e == End::Left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

/// BLMOVE and BRPOPLPUSH: LMOVE when the source has an element, else a
/// wait on the source; recorded as LMOVE.
fn bmove_generic(ctx: &mut Ctx<'_>, ends: OpResult<(End, End)>, timeout_at: usize) {
    let args = ctx.args;
    let (from, to) = match ends {
        Ok(e) => e,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let timeout = match parse_timeout(args.get(timeout_at)) {
        Ok(t) => t,
        Err(e) => return ctx.out.error(e),
    };
    let (src, dst) = (args.get(1), args.get(2));
    match op_lmove(&mut db(ctx), src, dst, from, to) {
        Ok(Some(v)) => {
            ctx.out.bulk(&v);
            ctx.propagate(&[b"LMOVE", src, dst, end_name(from), end_name(to)]);
            notify_move(ctx, src, dst, from, to);
        }
        Ok(None) => block_or_nil(ctx, timeout, true),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_blmove(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let ends = parse_end(args.get(3)).and_then(|f| Ok((f, parse_end(args.get(4))?)));
    bmove_generic(ctx, ends, 5);
}

fn cmd_brpoplpush(ctx: &mut Ctx<'_>) {
    bmove_generic(ctx, Ok((End::Right, End::Left)), 3);
}

/// Validates BLMPOP (its timeout last, as Redis's `lmpopGenericCommand`
/// hands it to the blocking pop), then routes it by its keys.
fn route_blmpop(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let a = parse_lmpop_at(&args, 1).map_err(|e| message(e).into_owned())?;
    parse_timeout(args.get(1)).map_err(str::to_owned)?;
    Ok(Route::Keys {
        first: 3,
        last: i32::try_from(2 + a.numkeys).unwrap_or(i32::MAX),
        step: 1,
        extra: 0,
        fold: Fold::One,
    })
}

/// BLMPOP timeout numkeys key… LEFT|RIGHT [COUNT n]: LMPOP's reply;
/// recorded as LPOP/RPOP key count.
fn cmd_blmpop(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let a = match parse_lmpop_at(&args, 1) {
        Ok(a) => a,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let timeout = match parse_timeout(args.get(1)) {
        Ok(t) => t,
        Err(e) => return ctx.out.error(e),
    };
    for key in args.iter().skip(3).take(a.numkeys) {
        let mut db = ctx.shard.store.db(ctx.db);
        match peek_list(&mut db, key) {
            Err(e) => return reply_error(&mut ctx.out, e),
            Ok(Some(l)) if !l.is_empty() => {
                ctx.out.array(2);
                ctx.out.bulk(key);
                if let Err(e) = op_pop(&mut db, key, a.end, Some(a.count), &mut ctx.out) {
                    return reply_error(&mut ctx.out, e);
                }
                let name: &[u8] = if a.end == End::Left { b"LPOP" } else { b"RPOP" };
                ctx.propagate(&[name, key, a.count.to_string().as_bytes()]);
                ctx.notify_and_del(LIST, pop_event(a.end), key);
                return;
            }
            Ok(_) => {}
        }
    }
    block_or_nil(ctx, timeout, false);
}

/// What puts back the elements BLPOP, BRPOP or BLMPOP (`name`, sent with
/// `args`) took for a client that had stopped waiting, from its reply
/// (`[key, element]` or `[key, [element…]]`): LPUSH or RPUSH to the end
/// they came from, last popped first, so the list reads as before.
pub fn put_back(name: &str, args: Args<'_>, reply: &[u8]) -> Option<kevy_resp::OwnedArgs> {
    let end = match name {
        "blpop" => End::Left,
        "brpop" => End::Right,
        "blmpop" => parse_lmpop_at(&args, 1).ok()?.end,
        _ => return None,
    };
    let (_, parts) = kevy_resp::split_array(reply)?;
    let [key, popped] = parts.as_slice() else {
        return None;
    };
    let key = kevy_resp::scalar(&reply[key.clone()])?;
    let popped = &reply[popped.clone()];
    let mut elems: Vec<&[u8]> = match kevy_resp::scalar(popped) {
        Some(e) => vec![e],
        None => {
            let (_, items) = kevy_resp::split_array(popped)?;
            items
                .into_iter()
                .map(|r| kevy_resp::scalar(&popped[r]))
                .collect::<Option<_>>()?
        }
    };
    elems.reverse();
    let push: &[u8] = if end == End::Left { b"LPUSH" } else { b"RPUSH" };
    Some(kevy_resp::OwnedArgs::from_slices(
        [push, key].into_iter().chain(elems),
    ))
}

/// LPOP/RPOP count below zero or not an integer
/// (`getPositiveLongFromObjectOrReply` without a message).
const COUNT_NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, \
                         2 from the second ... or use negative to start from the end of the list";
const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const LMPOP_COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";

// ---- shared helpers -------------------------------------------------------------

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// LMOVE's events, as Redis's `lmoveGenericCommand` orders them: the push
/// on the destination, then the pop on the source (and `del` if it
/// emptied). The destination's `new`, if it was created, came first.
fn notify_move(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) {
    ctx.notify(LIST, push_event(to), dst);
    ctx.notify_and_del(LIST, pop_event(from), src);
}

/// An integer argument (Redis's `getLongFromObjectOrReply`).
fn int_arg(a: &[u8]) -> OpResult<i64> {
    parse_i64(a).ok_or(OpError::NotInteger)
}

/// A non-negative integer argument; `err` both when it is not an integer
/// and when it is negative (`getPositiveLongFromObjectOrReply`).
fn non_negative_arg(a: &[u8], err: &'static str) -> OpResult<usize> {
    parse_i64(a)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(OpError::Family(err))
}

/// A positive integer argument; `err` otherwise
/// (`getRangeLongFromObjectOrReply(1, LONG_MAX)`).
fn positive_arg(a: &[u8], err: &'static str) -> OpResult<usize> {
    non_negative_arg(a, err)
        .ok()
        .filter(|&n| n > 0)
        .ok_or(OpError::Family(err))
}

/// An end of a list: LEFT is the head, RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// `LEFT` or `RIGHT`, any case (Redis's `getListPositionFromObjectOrReply`).
fn parse_end(a: &[u8]) -> OpResult<End> {
    if a.eq_ignore_ascii_case(b"left") {
        Ok(End::Left)
    } else if a.eq_ignore_ascii_case(b"right") {
        Ok(End::Right)
    } else {
        Err(OpError::Syntax)
    }
}

fn push_one(l: &mut List, end: End, v: &[u8]) {
    match end {
        End::Left => l.push_front(v),
        End::Right => l.push_back(v),
    }
}

/// Pops one element at `end`, handing its bytes to `f` in place.
fn pop_one<R>(l: &mut List, end: End, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    match end {
        End::Left => l.pop_front_with(f),
        End::Right => l.pop_back_with(f),
    }
}

/// Receives the elements a list command returns, in reply order, as
/// borrowed bytes: nested arrays are a `begin` followed by their items.
pub trait Sink {
    /// An array of `n` entries follows.
    fn begin(&mut self, n: usize);
    /// One element (or key).
    fn item(&mut self, e: &[u8]);
}

impl Sink for Reply<'_> {
    #[inline]
    fn begin(&mut self, n: usize) {
        self.array(n);
    }

    #[inline]
    fn item(&mut self, e: &[u8]) {
        self.bulk(e);
    }
}

/// The list at `key` with a read lookup (Redis's `lookupKeyRead`, counting a
/// hit or miss); `None` when the key is missing.
fn read<'d>(db: &'d mut Db<'_>, key: &[u8]) -> OpResult<Option<&'d List>> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// A list looked up as Redis's blocking pops do (`lookupKeyWrite`): no
/// keyspace hit or miss, no `keymiss` event.
fn peek_list<'d>(db: &'d mut Db<'_>, key: &[u8]) -> OpResult<Option<&'d List>> {
    match db.peek(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Checks that `key` is missing or a list, without statistics (Redis's
/// `lookupKeyWrite` + `checkType`); true when it exists.
fn check_list(db: &mut Db<'_>, key: &[u8]) -> OpResult<bool> {
    match db.peek(key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(_)) => Ok(true),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Changes the list at `key` in place with `f`, which returns its result
/// and whether it changed the list; the update path does the rest (memory,
/// the report, deleting a list left empty). `Ok(None)` when the key is
/// missing (`f` not called).
fn update<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut List) -> (R, bool),
) -> OpResult<Option<R>> {
    modify_as(
        db,
        key,
        |v| match v {
            Value::List(l) => Some(l),
            _ => None,
        },
        f,
    )
}

// ---- pushes ---------------------------------------------------------------------

/// LPUSH, RPUSH and, with `only_existing`, LPUSHX and RPUSHX: pushes every
/// element in order at `end`; the list's new length (0 when `only_existing`
/// and the key is missing).
pub fn op_push<'e>(
    db: &mut Db<'_>,
    key: &[u8],
    end: End,
    elems: impl Iterator<Item = &'e [u8]>,
    only_existing: bool,
) -> OpResult<usize> {
    let mut elems = elems;
    let pushed = update(db, key, |l| {
        for e in &mut elems {
            push_one(l, end, e);
        }
        (l.len(), true)
    })?;
    match pushed {
        Some(n) => Ok(n),
        None if only_existing => Ok(0),
        None => {
            let mut l = List::new();
            for e in elems {
                push_one(&mut l, end, e);
            }
            let n = l.len();
            db.set(key, Value::List(Box::new(l)), SetTtl::Clear);
            Ok(n)
        }
    }
}

/// Redis's `pushGenericCommand`.
fn push_generic(ctx: &mut Ctx<'_>, end: End, only_existing: bool) {
    let args = ctx.args;
    let key = args.get(1);
    match op_push(&mut db(ctx), key, end, args.iter().skip(2), only_existing) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(LIST, push_event(end), key);
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_lpush(ctx: &mut Ctx<'_>) {
    push_generic(ctx, End::Left, false);
}

fn cmd_rpush(ctx: &mut Ctx<'_>) {
    push_generic(ctx, End::Right, false);
}

fn cmd_lpushx(ctx: &mut Ctx<'_>) {
    push_generic(ctx, End::Left, true);
}

fn cmd_rpushx(ctx: &mut Ctx<'_>) {
    push_generic(ctx, End::Right, true);
}

// ---- pops -----------------------------------------------------------------------

/// LPOP/RPOP: without `count`, one element to `out.item`; with it,
/// `out.begin(n)` and up to `count` elements (`count == 0` pops nothing).
/// `Ok(false)` when the key is missing (nothing emitted).
pub fn op_pop(
    db: &mut Db<'_>,
    key: &[u8],
    end: End,
    count: Option<usize>,
    out: &mut impl Sink,
) -> OpResult<bool> {
    let r = update(db, key, |l| match count {
        // Only an empty list left behind by a bug pops nothing here; it
        // answers as a missing key and `update` deletes it.
        None => (pop_one(l, end, |e| out.item(e)).is_some(), true),
        Some(count) => {
            let n = count.min(l.len());
            out.begin(n);
            for _ in 0..n {
                pop_one(l, end, |e| out.item(e));
            }
            (true, n > 0)
        }
    })?;
    Ok(r == Some(true))
}

/// Redis's `popGenericCommand`.
fn pop_generic(ctx: &mut Ctx<'_>, end: End, name: &'static str) {
    let args = ctx.args;
    let count = match args.len() {
        2 => Ok(None),
        3 => non_negative_arg(args.get(2), COUNT_NOT_POSITIVE).map(Some),
        _ => Err(OpError::WrongArgs(name)),
    };
    let count = match count {
        Ok(c) => c,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    match op_pop(&mut db, args.get(1), end, count, &mut ctx.out) {
        Ok(true) => {
            if count != Some(0) {
                ctx.notify_and_del(LIST, pop_event(end), args.get(1));
            }
        }
        Ok(false) if count.is_some() => ctx.out.null_array(),
        Ok(false) => ctx.out.null(),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_lpop(ctx: &mut Ctx<'_>) {
    pop_generic(ctx, End::Left, "lpop");
}

fn cmd_rpop(ctx: &mut Ctx<'_>) {
    pop_generic(ctx, End::Right, "rpop");
}

// ---- reads ----------------------------------------------------------------------

pub fn op_llen(db: &mut Db<'_>, key: &[u8]) -> OpResult<usize> {
    Ok(read(db, key)?.map_or(0, List::len))
}

fn cmd_llen(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match op_llen(&mut db(ctx), key) {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// LRANGE: `out.begin(n)` and the elements from `start` to `stop` (Redis's
/// index rules); a missing key is an empty range.
pub fn op_lrange(
    db: &mut Db<'_>,
    key: &[u8],
    start: i64,
    stop: i64,
    out: &mut impl Sink,
) -> OpResult<()> {
    match read(db, key)? {
        None => out.begin(0),
        Some(l) => {
            let it = l.range(start, stop);
            out.begin(it.len());
            for e in it {
                out.item(e);
            }
        }
    }
    Ok(())
}

fn cmd_lrange(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    // Redis parses the indexes before it looks the key up.
    let range = int_arg(args.get(2)).and_then(|s| Ok((s, int_arg(args.get(3))?)));
    let mut db = ctx.shard.store.db(ctx.db);
    let r = range.and_then(|(s, e)| op_lrange(&mut db, args.get(1), s, e, &mut ctx.out));
    if let Err(e) = r {
        reply_error(&mut ctx.out, e);
    }
}

/// LINDEX. The index is parsed only once the key is known to hold a list,
/// as in Redis (a missing key answers null whatever the index).
pub fn op_lindex<'d>(db: &'d mut Db<'_>, key: &[u8], index: &[u8]) -> OpResult<Option<&'d [u8]>> {
    let Some(l) = read(db, key)? else {
        return Ok(None);
    };
    Ok(l.get(int_arg(index)?))
}

fn cmd_lindex(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    match op_lindex(&mut db, args.get(1), args.get(2)) {
        Ok(Some(e)) => ctx.out.bulk(e),
        Ok(None) => ctx.out.null(),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// LPOS's options.
#[derive(Clone, Copy, Debug)]
struct LposOpts {
    rank: i64,
    /// `None`: no COUNT (the reply is one position or null).
    count: Option<usize>,
    maxlen: usize,
}

/// Parses LPOS's options from `args[3..]`; a repeated option's last value
/// wins, as in Redis.
fn parse_lpos(args: &Args<'_>) -> OpResult<LposOpts> {
    let mut o = LposOpts {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let has_next = j + 1 < args.len();
        if !has_next {
            return Err(OpError::Syntax);
        }
        let val = args.get(j + 1);
        if opt.eq_ignore_ascii_case(b"rank") {
            o.rank = match int_arg(val)? {
                0 => return Err(OpError::Family(RANK_ZERO)),
                // Redis negates the rank in a C `long`: LONG_MIN stays
                // negative and every match qualifies, as with -1.
                i64::MIN => -1,
                n => n,
            };
        } else if opt.eq_ignore_ascii_case(b"count") {
            o.count = Some(non_negative_arg(val, LPOS_COUNT_NEGATIVE)?);
        } else if opt.eq_ignore_ascii_case(b"maxlen") {
            o.maxlen = non_negative_arg(val, LPOS_MAXLEN_NEGATIVE)?;
        } else {
            return Err(OpError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

/// LPOS: positions of `v` (see `List::positions`); `None` when the key is
/// missing. Without COUNT at most one position is returned.
fn op_lpos(db: &mut Db<'_>, key: &[u8], v: &[u8], o: LposOpts) -> OpResult<Option<Vec<usize>>> {
    let Some(l) = read(db, key)? else {
        return Ok(None);
    };
    Ok(Some(l.positions(v, o.rank, o.count.unwrap_or(1), o.maxlen)))
}

fn cmd_lpos(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = parse_lpos(&args).and_then(|o| {
        let found = op_lpos(&mut db(ctx), args.get(1), args.get(2), o)?;
        Ok((o, found))
    });
    match r {
        Ok((o, found)) => {
            let found = found.unwrap_or_default();
            if o.count.is_some() {
                ctx.out.array(found.len());
                for i in found {
                    ctx.out.int(i as i64);
                }
            } else {
                match found.first() {
                    Some(&i) => ctx.out.int(i as i64),
                    None => ctx.out.null(),
                }
            }
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- in-place changes -----------------------------------------------------------

/// LSET. The index is parsed only once the key is known to hold a list.
pub fn op_lset(db: &mut Db<'_>, key: &[u8], index: &[u8], v: &[u8]) -> OpResult<()> {
    let r = update(db, key, |l| match int_arg(index) {
        Err(e) => (Err(e), false),
        Ok(i) if l.set(i, v) => (Ok(()), true),
        Ok(_) => (Err(OpError::IndexOutOfRange), false),
    })?;
    r.unwrap_or(Err(OpError::NoSuchKey))
}

fn cmd_lset(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    match op_lset(&mut db(ctx), args.get(1), args.get(2), args.get(3)) {
        Ok(()) => {
            ctx.notify(LIST, "lset", args.get(1));
            ctx.out.ok()
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// LREM: how many elements equal to `v` were removed (see `List::remove`).
pub fn op_lrem(db: &mut Db<'_>, key: &[u8], count: i64, v: &[u8]) -> OpResult<usize> {
    let n = update(db, key, |l| {
        let n = l.remove(count, v);
        (n, n > 0)
    })?;
    Ok(n.unwrap_or(0))
}

fn cmd_lrem(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = int_arg(args.get(2)).and_then(|c| op_lrem(&mut db(ctx), args.get(1), c, args.get(3)));
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_and_del(LIST, "lrem", args.get(1));
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// LTRIM; whether the key exists (and so was trimmed, if only to itself).
/// A list that keeps every element still counts as changed: Redis
/// signals every LTRIM of a list as a change, which WATCH and client-side
/// caching see.
pub fn op_ltrim(db: &mut Db<'_>, key: &[u8], start: i64, stop: i64) -> OpResult<bool> {
    let r = update(db, key, |l| {
        l.trim(start, stop);
        ((), true)
    })?;
    Ok(r.is_some())
}

fn cmd_ltrim(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = int_arg(args.get(2))
        .and_then(|s| Ok((s, int_arg(args.get(3))?)))
        .and_then(|(s, e)| op_ltrim(&mut db(ctx), args.get(1), s, e));
    match r {
        Ok(existed) => {
            if existed {
                ctx.notify_and_del(LIST, "ltrim", args.get(1));
            }
            ctx.out.ok()
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// LINSERT's answer: the new length, -1 when the pivot is absent, 0 when
/// the key is missing.
pub fn op_linsert(
    db: &mut Db<'_>,
    key: &[u8],
    place: Where,
    pivot: &[u8],
    v: &[u8],
) -> OpResult<i64> {
    let r = update(db, key, |l| match l.insert(place, pivot, v) {
        Some(n) => (n as i64, true),
        None => (-1, false),
    })?;
    Ok(r.unwrap_or(0))
}

fn cmd_linsert(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let place = args.get(2);
    let place = if place.eq_ignore_ascii_case(b"before") {
        Ok(Where::Before)
    } else if place.eq_ignore_ascii_case(b"after") {
        Ok(Where::After)
    } else {
        Err(OpError::Syntax)
    };
    let r = place.and_then(|p| op_linsert(&mut db(ctx), args.get(1), p, args.get(3), args.get(4)));
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify(LIST, "linsert", args.get(1));
            }
            ctx.out.int(n)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- moves between lists --------------------------------------------------------

/// LMOVE and RPOPLPUSH (Redis's `lmoveGenericCommand`): pops at `from` of
/// `src` and pushes at `to` of `dst`; the element moved, `None` when `src`
/// is missing. Both keys are type-checked before anything moves; with
/// `src == dst` the list rotates and is never deleted in between.
pub fn op_lmove(
    db: &mut Db<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> OpResult<Option<Vec<u8>>> {
    if !check_list(db, src)? {
        return Ok(None);
    }
    check_list(db, dst)?;
    if src == dst {
        let r = update(db, src, |l| {
            let v = pop_one(l, from, <[u8]>::to_vec);
            if let Some(v) = &v {
                push_one(l, to, v);
            }
            (v, true)
        })?;
        return Ok(r.flatten());
    }
    let Some(v) = update(db, src, |l| (pop_one(l, from, <[u8]>::to_vec), true))?.flatten() else {
        return Ok(None);
    };
    op_push(db, dst, to, std::iter::once(&v[..]), false)?;
    Ok(Some(v))
}

fn lmove_generic(ctx: &mut Ctx<'_>, ends: OpResult<(End, End)>) {
    let args = ctx.args;
    let r = ends.and_then(|(from, to)| {
        Ok((
            op_lmove(&mut db(ctx), args.get(1), args.get(2), from, to)?,
            from,
            to,
        ))
    });
    match r {
        Ok((Some(v), from, to)) => {
            notify_move(ctx, args.get(1), args.get(2), from, to);
            ctx.out.bulk(&v)
        }
        Ok((None, ..)) => ctx.out.null(),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_lmove(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let ends = parse_end(args.get(3)).and_then(|f| Ok((f, parse_end(args.get(4))?)));
    lmove_generic(ctx, ends);
}

fn cmd_rpoplpush(ctx: &mut Ctx<'_>) {
    lmove_generic(ctx, Ok((End::Right, End::Left)));
}

/// LMPOP's arguments after the name: `numkeys key... LEFT|RIGHT [COUNT n]`.
#[derive(Clone, Copy, Debug)]
struct LmpopArgs {
    numkeys: usize,
    end: End,
    count: usize,
}

/// Parses LMPOP with Redis's checks in Redis's order
/// (`lmpopGenericCommand`).
fn parse_lmpop(args: &Args<'_>) -> OpResult<LmpopArgs> {
    parse_lmpop_at(args, 0)
}

/// [`parse_lmpop`] with numkeys at argument `1 + at` (BLMPOP: 1).
fn parse_lmpop_at(args: &Args<'_>, at: usize) -> OpResult<LmpopArgs> {
    let numkeys = positive_arg(args.get(1 + at), NUMKEYS_NOT_POSITIVE)?;
    let where_idx = numkeys
        .checked_add(2 + at)
        .filter(|&i| i < args.len())
        .ok_or(OpError::Syntax)?;
    let end = parse_end(args.get(where_idx))?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        let has_next = j + 1 < args.len();
        if count.is_none() && has_next && args.get(j).eq_ignore_ascii_case(b"count") {
            count = Some(positive_arg(args.get(j + 1), LMPOP_COUNT_NOT_POSITIVE)?);
            j += 2;
        } else {
            return Err(OpError::Syntax);
        }
    }
    Ok(LmpopArgs {
        numkeys,
        end,
        count: count.unwrap_or(1),
    })
}

/// Validates LMPOP before it is routed, then routes it by its keys.
fn route_lmpop(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let a = parse_lmpop(&args).map_err(|e| message(e).into_owned())?;
    Ok(Route::Keys {
        first: 2,
        // numkeys < argc, so this fits.
        last: i32::try_from(1 + a.numkeys).unwrap_or(i32::MAX),
        step: 1,
        extra: 0,
        fold: Fold::One,
    })
}

/// LMPOP: pops up to `count` elements at `end` of the first non-empty list
/// among `keys`, emitting `[key, [elements]]`; the key popped. `Ok(None)`
/// when every key is missing (nothing emitted); a key of another type
/// before that fails.
pub fn op_lmpop<'k>(
    db: &mut Db<'_>,
    keys: impl Iterator<Item = &'k [u8]>,
    end: End,
    count: usize,
    out: &mut impl Sink,
) -> OpResult<Option<&'k [u8]>> {
    for key in keys {
        let popped = update(db, key, |l| {
            if l.is_empty() {
                return (false, false);
            }
            let n = count.min(l.len());
            out.begin(2);
            out.item(key);
            out.begin(n);
            for _ in 0..n {
                pop_one(l, end, |e| out.item(e));
            }
            (true, true)
        })?;
        if popped == Some(true) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

fn cmd_lmpop(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let a = match parse_lmpop(&args) {
        Ok(a) => a,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let keys = args.iter().skip(2).take(a.numkeys);
    let mut db = ctx.shard.store.db(ctx.db);
    match op_lmpop(&mut db, keys, a.end, a.count, &mut ctx.out) {
        Ok(Some(key)) => ctx.notify_and_del(LIST, pop_event(a.end), key),
        Ok(None) => ctx.out.null_array(),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::*;
    use kevy_store::Value;

    fn ints(items: &[i64]) -> String {
        let mut s = format!("*{}\r\n", items.len());
        for i in items {
            s += &int(*i);
        }
        s
    }

    /// A runner with `s` holding a string and `l` holding `items`.
    fn with_list(items: &[&str]) -> T {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "s", "x"]), OK);
        if !items.is_empty() {
            let mut argv = vec!["RPUSH", "l"];
            argv.extend_from_slice(items);
            assert_eq!(t.run(&argv), int(items.len() as i64));
        }
        t
    }

    #[test]
    fn push_and_range() {
        let mut t = with_list(&[]);
        assert_eq!(t.run(&["LPUSH", "l", "b", "a"]), int(2));
        assert_eq!(t.run(&["RPUSH", "l", "c", "d"]), int(4));
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            arr(&["a", "b", "c", "d"])
        );
        assert_eq!(t.run(&["LRANGE", "l", "-2", "100"]), arr(&["c", "d"]));
        assert_eq!(t.run(&["LRANGE", "l", "3", "1"]), EMPTY);
        assert_eq!(t.run(&["LRANGE", "none", "0", "-1"]), EMPTY);
        assert_eq!(t.run(&["LRANGE", "l", "x", "1"]), NOTINT);
        assert_eq!(t.run(&["LRANGE", "none", "0", "x"]), NOTINT);
        assert_eq!(t.run(&["LLEN", "l"]), int(4));
        assert_eq!(t.run(&["LLEN", "none"]), int(0));
        assert_eq!(t.run(&["LPUSHX", "none", "a"]), int(0));
        assert_eq!(t.run(&["EXISTS", "none"]), int(0));
        assert_eq!(t.run(&["RPUSHX", "l", "e"]), int(5));
        assert_eq!(t.run(&["LPUSHX", "l", "z", "y"]), int(7));
        assert_eq!(t.run(&["LINDEX", "l", "0"]), bulk("y"));
        assert_eq!(t.run(&["TYPE", "l"]), "+list\r\n");
        assert_eq!(
            t.run(&["LPUSH", "l"]),
            "-ERR wrong number of arguments for 'lpush' command\r\n"
        );
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut t = with_list(&["a"]);
        for argv in [
            &["LPUSH", "s", "a"][..],
            &["RPUSH", "s", "a"],
            &["LPUSHX", "s", "a"],
            &["RPUSHX", "s", "a"],
            &["LPOP", "s"],
            &["RPOP", "s", "0"],
            &["LLEN", "s"],
            &["LRANGE", "s", "0", "-1"],
            &["LINDEX", "s", "x"],
            &["LSET", "s", "x", "v"],
            &["LREM", "s", "0", "v"],
            &["LTRIM", "s", "0", "1"],
            &["LINSERT", "s", "BEFORE", "a", "b"],
            &["LPOS", "s", "a"],
            &["LMOVE", "s", "l", "LEFT", "LEFT"],
            &["LMOVE", "l", "s", "LEFT", "LEFT"],
            &["RPOPLPUSH", "s", "l"],
            &["RPOPLPUSH", "l", "s"],
            &["LMPOP", "2", "none", "s", "LEFT"],
        ] {
            assert_eq!(t.run(argv), WRONGTYPE, "{argv:?}");
        }
        // Nothing moved or changed.
        assert_eq!(t.run(&["LRANGE", "l", "0", "-1"]), arr(&["a"]));
        assert_eq!(t.run(&["GET", "s"]), bulk("x"));
    }

    #[test]
    fn pops_with_and_without_count() {
        let mut t = with_list(&["a", "b", "c", "d", "e"]);
        assert_eq!(t.run(&["LPOP", "l"]), bulk("a"));
        assert_eq!(t.run(&["RPOP", "l"]), bulk("e"));
        assert_eq!(t.run(&["LPOP", "l", "0"]), EMPTY);
        assert_eq!(t.run(&["RPOP", "l", "2"]), arr(&["d", "c"]));
        assert_eq!(t.run(&["LPOP", "l", "9"]), arr(&["b"]));
        assert_eq!(t.run(&["EXISTS", "l"]), int(0));
        assert_eq!(t.run(&["LPOP", "l"]), NULL);
        assert_eq!(t.run(&["LPOP", "l", "0"]), NULL_ARRAY);
        assert_eq!(t.run(&["RPOP", "l", "3"]), NULL_ARRAY);
        let positive = "-ERR value is out of range, must be positive\r\n";
        assert_eq!(t.run(&["LPOP", "l", "-1"]), positive);
        assert_eq!(t.run(&["LPOP", "s", "x"]), positive);
        assert_eq!(
            t.run(&["RPOP", "l", "1", "2"]),
            "-ERR wrong number of arguments for 'rpop' command\r\n"
        );
        t.client.resp3 = true;
        assert_eq!(t.run(&["LPOP", "l"]), "_\r\n");
        assert_eq!(t.run(&["LPOP", "l", "1"]), "_\r\n");
    }

    #[test]
    fn lindex_and_lset() {
        let mut t = with_list(&["a", "b", "c"]);
        assert_eq!(t.run(&["LINDEX", "l", "1"]), bulk("b"));
        assert_eq!(t.run(&["LINDEX", "l", "-1"]), bulk("c"));
        assert_eq!(t.run(&["LINDEX", "l", "3"]), NULL);
        assert_eq!(t.run(&["LINDEX", "l", "x"]), NOTINT);
        assert_eq!(t.run(&["LINDEX", "none", "x"]), NULL);
        assert_eq!(t.run(&["LSET", "l", "-1", "C"]), OK);
        assert_eq!(t.run(&["LINDEX", "l", "2"]), bulk("C"));
        assert_eq!(
            t.run(&["LSET", "l", "3", "x"]),
            "-ERR index out of range\r\n"
        );
        assert_eq!(t.run(&["LSET", "l", "x", "x"]), NOTINT);
        assert_eq!(t.run(&["LSET", "none", "x", "x"]), "-ERR no such key\r\n");
    }

    #[test]
    fn lrem_ltrim_linsert() {
        let mut t = with_list(&["a", "b", "a", "c", "a"]);
        assert_eq!(t.run(&["LREM", "l", "-1", "a"]), int(1));
        assert_eq!(t.run(&["LREM", "l", "1", "a"]), int(1));
        assert_eq!(t.run(&["LRANGE", "l", "0", "-1"]), arr(&["b", "a", "c"]));
        assert_eq!(t.run(&["LREM", "l", "0", "zz"]), int(0));
        assert_eq!(t.run(&["LREM", "none", "0", "a"]), int(0));
        assert_eq!(t.run(&["LREM", "l", "x", "a"]), NOTINT);
        assert_eq!(t.run(&["LINSERT", "l", "before", "a", "x"]), int(4));
        assert_eq!(t.run(&["LINSERT", "l", "AFTER", "a", "y"]), int(5));
        assert_eq!(t.run(&["LINSERT", "l", "after", "zz", "y"]), int(-1));
        assert_eq!(t.run(&["LINSERT", "none", "after", "a", "y"]), int(0));
        assert_eq!(t.run(&["LINSERT", "none", "middle", "a", "y"]), SYNTAX);
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            arr(&["b", "x", "a", "y", "c"])
        );
        assert_eq!(t.run(&["LTRIM", "l", "1", "-2"]), OK);
        assert_eq!(t.run(&["LRANGE", "l", "0", "-1"]), arr(&["x", "a", "y"]));
        assert_eq!(t.run(&["LTRIM", "none", "0", "1"]), OK);
        assert_eq!(t.run(&["LTRIM", "l", "0", "x"]), NOTINT);
        assert_eq!(t.run(&["LTRIM", "l", "5", "10"]), OK);
        assert_eq!(t.run(&["EXISTS", "l"]), int(0));
        assert_eq!(t.run(&["RPUSH", "l", "a"]), int(1));
        assert_eq!(t.run(&["LREM", "l", "0", "a"]), int(1));
        assert_eq!(t.run(&["EXISTS", "l"]), int(0));
    }

    #[test]
    fn lpos_options_and_errors() {
        let mut t = with_list(&["a", "b", "a", "c", "a"]);
        assert_eq!(t.run(&["LPOS", "l", "a"]), int(0));
        assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "2"]), int(2));
        assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "-1"]), int(4));
        assert_eq!(t.run(&["LPOS", "l", "zz"]), NULL);
        assert_eq!(t.run(&["LPOS", "l", "a", "COUNT", "0"]), ints(&[0, 2, 4]));
        assert_eq!(t.run(&["LPOS", "l", "a", "COUNT", "2"]), ints(&[0, 2]));
        assert_eq!(
            t.run(&["LPOS", "l", "a", "RANK", "-2", "COUNT", "0", "MAXLEN", "3"]),
            ints(&[2])
        );
        assert_eq!(
            t.run(&[
                "LPOS",
                "l",
                "a",
                "RANK",
                "-9223372036854775808",
                "COUNT",
                "0"
            ]),
            ints(&[4, 2, 0])
        );
        assert_eq!(t.run(&["LPOS", "l", "zz", "COUNT", "1"]), EMPTY);
        assert_eq!(t.run(&["LPOS", "none", "a", "COUNT", "1"]), EMPTY);
        assert_eq!(t.run(&["LPOS", "none", "a"]), NULL);
        assert_eq!(
            t.run(&["LPOS", "l", "a", "RANK", "0"]),
            "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
             second ... or use negative to start from the end of the list\r\n"
        );
        assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "x"]), NOTINT);
        assert_eq!(
            t.run(&["LPOS", "l", "a", "COUNT", "x"]),
            "-ERR COUNT can't be negative\r\n"
        );
        assert_eq!(
            t.run(&["LPOS", "l", "a", "MAXLEN", "-1"]),
            "-ERR MAXLEN can't be negative\r\n"
        );
        assert_eq!(t.run(&["LPOS", "l", "a", "RANK"]), SYNTAX);
        assert_eq!(t.run(&["LPOS", "l", "a", "FOO", "1"]), SYNTAX);
    }

    #[test]
    fn lmove_and_rpoplpush() {
        let mut t = with_list(&["a", "b", "c"]);
        assert_eq!(t.run(&["LMOVE", "l", "m", "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(t.run(&["LMOVE", "l", "m", "right", "left"]), bulk("c"));
        assert_eq!(t.run(&["LRANGE", "m", "0", "-1"]), arr(&["c", "a"]));
        assert_eq!(t.run(&["RPOPLPUSH", "l", "m"]), bulk("b"));
        assert_eq!(t.run(&["EXISTS", "l"]), int(0));
        assert_eq!(t.run(&["RPOPLPUSH", "l", "m"]), NULL);
        assert_eq!(t.run(&["LMOVE", "l", "m", "LEFT", "UP"]), SYNTAX);
        // Same key: the list rotates.
        assert_eq!(t.run(&["RPOPLPUSH", "m", "m"]), bulk("a"));
        assert_eq!(t.run(&["LRANGE", "m", "0", "-1"]), arr(&["a", "b", "c"]));
        assert_eq!(t.run(&["LMOVE", "m", "m", "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(t.run(&["LRANGE", "m", "0", "-1"]), arr(&["b", "c", "a"]));
        assert_eq!(t.run(&["RPUSH", "one", "x"]), int(1));
        assert_eq!(t.run(&["LMOVE", "one", "one", "LEFT", "LEFT"]), bulk("x"));
        assert_eq!(t.run(&["LRANGE", "one", "0", "-1"]), arr(&["x"]));
    }

    #[test]
    fn lmpop_parsing_and_pops() {
        let mut t = with_list(&["a", "b", "c"]);
        assert_eq!(
            t.run(&["LMPOP", "2", "none", "l", "LEFT"]),
            "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"
        );
        assert_eq!(
            t.run(&["LMPOP", "1", "l", "RIGHT", "COUNT", "5"]),
            "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "l"]), int(0));
        assert_eq!(t.run(&["LMPOP", "1", "l", "LEFT"]), NULL_ARRAY);
        let numkeys = "-ERR numkeys should be greater than 0\r\n";
        assert_eq!(t.run(&["LMPOP", "0", "l", "LEFT"]), numkeys);
        assert_eq!(t.run(&["LMPOP", "x", "l", "LEFT"]), numkeys);
        assert_eq!(t.run(&["LMPOP", "2", "l", "LEFT"]), SYNTAX);
        assert_eq!(
            t.run(&["LMPOP", "9223372036854775807", "l", "LEFT"]),
            SYNTAX
        );
        assert_eq!(t.run(&["LMPOP", "1", "l", "UP"]), SYNTAX);
        assert_eq!(
            t.run(&["LMPOP", "1", "l", "LEFT", "COUNT", "0"]),
            "-ERR count should be greater than 0\r\n"
        );
        assert_eq!(
            t.run(&["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "1"]),
            SYNTAX
        );
        assert_eq!(t.run(&["LMPOP", "1", "l", "LEFT", "COUNT"]), SYNTAX);
        t.client.resp3 = true;
        assert_eq!(t.run(&["LMPOP", "1", "l", "LEFT"]), "_\r\n");
    }

    #[test]
    fn big_lists_span_nodes_and_account_memory() {
        let mut t = T::new();
        let empty = t.shard.store.used_memory();
        let v = "x".repeat(100);
        for _ in 0..300 {
            t.run(&["RPUSH", "big", &v]);
        }
        match t.shard.store.db(0).get(b"big") {
            Some(Value::List(l)) => assert_eq!(l.encoding_name(), "quicklist"),
            v => panic!("{v:?}"),
        }
        assert_eq!(t.run(&["LLEN", "big"]), int(300));
        assert_eq!(t.run(&["LINDEX", "big", "150"]), bulk(&v));
        assert_eq!(t.run(&["LPOP", "big", "299"]).matches(&v).count(), 299);
        assert_eq!(t.run(&["RPOP", "big"]), bulk(&v));
        assert_eq!(t.run(&["EXISTS", "big"]), int(0));
        assert!(
            // The keyspace keeps its (small) bucket array once allocated.
            t.shard.store.used_memory() <= empty + 64,
            "{}",
            t.shard.store.used_memory()
        );
    }
}
