//! Hash field expiry end to end, over real sockets: every command's replies
//! and errors as Redis 7.4 and 8.0 document them (redis-server 7.0 has no
//! reference), lazy and active expiry, keyspace notifications, and field
//! TTLs surviving a restart from the AOF and from `dump.rdb`, which
//! Redis 7.0's `redis-check-rdb` refuses rather than loading without them.

mod common;

use common::resp::{command, escape, Conn};
use common::{have_program, Server, TempDir};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// The raw reply to `args`.
fn q(c: &mut Conn, args: &[&str]) -> String {
    c.send(&command(args)).expect("send");
    let (_, raw) = c
        .read()
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&command(args))));
    String::from_utf8_lossy(&raw).into_owned()
}

/// `args` as a command line, split on spaces.
fn qs(c: &mut Conn, line: &str) -> String {
    let args: Vec<&str> = line.split(' ').collect();
    q(c, &args)
}

fn ints(v: &[i64]) -> String {
    let mut s = format!("*{}\r\n", v.len());
    for n in v {
        s.push_str(&format!(":{n}\r\n"));
    }
    s
}

/// The first integer of an array-of-integers reply.
fn first_int(reply: &str) -> i64 {
    reply.split("\r\n").nth(1).unwrap()[1..].parse().unwrap()
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn err(text: &str) -> String {
    format!("-{text}\r\n")
}

/// An array of bulks (`None`: null).
fn bulks(v: &[Option<&str>]) -> String {
    let mut s = format!("*{}\r\n", v.len());
    for b in v {
        match b {
            Some(b) => s.push_str(&format!("${}\r\n{b}\r\n", b.len())),
            None => s.push_str("$-1\r\n"),
        }
    }
    s
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn kevy(cores: &str) -> (Server, Conn) {
    let s = Server::kevy(&["--cores", cores, "--save", ""]);
    let c = Conn::connect(s.port).expect("connect");
    (s, c)
}

/// Waits up to 5 s for `f`.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

const FAR_S: i64 = 4_000_000_000; // 2096-10-02, seconds
const FAR_MS: i64 = FAR_S * 1000;

#[test]
fn hexpire_family_replies_codes_per_field() {
    let (_s, mut c) = kevy("2");
    // A missing key: every field is missing.
    assert_eq!(
        qs(&mut c, "HEXPIRE nokey 20 NX FIELDS 2 a b"),
        ints(&[-2, -2])
    );
    assert_eq!(qs(&mut c, "HSET h a 1 b 2 c 3"), int(3));
    assert_eq!(
        qs(&mut c, "HEXPIRE h 100 FIELDS 3 a b zz"),
        ints(&[1, 1, -2])
    );
    // NX: only fields without a TTL; XX: only fields with one.
    assert_eq!(qs(&mut c, "HEXPIRE h 200 NX FIELDS 2 a c"), ints(&[0, 1]));
    assert_eq!(qs(&mut c, "HPERSIST h FIELDS 1 c"), ints(&[1]));
    assert_eq!(qs(&mut c, "HEXPIRE h 200 XX FIELDS 2 a c"), ints(&[1, 0]));
    // GT and LT: a field without a TTL counts as an infinite one.
    assert_eq!(qs(&mut c, "HEXPIRE h 100 GT FIELDS 2 a c"), ints(&[0, 0]));
    assert_eq!(qs(&mut c, "HEXPIRE h 300 GT FIELDS 1 a"), ints(&[1]));
    assert_eq!(qs(&mut c, "HEXPIRE h 400 LT FIELDS 2 a c"), ints(&[0, 1]));
    assert_eq!(qs(&mut c, "HEXPIRE h 50 LT FIELDS 1 a"), ints(&[1]));
    assert_eq!(qs(&mut c, "httl h FIELDS 3 a c b"), ints(&[50, 400, 100]));
    // Lower-case options and FIELDS.
    assert_eq!(qs(&mut c, "hpexpire h 5000 lt fields 1 a"), ints(&[1]));
    assert!((4900..=5000).contains(&first_int(&qs(&mut c, "HPTTL h FIELDS 1 a"))));
    // A time not in the future deletes the field (2); the last one, the key.
    let past = (now_ms() / 1000 - 10).to_string();
    assert_eq!(
        q(&mut c, &["HEXPIREAT", "h", &past, "FIELDS", "1", "a"]),
        ints(&[2])
    );
    assert_eq!(qs(&mut c, "HEXPIRE h 0 FIELDS 2 b zz"), ints(&[2, -2]));
    assert_eq!(qs(&mut c, "HPEXPIREAT h 1 FIELDS 1 c"), ints(&[2]));
    assert_eq!(qs(&mut c, "EXISTS h"), int(0));
    // HPEXPIREAT and HEXPIREAT set absolute times exactly.
    qs(&mut c, "HSET h a 1 b 2");
    let (s, ms) = (FAR_S.to_string(), (FAR_MS + 1).to_string());
    assert_eq!(
        q(&mut c, &["HEXPIREAT", "h", &s, "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        q(&mut c, &["HPEXPIREAT", "h", &ms, "FIELDS", "1", "b"]),
        ints(&[1])
    );
    assert_eq!(
        qs(&mut c, "HPEXPIRETIME h FIELDS 3 a b zz"),
        ints(&[FAR_MS, FAR_MS + 1, -2])
    );
    // Seconds round up, as Redis's `(expire + 999) / 1000`.
    assert_eq!(
        qs(&mut c, "HEXPIRETIME h FIELDS 2 a b"),
        ints(&[FAR_S, FAR_S + 1])
    );
}

#[test]
fn argument_errors_come_in_redis_order() {
    let (_s, mut c) = kevy("1");
    qs(&mut c, "HSET h a 1");
    qs(&mut c, "SET s v");
    let nf = "ERR Parameter `numFields` should be greater than 0";
    let mismatch = "ERR The `numfields` parameter must match the number of arguments";
    let missing = "ERR Mandatory argument FIELDS is missing or not at the right position";
    let positive = "ERR Number of fields must be a positive integer";
    for (line, want) in [
        ("HEXPIRE h 10 FIELDS 0 a", err(nf)),
        ("HEXPIRE h 10 FIELDS x a", err(nf)),
        ("HEXPIRE h 10 FIELDS -1 a", err(nf)),
        ("HEXPIRE h 10 FIELDS 2 a", err(mismatch)),
        ("HEXPIRE h 10 FIELDS 1 a b", err(mismatch)),
        ("HEXPIRE h 10 NX NX FIELDS 1 a", err(missing)),
        ("HEXPIRE h 10 FOO 1 a", err(missing)),
        (
            "HEXPIRE h -1 FIELDS 1 a",
            err("ERR invalid expire time, must be >= 0"),
        ),
        (
            "HEXPIRE h x FIELDS 1 a",
            err("ERR value is not an integer or out of range"),
        ),
        (
            "HEXPIRE h 70368744177664 FIELDS 1 a",
            err("ERR invalid expire time in 'hexpire' command"),
        ),
        (
            "HPEXPIREAT h 70368744177664 FIELDS 1 a",
            err("ERR invalid expire time in 'hpexpireat' command"),
        ),
        // The key's type is checked before anything else.
        (
            "HEXPIRE s -1 FIELDS 0 a",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        (
            "HTTL s FIELDS 1 a",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        ("HTTL h FIELDS 0 a", err(positive)),
        ("HTTL h FIELDS 2 a", err(mismatch)),
        ("HTTL h FOO 1 a", err(missing)),
        ("HPERSIST h FIELDS 0 a", err(positive)),
        ("HGETDEL h FIELDS 3 a", err(mismatch)),
        ("HGETDEL h FOO 1 a", err(missing)),
        (
            "HGETEX h EX -5 FIELDS 1 a",
            err("ERR invalid expire time, must be >= 0"),
        ),
        ("HGETEX h EX 5 FOO 1 a", err(missing)),
        ("HGETEX h PERSIST FIELDS 2 a", err(mismatch)),
        ("HGETEX h FIELDS 0 a", err(positive)),
        (
            "HEXPIRE h 10 FIELDS",
            err("ERR wrong number of arguments for 'hexpire' command"),
        ),
        (
            "HTTL h FIELDS 1",
            err("ERR wrong number of arguments for 'httl' command"),
        ),
        // HSETEX checks its options first, in order.
        (
            "HSETEX h FNX FXX FIELDS 1 a b",
            err("ERR Only one of FXX or FNX arguments can be specified"),
        ),
        (
            "HSETEX h EX 10 KEEPTTL FIELDS 1 a b",
            err("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified"),
        ),
        (
            "HSETEX h FOO FIELDS 1 a b",
            err("ERR unknown argument: FOO"),
        ),
        ("HSETEX h FIELDS 0 a b", err("ERR invalid number of fields")),
        (
            "HSETEX h FIELDS 2 a b",
            err("ERR wrong number of arguments for 'hsetex' command"),
        ),
        (
            "HSETEX h FIELDS 1 a b c",
            err("ERR wrong number of arguments for 'hsetex' command"),
        ),
        (
            "HSETEX h PX -1 FIELDS 1 a b",
            err("ERR invalid expire time, must be >= 0"),
        ),
        (
            "HSETEX s FIELDS 1 a b",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
    ] {
        assert_eq!(qs(&mut c, line), want, "{line}");
    }
    assert_eq!(qs(&mut c, "HGETALL h"), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
}

#[test]
fn ttl_reads_persist_and_hset_clears_a_ttl() {
    let (_s, mut c) = kevy("1");
    assert_eq!(qs(&mut c, "HTTL nokey FIELDS 2 a b"), ints(&[-2, -2]));
    assert_eq!(qs(&mut c, "HPERSIST nokey FIELDS 1 a"), ints(&[-2]));
    qs(&mut c, "HSET h a 1 b 2 n 10");
    assert_eq!(qs(&mut c, "HTTL h FIELDS 2 a zz"), ints(&[-1, -2]));
    assert_eq!(
        qs(&mut c, "HEXPIRE h 1000 FIELDS 3 a b n"),
        ints(&[1, 1, 1])
    );
    assert_eq!(qs(&mut c, "HPERSIST h FIELDS 3 a zz a"), ints(&[1, -2, -1]));
    // HSET drops a field's TTL; HINCRBY and HINCRBYFLOAT keep it.
    qs(&mut c, "HSET h b 3");
    assert_eq!(qs(&mut c, "HINCRBY h n 5"), int(15));
    assert_eq!(qs(&mut c, "HINCRBYFLOAT h n 0.5"), "$4\r\n15.5\r\n");
    assert_eq!(qs(&mut c, "HTTL h FIELDS 3 a b n"), ints(&[-1, -1, 1000]));
    // HDEL of a field drops its TTL with it.
    qs(&mut c, "HDEL h n");
    qs(&mut c, "HSET h n 1");
    assert_eq!(qs(&mut c, "HTTL h FIELDS 1 n"), ints(&[-1]));
    // A hash converts to a hashtable when a field first gets a TTL.
    assert_eq!(qs(&mut c, "OBJECT ENCODING h"), "$9\r\nhashtable\r\n");
}

#[test]
fn hgetex_hsetex_and_hgetdel_follow_the_docs() {
    let (_s, mut c) = kevy("2");
    // HGETEX
    assert_eq!(
        qs(&mut c, "HGETEX nokey EX 10 FIELDS 2 a b"),
        bulks(&[None, None])
    );
    qs(&mut c, "HSET mykey field1 Hello field2 World");
    assert_eq!(
        qs(&mut c, "HGETEX mykey EX 120 FIELDS 1 field1"),
        bulks(&[Some("Hello")])
    );
    assert_eq!(
        qs(&mut c, "HGETEX mykey PX 100000 FIELDS 2 field2 field3"),
        bulks(&[Some("World"), None])
    );
    assert_eq!(
        qs(&mut c, "HTTL mykey FIELDS 3 field1 field2 field3"),
        ints(&[120, 100, -2])
    );
    assert_eq!(
        qs(&mut c, "HGETEX mykey FIELDS 1 field1"),
        bulks(&[Some("Hello")])
    );
    assert_eq!(
        qs(&mut c, "HTTL mykey FIELDS 1 field1"),
        ints(&[120]),
        "no option: no change"
    );
    assert_eq!(
        qs(&mut c, "HGETEX mykey PERSIST FIELDS 1 field1"),
        bulks(&[Some("Hello")])
    );
    let at = (FAR_S).to_string();
    assert_eq!(
        q(
            &mut c,
            &["HGETEX", "mykey", "EXAT", &at, "FIELDS", "1", "field2"]
        ),
        bulks(&[Some("World")])
    );
    assert_eq!(qs(&mut c, "HTTL mykey FIELDS 1 field1"), ints(&[-1]));
    assert_eq!(
        qs(&mut c, "HEXPIRETIME mykey FIELDS 1 field2"),
        ints(&[FAR_S])
    );
    // A time not in the future deletes what it read; the last field, the key.
    assert_eq!(
        qs(&mut c, "HGETEX mykey PXAT 1 FIELDS 1 field1"),
        bulks(&[Some("Hello")])
    );
    assert_eq!(
        qs(&mut c, "HGETEX mykey EX 0 FIELDS 1 field2"),
        bulks(&[Some("World")])
    );
    assert_eq!(qs(&mut c, "EXISTS mykey"), int(0));

    // HSETEX
    assert_eq!(qs(&mut c, "HSETEX mykey FXX FIELDS 1 a b"), int(0));
    assert_eq!(qs(&mut c, "EXISTS mykey"), int(0));
    let at = FAR_S.to_string();
    assert_eq!(
        q(
            &mut c,
            &["HSETEX", "mykey", "EXAT", &at, "FIELDS", "2", "field1", "Hello", "field2", "World"]
        ),
        int(1)
    );
    assert_eq!(
        qs(&mut c, "HEXPIRETIME mykey FIELDS 2 field1 field2"),
        ints(&[FAR_S, FAR_S])
    );
    assert_eq!(
        qs(
            &mut c,
            "HSETEX mykey FNX EX 60 FIELDS 2 field1 Hello field3 x"
        ),
        int(0)
    );
    assert_eq!(
        qs(&mut c, "HEXISTS mykey field3"),
        int(0),
        "FNX refused sets nothing"
    );
    assert_eq!(
        qs(&mut c, "HSETEX mykey FXX EX 60 FIELDS 2 field1 hi field3 x"),
        int(0)
    );
    assert_eq!(
        qs(
            &mut c,
            "HSETEX mykey FXX KEEPTTL FIELDS 2 field1 hello field2 world"
        ),
        int(1)
    );
    assert_eq!(
        qs(&mut c, "HEXPIRETIME mykey FIELDS 2 field1 field2"),
        ints(&[FAR_S, FAR_S])
    );
    assert_eq!(
        qs(&mut c, "HMGET mykey field1 field2"),
        bulks(&[Some("hello"), Some("world")])
    );
    // Without an expiry option, HSETEX discards the fields' TTLs, as HSET.
    assert_eq!(qs(&mut c, "HSETEX mykey FIELDS 1 field1 v"), int(1));
    assert!(qs(&mut c, "HTTL mykey FIELDS 2 field1 field2").starts_with("*2\r\n:-1\r\n:"));
    assert_eq!(
        qs(&mut c, "HSETEX mykey FNX PX 5000 FIELDS 1 new 1"),
        int(1)
    );
    assert!((4900..=5000).contains(&first_int(&qs(&mut c, "HPTTL mykey FIELDS 1 new"))));
    // A time in the past: set, then deleted at once.
    assert_eq!(qs(&mut c, "HSETEX fresh PXAT 1 FIELDS 1 a 1"), int(1));
    assert_eq!(qs(&mut c, "EXISTS fresh"), int(0));

    // HGETDEL
    qs(&mut c, "DEL mykey");
    qs(&mut c, "HSET mykey field1 Hello field2 World field3 !");
    assert_eq!(
        qs(&mut c, "HGETDEL mykey FIELDS 2 field3 field4"),
        bulks(&[Some("!"), None])
    );
    assert_eq!(qs(&mut c, "HLEN mykey"), int(2));
    assert_eq!(
        qs(&mut c, "HGETDEL mykey FIELDS 3 field1 field2 field1"),
        bulks(&[Some("Hello"), Some("World"), None])
    );
    assert_eq!(qs(&mut c, "EXISTS mykey"), int(0));
    assert_eq!(qs(&mut c, "HGETDEL mykey FIELDS 1 a"), bulks(&[None]));
}

#[test]
fn fields_expire_lazily_and_actively() {
    let (s, mut c) = kevy("2");
    // Lazily: a read right after the time never sees the field.
    qs(&mut c, "HSET h keep 1 gone 2");
    assert_eq!(qs(&mut c, "HPEXPIRE h 30 FIELDS 1 gone"), ints(&[1]));
    thread::sleep(Duration::from_millis(40));
    assert_eq!(qs(&mut c, "HGET h gone"), "$-1\r\n");
    assert_eq!(qs(&mut c, "HGETALL h"), "*2\r\n$4\r\nkeep\r\n$1\r\n1\r\n");
    assert_eq!(qs(&mut c, "HLEN h"), int(1));
    assert_eq!(qs(&mut c, "HTTL h FIELDS 1 gone"), ints(&[-2]));
    // Actively: hashes nobody reads lose their expired fields, and a hash
    // that loses its last field goes (DBSIZE reads no key).
    for i in 0..50 {
        let k = format!("k{i}");
        q(&mut c, &["HSET", &k, "a", "1", "b", "2", "c", "3"]);
        let fields: &[&str] = if i % 2 == 0 {
            &["3", "a", "b", "c"]
        } else {
            &["2", "a", "b"]
        };
        // Long enough that a loaded machine sets them all before the first
        // expires.
        let mut args = vec!["HPEXPIRE", &k, "1000", "FIELDS"];
        args.extend_from_slice(fields);
        q(&mut c, &args);
    }
    assert_eq!(qs(&mut c, "DBSIZE"), int(51));
    wait_for("the active cycle", || qs(&mut c, "DBSIZE") == int(26));
    for i in (1..50).step_by(2) {
        let k = format!("k{i}");
        assert_eq!(q(&mut c, &["HGETALL", &k]), "*2\r\n$1\r\nc\r\n$1\r\n3\r\n");
    }
    // The hashes no field TTL is left in cost nothing any more: the index
    // drops them (seen as the store's memory settling back).
    drop(s);
}

#[test]
fn notifications_name_each_change() {
    let (s, mut c) = kevy("1");
    assert_eq!(
        qs(&mut c, "CONFIG SET notify-keyspace-events Eghx"),
        "+OK\r\n"
    );
    let mut sub = Conn::connect(s.port).expect("connect");
    q(&mut sub, &["PSUBSCRIBE", "__keyevent@0__:*"]);
    let mut expect = |c: &mut Conn, line: &str, events: &[&str]| {
        qs(c, line);
        for e in events {
            let (v, raw) = sub.read().expect("an event");
            let parts = v.items().expect("pmessage");
            let ch = String::from_utf8_lossy(parts[2].bytes().unwrap()).into_owned();
            assert_eq!(
                ch,
                format!("__keyevent@0__:{e}"),
                "{line}: {}",
                escape(&raw)
            );
        }
    };
    expect(&mut c, "HSET h a 1 b 2 c 3", &["hset"]);
    expect(&mut c, "HEXPIRE h 100 FIELDS 2 a zz", &["hexpire"]);
    expect(&mut c, "HPERSIST h FIELDS 1 a", &["hpersist"]);
    expect(&mut c, "HEXPIRE h 0 FIELDS 1 a", &["hdel"]);
    expect(&mut c, "HGETEX h EX 100 FIELDS 1 b", &["hexpire"]);
    expect(&mut c, "HGETEX h PERSIST FIELDS 1 b", &["hpersist"]);
    expect(&mut c, "HSETEX h EX 100 FIELDS 1 d 4", &["hset", "hexpire"]);
    expect(&mut c, "HGETDEL h FIELDS 1 d", &["hdel"]);
    expect(&mut c, "HPEXPIRE h 20 FIELDS 1 b", &["hexpire"]);
    thread::sleep(Duration::from_millis(30));
    // A read finds the field expired: hexpired, before the read's own reply.
    expect(&mut c, "HGET h b", &["hexpired"]);
    // The active cycle takes the last field, then the key.
    expect(&mut c, "HPEXPIRE h 20 FIELDS 1 c", &["hexpire"]);
    for e in ["hexpired", "del"] {
        let (v, _) = sub.read().expect("an event from the active cycle");
        let ch = String::from_utf8_lossy(v.items().unwrap()[2].bytes().unwrap()).into_owned();
        assert_eq!(ch, format!("__keyevent@0__:{e}"));
    }
    assert_eq!(qs(&mut c, "DBSIZE"), int(0));
}

#[test]
fn dump_and_restore_keep_field_ttls() {
    let (_s, mut c) = kevy("2");
    qs(&mut c, "HSET h a 1 b 2");
    let at = FAR_MS.to_string();
    q(&mut c, &["HPEXPIREAT", "h", &at, "FIELDS", "1", "a"]);
    c.send(&command(&["DUMP", "h"])).unwrap();
    let (v, _) = c.read().unwrap();
    let payload = v.bytes().expect("a payload").to_vec();
    assert_eq!(payload[0], 24, "Redis 7.4's HASH_METADATA type");
    let mut args: Vec<&[u8]> = vec![b"RESTORE", b"h2", b"0"];
    args.push(&payload);
    c.send(&command(&args)).unwrap();
    assert_eq!(c.read().unwrap().1, b"+OK\r\n");
    assert_eq!(
        qs(&mut c, "HPEXPIRETIME h2 FIELDS 2 a b"),
        ints(&[FAR_MS, -1])
    );
}

/// A hash with TTL'd fields in every way a restart must keep: far ones,
/// one already gone (its deletion logged), one persisted again.
fn populate(c: &mut Conn) {
    qs(c, "HSET h a 1 b 2 c 3 d 4");
    let at = FAR_MS.to_string();
    q(c, &["HPEXPIREAT", "h", &at, "FIELDS", "2", "a", "b"]);
    qs(c, "HPEXPIRE h 20 FIELDS 1 c");
    qs(c, "HPERSIST h FIELDS 1 b");
    q(
        c,
        &[
            "HSETEX",
            "s",
            "PXAT",
            &(FAR_MS + 7).to_string(),
            "FIELDS",
            "1",
            "x",
            "y",
        ],
    );
    qs(c, "HINCRBYFLOAT h a 0.5");
    thread::sleep(Duration::from_millis(30));
    assert_eq!(qs(c, "HGET h c"), "$-1\r\n");
}

fn check_restored(c: &mut Conn) {
    assert_eq!(
        qs(c, "HPEXPIRETIME h FIELDS 4 a b c d"),
        ints(&[FAR_MS, -1, -2, -1])
    );
    assert_eq!(qs(c, "HGET h a"), "$3\r\n1.5\r\n");
    assert_eq!(qs(c, "HPEXPIRETIME s FIELDS 1 x"), ints(&[FAR_MS + 7]));
}

fn kevy_in(dir: &Path, extra: &[&str]) -> (Server, Conn) {
    let mut args = vec!["--cores", "2", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = Server::kevy(&args);
    let c = Conn::connect(s.port).expect("connect");
    (s, c)
}

#[test]
fn an_aof_restart_keeps_field_ttls() {
    let dir = TempDir::new("hfe-aof");
    let aof = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    let (mut s, mut c) = kevy_in(dir.path(), &aof);
    populate(&mut c);
    // The log holds absolute times and the expiry as HDEL.
    let mut log = Vec::new();
    for e in std::fs::read_dir(dir.path().join("appendonlydir")).unwrap() {
        log.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    let log = String::from_utf8_lossy(&log);
    assert!(
        log.contains(&format!(
            "HPEXPIREAT\r\n$1\r\nh\r\n${}\r\n{FAR_MS}\r\n",
            FAR_MS.to_string().len()
        )),
        "{log}"
    );
    assert!(log.contains("HDEL\r\n$1\r\nh\r\n$1\r\nc\r\n"), "{log}");
    assert!(log.contains("HSETEX\r\n$1\r\nh\r\n$7\r\nKEEPTTL"), "{log}");
    s.terminate(Duration::from_secs(10)).expect("exits");
    let (_t, mut c) = kevy_in(dir.path(), &aof);
    check_restored(&mut c);
}

#[test]
fn an_rdb_restart_keeps_field_ttls_and_redis_7_0_refuses_the_file() {
    let dir = TempDir::new("hfe-rdb");
    let (mut s, mut c) = kevy_in(dir.path(), &["--save", ""]);
    populate(&mut c);
    assert_eq!(qs(&mut c, "SAVE"), "+OK\r\n");
    s.terminate(Duration::from_secs(10)).expect("exits");
    let (_t, mut c) = kevy_in(dir.path(), &["--save", ""]);
    check_restored(&mut c);

    if !have_program("redis-check-rdb") {
        eprintln!("redis-check-rdb not installed: skipping the Redis 7.0 check");
        return;
    }
    let out = Command::new("redis-check-rdb")
        .arg(dir.path().join("dump.rdb"))
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "redis-check-rdb accepted it: {text}");
    assert!(!text.contains("RDB looks OK"), "{text}");
    // A file whose hashes have no field TTLs stays a Redis 7.0 file.
    qs(&mut c, "FLUSHALL");
    qs(&mut c, "HSET plain a 1");
    qs(&mut c, "HSET was a 1");
    qs(&mut c, "HEXPIRE was 100 FIELDS 1 a");
    qs(&mut c, "HPERSIST was FIELDS 1 a");
    assert_eq!(qs(&mut c, "SAVE"), "+OK\r\n");
    let out = Command::new("redis-check-rdb")
        .arg(dir.path().join("dump.rdb"))
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
}

/// INFO's `field:value` lines.
fn info(c: &mut Conn) -> String {
    let r = qs(c, "INFO persistence");
    r.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_rewritten_log_keeps_field_ttls() {
    let dir = TempDir::new("hfe-rewrite");
    let aof = ["--appendonly", "yes", "--save", ""];
    let (mut s, mut c) = kevy_in(dir.path(), &aof);
    populate(&mut c);
    assert_eq!(
        qs(&mut c, "BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    wait_for("the rewrite", || {
        let i = info(&mut c);
        i.contains("aof_rewrite_in_progress:0")
            && i.contains("aof_rewrites:1")
            && i.contains("aof_last_bgrewrite_status:ok")
    });
    // After the rewrite, one more change to the logged TTLs.
    qs(&mut c, "HPERSIST s FIELDS 1 x");
    let at = (FAR_MS + 7).to_string();
    q(&mut c, &["HPEXPIREAT", "s", &at, "FIELDS", "1", "x"]);
    s.terminate(Duration::from_secs(10)).expect("exits");
    let (_t, mut c) = kevy_in(dir.path(), &aof);
    check_restored(&mut c);
}
