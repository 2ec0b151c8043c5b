//! The MEMORY family (Redis's `memoryCommand` in object.c): USAGE of one
//! key, STATS and DOCTOR over the server, the allocator's own report
//! (MALLOC-STATS) and PURGE.
//!
//! MEMORY USAGE is computed, not sampled: each structure already knows
//! its heap size in jemalloc's size classes (the update path keeps the
//! keyspace's account with the same figures), so the answer is the key's
//! node in the keyspace dict (key and small values inline), the key's own
//! heap buffer when it is longer than the node holds, and the value's
//! heap, in O(1) whatever the size. SAMPLES is checked as Redis checks it
//! and has nothing to change. The figures are kevy's own layout: a short
//! string costs one 80-byte node where Redis has a 24-byte dict entry, a
//! robj and an sds (about 56 bytes), and a large value costs what its
//! buffer takes in both.
//!
//! MEMORY STATS reports Redis's fields from the allocator's figures
//! (jemalloc's allocated, active and resident bytes, the process's RSS)
//! and from what the shards publish about their keyspaces. Each
//! database's hash-table overhead is its key and TTL counts times the
//! node and bucket sizes; `clients.normal` is what is allocated beyond
//! the start-up figure, the keyspaces and those tables: connection
//! buffers, the rings between shards and scripts.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::families::common::c_str;
use crate::server::DATABASES;
use crate::table::{CommandSpec, Handler, RouteKind, Table};
use kevy_resp::{Args, Reply};
use kevy_rt::{ClientCtx, Fold, Route};
use kevy_store::num::parse_i64;
use kevy_store::{Db, OpError, OpResult};

/// Registers the family (arity, flags and ACL categories as Redis 7.0's).
pub fn register(t: &mut Table) {
    // MEMORY is a container like OBJECT: USAGE's key is at position 2,
    // which `route_memory` returns; PURGE runs on every shard, so each
    // empties its own thread's allocator cache.
    t.add(CommandSpec {
        name: "memory",
        arity: -2,
        flags: 0,
        first: 0,
        last: 0,
        step: 0,
        acl: &["@slow"],
        route: RouteKind::Custom(route_memory),
        run: Handler::Shard(cmd_memory),
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    Doctor,
    Help,
    MallocStats,
    Purge,
    Stats,
    Usage,
}

/// Subcommands: name, subcommand, arity (counting MEMORY itself; negative:
/// at least).
const SUBS: &[(&str, Sub, i32)] = &[
    ("doctor", Sub::Doctor, 2),
    ("help", Sub::Help, 2),
    ("malloc-stats", Sub::MallocStats, 2),
    ("purge", Sub::Purge, 2),
    ("stats", Sub::Stats, 2),
    ("usage", Sub::Usage, -3),
];

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

fn parse(args: &Args<'_>) -> Result<Sub, String> {
    let sub = args.get(1);
    let Some(&(name, which, arity)) = SUBS
        .iter()
        .find(|(name, ..)| name.as_bytes().eq_ignore_ascii_case(sub))
    else {
        return Err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            c_str(sub, 128),
            c_str(args.get(0), usize::MAX).to_ascii_uppercase()
        ));
    };
    let n = args.len() as i32;
    if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
        return Err(format!(
            "ERR wrong number of arguments for 'memory|{name}' command"
        ));
    }
    Ok(which)
}

fn route_memory(args: Args<'_>, _: &ClientCtx, _: usize) -> Result<Route, String> {
    Ok(match parse(&args)? {
        Sub::Usage => Route::Keys {
            first: 2,
            last: 2,
            step: 1,
            extra: 0,
            fold: Fold::One,
        },
        Sub::Purge => Route::All(Fold::AllOk),
        _ => Route::Conn,
    })
}

fn cmd_memory(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let sub = match parse(&args) {
        Ok(s) => s,
        Err(e) => return ctx.out.error(&e),
    };
    match sub {
        Sub::Help => super::common::help_reply(&mut ctx.out, args.get(0), HELP),
        Sub::Usage => match usage_samples(&args).and_then(|_| {
            let mut db = ctx.shard.store.db(ctx.db);
            op_usage(&mut db, args.get(2))
        }) {
            Ok(Some(n)) => ctx.out.int(n as i64),
            Ok(None) => ctx.out.null(),
            Err(e) => reply_error(&mut ctx.out, e),
        },
        Sub::Purge => {
            kevy_sys::alloc::purge();
            ctx.out.ok();
        }
        Sub::MallocStats => ctx
            .out
            .verbatim(b"txt", kevy_sys::alloc::stats_text().as_bytes()),
        Sub::Stats => stats(ctx),
        Sub::Doctor => {
            let report = doctor(&overhead(ctx));
            ctx.out.verbatim(b"txt", report.as_bytes());
        }
    }
}

/// USAGE's options: `SAMPLES <count>` any number of times, the count a
/// non-negative integer; anything else is a syntax error.
fn usage_samples(args: &Args<'_>) -> OpResult<()> {
    let mut j = 3;
    while j < args.len() {
        if !args.get(j).eq_ignore_ascii_case(b"samples") || j + 1 >= args.len() {
            return Err(OpError::Syntax);
        }
        let n = parse_i64(args.get(j + 1)).ok_or(OpError::NotInteger)?;
        if n < 0 {
            return Err(OpError::Syntax);
        }
        j += 2;
    }
    Ok(())
}

