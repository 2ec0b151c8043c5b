//! What an operator watches, end to end over real sockets on a server with
//! several shards: CLIENT LIST/INFO/KILL see and close connections on every
//! shard, MONITOR sees every connection's commands in order, INFO's
//! commandstats/errorstats/latencystats/stats and SLOWLOG count what ran,
//! and CONFIG RESETSTAT starts them over.

mod common;

use common::resp::{Conn, Value};
use common::Server;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Connections stay where they land: one in the middle of a move is not
/// in CLIENT LIST for that ring hop (a listed difference), and these tests
/// count exactly.
fn kevy(cores: &str) -> Server {
    Server::kevy(&["--cores", cores, "--shard-balance", "no"])
}

/// A connection that is the server's only one: the readiness probe's
/// connection is listed until its shard sees it close, which a shard
/// starved of its core may see late.
fn alone(port: u16) -> Conn {
    let mut c = conn(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = client_lines(&call(&mut c, &["CLIENT", "LIST"]));
        if list.len() == 1 {
            return c;
        }
        assert!(Instant::now() < deadline, "{list:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn text(v: &Value) -> String {
    String::from_utf8_lossy(v.bytes().expect("bulk or simple reply")).into_owned()
}

/// `field=value` pairs of each CLIENT LIST line.
fn client_lines(v: &Value) -> Vec<HashMap<String, String>> {
    text(v)
        .lines()
        .map(|l| {
            l.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Opens `n` named connections (`c0`, `c1`, …); enough of them that
/// SO_REUSEPORT puts some on every shard.
fn named(port: u16, n: usize) -> Vec<Conn> {
    (0..n)
        .map(|i| {
            let mut c = conn(port);
            assert_eq!(
                text(&call(&mut c, &["CLIENT", "SETNAME", &format!("c{i}")])),
                "OK"
            );
            c
        })
        .collect()
}

#[test]
fn client_list_shows_every_connection_on_every_shard() {
    let server = kevy("3");
    let mut me = alone(server.port);
    let mut others = named(server.port, 12);
    call(&mut others[3], &["SELECT", "5"]);
    call(&mut others[4], &["MULTI"]);
    call(&mut others[4], &["SET", "k", "v"]);
    let list = client_lines(&call(&mut me, &["CLIENT", "LIST"]));
    assert_eq!(list.len(), 13, "{list:?}");
    for i in 0..12 {
        assert!(
            list.iter().any(|l| l["name"] == format!("c{i}")),
            "c{i} missing"
        );
    }
    let ids: Vec<u64> = list.iter().map(|l| l["id"].parse().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id: {ids:?}"
    );
    let by_name = |n: &str| list.iter().find(|l| l["name"] == n).unwrap();
    assert_eq!(by_name("c3")["db"], "5");
    assert_eq!(by_name("c4")["multi"], "1");
    assert_eq!(by_name("c4")["flags"], "x");
    assert_eq!(by_name("c4")["cmd"], "set");
    assert_eq!(by_name("c0")["cmd"], "client");
    let mine = list.iter().find(|l| l["name"].is_empty()).unwrap();
    assert_eq!(mine["cmd"], "client|list");
    // ID and TYPE filters, and CLIENT INFO, agree with the list.
    let id3 = by_name("c3")["id"].clone();
    let one = client_lines(&call(&mut me, &["CLIENT", "LIST", "ID", &id3, "999999"]));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["name"], "c3");
    assert_eq!(
        client_lines(&call(&mut me, &["CLIENT", "LIST", "TYPE", "normal"])).len(),
        13
    );
    assert!(client_lines(&call(&mut me, &["CLIENT", "LIST", "TYPE", "pubsub"])).is_empty());
    let info = client_lines(&call(&mut others[5], &["CLIENT", "INFO"]));
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["name"], "c5");
    assert_eq!(info[0]["cmd"], "client|info");
}

#[test]
fn client_kill_closes_connections_on_any_shard() {
    let server = kevy("3");
    let mut me = alone(server.port);
    let mut others = named(server.port, 9);
    let list = client_lines(&call(&mut me, &["CLIENT", "LIST"]));
    let field = |name: &str, f: &str| -> String {
        list.iter().find(|l| l["name"] == name).unwrap()[f].clone()
    };
    // By id, by address (new and old forms), by local address.
    let reply = call(&mut me, &["CLIENT", "KILL", "ID", &field("c0", "id")]);
    assert_eq!(reply.int(), Some(1));
    let reply = call(&mut me, &["CLIENT", "KILL", "ADDR", &field("c1", "addr")]);
    assert_eq!(reply.int(), Some(1));
    let reply = call(&mut me, &["CLIENT", "KILL", &field("c2", "addr")]);
    assert_eq!(text(&reply), "OK");
    let reply = call(&mut me, &["CLIENT", "KILL", "127.0.0.1:1"]);
    assert!(reply.is_error());
    for (i, c) in others.iter_mut().enumerate().take(3) {
        // The killed connection reads end-of-file, whichever shard it is on.
        assert!(c.call(&["PING"]).is_err(), "c{i} still served");
    }
    let after = client_lines(&call(&mut me, &["CLIENT", "LIST"]));
    assert_eq!(after.len(), 7, "the reply comes after the kills");
    // MAXAGE keeps connections younger than the age.
    let reply = call(&mut me, &["CLIENT", "KILL", "MAXAGE", "100000"]);
    assert_eq!(reply.int(), Some(0));
    // LADDR with SKIPME yes (the default) kills everyone else.
    let laddr = field("c3", "laddr");
    let reply = call(
        &mut me,
        &["CLIENT", "KILL", "LADDR", &laddr, "TYPE", "normal"],
    );
    assert_eq!(reply.int(), Some(6));
    assert_eq!(client_lines(&call(&mut me, &["CLIENT", "LIST"])).len(), 1);
    for (i, c) in others.iter_mut().enumerate().skip(3) {
        assert!(c.call(&["PING"]).is_err(), "c{i} still served");
    }
    // USER default, SKIPME no: the caller too, after its reply.
    let reply = call(
        &mut me,
        &["CLIENT", "KILL", "USER", "default", "SKIPME", "no"],
    );
    assert_eq!(reply.int(), Some(1));
    assert!(me.call(&["PING"]).is_err());
    let mut fresh = conn(server.port);
    assert_eq!(text(&call(&mut fresh, &["PING"])), "PONG");
}

#[test]
fn monitor_sees_every_shards_commands_in_each_connections_order() {
    let server = kevy("3");
    let mut mon = conn(server.port);
    assert_eq!(text(&call(&mut mon, &["MONITOR"])), "OK");
    let mut clients: Vec<Conn> = (0..6).map(|_| conn(server.port)).collect();
    let mut addrs = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        let me = client_lines(&call(c, &["CLIENT", "INFO"]));
        addrs.push(me[0]["addr"].clone());
        // Pipelined, keys on every shard: each connection's lines must
        // still come in the order it sent them.
        let mut batch = Vec::new();
        for j in 0..20 {
            let key = format!("key:{i}:{j}");
            batch.extend(common::resp::command(&["SET", key.as_str(), "v"]));
        }
        c.send(&batch).unwrap();
        for _ in 0..20 {
            c.read().unwrap();
        }
        call(c, &["MULTI"]);
        call(c, &["INCR", &format!("n{i}")]);
        call(c, &["GET", "x"]);
        call(c, &["EXEC"]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    // CLIENT INFO, the 20 SETs, MULTI, INCR, GET and EXEC.
    let expected_per_client = 1 + 20 + 4;
    while seen.values().map(Vec::len).sum::<usize>() < 6 * expected_per_client {
        assert!(Instant::now() < deadline, "monitor saw {seen:?}");
        let (v, _) = mon.read().expect("monitor line");
        let line = text(&v);
        // 1339518083.107412 [0 127.0.0.1:60866] "set" "k" "v"
        let (_, rest) = line.split_once(" [").expect("timestamp");
        let (who, cmd) = rest.split_once("] ").expect("client");
        let addr = who.split_once(' ').unwrap().1.to_string();
        seen.entry(addr).or_default().push(cmd.to_string());
    }
    for (i, addr) in addrs.iter().enumerate() {
        let mut want = vec!["\"CLIENT\" \"INFO\"".to_string()];
        want.extend((0..20).map(|j| format!("\"SET\" \"key:{i}:{j}\" \"v\"")));
        want.push("\"MULTI\"".into());
        want.push(format!("\"INCR\" \"n{i}\""));
        want.push("\"GET\" \"x\"".into());
        want.push("\"EXEC\"".into());
        let got: Vec<String> = seen[addr].iter().map(|s| s.to_uppercase()).collect();
        let want: Vec<String> = want.iter().map(|s| s.to_uppercase()).collect();
        // Redis shows "exec" in lowercase: compare case-insensitively.
        assert_eq!(got, want, "client {i}");
    }
}

fn info(c: &mut Conn, section: &str) -> HashMap<String, String> {
    text(&call(c, &["INFO", section]))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// `calls=3,usec=…` as a map.
fn fields(v: &str) -> HashMap<String, String> {
    v.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn info_counts_commands_errors_and_latency_on_every_shard() {
    let server = kevy("3");
    let mut c = conn(server.port);
    assert_eq!(text(&call(&mut c, &["CONFIG", "RESETSTAT"])), "OK");
    for i in 0..30 {
        call(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    call(&mut c, &["LPUSH", "k1", "x"]); // WRONGTYPE
    call(&mut c, &["GET"]); // rejected: arity
    call(&mut c, &["NOSUCH"]); // unknown: errorstats only
    call(&mut c, &["MGET", "k1", "k2", "k3", "k4"]); // one call, split over shards
    call(&mut c, &["CONFIG", "GET", "maxmemory"]);
    // Pub/sub runs in the runtime, and its time counts too.
    for _ in 0..20 {
        call(&mut c, &["PUBLISH", "nobody", "m"]);
    }
    let stats = info(&mut c, "commandstats");
    assert_eq!(fields(&stats["cmdstat_publish"])["calls"], "20");
    let set = fields(&stats["cmdstat_set"]);
    assert_eq!(set["calls"], "30");
    assert_eq!(set["failed_calls"], "0");
    let lpush = fields(&stats["cmdstat_lpush"]);
    assert_eq!(
        (lpush["calls"].as_str(), lpush["failed_calls"].as_str()),
        ("1", "1")
    );
    let get = fields(&stats["cmdstat_get"]);
    assert_eq!(
        (get["calls"].as_str(), get["rejected_calls"].as_str()),
        ("0", "1")
    );
    assert_eq!(fields(&stats["cmdstat_mget"])["calls"], "1");
    assert_eq!(fields(&stats["cmdstat_config|get"])["calls"], "1");
    assert!(!stats.contains_key("cmdstat_config"));
    let errors = info(&mut c, "errorstats");
    assert_eq!(errors["errorstat_WRONGTYPE"], "count=1");
    assert_eq!(errors["errorstat_ERR"], "count=2");
    let st = info(&mut c, "stats");
    assert_eq!(st["total_error_replies"], "3");
    let lat = info(&mut c, "latencystats");
    let p = fields(&lat["latency_percentiles_usec_set"]);
    let (p50, p99): (f64, f64) = (p["p50"].parse().unwrap(), p["p99"].parse().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{p:?}");
    assert!(p.contains_key("p99.9"));
    let p = fields(&lat["latency_percentiles_usec_publish"]);
    assert!(p["p50"].parse::<f64>().unwrap() > 0.0, "{p:?}");
    let mem = info(&mut c, "memory");
    assert!(mem["mem_allocator"].starts_with("jemalloc-"), "{mem:?}");
    let used: u64 = mem["used_memory"].parse().unwrap();
    assert!(used > 100_000, "allocator-true used_memory: {used}");
    // instantaneous_ops_per_sec is sampled every 100 ms over 1.6 s.
    let start = Instant::now();
    let mut ops = 0;
    while start.elapsed() < Duration::from_secs(10) && ops == 0 {
        for _ in 0..200 {
            call(&mut c, &["PING"]);
        }
        ops = info(&mut c, "stats")["instantaneous_ops_per_sec"]
            .parse()
            .unwrap();
    }
    assert!(ops > 0);
    assert_eq!(text(&call(&mut c, &["CONFIG", "RESETSTAT"])), "OK");
    let stats = info(&mut c, "commandstats");
    assert!(!stats.contains_key("cmdstat_set"), "{stats:?}");
    assert!(!info(&mut c, "errorstats").contains_key("errorstat_ERR"));
}

#[test]
fn slowlog_records_commands_from_every_shard() {
    let server = kevy("3");
    let mut c = conn(server.port);
    call(&mut c, &["CLIENT", "SETNAME", "watcher"]);
    assert_eq!(
        text(&call(
            &mut c,
            &["CONFIG", "SET", "slowlog-log-slower-than", "0"]
        )),
        "OK"
    );
    call(&mut c, &["SLOWLOG", "RESET"]);
    for i in 0..10 {
        call(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let len = call(&mut c, &["SLOWLOG", "LEN"]).int().unwrap();
    // The 10 SETs (on all three shards) and SLOWLOG RESET itself.
    assert!(len >= 11, "{len}");
    let got = call(&mut c, &["SLOWLOG", "GET", "-1"]);
    let entries = got.items().unwrap();
    let sets: Vec<&Value> = entries
        .iter()
        .filter(|e| e.items().unwrap()[3].items().unwrap()[0].bytes() == Some(b"SET"))
        .collect();
    assert_eq!(sets.len(), 10);
    // Newest first, with the client's address and name.
    let ids: Vec<i64> = entries
        .iter()
        .map(|e| e.items().unwrap()[0].int().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let first = sets[0].items().unwrap();
    assert_eq!(first[3].items().unwrap()[1].bytes(), Some(&b"k9"[..]));
    assert_eq!(first[5].bytes(), Some(&b"watcher"[..]));
    assert!(text(&first[4]).starts_with("127.0.0.1:"));
    assert_eq!(
        call(&mut c, &["SLOWLOG", "GET", "2"])
            .items()
            .unwrap()
            .len(),
        2
    );
    assert!(call(&mut c, &["SLOWLOG", "GET", "-2"]).is_error());
    call(&mut c, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]).int(), Some(3));
    call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    call(&mut c, &["SLOWLOG", "RESET"]);
    call(&mut c, &["SET", "a", "b"]);
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]).int(), Some(0));
}

/// As in Redis 7.0, a blocking command counts as one call when it is made,
/// whether it is served at once, times out, or waits and is served later by
/// a push (which adds its time but no call), on any shard layout.
#[test]
fn a_blocked_command_counts_as_one_call() {
    for cores in ["1", "2", "3"] {
        let server = kevy(cores);
        let mut c = conn(server.port);
        assert_eq!(
            call(&mut c, &["BLPOP", "nothing", "0.01"]),
            Value::Agg(b'*', None)
        );
        let calls = |c: &mut Conn| {
            info(c, "commandstats")
                .get("cmdstat_blpop")
                .map(|v| fields(v)["calls"].clone())
        };
        assert_eq!(calls(&mut c).as_deref(), Some("1"), "cores {cores}");
        let port = server.port;
        let waiter = std::thread::spawn(move || {
            let mut w = conn(port);
            call(&mut w, &["BLPOP", "q", "0"])
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while info(&mut c, "clients")["blocked_clients"] != "1" {
            assert!(Instant::now() < deadline, "the waiter never blocked");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(calls(&mut c).as_deref(), Some("2"), "cores {cores}");
        call(&mut c, &["RPUSH", "q", "x"]);
        assert!(matches!(waiter.join().unwrap(), Value::Agg(b'*', Some(_))));
        assert_eq!(calls(&mut c).as_deref(), Some("2"), "cores {cores}");
    }
}

/// LATENCY sees a spike whichever shard ran it: a script that runs for
/// tens of milliseconds is a `command` spike at a 1 ms threshold, a fast
/// command is not; LATENCY HISTOGRAM counts calls on every shard.
#[test]
fn latency_monitor_records_spikes_and_histograms_on_every_shard() {
    let server = kevy("3");
    let mut c = conn(server.port);
    assert_eq!(
        call(&mut c, &["LATENCY", "LATEST"]).items().unwrap().len(),
        0
    );
    call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let busy = "local i = 0 while i < 20000000 do i = i + 1 end return i";
    for key in ["k1", "k2", "k3"] {
        call(&mut c, &["EVAL", busy, "1", key]);
    }
    // The scripts' spikes are `command` events. On a loaded machine a
    // millisecond's preemption may add others (an active expiry cycle, a
    // fast command, this connection's own CONFIG SET), so the test looks
    // for the scripts' among them.
    let latest = call(&mut c, &["LATENCY", "LATEST"]);
    let events = latest.items().unwrap();
    let names: Vec<&[u8]> = events
        .iter()
        .map(|e| e.items().unwrap()[0].bytes().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| [&b"command"[..], b"fast-command", b"expire-cycle"].contains(n)),
        "{latest:?}"
    );
    let ev = events
        .iter()
        .map(|e| e.items().unwrap())
        .find(|e| e[0].bytes() == Some(&b"command"[..]))
        .unwrap_or_else(|| panic!("no command event: {latest:?}"));
    let (last, max) = (ev[2].int().unwrap(), ev[3].int().unwrap());
    assert!(last >= 1 && max >= last, "{latest:?}");
    // At most one sample a second: oldest first, each in a later second.
    let history = call(&mut c, &["LATENCY", "HISTORY", "command"]);
    let times: Vec<i64> = history
        .items()
        .unwrap()
        .iter()
        .map(|s| s.items().unwrap()[0].int().unwrap())
        .collect();
    assert!(
        !times.is_empty() && times.windows(2).all(|w| w[0] < w[1]),
        "{history:?}"
    );
    let graph = text(&call(&mut c, &["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with("command - high "), "{graph}");
    let doctor = text(&call(&mut c, &["LATENCY", "DOCTOR"]));
    assert!(
        doctor.lines().any(|l| l
            .split_once(". command: ")
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok())),
        "{doctor}"
    );

    for i in 0..30 {
        call(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let h = call(&mut c, &["LATENCY", "HISTOGRAM", "set", "nosuch"]);
    let m = h.items().unwrap();
    assert_eq!(m.len(), 2, "{h:?}");
    assert_eq!(m[0].bytes(), Some(&b"set"[..]));
    let body = m[1].items().unwrap();
    assert_eq!(body[0].bytes(), Some(&b"calls"[..]));
    assert_eq!(body[1].int(), Some(30));
    let buckets = body[3].items().unwrap();
    let counts: Vec<i64> = buckets
        .iter()
        .skip(1)
        .step_by(2)
        .map(|v| v.int().unwrap())
        .collect();
    assert_eq!(counts.last(), Some(&30), "{h:?}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{h:?}");

    // RESET drops every event there is: the scripts' and any other (one
    // more may come between the two calls).
    let there = call(&mut c, &["LATENCY", "LATEST"]).items().unwrap().len() as i64;
    let reset = call(&mut c, &["LATENCY", "RESET"]).int().unwrap();
    assert!(there >= 1 && reset >= there, "{reset} of {there}");
    assert!(call(&mut c, &["LATENCY", "GRAPH", "command"]).is_error());
}

/// INFO has Redis 7.0's fields, in Redis's order, in every section but
/// `server` (where kevy adds `kevy_version` and `kevy_shards` at the end)
/// and the per-item sections that depend on what ran.
#[test]
fn info_fields_are_redis_fields_in_redis_order() {
    if common::skip_redis_tools() {
        return;
    }
    let redis = Server::redis("redis").expect("redis-server");
    let server = kevy("2");
    let names = |port: u16, section: &str| -> Vec<String> {
        let mut c = conn(port);
        let v = call(&mut c, &["INFO", section]);
        String::from_utf8_lossy(v.bytes().unwrap())
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .filter(|k| !k.starts_with("kevy_"))
            .collect()
    };
    for section in [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "cluster",
    ] {
        assert_eq!(
            names(server.port, section),
            names(redis.port, section),
            "INFO {section}"
        );
    }
}

/// Many clients pipelining the same MGET over keys of two shards, at the
/// same moment: kevy answers most of them from one read (crate doc of
/// kevy-rt, "Shared reads"), and still counts each call and each key's hit
/// or miss, as redis-server does for the same workload.
#[test]
fn the_same_read_from_many_clients_counts_every_call_hit_and_miss() {
    let a = "shared-a".to_string();
    let b = (0..)
        .map(|i| format!("shared-b{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), 2) != kevy_rt::shard_of(a.as_bytes(), 2))
        .expect("a key of the other shard");
    let (clients, pipeline) = (16, 64);
    let run = |port: u16| {
        let mut c = conn(port);
        call(&mut c, &["MSET", &a, "1", &b, "2"]);
        assert_eq!(text(&call(&mut c, &["CONFIG", "RESETSTAT"])), "OK");
        let mget = common::resp::command(&["MGET", &a, &b, "shared-none"]);
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let batch = mget.repeat(pipeline);
                std::thread::spawn(move || {
                    let mut c = conn(port);
                    c.send(&batch).expect("send");
                    for _ in 0..pipeline {
                        let v = c.read().expect("reply").0;
                        let items = v.items().expect("array");
                        assert_eq!(items.len(), 3);
                        assert_eq!(items[0].bytes(), Some(&b"1"[..]));
                        assert_eq!(items[1].bytes(), Some(&b"2"[..]));
                        assert!(items[2].bytes().is_none(), "{v:?}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("client");
        }
        let calls = fields(&info(&mut c, "commandstats")["cmdstat_mget"])["calls"].clone();
        let st = info(&mut c, "stats");
        (
            calls,
            st["keyspace_hits"].clone(),
            st["keyspace_misses"].clone(),
        )
    };
    let n = clients * pipeline;
    let want = (n.to_string(), (2 * n).to_string(), n.to_string());
    let server = kevy("2");
    assert_eq!(run(server.port), want, "kevy");
    if !common::skip_redis_tools() {
        let redis = Server::redis("redis").expect("redis-server");
        assert_eq!(run(redis.port), want, "redis-server");
    }
}
