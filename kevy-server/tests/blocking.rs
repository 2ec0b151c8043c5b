//! Blocking pops end to end over real sockets, on servers with one, two
//! and three shards: a client blocked on a key of another shard is served
//! by a push from a third connection, waiters are served first come first
//! served, timeouts, MULTI, errors and reply shapes byte for byte as a
//! real redis-server answers, INFO's blocked_clients, and clients that
//! hang up while blocked lose nothing; pops whose keys are on several
//! shards block too, and leave nothing parked behind.

mod common;

use common::resp::{command, Conn, Value};
use common::Server;
use std::time::{Duration, Instant};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn raw(c: &mut Conn, args: &[&str]) -> Vec<u8> {
    c.send(&command(args)).expect("send");
    c.read().expect("reply").1
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn blocked_clients(c: &mut Conn) -> i64 {
    let v = call(c, &["INFO", "clients"]);
    let text = String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients")
}

fn connected_clients(c: &mut Conn) -> i64 {
    let v = call(c, &["INFO", "clients"]);
    let text = String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients")
}

/// `args` with each `$k` replaced by `key`.
fn with_key(args: &[&str], key: &str) -> Vec<String> {
    args.iter()
        .map(|a| if *a == "$k" { key } else { a }.to_string())
        .collect()
}

fn text(v: &Value) -> Vec<String> {
    v.items()
        .expect("array")
        .iter()
        .map(|i| String::from_utf8_lossy(i.bytes().expect("bulk")).into_owned())
        .collect()
}

#[test]
fn a_push_serves_waiters_on_any_shard_first_come_first_served() {
    for cores in ["1", "2", "3"] {
        let s = Server::kevy(&["--cores", cores]);
        let mut admin = conn(s.port);
        let mut waiters = Vec::new();
        for i in 0..6 {
            let mut w = conn(s.port);
            // Two keys of one slot: one shard, maybe not the waiter's own.
            w.send(&command(&["BLPOP", "{q}none", "q", "0"])).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == i + 1);
            waiters.push(w);
        }
        let mut pusher = conn(s.port);
        for i in 0..6 {
            call(&mut pusher, &["RPUSH", "q", &format!("e{i}")]);
        }
        for (i, w) in waiters.iter_mut().enumerate() {
            let v = w.read().expect("served").0;
            assert_eq!(
                text(&v),
                ["q".to_string(), format!("e{i}")],
                "cores {cores}"
            );
        }
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        assert_eq!(call(&mut admin, &["EXISTS", "q"]).int(), Some(0));
    }
}

#[test]
fn timeouts_multi_and_errors_answer_as_redis_does() {
    if common::skip_redis_tools() {
        return;
    }
    let r = Server::redis("blocking-errors").expect("redis-server");
    for cores in ["1", "3"] {
        let s = Server::kevy(&["--cores", cores]);
        let cases: &[&[&str]] = &[
            &["BLPOP", "k", "-1"],
            &["BLPOP", "k", "abc"],
            &["BLPOP", "k", "0.05"],
            &["BRPOP", "k", "0.01"],
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.02"],
            &["BLMOVE", "k", "d", "UP", "RIGHT", "0.02"],
            &["BRPOPLPUSH", "k", "d", "0.02"],
            &["BZPOPMIN", "z", "0.02"],
            &["BZPOPMAX", "z", "-0.5"],
            &["BLMPOP", "0.02", "1", "k", "LEFT"],
            &["BLMPOP", "-1", "1", "k", "LEFT"],
            &["BZMPOP", "0.02", "1", "z", "MIN"],
            &["BZMPOP", "0.02", "0", "z", "MIN"],
            &["SET", "str", "x"],
            &["BLPOP", "str", "0"],
        ];
        for resp in ["2", "3"] {
            let (mut a, mut b) = (conn(s.port), conn(r.port));
            call(&mut a, &["HELLO", resp]);
            call(&mut b, &["HELLO", resp]);
            for args in cases {
                assert_eq!(
                    common::resp::escape(&raw(&mut a, args)),
                    common::resp::escape(&raw(&mut b, args)),
                    "{args:?} RESP{resp} cores {cores}"
                );
            }
            // Inside MULTI a blocking command does not block.
            for args in [
                &["MULTI"][..],
                &["BLPOP", "k", "0"],
                &["BZPOPMIN", "z", "0"],
            ] {
                raw(&mut a, args);
                raw(&mut b, args);
            }
            assert_eq!(raw(&mut a, &["EXEC"]), raw(&mut b, &["EXEC"]), "MULTI");
        }
    }
}

#[test]
fn served_replies_match_redis_in_both_protocols() {
    if common::skip_redis_tools() {
        return;
    }
    let r = Server::redis("blocking-shapes").expect("redis-server");
    let s = Server::kevy(&["--cores", "3"]);
    let setup: &[&[&str]] = &[
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["ZADD", "z", "1", "m1", "2.5", "m2", "3", "m3"],
    ];
    let cases: &[&[&str]] = &[
        &["BLPOP", "none", "l", "0"],
        &["BRPOP", "l", "0"],
        &["BLMPOP", "0", "2", "none", "l", "RIGHT", "COUNT", "5"],
        &["BZPOPMIN", "none", "z", "0"],
        &["BZPOPMAX", "z", "0"],
        &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "3"],
        &["EXISTS", "l", "z"],
    ];
    for resp in ["2", "3"] {
        let (mut a, mut b) = (conn(s.port), conn(r.port));
        call(&mut a, &["HELLO", resp]);
        call(&mut b, &["HELLO", resp]);
        for args in setup.iter().chain(cases) {
            assert_eq!(
                common::resp::escape(&raw(&mut a, args)),
                common::resp::escape(&raw(&mut b, args)),
                "{args:?} RESP{resp}"
            );
        }
    }
}

