//! txbench: transaction throughput, since redis-benchmark cannot send MULTI
//! blocks. Each of C connections repeatedly pipelines P transactions
//!
//!     MULTI / SET k1 v / SET k2 v / EXEC
//!
//! and checks every reply (+OK, +QUEUED, +QUEUED, *2 of +OK +OK), until N
//! transactions are done in all; then prints transactions per second. Any
//! other reply, an error reply included, aborts.
//!
//! Keys differ per connection. With --same-shard k1 and k2 share a hash tag
//! (`{tx7}a`, `{tx7}b`), so they are in one slot and one shard; with
//! --two-shards they are chosen so `kevy_rt::shard_of` puts them on
//! different shards of an S-shard server (with S = 1: different slots).
//!
//! The connections are spread over T threads (default 1, as redis-benchmark);
//! a thread serves its connections round-robin with blocking sockets: it
//! reads one connection's replies and at once sends that connection its next
//! batch, so every connection has a batch in flight nearly all the time.
//!
//! Raw RESP over std::net::TcpStream; no client library.

use kevy_benches::cli::{die, Args};
use kevy_benches::resp::{command, parse, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: txbench [--same-shard | --two-shards] [options]
  --same-shard        k1, k2 share a hash tag: one slot, one shard (default)
  --two-shards        k1, k2 on different shards (of --shards S)
  -h, --host HOST     server address                     [127.0.0.1]
  -p, --port PORT     server port                        [6379]
  -c, --clients C     connections                        [50]
  -n, --requests N    transactions in all                [100000]
  -P, --pipeline P    transactions pipelined per batch   [16]
  -t, --threads T     client threads (connections are    [1]
                      spread over them)
  -d, --data-size D   value size in bytes                [3]
  -s, --shards S      server's shard count, for choosing [from INFO's
                      --two-shards keys                   kevy_shards, else 1]
  -q, --quiet         print only the tx/s number
  --help              this text";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SameShard,
    TwoShards,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::SameShard => "same-shard",
            Mode::TwoShards => "two-shards",
        }
    }
}

struct Opts {
    mode: Mode,
    host: String,
    port: u16,
    clients: usize,
    requests: u64,
    pipeline: usize,
    threads: usize,
    data_size: usize,
    shards: Option<usize>,
    quiet: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        mode: Mode::SameShard,
        host: "127.0.0.1".into(),
        port: 6379,
        clients: 50,
        requests: 100_000,
        pipeline: 16,
        threads: 1,
        data_size: 3,
        shards: None,
        quiet: false,
    };
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "--same-shard" => o.mode = Mode::SameShard,
            "--two-shards" => o.mode = Mode::TwoShards,
            "-h" | "--host" => o.host = args.value(&a),
            "-p" | "--port" => o.port = args.num(&a, 1),
            "-c" | "--clients" => o.clients = args.num(&a, 1),
            "-n" | "--requests" => o.requests = args.num(&a, 1),
            "-P" | "--pipeline" => o.pipeline = args.num(&a, 1),
            "-t" | "--threads" => o.threads = args.num(&a, 1),
            "-d" | "--data-size" => o.data_size = args.num(&a, 0),
            "-s" | "--shards" => o.shards = Some(args.num(&a, 1)),
            "-q" | "--quiet" => o.quiet = true,
            _ => args.unknown(&a),
        }
    }
    o.threads = o.threads.min(o.clients);
    o
}

// ---------------------------------------------------------- connection

struct Conn {
    stream: TcpStream,
    /// What to send: `pipeline` transactions back to back.
    batch: Vec<u8>,
    /// Bytes of one transaction in `batch`.
    tx_len: usize,
    /// Read buffer; unparsed replies are buf[start..end].
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Transactions sent and not yet answered.
    in_flight: usize,
    keys: (String, String),
}

impl Conn {
    fn connect(host: &str, port: u16) -> Conn {
        let stream = TcpStream::connect((host, port))
            .unwrap_or_else(|e| die(format_args!("connect {host}:{port}: {e}")));
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            batch: Vec::new(),
            tx_len: 0,
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            in_flight: 0,
            keys: (String::new(), String::new()),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.stream.write_all(bytes) {
            die(format_args!("write: {e}"));
        }
    }

