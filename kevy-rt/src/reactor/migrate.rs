//! Moving hash slots to another shard while the server runs (crate doc,
//! "Moving slots to the cores that have time"): which slots a starved
//! shard hands over and when they go back, the freeze that stops every
//! shard until nothing is in flight, and the hand-over of the slots' keys.

use super::Reactor;
use crate::msg::{Req, Resp};
use crate::service::Service;
use crate::slot::{Heat, SlotSet, SLOTS};
use std::sync::atomic::Ordering;

/// A slot that arrived at a shard stays there at least this long (µs):
/// two starved shards do not pass a hot slot back and forth.
const SETTLE_US: u64 = 1_000_000;
/// A slot moves only when it took at least this share (1 in `HOT_SHARE`)
/// of every count since the last sample: a hot key's slot, never one of
/// a spread-out workload's 16,384.
const HOT_SHARE: u64 = 64;
/// Nor with fewer counts than this (a handful of routings is no load).
const MIN_HEAT: u64 = 64;
/// A freeze that finds no quiet moment in this long (µs) is called off: a
/// transaction or a script keeps a shard busy, and every client waits
/// while the freeze lasts.
const FREEZE_LIMIT_US: u64 = 50_000;
/// Samples (10 ms each) between two looks at the heat counters: a look
/// reads all 16,384 of them.
const LOOK_EVERY: u32 = 5;
/// One routed key in `1 << WARM_SHIFT` is counted.
const WARM_SHIFT: u32 = 3;
/// Keys a shard getting ready to move slots looks at per iteration
/// ([`Service::prepare_slots`]).
const PREPARE_BUDGET: usize = 16_384;
/// Keys one move of many slots carries, about (a starved shard's
/// slots, or slots going home): each move holds every client while its
/// keys change stores (about a microsecond and a half per key on a
/// starved shard), so many slots go in several moves.
const BULK_KEYS: usize = 4_096;
/// The walk for a move of many slots finds the keys of this many moves
/// at once (the store keeps no index by slot, so each walk reads all of
/// it): the next moves then freeze without walking again, and a walk's
/// names of keys stay bounded.
const AHEAD: usize = 32;
/// A walk whose slots no move took for this long (µs) is dropped: the
/// shard stopped handing slots over.
const AHEAD_IDLE_US: u64 = 1_000_000;
/// A shard that took connections or slots in bulk keeps them at least
/// this long (µs) before it hands either over itself ...
const BACKOFF_MIN_US: u64 = 1_000_000;
/// ... twice as long each time it does so within four of those periods
/// (a load that hops between cores would otherwise have every key follow
/// it, each time), up to this; eight quiet periods bring it back down.
const BACKOFF_MAX_US: u64 = 32_000_000;

/// One reactor's part in slot moves.
#[derive(Default)]
pub(super) struct Migrator {
    /// The move this shard leads, if any.
    moving: Option<Move>,
    /// Slots arriving here: their mover, and how many homes of their
    /// waiters have yet to answer `Rehome`.
    arriving: Option<(usize, usize)>,
    /// Moves this shard has led: the high bits of its freeze words.
    led: u64,
    /// Slots that arrived here lately, with when (µs).
    settled: Vec<(SlotSet, u64)>,
    /// The slots whose keys the service's last walk found and no move has
    /// taken yet ([`AHEAD`]), and when a move last took some (µs).
    ahead: SlotSet,
    ahead_used_us: u64,
    /// Whether this shard said it is idle under the current freeze.
    quiet: bool,
    /// Two readings of the mesh (`Endpoint::read_quiet`).
    first: Vec<usize>,
    second: Vec<usize>,
    /// The take of slots in bulk (its time) that this shard doubled the
    /// backoff for, shedding soon after it.
    backed_off: u64,
    /// Routed keys, of which one in `1 << WARM_SHIFT` is counted.
    tick: u32,
    /// Samples since the last look at the heat counters, and whether this
    /// sample looks.
    samples: u32,
    look: bool,
    /// Routed keys count towards their slot's heat: some shard is
    /// starved, or slots move for tests (`shard-balance churn`).
    pub warming: bool,
}

struct Move {
    slots: SlotSet,
    /// The slots the service walks for: `slots` and those of the next
    /// moves of many.
    scan: SlotSet,
    to: usize,
    /// Its freeze word; 0 while the shard gets ready
    /// ([`Service::prepare_slots`]).
    word: u64,
    since_us: u64,
    /// The keys are on their way to `to`.
    sent: bool,
}

