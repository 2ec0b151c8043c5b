//! Concurrency tests of transactions and cross-shard multi-key commands over
//! real sockets: many clients hammer a kevy-server while others check an
//! invariant that only holds if every MULTI/EXEC block, WATCH and multi-key
//! command is atomic across shards.
//!
//! Every scenario runs twice: with `--cores 2` (two shards) and with
//! `--cores 2 --shards 5` (more shards than cores, so several shards share a
//! thread). Keys are picked so they land on every shard in both layouts.
//!
//! The tests are bounded by iteration counts, never by time, and assert no
//! timings: a stalled server shows up as a client read timeout.
//!
//! `KEVY_ATOMICITY_AGAINST_REDIS=1` runs every test against a real
//! redis-server instead, which must pass them all.

mod common;

use common::Server;
use redis::{Commands, Connection};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// Generates one test per server layout for the scenario function `$name`.
macro_rules! both_layouts {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn cores_2() {
                super::$name(&super::Layout::TWO_SHARDS);
            }

            #[test]
            fn cores_2_shards_5() {
                super::$name(&super::Layout::FIVE_SHARDS);
            }
        }
    )*};
}

both_layouts!(
    bank_transfers_keep_the_total,
    watch_cas_increments_lose_nothing,
    watch_cas_across_shards_lose_nothing,
    mset_is_all_or_nothing_to_mget,
    sort_patterns_read_one_moment,
    rename_never_shows_both_or_neither,
    moves_between_shards_conserve_elements,
    plain_traffic_runs_beside_transactions,
    disconnects_mid_transaction_harm_nobody,
    watch_sees_other_clients_writes,
    keyspace_reads_are_snapshots,
    pipelined_transactions_keep_connection_order,
    hot_keys_pipelined_by_many_clients_stay_atomic_and_ordered,
);

// ---------------------------------------------------------------------------
// Harness

struct Layout {
    args: &'static [&'static str],
    shards: usize,
}

impl Layout {
    const TWO_SHARDS: Layout = Layout {
        args: &["--cores", "2"],
        shards: 2,
    };
    const FIVE_SHARDS: Layout = Layout {
        args: &["--cores", "2", "--shards", "5"],
        shards: 5,
    };

    /// Starts kevy-server in this layout; with `KEVY_ATOMICITY_AGAINST_REDIS=1`
    /// a redis-server instead, to check that the tests themselves are right.
    fn start(&self) -> Server {
        if std::env::var("KEVY_ATOMICITY_AGAINST_REDIS").is_ok_and(|v| v == "1") {
            return Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
        }
        Server::kevy(self.args)
    }
}

/// How long one reply may take before the client gives up: a deadlocked or
/// stalled server fails the test through this, not through a timing check.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn client(port: u16) -> Connection {
    common::connect(port, IO_TIMEOUT)
}

/// The Redis Cluster hash slot of a key (CRC16/XMODEM mod 16384, honouring
/// `{hash tags}`); kevy places a key on shard `slot % shards`.
fn slot(key: &str) -> usize {
    let mut k = key.as_bytes();
    if let Some(open) = k.iter().position(|&b| b == b'{') {
        if let Some(len) = k[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                k = &k[open + 1..open + 1 + len];
            }
        }
    }
    let mut crc: u16 = 0;
    for &b in k {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    usize::from(crc) % 16384
}

/// `n` keys `prefix0`, `prefix1`, … whose slots are spread evenly mod 10:
/// any 10 of them cover every shard with 2 and with 5 shards.
fn spread_keys(prefix: &str, n: usize) -> Vec<String> {
    let per_residue = n.div_ceil(10);
    let mut taken = [0usize; 10];
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        let key = format!("{prefix}{i}");
        let r = slot(&key) % 10;
        if taken[r] < per_residue {
            taken[r] += 1;
            out.push(key);
        }
        i += 1;
    }
    out
}

/// A key named `prefix…` whose shard differs from `other`'s in `layout`.
fn key_off_shard(prefix: &str, other: &str, layout: &Layout) -> String {
    let shard = |k: &str| slot(k) % layout.shards;
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard(k) != shard(other))
        .unwrap()
}

/// Asserts that `keys` land on every shard of `layout`.
fn assert_covers_shards(keys: &[String], layout: &Layout) {
    let mut seen = vec![false; layout.shards];
    for k in keys {
        seen[slot(k) % layout.shards] = true;
    }
    assert!(
        seen.iter().all(|&s| s),
        "test bug: {keys:?} do not cover all {} shards",
        layout.shards
    );
}

/// A small deterministic PRNG (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Joins every handle, then re-raises the first panic (so one failing
/// thread does not hide behind another's timeout).
fn join_all<T>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    let mut panic = None;
    for h in handles {
        match h.join() {
            Ok(v) => out.push(v),
            Err(e) => {
                if panic.is_none() {
                    panic = Some(e);
                }
            }
        }
    }
    if let Some(e) = panic {
        std::panic::resume_unwind(e);
    }
    out
}

/// Stops readers once the writers are done, or when any thread failed.
struct Stop {
    flag: AtomicBool,
}

impl Stop {
    fn new() -> Arc<Stop> {
        Arc::new(Stop {
            flag: AtomicBool::new(false),
        })
    }

    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Whether a reader that has done `reads` reads goes on: at least
    /// `MIN_READS` (so a late-scheduled reader still checks something),
    /// then until the writers are done, at most `MAX_READS`.
    fn keep_reading(&self, reads: usize) -> bool {
        reads < MIN_READS || (!self.is_set() && reads < MAX_READS)
    }
}

