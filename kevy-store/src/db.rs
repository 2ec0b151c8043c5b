//! One logical database (SELECT's index): the keyspace dict, the index of
//! keys that have a TTL, and the one path every write to a key takes.
//!
//! [`Db`] is a short-lived view that [`Store::db`](crate::Store::db) hands
//! out: the database's `Keyspace` plus the store-wide clock, counters and
//! observers. Every lookup checks the key's TTL against the cached clock
//! and deletes it when it has passed (lazy expiry), so no caller ever sees
//! an expired key.
//!
//! # The update path
//!
//! [`Db::update`] opens a [`KeyMut`] on one key; everything that changes a
//! key goes through one (the typed operations here and in the command
//! families, `set`, `remove`, `set_expire`, `rename`, MOVE and COPY), and
//! so does deletion by expiry. While it is open it keeps the TTL index in
//! step with the entry; when it closes (on drop) it settles the rest in
//! one place: the memory account of a value changed in place, deleting a
//! collection left empty, counting the write in `Store::dirty`, and
//! telling the observers (`observe.rs`) what happened. The keyspace's
//! fields and the raw entry mutators (`link`, `unlink`) are private to
//! this file, so nothing else in the crate, let alone outside it, can skip
//! any of it. Whole-database changes (FLUSHDB, FLUSHALL, SWAPDB) have
//! their counterpart: [`Db::flush`] and `Store::swap_db` tell the same
//! observers before the databases change.
//!
//! A `KeyMut` finishes when dropped, so a caller leaving early (`?`
//! included) cannot skip the accounting. This file's own straight-line
//! writes (`set`, `remove_entry`, `set_expire`, `persist`) finish theirs
//! explicitly instead (`update_manual`): without drop glue the guard stays
//! in registers, which keeps SET as cheap as a bare insert.

use crate::access::AccessClock;
use crate::dict::{Dict, Pos};
use crate::error::{OpError, OpResult};
use crate::observe::{Change, DbChange, Observers};
use crate::value::Value;
use crate::StoreStats;

/// A key's value, absolute expiry time and access clock.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Unix time in ms after which the key is gone; 0 when it has no TTL.
    expire_at: u64,
    /// The access clock (`access.rs`): Redis's 24-bit `lru` field.
    access: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 48);
// 24 bytes of inline key, the entry, the chain link: 80 bytes, jemalloc's
// 80-byte class, which also served the node before the access clock took
// 4 of its bytes (one allocation per key).
const _: () = assert!(Dict::<Entry>::NODE_SIZE == 80);

impl Entry {
    pub fn new(value: Value, expire_at: Option<u64>) -> Entry {
        Entry {
            value,
            expire_at: expire_at.map_or(0, |t| t.max(1)),
            access: 0,
        }
    }

    /// The access clock's raw 24 bits (read with the store's
    /// [`AccessClock`]).
    #[inline]
    pub fn access(&self) -> u32 {
        self.access
    }

    /// The absolute expiry time (unix ms), if the key has a TTL.
    #[inline]
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    /// Redis's `keyIsExpired`: a key is gone once the clock is past its
    /// expiry time (at exactly that millisecond it still exists).
    #[inline]
    fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }
}

/// What happens to a key's TTL when it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTtl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the existing TTL (KEEPTTL, INCR, APPEND, …).
    Keep,
    /// Expire at this unix time in ms.
    At(u64),
}

/// A key's TTL state, as TTL/PTTL/EXPIRETIME report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTtl {
    Missing,
    Persistent,
    /// Absolute unix time in ms.
    At(u64),
}

/// One database's data. Owned by the store; reached through [`Db`]. The
/// fields are private to this file, so entries change only through the
/// update path.
#[derive(Clone, Default)]
pub(crate) struct Keyspace {
    keys: Dict<Entry>,
    /// Every key with a TTL and its expiry time (mirrors `Entry::expire_at`),
    /// so the active cycle can sample keys with a TTL in O(1).
    expires: Dict<u64>,
    /// Heap bytes owned by values (see `Value::heap_bytes`).
    value_heap: usize,
    /// Where the active expiry cycle continues its scan of `expires`.
    expire_cursor: u64,
    /// Every hash that has a field with a TTL (and, until the active cycle
    /// passes, hashes that had one), so the cycle can find them; empty
    /// while no field has a TTL, which lookups test before anything else
    /// about field expiry.
    hfe: Dict<()>,
    /// Where the active cycle continues its scan of `hfe`.
    hfe_cursor: u64,
}

/// Whether `v` is a hash with some field TTL.
#[inline(always)]
fn has_field_ttls(v: &Value) -> bool {
    matches!(v, Value::Hash(h) if h.has_field_ttls())
}

impl Keyspace {
    pub(crate) fn used_memory(&self) -> usize {
        self.keys.heap_bytes() + self.expires.heap_bytes() + self.hfe.heap_bytes() + self.value_heap
    }

    /// The keys, to read (SWAPDB's observers).
    pub(crate) fn keys(&self) -> &Dict<Entry> {
        &self.keys
    }

    /// `(keys, keys with a TTL)`.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.keys.len(), self.expires.len())
    }

    /// Moves up to `n` buckets of each dict's ongoing resize; true while
    /// some resize is still going.
    pub(crate) fn rehash(&mut self, n: usize) -> bool {
        self.keys.rehash(n) || self.expires.rehash(n) || self.hfe.rehash(n)
    }

    /// Panics unless the invariants the update path keeps hold: the memory
    /// account is exact, no collection is empty, the TTL index mirrors the
    /// entries.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let heap: usize = self.keys.iter().map(|(_, e)| e.value.heap_bytes()).sum();
        assert_eq!(self.value_heap, heap, "memory account");
        for (k, e) in self.keys.iter() {
            assert!(!e.value.is_empty_collection(), "empty collection {k:?}");
            let indexed = self.expires.get(k).copied();
            assert_eq!(indexed, e.expire_at(), "TTL index of {k:?}");
        }
        let ttls = self.keys.iter().filter(|(_, e)| e.expire_at != 0).count();
        assert_eq!(self.expires.len(), ttls, "TTL index size");
        for (k, e) in self.keys.iter() {
            if has_field_ttls(&e.value) {
                assert!(self.hfe.contains_key(k), "field TTL index of {k:?}");
            }
        }
        for k in self.hfe.keys() {
            assert!(self.keys.contains_key(k), "field TTL index holds {k:?}");
        }
    }
}

/// A view of one database with the store's clock, counters and observers.
pub struct Db<'a> {
    ks: &'a mut Keyspace,
    now: u64,
    index: usize,
    dirty: &'a mut u64,
    stats: &'a mut StoreStats,
    obs: &'a mut Observers,
    clock: &'a AccessClock,
}

