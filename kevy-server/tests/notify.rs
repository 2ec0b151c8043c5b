//! Keyspace notifications against a real redis-server: a subscriber with
//! `PSUBSCRIBE __key*__:*` on each server, the same commands on another
//! connection, and the messages each command made compared byte for byte,
//! in order, on one shard and on two (keys on both). After each command
//! the driver publishes a marker on a channel the pattern matches and
//! reads the subscriber up to it: with two shards every event comes either
//! from the subscriber's own shard (delivered before the command's reply)
//! or from the other one, on the same ring as the marker, so the marker
//! follows every event of the command.
//!
//! A command whose keys live on several shards runs its parts on each,
//! and their events reach a subscriber in no set order between shards (a
//! documented difference): scripts mark such commands with `~`, and on
//! two shards their events are compared key by key.

mod common;

use common::resp::{command, escape, Conn};
use common::Server;

const MARK: &str = "__keymark__:end";

/// A message: its channel and payload.
type Event = (Vec<u8>, Vec<u8>);

/// One server with a command connection and a subscriber.
struct Side {
    cmd: Conn,
    sub: Conn,
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

/// The reply's bytes.
fn call(c: &mut Conn, args: &[impl AsRef<[u8]>]) -> Vec<u8> {
    c.send(&command(args)).expect("send");
    c.read()
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&command(args))))
        .1
}

impl Side {
    fn open(port: u16, flags: &str) -> Side {
        let mut cmd = conn(port);
        assert_eq!(call(&mut cmd, &["FLUSHALL"]), b"+OK\r\n");
        assert_eq!(
            call(
                &mut cmd,
                &["CONFIG", "SET", "notify-keyspace-events", flags]
            ),
            b"+OK\r\n"
        );
        let mut sub = conn(port);
        call(&mut sub, &["PSUBSCRIBE", "__key*__:*"]);
        Side { cmd, sub }
    }

    /// Runs `args`; its reply and the messages the subscriber got for it
    /// (each a pmessage's channel and payload). Inside MULTI, where the
    /// marker would be queued, only the reply.
    fn run(&mut self, args: &[&[u8]], in_multi: bool) -> (Vec<u8>, Vec<Event>) {
        let reply = call(&mut self.cmd, args);
        if in_multi {
            return (reply, Vec::new());
        }
        (reply, self.until_mark())
    }

    /// Publishes the marker and reads every message before it.
    fn until_mark(&mut self) -> Vec<Event> {
        call(&mut self.cmd, &["PUBLISH", MARK, "x"]);
        let mut got = Vec::new();
        loop {
            let (v, raw) = self.sub.read().expect("a message");
            let parts = v.items().expect("a pmessage");
            let text = |i: usize| parts[i].bytes().expect("bulk").to_vec();
            assert_eq!(text(0), b"pmessage", "{}", escape(&raw));
            let (channel, message) = (text(2), text(3));
            if channel == MARK.as_bytes() {
                return got;
            }
            got.push((channel, message));
        }
    }
}

fn show(events: &[Event]) -> String {
    events
        .iter()
        .map(|(c, m)| format!("{} {}", escape(c), escape(m)))
        .collect::<Vec<_>>()
        .join(" ; ")
}

/// The key an event is about.
fn key_of(e: &Event) -> Vec<u8> {
    if e.0.starts_with(b"__keyspace@") {
        let at = e.0.windows(3).position(|w| w == b"__:").expect("__:");
        e.0[at + 3..].to_vec()
    } else {
        e.1.clone()
    }
}

/// The events of each key, in order.
fn by_key(events: &[Event]) -> Vec<(Vec<u8>, Vec<Event>)> {
    let mut keys: Vec<(Vec<u8>, Vec<Event>)> = Vec::new();
    for e in events {
        let k = key_of(e);
        match keys.iter_mut().find(|(x, _)| *x == k) {
            Some((_, v)) => v.push(e.clone()),
            None => keys.push((k, vec![e.clone()])),
        }
    }
    keys.sort();
    keys
}

fn redis() -> Option<Server> {
    if common::skip_redis_tools() {
        return None;
    }
    Some(Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}")))
}

