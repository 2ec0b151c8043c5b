//! pubsubbench: pub/sub fan-out. S connections SUBSCRIBE to one channel,
//! then one publisher pipelines N PUBLISH commands to it, P at a time (send
//! P, read the P replies, as redis-benchmark -P does), and every subscriber
//! reads and counts what it gets. Reports the messages delivered per second
//! (received by all subscribers together over the time from the first
//! PUBLISH to the last message read) and, given the server's pid, the
//! server's CPU time per delivered message.
//!
//! Each message carries its sequence number (16 zero-padded digits, then
//! padding to -d bytes), so a subscriber checks that it gets every message
//! once and in publish order; every PUBLISH reply must count S receivers. A
//! subscriber the server disconnects (an output buffer limit, say) counts
//! as lost messages, and the run goes on without it. The exit status is 2
//! when anything was lost, duplicated or out of order.
//!
//! With --warm-up W the publisher first publishes W messages and waits
//! until every subscriber has read them before the clock, the server's CPU
//! time and the latencies start: the figures are then those of a lasting
//! load, not of the server's first moments under it (a kevy server with
//! several shards moves connections to the shards whose cores have time
//! in its first tenth of a second or so).
//!
//! Delivery latency: the publisher notes when it sends each batch, and a
//! subscriber's message counts from then to the return of the read that
//! brought it (p50, p99, p99.9, max). With --rate the publisher sends its
//! batches at that many messages per second instead of as fast as the
//! replies come: latency when the server is not saturated.
//!
//! The subscribers are spread over R reader threads (default 1), each one
//! epoll loop over non-blocking sockets; the publisher is the main thread,
//! blocking. With the tool pinned to one CPU, as the bench scripts run it,
//! more readers only add context switches: one loop over 500 sockets reads
//! as fast as two or four.
//! Raw RESP over std::net::TcpStream; no client library.

use kevy_benches::cli::{die, Args};
use kevy_benches::conn::{put_seq, receive, wait_progress, Blocking, Frame, SEQ_DIGITS};
use kevy_benches::hist::Histogram;
use kevy_benches::proc::{conns_per_epoll, spread_text, CpuSample};
use kevy_benches::resp::{command, Value};
use std::io::Write;
use std::net::TcpStream;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: pubsubbench [options]
  -h, --host HOST         server address                        [127.0.0.1]
  -p, --port PORT         server port                           [6379]
  -s, --subscribers S     subscriber connections                [50]
  -n, --messages N        messages to publish                   [100000]
  -P, --pipeline P        PUBLISH commands per batch            [16]
  -d, --data-size D       message size in bytes, >= 16          [16]
  -c, --channel NAME      the channel                           [bench:chan]
  -r, --readers R         subscriber reader threads             [1]
      --rate R            publish R messages per second, in batches of P
                          evenly spaced (0: as fast as replies come)  [0]
      --warm-up W         publish W messages first, not measured, and
                          wait until all are read                [0]
      --server-pid PID    the server's pid: report its CPU time per
                          delivered message and how the connections
                          spread over its epoll instances (kevy: shards)
      --idle SECS         give up waiting for messages after this long
                          without one                           [5]
  -q, --quiet             print only, tab-separated: delivered/s delivered
                          expected secs server_ticks client_ticks
                          other_ticks bad spread p50_us p99_us p999_us
                          max_us
      --help              this text";

struct Opts {
    host: String,
    port: u16,
    subscribers: usize,
    messages: u64,
    pipeline: usize,
    data_size: usize,
    channel: String,
    readers: usize,
    server_pid: Option<u32>,
    idle: Duration,
    quiet: bool,
    rate: f64,
    warm_up: u64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        subscribers: 50,
        messages: 100_000,
        pipeline: 16,
        data_size: SEQ_DIGITS,
        channel: "bench:chan".into(),
        readers: 1,
        server_pid: None,
        idle: Duration::from_secs(5),
        quiet: false,
        rate: 0.0,
        warm_up: 0,
    };
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "-h" | "--host" => o.host = args.value(&a),
            "-p" | "--port" => o.port = args.num(&a, 1),
            "-s" | "--subscribers" => o.subscribers = args.num(&a, 1),
            "-n" | "--messages" => o.messages = args.num(&a, 1),
            "-P" | "--pipeline" => o.pipeline = args.num(&a, 1),
            "-d" | "--data-size" => o.data_size = args.num(&a, SEQ_DIGITS),
            "-c" | "--channel" => o.channel = args.value(&a),
            "-r" | "--readers" => o.readers = args.num(&a, 1),
            "--server-pid" => o.server_pid = Some(args.num(&a, 1)),
            "--idle" => o.idle = Duration::from_secs_f64(args.num(&a, 0.1)),
            "-q" | "--quiet" => o.quiet = true,
            "--rate" => o.rate = args.num(&a, 0.0),
            "--warm-up" => o.warm_up = args.num(&a, 0),
            _ => args.unknown(&a),
        }
    }
    o
}

