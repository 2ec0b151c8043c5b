//! Streams end to end over real sockets: XREAD and XREADGROUP BLOCK woken
//! by XADD from another connection, on keys of any shard, and their
//! timeouts; consumer groups under concurrency (every entry delivered to
//! exactly one consumer); XAUTOCLAIM taking over a killed consumer's
//! entries; and streams with groups through `dump.rdb`, DUMP/RESTORE and
//! the append-only log, with redis-server both ways.

mod common;

use common::resp::{Conn, Value};
use common::{have_program, Server, TempDir};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn raw(c: &mut Conn, args: &[&str]) -> Vec<u8> {
    c.send(&common::resp::command(args)).expect("send");
    c.read().expect("reply").1
}

fn s(v: &Value) -> String {
    String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned()
}

/// `[[key, [[id, [f, v, …]], …]], …]` as (key, id) pairs.
fn read_ids(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(streams) = v.items() else {
        return out;
    };
    for st in streams {
        let kv = st.items().expect("[key, entries]");
        let key = s(&kv[0]);
        for e in kv[1].items().expect("entries") {
            out.push((key.clone(), s(&e.items().expect("entry")[0])));
        }
    }
    out
}

/// Waits until INFO's `blocked_clients` is `n`.
fn until_blocked(c: &mut Conn, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = s(&call(c, &["INFO", "clients"]));
        let now: i64 = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("blocked_clients");
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} blocked: {now}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn xread_block_is_woken_by_xadd_on_any_shard() {
    let srv = Server::kevy(&["--cores", "3", "--save", ""]);
    let mut w = conn(srv.port);
    // Entries present before the wait are not what `$` asks for.
    call(&mut w, &["XADD", "k1", "1-1", "old", "1"]);
    for keys in [&["k1"][..], &["k2"], &["k1", "k2", "k3"]] {
        let mut reader = conn(srv.port);
        let mut args = vec!["XREAD", "BLOCK", "5000", "STREAMS"];
        args.extend_from_slice(keys);
        args.extend(keys.iter().map(|_| "$"));
        reader.send(&common::resp::command(&args)).unwrap();
        // `$` is the last ID when the server runs the XREAD: the XADD
        // must come after it, whenever a loaded machine gets to it.
        until_blocked(&mut w, 1);
        let target = keys[keys.len() - 1];
        let id = s(&call(&mut w, &["XADD", target, "*", "f", "v"]));
        let (v, _) = reader.read().expect("reply");
        assert_eq!(read_ids(&v), vec![(target.to_string(), id)], "{keys:?}");
    }
    // A reader in a group is woken the same way, and owns what it got.
    call(&mut w, &["XGROUP", "CREATE", "k2", "g", "$"]);
    let mut reader = waiting(
        srv.port,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "5000",
            "STREAMS",
            "k2",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    let id = s(&call(&mut w, &["XADD", "k2", "*", "f", "v"]));
    let (v, _) = reader.read().expect("reply");
    assert_eq!(read_ids(&v), vec![("k2".to_string(), id.clone())]);
    let p = call(&mut w, &["XPENDING", "k2", "g"]);
    assert_eq!(s(&p.items().unwrap()[1]), id);
    // Waiting on streams of two shards, woken by either.
    call(&mut w, &["XGROUP", "CREATE", "k1", "g", "$"]);
    for target in ["k1", "k2"] {
        reader
            .send(&common::resp::command(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "5000",
                "STREAMS",
                "k1",
                "k2",
                ">",
                ">",
            ]))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let id = s(&call(&mut w, &["XADD", target, "*", "f", "v"]));
        let (v, _) = reader.read().expect("reply");
        assert_eq!(read_ids(&v), vec![(target.to_string(), id)]);
    }
}

