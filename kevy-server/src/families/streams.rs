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
use crate::table::{flag, CommandSpec, RouteKind, Table};
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
    t.add(spec("xack", -4, WRITE | FAST, W_FAST, cmd_xack));
    t.add(spec("xpending", -3, READONLY, R_SLOW, cmd_xpending));
    t.add(spec("xclaim", -6, WRITE | FAST, W_FAST, cmd_xclaim));
    t.add(spec("xautoclaim", -6, WRITE | FAST, W_FAST, cmd_xautoclaim));
    // XGROUP and XINFO are containers: Redis reports no keys for them;
    // each subcommand but HELP has its key at position 2.
    let container = |name, flags, acl, route, run| CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route),
        ..spec(name, -2, flags, acl, run)
    };
    t.add(container("xgroup", 0, &["@slow"], route_xgroup, cmd_xgroup));
    t.add(container("xinfo", 0, &["@slow"], route_xinfo, cmd_xinfo));
    // The keys of XREAD and XREADGROUP follow STREAMS: Redis reports no
    // key range (movablekeys) and a custom route finds them.
    let reader = |name, arity, flags, acl, route, run| CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route),
        ..spec(name, arity, flags, acl, run)
    };
    t.add(reader(
        "xread",
        -4,
        READONLY | BLOCKING | MOVABLEKEYS,
        &["@read", "@stream", "@slow", "@blocking"],
        route_xread,
        cmd_xread,
    ));
    t.add(reader(
        "xreadgroup",
        -7,
        WRITE | BLOCKING | MOVABLEKEYS,
        &["@write", "@stream", "@slow", "@blocking"],
        route_xreadgroup,
        cmd_xreadgroup,
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
    let fields_at = a.fields_at;
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
        s.append_with(id, argc - fields_at, |i| args.get(fields_at + i), limits())
            .map_err(|_| XADD_SMALLER)?;
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
        argv.extend((fields_at..argc).map(|i| args.get(i)));
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

// ---- consumer groups ----------------------------------------------------------------

const REQUIRES_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn nogroup(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        text(key),
        text(group)
    )
}

fn subcommand_syntax(sub: &[u8], container: &str) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        super::common::c_str(sub, 128)
    )
}

/// Subcommands of a container with a key at position 2: name and arity
/// (counting the container, as Redis's table does).
fn find_sub(
    args: &kevy_resp::Args<'_>,
    subs: &[(&'static str, i32)],
) -> Result<&'static str, String> {
    let sub = args.get(1);
    let Some(&(name, arity)) = subs
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(sub))
    else {
        return Err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            super::common::c_str(sub, 128),
            super::common::c_str(args.get(0), usize::MAX).to_ascii_uppercase()
        ));
    };
    let n = args.len() as i32;
    if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
        return Err(format!(
            "ERR wrong number of arguments for '{}|{name}' command",
            super::common::c_str(args.get(0), usize::MAX).to_ascii_lowercase()
        ));
    }
    Ok(name)
}

const XGROUP_SUBS: &[(&str, i32)] = &[
    ("create", -5),
    ("createconsumer", 5),
    ("delconsumer", 5),
    ("destroy", 4),
    ("help", 2),
    ("setid", -5),
];

const XINFO_SUBS: &[(&str, i32)] = &[("consumers", 4), ("groups", 3), ("help", 2), ("stream", -3)];