/// Sets the stop flag when dropped, so a panicking writer releases readers.
struct StopOnDrop(Arc<Stop>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Reader threads give up after this many reads even if writers never
/// finish (a hung writer then fails through its own read timeout).
const MAX_READS: usize = 200_000;
const MIN_READS: usize = 20;

fn assert_server_alive(server: &mut Server) {
    assert!(
        server.exited().is_none(),
        "{} exited; output:\n{}",
        server.name,
        server.output()
    );
    let mut con = client(server.port);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

// ---------------------------------------------------------------------------
// a) Bank transfers: MULTI; DECRBY a x; INCRBY b x; EXEC between accounts on
// different shards, while readers check that every MGET (and every MULTI of
// GETs) sums to the initial total.

const ACCOUNTS: usize = 10;
const BALANCE: i64 = 1000;
const TRANSFER_WRITERS: usize = 5;
const TRANSFERS_EACH: usize = 300;

fn bank_transfers_keep_the_total(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let accounts = spread_keys("acct:", ACCOUNTS);
    assert_covers_shards(&accounts, layout);
    let total = BALANCE * ACCOUNTS as i64;

    let mut con = client(port);
    let mut mset = redis::cmd("MSET");
    for a in &accounts {
        mset.arg(a).arg(BALANCE);
    }
    let () = mset.query(&mut con).unwrap();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(TRANSFER_WRITERS + 3));
    let mut readers = Vec::new();
    // Two MGET readers and one reader that reads through MULTI/EXEC.
    for r in 0..3 {
        let (accounts, stop, start) = (accounts.clone(), stop.clone(), start.clone());
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) {
                let values: Vec<Option<i64>> = if r < 2 {
                    con.mget(&accounts).unwrap()
                } else {
                    let mut p = redis::pipe();
                    p.atomic();
                    for a in &accounts {
                        p.get(a);
                    }
                    p.query(&mut con).unwrap()
                };
                let sum: i64 = values.iter().map(|v| v.expect("an account vanished")).sum();
                assert_eq!(
                    sum, total,
                    "reader {r} (read #{reads}) saw a torn transfer: {values:?}"
                );
                reads += 1;
            }
            reads
        }));
    }
    let mut writers = Vec::new();
    for w in 0..TRANSFER_WRITERS {
        let (accounts, stop, start) = (accounts.clone(), stop.clone(), start.clone());
        writers.push(thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            let mut rng = Rng::new(w as u64 + 1);
            start.wait();
            for _ in 0..TRANSFERS_EACH {
                let a = rng.below(ACCOUNTS);
                let b = (a + 1 + rng.below(ACCOUNTS - 1)) % ACCOUNTS;
                let x = 1 + rng.below(50) as i64;
                // EXEC's reply: the two new balances.
                let _: (i64, i64) = redis::pipe()
                    .atomic()
                    .cmd("DECRBY")
                    .arg(&accounts[a])
                    .arg(x)
                    .cmd("INCRBY")
                    .arg(&accounts[b])
                    .arg(x)
                    .query(&mut con)
                    .unwrap();
            }
        }));
    }
    join_all(writers);
    stop.set();
    join_all(readers);

    let values: Vec<i64> = con.mget(&accounts).unwrap();
    assert_eq!(
        values.iter().sum::<i64>(),
        total,
        "final balances {values:?}"
    );
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// b) WATCH-based compare-and-set: a lost update (two transactions that read
// the same value both committing) breaks the final count.

const CAS_THREADS: usize = 4;
const CAS_ATTEMPTS: usize = 250;

/// One WATCH/GET/MULTI/SET/EXEC attempt; the value written on success.
fn cas_increment(con: &mut Connection, counter: &str, also: Option<&str>) -> Option<i64> {
    let () = redis::cmd("WATCH").arg(counter).query(con).unwrap();
    let v: Option<i64> = con.get(counter).unwrap();
    let next = v.unwrap_or(0) + 1;
    let mut p = redis::pipe();
    p.atomic().set(counter, next).ignore();
    if let Some(k) = also {
        p.set(k, next).ignore();
    }
    let done: Option<()> = p.query(con).unwrap();
    done.map(|()| next)
}

fn watch_cas_increments_lose_nothing(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let counter = "cas:counter";
    let start = Arc::new(Barrier::new(CAS_THREADS));
    let handles = (0..CAS_THREADS)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                let mut con = client(port);
                start.wait();
                (0..CAS_ATTEMPTS)
                    .filter_map(|_| cas_increment(&mut con, counter, None))
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let written: Vec<Vec<i64>> = join_all(handles);
    check_cas_history(&written, "single-shard counter");
    eprintln!(
        "single-shard CAS: {} of {} attempts committed",
        written.iter().map(Vec::len).sum::<usize>(),
        CAS_THREADS * CAS_ATTEMPTS
    );

    let mut con = client(port);
    let successes: usize = written.iter().map(Vec::len).sum();
    let final_value: i64 = con.get(counter).unwrap();
    assert_eq!(final_value, successes as i64, "lost updates on {counter}");
    // Uncontended, a CAS must succeed.
    assert_eq!(
        cas_increment(&mut con, counter, None),
        Some(final_value + 1),
        "an uncontended WATCH/MULTI/EXEC failed"
    );
    assert_server_alive(&mut server);
}

/// Every successful increment wrote a distinct value, and together they
/// are exactly 1..=successes.
fn check_cas_history(written: &[Vec<i64>], what: &str) {
    let mut all: Vec<i64> = written.iter().flatten().copied().collect();
    assert!(!all.is_empty(), "{what}: no transaction ever succeeded");
    all.sort_unstable();
    for (i, v) in all.iter().enumerate() {
        assert_eq!(
            *v,
            i as i64 + 1,
            "{what}: successful increments wrote {all:?}: a duplicate is a lost update"
        );
    }
}