#[test]
fn a_waiter_on_another_shard_is_served_by_blmove_and_zadd() {
    let s = Server::kevy(&["--cores", "3"]);
    let mut admin = conn(s.port);
    let mut w1 = conn(s.port);
    let mut w2 = conn(s.port);
    w1.send(&command(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]))
        .unwrap();
    w2.send(&command(&["BZPOPMIN", "zs", "0"])).unwrap();
    eventually("two blocked", || blocked_clients(&mut admin) == 2);
    call(&mut admin, &["RPUSH", "src", "x"]);
    call(&mut admin, &["ZADD", "zs", "7", "m"]);
    assert_eq!(w1.read().unwrap().0.bytes(), Some(&b"x"[..]));
    assert_eq!(text_mixed(&w2.read().unwrap().0), ["zs", "m", "7"]);
    assert_eq!(
        text(&call(&mut admin, &["LRANGE", "dst", "0", "-1"])),
        ["x"]
    );
}

fn text_mixed(v: &Value) -> Vec<String> {
    v.items()
        .expect("array")
        .iter()
        .map(|i| match i.bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => i.int().map_or("?".into(), |n| n.to_string()),
        })
        .collect()
}

#[test]
fn clients_that_hang_up_while_blocked_lose_nothing() {
    let s = Server::kevy(&["--cores", "3"]);
    let mut admin = conn(s.port);
    let mut got = Vec::new();
    let mut n = 0;
    for round in 0..5 {
        let mut live = Vec::new();
        for i in 0..8 {
            let mut w = conn(s.port);
            w.send(&command(&["BRPOP", "lost", "0"])).unwrap();
            if (i + round) % 3 == 0 {
                drop(w);
            } else {
                live.push(w);
            }
        }
        // Every waiter either blocked or is gone: a client that hung up
        // counts as blocked until its connection is closed, and one served
        // before that takes its element with it.
        eventually("waiters settle", || {
            blocked_clients(&mut admin) == live.len() as i64
                && connected_clients(&mut admin) == live.len() as i64 + 1
        });
        for _ in 0..live.len() {
            call(&mut admin, &["LPUSH", "lost", &format!("e{n}")]);
            n += 1;
        }
        for w in live.iter_mut() {
            got.push(text(&w.read().unwrap().0)[1].clone());
        }
    }
    // Nothing was left behind for the clients that hung up.
    assert_eq!(call(&mut admin, &["EXISTS", "lost"]).int(), Some(0));
    call(&mut admin, &["LPUSH", "lost", "last"]);
    got.extend(text(&call(&mut admin, &["LRANGE", "lost", "0", "-1"])));
    got.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
    want.push("last".into());
    want.sort();
    assert_eq!(got, want, "every element once");
}

#[test]
fn a_timeout_answers_nil_and_zero_waits_until_served() {
    let s = Server::kevy(&["--cores", "2"]);
    let mut c = conn(s.port);
    let t0 = Instant::now();
    assert_eq!(raw(&mut c, &["BLPOP", "t", "0.15"]), b"*-1\r\n");
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let mut admin = conn(s.port);
    c.send(&command(&["BLPOP", "t", "0"])).unwrap();
    eventually("blocked", || blocked_clients(&mut admin) == 1);
    call(&mut admin, &["RPUSH", "t", "v"]);
    assert_eq!(text(&c.read().unwrap().0), ["t", "v"]);
    // The connection runs on after being served.
    assert_eq!(raw(&mut c, &["PING"]), b"+PONG\r\n");
}

#[test]
fn client_unblock_releases_a_waiter_on_any_shard() {
    for cores in ["1", "2", "3"] {
        let s = Server::kevy(&["--cores", cores]);
        let mut admin = conn(s.port);
        for (reason, want) in [
            (None, b"*-1\r\n".to_vec()),
            (Some("TIMEOUT"), b"*-1\r\n".to_vec()),
            (
                Some("ERROR"),
                b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec(),
            ),
        ] {
            let mut w = conn(s.port);
            let id = call(&mut w, &["CLIENT", "ID"]).int().expect("id");
            w.send(&command(&["BLPOP", "nothing-here", "0"])).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            let list = call(&mut admin, &["CLIENT", "LIST", "ID", &id.to_string()]);
            let line = String::from_utf8_lossy(list.bytes().expect("bulk")).into_owned();
            assert!(line.contains("flags=b"), "cores {cores}: {line}");
            let mut args = vec!["CLIENT".to_string(), "UNBLOCK".into(), id.to_string()];
            args.extend(reason.map(str::to_string));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(raw(&mut admin, &args), b":1\r\n", "cores {cores}");
            assert_eq!(
                w.read().expect("released").1,
                want,
                "cores {cores} {reason:?}"
            );
            eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
            // Not blocked any more: nothing to release.
            assert_eq!(
                raw(&mut admin, &["CLIENT", "UNBLOCK", &id.to_string()]),
                b":0\r\n"
            );
            // The released client goes on as usual.
            assert_eq!(raw(&mut w, &["PING"]), b"+PONG\r\n");
        }
        assert_eq!(
            raw(&mut admin, &["CLIENT", "UNBLOCK", "1", "SOON"]),
            b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
        );
        assert_eq!(
            raw(&mut admin, &["CLIENT", "UNBLOCK", "x"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(raw(&mut admin, &["CLIENT", "UNBLOCK", "999999"]), b":0\r\n");
        assert_eq!(
            raw(&mut admin, &["CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"]),
            // The subcommand as typed, as Redis's addReplySubcommandSyntaxError.
            b"-ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.\r\n".to_vec()
        );
    }
}

/// Two keys `prefix…` on different shards of an `n`-shard server.
fn apart(prefix: &str, n: usize) -> (String, String) {
    let a = format!("{prefix}0");
    let sa = kevy_rt::shard_of(a.as_bytes(), n);
    let b = (1..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), n) != sa)
        .expect("a key of another shard");
    (a, b)
}

/// A key `prefix…` on another shard than `key`'s.
fn elsewhere(key: &str, prefix: &str, n: usize) -> String {
    let s = kevy_rt::shard_of(key.as_bytes(), n);
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| kevy_rt::shard_of(k.as_bytes(), n) != s)
        .expect("a key of another shard")
}

