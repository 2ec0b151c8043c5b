//! The coordinator's properties, each checked over many interleavings of
//! the shards' steps. A round uses fresh keys, so one simulation (and its
//! connections) serves many rounds; every round ends with all shards quiet
//! and every lock table empty.

use super::toy::Toy;
use super::{Rng, Sim};
use crate::slot::shard_of;
use std::sync::Arc;

pub(super) fn sim(n: usize) -> Sim<Toy> {
    Sim::new(Arc::new(Toy), n)
}

/// A key named after `tag` that lives on shard `s` of `n`.
pub(super) fn key_on(tag: &str, s: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{tag}:{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == s)
        .expect("some key lands on every shard")
}

/// The stored value of `key`, read straight from its shard.
fn value(sim: &Sim<Toy>, key: &str) -> Option<String> {
    sim.shards[shard_of(key.as_bytes(), sim.n())]
        .ex
        .shard
        .get(key)
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
    s.hold_now_and_then(round as u64);
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
    assert_eq!(round, (4 * 4) << L);
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
        s.hold_now_and_then(seed);
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
        s.hold_now_and_then(seed);
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
fn opposite_orders(s: &mut Sim<Toy>, c1: usize, c2: usize, kind: usize, seed: u64) {
    let n = s.n();
    let keys: Vec<String> = (0..n)
        .map(|sh| key_on(&format!("o{kind}.{seed}"), sh, n))
        .collect();
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
    send(s, c1, tx(&fwd, "one"));
    send(s, c2, tx(&rev, "two"));
    let mut rng = Rng::new(seed);
    if seed.is_multiple_of(2) {
        let taken = s.settle();
        assert!(taken <= 50, "round-robin took {taken} steps");
    } else {
        settle_within(s, &mut rng, 400);
    }
    assert!(s.locks_idle(), "locks left behind");
    for c in [c1, c2] {
        let last = s.replies(c).pop().expect("a reply");
        assert!(!last.starts_with('!') && last != "nil", "{last}");
    }
    let first = value(s, &keys[0]).expect("written");
    for k in &keys {
        assert_eq!(
            value(s, k).as_ref(),
            Some(&first),
            "one transaction wins every key"
        );
    }
}

#[test]
fn opposite_lock_orders_never_deadlock() {
    for n in [2, 3] {
        let mut s = sim(n);
        let c1: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
        let c2: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
        for kind in 0..3 {
            for seed in 0..200 {
                let homes = ((seed as usize) % n, (seed as usize / n) % n);
                opposite_orders(&mut s, c1[homes.0], c2[homes.1], kind, seed);
            }
        }
    }
}

/// Sends commands given as owned strings.
fn send_owned(s: &mut Sim<Toy>, c: usize, cmds: &[Vec<String>]) {
    let owned: Vec<Vec<&str>> = cmds
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let refs: Vec<&[&str]> = owned.iter().map(Vec::as_slice).collect();
    s.send(c, &refs);
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn watch_sees_a_write_from_another_shard() {
    let mut s = sim(2);
    let ca = [s.connect(0), s.connect(1)];
    let cb = [s.connect(0), s.connect(1)];
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        s.hold_now_and_then(seed);
        let a = ca[rng.below(2)];
        let b = cb[rng.below(2)];
        let tag = format!("w{seed}");
        let (ka, kb) = (key_on(&tag, 0, 2), key_on(&tag, 1, 2));
        s.send(a, &[&["MSET", &ka, "old", &kb, "old"]]);
        settle_within(&mut s, &mut rng, 100);
        s.send(a, &[&["WATCH", &ka, &kb]]);
        settle_within(&mut s, &mut rng, 100);
        assert_eq!(s.replies(a), ["OK", "OK"]);
        // 0: another client writes a watched key before EXEC is sent;
        // 1: nobody writes; 2: the write races with EXEC.
        let case = seed % 3;
        if case == 0 {
            s.send(b, &[&["SET", &kb, "theirs"]]);
            settle_within(&mut s, &mut rng, 100);
            assert_eq!(s.replies(b), ["OK"]);
        }
        s.send(
            a,
            &[
                &["MULTI"],
                &["SET", &ka, "mine"],
                &["SET", &kb, "mine"],
                &["EXEC"],
            ],
        );
        if case == 2 {
            let at = rng.below(8);
            for i in 0..10 {
                if i == at {
                    s.send(b, &[&["SET", &kb, "theirs"]]);
                }
                s.step(rng.below(2));
            }
        }
        settle_within(&mut s, &mut rng, 200);
        let got = s.replies(a);
        assert_eq!(got[..3], ["OK", "QUEUED", "QUEUED"]);
        let exec = &got[3];
        match case {
            0 => assert_eq!(exec, "nil"),
            1 => assert_eq!(exec, "[OK,OK]"),
            _ => {
                // EXEC first, then the write; or the write first, and
                // EXEC saw it.
                assert_eq!(s.replies(b), ["OK"]);
                assert_eq!(value(&s, &kb).as_deref(), Some("theirs"));
                let a_now = value(&s, &ka);
                if exec == "nil" {
                    assert_eq!(a_now.as_deref(), Some("old"));
                } else {
                    assert_eq!(exec, "[OK,OK]");
                    assert_eq!(a_now.as_deref(), Some("mine"));
                }
            }
        }
        if case == 0 {
            assert_eq!(value(&s, &ka).as_deref(), Some("old"));
        }
        if case == 1 {
            assert_eq!(value(&s, &kb).as_deref(), Some("mine"));
        }
        // EXEC dropped the WATCH: the next transaction runs.
        s.send(a, &[&["MULTI"], &["GET", &ka], &["GET", &kb], &["EXEC"]]);
        settle_within(&mut s, &mut rng, 200);
        assert!(!s.replies(a)[3].starts_with("nil"));
    }
}

#[test]
fn rename_by_copy_moves_atomically_and_the_connection_sees_it() {
    let n = 3;
    let mut count = 0;
    let mut s = sim(n);
    let ca: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
    let cr: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
    for src_shard in 0..n {
        for dst_shard in (0..n).filter(|&d| d != src_shard) {
            for &a in &ca {
                for seed in 0..40u64 {
                    count += 1;
                    let mut rng = Rng::new(seed * 31 + count);
                    s.hold_now_and_then(seed * 31 + count);
                    let r = cr[rng.below(n)];
                    let src = key_on(&format!("src{count}"), src_shard, n);
                    let dst = key_on(&format!("dst{count}"), dst_shard, n);
                    s.send(a, &[&["SET", &src, "v"]]);
                    settle_within(&mut s, &mut rng, 100);
                    assert_eq!(s.replies(a), ["OK"]);
                    s.send(
                        a,
                        &[
                            &["RENAME", &src, &dst],
                            &["GET", &dst],
                            &["GET", &src],
                            &["MGET", &src, &dst],
                        ],
                    );
                    let at = rng.below(10);
                    for i in 0..12 {
                        if i == at {
                            s.send(r, &[&["MGET", &src, &dst]]);
                        }
                        s.step(rng.below(n));
                    }
                    settle_within(&mut s, &mut rng, 300);
                    assert_eq!(s.replies(a), ["OK", "v", "nil", "[nil,v]"]);
                    let seen = s.replies(r);
                    assert!(
                        seen == ["[v,nil]"] || seen == ["[nil,v]"],
                        "a reader saw {seen:?}"
                    );
                    assert_eq!(value(&s, &src), None);
                    assert_eq!(value(&s, &dst).as_deref(), Some("v"));
                }
            }
        }
    }
}

/// A command that finds its keys as it reads them (COPYREF reads the
/// pointer, then the key it names) runs in rounds of copies; a writer
/// that moves the pointer and overwrites the old target at once must
/// never fall between the rounds.
#[test]
fn keys_found_while_reading_are_read_atomically_across_rounds() {
    let n = 3;
    let mut s = sim(n);
    let conns: Vec<usize> = (0..2 * n).map(|i| s.connect(i % n)).collect();
    let mut round = 0u64;
    let (mut saw_old, mut saw_new) = (0, 0);
    for shards in 0..n * n * n {
        let (ps, ts, ds) = (shards % n, shards / n % n, shards / (n * n));
        for seed in 0..12u64 {
            round += 1;
            let mut rng = Rng::new(round);
            s.hold_now_and_then(round);
            let (c, w) = (conns[rng.below(2 * n)], conns[rng.below(2 * n)]);
            let w = if w == c { s.connect(rng.below(n)) } else { w };
            let p = key_on(&format!("p{round}"), ps, n);
            let t1 = key_on(&format!("t{round}"), ts, n);
            let t2 = key_on(&format!("u{round}"), (ts + 1 + seed as usize % 2) % n, n);
            let d = key_on(&format!("d{round}"), ds, n);
            s.send(w, &[&["MSET", &p, &t1, &t1, "old"]]);
            settle_within(&mut s, &mut rng, 100);
            assert_eq!(s.replies(w), ["OK"]);
            s.send(c, &[&["COPYREF", &p, &d], &["GET", &d]]);
            let at = rng.below(10);
            for i in 0..14 {
                if i == at {
                    s.send(w, &[&["MSET", &p, &t2, &t2, "new", &t1, "stale"]]);
                }
                s.step(rng.below(n));
            }
            settle_within(&mut s, &mut rng, 300);
            assert_eq!(s.replies(w), ["OK"]);
            let got = s.replies(c);
            let v = got[1].clone();
            assert_eq!(got, ["1".to_string(), v.clone()], "round {round}");
            assert!(v == "old" || v == "new", "round {round}: COPYREF saw {v}");
            assert_eq!(value(&s, &d).as_deref(), Some(v.as_str()));
            if v == "old" {
                saw_old += 1;
            } else {
                saw_new += 1;
            }
        }
    }
    assert!(saw_old > 0 && saw_new > 0, "{saw_old} old, {saw_new} new");
}

#[test]
fn keys_found_while_reading_inside_multi_see_earlier_commands() {
    let n = 3;
    let mut s = sim(n);
    let c = s.connect(1);
    let (p, t, d) = (key_on("mp", 0, n), key_on("mt", 1, n), key_on("md", 2, n));
    s.send(c, &[&["SET", &d, "x"], &["SET", &t, "v"]]);
    s.settle();
    assert_eq!(s.replies(c), ["OK", "OK"]);
    s.send(
        c,
        &[
            &["MULTI"],
            &["COPYREF", &p, &d],
            &["GET", &d],
            &["SET", &p, &t],
            &["COPYREF", &p, &d],
            &["GET", &d],
            &["EXEC"],
        ],
    );
    s.settle();
    let got = s.replies(c);
    assert_eq!(got[6], "[0,nil,OK,1,v]");
    assert!(s.locks_idle());
}

#[test]
fn readers_share_locks_and_a_writer_waits_for_both() {
    let mut s = sim(2);
    let (r1, r2, w) = (s.connect(0), s.connect(0), s.connect(0));
    let (ka, kb) = (key_on("s", 0, 2), key_on("s", 1, 2));
    s.send(w, &[&["MSET", &ka, "old", &kb, "old"]]);
    s.settle();
    assert_eq!(s.replies(w), ["OK"]);
    let read: &[&[&str]] = &[&["MULTI"], &["GET", &ka], &["GET", &kb], &["EXEC"]];
    s.send(r1, read);
    s.send(r2, read);
    s.step(0);
    // Both read-only transactions hold the key on shard 0 at once.
    assert_eq!(s.shards[0].ex.locks.holders_of(ka.as_bytes()), 2);
    assert_eq!(s.shards[0].ex.locks.counts(), (2, 0));
    s.send(w, &[&["SET", &ka, "new"]]);
    s.step(0);
    // The writer waits for both.
    assert_eq!(s.shards[0].ex.locks.counts(), (2, 1));
    assert_eq!(value(&s, &ka).as_deref(), Some("old"));
    assert!(s.replies(w).is_empty());
    s.settle();
    assert!(s.locks_idle());
    assert_eq!(s.replies(r1)[3], "[old,old]");
    assert_eq!(s.replies(r2)[3], "[old,old]");
    assert_eq!(s.replies(w), ["OK"]);
    assert_eq!(value(&s, &ka).as_deref(), Some("new"));
}

#[test]
fn readers_and_a_writer_interleave_serializably() {
    let mut max_sharing = 0;
    let mut s = sim(2);
    let c: Vec<usize> = (0..6).map(|i| s.connect(i % 2)).collect();
    for seed in 0..1500u64 {
        let mut rng = Rng::new(seed);
        s.hold_now_and_then(seed);
        let r1 = c[rng.below(2)];
        let r2 = c[2 + rng.below(2)];
        let w = c[4 + rng.below(2)];
        let tag = format!("s{seed}");
        let (ka, kb) = (key_on(&tag, 0, 2), key_on(&tag, 1, 2));
        s.send(w, &[&["MSET", &ka, "old", &kb, "old"]]);
        settle_within(&mut s, &mut rng, 100);
        s.replies(w);
        let read: &[&[&str]] = &[&["MULTI"], &["GET", &ka], &["GET", &kb], &["EXEC"]];
        let at = [rng.below(6), rng.below(6), rng.below(6)];
        for i in 0..14 {
            if i == at[0] {
                s.send(r1, read);
            }
            if i == at[1] {
                s.send(r2, &[&["MGET", &kb, &ka]]);
            }
            if i == at[2] {
                s.send(w, &[&["MSET", &ka, "new", &kb, "new"]]);
            }
            s.step(rng.below(2));
            for sh in 0..2 {
                let l = &s.shards[sh].ex.locks;
                max_sharing = max_sharing
                    .max(l.holders_of(ka.as_bytes()))
                    .max(l.holders_of(kb.as_bytes()));
            }
        }
        settle_within(&mut s, &mut rng, 200);
        let got1 = s.replies(r1).pop().unwrap();
        let got2 = s.replies(r2).pop().unwrap();
        assert!(got1 == "[old,old]" || got1 == "[new,new]", "{got1}");
        assert!(got2 == "[old,old]" || got2 == "[new,new]", "{got2}");
        assert_eq!(s.replies(w), ["OK"]);
    }
    assert_eq!(max_sharing, 2, "readers never shared a key");
}

#[test]
fn a_connection_closed_mid_transaction_leaves_no_locks() {
    let mut sims = [sim(2), sim(3)];
    let others: Vec<Vec<usize>> = sims
        .iter_mut()
        .map(|s| (0..s.n()).map(|h| s.connect(h)).collect())
        .collect();
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        let which = rng.below(2);
        let s = &mut sims[which];
        s.hold_now_and_then(seed);
        let n = s.n();
        // A new connection each round: this one does not survive it.
        let a = s.connect(rng.below(n));
        let b = others[which][rng.below(n)];
        let keys: Vec<String> = (0..n)
            .map(|sh| key_on(&format!("c{seed}"), sh, n))
            .collect();
        let mut setup = vec!["MSET".to_string()];
        for k in &keys {
            setup.push(k.clone());
            setup.push("old".into());
        }
        send_owned(s, a, &[setup]);
        settle_within(s, &mut rng, 100);
        s.replies(a);
        let (k0, k1) = (&keys[0], &keys[n - 1]);
        let tx: Vec<Vec<String>> = match seed % 4 {
            // Early: locks and commands travel together.
            0 => vec![
                cmd(&["MULTI"]),
                cmd(&["SET", k0, "new"]),
                cmd(&["SET", k1, "new"]),
                cmd(&["EXEC"]),
            ],
            // WATCH: every lock first, then the commands.
            1 => vec![
                cmd(&["WATCH", k0]),
                cmd(&["MULTI"]),
                cmd(&["SET", k0, "new"]),
                cmd(&["SET", k1, "new"]),
                cmd(&["EXEC"]),
            ],
            // A command run by copy.
            2 => vec![cmd(&["RENAME", k0, k1]), cmd(&["SET", k0, "new"])],
            _ => vec![cmd(&["MSET", k0, "new", k1, "new"])],
        };
        send_owned(s, a, &tx);
        // Another client wants the same keys meanwhile.
        s.send(b, &[&["MGET", k0, k1]]);
        let at = rng.below(10);
        let hang_up = rng.below(2) == 0;
        for i in 0..12 {
            if i == at {
                if hang_up {
                    s.hang_up(a);
                } else {
                    s.kill(a);
                }
            }
            s.step(rng.below(n));
        }
        settle_within(s, &mut rng, 300);
        assert!(!s.is_open(a), "closed once its replies were out");
        let seen = s.replies(b);
        assert_eq!(seen.len(), 1);
        assert!(!seen[0].starts_with('!'));
        // The shards still serve the keys.
        s.send(b, &[&["SET", k0, "later"], &["GET", k0]]);
        settle_within(s, &mut rng, 100);
        assert_eq!(s.replies(b), ["OK", "later"]);
    }
}