/// Runs `script` (one command a line, `""` an empty argument; `#` starts
/// a comment; a leading `~`
/// marks a command whose keys may span shards) with `flags` on redis and
/// on kevy with 1 and 2 shards, and compares each command's reply and
/// events.
fn compare(flags: &str, script: &str) {
    compare_with(flags, script, &[]);
}

/// [`compare`] with arguments named in `vars` replaced by their bytes.
fn compare_with(flags: &str, script: &str, vars: &[(&str, &[u8])]) {
    let Some(redis) = redis() else { return };
    for cores in ["1", "2"] {
        let kevy = Server::kevy(&["--cores", cores, "--save", ""]);
        let mut r = Side::open(redis.port, flags);
        let mut k = Side::open(kevy.port, flags);
        let mut in_multi = false;
        for line in script.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (spread, line) = match line.strip_prefix('~') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let args: Vec<&[u8]> = line
                .split_whitespace()
                .map(|a| match vars.iter().find(|(name, _)| *name == a) {
                    Some((_, v)) => *v,
                    None if a == "\"\"" => &b""[..],
                    None => a.as_bytes(),
                })
                .collect();
            let name = args[0].to_ascii_lowercase();
            in_multi = match &name[..] {
                b"multi" => true,
                b"exec" | b"discard" => false,
                _ => in_multi,
            };
            let (want_reply, want) = r.run(&args, in_multi);
            let (got_reply, got) = k.run(&args, in_multi);
            let ctx = format!("flags {flags:?}, --cores {cores}: {line}");
            assert_eq!(
                escape(&got_reply),
                escape(&want_reply),
                "reply differs; {ctx}"
            );
            if spread && cores != "1" {
                assert_eq!(
                    by_key(&got),
                    by_key(&want),
                    "events differ (key by key); {ctx}\n kevy:  {}\n redis: {}",
                    show(&got),
                    show(&want)
                );
            } else {
                assert_eq!(
                    show(&got),
                    show(&want),
                    "events differ; {ctx}\n kevy:  {}\n redis: {}",
                    show(&got),
                    show(&want)
                );
            }
        }
    }
}

#[test]
fn strings_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        SET a 1
        SET a 2 EX 100
        SET a 3 PX 100000 KEEPTTL
        SET a 3 KEEPTTL
        SET a 4 NX
        SET b 4 XX
        SET b 4 NX GET
        SET b 5 XX GET
        SETNX d 1
        SETNX d 2
        SETEX e 100 v
        PSETEX f 100000 v
        GETSET a x
        GETSET nokey y
        GETDEL a
        GETDEL a
        GETEX b
        GETEX b EX 100
        GETEX b PX 100000
        GETEX b PERSIST
        GETEX b PERSIST
        GETEX b PXAT 1
        GETEX nokey EX 10
        INCR n
        INCRBY n 5
        DECR n
        DECRBY n 2
        INCR e
        INCRBYFLOAT fl 1.5
        INCRBYFLOAT fl x
        APPEND ap hello
        APPEND ap world
        SETRANGE ap 0 H
        SETRANGE ap 0 \"\"
        SETRANGE sr 3 x
        PFADD hl a b
        PFADD hl a
        PFADD hl
        PFADD hl2
        PFCOUNT hl
        ~PFMERGE hm hl hl2
        PFADD ap x
        PFDEBUG TODENSE hl
        STRLEN ap
        GETRANGE ap 0 2
        ~MSET m1 1 m2 2 m3 3 a 1
        ~MSETNX m1 1 m4 4
        ~MSETNX m4 4 m5 5
        ~MGET m1 nokey
        SET {t}a 1
        ~MSET {t}a 2 {t}b 3
        ",
    );
}