#[test]
fn xread_block_times_out_with_a_null_array() {
    let srv = Server::kevy(&["--cores", "2", "--save", ""]);
    let mut c = conn(srv.port);
    for (resp3, want) in [(false, &b"*-1\r\n"[..]), (true, b"_\r\n")] {
        if resp3 {
            call(&mut c, &["HELLO", "3"]);
        }
        let t0 = Instant::now();
        assert_eq!(
            raw(
                &mut c,
                &["XREAD", "BLOCK", "150", "STREAMS", "k1", "k2", "$", "$"]
            ),
            want
        );
        assert!(t0.elapsed() >= Duration::from_millis(150));
        call(&mut c, &["XGROUP", "CREATE", "k3", "g", "$", "MKSTREAM"]);
        let t0 = Instant::now();
        assert_eq!(
            raw(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "150",
                    "STREAMS",
                    "k3",
                    ">"
                ]
            ),
            want
        );
        assert!(t0.elapsed() >= Duration::from_millis(150));
        call(&mut c, &["DEL", "k3"]);
    }
    // A write that brings nothing new leaves the reader waiting.
    let mut r = conn(srv.port);
    call(&mut c, &["XADD", "k1", "5-1", "a", "1"]);
    let t0 = Instant::now();
    r.send(&common::resp::command(&[
        "XREAD", "BLOCK", "300", "STREAMS", "k1", "$",
    ]))
    .unwrap();
    until_blocked(&mut c, 1);
    call(&mut c, &["XDEL", "k1", "5-1"]);
    let (_, bytes) = r.read().expect("reply");
    assert_eq!(bytes, b"*-1\r\n");
    // The whole timeout, counted from before the XREAD was sent: a slow
    // moment anywhere only adds to it, and a reader woken by the XDEL
    // would answer well before.
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

#[test]
fn consumer_groups_deliver_every_entry_to_exactly_one_consumer() {
    let srv = Server::kevy(&["--cores", "2", "--save", ""]);
    let port = srv.port;
    let mut c = conn(port);
    // k1 and k2 live on different shards: each read spans both.
    for k in ["k1", "k2"] {
        call(&mut c, &["XGROUP", "CREATE", k, "g", "$", "MKSTREAM"]);
    }
    const N: usize = 2000;
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = conn(port);
                let name = format!("c{i}");
                let mut got = Vec::new();
                let mut idle = 0;
                while idle < 3 {
                    let v = c
                        .call(&[
                            "XREADGROUP",
                            "GROUP",
                            "g",
                            &name,
                            "COUNT",
                            "7",
                            "BLOCK",
                            "500",
                            "STREAMS",
                            "k1",
                            "k2",
                            ">",
                            ">",
                        ])
                        .expect("reply");
                    assert!(!v.is_error(), "{}", common::resp::escape(&v.encode()));
                    let ids = read_ids(&v);
                    if ids.is_empty() {
                        idle += 1;
                        continue;
                    }
                    idle = 0;
                    for (k, id) in &ids {
                        let acked = c.call(&["XACK", k, "g", id]).expect("reply");
                        assert_eq!(acked.int(), Some(1));
                    }
                    got.extend(ids);
                }
                got
            })
        })
        .collect();
    let producer = std::thread::spawn(move || {
        let mut c = conn(port);
        let mut added = Vec::new();
        for i in 0..N {
            let k = if i % 3 == 0 { "k1" } else { "k2" };
            let id = c
                .call(&["XADD", k, "*", "n", &i.to_string()])
                .expect("reply");
            added.push((k.to_string(), s(&id)));
        }
        added
    });
    let added = producer.join().unwrap();
    let mut seen = HashSet::new();
    for t in consumers {
        for e in t.join().unwrap() {
            assert!(seen.insert(e.clone()), "{e:?} delivered twice");
        }
    }
    assert_eq!(seen, added.into_iter().collect::<HashSet<_>>());
    for k in ["k1", "k2"] {
        assert_eq!(
            call(&mut c, &["XPENDING", k, "g"]).items().unwrap()[0].int(),
            Some(0)
        );
    }
}

