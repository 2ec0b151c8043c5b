//! The append-only log's rewrite end to end: BGREWRITEAOF while clients
//! write (cross-shard MSETs included), kill -9 and restart, kills at
//! random moments of a rewrite, the files a rewrite leaves, the automatic
//! rewrite, and INFO's `aof_*` fields. Real processes, real files, real
//! fsync (`appendfsync always` where a kill must lose nothing acknowledged).

mod common;

use common::{Server, TempDir};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a rewrite may take before a test gives up (a hang, not a
/// performance bound).
const PATIENCE: Duration = Duration::from_secs(60);

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

fn kevy_aof(dir: &Path, cores: &str, extra: &[&str]) -> Server {
    let d = dir.to_str().expect("utf-8 dir");
    let mut args = vec![
        "--cores",
        cores,
        "--dir",
        d,
        "--save",
        "",
        "--appendonly",
        "yes",
    ];
    args.extend_from_slice(extra);
    Server::kevy(&args)
}

fn info(c: &mut redis::Connection) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(c: &mut redis::Connection, name: &str) -> i64 {
    let i = info(c);
    i.get(name)
        .unwrap_or_else(|| panic!("INFO has no {name}: {i:?}"))
        .parse()
        .unwrap()
}

fn bgrewriteaof(c: &mut redis::Connection) {
    let r: String = redis::cmd("BGREWRITEAOF").query(c).unwrap();
    assert_eq!(r, "Background append only file rewriting started");
}

/// Waits until `aof_rewrites` reaches `n` and no rewrite runs.
fn wait_rewrites(c: &mut redis::Connection, n: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let i = info(c);
        if i["aof_rewrite_in_progress"] == "0" && i["aof_rewrites"].parse::<i64>().unwrap() >= n {
            assert_eq!(i["aof_last_bgrewrite_status"], "ok", "{i:?}");
            return;
        }
        assert!(Instant::now() < deadline, "no rewrite finished: {i:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The files of the log directory, by name, with their sizes.
fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

/// What the writers acknowledged: the last INCR reply of each counter, and
/// the last MSET value of each triple.
struct Acked {
    counters: Vec<AtomicU64>,
    msets: Vec<AtomicU64>,
}

/// Writers that run until `stop` or until the server goes away: one per
/// counter key (INCR), and one per MSET triple whose three keys live on
/// different shards and are always set to one value.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Acked>,
    threads: Vec<thread::JoinHandle<()>>,
}

const COUNTERS: usize = 2;
const TRIPLES: usize = 2;

fn triple(t: usize) -> [String; 3] {
    [format!("ma{t}"), format!("mb{t}"), format!("mc{t}")]
}

impl Writers {
    fn start(port: u16) -> Writers {
        Writers::start_from(
            port,
            Acked {
                counters: (0..COUNTERS).map(|_| AtomicU64::new(0)).collect(),
                msets: (0..TRIPLES).map(|_| AtomicU64::new(0)).collect(),
            },
        )
    }

    /// Writers continuing from values a server holds (the MSET values go
    /// on from there; INCR's replies say where the counters are).
    fn start_from(port: u16, from: Acked) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(from);
        let mut threads = Vec::new();
        for k in 0..COUNTERS {
            let (stop, acked) = (stop.clone(), acked.clone());
            threads.push(thread::spawn(move || {
                let mut c = client(port);
                while !stop.load(SeqCst) {
                    match redis::cmd("INCR").arg(format!("n{k}")).query::<u64>(&mut c) {
                        Ok(v) => acked.counters[k].store(v, SeqCst),
                        Err(_) => return,
                    }
                }
            }));
        }
        for t in 0..TRIPLES {
            let (stop, acked) = (stop.clone(), acked.clone());
            threads.push(thread::spawn(move || {
                let mut c = client(port);
                let mut v = acked.msets[t].load(SeqCst);
                while !stop.load(SeqCst) {
                    v += 1;
                    let mut cmd = redis::cmd("MSET");
                    for k in triple(t) {
                        cmd.arg(k).arg(v);
                    }
                    match cmd.query::<()>(&mut c) {
                        Ok(()) => acked.msets[t].store(v, SeqCst),
                        Err(_) => return,
                    }
                }
            }));
        }
        Writers {
            stop,
            acked,
            threads,
        }
    }

    /// Lets every writer finish its command in flight and stop.
    fn stop(self) -> Arc<Acked> {
        self.stop.store(true, SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        self.acked
    }
}

/// Checks a restarted server against what was acknowledged: every counter
/// at least its last acknowledged value, every MSET triple whole (its three
/// keys equal) and at least its last acknowledged value. Returns the
/// recovered values, to continue from.
fn check_recovered(port: u16, acked: &Acked) -> (Vec<u64>, Vec<u64>) {
    let mut c = client(port);
    let mut counters = Vec::new();
    for (k, a) in acked.counters.iter().enumerate() {
        let got: Option<u64> = redis::cmd("GET")
            .arg(format!("n{k}"))
            .query(&mut c)
            .unwrap();
        let got = got.unwrap_or(0);
        assert!(
            got >= a.load(SeqCst),
            "counter n{k}: {got} after restart, {} acknowledged",
            a.load(SeqCst)
        );
        counters.push(got);
    }
    let mut msets = Vec::new();
    for (t, a) in acked.msets.iter().enumerate() {
        let got: Vec<Option<u64>> = redis::cmd("MGET").arg(&triple(t)).query(&mut c).unwrap();
        assert!(
            got.iter().all(|v| *v == got[0]),
            "MSET triple {t} not whole after restart: {got:?}"
        );
        let v = got[0].unwrap_or(0);
        assert!(
            v >= a.load(SeqCst),
            "MSET triple {t}: {v} after restart, {} acknowledged",
            a.load(SeqCst)
        );
        msets.push(v);
    }
    (counters, msets)
}

/// Fills the keyspace so that a snapshot takes many loop iterations.
fn preload(port: u16, n: usize) {
    let mut c = client(port);
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET")
            .arg(format!("pre{i}"))
            .arg(format!("value-{i}"))
            .ignore();
    }
    p.query::<()>(&mut c).unwrap();
}

#[test]
fn rewrite_while_writing_then_kill_keeps_everything_acknowledged() {
    let dir = TempDir::new("aof-rw-load");
    let s = kevy_aof(dir.path(), "3", &["--appendfsync", "always"]);
    preload(s.port, 5000);
    let writers = Writers::start(s.port);
    let mut c = client(s.port);
    for n in 1..=3 {
        thread::sleep(Duration::from_millis(50));
        bgrewriteaof(&mut c);
        wait_rewrites(&mut c, n);
    }
    thread::sleep(Duration::from_millis(50));
    let acked = writers.stop();
    let before: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    drop(s); // SIGKILL
    let s = kevy_aof(dir.path(), "3", &["--appendfsync", "always"]);
    let (counters, msets) = check_recovered(s.port, &acked);
    // Writers had stopped: recovery holds exactly what they were told.
    for (k, a) in acked.counters.iter().enumerate() {
        assert_eq!(counters[k], a.load(SeqCst), "counter n{k}");
    }
    for (t, a) in acked.msets.iter().enumerate() {
        assert_eq!(msets[t], a.load(SeqCst), "MSET triple {t}");
    }
    let after: i64 = redis::cmd("DBSIZE").query(&mut client(s.port)).unwrap();
    assert_eq!(after, before);
    assert!(counters.iter().all(|&v| v > 0), "the writers wrote");
}

#[test]
fn a_rewrite_leaves_one_base_and_one_incr_per_shard_and_a_smaller_log() {
    let dir = TempDir::new("aof-rw-files");
    let s = kevy_aof(dir.path(), "3", &[]);
    let mut c = client(s.port);
    assert_eq!(field(&mut c, "aof_enabled"), 1);
    assert_eq!(field(&mut c, "aof_rewrites"), 0);
    assert_eq!(field(&mut c, "aof_last_rewrite_time_sec"), -1);
    assert_eq!(field(&mut c, "aof_current_rewrite_time_sec"), -1);
    // Many overwrites of few keys: the log is much larger than the data.
    let mut p = redis::pipe();
    for i in 0..3000 {
        p.cmd("SET").arg(format!("k{}", i % 20)).arg(i).ignore();
        p.cmd("RPUSH").arg("list").arg(i).ignore();
        p.cmd("LPOP").arg("list").ignore();
    }
    p.cmd("MSET").arg("x").arg(1).arg("y").arg(2).ignore();
    p.query::<()>(&mut c).unwrap();
    let size_before = field(&mut c, "aof_current_size");
    let on_disk: u64 = files(dir.path()).iter().map(|f| f.1).sum();
    assert!(size_before > 0);
    bgrewriteaof(&mut c);
    wait_rewrites(&mut c, 1);
    let i = info(&mut c);
    assert_eq!(i["aof_rewrites"], "1");
    assert_eq!(i["aof_rewrites_consecutive_failures"], "0");
    assert!(i["aof_last_rewrite_time_sec"].parse::<i64>().unwrap() >= 0);
    assert!(i["aof_base_size"].parse::<i64>().unwrap() > 0);
    let size_after: i64 = i["aof_current_size"].parse().unwrap();
    assert!(
        size_after < size_before,
        "aof_current_size {size_before} -> {size_after}"
    );
    let listing = files(dir.path());
    for shard in 0..3 {
        let prefix = format!("appendonly.aof.s{shard}.");
        let mine: Vec<&str> = listing
            .iter()
            .map(|f| f.0.as_str())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        assert_eq!(mine.len(), 3, "shard {shard}: {mine:?}");
        assert!(mine.iter().any(|n| n.ends_with(".base.rdb")), "{mine:?}");
        assert!(mine.iter().any(|n| n.ends_with(".incr.kevy")), "{mine:?}");
        assert!(mine.iter().any(|n| n.ends_with(".manifest")), "{mine:?}");
    }
    assert_eq!(listing.len(), 9, "nothing else is left: {listing:?}");
    let total: u64 = listing.iter().map(|f| f.1).sum();
    assert!(total < on_disk, "{on_disk} bytes before, {total} after");
    // The base alone reproduces the data.
    drop(s);
    let s = kevy_aof(dir.path(), "3", &[]);
    let mut c = client(s.port);
    for k in 0..20 {
        let v: i64 = redis::cmd("GET")
            .arg(format!("k{k}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(v, 2980 + k);
    }
    let len: i64 = redis::cmd("LLEN").arg("list").query(&mut c).unwrap();
    assert_eq!(len, 0);
    let xy: Vec<i64> = redis::cmd("MGET").arg("x").arg("y").query(&mut c).unwrap();
    assert_eq!(xy, [1, 2]);
}

#[test]
fn a_rewrite_killed_at_random_moments_loses_nothing_acknowledged() {
    let dir = TempDir::new("aof-rw-kill");
    let args = ["--appendfsync", "always"];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut acked = Arc::new(Acked {
        counters: (0..COUNTERS).map(|_| AtomicU64::new(0)).collect(),
        msets: (0..TRIPLES).map(|_| AtomicU64::new(0)).collect(),
    });
    let s = kevy_aof(dir.path(), "3", &args);
    preload(s.port, 60_000);
    let mut s = Some(s);
    for round in 0..8 {
        let srv = s.take().unwrap_or_else(|| kevy_aof(dir.path(), "3", &args));
        let (counters, msets) = check_recovered(srv.port, &acked);
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut client(srv.port)).unwrap();
        assert!(dbsize >= 60_000, "round {round}: {dbsize} keys");
        // The writers continue from what survived.
        let fresh = Acked {
            counters: counters.into_iter().map(AtomicU64::new).collect(),
            msets: msets.into_iter().map(AtomicU64::new).collect(),
        };
        let writers = Writers::start_from(srv.port, fresh);
        thread::sleep(Duration::from_millis(next() % 30));
        bgrewriteaof(&mut client(srv.port));
        thread::sleep(Duration::from_millis(next() % 150));
        let during = field(&mut client(srv.port), "aof_rewrite_in_progress");
        eprintln!("round {round}: killed with a rewrite in progress: {during}");
        drop(srv); // SIGKILL, at some moment of the rewrite or after it
        acked = writers.stop();
    }
    let srv = kevy_aof(dir.path(), "3", &args);
    check_recovered(srv.port, &acked);
}

#[test]
fn the_automatic_rewrite_starts_past_the_minimum_size() {
    let dir = TempDir::new("aof-auto");
    let s = kevy_aof(
        dir.path(),
        "2",
        &[
            "--auto-aof-rewrite-min-size",
            "64kb",
            "--auto-aof-rewrite-percentage",
            "10",
        ],
    );
    let mut c = client(s.port);
    let small = redis::cmd("CONFIG")
        .arg("GET")
        .arg("auto-aof-rewrite-min-size")
        .query::<Vec<String>>(&mut c)
        .unwrap();
    assert_eq!(small[1], "65536");
    let mut p = redis::pipe();
    for i in 0..2000 {
        p.cmd("SET").arg("same").arg(format!("{i:0>64}")).ignore();
    }
    p.query::<()>(&mut c).unwrap();
    assert!(field(&mut c, "aof_current_size") > 65536);
    wait_rewrites(&mut c, 1);
    assert!(field(&mut c, "aof_current_size") < 65536);
    // Turned off, it stays off however the log grows.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("auto-aof-rewrite-percentage")
        .arg("0")
        .query(&mut c)
        .unwrap();
    p.query::<()>(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("same").query(&mut c).unwrap();
    assert_eq!(v, format!("{:0>64}", 1999));
    assert!(field(&mut c, "aof_current_size") > 65536);
}

#[test]
fn a_second_bgrewriteaof_while_one_runs_is_refused() {
    let dir = TempDir::new("aof-twice");
    let s = kevy_aof(dir.path(), "2", &[]);
    preload(s.port, 50_000);
    let mut c = client(s.port);
    // The second arrives while the first's snapshot is being written
    // (tens of thousands of keys take several loop turns).
    bgrewriteaof(&mut c);
    let err = redis::cmd("BGREWRITEAOF")
        .query::<String>(&mut c)
        .expect_err("the second is refused");
    assert!(
        err.to_string()
            .contains("Background append only file rewriting already in progress"),
        "{err}"
    );
    wait_rewrites(&mut c, 1);
    assert_eq!(field(&mut c, "aof_rewrites"), 1);
}

#[test]
fn bgrewriteaof_without_appendonly_is_refused() {
    let dir = TempDir::new("aof-off");
    let d = dir.path().to_str().unwrap();
    let s = Server::kevy(&["--cores", "2", "--dir", d, "--save", ""]);
    let mut c = client(s.port);
    let err = redis::cmd("BGREWRITEAOF")
        .query::<String>(&mut c)
        .expect_err("no log to rewrite");
    assert!(
        err.to_string()
            .contains("Can't execute an AOF background rewriting"),
        "{err}"
    );
    let i = info(&mut c);
    assert_eq!(i["aof_enabled"], "0");
    assert!(!i.contains_key("aof_current_size"));
}

/// Clients pipelining MSETs of the same two keys on two shards ride one
/// another's transactions (kevy-rt's crate doc, "Riders"), each logged
/// under the ridden transaction's tag: killed mid-stream, the restarted
/// server has both keys at one value some client sent; killed once every
/// write was acknowledged, it has exactly the last value.
#[test]
fn riders_on_hot_keys_recover_whole_after_a_kill() {
    // "foo" and "bar" lie on different shards of two (slots 12182, 5061).
    let (a, b) = ("foo", "bar");
    for mid_stream in [true, false] {
        let dir = TempDir::new("aof-riders");
        let s = kevy_aof(dir.path(), "2", &["--appendfsync", "always"]);
        let port = s.port;
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..8)
            .map(|c| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                        .and_then(|c| c.get_connection());
                    let mut con = match con {
                        Ok(con) => con,
                        // The kill may come before a client on a busy
                        // machine has connected: it sent nothing.
                        Err(_) if mid_stream => return 0,
                        Err(e) => panic!("connect: {e}"),
                    };
                    let mut n = 0u64;
                    for _ in 0..40 {
                        if stop.load(SeqCst) {
                            break;
                        }
                        let mut p = redis::pipe();
                        for _ in 0..16 {
                            let v = format!("c{c}.{n}");
                            n += 1;
                            p.cmd("MSET").arg(a).arg(&v).arg(b).arg(&v).ignore();
                        }
                        // A kill mid-stream cuts the connection.
                        if p.query::<()>(&mut con).is_err() {
                            break;
                        }
                    }
                    n
                })
            })
            .collect();
        let sent = if mid_stream {
            // Mid-stream: once the clients' writes have begun.
            let deadline = Instant::now() + PATIENCE;
            while mget(port, &[a])[0].is_none() {
                assert!(Instant::now() < deadline, "no client wrote");
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(30));
            drop(s); // SIGKILL while they write
            stop.store(true, SeqCst);
            let sent: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let s = kevy_aof(dir.path(), "2", &["--appendfsync", "always"]);
            let got = mget(s.port, &[a, b]);
            assert_eq!(got[0], got[1], "not whole after the restart: {got:?}");
            if let Some(v) = &got[0] {
                let (c, k) = v[1..].split_once('.').expect("a client's value");
                let (c, k): (usize, u64) = (c.parse().unwrap(), k.parse().unwrap());
                assert!(k < sent[c], "{v}: never sent");
            }
            sent
        } else {
            let sent: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let before = mget(port, &[a, b]);
            assert_eq!(before[0], before[1]);
            drop(s);
            let s = kevy_aof(dir.path(), "2", &["--appendfsync", "always"]);
            assert_eq!(
                mget(s.port, &[a, b]),
                before,
                "every write was acknowledged"
            );
            sent
        };
        assert!(sent.iter().sum::<u64>() > 0, "the clients wrote");
    }
}

fn mget(port: u16, keys: &[&str]) -> Vec<Option<String>> {
    redis::cmd("MGET")
        .arg(keys)
        .query(&mut client(port))
        .unwrap()
}
