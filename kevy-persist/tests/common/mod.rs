//! What the integration tests share: a type-level view of a store's keys
//! to compare stores by, and builders of values in every encoding.
#![allow(dead_code)]

use kevy_store::hash::Hash;
use kevy_store::list::List;
use kevy_store::set::Set;
use kevy_store::zset::{AddFlags, ZSet};
use kevy_store::{SetTtl, Store, Value};
use std::collections::BTreeMap;

/// A value by content: what a client can read, nothing about encoding.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    /// Members sorted.
    Set(Vec<Vec<u8>>),
    /// Pairs sorted by field.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// In rank order, scores as bits so -0 and 0 differ.
    ZSet(Vec<(Vec<u8>, u64)>),
    /// Entries in order, then the counters and groups as debug text.
    Stream(Vec<(String, Pairs)>, String),
}

/// Field-value pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `(db, key)` to the value and absolute expiry (ms).
pub type Model = BTreeMap<(usize, Vec<u8>), (V, Option<u64>)>;

pub fn view(v: &Value) -> V {
    match v {
        Value::Str(s) => V::Str(s.to_vec()),
        Value::List(l) => V::List(l.iter().map(<[u8]>::to_vec).collect()),
        Value::Set(s) => {
            let mut m = s.to_vecs();
            m.sort();
            V::Set(m)
        }
        Value::Hash(h) => {
            let mut p: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            p.sort();
            V::Hash(p)
        }
        Value::ZSet(z) => V::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect()),
        Value::Stream(x) => {
            let mut entries = Vec::new();
            x.for_each(
                kevy_store::stream::StreamId::MIN,
                kevy_store::stream::StreamId::MAX,
                false,
                |id, f| {
                    entries.push((
                        id.to_string(),
                        f.map(|(a, b)| (a.to_vec(), b.to_vec())).collect(),
                    ));
                    true
                },
            );
            let meta = format!(
                "{} {} {} {} {} {:?}",
                x.len(),
                x.last_id,
                x.first_id,
                x.max_deleted,
                x.entries_added,
                x.groups
            );
            V::Stream(entries, meta)
        }
    }
}

/// Every key of `store` live at `now` (expiry not before `now`).
pub fn model(store: &Store, now: u64) -> Model {
    let mut out = Model::new();
    for db in 0..store.ndbs() {
        for (k, e) in store.entries(db) {
            if e.expire_at().is_some_and(|t| t < now) {
                continue;
            }
            out.insert((db, k.to_vec()), (view(&e.value), e.expire_at()));
        }
    }
    out
}

/// Encoding names by key, to check encodings survive too. A string's
/// "raw" and "embstr" are one: the file holds bytes, and a string grown in
/// place (raw) comes back as a plain one, as it does in Redis.
pub fn encodings(store: &Store) -> BTreeMap<(usize, Vec<u8>), &'static str> {
    let mut out = BTreeMap::new();
    for db in 0..store.ndbs() {
        for (k, e) in store.entries(db) {
            let enc = match e.value.encoding_name() {
                "raw" | "embstr" => "bytes",
                other => other,
            };
            out.insert((db, k.to_vec()), enc);
        }
    }
    out
}

pub fn list<I: AsRef<[u8]>>(items: impl IntoIterator<Item = I>) -> Value {
    let mut l = List::new();
    for i in items {
        l.push_back(i.as_ref());
    }
    Value::List(Box::new(l))
}

pub fn set<I: AsRef<[u8]>>(items: impl IntoIterator<Item = I>) -> Value {
    let mut s = Set::new();
    for i in items {
        s.insert(i.as_ref());
    }
    Value::Set(Box::new(s))
}

pub fn hash<F: AsRef<[u8]>, W: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (F, W)>) -> Value {
    let mut h = Hash::new();
    for (f, v) in pairs {
        h.set(f.as_ref(), v.as_ref());
    }
    Value::Hash(h)
}

pub fn zset<M: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (M, f64)>) -> Value {
    let mut z = ZSet::new();
    for (m, s) in pairs {
        z.add(m.as_ref(), s, AddFlags::default()).unwrap();
    }
    Value::ZSet(Box::new(z))
}

fn n(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}{i}").into_bytes()
}

