//! The HyperLogLog command family (the commands of Redis's
//! `hyperloglog.c`): PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST over
//! HLL strings in Redis's own format (kevy-store's `hll`).
//!
//! An HLL is a plain string value, so GET, SET, DUMP/RESTORE and snapshots
//! carry it like any other string. PFCOUNT and PFMERGE over keys of several
//! shards run, like SUNIONSTORE, over copies of their keys (`Fold::One`):
//! atomic, and PFCOUNT of several keys writes nothing.
//!
//! Effects are Redis's: a PFADD that changed a register, every PFMERGE,
//! and a PFCOUNT that refreshed the cached cardinality are logged as
//! themselves (PFCOUNT of one key is a write of the cache, as Redis counts
//! it); PFADD and PFMERGE announce `pfadd`.

use super::common::{c_str, conn_spec};
use crate::ctx::{ConnCtx, Ctx};
use crate::errors::reply_error;
use crate::notify::STRING;
use crate::table::{flag, CommandSpec, Table};
use kevy_rt::ConnAction;
use kevy_store::hll::{self, REGISTERS};
use kevy_store::{Db, OpError, OpResult, SetTtl, StrValue, Value};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    let spec = CommandSpec::single_key;
    t.add(spec(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        &["@write", "@hyperloglog", "@fast"],
        cmd_pfadd,
    ));
    // Every key of PFCOUNT and PFMERGE is served as one unit: when they
    // span shards the runtime runs the command over copies.
    t.add(CommandSpec {
        last: -1,
        ..spec(
            "pfcount",
            -2,
            READONLY,
            &["@read", "@hyperloglog", "@slow"],
            cmd_pfcount,
        )
    });
    t.add(CommandSpec {
        last: -1,
        ..spec(
            "pfmerge",
            -2,
            WRITE | DENYOOM,
            &["@write", "@hyperloglog", "@slow"],
            cmd_pfmerge,
        )
    });
    t.add(CommandSpec {
        first: 2,
        last: 2,
        ..spec(
            "pfdebug",
            3,
            WRITE | DENYOOM | ADMIN,
            &["@write", "@hyperloglog", "@admin", "@slow", "@dangerous"],
            cmd_pfdebug,
        )
    });
    t.add(conn_spec(
        "pfselftest",
        1,
        ADMIN,
        &["@hyperloglog", "@admin", "@slow", "@dangerous"],
        cmd_pfselftest,
    ));
}

