//! The sorted-set command family (Redis's `t_zset.c`): ZADD and ZINCRBY,
//! scores and ranks, range queries by rank, score and member, pops, random
//! members, ZSCAN, and the algebra ZUNION / ZINTER / ZDIFF (with their STORE
//! forms) and ZINTERCARD.
//!
//! Variants share one generic function, as in Redis: every range command is
//! `range_generic` (ZRANGE's options with the type or direction fixed by
//! the legacy names), every algebra command is `algebra_generic`. Range
//! replies are written straight from the stored set: the reply's length is
//! counted first (O(log n) on a big set), then the members are visited in
//! order, so a range never copies members.

use super::common::modify_as;
use crate::ctx::Ctx;
use crate::errors::{message, reply_error};
use crate::families::keys::parse_cursor;
use crate::notify::{GENERIC, ZSET};
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::glob;
use kevy_store::list::normalize_range;
use kevy_store::num::{parse_f64, parse_i64};
use kevy_store::sample::{random_reply_len, Rng};
use kevy_store::zset::{
    AddFlags, AddOutcome, Aggregate, LexBound, LexRange, Limit, ScoreRange, ZInput, ZSet, ZSource,
    ZsetError, ZSET_MAX_LISTPACK_ENTRIES, ZSET_MAX_LISTPACK_VALUE,
};
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};

type RouteFn = fn(Args<'_>, &ClientCtx, usize) -> Result<Route, String>;

/// Members with their scores, copied out of a set (pops, stores).
pub type Pairs = Vec<(Vec<u8>, f64)>;

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R_FAST: &[&str] = &["@read", "@sortedset", "@fast"];
    const R_SLOW: &[&str] = &["@read", "@sortedset", "@slow"];
    const W_FAST: &[&str] = &["@write", "@sortedset", "@fast"];
    const W_SLOW: &[&str] = &["@write", "@sortedset", "@slow"];
    let key1 = CommandSpec::single_key;
    // Keys counted by a numkeys argument: Redis's legacy range is 0,0,0
    // and the route reads numkeys.
    let numkeys = |name, arity, flags, acl, route: RouteFn, run| CommandSpec {
        first: 0,
        last: 0,
        step: 0,
        route: RouteKind::Custom(route),
        ..key1(name, arity, flags | MOVABLEKEYS, acl, run)
    };
    // The STORE forms: the legacy range is just the destination.
    let store = |name, run| CommandSpec {
        route: RouteKind::Custom(route_numkeys_store),
        ..key1(name, -4, WRITE | DENYOOM | MOVABLEKEYS, W_SLOW, run)
    };

    t.add(key1("zadd", -4, WRITE | DENYOOM | FAST, W_FAST, cmd_zadd));
    t.add(key1(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        W_FAST,
        cmd_zincrby,
    ));
    t.add(key1("zrem", -3, WRITE | FAST, W_FAST, cmd_zrem));
    t.add(key1("zscore", 3, READONLY | FAST, R_FAST, cmd_zscore));
    t.add(key1("zmscore", -3, READONLY | FAST, R_FAST, cmd_zmscore));
    t.add(key1("zcard", 2, READONLY | FAST, R_FAST, cmd_zcard));
    t.add(key1("zcount", 4, READONLY | FAST, R_FAST, cmd_zcount));
    t.add(key1("zlexcount", 4, READONLY | FAST, R_FAST, cmd_zlexcount));
    t.add(key1("zrank", 3, READONLY | FAST, R_FAST, cmd_zrank));
    t.add(key1("zrevrank", 3, READONLY | FAST, R_FAST, cmd_zrevrank));

    // Ranges are O(log n + m): not fast.
    t.add(key1("zrange", -4, READONLY, R_SLOW, cmd_zrange));
    t.add(CommandSpec {
        last: 2,
        ..key1("zrangestore", -5, WRITE | DENYOOM, W_SLOW, cmd_zrangestore)
    });
    t.add(key1("zrevrange", -4, READONLY, R_SLOW, cmd_zrevrange));
    t.add(key1(
        "zrangebyscore",
        -4,
        READONLY,
        R_SLOW,
        cmd_zrangebyscore,
    ));
    t.add(key1(
        "zrevrangebyscore",
        -4,
        READONLY,
        R_SLOW,
        cmd_zrevrangebyscore,
    ));
    t.add(key1("zrangebylex", -4, READONLY, R_SLOW, cmd_zrangebylex));
    t.add(key1(
        "zrevrangebylex",
        -4,
        READONLY,
        R_SLOW,
        cmd_zrevrangebylex,
    ));

    t.add(key1("zpopmin", -2, WRITE | FAST, W_FAST, cmd_zpopmin));
    t.add(key1("zpopmax", -2, WRITE | FAST, W_FAST, cmd_zpopmax));
    t.add(numkeys("zmpop", -4, WRITE, W_SLOW, route_zmpop, cmd_zmpop));
    // The blocking forms (kevy-rt's crate doc, "Blocking").
    t.add(CommandSpec {
        last: -2,
        ..key1(
            "bzpopmin",
            -3,
            WRITE | NOSCRIPT | BLOCKING | FAST,
            &["@write", "@sortedset", "@fast", "@blocking"],
            cmd_bzpopmin,
        )
    });
    t.add(CommandSpec {
        last: -2,
        ..key1(
            "bzpopmax",
            -3,
            WRITE | NOSCRIPT | BLOCKING | FAST,
            &["@write", "@sortedset", "@fast", "@blocking"],
            cmd_bzpopmax,
        )
    });
    t.add(numkeys(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        &["@write", "@sortedset", "@slow", "@blocking"],
        route_bzmpop,
        cmd_bzmpop,
    ));
    t.add(key1(
        "zremrangebyrank",
        4,
        WRITE,
        W_SLOW,
        cmd_zremrangebyrank,
    ));
    t.add(key1(
        "zremrangebyscore",
        4,
        WRITE,
        W_SLOW,
        cmd_zremrangebyscore,
    ));
    t.add(key1("zremrangebylex", 4, WRITE, W_SLOW, cmd_zremrangebylex));
    t.add(key1("zrandmember", -2, READONLY, R_SLOW, cmd_zrandmember));
    t.add(key1("zscan", -3, READONLY, R_SLOW, cmd_zscan));

    t.add(numkeys(
        "zunion",
        -3,
        READONLY,
        R_SLOW,
        route_numkeys,
        cmd_zunion,
    ));
    t.add(numkeys(
        "zinter",
        -3,
        READONLY,
        R_SLOW,
        route_numkeys,
        cmd_zinter,
    ));
    t.add(numkeys(
        "zdiff",
        -3,
        READONLY,
        R_SLOW,
        route_numkeys,
        cmd_zdiff,
    ));
    t.add(numkeys(
        "zintercard",
        -3,
        READONLY,
        R_SLOW,
        route_numkeys,
        cmd_zintercard,
    ));
    t.add(store("zunionstore", cmd_zunionstore));
    t.add(store("zinterstore", cmd_zinterstore));
    t.add(store("zdiffstore", cmd_zdiffstore));
}

// ---- errors ---------------------------------------------------------------------

const ERR_RANGE_FLOAT: OpError = OpError::Family("ERR min or max is not a float");
const ERR_RANGE_LEX: OpError = OpError::Family("ERR min or max not valid string range item");
const ERR_NAN: OpError = OpError::Family("ERR resulting score is not a number (NaN)");
const ERR_XX_NX: OpError =
    OpError::Family("ERR XX and NX options at the same time are not compatible");
const ERR_GT_LT_NX: OpError =
    OpError::Family("ERR GT, LT, and/or NX options at the same time are not compatible");
const ERR_INCR_PAIRS: OpError =
    OpError::Family("ERR INCR option supports a single increment-element pair");
