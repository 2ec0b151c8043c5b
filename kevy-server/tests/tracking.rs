//! Client-side caching end to end over real sockets: invalidations as a
//! real redis-server sends them to several connections (RESP3 pushes,
//! redirects to a RESP2 subscriber or a RESP3 connection, a broken
//! redirect, BCAST prefixes, OPTIN, NOLOOP, flushes, CLIENT INFO and INFO),
//! byte for byte; on several shards, every invalidation reaching its
//! connection exactly once whichever shards the reader, the key and the
//! writer are on (reads by copy included); `tracking-table-max-keys`
//! bounding what the shards remember; closed connections leaving a
//! bounded trace; and the `redis` crate's RESP3 push support.

mod common;

use common::resp::{command, escape, parse, values_in, Conn, Value};
use common::Server;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Slots and connections stay where they start: a slot that moves tells
/// its keys' readers at once (the tests at the end, with `churn`), and the
/// counts here are those of reads that stay.
fn kevy(cores: &str) -> Server {
    Server::kevy(&["--cores", cores, "--save", "", "--shard-balance", "no"])
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

/// Sends a command on a tracking connection and reads its reply, keeping
/// the pushes that come before it in `pushes`.
fn call_keeping(c: &mut Conn, args: &[&str], pushes: &mut Vec<Value>) -> Value {
    c.send(&command(args)).unwrap();
    loop {
        let (v, _) = c.read().expect("reply");
        if v.kind() != b'>' {
            return v;
        }
        pushes.push(v);
    }
}

fn ok(c: &mut Conn, args: &[&str]) {
    let v = call(c, args);
    assert_eq!(v.bytes(), Some(&b"OK"[..]), "{args:?}: {v:?}");
}

fn client_id(c: &mut Conn) -> u64 {
    call(c, &["CLIENT", "ID"]).int().expect("an id") as u64
}

/// A RESP3 connection with tracking on, as `options` say.
fn tracker(port: u16, options: &[&str]) -> Conn {
    let mut c = conn(port);
    call(&mut c, &["HELLO", "3"]);
    let mut args = vec!["CLIENT", "TRACKING", "ON"];
    args.extend_from_slice(options);
    ok(&mut c, &args);
    c
}

/// Every value that arrives on `c` until it has been quiet for `quiet`.
fn drain(c: &mut Conn, quiet: Duration) -> Vec<Value> {
    let (bytes, _) = c.read_until_quiet(quiet);
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (v, used) = parse(&bytes[at..])
            .expect("valid RESP")
            .expect("a whole value");
        out.push(v);
        at += used;
    }
    out
}

/// The keys of an `invalidate` push (`None`: the null of a flush).
fn invalidated(v: &Value) -> Option<Vec<String>> {
    let items = v.items().expect("a push");
    assert_eq!(v.kind(), b'>', "{v:?}");
    assert_eq!(items[0].bytes(), Some(&b"invalidate"[..]), "{v:?}");
    items[1].items().map(|keys| {
        keys.iter()
            .map(|k| String::from_utf8_lossy(k.bytes().expect("a key")).into_owned())
            .collect()
    })
}

fn info_field(c: &mut Conn, name: &str) -> u64 {
    let v = call(c, &["INFO"]);
    let text = String::from_utf8_lossy(v.bytes().expect("INFO text")).into_owned();
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .expect("a number")
}

/// Waits (polling) until `f` holds; panics with `what` if it never does.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- byte for byte against redis-server, several connections ----------------

/// One step of a scenario run on several connections.
enum Step {
    /// Connection `i` sends the command (`$ID<j>` stands for connection
    /// `j`'s id).
    Cmd(usize, &'static [&'static str]),
    /// Connection `i`'s CLIENT INFO, its `flags` and `redir` only.
    Info(usize),
    /// INFO's tracking fields, asked on connection `i`.
    Stats(usize),
    /// Connection `i` closes.
    Close(usize),
}

use Step::*;

/// Connections the scenario uses.
const CONNS: usize = 11;

/// How many RESP values each connection received at each step: (step,
/// connection) → values, for the steps where it received any.
type Received = HashMap<(usize, usize), usize>;

