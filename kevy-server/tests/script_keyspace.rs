//! Scripts that call commands over the whole keyspace (KEYS, SCAN, DBSIZE,
//! RANDOMKEY, FLUSHALL, …), SPUBLISH from scripts, and scripts inside
//! MULTI that reach other shards' keys: they behave as on one shard and
//! stay atomic (kevy-rt's crate doc, "Scripts"). Replies whose content is
//! deterministic are compared with a real redis-server (also in
//! `cases/script-keyspace.txt`); each scenario runs with one, two and three
//! shards.
//!
//! Bounded by iteration counts, never by time; no timing is asserted.

mod common;

use common::resp::{Conn, Value};
use common::{eval, keys_on_every_shard, Server};
use redis::{Commands, Connection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

layouts!(
    [1, 2, 3]:
    whole_keyspace_replies_match_redis,
    counts_stay_consistent_while_movers_shift_keys,
    flushall_from_a_script_is_atomic_and_survives_restart,
    spublish_reaches_shard_subscribers_on_every_shard,
    scripts_in_multi_reach_every_shard_atomically,
    multi_attempts_taken_back_leave_nothing_in_the_log,
    random_picks_reach_the_keys_they_name,
    multi_blocks_of_clients_hanging_up_run_whole_or_not_at_all,
);

fn client(port: u16) -> Connection {
    common::connect(port, IO_TIMEOUT)
}

fn kevy(cores: usize, extra: &[&str]) -> Server {
    let cores = cores.to_string();
    let mut args = vec!["--cores", &cores, "--save", ""];
    args.extend_from_slice(extra);
    Server::kevy(&args)
}

/// The same scripts on kevy and on redis-server give the same replies
/// (sorted where Redis's order is its dict's), and leave the same data.
fn whole_keyspace_replies_match_redis(cores: usize) {
    let srv = kevy(cores, &[]);
    let Ok(reference) = Server::redis("script-keyspace") else {
        assert!(common::skip_redis_tools(), "redis-server is needed");
        return;
    };
    let sort = "local function sorted(t) table.sort(t) return t end ";
    let scripts: Vec<(String, Vec<String>)> = vec![
        (
            format!("{sort} return sorted(redis.call('keys', '*'))"),
            vec![],
        ),
        (
            format!(
                "{sort} local c, all = '0', {{}} repeat local r = redis.call('scan', c, \
                 'count', 3) c = r[1] for _, k in ipairs(r[2]) do all[#all + 1] = k end \
                 until c == '0' return sorted(all)"
            ),
            vec![],
        ),
        (
            // Values reached through the names, the script's own writes
            // counted.
            "redis.call('set', ARGV[1], 'new') redis.call('del', ARGV[2]) \
             local n = 0 for _, k in ipairs(redis.call('keys', 'k*')) do \
             n = n + (tonumber(redis.call('get', k)) or 1000) end \
             return {n, redis.call('dbsize')}"
                .into(),
            vec!["k-new".into(), "k3".into()],
        ),
        (
            "redis.call('flushdb') redis.call('set', 'after', '1') \
             return {redis.call('dbsize'), redis.call('keys', '*')}"
                .into(),
            vec![],
        ),
    ];
    for port in [srv.port, reference.port] {
        let mut c = client(port);
        let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
        for i in 0..40 {
            let _: () = c.set(format!("k{i}"), i).unwrap();
        }
    }
    let mut kc = client(srv.port);
    let mut rc = client(reference.port);
    for (script, args) in &scripts {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got: redis::Value = eval(&mut kc, script, &[], &args).unwrap();
        let want: redis::Value = eval(&mut rc, script, &[], &args).unwrap();
        assert_eq!(got, want, "{script}");
    }
    let got: Vec<String> = kc.keys("*").unwrap();
    assert_eq!(got, vec!["after".to_string()]);
}

/// Movers shift values and keys between shards with cross-shard
/// transactions while scripts count every key and sum the values through
/// KEYS, DBSIZE and a SCAN loop: every count and sum is the invariant.
fn counts_stay_consistent_while_movers_shift_keys(cores: usize) {
    let srv = kevy(cores, &[]);
    let accounts = keys_on_every_shard("acct:", cores, 4);
    let mut c = client(srv.port);
    for a in &accounts {
        let _: () = c.set(a, 100).unwrap();
    }
    // Keys that a renamer moves between names (and so between shards).
    let names = keys_on_every_shard("r:", cores, 3);
    let moving = names.len() / 2;
    for n in &names[..moving] {
        let _: () = c.set(n, "x").unwrap();
    }
    let total_keys = (accounts.len() + moving) as i64;
    let total_sum = 100 * accounts.len() as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let mut movers = Vec::new();
    for t in 0..2u64 {
        let (stop, accounts, port) = (stop.clone(), accounts.clone(), srv.port);
        movers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut i = t as usize;
            while !stop.load(Ordering::Relaxed) {
                let a = &accounts[i % accounts.len()];
                let b = &accounts[(i * 7 + 3) % accounts.len()];
                i += 1;
                if a == b {
                    continue;
                }
                let _: () = redis::pipe()
                    .atomic()
                    .cmd("DECRBY")
                    .arg(a)
                    .arg(1)
                    .ignore()
                    .cmd("INCRBY")
                    .arg(b)
                    .arg(1)
                    .ignore()
                    .query(&mut c)
                    .unwrap();
            }
        }));
    }
    {
        let (stop, names, port) = (stop.clone(), names.clone(), srv.port);
        movers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut present: Vec<bool> = (0..names.len()).map(|i| i < moving).collect();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let from = i % names.len();
                let to = (i * 5 + 1) % names.len();
                i += 1;
                if !present[from] || present[to] {
                    continue;
                }
                let _: () = c.rename(&names[from], &names[to]).unwrap();
                present[from] = false;
                present[to] = true;
            }
        }));
    }
    let check = "local ks = redis.call('keys', '*') local sum = 0 \
                 for _, k in ipairs(ks) do if string.sub(k, 1, 5) == 'acct:' then \
                 sum = sum + tonumber(redis.call('get', k)) end end \
                 local c, n = '0', 0 repeat local r = redis.call('scan', c) c = r[1] \
                 n = n + #r[2] until c == '0' \
                 return {#ks, redis.call('dbsize'), n, sum}";
    for round in 0..25 {
        let got: Vec<i64> = eval(&mut c, check, &[], &[]).unwrap();
        assert_eq!(
            got,
            vec![total_keys, total_keys, total_keys, total_sum],
            "round {round}: keys, dbsize, scanned, sum"
        );
        let n: i64 = redis::cmd("EVAL_RO")
            .arg("return redis.call('dbsize')")
            .arg(0)
            .query(&mut c)
            .unwrap();
        assert_eq!(n, total_keys, "round {round}: read-only dbsize");
    }
    stop.store(true, Ordering::Relaxed);
    for m in movers {
        m.join().unwrap();
    }
}

