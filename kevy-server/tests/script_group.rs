//! Many connections running scripts on the same two keys of different
//! shards: their transactions join groups (kevy-rt's crate doc, "Groups")
//! and must stay exactly as atomic as one transaction each. Forty
//! connections start together and each runs its scripts back to back;
//! every scenario runs on two and three shards.
//!
//! Bounded by iteration counts, never by time; no timing is asserted.

mod common;

use common::{eval, keys_on_every_shard, Server, TempDir};
use redis::{Commands, Connection};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(60);
const CLIENTS: usize = 40;
const ROUNDS: usize = 100;

layouts!(
    [2, 3]:
    counters_on_two_shards_count_every_script,
    a_lua_lock_never_has_two_holders,
    transfers_keep_the_sum_every_reader_sees,
    a_member_that_reaches_an_undeclared_key_runs_again_and_answers_right,
    groups_killed_midway_recover_whole_and_keep_every_answered_script,
    members_are_counted_and_notify_as_if_each_ran_alone,
    a_script_sees_the_write_its_connection_pipelined_before_it,
);

fn client(port: u16) -> Connection {
    common::connect(port, IO_TIMEOUT)
}

fn kevy(cores: usize) -> Server {
    common::kevy_cores(cores)
}

/// A key of the first shard and one of the last, of `n`.
fn two_keys(prefix: &str, n: usize) -> (String, String) {
    let keys = keys_on_every_shard(prefix, n, 1);
    (keys[0].clone(), keys[n - 1].clone())
}

/// Runs `work(connection, client index)` on [`CLIENTS`] connections at
/// once, and gathers what each returns.
fn together<T: Send + 'static>(
    port: u16,
    work: impl Fn(&mut Connection, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let start = Arc::new(Barrier::new(CLIENTS));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let start = start.clone();
            let work = work.clone();
            thread::spawn(move || {
                let mut c = client(port);
                start.wait();
                work(&mut c, i)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect()
}

const INCR_BOTH: &str = "redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])";

fn counters_on_two_shards_count_every_script(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (a, b) = two_keys("count", cores);
    let (ka, kb) = (a.clone(), b.clone());
    let replies = together(port, move |c, i| {
        let mut got = Vec::new();
        for r in 0..ROUNDS {
            // Half the clients name the keys the other way round: the same
            // keys, so they share groups.
            let keys = if (i + r) % 2 == 0 {
                [ka.as_str(), kb.as_str()]
            } else {
                [kb.as_str(), ka.as_str()]
            };
            let v: i64 = eval(c, INCR_BOTH, &keys, &[]).expect("script");
            got.push(v);
        }
        got
    });
    let mut c = client(port);
    let want = (CLIENTS * ROUNDS) as i64;
    let ga: i64 = c.get(&a).expect("GET");
    let gb: i64 = c.get(&b).expect("GET");
    assert_eq!((ga, gb), (want, want));
    // Every script saw both counters equal after its own increments: each
    // reply is a distinct count, all of them from 1 to the total.
    let mut all: Vec<i64> = replies.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=want).collect::<Vec<_>>());
}

const ACQUIRE: &str = "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', 60000) then \
       return redis.call('INCR', KEYS[2]) else return 0 end";
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
       redis.call('DEL', KEYS[1]); return redis.call('DECR', KEYS[2]) else return -1 end";

fn a_lua_lock_never_has_two_holders(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (lock, holders) = two_keys("lock", cores);
    let guarded = keys_on_every_shard("guarded", cores, 1)[cores / 2].clone();
    let (l, h, g) = (lock.clone(), holders.clone(), guarded.clone());
    let held = together(port, move |c, i| {
        let me = format!("client-{i}");
        let mut held = 0;
        for _ in 0..ROUNDS {
            let n: i64 = eval(c, ACQUIRE, &[&l, &h], &[&me]).expect("acquire");
            if n == 0 {
                continue;
            }
            // The only holder: the holder count went from 0 to 1.
            assert_eq!(n, 1, "two holders of the lock");
            // A read-modify-write that only the lock makes safe.
            let v: i64 = c.get(&g).unwrap_or(0);
            let _: () = c.set(&g, v + 1).expect("SET");
            let left: i64 = eval(c, RELEASE, &[&l, &h], &[&me]).expect("release");
            assert_eq!(left, 0, "the holder count after a release");
            held += 1;
        }
        held
    });
    let total: i64 = held.iter().sum();
    assert!(total > 0, "somebody held the lock");
    let mut c = client(port);
    let g: i64 = c.get(&guarded).expect("GET");
    assert_eq!(g, total, "every holder's increment, none lost");
    let h: i64 = c.get(&holders).expect("GET");
    assert_eq!(h, 0);
    let l: Option<String> = c.get(&lock).expect("GET");
    assert_eq!(l, None);
}

