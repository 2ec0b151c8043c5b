//! Scripts that reach keys they did not declare, on any shard: they run
//! again over the whole keyspace (kevy-rt's crate doc, "Scripts", way 3)
//! and stay atomic. Each scenario runs with one, two and (where cheap)
//! three shards; with one shard nothing escalates, which the same
//! assertions must also hold for.
//!
//! Bounded by iteration counts, never by time; no timing is asserted.

mod common;

use common::{eval, keys_on_every_shard, Server, TempDir};
use redis::{Commands, Connection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One module per scenario, each with its own shard counts.
macro_rules! layouts {
    ($($name:ident: $cores:tt),* $(,)?) => {$(
        $crate::layout_mod!($name, $cores);
    )*};
}

layouts!(
    undeclared_keys_on_every_shard: [1, 2, 3],
    movers_between_undeclared_keys_keep_the_total: [1, 2, 3],
    queue_script_builds_key_names_from_a_prefix: [1, 2, 3],
    escalated_writes_are_replayed_after_restart: [1, 2],
    error_midway_keeps_earlier_writes: [1, 2, 3],
    read_only_scripts_reach_every_shard: [1, 2, 3],
    pipelined_command_sees_the_script_write: [1, 2, 3],
    keyspace_events_come_from_the_final_run_only: [1, 2],
    declared_keys_across_shards_then_undeclared: [2, 3],
    multi_and_whole_keyspace_commands_reach_every_shard: [2],
    clients_hanging_up_leave_no_lock_and_no_half_write: [2, 3],
    blocked_clients_are_served_by_the_script_push: [1, 2, 3],
    commandstats_count_each_command_once: [1, 2, 3],
    info_keyspace_in_a_script_counts_its_writes: [1, 2, 3],
);

fn client(port: u16) -> Connection {
    common::connect(port, IO_TIMEOUT)
}

fn kevy(cores: usize) -> Server {
    common::kevy_cores(cores)
}

/// A key of shard `s` of `n`.
fn key_on(prefix: &str, s: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), n) == s)
        .expect("a key")
}

/// Adds `i` to the i-th key named in ARGV and returns every key's value.
const ADD_ALL: &str = "local r = {} \
     for i, k in ipairs(ARGV) do r[i] = redis.call('incrby', k, i) end \
     for i, k in ipairs(ARGV) do r[#ARGV + i] = redis.call('get', k) end \
     return r";

fn undeclared_keys_on_every_shard(cores: usize) {
    let srv = kevy(cores);
    let keys = keys_on_every_shard("u:", cores, 2);
    let args: Vec<&str> = keys.iter().map(String::as_str).collect();
    for round in 1..=3i64 {
        // A new connection each time: its home shard varies.
        let mut c = client(srv.port);
        let got: Vec<i64> = eval(&mut c, ADD_ALL, &[], &args).unwrap();
        let want: Vec<i64> = (1..=args.len() as i64)
            .map(|i| i * round)
            .chain((1..=args.len() as i64).map(|i| i * round))
            .collect();
        assert_eq!(got, want, "round {round}");
        // Another connection sees every write on its key's shard.
        let mut other = client(srv.port);
        for (i, k) in keys.iter().enumerate() {
            let v: i64 = other.get(k).unwrap();
            assert_eq!(v, (i as i64 + 1) * round, "{k}");
        }
    }
    // Declared keys and undeclared ones together.
    let mut c = client(srv.port);
    let r: String = eval(
        &mut c,
        "redis.call('set', KEYS[1], redis.call('get', ARGV[1]) .. redis.call('get', ARGV[2])) \
         return redis.call('get', KEYS[1])",
        &["joined"],
        &[&keys[0], &keys[keys.len() - 1]],
    )
    .unwrap();
    assert_eq!(r, format!("3{}", 3 * keys.len()));
}

