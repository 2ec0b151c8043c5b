//! The kill -9 crash test behind the `crashtest` binary and kevy-server's
//! crash test: writers pipeline deterministic writes into a server running
//! with an append-only log, the server gets SIGKILL at a random moment and
//! is restarted on the same directory, and every key is checked against
//! what the writers were told.
//!
//! The one idea: every write to a key is the n-th write to that key, and
//! its effect encodes n (INCR counts to n, SET stores "n:…", RPUSH appends
//! n, SADD adds n), so any stored state reads back as one number per key.
//! For each key the writers know `acked` (the highest n the server
//! acknowledged) and `sent` (the highest n written to the socket). A stored
//! n above `sent`, or a state no prefix of the writes produces, is
//! corruption; below `acked` it is the loss of acknowledged writes, which
//! `appendfsync always` forbids and `everysec` bounds by time. Transaction
//! writers do the same with a generation number written to K keys at once
//! (MULTI/EXEC or MSET): after the restart the K keys must agree.
//!
//! The next round continues from the state read back, so the data of every
//! earlier round stays under test too.

use crate::resp::{command, parse, Value};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `appendfsync` of the server under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn parse(s: &str) -> Option<Fsync> {
        match s {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::Everysec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// A background job kept running in the moments before the kill.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum During {
    None,
    Bgsave,
    Bgrewriteaof,
}

impl During {
    pub fn parse(s: &str) -> Option<During> {
        match s {
            "none" => Some(During::None),
            "bgsave" => Some(During::Bgsave),
            "bgrewriteaof" => Some(During::Bgrewriteaof),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            During::None => "none",
            During::Bgsave => "bgsave",
            During::Bgrewriteaof => "bgrewriteaof",
        }
    }

    fn command(self) -> &'static [u8] {
        match self {
            During::None => b"",
            During::Bgsave => b"BGSAVE",
            During::Bgrewriteaof => b"BGREWRITEAOF",
        }
    }

    /// The INFO persistence field that is 1 while the job runs.
    fn info_field(self) -> &'static str {
        match self {
            During::None => "",
            During::Bgsave => "rdb_bgsave_in_progress:",
            During::Bgrewriteaof => "aof_rewrite_in_progress:",
        }
    }
}

/// Everything a run needs; `Config::new` gives the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server binary (kevy-server or redis-server).
    pub server: PathBuf,
    /// Appended to the server's command line.
    pub server_args: Vec<String>,
    pub rounds: usize,
    pub fsync: Fsync,
    pub during: During,
    /// `--cores` of successive starts, cycled; empty: no `--cores`.
    pub cores: Vec<usize>,
    /// Writers of single-key commands, one connection each.
    pub writers: usize,
    /// Keys per kind (INCR, SET, RPUSH, SADD) per writer.
    pub keys: usize,
    /// Commands per pipelined batch of a writer.
    pub batch: usize,
    /// SET value padding, bytes.
    pub value_size: usize,
    /// Transaction writers, one connection and one group each.
    pub tx_writers: usize,
    /// Keys per transaction group.
    pub group_keys: usize,
    /// Transactions per pipelined batch.
    pub tx_batch: usize,
    /// Commands per second per writer (transactions for a transaction
    /// writer), 0 for no limit. Bounds how far lists, sets and the log grow.
    pub rate: u64,
    /// The kill comes this many ms after the writers start: uniform in
    /// [min, max].
    pub kill_after_ms: (u64, u64),
    /// With `during`: the job is started this many ms before the kill at
    /// most (uniform in [0, window]), and started again while it is not
    /// running.
    pub during_window_ms: u64,
    /// Keys `f:<i>` of `fill_size` bytes set before the first round, to
    /// give snapshots and rewrites something to chew on; checked each round.
    pub fill: usize,
    pub fill_size: usize,
    /// Under everysec: acknowledged writes may be lost if all of them were
    /// acknowledged at most this long before the kill.
    pub max_loss_ms: u64,
    pub seed: u64,
    /// Directory for the data and the server's log; a fresh temporary one
    /// if None.
    pub dir: Option<PathBuf>,
    /// Keep the directory after a passing run (a failing run always keeps
    /// it).
    pub keep: bool,
    /// How long a start may take until PING answers (loading included).
    pub ready_timeout: Duration,
}

impl Config {
    pub fn new(server: impl Into<PathBuf>) -> Config {
        Config {
            server: server.into(),
            server_args: Vec::new(),
            rounds: 100,
            fsync: Fsync::Always,
            during: During::None,
            cores: Vec::new(),
            writers: 8,
            keys: 16,
            batch: 16,
            value_size: 32,
            tx_writers: 4,
            group_keys: 8,
            tx_batch: 4,
            rate: 5000,
            kill_after_ms: (100, 1000),
            during_window_ms: 300,
            fill: 0,
            fill_size: 100,
            max_loss_ms: 2000,
            seed: 1,
            dir: None,
            keep: false,
            ready_timeout: Duration::from_secs(120),
        }
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Summary {
    pub passed: bool,
    pub rounds: usize,
    /// Writes (commands or transactions) acknowledged over all rounds.
    pub acked: u64,
    /// Acknowledged writes missing after a restart.
    pub lost: u64,
    /// The longest time from the ack of a lost write to the kill.
    pub max_loss_window: Duration,
    /// Rounds whose kill found the background job running.
    pub killed_during_job: usize,
    /// The slowest restart until PING answered.
    pub max_restart: Duration,
    /// What failed, when `passed` is false.
    pub failures: Vec<String>,
}

// ------------------------------------------------------------- random

/// splitmix64: a seedable stream, good enough for delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi].
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }
}

