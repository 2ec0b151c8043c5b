//! `maxmemory`: keeping the whole server's allocated memory under one
//! limit while every shard evicts only its own keys.
//!
//! # What is measured
//!
//! Used memory is the allocator's: jemalloc's `stats.allocated` over every
//! thread, which INFO reports as `used_memory` (Redis's is its own
//! allocator counter too). Reading it costs tens of microseconds (jemalloc
//! merges every arena's counters), far too much for every write, so it is
//! read every 100 ms, and in between each shard follows its thread's
//! allocations, which jemalloc keeps per thread and which cost two loads
//! to read ([`kevy_sys::alloc::thread_net`]). Each shard publishes its
//! count at the end of every iteration; the estimate is the last
//! process-wide figure plus every shard's growth since, so memory one
//! shard allocates and another frees (a batch of arguments, a reply)
//! cancels out.
//!
//! # How the budget is shared
//!
//! A shard looks closer only once its own thread has grown by its share of
//! the headroom left at its last look (the headroom divided by the number
//! of shards, and at most 1/128 of the limit), so the shards together
//! cannot pass the limit by more than what they allocate within one
//! iteration before one of them looks. When a shard finds the server over
//! the limit it evicts, from its own keys, its proportional share of the
//! excess: the excess times its keyspace's share of all keyspaces' memory
//! (each shard publishes what its keyspace accounts for), and adds each
//! other shard's share to that shard's debt, which it pays (evicting from
//! its own keys) at the end of its current iteration; debts not yet paid
//! are not split again. So the excess is paid for in proportion to where
//! the data is, whichever shard sees it first, and a key is never evicted by a
//! shard that does not own it. Without the debts, the shard that applies
//! the writes would see every excess first and empty itself while the
//! others kept their old keys. A shard with no keys evicts nothing; it
//! refuses writes only if no shard has anything it may evict.
//!
//! Writes are refused (`-OOM …`) where Redis refuses them, before they are
//! routed: at the connection's home shard, for commands flagged `denyoom`,
//! for every command queued in MULTI, and for EXEC with a `denyoom`
//! command queued, when the server is over the limit after that shard
//! evicted its share and the policy is `noeviction` or nothing anywhere can
//! be evicted. The home shard looks only while the last look of any shard
//! found the server over (one flag, so admitting a write costs one load):
//! the shard that runs a write looks before it (evicting its share, never
//! refusing: the home shard decided), so the writes admitted before the
//! flag goes up are at most those in flight then. A change of `maxmemory`
//! raises the flag.
//!
//! # What is not guaranteed
//!
//! The limit can be passed by what the shards allocate between two looks
//! (one iteration's pipeline per shard, bounded by the share above); other
//! shards' growth is seen as of their last iteration, and what threads
//! other than the shards allocate (loading, the append-only log's writer)
//! only at the next process-wide read. Redis likewise lets one command's
//! allocation go over. The client buffers and the batches between shards
//! count, as Redis's query buffers do: a workload whose buffers alone pass
//! the limit gets the OOM error once nothing is left to evict. The LRU
//! clock counts seconds, as Redis's: keys touched in the same second are
//! equals to eviction.

use crate::shard::Shard;
use kevy_store::evict::Policy;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// Redis's reply to a `denyoom` command over the limit.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The settings, as CONFIG SET and the start-up flags leave them; every
/// shard reads them (Relaxed: each value stands alone, and a shard that
/// sees a change one command late is as right as any).
static MAXMEMORY: AtomicU64 = AtomicU64::new(0);
static POLICY: AtomicU8 = AtomicU8::new(0);
static SAMPLES: AtomicU32 = AtomicU32::new(5);
static TENACITY: AtomicU32 = AtomicU32::new(10);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Some shard found the server over the limit at its last look: the home
/// shards then check each write they admit (Relaxed: a hint, confirmed by
/// a fresh look before anything is refused).
static OVER: AtomicBool = AtomicBool::new(false);

/// Whether a write should be checked before it is admitted: the server
/// was over the limit at some shard's last look. The admission's whole
/// cost while `maxmemory` is set; the shard that runs the write looks
/// itself ([`due`]).
#[inline(always)]
pub fn maybe_over() -> bool {
    OVER.load(Relaxed)
}

const POLICIES: [Policy; 8] = [
    Policy::NoEviction,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
];