/// XGROUP's and XINFO's route: the key at position 2, the home thread
/// for HELP; unknown subcommands and wrong counts are refused here.
fn route_container(
    args: kevy_resp::Args<'_>,
    subs: &[(&'static str, i32)],
) -> Result<kevy_rt::Route, String> {
    Ok(match find_sub(&args, subs)? {
        "help" => kevy_rt::Route::Conn,
        _ => kevy_rt::Route::Keys {
            first: 2,
            last: 2,
            step: 1,
            extra: 0,
            fold: kevy_rt::Fold::One,
        },
    })
}

fn route_xgroup(
    args: kevy_resp::Args<'_>,
    _: &kevy_rt::ClientCtx,
    _: usize,
) -> Result<kevy_rt::Route, String> {
    route_container(args, XGROUP_SUBS)
}

fn route_xinfo(
    args: kevy_resp::Args<'_>,
    _: &kevy_rt::ClientCtx,
    _: usize,
) -> Result<kevy_rt::Route, String> {
    route_container(args, XINFO_SUBS)
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn entries_read_arg(a: &[u8]) -> Result<i64, String> {
    let n = parse_i64(a).ok_or(NOT_INTEGER)?;
    if n < 0 && n != kevy_store::stream::INVALID_ENTRIES_READ {
        return Err("ERR value for ENTRIESREAD must be positive or -1".into());
    }
    Ok(n)
}

/// XGROUP CREATE / SETID / DESTROY / CREATECONSUMER / DELCONSUMER / HELP.
fn cmd_xgroup(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let sub = match find_sub(&args, XGROUP_SUBS) {
        Ok(s) => s,
        Err(e) => return ctx.out.error(&e),
    };
    if sub == "help" {
        return super::common::help_reply(&mut ctx.out, args.get(0), XGROUP_HELP);
    }
    if let Err(e) = xgroup(ctx, sub) {
        ctx.out.error(&e);
    }
}

fn xgroup(ctx: &mut Ctx<'_>, sub: &str) -> Result<(), String> {
    let args = ctx.args;
    let argc = args.len();
    let (key, group) = (args.get(2), args.get(3));
    let mut mkstream = false;
    let mut entries_read = kevy_store::stream::INVALID_ENTRIES_READ;
    if sub == "create" {
        let mut i = 5;
        while i < argc {
            if args.get(i).eq_ignore_ascii_case(b"mkstream") {
                mkstream = true;
                i += 1;
            } else if args.get(i).eq_ignore_ascii_case(b"entriesread") && i + 1 < argc {
                entries_read = entries_read_arg(args.get(i + 1))?;
                i += 2;
            } else {
                return Err(subcommand_syntax(args.get(1), "XGROUP"));
            }
        }
    }
    let now = ctx.shard.store.now() as i64;
    let mut db = ctx.shard.store.db(ctx.db);
    let exists = check_stream(&mut db, key).map_err(|e| crate::errors::message(e).into_owned())?;
    if !exists && !mkstream {
        return Err(REQUIRES_KEY.into());
    }
    let group_exists = exists
        && read(&mut db, key)
            .ok()
            .flatten()
            .is_some_and(|s| s.groups.contains_key(group));
    if !group_exists && matches!(sub, "setid" | "createconsumer" | "delconsumer") {
        return Err(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            text(group),
            text(key)
        ));
    }
    match sub {
        "create" => {
            if argc > 8 {
                return Err(subcommand_syntax(args.get(1), "XGROUP"));
            }
            let idarg = args.get(4);
            let id = if idarg == b"$" {
                None
            } else {
                Some(strict_id(idarg)?)
            };
            if !exists {
                db.set(key, Value::Stream(Box::default()), SetTtl::Clear);
            }
            let created = modify(&mut db, key, |s| {
                if s.groups.contains_key(group) {
                    return (false, false);
                }
                let id = id.unwrap_or(s.last_id);
                s.groups.insert(
                    group.to_vec(),
                    kevy_store::stream::Group::new(id, entries_read),
                );
                (true, true)
            })
            .map_err(|e| crate::errors::message(e).into_owned())?;
            if created != Some(true) {
                return Err("BUSYGROUP Consumer Group name already exists".into());
            }
            ctx.out.ok();
            ctx.notify(STREAM, "xgroup-create", key);
        }
        "setid" => {
            if argc != 5 && argc != 7 {
                return Err(subcommand_syntax(args.get(1), "XGROUP"));
            }
            let idarg = args.get(4);
            let id = if idarg == b"$" {
                None
            } else {
                Some(parse_id(idarg, 0, false, false)?.id)
            };
            if argc == 7 {
                if !args.get(5).eq_ignore_ascii_case(b"entriesread") {
                    return Err(subcommand_syntax(args.get(1), "XGROUP"));
                }
                entries_read = entries_read_arg(args.get(6))?;
            }
            modify(&mut db, key, |s| {
                let last = s.last_id;
                let g = s.groups.get_mut(group).expect("checked above");
                g.last_id = id.unwrap_or(last);
                g.entries_read = entries_read;
                ((), true)
            })
            .map_err(|e| crate::errors::message(e).into_owned())?;
            ctx.out.ok();
            ctx.notify(STREAM, "xgroup-setid", key);
        }
        "destroy" => {
            let gone = modify(&mut db, key, |s| {
                let gone = s.groups.remove(group).is_some();
                (gone, gone)
            })
            .map_err(|e| crate::errors::message(e).into_owned())?;
            if gone == Some(true) {
                ctx.out.int(1);
                ctx.notify(STREAM, "xgroup-destroy", key);
            } else {
                ctx.out.int(0);
            }
        }
        "createconsumer" => {
            let consumer = args.get(4);
            let created = modify(&mut db, key, |s| {
                let g = s.groups.get_mut(group).expect("checked above");
                let created = g.consumer(consumer, now).1;
                (created, created)
            })
            .map_err(|e| crate::errors::message(e).into_owned())?;
            let created = created == Some(true);
            ctx.out.int(created as i64);
            if created {
                ctx.notify(STREAM, "xgroup-createconsumer", key);
            } else {
                ctx.propagate_nothing();
            }
        }
        "delconsumer" => {
            let consumer = args.get(4);
            let pending = modify(&mut db, key, |s| {
                let g = s.groups.get_mut(group).expect("checked above");
                let p = g.remove_consumer(consumer);
                (p, p.is_some())
            })
            .map_err(|e| crate::errors::message(e).into_owned())?
            .flatten();
            ctx.out.int(pending.unwrap_or(0) as i64);
            if pending.is_some() {
                ctx.notify(STREAM, "xgroup-delconsumer", key);
            } else {
                ctx.propagate_nothing();
            }
        }
        _ => return Err(subcommand_syntax(args.get(1), "XGROUP")),
    }
    Ok(())
}

// ---- XREAD / XREADGROUP ----------------------------------------------------------------

/// XREAD's and XREADGROUP's options (Redis's `xreadCommand` parse).
struct ReadOpts<'a> {
    /// Milliseconds; `None` without BLOCK.
    block: Option<u64>,
    /// 0: no limit.
    count: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    /// Where the keys start, and how many.
    streams_at: usize,
    nkeys: usize,
}

fn parse_read<'a>(args: &kevy_resp::Args<'a>, xreadgroup: bool) -> Result<ReadOpts<'a>, String> {
    let argc = args.len();
    let mut o = ReadOpts {
        block: None,
        count: 0,
        group: None,
        noack: false,
        streams_at: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"block") && more > 0 {
            i += 1;
            let t =
                parse_i64(args.get(i)).ok_or("ERR timeout is not an integer or out of range")?;
            if t < 0 {
                return Err("ERR timeout is negative".into());
            }
            let now = kevy_sys::clock::unix_ms() as i64;
            if t > 0 && t > i64::MAX - now {
                return Err("ERR timeout is out of range".into());
            }
            o.block = Some(t as u64);
        } else if a.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            let n = parse_i64(args.get(i)).ok_or(NOT_INTEGER)?;
            o.count = n.max(0) as usize;
        } else if a.eq_ignore_ascii_case(b"streams") && more > 0 {
            let rest = argc - i - 1;
            if !rest.is_multiple_of(2) {
                return Err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.".into());
            }
            o.streams_at = i + 1;
            o.nkeys = rest / 2;
            break;
        } else if a.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            o.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if a.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            o.noack = true;
        } else {
            return Err(SYNTAX.into());
        }
        i += 1;
    }
    if o.streams_at == 0 {
        return Err(SYNTAX.into());
    }
    if xreadgroup && o.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    Ok(o)
}

