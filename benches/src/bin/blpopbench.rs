//! blpopbench: a worker pool on a list. W worker connections each loop
//! `BLPOP queue 0` (the next one sent as soon as an item arrives), and one
//! producer pipelines N `LPUSH queue <item>` commands, P at a time (send P,
//! read the P replies). Reports items consumed per second (from the first
//! LPUSH to the last item read) and, given the server's pid, the server's
//! CPU time per item.
//!
//! Every item is its sequence number (16 zero-padded digits), so the run
//! checks that each of the N was consumed exactly once and that the list
//! is empty at the end; the exit status is 2 when not. The producer starts
//! once INFO says all W workers are blocked.
//!
//! The workers are spread over R reader threads, each one epoll loop over
//! non-blocking sockets; the producer is the main thread, blocking. Raw
//! RESP over std::net::TcpStream; no client library.

use kevy_benches::cli::{die, Args};
use kevy_benches::conn::{put_seq, receive, wait_progress, Blocking, Frame, SEQ_DIGITS};
use kevy_benches::proc::{conns_per_epoll, spread_text, CpuSample};
use kevy_benches::resp::{command, Value};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: blpopbench [options]
  -h, --host HOST         server address                        [127.0.0.1]
  -p, --port PORT         server port                           [6379]
  -w, --workers W         worker connections, one BLPOP each    [50]
  -n, --items N           items to push                         [200000]
  -P, --pipeline P        LPUSH commands per batch              [16]
  -k, --key NAME          the list                              [queue]
  -r, --readers R         worker reader threads                 [1]
      --server-pid PID    the server's pid: report its CPU time per item
                          and how the connections spread over its epoll
                          instances (kevy: shards)
      --idle SECS         give up waiting for items after this long
                          without one                           [5]
  -q, --quiet             print only, tab-separated: items/s consumed
                          expected secs server_ticks client_ticks
                          other_ticks bad spread
      --help              this text";

struct Opts {
    host: String,
    port: u16,
    workers: usize,
    items: u64,
    pipeline: usize,
    key: String,
    readers: usize,
    server_pid: Option<u32>,
    idle: Duration,
    quiet: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        workers: 50,
        items: 200_000,
        pipeline: 16,
        key: "queue".into(),
        readers: 1,
        server_pid: None,
        idle: Duration::from_secs(5),
        quiet: false,
    };
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "-h" | "--host" => o.host = args.value(&a),
            "-p" | "--port" => o.port = args.num(&a, 1),
            "-w" | "--workers" => o.workers = args.num(&a, 1),
            "-n" | "--items" => o.items = args.num(&a, 1),
            "-P" | "--pipeline" => o.pipeline = args.num(&a, 1),
            "-k" | "--key" => o.key = args.value(&a),
            "-r" | "--readers" => o.readers = args.num(&a, 1),
            "--server-pid" => o.server_pid = Some(args.num(&a, 1)),
            "--idle" => o.idle = Duration::from_secs_f64(args.num(&a, 0.1)),
            "-q" | "--quiet" => o.quiet = true,
            _ => args.unknown(&a),
        }
    }
    o.readers = o.readers.min(o.workers);
    o
}

/// Pushes the N items, P per batch.
fn produce(o: &Opts, p: &mut Blocking) {
    let mut one = Vec::new();
    command(&mut one, &[b"LPUSH", o.key.as_bytes(), &[b'0'; SEQ_DIGITS]]);
    let digits_at = one.len() - 2 - SEQ_DIGITS;
    let cmd_len = one.len();
    let mut batch = one.repeat(o.pipeline);
    let mut seq = 0u64;
    while seq < o.items {
        let k = (o.items - seq).min(o.pipeline as u64) as usize;
        for j in 0..k {
            let at = j * cmd_len + digits_at;
            put_seq(&mut batch[at..at + SEQ_DIGITS], seq + j as u64);
        }
        p.send(&batch[..k * cmd_len]);
        for _ in 0..k {
            p.reply(|v| {
                if !matches!(v, Value::Int(_)) {
                    die(format_args!("LPUSH answered {v}"));
                }
            });
        }
        seq += k as u64;
    }
}