// ------------------------------------------------------------- server

/// A server process on the test directory.
struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `n` lines of the log, for error messages.
fn log_tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Server {
    /// Starts the server on `data` with `cores` (if any) and waits until
    /// PING answers PONG; returns it and how long that took.
    fn start(
        cfg: &Config,
        data: &Path,
        log: &Path,
        cores: Option<usize>,
    ) -> Result<(Server, Duration), String> {
        let mut last = String::new();
        // A port picked free may be taken before the server binds it; a
        // new port is tried then.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                &data.display().to_string(),
                "--appendonly",
                "yes",
                "--appendfsync",
                cfg.fsync.name(),
                "--save",
                "",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if let Some(c) = cores {
                args.push("--cores".into());
                args.push(c.to_string());
            }
            args.extend(cfg.server_args.iter().cloned());
            let out = File::options()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| format!("open {}: {e}", log.display()))?;
            let err = out.try_clone().map_err(|e| format!("dup log: {e}"))?;
            let t0 = Instant::now();
            let child = Command::new(&cfg.server)
                .args(&args)
                .current_dir(data)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", cfg.server.display()))?;
            let mut s = Server { child, port };
            match s.wait_ready(cfg.ready_timeout) {
                Ok(()) => return Ok((s, t0.elapsed())),
                Err(e) => {
                    s.kill();
                    let tail = log_tail(log, 15);
                    last = format!("{e}; log {}:\n{tail}", log.display());
                    if !tail.contains("in use") {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// PING until PONG; -LOADING and refused connections mean "not yet".
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("the server exited ({st}) during startup"));
            }
            if let Ok(mut c) = Conn::connect(self.port) {
                match c.call(&[b"PING"]) {
                    Ok(Reply::Simple(s)) if s == "PONG" => return Ok(()),
                    Ok(Reply::Error(e)) if e.starts_with("LOADING") => {}
                    Ok(other) => return Err(format!("PING answered {other:?}")),
                    Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("no PONG within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        // Child::kill sends SIGKILL.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// --------------------------------------------------------- connection

/// An owned reply, for the few places that keep one.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn from(v: &Value<'_>) -> Reply {
        match v {
            Value::Simple(s) => Reply::Simple(String::from_utf8_lossy(s).into_owned()),
            Value::Error(s) => Reply::Error(String::from_utf8_lossy(s).into_owned()),
            Value::Int(n) => Reply::Int(*n),
            Value::Bulk(b) => Reply::Bulk(b.map(<[u8]>::to_vec)),
            Value::Array(a) => Reply::Array(
                a.as_ref()
                    .map(|items| items.iter().map(Reply::from).collect()),
            ),
        }
    }
}

/// A blocking connection with a read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

/// A server that stops answering for this long is hung, not killed.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    fn connect(port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(64 << 10),
            start: 0,
        })
    }

    fn send(&mut self, out: &[u8]) -> io::Result<()> {
        self.stream.write_all(out)
    }

    /// Reads the next reply and hands it to `f`.
    fn next<T>(&mut self, f: impl FnOnce(&Value<'_>) -> T) -> io::Result<T> {
        loop {
            match parse(&self.buf[self.start..]) {
                Ok(Some((v, used))) => {
                    let t = f(&v);
                    self.start += used;
                    return Ok(t);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(ErrorKind::InvalidData, e.0));
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let len = self.buf.len();
            self.buf.resize(len + (64 << 10), 0);
            match self.stream.read(&mut self.buf[len..]) {
                Ok(0) => {
                    self.buf.truncate(len);
                    return Err(ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => self.buf.truncate(len + n),
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e);
                }
            }
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut out = Vec::new();
        command(&mut out, args);
        self.send(&out)?;
        self.next(Reply::from)
    }
}

// ------------------------------------------------------------ writers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Incr,
    Set,
    Rpush,
    Sadd,
}

const KINDS: [Kind; 4] = [Kind::Incr, Kind::Set, Kind::Rpush, Kind::Sadd];

/// One key of a writer, or one transaction group: the writes it got.
#[derive(Debug)]
struct Track {
    /// The highest n written to the socket.
    sent: u64,
    /// The highest n acknowledged.
    acked: u64,
    /// n as verified after the last restart (0 before the first).
    base: u64,
    /// When writes base+1, base+2, … were acknowledged.
    acks: Vec<Instant>,
}

impl Track {
    fn new() -> Track {
        Track {
            sent: 0,
            acked: 0,
            base: 0,
            acks: Vec::new(),
        }
    }

    fn ack(&mut self, n: u64, at: Instant) -> Result<(), String> {
        if n != self.acked + 1 {
            return Err(format!("ack of write {n} after write {}", self.acked));
        }
        self.acked = n;
        self.acks.push(at);
        Ok(())
    }

    /// Continues from `n` read back after a restart.
    fn reset(&mut self, n: u64) {
        self.sent = n;
        self.acked = n;
        self.base = n;
        self.acks.clear();
    }
}

struct Key {
    name: String,
    kind: Kind,
    t: Track,
}

/// A transaction group: `group_keys` keys that always carry the same
/// generation, and a counter of the MULTI blocks among the generations.
struct Group {
    keys: Vec<String>,
    counter: String,
    t: Track,
}

/// MULTI blocks write the odd generations, MSETs the even ones, so the
/// counter INCRed by each MULTI block is (gen + 1) / 2 at generation gen.
fn multis_upto(gen: u64) -> u64 {
    gen.div_ceil(2)
}

/// What one writer does: single-key writes to its keys, or transactions
/// on its group.
enum Work {
    Keys { keys: Vec<Key>, next: usize },
    Group(Group),
}

struct Writer {
    id: String,
    work: Work,
    /// Why the connection ended in the last round, and when.
    ended: Option<(Instant, String)>,
    /// A reply no correct server gives; fails the run.
    bad: Option<String>,
}

/// The reply one pipelined command must get.
enum Expect {
    /// A single-key write: the key's index and n.
    Write(usize, u64),
    Ok,
    Queued,
    /// EXEC or MSET of generation n.
    Exec(u64),
    Mset(u64),
}

fn value_of(n: u64, pad: usize) -> String {
    let mut v = format!("{n}:");
    v.push_str(&"x".repeat(pad));
    v
}

impl Writer {
    fn keys(w: usize, per_kind: usize) -> Writer {
        let mut keys = Vec::new();
        for j in 0..per_kind {
            for kind in KINDS {
                let p = match kind {
                    Kind::Incr => "c",
                    Kind::Set => "s",
                    Kind::Rpush => "l",
                    Kind::Sadd => "z",
                };
                keys.push(Key {
                    name: format!("{p}:{w}:{j}"),
                    kind,
                    t: Track::new(),
                });
            }
        }
        Writer {
            id: format!("writer {w}"),
            work: Work::Keys { keys, next: 0 },
            ended: None,
            bad: None,
        }
    }

    fn group(g: usize, size: usize) -> Writer {
        Writer {
            id: format!("tx writer {g}"),
            work: Work::Group(Group {
                keys: (0..size).map(|i| format!("g:{g}:{i}")).collect(),
                counter: format!("gc:{g}"),
                t: Track::new(),
            }),
            ended: None,
            bad: None,
        }
    }

    /// Writes until the connection ends (the kill) or `stop` is set.
    fn run(&mut self, cfg: &Config, port: u16, stop: &AtomicBool) {
        self.ended = None;
        let why = match self.write_loop(cfg, port, stop) {
            Ok(()) => "stopped".to_string(),
            Err(e) => e.to_string(),
        };
        self.ended = Some((Instant::now(), why));
    }

    fn write_loop(&mut self, cfg: &Config, port: u16, stop: &AtomicBool) -> io::Result<()> {
        let mut conn = Conn::connect(port)?;
        let mut out = Vec::with_capacity(16 << 10);
        let mut expect = Vec::new();
        let start = Instant::now();
        let mut done: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            out.clear();
            expect.clear();
            let ops = self.fill_batch(cfg, &mut out, &mut expect);
            conn.send(&out)?;
            for e in &expect {
                let bad = conn.next(|v| self.check(e, v))?;
                if let Err(msg) = bad {
                    self.bad = Some(msg);
                    return Ok(());
                }
            }
            done += ops;
            if cfg.rate > 0 {
                let due = start + Duration::from_secs_f64(done as f64 / cfg.rate as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        Ok(())
    }

    /// Appends the next batch of commands; returns how many writes it
    /// holds.
    fn fill_batch(&mut self, cfg: &Config, out: &mut Vec<u8>, expect: &mut Vec<Expect>) -> u64 {
        match &mut self.work {
            Work::Keys { keys, next } => {
                for _ in 0..cfg.batch {
                    let i = *next % keys.len();
                    *next += 1;
                    let k = &mut keys[i];
                    k.t.sent += 1;
                    let n = k.t.sent.to_string();
                    let name = k.name.as_bytes();
                    match k.kind {
                        Kind::Incr => command(out, &[b"INCR", name]),
                        Kind::Set => {
                            let v = value_of(k.t.sent, cfg.value_size);
                            command(out, &[b"SET", name, v.as_bytes()]);
                        }
                        Kind::Rpush => command(out, &[b"RPUSH", name, n.as_bytes()]),
                        Kind::Sadd => command(out, &[b"SADD", name, n.as_bytes()]),
                    }
                    expect.push(Expect::Write(i, k.t.sent));
                }
                cfg.batch as u64
            }
            Work::Group(g) => {
                for _ in 0..cfg.tx_batch {
                    g.t.sent += 1;
                    let gen = g.t.sent;
                    let v = gen.to_string();
                    if gen % 2 == 1 {
                        command(out, &[b"MULTI"]);
                        expect.push(Expect::Ok);
                        for k in &g.keys {
                            command(out, &[b"SET", k.as_bytes(), v.as_bytes()]);
                            expect.push(Expect::Queued);
                        }
                        command(out, &[b"INCR", g.counter.as_bytes()]);
                        expect.push(Expect::Queued);
                        command(out, &[b"EXEC"]);
                        expect.push(Expect::Exec(gen));
                    } else {
                        let mut args: Vec<&[u8]> = vec![b"MSET"];
                        for k in &g.keys {
                            args.push(k.as_bytes());
                            args.push(v.as_bytes());
                        }
                        command(out, &args);
                        expect.push(Expect::Mset(gen));
                    }
                }
                cfg.tx_batch as u64
            }
        }
    }

    /// Checks one reply and records the acknowledgement it carries.
    fn check(&mut self, e: &Expect, v: &Value<'_>) -> Result<(), String> {
        let now = Instant::now();
        let ok = |v: &Value<'_>| *v == Value::Simple(b"OK");
        match (e, &mut self.work) {
            (Expect::Write(i, n), Work::Keys { keys, .. }) => {
                let k = &mut keys[*i];
                let good = match k.kind {
                    Kind::Incr | Kind::Rpush => *v == Value::Int(*n as i64),
                    Kind::Set => ok(v),
                    Kind::Sadd => *v == Value::Int(1),
                };
                if !good {
                    return Err(format!("{:?} {} (write {n}) got {v}", k.kind, k.name));
                }
                k.t.ack(*n, now)
            }
            (Expect::Ok, _) if ok(v) => Ok(()),
            (Expect::Queued, _) if *v == Value::Simple(b"QUEUED") => Ok(()),
            (Expect::Exec(gen), Work::Group(g)) => {
                let good = match v {
                    Value::Array(Some(items)) => {
                        items.len() == g.keys.len() + 1
                            && items[..g.keys.len()].iter().all(ok)
                            && items[g.keys.len()] == Value::Int(multis_upto(*gen) as i64)
                    }
                    _ => false,
                };
                if !good {
                    return Err(format!("EXEC of generation {gen} got {v}"));
                }
                g.t.ack(*gen, now)
            }
            (Expect::Mset(gen), Work::Group(g)) if ok(v) => g.t.ack(*gen, now),
            (Expect::Mset(gen), _) => Err(format!("MSET of generation {gen} got {v}")),
            (Expect::Ok, _) => Err(format!("MULTI got {v}")),
            (Expect::Queued, _) => Err(format!("a queued command got {v}")),
            _ => Err("reply for the wrong kind of writer".into()),
        }
    }

    fn tracks(&self) -> Vec<&Track> {
        match &self.work {
            Work::Keys { keys, .. } => keys.iter().map(|k| &k.t).collect(),
            Work::Group(g) => vec![&g.t],
        }
    }
}

// ---------------------------------------------------------- verifying

/// The pipelined reads of a writer's state, in the order `read_back`
/// consumes their replies.
fn read_commands(w: &Writer, out: &mut Vec<u8>) {
    match &w.work {
        Work::Keys { keys, .. } => {
            for k in keys {
                let name = k.name.as_bytes();
                match k.kind {
                    Kind::Incr | Kind::Set => command(out, &[b"GET", name]),
                    Kind::Rpush => command(out, &[b"LRANGE", name, b"0", b"-1"]),
                    Kind::Sadd => command(out, &[b"SMEMBERS", name]),
                }
            }
        }
        Work::Group(g) => {
            let mut args: Vec<&[u8]> = vec![b"MGET"];
            args.extend(g.keys.iter().map(|k| k.as_bytes()));
            command(out, &args);
            command(out, &[b"GET", g.counter.as_bytes()]);
        }
    }
}

fn bulk_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The n a stored value stands for, or why it stands for none.
fn stored_n(kind: Kind, v: &Value<'_>, pad: usize) -> Result<u64, String> {
    match (kind, v) {
        (Kind::Incr | Kind::Set, Value::Bulk(None)) => Ok(0),
        (Kind::Incr, Value::Bulk(Some(b))) => bulk_u64(b).ok_or_else(|| format!("value {v}")),
        (Kind::Set, Value::Bulk(Some(b))) => {
            let s = std::str::from_utf8(b).map_err(|_| format!("value {v}"))?;
            let (n, rest) = s.split_once(':').ok_or_else(|| format!("value {v}"))?;
            let n: u64 = n.parse().map_err(|_| format!("value {v}"))?;
            if rest.len() != pad || rest.bytes().any(|c| c != b'x') {
                return Err(format!("value {v}"));
            }
            Ok(n)
        }
        (Kind::Rpush, Value::Array(Some(items))) => {
            for (i, item) in items.iter().enumerate() {
                let want = (i + 1).to_string();
                if *item != Value::Bulk(Some(want.as_bytes())) {
                    return Err(format!("list item {i} is {item}, not {want}"));
                }
            }
            Ok(items.len() as u64)
        }
        (Kind::Sadd, Value::Array(Some(items))) => {
            let mut ns = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Bulk(Some(b)) => {
                        ns.push(bulk_u64(b).ok_or_else(|| format!("set member {item}"))?)
                    }
                    _ => return Err(format!("set member {item}")),
                }
            }
            ns.sort_unstable();
            if ns.iter().enumerate().any(|(i, &n)| n != i as u64 + 1) {
                return Err(format!(
                    "set of {} members is not 1..{}",
                    ns.len(),
                    ns.len()
                ));
            }
            Ok(ns.len() as u64)
        }
        _ => Err(format!("reply {v}")),
    }
}

/// The generation a group's stored keys and counter stand for.
fn stored_gen(g: &Group, keys: &Value<'_>, counter: &Value<'_>) -> Result<u64, String> {
    let Value::Array(Some(items)) = keys else {
        return Err(format!("MGET got {keys}"));
    };
    let mut gens = Vec::with_capacity(items.len());
    for item in items {
        gens.push(match item {
            Value::Bulk(None) => 0,
            Value::Bulk(Some(b)) => bulk_u64(b).ok_or_else(|| format!("group value {item}"))?,
            _ => return Err(format!("group value {item}")),
        });
    }
    if gens.len() != g.keys.len() || gens.iter().any(|&x| x != gens[0]) {
        return Err(format!("torn: the keys hold generations {gens:?}"));
    }
    let gen = gens[0];
    let count = match counter {
        Value::Bulk(None) => 0,
        Value::Bulk(Some(b)) => bulk_u64(b).ok_or_else(|| format!("counter {counter}"))?,
        _ => return Err(format!("counter {counter}")),
    };
    if count != multis_upto(gen) {
        return Err(format!(
            "torn: generation {gen} with {count} MULTI blocks counted, not {}",
            multis_upto(gen)
        ));
    }
    Ok(gen)
}

/// What the read-back of one round found.
#[derive(Default)]
struct Check {
    keys: usize,
    /// Acknowledged writes missing.
    lost: u64,
    /// Ack-to-kill time of the earliest lost write.
    window: Duration,
    errors: Vec<String>,
}

impl Check {
    /// Compares the stored n of a track with what its writer knows;
    /// resets the track to it.
    fn judge(&mut self, who: &str, t: &mut Track, n: u64, kill: Instant) {
        self.keys += 1;
        if n > t.sent {
            self.errors.push(format!(
                "{who}: holds write {n}, but only {} were sent",
                t.sent
            ));
        } else if n < t.base {
            self.errors.push(format!(
                "{who}: holds write {n}, but write {} was there after the last restart",
                t.base
            ));
        } else if n < t.acked {
            self.lost += t.acked - n;
            let first = t.acks[(n - t.base) as usize];
            self.window = self.window.max(kill.saturating_duration_since(first));
        }
        t.reset(n);
    }
}

/// Reads every writer's keys back and judges them; resets the tracks to
/// what is stored.
fn read_back(
    conn: &mut Conn,
    cfg: &Config,
    writers: &mut [Writer],
    kill: Instant,
) -> io::Result<Check> {
    let mut check = Check::default();
    for w in writers.iter_mut() {
        let mut out = Vec::new();
        read_commands(w, &mut out);
        conn.send(&out)?;
        match &mut w.work {
            Work::Keys { keys, .. } => {
                for k in keys.iter_mut() {
                    let who = format!("{} key {}", w.id, k.name);
                    match conn.next(|v| stored_n(k.kind, v, cfg.value_size))? {
                        Ok(n) => check.judge(&who, &mut k.t, n, kill),
                        Err(e) => {
                            check.keys += 1;
                            check.errors.push(format!("{who}: {e}"));
                        }
                    }
                }
            }
            Work::Group(g) => {
                let mget = conn.next(Reply::from)?;
                let counter = conn.next(Reply::from)?;
                let who = format!("{} group g:…", w.id);
                match stored_gen(g, &to_value(&mget), &to_value(&counter)) {
                    Ok(gen) => check.judge(&who, &mut g.t, gen, kill),
                    Err(e) => {
                        check.keys += 1;
                        check.errors.push(format!("{who}: {e}"));
                    }
                }
            }
        }
    }
    Ok(check)
}

fn to_value(r: &Reply) -> Value<'_> {
    match r {
        Reply::Simple(s) => Value::Simple(s.as_bytes()),
        Reply::Error(s) => Value::Error(s.as_bytes()),
        Reply::Int(n) => Value::Int(*n),
        Reply::Bulk(b) => Value::Bulk(b.as_deref()),
        Reply::Array(a) => Value::Array(a.as_ref().map(|v| v.iter().map(to_value).collect())),
    }
}

