//! The cross-shard ring against crossbeam-channel's bounded channel (the
//! reference point): one producer thread, one consumer thread, a million
//! values each way.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kevy_rt::ring::{ring, Full};

const N: u64 = 1_000_000;

fn spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_1M");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("kevy_ring", |b| {
        b.iter(|| {
            let (mut p, mut q) = ring::<u64>(256);
            let t = std::thread::spawn(move || {
                let mut i = 0;
                while i < N {
                    match p.push(i) {
                        Ok(()) => i += 1,
                        Err(Full(_)) => std::thread::yield_now(),
                    }
                }
            });
            let mut got = 0;
            while got < N {
                if q.pop().is_some() {
                    got += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            t.join().unwrap();
        })
    });
    g.bench_function("crossbeam_bounded", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
            let t = std::thread::spawn(move || {
                for i in 0..N {
                    tx.send(i).unwrap();
                }
            });
            for _ in 0..N {
                rx.recv().unwrap();
            }
            t.join().unwrap();
        })
    });
    g.finish();
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_same_thread");
    g.throughput(Throughput::Elements(1));
    let (mut p, mut q) = ring::<u64>(256);
    g.bench_function("kevy_ring", |b| {
        b.iter(|| {
            p.push(std::hint::black_box(7)).ok();
            std::hint::black_box(q.pop())
        })
    });
    g.finish();
}

criterion_group!(benches, spsc, single_thread);
criterion_main!(benches);
