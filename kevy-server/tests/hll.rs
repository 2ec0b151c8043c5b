//! HyperLogLogs against a real redis-server: random sets of many sizes,
//! across the sparse → dense boundary and with several
//! `hll-sparse-max-bytes`, added to both servers in random batches; every
//! reply, the HLL's bytes (GET) before and after PFCOUNT fills the cache,
//! the union's estimate and PFMERGE's bytes over keys on different shards
//! must be Redis's. The HLLs then cross between the servers with
//! DUMP/RESTORE and through `dump.rdb`, and survive a restart from the
//! append-only log.

mod common;

use common::resp::{escape, Conn, Value};
use common::{Server, TempDir};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::time::Duration;

/// Skips (with the reason printed) when there is no redis-server.
fn redis_in(dir: Option<&std::path::Path>) -> Option<Server> {
    if common::skip_redis_tools() {
        eprintln!("skipped: {}=1", common::SKIP_ENV);
        return None;
    }
    if !common::have_program("redis-server") {
        eprintln!("skipped: redis-server is not on PATH");
        return None;
    }
    Some(Server::redis_in("redis-server", dir).unwrap_or_else(|e| panic!("{e}")))
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&[u8]]) -> Value {
    c.call(args).unwrap_or_else(|e| {
        panic!(
            "{:?}: {e}",
            args.iter().map(|a| escape(a)).collect::<Vec<_>>()
        )
    })
}

/// Runs `args` on both servers; the two replies, which must be equal.
fn both(r: &mut Conn, k: &mut Conn, args: &[&[u8]]) -> Result<Value, TestCaseError> {
    let (a, b) = (call(r, args), call(k, args));
    let show = || args.iter().take(3).map(|a| escape(a)).collect::<Vec<_>>();
    prop_assert!(
        a.encode() == b.encode(),
        "{:?}: redis {} kevy {}",
        show(),
        escape(&a.encode()[..a.encode().len().min(200)]),
        escape(&b.encode()[..b.encode().len().min(200)])
    );
    Ok(a)
}

