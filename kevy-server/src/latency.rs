//! The latency monitor (LATENCY LATEST, HISTORY, GRAPH, DOCTOR, RESET):
//! per event class (`command`, `fast-command`, `expire-cycle`,
//! `aof-fsync-always`, …) the last 160 spikes at or above
//! `latency-monitor-threshold` milliseconds, one per second (the worst of
//! that second), and the worst ever, as Redis's `latency.c` keeps them.
//!
//! Spikes are rare by definition, so the series sit behind one mutex shared
//! by the shards; the hot path only compares a command's duration with the
//! threshold (folded into the slow log's comparison, see `stats.rs`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Samples a series keeps (Redis's `LATENCY_TS_LEN`).
const SERIES_LEN: usize = 160;
/// Columns of LATENCY GRAPH (Redis's `LATENCY_GRAPH_COLS`).
const GRAPH_COLS: usize = 80;

#[derive(Clone, Copy, Default)]
struct Sample {
    /// Unix seconds; 0 is an empty slot.
    time: u64,
    /// Milliseconds.
    latency: u64,
}

struct Series {
    samples: [Sample; SERIES_LEN],
    /// Where the next sample goes.
    idx: usize,
    /// Worst ever, in ms.
    max: u64,
}

impl Series {
    fn new() -> Self {
        Series {
            samples: [Sample::default(); SERIES_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// Samples oldest first.
    fn in_order(&self) -> impl Iterator<Item = &Sample> {
        (0..SERIES_LEN)
            .map(move |j| &self.samples[(self.idx + j) % SERIES_LEN])
            .filter(|s| s.time != 0)
    }

    fn last(&self) -> Sample {
        self.samples[(self.idx + SERIES_LEN - 1) % SERIES_LEN]
    }
}

/// Every event class's series, in the order the classes first spiked.
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in ms; 0 is off.
    threshold_ms: AtomicU64,
    events: Mutex<Vec<(String, Series)>>,
}

/// What LATENCY DOCTOR needs from the configuration.
pub struct DoctorFacts {
    pub slowlog_slower_than_us: i64,
    pub hz: u64,
    pub appendfsync_always: bool,
    pub anon_huge_pages: bool,
}

impl Default for LatencyMonitor {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyMonitor {
    pub fn new() -> Self {
        LatencyMonitor {
            threshold_ms: AtomicU64::new(0),
            events: Mutex::new(Vec::new()),
        }
    }

    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Relaxed);
    }

    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Relaxed)
    }

    /// Records `ms` for `event` when monitoring is on and it reaches the
    /// threshold (Redis's `latencyAddSampleIfNeeded`).
    pub fn add_if_needed(&self, event: &str, ms: u64) {
        let t = self.threshold_ms();
        if t != 0 && ms >= t {
            self.add(event, ms, kevy_sys::clock::unix_ms() / 1000);
        }
    }

    /// Adds a sample taken at unix second `now`: a second sample in the
    /// same second only raises that second's value.
    fn add(&self, event: &str, ms: u64, now: u64) {
        let mut events = self.lock();
        let i = match events.iter().position(|(e, _)| e == event) {
            Some(i) => i,
            None => {
                events.push((event.to_string(), Series::new()));
                events.len() - 1
            }
        };
        let ts = &mut events[i].1;
        ts.max = ts.max.max(ms);
        let prev = (ts.idx + SERIES_LEN - 1) % SERIES_LEN;
        if ts.samples[prev].time == now {
            ts.samples[prev].latency = ts.samples[prev].latency.max(ms);
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now,
            latency: ms,
        };
        ts.idx = (ts.idx + 1) % SERIES_LEN;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Series)>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// LATENCY RESET: drops the named classes (matched without regard to
    /// case), or all of them; answers how many were dropped.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.lock();
        let before = events.len();
        if names.is_empty() {
            events.clear();
        } else {
            for n in names {
                events.retain(|(e, _)| !e.as_bytes().eq_ignore_ascii_case(n));
            }
        }
        before - events.len()
    }

    /// LATENCY LATEST: per class, its name, the time and value of its last
    /// sample and its worst ever.
    pub fn latest(&self) -> Vec<(String, u64, u64, u64)> {
        self.lock()
            .iter()
            .map(|(e, ts)| {
                let l = ts.last();
                (e.clone(), l.time, l.latency, ts.max)
            })
            .collect()
    }

    /// LATENCY HISTORY: the class's samples oldest first (empty for an
    /// unknown class).
    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        let events = self.lock();
        match events.iter().find(|(e, _)| e.as_bytes() == event) {
            Some((_, ts)) => ts.in_order().map(|s| (s.time, s.latency)).collect(),
            None => Vec::new(),
        }
    }

    /// LATENCY GRAPH: the class's ASCII sparkline, `None` for an unknown
    /// class.
    pub fn graph(&self, event: &[u8], now: u64) -> Option<String> {
        let events = self.lock();
        let (name, ts) = events.iter().find(|(e, _)| e.as_bytes() == event)?;
        let mut seq = Vec::new();
        let (mut min, mut max) = (0, 0);
        for s in ts.in_order() {
            if seq.is_empty() {
                (min, max) = (s.latency, s.latency);
            } else {
                min = min.min(s.latency);
                max = max.max(s.latency);
            }
            let elapsed = now.saturating_sub(s.time);
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 3600 * 24 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / (3600 * 24))
            };
            seq.push((s.latency as f64, label));
        }
        let mut g = format!(
            "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
            ts.max
        );
        g.push_str(&"-".repeat(GRAPH_COLS));
        g.push('\n');
        sparkline(&mut g, &seq, GRAPH_COLS, 4);
        Some(g)
    }

    /// LATENCY DOCTOR's report, in Redis's words.
    pub fn doctor(&self, facts: &DoctorFacts, now: u64) -> String {
        let events = self.lock();
        if events.is_empty() && self.threshold_ms() == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this \
                    Redis instance. You may use \"CONFIG SET latency-monitor-threshold \
                    <milliseconds>.\" in order to enable it. If we weren't in a deep space \
                    mission I'd suggest to take a look at \
                    https://redis.io/topics/latency-monitor.\n"
                .to_string();
        }
        let mut r = String::new();
        let mut advise = Advice::default();
        for (n, (event, ts)) in events.iter().enumerate() {
            if n == 0 {
                r.push_str(
                    "Dave, I have observed latency spikes in this Redis instance. You don't \
                     mind talking about it, do you Dave?\n\n",
                );
            }
            let st = analyze(ts, now);
            let _ = write!(
                r,
                "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period \
                 {:.2} sec). Worst all time event {}ms.",
                n + 1,
                st.samples,
                st.avg,
                st.mad,
                st.period as f64 / st.samples.max(1) as f64,
                ts.max
            );
            advise.note(event, facts, self.threshold_ms());
            r.push('\n');
        }
        if facts.anon_huge_pages {
            advise.disable_thp = true;
            advise.count += 1;
        }
        if events.is_empty() && advise.count == 0 {
            r.push_str(
                "Dave, no latency spike was observed during the lifetime of this Redis \
                 instance, not in the slightest bit. I honestly think you ought to sit down \
                 calmly, take a stress pill, and think things over.\n",
            );
        } else if advise.count == 0 {
            r.push_str(
                "\nWhile there are latency events logged, I'm not able to suggest any easy \
                 fix. Please use the Redis community to get some help, providing this report \
                 in your help request.\n",
            );
        } else {
            r.push_str("\nI have a few advices for you:\n\n");
            advise.write(&mut r, facts, self.threshold_ms());
        }
        r
    }
}