/// Waits up to 5 s for INFO's blocked_clients to reach `n`; false if not.
fn wait_blocked(p: &mut Blocking, n: usize) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if p.info_field("clients", "blocked_clients")
            .and_then(|v| v.parse().ok())
            == Some(n)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn main() {
    let o = parse_opts();
    let mut blpop = Vec::new();
    command(&mut blpop, &[b"BLPOP", o.key.as_bytes(), b"0"]);

    let mut producer = Blocking::connect(&o.host, o.port);
    producer.call(&[b"DEL", o.key.as_bytes()], |_| ());
    let mut workers: Vec<TcpStream> = (0..o.workers)
        .map(|_| {
            let mut c = Blocking::connect(&o.host, o.port);
            c.send(&blpop);
            c.stream
        })
        .collect();
    if !wait_blocked(&mut producer, o.workers) && !o.quiet {
        eprintln!(
            "blpopbench: INFO clients does not show {} blocked clients",
            o.workers
        );
    }
    // The producer's connection is in there too.
    let spread = o
        .server_pid
        .map(|pid| conns_per_epoll(pid).unwrap_or_else(|e| die(format_args!("/proc/{pid}: {e}"))));

    let mut groups: Vec<Vec<TcpStream>> = (0..o.readers).map(|_| Vec::new()).collect();
    for (i, s) in workers.drain(..).enumerate() {
        groups[i % o.readers].push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = groups
        .into_iter()
        .map(|mut conns| {
            let (stop, progress) = (stop.clone(), progress.clone());
            let frame = Frame::new(&[o.key.as_bytes()], SEQ_DIGITS);
            let blpop = blpop.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                let r = receive(&mut conns, &frame, &stop, &progress, |_, seq, s, _| {
                    ids.push(seq);
                    // One small command on an otherwise idle socket: its
                    // send buffer has room.
                    match s.write(&blpop) {
                        Ok(n) if n == blpop.len() => {}
                        Ok(_) => die("BLPOP written in part"),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => die("BLPOP would block"),
                        Err(e) => die(format_args!("write: {e}")),
                    }
                    false
                });
                (ids, r)
            })
        })
        .collect();

    let cpu0 = CpuSample::take(o.server_pid);
    let t0 = Instant::now();
    produce(&o, &mut producer);
    let produced = t0.elapsed();

    wait_progress(&progress, o.items, o.idle, || {
        handles.iter().all(|h| h.is_finished())
    });
    let cpu = CpuSample::take(o.server_pid).since(&cpu0);
    stop.store(true, Ordering::Relaxed);

    // Exactly once: every item 0..N seen, none twice, nothing else.
    let mut count = vec![0u8; o.items as usize];
    let (mut consumed, mut dup, mut foreign, mut closed) = (0u64, 0u64, 0u64, 0usize);
    let mut last = t0;
    for h in handles {
        let (ids, r) = h.join().unwrap_or_else(|_| die("a reader thread panicked"));
        consumed += ids.len() as u64;
        for id in ids {
            match count.get_mut(id as usize) {
                Some(c) if *c > 0 => dup += 1,
                Some(c) => *c = 1,
                None => foreign += 1,
            }
        }
        closed += r.closed.len();
        if let Some(l) = r.last {
            last = last.max(l);
        }
    }
    let missing = count.iter().filter(|&&c| c == 0).count() as u64;
    let left = producer.call(&[b"LLEN", o.key.as_bytes()], |v| match v {
        Value::Int(n) => n,
        other => die(format_args!("LLEN answered {other}")),
    });
    let secs = last
        .duration_since(t0)
        .max(Duration::from_nanos(1))
        .as_secs_f64();
    let rate = consumed as f64 / secs;
    let bad = missing + dup + foreign + left.unsigned_abs();
    let spread_text = spread_text(spread.as_deref());

    let mut out = std::io::stdout().lock();
    if o.quiet {
        let _ = writeln!(
            out,
            "{rate:.0}\t{consumed}\t{}\t{secs:.3}\t{}\t{bad}\t{spread_text}",
            o.items,
            cpu.fields(),
        );
    } else {
        let _ = writeln!(
            out,
            "blpopbench: {} items, {} workers on {:?}, pipeline {}, {} reader thread(s)",
            o.items, o.workers, o.key, o.pipeline, o.readers
        );
        if spread.is_some() {
            let _ = writeln!(
                out,
                "  connections per epoll instance of the server (workers + producer): \
                 {spread_text}"
            );
        }
        let _ = writeln!(
            out,
            "  consumed {consumed} of {} in {secs:.3} s: {rate:.0} items/s (pushed in {:.3} s)",
            o.items,
            produced.as_secs_f64()
        );
        let _ = cpu.write_report(&mut out, consumed, "item", secs);
    }
    if bad > 0 {
        eprintln!(
            "blpopbench: NOT EXACTLY ONCE: {missing} of {} items not consumed, {dup} consumed \
             twice, {foreign} unknown, {left} left in the list, {closed} worker(s) disconnected",
            o.items
        );
        exit(2);
    }
}