impl<'a> Db<'a> {
    pub(crate) fn new(
        ks: &'a mut Keyspace,
        now: u64,
        index: usize,
        dirty: &'a mut u64,
        stats: &'a mut StoreStats,
        obs: &'a mut Observers,
        clock: &'a AccessClock,
    ) -> Db<'a> {
        Db {
            ks,
            now,
            index,
            dirty,
            stats,
            obs,
            clock,
        }
    }

    /// This database's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How access clocks are stamped and read here.
    pub fn access_clock(&self) -> &AccessClock {
        self.clock
    }

    /// The cached clock (unix ms) all TTL decisions use.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Keys, including expired ones not yet reclaimed (like DBSIZE).
    pub fn len(&self) -> usize {
        self.ks.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ks.keys.is_empty()
    }

    /// Keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.ks.expires.len()
    }

    /// Hashes that have (or lately had) a field with a TTL.
    pub fn field_expires_len(&self) -> usize {
        self.ks.hfe.len()
    }

    // ---- the raw mutators and the report (only the update path calls them) ----

    /// Adds an entry for a key known to be absent, its access clock
    /// stamped now; returns where it sits.
    #[inline(always)]
    fn link(&mut self, key: &[u8], mut e: Entry) -> Pos {
        e.access = self.clock.fresh();
        self.ks.value_heap += e.value.heap_bytes();
        if e.expire_at != 0 {
            self.ks.expires.insert(key, e.expire_at);
        }
        if has_field_ttls(&e.value) {
            self.ks.hfe.insert(key, ());
        }
        self.ks.keys.insert_unique(key, e)
    }

    /// Takes `key`'s entry out of the keyspace, TTL index and memory
    /// account.
    fn unlink(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.ks.keys.remove(key)?;
        self.ks.value_heap = self.ks.value_heap.saturating_sub(e.value.heap_bytes());
        if e.expire_at != 0 {
            self.ks.expires.remove(key);
        }
        if !self.ks.hfe.is_empty() {
            self.ks.hfe.remove(key);
        }
        Some(e)
    }

    /// Counts a finished change and tells the observers.
    #[inline(always)]
    fn report(&mut self, key: &[u8], change: Change) {
        if change == Change::Expired {
            self.stats.expired_keys += 1;
        } else if change == Change::Evicted {
            self.stats.evicted_keys += 1;
        } else {
            *self.dirty += 1;
        }
        if self.obs.active() {
            self.obs.changed(self.index, key, change);
        }
    }

    /// Takes back the value at `pos` that was lent out with `before` heap
    /// bytes: accounts its size now and deletes it if it is a collection
    /// left empty. Returns where the key is (`None` once deleted).
    #[inline(always)]
    fn settle(&mut self, key: &[u8], pos: Pos, before: usize) -> Option<Pos> {
        let v = &self.ks.keys.at(pos).1.value;
        let (after, empty) = (v.heap_bytes(), v.is_empty_collection());
        self.ks.value_heap = (self.ks.value_heap + after).saturating_sub(before);
        if empty {
            self.unlink(key);
            return None;
        }
        if has_field_ttls(v) {
            self.ks.hfe.insert(key, ());
        }
        Some(pos)
    }

    /// Deletes `key` because its TTL passed (the caller checked).
    #[cold]
    #[inline(never)]
    fn expire_key(&mut self, key: &[u8]) {
        if self.obs.active() {
            let old = self.ks.keys.get(key);
            self.obs.before_write(self.index, key, old);
        }
        if self.unlink(key).is_some() {
            self.report(key, Change::Expired);
        }
    }

    /// Deletes `key` to free memory (the caller chose it): reported as
    /// [`Change::Evicted`]. False when it is not there.
    pub(crate) fn evict_key(&mut self, key: &[u8], volatile: bool) -> bool {
        // A candidate drawn earlier may be gone, or back without a TTL:
        // a volatile policy evicts only keys that have one now, as Redis
        // looks the pool's key up in the expires table.
        if volatile && self.ks.keys.get(key).is_none_or(|e| e.expire_at == 0) {
            return false;
        }
        if self.obs.active() {
            let old = self.ks.keys.get(key);
            self.obs.before_write(self.index, key, old);
        }
        if self.unlink(key).is_some() {
            self.report(key, Change::Evicted);
            return true;
        }
        false
    }

    /// Up to `n` entries for the eviction pool, from a run of buckets at a
    /// random place ([`Dict::sample_some`]): keys (all, or those with a TTL
    /// when `volatile`) with their access clock and expiry time, passed to
    /// `f`.
    pub(crate) fn sample(&self, n: usize, volatile: bool, mut f: impl FnMut(&[u8], &Entry)) {
        if volatile {
            let keys = &self.ks.keys;
            self.ks.expires.sample_some(n, |key, _| {
                if let Some(e) = keys.get(key) {
                    f(key, e);
                }
            });
        } else {
            self.ks.keys.sample_some(n, f);
        }
    }

    /// A uniformly random key (with a TTL when `volatile`), for the random
    /// policies; `None` when there is none.
    pub(crate) fn random_victim(&self, volatile: bool) -> Option<&[u8]> {
        if volatile {
            let pos = self.ks.expires.random_pos()?;
            Some(self.ks.expires.at(pos).0)
        } else {
            let pos = self.ks.keys.random_pos()?;
            Some(self.ks.keys.at(pos).0)
        }
    }

    // ---- lookups ---------------------------------------------------------------

    /// Finds a live key, deleting it first if its TTL has passed, and
    /// stamps its access clock. Expired fields of a hash are deleted too
    /// (lazy field expiry); that costs one test of an empty index while no
    /// field has a TTL.
    #[inline(always)]
    fn live(&mut self, key: &[u8]) -> Option<Pos> {
        self.live_touch(key, true)
    }

    /// [`live`](Self::live), stamping the access clock only when `touch`
    /// (Redis's `LOOKUP_NOTOUCH` is `touch == false`).
    #[inline(always)]
    fn live_touch(&mut self, key: &[u8], touch: bool) -> Option<Pos> {
        self.ks.keys.rehash_step();
        let pos = self.ks.keys.find(key)?;
        let e = self.ks.keys.at_mut(pos).1;
        if e.is_expired(self.now) {
            self.expire_key(key);
            return None;
        }
        if touch {
            self.clock.stamp(&mut e.access);
        }
        if !self.ks.hfe.is_empty() {
            if let Value::Hash(h) = &e.value {
                if h.fields_due(self.now) {
                    return self.expire_fields(key, pos, usize::MAX).0;
                }
            }
        }
        Some(pos)
    }

    /// Deletes up to `max` expired fields of the hash at `pos` through the
    /// update path: observers hear `fields_expired` (which fields, and
    /// whether the key went with them), then the key's update or deletion.
    /// Returns where the key is now and how many fields went.
    #[cold]
    #[inline(never)]
    fn expire_fields(&mut self, key: &[u8], pos: Pos, max: usize) -> (Option<Pos>, usize) {
        let now = self.now;
        // Not a command's write: like key expiry, it does not count in
        // `dirty` (which decides whether a command wrote anything).
        let dirty = *self.dirty;
        let mut k = KeyMut {
            db: self,
            key,
            pos: Some(pos),
            existed: true,
            changed: false,
            announced: false,
            lent: None,
        };
        let mut gone: Vec<Box<[u8]>> = Vec::new();
        if let Some(Value::Hash(h)) = k.value_mut() {
            h.expire_fields(now, max, |f| gone.push(f.into()));
        }
        k.changed = !gone.is_empty();
        k.settle();
        let at = k.pos;
        let db = &mut *k.db;
        db.stats.expired_fields += gone.len() as u64;
        if db.obs.active() && !gone.is_empty() {
            db.obs.fields_expired(db.index, key, &gone, at.is_none());
        }
        drop(k);
        *self.dirty = dirty;
        (at, gone.len())
    }

    #[inline]
    fn count(&mut self, key: &[u8], hit: bool) {
        if hit {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
            if self.obs.active() {
                self.obs.missed(self.index, key);
            }
        }
    }

    /// Read lookup (Redis's `lookupKeyRead`): counts a keyspace hit or miss.
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.get_entry(key).map(|e| &e.value)
    }

    /// Read lookup that leaves a hash's expired fields in place until
    /// something else reclaims them (HLEN counts them, as Redis's does).
    pub fn get_keep_fields(&mut self, key: &[u8]) -> Option<&Value> {
        self.ks.keys.rehash_step();
        let pos = self.ks.keys.find(key).filter(|&p| {
            let e = self.ks.keys.at(p).1;
            !e.is_expired(self.now)
        });
        if pos.is_none() && self.ks.keys.find(key).is_some() {
            self.expire_key(key);
        }
        self.count(key, pos.is_some());
        Some(&self.ks.keys.at(pos?).1.value)
    }

    /// Read lookup of the value with its TTL; counts a hit or miss.
    #[inline]
    pub fn get_entry(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live(key);
        self.count(key, pos.is_some());
        Some(self.ks.keys.at(pos?).1)
    }

    /// Read lookup that leaves the access clock alone (Redis's
    /// `LOOKUP_NOTOUCH`: TYPE, OBJECT, TTL); counts a hit or miss.
    #[inline]
    pub fn get_notouch(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live_touch(key, false);
        self.count(key, pos.is_some());
        Some(self.ks.keys.at(pos?).1)
    }

    /// [`Db::get_notouch`] without the `keymiss` event (Redis's
    /// `LOOKUP_NONOTIFY`: OBJECT); still counts a hit or miss.
    #[inline]
    pub fn get_notouch_quiet(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live_touch(key, false);
        match pos {
            Some(_) => self.stats.keyspace_hits += 1,
            None => self.stats.keyspace_misses += 1,
        }
        Some(self.ks.keys.at(pos?).1)
    }

    /// Sets a live key's raw access clock (RESTORE's IDLETIME and FREQ);
    /// false when the key is missing.
    pub fn set_access(&mut self, key: &[u8], field: u32) -> bool {
        let Some(pos) = self.live_touch(key, false) else {
            return false;
        };
        self.ks.keys.at_mut(pos).1.access = field & crate::access::LRU_CLOCK_MAX;
        true
    }

    /// Lookup without statistics or access stamp (MEMORY USAGE).
    #[inline]
    pub fn peek_notouch(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live_touch(key, false)?;
        Some(self.ks.keys.at(pos).1)
    }

    /// Lookup without statistics (Redis's `lookupKeyWrite` for reading).
    #[inline]
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live(key)?;
        Some(self.ks.keys.at(pos).1)
    }

    /// The live values of several keys at once (`None` for a missing key),
    /// without statistics: for commands that read many inputs together
    /// (ZUNION, ZINTER, …). A key may appear more than once.
    pub fn peek_many(&mut self, keys: &[&[u8]]) -> Vec<Option<&Value>> {
        // Reclaim expired inputs first, so what follows only reads.
        for k in keys {
            self.live(k);
        }
        let ks = &*self.ks;
        keys.iter()
            .map(|k| ks.keys.get(k).map(|e| &e.value))
            .collect()
    }

    /// Whether the key exists (no statistics, no access stamp).
    #[inline]
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live_touch(key, false).is_some()
    }

    /// The key's TTL state (a read lookup: counts a hit or miss; no access
    /// stamp).
    pub fn ttl(&mut self, key: &[u8]) -> KeyTtl {
        match self.get_notouch(key) {
            None => KeyTtl::Missing,
            Some(e) => e.expire_at().map_or(KeyTtl::Persistent, KeyTtl::At),
        }
    }

    // ---- writes ------------------------------------------------------------------

    /// Opens the update path on `key` (deleting it first if its TTL has
    /// passed, so the write sees a live key or none). See the module doc
    /// and [`KeyMut`].
    #[inline(always)]
    pub fn update<'d>(&'d mut self, key: &'d [u8]) -> KeyMut<'d, 'a> {
        let pos = self.live(key);
        KeyMut {
            db: self,
            key,
            pos,
            existed: pos.is_some(),
            changed: false,
            announced: false,
            lent: None,
        }
    }

    /// [`update`](Self::update) for this file's own writes, which run
    /// straight through and call `KeyMut::finish` themselves: without drop
    /// glue (and its unwinding path) the compiler keeps the `KeyMut` in
    /// registers, about 30 instructions less per SET. They never lend the
    /// value, so a panic before `finish` (a bug) would only skip the
    /// report.
    #[inline(always)]
    fn update_manual<'d>(&'d mut self, key: &'d [u8]) -> std::mem::ManuallyDrop<KeyMut<'d, 'a>> {
        std::mem::ManuallyDrop::new(self.update(key))
    }

    /// Sets `key` to `value` (any type), handling its TTL as `ttl` says.
    /// Returns the previous live value.
    #[inline]
    pub fn set(&mut self, key: &[u8], value: Value, ttl: SetTtl) -> Option<Value> {
        let mut k = self.update_manual(key);
        let old = k.insert(value, ttl);
        k.finish();
        old
    }

    /// Deletes `key`; returns its value if it was live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.remove_entry(key).map(|e| e.value)
    }

    /// Deletes `key`; returns its entry (value and TTL) if it was live.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<Entry> {
        let mut k = self.update_manual(key);
        let e = k.remove();
        k.finish();
        e
    }

    /// Puts an entry (value and TTL) under `key`, replacing what is there.
    pub fn put_entry(&mut self, key: &[u8], e: Entry) {
        let ttl = match e.expire_at() {
            Some(t) => SetTtl::At(t),
            None => SetTtl::Clear,
        };
        self.set(key, e.value, ttl);
    }

    /// Gives a live key a TTL (absolute unix ms). Returns false when the
    /// key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let mut k = self.update_manual(key);
        let done = k.set_expire(at);
        k.finish();
        done
    }

    /// Removes a live key's TTL. Returns true when it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let mut k = self.update_manual(key);
        let done = k.persist();
        k.finish();
        done
    }

    /// RENAME / RENAMENX. `Ok(false)` when `nx` and `to` exists. Renaming a
    /// key to itself succeeds (RENAMENX: `Ok(false)`) without a write.
    pub fn rename(&mut self, from: &[u8], to: &[u8], nx: bool) -> OpResult<bool> {
        if !self.contains(from) {
            return Err(OpError::NoSuchKey);
        }
        if from == to {
            return Ok(!nx);
        }
        if nx && self.contains(to) {
            return Ok(false);
        }
        let e = self.remove_entry(from).ok_or(OpError::NoSuchKey)?;
        self.put_entry(to, e);
        Ok(true)
    }

    /// Deletes every key; returns how many there were. Observers hear of it
    /// once, before, as [`DbChange::Flushed`].
    pub fn flush(&mut self) -> usize {
        let n = self.ks.keys.len();
        if self.obs.active() {
            let old = &self.ks.keys;
            self.obs.db_changed(self.index, DbChange::Flushed { old });
        }
        *self.ks = Keyspace::default();
        *self.dirty += n as u64;
        n
    }

    // ---- whole-keyspace reads -----------------------------------------------------

    /// Live keys matching the glob `pattern` (KEYS). Expired keys are
    /// skipped, not deleted. O(n).
    pub fn keys(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let all = pattern == b"*";
        let now = self.now;
        self.ks
            .keys
            .iter()
            .filter(|(k, e)| (all || crate::glob::matches(pattern, k)) && !e.is_expired(now))
            .map(|(k, _)| k.to_vec())
            .collect()
    }

    /// One SCAN step from `cursor`: visits buckets until `count` keys were
    /// collected (or `10 * count` buckets were visited), then drops keys
    /// that do not match `pattern` or `type_name` (case-insensitive) and
    /// keys whose TTL passed (deleting them). Returns the next cursor (0 at
    /// the end) and the keys.
    pub fn scan(
        &mut self,
        mut cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        type_name: Option<&[u8]>,
    ) -> (u64, Vec<Vec<u8>>) {
        let count = count.max(1);
        let mut found: Vec<Vec<u8>> = Vec::new();
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = self.ks.keys.scan(cursor, |k, _| found.push(k.to_vec()));
            if cursor == 0 || budget == 0 || found.len() >= count {
                break;
            }
            budget -= 1;
        }
        let pattern = pattern.filter(|p| *p != b"*");
        found.retain(|k| {
            if let Some(p) = pattern {
                if !crate::glob::matches(p, k) {
                    return false;
                }
            }
            if let Some(t) = type_name {
                // Redis looks the type up with a read lookup (stats counted).
                let ty = self.get(k).map_or("none", Value::type_name);
                if !ty.as_bytes().eq_ignore_ascii_case(t) {
                    return false;
                }
            }
            self.contains(k)
        });
        (cursor, found)
    }

    /// A random live key (RANDOMKEY); expired keys met on the way are
    /// deleted.
    pub fn random_key(&mut self) -> Option<Vec<u8>> {
        loop {
            let pos = self.ks.keys.random_pos()?;
            let (k, e) = self.ks.keys.at(pos);
            if !e.is_expired(self.now) {
                return Some(k.to_vec());
            }
            let k = k.to_vec();
            self.expire_key(&k);
        }
    }

    // ---- active expiry --------------------------------------------------------

    /// Scans the TTL index from where the last call stopped until `want`
    /// keys were looked at (or `20 * want` buckets); deletes the expired
    /// ones. Returns `(sampled, expired)`.
    pub(crate) fn expire_sample(&mut self, want: usize) -> (usize, usize) {
        let now = self.now;
        let mut sampled = 0;
        let mut dead: Vec<Vec<u8>> = Vec::new();
        let mut buckets = 0;
        let mut cursor = self.ks.expire_cursor;
        while sampled < want && buckets < want * 20 {
            cursor = self.ks.expires.scan(cursor, |k, &at| {
                sampled += 1;
                if now > at {
                    dead.push(k.to_vec());
                }
            });
            buckets += 1;
            if cursor == 0 {
                break;
            }
        }
        self.ks.expire_cursor = cursor;
        for k in &dead {
            self.expire_key(k);
        }
        (sampled, dead.len())
    }

    /// Scans the index of hashes with field TTLs from where the last call
    /// stopped until `want` hashes were looked at (or `20 * want`
    /// buckets); deletes their expired fields, at most `max_fields` in
    /// all, and drops from the index the keys that no longer have field
    /// TTLs. Returns `(sampled, fields expired, the scan wrapped around)`.
    pub(crate) fn field_expire_sample(
        &mut self,
        want: usize,
        max_fields: usize,
    ) -> (usize, usize, bool) {
        let now = self.now;
        let mut due: Vec<Vec<u8>> = Vec::new();
        let mut stale: Vec<Vec<u8>> = Vec::new();
        let mut buckets = 0;
        let mut sampled = 0;
        let mut cursor = self.ks.hfe_cursor;
        let keys = &self.ks.keys;
        while sampled < want && buckets < want * 20 {
            cursor = self.ks.hfe.scan(cursor, |k, _| {
                sampled += 1;
                match keys.get(k).map(|e| &e.value) {
                    Some(Value::Hash(h)) if h.has_field_ttls() => {
                        if h.fields_due(now) {
                            due.push(k.to_vec());
                        }
                    }
                    _ => stale.push(k.to_vec()),
                }
            });
            buckets += 1;
            if cursor == 0 {
                break;
            }
        }
        self.ks.hfe_cursor = cursor;
        for k in &stale {
            self.ks.hfe.remove(k);
        }
        let mut expired = 0;
        for k in &due {
            if expired >= max_fields {
                break;
            }
            let Some(pos) = self.ks.keys.find(k) else {
                continue;
            };
            if self.ks.keys.at(pos).1.is_expired(now) {
                self.expire_key(k);
                continue;
            }
            expired += self.expire_fields(k, pos, max_fields - expired).1;
        }
        (sampled, expired, cursor == 0)
    }
}

