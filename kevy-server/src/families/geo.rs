//! The geo command family (Redis's `geo.c`): positions stored as sorted-set
//! members whose scores are 52-bit geohashes (`kevy_store::geohash`), and
//! the searches over them. GEOADD is ZADD of the encoded scores (and is
//! logged as that ZADD, as Redis propagates it); every search (GEORADIUS,
//! GEORADIUSBYMEMBER, their `_RO` forms, GEOSEARCH, GEOSEARCHSTORE) is
//! `search_generic`, as Redis's are `georadiusGeneric`.
//!
//! A search reads the score ranges of the nine geohash cells around the
//! centre, keeps the members inside the shape (most of those outside are
//! turned away by bounds that need no trigonometry, the rest by Redis's
//! own distance test, so the same members match), and sorts them by distance
//! exactly as Redis does: a stable merge sort (glibc's `qsort`) for a whole
//! result, Redis's partial quicksort (`pqsort`) when COUNT keeps fewer, so
//! members at equal distances come out in Redis's order too.

use super::common::{c_str, modify_as};
use crate::ctx::Ctx;
use crate::errors::{message, NOT_FLOAT, NOT_INTEGER, SYNTAX, WRONGTYPE};
use crate::notify::{GENERIC, ZSET};
use crate::table::{flag, CommandSpec, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::geohash::{self, Shape, ShapeKind};
use kevy_store::num::{parse_f64, parse_i64};
use kevy_store::zset::{AddFlags, AddOutcome, ZSet};
use kevy_store::{Db, OpError, SetTtl, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    const R: &[&str] = &["@read", "@geo", "@slow"];
    const W: &[&str] = &["@write", "@geo", "@slow"];
    let key1 = CommandSpec::single_key;
    t.add(key1("geoadd", -5, WRITE | DENYOOM, W, cmd_geoadd));
    t.add(key1("geodist", -4, READONLY, R, cmd_geodist));
    t.add(key1("geohash", -2, READONLY, R, cmd_geohash));
    t.add(key1("geopos", -2, READONLY, R, cmd_geopos));
    // STORE and STOREDIST name a second key among the options: the route
    // finds it the way the command's own parser does.
    t.add(CommandSpec {
        route: RouteKind::Custom(route_georadius),
        ..key1(
            "georadius",
            -6,
            WRITE | DENYOOM | MOVABLEKEYS,
            W,
            cmd_georadius,
        )
    });
    t.add(CommandSpec {
        route: RouteKind::Custom(route_georadiusbymember),
        ..key1(
            "georadiusbymember",
            -5,
            WRITE | DENYOOM | MOVABLEKEYS,
            W,
            cmd_georadiusbymember,
        )
    });
    t.add(key1("georadius_ro", -6, READONLY, R, cmd_georadius_ro));
    t.add(key1(
        "georadiusbymember_ro",
        -5,
        READONLY,
        R,
        cmd_georadiusbymember_ro,
    ));
    t.add(key1("geosearch", -7, READONLY, R, cmd_geosearch));
    t.add(CommandSpec {
        last: 2,
        ..key1("geosearchstore", -8, WRITE | DENYOOM, W, cmd_geosearchstore)
    });
}

/// An error reply's text.
type Res<T> = Result<T, Cow<'static, str>>;

const ERR_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
const ERR_MEMBER: &str = "ERR could not decode requested zset member";

/// An argument as C's `strcasecmp` sees it: up to its first NUL.
fn c_arg(a: &[u8]) -> &[u8] {
    &a[..a.iter().position(|&b| b == 0).unwrap_or(a.len())]
}

fn is(a: &[u8], name: &str) -> bool {
    c_arg(a).eq_ignore_ascii_case(name.as_bytes())
}

/// Metres per unit (Redis's `extractUnitOrReply`).
fn parse_unit(a: &[u8]) -> Res<f64> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| is(a, name))
        .map(|&(_, f)| f)
        .ok_or(Cow::Borrowed(ERR_UNIT))
}

