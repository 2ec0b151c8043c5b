//! Command statistics taken at the execution point: calls, time, rejected
//! and failed calls and a latency histogram per command (INFO
//! commandstats and latencystats), error replies by kind (INFO
//! errorstats), and the slow log.
//!
//! Each shard writes only its own counters, with plain loads and stores of
//! relaxed atomics (a single writer needs no read-modify-write), so timing
//! every command costs a few instructions and no cache line is shared
//! between cores. Readers (INFO, SLOWLOG) sum the shards. CONFIG RESETSTAT
//! never writes a shard's counters: it records a baseline that readers
//! subtract, so no reset can race with a shard's increment.

use kevy_resp::Args;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

/// Distinct error kinds errorstats tracks (Redis's `ERROR_STATS_NUMBER`).
pub const MAX_ERROR_KINDS: usize = 128;
/// Arguments and bytes per argument a slow log entry keeps (Redis's
/// `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`).
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

/// Sub-buckets per power of two in the latency histogram: values are kept
/// to within 1/16 (about 6 %). Durations are counted in cycles of
/// `kevy_sys::clock::cycles` and converted to time only when read, which
/// keeps the per-command cost to a few instructions.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered, in cycles: up to 2^44 (over an hour at 4 GHz).
const MAX_POW: u32 = 44;
pub const BUCKETS: usize = ((MAX_POW - SUB_BITS + 2) as u64 * SUB) as usize;

/// The histogram bucket of a duration.
#[inline]
fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let pow = (63 - ns.leading_zeros()).min(MAX_POW);
    let sub = (ns >> (pow - SUB_BITS)) & (SUB - 1);
    ((pow - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The largest duration bucket `b` holds.
fn bucket_high(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let pow = (b / SUB - 1) as u32 + SUB_BITS;
    let sub = b % SUB;
    ((SUB + sub + 1) << (pow - SUB_BITS)) - 1
}

/// A relaxed counter with one writer.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Takes back what an `add` of `n` counted.
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }
}

/// One run recorded while a MULTI block's attempt may still be taken back
/// (kevy-rt's crate doc, "Scripts inside MULTI"): a block that is undone
/// runs again, and only the run that answers counts, as in Redis.
#[derive(Clone)]
pub struct Recorded {
    slot: u16,
    part: u32,
    cycles: u64,
    /// The error's text (no `-`) when the run answered one.
    error: Option<Box<[u8]>>,
}

impl Recorded {
    pub fn new(slot: u16, part: u32, cycles: u64, reply: &[u8]) -> Self {
        let error = match reply.first() {
            Some(b'-') => Some(reply[1..].into()),
            _ => None,
        };
        Recorded {
            slot,
            part,
            cycles,
            error,
        }
    }
}

/// One command's latency histogram on one shard.
pub struct Histogram {
    pub buckets: Box<[Counter]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| Counter::default()).collect(),
        }
    }
}

/// One command's counters on one shard.
#[derive(Default)]
pub struct CmdCounters {
    pub calls: Counter,
    /// Time, in cycles.
    pub cycles: Counter,
    pub rejected: Counter,
    pub failed: Counter,
    /// Allocated on the command's first call.
    pub hist: OnceLock<Histogram>,
}

/// A slow log entry (SLOWLOG GET's shape).
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub usec: u64,
    pub argv: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

/// One shard's statistics.
pub struct ShardCounters {
    pub cmds: Box<[CmdCounters]>,
    /// Error replies by kind (the first word of the error), and the total.
    pub errors: Mutex<Vec<(String, u64)>>,
    pub error_replies: Counter,
    pub slowlog: Mutex<VecDeque<SlowEntry>>,
}

/// What CONFIG RESETSTAT saw, subtracted by readers.
#[derive(Default)]
struct Baseline {
    calls: Vec<u64>,
    cycles: Vec<u64>,
    rejected: Vec<u64>,
    failed: Vec<u64>,
    hist: Vec<Option<Vec<u64>>>,
    errors: Vec<(String, u64)>,
    error_replies: u64,
}