    /// Reads one whole reply and hands it to `check`.
    fn reply<T>(&mut self, check: impl FnOnce(Value<'_>) -> T) -> T {
        loop {
            match parse(&self.buf[self.start..self.end]) {
                Ok(Some((v, used))) => {
                    let out = check(v);
                    self.start += used;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    return out;
                }
                Ok(None) => {}
                Err(e) => die(format_args!("protocol error from server: {}", e.0)),
            }
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
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => die("server closed the connection"),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => die(format_args!("read: {e}")),
            }
        }
    }

    /// Sends `n` (<= pipeline) transactions.
    fn send_batch(&mut self, n: usize) {
        let len = n * self.tx_len;
        let batch = std::mem::take(&mut self.batch);
        self.send(&batch[..len]);
        self.batch = batch;
        self.in_flight = n;
    }

    /// Reads and checks the replies of the transactions in flight.
    fn read_batch(&mut self) {
        for _ in 0..self.in_flight {
            self.expect("MULTI", |v| *v == Value::Simple(b"OK"));
            self.expect("SET k1 (queued)", |v| *v == Value::Simple(b"QUEUED"));
            self.expect("SET k2 (queued)", |v| *v == Value::Simple(b"QUEUED"));
            self.expect("EXEC", |v| {
                matches!(v, Value::Array(Some(items))
                    if items.len() == 2 && items.iter().all(|i| *i == Value::Simple(b"OK")))
            });
        }
        self.in_flight = 0;
    }

