//! One shard's end of the ring mesh: the batch being filled for each peer,
//! the rings it pushes and pops, recycled batches, and the sleep/wake
//! handshake (crate doc, "Sleeping and waking").
//!
//! Batches travel one way on a ring and are recycled by whoever drained
//! them, so a shard that receives more batches than it sends would pile up
//! spares without limit; the spare list is capped, and a recycled batch
//! gives back buffers that one unusual batch (a big MSET, a 100 KB reply)
//! grew, so what the mesh keeps is bounded whatever the traffic was.

use super::pubsub::Directory;
use crate::msg::{Batch, Fill};
pub(super) use crate::ring::Consumer;
pub(super) use crate::ring::Padded;
use crate::ring::{Full, Producer};
use crate::service::Service;
use kevy_sys::EventFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Batches taken from one ring per iteration: no peer can hold the reactor
/// for more than this many batches before connections get their turn.
pub const RING_BUDGET: usize = 64;
/// Spare batches kept per shard, and the buffer bytes they may hold
/// together; beyond either, drained batches are freed. A peer that was
/// descheduled for a while answers many batches at once, and dropping them
/// here would make the next iterations allocate and regrow them all.
const SPARE_CAP: usize = 64;
const SPARE_BYTES: usize = 1 << 20;
/// The largest batch (its buffers' capacity) a shard with no room for it
/// sends back to its peer rather than freeing (`recycle_from`): the
/// batches of small commands that would otherwise be freed here and
/// allocated again there (32 to 127 KB, measured), not one that carried
/// big values, which is rare and would hold its memory on the ring.
const RETURN_BYTES: usize = 128 * 1024;
/// The least time between two wake-ups of one peer by this shard. A peer
/// that keeps falling asleep between the messages of a steady stream costs
/// its core two context switches per wake-up (a core it may share with
/// other threads); a batch for it that comes within the gap of the last
/// wake-up waits out the gap, gathering what follows, so a lone message
/// never waits and a stream wakes the peer at most once per gap.
const WAKE_GAP_US: u64 = 20;

/// What every reactor can see of every other.
pub(super) struct Shared {
    /// `sleeping[j]`: shard `j` is about to block or blocked in epoll_wait.
    pub sleeping: Vec<Padded<AtomicBool>>,
    pub wakers: Vec<EventFd>,
    /// Monitors per shard, and in all: a shard sends MONITOR lines only to
    /// shards that have one, and looks no further while there are none.
    pub monitors: Vec<Padded<AtomicUsize>>,
    pub any_monitor: Padded<AtomicUsize>,
    /// Subscriptions (of any kind) per shard: PUBLISH asks only the shards
    /// that have one.
    pub subs: Vec<Padded<AtomicUsize>>,
    /// Every subscription's name with its subscriber count, for PUBSUB
    /// and INFO (`reactor/pubsub.rs`).
    pub directory: Arc<Mutex<Directory>>,
    /// What holds connections' commands, read per command: CLIENT PAUSE
    /// and a slot move's freeze.
    pub holds: Padded<Holds>,
    /// Whether a CLIENT PAUSE holds every command (else the writing ones).
    pub pause_all: AtomicBool,
    /// `quiet[j]`: the freeze word shard `j` last found itself idle under
    /// (0: working, or not frozen) (crate doc, "Moving slots to the cores
    /// that have time").
    pub quiet: Vec<Padded<AtomicU64>>,
    /// Every ring's counts, for the mover.
    pub probes: Vec<crate::ring::Probe>,
}

/// The words every command looks at before it runs, on one cache line.
#[derive(Default)]
pub(super) struct Holds {
    /// CLIENT PAUSE: the unix ms it lasts until (0: no pause). Written by
    /// CLIENT PAUSE and UNPAUSE only.
    pub pause_until: AtomicU64,
    /// A slot move's freeze (`reactor/migrate.rs`): 0, or the move's
    /// number (above 16 bits) and its mover's shard (below). Written by
    /// the mover only.
    pub freeze: AtomicU64,
}