/// Moves amounts between undeclared counters and elements between
/// undeclared lists, on every shard, while checkers sum them all.
fn movers_between_undeclared_keys_keep_the_total(cores: usize) {
    const COUNTERS: usize = 8;
    const LISTS: usize = 4;
    const MOVES: usize = 250;
    let srv = kevy(cores);
    let counters = keys_on_every_shard("cnt:", cores, COUNTERS / cores + 1);
    let lists = keys_on_every_shard("lst:", cores, LISTS / cores + 1);
    let mut c = client(srv.port);
    for k in &counters {
        let _: () = c.set(k, 100).unwrap();
    }
    for l in &lists {
        let _: () = c.rpush(l, &["a", "b", "c", "d", "e"]).unwrap();
    }
    let total = 100 * counters.len() as i64;
    let items = 5 * lists.len() as i64;
    let mover = "local n = tonumber(ARGV[3]) \
         if tonumber(redis.call('get', ARGV[1])) >= n then \
           redis.call('decrby', ARGV[1], n) redis.call('incrby', ARGV[2], n) end \
         return redis.call('rpoplpush', ARGV[4], ARGV[5])";
    let summer = "local s, l = 0, 0 \
         for i = 1, tonumber(ARGV[1]) do s = s + tonumber(redis.call('get', ARGV[1 + i])) end \
         for i = 2 + tonumber(ARGV[1]), #ARGV do l = l + redis.call('llen', ARGV[i]) end \
         return {s, l}";
    let done = Arc::new(AtomicBool::new(false));
    let mut checkers = Vec::new();
    for id in 0..2 {
        let (port, done) = (srv.port, done.clone());
        let (counters, lists) = (counters.clone(), lists.clone());
        checkers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut args = vec![counters.len().to_string()];
            args.extend(counters.iter().cloned());
            args.extend(lists.iter().cloned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut checks = 0;
            while !done.load(Ordering::Relaxed) || checks < 5 {
                let (s, l): (i64, i64) = if id == 0 {
                    let mut cmd = redis::cmd("EVAL_RO");
                    cmd.arg(summer).arg(0).arg(&args);
                    let v: Vec<i64> = cmd.query(&mut c).unwrap();
                    (v[0], v[1])
                } else {
                    // MULTI/EXEC reads every shard at one moment too.
                    let mut p = redis::pipe();
                    p.atomic();
                    p.cmd("MGET").arg(&counters);
                    for l in &lists {
                        p.cmd("LLEN").arg(l);
                    }
                    let (vals, lens): (Vec<i64>, Vec<i64>) = {
                        let r: Vec<redis::Value> = p.query(&mut c).unwrap();
                        let vals: Vec<i64> = redis::from_redis_value(&r[0]).unwrap();
                        let lens = r[1..]
                            .iter()
                            .map(|v| redis::from_redis_value(v).unwrap())
                            .collect();
                        (vals, lens)
                    };
                    (vals.iter().sum(), lens.iter().sum())
                };
                assert_eq!(s, total, "the counters drifted (check {checks})");
                assert_eq!(l, items, "the lists drifted (check {checks})");
                checks += 1;
            }
            checks
        }));
    }
    let mut movers = Vec::new();
    for id in 0..3u64 {
        let port = srv.port;
        let (counters, lists) = (counters.clone(), lists.clone());
        movers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ id;
            let mut next = |m: usize| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % m as u64) as usize
            };
            for _ in 0..MOVES {
                let (a, b) = (next(counters.len()), next(counters.len()));
                let (la, lb) = (next(lists.len()), next(lists.len()));
                let n = (1 + next(7)).to_string();
                let _: Option<String> = eval(
                    &mut c,
                    mover,
                    &[],
                    &[&counters[a], &counters[b], &n, &lists[la], &lists[lb]],
                )
                .unwrap();
            }
        }));
    }
    for m in movers {
        m.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for ch in checkers {
        assert!(ch.join().unwrap() >= 5);
    }
    let vals: Vec<i64> = c.mget(&counters).unwrap();
    assert_eq!(vals.iter().sum::<i64>(), total);
    assert!(vals.iter().all(|v| *v >= 0), "{vals:?}");
}

