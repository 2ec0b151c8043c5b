//! Pub/sub end to end over real sockets on servers with several shards:
//! PUBLISH counts every receiver on every shard, one publisher's messages
//! arrive in order, patterns and shard channels, subscribed mode and
//! RESP3 pushes byte for byte as a real redis-server answers, RESET, QUIT
//! and closing drop subscriptions, and a subscriber that does not read is
//! disconnected by its output limit while the server's memory stays
//! bounded.

mod common;

use common::resp::{command, values_in, Conn, Value};
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
    // A script publishes too, counting the same receivers; its messages
    // go out in order when it ends.
    let counts = call(
        &mut p,
        &[
            "EVAL",
            "return {redis.call('publish', 'news', 'from lua'), \
             redis.pcall('publish', 'nope', 'y'), redis.call('publish', 'other', 'z')}",
            "0",
        ],
    );
    assert_eq!(parts(&counts), ["15", "6", "0"]);
    for c in &mut exact {
        assert_eq!(parts(&read(c)), ["message", "news", "hello"]);
        assert_eq!(parts(&read(c)), ["message", "news", "from lua"]);
    }
    for c in &mut pattern {
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "news", "hello"]);
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "nope", "x"]);
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "news", "from lua"]);
        assert_eq!(parts(&read(c)), ["pmessage", "n*", "nope", "y"]);
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
/// connection received, with HELLO's connection id blanked; and how many
/// values each step received. With `expect` (another server's counts), a
/// step that has received fewer values than that server's keeps reading
/// for up to 2 s more, so a loaded machine's slow reply (or the second
/// half of one, a message from another shard) is not taken for a missing
/// one.
fn run_script(port: u16, script: &[&[&str]], expect: Option<&[usize]>) -> (String, Vec<usize>) {
    let mut c = conn(port);
    let mut out = String::new();
    let mut counts = Vec::new();
    for (i, cmd) in script.iter().enumerate() {
        c.send(&command(cmd)).unwrap();
        let want = expect.map_or(0, |e| e[i]);
        let (bytes, _) = c.read_values(
            want,
            Duration::from_millis(150),
            Duration::from_millis(100),
            Duration::from_secs(2),
        );
        counts.push(values_in(&bytes));
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
    (out, counts)
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
        // A refused EXEC is an EXECABORT, as Redis's rejectCommand.
        &["EXEC"],
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
        &["PUBSUB", "CHANNELS", "a", "b"],
        &["PUBSUB", "shardChannels", "a", "b"],
        &["PUBSUB", "HELP"],
        &["MULTI"],
        &["SUBSCRIBE", "q"],
        &["EXEC"],
        &["SUBSCRIBE", "q"],
        &["QUIT"],
    ];
    let redis = Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
    let (want, counts) = run_script(redis.port, script, None);
    let server = kevy("2");
    let (got, _) = run_script(server.port, script, Some(&counts));
    // kevy refuses SUBSCRIBE inside MULTI (Redis 7.0 queues it): compare
    // up to there, and check kevy's answer apart.
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
    // Logged as a warning with the client's description, as Redis does.
    let line = (0..100)
        .find_map(|_| {
            let out = server.output();
            let line = out
                .lines()
                .find(|l| l.contains("for overcoming of output buffer limits"))
                .map(str::to_string);
            if line.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            line
        })
        .expect("the disconnection is logged");
    assert!(line.contains(" # Client id="), "{line}");
    assert!(line.contains(" sub=1 psub=0 "), "{line}");
    assert!(line.contains(" cmd=subscribe "), "{line}");
    assert!(
        line.ends_with(" scheduled to be closed ASAP for overcoming of output buffer limits."),
        "{line}"
    );
}

/// Subscribers of a channel, a pattern and a shard channel spread over
/// every shard (enough connections that SO_REUSEPORT puts some on each).
struct Audience {
    exact: Vec<Conn>,
    pattern: Vec<Conn>,
    shard: Vec<Conn>,
}