/// `key` holds exactly `want`, and the waiter's connection `w` has no
/// stray reply queued (a stale waiter served it): it answers PING next.
fn stays(admin: &mut Conn, w: &mut Conn, key: &str, want: &[&str]) {
    assert_eq!(raw(w, &["PING"]), b"+PONG\r\n", "{key}");
    assert_eq!(
        text(&call(admin, &["LRANGE", key, "0", "-1"])),
        want,
        "{key}"
    );
}

#[test]
fn a_pop_on_keys_of_several_shards_blocks_until_either_is_pushed() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (a, b) = apart("q", n);
        for pop in ["BLPOP", "BRPOP"] {
            for (hit, other) in [(&a, &b), (&b, &a)] {
                let mut w = conn(s.port);
                w.send(&command(&[pop, &a, &b, "0"])).unwrap();
                eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
                call(&mut admin, &["RPUSH", hit, "x", "y"]);
                let want = if pop == "BLPOP" { "x" } else { "y" };
                assert_eq!(
                    text(&w.read().expect("served").0),
                    [hit.as_str(), want],
                    "{n} {pop} {hit}"
                );
                eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
                // No registration is left on the other shard.
                call(&mut admin, &["RPUSH", other, "stay"]);
                stays(&mut admin, &mut w, other, &["stay"]);
                let left = if pop == "BLPOP" { "y" } else { "x" };
                stays(&mut admin, &mut w, hit, &[left]);
                call(&mut admin, &["DEL", &a, &b]);
            }
        }
        // The sorted-set and multi-pop forms block the same way.
        let (z1, z2) = apart("z", n);
        let mut w = conn(s.port);
        w.send(&command(&["BZPOPMIN", &z1, &z2, "0"])).unwrap();
        eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
        call(&mut admin, &["ZADD", &z2, "1", "m"]);
        assert_eq!(text_mixed(&w.read().unwrap().0), [z2.as_str(), "m", "1"]);
        w.send(&command(&["BLMPOP", "0", "2", &a, &b, "LEFT"]))
            .unwrap();
        eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
        call(&mut admin, &["RPUSH", &b, "v"]);
        let v = w.read().unwrap().0;
        let items = v.items().expect("array");
        assert_eq!(items[0].bytes(), Some(b.as_bytes()), "{n} BLMPOP");
        assert_eq!(text(&items[1]), ["v"], "{n} BLMPOP");
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
    }
}

#[test]
fn waiters_on_several_shards_are_served_in_order_and_time_out() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (a, b) = apart("f", n);
        let mut w1 = conn(s.port);
        w1.send(&command(&["BRPOP", &a, &b, "0"])).unwrap();
        eventually("first blocks", || blocked_clients(&mut admin) == 1);
        let mut w2 = conn(s.port);
        w2.send(&command(&["BRPOP", &a, &b, "0"])).unwrap();
        eventually("second blocks", || blocked_clients(&mut admin) == 2);
        call(&mut admin, &["RPUSH", &b, "one"]);
        assert_eq!(text(&w1.read().unwrap().0), [b.as_str(), "one"], "{n}");
        call(&mut admin, &["RPUSH", &a, "two"]);
        assert_eq!(text(&w2.read().unwrap().0), [a.as_str(), "two"], "{n}");
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);

        // A timeout answers nil and leaves nothing parked.
        assert_eq!(raw(&mut w1, &["BLPOP", &a, &b, "0.1"]), b"*-1\r\n");
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        call(&mut admin, &["RPUSH", &a, "ta"]);
        call(&mut admin, &["RPUSH", &b, "tb"]);
        stays(&mut admin, &mut w1, &a, &["ta"]);
        stays(&mut admin, &mut w1, &b, &["tb"]);
        call(&mut admin, &["DEL", &a, &b]);
    }
}

#[test]
fn a_waiter_on_several_shards_is_unblocked_or_hangs_up_losing_nothing() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (a, b) = apart("u", n);
        let mut w = conn(s.port);
        let id = call(&mut w, &["CLIENT", "ID"]).int().expect("id");
        w.send(&command(&["BLPOP", &a, &b, "0"])).unwrap();
        eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
        assert_eq!(
            raw(&mut admin, &["CLIENT", "UNBLOCK", &id.to_string()]),
            b":1\r\n"
        );
        assert_eq!(w.read().unwrap().1, b"*-1\r\n", "{n}");
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        call(&mut admin, &["RPUSH", &a, "ua"]);
        call(&mut admin, &["RPUSH", &b, "ub"]);
        stays(&mut admin, &mut w, &a, &["ua"]);
        stays(&mut admin, &mut w, &b, &["ub"]);
        call(&mut admin, &["DEL", &a, &b]);

        // Clients that hang up while waiting have nothing popped for them.
        for _ in 0..3 {
            let mut gone = conn(s.port);
            gone.send(&command(&["BRPOP", &a, &b, "0"])).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            drop(gone);
            eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
            call(&mut admin, &["RPUSH", &a, "ga"]);
            call(&mut admin, &["RPUSH", &b, "gb"]);
            stays(&mut admin, &mut w, &a, &["ga"]);
            stays(&mut admin, &mut w, &b, &["gb"]);
            call(&mut admin, &["DEL", &a, &b]);
        }
    }
}