/// BullMQ's way: KEYS[1] is a prefix, and the script builds the names of
/// the keys it uses from it.
fn queue_script_builds_key_names_from_a_prefix(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let add = "local p = KEYS[1] \
         local id = redis.call('incr', p .. 'id') \
         redis.call('hset', p .. id, 'name', ARGV[1], 'state', 'waiting') \
         redis.call('lpush', p .. 'wait', id) \
         redis.call('zadd', p .. 'events', id, 'added:' .. id) \
         return id";
    let take = "local p = KEYS[1] \
         local id = redis.call('rpoplpush', p .. 'wait', p .. 'active') \
         if not id then return false end \
         redis.call('hset', p .. id, 'state', 'active') \
         return {id, redis.call('hget', p .. id, 'name')}";
    const JOBS: i64 = 12;
    for i in 1..=JOBS {
        let id: i64 = eval(&mut c, add, &["bull:q:"], &[&format!("job{i}")]).unwrap();
        assert_eq!(id, i);
    }
    for i in 1..=JOBS {
        let mut w = client(srv.port);
        let (id, name): (String, String) = eval(&mut w, take, &["bull:q:"], &[]).unwrap();
        assert_eq!(id, i.to_string());
        assert_eq!(name, format!("job{i}"));
    }
    let none: Option<Vec<String>> = eval(&mut c, take, &["bull:q:"], &[]).unwrap();
    assert_eq!(none, None);
    let mut other = client(srv.port);
    for i in 1..=JOBS {
        let state: String = other.hget(format!("bull:q:{i}"), "state").unwrap();
        assert_eq!(state, "active", "job {i}");
    }
    let active: i64 = other.llen("bull:q:active").unwrap();
    let waiting: i64 = other.llen("bull:q:wait").unwrap();
    let events: i64 = other.zcard("bull:q:events").unwrap();
    assert_eq!((active, waiting, events), (JOBS, 0, JOBS));
}

fn escalated_writes_are_replayed_after_restart(cores: usize) {
    let dir = TempDir::new("kevy-escalate-aof");
    let keys = keys_on_every_shard("aof:", cores, 2);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    {
        let srv = common::kevy_logged(dir.path(), cores, &[]);
        let mut c = client(srv.port);
        let _: Vec<i64> = eval(&mut c, ADD_ALL, &[], &refs).unwrap();
        let _: Vec<i64> = eval(&mut c, ADD_ALL, &[], &refs).unwrap();
        let _: i64 = eval(
            &mut c,
            "redis.call('rpush', ARGV[1], 'x', 'y') redis.call('hset', ARGV[2], 'f', 'v') \
             return redis.call('rpoplpush', ARGV[1], ARGV[3]) and 1",
            &[],
            &["aofl:a", "aofh:b", "aofl:c"],
        )
        .unwrap();
        // Writes before an error stay, and are logged.
        let r: redis::RedisResult<()> = eval(
            &mut c,
            "redis.call('set', ARGV[1], 'kept') redis.call('set', ARGV[2], 'kept') \
             redis.call('incr', ARGV[3]) redis.call('set', ARGV[4], 'lost')",
            &[],
            &["aofe:1", "aofe:2", "aofh:b", "aofe:3"],
        );
        assert!(r.is_err());
    }
    let srv = common::kevy_logged(dir.path(), cores, &[]);
    let mut c = client(srv.port);
    for (i, k) in keys.iter().enumerate() {
        let v: i64 = c.get(k).unwrap();
        assert_eq!(v, 2 * (i as i64 + 1), "{k} after restart");
    }
    let a: Vec<String> = c.lrange("aofl:a", 0, -1).unwrap();
    let b: Vec<String> = c.lrange("aofl:c", 0, -1).unwrap();
    assert_eq!((a, b), (vec!["x".to_string()], vec!["y".to_string()]));
    let h: String = c.hget("aofh:b", "f").unwrap();
    assert_eq!(h, "v");
    let kept: Vec<Option<String>> = c.mget(&["aofe:1", "aofe:2", "aofe:3"]).unwrap();
    assert_eq!(kept, [Some("kept".into()), Some("kept".into()), None]);
}