fn route_read(args: kevy_resp::Args<'_>, xreadgroup: bool) -> Result<kevy_rt::Route, String> {
    let o = parse_read(&args, xreadgroup)?;
    Ok(kevy_rt::Route::Keys {
        first: o.streams_at as u32,
        last: (o.streams_at + o.nkeys - 1) as i32,
        step: 1,
        extra: 0,
        fold: kevy_rt::Fold::One,
    })
}

fn route_xread(
    args: kevy_resp::Args<'_>,
    _: &kevy_rt::ClientCtx,
    _: usize,
) -> Result<kevy_rt::Route, String> {
    route_read(args, false)
}

fn route_xreadgroup(
    args: kevy_resp::Args<'_>,
    _: &kevy_rt::ClientCtx,
    _: usize,
) -> Result<kevy_rt::Route, String> {
    route_read(args, true)
}

/// The keys a blocked XREAD or XREADGROUP waits on (kevy-rt's
/// `Service::wait_keys`).
pub fn wait_keys(args: kevy_resp::Args<'_>, xreadgroup: bool) -> std::ops::Range<usize> {
    match parse_read(&args, xreadgroup) {
        Ok(o) => o.streams_at..o.streams_at + o.nkeys,
        Err(_) => 0..0,
    }
}

/// XREAD's arguments with each `$` replaced by the stream's last id as
/// it is now, for a wait (kevy-rt's `Service::park_args`).
pub fn park_args(db: &mut Db<'_>, args: kevy_resp::Args<'_>) -> Option<kevy_resp::OwnedArgs> {
    let o = parse_read(&args, false).ok()?;
    let ids = o.streams_at + o.nkeys..o.streams_at + 2 * o.nkeys;
    if !ids.clone().any(|i| args.get(i) == b"$") {
        return None;
    }
    let mut v: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
    for i in ids {
        if args.get(i) == b"$" {
            let key = args.get(i - o.nkeys);
            let last = match db.peek(key).map(|e| &e.value) {
                Some(Value::Stream(s)) => s.last_id,
                _ => StreamId::MIN,
            };
            v[i] = id_text(last);
        }
    }
    Some(kevy_resp::OwnedArgs::from_slices(
        v.iter().map(|x| x.as_slice()),
    ))
}

