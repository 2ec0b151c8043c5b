//! Randomized differential test of the geo commands: random points in
//! regions all over the map (poles, antimeridian, duplicates that tie on
//! distance, points on one meridian), random searches by radius and box
//! with every option, the STORE forms across shards, all sent to a real
//! redis-server and to kevy, whose replies must be the same bytes.
//!
//! `KEVY_GEO_SEED=<n>` replays one run; `KEVY_GEO_ROUNDS=<n>` runs longer.

mod common;

use common::resp::{escape, Conn};
use common::Server;

/// xorshift64*: reproducible from the printed seed.
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

    /// Uniform in [lo, hi).
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const LAT_MAX: f64 = 85.051_128_78;

/// Places where cells, neighbours and distances have edge cases.
const REGIONS: &[(f64, f64)] = &[
    (13.36, 38.11),
    (0.0, 0.0),
    (179.99, 10.0),
    (-179.99, -10.0),
    (2.35, 48.85),
    (-122.27, 37.8),
    (30.0, 70.0),
    (-60.0, -75.0),
    (100.0, 84.9),
    (-45.0, -84.99),
    (0.0001, 66.0),
];

fn coord(rng: &mut Rng, center: (f64, f64), spread: f64) -> (f64, f64) {
    let lon = (center.0 + rng.float(-spread, spread)).clamp(-180.0, 180.0);
    let lat = (center.1 + rng.float(-spread, spread)).clamp(-LAT_MAX, LAT_MAX);
    (lon, lat)
}

/// A number as a client would type it (a few digits, sometimes many).
fn num(rng: &mut Rng, v: f64) -> String {
    match rng.below(3) {
        0 => format!("{v:.3}"),
        1 => format!("{v:.6}"),
        _ => format!("{v}"),
    }
}

/// One random search command over `key` (members `m0..m{n}`).
fn search(rng: &mut Rng, key: &str, n: usize, center: (f64, f64)) -> Vec<String> {
    let units = ["m", "km", "ft", "mi", "KM"];
    let unit = *rng.pick(&units);
    let scale = match unit {
        "m" => 1.0,
        "ft" => 3.28,
        "mi" => 0.000_621,
        _ => 0.001,
    };
    // Radii from a few metres to a third of the planet.
    let metres = 10f64.powf(rng.float(0.5, 7.2));
    let size = |rng: &mut Rng| {
        let v = metres * scale * rng.float(0.3, 1.5);
        num(rng, v)
    };
    let off = rng.float(0.0, 3.0);
    let (lon, lat) = coord(rng, center, off);
    let member = format!("m{}", rng.below(n as u64 + 2));
    let kind = rng.below(10);
    let mut cmd: Vec<String> = Vec::new();
    let mut store = false;
    match kind {
        0..=4 => {
            let dst = kind == 4;
            if dst {
                cmd.push("GEOSEARCHSTORE".into());
                cmd.push(format!("dst{}", rng.below(4)));
                store = true;
            } else {
                cmd.push("GEOSEARCH".into());
            }
            cmd.push(key.into());
            if rng.below(3) == 0 {
                cmd.extend(["FROMMEMBER".into(), member]);
            } else {
                cmd.extend(["FROMLONLAT".into(), num(rng, lon), num(rng, lat)]);
            }
            if rng.below(2) == 0 {
                cmd.extend(["BYRADIUS".into(), size(rng), unit.into()]);
            } else {
                cmd.extend(["BYBOX".into(), size(rng), size(rng), unit.into()]);
            }
            if dst && rng.below(2) == 0 {
                cmd.push("STOREDIST".into());
            }
        }
        5 | 6 => {
            cmd.push(rng.pick(&["GEORADIUS", "GEORADIUS_RO"]).to_string());
            cmd.extend([
                key.into(),
                num(rng, lon),
                num(rng, lat),
                size(rng),
                unit.into(),
            ]);
        }
        _ => {
            cmd.push(
                rng.pick(&["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"])
                    .to_string(),
            );
            cmd.extend([key.into(), member, size(rng), unit.into()]);
        }
    }
    let writable = matches!(cmd[0].as_str(), "GEORADIUS" | "GEORADIUSBYMEMBER");
    if writable && rng.below(4) == 0 {
        let opt = *rng.pick(&["STORE", "STOREDIST"]);
        cmd.extend([opt.into(), format!("dst{}", rng.below(4))]);
        store = true;
    }
    if !store {
        for opt in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if rng.below(3) == 0 {
                cmd.push(opt.into());
            }
        }
    }
    match rng.below(3) {
        0 => cmd.push("ASC".into()),
        1 => cmd.push("DESC".into()),
        _ => {}
    }
    if rng.below(2) == 0 {
        cmd.extend(["COUNT".into(), (1 + rng.below(20)).to_string()]);
        if rng.below(3) == 0 {
            cmd.push("ANY".into());
        }
    }
    cmd
}

