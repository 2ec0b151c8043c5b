//! End-to-end tests of the kevy-server binary over real sockets: the `redis`
//! crate, redis-cli, raw bytes that a well-behaved client would never send,
//! and the process's own contract (flags, port in use, SIGTERM).
//!
//! Every test starts its own server with `--cores 2`, so keys spread over
//! two shards and cross-shard paths run. Tests that abuse a connection end
//! by checking that a separate, healthy client is still served.
//! Tests that need redis-cli fail when it is missing, unless
//! `KEVY_SKIP_DIFF=1`.

mod common;

use common::resp::{Conn, Value};
use common::{kevy_bin, wait_timeout, Server};
use redis::Commands;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

const CORES: &str = "2";

fn server() -> Server {
    Server::kevy(&["--cores", CORES])
}

fn client(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let con = c
        .get_connection_with_timeout(Duration::from_secs(10))
        .expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    con
}

fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes the connection (or 10 s pass); returns the
/// bytes and whether it closed.
fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// The server is alive and serves a new client normally.
fn assert_healthy(server: &mut Server) {
    assert!(
        server.exited().is_none(),
        "server exited: {:?}\n{}",
        server.exited(),
        server.output()
    );
    let mut con = client(server.port);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = con.set("healthy-check", "yes").unwrap();
    let v: String = con.get("healthy-check").unwrap();
    assert_eq!(v, "yes");
}

fn expect_error_then_close(port: u16, send: &[u8], error: &str) {
    let mut s = raw(port);
    s.write_all(send).unwrap();
    let (got, closed) = read_to_close(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("-{error}\r\n"),
        "reply to {:?}",
        String::from_utf8_lossy(send)
    );
    assert!(closed, "connection left open after {error}");
}

// ---------------------------------------------------------------------------
// Real clients

#[test]
fn redis_crate_basic_commands() {
    let s = server();
    let mut con = client(s.port);
    let _: () = con.set("k", "v").unwrap();
    assert_eq!(con.get::<_, String>("k").unwrap(), "v");
    assert_eq!(con.get::<_, Option<String>>("missing").unwrap(), None);
    assert_eq!(con.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(con.decr::<_, _, i64>("n", 2).unwrap(), 3);
    assert_eq!(con.append::<_, _, i64>("k", "w").unwrap(), 2);
    assert_eq!(con.strlen::<_, i64>("k").unwrap(), 2);
    let _: () = con
        .mset(&[("k1", "a"), ("k2", "b"), ("k3", "c"), ("k4", "d")])
        .unwrap();
    let got: Vec<Option<String>> = con.mget(&["k1", "k2", "k5", "k3", "k4"]).unwrap();
    assert_eq!(
        got,
        vec![
            Some("a".into()),
            Some("b".into()),
            None,
            Some("c".into()),
            Some("d".into())
        ]
    );
    assert_eq!(con.exists::<_, i64>(&["k1", "k2", "k9"]).unwrap(), 2);
    assert_eq!(con.del::<_, i64>(&["k1", "k2", "k9"]).unwrap(), 2);
    assert!(con.expire::<_, bool>("k3", 100).unwrap());
    assert_eq!(con.ttl::<_, i64>("k3").unwrap(), 100);
    assert!(con.persist::<_, bool>("k3").unwrap());
    assert_eq!(con.ttl::<_, i64>("k3").unwrap(), -1);
    let _: () = con.rename("k3", "k30").unwrap();
    assert_eq!(con.get::<_, String>("k30").unwrap(), "c");
    let f: f64 = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("1.5")
        .query(&mut con)
        .unwrap();
    assert_eq!(f, 1.5);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 5, "k, n, k4, k30, f");
    let err = redis::cmd("NOSUCHCOMMAND")
        .arg("a")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
}

#[test]
fn redis_crate_resp3_and_databases() {
    let s = server();
    let c = redis::Client::open(format!("redis://127.0.0.1:{}/3?protocol=resp3", s.port)).unwrap();
    let mut con = c
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _: () = con.set("k", "in-db-3").unwrap();
    assert_eq!(con.get::<_, Option<String>>("missing").unwrap(), None);
    let mut db0 = client(s.port);
    assert_eq!(db0.get::<_, Option<String>>("k").unwrap(), None);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut db0).unwrap();
    assert_eq!(db0.get::<_, String>("k").unwrap(), "in-db-3");
}

