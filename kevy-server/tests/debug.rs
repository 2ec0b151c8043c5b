//! DEBUG against a real redis-server, both started with
//! `enable-debug-command yes`: the dataset and value digests equal Redis's
//! for the same data on a multi-shard kevy (so the digest is a real check
//! of what a server holds), and so do POPULATE, RELOAD, PROTOCOL,
//! SET-ACTIVE-EXPIRE and the errors.

mod common;

use common::resp::Conn;
use common::Server;

fn servers() -> Option<(Server, Server)> {
    if common::skip_redis_tools() {
        return None;
    }
    let redis = Server::redis_with("redis", None, &["--enable-debug-command", "yes"])
        .expect("redis-server");
    let kevy = Server::kevy(&["--cores", "3", "--enable-debug-command", "yes"]);
    Some((redis, kevy))
}

/// Sends every line to both servers and asserts the raw replies match.
fn same(r: &mut Conn, k: &mut Conn, lines: &[&[&str]]) {
    for args in lines {
        r.send(&common::resp::command(args)).unwrap();
        k.send(&common::resp::command(args)).unwrap();
        let (_, want) = r.read().unwrap();
        let (_, got) = k.read().unwrap();
        assert_eq!(
            common::resp::escape(&got),
            common::resp::escape(&want),
            "{args:?}"
        );
    }
}

#[test]
fn digests_populate_reload_and_protocol_match_redis() {
    let Some((redis, kevy)) = servers() else {
        return;
    };
    let mut r = Conn::connect(redis.port).unwrap();
    let mut k = Conn::connect(kevy.port).unwrap();
    same(
        &mut r,
        &mut k,
        &[
            &["DEBUG", "DIGEST"],
            &["SET", "foo", "bar"],
            &["SET", "n", "12345"],
            &["RPUSH", "l", "a", "b", "3"],
            &["SADD", "s", "x", "y", "1"],
            &["SADD", "si", "1", "2", "3"],
            &[
                "ZADD", "z", "1.5", "a", "2", "b", "3.25e10", "c", "-0.1", "d",
            ],
            &["HSET", "h", "f", "v", "g", "1"],
            &["SET", "e", "v", "EX", "1000"],
            &["XADD", "st", "1-1", "f", "v", "n", "12"],
            &["XADD", "st", "2-0", "f", "w"],
            &["XGROUP", "CREATE", "st", "g", "0"],
            &["SELECT", "3"],
            &["SET", "d3", "x"],
            &["SELECT", "0"],
            &["DEBUG", "DIGEST"],
            &[
                "DEBUG",
                "DIGEST-VALUE",
                "foo",
                "n",
                "l",
                "s",
                "si",
                "z",
                "h",
                "e",
                "nokey",
            ],
            &["DEBUG", "DIGEST-VALUE", "k1", "k2", "k3", "k4"],
            &["DEBUG", "POPULATE", "200"],
            &["DEBUG", "POPULATE", "50", "p", "12"],
            &["DEBUG", "POPULATE", "3", "q", "2"],
            &["DBSIZE"],
            &["GET", "p:7"],
            &["GET", "q:1"],
            &["DEBUG", "DIGEST"],
            &["DEBUG", "RELOAD"],
            &["DEBUG", "DIGEST"],
            &["DEBUG", "RELOAD", "foo"],
            &["DEBUG", "OBJECT", "nokey"],
            &["DEBUG", "OBJECT"],
            &["DEBUG", "POPULATE", "x"],
            &["DEBUG", "POPULATE", "-1"],
            &["DEBUG", "NOSUCH"],
            &["DEBUG", "SLEEP", "0"],
            &["DEBUG", "SLEEP", "x"],
            &["DEBUG", "ERROR", "CUSTOM error text"],
            &["DEBUG", "PROTOCOL", "nosuch"],
            &["DEBUG", "SET-ACTIVE-EXPIRE"],
        ],
    );
    let types = [
        "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
        "verbatim", "true", "false",
    ];
    for t in types {
        same(&mut r, &mut k, &[&["DEBUG", "PROTOCOL", t]]);
    }
    for c in [&mut r, &mut k] {
        c.call(&["HELLO", "3"]).unwrap();
    }
    for t in types {
        same(&mut r, &mut k, &[&["DEBUG", "PROTOCOL", t]]);
    }
    // Redis answers the push before the reply it precedes: read both.
    same(&mut r, &mut k, &[&["PING"]]);

    // With active expiry off, an expired key stays until it is read.
    same(
        &mut r,
        &mut k,
        &[
            &["FLUSHALL"],
            &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
            &["SET", "gone", "v", "PX", "1"],
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    same(
        &mut r,
        &mut k,
        &[
            &["DBSIZE"],
            &["GET", "gone"],
            &["DBSIZE"],
            &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        ],
    );
}

#[test]
fn debug_is_refused_by_default() {
    let kevy = Server::kevy(&["--cores", "2"]);
    let mut k = Conn::connect(kevy.port).unwrap();
    let got = k.call(&["DEBUG", "DIGEST"]).unwrap();
    assert!(got.is_error());
    assert!(
        String::from_utf8_lossy(got.bytes().unwrap())
            .starts_with("ERR DEBUG command not allowed. If the enable-debug-command option"),
        "{got:?}"
    );
    let set = k
        .call(&["CONFIG", "SET", "enable-debug-command", "yes"])
        .unwrap();
    assert!(set.is_error());
}