/// What every connection of `port` received at each step of `steps`,
/// with connection ids written as `ID<j>`, and how many values. With
/// `expect` (another server's counts), a connection that has received
/// fewer than that server's at a step keeps reading for up to 2 s more: a
/// push that crosses shards on a loaded machine may come after the 40 ms
/// every step waits.
fn transcript(port: u16, steps: &[Step], expect: Option<&Received>) -> (String, Received) {
    // Outside the scenario (its id below the scenario's): sees closed
    // connections go.
    let mut admin = conn(port);
    // Ids above anything else a reply holds, so they can be told apart.
    for _ in 0..100 {
        drop(conn(port));
    }
    let mut cs: Vec<Option<Conn>> = (0..CONNS).map(|_| Some(conn(port))).collect();
    let ids: Vec<u64> = cs
        .iter_mut()
        .map(|c| client_id(c.as_mut().unwrap()))
        .collect();
    let named = |mut s: String| {
        for (j, id) in ids.iter().enumerate().rev() {
            for (from, to) in [
                (format!(":{id}\\r\\n"), format!(":ID{j}\\r\\n")),
                (format!("redir={id}"), format!("redir=ID{j}")),
            ] {
                s = s.replace(&from, &to);
            }
        }
        s
    };
    let mut out = String::new();
    let mut received = Received::new();
    for (n, step) in steps.iter().enumerate() {
        match *step {
            Cmd(i, template) => {
                let args: Vec<String> = template
                    .iter()
                    .map(|a| match a.strip_prefix("$ID") {
                        Some(j) => ids[j.parse::<usize>().unwrap()].to_string(),
                        None => a.to_string(),
                    })
                    .collect();
                let c = cs[i].as_mut().expect("open");
                c.send(&command(&args)).unwrap();
                let (_, raw) = c.read().expect("a reply");
                out.push_str(&format!("{n} c{i} {template:?} -> {}\n", escape(&raw)));
            }
            Info(i) => {
                let c = cs[i].as_mut().expect("open");
                let v = call(c, &["CLIENT", "INFO"]);
                let line = String::from_utf8_lossy(v.bytes().unwrap()).into_owned();
                let keep: Vec<&str> = line
                    .split_whitespace()
                    .filter(|f| f.starts_with("flags=") || f.starts_with("redir="))
                    .collect();
                out.push_str(&format!("{n} c{i} CLIENT INFO: {}\n", keep.join(" ")));
            }
            Stats(i) => {
                let c = cs[i].as_mut().expect("open");
                let fields: Vec<String> = ["tracking_clients", "tracking_total_keys"]
                    .iter()
                    .chain(&["tracking_total_items", "tracking_total_prefixes"])
                    .map(|f| format!("{f}={}", info_field(c, f)))
                    .collect();
                out.push_str(&format!("{n} INFO: {}\n", fields.join(" ")));
            }
            Close(i) => {
                cs[i] = None;
                // Let the server see it go before the next step: gone from
                // CLIENT LIST, then a moment more.
                let gone = format!("id={} ", ids[i]);
                eventually("the closed connection gone", || {
                    let v = call(&mut admin, &["CLIENT", "LIST"]);
                    !String::from_utf8_lossy(v.bytes().unwrap()).contains(&gone)
                });
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Whatever the step made the others (or itself) receive: it is
        // all there once the server had time to deliver it.
        std::thread::sleep(Duration::from_millis(40));
        for (j, c) in cs.iter_mut().enumerate() {
            if let Some(c) = c {
                let want = expect.and_then(|e| e.get(&(n, j))).copied().unwrap_or(0);
                let (bytes, _) = c.read_values(
                    want,
                    Duration::from_millis(3),
                    Duration::from_millis(20),
                    Duration::from_secs(2),
                );
                if !bytes.is_empty() {
                    received.insert((n, j), values_in(&bytes));
                    out.push_str(&format!("{n}   c{j} got {}\n", escape(&bytes)));
                }
            }
        }
    }
    (named(out), received)
}

/// Connections: 0 writes (RESP2); 1 tracks (RESP3); 2 subscribes to
/// `__redis__:invalidate` (RESP2), where 3 (RESP2, then RESP3) redirects;
/// 4 broadcasts; 6 redirects to 5 (RESP3, not subscribed); 7 opts in; 8
/// has NOLOOP; 10 redirects to 9, which goes away.
const SCENARIO: &[Step] = &[
    Cmd(1, &["HELLO", "3"]),
    Cmd(1, &["CLIENT", "TRACKING", "ON"]),
    Cmd(2, &["SUBSCRIBE", "__redis__:invalidate"]),
    Cmd(3, &["CLIENT", "TRACKING", "ON", "REDIRECT", "$ID2"]),
    Cmd(3, &["CLIENT", "GETREDIR"]),
    Cmd(3, &["CLIENT", "TRACKINGINFO"]),
    Info(3),
    Cmd(1, &["GET", "k1"]),
    Cmd(3, &["GET", "k1"]),
    Cmd(3, &["MGET", "k2", "k3"]),
    Stats(0),
    Cmd(0, &["SET", "k1", "v"]),
    Cmd(0, &["SET", "k2", "v"]),
    Cmd(0, &["SET", "k1", "v2"]),
    Cmd(0, &["DEL", "k3"]),
    Cmd(3, &["GET", "k3"]),
    Cmd(0, &["SET", "k3", "x"]),
    Cmd(4, &["HELLO", "3"]),
    Cmd(
        4,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cart:",
        ],
    ),
    Info(4),
    Stats(0),
    Cmd(0, &["SET", "user:1", "a"]),
    Cmd(0, &["SET", "cart:9", "b"]),
    Cmd(0, &["SET", "other", "x"]),
    Cmd(0, &["DEL", "user:1"]),
    Cmd(
        0,
        &["MSET", "user:{a}2", "1", "user:{a}1", "2", "nobody", "3"],
    ),
    Cmd(5, &["HELLO", "3"]),
    Cmd(6, &["HELLO", "3"]),
    Cmd(6, &["CLIENT", "TRACKING", "ON", "REDIRECT", "$ID5"]),
    Cmd(6, &["GET", "r1"]),
    Cmd(0, &["SET", "r1", "x"]),
    Cmd(7, &["HELLO", "3"]),
    Cmd(7, &["CLIENT", "TRACKING", "ON", "OPTIN"]),
    Cmd(7, &["GET", "o1"]),
    Cmd(7, &["CLIENT", "CACHING", "YES"]),
    Cmd(7, &["GET", "o2"]),
    Cmd(0, &["SET", "o1", "1"]),
    Cmd(0, &["SET", "o2", "1"]),
    Cmd(8, &["HELLO", "3"]),
    Cmd(8, &["CLIENT", "TRACKING", "ON", "NOLOOP"]),
    Cmd(8, &["GET", "n1"]),
    Cmd(8, &["SET", "n1", "1"]),
    Cmd(8, &["GET", "n1"]),
    Cmd(0, &["SET", "n1", "2"]),
    Cmd(10, &["HELLO", "3"]),
    Cmd(10, &["CLIENT", "TRACKING", "ON", "REDIRECT", "$ID9"]),
    Cmd(10, &["GET", "b1"]),
    Close(9),
    Cmd(0, &["SET", "b1", "1"]),
    Cmd(10, &["CLIENT", "TRACKINGINFO"]),
    Cmd(10, &["CLIENT", "GETREDIR"]),
    Info(10),
    Stats(0),
    Cmd(0, &["FLUSHALL"]),
    Cmd(3, &["HELLO", "3"]),
    Cmd(3, &["GET", "k4"]),
    Cmd(0, &["SET", "k4", "x"]),
    Cmd(0, &["FLUSHDB"]),
    Info(1),
    Cmd(1, &["CLIENT", "TRACKING", "OFF"]),
    Cmd(1, &["GET", "k5"]),
    Cmd(0, &["SET", "k5", "x"]),
    Cmd(4, &["RESET"]),
    Cmd(0, &["SET", "user:7", "x"]),
    Close(10),
    Stats(0),
];

#[test]
fn invalidations_to_several_connections_match_redis() {
    if common::skip_redis_tools() {
        return;
    }
    let redis = Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
    let (want, received) = transcript(redis.port, SCENARIO, None);
    // What the scenario is about shows in Redis's answers.
    for seen in [
        "c2 got *3\\r\\n$7\\r\\nmessage\\r\\n$20\\r\\n__redis__:invalidate\\r\\n*1\\r\\n$2\\r\\nk1",
        "c4 got >2\\r\\n$10\\r\\ninvalidate\\r\\n*2\\r\\n$9\\r\\nuser:{a}1\\r\\n$9\\r\\nuser:{a}2",
        "c5 got >2\\r\\n$10\\r\\ninvalidate\\r\\n*1\\r\\n$2\\r\\nr1",
        "c10 got >2\\r\\n$21\\r\\ntracking-redir-broken\\r\\n:ID9",
        "c2 got *3\\r\\n$7\\r\\nmessage\\r\\n$20\\r\\n__redis__:invalidate\\r\\n_",
        "flags=tR redir=ID9",
    ] {
        assert!(want.contains(seen), "{seen}\n{want}");
    }
    for cores in ["1", "3"] {
        let server = kevy(cores);
        let (got, _) = transcript(server.port, SCENARIO, Some(&received));
        if got != want {
            let diff: Vec<String> = want
                .lines()
                .zip(got.lines())
                .filter(|(w, g)| w != g)
                .take(10)
                .map(|(w, g)| format!("redis: {w}\nkevy:  {g}"))
                .collect();
            panic!(
                "kevy --cores {cores} differs from redis-server:\n{}\n\nredis:\n{want}\nkevy:\n{got}",
                diff.join("\n")
            );
        }
    }
}

// ---- on several shards: exactly once ----------------------------------------

/// Keys named so that every shard of `n` owns some of them.
fn keys_over_shards(n: usize, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("key:{i}")).collect();
    let mut seen = vec![false; n];
    for k in &keys {
        seen[kevy_rt::shard_of(k.as_bytes(), n)] = true;
    }
    assert!(seen.iter().all(|&s| s), "some shard owns none of the keys");
    keys
}

