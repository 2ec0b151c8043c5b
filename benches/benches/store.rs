//! The keyspace hot path: GET of a present key, SET overwriting a key, and
//! INCR, on a store of 100k keys shaped like redis-benchmark's
//! (`key:000000012345`, 3-byte values). The reference point is a std
//! `HashMap<Vec<u8>, Vec<u8>>` doing the same lookups and overwrites.
//! `kevy_get_pipeline_16` parses, looks up and answers GETs sixteen frames
//! at a time, as the reactor runs a pipeline, and `…_prefetched` hints the
//! sixteen keys to the cache first, as the reactor does.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kevy_store::{SetCond, SetTtl, Store, StrValue};
use std::collections::HashMap;

const KEYS: usize = 100_000;
/// Operations per measured iteration.
const BATCH: usize = 1_000;

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

/// Keys in a scrambled order, so lookups do not walk memory sequentially.
fn probe_order() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| key(i.wrapping_mul(7919) % KEYS))
        .collect()
}

fn filled_store() -> Store {
    let mut st = Store::new(16);
    st.set_now(1_700_000_000_000);
    let mut db = st.db(0);
    for i in 0..KEYS {
        db.set_str(
            &key(i),
            StrValue::from_input(b"xxx"),
            SetCond::Always,
            SetTtl::Clear,
            false,
        )
        .unwrap();
    }
    // The cycle's spare time finishes any resize in progress, so every run
    // measures a settled table.
    st.active_expire_cycle(std::time::Instant::now() + std::time::Duration::from_secs(1));
    st
}

fn store_ops(c: &mut Criterion) {
    let keys = probe_order();
    let mut g = c.benchmark_group("store_100k");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut st = filled_store();
    let mut at = 0;
    g.bench_function("kevy_get_hit", |b| {
        b.iter(|| {
            let mut db = st.db(0);
            for _ in 0..BATCH {
                let v = db.get_str(&keys[at]).unwrap();
                black_box(v.map(StrValue::len));
                at = (at + 1) % KEYS;
            }
        })
    });
    // GET as a server runs a 16-deep pipeline of them: parse each frame,
    // look the key up, write the reply; without and with the keys of the
    // sixteen hinted to the cache first (what the reactor does). Between
    // two lookups there is more work than the CPU looks ahead over, so
    // without the hints each lookup's cache misses come one after another.
    let frames: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            let mut f = format!("*2\r\n$3\r\nGET\r\n${}\r\n", k.len()).into_bytes();
            f.extend_from_slice(k);
            f.extend_from_slice(b"\r\n");
            f
        })
        .collect();
    let mut pipeline = Vec::new();
    let mut parser = kevy_resp::Parser::new();
    let mut out = Vec::new();
    for prefetch in [false, true] {
        let name = if prefetch {
            "kevy_get_pipeline_16_prefetched"
        } else {
            "kevy_get_pipeline_16"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH / 16 {
                    pipeline.clear();
                    for i in 0..16 {
                        pipeline.extend_from_slice(&frames[(at + i) % KEYS]);
                    }
                    out.clear();
                    let mut input = &pipeline[..];
                    let Ok(kevy_resp::Parse::Complete(mut used)) = parser.parse(input) else {
                        unreachable!("a whole frame");
                    };
                    if prefetch {
                        // As the reactor does: the frames behind the first
                        // are parsed ahead, once, and their keys hinted.
                        let mut group = Vec::with_capacity(16);
                        parser.parse_ahead(&input[used..], 16, |frame, spans| {
                            group.push(&frame[spans[1].range()]);
                        });
                        st.prefetch_keys(0, group, kevy_sys::hint::prefetch);
                    }
                    let mut db = st.db(0);
                    loop {
                        let args = parser.args(input);
                        let v = db.get_str(args.get(1)).unwrap();
                        let mut digits = [0u8; 20];
                        let v = v.unwrap().as_bytes(&mut digits);
                        kevy_resp::Reply::new(&mut out, false).bulk(v);
                        input = &input[used..];
                        match parser.parse(input) {
                            Ok(kevy_resp::Parse::Complete(n)) => used = n,
                            _ => break,
                        }
                    }
                    black_box(out.len());
                    at = (at + 16) % KEYS;
                }
            })
        });
    }
    g.bench_function("kevy_set_overwrite", |b| {
        b.iter(|| {
            let mut db = st.db(0);
            for _ in 0..BATCH {
                let r = db.set_str(
                    &keys[at],
                    StrValue::from_input(b"yyy"),
                    SetCond::Always,
                    SetTtl::Clear,
                    false,
                );
                black_box(r.unwrap().written);
                at = (at + 1) % KEYS;
            }
        })
    });
    let counters: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("counter:{i:09}").into_bytes())
        .collect();
    g.bench_function("kevy_incr", |b| {
        b.iter(|| {
            let mut db = st.db(0);
            for _ in 0..BATCH {
                black_box(db.incr_by(&counters[at], 1).unwrap());
                at = (at + 1) % KEYS;
            }
        })
    });

    let mut map: HashMap<Vec<u8>, Vec<u8>> = (0..KEYS).map(|i| (key(i), b"xxx".to_vec())).collect();
    g.bench_function("std_hashmap_get_hit", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(map.get(&keys[at]).map(Vec::len));
                at = (at + 1) % KEYS;
            }
        })
    });
    g.bench_function("std_hashmap_set_overwrite", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(map.insert(keys[at].clone(), b"yyy".to_vec()).is_some());
                at = (at + 1) % KEYS;
            }
        })
    });
    g.finish();
}

criterion_group!(benches, store_ops);
criterion_main!(benches);
