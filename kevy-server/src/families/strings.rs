//! The strings command family (Redis's `t_string.c`): GET and SET with
//! their variants, counters, ranges, and the multi-key MGET/MSET/MSETNX.
//!
//! Each command is a `cmd_*` that parses its arguments and encodes the
//! reply around an `op_*` that runs on the shard's store and returns a
//! typed result. Variants share one generic function, as in Redis: SET,
//! SETNX, SETEX and PSETEX are `set_generic`; INCR, DECR, INCRBY and
//! DECRBY are `incr_generic`.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::notify::{GENERIC, STRING};
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::expire::{set_expire_at, Unit};
use kevy_store::num::parse_i64;
use kevy_store::{Db, OpError, OpResult, SetCond, SetTtl, StrValue, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@string", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@string", "@slow"];
    const W_FAST: &[&str] = &["@write", "@string", "@fast"];
    const W_SLOW: &[&str] = &["@write", "@string", "@slow"];
    let _one = RouteKind::Keys(Fold::One);
    let spec = CommandSpec::single_key;
    t.add(spec("get", 2, READONLY | FAST, R_FAST, cmd_get));
    // Redis does not flag SET fast: with GET or a big value it is not O(1).
    t.add(spec("set", -3, WRITE | DENYOOM, W_SLOW, cmd_set));
    t.add(spec("setnx", 3, WRITE | DENYOOM | FAST, W_FAST, cmd_setnx));
    t.add(spec("setex", 4, WRITE | DENYOOM, W_SLOW, cmd_setex));
    t.add(spec("psetex", 4, WRITE | DENYOOM, W_SLOW, cmd_psetex));
    t.add(spec(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_getset,
    ));
    t.add(spec("getdel", 2, WRITE | FAST, W_FAST, cmd_getdel));
    t.add(spec("getex", -2, WRITE | FAST, W_FAST, cmd_getex));
    t.add(spec("incr", 2, WRITE | DENYOOM | FAST, W_FAST, cmd_incr));
    t.add(spec("decr", 2, WRITE | DENYOOM | FAST, W_FAST, cmd_decr));
    t.add(spec(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_incrby,
    ));
    t.add(spec(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_decrby,
    ));
    t.add(spec(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_incrbyfloat,
    ));
    t.add(spec(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_append,
    ));
    t.add(spec("strlen", 2, READONLY | FAST, R_FAST, cmd_strlen));
    t.add(spec("getrange", 4, READONLY, R_SLOW, cmd_getrange));
    t.add(spec("substr", 4, READONLY, R_SLOW, cmd_getrange));
    t.add(spec("setrange", 4, WRITE | DENYOOM, W_SLOW, cmd_setrange));
    t.add(CommandSpec {
        last: -1,
        route: RouteKind::Keys(Fold::Gather),
        ..spec("mget", -2, READONLY | FAST, R_FAST, cmd_mget)
    });
    // MSET splits into per-shard parts, so an odd argument count must be
    // refused before the split (else the other parts would be applied):
    // hence a custom route that checks it, then routes like Keys(AllOk).
    t.add(CommandSpec {
        last: -1,
        step: 2,
        route: RouteKind::Custom(route_mset),
        ..spec("mset", -3, WRITE | DENYOOM, W_SLOW, cmd_mset)
    });
    t.add(CommandSpec {
        last: -1,
        step: 2,
        ..spec("msetnx", -3, WRITE | DENYOOM, W_SLOW, cmd_msetnx)
    });
    // Both keys are served as one unit: across shards LCS runs over copies.
    t.add(CommandSpec {
        last: 2,
        ..spec("lcs", -3, READONLY, R_SLOW, cmd_lcs)
    });
}

// ---- shared helpers -------------------------------------------------------------

/// An integer argument (Redis's `getLongLongFromObjectOrReply`).
fn int_arg(a: &[u8]) -> OpResult<i64> {
    parse_i64(a).ok_or(OpError::NotInteger)
}

/// A string value as a bulk reply.
fn reply_str(out: &mut Reply<'_>, s: &StrValue) {
    match s {
        StrValue::Int(n) => out.bulk_i64(*n),
        _ => {
            let mut buf = [0u8; kevy_store::num::MAX_I64_CHARS];
            out.bulk(s.as_bytes(&mut buf));
        }
    }
}