/// `n` distinct-ish random elements from `seed`: random bytes of random
/// length, so that some repeat and hashing sees every tail length.
fn elements(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| {
            let len = (next() % 24) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

/// Keys on three different shards of a three-shard kevy.
const KEYS: [&[u8]; 4] = [b"k1", b"k2", b"k3", b"k4"];

#[test]
fn hll_bytes_and_estimates_match_redis_on_random_sets() {
    let Some(redis) = redis_in(None) else { return };
    let kevy = Server::kevy(&["--cores", "3", "--save", ""]);
    // The runner takes a `Fn`: the connections are lent to each case.
    let conns = std::cell::RefCell::new((conn(redis.port), conn(kevy.port)));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let sizes = prop_oneof![0..40usize, 40..1500usize, 1500..4000usize, 4000..20000usize];
    let strategy = (
        any::<u64>(),
        [sizes.clone(), sizes.clone(), sizes],
        prop_oneof![Just(3000usize), Just(0), Just(200), Just(12000)],
        1..80usize,
    );
    runner
        .run(&strategy, |(seed, ns, sparse_max, batch)| {
            let mut lent = conns.borrow_mut();
            let (r, k) = &mut *lent;
            let limit = sparse_max.to_string();
            for c in [&mut *r, &mut *k] {
                call(c, &[b"FLUSHALL"]);
                let set = [
                    &b"CONFIG"[..],
                    b"SET",
                    b"hll-sparse-max-bytes",
                    limit.as_bytes(),
                ];
                assert_eq!(call(c, &set), Value::Line(b'+', b"OK".to_vec()));
            }
            for (i, &n) in ns.iter().enumerate() {
                let key = KEYS[i];
                let els = elements(seed.wrapping_add(i as u64 * 7919), n);
                for chunk in els.chunks(batch) {
                    let mut args: Vec<&[u8]> = vec![b"PFADD", key];
                    args.extend(chunk.iter().map(Vec::as_slice));
                    both(r, k, &args)?;
                }
                both(r, k, &[b"GET", key])?;
                both(r, k, &[b"PFCOUNT", key])?;
                both(r, k, &[b"GET", key])?;
                both(r, k, &[b"PFDEBUG", b"ENCODING", key])?;
            }
            both(r, k, &[b"PFCOUNT", KEYS[0], KEYS[1]])?;
            both(r, k, &[b"PFCOUNT", KEYS[0], KEYS[1], KEYS[2]])?;
            both(r, k, &[b"PFMERGE", KEYS[3], KEYS[0], KEYS[1]])?;
            both(r, k, &[b"GET", KEYS[3]])?;
            both(r, k, &[b"PFCOUNT", KEYS[3]])?;
            both(r, k, &[b"PFMERGE", KEYS[2], KEYS[3]])?;
            both(r, k, &[b"GET", KEYS[2]])?;
            both(r, k, &[b"PFDEBUG", b"TODENSE", KEYS[0]])?;
            both(r, k, &[b"GET", KEYS[0]])?;
            both(r, k, &[b"PFCOUNT", KEYS[0]])?;

            // DUMP on one server, RESTORE on the other: the same HLL.
            for key in KEYS {
                let from_redis = call(r, &[b"DUMP", key]);
                let from_kevy = call(k, &[b"DUMP", key]);
                let (Some(rp), Some(kp)) = (from_redis.bytes(), from_kevy.bytes()) else {
                    continue;
                };
                let restore = |payload: &[u8], c: &mut Conn| {
                    call(c, &[b"RESTORE", b"copy", b"0", payload, b"REPLACE"])
                };
                prop_assert!(!restore(rp, k).is_error());
                prop_assert!(!restore(kp, r).is_error());
                both(r, k, &[b"GET", b"copy"])?;
                both(r, k, &[b"PFCOUNT", b"copy"])?;
            }
            Ok(())
        })
        .unwrap();
    let (r, k) = &mut *conns.borrow_mut();
    for c in [r, k] {
        call(c, &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"3000"]);
    }
}

/// Fills sparse and dense HLLs on `c` and returns each key with its bytes.
fn fill(c: &mut Conn) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, n) in [3usize, 700, 5000].into_iter().enumerate() {
        let key = format!("h{i}").into_bytes();
        for chunk in elements(i as u64 + 11, n).chunks(50) {
            let mut args: Vec<&[u8]> = vec![b"PFADD", &key];
            args.extend(chunk.iter().map(Vec::as_slice));
            call(c, &args);
        }
        call(c, &[b"PFCOUNT", &key]);
        let v = call(c, &[b"GET", &key]).bytes().expect("an HLL").to_vec();
        out.push((key, v));
    }
    out
}

#[test]
fn hlls_cross_between_redis_and_kevy_in_dump_rdb() {
    let dir = TempDir::new("hll-rdb");
    let Some(redis) = redis_in(Some(dir.path())) else {
        return;
    };
    let mut r = conn(redis.port);
    let written = fill(&mut r);
    assert_eq!(call(&mut r, &[b"SAVE"]), Value::Line(b'+', b"OK".to_vec()));
    drop(redis);

    // kevy loads Redis's file, counts the same, and saves a file Redis
    // loads back with the same bytes.
    let d = dir.path().to_str().expect("utf-8 dir");
    let kevy = Server::kevy(&["--cores", "2", "--dir", d]);
    let mut k = conn(kevy.port);
    for (key, bytes) in &written {
        assert_eq!(call(&mut k, &[b"GET", key]).bytes(), Some(&bytes[..]));
    }
    call(&mut k, &[b"PFADD", b"h0", b"one-more"]);
    call(&mut k, &[b"PFMERGE", b"h3", b"h0", b"h1", b"h2"]);
    call(&mut k, &[b"PFCOUNT", b"h3"]);
    let mut after = Vec::new();
    for key in [&b"h0"[..], b"h1", b"h2", b"h3"] {
        after.push((key, call(&mut k, &[b"GET", key])));
    }
    assert_eq!(call(&mut k, &[b"SAVE"]), Value::Line(b'+', b"OK".to_vec()));
    drop(kevy);
    let redis = redis_in(Some(dir.path())).expect("redis again");
    let mut r = conn(redis.port);
    for (key, v) in &after {
        assert_eq!(&call(&mut r, &[b"GET", key]), v, "{}", escape(key));
        assert_eq!(
            call(&mut r, &[b"PFCOUNT", key]).int(),
            call(&mut r, &[b"PFCOUNT", key, b"nokey"]).int()
        );
    }
}

