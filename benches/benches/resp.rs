//! The RESP hot path: parsing a pipeline of 16 commands (what one read of a
//! pipelining client holds) and encoding the commonest replies. Parsing
//! reports commands per second, encoding bytes per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kevy_resp::{Parse, Parser, Reply};

/// Commands per pipeline, as `redis-benchmark -P 16` sends them.
const PIPELINE: usize = 16;

fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// `PIPELINE` commands built by `cmd(i)`, encoded back to back.
fn pipeline(cmd: impl Fn(usize) -> Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..PIPELINE {
        let args = cmd(i);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in &args {
            bulk(&mut out, a);
        }
    }
    out
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{:06}", 123 + i).into_bytes()
}

/// Parses every command of `input`, touching each argument as a command
/// lookup would; returns the argument count so nothing is optimised away.
fn parse_all(p: &mut Parser, input: &[u8]) -> usize {
    let mut at = 0;
    let mut args = 0;
    while let Ok(Parse::Complete(n)) = p.parse(&input[at..]) {
        let a = p.args(&input[at..]);
        args += a.len() + a.get(0).len();
        at += n;
    }
    assert_eq!(at, input.len());
    args
}

fn parse(c: &mut Criterion) {
    let set = pipeline(|i| vec![b"SET".to_vec(), key(i), b"xyz".to_vec()]);
    let get = pipeline(|i| vec![b"GET".to_vec(), key(i)]);
    let mixed = pipeline(|i| {
        if i % 2 == 0 {
            vec![b"SET".to_vec(), key(i), b"xyz".to_vec()]
        } else {
            vec![b"GET".to_vec(), key(i)]
        }
    });
    let mut g = c.benchmark_group("resp_parse");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, input) in [
        ("set_x16", &set),
        ("get_x16", &get),
        ("set_get_x16", &mixed),
    ] {
        let mut p = Parser::new();
        g.bench_function(name, |b| b.iter(|| parse_all(&mut p, black_box(input))));
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp_encode");
    let value = [b'v'; 64];
    let mut out = Vec::with_capacity(4096);

    let mut measure = |name: &str, f: &dyn Fn(&mut Reply)| {
        out.clear();
        f(&mut Reply::new(&mut out, false));
        g.throughput(Throughput::Bytes(out.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                f(&mut Reply::new(&mut out, false));
                black_box(out.len())
            })
        });
    };
    measure("bulk_64", &|r| r.bulk(black_box(&value)));
    measure("int", &|r| r.int(black_box(1_234_567)));
    measure("array_10_bulks", &|r| {
        r.array(10);
        for i in 0..10 {
            r.bulk(black_box(&value[..i * 6]));
        }
    });
    g.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
