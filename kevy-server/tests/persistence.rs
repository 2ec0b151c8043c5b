//! Snapshots end to end: SAVE, BGSAVE, save points, SHUTDOWN and SIGTERM
//! saving, loading at start-up (with another shard count, and files a real
//! redis-server wrote), against real files, `redis-check-rdb` and
//! `redis-server`. Tests needing the Redis tools skip (saying so) when they
//! are missing, unless they are required (`KEVY_SKIP_DIFF` unset in CI,
//! where they are installed).

mod common;

use common::{have_program, Server, TempDir};
use redis::Commands;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

fn kevy_in(dir: &Path, cores: &str, extra: &[&str]) -> Server {
    let d = dir.to_str().expect("utf-8 dir");
    let mut args = vec!["--cores", cores, "--dir", d];
    args.extend_from_slice(extra);
    Server::kevy(&args)
}

/// Every key of every database, with its type, contents and absolute
/// expiry, sorted: two servers hold the same data when their dumps are
/// equal.
fn dump(port: u16) -> Vec<String> {
    let mut c = client(port);
    let mut out = Vec::new();
    for db in 0..16 {
        redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        for k in keys {
            let ty: String = redis::cmd("TYPE").arg(&k).query(&mut c).unwrap();
            let v: redis::Value = match ty.as_str() {
                "string" => redis::cmd("GET").arg(&k).query(&mut c).unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .query(&mut c)
                    .unwrap(),
                "set" => redis::cmd("SORT")
                    .arg(&k)
                    .arg("ALPHA")
                    .query(&mut c)
                    .unwrap(),
                "hash" => {
                    let mut h: Vec<(Vec<u8>, Vec<u8>)> =
                        redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
                    h.sort();
                    redis::Value::Array(
                        h.into_iter()
                            .flat_map(|(f, v)| {
                                [redis::Value::BulkString(f), redis::Value::BulkString(v)]
                            })
                            .collect(),
                    )
                }
                "zset" => redis::cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(&mut c)
                    .unwrap(),
                other => panic!("unexpected type {other}"),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(&mut c).unwrap();
            out.push(format!(
                "{db} {} {ty} {v:?} {at}",
                String::from_utf8_lossy(&k)
            ));
        }
    }
    out.sort();
    out
}

/// Keys of every type and size, in several databases, with TTLs.
fn populate(port: u16) {
    let mut c = client(port);
    for db in [0, 3, 15] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
        for i in 0..300 {
            let _: () = c.set(format!("s{i}"), format!("value-{i}-{db}")).unwrap();
        }
        let _: () = c.set("int", 12345).unwrap();
        let _: () = c.set_ex("ttl", "soon", 1000).unwrap();
        let _: () = c.rpush("list", (0..10).collect::<Vec<_>>()).unwrap();
        let _: () = c.rpush("biglist", (0..2000).collect::<Vec<_>>()).unwrap();
        let _: () = c.sadd("ints", (0..20).collect::<Vec<_>>()).unwrap();
        let _: () = c
            .sadd(
                "words",
                (0..700).map(|i| format!("w{i}")).collect::<Vec<_>>(),
            )
            .unwrap();
        let _: () = c.hset_multiple("h", &[("a", "1"), ("b", "2")]).unwrap();
        let big: Vec<(String, String)> = (0..600)
            .map(|i| (format!("f{i}"), "x".repeat(i % 90)))
            .collect();
        let _: () = c.hset_multiple("bighash", &big).unwrap();
        let _: () = c.zadd_multiple("z", &[(1.5, "a"), (-2.0, "b")]).unwrap();
        let bigz: Vec<(f64, String)> = (0..300)
            .map(|i| (i as f64 / 3.0, format!("m{i}")))
            .collect();
        let _: () = c.zadd_multiple("bigz", &bigz).unwrap();
    }
}

