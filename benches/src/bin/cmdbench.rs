//! cmdbench: requests/s of one command, like `redis-benchmark -P P` with a
//! custom command, except that `__rand__` in an argument becomes a random
//! integer below R written without leading zeros. redis-benchmark's
//! `__rand_int__` is always twelve zero-padded digits, which Redis's strict
//! integer parsing refuses where an offset or a count is expected (SETBIT
//! at a random offset).
//!
//! One thread drives every connection in rounds: each connection gets its
//! pipeline of P commands, then each one's P replies are read, so C × P
//! commands are in flight as with redis-benchmark. An error reply aborts.

use kevy_benches::cli::{die, Args};
use kevy_benches::conn::Blocking;
use kevy_benches::resp::Value;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

const USAGE: &str = "\
usage: cmdbench [options] CMD [ARG...]
  -h, --host HOST       server address                          [127.0.0.1]
  -p, --port PORT       server port                             [6379]
  -c, --conns C         connections                             [50]
  -P, --pipeline P      commands in flight per connection       [16]
  -n, --requests N      commands to send in all                 [100000]
  -r, --range R         __rand__ is a random integer in 0..R    [1000000]
      --help            this text
Prints: requests/s";

fn main() {
    let mut args = Args::new(USAGE);
    let (mut host, mut port, mut conns, mut pipeline, mut total, mut range) = (
        "127.0.0.1".to_string(),
        6379u16,
        50usize,
        16usize,
        100_000u64,
        1_000_000u64,
    );
    let mut cmd: Vec<String> = Vec::new();
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "-h" | "--host" => host = args.value(&a),
            "-p" | "--port" => port = args.num(&a, 1),
            "-c" | "--conns" => conns = args.num(&a, 1),
            "-P" | "--pipeline" => pipeline = args.num(&a, 1),
            "-n" | "--requests" => total = args.num(&a, 1),
            "-r" | "--range" => range = args.num(&a, 1),
            _ if a.starts_with('-') => args.unknown(&a),
            _ => {
                cmd.push(a);
                cmd.extend(args.rest());
            }
        }
    }
    if cmd.is_empty() {
        die("no command given");
    }
    let mut cs: Vec<Blocking> = (0..conns).map(|_| Blocking::connect(&host, port)).collect();
    // xorshift64*: cheap, and the same sequence every run.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % range
    };
    // Each argument split at its first `__rand__` (None: no placeholder),
    // so a command is written straight into the output without building
    // strings.
    let parts: Vec<(&str, Option<&str>)> = cmd
        .iter()
        .map(|a| match a.split_once("__rand__") {
            Some((pre, post)) => (pre, Some(post)),
            None => (a.as_str(), None),
        })
        .collect();
    let mut out = Vec::new();
    let mut num = String::new();
    let mut sent = 0u64;
    let start = Instant::now();
    while sent < total {
        let mut in_flight = vec![0usize; conns];
        for (c, n) in cs.iter_mut().zip(in_flight.iter_mut()) {
            out.clear();
            while *n < pipeline && sent < total {
                write!(out, "*{}\r\n", parts.len()).expect("write to a Vec");
                for (pre, post) in &parts {
                    match post {
                        None => write!(out, "${}\r\n{pre}\r\n", pre.len()),
                        Some(post) => {
                            num.clear();
                            write!(num, "{pre}{}{post}", rand()).expect("write to a String");
                            write!(out, "${}\r\n{num}\r\n", num.len())
                        }
                    }
                    .expect("write to a Vec");
                }
                *n += 1;
                sent += 1;
            }
            c.send(&out);
        }
        for (c, n) in cs.iter_mut().zip(in_flight) {
            for _ in 0..n {
                c.reply(|v| {
                    if let Value::Error(e) = v {
                        die(format_args!("error reply: {}", String::from_utf8_lossy(e)));
                    }
                });
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0}", total as f64 / secs);
}
