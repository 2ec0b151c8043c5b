//! Pub/sub end to end over real sockets on servers with several shards:
//! PUBLISH counts every receiver on every shard, one publisher's messages
//! arrive in order, patterns and shard channels, subscribed mode and
//! RESP3 pushes byte for byte as a real redis-server answers, RESET, QUIT
//! and closing drop subscriptions, and a subscriber that does not read is
//! disconnected by its output limit while the server's memory stays
//! bounded.

mod common;

use common::resp::{command, Conn, Value};
use common::Server;
use std::time::{Duration, Instant};

fn kevy(cores: &str) -> Server {
    Server::kevy(&["--cores", cores])
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn int(v: &Value) -> i64 {
    v.int()
        .unwrap_or_else(|| panic!("not an integer: {}", v.type_name()))
}

/// The parts of a message-shaped array or push as text.
fn parts(v: &Value) -> Vec<String> {
    v.items()
        .expect("an aggregate")
        .iter()
        .map(|i| match i.bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => i.int().map_or("nil".into(), |n| n.to_string()),
        })
        .collect()
}

fn read(c: &mut Conn) -> Value {
    c.read().expect("a message").0
}

/// Waits (polling) until `f` holds; panics with `what` if it never does.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn numsub(c: &mut Conn, channel: &str) -> i64 {
    let v = call(c, &["PUBSUB", "NUMSUB", channel]);
    int(&v.items().expect("array")[1])
}

#[test]
fn publish_counts_every_receiver_on_every_shard() {
    let server = kevy("3");
    // Enough connections that SO_REUSEPORT puts some on every shard.
    let mut exact: Vec<Conn> = (0..9).map(|_| conn(server.port)).collect();
    let mut pattern: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
    for c in &mut exact {
        assert_eq!(
            parts(&call(c, &["SUBSCRIBE", "news"])),
            ["subscribe", "news", "1"]
        );
    }
    for c in &mut pattern {
        assert_eq!(
            parts(&call(c, &["PSUBSCRIBE", "n*"])),
            ["psubscribe", "n*", "1"]
        );
    }
    let mut p = conn(server.port);
    assert_eq!(int(&call(&mut p, &["PUBLISH", "news", "hello"])), 15);
    assert_eq!(int(&call(&mut p, &["PUBLISH", "nope", "x"])), 6);
    assert_eq!(int(&call(&mut p, &["PUBLISH", "other", "x"])), 0);
    for c in &mut exact {
        assert_eq!(parts(&read(c)), ["message", "news", "hello"]);
    }
    for c in &mut pattern {
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "news", "hello"]);
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "nope", "x"]);
    }
    assert_eq!(numsub(&mut p, "news"), 9);
    assert_eq!(int(&call(&mut p, &["PUBSUB", "NUMPAT"])), 1);
    assert_eq!(parts(&call(&mut p, &["PUBSUB", "CHANNELS"])), ["news"]);
    assert_eq!(
        parts(&call(&mut p, &["PUBSUB", "CHANNELS", "x*"])),
        Vec::<String>::new()
    );
    let info = call(&mut p, &["INFO", "stats"]);
    let info = String::from_utf8_lossy(info.bytes().unwrap()).into_owned();
    assert!(info.contains("\r\npubsub_channels:1\r\n"), "{info}");
    assert!(info.contains("\r\npubsub_patterns:1\r\n"), "{info}");
    assert!(info.contains("\r\npubsubshard_channels:0\r\n"), "{info}");
    // CLIENT LIST tells subscribers apart.
    let list = call(&mut p, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    let list = String::from_utf8_lossy(list.bytes().unwrap()).into_owned();
    assert_eq!(list.lines().count(), 15, "{list}");
    assert_eq!(list.lines().filter(|l| l.contains(" flags=P ")).count(), 15);
    assert_eq!(
        list.lines()
            .filter(|l| l.contains(" sub=1 psub=0 ssub=0 "))
            .count(),
        9
    );
    assert_eq!(
        list.lines()
            .filter(|l| l.contains(" sub=0 psub=1 ssub=0 "))
            .count(),
        6
    );
    // Unsubscribing from everything leaves subscribed mode and the counts.
    for c in &mut exact {
        assert_eq!(
            parts(&call(c, &["UNSUBSCRIBE"])),
            ["unsubscribe", "news", "0"]
        );
        assert_eq!(call(c, &["SET", "k", "v"]).bytes(), Some(&b"OK"[..]));
    }
    assert_eq!(int(&call(&mut p, &["PUBLISH", "news", "again"])), 6);
    assert_eq!(numsub(&mut p, "news"), 0);
}