impl Shared {
    /// The mesh of `wakers.len()` shards whose rings `probes` watch.
    pub fn new(
        wakers: Vec<EventFd>,
        directory: Arc<Mutex<Directory>>,
        probes: Vec<crate::ring::Probe>,
    ) -> Shared {
        let n = wakers.len();
        let padded = |_| Padded(AtomicUsize::new(0));
        Shared {
            sleeping: (0..n).map(|_| Padded(AtomicBool::new(false))).collect(),
            wakers,
            monitors: (0..n).map(padded).collect(),
            any_monitor: Padded(AtomicUsize::new(0)),
            subs: (0..n).map(padded).collect(),
            directory,
            holds: Padded(Holds::default()),
            pause_all: AtomicBool::new(false),
            quiet: (0..n).map(|_| Padded(AtomicU64::new(0))).collect(),
            probes,
        }
    }
}

pub(super) struct Endpoint<S: Service> {
    id: usize,
    shared: Arc<Shared>,
    producers: Vec<Option<Producer<Batch<S>>>>,
    consumers: Vec<Option<Consumer<Batch<S>>>>,
    /// The batch being filled for each peer.
    out: Vec<Option<Batch<S>>>,
    spare: Vec<Batch<S>>,
    /// What the spare batches hold, in bytes (`SPARE_BYTES`).
    spare_bytes: usize,
    /// A batch carrying requests went out since `take_asked` last looked:
    /// answers are on their way.
    asked: bool,
    /// Batches pushed to peers so far: how much of this shard's work
    /// crosses to other shards (the balancer's `crossing`).
    pub pushed: u64,
    /// The reactor's clock (µs) while it runs its loop (`set_now`), and
    /// when this shard last woke each peer: a peer is woken at most once
    /// per `WAKE_GAP_US` (`flush`).
    now_us: Option<u64>,
    woke_us: Vec<u64>,
    /// How full the recent batches pushed to each peer were: a batch
    /// taken for it starts with room for that much.
    fill: Vec<Fill>,
    /// The simulation holds a shard's batches past the end of its
    /// iteration, as a shard descheduled between running its commands and
    /// pushing their messages does.
    #[cfg(test)]
    pub hold: bool,
}