/// What a read asks of one stream.
#[derive(Clone, Copy)]
enum Want {
    /// Entries after this id.
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

fn cmd_xread(ctx: &mut Ctx<'_>) {
    read_generic(ctx, false);
}

fn cmd_xreadgroup(ctx: &mut Ctx<'_>) {
    read_generic(ctx, true);
}

/// A blocked group reader whose stream was deleted or replaced.
const UNBLOCKED_GONE: &str = "UNBLOCKED the stream key no longer exists";

fn read_generic(ctx: &mut Ctx<'_>, xreadgroup: bool) {
    let args = ctx.args;
    let o = match parse_read(&args, xreadgroup) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(&e),
    };
    let n = o.nkeys;
    let mut wants = Vec::with_capacity(n);
    // A blocked read served by one of its shards runs there with only
    // that shard's keys (kevy-rt's crate doc, "Blocking").
    let (scratch, nshards, id) = (ctx.shard.scratch, ctx.shard.nshards, ctx.shard.id);
    {
        let mut db = ctx.shard.store.db(ctx.db);
        for i in 0..n {
            let key = args.get(o.streams_at + i);
            let idarg = args.get(o.streams_at + n + i);
            let elsewhere = !scratch && nshards > 1 && ctx.shard.slots.shard_of(key) != id;
            let s = match read(&mut db, key) {
                Ok(s) => s,
                Err(_) if ctx.shard.serving && o.group.is_some() => {
                    // Its stream was replaced by another type.
                    return ctx.out.error(UNBLOCKED_GONE);
                }
                Err(e) => return reply_error(&mut ctx.out, e),
            };
            if let Some((group, _)) = o.group {
                if s.is_none() && elsewhere {
                    // A key of another shard, seen by a wait served here:
                    // its own shard serves it.
                    wants.push(Want::New);
                    continue;
                }
                // A wait that ends because its stream or group went: Redis's
                // answers to a blocked group reader.
                if ctx.shard.serving && s.is_none() {
                    return ctx.out.error(UNBLOCKED_GONE);
                }
                if ctx.shard.serving && !s.is_some_and(|s| s.groups.contains_key(group)) {
                    return ctx.out.error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                }
                if !s.is_some_and(|s| s.groups.contains_key(group)) {
                    return ctx.out.error(&format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        text(key),
                        text(group)
                    ));
                }
            }
            let want = if idarg == b"$" {
                if xreadgroup {
                    return ctx.out.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
                }
                Want::After(s.map_or(StreamId::MIN, |s| s.last_id))
            } else if idarg == b">" {
                if !xreadgroup {
                    return ctx.out.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
                }
                Want::New
            } else {
                match strict_id(idarg) {
                    Ok(id) => Want::After(id),
                    Err(e) => return ctx.out.error(e),
                }
            };
            wants.push(want);
        }
    }
    // Serve what can be served now, stream by stream.
    let at = ctx.out.buf.len();
    let mut served = 0usize;
    let now = ctx.shard.store.now() as i64;
    for (i, want) in wants.iter().enumerate() {
        let key = args.get(o.streams_at + i);
        let mut db = ctx.shard.store.db(ctx.db);
        let Ok(Some(s)) = read(&mut db, key) else {
            continue;
        };
        let last_valid = s.edge_id(true);
        let (serve, history) = match (o.group, *want) {
            (Some(_), Want::After(_)) => (true, true),
            (Some((g, _)), Want::New) => {
                let glast = s.groups[g].last_id;
                (last_valid.is_some_and(|m| m > glast), false)
            }
            (None, Want::After(id)) => (last_valid.is_some_and(|m| m > id), false),
            (None, Want::New) => (false, false),
        };
        if !serve {
            continue;
        }
        if served == 0 {
            // The count comes first; patched below once known.
            ctx.out.buf.extend_from_slice(b"*                    \r\n");
        }
        served += 1;
        if !ctx.out.resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(key);
        match o.group {
            None => {
                let Want::After(after) = *want else {
                    unreachable!()
                };
                match after.next() {
                    Some(lo) => {
                        let limit = if o.count == 0 { usize::MAX } else { o.count };
                        reply_range(&mut ctx.out, s, lo, StreamId::MAX, false, limit);
                    }
                    None => ctx.out.array(0),
                }
            }
            Some((group, consumer)) => {
                group_read(ctx, key, group, consumer, *want, history, &o, now);
            }
        }
    }
    if served > 0 {
        let mut head = Vec::with_capacity(24);
        if ctx.out.resp3 {
            Reply::new(&mut head, true).map(served);
        } else {
            Reply::new(&mut head, false).array(served);
        }
        ctx.out.buf.splice(at..at + 23, head);
        if o.group.is_none() {
            ctx.propagate_nothing();
        }
        return;
    }
    ctx.propagate_nothing();
    match o.block {
        Some(t) => super::common::block_or_nil(ctx, t, false),
        None => ctx.out.null_array(),
    }
}