/// FLUSHALL and SWAPDB from a script, with writes after them in the same
/// script, are logged as what they did: a restart finds the same data.
fn flushall_from_a_script_is_atomic_and_survives_restart(cores: usize) {
    let dir = common::TempDir::new("script-flushall");
    let d = dir.path().display().to_string();
    let args = [
        "--dir",
        &d,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let keys = keys_on_every_shard("f:", cores, 3);
    {
        let srv = kevy(cores, &args);
        let mut c = client(srv.port);
        for k in &keys {
            let _: () = c.set(k, "old").unwrap();
        }
        let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
        let _: () = c.set("in-db1", "x").unwrap();
        let got: Vec<redis::Value> = eval(
            &mut c,
            "redis.call('flushall') redis.call('select', 0) \
             redis.call('set', ARGV[1], 'kept') redis.call('swapdb', 0, 2) \
             return {redis.call('dbsize'), redis.call('keys', '*')}",
            &[],
            &[&keys[0]],
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], redis::Value::Int(0));
        let _: () = redis::cmd("SELECT").arg(2).query(&mut c).unwrap();
        let v: Vec<String> = c.keys("*").unwrap();
        assert_eq!(v, vec![keys[0].clone()]);
    }
    let srv = kevy(cores, &args);
    let mut c = client(srv.port);
    for db in 0..3 {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, i64::from(db == 2), "db {db} after restart");
    }
    let v: String = c.get(&keys[0]).unwrap();
    assert_eq!(v, "kept");
}