#[test]
fn xautoclaim_recovers_the_entries_of_a_killed_consumer() {
    let srv = Server::kevy(&["--cores", "2", "--save", ""]);
    let mut c = conn(srv.port);
    call(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    for i in 0..10 {
        call(&mut c, &["XADD", "jobs", "*", "job", &i.to_string()]);
    }
    let taken = {
        let mut dead = conn(srv.port);
        let v = call(
            &mut dead,
            &["XREADGROUP", "GROUP", "g", "dead", "STREAMS", "jobs", ">"],
        );
        read_ids(&v)
    };
    assert_eq!(taken.len(), 10);
    std::thread::sleep(Duration::from_millis(60));
    // Not idle long enough yet: nothing moves.
    let v = call(&mut c, &["XAUTOCLAIM", "jobs", "g", "alive", "60000", "0"]);
    assert_eq!(v.items().unwrap()[1].items().unwrap().len(), 0);
    let v = call(
        &mut c,
        &["XAUTOCLAIM", "jobs", "g", "alive", "50", "0", "COUNT", "6"],
    );
    let items = v.items().unwrap();
    let first: Vec<String> = items[1]
        .items()
        .unwrap()
        .iter()
        .map(|e| s(&e.items().unwrap()[0]))
        .collect();
    assert_eq!(first.len(), 6);
    let cursor = s(&items[0]);
    let v = call(
        &mut c,
        &["XAUTOCLAIM", "jobs", "g", "alive", "50", &cursor, "JUSTID"],
    );
    let items = v.items().unwrap();
    assert_eq!(s(&items[0]), "0-0");
    let rest: Vec<String> = items[1].items().unwrap().iter().map(s).collect();
    let all: Vec<String> = first.into_iter().chain(rest).collect();
    assert_eq!(
        all,
        taken.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
    );
    let p = call(&mut c, &["XPENDING", "jobs", "g"]);
    let owners = p.items().unwrap()[3].items().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(s(&owners[0].items().unwrap()[0]), "alive");
}

/// Streams in every shape a file carries: nodes split by size and by
/// count, deleted entries, counters moved by XSETID, groups with pending
/// entries and consumers, an empty stream with a group.
fn populate(c: &mut Conn) {
    let big = "x".repeat(900);
    for i in 1..=250 {
        let v = i.to_string();
        if i % 50 == 0 {
            call(
                c,
                &["XADD", "{s}a", &format!("{i}-1"), "other", &big, "n", &v],
            );
        } else {
            call(
                c,
                &["XADD", "{s}a", &format!("{i}-1"), "f", &v, "g", "12345"],
            );
        }
    }
    for id in ["3-1", "100-1", "101-1", "250-1"] {
        call(c, &["XDEL", "{s}a", id]);
    }
    call(c, &["XTRIM", "{s}a", "MAXLEN", "230"]);
    call(c, &["XGROUP", "CREATE", "{s}a", "g1", "0"]);
    call(
        c,
        &["XGROUP", "CREATE", "{s}a", "g2", "$", "ENTRIESREAD", "7"],
    );
    call(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "5",
            "STREAMS",
            "{s}a",
            ">",
        ],
    );
    call(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "3",
            "STREAMS",
            "{s}a",
            ">",
        ],
    );
    call(c, &["XACK", "{s}a", "g1", "25-1"]);
    call(
        c,
        &[
            "XCLAIM",
            "{s}a",
            "g1",
            "carol",
            "0",
            "27-1",
            "RETRYCOUNT",
            "9",
            "TIME",
            "1700000000000",
        ],
    );
    call(c, &["XGROUP", "CREATECONSUMER", "{s}a", "g1", "dave"]);
    call(c, &["XADD", "{s}b", "1-1", "a", "1"]);
    call(
        c,
        &[
            "XSETID",
            "{s}b",
            "99-0",
            "ENTRIESADDED",
            "40",
            "MAXDELETEDID",
            "50-5",
        ],
    );
    call(c, &["XGROUP", "CREATE", "{s}e", "g", "$", "MKSTREAM"]);
    call(c, &["XADD", "{s}e", "1-1", "a", "1"]);
    call(c, &["XDEL", "{s}e", "1-1"]);
}

/// What a client can read of the streams, exactly (idle times aside).
fn snapshot(port: u16) -> Vec<Vec<u8>> {
    let mut c = conn(port);
    let mut out = Vec::new();
    for k in ["{s}a", "{s}b", "{s}e"] {
        out.push(raw(&mut c, &["XINFO", "STREAM", k, "FULL", "COUNT", "0"]));
        out.push(raw(&mut c, &["XINFO", "GROUPS", k]));
        out.push(raw(&mut c, &["XRANGE", k, "-", "+"]));
        out.push(raw(&mut c, &["XREVRANGE", k, "+", "-", "COUNT", "7"]));
        out.push(raw(&mut c, &["TYPE", k]));
    }
    out
}

fn check_rdb(path: &Path) {
    if !have_program("redis-check-rdb") {
        return;
    }
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
}

fn assert_same(a: &[Vec<u8>], b: &[Vec<u8>], what: &str) {
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y),
            "{what}"
        );
    }
    assert_eq!(a.len(), b.len());
}