/// Serves one stream of XREADGROUP: history (`after` an id, from the
/// consumer's pending list) or new entries (`>`), which become pending
/// unless NOACK. Effects: the consumer's creation, an XCLAIM per entry
/// delivered, and with NOACK the group's new position.
#[allow(clippy::too_many_arguments)]
fn group_read(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    want: Want,
    history: bool,
    o: &ReadOpts<'_>,
    now: i64,
) {
    let count = if o.count == 0 { usize::MAX } else { o.count };
    let noack = o.noack;
    let mut out = std::mem::take(ctx.out.buf);
    let resp3 = ctx.out.resp3;
    let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created = false;
    let _ = modify(&mut ctx.shard.store.db(ctx.db), key, |s| {
        let mut r = Reply::new(&mut out, resp3);
        let g = s.groups.get_mut(group).expect("checked by the caller");
        let (c, made) = g.consumer(consumer, now);
        c.seen_time = now;
        created = made;
        if history {
            let Want::After(after) = want else {
                unreachable!()
            };
            let ids: Vec<StreamId> = match after.next() {
                Some(lo) => c.pel.range(lo..).take(count).copied().collect(),
                None => Vec::new(),
            };
            r.array(ids.len());
            let mut delivered = Vec::new();
            for id in ids {
                match s.get(id) {
                    Some(f) => {
                        reply_entry(&mut r, id, f);
                        delivered.push(id);
                    }
                    None => {
                        r.array(2);
                        bulk_id(&mut r, id);
                        r.null_array();
                    }
                }
            }
            let g = s.groups.get_mut(group).expect("checked by the caller");
            for id in delivered {
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count += 1;
                }
            }
            return ((), true);
        }
        let glast = s.groups[group].last_id;
        let mut ids = Vec::new();
        if let Some(lo) = glast.next() {
            s.for_each(lo, StreamId::MAX, false, |id, _| {
                ids.push(id);
                ids.len() < count
            });
        }
        r.array(ids.len());
        for &id in &ids {
            let f = s.get(id).expect("just listed");
            reply_entry(&mut r, id, f);
        }
        let mut set_last = false;
        for &id in &ids {
            let has_tomb = s.has_tombstones_from(id);
            let estimate = s.estimate_entries_read(id);
            let added = s.entries_added;
            let g = s.groups.get_mut(group).expect("checked by the caller");
            if id > g.last_id {
                if g.entries_read != kevy_store::stream::INVALID_ENTRIES_READ && !has_tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = estimate;
                }
                g.last_id = id;
                if noack {
                    set_last = true;
                }
            }
            if !noack {
                if let Some(old) = g.pel.get(&id).map(|n| n.consumer.clone()) {
                    if let Some(oc) = g.consumers.get_mut(&old) {
                        oc.pel.remove(&id);
                    }
                }
                g.pel.insert(
                    id,
                    kevy_store::stream::Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: consumer.to_vec(),
                    },
                );
                g.consumers
                    .get_mut(consumer)
                    .expect("created above")
                    .pel
                    .insert(id);
                effects.push(xclaim_effect(key, group, consumer, id, now, 1, g.last_id));
            }
        }
        if set_last {
            let g = &s.groups[group];
            effects.push(vec![
                b"XGROUP".to_vec(),
                b"SETID".to_vec(),
                key.to_vec(),
                group.to_vec(),
                id_text(g.last_id),
                b"ENTRIESREAD".to_vec(),
                g.entries_read.to_string().into_bytes(),
            ]);
        }
        ((), true)
    });
    *ctx.out.buf = out;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
        if ctx.propagating() {
            ctx.propagate(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
        }
    }
    if ctx.propagating() {
        for e in &effects {
            let argv: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
            ctx.propagate(&argv);
        }
    }
    ctx.propagate_nothing();
}

/// Redis's `streamPropagateXCLAIM`: the pending entry as it now is.
fn xclaim_effect(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: StreamId,
    time: i64,
    count: u64,
    last: StreamId,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b"0".to_vec(),
        id_text(id),
        b"TIME".to_vec(),
        time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        id_text(last),
    ]
}

fn propagate_all(ctx: &mut Ctx<'_>, effects: &[Vec<Vec<u8>>]) {
    if ctx.propagating() {
        for e in effects {
            let argv: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
            ctx.propagate(&argv);
        }
    }
    ctx.propagate_nothing();
}

// ---- XACK / XPENDING / XCLAIM / XAUTOCLAIM --------------------------------------------

