//! The generic command family: OBJECT (Redis's `object.c`) and SORT /
//! SORT_RO (Redis's `sort.c`), the commands that look at a value of any
//! type rather than at one type's contents.
//!
//! SORT reads more than its key: BY and GET patterns name other keys, one
//! per element, known only once the sorted key is read (Redis Cluster
//! refuses such patterns for that reason). Without patterns, or with one
//! shard, SORT routes like any keyed command: to the shard of the sorted
//! key and its STORE destination. With patterns and several shards it
//! routes to the whole keyspace, run by copy (`Route::All(Fold::One)`):
//! kevy-rt locks every shard, then copies the keys `sort_keys` names — the
//! sorted key and the destination first, then every pattern key of every
//! element — into a scratch shard, runs SORT there and writes the
//! destination back, all under the same locks. Locking every shard is the
//! price of not knowing the keys in advance; it keeps SORT atomic like any
//! other multi-key command, and only SORT with patterns pays it.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::families::common::c_str;
use crate::table::{flag, CommandSpec, Handler, RouteKind, Table};
use kevy_resp::Args;
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::evict::Policy;
use kevy_store::list::List;
use kevy_store::num::{parse_f64, parse_i64};
use kevy_store::{Db, OpError, OpResult, SetTtl, StrValue, Value};
use std::cmp::Ordering;

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    // WAIT has no keys: it runs, and waits, on the connection's own shard.
    t.add(CommandSpec {
        name: "wait",
        arity: 3,
        flags: NOSCRIPT | WAITS,
        first: 0,
        last: 0,
        step: 0,
        acl: &["@slow", "@connection"],
        route: RouteKind::Custom(route_wait),
        run: Handler::Shard(cmd_wait),
    });
    // OBJECT is a container: Redis reports no keys for it; each subcommand
    // that takes a key has it at position 2, which `route_object` returns.
    t.add(CommandSpec {
        name: "object",
        arity: -2,
        flags: 0,
        first: 0,
        last: 0,
        step: 0,
        acl: &["@slow"],
        route: RouteKind::Custom(route_object),
        run: Handler::Shard(cmd_object),
    });
    // SORT's STORE destination can appear anywhere among the options, hence
    // `movablekeys` and a route that finds it.
    t.add(CommandSpec {
        name: "sort",
        arity: -2,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        first: 1,
        last: 1,
        step: 1,
        acl: &[
            "@write",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        route: RouteKind::Reading {
            route: route_sort,
            keys: sort_keys,
        },
        run: Handler::Shard(cmd_sort),
    });
    // Redis flags SORT_RO `movablekeys` for its BY/GET key spec although it
    // has no STORE: only the sorted key is routed, unless patterns make it
    // read the whole keyspace as SORT does.
    t.add(CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: READONLY | MOVABLEKEYS,
        first: 1,
        last: 1,
        step: 1,
        acl: &[
            "@read",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        route: RouteKind::Reading {
            route: route_sort_ro,
            keys: sort_keys,
        },
        run: Handler::Shard(cmd_sort_ro),
    });
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

/// Bytes as C string functions see them: up to the first NUL.
fn c_prefix(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |z| &b[..z])
}

// ---- OBJECT ---------------------------------------------------------------------

/// OBJECT IDLETIME's error under an LFU policy.
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// OBJECT FREQ's error while `maxmemory-policy` is not an LFU policy.
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// Redis's `OBJ_SHARED_REFCOUNT`: the refcount of a shared object.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Redis shares the integer objects `0..OBJ_SHARED_INTEGERS` between every
/// key that holds them, unless `maxmemory` is set with an LRU or LFU
/// policy (each key then needs its own access clock).
const SHARED_INTEGERS: i64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectSub {
    Encoding,
    Freq,
    Help,
    IdleTime,
    RefCount,
}

/// OBJECT's subcommands: name, subcommand, arity (counting OBJECT itself).
const OBJECT_SUBS: &[(&str, ObjectSub, usize)] = &[
    ("encoding", ObjectSub::Encoding, 3),
    ("freq", ObjectSub::Freq, 3),
    ("help", ObjectSub::Help, 2),
    ("idletime", ObjectSub::IdleTime, 3),
    ("refcount", ObjectSub::RefCount, 3),
];

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// The subcommand, or Redis's error for an unknown one or a wrong argument
/// count (the errors Redis's command lookup gives for a container).
pub fn parse_object(args: &Args<'_>) -> Result<ObjectSub, String> {
    let sub = args.get(1);
    let Some(&(name, which, arity)) = OBJECT_SUBS
        .iter()
        .find(|(name, ..)| name.as_bytes().eq_ignore_ascii_case(sub))
    else {
        return Err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            c_str(sub, 128),
            c_str(args.get(0), usize::MAX).to_ascii_uppercase()
        ));
    };
    if args.len() != arity {
        return Err(format!(
            "ERR wrong number of arguments for 'object|{name}' command"
        ));
    }
    Ok(which)
}

/// OBJECT's route: the key at position 2, or the home thread for HELP.
/// Errors are decided here, before anything runs.
pub fn route_object(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    Ok(match parse_object(&args)? {
        ObjectSub::Help => Route::Conn,
        _ => Route::Keys {
            first: 2,
            last: 2,
            step: 1,
            extra: 0,
            fold: Fold::One,
        },
    })
}

