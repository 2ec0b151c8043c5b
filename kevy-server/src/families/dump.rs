//! DUMP and RESTORE (Redis's `cluster.c` commands): a value travels as
//! Redis's serialization, so a payload moves between kevy and Redis in
//! either direction.
//!
//! A payload is the value's RDB type byte and encoding (kevy-persist's
//! `rdb::write_value`, the bytes a snapshot writes for the key after its
//! name), then the RDB version in two little-endian bytes, then the
//! CRC-64 of everything before it in eight. kevy writes version 10, as
//! Redis 7.0 does, and restores payloads up to the newest version it reads
//! (Redis 7.2's 11; Redis 7.0 refuses those). Strings are written without
//! LZF compression, as Redis does with `rdbcompression no`, so a long
//! compressible string dumps to other (equally valid) bytes than Redis's.
//!
//! RESTORE with a relative TTL propagates as Redis does: the TTL argument
//! replaced by the absolute expiry and `ABSTTL` appended, so a replay sets
//! the same expiry whenever it runs. IDLETIME and FREQ set the restored
//! key's access clock, whichever fits `maxmemory-policy`, as in Redis.

use crate::ctx::Ctx;
use crate::errors::reply_error;
use crate::notify::{GENERIC, NEW};
use crate::table::{flag, CommandSpec, Table};
use kevy_persist::rdb;
use kevy_resp::Args;
use kevy_store::num::parse_i64;
use kevy_store::{Db, OpError, OpResult, SetTtl, Value};

/// Registers the family. Fields as documented in `table.rs`; every entry's
/// arity, flags, key range and ACL categories are Redis 7.0's.
pub fn register(t: &mut Table) {
    use flag::*;
    t.add(CommandSpec::single_key(
        "dump",
        2,
        READONLY,
        &["@keyspace", "@read", "@slow"],
        cmd_dump,
    ));
    t.add(CommandSpec::single_key(
        "restore",
        -4,
        WRITE | DENYOOM,
        &["@keyspace", "@write", "@slow", "@dangerous"],
        cmd_restore,
    ));
}

pub const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_FORMAT: &str = "ERR Bad data format";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";

/// `v` serialized as DUMP replies it (Redis's `createDumpPayload`).
pub fn payload(v: &Value) -> Vec<u8> {
    let mut p = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rdb::write_value(&mut p, v);
    rdb::seal_payload(&mut p);
    p
}

/// The value a payload holds, or the error RESTORE replies with. The
/// footer is checked first (`rdb::payload_body`); the value is then read
/// from the whole payload, footer included, as Redis's loader reads it:
/// bytes after the value are not looked at.
pub fn parse_payload(p: &[u8]) -> OpResult<Value> {
    rdb::payload_body(p).map_err(|_| OpError::Family(BAD_PAYLOAD))?;
    rdb::read_value(p).map_err(|_| OpError::Family(BAD_FORMAT))
}

fn db<'a>(ctx: &'a mut Ctx<'_>) -> Db<'a> {
    ctx.shard.store.db(ctx.db)
}

fn cmd_dump(ctx: &mut Ctx<'_>) {
    let key = ctx.args.get(1);
    match db(ctx).get(key).map(payload) {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
}

/// RESTORE's options after the payload.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct RestoreOpts {
    pub replace: bool,
    pub absttl: bool,
    /// IDLETIME in seconds, FREQ: the restored key's access clock.
    pub idle: Option<u64>,
    pub freq: Option<u8>,
}

