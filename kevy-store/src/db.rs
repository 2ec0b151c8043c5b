//! One logical database (SELECT's index): the keyspace dict, the index of
//! keys that have a TTL, and the one path every write takes.
//!
//! [`Db`] is a short-lived view that [`Store::db`](crate::Store::db) hands
//! out: the database's [`Keyspace`] plus the store-wide clock, counters and
//! write tracking. Every lookup checks the key's TTL against the cached
//! clock and deletes it when it has passed (lazy expiry), so no caller ever
//! sees an expired key.
//!
//! # The write hook
//!
//! Every change to a key goes through [`Db::touched`]: it counts the change
//! in `Store::dirty` and, while tracking is on, records the key for
//! coordinated execution (`Store::take_dirty`). Keys deleted because their
//! TTL passed go through the sibling hook `expired`, which records the key
//! but is not a client write (Redis does not count it in `dirty`). Both
//! also bump the version of a watched key (WATCH, see `watch.rs`); the
//! append-only log and replication are meant to hang off these two hooks
//! too, so there is one place that sees every write.
//!
//! Code that changes a value in place through [`Db::get_mut`] must call
//! [`Db::touched`] when it changed something, and [`Db::account`] when the
//! value's heap size changed; everything else here does both itself.

use crate::dict::{Dict, Pos};
use crate::error::{OpError, OpResult};
use crate::value::Value;
use crate::watch::Watches;
use crate::StoreStats;
use std::collections::HashSet;

/// A key's value and absolute expiry time.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Unix time in ms after which the key is gone; 0 when it has no TTL.
    expire_at: u64,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 40);
// 24 bytes of inline key, the entry, the chain link: 72 bytes, which glibc
// serves from the same 80-byte chunk as 64 (one allocation per key).
const _: () = assert!(Dict::<Entry>::NODE_SIZE == 72);

impl Entry {
    pub fn new(value: Value, expire_at: Option<u64>) -> Entry {
        Entry {
            value,
            expire_at: expire_at.map_or(0, |t| t.max(1)),
        }
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

/// One database's data. Owned by the store; reached through [`Db`].
#[derive(Clone, Default)]
pub(crate) struct Keyspace {
    pub(crate) keys: Dict<Entry>,
    /// Every key with a TTL and its expiry time (mirrors `Entry::expire_at`),
    /// so the active cycle can sample keys with a TTL in O(1).
    pub(crate) expires: Dict<u64>,
    /// Heap bytes owned by values (see `Value::heap_bytes`).
    pub(crate) value_heap: usize,
    /// Where the active expiry cycle continues its scan of `expires`.
    pub(crate) expire_cursor: u64,
}

impl Keyspace {
    pub(crate) fn used_memory(&self) -> usize {
        self.keys.heap_bytes() + self.expires.heap_bytes() + self.value_heap
    }
}

/// What the write hook feeds: keys written while tracking is on
/// (coordinated execution), and WATCH versions.
#[derive(Default)]
pub(crate) struct Tracking {
    pub(crate) on: bool,
    pub(crate) keys: HashSet<Vec<u8>, ahash::RandomState>,
    pub(crate) watch: Watches,
}

/// A view of one database with the store's clock, counters and tracking.
pub struct Db<'a> {
    pub(crate) ks: &'a mut Keyspace,
    pub(crate) now: u64,
    pub(crate) index: usize,
    pub(crate) dirty: &'a mut u64,
    pub(crate) stats: &'a mut StoreStats,
    pub(crate) track: &'a mut Tracking,
}

impl<'a> Db<'a> {
    /// This database's index.
    pub fn index(&self) -> usize {
        self.index
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

    // ---- hooks ---------------------------------------------------------------

    /// The write hook: `key` changed in this database. See the module doc.
    #[inline]
    pub fn touched(&mut self, key: &[u8]) {
        *self.dirty += 1;
        if self.track.on {
            record(self.track, key);
        }
        if self.track.watch.count != 0 {
            self.track.watch.touch(self.index, key);
        }
    }

    /// `key` was deleted because its TTL passed.
    fn expired(&mut self, key: &[u8]) {
        self.stats.expired_keys += 1;
        if self.track.on {
            record(self.track, key);
        }
        if self.track.watch.count != 0 {
            self.track.watch.touch(self.index, key);
        }
    }

    /// A value changed its heap size in place from `before` to `after`
    /// bytes (both from `Value::heap_bytes`).
    #[inline]
    pub fn account(&mut self, before: usize, after: usize) {
        self.ks.value_heap = (self.ks.value_heap + after).saturating_sub(before);
    }

    // ---- lookups ---------------------------------------------------------------

    /// Finds a live key, deleting it first if its TTL has passed.
    #[inline]
    fn live(&mut self, key: &[u8]) -> Option<Pos> {
        self.ks.keys.rehash_step();
        let pos = self.ks.keys.find(key)?;
        if self.ks.keys.at(pos).1.is_expired(self.now) {
            self.expire_key(key);
            return None;
        }
        Some(pos)
    }

    fn expire_key(&mut self, key: &[u8]) {
        if let Some(e) = self.ks.keys.remove(key) {
            self.ks.value_heap = self.ks.value_heap.saturating_sub(e.value.heap_bytes());
            if e.expire_at != 0 {
                self.ks.expires.remove(key);
            }
            self.expired(key);
        }
    }

    #[inline]
    fn count(&mut self, hit: bool) {
        if hit {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
    }

    /// Read lookup (Redis's `lookupKeyRead`): counts a keyspace hit or miss.
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.get_entry(key).map(|e| &e.value)
    }

    /// Read lookup of the value with its TTL; counts a hit or miss.
    #[inline]
    pub fn get_entry(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live(key);
        self.count(pos.is_some());
        Some(self.ks.keys.at(pos?).1)
    }

    /// Lookup without statistics (Redis's `lookupKeyWrite` for reading).
    #[inline]
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        let pos = self.live(key)?;
        Some(self.ks.keys.at(pos).1)
    }

