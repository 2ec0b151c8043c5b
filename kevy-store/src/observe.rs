//! Observers of the update path: what a write looks like from outside the
//! keyspace, and the one list of parties that hear about it.
//!
//! Every change to a key reaches [`Observers`] from exactly one place in
//! `db.rs` (see the crate doc, "The update path"), so a feature that needs
//! to see writes implements [`Observer`] instead of adding call sites.
//! Nobody listening costs one branch per write: [`Observers`] keeps a flag
//! that is set only while some observer wants events.

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