fn error_midway_keeps_earlier_writes(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let keys = keys_on_every_shard("err:", cores, 1);
    let _: () = c.set("err:str", "text").unwrap();
    // Every shard's key written, then an error, then one more write.
    let mut script = String::new();
    for (i, _) in keys.iter().enumerate() {
        script.push_str(&format!("redis.call('set', ARGV[{}], 'w') ", i + 1));
    }
    script.push_str(&format!(
        "redis.call('incr', 'err:str') redis.call('set', ARGV[{}], 'after')",
        keys.len() + 1
    ));
    let mut args: Vec<&str> = keys.iter().map(String::as_str).collect();
    args.push("err:after");
    let r: redis::RedisResult<()> = eval(&mut c, &script, &[], &args);
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("value is not an integer or out of range"),
        "{err}"
    );
    assert!(err.contains("@user_script:1"), "{err}");
    let mut other = client(srv.port);
    for k in &keys {
        let v: String = other.get(k).unwrap();
        assert_eq!(v, "w", "{k}");
    }
    let after: Option<String> = other.get("err:after").unwrap();
    assert_eq!(after, None);
    // pcall catches the error; the script goes on and its writes stay.
    let r: String = eval(
        &mut c,
        "local e = redis.pcall('incr', 'err:str') redis.call('set', ARGV[1], 'caught') \
         return e['err']",
        &[],
        &["err:after"],
    )
    .unwrap();
    assert!(r.contains("not an integer"), "{r}");
    let after: String = other.get("err:after").unwrap();
    assert_eq!(after, "caught");
    // error() raised by the script itself.
    let r: redis::RedisResult<()> = eval(
        &mut c,
        "redis.call('set', ARGV[1], 'x') error('boom')",
        &[],
        &[&keys[keys.len() - 1]],
    );
    assert!(r.unwrap_err().to_string().contains("boom"));
    let v: String = other.get(&keys[keys.len() - 1]).unwrap();
    assert_eq!(v, "x");
}

fn read_only_scripts_reach_every_shard(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let keys = keys_on_every_shard("ro:", cores, 2);
    for (i, k) in keys.iter().enumerate() {
        let _: () = c.set(k, i).unwrap();
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let want: i64 = (0..keys.len() as i64).sum();
    let sum = "local s = 0 for _, k in ipairs(ARGV) do s = s + redis.call('get', k) end return s";
    let mut cmd = redis::cmd("EVAL_RO");
    cmd.arg(sum).arg(0).arg(&refs);
    let got: i64 = cmd.query(&mut c).unwrap();
    assert_eq!(got, want);
    let shebang = format!("#!lua flags=no-writes\n{sum}");
    let got: i64 = eval(&mut c, &shebang, &[], &refs).unwrap();
    assert_eq!(got, want);
    // A write from a read-only script is refused, on any shard.
    let mut cmd = redis::cmd("EVAL_RO");
    cmd.arg("redis.call('get', ARGV[1]) return redis.call('set', ARGV[2], 1)")
        .arg(0)
        .arg(&keys[0])
        .arg(&keys[keys.len() - 1]);
    let err = cmd.query::<()>(&mut c).unwrap_err().to_string();
    assert!(
        err.contains("Write commands are not allowed from read-only scripts"),
        "{err}"
    );
    // Functions, read-only and not.
    let lib = "#!lua name=esc\n\
         redis.register_function{function_name='rsum', flags={'no-writes'}, \
           callback=function(keys, args) local s = 0 \
             for _, k in ipairs(args) do s = s + redis.call('get', k) end return s end}\n\
         redis.register_function('bump', function(keys, args) \
             for _, k in ipairs(args) do redis.call('incr', k) end return #args end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(lib)
        .query(&mut c)
        .unwrap();
    let got: i64 = redis::cmd("FCALL_RO")
        .arg("rsum")
        .arg(0)
        .arg(&refs)
        .query(&mut c)
        .unwrap();
    assert_eq!(got, want);
    let n: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(0)
        .arg(&refs)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, keys.len() as i64);
    let got: i64 = redis::cmd("FCALL")
        .arg("rsum")
        .arg(0)
        .arg(&refs)
        .query(&mut c)
        .unwrap();
    assert_eq!(got, want + keys.len() as i64);
}