#[test]
fn hll_writes_replay_from_the_append_only_log() {
    let dir = TempDir::new("hll-aof");
    let mut kevy = common::kevy_logged(dir.path(), "3", &[]);
    let mut k = conn(kevy.port);
    let written = fill(&mut k);
    // A PFCOUNT that refreshes the cache is a write; a merge across
    // shards; a conversion to dense.
    call(&mut k, &[b"PFADD", b"h0", b"x"]);
    call(&mut k, &[b"PFCOUNT", b"h0"]);
    call(&mut k, &[b"PFMERGE", b"k1", b"h0", b"h1", b"k2"]);
    call(&mut k, &[b"PFDEBUG", b"TODENSE", b"h1"]);
    let keys = [&b"h0"[..], b"h1", b"h2", b"k1"];
    let before: Vec<Value> = keys
        .iter()
        .map(|key| call(&mut k, &[b"GET", key]))
        .collect();
    assert_ne!(before[0].bytes(), Some(&written[0].1[..]));
    drop(k);
    kevy.terminate(Duration::from_secs(10));
    drop(kevy);
    let kevy = common::kevy_logged(dir.path(), "3", &[]);
    let mut k = conn(kevy.port);
    for (key, v) in keys.iter().zip(&before) {
        assert_eq!(&call(&mut k, &[b"GET", key]), v, "{}", escape(key));
    }
}

/// PFSELFTEST answers as Redis's does: ten million elements from a random
/// seed, every checkpoint's estimate within its bound. At ten elements the
/// bound is an error of one, which chance crosses when the ten fall in
/// eight registers or fewer (two pairs of them share a register each, or
/// three share one): about once in 360,000 runs, in Redis as here. So that
/// one failure runs it again: a wrong estimator fails both runs, chance
/// about once in 10^11.
#[test]
fn pfselftest_passes() {
    let kevy = Server::kevy(&["--cores", "2", "--save", ""]);
    let mut k = conn(kevy.port);
    let mut got = call(&mut k, &[b"PFSELFTEST"]).encode();
    if got.starts_with(b"-TESTFAILED Too big error. card:10 ") {
        eprintln!("PFSELFTEST, first run: {}", escape(&got));
        got = call(&mut k, &[b"PFSELFTEST"]).encode();
    }
    assert_eq!(escape(&got), escape(b"+OK\r\n"));
}

/// Malformed sparse HLLs, written with SET: PFCOUNT (cache stale), PFADD
/// and PFMERGE answer as Redis does (INVALIDOBJ or a count), and what an
/// accepted write leaves is Redis's. The bodies are random opcodes and
/// one proptest found: runs that end past register 16384 and then go on.
#[test]
fn malformed_sparse_hlls_answer_as_redis_does() {
    let Some(redis) = redis_in(None) else { return };
    let kevy = Server::kevy(&["--cores", "3", "--save", ""]);
    let conns = std::cell::RefCell::new((conn(redis.port), conn(kevy.port)));
    // A stale cache (top bit of the last header byte): PFCOUNT parses.
    let header = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
    let found: Vec<u8> = vec![127, 220, 25, 140, 3, 143, 128];
    // A body mostly of one big run, so that its end lands near 16384.
    let near_end = (
        0u8..64,
        0u8..=255,
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(hi, lo, rest)| {
            let mut b = vec![0x40 | hi, lo];
            b.extend(rest);
            b
        });
    let bodies = prop_oneof![
        Just(found),
        near_end,
        proptest::collection::vec(any::<u8>(), 0..40)
    ];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    runner
        .run(&(bodies, any::<u16>()), |(body, elem)| {
            let mut lent = conns.borrow_mut();
            let (r, k) = &mut *lent;
            let mut v = header.clone();
            v.extend_from_slice(&body);
            let e = elem.to_string();
            for (key, other) in [(b"k1", b"k2"), (b"k3", b"k4")] {
                both(r, k, &[b"SET", key, &v])?;
                both(r, k, &[b"SET", other, &v])?;
                both(r, k, &[b"PFCOUNT", key])?;
                both(r, k, &[b"PFMERGE", b"dst", key])?;
                both(r, k, &[b"PFADD", other, e.as_bytes()])?;
                both(r, k, &[b"GET", other])?;
                both(r, k, &[b"GET", b"dst"])?;
                both(r, k, &[b"DEL", b"dst"])?;
            }
            Ok(())
        })
        .unwrap();
}