impl Migrator {
    /// Lets slots that arrived lately move again.
    #[cfg(test)]
    pub fn forget_settled(&mut self) {
        self.settled.clear();
    }

    /// Whether a move this shard leads is under way.
    #[cfg(test)]
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }

    /// Whether the keys of the move this shard leads are on their way.
    #[cfg(test)]
    pub fn handed_over(&self) -> bool {
        self.moving.as_ref().is_some_and(|m| m.sent)
    }

    /// Whether this routing of a key counts towards its slot's heat.
    #[inline]
    pub fn counts(&mut self) -> bool {
        self.tick = self.tick.wrapping_add(1);
        self.tick & ((1 << WARM_SHIFT) - 1) == 0
    }

    /// Whether `slot` arrived here too lately to move again.
    fn settling(&self, slot: u16) -> bool {
        self.settled.iter().any(|(set, _)| set.contains(slot))
    }
}

/// How many slots one move of many takes, of the `owned` slots of a
/// shard holding `keys` keys (about as many in each slot): as many as
/// hold `per_move` keys; all of them when the shard holds no key.
fn bulk_count(per_move: usize, keys: usize, owned: usize) -> usize {
    if keys == 0 {
        return owned;
    }
    (per_move.saturating_mul(owned) / keys).clamp(1, owned.max(1))
}

/// Up to `count` of the slots shard `me` owns in `map` that `want`
/// accepts, lowest first.
fn pick_bulk(map: &crate::SlotMap, me: usize, count: usize, want: impl Fn(u16) -> bool) -> SlotSet {
    let mut set = SlotSet::default();
    let mine = (0..SLOTS as u16).filter(|&s| map.owner(s) == me && want(s));
    for s in mine.take(count) {
        set.insert(s);
    }
    set
}

/// The hottest slot `me` owns in `map`, if it is hot enough to move: at
/// least 1 in [`HOT_SHARE`] of all heat and [`MIN_HEAT`] (`any`: the
/// hottest with any heat at all, for `shard-balance churn`), and not one
/// of the `settled` slots.
fn pick_slot(
    map: &crate::SlotMap,
    kind: Heat,
    me: usize,
    settling: impl Fn(u16) -> bool,
    any: bool,
) -> Option<u16> {
    if !map.is_warm(kind) {
        return None;
    }
    let mut total = 0u64;
    let mut best: Option<(u32, u16)> = None;
    for s in 0..SLOTS as u16 {
        let h = map.heat(kind, s);
        if h == 0 {
            continue;
        }
        total += u64::from(h);
        if map.owner(s) != me || settling(s) {
            continue;
        }
        if best.is_none_or(|(bh, _)| h > bh) {
            best = Some((h, s));
        }
    }
    let (h, s) = best?;
    let h = u64::from(h);
    (any || (h >= MIN_HEAT && h * HOT_SHARE >= total)).then_some(s)
}

impl<S: Service> Reactor<S> {
    /// At a sample that looks at the heat: moves this shard's hottest slot
    /// by heat `kind` to shard `to`, if one is hot enough (`any`: the
    /// hottest with any heat, under `shard-balance churn`). A starved
    /// shard gives its routed heat to a calm peer; any other shard gives
    /// its spanning heat to the calmest shard.
    pub(super) fn move_hot_slot(&mut self, to: usize, kind: Heat, any: bool) {
        if !any && !self.mig.look {
            return;
        }
        if !self.may_start_move() {
            return;
        }
        let mig = &self.mig;
        if let Some(slot) = pick_slot(&self.slots, kind, self.id, |s| mig.settling(s), any) {
            self.start_move(SlotSet::one(slot), to);
        }
    }

    /// Whether this shard may hand its connections and slots over now:
    /// not within the backoff ([`BACKOFF_MIN_US`]) of taking connections
    /// or slots in bulk itself. A shard that sheds soon after it took
    /// them doubles the backoff (once for each take): the load that
    /// starves it has followed them.
    pub(super) fn may_shed(&mut self) -> bool {
        let took = self.stats.shards[self.id].took_us.load(Ordering::Relaxed);
        let backoff = &self.stats.bulk_backoff_us;
        let (b, since) = (
            backoff.load(Ordering::Relaxed).max(BACKOFF_MIN_US),
            self.now_us.saturating_sub(took),
        );
        if took != 0 && since < b {
            return false;
        }
        if took != 0 && since < 4 * b {
            if self.mig.backed_off != took {
                self.mig.backed_off = took;
                backoff.store((2 * b).min(BACKOFF_MAX_US), Ordering::Relaxed);
            }
        } else if since >= 8 * b {
            backoff.store(BACKOFF_MIN_US, Ordering::Relaxed);
        }
        true
    }

