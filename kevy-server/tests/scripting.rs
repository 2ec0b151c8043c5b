//! Lua scripts over real sockets with the `redis` crate: its `Script` type
//! (EVALSHA, falling back to EVAL on NOSCRIPT), a Lua lock under
//! contention, scripts whose keys span shards, a script that reaches a key
//! of another shard it did not declare, and what a script leaves in the
//! append-only log. Each scenario runs with `--cores 1` and `--cores 2`.
//!
//! Bounded by iteration counts, never by time; no timing is asserted.

mod common;

use common::{Server, TempDir};
use redis::{Commands, Connection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! both_layouts {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn cores_1() {
                super::$name("1");
            }

            #[test]
            fn cores_2() {
                super::$name("2");
            }
        }
    )*};
}

both_layouts!(
    script_type_loads_once_and_runs_everywhere,
    lua_lock_never_has_two_holders,
    transfers_across_shards_keep_the_total,
    undeclared_key_of_another_shard_runs_again_over_every_shard,
    script_writes_are_logged_as_commands,
);

fn client(port: u16) -> Connection {
    common::connect(port, IO_TIMEOUT)
}

fn kevy(cores: &str) -> Server {
    Server::kevy(&["--cores", cores, "--save", ""])
}

/// Two keys owned by different shards of a two-shard server (any two keys
/// with one shard).
fn keys_on_two_shards(prefix: &str) -> (String, String) {
    let a = format!("{prefix}a");
    let home = kevy_rt::shard_of(a.as_bytes(), 2);
    let b = (0..)
        .map(|i| format!("{prefix}b{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), 2) != home)
        .expect("a key on the other shard");
    (a, b)
}

fn script_type_loads_once_and_runs_everywhere(cores: &str) {
    let srv = kevy(cores);
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    // Several connections (so several shards' Lua states) run it; the
    // first invocation loads it with EVAL after EVALSHA's NOSCRIPT.
    let mut total = 0;
    for i in 0..8 {
        let mut c = client(srv.port);
        let key = format!("counter{}", i % 3);
        let n: i64 = script.key(&key).arg(2).invoke(&mut c).unwrap();
        assert!(n >= 2);
        total += 2;
    }
    let mut c = client(srv.port);
    let sum: i64 = (0..3)
        .map(|i| c.get::<_, i64>(format!("counter{i}")).unwrap())
        .sum();
    assert_eq!(sum, total);
    let exists: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(script.get_hash())
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, vec![true]);
    // Loaded on one connection, callable from every other.
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return ARGV[1] .. '!'")
        .query(&mut c)
        .unwrap();
    for _ in 0..4 {
        let mut other = client(srv.port);
        let r: String = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(0)
            .arg("hi")
            .query(&mut other)
            .unwrap();
        assert_eq!(r, "hi!");
    }
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut c).unwrap();
    let mut other = client(srv.port);
    let err = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(0)
        .query::<String>(&mut other)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOSCRIPT"), "{err}");
}

