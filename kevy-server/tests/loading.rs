//! Serving while the data loads at start-up: clients get `-LOADING` for
//! what Redis refuses while loading, answers for what it allows (INFO,
//! CONFIG GET), INFO's loading fields, then the data. From a `dump.rdb`
//! and from the append-only log, each big enough (a million keys) that a
//! debug build takes seconds to load it. Real processes, real files.

mod common;

use common::{free_port, kevy_bin, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: usize = 1_000_000;

/// How long loading may take before a test gives up (a hang, not a
/// performance bound).
const PATIENCE: Duration = Duration::from_secs(300);

struct Proc {
    child: Child,
    port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts kevy in `dir` without waiting for it to answer PING (which it
/// refuses while loading, as Redis does).
fn start(dir: &Path, extra: &[&str]) -> Proc {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log");
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--cores",
        "2",
        "--dir",
        dir.to_str().expect("utf-8 dir"),
        "--save",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(kevy_bin())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("run kevy-server");
    Proc { child, port }
}

fn connect(port: u16) -> redis::Connection {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .expect("client")
            .get_connection();
        match c {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("cannot connect: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Whether `r` is Redis's -LOADING.
fn is_loading<T: std::fmt::Debug>(r: &redis::RedisResult<T>) -> bool {
    match r {
        Err(e) => {
            e.code() == Some("LOADING")
                && e.detail() == Some("Redis is loading the dataset in memory")
        }
        Ok(_) => false,
    }
}

/// Waits until the server answers PING (it has loaded its data).
fn wait_loaded(c: &mut redis::Connection) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r: redis::RedisResult<String> = redis::cmd("PING").query(c);
        if r.is_ok() {
            return;
        }
        assert!(is_loading(&r), "{r:?}");
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fill(c: &mut redis::Connection) {
    wait_loaded(c);
    let mut i = 0;
    while i < KEYS {
        let mut p = redis::pipe();
        for k in i..(i + 20_000).min(KEYS) {
            p.cmd("SET")
                .arg(format!("key:{k}"))
                .arg(format!("v{k}"))
                .ignore();
        }
        let () = p.query(c).expect("SETs");
        i += 20_000;
    }
}

/// `key-load-delay` (µs per key, as Redis's) for a restart whose load the
/// test must see in progress: a million keys take seconds on any build,
/// so a client starved of its core still finds the server loading.
const SLOW_LOAD: [&str; 2] = ["--key-load-delay", "4"];

/// Makes every acknowledged write of the log durable before a kill -9:
/// under `everysec` a write that waits behind a running fsync stays in
/// memory (as in Redis), and the kill is a crash. A write acknowledged
/// under `always` is on disk with everything before it in its shard's
/// log; rewriting 64 of the keys reaches every shard's.
fn durable(c: &mut redis::Connection) {
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("always")
        .query(c)
        .unwrap();
    for k in 0..64 {
        let () = redis::cmd("SET")
            .arg(format!("key:{k}"))
            .arg(format!("v{k}"))
            .query(c)
            .unwrap();
    }
}

fn info(c: &mut redis::Connection) -> std::collections::HashMap<String, String> {
    let text: String = redis::cmd("INFO")
        .arg("persistence")
        .query(c)
        .expect("INFO is answered while loading");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The server is loading: GET, SET and PING get Redis's -LOADING (PING
/// has no `loading` flag in Redis 7), INFO and CONFIG GET are answered,
/// and INFO shows the loading fields. Then the data is all there.
fn check_load(c: &mut redis::Connection, keys: usize) {
    for cmd in [
        redis::cmd("GET").arg("key:1").clone(),
        redis::cmd("SET").arg("x").arg("y").clone(),
        redis::cmd("PING").clone(),
        redis::cmd("DBSIZE").clone(),
    ] {
        let r: redis::RedisResult<Option<String>> = cmd.query(c);
        assert!(is_loading(&r), "{r:?}");
    }
    let i = info(c);
    assert_eq!(i["loading"], "1", "{i:?}");
    assert_eq!(i["async_loading"], "0");
    for f in [
        "loading_start_time",
        "loading_total_bytes",
        "loading_rdb_used_mem",
        "loading_loaded_bytes",
        "loading_eta_seconds",
    ] {
        let v: u64 = i
            .get(f)
            .unwrap_or_else(|| panic!("INFO has no {f}: {i:?}"))
            .parse()
            .expect("a number");
        if f == "loading_total_bytes" || f == "loading_start_time" {
            assert!(v > 0, "{f} is {v}");
        }
    }
    let perc: f64 = i["loading_loaded_perc"].parse().expect("a number");
    assert!((0.0..=100.0).contains(&perc));
    let hz: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query(c)
        .expect("CONFIG GET while loading");
    assert_eq!(hz[0], "hz");
    // Wait for the load, then everything is there.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("key:1").query(c);
        match r {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some("v1"));
                break;
            }
            Err(e) => assert!(is_loading::<()>(&Err(e))),
        }
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(50));
    }
    let n: usize = redis::cmd("DBSIZE").query(c).unwrap();
    assert_eq!(n, keys);
    let last: String = redis::cmd("GET")
        .arg(format!("key:{}", KEYS - 1))
        .query(c)
        .unwrap();
    assert_eq!(last, format!("v{}", KEYS - 1));
    let pong: String = redis::cmd("PING").query(c).unwrap();
    assert_eq!(pong, "PONG");
    let i = info(c);
    assert_eq!(i["loading"], "0");
    assert!(!i.contains_key("loading_total_bytes"));
}

#[test]
fn serves_while_loading_the_rdb() {
    let dir = TempDir::new("loading-rdb");
    {
        let p = start(dir.path(), &[]);
        let mut c = connect(p.port);
        fill(&mut c);
        let () = redis::cmd("SAVE").query(&mut c).unwrap();
    }
    let p = start(dir.path(), &SLOW_LOAD);
    let mut c = connect(p.port);
    check_load(&mut c, KEYS);
    let i = info(&mut c);
    assert_eq!(i["rdb_last_load_keys_loaded"], KEYS.to_string());
}

#[test]
fn serves_while_loading_the_log() {
    let dir = TempDir::new("loading-aof");
    {
        let p = start(dir.path(), &["--appendonly", "yes"]);
        let mut c = connect(p.port);
        fill(&mut c);
        durable(&mut c);
        // kill -9 when `p` drops: the log alone holds the data.
    }
    let slow_log = [&SLOW_LOAD[..], &["--appendonly", "yes"]].concat();
    let p = start(dir.path(), &slow_log);
    let mut c = connect(p.port);
    check_load(&mut c, KEYS);
    // Writes after the load go to the log.
    let () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut c)
        .unwrap();
    durable(&mut c);
    drop(c);
    drop(p);
    let p = start(dir.path(), &slow_log);
    let mut c = connect(p.port);
    check_load(&mut c, KEYS + 1);
    let v: String = redis::cmd("GET").arg("after").query(&mut c).unwrap();
    assert_eq!(v, "1");
}

/// `appendfsync` changes at run time on every shard's log: writes after
/// `CONFIG SET appendfsync always`, and after switching back to `no`,
/// are acknowledged and survive a kill -9 (the process's, not the
/// machine's: this checks that every shard keeps logging across the
/// switches, not the fsync itself).
#[test]
fn appendfsync_changes_at_run_time() {
    let dir = TempDir::new("loading-fsync");
    {
        let p = start(dir.path(), &["--appendonly", "yes"]);
        let mut c = connect(p.port);
        wait_loaded(&mut c);
        for (policy, tag) in [("always", "a"), ("no", "n"), ("everysec", "e")] {
            let () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("appendfsync")
                .arg(policy)
                .query(&mut c)
                .unwrap();
            let got: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("appendfsync")
                .query(&mut c)
                .unwrap();
            assert_eq!(got, ["appendfsync", policy]);
            for k in 0..200 {
                let () = redis::cmd("SET")
                    .arg(format!("{tag}{k}"))
                    .arg(k)
                    .query(&mut c)
                    .unwrap();
            }
        }
        let bad: redis::RedisResult<()> = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendfsync")
            .arg("sometimes")
            .query(&mut c);
        assert!(bad.is_err());
        // `everysec` may keep its last writes in memory behind a running
        // fsync (as Redis does), and the kill below is a crash: a write
        // acknowledged under `always` is on disk with everything before it.
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendfsync")
            .arg("always")
            .query(&mut c)
            .unwrap();
        let () = redis::cmd("SET").arg("fence").arg(1).query(&mut c).unwrap();
    }
    let p = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = connect(p.port);
    wait_loaded(&mut c);
    let n: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 601);
    for tag in ["a", "n", "e"] {
        let v: i64 = redis::cmd("GET")
            .arg(format!("{tag}199"))
            .query(&mut c)
            .unwrap();
        assert_eq!(v, 199);
    }
}