#[test]
fn waiters_on_several_shards_get_every_element_once() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (a, b) = apart("e", n);
        let mut waiters = Vec::new();
        for i in 0..6 {
            let mut w = conn(s.port);
            w.send(&command(&["BRPOP", &a, &b, "0"])).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == i + 1);
            waiters.push(w);
        }
        // Pushes to both keys at once, from two connections.
        let mut pa = conn(s.port);
        let mut pb = conn(s.port);
        for i in 0..4 {
            pa.send(&command(&["LPUSH", &a, &format!("a{i}")])).unwrap();
            pb.send(&command(&["LPUSH", &b, &format!("b{i}")])).unwrap();
        }
        for _ in 0..4 {
            pa.read().unwrap();
            pb.read().unwrap();
        }
        let mut got: Vec<String> = waiters
            .iter_mut()
            .map(|w| text(&w.read().expect("served").0)[1].clone())
            .collect();
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        got.extend(text(&call(&mut admin, &["LRANGE", &a, "0", "-1"])));
        got.extend(text(&call(&mut admin, &["LRANGE", &b, "0", "-1"])));
        got.sort();
        let mut want: Vec<String> = (0..4)
            .flat_map(|i| [format!("a{i}"), format!("b{i}")])
            .collect();
        want.sort();
        assert_eq!(got, want, "{n}: every element once");
        for w in waiters.iter_mut() {
            assert_eq!(raw(w, &["PING"]), b"+PONG\r\n");
        }
    }
}

#[test]
fn a_move_between_shards_blocks_until_its_source_is_pushed() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (src, dst) = apart("m", n);
        for (move_cmd, want) in [
            (vec!["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0"], "x"),
            (vec!["BRPOPLPUSH", &src, &dst, "0"], "y"),
            (vec!["BLMOVE", &dst, &src, "RIGHT", "LEFT", "0"], "y"),
        ] {
            let (from, to) = (move_cmd[1], move_cmd[2]);
            let mut w = conn(s.port);
            w.send(&command(&move_cmd)).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            call(&mut admin, &["RPUSH", from, "x", "y"]);
            assert_eq!(
                w.read().expect("served").0.bytes(),
                Some(want.as_bytes()),
                "{n} {move_cmd:?}"
            );
            eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
            let left = if want == "x" { "y" } else { "x" };
            stays(&mut admin, &mut w, from, &[left]);
            let to_list = text(&call(&mut admin, &["LRANGE", to, "0", "-1"]));
            assert!(to_list.contains(&want.to_string()), "{n} {move_cmd:?}");
            // Nothing stays parked: a later push stays in the source.
            call(&mut admin, &["RPUSH", from, "later"]);
            stays(&mut admin, &mut w, from, &[left, "later"]);
            call(&mut admin, &["DEL", &src, &dst]);
        }
    }
}

#[test]
fn moves_between_shards_are_served_first_come_first_served() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (src, d1) = apart("o", n);
        let d2 = elsewhere(&src, "o-d", n);
        // Four waiters in turn, moves to other shards and a plain pop.
        let cmds: [Vec<&str>; 4] = [
            vec!["BLMOVE", &src, &d1, "LEFT", "RIGHT", "0"],
            vec!["BRPOPLPUSH", &src, &d2, "0"],
            vec!["BLPOP", &src, "0"],
            vec!["BLMOVE", &src, &d1, "LEFT", "LEFT", "0"],
        ];
        let mut ws = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            let mut w = conn(s.port);
            w.send(&command(c)).unwrap();
            eventually("the waiter blocks", || {
                blocked_clients(&mut admin) == i as i64 + 1
            });
            ws.push(w);
        }
        // One element at a time for the first two, then two at once.
        call(&mut admin, &["RPUSH", &src, "e0"]);
        assert_eq!(ws[0].read().unwrap().0.bytes(), Some(&b"e0"[..]), "{n}");
        call(&mut admin, &["RPUSH", &src, "e1"]);
        assert_eq!(ws[1].read().unwrap().0.bytes(), Some(&b"e1"[..]), "{n}");
        call(&mut admin, &["RPUSH", &src, "e2", "e3"]);
        assert_eq!(text(&ws[2].read().unwrap().0), [src.as_str(), "e2"], "{n}");
        assert_eq!(ws[3].read().unwrap().0.bytes(), Some(&b"e3"[..]), "{n}");
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        assert_eq!(
            text(&call(&mut admin, &["LRANGE", &d1, "0", "-1"])),
            ["e3", "e0"]
        );
        assert_eq!(text(&call(&mut admin, &["LRANGE", &d2, "0", "-1"])), ["e1"]);
        assert_eq!(call(&mut admin, &["EXISTS", &src]).int(), Some(0));
    }
}

