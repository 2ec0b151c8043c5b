//! mixload: a mixed read/write workload from ONE load-generator thread, with
//! latency percentiles, which redis-benchmark (one command per run) cannot
//! give. By default 25 connections each keep a pipeline of 16 commands in
//! flight, GET:SET 10:1 over 100k keys with 32-byte values; the keys are
//! set first, so GETs hit.
//!
//! One thread serves every connection from one epoll loop over non-blocking
//! sockets: when a connection's whole pipeline is answered it gets its next
//! one at once. A request's latency is the time from writing its pipeline to
//! reading the bytes that complete its reply, so it includes the wait
//! behind the earlier replies of the same pipeline, as a client sees it.
//!
//! Besides GET and SET, --mix can weigh in MGET, MSET, DEL and EXISTS of
//! --multi-keys random keys and MULTI / SET / GET / DEL / EXEC blocks whose
//! first two keys lie on different shards (the soak test uses these). Every
//! reply is checked; an error reply or a reply of the wrong type aborts.
//! Requests are commands: an MGET of 4 keys is one, a MULTI block five.
//!
//! Raw RESP over std::net::TcpStream; no client library.

use kevy_benches::cli::{die, num, Args};
use kevy_benches::hist::Histogram;
use kevy_benches::resp::{command, parse, Value};
use kevy_sys::{Events, Interest, Poller, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: mixload [options]
  -h, --host HOST       server address                          [127.0.0.1]
  -p, --port PORT       server port                             [6379]
  -c, --conns C         connections (all on one thread)         [25]
  -P, --pipeline P      operations in flight per connection     [16]
  -k, --keys K          key space: mix:0 .. mix:K-1             [100000]
  -r, --ratio G:S       GET:SET weights                         [10:1]
      --mix SPEC        weights of all kinds, instead of --ratio, e.g.
                        get=40,set=20,mget=8,mset=8,del=4,exists=8,tx=4
                        (kinds: get set mget mset del exists tx)
  -m, --multi-keys M    keys per MGET / MSET / DEL / EXISTS     [4]
  -d, --value-size D    value size in bytes                     [32]
  -t, --duration SECS   run this long (fractions allowed), or
  -n, --requests N      run this many commands                  [1000000]
      --no-prefill      do not set the K keys first
      --prefill-only    set the K keys and exit
  -s, --shards S        server's shard count, for choosing the
                        keys of MULTI blocks                    [from INFO's
                                                                kevy_shards,
                                                                else 2]
      --seed N          random seed                             [1]
  -q, --quiet           print only: req/s p50 p99 p99.9 (µs), tab-separated
      --help            this text";

/// What one pipelined operation is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Get,
    Set,
    Mget,
    Mset,
    Del,
    Exists,
    Tx,
}

const KINDS: [(&str, Kind); 7] = [
    ("get", Kind::Get),
    ("set", Kind::Set),
    ("mget", Kind::Mget),
    ("mset", Kind::Mset),
    ("del", Kind::Del),
    ("exists", Kind::Exists),
    ("tx", Kind::Tx),
];

/// The reply a command must get.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// +OK
    Ok,
    /// +QUEUED
    Queued,
    /// A bulk string or nil.
    Bulk,
    /// An integer.
    Int,
    /// An array of this many elements.
    Array(usize),
    /// EXEC of the MULTI block: [+OK, bulk or nil, integer].
    Exec,
}

impl Expect {
    fn accepts(self, v: &Value<'_>) -> bool {
        match (self, v) {
            (Expect::Ok, Value::Simple(s)) => *s == b"OK",
            (Expect::Queued, Value::Simple(s)) => *s == b"QUEUED",
            (Expect::Bulk, Value::Bulk(_)) => true,
            (Expect::Int, Value::Int(_)) => true,
            (Expect::Array(n), Value::Array(Some(items))) => items.len() == n,
            (Expect::Exec, Value::Array(Some(items))) => {
                items.len() == 3
                    && items[0] == Value::Simple(b"OK")
                    && matches!(items[1], Value::Bulk(_))
                    && matches!(items[2], Value::Int(_))
            }
            _ => false,
        }
    }
}

enum Stop {
    Requests(u64),
    Duration(Duration),
}

struct Opts {
    host: String,
    port: u16,
    conns: usize,
    pipeline: usize,
    keys: usize,
    mix: Vec<(Kind, u32)>,
    multi_keys: usize,
    value_size: usize,
    stop: Stop,
    prefill: bool,
    prefill_only: bool,
    shards: Option<usize>,
    seed: u64,
    quiet: bool,
}