fn audience(port: u16) -> Audience {
    let mut a = Audience {
        exact: (0..6).map(|_| conn(port)).collect(),
        pattern: (0..4).map(|_| conn(port)).collect(),
        shard: (0..3).map(|_| conn(port)).collect(),
    };
    for c in &mut a.exact {
        call(c, &["SUBSCRIBE", "tx"]);
    }
    for c in &mut a.pattern {
        call(c, &["PSUBSCRIBE", "t*"]);
    }
    for c in &mut a.shard {
        call(c, &["SSUBSCRIBE", "stx"]);
    }
    a
}

#[test]
fn publish_inside_multi_counts_every_receiver_in_order() {
    for cores in ["2", "3"] {
        let server = kevy(cores);
        let mut a = audience(server.port);
        let mut p = conn(server.port);
        assert_eq!(int(&call(&mut p, &["PUBLISH", "tx", "before"])), 10);
        for cmd in [
            &["MULTI"][..],
            &["SET", "k", "v1"],
            &["PUBLISH", "tx", "one"],
            &["SPUBLISH", "stx", "s"],
            &["PUBSUB", "NUMSUB", "tx"],
            &["SET", "k", "v2"],
            &["PUBLISH", "tx", "two"],
            &["PUBLISH", "nobody", "x"],
            &["PUBLISH", "tea", "p"],
        ] {
            p.send(&command(cmd)).unwrap();
            p.read().expect("queued");
        }
        let exec = call(&mut p, &["EXEC"]);
        let items = exec.items().expect("EXEC's array");
        assert_eq!(items.len(), 8, "cores {cores}");
        assert_eq!(items[0].bytes(), Some(&b"OK"[..]));
        assert_eq!(int(&items[1]), 10, "cores {cores}: PUBLISH one");
        assert_eq!(int(&items[2]), 3, "cores {cores}: SPUBLISH");
        assert_eq!(parts(&items[3]), ["tx", "6"]);
        assert_eq!(int(&items[5]), 10, "cores {cores}: PUBLISH two");
        assert_eq!(int(&items[6]), 0, "cores {cores}: nobody");
        assert_eq!(int(&items[7]), 4, "cores {cores}: patterns only");
        assert_eq!(int(&call(&mut p, &["PUBLISH", "tx", "after"])), 10);
        for c in &mut a.exact {
            for m in ["before", "one", "two", "after"] {
                assert_eq!(parts(&read(c)), ["message", "tx", m], "cores {cores}");
            }
        }
        for c in &mut a.pattern {
            for (ch, m) in [("tx", "before"), ("tx", "one"), ("tx", "two"), ("tea", "p")] {
                assert_eq!(parts(&read(c)), ["pmessage", "t*", ch, m]);
            }
            assert_eq!(parts(&read(c)), ["pmessage", "t*", "tx", "after"]);
        }
        for c in &mut a.shard {
            assert_eq!(parts(&read(c)), ["smessage", "stx", "s"]);
        }
        // Nothing else arrived.
        for c in a.exact.iter_mut().chain(&mut a.pattern).chain(&mut a.shard) {
            let (rest, _) = c.read_until_quiet(Duration::from_millis(50));
            assert!(rest.is_empty(), "cores {cores}: {rest:?}");
        }
    }
}

/// A RESP3 subscriber reads the key a transaction wrote as soon as it gets
/// the transaction's first message: it sees the whole transaction.
#[test]
fn a_subscriber_reacting_to_a_message_inside_multi_sees_the_whole_transaction() {
    for cores in ["2", "3"] {
        let server = kevy(cores);
        let mut subs: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
        for c in &mut subs {
            call(c, &["HELLO", "3"]);
            call(c, &["SUBSCRIBE", "done"]);
        }
        let mut p = conn(server.port);
        for round in 0..20 {
            let (first, last) = (format!("first-{round}"), format!("last-{round}"));
            for cmd in [
                &["MULTI"][..],
                &["SET", "a", &first],
                &["PUBLISH", "done", &first],
                &["SET", "b", &first],
                &["SET", "a", &last],
                &["SET", "b", &last],
            ] {
                p.send(&command(cmd)).unwrap();
            }
            p.send(&command(&["EXEC"])).unwrap();
            for c in &mut subs {
                assert_eq!(parts(&read(c)), ["message", "done", &first]);
                let v = call(c, &["MGET", "a", "b"]);
                assert_eq!(
                    parts(&v),
                    [last.clone(), last.clone()],
                    "cores {cores} round {round}"
                );
            }
            for _ in 0..6 {
                p.read().expect("reply");
            }
            assert_eq!(p.read().expect("EXEC").0.items().map(<[_]>::len), Some(5));
        }
    }
}

