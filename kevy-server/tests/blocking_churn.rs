//! Blocked workers that come and go while a producer feeds their keys on
//! every shard: a waiter on another shard than its connection's is served
//! in one message, and what reaches a client that stopped waiting in the
//! meantime (it hung up, timed out) goes back to its key. Every pushed
//! item ends up read by exactly one worker or still in its key, elements
//! put back keep their order, and the append-only log replays to what the
//! server holds.

mod common;

use common::resp::{command, Conn, ReadError, Value};
use common::Server;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn strings(v: &Value) -> Vec<String> {
    v.items()
        .expect("array")
        .iter()
        .map(|i| String::from_utf8_lossy(i.bytes().expect("bulk")).into_owned())
        .collect()
}

/// xorshift64*: the runs differ, and a seed printed on failure repeats
/// the worker's choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n
    }
}

/// Two list keys on different shards of an `n`-shard server, and a sorted
/// set key.
fn keys(n: usize) -> (String, String, String) {
    let a = "churn-a".to_string();
    let sa = kevy_rt::shard_of(a.as_bytes(), n);
    let b = (0..)
        .map(|i| format!("churn-b{i}"))
        .find(|k| n == 1 || kevy_rt::shard_of(k.as_bytes(), n) != sa)
        .expect("a key of another shard");
    (a, b, "churn-z".into())
}

/// The items a blocking pop's reply carries: `[key, item]`,
/// `[key, [item…]]`, `[key, member, score]` or `[key, [[member, score]…]]`;
/// none for a timeout's null.
fn items_of(v: &Value) -> Vec<String> {
    let Some(parts) = v.items() else {
        return Vec::new();
    };
    let text = |v: &Value| String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned();
    match parts {
        [_, one] if one.bytes().is_some() => vec![text(one)],
        [_, many] => many
            .items()
            .expect("array")
            .iter()
            .map(|e| match e.items() {
                Some([m, _]) => text(m),
                _ => text(e),
            })
            .collect(),
        [_, m, _] => vec![text(m)],
        _ => panic!("unexpected reply {v:?}"),
    }
}

/// What every worker read, by item: each must be read once.
type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

fn note(seen: &Seen, v: &Value) {
    let mut s = seen.lock().unwrap();
    for i in items_of(v) {
        *s.entry(i).or_default() += 1;
    }
}

/// One worker: connects, pops with short timeouts a few times, then sends
/// one more pop and hangs up a moment later (shutting down its sending
/// side and reading to the end, so it sees anything served before the
/// server closed it), over and over until `stop`.
fn worker(port: u16, seed: u64, keys: (String, String, String), stop: Arc<AtomicBool>, seen: Seen) {
    let (a, b, z) = keys;
    let mut rng = Rng(seed | 1);
    while !stop.load(Ordering::Relaxed) {
        let mut c = conn(port);
        if rng.below(2) == 0 {
            call(&mut c, &["HELLO", "3"]);
        }
        let pops = rng.below(6);
        for i in 0..=pops {
            let t = ["0.01", "0.02", "0.05"][rng.below(3) as usize];
            let cmd: Vec<&str> = match rng.below(7) {
                0 => vec!["BLPOP", &a, t],
                1 => vec!["BRPOP", &b, t],
                2 => vec!["BLPOP", &a, &b, t],
                3 => vec!["BLMPOP", t, "1", &b, "LEFT", "COUNT", "2"],
                4 => vec!["BZPOPMIN", &z, t],
                5 => vec!["BZMPOP", t, "1", &z, "MAX", "COUNT", "2"],
                _ => vec!["BRPOP", &a, t],
            };
            c.send(&command(&cmd)).expect("send");
            if i == pops {
                // Hang up while blocked, or right as something is served.
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
                c.shutdown_write();
                loop {
                    match c.read() {
                        Ok((v, _)) => note(&seen, &v),
                        Err(ReadError::Closed) => break,
                        Err(e) => panic!("worker {seed}: {e:?}"),
                    }
                }
            } else {
                let (v, _) = c.read().expect("reply");
                note(&seen, &v);
            }
        }
    }
}