fn run(seed: u64, rounds: usize) {
    let redis = match Server::redis("redis-server (geo)") {
        Ok(s) => s,
        Err(e) if common::skip_redis_tools() => return eprintln!("skipped: {e}"),
        Err(e) => panic!("{e}"),
    };
    let kevy = Server::kevy(&["--cores", "3", "--save", ""]);
    let mut conns = [
        Conn::connect(redis.port).unwrap(),
        Conn::connect(kevy.port).unwrap(),
    ];
    let mut rng = Rng(seed | 1);
    let mut compared = 0;
    let mut last = String::new();
    let mut send = |cmd: &[String], conns: &mut [Conn; 2]| {
        let replies: Vec<Vec<u8>> = conns
            .iter_mut()
            .map(|c| {
                c.send(&common::resp::command(cmd)).unwrap();
                c.read().unwrap().1
            })
            .collect();
        assert!(
            replies[0] == replies[1],
            "seed {seed}: {}\n after: {last}\n redis: {}\n kevy:  {}",
            cmd.join(" "),
            escape(&replies[0]),
            escape(&replies[1])
        );
        compared += 1;
        last = cmd.join(" ");
        if std::env::var_os("KEVY_GEO_TRACE").is_some() {
            eprintln!("TRACE {last}");
        }
    };
    for round in 0..rounds {
        send(&["FLUSHALL".into()], &mut conns);
        if round % 4 == 3 {
            // RESP3 from here on; HELLO's reply holds the connection id,
            // which differs.
            for c in conns.iter_mut() {
                c.call(&["HELLO", "3"]).unwrap();
            }
        }
        let center = *rng.pick(REGIONS);
        let spread = 10f64.powf(rng.float(-3.0, 1.0));
        let key = format!("geo{}", rng.below(5));
        let n = 20 + rng.below(300) as usize;
        let mut i = 0;
        let mut placed: Vec<(f64, f64)> = Vec::new();
        while i < n {
            let mut cmd = vec!["GEOADD".to_string(), key.clone()];
            for _ in 0..(1 + rng.below(20)) {
                // Some points repeat an earlier one: equal distances.
                let p = if !placed.is_empty() && rng.below(8) == 0 {
                    *rng.pick(&placed)
                } else if !placed.is_empty() && rng.below(8) == 0 {
                    // One meridian: distances take Redis's latitude-only
                    // shortcut.
                    let lon = rng.pick(&placed).0;
                    (lon, coord(&mut rng, center, spread).1)
                } else {
                    coord(&mut rng, center, spread)
                };
                placed.push(p);
                cmd.extend([num(&mut rng, p.0), num(&mut rng, p.1), format!("m{i}")]);
                i += 1;
            }
            send(&cmd, &mut conns);
        }
        for _ in 0..60 {
            let cmd = search(&mut rng, &key, n, center);
            let store = if cmd[0] == "GEOSEARCHSTORE" {
                Some(cmd[1].clone())
            } else {
                cmd.iter()
                    .position(|a| a == "STORE" || a == "STOREDIST")
                    .map(|p| cmd[p + 1].clone())
            };
            send(&cmd, &mut conns);
            if let Some(dst) = store {
                send(
                    &[
                        "ZRANGE".into(),
                        dst,
                        "0".into(),
                        "-1".into(),
                        "WITHSCORES".into(),
                    ],
                    &mut conns,
                );
            }
        }
        for _ in 0..10 {
            let m = |rng: &mut Rng| format!("m{}", rng.below(n as u64 + 2));
            let (a, b) = (m(&mut rng), m(&mut rng));
            let unit = rng.pick(&["m", "km", "ft", "mi"]).to_string();
            send(&["GEODIST".into(), key.clone(), a, b, unit], &mut conns);
            let (a, b) = (m(&mut rng), m(&mut rng));
            send(
                &["GEOPOS".into(), key.clone(), a.clone(), b.clone()],
                &mut conns,
            );
            send(&["GEOHASH".into(), key.clone(), a, b], &mut conns);
        }
    }
    assert!(compared > rounds * 60, "only {compared} commands compared");
}