#[test]
fn pipelined_transactions_of_one_connection_keep_order() {
    pipelined_rounds(1000, "p", |_, _, _| {});
}

/// Rounds (`seeds` of them, at 2 and 3 shards) in which one connection
/// pipelines transactions, MSET, MGET, a MULTI with a connection command
/// and DEL over keys of the first and last shard while another reads:
/// every reply is what it is alone, and the reader sees whole
/// transactions. `between(sim, rng, keys)` runs before each of a round's
/// first 16 steps (what else happens meanwhile). Returns the two
/// simulations.
pub(super) fn pipelined_rounds(
    seeds: u64,
    tag: &str,
    mut between: impl FnMut(&mut Sim<Toy>, &mut Rng, [&str; 2]),
) -> [Sim<Toy>; 2] {
    let mut sims = [sim(2), sim(3)];
    let clients: Vec<Vec<usize>> = sims
        .iter_mut()
        .map(|s| (0..2 * s.n()).map(|i| s.connect(i / 2)).collect())
        .collect();
    for seed in 0..seeds {
        let mut rng = Rng::new(seed);
        let which = rng.below(2);
        let s = &mut sims[which];
        s.hold_now_and_then(seed);
        let n = s.n();
        let a = clients[which][2 * rng.below(n)];
        let r = clients[which][2 * rng.below(n) + 1];
        let tag = format!("{tag}{seed}");
        let (ka, kb) = (key_on(&tag, 0, n), key_on(&tag, n - 1, n));
        let mut cmds: Vec<Vec<String>> = Vec::new();
        for _ in 0..3 {
            cmds.push(cmd(&["MULTI"]));
            cmds.push(cmd(&["INCR", &ka]));
            cmds.push(cmd(&["INCR", &kb]));
            cmds.push(cmd(&["EXEC"]));
        }
        cmds.push(cmd(&["MSET", &ka, "10", &kb, "10"]));
        cmds.push(cmd(&["MGET", &ka, &kb]));
        cmds.push(cmd(&["MULTI"]));
        cmds.push(cmd(&["PING"]));
        cmds.push(cmd(&["INCR", &kb]));
        cmds.push(cmd(&["INCR", &ka]));
        cmds.push(cmd(&["EXEC"]));
        cmds.push(cmd(&["DEL", &ka, &kb]));
        send_owned(s, a, &cmds);
        let at = rng.below(12);
        for i in 0..16 {
            if i == at {
                s.send(r, &[&["MGET", &ka, &kb]]);
            }
            between(s, &mut rng, [&ka, &kb]);
            s.step(rng.below(n));
        }
        settle_within(s, &mut rng, 300);
        assert_eq!(s.shards[0].mesh.freeze(), 0, "seed {seed}: still frozen");
        let mut want: Vec<String> = Vec::new();
        for i in 1..=3 {
            want.extend(["OK", "QUEUED", "QUEUED"].map(String::from));
            want.push(format!("[{i},{i}]"));
        }
        want.extend(
            [
                "OK",
                "[10,10]",
                "OK",
                "QUEUED",
                "QUEUED",
                "QUEUED",
                "[PONG,11,11]",
                "2",
            ]
            .map(String::from),
        );
        assert_eq!(s.replies(a), want, "seed {seed}");
        let seen = s.replies(r).pop().unwrap();
        let ok = ["[nil,nil]", "[1,1]", "[2,2]", "[3,3]", "[10,10]", "[11,11]"];
        assert!(
            ok.contains(&seen.as_str()),
            "seed {seed}: a reader saw {seen}"
        );
        // Nothing is left on any shard, wherever the keys are.
        for sh in &s.shards {
            assert_eq!(sh.ex.shard.get(&ka), None, "seed {seed}");
            assert_eq!(sh.ex.shard.get(&kb), None, "seed {seed}");
        }
    }
    sims
}