    /// Write lookup: the value, mutable, without statistics. A caller that
    /// changes it calls [`touched`](Self::touched) (and
    /// [`account`](Self::account) if its heap size changed).
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let pos = self.live(key)?;
        Some(&mut self.ks.keys.at_mut(pos).1.value)
    }

    /// Whether the key exists (no statistics).
    #[inline]
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// The key's TTL state (a read lookup: counts a hit or miss).
    pub fn ttl(&mut self, key: &[u8]) -> KeyTtl {
        match self.get_entry(key) {
            None => KeyTtl::Missing,
            Some(e) => e.expire_at().map_or(KeyTtl::Persistent, KeyTtl::At),
        }
    }

    // ---- writes ------------------------------------------------------------------

    /// Sets `key` to `value` (any type), handling its TTL as `ttl` says.
    /// Returns the previous live value.
    pub fn set(&mut self, key: &[u8], value: Value, ttl: SetTtl) -> Option<Value> {
        self.ks.keys.rehash_step();
        let now = self.now;
        let new_heap = value.heap_bytes();
        let Some(pos) = self.ks.keys.find(key) else {
            let at = match ttl {
                SetTtl::At(t) => t.max(1),
                SetTtl::Clear | SetTtl::Keep => 0,
            };
            self.ks.keys.insert_unique(
                key,
                Entry {
                    value,
                    expire_at: at,
                },
            );
            if at != 0 {
                self.ks.expires.insert(key, at);
            }
            self.ks.value_heap += new_heap;
            self.touched(key);
            return None;
        };
        let e = self.ks.keys.at_mut(pos).1;
        let expired = e.is_expired(now);
        let old_at = e.expire_at;
        let new_at = match ttl {
            SetTtl::At(t) => t.max(1),
            SetTtl::Keep if !expired => old_at,
            SetTtl::Keep | SetTtl::Clear => 0,
        };
        let old = std::mem::replace(&mut e.value, value);
        e.expire_at = new_at;
        if old_at != new_at {
            if new_at == 0 {
                self.ks.expires.remove(key);
            } else {
                self.ks.expires.insert(key, new_at);
            }
        }
        self.ks.value_heap = (self.ks.value_heap + new_heap).saturating_sub(old.heap_bytes());
        if expired {
            // The old key died before this write: account for it as Redis
            // does (lookupKeyWrite expires it, then the key is added).
            self.expired(key);
            self.touched(key);
            return None;
        }
        self.touched(key);
        Some(old)
    }

    /// Deletes `key`; returns its value if it was live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.remove_entry(key).map(|e| e.value)
    }

    /// Deletes `key`; returns its entry (value and TTL) if it was live.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<Entry> {
        self.live(key)?;
        let e = self.ks.keys.remove(key)?;
        self.ks.value_heap = self.ks.value_heap.saturating_sub(e.value.heap_bytes());
        if e.expire_at != 0 {
            self.ks.expires.remove(key);
        }
        self.touched(key);
        Some(e)
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
        let Some(pos) = self.live(key) else {
            return false;
        };
        let at = at.max(1);
        self.ks.keys.at_mut(pos).1.expire_at = at;
        self.ks.expires.insert(key, at);
        self.touched(key);
        true
    }

    /// Removes a live key's TTL. Returns true when it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(pos) = self.live(key) else {
            return false;
        };
        let e = self.ks.keys.at_mut(pos).1;
        if e.expire_at == 0 {
            return false;
        }
        e.expire_at = 0;
        self.ks.expires.remove(key);
        self.touched(key);
        true
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

    /// Deletes every key; returns how many there were.
    pub fn flush(&mut self) -> usize {
        let n = self.ks.keys.len();
        if self.track.watch.watched_in(self.index) {
            let keys = &self.ks.keys;
            self.track
                .watch
                .touch_all(self.index, |k| keys.find(k).is_some());
        }
        if self.track.on {
            for k in self.ks.keys.keys() {
                record(self.track, k);
            }
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
}

fn record(track: &mut Tracking, key: &[u8]) {
    if !track.keys.contains(key) {
        track.keys.insert(key.to_vec());
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
        }
    }
}