const ERR_LIMIT_BY_RANK: OpError = OpError::Family(
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
);
const ERR_WITHSCORES_BYLEX: OpError =
    OpError::Family("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
const ERR_WEIGHT: OpError = OpError::Family("ERR weight value is not a float");
const ERR_LIMIT_NEGATIVE: OpError = OpError::Family("ERR LIMIT can't be negative");
const ERR_NUMKEYS: OpError = OpError::Family("ERR numkeys should be greater than 0");
const ERR_COUNT: OpError = OpError::Family("ERR count should be greater than 0");
const ERR_NOT_POSITIVE: OpError = OpError::Family("ERR value is out of range, must be positive");
const ERR_RANDMEMBER_COUNT: OpError = OpError::Family(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);
const ERR_OUT_OF_RANGE: OpError = OpError::Family("ERR value is out of range");

/// Redis names the command in the numkeys < 1 error.
const NEED_KEYS: [(&str, &str); 7] = [
    (
        "zunion",
        "ERR at least 1 input key is needed for 'zunion' command",
    ),
    (
        "zinter",
        "ERR at least 1 input key is needed for 'zinter' command",
    ),
    (
        "zdiff",
        "ERR at least 1 input key is needed for 'zdiff' command",
    ),
    (
        "zintercard",
        "ERR at least 1 input key is needed for 'zintercard' command",
    ),
    (
        "zunionstore",
        "ERR at least 1 input key is needed for 'zunionstore' command",
    ),
    (
        "zinterstore",
        "ERR at least 1 input key is needed for 'zinterstore' command",
    ),
    (
        "zdiffstore",
        "ERR at least 1 input key is needed for 'zdiffstore' command",
    ),
];

fn need_keys(cmd: &[u8]) -> OpError {
    NEED_KEYS
        .iter()
        .find(|(name, _)| cmd.eq_ignore_ascii_case(name.as_bytes()))
        .map_or(OpError::Syntax, |(_, text)| OpError::Family(text))
}

fn nan_error(_: ZsetError) -> OpError {
    ERR_NAN
}

// ---- shared helpers -------------------------------------------------------------

/// An integer argument (Redis's `getLongFromObjectOrReply`).
fn int_arg(a: &[u8]) -> OpResult<i64> {
    parse_i64(a).ok_or(OpError::NotInteger)
}

/// The sorted set at `key` for reading (a read lookup: counts a keyspace
/// hit or miss); `None` when the key is missing.
pub fn read_zset<'a>(db: &'a mut Db<'_>, key: &[u8]) -> OpResult<Option<&'a ZSet>> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// Changes the sorted set at `key` in place. `f` returns its result and
/// whether it changed the set; the update path does the rest (memory, the
/// report, deleting a set left empty). `Ok(None)` when the key is missing.
fn modify_zset<R>(
    db: &mut Db<'_>,
    key: &[u8],
    f: impl FnOnce(&mut ZSet) -> (R, bool),
) -> OpResult<Option<R>> {
    modify_as(
        db,
        key,
        |v| match v {
            Value::ZSet(z) => Some(z),
            _ => None,
        },
        f,
    )
}

/// Redis writes a listpack score that is an integer as an integer
/// (`zzlInsertAt`), which turns -0 into 0, while the skiplist keeps -0;
/// kevy's listpack keeps -0. This puts a listpack member just stored at -0
/// back at 0, so later replies match.
fn listpack_zero(z: &mut ZSet, member: &[u8], score: f64) {
    if score == 0.0 && score.is_sign_negative() && z.encoding_name() == "listpack" {
        z.remove(member);
        z.add(member, 0.0, AddFlags::default()).ok();
    }
}

/// `pairs` (in insertion order) with the scores Redis ends up holding when
/// it builds a set one member at a time (ZRANGESTORE): the set is a listpack
/// unless `starts_big`, until a member too long or too many converts it, and
/// -0 inserted before that reads back as 0 (see [`listpack_zero`]).
fn zeros_as_built(pairs: &mut [(Vec<u8>, f64)], starts_big: bool) {
    if starts_big {
        return;
    }
    for (i, (m, s)) in pairs.iter_mut().enumerate() {
        if i >= ZSET_MAX_LISTPACK_ENTRIES || m.len() > ZSET_MAX_LISTPACK_VALUE {
            return;
        }
        if *s == 0.0 {
            *s = 0.0;
        }
    }
}

/// A computed set as Redis stores it (ZUNIONSTORE and friends): it is
/// built as a skiplist and converted to a listpack when small, which turns
/// -0 into 0 (see [`listpack_zero`]).
fn zeros_as_stored(z: ZSet) -> ZSet {
    let negative_zero = |s: f64| s == 0.0 && s.is_sign_negative();
    if z.encoding_name() != "listpack" || !z.iter().any(|(_, s)| negative_zero(s)) {
        return z;
    }
    ZSet::from_pairs(
        z.iter()
            .map(|(m, s)| (m.to_vec(), if s == 0.0 { 0.0 } else { s }))
            .collect(),
    )
}

/// The array header of a reply of `n` members, with their scores when
/// `scores`: flat (member, score, …) unless `nest`, which makes each pair
/// an array (RESP3's shape, and ZMPOP's in both protocols).
fn pairs_header(out: &mut Reply<'_>, n: usize, scores: bool, nest: bool) {
    out.array(if scores && !nest { 2 * n } else { n });
}

/// One member of a reply started by [`pairs_header`].
#[inline]
fn pair(out: &mut Reply<'_>, member: &[u8], score: f64, scores: bool, nest: bool) {
    if nest {
        out.array(2);
    }
    out.bulk(member);
    if scores {
        out.double(score);
    }
}

/// A whole computed set as a reply (ZUNION, ZINTER, ZDIFF).
fn reply_zset(out: &mut Reply<'_>, z: &ZSet, withscores: bool) {
    let nest = withscores && out.resp3;
    pairs_header(out, z.len(), withscores, nest);
    for (m, s) in z.iter() {
        pair(out, m, s, withscores, nest);
    }
}

// ---- range arguments ------------------------------------------------------------

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A range bound's number as Redis reads it (`strtod` and a check that it
/// ended the C string): unlike a score argument, leading spaces are fine,
/// overflow gives an infinity, underflow 0, and the empty string is 0.
fn parse_bound_number(s: &[u8]) -> Option<f64> {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0.0);
    }
    let t = &s[s.iter().position(|&b| !is_c_space(b))?..];
    parse_f64(t)
        .or_else(|| std::str::from_utf8(t).ok()?.parse::<f64>().ok())
        .filter(|v| !v.is_nan())
}

/// A score bound: `(` makes it exclusive (Redis's `zslParseRange`).
fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => parse_bound_number(&a[1..]).map(|v| (v, true)),
        _ => parse_bound_number(a).map(|v| (v, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> OpResult<ScoreRange> {
    let (min, min_excl) = parse_score_bound(min).ok_or(ERR_RANGE_FLOAT)?;
    let (max, max_excl) = parse_score_bound(max).ok_or(ERR_RANGE_FLOAT)?;
    Ok(ScoreRange {
        min,
        max,
        min_excl,
        max_excl,
    })
}

/// `-`, `+`, `[member` or `(member` (Redis's `zslParseLexRangeItem`, which
/// reads `-` and `+` up to a NUL byte).
fn parse_lex_bound(a: &[u8]) -> Option<LexBound<'_>> {
    let alone = a.get(1).is_none_or(|&b| b == 0);
    match a.first()? {
        b'-' if alone => Some(LexBound::NegInf),
        b'+' if alone => Some(LexBound::PosInf),
        b'[' => Some(LexBound::Incl(&a[1..])),
        b'(' => Some(LexBound::Excl(&a[1..])),
        _ => None,
    }
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> OpResult<LexRange<'a>> {
    Ok(LexRange {
        min: parse_lex_bound(min).ok_or(ERR_RANGE_LEX)?,
        max: parse_lex_bound(max).ok_or(ERR_RANGE_LEX)?,
    })
}

/// What a range selects by; `Auto` until ZRANGE's BYSCORE / BYLEX says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

enum RangeKind<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed range query (Redis's `zrangeGenericCommand` after its parsing).
pub struct RangeQuery<'a> {
    kind: RangeKind<'a>,
    /// Highest score first.
    rev: bool,
    /// Scores in the reply (always when storing).
    withscores: bool,
    /// LIMIT offset count; offset 0 count -1 when not given.
    limit: Limit,
}

impl RangeQuery<'_> {
    /// How many members the query selects from `z`.
    fn len(&self, z: &ZSet) -> usize {
        match &self.kind {
            RangeKind::Rank(start, stop) => {
                normalize_range(*start, *stop, z.len()).map_or(0, |(s, e)| e - s + 1)
            }
            RangeKind::Score(r) => limited(z.count_in_score(r), self.limit),
            RangeKind::Lex(r) => z.range_by_lex_len(r, self.rev, Some(self.limit)),
        }
    }

    /// Calls `f` on each selected member, in reply order.
    fn visit(&self, z: &ZSet, f: impl FnMut(&[u8], f64)) {
        match &self.kind {
            RangeKind::Rank(start, stop) => z.range_by_rank(*start, *stop, self.rev, f),
            RangeKind::Score(r) => z.range_by_score(r, self.rev, Some(self.limit), f),
            RangeKind::Lex(r) => z.range_by_lex(r, self.rev, Some(self.limit), f),
        }
    }
}

/// How many of `n` matches LIMIT keeps: none for a negative or too large
/// offset, all the rest for a negative count.
fn limited(n: usize, l: Limit) -> usize {
    if l.offset < 0 || l.offset as u64 >= n as u64 {
        return 0;
    }
    let rest = (n as u64) - l.offset as u64;
    let take = if l.count < 0 {
        rest
    } else {
        rest.min(l.count as u64)
    };
    take as usize
}

/// Parses a range command whose source key is `args[src]`, followed by
/// min, max and options. `by` and `rev` are fixed by the legacy commands
/// (ZRANGEBYSCORE, ZREVRANGE, …), left open (`By::Auto`, `None`) by ZRANGE
/// and ZRANGESTORE, whose options set them.
fn parse_range<'a>(
    args: &Args<'a>,
    src: usize,
    store: bool,
    mut by: By,
    mut rev: Option<bool>,
) -> OpResult<RangeQuery<'a>> {
    let mut withscores = false;
    let mut limit = Limit {
        offset: 0,
        count: -1,
    };
    let mut j = src + 3;
    while j < args.len() {
        let opt = args.get(j);
        let left = args.len() - j - 1;
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if !store && is(b"withscores") {
            withscores = true;
        } else if is(b"limit") && left >= 2 {
            limit.offset = int_arg(args.get(j + 1))?;
            limit.count = int_arg(args.get(j + 2))?;
            j += 2;
        } else if rev.is_none() && is(b"rev") {
            rev = Some(true);
        } else if by == By::Auto && is(b"bylex") {
            by = By::Lex;
        } else if by == By::Auto && is(b"byscore") {
            by = By::Score;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    // Redis tests the count against its default, so `LIMIT 5 -1` passes.
    if limit.count != -1 && by == By::Rank {
        return Err(ERR_LIMIT_BY_RANK);
    }
    if withscores && by == By::Lex {
        return Err(ERR_WITHSCORES_BYLEX);
    }
    // Reversed score and member ranges are written max first.
    let (lo, hi) = if rev && by != By::Rank {
        (args.get(src + 2), args.get(src + 1))
    } else {
        (args.get(src + 1), args.get(src + 2))
    };
    let kind = match by {
        By::Score => RangeKind::Score(parse_score_range(lo, hi)?),
        By::Lex => RangeKind::Lex(parse_lex_range(lo, hi)?),
        By::Rank | By::Auto => RangeKind::Rank(int_arg(lo)?, int_arg(hi)?),
    };
    Ok(RangeQuery {
        kind,
        rev,
        withscores: withscores || store,
        limit,
    })
}

// ---- ZADD / ZINCRBY -------------------------------------------------------------

/// ZADD's arguments after Redis's checks (`zaddGenericCommand`).
struct ZaddArgs<'a> {
    flags: AddFlags,
    ch: bool,
    /// (score, member) pairs.
    pairs: Vec<(f64, &'a [u8])>,
}

/// Parses ZADD (or ZINCRBY, `incr`): options, then pairs, with every error
/// raised before the key is looked at, as in Redis.
fn parse_zadd<'a>(args: &Args<'a>, incr: bool) -> OpResult<ZaddArgs<'a>> {
    let mut flags = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if is(b"nx") {
            flags.nx = true;
        } else if is(b"xx") {
            flags.xx = true;
        } else if is(b"ch") {
            ch = true;
        } else if is(b"incr") {
            flags.incr = true;
        } else if is(b"gt") {
            flags.gt = true;
        } else if is(b"lt") {
            flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = args.len() - i;
    if rest == 0 || rest % 2 == 1 {
        return Err(OpError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(ERR_XX_NX);
    }
    if flags.nx && (flags.gt || flags.lt) || flags.gt && flags.lt {
        return Err(ERR_GT_LT_NX);
    }
    if flags.incr && rest > 2 {
        return Err(ERR_INCR_PAIRS);
    }
    let pairs = (i..args.len())
        .step_by(2)
        .map(|j| {
            let score = parse_f64(args.get(j)).ok_or(OpError::NotFloat)?;
            Ok((score, args.get(j + 1)))
        })
        .collect::<OpResult<Vec<_>>>()?;
    Ok(ZaddArgs { flags, ch, pairs })
}

/// What ZADD did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ZaddOutcome {
    pub added: usize,
    pub updated: usize,
    /// The last member's score, unless NX/XX/GT/LT skipped it (ZADD INCR's
    /// reply; null when `None`).
    pub score: Option<f64>,
}