/// Many connections of every shard run commands by copy on the same two
/// keys, so that they join groups, among readers of both keys, connections
/// with an earlier command still owed (which may not join) and commands
/// that reach a third key and run again over the whole keyspace (ESC):
/// every reader sees a whole number of them, and the totals count each
/// command once.
#[test]
fn groups_of_commands_by_copy_stay_atomic_in_random_interleavings() {
    for n in [2, 3] {
        let mut s = sim(n);
        let clients: Vec<usize> = (0..4 * n).map(|i| s.connect(i % n)).collect();
        for round in 0..40u64 {
            let mut rng = Rng::new(round * 7 + n as u64);
            s.hold_now_and_then(round * 7 + n as u64);
            let a = key_on(&format!("ga{round}"), 0, n);
            let b = key_on(&format!("gb{round}"), n - 1, n);
            let c = key_on(&format!("gc{round}"), 1, n);
            let other = key_on(&format!("go{round}"), rng.below(n), n);
            let mut esc = 0;
            let mut sent = vec![0; clients.len()];
            for (i, &cl) in clients.iter().enumerate() {
                match rng.below(5) {
                    0 => s.send(cl, &[&["XFER", &a, &b]]),
                    1 => s.send(cl, &[&["XFER", &b, &a]]),
                    2 => {
                        s.send(cl, &[&["SET", &other, "1"], &["XFER", &a, &b]]);
                        sent[i] += 1;
                    }
                    3 => {
                        s.send(cl, &[&["ESC", &a, &b, &c]]);
                        esc += 1;
                    }
                    _ => s.send(cl, &[&["MGET", &a, &b]]),
                }
                sent[i] += 1;
                for _ in 0..rng.below(3) {
                    s.step(rng.below(n));
                }
            }
            settle_within(&mut s, &mut rng, 2000);
            for (i, &cl) in clients.iter().enumerate() {
                let replies = s.replies(cl);
                assert_eq!(replies.len(), sent[i], "{replies:?}");
                for r in replies {
                    if let Some(pair) = r.strip_prefix('[') {
                        // Each XFER keeps the sum, each ESC adds 2.
                        let sum: i64 = pair
                            .trim_end_matches(']')
                            .split(',')
                            .map(|v| v.parse::<i64>().unwrap_or(0))
                            .sum();
                        assert_eq!(sum % 2, 0, "a reader saw half of a command: {r}");
                    }
                }
            }
            let num = |k: &str| value(&s, k).map_or(0, |v| v.parse::<i64>().expect("a number"));
            assert_eq!(num(&a) + num(&b), 2 * esc);
            assert_eq!(num(&c), esc);
        }
        let joined: usize = s.shards.iter().map(|r| r.coord.joined).sum();
        assert!(joined > 40, "commands joined groups: {joined}");
    }
}