/// Collects the keys invalidated on `c` until `want` of them came (each
/// counted), then waits for anything more.
fn collect(c: &mut Conn, want: usize) -> HashMap<String, usize> {
    let mut got: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.values().sum::<usize>() < want && Instant::now() < deadline {
        for v in drain(c, Duration::from_millis(50)) {
            for k in invalidated(&v).expect("keys, not a flush") {
                *got.entry(k).or_default() += 1;
            }
        }
    }
    for v in drain(c, Duration::from_millis(200)) {
        for k in invalidated(&v).expect("keys, not a flush") {
            *got.entry(k).or_default() += 1;
        }
    }
    got
}

#[test]
fn every_invalidation_arrives_once_whichever_shards_read_and_write() {
    for cores in [2, 3] {
        // Slots stay where they start: a slot that moved would tell its
        // keys' readers at once (slots_that_move_are_nobodys_writes, and
        // a_read_of_a_missing_key_is_forgotten_when_its_slot_moves),
        // and the counts below are those of reads that stay.
        let n = cores.to_string();
        let server = Server::kevy(&["--cores", &n, "--save", "", "--shard-balance", "no"]);
        let port = server.port;
        let keys = keys_over_shards(cores, 48);
        // Enough connections that SO_REUSEPORT puts readers and writers on
        // every shard.
        let mut readers: Vec<Conn> = (0..6).map(|_| tracker(port, &[])).collect();
        let mut writers: Vec<Conn> = (0..6).map(|_| conn(port)).collect();
        for (i, r) in readers.iter_mut().enumerate() {
            if i % 2 == 0 {
                // One read over every shard (a fan-out).
                let mut args = vec!["MGET"];
                args.extend(keys.iter().map(String::as_str));
                call(r, &args);
            } else {
                for k in &keys {
                    call(r, &["GET", k]);
                }
            }
        }
        assert_eq!(
            info_field(&mut writers[0], "tracking_total_keys"),
            keys.len() as u64
        );
        assert_eq!(
            info_field(&mut writers[0], "tracking_total_items"),
            (keys.len() * readers.len()) as u64
        );
        // Each key written by one writer, several times over.
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                let w = &mut writers[(i + round) % 6];
                ok(w, &["SET", k, "v"]);
            }
        }
        for (i, r) in readers.iter_mut().enumerate() {
            let got = collect(r, keys.len());
            for k in &keys {
                assert_eq!(
                    got.get(k),
                    Some(&1),
                    "--cores {cores}: reader {i}, key {k}: {got:?}"
                );
            }
            assert_eq!(got.len(), keys.len(), "--cores {cores}: reader {i}");
        }
        assert_eq!(info_field(&mut writers[0], "tracking_total_keys"), 0);
    }
}

