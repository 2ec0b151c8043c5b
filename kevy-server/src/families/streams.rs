//! The streams command family (Redis's `t_stream.c`): XADD and the reads
//! and trims of one stream, consumer groups, and the blocking reads.
//!
//! Ids are parsed as Redis parses them (`string2ull` on each half, `-`
//! and `+` as the extremes, `(` for an exclusive bound); entries are
//! encoded straight from the stream's nodes into the reply. A write whose
//! outcome depends on the clock or on node boundaries (XADD with `*`, a
//! `~` trim) states its effect as the explicit id and an exact trim, so a
//! replay makes the same stream.

use crate::ctx::Ctx;
use crate::errors::{reply_error, NOT_INTEGER, SYNTAX};
use crate::notify::STREAM;
use crate::table::{flag, CommandSpec, Table};
use kevy_resp::Reply;
use kevy_store::num::parse_i64;
use kevy_store::stream::{lp::Val, Fields, NodeLimits, Stream, StreamId, Trim};
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@stream", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@stream", "@slow"];
    const W_FAST: &[&str] = &["@write", "@stream", "@fast"];
    const W_SLOW: &[&str] = &["@write", "@stream", "@slow"];
    let spec = CommandSpec::single_key;
    t.add(spec("xadd", -5, WRITE | DENYOOM | FAST, W_FAST, cmd_xadd));
    t.add(spec("xlen", 2, READONLY | FAST, R_FAST, cmd_xlen));
    t.add(spec("xrange", -4, READONLY, R_SLOW, cmd_xrange));
    t.add(spec("xrevrange", -4, READONLY, R_SLOW, cmd_xrevrange));
    t.add(spec("xdel", -3, WRITE | FAST, W_FAST, cmd_xdel));
    t.add(spec("xtrim", -4, WRITE, W_SLOW, cmd_xtrim));
    t.add(spec(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_xsetid,
    ));
}

// ---- settings -------------------------------------------------------------------

/// `stream-node-max-bytes` and `stream-node-max-entries`, set by CONFIG
/// SET on any thread and read by every XADD (Relaxed: a new value applies
/// from the next append; nothing is ordered against it).
static NODE_MAX_BYTES: AtomicUsize = AtomicUsize::new(4096);
static NODE_MAX_ENTRIES: AtomicI64 = AtomicI64::new(100);

/// Applies `stream-node-max-bytes` or `stream-node-max-entries`.
pub fn apply_setting(name: &str, value: &str) {
    match name {
        "stream-node-max-bytes" => {
            if let Ok(n) = value.parse() {
                NODE_MAX_BYTES.store(n, Relaxed);
            }
        }
        "stream-node-max-entries" => {
            if let Ok(n) = value.parse() {
                NODE_MAX_ENTRIES.store(n, Relaxed);
            }
        }
        _ => {}
    }
}

fn limits() -> NodeLimits {
    NodeLimits {
        max_bytes: NODE_MAX_BYTES.load(Relaxed),
        max_entries: NODE_MAX_ENTRIES.load(Relaxed),
    }
}

// ---- errors ---------------------------------------------------------------------

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const XADD_SMALLER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const XADD_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
const EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";

type CmdResult<T> = Result<T, &'static str>;

// ---- ids ------------------------------------------------------------------------

/// Redis's `string2ull`: a canonical integer (not negative), else what
/// C's `strtoull` reads from the whole string (leading blanks, a sign).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return (v >= 0).then_some(v as u64);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i == s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A parsed id argument: the id, and whether its sequence was given
/// (`ms-*` leaves it to XADD).
struct ParsedId {
    id: StreamId,
    seq_given: bool,
}