/// Like the single-shard CAS, but WATCHes two counters on different shards
/// and also writes a per-thread key on yet another shard in every EXEC.
fn watch_cas_across_shards_lose_nothing(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let ca = "cas:a".to_string();
    let cb = key_off_shard("cas:b", &ca, layout);
    let others: Vec<String> = (0..CAS_THREADS)
        .map(|t| key_off_shard(&format!("cas:other:{t}:"), &ca, layout))
        .collect();
    let start = Arc::new(Barrier::new(CAS_THREADS));
    let handles = (0..CAS_THREADS)
        .map(|t| {
            let (ca, cb, other, start) = (ca.clone(), cb.clone(), others[t].clone(), start.clone());
            thread::spawn(move || {
                let mut con = client(port);
                start.wait();
                let mut written = Vec::new();
                for _ in 0..CAS_ATTEMPTS {
                    let () = redis::cmd("WATCH")
                        .arg(&ca)
                        .arg(&cb)
                        .query(&mut con)
                        .unwrap();
                    let (a, b): (Option<i64>, Option<i64>) = redis::cmd("MGET")
                        .arg(&ca)
                        .arg(&cb)
                        .query(&mut con)
                        .unwrap();
                    let (a, b) = (a.unwrap_or(0), b.unwrap_or(0));
                    let done: Option<()> = redis::pipe()
                        .atomic()
                        .set(&ca, a + 1)
                        .ignore()
                        .set(&cb, b + 1)
                        .ignore()
                        .set(&other, a + 1)
                        .ignore()
                        .query(&mut con)
                        .unwrap();
                    if done.is_some() {
                        assert_eq!(
                            a, b,
                            "thread {t}: MGET of two counters always written together"
                        );
                        written.push(a + 1);
                    }
                }
                written
            })
        })
        .collect();
    let written: Vec<Vec<i64>> = join_all(handles);
    check_cas_history(&written, "two-shard counters");
    eprintln!(
        "two-shard CAS: {} of {} attempts committed",
        written.iter().map(Vec::len).sum::<usize>(),
        CAS_THREADS * CAS_ATTEMPTS
    );

    let mut con = client(port);
    let successes = written.iter().map(Vec::len).sum::<usize>() as i64;
    let (a, b): (i64, i64) = redis::cmd("MGET")
        .arg(&ca)
        .arg(&cb)
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (successes, successes), "lost updates on {ca}/{cb}");
    let mut last_of_any = 0;
    for (t, w) in written.iter().enumerate() {
        let v: Option<i64> = con.get(&others[t]).unwrap();
        assert_eq!(
            v,
            w.last().copied(),
            "thread {t}'s own key does not hold its last committed value"
        );
        last_of_any = last_of_any.max(v.unwrap_or(0));
    }
    assert_eq!(
        last_of_any, successes,
        "the last commit's third key is missing"
    );
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// c) MSET over several shards is all-or-nothing to a concurrent MGET, and so
// is a MULTI block of SETs.

const MSET_ROUNDS: i64 = 1500;

fn mset_is_all_or_nothing_to_mget(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let keys = spread_keys("mset:", 10);
    assert_covers_shards(&keys, layout);
    let mut con = client(port);
    let () = redis::cmd("MSET")
        .arg(
            keys.iter()
                .flat_map(|k| [k.as_str(), "0"])
                .collect::<Vec<_>>(),
        )
        .query(&mut con)
        .unwrap();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(4));
    let mut writers = Vec::new();
    // Writer 0: MSET with 1, 2, 3…; writer 1: MULTI of SETs with -1, -2, …
    for w in 0..2 {
        let (keys, stop, start) = (keys.clone(), stop.clone(), start.clone());
        writers.push(thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            start.wait();
            for i in 1..=MSET_ROUNDS {
                if w == 0 {
                    let mut c = redis::cmd("MSET");
                    for k in &keys {
                        c.arg(k).arg(i);
                    }
                    let () = c.query(&mut con).unwrap();
                } else {
                    let mut p = redis::pipe();
                    p.atomic();
                    for k in &keys {
                        p.set(k, -i).ignore();
                    }
                    let () = p.query(&mut con).unwrap();
                }
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2 {
        let (keys, stop, start) = (keys.clone(), stop.clone(), start.clone());
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) {
                let values: Vec<i64> = con.mget(&keys).unwrap();
                assert!(
                    values.iter().all(|v| *v == values[0]),
                    "reader {r} saw a partial MSET / MULTI: {values:?}"
                );
                reads += 1;
            }
            reads
        }));
    }
    join_all(writers);
    stop.set();
    join_all(readers);

    let values: Vec<i64> = con.mget(&keys).unwrap();
    assert!(values.iter().all(|v| *v == values[0]), "final {values:?}");
    assert!(values[0] == MSET_ROUNDS || values[0] == -MSET_ROUNDS);
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// c2) SORT … BY / GET patterns read keys on every shard at one moment:
// writers set every weight and name key to one round's value with one MSET
// (or one MULTI), while readers SORT by those keys and GET them, storing
// the result on yet another shard; every value SORT read, and every value
// of a stored list, comes from one round.

const SORT_ROUNDS: i64 = 300;
const SORT_READS: usize = 200;

fn sort_patterns_read_one_moment(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    // Elements whose weight keys (`sw:<e>`) cover every shard.
    let weights = spread_keys("sw:", 10);
    assert_covers_shards(&weights, layout);
    let elems: Vec<String> = weights
        .iter()
        .map(|k| k["sw:".len()..].to_string())
        .collect();
    let pattern_keys: Vec<String> = elems
        .iter()
        .flat_map(|e| [format!("sw:{e}"), format!("sn:{e}")])
        .collect();
    let mut con = client(port);
    let _: usize = con.rpush("sort:ids", &elems).unwrap();
    let () = redis::cmd("MSET")
        .arg(
            pattern_keys
                .iter()
                .flat_map(|k| [k.as_str(), "0"])
                .collect::<Vec<_>>(),
        )
        .query(&mut con)
        .unwrap();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(5));
    let mut writers = Vec::new();
    // Writer 0: MSET with 1, 2, 3…; writer 1: MULTI of SETs with -1, -2, …
    for w in 0..2 {
        let (keys, stop, start) = (pattern_keys.clone(), stop.clone(), start.clone());
        writers.push(thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            start.wait();
            for i in 1..=SORT_ROUNDS {
                if w == 0 {
                    let mut c = redis::cmd("MSET");
                    for k in &keys {
                        c.arg(k).arg(i);
                    }
                    let () = c.query(&mut con).unwrap();
                } else {
                    let mut p = redis::pipe();
                    p.atomic();
                    for k in &keys {
                        p.set(k, -i).ignore();
                    }
                    let () = p.query(&mut con).unwrap();
                }
            }
        }));
    }
    let one_round = |values: &[String], what: &str| {
        assert_eq!(values.len(), 2 * 10, "{what}: {values:?}");
        assert!(
            values.iter().all(|v| *v == values[0]),
            "{what} saw a partial MSET / MULTI: {values:?}"
        );
    };
    let mut readers = Vec::new();
    for r in 0..3 {
        let (stop, start) = (stop.clone(), start.clone());
        let dst = key_off_shard(&format!("sort:dst{r}:"), "sort:ids", layout);
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) && reads < SORT_READS {
                match r {
                    0 => {
                        let got: Vec<String> = redis::cmd("SORT_RO")
                            .arg("sort:ids")
                            .arg(&["BY", "sw:*", "GET", "sw:*", "GET", "sn:*"])
                            .query(&mut con)
                            .unwrap();
                        one_round(&got, "SORT_RO");
                    }
                    _ => {
                        let n: usize = redis::cmd("SORT")
                            .arg("sort:ids")
                            .arg(&["BY", "sn:*", "DESC", "GET", "sn:*", "GET", "sw:*"])
                            .arg("STORE")
                            .arg(&dst)
                            .query(&mut con)
                            .unwrap();
                        assert_eq!(n, 20);
                        let stored: Vec<String> = con.lrange(&dst, 0, -1).unwrap();
                        one_round(&stored, "SORT … STORE");
                    }
                }
                reads += 1;
            }
            reads
        }));
    }
    join_all(writers);
    stop.set();
    join_all(readers);
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// d) RENAME between shards: the value is always under exactly one name.