/// One class's figures for the doctor (Redis's `latencyStats`).
struct Stats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: u64,
}

fn analyze(ts: &Series, now: u64) -> Stats {
    let mut st = Stats {
        samples: 0,
        avg: 0,
        mad: 0,
        period: 0,
    };
    let mut sum = 0u64;
    let mut oldest = 0u64;
    for s in ts.samples.iter().filter(|s| s.time != 0) {
        st.samples += 1;
        sum += s.latency;
        if oldest == 0 || s.time < oldest {
            oldest = s.time;
        }
    }
    if st.samples == 0 {
        return st;
    }
    st.avg = sum / st.samples;
    st.period = now.saturating_sub(oldest).max(1);
    let dev: u64 = ts
        .samples
        .iter()
        .filter(|s| s.time != 0)
        .map(|s| (st.avg as i64 - s.latency as i64).unsigned_abs())
        .sum();
    st.mad = dev / st.samples;
    st
}

/// Which pieces of advice the doctor gives, and how many reasons it has.
#[derive(Default)]
struct Advice {
    count: u32,
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    disk_contention: bool,
    scheduler: bool,
    data_writeback: bool,
    local_disk: bool,
    ssd: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    relax_fsync: bool,
    disable_thp: bool,
}

impl Advice {
    fn note(&mut self, event: &str, f: &DoctorFacts, threshold_ms: u64) {
        match event {
            "command" => {
                if f.slowlog_slower_than_us < 0 {
                    self.slowlog_enabled = true;
                    self.count += 1;
                } else if f.slowlog_slower_than_us as u64 / 1000 > threshold_ms {
                    self.slowlog_tuning = true;
                    self.count += 1;
                }
                self.slowlog_inspect = true;
                self.large_objects = true;
                self.count += 2;
            }
            "fast-command" => {
                self.scheduler = true;
                self.count += 1;
            }
            "aof-write-pending-fsync" => {
                self.local_disk = true;
                self.disk_contention = true;
                self.ssd = true;
                self.data_writeback = true;
                self.count += 4;
            }
            "aof-write-alone" => {
                self.local_disk = true;
                self.data_writeback = true;
                self.ssd = true;
                self.count += 3;
            }
            "aof-fsync-always" => {
                self.relax_fsync = true;
                self.count += 1;
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                self.disk_contention = true;
                self.local_disk = true;
                self.count += 2;
            }
            "expire-cycle" => {
                self.hz = true;
                self.large_objects = true;
                self.count += 2;
            }
            "eviction-del" => {
                self.large_objects = true;
                self.count += 1;
            }
            "eviction-cycle" => {
                self.mass_eviction = true;
                self.count += 1;
            }
            _ => {}
        }
    }