#[test]
fn a_transaction_whose_watched_key_changed_publishes_nothing() {
    let server = kevy("3");
    let mut a = audience(server.port);
    let mut p = conn(server.port);
    let mut other = conn(server.port);
    call(&mut p, &["WATCH", "w"]);
    call(&mut other, &["SET", "w", "changed"]);
    call(&mut p, &["MULTI"]);
    call(&mut p, &["PUBLISH", "tx", "never"]);
    assert_eq!(call(&mut p, &["EXEC"]).type_name(), "null array");
    assert_eq!(int(&call(&mut p, &["PUBLISH", "tx", "plain"])), 10);
    for c in &mut a.exact {
        assert_eq!(parts(&read(c)), ["message", "tx", "plain"]);
    }
}

#[test]
fn subscriptions_inside_multi_are_refused() {
    let server = kevy("2");
    let mut c = conn(server.port);
    for sub in [
        &["SUBSCRIBE", "a"][..],
        &["PSUBSCRIBE", "a*"],
        &["SSUBSCRIBE", "a"],
        &["UNSUBSCRIBE"],
        &["PUNSUBSCRIBE"],
        &["SUNSUBSCRIBE"],
    ] {
        call(&mut c, &["MULTI"]);
        let v = call(&mut c, sub);
        assert!(v.is_error(), "{sub:?}");
        assert!(call(&mut c, &["EXEC"]).is_error(), "{sub:?}: EXECABORT");
    }
    assert_eq!(call(&mut c, &["GET", "k"]).kind(), b'$');
}

/// A keyspace event of a command and a message published after it reach a
/// subscriber in that order, standalone and inside MULTI, as in Redis.
#[test]
fn keyspace_events_come_before_a_later_publish() {
    // Keys on each shard of two, so the writer's own shard owns one of them.
    let keys: Vec<String> = {
        let mut by_shard: [Option<String>; 2] = [None, None];
        for i in 0.. {
            let k = format!("k{i}");
            let s = kevy_rt::shard_of(k.as_bytes(), 2);
            by_shard[s].get_or_insert(k);
            if by_shard.iter().all(Option::is_some) {
                break;
            }
        }
        by_shard.into_iter().flatten().collect()
    };
    for cores in ["1", "2"] {
        let server = kevy(cores);
        let mut c = conn(server.port);
        call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "K$"]);
        // Enough subscribers that some share the writer's shard and some
        // do not.
        let mut subs: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
        for sub in &mut subs {
            call(sub, &["PSUBSCRIBE", "__keyspace@0__:*"]);
            call(sub, &["SUBSCRIBE", "ch"]);
        }
        let events = |sub: &mut Conn| -> Vec<String> {
            (0..2).map(|_| parts(&read(sub)).join(" ")).collect()
        };
        for k in &keys {
            let event = format!("pmessage __keyspace@0__:* __keyspace@0__:{k} set");
            call(&mut c, &["SET", k, "1"]);
            call(&mut c, &["PUBLISH", "ch", "after"]);
            for sub in &mut subs {
                assert_eq!(events(sub), [&*event, "message ch after"], "cores {cores}");
            }
            call(&mut c, &["MULTI"]);
            call(&mut c, &["SET", k, "2"]);
            call(&mut c, &["PUBLISH", "ch", "in-multi"]);
            call(&mut c, &["EXEC"]);
            for sub in &mut subs {
                assert_eq!(
                    events(sub),
                    [&*event, "message ch in-multi"],
                    "cores {cores}"
                );
            }
        }
    }
}