/// One subscriber's account of its messages.
#[derive(Default, Clone, Copy)]
struct Tally {
    got: u64,
    /// The sequence number it expects next.
    next: u64,
    /// Messages that were not the one expected (a gap, a repeat).
    disorder: u64,
}

/// Connects and subscribes every subscriber: all SUBSCRIBEs first, then the
/// confirmations.
fn subscribe(o: &Opts) -> Vec<TcpStream> {
    let mut cmd = Vec::new();
    command(&mut cmd, &[b"SUBSCRIBE", o.channel.as_bytes()]);
    let mut conns: Vec<Blocking> = (0..o.subscribers)
        .map(|_| Blocking::connect(&o.host, o.port))
        .collect();
    for c in conns.iter_mut() {
        c.send(&cmd);
    }
    for c in conns.iter_mut() {
        let ok = c.reply(|v| match v {
            Value::Array(Some(items)) => {
                items.len() == 3
                    && items[0] == Value::Bulk(Some(b"subscribe"))
                    && items[1] == Value::Bulk(Some(o.channel.as_bytes()))
                    && items[2] == Value::Int(1)
            }
            _ => false,
        });
        if !ok {
            die("SUBSCRIBE was not confirmed");
        }
    }
    conns.into_iter().map(|c| c.stream).collect()
}