/// A write to one key in progress: the update path (see the module doc).
///
/// Reading through it is free; each method that changes the key tells the
/// observers' `before_write` first (once per update). The value can be
/// changed in place through [`value_mut`](Self::value_mut), and then the
/// caller says whether it did with [`changed`](Self::changed); everything
/// else (the memory account, deleting an emptied collection, the report)
/// happens when the `KeyMut` is dropped, whichever way the caller leaves,
/// `?` included. A write that changes nothing is not reported.
pub struct KeyMut<'d, 'a> {
    db: &'d mut Db<'a>,
    key: &'d [u8],
    /// Where the live entry sits; `None` while the key is missing. Valid
    /// because nothing else touches the dict while this is open.
    pos: Option<Pos>,
    /// The key was live when the update began.
    existed: bool,
    /// The value or TTL was written (a value changed in place counts once
    /// the caller says so).
    changed: bool,
    /// Observers have seen `before_write` for this update.
    announced: bool,
    /// While the value is lent out for an in-place change: its heap bytes
    /// before, which the memory account still holds.
    lent: Option<usize>,
}

impl KeyMut<'_, '_> {
    /// The key being written.
    pub fn key(&self) -> &[u8] {
        self.key
    }

    /// Whether the key exists now.
    #[inline]
    pub fn exists(&self) -> bool {
        self.pos.is_some()
    }

