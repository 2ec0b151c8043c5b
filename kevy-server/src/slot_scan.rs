//! Finding the keys of hash slots before the slots move to another shard
//! (kevy-rt's crate doc, "Moving slots to the cores that have time"). The
//! store keeps no index of keys by slot, so the shard walks its databases
//! a step per iteration while it serves as usual, and notes the names of
//! the slots' keys written meanwhile; once the walk is done, the move
//! freezes every shard and takes exactly those keys, without walking the
//! store while every client waits.

use crate::shard::Shard;
use kevy_rt::SlotSet;
use kevy_store::{DbChange, Entry, Observer};
use std::collections::HashMap;

/// A walk of one shard's databases for the keys of a set of slots: those
/// of the move under way and, for a move of many slots, of the next few
/// (kevy-rt takes them a part at a time; what a move takes leaves the
/// walk, the rest waits for the next move).
pub struct SlotScan {
    slots: SlotSet,
    db: usize,
    cursor: u64,
    /// The names found, by slot.
    names: HashMap<u16, Vec<Vec<u8>>>,
    done: bool,
}

/// Notes the names of the slots' keys written while their walk runs; a
/// FLUSHDB, FLUSHALL or SWAPDB (a database replaced at once) starts the
/// walk again.
struct SlotWrites {
    slots: SlotSet,
    names: Vec<(u16, Vec<u8>)>,
    restart: bool,
}

impl Observer for SlotWrites {
    fn before_write(&mut self, _db: usize, key: &[u8], _old: Option<&Entry>) {
        let slot = kevy_rt::slot(key);
        if self.slots.contains(slot) {
            self.names.push((slot, key.to_vec()));
        }
    }

    fn db_changed(&mut self, _db: usize, _change: DbChange<'_>) {
        self.restart = true;
    }
}

/// One step of the walk for the keys of `slots` (about `budget` keys
/// looked at), starting it unless the walk under way covers them; true
/// once it is done.
pub fn prepare(shard: &mut Shard, slots: &SlotSet, budget: usize) -> bool {
    if !shard
        .slot_scan
        .as_ref()
        .is_some_and(|s| s.slots.covers(slots))
    {
        abandon(shard);
        shard.slot_scan = Some(SlotScan {
            slots: slots.clone(),
            db: 0,
            cursor: 0,
            names: HashMap::new(),
            done: false,
        });
        shard.store.observe(SlotWrites {
            slots: slots.clone(),
            names: Vec::new(),
            restart: false,
        });
    }
    if let Some(w) = shard.store.observer_mut::<SlotWrites>() {
        if std::mem::take(&mut w.restart) {
            w.names.clear();
            if let Some(s) = shard.slot_scan.as_mut() {
                (s.db, s.cursor, s.done) = (0, 0, false);
                s.names.clear();
            }
        }
    }
    let Shard {
        store, slot_scan, ..
    } = shard;
    let Some(scan) = slot_scan.as_mut() else {
        return false;
    };
    let (mut seen, mut steps) = (0, 0);
    while !scan.done && seen < budget && steps < budget {
        if scan.db >= store.ndbs() {
            scan.done = true;
            break;
        }
        let (names, slots) = (&mut scan.names, &scan.slots);
        scan.cursor = store.scan_entries(scan.db, scan.cursor, |k, _| {
            seen += 1;
            let slot = kevy_rt::slot(k);
            if slots.contains(slot) {
                names.entry(slot).or_default().push(k.to_vec());
            }
        });
        steps += 1;
        if scan.cursor == 0 {
            scan.db += 1;
        }
    }
    scan.done
}

/// The names of the keys of `slots`, once: what a finished walk covering
/// them found and what was written since it started (some may be gone),
/// or, with no such walk, what a walk of the whole store finds now. They
/// leave the walk, which ends once no slot of it is left.
pub fn take_names(shard: &mut Shard, slots: &SlotSet) -> Vec<Vec<u8>> {
    let ready = shard
        .slot_scan
        .as_ref()
        .is_some_and(|s| s.done && s.slots.covers(slots));
    let clean = shard
        .store
        .observer_mut::<SlotWrites>()
        .is_some_and(|w| !w.restart);
    if !(ready && clean) {
        abandon(shard);
        return shard.store.names_where(|k| slots.holds_key(k));
    }
    let mut out = Vec::new();
    if let Some(scan) = shard.slot_scan.as_mut() {
        for s in slots.iter() {
            if let Some(v) = scan.names.remove(&s) {
                out.extend(v);
            }
        }
        scan.slots.remove_all(slots);
    }
    if let Some(w) = shard.store.observer_mut::<SlotWrites>() {
        let (taken, kept) = std::mem::take(&mut w.names)
            .into_iter()
            .partition::<Vec<_>, _>(|(s, _)| slots.contains(*s));
        w.names = kept;
        w.slots.remove_all(slots);
        out.extend(taken.into_iter().map(|(_, k)| k));
    }
    if shard.slot_scan.as_ref().is_some_and(|s| s.slots.is_empty()) {
        abandon(shard);
    }
    // A key written during the walk may be named twice.
    out.sort_unstable();
    out.dedup();
    out
}

