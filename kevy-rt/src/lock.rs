//! One shard's key locks for transactions (see the crate doc): which
//! transaction holds which keys, and a FIFO queue of what waits.
//!
//! The rule that makes the queue fair: a newcomer may go ahead only if it
//! conflicts with nothing held *and* nothing queued ahead of it, so a
//! stream of commands on a key cannot overtake a transaction waiting for it.
//! A command also waits behind anything its own connection has queued on
//! this shard, which keeps one connection's commands in order.

use std::collections::{HashMap, HashSet, VecDeque};

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// A transaction's identity: its home shard and its slot there.
pub(crate) type TxId = u64;

pub(crate) fn tx_id(home: usize, op: u32) -> TxId {
    ((home as u64) << 32) | op as u64
}

/// What a request touches on this shard.
#[derive(Debug, Default)]
pub(crate) struct Claim {
    /// Distinct key names (every database).
    pub keys: Vec<Vec<u8>>,
    /// The whole shard (KEYS, FLUSHALL, SCAN, …).
    pub whole: bool,
    /// The connection the request belongs to.
    pub client: u64,
}

impl Claim {
    /// Whether it names nothing (a WATCH registration).
    fn is_empty(&self) -> bool {
        !self.whole && self.keys.is_empty()
    }

    fn conflicts(&self, other: &Claim) -> bool {
        if self.client == other.client {
            return true;
        }
        if self.whole || other.whole {
            return true;
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
    client: u64,
    count: u32,
}

pub(crate) struct Locks<W> {
    /// Key name -> the connection whose transactions hold it.
    held: Map<Vec<u8>, Holder>,
    /// Transactions holding locks here, with their claims.
    owners: Map<TxId, Claim>,
    /// The connection whose transactions hold the whole shard.
    whole: Option<Holder>,
    queue: VecDeque<Waiting<W>>,
}

impl<W> Default for Locks<W> {
    fn default() -> Self {
        Locks {
            held: Map::default(),
            owners: Map::default(),
            whole: None,
            queue: VecDeque::new(),
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

    /// Whether `claim` conflicts with a lock held by another connection. A
    /// connection's own locks do not stop it: its commands run in the order
    /// it sent them anyway, and letting its next transaction take keys its
    /// previous one still holds is what lets pipelined transactions overlap.
    fn blocked_by_held(&self, claim: &Claim) -> bool {
        let other = |h: &Holder| h.client != claim.client;
        if self.whole.as_ref().is_some_and(other) {
            return true;
        }
        if claim.whole {
            return self.owners.values().any(|c| c.client != claim.client);
        }
        claim
            .keys
            .iter()
            .any(|k| self.held.get(k.as_slice()).is_some_and(other))
    }

    /// Whether a newcomer with `claim` may go now: nothing held or queued
    /// ahead conflicts with it.
    pub fn may_go(&self, claim: &Claim) -> bool {
        !self.blocked_by_held(claim) && !self.queue.iter().any(|w| w.claim.conflicts(claim))
    }

    pub fn enqueue(&mut self, claim: Claim, what: W) {
        self.queue.push_back(Waiting { claim, what });
    }

    /// The waiter queued last, to attach what arrived right behind it.
    pub fn last_queued_mut(&mut self) -> Option<&mut W> {
        self.queue.back_mut().map(|w| &mut w.what)
    }

    /// Takes the locks of `claim` for `owner` (the caller checked
    /// [`may_go`](Self::may_go) or is granting from the queue).
    pub fn hold(&mut self, owner: TxId, claim: Claim) {
        let client = claim.client;
        let add = |h: &mut Holder| {
            debug_assert_eq!(h.client, client, "one connection holds a lock");
            h.count += 1;
        };
        for k in &claim.keys {
            self.held
                .entry(k.clone())
                .and_modify(add)
                .or_insert(Holder { client, count: 1 });
        }
        if claim.whole {
            match self.whole.as_mut() {
                Some(h) => add(h),
                None => self.whole = Some(Holder { client, count: 1 }),
            }
        }
        self.owners.insert(owner, claim);
    }

    /// Releases every lock of `owner`. The caller then runs
    /// [`grantable`](Self::grantable) to let waiters go.
    pub fn release(&mut self, owner: TxId) {
        let Some(claim) = self.owners.remove(&owner) else {
            return;
        };
        for k in &claim.keys {
            if let Some(h) = self.held.get_mut(k.as_slice()) {
                h.count -= 1;
                if h.count == 0 {
                    self.held.remove(k.as_slice());
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
        if self.queue.is_empty() {
            return go;
        }
        // One pass in queue order, O(total keys): what stays queued ahead
        // holds back its own connection and any claim it conflicts with;
        // what is granted in this pass holds back other connections' claims
        // on its keys (it holds them once the caller is done), but not its
        // own connection's next entries, which the caller runs after it.
        let mut kept_clients: HashSet<u64> = HashSet::new();
        let mut kept_keys: HashSet<&[u8]> = HashSet::new();
        let mut kept_whole = false;
        let mut kept_named = false;
        let mut granted_keys: Map<&[u8], u64> = Map::default();
        let mut granted_whole: Option<u64> = None;
        let mut granted_named: HashSet<u64> = HashSet::new();
        let mut keep = vec![false; self.queue.len()];
        for (i, w) in self.queue.iter().enumerate() {
            let c = &w.claim;
            let other_granted = |client: u64| granted_named.iter().any(|&g| g != client);
            let blocked = kept_clients.contains(&c.client)
                || (!c.is_empty()
                    && (kept_whole
                        || (c.whole && kept_named)
                        || granted_whole.is_some_and(|g| g != c.client)
                        || (c.whole && other_granted(c.client))
                        || c.keys.iter().any(|k| {
                            kept_keys.contains(k.as_slice())
                                || granted_keys
                                    .get(k.as_slice())
                                    .is_some_and(|&g| g != c.client)
                        })))
                || self.blocked_by_held(c);
            if blocked {
                keep[i] = true;
                kept_clients.insert(c.client);
                if !c.is_empty() {
                    kept_named = true;
                    kept_whole |= c.whole;
                    kept_keys.extend(c.keys.iter().map(Vec::as_slice));
                }
            } else if !c.is_empty() {
                granted_named.insert(c.client);
                if c.whole {
                    granted_whole = Some(c.client);
                }
                for k in &c.keys {
                    granted_keys.insert(k.as_slice(), c.client);
                }
            }
        }
        let mut stay: VecDeque<Waiting<W>> = VecDeque::new();
        for (i, w) in std::mem::take(&mut self.queue).into_iter().enumerate() {
            if keep[i] {
                stay.push_back(w);
            } else {
                go.push(w);
            }
        }
        self.queue = stay;
        go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(client: u64, keys: &[&str]) -> Claim {
        Claim {
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            whole: false,
            client,
        }
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