    fn write(&self, r: &mut String, f: &DoctorFacts, threshold_ms: u64) {
        let thr_us = threshold_ms * 1000;
        if self.slowlog_enabled {
            let _ = writeln!(
                r,
                "- There are latency issues with potentially slow commands you are using. Try \
                 to enable the Slow Log Redis feature using the command 'CONFIG SET \
                 slowlog-log-slower-than {thr_us}'. If the Slow log is disabled Redis is not \
                 able to log slow commands execution for you."
            );
        }
        if self.slowlog_tuning {
            let _ = writeln!(
                r,
                "- Your current Slow Log configuration only logs events that are slower than \
                 your configured latency monitor threshold. Please use 'CONFIG SET \
                 slowlog-log-slower-than {thr_us}'."
            );
        }
        if self.slowlog_inspect {
            r.push_str(
                "- Check your Slow Log to understand what are the commands you are running \
                 which are too slow to execute. Please check https://redis.io/commands/slowlog \
                 for more information.\n",
            );
        }
        if self.scheduler {
            r.push_str(
                "- The system is slow to execute Redis code paths not containing system \
                 calls. This usually means the system does not provide Redis CPU time to run \
                 for long periods. You should try to:\n  1) Lower the system load.\n  2) Use \
                 a computer / VM just for Redis if you are running other software in the same \
                 system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check \
                 with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in \
                 your system.\n  5) Check if the problem is allocator-related by recompiling \
                 Redis with MALLOC=libc, if you are using Jemalloc. However this may create \
                 fragmentation problems.\n",
            );
        }
        if self.local_disk {
            r.push_str(
                "- It is strongly advised to use local disks for persistence, especially if \
                 you are using AOF. Remote disks provided by platform-as-a-service providers \
                 are known to be slow.\n",
            );
        }
        if self.ssd {
            r.push_str(
                "- SSD disks are able to reduce fsync latency, and total time needed for \
                 snapshotting and AOF log rewriting (resulting in smaller memory usage and \
                 smaller final AOF rewrite buffer flushes). With extremely high write load SSD \
                 disks can be a good option. However Redis should perform reasonably with high \
                 load using normal disks. Use this advice as a last resort.\n",
            );
        }
        if self.data_writeback {
            r.push_str(
                "- Mounting ext3/4 filesystems with data=writeback can provide a performance \
                 boost compared to data=ordered, however this mode of operation provides less \
                 guarantees, and sometimes it can happen that after a hard crash the AOF file \
                 will have a half-written command at the end and will require to be repaired \
                 before Redis restarts.\n",
            );
        }
        if self.disk_contention {
            r.push_str(
                "- Try to lower the disk contention. This is often caused by other disk \
                 intensive processes running in the same computer (including other Redis \
                 instances).\n",
            );
        }
        if self.relax_fsync && f.appendfsync_always {
            r.push_str(
                "- Your fsync policy is set to 'always'. It is very hard to get good \
                 performances with such a setup, if possible try to relax the fsync policy to \
                 'onesec'.\n",
            );
        }
        if self.hz && f.hz < 100 {
            r.push_str(
                "- In order to make the Redis keys expiring process more incremental, try to \
                 set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
            );
        }
        if self.large_objects {
            r.push_str(
                "- Deleting, expiring or evicting (because of maxmemory policy) large objects \
                 is a blocking operation. If you have very large objects that are often \
                 deleted, expired, or evicted, try to fragment those objects into multiple \
                 smaller objects.\n",
            );
        }
        if self.mass_eviction {
            r.push_str(
                "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation \
                 of large objects via sets or sorted sets intersections, STORE option of SORT, \
                 Redis Cluster large keys migrations (RESTORE command), may create sudden \
                 memory pressure forcing the server to block trying to evict keys. \n",
            );
        }
        if self.disable_thp {
            r.push_str(
                "- I detected a non zero amount of anonymous huge pages used by your process. \
                 This creates very serious latency events in different conditions, especially \
                 when Redis is persisting on disk. To disable THP support use the command \
                 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also \
                 add it into /etc/rc.local so that the command will be executed again after a \
                 reboot. Note that even if you have already disabled THP, you still need to \
                 restart the Redis process to get rid of the huge pages already created.\n",
            );
        }
    }
}

