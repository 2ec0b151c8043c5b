//! The kill -9 crash test (kevy_benches::crash, also `scripts/crash.sh`) in
//! its short form: writers on many connections and shards, the server
//! killed with SIGKILL at random moments and restarted on its data, and
//! every acknowledged write checked. Against kevy once it takes
//! `--appendonly yes`; against redis-server always, which checks the
//! harness itself, together with a server that loses writes and must fail.

mod common;

use common::{have_program, kevy_bin, skip_redis_tools, TempDir};
use kevy_benches::crash::{run, Config, Fsync};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A few short rounds with fewer writers than the long form.
fn short(server: &str, rounds: usize) -> Config {
    let mut c = Config::new(server);
    c.rounds = rounds;
    c.writers = 4;
    c.keys = 8;
    c.tx_writers = 2;
    c.rate = 3000;
    c.kill_after_ms = (100, 600);
    c.seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    c
}

/// Whether kevy-server starts with `--appendonly yes`: it refuses
/// parameters it does not implement at startup, before it listens, so a
/// server still running after a moment took it.
fn kevy_has_appendonly() -> bool {
    let dir = TempDir::new("crash-probe");
    let log = dir.path().join("out");
    let out = std::fs::File::create(&log).expect("create log");
    let mut child = Command::new(kevy_bin())
        .args(["--port", &common::free_port().to_string()])
        .args(["--bind", "127.0.0.1", "--appendonly", "yes"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .expect("run kevy-server");
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait kevy-server") {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                output.contains("'--appendonly yes' is not supported by kevy"),
                "kevy-server --appendonly yes exited ({status}) for another reason:\n{output}"
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

fn redis_missing() -> bool {
    if skip_redis_tools() || !have_program("redis-server") {
        eprintln!("skipped: redis-server is not on PATH (or KEVY_SKIP_DIFF=1)");
        return true;
    }
    false
}

#[test]
fn kevy_keeps_every_acknowledged_write_across_kill_9() {
    if !kevy_has_appendonly() {
        eprintln!("skipped: kevy-server does not support --appendonly yes yet");
        return;
    }
    let mut c = short(kevy_bin(), 5);
    // Every restart on another core count, so every round also checks
    // that a log written by one shard layout loads into another.
    c.cores = vec![1, 2, 3];
    let sum = run(&c).expect("crash test runs");
    assert!(sum.passed, "kevy failed the crash test: {:?}", sum.failures);
    assert_eq!(sum.rounds, 5);
}

#[test]
fn redis_server_with_appendfsync_always_passes_the_crash_test() {
    if redis_missing() {
        return;
    }
    let c = short("redis-server", 3);
    let sum = run(&c).expect("crash test runs");
    assert!(sum.passed, "redis-server failed: {:?}", sum.failures);
    assert_eq!((sum.rounds, sum.lost), (3, 0));
    assert!(sum.acked > 0);
}

#[test]
fn a_server_that_loses_acknowledged_writes_fails_the_crash_test() {
    if redis_missing() {
        return;
    }
    // redis-server takes the last of repeated options: no log at all.
    let mut c = short("redis-server", 3);
    c.server_args = vec!["--appendonly".into(), "no".into()];
    // A failing run keeps its directory; this one is expected to fail.
    let dir = TempDir::new("crash-lossy");
    c.dir = Some(dir.path().join("run"));
    assert_eq!(c.fsync, Fsync::Always);
    let sum = run(&c).expect("crash test runs");
    assert!(!sum.passed, "a server without a log passed");
    assert_eq!(sum.rounds, 1, "the first round should fail");
    assert!(sum.lost > 0 && sum.lost == sum.acked, "{sum:?}");
}
