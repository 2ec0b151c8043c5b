//! kevy-store: one shard's keyspace — values, types, expiry, memory
//! accounting. It knows nothing about sockets, threads or RESP: operations
//! are typed and fail with an [`OpError`].
//!
//! # Design
//!
//! A [`Store`] holds the shard's databases (SELECT's 0..n), a cached clock,
//! and the counters INFO reports. [`Store::db`] hands out a [`Db`]: a view
//! of one database that every read and write goes through.
//!
//! - **Keyspace**: a [`Dict`] (chained hash table with Redis's incremental
//!   rehashing and reverse-binary SCAN cursor) from key to [`db::Entry`]
//!   `{ value, expire_at, access }`. A key of up to 23 bytes and a string
//!   value of up to 23 bytes live inside one 80-byte node: one allocation
//!   per key. `access` is the 24-bit LRU/LFU clock (`access.rs`) that
//!   eviction (`evict.rs`) and OBJECT IDLETIME/FREQ read.
//! - **Values**: [`Value`] has one variant per Redis type, 32 bytes. Strings
//!   ([`StrValue`]) are integer-encoded when they are a canonical `i64`,
//!   inline up to 23 bytes, else one exact-size heap buffer; APPEND and
//!   SETRANGE switch to a growable buffer.
//! - **Expiry**: absolute unix ms in the entry, mirrored in a second dict of
//!   keys with a TTL (Redis's `expires`) so the active cycle can sample
//!   them. All decisions use the clock set by [`Store::set_now`] once per
//!   reactor iteration, which is also the tests' controllable clock. Every
//!   lookup deletes a key whose time has passed (lazy expiry);
//!   [`Store::active_expire_cycle`] reclaims the rest.
//! - **Hash field expiry**: a hash keeps its fields' TTLs in a side table
//!   ([`field_ttl::FieldTtls`]) only while some field has one; each
//!   database indexes the hashes that do, so lookups test one empty index
//!   while no field has a TTL. Any lookup of such a hash deletes its
//!   expired fields, the active cycle samples the index, and both go
//!   through the update path; observers hear
//!   [`Observer::fields_expired`] (the server's `HDEL` effects and
//!   `hexpired` notifications).
//! - **Coordinated execution**: [`Store::export`] copies a key's state in
//!   every database into a [`Snapshot`]; [`Store::import`] replaces it.
//!
//! # The update path
//!
//! The store owns the invariant every write must keep, in one place:
//! [`Db::update`] opens a [`KeyMut`] on a key, and closing it (on drop)
//! accounts the value's heap size, deletes a collection left empty, counts
//! the write in [`Store::dirty`] and tells the observers. Its methods keep
//! the TTL index in step with the entry as they go.
//!
//! - **Who calls it**: everything that writes a key. The typed operations
//!   (`string.rs`, and the command families' in-place helpers for hashes,
//!   lists, sets and sorted sets) open a `KeyMut` and change the value
//!   through [`KeyMut::value_mut`] or [`KeyMut::modify`], saying whether
//!   they changed it with [`KeyMut::changed`]; [`Db::set`], [`Db::remove`], [`Db::set_expire`],
//!   [`Db::persist`], [`Db::rename`], [`Store::move_key`],
//!   [`Store::copy_key`] and [`Store::import`] are built on it; so is
//!   deletion by expiry, lazy (any lookup) or active
//!   ([`Store::active_expire_cycle`]). There is no other way to change an
//!   entry: the raw mutators are private to `db.rs`. Whole databases
//!   change through [`Db::flush`] (FLUSHDB, and FLUSHALL for each),
//!   and [`Store::swap_db`], which tell the same observers.
//! - **What observers see** ([`Observer`]): for one key, the database
//!   index, the key, and first `before_write` with the entry as it is
//!   (once per update, before anything changes it; `None` for a missing
//!   key), then `changed` with the kind of change ([`Change`]: created,
//!   updated, deleted, expired) once the keyspace is consistent again: the
//!   emptied collection gone, memory and the TTL index accounted, `dirty`
//!   counted. A write that changes nothing (SADD of a present member, SET
//!   NX on a present key, PERSIST without a TTL) may give a
//!   `before_write` but no `changed`. Expiry is `before_write` then
//!   `Expired` (counted in `expired_keys`, not `dirty`); SET on an expired
//!   key is its expiry, then a creation. RENAME is a deletion of the
//!   source, then the destination's creation or update. A whole-database
//!   change is one `db_changed` per database ([`DbChange`]), before the
//!   contents go, with the old contents (and SWAPDB's new ones) to read.
//! - **Who observes**: WATCH (each change bumps a watched key's version,
//!   `watch.rs`), the written-key record of coordinated execution
//!   ([`Store::track_dirty`]), and any [`Observer`] added with
//!   [`Store::observe`], called in that order. Blocked clients waiting on
//!   a key, snapshot pre-write copies, client-side-caching invalidation
//!   and keyspace notifications attach as observers: none needs a call
//!   site of its own. Observers cannot reach the store; they note what
//!   they need and act after the command.
//! - **Cost**: while nobody observes (no WATCH, no record, nothing added)
//!   the write path tests one flag. The accounting and report happen once
//!   per update, not per element changed.
//!
//! # Collections
//!
//! Each collection type picks its encoding by size, with Redis's default
//! thresholds, and OBJECT ENCODING reports the name of the encoding in use:
//! - hash ([`hash::Hash`]): listpack up to 128 fields of at most 64 bytes,
//!   else hashtable;
//! - set ([`set::Set`]): intset up to 512 canonical integers, listpack up to
//!   128 members of at most 64 bytes (as Redis 7.2), else hashtable;
//! - sorted set ([`zset::ZSet`]): listpack up to 128 members of at most 64
//!   bytes, else "skiplist" (here an order-statistic B+tree, see below);
//! - list ([`list::List`]): one node of at most 8 KB is "listpack", more
//!   nodes are "quicklist".
//!
//! Conversions go only towards the big encoding, except computed results
//! (SUNIONSTORE, ZINTERSTORE, …), which start compact when small.
//!
//! - **Listpack** ([`listpack`]): one buffer of `[LEB128 len][bytes]`
//!   entries, scanned linearly, at most 1/8 slack. A 10-byte string costs 11
//!   bytes (Redis: 12). Sorted-set scores take 1, 2, 4 or 8 bytes.
//! - **List nodes** hold `[len][bytes][len reversed]` entries so a node is
//!   walked from either end; a node keeps headroom at the front, so push and
//!   pop are O(1) at both ends. About 12 bytes per 10-byte element.
//! - **Big hashes and sets** are a [`Dict`] of inline byte strings (up to 23
//!   bytes each inline): a 64-byte node (48 for a set member) plus 8–16 bytes
//!   of bucket, about 77 and 61 bytes per element (Redis: ~77–80, ~61).
//! - **Big sorted sets** ([`zset_index`]): members and scores in an arena of
//!   `u32` ids, an open-addressing id table for O(1) ZSCORE (ZSCAN walks it
//!   with the reverse-binary cursor), and a counted B+tree over
//!   `(score, id)` with 64-item leaves for O(log n) insert, remove, rank and
//!   select. 68–76 bytes per 10-byte member (Redis's skiplist: ~115). Known
//!   limit: the id table resizes at once (about 5 ms per million members).
//! - **Geo sets** are sorted sets whose scores are 52-bit geohashes
//!   ([`geohash`]: Redis's encoding, cells and distances, bit for bit).
//! - Random choices (SPOP, HRANDFIELD, …) take an explicit
//!   [`sample::Rng`], so tests are deterministic.
//!
//! # Costs
//!
//! - GET/SET/DEL/INCR: O(1) expected: one hash and one probe, plus at most
//!   one bucket of an ongoing resize; keys with a TTL also touch the
//!   `expires` dict when their TTL changes.
//! - Memory per key: an 80-byte node (jemalloc's 80-byte class) plus one
//!   8-byte bucket at full load (up to 16 right after doubling), plus heap
//!   for keys and string values longer than 23 bytes; keys with a TTL add a
//!   40-byte node in `expires` and a bucket there.
//! - KEYS, FLUSHDB and dropping a store are O(n); SCAN is O(count) per call.
//! - [`Store::used_memory`] is an estimate from these structure sizes with
//!   glibc malloc's per-allocation overhead; it is exact for the structure
//!   and within allocator rounding for values.
#![forbid(unsafe_code)]