/// A string that is no HLL.
const NOT_HLL: OpError = OpError::Family("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// A sparse HLL whose opcodes do not cover its registers.
const CORRUPT: OpError = OpError::Family("INVALIDOBJ Corrupted HLL object detected");

/// `hll-sparse-max-bytes`: the longest a sparse HLL grows before it turns
/// dense. Read on every sparse update, set by CONFIG.
static SPARSE_MAX: AtomicUsize = AtomicUsize::new(hll::SPARSE_MAX_BYTES);

/// Applies `hll-sparse-max-bytes` (a normalised byte count).
pub fn set_sparse_max_bytes(value: &str) {
    if let Ok(n) = value.parse::<u64>() {
        SPARSE_MAX.store(usize::try_from(n).unwrap_or(usize::MAX), Relaxed);
    }
}

fn sparse_max() -> usize {
    SPARSE_MAX.load(Relaxed)
}

fn corrupt(_: hll::Corrupt) -> OpError {
    CORRUPT
}

/// The HLL bytes of `v`, or Redis's error: WRONGTYPE for another type,
/// "not a valid HyperLogLog" for a string that is none.
fn hll_bytes(v: &Value) -> OpResult<&[u8]> {
    let b = match v.as_str().ok_or(OpError::WrongType)? {
        StrValue::Int(_) => return Err(NOT_HLL),
        StrValue::Bytes(b) => b.as_bytes(),
        StrValue::Raw(r) => r,
    };
    if hll::is_valid(b) {
        Ok(b)
    } else {
        Err(NOT_HLL)
    }
}

/// The HLL in `v` (checked by [`hll_bytes`]) as a growable buffer: Redis
/// unshares the string before it writes, which makes it "raw".
fn hll_mut(v: &mut Value) -> &mut Vec<u8> {
    v.as_str_mut()
        .expect("checked to be an HLL string")
        .make_raw()
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

// ---- PFADD ----------------------------------------------------------------------

/// Adds `elements` to the HLL at `key`, creating it when missing: whether
/// a register changed (or the key was created). A corrupted HLL fails at
/// the element that finds it, keeping the registers set before it, as in
/// Redis, but the write is not reported.
pub fn op_pfadd<'e>(
    db: &mut Db<'_>,
    key: &[u8],
    elements: impl Iterator<Item = &'e [u8]>,
    sparse_max: usize,
) -> OpResult<bool> {
    let mut k = db.update(key);
    let Some(v) = k.value() else {
        let mut h = hll::new_sparse();
        for e in elements {
            hll::add(&mut h, e, sparse_max).map_err(corrupt)?;
        }
        hll::invalidate(&mut h);
        k.insert(Value::Str(StrValue::Raw(Box::new(h))), SetTtl::Keep);
        return Ok(true);
    };
    hll_bytes(v)?;
    let h = hll_mut(k.value_mut().expect("present"));
    let mut updated = false;
    for e in elements {
        updated |= hll::add(h, e, sparse_max).map_err(corrupt)?;
    }
    if updated {
        hll::invalidate(h);
        k.changed();
    }
    Ok(updated)
}

fn cmd_pfadd(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    let elements = ctx.args.iter().skip(2);
    match op_pfadd(&mut db(ctx), key, elements, sparse_max()) {
        Ok(updated) => {
            if updated {
                ctx.notify(STRING, "pfadd", key);
            }
            ctx.out.int(updated as i64);
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- PFCOUNT --------------------------------------------------------------------

/// The cardinality of the HLL at `key` (0 when missing): the cached one
/// when fresh, else computed and cached (a write, as in Redis).
pub fn op_pfcount_one(db: &mut Db<'_>, key: &[u8]) -> OpResult<u64> {
    let (cached, raw) = match db.get(key) {
        None => return Ok(0),
        Some(v) => (
            hll::cached(hll_bytes(v)?),
            matches!(v, Value::Str(StrValue::Raw(_))),
        ),
    };
    if let (Some(card), true) = (cached, raw) {
        return Ok(card);
    }
    let mut k = db.update(key);
    let h = hll_mut(k.value_mut().expect("looked up"));
    if let Some(card) = cached {
        return Ok(card);
    }
    let card = hll::count(h).map_err(corrupt)?;
    hll::set_cached(h, card);
    k.changed();
    Ok(card)
}

/// The cardinality of the union of the HLLs at `keys` (missing keys are
/// empty), written nowhere.
pub fn op_pfcount_union(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<u64> {
    let mut max = [0u8; REGISTERS];
    for key in keys {
        let Some(v) = db.get(key) else {
            continue;
        };
        hll::merge_into(&mut max, hll_bytes(v)?).map_err(corrupt)?;
    }
    Ok(hll::estimate(&hll::histogram_raw(&max)))
}

fn cmd_pfcount(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = if args.len() == 2 {
        op_pfcount_one(&mut db(ctx), args.get(1))
    } else {
        let keys: Vec<&[u8]> = args.iter().skip(1).collect();
        op_pfcount_union(&mut db(ctx), &keys)
    };
    match r {
        Ok(n) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- PFMERGE --------------------------------------------------------------------

/// Merges the HLLs at `keys[1..]` and the destination `keys[0]` itself
/// into the destination, creating it when missing; dense as soon as one
/// input is dense. The destination counts as written even when no
/// register grew, as in Redis.
pub fn op_pfmerge(db: &mut Db<'_>, keys: &[&[u8]], sparse_max: usize) -> OpResult<()> {
    let mut max = [0u8; REGISTERS];
    let mut dense = false;
    for key in keys {
        let Some(v) = db.get(key) else {
            continue;
        };
        let h = hll_bytes(v)?;
        dense |= hll::is_dense(h);
        hll::merge_into(&mut max, h).map_err(corrupt)?;
    }
    let fill = |h: &mut Vec<u8>| -> OpResult<()> {
        if dense {
            hll::to_dense(h).map_err(corrupt)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                // The destination's registers were merged above, so this
                // cannot find it corrupted.
                let _ = hll::set(h, i, m, sparse_max);
            }
        }
        hll::invalidate(h);
        Ok(())
    };
    let mut k = db.update(keys[0]);
    match k.value_mut() {
        Some(v) => fill(hll_mut(v))?,
        None => {
            let mut h = hll::new_sparse();
            fill(&mut h)?;
            k.insert(Value::Str(StrValue::Raw(Box::new(h))), SetTtl::Keep);
        }
    }
    k.changed();
    Ok(())
}

fn cmd_pfmerge(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    match op_pfmerge(&mut db(ctx), &keys, sparse_max()) {
        Ok(()) => {
            // Redis announces a merge as the mass add it is.
            ctx.notify(STRING, "pfadd", keys[0]);
            ctx.out.ok();
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- PFDEBUG and PFSELFTEST -----------------------------------------------------

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key. The key is looked up
/// (and must be an HLL) before the subcommand is read, as in Redis; a
/// conversion to dense is a write.
fn cmd_pfdebug(ctx: &mut Ctx<'_>) {
    let (sub, key) = (ctx.args.get(1), ctx.args.get(2));
    let mut db = ctx.shard.store.db(ctx.db);
    let mut k = db.update(key);
    match k.value().map(hll_bytes) {
        None => return ctx.out.error("ERR The specified key does not exist"),
        Some(Err(e)) => return reply_error(&mut ctx.out, e),
        Some(Ok(_)) => {}
    }
    let h = hll_mut(k.value_mut().expect("present"));
    if sub.eq_ignore_ascii_case(b"getreg") {
        match hll::to_dense(h) {
            Err(e) => reply_error(&mut ctx.out, corrupt(e)),
            Ok(converted) => {
                ctx.out.array(REGISTERS);
                for r in hll::registers(h) {
                    ctx.out.int(r as i64);
                }
                if converted {
                    k.changed();
                }
            }
        }
    } else if sub.eq_ignore_ascii_case(b"decode") {
        if hll::is_dense(h) {
            return ctx.out.error("ERR HLL encoding is not sparse");
        }
        ctx.out.bulk(hll::decode(h).as_bytes());
    } else if sub.eq_ignore_ascii_case(b"encoding") {
        let name: &[u8] = if hll::is_dense(h) {
            b"dense"
        } else {
            b"sparse"
        };
        ctx.out.simple(name);
    } else if sub.eq_ignore_ascii_case(b"todense") {
        match hll::to_dense(h) {
            Err(e) => reply_error(&mut ctx.out, corrupt(e)),
            Ok(converted) => {
                if converted {
                    k.changed();
                }
                ctx.out.int(converted as i64);
            }
        }
    } else {
        let msg = format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            c_str(sub, usize::MAX)
        );
        ctx.out.error(&msg);
    }
}

/// How many elements PFSELFTEST adds, as Redis.
const SELFTEST_ELEMENTS: u64 = 10_000_000;

fn cmd_pfselftest(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let rand = || (kevy_store::rng::next_u64() & 0x7fff_ffff) as u32;
    match hll::selftest(rand, SELFTEST_ELEMENTS, sparse_max()) {
        Ok(()) => ctx.out.ok(),
        Err(msg) => ctx.out.error(&msg),
    }
    ConnAction::Continue
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::{int, T};

    /// Runs `argv` and says whether it counted as a write: what decides
    /// that it is logged and propagated (as Redis's `server.dirty`).
    fn wrote(t: &mut T, argv: &[&str]) -> (String, bool) {
        let before = t.shard.store.dirty;
        let reply = t.run(argv);
        (reply, t.shard.store.dirty != before)
    }

    #[test]
    fn writes_are_what_redis_propagates() {
        let mut t = T::new();
        assert_eq!(wrote(&mut t, &["PFADD", "h", "a", "b"]), (int(1), true));
        assert_eq!(wrote(&mut t, &["PFADD", "h", "a"]), (int(0), false));
        assert_eq!(wrote(&mut t, &["PFADD", "h"]), (int(0), false));
        assert_eq!(wrote(&mut t, &["PFADD", "e"]), (int(1), true));
        // The first count fills the cache: a write; the next reads it.
        assert_eq!(wrote(&mut t, &["PFCOUNT", "h"]), (int(2), true));
        assert_eq!(wrote(&mut t, &["PFCOUNT", "h"]), (int(2), false));
        assert_eq!(wrote(&mut t, &["PFCOUNT", "h", "e"]), (int(2), false));
        assert_eq!(wrote(&mut t, &["PFCOUNT", "nokey"]), (int(0), false));
        // A merge always writes its destination.
        assert!(wrote(&mut t, &["PFMERGE", "h"]).1);
        assert!(wrote(&mut t, &["PFMERGE", "m", "h", "e"]).1);
        assert!(!wrote(&mut t, &["PFDEBUG", "ENCODING", "h"]).1);
        assert_eq!(wrote(&mut t, &["PFDEBUG", "TODENSE", "h"]), (int(1), true));
        assert_eq!(wrote(&mut t, &["PFDEBUG", "TODENSE", "h"]), (int(0), false));
        assert!(wrote(&mut t, &["PFDEBUG", "GETREG", "m"]).1);
        assert!(!wrote(&mut t, &["PFDEBUG", "GETREG", "m"]).1);
        // A failure writes nothing.
        t.run(&["SET", "s", "HYLL"]);
        assert!(wrote(&mut t, &["PFADD", "s", "a"])
            .0
            .starts_with("-WRONGTYPE"));
        assert!(!wrote(&mut t, &["PFMERGE", "x", "s"]).1);
        assert_eq!(t.run(&["EXISTS", "x"]), int(0));
    }

    #[test]
    fn sparse_limit_follows_the_setting() {
        let mut t = T::new();
        let elements: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
        let mut argv = vec!["PFADD", "h"];
        argv.extend(elements.iter().map(String::as_str));
        t.run(&argv);
        assert_eq!(t.run(&["PFDEBUG", "ENCODING", "h"]), "+sparse\r\n");
        super::set_sparse_max_bytes("100");
        argv[1] = "h2";
        t.run(&argv);
        super::set_sparse_max_bytes("3000");
        assert_eq!(t.run(&["PFDEBUG", "ENCODING", "h2"]), "+dense\r\n");
    }
}