fn fill_value(i: usize, size: usize) -> String {
    let mut v = format!("{i}:");
    while v.len() < size {
        v.push('f');
    }
    v
}

const FILL_CHUNK: usize = 500;

/// Sets the fill keys, pipelined.
fn fill(conn: &mut Conn, cfg: &Config) -> Result<(), String> {
    for lo in (0..cfg.fill).step_by(FILL_CHUNK) {
        let hi = (lo + FILL_CHUNK).min(cfg.fill);
        let mut out = Vec::new();
        for i in lo..hi {
            let k = format!("f:{i}");
            command(
                &mut out,
                &[
                    b"SET",
                    k.as_bytes(),
                    fill_value(i, cfg.fill_size).as_bytes(),
                ],
            );
        }
        conn.send(&out).map_err(|e| format!("fill: {e}"))?;
        for i in lo..hi {
            let r = conn.next(Reply::from).map_err(|e| format!("fill: {e}"))?;
            if r != Reply::Simple("OK".into()) {
                return Err(format!("fill: SET f:{i} got {r:?}"));
            }
        }
    }
    Ok(())
}

/// Checks the fill keys; returns the first few problems.
fn check_fill(conn: &mut Conn, cfg: &Config) -> io::Result<Vec<String>> {
    let mut errors = Vec::new();
    for lo in (0..cfg.fill).step_by(FILL_CHUNK) {
        let hi = (lo + FILL_CHUNK).min(cfg.fill);
        let names: Vec<String> = (lo..hi).map(|i| format!("f:{i}")).collect();
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(names.iter().map(|k| k.as_bytes()));
        let r = conn.call(&args)?;
        let Reply::Array(Some(items)) = r else {
            errors.push(format!("MGET of fill keys got {r:?}"));
            break;
        };
        for (i, item) in (lo..hi).zip(items.iter()) {
            let want = fill_value(i, cfg.fill_size);
            if *item != Reply::Bulk(Some(want.into_bytes())) && errors.len() < 5 {
                errors.push(format!("fill key f:{i} holds {item:?}"));
            }
        }
    }
    Ok(errors)
}