#[test]
fn client_setinfo_is_accepted() {
    // go-redis and Lettuce send these on every connection.
    let s = server();
    let mut c = Conn::connect(s.port).unwrap();
    let ok = Value::Line(b'+', b"OK".to_vec());
    assert_eq!(
        c.call(&["CLIENT", "SETINFO", "LIB-NAME", "go-redis"])
            .unwrap(),
        ok
    );
    assert_eq!(
        c.call(&["CLIENT", "SETINFO", "LIB-VER", "9.5.1"]).unwrap(),
        ok
    );
    assert_eq!(
        c.call(&["PING"]).unwrap(),
        Value::Line(b'+', b"PONG".to_vec())
    );
}

#[test]
fn pipeline_of_1000_sets_then_gets_keeps_order() {
    let s = server();
    let mut con = client(s.port);
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    for i in 0..1000 {
        p.cmd("GET").arg(format!("k{i}"));
    }
    let got: Vec<i64> = p.query(&mut con).unwrap();
    assert_eq!(got, (0..1000).collect::<Vec<i64>>());

    // Mixed commands whose replies differ in type and shard.
    let mut p = redis::pipe();
    for i in 0..1000 {
        let key = format!("m{i}");
        p.cmd("INCRBY").arg(&key).arg(i);
        p.cmd("APPEND").arg(&key).arg("x");
        p.cmd("GET").arg(&key);
        p.cmd("DEL").arg(&key).arg(format!("k{i}"));
        p.cmd("EXISTS").arg(&key);
    }
    let got: Vec<redis::Value> = p.query(&mut con).unwrap();
    assert_eq!(got.len(), 5000);
    for i in 0..1000 {
        let r = &got[i * 5..i * 5 + 5];
        let text = format!("{i}x");
        let want = [
            redis::Value::Int(i as i64),
            redis::Value::Int(text.len() as i64),
            redis::Value::BulkString(text.into_bytes()),
            redis::Value::Int(2),
            redis::Value::Int(0),
        ];
        assert_eq!(r, &want, "replies for key m{i}");
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0);
}

#[test]
fn raw_pipeline_of_10k_commands_in_one_write_keeps_order() {
    let s = server();
    let mut c = Conn::connect(s.port).unwrap();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        let key = format!("k{}", i % 97);
        batch.extend(common::resp::command(&["SET", &key, &i.to_string()]));
        batch.extend(common::resp::command(&["GET", &key]));
    }
    // Write from another thread: the replies may fill the socket buffers
    // before the last command is sent.
    let mut writer = c.stream().try_clone().unwrap();
    let t = thread::spawn(move || writer.write_all(&batch));
    for i in 0..10_000 {
        let (set, _) = c.read().unwrap();
        assert_eq!(set, Value::Line(b'+', b"OK".to_vec()), "SET #{i}");
        let (get, _) = c.read().unwrap();
        assert_eq!(
            get,
            Value::Bulk(b'$', Some(i.to_string().into_bytes())),
            "GET #{i}"
        );
    }
    t.join().unwrap().unwrap();
}

/// Replies that wait behind a reply from another shard are parked; a
/// pipeline that never drains exercises parking far past its compaction
/// threshold, and every reply must still come back in order.
#[test]
fn deep_pipeline_of_big_replies_across_shards_keeps_order() {
    let s = server();
    let mut c = Conn::connect(s.port).unwrap();
    let value = |k: usize| format!("{k:04}").repeat(300);
    let keys: Vec<String> = (0..64).map(|k| format!("big{k}")).collect();
    for (k, key) in keys.iter().enumerate() {
        c.call(&["SET", key.as_str(), value(k).as_str()]).unwrap();
    }
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend(common::resp::command(&["GET", &keys[i % 64]]));
    }
    let mut writer = c.stream().try_clone().unwrap();
    let t = thread::spawn(move || writer.write_all(&batch));
    for i in 0..20_000 {
        let (get, _) = c.read().unwrap();
        assert_eq!(
            get,
            Value::Bulk(b'$', Some(value(i % 64).into_bytes())),
            "GET #{i}"
        );
    }
    t.join().unwrap().unwrap();
}