const RENAMES: usize = 1500;

fn rename_never_shows_both_or_neither(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let a = "ren:a".to_string();
    let b = key_off_shard("ren:b", &a, layout);
    let mut con = client(port);
    let () = con.set(&a, "payload").unwrap();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(4));
    let writer = {
        let (a, b, stop, start) = (a.clone(), b.clone(), stop.clone(), start.clone());
        thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            start.wait();
            for i in 0..RENAMES {
                let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let () = redis::cmd("RENAME")
                    .arg(from)
                    .arg(to)
                    .query(&mut con)
                    .unwrap_or_else(|e| panic!("RENAME {from} {to} (#{i}): {e}"));
            }
        })
    };
    let mut readers = Vec::new();
    for r in 0..3 {
        let (a, b, stop, start) = (a.clone(), b.clone(), stop.clone(), start.clone());
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) {
                match r {
                    0 => {
                        let n: i64 = redis::cmd("EXISTS")
                            .arg(&a)
                            .arg(&b)
                            .query(&mut con)
                            .unwrap();
                        assert_eq!(n, 1, "EXISTS {a} {b} during RENAME");
                    }
                    1 => {
                        let v: Vec<Option<String>> = con.mget(&[&a, &b]).unwrap();
                        let present: Vec<&String> = v.iter().flatten().collect();
                        assert_eq!(present, ["payload"], "MGET {a} {b} during RENAME: {v:?}");
                    }
                    _ => {
                        let (x, y): (i64, i64) = redis::pipe()
                            .atomic()
                            .exists(&a)
                            .exists(&b)
                            .query(&mut con)
                            .unwrap();
                        assert_eq!(x + y, 1, "MULTI EXISTS {a}; EXISTS {b}: {x} {y}");
                    }
                }
                reads += 1;
            }
            reads
        }));
    }
    join_all(vec![writer]);
    stop.set();
    join_all(readers);

    // RENAMES is even: the value is back under `a`.
    let v: Vec<Option<String>> = con.mget(&[&a, &b]).unwrap();
    assert_eq!(v, [Some("payload".to_string()), None]);
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// SMOVE / LMOVE between shards never lose or duplicate an element, as seen
// by a MULTI that counts both sides.

const MOVE_ELEMENTS: usize = 20;
const MOVES_EACH: usize = 600;

fn moves_between_shards_conserve_elements(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let la = "mv:list:a".to_string();
    let lb = key_off_shard("mv:list:b", &la, layout);
    let sa = "mv:set:a".to_string();
    let sb = key_off_shard("mv:set:b", &sa, layout);
    let mut con = client(port);
    let members: Vec<String> = (0..MOVE_ELEMENTS).map(|i| format!("m{i}")).collect();
    let _: i64 = con.rpush(&la, &members).unwrap();
    let _: i64 = con.sadd(&sa, &members).unwrap();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(4));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (la, lb, sa, sb, stop, start) = (
            la.clone(),
            lb.clone(),
            sa.clone(),
            sb.clone(),
            stop.clone(),
            start.clone(),
        );
        writers.push(thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            let mut rng = Rng::new(100 + w as u64);
            start.wait();
            for _ in 0..MOVES_EACH {
                let (from, to) = if rng.below(2) == 0 {
                    (&la, &lb)
                } else {
                    (&lb, &la)
                };
                let _: Option<String> = redis::cmd("LMOVE")
                    .arg(from)
                    .arg(to)
                    .arg("LEFT")
                    .arg("RIGHT")
                    .query(&mut con)
                    .unwrap();
                let (from, to) = if rng.below(2) == 0 {
                    (&sa, &sb)
                } else {
                    (&sb, &sa)
                };
                let m = format!("m{}", rng.below(MOVE_ELEMENTS));
                let _: i64 = con.smove(from, to, &m).unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (la, lb, sa, sb, stop, start) = (
            la.clone(),
            lb.clone(),
            sa.clone(),
            sb.clone(),
            stop.clone(),
            start.clone(),
        );
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) {
                let (l1, l2, s1, s2): (usize, usize, usize, usize) = redis::pipe()
                    .atomic()
                    .llen(&la)
                    .llen(&lb)
                    .scard(&sa)
                    .scard(&sb)
                    .query(&mut con)
                    .unwrap();
                assert_eq!(l1 + l2, MOVE_ELEMENTS, "LMOVE lost/duplicated: {l1} + {l2}");
                assert_eq!(s1 + s2, MOVE_ELEMENTS, "SMOVE lost/duplicated: {s1} + {s2}");
                reads += 1;
            }
            reads
        }));
    }
    join_all(writers);
    stop.set();
    join_all(readers);

    let mut in_lists: Vec<String> = con.lrange(&la, 0, -1).unwrap();
    in_lists.extend(con.lrange::<_, Vec<String>>(&lb, 0, -1).unwrap());
    in_lists.sort();
    let mut in_sets: Vec<String> = con.sunion(&[&sa, &sb]).unwrap();
    in_sets.sort();
    let inter: Vec<String> = con.sinter(&[&sa, &sb]).unwrap();
    let mut expected = members.clone();
    expected.sort();
    assert_eq!(in_lists, expected, "lists after the moves");
    assert_eq!(in_sets, expected, "sets after the moves");
    assert!(inter.is_empty(), "a member is in both sets: {inter:?}");
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// Whole-keyspace reads inside MULTI (DBSIZE, KEYS, EXISTS of every key) see
// a cross-shard MSET, DEL or FLUSHALL-in-MULTI entirely or not at all.