/// Equal dumps, or the first difference (whole dumps are too long to read).
fn assert_same(got: &[String], want: &[String], what: &str) {
    let short = |s: &str| s.chars().take(300).collect::<String>();
    for (g, w) in got.iter().zip(want) {
        assert!(
            g == w,
            "{what}: first difference\n got  {}\n want {}",
            short(g),
            short(w)
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: key counts");
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn info_field(port: u16, field: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut client(port))
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} not in INFO"))
        .to_string()
}

fn bgsave_done(port: u16) {
    wait_for("the BGSAVE to end", || {
        info_field(port, "rdb_bgsave_in_progress") == "0"
    });
}

fn check_rdb(path: &Path) {
    if !have_program("redis-check-rdb") {
        eprintln!("redis-check-rdb not installed: skipping the file check");
        return;
    }
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
}

#[test]
fn save_then_restart_with_another_shard_count_loads_everything() {
    let dir = TempDir::new("save");
    let mut s = kevy_in(dir.path(), "2", &[]);
    populate(s.port);
    let before = dump(s.port);
    let last0: i64 = redis::cmd("LASTSAVE").query(&mut client(s.port)).unwrap();
    thread::sleep(Duration::from_millis(1100));
    let _: () = redis::cmd("SAVE").query(&mut client(s.port)).unwrap();
    let last1: i64 = redis::cmd("LASTSAVE").query(&mut client(s.port)).unwrap();
    assert!(last1 > last0, "LASTSAVE moves on a save");
    assert_eq!(info_field(s.port, "rdb_changes_since_last_save"), "0");
    check_rdb(&dir.path().join("dump.rdb"));
    // No save on the way out: the file holds what SAVE wrote.
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query(&mut client(s.port));
    s.wait_exit(Duration::from_secs(10)).expect("exits");
    for cores in ["1", "3"] {
        let mut t = kevy_in(dir.path(), cores, &["--save", ""]);
        assert_same(&dump(t.port), &before, &format!("--cores {cores}"));
        assert_eq!(
            info_field(t.port, "rdb_last_load_keys_loaded"),
            before.len().to_string()
        );
        t.terminate(Duration::from_secs(10)).expect("exits");
    }
}

#[test]
fn bgsave_writes_the_moment_it_started_while_writes_go_on() {
    let dir = TempDir::new("bgsave");
    let s = kevy_in(dir.path(), "2", &["--save", ""]);
    let mut c = client(s.port);
    let n = 20_000;
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.set(format!("k{i}"), "old").ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let started: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(started, "Background saving started");
    // Every key changes (and some go) right after the cut; none of it may
    // reach the file.
    let mut pipe = redis::pipe();
    for i in 0..n {
        if i % 7 == 0 {
            pipe.del(format!("k{i}")).ignore();
        } else {
            pipe.set(format!("k{i}"), "new").ignore();
        }
    }
    pipe.set("created-after", 1).ignore();
    pipe.query::<()>(&mut c).unwrap();
    bgsave_done(s.port);
    assert_eq!(info_field(s.port, "rdb_last_bgsave_status"), "ok");
    check_rdb(&dir.path().join("dump.rdb"));
    drop(s);
    let t = kevy_in(dir.path(), "1", &["--save", ""]);
    let mut c = client(t.port);
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, n as i64);
    let olds: Vec<Option<String>> = redis::cmd("MGET")
        .arg((0..n).map(|i| format!("k{i}")).collect::<Vec<_>>())
        .query(&mut c)
        .unwrap();
    assert!(olds.iter().all(|v| v.as_deref() == Some("old")));
}

