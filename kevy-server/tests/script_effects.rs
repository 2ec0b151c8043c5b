//! What the append-only log holds for scripts run by copy (declared keys
//! on several shards, groups of such scripts, scripts that run again over
//! the whole keyspace, scripts inside MULTI): the commands they ran,
//! each in the log of the shard that owns its keys, as a script run on
//! one shard logs them; the state of the keys written back only where a
//! command spans shards. After each scenario the server is killed
//! (SIGKILL, `appendfsync always`) and restarted on its log, and every
//! key (type, value, expiry) must be as it was.
//!
//! Bounded by iteration counts, never by time; no timing is asserted.

mod common;

use common::{eval, keys_on_every_shard, Server, TempDir};
use kevy_persist::aof::record::{Reader, Record};
use redis::Connection;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(60);

layouts!(
    [2, 3]:
    spanning_scripts_log_the_commands_an_inline_run_logs,
    grouped_scripts_log_each_members_commands,
    an_escalated_script_logs_its_final_run_as_commands,
    a_command_spanning_shards_logs_key_state_on_its_shards_only,
    a_script_in_a_multi_over_every_shard_logs_commands,
    a_key_expired_when_copied_is_deleted_before_the_commands,
    a_script_over_the_whole_keyspace_logs_key_state,
    scripts_killed_midway_recover_whole_from_their_commands,
);

/// A server logging every write with a fsync per batch, in `dir`.
struct Logged {
    dir: TempDir,
    cores: usize,
    server: Option<Server>,
}

impl Logged {
    fn start(tag: &str, cores: usize) -> Logged {
        let mut l = Logged {
            dir: TempDir::new(tag),
            cores,
            server: None,
        };
        l.restart();
        l
    }

    /// Kills the server (SIGKILL) if it runs, and starts it on its log.
    fn restart(&mut self) {
        drop(self.server.take());
        self.server = Some(common::kevy_logged(
            self.dir.path(),
            self.cores,
            &["--enable-debug-command", "local"],
        ));
    }

    fn client(&self) -> Connection {
        let port = self.server.as_ref().expect("running").port;
        common::connect(port, IO_TIMEOUT)
    }

    /// Every logged command in shard order, then log order: the shard
    /// whose log holds it, whether it is a transaction's, its arguments.
    fn logged(&self) -> Vec<Entry> {
        logged(&self.dir.path().join("appendonlydir"), self.cores)
    }

    /// Kills and restarts the server, and checks every key came back
    /// as it was.
    fn restart_keeps_state(&mut self) {
        let before = state(&mut self.client());
        assert!(!before.is_empty(), "the scenario wrote nothing");
        self.restart();
        let after = state(&mut self.client());
        assert_eq!(after, before, "state after a restart on the log");
    }
}

/// One logged command.
#[derive(Debug, Clone)]
struct Entry {
    shard: usize,
    tx: bool,
    argv: Vec<String>,
}

impl Entry {
    fn name(&self) -> String {
        self.argv[0].to_ascii_uppercase()
    }
}

fn logged(dir: &Path, cores: usize) -> Vec<Entry> {
    let mut out = Vec::new();
    for shard in 0..cores {
        let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
            .expect("appendonlydir")
            .map(|e| e.expect("entry").path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_string();
                let rest = name.split(&format!(".s{shard}.")).nth(1)?;
                let seq = rest.strip_suffix(".incr.kevy")?.parse().ok()?;
                Some((seq, p))
            })
            .collect();
        files.sort();
        for (_, path) in files {
            let mut r = Reader::open(&path, false).expect("open incr file");
            while let Some((_, rec)) = r.next_record().expect("record") {
                let (tx, resp) = match rec {
                    Record::Effects(p) => (false, p),
                    Record::TxEffects(_, p) => (true, p),
                    _ => continue,
                };
                for argv in parse_cmds(resp) {
                    if argv[0].eq_ignore_ascii_case("SELECT") {
                        continue;
                    }
                    out.push(Entry { shard, tx, argv });
                }
            }
        }
    }
    out
}