/// Runs workers and a producer against a server started with `args` on
/// `cores` shards (letting them drain the keys first when `drain`);
/// checks that every item was read at most once, and read or left in its
/// key exactly once.
fn churn(s: &Server, cores: usize, items: usize, drain: bool) {
    let ks = keys(cores);
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Seen = Arc::default();
    let seed0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let (ks, stop, seen) = (ks.clone(), stop.clone(), seen.clone());
            let (port, seed) = (s.port, seed0.wrapping_add(i * 0x9e37_79b9));
            std::thread::spawn(move || worker(port, seed, ks, stop, seen))
        })
        .collect();
    // Keyspace events count the pushes: the producer's, and each put-back.
    let mut p = conn(s.port);
    call(&mut p, &["CONFIG", "SET", "notify-keyspace-events", "Elz"]);
    let mut sub = conn(s.port);
    for ev in ["lpush", "rpush", "zadd"] {
        call(&mut sub, &["SUBSCRIBE", &format!("__keyevent@0__:{ev}")]);
    }
    let mut rng = Rng(seed0 ^ 0x5555);
    let mut n = 0;
    while n < items {
        // A few items at a time, so that workers mostly wait for them.
        let batch = (1 + rng.below(4) as usize).min(items - n);
        let mut out = Vec::new();
        for _ in 0..batch {
            let item = format!("i{n:06}");
            out.extend(match n % 3 {
                0 => command(&["LPUSH", &ks.0, &item]),
                1 => command(&["RPUSH", &ks.1, &item]),
                _ => command(&["ZADD", &ks.2, &n.to_string(), &item]),
            });
            n += 1;
        }
        p.send(&out).expect("send");
        for _ in 0..batch {
            p.read().expect("push reply");
        }
        std::thread::sleep(Duration::from_micros(200 + rng.below(800)));
    }
    // Let the workers drain the keys, then stop them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = |p: &mut Conn| {
        call(p, &["LLEN", &ks.0]).int().unwrap()
            + call(p, &["LLEN", &ks.1]).int().unwrap()
            + call(p, &["ZCARD", &ks.2]).int().unwrap()
    };
    while drain && left(&mut p) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    // Put-backs travel one hop after the last reply.
    let left = common::left_once_settled(&seen, items, || {
        let mut left = strings(&call(&mut p, &["LRANGE", &ks.0, "0", "-1"]));
        left.extend(strings(&call(&mut p, &["LRANGE", &ks.1, "0", "-1"])));
        left.extend(strings(&call(&mut p, &["ZRANGE", &ks.2, "0", "-1"])));
        left
    });
    call(&mut p, &["PUBLISH", "__keyevent@0__:lpush", "end"]);
    let mut pushes = 0;
    loop {
        let v = sub.read().expect("event").0;
        if v.items().and_then(|m| m.last()?.bytes()) == Some(b"end") {
            break;
        }
        pushes += 1;
    }
    let seen = seen.lock().unwrap();
    common::assert_each_item_once(&seen, &left, items, seed0);
    eprintln!(
        "cores {cores}: {} read, {} left in the keys, {} put back",
        seen.len(),
        left.len(),
        pushes - items
    );
}

#[test]
fn workers_that_come_and_go_read_every_item_once_or_leave_it() {
    for cores in [1, 2, 3] {
        let s = Server::kevy(&["--cores", &cores.to_string()]);
        churn(&s, cores, 3000, true);
        // Nothing is left parked or blocked.
        let mut c = conn(s.port);
        let info = call(&mut c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.bytes().unwrap()).into_owned();
        assert!(text.contains("blocked_clients:0"), "{text}");
    }
}

#[test]
fn the_log_replays_to_the_state_workers_left() {
    let dir = common::TempDir::new("blocking-churn-aof");
    let ks = keys(2);
    let dump = |c: &mut Conn| {
        [
            strings(&call(c, &["LRANGE", &ks.0, "0", "-1"])),
            strings(&call(c, &["LRANGE", &ks.1, "0", "-1"])),
            strings(&call(c, &["ZRANGE", &ks.2, "0", "-1", "WITHSCORES"])),
        ]
    };
    let live = {
        let s = common::kevy_logged(dir.path(), "2", &[]);
        churn(&s, 2, 1500, false);
        // Something to compare besides empty keys: what a late producer
        // leaves, through the same waiters' paths.
        let mut c = conn(s.port);
        for i in 0..5 {
            call(&mut c, &["RPUSH", &ks.0, &format!("tail{i}")]);
            call(&mut c, &["LPUSH", &ks.1, &format!("tail{i}")]);
            call(
                &mut c,
                &["ZADD", &ks.2, &i.to_string(), &format!("tail{i}")],
            );
        }
        let live = dump(&mut c);
        // Dropping the server kills it (SIGKILL).
        live
    };
    let s = common::kevy_logged(dir.path(), "2", &[]);
    let mut c = conn(s.port);
    assert_eq!(dump(&mut c), live, "replayed log");
}