/// Every shard's command statistics and the slow log settings.
pub struct CommandStats {
    pub shards: Vec<ShardCounters>,
    ncmds: usize,
    baseline: Mutex<Baseline>,
    /// `slowlog-log-slower-than` in µs (negative: off), and in cycles of
    /// `kevy_sys::clock::cycles` for the hot path's comparison.
    slower_than_us: AtomicI64,
    slower_than_cycles: AtomicU64,
    /// `latency-monitor-threshold` in cycles (`u64::MAX`: off), and the
    /// smaller of the two, the one comparison the hot path makes.
    latency_cycles: AtomicU64,
    alert_cycles: AtomicU64,
    pub slowlog_max_len: AtomicU64,
    next_slow_id: AtomicU64,
}

/// Totals over every shard for one command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CmdTotals {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

impl CommandStats {
    pub fn new(nshards: usize, ncmds: usize) -> Self {
        let s = CommandStats {
            shards: (0..nshards)
                .map(|_| ShardCounters {
                    cmds: (0..ncmds).map(|_| CmdCounters::default()).collect(),
                    errors: Mutex::new(Vec::new()),
                    error_replies: Counter::default(),
                    slowlog: Mutex::new(VecDeque::new()),
                })
                .collect(),
            ncmds,
            baseline: Mutex::new(Baseline::default()),
            slower_than_us: AtomicI64::new(0),
            slower_than_cycles: AtomicU64::new(0),
            latency_cycles: AtomicU64::new(u64::MAX),
            alert_cycles: AtomicU64::new(0),
            slowlog_max_len: AtomicU64::new(128),
            next_slow_id: AtomicU64::new(0),
        };
        s.set_slower_than(10_000);
        s
    }

    /// Sets `slowlog-log-slower-than` (µs; negative turns the log off).
    pub fn set_slower_than(&self, us: i64) {
        self.slower_than_us.store(us, Relaxed);
        let cycles = if us < 0 {
            u64::MAX
        } else {
            cycles_for_ns(us as u64 * 1000)
        };
        self.slower_than_cycles.store(cycles, Relaxed);
        self.update_alert();
    }

    /// Sets `latency-monitor-threshold` (ms; 0 turns the monitor off). A
    /// run of at least that many whole milliseconds is a spike.
    pub fn set_latency_threshold(&self, ms: u64) {
        let cycles = if ms == 0 {
            u64::MAX
        } else {
            cycles_for_ns(ms.saturating_mul(1_000_000)).saturating_sub(1)
        };
        self.latency_cycles.store(cycles, Relaxed);
        self.update_alert();
    }

    fn update_alert(&self) {
        let a = self.slower_than_cycles.load(Relaxed);
        let b = self.latency_cycles.load(Relaxed);
        self.alert_cycles.store(a.min(b), Relaxed);
    }

    /// Whether a run of `cycles` is a latency spike.
    pub fn is_spike(&self, cycles: u64) -> bool {
        cycles > self.latency_cycles.load(Relaxed)
    }

    pub fn slower_than(&self) -> i64 {
        self.slower_than_us.load(Relaxed)
    }

    /// Records one command's run on `shard`: `part` > 0 is a further part
    /// of a command split over shards (its time counts, not a call).
    #[inline(always)]
    pub fn record(&self, shard: usize, cmd: u16, part: u32, cycles: u64) {
        let c = &self.shards[shard].cmds[cmd as usize];
        c.cycles.add(cycles);
        if part == 0 {
            c.calls.add(1);
            c.hist.get_or_init(Histogram::default).buckets[bucket(cycles)].add(1);
        }
    }

    /// Counts a run `record`ed earlier into `r` on `shard` (a script's
    /// `redis.call` once its run is known to count), and keeps it in
    /// `attempt` when the block it ran in may be taken back.
    pub fn note(&self, attempt: &mut Option<Vec<Recorded>>, shard: usize, r: &Recorded) {
        self.record(shard, r.slot, r.part, r.cycles);
        if let Some(msg) = &r.error {
            self.failed(shard, r.slot);
            self.error_reply(shard, msg);
        }
        if let Some(runs) = attempt {
            runs.push(r.clone());
        }
    }