#[test]
fn redirected_invalidations_reach_subscribers_on_any_shard() {
    let server = kevy("3");
    let port = server.port;
    let keys = keys_over_shards(3, 24);
    // RESP2 trackers, each redirecting to its own subscriber.
    let mut pairs: Vec<(Conn, Conn)> = (0..6)
        .map(|_| {
            let mut sub = conn(port);
            call(&mut sub, &["SUBSCRIBE", "__redis__:invalidate"]);
            let id = client_id_of_subscriber(&mut sub);
            let mut t = conn(port);
            ok(
                &mut t,
                &["CLIENT", "TRACKING", "ON", "REDIRECT", &id.to_string()],
            );
            (t, sub)
        })
        .collect();
    for (t, _) in &mut pairs {
        for k in &keys {
            call(t, &["GET", k]);
        }
    }
    let mut w = conn(port);
    let mut args = vec!["MSET"];
    for k in &keys {
        args.extend([k.as_str(), "1"]);
    }
    ok(&mut w, &args);
    for (i, (_, sub)) in pairs.iter_mut().enumerate() {
        let mut got: HashMap<String, usize> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < keys.len() && Instant::now() < deadline {
            for v in drain(sub, Duration::from_millis(50)) {
                let items = v.items().expect("a message");
                assert_eq!(items[0].bytes(), Some(&b"message"[..]));
                assert_eq!(items[1].bytes(), Some(&b"__redis__:invalidate"[..]));
                for k in items[2].items().expect("keys") {
                    let k = String::from_utf8_lossy(k.bytes().unwrap()).into_owned();
                    *got.entry(k).or_default() += 1;
                }
            }
        }
        assert!(drain(sub, Duration::from_millis(200)).is_empty());
        assert_eq!(got.len(), keys.len(), "subscriber {i}: {got:?}");
        assert!(got.values().all(|&n| n == 1), "subscriber {i}: {got:?}");
    }
}

/// A subscribed RESP2 connection's id (CLIENT ID is not allowed there):
/// from CLIENT LIST, the line with `sub=1`… of this connection, found by
/// its address.
fn client_id_of_subscriber(sub: &mut Conn) -> u64 {
    let addr = sub.stream().local_addr().unwrap().to_string();
    let mut other = conn(sub.stream().peer_addr().unwrap().port());
    let v = call(&mut other, &["CLIENT", "LIST"]);
    let text = String::from_utf8_lossy(v.bytes().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("addr={addr} ")))
        .expect("the subscriber's line");
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("id="))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn reads_run_by_copy_are_remembered_by_the_keys_owners() {
    let server = kevy("3");
    let port = server.port;
    // Two sets on different shards: SUNION and SINTERCARD run by copy.
    let (a, b) = ("set:a", "set:b1");
    assert_ne!(
        kevy_rt::shard_of(a.as_bytes(), 3),
        kevy_rt::shard_of(b.as_bytes(), 3)
    );
    let mut w = conn(port);
    call(&mut w, &["SADD", a, "x"]);
    call(&mut w, &["SADD", b, "y"]);
    let mut t = tracker(port, &[]);
    call(&mut t, &["SUNION", a, b]);
    // Each shard publishes its count after its iteration: wait for both.
    eventually("both owners remember the read", || {
        info_field(&mut w, "tracking_total_keys") == 2
    });
    call(&mut w, &["SADD", b, "z"]);
    call(&mut w, &["SADD", a, "z"]);
    let got = collect(&mut t, 2);
    assert_eq!(got.get(a), Some(&1), "{got:?}");
    assert_eq!(got.get(b), Some(&1), "{got:?}");
    // In MULTI too, with OPTIN: the CACHING flag covers the block.
    let mut o = tracker(port, &["OPTIN"]);
    ok(&mut o, &["CLIENT", "CACHING", "YES"]);
    ok(&mut o, &["MULTI"]);
    call(&mut o, &["SINTERCARD", "2", a, b]);
    call(&mut o, &["GET", "plain"]);
    call(&mut o, &["EXEC"]);
    call(&mut o, &["GET", "untracked"]);
    for k in [a, b] {
        call(&mut w, &["DEL", k]);
    }
    for k in ["plain", "untracked"] {
        ok(&mut w, &["SET", k, "v"]);
    }
    let got = collect(&mut o, 3);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(!got.contains_key("untracked"), "{got:?}");
}