/// Reads RESP values from `conn` until one is an `smessage` (RESP2
/// subscriber), returning its channel and message.
fn next_smessage(conn: &mut Conn) -> (Vec<u8>, Vec<u8>) {
    loop {
        let (v, _) = conn.read().expect("read");
        let Some(items) = v.items() else { continue };
        if items.first().and_then(Value::bytes) == Some(&b"smessage"[..]) {
            let ch = items[1].bytes().unwrap_or_default().to_vec();
            let msg = items[2].bytes().unwrap_or_default().to_vec();
            return (ch, msg);
        }
    }
}

/// SPUBLISH from a script reaches the shard-channel subscribers of every
/// shard, once, from the run that answers (not from a round that looks
/// for keys), and answers how many it reached.
fn spublish_reaches_shard_subscribers_on_every_shard(cores: usize) {
    let srv = kevy(cores, &[]);
    // Connections spread over the shards: enough that every shard has one.
    let nsubs = 3 * cores;
    let mut subs: Vec<Conn> = (0..nsubs)
        .map(|_| {
            let mut s = Conn::connect(srv.port).expect("connect");
            let r = s.call(&["SSUBSCRIBE", "orders"]).expect("ssubscribe");
            assert!(!r.is_error(), "{r:?}");
            s
        })
        .collect();
    // A plain subscriber of the same name gets nothing from SPUBLISH.
    let mut plain = Conn::connect(srv.port).expect("connect");
    plain.call(&["SUBSCRIBE", "orders"]).expect("subscribe");
    let keys = keys_on_every_shard("sp:", cores, 1);
    let mut c = client(srv.port);
    // PUBSUB's questions from a script count every shard's subscribers.
    let counts: (String, i64, String, i64) = eval(
        &mut c,
        "local s = redis.call('pubsub', 'shardnumsub', 'orders') \
         local p = redis.call('pubsub', 'numsub', 'orders') return {s[1], s[2], p[1], p[2]}",
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(counts, ("orders".into(), nsubs as i64, "orders".into(), 1));
    let args: Vec<&str> = keys.iter().map(String::as_str).collect();
    let n: i64 = eval(
        &mut c,
        "for _, k in ipairs(ARGV) do redis.call('incr', k) end \
         return redis.call('spublish', 'orders', 'from-script')",
        &[],
        &args,
    )
    .unwrap();
    assert_eq!(n, nsubs as i64, "SPUBLISH counts every shard subscriber");
    let n: i64 = redis::cmd("SPUBLISH")
        .arg("orders")
        .arg("marker")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, nsubs as i64);
    for s in &mut subs {
        assert_eq!(
            next_smessage(s),
            (b"orders".to_vec(), b"from-script".to_vec())
        );
        // Exactly once: the next message is the marker sent after it.
        assert_eq!(next_smessage(s), (b"orders".to_vec(), b"marker".to_vec()));
    }
    let n: i64 = c.publish("orders", "plain-marker").unwrap();
    assert_eq!(n, 1);
    let (v, _) = plain.read().expect("read");
    let items = v.items().expect("message");
    assert_eq!(items[0].bytes(), Some(&b"message"[..]));
    assert_eq!(items[2].bytes(), Some(&b"plain-marker"[..]), "{v:?}");
    for k in &keys {
        let v: i64 = c.get(k).unwrap();
        assert_eq!(v, 1, "the script's writes happened once");
    }
}

