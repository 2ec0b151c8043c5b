//! Blocking commands over many interleavings of the shards' steps, with
//! the toy's `BMOVE src dst` (BLMOVE) whose destination lives on another
//! shard than its source: it waits on the source's shard and, woken, is
//! served by a transaction of its home. Served by a push, first come first
//! served, timing out, and clients that go away at any step: every element
//! ends in a destination exactly once or stays in the source.

use super::toy::Toy;
use super::{Rng, Sim};
use crate::slot::shard_of;
use std::sync::Arc;

/// A key named after `tag` that lives on shard `s` of `n`.
fn key_on(tag: &str, s: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{tag}:{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == s)
        .expect("some key lands on every shard")
}

/// The elements of list `key`, read straight from the shard that owns it
/// now.
fn list(sim: &Sim<Toy>, key: &str) -> Vec<String> {
    sim.shards[sim.shards[0].slots.shard_of(key.as_bytes())]
        .ex
        .shard
        .get(key)
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

fn waiting(sim: &Sim<Toy>) -> usize {
    (0..sim.n()).map(|s| sim.waiters(s)).sum()
}

fn settle(sim: &mut Sim<Toy>, rng: &mut Rng) {
    sim.settle_with(|n| rng.below(n));
    assert!(sim.locks_idle(), "locks or transactions left behind");
}

#[test]
fn a_move_to_another_shard_waits_until_its_source_is_pushed() {
    for n in [2, 3] {
        let mut s = Sim::new(Arc::new(Toy), n);
        let mut rng = Rng::new(n as u64);
        let clients: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
        for round in 0..150 {
            let a = rng.below(n);
            let src = key_on(&format!("s{round}"), a, n);
            let dst = key_on(&format!("d{round}"), (a + 1 + rng.below(n - 1)) % n, n);
            let w = clients[rng.below(n)];
            let p = clients.iter().copied().find(|&c| c != w).expect("a pusher");
            s.send(w, &[&["BMOVE", &src, &dst, "0"]]);
            settle(&mut s, &mut rng);
            assert!(s.replies(w).is_empty(), "round {round}: it waits");
            assert_eq!(s.waiters(a), 1, "round {round}: on the source's shard");
            assert_eq!(waiting(&s), 1, "round {round}: there only");
            s.send(p, &[&["PUSH", &src, "x", "y"]]);
            settle(&mut s, &mut rng);
            assert_eq!(s.replies(p), ["OK"]);
            assert_eq!(s.replies(w), ["x"], "round {round}");
            assert_eq!(list(&s, &dst), ["x"], "round {round}");
            assert_eq!(list(&s, &src), ["y"], "round {round}");
            assert_eq!(waiting(&s), 0, "round {round}: nothing left parked");
            // The connection runs on, and a later push stays put.
            s.send(w, &[&["PING"]]);
            s.send(p, &[&["PUSH", &src, "z"]]);
            settle(&mut s, &mut rng);
            assert_eq!(s.replies(w), ["PONG"]);
            assert_eq!(list(&s, &src), ["y", "z"], "round {round}");
            assert_eq!(s.replies(p), ["OK"]);
        }
    }
}

#[test]
fn moves_to_other_shards_are_served_first_come_first_served() {
    for n in [2, 3] {
        let mut s = Sim::new(Arc::new(Toy), n);
        let mut rng = Rng::new(10 + n as u64);
        let clients: Vec<usize> = (0..3 * n).map(|i| s.connect(i % n)).collect();
        let pusher = s.connect(0);
        for round in 0..60 {
            let a = rng.below(n);
            let src = key_on(&format!("s{round}"), a, n);
            // Three waiters in turn, each a move to another shard's key
            // or, in the middle, a plain pop of the same source.
            let mut ws = Vec::new();
            for i in 0..3 {
                let w = clients[rng.below(clients.len())];
                if ws.iter().any(|&(c, _)| c == w) {
                    continue;
                }
                let dst = key_on(&format!("d{round}.{i}"), (a + 1 + rng.below(n - 1)) % n, n);
                if i == 1 && round % 2 == 0 {
                    s.send(w, &[&["BPOP", &src, "0"]]);
                } else {
                    s.send(w, &[&["BMOVE", &src, &dst, "0"]]);
                }
                settle(&mut s, &mut rng);
                ws.push((w, dst));
            }
            let elems: Vec<String> = (0..ws.len()).map(|i| format!("e{i}")).collect();
            let mut push = vec!["PUSH", src.as_str()];
            push.extend(elems.iter().map(String::as_str));
            if round % 3 == 0 {
                // One element at a time.
                for e in &elems {
                    s.send(pusher, &[&["PUSH", &src, e]]);
                    settle(&mut s, &mut rng);
                }
            } else {
                s.send(pusher, &[&push]);
                settle(&mut s, &mut rng);
            }
            for (i, (w, dst)) in ws.iter().enumerate() {
                let got = s.replies(*w);
                let e = &elems[i];
                if got.first().is_some_and(|r| r.starts_with('[')) {
                    assert_eq!(got, [format!("[{src},{e}]")], "round {round}");
                } else {
                    assert_eq!(got, std::slice::from_ref(e), "round {round} waiter {i}");
                    assert_eq!(list(&s, dst), std::slice::from_ref(e), "round {round}");
                }
            }
            assert!(list(&s, &src).is_empty(), "round {round}");
            assert_eq!(waiting(&s), 0, "round {round}");
            s.replies(pusher);
        }
    }
}

#[test]
fn a_move_to_another_shard_times_out_and_leaves_nothing_parked() {
    for n in [2, 3] {
        let mut s = Sim::new(Arc::new(Toy), n);
        let mut rng = Rng::new(20 + n as u64);
        let clients: Vec<usize> = (0..n).map(|h| s.connect(h)).collect();
        for round in 0..40 {
            let a = rng.below(n);
            let src = key_on(&format!("s{round}"), a, n);
            let dst = key_on(&format!("d{round}"), (a + 1) % n, n);
            let w = clients[rng.below(n)];
            s.send(w, &[&["BMOVE", &src, &dst, "5"]]);
            // Each step is a millisecond: enough steps of every shard pass
            // the deadline.
            for _ in 0..40 * n {
                let sh = rng.below(n);
                s.step(sh);
            }
            settle(&mut s, &mut rng);
            assert_eq!(s.replies(w), ["nil"], "round {round}");
            assert_eq!(waiting(&s), 0, "round {round}");
            let p = clients[(clients.iter().position(|&c| c == w).unwrap() + 1) % n];
            s.send(p, &[&["PUSH", &src, "x"]]);
            settle(&mut s, &mut rng);
            assert_eq!(list(&s, &src), ["x"], "round {round}: nobody took it");
            s.replies(p);
        }
    }
}

/// Waiters moving from one source to keys of every shard, a competitor
/// popping the source, pushes, and clients killed or hanging up at random
/// steps, in random interleavings: every element pushed ends exactly once
/// in a destination, in the competitor's hands, or still in the source;
/// a waiter that got an element finds it in its destination; and nothing
/// stays parked for a client that is gone.
#[test]
fn clients_gone_at_any_step_lose_nothing_and_take_nothing_twice() {
    for n in [2, 3] {
        for round in 0..200u64 {
            // A fresh server per round: clients come and go by the dozen.
            let mut s = Sim::new(Arc::new(Toy), n);
            let mut rng = Rng::new(1000 * n as u64 + round);
            s.hold_now_and_then(1000 * n as u64 + round);
            let a = rng.below(n);
            let src = key_on(&format!("s{round}"), a, n);
            // Waiters, each with its own destination on any shard.
            let mut ws = Vec::new();
            for i in 0..6 {
                let c = s.connect(rng.below(n));
                let dst = key_on(&format!("d{round}.{i}"), rng.below(n), n);
                let timeout = if rng.below(4) == 0 { "20" } else { "0" };
                s.send(c, &[&["BMOVE", &src, &dst, timeout]]);
                ws.push((c, dst, false));
                for _ in 0..rng.below(6) {
                    let sh = rng.below(n);
                    s.step(sh);
                }
            }
            let pusher = s.connect(rng.below(n));
            let rival = s.connect(rng.below(n));
            let mut pushed = Vec::new();
            let mut popped = Vec::new();
            for step in 0..400 {
                match rng.below(40) {
                    0..=2 => {
                        let e = format!("e{}", pushed.len());
                        s.send(pusher, &[&["PUSH", &src, &e]]);
                        pushed.push(e);
                    }
                    3 => s.send(rival, &[&["POP", &src]]),
                    4 => {
                        let (c, _, gone) = &mut ws[rng.below(6)];
                        if !*gone {
                            *gone = true;
                            if step % 2 == 0 {
                                s.kill(*c);
                            } else {
                                s.hang_up(*c);
                            }
                        }
                    }
                    _ => {}
                }
                let sh = rng.below(n);
                s.step(sh);
            }
            settle(&mut s, &mut rng);
            popped.extend(s.replies(rival).into_iter().filter(|r| r != "nil"));
            let mut held: Vec<String> = list(&s, &src);
            held.extend(popped.iter().cloned());
            for (c, dst, _) in &ws {
                let got = s.replies(*c);
                assert!(got.len() <= 1, "round {round}: one reply at most: {got:?}");
                if let Some(e) = got.first().filter(|r| *r != "nil") {
                    assert!(list(&s, dst).contains(e), "round {round}: {e} in {dst}");
                }
                held.extend(list(&s, dst));
            }
            held.sort();
            let mut want = pushed.clone();
            want.sort();
            assert_eq!(held, want, "round {round}: every element once");
            // Everyone goes: nothing may stay parked, nor take a later push.
            for (c, _, gone) in &ws {
                if !gone {
                    s.kill(*c);
                }
            }
            settle(&mut s, &mut rng);
            assert_eq!(waiting(&s), 0, "round {round}: parked after all left");
            s.send(pusher, &[&["PUSH", &src, "late"]]);
            settle(&mut s, &mut rng);
            assert_eq!(list(&s, &src).last().map(String::as_str), Some("late"));
        }
    }
}

/// Pops waiting on keys of two shards, pushes to both, a competitor
/// popping both, and clients gone at random steps: every element is
/// taken once or stays, and once all is quiet no client still waits while
/// one of its keys holds an element (no wake-up is lost).
#[test]
fn pops_on_two_shards_lose_no_element_and_no_wake_up() {
    for n in [2, 3] {
        for round in 0..400u64 {
            let mut s = Sim::new(Arc::new(Toy), n);
            let mut rng = Rng::new(5000 * n as u64 + round);
            s.hold_now_and_then(5000 * n as u64 + round);
            let x = rng.below(n);
            let a = key_on(&format!("a{round}"), x, n);
            let b = key_on(&format!("b{round}"), (x + 1 + rng.below(n - 1)) % n, n);
            let mut ws = Vec::new();
            for _ in 0..5 {
                let c = s.connect(rng.below(n));
                s.send(c, &[&["BPOP", &a, &b, "0"]]);
                ws.push((c, false));
                for _ in 0..rng.below(6) {
                    let sh = rng.below(n);
                    s.step(sh);
                }
            }
            let pusher = s.connect(rng.below(n));
            let rival = s.connect(rng.below(n));
            let mut pushed = Vec::new();
            for step in 0..300 {
                match rng.below(30) {
                    0..=2 => {
                        let key = if rng.below(2) == 0 { &a } else { &b };
                        let e = format!("e{}", pushed.len());
                        s.send(pusher, &[&["PUSH", key, &e]]);
                        pushed.push(e);
                    }
                    3 => s.send(rival, &[&["POP", &a]]),
                    4 => s.send(rival, &[&["POP", &b]]),
                    5 if step % 3 == 0 => {
                        let (c, gone) = &mut ws[rng.below(5)];
                        if !*gone {
                            *gone = true;
                            s.kill(*c);
                        }
                    }
                    _ => {}
                }
                let sh = rng.below(n);
                s.step(sh);
            }
            settle(&mut s, &mut rng);
            let mut held: Vec<String> = list(&s, &a);
            held.extend(list(&s, &b));
            held.extend(s.replies(rival).into_iter().filter(|r| r != "nil"));
            let mut still = 0;
            for (c, gone) in &ws {
                let got = s.replies(*c);
                assert!(got.len() <= 1, "round {round}: {got:?}");
                match got.first() {
                    Some(r) => {
                        let inner = r.trim_start_matches('[').trim_end_matches(']');
                        let (_, e) = inner.split_once(',').expect("[key,element]");
                        held.push(e.to_string());
                    }
                    None if !gone => still += 1,
                    None => {}
                }
            }
            // A client that goes after its claim takes its element with it,
            // as a Redis client closing right after being served does.
            held.sort();
            let taken = held.len();
            held.dedup();
            assert_eq!(held.len(), taken, "n {n} round {round}: taken twice");
            assert!(held.iter().all(|e| pushed.contains(e)), "round {round}");
            let gone = ws.iter().filter(|w| w.1).count();
            assert!(pushed.len() - taken <= gone, "n {n} round {round}: lost");
            if still > 0 {
                assert!(
                    list(&s, &a).is_empty() && list(&s, &b).is_empty(),
                    "n {n} round {round}: {still} still wait beside {:?} {:?}",
                    list(&s, &a),
                    list(&s, &b)
                );
            }
        }
    }
}

/// A pop waiting on keys of shards 1 and 2, its home shard 0: both owners
/// get an element and wake it at once; the home lets shard 1 serve it and
/// holds shard 2's waiter; shard 1's element is taken by another client
/// first, so shard 1 finds nothing after all; the held waiter on shard 2
/// then serves it.
#[test]
fn a_pop_held_while_another_shard_tries_is_served_when_that_one_fails() {
    let mut s = Sim::new(Arc::new(Toy), 3);
    let (a, b) = (key_on("a", 1, 3), key_on("b", 2, 3));
    let c = s.connect(0);
    let (p1, p2) = (s.connect(1), s.connect(2));
    s.send(c, &[&["BPOP", &a, &b, "0"]]);
    s.settle();
    assert_eq!((s.waiters(1), s.waiters(2)), (1, 1));
    s.send(p1, &[&["PUSH", &a, "x"]]);
    s.send(p2, &[&["PUSH", &b, "y"]]);
    s.step(1); // pushes to a, wakes the home
    s.step(2); // pushes to b, wakes the home
    s.send(p1, &[&["POP", &a]]);
    s.step(1); // takes x
    s.step(0); // shard 1 may serve; shard 2's waiter is held
    s.step(1); // finds nothing: waits again
    s.step(2); // stays held
    s.settle();
    assert_eq!(s.replies(p1), ["OK", "x"]);
    assert_eq!(s.replies(c), [format!("[{b},y]")]);
    assert_eq!(waiting(&s), 0);
}

/// A pop on shard 1 for a client of shard 0 is woken by a push, and before
/// its home's answer comes back a RENAME of the key to shard 2 (run by
/// copy) locks it: the pop waits for the transaction rather than take the
/// element from under its copy, so the element is moved once.
#[test]
fn a_woken_pop_waits_for_a_transaction_that_took_its_key_meanwhile() {
    let mut s = Sim::new(Arc::new(Toy), 3);
    let (a, z) = (key_on("a", 1, 3), key_on("z", 2, 3));
    let c = s.connect(0);
    let (p, t) = (s.connect(1), s.connect(2));
    s.send(c, &[&["BPOP", &a, "0"]]);
    s.settle();
    s.send(p, &[&["PUSH", &a, "x"]]);
    s.step(1); // pushes, wakes the home
    s.send(t, &[&["RENAME", &a, &z]]);
    s.step(2); // asks shard 1 for a's lock
    s.step(1); // grants it
    s.step(0); // the home says: serve
    s.step(1); // the key is locked: the pop waits
    s.settle();
    assert_eq!(s.replies(t), ["OK"]);
    assert!(s.replies(c).is_empty(), "the pop still waits");
    assert_eq!(list(&s, &z), ["x"]);
    assert!(list(&s, &a).is_empty());
    s.send(p, &[&["PUSH", &a, "w"]]);
    s.settle();
    assert_eq!(s.replies(c), [format!("[{a},w]")]);
}

/// A client whose wait ended (here, timed out) moves to another shard
/// while its old home's withdrawal (`Unpark`) is still on its way to the
/// key's owner, and blocks again from its new home. The owner, draining
/// the new home's ring first, must keep the new wait: the stale
/// withdrawal is the old home's, and the waiter it named is gone. A push
/// then serves the client.
#[test]
fn a_wait_from_a_new_home_outlives_the_old_homes_withdrawal() {
    let n = 3;
    let mut s = Sim::new(Arc::new(Toy), n);
    let (owner, old_home, new_home) = (1, 2, 0);
    let w = s.connect(old_home);
    let p = s.connect(owner);
    let k = key_on("q", owner, n);
    // Waits on the owner, then times out at its home.
    s.send(w, &[&["BPOP", &k, "5"]]);
    assert_eq!(s.answer_ahead_of(w, old_home, owner), ["nil"]);
    s.move_ahead_of_tail(w, new_home, owner);
    s.send(w, &[&["BPOP", &k, "0"]]);
    s.step(new_home);
    s.step(owner);
    s.settle();
    assert!(s.replies(w).is_empty(), "it waits again");
    assert_eq!(s.waiters(owner), 1, "parked on the owner");
    s.send(p, &[&["PUSH", &k, "x"]]);
    s.settle();
    assert_eq!(s.replies(p), ["OK"]);
    assert_eq!(s.replies(w), [format!("[{k},x]")]);
    assert_eq!(s.waiters(owner), 0);
}

/// Workers that come and go on two keys of two shards, as the churn test
/// over real sockets runs them, in every interleaving a seed picks: pops
/// served ahead (QPOP, one key or both) and confirmed first (BPOP), short
/// timeouts that expire while an element is on its way, and workers that
/// hang up while they wait (they read what is still sent to them), and
/// the keys' slots moving between shards with their waiters (crate doc,
/// "Moving slots to the cores that have time"). Every pushed element is
/// read once or stays in its key.
#[test]
fn workers_that_time_out_or_hang_up_lose_no_element() {
    let mut slot_moves = 0;
    for n in [2, 3] {
        for round in 0..300u64 {
            let mut s = Sim::new(Arc::new(Toy), n);
            let mut rng = Rng::new(9000 * n as u64 + round);
            let x = rng.below(n);
            let a = key_on(&format!("a{round}"), x, n);
            let b = key_on(&format!("b{round}"), (x + 1 + rng.below(n - 1)) % n, n);
            let pusher = s.connect(rng.below(n));
            // (client, waiting for a reply, hung up)
            let mut ws: Vec<(usize, bool, bool)> = (0..5)
                .map(|_| (s.connect(rng.below(n)), false, false))
                .collect();
            let mut pushed = Vec::new();
            let mut read: Vec<String> = Vec::new();
            let collect =
                |s: &mut Sim<Toy>, ws: &mut Vec<(usize, bool, bool)>, read: &mut Vec<String>| {
                    for (c, waits, _) in ws.iter_mut() {
                        for r in s.replies(*c) {
                            *waits = false;
                            if r != "nil" {
                                let inner = r.trim_start_matches('[').trim_end_matches(']');
                                let (_, e) = inner.split_once(',').expect("[key,element]");
                                read.push(e.to_string());
                            }
                        }
                    }
                };
            // Now and then a shard loses its core between running its
            // commands and sending what they send: that goes out when it
            // runs again.
            s.hold_now_and_then(round);
            for _ in 0..500 {
                match rng.below(24) {
                    0..=3 => {
                        let key = if rng.below(2) == 0 { &a } else { &b };
                        let e = format!("e{}", pushed.len());
                        s.send(pusher, &[&["PUSH", key, &e]]);
                        pushed.push(e);
                    }
                    4..=11 => {
                        let i = rng.below(ws.len());
                        let (c, waits, gone) = ws[i];
                        if !waits && !gone && s.is_open(c) {
                            let t = ["1", "2", "4", "9", "0"][rng.below(5)];
                            let cmd: Vec<&str> = match rng.below(5) {
                                0 => vec!["QPOP", &a, t],
                                1 => vec!["QPOP", &b, t],
                                2 => vec!["QPOP", &a, &b, t],
                                3 => vec!["BPOP", &a, t],
                                _ => vec!["BPOP", &b, &a, t],
                            };
                            s.send(c, &[&cmd]);
                            ws[i].1 = true;
                        }
                    }
                    13 => {
                        // A worker between pops moves to another shard, as
                        // the balancer moves idle connections.
                        let i = rng.below(ws.len());
                        let c = ws[i].0;
                        if !ws[i].1 && !ws[i].2 && s.is_open(c) {
                            let to = (s.clients[c].home + 1 + rng.below(n - 1)) % n;
                            s.move_conn(c, to);
                        }
                    }
                    14 | 15 => {
                        // A key's slot moves, with the clients waiting on
                        // it when nothing else holds it.
                        let key = if rng.below(2) == 0 { &a } else { &b };
                        let from = s.shards[0].slots.shard_of(key.as_bytes());
                        let to = (from + 1 + rng.below(n - 1)) % n;
                        s.shards[from]
                            .start_move(crate::SlotSet::one(crate::slot::slot(key.as_bytes())), to);
                    }
                    12 => {
                        let i = rng.below(ws.len());
                        if !ws[i].2 && s.is_open(ws[i].0) {
                            s.hang_up(ws[i].0);
                            ws[i].2 = true;
                            let c = s.connect(rng.below(n));
                            ws.push((c, false, false));
                        }
                    }
                    _ => {}
                }
                let sh = rng.below(n);
                s.step(sh);
                collect(&mut s, &mut ws, &mut read);
            }
            // The waits left end by their timeouts or a push.
            settle(&mut s, &mut rng);
            for (c, waits, gone) in ws.iter_mut() {
                if !*gone {
                    s.hang_up(*c);
                    *gone = true;
                }
                let _ = waits;
            }
            settle(&mut s, &mut rng);
            collect(&mut s, &mut ws, &mut read);
            let mut held = read.clone();
            held.extend(list(&s, &a));
            held.extend(list(&s, &b));
            held.sort();
            let mut want = pushed.clone();
            want.sort();
            assert_eq!(
                held, want,
                "n {n} round {round}: every element read once or left"
            );
            assert_eq!(waiting(&s), 0, "n {n} round {round}: parked after all left");
            let st = &s.shards[0].stats;
            slot_moves += st.sum(|x| &x.slots_out);
        }
    }
    assert!(slot_moves > 100, "slots moved {slot_moves} times");
}

/// An element served ahead to a client that timed out meanwhile goes back
/// to its key (`PutBack`) while that client's next pop, over both shards,
/// holds the key and works on a copy of it: the element must go back
/// after the copy's write-back, not into the key the write-back then
/// replaces. (The key's shard loses its core between serving the element
/// and sending it, long enough for the client to read its timeout and pop
/// again; the churn test over real sockets lost an element this way.)
#[test]
fn an_element_put_back_under_its_clients_own_copy_is_not_overwritten() {
    let n = 2;
    let (a, b) = (key_on("a", 1, n), key_on("b", 0, n));
    let mut s = Sim::new(Arc::new(Toy), n);
    let (w, p) = (s.connect(0), s.connect(1));
    s.send(w, &[&["QPOP", &a, "3"]]);
    s.step(0); // to a's shard
    s.step(1); // parked there
               // A push serves the first element ahead to the parked wait; what a's
               // shard sends stays with it for now.
    s.send(p, &[&["PUSH", &a, "e0", "e1"]]);
    s.step_holding(1);
    // The wait times out at its home, which withdraws it.
    let mut waited = 0;
    while s.replies(w) != ["nil"] {
        s.step(0);
        waited += 1;
        assert!(waited < 10, "the wait times out");
    }
    // The client pops again, over both keys: a transaction by copy.
    s.send(w, &[&["QPOP", &a, &b, "0"]]);
    s.step(0); // locks b, asks a's shard for a's lock and a copy
    s.release(1); // the served element reaches the home
    s.step(1); // the withdrawal; a's lock, and the copy
    s.step(0); // the element goes back; the copy's pop is written back
    s.settle();
    let mut held: Vec<String> = s
        .replies(w)
        .iter()
        .map(|r| {
            let inner = r.trim_start_matches('[').trim_end_matches(']');
            inner.split_once(',').expect("[key,element]").1.to_string()
        })
        .collect();
    held.extend(list(&s, &a));
    held.sort();
    assert_eq!(held, ["e0", "e1"], "each element read once or left");
    assert!(s.locks_idle());
}