    /// Whether this shard may start a move now: it leads none, and no
    /// shard runs a script, which would keep the freeze (and every
    /// client) waiting until the move is called off. Forgets slots that
    /// have settled.
    fn may_start_move(&mut self) -> bool {
        let now = self.now_us;
        self.mig
            .settled
            .retain(|&(_, at)| now.saturating_sub(at) < SETTLE_US);
        let long = |s: &crate::stats::ShardStats| s.running_long.load(Ordering::Relaxed) != 0;
        self.mig.moving.is_none() && !self.stats.shards.iter().any(long)
    }

    /// Moves some of this shard's slots (those `want` accepts and that
    /// have not just arrived) to shard `to`, as many as hold about
    /// [`BULK_KEYS`] keys ([`bulk_count`]), lowest first; false when it
    /// moves none. The walk that finds their keys finds those of the
    /// next [`AHEAD`] such moves too, unless the last walk already did.
    pub(super) fn move_slots_where(&mut self, to: usize, want: impl Fn(u16) -> bool) -> bool {
        if !self.may_start_move() {
            return false;
        }
        let owned = self.slots.owned(self.id);
        if owned == 0 {
            return false;
        }
        let keys = self.svc.key_count(&self.ex.shard);
        let mig = &self.mig;
        let eligible = |s: u16| want(s) && !mig.settling(s);
        let set = pick_bulk(
            &self.slots,
            self.id,
            bulk_count(BULK_KEYS, keys, owned),
            eligible,
        );
        if set.is_empty() {
            return false;
        }
        // What the service refuses now (asked again at the hand-over) is
        // not worth a walk and a freeze; a hand-over of every slot that
        // it refuses ends here (under `maxmemory`, kevy-server's refusal
        // lasts).
        if !self.svc.may_move_slots(&self.ex.shard, &set) {
            self.bal.handing = None;
            return false;
        }
        let mig = &self.mig;
        let scan = if mig.ahead.covers(&set) {
            mig.ahead.clone()
        } else {
            let per_walk = BULK_KEYS.saturating_mul(AHEAD);
            pick_bulk(
                &self.slots,
                self.id,
                bulk_count(per_walk, keys, owned),
                eligible,
            )
        };
        self.start_move_scanning(set, scan, to)
    }

    /// At each sample: drops the walk for moves of many slots that no move
    /// has used for [`AHEAD_IDLE_US`] (its names, and the notes of every
    /// write of its slots' keys, cost memory and time).
    pub(super) fn drop_idle_walk(&mut self) {
        if self.mig.ahead.is_empty()
            || self.mig.moving.is_some()
            || self.now_us.saturating_sub(self.mig.ahead_used_us) < AHEAD_IDLE_US
        {
            return;
        }
        self.mig.ahead = SlotSet::default();
        self.svc.abandon_slots(&mut self.ex.shard);
    }

    /// Called at each sample: whether this one looks at the heat counters
    /// (one in [`LOOK_EVERY`]); shard 0 then halves them, after its look.
    pub(super) fn heat_due(&mut self) {
        self.mig.samples += 1;
        self.mig.look = self.mig.samples >= LOOK_EVERY;
        if self.mig.look {
            self.mig.samples = 0;
        }
    }

    /// At the end of a sample that looked at the heat counters: shard 0
    /// halves them (what slots took lately weighs more than long ago).
    pub(super) fn heat_looked(&mut self) {
        if self.mig.look && self.id == 0 {
            self.slots.cool();
        }
    }

    /// Counts the keys of a command whose keys span shards towards their
    /// slots' heat.
    #[cold]
    #[inline(never)]
    pub(super) fn warm_keys(&self, route: crate::service::Route, args: kevy_resp::Args<'_>) {
        for k in route.keys(args) {
            self.slots.warm(Heat::Spanning, crate::slot::slot(k));
        }
    }