pub mod access;
pub mod bitops;
pub mod bytes;
pub mod db;
pub mod dict;
pub mod error;
pub mod evict;
pub mod expire;
pub mod field_ttl;
pub mod geohash;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod journal;
pub mod list;
pub mod listpack;
pub mod num;
pub mod observe;
pub mod rng;
pub mod sample;
pub mod set;
pub mod stream;
pub mod string;
pub mod value;
mod watch;
pub mod zset;
pub mod zset_index;

pub use access::AccessClock;
pub use bytes::SmallBytes;
pub use db::{Db, Entry, KeyMut, KeyTtl, SetTtl};
pub use dict::{Dict, ScanOrder};
pub use error::{OpError, OpResult};
pub use observe::{Change, DbChange, Observer};
pub use string::{SetCond, SetOutcome};
pub use value::{StrValue, Value};

use db::Keyspace;
use observe::Observers;

/// Bytes jemalloc (the server's allocator) takes for a request of `n`
/// bytes: its size class. Classes are 8, then multiples of 16 up to 128,
/// then four per doubling (160, 192, 224, 256, 320, …); no header.
pub fn malloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => (n + 15) & !15,
        _ => {
            // n in (2^k, 2^(k+1)]: classes are spaced 2^(k-2) apart.
            let k = usize::BITS - 1 - (n - 1).leading_zeros();
            let spacing = 1usize << (k - 2);
            (n + spacing - 1) & !(spacing - 1)
        }
    }
}

/// Keyspace statistics INFO reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Read lookups that found a key.
    pub keyspace_hits: u64,
    /// Read lookups that found none.
    pub keyspace_misses: u64,
    /// Keys deleted because their TTL passed (lazily or actively).
    pub expired_keys: u64,
    /// Hash fields deleted because their TTL passed (Redis's
    /// `expired_subkeys`).
    pub expired_fields: u64,
    /// Keys deleted to bring memory under `maxmemory` (`evict.rs`).
    pub evicted_keys: u64,
}