#[test]
fn one_publishers_messages_arrive_in_publish_order() {
    const N: usize = 10_000;
    let server = kevy("2");
    let mut subs: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
    for c in &mut subs {
        call(c, &["SUBSCRIBE", "burst"]);
    }
    let mut p = conn(server.port);
    let mut pipeline = Vec::new();
    for i in 0..N {
        pipeline.extend(command(&["PUBLISH", "burst", &i.to_string()]));
    }
    p.send(&pipeline).unwrap();
    for i in 0..N {
        assert_eq!(int(&p.read().unwrap().0), 6, "reply {i}");
    }
    for c in &mut subs {
        for i in 0..N {
            assert_eq!(parts(&read(c)), ["message", "burst", &i.to_string()]);
        }
    }
}

#[test]
fn shard_channels_are_apart_from_channels() {
    let server = kevy("3");
    let mut subs: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
    for c in &mut subs {
        let first = call(c, &["SSUBSCRIBE", "{t}a", "{t}b"]);
        assert_eq!(parts(&first), ["ssubscribe", "{t}a", "1"]);
        assert_eq!(parts(&read(c)), ["ssubscribe", "{t}b", "2"]);
    }
    let mut p = conn(server.port);
    assert_eq!(int(&call(&mut p, &["SPUBLISH", "{t}a", "m"])), 6);
    assert_eq!(int(&call(&mut p, &["PUBLISH", "{t}a", "m"])), 0);
    for c in &mut subs {
        assert_eq!(parts(&read(c)), ["smessage", "{t}a", "m"]);
    }
    let v = call(&mut p, &["PUBSUB", "SHARDNUMSUB", "{t}a", "zz"]);
    assert_eq!(parts(&v), ["{t}a", "6", "zz", "0"]);
    let mut chans = parts(&call(&mut p, &["PUBSUB", "SHARDCHANNELS"]));
    chans.sort();
    assert_eq!(chans, ["{t}a", "{t}b"]);
    assert_eq!(
        parts(&call(&mut p, &["PUBSUB", "CHANNELS"])),
        Vec::<String>::new()
    );
}

/// What a test script's replies look like from `server`: every byte the
/// connection received, with HELLO's connection id blanked.
fn run_script(port: u16, script: &[&[&str]]) -> String {
    let mut c = conn(port);
    let mut out = String::new();
    for cmd in script {
        c.send(&command(cmd)).unwrap();
        let (bytes, _) = c.read_until_quiet(Duration::from_millis(150));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = match text.find("$2\r\nid\r\n:") {
            Some(at) => {
                let rest = &text[at + 9..];
                let end = rest.find("\r\n").unwrap_or(0);
                format!("{}ID{}", &text[..at + 9], &rest[end..])
            }
            None => text,
        };
        out.push_str(&format!("{cmd:?} -> {}\n", text.replace("\r\n", "⏎")));
    }
    out
}

#[test]
fn subscribed_mode_and_resp3_pushes_match_redis() {
    if common::skip_redis_tools() {
        return;
    }
    let script: &[&[&str]] = &[
        &["SSUBSCRIBE", "a", "b"],
        &["SUBSCRIBE", "x"],
        &["PSUBSCRIBE", "p*"],
        &["PING"],
        &["PING", "hi"],
        &["GET", "k"],
        &["CLIENT", "LIST"],
        &["PUBLISH", "x", "m"],
        &["UNSUBSCRIBE"],
        &["SUNSUBSCRIBE", "a"],
        &["GET", "k"],
        &["PUNSUBSCRIBE"],
        &["PUNSUBSCRIBE"],
        &["SUNSUBSCRIBE"],
        &["UNSUBSCRIBE"],
        &["PUNSUBSCRIBE", "q", "r"],
        &["GET", "k"],
        &["PING"],
        &["HELLO", "3"],
        &["SUBSCRIBE", "z"],
        &["GET", "k"],
        &["PING"],
        &["UNSUBSCRIBE", "a"],
        &["PUBLISH", "z", "hello"],
        &["PSUBSCRIBE", "z*"],
        &["PUBLISH", "z", "again"],
        &["HELLO", "2"],
        &["GET", "k"],
        &["RESET"],
        &["GET", "k"],
        &["PUBSUB", "NUMSUB", "z"],
        &["PUBSUB", "NUMPAT", "x"],
        &["PUBSUB", "FOO"],
        &["PUBSUB", "HELP"],
        &["MULTI"],
        &["SUBSCRIBE", "q"],
        &["EXEC"],
        &["SUBSCRIBE", "q"],
        &["QUIT"],
    ];
    let redis = Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
    let want = run_script(redis.port, script);
    let server = kevy("2");
    let got = run_script(server.port, script);
    // kevy refuses pub/sub inside MULTI (Redis queues it): compare up to
    // there, and check kevy's answer apart.
    let cut = |s: &str| s.split("[\"MULTI\"]").next().unwrap_or("").to_string();
    assert_eq!(cut(&got), cut(&want));
    assert!(
        got.contains("[\"SUBSCRIBE\", \"q\"] -> -ERR Command not allowed inside a transaction⏎")
    );
}