#[test]
fn a_move_between_shards_times_out_or_is_unblocked_leaving_nothing_parked() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (src, dst) = apart("t", n);
        let mut w = conn(s.port);
        let id = call(&mut w, &["CLIENT", "ID"])
            .int()
            .expect("id")
            .to_string();
        let t0 = Instant::now();
        assert_eq!(
            raw(&mut w, &["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0.15"]),
            b"*-1\r\n"
        );
        assert!(t0.elapsed() >= Duration::from_millis(150));
        assert_eq!(raw(&mut w, &["BRPOPLPUSH", &src, &dst, "0.05"]), b"*-1\r\n");
        for (reason, want) in [
            (None, &b"*-1\r\n"[..]),
            (Some("TIMEOUT"), b"*-1\r\n"),
            (
                Some("ERROR"),
                b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
            ),
        ] {
            w.send(&command(&["BLMOVE", &src, &dst, "RIGHT", "RIGHT", "0"]))
                .unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            let mut args = vec!["CLIENT", "UNBLOCK", &id];
            args.extend(reason);
            assert_eq!(raw(&mut admin, &args), b":1\r\n", "{n} {reason:?}");
            assert_eq!(w.read().unwrap().1, want, "{n} {reason:?}");
            eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        }
        call(&mut admin, &["RPUSH", &src, "s"]);
        stays(&mut admin, &mut w, &src, &["s"]);
        assert_eq!(call(&mut admin, &["EXISTS", &dst]).int(), Some(0), "{n}");
    }
}