#[test]
fn keys_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        ~MSET a 1 b 2 c 3 d 4 e 5 f 6
        ~DEL a b nokey
        ~UNLINK c nokey d
        ~DEL nokey
        SET a 1
        RENAME a b
        RENAME b b
        RENAME nokey b
        SET c 1
        RENAME b c
        RENAMENX c d
        SET e 1
        RENAMENX d e
        RENAME {x}a {x}b
        SET {x}a 1
        RENAME {x}a {x}b
        COPY c g
        COPY c g
        COPY c g REPLACE
        COPY c h DB 1
        COPY c h DB 1 REPLACE
        COPY nokey h
        MOVE g 1
        MOVE e 1
        SET e 1
        MOVE e 1
        MOVE nokey 1
        SELECT 1
        DEL g h e
        SELECT 0
        EXPIRE c 100
        EXPIRE c 100 NX
        EXPIRE c 200 XX
        EXPIRE c 50 GT
        PEXPIRE c 100000 LT
        EXPIREAT c 99999999999
        PEXPIREAT c 99999999999999
        PERSIST c
        PERSIST c
        PERSIST nokey
        EXPIRE nokey 10
        EXPIRE c 0
        SET c 1
        EXPIRE c -1
        SET c 1
        PEXPIREAT c 1
        SET c 1
        EXPIREAT c 1 NX
        TTL c
        TYPE c
        ~EXISTS c nokey
        ~TOUCH c nokey
        FLUSHDB
        SET c 1
        FLUSHALL
        SET c 1
        SWAPDB 0 1
        RPUSH l 3 1 2
        SORT l
        SORT l STORE dst
        SORT l STORE dst
        SORT nokey STORE dst
        SORT nokey STORE dst
        SORT l LIMIT 5 5 STORE {l}dst
        SORT_RO l
        ",
    );
}

#[test]
fn lists_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        LPUSH l a b c
        RPUSH l d
        LPUSHX l e
        RPUSHX l f
        LPUSHX nokey e
        RPUSHX nokey e
        LPOP l
        RPOP l
        LPOP l 2
        LPOP l 0
        RPOP l 0
        LPOP nokey
        LPOP nokey 2
        RPUSH l x y
        RPOP l 10
        RPUSH l a b c a
        LSET l 0 z
        LSET l 99 z
        LSET nokey 0 z
        LINSERT l BEFORE b q
        LINSERT l AFTER nopivot q
        LINSERT nokey AFTER b q
        LREM l 0 a
        LREM l 0 nothing
        LREM nokey 0 a
        LTRIM l 0 100
        LTRIM l 1 1
        LTRIM l 5 1
        LTRIM nokey 0 1
        RPUSH l a b c
        LREM l 0 a
        LREM l 0 b
        LREM l 0 c
        RPUSH src a b
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LMOVE src dst RIGHT LEFT
        RPOPLPUSH dst dst
        RPOPLPUSH dst dst2
        RPOPLPUSH nokey dst2
        LMOVE {s}src {s}dst LEFT LEFT
        RPUSH {s}src a
        LMOVE {s}src {s}dst LEFT LEFT
        RPUSH m1 a b c
        ~LMPOP 2 nokey m1 LEFT COUNT 2
        ~LMPOP 2 nokey m1 RIGHT COUNT 5
        ~LMPOP 2 nokey m1 RIGHT
        RPUSH b1 a b
        ~BLPOP nokey b1 0
        ~BRPOP nokey b1 0
        RPUSH b1 a b
        BLMOVE b1 b2 LEFT RIGHT 0
        BRPOPLPUSH b1 b2 0
        RPUSH b1 a b
        ~BLMPOP 0 2 nokey b1 LEFT COUNT 3
        LLEN l
        LRANGE l 0 -1
        LINDEX l 0
        LPOS l a
        ",
    );
}

#[test]
fn hashes_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        HSET h a 1 b 2
        HSET h a 1
        HMSET h c 3
        HSETNX h c 4
        HSETNX h d 4
        HSETNX h2 d 4
        HDEL h a nofield
        HDEL h nofield
        HDEL nokey a
        HINCRBY h n 5
        HINCRBY h2 n 5
        HINCRBY h a x
        HSET h s x
        HINCRBY h s 1
        HINCRBYFLOAT h f 1.5
        HINCRBYFLOAT h3 f 1.5
        HDEL h2 d n
        HGET h b
        HGET nokey b
        HMGET nokey b
        HGETALL nokey
        HLEN nokey
        HEXISTS nokey a
        HSTRLEN nokey a
        HKEYS nokey
        HVALS nokey
        ",
    );
}

