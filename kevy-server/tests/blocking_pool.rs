//! A worker pool on one queue, as `blpopbench` drives it: workers on every
//! shard loop on BLPOP of one list while a producer pipelines LPUSH to
//! it, 16 at a time, so the queue's shard serves some workers from its own
//! connections and the others across the mesh, with the polling and
//! wake-up pacing a steady cross-shard stream brings. Workers hang up at
//! random moments (while blocked, or as an item is on its way); every
//! item is read by exactly one worker or left in the queue, on 2 and 3
//! shards.

mod common;

use common::resp::{command, Conn, ReadError, Value};
use common::Server;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QUEUE: &str = "pool-queue";

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

/// xorshift64*: a seed printed on failure repeats a worker's choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n
    }
}

/// How many times each item was read.
type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

/// Notes the item of a BLPOP reply (`[key, item]`; a timeout's null has
/// none).
fn note(seen: &Seen, v: &Value) {
    if let Some([_, item]) = v.items() {
        let item = String::from_utf8_lossy(item.bytes().expect("bulk")).into_owned();
        *seen.lock().unwrap().entry(item).or_default() += 1;
    }
}

/// One worker: connects, pops a few items, then either leaves politely
/// or sends one more BLPOP and hangs up a moment later, reading to the
/// end (it sees whatever was served before the server closed it); over
/// and over until `stop`.
fn worker(port: u16, seed: u64, stop: Arc<AtomicBool>, seen: Seen) {
    let mut rng = Rng(seed | 1);
    let blpop = command(&["BLPOP", QUEUE, "1"]);
    while !stop.load(Ordering::Relaxed) {
        let mut c = Conn::connect(port).expect("connect");
        let pops = rng.below(20);
        for i in 0..=pops {
            c.send(&blpop).expect("send");
            if i == pops && rng.below(2) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(2000)));
                c.shutdown_write();
                loop {
                    match c.read() {
                        Ok((v, _)) => note(&seen, &v),
                        Err(ReadError::Closed) => break,
                        Err(e) => panic!("worker {seed}: {e:?}"),
                    }
                }
                break;
            }
            let (v, _) = c.read().expect("reply");
            note(&seen, &v);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
}

fn pool(cores: usize, items: usize) {
    let s = Server::kevy(&["--cores", &cores.to_string()]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Seen = Arc::default();
    let seed0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Enough connections that the kernel puts some on every shard.
    let workers: Vec<_> = (0..24)
        .map(|i| {
            let (stop, seen) = (stop.clone(), seen.clone());
            let (port, seed) = (s.port, seed0.wrapping_add(i * 0x9e37_79b9));
            std::thread::spawn(move || worker(port, seed, stop, seen))
        })
        .collect();
    let mut p = Conn::connect(s.port).expect("connect");
    let mut rng = Rng(seed0 ^ 0x5555);
    let mut n = 0;
    while n < items {
        let batch = 16.min(items - n);
        let mut out = Vec::new();
        for _ in 0..batch {
            out.extend(command(&["LPUSH", QUEUE, &format!("i{n:06}")]));
            n += 1;
        }
        p.send(&out).expect("send");
        for _ in 0..batch {
            let (v, _) = p.read().expect("LPUSH reply");
            assert!(v.int().is_some(), "LPUSH answered {v:?}");
        }
        if rng.below(4) == 0 {
            std::thread::sleep(Duration::from_micros(rng.below(1000)));
        }
    }
    // The workers drain the queue, then stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&mut p, &["LLEN", QUEUE]).int() != Some(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    // An item served to a worker that hung up travels back to the queue
    // one hop after the last reply.
    let left = common::left_once_settled(&seen, items, || {
        call(&mut p, &["LRANGE", QUEUE, "0", "-1"])
            .items()
            .expect("array")
            .iter()
            .map(|v| String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned())
            .collect()
    });
    let seen = seen.lock().unwrap();
    common::assert_each_item_once(&seen, &left, items, seed0);
    eprintln!(
        "cores {cores}: {} read, {} left in the queue",
        seen.len(),
        left.len()
    );
}

#[test]
fn a_worker_pool_whose_workers_hang_up_reads_every_item_once_on_two_shards() {
    pool(2, 20_000);
}

#[test]
fn a_worker_pool_whose_workers_hang_up_reads_every_item_once_on_three_shards() {
    pool(3, 20_000);
}
