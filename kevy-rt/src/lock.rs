//! One shard's key locks for transactions (see the crate doc): which
//! transaction holds which keys, and a FIFO queue of what waits.
//!
//! The rule that makes the queue fair: a newcomer may go ahead only if it
//! conflicts with nothing held *and* nothing queued ahead of it, so a
//! stream of commands on a key cannot overtake a transaction waiting for it.
//! A command also waits behind anything its own connection has queued on
//! this shard, which keeps one connection's commands in order.

use std::collections::{HashMap, VecDeque};

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
    /// with a held lock nor with a waiter ahead of them (granted in this
    /// pass or staying queued). The caller holds the returned lock requests
    /// (with [`hold`](Self::hold)) and runs the returned commands, then
    /// calls again until nothing is returned: a command granted here is done
    /// by then, which may free a waiter behind it.
    pub fn grantable(&mut self) -> Vec<Waiting<W>> {
        let mut go = Vec::new();
        if self.queue.is_empty() {
            return go;
        }
        let mut stay: VecDeque<Waiting<W>> = VecDeque::with_capacity(self.queue.len());
        // Claims granted in this pass count as held for later waiters, so
        // two conflicting waiters are never both granted.
        let mut granted: Vec<usize> = Vec::new();
        let mut all: Vec<Waiting<W>> = self.queue.drain(..).collect();
        let mut keep = vec![false; all.len()];
        for i in 0..all.len() {
            let c = &all[i].claim;
            let blocked = self.blocked_by_held(c)
                || granted.iter().any(|&g| all[g].claim.conflicts(c))
                || (0..i).any(|j| keep[j] && all[j].claim.conflicts(c));
            if blocked {
                keep[i] = true;
            } else {
                granted.push(i);
            }
        }
        for (i, w) in all.drain(..).enumerate() {
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
