//! DUMP and RESTORE between a real redis-server and kevy-server, both
//! ways, over real sockets: every type in its small and large encodings is
//! dumped by one server, restored by the other, and read back with the
//! same contents; where the encoding fixes the order of the bytes (not a
//! hash table's), the two servers' payloads are byte for byte the same
//! (with Redis's LZF compression off, which kevy does not do).

mod common;

use common::resp::{Conn, Value};
use common::Server;

/// Skips (with the reason printed) when there is no redis-server.
fn redis() -> Option<Server> {
    if common::skip_redis_tools() {
        eprintln!("skipped: {}=1", common::SKIP_ENV);
        return None;
    }
    if !common::have_program("redis-server") {
        eprintln!("skipped: redis-server is not on PATH");
        return None;
    }
    Some(Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}")))
}

fn call(c: &mut Conn, args: &[&[u8]]) -> Value {
    let v = c.call(args).expect("reply");
    assert!(!v.is_error(), "{:?}: {:?}", show(args), v);
    v
}

fn show(args: &[&[u8]]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    v.bytes().expect("bulk reply").to_vec()
}

/// The keys written, with the commands that build them: every type, small
/// and large, every encoding Redis 7.0 has for it.
fn data() -> Vec<(&'static str, Vec<Vec<Vec<u8>>>)> {
    let b = |s: &str| s.as_bytes().to_vec();
    let cmd = |name: &str, key: &str, rest: Vec<Vec<u8>>| {
        let mut v = vec![b(name), b(key)];
        v.extend(rest);
        vec![v]
    };
    let many = |f: &dyn Fn(usize) -> Vec<Vec<u8>>, n: usize| (0..n).flat_map(f).collect();
    let long = |i: usize, len: usize| format!("{i}:{}", "abcdefgh".repeat(len / 8)).into_bytes();
    vec![
        ("str:small", cmd("SET", "str:small", vec![b("v")])),
        ("str:int8", cmd("SET", "str:int8", vec![b("-100")])),
        ("str:int32", cmd("SET", "str:int32", vec![b("-2147483648")])),
        ("str:int64", cmd("SET", "str:int64", vec![b("12345678901")])),
        (
            "str:binary",
            cmd("SET", "str:binary", vec![vec![0, 255, 13, 10, 7]]),
        ),
        ("str:long", cmd("SET", "str:long", vec![long(0, 100_000)])),
        (
            "list:small",
            cmd(
                "RPUSH",
                "list:small",
                vec![b("a"), b("7"), b("-70000"), b("")],
            ),
        ),
        (
            "list:large",
            cmd("RPUSH", "list:large", many(&|i| vec![long(i, 40)], 3000)),
        ),
        (
            "list:big-element",
            cmd(
                "RPUSH",
                "list:big-element",
                vec![b("x"), long(1, 20_000), b("y")],
            ),
        ),
        (
            "set:intset",
            cmd("SADD", "set:intset", vec![b("3"), b("-1"), b("70000")]),
        ),
        (
            "set:intset-wide",
            cmd("SADD", "set:intset-wide", vec![b("5000000000"), b("1")]),
        ),
        ("set:one", cmd("SADD", "set:one", vec![b("member")])),
        (
            "set:strings",
            cmd(
                "SADD",
                "set:strings",
                many(&|i| vec![format!("m{i}").into_bytes()], 50),
            ),
        ),
        (
            "set:large-ints",
            cmd(
                "SADD",
                "set:large-ints",
                many(&|i| vec![i.to_string().into_bytes()], 700),
            ),
        ),
        (
            "hash:small",
            cmd("HSET", "hash:small", vec![b("f"), b("v"), b("n"), b("12")]),
        ),
        (
            "hash:large",
            cmd(
                "HSET",
                "hash:large",
                many(&|i| vec![format!("f{i}").into_bytes(), long(i, 16)], 300),
            ),
        ),
        (
            "hash:long-value",
            cmd("HSET", "hash:long-value", vec![b("f"), long(0, 100)]),
        ),
        (
            "zset:small",
            cmd(
                "ZADD",
                "zset:small",
                vec![
                    b("1"),
                    b("a"),
                    b("0.1"),
                    b("b"),
                    b("-inf"),
                    b("c"),
                    b("1e20"),
                    b("d"),
                    b("-2.5e-7"),
                    b("e"),
                ],
            ),
        ),
        (
            "zset:large",
            cmd(
                "ZADD",
                "zset:large",
                many(
                    &|i| vec![format!("{}", i as f64 / 7.0).into_bytes(), long(i, 8)],
                    400,
                ),
            ),
        ),
        (
            "zset:long-member",
            cmd("ZADD", "zset:long-member", vec![b("2.5"), long(0, 100)]),
        ),
    ]
}