const TRANSFER: &str = "local n = tonumber(ARGV[1]); \
    redis.call('DECRBY', KEYS[1], n); redis.call('INCRBY', KEYS[2], n); \
    return redis.call('GET', KEYS[2])";
const SUM: &str = "return tonumber(redis.call('GET', KEYS[1]) or '0') + \
    tonumber(redis.call('GET', KEYS[2]) or '0')";

fn transfers_keep_the_sum_every_reader_sees(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (a, b) = two_keys("acct", cores);
    let mut c = client(port);
    let _: () = c.set(&a, 1000).expect("SET");
    let _: () = c.set(&b, 1000).expect("SET");
    let (ka, kb) = (a.clone(), b.clone());
    together(port, move |c, i| {
        for r in 0..ROUNDS {
            if i % 4 == 0 {
                // A checker: reads both in one script.
                let s: i64 = eval(c, SUM, &[&ka, &kb], &[]).expect("sum");
                assert_eq!(s, 2000, "a reader saw half a transfer");
            } else {
                let n = ((i * 7 + r * 3) % 11 + 1).to_string();
                let (from, to) = if r % 2 == 0 { (&ka, &kb) } else { (&kb, &ka) };
                let _: String = eval(c, TRANSFER, &[from, to], &[&n]).expect("transfer");
            }
        }
    });
    let va: i64 = c.get(&a).expect("GET");
    let vb: i64 = c.get(&b).expect("GET");
    assert_eq!(va + vb, 2000);
}

/// Increments both declared keys and one it did not declare (on another
/// shard than the first): run by copy it must run again over the whole
/// keyspace.
const REACHING: &str = "redis.call('INCR', KEYS[1]); redis.call('INCR', KEYS[2]); \
    return redis.call('INCR', ARGV[1])";

fn a_member_that_reaches_an_undeclared_key_runs_again_and_answers_right(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (a, b) = two_keys("esc", cores);
    let undeclared = keys_on_every_shard("undeclared", cores, 1)[cores - 1].clone();
    let (ka, kb, ku) = (a.clone(), b.clone(), undeclared.clone());
    let replies = together(port, move |c, i| {
        let mut got = Vec::new();
        for _ in 0..ROUNDS {
            if i % 5 == 0 {
                let v: i64 = eval(c, REACHING, &[&ka, &kb], &[&ku]).expect("reaching");
                got.push(v);
            } else {
                let _: i64 = eval(c, INCR_BOTH, &[&ka, &kb], &[]).expect("script");
            }
        }
        got
    });
    let reaching = (CLIENTS / 5 * ROUNDS) as i64;
    let mut all: Vec<i64> = replies.into_iter().flatten().collect();
    all.sort_unstable();
    // Each reaching script's reply is its own increment of the undeclared
    // key: taken back and run again, it counts once.
    assert_eq!(all, (1..=reaching).collect::<Vec<_>>());
    let mut c = client(port);
    let want = (CLIENTS * ROUNDS) as i64;
    let ga: i64 = c.get(&a).expect("GET");
    let gb: i64 = c.get(&b).expect("GET");
    let gu: i64 = c.get(&undeclared).expect("GET");
    assert_eq!((ga, gb, gu), (want, want, reaching));
}