fn add_pairs(
    z: &mut ZSet,
    pairs: &[(f64, &[u8])],
    flags: AddFlags,
    out: &mut ZaddOutcome,
) -> OpResult<()> {
    for &(score, member) in pairs {
        let s = match z.add(member, score, flags).map_err(nan_error)? {
            AddOutcome::Added(s) => {
                out.added += 1;
                s
            }
            AddOutcome::Updated(s) => {
                out.updated += 1;
                s
            }
            AddOutcome::Unchanged(s) => s,
            AddOutcome::Skipped => {
                out.score = None;
                continue;
            }
        };
        out.score = Some(s);
        listpack_zero(z, member, s);
    }
    Ok(())
}

/// ZADD / ZINCRBY of `pairs` with `flags`.
pub fn op_zadd(
    db: &mut Db<'_>,
    key: &[u8],
    pairs: &[(f64, &[u8])],
    flags: AddFlags,
) -> OpResult<ZaddOutcome> {
    let mut out = ZaddOutcome::default();
    let existing = modify_zset(db, key, |z| {
        let r = add_pairs(z, pairs, flags, &mut out);
        (r, out.added + out.updated > 0)
    })?;
    if let Some(r) = existing {
        return r.map(|()| out);
    }
    if flags.xx {
        return Ok(out);
    }
    // A new set starts as a listpack and converts on the member that does
    // not fit, as Redis 7.0's does (so -0 is kept exactly when Redis keeps
    // it).
    let mut z = ZSet::new();
    let r = add_pairs(&mut z, pairs, flags, &mut out);
    if !z.is_empty() {
        db.set(key, Value::ZSet(Box::new(z)), SetTtl::Clear);
    }
    r.map(|()| out)
}

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`).
fn zadd_generic(ctx: &mut Ctx<'_>, incr_cmd: bool) {
    let key = ctx.args.get(1);
    let r = parse_zadd(&ctx.args, incr_cmd).and_then(|a| {
        let o = op_zadd(&mut ctx.shard.store.db(ctx.db), key, &a.pairs, a.flags)?;
        Ok((a, o))
    });
    if let Ok((a, o)) = &r {
        if o.added + o.updated > 0 {
            ctx.notify(ZSET, if a.flags.incr { "zincr" } else { "zadd" }, key);
        }
    }
    match r {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok((a, o)) if a.flags.incr => match o.score {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        },
        Ok((a, o)) => {
            let n = if a.ch { o.added + o.updated } else { o.added };
            ctx.out.int(n as i64);
        }
    }
}

fn cmd_zadd(ctx: &mut Ctx<'_>) {
    zadd_generic(ctx, false);
}

fn cmd_zincrby(ctx: &mut Ctx<'_>) {
    zadd_generic(ctx, true);
}

// ---- ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK ---------------------

pub fn op_zrem<'m>(
    db: &mut Db<'_>,
    key: &[u8],
    members: impl Iterator<Item = &'m [u8]>,
) -> OpResult<usize> {
    let n = modify_zset(db, key, |z| {
        let mut n = 0;
        for m in members {
            n += usize::from(z.remove(m));
            if z.is_empty() {
                break;
            }
        }
        (n, n > 0)
    })?;
    Ok(n.unwrap_or(0))
}

fn cmd_zrem(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    match op_zrem(
        &mut ctx.shard.store.db(ctx.db),
        args.get(1),
        args.iter().skip(2),
    ) {
        Ok(n) => {
            if n > 0 {
                ctx.notify_and_del(ZSET, "zrem", args.get(1));
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_zscore(ctx: &mut Ctx<'_>) {
    let (key, member) = (ctx.args.get(1), ctx.args.get(2));
    match read_zset(&mut ctx.shard.store.db(ctx.db), key) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(z) => match z.and_then(|z| z.score(member)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        },
    }
}

fn cmd_zmscore(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    match read_zset(&mut db, args.get(1)) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(z) => {
            ctx.out.array(args.len() - 2);
            for m in args.iter().skip(2) {
                match z.and_then(|z| z.score(m)) {
                    Some(s) => ctx.out.double(s),
                    None => ctx.out.null(),
                }
            }
        }
    }
}

fn cmd_zcard(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match read_zset(&mut ctx.shard.store.db(ctx.db), key) {
        Ok(z) => ctx.out.int(z.map_or(0, ZSet::len) as i64),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

/// ZCOUNT and ZLEXCOUNT: the range is checked before the key.
fn count_generic(ctx: &mut Ctx<'_>, lex: bool) {
    let args = ctx.args;
    let r = if lex {
        parse_lex_range(args.get(2), args.get(3)).map(RangeKind::Lex)
    } else {
        parse_score_range(args.get(2), args.get(3)).map(RangeKind::Score)
    };
    let r = r.and_then(|range| {
        let mut db = ctx.shard.store.db(ctx.db);
        let z = read_zset(&mut db, args.get(1))?;
        Ok(z.map_or(0, |z| match &range {
            RangeKind::Lex(r) => z.count_in_lex(r),
            RangeKind::Score(r) => z.count_in_score(r) as i64,
            RangeKind::Rank(..) => unreachable!("a count is by score or member"),
        }))
    });
    match r {
        Ok(n) => ctx.out.int(n),
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_zcount(ctx: &mut Ctx<'_>) {
    count_generic(ctx, false);
}

fn cmd_zlexcount(ctx: &mut Ctx<'_>) {
    count_generic(ctx, true);
}

/// ZRANK and ZREVRANK. (Redis 7.2's WITHSCORE is not in 7.0: the arity
/// refuses it, as 7.0 does.)
fn rank_generic(ctx: &mut Ctx<'_>, rev: bool) {
    let (key, member) = (ctx.args.get(1), ctx.args.get(2));
    match read_zset(&mut ctx.shard.store.db(ctx.db), key) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(z) => match z.and_then(|z| z.rank(member, rev)) {
            Some(r) => ctx.out.int(r as i64),
            None => ctx.out.null(),
        },
    }
}

fn cmd_zrank(ctx: &mut Ctx<'_>) {
    rank_generic(ctx, false);
}

fn cmd_zrevrank(ctx: &mut Ctx<'_>) {
    rank_generic(ctx, true);
}

// ---- ranges ---------------------------------------------------------------------

/// ZRANGE and its legacy forms (Redis's `zrangeGenericCommand`).
fn range_generic(ctx: &mut Ctx<'_>, by: By, rev: Option<bool>) {
    let args = ctx.args;
    let q = match parse_range(&args, 1, false, by, rev) {
        Ok(q) => q,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let out = &mut ctx.out;
    match read_zset(&mut db, args.get(1)) {
        Err(e) => reply_error(out, e),
        Ok(None) => out.array(0),
        Ok(Some(z)) => {
            let nest = q.withscores && out.resp3;
            pairs_header(out, q.len(z), q.withscores, nest);
            q.visit(z, |m, s| pair(out, m, s, q.withscores, nest));
        }
    }
}

fn cmd_zrange(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Auto, None);
}

fn cmd_zrevrange(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Rank, Some(true));
}

fn cmd_zrangebyscore(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Score, Some(false));
}

fn cmd_zrevrangebyscore(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Score, Some(true));
}

fn cmd_zrangebylex(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Lex, Some(false));
}

fn cmd_zrevrangebylex(ctx: &mut Ctx<'_>) {
    range_generic(ctx, By::Lex, Some(true));
}

/// Stores `pairs` (members distinct, in insertion order) at `dst`, or
/// deletes `dst` when there are none; returns the count.
fn store_pairs(db: &mut Db<'_>, dst: &[u8], mut pairs: Pairs, starts_big: bool) -> usize {
    if pairs.is_empty() {
        db.remove(dst);
        return 0;
    }
    zeros_as_built(&mut pairs, starts_big);
    let n = pairs.len();
    db.set(
        dst,
        Value::ZSet(Box::new(ZSet::from_pairs(pairs))),
        SetTtl::Clear,
    );
    n
}

/// ZRANGESTORE: what ZRANGE would reply, stored at `dst` (whatever it held).
pub fn op_zrangestore(
    db: &mut Db<'_>,
    dst: &[u8],
    src: &[u8],
    q: &RangeQuery<'_>,
) -> OpResult<usize> {
    let pairs = match read_zset(db, src)? {
        None => Vec::new(),
        Some(z) => {
            let mut v = Vec::with_capacity(q.len(z));
            q.visit(z, |m, s| v.push((m.to_vec(), s)));
            v
        }
    };
    // Redis sizes the destination for a rank range's known length.
    let starts_big =
        matches!(q.kind, RangeKind::Rank(..)) && pairs.len() > ZSET_MAX_LISTPACK_ENTRIES;
    Ok(store_pairs(db, dst, pairs, starts_big))
}

fn cmd_zrangestore(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let dirty = ctx.shard.store.dirty;
    let r = parse_range(&args, 2, true, By::Auto, None).and_then(|q| {
        op_zrangestore(
            &mut ctx.shard.store.db(ctx.db),
            args.get(1),
            args.get(2),
            &q,
        )
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify(ZSET, "zrangestore", args.get(1));
            } else if ctx.shard.store.dirty != dirty {
                ctx.notify(GENERIC, "del", args.get(1));
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

// ---- ZREMRANGEBY* ---------------------------------------------------------------

/// ZREMRANGEBYRANK / BYSCORE / BYLEX (Redis's `zremrangeGenericCommand`):
/// the range is checked before the key.
fn remrange_generic(ctx: &mut Ctx<'_>, by: By) {
    let args = ctx.args;
    let (a, b) = (args.get(2), args.get(3));
    let kind = match by {
        By::Score => parse_score_range(a, b).map(RangeKind::Score),
        By::Lex => parse_lex_range(a, b).map(RangeKind::Lex),
        By::Rank | By::Auto => int_arg(a).and_then(|a| Ok(RangeKind::Rank(a, int_arg(b)?))),
    };
    let r = kind.and_then(|kind| {
        let n = modify_zset(&mut ctx.shard.store.db(ctx.db), args.get(1), |z| {
            let n = match &kind {
                RangeKind::Rank(start, stop) => z.remove_range_by_rank(*start, *stop),
                RangeKind::Score(r) => z.remove_range_by_score(r),
                RangeKind::Lex(r) => z.remove_range_by_lex(r),
            };
            (n, n > 0)
        })?;
        Ok(n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                let event = match by {
                    By::Score => "zremrangebyscore",
                    By::Lex => "zremrangebylex",
                    By::Rank | By::Auto => "zremrangebyrank",
                };
                ctx.notify_and_del(ZSET, event, args.get(1));
            }
            ctx.out.int(n as i64)
        }
        Err(e) => reply_error(&mut ctx.out, e),
    }
}

fn cmd_zremrangebyrank(ctx: &mut Ctx<'_>) {
    remrange_generic(ctx, By::Rank);
}

fn cmd_zremrangebyscore(ctx: &mut Ctx<'_>) {
    remrange_generic(ctx, By::Score);
}

fn cmd_zremrangebylex(ctx: &mut Ctx<'_>) {
    remrange_generic(ctx, By::Lex);
}

// ---- pops -----------------------------------------------------------------------

/// Pops up to `count` of the lowest (or, with `max`, highest) members;
/// `None` when the key is missing.
pub fn op_zpop(db: &mut Db<'_>, key: &[u8], count: usize, max: bool) -> OpResult<Option<Pairs>> {
    modify_zset(db, key, |z| {
        let popped = if max {
            z.pop_max(count)
        } else {
            z.pop_min(count)
        };
        let changed = !popped.is_empty();
        (popped, changed)
    })
}

/// ZPOPMIN / ZPOPMAX key [count]. RESP3 nests the pairs only when a count
/// was given.
fn zpop_generic(ctx: &mut Ctx<'_>, max: bool) {
    let args = ctx.args;
    let count = match args.len() {
        2 => Ok(None),
        3 => parse_i64(args.get(2))
            .filter(|&n| n >= 0)
            .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
            .ok_or(ERR_NOT_POSITIVE),
        _ => Err(OpError::Syntax),
    };
    let r = count.and_then(|count| {
        let popped = op_zpop(
            &mut ctx.shard.store.db(ctx.db),
            args.get(1),
            count.unwrap_or(1),
            max,
        )?;
        Ok((count, popped))
    });
    match r {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok((_, None)) => ctx.out.array(0),
        Ok((count, Some(popped))) => {
            if !popped.is_empty() {
                ctx.notify_and_del(ZSET, pop_event(max), args.get(1));
            }
            let nest = ctx.out.resp3 && count.is_some();
            pairs_header(&mut ctx.out, popped.len(), true, nest);
            for (m, s) in &popped {
                pair(&mut ctx.out, m, *s, true, nest);
            }
        }
    }
}

fn cmd_zpopmin(ctx: &mut Ctx<'_>) {
    zpop_generic(ctx, false);
}

fn cmd_zpopmax(ctx: &mut Ctx<'_>) {
    zpop_generic(ctx, true);
}

fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

/// ZMPOP's arguments: numkeys keys MIN|MAX [COUNT n].
struct MpopArgs {
    numkeys: usize,
    max: bool,
    count: usize,
}

/// Parses ZMPOP with Redis's errors (all raised before any key is read).
fn parse_zmpop(args: &Args<'_>) -> OpResult<MpopArgs> {
    parse_zmpop_at(args, 0)
}

/// [`parse_zmpop`] with numkeys at argument `1 + at` (BZMPOP: 1).
fn parse_zmpop_at(args: &Args<'_>, at: usize) -> OpResult<MpopArgs> {
    let numkeys = parse_i64(args.get(1 + at))
        .filter(|&n| n >= 1)
        .ok_or(ERR_NUMKEYS)?;
    let where_at = (numkeys as u64).saturating_add(2 + at as u64);
    if where_at >= args.len() as u64 {
        return Err(OpError::Syntax);
    }
    let where_at = where_at as usize;
    let side = args.get(where_at);
    let max = if side.eq_ignore_ascii_case(b"min") {
        false
    } else if side.eq_ignore_ascii_case(b"max") {
        true
    } else {
        return Err(OpError::Syntax);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count.is_none() && more && args.get(j).eq_ignore_ascii_case(b"count") {
            let n = parse_i64(args.get(j + 1))
                .filter(|&n| n >= 1)
                .ok_or(ERR_COUNT)?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(OpError::Syntax);
        }
    }
    Ok(MpopArgs {
        numkeys: numkeys as usize,
        max,
        count: count.unwrap_or(1),
    })
}

fn route_zmpop(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let a = parse_zmpop(&args).map_err(|e| message(e).into_owned())?;
    keys_route(2, a.numkeys, 0)
}

/// ZMPOP: pops from the first key that exists; a key of another type
/// before it is an error. Returns the key's index among `keys`.
pub fn op_zmpop<'k>(
    db: &mut Db<'_>,
    keys: impl Iterator<Item = &'k [u8]>,
    count: usize,
    max: bool,
) -> OpResult<Option<(&'k [u8], Pairs)>> {
    for key in keys {
        if let Some(popped) = op_zpop(db, key, count, max)? {
            return Ok(Some((key, popped)));
        }
    }
    Ok(None)
}

fn cmd_zmpop(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let r = parse_zmpop(&args).and_then(|a| {
        let keys = args.iter().skip(2).take(a.numkeys);
        Ok((
            op_zmpop(&mut ctx.shard.store.db(ctx.db), keys, a.count, a.max)?,
            a.max,
        ))
    });
    match r {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok((None, _)) => ctx.out.null_array(),
        Ok((Some((key, popped)), max)) => {
            ctx.notify_and_del(ZSET, pop_event(max), key);
            ctx.out.array(2);
            ctx.out.bulk(key);
            pairs_header(&mut ctx.out, popped.len(), true, true);
            for (m, s) in &popped {
                pair(&mut ctx.out, m, *s, true, true);
            }
        }
    }
}

/// BZPOPMIN/BZPOPMAX key… timeout: `[key, member, score]` from the first
/// non-empty set; recorded as ZPOPMIN/ZPOPMAX of that key.
fn bzpop_generic(ctx: &mut Ctx<'_>, max: bool) {
    let args = ctx.args;
    let n = args.len();
    let timeout = match super::common::parse_timeout(args.get(n - 1)) {
        Ok(t) => t,
        Err(e) => return ctx.out.error(e),
    };
    for i in 1..n - 1 {
        let key = args.get(i);
        match op_zpop(&mut ctx.shard.store.db(ctx.db), key, 1, max) {
            Err(e) => return reply_error(&mut ctx.out, e),
            Ok(Some(popped)) if !popped.is_empty() => {
                ctx.out.array(3);
                ctx.out.bulk(key);
                let (m, sc) = &popped[0];
                pair(&mut ctx.out, m, *sc, true, false);
                let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                ctx.propagate(&[name, key]);
                ctx.notify_and_del(ZSET, pop_event(max), key);
                return;
            }
            Ok(_) => {}
        }
    }
    super::common::block_or_nil(ctx, timeout, false);
}

fn cmd_bzpopmin(ctx: &mut Ctx<'_>) {
    bzpop_generic(ctx, false);
}

fn cmd_bzpopmax(ctx: &mut Ctx<'_>) {
    bzpop_generic(ctx, true);
}

/// Validates BZMPOP (its timeout last, as for BLMPOP), then routes it by
/// its keys.
fn route_bzmpop(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let a = parse_zmpop_at(&args, 1).map_err(|e| message(e).into_owned())?;
    super::common::parse_timeout(args.get(1)).map_err(str::to_owned)?;
    keys_route(3, a.numkeys, 0)
}

/// BZMPOP timeout numkeys key… MIN|MAX [COUNT n]: ZMPOP's reply; recorded
/// as ZPOPMIN/ZPOPMAX key count.
fn cmd_bzmpop(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let a = match parse_zmpop_at(&args, 1) {
        Ok(a) => a,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let timeout = match super::common::parse_timeout(args.get(1)) {
        Ok(t) => t,
        Err(e) => return ctx.out.error(e),
    };
    let (count, max) = (a.count, a.max);
    let keys = args.iter().skip(3).take(a.numkeys);
    match op_zmpop(&mut ctx.shard.store.db(ctx.db), keys, count, max) {
        Err(e) => reply_error(&mut ctx.out, e),
        Ok(None) => super::common::block_or_nil(ctx, timeout, false),
        Ok(Some((key, popped))) => {
            ctx.out.array(2);
            ctx.out.bulk(key);
            pairs_header(&mut ctx.out, popped.len(), true, true);
            for (m, s) in &popped {
                pair(&mut ctx.out, m, *s, true, true);
            }
            let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            ctx.propagate(&[name, key, count.to_string().as_bytes()]);
            ctx.notify_and_del(ZSET, pop_event(max), key);
        }
    }
}

/// What puts back the members BZPOPMIN, BZPOPMAX or BZMPOP took for a
/// client that had stopped waiting, from its reply (`[key, member,
/// score]` or `[key, [[member, score]…]]`): ZADD NX of them with their
/// scores, so a member added again meanwhile keeps its new score.
pub fn put_back(reply: &[u8]) -> Option<kevy_resp::OwnedArgs> {
    let (n, parts) = kevy_resp::split_array(reply)?;
    let at = |r: &std::ops::Range<usize>| kevy_resp::scalar(&reply[r.clone()]);
    let key = at(parts.first()?)?;
    let mut out: Vec<&[u8]> = vec![b"ZADD", key, b"NX"];
    match n {
        3 => out.extend([at(&parts[2])?, at(&parts[1])?]),
        2 => {
            let list = &reply[parts[1].clone()];
            let (_, items) = kevy_resp::split_array(list)?;
            for r in items {
                let item = &list[r];
                let (_, ms) = kevy_resp::split_array(item)?;
                let [m, sc] = ms.as_slice() else {
                    return None;
                };
                out.push(kevy_resp::scalar(&item[sc.clone()])?);
                out.push(kevy_resp::scalar(&item[m.clone()])?);
            }
        }
        _ => return None,
    }
    (out.len() > 3).then(|| kevy_resp::OwnedArgs::from_slices(out))
}

// ---- ZRANDMEMBER ----------------------------------------------------------------

/// ZRANDMEMBER key [count [WITHSCORES]] (Redis's `zrandmemberCommand`).
fn cmd_zrandmember(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut rng = Rng::new(kevy_store::rng::next_u64());
    let mut db = ctx.shard.store.db(ctx.db);
    let out = &mut ctx.out;
    if args.len() == 2 {
        match read_zset(&mut db, args.get(1)) {
            Err(e) => reply_error(out, e),
            Ok(z) => match z.and_then(|z| z.random(&mut rng)) {
                Some((m, _)) => out.bulk(m),
                None => out.null(),
            },
        }
        return;
    }
    let parsed = int_arg(args.get(2)).and_then(|count| {
        if count == i64::MIN {
            return Err(ERR_RANDMEMBER_COUNT);
        }
        let withscores = match args.len() {
            3 => false,
            4 if args.get(3).eq_ignore_ascii_case(b"withscores") => true,
            _ => return Err(OpError::Syntax),
        };
        // Twice the count must fit: RESP2 replies two items per member.
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(ERR_OUT_OF_RANGE);
        }
        Ok((count, withscores))
    });
    let r = parsed.and_then(|p| Ok((p, read_zset(&mut db, args.get(1))?)));
    let ((count, withscores), z) = match r {
        Err(e) => return reply_error(out, e),
        Ok((_, None)) | Ok(((0, _), _)) => return out.array(0),
        Ok((p, Some(z))) => (p, z),
    };
    let nest = withscores && out.resp3;
    pairs_header(out, random_reply_len(count, z.len()), withscores, nest);
    if count > 0 && count as u64 >= z.len() as u64 {
        // The whole set, which Redis walks from the highest score down.
        z.range_by_rank(0, -1, true, |m, s| pair(out, m, s, withscores, nest));
    } else {
        z.random_with_count(count, &mut rng, |m, s| pair(out, m, s, withscores, nest));
    }
}