/// A command pipelined behind an escalated script sees what it wrote,
/// wherever the script's declared key lives (inline, on another shard).
fn pipelined_command_sees_the_script_write(cores: usize) {
    let srv = kevy(cores);
    let counters = keys_on_every_shard("pc:", cores, 1);
    let declared = keys_on_every_shard("pd:", cores, 1);
    for _conn in 0..3 {
        let mut c = client(srv.port);
        for d in &declared {
            for target in &counters {
                let before: i64 = c.get::<_, Option<i64>>(target).unwrap().unwrap_or(0);
                let mut p = redis::pipe();
                p.cmd("EVAL")
                    .arg("redis.call('set', KEYS[1], 'seen') return redis.call('incr', ARGV[1])")
                    .arg(1)
                    .arg(d)
                    .arg(target);
                p.cmd("GET").arg(target);
                p.cmd("GET").arg(d);
                let (n, got, seen): (i64, i64, String) = p.query(&mut c).unwrap();
                assert_eq!(n, before + 1);
                assert_eq!(got, n, "a pipelined GET ran before the script");
                assert_eq!(seen, "seen");
            }
        }
    }
}

fn keyspace_events_come_from_the_final_run_only(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("E$")
        .query(&mut c)
        .unwrap();
    let keys = keys_on_every_shard("ev:", cores.max(2), 1);
    let mut s = client(srv.port);
    let mut sub = s.as_pubsub();
    sub.subscribe("__keyevent@0__:set").unwrap();
    sub.subscribe("news").unwrap();
    let n: i64 = eval(
        &mut c,
        "for _, k in ipairs(ARGV) do redis.call('set', k, 'v') end \
         return redis.call('publish', 'news', 'hello')",
        &[],
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(n, 1, "PUBLISH counts the subscriber once");
    let _: () = c.set("marker", "1").unwrap();
    let mut got = Vec::new();
    loop {
        let m = sub.get_message().unwrap();
        let payload: String = m.get_payload().unwrap();
        if payload == "marker" {
            break;
        }
        got.push(payload);
    }
    let mut want: Vec<String> = keys.clone();
    want.push("hello".into());
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "each write announced once: {got:?}");
}

/// Declared keys on several shards (run by copy) and an undeclared one.
fn declared_keys_across_shards_then_undeclared(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let a = key_on("dk:", 0, cores);
    let b = key_on("dk:", 1, cores);
    let u = key_on("un:", cores - 1, cores);
    let _: () = c.set(&u, 10).unwrap();
    for i in 1..=3 {
        let r: Vec<i64> = eval(
            &mut c,
            "return {redis.call('incr', KEYS[1]), redis.call('incr', KEYS[2]), \
             redis.call('incrby', ARGV[1], 10)}",
            &[&a, &b],
            &[&u],
        )
        .unwrap();
        assert_eq!(r, [i, i, 10 + 10 * i]);
    }
    let mut other = client(srv.port);
    let v: Vec<i64> = other.mget(&[&a, &b, &u]).unwrap();
    assert_eq!(v, [3, 3, 40]);
}

/// Inside MULTI a script reaches a key of another shard it did not
/// declare; a command over the whole keyspace runs in any script.
fn multi_and_whole_keyspace_commands_reach_every_shard(cores: usize) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let a = key_on("m:", 0, cores);
    let b = key_on("m:", 1, cores);
    let _: () = c.set(&a, "before").unwrap();
    let mut p = redis::pipe();
    p.atomic();
    p.cmd("EVAL")
        .arg("redis.call('set', KEYS[1], 'after') return redis.call('get', ARGV[1])")
        .arg(1)
        .arg(&a)
        .arg(&b);
    let r: Vec<Option<String>> = p.query(&mut c).unwrap();
    assert_eq!(r, vec![None]);
    let v: String = c.get(&a).unwrap();
    assert_eq!(v, "after");
    // A command over the whole keyspace runs over every shard's keys,
    // also when the script reached another shard's key first.
    let keys: Vec<String> = eval(&mut c, "return redis.call('keys', '*')", &[], &[]).unwrap();
    assert_eq!(keys, vec![a.clone()]);
    let script =
        "redis.call('get', ARGV[1]) redis.call('set', ARGV[2], 'x') return redis.call('dbsize')";
    let n: i64 = eval(&mut c, script, &[], &[&a, &b]).unwrap();
    assert_eq!(n, 2);
}