#[test]
fn a_bgsave_never_splits_a_cross_shard_transaction() {
    let dir = TempDir::new("bgsave-tx");
    let s = kevy_in(dir.path(), "2", &["--save", ""]);
    // Keys on both shards, rewritten together by every MSET.
    let keys: Vec<String> = (0..8).map(|i| format!("pair-{i}")).collect();
    let port = s.port;
    let writer_keys = keys.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = thread::spawn(move || {
        let mut c = client(port);
        let mut g = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            g += 1;
            let pairs: Vec<(String, u64)> = writer_keys.iter().map(|k| (k.clone(), g)).collect();
            let _: () = c.mset(&pairs).unwrap();
        }
    });
    let mut c = client(port);
    for _ in 0..5 {
        let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
        bgsave_done(port);
        let t = kevy_in(dir.path(), "3", &["--save", ""]);
        let vals: Vec<Option<u64>> = client(t.port).mget(&keys).unwrap();
        assert!(
            vals.windows(2).all(|w| w[0] == w[1]),
            "one MSET's keys from different moments: {vals:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn sigterm_saves_with_save_points_and_not_without() {
    let dir = TempDir::new("sigterm");
    let mut s = kevy_in(dir.path(), "2", &[]);
    let _: () = client(s.port).set("k", "v").unwrap();
    let status = s
        .terminate(Duration::from_secs(20))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(s.output().contains("DB saved on disk"), "{}", s.output());
    let mut t = kevy_in(dir.path(), "1", &["--save", ""]);
    let v: Option<String> = client(t.port).get("k").unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let _: () = client(t.port).set("k", "changed").unwrap();
    t.terminate(Duration::from_secs(10)).expect("exits");
    let u = kevy_in(dir.path(), "1", &["--save", ""]);
    let v: Option<String> = client(u.port).get("k").unwrap();
    assert_eq!(
        v.as_deref(),
        Some("v"),
        "no save points: nothing saved on SIGTERM"
    );
}

#[test]
fn shutdown_save_and_nosave() {
    let dir = TempDir::new("shutdown");
    let mut s = kevy_in(dir.path(), "2", &["--save", ""]);
    let _: () = client(s.port).set("a", "1").unwrap();
    let r: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query(&mut client(s.port));
    assert!(r.is_err(), "the connection closes without a reply");
    s.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(!dir.path().join("dump.rdb").exists());
    let mut s = kevy_in(dir.path(), "2", &["--save", ""]);
    let _: () = client(s.port).set("a", "1").unwrap();
    let r: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("SAVE")
        .query(&mut client(s.port));
    assert!(r.is_err(), "the connection closes without a reply");
    s.wait_exit(Duration::from_secs(10)).expect("exits");
    check_rdb(&dir.path().join("dump.rdb"));
    let t = kevy_in(dir.path(), "2", &["--save", ""]);
    let v: Option<String> = client(t.port).get("a").unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    let mut c = client(t.port);
    let e = redis::cmd("SHUTDOWN")
        .arg("ABORT")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("No shutdown in progress."), "{e}");
}

#[test]
fn a_save_point_saves_by_itself() {
    let dir = TempDir::new("savepoint");
    let s = kevy_in(dir.path(), "2", &["--save", "1 2"]);
    let mut c = client(s.port);
    let _: () = c.set("x", 1).unwrap();
    thread::sleep(Duration::from_millis(1500));
    assert!(
        !dir.path().join("dump.rdb").exists(),
        "one change is below the save point"
    );
    let _: () = c.set("y", 2).unwrap();
    wait_for("a save point's BGSAVE", || {
        dir.path().join("dump.rdb").exists()
    });
    wait_for("the save to be counted", || {
        info_field(s.port, "rdb_saves") == "1"
    });
    let set: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, "OK");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["save", ""]);
}