// ---- ZSCAN ----------------------------------------------------------------------

/// ZSCAN's COUNT and MATCH (Redis's `scanGenericCommand` for a key: TYPE
/// is a syntax error here).
fn parse_zscan_opts<'a>(args: &Args<'a>, from: usize) -> OpResult<(usize, Option<&'a [u8]>)> {
    crate::families::keys::parse_key_scan_opts(args, from)
}

/// The largest magnitude Redis's `double2ll` turns into an integer.
const LISTPACK_INT_LIMIT: f64 = (i64::MAX / 2) as f64;

/// A score as ZSCAN prints it: Redis copies the stored form, and a listpack
/// holds an integral score within ±2^62 as an integer.
fn write_scan_score(w: &mut Reply<'_>, s: f64, listpack: bool) {
    let integral = s.fract() == 0.0 && (-LISTPACK_INT_LIMIT..=LISTPACK_INT_LIMIT).contains(&s);
    if listpack && integral {
        w.bulk_i64(s as i64);
    } else {
        let text = kevy_resp::format_double(s);
        w.bulk(text.as_bytes());
    }
}

fn cmd_zscan(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let cursor = match parse_cursor(args.get(2)) {
        Ok(c) => c,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let out = &mut ctx.out;
    // A missing key answers before the options are checked, as in Redis.
    let z = match read_zset(&mut db, args.get(1)) {
        Err(e) => return reply_error(out, e),
        Ok(None) => {
            out.array(2);
            out.bulk(b"0");
            return out.array(0);
        }
        Ok(Some(z)) => z,
    };
    let (count, pattern) = match parse_zscan_opts(&args, 3) {
        Ok(o) => o,
        Err(e) => return reply_error(out, e),
    };
    let listpack = z.encoding_name() == "listpack";
    // The items go to a side buffer first: their number comes first.
    let mut body = Vec::new();
    let mut w = Reply::new(&mut body, out.resp3);
    let mut n = 0;
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| glob::matches(p, m)) {
            w.bulk(m);
            write_scan_score(&mut w, s, listpack);
            n += 2;
        }
    });
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(n);
    out.raw(&body);
}