/// Clients that send a script reaching every shard and hang up at once:
/// each script runs whole or not at all, and no shard stays held.
fn clients_hanging_up_leave_no_lock_and_no_half_write(cores: usize) {
    use std::io::Write;
    let srv = kevy(cores);
    let keys = keys_on_every_shard("hup:", cores, 1);
    let mut script = String::new();
    for i in 1..=keys.len() {
        script.push_str(&format!("redis.call('incr', ARGV[{i}]) "));
    }
    let mut req = format!(
        "*{}\r\n$4\r\nEVAL\r\n${}\r\n{script}\r\n$1\r\n0\r\n",
        3 + keys.len(),
        script.len()
    );
    for k in &keys {
        req.push_str(&format!("${}\r\n{k}\r\n", k.len()));
    }
    for _ in 0..40 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        s.write_all(req.as_bytes()).expect("write");
        drop(s);
    }
    let mut c = client(srv.port);
    // Every shard answers (nothing is held) and the counters agree.
    let mut p = redis::pipe();
    p.atomic();
    for k in &keys {
        p.cmd("INCRBY").arg(k).arg(0);
    }
    let vals: Vec<Option<i64>> = p.query(&mut c).unwrap();
    let first = vals[0];
    assert!(vals.iter().all(|v| *v == first), "{vals:?}");
    let _: () = c.set(&keys[0], "free").unwrap();
}

/// A client blocked on a list is served by a script that pushes to it
/// without declaring it, run over every shard (it reaches a key of each)
/// or, with one shard, inline, whichever shard the list and the script's
/// connection are on.
fn blocked_clients_are_served_by_the_script_push(cores: usize) {
    let srv = kevy(cores);
    let lists = keys_on_every_shard("bl:", cores, 1);
    let others = keys_on_every_shard("blo:", cores.max(2), 1);
    for round in 0..3 {
        for l in &lists {
            let port = srv.port;
            let key = l.clone();
            let waiter = thread::spawn(move || {
                let mut w = client(port);
                let got: Option<(String, String)> =
                    redis::cmd("BLPOP").arg(&key).arg(10).query(&mut w).unwrap();
                got
            });
            // Long enough for the waiter to block, usually; served either
            // way, so nothing depends on it.
            thread::sleep(Duration::from_millis(50));
            let mut c = client(srv.port);
            let mut args: Vec<&str> = others.iter().map(String::as_str).collect();
            args.push(l);
            let _: i64 = eval(
                &mut c,
                "for i = 1, #ARGV - 1 do redis.call('incr', ARGV[i]) end \
                 return redis.call('rpush', ARGV[#ARGV], 'job')",
                &[],
                &args,
            )
            .unwrap();
            let got = waiter.join().unwrap();
            assert_eq!(got, Some((l.clone(), "job".to_string())), "round {round}");
        }
    }
}

