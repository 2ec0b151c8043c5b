//! Hash slots moving between shards while clients run (crate doc, "Moving
//! slots to the cores that have time"): a moved slot's keys answer from
//! their new owner, a slot with a WATCHed key stays, one waited on moves
//! with its waiters, and every connection's pipelines and transactions
//! keep their order and atomicity whenever the moves come.

use super::tests::{key_on, sim};
use super::toy::Toy;
use super::Sim;
use crate::slot::{slot, SlotSet};

/// The shard that owns `key` now.
fn owner(s: &Sim<Toy>, key: &str) -> usize {
    s.shards[0].slots.shard_of(key.as_bytes())
}

/// The value of `key` in shard `sh`'s own store.
fn stored(s: &Sim<Toy>, sh: usize, key: &str) -> Option<String> {
    s.shards[sh].ex.shard.get(key)
}

fn moves(s: &Sim<Toy>) -> (u64, u64) {
    let st = &s.shards[0].stats;
    (
        st.sum(|x| &x.slots_out),
        st.sum(|x| &x.slot_moves_called_off),
    )
}

#[test]
fn a_moved_slots_keys_answer_from_their_new_owner() {
    let mut s = sim(2);
    let (c0, c1) = (s.connect(0), s.connect(1));
    let (a, k) = (key_on("a", 0, 2), key_on("k", 1, 2));
    s.send(
        c1,
        &[&["SET", &k, "v"], &["PUSH", &format!("{k}{{x}}"), "e"]],
    );
    s.send(c0, &[&["SET", &a, "1"]]);
    s.settle();
    assert_eq!(s.replies(c1), ["OK", "OK"]);
    assert_eq!(s.replies(c0), ["OK"]);
    assert!(s.shards[1].start_move(SlotSet::one(slot(k.as_bytes())), 0));
    // Frozen: a command sent now waits for the move, then runs; one sent
    // once the keys left but before the map says so waits too (it would
    // find nothing at the old owner).
    s.send(c1, &[&["GET", &k]]);
    for _ in 0..10 {
        if s.shards[1].mig.handed_over() {
            break;
        }
        s.step(0);
        s.step(1);
    }
    assert!(s.shards[1].mig.handed_over());
    s.send(c1, &[&["GET", &k]]);
    s.step(1);
    s.settle();
    assert_eq!(s.replies(c1), ["v", "v"]);
    assert_eq!(owner(&s, &k), 0);
    assert_eq!(stored(&s, 0, &k).as_deref(), Some("v"));
    assert_eq!(stored(&s, 1, &k), None);
    assert_eq!(moves(&s), (1, 0));
    assert_eq!(s.shards[0].slots.moved(), 1);
    // Both homes reach it there, alone and with a key of shard 0 (now
    // one shard's command), and a write lands there.
    s.send(c0, &[&["GET", &k], &["MGET", &a, &k], &["INCR", &a]]);
    s.settle();
    assert_eq!(s.replies(c0), ["v", "[1,v]", "2"]);
    s.send(c1, &[&["SET", &k, "w"], &["MGET", &k, &a], &["DBSIZE"]]);
    s.settle();
    assert_eq!(s.replies(c1), ["OK", "[w,2]", "3"]);
    assert_eq!(stored(&s, 0, &k).as_deref(), Some("w"));
    assert!(s.locks_idle());
    // And back again.
    assert!(s.shards[0].start_move(SlotSet::one(slot(k.as_bytes())), 1));
    s.settle();
    assert_eq!(owner(&s, &k), 1);
    assert_eq!(stored(&s, 1, &k).as_deref(), Some("w"));
    assert_eq!(s.shards[0].slots.moved(), 0);
}