// ---- ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD -----------------------

/// Which algebra command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
    InterCard,
}

/// The numkeys argument at `at`, checked against the arguments after it.
fn parse_numkeys(args: &Args<'_>, at: usize) -> OpResult<usize> {
    let n = int_arg(args.get(at))?;
    if n < 1 {
        return Err(need_keys(args.get(0)));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(OpError::Syntax);
    }
    Ok(n as usize)
}

/// A route over `n` keys from argument `first`, plus `extra` when non-zero.
fn keys_route(first: u32, n: usize, extra: u32) -> Result<Route, String> {
    let last =
        i32::try_from(first as usize + n - 1).map_err(|_| message(OpError::Syntax).into_owned())?;
    Ok(Route::Keys {
        first,
        last,
        step: 1,
        extra,
        fold: Fold::One,
    })
}

/// ZUNION, ZINTER, ZDIFF, ZINTERCARD: `numkeys key…` from argument 1.
fn route_numkeys(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let n = parse_numkeys(&args, 1).map_err(|e| message(e).into_owned())?;
    keys_route(2, n, 0)
}

/// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE: `dst numkeys key…`.
fn route_numkeys_store(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    let n = parse_numkeys(&args, 2).map_err(|e| message(e).into_owned())?;
    keys_route(3, n, 1)
}

/// The options after the keys.
struct AlgebraOpts {
    /// One per input key.
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 for none.
    limit: usize,
}

/// Parses the options from `args[from..]` (Redis's
/// `zunionInterDiffGenericCommand`): WEIGHTS and AGGREGATE for union and
/// intersection, WITHSCORES without a destination, LIMIT for ZINTERCARD.
fn parse_algebra_opts(
    args: &Args<'_>,
    from: usize,
    numkeys: usize,
    op: SetOp,
    store: bool,
) -> OpResult<AlgebraOpts> {
    let mut o = AlgebraOpts {
        weights: vec![1.0; numkeys],
        agg: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted = matches!(op, SetOp::Union | SetOp::Inter);
    let mut j = from;
    while j < args.len() {
        let remaining = args.len() - j;
        let opt = args.get(j);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if weighted && remaining > numkeys && is(b"weights") {
            for (k, w) in o.weights.iter_mut().enumerate() {
                *w = parse_f64(args.get(j + 1 + k)).ok_or(ERR_WEIGHT)?;
            }
            j += 1 + numkeys;
        } else if weighted && remaining >= 2 && is(b"aggregate") {
            let a = args.get(j + 1);
            o.agg = if a.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(OpError::Syntax);
            };
            j += 2;
        } else if op == SetOp::InterCard && remaining >= 2 && is(b"limit") {
            let n = parse_i64(args.get(j + 1))
                .filter(|&n| n >= 0)
                .ok_or(ERR_LIMIT_NEGATIVE)?;
            o.limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else if op != SetOp::InterCard && !store && is(b"withscores") {
            o.withscores = true;
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
    }
    Ok(o)
}

/// Checks that every input is a sorted set, a set or missing (read
/// lookups, counted as hits or misses, as Redis's are).
fn check_sources(db: &mut Db<'_>, keys: &[&[u8]]) -> OpResult<()> {
    for k in keys {
        if let Some(v) = db.get(k) {
            if !matches!(v, Value::ZSet(_) | Value::Set(_)) {
                return Err(OpError::WrongType);
            }
        }
    }
    Ok(())
}

/// Runs `f` over the inputs at `keys` (already checked by
/// [`check_sources`]), borrowed all at once from the database.
fn with_sources<R>(db: &mut Db<'_>, keys: &[&[u8]], f: impl FnOnce(&[ZSource<'_>]) -> R) -> R {
    let sources: Vec<ZSource<'_>> = db
        .peek_many(keys)
        .into_iter()
        .map(|v| match v {
            Some(Value::ZSet(z)) => ZSource::Zset(z),
            Some(Value::Set(s)) => ZSource::Set(s),
            _ => ZSource::Empty,
        })
        .collect();
    f(&sources)
}

/// ZUNION / ZINTER / ZDIFF of the inputs at `keys`.
pub fn op_algebra(
    db: &mut Db<'_>,
    keys: &[&[u8]],
    op: SetOp,
    weights: &[f64],
    agg: Aggregate,
) -> ZSet {
    with_sources(db, keys, |sources| {
        let inputs: Vec<ZInput<'_>> = sources
            .iter()
            .zip(weights)
            .map(|(&src, &weight)| ZInput { src, weight })
            .collect();
        match op {
            SetOp::Union => ZSet::union(&inputs, agg),
            SetOp::Inter => ZSet::inter(&inputs, agg),
            SetOp::Diff | SetOp::InterCard => ZSet::diff(&inputs),
        }
    })
}

/// ZINTERCARD of the inputs at `keys`, counting up to `limit` (0: all).
pub fn op_intercard(db: &mut Db<'_>, keys: &[&[u8]], limit: usize) -> usize {
    with_sources(db, keys, |sources| {
        let inputs: Vec<ZInput<'_>> = sources
            .iter()
            .map(|&src| ZInput { src, weight: 1.0 })
            .collect();
        ZSet::inter_card(&inputs, limit)
    })
}

