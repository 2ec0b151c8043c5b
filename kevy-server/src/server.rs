//! Server-wide, read-mostly state shared by every reactor: the command
//! table, the configuration, and the statistics INFO reports.

use crate::stats::CommandStats;
use crate::table::Table;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The most logical databases (`databases`, Redis's default): INFO's
/// per-shard counters are sized for it.
pub const DATABASES: usize = 16;

static DB_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(DATABASES);

/// The databases in use (`databases`, fixed at start-up).
pub fn databases() -> usize {
    DB_COUNT.load(Relaxed)
}

/// Sets `databases` before the shards start.
pub fn set_databases(n: usize) {
    DB_COUNT.store(n.clamp(1, DATABASES), Relaxed);
}

/// Settings fixed at start-up.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    /// Shard (reactor thread) count.
    pub shards: usize,
}

/// What one shard publishes at the end of each loop iteration so that INFO
/// on any thread can read it. Written only by its shard; Relaxed is enough
/// because each value is a statistic read on its own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardPublished {
    pub keys: [AtomicU64; DATABASES],
    pub expires: [AtomicU64; DATABASES],
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    /// The shard's count of changes (`Store::dirty`).
    pub dirty: AtomicU64,
    /// Bytes of memory the shard's keyspace accounts for.
    pub used_memory: AtomicU64,
    /// The append-only log (aof.rs `publish`): its files' size now and
    /// after the last rewrite, bytes not yet written, whether an fsync is
    /// pending, `everysec`'s delayed fsyncs, and 1 after a failed write.
    pub aof_current_size: AtomicU64,
    pub aof_base_size: AtomicU64,
    pub aof_buffer_length: AtomicU64,
    pub aof_pending_fsync: AtomicU64,
    pub aof_delayed_fsync: AtomicU64,
    pub aof_write_failed: AtomicU64,
    /// Keys the shard remembers tracking clients read, and the readers
    /// over all of them (tracking.rs).
    pub tracking_keys: AtomicU64,
    pub tracking_items: AtomicU64,
    /// Bytes another shard found this one owes to bring memory under
    /// `maxmemory`: its share of an excess (evict.rs).
    pub evict_debt: AtomicU64,
    /// The shard's thread allocation count as of its last iteration, and
    /// as of the last process-wide read (evict.rs).
    pub thread_net: AtomicU64,
    pub net_at_base: AtomicU64,
}

pub struct Server {
    pub table: Table,
    pub config: Config,
    /// Which shard owns each hash slot: the one map the runtime routes by,
    /// the loaders place keys by and every shard checks its keys against.
    pub slots: Arc<kevy_rt::SlotMap>,
    /// Connection counters kept by the runtime.
    pub rt_stats: Arc<kevy_rt::Stats>,
    pub published: Vec<ShardPublished>,
    /// `unix_ms` and `monotonic_ms` at start-up (INFO uptime).
    pub start_unix_ms: u64,
    pub start_mono_ms: u64,
    /// Random hex id of this run (INFO run_id).
    pub run_id: String,
    /// Per-command statistics and the slow log (stats.rs).
    pub cmdstats: CommandStats,
    /// Client names by client id, for the slow log of a command that runs
    /// away from its connection. Touched only by CLIENT SETNAME, HELLO
    /// SETNAME, RESET, closing a named connection, and slow commands.
    pub client_names: Mutex<HashMap<u64, Vec<u8>>>,
    /// Rates INFO reports as instantaneous (ops/s, network in and out),
    /// sampled by shard 0 every tick.
    pub rates: Mutex<Rates>,
    /// Snapshot state shared by the shards (persist.rs).
    pub persist: Arc<crate::persist::Persist>,
    /// Append-only log rewrite state shared by the shards (aof.rs).
    pub rewrites: Arc<crate::aof::Rewrites>,
    /// Lua scripts and function libraries (scripting/).
    pub scripts: crate::scripting::Scripts,
    /// Client-side caching state shared by the shards (tracking.rs).
    pub tracking: crate::tracking::Global,
    /// Latency spikes by event class (latency.rs).
    pub latency: crate::latency::LatencyMonitor,
    /// The connection limits the reactors follow (`maxclients`,
    /// `timeout`, …); CONFIG SET publishes new values here.
    pub limits: Arc<kevy_rt::Limits>,
}

