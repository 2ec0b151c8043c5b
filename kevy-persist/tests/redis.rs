//! Against a real Redis: a file kevy writes (two shard sections combined)
//! passes `redis-check-rdb` and loads into `redis-server` with the same
//! content and expiry times; a file `redis-server` writes, with every type
//! in its small and large encodings, LZF strings and TTLs, loads into kevy
//! with the same content. Skipped, saying why, when Redis is not installed.

mod common;

use common::*;
use kevy_persist::rdb::{self, Aux, Checksum};
use kevy_store::Store;
use redis::{Connection, Value as R};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn installed() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: redis-server is not installed");
    }
    ok
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kevy-rdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A redis-server on a free port, killed on drop.
struct Server {
    child: Child,
    con: Connection,
}

impl Server {
    fn start(dir: &Path, file: &str, extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.to_str().unwrap(),
            "--dbfilename",
            file,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        // Wait until it listens and has loaded the file (PING answers
        // LOADING until then). Readiness polling, not a timed assertion.
        for _ in 0..600 {
            if let Ok(mut con) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return Server { child, con };
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not come up on port {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bytes(v: R) -> Vec<u8> {
    match v {
        R::BulkString(b) => b,
        R::SimpleString(s) => s.into_bytes(),
        other => panic!("not a string: {other:?}"),
    }
}

fn array(v: R) -> Vec<Vec<u8>> {
    match v {
        R::Array(items) => items.into_iter().map(bytes).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Everything a client of `con` can read, as the tests' model.
fn redis_model(con: &mut Connection, dbs: usize) -> Model {
    let mut out = Model::new();
    for db in 0..dbs {
        redis::cmd("SELECT").arg(db).query::<()>(con).unwrap();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(con)
                .unwrap();
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for k in keys {
            let ty: String = redis::cmd("TYPE").arg(&k).query(con).unwrap();
            let q = |c: &str, con: &mut Connection| -> R {
                let mut cmd = redis::cmd(c);
                cmd.arg(&k);
                match c {
                    "LRANGE" | "ZRANGE" => {
                        cmd.arg(0).arg(-1);
                    }
                    _ => {}
                }
                if c == "ZRANGE" {
                    cmd.arg("WITHSCORES");
                }
                cmd.query(con).unwrap()
            };
            let v = match ty.as_str() {
                "string" => V::Str(bytes(q("GET", con))),
                "list" => V::List(array(q("LRANGE", con))),
                "set" => {
                    let mut m = array(q("SMEMBERS", con));
                    m.sort();
                    V::Set(m)
                }
                "hash" => {
                    let flat = array(q("HGETALL", con));
                    let mut p: Vec<_> = flat
                        .chunks(2)
                        .map(|c| (c[0].clone(), c[1].clone()))
                        .collect();
                    p.sort();
                    V::Hash(p)
                }
                "zset" => {
                    let flat = array(q("ZRANGE", con));
                    V::ZSet(
                        flat.chunks(2)
                            .map(|c| {
                                let s: f64 = std::str::from_utf8(&c[1]).unwrap().parse().unwrap();
                                (c[0].clone(), s.to_bits())
                            })
                            .collect(),
                    )
                }
                other => panic!("unexpected type {other}"),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(con).unwrap();
            out.insert((db, k), (v, (at >= 0).then_some(at as u64)));
        }
    }
    out
}

#[test]
fn redis_checks_and_loads_what_kevy_writes() {
    if !installed() {
        return;
    }
    let now = now_ms();
    let st = every_kind(now);
    // Two shards: every database appears in both sections.
    let mut shards = [Store::new(16), Store::new(16)];
    for db in 0..16 {
        for (k, e) in st.entries(db) {
            let s = &mut shards[k.len() % 2];
            s.set_now(now);
            s.db(db).put_entry(k, e.clone());
        }
    }
    let dir = scratch("to-redis");
    let mut parts = Vec::new();
    for s in &shards {
        let (path, f) = rdb::temp_file(&dir).unwrap();
        let mut w = rdb::SectionWriter::new(std::io::BufWriter::new(f));
        w.write_store(s).unwrap();
        w.into_inner().into_inner().unwrap().sync_all().unwrap();
        parts.push(path);
    }
    let aux = Aux::for_store(&st);
    rdb::save_file(&dir, "dump.rdb", |w| {
        let files: Vec<_> = parts
            .iter()
            .map(|p| std::fs::File::open(p).unwrap())
            .collect();
        rdb::combine(w, &aux, files).map(|_| ())
    })
    .unwrap();

    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );

    let mut srv = Server::start(&dir, "dump.rdb", &[]);
    let got = redis_model(&mut srv.con, 16);
    assert_eq!(got, model(&st, now));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kevy_loads_what_redis_writes() {
    if !installed() {
        return;
    }
    let dir = scratch("from-redis");
    // Small list nodes, so lists become quicklists of several listpacks.
    let mut srv = Server::start(&dir, "dump.rdb", &["--list-max-listpack-size", "4"]);
    let con = &mut srv.con;
    let far = now_ms() + 3_600_000;
    let run = |con: &mut Connection, args: &[&[u8]]| {
        let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query::<R>(con).unwrap();
    };
    let s = |x: &str| x.as_bytes().to_vec();
    let select =
        |con: &mut Connection, db: usize| redis::cmd("SELECT").arg(db).query::<()>(con).unwrap();
    select(con, 0);
    for (k, v) in [
        ("i8", "12"),
        ("i16", "-3000"),
        ("i32", "100000"),
        ("i64", "12345678901234"),
        ("txt", "hello"),
        ("neg", "-0"),
    ] {
        run(con, &[b"SET", k.as_bytes(), v.as_bytes()]);
    }
    // Compressible (LZF) and incompressible long strings, a binary key.
    let long = "abcdefgh".repeat(500);
    run(con, &[b"SET", b"lzf", long.as_bytes()]);
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    run(con, &[b"SET", b"noise", &noise]);
    run(con, &[b"SET", b"bin\x00\xffkey", b"\x00\x01"]);
    run(con, &[b"PEXPIREAT", b"txt", far.to_string().as_bytes()]);
    select(con, 1);
    run(con, &[b"RPUSH", b"list:small", b"a", b"1", b"-5"]);
    let mut big: Vec<Vec<u8>> = vec![s("RPUSH"), s("list:big")];
    big.extend((0..1000).map(|i| format!("e{i}").into_bytes()));
    big.extend([long.as_bytes().to_vec(), vec![b'z'; 9000]]);
    run(con, &big.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    select(con, 2);
    run(con, &[b"SADD", b"set:int", b"1", b"2", b"-70000"]);
    run(con, &[b"SADD", b"set:small", b"a", b"b", b"1"]);
    let mut big: Vec<Vec<u8>> = vec![s("SADD"), s("set:big")];
    big.extend((0..1000).map(|i| format!("m{i}").into_bytes()));
    run(con, &big.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    let mut big: Vec<Vec<u8>> = vec![s("SADD"), s("set:bigint")];
    big.extend((0..1000).map(|i| i.to_string().into_bytes()));
    run(con, &big.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    select(con, 3);
    run(con, &[b"HSET", b"hash:small", b"f", b"v", b"n", b"42"]);
    let mut big: Vec<Vec<u8>> = vec![s("HSET"), s("hash:big")];
    for i in 0..1000 {
        big.push(format!("f{i}").into_bytes());
        big.push(format!("v{i}").into_bytes());
    }
    run(con, &big.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    run(con, &[b"HSET", b"hash:longval", b"f", &[b'v'; 100]]);
    run(
        con,
        &[b"PEXPIREAT", b"hash:big", (far + 7).to_string().as_bytes()],
    );
    select(con, 4);
    run(
        con,
        &[
            b"ZADD",
            b"zset:small",
            b"1.5",
            b"a",
            b"-inf",
            b"b",
            b"+inf",
            b"c",
            b"3",
            b"d",
            b"0.1",
            b"e",
        ],
    );
    let mut big: Vec<Vec<u8>> = vec![s("ZADD"), s("zset:big")];
    for i in 0..1000 {
        big.push(format!("{}", i as f64 / 7.0).into_bytes());
        big.push(format!("m{i}").into_bytes());
    }
    big.extend([
        s("inf"),
        s("top"),
        s("1e300"),
        s("huge"),
        s("5e-324"),
        s("tiny"),
    ]);
    run(con, &big.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    for db in 5..16 {
        select(con, db);
        run(con, &[b"SET", format!("db{db}").as_bytes(), b"x"]);
    }
    // Check the encodings are the ones meant.
    select(con, 1);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("list:big")
        .query(con)
        .unwrap();
    assert_eq!(enc, "quicklist");
    select(con, 4);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("zset:big")
        .query(con)
        .unwrap();
    assert_eq!(enc, "skiplist");

    redis::cmd("SAVE").query::<()>(con).unwrap();
    let want = redis_model(con, 16);
    drop(srv);
    load_and_compare(&dir, Checksum::Verified, &want);
    // The same data written with `rdbchecksum no` (settable only at start).
    let mut srv = Server::start(&dir, "dump.rdb", &["--rdbchecksum", "no"]);
    redis::cmd("SAVE").query::<()>(&mut srv.con).unwrap();
    drop(srv);
    load_and_compare(&dir, Checksum::Disabled, &want);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn load_and_compare(dir: &Path, sum: Checksum, want: &Model) {
    let now = now_ms();
    let mut st = Store::new(16);
    st.set_now(now);
    let f = std::fs::File::open(dir.join("dump.rdb")).unwrap();
    let size = f.metadata().unwrap().len();
    let info = rdb::load_into(&mut st, f, size).unwrap();
    assert_eq!(info.checksum, sum);
    assert_eq!(info.version, 10);
    assert_eq!(&model(&st, now), want);
}
