//! One shard's key locks for transactions (see the crate doc): which
//! transaction holds which keys, and a FIFO queue of what waits.
//!
//! The rule that makes the queue fair: a newcomer may go ahead only if it
//! conflicts with nothing held *and* nothing queued ahead of it, so a
//! stream of commands on a key cannot overtake a transaction waiting for it.
//! A command also waits behind anything its own connection has queued on
//! this shard, which keeps one connection's commands in order. "Its own"
//! means the same connection through the same shard ([`owner`]): a
//! connection that moved to another shard waits for what it left locked
//! as any other connection does.
//!
//! Locks are shared or exclusive: a claim that only reads its keys (MGET,
//! EXISTS, a MULTI of reads) shares them with other readers, so many
//! clients reading the same keys across shards do not queue behind each
//! other; a claim that writes any key excludes every other connection.
//! Two-phase locking with shared and exclusive locks is still
//! serializable, and a queued writer holds back later readers (FIFO), so
//! readers cannot starve it.

use std::collections::{HashMap, HashSet, VecDeque};

type Map<K, V> = HashMap<K, V, ahash::RandomState>;
type Set<K> = HashSet<K, ahash::RandomState>;

/// A transaction's identity: its home shard and its slot there.
pub(crate) type TxId = u64;

pub(crate) fn tx_id(home: usize, op: u32) -> TxId {
    ((home as u64) << 32) | op as u64
}

/// A key name's identity in the lock table: a 64-bit hash, the same on
/// every shard. Two names with one hash would only make commands on them
/// wait for each other (never run together wrongly), and hashing once
/// spares the lock path an allocation per key.
pub(crate) fn key_id(key: &[u8]) -> u64 {
    static SEEDS: ahash::RandomState = ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    SEEDS.hash_one(key)
}

/// What a request touches on this shard.
#[derive(Debug, Default)]
pub(crate) struct Claim {
    /// Distinct key names (every database), as [`key_id`]s.
    pub keys: Vec<u64>,
    /// The whole shard (KEYS, FLUSHALL, SCAN, …). Always exclusive.
    pub whole: bool,
    /// The connection the request belongs to.
    pub client: u64,
    /// It only reads its keys: shared with other readers.
    pub read: bool,
    /// The shard the request came through: the connection's home when it
    /// was sent (the shard coordinating its transaction, or sending its
    /// command).
    pub via: u32,
}

/// The client a put-back claims as (`Executor::put_back`): the element a
/// shard served ahead to a client that no longer waits goes back as the
/// server's write, which no connection's locks let through. No
/// connection has this id (they count up from 1).
pub(crate) const PUT_BACK: u64 = CLIENT_LIMIT - 1;

/// Client ids stay below this in the lock table, which keeps the shard
/// an owner came through in the bits above ([`owner`]): 2^48 ids leave 16
/// bits, room for every shard count `--shards` accepts (up to 1024). No
/// server opens 2^48 connections in its life.
const CLIENT_LIMIT: u64 = 1 << 48;

/// Who a claim belongs to in the lock table: its connection, through the
/// shard it came from. A connection's own locks do not stop its commands
/// (below) because those travel one path, in order, from its home; a
/// connection that moved to another shard sends from there, and its new
/// commands could overtake what its old home still has on the way (the
/// write-back and unlock of its last transaction, already answered), so
/// they wait for those locks like anyone else's.
pub(crate) fn owner(client: u64, via: u32) -> u64 {
    debug_assert!(client < CLIENT_LIMIT, "client ids stay below 2^48");
    debug_assert!(via < 1 << 16, "shards stay below 2^16");
    (u64::from(via) << 48) | client
}

impl Claim {
    /// The claim's identity in the lock table ([`owner`]).
    pub fn owner(&self) -> u64 {
        owner(self.client, self.via)
    }

    /// Whether it names nothing (a WATCH registration).
    fn is_empty(&self) -> bool {
        !self.whole && self.keys.is_empty()
    }

    fn conflicts(&self, other: &Claim) -> bool {
        if self.owner() == other.owner() {
            return true;
        }
        if self.whole || other.whole {
            return true;
        }
        if self.read && other.read {
            return false;
        }
        let (small, big) = if self.keys.len() <= other.keys.len() {
            (&self.keys, &other.keys)
        } else {
            (&other.keys, &self.keys)
        };
        small.iter().any(|k| big.contains(k))
    }
}