/// Runs that are undone (a round that finds keys, a script's attempt, a
/// MULTI block's attempt) count nothing in INFO commandstats and
/// errorstats: the counts are redis-server's for the same commands.
fn commandstats_count_each_command_once(cores: usize) {
    if common::skip_redis_tools() {
        return;
    }
    common::require_program("redis-server");
    let redis = Server::redis("escalate-stats").expect("redis-server");
    let kevy = kevy(cores);
    let n = cores.max(2);
    let (a, b, c, d) = (
        key_on("s", 0, n),
        key_on("s", 1, n),
        key_on("t", 0, n),
        key_on("t", 1, n),
    );
    let stats = |port: u16| -> Vec<String> {
        let mut con = client(port);
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
        let _: () = con.set(&d, "text").unwrap();
        // A MULTI block whose script reaches another shard's key.
        let block: redis::Value = redis::pipe()
            .atomic()
            .set(&a, 1)
            .cmd("EVAL")
            .arg("redis.call('incr', ARGV[1]); redis.pcall('lpush', ARGV[2], 'x'); return redis.call('get', KEYS[1])")
            .arg(1)
            .arg(&a)
            .arg(&b)
            .arg(&d)
            .incr(&a, 1)
            .query(&mut con)
            .unwrap();
        assert!(matches!(block, redis::Value::Array(_)), "{block:?}");
        // A script that escalates, and one that reaches the whole keyspace.
        let _: redis::Value = eval(
            &mut con,
            "redis.call('set', KEYS[1], 'x'); redis.pcall('incr', ARGV[1]); return redis.call('get', ARGV[2])",
            &[&c],
            &[&d, &b],
        )
        .unwrap();
        let _: redis::Value = eval(
            &mut con,
            "redis.call('set', KEYS[1], 'y'); return #redis.call('keys', '*')",
            &[&c],
            &[],
        )
        .unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut con)
            .unwrap();
        let errors: String = redis::cmd("INFO")
            .arg("errorstats")
            .query(&mut con)
            .unwrap();
        let mut lines: Vec<String> = info
            .lines()
            .chain(errors.lines())
            .filter(|l| l.starts_with("cmdstat_") || l.starts_with("errorstat_"))
            .filter(|l| !l.starts_with("cmdstat_info") && !l.starts_with("cmdstat_config"))
            .map(|l| {
                // Times differ; calls and failures must not.
                l.split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(stats(kevy.port), stats(redis.port), "cores {cores}");
}

/// INFO keyspace from a script counts the script's own writes so far,
/// whichever way it runs (inline, by copy, over the whole keyspace): the
/// counts are redis-server's (avg_ttl aside, which kevy does not keep).
fn info_keyspace_in_a_script_counts_its_writes(cores: usize) {
    if common::skip_redis_tools() {
        return;
    }
    common::require_program("redis-server");
    let redis = Server::redis("escalate-keyspace").expect("redis-server");
    let kevy = kevy(cores);
    let n = cores.max(2);
    let (a, b, c) = (key_on("k", 0, n), key_on("k", 1, n), key_on("m", 1, n));
    let info = "local r = {} \
         for i, k in ipairs(ARGV) do \
           if i % 2 == 1 then redis.call('del', k) else redis.call('set', k, 'v', 'px', 100000) end \
           r[i] = redis.call('info', 'keyspace') \
         end \
         if #KEYS > 0 then redis.call('set', KEYS[1], 'w') end \
         r[#r + 1] = redis.call('info', 'keyspace') \
         return r";
    let run = |port: u16| -> Vec<String> {
        let mut con = client(port);
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        for k in [&a, &b, &c] {
            let _: () = con.set(k, "x").unwrap();
        }
        let mut out = Vec::new();
        // Inline (keys of one shard), by copy (declared keys on two
        // shards), and over the whole keyspace (undeclared keys).
        let cases: [(&[&str], &[&str]); 3] = [
            (&[&a], &[&a, "new1"]),
            (&[&a, &b], &[&b, "new2", &c, "new3"]),
            (&[], &[&a, "new4", &c, "new5"]),
        ];
        for (keys, args) in cases {
            let r: Vec<String> = eval(&mut con, info, keys, args).unwrap();
            for text in r {
                let lines: Vec<String> = text
                    .lines()
                    .filter(|l| l.starts_with("db"))
                    .map(|l| l.split(",avg_ttl").next().unwrap().to_string())
                    .collect();
                out.push(lines.join(" "));
            }
        }
        out
    };
    assert_eq!(run(kevy.port), run(redis.port), "cores {cores}");
}