/// Parses `args[4..]` as Redis does: IDLETIME and FREQ each take a value
/// and exclude each other (the second one named is a syntax error).
fn parse_restore_opts(args: &Args<'_>) -> OpResult<RestoreOpts> {
    let mut o = RestoreOpts::default();
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < args.len() {
        let opt = args.get(j);
        let has_value = j + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if opt.eq_ignore_ascii_case(b"absttl") {
            o.absttl = true;
        } else if opt.eq_ignore_ascii_case(b"idletime") && has_value && !freq {
            j += 1;
            let n = parse_i64(args.get(j)).ok_or(OpError::NotInteger)?;
            if n < 0 {
                return Err(OpError::Family(INVALID_IDLETIME));
            }
            idle = true;
            o.idle = Some(n as u64);
        } else if opt.eq_ignore_ascii_case(b"freq") && has_value && !idle {
            j += 1;
            let n = parse_i64(args.get(j)).ok_or(OpError::NotInteger)?;
            if !(0..=255).contains(&n) {
                return Err(OpError::Family(INVALID_FREQ));
            }
            freq = true;
            o.freq = Some(n as u8);
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// What a RESTORE did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The key holds the value, expiring at this absolute time (ms) if any.
    Created(Option<i64>),
    /// The expiry had already passed: no key; `true` when REPLACE deleted
    /// one that was there.
    Expired(bool),
}

/// RESTORE after option parsing (Redis's `restoreCommand`, checks in its
/// order: the key, the TTL, the payload's footer, then its value).
pub fn op_restore(
    db: &mut Db<'_>,
    key: &[u8],
    ttl: &[u8],
    payload: &[u8],
    o: RestoreOpts,
) -> OpResult<Restored> {
    if !o.replace && db.contains(key) {
        return Err(OpError::Family(BUSYKEY));
    }
    let ttl = parse_i64(ttl).ok_or(OpError::NotInteger)?;
    if ttl < 0 {
        return Err(OpError::Family(INVALID_TTL));
    }
    let value = parse_payload(payload)?;
    let now = db.now() as i64;
    // Redis adds in C's wrapping arithmetic: a sum past i64::MAX turns
    // negative, which reads as already expired.
    let at = if ttl != 0 && !o.absttl {
        ttl.wrapping_add(now)
    } else {
        ttl
    };
    if at != 0 && at <= now {
        let deleted = o.replace && db.remove(key).is_some();
        return Ok(Restored::Expired(deleted));
    }
    let expiry = (at != 0).then_some(at);
    let set_ttl = expiry.map_or(SetTtl::Clear, |t| SetTtl::At(t as u64));
    db.set(key, value, set_ttl);
    // As Redis's `objectSetLRUOrLFU`: the option that fits the policy in
    // force sets the access clock, the other is ignored.
    let clock = *db.access_clock();
    match (clock.lfu(), o.freq, o.idle) {
        (true, Some(f), _) => {
            db.set_access(key, clock.freq_field(f));
        }
        (false, _, Some(secs)) => {
            db.set_access(key, clock.idle_field(secs));
        }
        _ => {}
    }
    Ok(Restored::Created(expiry))
}

fn cmd_restore(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let key = args.get(1);
    // Redis deletes a key it replaces and creates it anew: `new` either
    // way (the store reports a creation only for a missing key).
    let mut replaces = false;
    let r = parse_restore_opts(&args).and_then(|o| {
        replaces = o.replace && ctx.notifying(NEW) && db(ctx).contains(key);
        let done = op_restore(&mut db(ctx), key, args.get(2), args.get(3), o)?;
        Ok((o, done))
    });
    let (o, done) = match r {
        Ok(r) => r,
        Err(e) => return reply_error(&mut ctx.out, e),
    };
    match done {
        Restored::Created(_) => {
            if replaces {
                ctx.notify(NEW, "new", key);
            }
            ctx.notify(GENERIC, "restore", key);
        }
        Restored::Expired(true) => ctx.notify(GENERIC, "del", key),
        Restored::Expired(false) => {}
    }
    if ctx.propagating() {
        match done {
            // The TTL as an absolute time, so a replay sets the same expiry.
            Restored::Created(Some(at)) if !o.absttl => {
                let at = at.to_string();
                let mut argv: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
                argv[2] = at.as_bytes();
                argv.push(b"ABSTTL");
                ctx.propagate(&argv);
            }
            Restored::Created(_) => {}
            Restored::Expired(true) => ctx.propagate(&[b"DEL", key]),
            Restored::Expired(false) => ctx.propagate_nothing(),
        }
    }
    ctx.out.ok();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::testkit::*;
    use crate::table::Handler;
    use kevy_resp::{OwnedArgs, Reply};

    /// Runs DUMP or RESTORE with binary arguments; the reply bytes.
    fn run(t: &mut T, argv: &[&[u8]]) -> Vec<u8> {
        let args = OwnedArgs::from_slices(argv);
        let id = t.table.lookup(argv[0]).expect("known command");
        let Handler::Shard(f) = t.table.get(id).run else {
            panic!("not a shard command");
        };
        let mut buf = Vec::new();
        let mut ctx = Ctx {
            shard: &mut t.shard,
            db: 0,
            client: &t.client,
            args: args.args(),
            out: Reply::new(&mut buf, false),
        };
        f(&mut ctx);
        buf
    }

    /// DUMP's payload of `key`.
    fn dump(t: &mut T, key: &str) -> Vec<u8> {
        let r = run(t, &[b"DUMP", key.as_bytes()]);
        let (head, rest) = r.split_at(r.iter().position(|&b| b == b'\n').unwrap() + 1);
        let n: usize = std::str::from_utf8(&head[1..head.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        rest[..n].to_vec()
    }

    fn restore(t: &mut T, key: &str, ttl: &str, p: &[u8], opts: &[&str]) -> String {
        let mut argv: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), p];
        argv.extend(opts.iter().map(|o| o.as_bytes()));
        String::from_utf8_lossy(&run(t, &argv)).into_owned()
    }

    /// A payload of `body` with version `ver` and a correct checksum.
    fn framed(body: &[u8], ver: u16) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&ver.to_le_bytes());
        let crc = rdb::crc64::update(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn dump_of_a_string_is_redis_bytes() {
        let mut t = T::new();
        assert_eq!(run(&mut t, &[b"DUMP", b"nokey"]), NULL.as_bytes());
        t.run(&["SET", "k", "v"]);
        // What redis-server 7.0 replies to DUMP of "v".
        assert_eq!(
            dump(&mut t, "k"),
            b"\x00\x01v\n\x00\x91\x08\xce\xb2\x198\x8a\xce"
        );
        t.run(&["SET", "n", "300"]);
        assert_eq!(&dump(&mut t, "n")[..4], &[0, 0xc1, 0x2c, 0x01]);
    }

    #[test]
    fn every_type_round_trips_with_its_encoding() {
        let mut t = T::new();
        t.run(&["RPUSH", "l", "a", "1", "b"]);
        t.run(&["SADD", "si", "1", "2", "3"]);
        t.run(&["SADD", "ss", "x", "y"]);
        t.run(&["HSET", "h", "f", "v", "g", "w"]);
        t.run(&["ZADD", "z", "1.5", "a", "2", "b"]);
        let big: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
        let mut zadd = vec!["ZADD", "zbig"];
        let mut hset = vec!["HSET", "hbig"];
        let mut sadd = vec!["SADD", "sbig"];
        for m in &big {
            zadd.extend(["3", m.as_str()]);
            hset.extend([m.as_str(), m.as_str()]);
            sadd.push(m);
        }
        t.run(&zadd);
        t.run(&hset);
        t.run(&sadd);
        for key in ["l", "si", "ss", "h", "z", "zbig", "hbig", "sbig"] {
            let p = dump(&mut t, key);
            let copy = format!("{key}-copy");
            assert_eq!(restore(&mut t, &copy, "0", &p, &[]), OK, "{key}");
            let enc = |t: &mut T, k: &str| t.run(&["OBJECT", "ENCODING", k]);
            assert_eq!(enc(&mut t, &copy), enc(&mut t, key), "{key}");
            // A hashtable's order is its own; every other encoding keeps
            // its order and so its bytes.
            if enc(&mut t, key) != bulk("hashtable") {
                assert!(dump(&mut t, &copy) == p, "{key}");
            }
        }
        assert_eq!(
            t.run(&["LRANGE", "l-copy", "0", "-1"]),
            arr(&["a", "1", "b"])
        );
        assert_eq!(t.run(&["ZSCORE", "z-copy", "a"]), bulk("1.5"));
        assert_eq!(t.run(&["SCARD", "sbig-copy"]), int(300));
    }

    #[test]
    fn busykey_replace_and_the_order_of_checks() {
        let mut t = T::new();
        t.run(&["SET", "k", "v"]);
        let p = dump(&mut t, "k");
        let busy = format!("-{BUSYKEY}\r\n");
        assert_eq!(restore(&mut t, "k", "0", &p, &[]), busy);
        // The key is checked before the TTL and the payload.
        assert_eq!(restore(&mut t, "k", "x", b"junk", &[]), busy);
        // Options are checked before the key.
        assert_eq!(restore(&mut t, "k", "0", &p, &["foo"]), SYNTAX);
        t.run(&["RPUSH", "l", "a"]);
        assert_eq!(restore(&mut t, "l", "0", &p, &["REPLACE"]), OK);
        assert_eq!(t.run(&["GET", "l"]), bulk("v"));
        let n = "n";
        assert_eq!(restore(&mut t, n, "x", &p, &[]), NOTINT);
        assert_eq!(
            restore(&mut t, n, "-1", &p, &[]),
            format!("-{INVALID_TTL}\r\n")
        );
        let bad = format!("-{BAD_PAYLOAD}\r\n");
        assert_eq!(restore(&mut t, n, "0", b"short", &[]), bad);
        let mut flipped = p.clone();
        flipped[1] ^= 1;
        assert_eq!(restore(&mut t, n, "0", &flipped, &[]), bad);
        // A zero checksum is no exception, as in Redis 7.0.
        let mut zero = p.clone();
        let len = zero.len();
        zero[len - 8..].fill(0);
        assert_eq!(restore(&mut t, n, "0", &zero, &[]), bad);
        assert_eq!(restore(&mut t, n, "0", &framed(b"\x00\x01v", 12), &[]), bad);
        assert_eq!(restore(&mut t, n, "0", &framed(b"\x00\x01v", 11), &[]), OK);
        assert_eq!(
            restore(&mut t, n, "0", &framed(b"\x00\x01v", 0), &["REPLACE"]),
            OK
        );
        let format = format!("-{BAD_FORMAT}\r\n");
        for body in [
            &b""[..],
            b"\x00",
            b"\x02\x00",
            b"\xff",
            b"\x0f\x00",
            b"\x07",
        ] {
            assert_eq!(
                restore(&mut t, "m", "0", &framed(body, 10), &[]),
                format,
                "{body:?}"
            );
        }
        // The value may run into the footer, as Redis's loader allows.
        assert_eq!(
            restore(&mut t, "m", "0", &framed(b"\x00\x05ab", 10), &[]),
            OK
        );
        assert_eq!(t.run(&["STRLEN", "m"]), int(5));
        assert_eq!(t.run(&["EXISTS", "n"]), int(1));
    }

    #[test]
    fn idletime_and_freq_are_checked_then_ignored() {
        let mut t = T::new();
        t.run(&["SET", "k", "v"]);
        let p = dump(&mut t, "k");
        let cases: &[(&[&str], String)] = &[
            (&["IDLETIME", "10"], OK.into()),
            (&["FREQ", "255"], OK.into()),
            (&["IDLETIME", "1", "IDLETIME", "2"], OK.into()),
            (&["IDLETIME", "-1"], format!("-{INVALID_IDLETIME}\r\n")),
            (&["FREQ", "256"], format!("-{INVALID_FREQ}\r\n")),
            (&["FREQ", "-1"], format!("-{INVALID_FREQ}\r\n")),
            (&["IDLETIME", "x"], NOTINT.into()),
            (&["IDLETIME"], SYNTAX.into()),
            (&["IDLETIME", "1", "FREQ", "2"], SYNTAX.into()),
            (&["FREQ", "1", "IDLETIME", "2"], SYNTAX.into()),
        ];
        for (i, (opts, want)) in cases.iter().enumerate() {
            let key = format!("x{i}");
            assert_eq!(restore(&mut t, &key, "0", &p, opts), *want, "{opts:?}");
        }
    }

    #[test]
    fn ttls_relative_absolute_and_past() {
        let mut t = T::new();
        t.run(&["SET", "k", "v"]);
        let p = dump(&mut t, "k");
        let now = t.shard.store.now() as i64;
        assert_eq!(restore(&mut t, "a", "5000", &p, &[]), OK);
        assert_eq!(t.run(&["PEXPIRETIME", "a"]), int(now + 5000));
        let at = (now + 7000).to_string();
        assert_eq!(restore(&mut t, "b", &at, &p, &["ABSTTL"]), OK);
        assert_eq!(t.run(&["PEXPIRETIME", "b"]), int(now + 7000));
        assert_eq!(restore(&mut t, "c", "0", &p, &["ABSTTL"]), OK);
        assert_eq!(t.run(&["PTTL", "c"]), int(-1));
        // In the past: nothing is created, and REPLACE deletes.
        assert_eq!(restore(&mut t, "d", "1", &p, &["ABSTTL"]), OK);
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        let now_s = now.to_string();
        assert_eq!(restore(&mut t, "c", &now_s, &p, &["ABSTTL", "REPLACE"]), OK);
        assert_eq!(t.run(&["EXISTS", "c"]), int(0));
        // A relative TTL past i64::MAX wraps, as in Redis: expired.
        assert_eq!(restore(&mut t, "e", "9223372036854775807", &p, &[]), OK);
        assert_eq!(t.run(&["EXISTS", "e"]), int(0));
        t.advance(5001);
        assert_eq!(t.run(&["EXISTS", "a"]), int(0));
        assert_eq!(t.run(&["EXISTS", "b"]), int(1));
    }

    /// The effects RESTORE records, run through the service as a reactor
    /// runs it, with effects collected; each effect as its arguments.
    fn effects_of(lines: &[Vec<Vec<u8>>]) -> Vec<Vec<Vec<u8>>> {
        use crate::server::{Config, Server};
        use crate::service::Kevy;
        use crate::shard::Shard;
        use kevy_rt::{Effects, Service, Sink};
        let kevy = Kevy::new(std::sync::Arc::new(Server::new(Config {
            bind: "127.0.0.1".into(),
            port: 7777,
            shards: 1,
        })));
        let mut shard = Shard::new(0, 1);
        shard.store.set_now(1_000_000);
        let client = T::new().client;
        let mut effects = Effects::default();
        effects.set_enabled(true);
        for argv in lines {
            let owned = OwnedArgs::from_slices(argv);
            let (cmd, _) = kevy.route(owned.args(), &client, 1).expect("known");
            let mut out = Vec::new();
            let mut sink = Sink {
                out: &mut out,
                effects: &mut effects,
                part: 0,
                may_block: false,
                locked: false,
                block: None,
                may_escalate: false,
                escalate: false,
            };
            kevy.exec(&mut shard, &client, cmd, owned.args(), &mut sink);
            assert_eq!(out, OK.as_bytes(), "{argv:?}");
        }
        let (stream, _) = effects.take();
        // Arrays of bulk strings, read by their lengths.
        fn number(b: &mut &[u8]) -> usize {
            let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = std::str::from_utf8(&b[1..i]).unwrap().parse().unwrap();
            *b = &b[i + 2..];
            n
        }
        let mut b = &stream[..];
        let mut got = Vec::new();
        while !b.is_empty() {
            let mut argv = Vec::new();
            for _ in 0..number(&mut b) {
                let len = number(&mut b);
                argv.push(b[..len].to_vec());
                b = &b[len + 2..];
            }
            got.push(argv);
        }
        got
    }

    #[test]
    fn a_relative_ttl_propagates_as_an_absolute_one() {
        let p = payload(&Value::string(b"v"));
        let v = |parts: &[&[u8]]| parts.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
        let got = effects_of(&[
            v(&[b"RESTORE", b"a", b"5000", &p, b"IDLETIME", b"3"]),
            v(&[b"RESTORE", b"b", b"0", &p]),
            v(&[b"RESTORE", b"c", b"2000000", &p, b"ABSTTL"]),
            v(&[b"RESTORE", b"b", b"1", &p, b"ABSTTL", b"REPLACE"]),
            v(&[b"RESTORE", b"d", b"1", &p, b"ABSTTL"]),
        ]);
        assert_eq!(
            got,
            [
                v(&[b"SELECT", b"0"]),
                v(&[
                    b"RESTORE",
                    b"a",
                    b"1005000",
                    &p,
                    b"IDLETIME",
                    b"3",
                    b"ABSTTL"
                ]),
                v(&[b"RESTORE", b"b", b"0", &p]),
                v(&[b"RESTORE", b"c", b"2000000", &p, b"ABSTTL"]),
                v(&[b"DEL", b"b"]),
            ]
        );
    }
}