/// Something waiting in the queue, with what it will touch.
pub(crate) struct Waiting<W> {
    pub claim: Claim,
    pub what: W,
}

/// Who holds a lock: one connection's transactions, counted.
#[derive(Clone, Copy, Debug)]
struct Holder {
    /// The connection through the shard it came from ([`owner`]).
    owner: u64,
    count: u32,
}

/// The holders of one key: one connection's transactions, which may read
/// or write it, or any number of connections' readers. The first holder
/// is kept inline: a key held by one connection (nearly every key) costs
/// no allocation. A key read by many connections at once (a hot key under
/// MGET from every client) finds each of them through an index once they
/// are more than [`SCAN_MAX`], so holding and releasing it stays O(1)
/// however many read it.
#[derive(Debug)]
struct KeyHold {
    /// The first connection holding the key, with how many of its claims
    /// do.
    first: Holder,
    /// Further connections holding it (readers only), each once.
    more: Vec<Holder>,
    /// Where each connection of `more` is in it, while `more` is longer
    /// than [`SCAN_MAX`].
    at: Option<Box<Map<u64, u32>>>,
    /// How many of the claims write it (all of one connection's).
    writes: u32,
}

/// The longest holder list searched by a scan; a longer one is indexed.
const SCAN_MAX: usize = 8;

impl KeyHold {
    fn new(client: u64) -> Self {
        KeyHold {
            first: Holder {
                owner: client,
                count: 0,
            },
            more: Vec::new(),
            at: None,
            writes: 0,
        }
    }

    /// Whether a claim of `client` (reading only, or not) must wait.
    fn blocks(&self, client: u64, read: bool) -> bool {
        // Holders are distinct connections: another one holds the key
        // when the first is not `client` or there is a second.
        let other = self.first.owner != client || !self.more.is_empty();
        other && (!read || self.writes > 0)
    }

    /// Where `client` is in `more`.
    fn find(&self, client: u64) -> Option<usize> {
        match &self.at {
            Some(at) => at.get(&client).map(|&i| i as usize),
            None => self.more.iter().position(|h| h.owner == client),
        }
    }

    /// Counts one more claim of `client`.
    fn add(&mut self, client: u64) {
        if self.first.owner == client {
            self.first.count += 1;
            return;
        }
        if let Some(i) = self.find(client) {
            self.more[i].count += 1;
            return;
        }
        self.more.push(Holder {
            owner: client,
            count: 1,
        });
        match &mut self.at {
            Some(at) => {
                at.insert(client, (self.more.len() - 1) as u32);
            }
            None if self.more.len() > SCAN_MAX => {
                let at = self.more.iter().enumerate();
                self.at = Some(Box::new(at.map(|(i, h)| (h.owner, i as u32)).collect()));
            }
            None => {}
        }
    }

    /// Counts one claim of `client` less; false when nobody holds the key
    /// any more.
    fn remove(&mut self, client: u64) -> bool {
        if self.first.owner == client {
            self.first.count -= 1;
            if self.first.count == 0 {
                let Some(h) = self.more.pop() else {
                    return false;
                };
                if let Some(at) = &mut self.at {
                    at.remove(&h.owner);
                }
                self.first = h;
            }
        } else if let Some(i) = self.find(client) {
            self.more[i].count -= 1;
            if self.more[i].count == 0 {
                self.more.swap_remove(i);
                if let Some(at) = &mut self.at {
                    at.remove(&client);
                    if let Some(moved) = self.more.get(i) {
                        at.insert(moved.owner, i as u32);
                    }
                }
            }
        }
        // Few readers left: a scan is cheaper than the index again (half
        // the threshold, so a count around it does not build and drop it
        // by turns).
        if self.at.is_some() && self.more.len() <= SCAN_MAX / 2 {
            self.at = None;
        }
        true
    }

    fn len(&self) -> usize {
        1 + self.more.len()
    }
}

/// How many released claims' key lists the table keeps, and how long
/// each may be: enough for the transactions in flight on a shard at once.
const FREE_KEYS: usize = 512;
const FREE_KEY_CAP: usize = 64;
/// The longest spare queue buffer kept between grant passes.
const SPARE_QUEUE: usize = 1024;