/// Applies a parameter of this module's; false for any other name.
pub fn configure(name: &str, value: &str) -> bool {
    let n = || value.parse::<u64>().unwrap_or(0);
    match name {
        "maxmemory" => {
            MAXMEMORY.store(n(), Relaxed);
            // The next writes look at once, whatever the last look saw.
            OVER.store(true, Relaxed);
        }
        "maxmemory-policy" => {
            if let Some(p) = Policy::from_name(value) {
                let i = POLICIES.iter().position(|&q| q == p).unwrap_or(0);
                POLICY.store(i as u8, Relaxed);
            }
        }
        "maxmemory-samples" => SAMPLES.store(n().clamp(1, 64) as u32, Relaxed),
        "maxmemory-eviction-tenacity" => TENACITY.store(n().min(100) as u32, Relaxed),
        "lfu-log-factor" => LFU_LOG_FACTOR.store(n().min(u32::MAX as u64) as u32, Relaxed),
        "lfu-decay-time" => LFU_DECAY_TIME.store(n().min(u32::MAX as u64) as u32, Relaxed),
        _ => return false,
    }
    true
}

/// `maxmemory`, 0 for none.
#[inline(always)]
pub fn maxmemory() -> u64 {
    MAXMEMORY.load(Relaxed)
}

pub fn policy() -> Policy {
    POLICIES[POLICY.load(Relaxed) as usize % POLICIES.len()]
}

/// How far a trigger is set from the thread's count to mean "at once"
/// (below it) or "never" (above it): more than any thread allocates.
const NEVER: u64 = 1 << 62;

/// Makes the shard's store stamp access clocks as the policy in force
/// says, and its writes look at memory after a change of `maxmemory`
/// (called once per reactor iteration).
#[inline]
pub fn follow_policy(shard: &mut Shard) {
    // A new `maxmemory`: look at the next write.
    let limit = maxmemory();
    if shard.mem.limit != limit {
        shard.mem.limit = limit;
        shard.mem.trigger = shard.mem.net_now().wrapping_sub(NEVER);
    }
    let a = &mut shard.store.access;
    a.set_lfu(policy().is_lfu());
    a.lfu_log_factor = LFU_LOG_FACTOR.load(Relaxed);
    a.lfu_decay_time = LFU_DECAY_TIME.load(Relaxed);
}

/// The highest allocated figure seen (INFO's `used_memory_peak`, MEMORY
/// STATS' `peak.allocated`), raised by every process-wide read.
static PEAK: AtomicU64 = AtomicU64::new(0);
/// Allocated bytes when the first shard started (`startup.allocated`).
static STARTUP: AtomicU64 = AtomicU64::new(0);

/// Raises the peak to `used`; the peak.
pub fn peak(used: u64) -> u64 {
    PEAK.fetch_max(used, Relaxed).max(used)
}

/// Notes the allocated figure at start-up, once.
pub fn note_startup() {
    let used = kevy_sys::alloc::allocated();
    let _ = STARTUP.compare_exchange(0, used, Relaxed, Relaxed);
}

pub fn startup_allocated() -> u64 {
    STARTUP.load(Relaxed)
}

/// The process's resident set size in bytes (VmRSS).
pub fn rss_bytes() -> u64 {
    let kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    kb * 1024
}

/// A shard's view of the server's memory between process-wide reads.
#[derive(Debug, Default)]
pub struct ShardMem {
    /// This thread's count at which the shard looks again; far below the
    /// count while the server was over at the last look, so that every
    /// write looks (frees alone would not bring the count back up).
    trigger: u64,
    /// The limit the trigger was set for.
    limit: u64,
    /// This thread's allocation counters, when the shard was made on the
    /// thread that runs it (a reactor's shard always is).
    counters: Option<kevy_sys::alloc::ThreadCounters>,
    /// Bytes freed beyond the shares asked so far ([`evict_bytes`]).
    credit: i64,
}

/// Whether the shard should look at the server's memory before a write:
/// its thread grew past its share of the headroom, it was over at its
/// last look, or `maxmemory` changed since (never while there is no
/// limit). The hot path's whole cost.
#[inline(always)]
pub fn due(shard: &Shard) -> bool {
    let m = &shard.mem;
    m.net_now().wrapping_sub(m.trigger) as i64 >= 0
}

impl ShardMem {
    /// For a shard made on the thread that runs it.
    pub fn on_this_thread() -> ShardMem {
        let counters = kevy_sys::alloc::ThreadCounters::of_this_thread();
        let mut m = ShardMem {
            counters,
            ..Default::default()
        };
        m.trigger = m.net_now().wrapping_add(NEVER);
        m
    }

    #[inline(always)]
    fn net_now(&self) -> u64 {
        match self.counters {
            Some(c) => c.net(),
            None => kevy_sys::alloc::thread_net(),
        }
    }
}

/// How often the process-wide figure is read again (ms): what threads
/// other than the shards allocate is seen this late.
const REBASE_MS: u64 = 100;

/// The process-wide figure at the last read, and when it was taken (the
/// store clock, unix ms). Each shard's thread count at that moment is in
/// its `ShardPublished::net_at_base`.
static BASE_USED: AtomicU64 = AtomicU64::new(0);
static BASE_AT: AtomicU64 = AtomicU64::new(0);

