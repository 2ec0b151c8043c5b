//! The fork-less snapshot: whatever writes run between its steps (sets,
//! deletes, expiry, TTL changes, in-place collection edits, FLUSHDB,
//! FLUSHALL, SWAPDB), the file it produces loads as the store was when it
//! started.

mod common;

use common::*;
use kevy_persist::rdb::{self, Aux, Snapshot};
use kevy_store::{SetTtl, Store, Value};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000_000;
const DBS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Set(usize, u16, u16),
    Del(usize, u16),
    Expire(usize, u16, u64),
    Persist(usize, u16),
    /// Reads the key (a lazy expiry when its time has passed).
    Get(usize, u16),
    Push(usize, u16, u16),
    Sadd(usize, u16, u16),
    Hset(usize, u16, u16),
    Zadd(usize, u16, u16),
    Rename(usize, u16, u16),
    Move(usize, u16, usize),
    FlushDb(usize),
    FlushAll,
    Swap(usize, usize),
    /// Advances the clock by this many ms.
    Tick(u64),
    /// Runs the active expiry cycle.
    ActiveExpire,
    Step(usize),
    /// Sets the `n` keys from this one on: a table that grows.
    Fill(usize, u16, u16),
    /// Deletes the `n` keys from this one on: a table that shrinks.
    Drain(usize, u16, u16),
}

fn key(k: u16) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

fn op(keys: u16) -> impl Strategy<Value = Op> {
    let db = 0..DBS;
    let k = 0..keys;
    prop_oneof![
        4 => (db.clone(), k.clone(), any::<u16>()).prop_map(|(d, k, v)| Op::Set(d, k, v)),
        3 => (db.clone(), k.clone()).prop_map(|(d, k)| Op::Del(d, k)),
        2 => (db.clone(), k.clone(), 0..200u64).prop_map(|(d, k, t)| Op::Expire(d, k, t)),
        1 => (db.clone(), k.clone()).prop_map(|(d, k)| Op::Persist(d, k)),
        2 => (db.clone(), k.clone()).prop_map(|(d, k)| Op::Get(d, k)),
        2 => (db.clone(), k.clone(), any::<u16>()).prop_map(|(d, k, v)| Op::Push(d, k, v)),
        2 => (db.clone(), k.clone(), any::<u16>()).prop_map(|(d, k, v)| Op::Sadd(d, k, v)),
        2 => (db.clone(), k.clone(), any::<u16>()).prop_map(|(d, k, v)| Op::Hset(d, k, v)),
        2 => (db.clone(), k.clone(), any::<u16>()).prop_map(|(d, k, v)| Op::Zadd(d, k, v)),
        1 => (db.clone(), k.clone(), k.clone()).prop_map(|(d, a, b)| Op::Rename(d, a, b)),
        1 => (db.clone(), k.clone(), db.clone()).prop_map(|(d, k, e)| Op::Move(d, k, e)),
        1 => db.clone().prop_map(Op::FlushDb),
        1 => Just(Op::FlushAll),
        1 => (db.clone(), db.clone()).prop_map(|(a, b)| Op::Swap(a, b)),
        1 => (0..100u64).prop_map(Op::Tick),
        1 => Just(Op::ActiveExpire),
        6 => (1..20usize).prop_map(Op::Step),
    ]
}

/// Changes a collection at `k` in place through the update path, creating
/// it when missing; a key of another type is left alone.
fn edit(
    st: &mut Store,
    db: usize,
    k: &[u8],
    make: fn() -> Value,
    f: impl FnOnce(&mut Value) -> bool,
) {
    let mut d = st.db(db);
    let mut km = d.update(k);
    match km.value_mut() {
        Some(v) => {
            if f(v) {
                km.changed();
            }
        }
        None => {
            let mut v = make();
            f(&mut v);
            km.insert(v, SetTtl::Clear);
        }
    }
}