#[test]
fn random_points_and_searches_match_redis() {
    let seed = std::env::var("KEVY_GEO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds = std::env::var("KEVY_GEO_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    eprintln!("geo differential: seed {seed}, {rounds} rounds");
    run(seed, rounds);
}

/// A geo set (small and listpack-encoded, big and skiplist-encoded) moves
/// between redis-server and kevy by DUMP / RESTORE both ways and answers
/// the same afterwards.
#[test]
fn geo_sets_round_trip_through_dump_and_restore() {
    let redis = match Server::redis("redis-server (geo dump)") {
        Ok(s) => s,
        Err(e) if common::skip_redis_tools() => return eprintln!("skipped: {e}"),
        Err(e) => panic!("{e}"),
    };
    let kevy = Server::kevy(&["--cores", "3", "--save", ""]);
    let mut r = Conn::connect(redis.port).unwrap();
    let mut k = Conn::connect(kevy.port).unwrap();
    let mut rng = Rng(0x5eed);
    for (n, from_redis) in [(10, true), (500, true), (10, false), (500, false)] {
        let (src, dst) = if from_redis {
            (&mut r, &mut k)
        } else {
            (&mut k, &mut r)
        };
        src.call(&["FLUSHALL"]).unwrap();
        dst.call(&["FLUSHALL"]).unwrap();
        let mut add = vec!["GEOADD".to_string(), "g".into()];
        for i in 0..n {
            let (lon, lat) = coord(&mut rng, (2.35, 48.85), 0.5);
            add.extend([format!("{lon}"), format!("{lat}"), format!("m{i}")]);
        }
        src.call(&add).unwrap();
        let dump = src.call(&["DUMP", "g"]).unwrap();
        let payload = dump.bytes().expect("a payload").to_vec();
        let restored = dst.call(&[&b"RESTORE"[..], b"g", b"0", &payload]).unwrap();
        assert_eq!(restored.bytes(), Some(&b"OK"[..]), "{restored:?}");
        for cmd in [
            vec![
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                "2.35",
                "48.85",
                "BYRADIUS",
                "20",
                "km",
                "WITHDIST",
                "WITHHASH",
                "WITHCOORD",
                "ASC",
            ],
            vec!["GEOPOS", "g", "m0", "m1", "m7"],
            vec!["GEOHASH", "g", "m0", "m9"],
            vec!["GEODIST", "g", "m0", "m9", "km"],
            vec!["ZRANGE", "g", "0", "-1", "WITHSCORES"],
            vec!["OBJECT", "ENCODING", "g"],
        ] {
            let a = src.call(&cmd).unwrap();
            let b = dst.call(&cmd).unwrap();
            assert_eq!(a.encode(), b.encode(), "{} after RESTORE", cmd.join(" "));
        }
    }
}