const SNAPSHOT_ROUNDS: usize = 600;

fn keyspace_reads_are_snapshots(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let keys = spread_keys("snap:", 10);
    assert_covers_shards(&keys, layout);
    let n = keys.len();

    let stop = Stop::new();
    let start = Arc::new(Barrier::new(4));
    let writer = {
        let (keys, stop, start) = (keys.clone(), stop.clone(), start.clone());
        thread::spawn(move || {
            let _release = StopOnDrop(stop);
            let mut con = client(port);
            start.wait();
            for i in 0..SNAPSHOT_ROUNDS {
                if i % 2 == 0 {
                    let () = redis::cmd("MSET")
                        .arg(
                            keys.iter()
                                .flat_map(|k| [k.as_str(), "v"])
                                .collect::<Vec<_>>(),
                        )
                        .query(&mut con)
                        .unwrap();
                } else {
                    // The flusher may have emptied the keyspace first.
                    let d: usize = con.del(&keys).unwrap();
                    assert!(d == 0 || d == keys.len(), "DEL deleted {d} keys");
                }
            }
        })
    };
    // FLUSHALL, inside MULTI and on its own, is atomic too.
    let flusher = {
        let (stop, start) = (stop.clone(), start.clone());
        thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut flushes = 0;
            while !stop.is_set() && flushes < SNAPSHOT_ROUNDS / 4 {
                if flushes % 2 == 0 {
                    let () = redis::pipe()
                        .atomic()
                        .cmd("FLUSHALL")
                        .ignore()
                        .query(&mut con)
                        .unwrap();
                } else {
                    let () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
                }
                flushes += 1;
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (keys, stop, start) = (keys.clone(), stop.clone(), start.clone());
        readers.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut reads = 0;
            while stop.keep_reading(reads) {
                let (size, all, exists): (usize, Vec<String>, usize) = redis::pipe()
                    .atomic()
                    .cmd("DBSIZE")
                    .cmd("KEYS")
                    .arg("*")
                    .cmd("EXISTS")
                    .arg(&keys)
                    .query(&mut con)
                    .unwrap();
                assert!(size == 0 || size == n, "DBSIZE {size} inside MULTI");
                assert_eq!(all.len(), size, "KEYS {all:?} vs DBSIZE {size}");
                assert_eq!(exists, size, "EXISTS vs DBSIZE {size}");
                // Each on its own sees one moment too.
                let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
                assert!(size == 0 || size == n, "DBSIZE {size}");
                let all: Vec<String> = redis::cmd("KEYS").arg("snap:*").query(&mut con).unwrap();
                assert!(all.is_empty() || all.len() == n, "KEYS {all:?}");
                let exists: usize = con.exists(&keys).unwrap();
                assert!(exists == 0 || exists == n, "EXISTS {exists}");
                reads += 1;
            }
        }));
    }
    join_all(vec![writer]);
    stop.set();
    join_all(vec![flusher]);
    join_all(readers);
    let mut con = client(port);
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0, "{SNAPSHOT_ROUNDS} is even: the last round deleted");
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// e) Unrelated single-key traffic keeps being served while cross-shard
// transactions over every shard run.

const TXN_ROUNDS: usize = 300;
const PLAIN_OPS: usize = 1500;