#[test]
fn flushes_reach_every_tracking_connection_once() {
    let server = kevy("3");
    let port = server.port;
    let mut ts: Vec<Conn> = (0..8)
        .map(|i| tracker(port, if i % 2 == 0 { &[] } else { &["BCAST"] }))
        .collect();
    let mut plain = conn(port);
    call(&mut plain, &["HELLO", "3"]);
    for t in &mut ts {
        call(t, &["GET", "k"]);
    }
    let mut w = conn(port);
    ok(&mut w, &["FLUSHALL"]);
    ok(&mut w, &["FLUSHDB"]);
    for (i, t) in ts.iter_mut().enumerate() {
        let mut nulls = 0;
        eventually("two nulls", || {
            for v in drain(t, Duration::from_millis(20)) {
                assert_eq!(invalidated(&v), None, "tracker {i}: {v:?}");
                nulls += 1;
            }
            nulls >= 2
        });
        assert!(drain(t, Duration::from_millis(150)).is_empty());
    }
    assert!(drain(&mut plain, Duration::from_millis(100)).is_empty());
    assert_eq!(info_field(&mut w, "tracking_total_keys"), 0);
}

/// A connection following every key (BCAST) hears of the keys a
/// multi-key command writes on other shards than its connection's, on a
/// server where those shards ran nothing since tracking began: the
/// command runs by copy and writes its keys back to their owners.
#[test]
fn bcast_hears_keys_written_back_to_shards_that_ran_nothing() {
    let keys = keys_over_shards(3, 12);
    let a = &keys[0];
    let b = keys
        .iter()
        .find(|k| kevy_rt::shard_of(k.as_bytes(), 3) != kevy_rt::shard_of(a.as_bytes(), 3))
        .expect("a key on another shard");
    let both = [a.as_str(), b.as_str()];
    let cases: [(&[&str], &[&str], &[&str]); 4] = [
        (
            &["RPUSH", a, "x", "y"],
            &["LMOVE", a, b, "LEFT", "RIGHT"],
            &both,
        ),
        (&["SET", a, "v"], &["RENAME", a, b], &both),
        (&["SADD", a, "m"], &["SUNIONSTORE", b, a], &[b]),
        (
            &["SET", a, "1"],
            &[
                "EVAL",
                "redis.call('INCR', KEYS[1]) redis.call('SET', KEYS[2], 'w')",
                "2",
                a,
                b,
            ],
            &both,
        ),
    ];
    for (setup, write, written) in cases {
        // A fresh server for each: a shard that ran a command since
        // tracking began would have found the table then.
        let server = kevy("3");
        let mut w = conn(server.port);
        call(&mut w, setup);
        let mut t = tracker(server.port, &["BCAST"]);
        call(&mut w, write);
        let got = collect(&mut t, written.len());
        let want: HashMap<String, usize> = written.iter().map(|k| (k.to_string(), 1)).collect();
        assert_eq!(got, want, "{write:?}");
    }
}

/// The same for keys the active cycle expires on shards that ran nothing
/// since tracking began.
#[test]
fn bcast_hears_keys_expire_on_shards_that_ran_nothing() {
    let server = kevy("3");
    let keys = keys_over_shards(3, 12);
    let mut w = conn(server.port);
    for k in &keys {
        ok(&mut w, &["SET", k, "v", "PX", "300"]);
    }
    let mut t = tracker(server.port, &["BCAST"]);
    let got = collect(&mut t, keys.len());
    let want: HashMap<String, usize> = keys.iter().map(|k| (k.clone(), 1)).collect();
    assert_eq!(got, want);
}

#[test]
fn expired_keys_are_invalidated_on_every_shard() {
    let server = kevy("3");
    let port = server.port;
    let keys = keys_over_shards(3, 12);
    let mut w = conn(port);
    let mut t = tracker(port, &[]);
    let mut pushes = Vec::new();
    for k in &keys {
        ok(&mut w, &["SET", k, "v", "PX", "300"]);
        let v = call_keeping(&mut t, &["GET", k], &mut pushes);
        assert_eq!(v.bytes(), Some(&b"v"[..]), "{k} expired too soon");
    }
    // The active cycle expires them; nobody touches them.
    let mut got = collect(&mut t, keys.len() - pushes.len());
    for v in pushes {
        for k in invalidated(&v).expect("keys") {
            *got.entry(k).or_default() += 1;
        }
    }
    assert_eq!(got.len(), keys.len(), "{got:?}");
    assert!(got.values().all(|&n| n == 1), "{got:?}");
}