/// A value's contents in a form that does not depend on its encoding:
/// type, then the elements (sets and hashes sorted).
fn contents(c: &mut Conn, key: &[u8]) -> Vec<Vec<u8>> {
    let ty = bytes(&call(c, &[b"TYPE", key]));
    let read: &[&[u8]] = match &ty[..] {
        b"string" => &[b"GET"],
        b"list" => &[b"LRANGE", b"0", b"-1"],
        b"set" => &[b"SMEMBERS"],
        b"hash" => &[b"HGETALL"],
        b"zset" => &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"],
        other => panic!("type {}", String::from_utf8_lossy(other)),
    };
    let mut args = vec![read[0], key];
    args.extend_from_slice(&read[1..]);
    let v = call(c, &args);
    let mut items: Vec<Vec<u8>> = match v.items() {
        Some(items) => items.iter().map(bytes).collect(),
        None => vec![bytes(&v)],
    };
    match &ty[..] {
        b"set" => items.sort(),
        b"hash" => {
            let mut pairs: Vec<Vec<u8>> = items.chunks(2).map(|p| p.concat()).collect();
            pairs.sort();
            items = pairs;
        }
        _ => {}
    }
    items.insert(0, ty);
    items
}

fn encoding(c: &mut Conn, key: &[u8]) -> Vec<u8> {
    bytes(&call(c, &[b"OBJECT", b"ENCODING", key]))
}

#[test]
fn payloads_move_between_redis_and_kevy_both_ways() {
    let Some(redis) = redis() else { return };
    let kevy = Server::kevy(&["--cores", "3"]);
    let mut r = Conn::connect(redis.port).expect("connect redis");
    let mut k = Conn::connect(kevy.port).expect("connect kevy");
    let data = data();
    for (_, cmds) in &data {
        for argv in cmds {
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            call(&mut r, &args);
            call(&mut k, &args);
        }
    }
    let mut identical = Vec::new();
    for (key, _) in &data {
        let key = key.as_bytes();
        let want = contents(&mut r, key);
        assert_eq!(contents(&mut k, key), want, "{}", show(&[key])[0]);

        // Redis → kevy, with Redis's LZF compression on (its default).
        let from_redis = bytes(&call(&mut r, &[b"DUMP", key]));
        let copy = [key, b":from-redis"].concat();
        call(&mut k, &[b"RESTORE", &copy, b"0", &from_redis]);
        assert_eq!(contents(&mut k, &copy), want, "{}", show(&[key])[0]);

        // kevy → Redis.
        let from_kevy = bytes(&call(&mut k, &[b"DUMP", key]));
        let copy = [key, b":from-kevy"].concat();
        call(&mut r, &[b"RESTORE", &copy, b"0", &from_kevy]);
        assert_eq!(contents(&mut r, &copy), want, "{}", show(&[key])[0]);

        // The same bytes, compression off, where the order is fixed.
        if encoding(&mut r, key) != b"hashtable" && encoding(&mut r, key) != b"skiplist" {
            call(&mut r, &[b"CONFIG", b"SET", b"rdbcompression", b"no"]);
            let plain = bytes(&call(&mut r, &[b"DUMP", key]));
            call(&mut r, &[b"CONFIG", b"SET", b"rdbcompression", b"yes"]);
            call(&mut k, &[b"CONFIG", b"SET", b"rdbcompression", b"no"]);
            let kevy_plain = bytes(&call(&mut k, &[b"DUMP", key]));
            call(&mut k, &[b"CONFIG", b"SET", b"rdbcompression", b"yes"]);
            assert!(plain == kevy_plain, "{}", show(&[key])[0]);
            identical.push(show(&[key]).remove(0));
        }
    }
    // Redis 7.0 keeps a hash made by one HSET of many fields as a
    // listpack, and kevy does too.
    assert_eq!(
        identical,
        [
            "str:small",
            "str:int8",
            "str:int32",
            "str:int64",
            "str:binary",
            "str:long",
            "list:small",
            "list:large",
            "list:big-element",
            "set:intset",
            "set:intset-wide",
            "hash:small",
            "hash:large",
            "zset:small",
        ]
    );
}

#[test]
fn restore_keeps_an_absolute_ttl_and_refuses_what_redis_refuses() {
    let Some(redis) = redis() else { return };
    let kevy = Server::kevy(&["--cores", "3"]);
    let mut r = Conn::connect(redis.port).expect("connect redis");
    let mut k = Conn::connect(kevy.port).expect("connect kevy");
    call(&mut r, &[b"HSET", b"h", b"f", b"v"]);
    let p = bytes(&call(&mut r, &[b"DUMP", b"h"]));
    for c in [&mut r, &mut k] {
        call(c, &[b"RESTORE", b"t", b"32503680000000", &p, b"ABSTTL"]);
        let at = c.call(&[&b"PEXPIRETIME"[..], b"t"]).expect("reply");
        assert_eq!(at.int(), Some(32503680000000));
        let busy = c.call(&[&b"RESTORE"[..], b"t", b"0", &p]).expect("reply");
        assert_eq!(
            busy.bytes(),
            Some(&b"BUSYKEY Target key name already exists."[..])
        );
        let mut bad = p.clone();
        bad[3] ^= 1;
        let e = c.call(&[&b"RESTORE"[..], b"u", b"0", &bad]).expect("reply");
        assert_eq!(
            e.bytes(),
            Some(&b"ERR DUMP payload version or checksum are wrong"[..])
        );
    }
}
