//! Busy scripts answered on the script's own thread: with `--cores 1`
//! every other connection (open before the script or accepted while it
//! runs) gets `-BUSY`, and SCRIPT KILL, FUNCTION KILL and SHUTDOWN NOSAVE
//! reach the script; at `--cores 2` so does every connection, whichever
//! thread it lives on. Each transcript is compared with a real
//! redis-server's (unless `KEVY_SKIP_DIFF=1`).
//!
//! Every read has a timeout: a connection that is not answered while the
//! script runs fails the test instead of hanging it.

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long any one reply may take.
const WAIT: Duration = Duration::from_secs(5);
/// Long enough for a script to pass a 100 ms `busy-reply-threshold`.
const PAST_THRESHOLD: Duration = Duration::from_millis(400);

const BUSY_EVAL: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Waits until a new connection is answered with BUSY: on a loaded machine
/// a script may start, or pass the threshold, later than any fixed sleep.
fn wait_busy(port: u16) {
    thread::sleep(PAST_THRESHOLD);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if Raw::new(port).call(&["PING"]).starts_with("-BUSY") {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A raw RESP connection whose replies here are all one line.
struct Raw(TcpStream, Vec<u8>);

impl Raw {
    fn new(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        Raw(s, Vec::new())
    }

    fn send(&mut self, argv: &[&str]) {
        let mut b = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.0.write_all(&b).expect("write");
    }

    /// The next reply line (without CRLF), or why there is none.
    fn line(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.1.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.1[..at]).into_owned();
                self.1.drain(..at + 2);
                return line;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return "(no reply)".into();
            }
            self.0.set_read_timeout(Some(left)).expect("timeout");
            let mut buf = [0u8; 4096];
            match self.0.read(&mut buf) {
                Ok(0) => return "(closed)".into(),
                Ok(n) => self.1.extend_from_slice(&buf[..n]),
                Err(_) => return "(no reply)".into(),
            }
        }
    }

    fn call(&mut self, argv: &[&str]) -> String {
        self.send(argv);
        self.line()
    }
}

/// The tests place connections on threads (`one_thread`) and check which
/// thread answers what, so connections stay on the shard that accepted
/// them: on a loaded machine a starved shard would otherwise hand some to
/// the other (balance.rs tests that none moves to a shard in a script).
fn kevy(cores: &str) -> Server {
    Server::kevy(&[
        "--cores",
        cores,
        "--save",
        "",
        "--busy-reply-threshold",
        "100",
        "--shard-balance",
        "no",
    ])
}

/// A redis-server to compare with, or `None` when told to skip.
fn redis(name: &str) -> Option<Server> {
    if common::skip_redis_tools() {
        return None;
    }
    common::require_program("redis-server");
    Some(Server::redis_with(name, None, &["--busy-reply-threshold", "100"]).expect("redis-server"))
}

/// An EVAL script that never ends: its own connection, others' answers
/// while it runs, SCRIPT KILL, and the killed script's reply.
fn eval_killed(port: u16) -> Vec<String> {
    let mut t = Vec::new();
    let mut before = Raw::new(port);
    t.push(before.call(&["PING"]));
    let mut runner = Raw::new(port);
    runner.send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    wait_busy(port);
    // A connection open before the script, one accepted while it runs,
    // and two commands in one write: each answered, in order.
    t.push(before.call(&["GET", "k"]));
    let mut other = Raw::new(port);
    other
        .0
        .write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .unwrap();
    t.push(other.line());
    t.push(other.line());
    t.push(other.call(&["FUNCTION", "KILL"]));
    t.push(other.call(&["SCRIPT", "KILL"]));
    t.push(runner.line());
    t.push(other.call(&["PING"]));
    t.push(runner.call(&["PING"]));
    t.push(before.call(&["SCRIPT", "KILL"]));
    t
}

/// A long pipeline sent while a script is busy: every command answered
/// though it spans several reads and command budgets.
fn pipeline_answered(port: u16) -> Vec<String> {
    const N: usize = 3000;
    let mut runner = Raw::new(port);
    runner.send(&["EVAL", "while true do end", "0"]);
    wait_busy(port);
    let mut other = Raw::new(port);
    let mut burst = Vec::new();
    for i in 0..N {
        let arg = i.to_string();
        burst.extend_from_slice(
            format!("*2\r\n$4\r\nECHO\r\n${}\r\n{arg}\r\n", arg.len()).as_bytes(),
        );
    }
    other.0.write_all(&burst).unwrap();
    let mut t = Vec::new();
    for _ in 0..N {
        let line = other.line();
        let answered = line.starts_with('-') || line.starts_with('+');
        if t.last() != Some(&line) {
            t.push(line);
        }
        if !answered {
            // Not answered: fail now rather than wait for every line.
            return t;
        }
    }
    t.push(other.call(&["SCRIPT", "KILL"]));
    t.push(runner.line().split(" script:").next().unwrap().to_string());
    t
}