/// OBJECT REFCOUNT: Redis's shared integers report `OBJ_SHARED_REFCOUNT`,
/// every other value 1. Where Redis copies a shared integer into a private
/// object (COPY) it reports 1 and kevy still reports the shared count.
pub fn refcount(v: &Value) -> i64 {
    let policy = crate::evict::policy();
    let unshared = crate::evict::maxmemory() != 0
        && !matches!(
            policy,
            Policy::NoEviction
                | Policy::AllKeysRandom
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        );
    match v {
        Value::Str(StrValue::Int(n)) if !unshared && (0..SHARED_INTEGERS).contains(n) => {
            SHARED_REFCOUNT
        }
        _ => 1,
    }
}

/// What OBJECT answers about an existing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectInfo {
    Encoding(&'static str),
    Int(i64),
}

/// OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ on `key`: `None` when it
/// does not exist. The lookup counts as a keyspace hit or miss, as Redis's,
/// leaves the access clock alone and emits no `keymiss` (Redis's
/// `LOOKUP_NONOTIFY`). IDLETIME reads the clock as LRU
/// seconds, FREQ as an LFU counter (decayed to now), each refusing under
/// the other kind of policy.
pub fn op_object(db: &mut Db<'_>, key: &[u8], sub: ObjectSub) -> OpResult<Option<ObjectInfo>> {
    let clock = *db.access_clock();
    let Some(e) = db.get_notouch_quiet(key) else {
        return Ok(None);
    };
    let v = &e.value;
    Ok(Some(match sub {
        ObjectSub::Encoding => ObjectInfo::Encoding(v.encoding_name()),
        ObjectSub::RefCount => ObjectInfo::Int(refcount(v)),
        ObjectSub::IdleTime if clock.lfu() => return Err(OpError::Family(LFU_SELECTED)),
        ObjectSub::IdleTime => ObjectInfo::Int((clock.idle_ms(e.access()) / 1000) as i64),
        ObjectSub::Freq if !clock.lfu() => return Err(OpError::Family(LFU_NOT_SELECTED)),
        ObjectSub::Freq => ObjectInfo::Int(i64::from(clock.lfu_counter(e.access()))),
        ObjectSub::Help => return Err(OpError::Syntax),
    }))
}