// ---- bounds ------------------------------------------------------------------

#[test]
fn the_shards_remember_at_most_tracking_table_max_keys() {
    let server = kevy("3");
    let port = server.port;
    let mut admin = conn(port);
    ok(
        &mut admin,
        &["CONFIG", "SET", "tracking-table-max-keys", "20"],
    );
    let keys = keys_over_shards(3, 100);
    let mut t = tracker(port, &[]);
    let mut pushes = Vec::new();
    for k in &keys {
        call_keeping(&mut t, &["GET", k], &mut pushes);
    }
    // Each shard keeps the total within the limit (a tick evens it out).
    eventually("the table within its limit", || {
        info_field(&mut admin, "tracking_total_keys") <= 20
    });
    std::thread::sleep(Duration::from_millis(300));
    let remembered = info_field(&mut admin, "tracking_total_keys");
    assert!(remembered <= 20 && remembered > 0, "{remembered}");
    // Every key forgotten was invalidated, once; the rest still are.
    let mut got: HashMap<String, usize> = HashMap::new();
    pushes.extend(drain(&mut t, Duration::from_millis(200)));
    for v in pushes {
        for k in invalidated(&v).expect("keys") {
            *got.entry(k).or_default() += 1;
        }
    }
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    assert_eq!(got.len() as u64 + remembered, keys.len() as u64);
    for k in &keys {
        call(&mut admin, &["SET", k, "x"]);
    }
    let rest = collect(&mut t, remembered as usize);
    assert_eq!(rest.len() as u64, remembered, "{rest:?}");
    assert!(rest.keys().all(|k| !got.contains_key(k)), "{rest:?}");
    // 0: no limit.
    ok(
        &mut admin,
        &["CONFIG", "SET", "tracking-table-max-keys", "0"],
    );
    for k in &keys {
        call_keeping(&mut t, &["GET", k], &mut Vec::new());
    }
    eventually("every read remembered", || {
        info_field(&mut admin, "tracking_total_keys") == 100
    });
}

#[test]
fn connections_that_come_and_go_leave_a_bounded_trace() {
    let server = kevy("2");
    let port = server.port;
    let mut w = conn(port);
    for i in 0..200 {
        let mut t = tracker(port, if i % 4 == 0 { &["BCAST"] } else { &[] });
        call(&mut t, &["GET", "hot"]);
    }
    eventually("every tracker gone", || {
        info_field(&mut w, "tracking_clients") == 0
    });
    // Readers that closed are pruned as the entry grows: Redis would keep
    // all 150. A reader is pruned once its home has seen it close, which a
    // starved shard may see a growth step late.
    let items = info_field(&mut w, "tracking_total_items");
    assert!(items <= 32, "{items} readers remembered");
    assert_eq!(info_field(&mut w, "tracking_total_prefixes"), 0);
    ok(&mut w, &["SET", "hot", "v"]);
    eventually("the entry dropped", || {
        info_field(&mut w, "tracking_total_keys") == 0
    });
    assert_eq!(info_field(&mut w, "tracking_total_items"), 0);
}

// ---- a client library --------------------------------------------------------