    /// The live entry (value and TTL), if any.
    #[inline]
    pub fn entry(&self) -> Option<&Entry> {
        Some(self.db.ks.keys.at(self.pos?).1)
    }

    /// The live value, if any.
    #[inline]
    pub fn value(&self) -> Option<&Value> {
        self.entry().map(|e| &e.value)
    }

    /// The live value, to change in place; `None` when the key is missing.
    /// Call [`changed`](Self::changed) if it was changed; a failing
    /// operation must leave it as it was.
    #[inline(always)]
    pub fn value_mut(&mut self) -> Option<&mut Value> {
        let pos = self.pos?;
        self.announce();
        let e = self.db.ks.keys.at_mut(pos).1;
        if self.lent.is_none() {
            self.lent = Some(e.value.heap_bytes());
        }
        Some(&mut e.value)
    }

    /// Runs `f` on the live value in place (`None` when the key is
    /// missing), settling its memory account and deleting it if it is a
    /// collection left empty as soon as `f` returns. The same as
    /// [`value_mut`](Self::value_mut) with the work done under one borrow
    /// of the entry, for hot in-place writes (LPUSH). Call
    /// [`changed`](Self::changed) if `f` changed the value.
    #[inline(always)]
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        self.settle();
        let pos = self.pos?;
        self.announce();
        let ks = &mut *self.db.ks;
        let v = &mut ks.keys.at_mut(pos).1.value;
        let before = v.heap_bytes();
        let r = f(v);
        let (after, empty) = (v.heap_bytes(), v.is_empty_collection());
        ks.value_heap = (ks.value_heap + after).saturating_sub(before);
        if empty {
            self.pos = None;
            self.db.unlink(self.key);
        } else if has_field_ttls(v) {
            ks.hfe.insert(self.key, ());
        }
        Some(r)
    }

    /// Reports that the value lent by [`value_mut`](Self::value_mut) or
    /// [`modify`](Self::modify) was changed.
    #[inline]
    pub fn changed(&mut self) {
        self.changed = true;
    }

    /// Sets the value (any type), handling the TTL as `ttl` says. Returns
    /// the previous value. An empty collection is deleted when the update
    /// ends, as one emptied in place is.
    #[inline(always)]
    pub fn insert(&mut self, value: Value, ttl: SetTtl) -> Option<Value> {
        self.settle();
        self.announce();
        self.changed = true;
        let empty = value.is_empty_collection();
        let old = self.replace(value, ttl);
        if empty {
            // Settled (and so deleted) like a value lent and emptied.
            self.lent = self.value().map(Value::heap_bytes);
        }
        old
    }

    /// `insert`'s store: the entry gets `value` and its TTL.
    #[inline(always)]
    fn replace(&mut self, value: Value, ttl: SetTtl) -> Option<Value> {
        let Some(pos) = self.pos else {
            let expire_at = match ttl {
                SetTtl::At(t) => t.max(1),
                SetTtl::Clear | SetTtl::Keep => 0,
            };
            let e = Entry {
                value,
                expire_at,
                access: 0,
            };
            self.pos = Some(self.db.link(self.key, e));
            return None;
        };
        let new_heap = value.heap_bytes();
        let ks = &mut *self.db.ks;
        let e = ks.keys.at_mut(pos).1;
        let old = std::mem::replace(&mut e.value, value);
        let old_at = e.expire_at;
        let new_at = match ttl {
            SetTtl::At(t) => t.max(1),
            SetTtl::Keep => old_at,
            SetTtl::Clear => 0,
        };
        e.expire_at = new_at;
        if old_at != new_at {
            if new_at == 0 {
                ks.expires.remove(self.key);
            } else {
                ks.expires.insert(self.key, new_at);
            }
        }
        ks.value_heap = (ks.value_heap + new_heap).saturating_sub(old.heap_bytes());
        if has_field_ttls(&e.value) {
            ks.hfe.insert(self.key, ());
        }
        Some(old)
    }

    /// Deletes the key; returns its entry if it was live.
    #[inline]
    pub fn remove(&mut self) -> Option<Entry> {
        self.settle();
        self.pos?;
        self.announce();
        self.pos = None;
        self.db.unlink(self.key)
    }

    /// Gives the live key a TTL (absolute unix ms). False when it is
    /// missing.
    pub fn set_expire(&mut self, at: u64) -> bool {
        let Some(pos) = self.pos else {
            return false;
        };
        self.announce();
        let at = at.max(1);
        self.db.ks.keys.at_mut(pos).1.expire_at = at;
        self.db.ks.expires.insert(self.key, at);
        self.changed = true;
        true
    }

    /// Removes the live key's TTL. True when it had one.
    pub fn persist(&mut self) -> bool {
        let Some(pos) = self.pos else {
            return false;
        };
        if self.db.ks.keys.at(pos).1.expire_at == 0 {
            return false;
        }
        self.announce();
        self.db.ks.keys.at_mut(pos).1.expire_at = 0;
        self.db.ks.expires.remove(self.key);
        self.changed = true;
        true
    }

    /// Tells the observers, once, that the key is about to change.
    #[inline(always)]
    fn announce(&mut self) {
        if self.db.obs.active() && !self.announced {
            self.announced = true;
            let db = &mut *self.db;
            let old = self.pos.map(|p| db.ks.keys.at(p).1);
            db.obs.before_write(db.index, self.key, old);
        }
    }

    /// Takes back a value lent by `value_mut`: accounts its new heap size
    /// and deletes it if it is a collection left empty.
    #[inline(always)]
    fn settle(&mut self) {
        if let (Some(before), Some(pos)) = (self.lent.take(), self.pos) {
            self.pos = self.db.settle(self.key, pos, before);
        }
    }
}

