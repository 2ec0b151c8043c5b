//! Hash field expiry (Redis 7.4 and 8's `t_hash.c`): HEXPIRE, HPEXPIRE,
//! HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME, HPERSIST,
//! HGETEX, HSETEX, HGETDEL.
//!
//! The TTLs live in the hash ([`Hash::set_field_ttl`]); kevy-store deletes
//! expired fields on any lookup of the hash and in the active cycle, and
//! tells observers (`hexpired` notifications, `HDEL` effects). The
//! commands here follow Redis's argument order and checks: the key's type
//! first, then the options, then `FIELDS numfields field…`. Their effects
//! are absolute: `HPEXPIREAT key ms FIELDS …` for the fields whose TTL was
//! set, `HDEL` for fields deleted because the time had passed.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::notify::{GENERIC, HASH};
use crate::table::{flag, CommandSpec, Table};
use kevy_resp::Args;
use kevy_store::hash::Hash;
use kevy_store::num::parse_i64;
use kevy_store::{OpError, OpResult, SetTtl, Value};

/// Registers the family. Arity, flags and ACL categories are Redis 8's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@hash", "@fast"];
    const W_FAST: &[&str] = &["@write", "@hash", "@fast"];
    let spec = CommandSpec::single_key;
    const W_OOM_FAST: u32 = WRITE | DENYOOM | FAST;
    t.add(spec("hexpire", -6, W_OOM_FAST, W_FAST, cmd_hexpire));
    t.add(spec("hpexpire", -6, W_OOM_FAST, W_FAST, cmd_hpexpire));
    t.add(spec("hexpireat", -6, W_OOM_FAST, W_FAST, cmd_hexpireat));
    t.add(spec("hpexpireat", -6, W_OOM_FAST, W_FAST, cmd_hpexpireat));
    t.add(spec("httl", -5, READONLY | FAST, R_FAST, cmd_httl));
    t.add(spec("hpttl", -5, READONLY | FAST, R_FAST, cmd_hpttl));
    t.add(spec(
        "hexpiretime",
        -5,
        READONLY | FAST,
        R_FAST,
        cmd_hexpiretime,
    ));
    t.add(spec(
        "hpexpiretime",
        -5,
        READONLY | FAST,
        R_FAST,
        cmd_hpexpiretime,
    ));
    t.add(spec("hpersist", -5, WRITE | FAST, W_FAST, cmd_hpersist));
    t.add(spec("hgetex", -5, WRITE | FAST, W_FAST, cmd_hgetex));
    t.add(spec("hsetex", -6, W_OOM_FAST, W_FAST, cmd_hsetex));
    t.add(spec("hgetdel", -5, WRITE | FAST, W_FAST, cmd_hgetdel));
}

// ---- error texts and argument parsing ---------------------------------------------

const MISSING_FIELDS: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
const NUMFIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
/// HEXPIRE and its variants' text for a bad `numfields`.
const NUMFIELDS_GT0: &str = "ERR Parameter `numFields` should be greater than 0";
/// The other commands' text for a bad `numfields`.
const NUMFIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";
const HSETEX_NUMFIELDS: &str = "ERR invalid number of fields";
const NEGATIVE_EXPIRE: &str = "ERR invalid expire time, must be >= 0";
const MISSING_EXPIRE: &str = "ERR missing expire time";
const HSETEX_ONE_CONDITION: &str = "ERR Only one of FXX or FNX arguments can be specified";
const HSETEX_ONE_EXPIRY: &str =
    "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";

/// The latest field expiry time the commands accept (Redis's
/// `HFE_MAX_ABS_TIME_MSEC`, 2^46 - 1 ms: its expiry buckets keep 48 bits
/// and reserve two).
const MAX_ABS_MS: i64 = (1 << 46) - 1;

/// Reply codes per field (Redis's `SetExRes`, `GetExpireTimeRes`,
/// `SetPersistRes`).
const NO_FIELD: i64 = -2;
const NO_TTL: i64 = -1;
const NOT_MET: i64 = 0;
const SET: i64 = 1;
const DELETED: i64 = 2;