/// Appendonly with a fsync per batch: the server is killed (SIGKILL)
/// while forty connections run scripts on the two keys, and restarted on
/// its log. Each group is one logged transaction: after recovery both
/// counters are equal (no group half applied), and no lower than the
/// count any script was answered with (nothing answered is lost).
fn groups_killed_midway_recover_whole_and_keep_every_answered_script(cores: usize) {
    let dir = TempDir::new("kevy-group-aof");
    let (a, b) = two_keys("logged", cores);
    let server = common::kevy_logged(dir.path(), cores, &[]);
    let port = server.port;
    let answered = Arc::new(AtomicI64::new(0));
    let highest = Arc::new(AtomicI64::new(0));
    let (ka, kb) = (a.clone(), b.clone());
    let (done, top) = (answered.clone(), highest.clone());
    let clients = thread::spawn(move || {
        together(port, move |c, _| {
            // Until the server is gone.
            while let Ok(v) = eval::<i64>(c, INCR_BOTH, &[&ka, &kb], &[]) {
                top.fetch_max(v, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    let enough = (CLIENTS * ROUNDS / 2) as i64;
    let mut spins = 0;
    while answered.load(Ordering::SeqCst) < enough {
        spins += 1;
        assert!(spins < 60_000, "the scripts made no progress");
        thread::sleep(Duration::from_millis(5));
    }
    drop(server);
    clients.join().expect("clients");
    let server = common::kevy_logged(dir.path(), cores, &[]);
    let mut c = client(server.port);
    let ga: i64 = c.get(&a).expect("GET");
    let gb: i64 = c.get(&b).expect("GET");
    assert_eq!(ga, gb, "a group half applied after recovery");
    let top = highest.load(Ordering::SeqCst);
    assert!(ga >= top, "answered {top}, recovered {ga}");
}

/// Each script of a group is one call in INFO commandstats and makes its
/// own keyspace events, as when it runs alone; an attempt taken back to
/// run again is no call and makes none.
fn members_are_counted_and_notify_as_if_each_ran_alone(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (a, b) = two_keys("stats", cores);
    let undeclared = keys_on_every_shard("stats-undeclared", cores, 1)[cores - 1].clone();
    let mut c = client(port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("E$")
        .query(&mut c)
        .expect("CONFIG SET");
    let mut sub = client(port);
    let _: () = redis::cmd("SUBSCRIBE")
        .arg("__keyevent@0__:incrby")
        .query(&mut sub)
        .expect("SUBSCRIBE");
    let (ka, kb, ku) = (a.clone(), b.clone(), undeclared.clone());
    together(port, move |c, i| {
        for _ in 0..ROUNDS {
            if i % 10 == 0 {
                let _: i64 = eval(c, REACHING, &[&ka, &kb], &[&ku]).expect("reaching");
            } else {
                let _: i64 = eval(c, INCR_BOTH, &[&ka, &kb], &[]).expect("script");
            }
        }
    });
    let calls = (CLIENTS * ROUNDS) as i64;
    let reaching = (CLIENTS / 10 * ROUNDS) as i64;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .expect("INFO");
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_eval:"))
        .unwrap_or_else(|| panic!("no EVAL in {info}"));
    assert!(
        line.starts_with(&format!("cmdstat_eval:calls={calls},")),
        "{line}"
    );
    // Two INCRs per script, three for those that reach the third key.
    let events = 2 * calls + reaching;
    let mut keys = std::collections::HashMap::new();
    for _ in 0..events {
        let msg = sub.recv_response().expect("an event");
        let redis::Value::Array(parts) = msg else {
            panic!("not a message: {msg:?}");
        };
        let key: String = redis::from_redis_value(&parts[2]).expect("a key");
        *keys.entry(key).or_insert(0i64) += 1;
    }
    assert_eq!(keys.get(&a), Some(&calls));
    assert_eq!(keys.get(&b), Some(&calls));
    assert_eq!(keys.get(&undeclared), Some(&reaching));
}

/// Each connection pipelines a write of its own field of the second key
/// and a script that reads it back, while the others' scripts form
/// groups on the same keys: the script always sees its connection's
/// write (a command owed an earlier reply never joins a group whose copy
/// could predate that reply).
fn a_script_sees_the_write_its_connection_pipelined_before_it(cores: usize) {
    let server = kevy(cores);
    let port = server.port;
    let (a, b) = two_keys("pipe", cores);
    let (ka, kb) = (a.clone(), b.clone());
    let script = "redis.call('HINCRBY', KEYS[1], 'n', 1); \
        return redis.call('HGET', KEYS[2], ARGV[1])";
    together(port, move |c, i| {
        let field = format!("f{i}");
        for r in 0..ROUNDS {
            let value = format!("{i}-{r}");
            // The HSET's reply is ignored: the pipeline answers the EVAL's.
            let (seen,): (String,) = redis::pipe()
                .cmd("HSET")
                .arg(&kb)
                .arg(&field)
                .arg(&value)
                .ignore()
                .cmd("EVAL")
                .arg(script)
                .arg(2)
                .arg(&ka)
                .arg(&kb)
                .arg(&field)
                .query(c)
                .expect("pipeline");
            assert_eq!(seen, value, "the script missed its connection's write");
        }
    });
    let mut c = client(port);
    let n: i64 = c.hget(&a, "n").expect("HGET");
    assert_eq!(n, (CLIENTS * ROUNDS) as i64);
}