/// Clients moving from one source to a destination on another shard, a
/// third of them hanging up at random moments while another connection
/// pushes: every element ends in the destination exactly once or is still
/// in the source, and each client served finds its element there.
#[test]
fn clients_moving_between_shards_that_hang_up_lose_nothing() {
    for n in [2, 3] {
        let s = Server::kevy(&["--cores", &n.to_string()]);
        let mut admin = conn(s.port);
        let (src, dst) = apart("h", n);
        let mut rng = 0x2545_f491_4f6c_dd1du64 ^ n as u64;
        let mut next = move |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        const CLIENTS: usize = 24;
        const PUSHES: usize = 36;
        let mut ws: Vec<Option<Conn>> = Vec::new();
        for i in 0..CLIENTS {
            let mut w = conn(s.port);
            let c: Vec<&str> = if i % 2 == 0 {
                vec!["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0"]
            } else {
                vec!["BRPOPLPUSH", &src, &dst, "0"]
            };
            w.send(&command(&c)).unwrap();
            ws.push(Some(w));
        }
        eventually("all block", || {
            blocked_clients(&mut admin) == CLIENTS as i64
        });
        let port = s.port;
        let src2 = src.clone();
        let pusher = std::thread::spawn(move || {
            let mut p = conn(port);
            for i in 0..PUSHES {
                call(&mut p, &["RPUSH", &src2, &format!("e{i}")]);
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        for _ in 0..CLIENTS / 3 {
            std::thread::sleep(Duration::from_micros(next(3000)));
            let i = next(CLIENTS as u64) as usize;
            ws[i] = None;
        }
        pusher.join().expect("pusher");
        // Every client still connected is served: there are more elements
        // than clients.
        let mut got = Vec::new();
        for w in ws.iter_mut().flatten() {
            let v = w.read().expect("served").0;
            got.push(String::from_utf8_lossy(v.bytes().expect("element")).into_owned());
        }
        eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
        // An element taken for a client that hung up goes back one ring
        // hop after the last reply: wait for the keys to hold every
        // element (one lost never comes back), then check once more.
        let mut want: Vec<String> = (0..PUSHES).map(|i| format!("e{i}")).collect();
        want.sort();
        let mut both = || {
            let in_dst = text(&call(&mut admin, &["LRANGE", &dst, "0", "-1"]));
            let mut all = in_dst.clone();
            all.extend(text(&call(&mut admin, &["LRANGE", &src, "0", "-1"])));
            all.sort();
            (in_dst, all)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while both().1 != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        let (in_dst, all) = both();
        for e in &got {
            assert!(in_dst.contains(e), "{n}: {e} is in the destination");
        }
        assert_eq!(all, want, "{n}: every element once");
        // Nothing is left parked for the clients that went.
        let before = text(&call(&mut admin, &["LRANGE", &src, "0", "-1"]));
        call(&mut admin, &["RPUSH", &src, "last"]);
        let mut after = before.clone();
        after.push("last".into());
        assert_eq!(text(&call(&mut admin, &["LRANGE", &src, "0", "-1"])), after);
    }
}

#[test]
fn moves_between_shards_answer_as_redis_does() {
    if common::skip_redis_tools() {
        return;
    }
    let r = Server::redis("blocking-moves").expect("redis-server");
    let s = Server::kevy(&["--cores", "3"]);
    let (src, dst) = apart("r", 3);
    for resp in ["2", "3"] {
        let mut outs: Vec<Vec<String>> = Vec::new();
        for port in [s.port, r.port] {
            let mut admin = conn(port);
            let mut w = conn(port);
            call(&mut w, &["HELLO", resp]);
            call(&mut admin, &["DEL", &src, &dst]);
            let mut out = Vec::new();
            let mut served = |w: &mut Conn, admin: &mut Conn, cmd: &[&str], push: &[&str]| {
                w.send(&command(cmd)).unwrap();
                eventually("the waiter blocks", || blocked_clients(admin) == 1);
                raw(admin, push);
                out.push(common::resp::escape(&w.read().expect("reply").1));
            };
            served(
                &mut w,
                &mut admin,
                &["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"],
                &["RPUSH", &src, "a", "b", "c"],
            );
            call(&mut admin, &["DEL", &src]);
            served(
                &mut w,
                &mut admin,
                &["BRPOPLPUSH", &src, &dst, "0"],
                &["LPUSH", &src, "1", "2"],
            );
            call(&mut admin, &["DEL", &src]);
            // A destination of the wrong type when served.
            call(&mut admin, &["SET", &dst, "str"]);
            served(
                &mut w,
                &mut admin,
                &["BLMOVE", &src, &dst, "LEFT", "LEFT", "0"],
                &["RPUSH", &src, "z"],
            );
            for args in [
                &["BLMOVE", &src, &dst, "LEFT", "LEFT", "0.01"][..],
                &["LRANGE", &src, "0", "-1"],
                &["DEL", &dst, &src],
                &["BLMOVE", &src, &dst, "LEFT", "LEFT", "0.01"],
                &["BRPOPLPUSH", &src, &dst, "0.01"],
            ] {
                out.push(common::resp::escape(&raw(&mut w, args)));
            }
            outs.push(out);
        }
        assert_eq!(outs[0], outs[1], "RESP{resp}");
    }
}

/// Moves between shards served while blocked survive a kill -9 with
/// `appendfsync always`, and are logged as the pop and the push, not as
/// copies of both lists.
#[test]
fn moves_between_shards_are_logged_as_pop_and_push() {
    let dir = common::TempDir::new("blocking-aof");
    let (src, dst) = apart("aof", 3);
    let long: Vec<String> = (0..200).map(|i| format!("element-{i:04}")).collect();
    {
        let s = common::kevy_logged(dir.path(), "3", &[]);
        let mut admin = conn(s.port);
        // A long destination: copying it into the log would show.
        let mut push = vec!["RPUSH", dst.as_str()];
        push.extend(long.iter().map(String::as_str));
        call(&mut admin, &push);
        for (i, cmd) in [
            vec!["BLMOVE", &src, &dst, "LEFT", "RIGHT", "0"],
            vec!["BRPOPLPUSH", &src, &dst, "0"],
        ]
        .iter()
        .enumerate()
        {
            let mut w = conn(s.port);
            w.send(&command(cmd)).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            call(&mut admin, &["RPUSH", &src, &format!("moved-{i}"), "kept"]);
            w.read().expect("served");
            call(&mut admin, &["DEL", &src]);
        }
        call(&mut admin, &["RPUSH", &src, "left"]);
        // Dropping the server kills it (SIGKILL).
    }
    let mut log = Vec::new();
    for e in std::fs::read_dir(dir.path().join("appendonlydir")).expect("appendonlydir") {
        let p = e.expect("entry").path();
        if p.to_string_lossy().contains(".incr.") {
            log.extend(std::fs::read(&p).expect("log file"));
        }
    }
    let has = |w: &[u8]| log.windows(w.len()).any(|x| x == w);
    assert!(!has(b"RESTORE"), "the lists were copied into the log");
    assert!(
        has(b"LPOP") && has(b"RPOP") && has(b"LPUSH"),
        "pops and pushes"
    );
    let s = common::kevy_logged(dir.path(), "3", &[]);
    let mut c = conn(s.port);
    let mut want = long.clone();
    want.insert(0, "kept".into());
    want.push("moved-0".into());
    assert_eq!(text(&call(&mut c, &["LRANGE", &dst, "0", "-1"])), want);
    assert_eq!(text(&call(&mut c, &["LRANGE", &src, "0", "-1"])), ["left"]);
}

/// A key that arrives from another database (MOVE, COPY … DB, SWAPDB)
/// serves the clients blocked on it there, as in Redis: what each waiter
/// gets and what is left, byte for byte against redis-server.
#[test]
fn keys_arriving_from_another_database_serve_their_waiters() {
    // Per case: how the key arrives in database 1, where the waiter is.
    // Not served, a waiter times out with a nil.
    let cases: &[(&[&str], &[&str])] = &[
        (&["BLPOP", "$k", "3"], &["MOVE", "$k", "1"]),
        (&["BLPOP", "$k", "3"], &["COPY", "$k", "$k", "DB", "1"]),
        (&["BLPOP", "$k", "3"], &["SWAPDB", "0", "1"]),
        (&["BZPOPMIN", "$k", "3"], &["MOVE", "$k", "1"]),
        (&["BZPOPMIN", "$k", "3"], &["SWAPDB", "1", "0"]),
        (
            &["XREAD", "BLOCK", "3000", "STREAMS", "$k", "$"],
            &["MOVE", "$k", "1"],
        ),
    ];
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut admin = conn(port);
        let mut seen = Vec::new();
        for (i, (wait, arrive)) in cases.iter().enumerate() {
            raw(&mut admin, &["FLUSHALL"]);
            let key = format!("arrive:{i}");
            let (wait, arrive) = (with_key(wait, &key), with_key(arrive, &key));
            let mut w = conn(port);
            raw(&mut w, &["SELECT", "1"]);
            w.send(&command(&wait)).unwrap();
            eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
            match wait[0].as_str() {
                "BLPOP" => raw(&mut admin, &["RPUSH", &key, "x", "y"]),
                "BZPOPMIN" => raw(&mut admin, &["ZADD", &key, "1", "a", "2", "b"]),
                _ => raw(&mut admin, &["XADD", &key, "1-1", "f", "v"]),
            };
            seen.push(admin.call(&arrive).expect("reply").encode());
            let got = w.read().expect("an answer").1;
            assert_ne!(got, b"*-1\r\n", "{wait:?} after {arrive:?}: not served");
            seen.push(got);
            for db in ["0", "1"] {
                raw(&mut admin, &["SELECT", db]);
                seen.push(raw(&mut admin, &["DUMP", &key]));
            }
            raw(&mut admin, &["SELECT", "0"]);
        }
        seen
    };
    common::same_as_redis("blocking-dbs", &["1", "2", "3"], scenario);
}

/// Waiters for another type than the key comes to hold are passed over,
/// as Redis passes them: a BZPOPMIN behind a BLPOP on the same key is
/// served by a ZADD, and the BLPOP by a later list; byte for byte against
/// redis-server.
#[test]
fn a_waiter_for_another_type_does_not_hold_up_the_queue() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut admin = conn(port);
        let mut seen = Vec::new();
        // Per case: the waiters in order (each sent on its own connection),
        // then the writes; every waiter is served in the end.
        type Commands<'a> = &'a [&'a [&'a str]];
        let cases: &[(Commands, Commands)] = &[
            (
                &[&["BLPOP", "q", "3"], &["BZPOPMIN", "q", "3"]],
                &[&["ZADD", "q", "1", "m"], &["RPUSH", "q", "x"]],
            ),
            (
                &[
                    &["BZPOPMIN", "q", "3"],
                    &["BLMOVE", "q", "{q}d", "LEFT", "LEFT", "3"],
                    &["BRPOP", "other", "q", "3"],
                ],
                &[&["RPUSH", "q", "x", "y"], &["ZADD", "q", "1", "m"]],
            ),
        ];
        for (waits, writes) in cases {
            raw(&mut admin, &["FLUSHALL"]);
            let mut ws = Vec::new();
            for (i, wait) in waits.iter().enumerate() {
                let mut w = conn(port);
                w.send(&command(wait)).unwrap();
                eventually("the waiter blocks", || {
                    blocked_clients(&mut admin) == i as i64 + 1
                });
                ws.push(w);
            }
            for (i, write) in writes.iter().enumerate() {
                seen.push(raw(&mut admin, write));
                // Each write serves its waiters before the next write: a
                // waiter of another shard is served a ring hop after the
                // write's reply (a listed difference).
                let left = if i + 1 == writes.len() { 0 } else { 1 };
                eventually("served", || blocked_clients(&mut admin) == left);
            }
            for (w, wait) in ws.iter_mut().zip(waits.iter()) {
                let got = w.read().expect("an answer").1;
                assert_ne!(got, b"*-1\r\n", "{wait:?} not served");
                assert_ne!(got, b"$-1\r\n", "{wait:?} not served");
                seen.push(got);
            }
            eventually("nobody blocked", || blocked_clients(&mut admin) == 0);
            for key in ["q", "{q}d"] {
                seen.push(raw(&mut admin, &["DUMP", key]));
            }
        }
        seen
    };
    common::same_as_redis("blocking-kinds", &["1", "2", "3"], scenario);
}

