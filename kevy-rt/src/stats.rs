//! Counters each reactor keeps about its connections, readable from any
//! thread (INFO). Each shard writes only its own cache-padded slot, so the
//! counters never bounce between cores; readers sum the slots.

use crate::reactor::Directory;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// One shard's counters. Relaxed everywhere: they are statistics, read
/// without any ordering relation to other data.
#[derive(Default, Debug)]
#[repr(align(128))]
pub struct ShardStats {
    pub connected_clients: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Connections waiting in a blocking command (INFO's
    /// `blocked_clients`).
    pub blocked_clients: AtomicU64,
    /// Of those, the ones whose wait has a timeout (INFO's
    /// `clients_in_timeout_table`).
    pub timed_clients: AtomicU64,
    /// Connections this shard handed to another (crate doc, "Moving
    /// connections to the cores that have time").
    pub moved_out: AtomicU64,
    /// Hash slots this shard handed to another, and moves it started and
    /// called off (crate doc, "Moving slots to the cores that have time").
    pub slots_out: AtomicU64,
    pub slot_moves_called_off: AtomicU64,
    /// Microseconds the moves this shard led held every shard frozen.
    pub slot_move_us: AtomicU64,
    /// Per mille of the last sample that this shard's thread ran, and
    /// that it was runnable but waited for its core.
    pub cpu_run: AtomicU64,
    pub cpu_wait: AtomicU64,
    /// Per mille of its busy time that this shard waited for its core
    /// lately (a moving average of its samples').
    pub cpu_pressure: AtomicU64,
    /// Per mille of its core this shard could have had lately: the
    /// core's idle time and the shard's own run time, over the last
    /// window of samples (kept only while slots are away from their
    /// homes, for the rule that gives them back); 0 until measured.
    pub core_room: AtomicU64,
    /// The CPU this shard's thread is pinned to, plus one (0: not
    /// pinned): where a starved peer looks to see whether that core has
    /// room for more than this shard's own work.
    pub cpu: AtomicU64,
    /// When (monotonic µs) this shard last took connections from a peer
    /// or many slots in one move (a starved shard's, or slots going
    /// home); 0: never.
    pub took_us: AtomicU64,
    /// 1 while this shard hands connections to another (it takes none).
    pub shedding: AtomicU64,
    /// 1 while this shard runs a command that may run long (a script):
    /// its loop does not turn, so it adopts no connection until the
    /// command ends, and none is handed to it.
    pub running_long: AtomicU64,
}

impl ShardStats {
    /// A connection's wait ended; `timed` when it had a timeout.
    pub(crate) fn unblocked(&self, timed: bool) {
        self.blocked_clients.fetch_sub(1, Relaxed);
        if timed {
            self.timed_clients.fetch_sub(1, Relaxed);
        }
    }
}

/// All shards' counters.
#[derive(Debug)]
pub struct Stats {
    pub shards: Vec<ShardStats>,
    /// Distinct channels, patterns and shard channels with at least one
    /// subscriber on any shard (INFO's `pubsub_channels`,
    /// `pubsub_patterns`, `pubsubshard_channels`), kept by the runtime's
    /// pub/sub directory.
    pub pubsub: [AtomicU64; 3],
    /// Every subscription with its subscriber count (the reactors' pub/sub
    /// directory, `reactor/pubsub.rs`), here so the service can count a
    /// message's receivers (PUBLISH from a script).
    pub(crate) directory: Arc<Mutex<Directory>>,
    /// How long (µs) a shard that took connections or slots in bulk keeps
    /// them before it may hand either over itself; doubled each time it does so
    /// soon after (crate doc, "Moving slots to the cores that have
    /// time"). 0 is the least.
    pub bulk_backoff_us: AtomicU64,
}

impl Stats {
    pub fn new(nshards: usize) -> Self {
        Stats {
            shards: (0..nshards).map(|_| ShardStats::default()).collect(),
            pubsub: Default::default(),
            directory: Default::default(),
            bulk_backoff_us: AtomicU64::new(0),
        }
    }

    /// How many subscriptions a message on `channel` reaches: those to the
    /// channel and to every pattern matching it, or with `sharded` those
    /// to the shard channel (what PUBLISH and SPUBLISH answer).
    pub fn receivers(&self, channel: &[u8], sharded: bool) -> u64 {
        let dir = self.directory.lock().unwrap_or_else(|e| e.into_inner());
        dir.receivers(channel, sharded)
    }

    /// PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS or SHARDNUMSUB
    /// (`op`; its arguments from argument 2 of `args`), answered into
    /// `out` as the runtime answers it (from a script).
    pub fn pubsub_introspect(
        &self,
        resp3: bool,
        op: crate::PubSubOp,
        args: kevy_resp::Args<'_>,
        out: &mut Vec<u8>,
    ) {
        let dir = self.directory.lock().unwrap_or_else(|e| e.into_inner());
        dir.introspect(resp3, op, args, out);
    }

    /// Sum of one counter over every shard.
    pub fn sum(&self, f: impl Fn(&ShardStats) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| f(s).load(Relaxed)).sum()
    }
}