/// `get=10,set=1` into weights; a kind not named weighs 0.
fn parse_mix(spec: &str) -> Vec<(Kind, u32)> {
    let mut mix = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let Some((name, w)) = part.split_once('=') else {
            die(format_args!("--mix: expected kind=weight, got {part:?}"));
        };
        let Some(&(_, kind)) = KINDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            die(format_args!("--mix: unknown kind {name:?}"));
        };
        let w: u32 = num(w, "--mix weight", 0);
        if w > 0 {
            mix.push((kind, w));
        }
    }
    if mix.is_empty() {
        die("--mix: no kind has a weight above 0");
    }
    mix
}

fn parse_ratio(spec: &str) -> Vec<(Kind, u32)> {
    let Some((g, s)) = spec.split_once(':') else {
        die(format_args!("--ratio: expected GET:SET, got {spec:?}"));
    };
    parse_mix(&format!("get={g},set={s}"))
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        conns: 25,
        pipeline: 16,
        keys: 100_000,
        mix: parse_ratio("10:1"),
        multi_keys: 4,
        value_size: 32,
        stop: Stop::Requests(1_000_000),
        prefill: true,
        prefill_only: false,
        shards: None,
        seed: 1,
        quiet: false,
    };
    let (mut ratio, mut mix) = (None, None);
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "-h" | "--host" => o.host = args.value(&a),
            "-p" | "--port" => o.port = args.num(&a, 1),
            "-c" | "--conns" => o.conns = args.num(&a, 1),
            "-P" | "--pipeline" => o.pipeline = args.num(&a, 1),
            "-k" | "--keys" => o.keys = args.num(&a, 1),
            "-r" | "--ratio" => ratio = Some(args.value(&a)),
            "--mix" => mix = Some(args.value(&a)),
            "-m" | "--multi-keys" => o.multi_keys = args.num(&a, 1),
            "-d" | "--value-size" => o.value_size = args.num(&a, 0),
            "-t" | "--duration" => {
                let secs: f64 = args.num(&a, 0.001);
                o.stop = Stop::Duration(Duration::from_secs_f64(secs));
            }
            "-n" | "--requests" => o.stop = Stop::Requests(args.num(&a, 1)),
            "--no-prefill" => o.prefill = false,
            "--prefill-only" => o.prefill_only = true,
            "-s" | "--shards" => o.shards = Some(args.num(&a, 1)),
            "--seed" => o.seed = args.num(&a, 0),
            "-q" | "--quiet" => o.quiet = true,
            _ => args.unknown(&a),
        }
    }
    match (ratio, mix) {
        (Some(_), Some(_)) => die("give --ratio or --mix, not both"),
        (Some(r), None) => o.mix = parse_ratio(&r),
        (None, Some(m)) => o.mix = parse_mix(&m),
        (None, None) => {}
    }
    if o.prefill_only {
        o.prefill = true;
    }
    o
}

// ------------------------------------------------------------- random

/// xorshift64*: fast, and good enough to pick keys and kinds.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that seed 0 and nearby seeds give
        // unrelated, non-zero states.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in 0..n, for n below 2^32.
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

// ---------------------------------------------------------- connection

struct Conn {
    stream: TcpStream,
    /// The pipeline being written; out[written..] is still to go.
    out: Vec<u8>,
    written: usize,
    /// The replies the pipeline in flight must get, in order; the next
    /// is expect\[answered\].
    expect: Vec<Expect>,
    answered: usize,
    sent_at: Instant,
    /// Read buffer; unparsed replies are buf[start..end].
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Registered for writability too (a write was cut short).
    want_write: bool,
}