#[test]
fn a_watched_slot_stays_and_a_waited_on_one_moves_with_its_waiters() {
    let mut s = sim(2);
    let (c0, c1, w0, w1) = (s.connect(0), s.connect(1), s.connect(0), s.connect(1));
    let k = key_on("w", 1, 2);
    s.send(c0, &[&["WATCH", &k]]);
    s.settle();
    assert_eq!(s.replies(c0), ["OK"]);
    assert!(s.shards[1].start_move(SlotSet::one(slot(k.as_bytes())), 0));
    s.settle();
    assert_eq!(owner(&s, &k), 1, "a WATCHed key's slot stays");
    assert_eq!(moves(&s), (0, 1));
    // The WATCH still sees a write.
    s.send(c1, &[&["SET", &k, "x"]]);
    s.settle();
    s.send(c0, &[&["MULTI"], &["GET", &k], &["EXEC"]]);
    s.settle();
    assert_eq!(s.replies(c0), ["OK", "QUEUED", "nil"]);
    // Clients of both homes wait on a list of shard 1: they go with it to
    // shard 0 and are served there, first come first served.
    let list = key_on("l", 1, 2);
    s.send(w0, &[&["BPOP", &list, "0"]]);
    s.settle();
    s.send(w1, &[&["BPOP", &list, "0"]]);
    s.settle();
    assert!(s.shards[1].start_move(SlotSet::one(slot(list.as_bytes())), 0));
    s.settle();
    assert_eq!(owner(&s, &list), 0);
    assert_eq!((s.waiters(0), s.waiters(1)), (2, 0));
    s.send(c1, &[&["PUSH", &list, "e1"]]);
    s.settle();
    assert_eq!(s.replies(w0), [format!("[{list},e1]")]);
    s.send(c0, &[&["PUSH", &list, "e2"]]);
    s.settle();
    assert_eq!(s.replies(w1), [format!("[{list},e2]")]);
    // A client that waits on keys of two slots keeps both where they are.
    let other = key_on("o", 0, 2);
    s.send(w1, &[&["BPOP", &list, &other, "0"]]);
    s.settle();
    assert!(s.shards[0].start_move(SlotSet::one(slot(list.as_bytes())), 1));
    s.settle();
    assert_eq!(owner(&s, &list), 0);
    assert_eq!(moves(&s), (1, 2));
    s.send(c1, &[&["PUSH", &other, "e3"]]);
    s.settle();
    assert_eq!(s.replies(w1), [format!("[{other},e3]")]);
    assert!(s.locks_idle());
    assert_eq!((s.waiters(0), s.waiters(1)), (0, 0));
}

#[test]
fn a_shards_slots_move_in_bulk_with_their_keys_and_waiters_and_go_home() {
    for n in [2, 3] {
        let mut s = sim(n);
        let (c0, w) = (s.connect(0), s.connect(n - 1));
        let keys: Vec<String> = (0..40).map(|i| key_on(&format!("b{i}"), 1, n)).collect();
        for k in &keys {
            s.send(c0, &[&["SET", k, k]]);
        }
        s.settle();
        assert_eq!(s.replies(c0).len(), keys.len());
        // A client waits on two lists of shard 1 in two slots: it moves
        // with them, as both go in one move.
        let (l1, l2) = (key_on("l1", 1, n), key_on("l2", 1, n));
        assert_ne!(slot(l1.as_bytes()), slot(l2.as_bytes()));
        s.send(w, &[&["BPOP", &l1, &l2, "0"]]);
        s.settle();
        let owned = |s: &Sim<Toy>, j: usize| {
            (0..crate::slot::SLOTS as u16)
                .filter(|&x| s.shards[0].slots.owner(x) == j)
                .count()
        };
        let ones = owned(&s, 1);
        // A few keys: every slot of shard 1 goes in one move.
        assert!(s.shards[1].move_slots_where(0, |_| true));
        s.settle();
        assert_eq!(owned(&s, 1), 0, "n = {n}");
        assert_eq!(moves(&s), (ones as u64, 0));
        assert_eq!(s.shards[0].slots.moved(), ones);
        for k in &keys {
            assert_eq!(owner(&s, k), 0);
            assert_eq!(stored(&s, 0, k).as_deref(), Some(k.as_str()));
            assert_eq!(stored(&s, 1, k), None);
        }
        assert_eq!((s.waiters(0), s.waiters(1)), (1, 0));
        s.send(c0, &[&["PUSH", &l2, "e"], &["GET", &keys[3]], &["DBSIZE"]]);
        s.settle();
        assert_eq!(s.replies(w), [format!("[{l2},e]")]);
        assert_eq!(s.replies(c0)[1..], [keys[3].clone(), "41".into()]);
        // Home again: shard 0 gives back only what was shard 1's (once
        // the slots settled), and shard 0's own stay.
        let map = s.shards[0].slots.clone();
        assert!(!s.shards[0].move_slots_where(1, |x| map.home(x) == 1));
        s.shards[0].mig.forget_settled();
        assert!(s.shards[0].move_slots_where(1, |x| map.home(x) == 1));
        s.settle();
        assert_eq!(owned(&s, 1), ones);
        assert_eq!(s.shards[0].slots.moved(), 0);
        for k in &keys {
            assert_eq!(stored(&s, 1, k).as_deref(), Some(k.as_str()));
        }
        assert!(s.locks_idle());
    }
}