#[test]
fn streams_round_trip_through_dump_rdb_with_redis_both_ways() {
    if !have_program("redis-server") {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    // Redis writes, kevy loads.
    let dir = TempDir::new("streams-from-redis");
    let mut r = Server::redis_in("redis-server", Some(dir.path())).expect("redis-server");
    populate(&mut conn(r.port));
    let from_redis = snapshot(r.port);
    call(&mut conn(r.port), &["SAVE"]);
    r.terminate(Duration::from_secs(10));
    let d = dir.path().to_str().unwrap();
    let k = Server::kevy(&["--cores", "2", "--dir", d]);
    assert_same(
        &snapshot(k.port),
        &from_redis,
        "kevy after loading Redis's file",
    );
    drop(k);
    std::fs::remove_file(dir.path().join("dump.rdb")).unwrap();

    // kevy writes, redis-check-rdb and Redis load.
    let dir = TempDir::new("streams-to-redis");
    let d = dir.path().to_str().unwrap();
    let k = Server::kevy(&["--cores", "3", "--dir", d, "--save", ""]);
    populate(&mut conn(k.port));
    let from_kevy = snapshot(k.port);
    call(&mut conn(k.port), &["SAVE"]);
    drop(k);
    check_rdb(&dir.path().join("dump.rdb"));
    let r = Server::redis_in("redis-server", Some(dir.path())).expect("redis-server");
    assert_same(
        &snapshot(r.port),
        &from_kevy,
        "Redis after loading kevy's file",
    );
}

#[test]
fn dump_and_restore_carry_streams_between_redis_and_kevy() {
    if !have_program("redis-server") {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    let r = Server::redis("redis-server").expect("redis-server");
    let k = Server::kevy(&["--cores", "2", "--save", ""]);
    let (mut rc, mut kc) = (conn(r.port), conn(k.port));
    populate(&mut rc);
    for key in ["{s}a", "{s}b", "{s}e"] {
        let p = call(&mut rc, &["DUMP", key]);
        let payload = p.bytes().unwrap().to_vec();
        kc.call(&[b"RESTORE".as_slice(), key.as_bytes(), b"0", &payload])
            .expect("restore");
    }
    assert_same(
        &snapshot(k.port),
        &snapshot(r.port),
        "kevy after RESTORE of Redis's DUMP",
    );
    // And back: kevy's payloads restore in Redis.
    call(&mut rc, &["FLUSHALL"]);
    for key in ["{s}a", "{s}b", "{s}e"] {
        let p = call(&mut kc, &["DUMP", key]);
        let payload = p.bytes().unwrap().to_vec();
        let v = rc
            .call(&[b"RESTORE".as_slice(), key.as_bytes(), b"0", &payload])
            .expect("restore");
        assert!(!v.is_error(), "{}", common::resp::escape(&v.encode()));
    }
    assert_same(
        &snapshot(r.port),
        &snapshot(k.port),
        "Redis after RESTORE of kevy's DUMP",
    );
}

#[test]
fn streams_and_groups_replay_from_the_append_only_log() {
    let dir = TempDir::new("streams-aof");
    let d = dir.path().to_str().unwrap();
    let args = [
        "--cores",
        "2",
        "--dir",
        d,
        "--appendonly",
        "yes",
        "--save",
        "",
    ];
    let k = Server::kevy(&args);
    let mut c = conn(k.port);
    populate(&mut c);
    // Writes whose outcome is not in their arguments: `*` ids, `~` trims,
    // deliveries and claims.
    for i in 0..300 {
        call(
            &mut c,
            &[
                "XADD",
                "auto",
                "MAXLEN",
                "~",
                "120",
                "*",
                "i",
                &i.to_string(),
            ],
        );
    }
    call(&mut c, &["XGROUP", "CREATE", "auto", "g", "0"]);
    call(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "x",
            "COUNT",
            "20",
            "STREAMS",
            "auto",
            ">",
        ],
    );
    call(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "y",
            "NOACK",
            "COUNT",
            "5",
            "STREAMS",
            "auto",
            ">",
        ],
    );
    call(
        &mut c,
        &["XAUTOCLAIM", "auto", "g", "z", "0", "0", "COUNT", "4"],
    );
    call(&mut c, &["XTRIM", "auto", "MINID", "~", "0"]);
    let before = replayable(k.port);
    drop(c);
    drop(k);
    let k = Server::kevy(&args);
    assert_same(&replayable(k.port), &before, "after replaying the log");
}