#[test]
fn sets_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        SADD s a b c
        SADD s a
        SADD s d
        SREM s a nomember
        SREM s nomember
        SREM nokey a
        SADD one x
        SPOP one
        SPOP nokey
        SADD two x
        SPOP two 0
        SPOP two 5
        SPOP nokey 2
        SADD src a b
        SMOVE src dst a
        SMOVE src dst a
        SMOVE src dst b
        SMOVE nokey dst a
        SADD src a
        SADD dst a
        SMOVE src dst a
        SMOVE dst dst a
        SADD {s}src a
        SMOVE {s}src {s}dst a
        SADD s1 a b c
        SADD s2 b c d
        SINTERSTORE out s1 s2
        SINTERSTORE out s1 s2
        SINTERSTORE out s1 nokey
        SINTERSTORE out s1 nokey
        SUNIONSTORE out s1 s2
        SUNIONSTORE out nokey
        SUNIONSTORE out nokey
        SDIFFSTORE out s1 s2
        SDIFFSTORE out s1 s1
        SDIFFSTORE {s}out {s}src
        SINTER s1 nokey
        SUNION nokey
        SDIFF nokey s1
        SISMEMBER nokey a
        SMISMEMBER nokey a
        SCARD nokey
        SMEMBERS nokey
        SRANDMEMBER nokey
        ",
    );
}

#[test]
fn zsets_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a
        ZADD z CH 5 a
        ZADD z NX 9 a
        ZADD z XX 9 nomember
        ZADD nokey XX 1 a
        ZADD z GT 1 a
        ZADD z INCR 1 a
        ZINCRBY z 2 b
        ZINCRBY z2 2 b
        ZADD z INCR +inf a
        ZADD z INCR -inf a
        ZREM z a nomember
        ZREM z nomember
        ZREM nokey a
        ZADD r 1 a 2 b 3 c 4 d 5 e 6 f
        ZREMRANGEBYRANK r 0 0
        ZREMRANGEBYRANK r 10 20
        ZREMRANGEBYSCORE r 2 3
        ZREMRANGEBYLEX r [e [e
        ZREMRANGEBYSCORE r -inf +inf
        ZREMRANGEBYLEX nokey - +
        ZADD p 1 a 2 b 3 c 4 d
        ZPOPMIN p
        ZPOPMAX p
        ZPOPMIN p 0
        ZPOPMAX p 5
        ZPOPMIN nokey
        ZADD p 1 a 2 b 3 c
        ~ZMPOP 2 nokey p MIN COUNT 2
        ~ZMPOP 2 nokey p MAX
        ZADD p 1 a 2 b
        ~BZPOPMIN nokey p 0
        ~BZPOPMAX nokey p 0
        ZADD p 1 a 2 b
        ~BZMPOP 0 2 nokey p MIN COUNT 5
        ZADD s1 1 a 2 b 3 c
        ZADD s2 1 b 2 c 3 d
        ZRANGESTORE out s1 0 1
        ZRANGESTORE out s1 5 10
        ZRANGESTORE out s1 5 10
        ZUNIONSTORE out 2 s1 s2
        ZINTERSTORE out 2 s1 s2
        ZDIFFSTORE out 2 s1 s2
        ZDIFFSTORE out 2 s1 s1
        ZDIFFSTORE out 2 s1 s1
        ZINTERSTORE out 2 s1 nokey
        ZUNIONSTORE {z}out 1 {z}in
        ZSCORE nokey a
        ZRANGE nokey 0 -1
        ZCARD nokey
        ZRANK nokey a
        ZCOUNT nokey 0 1
        ZMSCORE nokey a
        ZRANDMEMBER nokey
        ZUNION 2 s1 nokey
        ZINTERCARD 2 s1 nokey
        ",
    );
}