fn apply(st: &mut Store, op: &Op) {
    match *op {
        Op::Set(d, k, v) => {
            st.db(d).set(
                &key(k),
                Value::string(v.to_string().as_bytes()),
                SetTtl::Clear,
            );
        }
        Op::Del(d, k) => {
            st.db(d).remove(&key(k));
        }
        Op::Expire(d, k, t) => {
            let at = st.now() + t;
            st.db(d).set_expire(&key(k), at);
        }
        Op::Persist(d, k) => {
            st.db(d).persist(&key(k));
        }
        Op::Get(d, k) => {
            st.db(d).get(&key(k));
        }
        Op::Push(d, k, v) => edit(
            st,
            d,
            &key(k),
            || list::<&[u8]>([]),
            |val| match val {
                Value::List(l) => {
                    l.push_back(v.to_string().as_bytes());
                    true
                }
                _ => false,
            },
        ),
        Op::Sadd(d, k, v) => edit(
            st,
            d,
            &key(k),
            || set::<&[u8]>([]),
            |val| match val {
                Value::Set(s) => s.insert(v.to_string().as_bytes()),
                _ => false,
            },
        ),
        Op::Hset(d, k, v) => edit(
            st,
            d,
            &key(k),
            || hash::<&[u8], &[u8]>([]),
            |val| match val {
                Value::Hash(h) => {
                    h.set(format!("f{}", v % 50).as_bytes(), v.to_string().as_bytes());
                    true
                }
                _ => false,
            },
        ),
        Op::Zadd(d, k, v) => edit(
            st,
            d,
            &key(k),
            || zset::<&[u8]>([]),
            |val| match val {
                Value::ZSet(z) => {
                    let m = format!("m{}", v % 40);
                    z.add(m.as_bytes(), v as f64 / 3.0, Default::default())
                        .is_ok()
                }
                _ => false,
            },
        ),
        Op::Rename(d, a, b) => {
            let _ = st.db(d).rename(&key(a), &key(b), false);
        }
        Op::Move(d, k, e) => {
            let _ = st.move_key(d, e, &key(k));
        }
        Op::FlushDb(d) => {
            st.db(d).flush();
        }
        Op::FlushAll => {
            st.flush_all();
        }
        Op::Swap(a, b) => st.swap_db(a, b),
        Op::Tick(ms) => st.set_now(st.now() + ms),
        Op::ActiveExpire => {
            let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
            st.active_expire_cycle(far);
        }
        Op::Fill(d, from, n) => {
            for k in from..from.saturating_add(n) {
                let v = Value::string(k.to_string().as_bytes());
                st.db(d).set(&key(k), v, SetTtl::Clear);
            }
        }
        Op::Drain(d, from, n) => {
            for k in from..from.saturating_add(n) {
                st.db(d).remove(&key(k));
            }
        }
        Op::Step(_) => {}
    }
}

/// A random starting store: strings, collections and TTLs (some already
/// past) over `keys` names per database.
fn initial(keys: u16) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (0..DBS, 0..keys, any::<u16>()).prop_map(|(d, k, v)| Op::Set(d, k, v)),
            2 => (0..DBS, 0..keys, any::<u16>()).prop_map(|(d, k, v)| Op::Push(d, k, v)),
            2 => (0..DBS, 0..keys, any::<u16>()).prop_map(|(d, k, v)| Op::Sadd(d, k, v)),
            2 => (0..DBS, 0..keys, any::<u16>()).prop_map(|(d, k, v)| Op::Hset(d, k, v)),
            2 => (0..DBS, 0..keys, any::<u16>()).prop_map(|(d, k, v)| Op::Zadd(d, k, v)),
            2 => (0..DBS, 0..keys, 0..300u64).prop_map(|(d, k, t)| Op::Expire(d, k, t)),
        ],
        0..400,
    )
}

fn aux() -> Aux {
    Aux {
        redis_ver: rdb::REDIS_VER.to_string(),
        ctime: NOW / 1000,
        used_mem: 0,
        functions: Vec::new(),
    }
}

