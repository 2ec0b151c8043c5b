//! Connections moving between shards (kevy-rt's crate doc, "Moving
//! connections to the cores that have time"). `shard-balance churn` moves
//! half of every shard's movable connections to the next shard every
//! 10 ms whatever the load, so every command below runs on connections
//! that keep changing shards; their replies, order, state and statistics
//! must be what they are when nothing moves.

mod common;

use common::{connect, Server};
use redis::Commands;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn churning(cores: usize) -> Server {
    let cores = cores.to_string();
    Server::kevy(&["--cores", &cores, "--save", "", "--shard-balance", "churn"])
}

fn moved(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("kevy_moved_connections:"))
        .expect("kevy_moved_connections in INFO stats")
        .trim()
        .parse()
        .unwrap()
}

/// Workers pipeline counters, transactions and scripts over keys of every
/// shard, each in its own database with its own name, pausing between
/// pipelines so that their connections move; every reply is checked.
fn workers_on_moving_connections(cores: usize) {
    let srv = churning(cores);
    let port = srv.port;
    let keys = common::keys_on_every_shard("k", cores, 2);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let keys = keys.clone();
            thread::spawn(move || {
                let mut c = connect(port, T);
                let name = format!("w{w}");
                let db = w % 3;
                let _: () = redis::cmd("CLIENT")
                    .arg("SETNAME")
                    .arg(&name)
                    .query(&mut c)
                    .unwrap();
                let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
                let own = format!("own{w}");
                for round in 1..=60i64 {
                    let mut p = redis::pipe();
                    p.cmd("INCR").arg(&own);
                    for k in &keys {
                        p.cmd("INCR").arg(k);
                    }
                    p.cmd("SET").arg(format!("v{w}")).arg(round);
                    p.cmd("GET").arg(format!("v{w}"));
                    let out: Vec<redis::Value> = p.query(&mut c).unwrap();
                    // The script below increments it too.
                    assert_eq!(
                        out[0],
                        redis::Value::Int(2 * round - 1),
                        "{name} own counter"
                    );
                    let got: String = redis::from_redis_value(out.last().unwrap()).unwrap();
                    assert_eq!(got, round.to_string(), "{name} read its write");
                    // A transaction and a script over keys of every shard.
                    let tx: Vec<i64> = redis::pipe()
                        .atomic()
                        .cmd("INCRBY")
                        .arg(&keys[0])
                        .arg(10)
                        .cmd("INCRBY")
                        .arg(keys.last().unwrap())
                        .arg(10)
                        .query(&mut c)
                        .unwrap();
                    assert_eq!(tx.len(), 2);
                    let n: i64 = common::eval(
                        &mut c,
                        "redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])",
                        &[&own, &format!("s{w}")],
                        &[],
                    )
                    .unwrap();
                    assert_eq!(n, round, "{name} script");
                    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
                    assert!(info.contains(&format!(" name={name} ")), "{info}");
                    assert!(info.contains(&format!(" db={db} ")), "{info}");
                    // Idle a moment: a connection moves only between
                    // commands.
                    thread::sleep(Duration::from_millis(if round % 4 == 0 { 25 } else { 1 }));
                }
                let own_total: i64 = c.get(&own).unwrap();
                assert_eq!(own_total, 120, "{name}: INCR and the script's INCR");
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = connect(port, T);
    for (i, k) in keys.iter().enumerate() {
        // Every worker (8, in databases 0, 1 and 2) incremented each key 60
        // times, plus 10 per transaction for the first and last key.
        for db in 0..3 {
            let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
            let per_db = (0..8).filter(|w| w % 3 == db).count() as i64;
            let extra = if i == 0 || i == keys.len() - 1 {
                600
            } else {
                0
            };
            let v: i64 = c.get(k).unwrap();
            assert_eq!(v, per_db * (60 + extra), "{k} in db {db}");
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert!(moved(&mut c) > 0, "connections moved");
    // INFO commandstats counted each command once, wherever it ran.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    let incr_calls = (8 * 60 * (1 + keys.len())) + 8 * 60 * 2;
    assert!(
        stats.contains(&format!("cmdstat_incr:calls={incr_calls},")),
        "{stats}"
    );
}

#[test]
fn workers_keep_replies_and_state_while_their_connections_move_two_shards() {
    workers_on_moving_connections(2);
}

#[test]
fn workers_keep_replies_and_state_while_their_connections_move_three_shards() {
    workers_on_moving_connections(3);
}

/// A subscriber, a blocked client and a WATCH, with the connections around
/// them moving: the subscriber gets every message in order from a
/// publisher that moves, the blocked client is served, and EXEC sees a
/// write to its watched key.
#[test]
fn subscribers_blocked_clients_and_watches_are_not_disturbed() {
    let srv = churning(2);
    let port = srv.port;
    let mut sub = connect(port, T);
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe("ch").unwrap();
    let blocked = thread::spawn(move || {
        let mut c = connect(port, T);
        let v: Option<(String, String)> = c.blpop("queue", 20.0).unwrap();
        v
    });
    let mut watcher = connect(port, T);
    let _: () = redis::cmd("WATCH").arg("wk").query(&mut watcher).unwrap();
    let mut p = connect(port, T);
    let start = Instant::now();
    for i in 0..200 {
        let n: i64 = p.publish("ch", i.to_string()).unwrap();
        assert_eq!(n, 1, "one subscriber");
        if i % 20 == 0 {
            thread::sleep(Duration::from_millis(15));
        }
    }
    for i in 0..200 {
        let m = pubsub.get_message().unwrap();
        let got: String = m.get_payload().unwrap();
        assert_eq!(got, i.to_string(), "message order");
    }
    // The watcher idled through many samples; a write now fails its EXEC.
    while start.elapsed() < Duration::from_millis(100) {
        thread::sleep(Duration::from_millis(10));
    }
    let _: () = p.set("wk", 1).unwrap();
    let r: Option<Vec<i64>> = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("wk")
        .query(&mut watcher)
        .unwrap();
    assert_eq!(r, None, "EXEC after a write to the watched key");
    let _: i64 = p.rpush("queue", "item").unwrap();
    assert_eq!(
        blocked.join().unwrap(),
        Some(("queue".to_string(), "item".to_string()))
    );
    assert!(moved(&mut p) > 0, "connections moved");
}

/// Subscribers that keep moving between shards while publishers on every
/// shard publish: every PUBLISH counts each subscription exactly once,
/// every subscriber gets each publisher's messages exactly once and in
/// order (as `message` and, through its pattern, `pmessage`), PUBSUB
/// NUMSUB stays exact, and once they leave nothing is counted.
fn subscribers_on_moving_connections(cores: usize) {
    const SUBS: usize = 10;
    const PUBS: usize = 4;
    const MSGS: usize = 600;
    let srv = churning(cores);
    let port = srv.port;
    let mut ready = Vec::new();
    let mut subs = Vec::new();
    for s in 0..SUBS {
        let (tx, rx) = std::sync::mpsc::channel();
        ready.push(rx);
        subs.push(thread::spawn(move || {
            let mut c = connect(port, T);
            let mut ps = c.as_pubsub();
            for p in 0..PUBS {
                ps.subscribe(format!("ch{p}")).unwrap();
            }
            let pattern = s % 2 == 0;
            if pattern {
                ps.psubscribe("ch*").unwrap();
            }
            tx.send(()).unwrap();
            let want = PUBS * MSGS * if pattern { 2 } else { 1 };
            // next[(publisher, by pattern)]: the next message expected.
            let mut next = vec![[0usize; 2]; PUBS];
            for _ in 0..want {
                let m = ps.get_message().unwrap();
                let body: String = m.get_payload().unwrap();
                let (p, i) = body.split_once(':').unwrap();
                let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
                assert_eq!(m.get_channel_name(), format!("ch{p}"));
                let by_pattern = m.from_pattern() as usize;
                assert_eq!(i, next[p][by_pattern], "subscriber {s}: order of {p}");
                next[p][by_pattern] += 1;
            }
            // Unsubscribing after all those moves reaches its registry.
            ps.unsubscribe("ch0").unwrap();
            if pattern {
                ps.punsubscribe("ch*").unwrap();
            }
            next
        }));
    }
    for r in &ready {
        r.recv_timeout(T).unwrap();
    }
    let mut admin = connect(port, T);
    // The subscribers idle through samples (an idle shard samples at its
    // tick): they move too.
    let before = moved(&mut admin);
    let deadline = Instant::now() + T;
    while moved(&mut admin) < before + SUBS as u64 {
        assert!(Instant::now() < deadline, "subscribers did not move");
        thread::sleep(Duration::from_millis(20));
    }
    let pubs: Vec<_> = (0..PUBS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = connect(port, T);
                for i in 0..MSGS {
                    let n: usize = c.publish(format!("ch{p}"), format!("{p}:{i}")).unwrap();
                    assert_eq!(n, SUBS + SUBS / 2, "receivers of {p}:{i}");
                    if i % 50 == 0 {
                        thread::sleep(Duration::from_millis(12));
                    }
                }
            })
        })
        .collect();
    // While they move (and before any has its last message).
    let numsub: (String, usize) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("ch1")
        .query(&mut admin)
        .unwrap();
    assert_eq!(numsub.1, SUBS);
    for p in pubs {
        p.join().unwrap();
    }
    for s in subs {
        let next = s.join().unwrap();
        assert!(next.iter().all(|n| n[0] == MSGS));
    }
    // The subscribers are gone: nothing on any shard counts them.
    let deadline = Instant::now() + T;
    loop {
        let n: usize = admin.publish("ch1", "x").unwrap();
        let m: usize = admin.publish("ch0", "x").unwrap();
        if n == 0 && m == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still counted: {n} {m}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn subscribers_get_every_message_once_in_order_while_they_move_two_shards() {
    subscribers_on_moving_connections(2);
}

#[test]
fn subscribers_get_every_message_once_in_order_while_they_move_three_shards() {
    subscribers_on_moving_connections(3);
}

/// CLIENT LIST shows every connection once, with its own id and name,
/// however often they moved; CLIENT KILL finds one that moved.
#[test]
fn client_list_and_kill_follow_moving_connections() {
    let srv = churning(2);
    let port = srv.port;
    let mut conns: Vec<_> = (0..10)
        .map(|i| {
            let mut c = connect(port, T);
            let _: () = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(format!("c{i}"))
                .query(&mut c)
                .unwrap();
            c
        })
        .collect();
    let ids: Vec<i64> = conns
        .iter_mut()
        .map(|c| redis::cmd("CLIENT").arg("ID").query(c).unwrap())
        .collect();
    let mut admin = connect(port, T);
    let deadline = Instant::now() + T;
    // Moves happen between samples: wait until some did.
    while moved(&mut admin) < 10 {
        assert!(Instant::now() < deadline, "no connection moved");
        thread::sleep(Duration::from_millis(20));
    }
    // A connection in a ring hop is on no shard for that moment: CLIENT
    // LIST is asked until it shows all ten.
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        let seen: Vec<i64> = (0..10)
            .filter_map(|i| {
                let line = list.lines().find(|l| l.contains(&format!(" name=c{i} ")))?;
                let id = line.strip_prefix("id=")?.split(' ').next()?;
                Some(id.parse().unwrap())
            })
            .collect();
        if seen == ids {
            break;
        }
        assert!(Instant::now() < deadline, "CLIENT LIST: {list}");
        thread::sleep(Duration::from_millis(5));
    }
    loop {
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(ids[3])
            .arg("SKIPME")
            .arg("yes")
            .query(&mut admin)
            .unwrap();
        if killed == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "CLIENT KILL ID never found it");
        thread::sleep(Duration::from_millis(5));
    }
    let r: redis::RedisResult<String> = redis::cmd("PING").query(&mut conns[3]);
    assert!(r.is_err(), "the killed connection is closed");
    for (i, c) in conns.iter_mut().enumerate().filter(|(i, _)| *i != 3) {
        let pong: String = redis::cmd("PING").query(c).unwrap();
        assert_eq!(pong, "PONG", "connection {i}");
    }
}

/// `shard-balance no` moves nothing, and CONFIG SET switches the mode at
/// run time.
#[test]
fn balancing_can_be_turned_off_and_on_at_run_time() {
    let srv = churning(2);
    let mut c = connect(srv.port, T);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("shard-balance")
        .arg("no")
        .query(&mut c)
        .unwrap();
    let _others: Vec<_> = (0..6).map(|_| connect(srv.port, T)).collect();
    // Samples are 10 ms apart: a move already on its way lands first.
    thread::sleep(Duration::from_millis(50));
    let before = moved(&mut c);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(moved(&mut c), before, "nothing moves with shard-balance no");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("shard-balance")
        .arg("churn")
        .query(&mut c)
        .unwrap();
    let deadline = Instant::now() + T;
    while moved(&mut c) == before {
        assert!(Instant::now() < deadline, "churn moved nothing");
        thread::sleep(Duration::from_millis(10));
    }
    let mode: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("shard-balance")
        .query(&mut c)
        .unwrap();
    assert_eq!(mode, ["shard-balance", "churn"]);
}

/// A shard that runs a script takes no connections while it runs: its
/// loop does not turn, so a connection handed to it would wait unanswered
/// for the script's end. With churn moving connections every 10 ms and a
/// script looping on shard 1 past its threshold, every connection gets
/// its BUSY answer, whichever shard it started on, until SCRIPT KILL.
#[test]
fn no_connection_moves_to_a_shard_running_a_script() {
    let srv = Server::kevy(&[
        "--cores",
        "2",
        "--save",
        "",
        "--shard-balance",
        "churn",
        "--busy-reply-threshold",
        "100",
    ]);
    let k1 = common::keys_on_every_shard("bs", 2, 1).swap_remove(1);
    let mut conns: Vec<_> = (0..12).map(|_| connect(srv.port, T)).collect();
    let mut stuck = connect(srv.port, T);
    let spin = thread::spawn(move || {
        redis::cmd("EVAL")
            .arg("while true do end")
            .arg(1)
            .arg(k1)
            .query::<()>(&mut stuck)
            .unwrap_err()
            .to_string()
    });
    let busy = |c: &mut redis::Connection| {
        redis::cmd("PING")
            .query::<String>(c)
            .err()
            .is_some_and(|e| e.code() == Some("BUSY"))
    };
    let deadline = Instant::now() + T;
    while !busy(&mut conns[0]) {
        assert!(Instant::now() < deadline, "the script never became busy");
        thread::sleep(Duration::from_millis(20));
    }
    // Long enough for shard 0 to try to move each connection many times;
    // a reply that waits past the read timeout fails the query. One moved
    // to the script's shard would wait for the script's end, which never
    // comes before the kill: the timeout only has to outlast a loaded
    // machine's slowest reply.
    for c in &conns {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let mut short = conns;
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        for (i, c) in short.iter_mut().enumerate() {
            assert!(busy(c), "connection {i} was not answered BUSY");
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut killer = connect(srv.port, T);
    let _: () = redis::cmd("SCRIPT").arg("KILL").query(&mut killer).unwrap();
    let err = spin.join().unwrap();
    assert!(err.contains("Script killed by user"), "{err}");
    for (i, c) in short.iter_mut().enumerate() {
        let pong: String = redis::cmd("PING").query(c).unwrap();
        assert_eq!(pong, "PONG", "connection {i}");
    }
    let deadline = Instant::now() + T;
    while moved(&mut killer) == 0 {
        assert!(Instant::now() < deadline, "churn moved nothing");
        thread::sleep(Duration::from_millis(10));
    }
}

/// `idle-poll-us` (how long a shard serving lone requests polls before it
/// sleeps) is read at start-up, changed by CONFIG SET on every shard, and
/// refused out of its range as Redis refuses an integer; clients sending
/// one command at a time get every answer with the poll off, short or
/// long.
#[test]
fn idle_poll_is_set_at_start_and_at_run_time() {
    let srv = Server::kevy(&["--cores", "2", "--save", "", "--idle-poll-us", "0"]);
    let mut c = connect(srv.port, T);
    let get = |c: &mut redis::Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("idle-poll-us")
            .query(c)
            .unwrap()
    };
    assert_eq!(get(&mut c), ["idle-poll-us", "0"]);
    for (round, poll) in ["0", "1000", "7"].iter().enumerate() {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("idle-poll-us")
            .arg(poll)
            .query(&mut c)
            .unwrap();
        assert_eq!(get(&mut c), ["idle-poll-us", *poll]);
        let mut others: Vec<_> = (0..4).map(|_| connect(srv.port, T)).collect();
        for i in 0..200 {
            let o = &mut others[i % 4];
            let k = format!("k{round}:{i}");
            let _: () = o.set(&k, i).unwrap();
            let v: usize = o.get(&k).unwrap();
            assert_eq!(v, i);
        }
    }
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("idle-poll-us")
        .arg("1001")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("argument must be between 0 and 1000 inclusive"),
        "{err}"
    );
    assert_eq!(get(&mut c), ["idle-poll-us", "7"]);
}
