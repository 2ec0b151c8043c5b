//! crashtest: kill -9 a server with an append-only log at random moments
//! while writers pipeline into it, restart it on the same directory, and
//! check that every acknowledged write is there; see kevy_benches::crash.
//! Exits 0 on PASS, 1 on FAIL, 2 when it cannot run.

use kevy_benches::cli::{die, num, Args};
use kevy_benches::crash::{run, Config, During, Fsync};
use std::process::exit;
use std::time::Duration;

const USAGE: &str = "\
usage: crashtest --server PATH [options] [-- SERVER_ARGS...]
  The server is started as
    PATH --port P --bind 127.0.0.1 --dir D --appendonly yes
         --appendfsync F --save '' [--cores C] SERVER_ARGS...
  killed with SIGKILL at a random moment of each round, and restarted.

  --server PATH          server binary (kevy-server, redis-server)   [required]
  --rounds N             kill/restart rounds                         [100]
  --fsync MODE           always | everysec | no                      [always]
  --during JOB           none | bgsave | bgrewriteaof: keep JOB
                         running in the moments before each kill     [none]
  --cores LIST           --cores of successive starts, cycled, e.g.
                         1,2,3 (kevy only; redis has no --cores)     [none]
  --writers W            single-key writers, a connection each       [8]
  --keys K               keys per kind (INCR, SET, RPUSH, SADD)
                         per writer                                  [16]
  --batch B              commands per pipelined batch                [16]
  --value-size D         SET value padding in bytes                  [32]
  --tx-writers T         MULTI/EXEC + MSET writers, a group each     [4]
  --group-keys K         keys per transaction group                  [8]
  --tx-batch B           transactions per pipelined batch            [4]
  --rate R               writes/s per writer, 0 = unlimited          [5000]
  --kill-after MIN:MAX   ms from the writers' start to the kill      [100:1000;
                         everysec and no: 500:(2 x --max-loss-ms)]
  --during-window MS     JOB starts at most this long before a kill  [300]
  --fill N               N keys f:<i> set first (for bgsave and
                         bgrewriteaof to chew on), checked each round [0]
  --fill-size B          bytes per fill value                        [100]
  --max-loss-ms MS       everysec: lost writes must have been acked
                         at most this long before the kill           [2000]
  --seed N               random seed                                 [from the clock]
  --dir D                data and log directory                      [a new temp dir]
  --keep                 keep the directory after a PASS
  --ready-timeout SECS   allowed start-up (and load) time            [120]
  --help                 this text";

fn parse_range(v: &str, name: &str) -> (u64, u64) {
    let Some((lo, hi)) = v.split_once(':') else {
        die(format_args!("{name}: expected MIN:MAX, got {v:?}"));
    };
    let (lo, hi) = (num(lo, name, 0), num(hi, name, 0));
    if hi < lo {
        die(format_args!("{name}: MAX below MIN"));
    }
    (lo, hi)
}

fn main() {
    let mut server = None;
    let mut c = Config::new("");
    c.seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut kill_after_given = false;
    let mut args = Args::new(USAGE);
    while let Some(a) = args.next_opt() {
        match a.as_str() {
            "--server" => server = Some(args.value(&a)),
            "--rounds" => c.rounds = args.num(&a, 1),
            "--fsync" => {
                let v = args.value(&a);
                c.fsync = Fsync::parse(&v).unwrap_or_else(|| {
                    die(format_args!("--fsync: always, everysec or no, not {v:?}"))
                });
            }
            "--during" => {
                let v = args.value(&a);
                c.during = During::parse(&v).unwrap_or_else(|| {
                    die(format_args!(
                        "--during: none, bgsave or bgrewriteaof, not {v:?}"
                    ))
                });
            }
            "--cores" => {
                c.cores = args
                    .value(&a)
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| num(s, "--cores", 1))
                    .collect();
            }
            "--writers" => c.writers = args.num(&a, 0),
            "--keys" => c.keys = args.num(&a, 1),
            "--batch" => c.batch = args.num(&a, 1),
            "--value-size" => c.value_size = args.num(&a, 0),
            "--tx-writers" => c.tx_writers = args.num(&a, 0),
            "--group-keys" => c.group_keys = args.num(&a, 2),
            "--tx-batch" => c.tx_batch = args.num(&a, 1),
            "--rate" => c.rate = args.num(&a, 0),
            "--kill-after" => {
                c.kill_after_ms = parse_range(&args.value(&a), &a);
                kill_after_given = true;
            }
            "--during-window" => c.during_window_ms = args.num(&a, 0),
            "--fill" => c.fill = args.num(&a, 0),
            "--fill-size" => c.fill_size = args.num(&a, 1),
            "--max-loss-ms" => c.max_loss_ms = args.num(&a, 0),
            "--seed" => c.seed = args.num(&a, 0),
            "--dir" => c.dir = Some(args.value(&a).into()),
            "--keep" => c.keep = true,
            "--ready-timeout" => {
                c.ready_timeout = Duration::from_secs(args.num(&a, 1));
            }
            "--" => {
                c.server_args = args.rest();
            }
            _ => args.unknown(&a),
        }
    }
    if !kill_after_given && c.fsync != Fsync::Always {
        // Rounds longer than the allowed loss window, so that a server
        // losing more than the window shows it.
        c.kill_after_ms = (500, 2 * c.max_loss_ms.max(500));
    }
    let Some(server) = server else {
        die(format_args!("--server is required\n{USAGE}"));
    };
    c.server = server.into();
    if c.writers + c.tx_writers == 0 {
        die("no writers: give --writers or --tx-writers above 0");
    }
    match run(&c) {
        Ok(sum) => exit(if sum.passed { 0 } else { 1 }),
        Err(e) => {
            eprintln!("crashtest: {e}");
            exit(2);
        }
    }
}
