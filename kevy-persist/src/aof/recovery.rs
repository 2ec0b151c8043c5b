//! Recovery across shards as a pure function: given each shard's records
//! (what survived the crash), the consistent cut — the longest prefix of
//! each log in which every transaction commit belongs to a transaction
//! committed in every participant's prefix — and which transactions count.
//! The module doc of [`crate::aof`] argues why it is safe.

use std::collections::HashMap;

use super::record::TxId;

/// A record as recovery sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Effects outside any cross-shard transaction.
    Plain,
    /// Effects of a cross-shard transaction.
    TxEffects(TxId),
    /// The end of this shard's part of a transaction.
    TxCommit(TxId, Vec<u32>),
}

/// The result: how many records of each shard survive, and the
/// transactions committed everywhere within that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Records kept per shard: a prefix; the rest is discarded.
    pub keep: Vec<usize>,
    /// Transactions whose every participant commits within its prefix,
    /// with their participants.
    pub committed: HashMap<TxId, Vec<u32>>,
}

impl Cut {
    /// Whether record `i` of `shard` is replayed: inside the prefix, and
    /// not the effects of a transaction that did not commit everywhere.
    pub fn replays(&self, shard: usize, i: usize, e: &Event) -> bool {
        if i >= self.keep[shard] {
            return false;
        }
        match e {
            Event::Plain | Event::TxCommit(..) => true,
            Event::TxEffects(id) => self
                .committed
                .get(id)
                .is_some_and(|parts| parts.contains(&(shard as u32))),
        }
    }
}

/// Computes the greatest consistent cut of `logs` (shard `s`'s records are
/// `logs[s]`).
///
/// Start from every whole log; while some kept commit belongs to a
/// transaction that some participant does not commit within its kept
/// prefix (or a participant that does not exist), cut that log just before
/// the commit. Cuts only shrink, so this ends, and it ends at the greatest
/// consistent cut: every cut made is forced by any consistent cut inside
/// the current one, by induction. A consistent cut stays consistent when
/// the logs grow, which is what lets the runtime use this same function on
/// the durable prefixes to decide which replies may leave.
pub fn consistent_cut(logs: &[Vec<Event>]) -> Cut {
    let n = logs.len();
    // Per shard, the index of the first commit of each transaction.
    let mut commit_at: Vec<HashMap<TxId, usize>> = vec![HashMap::new(); n];
    // Per shard, the commits in log order: (index, id, participants).
    let mut commits: Vec<Vec<(usize, TxId, &[u32])>> = vec![Vec::new(); n];
    for (s, log) in logs.iter().enumerate() {
        for (i, e) in log.iter().enumerate() {
            if let Event::TxCommit(id, parts) = e {
                if commit_at[s].insert(*id, i).is_none() {
                    commits[s].push((i, *id, parts));
                }
            }
        }
    }
    let mut keep: Vec<usize> = logs.iter().map(|l| l.len()).collect();
    let complete = |keep: &[usize], id: &TxId, parts: &[u32], me: usize| -> bool {
        !parts.is_empty()
            && parts.contains(&(me as u32))
            && parts.iter().all(|&q| {
                let q = q as usize;
                q < n && commit_at[q].get(id).is_some_and(|&i| i < keep[q])
            })
    };
    loop {
        let mut changed = false;
        for s in 0..n {
            for &(i, id, parts) in &commits[s] {
                if i >= keep[s] {
                    break;
                }
                if !complete(&keep, &id, parts, s) {
                    keep[s] = i;
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut committed = HashMap::new();
    for s in 0..n {
        for &(i, id, parts) in &commits[s] {
            if i >= keep[s] {
                break;
            }
            committed.entry(id).or_insert_with(|| parts.to_vec());
        }
    }
    Cut { keep, committed }
}
