//! Connections still owed replies when their client pipelines more behind
//! a blocking command, or hangs up in the middle of a command, on servers
//! with two and three shards: every reply comes, commands pipelined behind
//! a blocking one run after it as in Redis, the connection is closed once
//! nothing is owed to it, and an incomplete command costs no CPU while it
//! waits for the rest of its bytes.

mod common;

use common::resp::{command, Conn};
use common::{kevy_cores, keys_on_every_shard};
use std::time::{Duration, Instant};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The next reply's exact bytes.
fn next(c: &mut Conn) -> Vec<u8> {
    c.read().expect("reply").1
}

/// CLIENT LIST's lines (the caller's own among them).
fn client_list(admin: &mut Conn) -> Vec<String> {
    admin.send(&command(&["CLIENT", "LIST"])).expect("send");
    let v = admin.read().expect("reply").0;
    String::from_utf8_lossy(v.bytes().expect("bulk"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// CPU time the process `pid` has used, in clock ticks (utime + stime of
/// `/proc/PID/stat`; USER_HZ, 100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name, in parentheses, may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of the whole line; the state (field 3) is rest's first.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// Asserts that the server stays (nearly) idle for two seconds: a loop
/// that never sleeps uses a whole core (200 ticks), or still a good share
/// of one on a loaded machine; an idle one a few ticks at most.
fn stays_idle(pid: u32, what: &str) {
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 40, "{what}: {used} ticks of CPU in 2 s while idle");
}

#[test]
fn commands_pipelined_behind_blocking_pops_on_any_shard_run_after_them() {
    for n in [2, 3] {
        let srv = kevy_cores(n);
        // A key on every shard: whichever shard a connection lives on,
        // some of them belong to another.
        for key in keys_on_every_shard("behind", n, 1) {
            let mut c = conn(srv.port);
            let mut pipeline = Vec::new();
            for args in [
                &["BLPOP", &key, "0.01"][..],
                &["BLPOP", &key, "0.01"],
                &["BZPOPMIN", &key, "0.01"],
                &["BLMPOP", "0.01", "1", &key, "LEFT"],
                &["PING"],
            ] {
                pipeline.extend(command(args));
            }
            c.send(&pipeline).expect("send");
            for what in ["BLPOP", "second BLPOP", "BZPOPMIN", "BLMPOP"] {
                assert_eq!(next(&mut c), b"*-1\r\n", "{what} on {key}, {n} shards");
            }
            assert_eq!(next(&mut c), b"+PONG\r\n", "{key}, {n} shards");
            // As in Redis, the push behind the pop runs once the pop has
            // timed out: it does not feed the pop.
            let mut pipeline = command(&["BLPOP", &key, "0.2"]);
            pipeline.extend(command(&["RPUSH", &key, "x"]));
            pipeline.extend(command(&["LPOP", &key]));
            c.send(&pipeline).expect("send");
            assert_eq!(next(&mut c), b"*-1\r\n", "BLPOP on {key}, {n} shards");
            assert_eq!(next(&mut c), b":1\r\n", "RPUSH on {key}, {n} shards");
            assert_eq!(next(&mut c), b"$1\r\nx\r\n", "LPOP on {key}, {n} shards");
        }
    }
}

#[test]
fn a_client_that_hangs_up_mid_command_behind_blocking_pops_is_closed() {
    for n in [2, 3] {
        let srv = kevy_cores(n);
        let mut admin = conn(srv.port);
        let mut clients = Vec::new();
        for key in keys_on_every_shard("hangup", n, 1) {
            // What a client that gives up in the middle of a pipeline
            // leaves: blocking pops, then part of a command.
            let mut c = conn(srv.port);
            let mut pipeline = command(&["BLPOP", &key, "0.01"]);
            pipeline.extend(command(&["BLPOP", &key, "0.01"]));
            pipeline.extend(command(&["PING"]));
            pipeline.extend(b"*2\r\n$3\r\nGET\r\n$1");
            c.send(&pipeline).expect("send");
            clients.push(c);
        }
        // The pops have timed out (or are about to) when the clients hang
        // up without reading a reply.
        std::thread::sleep(Duration::from_millis(300));
        drop(clients);
        eventually("every connection that hung up is closed", || {
            client_list(&mut admin).len() == 1
        });
        stays_idle(srv.pid(), &format!("{n} shards, after the hang-ups"));
    }
}

#[test]
fn an_incomplete_command_waits_for_its_bytes_without_spinning() {
    for n in [2, 3] {
        let srv = kevy_cores(n);
        let mut c = conn(srv.port);
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1").expect("send");
        // Then the connection is idle with its command half received.
        let mut admin = conn(srv.port);
        eventually("the half command is in the query buffer", || {
            client_list(&mut admin)
                .iter()
                .any(|l| l.contains(" qbuf=") && !l.contains(" qbuf=0 "))
        });
        drop(admin);
        stays_idle(srv.pid(), &format!("{n} shards, a half command waiting"));
        c.send(b"\r\nv\r\n").expect("send");
        assert_eq!(next(&mut c), b"+OK\r\n", "{n} shards");
        assert_eq!(
            c.call(&["GET", "k"]).expect("reply").bytes(),
            Some(&b"v"[..])
        );
    }
}