/// INFO's `clients_in_timeout_table` counts the blocked clients whose
/// wait has a timeout, as Redis's does; on any shard.
#[test]
fn clients_with_a_timeout_are_counted_apart() {
    let field = |c: &mut Conn, name: &str| -> i64 {
        let v = call(c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(v.bytes().expect("bulk")).into_owned();
        let prefix = format!("{name}:");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}"))
    };
    for cores in ["1", "3"] {
        let s = Server::kevy(&["--cores", cores, "--save", ""]);
        let mut admin = conn(s.port);
        let mut ws = Vec::new();
        for (i, (key, timeout)) in [("t1", "10"), ("t2", "0"), ("{t1}x", "0.5"), ("t3", "0")]
            .iter()
            .enumerate()
        {
            let mut w = conn(s.port);
            w.send(&command(&["BLPOP", key, timeout])).unwrap();
            eventually("blocked", || blocked_clients(&mut admin) == i as i64 + 1);
            ws.push(w);
        }
        assert_eq!(field(&mut admin, "clients_in_timeout_table"), 2, "{cores}");
        // The 0.5 s wait times out; a push serves the 10 s one.
        eventually("timed out", || blocked_clients(&mut admin) == 3);
        assert_eq!(field(&mut admin, "clients_in_timeout_table"), 1, "{cores}");
        call(&mut admin, &["RPUSH", "t1", "x"]);
        eventually("served", || blocked_clients(&mut admin) == 2);
        assert_eq!(field(&mut admin, "clients_in_timeout_table"), 0, "{cores}");
        drop(ws);
        eventually("gone", || blocked_clients(&mut admin) == 0);
        assert_eq!(field(&mut admin, "clients_in_timeout_table"), 0, "{cores}");
    }
}

