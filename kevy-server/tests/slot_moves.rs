//! Hash slots moving between shards while clients run (kevy-rt's crate
//! doc, "Moving slots to the cores that have time"). `shard-balance churn`
//! moves each shard's hottest slot to the next shard every 10 ms, whatever
//! the load, so the keys below keep changing shards under the commands
//! that use them: every reply and every final value must be what it is
//! when nothing moves, and what the append-only log keeps must load.

mod common;

use common::{connect, Server};
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn info_u64(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}

/// Workers pipeline INCRs over keys of every shard, transactions over two
/// of them, MSET/MGET pairs and their own read-your-writes, while slots
/// move: every reply checks, and the totals count every INCR once.
fn counters_while_slots_move(cores: usize) {
    let c = cores.to_string();
    let srv = Server::kevy(&["--cores", &c, "--save", "", "--shard-balance", "churn"]);
    let port = srv.port;
    let keys = common::keys_on_every_shard("mv", cores, 3);
    let (workers, rounds) = (6, 150i64);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let keys = keys.clone();
            thread::spawn(move || {
                let mut c = connect(port, T);
                let own = format!("own{w}");
                let (pa, pb) = (format!("pa{w}"), format!("pb{w}"));
                for round in 1..=rounds {
                    let mut p = redis::pipe();
                    for k in &keys {
                        p.cmd("INCR").arg(k);
                    }
                    p.cmd("MULTI")
                        .ignore()
                        .cmd("INCR")
                        .arg(&keys[0])
                        .ignore()
                        .cmd("INCR")
                        .arg(&keys[keys.len() - 1])
                        .ignore()
                        .cmd("EXEC");
                    p.cmd("MSET").arg(&pa).arg(round).arg(&pb).arg(round);
                    p.cmd("MGET").arg(&pa).arg(&pb);
                    p.cmd("SET").arg(&own).arg(round);
                    p.cmd("GET").arg(&own);
                    let got: Vec<redis::Value> = p.query(&mut c).unwrap();
                    let n = keys.len();
                    for v in &got[..n] {
                        assert!(matches!(v, redis::Value::Int(x) if *x > 0), "{v:?}");
                    }
                    let exec: Vec<i64> = redis::from_redis_value(&got[n]).unwrap();
                    assert_eq!(exec.len(), 2);
                    let pair: Vec<i64> = redis::from_redis_value(&got[n + 2]).unwrap();
                    assert_eq!(pair, [round, round], "worker {w} round {round}");
                    let mine: i64 = redis::from_redis_value(&got[n + 4]).unwrap();
                    assert_eq!(mine, round, "worker {w} reads its own write");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut c = connect(port, T);
    let total = workers * rounds;
    for (i, k) in keys.iter().enumerate() {
        let v: i64 = redis::cmd("GET").arg(k).query(&mut c).unwrap();
        let extra = if i == 0 || i == keys.len() - 1 {
            total
        } else {
            0
        };
        assert_eq!(v, total + extra, "{k}");
    }
    let size: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, keys.len() + 3 * workers as usize);
    assert!(
        info_u64(&mut c, "stats", "kevy_moved_slots") > 0,
        "slots moved"
    );
}

#[test]
fn counters_and_transactions_stay_whole_while_their_slots_move_two_shards() {
    counters_while_slots_move(2);
}

#[test]
fn counters_and_transactions_stay_whole_while_their_slots_move_three_shards() {
    counters_while_slots_move(3);
}

/// Slots move while the log is off; CONFIG SET appendonly yes then writes
/// the shards' files with keys of moved slots, which a restart loads by
/// converting them: every key comes back, with its last value.
#[test]
fn a_log_turned_on_after_slots_moved_loads_every_key() {
    let dir = common::TempDir::new("slot-moves-aof");
    let d = dir.path().to_str().unwrap().to_string();
    let args = [
        "--cores",
        "2",
        "--dir",
        &d,
        "--save",
        "",
        "--shard-balance",
        "churn",
    ];
    let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    let want: Vec<String> = {
        let srv = Server::kevy(&args);
        let mut c = connect(srv.port, T);
        for k in &keys {
            let _: () = redis::cmd("SET")
                .arg(k)
                .arg(format!("v-{k}"))
                .query(&mut c)
                .unwrap();
        }
        // Reads give the slots heat; churn moves the hottest.
        let until = Instant::now() + T;
        while info_u64(&mut c, "stats", "kevy_slots_away") < 3 {
            assert!(Instant::now() < until, "no slot moved");
            for k in keys.iter().take(20) {
                let _: String = redis::cmd("GET").arg(k).query(&mut c).unwrap();
            }
        }
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("yes")
            .query(&mut c)
            .unwrap();
        let until = Instant::now() + T;
        // On once it is no longer scheduled (the shards' fences passed)
        // and its first rewrite is done.
        while info_u64(&mut c, "persistence", "aof_rewrite_scheduled") != 0
            || info_u64(&mut c, "persistence", "aof_rewrite_in_progress") != 0
            || info_u64(&mut c, "persistence", "aof_rewrites") == 0
        {
            assert!(Instant::now() < until, "the log did not turn on");
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            dir.path().join("appendonlydir/kevy-moved-slots").exists(),
            "the directory says its files hold moved slots"
        );
        // Writes after the switch, into the log.
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            let _: () = redis::cmd("SET")
                .arg(k)
                .arg(format!("w{i}"))
                .query(&mut c)
                .unwrap();
        }
        let away = info_u64(&mut c, "stats", "kevy_slots_away");
        assert!(away >= 3, "slots stay where they are while the log is on");
        keys.iter()
            .map(|k| redis::cmd("GET").arg(k).query(&mut c).unwrap())
            .collect()
        // Dropping the server kills it (SIGKILL): what is acknowledged is
        // in the log (appendfsync always).
    };
    let srv = common::kevy_logged(dir.path(), "2", &[]);
    let mut c = connect(srv.port, T);
    let got: Vec<String> = keys
        .iter()
        .map(|k| redis::cmd("GET").arg(k).query(&mut c).unwrap())
        .collect();
    assert_eq!(got, want);
    let size: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, keys.len());
    // Loaded by conversion: every key where the server starts its slot.
    assert_eq!(info_u64(&mut c, "stats", "kevy_slots_away"), 0);
}