#[test]
fn elements_served_to_clients_that_timed_out_meanwhile_go_back_in_order() {
    let s = Server::kevy(&["--cores", "2", "--enable-debug-command", "yes"]);
    let mut admin = conn(s.port);
    let (left_key, right_key, _) = keys(2);
    // Keyspace events count the pushes: the two RPUSH, and the put-backs.
    call(
        &mut admin,
        &["CONFIG", "SET", "notify-keyspace-events", "El"],
    );
    let mut sub = conn(s.port);
    for ev in ["lpush", "rpush"] {
        call(&mut sub, &["SUBSCRIBE", &format!("__keyevent@0__:{ev}")]);
    }
    let blocked = |c: &mut Conn| {
        let v = call(c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(v.bytes().unwrap()).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap()
    };
    // Waiters on both keys, in a known order, half of them in RESP3.
    let mut waiters = Vec::new();
    for i in 0..16 {
        let mut w = conn(s.port);
        if i % 4 < 2 {
            call(&mut w, &["HELLO", "3"]);
        }
        let cmd = if i % 2 == 0 {
            ["BLPOP", left_key.as_str(), "2"]
        } else {
            ["BRPOP", right_key.as_str(), "2"]
        };
        w.send(&command(&cmd)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while blocked(&mut admin) != i + 1 {
            assert!(Instant::now() < deadline, "waiter {i} never blocked");
            std::thread::sleep(Duration::from_millis(5));
        }
        waiters.push(w);
    }
    // One shard stops for longer than the waiters' timeout: its waiters
    // time out there before the elements served to them arrive. The push
    // comes from a connection of the other shard (one that answers PING
    // while the first sleeps), so the elements are served meanwhile.
    let mut pushers: Vec<Conn> = (0..6).map(|_| conn(s.port)).collect();
    let mut sleeper = conn(s.port);
    sleeper.send(&command(&["DEBUG", "SLEEP", "2.5"])).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for p in pushers.iter_mut() {
        p.send(&command(&["PING"])).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let awake = pushers.iter_mut().position(|p| {
        p.stream()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        p.read().is_ok()
    });
    let pusher = match awake {
        Some(i) => &mut pushers[i],
        None => &mut admin,
    };
    pusher
        .stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let items: Vec<String> = (0..8).map(|i| format!("e{i}")).collect();
    for k in [&left_key, &right_key] {
        let mut push = vec!["RPUSH", k.as_str()];
        push.extend(items.iter().map(String::as_str));
        call(pusher, &push);
    }
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut timed_out = 0;
    for w in waiters.iter_mut() {
        let v = w.read().expect("reply").0;
        match v.items() {
            Some([k, e]) => got
                .entry(String::from_utf8_lossy(k.bytes().unwrap()).into_owned())
                .or_default()
                .push(String::from_utf8_lossy(e.bytes().unwrap()).into_owned()),
            _ => timed_out += 1,
        }
    }
    sleeper.read().expect("DEBUG SLEEP");
    // Elements go back one hop after the sleeping shard wakes: wait until
    // every one is read or back (up to 10 s, for a loaded machine), then
    // 100 ms more for anything else on its way.
    let deadline = Instant::now() + Duration::from_secs(10);
    let complete = |admin: &mut Conn| {
        [&left_key, &right_key].iter().all(|k| {
            let mut all = got.get(k.as_str()).cloned().unwrap_or_default();
            all.extend(strings(&call(admin, &["LRANGE", k, "0", "-1"])));
            all.sort();
            all == items
        })
    };
    while !complete(&mut admin) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    for k in [&left_key, &right_key] {
        let left = strings(&call(&mut admin, &["LRANGE", k, "0", "-1"]));
        // What is left reads in the pushed order: elements put back went
        // to the end they came from, in their order.
        let mut sorted = left.clone();
        sorted.sort();
        assert_eq!(left, sorted, "{k}: order");
        let mut all = got.get(k.as_str()).cloned().unwrap_or_default();
        all.extend(left);
        all.sort();
        assert_eq!(all, items, "{k}: each element once");
    }
    call(&mut admin, &["PUBLISH", "__keyevent@0__:lpush", "end"]);
    let mut pushes = 0;
    while sub
        .read()
        .expect("event")
        .0
        .items()
        .and_then(|m| m.last()?.bytes())
        != Some(b"end")
    {
        pushes += 1;
    }
    eprintln!(
        "{timed_out} of 16 waiters timed out, {} put back",
        pushes - 2
    );
}