/// XACK key group id [id …]
fn cmd_xack(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let (key, group) = (args.get(1), args.get(2));
    let mut db = ctx.shard.store.db(ctx.db);
    let has_group = match read(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group)),
    };
    if !has_group {
        return ctx.out.int(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for i in 3..args.len() {
        match strict_id(args.get(i)) {
            Ok(id) => ids.push(id),
            Err(e) => return ctx.out.error(e),
        }
    }
    let n = modify(&mut db, key, |s| {
        let g = s.groups.get_mut(group).expect("checked above");
        let n = ids.iter().filter(|&&id| g.ack(id)).count();
        (n, n > 0)
    });
    ctx.out.int(n.ok().flatten().unwrap_or(0) as i64);
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
fn cmd_xpending(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let argc = args.len();
    let (key, group) = (args.get(1), args.get(2));
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.out.error(SYNTAX);
    }
    let mut range = None;
    if argc >= 6 {
        let parsed = (|| -> Result<_, String> {
            let mut at = 3;
            let mut minidle = 0i64;
            if args.get(3).eq_ignore_ascii_case(b"idle") {
                minidle = parse_i64(args.get(4)).ok_or(NOT_INTEGER)?;
                if argc < 8 {
                    return Err(SYNTAX.into());
                }
                at += 2;
            }
            let count = parse_i64(args.get(at + 2)).ok_or(NOT_INTEGER)?.max(0);
            let (mut lo, ex) = interval_id(args.get(at), 0)?;
            if ex {
                lo = lo.next().ok_or("ERR invalid start ID for the interval")?;
            }
            let (mut hi, ex) = interval_id(args.get(at + 1), u64::MAX)?;
            if ex {
                hi = hi.prev().ok_or("ERR invalid end ID for the interval")?;
            }
            let consumer = (at + 3 < argc).then(|| args.get(at + 3));
            Ok((minidle, lo, hi, count as usize, consumer))
        })();
        match parsed {
            Ok(p) => range = Some(p),
            Err(e) => return ctx.out.error(&e),
        }
    }
    let now = ctx.shard.store.now() as i64;
    let mut db = ctx.shard.store.db(ctx.db);
    let s = match read(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get(group)) else {
        return ctx.out.error(&nogroup(key, group));
    };
    let out = &mut ctx.out;
    match range {
        None => {
            out.array(4);
            out.int(g.pel.len() as i64);
            if g.pel.is_empty() {
                out.null();
                out.null();
                out.null_array();
            } else {
                bulk_id(out, *g.pel.keys().next().expect("not empty"));
                bulk_id(out, *g.pel.keys().next_back().expect("not empty"));
                let busy: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(busy.len());
                for (name, c) in busy {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_i64(c.pel.len() as i64);
                }
            }
        }
        Some((minidle, lo, hi, count, consumer)) => {
            let ids: Vec<StreamId> = match consumer {
                Some(c) => match g.consumers.get(c) {
                    None => return out.array(0),
                    Some(c) => c
                        .pel
                        .range(lo..=hi.max(lo))
                        .copied()
                        .filter(|&id| id <= hi)
                        .collect(),
                },
                None => {
                    if lo > hi {
                        Vec::new()
                    } else {
                        g.pel.range(lo..=hi).map(|(id, _)| *id).collect()
                    }
                }
            };
            let mut rows = Vec::new();
            for id in ids {
                if rows.len() >= count {
                    break;
                }
                let n = &g.pel[&id];
                if minidle != 0 && now - n.delivery_time < minidle {
                    continue;
                }
                rows.push((id, n));
            }
            out.array(rows.len());
            for (id, n) in rows {
                out.array(4);
                bulk_id(out, id);
                out.bulk(&n.consumer);
                out.int((now - n.delivery_time).max(0));
                out.int(n.delivery_count as i64);
            }
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id …] [IDLE ms] [TIME
/// ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
fn cmd_xclaim(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let argc = args.len();
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let mut db = ctx.shard.store.db(ctx.db);
    match read(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(s) if s.is_some_and(|s| s.groups.contains_key(group)) => {}
        Ok(_) => return ctx.out.error(&nogroup(key, group)),
    }
    let now = db.now() as i64;
    let parsed = (|| -> Result<_, String> {
        let minidle = parse_i64(args.get(4))
            .ok_or("ERR Invalid min-idle-time argument for XCLAIM")?
            .max(0);
        let mut j = 5;
        let mut ids = Vec::new();
        while j < argc {
            match strict_id(args.get(j)) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            j += 1;
        }
        let (mut force, mut justid) = (false, false);
        let mut retry: Option<u64> = None;
        let mut time: Option<i64> = None;
        let mut lastid = StreamId::MIN;
        while j < argc {
            let more = argc - 1 - j;
            let opt = args.get(j);
            if opt.eq_ignore_ascii_case(b"force") {
                force = true;
            } else if opt.eq_ignore_ascii_case(b"justid") {
                justid = true;
            } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
                j += 1;
                let v =
                    parse_i64(args.get(j)).ok_or("ERR Invalid IDLE option argument for XCLAIM")?;
                time = Some(now.wrapping_sub(v));
            } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
                j += 1;
                time = Some(
                    parse_i64(args.get(j)).ok_or("ERR Invalid TIME option argument for XCLAIM")?,
                );
            } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
                j += 1;
                let v = parse_i64(args.get(j))
                    .ok_or("ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
                retry = (v >= 0).then_some(v as u64);
            } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
                j += 1;
                lastid = strict_id(args.get(j))?;
            } else {
                return Err(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    super::common::c_str(opt, usize::MAX)
                ));
            }
            j += 1;
        }
        // A time in the future is taken as now (clients compute IDLE
        // and TIME from their own clocks). The bound is the wall clock:
        // a log replayed while the shard's clock stands still keeps the
        // times it recorded.
        let wall = (kevy_sys::clock::unix_ms() as i64).max(now);
        let time = match time {
            Some(t) if t >= 0 && t <= wall => t,
            _ => now,
        };
        Ok((minidle, ids, force, justid, retry, time, lastid))
    })();
    let (minidle, ids, force, justid, retry, time, lastid) = match parsed {
        Ok(p) => p,
        Err(e) => return ctx.out.error(&e),
    };
    let mut out = std::mem::take(ctx.out.buf);
    let resp3 = ctx.out.resp3;
    let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created = false;
    let _ = modify(&mut db, key, |s| {
        let mut claimed: Vec<StreamId> = Vec::new();
        let mut propagate_last = false;
        {
            let g = s.groups.get_mut(group).expect("checked above");
            if lastid > g.last_id {
                g.last_id = lastid;
                propagate_last = true;
            }
        }
        for &id in &ids {
            let exists = s.get(id).is_some();
            let g = s.groups.get_mut(group).expect("checked above");
            if !exists {
                if let Some(n) = g.pel.get(&id) {
                    effects.push(xclaim_effect(
                        key,
                        group,
                        &n.consumer.clone(),
                        id,
                        n.delivery_time,
                        n.delivery_count,
                        g.last_id,
                    ));
                    propagate_last = false;
                    g.ack(id);
                }
                continue;
            }
            if force && !g.pel.contains_key(&id) {
                g.pel.insert(
                    id,
                    kevy_store::stream::Nack {
                        delivery_time: now,
                        delivery_count: 0,
                        consumer: Vec::new(),
                    },
                );
            }
            let Some(n) = g.pel.get(&id) else { continue };
            if !n.consumer.is_empty() && minidle != 0 && now - n.delivery_time < minidle {
                continue;
            }
            let old = n.consumer.clone();
            if g.consumer(consumer, now).1 {
                created = true;
            }
            if old != consumer {
                if let Some(oc) = g.consumers.get_mut(&old) {
                    oc.pel.remove(&id);
                }
                g.consumers
                    .get_mut(consumer)
                    .expect("created")
                    .pel
                    .insert(id);
            }
            let n = g.pel.get_mut(&id).expect("present");
            n.consumer = consumer.to_vec();
            n.delivery_time = time;
            match retry {
                Some(r) => n.delivery_count = r,
                None if !justid => n.delivery_count += 1,
                None => {}
            }
            effects.push(xclaim_effect(
                key,
                group,
                consumer,
                id,
                n.delivery_time,
                n.delivery_count,
                g.last_id,
            ));
            propagate_last = false;
            claimed.push(id);
        }
        let mut r = Reply::new(&mut out, resp3);
        r.array(claimed.len());
        for id in &claimed {
            if justid {
                bulk_id(&mut r, *id);
            } else {
                reply_entry(&mut r, *id, s.get(*id).expect("exists"));
            }
        }
        if propagate_last {
            let g = &s.groups[group];
            effects.push(vec![
                b"XGROUP".to_vec(),
                b"SETID".to_vec(),
                key.to_vec(),
                group.to_vec(),
                id_text(g.last_id),
                b"ENTRIESREAD".to_vec(),
                g.entries_read.to_string().into_bytes(),
            ]);
        }
        let changed = !effects.is_empty() || created;
        ((), changed)
    });
    *ctx.out.buf = out;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &effects);
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]
fn cmd_xautoclaim(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let argc = args.len();
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let parsed = (|| -> Result<_, String> {
        let minidle = parse_i64(args.get(4))
            .ok_or("ERR Invalid min-idle-time argument for XAUTOCLAIM")?
            .max(0);
        let (mut start, ex) = interval_id(args.get(5), 0)?;
        if ex {
            start = start
                .next()
                .ok_or("ERR invalid start ID for the interval")?;
        }
        let mut count: i64 = 100;
        let mut justid = false;
        let mut j = 6;
        while j < argc {
            let more = argc - 1 - j;
            let opt = args.get(j);
            if opt.eq_ignore_ascii_case(b"count") && more > 0 {
                // Redis bounds COUNT so that count * 16 fits a long.
                const MAX: i64 = i64::MAX / 16;
                count = match parse_i64(args.get(j + 1)) {
                    Some(n) if (1..=MAX).contains(&n) => n,
                    _ => return Err("ERR COUNT must be > 0".into()),
                };
                j += 1;
            } else if opt.eq_ignore_ascii_case(b"justid") {
                justid = true;
            } else {
                return Err(SYNTAX.into());
            }
            j += 1;
        }
        Ok((minidle, start, count as u64, justid))
    })();
    let (minidle, start, count, justid) = match parsed {
        Ok(p) => p,
        Err(e) => return ctx.out.error(&e),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    match read(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(s) if s.is_some_and(|s| s.groups.contains_key(group)) => {}
        Ok(_) => return ctx.out.error(&nogroup(key, group)),
    }
    let now = db.now() as i64;
    let mut out = std::mem::take(ctx.out.buf);
    let resp3 = ctx.out.resp3;
    let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created = false;
    let _ = modify(&mut db, key, |s| {
        let mut attempts = count.saturating_mul(10);
        let mut count = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor = start;
        // The id the scan stands on when it stops (Redis's iterator),
        // `None` once it ran off the end.
        let mut at_end = false;
        let mut last_seen: Option<StreamId> = None;
        loop {
            if attempts == 0 || count == 0 {
                break;
            }
            attempts -= 1;
            let next = s.groups[group]
                .pel
                .range(cursor..)
                .next()
                .map(|(id, _)| *id);
            let Some(id) = next else {
                at_end = true;
                break;
            };
            last_seen = Some(id);
            cursor = match id.next() {
                Some(c) => c,
                None => {
                    // Past the last possible id: nothing can follow.
                    StreamId::MAX
                }
            };
            let exists = s.get(id).is_some();
            let g = s.groups.get_mut(group).expect("checked above");
            if !exists {
                let n = &g.pel[&id];
                effects.push(xclaim_effect(
                    key,
                    group,
                    &n.consumer.clone(),
                    id,
                    n.delivery_time,
                    n.delivery_count,
                    g.last_id,
                ));
                g.ack(id);
                deleted.push(id);
                count -= 1;
                continue;
            }
            let n = &g.pel[&id];
            if minidle != 0 && now - n.delivery_time < minidle {
                continue;
            }
            let old = n.consumer.clone();
            if g.consumer(consumer, now).1 {
                created = true;
            }
            if old != consumer {
                if let Some(oc) = g.consumers.get_mut(&old) {
                    oc.pel.remove(&id);
                }
                g.consumers
                    .get_mut(consumer)
                    .expect("created")
                    .pel
                    .insert(id);
            }
            let n = g.pel.get_mut(&id).expect("present");
            n.consumer = consumer.to_vec();
            n.delivery_time = now;
            if !justid {
                n.delivery_count += 1;
            }
            effects.push(xclaim_effect(
                key,
                group,
                consumer,
                id,
                n.delivery_time,
                n.delivery_count,
                g.last_id,
            ));
            claimed.push(id);
            count -= 1;
        }
        // The cursor: the entry after the one the scan stopped on.
        let next = if at_end {
            StreamId::MIN
        } else {
            let from = match last_seen {
                Some(id) => id.next(),
                None => Some(start),
            };
            from.and_then(|f| s.groups[group].pel.range(f..).next().map(|(id, _)| *id))
                .unwrap_or(StreamId::MIN)
        };
        let mut r = Reply::new(&mut out, resp3);
        r.array(3);
        bulk_id(&mut r, next);
        r.array(claimed.len());
        for id in &claimed {
            if justid {
                bulk_id(&mut r, *id);
            } else {
                reply_entry(&mut r, *id, s.get(*id).expect("exists"));
            }
        }
        r.array(deleted.len());
        for id in &deleted {
            bulk_id(&mut r, *id);
        }
        let changed = !effects.is_empty() || created;
        ((), changed)
    });
    *ctx.out.buf = out;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &effects);
}