#[test]
fn concurrent_clients_incr_shared_counters() {
    let s = server();
    const THREADS: usize = 8;
    const PER_THREAD: usize = 1000;
    const COUNTERS: usize = 4;
    let port = s.port;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut con = client(port);
                for i in 0..PER_THREAD {
                    let _: i64 = con
                        .incr(format!("counter{}", (t + i) % COUNTERS), 1)
                        .unwrap();
                }
                // The same again, pipelined.
                let mut p = redis::pipe();
                for i in 0..PER_THREAD {
                    p.cmd("INCRBY")
                        .arg(format!("counter{}", (t + i) % COUNTERS))
                        .arg(2)
                        .ignore();
                }
                let _: () = p.query(&mut con).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut con = client(port);
    let keys: Vec<String> = (0..COUNTERS).map(|c| format!("counter{c}")).collect();
    let totals: Vec<i64> = con.mget(&keys).unwrap();
    let each = (THREADS * PER_THREAD / COUNTERS * 3) as i64;
    assert_eq!(totals, vec![each; COUNTERS]);
}

/// Iterates `SCAN cursor COUNT 10 extra…` to cursor 0; every key returned,
/// and how many calls it took.
fn scan_all(con: &mut redis::Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(10)
            .arg(extra)
            .query(con)
            .unwrap();
        keys.extend(page);
        calls += 1;
        cursor = next;
        if cursor == 0 {
            return (keys, calls);
        }
        assert!(calls < 10_000, "SCAN does not reach cursor 0");
    }
}

#[test]
fn scan_over_three_shards_sees_every_key() {
    let s = Server::kevy(&["--cores", "3"]);
    let mut con = client(s.port);
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    for i in 0..10 {
        p.cmd("RPUSH").arg(format!("list:{i}")).arg(i).ignore();
    }
    let _: () = p.query(&mut con).unwrap();
    let want: std::collections::BTreeSet<String> = (0..1000)
        .map(|i| format!("key:{i}"))
        .chain((0..10).map(|i| format!("list:{i}")))
        .collect();

    let (keys, calls) = scan_all(&mut con, &[]);
    let seen: std::collections::BTreeSet<String> = keys.into_iter().collect();
    assert_eq!(seen, want);
    // A page holds at least COUNT keys unless a shard ran out, so about
    // 1010 / 10 calls.
    assert!(calls < 150, "{calls} calls for 1010 keys");

    let (keys, _) = scan_all(&mut con, &["TYPE", "list"]);
    let seen: std::collections::BTreeSet<String> = keys.into_iter().collect();
    let lists: std::collections::BTreeSet<String> = (0..10).map(|i| format!("list:{i}")).collect();
    assert_eq!(seen, lists);

    // A keyspace smaller than COUNT comes back in one call, with cursor 0.
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let _: () = con
        .mset(&[("k1", 1), ("k2", 2), ("k3", 3), ("k4", 4), ("k5", 5)])
        .unwrap();
    let (next, mut page): (u64, Vec<String>) = redis::cmd("SCAN").arg(0).query(&mut con).unwrap();
    page.sort();
    assert_eq!(
        (next, page),
        (
            0,
            vec![
                "k1".into(),
                "k2".into(),
                "k3".into(),
                "k4".into(),
                "k5".into()
            ]
        )
    );
}

// ---------------------------------------------------------------------------
// redis-cli