fn cmd_object(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let sub = match parse_object(&args) {
        Ok(s) => s,
        Err(e) => return ctx.out.error(&e),
    };
    if sub == ObjectSub::Help {
        return super::common::help_reply(&mut ctx.out, args.get(0), OBJECT_HELP);
    }
    match op_object(&mut db(ctx), args.get(2), sub) {
        Ok(None) => ctx.out.null(),
        Ok(Some(ObjectInfo::Encoding(e))) => ctx.out.bulk(e.as_bytes()),
        Ok(Some(ObjectInfo::Int(n))) => ctx.out.int(n),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- SORT -----------------------------------------------------------------------

pub const SCORE_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// SORT's options, parsed as Redis's `sortCommandGeneric` does: left to
/// right, later ASC/DESC, LIMIT, BY and STORE overriding earlier ones.
#[derive(Debug, Default)]
pub struct SortOpts<'a> {
    pub desc: bool,
    pub alpha: bool,
    pub limit_start: i64,
    /// Negative: to the end.
    pub limit_count: i64,
    pub by: Option<&'a [u8]>,
    /// BY a pattern without `*` (`BY nosort`): keep the value's own order.
    pub dontsort: bool,
    pub gets: Vec<&'a [u8]>,
    pub store: Option<&'a [u8]>,
    /// Position of the STORE destination in the arguments.
    pub store_pos: usize,
}

pub fn parse_sort<'a>(args: &Args<'a>, readonly: bool) -> OpResult<SortOpts<'a>> {
    let mut o = SortOpts {
        limit_count: -1,
        ..Default::default()
    };
    let mut j = 2;
    while j < args.len() {
        let opt = args.get(j);
        let left = args.len() - j - 1;
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("asc") {
            o.desc = false;
        } else if is("desc") {
            o.desc = true;
        } else if is("alpha") {
            o.alpha = true;
        } else if is("limit") && left >= 2 {
            o.limit_start = parse_i64(args.get(j + 1)).ok_or(OpError::NotInteger)?;
            o.limit_count = parse_i64(args.get(j + 2)).ok_or(OpError::NotInteger)?;
            j += 2;
        } else if is("store") && left >= 1 && !readonly {
            o.store = Some(args.get(j + 1));
            o.store_pos = j + 1;
            j += 1;
        } else if is("by") && left >= 1 {
            let p = args.get(j + 1);
            o.by = Some(p);
            o.dontsort = !c_prefix(p).contains(&b'*');
            j += 1;
        } else if is("get") && left >= 1 {
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

impl SortOpts<'_> {
    /// Whether sorting reads keys named by patterns: a BY that sorts and
    /// has a `*`, or a GET other than `#` with a `*`.
    fn reads_patterns(&self) -> bool {
        let named = |p: &[u8]| c_prefix(p).contains(&b'*');
        (!self.dontsort && self.by.is_some_and(named)) || self.gets.iter().any(|g| named(g))
    }
}

/// SORT's route: the sorted key, plus the STORE destination when there is
/// one; the whole keyspace, run by copy, when patterns name keys and there
/// are several shards (see the module doc). Option errors are left to the
/// handler, which reports them in Redis's order.
pub fn route_sort(args: Args<'_>, _: &ClientCtx, nshards: usize) -> Result<Route, String> {
    Ok(sort_route(args, nshards, false))
}

pub fn route_sort_ro(args: Args<'_>, _: &ClientCtx, nshards: usize) -> Result<Route, String> {
    Ok(sort_route(args, nshards, true))
}

fn sort_route(args: Args<'_>, nshards: usize, readonly: bool) -> Route {
    let o = parse_sort(&args, readonly);
    if nshards > 1 && o.as_ref().is_ok_and(SortOpts::reads_patterns) {
        return Route::All(Fold::One);
    }
    Route::Keys {
        first: 1,
        last: 1,
        step: 1,
        extra: o.map_or(0, |o| u32::try_from(o.store_pos).unwrap_or(0)),
        fold: Fold::One,
    }
}

/// WAIT numreplicas timeout: its arguments as Redis reads them (a `long`,
/// then a timeout in whole milliseconds), and how many replicas
/// acknowledged the connection's writes. kevy has no replicas, so that is
/// 0: at once when 0 is enough or the command may not block (MULTI), else
/// after the timeout (0: until CLIENT UNBLOCK or the connection ends).
fn wait_args(args: &Args<'_>) -> Result<(i64, u64), &'static str> {
    let replicas = parse_i64(args.get(1)).ok_or("ERR value is not an integer or out of range")?;
    let ms = parse_i64(args.get(2)).ok_or("ERR timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err("ERR timeout is negative");
    }
    Ok((replicas, ms as u64))
}

fn route_wait(args: Args<'_>, client: &ClientCtx, _: usize) -> Result<Route, String> {
    wait_args(&args).map_err(str::to_owned)?;
    Ok(Route::Shard(client.home as usize))
}

fn cmd_wait(ctx: &mut Ctx<'_>) {
    let (replicas, ms) = match wait_args(&ctx.args) {
        Ok(a) => a,
        Err(e) => return ctx.out.error(e),
    };
    // Redis keeps the count a blocked WAIT waits for in an `int`, so a
    // count whose low 32 bits are 0 or negative is met by no replica: it
    // answers at its next turn.
    if replicas as i32 <= 0 || !ctx.shard.may_block {
        ctx.out.int(0);
    } else {
        ctx.shard.block = Some(ms);
    }
}

/// Every key SORT reads or writes, as far as `db` holds the sorted key:
/// the sorted key and the STORE destination, then the key each pattern
/// names for each element (a superset of what a LIMIT window reads). Run
/// on the scratch shard of a SORT run by copy, which asks again after each
/// round of copies until nothing new is named.
pub fn sort_keys(db: &mut Db<'_>, args: Args<'_>) -> Vec<Vec<u8>> {
    let readonly = args.get(0).eq_ignore_ascii_case(b"sort_ro");
    let Ok(o) = parse_sort(&args, readonly) else {
        return Vec::new();
    };
    let key = args.get(1);
    let mut keys = vec![key.to_vec()];
    keys.extend(o.store.map(<[u8]>::to_vec));
    let by = o.by.filter(|_| !o.dontsort);
    let patterns: Vec<&[u8]> = by.into_iter().chain(o.gets.iter().copied()).collect();
    let mut name = |elem: &[u8]| {
        for p in &patterns {
            keys.extend(pattern_key(p, elem).map(|(k, _)| k));
        }
    };
    // Only names keys: the run that follows does the lookups Redis does
    // (its statistics, `keymiss` and access clock).
    match db.peek_notouch(key).map(|e| &e.value) {
        Some(Value::List(l)) => l.iter().for_each(&mut name),
        Some(Value::Set(s)) => s.iter().for_each(|m| name(&m.to_vec())),
        Some(Value::ZSet(z)) => z.iter().for_each(|(e, _)| name(e)),
        _ => {}
    }
    keys
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key read, as a string, or
/// as a hash field when `->field` follows the `*`. `None` when the key (or
/// field) is missing or of another type, or the pattern has no `*`.
pub fn lookup_by_pattern(db: &mut Db<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if c_prefix(pattern) == b"#" {
        return Some(elem.to_vec());
    }
    let (key, field) = pattern_key(pattern, elem)?;
    match (db.get(&key)?, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// The key a pattern names for `elem`, and the hash field after `->` if
/// any; `None` when the pattern has no `*` (or is `#`).
fn pattern_key<'p>(pattern: &'p [u8], elem: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    // Redis finds `#`, `*` and `->` with C string functions.
    let c = c_prefix(pattern);
    let star = c.iter().position(|&b| b == b'*')?;
    let arrow = c[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < c.len());
    let (postfix_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + postfix_end - star - 1);
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    Some((key, field))
}

/// A numeric sort weight as SORT reads it (`strtod`, then a check that
/// nothing follows): leading space allowed, the empty string is 0, a NUL
/// byte ends the number; NaN, overflow and underflow are errors.
pub fn sort_score(b: &[u8]) -> Option<f64> {
    let b = c_prefix(b);
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(b.len());
    parse_f64(&b[start..])
}

/// One element to sort and what it sorts by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA BY: the weight's bytes, `None` when the weight key is missing.
    weight: Option<Vec<u8>>,
}

impl Item {
    fn new(elem: Vec<u8>) -> Item {
        Item {
            elem,
            score: 0.0,
            weight: None,
        }
    }
}

/// How two items compare (Redis's `sortCompare`). ALPHA compares with
/// `strcoll` when the result goes to the client and byte-wise when it is
/// stored; kevy's collation is the C locale's (`strcmp`: bytes up to a
/// NUL), which is Redis's under `LC_COLLATE=C` or `C.UTF-8`.
#[derive(Clone, Copy)]
struct SortCmp {
    alpha: bool,
    by: bool,
    store: bool,
    desc: bool,
}

impl SortCmp {
    fn cmp(&self, a: &Item, b: &Item) -> Ordering {
        let text = |x: &[u8], y: &[u8]| {
            if self.store {
                x.cmp(y)
            } else {
                c_prefix(x).cmp(c_prefix(y))
            }
        };
        let c = if !self.alpha {
            // Equal scores fall back to the elements' bytes, so the order is
            // deterministic.
            a.score
                .partial_cmp(&b.score)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.elem.cmp(&b.elem))
        } else if self.by {
            match (&a.weight, &b.weight) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => text(x, y),
            }
        } else {
            text(&a.elem, &b.elem)
        };
        if self.desc {
            c.reverse()
        } else {
            c
        }
    }
}

/// SORT's result: the elements (and GET values) to reply with, or the
/// length of the stored list.
#[derive(Debug, PartialEq, Eq)]
pub enum SortOutcome {
    Items(Vec<Option<Vec<u8>>>),
    Stored(usize),
}

/// LIMIT's window over `n` elements as Redis clamps it: `(start, end)`
/// inclusive, empty when `end < start`.
fn sort_window(limit_start: i64, limit_count: i64, n: i64) -> (i64, i64) {
    let mut start = limit_start.clamp(0, n);
    let count = limit_count.clamp(-1, n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    (start, end)
}

/// The value's elements as SORT loads them, with the output window. A list
/// or sorted set that is not sorted (`BY nosort`) loads only the window, in
/// the requested direction, so the window then starts at 0.
fn load_elements(
    v: Option<&Value>,
    o: &SortOpts<'_>,
    dontsort: bool,
) -> OpResult<(Vec<Item>, i64, i64)> {
    let n = match v {
        None => 0,
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        Some(_) => return Err(OpError::WrongType),
    } as i64;
    let (start, end) = sort_window(o.limit_start, o.limit_count, n);
    let mut items = Vec::new();
    match v {
        None => {}
        Some(Value::List(l)) if dontsort => {
            if end < start {
                return Ok((items, start, end));
            }
            let (s, e) = if o.desc {
                (n - 1 - end, n - 1 - start)
            } else {
                (start, end)
            };
            items.extend(l.range(s, e).map(|b| Item::new(b.to_vec())));
            if o.desc {
                items.reverse();
            }
            return Ok((items, 0, end - start));
        }
        Some(Value::ZSet(z)) if dontsort => {
            if end >= start {
                z.range_by_rank(start, end, o.desc, |m, _| items.push(Item::new(m.to_vec())));
            }
            return Ok((items, 0, end - start));
        }
        Some(Value::List(l)) => items.extend(l.iter().map(|b| Item::new(b.to_vec()))),
        Some(Value::Set(s)) => items.extend(s.iter().map(|m| Item::new(m.to_vec()))),
        Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| Item::new(m.to_vec()))),
        Some(_) => unreachable!("type checked above"),
    }
    Ok((items, start, end))
}