#[test]
fn geo_notifies_as_redis_does() {
    compare(
        "AKEn",
        "
        GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD g 13.361389 38.115556 Palermo
        GEOADD g CH 13.4 38.1 Palermo
        GEOADD g XX 1 1 nomember
        GEOADD nokey XX 1 1 a
        GEOADD g 1 100 a
        GEORADIUS g 15 37 200 km STORE out
        GEORADIUS g 15 37 200 km STOREDIST out
        GEORADIUS g 15 37 1 km STORE out
        GEORADIUS g 15 37 1 km STORE out
        GEORADIUS nokey 15 37 1 km STORE g2
        GEORADIUSBYMEMBER g Palermo 300 km STORE out2
        GEOSEARCHSTORE out3 g FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCHSTORE out3 g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        GEOSEARCHSTORE out3 g FROMLONLAT 15 37 BYRADIUS 1 km
        GEOSEARCHSTORE out3 nokey FROMLONLAT 15 37 BYRADIUS 1 km
        GEOSEARCHSTORE {g}out g FROMLONLAT 15 37 BYRADIUS 1 km
        GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 200 km
        GEOPOS nokey a
        GEODIST nokey a b
        GEOHASH nokey a
        ",
    );
}

#[test]
fn restore_notifies_as_redis_does() {
    let Some(redis) = redis() else { return };
    let mut c = conn(redis.port);
    call(&mut c, &["RPUSH", "dumped", "a", "b"]);
    let (v, _) = {
        c.send(&command(&["DUMP", "dumped"])).expect("send");
        c.read().expect("DUMP")
    };
    let payload = v.bytes().expect("a payload").to_vec();
    drop(redis);
    compare_with(
        "AKEn",
        "
        RESTORE r 0 PAYLOAD
        RESTORE r 0 PAYLOAD
        RESTORE r 0 PAYLOAD REPLACE
        RESTORE r 100000 PAYLOAD REPLACE
        RESTORE r 1 PAYLOAD REPLACE ABSTTL
        RESTORE r 1 PAYLOAD REPLACE ABSTTL
        RESTORE r2 1 PAYLOAD ABSTTL
        RESTORE r2 0 PAYLOAD
        DUMP r2
        DUMP nokey
        ",
        &[("PAYLOAD", &payload)],
    );
}

#[test]
fn reads_of_missing_keys_notify_keymiss() {
    compare(
        "KEAm",
        "
        GET nokey
        SET s v
        GET s
        STRLEN nokey
        GETRANGE nokey 0 1
        GETEX nokey
        GETDEL nokey
        GETSET nokey v
        SET nokey2 v GET
        ~MGET s nokey nokey2 other
        ~EXISTS nokey s other
        ~TOUCH nokey other
        TYPE nokey
        TTL nokey
        PTTL nokey
        EXPIRETIME nokey
        OBJECT ENCODING nokey
        DUMP nokey
        COPY nokey dst
        RENAME nokey dst
        INCR n
        APPEND nokey3 x
        LLEN nokey
        LRANGE nokey 0 1
        LINDEX nokey 0
        LPOS nokey a
        LPOP nokey
        RPOPLPUSH nokey dst
        HGET nokey f
        HMGET nokey f
        HGETALL nokey
        HEXISTS nokey f
        HLEN nokey
        HSTRLEN nokey f
        HRANDFIELD nokey
        HSCAN nokey 0
        HDEL nokey f
        SMEMBERS nokey
        SISMEMBER nokey a
        SMISMEMBER nokey a
        SCARD nokey
        SRANDMEMBER nokey
        SSCAN nokey 0
        SINTER nokey s2
        SUNION nokey
        SDIFF nokey
        SINTERCARD 1 nokey
        SREM nokey a
        ZSCORE nokey a
        ZMSCORE nokey a
        ZCARD nokey
        ZCOUNT nokey 0 1
        ZLEXCOUNT nokey - +
        ZRANK nokey a
        ZRANGE nokey 0 1
        ZRANGEBYSCORE nokey 0 1
        ZRANDMEMBER nokey
        ZSCAN nokey 0
        ZUNION 1 nokey
        ZRANGESTORE dst nokey 0 1
        ZREM nokey a
        SORT nokey
        SORT_RO nokey
        # With patterns, SORT runs by copy on several shards: only the
        # lookups Redis makes notify (the sorted key once, each weight).
        RPUSH sl 1 2 3
        SET w_1 1
        ~SORT sl BY w_*
        ~SORT sl BY w_* GET o_*
        ~SORT nosl BY w_*
        ~SORT_RO nosl BY w_* GET #
        MULTI
        ~SORT nosl BY w_*
        EXEC
        # GETSET made nokey: these look up keys that are missing. OBJECT
        # and the blocking pops look keys up without the event.
        TYPE gone
        OBJECT ENCODING gone
        OBJECT REFCOUNT gone
        OBJECT IDLETIME gone
        BLPOP gone 0.01
        ~BRPOP gone gone2 gone3 0.01
        BLMPOP 0.01 1 gone LEFT
        MULTI
        BLPOP gone 1
        EXEC
        ",
    );
}