fn redis_cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> String {
    common::require_program("redis-cli");
    let mut child = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_commands() {
    if common::skip_redis_tools() {
        return;
    }
    let s = server();
    assert_eq!(redis_cli(s.port, &["PING"], None), "PONG\n");
    assert_eq!(redis_cli(s.port, &["SET", "a", "b"], None), "OK\n");
    assert_eq!(redis_cli(s.port, &["GET", "a"], None), "b\n");
    assert_eq!(
        redis_cli(s.port, &["--no-raw", "GET", "a"], None),
        "\"b\"\n"
    );
    assert_eq!(
        redis_cli(s.port, &["--no-raw", "GET", "nope"], None),
        "(nil)\n"
    );
    assert_eq!(
        redis_cli(s.port, &["--no-raw", "INCR", "n"], None),
        "(integer) 1\n"
    );
    assert_eq!(
        redis_cli(s.port, &["-n", "2", "SET", "a", "db2"], None),
        "OK\n"
    );
    assert_eq!(redis_cli(s.port, &["-n", "2", "GET", "a"], None), "db2\n");
    assert_eq!(
        redis_cli(s.port, &["-3", "--no-raw", "GET", "nope"], None),
        "(nil)\n"
    );
    let out = redis_cli(s.port, &["--no-raw", "FOO"], None);
    assert!(
        out.starts_with("(error) ERR unknown command 'FOO'"),
        "{out}"
    );
}

#[test]
fn redis_cli_reads_commands_from_stdin() {
    if common::skip_redis_tools() {
        return;
    }
    let s = server();
    let out = redis_cli(s.port, &[], Some(b"SET x 1\nGET x\nINCR x\nMGET x y\n"));
    assert_eq!(out, "OK\n1\n2\n2\n\n");
}

#[test]
fn redis_cli_pipe_mass_insert() {
    if common::skip_redis_tools() {
        return;
    }
    let s = server();
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend(common::resp::command(&[
            "SET",
            &format!("key:{i}"),
            &i.to_string(),
        ]));
    }
    let out = redis_cli(s.port, &["--pipe"], Some(&input));
    assert!(out.contains("errors: 0, replies: 5000"), "{out}");
    let mut con = client(s.port);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 5000);
    assert_eq!(con.get::<_, i64>("key:4321").unwrap(), 4321);
}

// ---------------------------------------------------------------------------
// Bad input

#[test]
fn garbage_multibulk_gets_protocol_error_and_close() {
    let mut s = server();
    expect_error_then_close(
        s.port,
        b"*\xff\xfe garbage \x01\x02\r\n",
        "ERR Protocol error: invalid multibulk length",
    );
    expect_error_then_close(
        s.port,
        b"*2\r\n\x01\x02\x03\r\n",
        "ERR Protocol error: expected '$', got '\x01'",
    );
    // Garbage that is a valid inline command gets an error but stays open.
    let mut c = Conn::connect(s.port).unwrap();
    c.send(b"\x01\x02 \xff\r\nPING\r\n").unwrap();
    let (err, _) = c.read().unwrap();
    assert!(err.is_error(), "{err:?}");
    assert_eq!(c.read().unwrap().0, Value::Line(b'+', b"PONG".to_vec()));
    assert_healthy(&mut s);
}

#[test]
fn huge_bulk_length_is_a_protocol_error() {
    let mut s = server();
    expect_error_then_close(
        s.port,
        b"*1\r\n$2147483648\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    expect_error_then_close(
        s.port,
        b"*3000000000\r\n",
        "ERR Protocol error: invalid multibulk length",
    );
    expect_error_then_close(
        s.port,
        b"*1\r\n$-5\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    assert_healthy(&mut s);
}

#[test]
fn unbalanced_quotes_inline_is_a_protocol_error() {
    let mut s = server();
    expect_error_then_close(
        s.port,
        b"SET \"a b\r\n",
        "ERR Protocol error: unbalanced quotes in request",
    );
    assert_healthy(&mut s);
}

#[test]
fn half_sent_command_then_disconnect() {
    let mut s = server();
    for cut in [1, 5, 13, 20, 26] {
        let cmd = common::resp::command(&["SET", "half", "value"]);
        let mut c = raw(s.port);
        c.write_all(&cmd[..cut]).unwrap();
        c.shutdown(Shutdown::Both).unwrap();
    }
    let mut c = raw(s.port);
    c.write_all(b"SET half").unwrap();
    drop(c);
    thread::sleep(Duration::from_millis(100));
    assert_healthy(&mut s);
    let mut con = client(s.port);
    assert_eq!(con.get::<_, Option<String>>("half").unwrap(), None);
}

#[test]
fn client_disconnecting_mid_pipeline() {
    let mut s = server();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend(common::resp::command(&["SET", &format!("k{i}"), "value"]));
        batch.extend(common::resp::command(&["GET", &format!("k{i}")]));
    }
    for _ in 0..3 {
        let mut c = raw(s.port);
        c.write_all(&batch).unwrap();
        drop(c); // without reading a single reply
    }
    // And once more, cut in the middle of a command.
    let mut c = raw(s.port);
    c.write_all(&batch[..batch.len() / 2 + 3]).unwrap();
    drop(c);
    thread::sleep(Duration::from_millis(200));
    assert_healthy(&mut s);
    let mut con = client(s.port);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert!(size <= 10_001, "DBSIZE {size}");
}