/// A double argument (Redis's `getDoubleFromObjectOrReply`), with `msg`
/// in place of the usual text when given.
fn double(a: &[u8], msg: Option<&'static str>) -> Res<f64> {
    parse_f64(a).ok_or(Cow::Borrowed(msg.unwrap_or(NOT_FLOAT)))
}

/// A longitude and latitude at `args[i]`, `args[i + 1]`, in range.
fn parse_lonlat(args: &Args<'_>, i: usize) -> Res<[f64; 2]> {
    let lon = double(args.get(i), None)?;
    let lat = double(args.get(i + 1), None)?;
    if !geohash::valid_lonlat(lon, lat) {
        return Err(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}").into());
    }
    Ok([lon, lat])
}

/// `radius unit` at `args[i]`: (radius, metres per unit).
fn parse_radius(args: &Args<'_>, i: usize) -> Res<(f64, f64)> {
    let r = double(args.get(i), Some("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, parse_unit(args.get(i + 1))?))
}

/// `width height unit` at `args[i]`.
fn parse_box(args: &Args<'_>, i: usize) -> Res<(ShapeKind, f64)> {
    let width = double(args.get(i), Some("ERR need numeric width"))?;
    let height = double(args.get(i + 1), Some("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    let conv = parse_unit(args.get(i + 2))?;
    Ok((ShapeKind::Box { width, height }, conv))
}

// ---- GEOADD ---------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member …: ZADD of the encoded
/// positions, logged as that ZADD (options as the client wrote them).
fn cmd_geoadd(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < args.len() {
        let opt = args.get(at);
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = args.len() - at;
    if !rest.is_multiple_of(3) || (nx && xx) {
        return ctx.out.error(SYNTAX);
    }
    let mut pairs: Vec<(f64, &[u8])> = Vec::with_capacity(rest / 3);
    for i in (at..args.len()).step_by(3) {
        match parse_lonlat(&args, i) {
            Ok([lon, lat]) => {
                let score = geohash::lonlat_to_score(lon, lat);
                pairs.push((score as f64, args.get(i + 2)));
            }
            Err(e) => return ctx.out.error(&e),
        }
    }
    // ZADD with no pairs is its syntax error.
    if pairs.is_empty() {
        return ctx.out.error(SYNTAX);
    }
    let key = args.get(1);
    let flags = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    let add = |z: &mut ZSet| {
        let (mut added, mut updated) = (0usize, 0usize);
        for &(score, member) in &pairs {
            match z.add(member, score, flags) {
                Ok(AddOutcome::Added(_)) => added += 1,
                Ok(AddOutcome::Updated(_)) => updated += 1,
                _ => {}
            }
        }
        ((added, updated), added + updated > 0)
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let done = modify_as(
        &mut db,
        key,
        |v| match v {
            Value::ZSet(z) => Some(z),
            _ => None,
        },
        add,
    );
    let (added, updated) = match done {
        Err(e) => return ctx.out.error(&message(e)),
        Ok(Some(n)) => n,
        Ok(None) if xx => (0, 0),
        Ok(None) => {
            let mut z = ZSet::new();
            let (n, _) = add(&mut z);
            db.set(key, Value::ZSet(Box::new(z)), SetTtl::Clear);
            n
        }
    };
    if added + updated > 0 {
        ctx.notify(ZSET, "zadd", key);
        if ctx.propagating() {
            let scores: Vec<String> = pairs.iter().map(|(s, _)| (*s as u64).to_string()).collect();
            let mut argv: Vec<&[u8]> = vec![b"zadd", key];
            argv.extend(args.iter().take(at).skip(2));
            for ((_, member), score) in pairs.iter().zip(&scores) {
                argv.push(score.as_bytes());
                argv.push(member);
            }
            ctx.propagate(&argv);
        }
    }
    ctx.out.int(if ch { added + updated } else { added } as i64);
}

// ---- GEODIST, GEOHASH, GEOPOS ---------------------------------------------------

/// The sorted set at `key` for reading; `None` when missing.
fn read_zset<'a>(db: &'a mut Db<'_>, key: &[u8]) -> Result<Option<&'a ZSet>, OpError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// A small formatting buffer on the stack (distances and coordinates).
struct Num {
    buf: [u8; 64],
    len: usize,
}

impl Num {
    fn new() -> Num {
        Num {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for Num {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A distance as Redis prints it (`%.4f`), as a bulk string.
fn reply_distance(out: &mut Reply<'_>, d: f64) {
    let mut n = Num::new();
    if d.is_nan() {
        // glibc's `%f` of the NaN an x86 `asin` returns keeps its sign.
        n.len = 0;
        let _ = n.write_str(if d.is_sign_negative() { "-nan" } else { "nan" });
    } else if write!(n, "{d:.4}").is_err() {
        // Wider than the buffer: only a huge radius in a tiny unit.
        return out.bulk(format!("{d:.4}").as_bytes());
    }
    out.bulk(n.as_bytes());
}

/// A coordinate as Redis's `addReplyHumanLongDouble` writes it: `%.17Lf`
/// with trailing zeros (and a bare point) removed; a bulk string in RESP2,
/// a double in RESP3.
fn reply_coord(out: &mut Reply<'_>, v: f64) {
    let mut n = Num::new();
    let _ = write!(n, "{v:.17}");
    let mut s = n.as_bytes();
    if s.contains(&b'.') {
        while s.last() == Some(&b'0') {
            s = &s[..s.len() - 1];
        }
        if s.last() == Some(&b'.') {
            s = &s[..s.len() - 1];
        }
    }
    if s == b"-0" {
        s = b"0";
    }
    if out.resp3 {
        out.raw(b",");
        out.raw(s);
        out.raw(b"\r\n");
    } else {
        out.bulk(s);
    }
}

/// GEODIST key a b [unit]: the unit is checked before the key.
fn cmd_geodist(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let to_meter = match args.len() {
        4 => 1.0,
        5 => match parse_unit(args.get(4)) {
            Ok(u) => u,
            Err(e) => return ctx.out.error(&e),
        },
        _ => return ctx.out.error(SYNTAX),
    };
    let mut db = ctx.shard.store.db(ctx.db);
    let z = match read_zset(&mut db, args.get(1)) {
        Err(_) => return ctx.out.error(WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(z)) => z,
    };
    match (z.score(args.get(2)), z.score(args.get(3))) {
        (Some(a), Some(b)) => {
            let [x1, y1] = geohash::score_to_lonlat(a);
            let [x2, y2] = geohash::score_to_lonlat(b);
            reply_distance(&mut ctx.out, geohash::distance(x1, y1, x2, y2) / to_meter);
        }
        _ => ctx.out.null(),
    }
}

fn cmd_geohash(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    let z = match read_zset(&mut db, args.get(1)) {
        Err(_) => return ctx.out.error(WRONGTYPE),
        Ok(z) => z,
    };
    ctx.out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.bulk(&geohash::geohash_string(s)),
            None => ctx.out.null(),
        }
    }
}

fn cmd_geopos(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    let z = match read_zset(&mut db, args.get(1)) {
        Err(_) => return ctx.out.error(WRONGTYPE),
        Ok(z) => z,
    };
    ctx.out.array(args.len() - 2);
    for m in args.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(s) => {
                let [lon, lat] = geohash::score_to_lonlat(s);
                ctx.out.array(2);
                reply_coord(&mut ctx.out, lon);
                reply_coord(&mut ctx.out, lat);
            }
            None => ctx.out.null_array(),
        }
    }
}

// ---- searches -------------------------------------------------------------------

/// Which search command (Redis's `georadiusGeneric` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Radius,
    RadiusRo,
    ByMember,
    ByMemberRo,
    Search,
    SearchStore,
}

impl Variant {
    /// The source key's argument.
    fn src(self) -> usize {
        if self == Variant::SearchStore {
            2
        } else {
            1
        }
    }

    fn geosearch(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// STORE / STOREDIST key are options of this command.
    fn store_option(self) -> bool {
        matches!(self, Variant::Radius | Variant::ByMember)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search.
#[derive(Debug)]
struct Query {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: no COUNT.
    count: u64,
    /// The destination's argument.
    store: Option<usize>,
    storedist: bool,
}

/// Parses a search as Redis does, raising its errors in its order once the
/// source's type is checked. `src_missing` says the source key does not
/// exist (Redis then skips whatever needs it: the member's position and,
/// for GEORADIUSBYMEMBER, the radius); `member_xy` finds a member's
/// position in the source.
///
/// The route runs the same parser with the source taken as missing: it
/// raises a subset of the errors the command raises, and where both
/// succeed they name the same destination, so the keys locked are the keys
/// written.
fn parse_query(
    args: &Args<'_>,
    v: Variant,
    src_missing: bool,
    member_xy: &mut dyn FnMut(&[u8]) -> Res<[f64; 2]>,
) -> Res<Query> {
    let mut q = Query {
        shape: Shape {
            center: [0.0, 0.0],
            kind: ShapeKind::Radius(0.0),
            conversion: 1.0,
        },
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: None,
        storedist: false,
    };
    let base = match v {
        Variant::Radius | Variant::RadiusRo => {
            q.shape.center = parse_lonlat(args, 2)?;
            let (r, conv) = parse_radius(args, 4)?;
            q.shape.kind = ShapeKind::Radius(r);
            q.shape.conversion = conv;
            6
        }
        Variant::ByMember | Variant::ByMemberRo => {
            if !src_missing {
                q.shape.center = member_xy(args.get(2))?;
                let (r, conv) = parse_radius(args, 3)?;
                q.shape.kind = ShapeKind::Radius(r);
                q.shape.conversion = conv;
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            q.store = Some(1);
            3
        }
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let n = args.len();
    let mut i = base;
    while i < n {
        let a = args.get(i);
        let left = n - i - 1;
        if is(a, "withdist") {
            q.withdist = true;
        } else if is(a, "withhash") {
            q.withhash = true;
        } else if is(a, "withcoord") {
            q.withcoord = true;
        } else if is(a, "any") {
            q.any = true;
        } else if is(a, "asc") {
            q.sort = Sort::Asc;
        } else if is(a, "desc") {
            q.sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            let c = parse_i64(args.get(i + 1)).ok_or(Cow::Borrowed(NOT_INTEGER))?;
            if c <= 0 {
                return Err("ERR COUNT must be > 0".into());
            }
            q.count = c as u64;
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && v.store_option() {
            q.store = Some(i + 1);
            q.storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && v == Variant::SearchStore {
            q.storedist = true;
        } else if is(a, "frommember") && left >= 1 && v.geosearch() && !fromloc {
            if !src_missing {
                q.shape.center = member_xy(args.get(i + 1))?;
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && v.geosearch() && !frommember {
            q.shape.center = parse_lonlat(args, i + 1)?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && v.geosearch() && !bybox {
            let (r, conv) = parse_radius(args, i + 1)?;
            q.shape.kind = ShapeKind::Radius(r);
            q.shape.conversion = conv;
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && v.geosearch() && !byradius {
            let (kind, conv) = parse_box(args, i + 1)?;
            q.shape.kind = kind;
            q.shape.conversion = conv;
            bybox = true;
            i += 3;
        } else {
            return Err(SYNTAX.into());
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        let what = if v == Variant::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )
        .into());
    }
    let name = || c_str(args.get(0), usize::MAX);
    if v.geosearch() && !(frommember || fromloc) {
        return Err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )
        .into());
    }
    if v.geosearch() && !(byradius || bybox) {
        return Err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )
        .into());
    }
    if q.any && q.count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    Ok(q)
}

/// The source key, plus the destination when STORE or STOREDIST names one.
fn search_route(args: Args<'_>, v: Variant) -> Result<Route, String> {
    let store = parse_query(&args, v, true, &mut |_| Ok([0.0, 0.0]))
        .ok()
        .and_then(|q| q.store);
    Ok(Route::Keys {
        first: 1,
        last: 1,
        step: 1,
        extra: store.map_or(0, |i| i as u32),
        fold: Fold::One,
    })
}

fn route_georadius(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    search_route(args, Variant::Radius)
}

fn route_georadiusbymember(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    search_route(args, Variant::ByMember)
}

/// One match.
#[derive(Clone, Copy)]
struct Point<'z> {
    member: &'z [u8],
    score: f64,
    /// Metres.
    dist: f64,
    lon: f64,
    lat: f64,
}

/// The members of `z` inside `shape`, cell by cell in Redis's order, at
/// most `limit` of them (0: all).
fn collect<'z>(z: &'z ZSet, shape: &Shape, limit: usize, out: &mut Vec<Point<'z>>) {
    let cells = shape.cells();
    let probe = shape.probe();
    let full = |out: &Vec<Point<'_>>| limit != 0 && out.len() >= limit;
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // A huge radius makes neighbours coincide: skip a repeat of the
        // cell read last (Redis never compares with the centre).
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if full(out) {
            break;
        }
        let (min, max) = cell.score_range();
        z.scan_scores(min as f64, max as f64, |m, s| {
            let p = geohash::score_to_lonlat(s);
            if let Some(dist) = probe.contains(p) {
                out.push(Point {
                    member: m,
                    score: s,
                    dist,
                    lon: p[0],
                    lat: p[1],
                });
            }
            !full(out)
        });
        last = i;
    }
}

/// Redis's distance comparator (`sort_gp_asc`): not a total order when a
/// distance is NaN, which the sorts below tolerate as C's do.
fn cmp_asc(a: &Point<'_>, b: &Point<'_>) -> Ordering {
    if a.dist > b.dist {
        Ordering::Greater
    } else if a.dist == b.dist {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

/// glibc's `qsort` for these elements: a top-down stable merge sort.
fn merge_sort<T: Copy>(v: &mut [T], tmp: &mut Vec<T>, cmp: &dyn Fn(&T, &T) -> Ordering) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        merge_sort(a, tmp, cmp);
        merge_sort(b, tmp, cmp);
    }
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) != Ordering::Greater {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    v[..tmp.len()].copy_from_slice(tmp);
}

/// Redis's `pqsort`: the BSD quicksort (Bentley and McIlroy, "Engineering
/// a Sort Function", 1993) that only recurses into parts overlapping
/// positions `lo..=hi`, which end up sorted.
fn partial_sort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &dyn Fn(&T, &T) -> Ordering) {
    let n = v.len();
    pqsort_from(v, 0, n, lo, hi, cmp);
}

fn insertion_sort<T>(v: &mut [T], a: usize, n: usize, cmp: &dyn Fn(&T, &T) -> Ordering) {
    for m in a + 1..a + n {
        let mut l = m;
        while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
            v.swap(l, l - 1);
            l -= 1;
        }
    }
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &dyn Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

fn pqsort_from<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    lo: usize,
    hi: usize,
    cmp: &dyn Fn(&T, &T) -> Ordering,
) {
    // Whether positions [s, s + m) overlap lo..=hi.
    let overlaps = |s: usize, m: usize| !(hi < s || lo >= s + m);
    loop {
        if n < 7 {
            return insertion_sort(v, a, n, cmp);
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        for k in 0..r {
            v.swap(a + k, pb - r + k);
        }
        let r = (pd - pc).min(pn - pd - 1);
        for k in 0..r {
            v.swap(pb + k, pn - r + k);
        }
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            pqsort_from(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if overlaps(a, n) {
                continue;
            }
        }
        return;
    }
}

/// Every search command (Redis's `georadiusGeneric`).
fn search_generic(ctx: &mut Ctx<'_>, v: Variant) {
    let args = ctx.args;
    let mut db = ctx.shard.store.db(ctx.db);
    let z = match read_zset(&mut db, args.get(v.src())) {
        Err(_) => return ctx.out.error(WRONGTYPE),
        Ok(z) => z,
    };
    let mut member_xy = |m: &[u8]| -> Res<[f64; 2]> {
        z.and_then(|z| z.score(m))
            .map(geohash::score_to_lonlat)
            .ok_or(Cow::Borrowed(ERR_MEMBER))
    };
    let mut q = match parse_query(&args, v, z.is_none(), &mut member_xy) {
        Ok(q) => q,
        Err(e) => return ctx.out.error(&e),
    };
    let Some(z) = z else {
        match q.store {
            Some(dst) => {
                let dst = args.get(dst);
                let deleted = db.remove(dst).is_some();
                ctx.out.int(0);
                if deleted {
                    ctx.notify(GENERIC, "del", dst);
                }
            }
            None => ctx.out.array(0),
        }
        return;
    };
    if q.count != 0 && q.sort == Sort::None && !q.any {
        q.sort = Sort::Asc;
    }
    let limit = if q.any {
        usize::try_from(q.count).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut points = Vec::with_capacity(32);
    collect(z, &q.shape, limit, &mut points);
    if points.is_empty() && q.store.is_none() {
        return ctx.out.array(0);
    }
    let len = points.len();
    let returned = if q.count == 0 || (len as u64) < q.count {
        len
    } else {
        q.count as usize
    };
    let cmp: &dyn Fn(&Point<'_>, &Point<'_>) -> Ordering = match q.sort {
        Sort::Desc => &|a, b| cmp_asc(a, b).reverse(),
        _ => &cmp_asc,
    };
    if q.sort != Sort::None {
        if returned == len {
            merge_sort(&mut points, &mut Vec::with_capacity(len), cmp);
        } else {
            partial_sort(&mut points, 0, returned - 1, cmp);
        }
    }
    let conv = q.shape.conversion;
    let Some(dst) = q.store else {
        let out = &mut ctx.out;
        let opts = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
        out.array(returned);
        for p in &points[..returned] {
            if opts > 0 {
                out.array(opts + 1);
            }
            out.bulk(p.member);
            if q.withdist {
                reply_distance(out, p.dist / conv);
            }
            if q.withhash {
                out.int(p.score as i64);
            }
            if q.withcoord {
                out.array(2);
                reply_coord(out, p.lon);
                reply_coord(out, p.lat);
            }
        }
        return;
    };
    // A NaN distance (rounding at the antipodes) cannot be a score: Redis
    // would fail an assertion inserting it; such a member is left out.
    let pairs: Vec<(Vec<u8>, f64)> = points[..returned]
        .iter()
        .map(|p| {
            let score = if q.storedist { p.dist / conv } else { p.score };
            (p.member.to_vec(), score)
        })
        .filter(|(_, s)| !s.is_nan())
        .collect();
    drop(points);
    let dst = args.get(dst);
    if pairs.is_empty() {
        let deleted = db.remove(dst).is_some();
        ctx.out.int(0);
        if deleted {
            ctx.notify(GENERIC, "del", dst);
        }
        return;
    }
    let n = pairs.len();
    db.set(
        dst,
        Value::ZSet(Box::new(ZSet::from_pairs(pairs))),
        SetTtl::Clear,
    );
    ctx.out.int(n as i64);
    let event = if v.geosearch() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    ctx.notify(ZSET, event, dst);
}

fn cmd_georadius(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::Radius);
}

fn cmd_georadius_ro(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::RadiusRo);
}

fn cmd_georadiusbymember(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::ByMember);
}

fn cmd_georadiusbymember_ro(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::ByMemberRo);
}

fn cmd_geosearch(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::Search);
}

fn cmd_geosearchstore(ctx: &mut Ctx<'_>) {
    search_generic(ctx, Variant::SearchStore);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;
    use kevy_resp::OwnedArgs;

    fn route(argv: &[&str]) -> Route {
        let args = OwnedArgs::from_slices(argv);
        let v = if argv[0].eq_ignore_ascii_case("georadius") {
            Variant::Radius
        } else {
            Variant::ByMember
        };
        search_route(args.args(), v).unwrap()
    }

    fn keys(extra: u32) -> Route {
        Route::Keys {
            first: 1,
            last: 1,
            step: 1,
            extra,
            fold: Fold::One,
        }
    }

    #[test]
    fn routes_take_the_destination_the_command_writes() {
        assert_eq!(route(&["GEORADIUS", "k", "1", "1", "1", "km"]), keys(0));
        assert_eq!(
            route(&["GEORADIUS", "k", "1", "1", "1", "km", "STORE", "d"]),
            keys(7)
        );
        // The last of STORE and STOREDIST wins, as in the command.
        assert_eq!(
            route(&[
                "GEORADIUS",
                "k",
                "1",
                "1",
                "1",
                "km",
                "STORE",
                "a",
                "storedist",
                "b"
            ]),
            keys(9)
        );
        // COUNT takes the next argument: no destination, a syntax error.
        assert_eq!(
            route(&["GEORADIUS", "k", "1", "1", "1", "km", "COUNT", "STORE", "d"]),
            keys(0)
        );
        // The member and radius are not checked without the key, so the
        // destination is locked whatever they are.
        assert_eq!(
            route(&["GEORADIUSBYMEMBER", "k", "m", "x", "parsecs", "STORE", "d"]),
            keys(6)
        );
        assert_eq!(
            route(&[
                "GEORADIUSBYMEMBER",
                "k",
                "m",
                "1",
                "km",
                "STORE",
                "d",
                "WITHDIST"
            ]),
            keys(0)
        );
    }

    fn dists(v: &[f64]) -> Vec<Point<'static>> {
        v.iter()
            .map(|&dist| Point {
                member: b"",
                score: 0.0,
                dist,
                lon: 0.0,
                lat: 0.0,
            })
            .collect()
    }

    #[test]
    fn sorts_order_by_distance_and_tolerate_nan() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0usize, 1, 6, 7, 8, 40, 41, 100, 500] {
            let mut v: Vec<f64> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 50) as f64
                })
                .collect();
            let mut want = v.clone();
            want.sort_by(f64::total_cmp);
            let mut all = dists(&v);
            merge_sort(&mut all, &mut Vec::new(), &cmp_asc);
            assert_eq!(all.iter().map(|p| p.dist).collect::<Vec<_>>(), want);
            for k in [1, 3, n / 2, n.saturating_sub(1)] {
                if k == 0 || k > n {
                    continue;
                }
                let mut part = dists(&v);
                partial_sort(&mut part, 0, k - 1, &cmp_asc);
                let got: Vec<f64> = part[..k].iter().map(|p| p.dist).collect();
                assert_eq!(got, want[..k], "n {n} k {k}");
            }
            // A NaN distance (antipodes) must not make a sort panic.
            v.push(f64::NAN);
            let mut all = dists(&v);
            merge_sort(&mut all, &mut Vec::new(), &cmp_asc);
            let mut part = dists(&v);
            partial_sort(&mut part, 0, 0, &cmp_asc);
        }
    }

    #[test]
    fn coordinates_and_distances_print_as_redis_does() {
        let render = |resp3: bool, f: &dyn Fn(&mut Reply<'_>)| {
            let mut buf = Vec::new();
            f(&mut Reply::new(&mut buf, resp3));
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(render(false, &|o| reply_coord(o, 13.5)), "$4\r\n13.5\r\n");
        assert_eq!(render(true, &|o| reply_coord(o, -0.0)), ",0\r\n");
        assert_eq!(render(true, &|o| reply_coord(o, 180.0)), ",180\r\n");
        assert_eq!(
            render(false, &|o| reply_distance(o, 166274.15156960033)),
            "$11\r\n166274.1516\r\n"
        );
        assert_eq!(
            render(false, &|o| reply_distance(o, -f64::NAN)),
            "$4\r\n-nan\r\n"
        );
        assert_eq!(
            render(false, &|o| reply_distance(o, 1e300)),
            format!("${}\r\n{:.4}\r\n", format!("{:.4}", 1e300).len(), 1e300)
        );
    }

    #[test]
    fn geoadd_then_search() {
        let mut t = T::new();
        assert_eq!(
            t.run(&[
                "GEOADD",
                "g",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania"
            ]),
            int(2)
        );
        assert_eq!(
            t.run(&[
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "100",
                "km"
            ]),
            arr(&["Catania"])
        );
        assert_eq!(
            t.run(&[
                "GEORADIUS",
                "g",
                "15",
                "37",
                "200",
                "km",
                "ASC",
                "STORE",
                "d"
            ]),
            int(2)
        );
        assert_eq!(t.run(&["ZCARD", "d"]), int(2));
        assert_eq!(
            t.run(&["GEOSEARCH", "g", "FROMLONLAT", "15", "37"]),
            "-ERR wrong number of arguments for 'geosearch' command\r\n"
        );
    }
}
