//! Hot operations of the collection values (kevy-store's hash, list, set and
//! sorted set) in both their compact and big encodings, each batch of 1000
//! operations reported as 1000 elements. Reference points: std's `HashMap`
//! next to the big hash, std's `BTreeSet` next to the big sorted set, std's
//! `VecDeque` of boxed strings next to the list.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use kevy_store::hash::Hash;
use kevy_store::list::List;
use kevy_store::sample::Rng;
use kevy_store::set::Set;
use kevy_store::zset::{AddFlags, ZSet};

const OPS: usize = 1000;

fn names(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}:{i:06}").into_bytes())
        .collect()
}

/// `OPS` indices into a collection of `n`, in a fixed pseudo-random order.
fn picks(n: usize) -> Vec<usize> {
    let mut rng = Rng::new(42);
    (0..OPS).map(|_| rng.below(n)).collect()
}

fn hashes(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(OPS as u64));
    for n in [10usize, 10_000] {
        let fields = names("field", n);
        let mut h = Hash::new();
        for f in &fields {
            h.set(f, b"value:0000");
        }
        let enc = h.encoding_name();
        let idx = picks(n);
        g.bench_function(BenchmarkId::new(format!("hget/{enc}"), n), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(h.get(&fields[i]));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("hset_existing/{enc}"), n), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(h.set(&fields[i], b"value:1111"));
                }
            })
        });
        if n > 100 {
            let std: HashMap<Vec<u8>, Vec<u8>> = fields
                .iter()
                .map(|f| (f.clone(), b"value:0000".to_vec()))
                .collect();
            g.bench_function(BenchmarkId::new("hget/std_hashmap", n), |b| {
                b.iter(|| {
                    for &i in &idx {
                        black_box(std.get(&fields[i]));
                    }
                })
            });
        }
    }
    // Building many small hashes: the redis-benchmark HSET shape.
    let fields = names("f", 10);
    g.throughput(Throughput::Elements(10 * 100));
    g.bench_function("hset_new/100_hashes_of_10", |b| {
        b.iter(|| {
            let mut v: Vec<Hash> = (0..100).map(|_| Hash::new()).collect();
            for h in &mut v {
                for f in &fields {
                    h.set(f, b"value:0000");
                }
            }
            black_box(v)
        })
    });
    g.finish();
}

fn lists(c: &mut Criterion) {
    let mut g = c.benchmark_group("list");
    g.throughput(Throughput::Elements(OPS as u64));
    for n in [10usize, 100_000] {
        let mut l = List::new();
        for i in 0..n {
            l.push_back(format!("element:{i}").as_bytes());
        }
        let enc = l.encoding_name();
        g.bench_function(BenchmarkId::new(format!("lpush_lpop/{enc}"), n), |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    l.push_front(b"element:x");
                }
                for _ in 0..OPS {
                    black_box(l.pop_front_with(|v| v.len()));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("rpush_rpop/{enc}"), n), |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    l.push_back(b"element:x");
                }
                for _ in 0..OPS {
                    black_box(l.pop_back_with(|v| v.len()));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("lrange_0_99/{enc}"), n), |b| {
            b.iter(|| {
                for _ in 0..OPS / 100 {
                    black_box(l.range(0, 99).map(<[u8]>::len).sum::<usize>());
                }
            })
        });
    }
    let mut std: VecDeque<Box<[u8]>> = (0..100_000)
        .map(|i| format!("element:{i}").into_bytes().into())
        .collect();
    g.bench_function(
        BenchmarkId::new("lpush_lpop/std_vecdeque_box", 100_000),
        |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    std.push_front(b"element:x"[..].into());
                }
                for _ in 0..OPS {
                    black_box(std.pop_front().map(|v| v.len()));
                }
            })
        },
    );
    g.finish();
}

fn sets(c: &mut Criterion) {
    let mut g = c.benchmark_group("set");
    g.throughput(Throughput::Elements(OPS as u64));
    let cases: [(&str, Vec<Vec<u8>>); 3] = [
        (
            "ints_100",
            (0..100).map(|i: u32| i.to_string().into_bytes()).collect(),
        ),
        ("words_100", names("member", 100)),
        ("words_10000", names("member", 10_000)),
    ];
    for (label, members) in &cases {
        let mut s = Set::new();
        for m in members {
            s.insert(m);
        }
        let enc = s.encoding_name();
        let idx = picks(members.len());
        g.bench_function(BenchmarkId::new(format!("sismember/{enc}"), label), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(s.contains(&members[i]));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("sadd_srem/{enc}"), label), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(s.remove(&members[i]));
                    black_box(s.insert(&members[i]));
                }
            })
        });
    }
    g.finish();
}

fn zsets(c: &mut Criterion) {
    let mut g = c.benchmark_group("zset");
    g.throughput(Throughput::Elements(OPS as u64));
    for n in [100usize, 100_000] {
        let members = names("member", n);
        let mut rng = Rng::new(7);
        let mut z = ZSet::new();
        for m in &members {
            z.add(m, rng.below(1_000_000) as f64, AddFlags::default())
                .unwrap();
        }
        let enc = z.encoding_name();
        let idx = picks(n);
        g.bench_function(BenchmarkId::new(format!("zscore/{enc}"), n), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(z.score(&members[i]));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("zadd_update/{enc}"), n), |b| {
            let mut rng = Rng::new(9);
            b.iter(|| {
                for &i in &idx {
                    black_box(
                        z.add(
                            &members[i],
                            rng.below(1_000_000) as f64,
                            AddFlags::default(),
                        )
                        .unwrap(),
                    );
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("zrank/{enc}"), n), |b| {
            b.iter(|| {
                for &i in &idx {
                    black_box(z.rank(&members[i], false));
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("zrange_rank_10/{enc}"), n), |b| {
            b.iter(|| {
                for &i in &idx {
                    let mut sum = 0.0;
                    z.range_by_rank(i as i64, i as i64 + 9, false, |_, s| sum += s);
                    black_box(sum);
                }
            })
        });
        g.bench_function(BenchmarkId::new(format!("zpopmin/{enc}"), n), |b| {
            b.iter_batched(
                || z.clone(),
                |mut z| {
                    for _ in 0..OPS.min(n) {
                        black_box(z.pop_min(1));
                    }
                    z
                },
                BatchSize::LargeInput,
            )
        });
        if n > 1000 {
            let mut std: BTreeSet<(u64, Vec<u8>)> = BTreeSet::new();
            let mut rng = Rng::new(7);
            let mut cur: Vec<u64> = Vec::with_capacity(n);
            for m in &members {
                let s = rng.below(1_000_000) as u64;
                cur.push(s);
                std.insert((s, m.clone()));
            }
            g.bench_function(BenchmarkId::new("zadd_update/std_btreeset", n), |b| {
                let mut rng = Rng::new(9);
                b.iter(|| {
                    for &i in &idx {
                        let s = rng.below(1_000_000) as u64;
                        let m = std
                            .take(&(cur[i], members[i].clone()))
                            .map(|(_, m)| m)
                            .unwrap();
                        std.insert((s, m));
                        cur[i] = s;
                    }
                })
            });
        }
    }
    // Building: the redis-benchmark ZADD shape (fresh members, random scores).
    g.bench_function("zadd_new/1000_into_empty", |b| {
        let members = names("member", 100_000);
        b.iter_batched(
            ZSet::new,
            |mut z| {
                let mut rng = Rng::new(5);
                for m in &members[..OPS] {
                    z.add(m, rng.below(1_000_000) as f64, AddFlags::default())
                        .unwrap();
                }
                z
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hashes, lists, sets, zsets);
criterion_main!(benches);