#[test]
fn the_redis_crate_receives_invalidations_as_resp3_pushes() {
    let server = kevy("2");
    let url = format!("redis://127.0.0.1:{}/?protocol=resp3", server.port);
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_connection().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    c.set_push_sender(tx);
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .query(&mut c)
        .unwrap();
    let v: Option<String> = redis::cmd("GET").arg("cached").query(&mut c).unwrap();
    assert_eq!(v, None);
    let mut w = conn(server.port);
    ok(&mut w, &["SET", "cached", "1"]);
    // A sync connection reads pushes while it waits for a reply.
    let deadline = Instant::now() + Duration::from_secs(10);
    let push = loop {
        let _: String = redis::cmd("PING").query(&mut c).unwrap();
        if let Ok(p) = rx.try_recv() {
            break p;
        }
        assert!(Instant::now() < deadline, "no push");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(push.kind, redis::PushKind::Invalidate);
    assert_eq!(
        push.data,
        vec![redis::Value::Array(vec![redis::Value::BulkString(
            b"cached".to_vec()
        )])]
    );
}

// ---- start-up -----------------------------------------------------------------

/// Keys the load puts in at start-up: enough that a debug build takes a
/// while to load them.
const LOADED: usize = 1_000_000;

#[test]
fn keys_loaded_at_start_up_are_nobodys_writes() {
    let dir = common::TempDir::new("tracking-load");
    let path = dir.path().to_str().unwrap().to_string();
    let spawn = |port: u16| {
        std::process::Command::new(common::kevy_bin())
            .args(["--port", &port.to_string(), "--cores", "2"])
            .args(["--dir", &path, "--save", ""])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run kevy-server")
    };
    let connect = |port: u16| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match Conn::connect(port) {
                Ok(c) => return c,
                Err(e) => assert!(Instant::now() < deadline, "cannot connect: {e}"),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let port = common::free_port();
    let mut first = spawn(port);
    let mut c = connect(port);
    eventually("the first server up", || {
        call(&mut c, &["PING"]).bytes() == Some(&b"PONG"[..])
    });
    for batch in (0..LOADED).step_by(10_000) {
        let mut args = vec!["MSET".to_string()];
        for k in batch..batch + 10_000 {
            args.push(format!("key:{k}"));
            args.push("v".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&mut c, &args);
    }
    ok(&mut c, &["SAVE"]);
    let _ = first.kill();
    let _ = first.wait();
    // The second server loads them while a broadcasting connection that
    // follows every key (allowed while loading, as in Redis) looks on.
    let port = common::free_port();
    let mut second = spawn(port);
    let mut t = connect(port);
    call(&mut t, &["HELLO", "3"]);
    ok(&mut t, &["CLIENT", "TRACKING", "ON", "BCAST"]);
    let persistence = call(&mut t, &["INFO", "persistence"]);
    let text = String::from_utf8_lossy(persistence.bytes().unwrap()).into_owned();
    assert!(
        text.contains("loading:1"),
        "loaded too fast to tell: {text}"
    );
    let mut w = connect(port);
    let deadline = Instant::now() + Duration::from_secs(300);
    while call(&mut w, &["PING"]).bytes() != Some(&b"PONG"[..]) {
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call(&mut w, &["DBSIZE"]).int(), Some(LOADED as i64));
    assert!(drain(&mut t, Duration::from_millis(300)).is_empty());
    // Writes after the load are announced.
    ok(&mut w, &["SET", "key:1", "x"]);
    let got = collect(&mut t, 1);
    assert_eq!(got.get("key:1"), Some(&1), "{got:?}");
    let _ = second.kill();
    let _ = second.wait();
}

/// What a Lua script reads is its caller's read, as in Redis: a write of
/// the key invalidates it. With its keys on two shards the script runs by
/// copy, and the keys' owners remember the reads.
#[test]
fn keys_a_script_reads_are_remembered_for_its_caller() {
    for cores in ["1", "3"] {
        let server = kevy(cores);
        let port = server.port;
        let (a, b) = ("set:a", "set:b1");
        let mut w = conn(port);
        call(&mut w, &["SET", a, "1"]);
        call(&mut w, &["SET", b, "2"]);
        let mut t = tracker(port, &[]);
        // Reads one key, writes none: one key, on one shard.
        call(
            &mut t,
            &["EVAL", "return redis.call('get', KEYS[1])", "1", a],
        );
        // Reads both keys, on two shards at --cores 3.
        let both = "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}";
        call(&mut t, &["EVAL", both, "2", a, b]);
        // The script's reads reach their owners in a batch that leaves
        // with its reply; each owner publishes its count after the
        // iteration that takes them in.
        eventually(&format!("both reads remembered, cores {cores}"), || {
            info_field(&mut w, "tracking_total_keys") == 2
        });
        ok(&mut w, &["SET", a, "3"]);
        ok(&mut w, &["SET", b, "4"]);
        let got = collect(&mut t, 2);
        assert_eq!(got.get(a), Some(&1), "cores {cores}: {got:?}");
        assert_eq!(got.get(b), Some(&1), "cores {cores}: {got:?}");
    }
}

/// A read of a key that does not exist is tracked too. When the key's
/// slot moves, the shard it leaves forgets the read and tells the reader,
/// as it does for a key that moves: the key's next write happens where
/// the slot went, which does not know the reader.
#[test]
fn a_read_of_a_missing_key_is_forgotten_when_its_slot_moves() {
    let srv = Server::kevy(&["--cores", "2", "--save", "", "--shard-balance", "churn"]);
    let port = srv.port;
    let keys = keys_over_shards(2, 200);
    let mut w = conn(port);
    let mut reader = tracker(port, &[]);
    let mut early = Vec::new();
    for k in &keys {
        let v = call_keeping(&mut reader, &["GET", k], &mut early);
        assert_eq!(v.kind(), b'_', "{k}: {v:?}");
    }
    // Whole shards' slots move at a time: by then every slot has.
    let moved = info_field(&mut w, "kevy_moved_slots");
    eventually("every slot moved", || {
        info_field(&mut w, "kevy_moved_slots") > moved + 3 * 16_384
    });
    ok(&mut w, &["CONFIG", "SET", "shard-balance", "no"]);
    eventually("reads forgotten", || {
        info_field(&mut w, "tracking_total_keys") == 0
    });
    // Told of each key once, before anything was written.
    let mut told: HashMap<String, usize> = HashMap::new();
    for v in &early {
        for k in invalidated(v).expect("keys, not a flush") {
            *told.entry(k).or_default() += 1;
        }
    }
    let rest = keys.len() - told.values().sum::<usize>();
    for (k, n) in collect(&mut reader, rest) {
        *told.entry(k).or_default() += n;
    }
    for k in &keys {
        assert_eq!(told.get(k), Some(&1), "{k}: {told:?}");
    }
    assert_eq!(told.len(), keys.len());
    // The writes find no reader: it has not read the keys again.
    for k in &keys {
        ok(&mut w, &["SET", k, "v"]);
    }
    let heard = drain(&mut reader, Duration::from_millis(300));
    assert!(heard.is_empty(), "told again: {heard:?}");
}

/// A key whose hash slot moves to another shard is nobody's write: a
/// connection following every key (BCAST) hears nothing of the moves,
/// while one that read a key that moved is told to read it again (its
/// read was remembered where the key was), and a real write after the
/// moves is announced as ever. `shard-balance churn` moves slots, in
/// bulk too, every few samples.
#[test]
fn slots_that_move_are_nobodys_writes() {
    let srv = Server::kevy(&["--cores", "2", "--save", "", "--shard-balance", "churn"]);
    let port = srv.port;
    let keys = keys_over_shards(2, 200);
    let mut w = conn(port);
    for k in &keys {
        ok(&mut w, &["SET", k, "v"]);
    }
    let mut bcast = tracker(port, &["BCAST"]);
    let mut reader = tracker(port, &[]);
    // Slots move while it reads: invalidations may come between replies.
    let mut early = Vec::new();
    for k in &keys {
        let v = call_keeping(&mut reader, &["GET", k], &mut early);
        assert_eq!(v.bytes(), Some(&b"v"[..]), "{k}");
    }
    let moved = info_field(&mut w, "kevy_moved_slots");
    // As many slots as there are moved since, in bulk and one by one.
    eventually("slots moved", || {
        info_field(&mut w, "kevy_moved_slots") > moved + 16_384
    });
    let heard = drain(&mut bcast, Duration::from_millis(300));
    assert!(heard.is_empty(), "the BCAST follower heard {heard:?}");
    // The reader was told of keys it read, and of nothing else.
    let mut told = std::collections::HashSet::new();
    for v in early
        .iter()
        .chain(&drain(&mut reader, Duration::from_millis(300)))
    {
        told.extend(invalidated(v).expect("keys, not a flush"));
    }
    assert!(!told.is_empty(), "the reader was told nothing");
    assert!(told.iter().all(|k| keys.contains(k)), "{told:?}");
    // A real write still reaches the follower.
    ok(&mut w, &["SET", &keys[0], "x"]);
    let got = collect(&mut bcast, 1);
    assert_eq!(got.get(&keys[0]), Some(&1), "{got:?}");
}

/// CLIENT CACHING inside MULTI covers the rest of the block and ends with
/// EXEC, also when the block runs as a transaction across shards (the
/// step that sets the flag runs after EXEC was dispatched): the command
/// after EXEC is tracked as OPTOUT/OPTIN say, every time. More shards than
/// cores, so the transaction takes its time.
#[test]
fn caching_set_inside_multi_ends_with_exec() {
    let server = Server::kevy(&["--shards", "3", "--cores", "2", "--save", ""]);
    let port = server.port;
    let mut w = conn(port);
    for round in 0..8 {
        for (mode, flag) in [("OPTOUT", "NO"), ("OPTIN", "YES")] {
            let key = format!("after:{round}:{mode}");
            let mut t = tracker(port, &[mode]);
            ok(&mut t, &["MULTI"]);
            for args in [&["CLIENT", "CACHING", flag][..], &["GET", "in:block"]] {
                call(&mut t, args);
            }
            call(&mut t, &["EXEC"]);
            call(&mut t, &["GET", &key]);
            ok(&mut w, &["SET", &key, "v"]);
            ok(&mut w, &["SET", "in:block", "v"]);
            let got = collect(&mut t, 1);
            // OPTOUT: the block's read is not tracked, the one after is;
            // OPTIN: the other way round.
            let (tracked, untracked) = if mode == "OPTOUT" {
                (key.as_str(), "in:block")
            } else {
                ("in:block", key.as_str())
            };
            assert_eq!(got.get(tracked), Some(&1), "{mode} round {round}: {got:?}");
            assert!(
                !got.contains_key(untracked),
                "{mode} round {round}: {got:?}"
            );
        }
    }
}

/// CLIENT REPLY OFF drops replies, not invalidations: a connection's own
/// writes invalidate its keys on every shard, also those whose reply comes
/// back from another shard (the invalidation that follows such a reply).
#[test]
fn reply_off_keeps_own_invalidations_from_every_shard() {
    let server = Server::kevy(&["--cores", "2", "--shards", "3", "--save", ""]);
    let mut c = tracker(server.port, &[]);
    let keys: Vec<String> = (0..12).map(|i| format!("own{i}")).collect();
    for k in &keys {
        call(&mut c, &["GET", k]);
    }
    // REPLY OFF answers nothing.
    let mut bytes = command(&["CLIENT", "REPLY", "OFF"]);
    for k in &keys {
        bytes.extend(command(&["SET", k, "1"]));
    }
    c.send(&bytes).unwrap();
    let mut got = Vec::new();
    while got.len() < keys.len() {
        let (v, _) = c.read().expect("an invalidation");
        assert_eq!(v.kind(), b'>', "{v:?}");
        let items = v.items().unwrap();
        for k in items[1].items().unwrap() {
            got.push(String::from_utf8(k.bytes().unwrap().to_vec()).unwrap());
        }
    }
    got.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(got, want);
    ok(&mut c, &["CLIENT", "REPLY", "ON"]);
}