/// Redis's `streamGenericParseIDOrReply`: `-` and `+` (unless `strict`),
/// `ms` (sequence `missing_seq`), `ms-seq`, and with `allow_star` `ms-*`.
fn parse_id(a: &[u8], missing_seq: u64, strict: bool, allow_star: bool) -> CmdResult<ParsedId> {
    if a.len() > 127 {
        return Err(INVALID_ID);
    }
    if a.len() == 1 && (a[0] == b'-' || a[0] == b'+') {
        if strict {
            return Err(INVALID_ID);
        }
        let id = if a[0] == b'-' {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok(ParsedId {
            id,
            seq_given: true,
        });
    }
    match a.iter().position(|&c| c == b'-') {
        Some(dash) => {
            let ms = string2ull(&a[..dash]).ok_or(INVALID_ID)?;
            let rest = &a[dash + 1..];
            if allow_star && rest == b"*" {
                return Ok(ParsedId {
                    id: StreamId::new(ms, 0),
                    seq_given: false,
                });
            }
            let seq = string2ull(rest).ok_or(INVALID_ID)?;
            Ok(ParsedId {
                id: StreamId::new(ms, seq),
                seq_given: true,
            })
        }
        None => {
            let ms = string2ull(a).ok_or(INVALID_ID)?;
            Ok(ParsedId {
                id: StreamId::new(ms, missing_seq),
                seq_given: true,
            })
        }
    }
}

/// A strict id (no `-`, `+`), sequence 0 when missing.
fn strict_id(a: &[u8]) -> CmdResult<StreamId> {
    parse_id(a, 0, true, false).map(|p| p.id)
}

/// An interval bound of XRANGE and XPENDING: `(id` excludes it.
fn interval_id(a: &[u8], missing_seq: u64) -> CmdResult<(StreamId, bool)> {
    if a.len() > 1 && a[0] == b'(' {
        Ok((parse_id(&a[1..], missing_seq, true, false)?.id, true))
    } else {
        Ok((parse_id(a, missing_seq, false, false)?.id, false))
    }
}

/// Writes an id as a bulk string.
pub fn bulk_id(out: &mut Reply<'_>, id: StreamId) {
    let mut buf = [0u8; 41];
    out.bulk(kevy_store::stream::format_id(id, &mut buf));
}

fn id_text(id: StreamId) -> Vec<u8> {
    let mut buf = [0u8; 41];
    kevy_store::stream::format_id(id, &mut buf).to_vec()
}

fn bulk_val(out: &mut Reply<'_>, v: Val<'_>) {
    match v {
        Val::Int(n) => out.bulk_i64(n),
        Val::Str(s) => out.bulk(s),
    }
}

/// One entry as replies show it: `[id, [field, value, …]]`.
fn reply_entry(out: &mut Reply<'_>, id: StreamId, fields: Fields<'_>) {
    out.array(2);
    bulk_id(out, id);
    out.array(fields.len() * 2);
    for (f, v) in fields {
        bulk_val(out, f);
        bulk_val(out, v);
    }
}

// ---- lookups ----------------------------------------------------------------------

fn read<'d>(db: &'d mut Db<'_>, key: &[u8]) -> OpResult<Option<&'d Stream>> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Checks the type without counting a hit or miss (a write's lookup).
fn check_stream(db: &mut Db<'_>, key: &[u8]) -> OpResult<bool> {
    match db.peek(key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::Stream(_)) => Ok(true),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Runs `f` on the stream at `key` through the update path; `f` says
/// whether it changed it. `Ok(None)` when missing.
fn modify<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Stream) -> (R, bool),
) -> OpResult<Option<R>> {
    super::common::modify_as(
        db,
        key,
        |v| match v {
            Value::Stream(s) => Some(&mut **s),
            _ => None,
        },
        f,
    )
}

// ---- XADD / XTRIM arguments ------------------------------------------------------------

/// What XADD and XTRIM parse before the id (Redis's
/// `streamParseAddOrTrimArgsOrReply`).
#[derive(Default)]
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the id (`None` for `*`) and where the fields start.
    id: Option<ParsedId>,
    fields_at: usize,
}