/// Builds the store, starts a snapshot, runs `ops` with steps where they
/// say, finishes, and checks the file against the store at the start.
fn check(init: &[Op], ops: &[Op], load_at: u64) {
    let mut st = Store::new(DBS);
    st.set_now(NOW - 150);
    for o in init {
        apply(&mut st, o);
    }
    st.set_now(NOW);
    let want = model(&st, NOW + load_at);
    let keys_at_start: usize = (0..DBS).map(|d| st.db_counts(d).0).sum();
    let mut snap = Snapshot::start(&mut st, Vec::new());
    for o in ops {
        if let Op::Step(n) = o {
            snap.step(&st, *n).unwrap();
        } else {
            apply(&mut st, o);
        }
    }
    while !snap.step(&st, usize::MAX).unwrap() {}
    // Every key of the start, expired ones included, exactly once.
    assert_eq!(snap.written(), keys_at_start as u64);
    assert_eq!(snap.remembered(), 0);
    let section = snap.finish(&mut st).unwrap();
    let file = rdb::combine(Vec::new(), &aux(), [section.as_slice()]).unwrap();
    let mut back = Store::new(DBS);
    back.set_now(NOW + load_at);
    rdb::load_into(&mut back, file.as_slice(), file.len() as u64).unwrap();
    assert_eq!(model(&back, NOW + load_at), want);
    // The snapshot is detached: later writes reach no observer of it.
    st.db(0).set(b"after", Value::string(b"1"), SetTtl::Clear);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_file_is_the_store_at_the_start(
        init in initial(60),
        ops in proptest::collection::vec(op(60), 0..300),
        load_at in 0..400u64,
    ) {
        check(&init, &ops, load_at);
    }

    /// Few keys, so the same names are hit again and again; steps of one.
    #[test]
    fn small_keyspaces_with_heavy_reuse(
        init in initial(6),
        ops in proptest::collection::vec(op(6), 0..100),
    ) {
        check(&init, &ops, 0);
    }
}

/// Writes over a keyspace of 4000 names per database, with bulk inserts
/// and deletes that make the tables grow and shrink while they are walked.
fn big_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => op(4000),
        1 => (0..DBS, 0..4000u16, 0..3000u16).prop_map(|(d, k, n)| Op::Fill(d, k, n)),
        1 => (0..DBS, 0..4000u16, 0..4000u16).prop_map(|(d, k, n)| Op::Drain(d, k, n)),
        3 => (1..400usize).prop_map(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Tables that grow and shrink (and rehash) under the walk.
    #[test]
    fn resizing_tables(
        init in proptest::collection::vec(
            (0..DBS, 0..4000u16, 0..3000u16).prop_map(|(d, k, n)| Op::Fill(d, k, n)),
            0..4,
        ),
        extra in initial(4000),
        ops in proptest::collection::vec(big_op(), 0..60),
        load_at in 0..400u64,
    ) {
        let init: Vec<Op> = init.into_iter().chain(extra).collect();
        check(&init, &ops, load_at);
    }
}

