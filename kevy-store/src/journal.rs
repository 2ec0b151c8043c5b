//! An undo journal: the state of every key before an attempt first
//! changed it, so the attempt can be taken back (a script that reaches a
//! key its run cannot, kevy-rt's crate doc, "Scripts").
//!
//! It is an [`Observer`]: attach it with `Store::observe` before the
//! attempt, and [`Store::roll_back`](crate::Store::roll_back) undoes
//! everything written since, through the update path, so the other
//! observers (WATCH versions, a snapshot, tracking) see the undoing as
//! writes. Each key's pre-image is taken once, at its first change (and
//! once more after a SWAPDB, which moves keys between databases): what
//! the attempt writes later is overwritten by the undo anyway.

use crate::db::Entry;
use crate::observe::{DbChange, Observer};
use std::collections::HashSet;

/// One step to take back, in the order the attempt made them.
enum Undo {
    /// Put `key` in database `db` back as it was (`None`: missing).
    Key {
        db: usize,
        key: Vec<u8>,
        old: Option<Entry>,
    },
    /// SWAPDB of the two databases.
    Swap(usize, usize),
}

#[derive(Default)]
pub struct Journal {
    steps: Vec<Undo>,
    /// `(db, key)` already in `steps` since the last swap.
    seen: HashSet<(usize, Vec<u8>), ahash::RandomState>,
    /// The first half of a SWAPDB's pair of calls, waiting for the other.
    swap_half: Option<usize>,
}

impl Journal {
    /// Whether the attempt changed nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    fn remember(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
        let id = (db, key.to_vec());
        if self.seen.contains(&id) {
            return;
        }
        self.steps.push(Undo::Key {
            db,
            key: key.to_vec(),
            old: old.cloned(),
        });
        self.seen.insert(id);
    }
}

impl Observer for Journal {
    fn before_write(&mut self, db: usize, key: &[u8], old: Option<&Entry>) {
        self.remember(db, key, old);
    }

    fn db_changed(&mut self, db: usize, change: DbChange<'_>) {
        match change {
            DbChange::Flushed { old } => {
                for (k, e) in old.iter() {
                    self.remember(db, k, Some(e));
                }
            }
            // SWAPDB calls once per database: record the swap on the
            // second call, and take pre-images afresh after it (keys moved).
            DbChange::Swapped { .. } => match self.swap_half.take() {
                None => self.swap_half = Some(db),
                Some(a) => {
                    self.steps.push(Undo::Swap(a, db));
                    self.seen.clear();
                }
            },
        }
    }
}

impl crate::Store {
    /// Takes back everything written since `journal` was attached (it must
    /// be detached first: `Store::unobserve`).
    pub fn roll_back(&mut self, journal: Journal) {
        for step in journal.steps.into_iter().rev() {
            match step {
                Undo::Key { db, key, old } => {
                    let mut d = self.db(db);
                    match old {
                        Some(e) => d.put_entry(&key, e),
                        None => {
                            d.remove_entry(&key);
                        }
                    }
                }
                Undo::Swap(a, b) => self.swap_db(a, b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SetTtl;
    use crate::value::Value;
    use crate::Store;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Set(usize, u8, u8, Option<i16>),
        Push(usize, u8, u8),
        Del(usize, u8),
        Expire(usize, u8, i16),
        Persist(usize, u8),
        Rename(usize, u8, u8),
        Flush(usize),
        Swap,
    }

    fn op() -> impl Strategy<Value = Op> {
        let (db, k) = (0usize..2, 0u8..6);
        prop_oneof![
            4 => (db.clone(), k.clone(), 0u8..30, proptest::option::of(-5i16..500))
                .prop_map(|(d, k, n, t)| Op::Set(d, k, n, t)),
            3 => (db.clone(), k.clone(), 1u8..4).prop_map(|(d, k, n)| Op::Push(d, k, n)),
            2 => (db.clone(), k.clone()).prop_map(|(d, k)| Op::Del(d, k)),
            2 => (db.clone(), k.clone(), -5i16..500).prop_map(|(d, k, t)| Op::Expire(d, k, t)),
            1 => (db.clone(), k.clone()).prop_map(|(d, k)| Op::Persist(d, k)),
            1 => (db.clone(), k.clone(), k).prop_map(|(d, a, b)| Op::Rename(d, a, b)),
            1 => db.prop_map(Op::Flush),
            1 => Just(Op::Swap),
        ]
    }

    fn key(k: u8) -> Vec<u8> {
        vec![b'k', b'0' + k]
    }

    const NOW: u64 = 1_000_000;

    fn at(t: i16) -> u64 {
        (NOW as i64 + t as i64) as u64
    }

    fn apply(st: &mut Store, o: &Op) {
        match *o {
            Op::Set(d, k, n, t) => {
                let ttl = t.map_or(SetTtl::Clear, |t| SetTtl::At(at(t)));
                st.db(d)
                    .set(&key(k), Value::string(&vec![b'v'; n as usize]), ttl);
            }
            Op::Push(d, k, n) => {
                let kk = key(k);
                let mut db = st.db(d);
                let mut w = db.update(&kk);
                match w.value_mut() {
                    Some(Value::List(l)) => {
                        for i in 0..n {
                            l.push_back(&[b'e', i]);
                        }
                        w.changed();
                    }
                    Some(_) => {}
                    None => {
                        let mut l = crate::list::List::new();
                        for i in 0..n {
                            l.push_back(&[b'e', i]);
                        }
                        w.insert(Value::List(Box::new(l)), SetTtl::Clear);
                    }
                }
            }
            Op::Del(d, k) => {
                st.db(d).remove(&key(k));
            }
            Op::Expire(d, k, t) => {
                st.db(d).set_expire(&key(k), at(t));
            }
            Op::Persist(d, k) => {
                st.db(d).persist(&key(k));
            }
            Op::Rename(d, a, b) => {
                let _ = st.db(d).rename(&key(a), &key(b), false);
            }
            Op::Flush(d) => {
                st.db(d).flush();
            }
            Op::Swap => st.swap_db(0, 1),
        }
    }

    /// Every key of both databases: its value and TTL.
    fn state(st: &mut Store) -> Vec<Option<(String, Option<u64>)>> {
        let mut out = Vec::new();
        for d in 0..2 {
            for k in 0..6 {
                let mut db = st.db(d);
                out.push(db.peek(&key(k)).map(|e| {
                    let v = match &e.value {
                        Value::List(l) => format!("{:?}", l.iter().collect::<Vec<_>>()),
                        v => format!("{v:?}"),
                    };
                    (v, e.expire_at())
                }));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever an attempt writes (values, TTLs, deletes, renames,
        /// flushes, swaps, in both databases, keys already expired
        /// included), rolling it back leaves every key as it was.
        #[test]
        fn roll_back_restores_every_key(
            before in proptest::collection::vec(op(), 0..30),
            attempt in proptest::collection::vec(op(), 0..30),
        ) {
            let mut st = Store::new(2);
            st.set_now(NOW);
            for o in &before {
                apply(&mut st, o);
            }
            let was = state(&mut st);
            st.observe(Journal::default());
            for o in &attempt {
                apply(&mut st, o);
            }
            let j = st.unobserve::<Journal>().unwrap();
            st.roll_back(j);
            prop_assert_eq!(state(&mut st), was);
        }
    }
}