fn parse_add_trim(args: &kevy_resp::Args<'_>, xadd: bool) -> Result<AddTrim, String> {
    let argc = args.len();
    let mut a = AddTrim::default();
    let mut limit_given = false;
    let mut i = 2;
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < argc {
        let more = argc - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            break;
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more > 0 {
            if a.trim.is_some() {
                return Err(both.into());
            }
            a.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            let n = parse_i64(args.get(i + 1)).ok_or(NOT_INTEGER)?;
            if n < 0 {
                return Err("ERR The MAXLEN argument must be >= 0.".into());
            }
            a.trim = Some(Trim::MaxLen(n as u64));
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"minid") && more > 0 {
            if a.trim.is_some() {
                return Err(both.into());
            }
            a.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            a.trim = Some(Trim::MinId(strict_id(args.get(i + 1))?));
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = parse_i64(args.get(i + 1)).ok_or(NOT_INTEGER)?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id(opt, 0, true, true)?);
            break;
        } else {
            return Err(SYNTAX.into());
        }
        i += 1;
    }
    a.fields_at = i + 1;
    if limit_given {
        if !a.approx {
            return Err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option".into(),
            );
        }
    } else if a.approx {
        let n = NODE_MAX_ENTRIES.load(Relaxed);
        a.limit = if n <= 0 { 10000 } else { (n as u64) * 100 };
    } else {
        a.limit = 0;
    }
    if !xadd && a.trim.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    Ok(a)
}

