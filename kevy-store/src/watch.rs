//! WATCH on one shard: which clients watch which keys, and whether a key
//! changed since. A watched key carries a version that every change bumps
//! (WATCH is one of the update path's observers, see `observe.rs`); a
//! client's registration remembers the version it saw, so "changed since
//! WATCH" is one compare.
//!
//! Only watched keys have an entry, and the observer is called only while
//! some key is watched: a shard nobody watches pays one branch per write.

use std::collections::HashMap;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// A watched key: its version and how many registrations point at it.
struct WatchedKey {
    version: u64,
    refs: u32,
}

/// One client's WATCH of one key.
struct Reg {
    db: u32,
    key: Vec<u8>,
    /// The key's version when the WATCH registered.
    version: u64,
    /// The key was live then (so its expiry since is a change).
    existed: bool,
}

#[derive(Default)]
pub(crate) struct Watches {
    /// Per database: watched key -> version and reference count.
    keys: Vec<Map<Vec<u8>, WatchedKey>>,
    /// Client id -> its registrations on this shard.
    clients: Map<u64, Vec<Reg>>,
    /// Source of versions: bumped on every change to a watched key.
    clock: u64,
    /// Watched (db, key) pairs; 0 lets the update path skip this observer.
    pub(crate) count: usize,
}

impl Watches {
    /// `key` in `db` changed.
    #[inline]
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(w) = self.keys.get_mut(db).and_then(|m| m.get_mut(key)) {
            self.clock += 1;
            w.version = self.clock;
        }
    }

    /// Bumps every key watched in `db` for which `exists` holds (FLUSHDB,
    /// SWAPDB: Redis counts only keys that were there as changed).
    pub(crate) fn touch_all(&mut self, db: usize, mut exists: impl FnMut(&[u8]) -> bool) {
        let Some(m) = self.keys.get_mut(db) else {
            return;
        };
        for (k, w) in m.iter_mut() {
            if exists(k) {
                self.clock += 1;
                w.version = self.clock;
            }
        }
    }

    /// Whether some client watches a key `of` says yes to, in any
    /// database.
    pub(crate) fn any(&self, of: impl Fn(&[u8]) -> bool) -> bool {
        self.keys.iter().any(|m| m.keys().any(|k| of(k)))
    }

    pub(crate) fn watched_in(&self, db: usize) -> bool {
        self.keys.get(db).is_some_and(|m| !m.is_empty())
    }

    /// Registers `client`'s WATCH of `key` in `db`; a repeat is a no-op, as
    /// in Redis.
    pub(crate) fn add(&mut self, client: u64, db: usize, key: &[u8], existed: bool) {
        let regs = self.clients.entry(client).or_default();
        if regs.iter().any(|r| r.db as usize == db && r.key == key) {
            return;
        }
        if self.keys.len() <= db {
            self.keys.resize_with(db + 1, Map::default);
        }
        let clock = self.clock;
        let w = self.keys[db].entry(key.to_vec()).or_insert_with(|| {
            self.count += 1;
            WatchedKey {
                version: clock,
                refs: 0,
            }
        });
        w.refs += 1;
        regs.push(Reg {
            db: db as u32,
            key: key.to_vec(),
            version: w.version,
            existed,
        });
    }

    /// Drops every registration of `client`.
    pub(crate) fn remove_client(&mut self, client: u64) {
        let Some(regs) = self.clients.remove(&client) else {
            return;
        };
        for r in regs {
            let m = &mut self.keys[r.db as usize];
            if let Some(w) = m.get_mut(&r.key) {
                w.refs -= 1;
                if w.refs == 0 {
                    m.remove(&r.key);
                    self.count -= 1;
                }
            }
        }
    }

    /// The keys `client` watched while they were live: each must still be
    /// live, or it expired since (a change).
    pub(crate) fn live_at_watch(&self, client: u64) -> Vec<(usize, Vec<u8>)> {
        self.clients.get(&client).map_or_else(Vec::new, |regs| {
            regs.iter()
                .filter(|r| r.existed)
                .map(|r| (r.db as usize, r.key.clone()))
                .collect()
        })
    }

    /// Whether a key `client` watches has a new version since its WATCH.
    pub(crate) fn versions_changed(&self, client: u64) -> bool {
        self.clients.get(&client).is_some_and(|regs| {
            regs.iter().any(|r| {
                let now = self.keys[r.db as usize]
                    .get(&r.key)
                    .map_or(u64::MAX, |w| w.version);
                now != r.version
            })
        })
    }
}