#[test]
fn reset_quit_and_closing_drop_subscriptions() {
    let server = kevy("2");
    let mut p = conn(server.port);
    let mut c = conn(server.port);
    call(&mut c, &["SUBSCRIBE", "r"]);
    call(&mut c, &["PSUBSCRIBE", "r*"]);
    assert_eq!(numsub(&mut p, "r"), 1);
    assert_eq!(call(&mut c, &["RESET"]).bytes(), Some(&b"RESET"[..]));
    assert_eq!(numsub(&mut p, "r"), 0);
    assert_eq!(int(&call(&mut p, &["PUBSUB", "NUMPAT"])), 0);
    assert_eq!(int(&call(&mut p, &["PUBLISH", "r", "m"])), 0);
    assert_eq!(call(&mut c, &["SET", "k", "v"]).bytes(), Some(&b"OK"[..]));

    call(&mut c, &["SUBSCRIBE", "r"]);
    assert_eq!(call(&mut c, &["QUIT"]).bytes(), Some(&b"OK"[..]));
    eventually("QUIT drops the subscription", || numsub(&mut p, "r") == 0);

    let mut many: Vec<Conn> = (0..8).map(|_| conn(server.port)).collect();
    for c in &mut many {
        call(c, &["SUBSCRIBE", "r", "s"]);
    }
    assert_eq!(int(&call(&mut p, &["PUBLISH", "s", "m"])), 8);
    drop(many);
    eventually("closed connections drop their subscriptions", || {
        numsub(&mut p, "r") == 0 && numsub(&mut p, "s") == 0
    });
    assert_eq!(int(&call(&mut p, &["PUBLISH", "s", "m"])), 0);
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn a_subscriber_that_does_not_read_is_disconnected_by_its_output_limit() {
    let server = kevy("2");
    let mut p = conn(server.port);
    let limit = "pubsub 4mb 2mb 60";
    let v = call(
        &mut p,
        &["CONFIG", "SET", "client-output-buffer-limit", limit],
    );
    assert_eq!(v.bytes(), Some(&b"OK"[..]));
    let mut slow = conn(server.port);
    call(&mut slow, &["SUBSCRIBE", "flood"]);
    let mut fast = conn(server.port);
    call(&mut fast, &["SUBSCRIBE", "other"]);
    // 200 MB of messages for a subscriber that never reads.
    let message = "x".repeat(100 * 1024);
    let before = rss(server.pid());
    let mut receivers = Vec::new();
    for _ in 0..2000 {
        receivers.push(int(&call(&mut p, &["PUBLISH", "flood", &message])));
    }
    assert_eq!(receivers[0], 1);
    assert_eq!(*receivers.last().unwrap(), 0, "the slow subscriber is gone");
    assert_eq!(numsub(&mut p, "flood"), 0);
    let grown = rss(server.pid()).saturating_sub(before);
    assert!(grown < 64 << 20, "the server grew by {grown} bytes");
    // The other subscriber is untouched.
    assert_eq!(int(&call(&mut p, &["PUBLISH", "other", "still"])), 1);
    assert_eq!(parts(&read(&mut fast)), ["message", "other", "still"]);
    // The slow one finds its connection closed once it reads.
    let (_, closed) = slow.read_until_quiet(Duration::from_millis(200));
    assert!(closed, "the slow subscriber's connection is closed");
}

#[test]
fn publish_inside_multi_is_refused() {
    let server = kevy("2");
    let mut c = conn(server.port);
    call(&mut c, &["MULTI"]);
    let v = call(&mut c, &["PUBLISH", "a", "b"]);
    assert!(v.is_error());
    assert!(call(&mut c, &["EXEC"]).is_error());
}