/// Reads the process-wide figure again, if the last read is older than
/// [`REBASE_MS`] (one shard does, the others go on with the old one).
fn rebase(shard: &Shard, server: &crate::server::Server, now: u64) {
    let at = BASE_AT.load(Relaxed);
    if now < at + REBASE_MS && BASE_USED.load(Relaxed) != 0 {
        return;
    }
    if BASE_AT
        .compare_exchange(at, now.max(at + 1), Relaxed, Relaxed)
        .is_err()
    {
        return;
    }
    server.published[shard.id]
        .thread_net
        .store(shard.mem.net_now(), Relaxed);
    let used = kevy_sys::alloc::allocated();
    for p in &server.published {
        p.net_at_base.store(p.thread_net.load(Relaxed), Relaxed);
    }
    BASE_USED.store(used, Relaxed);
    peak(used);
}

/// The server's allocated bytes now: the last process-wide read plus what
/// each shard's thread allocated (less what it freed) since, this one's
/// counted now and the others' as they published it at the end of their
/// last iteration. Memory one shard hands to another and that one frees
/// cancels out in the sum.
fn estimate(shard: &Shard) -> i64 {
    let Some(server) = &shard.server else {
        return kevy_sys::alloc::allocated() as i64;
    };
    rebase(shard, server, shard.store.now());
    let mut used = BASE_USED.load(Relaxed) as i64;
    for (i, p) in server.published.iter().enumerate() {
        let net = if i == shard.id {
            shard.mem.net_now()
        } else {
            p.thread_net.load(Relaxed)
        };
        used += net.wrapping_sub(p.net_at_base.load(Relaxed)) as i64;
    }
    used
}

/// Publishes the shard's thread count for the others' estimates (at the
/// end of each iteration while `maxmemory` is set).
#[inline]
pub fn publish(shard: &Shard) {
    if let Some(server) = &shard.server {
        server.published[shard.id]
            .thread_net
            .store(shard.mem.net_now(), Relaxed);
    }
}

/// Bytes the server is over the limit (≤ 0: under), setting when to look
/// next.
fn over(shard: &mut Shard, limit: u64) -> i64 {
    let over = estimate(shard) - limit as i64;
    let net = shard.mem.net_now();
    let m = &mut shard.mem;
    m.trigger = if over > 0 {
        net.wrapping_sub(NEVER)
    } else {
        let share = (-over) as u64 / shard.nshards.max(1) as u64;
        net.wrapping_add(share.min(limit / 128))
    };
    m.limit = limit;
    if (over > 0) != OVER.load(Relaxed) {
        OVER.store(over > 0, Relaxed);
    }
    over
}

/// Redis's `evictionTimeLimitUs`: how long one call may evict, from
/// `maxmemory-eviction-tenacity` (10: 500 µs; each step above 10 adds
/// 15%; 100: no limit).
fn time_limit() -> Option<std::time::Duration> {
    let t = TENACITY.load(Relaxed);
    if t >= 100 {
        return None;
    }
    let us = if t <= 10 {
        50.0 * f64::from(t)
    } else {
        500.0 * 1.15f64.powi(t as i32 - 10)
    };
    Some(std::time::Duration::from_micros(us as u64))
}

/// Splits `over` bytes between the shards in proportion to their
/// keyspaces: each other shard's share is added to its debt, which it pays
/// at the end of its iteration, and this shard evicts its own share now.
/// Debts still unpaid are excess already being dealt with, so only the
/// rest is split: a shard that looks more often than the others (the home
/// of the writing connections) does not pay more. How many keys it
/// evicted.
fn evict_share(shard: &mut Shard, over: i64, policy: Policy) -> u64 {
    let Some(server) = shard.server.clone() else {
        return evict_bytes(shard, over, policy);
    };
    // As published at the end of the last iteration, like the others'.
    let mine = server.published[shard.id].used_memory.load(Relaxed);
    let others = || (0..server.published.len()).filter(|&i| i != shard.id);
    let owed: u64 = others()
        .map(|i| server.published[i].evict_debt.load(Relaxed))
        .sum();
    let over = over - owed as i64;
    if over <= 0 {
        return 0;
    }
    let used = |i: usize| {
        if i == shard.id {
            mine
        } else {
            server.published[i].used_memory.load(Relaxed)
        }
    };
    let total: u64 = (0..server.published.len()).map(used).sum();
    if total == 0 {
        return evict_bytes(shard, over, policy);
    }
    let share = |i: usize| (over as u128 * used(i) as u128 / total as u128) as u64;
    for i in others() {
        server.published[i].evict_debt.fetch_add(share(i), Relaxed);
    }
    evict_bytes(shard, share(shard.id) as i64, policy)
}