/// MULTI blocks whose scripts move value between accounts they did not
/// declare, on every shard, and sum them all, while movers transfer
/// between the same accounts with cross-shard transactions: every sum in
/// every block sees the invariant, before and after its own move.
fn scripts_in_multi_reach_every_shard_atomically(cores: usize) {
    let srv = kevy(cores, &[]);
    let accounts = keys_on_every_shard("ma:", cores, 3);
    let mut c = client(srv.port);
    for a in &accounts {
        let _: () = c.set(a, 50).unwrap();
    }
    let total = 50 * accounts.len() as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let (stop, accounts, port) = (stop.clone(), accounts.clone(), srv.port);
        thread::spawn(move || {
            let mut c = client(port);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let a = &accounts[i % accounts.len()];
                let b = &accounts[(i * 5 + 2) % accounts.len()];
                i += 1;
                let _: () = redis::pipe()
                    .atomic()
                    .cmd("DECRBY")
                    .arg(a)
                    .arg(2)
                    .ignore()
                    .cmd("INCRBY")
                    .arg(b)
                    .arg(2)
                    .ignore()
                    .query(&mut c)
                    .unwrap();
            }
        })
    };
    let sum = "local n = 0 for _, k in ipairs(ARGV) do n = n + tonumber(redis.call('get', k)) end \
               return n";
    let mv = "redis.call('decr', ARGV[1]) return redis.call('incr', ARGV[2])";
    let all: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let mut conns: Vec<Connection> = (0..2 * cores).map(|_| client(srv.port)).collect();
    for round in 0..30 {
        let c = &mut conns[round % (2 * cores)];
        let (a, b) = (
            &accounts[round % accounts.len()],
            &accounts[(round * 7 + 1) % accounts.len()],
        );
        let mut p = redis::pipe();
        p.atomic();
        p.cmd("EVAL").arg(sum).arg(0).arg(&all);
        p.cmd("EVAL").arg(mv).arg(0).arg(a).arg(b);
        p.cmd("GET").arg(a).ignore();
        p.cmd("EVAL_RO").arg(sum).arg(0).arg(&all);
        let got: (i64, i64, i64) = p.query(c).unwrap();
        assert_eq!(
            (got.0, got.2),
            (total, total),
            "round {round}: sums in one block"
        );
    }
    stop.store(true, Ordering::Relaxed);
    mover.join().unwrap();
    let vals: Vec<i64> = c.mget(&accounts).unwrap();
    assert_eq!(vals.iter().sum::<i64>(), total);
}