    /// Starts moving `slots`, which this shard owns, to shard `to`: the
    /// service gets ready, then every shard freezes. False when this
    /// shard has a move under way or does not own them all.
    pub(super) fn start_move(&mut self, slots: SlotSet, to: usize) -> bool {
        self.start_move_scanning(slots.clone(), slots, to)
    }

    /// Starts moving `slots` as [`Self::start_move`] does, the service
    /// walking for the keys of `scan` (which holds `slots`).
    fn start_move_scanning(&mut self, slots: SlotSet, scan: SlotSet, to: usize) -> bool {
        if self.mig.moving.is_some()
            || to == self.id
            || to >= self.n
            || slots.is_empty()
            || !scan.covers(&slots)
            || slots.iter().any(|s| self.slots.owner(s) != self.id)
        {
            return false;
        }
        self.mig.moving = Some(Move {
            scan,
            slots,
            to,
            word: 0,
            since_us: self.now_us,
            sent: false,
        });
        self.prepare_move();
        true
    }

    /// A step of getting ready for the move this shard leads; once ready,
    /// the freeze (unless another shard's move holds it: this one is then
    /// called off).
    fn prepare_move(&mut self) {
        let Some(m) = self.mig.moving.as_ref() else {
            return;
        };
        if !self
            .svc
            .prepare_slots(&mut self.ex.shard, &m.scan, PREPARE_BUDGET)
        {
            return;
        }
        self.mig.led += 1;
        let word = (self.mig.led << 16) | self.id as u64;
        if !self.mesh.try_freeze(word) {
            self.svc.abandon_slots(&mut self.ex.shard);
            self.mig.ahead = SlotSet::default();
            self.mig.moving = None;
            return;
        }
        if let Some(m) = self.mig.moving.as_mut() {
            m.word = word;
            m.since_us = self.now_us;
        }
    }

    /// At the start of an iteration, before anything is popped: a shard
    /// that said it is idle takes that back.
    #[inline]
    pub(super) fn migrate_begin(&mut self) {
        if self.mig.quiet {
            self.mig.quiet = false;
            self.mesh.set_quiet(0);
        }
    }

    /// At the end of an iteration: a step of getting ready for a move
    /// this shard leads, and what a frozen shard does.
    #[inline]
    pub(super) fn migrate_end(&mut self) {
        if self.mig.moving.as_ref().is_some_and(|m| m.word == 0) {
            self.prepare_move();
        }
        let word = self.mesh.freeze();
        if word != 0 {
            self.frozen(word);
        }
    }

    #[cold]
    #[inline(never)]
    fn frozen(&mut self, word: u64) {
        if self.idle() {
            self.mig.quiet = true;
            self.mesh.set_quiet(word);
            let mover = (word & 0xffff) as usize;
            if mover != self.id {
                self.mesh.wake(mover);
            }
        }
        let Some(m) = &self.mig.moving else {
            return;
        };
        if m.word != word || m.sent {
            return;
        }
        if self.now_us.saturating_sub(m.since_us) > FREEZE_LIMIT_US {
            self.called_off();
            return;
        }
        if self.mig.quiet && self.quiescent(word) {
            self.hand_over();
        }
    }

    /// Whether this shard has nothing under way that could send a
    /// message: no transaction, nothing held or queued in its lock table,
    /// nothing owed to its reactor or waiting to be pushed or run.
    fn idle(&self) -> bool {
        self.coord.is_idle()
            && self.ex.locks.is_idle()
            && self.ex.local.is_empty()
            && self.shares.is_empty()
            && !self.mesh.has_outgoing()
            && self
                .arrived
                .iter()
                .all(std::collections::VecDeque::is_empty)
    }

    /// Two readings in a row agree that every shard is idle and every
    /// ring empty.
    fn quiescent(&mut self, word: u64) -> bool {
        let (mut a, mut b) = (
            std::mem::take(&mut self.mig.first),
            std::mem::take(&mut self.mig.second),
        );
        let yes =
            self.mesh.read_quiet(word, &mut a) && self.mesh.read_quiet(word, &mut b) && a == b;
        self.mig.first = a;
        self.mig.second = b;
        yes
    }

