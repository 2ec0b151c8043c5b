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
    /// Keys this shard gave to or took from a peer with their slots: a
    /// move changes its memory without being a write (`store.dirty`
    /// stays), so publishing watches it too.
    pub moved_keys: u64,
    published_moved: u64,
    /// Per database, the keys and keys-with-expiry this shard gave to
    /// peers less those it took from them (wrapping). Published counts
    /// are the store's plus this, so a move changes no shard's published
    /// count: the sum over shards stays exact while the keys are on the
    /// ring between two shards, each of which publishes on its own (the
    /// giver's drop and the taker's rise would otherwise be seen apart).
    pub moved_net: Vec<(u64, u64)>,
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
    /// The command running is a blocked command run again for its waiter
    /// (kevy-rt's `Sink::part` 1 with `may_block`).
    pub serving: bool,
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
            moved_keys: 0,
            published_moved: u64::MAX,
            moved_net: vec![(0, 0); DATABASES],
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
            serving: false,
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
            && self.moved_keys == self.published_moved
        {
            return;
        }
        self.published_dirty = self.store.dirty;
        self.published_expired = st.expired_keys;
        self.published_evicted = st.evicted_keys;
        self.published_moved = self.moved_keys;
        p.expired_keys.store(st.expired_keys, Relaxed);
        p.evicted_keys.store(st.evicted_keys, Relaxed);
        p.dirty.store(self.store.dirty, Relaxed);
        p.used_memory
            .store(self.store.used_memory() as u64, Relaxed);
        for db in 0..self.store.ndbs().min(DATABASES) {
            let (keys, expires) = self.counted(db);
            p.keys[db].store(keys, Relaxed);
            p.expires[db].store(expires, Relaxed);
        }
    }

    /// Database `db`'s keys and keys-with-expiry as this shard publishes
    /// them: the store's, with the keys moved away counted here and those
    /// moved in not (wrapping; only the sum over shards is a count).
    pub fn counted(&self, db: usize) -> (u64, u64) {
        let (keys, expires) = self.store.db_counts(db);
        let (k, e) = self.moved_net.get(db).copied().unwrap_or_default();
        (
            (keys as u64).wrapping_add(k),
            (expires as u64).wrapping_add(e),
        )
    }

    /// Counts `snap`'s keys as moved away (`out`) or in.
    pub fn count_moved(&mut self, snap: &kevy_store::Snapshot, out: bool) {
        self.moved_keys += 1;
        for e in &snap.entries {
            let Some(net) = self.moved_net.get_mut(e.db as usize) else {
                continue;
            };
            let d = |v: u64, n: u64| {
                if out {
                    v.wrapping_add(n)
                } else {
                    v.wrapping_sub(n)
                }
            };
            net.0 = d(net.0, 1);
            net.1 = d(net.1, e.expire_at.is_some() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_store::{SetTtl, StrValue, Value};

    fn sum(ps: &[ShardPublished], db: usize) -> (u64, u64) {
        ps.iter().fold((0u64, 0u64), |(k, e), p| {
            (
                k.wrapping_add(p.keys[db].load(Relaxed)),
                e.wrapping_add(p.expires[db].load(Relaxed)),
            )
        })
    }

    #[test]
    fn published_counts_sum_to_the_keys_while_they_move() {
        let (mut a, mut b) = (Shard::new(0, 2), Shard::new(1, 2));
        let ps = [ShardPublished::default(), ShardPublished::default()];
        let v = || Value::Str(StrValue::from_input(b"v"));
        let far = kevy_sys::clock::unix_ms() + 3_600_000;
        a.store.db(0).set(b"k1", v(), SetTtl::Clear);
        a.store.db(0).set(b"k2", v(), SetTtl::At(far));
        a.store.db(2).set(b"k1", v(), SetTtl::Clear);
        b.store.db(0).set(b"k3", v(), SetTtl::Clear);
        a.publish(&ps[0]);
        b.publish(&ps[1]);
        assert_eq!((sum(&ps, 0), sum(&ps, 2)), ((3, 1), (1, 0)));
        // The giver publishes after taking, before the taker has the keys.
        let moved: Vec<_> = [&b"k1"[..], b"k2"]
            .iter()
            .map(|k| {
                let snap = a.store.take(k);
                a.count_moved(&snap, true);
                (k.to_vec(), snap)
            })
            .collect();
        a.publish(&ps[0]);
        assert_eq!(a.store.db_counts(0), (0, 0));
        assert_eq!((sum(&ps, 0), sum(&ps, 2)), ((3, 1), (1, 0)));
        for (k, snap) in moved {
            b.count_moved(&snap, false);
            b.store.import(&k, snap);
        }
        b.publish(&ps[1]);
        assert_eq!(b.store.db_counts(0), (3, 1));
        assert_eq!((sum(&ps, 0), sum(&ps, 2)), ((3, 1), (1, 0)));
        // Writes after the move count as ever, on either side.
        b.store.db(0).remove(b"k3");
        a.store.db(0).set(b"k4", v(), SetTtl::Clear);
        a.publish(&ps[0]);
        b.publish(&ps[1]);
        assert_eq!(sum(&ps, 0), (3, 1));
        assert_eq!(a.counted(0).0.wrapping_add(b.counted(0).0), 3);
    }
}