fn plain_traffic_runs_beside_transactions(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let txn_keys = spread_keys("txn:", 10);
    assert_covers_shards(&txn_keys, layout);

    let start = Arc::new(Barrier::new(5));
    let mut handles = Vec::new();
    for w in 0..2 {
        let (keys, start) = (txn_keys.clone(), start.clone());
        handles.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            for i in 0..TXN_ROUNDS {
                // WATCH every key, then a block touching every shard.
                let () = redis::cmd("WATCH").arg(&keys).query(&mut con).unwrap();
                let mut p = redis::pipe();
                p.atomic();
                for k in &keys {
                    p.incr(k, 1).ignore();
                }
                p.cmd("MGET").arg(&keys).ignore();
                p.set(&keys[i % keys.len()], format!("{w}")).ignore();
                p.del(&keys[(i + 1) % keys.len()]).ignore();
                let _: Option<()> = p.query(&mut con).unwrap();
            }
        }));
    }
    let plain_done = Arc::new(AtomicU64::new(0));
    for c in 0..3 {
        let (start, plain_done) = (start.clone(), plain_done.clone());
        handles.push(thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let keys = spread_keys(&format!("plain:{c}:"), 10);
            for i in 0..PLAIN_OPS {
                let k = &keys[i % keys.len()];
                let () = con.set(k, i).unwrap();
                let v: usize = con.get(k).unwrap();
                assert_eq!(v, i, "plain client {c}: GET {k} after SET");
                let n: i64 = con.incr(format!("plain:{c}:count"), 1).unwrap();
                assert_eq!(n, i as i64 + 1);
            }
            plain_done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    join_all(handles);
    assert_eq!(plain_done.load(Ordering::SeqCst), 3);
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// WATCH with a second client, step by step (no concurrency): what the
// differential cases cannot do with their one connection per case.

/// EXEC of a block that reads `key`: `None` when a WATCHed key changed.
fn exec_get(con: &mut Connection, key: &str) -> Option<Option<String>> {
    let r: Option<(Option<String>,)> = redis::pipe().atomic().get(key).query(con).unwrap();
    r.map(|(v,)| v)
}

fn watch(con: &mut Connection, keys: &[&str]) {
    let () = redis::cmd("WATCH").arg(keys).query(con).unwrap();
}

fn watch_sees_other_clients_writes(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let k = "w:k".to_string();
    let far = key_off_shard("w:far", &k, layout);
    let (k, far) = (k.as_str(), far.as_str());
    let mut a = client(port);
    let mut b = client(port);
    let mut c = client(port);
    let reset = |con: &mut Connection| {
        let () = redis::cmd("FLUSHALL").query(con).unwrap();
        let () = con.set(k, "v").unwrap();
        let () = con.set(far, "f").unwrap();
    };

    // Another client's write aborts the EXEC; the abort clears the watch.
    reset(&mut b);
    watch(&mut a, &[k]);
    let () = b.set(k, "b").unwrap();
    assert_eq!(exec_get(&mut a, k), None, "SET by another client");
    assert_eq!(
        exec_get(&mut a, k),
        Some(Some("b".into())),
        "watch not cleared"
    );

    // Reads, failed writes and writes to other keys do not.
    reset(&mut b);
    watch(&mut a, &[k]);
    let _: Option<String> = b.get(k).unwrap();
    let _: bool = b.exists(k).unwrap();
    let r: Option<String> = redis::cmd("SET")
        .arg(k)
        .arg("x")
        .arg("NX")
        .query(&mut b)
        .unwrap();
    assert_eq!(r, None);
    let () = b.set(far, "other").unwrap();
    let _: i64 = b.del("w:missing").unwrap();
    assert_eq!(
        exec_get(&mut a, k),
        Some(Some("v".into())),
        "no change to {k}"
    );

    // A key watched together with one on another shard; the far one changes.
    reset(&mut b);
    watch(&mut a, &[k, far]);
    let () = redis::cmd("MSET")
        .arg(far)
        .arg("m")
        .arg("w:x")
        .arg("1")
        .query(&mut b)
        .unwrap();
    assert_eq!(
        exec_get(&mut a, k),
        None,
        "MSET of a watched key on another shard"
    );

    // Deletion, expiry changes, RENAME onto it, FLUSHALL: all changes.
    type Change = fn(&mut Connection, &str, &str);
    let changes: [(&str, Change); 6] = [
        ("DEL", |b, k, _| {
            let _: i64 = b.del(k).unwrap();
        }),
        ("EXPIRE", |b, k, _| {
            let _: i64 = b.expire(k, 100).unwrap();
        }),
        ("RENAME onto it", |b, k, far| {
            let () = b.rename(far, k).unwrap();
        }),
        ("RENAME away", |b, k, far| {
            let () = b.rename(k, far).unwrap();
        }),
        ("FLUSHALL", |b, _, _| {
            let () = redis::cmd("FLUSHALL").query(b).unwrap();
        }),
        ("a transaction", |b, k, far| {
            let () = redis::pipe()
                .atomic()
                .set(far, "t")
                .ignore()
                .set(k, "t")
                .ignore()
                .query(b)
                .unwrap();
        }),
    ];
    for (what, change) in changes {
        reset(&mut b);
        watch(&mut a, &[k]);
        change(&mut b, k, far);
        assert_eq!(exec_get(&mut a, k), None, "{what} by another client");
    }

    // The same name in another database is another key.
    reset(&mut b);
    watch(&mut a, &[k]);
    let () = redis::cmd("SELECT").arg(1).query(&mut b).unwrap();
    let () = b.set(k, "db1").unwrap();
    let () = redis::cmd("SELECT").arg(0).query(&mut b).unwrap();
    assert_eq!(exec_get(&mut a, k), Some(Some("v".into())), "write in db 1");

    // Another client's block that is queued but not EXECed changes nothing;
    // once it runs, it does.
    reset(&mut b);
    watch(&mut a, &[k]);
    let () = redis::cmd("MULTI").query(&mut b).unwrap();
    let q: String = redis::cmd("SET")
        .arg(k)
        .arg("queued")
        .query(&mut b)
        .unwrap();
    assert_eq!(q, "QUEUED");
    assert_eq!(
        exec_get(&mut a, k),
        Some(Some("v".into())),
        "queued, not run"
    );
    watch(&mut a, &[k]);
    let r: Vec<String> = redis::cmd("EXEC").query(&mut b).unwrap();
    assert_eq!(r, ["OK"]);
    assert_eq!(exec_get(&mut a, k), None, "the other client's EXEC ran");

    // Queued commands see the data as of EXEC, not as of queuing.
    reset(&mut b);
    let () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: String = redis::cmd("GET").arg(k).query(&mut a).unwrap();
    let _: String = redis::cmd("GET").arg(far).query(&mut a).unwrap();
    let () = b.set(k, "late").unwrap();
    let () = b.set(far, "late-far").unwrap();
    let r: Vec<String> = redis::cmd("EXEC").query(&mut a).unwrap();
    assert_eq!(r, ["late", "late-far"]);

    // Two watchers: the first to commit wins, the other is aborted.
    reset(&mut b);
    watch(&mut a, &[k, far]);
    watch(&mut c, &[k]);
    let done: Option<()> = redis::pipe()
        .atomic()
        .set(k, "a")
        .ignore()
        .query(&mut a)
        .unwrap();
    assert_eq!(done, Some(()), "first committer");
    let done: Option<()> = redis::pipe()
        .atomic()
        .set(k, "c")
        .ignore()
        .query(&mut c)
        .unwrap();
    assert_eq!(done, None, "second committer");
    let v: String = b.get(k).unwrap();
    assert_eq!(v, "a");

    // A client that WATCHed and vanished does not affect anybody.
    reset(&mut b);
    {
        let mut gone = client(port);
        watch(&mut gone, &[k, far]);
        let () = redis::cmd("MULTI").query(&mut gone).unwrap();
    }
    watch(&mut a, &[k]);
    let () = b.set(far, "x").unwrap();
    assert_eq!(exec_get(&mut a, k), Some(Some("v".into())));
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// Clients that vanish mid-transaction: with WATCHed keys, after MULTI with
// queued writes, halfway through sending EXEC, or right after sending EXEC
// without reading the reply. Nothing of an un-EXECed block may apply, an
// EXECed block applies entirely or not at all, and other clients (with
// their own WATCHes on the same keys) carry on.

const DROPS: usize = 60;
const MIN_CAS_ROUNDS: usize = 300;

fn raw_send(port: u16, commands: &[&[&str]], tail: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut bytes = Vec::new();
    for c in commands {
        bytes.extend_from_slice(&common::resp::command(c));
    }
    bytes.extend_from_slice(tail);
    s.write_all(&bytes).expect("send");
    // Dropped here without reading a reply.
}

/// The keys one dropped block writes besides the shared ones: its own name
/// and a second key on another shard.
fn ghost_keys(d: usize, i: usize, layout: &Layout) -> (String, String) {
    let ghost = format!("ghost:{d}:{i}");
    let twin = key_off_shard(&format!("{ghost}:twin"), &ghost, layout);
    (ghost, twin)
}

fn disconnects_mid_transaction_harm_nobody(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let keys = spread_keys("drop:", 10);
    assert_covers_shards(&keys, layout);
    let counters: Vec<String> = keys.iter().map(|k| format!("{k}:n")).collect();
    let mut con = client(port);
    let () = redis::cmd("MSET")
        .arg(
            keys.iter()
                .flat_map(|k| [k.as_str(), "init"])
                .collect::<Vec<_>>(),
        )
        .query(&mut con)
        .unwrap();

    // A well-behaved CAS client on the counters the dropped clients WATCH.
    let stop = Stop::new();
    let start = Arc::new(Barrier::new(3));
    let cas = {
        let (counters, stop, start) = (counters.clone(), stop.clone(), start.clone());
        thread::spawn(move || {
            let mut con = client(port);
            start.wait();
            let mut ok = 0;
            let mut rounds = 0;
            while (rounds < MIN_CAS_ROUNDS || !stop.is_set()) && rounds < MAX_READS {
                let k = &counters[rounds % counters.len()];
                if cas_increment(&mut con, k, None).is_some() {
                    ok += 1;
                }
                rounds += 1;
            }
            (ok, rounds)
        })
    };

    let droppers = (0..2)
        .map(|d| {
            let (keys, counters, stop, start) =
                (keys.clone(), counters.clone(), stop.clone(), start.clone());
            let ghosts: Vec<(String, String)> =
                (0..DROPS).map(|i| ghost_keys(d, i, layout)).collect();
            thread::spawn(move || {
                let _release = StopOnDrop(stop);
                start.wait();
                for i in 0..DROPS {
                    let k1 = keys[i % keys.len()].as_str();
                    let k2 = keys[(i + 3) % keys.len()].as_str();
                    let n1 = counters[i % keys.len()].as_str();
                    let n2 = counters[(i + 5) % keys.len()].as_str();
                    let (ghost, twin) = (ghosts[i].0.as_str(), ghosts[i].1.as_str());
                    match i % 4 {
                        // WATCH only.
                        0 => raw_send(port, &[&["WATCH", k1, k2, n1, n2]], b""),
                        // WATCH, MULTI, queued writes, no EXEC.
                        1 => raw_send(
                            port,
                            &[
                                &["WATCH", n1, n2],
                                &["MULTI"],
                                &["SET", ghost, "x"],
                                &["SET", k1, "ghost"],
                                &["DEL", k2],
                                &["INCR", n1],
                            ],
                            b"",
                        ),
                        // EXEC cut in the middle of its bytes.
                        2 => raw_send(
                            port,
                            &[&["MULTI"], &["SET", ghost, "x"], &["DEL", k1, k2]],
                            b"*1\r\n$4\r\nEX",
                        ),
                        // A whole cross-shard block, EXEC sent, reply never
                        // read: it runs entirely or (the client being gone)
                        // not at all.
                        _ => raw_send(
                            port,
                            &[
                                &["MULTI"],
                                &["SET", k1, ghost],
                                &["SET", k2, ghost],
                                &["SET", ghost, "x"],
                                &["SET", twin, "x"],
                                &["EXEC"],
                            ],
                            b"",
                        ),
                    }
                }
            })
        })
        .collect::<Vec<_>>();
    join_all(droppers);
    stop.set();
    let (cas_ok, cas_rounds) = join_all(vec![cas])[0];
    // Nobody else ever commits a write to the counters (the dropped blocks
    // that touch them never EXEC), so every CAS must commit.
    assert_eq!(
        cas_ok, cas_rounds,
        "WATCHes and queued blocks of dropped clients made another client's EXEC fail"
    );

    // Let the server finish what the dropped connections sent: until it has
    // closed them all (however long a loaded machine takes), then a short
    // pause for a block already on its way (not asserted on). The blocks
    // checked below must not run after they are read.
    let mut con = client(port);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
        let open: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("connected_clients");
        // This connection and the first one.
        if open <= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} connections still open"
        );
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    let mut applied = 0;
    for d in 0..2 {
        for i in 0..DROPS {
            let (ghost, twin) = ghost_keys(d, i, layout);
            let both: Vec<Option<String>> = con.mget(&[&ghost, &twin]).unwrap();
            match i % 4 {
                1 | 2 => assert_eq!(both, [None, None], "{ghost}: a block without EXEC ran"),
                3 => {
                    let n = both.iter().flatten().count();
                    assert!(n != 1, "{ghost}/{twin}: half an EXECed block ran: {both:?}");
                    applied += n / 2;
                }
                _ => {}
            }
        }
    }
    // Shared keys are "init" or a ghost name written by a whole block; never
    // "ghost" or deleted (only blocks that never ran did that).
    let values: Vec<Option<String>> = con.mget(&keys).unwrap();
    for (k, v) in keys.iter().zip(&values) {
        let v = v.as_deref().unwrap_or("<deleted>");
        assert!(
            v == "init" || v.starts_with("ghost:"),
            "{k} = {v}: a partial or un-EXECed block leaked"
        );
    }
    eprintln!(
        "dropped-after-EXEC blocks that ran: {applied} of {}",
        2 * DROPS / 4
    );

    // Transactions and WATCH still work, on the same keys, for new clients.
    let mut fresh = client(port);
    let () = fresh.set(&keys[0], 0).unwrap();
    assert_eq!(cas_increment(&mut fresh, &keys[0], None), Some(1));
    let () = redis::cmd("WATCH")
        .arg(&keys)
        .arg(&counters)
        .query(&mut fresh)
        .unwrap();
    let r: Option<(Option<String>,)> = redis::pipe()
        .atomic()
        .get(&keys[1])
        .query(&mut fresh)
        .unwrap();
    assert!(r.is_some(), "an uncontended EXEC after the drops failed");
    let sum: i64 = counters
        .iter()
        .map(|c| con.get::<_, Option<i64>>(c).unwrap().unwrap_or(0))
        .sum();
    assert_eq!(sum, cas_ok as i64, "counters vs the CAS client's commits");
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// One connection's pipeline: its own transactions and multi-key commands stay
// in order with its single-key commands, on every shard.

const PIPELINE_ROUNDS: usize = 400;

fn pipelined_transactions_keep_connection_order(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    // Several connections, so some have their home on each shard (the
    // kernel spreads them); each sends one long pipeline.
    let handles = (0..4)
        .map(|c| {
            thread::spawn(move || {
                let mut con = client(port);
                let mut p = redis::pipe();
                for i in 0..PIPELINE_ROUNDS {
                    let (a, b) = (format!("po:{c}:a{i}"), format!("po:{c}:b{i}"));
                    p.cmd("SET").arg(&a).arg("1").ignore();
                    p.cmd("SET").arg(&b).arg("1").ignore();
                    // A cross-shard command, then reads of its keys.
                    p.cmd("DEL").arg(&a).arg(&b);
                    p.cmd("EXISTS").arg(&a);
                    p.cmd("EXISTS").arg(&b);
                    // A transaction, then a write it must not overwrite.
                    p.cmd("MULTI").ignore();
                    p.cmd("SET").arg(&a).arg("tx").ignore();
                    p.cmd("SET").arg(&b).arg("tx").ignore();
                    p.cmd("EXEC").ignore();
                    p.cmd("SET").arg(&b).arg("after").ignore();
                    p.cmd("MSET").arg(&a).arg("m").arg(&b).arg("m").ignore();
                    p.cmd("GET").arg(&a);
                    p.cmd("GET").arg(&b);
                }
                let got: Vec<redis::Value> = p.query(&mut con).unwrap();
                assert_eq!(got.len(), PIPELINE_ROUNDS * 5);
                for (i, r) in got.chunks(5).enumerate() {
                    let m = redis::Value::BulkString(b"m".to_vec());
                    let want = [
                        redis::Value::Int(2),
                        redis::Value::Int(0),
                        redis::Value::Int(0),
                        m.clone(),
                        m,
                    ];
                    assert_eq!(r, &want, "connection {c}, round {i}");
                }
                let after: Vec<Option<String>> = (0..PIPELINE_ROUNDS)
                    .map(|i| format!("po:{c}:b{i}"))
                    .map(|k| con.get(k).unwrap())
                    .collect();
                assert!(after.iter().all(|v| v.as_deref() == Some("m")));
            })
        })
        .collect::<Vec<_>>();
    join_all(handles);
    assert_server_alive(&mut server);
}

// ---------------------------------------------------------------------------
// Many connections pipeline MSETs, MGETs and DELs of the same two keys on two
// shards, and GETs of one of them, so that split commands ride transactions
// waiting for those keys (kevy-rt's crate doc, "Riders"). Every MGET sees
// one MSET (or DEL) whole; a read that sees a value written by its own
// connection sees the last one that connection wrote before it (never an
// older one, never one it sent later); every reply comes, in order.

const HOT_CLIENTS: usize = 12;
const HOT_PIPELINES: usize = 60;

fn hot_keys_pipelined_by_many_clients_stay_atomic_and_ordered(layout: &Layout) {
    let mut server = layout.start();
    let port = server.port;
    let a = "hotpair:a".to_string();
    let b = key_off_shard("hotpair:b", &a, layout);
    let start = Arc::new(Barrier::new(HOT_CLIENTS));
    let handles = (0..HOT_CLIENTS)
        .map(|c| {
            let (a, b, start) = (a.clone(), b.clone(), start.clone());
            thread::spawn(move || {
                let mut con = client(port);
                let mut rng = Rng::new(c as u64 + 1);
                // The value this connection wrote last: None before its
                // first MSET or after its DEL.
                let mut last: Option<String> = None;
                let mut written = 0;
                start.wait();
                for round in 0..HOT_PIPELINES {
                    let mut p = redis::pipe();
                    // Per command: the connection's own last value as of
                    // it, for the reads.
                    let mut expect: Vec<Option<Option<String>>> = Vec::new();
                    for _ in 0..1 + rng.below(16) {
                        match rng.below(8) {
                            0..=3 => {
                                let v = format!("c{c}.{written}");
                                written += 1;
                                p.cmd("MSET").arg(&a).arg(&v).arg(&b).arg(&v);
                                last = Some(v);
                                expect.push(None);
                            }
                            4 | 5 => {
                                p.cmd("MGET").arg(&a).arg(&b);
                                expect.push(Some(last.clone()));
                            }
                            6 => {
                                p.cmd("GET").arg(&a);
                                expect.push(Some(last.clone()));
                            }
                            _ => {
                                p.cmd("DEL").arg(&a).arg(&b);
                                last = None;
                                expect.push(None);
                            }
                        }
                    }
                    let got: Vec<redis::Value> = p.query(&mut con).unwrap();
                    assert_eq!(got.len(), expect.len(), "client {c} round {round}");
                    let own = format!("c{c}.");
                    for (r, want) in got.iter().zip(&expect) {
                        let Some(own_last) = want else {
                            continue;
                        };
                        let seen: Option<String> = match r {
                            redis::Value::Array(pair) => {
                                let pair: Vec<Option<String>> =
                                    redis::from_redis_value(&redis::Value::Array(pair.clone()))
                                        .unwrap();
                                assert_eq!(pair[0], pair[1], "client {c}: MGET saw {pair:?}");
                                pair[0].clone()
                            }
                            v => redis::from_redis_value(v).unwrap(),
                        };
                        if let Some(v) = seen.as_deref().filter(|v| v.starts_with(&own)) {
                            assert_eq!(
                                Some(v),
                                own_last.as_deref(),
                                "client {c} round {round}: a read saw its own {v}"
                            );
                        }
                    }
                }
            })
        })
        .collect::<Vec<_>>();
    join_all(handles);
    let mut con = client(port);
    let values: Vec<Option<String>> = con.mget(&[&a, &b]).unwrap();
    assert_eq!(values[0], values[1], "final {values:?}");
    assert_server_alive(&mut server);
}