/// SET NX PX to take the lock, a compare-and-delete script to release it:
/// while a client holds it, a counter of holders must read 1.
fn lua_lock_never_has_two_holders(cores: &str) {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 300;
    let srv = kevy(cores);
    let port = srv.port;
    let release = Arc::new(redis::Script::new(
        "if redis.call('get', KEYS[1]) == ARGV[1] then \
           return redis.call('del', KEYS[1]) \
         else return 0 end",
    ));
    let enter = Arc::new(redis::Script::new(
        "local n = redis.call('incr', KEYS[1]); return n",
    ));
    let leave = Arc::new(redis::Script::new("return redis.call('decr', KEYS[1])"));
    let taken = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (release, enter, leave, taken) =
                (release.clone(), enter.clone(), leave.clone(), taken.clone());
            thread::spawn(move || {
                let mut c = client(port);
                let mut mine = 0;
                while mine < ROUNDS {
                    let token = format!("{id}-{mine}");
                    let got: Option<String> = redis::cmd("SET")
                        .arg("{lock}l")
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(30_000)
                        .query(&mut c)
                        .unwrap();
                    if got.is_none() {
                        continue;
                    }
                    let inside: i64 = enter.key("{lock}inside").invoke(&mut c).unwrap();
                    assert_eq!(inside, 1, "two holders of the lock");
                    let _: i64 = leave.key("{lock}inside").invoke(&mut c).unwrap();
                    let freed: i64 = release.key("{lock}l").arg(&token).invoke(&mut c).unwrap();
                    assert_eq!(freed, 1, "the lock was not ours to release");
                    // Another's token never releases it.
                    let not: i64 = release.key("{lock}l").arg("nobody").invoke(&mut c).unwrap();
                    assert_eq!(not, 0);
                    taken.fetch_add(1, Ordering::Relaxed);
                    mine += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    assert_eq!(taken.load(Ordering::Relaxed), (CLIENTS * ROUNDS) as u64);
}

/// A script moving amounts between keys of different shards while
/// readers sum them with a script and with MGET: the total never changes.
fn transfers_across_shards_keep_the_total(cores: &str) {
    const WRITERS: usize = 4;
    const MOVES: usize = 300;
    const TOTAL: i64 = 1000;
    let srv = kevy(cores);
    let port = srv.port;
    let (a, b) = keys_on_two_shards("acct:");
    let mut c = client(port);
    let _: () = c.set(&a, TOTAL).unwrap();
    let _: () = c.set(&b, 0).unwrap();
    let transfer = Arc::new(redis::Script::new(
        "local from, to = KEYS[1], KEYS[2]; \
         local n = tonumber(redis.call('get', from)); \
         if n < tonumber(ARGV[1]) then return 0 end; \
         redis.call('decrby', from, ARGV[1]); \
         redis.call('incrby', to, ARGV[1]); return 1",
    ));
    let sum = Arc::new(redis::Script::new(
        "return tonumber(redis.call('get', KEYS[1])) + tonumber(redis.call('get', KEYS[2]))",
    ));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (transfer, a, b) = (transfer.clone(), a.clone(), b.clone());
        handles.push(thread::spawn(move || {
            let mut c = client(port);
            for i in 0..MOVES {
                let (from, to) = if (i + w) % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let _: i64 = transfer.key(from).key(to).arg(7).invoke(&mut c).unwrap();
            }
        }));
    }
    for _ in 0..2 {
        let (sum, a, b) = (sum.clone(), a.clone(), b.clone());
        handles.push(thread::spawn(move || {
            let mut c = client(port);
            for _ in 0..MOVES {
                let s: i64 = sum.key(&a).key(&b).invoke(&mut c).unwrap();
                assert_eq!(s, TOTAL, "a script saw half a transfer");
                let v: Vec<i64> = c.mget(&[&a, &b]).unwrap();
                assert_eq!(v.iter().sum::<i64>(), TOTAL, "MGET saw half a transfer");
            }
        }));
    }
    for h in handles {
        h.join().expect("client thread");
    }
}

/// A script that writes its declared key and then reaches a key it did not
/// declare on another shard stops (even under pcall) and leaves nothing
/// written; with one shard every key is reachable.
fn undeclared_key_of_another_shard_runs_again_over_every_shard(cores: &str) {
    let srv = kevy(cores);
    let mut c = client(srv.port);
    let (a, b) = keys_on_two_shards("u:");
    let _: () = c.set(&a, "before").unwrap();
    let _: () = c.set(&b, "other").unwrap();
    let script = "redis.call('set', KEYS[1], 'after'); \
                  local ok, v = pcall(redis.call, 'get', ARGV[1]); \
                  redis.call('set', KEYS[1], 'later'); return v";
    // With two shards the first attempt stops at `b` and is undone; the
    // script runs again holding every shard, and `pcall` never sees the
    // stop.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("E$")
        .query(&mut c)
        .unwrap();
    let mut s = client(srv.port);
    let mut sub = s.as_pubsub();
    sub.subscribe("__keyevent@0__:set").unwrap();
    let r: String = redis::cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg(&a)
        .arg(&b)
        .query(&mut c)
        .unwrap();
    assert_eq!(r, "other");
    let v: String = c.get(&a).unwrap();
    assert_eq!(v, "later");
    // The undone attempt announced nothing: two events, then the next
    // command's.
    let _: () = c.set("marker", "1").unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let p: String = sub.get_message().unwrap().get_payload().unwrap();
        got.push(p);
    }
    assert_eq!(got, [a.as_str(), a.as_str(), "marker"]);
}

/// What a script wrote survives a restart from the append-only log, which
/// holds the commands the script ran, not the script.
fn script_writes_are_logged_as_commands(cores: &str) {
    let dir = TempDir::new("kevy-scripting-aof");
    {
        let srv = common::kevy_logged(dir.path(), cores, &[]);
        let mut c = client(srv.port);
        let _: () = redis::cmd("EVAL")
            .arg(
                "redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', KEYS[2], 'a', 'b'); \
                 redis.call('incrby', KEYS[3], 5)",
            )
            .arg(3)
            .arg("{s}str")
            .arg("{s}list")
            .arg("{s}n")
            .arg("value")
            .query(&mut c)
            .unwrap();
        let _: () = redis::cmd("EVAL")
            .arg("redis.call('select', 3); redis.call('set', KEYS[1], 'db3')")
            .arg(1)
            .arg("{s}str")
            .query(&mut c)
            .unwrap();
        // A script reaching a key of another shard it did not declare
        // runs again over every shard: only that run's writes are logged.
        let (a, b) = keys_on_two_shards("aof:");
        let _: () = redis::cmd("EVAL")
            .arg("redis.call('incr', KEYS[1]); redis.call('set', ARGV[1], 'y')")
            .arg(1)
            .arg(&a)
            .arg(&b)
            .query(&mut c)
            .unwrap();
    }
    let mut logged = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("appendonlydir")).expect("appendonlydir") {
        logged.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let has = |s: &[u8]| logged.windows(s.len()).any(|w| w.eq_ignore_ascii_case(s));
    assert!(has(b"rpush"), "the script's commands are in the log");
    assert!(!has(b"EVAL"), "the script itself is not in the log");
    let srv = common::kevy_logged(dir.path(), cores, &[]);
    let mut c = client(srv.port);
    let v: String = c.get("{s}str").unwrap();
    assert_eq!(v, "value");
    let l: Vec<String> = c.lrange("{s}list", 0, -1).unwrap();
    assert_eq!(l, ["a", "b"]);
    let n: i64 = c.get("{s}n").unwrap();
    assert_eq!(n, 5);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let v: String = c.get("{s}str").unwrap();
    assert_eq!(v, "db3");
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    let (a, b) = keys_on_two_shards("aof:");
    let v: i64 = c.get(&a).unwrap();
    assert_eq!(v, 1, "the undone attempt's write came back from the log");
    let v: String = c.get(&b).unwrap();
    assert_eq!(v, "y");
}

// ---------------------------------------------------------------------------
// Busy scripts, asked from connections of any thread of a two-shard
// server (tests/busy.rs asks from the script's own thread).

/// Connections until one is answered (BUSY) while a script is busy.
fn answered_connection(port: u16) -> (TcpStreamConn, Vec<u8>) {
    for _ in 0..64 {
        let mut c = TcpStreamConn::new(port);
        if let Some(reply) = c.call(&["PING"], Duration::from_millis(300)) {
            return (c, reply);
        }
    }
    panic!("no connection was answered while the script ran");
}

/// Like [`answered_connection`], once the running script has been seen
/// busy: a loaded machine may start it, or pass the busy threshold, well
/// after the test sent it.
fn busy_connection(port: u16) -> (TcpStreamConn, Vec<u8>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (c, reply) = answered_connection(port);
        if reply.starts_with(b"-BUSY") || std::time::Instant::now() > deadline {
            return (c, reply);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A raw RESP connection with a per-call timeout.
struct TcpStreamConn(std::net::TcpStream);

impl TcpStreamConn {
    fn new(port: u16) -> Self {
        TcpStreamConn(std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
    }

    fn send(&mut self, argv: &[&str]) {
        use std::io::Write;
        let mut b = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.0.write_all(&b).expect("write");
    }

    /// The first reply line, or `None` when nothing came in `wait`.
    fn read(&mut self, wait: Duration) -> Option<Vec<u8>> {
        use std::io::Read;
        self.0.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = vec![0u8; 4096];
        match self.0.read(&mut buf) {
            Ok(n) if n > 0 => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    fn call(&mut self, argv: &[&str], wait: Duration) -> Option<Vec<u8>> {
        self.send(argv);
        self.read(wait)
    }
}

#[test]
fn busy_script_is_killed_and_others_get_busy() {
    let srv = Server::kevy(&[
        "--cores",
        "2",
        "--save",
        "",
        "--busy-reply-threshold",
        "100",
    ]);
    let mut runner = TcpStreamConn::new(srv.port);
    runner.send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    let (mut other, reply) = busy_connection(srv.port);
    assert_eq!(
        reply,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let r = other
        .call(&["FUNCTION", "KILL"], IO_TIMEOUT)
        .expect("FUNCTION KILL");
    assert!(r.starts_with(b"-BUSY"), "{}", String::from_utf8_lossy(&r));
    // FUNCTION STATS refuses while an EVAL script is busy, as Redis does.
    let r = other.call(&["FUNCTION", "STATS"], IO_TIMEOUT).unwrap();
    assert_eq!(
        r,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let r = other.call(&["SCRIPT", "KILL"], IO_TIMEOUT).expect("KILL");
    assert_eq!(r, b"+OK\r\n");
    let r = runner.read(IO_TIMEOUT).expect("the killed script's reply");
    let text = String::from_utf8_lossy(&r);
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{text}"
    );
    assert_eq!(other.call(&["PING"], IO_TIMEOUT).unwrap(), b"+PONG\r\n");
    let r = other.call(&["SCRIPT", "KILL"], IO_TIMEOUT).unwrap();
    assert_eq!(r, b"-NOTBUSY No scripts in execution right now.\r\n");
    assert_eq!(runner.call(&["PING"], IO_TIMEOUT).unwrap(), b"+PONG\r\n");
}

/// A script run again over every shard, busy while it finds its keys:
/// SCRIPT KILL stops it, and every shard it held is free again.
#[test]
fn busy_script_over_every_shard_is_killed_and_lets_go() {
    let srv = Server::kevy(&[
        "--cores",
        "2",
        "--save",
        "",
        "--busy-reply-threshold",
        "100",
    ]);
    let (a, b) = keys_on_two_shards("kill:");
    let mut runner = TcpStreamConn::new(srv.port);
    // Both keys are read before the loop, so the first attempt always
    // stops at the other shard's key and the script runs again.
    let script = "redis.call('get', ARGV[1]) redis.call('get', ARGV[2]) \
                  local i = 0 while true do i = i + 1 end";
    runner.send(&["EVAL", script, "0", &a, &b]);
    let (mut other, reply) = busy_connection(srv.port);
    assert_eq!(
        reply,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let r = other.call(&["SCRIPT", "KILL"], IO_TIMEOUT).expect("KILL");
    assert_eq!(r, b"+OK\r\n");
    let r = runner.read(IO_TIMEOUT).expect("the killed script's reply");
    let text = String::from_utf8_lossy(&r);
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{text}"
    );
    // Neither shard is held any more.
    for k in [&a, &b] {
        assert_eq!(
            other.call(&["SET", k, "v"], IO_TIMEOUT).unwrap(),
            b"+OK\r\n"
        );
        assert_eq!(
            runner.call(&["GET", k], IO_TIMEOUT).unwrap(),
            b"$1\r\nv\r\n"
        );
    }
}

#[test]
fn busy_function_that_wrote_is_unkillable_but_shutdown_nosave_works() {
    let mut srv = Server::kevy(&[
        "--cores",
        "2",
        "--save",
        "",
        "--busy-reply-threshold",
        "100",
    ]);
    let mut c = client(srv.port);
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(
            "#!lua name=spin\nredis.register_function('spin', function(k) \
             redis.call('set', k[1], 'x') while true do end end)",
        )
        .query(&mut c)
        .unwrap();
    let mut runner = TcpStreamConn::new(srv.port);
    runner.send(&["FCALL", "spin", "1", "k"]);
    let (mut other, reply) = busy_connection(srv.port);
    assert_eq!(
        reply,
        b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    // FUNCTION STATS names the running function, its command and how
    // long it has run.
    let r = other.call(&["FUNCTION", "STATS"], IO_TIMEOUT).unwrap();
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(
        text.starts_with(
            "*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n\
             $7\r\ncommand\r\n*4\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n1\r\n$1\r\nk\r\n\
             $11\r\nduration_ms\r\n:"
        ),
        "{text}"
    );
    let ms: u64 = text
        .split("duration_ms\r\n:")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms >= 100, "{text}");
    let r = other.call(&["FUNCTION", "KILL"], IO_TIMEOUT).unwrap();
    assert!(
        r.starts_with(b"-UNKILLABLE"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    let r = other.call(&["SHUTDOWN"], IO_TIMEOUT).unwrap();
    assert!(r.starts_with(b"-BUSY"), "{}", String::from_utf8_lossy(&r));
    other.send(&["SHUTDOWN", "NOSAVE"]);
    let status = srv.wait_exit(IO_TIMEOUT).expect("the server exits");
    assert!(status.success(), "{status:?}");
}

// ---------------------------------------------------------------------------
// Functions survive a restart: from dump.rdb, from the append-only log, and
// from a log rewritten since.

fn load_counter_library(c: &mut Connection, name: &str) {
    let code = format!(
        "#!lua name={name}\nredis.register_function('{name}_incr', function(k) \
         return redis.call('incr', k[1]) end)\n\
         redis.register_function{{function_name='{name}_get', callback=function(k) \
         return redis.call('get', k[1]) end, flags={{'no-writes'}}, description='reads'}}"
    );
    let lib: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(code)
        .query(c)
        .unwrap();
    assert_eq!(lib, name);
}

fn function_names(c: &mut Connection) -> Vec<String> {
    let list: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(c).unwrap();
    let mut names = Vec::new();
    for lib in list {
        let redis::Value::Array(fields) = lib else {
            panic!("{lib:?}")
        };
        if let redis::Value::BulkString(n) = &fields[1] {
            names.push(String::from_utf8_lossy(n).into_owned());
        }
    }
    names.sort();
    names
}

fn functions_survive(cores: &str, aof: bool, rewrite: bool) {
    let dir = TempDir::new("kevy-functions");
    let d = dir.path().to_str().expect("utf-8 dir");
    let mut args = vec!["--cores", cores, "--dir", d, "--save", ""];
    if aof {
        args.extend_from_slice(&["--appendonly", "yes", "--appendfsync", "always"]);
    }
    {
        let srv = Server::kevy(&args);
        let mut c = client(srv.port);
        load_counter_library(&mut c, "one");
        load_counter_library(&mut c, "two");
        load_counter_library(&mut c, "gone");
        let _: () = redis::cmd("FUNCTION")
            .arg("DELETE")
            .arg("gone")
            .query(&mut c)
            .unwrap();
        let n: i64 = redis::cmd("FCALL")
            .arg("one_incr")
            .arg(1)
            .arg("k1")
            .query(&mut c)
            .unwrap();
        assert_eq!(n, 1);
        let _: i64 = redis::cmd("FCALL")
            .arg("two_incr")
            .arg(1)
            .arg("k2")
            .query(&mut c)
            .unwrap();
        // With a rewrite, a library change is the last thing before the
        // kill: acknowledged under `always`, it is in the log.
        if rewrite {
            let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
            for _ in 0..600 {
                let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
                if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            load_counter_library(&mut c, "three");
        }
        if !aof {
            let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
        }
    }
    let srv = Server::kevy(&args);
    let mut c = client(srv.port);
    let mut want = vec!["one", "two"];
    if rewrite {
        want.push("three");
    }
    want.sort();
    assert_eq!(function_names(&mut c), want);
    let v: String = redis::cmd("FCALL_RO")
        .arg("one_get")
        .arg(1)
        .arg("k1")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "1");
    let n: i64 = redis::cmd("FCALL")
        .arg("two_incr")
        .arg(1)
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2);
    let err = redis::cmd("FCALL")
        .arg("gone_get")
        .arg(1)
        .arg("k1")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("Function not found"), "{err}");
}

#[test]
fn functions_survive_restart_from_dump_rdb() {
    functions_survive("1", false, false);
    functions_survive("2", false, false);
}

#[test]
fn functions_survive_restart_from_the_log() {
    functions_survive("1", true, false);
    functions_survive("2", true, false);
}

#[test]
fn functions_survive_restart_from_a_rewritten_log() {
    functions_survive("1", true, true);
    functions_survive("2", true, true);
}
