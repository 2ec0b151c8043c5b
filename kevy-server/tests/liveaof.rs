//! `CONFIG SET appendonly` at run time, end to end: a server started
//! without a log turns it on while clients write (cross-shard MSETs
//! included) and keeps everything through kill -9 and a restart with the
//! log; turning it off stops logging; turning it on and off under load
//! keeps the server serving. Real processes, real files, real fsync.

mod common;

use common::{Server, TempDir};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a switch may take before a test gives up (a hang, not a
/// performance bound).
const PATIENCE: Duration = Duration::from_secs(60);

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

fn kevy(dir: &Path, appendonly: &str) -> Server {
    let d = dir.to_str().expect("utf-8 dir");
    Server::kevy(&[
        "--cores",
        "3",
        "--dir",
        d,
        "--save",
        "",
        "--appendfsync",
        "always",
        "--appendonly",
        appendonly,
    ])
}

fn info(c: &mut redis::Connection) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn set_appendonly(c: &mut redis::Connection, v: &str) {
    let r: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg(v)
        .query(c)
        .unwrap();
    assert_eq!(r, "OK");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query(c)
        .unwrap();
    assert_eq!(got, ["appendonly", v]);
}

/// Turns the log on and waits until its first rewrite is done.
fn turn_on(s: &Server, c: &mut redis::Connection) {
    let before: i64 = info(c)["aof_rewrites"].parse().unwrap();
    set_appendonly(c, "yes");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let i = info(c);
        let done = i["aof_rewrites"].parse::<i64>().unwrap() > before;
        let idle = i["aof_rewrite_in_progress"] == "0" && i["aof_rewrite_scheduled"] == "0";
        if i["aof_enabled"] == "1" && idle && done {
            assert_eq!(i["aof_last_bgrewrite_status"], "ok", "{i:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the log did not turn on: {i:?}\n{}",
            s.output()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Turns the log off and waits until no shard logs.
fn turn_off(c: &mut redis::Connection) {
    set_appendonly(c, "no");
    let deadline = Instant::now() + PATIENCE;
    while info(c)["aof_enabled"] != "0" {
        assert!(Instant::now() < deadline, "the log did not turn off");
        thread::sleep(Duration::from_millis(20));
    }
}

fn set_many(port: u16, prefix: &str, n: usize) {
    let mut c = client(port);
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET").arg(format!("{prefix}{i}")).arg(i).ignore();
    }
    p.query::<()>(&mut c).unwrap();
}

fn count(port: u16, prefix: &str, n: usize) -> usize {
    let mut c = client(port);
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let got: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
    for (i, v) in got.iter().enumerate() {
        if let Some(v) = v {
            assert_eq!(*v, i as u64, "{prefix}{i}");
        }
    }
    got.iter().filter(|v| v.is_some()).count()
}

const COUNTERS: usize = 2;
const TRIPLES: usize = 3;

fn triple(t: usize) -> [String; 3] {
    [format!("ma{t}"), format!("mb{t}"), format!("mc{t}")]
}

/// Clients writing until stopped: INCR counters, and MSETs of triples
/// whose keys live on different shards and always hold one value.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Vec<AtomicU64>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Writers {
    fn start(port: u16) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Vec<AtomicU64>> =
            Arc::new((0..COUNTERS + TRIPLES).map(|_| AtomicU64::new(0)).collect());
        let mut threads = Vec::new();
        for w in 0..COUNTERS + TRIPLES {
            let (stop, acked) = (stop.clone(), acked.clone());
            threads.push(thread::spawn(move || {
                let mut c = client(port);
                let mut v = 0u64;
                while !stop.load(SeqCst) {
                    if w < COUNTERS {
                        v = redis::cmd("INCR")
                            .arg(format!("n{w}"))
                            .query(&mut c)
                            .unwrap();
                    } else {
                        v += 1;
                        let mut cmd = redis::cmd("MSET");
                        for k in triple(w - COUNTERS) {
                            cmd.arg(k).arg(v);
                        }
                        cmd.query::<()>(&mut c).unwrap();
                    }
                    acked[w].store(v, SeqCst);
                }
            }));
        }
        Writers {
            stop,
            acked,
            threads,
        }
    }

    /// Waits until every writer has had a write acknowledged: a loaded
    /// machine may start a thread, or answer it, late.
    fn wait_all_wrote(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.acked.iter().any(|a| a.load(SeqCst) == 0) {
            assert!(Instant::now() < deadline, "a writer never wrote");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(self) -> Vec<u64> {
        self.stop.store(true, SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        self.acked.iter().map(|a| a.load(SeqCst)).collect()
    }
}

/// A restarted server holds exactly what the stopped writers were told,
/// every MSET triple whole.
fn check_writes(port: u16, acked: &[u64]) {
    let mut c = client(port);
    for (w, &a) in acked.iter().enumerate() {
        if w < COUNTERS {
            let got: Option<u64> = redis::cmd("GET")
                .arg(format!("n{w}"))
                .query(&mut c)
                .unwrap();
            assert_eq!(got.unwrap_or(0), a, "counter n{w}");
        } else {
            let t = w - COUNTERS;
            let got: Vec<Option<u64>> = redis::cmd("MGET").arg(&triple(t)).query(&mut c).unwrap();
            assert!(
                got.iter().all(|v| *v == got[0]),
                "triple {t} not whole: {got:?}"
            );
            assert_eq!(got[0].unwrap_or(0), a, "triple {t}");
        }
    }
}

#[test]
fn turning_the_log_on_keeps_what_was_there_and_what_follows() {
    let dir = TempDir::new("liveaof-on");
    // An earlier run's log, which the switch must not mix in.
    let s = kevy(dir.path(), "yes");
    set_many(s.port, "stale", 50);
    drop(s); // SIGKILL
    let s = kevy(dir.path(), "no");
    assert_eq!(count(s.port, "stale", 50), 0, "started without the log");
    set_many(s.port, "pre", 3000);
    let writers = Writers::start(s.port);
    writers.wait_all_wrote();
    let mut c = client(s.port);
    assert_eq!(info(&mut c)["aof_enabled"], "0");
    turn_on(&s, &mut c);
    set_many(s.port, "post", 500);
    thread::sleep(Duration::from_millis(50));
    let acked = writers.stop();
    assert!(acked.iter().all(|&v| v > 0), "the writers wrote: {acked:?}");
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    drop(s); // SIGKILL
    let s = kevy(dir.path(), "yes");
    assert_eq!(count(s.port, "pre", 3000), 3000);
    assert_eq!(count(s.port, "post", 500), 500);
    assert_eq!(count(s.port, "stale", 50), 0);
    check_writes(s.port, &acked);
    let after: i64 = redis::cmd("DBSIZE").query(&mut client(s.port)).unwrap();
    assert_eq!(after, dbsize);
}

#[test]
fn turning_the_log_off_stops_logging() {
    let dir = TempDir::new("liveaof-off");
    let s = kevy(dir.path(), "yes");
    set_many(s.port, "before", 1000);
    let mut c = client(s.port);
    assert_eq!(info(&mut c)["aof_enabled"], "1");
    turn_off(&mut c);
    set_many(s.port, "after", 1000);
    assert_eq!(count(s.port, "after", 1000), 1000);
    drop(s); // SIGKILL
    let s = kevy(dir.path(), "yes");
    assert_eq!(count(s.port, "before", 1000), 1000);
    assert_eq!(count(s.port, "after", 1000), 0);
}

#[test]
fn turning_the_log_on_and_off_under_load_keeps_serving() {
    let dir = TempDir::new("liveaof-toggle");
    let s = kevy(dir.path(), "no");
    set_many(s.port, "pre", 2000);
    let writers = Writers::start(s.port);
    let mut c = client(s.port);
    for _ in 0..3 {
        turn_on(&s, &mut c);
        thread::sleep(Duration::from_millis(30));
        turn_off(&mut c);
        thread::sleep(Duration::from_millis(30));
    }
    // Changes faster than the shards follow them.
    for _ in 0..10 {
        set_appendonly(&mut c, "yes");
        thread::sleep(Duration::from_millis(7));
        set_appendonly(&mut c, "no");
    }
    turn_on(&s, &mut c);
    thread::sleep(Duration::from_millis(50));
    let acked = writers.stop();
    drop(s); // SIGKILL
    let s = kevy(dir.path(), "yes");
    assert_eq!(count(s.port, "pre", 2000), 2000);
    check_writes(s.port, &acked);
}

#[test]
fn a_log_turned_off_turns_on_again_with_everything() {
    let dir = TempDir::new("liveaof-again");
    let s = kevy(dir.path(), "yes");
    set_many(s.port, "first", 500);
    let mut c = client(s.port);
    turn_off(&mut c);
    set_many(s.port, "unlogged", 500);
    let writers = Writers::start(s.port);
    thread::sleep(Duration::from_millis(30));
    turn_on(&s, &mut c);
    set_many(s.port, "logged", 500);
    let acked = writers.stop();
    drop(s); // SIGKILL
    let s = kevy(dir.path(), "yes");
    for prefix in ["first", "unlogged", "logged"] {
        assert_eq!(count(s.port, prefix, 500), 500, "{prefix}");
    }
    check_writes(s.port, &acked);
}