/// An EVAL script that never ends inside MULTI/EXEC.
fn exec_killed(port: u16) -> Vec<String> {
    let mut t = Vec::new();
    let mut runner = Raw::new(port);
    t.push(runner.call(&["MULTI"]));
    t.push(runner.call(&["EVAL", "while true do end", "0"]));
    runner.send(&["EXEC"]);
    wait_busy(port);
    let mut other = Raw::new(port);
    t.push(other.call(&["PING"]));
    t.push(other.call(&["SCRIPT", "KILL"]));
    t.push(runner.line());
    t.push(runner.line());
    t.push(runner.call(&["PING"]));
    t
}

/// A function that never ends: BUSY names FUNCTION KILL, SCRIPT KILL may
/// not stop it, FUNCTION KILL does.
fn function_killed(port: u16) -> Vec<String> {
    let mut t = Vec::new();
    let mut loader = Raw::new(port);
    let len = loader.call(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=busylib\nredis.register_function('spin', function() while true do end end)",
    ]);
    t.push(format!("{len} {}", loader.line()));
    let mut runner = Raw::new(port);
    runner.send(&["FCALL", "spin", "0"]);
    wait_busy(port);
    t.push(loader.call(&["PING"]));
    t.push(loader.call(&["SCRIPT", "KILL"]));
    t.push(loader.call(&["FUNCTION", "KILL"]));
    t.push(runner.line());
    t.push(runner.call(&["PING"]));
    t
}

/// A script that wrote cannot be killed; SHUTDOWN without NOSAVE is
/// refused; SHUTDOWN NOSAVE stops the server. Returns the transcript and
/// whether the server exited.
fn unkillable_then_shutdown(srv: &mut Server) -> (Vec<String>, bool) {
    let mut t = Vec::new();
    let mut runner = Raw::new(srv.port);
    runner.send(&["EVAL", "redis.call('set', 'k', 'v') while true do end", "0"]);
    wait_busy(srv.port);
    let mut other = Raw::new(srv.port);
    t.push(other.call(&["SCRIPT", "KILL"]));
    t.push(other.call(&["SHUTDOWN"]));
    other.send(&["SHUTDOWN", "NOSAVE"]);
    let exited = srv.wait_exit(WAIT).is_some();
    (t, exited)
}