impl Conn {
    fn connect(host: &str, port: u16) -> Conn {
        let stream = TcpStream::connect((host, port))
            .unwrap_or_else(|e| die(format_args!("connect {host}:{port}: {e}")));
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            out: Vec::new(),
            written: 0,
            expect: Vec::new(),
            answered: 0,
            sent_at: Instant::now(),
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            want_write: false,
        }
    }

    fn in_flight(&self) -> bool {
        self.answered < self.expect.len()
    }

    /// Writes what it can of `out` without blocking; true when all is out.
    fn flush(&mut self) -> bool {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => die("server closed the connection"),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => die(format_args!("write: {e}")),
            }
        }
        true
    }

    /// Reads what has arrived without blocking; false when nothing had.
    fn fill(&mut self) -> bool {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => die("server closed the connection"),
                Ok(n) => {
                    self.end += n;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => die(format_args!("read: {e}")),
            }
        }
    }

    /// Checks the complete replies in the buffer against `expect`; returns
    /// how many there were.
    fn take_replies(&mut self) -> usize {
        let before = self.answered;
        while self.in_flight() {
            match parse(&self.buf[self.start..self.end]) {
                Ok(Some((v, used))) => {
                    let want = self.expect[self.answered];
                    if !want.accepts(&v) {
                        die(format_args!("expected a reply like {want:?}, got {v}"));
                    }
                    self.answered += 1;
                    self.start += used;
                }
                Ok(None) => break,
                Err(e) => die(format_args!("protocol error from server: {}", e.0)),
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        self.answered - before
    }
}

// ---------------------------------------------------------- workload

/// Makes the commands: the key names, the value, the mix.
struct Workload {
    keys: Vec<Vec<u8>>,
    /// keys\[i\]'s shard, for choosing MULTI blocks' keys.
    shard: Vec<u16>,
    value: Vec<u8>,
    mix: Vec<(Kind, u32)>,
    mix_total: u32,
    multi_keys: usize,
    rng: Rng,
}

impl Workload {
    fn new(o: &Opts, shards: usize) -> Workload {
        let keys: Vec<Vec<u8>> = (0..o.keys)
            .map(|i| format!("mix:{i}").into_bytes())
            .collect();
        let shard = keys
            .iter()
            .map(|k| kevy_rt::shard_of(k, shards) as u16)
            .collect();
        Workload {
            keys,
            shard,
            value: vec![b'v'; o.value_size],
            mix_total: o.mix.iter().map(|&(_, w)| w).sum(),
            mix: o.mix.clone(),
            multi_keys: o.multi_keys,
            rng: Rng::new(o.seed),
        }
    }

    fn kind(&mut self) -> Kind {
        let mut r = self.rng.below(self.mix_total as usize) as u32;
        for &(kind, w) in &self.mix {
            if r < w {
                return kind;
            }
            r -= w;
        }
        unreachable!("r < mix_total")
    }

    fn key(&mut self) -> usize {
        self.rng.below(self.keys.len())
    }

    /// A key on another shard than key `k`'s, when there is one.
    fn key_apart(&mut self, k: usize) -> usize {
        for _ in 0..64 {
            let j = self.key();
            if self.shard[j] != self.shard[k] {
                return j;
            }
        }
        self.key()
    }

    /// Appends one operation of a random kind to `out` and the replies it
    /// must get to `expect`.
    fn op(&mut self, out: &mut Vec<u8>, expect: &mut Vec<Expect>, args: &mut Vec<usize>) {
        let kind = self.kind();
        args.clear();
        let name: &[u8] = match kind {
            Kind::Get => b"GET",
            Kind::Set => b"SET",
            Kind::Mget => b"MGET",
            Kind::Mset => b"MSET",
            Kind::Del => b"DEL",
            Kind::Exists => b"EXISTS",
            Kind::Tx => b"MULTI",
        };
        match kind {
            Kind::Get | Kind::Set => args.push(self.key()),
            Kind::Mget | Kind::Mset | Kind::Del | Kind::Exists => {
                for _ in 0..self.multi_keys {
                    let k = self.key();
                    args.push(k);
                }
            }
            Kind::Tx => {
                let k1 = self.key();
                let k2 = self.key_apart(k1);
                let k3 = self.key();
                args.extend([k1, k2, k3]);
            }
        }
        let v = &self.value[..];
        let k = |i: usize| &self.keys[args[i]][..];
        match kind {
            Kind::Get => {
                command(out, &[name, k(0)]);
                expect.push(Expect::Bulk);
            }
            Kind::Set => {
                command(out, &[name, k(0), v]);
                expect.push(Expect::Ok);
            }
            Kind::Mget | Kind::Del | Kind::Exists => {
                let mut a: Vec<&[u8]> = vec![name];
                a.extend(args.iter().map(|&i| &self.keys[i][..]));
                command(out, &a);
                expect.push(if kind == Kind::Mget {
                    Expect::Array(args.len())
                } else {
                    Expect::Int
                });
            }
            Kind::Mset => {
                let mut a: Vec<&[u8]> = vec![name];
                for &i in args.iter() {
                    a.push(&self.keys[i]);
                    a.push(v);
                }
                command(out, &a);
                expect.push(Expect::Ok);
            }
            Kind::Tx => {
                command(out, &[b"MULTI"]);
                command(out, &[b"SET", k(0), v]);
                command(out, &[b"GET", k(1)]);
                command(out, &[b"DEL", k(2)]);
                command(out, &[b"EXEC"]);
                expect.extend([
                    Expect::Ok,
                    Expect::Queued,
                    Expect::Queued,
                    Expect::Queued,
                    Expect::Exec,
                ]);
            }
        }
    }
}

/// The shard count from INFO's `kevy_shards:` line; None for a server that
/// has none (redis-server).
fn detect_shards(o: &Opts) -> Option<usize> {
    let mut s = TcpStream::connect((o.host.as_str(), o.port))
        .unwrap_or_else(|e| die(format_args!("connect {}:{}: {e}", o.host, o.port)));
    let mut out = Vec::new();
    command(&mut out, &[b"INFO", b"server"]);
    s.write_all(&out)
        .unwrap_or_else(|e| die(format_args!("write: {e}")));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match parse(&buf) {
            Ok(Some((Value::Bulk(Some(text)), _))) => {
                return String::from_utf8_lossy(text)
                    .lines()
                    .find_map(|l| l.strip_prefix("kevy_shards:"))
                    .and_then(|n| n.trim().parse().ok());
            }
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) => {}
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sets every key, 1000 pipelined SETs at a time, over blocking sockets.
fn prefill(o: &Opts, w: &Workload) {
    let mut c = Conn::connect(&o.host, o.port);
    for chunk in w.keys.chunks(1000) {
        c.out.clear();
        c.written = 0;
        c.expect.clear();
        c.answered = 0;
        for k in chunk {
            command(&mut c.out, &[b"SET", k, &w.value]);
            c.expect.push(Expect::Ok);
        }
        c.stream
            .write_all(&c.out)
            .unwrap_or_else(|e| die(format_args!("write: {e}")));
        while c.in_flight() {
            if c.take_replies() == 0 {
                // Blocking socket: fill waits for the next bytes.
                c.fill();
            }
        }
    }
}

/// What a run did.
struct Report {
    requests: u64,
    secs: f64,
    latency: Histogram,
}

fn run(o: &Opts, w: &mut Workload) -> Report {
    let mut conns: Vec<Conn> = (0..o.conns)
        .map(|_| Conn::connect(&o.host, o.port))
        .collect();
    let poller = Poller::new().unwrap_or_else(|e| die(format_args!("epoll: {e}")));
    for (i, c) in conns.iter().enumerate() {
        c.stream
            .set_nonblocking(true)
            .unwrap_or_else(|e| die(format_args!("set_nonblocking: {e}")));
        poller
            .add(c.stream.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap_or_else(|e| die(format_args!("epoll add: {e}")));
    }
    let mut latency = Histogram::new();
    let (limit, deadline) = match o.stop {
        Stop::Requests(n) => (n, None),
        Stop::Duration(d) => (u64::MAX, Some(d)),
    };
    let mut issued = 0u64;
    let mut done = 0u64;
    let mut scratch = Vec::new();
    let t0 = Instant::now();
    let mut last_reply = t0;
    let mut stopped = false;

    // Starts connection i's next pipeline, unless the run is over; false
    // when nothing was sent.
    let mut send_next = |c: &mut Conn, i: usize, issued: &mut u64, stopped: bool| -> bool {
        if stopped || *issued >= limit {
            return false;
        }
        c.out.clear();
        c.written = 0;
        c.expect.clear();
        c.answered = 0;
        for _ in 0..o.pipeline {
            if *issued + c.expect.len() as u64 >= limit {
                break;
            }
            w.op(&mut c.out, &mut c.expect, &mut scratch);
        }
        *issued += c.expect.len() as u64;
        c.sent_at = Instant::now();
        if !c.flush() && !c.want_write {
            c.want_write = true;
            poller
                .modify(
                    c.stream.as_raw_fd(),
                    Token(i),
                    Interest::READABLE.add(Interest::WRITABLE),
                )
                .unwrap_or_else(|e| die(format_args!("epoll modify: {e}")));
        }
        true
    };

    for (i, c) in conns.iter_mut().enumerate() {
        send_next(c, i, &mut issued, false);
    }
    let mut events = Events::with_capacity(conns.len());
    while conns.iter().any(Conn::in_flight) {
        if let Some(d) = deadline {
            stopped = stopped || t0.elapsed() >= d;
        }
        poller
            .wait(&mut events, 100)
            .unwrap_or_else(|e| die(format_args!("epoll wait: {e}")));
        for ev in events.iter() {
            let i = ev.token.0;
            let c = &mut conns[i];
            if ev.writable && c.flush() && c.want_write {
                c.want_write = false;
                poller
                    .modify(c.stream.as_raw_fd(), Token(i), Interest::READABLE)
                    .unwrap_or_else(|e| die(format_args!("epoll modify: {e}")));
            }
            if !(ev.readable || ev.hup) || !c.fill() {
                continue;
            }
            let now = Instant::now();
            let got = c.take_replies() as u64;
            if got == 0 {
                continue;
            }
            let ns = now.duration_since(c.sent_at).as_nanos() as u64;
            latency.record(ns, got);
            done += got;
            last_reply = now;
            if !c.in_flight() {
                send_next(c, i, &mut issued, stopped);
            }
        }
    }
    Report {
        requests: done,
        secs: last_reply
            .duration_since(t0)
            .max(Duration::from_nanos(1))
            .as_secs_f64(),
        latency,
    }
}

fn main() {
    let o = parse_opts();
    let shards = o.shards.or_else(|| detect_shards(&o)).unwrap_or(2).max(2);
    let mut w = Workload::new(&o, shards);
    if o.prefill {
        let t = Instant::now();
        prefill(&o, &w);
        if !o.quiet {
            eprintln!(
                "mixload: set {} keys of {} bytes in {:.2} s",
                o.keys,
                o.value_size,
                t.elapsed().as_secs_f64()
            );
        }
        if o.prefill_only {
            return;
        }
    }
    let r = run(&o, &mut w);
    let rps = r.requests as f64 / r.secs;
    let us = |q: f64| r.latency.quantile(q) as f64 / 1000.0;
    if o.quiet {
        println!(
            "{rps:.0}\t{:.1}\t{:.1}\t{:.1}",
            us(0.5),
            us(0.99),
            us(0.999)
        );
    } else {
        let mix: Vec<String> = o
            .mix
            .iter()
            .map(|&(k, wt)| {
                let name = KINDS.iter().find(|(_, kk)| *kk == k).map_or("?", |p| p.0);
                format!("{name}={wt}")
            })
            .collect();
        println!(
            "mixload: {} requests ({}), {} conns, pipeline {}, {} keys, {}-byte values, {:.3} s",
            r.requests,
            mix.join(","),
            o.conns,
            o.pipeline,
            o.keys,
            o.value_size,
            r.secs
        );
        println!(
            "  {rps:.0} req/s; latency p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            us(0.5),
            us(0.99),
            us(0.999),
            r.latency.max as f64 / 1000.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_weights() {
        let mix = parse_mix("get=3,set=0,tx=1");
        assert_eq!(mix, vec![(Kind::Get, 3), (Kind::Tx, 1)]);
        assert_eq!(parse_ratio("10:1"), vec![(Kind::Get, 10), (Kind::Set, 1)]);
    }

    #[test]
    fn ops_match_their_replies() {
        let o = Opts {
            host: String::new(),
            port: 0,
            conns: 1,
            pipeline: 1,
            keys: 1000,
            mix: parse_mix("get=1,set=1,mget=1,mset=1,del=1,exists=1,tx=1"),
            multi_keys: 3,
            value_size: 5,
            stop: Stop::Requests(1),
            prefill: false,
            prefill_only: false,
            shards: None,
            seed: 7,
            quiet: true,
        };
        let mut w = Workload::new(&o, 2);
        let (mut out, mut expect, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..500 {
            w.op(&mut out, &mut expect, &mut scratch);
        }
        // Every command encoded is one expected reply.
        let mut commands = 0;
        let mut rest = &out[..];
        while let Some((_, used)) = parse(rest).unwrap() {
            commands += 1;
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(commands, expect.len());
        // MULTI blocks' first two keys are on different shards.
        let text = String::from_utf8_lossy(&out);
        let mut blocks = 0;
        for block in text.split("MULTI").skip(1) {
            let block = block.split("EXEC").next().unwrap();
            let words: Vec<&str> = block
                .split("\r\n")
                .filter(|s| s.starts_with("mix:"))
                .collect();
            assert_eq!(words.len(), 3, "{block:?}");
            assert_ne!(
                kevy_rt::shard_of(words[0].as_bytes(), 2),
                kevy_rt::shard_of(words[1].as_bytes(), 2)
            );
            blocks += 1;
        }
        assert!(blocks > 20);
    }
}
