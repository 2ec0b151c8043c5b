//! Helpers shared by kevy-server's integration tests: start a server process
//! (kevy-server or a reference redis-server) on a free port, wait until it
//! answers PING, and kill it when the handle drops.
//!
//! Each test binary compiles its own copy of this module and uses a
//! different part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod resp;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take from spawn to answering PING.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The kevy-server binary cargo built for this test run.
pub fn kevy_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kevy-server")
}

/// Env var that skips everything needing redis-server / redis-cli.
pub const SKIP_ENV: &str = "KEVY_SKIP_DIFF";

pub fn skip_redis_tools() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// Whether `program` can be found on PATH.
pub fn have_program(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Panics with an install hint unless `program` is on PATH.
pub fn require_program(program: &str) {
    assert!(
        have_program(program),
        "`{program}` is not on PATH. Install it with \
         `apt-get install -y redis-server redis-tools`, or set {SKIP_ENV}=1 to skip \
         the tests that need it."
    );
}

/// A port nobody listens on right now. Another process may take it before
/// we use it; `Server::spawn` retries on "address in use" for that reason.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "kevy-test-{tag}-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running server process. Killed (SIGKILL) on drop.
pub struct Server {
    pub name: String,
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Server {
    /// Starts kevy-server on a free port with extra `args`, panicking with
    /// the server's output if it does not come up.
    pub fn kevy(args: &[&str]) -> Server {
        Server::try_kevy(args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_kevy(args: &[&str]) -> Result<Server, String> {
        let name = format!("kevy-server {}", args.join(" "));
        Server::spawn(&name, kevy_bin(), |port| {
            let mut v = vec![
                "--port".to_string(),
                port.to_string(),
                "--bind".to_string(),
                "127.0.0.1".to_string(),
            ];
            v.extend(args.iter().map(|s| s.to_string()));
            v
        })
    }

    /// Starts a reference redis-server with persistence off.
    pub fn redis(name: &str) -> Result<Server, String> {
        Server::redis_in(name, None)
    }

    /// Starts a reference redis-server with persistence off, its files
    /// (SAVE's `dump.rdb`, the one it loads at start-up) in `dir` when given.
    pub fn redis_in(name: &str, dir: Option<&Path>) -> Result<Server, String> {
        Server::redis_with(name, dir, &[])
    }

    /// [`Server::redis_in`] with more redis-server arguments after the
    /// defaults (`--enable-debug-command yes`).
    pub fn redis_with(name: &str, dir: Option<&Path>, extra: &[&str]) -> Result<Server, String> {
        if !have_program("redis-server") {
            return Err(format!(
                "redis-server is not on PATH. Install it with \
                 `apt-get install -y redis-server redis-tools`, or set {SKIP_ENV}=1 to skip."
            ));
        }
        Server::spawn(name, "redis-server", |port| {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(
                dir.into_iter()
                    .flat_map(|d| ["--dir".to_string(), d.display().to_string()]),
            )
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
        })
    }

    /// Spawns `program` with the args `args(port)` for a free port, retrying
    /// on a new port when the first one was taken in the meantime.
    pub fn spawn(
        name: &str,
        program: &str,
        args: impl Fn(u16) -> Vec<String>,
    ) -> Result<Server, String> {
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let dir = TempDir::new("server");
            let log = dir.path().join("server.log");
            let out = File::create(&log).map_err(|e| format!("create log: {e}"))?;
            let err = out.try_clone().map_err(|e| format!("clone log: {e}"))?;
            let port = free_port();
            let child = Command::new(program)
                .args(args(port))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("{name}: cannot run `{program}`: {e}"))?;
            let mut server = Server {
                name: name.to_string(),
                port,
                child,
                log,
                _dir: dir,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let output = server.output();
                    last_err = format!("{e}\n--- {name} output ---\n{output}");
                    if !output.to_lowercase().contains("in use") {
                        break;
                    }
                }
            }
        }
        Err(last_err)
    }

    /// Waits until the server answers PING, or fails when it exits or
    /// `READY_TIMEOUT` passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before accepting connections on port {}",
                    self.name, self.port
                ));
            }
            // What answers must be this process: another test's server may
            // hold the port (two free_port() calls can return the same
            // one), and this one then fails to bind a moment later.
            if ping(self.port) && listens(self.child.id(), self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer PING on port {} within {READY_TIMEOUT:?}",
                    self.name, self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
        wait_timeout(&mut self.child, timeout)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` to exit, up to `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `scenario` (what a client saw of a server, given its port) on a
/// redis-server, unless redis tools are skipped, and on kevy with each of
/// `cores` shards, and asserts that kevy saw what Redis did, item by item.
/// Returns kevy's runs, in `cores` order.
pub fn same_as_redis(
    name: &str,
    cores: &[&str],
    scenario: impl Fn(u16) -> Vec<Vec<u8>>,
) -> Vec<Vec<Vec<u8>>> {
    let want = if skip_redis_tools() {
        None
    } else {
        let redis = Server::redis(name).unwrap_or_else(|e| panic!("{e}"));
        Some(scenario(redis.port))
    };
    let mut runs = Vec::new();
    for n in cores {
        let kevy = Server::kevy(&["--cores", n, "--save", ""]);
        let got = scenario(kevy.port);
        if let Some(want) = &want {
            assert_eq!(got.len(), want.len(), "--cores {n}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(
                    String::from_utf8_lossy(g),
                    String::from_utf8_lossy(w),
                    "--cores {n}"
                );
            }
        }
        runs.push(got);
    }
    runs
}

