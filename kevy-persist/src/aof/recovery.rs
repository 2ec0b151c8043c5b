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
    /// Effects of a committed transaction replay on any shard that logged
    /// them: its commits may be the coordinator's alone (the runtime's
    /// decision record, see the module doc), the participants then logging
    /// effects and no commit.
    pub fn replays(&self, shard: usize, i: usize, e: &Event) -> bool {
        if i >= self.keep[shard] {
            return false;
        }
        match e {
            Event::Plain | Event::TxCommit(..) => true,
            Event::TxEffects(id) => self.committed.contains_key(id),
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

/// The release rule of the runtime contract (5 in [`crate::aof`]), kept
/// incrementally: the greatest consistent cut of every shard's synced
/// records, as log positions. The runtime notes each commit it appends
/// and each shard's synced position; a reply whose effects end at `x` on
/// shard `s` may leave once `x <= stable(s)`. Single-threaded: the runtime
/// decides who owns it (one per server behind a lock, or updated by
/// messages).
///
/// Only commits not yet inside the cut are kept: a commit inside it stays
/// inside (the cut only grows as logs grow), and a transaction is
/// forgotten once every participant's commit is inside.
#[derive(Debug)]
pub struct Stability {
    shards: Vec<Track>,
    txs: HashMap<TxId, TxTrack>,
}

#[derive(Debug, Default)]
struct Track {
    synced: u64,
    stable: u64,
    /// Commits not yet inside the cut, in log order.
    pending: std::collections::VecDeque<Pending>,
}

#[derive(Debug)]
struct Pending {
    start: u64,
    end: u64,
    id: TxId,
}

#[derive(Debug)]
struct TxTrack {
    parts: Vec<u32>,
    /// Per participant (same index as `parts`): its commit's end when
    /// noted, and whether that commit is inside the cut.
    ends: Vec<Option<u64>>,
    settled: Vec<bool>,
}

impl Stability {
    pub fn new(shards: usize) -> Stability {
        Stability {
            shards: (0..shards).map(|_| Track::default()).collect(),
            txs: HashMap::new(),
        }
    }

    /// Notes a commit appended on `shard` between log positions `start`
    /// and `end` (what [`crate::aof::Log::append_tx_commit`] returned),
    /// before that shard's synced position passes it.
    pub fn commit(&mut self, shard: usize, start: u64, end: u64, id: TxId, parts: &[u32]) {
        let Some(track) = self.shards.get_mut(shard) else {
            return;
        };
        track.pending.push_back(Pending { start, end, id });
        let tx = self.txs.entry(id).or_insert_with(|| TxTrack {
            parts: parts.to_vec(),
            ends: vec![None; parts.len()],
            settled: vec![false; parts.len()],
        });
        if let Some(i) = tx.parts.iter().position(|&q| q as usize == shard) {
            tx.ends[i].get_or_insert(end);
        }
    }

    /// Notes that `shard`'s log is synced up to `pos`, and moves the cut.
    pub fn synced(&mut self, shard: usize, pos: u64) {
        if let Some(t) = self.shards.get_mut(shard) {
            t.synced = t.synced.max(pos);
        }
        self.recompute();
    }

    /// Where replies on `shard` may be released up to.
    pub fn stable(&self, shard: usize) -> u64 {
        self.shards.get(shard).map_or(0, |t| t.stable)
    }

    /// Transactions still tracked (not yet inside the cut everywhere).
    pub fn tracked(&self) -> usize {
        self.txs.len()
    }

    fn recompute(&mut self) {
        let n = self.shards.len();
        let mut cut: Vec<u64> = self.shards.iter().map(|t| t.synced).collect();
        loop {
            let mut changed = false;
            for s in 0..n {
                for p in &self.shards[s].pending {
                    if p.end > cut[s] {
                        break;
                    }
                    let complete = self.txs.get(&p.id).is_some_and(|tx| {
                        tx.parts.iter().any(|&q| q as usize == s)
                            && tx.parts.iter().enumerate().all(|(i, &q)| {
                                (q as usize) < n
                                    && (tx.settled[i]
                                        || tx.ends[i].is_some_and(|e| e <= cut[q as usize]))
                            })
                    });
                    if !complete {
                        cut[s] = p.start;
                        changed = true;
                        break;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for (s, c) in cut.into_iter().enumerate() {
            let track = &mut self.shards[s];
            track.stable = c;
            while track.pending.front().is_some_and(|p| p.end <= c) {
                let Some(p) = track.pending.pop_front() else {
                    break;
                };
                if let Some(tx) = self.txs.get_mut(&p.id) {
                    if let Some(i) = tx.parts.iter().position(|&q| q as usize == s) {
                        tx.settled[i] = true;
                    }
                    if tx.settled.iter().all(|&x| x) {
                        self.txs.remove(&p.id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u64) -> TxId {
        TxId {
            epoch: 1,
            coordinator: 0,
            counter: n,
        }
    }

    fn commit(n: u64, parts: &[u32]) -> Event {
        Event::TxCommit(id(n), parts.to_vec())
    }

    #[test]
    fn a_transaction_missing_on_one_shard_is_cut_everywhere_with_what_follows() {
        let logs = vec![
            vec![
                Event::Plain,
                Event::TxEffects(id(1)),
                Event::Plain,
                commit(1, &[0, 1]),
                Event::Plain,
            ],
            vec![Event::Plain, Event::TxEffects(id(1))],
        ];
        let cut = consistent_cut(&logs);
        assert_eq!(cut.keep, vec![3, 2]);
        assert!(cut.committed.is_empty());
        // The independent record inside the open part is replayed; the
        // part's own effects are not.
        assert!(cut.replays(0, 2, &logs[0][2]));
        assert!(!cut.replays(0, 1, &logs[0][1]));
        assert!(!cut.replays(1, 1, &logs[1][1]));
    }

    #[test]
    fn cuts_cascade_to_a_fixpoint() {
        // T2 commits on 1 after T1 there; T1 is missing on shard 2, so
        // shard 1 is cut before T1's commit, which takes T2's commit on 1,
        // which makes T2 incomplete on shard 0 too.
        let logs = vec![
            vec![commit(2, &[0, 1]), Event::Plain],
            vec![commit(1, &[1, 2]), commit(2, &[0, 1])],
            vec![Event::TxEffects(id(1))],
        ];
        let cut = consistent_cut(&logs);
        assert_eq!(cut.keep, vec![0, 0, 1]);
        // With T1 complete, everything stays.
        let mut logs = logs;
        logs[2].push(commit(1, &[1, 2]));
        let cut = consistent_cut(&logs);
        assert_eq!(cut.keep, vec![2, 2, 2]);
        assert_eq!(cut.committed.len(), 2);
    }

    #[test]
    fn crossed_commit_orders_do_not_block_each_other() {
        // T1 and T2 commit in opposite orders on the two shards: both are
        // complete once all four commits are there (a greatest fixpoint,
        // not a chain of waits).
        let logs = vec![
            vec![commit(1, &[0, 1]), commit(2, &[0, 1])],
            vec![commit(2, &[0, 1]), commit(1, &[0, 1])],
        ];
        assert_eq!(consistent_cut(&logs).keep, vec![2, 2]);
    }

    #[test]
    fn a_commit_naming_a_missing_shard_or_not_itself_is_incomplete() {
        let logs = vec![vec![commit(1, &[0, 5]), Event::Plain]];
        assert_eq!(consistent_cut(&logs).keep, vec![0]);
        let logs = vec![vec![commit(1, &[1])], vec![commit(1, &[1])]];
        assert_eq!(consistent_cut(&logs).keep, vec![0, 1]);
    }

    /// Builds shard logs from a script: plain records, transactions
    /// started over a set of shards, and steps of open transactions (an
    /// effect, then the commit, per participant). Transactions may stay
    /// open: the crash came first.
    fn build(n: usize, script: &[(u8, u8, u8)]) -> (Vec<Vec<Event>>, Vec<TxId>) {
        let mut logs = vec![Vec::new(); n];
        // Open transactions: id, participants, per participant the
        // effects still to log (None once committed).
        let mut open: Vec<(TxId, Vec<u32>, Vec<Option<u8>>)> = Vec::new();
        let mut all = Vec::new();
        let mut next = 0;
        for &(c, a, b) in script {
            match c % 3 {
                0 => logs[a as usize % n].push(Event::Plain),
                1 => {
                    let mask = (b as usize % ((1 << n) - 1)) + 1;
                    let parts: Vec<u32> = (0..n as u32).filter(|s| mask >> s & 1 == 1).collect();
                    next += 1;
                    let t = id(next);
                    all.push(t);
                    let todo = parts.iter().map(|_| Some(a % 3)).collect();
                    open.push((t, parts, todo));
                }
                _ => {
                    if open.is_empty() {
                        continue;
                    }
                    let k = a as usize % open.len();
                    let (t, parts, todo) = &mut open[k];
                    let live: Vec<usize> =
                        (0..parts.len()).filter(|&i| todo[i].is_some()).collect();
                    let i = live[b as usize % live.len()];
                    let s = parts[i] as usize;
                    match todo[i] {
                        Some(0) => {
                            logs[s].push(Event::TxCommit(*t, parts.clone()));
                            todo[i] = None;
                        }
                        Some(r) => {
                            logs[s].push(Event::TxEffects(*t));
                            todo[i] = Some(r - 1);
                        }
                        None => {}
                    }
                    if todo.iter().all(|x| x.is_none()) {
                        open.remove(k);
                    }
                }
            }
        }
        (logs, all)
    }

    fn prefixes(logs: &[Vec<Event>], at: &[usize]) -> Vec<Vec<Event>> {
        logs.iter().zip(at).map(|(l, &k)| l[..k].to_vec()).collect()
    }

    /// Whether `keep` is a consistent cut of `logs`.
    fn consistent(logs: &[Vec<Event>], keep: &[usize]) -> bool {
        logs.iter().enumerate().all(|(s, log)| {
            log[..keep[s]].iter().all(|e| match e {
                Event::TxCommit(t, parts) => {
                    parts.contains(&(s as u32))
                        && parts.iter().all(|&q| {
                            let q = q as usize;
                            q < logs.len()
                                && logs[q][..keep[q]]
                                    .iter()
                                    .any(|e| matches!(e, Event::TxCommit(u, _) if u == t))
                        })
                }
                _ => true,
            })
        })
    }

    fn check_history(
        logs: &[Vec<Event>],
        all: &[TxId],
        ack: &[usize],
        crash: &[usize],
    ) -> Result<(), TestCaseError> {
        let n = logs.len();
        let at_crash = prefixes(logs, crash);
        let cut = consistent_cut(&at_crash);
        prop_assert!(consistent(&at_crash, &cut.keep));
        // Atomicity: a transaction's effects are replayed on every shard
        // that logged them, or on none.
        for t in all {
            let committed = cut.committed.contains_key(t);
            for s in 0..n {
                for (i, e) in logs[s].iter().enumerate() {
                    if e == &Event::TxEffects(*t) {
                        let replayed = i < crash[s] && cut.replays(s, i, e);
                        prop_assert_eq!(
                            replayed,
                            committed,
                            "tx {:?} on shard {} record {}",
                            t,
                            s,
                            i
                        );
                    }
                }
            }
        }
        // Nothing replayed follows the commit of a transaction that did not
        // commit everywhere (it may depend on it).
        for (s, log) in at_crash.iter().enumerate() {
            for (i, e) in log.iter().enumerate() {
                if i < cut.keep[s] {
                    if let Event::TxCommit(t, _) = e {
                        prop_assert!(cut.committed.contains_key(t));
                    }
                }
            }
        }
        // Under the `always` contract, a record was acknowledged when it
        // lay inside the consistent cut of what was durable then; every
        // one survives a crash that keeps at least that much.
        let acked = consistent_cut(&prefixes(logs, ack));
        for s in 0..n {
            prop_assert!(
                acked.keep[s] <= cut.keep[s],
                "shard {} acked {} kept {}",
                s,
                acked.keep[s],
                cut.keep[s]
            );
            for (i, e) in logs[s][..acked.keep[s]].iter().enumerate() {
                if let Event::TxCommit(t, _) = e {
                    prop_assert!(cut.committed.contains_key(t));
                }
                if *e == Event::Plain {
                    prop_assert!(cut.replays(s, i, e));
                }
            }
        }
        // It is the greatest consistent cut: brute force when small.
        let combos: usize = crash.iter().map(|&k| k + 1).product();
        if combos <= 4096 {
            let mut best = vec![0; n];
            let mut c = vec![0; n];
            loop {
                if consistent(&at_crash, &c) {
                    for s in 0..n {
                        best[s] = best[s].max(c[s]);
                    }
                }
                let mut s = 0;
                while s < n && c[s] == crash[s] {
                    c[s] = 0;
                    s += 1;
                }
                if s == n {
                    break;
                }
                c[s] += 1;
            }
            prop_assert_eq!(&best, &cut.keep);
        }
        Ok(())
    }

    /// Shard count, the script for [`build`], and per shard two bytes
    /// placing the acknowledged and the crash prefix.
    type History = (usize, Vec<(u8, u8, u8)>, Vec<(u8, u8)>);

    fn history() -> impl Strategy<Value = History> {
        (2usize..=4).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..60),
                proptest::collection::vec((any::<u8>(), any::<u8>()), n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn recovery_is_atomic_prefix_closed_and_keeps_what_was_acknowledged(
            (n, script, cuts) in history()
        ) {
            let (logs, all) = build(n, &script);
            let mut ack = Vec::new();
            let mut crash = Vec::new();
            for (s, &(x, y)) in cuts.iter().enumerate() {
                let len = logs[s].len();
                let c = (y as usize * (len + 1)) / 256;
                let a = (x as usize * (c + 1)) / 256;
                crash.push(c);
                ack.push(a);
            }
            check_history(&logs, &all, &ack, &crash)?;
            // And every shard cut at every record boundary, others whole.
            let whole: Vec<usize> = logs.iter().map(|l| l.len()).collect();
            for s in 0..n {
                for k in 0..=whole[s] {
                    let mut crash = whole.clone();
                    crash[s] = k;
                    check_history(&logs, &all, &vec![0; n], &crash)?;
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// The incremental tracker agrees with the pure function at every
        /// step of shards syncing in random order.
        #[test]
        fn stability_tracks_the_consistent_cut_of_synced_prefixes(
            (n, script, _) in history(),
            steps in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..40),
        ) {
            let (logs, _) = build(n, &script);
            let mut st = Stability::new(n);
            // Record i of a shard spans positions i..i+1.
            for (s, log) in logs.iter().enumerate() {
                for (i, e) in log.iter().enumerate() {
                    if let Event::TxCommit(t, parts) = e {
                        st.commit(s, i as u64, i as u64 + 1, *t, parts);
                    }
                }
            }
            let mut synced = vec![0usize; n];
            let mut steps = steps;
            // End with everything synced.
            for s in 0..n {
                steps.push((s as u8, 255));
            }
            for (a, b) in steps {
                let s = a as usize % n;
                let left = logs[s].len() - synced[s];
                synced[s] += (b as usize * (left + 1)) / 256;
                st.synced(s, synced[s] as u64);
                let expect = consistent_cut(&prefixes(&logs, &synced));
                for q in 0..n {
                    prop_assert_eq!(st.stable(q), expect.keep[q] as u64, "shard {}", q);
                }
            }
            // Transactions still tracked are exactly the ones not yet
            // inside the cut everywhere.
            let all = consistent_cut(&logs);
            let open: std::collections::HashSet<TxId> = logs
                .iter()
                .flatten()
                .filter_map(|e| match e {
                    Event::TxCommit(t, _) if !all.committed.contains_key(t) => Some(*t),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(st.tracked(), open.len());
        }
    }
}