    /// Takes back a run counted by `record` (and `failed` and
    /// `error_reply`) on `shard`.
    pub fn unrecord(&self, shard: usize, r: &Recorded) {
        let s = &self.shards[shard];
        let c = &s.cmds[r.slot as usize];
        c.cycles.sub(r.cycles);
        if r.part == 0 {
            c.calls.sub(1);
            if let Some(h) = c.hist.get() {
                h.buckets[bucket(r.cycles)].sub(1);
            }
        }
        let Some(msg) = &r.error else {
            return;
        };
        c.failed.sub(1);
        s.error_replies.sub(1);
        let kind = error_kind(msg);
        let mut errors = s.errors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = errors.iter().position(|e| e.0 == kind) {
            errors[i].1 -= 1;
            if errors[i].1 == 0 {
                errors.remove(i);
            }
        }
    }

    /// A command that ran answered an error.
    pub fn failed(&self, shard: usize, cmd: u16) {
        self.shards[shard].cmds[cmd as usize].failed.add(1);
    }

    /// Whether a run of `cycles` belongs in the slow log.
    pub fn is_slow(&self, cycles: u64) -> bool {
        cycles > self.slower_than_cycles.load(Relaxed)
    }

    /// Whether a run of `cycles` belongs in the slow log or the latency
    /// monitor: the one test every command pays.
    #[inline(always)]
    pub fn needs_look(&self, cycles: u64) -> bool {
        cycles > self.alert_cycles.load(Relaxed)
    }

    /// A command refused before it ran; `cmd` when it is a known one.
    pub fn rejected(&self, shard: usize, cmd: Option<u16>) {
        if let Some(cmd) = cmd {
            self.shards[shard].cmds[cmd as usize].rejected.add(1);
        }
    }

    /// Counts an error reply by its kind (the first word of `msg`, the
    /// error's text without the leading `-`).
    pub fn error_reply(&self, shard: usize, msg: &[u8]) {
        let s = &self.shards[shard];
        s.error_replies.add(1);
        let kind = error_kind(msg);
        let mut errors = s.errors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = errors.iter_mut().find(|e| e.0 == kind) {
            e.1 += 1;
        } else if errors.len() < MAX_ERROR_KINDS {
            errors.push((kind.into_owned(), 1));
        }
    }

    /// Adds a slow log entry on `shard`.
    pub fn log_slow(&self, shard: usize, cycles: u64, args: Args<'_>, addr: String, name: &[u8]) {
        let max = self.slowlog_max_len.load(Relaxed) as usize;
        if max == 0 {
            return;
        }
        let argc = args.len().min(SLOWLOG_MAX_ARGC);
        let mut argv = Vec::with_capacity(argc);
        for (i, a) in args.iter().enumerate().take(argc) {
            if i == argc - 1 && argc < args.len() {
                let more = args.len() - argc + 1;
                argv.push(format!("... ({more} more arguments)").into_bytes());
            } else if a.len() > SLOWLOG_MAX_STRING {
                let mut v = a[..SLOWLOG_MAX_STRING].to_vec();
                let more = a.len() - SLOWLOG_MAX_STRING;
                v.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                argv.push(v);
            } else {
                argv.push(a.to_vec());
            }
        }
        let entry = SlowEntry {
            id: self.next_slow_id.fetch_add(1, Relaxed),
            unix_secs: kevy_sys::clock::unix_ms() / 1000,
            usec: kevy_sys::clock::cycles_to_ns(cycles) / 1000,
            argv,
            addr,
            name: name.to_vec(),
        };
        let mut log = self.shards[shard]
            .slowlog
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        log.push_front(entry);
        log.truncate(max);
    }

