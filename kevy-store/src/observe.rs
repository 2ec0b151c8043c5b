//! Observers of the update path: what a write looks like from outside the
//! keyspace, and the one list of parties that hear about it.
//!
//! Every change to a key reaches `Observers` from one place in `db.rs`
//! (see the crate doc, "The update path"), so a feature that needs to see
//! writes implements [`Observer`] instead of adding call sites. Nobody
//! listening costs one branch per write: `Observers` keeps a flag that is
//! set only while some observer wants events.

use crate::db::Entry;
use crate::dict::Dict;
use crate::watch::Watches;
use std::any::Any;
use std::collections::HashSet;

/// What a write did to one key, as observers see it once it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// The key did not exist and now does.
    Created,
    /// The key existed and still does; its value or its TTL changed.
    Updated,
    /// A command deleted the key: DEL, the source of RENAME or MOVE, a
    /// collection left empty, a stored result that is empty, …
    Deleted,
    /// The key's TTL passed and it was deleted, by a lookup (lazily) or by
    /// the active cycle. Not a command's write: it counts in
    /// `expired_keys`, not in `dirty`.
    Expired,
    /// The key was deleted to bring memory under `maxmemory`. Not a
    /// command's write either: it counts in `evicted_keys`.
    Evicted,
}

/// A change to a whole database. The dicts are the contents as they are
/// when the observer is called, just before the change.
#[derive(Clone, Copy)]
pub enum DbChange<'a> {
    /// FLUSHDB, or FLUSHALL for each database: every key in `old` goes.
    Flushed { old: &'a Dict<Entry> },
    /// SWAPDB: the database's keys `old` are replaced by `new` (the other
    /// database's). Each of the two databases gets its own call.
    Swapped {
        old: &'a Dict<Entry>,
        new: &'a Dict<Entry>,
    },
}

impl DbChange<'_> {
    /// Whether `key` exists in the database before or after the change:
    /// the keys a WATCH counts as changed (Redis's
    /// `touchAllWatchedKeysInDb`).
    pub fn involves(&self, key: &[u8]) -> bool {
        match self {
            DbChange::Flushed { old } => old.find(key).is_some(),
            DbChange::Swapped { old, new } => old.find(key).is_some() || new.find(key).is_some(),
        }
    }
}

/// A party that hears about every write. Calls arrive in this order for
/// one key: [`before_write`](Self::before_write) once before the first
/// mutation, then [`changed`](Self::changed) once the change is complete.
/// Observers get no access to the store: they record what they need and
/// act on it after the command (wake a client, send an invalidation, …).
pub trait Observer: Any {
    /// `key` in database `db` is about to change; `old` is its current
    /// entry (`None`: the key is missing and may be created). Called at
    /// most once per update, and possibly without a `changed` after it
    /// when the write turns out to change nothing (SADD of a member that
    /// is there). A snapshot copies a value it has not written yet here.
    fn before_write(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
        let _ = (db, key, old);
    }

    /// `key` in database `db` changed as `change` says. The keyspace is
    /// already consistent: an emptied collection is gone, the TTL index
    /// and the memory account are up to date.
    fn changed(&mut self, db: usize, key: &[u8], change: Change) {
        let _ = (db, key, change);
    }

    /// Database `db` as a whole is about to change (FLUSHDB, FLUSHALL,
    /// SWAPDB); no per-key calls follow.
    fn db_changed(&mut self, db: usize, change: DbChange<'_>) {
        let _ = (db, change);
    }

    /// A read lookup (one that counts a keyspace hit or miss, Redis's
    /// `lookupKeyRead`) found no live `key` in database `db`.
    fn missed(&mut self, db: usize, key: &[u8]) {
        let _ = (db, key);
    }

    /// The hash at `key` in database `db` lost `fields` because their TTLs
    /// passed (by a lookup or the active cycle); `key_deleted` when they
    /// were its last. Called after `before_write` and before the key's
    /// own `changed` (updated or deleted).
    fn fields_expired(&mut self, db: usize, key: &[u8], fields: &[Box<[u8]>], key_deleted: bool) {
        let _ = (db, key, fields, key_deleted);
    }
}