#[test]
fn a_dump_written_by_redis_loads_into_kevy() {
    if !have_program("redis-server") {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    let dir = TempDir::new("from-redis");
    let mut r = Server::redis_in("redis-server", Some(dir.path())).expect("redis-server");
    populate(r.port);
    let from_redis = dump(r.port);
    let _: () = redis::cmd("SAVE").query(&mut client(r.port)).unwrap();
    r.terminate(Duration::from_secs(10));
    let k = kevy_in(dir.path(), "2", &["--save", ""]);
    assert_same(
        &dump(k.port),
        &from_redis,
        "kevy after loading Redis's file",
    );
}

#[test]
fn kevys_dump_loads_into_redis() {
    if !have_program("redis-server") {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    let dir = TempDir::new("to-redis");
    let k = kevy_in(dir.path(), "3", &["--save", ""]);
    populate(k.port);
    let from_kevy = dump(k.port);
    let _: () = redis::cmd("SAVE").query(&mut client(k.port)).unwrap();
    drop(k);
    let r = Server::redis_in("redis-server", Some(dir.path())).expect("redis-server");
    assert_same(&dump(r.port), &from_kevy, "redis after loading kevy's file");
}

#[test]
fn a_corrupt_dump_stops_start_up_with_the_reason() {
    let dir = TempDir::new("corrupt");
    let s = kevy_in(dir.path(), "1", &["--save", ""]);
    populate(s.port);
    let _: () = redis::cmd("SAVE").query(&mut client(s.port)).unwrap();
    drop(s);
    let path = dir.path().join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = Command::new(common::kevy_bin())
        .args(["--port", &common::free_port().to_string()])
        .args(["--dir", dir.path().to_str().unwrap(), "--save", ""])
        .output()
        .unwrap();
    // The log: standard output, as Redis's without a logfile.
    let err = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.to_lowercase().contains("fatal error loading the db") && err.contains("dump.rdb"),
        "{err}"
    );
    // Cut short, as a crash mid-copy would leave a file that was not renamed
    // into place: also refused.
    std::fs::write(&path, &bytes[..mid]).unwrap();
    let out = Command::new(common::kevy_bin())
        .args(["--port", &common::free_port().to_string()])
        .args(["--dir", dir.path().to_str().unwrap(), "--save", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(
        err.to_lowercase().contains("fatal error loading the db"),
        "{err}"
    );
}

// ---- the append-only log under kill -9 ------------------------------------------------

/// What one writer saw acknowledged: each counter's last value, and each
/// generation written to its group.
type Acked = (Vec<(String, i64)>, Vec<(Vec<String>, i64)>);

/// Writers on many connections, keys on every shard: counters (INCR, each
/// acknowledged value remembered) and groups of keys rewritten together by
/// one MSET or one MULTI/EXEC with a generation number. Returns when
/// `stop` is set or the server dies.
fn crash_writers(
    port: u16,
    writers: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<thread::JoinHandle<Acked>> {
    (0..writers)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut counters: Vec<(String, i64)> =
                    (0..4).map(|i| (format!("ctr:{w}:{i}"), 0)).collect();
                let group: Vec<String> = (0..6).map(|i| format!("grp:{w}:{i}")).collect();
                let mut acked_gen = Vec::new();
                let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
                    return (counters, acked_gen);
                };
                let Ok(mut c) = client.get_connection() else {
                    return (counters, acked_gen);
                };
                let mut gen: i64 = redis::cmd("GET")
                    .arg(&group[0])
                    .query::<Option<i64>>(&mut c)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                for (k, v) in counters.iter_mut() {
                    *v = redis::cmd("GET")
                        .arg(&*k)
                        .query::<Option<i64>>(&mut c)
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                }
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let r: redis::RedisResult<()> = if i.is_multiple_of(3) {
                        gen += 1;
                        let pairs: Vec<(String, i64)> =
                            group.iter().map(|k| (k.clone(), gen)).collect();
                        if i.is_multiple_of(2) {
                            c.mset(&pairs)
                        } else {
                            let mut p = redis::pipe();
                            p.atomic();
                            for (k, v) in &pairs {
                                p.set(k, v).ignore();
                            }
                            p.query(&mut c)
                        }
                        .map(|()| acked_gen.push((group.clone(), gen)))
                    } else {
                        let slot = i % counters.len();
                        let k = counters[slot].0.clone();
                        c.incr::<_, _, i64>(&k, 1).map(|v| counters[slot].1 = v)
                    };
                    if r.is_err() {
                        break;
                    }
                }
                (counters, acked_gen)
            })
        })
        .collect()
}