/// Bytes `key` and its value take (see the module doc); `None` when the
/// key does not exist. Leaves the access clock and statistics alone.
pub fn op_usage(db: &mut Db<'_>, key: &[u8]) -> OpResult<Option<usize>> {
    if !db.contains(key) {
        return Ok(None);
    }
    let Some(e) = db.peek_notouch(key) else {
        return Ok(None);
    };
    let node = kevy_store::malloc_size(kevy_store::Dict::<kevy_store::Entry>::NODE_SIZE);
    let long_key = if key.len() > kevy_store::bytes::INLINE_CAP {
        kevy_store::malloc_size(key.len())
    } else {
        0
    };
    Ok(Some(node + long_key + e.value.heap_bytes()))
}

/// The figures MEMORY STATS and DOCTOR report (Redis's
/// `redisMemOverhead`).
struct Overhead {
    peak: u64,
    total: u64,
    startup: u64,
    clients: u64,
    /// Per database with keys: index, main table, expires table.
    dbs: Vec<(usize, u64, u64)>,
    overhead_total: u64,
    keys: u64,
    dataset: u64,
    alloc: kevy_sys::alloc::Stats,
    rss: u64,
}

/// Bytes the keyspace dict takes per key beyond the value's own heap: the
/// node and one bucket; the TTL dict's node and bucket.
const MAIN_PER_KEY: u64 = 80 + 8;
const EXPIRES_PER_KEY: u64 = 48 + 8;

fn overhead(ctx: &Ctx<'_>) -> Overhead {
    let alloc = kevy_sys::alloc::stats();
    let total = alloc.allocated;
    let peak = crate::evict::peak(total);
    let startup = crate::evict::startup_allocated().min(total);
    let mut dbs = Vec::new();
    let mut keys = 0;
    let mut dataset_accounted = 0;
    if let Some(server) = &ctx.shard.server {
        for db in 0..DATABASES {
            let k = server.sum_published(|p| &p.keys[db]);
            let e = server.sum_published(|p| &p.expires[db]);
            if k > 0 {
                dbs.push((db, k * MAIN_PER_KEY, e * EXPIRES_PER_KEY));
                keys += k;
            }
        }
        dataset_accounted = server.sum_published(|p| &p.used_memory);
    }
    let tables: u64 = dbs.iter().map(|&(_, m, e)| m + e).sum();
    // The keyspaces' account includes the tables; what lies beyond them
    // and the start-up figure is the connections' and the runtime's.
    let clients = total
        .saturating_sub(startup)
        .saturating_sub(dataset_accounted.max(tables));
    let overhead_total = startup + clients + tables;
    Overhead {
        peak,
        total,
        startup,
        clients,
        dbs,
        overhead_total,
        keys,
        dataset: total.saturating_sub(overhead_total),
        alloc,
        rss: crate::evict::rss_bytes(),
    }
}

/// A ratio as Redis computes it: a C float, printed as a double.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a as f32 / b as f32)
    }
}

fn stats(ctx: &mut Ctx<'_>) {
    let o = overhead(ctx);
    let net = o.total.saturating_sub(o.startup);
    let out = &mut ctx.out;
    out.map(27 + o.dbs.len());
    let int = |out: &mut Reply<'_>, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(v.min(i64::MAX as u64) as i64);
    };
    int(out, "peak.allocated", o.peak);
    int(out, "total.allocated", o.total);
    int(out, "startup.allocated", o.startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", o.clients);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for &(db, main, expires) in &o.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main);
        int(out, "overhead.hashtable.expires", expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.overhead_total);
    int(out, "keys.count", o.keys);
    int(
        out,
        "keys.bytes-per-key",
        net.checked_div(o.keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", o.dataset);
    let float = |out: &mut Reply<'_>, name: &str, v: f64| {
        out.bulk(name.as_bytes());
        out.double(v);
    };
    float(out, "dataset.percentage", ratio(o.dataset, net) * 100.0);
    float(out, "peak.percentage", ratio(o.total, o.peak) * 100.0);
    let a = o.alloc;
    int(out, "allocator.allocated", a.allocated);
    int(out, "allocator.active", a.active);
    int(out, "allocator.resident", a.resident);
    float(
        out,
        "allocator-fragmentation.ratio",
        ratio(a.active, a.allocated),
    );
    int(
        out,
        "allocator-fragmentation.bytes",
        a.active.saturating_sub(a.allocated),
    );
    float(out, "allocator-rss.ratio", ratio(a.resident, a.active));
    int(
        out,
        "allocator-rss.bytes",
        a.resident.saturating_sub(a.active),
    );
    float(out, "rss-overhead.ratio", ratio(o.rss, a.resident));
    int(out, "rss-overhead.bytes", o.rss.saturating_sub(a.resident));
    float(out, "fragmentation", ratio(o.rss, o.total));
    int(out, "fragmentation.bytes", o.rss.saturating_sub(o.total));
}

/// Redis's `getMemoryDoctorReport`: the same checks and thresholds, over
/// the figures kevy has (no replicas; scripts are not counted apart).
fn doctor(o: &Overhead) -> String {
    const MB: u64 = 1 << 20;
    if o.total < 5 * MB {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let a = o.alloc;
    let over = |x: u64, y: u64, r: f64| ratio(x, y) > r && x.saturating_sub(y) > 10 * MB;
    let mut issues = Vec::new();
    if ratio(o.peak, o.total) > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    if over(o.rss, o.total, 1.4) {
        issues.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n", kevy_sys::alloc::name()));
    }
    if over(a.active, a.allocated, 1.1) {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".to_string());
    }
    if over(a.resident, a.active, 1.1) {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if over(o.rss, a.resident, 1.1) {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n".to_string());
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for i in issues {
        s.push_str(&i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}