/// Whether the background job runs now, per INFO persistence.
fn job_running(conn: &mut Conn, during: During) -> bool {
    match conn.call(&[b"INFO", b"persistence"]) {
        Ok(Reply::Bulk(Some(b))) => String::from_utf8_lossy(&b)
            .lines()
            .any(|l| l.trim_end() == format!("{}1", during.info_field())),
        _ => false,
    }
}

/// Starts the background job unless it runs; the replies that say it, or
/// another background job (say, an automatic log rewrite), runs already
/// are fine. Returns an unexpected reply.
fn start_job(conn: &mut Conn, during: During) -> Result<(), String> {
    match conn.call(&[during.command()]) {
        Ok(Reply::Simple(_)) => Ok(()),
        Ok(Reply::Error(e))
            if ["in progress", "already", "child process is active"]
                .iter()
                .any(|busy| e.contains(busy)) =>
        {
            Ok(())
        }
        Ok(r) => Err(format!(
            "{} got {r:?}",
            String::from_utf8_lossy(during.command())
        )),
        // The connection may die with the kill.
        Err(_) => Ok(()),
    }
}

// ---------------------------------------------------------------- run

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("kevy-crash-{}-{nanos}", std::process::id()))
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Runs the crash test, printing a line per round and the verdict. Err
/// when it cannot run at all (the server does not start, say).
pub fn run(cfg: &Config) -> Result<Summary, String> {
    let root = cfg.dir.clone().unwrap_or_else(temp_dir);
    let data = root.join("data");
    fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
    // The server gets it absolute: it runs with `data` as its working
    // directory, and a kevy that cannot change --dir accepts only that.
    let data = data
        .canonicalize()
        .map_err(|e| format!("{}: {e}", data.display()))?;
    let log = root.join("server.log");
    let cores_at = |start: usize| -> Option<usize> {
        (!cfg.cores.is_empty()).then(|| cfg.cores[start % cfg.cores.len()])
    };
    let cores_label = |c: Option<usize>| c.map_or(String::new(), |c| format!("  cores {c}"));
    let mut rng = Rng(cfg.seed);
    let mut writers: Vec<Writer> = (0..cfg.writers)
        .map(|w| Writer::keys(w, cfg.keys))
        .chain((0..cfg.tx_writers).map(|g| Writer::group(g, cfg.group_keys)))
        .collect();

    println!(
        "crashtest: {} {}; appendfsync {}, during {}, {} rounds, {} writers x {} keys, \
         {} tx writers x {} keys, {} fill keys; seed {}; dir {}",
        cfg.server.display(),
        cfg.server_args.join(" "),
        cfg.fsync.name(),
        cfg.during.name(),
        cfg.rounds,
        cfg.writers,
        4 * cfg.keys,
        cfg.tx_writers,
        cfg.group_keys,
        cfg.fill,
        cfg.seed,
        root.display()
    );
    let (mut server, _) = Server::start(cfg, &data, &log, cores_at(0))?;
    if cfg.fill > 0 {
        let mut c = Conn::connect(server.port).map_err(|e| format!("connect: {e}"))?;
        fill(&mut c, cfg)?;
    }

    let mut sum = Summary::default();
    for round in 1..=cfg.rounds {
        let port = server.port;
        let stop = AtomicBool::new(false);
        let delay = Duration::from_millis(rng.range(cfg.kill_after_ms.0, cfg.kill_after_ms.1));
        let job_lead = Duration::from_millis(rng.range(0, cfg.during_window_ms)).min(delay);
        let mut job_error = None;
        let mut job_ran = false;
        let began = Instant::now();
        let kill = std::thread::scope(|s| {
            for w in writers.iter_mut() {
                let stop = &stop;
                s.spawn(move || w.run(cfg, port, stop));
            }
            let mut ctl = Conn::connect(port).ok();
            if cfg.during != During::None {
                std::thread::sleep(delay - job_lead);
                // Keep the job running until the kill: start it, and again
                // each time it has finished.
                while began.elapsed() < delay {
                    if let Some(c) = ctl.as_mut() {
                        if !job_running(c, cfg.during) {
                            if let Err(e) = start_job(c, cfg.during) {
                                job_error.get_or_insert(e);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                if let Some(c) = ctl.as_mut() {
                    job_ran = job_running(c, cfg.during);
                }
            } else {
                std::thread::sleep(delay);
            }
            let kill = Instant::now();
            server.kill();
            stop.store(true, Ordering::Relaxed);
            kill
        });
        let mut fails: Vec<String> = Vec::new();
        if let Some(e) = job_error {
            fails.push(e);
        }
        let (mut acked, mut in_flight) = (0, 0);
        for w in &mut writers {
            for t in w.tracks() {
                acked += t.acked - t.base;
                in_flight += t.sent - t.acked;
            }
            if let Some(bad) = w.bad.take() {
                fails.push(format!("{}: {bad}", w.id));
            }
            if let Some((at, why)) = &w.ended {
                if *at < kill {
                    fails.push(format!("{}: connection ended before the kill: {why}", w.id));
                }
            }
        }
        sum.acked += acked;
        if job_ran {
            sum.killed_during_job += 1;
        }

        let cores = cores_at(round);
        // A server that cannot come back on its own data fails the test;
        // it is not a reason the test cannot run.
        let (next, restart) = match Server::start(cfg, &data, &log, cores) {
            Ok(started) => started,
            Err(e) => {
                println!(
                    "round {round:>3}/{}  killed after {:>4} ms  acked {acked}{}  restart FAIL",
                    cfg.rounds,
                    ms(delay),
                    cores_label(cores)
                );
                fails.push(format!("restart: {e}"));
                for f in &fails {
                    println!("    {f}");
                }
                sum.rounds = round;
                sum.failures = fails;
                println!("FAIL: data and server log kept in {}", root.display());
                return Ok(sum);
            }
        };
        server = next;
        sum.max_restart = sum.max_restart.max(restart);
        let mut conn =
            Conn::connect(server.port).map_err(|e| format!("connect after restart: {e}"))?;
        let check =
            read_back(&mut conn, cfg, &mut writers, kill).map_err(|e| format!("read back: {e}"))?;
        fails.extend(check.errors.iter().take(10).cloned());
        if check.errors.len() > 10 {
            fails.push(format!("… and {} more", check.errors.len() - 10));
        }
        if cfg.fill > 0 {
            fails.extend(check_fill(&mut conn, cfg).map_err(|e| format!("read fill: {e}"))?);
        }
        if check.lost > 0 {
            sum.lost += check.lost;
            sum.max_loss_window = sum.max_loss_window.max(check.window);
            let allowed = match cfg.fsync {
                Fsync::Always => false,
                Fsync::Everysec => check.window <= Duration::from_millis(cfg.max_loss_ms),
                Fsync::No => true,
            };
            if !allowed {
                fails.push(format!(
                    "lost {} acknowledged writes, the first acknowledged {} ms before the kill \
                     (appendfsync {})",
                    check.lost,
                    ms(check.window),
                    cfg.fsync.name()
                ));
            }
        }

        let job = match (cfg.during, job_ran) {
            (During::None, _) => String::new(),
            (d, true) => format!(" [{} running]", d.name()),
            (d, false) => format!(" [{} not running]", d.name()),
        };
        let mut line = format!(
            "round {round:>3}/{}  killed after {:>4} ms{job}  acked {acked} \
             (+{in_flight} in flight){}  restart {} ms  checked {} keys/groups",
            cfg.rounds,
            ms(delay),
            cores_label(cores),
            ms(restart),
            check.keys,
        );
        if check.lost > 0 {
            let _ = write!(
                line,
                "  lost {} acked writes (first acked {} ms before the kill)",
                check.lost,
                ms(check.window)
            );
        }
        sum.rounds = round;
        if fails.is_empty() {
            println!("{line}  ok");
        } else {
            println!("{line}  FAIL");
            for f in &fails {
                println!("    {f}");
            }
            sum.failures = fails;
            break;
        }
    }
    drop(server);

    sum.passed = sum.failures.is_empty();
    println!(
        "{}: {} rounds, {} writes acknowledged, {} lost (max {} ms before the kill), \
         killed during the job in {} rounds, slowest restart {} ms",
        if sum.passed { "PASS" } else { "FAIL" },
        sum.rounds,
        sum.acked,
        sum.lost,
        ms(sum.max_loss_window),
        sum.killed_during_job,
        ms(sum.max_restart)
    );
    if sum.passed && !cfg.keep {
        let _ = fs::remove_dir_all(&root);
    } else {
        println!("data and server log kept in {}", root.display());
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value<'_> {
        Value::Bulk(Some(s.as_bytes()))
    }

    #[test]
    fn stored_values_read_as_n() {
        let nil = Value::Bulk(None);
        assert_eq!(stored_n(Kind::Incr, &nil, 3), Ok(0));
        assert_eq!(stored_n(Kind::Incr, &bulk("17"), 3), Ok(17));
        assert_eq!(stored_n(Kind::Set, &nil, 3), Ok(0));
        assert_eq!(stored_n(Kind::Set, &bulk("9:xxx"), 3), Ok(9));
        assert!(stored_n(Kind::Set, &bulk("9:xx"), 3).is_err());
        assert!(stored_n(Kind::Set, &bulk("9:xxy"), 3).is_err());
        let list = Value::Array(Some(vec![bulk("1"), bulk("2"), bulk("3")]));
        assert_eq!(stored_n(Kind::Rpush, &list, 0), Ok(3));
        assert_eq!(stored_n(Kind::Rpush, &Value::Array(Some(vec![])), 0), Ok(0));
        // A hole or a reordering is no prefix of the writes.
        let holed = Value::Array(Some(vec![bulk("1"), bulk("3")]));
        assert!(stored_n(Kind::Rpush, &holed, 0).is_err());
        let set = Value::Array(Some(vec![bulk("3"), bulk("1"), bulk("2")]));
        assert_eq!(stored_n(Kind::Sadd, &set, 0), Ok(3));
        let holed = Value::Array(Some(vec![bulk("1"), bulk("3")]));
        assert!(stored_n(Kind::Sadd, &holed, 0).is_err());
        assert!(stored_n(Kind::Incr, &Value::Error(b"WRONGTYPE x"), 0).is_err());
    }

    fn group() -> Group {
        Group {
            keys: vec!["a".into(), "b".into(), "c".into()],
            counter: "n".into(),
            t: Track::new(),
        }
    }

    #[test]
    fn a_group_is_whole_or_torn() {
        let g = group();
        let keys = |a, b, c| Value::Array(Some(vec![a, b, c]));
        let nil = || Value::Bulk(None);
        assert_eq!(stored_gen(&g, &keys(nil(), nil(), nil()), &nil()), Ok(0));
        // Generation 5 is the third MULTI block (1, 3, 5).
        let five = keys(bulk("5"), bulk("5"), bulk("5"));
        assert_eq!(stored_gen(&g, &five, &bulk("3")), Ok(5));
        assert!(stored_gen(&g, &five, &bulk("2")).is_err());
        // Generation 6 is an MSET after it.
        let six = keys(bulk("6"), bulk("6"), bulk("6"));
        assert_eq!(stored_gen(&g, &six, &bulk("3")), Ok(6));
        assert!(stored_gen(&g, &keys(bulk("6"), bulk("5"), bulk("6")), &bulk("3")).is_err());
        assert!(stored_gen(&g, &keys(bulk("1"), nil(), nil()), &bulk("1")).is_err());
    }

    #[test]
    fn judging_finds_loss_and_corruption() {
        let t0 = Instant::now();
        let kill = t0 + Duration::from_millis(1000);
        let mut t = Track::new();
        t.reset(10);
        for n in 11..=14 {
            t.sent = n;
            t.ack(n, t0 + Duration::from_millis(100 * (n - 10)))
                .unwrap();
        }
        t.sent = 16;
        // Anything from the last ack to the last sent is fine.
        for n in 14..=16 {
            let mut c = Check::default();
            let mut tt = Track {
                acks: t.acks.clone(),
                ..t
            };
            c.judge("k", &mut tt, n, kill);
            assert!(c.errors.is_empty() && c.lost == 0, "n = {n}");
            assert_eq!((tt.sent, tt.acked, tt.base), (n, n, n));
        }
        // Losing 13 and 14: 13 was acknowledged 700 ms before the kill.
        let mut c = Check::default();
        let mut tt = Track {
            acks: t.acks.clone(),
            ..t
        };
        c.judge("k", &mut tt, 12, kill);
        assert_eq!((c.lost, c.window), (2, Duration::from_millis(700)));
        // Losing 11..=14: 11 was acknowledged 900 ms before the kill.
        let mut c = Check::default();
        let mut tt = Track {
            acks: t.acks.clone(),
            ..t
        };
        c.judge("k", &mut tt, 10, kill);
        assert_eq!((c.lost, c.window), (4, Duration::from_millis(900)));
        // Below what an earlier restart found, or above what was sent.
        for n in [9, 17] {
            let mut c = Check::default();
            let mut tt = Track {
                acks: t.acks.clone(),
                ..t
            };
            c.judge("k", &mut tt, n, kill);
            assert_eq!(c.errors.len(), 1, "n = {n}");
        }
    }
}