pub(crate) struct Locks<W> {
    /// Key id -> who holds it.
    held: Map<u64, KeyHold>,
    /// Transactions holding locks here, with their claims.
    owners: Map<TxId, Claim>,
    /// The connection whose transactions hold the whole shard.
    whole: Option<Holder>,
    queue: VecDeque<Waiting<W>>,
    /// An empty queue kept for `grantable`'s next rebuild, so a pass moves
    /// waiters between two buffers instead of allocating one.
    spare: VecDeque<Waiting<W>>,
    /// Key lists of released claims, kept for the next claims
    /// ([`Self::keys_vec`]): few, and small, so what is kept stays bounded.
    free_keys: Vec<Vec<u64>>,
    /// Key ids named by queued claims (with counts), and queued
    /// whole-shard claims: a release that touches none of them cannot let
    /// a waiter go, and `grantable` is then skipped.
    queued_keys: Map<u64, u32>,
    /// Connections with queued claims (with counts): with the two above,
    /// what lets `may_go` answer without walking the queue when a claim
    /// shares nothing with it.
    queued_clients: Map<u64, u32>,
    queued_whole: u32,
    /// Queued claims that name nothing (WATCH registrations).
    queued_empty: u32,
    /// A release or grant since the last pass may have freed a waiter.
    dirty: bool,
    /// Scratch sets of `grantable`, kept so a pass allocates nothing once
    /// warm.
    scratch: Scratch,
}

/// Who was granted a key in one `grantable` pass.
#[derive(Default, Clone, Copy)]
struct Granted {
    writer: Option<u64>,
    reader: Option<u64>,
    /// A second connection reads it too.
    readers: bool,
}

#[derive(Default)]
struct Scratch {
    kept_clients: Set<u64>,
    kept_keys: Map<u64, bool>,
    granted_keys: Map<u64, Granted>,
    granted_named: Set<u64>,
    keep: Vec<bool>,
}

impl Scratch {
    fn clear(&mut self) {
        // A pass over an unusually long queue leaves big tables; let them
        // go rather than keep them for ever.
        const KEEP: usize = 4096;
        if self.kept_keys.capacity() > KEEP || self.granted_keys.capacity() > KEEP {
            *self = Scratch::default();
            return;
        }
        self.kept_clients.clear();
        self.kept_keys.clear();
        self.granted_keys.clear();
        self.granted_named.clear();
        self.keep.clear();
    }
}

impl<W> Default for Locks<W> {
    fn default() -> Self {
        Locks {
            held: Map::default(),
            owners: Map::default(),
            whole: None,
            queue: VecDeque::new(),
            spare: VecDeque::new(),
            free_keys: Vec::new(),
            queued_keys: Map::default(),
            queued_clients: Map::default(),
            queued_whole: 0,
            queued_empty: 0,
            dirty: false,
            scratch: Scratch::default(),
        }
    }
}

impl<W> Locks<W> {
    /// Whether anything is held or waiting; when not, every command may run
    /// without looking further (the fast path's one branch).
    #[inline]
    pub fn active(&self) -> bool {
        !self.owners.is_empty() || !self.queue.is_empty()
    }

    /// Whether nothing is held, queued or counted as queued: what every
    /// table must come back to once its transactions are done (and what a
    /// slot move waits for).
    pub fn is_idle(&self) -> bool {
        self.owners.is_empty()
            && self.queue.is_empty()
            && self.held.is_empty()
            && self.whole.is_none()
            && self.queued_keys.is_empty()
            && self.queued_clients.is_empty()
            && self.queued_whole == 0
            && self.queued_empty == 0
    }