/// A MULTI block runs inline on its connection's shard as an attempt that
/// is taken back when a script in it reaches another shard; the block
/// then runs over the whole keyspace. Blocks sent from connections of
/// every shard, each with a key of every shard first: each counter moves
/// once per block, also after a restart from the log.
fn multi_attempts_taken_back_leave_nothing_in_the_log(cores: usize) {
    let dir = common::TempDir::new("script-multi-log");
    let d = dir.path().display().to_string();
    let args = [
        "--dir",
        &d,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let homes = keys_on_every_shard("mh:", cores, 1);
    let reached = keys_on_every_shard("mr:", cores, 1);
    let reached_args: Vec<&str> = reached.iter().map(String::as_str).collect();
    let script = "for _, k in ipairs(ARGV) do redis.call('incr', k) end \
                  redis.call('set', 'last', KEYS[1]) return redis.call('get', KEYS[1])";
    let blocks = 3 * cores;
    {
        let srv = kevy(cores, &args);
        let mut conns: Vec<Connection> = (0..blocks).map(|_| client(srv.port)).collect();
        for (i, c) in conns.iter_mut().enumerate() {
            for h in &homes {
                let mut p = redis::pipe();
                p.atomic();
                p.cmd("INCR").arg(h).ignore();
                p.cmd("EVAL").arg(script).arg(1).arg(h).arg(&reached_args);
                p.cmd("INCR").arg(h);
                let (seen, after): (i64, i64) = p.query(c).unwrap();
                assert_eq!(after, seen + 1, "block {i} on {h}");
            }
        }
    }
    let srv = kevy(cores, &args);
    let mut c = client(srv.port);
    for h in &homes {
        let v: i64 = c.get(h).unwrap();
        assert_eq!(v, 2 * blocks as i64, "{h} after restart");
    }
    for r in &reached {
        let v: i64 = c.get(r).unwrap();
        assert_eq!(v, (blocks * homes.len()) as i64, "{r} after restart");
    }
}

/// RANDOMKEY, SRANDMEMBER and SPOP pick the same in every run of a script
/// over the whole keyspace, so a script that reads the key it picked
/// settles (no "kept reaching new keys" error) and reads its value.
fn random_picks_reach_the_keys_they_name(cores: usize) {
    let srv = kevy(cores, &[]);
    let mut c = client(srv.port);
    let names = keys_on_every_shard("rk:", cores, 150);
    for chunk in names.chunks(50) {
        let mut p = redis::pipe();
        for k in chunk {
            p.cmd("SET").arg(k).arg(k).ignore();
            p.cmd("SADD").arg("{pool}").arg(k).ignore();
        }
        let _: () = p.query(&mut c).unwrap();
    }
    let pick = "local k = redis.call('randomkey') if k == '{pool}' then return {k, k} end \
                return {k, redis.call('get', k)}";
    let member = "local k = redis.call('srandmember', KEYS[1]) return {k, redis.call('get', k)}";
    let pop = "local k = redis.call('spop', KEYS[1]) return {k, redis.call('get', k)}";
    for round in 0..20 {
        for script in [pick, member, pop] {
            let (k, v): (String, String) = eval(&mut c, script, &["{pool}"], &[])
                .unwrap_or_else(|e| panic!("round {round}: {script}: {e}"));
            assert_eq!(k, v, "round {round}: {script}");
        }
    }
    let left: i64 = c.scard("{pool}").unwrap();
    assert_eq!(left, names.len() as i64 - 20, "each SPOP popped once");
}

/// Clients that send a MULTI block whose script reaches every shard, and
/// a KEYS, and hang up at once: each block runs whole or not at all, and
/// no shard stays held.
fn multi_blocks_of_clients_hanging_up_run_whole_or_not_at_all(cores: usize) {
    use std::io::Write;
    let srv = kevy(cores, &[]);
    let keys = keys_on_every_shard("hb:", cores, 1);
    let mut script = String::from("redis.call('keys', '*') ");
    for i in 1..=keys.len() {
        script.push_str(&format!("redis.call('incr', ARGV[{i}]) "));
    }
    let mut eval = format!(
        "*{}\r\n$4\r\nEVAL\r\n${}\r\n{script}\r\n$1\r\n0\r\n",
        3 + keys.len(),
        script.len()
    );
    for k in &keys {
        eval.push_str(&format!("${}\r\n{k}\r\n", k.len()));
    }
    let first = &keys[0];
    let block = format!(
        "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n${}\r\n{first}\r\n{eval}*1\r\n$4\r\nEXEC\r\n",
        first.len()
    );
    for _ in 0..30 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        s.write_all(block.as_bytes()).expect("write");
        drop(s);
    }
    let mut c = client(srv.port);
    let mut p = redis::pipe();
    p.atomic();
    for k in &keys {
        p.cmd("INCRBY").arg(k).arg(0);
    }
    let vals: Vec<Option<i64>> = p.query(&mut c).unwrap();
    let vals: Vec<i64> = vals.into_iter().map(Option::unwrap_or_default).collect();
    // The first key got the block's INCR too: twice per block.
    assert_eq!(vals[0] % 2, 0, "{vals:?}");
    for v in &vals[1..] {
        assert_eq!(vals[0], 2 * v, "each block whole or not at all: {vals:?}");
    }
    let n: i64 = eval_dbsize(&mut c);
    assert_eq!(n, keys.len() as i64 * i64::from(vals[0] > 0));
}

fn eval_dbsize(c: &mut Connection) -> i64 {
    eval(c, "return redis.call('dbsize')", &[], &[]).unwrap()
}