/// A run of RESP arrays of bulk strings, as text.
fn parse_cmds(mut p: &[u8]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while let Some((v, used)) = common::resp::parse(p).expect("RESP") {
        let argv = v.items().expect("an array").iter();
        out.push(
            argv.map(|a| String::from_utf8_lossy(a.bytes().expect("a bulk string")).into_owned())
                .collect(),
        );
        p = &p[used..];
    }
    assert!(p.is_empty(), "a command cut short");
    out
}

/// Every key of every database: its type, its value (collections
/// sorted where they are unordered) and its absolute expiry.
fn state(c: &mut Connection) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
            let value = match t.as_str() {
                "string" => redis::cmd("GET").arg(&k).query::<String>(c).unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .query::<Vec<String>>(c)
                    .unwrap()
                    .join(","),
                "set" => {
                    let mut m: Vec<String> = redis::cmd("SMEMBERS").arg(&k).query(c).unwrap();
                    m.sort();
                    m.join(",")
                }
                "hash" => {
                    let m: BTreeMap<String, String> =
                        redis::cmd("HGETALL").arg(&k).query(c).unwrap();
                    format!("{m:?}")
                }
                "zset" => redis::cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query::<Vec<String>>(c)
                    .unwrap()
                    .join(","),
                other => panic!("unexpected type {other} of {k}"),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(c).unwrap();
            out.insert(format!("{db}/{k}"), format!("{t} {value} @{at}"));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    out
}

/// The commands of `log` that name `key` (as an argument after the
/// name), with `key` written as `as_name` and the arguments no two runs
/// share (SPOP's pick, an absolute expiry time) as `*`.
fn naming(log: &[Entry], key: &str, as_name: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l.argv[1..].iter().any(|a| a == key))
        .map(|l| {
            let name = l.name();
            let mut words = vec![name.clone()];
            for (i, a) in l.argv[1..].iter().enumerate() {
                let word = if a == key {
                    as_name.to_string()
                } else if (name == "SREM" || name == "PEXPIREAT") && i >= 1 {
                    "*".to_string()
                } else {
                    a.clone()
                };
                words.push(word);
            }
            words.join(" ")
        })
        .collect()
}

/// Asserts that every command of `log` naming one of `keys` is in the
/// log of the keys' owner, is a transaction's, and is no key state.
fn assert_commands_on_owners(log: &[Entry], keys: &[&str], cores: usize) {
    for l in log {
        let Some(k) = keys.iter().find(|k| l.argv[1..].iter().any(|a| a == *k)) else {
            continue;
        };
        let name = l.name();
        assert!(
            name != "RESTORE",
            "key state logged where commands could be: {l:?}\n{log:#?}"
        );
        assert_eq!(
            l.shard,
            kevy_rt::shard_of(k.as_bytes(), cores),
            "{l:?} logged off its key's shard"
        );
        assert!(l.tx, "{l:?} is not in a transaction's records");
    }
}

/// A script writing four keys with commands whose logged forms differ
/// from the commands (SPOP, EXPIRE), in two databases.
const MIXED: &str = "\
    redis.call('INCR', KEYS[1]); redis.call('INCRBY', KEYS[1], 5); \
    redis.call('HSET', KEYS[2], 'f', ARGV[1], 'g', 'two'); \
    redis.call('SADD', KEYS[3], 'm1', 'm2', 'm3'); redis.call('SPOP', KEYS[3]); \
    redis.call('LPUSH', KEYS[4], 'x', 'y'); redis.call('RPOP', KEYS[4]); \
    redis.call('EXPIRE', KEYS[2], 1000); \
    redis.call('SELECT', 2); redis.call('SET', KEYS[1], 'in2'); \
    redis.call('SELECT', 0); redis.call('INCR', KEYS[1]); \
    return 1";

