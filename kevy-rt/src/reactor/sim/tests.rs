//! The coordinator's properties, each checked over many interleavings of
//! the shards' steps. A round uses fresh keys, so one simulation (and its
//! connections) serves many rounds; every round ends with all shards quiet
//! and every lock table empty.

use super::toy::Toy;
use super::{Rng, Sim};
use crate::slot::shard_of;
use std::sync::Arc;

fn sim(n: usize) -> Sim<Toy> {
    Sim::new(Arc::new(Toy), n)
}

/// A key named after `tag` that lives on shard `s` of `n`.
fn key_on(tag: &str, s: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{tag}:{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == s)
        .expect("some key lands on every shard")
}

/// The stored value of `key`, read straight from its shard.
fn value(sim: &Sim<Toy>, key: &str) -> Option<String> {
    sim.shards[shard_of(key.as_bytes(), sim.n())].shard.get(key)
}

/// Settles with random steps and checks that it took at most `bound`.
fn settle_within(sim: &mut Sim<Toy>, rng: &mut Rng, bound: usize) {
    let taken = sim.settle_with(|n| rng.below(n));
    assert!(taken <= bound, "took {taken} steps to settle");
    assert!(sim.locks_idle(), "locks or transactions left behind");
}

#[test]
fn harness_runs_commands_on_every_route() {
    let mut s = sim(2);
    let c = s.connect(0);
    let (a, b) = (key_on("h", 0, 2), key_on("h", 1, 2));
    s.send(
        c,
        &[
            &["SET", &a, "1"],
            &["GET", &a],
            &["SET", &b, "2"],
            &["GET", &b],
            &["MGET", &b, &a],
            &["MSET", &a, "3", &b, "4"],
            &["INCR", &b],
            &["DBSIZE"],
            &["PING"],
            &["SELECT", "0"],
            &["DEL", &a, &b, "nope"],
        ],
    );
    s.settle();
    assert_eq!(
        s.replies(c),
        ["OK", "1", "OK", "2", "[2,1]", "OK", "5", "2", "PONG", "OK", "2"]
    );
    assert!(s.locks_idle());
}

/// The writer's MSET and the reader's MGET of the same two keys on two
/// shards: the MGET sees all of the MSET or none of it.
fn mset_mget_round(
    s: &mut Sim<Toy>,
    round: usize,
    w: usize,
    r: usize,
    mut step: impl FnMut(&mut Sim<Toy>, usize) -> bool,
    reader_at: usize,
) -> bool {
    let n = s.n();
    let keys: Vec<String> = (0..n)
        .map(|sh| key_on(&format!("m{round}"), sh, n))
        .collect();
    let mut old: Vec<&str> = Vec::new();
    for k in &keys {
        old.push(k);
        old.push("old");
    }
    let mut cmd = vec!["MSET"];
    cmd.extend(old.iter().copied());
    s.send(w, &[&cmd]);
    s.settle();
    assert_eq!(s.replies(w), ["OK"]);
    let new: Vec<String> = keys.iter().map(|k| format!("new-{k}")).collect();
    let mut mset = vec!["MSET"];
    for (k, v) in keys.iter().zip(&new) {
        mset.push(k);
        mset.push(v);
    }
    // The reader names the keys in the opposite order.
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().rev().map(String::as_str));
    s.send(w, &[&mset]);
    let mut i = 0;
    loop {
        if i == reader_at {
            s.send(r, &[&mget]);
        }
        if !step(s, i) && i >= reader_at {
            break;
        }
        i += 1;
    }
    let mut rng = Rng::new(round as u64);
    settle_within(s, &mut rng, 200);
    assert_eq!(s.replies(w), ["OK"]);
    let got = s.replies(r);
    let none = format!("[{}]", vec!["old"; n].join(","));
    let all = format!(
        "[{}]",
        new.iter().rev().cloned().collect::<Vec<_>>().join(",")
    );
    assert!(
        got == [none.clone()] || got == [all.clone()],
        "round {round}: MGET saw {got:?}"
    );
    got == [all]
}

#[test]
fn mget_sees_all_or_none_of_a_cross_shard_mset_every_interleaving() {
    // Two shards: every sequence of 10 steps, the reader's command sent
    // before any of 4 different steps, writer and reader on either shard.
    const L: usize = 10;
    let mut s = sim(2);
    let clients = [s.connect(0), s.connect(1)];
    let mut round = 0;
    let (mut saw_all, mut saw_none) = (0, 0);
    for homes in [(0, 1), (1, 0), (0, 0), (1, 1)] {
        let (w, r) = (clients[homes.0], clients[homes.1]);
        let r = if w == r { s.connect(homes.1) } else { r };
        for bits in 0..1u32 << L {
            for reader_at in [0, 1, 3, 5] {
                round += 1;
                let step = |s: &mut Sim<Toy>, i: usize| {
                    if i >= L {
                        return false;
                    }
                    s.step((bits >> i) as usize & 1);
                    true
                };
                if mset_mget_round(&mut s, round, w, r, step, reader_at) {
                    saw_all += 1;
                } else {
                    saw_none += 1;
                }
            }
        }
    }
    assert_eq!(round, 4 * 4 << L);
    assert!(
        saw_all > 0 && saw_none > 0,
        "{saw_all} all, {saw_none} none"
    );
}