/// An optional string: bulk or null.
fn reply_opt_str(out: &mut Reply<'_>, s: Option<&StrValue>) {
    match s {
        Some(s) => reply_str(out, s),
        None => out.null(),
    }
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

// ---- GET ------------------------------------------------------------------------

pub fn op_get(db: &mut Db<'_>, key: &[u8]) -> OpResult<Option<StrValue>> {
    Ok(db.get_str(key)?.cloned())
}

fn cmd_get(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    // Encode straight from the stored value: GET is the hot path.
    match ctx.shard.store.db(ctx.db).get_str(key) {
        Ok(v) => reply_opt_str(&mut ctx.out, v),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- SET and its variants -------------------------------------------------------

/// An expire argument still to be validated, with how to read it.
#[derive(Clone, Copy)]
struct ExpireArg<'a> {
    raw: &'a [u8],
    unit: Unit,
    /// EX/PX (relative to now) rather than EXAT/PXAT.
    relative: bool,
}

/// The options of SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Clone, Copy, Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<ExpireArg<'a>>,
}

/// Parses SET (`set = true`) or GETEX options from `args[from..]`, with
/// Redis's rules on which options exclude which.
fn parse_ext<'a>(args: &Args<'a>, from: usize, set: bool) -> OpResult<ExtOpts<'a>> {
    let mut o = ExtOpts::default();
    let mut j = from;
    while j < args.len() {
        let opt = args.get(j);
        let has_next = j + 1 < args.len();
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let has_expire = o.expire.is_some();
        // EX may repeat (the last wins); it only excludes the other forms.
        let other_expire = |unit: Unit, relative: bool| {
            o.expire
                .is_some_and(|e| (e.unit, e.relative) != (unit, relative))
        };
        let form = [
            ("ex", Unit::Seconds, true),
            ("px", Unit::Millis, true),
            ("exat", Unit::Seconds, false),
            ("pxat", Unit::Millis, false),
        ]
        .into_iter()
        .find(|f| is(f.0))
        .filter(|f| !o.keepttl && !o.persist && !other_expire(f.1, f.2) && has_next);
        if is("nx") && !o.xx && set {
            o.nx = true;
        } else if is("xx") && !o.nx && set {
            o.xx = true;
        } else if is("get") && set {
            o.get = true;
        } else if is("keepttl") && !o.persist && !has_expire && set {
            o.keepttl = true;
        } else if is("persist") && !set && !has_expire && !o.keepttl {
            o.persist = true;
        } else if let Some((_, unit, relative)) = form {
            o.expire = Some(ExpireArg {
                raw: args.get(j + 1),
                unit,
                relative,
            });
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// How a SET variant answers.
#[derive(Clone, Copy)]
enum SetReply {
    /// `+OK`, or null when NX/XX stopped it (SET, SETEX, PSETEX).
    OkOrNull,
    /// `:1` / `:0` (SETNX).
    OneOrZero,
}

/// SET's options after validation.
struct SetPlan {
    cond: SetCond,
    ttl: SetTtl,
    get: bool,
}

/// Validates options into a plan; `cmd` names the command in expire errors.
fn plan_set(o: &ExtOpts<'_>, now: u64, cmd: &'static str) -> OpResult<SetPlan> {
    let ttl = match o.expire {
        Some(e) => SetTtl::At(set_expire_at(
            int_arg(e.raw)?,
            e.unit,
            e.relative,
            now,
            cmd,
        )?),
        None if o.keepttl => SetTtl::Keep,
        None => SetTtl::Clear,
    };
    let cond = if o.nx {
        SetCond::IfAbsent
    } else if o.xx {
        SetCond::IfPresent
    } else {
        SetCond::Always
    };
    Ok(SetPlan {
        cond,
        ttl,
        get: o.get,
    })
}

/// SET, SETNX, SETEX, PSETEX: Redis's `setGenericCommand`.
fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    opts: OpResult<ExtOpts<'_>>,
    reply: SetReply,
    cmd: &'static str,
) {
    let now = ctx.shard.store.now();
    let plan = match opts.and_then(|o| plan_set(&o, now, cmd)) {
        Ok(p) => p,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let r = db(ctx).set_str(
        key,
        StrValue::from_input(value),
        plan.cond,
        plan.ttl,
        plan.get,
    );
    if let (Ok(o), SetTtl::At(at)) = (&r, plan.ttl) {
        if o.written && ctx.propagating() {
            ctx.propagate(&[b"SET", key, value, b"PXAT", at.to_string().as_bytes()]);
        }
    }
    if r.as_ref().is_ok_and(|o| o.written) {
        ctx.notify(STRING, "set", key);
        if let SetTtl::At(_) = plan.ttl {
            ctx.notify(GENERIC, "expire", key);
        }
    }
    match r {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(o) if plan.get => reply_opt_str(&mut ctx.out, o.old.as_ref()),
        Ok(o) => match (reply, o.written) {
            (SetReply::OkOrNull, true) => ctx.out.ok(),
            (SetReply::OkOrNull, false) => ctx.out.null(),
            (SetReply::OneOrZero, w) => ctx.out.int(w as i64),
        },
    }
}

fn cmd_set(ctx: &mut Ctx<'_>) {
    let (key, value) = (ctx.args.get(1), ctx.args.get(2));
    let opts = parse_ext(&ctx.args, 3, true);
    set_generic(ctx, key, value, opts, SetReply::OkOrNull, "set");
}

fn cmd_setnx(ctx: &mut Ctx<'_>) {
    let (key, value) = (ctx.args.get(1), ctx.args.get(2));
    let opts = ExtOpts {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, key, value, Ok(opts), SetReply::OneOrZero, "setnx");
}

fn setex_generic(ctx: &mut Ctx<'_>, unit: Unit, cmd: &'static str) {
    let (key, ttl, value) = (ctx.args.get(1), ctx.args.get(2), ctx.args.get(3));
    let opts = ExtOpts {
        expire: Some(ExpireArg {
            raw: ttl,
            unit,
            relative: true,
        }),
        ..Default::default()
    };
    set_generic(ctx, key, value, Ok(opts), SetReply::OkOrNull, cmd);
}

fn cmd_setex(ctx: &mut Ctx<'_>) {
    setex_generic(ctx, Unit::Seconds, "setex");
}

fn cmd_psetex(ctx: &mut Ctx<'_>) {
    setex_generic(ctx, Unit::Millis, "psetex");
}

fn cmd_getset(ctx: &mut Ctx<'_>) {
    let (key, value) = (ctx.args.get(1), ctx.args.get(2));
    let opts = ExtOpts {
        get: true,
        ..Default::default()
    };
    // GETSET drops any TTL, like a plain SET.
    set_generic(ctx, key, value, Ok(opts), SetReply::OkOrNull, "getset");
}

// ---- GETDEL / GETEX -------------------------------------------------------------

pub fn op_getdel(db: &mut Db<'_>, key: &[u8]) -> OpResult<Option<StrValue>> {
    db.get_del(key)
}

fn cmd_getdel(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match op_getdel(&mut db(ctx), key) {
        Ok(v) => {
            if v.is_some() {
                ctx.propagate(&[b"DEL", key]);
                ctx.notify(GENERIC, "del", key);
            }
            reply_opt_str(&mut ctx.out, v.as_ref())
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// What GETEX did to the key's TTL.
enum GetexDid {
    Nothing,
    /// Set to expire at (absolute ms; deleted when not in the future).
    ExpireAt(u64),
    Persisted,
}

/// GETEX: reads the string, then applies the TTL change. The expire value
/// is validated only once the key is known to hold a string, as in Redis.
fn op_getex(
    db: &mut Db<'_>,
    key: &[u8],
    o: &ExtOpts<'_>,
) -> OpResult<(Option<StrValue>, GetexDid)> {
    let Some(v) = db.get_str(key)? else {
        return Ok((None, GetexDid::Nothing));
    };
    let v = v.clone();
    let mut did = GetexDid::Nothing;
    if let Some(e) = o.expire {
        let at = set_expire_at(int_arg(e.raw)?, e.unit, e.relative, db.now(), "getex")?;
        if !e.relative && at <= db.now() {
            db.remove(key);
        } else {
            db.set_expire(key, at);
        }
        did = GetexDid::ExpireAt(at);
    } else if o.persist && db.persist(key) {
        did = GetexDid::Persisted;
    }
    Ok((Some(v), did))
}

fn cmd_getex(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let r = parse_ext(&ctx.args, 2, false).and_then(|o| op_getex(&mut db(ctx), key, &o));
    match r {
        Ok((v, did)) => {
            match did {
                GetexDid::Nothing => {}
                GetexDid::ExpireAt(at) => {
                    ctx.propagate_expire_at(key, at as i64);
                    let gone = at <= ctx.shard.store.now();
                    ctx.notify(GENERIC, if gone { "del" } else { "expire" }, key);
                }
                GetexDid::Persisted => {
                    ctx.propagate(&[b"PERSIST", key]);
                    ctx.notify(GENERIC, "persist", key);
                }
            }
            reply_opt_str(&mut ctx.out, v.as_ref())
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- counters -------------------------------------------------------------------

pub fn op_incr_by(db: &mut Db<'_>, key: &[u8], delta: i64) -> OpResult<i64> {
    db.incr_by(key, delta)
}

/// INCR, DECR, INCRBY, DECRBY: Redis's `incrDecrCommand`.
fn incr_generic(ctx: &mut Ctx<'_>, delta: OpResult<i64>) {
    let key = ctx.args.get(1);
    match delta.and_then(|d| op_incr_by(&mut db(ctx), key, d)) {
        Ok(n) => {
            ctx.notify(STRING, "incrby", key);
            ctx.out.int(n)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_incr(ctx: &mut Ctx<'_>) {
    incr_generic(ctx, Ok(1));
}

fn cmd_decr(ctx: &mut Ctx<'_>) {
    incr_generic(ctx, Ok(-1));
}

fn cmd_incrby(ctx: &mut Ctx<'_>) {
    let d = int_arg(ctx.args.get(2));
    incr_generic(ctx, d);
}

fn cmd_decrby(ctx: &mut Ctx<'_>) {
    let d =
        int_arg(ctx.args.get(2)).and_then(|n| n.checked_neg().ok_or(OpError::DecrementOverflow));
    incr_generic(ctx, d);
}

pub fn op_incr_by_float(db: &mut Db<'_>, key: &[u8], incr: &[u8]) -> OpResult<Vec<u8>> {
    db.incr_by_float(key, incr)
}

fn cmd_incrbyfloat(ctx: &mut Ctx<'_>) {
    let (key, incr) = (ctx.args.get(1), ctx.args.get(2));
    match op_incr_by_float(&mut db(ctx), key, incr) {
        Ok(s) => {
            ctx.propagate(&[b"SET", key, &s, b"KEEPTTL"]);
            ctx.notify(STRING, "incrbyfloat", key);
            ctx.out.bulk(&s)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- APPEND, STRLEN, ranges -----------------------------------------------------

fn cmd_append(ctx: &mut Ctx<'_>) {
    let (key, data) = (ctx.args.get(1), ctx.args.get(2));
    match db(ctx).append(key, data) {
        Ok(n) => {
            ctx.notify(STRING, "append", key);
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_strlen(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match db(ctx).strlen(key) {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

pub fn op_getrange(db: &mut Db<'_>, key: &[u8], start: i64, end: i64) -> OpResult<Vec<u8>> {
    db.get_range(key, start, end)
}

/// GETRANGE and its old name SUBSTR.
fn cmd_getrange(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let r = int_arg(ctx.args.get(2))
        .and_then(|s| Ok((s, int_arg(ctx.args.get(3))?)))
        .and_then(|(s, e)| op_getrange(&mut db(ctx), key, s, e));
    match r {
        Ok(b) => ctx.out.bulk(&b),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

pub fn op_setrange(db: &mut Db<'_>, key: &[u8], offset: i64, data: &[u8]) -> OpResult<usize> {
    let offset = usize::try_from(offset).map_err(|_| OpError::OffsetOutOfRange)?;
    db.set_range(key, offset, data)
}

fn cmd_setrange(ctx: &mut Ctx<'_>) {
    let (key, data) = (ctx.args.get(1), ctx.args.get(3));
    let r = int_arg(ctx.args.get(2)).and_then(|off| op_setrange(&mut db(ctx), key, off, data));
    match r {
        Ok(n) => {
            if !data.is_empty() {
                ctx.notify(STRING, "setrange", key);
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- multi-key ------------------------------------------------------------------

fn cmd_mget(ctx: &mut Ctx<'_>) {
    let n = ctx.args.len() - 1;
    ctx.out.array(n);
    if n > 1 {
        let keys = (1..=n).map(|i| ctx.args.get(i));
        ctx.shard
            .store
            .prefetch_keys(ctx.db, keys, kevy_sys::hint::prefetch);
    }
    let mut db = ctx.shard.store.db(ctx.db);
    for i in 1..=n {
        match db.get(ctx.args.get(i)).and_then(Value::as_str) {
            Some(s) => reply_str(&mut ctx.out, s),
            None => ctx.out.null(),
        }
    }
}

/// Refuses an odd argument count before MSET is split over shards.
fn route_mset(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    // The name plus key/value pairs is an odd count.
    let paired = args.len() % 2 == 1;
    if !paired {
        return Err(crate::errors::message(OpError::WrongArgs("mset")).into_owned());
    }
    Ok(Route::Keys {
        first: 1,
        last: -1,
        step: 2,
        extra: 0,
        fold: Fold::AllOk,
    })
}

/// MSET and MSETNX: sets every pair, each followed by its event; with
/// `nx`, only when none exists.
fn op_mset(ctx: &mut Ctx<'_>, pairs: &[(&[u8], &[u8])], nx: bool) -> bool {
    if nx && pairs.iter().any(|(k, _)| db(ctx).contains(k)) {
        return false;
    }
    for (k, v) in pairs {
        db(ctx).set(k, Value::string(v), SetTtl::Clear);
        ctx.notify(STRING, "set", k);
    }
    true
}

fn mset_generic(ctx: &mut Ctx<'_>, nx: bool, name: &'static str) {
    let paired = ctx.args.len() % 2 == 1;
    if !paired {
        return reply_error(&mut ctx.out, OpError::WrongArgs(name));
    }
    let pairs: Vec<(&[u8], &[u8])> = (1..ctx.args.len())
        .step_by(2)
        .map(|i| (ctx.args.get(i), ctx.args.get(i + 1)))
        .collect();
    if pairs.len() > 1 {
        let keys = pairs.iter().map(|p| p.0);
        ctx.shard
            .store
            .prefetch_keys_to_write(ctx.db, keys, kevy_sys::hint::prefetch);
    }
    let done = op_mset(ctx, &pairs, nx);
    if nx {
        ctx.out.int(done as i64);
    } else {
        ctx.out.ok();
    }
}

fn cmd_mset(ctx: &mut Ctx<'_>) {
    mset_generic(ctx, false, "mset");
}

fn cmd_msetnx(ctx: &mut Ctx<'_>) {
    mset_generic(ctx, true, "msetnx");
}

// ---- LCS ------------------------------------------------------------------------

const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LCS_LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const LCS_NO_MEMORY: &str = "ERR Insufficient memory, failed allocating transient memory for LCS";

/// LCS's options.
#[derive(Default)]
struct LcsOpts {
    len: bool,
    idx: bool,
    min_match: u64,
    with_match_len: bool,
}

fn parse_lcs(args: &Args<'_>) -> OpResult<LcsOpts> {
    let mut o = LcsOpts::default();
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("idx") {
            o.idx = true;
        } else if is("len") {
            o.len = true;
        } else if is("withmatchlen") {
            o.with_match_len = true;
        } else if is("minmatchlen") && j + 1 < args.len() {
            o.min_match = int_arg(args.get(j + 1))?.max(0) as u64;
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(OpError::Family(LCS_LEN_AND_IDX));
    }
    Ok(o)
}

/// One common run LCS IDX reports: inclusive ranges in the first and the
/// second string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcsMatch {
    pub a: (usize, usize),
    pub b: (usize, usize),
}

/// The longest common subsequence of `a` and `b` and the runs it is made
/// of, last first, with runs shorter than `min_match` left out (Redis's
/// `lcsCommand`, whose walk back through the table decides which of
/// several equally long subsequences is reported). `None` when the table
/// cannot be allocated.
pub fn lcs(a: &[u8], b: &[u8], min_match: u64) -> Option<(Vec<u8>, Vec<LcsMatch>)> {
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1).checked_mul(blen + 1)?;
    let mut dp: Vec<u32> = Vec::new();
    dp.try_reserve_exact(cells).ok()?;
    dp.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let mut idx = dp[alen * w + blen] as usize;
    let mut out = vec![0u8; idx];
    let mut matches = Vec::new();
    // The run being followed backwards: [a_start, a_end, b_start, b_end].
    let mut run: Option<[usize; 4]> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            out[idx - 1] = a[i - 1];
            match &mut run {
                None => run = Some([i - 1, i - 1, j - 1, j - 1]),
                Some(r) if r[0] == i && r[2] == j => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            // A run that reached the start of either string ends here.
            if run.is_some_and(|r| r[0] == 0 || r[2] == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = run.is_some();
        }
        if emit {
            if let Some(r) = run.take() {
                if (r[1] - r[0] + 1) as u64 >= min_match {
                    matches.push(LcsMatch {
                        a: (r[0], r[1]),
                        b: (r[2], r[3]),
                    });
                }
            }
        }
    }
    Some((out, matches))
}

/// The length of the longest common subsequence, in two rows of the table
/// (`None` when they cannot be allocated).
pub fn lcs_len(a: &[u8], b: &[u8]) -> Option<usize> {
    let mut prev: Vec<u32> = Vec::new();
    prev.try_reserve_exact(b.len() + 1).ok()?;
    prev.resize(b.len() + 1, 0);
    let mut cur = prev.clone();
    for &x in a {
        for j in 1..=b.len() {
            cur[j] = if x == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()] as usize)
}

/// The strings at both keys (read lookups, both made before either type is
/// checked, as Redis does); a missing key is the empty string.
fn lcs_inputs(db: &mut Db<'_>, k1: &[u8], k2: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
    let mut read = |k: &[u8]| match db.get(k) {
        None => Some(Vec::new()),
        Some(v) => v.as_str().map(StrValue::to_vec),
    };
    let (a, b) = (read(k1), read(k2));
    match (a, b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(OpError::Family(LCS_NOT_STRINGS)),
    }
}

fn cmd_lcs(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = lcs_inputs(&mut db(ctx), args.get(1), args.get(2))
        .and_then(|ab| Ok((ab, parse_lcs(&args)?)));
    let ((a, b), o) = match r {
        Ok(x) => x,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let out = &mut ctx.out;
    if o.len && !o.idx {
        return match lcs_len(&a, &b) {
            Some(n) => out.int(n as i64),
            None => out.error(LCS_NO_MEMORY),
        };
    }
    let (s, matches) = match lcs(&a, &b, o.min_match) {
        Some(x) => x,
        None => return out.error(LCS_NO_MEMORY),
    };
    if !o.idx {
        return out.bulk(&s);
    }
    out.map(2);
    out.bulk(b"matches");
    out.array(matches.len());
    for m in &matches {
        out.array(2 + o.with_match_len as usize);
        for (from, to) in [m.a, m.b] {
            out.array(2);
            out.int(from as i64);
            out.int(to as i64);
        }
        if o.with_match_len {
            out.int((m.a.1 - m.a.0 + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(s.len() as i64);
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::families::testkit::*;

    #[test]
    fn get_set_basics() {
        let mut t = T::new();
        assert_eq!(t.run(&["GET", "k"]), NULL);
        assert_eq!(t.run(&["SET", "k", "v"]), OK);
        assert_eq!(t.run(&["GET", "k"]), bulk("v"));
        assert_eq!(t.run(&["set", "n", "123"]), OK);
        assert_eq!(t.run(&["GET", "n"]), bulk("123"));
        assert_eq!(
            t.run(&["SET", "k"]),
            "-ERR wrong number of arguments for 'set' command\r\n"
        );
        assert_eq!(t.run(&["SET", "e", ""]), OK);
        assert_eq!(t.run(&["GET", "e"]), "$0\r\n\r\n");
    }

    #[test]
    fn set_options() {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "k", "v", "XX"]), NULL);
        assert_eq!(t.run(&["SET", "k", "v", "NX"]), OK);
        assert_eq!(t.run(&["SET", "k", "w", "NX"]), NULL);
        assert_eq!(t.run(&["SET", "k", "w", "NX", "GET"]), bulk("v"));
        assert_eq!(t.run(&["SET", "k", "w", "GET"]), bulk("v"));
        assert_eq!(t.run(&["SET", "k", "x", "XX", "GET"]), bulk("w"));
        assert_eq!(t.run(&["SET", "k", "v", "NX", "XX"]), SYNTAX);
        assert_eq!(t.run(&["SET", "k", "v", "EX", "1", "PX", "1"]), SYNTAX);
        assert_eq!(t.run(&["SET", "k", "v", "EX", "1", "EX", "2"]), OK);
        assert_eq!(t.run(&["SET", "k", "v", "KEEPTTL", "EX", "1"]), SYNTAX);
        assert_eq!(t.run(&["SET", "k", "v", "EX"]), SYNTAX);
        assert_eq!(t.run(&["SET", "k", "v", "PERSIST"]), SYNTAX);
        assert_eq!(t.run(&["SET", "k", "v", "EX", "abc"]), NOTINT);
        for bad in [
            ["EX", "0"],
            ["EX", "-1"],
            ["PX", "9223372036854775807"],
            ["EX", "9223372036854775807"],
            ["EXAT", "0"],
        ] {
            assert_eq!(
                t.run(&["SET", "k", "v", bad[0], bad[1]]),
                "-ERR invalid expire time in 'set' command\r\n",
                "{bad:?}"
            );
        }
        assert_eq!(t.run(&["SET", "k", "v", "EX", "10"]), OK);
        assert_eq!(t.run(&["PTTL", "k"]), ":10000\r\n");
        assert_eq!(t.run(&["SET", "k", "v2", "KEEPTTL"]), OK);
        assert_eq!(t.run(&["PTTL", "k"]), ":10000\r\n");
        assert_eq!(t.run(&["SET", "k", "v3"]), OK);
        assert_eq!(t.run(&["PTTL", "k"]), ":-1\r\n");
        assert_eq!(t.run(&["SET", "k", "v", "PXAT", "1005000"]), OK);
        assert_eq!(t.run(&["PTTL", "k"]), ":5000\r\n");
        assert_eq!(t.run(&["SET", "k", "v", "EXAT", "1010"]), OK);
        assert_eq!(t.run(&["PTTL", "k"]), ":10000\r\n");
        t.advance(10_001);
        assert_eq!(t.run(&["GET", "k"]), NULL);
    }

    #[test]
    fn getdel_returns_and_removes() {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "k", "v"]), OK);
        assert_eq!(t.run(&["GETDEL", "k"]), bulk("v"));
        assert_eq!(t.run(&["GETDEL", "k"]), NULL);
    }

    #[test]
    fn setnx_setex_psetex_getset() {
        let mut t = T::new();
        assert_eq!(t.run(&["SETNX", "k", "v"]), ":1\r\n");
        assert_eq!(t.run(&["SETNX", "k", "v"]), ":0\r\n");
        assert_eq!(t.run(&["SETEX", "s", "100", "v"]), OK);
        assert_eq!(t.run(&["TTL", "s"]), ":100\r\n");
        assert_eq!(
            t.run(&["SETEX", "s", "0", "v"]),
            "-ERR invalid expire time in 'setex' command\r\n"
        );
        assert_eq!(t.run(&["SETEX", "s", "x", "v"]), NOTINT);
        assert_eq!(t.run(&["PSETEX", "p", "1500", "v"]), OK);
        assert_eq!(t.run(&["PTTL", "p"]), ":1500\r\n");
        assert_eq!(
            t.run(&["PSETEX", "p", "-5", "v"]),
            "-ERR invalid expire time in 'psetex' command\r\n"
        );
        assert_eq!(t.run(&["GETSET", "s", "new"]), bulk("v"));
        assert_eq!(t.run(&["TTL", "s"]), ":-1\r\n");
        assert_eq!(t.run(&["GETSET", "fresh", "1"]), NULL);
    }

    #[test]
    fn getex_options() {
        let mut t = T::new();
        assert_eq!(t.run(&["GETEX", "nokey", "EX", "0"]), NULL);
        assert_eq!(t.run(&["SET", "k", "v"]), OK);
        assert_eq!(t.run(&["GETEX", "k"]), bulk("v"));
        assert_eq!(t.run(&["GETEX", "k", "EX", "100"]), bulk("v"));
        assert_eq!(t.run(&["TTL", "k"]), ":100\r\n");
        assert_eq!(t.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
        assert_eq!(t.run(&["TTL", "k"]), ":-1\r\n");
        assert_eq!(
            t.run(&["GETEX", "k", "EX", "0"]),
            "-ERR invalid expire time in 'getex' command\r\n"
        );
        assert_eq!(t.run(&["GETEX", "k", "EX", "abc"]), NOTINT);
        assert_eq!(t.run(&["GETEX", "k", "EX", "1", "PX", "2"]), SYNTAX);
        assert_eq!(t.run(&["GETEX", "k", "PERSIST", "EX", "1"]), SYNTAX);
        assert_eq!(t.run(&["GETEX", "k", "NX"]), SYNTAX);
        assert_eq!(t.run(&["GETEX", "k", "KEEPTTL"]), SYNTAX);
        // An absolute time in the past deletes the key after replying.
        assert_eq!(t.run(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
        assert_eq!(t.run(&["EXISTS", "k"]), ":0\r\n");
    }

    #[test]
    fn counters() {
        let mut t = T::new();
        assert_eq!(t.run(&["INCR", "n"]), ":1\r\n");
        assert_eq!(t.run(&["INCRBY", "n", "10"]), ":11\r\n");
        assert_eq!(t.run(&["DECR", "n"]), ":10\r\n");
        assert_eq!(t.run(&["DECRBY", "n", "-5"]), ":15\r\n");
        assert_eq!(t.run(&["INCRBY", "n", "x"]), NOTINT);
        assert_eq!(
            t.run(&["DECRBY", "n", "-9223372036854775808"]),
            "-ERR decrement would overflow\r\n"
        );
        assert_eq!(t.run(&["SET", "n", "9223372036854775807"]), OK);
        assert_eq!(
            t.run(&["INCR", "n"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(t.run(&["SET", "s", "1.5"]), OK);
        assert_eq!(t.run(&["INCR", "s"]), NOTINT);
        assert_eq!(t.run(&["INCRBYFLOAT", "s", "0.1"]), bulk("1.6"));
        assert_eq!(
            t.run(&["INCRBYFLOAT", "s", "x"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            t.run(&["INCRBYFLOAT", "s", "inf"]),
            "-ERR increment would produce NaN or Infinity\r\n"
        );
        assert_eq!(t.run(&["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
        assert_eq!(t.run(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
        assert_eq!(t.run(&["SETEX", "t", "100", "5"]), OK);
        assert_eq!(t.run(&["INCR", "t"]), ":6\r\n");
        assert_eq!(t.run(&["TTL", "t"]), ":100\r\n");
    }

    #[test]
    fn append_strlen_ranges() {
        let mut t = T::new();
        assert_eq!(t.run(&["APPEND", "k", "Hello"]), ":5\r\n");
        assert_eq!(t.run(&["APPEND", "k", " World"]), ":11\r\n");
        assert_eq!(t.run(&["STRLEN", "k"]), ":11\r\n");
        assert_eq!(t.run(&["STRLEN", "none"]), ":0\r\n");
        assert_eq!(t.run(&["GETRANGE", "k", "0", "4"]), bulk("Hello"));
        assert_eq!(t.run(&["GETRANGE", "k", "-5", "-1"]), bulk("World"));
        assert_eq!(t.run(&["SUBSTR", "k", "-1", "-5"]), "$0\r\n\r\n");
        assert_eq!(t.run(&["GETRANGE", "none", "0", "1"]), "$0\r\n\r\n");
        assert_eq!(t.run(&["GETRANGE", "k", "a", "1"]), NOTINT);
        assert_eq!(t.run(&["SETRANGE", "k", "6", "Redis"]), ":11\r\n");
        assert_eq!(t.run(&["GET", "k"]), bulk("Hello Redis"));
        assert_eq!(t.run(&["SETRANGE", "z", "3", "x"]), ":4\r\n");
        assert_eq!(t.run(&["GET", "z"]), bulk("\0\0\0x"));
        assert_eq!(
            t.run(&["SETRANGE", "k", "-1", "x"]),
            "-ERR offset is out of range\r\n"
        );
        assert_eq!(
            t.run(&["SETRANGE", "k", "536870911", "xx"]),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        );
        assert_eq!(t.run(&["SETRANGE", "empty", "5", ""]), ":0\r\n");
        assert_eq!(t.run(&["EXISTS", "empty"]), ":0\r\n");
        assert_eq!(t.run(&["SET", "n", "-12"]), OK);
        assert_eq!(t.run(&["GETRANGE", "n", "0", "1"]), bulk("-1"));
        assert_eq!(t.run(&["APPEND", "n", "3"]), ":4\r\n");
        assert_eq!(t.run(&["INCR", "n"]), ":-122\r\n");
    }

    #[test]
    fn multi_key() {
        let mut t = T::new();
        assert_eq!(t.run(&["MSET", "a", "1", "b", "2"]), OK);
        assert_eq!(
            t.run(&["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(
            t.run(&["MGET", "a", "nokey", "b"]),
            "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"
        );
        assert_eq!(t.run(&["MSETNX", "a", "9", "c", "3"]), ":0\r\n");
        assert_eq!(t.run(&["GET", "c"]), NULL);
        assert_eq!(t.run(&["MSETNX", "c", "3", "d", "4"]), ":1\r\n");
        assert_eq!(
            t.run(&["MSETNX", "e", "3", "f"]),
            "-ERR wrong number of arguments for 'msetnx' command\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "e"]), ":0\r\n");
    }

    #[test]
    fn lcs_replies() {
        let mut t = T::new();
        assert_eq!(t.run(&["MSET", "a", "ohmytext", "b", "mynewtext"]), OK);
        assert_eq!(t.run(&["LCS", "a", "b"]), bulk("mytext"));
        assert_eq!(t.run(&["LCS", "a", "b", "LEN"]), ":6\r\n");
        assert_eq!(
            t.run(&["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            t.run(&["LCS", "a", "b", "LEN", "IDX"]),
            "-ERR If you want both the length and indexes, please just use IDX.\r\n"
        );
        assert_eq!(t.run(&["SADD", "s", "x"]), ":1\r\n");
        assert_eq!(
            t.run(&["LCS", "a", "s", "BAD"]),
            "-ERR The specified keys must contain string values\r\n"
        );
    }

    #[test]
    fn lcs_len_agrees_with_the_table() {
        let words: [&[u8]; 6] = [b"", b"a", b"abcbdab", b"bdcaba", b"xxxxyyyy", b"yxyxyxyx"];
        for a in words {
            for b in words {
                let (s, _) = super::lcs(a, b, 0).unwrap();
                assert_eq!(super::lcs_len(a, b).unwrap(), s.len(), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn resp3_null() {
        let mut t = T::new();
        t.client.resp3 = true;
        assert_eq!(t.run(&["GET", "k"]), "_\r\n");
        assert_eq!(t.run(&["SET", "k", "v", "XX"]), "_\r\n");
    }
}
