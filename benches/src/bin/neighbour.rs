//! neighbour: a process that takes a share of one CPU, as another tenant
//! of a shared machine does: busy for `--share` per cent of every
//! `--period`, asleep for the rest, until killed (or for `--seconds`).
//! The bench scripts pin it (taskset) beside a server's shard to see how
//! the server copes with a core it does not have to itself.

use kevy_benches::cli::Args;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: neighbour [options]
      --share PCT      per cent of each period spent busy, 1 to 100  [35]
      --period MS      the period, in milliseconds                   [10]
      --seconds S      stop after this long (0: run until killed)    [0]
      --help           this text";

fn main() {
    let (mut share, mut period_ms, mut seconds) = (35u64, 10u64, 0f64);
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "--share" => share = args.num::<u64>(&a, 1).min(100),
            "--period" => period_ms = args.num(&a, 1),
            "--seconds" => seconds = args.num(&a, 0.0),
            _ => args.unknown(&a),
        }
    }
    let period = Duration::from_millis(period_ms);
    let busy = period * share as u32 / 100;
    let end = (seconds > 0.0).then(|| Instant::now() + Duration::from_secs_f64(seconds));
    let mut x = 0u64;
    // Periods follow a fixed grid, so a late wake-up shortens the next
    // sleep instead of lowering the share.
    let mut next = Instant::now();
    loop {
        let start = next;
        next += period;
        while start.elapsed() < busy {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        if end.is_some_and(|e| Instant::now() >= e) {
            return;
        }
        if let Some(rest) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        } else {
            next = Instant::now();
        }
    }
}