#[test]
fn mget_sees_all_or_none_of_a_cross_shard_mset_three_shards_random() {
    let mut s = sim(3);
    let clients: Vec<usize> = (0..3).map(|h| s.connect(h)).collect();
    let (mut saw_all, mut saw_none) = (0, 0);
    for seed in 0..3000u64 {
        let mut rng = Rng::new(seed);
        let w = clients[rng.below(3)];
        let r = clients[(w + 1 + rng.below(2)) % 3];
        let reader_at = rng.below(8);
        let len = 4 + rng.below(16);
        let step = |s: &mut Sim<Toy>, i: usize| {
            if i >= len {
                return false;
            }
            s.step(rng.below(3));
            true
        };
        if mset_mget_round(&mut s, seed as usize, w, r, step, reader_at) {
            saw_all += 1;
        } else {
            saw_none += 1;
        }
    }
    assert!(
        saw_all > 0 && saw_none > 0,
        "{saw_all} all, {saw_none} none"
    );
}

#[test]
fn dbsize_sees_all_or_none_of_a_cross_shard_mset() {
    let mut s = sim(3);
    let (w, r) = (s.connect(0), s.connect(2));
    let mut before = 0;
    for seed in 0..1000u64 {
        let mut rng = Rng::new(seed);
        let keys: Vec<String> = (0..3)
            .map(|sh| key_on(&format!("d{seed}"), sh, 3))
            .collect();
        s.send(w, &[&["MSET", &keys[0], "x", &keys[1], "x", &keys[2], "x"]]);
        let at = rng.below(10);
        for i in 0..12 {
            if i == at {
                s.send(r, &[&["DBSIZE"]]);
            }
            s.step(rng.below(3));
        }
        settle_within(&mut s, &mut rng, 200);
        assert_eq!(s.replies(w), ["OK"]);
        let got: usize = s.replies(r)[0].parse().unwrap();
        assert!(
            got == before || got == before + 3,
            "DBSIZE {got}, before {before}"
        );
        before += 3;
    }
}

/// Two transactions over the same keys on `n` shards, naming them in
/// opposite orders, with and without the lock phase (`kind`).
fn opposite_orders(n: usize, kind: usize, seed: u64, homes: (usize, usize)) {
    let mut s = sim(n);
    let (c1, c2) = (s.connect(homes.0), s.connect(homes.1));
    let keys: Vec<String> = (0..n).map(|sh| key_on("o", sh, n)).collect();
    let fwd: Vec<&str> = keys.iter().map(String::as_str).collect();
    let rev: Vec<&str> = fwd.iter().rev().copied().collect();
    let tx = |ks: &[&str], v: &str| -> Vec<Vec<String>> {
        let mut cmds = vec![vec!["MULTI".to_string()]];
        if kind == 1 {
            // A connection command: no early run, locks first.
            cmds.push(vec!["PING".into()]);
        }
        for k in ks {
            cmds.push(vec!["SET".into(), k.to_string(), v.into()]);
        }
        cmds.push(vec!["EXEC".into()]);
        if kind == 2 {
            // One multi-key command instead.
            let mut mset = vec!["MSET".to_string()];
            for k in ks {
                mset.push(k.to_string());
                mset.push(v.into());
            }
            cmds = vec![mset];
        }
        cmds
    };
    let send = |s: &mut Sim<Toy>, c: usize, cmds: Vec<Vec<String>>| {
        let owned: Vec<Vec<&str>> = cmds
            .iter()
            .map(|c| c.iter().map(String::as_str).collect())
            .collect();
        let refs: Vec<&[&str]> = owned.iter().map(Vec::as_slice).collect();
        s.send(c, &refs);
    };
    send(&mut s, c1, tx(&fwd, "one"));
    send(&mut s, c2, tx(&rev, "two"));
    let mut rng = Rng::new(seed);
    if seed % 2 == 0 {
        let taken = s.settle();
        assert!(taken <= 50, "round-robin took {taken} steps");
    } else {
        settle_within(&mut s, &mut rng, 400);
    }
    assert!(s.locks_idle(), "locks left behind");
    for c in [c1, c2] {
        let last = s.replies(c).pop().expect("a reply");
        assert!(!last.starts_with('!') && last != "nil", "{last}");
    }
    let first = value(&s, &keys[0]).expect("written");
    for k in &keys {
        assert_eq!(
            value(&s, k).as_ref(),
            Some(&first),
            "one transaction wins every key"
        );
    }
}

#[test]
fn opposite_lock_orders_never_deadlock() {
    for n in [2, 3] {
        for kind in 0..3 {
            for seed in 0..100 {
                let homes = ((seed as usize) % n, (seed as usize / n) % n);
                opposite_orders(n, kind, seed, homes);
            }
        }
    }
}