/// States a trim's effect as an exact one to the length it left.
fn propagate_trim(ctx: &mut Ctx<'_>, key: &[u8], len: u64) {
    if ctx.propagating() {
        let n = len.to_string();
        ctx.propagate(&[b"XTRIM", key, b"MAXLEN", b"=", n.as_bytes()]);
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
/// *|id field value [field value …]
fn cmd_xadd(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let a = match parse_add_trim(&args, true) {
        Ok(a) => a,
        Err(e) => return ctx.out.error(&e),
    };
    let argc = args.len();
    if argc < a.fields_at + 2 || (argc - a.fields_at) % 2 == 1 {
        return ctx
            .out
            .error("ERR wrong number of arguments for 'xadd' command");
    }
    if let Some(p) = &a.id {
        if p.seq_given && p.id.is_zero() {
            return ctx.out.error(XADD_ZERO);
        }
    }
    let mut db = ctx.shard.store.db(ctx.db);
    let exists = match check_stream(&mut db, key) {
        Ok(e) => e,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    if !exists && a.nomkstream {
        return ctx.out.null();
    }
    let pairs: Vec<&[u8]> = (a.fields_at..argc).map(|i| args.get(i)).collect();
    let now = db.now();
    let mut k = db.update(key);
    if !exists {
        k.insert(Value::Stream(Box::default()), SetTtl::Clear);
    }
    let res = k.modify(|v| {
        let Value::Stream(s) = v else {
            unreachable!("checked above")
        };
        if s.last_id == StreamId::MAX {
            return Err(EXHAUSTED);
        }
        let id = match &a.id {
            None => s.next_id(now, None, None),
            // Redis 7.0 words the sequence running out after `ms-*` so.
            Some(p) if !p.seq_given && p.id.ms == s.last_id.ms && s.last_id.seq == u64::MAX => {
                return Err("ERR Elements are too large to be stored");
            }
            Some(p) if !p.seq_given => s.next_id(now, Some(p.id.ms), None),
            Some(p) => Some(p.id),
        };
        let id = match id {
            Some(id) if id > s.last_id => id,
            _ => return Err(XADD_SMALLER),
        };
        s.append(id, &pairs, limits()).map_err(|_| XADD_SMALLER)?;
        let trimmed = match a.trim {
            Some(t) => s.trim(t, a.approx, a.limit),
            None => 0,
        };
        Ok((id, trimmed, s.len()))
    });
    let (id, trimmed, len) = match res {
        Some(Ok(r)) => {
            k.changed();
            r
        }
        Some(Err(e)) => {
            drop(k);
            return ctx.out.error(e);
        }
        None => unreachable!("the key exists"),
    };
    drop(k);
    bulk_id(&mut ctx.out, id);
    if ctx.propagating() {
        let idt = id_text(id);
        let mut argv: Vec<&[u8]> = vec![b"XADD", key, &idt];
        argv.extend_from_slice(&pairs);
        ctx.propagate(&argv);
    }
    ctx.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        propagate_trim(ctx, key, len);
        ctx.notify(STREAM, "xtrim", key);
    }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn cmd_xtrim(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let a = match parse_add_trim(&args, false) {
        Ok(a) => a,
        Err(e) => return ctx.out.error(&e),
    };
    let trim = a.trim.expect("checked by the parser");
    let res = modify(&mut ctx.shard.store.db(ctx.db), key, |s| {
        let n = s.trim(trim, a.approx, a.limit);
        ((n, s.len()), n > 0)
    });
    match res {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(None) => ctx.out.int(0),
        Ok(Some((n, len))) => {
            ctx.out.int(n as i64);
            if n > 0 {
                propagate_trim(ctx, key, len);
                ctx.notify(STREAM, "xtrim", key);
            } else {
                ctx.propagate_nothing();
            }
        }
    }
}

fn cmd_xlen(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match read(&mut ctx.shard.store.db(ctx.db), key) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(s) => ctx.out.int(s.map_or(0, |s| s.len() as i64)),
    }
}

fn cmd_xrange(ctx: &mut Ctx<'_>) {
    range_generic(ctx, false);
}

fn cmd_xrevrange(ctx: &mut Ctx<'_>) {
    range_generic(ctx, true);
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n].
fn range_generic(ctx: &mut Ctx<'_>, rev: bool) {
    let args = ctx.args;
    let (sa, ea) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let bounds = (|| -> CmdResult<(StreamId, StreamId)> {
        let (mut lo, ex) = interval_id(sa, 0)?;
        if ex {
            lo = lo.next().ok_or("ERR invalid start ID for the interval")?;
        }
        let (mut hi, ex) = interval_id(ea, u64::MAX)?;
        if ex {
            hi = hi.prev().ok_or("ERR invalid end ID for the interval")?;
        }
        Ok((lo, hi))
    })();
    let (lo, hi) = match bounds {
        Ok(b) => b,
        Err(e) => return ctx.out.error(e),
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            match parse_i64(args.get(j + 1)) {
                Some(n) => count = n.max(0),
                None => return ctx.out.error(NOT_INTEGER),
            }
            j += 2;
        } else {
            return ctx.out.error(SYNTAX);
        }
    }
    let key = args.get(1);
    let mut db = ctx.shard.store.db(ctx.db);
    match read(&mut db, key) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(None) => ctx.out.array(0),
        Ok(Some(_)) if count == 0 => ctx.out.null_array(),
        Ok(Some(s)) => {
            let limit = if count < 0 {
                usize::MAX
            } else {
                count as usize
            };
            reply_range(&mut ctx.out, s, lo, hi, rev, limit);
        }
    }
}

/// Writes the entries of `lo..=hi` (at most `limit`) as an array.
fn reply_range(
    out: &mut Reply<'_>,
    s: &Stream,
    lo: StreamId,
    hi: StreamId,
    rev: bool,
    limit: usize,
) {
    // The count comes first: a deferred header is patched once known.
    let at = out.buf.len();
    out.buf.extend_from_slice(b"*                    \r\n");
    let body = out.buf.len();
    let mut n = 0usize;
    if limit > 0 {
        s.for_each(lo, hi, rev, |id, f| {
            reply_entry(out, id, f);
            n += 1;
            n < limit
        });
    }
    let mut head = [0u8; 24];
    head[0] = b'*';
    let mut digits = [0u8; kevy_store::num::MAX_I64_CHARS];
    let d = kevy_store::num::format_i64(&mut digits, n as i64);
    head[1..1 + d.len()].copy_from_slice(d);
    head[1 + d.len()..3 + d.len()].copy_from_slice(b"\r\n");
    out.buf
        .splice(at..body, head[..3 + d.len()].iter().copied());
}

