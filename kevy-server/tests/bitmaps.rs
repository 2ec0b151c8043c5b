//! Bitmaps end to end. Random bit commands (SETBIT, BITCOUNT, BITPOS,
//! BITFIELD, BITOP across shards, LCS) sent to redis-server and to kevy
//! with three shards answer byte for byte alike. Bit writes go through the
//! append-only log: SETBIT, BITFIELD and BITOP (on one shard and across
//! shards) are logged as they take effect, so a server killed with SIGKILL
//! and restarted (with another shard count) holds the same strings; and a
//! write that changed nothing leaves the log alone.

mod common;

use common::resp::{command, escape, Conn};
use common::{Server, TempDir};

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

fn run(c: &mut redis::Connection, line: &str) -> redis::Value {
    let mut parts = line.split_whitespace();
    let mut cmd = redis::cmd(parts.next().expect("a command"));
    for a in parts {
        cmd.arg(a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Every key's string (or its absence) and TTL state.
fn state(c: &mut redis::Connection, keys: &[&str]) -> Vec<(Option<Vec<u8>>, i64)> {
    keys.iter()
        .map(|k| {
            let v: Option<Vec<u8>> = redis::cmd("GET").arg(*k).query(c).unwrap();
            let ttl: i64 = redis::cmd("TTL").arg(*k).query(c).unwrap();
            (v, ttl.min(0))
        })
        .collect()
}

fn aof_size(c: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("aof_current_size:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no aof_current_size in {text}"))
}

#[test]
fn bit_writes_replay_from_the_log_after_a_kill() {
    let dir = TempDir::new("bitmaps-aof");
    let keys = [
        "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "{a}x", "{a}y", "{a}d", "nf",
    ];
    let script = [
        "SETBIT k1 7 1",
        "SETBIT k1 1000 1",
        "SETBIT k1 1000 0",
        "SET k2 foobar",
        "EXPIRE k2 1000",
        "SETBIT k2 0 1",
        "BITFIELD k3 SET i8 0 -5 INCRBY u4 12 7 OVERFLOW SAT INCRBY i8 0 -200",
        "BITFIELD k3 OVERFLOW FAIL INCRBY u2 0 9 SET u8 #3 65",
        "BITFIELD nf OVERFLOW FAIL INCRBY u2 100 5",
        "SET k4 12345",
        "BITOP AND k5 k1 k2 k3",
        "BITOP OR k6 k2 k4 missing",
        "BITOP NOT k7 k2",
        "SET k8 gone",
        "BITOP XOR k8 missing1 missing2",
        "SET {a}x abc",
        "SET {a}y xyz",
        "BITOP XOR {a}d {a}x {a}y",
        "BITOP OR {a}x {a}x {a}d",
    ];
    let want = {
        let kevy = common::kevy_logged(dir.path(), 2, &[]);
        let mut c = client(kevy.port);
        for line in script {
            run(&mut c, line);
        }
        // Writes that change no bit are not logged.
        let before = aof_size(&mut c);
        run(&mut c, "SETBIT k1 7 1");
        run(&mut c, "BITFIELD k3 SET u8 #3 65 GET u8 0");
        run(&mut c, "BITOP AND {a}none {a}none2");
        assert_eq!(aof_size(&mut c), before, "a write that changes nothing");
        let want = state(&mut c, &keys);
        // Dropping the server kills it with SIGKILL.
        drop(kevy);
        want
    };
    assert_eq!(want[11].0.as_deref().map(<[u8]>::len), Some(13), "nf");
    assert_eq!(want[1].1, 0, "k2 keeps its TTL");
    let kevy = common::kevy_logged(dir.path(), 3, &[]);
    let mut c = client(kevy.port);
    assert_eq!(state(&mut c, &keys), want);
}

/// A small deterministic generator (xorshift64*), so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An integer in `-n..=n`.
    fn around(&mut self, n: i64) -> i64 {
        self.below(2 * n as u64 + 1) as i64 - n
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

/// One random bitmap command over keys that spread over the shards.
fn random_command(r: &mut Rng) -> Vec<Vec<u8>> {
    const KEYS: &[&str] = &["k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    let key = r.pick(KEYS);
    let s = |x: &str| x.as_bytes().to_vec();
    let n = |x: i64| x.to_string().into_bytes();
    let mut a = Vec::new();
    match r.below(10) {
        0 | 1 => {
            // Runs of zero and 0xff bytes make the searches cross words.
            let len = r.below(40) as usize;
            let fill = [0u8, 0xff, r.below(256) as u8][r.below(3) as usize];
            let mut v = vec![fill; len];
            if len > 0 && r.below(2) == 0 {
                let at = r.below(len as u64) as usize;
                v[at] = r.below(256) as u8;
            }
            a.extend([s("SET"), s(key), v]);
        }
        2 => a.extend([
            s("SETBIT"),
            s(key),
            n(r.below(400) as i64),
            n(r.below(2) as i64),
        ]),
        3 => {
            a.extend([s("BITCOUNT"), s(key)]);
            if r.below(5) > 0 {
                a.extend([n(r.around(50)), n(r.around(50))]);
                if r.below(2) == 0 {
                    a.push(s(r.pick(&["BIT", "BYTE"])));
                }
            }
        }
        4 => {
            a.extend([s("BITPOS"), s(key), n(r.below(2) as i64)]);
            let extra = r.below(4);
            if extra >= 1 {
                a.push(n(r.around(60)));
            }
            if extra >= 2 {
                a.push(n(r.around(60)));
            }
            if extra >= 3 {
                a.push(s(r.pick(&["BIT", "BYTE"])));
            }
        }
        5 | 6 => {
            a.extend([
                s(if r.below(8) == 0 {
                    "BITFIELD_RO"
                } else {
                    "BITFIELD"
                }),
                s(key),
            ]);
            for _ in 0..1 + r.below(4) {
                let signed = r.below(2) == 0;
                let bits = 1 + r.below(if signed { 64 } else { 63 });
                let ty = format!("{}{bits}", if signed { 'i' } else { 'u' });
                let off = if r.below(3) == 0 {
                    format!("#{}", r.below(12))
                } else {
                    r.below(150).to_string()
                };
                let v = [r.around(10), r.around(300), r.next() as i64][r.below(3) as usize];
                match r.below(4) {
                    0 => a.extend([s("GET"), s(&ty), s(&off)]),
                    1 => a.extend([s("SET"), s(&ty), s(&off), n(v)]),
                    2 => a.extend([s("INCRBY"), s(&ty), s(&off), n(v)]),
                    _ => a.extend([s("OVERFLOW"), s(r.pick(&["WRAP", "SAT", "FAIL"]))]),
                }
            }
        }
        7 | 8 => {
            let op = r.pick(&["AND", "OR", "XOR", "NOT"]);
            a.extend([s("BITOP"), s(op), s(r.pick(KEYS))]);
            for _ in 0..if op == "NOT" { 1 } else { 1 + r.below(4) } {
                a.push(s(r.pick(KEYS)));
            }
        }
        _ => {
            a.extend([s("LCS"), s(key), s(r.pick(KEYS))]);
            match r.below(3) {
                0 => a.push(s("IDX")),
                1 => a.push(s("LEN")),
                _ => {}
            }
            if r.below(2) == 0 {
                a.extend([s("MINMATCHLEN"), n(r.below(4) as i64)]);
            }
            if r.below(2) == 0 {
                a.push(s("WITHMATCHLEN"));
            }
        }
    }
    a
}

#[test]
fn random_bit_commands_answer_as_redis_does() {
    if common::skip_redis_tools() {
        return;
    }
    let redis = Server::redis("redis-server").unwrap_or_else(|e| panic!("{e}"));
    let kevy = Server::kevy(&["--cores", "3", "--save", ""]);
    let mut r = Conn::connect(redis.port).expect("connect");
    let mut k = Conn::connect(kevy.port).expect("connect");
    let mut rng = Rng(0x5EED_B175);
    let mut errors = 0;
    for i in 0..4000 {
        let mut args = random_command(&mut rng);
        if i % 100 == 99 {
            // Whole values now and then, so a write that answered alike but
            // stored otherwise shows.
            args = vec![
                b"MGET".to_vec(),
                b"k1".to_vec(),
                b"k4".to_vec(),
                b"k7".to_vec(),
            ];
        }
        let req = command(&args);
        r.send(&req).expect("send");
        k.send(&req).expect("send");
        let want = r.read().expect("redis reply").1;
        let got = k.read().expect("kevy reply").1;
        assert_eq!(escape(&got), escape(&want), "command {i}: {}", escape(&req));
        errors += want.starts_with(b"-") as usize;
    }
    // Mostly commands that run, not argument errors.
    assert!(errors < 400, "{errors} of 4000 replies are errors");
}