/// SORT and SORT_RO on `key` with parsed options (Redis's
/// `sortCommandGeneric` after parsing). A missing key sorts as an empty
/// list; STORE replaces the destination with a list, or deletes it when the
/// result is empty.
pub fn op_sort(db: &mut Db<'_>, key: &[u8], o: &SortOpts<'_>) -> OpResult<SortOutcome> {
    let (mut dontsort, mut alpha, mut by) = (o.dontsort, o.alpha, o.by);
    let v = db.get(key);
    // An unsorted set comes out in hash order; when stored, sort it so the
    // result does not depend on the table's layout.
    if dontsort && matches!(v, Some(Value::Set(_))) && o.store.is_some() {
        (dontsort, alpha, by) = (false, true, None);
    }
    let (mut items, start, end) = load_elements(v, o, dontsort)?;

    if !dontsort {
        let mut bad_score = false;
        for it in &mut items {
            let weight = match by {
                Some(p) => match lookup_by_pattern(db, p, &it.elem) {
                    Some(w) => Some(w),
                    None => continue,
                },
                None => None,
            };
            if alpha {
                it.weight = weight;
            } else {
                match sort_score(weight.as_deref().unwrap_or(&it.elem)) {
                    Some(s) => it.score = s,
                    None => bad_score = true,
                }
            }
        }
        if bad_score {
            return Err(OpError::Family(SCORE_NOT_DOUBLE));
        }
        let c = SortCmp {
            alpha,
            by: by.is_some(),
            store: o.store.is_some(),
            desc: o.desc,
        };
        // Stable, as glibc's merge-sort `qsort` that Redis calls.
        items.sort_by(|a, b| c.cmp(a, b));
    }

    let window: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    match o.store {
        None => {
            let per = o.gets.len().max(1);
            let mut out = Vec::with_capacity(window.len() * per);
            for it in window {
                if o.gets.is_empty() {
                    out.push(Some(it.elem.clone()));
                }
                for g in &o.gets {
                    out.push(lookup_by_pattern(db, g, &it.elem));
                }
            }
            Ok(SortOutcome::Items(out))
        }
        Some(dst) => {
            let mut list = List::new();
            for it in window {
                if o.gets.is_empty() {
                    list.push_back(&it.elem);
                }
                for g in &o.gets {
                    // A missing GET value is stored as the empty string.
                    list.push_back(&lookup_by_pattern(db, g, &it.elem).unwrap_or_default());
                }
            }
            let n = list.len();
            if n > 0 {
                db.set(dst, Value::List(Box::new(list)), SetTtl::Clear);
            } else {
                db.remove(dst);
            }
            Ok(SortOutcome::Stored(n))
        }
    }
}