fn check_eval_killed(t: &[String]) {
    assert_eq!(t[0], "+PONG", "{t:#?}");
    assert_eq!(t[1], BUSY_EVAL, "{t:#?}");
    assert_eq!(t[2], BUSY_EVAL, "{t:#?}");
    assert_eq!(t[3], BUSY_EVAL, "{t:#?}");
    assert_eq!(t[5], "+OK", "{t:#?}");
    assert!(
        t[6].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{t:#?}"
    );
    assert_eq!(
        t[7..],
        [
            "+PONG",
            "+PONG",
            "-NOTBUSY No scripts in execution right now."
        ]
    );
}

#[test]
fn others_on_the_scripts_thread_get_busy_and_script_kill_stops_it() {
    let srv = kevy("1");
    let got = eval_killed(srv.port);
    check_eval_killed(&got);
    if let Some(r) = redis("busy-eval") {
        assert_eq!(got, eval_killed(r.port));
    }
}

#[test]
fn a_long_pipeline_gets_busy_for_every_command() {
    let srv = kevy("1");
    let got = pipeline_answered(srv.port);
    assert_eq!(
        got,
        [
            BUSY_EVAL,
            "+OK",
            "-ERR Script killed by user with SCRIPT KILL..."
        ]
    );
    if let Some(r) = redis("busy-pipeline") {
        assert_eq!(got, pipeline_answered(r.port));
    }
}

#[test]
fn a_script_inside_exec_is_killed_from_its_own_thread() {
    let srv = kevy("1");
    let got = exec_killed(srv.port);
    assert_eq!(got[..4], ["+OK", "+QUEUED", BUSY_EVAL, "+OK"], "{got:#?}");
    assert_eq!(got[4], "*1", "{got:#?}");
    assert!(
        got[5].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{got:#?}"
    );
    assert_eq!(got[6], "+PONG", "{got:#?}");
    if let Some(r) = redis("busy-exec") {
        assert_eq!(got, exec_killed(r.port));
    }
}

#[test]
fn function_kill_stops_a_function_on_its_own_thread() {
    let srv = kevy("1");
    let got = function_killed(srv.port);
    assert_eq!(got[1], BUSY_FUNCTION, "{got:#?}");
    assert_eq!(got[2], BUSY_FUNCTION, "{got:#?}");
    assert_eq!(got[3], "+OK", "{got:#?}");
    assert!(
        got[4].starts_with("-ERR Script killed by user with "),
        "{got:#?}"
    );
    assert_eq!(got[5], "+PONG", "{got:#?}");
    if let Some(r) = redis("busy-function") {
        assert_eq!(got, function_killed(r.port));
    }
}

#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_stops_the_server() {
    let mut srv = kevy("1");
    let (got, exited) = unkillable_then_shutdown(&mut srv);
    assert!(got[0].starts_with("-UNKILLABLE "), "{got:#?}");
    assert_eq!(got[1], BUSY_EVAL, "{got:#?}");
    assert!(exited, "SHUTDOWN NOSAVE did not stop kevy: {got:#?}");
    if let Some(mut r) = redis("busy-unkillable") {
        let (want, exited) = unkillable_then_shutdown(&mut r);
        assert!(exited, "redis-server did not stop");
        assert_eq!(got, want);
    }
}

/// Two keys owned by shards 0 and 1 of a two-shard server.
fn key_of_shard(shard: usize) -> String {
    (0..)
        .map(|i| format!("busy:{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), 2) == shard)
        .unwrap()
}

#[test]
fn every_connection_gets_busy_whichever_thread_it_lives_on() {
    let srv = kevy("2");
    // Eight connections spread by the kernel over the two threads: each
    // thread has some but with a chance of 1 in 128.
    let mut others: Vec<Raw> = (0..8).map(|_| Raw::new(srv.port)).collect();
    for o in &mut others {
        assert_eq!(o.call(&["PING"]), "+PONG");
    }
    // One script on each shard: at least one of them runs on a shard that
    // is not the runner's own (it came through the ring).
    for shard in 0..2 {
        let key = key_of_shard(shard);
        let mut runner = Raw::new(srv.port);
        runner.send(&["EVAL", "while true do end", "1", &key]);
        wait_busy(srv.port);
        for (i, o) in others.iter_mut().enumerate() {
            assert_eq!(
                o.call(&["PING"]),
                BUSY_EVAL,
                "connection {i}, shard {shard}"
            );
        }
        assert_eq!(others[0].call(&["SCRIPT", "KILL"]), "+OK");
        let r = runner.line();
        assert!(r.starts_with("-ERR Script killed by user"), "{r}");
        for o in &mut others {
            assert_eq!(o.call(&["PING"]), "+PONG");
        }
    }
}

// ---- scripts run by a coordinated transaction -----------------------------
//
// A script whose declared keys span shards runs by copy in a transaction
// its connection's thread coordinates; one that reaches another shard's
// key runs again over the whole keyspace; a MULTI/EXEC block with a
// script whose keys span shards locks every shard. In each, the script's
// thread answers its other connections with -BUSY and runs SCRIPT KILL
// and SHUTDOWN NOSAVE, as Redis does. At `--cores 2` the runner and the
// probes are all on one thread, found by `one_thread`; at `--cores 3`
// sixteen probes open before the script make it all but certain (1 in
// 650) that some share the script's thread. Without the busy desk there,
// a probe on the script's thread would get no answer at all.

/// Connections opened while looking for ones on a known thread. The
/// kernel spreads them over the two shards' listeners by a hash of their
/// ports, each one way or the other as by a coin: fewer than
/// `ON_ONE_THREAD` of 48 land on shard 0 about once in 10^10 (of 32, once
/// in 800,000, and five tests look).
const CANDIDATES: usize = 48;
/// Connections a test needs on the runner's thread: the runner and three.
const ON_ONE_THREAD: usize = 4;

/// Connections that all live on the thread of shard 0 of a two-shard
/// server (`k1` is a key of shard 1), or on a redis-server's one thread.
/// A script that never ends runs on shard 1 past its threshold; MULTI is
/// answered then by every other thread, while the busy thread leaves it
/// until the script ends. So a connection answered before the script is
/// killed is on shard 0's thread: no timing decides it.
fn one_thread(port: u16, k1: &str) -> Vec<Raw> {
    let mut stuck = Raw::new(port);
    stuck.send(&["EVAL", "while true do end", "1", k1]);
    wait_busy(port);
    // Busy from here until the kill below: a MULTI answered meanwhile was
    // answered by another thread than the script's.
    assert_eq!(Raw::new(port).call(&["PING"]), BUSY_EVAL);
    let mut all: Vec<Raw> = (0..CANDIDATES).map(|_| Raw::new(port)).collect();
    for c in &mut all {
        c.send(&["MULTI"]);
    }
    let mut answered = vec![false; all.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.iter().filter(|a| **a).count() < ON_ONE_THREAD && Instant::now() < deadline {
        for (i, c) in all.iter_mut().enumerate() {
            if !answered[i] && c.try_line(Duration::from_millis(20)).as_deref() == Some("+OK") {
                answered[i] = true;
            }
        }
    }
    let mut known = Vec::new();
    for (c, a) in all.into_iter().zip(answered) {
        if a {
            known.push(c);
        }
    }
    assert!(
        known.len() >= ON_ONE_THREAD,
        "too few of {CANDIDATES} connections on shard 0's thread"
    );
    for c in &mut known {
        assert_eq!(c.call(&["DISCARD"]), "+OK");
    }
    assert_eq!(known[0].call(&["SCRIPT", "KILL"]), "+OK");
    let r = stuck.line();
    assert!(r.starts_with("-ERR Script killed by user"), "{r}");
    known
}

impl Raw {
    /// The next reply line if one comes within `wait`.
    fn try_line(&mut self, wait: Duration) -> Option<String> {
        if let Some(at) = self.1.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&self.1[..at]).into_owned();
            self.1.drain(..at + 2);
            return Some(line);
        }
        self.0.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 4096];
        match self.0.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.1.extend_from_slice(&buf[..n]);
                self.try_line(Duration::from_millis(1))
            }
            _ => None,
        }
    }
}