#[test]
fn inline_request_without_newline_is_too_big() {
    let mut s = server();
    let mut c = raw(s.port);
    let mut writer = c.try_clone().unwrap();
    // The server may close before all of it is written; that is fine.
    let t = thread::spawn(move || {
        let line = vec![b'a'; 1024 * 1024];
        let _ = writer.write_all(&line);
    });
    let (got, closed) = read_to_close(&mut c);
    t.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(closed);
    assert_healthy(&mut s);
}

#[test]
fn big_multibulk_argument_is_accepted() {
    let s = server();
    let value = vec![b'v'; 4 * 1024 * 1024];
    let mut c = Conn::connect(s.port).unwrap();
    let reply = c.call(&[b"SET".as_slice(), b"big", &value]).unwrap();
    assert_eq!(reply, Value::Line(b'+', b"OK".to_vec()));
    let reply = c.call(&["GET", "big"]).unwrap();
    assert_eq!(reply, Value::Bulk(b'$', Some(value)));
}

// ---------------------------------------------------------------------------
// The process

#[test]
fn help_flag_prints_usage() {
    let out = Command::new(kevy_bin()).arg("--help").output().unwrap();
    assert!(out.status.success(), "--help exited {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("usage"), "{text}");
    assert!(text.contains("--port"), "{text}");
    assert!(text.contains("--cores"), "{text}");
}

#[test]
fn unknown_flag_fails_with_a_message() {
    let out = Command::new(kevy_bin()).arg("--bogus").output().unwrap();
    assert!(!out.status.success(), "--bogus exited {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    // As redis-server words it: the option is a line of configuration.
    assert!(
        err.contains("*** FATAL CONFIG FILE ERROR")
            && err.contains(">>> 'bogus'")
            && err.contains("Bad directive or wrong number of arguments"),
        "stderr: {err}"
    );
    let out = Command::new(kevy_bin())
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notaport"), "stderr: {err}");
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut child = Command::new(kevy_bin())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cores",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("kevy-server kept running although port {port} is taken");
    }
    let status = status.unwrap();
    let mut err = String::new();
    // The log (standard output, as Redis's without a logfile).
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "exited {status:?}");
    assert!(
        err.contains(&port.to_string()),
        "the log should name port {port}: {err}"
    );
    drop(taken);
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = server();
    // An idle client must not keep the server from stopping.
    let _idle = raw(s.port);
    let mut con = client(s.port);
    let _: () = con.set("k", "v").unwrap();
    let status = s.terminate(Duration::from_secs(10));
    match status {
        Some(st) => assert!(st.success(), "exit status {st:?}\n{}", s.output()),
        None => panic!("kevy-server did not exit within 10 s of SIGTERM"),
    }
}