    /// Nothing is in flight: the slots' keys go to their new owner, unless
    /// something about them must stay (a client waits on one, or the
    /// service says no), which calls the move off.
    fn hand_over(&mut self) {
        let Some(m) = self.mig.moving.as_mut() else {
            return;
        };
        let (slots, to) = (&m.slots, m.to);
        let in_slot = |k: &[u8]| slots.holds_key(k);
        // A waiter goes with the keys when every key its command names is
        // in the slots: it then waits on one shard, before and after.
        let (svc, n) = (&self.svc, self.n);
        let only = |client: &crate::service::ClientCtx, args: kevy_resp::Args<'_>| {
            matches!(svc.route(args, client, n), Ok((_, r @ crate::service::Route::Keys { .. }))
                if r.keys(args).all(in_slot))
        };
        if !self.ex.waiters.movable(in_slot, only)
            || !self.svc.may_move_slots(&self.ex.shard, slots)
        {
            self.called_off();
            return;
        }
        m.sent = true;
        let waiters = self.ex.waiters.take(in_slot);
        let keys = self
            .svc
            .take_slots(&mut self.ex.shard, &mut self.ex.effects, slots);
        // What the walk found for the next moves waits for them; a walk
        // with nothing left for this shard's next moves ends here.
        let mut ahead = m.scan.clone();
        ahead.remove_all(slots);
        let slots = slots.clone();
        if ahead.is_empty() {
            self.svc.abandon_slots(&mut self.ex.shard);
        }
        self.mig.ahead = ahead;
        self.mig.ahead_used_us = self.now_us;
        if !self.ex.effects.pushes.is_empty() {
            // Readers of the keys that track them hear they changed.
            self.deliver_pushes(None);
        }
        let b = self.mesh.batch(to);
        let n = keys.len() as u32;
        b.req_snaps.extend(keys);
        b.slot_moves.push((slots, waiters));
        b.reqs.push(Req::SlotIn { n });
        self.mesh.flush();
    }

    /// A peer sends the keys of hash slots `slots` here (`Req::SlotIn`),
    /// with the clients that wait on them: the keys go into the store, the
    /// waiters into this shard's queues, and each waiter's home hears that
    /// this shard serves it now (`Rehome`); once every home answered, the
    /// mover hears the slots are here.
    pub(super) fn slot_in(
        &mut self,
        peer: usize,
        slots: SlotSet,
        keys: impl Iterator<Item = (Vec<u8>, S::Snapshot)>,
        waiters: crate::reactor::MovedWaiters<S>,
    ) {
        for (k, snap) in keys {
            self.svc
                .import_moved(&mut self.ex.shard, &mut self.ex.effects, &k, snap);
        }
        if slots.len() > 1 {
            self.my_stats()
                .took_us
                .store(self.now_us.max(1), Ordering::Relaxed);
        }
        self.mig.settled.push((slots, self.now_us));
        let clients: Vec<(u64, usize)> = waiters.clients().collect();
        self.ex.waiters.put(waiters);
        let mut asked = 0;
        for (client, home) in clients {
            if home == self.id {
                if !self.rehome_conn(client, peer, self.id) {
                    self.ex.unpark(client, home);
                }
            } else {
                self.batch(home).reqs.push(Req::Rehome {
                    client,
                    from: peer as u32,
                });
                asked += 1;
            }
        }
        if asked == 0 {
            self.batch(peer).resps.push(Resp::SlotTaken);
        } else {
            self.mig.arriving = Some((peer, asked));
        }
    }

    /// Shard `peer` serves this reactor's client `client` now, instead of
    /// shard `from` (`Req::Rehome`).
    pub(super) fn rehome(&mut self, peer: usize, client: u64, from: usize) {
        let gone = !self.rehome_conn(client, from, peer);
        self.batch(peer).resps.push(Resp::Rehomed { client, gone });
    }

    /// Points this reactor's blocked client `client` from owner `from` to
    /// owner `to`; false when it no longer waits on `from`.
    fn rehome_conn(&mut self, client: u64, from: usize, to: usize) -> bool {
        let Some(&idx) = self.ids.get(&client) else {
            return false;
        };
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return false;
        };
        match c.st.waiting.as_mut() {
            Some(w) if w.owners.contains(&from) => {
                for o in w.owners.iter_mut() {
                    if *o == from {
                        *o = to;
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// A home answered `Rehome` (`Resp::Rehomed`): a waiter whose client
    /// no longer waits goes; the last answer tells the mover.
    pub(super) fn rehomed(&mut self, peer: usize, client: u64, gone: bool) {
        if gone {
            self.ex.unpark(client, peer);
        }
        let Some((mover, left)) = self.mig.arriving.as_mut() else {
            return;
        };
        *left -= 1;
        if *left == 0 {
            let mover = *mover;
            self.mig.arriving = None;
            self.batch(mover).resps.push(Resp::SlotTaken);
        }
    }

    /// The new owner has the keys (`Resp::SlotTaken`): the map says so,
    /// and every shard goes on.
    pub(super) fn slot_taken(&mut self) {
        let Some(m) = &self.mig.moving else {
            return;
        };
        debug_assert!(m.sent, "the slots this shard sent");
        for s in m.slots.iter() {
            self.slots.set_owner(s, m.to);
        }
        // What the slots took was measured with these elsewhere: the
        // next move is chosen on what they take from now on.
        self.slots.clear_heat();
        let n = m.slots.len() as u64;
        self.my_stats().slots_out.fetch_add(n, Ordering::Relaxed);
        self.end_move();
    }

    fn called_off(&mut self) {
        self.svc.abandon_slots(&mut self.ex.shard);
        self.mig.ahead = SlotSet::default();
        self.my_stats()
            .slot_moves_called_off
            .fetch_add(1, Ordering::Relaxed);
        self.end_move();
    }

    /// Ends the move this shard leads, moved or not: every shard goes on.
    fn end_move(&mut self) {
        if let Some(m) = self.mig.moving.take() {
            let took = kevy_sys::clock::monotonic_us().saturating_sub(m.since_us);
            self.my_stats()
                .slot_move_us
                .fetch_add(took, Ordering::Relaxed);
        }
        self.mesh.thaw();
        if !self.paused.is_empty() {
            self.release_paused();
        }
    }

    /// Whether a move this shard leads gets ready or waits for the mesh
    /// to quiet down (its loop must look again soon).
    pub(super) fn leads_freeze(&self) -> bool {
        self.mig.moving.as_ref().is_some_and(|m| !m.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SlotMap;

    #[test]
    fn only_a_hot_slot_of_ones_own_moves() {
        let map = SlotMap::new(2);
        // Spread out: every slot a little.
        for s in 0..SLOTS as u16 {
            map.warm(Heat::Routed, s);
        }
        assert_eq!(pick_slot(&map, Heat::Routed, 1, |_| false, false), None);
        // One slot of shard 1's takes a fair share.
        let hot = 13_011u16;
        assert_eq!(map.owner(hot), 1);
        for _ in 0..1_000 {
            map.warm(Heat::Routed, hot);
        }
        assert_eq!(
            pick_slot(&map, Heat::Routed, 1, |_| false, false),
            Some(hot)
        );
        // Only by the heat asked for.
        assert_eq!(pick_slot(&map, Heat::Spanning, 1, |_| false, false), None);
        // Not shard 0's to give, and not while it settles.
        assert_ne!(
            pick_slot(&map, Heat::Routed, 0, |_| false, false),
            Some(hot)
        );
        assert_ne!(
            pick_slot(&map, Heat::Routed, 1, |s| s == hot, false),
            Some(hot)
        );
        // Churn takes the hottest of its own, however little.
        let cold = SlotMap::new(2);
        cold.warm(Heat::Routed, 5);
        assert_eq!(pick_slot(&cold, Heat::Routed, 1, |_| false, true), Some(5));
        assert_eq!(pick_slot(&cold, Heat::Routed, 1, |_| false, false), None);
    }

    #[test]
    fn many_slots_move_a_bounded_number_of_keys_or_times() {
        // No keys: every slot in one move.
        assert_eq!(bulk_count(BULK_KEYS, 0, 8_192), 8_192);
        // 50k keys over 8,192 slots (6 each): 8,192 keys' worth, 1,342
        // slots.
        assert_eq!(bulk_count(8_192, 50_000, 8_192), 1_342);
        // Never none, never more than there are.
        assert_eq!(bulk_count(BULK_KEYS, 10_000_000, 1), 1);
        assert_eq!(bulk_count(BULK_KEYS, 10, 3), 3);
        let map = SlotMap::new(2);
        let set = pick_bulk(&map, 1, 3, |s| s != 3);
        assert_eq!(set.iter().collect::<Vec<_>>(), [1, 5, 7]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(5) && !set.contains(3) && !set.contains(0));
        assert!(pick_bulk(&map, 1, 3, |_| false).is_empty());
    }
}