#[test]
fn a_waiter_whose_wait_ends_while_its_slot_moves_is_not_left_behind() {
    // The waiter's home is the new owner (told in place), or a third
    // shard (told by `Rehome`, which finds the wait over).
    for (n, home) in [(2, 0), (3, 2)] {
        let mut s = sim(n);
        let (w, c1) = (s.connect(home), s.connect(1));
        let list = key_on("t", 1, n);
        // Times out in 20 ms (20 steps of the simulation).
        s.send(w, &[&["BPOP", &list, "20"]]);
        s.settle();
        assert_eq!(s.waiters(1), 1);
        assert!(s.shards[1].start_move(SlotSet::one(slot(list.as_bytes())), 0));
        // The move hands the waiter over; the wait ends before its home
        // hears.
        for _ in 0..10 {
            if s.shards[1].mig.handed_over() {
                break;
            }
            for sh in 0..n {
                s.step(sh);
            }
        }
        assert!(s.shards[1].mig.handed_over());
        for _ in 0..30 {
            s.step(1);
        }
        s.step(home);
        s.settle();
        assert_eq!(s.replies(w), ["nil"], "n {n}");
        assert_eq!(owner(&s, &list), 0);
        let left: usize = (0..n).map(|sh| s.waiters(sh)).sum();
        assert_eq!(left, 0, "n {n}: no waiter left");
        s.send(c1, &[&["PUSH", &list, "e"]]);
        s.settle();
        assert_eq!(s.shards[0].ex.shard.get(&list).as_deref(), Some("e"));
    }
}

/// The coordinator's pipelined rounds (`tests.rs`), with the keys' slots
/// moving between shards at random moments (and shards that now and then
/// hold their messages past their step): every reply is what it is when
/// nothing moves, and the reader sees whole transactions.
#[test]
fn pipelines_and_transactions_keep_order_and_atomicity_while_slots_move() {
    let mut started = 0;
    let sims = super::tests::pipelined_rounds(600, "mv", |s, rng, keys| {
        if rng.below(8) != 0 {
            return;
        }
        let n = s.n();
        let k = keys[rng.below(2)];
        let from = owner(s, k);
        let to = (from + 1 + rng.below(n - 1)) % n;
        // One slot, or all of the shard's at once (a starved shard's
        // hand-over).
        started += usize::from(if rng.below(4) == 0 {
            s.shards[from].move_slots_where(to, |_| true)
        } else {
            s.shards[from].start_move(SlotSet::one(slot(k.as_bytes())), to)
        });
    });
    let done: u64 = sims.iter().map(|s| moves(s).0).sum();
    assert!(started > 300, "moves started: {started}");
    assert!(done > 100, "moves done: {done} of {started}");
}