/// Connections open before the script, spread over the threads.
const PROBES: usize = 16;

fn probes(port: u16) -> Vec<Raw> {
    let mut v: Vec<Raw> = (0..PROBES).map(|_| Raw::new(port)).collect();
    for p in &mut v {
        // Answered: accepted by some thread before the script starts.
        assert_eq!(p.call(&["PING"]), "+PONG");
    }
    v
}

/// One key owned by each of the server's `cores` shards (any names do for
/// a redis-server).
fn shard_keys(cores: usize) -> Vec<String> {
    common::keys_on_every_shard("busytx:", cores, 1)
}

/// The runner and the probes of a test: at two cores all on one thread.
fn runner_and_probes(port: u16, keys: &[String]) -> (Raw, Vec<Raw>) {
    if keys.len() == 2 {
        let mut known = one_thread(port, &keys[1]);
        let runner = known.pop().unwrap();
        (runner, known)
    } else {
        (Raw::new(port), probes(port))
    }
}

/// Every probe asks `argv`; the distinct answers.
fn all_answer(probes: &mut [Raw], argv: &[&str]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for p in probes.iter_mut() {
        let line = p.call(argv);
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    seen
}

/// `runner` sent a script that never ends; every probe gets BUSY for PING
/// and for a GET of each key, the first probe's SCRIPT KILL ends it, the
/// runner gets the killed script's error (after `before` lines of EXEC's
/// reply), and every key is free after.
fn busy_then_killed(
    port: u16,
    mut runner: Raw,
    probes: &mut [Raw],
    keys: &[String],
    before: usize,
) -> Vec<String> {
    let mut t = Vec::new();
    wait_busy(port);
    t.extend(all_answer(probes, &["PING"]));
    for k in keys {
        t.extend(all_answer(probes, &["GET", k]));
    }
    t.push(probes[0].call(&["SCRIPT", "KILL"]));
    for _ in 0..before {
        t.push(runner.line());
    }
    t.push(runner.line());
    // The transaction let go of every lock: each key is written and read.
    for k in keys {
        t.extend(all_answer(probes, &["SET", k, "after"]));
        t.extend(all_answer(probes, &["STRLEN", k]));
    }
    t.push(runner.call(&["PING"]));
    t
}

/// A script whose declared keys span shards (run by copy).
fn by_copy_killed(port: u16, keys: &[String]) -> Vec<String> {
    let (mut runner, mut probes) = runner_and_probes(port, keys);
    let mut argv = vec!["EVAL", "while true do end", "2"];
    argv.extend(keys.iter().take(2).map(String::as_str));
    runner.send(&argv);
    busy_then_killed(port, runner, &mut probes, keys, 0)
}

/// A script with one declared key that reaches another shard's key and
/// then never ends (run again over the whole keyspace).
fn escalated_killed(port: u16, keys: &[String]) -> Vec<String> {
    let (mut runner, mut probes) = runner_and_probes(port, keys);
    runner.send(&[
        "EVAL",
        "redis.call('get', ARGV[1]) while true do end",
        "1",
        &keys[0],
        &keys[1],
    ]);
    busy_then_killed(port, runner, &mut probes, keys, 0)
}

/// A MULTI/EXEC block with a write, then a script whose keys span shards.
fn exec_block_killed(port: u16, keys: &[String]) -> Vec<String> {
    let (mut runner, mut probes) = runner_and_probes(port, keys);
    let mut t = vec![
        runner.call(&["MULTI"]),
        runner.call(&["SET", &keys[0], "before"]),
        runner.call(&["EVAL", "while true do end", "2", &keys[0], &keys[1]]),
    ];
    runner.send(&["EXEC"]);
    t.extend(busy_then_killed(port, runner, &mut probes, keys, 2));
    t
}

fn check_killed(t: &[String], keys: usize) {
    // PING and each GET: BUSY for every probe.
    assert_eq!(
        t[..1 + keys],
        vec![BUSY_EVAL.to_string(); 1 + keys][..],
        "{t:#?}"
    );
    assert_eq!(t[1 + keys], "+OK", "{t:#?}");
    assert!(
        t[2 + keys].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{t:#?}"
    );
    let mut after = Vec::new();
    for _ in 0..keys {
        after.extend(["+OK", ":5"]);
    }
    after.push("+PONG");
    assert_eq!(t[3 + keys..], after, "{t:#?}");
}

/// Compares with a redis-server (one thread: the script's own) running
/// the same transcript, unless told to skip.
fn same_as_redis(name: &str, got: &[String], run: impl Fn(u16) -> Vec<String>) {
    if let Some(r) = redis(name) {
        assert_eq!(got, run(r.port));
    }
}

#[test]
fn a_script_run_by_copy_is_busy_on_its_own_thread_and_killed_from_there() {
    for cores in [2, 3] {
        let srv = kevy(&cores.to_string());
        let keys = shard_keys(cores);
        let got = by_copy_killed(srv.port, &keys);
        check_killed(&got, keys.len());
        same_as_redis("busy-copy", &got, |p| by_copy_killed(p, &keys));
    }
}

#[test]
fn an_escalated_script_is_busy_on_its_own_thread_and_killed_from_there() {
    let srv = kevy("2");
    let keys = shard_keys(2);
    let got = escalated_killed(srv.port, &keys);
    check_killed(&got, keys.len());
    same_as_redis("busy-escalated", &got, |p| escalated_killed(p, &keys));
}

#[test]
fn a_script_in_an_exec_block_over_shards_is_busy_and_killed_from_its_own_thread() {
    let srv = kevy("2");
    let keys = shard_keys(2);
    let got = exec_block_killed(srv.port, &keys);
    assert_eq!(got[..3], ["+OK", "+QUEUED", "+QUEUED"], "{got:#?}");
    // EXEC's array: the SET's +OK, then the killed script's error.
    let t = &got[3..];
    assert_eq!(t[..3], vec![BUSY_EVAL.to_string(); 3][..], "{got:#?}");
    assert_eq!(t[3], "+OK", "{got:#?}");
    assert_eq!(t[4..6], ["*2", "+OK"], "{got:#?}");
    assert!(
        t[6].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{got:#?}"
    );
    same_as_redis("busy-exec-block", &got, |p| exec_block_killed(p, &keys));
}

/// A script run by copy that wrote: SCRIPT KILL is refused, SHUTDOWN
/// without NOSAVE too, and SHUTDOWN NOSAVE stops the server, all sent from
/// the script's thread.
fn by_copy_unkillable(srv: &mut Server, keys: &[String]) -> (Vec<String>, bool) {
    let (mut runner, mut probes) = runner_and_probes(srv.port, keys);
    runner.send(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'v') while true do end",
        "2",
        &keys[0],
        &keys[1],
    ]);
    wait_busy(srv.port);
    let mut t = all_answer(&mut probes, &["SCRIPT", "KILL"]);
    t.extend(all_answer(&mut probes, &["SHUTDOWN"]));
    probes[0].send(&["SHUTDOWN", "NOSAVE"]);
    let exited = srv.wait_exit(WAIT).is_some();
    (t, exited)
}

#[test]
fn a_script_run_by_copy_that_wrote_is_unkillable_and_shutdown_nosave_stops_the_server() {
    let mut srv = kevy("2");
    let keys = shard_keys(2);
    let (got, exited) = by_copy_unkillable(&mut srv, &keys);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].starts_with("-UNKILLABLE "), "{got:#?}");
    assert_eq!(got[1], BUSY_EVAL, "{got:#?}");
    assert!(exited, "SHUTDOWN NOSAVE did not stop kevy: {got:#?}");
    if let Some(mut r) = redis("busy-copy-unkillable") {
        let (want, exited) = by_copy_unkillable(&mut r, &keys);
        assert!(exited, "redis-server did not stop");
        assert_eq!(got, want);
    }
}

