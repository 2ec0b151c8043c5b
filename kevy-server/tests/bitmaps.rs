//! Bitmap writes through the append-only log: SETBIT, BITFIELD and BITOP
//! (on one shard and across shards) are logged as they take effect, so a
//! server killed with SIGKILL and restarted (with another shard count)
//! holds the same strings; and a write that changed nothing leaves the
//! log alone.

mod common;

use common::{Server, TempDir};
use std::path::Path;

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

fn kevy_aof(dir: &Path, cores: &str) -> Server {
    let d = dir.to_str().expect("utf-8 dir");
    Server::kevy(&[
        "--cores",
        cores,
        "--dir",
        d,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ])
}

fn run(c: &mut redis::Connection, line: &str) -> redis::Value {
    let mut parts = line.split_whitespace();
    let mut cmd = redis::cmd(parts.next().expect("a command"));
    for a in parts {
        cmd.arg(a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Every key's string (or its absence) and TTL state.
fn state(c: &mut redis::Connection, keys: &[&str]) -> Vec<(Option<Vec<u8>>, i64)> {
    keys.iter()
        .map(|k| {
            let v: Option<Vec<u8>> = redis::cmd("GET").arg(*k).query(c).unwrap();
            let ttl: i64 = redis::cmd("TTL").arg(*k).query(c).unwrap();
            (v, ttl.min(0))
        })
        .collect()
}

fn aof_size(c: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("aof_current_size:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no aof_current_size in {text}"))
}

#[test]
fn bit_writes_replay_from_the_log_after_a_kill() {
    let dir = TempDir::new("bitmaps-aof");
    let keys = [
        "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "{a}x", "{a}y", "{a}d", "nf",
    ];
    let script = [
        "SETBIT k1 7 1",
        "SETBIT k1 1000 1",
        "SETBIT k1 1000 0",
        "SET k2 foobar",
        "EXPIRE k2 1000",
        "SETBIT k2 0 1",
        "BITFIELD k3 SET i8 0 -5 INCRBY u4 12 7 OVERFLOW SAT INCRBY i8 0 -200",
        "BITFIELD k3 OVERFLOW FAIL INCRBY u2 0 9 SET u8 #3 65",
        "BITFIELD nf OVERFLOW FAIL INCRBY u2 100 5",
        "SET k4 12345",
        "BITOP AND k5 k1 k2 k3",
        "BITOP OR k6 k2 k4 missing",
        "BITOP NOT k7 k2",
        "SET k8 gone",
        "BITOP XOR k8 missing1 missing2",
        "SET {a}x abc",
        "SET {a}y xyz",
        "BITOP XOR {a}d {a}x {a}y",
        "BITOP OR {a}x {a}x {a}d",
    ];
    let want = {
        let kevy = kevy_aof(dir.path(), "2");
        let mut c = client(kevy.port);
        for line in script {
            run(&mut c, line);
        }
        // Writes that change no bit are not logged.
        let before = aof_size(&mut c);
        run(&mut c, "SETBIT k1 7 1");
        run(&mut c, "BITFIELD k3 SET u8 #3 65 GET u8 0");
        run(&mut c, "BITOP AND {a}none {a}none2");
        assert_eq!(aof_size(&mut c), before, "a write that changes nothing");
        let want = state(&mut c, &keys);
        // Dropping the server kills it with SIGKILL.
        drop(kevy);
        want
    };
    assert_eq!(want[11].0.as_deref().map(<[u8]>::len), Some(13), "nf");
    assert_eq!(want[1].1, 0, "k2 keeps its TTL");
    let kevy = kevy_aof(dir.path(), "3");
    let mut c = client(kevy.port);
    assert_eq!(state(&mut c, &keys), want);
}