/// A connection answered a command run by copy moves to another shard
/// while that command's write-back and unlock are still on their way to
/// a key's owner; its next command reaches the owner first, from the new
/// home, on another ring. It must wait for those locks as another
/// connection's command would (its own, from its old home, are let
/// through because they come in order on one ring): it then sees the
/// write. The owner here drains the new home's ring first.
#[test]
fn a_moved_connection_waits_for_its_last_transactions_write_back() {
    let n = 3;
    let mut s = sim(n);
    let (owner, old_home, new_home) = (1, 2, 0);
    let c = s.connect(old_home);
    let a = key_on("a", owner, n);
    let b = key_on("b", old_home, n);
    s.send(c, &[&["SET", &a, "10"], &["SET", &b, "5"]]);
    s.settle();
    assert_eq!(s.replies(c), ["OK", "OK"]);
    // XFER b a runs by copy, coordinated by the old home: step it and the
    // owner until it answers, the owner not stepped after that.
    s.send(c, &[&["XFER", &b, &a]]);
    assert_eq!(s.answer_ahead_of(c, old_home, owner), ["11"]);
    s.move_ahead_of_tail(c, new_home, owner);
    s.send(c, &[&["GET", &a]]);
    s.step(new_home);
    s.settle();
    assert_eq!(s.replies(c), ["11"]);
    assert_eq!(value(&s, &a).as_deref(), Some("11"));
    assert_eq!(value(&s, &b).as_deref(), Some("4"));
    assert!(s.locks_idle());
}