#[test]
fn classes_choose_what_is_published() {
    let script = "
        SET a 1
        EXPIRE a 100
        LPUSH l x y
        LPOP l 2
        SADD s a
        HSET h f v
        ZADD z 1 a
        ~DEL a s h z
        GET nokey
        RPUSH {l}a x
        LMOVE {l}a {l}b LEFT RIGHT
        ";
    for flags in [
        "Kl", "Ex", "Eg$", "A", "Kg", "Elsh", "Kz$", "En", "Km", "KEn", "KEA", "",
    ] {
        compare(flags, script);
    }
}

#[test]
fn transactions_and_databases_notify_as_redis_does() {
    compare(
        "AKEn",
        "
        MULTI
        SET a 1
        LPUSH l x
        DEL a
        INCR n
        ~EXEC
        MULTI
        SET {t}a 1
        RENAME {t}a {t}b
        EXEC
        SELECT 3
        SET a 1
        LPUSH l x
        MOVE a 0
        SELECT 0
        ~DEL a l n {t}b
        ",
    );
}

/// Each `(wait, push)`: a client blocks with `wait`, another runs `push`,
/// and the events of the push and of the pop that serves the waiter are
/// compared once the waiter has its answer.
fn compare_served(flags: &str, cases: &[(&str, &str)]) {
    let Some(redis) = redis() else { return };
    for cores in ["1", "2"] {
        let kevy = Server::kevy(&["--cores", cores, "--save", ""]);
        let mut r = Side::open(redis.port, flags);
        let mut k = Side::open(kevy.port, flags);
        for (wait, push) in cases {
            let wait: Vec<&str> = wait.split_whitespace().collect();
            let push: Vec<&str> = push.split_whitespace().collect();
            let mut got = Vec::new();
            for (side, port) in [(&mut r, redis.port), (&mut k, kevy.port)] {
                let mut w = conn(port);
                w.send(&command(&wait)).expect("send");
                // The waiter is parked once CLIENT LIST shows it blocked.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    let list = call(&mut side.cmd, &["CLIENT", "LIST"]);
                    if String::from_utf8_lossy(&list).contains(" flags=b ") {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{wait:?} never blocked"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let reply = call(&mut side.cmd, &push);
                let (_, served) = w.read().expect("the waiter's answer");
                got.push((reply, served, side.until_mark()));
            }
            let ctx = format!("flags {flags:?}, --cores {cores}: {wait:?} then {push:?}");
            let (want, have) = (&got[0], &got[1]);
            assert_eq!(escape(&have.0), escape(&want.0), "push reply; {ctx}");
            assert_eq!(escape(&have.1), escape(&want.1), "waiter's answer; {ctx}");
            assert_eq!(
                show(&have.2),
                show(&want.2),
                "events differ; {ctx}\n kevy:  {}\n redis: {}",
                show(&have.2),
                show(&want.2)
            );
        }
    }
}

#[test]
fn pops_served_later_notify_as_redis_does() {
    compare_served(
        "AKEn",
        &[
            ("BLPOP b1 0", "RPUSH b1 x"),
            ("BRPOP b2 0", "RPUSH b2 x y"),
            ("BLMOVE b3 d3 LEFT RIGHT 0", "RPUSH b3 x"),
            ("BRPOPLPUSH b4 {b4}d 0", "RPUSH b4 x"),
            ("BLMPOP 0 1 b5 LEFT COUNT 3", "RPUSH b5 x y"),
            ("BZPOPMIN z1 0", "ZADD z1 1 a"),
            ("BZPOPMAX z2 0", "ZADD z2 1 a 2 b"),
            ("BZMPOP 0 1 z3 MIN COUNT 5", "ZADD z3 1 a 2 b"),
            ("BLPOP b6 b7 b8 b9 0", "RPUSH b9 x"),
            ("BZPOPMIN z4 z5 z6 z7 0", "ZADD z7 1 a"),
        ],
    );
}

/// Keys on every shard of `nshards`, `per` on each.
fn keys_on_shards(tag: &str, nshards: usize, per: usize) -> Vec<String> {
    let mut count = vec![0; nshards];
    let mut keys = Vec::new();
    for i in 0.. {
        let k = format!("{tag}{i}");
        let s = kevy_rt::shard_of(k.as_bytes(), nshards);
        if count[s] < per {
            count[s] += 1;
            keys.push(k);
        }
        if count.iter().all(|&c| c == per) {
            return keys;
        }
    }
    unreachable!()
}

/// Keys whose time passes while nobody reads them are expired by the
/// active cycle of the shard that owns them: one `expired` each.
#[test]
fn active_expiry_notifies_on_every_shard() {
    let Some(redis) = redis() else { return };
    for cores in [1, 2] {
        let kevy = Server::kevy(&["--cores", &cores.to_string(), "--save", ""]);
        let keys = keys_on_shards("act", cores, 4);
        let mut seen = Vec::new();
        for port in [redis.port, kevy.port] {
            let mut side = Side::open(port, "KEx");
            for k in &keys {
                call(&mut side.cmd, &["SET", k, "v", "PX", "30"]);
            }
            let mut events = Vec::new();
            while events.len() < 2 * keys.len() {
                let (v, _) = side.sub.read().expect("an expired event");
                let parts = v.items().expect("a pmessage");
                let text = |i: usize| parts[i].bytes().expect("bulk").to_vec();
                events.push((text(2), text(3)));
            }
            // Nothing else follows.
            assert!(side.until_mark().is_empty());
            events.sort();
            seen.push(show(&events));
        }
        assert_eq!(seen[1], seen[0], "--cores {cores}");
    }
}

/// A command that finds a key whose time passed expires it first: its
/// `expired` comes before the command's own events. DBSIZE, sent in the
/// same write as the command, still counts a key no lookup or active cycle
/// has reclaimed, so when it says 1 the command itself found the key
/// expired (one shard: nothing runs between two commands of one read).
/// With two shards the active cycle may run between them, so there each
/// key's `expired` must only come once, before its new value's events.
#[test]
fn lazy_expiry_notifies_before_the_command() {
    let Some(redis) = redis() else { return };
    for cores in [1, 2] {
        let kevy = Server::kevy(&["--cores", &cores.to_string(), "--save", ""]);
        for (name, port) in [("redis", redis.port), ("kevy", kevy.port)] {
            let mut side = Side::open(port, "KEAn");
            let mut lazy = false;
            for attempt in 0..50 {
                let keys = keys_on_shards(&format!("lazy{attempt}:"), cores, 1);
                call(&mut side.cmd, &["FLUSHALL"]);
                for k in &keys {
                    call(&mut side.cmd, &["SET", k, "v", "PX", "5"]);
                }
                side.until_mark();
                std::thread::sleep(std::time::Duration::from_millis(10));
                for k in &keys {
                    let mut both = command(&["DBSIZE"]);
                    both.extend(command(&["SET", k, "w"]));
                    side.cmd.send(&both).expect("send");
                    let (dbsize, _) = side.cmd.read().expect("DBSIZE");
                    side.cmd.read().expect("SET");
                    // Another key's active expiry may fall in between.
                    let events: Vec<Event> = side
                        .until_mark()
                        .into_iter()
                        .filter(|e| key_of(e) == k.as_bytes())
                        .collect();
                    let events = show(&events);
                    let created = format!(
                        "__keyspace@0__:{k} new ; __keyevent@0__:new {k} ; \
                         __keyspace@0__:{k} set ; __keyevent@0__:set {k}"
                    );
                    let expired =
                        format!("__keyspace@0__:{k} expired ; __keyevent@0__:expired {k}");
                    let found = dbsize.int() == Some(keys.len() as i64) && cores == 1;
                    if found || events.contains("expired") {
                        assert_eq!(
                            events,
                            format!("{expired} ; {created}"),
                            "{name} --cores {cores}"
                        );
                        lazy |= found;
                    } else {
                        assert_eq!(events, created, "{name} --cores {cores}");
                    }
                }
                if lazy || cores > 1 {
                    break;
                }
            }
            assert!(
                lazy || cores > 1,
                "{name}: no command found its key expired"
            );
        }
    }
}

#[test]
fn config_reads_back_and_refuses_as_redis_does() {
    let Some(redis) = redis() else { return };
    let kevy = Server::kevy(&["--cores", "2", "--save", ""]);
    let mut r = conn(redis.port);
    let mut k = conn(kevy.port);
    let values = [
        "AKE",
        "KEA",
        "Elg",
        "Kl",
        "Ex",
        "Eg$",
        "A",
        "gg",
        "nKm",
        "Am",
        "KEAmn",
        "d",
        "xE",
        "g$lshzxetd",
        "g$lshzxet",
        "tmE",
        "",
        "xyz",
        "KEA ",
        "a",
        "AKEq",
        "K E",
    ];
    for v in values {
        let set = ["CONFIG", "SET", "notify-keyspace-events", v];
        assert_eq!(
            escape(&call(&mut k, &set)),
            escape(&call(&mut r, &set)),
            "CONFIG SET {v:?}"
        );
        for get in [
            &["CONFIG", "GET", "notify-keyspace-events"][..],
            &["CONFIG", "GET", "notify-*"],
            &["CONFIG", "GET", "NOTIFY-KEYSPACE-EVENTS"],
        ] {
            assert_eq!(
                escape(&call(&mut k, get)),
                escape(&call(&mut r, get)),
                "{get:?} after {v:?}"
            );
        }
    }
}

#[test]
fn the_flag_sets_the_classes_at_start() {
    let kevy = Server::kevy(&["--cores", "2", "--notify-keyspace-events", "KEA"]);
    let mut c = conn(kevy.port);
    assert_eq!(
        escape(&call(&mut c, &["CONFIG", "GET", "notify-keyspace-events"])),
        escape(b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n")
    );
    let mut side = Side {
        cmd: c,
        sub: conn(kevy.port),
    };
    call(&mut side.sub, &["PSUBSCRIBE", "__key*__:*"]);
    for k in keys_on_shards("flag", 2, 1) {
        let (_, events) = side.run(&[b"SET", k.as_bytes(), b"v"], false);
        assert_eq!(
            show(&events),
            format!("__keyspace@0__:{k} set ; __keyevent@0__:set {k}")
        );
    }
    let bad = Server::try_kevy(&["--notify-keyspace-events", "KEq"]);
    let err = bad.err().expect("an unknown class refuses to start");
    assert!(err.contains("Invalid event class character"), "{err}");
}

#[test]
fn bitmaps_notify_as_redis_does() {
    // A bit write that changes nothing emits nothing; BITFIELD emits one
    // `setbit` for all its changes; BITOP `set`, or `del` when the result
    // is empty; FAIL on a missing key creates it without an event.
    for flags in ["KEA", "KEAn"] {
        compare(
            flags,
            "SETBIT b 3 1
            SETBIT b 3 1
            SETBIT b 3 0
            SETBIT b 100 0
            SETBIT z 15 0
            GETBIT b 3
            BITCOUNT b
            BITPOS b 1
            BITFIELD b GET u8 0
            BITFIELD b SET u8 0 0
            BITFIELD b SET u8 0 1 SET u8 8 1
            BITFIELD b SET u8 0 1 INCRBY u8 8 0
            BITFIELD b OVERFLOW FAIL INCRBY u2 0 5
            BITFIELD nb OVERFLOW FAIL INCRBY u2 0 5
            BITFIELD b INCRBY u2 1000 1
            BITFIELD_RO b GET u8 0
            SET {a}x foo
            SET {a}y bar
            BITOP AND {a}d {a}x {a}y
            BITOP NOT {a}d {a}x
            BITOP OR {a}d {a}none
            BITOP OR {a}d {a}none
            ~BITOP XOR d2 b {a}x z
            ~BITOP AND d2 none1 none2
            LCS {a}x {a}y",
        );
    }
}