    /// Reads one reply; dies, naming `what`, unless `ok` accepts it.
    fn expect(&mut self, what: &str, ok: impl FnOnce(&Value<'_>) -> bool) {
        let bad = self.reply(|v| if ok(&v) { None } else { Some(v.to_string()) });
        if let Some(got) = bad {
            die(format_args!(
                "unexpected reply to {what} in MULTI / SET {k1} / SET {k2} / EXEC: {got}",
                k1 = self.keys.0,
                k2 = self.keys.1
            ));
        }
    }

    /// One command, one reply, for setting up.
    fn call<T>(&mut self, args: &[&[u8]], f: impl FnOnce(Value<'_>) -> T) -> T {
        let mut out = Vec::new();
        command(&mut out, args);
        self.send(&out);
        self.reply(f)
    }
}

/// The shard count from INFO's `kevy_shards:` line; None for a server that
/// has none (redis-server).
fn detect_shards(o: &Opts) -> Option<usize> {
    let mut c = Conn::connect(&o.host, o.port);
    c.call(&[b"INFO", b"server"], |v| match v {
        Value::Bulk(Some(text)) => String::from_utf8_lossy(text)
            .lines()
            .find_map(|l| l.strip_prefix("kevy_shards:"))
            .and_then(|n| n.trim().parse().ok()),
        _ => None,
    })
}

/// Connection `i`'s two keys.
fn keys_for(mode: Mode, i: usize, shards: usize) -> (String, String) {
    match mode {
        Mode::SameShard => (format!("{{tx{i}}}a"), format!("{{tx{i}}}b")),
        Mode::TwoShards => {
            let k1 = format!("tx{i}:a");
            let apart = |k2: &str| {
                if shards > 1 {
                    kevy_rt::shard_of(k1.as_bytes(), shards)
                        != kevy_rt::shard_of(k2.as_bytes(), shards)
                } else {
                    kevy_rt::slot(k1.as_bytes()) != kevy_rt::slot(k2.as_bytes())
                }
            };
            let k2 = (0..)
                .map(|j| format!("tx{i}:b{j}"))
                .find(|k2| apart(k2))
                .expect("some key lands on another shard");
            (k1, k2)
        }
    }
}

fn prepare(c: &mut Conn, keys: (String, String), value: &[u8], pipeline: usize) {
    let mut tx = Vec::new();
    command(&mut tx, &[b"MULTI"]);
    command(&mut tx, &[b"SET", keys.0.as_bytes(), value]);
    command(&mut tx, &[b"SET", keys.1.as_bytes(), value]);
    command(&mut tx, &[b"EXEC"]);
    c.tx_len = tx.len();
    c.batch = tx.repeat(pipeline);
    c.keys = keys;
}

/// Claims up to `max` of the transactions left; 0 when none are.
fn claim(left: &AtomicU64, max: usize) -> usize {
    let mut cur = left.load(Ordering::Relaxed);
    loop {
        if cur == 0 {
            return 0;
        }
        let take = cur.min(max as u64);
        match left.compare_exchange_weak(cur, cur - take, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return take as usize,
            Err(now) => cur = now,
        }
    }
}

fn worker(mut conns: Vec<Conn>, left: &AtomicU64, pipeline: usize, start: &Barrier) {
    start.wait();
    for c in conns.iter_mut() {
        let n = claim(left, pipeline);
        if n > 0 {
            c.send_batch(n);
        }
    }
    loop {
        let mut busy = false;
        for c in conns.iter_mut() {
            if c.in_flight == 0 {
                continue;
            }
            busy = true;
            c.read_batch();
            let n = claim(left, pipeline);
            if n > 0 {
                c.send_batch(n);
            }
        }
        if !busy {
            return;
        }
    }
}

fn main() {
    let o = parse_opts();
    let shards = o.shards.or_else(|| detect_shards(&o)).unwrap_or(1);
    let value = vec![b'x'; o.data_size];

    let mut per_thread: Vec<Vec<Conn>> = (0..o.threads).map(|_| Vec::new()).collect();
    for i in 0..o.clients {
        let mut c = Conn::connect(&o.host, o.port);
        let keys = keys_for(o.mode, i, shards);
        if i == 0 && !o.quiet {
            let where_ = |k: &str| {
                format!(
                    "slot {} shard {}",
                    kevy_rt::slot(k.as_bytes()),
                    kevy_rt::shard_of(k.as_bytes(), shards)
                )
            };
            eprintln!(
                "txbench: {} keys for {shards} shard(s), e.g. {} ({}), {} ({})",
                o.mode.name(),
                keys.0,
                where_(&keys.0),
                keys.1,
                where_(&keys.1)
            );
        }
        prepare(&mut c, keys, &value, o.pipeline);
        per_thread[i % o.threads].push(c);
    }

    let left = Arc::new(AtomicU64::new(o.requests));
    // The workers and this thread start the clock together.
    let start = Arc::new(Barrier::new(o.threads + 1));
    let handles: Vec<_> = per_thread
        .into_iter()
        .map(|conns| {
            let (left, start) = (left.clone(), start.clone());
            let pipeline = o.pipeline;
            std::thread::spawn(move || worker(conns, &left, pipeline, &start))
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for h in handles {
        if h.join().is_err() {
            die("a client thread panicked");
        }
    }
    let secs = t0.elapsed().max(Duration::from_nanos(1)).as_secs_f64();
    let tps = o.requests as f64 / secs;
    if o.quiet {
        println!("{tps:.2}");
    } else {
        println!(
            "{}: {} tx, {} clients, {} thread(s), pipeline {}, {:.3} s: {tps:.2} tx/s",
            o.mode.name(),
            o.requests,
            o.clients,
            o.threads,
            o.pipeline,
            secs
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_shard_keys_are_apart() {
        for shards in [1, 2, 3, 4, 8] {
            for i in 0..200 {
                let (a, b) = keys_for(Mode::TwoShards, i, shards);
                assert_ne!(kevy_rt::slot(a.as_bytes()), kevy_rt::slot(b.as_bytes()));
                if shards > 1 {
                    assert_ne!(
                        kevy_rt::shard_of(a.as_bytes(), shards),
                        kevy_rt::shard_of(b.as_bytes(), shards)
                    );
                }
                let (a, b) = keys_for(Mode::SameShard, i, shards);
                assert_eq!(kevy_rt::slot(a.as_bytes()), kevy_rt::slot(b.as_bytes()));
            }
        }
    }
}