/// Nothing written during the snapshot: it holds no key of its own, at
/// any step of a 100 000-key walk. Keys written during it are held until
/// the walk reaches them, and no longer.
#[test]
fn bookkeeping_follows_the_writes_not_the_keyspace() {
    let mut st = Store::new(1);
    st.set_now(NOW);
    for i in 0..100_000u32 {
        let k = format!("key:{i}");
        st.db(0)
            .set(k.as_bytes(), Value::string(k.as_bytes()), SetTtl::Clear);
    }
    let mut snap = Snapshot::start(&mut st, Vec::new());
    for _ in 0..50 {
        assert!(!snap.step(&st, 1000).unwrap());
        assert_eq!(snap.remembered(), 0);
    }
    // Half walked: overwrite 1000 keys, of which about half are ahead.
    for i in 0..1000u32 {
        let k = format!("key:{}", i * 100);
        st.db(0)
            .set(k.as_bytes(), Value::string(b"new"), SetTtl::Clear);
    }
    let held = snap.remembered();
    assert!((300..700).contains(&held), "{held} of 1000 held");
    // Writing the same keys again holds nothing more.
    for i in 0..1000u32 {
        let k = format!("key:{}", i * 100);
        st.db(0)
            .set(k.as_bytes(), Value::string(b"newer"), SetTtl::Clear);
    }
    assert_eq!(snap.remembered(), held);
    // The walk forgets them as it meets them.
    let mut last = held;
    for _ in 0..40 {
        assert!(!snap.step(&st, 1000).unwrap());
        assert!(snap.remembered() <= last);
        last = snap.remembered();
    }
    assert!(last < held / 2, "{last} of {held} still held");
    while !snap.step(&st, 1000).unwrap() {}
    assert_eq!(snap.remembered(), 0);
    assert_eq!(snap.written(), 100_000);
    let section = snap.finish(&mut st).unwrap();
    let file = rdb::combine(Vec::new(), &aux(), [section.as_slice()]).unwrap();
    let mut back = Store::new(1);
    back.set_now(NOW);
    let info = rdb::load_into(&mut back, file.as_slice(), file.len() as u64).unwrap();
    assert_eq!(info.keys, 100_000);
    assert_eq!(
        back.db(0)
            .get(b"key:500")
            .and_then(|v| v.as_str())
            .map(|s| s.to_vec()),
        Some(b"key:500".to_vec())
    );
}

/// Deletes that shrink the table while the walk is half done, and inserts
/// that grow it: the SCAN cursor must still meet every starting key once.
#[test]
fn resizes_in_the_middle_of_the_walk() {
    let mut st = Store::new(1);
    st.set_now(NOW);
    for i in 0..5000u32 {
        st.db(0).set(
            format!("k{i}").as_bytes(),
            Value::string(&i.to_le_bytes()),
            SetTtl::Clear,
        );
    }
    let want = model(&st, NOW);
    let mut snap = Snapshot::start(&mut st, Vec::new());
    snap.step(&st, 1000).unwrap();
    for i in 0..4900u32 {
        st.db(0).remove(format!("k{i}").as_bytes());
    }
    snap.step(&st, 10).unwrap();
    for i in 0..20000u32 {
        st.db(0).set(
            format!("n{i}").as_bytes(),
            Value::string(b"x"),
            SetTtl::Clear,
        );
        if i % 1000 == 0 {
            snap.step(&st, 10).unwrap();
        }
    }
    let written = snap.written();
    assert!(written < 5000, "the walk is not finished yet ({written})");
    while !snap.step(&st, usize::MAX).unwrap() {}
    assert_eq!(snap.written(), 5000);
    let section = snap.finish(&mut st).unwrap();
    let file = rdb::combine(Vec::new(), &aux(), [section.as_slice()]).unwrap();
    let mut back = Store::new(1);
    back.set_now(NOW);
    let info = rdb::load_into(&mut back, file.as_slice(), file.len() as u64).unwrap();
    assert_eq!(info.keys, 5000);
    assert_eq!(model(&back, NOW), want);
}

#[test]
fn a_cancelled_snapshot_stops_observing() {
    let mut st = Store::new(1);
    st.db(0).set(b"k", Value::string(b"v"), SetTtl::Clear);
    let snap = Snapshot::start(&mut st, Vec::new());
    snap.cancel(&mut st);
    // A new snapshot of the same writer type can start.
    let snap = Snapshot::start(&mut st, Vec::new());
    st.db(0).set(b"k", Value::string(b"w"), SetTtl::Clear);
    let section = snap.finish(&mut st).unwrap();
    let file = rdb::combine(Vec::new(), &aux(), [section.as_slice()]).unwrap();
    let mut back = Store::new(1);
    rdb::load_into(&mut back, file.as_slice(), file.len() as u64).unwrap();
    assert_eq!(
        back.db(0)
            .get(b"k")
            .and_then(|v| v.as_str())
            .map(|s| s.to_vec()),
        Some(b"v".to_vec())
    );
}