/// Every algebra command (Redis's `zunionInterDiffGenericCommand`): numkeys
/// is checked, then the inputs' types, then the options.
fn algebra_generic(ctx: &mut Ctx<'_>, op: SetOp, store: bool) {
    let args = ctx.args;
    let at = if store { 2 } else { 1 };
    let mut db = ctx.shard.store.db(ctx.db);
    let out = &mut ctx.out;
    let parsed = parse_numkeys(&args, at).and_then(|n| {
        let keys: Vec<&[u8]> = args.iter().skip(at + 1).take(n).collect();
        check_sources(&mut db, &keys)?;
        let o = parse_algebra_opts(&args, at + 1 + n, n, op, store)?;
        Ok((keys, o))
    });
    let (keys, o) = match parsed {
        Ok(x) => x,
        Err(e) => return reply_error(out, e),
    };
    if op == SetOp::InterCard {
        return out.int(op_intercard(&mut db, &keys, o.limit) as i64);
    }
    let z = op_algebra(&mut db, &keys, op, &o.weights, o.agg);
    if !store {
        return reply_zset(out, &z, o.withscores);
    }
    let dst = args.get(1);
    if z.is_empty() {
        let deleted = db.remove(dst).is_some();
        out.int(0);
        if deleted {
            ctx.notify(GENERIC, "del", dst);
        }
        return;
    }
    let n = z.len();
    db.set(
        dst,
        Value::ZSet(Box::new(zeros_as_stored(z))),
        SetTtl::Clear,
    );
    out.int(n as i64);
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff | SetOp::InterCard => "zdiffstore",
    };
    ctx.notify(ZSET, event, dst);
}

fn cmd_zunion(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Union, false);
}

fn cmd_zinter(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Inter, false);
}

fn cmd_zdiff(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Diff, false);
}

fn cmd_zintercard(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::InterCard, false);
}

fn cmd_zunionstore(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Union, true);
}

fn cmd_zinterstore(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Inter, true);
}