    /// The `count` most recent slow log entries of every shard, newest
    /// first.
    pub fn slowlog(&self, count: usize) -> Vec<SlowEntry> {
        let max = self.slowlog_max_len.load(Relaxed) as usize;
        let mut all: Vec<SlowEntry> = Vec::new();
        for s in &self.shards {
            let mut log = s.slowlog.lock().unwrap_or_else(|e| e.into_inner());
            // A lowered slowlog-max-len applies to what is already logged.
            log.truncate(max);
            all.extend(log.iter().cloned());
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        all.truncate(count.min(max));
        all
    }

    pub fn slowlog_len(&self) -> usize {
        let max = self.slowlog_max_len.load(Relaxed) as usize;
        let n: usize = self
            .shards
            .iter()
            .map(|s| s.slowlog.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum();
        n.min(max)
    }

    pub fn slowlog_reset(&self) {
        for s in &self.shards {
            s.slowlog.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// One command's totals over every shard since the last reset.
    pub fn totals(&self, cmd: u16) -> CmdTotals {
        let b = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        let i = cmd as usize;
        let sum = |f: &dyn Fn(&CmdCounters) -> u64| -> u64 {
            self.shards.iter().map(|s| f(&s.cmds[i])).sum()
        };
        let base = |v: &Vec<u64>| v.get(i).copied().unwrap_or(0);
        CmdTotals {
            calls: sum(&|c| c.calls.get()).saturating_sub(base(&b.calls)),
            usec: kevy_sys::clock::cycles_to_ns(
                sum(&|c| c.cycles.get()).saturating_sub(base(&b.cycles)),
            ) / 1000,
            rejected: sum(&|c| c.rejected.get()).saturating_sub(base(&b.rejected)),
            failed: sum(&|c| c.failed.get()).saturating_sub(base(&b.failed)),
        }
    }

    /// Latency percentiles (µs) of one command since the last reset; `None`
    /// when it has no calls.
    pub fn percentiles(&self, cmd: u16, ps: &[f64]) -> Option<Vec<f64>> {
        let counts = self.histogram(cmd)?;
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(
            ps.iter()
                .map(|&p| {
                    // The smallest value with at least p % of the calls at
                    // or below it (HdrHistogram's value_at_percentile).
                    let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
                    let mut seen = 0;
                    for (b, &c) in counts.iter().enumerate() {
                        seen += c;
                        if seen >= want {
                            return usec(bucket_high(b));
                        }
                    }
                    usec(bucket_high(BUCKETS - 1))
                })
                .collect(),
        )
    }

    /// Command `cmd`'s histogram summed over the shards since the last
    /// reset; `None` when it has never run.
    fn histogram(&self, cmd: u16) -> Option<Vec<u64>> {
        let b = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        let i = cmd as usize;
        let mut counts = vec![0u64; BUCKETS];
        let mut any = false;
        for s in &self.shards {
            if let Some(h) = s.cmds[i].hist.get() {
                any = true;
                for (c, b) in counts.iter_mut().zip(h.buckets.iter()) {
                    *c += b.get();
                }
            }
        }
        if !any {
            return None;
        }
        if let Some(Some(base)) = b.hist.get(i) {
            for (c, b) in counts.iter_mut().zip(base) {
                *c = c.saturating_sub(*b);
            }
        }
        Some(counts)
    }

    /// LATENCY HISTOGRAM's figures for command `cmd`: calls, and the
    /// cumulative count at each power-of-two bucket that adds calls, keyed
    /// by the bucket's upper bound in µs as Redis's HdrHistogram log
    /// iteration reports it (1, 2, 4, 8, 16, 33, 66, …: 2^k ns plus the
    /// sub-bucket width of two significant figures, for k ≥ 10). `None`
    /// when it has never run.
    pub fn cumulative_usec(&self, cmd: u16) -> Option<(u64, Vec<(u64, u64)>)> {
        let counts = self.histogram(cmd)?;
        let calls: u64 = counts.iter().sum();
        if calls == 0 {
            return None;
        }
        let level_ns = |k: u32| (1u64 << k) + (1u64 << (k - 7)) - 1;
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut k = 10;
        let mut seen = 0;
        for (b, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let ns = kevy_sys::clock::cycles_to_ns(bucket_high(b));
            while level_ns(k) < ns && k < 62 {
                k += 1;
            }
            seen += c;
            let us = level_ns(k) / 1000;
            match out.last_mut() {
                Some(last) if last.0 == us => last.1 = seen,
                _ => out.push((us, seen)),
            }
        }
        Some((calls, out))
    }

    /// Command `cmd`'s calls at or under each of `bounds_ns` (ascending),
    /// cumulative, and all its calls (a Prometheus histogram's buckets and
    /// count); `None` when it has never run. A histogram bucket counts
    /// under the first bound at or above its upper end.
    pub fn cumulative_at(&self, cmd: u16, bounds_ns: &[u64]) -> Option<(Vec<u64>, u64)> {
        let counts = self.histogram(cmd)?;
        let mut per = vec![0u64; bounds_ns.len()];
        let mut total = 0;
        for (b, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            total += c;
            let ns = kevy_sys::clock::cycles_to_ns(bucket_high(b));
            if let Some(i) = bounds_ns.iter().position(|&bound| ns <= bound) {
                per[i] += c;
            }
        }
        let mut run = 0;
        for v in per.iter_mut() {
            run += *v;
            *v = run;
        }
        Some((per, total))
    }

    /// Error kinds and counts since the last reset, sorted by kind.
    pub fn errors(&self) -> Vec<(String, u64)> {
        let b = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(String, u64)> = Vec::new();
        for s in &self.shards {
            for (k, n) in s.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                match all.iter_mut().find(|e| &e.0 == k) {
                    Some(e) => e.1 += n,
                    None => all.push((k.clone(), *n)),
                }
            }
        }
        for (k, n) in &b.errors {
            if let Some(e) = all.iter_mut().find(|e| &e.0 == k) {
                e.1 = e.1.saturating_sub(*n);
            }
        }
        all.retain(|e| e.1 > 0);
        all.sort();
        all
    }

    /// Error replies since the last reset.
    pub fn error_replies(&self) -> u64 {
        let b = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        let n: u64 = self.shards.iter().map(|s| s.error_replies.get()).sum();
        n.saturating_sub(b.error_replies)
    }

    /// CONFIG RESETSTAT: what is counted from now on starts at zero.
    pub fn reset(&self) {
        let mut b = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.ncmds;
        let col = |f: &dyn Fn(&CmdCounters) -> u64| -> Vec<u64> {
            (0..n)
                .map(|i| self.shards.iter().map(|s| f(&s.cmds[i])).sum())
                .collect()
        };
        b.calls = col(&|c| c.calls.get());
        b.cycles = col(&|c| c.cycles.get());
        b.rejected = col(&|c| c.rejected.get());
        b.failed = col(&|c| c.failed.get());
        b.hist = (0..n)
            .map(|i| {
                let mut sum: Option<Vec<u64>> = None;
                for s in &self.shards {
                    if let Some(h) = s.cmds[i].hist.get() {
                        let v = sum.get_or_insert_with(|| vec![0; BUCKETS]);
                        for (x, c) in v.iter_mut().zip(h.buckets.iter()) {
                            *x += c.get();
                        }
                    }
                }
                sum
            })
            .collect();
        b.error_replies = self.shards.iter().map(|s| s.error_replies.get()).sum();
        let mut errors: Vec<(String, u64)> = Vec::new();
        for s in &self.shards {
            for (k, n) in s.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                match errors.iter_mut().find(|e| &e.0 == k) {
                    Some(e) => e.1 += n,
                    None => errors.push((k.clone(), *n)),
                }
            }
        }
        b.errors = errors;
    }
}

/// An error's kind: the first word of its text.
fn error_kind(msg: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = msg
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(msg.len());
    String::from_utf8_lossy(&msg[..end])
}

fn usec(cycles: u64) -> f64 {
    kevy_sys::clock::cycles_to_ns(cycles) as f64 / 1000.0
}

/// Cycles of `kevy_sys::clock::cycles` in `ns` nanoseconds.
fn cycles_for_ns(ns: u64) -> u64 {
    // cycles_to_ns is linear; invert it from a large sample.
    const SAMPLE: u64 = 1 << 40;
    let per = kevy_sys::clock::cycles_to_ns(SAMPLE).max(1);
    ((ns as u128 * SAMPLE as u128) / per as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_resp::OwnedArgs;

    #[test]
    fn buckets_are_monotonic_and_hold_their_values() {
        let mut last = 0;
        for ns in 0..100_000u64 {
            assert!(bucket(ns) >= last, "{ns}");
            last = bucket(ns);
        }
        for ns in (0..100_000u64).chain((0..44).map(|p| (1u64 << p) + 12_345)) {
            let b = bucket(ns);
            assert!(b < BUCKETS);
            assert!(bucket_high(b) >= ns, "{ns} in bucket {b}");
            // Within 1/16 of the value.
            assert!(
                bucket_high(b) - ns <= ns / 16 + 1,
                "{ns}: {}",
                bucket_high(b)
            );
        }
    }

    #[test]
    fn totals_percentiles_and_reset() {
        let s = CommandStats::new(2, 4);
        let c = cycles_for_ns(1_000_000);
        s.record(0, 1, 0, c);
        s.record(1, 1, 0, c);
        s.failed(1, 1);
        s.record(1, 1, 1, c);
        let t = s.totals(1);
        assert_eq!((t.calls, t.failed, t.rejected), (2, 1, 0));
        assert!((2900..=3100).contains(&t.usec), "{}", t.usec);
        let p = s.percentiles(1, &[50.0, 100.0]).unwrap();
        assert!((p[0] - 1000.0).abs() < 80.0, "{p:?}");
        assert_eq!(s.percentiles(2, &[50.0]), None);
        s.rejected(0, Some(1));
        s.error_reply(0, b"ERR wrong\r\n");
        s.error_reply(1, b"WRONGTYPE Operation\r\n");
        s.error_reply(1, b"ERR other");
        assert_eq!(
            s.errors(),
            vec![("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]
        );
        s.reset();
        assert_eq!(s.totals(1), CmdTotals::default());
        assert_eq!(s.percentiles(1, &[50.0]), None);
        assert!(s.errors().is_empty());
        assert_eq!(s.error_replies(), 0);
        s.record(0, 1, 0, c);
        assert_eq!(s.totals(1).calls, 1);
    }

    #[test]
    fn slowlog_truncates_like_redis_and_merges_shards_newest_first() {
        let s = CommandStats::new(2, 1);
        let long = vec![b'x'; 130];
        let mut args = OwnedArgs::default();
        args.push(b"SET");
        args.push(&long);
        for i in 0..40 {
            args.push(format!("{i}").as_bytes());
        }
        s.log_slow(0, 10, args.args(), "1.2.3.4:5".into(), b"n");
        let a2 = OwnedArgs::from_slices(["GET", "k"]);
        s.log_slow(1, 10, a2.args(), "1.2.3.4:6".into(), b"");
        let got = s.slowlog(10);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].argv, vec![b"GET".to_vec(), b"k".to_vec()]);
        let first = &got[1];
        assert_eq!(first.argv.len(), 32);
        assert_eq!(first.argv[1].len(), 128 + "... (2 more bytes)".len());
        assert_eq!(first.argv[31], b"... (11 more arguments)");
        assert_eq!(s.slowlog_len(), 2);
        s.slowlog_max_len.store(1, Relaxed);
        assert_eq!(s.slowlog_len(), 1);
        assert_eq!(s.slowlog(10)[0].id, 1);
        s.slowlog_reset();
        assert_eq!(s.slowlog_len(), 0);
    }
}