/// Appends the ASCII sparkline of `seq` (value, label) in blocks of
/// `columns`, `rows` high, filled, as Redis's `sparklineRender` draws it.
fn sparkline(out: &mut String, seq: &[(f64, String)], columns: usize, rows: usize) {
    let mut j = 0;
    while j < seq.len() {
        let len = (seq.len() - j).min(columns);
        if j != 0 {
            out.push('\n');
        }
        sparkline_range(out, seq, rows, j, len);
        j += columns;
    }
}

fn sparkline_range(
    out: &mut String,
    seq: &[(f64, String)],
    rows: usize,
    offset: usize,
    len: usize,
) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len() as i64;
    let min = seq.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = seq.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
    let mut relmax = max - min;
    if relmax == 0.0 {
        relmax = 1.0;
    }
    let steps = charset_len * rows as i64;
    let labels = seq.iter().any(|s| !s.1.is_empty());
    let mut row = 0usize;
    loop {
        let mut more = false;
        let mut chars = vec![b' '; len];
        for (j, c) in chars.iter_mut().enumerate() {
            let (value, label) = &seq[j + offset];
            let relval = value - min;
            // C's `(int)(relval*steps)/relmax`, truncated into an int.
            let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
            let step = step.clamp(0, steps - 1);
            if row < rows {
                let idx = step - (rows - row - 1) as i64 * charset_len;
                more = true;
                if (0..charset_len).contains(&idx) {
                    *c = FILL[idx as usize];
                } else if idx >= charset_len {
                    *c = b'|';
                }
            } else {
                // One blank row between the graph and the labels.
                if labels && row - rows < 1 {
                    more = true;
                    break;
                }
                let at = row - rows - 1;
                if let Some(&b) = label.as_bytes().get(at) {
                    more = true;
                    *c = b;
                }
            }
        }
        if !more {
            return;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

/// Whether the process has anonymous huge pages (the doctor's THP advice).
pub fn anon_huge_pages() -> bool {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .is_some_and(|kb| kb > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeps_the_worst() {
        let m = LatencyMonitor::new();
        m.set_threshold_ms(100);
        m.add("command", 200, 1000);
        m.add("command", 300, 1000);
        m.add("command", 250, 1000);
        m.add("command", 120, 1001);
        assert_eq!(m.history(b"command"), vec![(1000, 300), (1001, 120)]);
        assert_eq!(m.latest(), vec![("command".to_string(), 1001, 120, 300)]);
        assert!(m.history(b"nosuch").is_empty());
    }

    #[test]
    fn the_series_is_a_ring_of_160() {
        let m = LatencyMonitor::new();
        for t in 1..=200 {
            m.add("expire-cycle", t, t);
        }
        let h = m.history(b"expire-cycle");
        assert_eq!(h.len(), SERIES_LEN);
        assert_eq!(h[0], (41, 41));
        assert_eq!(h[SERIES_LEN - 1], (200, 200));
    }

    #[test]
    fn threshold_decides_and_zero_is_off() {
        let m = LatencyMonitor::new();
        m.add_if_needed("command", 1000);
        assert!(m.latest().is_empty());
        m.set_threshold_ms(10);
        m.add_if_needed("command", 9);
        assert!(m.latest().is_empty());
        m.add_if_needed("command", 10);
        assert_eq!(m.latest().len(), 1);
    }

    #[test]
    fn reset_counts_what_it_drops() {
        let m = LatencyMonitor::new();
        m.add("command", 5, 1);
        m.add("fast-command", 5, 1);
        assert_eq!(m.reset(&[b"COMMAND", b"nosuch"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert_eq!(m.reset(&[]), 0);
    }

    /// Checked against redis-server 7.0.15: one spike of 300 ms seen in
    /// the same second it happened.
    #[test]
    fn graph_of_one_sample_is_redis_shaped() {
        let m = LatencyMonitor::new();
        m.add("command", 300, 1000);
        let g = m.graph(b"command", 1000).unwrap();
        let want = format!(
            "command - high 300 ms, low 300 ms (all time high 300 ms)\n{}\n \n \n \n_\n \n0\ns\n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
        assert!(m.graph(b"x", 1000).is_none());
    }

    #[test]
    fn graph_scales_between_low_and_high() {
        let m = LatencyMonitor::new();
        m.add("command", 10, 100);
        m.add("command", 20, 101);
        m.add("command", 40, 102);
        let g = m.graph(b"command", 102).unwrap();
        let rows: Vec<&str> = g.lines().skip(2).collect();
        // 12 steps over 4 rows of "_o#": the lowest sample is the bottom
        // row's `_`, the highest fills every row.
        assert_eq!(rows[..4], ["  #", "  |", " o|", "_||"]);
        assert_eq!(rows[4], "   ");
        assert_eq!(rows[5], "210");
        assert_eq!(rows[6], "sss");
    }

    #[test]
    fn doctor_texts() {
        let m = LatencyMonitor::new();
        let f = DoctorFacts {
            slowlog_slower_than_us: 10_000,
            hz: 10,
            appendfsync_always: false,
            anon_huge_pages: false,
        };
        assert!(m.doctor(&f, 1).starts_with("I'm sorry, Dave"));
        m.set_threshold_ms(100);
        assert!(m.doctor(&f, 1).starts_with("Dave, no latency spike"));
        m.add("command", 300, 1000);
        let d = m.doctor(&f, 1000);
        assert_eq!(
            d,
            "Dave, I have observed latency spikes in this Redis instance. You don't mind \
             talking about it, do you Dave?\n\n1. command: 1 latency spikes (average 300ms, \
             mean deviation 0ms, period 1.00 sec). Worst all time event 300ms.\n\nI have a \
             few advices for you:\n\n- Check your Slow Log to understand what are the \
             commands you are running which are too slow to execute. Please check \
             https://redis.io/commands/slowlog for more information.\n- Deleting, expiring \
             or evicting (because of maxmemory policy) large objects is a blocking \
             operation. If you have very large objects that are often deleted, expired, or \
             evicted, try to fragment those objects into multiple smaller objects.\n"
        );
    }
}