/// Redis's `parseExpireTime`: a non-negative integer in `seconds` or ms,
/// plus `base` (now, or 0 for absolute times), at most [`MAX_ABS_MS`].
fn parse_expire(arg: &[u8], seconds: bool, base: u64, cmd: &'static str) -> OpResult<u64> {
    let mut v = parse_i64(arg).ok_or(OpError::NotInteger)?;
    if v < 0 {
        return Err(OpError::Family(NEGATIVE_EXPIRE));
    }
    let bad = OpError::InvalidExpireTime(cmd);
    if seconds {
        if v > MAX_ABS_MS / 1000 {
            return Err(bad);
        }
        v *= 1000;
    }
    if v > MAX_ABS_MS - base as i64 {
        return Err(bad);
    }
    Ok((v + base as i64) as u64)
}

/// Checks `FIELDS numfields field…` with `numfields` at `at` and the
/// fields running to the end; returns the first field's index.
fn fields_at(args: &Args<'_>, at: usize, bad_count: &'static str) -> OpResult<usize> {
    if !args.get(at - 1).eq_ignore_ascii_case(b"fields") {
        return Err(OpError::Family(MISSING_FIELDS));
    }
    let n = (at < args.len())
        .then(|| parse_i64(args.get(at)))
        .flatten()
        .filter(|&n| n >= 1)
        .ok_or(OpError::Family(bad_count))?;
    if n as usize != args.len() - at - 1 {
        return Err(OpError::Family(NUMFIELDS_MISMATCH));
    }
    Ok(at + 1)
}

/// The key's hash for a write, checked before any argument (Redis's
/// `lookupKeyWrite` then `checkType`): `Ok(false)` when the key is missing.
fn check_write_type(ctx: &mut Ctx<'_>, key: &[u8]) -> OpResult<bool> {
    match ctx.shard.store.db(ctx.db).peek(key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::Hash(_)) => Ok(true),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Runs `f` on the hash at `key` through the update path; `f` says
/// whether it changed the hash. `None` when the key is missing.
fn write_hash<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Hash, u64) -> (R, bool),
) -> Option<R> {
    let mut db = ctx.shard.store.db(ctx.db);
    let now = db.now();
    let mut k = db.update(key);
    let Some(Value::Hash(h)) = k.value_mut() else {
        return None;
    };
    let (r, changed) = f(h, now);
    if changed {
        k.changed();
    }
    Some(r)
}

/// Emits `del` when the command's write left `key` gone (it emptied the
/// hash), as Redis's commands follow their event with one.
fn notify_del_if_gone(ctx: &mut Ctx<'_>, key: &[u8]) {
    if ctx.shard.notify & GENERIC != 0 && !ctx.shard.store.db(ctx.db).contains(key) {
        ctx.notify(GENERIC, "del", key);
    }
}

/// What setting TTLs did to a command's fields.
#[derive(Default)]
struct Outcome {
    /// Fields whose TTL was set (or removed, for PERSIST).
    set: Vec<Vec<u8>>,
    /// Fields deleted because the time had passed.
    deleted: Vec<Vec<u8>>,
}

/// HEXPIRE's NX | XX | GT | LT (`Always` when none is given).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// Redis's `hashTypeSetEx` for one existing or missing field: the reply
/// code. A field with no TTL meets NX and LT but not XX or GT; a time not
/// after `now` deletes the field.
fn set_field_ttl(
    h: &mut Hash,
    field: &[u8],
    at: u64,
    cond: Cond,
    now: u64,
    o: &mut Outcome,
) -> i64 {
    if !h.contains(field) {
        return NO_FIELD;
    }
    let refused = match h.field_ttl(field) {
        None => matches!(cond, Cond::Xx | Cond::Gt),
        Some(prev) => match cond {
            Cond::Nx => true,
            Cond::Gt => prev >= at,
            Cond::Lt => prev <= at,
            Cond::Always | Cond::Xx => false,
        },
    };
    if refused {
        return NOT_MET;
    }
    if at <= now {
        h.remove(field);
        o.deleted.push(field.to_vec());
        return DELETED;
    }
    h.set_field_ttl(field, at);
    o.set.push(field.to_vec());
    SET
}

impl Ctx<'_> {
    /// States the effects of TTLs set at `at` on `o`'s fields: an `HDEL`
    /// per deleted field, then one `HPEXPIREAT` for the fields set.
    fn propagate_outcome(&mut self, key: &[u8], at: u64, o: &Outcome) {
        if !self.propagating() {
            return;
        }
        for f in &o.deleted {
            self.propagate(&[b"HDEL", key, f]);
        }
        if !o.set.is_empty() {
            let (at, n) = (at.to_string(), o.set.len().to_string());
            let mut argv: Vec<&[u8]> =
                vec![b"HPEXPIREAT", key, at.as_bytes(), b"FIELDS", n.as_bytes()];
            argv.extend(o.set.iter().map(Vec::as_slice));
            self.propagate(&argv);
        }
        self.propagate_nothing();
    }
}