/// What the store holds: an observer it can hand back by type.
trait Registered: Observer {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Observer> Registered for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The keys written while recording is on (coordinated execution reads
/// them back with `Store::take_dirty`).
#[derive(Default)]
pub(crate) struct KeyRecord {
    pub(crate) on: bool,
    pub(crate) keys: HashSet<Vec<u8>, ahash::RandomState>,
}

impl KeyRecord {
    fn record(&mut self, key: &[u8]) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_vec());
        }
    }
}

impl Observer for KeyRecord {
    fn changed(&mut self, _db: usize, key: &[u8], _change: Change) {
        self.record(key);
    }

    fn db_changed(&mut self, _db: usize, change: DbChange<'_>) {
        let (old, new) = match change {
            DbChange::Flushed { old } => (old, None),
            DbChange::Swapped { old, new } => (old, Some(new)),
        };
        for k in old.keys().chain(new.into_iter().flat_map(Dict::keys)) {
            self.record(k);
        }
    }
}

impl Observer for Watches {
    fn changed(&mut self, db: usize, key: &[u8], _change: Change) {
        self.touch(db, key);
    }

    fn db_changed(&mut self, db: usize, change: DbChange<'_>) {
        if self.watched_in(db) {
            self.touch_all(db, |k| change.involves(k));
        }
    }
}

/// Everyone who hears about writes: the store's own observers (WATCH
/// versions, the written-key record) and those added with
/// `Store::observe`, called in that order.
#[derive(Default)]
pub(crate) struct Observers {
    /// Some observer wants events; the write path tests only this.
    active: bool,
    pub(crate) watch: Watches,
    pub(crate) record: KeyRecord,
    added: Vec<Box<dyn Registered>>,
}

impl Observers {
    /// Recomputes the flag; called whenever an observer starts or stops
    /// wanting events.
    pub(crate) fn refresh(&mut self) {
        self.active = self.watch.count != 0 || self.record.on || !self.added.is_empty();
    }

    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    pub(crate) fn add<T: Observer>(&mut self, o: T) {
        self.added.push(Box::new(o));
        self.refresh();
    }

    pub(crate) fn get_mut<T: Observer>(&mut self) -> Option<&mut T> {
        self.added
            .iter_mut()
            .find_map(|o| o.as_any_mut().downcast_mut::<T>())
    }

    pub(crate) fn remove<T: Observer>(&mut self) -> Option<T> {
        let i = self
            .added
            .iter_mut()
            .position(|o| o.as_any_mut().is::<T>())?;
        let o = self.added.remove(i);
        self.refresh();
        o.into_any().downcast::<T>().ok().map(|b| *b)
    }

    /// Callers test [`active`](Self::active) first.
    #[inline(never)]
    pub(crate) fn before_write(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
        for o in &mut self.added {
            o.before_write(db, key, old);
        }
    }

    /// Callers test [`active`](Self::active) first.
    #[inline(never)]
    pub(crate) fn changed(&mut self, db: usize, key: &[u8], change: Change) {
        if self.watch.count != 0 {
            self.watch.changed(db, key, change);
        }
        if self.record.on {
            self.record.changed(db, key, change);
        }
        for o in &mut self.added {
            o.changed(db, key, change);
        }
    }

    /// Callers test [`active`](Self::active) first.
    #[inline(never)]
    pub(crate) fn fields_expired(
        &mut self,
        db: usize,
        key: &[u8],
        fields: &[Box<[u8]>],
        deleted: bool,
    ) {
        for o in &mut self.added {
            o.fields_expired(db, key, fields, deleted);
        }
    }

    /// Callers test [`active`](Self::active) first.
    #[inline(never)]
    pub(crate) fn missed(&mut self, db: usize, key: &[u8]) {
        for o in &mut self.added {
            o.missed(db, key);
        }
    }

