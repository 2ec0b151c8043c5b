//! Expiry times of single hash fields (HEXPIRE and friends): a side table
//! a hash carries only while some field has a TTL, so a hash without one
//! costs one empty word.
//!
//! Two views of the same (field, time) pairs: a [`Dict`] answers "when
//! does this field expire" in O(1); an ordered set by time finds the next
//! field to expire in O(log n), which both lazy and active expiry need.
//! A field is expired once the clock is past its time, as a key is.

use crate::dict::Dict;
use std::collections::BTreeSet;

/// Bytes one entry of the ordered set costs beyond its field's heap copy:
/// the `(u64, Box<[u8]>)` pair and its share of B-tree node overhead.
const ORDER_ENTRY_BYTES: usize = 40;

/// The TTLs of a hash's fields; never empty while a hash holds it.
#[derive(Clone, Default)]
pub struct FieldTtls {
    at: Dict<u64>,
    order: BTreeSet<(u64, Box<[u8]>)>,
    /// Heap bytes of the field copies in `order`.
    order_heap: usize,
}

impl FieldTtls {
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// `field`'s expiry time (unix ms), if it has one.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<u64> {
        self.at.get(field).copied()
    }

    /// Sets `field`'s expiry time, replacing any it had.
    pub fn set(&mut self, field: &[u8], at: u64) {
        if let Some(old) = self.at.insert(field, at) {
            self.order.remove(&(old, Box::from(field)));
        } else {
            self.order_heap += crate::malloc_size(field.len());
        }
        self.order.insert((at, Box::from(field)));
    }

    /// Removes `field`'s TTL; returns it when there was one.
    pub fn remove(&mut self, field: &[u8]) -> Option<u64> {
        let old = self.at.remove(field)?;
        self.order.remove(&(old, Box::from(field)));
        self.order_heap -= crate::malloc_size(field.len());
        Some(old)
    }

    /// The earliest expiry time.
    #[inline]
    pub fn min(&self) -> Option<u64> {
        self.order.first().map(|e| e.0)
    }

    /// Takes the earliest field whose time is before `now`, if any.
    pub fn pop_expired(&mut self, now: u64) -> Option<Box<[u8]>> {
        if now <= self.min()? {
            return None;
        }
        let (_, field) = self.order.pop_first()?;
        self.at.remove(&field);
        self.order_heap -= crate::malloc_size(field.len());
        Some(field)
    }

    /// (field, time) pairs, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.order.iter().map(|(t, f)| (&f[..], *t))
    }

    /// Estimated heap bytes; a function of the contents only.
    pub fn heap_bytes(&self) -> usize {
        self.at.heap_bytes() + self.order.len() * ORDER_ENTRY_BYTES + self.order_heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replace_remove_and_pop_in_time_order() {
        let mut t = FieldTtls::default();
        t.set(b"a", 30);
        t.set(b"b", 10);
        t.set(b"c", 20);
        t.set(b"a", 5);
        assert_eq!(t.len(), 3);
        assert_eq!(t.min(), Some(5));
        assert_eq!(t.get(b"c"), Some(20));
        assert_eq!(t.remove(b"c"), Some(20));
        assert_eq!(t.remove(b"c"), None);
        assert_eq!(t.pop_expired(5), None, "at its time a field still lives");
        assert_eq!(t.pop_expired(6).as_deref(), Some(&b"a"[..]));
        assert_eq!(t.pop_expired(6), None);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![(&b"b"[..], 10)]);
        assert_eq!(t.pop_expired(100).as_deref(), Some(&b"b"[..]));
        assert!(t.is_empty());
        assert_eq!(t.order_heap, 0);
    }

    use crate::hash::Hash;
    use crate::observe::{Change, Observer};
    use crate::{SetTtl, Store, Value};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn hash_of(pairs: &[(&str, &str)]) -> Value {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.set(f.as_bytes(), v.as_bytes());
        }
        Value::Hash(h)
    }

    /// Gives `field` of hash `key` a TTL through the update path.
    fn expire_field(st: &mut Store, key: &[u8], field: &[u8], at: u64) -> bool {
        let mut db = st.db(0);
        let mut k = db.update(key);
        let done = match k.value_mut() {
            Some(Value::Hash(h)) => h.set_field_ttl(field, at),
            _ => false,
        };
        if done {
            k.changed();
        }
        done
    }

    fn fields(st: &mut Store, key: &[u8]) -> Option<Vec<String>> {
        match st.db(0).get(key)? {
            Value::Hash(h) => {
                let mut v: Vec<String> = h
                    .keys()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                v.sort();
                Some(v)
            }
            _ => None,
        }
    }

    #[derive(Default)]
    struct Heard(Vec<String>);

    impl Observer for Heard {
        fn changed(&mut self, _db: usize, key: &[u8], change: Change) {
            self.0
                .push(format!("{change:?} {}", String::from_utf8_lossy(key)));
        }
        fn fields_expired(&mut self, _db: usize, key: &[u8], f: &[Box<[u8]>], deleted: bool) {
            let names: Vec<_> = f
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            self.0.push(format!(
                "fields {} {} {deleted}",
                String::from_utf8_lossy(key),
                names.join(",")
            ));
        }
    }

    #[test]
    fn a_lookup_deletes_expired_fields_and_an_emptied_hash() {
        let mut st = Store::new(1);
        st.set_now(1_000);
        st.observe(Heard::default());
        st.db(0).set(
            b"h",
            hash_of(&[("a", "1"), ("b", "2"), ("c", "3")]),
            SetTtl::Clear,
        );
        assert_eq!(st.db(0).field_expires_len(), 0);
        assert!(expire_field(&mut st, b"h", b"a", 1_500));
        assert!(expire_field(&mut st, b"h", b"b", 2_000));
        assert!(!expire_field(&mut st, b"h", b"zz", 2_000));
        assert_eq!(st.db(0).field_expires_len(), 1);
        st.observer_mut::<Heard>().unwrap().0.clear();
        st.set_now(1_500);
        assert_eq!(
            fields(&mut st, b"h").unwrap(),
            ["a", "b", "c"],
            "alive at its time"
        );
        st.set_now(1_501);
        assert_eq!(fields(&mut st, b"h").unwrap(), ["b", "c"]);
        assert_eq!(st.stats.expired_fields, 1);
        // HSET clears a field's TTL; deleting the field drops it too.
        {
            let mut db = st.db(0);
            let mut k = db.update(b"h");
            if let Some(Value::Hash(h)) = k.value_mut() {
                h.set(b"b", b"new");
                assert_eq!(h.field_ttl(b"b"), None);
                assert!(!h.has_field_ttls());
            }
            k.changed();
        }
        st.set_now(5_000);
        assert_eq!(fields(&mut st, b"h").unwrap(), ["b", "c"]);
        assert!(expire_field(&mut st, b"h", b"b", 6_000));
        assert!(expire_field(&mut st, b"h", b"c", 6_000));
        st.set_now(6_001);
        assert!(!st.db(0).contains(b"h"), "the last field took the key");
        assert_eq!(st.db(0).field_expires_len(), 0);
        assert_eq!(
            st.stats.expired_keys, 0,
            "a hash emptied by field expiry is not an expired key"
        );
        assert_eq!(
            st.observer_mut::<Heard>().unwrap().0,
            [
                "fields h a false",
                "Updated h",
                "Updated h",
                "Updated h",
                "Updated h",
                "fields h b,c true",
                "Deleted h"
            ]
        );
        st.dbs[0].check();
    }

    #[test]
    fn the_active_cycle_reclaims_fields_nobody_reads() {
        let mut st = Store::new(2);
        st.set_now(1_000);
        for db in 0..2 {
            for i in 0..200u32 {
                let k = format!("h{i}");
                st.db(db).set(
                    k.as_bytes(),
                    hash_of(&[("keep", "1"), ("x", "2"), ("y", "3")]),
                    SetTtl::Clear,
                );
                let mut d = st.db(db);
                let mut w = d.update(k.as_bytes());
                if let Some(Value::Hash(h)) = w.value_mut() {
                    h.set_field_ttl(b"x", 1_100);
                    if i % 2 == 0 {
                        h.set_field_ttl(b"y", 1_200);
                        h.set_field_ttl(b"keep", 1_200);
                    }
                }
                w.changed();
            }
        }
        st.set_now(5_000);
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        for _ in 0..50 {
            st.active_expire_cycle(far);
        }
        // Per database: 200 x, 100 y, 100 keep (the even hashes went).
        assert_eq!(st.stats.expired_fields, 2 * 400);
        for db in 0..2 {
            assert_eq!(st.db_counts(db), (100, 0));
            assert_eq!(
                st.db(db).field_expires_len(),
                0,
                "stale entries are dropped"
            );
            st.dbs[db].check();
        }
        assert_eq!(fields(&mut st, b"h1").unwrap(), ["keep", "y"]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8),
        Del(u8),
        Expire(u8, u16),
        Persist(u8),
        Incr(u8),
        Advance(u16),
        Active,
        Read,
        Replace,
    }

    fn op() -> impl Strategy<Value = Op> {
        let f = 0u8..12;
        prop_oneof![
            4 => (f.clone(), any::<u8>()).prop_map(|(f, v)| Op::Set(f, v)),
            2 => f.clone().prop_map(Op::Del),
            4 => (f.clone(), 0u16..3000).prop_map(|(f, t)| Op::Expire(f, t)),
            1 => f.clone().prop_map(Op::Persist),
            1 => f.prop_map(Op::Incr),
            3 => (0u16..1500).prop_map(Op::Advance),
            1 => Just(Op::Active),
            2 => Just(Op::Read),
            1 => Just(Op::Replace),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Field TTLs against a model map of field -> (value, expiry):
        /// lazy expiry (every read), the active cycle, HSET clearing a TTL,
        /// HINCRBY keeping it, the key going with its last field, and the
        /// keyspace's invariants after every step.
        #[test]
        fn field_expiry_matches_a_model(ops in prop::collection::vec(op(), 1..200)) {
            let mut st = Store::new(1);
            let mut now = 10_000u64;
            st.set_now(now);
            let mut m: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> = BTreeMap::new();
            let key = b"h".to_vec();
            let field = |f: u8| format!("f{f}").into_bytes();
            for o in ops {
                m.retain(|_, (_, at)| at.is_none_or(|at| now <= at));
                match o {
                    Op::Set(f, v) => {
                        let (f, v) = (field(f), vec![b'v', v]);
                        let mut db = st.db(0);
                        let mut w = db.update(&key);
                        match w.value_mut() {
                            Some(Value::Hash(h)) => { h.set(&f, &v); w.changed(); }
                            _ => {
                                let mut h = Hash::new();
                                h.set(&f, &v);
                                w.insert(Value::Hash(h), SetTtl::Clear);
                            }
                        }
                        m.insert(f, (v, None));
                    }
                    Op::Del(f) => {
                        let f = field(f);
                        let mut db = st.db(0);
                        let mut w = db.update(&key);
                        if let Some(Value::Hash(h)) = w.value_mut() {
                            if h.remove(&f) { w.changed(); }
                        }
                        m.remove(&f);
                    }
                    Op::Expire(f, t) => {
                        let f = field(f);
                        let at = now + t as u64;
                        let done = expire_field(&mut st, &key, &f, at);
                        prop_assert_eq!(done, m.contains_key(&f));
                        if let Some(e) = m.get_mut(&f) { e.1 = Some(at); }
                    }
                    Op::Persist(f) => {
                        let f = field(f);
                        let mut db = st.db(0);
                        let mut w = db.update(&key);
                        let had = match w.value_mut() {
                            Some(Value::Hash(h)) => h.persist_field(&f),
                            _ => false,
                        };
                        if had { w.changed(); }
                        drop(w);
                        prop_assert_eq!(had, m.get(&f).is_some_and(|e| e.1.is_some()));
                        if let Some(e) = m.get_mut(&f) { e.1 = None; }
                    }
                    Op::Incr(f) => {
                        let f = field(f);
                        let mut db = st.db(0);
                        let mut w = db.update(&key);
                        let r = match w.value_mut() {
                            Some(Value::Hash(h)) => Some(h.incr_by(&f, 1)),
                            _ => None,
                        };
                        if r.is_some() { w.changed(); }
                        drop(w);
                        if let Some(r) = r {
                            match m.get_mut(&f) {
                                Some(e) => {
                                    let old = crate::num::parse_i64(&e.0);
                                    prop_assert_eq!(r.is_ok(), old.is_some());
                                    if let Some(n) = old { e.0 = (n + 1).to_string().into_bytes(); }
                                }
                                None => { m.insert(f, (b"1".to_vec(), None)); }
                            }
                        }
                    }
                    Op::Advance(ms) => {
                        now += ms as u64;
                        st.set_now(now);
                    }
                    Op::Active => {
                        st.active_expire_cycle(std::time::Instant::now() + std::time::Duration::from_secs(10));
                    }
                    Op::Read => {
                        let got = match st.db(0).get(&key) {
                            Some(Value::Hash(h)) => h
                                .iter()
                                .map(|(f, v)| (f.to_vec(), (v.to_vec(), h.field_ttl(f))))
                                .collect(),
                            _ => BTreeMap::new(),
                        };
                        m.retain(|_, (_, at)| at.is_none_or(|at| now <= at));
                        prop_assert_eq!(&got, &m);
                    }
                    Op::Replace => {
                        // A whole hash stored over the key (RESTORE-like).
                        let live = match st.db(0).get(&key) {
                            Some(v) => v.clone(),
                            None => continue,
                        };
                        st.db(0).set(b"other", live, SetTtl::Clear);
                        let moved = st.db(0).remove(b"other").unwrap();
                        st.db(0).set(&key, moved, SetTtl::Clear);
                    }
                }
                st.dbs[0].check();
            }
            m.retain(|_, (_, at)| at.is_none_or(|at| now <= at));
            prop_assert_eq!(st.db(0).contains(&key), !m.is_empty());
        }
    }
}