// ---- XINFO -------------------------------------------------------------------------------

fn cmd_xinfo(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let sub = match find_sub(&args, XINFO_SUBS) {
        Ok(s) => s,
        Err(e) => return ctx.out.error(&e),
    };
    if sub == "help" {
        return super::common::help_reply(&mut ctx.out, args.get(0), XINFO_HELP);
    }
    let key = args.get(2);
    let now = ctx.shard.store.now() as i64;
    let mut db = ctx.shard.store.db(ctx.db);
    let s = match read(&mut db, key) {
        Err(e) => return reply_error(&mut ctx.out, e),
        Ok(None) => return ctx.out.error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    let out = &mut ctx.out;
    match sub {
        "consumers" => {
            let group = args.get(3);
            let Some(g) = s.groups.get(group) else {
                return out.error(&format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    text(group),
                    text(key)
                ));
            };
            out.array(g.consumers.len());
            for (name, c) in &g.consumers {
                out.map(3);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"pending");
                out.int(c.pel.len() as i64);
                out.bulk(b"idle");
                out.int((now - c.seen_time).max(0));
            }
        }
        "groups" => {
            out.array(s.groups.len());
            for (name, g) in &s.groups {
                out.map(6);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"consumers");
                out.int(g.consumers.len() as i64);
                out.bulk(b"pending");
                out.int(g.pel.len() as i64);
                out.bulk(b"last-delivered-id");
                bulk_id(out, g.last_id);
                out.bulk(b"entries-read");
                reply_entries_read(out, g.entries_read);
                out.bulk(b"lag");
                match s.lag(g) {
                    Some(l) => out.int(l),
                    None => out.null(),
                }
            }
        }
        _ => xinfo_stream(out, s, &args),
    }
}