/// The same script with its four keys on one shard (it runs there, not
/// by copy) and on several (by copy): each key's commands are logged
/// the same way, on the key's owner.
fn spanning_scripts_log_the_commands_an_inline_run_logs(cores: usize) {
    let mut s = Logged::start("kevy-eff-span", cores);
    let mut c = s.client();
    let one = ["{one}1", "{one}2", "{one}3", "{one}4"];
    let _: i64 = eval(&mut c, MIXED, &one, &["v"]).unwrap();
    // One key on each shard in turn.
    let spread = keys_on_every_shard("span", cores, 4);
    let spread: Vec<&str> = (0..4)
        .map(|i| spread[(i % cores) * 4 + i / cores].as_str())
        .collect();
    let owners: std::collections::BTreeSet<usize> = spread
        .iter()
        .map(|k| kevy_rt::shard_of(k.as_bytes(), cores))
        .collect();
    assert!(owners.len() > 1, "the keys span shards");
    let _: i64 = eval(&mut c, MIXED, &spread, &["v"]).unwrap();
    let log = s.logged();
    for i in 0..4 {
        let name = format!("K{}", i + 1);
        let inline = naming(&log, one[i], &name);
        assert!(!inline.is_empty(), "nothing logged for {}", one[i]);
        assert_eq!(
            naming(&log, spread[i], &name),
            inline,
            "{} by copy vs on one shard",
            spread[i]
        );
    }
    assert_commands_on_owners(&log, &spread, cores);
    s.restart_keeps_state();
}

const GROUP_CLIENTS: usize = 24;
const GROUP_ROUNDS: usize = 40;