fn cmd_zdiffstore(ctx: &mut Ctx<'_>) {
    algebra_generic(ctx, SetOp::Diff, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;
    use kevy_resp::OwnedArgs;

    fn err(e: OpError) -> String {
        format!("-{}\r\n", message(e))
    }

    #[test]
    fn zadd_options_and_counts() {
        let mut t = T::new();
        assert_eq!(t.run(&["ZADD", "z", "1", "a", "2", "b"]), int(2));
        assert_eq!(t.run(&["ZADD", "z", "1", "a"]), int(0));
        assert_eq!(
            t.run(&["ZADD", "z", "CH", "5", "a", "2", "b", "3", "c"]),
            int(2)
        );
        assert_eq!(t.run(&["ZADD", "z", "NX", "9", "a", "4", "d"]), int(1));
        assert_eq!(
            t.run(&["ZADD", "z", "XX", "CH", "9", "a", "9", "e"]),
            int(1)
        );
        assert_eq!(
            t.run(&["ZADD", "z", "GT", "CH", "1", "a", "10", "b"]),
            int(1)
        );
        assert_eq!(
            t.run(&["ZADD", "z", "LT", "CH", "1", "a", "10", "b"]),
            int(1)
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            arr(&["a", "1", "c", "3", "d", "4", "b", "10"])
        );
        assert_eq!(t.run(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
        assert_eq!(t.run(&["EXISTS", "nokey"]), int(0));
    }

    #[test]
    fn zadd_errors_in_redis_order() {
        let mut t = T::new();
        assert_eq!(t.run(&["SET", "s", "v"]), "+OK\r\n");
        assert_eq!(t.run(&["ZADD", "s", "NX", "XX", "1", "a"]), err(ERR_XX_NX));
        assert_eq!(
            t.run(&["ZADD", "s", "GT", "LT", "1", "a"]),
            err(ERR_GT_LT_NX)
        );
        assert_eq!(
            t.run(&["ZADD", "s", "NX", "GT", "1", "a"]),
            err(ERR_GT_LT_NX)
        );
        assert_eq!(
            t.run(&["ZADD", "s", "INCR", "1", "a", "2", "b"]),
            err(ERR_INCR_PAIRS)
        );
        assert_eq!(t.run(&["ZADD", "s", "1", "a", "2"]), SYNTAX);
        assert_eq!(t.run(&["ZADD", "s", "NX", "CH", "1"]), SYNTAX);
        assert_eq!(
            t.run(&["ZADD", "s", "nan", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            t.run(&["ZADD", "s", " 1", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(t.run(&["ZADD", "s", "1", "a"]), WRONGTYPE);
        assert_eq!(
            t.run(&["ZADD", "z", "1"]),
            "-ERR wrong number of arguments for 'zadd' command\r\n"
        );
    }

    #[test]
    fn incr_replies_the_score_or_null() {
        let mut t = T::new();
        assert_eq!(t.run(&["ZINCRBY", "z", "2.5", "a"]), bulk("2.5"));
        assert_eq!(t.run(&["ZADD", "z", "INCR", "0.5", "a"]), bulk("3"));
        assert_eq!(t.run(&["ZADD", "z", "NX", "INCR", "1", "a"]), NULL);
        assert_eq!(t.run(&["ZADD", "z", "XX", "INCR", "1", "b"]), NULL);
        assert_eq!(t.run(&["ZADD", "z", "GT", "INCR", "-1", "a"]), NULL);
        assert_eq!(t.run(&["ZINCRBY", "z", "inf", "a"]), bulk("inf"));
        assert_eq!(t.run(&["ZINCRBY", "z", "-inf", "a"]), err(ERR_NAN));
        assert_eq!(t.run(&["ZSCORE", "z", "a"]), bulk("inf"));
        assert_eq!(t.run(&["ZINCRBY", "z", "nx", "a"]), SYNTAX);
        assert_eq!(
            t.run(&["ZINCRBY", "z", "x", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        t.client.resp3 = true;
        assert_eq!(t.run(&["ZINCRBY", "z", "1", "b"]), ",1\r\n");
        assert_eq!(t.run(&["ZADD", "z", "XX", "INCR", "1", "c"]), "_\r\n");
    }

    #[test]
    fn scores_format_as_redis() {
        let mut t = T::new();
        t.run(&[
            "ZADD", "z", "0.1", "a", "1e20", "b", "3.0", "c", "-2.5", "d",
        ]);
        assert_eq!(t.run(&["ZSCORE", "z", "a"]), bulk("0.10000000000000001"));
        assert_eq!(t.run(&["ZSCORE", "z", "b"]), bulk("1e+20"));
        assert_eq!(t.run(&["ZSCORE", "z", "c"]), bulk("3"));
        assert_eq!(t.run(&["ZSCORE", "z", "d"]), bulk("-2.5"));
        assert_eq!(t.run(&["ZSCORE", "z", "x"]), NULL);
        assert_eq!(
            t.run(&["ZMSCORE", "z", "c", "x"]),
            format!("*2\r\n{}{NULL}", bulk("3"))
        );
        t.client.resp3 = true;
        assert_eq!(t.run(&["ZSCORE", "z", "a"]), ",0.10000000000000001\r\n");
        assert_eq!(t.run(&["ZMSCORE", "z", "b", "x"]), "*2\r\n,1e+20\r\n_\r\n");
    }

    #[test]
    fn negative_zero_follows_the_encoding() {
        let mut t = T::new();
        // A listpack holds -0 as the integer 0 ...
        assert_eq!(t.run(&["ZADD", "z", "-0", "a"]), int(1));
        assert_eq!(t.run(&["ZSCORE", "z", "a"]), bulk("0"));
        // ... though ZINCRBY replies the score it computed.
        assert_eq!(t.run(&["ZINCRBY", "z", "-0", "b"]), bulk("-0"));
        assert_eq!(t.run(&["ZSCORE", "z", "b"]), bulk("0"));
        // A skiplist keeps it.
        let long = "x".repeat(70);
        t.run(&["ZADD", "z", "1", &long]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
        t.run(&["ZADD", "z", "-0", "c"]);
        assert_eq!(t.run(&["ZSCORE", "z", "c"]), bulk("-0"));
        // A new set whose first member is long starts as a skiplist.
        t.run(&["ZADD", "n", "-0", &long, "-0", "a"]);
        assert_eq!(t.run(&["ZSCORE", "n", "a"]), bulk("-0"));
        // A computed set stored small is a listpack again.
        t.run(&["ZADD", "w", "0", "a"]);
        assert_eq!(
            t.run(&["ZUNION", "1", "w", "WEIGHTS", "-1", "WITHSCORES"]),
            arr(&["a", "-0"])
        );
        t.run(&["ZUNIONSTORE", "d", "1", "w", "WEIGHTS", "-1"]);
        assert_eq!(t.run(&["ZSCORE", "d", "a"]), bulk("0"));
    }

    #[test]
    fn zeros_as_built_stops_at_the_conversion() {
        let long = vec![b'x'; 70];
        let mut pairs = vec![
            (b"a".to_vec(), -0.0),
            (long.clone(), -0.0),
            (b"b".to_vec(), -0.0),
        ];
        zeros_as_built(&mut pairs, false);
        let signs: Vec<bool> = pairs.iter().map(|p| p.1.is_sign_negative()).collect();
        assert_eq!(signs, [false, true, true]);
        let mut pairs = vec![(b"a".to_vec(), -0.0)];
        zeros_as_built(&mut pairs, true);
        assert!(pairs[0].1.is_sign_negative());
        let mut many: Pairs = (0..130)
            .map(|i| (format!("m{i}").into_bytes(), -0.0))
            .collect();
        zeros_as_built(&mut many, false);
        assert!(!many[127].1.is_sign_negative());
        assert!(many[128].1.is_sign_negative());
    }

    #[test]
    fn range_bounds_parse_like_strtod() {
        assert_eq!(parse_bound_number(b""), Some(0.0));
        assert_eq!(parse_bound_number(b" 1.5"), Some(1.5));
        assert_eq!(parse_bound_number(b"1 "), None);
        assert_eq!(parse_bound_number(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_bound_number(b"-1e400"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_bound_number(b"1e-400"), Some(0.0));
        assert_eq!(parse_bound_number(b"0x10"), Some(16.0));
        assert_eq!(parse_bound_number(b"2\0junk"), Some(2.0));
        assert_eq!(parse_bound_number(b"  "), None);
        assert_eq!(parse_bound_number(b"nan"), None);
        assert_eq!(parse_bound_number(b"abc"), None);
        assert_eq!(parse_score_bound(b"(3"), Some((3.0, true)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b"((3"), None);
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::NegInf));
        assert_eq!(parse_lex_bound(b"+\0x"), Some(LexBound::PosInf));
        assert_eq!(parse_lex_bound(b"+a"), None);
        assert_eq!(parse_lex_bound(b"(a"), Some(LexBound::Excl(b"a")));
        assert_eq!(parse_lex_bound(b"["), Some(LexBound::Incl(b"")));
        assert_eq!(parse_lex_bound(b""), None);
        assert_eq!(parse_lex_bound(b"a"), None);
    }

    #[test]
    fn limited_matches_the_store_window() {
        let mut z = ZSet::new();
        for i in 0..10 {
            z.add(
                format!("m{i}").as_bytes(),
                f64::from(i),
                AddFlags::default(),
            )
            .unwrap();
        }
        let all = ScoreRange::incl(f64::NEG_INFINITY, f64::INFINITY);
        for offset in -2..12 {
            for count in -2..12 {
                let l = Limit { offset, count };
                for rev in [false, true] {
                    let mut n = 0;
                    z.range_by_score(&all, rev, Some(l), |_, _| n += 1);
                    assert_eq!(limited(10, l), n, "{l:?} rev {rev}");
                }
            }
        }
    }

    #[test]
    fn rem_card_rank_count() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(t.run(&["ZREM", "z", "a", "x", "a"]), int(1));
        assert_eq!(t.run(&["ZCARD", "z"]), int(3));
        assert_eq!(t.run(&["ZRANK", "z", "c"]), int(1));
        assert_eq!(t.run(&["ZREVRANK", "z", "c"]), int(1));
        assert_eq!(t.run(&["ZRANK", "z", "x"]), NULL);
        assert_eq!(
            t.run(&["ZRANK", "z", "c", "WITHSCORE"]),
            "-ERR wrong number of arguments for 'zrank' command\r\n"
        );
        assert_eq!(t.run(&["ZCOUNT", "z", "(2", "+inf"]), int(2));
        assert_eq!(t.run(&["ZCOUNT", "z", "x", "1"]), err(ERR_RANGE_FLOAT));
        assert_eq!(t.run(&["ZLEXCOUNT", "z", "-", "+"]), int(3));
        assert_eq!(t.run(&["ZLEXCOUNT", "z", "a", "+"]), err(ERR_RANGE_LEX));
        assert_eq!(t.run(&["ZREM", "z", "b", "c", "d"]), int(3));
        assert_eq!(t.run(&["EXISTS", "z"]), int(0));
        assert_eq!(t.run(&["ZCARD", "z"]), int(0));
        t.run(&["SET", "s", "v"]);
        for cmd in [
            &["ZREM", "s", "a"][..],
            &["ZCARD", "s"],
            &["ZSCORE", "s", "a"],
            &["ZMSCORE", "s", "a"],
            &["ZRANK", "s", "a"],
            &["ZCOUNT", "s", "0", "1"],
            &["ZLEXCOUNT", "s", "-", "+"],
        ] {
            assert_eq!(t.run(cmd), WRONGTYPE, "{cmd:?}");
        }
        // The range is checked before the type.
        assert_eq!(t.run(&["ZCOUNT", "s", "x", "1"]), err(ERR_RANGE_FLOAT));
    }

    #[test]
    fn zrange_forms() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(t.run(&["ZRANGE", "z", "1", "2"]), arr(&["b", "c"]));
        assert_eq!(t.run(&["ZRANGE", "z", "0", "0", "REV"]), arr(&["d"]));
        assert_eq!(t.run(&["ZREVRANGE", "z", "-1", "-1"]), arr(&["a"]));
        assert_eq!(
            t.run(&["ZRANGE", "z", "(1", "3", "BYSCORE", "WITHSCORES"]),
            arr(&["b", "2", "c", "3"])
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "3", "(1", "BYSCORE", "REV"]),
            arr(&["c", "b"])
        );
        assert_eq!(
            t.run(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"]),
            arr(&["b", "c"])
        );
        assert_eq!(
            t.run(&["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "2"]),
            arr(&["c", "b"])
        );
        assert_eq!(t.run(&["ZRANGEBYLEX", "z", "[b", "(d"]), arr(&["b", "c"]));
        assert_eq!(
            t.run(&["ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "0", "1"]),
            arr(&["d"])
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1"]),
            arr(&["a", "b", "c", "d"])
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
            err(ERR_LIMIT_BY_RANK)
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
            err(ERR_WITHSCORES_BYLEX)
        );
        assert_eq!(t.run(&["ZRANGE", "z", "0", "-1", "REV", "REV"]), SYNTAX);
        assert_eq!(t.run(&["ZRANGEBYSCORE", "z", "0", "1", "REV"]), SYNTAX);
        assert_eq!(t.run(&["ZRANGE", "z", "a", "1"]), NOTINT);
        assert_eq!(t.run(&["ZRANGE", "nokey", "0", "-1"]), "*0\r\n");
        t.client.resp3 = true;
        assert_eq!(
            t.run(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
            "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
    }

    #[test]
    fn zrangestore_overwrites_or_deletes() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        t.run(&["SET", "d", "v"]);
        t.run(&["EXPIRE", "d", "100"]);
        assert_eq!(t.run(&["ZRANGESTORE", "d", "z", "0", "1"]), int(2));
        assert_eq!(t.run(&["TTL", "d"]), int(-1));
        assert_eq!(
            t.run(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
            arr(&["a", "1", "b", "2"])
        );
        assert_eq!(
            t.run(&[
                "ZRANGESTORE",
                "d",
                "z",
                "+inf",
                "(1",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "1"
            ]),
            int(1)
        );
        assert_eq!(t.run(&["ZRANGE", "d", "0", "-1"]), arr(&["c"]));
        assert_eq!(t.run(&["ZRANGESTORE", "d", "nokey", "0", "-1"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        assert_eq!(
            t.run(&["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"]),
            SYNTAX
        );
        assert_eq!(t.run(&["ZRANGESTORE", "z", "z", "1", "1"]), int(1));
        assert_eq!(t.run(&["ZRANGE", "z", "0", "-1"]), arr(&["b"]));
    }

    #[test]
    fn pops() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(t.run(&["ZPOPMIN", "z"]), arr(&["a", "1"]));
        assert_eq!(t.run(&["ZPOPMAX", "z", "2"]), arr(&["d", "4", "c", "3"]));
        assert_eq!(t.run(&["ZPOPMAX", "z", "0"]), "*0\r\n");
        assert_eq!(t.run(&["ZPOPMIN", "z", "-1"]), err(ERR_NOT_POSITIVE));
        assert_eq!(t.run(&["ZPOPMIN", "z", "1", "2"]), SYNTAX);
        t.client.resp3 = true;
        assert_eq!(
            t.run(&["ZPOPMIN", "z", "5"]),
            "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "z"]), int(0));
        assert_eq!(t.run(&["ZPOPMIN", "z"]), "*0\r\n");
        t.client.resp3 = false;
        t.run(&["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(
            t.run(&["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "5"]),
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(t.run(&["ZMPOP", "1", "z", "MIN"]), "*-1\r\n");
        t.run(&["SET", "s", "v"]);
        assert_eq!(t.run(&["ZMPOP", "2", "nokey", "s", "MIN"]), WRONGTYPE);
        assert_eq!(t.run(&["ZMPOP", "0", "z", "MIN"]), err(ERR_NUMKEYS));
        assert_eq!(t.run(&["ZMPOP", "2", "z", "MIN"]), SYNTAX);
        assert_eq!(
            t.run(&["ZMPOP", "1", "z", "MIN", "COUNT", "0"]),
            err(ERR_COUNT)
        );
        assert_eq!(
            t.run(&["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"]),
            SYNTAX
        );
    }

    #[test]
    fn remrange() {
        let mut t = T::new();
        t.run(&[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ]);
        assert_eq!(t.run(&["ZREMRANGEBYRANK", "z", "-1", "-1"]), int(1));
        assert_eq!(t.run(&["ZREMRANGEBYSCORE", "z", "(1", "2"]), int(1));
        assert_eq!(t.run(&["ZREMRANGEBYLEX", "z", "[c", "+"]), int(2));
        assert_eq!(t.run(&["ZRANGE", "z", "0", "-1"]), arr(&["a"]));
        assert_eq!(t.run(&["ZREMRANGEBYRANK", "z", "0", "-1"]), int(1));
        assert_eq!(t.run(&["EXISTS", "z"]), int(0));
        assert_eq!(
            t.run(&["ZREMRANGEBYSCORE", "z", "x", "1"]),
            err(ERR_RANGE_FLOAT)
        );
        assert_eq!(
            t.run(&["ZREMRANGEBYLEX", "z", "x", "+"]),
            err(ERR_RANGE_LEX)
        );
        assert_eq!(t.run(&["ZREMRANGEBYRANK", "z", "x", "1"]), NOTINT);
        assert_eq!(t.run(&["ZREMRANGEBYRANK", "z", "0", "1"]), int(0));
    }

    #[test]
    fn randmember() {
        let mut t = T::new();
        assert_eq!(t.run(&["ZRANDMEMBER", "z"]), NULL);
        assert_eq!(t.run(&["ZRANDMEMBER", "z", "3"]), "*0\r\n");
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(t.run(&["ZRANDMEMBER", "z", "5"]), arr(&["c", "b", "a"]));
        assert_eq!(t.run(&["ZRANDMEMBER", "z", "0"]), "*0\r\n");
        assert!(t.run(&["ZRANDMEMBER", "z", "-7"]).starts_with("*7\r\n"));
        assert!(t
            .run(&["ZRANDMEMBER", "z", "2", "WITHSCORES"])
            .starts_with("*4\r\n"));
        assert_eq!(
            t.run(&["ZRANDMEMBER", "z", "-9223372036854775808"]),
            err(ERR_RANDMEMBER_COUNT)
        );
        assert_eq!(
            t.run(&["ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"]),
            err(ERR_OUT_OF_RANGE)
        );
        assert_eq!(t.run(&["ZRANDMEMBER", "z", "1", "x"]), SYNTAX);
        assert_eq!(t.run(&["ZRANDMEMBER", "z", "x"]), NOTINT);
        t.client.resp3 = true;
        t.run(&["ZADD", "one", "7", "m"]);
        assert_eq!(
            t.run(&["ZRANDMEMBER", "one", "-2", "WITHSCORES"]),
            "*2\r\n*2\r\n$1\r\nm\r\n,7\r\n*2\r\n$1\r\nm\r\n,7\r\n"
        );
    }

    #[test]
    fn zscan_listpack_and_skiplist() {
        let mut t = T::new();
        assert_eq!(
            t.run(&["ZSCAN", "z", "0", "BAD"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        t.run(&["ZADD", "z", "1", "a", "2.5", "b", "123456789012345678", "c"]);
        assert_eq!(
            t.run(&["ZSCAN", "z", "0"]),
            format!(
                "*2\r\n$1\r\n0\r\n{}",
                arr(&["a", "1", "b", "2.5", "c", "123456789012345680"])
            )
        );
        assert_eq!(
            t.run(&["ZSCAN", "z", "0", "MATCH", "b*"]),
            format!("*2\r\n$1\r\n0\r\n{}", arr(&["b", "2.5"]))
        );
        assert_eq!(t.run(&["ZSCAN", "z", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(t.run(&["ZSCAN", "z", "0", "TYPE", "zset"]), SYNTAX);
        assert_eq!(t.run(&["ZSCAN", "z", "x"]), "-ERR invalid cursor\r\n");
        // A skiplist scans in steps and prints scores as %.17g.
        let pairs: Vec<String> = (0..200)
            .flat_map(|i| [i.to_string(), format!("m{i}")])
            .collect();
        let mut cmd = vec!["ZADD", "big"];
        cmd.extend(pairs.iter().map(String::as_str));
        t.run(&cmd);
        t.run(&["ZADD", "big", "123456789012345678", "c"]);
        let mut seen = std::collections::HashMap::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = t.run(&["ZSCAN", "big", &cursor, "COUNT", "7"]);
            let lines: Vec<&str> = reply.split("\r\n").collect();
            cursor = lines[2].to_string();
            // After the cursor and the array header: "$len", "item", ...
            let items: Vec<&str> = lines[4..].iter().skip(1).step_by(2).copied().collect();
            for p in items.chunks(2).filter(|p| p.len() == 2) {
                seen.insert(p[0].to_string(), p[1].to_string());
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 201);
        assert_eq!(seen["m7"], "7");
        assert_eq!(seen["c"], "1.2345678901234568e+17");
    }

    #[test]
    fn algebra() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        t.run(&["ZADD", "z2", "10", "b", "20", "c", "30", "d"]);
        t.run(&["SADD", "s", "b", "x"]);
        assert_eq!(
            t.run(&["ZUNION", "2", "z", "z2", "WITHSCORES"]),
            arr(&["a", "1", "b", "12", "c", "23", "d", "30"])
        );
        assert_eq!(
            t.run(&[
                "ZINTER",
                "2",
                "z",
                "z2",
                "WEIGHTS",
                "2",
                "1",
                "AGGREGATE",
                "MIN"
            ]),
            arr(&["b", "c"])
        );
        assert_eq!(
            t.run(&["ZINTER", "2", "z", "s", "WITHSCORES"]),
            arr(&["b", "3"])
        );
        assert_eq!(t.run(&["ZDIFF", "3", "z", "z2", "s"]), arr(&["a"]));
        assert_eq!(
            t.run(&["ZUNION", "2", "z", "z", "WITHSCORES"]),
            arr(&["a", "2", "b", "4", "c", "6"])
        );
        assert_eq!(t.run(&["ZINTERCARD", "2", "z", "z2"]), int(2));
        assert_eq!(t.run(&["ZINTERCARD", "2", "z", "z2", "LIMIT", "1"]), int(1));
        assert_eq!(
            t.run(&["ZINTERCARD", "2", "z", "z2", "LIMIT", "-1"]),
            err(ERR_LIMIT_NEGATIVE)
        );
        assert_eq!(t.run(&["ZUNIONSTORE", "d", "2", "z", "s"]), int(4));
        assert_eq!(
            t.run(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
            arr(&["a", "1", "x", "1", "b", "3", "c", "3"])
        );
        assert_eq!(t.run(&["ZINTERSTORE", "d", "2", "z", "nokey"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        assert_eq!(t.run(&["ZDIFFSTORE", "z", "2", "z", "z2"]), int(1));
        assert_eq!(t.run(&["ZRANGE", "z", "0", "-1"]), arr(&["a"]));
        // The inputs are untouched.
        assert_eq!(t.run(&["SCARD", "s"]), int(2));
        assert_eq!(t.run(&["ZCARD", "z2"]), int(3));
    }

    #[test]
    fn algebra_errors_in_redis_order() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a"]);
        t.run(&["SET", "str", "v"]);
        assert_eq!(
            t.run(&["ZUNION", "0", "z"]),
            "-ERR at least 1 input key is needed for 'zunion' command\r\n"
        );
        assert_eq!(
            t.run(&["zinterstore", "d", "-1", "z"]),
            "-ERR at least 1 input key is needed for 'zinterstore' command\r\n"
        );
        assert_eq!(
            t.run(&["ZINTERCARD", "0", "z"]),
            "-ERR at least 1 input key is needed for 'zintercard' command\r\n"
        );
        assert_eq!(t.run(&["ZUNION", "x", "z"]), NOTINT);
        assert_eq!(t.run(&["ZUNION", "2", "z"]), SYNTAX);
        assert_eq!(t.run(&["ZUNIONSTORE", "d", "2", "z"]), SYNTAX);
        // Types before options.
        assert_eq!(t.run(&["ZUNION", "2", "z", "str", "BAD"]), WRONGTYPE);
        assert_eq!(
            t.run(&["ZUNION", "1", "z", "WEIGHTS", "x"]),
            err(ERR_WEIGHT)
        );
        assert_eq!(t.run(&["ZUNION", "1", "z", "AGGREGATE", "avg"]), SYNTAX);
        assert_eq!(t.run(&["ZDIFF", "1", "z", "WEIGHTS", "1"]), SYNTAX);
        assert_eq!(t.run(&["ZUNIONSTORE", "d", "1", "z", "WITHSCORES"]), SYNTAX);
        assert_eq!(t.run(&["ZINTERCARD", "1", "z", "WITHSCORES"]), SYNTAX);
    }

    fn route(argv: &[&str]) -> Result<Route, String> {
        let t = T::new();
        let args = OwnedArgs::from_slices(argv);
        let spec = *t.table.get(t.table.lookup(args.args().get(0)).unwrap());
        let RouteKind::Custom(f) = spec.route else {
            panic!("{} has a custom route", spec.name);
        };
        f(args.args(), &t.client, 3)
    }

    fn keys(first: u32, last: i32, extra: u32) -> Result<Route, String> {
        Ok(Route::Keys {
            first,
            last,
            step: 1,
            extra,
            fold: Fold::One,
        })
    }

    #[test]
    fn numkeys_routes() {
        assert_eq!(
            route(&["ZUNION", "2", "a", "b", "WITHSCORES"]),
            keys(2, 3, 0)
        );
        assert_eq!(
            route(&["ZINTERCARD", "1", "a", "LIMIT", "1"]),
            keys(2, 2, 0)
        );
        assert_eq!(route(&["ZDIFFSTORE", "d", "2", "a", "b"]), keys(3, 4, 1));
        assert_eq!(route(&["ZMPOP", "2", "a", "b", "MIN"]), keys(2, 3, 0));
        assert_eq!(
            route(&["ZUNION", "3", "a", "b"]),
            Err("ERR syntax error".into())
        );
        assert_eq!(
            route(&["ZUNIONSTORE", "d", "0", "a"]),
            Err("ERR at least 1 input key is needed for 'zunionstore' command".into())
        );
        assert_eq!(
            route(&["ZMPOP", "x", "a", "MIN"]),
            Err("ERR numkeys should be greater than 0".into())
        );
        assert_eq!(
            route(&["ZMPOP", "9223372036854775807", "a", "MIN"]),
            Err("ERR syntax error".into())
        );
    }

    #[test]
    fn sources_go_back_unchanged() {
        let mut t = T::new();
        t.run(&["ZADD", "z", "1", "a", "2", "b"]);
        t.run(&["SADD", "s", "a"]);
        let dirty = t.shard.store.dirty;
        let mut db = t.shard.store.db(0);
        let keys: [&[u8]; 4] = [b"z", b"s", b"nokey", b"z"];
        let lens = with_sources(&mut db, &keys, |src| {
            src.iter()
                .map(|s| match s {
                    ZSource::Zset(z) => z.len() as i64,
                    ZSource::Set(s) => -(s.len() as i64),
                    ZSource::Empty => 0,
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(lens, [2, -1, 0, 2]);
        // A panic inside leaves them as they were.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_sources(&mut db, &keys, |_| panic!("inside with_sources"))
        }));
        assert!(unwound.is_err());
        assert_eq!(t.shard.store.dirty, dirty, "reading is not a write");
        assert_eq!(t.run(&["ZRANGE", "z", "0", "-1"]), arr(&["a", "b"]));
        assert_eq!(t.run(&["SMEMBERS", "s"]), arr(&["a"]));
    }

    #[test]
    fn memory_and_dirty_accounting() {
        let mut t = T::new();
        let empty = t.shard.store.used_memory();
        let dirty = t.shard.store.dirty;
        for i in 0..300 {
            t.run(&["ZADD", "z", &i.to_string(), &format!("member:{i}")]);
        }
        assert_eq!(t.shard.store.dirty, dirty + 300);
        assert!(t.shard.store.used_memory() > empty + 300 * 10);
        // No change, no write.
        t.run(&["ZADD", "z", "0", "member:0"]);
        t.run(&["ZREM", "z", "nosuch"]);
        t.run(&["ZPOPMIN", "z", "0"]);
        assert_eq!(t.shard.store.dirty, dirty + 300);
        t.run(&["ZPOPMIN", "z", "1000"]);
        assert_eq!(t.run(&["EXISTS", "z"]), int(0));
        // What is left is the keyspace's bucket array.
        assert!(t.shard.store.used_memory() - empty < 256);
    }
}