/// A connection's UNWATCH is answered while its old home's message that
/// drops the watch is still on its way to the key's owner; it moves and
/// WATCHes the key again from its new home, which the owner hears first.
/// The late drop is the old home's and leaves the new watch: another
/// client's write then fails the EXEC.
#[test]
fn a_watch_from_a_new_home_outlives_the_old_homes_unwatch() {
    let n = 3;
    let mut s = sim(n);
    let (owner, old_home, new_home) = (1, 2, 0);
    let c = s.connect(old_home);
    let p = s.connect(owner);
    let k = key_on("w", owner, n);
    s.send(c, &[&["WATCH", &k]]);
    s.settle();
    assert_eq!(s.replies(c), ["OK"]);
    s.send(c, &[&["UNWATCH"]]);
    assert_eq!(s.answer_ahead_of(c, old_home, owner), ["OK"]);
    s.move_ahead_of_tail(c, new_home, owner);
    s.send(c, &[&["WATCH", &k]]);
    s.step(new_home);
    s.step(owner);
    s.settle();
    assert_eq!(s.replies(c), ["OK"]);
    s.send(p, &[&["SET", &k, "changed"]]);
    s.settle();
    assert_eq!(s.replies(p), ["OK"]);
    s.send(c, &[&["MULTI"], &["SET", &k, "mine"], &["EXEC"]]);
    s.settle();
    assert_eq!(s.replies(c), ["OK", "QUEUED", "nil"]);
    assert_eq!(value(&s, &k).as_deref(), Some("changed"));
}