/// Redis's instantaneous metrics: a rate per 100 ms tick, averaged over
/// the last 16 samples (`trackInstantaneousMetric`).
#[derive(Default)]
pub struct Rates {
    last_ms: u64,
    last: [u64; 3],
    samples: [[u64; 16]; 3],
    next: usize,
}

impl Rates {
    const N: usize = 16;

    /// Adds a sample of the cumulative counters `now` (commands, bytes in,
    /// bytes out) taken at `ms`.
    pub fn sample(&mut self, ms: u64, now: [u64; 3]) {
        if self.last_ms != 0 && ms > self.last_ms {
            let dt = ms - self.last_ms;
            for (k, series) in self.samples.iter_mut().enumerate() {
                series[self.next] = now[k].saturating_sub(self.last[k]) * 1000 / dt;
            }
            self.next = (self.next + 1) % Self::N;
        }
        self.last_ms = ms;
        self.last = now;
    }

    /// The average of the samples of metric `k`, per second.
    pub fn per_sec(&self, k: usize) -> u64 {
        self.samples[k].iter().sum::<u64>() / Self::N as u64
    }
}

impl Server {
    pub fn new(config: Config) -> Self {
        let n = config.shards;
        let start_mono_ms = kevy_sys::clock::monotonic_ms();
        let start_unix_ms = kevy_sys::clock::unix_ms();
        let seed = kevy_sys::clock::unix_us() ^ ((std::process::id() as u64) << 32);
        let run_id = (0..40)
            .map(|i| {
                let x = seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(i * 7)
                    .wrapping_add((i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
                char::from_digit(((x >> 32) % 16) as u32, 16).unwrap_or('0')
            })
            .collect();
        let table = Table::new();
        // `rdbcompression yes`, Redis's default, until CONFIG says otherwise.
        kevy_persist::rdb::set_compression(true);
        let cmdstats = CommandStats::new(n, table.stat_slots());
        Server {
            slots: kevy_rt::SlotMap::new(n),
            table,
            cmdstats,
            client_names: Mutex::new(HashMap::new()),
            rates: Mutex::new(Rates::default()),
            config,
            rt_stats: Arc::new(kevy_rt::Stats::new(n)),
            published: (0..n).map(|_| ShardPublished::default()).collect(),
            start_unix_ms,
            start_mono_ms,
            run_id,
            persist: crate::persist::shared(start_unix_ms / 1000),
            rewrites: Default::default(),
            scripts: Default::default(),
            tracking: Default::default(),
            latency: Default::default(),
            limits: Default::default(),
        }
    }

    /// Keys and keys-with-expiry in `db`, summed over shards.
    pub fn db_counts(&self, db: usize) -> (u64, u64) {
        (
            self.sum_published(|p| &p.keys[db]),
            self.sum_published(|p| &p.expires[db]),
        )
    }

    /// Shard `shard`'s published keys and keys-with-expiry in `db`.
    pub fn shard_db_counts(&self, shard: usize, db: usize) -> (u64, u64) {
        let p = &self.published[shard];
        (p.keys[db].load(Relaxed), p.expires[db].load(Relaxed))
    }

    /// Samples the instantaneous rates (shard 0, every tick).
    pub fn sample_rates(&self) {
        let rt = &self.rt_stats;
        let now = [
            rt.sum(|s| &s.total_commands),
            rt.sum(|s| &s.net_input_bytes),
            rt.sum(|s| &s.net_output_bytes),
        ];
        let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        r.sample(kevy_sys::clock::monotonic_ms(), now);
    }

    /// The name of client `id`, empty when it has none.
    pub fn client_name(&self, id: u64) -> Vec<u8> {
        let names = self.client_names.lock().unwrap_or_else(|e| e.into_inner());
        names.get(&id).cloned().unwrap_or_default()
    }

    /// Records client `id`'s name (`None`: it has none).
    pub fn set_client_name(&self, id: u64, name: Option<&[u8]>) {
        let mut names = self.client_names.lock().unwrap_or_else(|e| e.into_inner());
        match name {
            Some(n) => names.insert(id, n.to_vec()),
            None => names.remove(&id),
        };
    }

    /// A published value summed over shards. Wrapping: a shard's key
    /// counts are shares of the sum (`Shard::counted`), which may be below
    /// zero on their own.
    pub fn sum_published(&self, f: impl Fn(&ShardPublished) -> &AtomicU64) -> u64 {
        self.published
            .iter()
            .fold(0u64, |n, p| n.wrapping_add(f(p).load(Relaxed)))
    }
}