    /// How many transactions hold locks here, and how many entries wait.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (self.owners.len(), self.queue.len())
    }

    /// How many connections hold `key` (shared readers count each).
    #[cfg(test)]
    pub fn holders_of(&self, key: &[u8]) -> usize {
        self.held.get(&key_id(key)).map_or(0, KeyHold::len)
    }

    /// Whether `claim` conflicts with a lock held by another connection. A
    /// connection's own locks do not stop it: its commands run in the order
    /// it sent them anyway, and letting its next transaction take keys its
    /// previous one still holds is what lets pipelined transactions overlap.
    fn blocked_by_held(&self, claim: &Claim) -> bool {
        let other = |h: &Holder| h.owner != claim.owner();
        if self.whole.as_ref().is_some_and(other) {
            return true;
        }
        if claim.whole {
            return self.owners.values().any(|c| c.owner() != claim.owner());
        }
        claim.keys.iter().any(|k| {
            self.held
                .get(k)
                .is_some_and(|h| h.blocks(claim.owner(), claim.read))
        })
    }

    /// Whether a newcomer with `claim` may go now: nothing held or queued
    /// ahead conflicts with it.
    pub fn may_go(&self, claim: &Claim) -> bool {
        !self.blocked_by_held(claim) && !self.conflicts_queued(claim)
    }

    /// Whether `claim` conflicts with a queued one. A queued claim
    /// conflicts only through its connection, a whole shard or a key it
    /// names: when none of the three is shared, nothing is walked.
    fn conflicts_queued(&self, claim: &Claim) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        if !claim.whole
            && self.queued_whole == 0
            && !self.queued_clients.contains_key(&claim.owner())
            && !claim.keys.iter().any(|k| self.queued_keys.contains_key(k))
        {
            return false;
        }
        self.queue.iter().any(|w| w.claim.conflicts(claim))
    }

    /// An empty key list for a new claim, recycled from a released one
    /// when there is one.
    #[inline]
    pub fn keys_vec(&mut self) -> Vec<u64> {
        self.free_keys.pop().unwrap_or_default()
    }

    /// Gives a claim's key list back for [`Self::keys_vec`]. At most
    /// [`FREE_KEYS`] lists of at most [`FREE_KEY_CAP`] keys are kept.
    #[inline]
    pub fn recycle(&mut self, mut keys: Vec<u64>) {
        if self.free_keys.len() < FREE_KEYS
            && keys.capacity() != 0
            && keys.capacity() <= FREE_KEY_CAP
        {
            keys.clear();
            self.free_keys.push(keys);
        }
    }

    pub fn enqueue(&mut self, claim: Claim, what: W) {
        for k in &claim.keys {
            *self.queued_keys.entry(*k).or_insert(0) += 1;
        }
        self.queued_whole += u32::from(claim.whole);
        self.queued_empty += u32::from(claim.is_empty());
        *self.queued_clients.entry(claim.owner()).or_insert(0) += 1;
        self.queue.push_back(Waiting { claim, what });
    }

    /// The latest queued waiter that `which` picks.
    pub fn queued_mut(&mut self, which: impl Fn(&W) -> bool) -> Option<&mut W> {
        self.queue
            .iter_mut()
            .rev()
            .map(|w| &mut w.what)
            .find(|w| which(w))
    }

    /// The waiter queued last, to attach what arrived right behind it.
    pub fn last_queued_mut(&mut self) -> Option<&mut W> {
        self.queue.back_mut().map(|w| &mut w.what)
    }

    /// Takes the locks of `claim` for `owner` (the caller checked
    /// [`may_go`](Self::may_go) or is granting from the queue).
    pub fn hold(&mut self, owner: TxId, claim: Claim) {
        let client = claim.owner();
        for k in &claim.keys {
            let h = self.held.entry(*k).or_insert_with(|| KeyHold::new(client));
            h.add(client);
            if !claim.read {
                debug_assert!(h.len() == 1, "a written key has one holding connection");
                h.writes += 1;
            }
        }
        if claim.whole {
            match self.whole.as_mut() {
                Some(h) => {
                    debug_assert_eq!(h.owner, client, "one connection holds a shard");
                    h.count += 1;
                }
                None => {
                    self.whole = Some(Holder {
                        owner: client,
                        count: 1,
                    })
                }
            }
        }
        self.owners.insert(owner, claim);
    }

    /// Releases every lock of `owner`. The caller then runs
    /// [`grantable`](Self::grantable) to let waiters go.
    pub fn release(&mut self, owner: TxId) {
        let Some(mut claim) = self.owners.remove(&owner) else {
            return;
        };
        if !self.queue.is_empty()
            && (claim.whole
                || self.queued_whole > 0
                || claim.keys.iter().any(|k| self.queued_keys.contains_key(k)))
        {
            self.dirty = true;
        }
        for k in &claim.keys {
            if let Some(h) = self.held.get_mut(k) {
                if !claim.read {
                    h.writes -= 1;
                }
                if !h.remove(claim.owner()) {
                    self.held.remove(k);
                }
            }
        }
        if claim.whole {
            if let Some(h) = self.whole.as_mut() {
                h.count -= 1;
                if h.count == 0 {
                    self.whole = None;
                }
            }
        }
        self.recycle(std::mem::take(&mut claim.keys));
    }

    /// Removes and returns, in queue order, waiters that conflict neither
    /// with a lock held by another connection nor with a waiter ahead of
    /// them (staying queued, or granted in this pass to another
    /// connection). The caller holds the returned lock requests (with
    /// [`hold`](Self::hold)) and runs the returned commands in that order,
    /// then calls again until nothing is returned: a command granted here
    /// is done by then, which may free a waiter behind it.
    pub fn grantable(&mut self) -> Vec<Waiting<W>> {
        let mut go = Vec::new();
        if self.queue.is_empty() || !std::mem::take(&mut self.dirty) {
            return go;
        }
        // One pass in queue order, O(total keys): what stays queued ahead
        // holds back its own connection and any claim it conflicts with;
        // what is granted in this pass holds back other connections' claims
        // on its keys (it holds them once the caller is done), but not its
        // own connection's next entries, which the caller runs after it.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let Scratch {
            kept_clients,
            // Keys of claims that stay queued: whether any of them writes.
            kept_keys,
            // Keys granted in this pass: who writes and who reads them.
            granted_keys,
            granted_named,
            keep,
        } = &mut scratch;
        let mut kept_whole = false;
        let mut kept_named = false;
        let mut granted_whole: Option<u64> = None;
        keep.resize(self.queue.len(), false);
        // The last claim kept that writes keys: a writer on the same keys
        // right behind it (a queue of transactions on one hot key) is held
        // back by it, and adds nothing to what is kept but its connection.
        let mut last_writer: Option<&Claim> = None;
        for (i, w) in self.queue.iter().enumerate() {
            let c = &w.claim;
            if !c.read && !c.whole && last_writer.is_some_and(|l| l.keys == c.keys) {
                keep[i] = true;
                kept_clients.insert(c.owner());
                continue;
            }
            let other_granted = |client: u64| granted_named.iter().any(|&g| g != client);
            let blocked = kept_clients.contains(&c.owner())
                || (!c.is_empty()
                    && (kept_whole
                        || (c.whole && kept_named)
                        || granted_whole.is_some_and(|g| g != c.owner())
                        || (c.whole && other_granted(c.owner()))
                        || c.keys.iter().any(|k| {
                            kept_keys.get(k).is_some_and(|&w| w || !c.read)
                                || granted_keys.get(k).is_some_and(|g| {
                                    g.writer.is_some_and(|w| w != c.owner())
                                        || (!c.read
                                            && (g.readers
                                                || g.reader.is_some_and(|r| r != c.owner())))
                                })
                        })))
                || self.blocked_by_held(c);
            if blocked {
                keep[i] = true;
                kept_clients.insert(c.owner());
                if !c.read && !c.whole && !c.keys.is_empty() {
                    last_writer = Some(c);
                    // Every queued claim names only keys this kept writer
                    // holds back (nothing else is queued: no other key, no
                    // whole shard, no WATCH registration), so nothing
                    // behind it can go: the pass ends here.
                    if self.queued_whole == 0
                        && self.queued_empty == 0
                        && self.queued_keys.len() <= c.keys.len()
                        && self.queued_keys.keys().all(|k| c.keys.contains(k))
                    {
                        keep[i..].fill(true);
                        break;
                    }
                }
                if !c.is_empty() {
                    kept_named = true;
                    kept_whole |= c.whole;
                    for k in &c.keys {
                        *kept_keys.entry(*k).or_insert(false) |= !c.read;
                    }
                }
            } else if !c.is_empty() {
                granted_named.insert(c.owner());
                if c.whole {
                    granted_whole = Some(c.owner());
                }
                for k in &c.keys {
                    let g = granted_keys.entry(*k).or_default();
                    if !c.read {
                        g.writer = Some(c.owner());
                    } else if g.reader.is_none_or(|r| r == c.owner()) {
                        g.reader = Some(c.owner());
                    } else {
                        g.readers = true;
                    }
                }
            }
        }
        // The waiters that stay move to the spare buffer, which becomes the
        // queue; the old one, drained, is the next spare (dropped when one
        // unusually long queue made it big).
        let mut old = std::mem::replace(&mut self.queue, std::mem::take(&mut self.spare));
        for (i, w) in old.drain(..).enumerate() {
            if keep[i] {
                self.queue.push_back(w);
            } else {
                for k in &w.claim.keys {
                    if let Some(n) = self.queued_keys.get_mut(k) {
                        *n -= 1;
                        if *n == 0 {
                            self.queued_keys.remove(k);
                        }
                    }
                }
                self.queued_whole -= u32::from(w.claim.whole);
                self.queued_empty -= u32::from(w.claim.is_empty());
                if let Some(n) = self.queued_clients.get_mut(&w.claim.owner()) {
                    *n -= 1;
                    if *n == 0 {
                        self.queued_clients.remove(&w.claim.owner());
                    }
                }
                go.push(w);
            }
        }
        if old.capacity() <= SPARE_QUEUE {
            self.spare = old;
        }
        self.scratch = scratch;
        // What was granted runs (or holds) before the next pass, which may
        // then let a waiter behind it go.
        self.dirty = !go.is_empty();
        go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(client: u64, keys: &[&str]) -> Claim {
        Claim {
            keys: keys.iter().map(|k| key_id(k.as_bytes())).collect(),
            whole: false,
            client,
            read: false,
            via: 0,
        }
    }

    fn read(client: u64, keys: &[&str]) -> Claim {
        Claim {
            read: true,
            ..claim(client, keys)
        }
    }

    #[test]
    fn a_connections_own_locks_let_it_through_only_from_the_same_shard() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        assert!(l.may_go(&claim(100, &["a"])), "its own, from its home");
        let moved = Claim {
            via: 2,
            ..claim(100, &["a"])
        };
        assert!(!l.may_go(&moved), "its own, from a shard it moved to");
        assert!(!l.may_go(&claim(200, &["a"])), "another connection's");
        // Past the 256th shard too (`--shards` goes up to 1024).
        let far = Claim {
            via: 256,
            ..claim(100, &["a"])
        };
        assert!(!l.may_go(&far), "its own, from shard 256");
        l.release(1);
        assert!(l.may_go(&moved));
    }

    #[test]
    fn readers_share_and_writers_exclude() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, read(100, &["a", "b"]));
        l.hold(2, read(200, &["a"]));
        assert!(l.may_go(&read(300, &["a", "b"])), "readers share");
        assert!(!l.may_go(&claim(300, &["a"])), "a writer waits for readers");
        assert!(
            l.may_go(&claim(100, &["b"])),
            "only the reader itself holds b"
        );
        l.release(1);
        assert!(l.may_go(&claim(300, &["b"])));
        assert!(!l.may_go(&claim(300, &["a"])));
        l.release(2);
        assert!(l.may_go(&claim(300, &["a"])));
        assert!(!l.active());
        l.hold(3, claim(100, &["a"]));
        assert!(!l.may_go(&read(200, &["a"])), "a reader waits for a writer");
        assert!(
            l.may_go(&read(100, &["a"])),
            "its own write lock does not stop it"
        );
        l.release(3);
        assert!(!l.active());
    }

    #[test]
    fn a_queued_writer_holds_back_later_readers() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, read(100, &["a"]));
        l.enqueue(claim(200, &["a"]), 1);
        assert!(!l.may_go(&read(300, &["a"])), "FIFO behind the writer");
        l.enqueue(read(300, &["a"]), 2);
        l.enqueue(read(400, &["a"]), 3);
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![1]);
        l.hold(2, claim(200, &["a"]));
        l.release(2);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![2, 3], "both readers go together");
    }

    #[test]
    fn held_keys_block_only_themselves() {
        let mut l: Locks<u32> = Locks::default();
        assert!(!l.active());
        l.hold(1, claim(100, &["a", "b"]));
        assert!(l.active());
        assert!(!l.may_go(&claim(7, &["a"])));
        assert!(l.may_go(&claim(7, &["c"])));
        let whole = Claim {
            whole: true,
            ..claim(8, &[])
        };
        assert!(!l.may_go(&whole), "a whole-shard claim waits for any lock");
        l.release(1);
        assert!(l.may_go(&whole));
        assert!(!l.active());
    }

    #[test]
    fn a_connection_is_not_blocked_by_its_own_locks() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a", "b"]));
        assert!(l.may_go(&claim(100, &["a"])));
        l.hold(2, claim(100, &["a"]));
        l.release(1);
        assert!(!l.may_go(&claim(7, &["a"])), "still held by the second");
        assert!(l.may_go(&claim(7, &["b"])));
        // Not past a waiter of another connection, though.
        l.enqueue(claim(7, &["a"]), 1);
        assert!(!l.may_go(&claim(100, &["a"])));
        l.release(2);
        assert_eq!(l.grantable().len(), 1);
        assert!(!l.active());
    }

    #[test]
    fn queue_is_fifo_per_key_and_per_client() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        // A transaction waits for "a" and "b"; a later command on "b" must
        // not overtake it, one on "c" may.
        l.enqueue(claim(200, &["a", "b"]), 1);
        assert!(!l.may_go(&claim(7, &["b"])));
        assert!(l.may_go(&claim(7, &["c"])));
        // A client's later command waits behind its queued one.
        l.enqueue(claim(300, &["a"]), 2);
        assert!(!l.may_go(&claim(300, &["z"])));
        l.enqueue(claim(7, &["b"]), 3);
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        // 1 goes; 2 conflicts with 1 on "a"; 3 conflicts with 1 on "b".
        assert_eq!(go, vec![1]);
        l.hold(2, claim(200, &["a", "b"]));
        assert!(l.grantable().is_empty());
        l.release(2);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![2, 3]);
    }

    #[test]
    fn a_deep_pipeline_goes_in_one_pass() {
        // A client that pipelined many commands on a locked key: once the
        // key is free they all go, in order, in one linear pass (not one per
        // pass, which made a deep queue cost cubic time).
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        for i in 0..10_000 {
            l.enqueue(claim(7, &["a"]), i);
        }
        l.enqueue(claim(8, &["a"]), 10_000);
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, (0..10_000).collect::<Vec<u32>>());
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![10_000], "another client's waiter goes after");
    }

    #[test]
    fn a_convoy_of_writers_on_hot_keys_goes_one_at_a_time() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a", "b"]));
        for i in 0..100 {
            l.enqueue(claim(200 + u64::from(i), &["a", "b"]), i);
        }
        l.enqueue(claim(999, &["c"]), 1000);
        l.enqueue(read(998, &["b"]), 1001);
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![0, 1000], "the first writer and the other key");
        l.hold(2, claim(999, &["c"]));
        l.release(2);
        for i in 0..100 {
            let owner = 10 + u64::from(i);
            l.hold(owner, claim(200 + u64::from(i), &["a", "b"]));
            assert!(l.grantable().is_empty(), "held: nobody behind goes");
            l.release(owner);
            let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
            let want = if i < 99 { vec![i + 1] } else { vec![1001] };
            assert_eq!(go, want, "FIFO, one writer at a time");
        }
        assert!(l.grantable().is_empty());
        assert!(l.is_idle());
    }

    #[test]
    fn a_pass_behind_a_kept_writer_still_finds_other_waiters() {
        // The pass may end at a kept writer only when nothing queued names
        // anything else: here a key, a whole-shard claim and a WATCH
        // registration (no key) behind it each still go in their turn.
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        l.enqueue(claim(200, &["a", "a"]), 1);
        l.enqueue(claim(201, &["a"]), 2);
        l.enqueue(claim(202, &["b"]), 3);
        l.enqueue(claim(203, &[]), 4);
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![1, 3, 4]);
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        l.hold(2, claim(100, &["z"]));
        l.enqueue(claim(200, &["a"]), 1);
        l.enqueue(claim(201, &["a"]), 2);
        l.enqueue(
            Claim {
                whole: true,
                ..claim(300, &[])
            },
            3,
        );
        l.release(2);
        assert!(l.grantable().is_empty(), "a is still held");
        l.release(1);
        let go: Vec<u32> = l.grantable().into_iter().map(|w| w.what).collect();
        assert_eq!(go, vec![1]);
    }

    /// Numbers below `m` drawn from `seed` (xorshift), the same every run.
    fn draws(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        }
    }

    #[test]
    fn may_go_without_walking_agrees_with_the_walk() {
        // Random queues and newcomers: the indexed answer is the walk's.
        let mut next = draws(0x9e37_79b9_7f4a_7c15u64);
        let names = ["a", "b", "c", "d", "e", "f"];
        let random_claim = |next: &mut dyn FnMut(u64) -> u64| {
            let n = next(3) as usize;
            let keys: Vec<&str> = (0..n).map(|_| names[next(6) as usize]).collect();
            let mut c = if next(2) == 0 {
                read(next(4), &keys)
            } else {
                claim(next(4), &keys)
            };
            c.whole = next(10) == 0;
            c
        };
        for _ in 0..2000 {
            let mut l: Locks<u32> = Locks::default();
            l.hold(1, claim(99, &["z"]));
            for i in 0..next(5) {
                let c = random_claim(&mut next);
                l.enqueue(c, i as u32);
            }
            let c = random_claim(&mut next);
            let walk = l.queue.iter().any(|w| w.claim.conflicts(&c));
            assert_eq!(l.conflicts_queued(&c), walk);
        }
    }

    /// A key's holders under random holds and releases of up to forty
    /// connections (through the scan and the index, built and dropped as
    /// their number crosses the thresholds) agree with a plain count per
    /// connection: who holds it, how often, and whom it blocks.
    #[test]
    fn a_keys_holders_agree_with_a_count_per_connection() {
        let mut next = draws(0x2545_f491_4f6c_dd1du64);
        let mut indexed = 0;
        for round in 0..200 {
            let clients = 1 + next(40);
            let mut model: HashMap<u64, u32> = HashMap::new();
            let mut h: Option<KeyHold> = None;
            for _ in 0..400 {
                let c = next(clients);
                // More holds than releases early, so the list grows.
                if next(10) < if round % 2 == 0 { 6 } else { 4 } {
                    h.get_or_insert_with(|| KeyHold::new(c)).add(c);
                    *model.entry(c).or_default() += 1;
                } else if model.contains_key(&c) {
                    let n = model.get_mut(&c).unwrap();
                    *n -= 1;
                    if *n == 0 {
                        model.remove(&c);
                    }
                    let left = h.as_mut().unwrap().remove(c);
                    assert_eq!(left, !model.is_empty());
                    if !left {
                        h = None;
                    }
                }
                let Some(k) = &h else {
                    assert!(model.is_empty());
                    continue;
                };
                indexed += usize::from(k.at.is_some());
                assert_eq!(k.len(), model.len());
                let mut seen: HashMap<u64, u32> = HashMap::new();
                seen.insert(k.first.owner, k.first.count);
                for (i, m) in k.more.iter().enumerate() {
                    assert!(seen.insert(m.owner, m.count).is_none(), "one entry each");
                    assert_eq!(k.find(m.owner), Some(i));
                }
                assert_eq!(seen, model);
                if let Some(at) = &k.at {
                    assert_eq!(at.len(), k.more.len());
                }
                for c in 0..clients {
                    let other = model.keys().any(|&o| o != c);
                    assert!(!k.blocks(c, true), "readers only");
                    assert_eq!(k.blocks(c, false), other);
                }
            }
        }
        assert!(indexed > 1000, "the index was used: {indexed}");
    }

    #[test]
    fn recycled_buffers_stay_bounded() {
        let mut l: Locks<u32> = Locks::default();
        for i in 0..1000u64 {
            // One connection's transactions: they may share keys.
            let mut c = claim(5, &[]);
            c.keys = (0..(i % 200)).collect();
            l.hold(i, c);
        }
        for i in 0..1000u64 {
            l.release(i);
        }
        assert!(l.free_keys.len() <= FREE_KEYS);
        assert!(l.free_keys.iter().all(|v| v.capacity() <= FREE_KEY_CAP));
        // A long queue, drained in one pass, does not leave its buffer.
        l.hold(1, claim(1, &["k"]));
        for i in 0..5000 {
            l.enqueue(claim(7, &["k"]), i);
        }
        l.release(1);
        assert_eq!(l.grantable().len(), 5000);
        assert!(l.spare.capacity() <= SPARE_QUEUE && l.queue.capacity() <= SPARE_QUEUE);
        assert!(l.is_idle());
    }

    #[test]
    fn whole_shard_waiter_holds_back_later_claims() {
        let mut l: Locks<u32> = Locks::default();
        l.hold(1, claim(100, &["a"]));
        l.enqueue(
            Claim {
                whole: true,
                ..claim(5, &[])
            },
            1,
        );
        assert!(!l.may_go(&claim(6, &["x"])), "FIFO behind a FLUSHALL");
        l.release(1);
        assert_eq!(l.grantable().len(), 1);
        assert!(!l.active());
    }
}