impl<S: Service> Endpoint<S> {
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        producers: Vec<Option<Producer<Batch<S>>>>,
        consumers: Vec<Option<Consumer<Batch<S>>>>,
    ) -> Self {
        let n = producers.len();
        Endpoint {
            id,
            shared,
            producers,
            consumers,
            out: (0..n).map(|_| None).collect(),
            spare: Vec::new(),
            spare_bytes: 0,
            asked: false,
            pushed: 0,
            now_us: None,
            woke_us: vec![0; n],
            fill: vec![Fill::default(); n],
            #[cfg(test)]
            hold: false,
        }
    }

    /// The batch going to shard `s` at the end of this iteration.
    #[inline]
    pub fn batch(&mut self, s: usize) -> &mut Batch<S> {
        if self.out[s].is_none() {
            self.start_batch(s);
        }
        self.out[s].as_mut().expect("a batch for the peer")
    }

    /// Takes a batch for peer `s` (a spare one, else a new one), with room
    /// for what the recent batches to `s` held. Once per peer per
    /// iteration, out of the per-command path.
    #[cold]
    #[inline(never)]
    fn start_batch(&mut self, s: usize) {
        let mut b = match self.spare.pop() {
            Some(b) => {
                self.spare_bytes -= b.capacity_bytes();
                b
            }
            None => Batch::default(),
        };
        b.make_room(self.fill[s]);
        self.out[s] = Some(b);
    }

    /// Whether a batch waits to be pushed (the loop must not block).
    pub fn has_outgoing(&self) -> bool {
        self.out.iter().any(Option::is_some)
    }

    /// Pushes every non-empty batch to its ring, waking a peer that
    /// announced it is going to sleep.
    pub fn flush(&mut self) {
        self.flush_batches(false);
    }

    /// Pushes the batches that carry connections handed to a peer, without
    /// waiting out its wake-up gap: before a command that may run long,
    /// whose iteration flushes nothing until it ends, so a connection on
    /// its way does not wait, unanswered, for the command's end. The
    /// other batches go as usual, once the iteration ends.
    pub fn flush_moves(&mut self) {
        self.flush_batches(true);
    }

    /// [`Self::flush`], or with `moves_only` [`Self::flush_moves`].
    fn flush_batches(&mut self, moves_only: bool) {
        #[cfg(test)]
        if self.hold {
            return;
        }
        for s in 0..self.out.len() {
            if moves_only && self.out[s].as_ref().is_none_or(|b| b.conns.is_empty()) {
                continue;
            }
            let Some(b) = self.out[s].take() else {
                continue;
            };
            if b.is_empty() {
                self.recycle(b);
                continue;
            }
            if let Some(now) = self.now_us.filter(|_| !moves_only) {
                if now.saturating_sub(self.woke_us[s]) < WAKE_GAP_US
                    && self.shared.sleeping[s].0.load(Ordering::Relaxed)
                {
                    // Woken a moment ago and asleep again: this batch
                    // waits out the gap and takes whatever follows along.
                    self.out[s] = Some(b);
                    continue;
                }
            }
            let Some(p) = self.producers[s].as_mut() else {
                continue;
            };
            self.asked |= !b.reqs.is_empty();
            let fill = b.fill();
            match p.push(b) {
                Ok(()) => {
                    self.pushed += 1;
                    self.fill[s] = self.fill[s].after(fill);
                    // SeqCst fence pairs with the consumer's fence before it
                    // re-checks its rings (crate doc: sleeping and waking).
                    fence(Ordering::SeqCst);
                    if self.shared.sleeping[s].0.load(Ordering::Relaxed) {
                        if let Some(now) = self.now_us {
                            self.woke_us[s] = now;
                        }
                        let _ = self.shared.wakers[s].wake();
                    }
                }
                // The ring is full: keep filling this batch, retry next
                // iteration (the loop does not block while a batch waits).
                Err(Full(b)) => self.out[s] = Some(b),
            }
        }
    }

    /// The next batch from `peer`, if any.
    #[inline]
    pub fn pop(&mut self, peer: usize) -> Option<Batch<S>> {
        self.consumers[peer].as_mut()?.pop()
    }

    /// The inbound rings, lent to the desk while a command runs long
    /// (`reactor/busy.rs`), which takes in the connections peers hand this
    /// shard meanwhile; nothing here pops them until they are given back
    /// ([`Self::return_rings`]).
    pub fn lend_rings(&mut self) -> Vec<Option<Consumer<Batch<S>>>> {
        std::mem::take(&mut self.consumers)
    }

    pub fn return_rings(&mut self, rings: Vec<Option<Consumer<Batch<S>>>>) {
        debug_assert!(self.consumers.is_empty(), "rings lent once");
        self.consumers = rings;
    }

    /// The reactor's clock for this iteration.
    pub fn set_now(&mut self, now_us: u64) {
        self.now_us = Some(now_us);
    }

    /// Whether requests went out since the last call (their answers are
    /// coming).
    pub fn take_asked(&mut self) -> bool {
        std::mem::take(&mut self.asked)
    }

    /// Whether a batch waits on an inbound ring.
    pub fn has_incoming(&self) -> bool {
        self.consumers.iter().flatten().any(|c| !c.is_empty())
    }

    /// Keeps a drained batch for reuse, within the cap.
    pub fn recycle(&mut self, b: Batch<S>) {
        let _ = self.keep(b);
    }

    /// Keeps a drained batch for reuse, within the cap; hands it back,
    /// emptied, beyond.
    fn keep(&mut self, mut b: Batch<S>) -> Option<Batch<S>> {
        if self.spare.len() >= SPARE_CAP {
            return Some(b);
        }
        b.clear();
        b.trim();
        let bytes = b.capacity_bytes();
        if self.spare_bytes + bytes > SPARE_BYTES {
            return Some(b);
        }
        self.spare_bytes += bytes;
        self.spare.push(b);
        None
    }

    /// Keeps a batch drained from `peer`'s ring for reuse. One this shard
    /// has no room for goes back to `peer`, empty: a shard that answers
    /// several of a peer's batches with one of its own would otherwise
    /// free them while the peer allocates and regrows new ones, and the
    /// batches' buffers would cross cores to be freed. A batch that came
    /// back empty (`returned`) is freed instead, so none goes back and
    /// forth; so is one bigger than `RETURN_BYTES`, and one the ring has
    /// no room for. It goes without a
    /// wake-up: the peer finds it when it next drains its rings.
    pub fn recycle_from(&mut self, peer: usize, b: Batch<S>, returned: bool) {
        let Some(mut b) = self.keep(b) else {
            return;
        };
        if returned {
            return;
        }
        b.clear();
        b.trim();
        if b.capacity_bytes() > RETURN_BYTES {
            return;
        }
        if let Some(p) = self.producers[peer].as_mut() {
            let _ = p.push(b);
        }
    }

    /// Announces that this shard is about to block; true when a batch
    /// arrived meanwhile (then it must not block).
    pub fn going_to_sleep(&self) -> bool {
        self.shared.sleeping[self.id]
            .0
            .store(true, Ordering::Relaxed);
        // SeqCst fence pairs with the producer's fence after its push (see
        // the crate doc): either we see its batch here, or it sees our flag
        // and writes our eventfd.
        fence(Ordering::SeqCst);
        self.consumers.iter().flatten().any(|c| !c.is_empty())
    }

    pub fn awake(&self) {
        self.shared.sleeping[self.id]
            .0
            .store(false, Ordering::Relaxed);
    }

    /// Starts (or replaces) a CLIENT PAUSE.
    pub fn pause(&self, until_ms: u64, all: bool) {
        self.shared.pause_all.store(all, Ordering::Relaxed);
        self.shared
            .holds
            .0
            .pause_until
            .store(until_ms, Ordering::SeqCst);
    }

    /// Ends a CLIENT PAUSE and wakes every shard, so the commands they
    /// hold run at once.
    pub fn unpause(&self) {
        self.shared.holds.0.pause_until.store(0, Ordering::SeqCst);
        self.wake_peers();
    }

    /// Whether a CLIENT PAUSE may be in force or a slot move holds
    /// commands: the loads (of one cache line) the command path makes.
    /// Acquire on the freeze pairs with the thaw's release: a command
    /// routed after it sees the slot map the move changed.
    #[inline(always)]
    pub fn maybe_paused(&self) -> bool {
        let h = &self.shared.holds.0;
        h.pause_until.load(Ordering::Relaxed) != 0 || h.freeze.load(Ordering::Acquire) != 0
    }

    /// The freeze word: 0 when no slot is moving.
    #[inline]
    pub fn freeze(&self) -> u64 {
        self.shared.holds.0.freeze.load(Ordering::Acquire)
    }

    /// Freezes every shard under `word` (a slot move led here); false
    /// when another move holds the freeze. Every peer is woken, so each
    /// holds its connections and says when it is idle.
    pub fn try_freeze(&self, word: u64) -> bool {
        let won = self.shared.holds.0.freeze.compare_exchange(
            0,
            word,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
        if won.is_ok() {
            self.wake_peers();
        }
        won.is_ok()
    }

    /// Ends the freeze this shard leads, releasing what the move changed
    /// to every shard that reads the word (acquire), and wakes them.
    pub fn thaw(&self) {
        self.shared.holds.0.freeze.store(0, Ordering::SeqCst);
        self.wake_peers();
    }

    fn wake_peers(&self) {
        for (s, w) in self.shared.wakers.iter().enumerate() {
            if s != self.id {
                let _ = w.wake();
            }
        }
    }

    /// Says whether this shard is idle under freeze `word` (0: it works,
    /// or nothing is frozen).
    pub fn set_quiet(&self, word: u64) {
        self.shared.quiet[self.id].0.store(word, Ordering::SeqCst);
    }

    /// Wakes shard `s`.
    pub fn wake(&self, s: usize) {
        let _ = self.shared.wakers[s].wake();
    }

    /// One reading of the mesh under freeze `word` into `out`: whether
    /// every shard says it is idle and every ring is empty, with the
    /// rings' counts. Two equal readings in a row mean nothing is on its
    /// way and nobody works (crate doc, "Moving slots to the cores that
    /// have time").
    pub fn read_quiet(&self, word: u64, out: &mut Vec<usize>) -> bool {
        out.clear();
        if self
            .shared
            .quiet
            .iter()
            .any(|q| q.0.load(Ordering::SeqCst) != word)
        {
            return false;
        }
        for p in &self.shared.probes {
            let (pushed, popped) = p.counts();
            if pushed != popped {
                return false;
            }
            out.push(pushed);
        }
        true
    }

    /// The pause in force at `now_ms`: `Some(all)`, or `None`.
    pub fn paused_at(&self, now_ms: u64) -> Option<bool> {
        let until = self.shared.holds.0.pause_until.load(Ordering::Relaxed);
        (now_ms < until).then(|| self.shared.pause_all.load(Ordering::Relaxed))
    }

    /// When the pause ends (unix ms), 0 with none.
    pub fn pause_until(&self) -> u64 {
        self.shared.holds.0.pause_until.load(Ordering::Relaxed)
    }

    pub fn waker_fd(&self) -> std::os::fd::RawFd {
        self.shared.wakers[self.id].fd()
    }

    /// Adds `delta` to this shard's monitor count.
    pub fn monitor_count(&self, delta: isize) {
        // Relaxed: a monitor sees commands dispatched after its MONITOR
        // reply is sent; the counts only decide whether lines are made.
        let own = &self.shared.monitors[self.id].0;
        let all = &self.shared.any_monitor.0;
        if delta > 0 {
            own.fetch_add(delta as usize, Ordering::Relaxed);
            all.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            own.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
            all.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    #[inline]
    pub fn any_monitor(&self) -> bool {
        self.shared.any_monitor.0.load(Ordering::Relaxed) != 0
    }

    pub fn has_monitor(&self, s: usize) -> bool {
        self.shared.monitors[s].0.load(Ordering::Relaxed) != 0
    }

    /// Adds `delta` to this shard's subscription count.
    pub fn sub_count(&self, delta: isize) {
        // Release pairs with the Acquire in `has_subs`: a subscription
        // confirmed to a client is counted before the confirmation leaves,
        // so a PUBLISH that follows it (by any path through the kernel)
        // asks this shard.
        let own = &self.shared.subs[self.id].0;
        if delta > 0 {
            own.fetch_add(delta as usize, Ordering::Release);
        } else {
            own.fetch_sub(delta.unsigned_abs(), Ordering::Release);
        }
    }

    /// Whether shard `s` has any subscription.
    #[inline]
    pub fn has_subs(&self, s: usize) -> bool {
        self.shared.subs[s].0.load(Ordering::Acquire) != 0
    }

    /// The pub/sub directory, locked (subscribe, unsubscribe and PUBSUB
    /// only; PUBLISH never takes it).
    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        // A panic while holding it leaves counts behind; keep going.
        self.shared
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Resets this shard's eventfd after a wake-up.
    pub fn drain_waker(&self) {
        let _ = self.shared.wakers[self.id].drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Req;
    use crate::reactor::rings;
    use crate::reactor::sim::toy::Toy;
    use kevy_sys::{Events, Interest, Poller, Token};

    fn two() -> (Endpoint<Toy>, Endpoint<Toy>, Arc<Shared>) {
        let ends = rings::<Toy>(2);
        let probes = ends
            .iter()
            .flat_map(|(_, c)| c.iter().flatten().map(|c| c.probe()));
        let wakers = (0..2).map(|_| EventFd::new().expect("eventfd")).collect();
        let shared = Arc::new(Shared::new(wakers, Default::default(), probes.collect()));
        let mut ends = ends.into_iter();
        let (p0, c0) = ends.next().unwrap();
        let (p1, c1) = ends.next().unwrap();
        (
            Endpoint::new(0, shared.clone(), p0, c0),
            Endpoint::new(1, shared.clone(), p1, c1),
            shared,
        )
    }

    /// Whether shard 1's eventfd was written since the last look.
    fn woken(shared: &Shared, poller: &Poller) -> bool {
        let mut ev = Events::with_capacity(4);
        let n = poller.wait(&mut ev, 0).expect("epoll_wait");
        let _ = shared.wakers[1].drain();
        n > 0
    }

    #[test]
    fn a_sleeping_peer_is_woken_at_once_then_at_most_once_per_gap() {
        let (mut a, mut b, shared) = two();
        let poller = Poller::new().expect("epoll");
        poller
            .add(shared.wakers[1].fd(), Token(0), Interest::READABLE)
            .expect("watch the waker");
        shared.sleeping[1].0.store(true, Ordering::Relaxed);
        let send = |a: &mut Endpoint<Toy>, now: u64| {
            a.set_now(now);
            a.batch(1).reqs.push(Req::Unpark { client: 7 });
            a.flush();
        };

        // A lone message goes, and wakes the peer, at once.
        send(&mut a, 1_000);
        assert!(b.pop(0).is_some());
        assert!(woken(&shared, &poller));
        assert!(a.take_asked(), "a request went out");
        assert!(!a.take_asked());

        // Within the gap, the peer asleep again: the batch waits, and
        // gathers what follows.
        send(&mut a, 1_000 + WAKE_GAP_US / 2);
        send(&mut a, 1_000 + WAKE_GAP_US - 1);
        assert!(a.has_outgoing());
        assert!(b.pop(0).is_none());
        assert!(!woken(&shared, &poller));

        // Past the gap it goes, both messages in one batch, one wake-up.
        a.set_now(1_000 + WAKE_GAP_US);
        a.flush();
        assert!(!a.has_outgoing());
        assert_eq!(b.pop(0).expect("the held batch").reqs.len(), 2);
        assert!(woken(&shared, &poller));

        // A peer that is awake is never made to wait.
        shared.sleeping[1].0.store(false, Ordering::Relaxed);
        send(&mut a, 1_000 + WAKE_GAP_US + 1);
        assert!(b.pop(0).is_some());
        assert!(!woken(&shared, &poller));
    }

    #[test]
    fn batches_a_peer_has_no_room_for_come_back_empty_and_are_reused() {
        let (mut a, mut b, _shared) = two();
        // The peer already keeps as many spare batches as it may.
        for _ in 0..SPARE_CAP {
            b.recycle(Batch::default());
        }
        // Shard 0 sends a batch; the peer drains it and has no room.
        a.batch(1).reqs.push(Req::Unpark { client: 7 });
        a.batch(1).args.extend_from_slice(&[b'x'; 1000]);
        a.flush();
        let got = b.pop(0).expect("the batch");
        b.recycle_from(0, got, false);
        // It comes back, empty but with its buffers, without a wake-up.
        let back = a.pop(1).expect("returned to its sender");
        assert!(back.is_empty() && back.args.is_empty());
        assert!(back.args.capacity() >= 1000, "its buffers come back too");
        // Kept by the sender: its next batch to the peer reuses it.
        a.recycle_from(1, back, true);
        assert!(a.batch(1).args.capacity() >= 1000);
        // A batch that came back empty is never sent back again: with no
        // room, it is freed.
        for _ in 0..SPARE_CAP {
            a.recycle(Batch::default());
        }
        a.recycle_from(1, Batch::default(), true);
        assert!(b.pop(0).is_none(), "nothing goes back and forth");
        // Nor does one whose buffers are bigger than a small command's
        // batch: it carried big values, and is freed.
        a.batch(1).reqs.push(Req::Unpark { client: 7 });
        a.batch(1)
            .args
            .extend_from_slice(&vec![b'x'; RETURN_BYTES + 1]);
        a.flush();
        let got = b.pop(0).expect("the big batch");
        b.recycle_from(0, got, false);
        assert!(a.pop(1).is_none(), "a big batch is freed, not sent back");
    }

    #[test]
    fn without_the_loop_clock_nothing_is_held() {
        // The simulation steps reactors without a clock: every flush
        // pushes.
        let (mut a, mut b, shared) = two();
        shared.sleeping[1].0.store(true, Ordering::Relaxed);
        for _ in 0..3 {
            a.batch(1).reqs.push(Req::Unpark { client: 7 });
            a.flush();
            assert!(b.pop(0).is_some());
        }
    }
}