/// Connections of every shard pipeline MSETs and MGETs of the same keys on
/// the first and last shard, and GETs of the first (which wait behind the
/// transactions holding it, and after which the connection may not ride
/// until they are answered), so that split commands ride transactions
/// waiting for their first shard's locks (crate doc, "Riders"): every
/// MGET sees one MSET whole, a read never sees a value of its own
/// connection other than its last MSET before the read, every command is
/// answered once in order, and both keys end with one MSET's value.
#[test]
fn riders_stay_atomic_and_keep_each_connections_order() {
    for n in [2, 3] {
        let (rode, _) = pipelines_of_one_plan(n, false);
        assert!(rode > 100, "commands rode transactions: {rode}");
    }
}

/// The same pipelines, every connection's sent before the shards step, so
/// that many MGETs of the same keys meet in one iteration and share one
/// read (crate doc, "Shared reads"): the same checks hold.
#[test]
fn shared_reads_stay_atomic_and_keep_each_connections_order() {
    for n in [2, 3] {
        let (_, shared) = pipelines_of_one_plan(n, true);
        assert!(shared > 50, "MGETs shared reads: {shared}");
    }
}

/// Connections pipeline MSET, MGET and GET of keys on several shards (each
/// connection's whole pipeline at once when `burst`, else a step or two
/// between connections), and the replies are checked as above. Returns how
/// many commands rode transactions and how many MGETs shared a read.
fn pipelines_of_one_plan(n: usize, burst: bool) -> (usize, u64) {
    {
        let mut s = sim(n);
        let clients: Vec<usize> = (0..4 * n).map(|i| s.connect(i % n)).collect();
        for round in 0..(if burst { 1000 } else { 40 }) {
            let mut rng = Rng::new(round * 11 + n as u64);
            s.hold_now_and_then(round * 11 + n as u64);
            // On the first and last shard; with three shards, every other
            // round also on the middle one (a plan of three entries).
            let mut keys = vec![key_on(&format!("ra{round}"), 0, n)];
            if n == 3 && round % 2 == 1 {
                keys.push(key_on(&format!("rc{round}"), 1, n));
            }
            keys.push(key_on(&format!("rb{round}"), n - 1, n));
            let a = keys[0].clone();
            // Per client: what it expects, in order (None: an MGET, with
            // the index of its last own MSET value then).
            let mut sent: Vec<Vec<Option<Option<usize>>>> = vec![Vec::new(); clients.len()];
            let mut last: Vec<Option<usize>> = vec![None; clients.len()];
            let mut next_value = vec![0usize; clients.len()];
            for _ in 0..3 {
                for (i, &cl) in clients.iter().enumerate() {
                    let mut owned: Vec<Vec<String>> = Vec::new();
                    for _ in 0..1 + rng.below(5) {
                        match rng.below(6) {
                            0..=2 => {
                                let v = format!("c{i}.{}", next_value[i]);
                                last[i] = Some(next_value[i]);
                                next_value[i] += 1;
                                let mut m = vec!["MSET".to_string()];
                                for k in &keys {
                                    m.push(k.clone());
                                    m.push(v.clone());
                                }
                                owned.push(m);
                                sent[i].push(None);
                            }
                            3 | 4 => {
                                let mut m = vec!["MGET".to_string()];
                                m.extend(keys.iter().cloned());
                                owned.push(m);
                                sent[i].push(Some(last[i]));
                            }
                            _ => {
                                owned.push(cmd(&["GET", &a]));
                                sent[i].push(Some(last[i]));
                            }
                        }
                    }
                    send_owned(&mut s, cl, &owned);
                    for _ in 0..if burst { 0 } else { rng.below(3) } {
                        s.step(rng.below(n));
                    }
                }
            }
            settle_within(&mut s, &mut rng, 3000);
            for (i, &cl) in clients.iter().enumerate() {
                let replies = s.replies(cl);
                assert_eq!(replies.len(), sent[i].len(), "client {i}: {replies:?}");
                for (r, want) in replies.iter().zip(&sent[i]) {
                    let Some(own_last) = want else {
                        assert_eq!(r, "OK", "client {i}");
                        continue;
                    };
                    let x = match r.strip_prefix('[') {
                        Some(all) => {
                            let mut vs = all.trim_end_matches(']').split(',');
                            let x = vs.next().expect("values");
                            assert!(
                                vs.all(|y| y == x),
                                "client {i}: an MGET saw part of an MSET: {r}"
                            );
                            x
                        }
                        None => r.as_str(),
                    };
                    let mine = format!("c{i}.");
                    if let Some(j) = x.strip_prefix(&mine) {
                        let j: usize = j.parse().expect("a value index");
                        assert_eq!(
                            Some(j),
                            *own_last,
                            "client {i} round {round}: a read saw another than its last own \
                             value: {x}; replies {replies:?}"
                        );
                    }
                }
            }
            for k in &keys {
                assert_eq!(value(&s, k), value(&s, &a));
            }
        }
        let rode: usize = s.shards.iter().map(|r| r.coord.rode).sum();
        let shared: u64 = s.shards.iter().map(|r| r.ex.shard.shared).sum();
        (rode, shared)
    }
}