impl Drop for KeyMut<'_, '_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.finish();
    }
}

impl KeyMut<'_, '_> {
    /// The end of the update path: settles a value changed in place, then
    /// counts and reports what the write did, if anything. Runs once: on
    /// drop, or called by `Db::update_manual`'s users.
    #[inline(always)]
    fn finish(&mut self) {
        self.settle();
        let change = match (self.existed, self.pos.is_some()) {
            (false, true) => Change::Created,
            (true, false) => Change::Deleted,
            (true, true) if self.changed => Change::Updated,
            _ => return,
        };
        self.db.report(self.key, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn v(b: &[u8]) -> Value {
        Value::string(b)
    }

    fn bytes(val: Option<&Value>) -> Option<Vec<u8>> {
        val.map(|v| v.as_str().unwrap().to_vec())
    }

    #[test]
    fn lazy_expiry_hides_and_reclaims() {
        let mut st = Store::new(1);
        st.set_now(1_000);
        let mut db = st.db(0);
        db.set(b"k", v(b"x"), SetTtl::At(2_000));
        assert_eq!(db.expires_len(), 1);
        st.set_now(2_000);
        // At exactly the expiry time the key still exists (Redis: now > at).
        assert!(st.db(0).contains(b"k"));
        st.set_now(2_001);
        let mut db = st.db(0);
        assert!(db.get(b"k").is_none());
        assert_eq!((db.len(), db.expires_len()), (0, 0));
        assert_eq!(st.stats.expired_keys, 1);
        assert_eq!(st.stats.keyspace_misses, 1);
    }

    #[test]
    fn set_handles_ttl_modes() {
        let mut st = Store::new(1);
        st.set_now(100);
        let mut db = st.db(0);
        db.set(b"k", v(b"1"), SetTtl::At(500));
        db.set(b"k", v(b"2"), SetTtl::Keep);
        assert_eq!(db.ttl(b"k"), KeyTtl::At(500));
        db.set(b"k", v(b"3"), SetTtl::Clear);
        assert_eq!(db.ttl(b"k"), KeyTtl::Persistent);
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.ttl(b"nope"), KeyTtl::Missing);
        db.set(b"k", v(b"4"), SetTtl::At(200));
        st.set_now(300);
        let mut db = st.db(0);
        // Overwriting an expired key with KEEPTTL does not resurrect its TTL.
        assert!(db.set(b"k", v(b"5"), SetTtl::Keep).is_none());
        assert_eq!(db.ttl(b"k"), KeyTtl::Persistent);
        assert_eq!(st.stats.expired_keys, 1);
    }

    #[test]
    fn expire_persist_rename() {
        let mut st = Store::new(1);
        let mut db = st.db(0);
        assert!(!db.set_expire(b"k", 10));
        db.set(b"k", v(b"1"), SetTtl::Clear);
        assert!(!db.persist(b"k"));
        assert!(db.set_expire(b"k", 10));
        assert_eq!(db.expires_len(), 1);
        assert!(db.persist(b"k"));
        assert_eq!(db.expires_len(), 0);
        db.set_expire(b"k", 10);
        assert_eq!(db.rename(b"nokey", b"x", false), Err(OpError::NoSuchKey));
        assert_eq!(db.rename(b"k", b"k", false), Ok(true));
        assert_eq!(db.rename(b"k", b"k", true), Ok(false));
        assert_eq!(db.rename(b"k", b"j", false), Ok(true));
        assert_eq!(db.ttl(b"j"), KeyTtl::At(10));
        assert_eq!(db.expires_len(), 1);
        db.set(b"o", v(b"2"), SetTtl::Clear);
        assert_eq!(db.rename(b"j", b"o", true), Ok(false));
        assert_eq!(db.rename(b"j", b"o", false), Ok(true));
        assert_eq!(bytes(db.get(b"o")), Some(b"1".to_vec()));
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn keys_scan_random() {
        let mut st = Store::new(1);
        st.set_now(10);
        let mut db = st.db(0);
        for i in 0..100 {
            db.set(format!("user:{i}").as_bytes(), v(b"x"), SetTtl::Clear);
            db.set(format!("item:{i}").as_bytes(), v(b"x"), SetTtl::At(20));
        }
        assert_eq!(db.keys(b"user:1*").len(), 11);
        assert_eq!(db.keys(b"*").len(), 200);
        st.set_now(30);
        let mut db = st.db(0);
        assert_eq!(db.keys(b"*").len(), 100, "expired keys are not listed");
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        loop {
            let (next, keys) = db.scan(cur, 7, Some(b"*"), None);
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cur = next;
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|k| k.starts_with(b"user:")));
        let (_, none) = db.scan(0, 1000, None, Some(b"hash"));
        assert!(none.is_empty());
        let (_, all) = db.scan(0, 1000, Some(b"user:9*"), Some(b"STRING"));
        assert_eq!(all.len(), 11);
        for _ in 0..50 {
            assert!(db.random_key().unwrap().starts_with(b"user:"));
        }
        assert_eq!(db.flush(), 100);
        assert_eq!(db.random_key(), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8, Option<u16>),
        Get(u8),
        Del(u8),
        Expire(u8, u16),
        Persist(u8),
        Incr(u8),
        Rename(u8, u8),
        Advance(u16),
        Active,
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = 0u8..24;
        prop_oneof![
            4 => (k.clone(), any::<u8>(), proptest::option::of(0u16..2000)).prop_map(|(k, v, t)| Op::Set(k, v, t)),
            4 => k.clone().prop_map(Op::Get),
            2 => k.clone().prop_map(Op::Del),
            2 => (k.clone(), 0u16..2000).prop_map(|(k, t)| Op::Expire(k, t)),
            1 => k.clone().prop_map(Op::Persist),
            2 => k.clone().prop_map(Op::Incr),
            1 => (k.clone(), k).prop_map(|(a, b)| Op::Rename(a, b)),
            3 => (0u16..1000).prop_map(Op::Advance),
            1 => Just(Op::Active),
        ]
    }

    fn key(k: u8) -> Vec<u8> {
        format!("k{k}").into_bytes()
    }

    /// The model: key -> (bytes, expire_at).
    type Model = HashMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

    fn model_live(m: &mut Model, now: u64, k: &[u8]) -> bool {
        if let Some((_, Some(at))) = m.get(k) {
            if now > *at {
                m.remove(k);
            }
        }
        m.contains_key(k)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random set/get/del/expire/clock sequences agree with a HashMap.
        #[test]
        fn db_agrees_with_model(ops in proptest::collection::vec(op(), 1..400)) {
            let mut st = Store::new(1);
            let mut now = 1_000u64;
            st.set_now(now);
            let mut m: Model = HashMap::new();
            for o in ops {
                match o {
                    Op::Set(k, val, ttl) => {
                        let at = ttl.map(|t| now + t as u64 + 1);
                        let val = vec![b'a' + val % 26; 1 + val as usize % 30];
                        st.db(0).set(&key(k), Value::string(&val), at.map_or(SetTtl::Clear, SetTtl::At));
                        m.insert(key(k), (val, at));
                    }
                    Op::Get(k) => {
                        let live = model_live(&mut m, now, &key(k));
                        let got = bytes(st.db(0).get(&key(k)));
                        prop_assert_eq!(got, live.then(|| m[&key(k)].0.clone()));
                    }
                    Op::Del(k) => {
                        let live = model_live(&mut m, now, &key(k));
                        prop_assert_eq!(st.db(0).remove(&key(k)).is_some(), live);
                        m.remove(&key(k));
                    }
                    Op::Expire(k, t) => {
                        let live = model_live(&mut m, now, &key(k));
                        let at = now + t as u64;
                        prop_assert_eq!(st.db(0).set_expire(&key(k), at), live);
                        if live {
                            m.get_mut(&key(k)).unwrap().1 = Some(at);
                        }
                    }
                    Op::Persist(k) => {
                        let live = model_live(&mut m, now, &key(k));
                        let had = live && m[&key(k)].1.is_some();
                        prop_assert_eq!(st.db(0).persist(&key(k)), had);
                        if live {
                            m.get_mut(&key(k)).unwrap().1 = None;
                        }
                    }
                    Op::Incr(k) => {
                        let live = model_live(&mut m, now, &key(k));
                        let got = st.db(0).incr_by(&key(k), 1);
                        if !live {
                            prop_assert_eq!(got, Ok(1));
                            m.insert(key(k), (b"1".to_vec(), None));
                        } else {
                            let cur = &m[&key(k)].0;
                            match crate::num::parse_i64(cur) {
                                Some(n) => {
                                    prop_assert_eq!(got, Ok(n + 1));
                                    m.get_mut(&key(k)).unwrap().0 = (n + 1).to_string().into_bytes();
                                }
                                None => prop_assert_eq!(got, Err(OpError::NotInteger)),
                            }
                        }
                    }
                    Op::Rename(a, b) => {
                        let live = model_live(&mut m, now, &key(a));
                        model_live(&mut m, now, &key(b));
                        let got = st.db(0).rename(&key(a), &key(b), false);
                        if live {
                            prop_assert_eq!(got, Ok(true));
                            let e = m.remove(&key(a)).unwrap();
                            m.insert(key(b), e);
                        } else {
                            prop_assert_eq!(got, Err(OpError::NoSuchKey));
                        }
                    }
                    Op::Advance(ms) => {
                        now += ms as u64;
                        st.set_now(now);
                    }
                    Op::Active => {
                        st.active_expire_cycle(std::time::Instant::now() + std::time::Duration::from_secs(10));
                    }
                }
            }
            // Everything agrees at the end, TTLs included.
            for k in 0..24u8 {
                let live = model_live(&mut m, now, &key(k));
                let mut db = st.db(0);
                let want = if live {
                    m[&key(k)].1.map_or(KeyTtl::Persistent, KeyTtl::At)
                } else {
                    KeyTtl::Missing
                };
                prop_assert_eq!(db.ttl(&key(k)), want);
                prop_assert_eq!(bytes(db.get(&key(k))), live.then(|| m[&key(k)].0.clone()));
            }
            prop_assert_eq!(st.db(0).len(), m.len());
            let expiring = m.values().filter(|e| e.1.is_some()).count();
            prop_assert_eq!(st.db(0).expires_len(), expiring);
            st.dbs[0].check();
        }
    }

    /// What a key holds, in the model of the update path's test.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Shape {
        Str(Vec<u8>),
        List(Vec<Vec<u8>>),
        Hash(std::collections::BTreeMap<Vec<u8>, Vec<u8>>),
    }

