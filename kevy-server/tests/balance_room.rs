//! A starved shard hands connections and slots only to a peer whose core
//! has room (kevy-rt's crate doc, "Room on the cores"). A peer with
//! little to do gets its core at once whenever it wakes, however busy
//! another process keeps that core, so its own samples call it calm.
//! Here a busy thread takes each CPU the shards are pinned to, and one
//! connection keeps one shard busy: that shard is starved, and the other,
//! idle or only passing the connection's commands on, must not take its
//! keys, since on its core they would get no more time than where they
//! are, and would come back (a pub/sub fan-out with a load generator on
//! one core and a tenant on the other passed its subscribers back and
//! forth so, at two thirds of its rate). What may move is the other way:
//! a connection whose home passes its commands on goes, with its home's
//! slots, to the shard that runs them, once.
//!
//! A binary of its own: the busy threads would starve the servers of any
//! test running beside it, and their load would blur the cores' business
//! this one judges.

mod common;

use common::{connect, keys_on_every_shard, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
/// Members of each set, half of them in both.
const MEMBERS: usize = 2000;
/// How long each round keeps its shard busy: long enough for a starved
/// shard to have handed its connection over several times.
const ROUND: Duration = Duration::from_millis(1200);
const ROUNDS: usize = 4;
/// Hash slots, half of them on each shard at the start.
const SLOTS: u64 = 16_384;

fn moved(c: &mut redis::Connection) -> (u64, u64) {
    let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in INFO stats"))
            .trim()
            .parse()
            .unwrap()
    };
    (field("kevy_moved_connections:"), field("kevy_moved_slots:"))
}

#[test]
fn a_load_does_not_go_back_and_forth_between_two_busy_cores() {
    let cpus = kevy_sys::affinity::available_cores();
    if cpus.len() < 2 {
        eprintln!("skipped: two CPUs are needed, this process may use {cpus:?}");
        return;
    }
    let srv = Server::kevy(&["--cores", "2", "--save", ""]);
    let port = srv.port;
    // Two sets per shard whose intersection takes the shard tens of µs
    // per command, and its client next to nothing.
    let keys = keys_on_every_shard("k", 2, 1);
    let mut c = connect(port, T);
    for k in &keys {
        let mut p = redis::pipe();
        p.cmd("SADD")
            .arg(format!("{{{k}}}a"))
            .arg((0..MEMBERS).collect::<Vec<_>>());
        p.cmd("SADD")
            .arg(format!("{{{k}}}b"))
            .arg((MEMBERS / 2..MEMBERS * 3 / 2).collect::<Vec<_>>());
        let _: () = p.query(&mut c).unwrap();
    }
    assert_eq!(moved(&mut c), (0, 0));
    drop(c);

    // The other processes: a busy thread on each of the shards' CPUs.
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = cpus[..2]
        .iter()
        .map(|&cpu| {
            let stop = stop.clone();
            thread::spawn(move || {
                assert!(kevy_sys::affinity::pin_current_thread(cpu), "pin to {cpu}");
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
            })
        })
        .collect();

    // Each round a new connection (its shard is the kernel's choice),
    // working on the keys of either shard in turn. The slots of one
    // shard (half of them) may move once, to the shard that runs the
    // commands, and each connection once with them; more is the load
    // going back and forth.
    let mut result = Ok(());
    for round in 0..ROUNDS {
        let k = &keys[round % 2];
        let mut c = connect(port, T);
        let (a, b) = (format!("{{{k}}}a"), format!("{{{k}}}b"));
        let until = Instant::now() + ROUND;
        let mut commands = 0;
        while Instant::now() < until {
            let mut p = redis::pipe();
            for _ in 0..32 {
                p.cmd("SINTERCARD").arg(2).arg(&a).arg(&b);
            }
            let counts: Vec<usize> = p.query(&mut c).unwrap();
            assert!(counts.iter().all(|&n| n == MEMBERS / 2), "{counts:?}");
            commands += counts.len();
        }
        let (conns, slots) = moved(&mut c);
        if conns > round as u64 + 1 || slots > SLOTS / 2 {
            result = Err(format!(
                "after round {round} ({commands} SINTERCARD on {k}'s shard): {conns} \
                 connections and {slots} slots moved, back and forth between busy cores"
            ));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    result.unwrap();
}