/// WAIT, with no replicas: 0 at once when 0 replicas are enough or inside
/// MULTI, else 0 after the timeout; a waiting WAIT is a blocked client that
/// CLIENT UNBLOCK ends (TIMEOUT: 0, ERROR: UNBLOCKED), and a MOVE that
/// makes every waiter look again leaves it waiting. Byte for byte against
/// redis-server, in RESP2 and RESP3.
#[test]
fn wait_answers_as_redis_does_without_replicas() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut admin = conn(port);
        let mut seen = Vec::new();
        for resp in ["2", "3"] {
            let mut w = conn(port);
            raw(&mut w, &["HELLO", resp]);
            for args in [
                &["WAIT", "0", "0"][..],
                &["WAIT", "-1", "100"],
                &["WAIT", "x", "1"],
                &["WAIT", "1", "-1"],
                &["WAIT", "1", "1.5"],
                &["WAIT", "1"],
                // Counts Redis cuts to an `int` of 0 or less.
                &["WAIT", "2147483648", "0"],
                &["WAIT", "4294967296", "0"],
                &["WAIT", "9223372036854775807", "0"],
            ] {
                seen.push(raw(&mut w, args));
            }
            let start = Instant::now();
            seen.push(raw(&mut w, &["WAIT", "1", "150"]));
            assert!(start.elapsed() >= Duration::from_millis(150));
            for args in [&["MULTI"][..], &["WAIT", "2", "0"], &["EXEC"]] {
                seen.push(raw(&mut w, args));
            }
            let id = raw(&mut w, &["CLIENT", "ID"]);
            let id = String::from_utf8_lossy(&id[1..id.len() - 2]).to_string();
            for how in ["TIMEOUT", "ERROR"] {
                w.send(&command(&["WAIT", "1", "0"])).unwrap();
                eventually("WAIT blocks", || blocked_clients(&mut admin) == 1);
                let list = raw(&mut admin, &["CLIENT", "LIST", "ID", &id]);
                let list = String::from_utf8_lossy(&list).to_string();
                assert!(list.contains(" flags=b "), "{list}");
                assert!(list.contains(" cmd=wait "), "{list}");
                // Every waiter of the database looks again; WAIT waits on.
                raw(&mut admin, &["SET", "k", "v"]);
                raw(&mut admin, &["MOVE", "k", "1"]);
                seen.push(raw(&mut admin, &["CLIENT", "UNBLOCK", &id, how]));
                seen.push(w.read().expect("WAIT's answer").1);
            }
        }
        seen
    };
    common::same_as_redis("blocking-wait", &["1", "2"], scenario);
}

/// A blocked client is served before the pusher's next command, as Redis
/// serves it: a command pipelined right behind the push (in the same
/// write) finds the element gone to the waiter, on whatever shard the key,
/// the waiter and the pusher live. Byte for byte against redis-server.
#[test]
fn a_waiter_is_served_before_the_pushers_next_command() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut admin = conn(port);
        let mut seen = Vec::new();
        // The waiter's command and the pusher's pipeline; `$k` is the key.
        let cases: &[(&[&str], &[&[&str]])] = &[
            (
                &["BLPOP", "$k", "0"],
                &[&["RPUSH", "$k", "x"], &["LPOP", "$k"]],
            ),
            (
                &["BRPOP", "$k", "0"],
                &[&["RPUSH", "$k", "x"], &["DEL", "$k"]],
            ),
            (
                &["BLPOP", "$k", "0"],
                &[
                    &["RPUSH", "$k", "x"],
                    &["RPUSH", "$k", "y"],
                    &["LRANGE", "$k", "0", "-1"],
                ],
            ),
            (
                &["BZPOPMIN", "$k", "0"],
                &[&["ZADD", "$k", "1", "m"], &["ZPOPMIN", "$k"]],
            ),
            (
                &["BLMPOP", "0", "1", "$k", "LEFT", "COUNT", "2"],
                &[&["RPUSH", "$k", "a", "b", "c"], &["LLEN", "$k"]],
            ),
            (
                &["BLPOP", "$k", "0"],
                &[
                    &["MULTI"],
                    &["RPUSH", "$k", "x"],
                    &["EXEC"],
                    &["LPOP", "$k"],
                ],
            ),
        ];
        for (i, (wait, pushes)) in cases.iter().enumerate() {
            // Several keys, so that with several shards the key, the waiter
            // and the pusher fall on the same shard and on different ones.
            for j in 0..4 {
                let key = format!("steal:{i}:{j}");
                let mut w = conn(port);
                w.send(&command(&with_key(wait, &key))).unwrap();
                eventually("the waiter blocks", || blocked_clients(&mut admin) == 1);
                let mut pusher = conn(port);
                let mut pipeline = Vec::new();
                for p in pushes.iter() {
                    pipeline.extend(command(&with_key(p, &key)));
                }
                pusher.send(&pipeline).unwrap();
                for _ in pushes.iter() {
                    seen.push(pusher.read().expect("a reply").1);
                }
                seen.push(w.read().expect("the waiter's answer").1);
                seen.push(raw(&mut admin, &["DEL", &key]));
            }
        }
        seen
    };
    common::same_as_redis("blocking-steal", &["1", "2", "3"], scenario);
}

/// A RESP3 client blocked in BLPOP gets the messages and invalidations
/// sent to it while it waits at once, ahead of BLPOP's reply, as Redis
/// writes them; byte for byte against redis-server, keys on any shard.
#[test]
fn a_blocked_client_gets_its_messages_while_it_waits() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        for (q, k) in [("q", "k"), ("{k}q", "k"), ("q", "{q}k")] {
            let mut w = conn(port);
            raw(&mut w, &["HELLO", "3"]);
            seen.push(raw(&mut w, &["SUBSCRIBE", "ch"]));
            seen.push(raw(&mut w, &["CLIENT", "TRACKING", "ON"]));
            seen.push(raw(&mut w, &["GET", k]));
            w.send(&command(&["BLPOP", q, "0"])).unwrap();
            let mut p = conn(port);
            eventually("BLPOP blocks", || blocked_clients(&mut p) == 1);
            seen.push(raw(&mut p, &["PUBLISH", "ch", "m"]));
            // The message comes before anything feeds the list.
            seen.push(w.read().expect("the message").1);
            seen.push(raw(&mut p, &["SET", k, "v"]));
            seen.push(w.read().expect("the invalidation").1);
            seen.push(raw(&mut p, &["RPUSH", q, "x"]));
            seen.push(w.read().expect("BLPOP's reply").1);
            raw(&mut p, &["DEL", q, k]);
        }
        seen
    };
    common::same_as_redis("blocked-messages", &["1", "2"], scenario);
}