/// Publishes messages `seqs`, P per batch, noting in `sent[seq]` when
/// each went out (ns since `base`); returns how many PUBLISH replies did
/// not count every subscriber.
fn publish(
    o: &Opts,
    p: &mut Blocking,
    sent: &[AtomicU64],
    base: Instant,
    seqs: std::ops::Range<u64>,
) -> u64 {
    let data = vec![b'x'; o.data_size];
    let mut one = Vec::new();
    command(&mut one, &[b"PUBLISH", o.channel.as_bytes(), &data]);
    // The digits are the data, which ends the command before its CRLF.
    let digits_at = one.len() - 2 - o.data_size;
    let cmd_len = one.len();
    let mut batch = one.repeat(o.pipeline);
    let want = o.subscribers as i64;
    let mut bad = 0;
    let mut seq = seqs.start;
    let start = Instant::now();
    while seq < seqs.end {
        let k = (seqs.end - seq).min(o.pipeline as u64) as usize;
        for j in 0..k {
            let at = j * cmd_len + digits_at;
            put_seq(&mut batch[at..at + SEQ_DIGITS], seq + j as u64);
        }
        if o.rate > 0.0 {
            let due = start + Duration::from_secs_f64((seq - seqs.start) as f64 / o.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let now = base.elapsed().as_nanos() as u64;
        for t in &sent[seq as usize..seq as usize + k] {
            // Relaxed: the send below, a syscall, comes before the
            // subscriber's read of the message in real time; a reader that
            // could see 0 here skips the sample.
            t.store(now, Ordering::Relaxed);
        }
        p.send(&batch[..k * cmd_len]);
        for _ in 0..k {
            let n = p.reply(|v| match v {
                Value::Int(n) => n,
                other => die(format_args!("PUBLISH answered {other}")),
            });
            if n != want {
                bad += 1;
            }
        }
        seq += k as u64;
    }
    bad
}

fn main() {
    let o = parse_opts();
    let readers = o.readers.min(o.subscribers);

    let mut publisher = Blocking::connect(&o.host, o.port);
    let subs = subscribe(&o);
    let numsub = publisher.call(&[b"PUBSUB", b"NUMSUB", o.channel.as_bytes()], |v| match v {
        Value::Array(Some(items)) if items.len() == 2 => match items[1] {
            Value::Int(n) => n,
            _ => -1,
        },
        _ => -1,
    });
    if numsub != o.subscribers as i64 {
        die(format_args!(
            "PUBSUB NUMSUB {} says {numsub}, not {}",
            o.channel, o.subscribers
        ));
    }
    // The publisher's connection is in there too.
    let spread = o
        .server_pid
        .map(|pid| conns_per_epoll(pid).unwrap_or_else(|e| die(format_args!("/proc/{pid}: {e}"))));

    let mut groups: Vec<Vec<TcpStream>> = (0..readers).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        groups[i % readers].push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let warm = o.warm_up;
    let target = warm + o.messages;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..target).map(|_| AtomicU64::new(0)).collect());
    let base = Instant::now();
    let handles: Vec<_> = groups
        .into_iter()
        .map(|mut conns| {
            let (stop, progress, sent) = (stop.clone(), progress.clone(), sent.clone());
            let frame = Frame::new(&[b"message", o.channel.as_bytes()], o.data_size);
            std::thread::spawn(move || {
                let mut tally = vec![Tally::default(); conns.len()];
                let mut lat = Histogram::new();
                let r = receive(&mut conns, &frame, &stop, &progress, |i, seq, _, at| {
                    let t = &mut tally[i];
                    if seq != t.next {
                        t.disorder += 1;
                    }
                    t.next = seq + 1;
                    t.got += 1;
                    let sent_ns = sent
                        .get(seq as usize)
                        .map_or(0, |s| s.load(Ordering::Relaxed));
                    if sent_ns != 0 && seq >= warm {
                        let read_ns = at.duration_since(base).as_nanos() as u64;
                        lat.record(read_ns.saturating_sub(sent_ns), 1);
                    }
                    t.got >= target
                });
                (tally, r, lat)
            })
        })
        .collect();

    let subs = o.subscribers as u64;
    let mut bad_counts = 0;
    if warm > 0 {
        bad_counts += publish(&o, &mut publisher, &sent, base, 0..warm);
        wait_progress(&progress, warm * subs, o.idle, || {
            handles.iter().all(|h| h.is_finished())
        });
    }
    let cpu0 = CpuSample::take(o.server_pid);
    let t0 = Instant::now();
    bad_counts += publish(&o, &mut publisher, &sent, base, warm..target);
    let published = t0.elapsed();

    // Wait for the subscribers to read everything, or to stop getting it.
    let expected = o.messages * subs;
    wait_progress(&progress, target * subs, o.idle, || {
        handles.iter().all(|h| h.is_finished())
    });
    let cpu = CpuSample::take(o.server_pid).since(&cpu0);
    stop.store(true, Ordering::Relaxed);
    let mut delivered = 0;
    let mut disorder = 0;
    let mut closed = 0;
    let mut last = t0;
    let mut lat = Histogram::new();
    for h in handles {
        let (tally, r, l) = h.join().unwrap_or_else(|_| die("a reader thread panicked"));
        lat.merge(&l);
        delivered += tally.iter().map(|t| t.got).sum::<u64>();
        disorder += tally.iter().map(|t| t.disorder).sum::<u64>();
        closed += r.closed.len();
        if let Some(l) = r.last {
            last = last.max(l);
        }
    }
    let secs = last
        .duration_since(t0)
        .max(Duration::from_nanos(1))
        .as_secs_f64();
    // What the subscribers read during the warm-up is not measured.
    let delivered = delivered.saturating_sub(warm * subs);
    let rate = delivered as f64 / secs;
    let bad = (expected - delivered.min(expected)) + disorder + bad_counts;
    let spread_text = spread_text(spread.as_deref());
    let us = |q: f64| lat.quantile(q) as f64 / 1000.0;
    let (p50, p99, p999, max) = (us(0.5), us(0.99), us(0.999), lat.max as f64 / 1000.0);

    let mut out = std::io::stdout().lock();
    if o.quiet {
        let _ = writeln!(
            out,
            "{rate:.0}\t{delivered}\t{expected}\t{secs:.3}\t{}\t{bad}\t{spread_text}\t\
             {p50:.1}\t{p99:.1}\t{p999:.1}\t{max:.1}",
            cpu.fields(),
        );
    } else {
        let _ = writeln!(
            out,
            "pubsubbench: {} messages of {} bytes to {} subscribers of {:?}, pipeline {}, \
             {readers} reader thread(s)",
            o.messages, o.data_size, o.subscribers, o.channel, o.pipeline
        );
        if spread.is_some() {
            let _ = writeln!(
                out,
                "  connections per epoll instance of the server (subscribers + publisher): \
                 {spread_text}"
            );
        }
        let _ = writeln!(
            out,
            "  delivered {delivered} of {expected} in {secs:.3} s: {rate:.0} msg/s \
             (published in {:.3} s)",
            published.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  delivery latency: p50 {p50:.1} µs, p99 {p99:.1} µs, p99.9 {p999:.1} µs, \
             max {max:.1} µs"
        );
        let _ = cpu.write_report(&mut out, delivered, "delivered message", secs);
    }
    if bad > 0 {
        eprintln!(
            "pubsubbench: LOSS: {} of {expected} messages not delivered, {disorder} out of \
             order, {closed} subscriber(s) disconnected, {bad_counts} PUBLISH replies not \
             counting {} receivers",
            expected - delivered.min(expected),
            o.subscribers
        );
        exit(2);
    }
}