/// One shard's keyspace: `ndbs` databases, a cached clock, counters.
pub struct Store {
    dbs: Vec<Keyspace>,
    now: u64,
    /// Key writes so far (Redis's `server.dirty`).
    pub dirty: u64,
    pub stats: StoreStats,
    obs: Observers,
    /// The database the next active expiry cycle starts with.
    expire_db: usize,
    /// How lookups stamp access clocks, and the clock they stamp.
    pub access: AccessClock,
    /// Eviction candidates carried from one eviction to the next.
    pool: evict::Pool,
}

/// One key's full state in every database, for coordinated execution:
/// the key is absent from every database without an entry here.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub entries: Vec<SnapshotEntry>,
    /// The entries stand in for the key ([`Store::export_names`]): each
    /// value is an empty one of the key's type.
    pub names_only: bool,
}

/// A key's value and expiry in one database.
#[derive(Clone, Debug)]
pub struct SnapshotEntry {
    pub db: u32,
    pub value: Value,
    /// Absolute unix ms.
    pub expire_at: Option<u64>,
    /// The key's access clock (OBJECT IDLETIME or FREQ, what eviction
    /// reads), kept by a key that changes shards ([`Store::take`]); a
    /// copy for a command run elsewhere carries none.
    pub access: Option<u32>,
}

impl Snapshot {
    /// Whether the key exists in no database.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Store {
    /// An empty store with `ndbs` databases and the clock at 0.
    pub fn new(ndbs: usize) -> Store {
        assert!(ndbs > 0, "a store needs at least one database");
        Store {
            dbs: (0..ndbs).map(|_| Keyspace::default()).collect(),
            now: 0,
            dirty: 0,
            stats: StoreStats::default(),
            obs: Observers::default(),
            expire_db: 0,
            access: AccessClock::default(),
            pool: evict::Pool::default(),
        }
    }

    /// Sets the cached clock (unix ms) every TTL decision uses until the
    /// next call. The reactor calls it once per loop iteration.
    #[inline]
    pub fn set_now(&mut self, unix_ms: u64) {
        self.now = unix_ms;
        self.access.set_now(unix_ms);
    }

    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of databases.
    pub fn ndbs(&self) -> usize {
        self.dbs.len()
    }