fn reply_entries_read(out: &mut Reply<'_>, n: i64) {
    if n == kevy_store::stream::INVALID_ENTRIES_READ {
        out.null();
    } else {
        out.int(n);
    }
}

/// XINFO STREAM key [FULL [COUNT n]]
fn xinfo_stream(out: &mut Reply<'_>, s: &Stream, args: &kevy_resp::Args<'_>) {
    let extra = args.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if extra > 0 {
        let sub = args.get(1);
        if extra > 3 || !args.get(3).eq_ignore_ascii_case(b"full") {
            return out.error(&subcommand_syntax(sub, "XINFO"));
        }
        full = true;
        if extra > 1 {
            if extra != 3 || !args.get(4).eq_ignore_ascii_case(b"count") {
                return out.error(&subcommand_syntax(sub, "XINFO"));
            }
            count = match parse_i64(args.get(5)) {
                Some(n) => n,
                None => return out.error(NOT_INTEGER),
            };
            if count < 0 {
                count = 10;
            }
        }
    }
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    bulk_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    bulk_id(out, s.max_deleted);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    bulk_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            let mut done = false;
            s.for_each(StreamId::MIN, StreamId::MAX, rev, |id, f| {
                reply_entry(out, id, f);
                done = true;
                false
            });
            if !done {
                out.null();
            }
        }
        return;
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, false, limit);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        bulk_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g.entries_read);
        out.bulk(b"lag");
        match s.lag(g) {
            Some(l) => out.int(l),
            None => out.null(),
        }
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pel.len());
        for (id, n) in pel {
            out.array(4);
            bulk_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = c.pel.iter().take(limit).collect();
            out.array(ids.len());
            for id in ids {
                let n = &g.pel[id];
                out.array(3);
                bulk_id(out, *id);
                out.int(n.delivery_time);
                out.int(n.delivery_count as i64);
            }
        }
    }
}