/// A script that waited in the lock queue and runs when the lock is let
/// go: its thread answers BUSY too. At two shards, all connections on
/// shard 0's thread: `x` stalls shard 1 with a script (its threshold out
/// of reach for now) sent right behind a write the others can see, so it
/// is in shard 1's ring ahead of anything sent after that write shows;
/// `b`'s MSET then holds its shard-0 key while its shard-1 part waits
/// behind the script, and a write of `b` sent behind the MSET shows it
/// was dispatched; `c`'s script on that key then waits in the lock queue.
/// Once the stalling script is made busy and killed, the MSET completes,
/// the unlock runs `c`'s script, and it loops in turn.
#[test]
fn a_script_run_from_the_lock_queue_is_busy_on_its_thread() {
    let srv = kevy("2");
    let keys = common::keys_on_every_shard("busyq:", 2, 3);
    let (k0, w1, w2, k1) = (&keys[0], &keys[1], &keys[2], &keys[3]);
    let mut known = one_thread(srv.port, k1);
    let mut c = known.pop().unwrap();
    let mut b = known.pop().unwrap();
    let mut x = known.pop().unwrap();
    let probes = &mut known;
    assert_eq!(
        probes[0].call(&["CONFIG", "SET", "busy-reply-threshold", "3600000"]),
        "+OK"
    );
    let mut pipe = Vec::new();
    for argv in [
        &["SET", w1.as_str(), "1"][..],
        &["EVAL", "while true do end", "1", k1.as_str()][..],
    ] {
        pipe.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            pipe.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    x.0.write_all(&pipe).unwrap();
    assert_eq!(x.line(), "+OK");
    b.send(&["MSET", k0, "a", k1, "b"]);
    b.send(&["SET", w2, "1"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = c.call(&["EXISTS", w2]);
        if got == ":1" {
            break;
        }
        assert_eq!(got, ":0");
        assert!(Instant::now() < deadline, "the write behind MSET never ran");
    }
    c.send(&["EVAL", "while true do end", "1", k0]);
    // The stalling script becomes busy and is killed; its thread is the
    // other one, so these are answered by shard 0's thread as usual.
    assert_eq!(
        probes[0].call(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        "+OK"
    );
    wait_busy(srv.port);
    assert_eq!(probes[0].call(&["SCRIPT", "KILL"]), "+OK");
    let r = x.line();
    assert!(r.starts_with("-ERR Script killed by user"), "{r}");
    // Now `c`'s script runs on shard 0's thread, from the lock queue (the
    // MSET's unlock runs it, before the MSET's answer goes out).
    wait_busy(srv.port);
    assert_eq!(all_answer(probes, &["PING"]), [BUSY_EVAL]);
    assert_eq!(all_answer(probes, &["GET", k0]), [BUSY_EVAL]);
    assert_eq!(probes[0].call(&["SCRIPT", "KILL"]), "+OK");
    let r = c.line();
    assert!(r.starts_with("-ERR Script killed by user"), "{r}");
    assert_eq!(b.line(), "+OK", "MSET");
    assert_eq!(b.line(), "+OK", "the write behind MSET");
    assert_eq!(all_answer(probes, &["STRLEN", k0]), [":1"]);
    assert_eq!(all_answer(probes, &["STRLEN", k1]), [":1"]);
}