/// XDEL key id [id …]
fn cmd_xdel(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let mut db = ctx.shard.store.db(ctx.db);
    match check_stream(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(false) => return ctx.out.int(0),
        Ok(true) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for i in 2..args.len() {
        match strict_id(args.get(i)) {
            Ok(id) => ids.push(id),
            Err(e) => return ctx.out.error(e),
        }
    }
    let n = modify(&mut db, key, |s| {
        let n = ids.iter().filter(|&&id| s.delete(id)).count();
        (n, n > 0)
    });
    match n {
        Ok(Some(n)) => {
            ctx.out.int(n as i64);
            if n > 0 {
                ctx.notify(STREAM, "xdel", key);
            }
        }
        Ok(None) => ctx.out.int(0),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
fn cmd_xsetid(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    let parsed = (|| -> Result<(StreamId, Option<u64>, StreamId), String> {
        let id = strict_id(args.get(2))?;
        let mut added = None;
        let mut maxdel = StreamId::MIN;
        let mut i = 3;
        while i < args.len() {
            let more = args.len() - 1 - i;
            let opt = args.get(i);
            if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
                let n = parse_i64(args.get(i + 1)).ok_or(NOT_INTEGER)?;
                if n < 0 {
                    return Err("ERR entries_added must be positive".into());
                }
                added = Some(n as u64);
                i += 2;
            } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
                maxdel = strict_id(args.get(i + 1))?;
                if id < maxdel {
                    return Err(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
                            .into(),
                    );
                }
                i += 2;
            } else {
                return Err(SYNTAX.into());
            }
        }
        Ok((id, added, maxdel))
    })();
    let (id, added, maxdel) = match parsed {
        Ok(p) => p,
        Err(e) => return ctx.out.error(&e),
    };
    let res = modify(&mut ctx.shard.store.db(ctx.db), key, |s| {
        if !s.is_empty() {
            let top = s.edge_id(true).unwrap_or(StreamId::MIN);
            if id < top {
                return (
                    Err(
                        "ERR The ID specified in XSETID is smaller than the target stream top item",
                    ),
                    false,
                );
            }
            if added.is_some_and(|n| s.len() > n) {
                return (
                    Err("ERR The entries_added specified in XSETID is smaller than the target stream length"),
                    false,
                );
            }
        }
        s.last_id = id;
        if let Some(n) = added {
            s.entries_added = n;
        }
        if !maxdel.is_zero() {
            s.max_deleted = maxdel;
        }
        (Ok(()), true)
    });
    match res {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(None) => ctx.out.error("ERR no such key"),
        Ok(Some(Err(e))) => ctx.out.error(e),
        Ok(Some(Ok(()))) => {
            ctx.out.ok();
            ctx.notify(STREAM, "xsetid", key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_does() {
        let ok = |a: &[u8]| parse_id(a, 0, false, false).map(|p| p.id);
        assert_eq!(ok(b"5"), Ok(StreamId::new(5, 0)));
        assert_eq!(ok(b"5-3"), Ok(StreamId::new(5, 3)));
        assert_eq!(ok(b" 5"), Ok(StreamId::new(5, 0)));
        assert_eq!(ok(b"+5-1"), Ok(StreamId::new(5, 1)));
        assert_eq!(ok(b"-"), Ok(StreamId::MIN));
        assert_eq!(ok(b"+"), Ok(StreamId::MAX));
        for bad in [
            &b"-1"[..],
            b"1-x",
            b"5-5-5",
            b"",
            b"abc",
            b"1-18446744073709551616",
        ] {
            assert_eq!(ok(bad), Err(INVALID_ID), "{bad:?}");
        }
        assert!(parse_id(b"5-*", 0, true, true).is_ok_and(|p| !p.seq_given));
        assert_eq!(strict_id(b"+"), Err(INVALID_ID));
    }
}