    /// Writes of every kind, through the update path.
    #[derive(Debug, Clone)]
    enum Write {
        Set(u8, u8, Option<u16>),
        /// LPUSH-like: elements of some length at the back, creating.
        Push(u8, u8, u8),
        Pop(u8, u8),
        /// A whole list stored (empty: deletes the key).
        StoreList(u8, u8),
        HSet(u8, u8, u8),
        HDel(u8, u8),
        Append(u8, u8),
        Incr(u8),
        Del(u8),
        Expire(u8, u16),
        Persist(u8),
        Rename(u8, u8),
        Advance(u16),
        Active,
    }

    fn write_op() -> impl Strategy<Value = Write> {
        let k = 0u8..12;
        prop_oneof![
            3 => (k.clone(), 0u8..40, proptest::option::of(0u16..2000)).prop_map(|(k, n, t)| Write::Set(k, n, t)),
            3 => (k.clone(), 0u8..4, 0u8..40).prop_map(|(k, n, l)| Write::Push(k, n, l)),
            3 => (k.clone(), 0u8..4).prop_map(|(k, n)| Write::Pop(k, n)),
            1 => (k.clone(), 0u8..3).prop_map(|(k, n)| Write::StoreList(k, n)),
            3 => (k.clone(), 0u8..4, 0u8..70).prop_map(|(k, f, l)| Write::HSet(k, f, l)),
            2 => (k.clone(), 0u8..4).prop_map(|(k, f)| Write::HDel(k, f)),
            2 => (k.clone(), 0u8..30).prop_map(|(k, l)| Write::Append(k, l)),
            2 => k.clone().prop_map(Write::Incr),
            1 => k.clone().prop_map(Write::Del),
            2 => (k.clone(), 0u16..2000).prop_map(|(k, t)| Write::Expire(k, t)),
            1 => k.clone().prop_map(Write::Persist),
            1 => (k.clone(), k).prop_map(|(a, b)| Write::Rename(a, b)),
            2 => (0u16..1000).prop_map(Write::Advance),
            1 => Just(Write::Active),
        ]
    }

