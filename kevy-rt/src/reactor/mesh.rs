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
use crate::msg::Batch;
pub(super) use crate::ring::Padded;
use crate::ring::{Consumer, Full, Producer};
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
    /// CLIENT PAUSE: the unix ms it lasts until (0: no pause), and
    /// whether it holds every command (else the writing ones). Read per
    /// command, written by CLIENT PAUSE and UNPAUSE only.
    pub pause_until: Padded<AtomicU64>,
    pub pause_all: AtomicBool,
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
        }
    }

    /// The batch going to shard `s` at the end of this iteration.
    #[inline]
    pub fn batch(&mut self, s: usize) -> &mut Batch<S> {
        let spare = &mut self.spare;
        let spare_bytes = &mut self.spare_bytes;
        self.out[s].get_or_insert_with(|| match spare.pop() {
            Some(b) => {
                *spare_bytes -= b.capacity_bytes();
                b
            }
            None => Batch::default(),
        })
    }

    /// Whether a batch waits to be pushed (the loop must not block).
    pub fn has_outgoing(&self) -> bool {
        self.out.iter().any(Option::is_some)
    }

    /// Pushes every non-empty batch to its ring, waking a peer that
    /// announced it is going to sleep.
    pub fn flush(&mut self) {
        for s in 0..self.out.len() {
            let Some(b) = self.out[s].take() else {
                continue;
            };
            if b.is_empty() {
                self.recycle(b);
                continue;
            }
            let Some(p) = self.producers[s].as_mut() else {
                continue;
            };
            match p.push(b) {
                Ok(()) => {
                    // SeqCst fence pairs with the consumer's fence before it
                    // re-checks its rings (crate doc: sleeping and waking).
                    fence(Ordering::SeqCst);
                    if self.shared.sleeping[s].0.load(Ordering::Relaxed) {
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

    /// Whether a batch waits on an inbound ring (the simulation's test for
    /// a quiet shard; the loop itself asks `going_to_sleep`).
    #[cfg(test)]
    pub fn has_incoming(&self) -> bool {
        self.consumers.iter().flatten().any(|c| !c.is_empty())
    }

    /// Keeps a drained batch for reuse, within the cap.
    pub fn recycle(&mut self, mut b: Batch<S>) {
        if self.spare.len() < SPARE_CAP {
            b.clear();
            b.trim();
            let bytes = b.capacity_bytes();
            if self.spare_bytes + bytes <= SPARE_BYTES {
                self.spare_bytes += bytes;
                self.spare.push(b);
            }
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
        self.shared.pause_until.0.store(until_ms, Ordering::SeqCst);
    }

    /// Ends a CLIENT PAUSE and wakes every shard, so the commands they
    /// hold run at once.
    pub fn unpause(&self) {
        self.shared.pause_until.0.store(0, Ordering::SeqCst);
        for (s, w) in self.shared.wakers.iter().enumerate() {
            if s != self.id {
                let _ = w.wake();
            }
        }
    }

    /// Whether a CLIENT PAUSE may be in force: the one load the command
    /// path makes.
    #[inline(always)]
    pub fn maybe_paused(&self) -> bool {
        self.shared.pause_until.0.load(Ordering::Relaxed) != 0
    }

    /// The pause in force at `now_ms`: `Some(all)`, or `None`.
    pub fn paused_at(&self, now_ms: u64) -> Option<bool> {
        let until = self.shared.pause_until.0.load(Ordering::Relaxed);
        (now_ms < until).then(|| self.shared.pause_all.load(Ordering::Relaxed))
    }

    /// When the pause ends (unix ms), 0 with none.
    pub fn pause_until(&self) -> u64 {
        self.shared.pause_until.0.load(Ordering::Relaxed)
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