fn sort_generic(ctx: &mut Ctx<'_>, readonly: bool) {
    let args = ctx.args;
    let dirty = ctx.shard.store.dirty;
    let r = parse_sort(&args, readonly).and_then(|o| {
        let r = op_sort(&mut db(ctx), args.get(1), &o)?;
        if let (Some(dst), SortOutcome::Stored(n)) = (o.store, &r) {
            if *n > 0 {
                ctx.notify(crate::notify::LIST, "sortstore", dst);
            } else if ctx.shard.store.dirty != dirty {
                ctx.notify(crate::notify::GENERIC, "del", dst);
            }
        }
        Ok(r)
    });
    match r {
        Ok(SortOutcome::Items(items)) => {
            ctx.out.array(items.len());
            for it in &items {
                match it {
                    Some(b) => ctx.out.bulk(b),
                    None => ctx.out.null(),
                }
            }
        }
        Ok(SortOutcome::Stored(n)) => ctx.out.int(n as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_sort(ctx: &mut Ctx<'_>) {
    sort_generic(ctx, false);
}

fn cmd_sort_ro(ctx: &mut Ctx<'_>) {
    sort_generic(ctx, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;
    use kevy_resp::OwnedArgs;
    use kevy_store::hash::Hash;
    use kevy_store::set::Set;
    use kevy_store::zset::{AddFlags, ZSet};

    /// An array reply of bulk strings; `None` for a null.
    fn arr(items: &[Option<&str>]) -> String {
        let mut s = format!("*{}\r\n", items.len());
        for i in items {
            s += &i.map_or(NULL.to_string(), bulk);
        }
        s
    }

    fn strs(items: &[&str]) -> String {
        arr(&items.iter().map(|s| Some(*s)).collect::<Vec<_>>())
    }

    fn put(t: &mut T, key: &str, v: Value) {
        t.shard
            .store
            .db(t.client.db as usize)
            .set(key.as_bytes(), v, SetTtl::Clear);
    }

    fn list(t: &mut T, key: &str, items: &[&str]) {
        let mut l = List::new();
        for i in items {
            l.push_back(i.as_bytes());
        }
        put(t, key, Value::List(Box::new(l)));
    }

    fn set(t: &mut T, key: &str, items: &[&str]) {
        let mut s = Set::new();
        for i in items {
            s.insert(i.as_bytes());
        }
        put(t, key, Value::Set(Box::new(s)));
    }

    fn zset(t: &mut T, key: &str, items: &[(f64, &str)]) {
        let mut z = ZSet::new();
        for (score, m) in items {
            z.add(m.as_bytes(), *score, AddFlags::default()).unwrap();
        }
        put(t, key, Value::ZSet(Box::new(z)));
    }

    fn hash(t: &mut T, key: &str, pairs: &[(&str, &str)]) {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.set(f.as_bytes(), v.as_bytes());
        }
        put(t, key, Value::Hash(h));
    }

    fn stored(t: &mut T, key: &str) -> Vec<String> {
        match t.shard.store.db(0).get(key.as_bytes()) {
            Some(Value::List(l)) => l
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    #[test]
    fn object_encoding_names_the_encoding_in_use() {
        let mut t = T::new();
        t.run(&["SET", "int", "12345"]);
        t.run(&["SET", "emb", "hello"]);
        t.run(&["SET", "raw", &"x".repeat(45)]);
        list(&mut t, "l", &["a", "b"]);
        set(&mut t, "ints", &["1", "2"]);
        set(&mut t, "strs", &["a", "b"]);
        zset(&mut t, "z", &[(1.0, "a")]);
        hash(&mut t, "h", &[("f", "v")]);
        let big: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        set(&mut t, "bigs", &big);
        let pairs: Vec<(f64, &str)> = big.iter().map(|m| (1.0, *m)).collect();
        zset(&mut t, "bigz", &pairs);
        // Past hash-max-listpack-entries (512).
        let many: Vec<String> = (0..600).map(|i| format!("m{i}")).collect();
        let fields: Vec<(&str, &str)> = many.iter().map(|m| (m.as_str(), "v")).collect();
        hash(&mut t, "bigh", &fields);
        for (key, enc) in [
            ("int", "int"),
            ("emb", "embstr"),
            ("raw", "raw"),
            ("l", "listpack"),
            ("ints", "intset"),
            ("strs", "listpack"),
            ("bigs", "hashtable"),
            ("z", "listpack"),
            ("bigz", "skiplist"),
            ("h", "listpack"),
            ("bigh", "hashtable"),
        ] {
            assert_eq!(t.run(&["OBJECT", "ENCODING", key]), bulk(enc), "{key}");
        }
        assert_eq!(t.run(&["object", "encoding", "nokey"]), NULL);
    }

    #[test]
    fn object_refcount_idletime_freq() {
        let mut t = T::new();
        t.run(&["SET", "small", "9999"]);
        t.run(&["SET", "big", "10000"]);
        t.run(&["SET", "neg", "-1"]);
        t.run(&["SET", "s", "x"]);
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "small"]), int(2147483647));
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "big"]), int(1));
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "neg"]), int(1));
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "s"]), int(1));
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "nokey"]), NULL);
        assert_eq!(t.run(&["OBJECT", "IDLETIME", "s"]), int(0));
        assert_eq!(t.run(&["OBJECT", "IDLETIME", "nokey"]), NULL);
        assert_eq!(
            t.run(&["OBJECT", "FREQ", "s"]),
            format!("-{LFU_NOT_SELECTED}\r\n")
        );
        assert_eq!(t.run(&["OBJECT", "FREQ", "nokey"]), NULL);
    }

    #[test]
    fn object_errors_and_help() {
        let mut t = T::new();
        assert_eq!(
            t.run(&["OBJECT", "foo", "k"]),
            "-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n"
        );
        assert_eq!(
            t.run(&["object", "x\0y"]),
            "-ERR unknown subcommand 'x'. Try OBJECT HELP.\r\n"
        );
        assert_eq!(
            t.run(&["OBJECT", "Encoding"]),
            "-ERR wrong number of arguments for 'object|encoding' command\r\n"
        );
        assert_eq!(
            t.run(&["OBJECT", "refcount", "a", "b"]),
            "-ERR wrong number of arguments for 'object|refcount' command\r\n"
        );
        assert_eq!(
            t.run(&["OBJECT", "help", "x"]),
            "-ERR wrong number of arguments for 'object|help' command\r\n"
        );
        assert_eq!(
            t.run(&["OBJECT"]),
            "-ERR wrong number of arguments for 'object' command\r\n"
        );
        let help = t.run(&["object", "HELP"]);
        assert!(
            help.starts_with(
                "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
                 +ENCODING <key>\r\n"
            ),
            "{help}"
        );
        assert!(
            help.ends_with("+HELP\r\n+    Prints this help.\r\n"),
            "{help}"
        );
        let client = t.client;
        let route = |argv: &[&str]| {
            let a = OwnedArgs::from_slices(argv);
            route_object(a.args(), &client, 4)
        };
        assert_eq!(route(&["OBJECT", "HELP"]), Ok(Route::Conn));
        assert_eq!(
            route(&["OBJECT", "ENCODING", "k"]),
            Ok(Route::Keys {
                first: 2,
                last: 2,
                step: 1,
                extra: 0,
                fold: Fold::One
            })
        );
    }

    #[test]
    fn sort_numeric_and_alpha() {
        let mut t = T::new();
        list(&mut t, "l", &["3", "1", "2", "10", "", " 5"]);
        assert_eq!(
            t.run(&["SORT", "l"]),
            strs(&["", "1", "2", "3", " 5", "10"])
        );
        assert_eq!(
            t.run(&["SORT", "l", "DESC"]),
            strs(&["10", " 5", "3", "2", "1", ""])
        );
        assert_eq!(
            t.run(&["SORT", "l", "ALPHA"]),
            strs(&["", " 5", "1", "10", "2", "3"])
        );
        assert_eq!(
            t.run(&["SORT_RO", "l", "alpha", "desc", "asc"]),
            strs(&["", " 5", "1", "10", "2", "3"])
        );
        list(&mut t, "bad", &["1", "x"]);
        assert_eq!(t.run(&["SORT", "bad"]), format!("-{SCORE_NOT_DOUBLE}\r\n"));
        assert_eq!(t.run(&["SORT", "bad", "ALPHA"]), strs(&["1", "x"]));
        // Equal scores fall back to the bytes.
        list(&mut t, "eq", &["1.0", "1", "01", "-0", "0"]);
        assert_eq!(t.run(&["SORT", "eq"]), strs(&["-0", "0", "01", "1", "1.0"]));
        assert_eq!(t.run(&["SORT", "nokey"]), "*0\r\n");
    }

    #[test]
    fn sort_limit_window() {
        let mut t = T::new();
        list(&mut t, "l", &["5", "4", "3", "2", "1"]);
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "1", "2"]), strs(&["2", "3"]));
        assert_eq!(
            t.run(&["SORT", "l", "LIMIT", "-5", "-1", "DESC"]),
            strs(&["5", "4", "3", "2", "1"])
        );
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "4", "10"]), strs(&["5"]));
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "5", "1"]), "*0\r\n");
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "0", "0"]), "*0\r\n");
        let max = i64::MAX.to_string();
        assert_eq!(t.run(&["SORT", "l", "LIMIT", &max, &max]), "*0\r\n");
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "3", &max]), strs(&["4", "5"]));
        assert_eq!(sort_window(0, -1, 0), (-1, -2));
        assert_eq!(sort_window(i64::MIN, i64::MIN, 3), (0, 2));
    }

    #[test]
    fn sort_nosort_keeps_native_order() {
        let mut t = T::new();
        list(&mut t, "l", &["c", "a", "b", "d"]);
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort"]),
            strs(&["c", "a", "b", "d"])
        );
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "DESC"]),
            strs(&["d", "b", "a", "c"])
        );
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "LIMIT", "1", "2"]),
            strs(&["a", "b"])
        );
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "LIMIT", "1", "2", "DESC"]),
            strs(&["b", "a"])
        );
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "LIMIT", "9", "2"]),
            "*0\r\n"
        );
        zset(&mut t, "z", &[(3.0, "c"), (1.0, "x"), (2.0, "b")]);
        assert_eq!(
            t.run(&["SORT", "z", "BY", "nosort"]),
            strs(&["x", "b", "c"])
        );
        assert_eq!(
            t.run(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "5"]),
            strs(&["b", "x"])
        );
        assert_eq!(t.run(&["SORT", "z", "ALPHA"]), strs(&["b", "c", "x"]));
        // An intset iterates in order; stored, an unsorted set is sorted
        // as ALPHA.
        set(&mut t, "s", &["10", "9", "100"]);
        assert_eq!(
            t.run(&["SORT", "s", "BY", "nosort"]),
            strs(&["9", "10", "100"])
        );
        assert_eq!(
            t.run(&["SORT", "s", "BY", "nosort", "STORE", "dst"]),
            int(3)
        );
        assert_eq!(stored(&mut t, "dst"), ["10", "100", "9"]);
    }

    #[test]
    fn sort_by_and_get_patterns() {
        let mut t = T::new();
        list(&mut t, "ids", &["1", "2", "3"]);
        t.run(&["MSET", "w_1", "30", "w_2", "10", "w_3", "20"]);
        t.run(&["MSET", "n_1", "one", "n_3", "three"]);
        hash(&mut t, "h_1", &[("age", "7"), ("name", "ann")]);
        hash(&mut t, "h_2", &[("age", "5")]);
        assert_eq!(t.run(&["SORT", "ids", "BY", "w_*"]), strs(&["2", "3", "1"]));
        assert_eq!(
            t.run(&["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "n_*"]),
            arr(&[
                Some("2"),
                None,
                Some("3"),
                Some("three"),
                Some("1"),
                Some("one")
            ])
        );
        // A missing weight is 0; ties fall back to the element.
        assert_eq!(
            t.run(&["SORT", "ids", "BY", "h_*->age"]),
            strs(&["3", "2", "1"])
        );
        assert_eq!(
            t.run(&["SORT", "ids", "BY", "h_*->age", "GET", "h_*->name"]),
            arr(&[None, None, Some("ann")])
        );
        // ALPHA BY: missing weights first.
        assert_eq!(
            t.run(&["SORT", "ids", "BY", "n_*", "ALPHA"]),
            strs(&["2", "1", "3"])
        );
        // A pattern without `*` looks nothing up; `->` with no field is
        // part of the key name.
        assert_eq!(
            t.run(&["SORT", "ids", "GET", "w_1"]),
            arr(&[None, None, None])
        );
        t.run(&["SET", "x_1->", "arrow"]);
        assert_eq!(
            t.run(&["SORT", "ids", "GET", "x_*->", "LIMIT", "0", "1"]),
            arr(&[Some("arrow")])
        );
        // A weight that is not a number fails the whole sort.
        t.run(&["SET", "w_2", "abc"]);
        assert_eq!(
            t.run(&["SORT", "ids", "BY", "w_*"]),
            format!("-{SCORE_NOT_DOUBLE}\r\n")
        );
        // A weight key of another type reads as missing.
        list(&mut t, "w_2", &["x"]);
        assert_eq!(t.run(&["SORT", "ids", "BY", "w_*"]), strs(&["2", "3", "1"]));
    }

    #[test]
    fn sort_store() {
        let mut t = T::new();
        zset(&mut t, "z", &[(1.0, "b"), (2.0, "a")]);
        t.run(&["SET", "dst", "old", "EX", "100"]);
        assert_eq!(t.run(&["SORT", "z", "ALPHA", "STORE", "dst"]), int(2));
        assert_eq!(stored(&mut t, "dst"), ["a", "b"]);
        assert_eq!(t.run(&["TTL", "dst"]), int(-1));
        assert_eq!(
            t.run(&["SORT", "z", "ALPHA", "GET", "#", "GET", "nokey_*", "STORE", "dst"]),
            int(4)
        );
        assert_eq!(stored(&mut t, "dst"), ["a", "", "b", ""]);
        // An empty result deletes the destination.
        assert_eq!(t.run(&["SORT", "nokey", "STORE", "dst"]), int(0));
        assert_eq!(t.run(&["EXISTS", "dst"]), int(0));
        assert_eq!(
            t.run(&["SORT_RO", "z", "STORE", "dst"]),
            "-ERR syntax error\r\n"
        );
    }

    #[test]
    fn sort_errors() {
        let mut t = T::new();
        t.run(&["SET", "s", "x"]);
        list(&mut t, "l", &["1"]);
        assert_eq!(
            t.run(&["SORT", "s"]),
            format!("-{}\r\n", crate::errors::WRONGTYPE)
        );
        // Options are checked before the key's type.
        assert_eq!(t.run(&["SORT", "s", "foo"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["SORT", "l", "LIMIT", "0"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["SORT", "l", "BY"]), "-ERR syntax error\r\n");
        assert_eq!(t.run(&["SORT", "l", "STORE"]), "-ERR syntax error\r\n");
        assert_eq!(
            t.run(&["SORT", "l", "LIMIT", "0", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            t.run(&["SORT"]),
            "-ERR wrong number of arguments for 'sort' command\r\n"
        );
    }

    #[test]
    fn sort_route_finds_store() {
        let client = T::new().client;
        let route = |argv: &[&str]| {
            let a = OwnedArgs::from_slices(argv);
            match route_sort(a.args(), &client, 4) {
                Ok(Route::Keys { extra, .. }) => extra,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(route(&["SORT", "k"]), 0);
        assert_eq!(route(&["SORT", "k", "STORE", "d"]), 3);
        assert_eq!(
            route(&["SORT", "k", "GET", "store", "LIMIT", "0", "1", "store", "d"]),
            8
        );
        assert_eq!(route(&["SORT", "k", "STORE", "a", "STORE", "b"]), 5);
        assert_eq!(route(&["SORT", "k", "BY", "store"]), 0);
        assert_eq!(route(&["SORT", "k", "bad", "STORE", "d"]), 0);
    }

    #[test]
    fn sort_with_patterns_routes_to_the_whole_keyspace_on_several_shards() {
        let client = T::new().client;
        let whole = |argv: &[&str], nshards: usize| {
            let a = OwnedArgs::from_slices(argv);
            let route = if argv[0] == "SORT_RO" {
                route_sort_ro(a.args(), &client, nshards)
            } else {
                route_sort(a.args(), &client, nshards)
            };
            match route.unwrap() {
                Route::All(Fold::One) => true,
                Route::Keys { .. } => false,
                other => panic!("{other:?}"),
            }
        };
        for argv in [
            &["SORT", "k", "BY", "w_*"][..],
            &["SORT", "k", "GET", "#", "GET", "h_*->f"],
            &["SORT", "k", "BY", "nosort", "GET", "n_*"],
            &["SORT", "k", "by", "{t}w_*", "STORE", "{t}d"],
            &["SORT_RO", "k", "BY", "w_*"],
        ] {
            assert!(whole(argv, 3), "{argv:?}");
            assert!(!whole(argv, 1), "{argv:?}");
        }
        for argv in [
            &["SORT", "k"][..],
            &["SORT", "k", "BY", "nosort"],
            &["SORT", "k", "GET", "#", "STORE", "d"],
            &["SORT", "k", "GET", "no-star"],
            &["SORT", "k", "BY", "w\0*"],
            &["SORT", "k", "BY", "w_*", "bad"],
            &["SORT_RO", "k", "BY", "w_*", "STORE", "d"],
        ] {
            assert!(!whole(argv, 3), "{argv:?}");
        }
    }

    #[test]
    fn sort_keys_names_the_pattern_keys_of_every_element() {
        let mut t = T::new();
        let keys = |t: &mut T, argv: &[&str]| {
            let a = OwnedArgs::from_slices(argv);
            let found = sort_keys(&mut t.shard.store.db(0), a.args());
            found
                .into_iter()
                .map(|k| String::from_utf8(k).unwrap())
                .collect::<Vec<_>>()
        };
        let argv = [
            "SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f", "STORE", "d",
        ];
        // Before the sorted key is copied: the key and the destination.
        assert_eq!(keys(&mut t, &argv), ["l", "d"]);
        list(&mut t, "l", &["1", "2"]);
        assert_eq!(keys(&mut t, &argv), ["l", "d", "w_1", "h_1", "w_2", "h_2"]);
        // BY nosort reads no weight; LIMIT still names every element.
        assert_eq!(
            keys(
                &mut t,
                &["SORT_RO", "l", "BY", "x", "GET", "n_*", "LIMIT", "0", "1"]
            ),
            ["l", "n_1", "n_2"]
        );
        set(&mut t, "s", &["7"]);
        assert_eq!(keys(&mut t, &["SORT", "s", "GET", "n_*"]), ["s", "n_7"]);
        zset(&mut t, "z", &[(1.0, "m")]);
        assert_eq!(keys(&mut t, &["SORT", "z", "BY", "w_*"]), ["z", "w_m"]);
        t.run(&["SET", "str", "x"]);
        assert_eq!(keys(&mut t, &["SORT", "str", "BY", "w_*"]), ["str"]);
    }

    #[test]
    fn sort_scores_read_like_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" \t5"), Some(5.0));
        assert_eq!(sort_score(b"12\0junk"), Some(12.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [&b" "[..], b"1 ", b"nan", b"1e400", b"1e-400", b"x"] {
            assert_eq!(sort_score(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_input_never_panics() {
        // Every option combination over every value type, including
        // windows that start past the end.
        let mut t = T::new();
        list(&mut t, "l", &["2", "1"]);
        set(&mut t, "s", &["b", "a"]);
        zset(&mut t, "z", &[(1.0, "a")]);
        let opts: &[&[&str]] = &[
            &[],
            &["DESC"],
            &["ALPHA"],
            &["BY", "nosort"],
            &["BY", "w_*"],
            &["LIMIT", "3", "-1"],
            &["LIMIT", "-1", "0"],
            &["GET", "#"],
            &["STORE", "d"],
        ];
        for key in ["l", "s", "z", "missing"] {
            for a in opts {
                for b in opts {
                    let mut argv = vec!["SORT", key];
                    argv.extend_from_slice(a);
                    argv.extend_from_slice(b);
                    let r = t.run(&argv);
                    assert!(!r.is_empty(), "{argv:?}");
                }
            }
        }
    }
}