/// What a replay of the log must restore exactly: entries, counters,
/// groups, and each pending entry's owner, delivery count and time (a
/// consumer's seen time is the replay's own, as in Redis).
fn replayable(port: u16) -> Vec<Vec<u8>> {
    let mut c = conn(port);
    let mut out = Vec::new();
    for k in ["{s}a", "{s}b", "{s}e", "auto"] {
        out.push(raw(&mut c, &["XINFO", "STREAM", k]));
        out.push(raw(&mut c, &["XINFO", "GROUPS", k]));
        out.push(raw(&mut c, &["XRANGE", k, "-", "+"]));
        let groups = call(&mut c, &["XINFO", "GROUPS", k]);
        for g in groups.items().unwrap() {
            let name = s(&g.items().unwrap()[1]);
            out.push(raw(&mut c, &["XPENDING", k, &name]));
            let full = call(&mut c, &["XINFO", "STREAM", k, "FULL", "COUNT", "0"]);
            let f = full.items().unwrap();
            let groups = &f[f.len() - 1];
            for g in groups.items().unwrap() {
                let g = g.items().unwrap();
                // name, last id, entries-read, lag, pel-count, pending.
                for v in &g[..12] {
                    out.push(v.encode());
                }
            }
        }
    }
    out
}

/// A blocking read that the scenario below sends on a connection of its
/// own.
const GROUP_READ: &[&str] = &[
    "XREADGROUP",
    "GROUP",
    "g",
    "c",
    "BLOCK",
    "5000",
    "STREAMS",
    "gone",
    ">",
];

/// A new connection to `port` that has sent `args` (a blocking command)
/// and waits for its answer.
fn waiting(port: u16, args: &[&str]) -> Conn {
    let mut c = conn(port);
    c.send(&common::resp::command(args)).expect("send");
    c
}

/// A group reader blocked on a stream learns that the stream or its group
/// went, with Redis's errors: deleted, replaced by another type, flushed,
/// the group destroyed. A plain XREAD waits on. Byte for byte against redis-server,
/// on one, two and three shards.
#[test]
fn a_blocked_group_reader_is_told_its_stream_or_group_went() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut admin = conn(port);
        let mut seen = Vec::new();
        let ends: &[&[&[&str]]] = &[
            &[&["DEL", "gone"]],
            &[&["SET", "gone", "x"]],
            &[&["XGROUP", "DESTROY", "gone", "g"]],
            &[&["FLUSHDB"]],
            &[&["FLUSHALL", "ASYNC"]],
        ];
        for end in ends {
            raw(&mut admin, &["FLUSHALL"]);
            raw(
                &mut admin,
                &["XGROUP", "CREATE", "gone", "g", "$", "MKSTREAM"],
            );
            let mut w = waiting(port, GROUP_READ);
            until_blocked(&mut admin, 1);
            for cmd in end.iter() {
                seen.push(raw(&mut admin, cmd));
            }
            seen.push(w.read().expect("an answer").1);
            until_blocked(&mut admin, 0);
        }
        // A plain XREAD ahead of a group reader on the same stream does
        // not keep it from being told; the XREAD waits on and gets what
        // a new stream of that name brings.
        raw(&mut admin, &["FLUSHALL"]);
        raw(
            &mut admin,
            &["XGROUP", "CREATE", "gone", "g", "$", "MKSTREAM"],
        );
        let mut plain = waiting(port, &["XREAD", "BLOCK", "5000", "STREAMS", "gone", "$"]);
        until_blocked(&mut admin, 1);
        let mut group = waiting(port, GROUP_READ);
        until_blocked(&mut admin, 2);
        seen.push(raw(&mut admin, &["DEL", "gone"]));
        seen.push(group.read().expect("an answer").1);
        until_blocked(&mut admin, 1);
        seen.push(raw(&mut admin, &["XADD", "gone", "5-1", "f", "v"]));
        seen.push(plain.read().expect("an answer").1);
        until_blocked(&mut admin, 0);
        // XREAD (no group) is not told: it waits on, and times out.
        raw(&mut admin, &["FLUSHALL"]);
        raw(&mut admin, &["XADD", "plain", "1-1", "f", "v"]);
        let mut w = waiting(port, &["XREAD", "BLOCK", "300", "STREAMS", "plain", "$"]);
        until_blocked(&mut admin, 1);
        seen.push(raw(&mut admin, &["DEL", "plain"]));
        seen.push(w.read().expect("an answer").1);
        seen
    };
    for got in common::same_as_redis("streams-gone", &["1", "2", "3"], scenario) {
        assert!(String::from_utf8_lossy(&got[1]).starts_with("-UNBLOCKED"));
    }
}
