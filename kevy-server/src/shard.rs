//! One shard's state as the server sees it: the keyspace plus its identity.

use crate::persist::{Persist, ShardSnapshot};
use crate::propagate::Prop;
use crate::server::{ShardPublished, DATABASES};
use kevy_store::Store;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub struct Shard {
    pub store: Store,
    pub id: usize,
    pub nshards: usize,
    /// Which shard owns each hash slot: the server's map, on its shards.
    pub slots: Arc<kevy_rt::SlotMap>,
    /// `store.dirty` at the last publish, to skip publishing when idle.
    published_dirty: u64,
    published_expired: u64,
    published_evicted: u64,
    /// What the shard knows of the server's memory (evict.rs).
    pub mem: crate::evict::ShardMem,
    /// A [`Prop`] observes the store: the shard's effects stream has a
    /// consumer.
    pub prop_attached: bool,
    /// The server's snapshot state (persist.rs).
    pub persist: Arc<Persist>,
    /// This shard's part of a BGSAVE in progress.
    pub snapshot: Option<ShardSnapshot>,
    /// This shard's append-only log (`appendonly yes`).
    pub aof: Option<crate::aof::ShardLog>,
    /// The server's rewrite state (aof.rs), also when this shard has no
    /// log: a switch of `appendonly` opens one.
    pub rewrites: Arc<crate::aof::Rewrites>,
    /// No log, but the shard records effects: `appendonly` is wanted and
    /// the switch that opens the log is on its way (aof.rs).
    pub recording: bool,
    /// This shard issued its fence for the switch on its way (aof.rs).
    pub fence_sent: bool,
    /// The `appendonly yes` request the fence is for (aof.rs).
    pub fence_gen: u64,
    /// BGREWRITEAOF's part ran: the command's execution takes the
    /// rewrite's cut before anything else runs (aof.rs, `take_cut`).
    pub rewrite_cut_due: bool,
    /// The command running may block (kevy-rt's `Sink::may_block`).
    pub may_block: bool,
    /// A blocking command found nothing and asks to wait this many ms (0:
    /// for ever); the service hands it to the runtime's `Sink::block`.
    pub block: Option<u64>,
    /// The data this shard is still loading at start-up (loading.rs).
    pub loading: Option<Box<crate::loading::ShardLoad>>,
    /// The walk for the keys of a slot about to move (slot_scan.rs).
    pub slot_scan: Option<crate::slot_scan::SlotScan>,
    /// The keyspace notification classes in force here (notify.rs): 0
    /// while none are configured or nobody could receive one.
    pub notify: u32,
    /// The server, for what runs commands itself (a script's
    /// `redis.call`); `None` for a shard made outside one (tests).
    pub server: Option<Arc<crate::server::Server>>,
    /// A scratch shard a command runs on by copy: it holds copies of the
    /// command's keys only (a script reaches no other; the reads it makes
    /// are recorded by the keys' owners).
    pub scratch: bool,
    /// While a command runs: some transaction holds or waits for keys of
    /// this shard (`Sink::locked`), so a script may reach only the keys it
    /// declared.
    pub locked: bool,
    /// While a command runs: the runtime can run it again over the whole
    /// keyspace (kevy-rt's `Sink::may_escalate`).
    pub may_escalate: bool,
    /// A script reached a key its run cannot and undid its run: it asks
    /// the runtime to run it again over the whole keyspace
    /// (`Sink::escalate`).
    pub escalate: bool,
    /// A scratch shard a script runs on over the whole keyspace, in rounds
    /// (scripting/mod.rs, "Keys a script did not declare").
    pub escalation: Option<Box<crate::scripting::Escalation>>,
    /// While a MULTI block runs as an attempt that may be taken back: the
    /// runs INFO commandstats counted, to take back with it.
    pub attempt_stats: Option<Vec<crate::stats::Recorded>>,
    /// On a scratch shard: per database, the keys and keys with an expiry
    /// the copies loaded into it hold, so that INFO keyspace from a script
    /// run by copy adds only what the script changed.
    pub loaded_counts: Vec<(usize, usize)>,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the tick reclaims expired keys.
    pub active_expire: bool,
    /// Keys the running script read for a tracking caller, remembered
    /// once the script ends (tracking.rs).
    pub script_reads: Vec<Vec<u8>>,
    /// Messages a script PUBLISHed or SPUBLISHed (channel, message,
    /// whether to shard-channel subscribers), handed to the runtime when
    /// the command ends.
    pub script_pubs: Vec<(Vec<u8>, Vec<u8>, bool)>,
    /// A tracking table observes the store (tracking.rs).
    pub track_attached: bool,
    /// The table has something for the execution point (it raises it).
    pub track_due: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Shard {
    /// Shard `id` of a server of `nshards` in the layout a server starts
    /// with; the server's own shards take its map ([`Self::with_slots`]).
    pub fn new(id: usize, nshards: usize) -> Self {
        Self::with_slots(id, kevy_rt::SlotMap::new(nshards))
    }

    /// Shard `id` of the server whose slot map is `slots`.
    pub fn with_slots(id: usize, slots: Arc<kevy_rt::SlotMap>) -> Self {
        Shard {
            store: Store::new(crate::server::databases()),
            id,
            nshards: slots.shards(),
            slots,
            published_dirty: u64::MAX,
            published_expired: u64::MAX,
            published_evicted: u64::MAX,
            mem: Default::default(),
            prop_attached: false,
            persist: crate::persist::shared(kevy_sys::clock::unix_ms() / 1000),
            snapshot: None,
            aof: None,
            rewrites: Arc::default(),
            recording: false,
            fence_sent: false,
            fence_gen: 0,
            rewrite_cut_due: false,
            may_block: false,
            block: None,
            loading: None,
            slot_scan: None,
            notify: 0,
            server: None,
            scratch: false,
            locked: false,
            may_escalate: false,
            escalate: false,
            escalation: None,
            attempt_stats: None,
            loaded_counts: Vec::new(),
            active_expire: true,
            script_pubs: Vec::new(),
            script_reads: Vec::new(),
            track_attached: false,
            track_due: Default::default(),
        }
    }

    /// The effects collected since the last drain (attached only while
    /// `prop_attached`).
    pub fn prop(&mut self) -> &mut Prop {
        self.store
            .observer_mut::<Prop>()
            .expect("prop_attached says a Prop observes the store")
    }

    /// Publishes key counts and keyspace statistics for INFO, when they may
    /// have changed since the last time.
    pub fn publish(&mut self, p: &ShardPublished) {
        let st = &self.store.stats;
        p.keyspace_hits.store(st.keyspace_hits, Relaxed);
        p.keyspace_misses.store(st.keyspace_misses, Relaxed);
        if self.store.dirty == self.published_dirty
            && st.expired_keys == self.published_expired
            && st.evicted_keys == self.published_evicted
        {
            return;
        }
        self.published_dirty = self.store.dirty;
        self.published_expired = st.expired_keys;
        self.published_evicted = st.evicted_keys;
        p.expired_keys.store(st.expired_keys, Relaxed);
        p.evicted_keys.store(st.evicted_keys, Relaxed);
        p.dirty.store(self.store.dirty, Relaxed);
        p.used_memory
            .store(self.store.used_memory() as u64, Relaxed);
        for db in 0..self.store.ndbs().min(DATABASES) {
            let (keys, expires) = self.store.db_counts(db);
            p.keys[db].store(keys as u64, Relaxed);
            p.expires[db].store(expires as u64, Relaxed);
        }
    }
}
