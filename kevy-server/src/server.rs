//! Server-wide, read-mostly state shared by every reactor: the command
//! table, the configuration, and the statistics INFO reports.

use crate::table::Table;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Number of logical databases (Redis's `databases` default).
pub const DATABASES: usize = 16;

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
    /// Bytes of memory the shard's keyspace accounts for.
    pub used_memory: AtomicU64,
}

pub struct Server {
    pub table: Table,
    pub config: Config,
    /// Connection counters kept by the runtime.
    pub rt_stats: Arc<kevy_rt::Stats>,
    pub published: Vec<ShardPublished>,
    /// `unix_ms` and `monotonic_ms` at start-up (INFO uptime).
    pub start_unix_ms: u64,
    pub start_mono_ms: u64,
    /// Random hex id of this run (INFO run_id).
    pub run_id: String,
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
        Server {
            table: Table::new(),
            config,
            rt_stats: Arc::new(kevy_rt::Stats::new(n)),
            published: (0..n).map(|_| ShardPublished::default()).collect(),
            start_unix_ms,
            start_mono_ms,
            run_id,
        }
    }

    /// Keys and keys-with-expiry in `db`, summed over shards.
    pub fn db_counts(&self, db: usize) -> (u64, u64) {
        self.published.iter().fold((0, 0), |(k, e), p| {
            (
                k + p.keys[db].load(Relaxed),
                e + p.expires[db].load(Relaxed),
            )
        })
    }

    pub fn sum_published(&self, f: impl Fn(&ShardPublished) -> &AtomicU64) -> u64 {
        self.published.iter().map(|p| f(p).load(Relaxed)).sum()
    }
}