    fn elem(i: usize, len: u8) -> Vec<u8> {
        let mut e = format!("{i}-").into_bytes();
        e.resize(e.len() + len as usize, b'x');
        e
    }

    /// The store's view of a key, as the model holds it.
    fn shape(db: &mut Db<'_>, key: &[u8]) -> Option<Shape> {
        Some(match db.peek(key).map(|e| &e.value)? {
            Value::Str(s) => Shape::Str(s.to_vec()),
            Value::List(l) => Shape::List(l.iter().map(<[u8]>::to_vec).collect()),
            Value::Hash(h) => {
                Shape::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
            }
            _ => unreachable!("the test writes no other type"),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random writes of every kind (in place, whole, TTL, expiry,
        /// rename), observed or not, keep the update path's invariants
        /// after each step: the memory account is exact, no collection is
        /// left empty, the TTL index mirrors the entries; and the keyspace
        /// agrees with a model at the end.
        #[test]
        fn update_path_keeps_memory_exact_and_no_empty_collection(
            ops in proptest::collection::vec(write_op(), 1..300),
            observed in any::<bool>(),
        ) {
            use std::collections::BTreeMap;
            let mut st = Store::new(1);
            let mut now = 1_000u64;
            st.set_now(now);
            if observed {
                st.watch(1, 0, &key(3));
            }
            let mut m: HashMap<Vec<u8>, (Shape, Option<u64>)> = HashMap::new();
            let live = |m: &mut HashMap<Vec<u8>, (Shape, Option<u64>)>, now: u64, k: &[u8]| {
                if matches!(m.get(k), Some((_, Some(at))) if now > *at) {
                    m.remove(k);
                }
                m.contains_key(k)
            };
            for o in ops {
                match o {
                    Write::Set(k, n, ttl) => {
                        let at = ttl.map(|t| now + t as u64 + 1);
                        let v = vec![b's'; n as usize];
                        st.db(0).set(&key(k), Value::string(&v), at.map_or(SetTtl::Clear, SetTtl::At));
                        m.insert(key(k), (Shape::Str(v), at));
                    }
                    Write::Push(k, n, len) => {
                        live(&mut m, now, &key(k));
                        let elems: Vec<Vec<u8>> = (0..n as usize).map(|i| elem(i, len)).collect();
                        let mut db = st.db(0);
                        let kk = key(k);
                        let mut w = db.update(&kk);
                        let ok = match w.value_mut() {
                            Some(Value::List(l)) => {
                                for e in &elems {
                                    l.push_back(e);
                                }
                                if n > 0 {
                                    w.changed();
                                }
                                true
                            }
                            Some(_) => false,
                            None => {
                                let mut l = crate::list::List::new();
                                for e in &elems {
                                    l.push_back(e);
                                }
                                w.insert(Value::List(Box::new(l)), SetTtl::Clear);
                                true
                            }
                        };
                        drop(w);
                        match m.get_mut(&key(k)) {
                            Some((Shape::List(l), _)) => l.extend(elems),
                            Some(_) => prop_assert!(!ok),
                            None if n > 0 => {
                                m.insert(key(k), (Shape::List(elems), None));
                            }
                            None => {}
                        }
                    }
                    Write::Pop(k, n) => {
                        live(&mut m, now, &key(k));
                        let mut db = st.db(0);
                        let kk = key(k);
                        let mut w = db.update(&kk);
                        let popped = w.modify(|v| match v {
                            Value::List(l) => l.pop_front_n(n as usize).len(),
                            _ => 0,
                        });
                        if popped.unwrap_or(0) > 0 {
                            w.changed();
                        }
                        drop(w);
                        if let Some((Shape::List(l), _)) = m.get_mut(&key(k)) {
                            l.drain(..l.len().min(n as usize));
                            if l.is_empty() {
                                m.remove(&key(k));
                            }
                        }
                    }
                    Write::StoreList(k, n) => {
                        let elems: Vec<Vec<u8>> = (0..n as usize).map(|i| elem(i, 5)).collect();
                        let mut l = crate::list::List::new();
                        for e in &elems {
                            l.push_back(e);
                        }
                        st.db(0).set(&key(k), Value::List(Box::new(l)), SetTtl::Clear);
                        if n == 0 {
                            m.remove(&key(k));
                        } else {
                            m.insert(key(k), (Shape::List(elems), None));
                        }
                    }
                    Write::HSet(k, f, len) => {
                        live(&mut m, now, &key(k));
                        let (f, v) = (vec![b'f', f], vec![b'v'; len as usize]);
                        let mut db = st.db(0);
                        let kk = key(k);
                        let mut w = db.update(&kk);
                        let ok = match w.value_mut() {
                            Some(Value::Hash(h)) => {
                                h.set(&f, &v);
                                w.changed();
                                true
                            }
                            Some(_) => false,
                            None => {
                                let mut h = crate::hash::Hash::new();
                                h.set(&f, &v);
                                w.insert(Value::Hash(h), SetTtl::Clear);
                                true
                            }
                        };
                        drop(w);
                        match m.get_mut(&key(k)) {
                            Some((Shape::Hash(h), _)) => {
                                h.insert(f, v);
                            }
                            Some(_) => prop_assert!(!ok),
                            None => {
                                m.insert(key(k), (Shape::Hash(BTreeMap::from([(f, v)])), None));
                            }
                        }
                    }
                    Write::HDel(k, f) => {
                        live(&mut m, now, &key(k));
                        let f = vec![b'f', f];
                        let mut db = st.db(0);
                        let kk = key(k);
                        let mut w = db.update(&kk);
                        if let Some(Value::Hash(h)) = w.value_mut() {
                            if h.remove(&f) {
                                w.changed();
                            }
                        }
                        drop(w);
                        if let Some((Shape::Hash(h), _)) = m.get_mut(&key(k)) {
                            h.remove(&f);
                            if h.is_empty() {
                                m.remove(&key(k));
                            }
                        }
                    }
                    Write::Append(k, len) => {
                        live(&mut m, now, &key(k));
                        let data = vec![b'a'; len as usize];
                        let got = st.db(0).append(&key(k), &data);
                        match m.get_mut(&key(k)) {
                            Some((Shape::Str(s), _)) => s.extend(&data),
                            Some(_) => prop_assert_eq!(got, Err(OpError::WrongType)),
                            None => {
                                m.insert(key(k), (Shape::Str(data), None));
                            }
                        }
                    }
                    Write::Incr(k) => {
                        live(&mut m, now, &key(k));
                        let got = st.db(0).incr_by(&key(k), 1);
                        match m.get_mut(&key(k)) {
                            Some((Shape::Str(s), _)) => match crate::num::parse_i64(s) {
                                Some(n) if n < i64::MAX => {
                                    prop_assert_eq!(got, Ok(n + 1));
                                    *s = (n + 1).to_string().into_bytes();
                                }
                                _ => prop_assert!(got.is_err()),
                            },
                            Some(_) => prop_assert_eq!(got, Err(OpError::WrongType)),
                            None => {
                                prop_assert_eq!(got, Ok(1));
                                m.insert(key(k), (Shape::Str(b"1".to_vec()), None));
                            }
                        }
                    }
                    Write::Del(k) => {
                        let was = live(&mut m, now, &key(k));
                        prop_assert_eq!(st.db(0).remove(&key(k)).is_some(), was);
                        m.remove(&key(k));
                    }
                    Write::Expire(k, t) => {
                        let was = live(&mut m, now, &key(k));
                        let at = now + t as u64;
                        prop_assert_eq!(st.db(0).set_expire(&key(k), at), was);
                        if let Some(e) = m.get_mut(&key(k)) {
                            e.1 = Some(at);
                        }
                    }
                    Write::Persist(k) => {
                        live(&mut m, now, &key(k));
                        st.db(0).persist(&key(k));
                        if let Some(e) = m.get_mut(&key(k)) {
                            e.1 = None;
                        }
                    }
                    Write::Rename(a, b) => {
                        let was = live(&mut m, now, &key(a));
                        live(&mut m, now, &key(b));
                        let got = st.db(0).rename(&key(a), &key(b), false);
                        prop_assert_eq!(got.is_ok(), was);
                        if was {
                            let e = m.remove(&key(a)).unwrap();
                            m.insert(key(b), e);
                        }
                    }
                    Write::Advance(ms) => {
                        now += ms as u64;
                        st.set_now(now);
                    }
                    Write::Active => {
                        st.active_expire_cycle(std::time::Instant::now() + std::time::Duration::from_secs(10));
                    }
                }
                st.dbs[0].check();
            }
            for k in 0..12u8 {
                let want = live(&mut m, now, &key(k)).then(|| m[&key(k)].clone());
                let mut db = st.db(0);
                prop_assert_eq!(shape(&mut db, &key(k)), want.clone().map(|e| e.0));
                let ttl = want.map_or(KeyTtl::Missing, |e| e.1.map_or(KeyTtl::Persistent, KeyTtl::At));
                prop_assert_eq!(db.ttl(&key(k)), ttl);
            }
            st.dbs[0].check();
            prop_assert_eq!(st.db(0).len(), m.len());
        }
    }
}