    /// Keys in every database, expired ones not yet reclaimed included
    /// (the sum of their DBSIZEs), without touching any.
    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(|d| d.counts().0).sum()
    }

    /// A view of database `i` (panics when `i >= ndbs`; callers validate
    /// SELECT-style indexes first).
    #[inline]
    pub fn db(&mut self, i: usize) -> Db<'_> {
        Db::new(
            &mut self.dbs[i],
            self.now,
            i,
            &mut self.dirty,
            &mut self.stats,
            &mut self.obs,
            &self.access,
        )
    }

    /// Keys a database holds before hinting its lookups to the cache pays:
    /// a smaller one (about 80 bytes of node and 8 of bucket a key, 3 MB
    /// here) mostly stays in a core's cache, and there a hint only costs
    /// the hash it computes.
    pub const PREFETCH_MIN_KEYS: usize = 32 * 1024;

    /// Whether lookups in database `db` are worth hinting to the cache
    /// ([`prefetch_keys`](Self::prefetch_keys)): it holds at least
    /// [`PREFETCH_MIN_KEYS`](Self::PREFETCH_MIN_KEYS) keys.
    #[inline]
    pub fn worth_prefetching(&self, db: usize) -> bool {
        self.dbs
            .get(db)
            .is_some_and(|ks| ks.keys().len() >= Self::PREFETCH_MIN_KEYS)
    }

    /// Hints the first 16 of `keys` of database `db`, about to be looked
    /// up one after another, to the cache: every key's bucket slot first,
    /// then every chain's first node, then the bytes every such node's
    /// value keeps outside it (a string longer than 23 bytes, a small
    /// hash's listpack), so their loads overlap (see
    /// [`dict::Dict::prefetch`]); a lookup otherwise waits for each in
    /// turn. Nothing for a database not [worth it](Self::worth_prefetching).
    /// A lone key is not worth the later steps: its slot has not arrived
    /// yet. `hint` issues the CPU's prefetch for an address: the caller
    /// passes kevy-sys's, since this crate forbids the code that issues it.
    pub fn prefetch_keys<'k>(
        &self,
        db: usize,
        keys: impl IntoIterator<Item = &'k [u8]>,
        hint: impl Fn(*const u8) + Copy,
    ) {
        self.prefetch(db, keys, hint, true);
    }

    /// [`prefetch_keys`](Self::prefetch_keys) for keys whose values are
    /// about to be replaced (MSET): the slots and nodes only. The third
    /// step reads the nodes to find the values, which waits for them,
    /// and a write never reads the old value.
    pub fn prefetch_keys_to_write<'k>(
        &self,
        db: usize,
        keys: impl IntoIterator<Item = &'k [u8]>,
        hint: impl Fn(*const u8) + Copy,
    ) {
        self.prefetch(db, keys, hint, false);
    }

    fn prefetch<'k>(
        &self,
        db: usize,
        keys: impl IntoIterator<Item = &'k [u8]>,
        hint: impl Fn(*const u8) + Copy,
        values: bool,
    ) {
        let mut marks = [0u64; 16];
        let n = self.prefetch_nodes(db, keys, hint, &mut marks);
        if values {
            // This reads the nodes just hinted, whose loads overlap.
            self.prefetch_values(db, &marks[..n], hint);
        }
    }

    /// The first two steps of [`prefetch_keys`](Self::prefetch_keys) (the
    /// slots, then the nodes), leaving in `marks` what the third step,
    /// [`prefetch_values`](Self::prefetch_values), takes: the caller runs
    /// it later, once the nodes have arrived, so it does not wait for
    /// them. Returns how many marks it left (0 when it hinted nothing).
    pub fn prefetch_nodes<'k>(
        &self,
        db: usize,
        keys: impl IntoIterator<Item = &'k [u8]>,
        hint: impl Fn(*const u8) + Copy,
        marks: &mut [u64; 16],
    ) -> usize {
        let Some(ks) = self.dbs.get(db) else {
            return 0;
        };
        if ks.keys().len() < Self::PREFETCH_MIN_KEYS {
            return 0;
        }
        let mut n = 0;
        for key in keys.into_iter().take(marks.len()) {
            marks[n] = ks.keys().prefetch(key, hint);
            n += 1;
        }
        if n < 2 {
            return 0;
        }
        for &h in &marks[..n] {
            ks.keys().prefetch_chain(h, hint);
        }
        n
    }

    /// The third step of [`prefetch_keys`](Self::prefetch_keys), for the
    /// `marks` [`prefetch_nodes`](Self::prefetch_nodes) left: hints the
    /// bytes the values of those keys keep outside their nodes. It reads
    /// the nodes. Marks from before writes are still safe: they are hashes,
    /// and the table is walked as it is now.
    pub fn prefetch_values(&self, db: usize, marks: &[u64], hint: impl Fn(*const u8) + Copy) {
        let Some(ks) = self.dbs.get(db) else {
            return;
        };
        for &h in marks {
            ks.keys()
                .prefetch_outside(h, hint, |e: &Entry| e.value.out_of_line());
        }
    }

    /// SWAPDB: exchanges two databases' contents. Observers hear of it
    /// first, once per database, as [`DbChange::Swapped`] (so a key watched
    /// in either database changed if it exists in either, as Redis's
    /// `touchAllWatchedKeysInDb` has it).
    pub fn swap_db(&mut self, a: usize, b: usize) {
        if self.obs.active() {
            for (w, other) in [(a, b), (b, a)] {
                let (old, new) = (self.dbs[w].keys(), self.dbs[other].keys());
                self.obs.db_changed(w, DbChange::Swapped { old, new });
            }
        }
        self.dbs.swap(a, b);
        self.dirty += 1;
    }

    /// FLUSHALL: empties every database; returns the number of keys removed.
    pub fn flush_all(&mut self) -> usize {
        let removed = (0..self.dbs.len()).map(|i| self.db(i).flush()).sum();
        self.dirty += 1;
        removed
    }

    /// `(keys, keys with a TTL)` in database `i`.
    pub fn db_counts(&self, i: usize) -> (usize, usize) {
        self.dbs[i].counts()
    }

    /// `(keys, keys with a TTL)` for every database.
    pub fn db_sizes(&self) -> Vec<(u64, u64)> {
        self.dbs
            .iter()
            .map(|ks| {
                let (keys, expires) = ks.counts();
                (keys as u64, expires as u64)
            })
            .collect()
    }

    /// Every entry of database `i`, expired ones not yet reclaimed
    /// included, in no particular order; reads without side effects (for a
    /// snapshot of the whole store).
    pub fn entries(&self, i: usize) -> impl Iterator<Item = (&[u8], &Entry)> + '_ {
        self.dbs[i].keys().iter()
    }

    /// One step of database `i`'s SCAN cursor over its entries, calling `f`
    /// on each (expired ones included) without side effects; returns the
    /// next cursor, 0 at the end. It has [`Dict::scan_once`]'s guarantee:
    /// an entry present for the whole scan is visited exactly once, one
    /// added or removed meanwhile at most once, and after a call returned
    /// `c` the scan has passed the keys that
    /// [`ScanOrder::passed`]`(c, key)` says (see [`Store::scan_order`]).
    pub fn scan_entries(&self, i: usize, cursor: u64, f: impl FnMut(&[u8], &Entry)) -> u64 {
        self.dbs[i].keys().scan_once(cursor, f)
    }

    /// Where keys lie in database `i`'s scan order, for
    /// [`scan_entries`](Self::scan_entries). Valid until the database's
    /// contents are replaced as a whole (FLUSHDB, FLUSHALL, SWAPDB, which
    /// observers hear of as [`DbChange`]).
    pub fn scan_order(&self, i: usize) -> ScanOrder {
        self.dbs[i].keys().scan_order()
    }

    /// Estimated heap bytes of the keyspace (see the crate doc).
    pub fn used_memory(&self) -> usize {
        let dbs: usize = self.dbs.iter().map(Keyspace::used_memory).sum();
        dbs + malloc_size(self.dbs.capacity() * std::mem::size_of::<Keyspace>())
    }

    // ---- multi-database key operations --------------------------------------

    /// MOVE: moves `key` (with its TTL) from `src` to `dst`. `Ok(false)`
    /// when it is missing in `src` or present in `dst`.
    pub fn move_key(&mut self, src: usize, dst: usize, key: &[u8]) -> OpResult<bool> {
        if src == dst {
            return Err(OpError::SameObject);
        }
        if !self.db(src).contains(key) || self.db(dst).contains(key) {
            return Ok(false);
        }
        let Some(e) = self.db(src).remove_entry(key) else {
            return Ok(false);
        };
        self.db(dst).put_entry(key, e);
        Ok(true)
    }

    /// COPY: copies `src_key` of `src` (value and TTL) to `dst_key` of
    /// `dst`. `Ok(false)` when the source is missing, or the destination
    /// exists and not `replace`.
    pub fn copy_key(
        &mut self,
        src: usize,
        src_key: &[u8],
        dst: usize,
        dst_key: &[u8],
        replace: bool,
    ) -> OpResult<bool> {
        if src == dst && src_key == dst_key {
            return Err(OpError::SameObject);
        }
        let Some(e) = self.db(src).get_entry(src_key).cloned() else {
            return Ok(false);
        };
        let mut d = self.db(dst);
        if d.contains(dst_key) && !replace {
            return Ok(false);
        }
        d.put_entry(dst_key, e);
        Ok(true)
    }

    // ---- coordinated execution --------------------------------------------------

    /// Copies `key`'s state in every database (expired state is reclaimed
    /// first, so it is never copied).
    pub fn export(&mut self, key: &[u8]) -> Snapshot {
        let mut snap = Snapshot::default();
        for i in 0..self.dbs.len() {
            // Most databases of most servers are empty: no lookup there.
            if self.dbs[i].counts().0 == 0 {
                continue;
            }
            if let Some(e) = self.db(i).peek(key) {
                snap.entries.push(SnapshotEntry {
                    db: i as u32,
                    value: e.value.clone(),
                    expire_at: e.expire_at(),
                    access: None,
                });
            }
        }
        snap
    }

    /// Takes `key` out of every database, through the update path, with
    /// its state there: what [`Self::import`] puts back elsewhere (a key
    /// whose hash slot moves to another shard). Nothing is copied.
    pub fn take(&mut self, key: &[u8]) -> Snapshot {
        let mut snap = Snapshot::default();
        for i in 0..self.dbs.len() {
            if self.dbs[i].counts().0 == 0 {
                continue;
            }
            // Read before the removal, whose lookup stamps the clock.
            let access = self.db(i).peek_notouch(key).map(Entry::access);
            if let Some(e) = self.db(i).remove_entry(key) {
                let expire_at = e.expire_at();
                snap.entries.push(SnapshotEntry {
                    db: i as u32,
                    value: e.value,
                    expire_at,
                    access,
                });
            }
        }
        snap
    }

    /// The distinct names of the keys, in every database, that `of` says
    /// yes to (expired ones included).
    pub fn names_where(&self, of: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for ks in &self.dbs {
            for (k, _) in ks.keys().iter() {
                if of(k) {
                    out.push(k.to_vec());
                }
            }
        }
        if self.dbs.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Every live key's name, in every database, with a stand-in of its
    /// state: per database it lives in, an empty value of its type and its
    /// expiry ([`Snapshot::names_only`]). What a copy of the whole
    /// keyspace needs when only names and types matter; it costs the
    /// names, not the values.
    pub fn export_names(&mut self) -> Vec<(Vec<u8>, Snapshot)> {
        let now = self.now;
        let mut out: Vec<(Vec<u8>, Snapshot)> = Vec::new();
        let several = self.dbs.iter().filter(|ks| !ks.keys().is_empty()).count() > 1;
        let mut at: std::collections::HashMap<Vec<u8>, usize, ahash::RandomState> =
            Default::default();
        for (i, ks) in self.dbs.iter().enumerate() {
            for (k, e) in ks.keys().iter() {
                if e.expire_at().is_some_and(|t| now > t) {
                    continue;
                }
                let entry = SnapshotEntry {
                    db: i as u32,
                    value: e.value.stub(),
                    expire_at: e.expire_at(),
                    access: None,
                };
                // A key that lives in several databases is one snapshot.
                if several {
                    if let Some(&j) = at.get(k) {
                        out[j].1.entries.push(entry);
                        continue;
                    }
                    at.insert(k.to_vec(), out.len());
                }
                let snap = Snapshot {
                    entries: vec![entry],
                    names_only: true,
                };
                out.push((k.to_vec(), snap));
            }
        }
        out
    }

    /// Replaces `key`'s state in every database with `snap` (deleting it
    /// where the snapshot has no entry). Each change is a write.
    pub fn import(&mut self, key: &[u8], snap: Snapshot) {
        let mut wanted: Vec<Option<SnapshotEntry>> = (0..self.dbs.len()).map(|_| None).collect();
        for e in snap.entries {
            if let Some(slot) = wanted.get_mut(e.db as usize) {
                *slot = Some(e);
            }
        }
        for (i, want) in wanted.into_iter().enumerate() {
            // An empty database holds no old state to remove.
            if want.is_none() && self.dbs[i].counts().0 == 0 {
                continue;
            }
            let mut db = self.db(i);
            match want {
                Some(e) => {
                    db.put_entry(key, Entry::new(e.value, e.expire_at));
                    if let Some(a) = e.access {
                        db.set_access(key, a);
                    }
                }
                None => {
                    db.remove(key);
                }
            }
        }
    }

    // ---- WATCH ---------------------------------------------------------------------

    /// Registers `client`'s WATCH of `key` in database `db`.
    pub fn watch(&mut self, client: u64, db: usize, key: &[u8]) {
        if db >= self.dbs.len() {
            return;
        }
        let existed = self.db(db).contains(key);
        self.obs.watch.add(client, db, key, existed);
        self.obs.refresh();
    }

    /// Whether some client WATCHes a key `of` says yes to.
    pub fn watches_any(&self, of: impl Fn(&[u8]) -> bool) -> bool {
        self.obs.watch.count != 0 && self.obs.watch.any(of)
    }

    /// Drops every WATCH of `client` on this shard.
    pub fn unwatch(&mut self, client: u64) {
        self.obs.watch.remove_client(client);
        self.obs.refresh();
    }

    /// Whether a key `client` watches here was written, deleted, expired or
    /// flushed since its WATCH (EXEC then fails).
    pub fn watch_changed(&mut self, client: u64) -> bool {
        for (db, key) in self.obs.watch.live_at_watch(client) {
            if !self.db(db).contains(&key) {
                return true;
            }
        }
        self.obs.watch.versions_changed(client)
    }

    /// Starts (clearing the record) or stops recording written keys.
    pub fn track_dirty(&mut self, on: bool) {
        self.obs.record.on = on;
        if on {
            self.obs.record.keys.clear();
        }
        self.obs.refresh();
    }

    /// The distinct keys written in any database since tracking started,
    /// clearing the record.
    pub fn take_dirty(&mut self) -> Vec<Vec<u8>> {
        self.obs.record.keys.drain().collect()
    }

    // ---- observers -------------------------------------------------------------

    /// Adds an observer of every write (see [`Observer`]); it hears about
    /// writes after the store's own (WATCH, the written-key record) and
    /// after observers added before it.
    pub fn observe<T: Observer>(&mut self, o: T) {
        self.obs.add(o);
    }

    /// The first added observer of type `T`, to read what it collected.
    pub fn observer_mut<T: Observer>(&mut self) -> Option<&mut T> {
        self.obs.get_mut::<T>()
    }

    /// Removes the first added observer of type `T` and hands it back.
    pub fn unobserve<T: Observer>(&mut self) -> Option<T> {
        self.obs.remove::<T>()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn malloc_size_follows_jemalloc_classes() {
        let classes = [
            (1, 8),
            (8, 8),
            (9, 16),
            (60, 64),
            (65, 80),
            (128, 128),
            (129, 160),
            (200, 224),
            (257, 320),
            (1000, 1024),
            (1025, 1280),
        ];
        for (n, c) in classes {
            assert_eq!(super::malloc_size(n), c, "{n}");
        }
    }

    use super::*;

    fn sv(b: &[u8]) -> Value {
        Value::string(b)
    }

    fn get(st: &mut Store, db: usize, k: &[u8]) -> Option<Vec<u8>> {
        st.db(db).get_str(k).unwrap().map(StrValue::to_vec)
    }

    #[test]
    fn a_key_taken_to_another_store_keeps_its_value_ttl_and_access_clock() {
        let mut a = Store::new(2);
        let mut b = Store::new(2);
        a.db(0).set(b"k", sv(b"v"), SetTtl::At(u64::MAX / 2));
        a.db(1).set(b"k", sv(b"w"), SetTtl::Clear);
        assert!(a.db(0).set_access(b"k", 12_345));
        let snap = a.take(b"k");
        assert!(!a.db(0).contains(b"k") && !a.db(1).contains(b"k"));
        b.import(b"k", snap);
        {
            let mut db = b.db(0);
            let e = db.peek_notouch(b"k").expect("moved");
            assert_eq!((e.expire_at(), e.access()), (Some(u64::MAX / 2), 12_345));
        }
        // (Reads stamp the clock: after the look at it.)
        assert_eq!(get(&mut b, 0, b"k").as_deref(), Some(&b"v"[..]));
        assert_eq!(get(&mut b, 1, b"k").as_deref(), Some(&b"w"[..]));
        // A copy for a command run elsewhere carries no clock.
        assert_eq!(b.export(b"k").entries[0].access, None);
    }

    #[test]
    fn the_look_ahead_in_two_halves_hints_only_what_it_should() {
        let hinted = std::cell::RefCell::new(Vec::new());
        let hint = |p: *const u8| hinted.borrow_mut().push(p as usize);
        let mut st = Store::new(2);
        let key = |i: usize| format!("key:{i}").into_bytes();
        // Long values (kept outside their nodes) on even keys, short ones
        // (inline) on odd keys.
        let value =
            |i: usize| vec![b'a' + (i % 26) as u8; if i.is_multiple_of(2) { 100 } else { 5 }];
        let total = Store::PREFETCH_MIN_KEYS + 10;
        for i in 0..total {
            st.db(0).set(&key(i), sv(&value(i)), SetTtl::Clear);
        }
        let mut marks = [0u64; 16];
        // Not worth it: a small database, or one key.
        st.db(1).set(b"x", sv(b"y"), SetTtl::Clear);
        let one = [b"x".as_slice(), b"x"];
        assert_eq!(st.prefetch_nodes(1, one, hint, &mut marks), 0);
        assert_eq!(
            st.prefetch_nodes(0, [key(1).as_slice()], hint, &mut marks),
            0
        );
        assert_eq!(st.prefetch_nodes(7, one, hint, &mut marks), 0, "no such db");
        // Twenty keys: the first sixteen are marked.
        let keys: Vec<Vec<u8>> = (0..20).map(key).collect();
        let n = st.prefetch_nodes(0, keys.iter().map(Vec::as_slice), hint, &mut marks);
        assert_eq!(n, 16);
        // Writes in between (a delete, new keys growing the table) leave
        // the marks safe to use.
        st.db(0).remove(&key(0));
        for i in total..total + 5_000 {
            st.db(0).set(&key(i), sv(b"v"), SetTtl::Clear);
        }
        hinted.borrow_mut().clear();
        st.prefetch_values(0, &marks[..n], hint);
        // The second half hints inside values kept outside their nodes
        // (those of the chains' first nodes: the marked keys', or a key
        // sharing a chain with one), and nowhere else.
        for i in (2..16).step_by(2) {
            assert_eq!(get(&mut st, 0, &key(i)), Some(value(i)));
        }
        let ranges: Vec<(usize, usize)> = st.dbs[0]
            .keys()
            .iter()
            .filter_map(|(_, e)| e.value.out_of_line())
            .map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + b.len().min(128)))
            .collect();
        let hints = hinted.borrow();
        // (A chain whose first node holds a short value gives none.)
        assert!(hints.len() >= 2, "the long values of the marked keys");
        for &p in hints.iter() {
            assert!(ranges.iter().any(|&(a, z)| a <= p && p < z), "a stray hint");
        }
    }

    #[test]
    fn export_import_round_trip_every_db() {
        let mut a = Store::new(4);
        a.set_now(1000);
        a.db(0).set(b"k", sv(b"zero"), SetTtl::Clear);
        a.db(2).set(b"k", sv(b"two"), SetTtl::At(5000));
        a.db(3).set(b"k", sv(b"gone"), SetTtl::At(1500));
        a.set_now(2000);
        let snap = a.export(b"k");
        assert_eq!(snap.entries.len(), 2, "the expired copy is not exported");
        assert_eq!(a.stats.expired_keys, 1);

        let mut b = Store::new(4);
        b.db(1).set(b"k", sv(b"stale"), SetTtl::Clear);
        b.import(b"k", snap);
        assert_eq!(get(&mut b, 0, b"k"), Some(b"zero".to_vec()));
        assert_eq!(get(&mut b, 1, b"k"), None);
        assert_eq!(get(&mut b, 2, b"k"), Some(b"two".to_vec()));
        assert_eq!(b.db(2).ttl(b"k"), KeyTtl::At(5000));
        assert_eq!(b.db_counts(2), (1, 1));

        b.import(b"k", Snapshot::default());
        assert_eq!(b.db_sizes().iter().map(|s| s.0).sum::<u64>(), 0);
    }

    #[test]
    fn export_names_keeps_names_types_and_ttls_of_live_keys() {
        let mut a = Store::new(3);
        a.set_now(1000);
        a.db(0).set(b"s", sv(b"a long value"), SetTtl::At(9000));
        a.db(2).set(b"s", sv(b"x"), SetTtl::Clear);
        a.db(0).set(b"gone", sv(b"x"), SetTtl::At(1500));
        let mut l = crate::list::List::new();
        l.push_back(b"e");
        a.db(1).set(b"l", Value::List(Box::new(l)), SetTtl::Clear);
        a.set_now(2000);
        let mut names = a.export_names();
        names.sort_by(|x, y| x.0.cmp(&y.0));
        let keys: Vec<&[u8]> = names.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, [&b"l"[..], b"s"]);
        assert!(names.iter().all(|(_, s)| s.names_only));

        let mut b = Store::new(3);
        for (k, snap) in names {
            b.import(&k, snap);
        }
        assert_eq!(b.db_counts(0), (1, 1));
        assert_eq!(b.db(0).ttl(b"s"), KeyTtl::At(9000));
        assert_eq!(get(&mut b, 0, b"s"), Some(Vec::new()));
        assert_eq!(get(&mut b, 2, b"s"), Some(Vec::new()));
        let t = b.db(1).get(b"l").map(Value::type_name);
        assert_eq!(t, Some("list"));
    }

    #[test]
    fn tracking_records_distinct_written_keys() {
        let mut st = Store::new(2);
        st.db(0).set(b"before", sv(b"1"), SetTtl::Clear);
        st.track_dirty(true);
        assert!(st.take_dirty().is_empty());
        st.db(0).set(b"a", sv(b"1"), SetTtl::Clear);
        st.db(1).set(b"a", sv(b"2"), SetTtl::Clear);
        st.db(0).incr_by(b"n", 1).unwrap();
        st.db(0).get(b"before");
        st.db(0).remove(b"missing");
        let mut keys = st.take_dirty();
        keys.sort();
        assert_eq!(keys, vec![b"a".to_vec(), b"n".to_vec()]);
        assert!(st.take_dirty().is_empty());
        st.track_dirty(false);
        st.db(0).set(b"x", sv(b"1"), SetTtl::Clear);
        assert!(st.take_dirty().is_empty());
        assert_eq!(st.dirty, 5);
    }

    #[test]
    fn move_and_copy_between_dbs() {
        let mut st = Store::new(3);
        st.set_now(10);
        st.db(0).set(b"k", sv(b"v"), SetTtl::At(100));
        assert_eq!(st.move_key(0, 0, b"k"), Err(OpError::SameObject));
        assert_eq!(st.move_key(0, 1, b"nokey"), Ok(false));
        assert_eq!(st.move_key(0, 1, b"k"), Ok(true));
        assert_eq!(st.db(1).ttl(b"k"), KeyTtl::At(100));
        assert!(!st.db(0).contains(b"k"));
        st.db(2).set(b"k", sv(b"there"), SetTtl::Clear);
        assert_eq!(st.move_key(1, 2, b"k"), Ok(false));

        assert_eq!(
            st.copy_key(1, b"k", 1, b"k", false),
            Err(OpError::SameObject)
        );
        assert_eq!(st.copy_key(1, b"k", 2, b"k", false), Ok(false));
        assert_eq!(st.copy_key(1, b"k", 2, b"k", true), Ok(true));
        assert_eq!(get(&mut st, 2, b"k"), Some(b"v".to_vec()));
        assert_eq!(st.db(2).ttl(b"k"), KeyTtl::At(100));
        assert_eq!(st.copy_key(1, b"k", 1, b"k2", false), Ok(true));
        assert_eq!(st.copy_key(1, b"none", 1, b"k3", false), Ok(false));
    }

    #[test]
    fn watch_sees_writes_deletes_expiry_and_flushes() {
        let mut st = Store::new(2);
        st.set_now(1000);
        st.db(0).set(b"k", sv(b"v"), SetTtl::Clear);
        st.watch(1, 0, b"k");
        st.watch(2, 0, b"other");
        assert!(!st.watch_changed(1));
        st.db(1).set(b"k", sv(b"v"), SetTtl::Clear);
        assert!(
            !st.watch_changed(1),
            "another database's key is another key"
        );
        st.db(0).get(b"k");
        assert!(!st.watch_changed(1), "reads are not changes");
        st.db(0).set(b"k", sv(b"w"), SetTtl::Clear);
        assert!(st.watch_changed(1));
        assert!(!st.watch_changed(2));
        st.unwatch(1);
        assert!(!st.watch_changed(1));

        // Creation of a missing key, and deletion.
        st.db(0).set(b"other", sv(b"1"), SetTtl::Clear);
        assert!(st.watch_changed(2));
        st.unwatch(2);
        st.watch(3, 0, b"other");
        st.db(0).remove(b"other");
        assert!(st.watch_changed(3));
        st.unwatch(3);

        // Expiry, reclaimed or not.
        st.db(0).set(b"t", sv(b"1"), SetTtl::At(1500));
        st.watch(4, 0, b"t");
        st.watch(5, 0, b"t");
        st.set_now(2000);
        assert!(st.watch_changed(4), "expired but not yet reclaimed");
        assert!(st.watch_changed(5));
        st.unwatch(4);
        st.unwatch(5);

        // FLUSHDB counts only keys that existed.
        st.watch(6, 0, b"k");
        st.watch(7, 0, b"missing");
        st.db(0).flush();
        assert!(st.watch_changed(6));
        assert!(!st.watch_changed(7));
        st.unwatch(6);
        st.unwatch(7);
        assert_eq!(st.obs.watch.count, 0, "no entry outlives its watchers");
    }

    #[test]
    fn watch_sees_swapdb_of_existing_keys() {
        let mut st = Store::new(2);
        st.db(1).set(b"a", sv(b"1"), SetTtl::Clear);
        st.watch(1, 0, b"a");
        st.watch(2, 0, b"b");
        st.swap_db(0, 1);
        assert!(st.watch_changed(1));
        assert!(!st.watch_changed(2));
    }

    #[test]
    fn swap_and_flush() {
        let mut st = Store::new(2);
        st.db(0).set(b"a", sv(b"1"), SetTtl::Clear);
        st.swap_db(0, 1);
        assert_eq!(st.db_counts(0), (0, 0));
        assert_eq!(get(&mut st, 1, b"a"), Some(b"1".to_vec()));
        st.db(0).set(b"b", sv(b"1"), SetTtl::Clear);
        assert_eq!(st.flush_all(), 2);
        assert_eq!(st.db_sizes(), vec![(0, 0), (0, 0)]);
    }

    #[test]
    fn used_memory_tracks_keys_and_values() {
        let mut st = Store::new(1);
        let empty = st.used_memory();
        for i in 0..1000u32 {
            st.db(0).set(
                format!("key:{i:012}").as_bytes(),
                sv(&[b'x'; 100]),
                SetTtl::Clear,
            );
        }
        let full = st.used_memory();
        // 1000 nodes of 80 bytes, 1000 values of 112, buckets.
        assert!(full - empty >= 1000 * (80 + 112), "{}", full - empty);
        assert!(full - empty <= 1000 * (80 + 112 + 32), "{}", full - empty);
        for i in 0..1000u32 {
            st.db(0).remove(format!("key:{i:012}").as_bytes());
        }
        assert!(
            st.used_memory() - empty < 1024,
            "{}",
            st.used_memory() - empty
        );
        st.db(0).append(b"s", &[b'y'; 1000]).unwrap();
        st.db(0).append(b"s", &[b'y'; 1000]).unwrap();
        assert!(st.used_memory() - empty >= 2000);
    }
}