// ---- HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT -----------------------------------

/// Redis's `hexpireGenericCommand`: `key time [NX|XX|GT|LT] FIELDS n f…`,
/// one reply code per field.
fn hexpire_generic(ctx: &mut Ctx<'_>, cmd: &'static str, seconds: bool, relative: bool) {
    let args = ctx.args;
    let key = args.get(1);
    let parsed = check_write_type(ctx, key).and_then(|exists| {
        let base = if relative { ctx.shard.store.now() } else { 0 };
        let at = parse_expire(args.get(2), seconds, base, cmd)?;
        let opt = args.get(3);
        let cond = [
            (&b"nx"[..], Cond::Nx),
            (b"xx", Cond::Xx),
            (b"gt", Cond::Gt),
            (b"lt", Cond::Lt),
        ]
        .into_iter()
        .find(|(name, _)| opt.eq_ignore_ascii_case(name))
        .map_or(Cond::Always, |(_, c)| c);
        let count_at = if cond == Cond::Always { 4 } else { 5 };
        let first = fields_at(&args, count_at, NUMFIELDS_GT0)?;
        Ok((exists, at, cond, first))
    });
    let (exists, at, cond, first) = match parsed {
        Ok(p) => p,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let n = args.len() - first;
    if !exists {
        ctx.out.array(n);
        (0..n).for_each(|_| ctx.out.int(NO_FIELD));
        return;
    }
    let mut o = Outcome::default();
    let codes = write_hash(ctx, key, |h, now| {
        let codes: Vec<i64> = (first..args.len())
            .map(|i| set_field_ttl(h, args.get(i), at, cond, now, &mut o))
            .collect();
        let changed = !o.set.is_empty() || !o.deleted.is_empty();
        (codes, changed)
    })
    .unwrap_or_else(|| vec![NO_FIELD; n]);
    ctx.out.array(n);
    for c in codes {
        ctx.out.int(c);
    }
    if !o.set.is_empty() || !o.deleted.is_empty() {
        let event = if o.deleted.is_empty() {
            "hexpire"
        } else {
            "hdel"
        };
        ctx.notify(HASH, event, key);
        notify_del_if_gone(ctx, key);
    }
    ctx.propagate_outcome(key, at, &o);
}

fn cmd_hexpire(ctx: &mut Ctx<'_>) {
    hexpire_generic(ctx, "hexpire", true, true);
}

fn cmd_hpexpire(ctx: &mut Ctx<'_>) {
    hexpire_generic(ctx, "hpexpire", false, true);
}

fn cmd_hexpireat(ctx: &mut Ctx<'_>) {
    hexpire_generic(ctx, "hexpireat", true, false);
}

fn cmd_hpexpireat(ctx: &mut Ctx<'_>) {
    hexpire_generic(ctx, "hpexpireat", false, false);
}

// ---- HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME -------------------------------------

/// Redis's `httlGenericCommand`: per field -2 (no such field), -1 (no
/// TTL), or the time left (`relative`) or the expiry time, in seconds
/// rounded up or in ms.
fn httl_generic(ctx: &mut Ctx<'_>, seconds: bool, relative: bool) {
    let args = ctx.args;
    let key = args.get(1);
    let mut db = ctx.shard.store.db(ctx.db);
    let now = db.now();
    let h = match db.get(key) {
        None => None,
        Some(Value::Hash(h)) => Some(h),
        Some(_) => return reply_error(&mut ctx.out, OpError::WrongType),
    };
    let first = match fields_at(&args, 3, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let base = if relative { now } else { 0 };
    ctx.out.array(args.len() - first);
    for f in args.iter().skip(first) {
        let code = match h {
            Some(h) if h.contains(f) => match h.field_ttl(f) {
                None => NO_TTL,
                Some(at) if at < now => NO_FIELD,
                Some(at) if seconds => ((at.saturating_add(999) - base) / 1000) as i64,
                Some(at) => (at - base) as i64,
            },
            _ => NO_FIELD,
        };
        ctx.out.int(code);
    }
}

fn cmd_httl(ctx: &mut Ctx<'_>) {
    httl_generic(ctx, true, true);
}

fn cmd_hpttl(ctx: &mut Ctx<'_>) {
    httl_generic(ctx, false, true);
}

fn cmd_hexpiretime(ctx: &mut Ctx<'_>) {
    httl_generic(ctx, true, false);
}

fn cmd_hpexpiretime(ctx: &mut Ctx<'_>) {
    httl_generic(ctx, false, false);
}

// ---- HPERSIST -------------------------------------------------------------------

/// HPERSIST: per field -2 (no such field), -1 (no TTL), 1 (removed).
fn cmd_hpersist(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let parsed = check_write_type(ctx, key)
        .and_then(|exists| Ok((exists, fields_at(&args, 3, NUMFIELDS_POSITIVE)?)));
    let (exists, first) = match parsed {
        Ok(p) => p,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let n = args.len() - first;
    let codes = if exists {
        write_hash(ctx, key, |h, _| {
            let codes: Vec<i64> = (first..args.len())
                .map(|i| {
                    let f = args.get(i);
                    if !h.contains(f) {
                        NO_FIELD
                    } else if h.persist_field(f) {
                        SET
                    } else {
                        NO_TTL
                    }
                })
                .collect();
            let changed = codes.contains(&SET);
            (codes, changed)
        })
    } else {
        None
    };
    let codes = codes.unwrap_or_else(|| vec![NO_FIELD; n]);
    ctx.out.array(n);
    for &c in &codes {
        ctx.out.int(c);
    }
    if codes.contains(&SET) {
        ctx.notify(HASH, "hpersist", key);
    }
}

// ---- HGETEX ---------------------------------------------------------------------

/// HGETEX's expiry option.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GetExOpt {
    None,
    At(u64),
    Persist,
}

/// HGETEX `key [EX s|PX ms|EXAT s|PXAT ms|PERSIST] FIELDS n f…`: the values
/// (null for a missing field), then the TTL change on the fields found.
fn cmd_hgetex(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let now = ctx.shard.store.now();
    let parsed = check_write_type(ctx, key).and_then(|exists| {
        let opt = args.get(2);
        let timed = [
            (&b"ex"[..], true, true),
            (b"px", false, true),
            (b"exat", true, false),
            (b"pxat", false, false),
        ]
        .into_iter()
        .find(|(name, _, _)| opt.eq_ignore_ascii_case(name));
        let (how, count_at) = if let Some((_, seconds, relative)) = timed {
            let base = if relative { now } else { 0 };
            (
                GetExOpt::At(parse_expire(args.get(3), seconds, base, "hgetex")?),
                5,
            )
        } else if opt.eq_ignore_ascii_case(b"persist") {
            (GetExOpt::Persist, 4)
        } else {
            (GetExOpt::None, 3)
        };
        Ok((exists, how, fields_at(&args, count_at, NUMFIELDS_POSITIVE)?))
    });
    let (exists, how, first) = match parsed {
        Ok(p) => p,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let n = args.len() - first;
    let mut o = Outcome::default();
    let values = if exists {
        write_hash(ctx, key, |h, now| {
            let mut values = Vec::with_capacity(n);
            for f in args.iter().skip(first) {
                let v = h.get(f).map(<[u8]>::to_vec);
                if v.is_some() {
                    match how {
                        GetExOpt::None => {}
                        GetExOpt::At(at) => {
                            set_field_ttl(h, f, at, Cond::Always, now, &mut o);
                        }
                        GetExOpt::Persist => {
                            if h.persist_field(f) {
                                o.set.push(f.to_vec());
                            }
                        }
                    }
                }
                values.push(v);
            }
            let changed = !o.set.is_empty() || !o.deleted.is_empty();
            (values, changed)
        })
    } else {
        None
    };
    let values = values.unwrap_or_else(|| vec![None; n]);
    ctx.out.array(n);
    for v in &values {
        match v {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    if !o.set.is_empty() {
        match how {
            GetExOpt::Persist => {
                ctx.notify(HASH, "hpersist", key);
                if ctx.propagating() {
                    let n = o.set.len().to_string();
                    let mut argv: Vec<&[u8]> = vec![b"HPERSIST", key, b"FIELDS", n.as_bytes()];
                    argv.extend(o.set.iter().map(Vec::as_slice));
                    ctx.propagate(&argv);
                }
            }
            GetExOpt::At(at) => {
                ctx.notify(HASH, "hexpire", key);
                ctx.propagate_outcome(key, at, &o);
            }
            GetExOpt::None => {}
        }
    } else if !o.deleted.is_empty() {
        ctx.notify(HASH, "hdel", key);
        ctx.propagate_outcome(key, 0, &o);
    }
    if !o.deleted.is_empty() {
        notify_del_if_gone(ctx, key);
    }
    // A read without a change is no write to log.
    if o.set.is_empty() && o.deleted.is_empty() {
        ctx.propagate_nothing();
    }
}

// ---- HSETEX ---------------------------------------------------------------------

/// HSETEX's options.
struct SetExOpts {
    fnx: bool,
    fxx: bool,
    /// `Some` for EX/PX/EXAT/PXAT.
    at: Option<u64>,
    keepttl: bool,
    first: usize,
}

/// Why HSETEX's arguments were refused.
enum SetExError {
    Op(OpError),
    /// "ERR unknown argument: <arg>", the argument at this index.
    Unknown(usize),
}

impl From<OpError> for SetExError {
    fn from(e: OpError) -> Self {
        SetExError::Op(e)
    }
}

/// Redis's `hsetexParseArgs`: options in any order up to `FIELDS n`, whose
/// field-value pairs must fill the rest exactly.
fn parse_hsetex(args: &Args<'_>, now: u64) -> Result<SetExOpts, SetExError> {
    let mut o = SetExOpts {
        fnx: false,
        fxx: false,
        at: None,
        keepttl: false,
        first: 0,
    };
    let argc = args.len();
    let mut i = 2;
    while i < argc {
        let a = args.get(i);
        let expiry = [
            (&b"ex"[..], true, true),
            (b"px", false, true),
            (b"exat", true, false),
            (b"pxat", false, false),
        ]
        .into_iter()
        .find(|(name, _, _)| a.eq_ignore_ascii_case(name));
        if a.eq_ignore_ascii_case(b"fields") {
            if i + 3 >= argc {
                return Err(OpError::WrongArgs("hsetex").into());
            }
            let n = parse_i64(args.get(i + 1))
                .filter(|n| (1..=i32::MAX as i64).contains(n))
                .ok_or(OpError::Family(HSETEX_NUMFIELDS))?;
            let remaining = argc - i - 2;
            if !remaining.is_multiple_of(2) || n as usize != remaining / 2 {
                return Err(OpError::WrongArgs("hsetex").into());
            }
            o.first = i + 2;
            return Ok(o);
        } else if let Some((_, seconds, relative)) = expiry {
            if o.at.is_some() || o.keepttl {
                return Err(OpError::Family(HSETEX_ONE_EXPIRY).into());
            }
            if i + 1 >= argc {
                return Err(OpError::Family(MISSING_EXPIRE).into());
            }
            i += 1;
            let base = if relative { now } else { 0 };
            o.at = Some(parse_expire(args.get(i), seconds, base, "hsetex")?);
        } else if a.eq_ignore_ascii_case(b"keepttl") {
            if o.at.is_some() || o.keepttl {
                return Err(OpError::Family(HSETEX_ONE_EXPIRY).into());
            }
            o.keepttl = true;
        } else if a.eq_ignore_ascii_case(b"fxx") || a.eq_ignore_ascii_case(b"fnx") {
            if o.fnx || o.fxx {
                return Err(OpError::Family(HSETEX_ONE_CONDITION).into());
            }
            if a.eq_ignore_ascii_case(b"fxx") {
                o.fxx = true;
            } else {
                o.fnx = true;
            }
        } else {
            return Err(SetExError::Unknown(i));
        }
        i += 1;
    }
    // Unreachable with HSETEX's arity (the options alone take at most
    // three arguments); answered as Redis's arity error.
    Err(OpError::WrongArgs("hsetex").into())
}

/// HSETEX `key [FNX|FXX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] FIELDS n f v…`:
/// 1 when the fields were set, 0 when FNX or FXX refused.
fn cmd_hsetex(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let now = ctx.shard.store.now();
    let parsed = parse_hsetex(&args, now).and_then(|o| Ok((o, check_write_type(ctx, key)?)));
    let (opts, exists) = match parsed {
        Ok(p) => p,
        Err(SetExError::Unknown(i)) => {
            // Redis prints it with %s, which stops at a NUL byte.
            let a = args.get(i);
            let a = &a[..a.iter().position(|&b| b == 0).unwrap_or(a.len())];
            let msg = format!("ERR unknown argument: {}", String::from_utf8_lossy(a));
            return ctx.out.error(&msg);
        }
        Err(SetExError::Op(e)) => return reply_error(&mut ctx.out, e),
    };
    if !exists && opts.fxx {
        return ctx.out.int(0);
    }
    let pairs = (opts.first..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)));
    let mut outcome = Outcome::default();
    let mut refused = false;
    {
        let mut db = ctx.shard.store.db(ctx.db);
        let mut k = db.update(key);
        let mut fresh = Hash::new();
        let h = match k.value_mut() {
            Some(Value::Hash(h)) => h,
            _ => &mut fresh,
        };
        if opts.fnx || opts.fxx {
            let found = pairs.clone().filter(|(f, _)| h.contains(f)).count();
            let n = (args.len() - opts.first) / 2;
            refused = (opts.fnx && found != 0) || (opts.fxx && found != n);
        }
        if !refused {
            let keep = opts.keepttl || opts.at.is_some();
            for (f, v) in pairs.clone() {
                if keep {
                    h.set_keep_ttl(f, v);
                } else {
                    h.set(f, v);
                }
                if let Some(at) = opts.at {
                    set_field_ttl(h, f, at, Cond::Always, now, &mut outcome);
                }
            }
            if k.exists() {
                k.changed();
            } else if !fresh.is_empty() {
                k.insert(Value::Hash(fresh), SetTtl::Clear);
            }
        }
    }
    if refused {
        ctx.propagate_nothing();
        return ctx.out.int(0);
    }
    ctx.out.int(1);
    ctx.notify(HASH, "hset", key);
    if !outcome.deleted.is_empty() || !outcome.set.is_empty() {
        let event = if outcome.deleted.is_empty() {
            "hexpire"
        } else {
            "hdel"
        };
        ctx.notify(HASH, event, key);
    }
    notify_del_if_gone(ctx, key);
    if !ctx.propagating() {
        return;
    }
    if !outcome.deleted.is_empty() {
        // Every field got the same past time: the effect is their deletion.
        for f in &outcome.deleted {
            ctx.propagate(&[b"HDEL", key, f]);
        }
    } else if let Some(at) = opts.at {
        let at = at.to_string();
        let mut argv: Vec<&[u8]> = vec![b"HSETEX", key, b"PXAT", at.as_bytes()];
        argv.extend(args.iter().skip(opts.first - 2));
        ctx.propagate(&argv);
    }
}

// ---- HGETDEL --------------------------------------------------------------------

/// HGETDEL `key FIELDS n f…`: the values (null for a missing field), and
/// the fields found are deleted.
fn cmd_hgetdel(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let parsed = check_write_type(ctx, key)
        .and_then(|exists| Ok((exists, fields_at(&args, 3, NUMFIELDS_POSITIVE)?)));
    let (exists, first) = match parsed {
        Ok(p) => p,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let n = args.len() - first;
    let mut deleted: Vec<&[u8]> = Vec::new();
    let values = if exists {
        write_hash(ctx, key, |h, _| {
            let values: Vec<Option<Vec<u8>>> = args
                .iter()
                .skip(first)
                .map(|f| {
                    let v = h.get(f).map(<[u8]>::to_vec);
                    if v.is_some() {
                        h.remove(f);
                        deleted.push(f);
                    }
                    v
                })
                .collect();
            let changed = !deleted.is_empty();
            (values, changed)
        })
    } else {
        None
    };
    let values = values.unwrap_or_else(|| vec![None; n]);
    ctx.out.array(n);
    for v in &values {
        match v {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    if deleted.is_empty() {
        return ctx.propagate_nothing();
    }
    ctx.notify(HASH, "hdel", key);
    notify_del_if_gone(ctx, key);
    if ctx.propagating() {
        let mut argv: Vec<&[u8]> = vec![b"HDEL", key];
        argv.extend(&deleted);
        ctx.propagate(&argv);
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::*;

    fn ints(v: &[i64]) -> String {
        let mut s = format!("*{}\r\n", v.len());
        for n in v {
            s.push_str(&format!(":{n}\r\n"));
        }
        s
    }

    fn run(t: &mut T, line: &str) -> String {
        let argv: Vec<&str> = line.split(' ').collect();
        t.run(&argv)
    }

    /// The clock starts at 1,000,000 ms.
    #[test]
    fn a_field_lives_through_its_last_millisecond() {
        let mut t = T::new();
        run(&mut t, "HSET h a 1 b 2");
        assert_eq!(run(&mut t, "HPEXPIRE h 100 FIELDS 1 a"), ints(&[1]));
        assert_eq!(run(&mut t, "HPEXPIRETIME h FIELDS 1 a"), ints(&[1_000_100]));
        t.advance(100);
        assert_eq!(run(&mut t, "HPTTL h FIELDS 1 a"), ints(&[0]));
        assert_eq!(run(&mut t, "HGET h a"), bulk("1"));
        t.advance(1);
        assert_eq!(run(&mut t, "HGET h a"), NULL);
        assert_eq!(run(&mut t, "HPTTL h FIELDS 1 a"), ints(&[-2]));
        // HPEXPIREAT at now deletes: a time not after the clock is past.
        let now = t.shard.store.now().to_string();
        assert_eq!(
            t.run(&["HPEXPIREAT", "h", &now, "FIELDS", "1", "b"]),
            ints(&[2])
        );
        assert_eq!(run(&mut t, "EXISTS h"), int(0));
    }

    #[test]
    fn seconds_round_up_as_redis_does() {
        let mut t = T::new();
        run(&mut t, "HSET h a 1");
        run(&mut t, "HPEXPIRE h 1500 FIELDS 1 a");
        assert_eq!(run(&mut t, "HTTL h FIELDS 1 a"), ints(&[2]));
        assert_eq!(run(&mut t, "HEXPIRETIME h FIELDS 1 a"), ints(&[1002]));
        t.advance(1499);
        assert_eq!(run(&mut t, "HTTL h FIELDS 1 a"), ints(&[1]));
        assert_eq!(run(&mut t, "HPTTL h FIELDS 1 a"), ints(&[1]));
    }

    #[test]
    fn hlen_counts_fields_not_yet_reclaimed_and_other_reads_do_not() {
        let mut t = T::new();
        run(&mut t, "HSET h a 1 b 2 c 3");
        run(&mut t, "HPEXPIRE h 10 FIELDS 2 a b");
        t.advance(11);
        assert_eq!(
            run(&mut t, "HLEN h"),
            int(3),
            "as Redis's hashTypeLength(o, 0)"
        );
        assert_eq!(run(&mut t, "HEXISTS h a"), int(0));
        assert_eq!(run(&mut t, "HLEN h"), int(1), "the read reclaimed both");
        assert_eq!(t.shard.store.stats.expired_fields, 2);
    }

    #[test]
    fn the_active_cycle_deletes_a_hash_with_its_last_field() {
        let mut t = T::new();
        run(&mut t, "HSET h a 1");
        run(&mut t, "HSET keep a 1");
        run(&mut t, "HPEXPIRE h 10 FIELDS 1 a");
        run(&mut t, "HPEXPIRE keep 10 FIELDS 1 a");
        run(&mut t, "HPERSIST keep FIELDS 1 a");
        t.advance(11);
        let far = std::time::Instant::now() + std::time::Duration::from_secs(10);
        t.shard.store.active_expire_cycle(far);
        assert_eq!(t.shard.store.db_counts(0), (1, 0));
        assert_eq!(t.shard.store.db(0).field_expires_len(), 0);
        assert_eq!(run(&mut t, "HGET keep a"), bulk("1"));
    }

    #[test]
    fn wrongtype_comes_before_every_argument_check() {
        let mut t = T::new();
        run(&mut t, "SET s v");
        for line in [
            "HEXPIRE s x FIELDS 0 a",
            "HPEXPIRE s 1 BAD 1 a",
            "HTTL s FIELDS 0 a",
            "HPERSIST s BAD 1 a",
            "HGETEX s EX -1 FIELDS 1 a",
            "HGETDEL s BAD 1 a",
            "HSETEX s FIELDS 1 a b",
        ] {
            assert_eq!(run(&mut t, line), WRONGTYPE, "{line}");
        }
        // HSETEX reads its options before the key.
        assert_eq!(
            run(&mut t, "HSETEX s FNX FXX FIELDS 1 a b"),
            "-ERR Only one of FXX or FNX arguments can be specified\r\n"
        );
    }
}