/// Kill -9 at random moments while writers run; after every restart (with
/// another shard count each time) every acknowledged write is there and
/// every group holds one generation.
/// `strict`: nothing acknowledged may be missing (under `everysec` a write
/// may wait in memory behind a running fsync and be lost, as in Redis:
/// only transactions' wholeness is checked then).
fn kill_rounds(fsync: &str, rounds: usize, strict: bool) {
    let dir = TempDir::new(&format!("crash-{fsync}"));
    let cores = ["2", "3", "1"];
    let mut seed = 0x9e37_79b9_u64 ^ u64::from(std::process::id());
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut acked: Vec<(String, i64)> = Vec::new();
    let mut acked_groups: std::collections::HashMap<String, i64> = Default::default();
    for round in 0..rounds {
        let c = cores[round % cores.len()];
        let mut s = kevy_in(
            dir.path(),
            c,
            &["--appendonly", "yes", "--appendfsync", fsync, "--save", ""],
        );
        // What survived the last crash.
        let mut con = client(s.port);
        for (k, v) in &acked {
            let got: Option<i64> = con.get(k).unwrap();
            assert!(
                !strict || got.unwrap_or(0) >= *v,
                "round {round}: {k} acknowledged {v}, found {got:?}"
            );
        }
        for (g, gen) in &acked_groups {
            let keys: Vec<String> = (0..6).map(|i| format!("{g}:{i}")).collect();
            let vals: Vec<Option<i64>> = con.mget(&keys).unwrap();
            assert!(
                vals.windows(2).all(|w| w[0] == w[1]),
                "round {round}: group {g} split: {vals:?}"
            );
            assert!(
                !strict || vals[0].unwrap_or(0) >= *gen,
                "round {round}: group {g} acknowledged {gen}, found {vals:?}"
            );
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers = crash_writers(s.port, 6, stop.clone());
        thread::sleep(Duration::from_millis(100 + next() % 400));
        // SAFETY-free: a plain signal to the child.
        let _ = Command::new("kill")
            .args(["-9", &s.pid().to_string()])
            .status();
        s.wait_exit(Duration::from_secs(10)).expect("killed");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        acked.clear();
        let mut ops = 0;
        for h in writers {
            let (counters, groups) = h.join().unwrap();
            ops += counters.iter().map(|(_, v)| *v).sum::<i64>() + groups.len() as i64;
            acked.extend(counters);
            for (keys, gen) in groups {
                let g = keys[0].rsplit_once(':').unwrap().0.to_string();
                let e = acked_groups.entry(g).or_insert(0);
                *e = (*e).max(gen);
            }
        }
        assert!(ops > 0, "round {round}: the writers wrote nothing");
    }
}

#[test]
fn kill_nine_with_appendfsync_always_loses_nothing_acknowledged() {
    kill_rounds("always", 6, true);
}

#[test]
fn kill_nine_with_appendfsync_everysec_keeps_transactions_whole() {
    kill_rounds("everysec", 4, false);
}

#[test]
fn a_torn_log_tail_is_cut_and_a_damaged_middle_stops_start_up() {
    let dir = TempDir::new("aof-damage");
    let aof = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    let s = kevy_in(dir.path(), "1", &aof);
    let mut c = client(s.port);
    for i in 0..200 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    drop(s);
    let log = dir
        .path()
        .join("appendonlydir/appendonly.aof.s0.1.incr.kevy");
    let bytes = std::fs::read(&log).unwrap();
    // A crash in the middle of the last record: loading cuts it.
    std::fs::write(&log, &bytes[..bytes.len() - 3]).unwrap();
    let t = kevy_in(dir.path(), "1", &aof);
    let n: i64 = redis::cmd("DBSIZE").query(&mut client(t.port)).unwrap();
    assert_eq!(n, 199, "the torn last SET is gone, the rest is there");
    let _: () = client(t.port).set("after", 1).unwrap();
    drop(t);
    let t = kevy_in(dir.path(), "1", &aof);
    let v: Option<i64> = client(t.port).get("after").unwrap();
    assert_eq!(v, Some(1), "writes after the cut survive the next start");
    drop(t);
    // A damaged record with good ones after it: start-up refuses, naming
    // the file and the offset.
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[40] ^= 0x55;
    std::fs::write(&log, &bytes).unwrap();
    let out = Command::new(common::kevy_bin())
        .args(["--port", &common::free_port().to_string()])
        .args(["--dir", dir.path().to_str().unwrap()])
        .args(aof)
        .output()
        .unwrap();
    // The log: standard output, as Redis's without a logfile.
    let err = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("appendonly.aof.s0.1.incr.kevy") && err.contains("offset"),
        "{err}"
    );
    // Asked to, kevy loads up to the damage and drops what follows it.
    let mut with = aof.to_vec();
    with.extend(["--aof-load-corrupt", "yes"]);
    let t = kevy_in(dir.path(), "1", &with);
    let n: i64 = redis::cmd("DBSIZE").query(&mut client(t.port)).unwrap();
    assert!(n < 199, "what follows the damage is gone: {n} keys");
}

#[test]
fn rdbchecksum_no_writes_a_zero_checksum_that_loads() {
    let dir = TempDir::new("nochecksum");
    let s = kevy_in(dir.path(), "2", &["--save", ""]);
    populate(s.port);
    let before = dump(s.port);
    let mut c = client(s.port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rdbchecksum")
        .arg("no")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    drop(s);
    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    assert_eq!(&bytes[bytes.len() - 8..], &[0u8; 8], "no checksum written");
    check_rdb(&dir.path().join("dump.rdb"));
    let t = kevy_in(dir.path(), "1", &["--save", ""]);
    assert_same(&dump(t.port), &before, "reloaded without a checksum");
}