/// Whether another shard asked this one to evict.
#[inline]
pub fn in_debt(shard: &Shard) -> bool {
    shard
        .server
        .as_ref()
        .is_some_and(|s| s.published[shard.id].evict_debt.load(Relaxed) != 0)
}

/// Evicts what other shards asked of this one (its share of an excess
/// they saw).
#[cold]
#[inline(never)]
pub fn pay_debt(shard: &mut Shard) {
    let Some(server) = shard.server.clone() else {
        return;
    };
    let debt = server.published[shard.id].evict_debt.swap(0, Relaxed);
    let limit = maxmemory();
    let policy = policy();
    // The excess the debt was asked for may be gone by now because the
    // shard that saw it paid its own share, or because it was the peak of
    // a pipeline in flight: still paid, or that shard would pay for every
    // excess alone. A debt is dropped when memory has since gone well under.
    if limit == 0 || policy == Policy::NoEviction || over(shard, limit) <= -(debt as i64) {
        return;
    }
    evict_bytes(shard, debt as i64, policy);
    over(shard, limit);
}

/// Evicts keys until `share` bytes are freed on this thread, within
/// `maxmemory-eviction-tenacity`'s time; how many it evicted. Keys come
/// whole, so a share is mostly overpaid: the surplus is kept as credit
/// against the next shares, or the shard asked most often (the one
/// applying the writes) would lose a key per small share and empty
/// itself while the others kept their keys.
fn evict_bytes(shard: &mut Shard, share: i64, policy: Policy) -> u64 {
    if share <= 0 {
        return 0;
    }
    let credit = shard.mem.credit.max(0);
    if credit >= share {
        shard.mem.credit = credit - share;
        return 0;
    }
    let share = share - credit;
    let samples = SAMPLES.load(Relaxed) as usize;
    let limit = time_limit();
    let start = std::time::Instant::now();
    let before = shard.mem.net_now();
    let mut evicted: u64 = 0;
    while (before.wrapping_sub(shard.mem.net_now()) as i64) < share {
        if !shard.store.evict_one(policy, samples) {
            break;
        }
        evicted += 1;
        if evicted.is_multiple_of(16) && limit.is_some_and(|l| start.elapsed() > l) {
            break;
        }
    }
    shard.mem.credit = before.wrapping_sub(shard.mem.net_now()) as i64 - share;
    evicted
}

/// Before a write runs on the shard that owns its keys: evicts the
/// shard's share when the server is over the limit. Never refuses.
#[cold]
#[inline(never)]
pub fn before_write(shard: &mut Shard) {
    let limit = maxmemory();
    if limit == 0 {
        shard.mem.trigger = shard.mem.net_now().wrapping_add(NEVER);
        return;
    }
    let over = over(shard, limit);
    let policy = policy();
    if over > 0 && policy != Policy::NoEviction && evict_share(shard, over, policy) > 0 {
        // What was freed shows in this thread's count: look again.
        self::over(shard, limit);
    }
}

/// At the connection's home shard, before a command that needs memory is
/// routed (Redis's `processCommand` check): evicts the shard's share, then
/// refuses with [`OOM`] when still over the limit and nothing may be
/// evicted.
#[cold]
#[inline(never)]
pub fn admit(shard: &mut Shard) -> Result<(), &'static str> {
    let limit = maxmemory();
    if limit == 0 {
        OVER.store(false, Relaxed);
        return Ok(());
    }
    let policy = policy();
    let mut over = over(shard, limit);
    if over > 0 && policy != Policy::NoEviction && evict_share(shard, over, policy) > 0 {
        over = self::over(shard, limit);
    }
    if over <= 0 {
        return Ok(());
    }
    if policy == Policy::NoEviction || !evictable_anywhere(shard, policy) {
        return Err(OOM);
    }
    Ok(())
}

/// Some shard holds a key the policy may evict (as last published).
fn evictable_anywhere(shard: &Shard, policy: Policy) -> bool {
    let Some(server) = &shard.server else {
        return false;
    };
    server.published.iter().any(|p| {
        let counts = if policy.volatile() {
            &p.expires
        } else {
            &p.keys
        };
        counts.iter().any(|c| c.load(Relaxed) > 0)
    })
}

/// The shard's tick: evicts its share if its thread grew past its share
/// of the headroom without a write to look (other shards' excess reaches
/// it as debts).
pub fn tick(shard: &mut Shard) {
    if due(shard) {
        before_write(shard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenacity_gives_redis_time_limits() {
        TENACITY.store(10, Relaxed);
        assert_eq!(time_limit(), Some(std::time::Duration::from_micros(500)));
        TENACITY.store(1, Relaxed);
        assert_eq!(time_limit(), Some(std::time::Duration::from_micros(50)));
        TENACITY.store(100, Relaxed);
        assert_eq!(time_limit(), None);
        TENACITY.store(10, Relaxed);
    }
}