/// Drops the walk (a move called off, or no move left for it).
pub fn abandon(shard: &mut Shard) {
    if shard.slot_scan.take().is_some() {
        shard.store.unobserve::<SlotWrites>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_store::{SetTtl, Value};

    fn set(shard: &mut Shard, db: usize, k: &str) {
        shard
            .store
            .db(db)
            .set(k.as_bytes(), Value::string(b"v"), SetTtl::Clear);
    }

    /// Keys named `{t}<i>` share tag `t`'s slot.
    fn tagged(i: usize) -> String {
        format!("{{t}}{i}")
    }

    #[test]
    fn a_walk_in_steps_finds_the_slot_keys_and_those_written_meanwhile() {
        let mut shard = Shard::new(0, 1);
        let slot = SlotSet::one(kevy_rt::slot(b"t"));
        for i in 0..300 {
            set(&mut shard, i % 2, &tagged(i));
            set(&mut shard, 0, &format!("other{i}"));
        }
        // A small budget: the walk takes many steps, with writes between.
        let mut steps = 0;
        while !prepare(&mut shard, &slot, 16) {
            steps += 1;
            if steps == 5 {
                set(&mut shard, 1, &tagged(1000));
                shard.store.db(0).remove(tagged(0).as_bytes());
            }
        }
        assert!(steps > 10, "{steps} steps");
        set(&mut shard, 0, &tagged(1001));
        let mut names = take_names(&mut shard, &slot);
        names.sort();
        let mut want: Vec<Vec<u8>> = (1..300)
            .chain([1000, 1001])
            .map(|i| tagged(i).into_bytes())
            .collect();
        want.sort();
        // The removed key may be named (it was there when walked): taking
        // it finds nothing. Every live key of the slot is named.
        names.retain(|k| k != tagged(0).as_bytes());
        assert_eq!(names, want);
        assert!(shard.slot_scan.is_none());
        assert!(shard.store.observer_mut::<SlotWrites>().is_none());
    }

    #[test]
    fn a_database_replaced_at_once_restarts_the_walk_and_no_walk_walks_all() {
        let mut shard = Shard::new(0, 1);
        let slot = SlotSet::one(kevy_rt::slot(b"t"));
        for i in 0..100 {
            set(&mut shard, 0, &tagged(i));
        }
        assert!(!prepare(&mut shard, &slot, 8));
        shard.store.flush_all();
        set(&mut shard, 0, &tagged(7));
        while !prepare(&mut shard, &slot, 8) {}
        assert_eq!(take_names(&mut shard, &slot), [tagged(7).into_bytes()]);
        // No walk (or one for another slot): the whole store is looked at.
        set(&mut shard, 0, &tagged(8));
        let _ = prepare(&mut shard, &SlotSet::one(kevy_rt::slot(b"u")), 1);
        let mut names = take_names(&mut shard, &slot);
        names.sort();
        assert_eq!(names, [tagged(7).into_bytes(), tagged(8).into_bytes()]);
        abandon(&mut shard);
        assert!(shard.store.observer_mut::<SlotWrites>().is_none());
    }

    #[test]
    fn one_walk_serves_several_moves_and_notes_writes_between_them() {
        let mut shard = Shard::new(0, 1);
        let (t, u) = (kevy_rt::slot(b"t"), kevy_rt::slot(b"u"));
        let both = {
            let mut s = SlotSet::one(t);
            s.insert(u);
            s
        };
        for i in 0..50 {
            set(&mut shard, 0, &tagged(i));
            set(&mut shard, 0, &format!("{{u}}{i}"));
        }
        while !prepare(&mut shard, &both, 8) {}
        let mut first = take_names(&mut shard, &SlotSet::one(t));
        first.sort();
        let mut want: Vec<Vec<u8>> = (0..50).map(|i| tagged(i).into_bytes()).collect();
        want.sort();
        assert_eq!(first, want);
        // The rest of the walk waits for the next move: a key written
        // meanwhile is named, and preparing needs no step.
        set(&mut shard, 0, "{u}late");
        assert!(prepare(&mut shard, &SlotSet::one(u), 0));
        let second = take_names(&mut shard, &SlotSet::one(u));
        assert_eq!(second.len(), 51);
        assert!(second.contains(&b"{u}late".to_vec()));
        // Nothing of the walk is left.
        assert!(shard.slot_scan.is_none());
        assert!(shard.store.observer_mut::<SlotWrites>().is_none());
    }
}