    /// Callers test [`active`](Self::active) first.
    #[inline(never)]
    pub(crate) fn db_changed(&mut self, db: usize, change: DbChange<'_>) {
        if self.watch.count != 0 {
            self.watch.db_changed(db, change);
        }
        if self.record.on {
            self.record.db_changed(db, change);
        }
        for o in &mut self.added {
            o.db_changed(db, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SetTtl;
    use crate::list::List;
    use crate::value::Value;
    use crate::Store;
    use std::time::{Duration, Instant};

    /// What an observer heard, in order.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Event {
        /// Before a write: db, key, whether the key was live.
        Before(usize, Vec<u8>, bool),
        Changed(usize, Vec<u8>, Change),
        /// A whole-database change: db, its keys before, the keys it gets
        /// (empty for a flush), each sorted.
        Db(usize, Vec<Vec<u8>>, Vec<Vec<u8>>),
    }
    use Event::*;

    #[derive(Default)]
    struct Log(Vec<Event>);

    fn sorted(d: &Dict<Entry>) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = d.keys().map(<[u8]>::to_vec).collect();
        keys.sort();
        keys
    }

    impl Observer for Log {
        fn before_write(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
            self.0.push(Before(db, key.to_vec(), old.is_some()));
        }

        fn changed(&mut self, db: usize, key: &[u8], change: Change) {
            self.0.push(Changed(db, key.to_vec(), change));
        }

        fn db_changed(&mut self, db: usize, change: DbChange<'_>) {
            self.0.push(match change {
                DbChange::Flushed { old } => Db(db, sorted(old), Vec::new()),
                DbChange::Swapped { old, new } => Db(db, sorted(old), sorted(new)),
            });
        }
    }

    fn take(st: &mut Store) -> Vec<Event> {
        std::mem::take(&mut st.observer_mut::<Log>().unwrap().0)
    }

    /// The events of one write to `key` in `db` that found it live or not
    /// and ended as `change`.
    fn write(db: usize, key: &str, live: bool, change: Change) -> Vec<Event> {
        let k = key.as_bytes().to_vec();
        vec![Before(db, k.clone(), live), Changed(db, k, change)]
    }

    fn sv(s: &str) -> Value {
        Value::string(s.as_bytes())
    }

    fn list(n: usize) -> Value {
        let mut l = List::new();
        for i in 0..n {
            l.push_back(format!("e{i}").as_bytes());
        }
        Value::List(Box::new(l))
    }

    /// Pops `n` elements of the list at `key` through the update path.
    fn pop(st: &mut Store, key: &[u8], n: usize) {
        let mut db = st.db(0);
        let mut k = db.update(key);
        let Some(Value::List(l)) = k.value_mut() else {
            panic!("no list at {key:?}");
        };
        l.pop_front_n(n);
        k.changed();
    }

    #[test]
    fn an_observer_hears_every_kind_of_write_once() {
        use Change::*;
        let mut st = Store::new(2);
        st.set_now(1000);
        st.observe(Log::default());

        // Create, overwrite, change in place, create in place.
        st.db(0).set(b"a", sv("1"), SetTtl::Clear);
        assert_eq!(take(&mut st), write(0, "a", false, Created));
        st.db(0).set(b"a", sv("2"), SetTtl::Clear);
        assert_eq!(take(&mut st), write(0, "a", true, Updated));
        st.db(0).incr_by(b"a", 1).unwrap();
        assert_eq!(take(&mut st), write(0, "a", true, Updated));
        st.db(0).incr_by(b"n", 1).unwrap();
        assert_eq!(take(&mut st), write(0, "n", false, Created));

        // TTL changes are updates; a PERSIST that finds no TTL is nothing.
        assert!(st.db(0).set_expire(b"a", 10_000));
        assert_eq!(take(&mut st), write(0, "a", true, Updated));
        assert!(st.db(0).persist(b"a"));
        assert_eq!(take(&mut st), write(0, "a", true, Updated));
        assert!(!st.db(0).persist(b"a"));
        assert_eq!(take(&mut st), []);

        // Writes that change nothing are not heard of.
        let nx = crate::string::SetCond::IfAbsent;
        let s = crate::StrValue::from_input(b"x");
        st.db(0).set_str(b"a", s, nx, SetTtl::Clear, false).unwrap();
        assert_eq!(st.db(0).incr_by(b"big", i64::MAX), Ok(i64::MAX));
        take(&mut st);
        assert!(st.db(0).incr_by(b"big", 1).is_err());
        st.db(0).get(b"a");
        assert!(take(&mut st).iter().all(|e| matches!(e, Before(..))));

        // Delete; deleting a missing key is nothing.
        assert!(st.db(0).remove(b"a").is_some());
        assert_eq!(take(&mut st), write(0, "a", true, Deleted));
        assert!(st.db(0).remove(b"a").is_none());
        assert_eq!(take(&mut st), []);

        // Lazy expiry, once, on the lookup that finds the key dead; a
        // write to a dead key is its expiry and then a creation.
        st.db(0).set(b"t", sv("1"), SetTtl::At(1500));
        st.db(0).set(b"u", sv("1"), SetTtl::At(1500));
        take(&mut st);
        st.set_now(2000);
        assert!(st.db(0).get(b"t").is_none());
        assert!(st.db(0).get(b"t").is_none());
        assert_eq!(take(&mut st), write(0, "t", true, Expired));
        st.db(0).set(b"u", sv("2"), SetTtl::Clear);
        let mut want = write(0, "u", true, Expired);
        want.extend(write(0, "u", false, Created));
        assert_eq!(take(&mut st), want);

        // Active expiry.
        st.db(1).set(b"v", sv("1"), SetTtl::At(2500));
        take(&mut st);
        st.set_now(3000);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(st.active_expire_cycle(far), 1);
        assert_eq!(take(&mut st), write(1, "v", true, Expired));
        assert_eq!(st.stats.expired_keys, 3);

        // A collection emptied in place, or stored empty, is deleted: one
        // deletion, no update.
        st.db(0).set(b"l", list(2), SetTtl::Clear);
        assert_eq!(take(&mut st), write(0, "l", false, Created));
        pop(&mut st, b"l", 1);
        assert_eq!(take(&mut st), write(0, "l", true, Updated));
        pop(&mut st, b"l", 1);
        assert_eq!(take(&mut st), write(0, "l", true, Deleted));
        assert!(!st.db(0).contains(b"l"));
        st.db(0).set(b"l", list(1), SetTtl::Clear);
        st.db(0).set(b"e", list(0), SetTtl::Clear);
        take(&mut st);
        assert!(!st.db(0).contains(b"e"), "never stored");
        st.db(0).set(b"l", list(0), SetTtl::Clear);
        assert_eq!(take(&mut st), write(0, "l", true, Deleted));
        assert!(!st.db(0).contains(b"l"));

        // RENAME: the source goes, the destination is created or updated.
        st.db(0).set(b"r", sv("1"), SetTtl::Clear);
        take(&mut st);
        st.db(0).rename(b"r", b"s", false).unwrap();
        let mut want = write(0, "r", true, Deleted);
        want.extend(write(0, "s", false, Created));
        assert_eq!(take(&mut st), want);
        st.db(0).set(b"r", sv("1"), SetTtl::Clear);
        take(&mut st);
        st.db(0).rename(b"r", b"s", false).unwrap();
        let mut want = write(0, "r", true, Deleted);
        want.extend(write(0, "s", true, Updated));
        assert_eq!(take(&mut st), want);

        // MOVE and COPY between databases.
        st.move_key(0, 1, b"s").unwrap();
        let mut want = write(0, "s", true, Deleted);
        want.extend(write(1, "s", false, Created));
        assert_eq!(take(&mut st), want);
        st.copy_key(1, b"s", 0, b"c", false).unwrap();
        assert_eq!(take(&mut st), write(0, "c", false, Created));

        // Whole databases: one event per database, none per key.
        let keys =
            |ks: &[&str]| -> Vec<Vec<u8>> { ks.iter().map(|k| k.as_bytes().to_vec()).collect() };
        assert_eq!(st.db(0).flush(), 4);
        assert_eq!(
            take(&mut st),
            [Db(0, keys(&["big", "c", "n", "u"]), vec![])]
        );
        st.db(0).set(b"x", sv("1"), SetTtl::Clear);
        take(&mut st);
        st.swap_db(0, 1);
        assert_eq!(
            take(&mut st),
            [
                Db(0, keys(&["x"]), keys(&["s"])),
                Db(1, keys(&["s"]), keys(&["x"])),
            ]
        );
        assert_eq!(st.flush_all(), 2);
        assert_eq!(
            take(&mut st),
            [Db(0, keys(&["s"]), vec![]), Db(1, keys(&["x"]), vec![])]
        );

        // Detached, it hears nothing more.
        assert!(st.unobserve::<Log>().is_some());
        assert!(st.observer_mut::<Log>().is_none());
        st.db(0).set(b"a", sv("1"), SetTtl::Clear);
        assert!(!st.obs.active());
    }

    #[test]
    fn dirty_counts_the_writes_observers_hear() {
        let mut st = Store::new(1);
        st.set_now(1000);
        st.observe(Log::default());
        st.db(0).set(b"k", list(1), SetTtl::At(1500));
        st.db(0).set(b"k", list(2), SetTtl::Keep);
        pop(&mut st, b"k", 2);
        st.db(0).set(b"j", sv("1"), SetTtl::At(1500));
        st.db(0).incr_by(b"i", 5).unwrap();
        st.db(0).append(b"i", b"0").unwrap();
        st.db(0).set_range(b"i", 0, b"").unwrap();
        st.set_now(2000);
        st.db(0).get(b"j");
        let events = take(&mut st);
        let writes = events
            .iter()
            .filter(|e| matches!(e, Changed(_, _, c) if *c != Change::Expired))
            .count() as u64;
        assert_eq!(writes, 6);
        assert_eq!(st.dirty, writes);
        assert_eq!(st.stats.expired_keys, 1);
    }

    #[test]
    fn a_read_that_finds_nothing_is_a_miss() {
        #[derive(Default)]
        struct Misses(Vec<(usize, Vec<u8>)>);
        impl Observer for Misses {
            fn missed(&mut self, db: usize, key: &[u8]) {
                self.0.push((db, key.to_vec()));
            }
        }
        let mut st = Store::new(2);
        st.set_now(1000);
        st.observe(Misses::default());
        st.db(0).set(b"a", sv("1"), SetTtl::Clear);
        st.db(1).set(b"t", sv("1"), SetTtl::At(1500));
        assert!(st.db(0).get(b"a").is_some());
        assert!(st.db(0).get(b"b").is_none());
        // Lookups without statistics are not misses.
        assert!(!st.db(0).contains(b"c"));
        assert!(st.db(0).peek(b"c").is_none());
        st.set_now(2000);
        assert!(st.db(1).get(b"t").is_none(), "expired, then missed");
        let got = std::mem::take(&mut st.observer_mut::<Misses>().unwrap().0);
        assert_eq!(got, [(0, b"b".to_vec()), (1, b"t".to_vec())]);
        assert_eq!(st.stats.keyspace_misses, 2);
    }

    #[test]
    fn watch_and_an_added_observer_both_hear() {
        let mut st = Store::new(1);
        st.db(0).set(b"l", list(1), SetTtl::Clear);
        st.watch(7, 0, b"l");
        st.observe(Log::default());
        pop(&mut st, b"l", 1);
        assert!(st.watch_changed(7), "an emptied list is a change");
        assert_eq!(take(&mut st), write(0, "l", true, Change::Deleted));
        st.unwatch(7);
        assert!(st.obs.active(), "the added observer still listens");
        st.unobserve::<Log>();
        assert!(!st.obs.active());
    }
}