/// A RESP3 connection subscribed to the keyspace events of keys it writes
/// gets each of its commands' events after that command's reply, as Redis
/// 7.2 sends a client its own PUBLISH (Redis 7.0's order depends on the
/// command: SET's event comes first, RPUSH's after), EXEC's after its
/// whole array; every reply stays whole.
#[test]
fn own_keyspace_events_follow_the_reply_in_resp3() {
    let server = kevy("1");
    let mut c = conn(server.port);
    call(&mut c, &["HELLO", "3"]);
    call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    call(&mut c, &["SUBSCRIBE", "__keyspace@0__:own"]);
    let event = |name: &str| {
        format!(
            ">3\r\n$7\r\nmessage\r\n$18\r\n__keyspace@0__:own\r\n${}\r\n{name}\r\n",
            name.len()
        )
    };
    let steps: [(&[&str], String); 7] = [
        (
            &["SET", "own", "v"],
            ["+OK\r\n".to_string(), event("set")].concat(),
        ),
        (
            &["DEL", "own"],
            [":1\r\n".to_string(), event("del")].concat(),
        ),
        (
            &["RPUSH", "own", "x"],
            [":1\r\n".to_string(), event("rpush")].concat(),
        ),
        (&["MULTI"], "+OK\r\n".into()),
        (&["RPUSH", "own", "y"], "+QUEUED\r\n".into()),
        (&["LPOP", "own"], "+QUEUED\r\n".into()),
        (
            &["EXEC"],
            [
                "*2\r\n:2\r\n$1\r\nx\r\n".to_string(),
                event("rpush"),
                event("lpop"),
            ]
            .concat(),
        ),
    ];
    for (args, want) in steps {
        c.send(&command(args)).unwrap();
        let got = c.read_until_quiet(Duration::from_millis(100)).0;
        assert_eq!(String::from_utf8_lossy(&got), want, "{args:?}");
    }
}

/// A RESP3 subscriber's own PUBLISH: the message comes ahead of the count
/// (as Redis sends it), after EXEC's whole array inside MULTI (a push never
/// goes inside an aggregate; Redis 7.2's order, where 7.0 breaks the
/// array), and CLIENT REPLY OFF or SKIP drops the count only, on every
/// shard layout.
#[test]
fn own_messages_survive_client_reply_and_follow_exec() {
    let message = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n";
    for layout in [
        &["--cores", "1"][..],
        &["--cores", "2"],
        &["--cores", "2", "--shards", "3"],
    ] {
        let server = Server::kevy(layout);
        let mut c = conn(server.port);
        call(&mut c, &["HELLO", "3"]);
        call(&mut c, &["SUBSCRIBE", "ch"]);
        let steps: [(&[&[&str]], String); 6] = [
            (&[&["PUBLISH", "ch", "m"]], format!("{message}:1\r\n")),
            (
                &[&["MULTI"], &["PUBLISH", "ch", "m"], &["EXEC"]],
                format!("+OK\r\n+QUEUED\r\n*1\r\n:1\r\n{message}"),
            ),
            (
                &[
                    &["CLIENT", "REPLY", "SKIP"],
                    &["PUBLISH", "ch", "m"],
                    &["PING"],
                ],
                format!("{message}+PONG\r\n"),
            ),
            (
                &[&["CLIENT", "REPLY", "OFF"], &["PUBLISH", "ch", "m"]],
                message.to_string(),
            ),
            (
                &[&["MULTI"], &["PUBLISH", "ch", "m"], &["EXEC"]],
                message.to_string(),
            ),
            (&[&["CLIENT", "REPLY", "ON"]], "+OK\r\n".to_string()),
        ];
        for (cmds, want) in steps {
            let bytes: Vec<u8> = cmds.iter().flat_map(|a| command(a)).collect();
            c.send(&bytes).unwrap();
            let (got, _) = c.read_values(
                values_in(want.as_bytes()),
                Duration::from_millis(100),
                Duration::from_millis(100),
                Duration::from_secs(5),
            );
            assert_eq!(String::from_utf8_lossy(&got), want, "{layout:?} {cmds:?}");
        }
    }
}