/// Whether process `pid` holds a socket listening on TCP `port` (from
/// /proc: the socket inodes among its descriptors, and the listening
/// sockets of /proc/net/tcp and tcp6). True where /proc cannot tell.
pub fn listens(pid: u32, port: u16) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    let mine: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        fs::read_to_string(table).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // local_address, state 0A (LISTEN), inode.
                f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A" && mine.contains(f[9])
            })
        })
    })
}

/// True when something on `port` answers a RESP PING with +PONG (or asks
/// for a password first: a server started with `requirepass`).
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
}

/// A `redis` crate connection to `port`; `timeout` bounds connecting,
/// each read and each write.
pub fn connect(port: u16, timeout: Duration) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let con = c.get_connection_with_timeout(timeout).expect("connect");
    con.set_read_timeout(Some(timeout)).expect("read timeout");
    con.set_write_timeout(Some(timeout)).expect("write timeout");
    con
}

/// kevy-server with `cores` shards in `dir`, no save points, and every
/// write in the append-only log before it is answered (`appendfsync
/// always`); `extra` are more options.
pub fn kevy_logged(dir: &Path, cores: impl std::fmt::Display, extra: &[&str]) -> Server {
    let d = dir.to_str().expect("utf-8 dir");
    let cores = cores.to_string();
    let mut args = vec![
        "--cores",
        &cores,
        "--dir",
        d,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    args.extend_from_slice(extra);
    Server::kevy(&args)
}

/// kevy-server with `cores` shards and no save points.
pub fn kevy_cores(cores: usize) -> Server {
    let cores = cores.to_string();
    Server::kevy(&["--cores", &cores, "--save", ""])
}

/// Items `i000000`.. of `items` that are neither read (`seen`) nor in
/// place (`left`): on their way back to their key, or lost.
pub fn items_missing(
    seen: &std::collections::BTreeMap<String, u32>,
    left: &[String],
    items: usize,
) -> usize {
    let left: std::collections::HashSet<&str> = left.iter().map(String::as_str).collect();
    (0..items)
        .map(|i| format!("i{i:06}"))
        .filter(|i| !seen.contains_key(i) && !left.contains(i.as_str()))
        .count()
}

/// What `read_left` reads of the keys once every item is read (`seen`) or
/// back in place, waiting up to 10 s for that, then 100 ms more for
/// anything else on its way: an item served to a client that hung up goes
/// back to its key one hop after the last reply, and a loaded machine may
/// take its time over the hop. A lost item is still missing after the
/// wait, for [`assert_each_item_once`] to report.
pub fn left_once_settled(
    seen: &std::sync::Mutex<std::collections::BTreeMap<String, u32>>,
    items: usize,
    mut read_left: impl FnMut() -> Vec<String>,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while items_missing(&seen.lock().unwrap(), &read_left(), items) > 0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    read_left()
}

/// Checks that items `i000000`.. of `items` were each read once (`seen`:
/// item → times read) or left in place (`left`), none twice, none lost.
pub fn assert_each_item_once(
    seen: &std::collections::BTreeMap<String, u32>,
    left: &[String],
    items: usize,
    seed: u64,
) {
    let twice: Vec<_> = seen.iter().filter(|(_, &c)| c > 1).collect();
    assert!(twice.is_empty(), "read twice (seed {seed}): {twice:?}");
    let mut all: Vec<String> = seen.keys().cloned().collect();
    all.extend(left.iter().cloned());
    all.sort();
    let want: Vec<String> = (0..items).map(|i| format!("i{i:06}")).collect();
    let lost: Vec<_> = want
        .iter()
        .filter(|i| all.binary_search(i).is_err())
        .collect();
    assert!(lost.is_empty(), "lost (seed {seed}): {lost:?}");
    assert_eq!(all, want, "read or left, each once (seed {seed})");
}

/// EVAL of `script` with `keys` and `args`, through the `redis` crate.
pub fn eval<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    script: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    for a in args {
        cmd.arg(*a);
    }
    cmd.query(c)
}

/// `per` keys owned by each of `n` shards, named `{prefix}{i}`.
pub fn keys_on_every_shard(prefix: &str, n: usize, per: usize) -> Vec<String> {
    let mut found = vec![Vec::new(); n];
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let s = kevy_rt::shard_of(k.as_bytes(), n);
        if found[s].len() < per {
            found[s].push(k);
        }
        if found.iter().all(|f| f.len() == per) {
            break;
        }
    }
    found.into_iter().flatten().collect()
}

/// A module per scenario function with a test per shard count:
/// `layouts!([2, 3]: counters, locks)` makes `counters::cores_2`, which
/// calls `counters(2)`, and so on.
#[macro_export]
macro_rules! layouts {
    ($cores:tt: $($name:ident),* $(,)?) => {$(
        $crate::layout_mod!($name, $cores);
    )*};
}

/// The module of one scenario of [`layouts!`].
#[macro_export]
macro_rules! layout_mod {
    ($name:ident, [$($cores:tt),*]) => {
        mod $name {
            $( $crate::layout_test!($name, $cores); )*
        }
    };
}

/// One test of [`layouts!`].
#[macro_export]
macro_rules! layout_test {
    ($name:ident, 1) => {
        #[test]
        fn cores_1() {
            super::$name(1);
        }
    };
    ($name:ident, 2) => {
        #[test]
        fn cores_2() {
            super::$name(2);
        }
    };
    ($name:ident, 3) => {
        #[test]
        fn cores_3() {
            super::$name(3);
        }
    };
}
