//! Pub/sub over many interleavings of the shards' steps: subscribers move
//! between shards while publishers on every shard publish, so their
//! subscriptions change shards by a cut (crate doc, "Moving a
//! subscriber"), and shards now and then hold what they send past their
//! step. Every subscriber gets every message once, each publisher's in
//! the order it published, and PUBLISH counts every subscriber.

use super::toy::Toy;
use super::{Rng, Sim};
use std::sync::Arc;

#[test]
fn moving_subscribers_get_each_message_once_in_each_publishers_order() {
    let mut moves = 0;
    for n in [2, 3] {
        for round in 0..150u64 {
            let mut s = Sim::new(Arc::new(Toy), n);
            let mut rng = Rng::new(7000 * n as u64 + round);
            s.hold_now_and_then(round);
            let subs: Vec<usize> = (0..4).map(|_| s.connect(rng.below(n))).collect();
            for &c in &subs {
                s.send(c, &[&["SUBSCRIBE", "ch"]]);
            }
            s.settle();
            for &c in &subs {
                assert_eq!(s.replies(c), ["[subscribe,ch,1]"], "n {n} round {round}");
            }
            let pubs: Vec<usize> = (0..3).map(|_| s.connect(rng.below(n))).collect();
            let mut sent = vec![0usize; pubs.len()];
            let mut got: Vec<Vec<String>> = vec![Vec::new(); subs.len()];
            let mut counted = Vec::new();
            let collect =
                |s: &mut Sim<Toy>, got: &mut Vec<Vec<String>>, counted: &mut Vec<String>| {
                    for (i, &c) in subs.iter().enumerate() {
                        got[i].extend(s.replies(c));
                    }
                    for &p in &pubs {
                        counted.extend(s.replies(p));
                    }
                };
            for _ in 0..300 {
                match rng.below(10) {
                    0..=4 => {
                        let p = rng.below(pubs.len());
                        let m = format!("{p}:{}", sent[p]);
                        sent[p] += 1;
                        s.send(pubs[p], &[&["PUBLISH", "ch", &m]]);
                    }
                    5 => {
                        // A subscriber moves, as a starved shard hands its
                        // connections away (not while its last move's cut
                        // is still running: then it stays).
                        let c = subs[rng.below(subs.len())];
                        let to = (s.clients[c].home + 1 + rng.below(n - 1)) % n;
                        moves += usize::from(s.move_conn(c, to));
                    }
                    _ => {}
                }
                s.step(rng.below(n));
                collect(&mut s, &mut got, &mut counted);
            }
            s.settle();
            collect(&mut s, &mut got, &mut counted);
            let total: usize = sent.iter().sum();
            assert_eq!(
                counted.len(),
                total,
                "n {n} round {round}: every PUBLISH answered"
            );
            assert!(
                counted.iter().all(|c| c == "4"),
                "n {n} round {round}: PUBLISH counts every subscriber: {counted:?}"
            );
            for (i, msgs) in got.iter().enumerate() {
                let mut next = vec![0usize; pubs.len()];
                for m in msgs {
                    let body = m
                        .strip_prefix("[message,ch,")
                        .and_then(|b| b.strip_suffix(']'))
                        .unwrap_or_else(|| panic!("n {n} round {round}: not a message: {m}"));
                    let (p, k) = body.split_once(':').expect("p:k");
                    let (p, k): (usize, usize) = (p.parse().unwrap(), k.parse().unwrap());
                    assert_eq!(
                        k, next[p],
                        "n {n} round {round}: subscriber {i} got {p}:{k} when {p}:{} was next",
                        next[p]
                    );
                    next[p] += 1;
                }
                assert_eq!(
                    next, sent,
                    "n {n} round {round}: subscriber {i} got them all"
                );
            }
        }
    }
    assert!(moves > 1000, "subscribers moved {moves} times");
}

/// Subscribers to a channel and to a pattern that move between shards and
/// hang up at any moment, the middle of a move's cut included: the others
/// still get every message once and in order, and once everything
/// settles no shard keeps anything for the ones that left (a PUBLISH then
/// counts exactly the subscribers still there).
#[test]
fn subscribers_that_hang_up_while_moving_leave_nothing_behind() {
    let mut kills = 0;
    for n in [2, 3] {
        for round in 0..150u64 {
            let mut s = Sim::new(Arc::new(Toy), n);
            let mut rng = Rng::new(9100 * n as u64 + round);
            s.hold_now_and_then(round ^ 0x55);
            let subs: Vec<usize> = (0..6).map(|_| s.connect(rng.below(n))).collect();
            for (i, &c) in subs.iter().enumerate() {
                if i % 2 == 0 {
                    s.send(c, &[&["SUBSCRIBE", "ch"]]);
                } else {
                    s.send(c, &[&["PSUBSCRIBE", "c*"]]);
                }
            }
            s.settle();
            for &c in &subs {
                assert_eq!(s.replies(c).len(), 1, "n {n} round {round}: subscribed");
            }
            let publisher = s.connect(rng.below(n));
            let mut sent = 0;
            let mut gone = vec![false; subs.len()];
            let mut got: Vec<Vec<String>> = vec![Vec::new(); subs.len()];
            for _ in 0..250 {
                match rng.below(12) {
                    0..=4 => {
                        s.send(publisher, &[&["PUBLISH", "ch", &sent.to_string()]]);
                        sent += 1;
                    }
                    5 | 6 => {
                        let c = subs[rng.below(subs.len())];
                        let to = (s.clients[c].home + 1 + rng.below(n - 1)) % n;
                        s.move_conn(c, to);
                    }
                    7 => {
                        let i = rng.below(subs.len());
                        if !gone[i] && s.is_open(subs[i]) {
                            s.kill(subs[i]);
                            gone[i] = true;
                            kills += 1;
                        }
                    }
                    _ => {}
                }
                s.step(rng.below(n));
                for (i, &c) in subs.iter().enumerate() {
                    got[i].extend(s.replies(c));
                }
                s.replies(publisher);
            }
            s.settle();
            for (i, &c) in subs.iter().enumerate() {
                got[i].extend(s.replies(c));
            }
            s.replies(publisher);
            for (i, msgs) in got.iter().enumerate().filter(|&(i, _)| !gone[i]) {
                let seq: Vec<usize> = msgs
                    .iter()
                    .map(|m| {
                        let body = m
                            .strip_prefix("[message,ch,")
                            .or_else(|| m.strip_prefix("[pmessage,c*,ch,"))
                            .and_then(|b| b.strip_suffix(']'))
                            .unwrap_or_else(|| panic!("n {n} round {round}: not a message: {m}"));
                        body.parse().expect("a number")
                    })
                    .collect();
                assert_eq!(
                    seq,
                    (0..sent).collect::<Vec<_>>(),
                    "n {n} round {round}: subscriber {i} got every message once, in order"
                );
            }
            for x in 0..n {
                assert!(
                    s.shards[x].handoff.is_idle(),
                    "n {n} round {round}: shard {x} keeps a move's state"
                );
            }
            // One more message, once everything settled: it reaches the
            // subscribers still there and nobody else.
            s.send(publisher, &[&["PUBLISH", "ch", "last"]]);
            s.settle();
            let alive = gone.iter().filter(|g| !**g).count();
            assert_eq!(
                s.replies(publisher),
                [alive.to_string()],
                "n {n} round {round}: PUBLISH counts the subscribers still there"
            );
        }
    }
    assert!(kills > 100, "subscribers hung up {kills} times");
}