/// A store with every type in every encoding, small and large, integer
/// and raw strings, binary keys, TTLs in the future, spread over 16
/// databases. `now` is the store's clock.
pub fn every_kind(now: u64) -> Store {
    let mut st = Store::new(16);
    st.set_now(now);
    let far = now + 3_600_000;
    let put = |st: &mut Store, db: usize, k: &[u8], v: Value, ttl: Option<u64>| {
        st.db(db).set(k, v, ttl.map_or(SetTtl::Clear, SetTtl::At));
    };
    // Strings: ints of every width, non-canonical numbers, raw, long, binary.
    for (i, s) in [
        "0",
        "-1",
        "127",
        "-128",
        "300",
        "-32768",
        "70000",
        "-2147483648",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "+5",
        "1.5",
        "",
        "hello",
    ]
    .iter()
    .enumerate()
    {
        put(&mut st, 0, &n("str:", i), Value::string(s.as_bytes()), None);
    }
    put(
        &mut st,
        0,
        b"str:long",
        Value::string(&vec![b'x'; 100_000]),
        Some(far),
    );
    put(
        &mut st,
        0,
        b"bin\x00\xff\r\nkey",
        Value::string(&[0, 1, 2, 255, 254]),
        None,
    );
    let mut raw = kevy_store::StrValue::Int(42);
    raw.make_raw().extend_from_slice(b"abc");
    put(&mut st, 0, b"str:raw", Value::Str(raw), Some(far + 1));
    // Lists: one small node, many nodes, big elements, integers inside.
    put(
        &mut st,
        1,
        b"list:small",
        list(["a", "1", "-7", "bb"]),
        None,
    );
    put(
        &mut st,
        1,
        b"list:big",
        list((0..5000).map(|i| n("element-", i))),
        Some(far),
    );
    put(
        &mut st,
        1,
        b"list:huge-elems",
        list([vec![b'h'; 10_000], vec![b'i'; 20_000], b"x".to_vec()]),
        None,
    );
    put(
        &mut st,
        1,
        b"list:ints",
        list((0..300).map(|i| (i * 7919 - 100_000).to_string())),
        None,
    );
    // Sets: intset of each width, listpack, hashtable.
    put(&mut st, 2, b"set:int16", set(["1", "-2", "300"]), None);
    put(&mut st, 2, b"set:int32", set(["1", "70000"]), None);
    put(
        &mut st,
        2,
        b"set:int64",
        set(["1", "9223372036854775807", "-9223372036854775808"]),
        None,
    );
    put(
        &mut st,
        2,
        b"set:intset-big",
        set((0..512).map(|i| i.to_string())),
        None,
    );
    put(&mut st, 2, b"set:listpack", set(["a", "b", "1"]), Some(far));
    put(
        &mut st,
        2,
        b"set:table",
        set((0..1000).map(|i| n("m", i))),
        None,
    );
    put(
        &mut st,
        2,
        b"set:ints-table",
        set((0..600).map(|i| i.to_string())),
        None,
    );
    // Hashes: listpack, hashtable by count, hashtable by value size.
    put(
        &mut st,
        3,
        b"hash:small",
        hash([("f", "v"), ("n", "12"), ("e", "")]),
        None,
    );
    put(
        &mut st,
        3,
        b"hash:many",
        hash((0..1000).map(|i| (n("f", i), n("v", i)))),
        Some(far),
    );
    put(
        &mut st,
        3,
        b"hash:long",
        hash([("f", vec![b'v'; 100]), ("g", b"1".to_vec())]),
        None,
    );
    // Sorted sets: listpack with awkward scores, skiplist.
    let awkward = [
        ("int", 3.0),
        ("neg", -17.0),
        ("frac", 0.1),
        ("tiny", 5e-324),
        ("big", 1e300),
        ("two53", 9007199254740993.0),
        ("inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("third", 1.0 / 3.0),
        ("negzero", -0.0),
    ];
    put(&mut st, 4, b"zset:small", zset(awkward), None);
    put(
        &mut st,
        4,
        b"zset:big",
        zset((0..1000).map(|i| (n("m", i), i as f64 / 7.0))),
        None,
    );
    put(
        &mut st,
        4,
        b"zset:big-awkward",
        zset(
            awkward
                .iter()
                .map(|(m, s)| (m.to_string(), *s))
                .chain((0..200).map(|i| (format!("x{i}"), -(i as f64)))),
        ),
        Some(far),
    );
    put(
        &mut st,
        4,
        b"zset:long-member",
        zset([(vec![b'm'; 100], 1.5)]),
        None,
    );
    // One key in each of the other databases.
    for db in 5..16 {
        put(
            &mut st,
            db,
            &n("db", db),
            Value::string(&n("value", db)),
            None,
        );
    }
    st
}