/// The same cross-shard script from many connections at once: their
/// transactions join groups, and each member's commands are logged, in
/// the order the members ran.
fn grouped_scripts_log_each_members_commands(cores: usize) {
    let mut s = Logged::start("kevy-eff-group", cores);
    let keys = keys_on_every_shard("grp", cores, 1);
    let (a, b) = (keys[0].clone(), keys[cores - 1].clone());
    let port = s.server.as_ref().expect("running").port;
    let start = Arc::new(Barrier::new(GROUP_CLIENTS));
    let threads: Vec<_> = (0..GROUP_CLIENTS)
        .map(|i| {
            let (start, a, b) = (start.clone(), a.clone(), b.clone());
            thread::spawn(move || {
                let mut c = common::connect(port, IO_TIMEOUT);
                start.wait();
                for r in 0..GROUP_ROUNDS {
                    let member = format!("c{i}r{r}");
                    // Every fifth reaches a key it did not declare: its
                    // attempt in the group is taken back, and it runs
                    // again over the whole keyspace.
                    let undeclared = if (i + r) % 5 == 0 { "grp:u" } else { "" };
                    let _: i64 = eval(
                        &mut c,
                        "redis.call('INCR', KEYS[1]); \
                         if ARGV[2] ~= '' then redis.call('INCR', ARGV[2]) end; \
                         return redis.call('RPUSH', KEYS[2], ARGV[1])",
                        &[&a, &b],
                        &[&member, undeclared],
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let log = s.logged();
    let total = GROUP_CLIENTS * GROUP_ROUNDS;
    let incrs = log
        .iter()
        .filter(|l| l.name() == "INCR" && l.argv[1] == a)
        .count();
    assert_eq!(incrs, total, "one INCR logged per script");
    let reached = (0..GROUP_CLIENTS)
        .flat_map(|i| (0..GROUP_ROUNDS).map(move |r| (i + r) % 5 == 0))
        .filter(|&u| u)
        .count();
    let undeclared = log
        .iter()
        .filter(|l| l.name() == "INCR" && l.argv[1] == "grp:u")
        .count();
    assert_eq!(
        undeclared, reached,
        "one INCR of the undeclared key per run"
    );
    let pushed: Vec<&str> = log
        .iter()
        .filter(|l| l.name() == "RPUSH" && l.argv[1] == b)
        .map(|l| l.argv[2].as_str())
        .collect();
    let mut c = s.client();
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg(&b)
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(list.len(), total);
    assert_eq!(pushed, list, "pushes logged in the order they ran");
    assert_commands_on_owners(&log, &[&a, &b, "grp:u"], cores);
    s.restart_keeps_state();
}

/// A script that reaches an undeclared key of another shard runs again
/// over the whole keyspace: the final run's commands are logged, once,
/// and the attempt that was taken back left nothing.
fn an_escalated_script_logs_its_final_run_as_commands(cores: usize) {
    let mut s = Logged::start("kevy-eff-esc", cores);
    let mut c = s.client();
    let keys = keys_on_every_shard("esc", cores, 2);
    let (a, h, l) = (&keys[0], &keys[2 * cores - 1], &keys[1]);
    // Twice: the second run finds its keys in rounds on a scratch shard
    // that recorded the first's effects.
    for _ in 0..2 {
        let _: i64 = eval(
            &mut c,
            "redis.call('INCR', KEYS[1]); redis.call('HSET', ARGV[1], 'f', 'v'); \
             redis.call('RPUSH', ARGV[2], 'x', 'y'); redis.call('PEXPIRE', ARGV[2], 900000); \
             return redis.call('INCR', KEYS[1])",
            &[a],
            &[h, l],
        )
        .unwrap();
    }
    let log = s.logged();
    let names = |k: &str| -> Vec<String> {
        log.iter()
            .filter(|x| x.argv.get(1).map(String::as_str) == Some(k))
            .map(Entry::name)
            .collect()
    };
    assert_eq!(names(a), ["INCR"; 4], "{log:#?}");
    assert_eq!(names(h), ["HSET", "HSET"], "{log:#?}");
    assert_eq!(
        names(l),
        ["RPUSH", "PEXPIREAT", "RPUSH", "PEXPIREAT"],
        "{log:#?}"
    );
    assert_commands_on_owners(&log, &[a, h, l], cores);
    s.restart_keeps_state();
}

/// A RENAME inside a script between keys of two shards cannot be split:
/// those two shards log the states of the keys written back (RESTORE,
/// DEL), every key of theirs included; a third shard's commands are
/// still logged as commands.
fn a_command_spanning_shards_logs_key_state_on_its_shards_only(cores: usize) {
    let mut s = Logged::start("kevy-eff-rename", cores);
    let mut c = s.client();
    let keys = keys_on_every_shard("ren", cores, 2);
    // src and other on shard 0, dst on shard 1, far on the last shard.
    let (src, other, dst) = (&keys[0], &keys[1], &keys[2]);
    let far = &keys[2 * cores - 1];
    let _: () = redis::cmd("SET").arg(dst).arg("old").query(&mut c).unwrap();
    let _: () = redis::cmd("SET")
        .arg(src)
        .arg("gone")
        .query(&mut c)
        .unwrap();
    let _: i64 = eval(
        &mut c,
        "redis.call('SET', KEYS[1], 'moved'); redis.call('RENAME', KEYS[1], KEYS[2]); \
         redis.call('INCR', KEYS[3]); redis.call('SADD', KEYS[4], 'a', 'b'); return 1",
        &[src, dst, other, far],
        &[],
    )
    .unwrap();
    let log = s.logged();
    let in_tx: Vec<&Entry> = log.iter().filter(|l| l.tx).collect();
    let named = |k: &str| -> Vec<String> {
        in_tx
            .iter()
            .filter(|x| x.argv.get(1).map(String::as_str) == Some(k))
            .map(|x| x.name())
            .collect()
    };
    assert_eq!(named(src), ["DEL"], "{log:#?}");
    assert_eq!(named(dst), ["RESTORE"], "{log:#?}");
    assert_eq!(named(other), ["RESTORE"], "{log:#?}");
    if cores > 2 {
        assert_eq!(named(far), ["SADD"], "{log:#?}");
    } else {
        // The last shard is dst's: it falls back too.
        assert_eq!(named(far), ["RESTORE"], "{log:#?}");
    }
    s.restart_keeps_state();
}

/// MULTI with a script whose keys span shards runs over every shard; the
/// script's commands are logged on their owners, between the block's
/// other commands.
fn a_script_in_a_multi_over_every_shard_logs_commands(cores: usize) {
    let mut s = Logged::start("kevy-eff-multi", cores);
    let mut c = s.client();
    let keys = keys_on_every_shard("mx", cores, 1);
    let (a, b) = (&keys[0], &keys[cores - 1]);
    let (_, _, _): (String, i64, i64) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(a)
        .arg("10")
        .cmd("EVAL")
        .arg("redis.call('INCRBY', KEYS[1], 5); return redis.call('HINCRBY', KEYS[2], 'n', 7)")
        .arg(2)
        .arg(a)
        .arg(b)
        .cmd("INCR")
        .arg(a)
        .query(&mut c)
        .unwrap();
    let log = s.logged();
    let on_a: Vec<String> = log
        .iter()
        .filter(|l| l.argv.get(1) == Some(a))
        .map(Entry::name)
        .collect();
    assert_eq!(on_a, ["SET", "INCRBY", "INCR"], "{log:#?}");
    let on_b: Vec<String> = log
        .iter()
        .filter(|l| l.argv.get(1) == Some(b))
        .map(Entry::name)
        .collect();
    assert_eq!(on_b, ["HINCRBY"], "{log:#?}");
    assert_commands_on_owners(&log, &[a, b], cores);
    s.restart_keeps_state();
}

/// A key whose time passed before a script copies it is deleted (DEL)
/// ahead of the script's commands on its owner, so replaying the log
/// starts the script from no key, as the script did.
fn a_key_expired_when_copied_is_deleted_before_the_commands(cores: usize) {
    let mut s = Logged::start("kevy-eff-exp", cores);
    let mut c = s.client();
    // Three keys of shard 0, then three of each other shard.
    let keys = keys_on_every_shard("exp", cores, 3);
    let (a, b) = (&keys[0], &keys[3 * cores - 1]);
    // A RENAME between shards makes theirs log key states: an expired
    // key's DEL still comes before its RESTORE.
    let (x, z, y) = (&keys[1], &keys[2], &keys[3 * cores - 2]);
    let _: () = redis::cmd("SET").arg(y).arg("live").query(&mut c).unwrap();
    // Found expired only when copied, not by the active cycle.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut c)
        .unwrap();
    for k in [a, b, x] {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg("41")
            .arg("PX")
            .arg(1)
            .query(&mut c)
            .unwrap();
    }
    // Long past their time (without touching them).
    thread::sleep(Duration::from_millis(100));
    let _: i64 = eval(
        &mut c,
        "redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])",
        &[a, b],
        &[],
    )
    .unwrap();
    let log = s.logged();
    for k in [a, b] {
        let after_set: Vec<String> = log
            .iter()
            .filter(|l| l.argv.get(1) == Some(k))
            .map(Entry::name)
            .skip(1)
            .collect();
        // The DEL of the expired copy may be logged with the script's
        // commands or before them, never after.
        assert_eq!(after_set, ["DEL", "INCR"], "{k}: {log:#?}");
    }
    let v: i64 = redis::cmd("GET").arg(a).query(&mut c).unwrap();
    assert_eq!(v, 1);
    let _: i64 = eval(
        &mut c,
        "redis.call('INCR', KEYS[1]); redis.call('RENAME', KEYS[2], KEYS[3]); return 1",
        &[x, y, z],
        &[],
    )
    .unwrap();
    let log = s.logged();
    let after_set: Vec<String> = log
        .iter()
        .filter(|l| l.argv.get(1) == Some(x))
        .map(Entry::name)
        .skip(1)
        .collect();
    assert_eq!(after_set, ["DEL", "RESTORE"], "{x}: {log:#?}");
    s.restart_keeps_state();
}

/// A script's FLUSHDB reaches every key of every shard: no command of
/// the run can be replayed on one shard alone, so every shard logs the
/// states of the keys written back (DEL of each key flushed, RESTORE of
/// each key written after).
fn a_script_over_the_whole_keyspace_logs_key_state(cores: usize) {
    let mut s = Logged::start("kevy-eff-flush", cores);
    let mut c = s.client();
    let keys = keys_on_every_shard("fl", cores, 2);
    for k in &keys {
        let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut c).unwrap();
    }
    let (a, b) = (&keys[0], &keys[2 * cores - 1]);
    let _: i64 = eval(
        &mut c,
        "redis.call('FLUSHDB'); redis.call('INCR', KEYS[1]); \
         redis.call('HSET', KEYS[2], 'f', 'v'); return 1",
        &[a, b],
        &[],
    )
    .unwrap();
    let log = s.logged();
    for k in &keys {
        let in_tx: Vec<String> = log
            .iter()
            .filter(|l| l.tx && l.argv.get(1) == Some(k))
            .map(Entry::name)
            .collect();
        let want = if k == a || k == b { "RESTORE" } else { "DEL" };
        assert_eq!(in_tx, [want], "{k}: {log:#?}");
    }
    s.restart_keeps_state();
}

/// The server is killed (SIGKILL) while many connections run a script
/// over keys of two shards (logged as its commands, each shard its
/// share): after recovery every script is there whole or not at all (the
/// counter on one shard equals the list's length on the other), and
/// every answered one is there.
fn scripts_killed_midway_recover_whole_from_their_commands(cores: usize) {
    let mut s = Logged::start("kevy-eff-kill", cores);
    let keys = keys_on_every_shard("kill", cores, 1);
    let (a, b) = (keys[0].clone(), keys[cores - 1].clone());
    let port = s.server.as_ref().expect("running").port;
    let answered = Arc::new(AtomicI64::new(0));
    let highest = Arc::new(AtomicI64::new(0));
    let start = Arc::new(Barrier::new(GROUP_CLIENTS));
    let threads: Vec<_> = (0..GROUP_CLIENTS)
        .map(|_| {
            let (start, a, b) = (start.clone(), a.clone(), b.clone());
            let (done, top) = (answered.clone(), highest.clone());
            thread::spawn(move || {
                let mut c = common::connect(port, IO_TIMEOUT);
                start.wait();
                // Until the server is gone.
                while let Ok(n) = eval::<i64>(
                    &mut c,
                    "redis.call('RPUSH', KEYS[2], 'x'); \
                     return redis.call('INCR', KEYS[1])",
                    &[&a, &b],
                    &[],
                ) {
                    top.fetch_max(n, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let enough = (GROUP_CLIENTS * GROUP_ROUNDS / 2) as i64;
    let mut spins = 0;
    while answered.load(Ordering::SeqCst) < enough {
        spins += 1;
        assert!(spins < 60_000, "the scripts made no progress");
        thread::sleep(Duration::from_millis(5));
    }
    s.restart();
    for t in threads {
        t.join().expect("client");
    }
    let mut c = s.client();
    let n: i64 = redis::cmd("GET").arg(&a).query(&mut c).unwrap();
    let len: i64 = redis::cmd("LLEN").arg(&b).query(&mut c).unwrap();
    assert_eq!(n, len, "a script half applied after recovery");
    let top = highest.load(Ordering::SeqCst);
    assert!(n >= top, "answered {top}, recovered {n}");
    let log = s.logged();
    assert!(log.iter().any(|l| l.name() == "INCR" && l.argv[1] == a));
    assert_commands_on_owners(&log, &[&a, &b], cores);
    s.restart_keeps_state();
}