/// Sends `line` as a command and returns the reply bytes, or none when the
/// server closed the connection instead of replying.
fn send_line(port: u16, line: &str) -> (Vec<u8>, bool) {
    let mut s = raw(port);
    let parts: Vec<&str> = line.split(' ').collect();
    let mut req = format!("*{}\r\n", parts.len());
    for p in &parts {
        req.push_str(&format!("${}\r\n{p}\r\n", p.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    read_to_close(&mut s)
}

/// Waits for the server to exit with status 0 and its port to close.
fn assert_exits_cleanly(s: &mut Server, after: &str) {
    match wait_timeout_server(s, Duration::from_secs(10)) {
        Some(st) => assert!(
            st.success(),
            "exit status {st:?} after {after}\n{}",
            s.output()
        ),
        None => panic!(
            "kevy-server still running 10 s after {after}\n{}",
            s.output()
        ),
    }
    assert!(
        TcpStream::connect(("127.0.0.1", s.port)).is_err(),
        "port {} still open after {after}",
        s.port
    );
}

fn wait_timeout_server(s: &mut Server, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(st) = s.exited() {
            return Some(st);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_nosave_closes_the_client_and_exits_zero() {
    for cores in ["1", "2"] {
        let mut s = Server::kevy(&["--cores", cores]);
        // Another client, idle on the other shard, must not hold the server.
        let _idle = raw(s.port);
        let (reply, _) = send_line(s.port, "SHUTDOWN ABORT");
        assert_eq!(reply, b"-ERR No shutdown in progress.\r\n");
        let (reply, _) = send_line(s.port, "SHUTDOWN NOSAVE ABORT");
        assert_eq!(reply, b"-ERR syntax error\r\n");
        assert_healthy(&mut s);
        let (reply, closed) = send_line(s.port, "SHUTDOWN NOSAVE");
        assert!(
            reply.is_empty(),
            "reply to SHUTDOWN: {:?}",
            String::from_utf8_lossy(&reply)
        );
        assert!(closed, "connection left open by SHUTDOWN (--cores {cores})");
        assert_exits_cleanly(&mut s, &format!("SHUTDOWN NOSAVE (--cores {cores})"));
    }
}

#[test]
fn shutdown_save_fails_when_the_save_fails_unless_forced() {
    let dir = common::TempDir::new("shutdown-fail");
    let mut s = Server::kevy(&["--cores", CORES, "--dir", dir.path().to_str().unwrap()]);
    // The file's name is taken by a directory: the final rename fails.
    std::fs::create_dir(dir.path().join("dump.rdb")).unwrap();
    let (reply, closed) = send_line(s.port, "SHUTDOWN SAVE");
    assert_eq!(reply, b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    assert!(!closed);
    assert_healthy(&mut s);
    let (reply, closed) = send_line(s.port, "shutdown force save now");
    assert!(
        reply.is_empty() && closed,
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert_exits_cleanly(&mut s, "SHUTDOWN SAVE FORCE");
}

#[test]
fn plain_shutdown_exits_without_a_reply() {
    let mut s = server();
    let mut con = client(s.port);
    let _: () = con.set("k", "v").unwrap();
    let r: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
    assert!(r.is_err(), "SHUTDOWN answered {r:?}");
    assert_exits_cleanly(&mut s, "SHUTDOWN");
}

// ---------------------------------------------------------------------------
// Generated tables

/// docs.rs is exactly what its generator writes from the installed
/// redis-server, so the table never drifts into hand edits.
#[test]
fn command_docs_table_is_what_the_generator_writes() {
    if common::skip_redis_tools() {
        return;
    }
    if !common::have_program("python3") {
        eprintln!("python3 is not on PATH; not checking docs.rs against its generator");
        return;
    }
    let redis = Server::redis("redis-server (docs)").unwrap_or_else(|e| panic!("{e}"));
    let version = redis_version(redis.port);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/families/command/gen_docs.py"
    );
    let out = Command::new("python3")
        .args([script, "--port", &redis.port.to_string(), "--check"])
        .output()
        .expect("run gen_docs.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if version != "7.0.15" {
        eprintln!("redis-server {version} is not 7.0.15; gen_docs.py said: {text}");
        return;
    }
    assert!(
        out.status.success(),
        "docs.rs differs from gen_docs.py's output: {text}"
    );
}

fn redis_version(port: u16) -> String {
    let mut con = client(port);
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A second server on a port that is taken exits as redis-server does
/// ("Address already in use") instead of sharing the port's connections.
#[test]
fn a_taken_port_stops_a_second_server() {
    let first = Server::kevy(&["--cores", "2"]);
    for cores in ["1", "2"] {
        let mut second = Command::new(kevy_bin())
            .args(["--port", &first.port.to_string(), "--cores", cores])
            .args(["--save", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run kevy-server");
        let Some(status) = wait_timeout(&mut second, Duration::from_secs(10)) else {
            let _ = second.kill();
            panic!("a second server started on a taken port (cores {cores})");
        };
        assert_eq!(status.code(), Some(1), "cores {cores}");
        // The log, on standard output as Redis's without a logfile.
        let mut err = String::new();
        second
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.contains("Address already in use"), "{err}");
    }
    let mut c = client(first.port);
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// Over a keyspace big enough that the reactor hints a pipeline's keys to
/// the cache before running it (kevy-store's `PREFETCH_MIN_KEYS`), one
/// pipeline in one write mixing reads, writes, multi-key commands, a
/// SELECT in its middle (the look ahead hints in the database it started
/// in), commands without a key and inline commands answers exactly what
/// the same commands answer one at a time.
#[test]
fn pipelines_over_a_large_keyspace_answer_as_one_at_a_time() {
    for cores in ["1", "2"] {
        let s = Server::kevy(&["--cores", cores]);
        let mut con = client(s.port);
        const N: usize = 70_000;
        for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
            let mut mset = redis::cmd("MSET");
            for &i in chunk {
                mset.arg(format!("key:{i:06}")).arg(i);
            }
            let () = mset.query(&mut con).unwrap();
        }
        let () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
        let () = redis::cmd("SET")
            .arg("key:000007")
            .arg("in-db-3")
            .query(&mut con)
            .unwrap();
        let () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();

        let k = |i: usize| format!("key:{:06}", (i * 7919) % N);
        let mut batch = Vec::new();
        let mut want: Vec<Value> = Vec::new();
        let bulk = |v: &str| Value::Bulk(b'$', Some(v.as_bytes().to_vec()));
        for i in 0..400 {
            match i % 8 {
                0 => {
                    batch.extend(common::resp::command(&["GET", &k(i)]));
                    want.push(bulk(&((i * 7919) % N).to_string()));
                }
                1 => {
                    batch.extend(common::resp::command(&["SET", &k(i), "new"]));
                    want.push(Value::Line(b'+', b"OK".to_vec()));
                }
                2 => {
                    batch.extend(common::resp::command(&["INCR", &k(i)]));
                    want.push(Value::Line(
                        b':',
                        ((i * 7919) % N + 1).to_string().into_bytes(),
                    ));
                }
                3 => {
                    batch.extend(b"PING\r\n");
                    want.push(Value::Line(b'+', b"PONG".to_vec()));
                }
                4 => {
                    batch.extend(common::resp::command(&["SELECT", "3"]));
                    batch.extend(common::resp::command(&["GET", "key:000007"]));
                    batch.extend(common::resp::command(&["SELECT", "0"]));
                    want.push(Value::Line(b'+', b"OK".to_vec()));
                    want.push(bulk("in-db-3"));
                    want.push(Value::Line(b'+', b"OK".to_vec()));
                }
                5 => {
                    batch.extend(common::resp::command(&[
                        "MGET",
                        &k(i),
                        "missing",
                        &k(i + 1),
                    ]));
                    let v = |j: usize| bulk(&((j * 7919) % N).to_string());
                    want.push(Value::Agg(
                        b'*',
                        Some(vec![v(i), Value::Bulk(b'$', None), v(i + 1)]),
                    ));
                }
                6 => {
                    batch.extend(common::resp::command(&["MSET", &k(i), "a", &k(i + 1), "b"]));
                    batch.extend(common::resp::command(&["MGET", &k(i), &k(i + 1)]));
                    want.push(Value::Line(b'+', b"OK".to_vec()));
                    want.push(Value::Agg(b'*', Some(vec![bulk("a"), bulk("b")])));
                }
                _ => {
                    batch.extend(common::resp::command(&["EXISTS", &k(i), "nope", &k(i)]));
                    want.push(Value::Line(b':', b"2".to_vec()));
                }
            }
        }
        // Keys written above are read back in the same pipeline.
        for i in (0..400).filter(|i| i % 8 == 1) {
            batch.extend(common::resp::command(&["GET", &k(i)]));
            want.push(bulk("new"));
        }
        // Values kept outside their keys' nodes, which the look ahead
        // hints at the next command: long strings, one grown by APPEND,
        // and small hashes, written and read in the same pipeline.
        for i in 400..480 {
            let long = format!("{i}:{}", "v".repeat(20 + i % 90));
            let h = format!("h:{i}");
            batch.extend(common::resp::command(&["SET", &k(i), &long]));
            batch.extend(common::resp::command(&["GET", &k(i)]));
            batch.extend(common::resp::command(&["APPEND", &k(i), "+"]));
            batch.extend(common::resp::command(&["GET", &k(i)]));
            batch.extend(common::resp::command(&["HSET", &h, "f", &long]));
            batch.extend(common::resp::command(&["HGET", &h, "f"]));
            want.push(Value::Line(b'+', b"OK".to_vec()));
            want.push(bulk(&long));
            want.push(Value::Line(b':', (long.len() + 1).to_string().into_bytes()));
            want.push(bulk(&format!("{long}+")));
            want.push(Value::Line(b':', b"1".to_vec()));
            want.push(bulk(&long));
        }
        for i in 400..480 {
            batch.extend(common::resp::command(&["GET", &k(i)]));
            want.push(bulk(&format!("{i}:{}+", "v".repeat(20 + i % 90))));
        }
        let mut c = Conn::connect(s.port).unwrap();
        c.stream().write_all(&batch).unwrap();
        for (n, w) in want.iter().enumerate() {
            let (got, _) = c.read().unwrap();
            assert_eq!(&got, w, "reply #{n} with --cores {cores}");
        }
        // A write held by CLIENT PAUSE in the middle of a pipeline the
        // look ahead has already read: it stays in the buffer, and it and
        // the commands behind it run in order once the pause ends.
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(300)
            .arg("WRITE")
            .query(&mut con)
            .unwrap();
        let mut batch = Vec::new();
        let mut want = Vec::new();
        for i in 500..540 {
            batch.extend(common::resp::command(&["GET", &k(i)]));
            batch.extend(common::resp::command(&["SET", &k(i), &format!("p{i}")]));
            batch.extend(common::resp::command(&["GET", &k(i)]));
            want.push(bulk(&((i * 7919) % N).to_string()));
            want.push(Value::Line(b'+', b"OK".to_vec()));
            want.push(bulk(&format!("p{i}")));
        }
        c.stream().write_all(&batch).unwrap();
        for (n, w) in want.iter().enumerate() {
            let (got, _) = c.read().unwrap();
            assert_eq!(&got, w, "paused reply #{n} with --cores {cores}");
        }
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(size as usize, N + 80, "--cores {cores}: the 80 hashes");
    }
}

/// Multi-key commands with more keys than routing keeps the shards of
/// (its plan finds them again) and with fewer, over every shard layout.
#[test]
fn multi_key_commands_of_any_length_span_shards() {
    for cores in ["2", "3"] {
        let s = Server::kevy(&["--cores", cores]);
        let mut con = client(s.port);
        for n in [2usize, 31, 32, 33, 100] {
            let keys: Vec<String> = (0..n).map(|i| format!("mk:{n}:{i}")).collect();
            let mut mset = redis::cmd("MSET");
            for (i, k) in keys.iter().enumerate() {
                mset.arg(k).arg(i);
            }
            let () = mset.query(&mut con).unwrap();
            let got: Vec<Option<usize>> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
            let want: Vec<Option<usize>> = (0..n).map(Some).collect();
            assert_eq!(got, want, "--cores {cores}, {n} keys");
            let exists: usize = redis::cmd("EXISTS").arg(&keys).query(&mut con).unwrap();
            assert_eq!(exists, n, "--cores {cores}, {n} keys");
            let deleted: usize = redis::cmd("DEL").arg(&keys).query(&mut con).unwrap();
            assert_eq!(deleted, n, "--cores {cores}, {n} keys");
        }
        let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(size, 0, "--cores {cores}");
    }
}
